/* Internal: the generic containers of core's modules. A p2p_table is a
 * growable array of fixed-size records with a free list threaded through
 * each record's next_free field and a generation per record, bounded by
 * max; p2p__table_array_fit grows a plain zeroed array (a module's
 * per-peer records). Cross-file internal names carry p2p__table_. */
#ifndef P2P_CORE_TABLE_H
#define P2P_CORE_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/keymap.h"
#include "core/mem.h"
#include "core/types.h"

/* No record: a free list's end, a stream not open. */
#define P2P_INDEX_NONE UINT32_MAX

struct p2p_table {
    void *items; /* owned */
    uint32_t capacity, count, max, free_head;
    size_t item_bytes;
    size_t next_free_offset; /* of each record's uint32 free-list link */
    size_t gen_offset;       /* of each record's uint32 generation */
    enum p2p_mem_module module;
};

/* An empty table of records of item_bytes, at most max of them. */
void p2p__table_init(struct p2p_table *t, size_t item_bytes,
                     size_t next_free_offset, size_t gen_offset, uint32_t max,
                     enum p2p_mem_module module);
/* Frees the records (not what they point to: the owner frees that). */
void p2p__table_fini(struct p2p_table *t, struct p2p_mem *mem);
/* Takes a zeroed record whose generation is one more than its previous
 * use's, so timers and streams naming the old use are recognised as stale.
 * Errors: P2P_ERR_LIMIT, P2P_ERR_NOMEM. */
int p2p__table_take(struct p2p_table *t, struct p2p_mem *mem, uint32_t *index);
/* Returns a record to the free list (LIFO: it is the next one taken). */
void p2p__table_give(struct p2p_table *t, uint32_t index);
/* Record index (< capacity), used or free. */
static inline void *p2p__table_at(const struct p2p_table *t, uint32_t index)
{
    return (char *)t->items + (size_t)index * t->item_bytes;
}

/* Grows a zeroed array (*items, *capacity records of item_bytes) by
 * doubling until index fits, never past max records (index < max). New
 * records are zeroed. Errors: P2P_ERR_NOMEM (the array is unchanged). */
int p2p__table_array_fit(struct p2p_mem *mem, enum p2p_mem_module module,
                         void **items, uint32_t *capacity, size_t item_bytes,
                         uint32_t index, uint32_t max);

/* An artifact id as a hash map key. */
static inline void p2p__table_id_key(const struct p2p_artifact_id *id,
                                     struct p2p_key *key)
{
    memcpy(key->b, id->b, P2P_KEY_BYTES);
}

#endif
