/* Internal: the judge of slow chunk requests (docs/state-sync.md, "Slow
 * peers"), a leaf of the state sync manager.
 *
 * The IC waits out a chunk request's 10 s timeout. A peer that advertises
 * a state and never answers (or answers at a trickle) then holds its 10
 * requests for 10 s, and the sync's tail waits for them: a 1 GiB sync that
 * needs 8.6 s at line rate takes 10.2 s. Here the sync keeps the latency
 * (issue to arrival) of its last P2P_STATE_LAT_SAMPLES chunks, and a
 * request that has waited longer than SLOW_FACTOR x their median (and at
 * least SLOW_MIN_NS) is failed early as a timeout: the chunk goes to
 * another peer at once and the slow peer backs off. A request waits from
 * its issue or from its peer's last answer, whichever is later (the
 * scheduler's deadline less its timeout): a peer serves its requests in
 * turn, so one behind others that keep arriving is not slow, however deep
 * the queue toward this node. Every peer of a sync shares the node's
 * downlink, so an honest peer's chunks take about the median; only a peer
 * far slower than the rest is cut short. No failure for time is
 * penalised (a slow peer may be honest and busy). Cross-file internal
 * names carry p2p__state_sync_slow_. */
#ifndef P2P_CORE_STATE_SYNC_SLOW_H
#define P2P_CORE_STATE_SYNC_SLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/types.h"

/* Chunk latencies kept to judge what is slow. */
#define P2P_STATE_LAT_SAMPLES 32u
/* How often the requests in flight are judged. */
#define P2P_STATE_SLOW_CHECK_EVERY_NS (250 * P2P_NS_PER_MS)

/* The latencies of the last chunks received (a ring). */
struct p2p_state_slow {
    p2p_time lat[P2P_STATE_LAT_SAMPLES];
    uint32_t lat_count, lat_next;
};

/* Forgets every sample (a new chunk phase). */
void p2p__state_sync_slow_reset(struct p2p_state_slow *w);
/* A chunk arrived latency_ns after its request was issued. */
void p2p__state_sync_slow_sample(struct p2p_state_slow *w, p2p_time latency_ns);
/* How long a request may wait before it is slow: false while too few
 * chunks have been sampled to judge. */
bool p2p__state_sync_slow_limit(const struct p2p_state_slow *w,
                                p2p_time *limit_ns);

#endif
