/* "host:port" text -> socket addresses, for the replica's config and
 * registry files: numeric hosts only, the replica never resolves names.
 * No state. */
#ifndef P2P_PROD_ADDR_H
#define P2P_PROD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "host:port" text: "[" 45-character IPv6 "]:65535" fits, with a scope. */
#define PROD_ADDR_TEXT_BYTES 64u

/* Parses "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT" (127.0.0.1) with
 * PORT in port_min..65535 (decimal, no sign) into *addr and *addr_len.
 * Host names other than localhost are refused. Returns 0, or
 * P2P_ERR_DECODE with a reason in msg[0..msg_len) ("expected host:port
 * such as 127.0.0.1:4100 ..."; msg may be NULL). */
int prod_addr_parse(const char *text, uint16_t port_min,
                    struct sockaddr_storage *addr, socklen_t *addr_len,
                    char *msg, size_t msg_len);

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool prod_addr_is_loopback(const struct sockaddr_storage *addr);

#endif
