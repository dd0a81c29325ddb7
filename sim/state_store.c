/* Each node's state store over the subnet's states: what it holds, the
 * chunks of a sync in progress, core's p2p_state_store_ops. */
#include "sim/state_store.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

#define MOD P2P_MEM_OTHER

/* The partial set's key: the chunk's hash (its size is the value). */
static struct p2p_key key_of(const struct p2p_state_hash *h)
{
    struct p2p_key k;
    _Static_assert(sizeof(k.b) == sizeof(h->b), "a key is a hash");
    memcpy(k.b, h->b, sizeof(k.b));
    return k;
}

static void partial_reset(struct sim_state_store *st)
{
    p2p_keymap_fini(&st->partial_by_hash);
    p2p_keymap_init(&st->partial_by_hash, st->mem, MOD,
                    st->states->chunks_count, sim_states_key_seed(st->states));
    st->partials_count = 0;
}

static void store_invariants(const struct sim_state_store *st)
{
    P2P_ASSERT(st->partials_count <= st->partials_cap);
    P2P_ASSERT(st->partials_count <= st->states->chunks_count);
    P2P_ASSERT(st->partial_by_hash.count == st->partials_count);
}

int sim_state_store_init(struct sim_state_store *st, struct sim_states *states,
                         struct p2p_mem *mem)
{
    memset(st, 0, sizeof(*st));
    st->scratch = p2p_mem_alloc_raw(mem, MOD, states->chunk_len_max);
    if (st->scratch == NULL)
        return P2P_ERR_NOMEM;
    st->states = states;
    st->mem = mem;
    partial_reset(st);
    return 0;
}

void sim_state_store_fini(struct sim_state_store *st)
{
    p2p_keymap_fini(&st->partial_by_hash);
    p2p_mem_free(st->mem, MOD, st->partials);
    p2p_mem_free(st->mem, MOD, st->scratch);
    memset(st, 0, sizeof(*st));
}

void sim_state_store_set_height(struct sim_state_store *st, uint64_t height)
{
    /* Executing one height keeps the older checkpoints; anything else
     * starts a new run of them. */
    if (height != st->held_height + 1 || st->held_height == 0)
        st->held_from = height;
    st->held_height = height;
}

/* The held state's manifest and root, or NULL. */
static const struct p2p_state_manifest *op_latest(void *ctx,
                                                  struct p2p_state_hash *root)
{
    struct sim_state_store *st = ctx;
    const struct p2p_state_manifest *m = NULL;
    if (st->held_height == 0 ||
        sim_states_get(st->states, st->held_height, &m, root) != 0)
        return NULL;
    return m;
}

/* A checkpoint the node holds: held_height or an older one it executed
 * through, still in the window. Never builds a height (height is at most
 * held_height, which the world has built). */
static const struct p2p_state_manifest *op_manifest(
    void *ctx, uint64_t height, const struct p2p_state_hash *root)
{
    struct sim_state_store *st = ctx;
    const struct p2p_state_manifest *m;
    struct p2p_state_hash r;
    if (height == 0 || height > st->held_height || height < st->held_from ||
        sim_states_get(st->states, height, &m, &r) != 0 ||
        !p2p_state_hash_eq(&r, root))
        return NULL;
    return m;
}

static int op_chunk(void *ctx, uint64_t height,
                    const struct p2p_state_hash *root, uint32_t index,
                    const uint8_t **bytes, size_t *len)
{
    struct sim_state_store *st = ctx;
    const struct p2p_state_manifest *m = op_manifest(st, height, root);
    if (m == NULL || index >= m->chunks_count)
        return P2P_ERR_NOT_FOUND;
    int rc = sim_states_chunk(st->states, height, index, st->scratch,
                              st->states->chunk_len_max, len);
    P2P_ASSERT(rc == 0 && *len == m->chunks[index].size);
    if (st->corrupt)
        st->scratch[index % *len] ^= 0x5a;
    st->chunks_served++;
    *bytes = st->scratch;
    return 0;
}

static bool chunk_eq(const struct p2p_state_chunk *a,
                     const struct p2p_state_chunk *b)
{
    return a->size == b->size && p2p_state_hash_eq(&a->hash, &b->hash);
}

static bool op_has_chunk(void *ctx, const struct p2p_state_manifest *m,
                         const struct p2p_state_hash *root, uint32_t index)
{
    struct sim_state_store *st = ctx;
    if (index >= m->chunks_count)
        return false;
    const struct p2p_state_chunk *c = &m->chunks[index];
    struct p2p_key key = key_of(&c->hash);
    uint32_t size;
    if (p2p_keymap_get(&st->partial_by_hash, &key, &size))
        return size == c->size;
    struct p2p_state_hash held_root;
    const struct p2p_state_manifest *h = op_latest(st, &held_root);
    return h != NULL && index < h->chunks_count &&
           chunk_eq(&h->chunks[index], c);
}

/* Whether partial entry e is m's chunk at the index it was put for. */
static bool is_own(const struct p2p_state_manifest *m,
                   const struct sim_state_partial *e)
{
    struct p2p_state_chunk c = {.size = e->size, .hash = e->hash};
    return e->index < m->chunks_count && chunk_eq(&m->chunks[e->index], &c);
}

/* Drops the entries that are not m's own, keeping the order of the
 * others. Allocates nothing. */
static void partial_evict(struct sim_state_store *st,
                          const struct p2p_state_manifest *m)
{
    uint32_t kept = 0;
    for (uint32_t k = 0; k < st->partials_count; k++) {
        const struct sim_state_partial *e = &st->partials[k];
        if (is_own(m, e)) {
            st->partials[kept++] = *e;
            continue;
        }
        struct p2p_key key = key_of(&e->hash);
        int rc = p2p_keymap_del(&st->partial_by_hash, &key);
        P2P_ASSERT(rc == 0);
        st->partials_evicted++;
    }
    st->partials_count = kept;
}

static int op_put_chunk(void *ctx, const struct p2p_state_manifest *m,
                        const struct p2p_state_hash *root, uint32_t index,
                        const uint8_t *bytes, size_t len)
{
    struct sim_state_store *st = ctx;
    if (index >= m->chunks_count || len != m->chunks[index].size)
        return P2P_ERR_INVALID_ARG;
    const struct p2p_state_chunk *c = &m->chunks[index];
    struct p2p_key key = key_of(&c->hash);
    uint32_t size;
    if (p2p_keymap_get(&st->partial_by_hash, &key, &size))
        return size == c->size ? 0 : P2P_ERR_EXISTS;
    uint32_t max = st->states->chunks_count;
    if (st->partials_count == st->partials_cap) { /* below max: grow */
        uint32_t cap = st->partials_cap == 0 ? 64 : 2 * st->partials_cap;
        cap = cap < max ? cap : max;
        if (cap > st->partials_cap) {
            void *p = p2p_mem_realloc(st->mem, MOD, st->partials,
                                      (size_t)cap * sizeof(*st->partials));
            if (p == NULL)
                return P2P_ERR_NOMEM;
            st->partials = p;
            st->partials_cap = cap;
        }
    }
    /* Full: a sync target that moved on left chunks behind. When none
     * is found, the map refuses the put (LIMIT) and nothing changed;
     * after an eviction it has room and does not grow (it never
     * shrinks), so it cannot fail. */
    if (st->partials_count == max)
        partial_evict(st, m);
    int rc = p2p_keymap_put(&st->partial_by_hash, &key, c->size);
    if (rc != 0)
        return rc;
    st->partials[st->partials_count++] = (struct sim_state_partial){
        .hash = c->hash, .size = c->size, .index = index};
    st->chunks_put++;
    st->bytes_put += len;
    store_invariants(st);
    return 0;
}

static void op_complete(void *ctx, const struct p2p_state_manifest *m,
                        const struct p2p_state_hash *root)
{
    struct sim_state_store *st = ctx;
    const struct p2p_state_manifest *want;
    struct p2p_state_hash want_root;
    /* Never builds: m may be a liar's, with any height. */
    if (m->height > st->states->newest ||
        sim_states_get(st->states, m->height, &want, &want_root) != 0 ||
        !p2p_state_hash_eq(root, &want_root)) {
        st->complete_errors++;
        return;
    }
    st->held_height = m->height;
    st->held_from = m->height;
    partial_reset(st);
    st->completes++;
    st->last_complete_height = m->height;
    store_invariants(st);
}

const struct p2p_state_store_ops sim_state_store_ops = {
    .latest = op_latest,
    .manifest = op_manifest,
    .chunk = op_chunk,
    .has_chunk = op_has_chunk,
    .put_chunk = op_put_chunk,
    .complete = op_complete,
};
