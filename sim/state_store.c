/* Synthetic states (built incrementally, a window of heights cached) and
 * each node's state store over them. */
#include "sim/state_store.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

#define MOD P2P_MEM_OTHER
#define BLOCK_BYTES 64u
/* Domain tags, so the churn draw and the content never share a hash. */
#define DOMAIN_CHURN 0x636875726e000001ULL
#define DOMAIN_CONTENT 0x636f6e74656e0002ULL
#define DOMAIN_KEYMAP 0x6b65796d61700003ULL

/* splitmix64's output function. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash3(uint64_t domain, uint64_t a, uint64_t b, uint64_t c)
{
    return mix(mix(mix(mix(domain) ^ a) ^ b) ^ c);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Whether chunk i changes going from height h - 1 to h. */
static bool changes(const struct sim_states *s, uint64_t h, uint32_t i)
{
    return hash3(DOMAIN_CHURN, s->seed, h, i) % SIM_STATE_CHURN_PPM_MAX <
           s->churn_ppm;
}

static uint32_t chunk_len(const struct sim_states *s, uint32_t i)
{
    P2P_ASSERT(i < s->chunks_count);
    if (i + 1 < s->chunks_count)
        return s->chunk_bytes;
    return (uint32_t)(s->size_bytes - (uint64_t)i * s->chunk_bytes);
}

/* The bytes of chunk i at version: a 64-byte block (i, version, seed,
 * five hashed words) repeated by doubling copies. */
static void generate(const struct sim_states *s, uint32_t i, uint64_t version,
                     uint8_t *buf, size_t len)
{
    uint8_t block[BLOCK_BYTES];
    put_u64(block, i);
    put_u64(block + 8, version);
    put_u64(block + 16, s->seed);
    uint64_t x = hash3(DOMAIN_CONTENT, s->seed, i, version);
    for (size_t k = 24; k < BLOCK_BYTES; k += 8) {
        x = mix(x);
        put_u64(block + k, x);
    }
    size_t done = len < BLOCK_BYTES ? len : BLOCK_BYTES;
    memcpy(buf, block, done);
    while (done < len) {
        size_t n = done <= len - done ? done : len - done;
        memcpy(buf + done, buf, n);
        done += n;
    }
}

int sim_states_init(struct sim_states *s, struct p2p_mem *mem, uint64_t seed,
                    uint64_t size_bytes, uint32_t chunk_bytes,
                    uint32_t churn_ppm)
{
    memset(s, 0, sizeof(*s));
    if (size_bytes == 0 || chunk_bytes == 0 ||
        churn_ppm > SIM_STATE_CHURN_PPM_MAX)
        return P2P_ERR_INVALID_ARG;
    uint64_t count = size_bytes / chunk_bytes + (size_bytes % chunk_bytes != 0);
    if (chunk_bytes > P2P_STATE_CHUNK_BYTES_MAX || count > P2P_STATE_CHUNKS_MAX)
        return P2P_ERR_OVERSIZE;
    s->chunk_len_max = size_bytes < chunk_bytes ? (uint32_t)size_bytes : chunk_bytes;
    s->scratch = p2p_mem_alloc_raw(mem, MOD, s->chunk_len_max);
    if (s->scratch == NULL)
        return P2P_ERR_NOMEM;
    s->mem = mem;
    s->seed = seed;
    s->size_bytes = size_bytes;
    s->chunk_bytes = chunk_bytes;
    s->churn_ppm = churn_ppm;
    s->chunks_count = (uint32_t)count;
    return 0;
}

void sim_states_fini(struct sim_states *s)
{
    for (uint32_t k = 0; k < SIM_STATE_HEIGHTS_KEPT; k++) {
        p2p_state_manifest_fini(&s->slots[k].manifest);
        p2p_mem_free(s->mem, MOD, s->slots[k].versions);
    }
    p2p_mem_free(s->mem, MOD, s->scratch);
    memset(s, 0, sizeof(*s));
}

static struct sim_states_slot *slot_of(struct sim_states *s, uint64_t h)
{
    return &s->slots[h % SIM_STATE_HEIGHTS_KEPT];
}

/* The slot holding h, or NULL when h is not in the window. */
static const struct sim_states_slot *find(const struct sim_states *s, uint64_t h)
{
    if (h == 0 || h > s->newest || h + SIM_STATE_HEIGHTS_KEPT <= s->newest)
        return NULL;
    const struct sim_states_slot *slot = &s->slots[h % SIM_STATE_HEIGHTS_KEPT];
    P2P_ASSERT(slot->height == h);
    return slot;
}

/* Gives the slot its buffers on first use. */
static int slot_alloc(struct sim_states *s, struct sim_states_slot *slot)
{
    if (slot->versions != NULL)
        return 0;
    struct p2p_state_manifest *m = &slot->manifest;
    m->chunks = p2p_mem_alloc(s->mem, MOD,
                              (size_t)s->chunks_count * sizeof(*m->chunks));
    if (m->chunks == NULL)
        return P2P_ERR_NOMEM;
    m->mem = s->mem;
    m->module = MOD;
    slot->versions = p2p_mem_alloc(s->mem, MOD,
                                   (size_t)s->chunks_count * sizeof(*slot->versions));
    if (slot->versions == NULL) {
        p2p_state_manifest_fini(m);
        return P2P_ERR_NOMEM;
    }
    m->chunk_bytes = s->chunk_bytes;
    m->total_bytes = s->size_bytes;
    m->chunks_count = s->chunks_count;
    return 0;
}

/* Builds height h into its slot from prev (h > prev's height; NULL: from
 * genesis, nothing reusable). prev may be that same slot: each chunk is
 * read before it is written. */
static void build(struct sim_states *s, uint64_t h,
                  const struct sim_states_slot *prev)
{
    struct sim_states_slot *slot = slot_of(s, h);
    uint64_t from = prev != NULL ? prev->height : 1;
    P2P_ASSERT(slot->versions != NULL && h > s->newest && h >= from);
    for (uint32_t i = 0; i < s->chunks_count; i++) {
        uint64_t v0 = prev != NULL ? prev->versions[i] : 1, v = v0;
        for (uint64_t hh = from + 1; hh <= h; hh++)
            v = changes(s, hh, i) ? hh : v;
        slot->versions[i] = v;
        if (prev != NULL && v == v0) {
            if (prev != slot)
                slot->manifest.chunks[i] = prev->manifest.chunks[i];
            continue;
        }
        uint32_t len = chunk_len(s, i);
        generate(s, i, v, s->scratch, len);
        p2p_state_hash_of(s->scratch, len, &slot->manifest.chunks[i].hash);
        slot->manifest.chunks[i].size = len;
        s->bytes_hashed += len;
    }
    slot->manifest.height = h;
    p2p_state_manifest_root(&slot->manifest, &slot->root);
    slot->height = h;
    s->newest = h;
}

int sim_states_get(struct sim_states *s, uint64_t height,
                   const struct p2p_state_manifest **m,
                   struct p2p_state_hash *root)
{
    if (height == 0)
        return P2P_ERR_INVALID_ARG;
    if (height > s->newest) {
        /* Only the heights that stay in the window are hashed. */
        uint64_t lo = height >= SIM_STATE_HEIGHTS_KEPT
                          ? height - SIM_STATE_HEIGHTS_KEPT + 1
                          : 1;
        uint64_t start = s->newest + 1 > lo ? s->newest + 1 : lo;
        for (uint64_t h = start; h <= height; h++) { /* <= KEPT slots */
            int rc = slot_alloc(s, slot_of(s, h));
            if (rc != 0)
                return rc;
        }
        for (uint64_t h = start; h <= height; h++)
            build(s, h, s->newest > 0 ? slot_of(s, s->newest) : NULL);
    }
    const struct sim_states_slot *slot = find(s, height);
    if (slot == NULL)
        return P2P_ERR_NOT_FOUND;
    *m = &slot->manifest;
    *root = slot->root;
    return 0;
}

int sim_states_chunk(const struct sim_states *s, uint64_t height,
                     uint32_t index, uint8_t *buf, size_t cap, size_t *len)
{
    const struct sim_states_slot *slot = find(s, height);
    if (slot == NULL)
        return P2P_ERR_NOT_FOUND;
    if (index >= s->chunks_count || cap < chunk_len(s, index))
        return P2P_ERR_INVALID_ARG;
    *len = chunk_len(s, index);
    generate(s, index, slot->versions[index], buf, *len);
    return 0;
}

/* ---- One node's store. ---- */

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
    p2p_keymap_init(&st->partial_by_hash, st->mem, MOD, st->states->chunks_count,
                    mix(st->states->seed ^ DOMAIN_KEYMAP));
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

static int op_chunk(void *ctx, uint64_t height, const struct p2p_state_hash *root,
                    uint32_t index, const uint8_t **bytes, size_t *len)
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

static bool chunk_eq(const struct p2p_state_chunk *a, const struct p2p_state_chunk *b)
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
    return h != NULL && index < h->chunks_count && chunk_eq(&h->chunks[index], c);
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
    st->partials[st->partials_count++] =
        (struct sim_state_partial){.hash = c->hash, .size = c->size, .index = index};
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
