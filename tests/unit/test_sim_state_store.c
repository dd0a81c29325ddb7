/* The simulator's synthetic states and node state store: determinism per
 * seed, churn at 0, 5 % and 100 %, the compressible share at 0, 50 and
 * 100 %, chunk bytes against the manifest (short
 * last chunk, the largest chunk), a jump of many heights equal to single
 * steps, the window at its edge, init limits at limit and limit + 1; the
 * store's callbacks (latest, serving and corrupting chunks, a sync with a
 * resume and reuse through the held state, a bogus completion, the bounded
 * partial set) and an allocation-failure walk. Every test ends with no
 * byte left allocated. */
#include "harness.h"

#include "sim/state_store.h"

#define PPM_5 50000u
#define PPM_20 200000u

static void states_init(struct sim_states *s, struct p2p_mem *mem, uint64_t seed,
                        uint64_t size, uint32_t chunk, uint32_t churn_ppm)
{
    const struct sim_states_cfg cfg = {seed, size, chunk, churn_ppm, 0};
    ck_assert_int_eq(sim_states_init(s, mem, &cfg), 0);
}

static const struct p2p_state_manifest *get(struct sim_states *s, uint64_t h,
                                            struct p2p_state_hash *root)
{
    const struct p2p_state_manifest *m = NULL;
    struct p2p_state_hash r;
    ck_assert_int_eq(sim_states_get(s, h, &m, root != NULL ? root : &r), 0);
    ck_assert_uint_eq(m->height, h);
    return m;
}

static bool chunk_same(const struct p2p_state_manifest *a,
                       const struct p2p_state_manifest *b, uint32_t i)
{
    return a->chunks[i].size == b->chunks[i].size &&
           p2p_state_hash_eq(&a->chunks[i].hash, &b->chunks[i].hash);
}

static uint32_t count_changed(const struct p2p_state_manifest *a,
                              const struct p2p_state_manifest *b)
{
    ck_assert_uint_eq(a->chunks_count, b->chunks_count);
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->chunks_count; i++)
        n += !chunk_same(a, b, i);
    return n;
}

START_TEST(same_seed_same_roots_other_seed_other_roots)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states a, b, c;
    states_init(&a, &mem, 7, 10000, 256, PPM_5);
    states_init(&b, &mem, 7, 10000, 256, PPM_5);
    states_init(&c, &mem, 8, 10000, 256, PPM_5);
    for (uint64_t h = 1; h <= 20; h++) {
        struct p2p_state_hash ra, rb, rc;
        const struct p2p_state_manifest *ma = get(&a, h, &ra);
        get(&b, h, &rb);
        get(&c, h, &rc);
        ck_assert(p2p_state_hash_eq(&ra, &rb));
        ck_assert(!p2p_state_hash_eq(&ra, &rc));
        ck_assert_int_eq(p2p_state_manifest_verify(ma, &ra), 0);
        ck_assert_uint_eq(ma->chunks_count, 40); /* 39 x 256 + 16 */
        ck_assert_uint_eq(ma->total_bytes, 10000);
        ck_assert_uint_eq(ma->chunk_bytes, 256);
        for (uint32_t i = 0; i < ma->chunks_count; i++) /* all distinct */
            for (uint32_t j = i + 1; j < ma->chunks_count; j++)
                ck_assert(!p2p_state_hash_eq(&ma->chunks[i].hash, &ma->chunks[j].hash));
    }
    sim_states_fini(&a);
    sim_states_fini(&b);
    sim_states_fini(&c);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(churn_zero_keeps_chunks_but_not_the_root)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 1, 5000, 100, 0);
    struct p2p_state_hash r1, r2;
    const struct p2p_state_manifest *m1 = get(&s, 1, &r1);
    ck_assert_uint_eq(s.bytes_hashed, 5000);
    const struct p2p_state_manifest *m2 = get(&s, 2, &r2);
    ck_assert_uint_eq(count_changed(m1, m2), 0);
    ck_assert_uint_eq(s.bytes_hashed, 5000); /* nothing re-hashed */
    ck_assert(!p2p_state_hash_eq(&r1, &r2));  /* the height is in it */
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(churn_full_changes_every_chunk)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 2, 5000, 100, SIM_STATE_CHURN_PPM_MAX);
    const struct p2p_state_manifest *prev = get(&s, 1, NULL);
    for (uint64_t h = 2; h <= 5; h++) {
        const struct p2p_state_manifest *m = get(&s, h, NULL);
        ck_assert_uint_eq(count_changed(prev, m), 50);
        prev = m;
    }
    ck_assert_uint_eq(s.bytes_hashed, 5 * 5000);
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(churn_5_percent_changes_about_5_percent)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 3, 64000, 64, PPM_5); /* 1000 chunks */
    const struct p2p_state_manifest *prev = get(&s, 1, NULL);
    uint32_t total = 0;
    for (uint64_t h = 2; h <= 10; h++) {
        uint64_t hashed = s.bytes_hashed;
        const struct p2p_state_manifest *m = get(&s, h, NULL);
        uint32_t n = count_changed(prev, m);
        ck_assert_msg(n >= 20 && n <= 100, "height %llu: %u of 1000 changed",
                      (unsigned long long)h, n);
        ck_assert_uint_eq(s.bytes_hashed - hashed, 64u * n); /* only those */
        total += n;
        prev = m;
    }
    ck_assert_msg(total >= 315 && total <= 585, "%u of 9000 changed", total);
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Every chunk of heights 1..heights hashes to its manifest entry. */
static void check_chunks(struct sim_states *s, uint64_t heights)
{
    uint8_t *buf = malloc(s->chunk_len_max);
    for (uint64_t h = 1; h <= heights; h++) {
        const struct p2p_state_manifest *m = get(s, h, NULL);
        for (uint32_t i = 0; i < m->chunks_count; i++) {
            size_t len = 0;
            ck_assert_int_eq(sim_states_chunk(s, h, i, buf, s->chunk_len_max, &len), 0);
            ck_assert_uint_eq(len, m->chunks[i].size);
            ck_assert_int_eq(p2p_state_manifest_verify_chunk(m, i, buf, len), 0);
        }
    }
    free(buf);
}

START_TEST(chunk_bytes_hash_to_the_manifest)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 4, 1000, 64, 300000); /* 15 x 64 + 40 */
    check_chunks(&s, 5);
    const struct p2p_state_manifest *m = get(&s, 5, NULL);
    ck_assert_uint_eq(m->chunks_count, 16);
    ck_assert_uint_eq(m->chunks[15].size, 40);
    uint8_t buf[64];
    size_t len = 0;
    ck_assert_int_eq(sim_states_chunk(&s, 5, 15, buf, 40, &len), 0); /* cap = size */
    ck_assert_uint_eq(len, 40);
    ck_assert_int_eq(sim_states_chunk(&s, 5, 15, buf, 39, &len), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_states_chunk(&s, 5, 0, buf, 63, &len), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_states_chunk(&s, 5, 16, buf, 64, &len), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_states_chunk(&s, 6, 0, buf, 64, &len), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(sim_states_chunk(&s, 0, 0, buf, 64, &len), P2P_ERR_NOT_FOUND);
    sim_states_fini(&s);
    /* One chunk smaller than chunk_bytes; and the largest chunk allowed. */
    states_init(&s, &mem, 4, 100, P2P_STATE_CHUNK_BYTES_DEFAULT, PPM_5);
    ck_assert_uint_eq(s.chunks_count, 1);
    ck_assert_uint_eq(s.chunk_len_max, 100);
    check_chunks(&s, 2);
    sim_states_fini(&s);
    states_init(&s, &mem, 4, P2P_STATE_CHUNK_BYTES_MAX + 100,
                P2P_STATE_CHUNK_BYTES_MAX, 0);
    check_chunks(&s, 1);
    ck_assert_uint_eq(get(&s, 1, NULL)->chunks[1].size, 100);
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* The compressible share of a chunk is zeros at its end, the rest is
 * its header and random bytes: 0 % has no zero run, 50 % has the second
 * half zero and a first half of distinct words, 100 % all but the
 * header.
 * Above 100 % is refused. */
static const uint32_t compressible_cases[] = {0, 500000, 1000000};

START_TEST(compressible_share_is_zeros)
{
    uint32_t ppm = compressible_cases[_i];
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    const struct sim_states_cfg cfg = {9, 8192, 4096, 0, ppm};
    ck_assert_int_eq(sim_states_init(&s, &mem, &cfg), 0);
    check_chunks(&s, 1);
    static uint8_t buf[4096];
    size_t len;
    ck_assert_int_eq(sim_states_chunk(&s, 1, 1, buf, sizeof(buf), &len), 0);
    ck_assert_uint_eq(len, 4096);
    /* The 24-byte header (index, version, seed) is never zeroed. */
    size_t zeros = (size_t)len * ppm / 1000000;
    zeros = zeros < len - 24 ? zeros : len - 24;
    for (size_t k = len - zeros; k < len; k++)
        ck_assert_uint_eq(buf[k], 0);
    ck_assert_uint_eq(buf[0], 1); /* chunk index 1, little-endian */
    /* Random words: no two adjacent 8-byte words alike, none all zero. */
    for (size_t k = 24; k + 16 <= len - zeros; k += 8) {
        ck_assert_int_ne(memcmp(buf + k, buf + k + 8, 8), 0);
        static const uint8_t zero[8];
        ck_assert_int_ne(memcmp(buf + k, zero, 8), 0);
    }
    sim_states_fini(&s);
    const struct sim_states_cfg over = {9, 8192, 4096, 0, 1000001};
    ck_assert_int_eq(sim_states_init(&s, &mem, &over), P2P_ERR_INVALID_ARG);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(a_jump_equals_single_steps)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states step, from5, direct;
    states_init(&step, &mem, 5, 3000, 100, PPM_20);
    states_init(&from5, &mem, 5, 3000, 100, PPM_20);
    states_init(&direct, &mem, 5, 3000, 100, PPM_20);
    for (uint64_t h = 1; h <= 40; h++)
        get(&step, h, NULL);
    get(&from5, 5, NULL);
    get(&from5, 36, NULL); /* 21 is built first, in height 5's slot */
    get(&from5, 40, NULL);
    get(&direct, 40, NULL);
    ck_assert_uint_lt(direct.bytes_hashed, step.bytes_hashed);
    uint8_t a[100], b[100];
    for (uint64_t h = 25; h <= 40; h++) {
        struct p2p_state_hash r1, r2, r3;
        get(&step, h, &r1);
        get(&from5, h, &r2);
        get(&direct, h, &r3);
        ck_assert(p2p_state_hash_eq(&r1, &r2));
        ck_assert(p2p_state_hash_eq(&r1, &r3));
        size_t la, lb;
        uint32_t i = (uint32_t)(h % 30);
        ck_assert_int_eq(sim_states_chunk(&step, h, i, a, 100, &la), 0);
        ck_assert_int_eq(sim_states_chunk(&direct, h, i, b, 100, &lb), 0);
        ck_assert_mem_eq(a, b, 100);
    }
    const struct p2p_state_manifest *m;
    struct p2p_state_hash r;
    ck_assert_int_eq(sim_states_get(&direct, 24, &m, &r), P2P_ERR_NOT_FOUND);
    sim_states_fini(&step);
    sim_states_fini(&from5);
    sim_states_fini(&direct);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(window_drops_heights_below_it)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 6, 1000, 64, PPM_20);
    const struct p2p_state_manifest *m;
    struct p2p_state_hash r, r2;
    ck_assert_int_eq(sim_states_get(&s, 0, &m, &r), P2P_ERR_INVALID_ARG);
    get(&s, SIM_STATE_HEIGHTS_KEPT, NULL);
    get(&s, 1, NULL); /* the oldest kept */
    const struct p2p_state_manifest *m2 = get(&s, 2, &r2);
    get(&s, SIM_STATE_HEIGHTS_KEPT + 1, NULL);
    uint8_t buf[64];
    size_t len;
    ck_assert_int_eq(sim_states_get(&s, 1, &m, &r), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(sim_states_chunk(&s, 1, 0, buf, 64, &len), P2P_ERR_NOT_FOUND);
    ck_assert_ptr_eq(get(&s, 2, &r), m2); /* still valid, unchanged */
    ck_assert(p2p_state_hash_eq(&r, &r2));
    ck_assert_int_eq(p2p_state_manifest_verify(m2, &r2), 0);
    ck_assert_int_eq(sim_states_chunk(&s, 2, 0, buf, 64, &len), 0);
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(init_limits)
{
    static const struct {
        uint64_t size;
        uint32_t chunk, churn;
        int rc;
    } cases[] = {
        {0, 64, 0, P2P_ERR_INVALID_ARG},
        {100, 0, 0, P2P_ERR_INVALID_ARG},
        {100, 64, SIM_STATE_CHURN_PPM_MAX, 0},
        {100, 64, SIM_STATE_CHURN_PPM_MAX + 1, P2P_ERR_INVALID_ARG},
        {100, P2P_STATE_CHUNK_BYTES_MAX, 0, 0},
        {100, P2P_STATE_CHUNK_BYTES_MAX + 1, 0, P2P_ERR_OVERSIZE},
        {P2P_STATE_CHUNKS_MAX, 1, 0, 0},
        {P2P_STATE_CHUNKS_MAX + 1ULL, 1, 0, P2P_ERR_OVERSIZE},
        {(uint64_t)P2P_STATE_CHUNKS_MAX * 64, 64, 0, 0},
        {(uint64_t)P2P_STATE_CHUNKS_MAX * 64 + 1, 64, 0, P2P_ERR_OVERSIZE},
    };
    for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        struct sim_states s;
        const struct sim_states_cfg cfg = {1, cases[t].size, cases[t].chunk,
                                           cases[t].churn, 0};
        int rc = sim_states_init(&s, &mem, &cfg);
        ck_assert_msg(rc == cases[t].rc, "case %zu: %d", t, rc);
        if (rc != 0)
            ck_assert_uint_eq(mem.bytes, 0);
        sim_states_fini(&s);
        ck_assert_uint_eq(mem.bytes, 0);
    }
}
END_TEST

START_TEST(store_latest_and_served_chunks)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 9, 1000, 64, PPM_20);
    struct sim_state_store st;
    ck_assert_int_eq(sim_state_store_init(&st, &s, &mem), 0);
    const struct p2p_state_store_ops *ops = &sim_state_store_ops;
    struct p2p_state_hash r2, r3, got;
    ck_assert_ptr_null(ops->latest(&st, &got));
    get(&s, 2, &r2);
    const struct p2p_state_manifest *m3 = get(&s, 3, &r3);
    const uint8_t *bytes;
    size_t len;
    ck_assert_int_eq(ops->chunk(&st, 3, &r3, 0, &bytes, &len), P2P_ERR_NOT_FOUND);
    sim_state_store_set_height(&st, 3);
    ck_assert_ptr_eq(ops->latest(&st, &got), m3);
    ck_assert(p2p_state_hash_eq(&got, &r3));
    for (uint32_t i = 0; i < 16; i++) {
        ck_assert_int_eq(ops->chunk(&st, 3, &r3, i, &bytes, &len), 0);
        ck_assert_uint_eq(len, i == 15 ? 40 : 64);
        ck_assert_int_eq(p2p_state_manifest_verify_chunk(m3, i, bytes, len), 0);
    }
    ck_assert_int_eq(ops->chunk(&st, 3, &r3, 16, &bytes, &len), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(ops->chunk(&st, 2, &r2, 0, &bytes, &len), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(ops->chunk(&st, 3, &r2, 0, &bytes, &len), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(ops->chunk(&st, 2, &r3, 0, &bytes, &len), P2P_ERR_NOT_FOUND);
    ck_assert_uint_eq(st.chunks_served, 16);
    st.corrupt = true;
    for (uint32_t i = 0; i < 16; i++) {
        ck_assert_int_eq(ops->chunk(&st, 3, &r3, i, &bytes, &len), 0);
        ck_assert_uint_eq(len, m3->chunks[i].size);
        ck_assert_int_eq(p2p_state_manifest_verify_chunk(m3, i, bytes, len),
                         P2P_ERR_ID_MISMATCH);
    }
    /* The held state falls out of the window: nothing served. */
    get(&s, 3 + SIM_STATE_HEIGHTS_KEPT, NULL);
    ck_assert_ptr_null(ops->latest(&st, &got));
    ck_assert_int_eq(ops->chunk(&st, 3, &r3, 0, &bytes, &len), P2P_ERR_NOT_FOUND);
    sim_state_store_fini(&st);
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Puts chunks [lo, hi) of m (its real bytes). */
static void put_range(struct sim_state_store *st, const struct p2p_state_manifest *m,
                      const struct p2p_state_hash *root, uint32_t lo, uint32_t hi)
{
    uint8_t *buf = malloc(st->states->chunk_len_max);
    for (uint32_t i = lo; i < hi; i++) {
        size_t len;
        ck_assert_int_eq(sim_states_chunk(st->states, m->height, i, buf,
                                          st->states->chunk_len_max, &len), 0);
        ck_assert_int_eq(sim_state_store_ops.put_chunk(st, m, root, i, buf, len), 0);
    }
    free(buf);
}

START_TEST(store_sync_resume_and_reuse)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 10, 1000, 64, PPM_20);
    struct sim_state_store st;
    ck_assert_int_eq(sim_state_store_init(&st, &s, &mem), 0);
    const struct p2p_state_store_ops *ops = &sim_state_store_ops;
    struct p2p_state_hash r3, r6;
    const struct p2p_state_manifest *m3 = get(&s, 3, &r3);
    for (uint32_t i = 0; i < 16; i++)
        ck_assert(!ops->has_chunk(&st, m3, &r3, i));
    put_range(&st, m3, &r3, 0, 8);
    put_range(&st, m3, &r3, 0, 1); /* a duplicate is fine, not counted */
    ck_assert_uint_eq(st.chunks_put, 8);
    ck_assert_uint_eq(st.bytes_put, 8 * 64);
    /* The store outlives a crash: a restarted sync finds the first half. */
    for (uint32_t i = 0; i < 16; i++)
        ck_assert(ops->has_chunk(&st, m3, &r3, i) == (i < 8));
    ck_assert(!ops->has_chunk(&st, m3, &r3, 16));
    /* A liar's manifest naming a held hash with another size. */
    struct p2p_state_chunk forged_table[16];
    memcpy(forged_table, m3->chunks, sizeof(forged_table));
    forged_table[0].size = 63;
    struct p2p_state_manifest forged = *m3;
    forged.chunks = forged_table;
    uint8_t buf[64] = {0};
    ck_assert(!ops->has_chunk(&st, &forged, &r3, 0));
    ck_assert_int_eq(ops->put_chunk(&st, &forged, &r3, 0, buf, 63), P2P_ERR_EXISTS);
    ck_assert_int_eq(ops->put_chunk(&st, m3, &r3, 8, buf, 63), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(ops->put_chunk(&st, m3, &r3, 16, buf, 64), P2P_ERR_INVALID_ARG);
    put_range(&st, m3, &r3, 8, 16);
    ops->complete(&st, m3, &r3);
    ck_assert_uint_eq(st.held_height, 3);
    ck_assert_uint_eq(st.completes, 1);
    ck_assert_uint_eq(st.last_complete_height, 3);
    ck_assert_uint_eq(st.partials_count, 0);
    for (uint32_t i = 0; i < 16; i++) /* now through the held state */
        ck_assert(ops->has_chunk(&st, m3, &r3, i));
    /* Height 6: the unchanged chunks are reused, the changed ones not. */
    const struct p2p_state_manifest *m6 = get(&s, 6, &r6);
    uint32_t reused = 0, missing = 0;
    for (uint32_t i = 0; i < 16; i++) {
        bool has = ops->has_chunk(&st, m6, &r6, i);
        ck_assert(has == chunk_same(m3, m6, i));
        reused += has;
        missing += !has;
    }
    ck_assert_uint_gt(reused, 0);
    ck_assert_uint_gt(missing, 0);
    sim_state_store_fini(&st);
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(store_complete_with_a_bogus_root)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 11, 1000, 64, PPM_20);
    struct sim_state_store st;
    ck_assert_int_eq(sim_state_store_init(&st, &s, &mem), 0);
    const struct p2p_state_store_ops *ops = &sim_state_store_ops;
    struct p2p_state_hash r2, r3, bogus;
    get(&s, 2, &r2);
    const struct p2p_state_manifest *m3 = get(&s, 3, &r3);
    put_range(&st, m3, &r3, 0, 4);
    bogus = r3;
    bogus.b[31] ^= 1;
    ops->complete(&st, m3, &bogus);
    ops->complete(&st, m3, &r2); /* another height's root */
    struct p2p_state_manifest liar = *m3;
    liar.height = UINT64_MAX / 2; /* must not build up to it */
    ops->complete(&st, &liar, &r3);
    ck_assert_uint_eq(s.newest, 3);
    ck_assert_uint_eq(st.held_height, 0);
    ck_assert_uint_eq(st.complete_errors, 3);
    ck_assert_uint_eq(st.completes, 0);
    ck_assert_uint_eq(st.last_complete_height, 0);
    ck_assert(ops->has_chunk(&st, m3, &r3, 3)); /* the partial set is kept */
    ops->complete(&st, m3, &r3);
    ck_assert_uint_eq(st.held_height, 3);
    sim_state_store_fini(&st);
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(store_partial_set_is_bounded)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct sim_states s;
    states_init(&s, &mem, 12, 1000, 64, PPM_20);
    struct sim_state_store st;
    ck_assert_int_eq(sim_state_store_init(&st, &s, &mem), 0);
    const struct p2p_state_store_ops *ops = &sim_state_store_ops;
    struct p2p_state_hash r3, r5;
    const struct p2p_state_manifest *m3 = get(&s, 3, &r3);
    put_range(&st, m3, &r3, 0, 16); /* full, never completed */
    ck_assert_uint_eq(st.partials_count, 16);
    /* The target moves on to height 5: its changed chunks push out m3's
     * chunks that m5 does not have; the shared ones stay. */
    const struct p2p_state_manifest *m5 = get(&s, 5, &r5);
    uint32_t changed = count_changed(m3, m5);
    ck_assert_uint_gt(changed, 0);
    for (uint32_t i = 0; i < 16; i++)
        if (!ops->has_chunk(&st, m5, &r5, i))
            put_range(&st, m5, &r5, i, i + 1);
    ck_assert_uint_eq(st.partials_evicted, changed);
    for (uint32_t i = 0; i < 16; i++) {
        ck_assert(ops->has_chunk(&st, m5, &r5, i));
        ck_assert(ops->has_chunk(&st, m3, &r3, i) == chunk_same(m3, m5, i));
    }
    /* A manifest with one chunk more than the states (a liar's): its 17th
     * chunk finds the set full of its own chunks. */
    struct p2p_state_chunk table[17];
    struct p2p_state_manifest big = {.height = 5, .chunk_bytes = 64,
                                     .total_bytes = 17 * 64, .chunks_count = 17,
                                     .chunks = table};
    uint8_t bytes[64] = {0};
    for (uint32_t i = 0; i < 17; i++) {
        bytes[0] = (uint8_t)i;
        table[i].size = 64;
        p2p_state_hash_of(bytes, 64, &table[i].hash);
    }
    for (uint32_t i = 0; i < 16; i++)
        ck_assert_int_eq(ops->put_chunk(&st, &big, &r5, i, bytes, 64), 0);
    ck_assert_int_eq(ops->put_chunk(&st, &big, &r5, 16, bytes, 64), P2P_ERR_LIMIT);
    ck_assert_uint_eq(st.partials_count, 16);
    ck_assert_uint_eq(st.partial_by_hash.count, 16);
    ck_assert(!ops->has_chunk(&st, &big, &r5, 16));
    ck_assert(ops->has_chunk(&st, &big, &r5, 15));
    ck_assert(!ops->has_chunk(&st, m5, &r5, 0));
    sim_state_store_fini(&st);
    sim_states_fini(&s);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* One pass of everything that allocates; stops at the first NOMEM. */
static int alloc_pass(struct p2p_mem *mem)
{
    struct sim_states s;
    struct sim_state_store st;
    const struct p2p_state_manifest *m = NULL;
    struct p2p_state_hash r;
    const struct sim_states_cfg cfg = {13, 300000, 1000, PPM_20, 0};
    int rc = sim_states_init(&s, mem, &cfg);
    if (rc != 0)
        return rc;
    rc = sim_state_store_init(&st, &s, mem);
    if (rc != 0)
        goto fail_states;
    for (uint64_t h = 1; h <= 40 && rc == 0; h += 13)
        rc = sim_states_get(&s, h, &m, &r);
    uint8_t buf[1000];
    for (uint32_t i = 0; rc == 0 && i < m->chunks_count; i++) {
        size_t len;
        ck_assert_int_eq(sim_states_chunk(&s, m->height, i, buf, sizeof(buf), &len), 0);
        rc = sim_state_store_ops.put_chunk(&st, m, &r, i, buf, len);
    }
    if (rc == 0) {
        sim_state_store_ops.complete(&st, m, &r);
        ck_assert_uint_eq(st.held_height, 40);
    }
    sim_state_store_fini(&st);
fail_states:
    sim_states_fini(&s);
    return rc;
}

START_TEST(allocation_failures_leak_nothing)
{
    uint64_t n;
    for (n = 1;; n++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        mem.fail_at = n;
        int rc = alloc_pass(&mem);
        ck_assert_uint_eq(mem.bytes, 0);
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, P2P_ERR_NOMEM);
    }
    ck_assert_uint_gt(n, 10);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_state_store");
    TCase *states = tcase_create("states");
    tcase_add_test(states, same_seed_same_roots_other_seed_other_roots);
    tcase_add_test(states, churn_zero_keeps_chunks_but_not_the_root);
    tcase_add_test(states, churn_full_changes_every_chunk);
    tcase_add_test(states, churn_5_percent_changes_about_5_percent);
    tcase_add_test(states, chunk_bytes_hash_to_the_manifest);
    tcase_add_loop_test(
        states, compressible_share_is_zeros, 0,
        (int)(sizeof(compressible_cases) / sizeof(compressible_cases[0])));
    tcase_add_test(states, a_jump_equals_single_steps);
    tcase_add_test(states, window_drops_heights_below_it);
    tcase_add_test(states, init_limits);
    suite_add_tcase(s, states);
    TCase *store = tcase_create("store");
    tcase_add_test(store, store_latest_and_served_chunks);
    tcase_add_test(store, store_sync_resume_and_reuse);
    tcase_add_test(store, store_complete_with_a_bogus_root);
    tcase_add_test(store, store_partial_set_is_bounded);
    tcase_add_test(store, allocation_failures_leak_nothing);
    suite_add_tcase(s, store);
    return h_run_suite(s);
}
