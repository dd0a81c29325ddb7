/* Internal: the state sync manager (docs/state-sync.md;
 * the IC's rs/p2p/state_sync_manager). At most one sync at a time: the
 * meta-manifest from one advertiser, checked against the advertised root
 * hash, the manifest chunks it names, then the chunks from every
 * advertiser through the chunk scheduler (core/chunk_scheduler.h), each
 * checked against the manifest; answers travel raw or as zstd frames
 * (core/state_sync_codec.h). It also advertises the store's newest state
 * to every peer and serves meta-manifests, manifest chunks and chunks.
 * Its requests far slower than the sync's recent chunks fail early
 * (core/state_sync_slow.h).
 *
 * The manager keeps its own record of which peers are up and what each
 * advertised (the router tells it of connections). Cross-file internal
 * names carry p2p__state_sync_. */
#ifndef P2P_CORE_STATE_SYNC_H
#define P2P_CORE_STATE_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/chunk_scheduler.h"
#include "core/env.h"
#include "core/framing.h"
#include "core/shim.h"
#include "core/state_manifest.h"
#include "core/state_store.h"
#include "core/state_sync_codec.h"
#include "core/state_sync_slow.h"
#include "core/streams.h"
#include "core/topology.h"

/* owner_index of a meta-manifest request (ChunkRequest.manifest). */
#define P2P_STATE_SYNC_MANIFEST UINT32_MAX
/* owner_index and ChunkRequest.index of manifest chunk k: this + k, as
 * the IC's chunk ids 2^31.. (state chunks are below P2P_STATE_CHUNKS_MAX). */
#define P2P_STATE_SYNC_MANIFEST_CHUNK (1u << 31)

/* What the manager knows of one peer. */
struct p2p_state_peer {
    bool up;         /* a connection is established */
    bool advertised; /* height/root hold its last advert */
    uint64_t height;
    struct p2p_state_hash root;
};

/* The module's state (caller storage; fields private to state_sync.c). */
struct p2p_state_sync {
    const struct p2p_env *env;             /* borrowed */
    struct p2p_streams *streams;           /* borrowed: requests and answers */
    const struct p2p_topology *topology;   /* borrowed: the quorum's n */
    const struct p2p_state_store_ops *ops; /* borrowed; NULL: no sync */
    void *ctx;                             /* borrowed */
    struct p2p_rng rng; /* the scheduler's draws: its own stream */
    bool advert_timer;  /* the periodic advert is armed */
    bool active;
    uint32_t gen;    /* names the current sync's streams, timer */
    uint64_t height; /* the state being synced */
    struct p2p_state_hash root;
    p2p_time started_ns;
    /* Manifest phase: the meta-manifest from one advertiser at a time
     * (manifest_inflight), then its manifest chunks from every advertiser
     * through sched over `parts` (have_meta), assembled in manifest_buf. */
    bool have_meta;
    bool have_manifest;
    bool manifest_inflight;
    p2p_node_id manifest_peer;          /* asked last for the meta */
    struct p2p_state_meta meta;         /* valid once have_meta */
    struct p2p_state_manifest parts;    /* owned once have_meta, until
                                           have_manifest: the manifest
                                           chunks' sizes and hashes */
    uint8_t *manifest_buf;              /* owned likewise:
                                           meta.manifest_bytes */
    struct p2p_state_manifest manifest; /* owned once have_manifest */
    struct p2p_chunk_scheduler *sched;  /* owned once have_meta: over
                                           parts, then over manifest */
    uint8_t *scratch; /* owned while sched is: one decompressed chunk */
    size_t scratch_len;
    struct p2p_state_codec codec; /* this node's zstd contexts */
    /* The meta-manifest served last (computing one hashes the whole
     * manifest): valid when served_root is its root. */
    bool served_valid;
    struct p2p_state_hash served_root;
    struct p2p_state_meta served_meta;
    p2p_time timer_at;            /* the P2P_TIMER_STATE_SYNC armed last */
    struct p2p_state_slow slow;   /* the latencies of the last chunks */
    struct p2p_state_peer *peers; /* owned; indexed by node id */
    uint32_t peers_capacity;
};

/* An idle manager without a store; env, streams and topology are
 * borrowed and outlive it. */
void p2p__state_sync_init(struct p2p_state_sync *st, const struct p2p_env *env,
                          struct p2p_streams *streams,
                          const struct p2p_topology *topology);
void p2p__state_sync_fini(struct p2p_state_sync *st);
/* Makes room for peer's record (peer < cfg.node_ids_max). Errors:
 * P2P_ERR_NOMEM. */
int p2p__state_sync_peer_fit(struct p2p_state_sync *st, p2p_node_id peer);
/* Installs the client's store (NULL: none); a sync under way is
 * cancelled. */
void p2p__state_sync_set_store(struct p2p_state_sync *st, p2p_time now,
                               const struct p2p_state_store_ops *ops,
                               void *ctx);
/* The store's newest state changed. */
void p2p__state_sync_changed(struct p2p_state_sync *st, p2p_time now);
/* A state advert or chunk request arrived on an inbound stream; answers
 * it (400 and points for a malformed one, a reset for our own lack of
 * memory). */
int p2p__state_sync_on_request(struct p2p_state_sync *st, p2p_time now,
                               p2p_node_id peer, uint64_t stream_id,
                               const struct p2p_frame *f);
/* A request of sync gen for chunk index (or P2P_STATE_SYNC_MANIFEST)
 * ended: err 0 with its frame, or why not. */
void p2p__state_sync_on_response(struct p2p_state_sync *st, p2p_time now,
                                 p2p_node_id peer, uint32_t index, uint32_t gen,
                                 int err, const struct p2p_frame *f);
/* peer is up: it gets our advert. */
void p2p__state_sync_peer_up(struct p2p_state_sync *st, p2p_time now,
                             p2p_node_id peer);
/* peer is down: its advert is forgotten, its chunks go elsewhere. */
void p2p__state_sync_peer_down(struct p2p_state_sync *st, p2p_time now,
                               p2p_node_id peer);
/* The timers: P2P_TIMER_STATE_ADVERT, _STATE_SYNC and _STATE_SLOW. */
void p2p__state_sync_on_advert_timer(struct p2p_state_sync *st, p2p_time now);
void p2p__state_sync_on_sync_timer(struct p2p_state_sync *st, p2p_time now,
                                   uint32_t gen);
void p2p__state_sync_on_slow_timer(struct p2p_state_sync *st, p2p_time now,
                                   uint32_t gen);
/* Whether one of the manager's timers still matters. */
bool p2p__state_sync_timer_live(const struct p2p_state_sync *st,
                                enum p2p_timer_kind kind, uint32_t gen,
                                p2p_time deadline);
/* Where the sync stands (O(peers)), and its chunk progress (false without
 * a manifest). */
void p2p__state_sync_info(const struct p2p_state_sync *st,
                          struct p2p_state_sync_info *info);
bool p2p__state_sync_progress(const struct p2p_state_sync *st,
                              struct p2p_chunk_progress *out);
/* 0, or P2P_ERR_INTERNAL when the manager's state is inconsistent. O(1). */
int p2p__state_sync_check(const struct p2p_state_sync *st);

#endif
