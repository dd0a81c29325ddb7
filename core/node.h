/* Internal: the node's state, shared by the modules that make up a node
 * (node.c, streams.c, gossip_sender.c, gossip_receiver.c, downloader.c).
 * Backends use core/shim.h only. Cross-file internal functions carry the
 * p2p__ prefix. */
#ifndef P2P_CORE_NODE_H
#define P2P_CORE_NODE_H

#include "core/buggify.h"
#include "core/keymap.h"
#include "core/rng.h"
#include "core/shim.h"
#include "core/table.h"
#include "core/timer_heap.h"
#include "core/topology.h"


/* Who waits for an outbound stream's response. */
enum stream_owner {
    OWNER_NONE,
    OWNER_SENDER,
    OWNER_DOWNLOADER,
    OWNER_STATE_SYNC,    /* owner_index: chunk index or
                            P2P_STATE_SYNC_MANIFEST; owner_gen: sync gen */
};

struct p2p_stream {
    bool used;
    bool inbound;
    p2p_node_id peer;
    uint64_t stream_id;
    uint32_t gen;
    enum p2p_route route;
    enum stream_owner owner;
    uint32_t owner_index;
    uint32_t owner_gen;
    struct p2p_frame_reader reader;
    uint64_t bytes_in;         /* inbound: bytes fed so far */
    p2p_time opened_ns;        /* outbound: when the request was sent */
    p2p_time deadline_ns;      /* the armed deadline; an earlier timer
                                  naming this stream is stale */
    uint32_t next_free;
};

/* The sender's per-artifact slot. */
struct p2p_slot {
    bool used;
    uint32_t gen;
    struct p2p_artifact_id id;
    enum p2p_artifact_kind kind;
    uint64_t size;
    uint64_t commit_id;
    bool push;                 /* the update carries the body */
    uint8_t *update;           /* owned: the packed SlotUpdate, encoded once
                                  and sent to every peer */
    size_t update_len;
    uint32_t next_free;        /* LIFO free list, as in the IC */
};

/* One slot update in flight to one peer, or waiting to be retried. */
struct p2p_tx {
    bool used;
    uint32_t gen;
    uint32_t slot;
    p2p_node_id peer;
    uint32_t stream;           /* P2P_INDEX_NONE while waiting to retry */
    uint32_t attempt;
    uint32_t next_free;
    p2p_time started_ns;       /* first transmission: P2P_HIST_UPDATE_ACK */
};

/* What a peer's slot holds, as this node last heard it. */
struct p2p_slot_view {
    bool used;                 /* names an artifact now */
    bool seen;                 /* ever written: commit_id is meaningful,
                                  also after a deletion */
    bool pending;              /* its download was refused for lack of
                                  room: retried on the refresh timer */
    enum p2p_artifact_kind kind; /* as advertised, for the retry */
    uint64_t size;
    uint64_t commit_id;
    struct p2p_artifact_id id;
};

struct p2p_peer {
    bool up;                   /* a connection is established */
    enum p2p_conn_state conn;  /* the connection manager's view */
    uint32_t conn_gen;         /* names the current redial timer */
    uint32_t dial_failures;    /* in a row, for the redial backoff */
    p2p_time redial_at;        /* while P2P_CONN_WAIT */
    uint32_t penalty;          /* misbehaviour points, decaying */
    p2p_time penalty_at;       /* when penalty was last decayed */
    uint64_t penalty_total;    /* every point ever given */
    uint32_t bans;             /* times disconnected for misbehaviour */
    p2p_time banned_until;     /* refused until then */
    bool ban_pending;          /* reached the limit: banned at the end of
                                  the current entry point */
    struct p2p_slot_view *slots; /* owned; grows up to slots_per_peer_max */
    uint32_t slots_capacity;
    uint32_t slots_used;
    uint32_t fetches_inflight;
    uint64_t fetch_bytes_inflight; /* advertised sizes of those fetches */
    /* The latest opened_ns of our requests to this peer that it answered
     * (response bytes or a reset): it has answered something we asked at
     * or after this time (0 until it answers one). */
    p2p_time answered_ns;
    uint32_t advertising;      /* downloads this peer advertises */
    uint32_t streams_in;       /* inbound streams open */
    uint64_t bytes_in;         /* bytes buffered on them */
    bool state_advertised;     /* state_height/root hold its last advert */
    uint64_t state_height;
    struct p2p_state_hash state_root;
};

enum download_state { DL_WAIT_BOUNCER, DL_READY, DL_FETCHING, DL_BACKOFF };

struct p2p_advertiser {
    p2p_node_id peer;
    uint32_t refs;             /* slots of that peer naming the id */
    bool failed;               /* failed in the current round */
};

struct p2p_download {
    bool used;
    uint32_t gen;
    struct p2p_artifact_id id;
    enum p2p_artifact_kind kind;
    uint64_t size;
    uint64_t fetch_bytes;      /* size charged to the peer fetched from */
    enum download_state state;
    struct p2p_advertiser *advs; /* owned */
    uint32_t advs_count, advs_capacity;
    uint32_t round;            /* rounds of every advertiser failing */
    p2p_time backoff_until;    /* while DL_BACKOFF */
    bool round_backoff;        /* the wait is a round's backoff, not a
                                  wait for a free advertiser */
    uint32_t stream;           /* while fetching */
    p2p_node_id fetching_from;
    uint32_t extensions;       /* the fetch's deadline moved (no other
                                  advertiser, the peer busy but alive) */
    uint32_t next_free;
    p2p_time created_ns;       /* for P2P_HIST_DOWNLOAD */
};

enum timer_kind {
    TIMER_STREAM_DEADLINE,
    TIMER_TX_RETRY,
    TIMER_DOWNLOAD,
    TIMER_BOUNCER_REFRESH,
    TIMER_REDIAL,              /* index: peer id; gen: its conn_gen */
    TIMER_STATE_ADVERT,        /* the periodic state advert */
    TIMER_STATE_SYNC,          /* gen: the sync's gen */
    TIMER_STATE_SLOW,          /* gen: the sync's gen; state_sync_slow.c */
};

/* Chunk latencies kept to judge what is slow (state_sync_slow.c). */
#define P2P_STATE_LAT_SAMPLES 32u

/* owner_index of a manifest request. */
#define P2P_STATE_SYNC_MANIFEST UINT32_MAX

/* The state sync manager (state_sync.c): at most one sync at a time. */
struct p2p_state_sync {
    const struct p2p_state_store_ops *ops; /* borrowed; NULL: no sync */
    void *ctx;                 /* borrowed */
    struct p2p_rng rng;        /* the scheduler's draws: its own stream */
    bool advert_timer;         /* the periodic advert is armed */
    bool active;
    uint32_t gen;              /* names the current sync's streams, timer */
    uint64_t height;           /* the state being synced */
    struct p2p_state_hash root;
    p2p_time started_ns;
    /* Manifest phase: one request at a time, to one advertiser. */
    bool have_manifest;
    bool manifest_inflight;
    p2p_node_id manifest_peer; /* asked last */
    p2p_time manifest_retry_at; /* P2P_TIME_NEVER unless waiting */
    struct p2p_state_manifest manifest;  /* owned once have_manifest */
    struct p2p_chunk_scheduler *sched;   /* owned once have_manifest */
    p2p_time timer_at;         /* the TIMER_STATE_SYNC armed last */
    /* The latencies of the last chunks received (a ring), for the early
     * failure of requests far slower than the rest. */
    p2p_time lat[P2P_STATE_LAT_SAMPLES];
    uint32_t lat_count, lat_next;
};

struct p2p_node {
    struct p2p_config cfg;
    struct p2p_mem *mem;       /* borrowed */
    struct p2p_rng rng;
    struct p2p_outbox outbox;
    struct p2p_timer_heap timers;
    struct p2p_pool pool;
    struct p2p_metrics metrics;
    struct p2p_histogram hists[P2P_HISTS_COUNT]; /* core/metrics_registry.h */
    p2p_bouncer_fn bouncer;
    void *bouncer_ctx;         /* borrowed */

    struct p2p_peer *peers;    /* owned; indexed by node id */
    uint32_t peers_capacity;
    struct p2p_topology topology; /* the latest registry version */
    struct p2p_rng buggify_rng;   /* core/buggify.h: its own stream */
    uint32_t buggify_on;          /* enabled points, a bit each */
    uint64_t metrics_buggify_fired; /* fault points that fired */
    uint32_t bans_pending;     /* peers with ban_pending set */

    struct p2p_table streams;  /* of struct p2p_stream */
    struct p2p_keymap stream_by_key;
    uint64_t next_stream_id;

    struct p2p_table slots;    /* of struct p2p_slot */
    struct p2p_keymap slot_by_id;
    uint64_t commit_id;
    struct p2p_table txs;      /* of struct p2p_tx */

    struct p2p_table downloads; /* of struct p2p_download */
    struct p2p_keymap download_by_id;
    bool refresh_scheduled;    /* a bouncer refresh timer is pending */
    uint32_t views_pending;    /* slot views with pending set */

    struct p2p_state_sync state;
};

/* ---- peers (node.c) ---- */
/* The peer record for id, or NULL if the id is out of range or down. */
struct p2p_peer *p2p__peer_up(struct p2p_node *n, p2p_node_id id);

/* ---- connections and misbehaviour (conn_manager.c) ---- */
bool p2p__is_member(const struct p2p_node *n, p2p_node_id id);
void p2p__conn_on_redial(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                         uint32_t gen);
bool p2p__redial_live(const struct p2p_node *n, p2p_node_id peer, uint32_t gen);
/* Adds misbehaviour points to peer (decaying at cfg.penalty_decay_per_s);
 * at cfg.penalty_ban_points the peer is disconnected and banned for
 * cfg.ban_ns, when the current entry point returns. */
void p2p__penalise(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                   uint32_t points);
void p2p__conn_apply_bans(struct p2p_node *n, p2p_time now);

/* Penalty points per kind of misbehaviour (out of cfg.penalty_ban_points,
 * 100 by default): a malformed frame or a wrong artifact is never an honest
 * mistake; a stale update can be (a late retransmission). Slowness is not
 * misbehaviour: a request that times out costs the peer its turn (the
 * request goes elsewhere, the peer backs off) and no points. Only silence
 * is penalised: a request timing out when the peer has answered none of
 * the requests we made since, P2P_SILENCE_NS or longer ago (a busy honest
 * peer still answers the small ones; see p2p__peer_silent). */
#define P2P_PENALTY_BAD_FRAME 25u
#define P2P_PENALTY_BAD_UPDATE 25u
#define P2P_PENALTY_WRONG_BYTES 34u
#define P2P_PENALTY_STALE_UPDATE 2u
#define P2P_PENALTY_NOT_SERVED 2u   /* advertised, then answered 204 */
#define P2P_PENALTY_SILENT 10u      /* a request timed out in silence */
#define P2P_PENALTY_BAD_STATE P2P_PENALTY_WRONG_BYTES /* manifest, chunk */

/* How long a peer must have answered nothing we asked before a timeout
 * is blamed on it (the update timeout: an update to a live peer is
 * acknowledged well within it, however busy its links are). */
#define P2P_SILENCE_NS (30 * P2P_NS_PER_S)

/* ---- streams (streams.c) ---- */
/* One outbound request (p2p__stream_request's options). */
struct p2p_stream_req {
    p2p_node_id peer;
    enum p2p_route route;
    enum p2p_traffic traffic;
    const uint8_t *body;       /* borrowed for the call */
    size_t len;
    enum stream_owner owner;   /* who gets the response */
    uint32_t owner_index, owner_gen;
    p2p_time timeout_ns;       /* the stream's deadline, from now */
    /* The longest answer this request can honestly get (envelope
     * included): a longer one is refused when its length is read, before
     * it is buffered. 0: the route's response limit. */
    size_t response_bytes_max;
};
/* Opens an outbound stream carrying one request; the response is routed to
 * (owner, owner_index, owner_gen). *stream_out gets the stream's index.
 * On error nothing was sent. */
int p2p__stream_request(struct p2p_node *n, p2p_time now,
                        const struct p2p_stream_req *r, uint32_t *stream_out);
/* True when peer has answered none of our requests opened at or after
 * since, and since is at least P2P_SILENCE_NS before now. */
bool p2p__peer_silent(const struct p2p_node *n, p2p_time now,
                      p2p_node_id peer, p2p_time since);
/* Resets and forgets a stream (no owner callback). */
void p2p__stream_abort(struct p2p_node *n, uint32_t index);
/* Sends a response on an inbound stream. */
int p2p__stream_respond(struct p2p_node *n, p2p_node_id peer,
                        uint64_t stream_id, enum p2p_traffic traffic,
                        uint32_t status,
                        const uint8_t *body, size_t len);
int p2p__stream_on_data(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        uint64_t stream_id, bool inbound, const uint8_t *data,
                        size_t len, bool fin);
int p2p__stream_on_reset(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                         uint64_t stream_id, bool inbound);
/* How late a timer may fire before core assumes it stalled itself. */
#define P2P_TIMER_STALL_NS (1 * P2P_NS_PER_S)
void p2p__stream_on_deadline(struct p2p_node *n, p2p_time now, uint32_t index,
                             uint32_t gen, bool blame_peer);
/* Fails every stream with peer (its connection is gone). */
void p2p__streams_peer_down(struct p2p_node *n, p2p_time now, p2p_node_id peer);

/* ---- sender (gossip_sender.c) ---- */
int p2p__sender_add(struct p2p_node *n, p2p_time now,
                    const struct p2p_pool_entry *e, bool relayed);
void p2p__sender_remove(struct p2p_node *n, const struct p2p_artifact_id *id);
void p2p__sender_peer_up(struct p2p_node *n, p2p_time now, p2p_node_id peer);
void p2p__sender_peer_down(struct p2p_node *n, p2p_node_id peer);
void p2p__sender_on_response(struct p2p_node *n, p2p_time now, uint32_t tx,
                             uint32_t gen, int err, const struct p2p_frame *f);
void p2p__sender_on_retry(struct p2p_node *n, p2p_time now, uint32_t tx,
                          uint32_t gen);

/* ---- receiver (gossip_receiver.c) ---- */
/* Handles a request on an inbound stream; writes the response. */
int p2p__receiver_on_request(struct p2p_node *n, p2p_time now,
                             p2p_node_id peer, uint64_t stream_id,
                             const struct p2p_frame *f);
void p2p__receiver_peer_down(struct p2p_node *n, p2p_time now,
                             p2p_node_id peer);
/* An artifact body arrived (push or fetch) and hashes to id: into the
 * unvalidated pool, unless held already or unwanted. */
int p2p__receiver_accept(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                         const struct p2p_artifact_id *id,
                         enum p2p_artifact_kind kind, const uint8_t *body,
                         size_t len);

/* ---- downloader (downloader.c) ---- */
/* peer advertises id. 0, or P2P_ERR_LIMIT when no download could be made
 * for it now (table or the peer's quota full): the caller marks its slot
 * view pending, and the refresh timer offers it again. */
int p2p__downloader_advertised(struct p2p_node *n, p2p_time now,
                               p2p_node_id peer,
                               const struct p2p_artifact_id *id,
                               enum p2p_artifact_kind kind, uint64_t size);
/* Offers every pending slot view to the downloader again (receiver). */
void p2p__receiver_retry_pending(struct p2p_node *n, p2p_time now);
/* Marks the views of the download's advertisers that name id pending
 * (the download ended without the artifact while still advertised). */
void p2p__receiver_mark_pending(struct p2p_node *n, p2p_time now,
                                p2p_node_id peer,
                                const struct p2p_artifact_id *id);
void p2p__downloader_unadvertised(struct p2p_node *n, p2p_time now,
                                  p2p_node_id peer,
                                  const struct p2p_artifact_id *id);
/* The artifact arrived by some route: its download, if any, ends. */
void p2p__downloader_done(struct p2p_node *n, const struct p2p_artifact_id *id);
void p2p__downloader_on_response(struct p2p_node *n, p2p_time now,
                                 uint32_t dl, uint32_t gen, int err,
                                 const struct p2p_frame *f);
void p2p__downloader_on_timer(struct p2p_node *n, p2p_time now, uint32_t dl,
                              uint32_t gen);
/* The deadline of fetch stream (dl, gen) opened at opened_ns passed: how
 * much longer to wait for it (0: fail it now). See downloader.c. */
p2p_time p2p__downloader_more_time(struct p2p_node *n, p2p_time now,
                                   uint32_t dl, uint32_t gen,
                                   p2p_time opened_ns);
/* Re-asks the bouncer for every download (a new bouncer was installed). */
void p2p__downloader_refresh(struct p2p_node *n, p2p_time now);
/* The periodic refresh: re-asks, then re-arms while downloads exist. */
void p2p__downloader_on_refresh_timer(struct p2p_node *n, p2p_time now);
int p2p__downloader_check(const struct p2p_node *n);

/* ---- state sync (state_sync.c) ---- */
void p2p__state_init(struct p2p_node *n);
void p2p__state_fini(struct p2p_node *n);
int p2p__state_on_request(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                          uint64_t stream_id, const struct p2p_frame *f);
void p2p__state_on_response(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                            uint32_t index, uint32_t gen, int err,
                            const struct p2p_frame *f);
void p2p__state_peer_up(struct p2p_node *n, p2p_time now, p2p_node_id peer);
void p2p__state_peer_down(struct p2p_node *n, p2p_time now, p2p_node_id peer);
void p2p__state_on_advert_timer(struct p2p_node *n, p2p_time now);
void p2p__state_on_sync_timer(struct p2p_node *n, p2p_time now, uint32_t gen);
bool p2p__state_timer_live(const struct p2p_node *n, uint32_t kind,
                           uint32_t gen, p2p_time deadline);
/* Issues what the scheduler allows, completes, re-arms (state_sync.c). */
void p2p__state_pump(struct p2p_node *n, p2p_time now);
/* Aborts the sync's streams to peer for chunk index (state_sync.c). */
void p2p__state_abort_request(struct p2p_node *n, p2p_node_id peer,
                              uint32_t index);
/* state_sync_slow.c: a chunk from peer arrived (before the scheduler
 * hears of it): its latency is sampled. */
void p2p__state_slow_sample(struct p2p_node *n, p2p_time now,
                            p2p_node_id peer, uint32_t index);
/* The chunk phase began: the periodic check is armed. */
void p2p__state_slow_start(struct p2p_node *n, p2p_time now);
void p2p__state_slow_on_timer(struct p2p_node *n, p2p_time now, uint32_t gen);

/* Schedules a node timer. Errors: P2P_ERR_LIMIT (timers_max reached),
 * P2P_ERR_NOMEM; the caller then gives up what needed the timer. */
int p2p__timer(struct p2p_node *n, p2p_time deadline, enum timer_kind kind,
                uint32_t index, uint32_t gen);


#endif
