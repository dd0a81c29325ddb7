/* The endpoint's internals, shared by quic/endpoint.c (connections,
 * packets, the public calls) and quic/endpoint_stream.c (ngtcp2's
 * callbacks and the stream table). Not for other modules. */
#ifndef P2P_QUIC_ENDPOINT_INT_H
#define P2P_QUIC_ENDPOINT_INT_H

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "quic/endpoint.h"
#include "quic/stream_traffic.h"

/* Peers are registry indexes below this. */
#define QUIC_ENDPOINT_PEERS_MAX 4096u
/* Our connection ids: random, this long (routing needs a fixed length). */
#define QUIC_ENDPOINT_CID_LEN 16u
/* The connection-id table: open addressing, a power of two, at least
 * twice the ids it can hold (8 per connection). */
#define QUIC_ENDPOINT_CID_SLOTS 16384u
#define QUIC_ENDPOINT_CIDS_PER_CONN 8u
/* Bytes of one packet buffer. */
#define QUIC_ENDPOINT_PKT_BYTES 1500u
#define QUIC_ENDPOINT_PEER_NONE UINT32_MAX
/* How many send quanta one write may send back to back when pacing's
 * gaps are shorter than the owner's timer tick (conn_write): 16 x 64 KiB. */
#define QUIC_ENDPOINT_BURSTS_PER_WRITE 16u
/* Passes of the flush over dirty connections per loop iteration. */
#define QUIC_ENDPOINT_FLUSH_PASSES 16
/* Stateless resets are sent only for packets longer than
 * QUIC_ENDPOINT_SR_BYTES_MIN and are one byte shorter than their trigger, at
 * most QUIC_ENDPOINT_SR_BYTES_MAX: two endpoints that both lack the state stop
 * after a few rounds. The smallest short-header packet a peer of ours sends is
 * 37 bytes (1 + a 16-byte id + 4 bytes of packet number and frames + a 16-byte
 * tag), so every real packet is answered. */
#define QUIC_ENDPOINT_SR_BYTES_MIN 36u
#define QUIC_ENDPOINT_SR_BYTES_MAX 43u
/* Destination ids of a connection whose reset tokens are compared with a
 * received packet's last 16 bytes. */
#define QUIC_ENDPOINT_DCID_TOKENS_MAX 8u

struct quic_endpoint_conn;

struct quic_endpoint_stream {
    struct quic_endpoint_conn *conn;
    int64_t sid;            /* QUIC stream id; -1 until opened */
    uint64_t core_id;       /* core's id (== sid for inbound streams) */
    bool inbound;           /* the peer opened it */
    bool waiting_id;        /* outbound, not yet given a QUIC stream id */
    bool core_open;         /* core still tracks it: tell it of a reset */
    bool reset_pending;     /* shut it down at the next flush */
    bool closing;           /* shut down: kept (buffer included) until
                               ngtcp2 closes it; invisible to lookups */
    bool fin_received;      /* the peer's half has ended */
    bool stop_read_pending; /* stop reading it at the next flush */
    bool fin_sent;
    bool blocked; /* flow control: off the send queue */
    bool queued;  /* on a send queue */
    bool large;   /* on the large queue (see struct quic_endpoint_queue) */
    /* What we send: buf (owned; the message's head, or all of it), then
     * body's bytes (a shared body, one uncharged reference, or NULL), len
     * bytes in all; both dropped once acked. */
    uint8_t *buf;
    struct p2p_body *body;
    size_t len, sent;
    /* Traffic classes for the totals (prod/stream_traffic.h): of what we
     * send (decided when it is queued), of what we receive (decided from
     * its first bytes, kept in head; rx_pending bytes wait for it), and
     * the request's route, which decides its response's class. */
    uint8_t route;
    uint8_t tx_traffic, rx_traffic;
    bool rx_known;
    uint8_t head_len;
    uint8_t head[QUIC_TRAFFIC_HEAD_BYTES];
    uint64_t rx_pending;
    struct quic_endpoint_stream *next, *prev; /* all streams of the conn */
    struct quic_endpoint_stream *send_next;   /* send queue */
};

/* A stream sending more than this goes to the large queue. */
#define QUIC_ENDPOINT_SMALL_STREAM_BYTES (64u << 10)

/* Streams with bytes to send. Small ones (requests, acks, small artifacts)
 * share the link round robin and go before large ones; large ones go one
 * after the other, so that a receiver holds one half-received large
 * message per connection, not all of them at once, and each finishes as
 * early as it can. */
struct quic_endpoint_queue {
    struct quic_endpoint_stream *head, *tail;
};

enum quic_endpoint_conn_state { QUIC_ENDPOINT_HANDSHAKE, QUIC_ENDPOINT_UP };

struct quic_endpoint_conn {
    ngtcp2_crypto_conn_ref conn_ref; /* the TLS session's pointer slot */
    struct quic_endpoint *t;
    uint32_t slot; /* index in t->conns */
    ngtcp2_conn *qc;
    gnutls_session_t tls;
    bool server;
    enum quic_endpoint_conn_state state;
    uint32_t peer; /* QUIC_ENDPOINT_PEER_NONE until known */
    uint8_t expect_key[QUIC_KEY_ID_LEN]; /* client: the peer's key id */
    enum quic_refusal refusal;           /* why the verify hook refused */
    bool refused;                        /* counted as a refusal */
    bool completed;                      /* server: counted as accepted */
    enum quic_initial_drop drop;         /* server: how it is counted if it ends
                                    before either of the above */
    uint64_t last_rx_ns;                 /* last packet ngtcp2 took */
    uint64_t dial_deadline; /* client: up (confirmed) by then, or the
                                 dial fails */
    struct sockaddr_storage local, remote;
    socklen_t local_len, remote_len;
    uint64_t expiry;        /* its next timer work (ngtcp2's, the dial's
                        deadline, the stall's), UINT64_MAX: none */
    uint64_t stalled_since; /* see conn_stalled; UINT64_MAX: not stalled */
    bool dirty;
    bool close_pending; /* close at the next flush */
    int close_reason;
    const char *close_phrase; /* static; the close's reason phrase */
    struct quic_endpoint_stream *streams;
    struct quic_endpoint_queue small, large; /* streams with bytes to send */
    uint32_t opens_pending; /* streams waiting for a stream id */
    uint64_t send_bytes;    /* queued, not yet acknowledged */
    uint8_t *pend;          /* packets the socket refused (EAGAIN) */
    size_t pend_len, pend_seg;
};

struct quic_endpoint_cid_slot {
    uint8_t len; /* 0: empty */
    bool tomb;
    uint8_t data[NGTCP2_MAX_CIDLEN];
    struct quic_endpoint_conn *conn;
};

struct quic_endpoint {
    uint64_t now; /* the time of the call being handled */
    struct quic_tls *tls;
    struct quic_endpoint_cbs cbs;
    struct quic_endpoint_env env;
    struct quic_endpoint_limits limits;
    ngtcp2_callbacks client_cb, server_cb;
    struct quic_endpoint_conn *conns[QUIC_ENDPOINT_CONNS_MAX];
    uint32_t conns_count;
    struct quic_endpoint_conn *by_peer[QUIC_ENDPOINT_PEERS_MAX];
    struct quic_endpoint_cid_slot cids[QUIC_ENDPOINT_CID_SLOTS];
    uint32_t cid_tombs;  /* removed slots not yet reused */
    bool blocked;        /* the owner takes no datagrams: wait for writable */
    uint32_t flush_from; /* the flush's first slot (round robin) */
    uint8_t *txbuf;      /* QUIC_ENDPOINT_SEND_SEGMENTS_MAX packets */
    struct quic_peer_stats peers[QUIC_ENDPOINT_PEERS_MAX];
    struct quic_endpoint_totals tot;
    uint8_t reset_secret[QUIC_TLS_SECRET_LEN];
    uint32_t reset_budget;    /* resets that may go out now */
    uint64_t reset_refill_ns; /* when the budget last grew */
    uint64_t warned_ns;       /* when a warning was last logged */
    uint64_t warns_unlogged;  /* warnings since then */
};

void quic_endpoint_mark_dirty(struct quic_endpoint_conn *c);
/* The stateless reset token of one of our connection ids: HKDF of the id
 * with the node's static secret. 0, or -1 if the crypto failed. */
int quic_endpoint_reset_token(const struct quic_endpoint *t, const uint8_t *cid,
                              size_t len,
                              uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN]);
/* Whether two addresses are the same (family, address, port). */
bool quic_endpoint_addr_eq(const struct sockaddr_storage *a,
                           const struct sockaddr_storage *b);
/* Logs a warning through cbs.warn, at most one per
 * QUIC_ENDPOINT_WARN_INTERVAL_NS (the others are counted and the count
 * goes with the next one). */
void quic_endpoint_warn(struct quic_endpoint *t, uint64_t now, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));
void quic_endpoint_cid_add(struct quic_endpoint *t, const uint8_t *data,
                           size_t len, struct quic_endpoint_conn *c);
void quic_endpoint_cid_remove(struct quic_endpoint *t, const uint8_t *data,
                              size_t len);
/* Fills the ngtcp2 callback tables (prod/transport_stream.c). */
void quic_endpoint_stream_callbacks(ngtcp2_callbacks *client,
                                    ngtcp2_callbacks *server);
/* The verify hook of every session (prod/transport_stream.c). */
int quic_endpoint_stream_verify_peer(gnutls_session_t s);
/* Streams (prod/transport_stream.c). */
struct quic_endpoint_stream *quic_endpoint_stream_new(
    struct quic_endpoint_conn *c, bool inbound, uint64_t core_id);
struct quic_endpoint_stream *quic_endpoint_stream_find(
    struct quic_endpoint_conn *c, bool inbound, uint64_t core_id);
void quic_endpoint_stream_free(struct quic_endpoint_stream *s);
void quic_endpoint_stream_enqueue(struct quic_endpoint_stream *s);
/* Takes s (the head of its queue) off it; with rotate, a small stream
 * that still has bytes goes to the back instead. */
void quic_endpoint_stream_dequeue_head(struct quic_endpoint_stream *s);
void quic_endpoint_stream_rotate(struct quic_endpoint_stream *s);
/* Opens streams waiting for an id; shuts down streams reset by core. */
void quic_endpoint_stream_prepare(struct quic_endpoint_conn *c);
/* Counts len received bytes of s (data, the next of them) by traffic
 * class; fin: they are the last. */
void quic_endpoint_stream_count_rx(struct quic_endpoint_stream *s,
                                   const uint8_t *data, size_t len, bool fin);
/* Decides the class of what s sends, bytes[0..len) (the whole message). */
void quic_endpoint_stream_set_tx(struct quic_endpoint_stream *s,
                                 const uint8_t *bytes, size_t len);

/* Fills out[0..n) from the owner's randomness (env.rand). */
void quic_endpoint_rand(const struct quic_endpoint *t, uint8_t *out, size_t n);

#endif
