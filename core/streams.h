/* Internal: the stream table, every open RPC stream of a node, inbound
 * (a peer's request we read, then answer) or outbound (our request, whose
 * response we read). Each has a deadline, so no peer can pin a stream
 * open; one peer may hold at most cfg.streams_in_per_peer_max inbound
 * streams and cfg.stream_bytes_in_per_peer_max buffered bytes.
 *
 * The module reports; it never calls up. A stream that ends hands its
 * outcome to the caller in a struct p2p_stream_done (a complete inbound
 * request, or an outbound request's response or failure with the owner
 * that waits for it), and the router (node.c) dispatches it. A deadline
 * that passes is reported the same way, so the router may ask the owner
 * for more time first. A stream that ends cancels its deadline's timer
 * (core/timers.h), so the node is not woken for it. Bytes no honest peer
 * sends (a malformed or oversized frame) and silence cost the peer points
 * in the ledger.
 * Cross-file internal names carry p2p__streams_. */
#ifndef P2P_CORE_STREAMS_H
#define P2P_CORE_STREAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/framing.h"
#include "core/keymap.h"
#include "core/table.h"

/* Who waits for an outbound stream's response. */
enum p2p_stream_owner {
    P2P_OWNER_NONE,
    P2P_OWNER_SENDER,
    P2P_OWNER_DOWNLOADER,
    P2P_OWNER_STATE_SYNC, /* owner_index: chunk index or
                                  P2P_STATE_SYNC_MANIFEST; owner_gen: sync */
};

struct p2p_stream {
    bool used;
    bool inbound;
    p2p_node_id peer;
    uint64_t stream_id;
    uint32_t gen;
    enum p2p_route route;
    enum p2p_stream_owner owner;
    uint32_t owner_index;
    uint32_t owner_gen;
    struct p2p_frame_reader reader;
    uint64_t bytes_in;  /* inbound: bytes fed so far */
    p2p_time opened_ns; /* outbound: when the request was sent */
    /* The armed deadline (an earlier timer naming this stream is stale),
     * and its timer, cancelled when the stream ends. */
    p2p_time deadline_ns;
    p2p_timer_handle deadline_timer;
    uint32_t next_free;
};

/* Slots of the outbound id index (a power of two). */
#define P2P_STREAMS_OUT_RING 4096u

/* What the table knows of one peer. */
struct p2p_stream_peer {
    /* The latest opened_ns of our requests to this peer that it answered
     * (response bytes or a reset): it has answered something we asked at
     * or after this time (0 until it answers one). */
    p2p_time answered_ns;
    uint32_t streams_in; /* inbound streams open */
    uint64_t bytes_in;   /* bytes buffered on them */
};

/* The module's state (caller storage; fields private to streams.c). */
struct p2p_streams {
    const struct p2p_env *env; /* borrowed */
    struct p2p_table table;    /* of struct p2p_stream */
    struct p2p_keymap by_key;  /* every record not in out_ring */
    /* Our own streams by id: ids are handed out in sequence, so slot
     * (id mod P2P_STREAMS_OUT_RING) names the record (index + 1; 0: none)
     * without a hash lookup; an id whose slot is taken by a stream still
     * open goes to by_key instead. Owned, allocated with the first
     * request; NULL if that failed (by_key then holds everything). */
    uint32_t *out_ring;
    uint32_t out_ring_count;
    uint64_t next_stream_id;
    struct p2p_stream_peer *peers; /* owned; indexed by node id */
    uint32_t peers_capacity;
};

/* One outbound request (p2p__streams_request's options). */
struct p2p_stream_req {
    p2p_node_id peer;
    enum p2p_route route;
    enum p2p_traffic traffic;
    const uint8_t *body; /* borrowed for the call */
    size_t len;
    /* NULL, or the request body's last bytes, after body[0..len): a shared
     * body (borrowed) the message carries without a copy. */
    struct p2p_body *tail;
    enum p2p_stream_owner owner; /* who gets the response */
    uint32_t owner_index, owner_gen;
    p2p_time timeout_ns; /* the stream's deadline, from now */
    /* The longest answer this request can honestly get (envelope
     * included): a longer one is refused when its length is read, before
     * it is buffered. 0: the route's response limit. */
    size_t response_bytes_max;
};

/* One response on an inbound stream (p2p__streams_respond's options). */
struct p2p_stream_resp {
    p2p_node_id peer;
    uint64_t stream_id;
    enum p2p_traffic traffic;
    uint32_t status;     /* HTTP-like, core/status.h */
    const uint8_t *body; /* borrowed for the call; NULL when len 0 */
    size_t len;
    struct p2p_body *tail; /* as in struct p2p_stream_req */
};

enum p2p_stream_end {
    P2P_STREAM_END_NONE,     /* nothing to dispatch */
    P2P_STREAM_END_REQUEST,  /* an inbound request is complete */
    P2P_STREAM_END_RESPONSE, /* an outbound stream ended (err says how) */
};

/* A stream's outcome, for the router. Owns the frame's bytes until
 * p2p__streams_done_fini. */
struct p2p_stream_done {
    enum p2p_stream_end end;
    p2p_node_id peer;
    uint64_t stream_id;          /* REQUEST: the stream to answer on */
    enum p2p_stream_owner owner; /* RESPONSE: who waits */
    uint32_t owner_index, owner_gen;
    int err;                        /* RESPONSE: 0 (frame valid) or why not */
    struct p2p_frame frame;         /* REQUEST, or RESPONSE with err 0 */
    struct p2p_frame_reader reader; /* owned: the frame's bytes */
    bool has_reader;
};

/* An outbound stream whose deadline passed (p2p__streams_due). */
struct p2p_stream_due {
    p2p_node_id peer;
    enum p2p_stream_owner owner;
    uint32_t owner_index, owner_gen;
    p2p_time opened_ns;
};

/* An empty table; env is borrowed and outlives it. */
void p2p__streams_init(struct p2p_streams *s, const struct p2p_env *env,
                       uint64_t key_seed);
/* Frees every stream and its buffers (no reports). */
void p2p__streams_fini(struct p2p_streams *s);
/* Makes room for peer's record (peer < cfg.node_ids_max). Errors:
 * P2P_ERR_NOMEM. */
int p2p__streams_peer_fit(struct p2p_streams *s, p2p_node_id peer);

/* Opens an outbound stream carrying one request; its end is reported with
 * (owner, owner_index, owner_gen). *index_out gets the stream's index.
 * Errors: P2P_ERR_LIMIT, P2P_ERR_NOMEM (timers, table or outbox full);
 * then nothing was sent. */
int p2p__streams_request(struct p2p_streams *s, p2p_time now,
                         const struct p2p_stream_req *r, uint32_t *index_out);
/* Resets and forgets an outbound stream (no report). */
void p2p__streams_abort(struct p2p_streams *s, uint32_t index);
/* Resets and forgets every outbound stream of owner to peer (every peer
 * when P2P_NODE_NONE) whose owner_index is index (any when any_index).
 * O(streams). */
void p2p__streams_abort_owned(struct p2p_streams *s,
                              enum p2p_stream_owner owner, p2p_node_id peer,
                              uint32_t index, bool any_index);
/* Answers an inbound stream. On an error (P2P_ERR_NOMEM, P2P_ERR_LIMIT)
 * the stream is reset instead, so the requester never waits out its
 * deadline. */
int p2p__streams_respond(struct p2p_streams *s,
                         const struct p2p_stream_resp *r);
/* Resets an inbound stream we will not answer (best effort). */
void p2p__streams_reset(struct p2p_streams *s, p2p_node_id peer,
                        uint64_t stream_id);

/* Bytes arrived (the peer is up). A stream that ends is reported in
 * *done (end NONE otherwise). Errors (the stream is then closed, and an
 * outbound one reported failed): P2P_ERR_OVERSIZE, P2P_ERR_DECODE,
 * P2P_ERR_TRUNCATED, P2P_ERR_NO_ROUTE, P2P_ERR_LIMIT, P2P_ERR_NOMEM,
 * P2P_ERR_NOT_FOUND (an unknown outbound stream: ignored). */
int p2p__streams_on_data(struct p2p_streams *s, p2p_time now,
                         const struct p2p_stream_bytes *in,
                         struct p2p_stream_done *done);
/* The transport reset a stream: an outbound one is reported failed
 * (P2P_ERR_READ). P2P_ERR_NOT_FOUND for an unknown stream. */
int p2p__streams_on_reset(struct p2p_streams *s, p2p_time now, p2p_node_id peer,
                          uint64_t stream_id, bool inbound,
                          struct p2p_stream_done *done);
/* A P2P_TIMER_STREAM_DEADLINE fired. An inbound stream still arriving is
 * failed here. true: an outbound stream's deadline passed; *due names its
 * owner, and the caller either extends it (p2p__streams_extend) or
 * expires it (p2p__streams_expire). false: stale or handled. */
bool p2p__streams_due(struct p2p_streams *s, p2p_time now, uint32_t index,
                      uint32_t gen, struct p2p_stream_due *due);
/* Moves a due stream's deadline to now + more_ns. Errors: those of
 * p2p__timers_add (the deadline is then unchanged). */
int p2p__streams_extend(struct p2p_streams *s, p2p_time now, uint32_t index,
                        p2p_time more_ns);
/* Fails a due stream with P2P_ERR_TIMEOUT (reset), reported in *done.
 * With blame_peer, a peer silent since the request was opened gets
 * P2P_PENALTY_SILENT. */
void p2p__streams_expire(struct p2p_streams *s, p2p_time now, uint32_t index,
                         bool blame_peer, struct p2p_stream_done *done);
/* peer's connection is gone: closes its next stream at or after *cursor,
 * inbound ones silently; returns true with the failure (P2P_ERR_CONN_LOST)
 * of the next outbound one in *done, false when none is left. Call until
 * false, dispatching each report before the next call. */
bool p2p__streams_peer_down_next(struct p2p_streams *s, p2p_node_id peer,
                                 uint32_t *cursor,
                                 struct p2p_stream_done *done);
/* Frees what a report owns. */
void p2p__streams_done_fini(struct p2p_stream_done *done);

/* True when peer has answered none of our requests opened at or after
 * since, and since is at least P2P_SILENCE_NS before now. */
bool p2p__streams_peer_silent(const struct p2p_streams *s, p2p_time now,
                              p2p_node_id peer, p2p_time since);
/* The latest opened_ns of our requests that peer answered (0: none). */
p2p_time p2p__streams_answered_ns(const struct p2p_streams *s,
                                  p2p_node_id peer);
/* Whether a P2P_TIMER_STREAM_DEADLINE (index, gen, deadline) still
 * matters. */
bool p2p__streams_timer_live(const struct p2p_streams *s, uint32_t index,
                             uint32_t gen, p2p_time deadline);
/* Open streams, both directions. */
static inline uint32_t p2p__streams_count(const struct p2p_streams *s)
{
    return s->table.count;
}
/* The O(1) part of p2p__streams_check: the index and the table agree. */
static inline bool p2p__streams_counts_ok(const struct p2p_streams *s)
{
    return s->by_key.count + s->out_ring_count == s->table.count;
}
/* 0, or P2P_ERR_INTERNAL when the index and the table disagree or a
 * peer's counts do not add up. O(streams + peers). */
int p2p__streams_check(const struct p2p_streams *s);

#endif
