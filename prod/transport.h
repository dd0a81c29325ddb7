/* The QUIC transport of the replica: one ngtcp2 connection per peer pair
 * over one UDP socket, mutual TLS 1.3 (prod/tls.h), every RPC on its own
 * bidirectional stream (docs/replica.md, "Transport").
 *
 * It knows peers by core's node id (the registry index) and nothing of the
 * protocol: the replica (prod/replica.c) turns its callbacks into core
 * inputs and core's outbox into the calls below. Those calls never touch
 * ngtcp2 directly: they queue work on the connection and mark it dirty;
 * the loop's prepare watcher writes every dirty connection once per loop
 * iteration. So a callback (which runs inside ngtcp2_conn_read_pkt) may
 * call back into the transport safely.
 *
 * Stateless resets (RFC 9000 10.3): a short-header packet for a
 * connection id we do not know is answered with a reset whose token is
 * derived from that id and the node's static secret (prod_tls.h), the same
 * derivation as the tokens we hand out, so that a restarted process resets
 * its predecessor's connections and their peers redial at once. Resets
 * are rate-limited, always smaller than the packet they answer, and a
 * reset received for one of our connections drops it at once.
 *
 * Duplicate identities: a handshake from a member whose key already has a
 * live connection (a packet within PROD_TRANSPORT_LIVE_KEEPALIVES
 * keepalive periods) from another address is refused (reason
 * "duplicate_identity"), counted per peer and logged; the live one stays.
 * Two processes sharing a key then do not replace each other's connection
 * in a loop: the newcomer's dials fail and back off. */
#ifndef P2P_PROD_TRANSPORT_H
#define P2P_PROD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "core/body.h"
#include "prod/peer_stats.h"
#include "prod/tls.h"

/* Connections at once, both directions (one per member at most, plus
 * handshakes not yet judged). */
#define PROD_TRANSPORT_CONNS_MAX 1024u
/* Bytes queued for sending on one connection; a stream that would pass it
 * is refused (core sees a reset). An honest peer asks for at most core's
 * fetch_bytes_per_peer_max (256 MiB) of artifacts at once, plus one. */
#define PROD_TRANSPORT_SEND_BYTES_MAX (400ull << 20)
/* Stateless resets sent per second at most (a token bucket as deep). */
#define PROD_TRANSPORT_RESETS_PER_S 100u
/* A connection that received a packet within this many keepalive periods
 * (the idle timeout when keepalives are off) is live: a handshake with its
 * key from another address is a duplicate identity. */
#define PROD_TRANSPORT_LIVE_KEEPALIVES 2u
/* Duplicate-identity warnings logged per second at most. */
#define PROD_TRANSPORT_WARN_INTERVAL_NS 1000000000ull

struct prod_transport_limits {
    uint32_t streams_per_peer;    /* bidi streams a peer may open at once */
    uint64_t idle_timeout_ns;     /* silence after which a conn is lost */
    uint64_t keepalive_ns;        /* a quiet conn is pinged */
    uint64_t dial_timeout_ns;     /* a handshake must finish by then */
    uint64_t stream_window_bytes; /* flow control, per stream (initial) */
    uint64_t conn_window_bytes;   /* flow control, per connection */
};

void prod_transport_limits_default(struct prod_transport_limits *l);

/* Everything the transport tells its owner. Called from the loop; may call
 * back into the transport. */
struct prod_transport_cbs {
    void *ctx;
    /* Inside an inbound handshake: whether the key id presented is a
     * member that may connect now; fills *peer, or *why when refused. */
    bool (*accept_key)(void *ctx, const uint8_t key_id[PROD_KEY_ID_LEN],
                       uint32_t *peer, enum prod_refusal *why);
    /* A connection to peer completed its handshake (dialled or accepted).
     * A newer one replaces an older one silently. */
    void (*peer_up)(void *ctx, uint32_t peer);
    /* An up connection to peer is gone (idle, closed by the peer, error). */
    void (*peer_down)(void *ctx, uint32_t peer, int reason);
    /* A prod_transport_dial did not complete. */
    void (*dial_failed)(void *ctx, uint32_t peer, int reason);
    void (*stream_data)(void *ctx, uint32_t peer, uint64_t stream_id,
                        bool inbound, const uint8_t *data, size_t len,
                        bool fin);
    void (*stream_reset)(void *ctx, uint32_t peer, uint64_t stream_id,
                         bool inbound);
    /* Optional: a warning for the log (one line, no newline). When NULL
     * the transport writes it to stderr itself. */
    void (*warn)(void *ctx, const char *msg);
};

struct prod_transport;

/* Binds the UDP socket at addr and starts watching it on loop. tls and cbs
 * are borrowed and must outlive the transport. */
int prod_transport_new(struct ev_loop *loop, const struct sockaddr *addr,
                       socklen_t addr_len,
                       const struct prod_transport_limits *limits,
                       struct prod_tls *tls,
                       const struct prod_transport_cbs *cbs,
                       struct prod_transport **out, char *err, size_t err_len);

/* Closes every connection (without callbacks) and the socket. */
void prod_transport_del(struct prod_transport *t);

/* The bound address (port resolved). */
void prod_transport_local(const struct prod_transport *t,
                          struct sockaddr_storage *addr, socklen_t *len);

/* Dials peer at addr; its certificate must carry key_id. Answered later by
 * peer_up or dial_failed. P2P_ERR_EXISTS when a connection to peer is
 * already up or being made, P2P_ERR_LIMIT when the table is full. */
int prod_transport_dial(struct prod_transport *t, uint32_t peer,
                        const struct sockaddr *addr, socklen_t addr_len,
                        const uint8_t key_id[PROD_KEY_ID_LEN]);

/* Closes the connection to peer (or abandons the dial) with no callback. */
void prod_transport_close(struct prod_transport *t, uint32_t peer, int reason);

/* Opens a stream to peer, sends bytes (copied), then the bytes of body
 * (a shared body, core/body.h, or NULL: the transport holds its own
 * reference until the peer has them, so a large artifact is sent from
 * where it lies, never copied) and ends our half; the response arrives
 * through stream_data(peer, stream_id, inbound=false). P2P_ERR_NOT_FOUND
 * when peer is not up, P2P_ERR_LIMIT past the send budget. */
int prod_transport_open(struct prod_transport *t, uint32_t peer,
                        uint64_t stream_id, const uint8_t *bytes, size_t len,
                        struct p2p_body *body);

/* Answers the inbound stream with bytes (copied) and body (as for open)
 * and ends our half. */
int prod_transport_respond(struct prod_transport *t, uint32_t peer,
                           uint64_t stream_id, const uint8_t *bytes, size_t len,
                           struct p2p_body *body);

/* Abandons a stream (both halves); no stream_reset callback follows. */
void prod_transport_reset(struct prod_transport *t, uint32_t peer,
                          uint64_t stream_id, bool inbound);

/* Stats for /metrics: the totals, and one peer's counters (false when
 * the transport never heard of it). */
void prod_transport_totals(const struct prod_transport *t,
                           struct prod_transport_totals *tot);
bool prod_transport_peer_stats(const struct prod_transport *t, uint32_t peer,
                               struct prod_peer_stats *out);

#endif
