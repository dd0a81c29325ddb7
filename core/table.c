/* The generic containers of core's modules (core/table.h). */
#include "core/table.h"

#include "core/assert.h"
#include "core/config.h"
#include "core/err.h"

void p2p__table_init(struct p2p_table *t, size_t item_bytes,
                     size_t next_free_offset, size_t gen_offset, uint32_t max,
                     enum p2p_mem_module module)
{
    memset(t, 0, sizeof(*t));
    t->item_bytes = item_bytes;
    t->next_free_offset = next_free_offset;
    t->gen_offset = gen_offset;
    t->max = max;
    t->module = module;
    t->free_head = P2P_INDEX_NONE;
}

void p2p__table_fini(struct p2p_table *t, struct p2p_mem *mem)
{
    p2p_mem_free(mem, t->module, t->items);
    t->items = NULL;
    t->capacity = t->count = 0;
    t->free_head = P2P_INDEX_NONE;
}

static uint32_t *next_free_of(struct p2p_table *t, uint32_t index)
{
    return (uint32_t *)((char *)p2p__table_at(t, index) + t->next_free_offset);
}

int p2p__table_take(struct p2p_table *t, struct p2p_mem *mem, uint32_t *index)
{
    if (t->count >= t->max)
        return P2P_ERR_LIMIT;
    if (t->free_head == P2P_INDEX_NONE) {
        uint32_t capacity = t->capacity ? t->capacity * 2 : 16;
        if (capacity > t->max)
            capacity = t->max;
        void *items = p2p_mem_realloc(mem, t->module, t->items,
                                      (size_t)capacity * t->item_bytes);
        if (items == NULL)
            return P2P_ERR_NOMEM;
        t->items = items;
        /* Thread new records onto the free list, lowest index first. */
        for (uint32_t i = capacity; i-- > t->capacity;) {
            memset(p2p__table_at(t, i), 0, t->item_bytes);
            *next_free_of(t, i) = t->free_head;
            t->free_head = i;
        }
        t->capacity = capacity;
    }
    *index = t->free_head;
    t->free_head = *next_free_of(t, *index);
    char *record = p2p__table_at(t, *index);
    uint32_t gen;
    memcpy(&gen, record + t->gen_offset, sizeof(gen));
    memset(record, 0, t->item_bytes);
    gen++;
    memcpy(record + t->gen_offset, &gen, sizeof(gen));
    t->count++;
    return 0;
}

void p2p__table_give(struct p2p_table *t, uint32_t index)
{
    P2P_ASSERT(t->count > 0 && index < t->capacity);
    *next_free_of(t, index) = t->free_head;
    t->free_head = index;
    t->count--;
}

int p2p__table_array_fit(struct p2p_mem *mem, enum p2p_mem_module module,
                         void **items, uint32_t *capacity, size_t item_bytes,
                         uint32_t index, uint32_t max)
{
    P2P_ASSERT(index < max && max <= P2P_CONFIG_TABLE_MAX);
    if (index < *capacity)
        return 0;
    uint32_t grown = *capacity ? *capacity : 16;
    while (grown <= index)
        grown *= 2;
    if (grown > max)
        grown = max;
    char *p = p2p_mem_realloc(mem, module, *items, (size_t)grown * item_bytes);
    if (p == NULL)
        return P2P_ERR_NOMEM;
    memset(p + (size_t)*capacity * item_bytes, 0,
           (size_t)(grown - *capacity) * item_bytes);
    *items = p;
    *capacity = grown;
    return 0;
}
