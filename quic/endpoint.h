/* The QUIC endpoint, sans I/O: one ngtcp2 connection per peer pair,
 * mutual TLS 1.3 (quic/tls.h), every RPC on its own bidirectional stream
 * (docs/replica.md, "Transport"). The replica's UDP + libev driver
 * (prod/transport.h) and the simulator's packet network (sim/quic_model.c)
 * both run it.
 *
 * It owns the ngtcp2 connections and GnuTLS sessions and nothing else: no
 * socket, no event loop, no clock, no randomness of its own. Time comes
 * in as `now` (monotonic nanoseconds) on every call; received datagrams
 * come in through quic_endpoint_recv; datagrams to send go out through
 * env.send; random bytes (connection ids, ngtcp2's draws, path challenges,
 * stateless resets' filler) come from env.rand; a certificate's validity
 * is judged at env.wall_s. The owner calls quic_endpoint_flush after its
 * inputs, and quic_endpoint_on_expiry at quic_endpoint_next_expiry.
 *
 * It knows peers by core's node id (the registry index) and nothing of the
 * protocol: its owner turns the callbacks into core inputs and core's
 * outbox into the calls below. Those calls never touch ngtcp2 directly:
 * they queue work on the connection and mark it dirty; quic_endpoint_flush
 * writes every dirty connection. So a callback (which runs inside
 * ngtcp2_conn_read_pkt) may call back into the endpoint safely.
 *
 * Stateless resets (RFC 9000 10.3): a short-header packet for a
 * connection id we do not know is answered with a reset whose token is
 * derived from that id and the node's static secret (quic/tls.h), the same
 * derivation as the tokens we hand out, so that a restarted process resets
 * its predecessor's connections and their peers redial at once. Resets
 * are rate-limited, always smaller than the packet they answer, and a
 * reset received for one of our connections drops it at once.
 *
 * Duplicate identities: a handshake from a member whose key already has a
 * live connection (a packet within QUIC_ENDPOINT_LIVE_KEEPALIVES
 * keepalive periods) from another address is refused (reason
 * "duplicate_identity"), counted per peer and logged; the live one stays.
 * Two processes sharing a key then do not replace each other's connection
 * in a loop: the newcomer's dials fail and back off. */
#ifndef P2P_QUIC_ENDPOINT_H
#define P2P_QUIC_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/body.h"
#include "quic/peer_stats.h"
#include "quic/tls.h"

/* Connections at once, both directions (one per member at most, plus
 * handshakes not yet judged). */
#define QUIC_ENDPOINT_CONNS_MAX 1024u
/* Bytes queued for sending on one connection; a stream that would pass it
 * is refused (core sees a reset). An honest peer asks for at most core's
 * fetch_bytes_per_peer_max (256 MiB) of artifacts at once, plus one. */
#define QUIC_ENDPOINT_SEND_BYTES_MAX (400ull << 20)
/* Stateless resets sent per second at most (a token bucket as deep). */
#define QUIC_ENDPOINT_RESETS_PER_S 100u
/* A connection that received a packet within this many keepalive periods
 * (the idle timeout when keepalives are off) is live: a handshake with its
 * key from another address is a duplicate identity. */
#define QUIC_ENDPOINT_LIVE_KEEPALIVES 2u
/* Warnings (duplicate identity, stalled connection) logged per second at
 * most. */
#define QUIC_ENDPOINT_WARN_INTERVAL_NS 1000000000ull
/* A connection stalled this long is closed (and dialled again by core):
 * data waits, its congestion window is full and no timer of its own will
 * ever retransmit or probe (see conn_stalled in endpoint.c). Only an ACK
 * from the peer could end it, and an honest peer acknowledges within
 * its max_ack_delay (25 ms), so this is many round trips of any real
 * path; a slow reader is flow-control blocked, which is not a stall. */
#define QUIC_ENDPOINT_STALL_NS (3ull * 1000000000ull)

struct quic_endpoint_limits {
    uint32_t streams_per_peer;    /* bidi streams a peer may open at once */
    uint64_t idle_timeout_ns;     /* silence after which a conn is lost */
    uint64_t keepalive_ns;        /* a quiet conn is pinged */
    uint64_t dial_timeout_ns;     /* a handshake must finish by then */
    uint64_t stream_window_bytes; /* flow control, per stream (initial) */
    uint64_t conn_window_bytes;   /* flow control, per connection */
    /* The owner's timer resolution: a write sends send quanta back to back
     * while pacing's next gap is shorter than this (waiting for a timer
     * would round it up to a whole tick and leave the window unused). */
    uint64_t timer_tick_ns;
};

void quic_endpoint_limits_default(struct quic_endpoint_limits *l);

/* Everything the transport tells its owner. Called from the loop; may call
 * back into the transport. */
struct quic_endpoint_cbs {
    void *ctx;
    /* Inside an inbound handshake: whether the key id presented is a
     * member that may connect now; fills *peer, or *why when refused. */
    bool (*accept_key)(void *ctx, const uint8_t key_id[QUIC_KEY_ID_LEN],
                       uint32_t *peer, enum quic_refusal *why);
    /* A connection to peer completed its handshake (dialled or accepted).
     * A newer one replaces an older one silently. */
    void (*peer_up)(void *ctx, uint32_t peer);
    /* An up connection to peer is gone (idle, closed by the peer, error). */
    void (*peer_down)(void *ctx, uint32_t peer, int reason);
    /* A quic_endpoint_dial did not complete. */
    void (*dial_failed)(void *ctx, uint32_t peer, int reason);
    void (*stream_data)(void *ctx, uint32_t peer, uint64_t stream_id,
                        bool inbound, const uint8_t *data, size_t len,
                        bool fin);
    void (*stream_reset)(void *ctx, uint32_t peer, uint64_t stream_id,
                         bool inbound);
    /* Optional: a warning for the log (one line, no newline); dropped
     * when NULL. */
    void (*warn)(void *ctx, const char *msg);
};

/* A datagram's path: where it goes (remote) and the local address it
 * leaves from (the one the connection was made or accepted on). */
struct quic_path {
    const struct sockaddr *local;
    socklen_t local_len;
    const struct sockaddr *remote;
    socklen_t remote_len;
};

/* What the endpoint asks of its owner's world. */
struct quic_endpoint_env {
    void *ctx;
    /* Sends buf[0..len) along path as datagrams of seg bytes (the last may
     * be shorter; at most QUIC_ENDPOINT_SEND_SEGMENTS_MAX of them).
     * Returns the bytes taken: len, or a whole number of datagrams when
     * the owner can take no more now (the endpoint keeps the rest and
     * waits for quic_endpoint_writable); negative when they are lost (QUIC
     * resends). */
    ssize_t (*send)(void *ctx, const struct quic_path *path, const uint8_t *buf,
                    size_t len, size_t seg);
    /* Fills out[0..n) with random bytes. */
    void (*rand)(void *ctx, uint8_t *out, size_t n);
    /* Wall-clock seconds since the epoch: certificates' validity. */
    int64_t (*wall_s)(void *ctx);
};

/* Datagrams one env.send carries at most. */
#define QUIC_ENDPOINT_SEND_SEGMENTS_MAX 64u

struct quic_endpoint;

/* A new endpoint with no connection. Dials name the local address they
 * leave from; accepted connections keep the one their first packet
 * arrived on. tls, cbs and env are borrowed and must outlive it. Returns
 * 0, or P2P_ERR_NOMEM with a message in err. */
int quic_endpoint_new(const struct quic_endpoint_limits *limits,
                      struct quic_tls *tls, const struct quic_endpoint_cbs *cbs,
                      const struct quic_endpoint_env *env, uint64_t now,
                      struct quic_endpoint **out, char *err, size_t err_len);

/* Closes every connection (a CONNECTION_CLOSE each, through env.send; no
 * callbacks) and frees the endpoint. */
void quic_endpoint_del(struct quic_endpoint *t, uint64_t now);

/* A datagram arrived on local from remote (all borrowed for the call): any
 * bytes of any length, an empty one included (counted as malformed). */
void quic_endpoint_recv(struct quic_endpoint *t, uint64_t now,
                        const struct quic_path *path, const uint8_t *pkt,
                        size_t len);

/* Writes every connection with something to send and closes those asked
 * to close. True when some are still dirty (callbacks during the flush
 * dirtied them again): flush again before waiting. */
bool quic_endpoint_flush(struct quic_endpoint *t, uint64_t now);

/* The earliest time a connection has timer work (loss detection, pacing,
 * keepalive, idle, a dial's deadline), or UINT64_MAX. */
uint64_t quic_endpoint_next_expiry(const struct quic_endpoint *t);

/* Handles every connection whose timer work is due at now. */
void quic_endpoint_on_expiry(struct quic_endpoint *t, uint64_t now);

/* The owner can take datagrams again after a short env.send. */
void quic_endpoint_writable(struct quic_endpoint *t);

/* True while the endpoint waits for quic_endpoint_writable. */
bool quic_endpoint_blocked(const struct quic_endpoint *t);

/* Dials peer along path (remote: its address; local: ours for it); its
 * certificate must carry key_id. Answered later by
 * peer_up or dial_failed. P2P_ERR_EXISTS when a connection to peer is
 * already up or being made, P2P_ERR_LIMIT when the table is full. */
int quic_endpoint_dial(struct quic_endpoint *t, uint64_t now, uint32_t peer,
                       const struct quic_path *path,
                       const uint8_t key_id[QUIC_KEY_ID_LEN]);

/* Closes the connection to peer (or abandons the dial) with no callback. */
void quic_endpoint_close(struct quic_endpoint *t, uint32_t peer, int reason);

/* Opens a stream to peer, sends bytes (copied), then the bytes of body
 * (a shared body, core/body.h, or NULL: the transport holds its own
 * reference until the peer has them, so a large artifact is sent from
 * where it lies, never copied) and ends our half; the response arrives
 * through stream_data(peer, stream_id, inbound=false). P2P_ERR_NOT_FOUND
 * when peer is not up, P2P_ERR_LIMIT past the send budget. */
int quic_endpoint_open(struct quic_endpoint *t, uint32_t peer,
                       uint64_t stream_id, const uint8_t *bytes, size_t len,
                       struct p2p_body *body);

/* Answers the inbound stream with bytes (copied) and body (as for open)
 * and ends our half. */
int quic_endpoint_respond(struct quic_endpoint *t, uint32_t peer,
                          uint64_t stream_id, const uint8_t *bytes, size_t len,
                          struct p2p_body *body);

/* Abandons a stream (both halves); no stream_reset callback follows. */
void quic_endpoint_reset(struct quic_endpoint *t, uint32_t peer,
                         uint64_t stream_id, bool inbound);

/* Stats for /metrics: the totals, and one peer's counters (false when
 * the transport never heard of it). */
void quic_endpoint_totals(const struct quic_endpoint *t,
                          struct quic_endpoint_totals *tot);
bool quic_endpoint_peer_stats(const struct quic_endpoint *t, uint32_t peer,
                              struct quic_peer_stats *out);

/* Writes addr as "a.b.c.d:port" or "[v6]:port". */
void quic_endpoint_addr_text(const struct sockaddr_storage *addr, char *out,
                             size_t cap);

#endif
