/* The replica's UDP socket, under the QUIC transport: one unconnected,
 * non-blocking socket per node with large kernel buffers, UDP GSO batches on
 * send (one sendmsg carries up to a whole burst of equal-sized packets) and
 * UDP GRO on receive (one recvmsg returns many packets, split here), and the
 * local address of every received packet (IP_PKTINFO / IPV6_PKTINFO) so a
 * wildcard bind still gives ngtcp2 the exact path. No ngtcp2 types here.
 *
 * An IPv6 socket is dual-stack: IPv4 peers are reported as AF_INET
 * addresses (v4-mapped addresses are unmapped on receive and mapped again on
 * send), so the transport sees the same address whichever way it came. */
#ifndef P2P_PROD_UDP_H
#define P2P_PROD_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PROD_UDP_GSO_SEGMENTS_MAX 64       /* packets per prod_udp_send call */
#define PROD_UDP_RECV_BYTES 65536          /* one GRO buffer */
#define PROD_UDP_SOCKBUF_BYTES (16u << 20) /* SO_RCVBUF, SO_SNDBUF asked */
/* Largest UDP payload of one datagram, and so of one GSO sendmsg (IPv4:
 * 65535 - 20 - 8; IPv6 allows 65527 but a dual-stack socket may be sending
 * IPv4, so the smaller bound is used for both). */
#define PROD_UDP_PAYLOAD_BYTES_MAX 65507u

struct prod_udp;

/* Opens a UDP socket bound to addr (IPv4 or IPv6; port 0 = ephemeral):
 * non-blocking and close-on-exec, SO_RCVBUF/SO_SNDBUF raised to
 * PROD_UDP_SOCKBUF_BYTES (SO_*BUFFORCE first, then the plain option capped
 * by net.core.[rw]mem_max, silently), packet info on (so a wildcard bind
 * still reports each packet's local address), UDP_GRO on when the kernel
 * has it, GSO detected, and the DF bit set on every packet
 * (IP_PMTUDISC_PROBE: QUIC does its own path MTU discovery, so probes must
 * not be fragmented, and ICMP-learned PMTU values are not trusted). The
 * socket is never connected: a connected UDP socket turns ICMP port
 * unreachable into ECONNREFUSED on later calls. ECN is not read.
 * On success *out is owned by the caller (prod_udp_close). On failure
 * returns P2P_ERR_INVALID_ARG (bad family or length), P2P_ERR_NOMEM, or
 * P2P_ERR_CONNECT (socket or bind failed, e.g. the port is taken) with a
 * message in err (may be NULL: "udp 127.0.0.1:4100: bind: Address already
 * in use"), and *out is untouched. */
int prod_udp_open(const struct sockaddr *addr, socklen_t addr_len,
                  struct prod_udp **out, char *err, size_t err_len);

/* Closes the socket and frees u (NULL is fine). */
void prod_udp_close(struct prod_udp *u);

/* The socket's file descriptor, for the event loop (still owned by u). */
int prod_udp_fd(const struct prod_udp *u);

/* The bound local address (after port 0 resolution; a wildcard address
 * stays a wildcard: per-packet local addresses come with each packet).
 * *len is set to the address's length. */
void prod_udp_local(const struct prod_udp *u, struct sockaddr_storage *addr,
                    socklen_t *len);

/* True while sends use UDP_SEGMENT (false if the kernel lacks it or a
 * device refused it, see prod_udp_send). */
bool prod_udp_has_gso(const struct prod_udp *u);

/* True when receives may return GRO aggregates (UDP_GRO accepted). */
bool prod_udp_has_gro(const struct prod_udp *u);

/* Called once per received packet. local is the packet's destination
 * address (from packet info; the bound address if the kernel gave none) with
 * the bound port; remote is the sender. All pointers are borrowed for the
 * duration of the call only. */
typedef void (*prod_udp_recv_fn)(void *ctx, const struct sockaddr *local,
                                 socklen_t local_len,
                                 const struct sockaddr *remote,
                                 socklen_t remote_len, const uint8_t *pkt,
                                 size_t len);

/* Reads datagrams until the socket is empty (EAGAIN) or max_reads recvmsg
 * calls were made. A GRO aggregate is split into its packets (the UDP_GRO
 * cmsg gives the segment size; the last may be shorter) and fn is called
 * once per packet, in order; fn may call prod_udp_send but not
 * prod_udp_recv or prod_udp_close. Empty datagrams, truncated ones and
 * ones whose control data was truncated are dropped. ICMP-induced errors
 * (ECONNREFUSED, EHOSTUNREACH, ...) and EINTR are skipped. Adds the packet
 * bytes delivered to *bytes_in if bytes_in is not NULL.
 * Returns the number of packets delivered (0 when nothing was waiting), or
 * P2P_ERR_READ on a real socket error (packets delivered before it were
 * delivered). */
int prod_udp_recv(struct prod_udp *u, prod_udp_recv_fn fn, void *ctx,
                  uint32_t max_reads, uint64_t *bytes_in);

/* Where datagrams go: to remote, from local. local (may be NULL) is the
 * source address (e.g. the local address a packet of this path arrived
 * on); it is used only when the socket is bound to a wildcard address.
 * remote may be AF_INET on an IPv6 socket (sent v4-mapped). Both
 * borrowed. */
struct prod_udp_path {
    const struct sockaddr *local;
    socklen_t local_len;
    const struct sockaddr *remote;
    socklen_t remote_len;
};

/* Sends buf[0..len) to remote as packets of seg_size bytes (the last may be
 * shorter), at most PROD_UDP_GSO_SEGMENTS_MAX packets. With GSO, packets go
 * out in as few sendmsg calls as PROD_UDP_PAYLOAD_BYTES_MAX allows (one per
 * call for 54 packets of 1200 bytes, 45 of 1444); without it, sendmmsg
 * batches of single packets, along path (borrowed for the call).
 * If a GSO sendmsg fails with EIO or EINVAL, the packets are sent one by
 * one; if that works the device or route cannot segment and GSO is turned
 * off for this socket (if it fails too, the send itself was bad, e.g. a
 * local address that is not ours, and GSO stays on). A packet refused
 * with EMSGSIZE (larger than the device MTU, e.g. a PMTU probe) or ENOBUFS
 * is dropped and counted as sent: the loss is QUIC's to recover, as on the
 * wire.
 * Returns the number of bytes accepted by the kernel: len when everything
 * went out, or a whole number of packets (k * seg_size, possibly 0) when
 * the socket buffer filled (EAGAIN); the caller keeps buf[ret..len) and
 * retries when the socket is writable. Returns P2P_ERR_INVALID_ARG for
 * seg_size 0 or above PROD_UDP_PAYLOAD_BYTES_MAX, more than
 * PROD_UDP_GSO_SEGMENTS_MAX packets, or a remote of the wrong family;
 * P2P_ERR_WRITE if the kernel refused the send for another reason (no
 * route, EPERM from a firewall, ...): the unsent packets are lost, the
 * socket stays usable. */
ssize_t prod_udp_send(struct prod_udp *u, const struct prod_udp_path *path,
                      const uint8_t *buf, size_t len, size_t seg_size);

/* Parses "127.0.0.1:4100", "[::1]:4100" or "localhost:4100" (= 127.0.0.1)
 * into *out and *len. Numeric addresses only (no DNS), port 0..65535 in
 * decimal; no IPv6 zone ids. Returns 0, or P2P_ERR_INVALID_ARG (missing or
 * bad port, bad address, unbracketed IPv6, trailing bytes, longer than
 * the longest valid form "[<45 characters>]:65535", i.e. 53 characters);
 * *out and *len are untouched on error. */
int prod_udp_parse_addr(const char *host_port, struct sockaddr_storage *out,
                        socklen_t *len);

/* Test hooks (internal, double underscore): faults the loopback interface
 * cannot produce. send_budget_packets >= 0 makes sends behave as if the
 * socket buffer holds only that many more packets (then EAGAIN; a GSO
 * sendmsg is all or nothing, as in the kernel); < 0 turns it off.
 * gso_errno != 0 makes every GSO sendmsg fail with that errno. */
struct prod_udp__test_hooks {
    int32_t send_budget_packets;
    int gso_errno;
};
void prod_udp__set_test_hooks(struct prod_udp *u,
                              const struct prod_udp__test_hooks *hooks);
/* Turns GSO off (or back on, if the kernel has it) to test both paths. */
void prod_udp__set_gso(struct prod_udp *u, bool on);

#endif
