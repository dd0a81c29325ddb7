/* Artifact ids stored once each with a reference count (core/id_table.h). */
#include "core/id_table.h"

#include <stddef.h>

#include "core/assert.h"
#include "core/config.h"
#include "core/err.h"

static struct p2p_id_entry *entry_at(const struct p2p_id_table *t,
                                     uint32_t handle)
{
    return p2p__table_at(&t->ents, handle);
}

void p2p__id_table_init(struct p2p_id_table *t, struct p2p_mem *mem,
                        enum p2p_mem_module module, uint32_t ids_max,
                        uint64_t key_seed)
{
    P2P_ASSERT(ids_max > 0 && ids_max <= P2P_CONFIG_TABLE_MAX);
    memset(t, 0, sizeof(*t));
    t->mem = mem;
    p2p__table_init(&t->ents, sizeof(struct p2p_id_entry),
                    offsetof(struct p2p_id_entry, next_free),
                    offsetof(struct p2p_id_entry, gen), ids_max, module);
    p2p_keymap_init(&t->by_id, mem, module, ids_max, key_seed);
}

void p2p__id_table_fini(struct p2p_id_table *t)
{
    p2p_keymap_fini(&t->by_id);
    p2p__table_fini(&t->ents, t->mem);
}

bool p2p__id_table_find(const struct p2p_id_table *t,
                        const struct p2p_artifact_id *id, uint32_t *handle)
{
    struct p2p_key key;
    p2p__table_id_key(id, &key);
    return p2p_keymap_get(&t->by_id, &key, handle);
}

void p2p__id_table_hold(struct p2p_id_table *t, uint32_t handle)
{
    P2P_ASSERT(handle < t->ents.capacity);
    struct p2p_id_entry *e = entry_at(t, handle);
    P2P_ASSERT(e->refs > 0 && e->refs < UINT32_MAX);
    e->refs++;
}

int p2p__id_table_insert(struct p2p_id_table *t,
                         const struct p2p_artifact_id *id, uint32_t *handle)
{
    struct p2p_key key;
    p2p__table_id_key(id, &key);
    int rc = p2p__table_take(&t->ents, t->mem, handle);
    if (rc != 0)
        return rc;
    rc = p2p_keymap_put(&t->by_id, &key, *handle);
    if (rc != 0) {
        p2p__table_give(&t->ents, *handle);
        return rc;
    }
    struct p2p_id_entry *e = entry_at(t, *handle);
    e->id = *id;
    e->refs = 1;
    return 0;
}

int p2p__id_table_intern(struct p2p_id_table *t,
                         const struct p2p_artifact_id *id, uint32_t *handle)
{
    if (!p2p__id_table_find(t, id, handle))
        return p2p__id_table_insert(t, id, handle);
    p2p__id_table_hold(t, *handle);
    return 0;
}

void p2p__id_table_release(struct p2p_id_table *t, uint32_t handle)
{
    P2P_ASSERT(handle < t->ents.capacity);
    struct p2p_id_entry *e = entry_at(t, handle);
    P2P_ASSERT(e->refs > 0);
    if (--e->refs > 0)
        return;
    struct p2p_key key;
    p2p__table_id_key(&e->id, &key);
    int rc = p2p_keymap_del(&t->by_id, &key);
    P2P_ASSERT(rc == 0);
    (void)rc;
    p2p__table_give(&t->ents, handle);
    /* Nothing named any more (the peers went down, or deleted their
     * slots): the table holds no memory until the next id. */
    if (t->ents.count == 0)
        p2p__id_table_fini(t);
}

const struct p2p_artifact_id *p2p__id_table_id(const struct p2p_id_table *t,
                                               uint32_t handle)
{
    P2P_ASSERT(handle < t->ents.capacity);
    const struct p2p_id_entry *e = entry_at(t, handle);
    P2P_ASSERT(e->refs > 0);
    return &e->id;
}

uint32_t p2p__id_table_refs(const struct p2p_id_table *t, uint32_t handle)
{
    return handle < t->ents.capacity ? entry_at(t, handle)->refs : 0;
}

uint32_t p2p__id_table_capacity(const struct p2p_id_table *t)
{
    return t->ents.capacity;
}

uint32_t p2p__id_table_count(const struct p2p_id_table *t)
{
    return t->ents.count;
}

int p2p__id_table_check(const struct p2p_id_table *t)
{
    uint32_t live = 0;
    for (uint32_t h = 0; h < t->ents.capacity; h++) {
        const struct p2p_id_entry *e = entry_at(t, h);
        if (e->refs == 0)
            continue;
        live++;
        struct p2p_key key;
        uint32_t found;
        p2p__table_id_key(&e->id, &key);
        if (!p2p_keymap_get(&t->by_id, &key, &found) || found != h)
            return P2P_ERR_INTERNAL;
    }
    if (live != t->ents.count || t->by_id.count != live)
        return P2P_ERR_INTERNAL;
    return 0;
}
