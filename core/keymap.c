#include "core/keymap.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

enum slot_state { SLOT_EMPTY = 0, SLOT_LIVE, SLOT_TOMB };

struct p2p_keymap_slot {
    struct p2p_key key;
    uint32_t value;
    uint32_t state;
};

#define KEYMAP_CAPACITY_MIN 16

void p2p_keymap_init(struct p2p_keymap *m, struct p2p_mem *mem,
                     enum p2p_mem_module module, size_t entries_max)
{
    memset(m, 0, sizeof(*m));
    m->mem = mem;
    m->module = module;
    m->entries_max = entries_max;
}

void p2p_keymap_fini(struct p2p_keymap *m)
{
    p2p_mem_free(m->mem, m->module, m->slots);
    m->slots = NULL;
    m->capacity = m->count = m->used = 0;
}

static uint64_t hash_key(const struct p2p_key *key)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < P2P_KEY_BYTES; i += 8) {
        uint64_t w;
        memcpy(&w, key->b + i, 8);
        h ^= w;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
    }
    return h;
}

/* Index of key's live slot, or of the slot an insert should use. */
static size_t probe(const struct p2p_keymap *m, const struct p2p_key *key,
                    bool *found)
{
    size_t mask = m->capacity - 1;
    size_t i = hash_key(key) & mask;
    size_t first_tomb = SIZE_MAX;
    for (;;) {
        const struct p2p_keymap_slot *s = &m->slots[i];
        if (s->state == SLOT_EMPTY) {
            *found = false;
            return first_tomb != SIZE_MAX ? first_tomb : i;
        }
        if (s->state == SLOT_TOMB) {
            if (first_tomb == SIZE_MAX)
                first_tomb = i;
        } else if (memcmp(s->key.b, key->b, P2P_KEY_BYTES) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

bool p2p_keymap_get(const struct p2p_keymap *m, const struct p2p_key *key,
                    uint32_t *value)
{
    if (m->count == 0)
        return false;
    bool found;
    size_t i = probe(m, key, &found);
    if (found && value != NULL)
        *value = m->slots[i].value;
    return found;
}

static int rehash(struct p2p_keymap *m, size_t capacity)
{
    struct p2p_keymap_slot *slots = p2p_mem_alloc(
        m->mem, m->module, capacity * sizeof(struct p2p_keymap_slot));
    if (slots == NULL)
        return P2P_ERR_NOMEM;
    struct p2p_keymap_slot *old = m->slots;
    size_t old_capacity = m->capacity;
    m->slots = slots;
    m->capacity = capacity;
    m->used = m->count;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].state != SLOT_LIVE)
            continue;
        bool found;
        size_t j = probe(m, &old[i].key, &found);
        m->slots[j] = old[i];
    }
    p2p_mem_free(m->mem, m->module, old);
    return 0;
}

int p2p_keymap_put(struct p2p_keymap *m, const struct p2p_key *key,
                   uint32_t value)
{
    if (p2p_keymap_get(m, key, NULL))
        return P2P_ERR_EXISTS;
    if (m->count >= m->entries_max)
        return P2P_ERR_LIMIT;
    /* Keep the load (tombstones included) under one half. */
    if ((m->used + 1) * 2 > m->capacity) {
        size_t capacity = m->capacity ? m->capacity : KEYMAP_CAPACITY_MIN;
        while ((m->count + 1) * 2 > capacity)
            capacity *= 2;
        if ((m->count + 1) * 4 > capacity)
            capacity *= 2;
        int rc = rehash(m, capacity);
        if (rc != 0)
            return rc;
    }
    bool found;
    size_t i = probe(m, key, &found);
    P2P_ASSERT(!found);
    if (m->slots[i].state == SLOT_EMPTY)
        m->used++;
    m->slots[i].key = *key;
    m->slots[i].value = value;
    m->slots[i].state = SLOT_LIVE;
    m->count++;
    return 0;
}

int p2p_keymap_del(struct p2p_keymap *m, const struct p2p_key *key)
{
    if (m->count == 0)
        return P2P_ERR_NOT_FOUND;
    bool found;
    size_t i = probe(m, key, &found);
    if (!found)
        return P2P_ERR_NOT_FOUND;
    m->slots[i].state = SLOT_TOMB;
    m->count--;
    return 0;
}
