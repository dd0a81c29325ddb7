/* State manifests: build, the canonical encoding (a golden vector, round
 * trips), decoding of hostile bytes (every truncation, a table of
 * mutations, every single-byte flip, limits at limit and limit + 1, no
 * allocation before the length is known), the root hash (of the
 * meta-manifest), manifest chunks and the meta-manifest's decoder, chunk
 * verification, the diff, and allocation failures. */
#include "harness.h"

#include "core/state_manifest.h"

#define MOD P2P_MEM_OTHER

/* Deterministic filler: chunk contents differ everywhere. */
static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, seed, 7);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)p2p_rng_u32(&rng);
}

/* A manifest of chunks of sizes[0..n), contents from seed + index. */
static void build_sized(struct p2p_state_manifest *m, struct p2p_mem *mem,
                        uint64_t height, uint32_t chunk_bytes,
                        const uint32_t *sizes, uint32_t n, uint64_t seed)
{
    struct p2p_state_chunk_bytes *c = calloc(n ? n : 1, sizeof(*c));
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *b = malloc(sizes[i]);
        fill(b, sizes[i], seed + i);
        c[i] = (struct p2p_state_chunk_bytes){b, sizes[i]};
    }
    ck_assert_int_eq(p2p_state_manifest_build(m, mem, MOD, height, chunk_bytes, c, n), 0);
    for (uint32_t i = 0; i < n; i++)
        free((void *)c[i].bytes);
    free(c);
}

static uint8_t *encode(const struct p2p_state_manifest *m, size_t *len)
{
    *len = p2p_state_manifest_encoded_len(m);
    uint8_t *b = malloc(*len);
    ck_assert_int_eq(p2p_state_manifest_encode(m, b, *len), 0);
    return b;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Decodes and expects rc; a failed decode leaves the manifest empty and
 * nothing allocated. */
static void expect_decode(const uint8_t *b, size_t len, int rc)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    ck_assert_int_eq(p2p_state_manifest_decode(&m, &mem, MOD, b, len), rc);
    if (rc != 0) {
        ck_assert_ptr_null(m.chunks);
        ck_assert_uint_eq(m.chunks_count, 0);
    }
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}

START_TEST(golden_encoding)
{
    /* Two chunks: "abc" and "de", chunk_bytes 4, height 0x0102030405060708. */
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_chunk_bytes c[2] = {{(const uint8_t *)"abc", 3},
                                         {(const uint8_t *)"de", 2}};
    struct p2p_state_manifest m;
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 0x0102030405060708ULL,
                                              4, c, 2), 0);
    size_t len;
    uint8_t *b = encode(&m, &len);
    ck_assert_uint_eq(len, 29 + 2 * 36);
    static const uint8_t head[29] = {
        'p', '2', 's', 'm', 1,                          /* magic, version */
        8, 7, 6, 5, 4, 3, 2, 1,                         /* height */
        4, 0, 0, 0,                                     /* chunk_bytes */
        5, 0, 0, 0, 0, 0, 0, 0,                         /* total_bytes */
        2, 0, 0, 0,                                     /* chunks_count */
    };
    ck_assert_mem_eq(b, head, sizeof(head));
    /* SHA-256("abc") = ba7816bf... */
    static const uint8_t entry0[8] = {3, 0, 0, 0, 0xba, 0x78, 0x16, 0xbf};
    ck_assert_mem_eq(b + 29, entry0, sizeof(entry0));
    ck_assert_uint_eq(b[29 + 36], 2);
    /* The meta-manifest: one manifest chunk, these 101 bytes. */
    uint8_t meta[9 + 32];
    static const uint8_t meta_head[9] = {'p', '2', 'm', 'm', 1, 101, 0, 0, 0};
    memcpy(meta, meta_head, sizeof(meta_head));
    struct p2p_state_hash h;
    p2p_state_hash_of(b, len, &h);
    memcpy(meta + 9, h.b, 32);
    struct p2p_state_meta got;
    p2p_state_meta_of(&m, &got);
    ck_assert_uint_eq(got.manifest_bytes, 101);
    ck_assert_uint_eq(got.chunks_count, 1);
    ck_assert_uint_eq(p2p_state_meta_encoded_len(&got), sizeof(meta));
    uint8_t enc[sizeof(meta)];
    ck_assert_int_eq(p2p_state_meta_encode(&got, enc, sizeof(enc)), 0);
    ck_assert_mem_eq(enc, meta, sizeof(meta));
    /* The root is the SHA-256 of exactly the meta-manifest's bytes. */
    struct p2p_state_hash root, want, of_encoding;
    p2p_state_manifest_root(&m, &root);
    p2p_state_hash_of(meta, sizeof(meta), &want);
    ck_assert(p2p_state_hash_eq(&root, &want));
    ck_assert_int_eq(p2p_state_manifest_root_of_encoding(b, len, &of_encoding),
                     0);
    ck_assert(p2p_state_hash_eq(&root, &of_encoding));
    free(b);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(round_trip_is_byte_identical)
{
    static const uint32_t sizes[] = {100, 1, 100, 37, 100, 99};
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m, d;
    build_sized(&m, &mem, 42, 100, sizes, 6, 1);
    ck_assert_uint_eq(m.total_bytes, 437);
    size_t len;
    uint8_t *b = encode(&m, &len);
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len), 0);
    ck_assert_uint_eq(d.height, 42);
    ck_assert_uint_eq(d.chunk_bytes, 100);
    ck_assert_uint_eq(d.total_bytes, 437);
    ck_assert_uint_eq(d.chunks_count, 6);
    ck_assert_mem_eq(d.chunks, m.chunks, 6 * sizeof(*m.chunks));
    size_t len2;
    uint8_t *b2 = encode(&d, &len2);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(b2, b, len);
    struct p2p_state_hash root, of_bytes;
    p2p_state_manifest_root(&m, &root);
    ck_assert_int_eq(p2p_state_manifest_root_of_encoding(b, len, &of_bytes), 0);
    ck_assert(p2p_state_hash_eq(&root, &of_bytes));
    ck_assert_int_eq(p2p_state_manifest_verify(&d, &root), 0);
    free(b);
    free(b2);
    p2p_state_manifest_fini(&m);
    p2p_state_manifest_fini(&d);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(empty_state_round_trip)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m, d;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 9, 1024, NULL, 0), 0);
    ck_assert_uint_eq(m.chunks_count, 0);
    ck_assert_uint_eq(mem.bytes, 0); /* nothing to allocate */
    size_t len;
    uint8_t *b = encode(&m, &len);
    ck_assert_uint_eq(len, 29);
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len), 0);
    ck_assert_uint_eq(d.height, 9);
    ck_assert_uint_eq(d.chunks_count, 0);
    free(b);
    p2p_state_manifest_fini(&d);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(blob_is_cut_into_chunks)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t state[250];
    fill(state, sizeof(state), 3);
    static const struct { uint64_t len; uint32_t count, last; } cases[] = {
        {250, 3, 50}, {200, 2, 100}, {1, 1, 1}, {101, 2, 1}, {100, 1, 100},
    };
    for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
        struct p2p_state_manifest m;
        ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 100, state,
                                                       cases[t].len), 0);
        ck_assert_uint_eq(m.chunks_count, cases[t].count);
        ck_assert_uint_eq(m.total_bytes, cases[t].len);
        ck_assert_uint_eq(m.chunks[m.chunks_count - 1].size, cases[t].last);
        for (uint32_t i = 0; i < m.chunks_count; i++)
            ck_assert_int_eq(p2p_state_manifest_verify_chunk(
                                 &m, i, state + 100 * i, m.chunks[i].size), 0);
        p2p_state_manifest_fini(&m);
    }
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(build_rejects_bad_arguments)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    const uint8_t x[5] = {1, 2, 3, 4, 5};
    struct p2p_state_chunk_bytes ok = {x, 4}, big = {x, 5}, empty = {x, 0},
                                 null = {NULL, 4};
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 1, 0, &ok, 1), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 1, 4, &big, 1), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 1, 4, &empty, 1), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 1, 4, &null, 1), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 1, 4, &ok, 1), 0); /* at the size */
    p2p_state_manifest_fini(&m);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 0, x, 5), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 4, NULL, 5), P2P_ERR_INVALID_ARG);
    ck_assert_ptr_null(m.chunks);
    uint8_t small[10];
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 4, x, 5), 0);
    ck_assert_uint_eq(p2p_state_manifest_encoded_len(&m), 29 + 2 * 36);
    ck_assert_int_eq(p2p_state_manifest_encode(&m, small, sizeof(small)), P2P_ERR_INVALID_ARG);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(every_truncation_and_extension_rejected)
{
    static const uint32_t sizes[] = {64, 64, 10};
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    build_sized(&m, &mem, 5, 64, sizes, 3, 11);
    size_t len;
    uint8_t *b = encode(&m, &len);
    for (size_t cut = 0; cut < len; cut++) {
        /* Rejected before any allocation: the length is checked first. */
        struct p2p_mem dmem;
        p2p_mem_init(&dmem);
        struct p2p_state_manifest d;
        ck_assert_int_eq(p2p_state_manifest_decode(&d, &dmem, MOD, b, cut), P2P_ERR_DECODE);
        ck_assert_uint_eq(dmem.allocs, 0);
    }
    uint8_t *longer = malloc(len + 36);
    memcpy(longer, b, len);
    memset(longer + len, 0, 36);
    for (size_t extra = 1; extra <= 36; extra++)
        expect_decode(longer, len + extra, P2P_ERR_DECODE);
    free(longer);
    expect_decode(b, len, 0);
    free(b);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* One mutation of a valid encoding of chunks {64, 64, 10}, chunk_bytes 64. */
struct mutation {
    const char *name;
    size_t offset;
    int width;      /* 1, 4 or 8 bytes, little-endian */
    uint64_t value;
    int rc;
    bool allocates; /* rejected only after the table was allocated */
};

START_TEST(mutated_encodings_rejected)
{
    static const struct mutation table[] = {
        {"magic", 0, 1, 'P', P2P_ERR_DECODE, false},
        {"magic last", 3, 1, 'x', P2P_ERR_DECODE, false},
        {"version 0", 4, 1, 0, P2P_ERR_DECODE, false},
        {"version 2", 4, 1, 2, P2P_ERR_DECODE, false},
        {"chunk_bytes 0", 13, 4, 0, P2P_ERR_DECODE, false},
        {"chunk_bytes below a chunk", 13, 4, 63, P2P_ERR_DECODE, true},
        {"chunk_bytes max + 1", 13, 4, P2P_STATE_CHUNK_BYTES_MAX + 1, P2P_ERR_OVERSIZE, false},
        {"chunk_bytes 2^32 - 1", 13, 4, UINT32_MAX, P2P_ERR_OVERSIZE, false},
        {"total - 1", 17, 8, 137, P2P_ERR_DECODE, true},
        {"total + 1", 17, 8, 139, P2P_ERR_DECODE, true},
        {"total 0", 17, 8, 0, P2P_ERR_DECODE, false},
        {"total above count * chunk_bytes", 17, 8, 3 * 64 + 1, P2P_ERR_DECODE, false},
        {"total 2^64 - 1", 17, 8, UINT64_MAX, P2P_ERR_DECODE, false},
        {"count - 1", 25, 4, 2, P2P_ERR_DECODE, false},
        {"count + 1", 25, 4, 4, P2P_ERR_DECODE, false},
        {"count 0", 25, 4, 0, P2P_ERR_DECODE, false},
        {"count max + 1", 25, 4, P2P_STATE_CHUNKS_MAX + 1, P2P_ERR_OVERSIZE, false},
        {"count 2^32 - 1", 25, 4, UINT32_MAX, P2P_ERR_OVERSIZE, false},
        {"chunk 0 size 0", 29, 4, 0, P2P_ERR_DECODE, true},
        {"chunk 0 size above chunk_bytes", 29, 4, 65, P2P_ERR_DECODE, true},
        {"chunk 1 size 63 (sum short)", 29 + 36, 4, 63, P2P_ERR_DECODE, true},
        {"chunk 2 size 11 (sum long)", 29 + 72, 4, 11, P2P_ERR_DECODE, true},
        {"chunk 2 size 2^32 - 1", 29 + 72, 4, UINT32_MAX, P2P_ERR_DECODE, true},
    };
    static const uint32_t sizes[] = {64, 64, 10};
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    build_sized(&m, &mem, 5, 64, sizes, 3, 11);
    size_t len;
    uint8_t *b = encode(&m, &len);
    for (size_t t = 0; t < sizeof(table) / sizeof(table[0]); t++) {
        uint8_t *x = malloc(len);
        memcpy(x, b, len);
        const struct mutation *mu = &table[t];
        if (mu->width == 1)
            x[mu->offset] = (uint8_t)mu->value;
        else if (mu->width == 4)
            put32(x + mu->offset, (uint32_t)mu->value);
        else
            put64(x + mu->offset, mu->value);
        struct p2p_mem dmem;
        p2p_mem_init(&dmem);
        struct p2p_state_manifest d;
        int rc = p2p_state_manifest_decode(&d, &dmem, MOD, x, len);
        ck_assert_msg(rc == mu->rc, "%s: got %d want %d", mu->name, rc, mu->rc);
        ck_assert_msg(dmem.allocs == (mu->allocates ? 1u : 0u), "%s: %llu allocations",
                      mu->name, (unsigned long long)dmem.allocs);
        ck_assert_uint_eq(dmem.bytes, 0);
        free(x);
    }
    free(b);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(every_byte_flip_rejected_or_changes_root)
{
    static const uint32_t sizes[] = {64, 64, 10};
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    build_sized(&m, &mem, 5, 64, sizes, 3, 11);
    struct p2p_state_hash root;
    p2p_state_manifest_root(&m, &root);
    size_t len;
    uint8_t *b = encode(&m, &len);
    size_t accepted = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bitno = 0; bitno < 8; bitno++) {
            b[i] ^= (uint8_t)(1u << bitno);
            struct p2p_state_manifest d;
            int rc = p2p_state_manifest_decode(&d, &mem, MOD, b, len);
            if (rc == 0) {
                accepted++;
                ck_assert_int_eq(p2p_state_manifest_verify(&d, &root), P2P_ERR_ID_MISMATCH);
                p2p_state_manifest_fini(&d);
            } else {
                ck_assert(rc == P2P_ERR_DECODE || rc == P2P_ERR_OVERSIZE);
            }
            b[i] ^= (uint8_t)(1u << bitno);
        }
    }
    /* Height and hash bits decode (and change the root); most others not. */
    ck_assert_uint_ge(accepted, 8 * (8 + 3 * 32));
    free(b);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(chunks_count_at_limit_and_limit_plus_one)
{
    /* An encoding of P2P_STATE_CHUNKS_MAX one-byte chunks (36 MiB). */
    size_t len = P2P_STATE_MANIFEST_BYTES_MAX;
    uint8_t *b = calloc(1, len + 36);
    memcpy(b, "p2sm", 4);
    b[4] = 1;
    put32(b + 13, 1);
    put64(b + 17, P2P_STATE_CHUNKS_MAX);
    put32(b + 25, P2P_STATE_CHUNKS_MAX);
    for (uint32_t i = 0; i < P2P_STATE_CHUNKS_MAX; i++)
        put32(b + 29 + (size_t)i * 36, 1);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest d;
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len), 0);
    ck_assert_uint_eq(d.chunks_count, P2P_STATE_CHUNKS_MAX);
    /* Allocated no more than the input announced. */
    ck_assert_uint_le(mem.bytes, len);
    p2p_state_manifest_fini(&d);
    ck_assert_uint_eq(mem.bytes, 0);
    /* One more chunk: refused from the header, with nothing allocated. */
    put32(b + 25, P2P_STATE_CHUNKS_MAX + 1);
    put64(b + 17, P2P_STATE_CHUNKS_MAX + 1);
    put32(b + 29 + (size_t)P2P_STATE_CHUNKS_MAX * 36, 1);
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len + 36), P2P_ERR_OVERSIZE);
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len), P2P_ERR_OVERSIZE);
    ck_assert_uint_eq(mem.allocs, 1);
    free(b);

    /* build_blob at the limit and one chunk past it. */
    uint8_t *state = malloc(P2P_STATE_CHUNKS_MAX + 1);
    fill(state, P2P_STATE_CHUNKS_MAX + 1, 4);
    struct p2p_state_manifest m;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 1, state,
                                                   P2P_STATE_CHUNKS_MAX), 0);
    ck_assert_uint_eq(m.chunks_count, P2P_STATE_CHUNKS_MAX);
    ck_assert_uint_eq(p2p_state_manifest_encoded_len(&m), P2P_STATE_MANIFEST_BYTES_MAX);
    p2p_state_manifest_fini(&m);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 1, state,
                                                   P2P_STATE_CHUNKS_MAX + 1),
                     P2P_ERR_OVERSIZE);
    free(state);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(chunk_bytes_at_limit_and_limit_plus_one)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    size_t n = P2P_STATE_CHUNK_BYTES_MAX + 1;
    uint8_t *big = malloc(n);
    fill(big, n, 5);
    struct p2p_state_chunk_bytes at = {big, n - 1}, over = {big, n};
    struct p2p_state_manifest m, d;
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 1, P2P_STATE_CHUNK_BYTES_MAX,
                                              &at, 1), 0);
    size_t len;
    uint8_t *b = encode(&m, &len);
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len), 0);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&d, 0, big, n - 1), 0);
    p2p_state_manifest_fini(&d);
    p2p_state_manifest_fini(&m);
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 1, P2P_STATE_CHUNK_BYTES_MAX + 1,
                                              &over, 1), P2P_ERR_OVERSIZE);
    ck_assert_int_eq(p2p_state_manifest_build(&m, &mem, MOD, 1, P2P_STATE_CHUNK_BYTES_MAX,
                                              &over, 1), P2P_ERR_INVALID_ARG);
    /* The same encoding with chunk_bytes and the chunk one byte larger. */
    put32(b + 13, P2P_STATE_CHUNK_BYTES_MAX + 1);
    put64(b + 17, n);
    put32(b + 29, (uint32_t)n);
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len), P2P_ERR_OVERSIZE);
    /* Input longer than any manifest: refused before it is read. */
    uint8_t *huge = calloc(1, P2P_STATE_MANIFEST_BYTES_MAX + 1);
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, huge,
                                               P2P_STATE_MANIFEST_BYTES_MAX + 1),
                     P2P_ERR_OVERSIZE);
    free(huge);
    free(b);
    free(big);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* ---- manifest chunks and the meta-manifest ---- */

/* 40,000 chunks of one byte: an encoding of 1,440,029 bytes, cut into
 * two manifest chunks (1 MiB and 391,453 bytes). encode_range gives each
 * piece without the whole encoding; their hashes are the meta-manifest's;
 * the meta-manifest round-trips byte for byte and its SHA-256 is the root,
 * with or without the decoded manifest. */
START_TEST(manifest_cut_into_manifest_chunks)
{
    enum { N = 40000 };
    static uint8_t blob[N];
    fill(blob, N, 3);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 8, 1, blob,
                                                   N),
                     0);
    size_t len;
    uint8_t *b = encode(&m, &len);
    ck_assert_uint_eq(len, 1440029);
    struct p2p_state_meta meta;
    p2p_state_meta_of(&m, &meta);
    ck_assert_uint_eq(meta.manifest_bytes, len);
    ck_assert_uint_eq(meta.chunks_count, 2);
    ck_assert_uint_eq(p2p_state_meta_chunk_size(&meta, 0), 1u << 20);
    ck_assert_uint_eq(p2p_state_meta_chunk_size(&meta, 1), len - (1u << 20));
    uint8_t *piece = malloc(1u << 20);
    for (uint32_t k = 0; k < 2; k++) {
        size_t at = (size_t)k << 20, n = p2p_state_meta_chunk_size(&meta, k);
        ck_assert_int_eq(p2p_state_manifest_encode_range(&m, at, piece, n), 0);
        ck_assert_mem_eq(piece, b + at, n);
        struct p2p_state_hash h;
        p2p_state_hash_of(piece, n, &h);
        ck_assert(p2p_state_hash_eq(&h, &meta.chunks[k]));
    }
    /* Any slice, across the header and entries. */
    ck_assert_int_eq(p2p_state_manifest_encode_range(&m, 17, piece, 100), 0);
    ck_assert_mem_eq(piece, b + 17, 100);
    ck_assert_int_eq(p2p_state_manifest_encode_range(&m, len, piece, 0), 0);
    ck_assert_int_eq(p2p_state_manifest_encode_range(&m, len - 1, piece, 2),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_state_manifest_encode_range(&m, len + 1, piece, 0),
                     P2P_ERR_INVALID_ARG);
    uint8_t menc[P2P_STATE_META_BYTES_MAX];
    size_t mlen = p2p_state_meta_encoded_len(&meta);
    ck_assert_uint_eq(mlen, 9 + 2 * 32);
    ck_assert_int_eq(p2p_state_meta_encode(&meta, menc, mlen - 1),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_state_meta_encode(&meta, menc, mlen), 0);
    struct p2p_state_meta back;
    ck_assert_int_eq(p2p_state_meta_decode(&back, menc, mlen), 0);
    ck_assert_uint_eq(back.manifest_bytes, meta.manifest_bytes);
    ck_assert_uint_eq(back.chunks_count, 2);
    ck_assert_mem_eq(back.chunks, meta.chunks, 2 * sizeof(meta.chunks[0]));
    struct p2p_state_hash root, want, of_enc;
    p2p_state_manifest_root(&m, &root);
    p2p_state_hash_of(menc, mlen, &want);
    ck_assert(p2p_state_hash_eq(&root, &want));
    ck_assert_int_eq(p2p_state_manifest_root_of_encoding(b, len, &of_enc), 0);
    ck_assert(p2p_state_hash_eq(&root, &of_enc));
    ck_assert_int_eq(p2p_state_manifest_root_of_encoding(
                         b, P2P_STATE_MANIFEST_BYTES_MAX + 1, &of_enc),
                     P2P_ERR_OVERSIZE);
    free(piece);
    free(b);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* A meta-manifest of manifest_bytes with its chunk hashes all 0x11 (a
 * valid shape), into buf; returns its length. */
static size_t meta_bytes(uint8_t *buf, uint32_t manifest_bytes)
{
    uint32_t k = (uint32_t)((manifest_bytes + (1u << 20) - 1) >> 20);
    memcpy(buf, "p2mm", 4);
    buf[4] = 1;
    put32(buf + 5, manifest_bytes);
    memset(buf + 9, 0x11, (size_t)k * 32);
    return 9 + (size_t)k * 32;
}

/* The meta-manifest decoder (nothing allocated, ever): the smallest and
 * largest manifests at the limit and one past it, every truncation and
 * one byte more, wrong magic and version. */
START_TEST(meta_manifest_decode_limits)
{
    static uint8_t buf[P2P_STATE_META_BYTES_MAX + 64];
    struct p2p_state_meta meta;
    size_t n = meta_bytes(buf, 29); /* an empty state's manifest */
    ck_assert_uint_eq(n, 41);
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, n), 0);
    ck_assert_uint_eq(meta.chunks_count, 1);
    n = meta_bytes(buf, 28);
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, n), P2P_ERR_DECODE);
    n = meta_bytes(buf, (uint32_t)P2P_STATE_MANIFEST_BYTES_MAX);
    ck_assert_uint_eq(n, P2P_STATE_META_BYTES_MAX);
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, n), 0);
    ck_assert_uint_eq(meta.chunks_count, P2P_STATE_MANIFEST_CHUNKS_MAX);
    ck_assert_uint_eq(P2P_STATE_MANIFEST_CHUNKS_MAX, 37);
    n = meta_bytes(buf, (uint32_t)P2P_STATE_MANIFEST_BYTES_MAX + 1);
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, n), P2P_ERR_OVERSIZE);
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf,
                                           P2P_STATE_META_BYTES_MAX + 1),
                     P2P_ERR_OVERSIZE);
    /* Two manifest chunks: every truncation, one byte more. */
    n = meta_bytes(buf, (1u << 20) + 1);
    ck_assert_uint_eq(n, 9 + 64);
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, n), 0);
    for (size_t cut = 0; cut < n; cut++)
        ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, cut),
                         P2P_ERR_DECODE);
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, n + 1), P2P_ERR_DECODE);
    buf[0] = 'q';
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, n), P2P_ERR_DECODE);
    buf[0] = 'p';
    buf[4] = 2;
    ck_assert_int_eq(p2p_state_meta_decode(&meta, buf, n), P2P_ERR_DECODE);
}
END_TEST

START_TEST(root_changes_with_any_chunk_hash)
{
    static const uint32_t sizes[] = {32, 32, 32, 32, 5};
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    build_sized(&m, &mem, 77, 32, sizes, 5, 21);
    struct p2p_state_hash root, other;
    p2p_state_manifest_root(&m, &root);
    ck_assert_int_eq(p2p_state_manifest_verify(&m, &root), 0);
    for (uint32_t i = 0; i < m.chunks_count; i++) {
        for (uint32_t byte = 0; byte < P2P_STATE_HASH_BYTES; byte++) {
            m.chunks[i].hash.b[byte] ^= 0x01;
            p2p_state_manifest_root(&m, &other);
            ck_assert(!p2p_state_hash_eq(&root, &other));
            ck_assert_int_eq(p2p_state_manifest_verify(&m, &root), P2P_ERR_ID_MISMATCH);
            m.chunks[i].hash.b[byte] ^= 0x01;
        }
    }
    /* Two chunks swapped: same set of hashes, different root. */
    struct p2p_state_chunk tmp = m.chunks[0];
    m.chunks[0] = m.chunks[1];
    m.chunks[1] = tmp;
    p2p_state_manifest_root(&m, &other);
    ck_assert(!p2p_state_hash_eq(&root, &other));
    m.chunks[1] = m.chunks[0];
    m.chunks[0] = tmp;
    m.height++;
    ck_assert_int_eq(p2p_state_manifest_verify(&m, &root), P2P_ERR_ID_MISMATCH);
    m.height--;
    ck_assert_int_eq(p2p_state_manifest_verify(&m, &root), 0);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(chunk_verification)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t state[300];
    fill(state, sizeof(state), 8);
    struct p2p_state_manifest m;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 128, state, 300), 0);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 0, state, 128), 0);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 2, state + 256, 44), 0);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 0, state, 127), P2P_ERR_ID_MISMATCH);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 2, state + 256, 45), P2P_ERR_ID_MISMATCH);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 1, state, 128), P2P_ERR_ID_MISMATCH);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 1, NULL, 128), P2P_ERR_ID_MISMATCH);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 3, state, 128), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, UINT32_MAX, state, 1), P2P_ERR_INVALID_ARG);
    for (size_t i = 0; i < 128; i++) {
        state[128 + i] ^= 0x80;
        ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 1, state + 128, 128),
                         P2P_ERR_ID_MISMATCH);
        state[128 + i] ^= 0x80;
    }
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(&m, 1, state + 128, 128), 0);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(diff_finds_identical_chunks)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    enum { N = 20, CB = 64 };
    uint8_t prev_state[N * CB], next_state[(N + 2) * CB];
    fill(prev_state, sizeof(prev_state), 30);
    /* Chunk 3 of prev appears twice there (so the lowest index wins). */
    memcpy(prev_state + 9 * CB, prev_state + 3 * CB, CB);
    /* next: prev with chunk 5 changed, chunks 7 and 8 swapped, two new
     * chunks appended, and chunk 12 replaced by prev's chunk 3. */
    memcpy(next_state, prev_state, sizeof(prev_state));
    next_state[5 * CB] ^= 1;
    memcpy(next_state + 7 * CB, prev_state + 8 * CB, CB);
    memcpy(next_state + 8 * CB, prev_state + 7 * CB, CB);
    fill(next_state + N * CB, 2 * CB, 31);
    memcpy(next_state + 12 * CB, prev_state + 3 * CB, CB);
    struct p2p_state_manifest prev, next;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&prev, &mem, MOD, 10, CB, prev_state,
                                                   sizeof(prev_state)), 0);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&next, &mem, MOD, 11, CB, next_state,
                                                   sizeof(next_state)), 0);
    uint32_t from[N + 2];
    ck_assert_int_eq(p2p_state_manifest_diff(&prev, &next, &mem, MOD, from), N - 1);
    for (uint32_t i = 0; i < N + 2; i++) {
        uint32_t want = i;
        if (i == 5 || i >= N)
            want = P2P_STATE_CHUNK_NONE;
        else if (i == 7)
            want = 8;
        else if (i == 8)
            want = 7;
        else if (i == 9 || i == 12)
            want = 3;
        ck_assert_msg(from[i] == want, "chunk %u: %u, want %u", i, from[i], want);
    }
    /* Against itself: every chunk, each at its own index or an equal one. */
    ck_assert_int_eq(p2p_state_manifest_diff(&next, &next, &mem, MOD, from), N + 2);
    /* Against nothing. */
    struct p2p_state_manifest none;
    p2p_state_manifest_init(&none);
    ck_assert_int_eq(p2p_state_manifest_diff(&none, &next, &mem, MOD, from), 0);
    for (uint32_t i = 0; i < N + 2; i++)
        ck_assert_uint_eq(from[i], P2P_STATE_CHUNK_NONE);
    ck_assert_int_eq(p2p_state_manifest_diff(&next, &none, &mem, MOD, from), 0);
    p2p_state_manifest_fini(&prev);
    p2p_state_manifest_fini(&next);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(diff_matches_size_as_well_as_hash)
{
    /* A last chunk that is a prefix of a full one hashes differently; the
     * size is compared as well, so a forged equal hash with another size
     * would not match either. */
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest a, b;
    static const uint32_t sizes[] = {16, 16};
    build_sized(&a, &mem, 1, 16, sizes, 2, 40);
    build_sized(&b, &mem, 2, 16, sizes, 2, 40);
    b.chunks[1].size = 15; /* same hash, other size */
    uint32_t from[2];
    ck_assert_int_eq(p2p_state_manifest_diff(&a, &b, &mem, MOD, from), 1);
    ck_assert_uint_eq(from[0], 0);
    ck_assert_uint_eq(from[1], P2P_STATE_CHUNK_NONE);
    p2p_state_manifest_fini(&a);
    p2p_state_manifest_fini(&b);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(allocation_failures)
{
    static const uint32_t sizes[] = {8, 8, 3};
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m, d;
    build_sized(&m, &mem, 1, 8, sizes, 3, 50);
    size_t len;
    uint8_t *b = encode(&m, &len);
    uint8_t state[19];
    fill(state, sizeof(state), 51);
    uint32_t from[3];
    /* Each operation allocates once: fail it, then let it through. */
    mem.fail_at = mem.allocs + 1;
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len), P2P_ERR_NOMEM);
    ck_assert_ptr_null(d.chunks);
    p2p_state_manifest_fini(&d);
    mem.fail_at = mem.allocs + 1;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&d, &mem, MOD, 1, 8, state, 19), P2P_ERR_NOMEM);
    mem.fail_at = mem.allocs + 1;
    struct p2p_state_chunk_bytes c = {state, 8};
    ck_assert_int_eq(p2p_state_manifest_build(&d, &mem, MOD, 1, 8, &c, 1), P2P_ERR_NOMEM);
    mem.fail_at = mem.allocs + 1;
    ck_assert_int_eq(p2p_state_manifest_diff(&m, &m, &mem, MOD, from), P2P_ERR_NOMEM);
    ck_assert_uint_eq(mem.bytes, mem.module_bytes[MOD]);
    mem.fail_at = 0;
    ck_assert_int_eq(p2p_state_manifest_decode(&d, &mem, MOD, b, len), 0);
    ck_assert_int_eq(p2p_state_manifest_diff(&m, &d, &mem, MOD, from), 3);
    p2p_state_manifest_fini(&d);
    p2p_state_manifest_fini(&m);
    free(b);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("state_manifest");
    TCase *enc = tcase_create("encoding");
    tcase_add_test(enc, golden_encoding);
    tcase_add_test(enc, round_trip_is_byte_identical);
    tcase_add_test(enc, empty_state_round_trip);
    tcase_add_test(enc, blob_is_cut_into_chunks);
    tcase_add_test(enc, build_rejects_bad_arguments);
    suite_add_tcase(s, enc);
    TCase *dec = tcase_create("hostile_input");
    tcase_add_test(dec, every_truncation_and_extension_rejected);
    tcase_add_test(dec, mutated_encodings_rejected);
    tcase_add_test(dec, every_byte_flip_rejected_or_changes_root);
    tcase_add_test(dec, chunks_count_at_limit_and_limit_plus_one);
    tcase_add_test(dec, chunk_bytes_at_limit_and_limit_plus_one);
    suite_add_tcase(s, dec);
    TCase *ver = tcase_create("verify_and_diff");
    tcase_add_test(ver, manifest_cut_into_manifest_chunks);
    tcase_add_test(ver, meta_manifest_decode_limits);
    tcase_add_test(ver, root_changes_with_any_chunk_hash);
    tcase_add_test(ver, chunk_verification);
    tcase_add_test(ver, diff_finds_identical_chunks);
    tcase_add_test(ver, diff_matches_size_as_well_as_hash);
    tcase_add_test(ver, allocation_failures);
    suite_add_tcase(s, ver);
    return h_run_suite(s);
}
