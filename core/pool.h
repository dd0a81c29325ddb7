/* Artifact pools: unvalidated (arrived from peers) and validated (accepted by
 * the client), keyed by artifact id.
 *
 * Each section is bounded by a count and a byte limit; an insert or promote
 * past either is refused with P2P_ERR_LIMIT and changes nothing. Entries live
 * in one array with a free list, so iteration order (by index) depends only
 * on the sequence of calls. */
#ifndef P2P_CORE_POOL_H
#define P2P_CORE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/body.h"
#include "core/keymap.h"
#include "core/mem.h"
#include "core/pool_limits.h"
#include "core/types.h"

struct p2p_pool_entry {
    bool used;
    enum p2p_pool_section section;
    struct p2p_artifact_id id;
    enum p2p_artifact_kind kind;
    const uint8_t *body;     /* shared->bytes */
    size_t len;              /* shared->len */
    struct p2p_body *shared; /* one reference, charged to P2P_MEM_POOL */
    p2p_node_id from;        /* P2P_NODE_NONE when made locally */
    uint32_t next_free;      /* here: fills the padding after from */
    p2p_time inserted_ns;
    uint64_t height; /* the client's; 0: none, never purged by height */
};

struct p2p_pool {
    struct p2p_mem *mem; /* borrowed */
    struct p2p_pool_limits limits;
    struct p2p_pool_entry *entries; /* owned */
    uint32_t capacity;
    uint32_t free_head; /* UINT32_MAX when none */
    struct p2p_keymap by_id;
    size_t count[P2P_POOL_SECTIONS];
    uint64_t bytes[P2P_POOL_SECTIONS];
    /* The client's purge height (p2p_node_purge_below): what has a height
     * below it is not kept. 0 at first. */
    uint64_t purge_height;
};

/* hash_key seeds the id index (see p2p_keymap_init). */
void p2p_pool_init(struct p2p_pool *p, struct p2p_mem *mem,
                   const struct p2p_pool_limits *limits, uint64_t hash_key);
void p2p_pool_fini(struct p2p_pool *p);

/* One artifact to insert (p2p_pool_insert's options). */
struct p2p_pool_item {
    enum p2p_pool_section section;
    const struct p2p_artifact_id *id; /* borrowed for the call */
    enum p2p_artifact_kind kind;
    /* The bytes: either a shared body (borrowed; the pool takes its own
     * reference, no copy), or body[0..len) (borrowed, copied into a new
     * shared body; body NULL if len 0) when shared is NULL. */
    struct p2p_body *shared;
    const uint8_t *body;
    size_t len;
    p2p_node_id from; /* P2P_NODE_NONE when made locally */
    uint64_t height;  /* 0: none */
};

/* Inserts item's body (shared, or a copy) into item->section at now.
 * Errors, changing nothing: P2P_ERR_EXISTS (the id is in either section),
 * P2P_ERR_LIMIT (section bound), P2P_ERR_NOMEM. */
int p2p_pool_insert(struct p2p_pool *p, p2p_time now,
                    const struct p2p_pool_item *item);

/* Moves an unvalidated entry to the validated section. Errors:
 * P2P_ERR_NOT_FOUND, P2P_ERR_STATE (already validated), P2P_ERR_LIMIT. */
int p2p_pool_promote(struct p2p_pool *p, const struct p2p_artifact_id *id);

/* Removes the entry from whichever section holds it; P2P_ERR_NOT_FOUND. */
int p2p_pool_remove(struct p2p_pool *p, const struct p2p_artifact_id *id);

/* Sets the height of id's entry (0: none); P2P_ERR_NOT_FOUND. */
int p2p_pool_set_height(struct p2p_pool *p, const struct p2p_artifact_id *id,
                        uint64_t height);

/* The entry for id, or NULL. Borrowed; valid until the next change. */
const struct p2p_pool_entry *p2p_pool_get(const struct p2p_pool *p,
                                          const struct p2p_artifact_id *id);

/* Entry slot i (0 <= i < p->capacity); check ->used. */
static inline const struct p2p_pool_entry *p2p_pool_at(const struct p2p_pool *p,
                                                       uint32_t i)
{
    return &p->entries[i];
}

#endif
