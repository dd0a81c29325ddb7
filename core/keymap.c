#include "core/keymap.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

/* Linear probing without tombstones: deletion shifts the following run
 * back (so misses stop at the first empty slot however much churn there
 * was). Each slot keeps a tag derived from its hash: 0 marks an empty slot,
 * and tags are compared before keys. */
struct p2p_keymap_slot {
    struct p2p_key key;
    uint32_t value;
    uint32_t tag; /* (hash << 1) | 1 when live; 0 when empty */
};

#define KEYMAP_CAPACITY_MIN 16

void p2p_keymap_init(struct p2p_keymap *m, struct p2p_mem *mem,
                     enum p2p_mem_module module, size_t entries_max,
                     uint64_t hash_key)
{
    memset(m, 0, sizeof(*m));
    m->hash_key = hash_key;
    m->mem = mem;
    m->module = module;
    m->entries_max = entries_max;
}

void p2p_keymap_fini(struct p2p_keymap *m)
{
    p2p_mem_free(m->mem, m->module, m->slots);
    m->slots = NULL;
    m->capacity = m->count = 0;
}

/* A keyed mix of the key's words. Without hash_key, equal-hash keys are
 * easy to compute; with it they need the key. Not a cryptographic PRF: a
 * future change may switch to SipHash (nettle 3.8 has none). */
static uint32_t tag_of(const struct p2p_keymap *m, const struct p2p_key *key)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ m->hash_key;
    for (size_t i = 0; i < P2P_KEY_BYTES; i += 8) {
        uint64_t w;
        memcpy(&w, key->b + i, 8);
        h ^= w;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
    }
    return ((uint32_t)h << 1) | 1u;
}

static size_t home_of(const struct p2p_keymap *m, uint32_t tag)
{
    return (tag >> 1) & (m->capacity - 1);
}

/* Index of key's slot, or of the empty slot where it would go. */
static size_t probe(const struct p2p_keymap *m, const struct p2p_key *key,
                    uint32_t tag, bool *found)
{
    size_t mask = m->capacity - 1;
    for (size_t i = home_of(m, tag);; i = (i + 1) & mask) {
        const struct p2p_keymap_slot *s = &m->slots[i];
        if (s->tag == 0) {
            *found = false;
            return i;
        }
        if (s->tag == tag && memcmp(s->key.b, key->b, P2P_KEY_BYTES) == 0) {
            *found = true;
            return i;
        }
    }
}

bool p2p_keymap_get(const struct p2p_keymap *m, const struct p2p_key *key,
                    uint32_t *value)
{
    if (m->count == 0)
        return false;
    bool found;
    size_t i = probe(m, key, tag_of(m, key), &found);
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
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].tag == 0)
            continue;
        bool found;
        size_t j = probe(m, &old[i].key, old[i].tag, &found);
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
    /* Keep the load under one half. */
    if ((m->count + 1) * 2 > m->capacity) {
        size_t capacity = m->capacity ? m->capacity * 2 : KEYMAP_CAPACITY_MIN;
        int rc = rehash(m, capacity);
        if (rc != 0)
            return rc;
    }
    uint32_t tag = tag_of(m, key);
    bool found;
    size_t i = probe(m, key, tag, &found);
    P2P_ASSERT(!found);
    m->slots[i] = (struct p2p_keymap_slot){*key, value, tag};
    m->count++;
    return 0;
}

/* True when home h lies cyclically in (hole, j]: the entry at j must then
 * stay, since moving it to the hole would put it before its home. */
static bool stays(size_t hole, size_t j, size_t h)
{
    return hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
}

int p2p_keymap_del(struct p2p_keymap *m, const struct p2p_key *key)
{
    if (m->count == 0)
        return P2P_ERR_NOT_FOUND;
    bool found;
    size_t hole = probe(m, key, tag_of(m, key), &found);
    if (!found)
        return P2P_ERR_NOT_FOUND;
    size_t mask = m->capacity - 1;
    for (size_t j = (hole + 1) & mask; m->slots[j].tag != 0;
         j = (j + 1) & mask) {
        if (stays(hole, j, home_of(m, m->slots[j].tag)))
            continue;
        m->slots[hole] = m->slots[j];
        hole = j;
    }
    m->slots[hole].tag = 0;
    m->count--;
    return 0;
}
