/* The I/O shim: the one interface between core and a backend (sim or prod).
 *
 * A p2p_node is one replica's P2P layer: artifact pools, the gossip sender
 * and receiver, the downloader and the stream table. It never touches a
 * clock, socket, thread or libc PRNG: time arrives as `now` (nanoseconds,
 * monotonic per node), randomness comes from a PRNG seeded by config, and
 * every effect is an action appended to the node's outbox (core/outbox.h).
 *
 * A backend's loop, for every input:
 *   1. call one entry point below with the current time;
 *   2. drain p2p_node_outbox(): carry out each action, then clear it;
 *   3. arm one timer at p2p_node_next_deadline() and call p2p_node_on_timer
 *      when it is reached.
 *
 * Entry points return 0 or a negative P2P_ERR_*. Errors above P2P_ERR_FATAL
 * describe bad peer or caller input: the node stays consistent (a stream that
 * carried bad input has been closed through the outbox). Fatal errors leave
 * only p2p_node_del() callable. */
#ifndef P2P_CORE_SHIM_H
#define P2P_CORE_SHIM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/body.h"
#include "core/bouncer.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/outbox.h"
#include "core/config.h"
#include "core/state_store.h"
#include "core/topology.h"
#include "core/types.h"

struct p2p_node;
struct p2p_pool;           /* core/pool.h */
struct p2p_chunk_progress; /* core/chunk_scheduler.h */

/* A connection as the connection manager sees it. */
enum p2p_conn_state {
    P2P_CONN_IDLE,    /* none, and none being made by us */
    P2P_CONN_DIALING, /* P2P_ACT_CONN_DIAL emitted, no answer yet */
    P2P_CONN_UP,
    P2P_CONN_WAIT, /* waiting to redial (backoff or ban) */
};

/* What a node knows of one peer, for reports and tests. */
struct p2p_peer_info {
    bool member; /* in the latest topology */
    bool up;
    enum p2p_conn_state conn;
    uint32_t penalty;       /* current points */
    uint64_t penalty_total; /* all points ever given */
    uint32_t bans;          /* disconnections for misbehaviour */
    p2p_time banned_until;
};

/* The deterministic dial rule: true when self dials peer (lower id). */
bool p2p_conn_should_dial(p2p_node_id self, p2p_node_id peer);

/* Creates a node. mem is borrowed and must outlive the node; every byte the
 * node holds is charged to it. Errors: P2P_ERR_INVALID_ARG, P2P_ERR_NOMEM. */
int p2p_node_new(const struct p2p_config *c, struct p2p_mem *mem,
                 struct p2p_node **out);

/* Frees the node and everything it holds (pending actions too). */
void p2p_node_del(struct p2p_node *n);

/* ---- inputs from the backend ---- */

/* A new registry version (u and its members borrowed for the call, copied;
 * core/topology.h), with the earliest version the node's clients still
 * reference: the members are the union over those versions. Connections
 * to ids that are no longer members are closed (all of them when self is
 * not a member), members this node must dial are dialled. Errors as
 * p2p_topology_set. */
int p2p_node_on_topology(struct p2p_node *n, p2p_time now,
                         const struct p2p_topology_update *u);

/* The node's clients now reference registry versions from `earliest` on
 * (the consensus' oldest registry version in use; at most the latest
 * version): the versions older than that stop counting, and connections
 * to the members only they listed are closed (all of them when this node
 * was one). Errors as p2p_topology_set_earliest, nothing changed. */
int p2p_node_on_registry_earliest(struct p2p_node *n, p2p_time now,
                                  uint64_t earliest);

/* Whether an inbound connection from peer may be accepted now: both are
 * members, peer has the lower id, and peer is not banned. A backend asks
 * before completing a handshake. */
bool p2p_node_accepts_peer(const struct p2p_node *n, p2p_time now,
                           p2p_node_id peer);

/* A connection to peer is up (dialled or accepted): the node starts
 * sending it every slot. A newer connection replaces an older one. A
 * non-member or banned peer is refused: P2P_ERR_REFUSED, with a
 * P2P_ACT_CONN_CLOSE for it. */
int p2p_node_on_peer_up(struct p2p_node *n, p2p_time now, p2p_node_id peer);

/* The connection to peer is gone: its streams fail, its slot view and
 * advertisements are forgotten; if it is ours to dial, it is redialled at
 * once. P2P_ERR_NOT_FOUND when it was not up. */
int p2p_node_on_peer_down(struct p2p_node *n, p2p_time now, p2p_node_id peer);

/* A P2P_ACT_CONN_DIAL failed (timeout, refused, unreachable): the dial is
 * retried after cfg.redial_backoff. P2P_ERR_STATE when no dial was
 * pending. */
int p2p_node_on_dial_failed(struct p2p_node *n, p2p_time now, p2p_node_id peer);

/* Bytes arrived on a stream (in, core/types.h, borrowed for the call).
 * in->inbound: the peer opened it (we read a request); otherwise it is one
 * we opened (we read the response). in->fin marks the end of the peer's
 * half. Errors (the stream is then closed): P2P_ERR_OVERSIZE,
 * P2P_ERR_DECODE, P2P_ERR_TRUNCATED, P2P_ERR_NO_ROUTE, P2P_ERR_LIMIT (too
 * many streams), P2P_ERR_NOT_FOUND (unknown stream, or its peer is not
 * up). */
int p2p_node_on_stream_data(struct p2p_node *n, p2p_time now,
                            const struct p2p_stream_bytes *in);

/* The transport reset or lost a stream. */
int p2p_node_on_stream_reset(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                             uint64_t stream_id, bool inbound);

/* Fires every deadline <= now. */
int p2p_node_on_timer(struct p2p_node *n, p2p_time now);

/* The earliest time on_timer has work, or P2P_TIME_NEVER. */
p2p_time p2p_node_next_deadline(const struct p2p_node *n);

/* ---- calls from the node's clients ---- */

/* A locally made artifact enters the validated pool and is broadcast.
 * *id_out (may be NULL) receives its id. Errors: P2P_ERR_EXISTS,
 * P2P_ERR_OVERSIZE (len > P2P_ARTIFACT_BYTES_MAX), P2P_ERR_LIMIT (pool or
 * slot table full), P2P_ERR_NOMEM. */
int p2p_node_insert(struct p2p_node *n, p2p_time now,
                    enum p2p_artifact_kind kind, const uint8_t *body,
                    size_t len, struct p2p_artifact_id *id_out);

/* p2p_node_insert of a shared body (core/body.h; borrowed: the pool takes
 * its own reference, no copy). Its id is hashed only if no holder has
 * hashed it before. Errors as p2p_node_insert. */
int p2p_node_insert_body(struct p2p_node *n, p2p_time now,
                         enum p2p_artifact_kind kind, struct p2p_body *b,
                         struct p2p_artifact_id *id_out);

/* p2p_node_insert_body of an artifact at a height (the client's: in the
 * IC, the consensus height the artifact belongs to; 0: none, never purged
 * by height, which is what p2p_node_insert_body does). Errors as
 * p2p_node_insert, and P2P_ERR_STATE when 0 < height < the purge height
 * (p2p_node_purge_below). */
int p2p_node_insert_at_height(struct p2p_node *n, p2p_time now,
                              enum p2p_artifact_kind kind, struct p2p_body *b,
                              uint64_t height, struct p2p_artifact_id *id_out);

/* The client judged an unvalidated artifact: accepted ones move to the
 * validated pool and are relayed, rejected ones are dropped. This call,
 * when it succeeds, is the client taking the artifact: until then, an
 * artifact every advertiser withdraws leaves the unvalidated pool
 * (P2P_ACT_ARTIFACT_WITHDRAWN) and this call then answers
 * P2P_ERR_NOT_FOUND; one refused for P2P_ERR_LIMIT stays unvalidated, not
 * taken. Errors: P2P_ERR_NOT_FOUND,
 * P2P_ERR_STATE, P2P_ERR_LIMIT. */
int p2p_node_validate(struct p2p_node *n, p2p_time now,
                      const struct p2p_artifact_id *id, bool accept);

/* p2p_node_validate with the height the client found in the artifact;
 * 0 (what p2p_node_validate gives) keeps the height it came with
 * (Artifact.height on the wire), or none. An artifact that came without
 * one has none until then: a purge keeps it while unvalidated. One
 * accepted at 0 < height < the purge height is purged instead of
 * validated (counted in artifacts_purged): P2P_ERR_UNWANTED, it is
 * gone. */
int p2p_node_validate_at_height(struct p2p_node *n, p2p_time now,
                                const struct p2p_artifact_id *id, bool accept,
                                uint64_t height);

/* Purges an artifact from the pools; its broadcast is aborted and, after
 * cfg.slot_deletion_hold_ns, its slot's deletion is sent to the peers
 * (unless a new artifact took the slot first). P2P_ERR_NOT_FOUND when
 * absent. */
int p2p_node_remove(struct p2p_node *n, p2p_time now,
                    const struct p2p_artifact_id *id);

/* Raises the purge height to `height` (as the IC's consensus purges its
 * pools below the finalized height): every entry, validated or not, with
 * 0 < height < the purge height is removed as by p2p_node_remove (its
 * broadcast aborted, its slot's deletion sent later), counted in
 * artifacts_purged, not artifacts_removed. Entries without a height stay
 * (a peer's artifact has the height it came with, Artifact.height, if
 * any). An artifact from a peer that arrives below it is not kept
 * (artifacts_purged; no P2P_ACT_ARTIFACT_RECEIVED).
 * Later inserts and validations below it are refused. The purge height
 * only moves forward: P2P_ERR_STATE for a lower one, nothing changed; the
 * same one purges nothing new. O(pool entries). */
int p2p_node_purge_below(struct p2p_node *n, p2p_time now, uint64_t height);

/* The purge height: 0 until p2p_node_purge_below is called. */
uint64_t p2p_node_purge_height(const struct p2p_node *n);

/* Installs the client's bouncer (borrowed ctx); re-evaluates pending
 * downloads at once. */
void p2p_node_set_bouncer(struct p2p_node *n, p2p_time now, p2p_bouncer_fn fn,
                          void *ctx);

/* Installs the backend's body store (borrowed, outlives the node; NULL:
 * none, the default): fetched artifacts of at least store->bytes_min
 * bytes are written into it as they arrive and hashed on the way
 * (core/body.h), instead of buffered and copied. Streams already open
 * keep what they had. */
void p2p_node_set_body_store(struct p2p_node *n,
                             const struct p2p_body_store *store);

/* Installs the client's state store (ops and ctx borrowed; NULL ops: no
 * state sync, the default). The node advertises the store's newest state
 * and serves it, and syncs newer states advertised by enough peers. */
void p2p_node_set_state_store(struct p2p_node *n, p2p_time now,
                              const struct p2p_state_store_ops *ops, void *ctx);

/* The store's newest state changed (the client made a checkpoint): it is
 * advertised to every peer at once, and a sync to a height no newer is
 * cancelled. */
void p2p_node_state_changed(struct p2p_node *n, p2p_time now);

/* Where the node's state sync stands. */
struct p2p_state_sync_info {
    bool active;     /* a sync is under way */
    uint32_t gen;    /* changes with every sync started */
    uint64_t height; /* of the state being synced */
    struct p2p_state_hash root;
    bool have_manifest;  /* chunks are being fetched */
    p2p_time started_ns; /* node clock */
    uint32_t peers;      /* peers advertising that state, up */
};

/* Fills *info; O(1). */
void p2p_node_state_sync_info(const struct p2p_node *n,
                              struct p2p_state_sync_info *info);

/* The chunk progress of the sync under way: false when no manifest is
 * held yet. O(peers + chunks in flight). */
bool p2p_node_state_sync_progress(const struct p2p_node *n,
                                  struct p2p_chunk_progress *out);

/* ---- observation ---- */

struct p2p_outbox *p2p_node_outbox(struct p2p_node *n);
const struct p2p_pool *p2p_node_pool(const struct p2p_node *n);
/* The node's counters (core/metrics.h). Their Prometheus names, the
 * gauges, the histograms and the text exposition for /metrics are in
 * core/metrics_registry.h (p2p_node_metrics_format). */
const struct p2p_metrics *p2p_node_metrics(const struct p2p_node *n);
/* The node's whole exposition into buf[0..cap): 0 with *len its length,
 * or P2P_ERR_LIMIT with *len the size needed (retry with cap > *len to
 * get the NUL too). Allocates nothing. */
int p2p_node_metrics_format(const struct p2p_node *n, p2p_time now, char *buf,
                            size_t cap, size_t *len);

const struct p2p_config *p2p_node_config(const struct p2p_node *n);
const struct p2p_topology *p2p_node_topology(const struct p2p_node *n);
/* How many peers' slots name id, as this node last heard them (0 once
 * every advertiser reused or deleted its slot, or went down). O(1). */
uint32_t p2p_node_slot_views(const struct p2p_node *n,
                             const struct p2p_artifact_id *id);
/* P2P_ERR_INVALID_ARG for an id >= cfg.node_ids_max. */
int p2p_node_peer_info(const struct p2p_node *n, p2p_node_id peer,
                       struct p2p_peer_info *out);

/* Checks the node's invariants that cost O(1): table counts agree with
 * their indexes, pools within their bounds. 0 or P2P_ERR_INTERNAL. Cheap
 * enough to run after every event. */
int p2p_node_check_invariants(const struct p2p_node *n);

/* Also walks every slot and download: each slot broadcasts a validated
 * artifact, no download is for an artifact already held, every fetch has
 * its stream. O(slots + downloads). */
int p2p_node_check_invariants_deep(const struct p2p_node *n);

#endif
