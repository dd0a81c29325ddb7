/* The chunk scheduler: which chunk of a state to ask which peer for, for
 * one sync of one manifest (the IC's rs/p2p/state_sync_manager;
 * docs/state-sync.md).
 *
 * Pure and pulled, like the rest of core: the caller feeds what happened
 * (peers advertising the state come and go, chunks arrive, fail or are
 * already held) with the time as `now`, then drains next_request() until
 * it returns 0, issues those requests, and arms one timer at
 * next_deadline(). The scheduler keeps no chunk bytes: it verifies what
 * arrives against the manifest and says whether to keep it.
 *
 * Policy:
 * - Order: the lowest chunk index that may be asked now. Chunks that were
 *   asked before and failed always have lower indexes than chunks never
 *   asked, so retries go first.
 * - Peer: among the peers that advertise the state, are not excluded, are
 *   not backing off and are under per_peer_inflight_max, the one that
 *   failed this chunk the fewest times, then the least loaded, ties broken
 *   by the PRNG. A peer that failed a chunk attempts_per_peer_max times
 *   (at once for P2P_ERR_NOT_FOUND, "chunk unavailable", and for wrong
 *   bytes) is not asked for it again.
 * - One request per chunk at a time: there is no end-game duplication.
 * - A failure (error, timeout, wrong bytes) puts the chunk back at once,
 *   for the other peers, and makes the failing peer back off:
 *   peer_backoff's delay for its number of consecutive failures (a success
 *   resets it; failures while it already backs off do not lengthen it).
 *   This is the "busy peer is retried with backoff, not hammered" rule of
 *   docs/architecture.md, "Deviations from the IC".
 * - A peer that served bad_chunks_max chunks whose bytes did not match the
 *   manifest is excluded for the rest of the sync: its requests in flight
 *   are forgotten and it is never asked again, even if re-added.
 * - A peer removed (it stopped advertising, or its connection went) loses
 *   its requests in flight to the other peers at once; that is not counted
 *   as a failure.
 *
 * Memory: everything is allocated by p2p_chunk_scheduler_new, nothing
 * after: two bits per chunk (held, started), peers_max peers with
 * per_peer_inflight_max request slots each, and chunks_active_max records
 * of chunks started and not yet held (in flight or waiting to be asked
 * again). When every record is taken, no new chunk is started until one
 * is held. */
#ifndef P2P_CORE_CHUNK_SCHEDULER_H
#define P2P_CORE_CHUNK_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/state_manifest.h"
#include "core/types.h"

/* Hard bounds on the config fields. */
#define P2P_CHUNK_SCHED_PEERS_MAX 1024u       /* peers_max */
#define P2P_CHUNK_SCHED_PER_PEER_MAX 1024u    /* per_peer_inflight_max */
#define P2P_CHUNK_SCHED_ACTIVE_MAX (1u << 20) /* chunks_active_max */
#define P2P_CHUNK_SCHED_ATTEMPTS_MAX 255u     /* attempts_per_peer_max */
/* Peers whose failures one chunk remembers; past that the entry with the
 * fewest failures is forgotten (that peer may be asked again). */
#define P2P_CHUNK_SCHED_TRIED_MAX 8u

/* Defaults (the IC's time constants). */
#define P2P_CHUNK_SCHED_DEFAULT_PEERS 128u
#define P2P_CHUNK_SCHED_DEFAULT_PER_PEER 10u
#define P2P_CHUNK_SCHED_DEFAULT_TIMEOUT_NS (10 * P2P_NS_PER_S)

/* Every limit and timeout of a sync; the IC's values by default. */
struct p2p_chunk_scheduler_config {
    /* Distinct peers over the sync's life; add_peer of one more is
     * refused with P2P_ERR_LIMIT. Default 128. */
    uint32_t peers_max;
    /* Requests in flight per peer. Default 10 (IC). */
    uint32_t per_peer_inflight_max;
    /* Chunks started and not yet held. Default 2 * per_peer_inflight_max *
     * peers_max: every peer's slots full plus as many waiting to be asked
     * again. */
    uint32_t chunks_active_max;
    /* A request not answered within this is failed with P2P_ERR_TIMEOUT.
     * Default 10 s (IC). */
    p2p_time chunk_timeout_ns;
    /* A peer's pause after failures; default 1 s x2 up to 60 s, 10 %
     * jitter. */
    struct p2p_backoff peer_backoff;
    /* Times one peer is asked for one chunk. Default 3. */
    uint32_t attempts_per_peer_max;
    /* Bad chunks that exclude a peer. Default 3: a mismatch is proof of a
     * faulty or malicious peer, but one may come from a local decoding
     * fault; three bound the waste to three chunks. */
    uint32_t bad_chunks_max;
};

/* Fills c with the defaults above. */
void p2p_chunk_scheduler_config_default(struct p2p_chunk_scheduler_config *c);

/* A request to issue (from next_request) or one that expired (from
 * on_time). */
struct p2p_chunk_request {
    uint32_t index; /* chunk index in the manifest */
    p2p_node_id peer;
    p2p_time issued;   /* when next_request handed it out */
    p2p_time deadline; /* when it times out (moves with the peer's
                          progress: p2p_chunk_scheduler_on_progress) */
};

/* What to do with a chunk's bytes (p2p_chunk_scheduler_on_chunk_ok). */
enum p2p_chunk_verdict {
    P2P_CHUNK_ACCEPTED = 0, /* verified: store the bytes */
    P2P_CHUNK_STALE,        /* not asked of that peer now (late after a
                               timeout, the peer removed, the chunk held):
                               drop the bytes, no penalty */
    P2P_CHUNK_BAD,          /* do not match the manifest: drop them and
                               penalise the peer */
    P2P_CHUNK_BAD_EXCLUDED, /* as BAD, and the peer is now excluded: abort
                               its other requests for this sync */
};

/* Where a sync stands, for metrics and for the caller's give-up policy. */
struct p2p_chunk_progress {
    uint32_t chunks_total;
    uint32_t chunks_held;
    uint32_t chunks_inflight;
    uint32_t chunks_waiting; /* started, failed, to be asked again */
    uint32_t chunks_blocked; /* waiting, and no present peer may be asked */
    uint64_t bytes_total;
    uint64_t bytes_held;
    uint32_t peers_present; /* advertising and not excluded */
    uint32_t peers_excluded;
    /* Nothing in flight and nothing can be asked even once backoffs end:
     * the sync waits for a new peer (IC: it ends when no peers remain). */
    bool stalled;
    uint64_t requests; /* counters over the sync's life */
    uint64_t failures; /* errors and timeouts */
    uint64_t timeouts;
    uint64_t bad_chunks;
};

/* One sync of one manifest; opaque, made by p2p_chunk_scheduler_new. */
struct p2p_chunk_scheduler;

/* Creates a scheduler for manifest (borrowed; must outlive it), with no
 * peers and no chunk held. mem (borrowed) is charged under module; rng
 * (borrowed; must outlive it) breaks ties and jitters backoffs. A manifest
 * of no chunks is done at once. Errors: P2P_ERR_INVALID_ARG (a config
 * field 0 or above its P2P_CHUNK_SCHED_* bound, or chunk_timeout_ns 0),
 * P2P_ERR_NOMEM. */
int p2p_chunk_scheduler_new(const struct p2p_chunk_scheduler_config *cfg,
                            const struct p2p_state_manifest *manifest,
                            struct p2p_mem *mem, enum p2p_mem_module module,
                            struct p2p_rng *rng,
                            struct p2p_chunk_scheduler **out);

/* Cancels the sync and frees everything (NULL is allowed). Requests still
 * in flight are forgotten; list them first with
 * p2p_chunk_scheduler_inflight to abort them. */
void p2p_chunk_scheduler_del(struct p2p_chunk_scheduler *s);

/* The peer advertises the state: it may be asked from now on. A peer that
 * was removed comes back with its history (failures, bad chunks). Errors:
 * P2P_ERR_EXISTS (already present; adverts repeat, callers may ignore
 * it), P2P_ERR_MISBEHAVED (excluded for this sync), P2P_ERR_LIMIT
 * (peers_max distinct peers seen), P2P_ERR_INVALID_ARG (P2P_NODE_NONE). */
int p2p_chunk_scheduler_add_peer(struct p2p_chunk_scheduler *s, p2p_time now,
                                 p2p_node_id peer);

/* The peer no longer serves the state (it stopped advertising, or went).
 * Its requests in flight are forgotten (their answers will be STALE) and
 * their chunks go to other peers. Errors: P2P_ERR_NOT_FOUND (not
 * present). */
int p2p_chunk_scheduler_remove_peer(struct p2p_chunk_scheduler *s, p2p_time now,
                                    p2p_node_id peer);

/* The caller already holds chunk index, verified (resume after a restart,
 * or reuse from an older state through p2p_state_manifest_diff). A request
 * in flight for it is forgotten (its answer will be STALE). Errors:
 * P2P_ERR_INVALID_ARG (index out of range), P2P_ERR_EXISTS (held). */
int p2p_chunk_scheduler_mark_held(struct p2p_chunk_scheduler *s,
                                  uint32_t index);

/* True when chunk index (< chunks_count) is held. */
bool p2p_chunk_scheduler_is_held(const struct p2p_chunk_scheduler *s,
                                 uint32_t index);

/* The next request to issue now: returns 1 with *out filled (the request
 * counts as in flight from now, timing out at out->deadline), or 0 when
 * nothing may be asked now. Call it until it returns 0 after every
 * input. Never fails. */
int p2p_chunk_scheduler_next_request(struct p2p_chunk_scheduler *s,
                                     p2p_time now,
                                     struct p2p_chunk_request *out);

/* Chunk index arrived from peer with bytes[0..len) (untrusted, borrowed
 * for the call). *verdict says what to do with them; see
 * enum p2p_chunk_verdict. Errors: P2P_ERR_INVALID_ARG (index out of
 * range). */
int p2p_chunk_scheduler_on_chunk_ok(struct p2p_chunk_scheduler *s, p2p_time now,
                                    p2p_node_id peer, uint32_t index,
                                    const uint8_t *bytes, size_t len,
                                    enum p2p_chunk_verdict *verdict);

/* The request for chunk index to peer failed with err (< 0; e.g.
 * P2P_ERR_TIMEOUT, P2P_ERR_CONN_LOST, P2P_ERR_NOT_FOUND when the peer
 * says it does not have the chunk, which rules that peer out for it).
 * Errors, changing nothing: P2P_ERR_INVALID_ARG (err >= 0, index out of
 * range), P2P_ERR_NOT_FOUND (no such request in flight: late, or
 * already failed). */
int p2p_chunk_scheduler_on_chunk_failed(struct p2p_chunk_scheduler *s,
                                        p2p_time now, p2p_node_id peer,
                                        uint32_t index, int err);

/* peer answered one of its requests (a chunk, good or bad, or a refusal)
 * at now: it is making progress, so every request still in flight to it
 * gets chunk_timeout_ns from now (a deadline never moves earlier). A peer
 * serves its requests in turn, and the ones behind cannot be expected
 * before the ones ahead: a request times out when its peer has answered
 * nothing for chunk_timeout_ns, however deep the queue toward this node
 * (a thin downlink shared by many peers). Unknown peers are ignored. */
void p2p_chunk_scheduler_on_progress(struct p2p_chunk_scheduler *s,
                                     p2p_time now, p2p_node_id peer);

/* The earliest time at which on_time or next_request may have something
 * to do: a request's deadline, or the end of a peer's backoff while
 * chunks remain; P2P_TIME_NEVER when none. */
p2p_time p2p_chunk_scheduler_next_deadline(const struct p2p_chunk_scheduler *s);

/* Fails every request whose deadline <= now with P2P_ERR_TIMEOUT and ends
 * the backoffs that are over. When expired is not NULL, the timed-out
 * requests are copied to expired[0..) (for the caller to abort) and at
 * most expired_cap are handled (the rest stay due: call again). Returns
 * how many requests timed out. */
size_t p2p_chunk_scheduler_on_time(struct p2p_chunk_scheduler *s, p2p_time now,
                                   struct p2p_chunk_request *expired,
                                   size_t expired_cap);

/* Fills *out. O(chunks_active_max + peers). */
void p2p_chunk_scheduler_progress(const struct p2p_chunk_scheduler *s,
                                  struct p2p_chunk_progress *out);

/* True when every chunk is held. */
bool p2p_chunk_scheduler_done(const struct p2p_chunk_scheduler *s);

/* True exactly once: on the first call after every chunk became held.
 * The caller hands the state over to the state store then. */
bool p2p_chunk_scheduler_take_complete(struct p2p_chunk_scheduler *s);

/* Copies up to cap requests in flight to out (by peer, in the order the
 * peers were first added, then by request slot); returns how many are in
 * flight in all. */
size_t p2p_chunk_scheduler_inflight(const struct p2p_chunk_scheduler *s,
                                    struct p2p_chunk_request *out, size_t cap);

/* The deadline of the request in flight for chunk index to peer: true
 * with *deadline set, false when there is none. O(per_peer_inflight_max
 * + peers). The request was issued, or its peer last answered another
 * one (p2p_chunk_scheduler_on_progress), at deadline - chunk_timeout_ns. */
bool p2p_chunk_scheduler_request_deadline(const struct p2p_chunk_scheduler *s,
                                          p2p_node_id peer, uint32_t index,
                                          p2p_time *deadline);

/* When the request in flight for chunk index to peer was issued: true
 * with *issued set, false when there is none. O(per_peer_inflight_max +
 * peers). */
bool p2p_chunk_scheduler_request_issued(const struct p2p_chunk_scheduler *s,
                                        p2p_node_id peer, uint32_t index,
                                        p2p_time *issued);

/* Checks the internal invariants (bit counts, records, per-peer slots);
 * O(chunks / 64 + chunks_active_max + peers * per_peer). Returns 0 or
 * P2P_ERR_INTERNAL. Run at the end of every entry point in debug
 * builds. */
int p2p_chunk_scheduler_check_invariants(const struct p2p_chunk_scheduler *s);

#endif
