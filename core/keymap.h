/* An open-addressing hash map from 32-byte keys to 32-bit values.
 *
 * Used for artifact ids and stream keys. Never iterated: callers keep their
 * own arrays in a deterministic order and use the map only for lookup, so
 * hash layout can never leak into behaviour. Bounded by entries_max. */
#ifndef P2P_CORE_KEYMAP_H
#define P2P_CORE_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

#define P2P_KEY_BYTES 32

struct p2p_key {
    uint8_t b[P2P_KEY_BYTES];
};

struct p2p_keymap_slot;

struct p2p_keymap {
    struct p2p_mem *mem; /* borrowed */
    enum p2p_mem_module module;
    struct p2p_keymap_slot *slots; /* owned; capacity is a power of two */
    size_t capacity;
    size_t count; /* live entries */
    size_t entries_max;
    uint64_t hash_key; /* secret per map: peers choose the keys,
                                     so they must not predict collisions */
};

/* Prepares an empty map that holds at most entries_max entries. hash_key
 * seeds the hash (draw it from the node's PRNG): lookups never depend on
 * it, only their cost does. */
void p2p_keymap_init(struct p2p_keymap *m, struct p2p_mem *mem,
                     enum p2p_mem_module module, size_t entries_max,
                     uint64_t hash_key);

/* Frees the table. */
void p2p_keymap_fini(struct p2p_keymap *m);

/* Looks key up; true and *value set when present. */
bool p2p_keymap_get(const struct p2p_keymap *m, const struct p2p_key *key,
                    uint32_t *value);

/* Inserts a new key. Errors: P2P_ERR_EXISTS (key present, map unchanged),
 * P2P_ERR_LIMIT (entries_max reached), P2P_ERR_NOMEM. */
int p2p_keymap_put(struct p2p_keymap *m, const struct p2p_key *key,
                   uint32_t value);

/* Removes key; P2P_ERR_NOT_FOUND when absent. */
int p2p_keymap_del(struct p2p_keymap *m, const struct p2p_key *key);

#endif
