/* The replica's QUIC transport: the sans-I/O endpoint (quic/endpoint.h) on
 * one UDP socket (prod/udp.h) and the libev loop. This file owns the
 * socket, the loop's watchers, the clock (CLOCK_MONOTONIC for the
 * endpoint's `now`, the wall clock for certificates' validity) and the
 * randomness (GnuTLS's generator); everything QUIC is the endpoint's
 * (docs/replica.md, "Transport").
 *
 * The loop's prepare watcher flushes the endpoint once per loop iteration
 * (so calls made inside callbacks go out together) and arms one timer at
 * the endpoint's next expiry; a socket that refuses datagrams (EAGAIN) is
 * watched for writability, and the endpoint keeps what it refused. */
#ifndef P2P_PROD_TRANSPORT_H
#define P2P_PROD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "core/body.h"
#include "quic/endpoint.h"

struct prod_transport;

/* Binds the UDP socket at addr and starts watching it on loop. tls and cbs
 * are borrowed and must outlive the transport. When cbs->warn is NULL,
 * warnings go to stderr with a timestamp. */
int prod_transport_new(struct ev_loop *loop, const struct sockaddr *addr,
                       socklen_t addr_len,
                       const struct quic_endpoint_limits *limits,
                       struct quic_tls *tls,
                       const struct quic_endpoint_cbs *cbs,
                       struct prod_transport **out, char *err, size_t err_len);

/* Closes every connection (without callbacks) and the socket. */
void prod_transport_del(struct prod_transport *t);

/* The bound address (port resolved). */
void prod_transport_local(const struct prod_transport *t,
                          struct sockaddr_storage *addr, socklen_t *len);

/* quic_endpoint_dial to addr, from the local address the kernel routes
 * addr from (on a wildcard bind). */
int prod_transport_dial(struct prod_transport *t, uint32_t peer,
                        const struct sockaddr *addr, socklen_t addr_len,
                        const uint8_t key_id[QUIC_KEY_ID_LEN]);

/* The endpoint's calls (quic/endpoint.h), on this transport's endpoint. */
void prod_transport_close(struct prod_transport *t, uint32_t peer, int reason);
int prod_transport_open(struct prod_transport *t, uint32_t peer,
                        uint64_t stream_id, const uint8_t *bytes, size_t len,
                        struct p2p_body *body);
int prod_transport_respond(struct prod_transport *t, uint32_t peer,
                           uint64_t stream_id, const uint8_t *bytes, size_t len,
                           struct p2p_body *body);
void prod_transport_reset(struct prod_transport *t, uint32_t peer,
                          uint64_t stream_id, bool inbound);
void prod_transport_totals(const struct prod_transport *t,
                           struct quic_endpoint_totals *tot);
bool prod_transport_peer_stats(const struct prod_transport *t, uint32_t peer,
                               struct quic_peer_stats *out);

/* Test hook (internal, double underscore): the socket, to fault it
 * (prod/udp.h's hooks). */
struct prod_udp;
struct prod_udp *prod_transport__udp(struct prod_transport *t);

#endif
