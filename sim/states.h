/* The simulator's synthetic replicated state (docs/state-sync.md; the
 * scenario's `state:` section, struct sim_state_cfg); each node's store
 * over it is sim/state_store.h.
 *
 * The state at height h >= 1 is chunks_count = ceil(size / chunk) chunks,
 * the last one possibly shorter. Height 1 is the genesis state. From
 * height h - 1 to h, chunk i changes with probability churn_ppm / 1e6,
 * decided by a hash of (seed, h, i): no PRNG stream, so the answer does
 * not depend on who asked first. Chunk i's bytes are a function of
 * (seed, i, version), version being the last height at which it changed
 * (1 at genesis): i, version and seed (24 bytes), then pseudo-random
 * bytes (xorshift64 from a hash of the three: zstd cannot shrink them),
 * then zeros for the last compressible_ppm / 10^6 of the chunk, the
 * header aside (zstd shrinks them to almost nothing, like an idle
 * canister's zero pages). Chunks
 * of at least 16 bytes with distinct (i, version) have distinct bytes.
 *
 * Every honest node's state at a height is the same, so struct sim_states
 * (one per world) builds each height's manifest once and shares it. It is
 * deterministic, single threaded, and allocates only through the p2p_mem
 * it is given, charged to P2P_MEM_OTHER. */
#ifndef P2P_SIM_STATES_H
#define P2P_SIM_STATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/state_manifest.h"

/* Heights whose manifests stay cached: the newest built and the 15 below. */
#define SIM_STATE_HEIGHTS_KEPT 16u
/* churn_ppm of 100 %: every chunk changes at every height. */
#define SIM_STATE_CHURN_PPM_MAX 1000000u

/* One cached height; its buffers are allocated on first use and reused by
 * every later height that lands in the same slot (height % KEPT). */
struct sim_states_slot {
    uint64_t height;                    /* 0 = never built */
    struct p2p_state_manifest manifest; /* owns its chunk table */
    struct p2p_state_hash root;
    uint64_t *versions; /* owned; chunks_count entries: the height at which
                           each chunk last changed */
};

/* The world's states. Caller storage; _init/_fini. Memory: the scratch
 * buffer (chunk_len_max bytes) plus, per slot used, chunks_count x 44
 * bytes (36 of manifest entry, 8 of version); at most
 * SIM_STATE_HEIGHTS_KEPT slots. */
struct sim_states {
    struct p2p_mem *mem; /* borrowed; outlives this */
    uint64_t seed;
    uint64_t size_bytes;       /* > 0 */
    uint32_t chunk_bytes;      /* the manifests' chunk_bytes */
    uint32_t chunk_len_max;    /* min(chunk_bytes, size_bytes): largest chunk */
    uint32_t churn_ppm;        /* 0..SIM_STATE_CHURN_PPM_MAX */
    uint32_t compressible_ppm; /* 0..SIM_STATE_CHURN_PPM_MAX: zero share */
    uint32_t chunks_count;     /* 1..P2P_STATE_CHUNKS_MAX */
    uint64_t newest;           /* newest height built; 0 = none yet */
    uint8_t *scratch;          /* owned; chunk_len_max bytes, for hashing */
    uint64_t bytes_hashed;     /* counter: chunk bytes hashed by builds */
    struct sim_states_slot slots[SIM_STATE_HEIGHTS_KEPT];
};

/* What the states are made of. */
struct sim_states_cfg {
    uint64_t seed;
    uint64_t size_bytes;       /* the state's size, > 0 */
    uint32_t chunk_bytes;      /* > 0, at most P2P_STATE_CHUNK_BYTES_MAX */
    uint32_t churn_ppm;        /* chunks changed per height, 0..CHURN_PPM_MAX */
    uint32_t compressible_ppm; /* each chunk's zero share, 0..CHURN_PPM_MAX */
};

/* Prepares the states cfg (borrowed for the call) describes; builds
 * nothing yet. Allocates the scratch buffer from mem, which the caller
 * owns and keeps until sim_states_fini. Errors, leaving nothing
 * allocated: P2P_ERR_INVALID_ARG (size_bytes or chunk_bytes 0, churn_ppm
 * or compressible_ppm above SIM_STATE_CHURN_PPM_MAX), P2P_ERR_OVERSIZE (chunk_bytes above
 * P2P_STATE_CHUNK_BYTES_MAX, or more than P2P_STATE_CHUNKS_MAX chunks),
 * P2P_ERR_NOMEM. */
int sim_states_init(struct sim_states *s, struct p2p_mem *mem,
                    const struct sim_states_cfg *cfg);

/* Frees every manifest, version array and the scratch buffer. Manifests
 * handed out by sim_states_get become invalid. */
void sim_states_fini(struct sim_states *s);

/* The manifest (*m, borrowed: valid while `height` stays in the window)
 * and root (*root) of height >= 1. A height above the newest built makes
 * it the newest: the heights in between are derived in increasing order,
 * each from the one below, re-hashing only the chunks that changed (so a
 * 1 GiB state with 5 % churn hashes about 51 MiB per height, the whole
 * state only for the first height built). Heights that would fall out of
 * the window at once are not hashed, only their versions are walked:
 * O(chunks) cheap hashes per skipped height. The window is the
 * SIM_STATE_HEIGHTS_KEPT heights up to the newest. Errors, nothing
 * changed: P2P_ERR_INVALID_ARG (height 0), P2P_ERR_NOT_FOUND (height
 * below the window: dropped), P2P_ERR_NOMEM (a slot's first use). */
int sim_states_get(struct sim_states *s, uint64_t height,
                   const struct p2p_state_manifest **m,
                   struct p2p_state_hash *root);

/* Writes chunk `index` of the state at `height` to buf[0..cap) and its
 * size to *len. Builds nothing: the height must be in the window (built
 * by sim_states_get). Errors, buf untouched: P2P_ERR_NOT_FOUND (height
 * not in the window), P2P_ERR_INVALID_ARG (index >= chunks_count, or cap
 * below the chunk's size). */
int sim_states_chunk(const struct sim_states *s, uint64_t height,
                     uint32_t index, uint8_t *buf, size_t cap, size_t *len);

/* The seed of a node store's hash table over these states (derived from
 * the states' seed, so every run lays it out alike). */
uint64_t sim_states_key_seed(const struct sim_states *s);

#endif
