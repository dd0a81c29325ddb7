/* Each node's state store over the simulator's synthetic states
 * (sim/states.h): which of those states the node holds, the chunks of a
 * sync in progress; it implements core's p2p_state_store_ops.
 * Deterministic, single threaded, allocating only through the p2p_mem it
 * is given, charged to P2P_MEM_OTHER. */
#ifndef P2P_SIM_STATE_STORE_H
#define P2P_SIM_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keymap.h"
#include "core/mem.h"
#include "core/state_store.h"
#include "sim/states.h"

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
