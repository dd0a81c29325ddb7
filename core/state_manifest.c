/* State manifests: build, canonical encoding, decoding of untrusted bytes,
 * root hash, chunk verification and the diff of two manifests. */
#include "core/state_manifest.h"

#include <stdlib.h>

#include <nettle/sha2.h>

#include "core/assert.h"
#include "core/err.h"

static const uint8_t MAGIC[4] = {'p', '2', 's', 'm'};

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void p2p_state_hash_of(const uint8_t *bytes, size_t len,
                       struct p2p_state_hash *out)
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, bytes);
    sha256_digest(&ctx, P2P_STATE_HASH_BYTES, out->b);
}

void p2p_state_manifest_init(struct p2p_state_manifest *m)
{
    memset(m, 0, sizeof(*m));
}

void p2p_state_manifest_fini(struct p2p_state_manifest *m)
{
    if (m->chunks != NULL)
        p2p_mem_free(m->mem, m->module, m->chunks);
    p2p_state_manifest_init(m);
}

/* Sets the fields and takes a zeroed table for count chunks (none for 0). */
static int start(struct p2p_state_manifest *m, struct p2p_mem *mem,
                 enum p2p_mem_module module, uint64_t height,
                 uint32_t chunk_bytes, uint32_t count)
{
    P2P_ASSERT(count <= P2P_STATE_CHUNKS_MAX);
    p2p_state_manifest_init(m);
    if (count > 0) {
        m->chunks =
            p2p_mem_alloc(mem, module, (size_t)count * sizeof(*m->chunks));
        if (m->chunks == NULL)
            return P2P_ERR_NOMEM;
    }
    m->mem = mem;
    m->module = module;
    m->height = height;
    m->chunk_bytes = chunk_bytes;
    m->chunks_count = count;
    return 0;
}

static int check_shape(uint32_t chunk_bytes, uint64_t count)
{
    if (chunk_bytes == 0)
        return P2P_ERR_INVALID_ARG;
    if (chunk_bytes > P2P_STATE_CHUNK_BYTES_MAX || count > P2P_STATE_CHUNKS_MAX)
        return P2P_ERR_OVERSIZE;
    return 0;
}

int p2p_state_manifest_build(struct p2p_state_manifest *m, struct p2p_mem *mem,
                             enum p2p_mem_module module, uint64_t height,
                             uint32_t chunk_bytes,
                             const struct p2p_state_chunk_bytes *chunks,
                             uint32_t chunks_count)
{
    p2p_state_manifest_init(m);
    int rc = check_shape(chunk_bytes, chunks_count);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < chunks_count; i++) {
        if (chunks[i].bytes == NULL || chunks[i].len == 0 ||
            chunks[i].len > chunk_bytes)
            return P2P_ERR_INVALID_ARG;
    }
    rc = start(m, mem, module, height, chunk_bytes, chunks_count);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < chunks_count; i++) {
        m->chunks[i].size = (uint32_t)chunks[i].len;
        p2p_state_hash_of(chunks[i].bytes, chunks[i].len, &m->chunks[i].hash);
        m->total_bytes += chunks[i].len;
    }
    return 0;
}

int p2p_state_manifest_build_blob(struct p2p_state_manifest *m,
                                  struct p2p_mem *mem,
                                  enum p2p_mem_module module, uint64_t height,
                                  uint32_t chunk_bytes, const uint8_t *state,
                                  uint64_t len)
{
    p2p_state_manifest_init(m);
    if (chunk_bytes == 0 || (len > 0 && state == NULL))
        return P2P_ERR_INVALID_ARG;
    uint64_t count = len / chunk_bytes + (len % chunk_bytes != 0);
    int rc = check_shape(chunk_bytes, count);
    if (rc != 0)
        return rc;
    rc = start(m, mem, module, height, chunk_bytes, (uint32_t)count);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t offset = (uint64_t)i * chunk_bytes;
        uint64_t n = len - offset < chunk_bytes ? len - offset : chunk_bytes;
        m->chunks[i].size = (uint32_t)n;
        p2p_state_hash_of(state + offset, (size_t)n, &m->chunks[i].hash);
    }
    m->total_bytes = len;
    return 0;
}

size_t p2p_state_manifest_encoded_len(const struct p2p_state_manifest *m)
{
    return P2P_STATE_MANIFEST_HEADER_BYTES +
           (size_t)m->chunks_count * P2P_STATE_MANIFEST_ENTRY_BYTES;
}

static void encode_header(const struct p2p_state_manifest *m,
                          uint8_t out[P2P_STATE_MANIFEST_HEADER_BYTES])
{
    memcpy(out, MAGIC, sizeof(MAGIC));
    out[4] = P2P_STATE_MANIFEST_VERSION;
    put_u64(out + 5, m->height);
    put_u32(out + 13, m->chunk_bytes);
    put_u64(out + 17, m->total_bytes);
    put_u32(out + 25, m->chunks_count);
}

static void encode_entry(const struct p2p_state_chunk *c,
                         uint8_t out[P2P_STATE_MANIFEST_ENTRY_BYTES])
{
    put_u32(out, c->size);
    memcpy(out + 4, c->hash.b, P2P_STATE_HASH_BYTES);
}

int p2p_state_manifest_encode(const struct p2p_state_manifest *m, uint8_t *out,
                              size_t out_len)
{
    size_t need = p2p_state_manifest_encoded_len(m);
    if (out == NULL || out_len < need)
        return P2P_ERR_INVALID_ARG;
    encode_header(m, out);
    uint8_t *p = out + P2P_STATE_MANIFEST_HEADER_BYTES;
    for (uint32_t i = 0; i < m->chunks_count;
         i++, p += P2P_STATE_MANIFEST_ENTRY_BYTES)
        encode_entry(&m->chunks[i], p);
    P2P_ASSERT((size_t)(p - out) == need);
    return 0;
}

/* The header fields, checked in the order that rejects the cheapest
 * way: nothing here allocates. */
static int decode_header(const uint8_t *bytes, size_t len, uint64_t *height,
                         uint32_t *chunk_bytes, uint64_t *total_bytes,
                         uint32_t *count)
{
    if (len > P2P_STATE_MANIFEST_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    if (len < P2P_STATE_MANIFEST_HEADER_BYTES)
        return P2P_ERR_DECODE;
    if (memcmp(bytes, MAGIC, sizeof(MAGIC)) != 0 ||
        bytes[4] != P2P_STATE_MANIFEST_VERSION)
        return P2P_ERR_DECODE;
    *height = get_u64(bytes + 5);
    *chunk_bytes = get_u32(bytes + 13);
    *total_bytes = get_u64(bytes + 17);
    *count = get_u32(bytes + 25);
    if (*chunk_bytes == 0)
        return P2P_ERR_DECODE;
    if (*chunk_bytes > P2P_STATE_CHUNK_BYTES_MAX ||
        *count > P2P_STATE_CHUNKS_MAX)
        return P2P_ERR_OVERSIZE;
    /* Cheap bounds on the total before reading any entry. */
    if (*total_bytes < *count || *total_bytes > (uint64_t)*count * *chunk_bytes)
        return P2P_ERR_DECODE;
    if (len != P2P_STATE_MANIFEST_HEADER_BYTES +
                   (size_t)*count * P2P_STATE_MANIFEST_ENTRY_BYTES)
        return P2P_ERR_DECODE;
    return 0;
}

int p2p_state_manifest_decode(struct p2p_state_manifest *m, struct p2p_mem *mem,
                              enum p2p_mem_module module, const uint8_t *bytes,
                              size_t len)
{
    p2p_state_manifest_init(m);
    uint64_t height, total;
    uint32_t chunk_bytes, count;
    int rc = decode_header(bytes, len, &height, &chunk_bytes, &total, &count);
    if (rc != 0)
        return rc;
    rc = start(m, mem, module, height, chunk_bytes, count);
    if (rc != 0)
        return rc;
    const uint8_t *p = bytes + P2P_STATE_MANIFEST_HEADER_BYTES;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < count; i++, p += P2P_STATE_MANIFEST_ENTRY_BYTES) {
        uint32_t size = get_u32(p);
        if (size == 0 || size > chunk_bytes) {
            p2p_state_manifest_fini(m);
            return P2P_ERR_DECODE;
        }
        m->chunks[i].size = size;
        memcpy(m->chunks[i].hash.b, p + 4, P2P_STATE_HASH_BYTES);
        sum += size; /* <= 2^20 * 2^23: no overflow */
    }
    if (sum != total) {
        p2p_state_manifest_fini(m);
        return P2P_ERR_DECODE;
    }
    m->total_bytes = total;
    return 0;
}

/* Writes bytes [offset, offset + len) of m's encoding (in range) to out. */
static void encode_span(const struct p2p_state_manifest *m, size_t offset,
                        uint8_t *out, size_t len)
{
    size_t pos = offset, end = offset + len;
    if (pos < P2P_STATE_MANIFEST_HEADER_BYTES) {
        uint8_t header[P2P_STATE_MANIFEST_HEADER_BYTES];
        encode_header(m, header);
        size_t stop = end < sizeof(header) ? end : sizeof(header);
        memcpy(out, header + pos, stop - pos);
        out += stop - pos;
        pos = stop;
    }
    while (pos < end) {
        size_t at = pos - P2P_STATE_MANIFEST_HEADER_BYTES;
        size_t i = at / P2P_STATE_MANIFEST_ENTRY_BYTES;
        size_t within = at % P2P_STATE_MANIFEST_ENTRY_BYTES;
        size_t n = P2P_STATE_MANIFEST_ENTRY_BYTES - within;
        n = n < end - pos ? n : end - pos;
        if (within == 0 && n == P2P_STATE_MANIFEST_ENTRY_BYTES) {
            encode_entry(&m->chunks[i], out);
        } else {
            uint8_t entry[P2P_STATE_MANIFEST_ENTRY_BYTES];
            encode_entry(&m->chunks[i], entry);
            memcpy(out, entry + within, n);
        }
        out += n;
        pos += n;
    }
}

int p2p_state_manifest_encode_range(const struct p2p_state_manifest *m,
                                    size_t offset, uint8_t *out, size_t len)
{
    size_t total = p2p_state_manifest_encoded_len(m);
    if (offset > total || len > total - offset || (out == NULL && len > 0))
        return P2P_ERR_INVALID_ARG;
    encode_span(m, offset, out, len);
    return 0;
}

static uint32_t meta_chunks_for(size_t manifest_bytes)
{
    return (uint32_t)((manifest_bytes + P2P_STATE_MANIFEST_CHUNK_BYTES - 1) /
                      P2P_STATE_MANIFEST_CHUNK_BYTES);
}

/* Bytes hashed per step while a manifest's encoding is produced. */
#define SPAN_BYTES (64u * P2P_STATE_MANIFEST_ENTRY_BYTES)

void p2p_state_meta_of(const struct p2p_state_manifest *m,
                       struct p2p_state_meta *out)
{
    size_t total = p2p_state_manifest_encoded_len(m);
    P2P_ASSERT(total <= P2P_STATE_MANIFEST_BYTES_MAX);
    out->manifest_bytes = (uint32_t)total;
    out->chunks_count = meta_chunks_for(total);
    uint8_t span[SPAN_BYTES];
    for (uint32_t k = 0; k < out->chunks_count; k++) {
        size_t pos = (size_t)k * P2P_STATE_MANIFEST_CHUNK_BYTES;
        size_t end = pos + p2p_state_meta_chunk_size(out, k);
        struct sha256_ctx ctx;
        sha256_init(&ctx);
        while (pos < end) {
            size_t n = end - pos < sizeof(span) ? end - pos : sizeof(span);
            encode_span(m, pos, span, n);
            sha256_update(&ctx, n, span);
            pos += n;
        }
        sha256_digest(&ctx, P2P_STATE_HASH_BYTES, out->chunks[k].b);
    }
}

uint32_t p2p_state_meta_chunk_size(const struct p2p_state_meta *meta,
                                   uint32_t k)
{
    P2P_ASSERT(k < meta->chunks_count);
    size_t pos = (size_t)k * P2P_STATE_MANIFEST_CHUNK_BYTES;
    size_t left = meta->manifest_bytes - pos;
    return left < P2P_STATE_MANIFEST_CHUNK_BYTES
               ? (uint32_t)left
               : P2P_STATE_MANIFEST_CHUNK_BYTES;
}

static const uint8_t META_MAGIC[4] = {'p', '2', 'm', 'm'};

size_t p2p_state_meta_encoded_len(const struct p2p_state_meta *meta)
{
    return P2P_STATE_META_HEADER_BYTES +
           (size_t)meta->chunks_count * P2P_STATE_HASH_BYTES;
}

int p2p_state_meta_encode(const struct p2p_state_meta *meta, uint8_t *out,
                          size_t out_len)
{
    size_t need = p2p_state_meta_encoded_len(meta);
    if (out == NULL || out_len < need)
        return P2P_ERR_INVALID_ARG;
    memcpy(out, META_MAGIC, sizeof(META_MAGIC));
    out[4] = P2P_STATE_META_VERSION;
    put_u32(out + 5, meta->manifest_bytes);
    for (uint32_t k = 0; k < meta->chunks_count; k++)
        memcpy(out + P2P_STATE_META_HEADER_BYTES + k * P2P_STATE_HASH_BYTES,
               meta->chunks[k].b, P2P_STATE_HASH_BYTES);
    return 0;
}

int p2p_state_meta_decode(struct p2p_state_meta *meta, const uint8_t *bytes,
                          size_t len)
{
    if (len > P2P_STATE_META_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    if (len < P2P_STATE_META_HEADER_BYTES ||
        memcmp(bytes, META_MAGIC, sizeof(META_MAGIC)) != 0 ||
        bytes[4] != P2P_STATE_META_VERSION)
        return P2P_ERR_DECODE;
    uint32_t manifest_bytes = get_u32(bytes + 5);
    if (manifest_bytes > P2P_STATE_MANIFEST_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    if (manifest_bytes < P2P_STATE_MANIFEST_HEADER_BYTES)
        return P2P_ERR_DECODE;
    uint32_t count = meta_chunks_for(manifest_bytes);
    if (len !=
        P2P_STATE_META_HEADER_BYTES + (size_t)count * P2P_STATE_HASH_BYTES)
        return P2P_ERR_DECODE;
    meta->manifest_bytes = manifest_bytes;
    meta->chunks_count = count;
    for (uint32_t k = 0; k < count; k++)
        memcpy(meta->chunks[k].b,
               bytes + P2P_STATE_META_HEADER_BYTES + k * P2P_STATE_HASH_BYTES,
               P2P_STATE_HASH_BYTES);
    return 0;
}

void p2p_state_meta_root(const struct p2p_state_meta *meta,
                         struct p2p_state_hash *out)
{
    uint8_t enc[P2P_STATE_META_BYTES_MAX];
    size_t len = p2p_state_meta_encoded_len(meta);
    int rc = p2p_state_meta_encode(meta, enc, sizeof(enc));
    P2P_ASSERT(rc == 0);
    p2p_state_hash_of(enc, len, out);
}

void p2p_state_manifest_root(const struct p2p_state_manifest *m,
                             struct p2p_state_hash *out)
{
    struct p2p_state_meta meta;
    p2p_state_meta_of(m, &meta);
    p2p_state_meta_root(&meta, out);
}

int p2p_state_manifest_root_of_encoding(const uint8_t *bytes, size_t len,
                                        struct p2p_state_hash *out)
{
    if (len > P2P_STATE_MANIFEST_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    struct p2p_state_meta meta = {.manifest_bytes = (uint32_t)len,
                                  .chunks_count = meta_chunks_for(len)};
    for (uint32_t k = 0; k < meta.chunks_count; k++) {
        size_t pos = (size_t)k * P2P_STATE_MANIFEST_CHUNK_BYTES;
        p2p_state_hash_of(bytes + pos, p2p_state_meta_chunk_size(&meta, k),
                          &meta.chunks[k]);
    }
    p2p_state_meta_root(&meta, out);
    return 0;
}

int p2p_state_manifest_verify(const struct p2p_state_manifest *m,
                              const struct p2p_state_hash *root)
{
    struct p2p_state_hash got;
    p2p_state_manifest_root(m, &got);
    return p2p_state_hash_eq(&got, root) ? 0 : P2P_ERR_ID_MISMATCH;
}

int p2p_state_manifest_verify_chunk(const struct p2p_state_manifest *m,
                                    uint32_t index, const uint8_t *bytes,
                                    size_t len)
{
    if (index >= m->chunks_count)
        return P2P_ERR_INVALID_ARG;
    const struct p2p_state_chunk *c = &m->chunks[index];
    if (len != c->size || bytes == NULL)
        return P2P_ERR_ID_MISMATCH;
    struct p2p_state_hash got;
    p2p_state_hash_of(bytes, len, &got);
    return p2p_state_hash_eq(&got, &c->hash) ? 0 : P2P_ERR_ID_MISMATCH;
}

/* prev's chunks sorted by (hash, size, index): a total order, so the
 * result does not depend on the sort's stability. */
struct diff_key {
    struct p2p_state_hash hash;
    uint32_t size;
    uint32_t index;
};

static int diff_key_cmp(const void *pa, const void *pb)
{
    const struct diff_key *a = pa, *b = pb;
    int c = memcmp(a->hash.b, b->hash.b, P2P_STATE_HASH_BYTES);
    if (c != 0)
        return c;
    if (a->size != b->size)
        return a->size < b->size ? -1 : 1;
    if (a->index != b->index)
        return a->index < b->index ? -1 : 1;
    return 0;
}

/* The lowest index of prev holding chunk c, or P2P_STATE_CHUNK_NONE. */
static uint32_t diff_find(const struct diff_key *keys, uint32_t count,
                          const struct p2p_state_chunk *c)
{
    struct diff_key probe = {.hash = c->hash, .size = c->size, .index = 0};
    uint32_t lo = 0, hi = count; /* first key >= probe */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (diff_key_cmp(&keys[mid], &probe) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < count && keys[lo].size == c->size &&
        p2p_state_hash_eq(&keys[lo].hash, &c->hash))
        return keys[lo].index;
    return P2P_STATE_CHUNK_NONE;
}

int p2p_state_manifest_diff(const struct p2p_state_manifest *prev,
                            const struct p2p_state_manifest *next,
                            struct p2p_mem *mem, enum p2p_mem_module module,
                            uint32_t *from_prev)
{
    for (uint32_t i = 0; i < next->chunks_count; i++)
        from_prev[i] = P2P_STATE_CHUNK_NONE;
    if (prev->chunks_count == 0 || next->chunks_count == 0)
        return 0;
    struct diff_key *keys = p2p_mem_alloc_raw(
        mem, module, (size_t)prev->chunks_count * sizeof(*keys));
    if (keys == NULL)
        return P2P_ERR_NOMEM;
    for (uint32_t j = 0; j < prev->chunks_count; j++) {
        keys[j].hash = prev->chunks[j].hash;
        keys[j].size = prev->chunks[j].size;
        keys[j].index = j;
    }
    qsort(keys, prev->chunks_count, sizeof(*keys), diff_key_cmp);
    int found = 0;
    for (uint32_t i = 0; i < next->chunks_count; i++) {
        from_prev[i] = diff_find(keys, prev->chunks_count, &next->chunks[i]);
        found += from_prev[i] != P2P_STATE_CHUNK_NONE;
    }
    p2p_mem_free(mem, module, keys);
    return found;
}
