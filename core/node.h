/* Internal: the node's state, shared by the modules that make up a node
 * (node.c, streams.c, gossip_sender.c, gossip_receiver.c, downloader.c).
 * Backends use core/shim.h only. Cross-file internal functions carry the
 * p2p__ prefix. */
#ifndef P2P_CORE_NODE_H
#define P2P_CORE_NODE_H

#include "core/buggify.h"
#include "core/conn_manager.h"
#include "core/downloader.h"
#include "core/gossip_receiver.h"
#include "core/gossip_sender.h"
#include "core/env.h"
#include "core/keymap.h"
#include "core/rng.h"
#include "core/shim.h"
#include "core/status.h"
#include "core/table.h"
#include "core/streams.h"
#include "core/timers.h"
#include "core/topology.h"


struct p2p_peer {
    bool state_advertised;     /* state_height/root hold its last advert */
    uint64_t state_height;
    struct p2p_state_hash state_root;
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
    struct p2p_env env;        /* what the modules borrow: pointers to the
                                  fields below */
    struct p2p_rng rng;
    struct p2p_outbox outbox;
    struct p2p_timers timers;
    struct p2p_buggify bug;
    struct p2p_ledger ledger;
    struct p2p_streams streams;
    struct p2p_pool pool;
    struct p2p_metrics metrics;
    struct p2p_histogram hists[P2P_HISTS_COUNT]; /* core/metrics_registry.h */
    p2p_bouncer_fn bouncer;
    void *bouncer_ctx;         /* borrowed */

    struct p2p_peer *peers;    /* owned; indexed by node id */
    uint32_t peers_capacity;
    struct p2p_conn_manager conns;

    struct p2p_gossip_sender sender;

    struct p2p_downloader dl;
    struct p2p_gossip_receiver receiver;

    struct p2p_state_sync state;
};

/* ---- peers (node.c) ---- */
/* The peer record for id, or NULL if the id is out of range or down. */
struct p2p_peer *p2p__peer_up(struct p2p_node *n, p2p_node_id id);

/* ---- the router (node.c) ---- */
/* Makes room for peer's records in every per-peer array (node.c).
 * Errors: P2P_ERR_NOMEM. */
int p2p__node_peer_fit(struct p2p_node *n, p2p_node_id peer);
/* Fails every stream with peer, dispatching each report (node.c). */
void p2p__node_streams_peer_down(struct p2p_node *n, p2p_time now,
                                 p2p_node_id peer);
/* The epilogue of every entry point: applies the ledger's bans (node.c). */
void p2p__node_epilogue(struct p2p_node *n, p2p_time now);
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
int p2p__timer(struct p2p_node *n, p2p_time deadline, enum p2p_timer_kind kind,
                uint32_t index, uint32_t gen);


#endif
