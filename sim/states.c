/* The subnet's synthetic states (built incrementally, a window of heights
 * cached). */
#include "sim/states.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

#define MOD P2P_MEM_OTHER
/* The chunk's own header: its index, version and the seed. */
#define HEAD_BYTES 24u
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

/* The bytes of chunk i at version: i, version and seed, pseudo-random
 * bytes (xorshift64, cheap at -O0), and the compressible share zeroed. */
static void generate(const struct sim_states *s, uint32_t i, uint64_t version,
                     uint8_t *buf, size_t len)
{
    uint8_t head[HEAD_BYTES];
    put_u64(head, i);
    put_u64(head + 8, version);
    put_u64(head + 16, s->seed);
    size_t zeros =
        (size_t)((uint64_t)len * s->compressible_ppm / SIM_STATE_CHURN_PPM_MAX);
    size_t end = len - zeros; /* random up to here */
    size_t k = len < HEAD_BYTES ? len : HEAD_BYTES;
    memcpy(buf, head, k);
    uint64_t x = hash3(DOMAIN_CONTENT, s->seed, i, version) | 1;
    for (; k + 8 <= end; k += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        put_u64(buf + k, x);
    }
    for (; k < end; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[k] = (uint8_t)x;
    }
    if (k < len)
        memset(buf + k, 0, len - k);
}

int sim_states_init(struct sim_states *s, struct p2p_mem *mem,
                    const struct sim_states_cfg *cfg)
{
    uint64_t seed = cfg->seed, size_bytes = cfg->size_bytes;
    uint32_t chunk_bytes = cfg->chunk_bytes, churn_ppm = cfg->churn_ppm;
    memset(s, 0, sizeof(*s));
    if (size_bytes == 0 || chunk_bytes == 0 ||
        churn_ppm > SIM_STATE_CHURN_PPM_MAX ||
        cfg->compressible_ppm > SIM_STATE_CHURN_PPM_MAX)
        return P2P_ERR_INVALID_ARG;
    uint64_t count = size_bytes / chunk_bytes + (size_bytes % chunk_bytes != 0);
    if (chunk_bytes > P2P_STATE_CHUNK_BYTES_MAX || count > P2P_STATE_CHUNKS_MAX)
        return P2P_ERR_OVERSIZE;
    s->chunk_len_max =
        size_bytes < chunk_bytes ? (uint32_t)size_bytes : chunk_bytes;
    s->scratch = p2p_mem_alloc_raw(mem, MOD, s->chunk_len_max);
    if (s->scratch == NULL)
        return P2P_ERR_NOMEM;
    s->mem = mem;
    s->seed = seed;
    s->size_bytes = size_bytes;
    s->chunk_bytes = chunk_bytes;
    s->churn_ppm = churn_ppm;
    s->compressible_ppm = cfg->compressible_ppm;
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
static const struct sim_states_slot *find(const struct sim_states *s,
                                          uint64_t h)
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
    slot->versions = p2p_mem_alloc(
        s->mem, MOD, (size_t)s->chunks_count * sizeof(*slot->versions));
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

uint64_t sim_states_key_seed(const struct sim_states *s)
{
    return mix(s->seed ^ DOMAIN_KEYMAP);
}
