/* Swarm testing: one random scenario per seed (docs/swarm.md).
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
 * In SIM_SWARM_STATE_PERCENT of the seeds the scenario also has a `state`
 * section (state sync, docs/state-sync.md), some byzantine nodes may then
 * serve bad chunks, and every honest node that joined or restarted must
 * catch up with the subnet's state (`state_synced`) by a deadline that
 * covers the fault phase, the liveness bound and the transfer.
 *
 * Generation is a pure function of the seed: integer arithmetic and two
 * p2p_rng streams, so the same seed gives the same text on every machine.
 * Everything about state sync is drawn from the second stream, after the
 * rest: a seed's scenario without its state section is the one it gave
 * before state sync was generated.
 *
 * On the quic network model (`--model quic`) the scenario also says
 * `network.model: quic`, and a third stream, drawn after everything else,
 * adds what only that model has: network.packet knobs (reordering,
 * duplication, corruption at small rates) and blackhole and nat_rebind
 * faults within the fault phase. A seed's quic scenario less those is its
 * message scenario, which is what it was before the quic model existed. */
#ifndef P2P_SIM_SWARM_GEN_H
#define P2P_SIM_SWARM_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"
#include "sim/scenario.h"

#define SIM_SWARM_NODES_MIN 4u /* subnet.nodes */
#define SIM_SWARM_NODES_MAX 16u
#define SIM_SWARM_JOIN_IDS_MAX 3u /* new ids beyond subnet.nodes */
#define SIM_SWARM_DURATION_MIN_MS 10000u
#define SIM_SWARM_DURATION_MAX_MS 40000u
#define SIM_SWARM_LIVENESS_MIN_MS 2000u /* fault-free tail, at least */
#define SIM_SWARM_STEPS_MAX 8u          /* random fault steps, before closers */
#define SIM_SWARM_HONEST_LIVE_MIN 3u    /* running honest members, always */
#define SIM_SWARM_ITEMS_MAX 3u          /* workload items */
#define SIM_SWARM_LINKS_MAX 4u          /* network.links overrides */
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
/* Registry lag: in one seed in this many whose registry changes, the
 * nodes' clients lag behind it (registry_earliest faults), drawn from a
 * stream of its own. */
#define SIM_SWARM_REGISTRY_LAG_ONE_IN 3u
#define SIM_SWARM_REGISTRY_RNG_STREAM 0x72656773ULL /* "regs" */
/* State sync: a state section in this share of the seeds. */
#define SIM_SWARM_STATE_PERCENT 35u
#define SIM_SWARM_STATE_RNG_STREAM 0x73746174ULL /* "stat" */
#define SIM_SWARM_STATE_MIB_MIN 16u              /* state.size */
#define SIM_SWARM_STATE_MIB_MAX 128u
/* A full sync should take at most this long on the thinnest link. */
#define SIM_SWARM_STATE_SYNC_S_MAX 8u
#define SIM_SWARM_STATE_CHUNK_MIN (16u << 10) /* state.chunk, a power of 2 */
#define SIM_SWARM_STATE_CHUNK_MAX (1u << 20)
/* What a sync asks for at once (10 chunks per peer) must cross the
 * syncing node's downlink in this long: chunks are made smaller on thin
 * links. Beyond a few seconds, every request to and from that node waits
 * behind the chunks, fetches and chunk requests time out, and it ends up
 * banning its honest peers or banned by them (docs/swarm.md). */
#define SIM_SWARM_STATE_BURST_MS 2000u
#define SIM_SWARM_STATE_CHUNKS_PER_PEER 10u /* core's default in flight */
#define SIM_SWARM_STATE_EVERY_MS_MIN 3000u  /* state.checkpoint_every */
#define SIM_SWARM_STATE_EVERY_MS_MAX 12000u
#define SIM_SWARM_STATE_CHURN_PERMILLE_MAX 100u /* state.churn, 0..10 % */
/* One byzantine turn in this many serves bad chunks when state is on. */
#define SIM_SWARM_BAD_CHUNKS_ONE_IN 4u
/* The quic model's extras, all drawn from their own stream. */
#define SIM_SWARM_QUIC_RNG_STREAM 0x71756963ULL /* "quic" */
#define SIM_SWARM_QUIC_FAULTS_MAX 3u     /* blackhole and nat_rebind faults */
#define SIM_SWARM_BLACKHOLE_MS_MAX 5000u /* blackhole 'for', at most */
/* network.packet rates, each in half of the quic seeds, in 0.1 % steps up
 * to these many tenths of a percent. */
#define SIM_SWARM_REORDER_PERMILLE_MAX 20u   /* 2 % */
#define SIM_SWARM_DUPLICATE_PERMILLE_MAX 10u /* 1 % */
#define SIM_SWARM_CORRUPT_PERMILLE_MAX 10u   /* 1 % */
#define SIM_SWARM_REORDER_DELAY_MS_MAX 20u   /* reorder_delay, 1 ms up */

/* Writes the scenario of `seed` on network model `model` as YAML into a
 * new NUL-terminated malloc'd buffer: *text (owned by the caller, free())
 * of length *len. The scenario is named "swarm-<seed>" and carries
 * `seed: <seed>` (and `network.model: quic` on that model), so the text
 * replays on its own. Returns 0, or P2P_ERR_NOMEM (then *text is NULL). */
int sim_swarm_gen_scenario(uint64_t seed, enum sim_net_model model, char **text,
                           size_t *len);

#endif
