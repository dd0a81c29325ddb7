/* The simulator's synthetic replicated state and each node's state store
 * (docs/state-sync.md; the scenario's `state:` section, struct
 * sim_state_cfg).
 *
 * The state at height h >= 1 is chunks_count = ceil(size / chunk) chunks,
 * the last one possibly shorter. Height 1 is the genesis state. From
 * height h - 1 to h, chunk i changes with probability churn_ppm / 1e6,
 * decided by a hash of (seed, h, i): no PRNG stream, so the answer does
 * not depend on who asked first. Chunk i's bytes are a function of
 * (seed, i, version), version being the last height at which it changed
 * (1 at genesis): a 64-byte block holding i, version, seed and hashed
 * words, repeated to the chunk's length (cheap to make at -O0). Chunks
 * of at least 16 bytes with distinct (i, version) have distinct bytes.
 *
 * Every honest node's state at a height is the same, so struct sim_states
 * (one per world) builds each height's manifest once and shares it.
 * struct sim_state_store (one per node, its "disk") says which of those
 * states the node holds and keeps the chunks of a sync in progress; it
 * implements core's p2p_state_store_ops. Both are deterministic, single
 * threaded, and allocate only through the p2p_mem they are given, charged
 * to P2P_MEM_OTHER. */
#ifndef P2P_SIM_STATE_STORE_H
#define P2P_SIM_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keymap.h"
#include "core/mem.h"
#include "core/state_manifest.h"
#include "core/state_store.h"

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
    struct p2p_mem *mem;    /* borrowed; outlives this */
    uint64_t seed;
    uint64_t size_bytes;    /* > 0 */
    uint32_t chunk_bytes;   /* the manifests' chunk_bytes */
    uint32_t chunk_len_max; /* min(chunk_bytes, size_bytes): largest chunk */
    uint32_t churn_ppm;     /* 0..SIM_STATE_CHURN_PPM_MAX */
    uint32_t chunks_count;  /* 1..P2P_STATE_CHUNKS_MAX */
    uint64_t newest;        /* newest height built; 0 = none yet */
    uint8_t *scratch;       /* owned; chunk_len_max bytes, for hashing */
    uint64_t bytes_hashed;  /* counter: chunk bytes hashed by builds */
    struct sim_states_slot slots[SIM_STATE_HEIGHTS_KEPT];
};

/* Prepares the states of (seed, size_bytes, chunk_bytes, churn_ppm);
 * builds nothing yet. Allocates the scratch buffer from mem, which the
 * caller owns and keeps until sim_states_fini. Errors, leaving nothing
 * allocated: P2P_ERR_INVALID_ARG (size_bytes or chunk_bytes 0, churn_ppm
 * above SIM_STATE_CHURN_PPM_MAX), P2P_ERR_OVERSIZE (chunk_bytes above
 * P2P_STATE_CHUNK_BYTES_MAX, or more than P2P_STATE_CHUNKS_MAX chunks),
 * P2P_ERR_NOMEM. */
int sim_states_init(struct sim_states *s, struct p2p_mem *mem, uint64_t seed,
                    uint64_t size_bytes, uint32_t chunk_bytes,
                    uint32_t churn_ppm);

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

/* One entry of a store's partial set, in the order put. */
struct sim_state_partial {
    struct p2p_state_hash hash;
    uint32_t size;
    uint32_t index; /* its index in the manifest it was put for */
};

/* One node's store: its "disk". It survives the node's crash (the
 * simulator keeps it in struct sim_node, outside the core). Caller
 * storage; _init/_fini. ctx of sim_state_store_ops. */
struct sim_state_store {
    struct sim_states *states; /* borrowed; outlives this */
    struct p2p_mem *mem;       /* borrowed; outlives this */
    uint64_t held_height;      /* newest complete state, 0 = none */
    uint64_t held_from;        /* the oldest checkpoint of the run of
                                  heights it executed through up to
                                  held_height: it serves those */
    /* The chunks of states being synced, persisted: the (size, hash) of
     * every chunk put and not yet part of a complete state. At most
     * states->chunks_count entries (see put_chunk for what happens when
     * it is full). partial_by_hash maps a hash to its size. */
    struct p2p_keymap partial_by_hash;  /* owned */
    struct sim_state_partial *partials; /* owned; partials_count entries */
    uint32_t partials_count, partials_cap;
    bool corrupt;     /* byzantine 'bad-chunks': served chunks are wrong */
    uint8_t *scratch; /* owned; states->chunk_len_max: the served chunk */
    /* Counters. */
    uint64_t chunks_put, bytes_put; /* new chunks added to the partial set */
    uint64_t partials_evicted;      /* dropped to make room (put_chunk) */
    uint64_t chunks_served;         /* chunk() answers with bytes */
    uint64_t completes;             /* complete() that took the state */
    uint64_t complete_errors;       /* complete() with an unknown root */
    uint64_t last_complete_height;  /* 0 = none yet */
};

/* An empty store (nothing held, no partial chunks) over the world's
 * states, allocating from mem (caller-owned, kept until _fini). Errors:
 * P2P_ERR_NOMEM (nothing left allocated). */
int sim_state_store_init(struct sim_state_store *st, struct sim_states *states,
                         struct p2p_mem *mem);

/* Frees the partial set and the scratch buffer. */
void sim_state_store_fini(struct sim_state_store *st);

/* The node executed up to a checkpoint: held_height = height (0 = none).
 * Only sets it; the caller decides who may advance, and the partial set
 * is kept. */
void sim_state_store_set_height(struct sim_state_store *st, uint64_t height);

/* Core's callbacks (core/state_store.h); ctx is a struct sim_state_store *.
 * - latest: the manifest and root of held_height (from sim_states_get);
 *   NULL when held_height is 0 or fell out of the window.
 * - manifest: a checkpoint in [held_from, held_height] still in the
 *   window, with exactly that root; NULL otherwise. Never builds.
 * - chunk: only for such a checkpoint, with exactly that height and root;
 *   the bytes live in st->scratch. When `corrupt`, one byte is flipped
 *   (same length, wrong hash). P2P_ERR_NOT_FOUND otherwise.
 * - has_chunk: m's chunk i (size and hash) is in the partial set, or the
 *   held state's chunk i has the same size and hash (a restarted or
 *   lagging node reuses its unchanged chunks).
 * - put_chunk: adds m's chunk i (size, hash) to the partial set; the
 *   bytes are not kept (they are the synthetic ones: core checked them)
 *   and a chunk already there is a success. When the set is full, the
 *   entries that are not m's chunk at the index they were put for are
 *   dropped first (the leftovers of an earlier sync target that moved
 *   on). Errors, nothing changed: P2P_ERR_INVALID_ARG (index or length
 *   not m's), P2P_ERR_EXISTS (that hash with another size: a SHA-256
 *   collision), P2P_ERR_LIMIT (full of m's own chunks: m has more chunks
 *   than the states), P2P_ERR_NOMEM.
 * - complete: when root is sim_states' root of m->height (a height in
 *   the window; nothing is built, so a liar's height costs nothing), that
 *   becomes held_height, the partial set is emptied, completes and
 *   last_complete_height are updated. Otherwise complete_errors counts it
 *   and nothing else changes. */
extern const struct p2p_state_store_ops sim_state_store_ops;

#endif
