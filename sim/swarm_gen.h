/* Swarm testing: one random scenario per seed (DESIGN.md 5, "Swarm mode").
 *
 * A seed picks a small subnet, a link profile, a workload mix, the
 * protocol's knobs and a fault timeline using every fault kind the
 * simulator runs (partition and heal, crash and restart or a permanent
 * crash, leave and join, loss bursts, clock skew, byzantine peers), and
 * writes it as scenario YAML (docs/scenario-format.md; docs/swarm.md has
 * every range). Every fault happens before the liveness phase, the last
 * quarter of the run (at least 2 s), in which nothing interferes: every
 * partition has been healed, every crash restarted or made permanent,
 * every loss burst has ended. The expectations then ask every live honest
 * node to converge within SIM_SWARM_WITHIN_NS (the simulator drains that
 * long after the run), to stay within SIM_SWARM_MEMORY_BYTES, and, when it
 * must hold, to have penalised the byzantine nodes.
 *
 * Generation is a pure function of the seed: integer arithmetic and one
 * p2p_rng stream, so the same seed gives the same text on every machine. */
#ifndef P2P_SIM_SWARM_GEN_H
#define P2P_SIM_SWARM_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

#define SIM_SWARM_NODES_MIN 4u        /* subnet.nodes */
#define SIM_SWARM_NODES_MAX 16u
#define SIM_SWARM_JOIN_IDS_MAX 3u     /* new ids beyond subnet.nodes */
#define SIM_SWARM_DURATION_MIN_MS 10000u
#define SIM_SWARM_DURATION_MAX_MS 40000u
#define SIM_SWARM_LIVENESS_MIN_MS 2000u /* fault-free tail, at least */
#define SIM_SWARM_STEPS_MAX 8u        /* random fault steps, before closers */
#define SIM_SWARM_HONEST_LIVE_MIN 3u  /* running honest members, always */
#define SIM_SWARM_ITEMS_MAX 3u        /* workload items */
#define SIM_SWARM_LINKS_MAX 4u        /* network.links overrides */
/* Artifacts a run may make: the simulator's work grows with
 * artifacts x nodes^2 (every validator relays pushes to every peer), so the
 * budget is this divided by nodes^2, clamped to the two bounds below. */
#define SIM_SWARM_ARTIFACT_WORK 300000u
#define SIM_SWARM_ARTIFACTS_MIN 200u
#define SIM_SWARM_ARTIFACTS_MAX 2000u
#define SIM_SWARM_POOL_BYTES_MAX (48ULL << 20) /* sum of all bodies */
/* The delivery bound of the liveness phase. It must cover the IC's
 * connection constants after a heal or restart: idle timeout 5 s, dial
 * timeout 10 s, redial backoff up to 12 s (10 s + 20 %), the fetch backoff
 * 5 s, plus transfers: 40 s. */
#define SIM_SWARM_WITHIN_NS (40 * P2P_NS_PER_S)
#define SIM_SWARM_MEMORY_BYTES (256ULL << 20)
#define SIM_SWARM_RNG_STREAM 0x7377726dULL /* "swrm" */

/* Writes the scenario of `seed` as YAML into a new NUL-terminated malloc'd
 * buffer: *text (owned by the caller, free()) of length *len. The scenario
 * is named "swarm-<seed>" and carries `seed: <seed>`, so the text replays
 * on its own. Returns 0, or P2P_ERR_NOMEM (then *text is NULL). */
int sim_swarm_generate(uint64_t seed, char **text, size_t *len);

#endif
