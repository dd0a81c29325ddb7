#include "core/pool.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

#define NO_FREE UINT32_MAX

static size_t total_count_max(const struct p2p_pool_limits *l)
{
    return l->count_max[P2P_POOL_UNVALIDATED] +
           l->count_max[P2P_POOL_VALIDATED];
}

void p2p_pool_init(struct p2p_pool *p, struct p2p_mem *mem,
                   const struct p2p_pool_limits *limits, uint64_t hash_key)
{
    memset(p, 0, sizeof(*p));
    p->mem = mem;
    p->limits = *limits;
    p->free_head = NO_FREE;
    p2p_keymap_init(&p->by_id, mem, P2P_MEM_POOL, total_count_max(limits),
                    hash_key);
}

void p2p_pool_fini(struct p2p_pool *p)
{
    for (uint32_t i = 0; i < p->capacity; i++)
        if (p->entries[i].used)
            p2p_body_release(p->entries[i].shared, p->mem, P2P_MEM_POOL);
    p2p_mem_free(p->mem, P2P_MEM_POOL, p->entries);
    p2p_keymap_fini(&p->by_id);
    memset(p, 0, sizeof(*p));
}

static void key_of(const struct p2p_artifact_id *id, struct p2p_key *key)
{
    memcpy(key->b, id->b, P2P_KEY_BYTES);
}

static int lookup(const struct p2p_pool *p, const struct p2p_artifact_id *id,
                  uint32_t *index)
{
    struct p2p_key key;
    key_of(id, &key);
    return p2p_keymap_get(&p->by_id, &key, index) ? 0 : P2P_ERR_NOT_FOUND;
}

static bool fits(const struct p2p_pool *p, enum p2p_pool_section s, size_t len)
{
    return p->count[s] < p->limits.count_max[s] &&
           p->bytes[s] + len <= p->limits.bytes_max[s];
}

/* Takes a free entry index, growing the array when none is free. */
static int take_entry(struct p2p_pool *p, uint32_t *index)
{
    if (p->free_head != NO_FREE) {
        *index = p->free_head;
        p->free_head = p->entries[*index].next_free;
        return 0;
    }
    uint32_t capacity = p->capacity ? p->capacity * 2 : 64;
    struct p2p_pool_entry *entries = p2p_mem_realloc(
        p->mem, P2P_MEM_POOL, p->entries, capacity * sizeof(*entries));
    if (entries == NULL)
        return P2P_ERR_NOMEM;
    memset(entries + p->capacity, 0,
           (capacity - p->capacity) * sizeof(*entries));
    for (uint32_t i = capacity - 1; i > p->capacity; i--) {
        entries[i].next_free = p->free_head;
        p->free_head = i;
    }
    *index = p->capacity;
    p->entries = entries;
    p->capacity = capacity;
    return 0;
}

static void give_entry(struct p2p_pool *p, uint32_t index)
{
    memset(&p->entries[index], 0, sizeof(p->entries[index]));
    p->entries[index].next_free = p->free_head;
    p->free_head = index;
}

int p2p_pool_insert(struct p2p_pool *p, p2p_time now,
                    const struct p2p_pool_item *item)
{
    P2P_ASSERT(item->section < P2P_POOL_SECTIONS);
    P2P_ASSERT(item->id != NULL &&
               (item->shared != NULL || item->body != NULL || item->len == 0));
    size_t len = item->shared != NULL ? item->shared->len : item->len;
    if (lookup(p, item->id, NULL) == 0)
        return P2P_ERR_EXISTS;
    if (!fits(p, item->section, len))
        return P2P_ERR_LIMIT;
    struct p2p_body *copy = item->shared;
    if (copy != NULL ? !p2p_body_hold(copy, p->mem, P2P_MEM_POOL)
                     : (copy = p2p_body_copy(p->mem, P2P_MEM_POOL, item->body,
                                             len)) == NULL)
        return P2P_ERR_NOMEM;
    uint32_t index;
    int rc = take_entry(p, &index);
    if (rc != 0)
        goto fail_free_copy;
    struct p2p_key key;
    key_of(item->id, &key);
    rc = p2p_keymap_put(&p->by_id, &key, index);
    if (rc != 0)
        goto fail_give_entry;
    p->entries[index] = (struct p2p_pool_entry){
        .used = true,
        .section = item->section,
        .id = *item->id,
        .kind = item->kind,
        .body = copy->bytes,
        .len = len,
        .shared = copy,
        .from = item->from,
        .inserted_ns = now,
        .height = item->height,
    };
    p->count[item->section]++;
    p->bytes[item->section] += len;
    return 0;

fail_give_entry:
    give_entry(p, index);
fail_free_copy:
    p2p_body_release(copy, p->mem, P2P_MEM_POOL);
    return rc;
}

int p2p_pool_promote(struct p2p_pool *p, const struct p2p_artifact_id *id)
{
    uint32_t index;
    if (lookup(p, id, &index) != 0)
        return P2P_ERR_NOT_FOUND;
    struct p2p_pool_entry *e = &p->entries[index];
    if (e->section == P2P_POOL_VALIDATED)
        return P2P_ERR_STATE;
    if (!fits(p, P2P_POOL_VALIDATED, e->len))
        return P2P_ERR_LIMIT;
    p->count[P2P_POOL_UNVALIDATED]--;
    p->bytes[P2P_POOL_UNVALIDATED] -= e->len;
    p->count[P2P_POOL_VALIDATED]++;
    p->bytes[P2P_POOL_VALIDATED] += e->len;
    e->section = P2P_POOL_VALIDATED;
    return 0;
}

int p2p_pool_remove(struct p2p_pool *p, const struct p2p_artifact_id *id)
{
    uint32_t index;
    if (lookup(p, id, &index) != 0)
        return P2P_ERR_NOT_FOUND;
    struct p2p_pool_entry *e = &p->entries[index];
    P2P_ASSERT(e->used);
    p->count[e->section]--;
    p->bytes[e->section] -= e->len;
    p2p_body_release(e->shared, p->mem, P2P_MEM_POOL);
    struct p2p_key key;
    key_of(id, &key);
    int rc = p2p_keymap_del(&p->by_id, &key);
    P2P_ASSERT(rc == 0);
    give_entry(p, index);
    return 0;
}

int p2p_pool_set_height(struct p2p_pool *p, const struct p2p_artifact_id *id,
                        uint64_t height)
{
    uint32_t index;
    if (lookup(p, id, &index) != 0)
        return P2P_ERR_NOT_FOUND;
    p->entries[index].height = height;
    return 0;
}

const struct p2p_pool_entry *p2p_pool_get(const struct p2p_pool *p,
                                          const struct p2p_artifact_id *id)
{
    uint32_t index;
    if (lookup(p, id, &index) != 0)
        return NULL;
    return &p->entries[index];
}
