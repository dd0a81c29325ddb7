/* The id table (core/id_table.h) alone: one record per distinct id with a
 * reference count, the last release freeing the record (its handle the
 * next one given out) and, with the last id, the table's memory; intern
 * in two steps (find, then hold or insert); the
 * bound at the limit and one past it; every allocation failing in turn;
 * and random interning and releasing against a reference model. */
#include "harness.h"

#include "core/id_table.h"
#include "core/rng.h"

static struct p2p_artifact_id id_n(uint32_t n)
{
    struct p2p_artifact_id id = {{0}};
    memcpy(id.b + 3, &n, sizeof(n));
    id.b[0] = 0xa5;
    return id;
}

START_TEST(interning_twice_gives_one_handle_two_references)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_id_table t;
    p2p__id_table_init(&t, &mem, P2P_MEM_RECEIVER, 16, 0x77);
    struct p2p_artifact_id x = id_n(1), y = id_n(2);
    uint32_t hx, hx2, hy;
    ck_assert_int_eq(p2p__id_table_intern(&t, &x, &hx), 0);
    ck_assert_uint_eq(p2p__id_table_refs(&t, hx), 1);
    ck_assert_int_eq(p2p__id_table_intern(&t, &x, &hx2), 0);
    ck_assert_uint_eq(hx2, hx);
    ck_assert_uint_eq(p2p__id_table_refs(&t, hx), 2);
    ck_assert_int_eq(p2p__id_table_intern(&t, &y, &hy), 0);
    ck_assert_uint_ne(hy, hx);
    ck_assert_uint_eq(p2p__id_table_count(&t), 2);
    ck_assert(p2p_id_eq(p2p__id_table_id(&t, hx), &x));
    ck_assert(p2p_id_eq(p2p__id_table_id(&t, hy), &y));
    /* Charged to the module it was given. */
    ck_assert_uint_gt(mem.module_bytes[P2P_MEM_RECEIVER], 0);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_RECEIVER], mem.bytes);
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    /* One release leaves the other reference. */
    p2p__id_table_release(&t, hx);
    ck_assert_uint_eq(p2p__id_table_refs(&t, hx), 1);
    ck_assert(p2p_id_eq(p2p__id_table_id(&t, hx), &x));
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    p2p__id_table_fini(&t);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(last_release_frees_and_the_handle_is_reused)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_id_table t;
    p2p__id_table_init(&t, &mem, P2P_MEM_RECEIVER, 16, 0x77);
    struct p2p_artifact_id x = id_n(1), y = id_n(2), z = id_n(3);
    uint32_t hx, hy, hz, again;
    ck_assert_int_eq(p2p__id_table_intern(&t, &x, &hx), 0);
    ck_assert_int_eq(p2p__id_table_intern(&t, &y, &hy), 0);
    size_t held = mem.bytes;
    p2p__id_table_release(&t, hx);
    ck_assert_uint_eq(p2p__id_table_refs(&t, hx), 0);
    ck_assert_uint_eq(p2p__id_table_count(&t), 1);
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    /* x is gone from the map: interning it again is a new record... */
    ck_assert_int_eq(p2p__id_table_intern(&t, &z, &hz), 0);
    ck_assert_uint_eq(hz, hx); /* ...and the freed handle is the next one */
    ck_assert(p2p_id_eq(p2p__id_table_id(&t, hz), &z));
    ck_assert_int_eq(p2p__id_table_intern(&t, &x, &again), 0);
    ck_assert_uint_ne(again, hz);
    ck_assert_uint_ne(again, hy);
    ck_assert_uint_eq(p2p__id_table_refs(&t, again), 1);
    ck_assert_uint_eq(mem.bytes, held); /* within the first records */
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    /* Releasing every id gives every byte back; the table stays usable. */
    p2p__id_table_release(&t, hy);
    p2p__id_table_release(&t, hz);
    ck_assert_uint_gt(mem.bytes, 0);
    p2p__id_table_release(&t, again);
    ck_assert_uint_eq(mem.bytes, 0);
    ck_assert_uint_eq(p2p__id_table_count(&t), 0);
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    ck_assert_int_eq(p2p__id_table_intern(&t, &y, &hy), 0);
    ck_assert_uint_eq(p2p__id_table_refs(&t, hy), 1);
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    p2p__id_table_fini(&t);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* intern in two steps: find takes no reference, hold takes one, insert
 * adds an id with one. */
START_TEST(find_hold_and_insert)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_id_table t;
    p2p__id_table_init(&t, &mem, P2P_MEM_RECEIVER, 16, 0x77);
    struct p2p_artifact_id x = id_n(1);
    uint32_t h, found;
    ck_assert(!p2p__id_table_find(&t, &x, &found));
    ck_assert_int_eq(p2p__id_table_insert(&t, &x, &h), 0);
    ck_assert_uint_eq(p2p__id_table_refs(&t, h), 1);
    ck_assert(p2p__id_table_find(&t, &x, &found));
    ck_assert_uint_eq(found, h);
    ck_assert_uint_eq(p2p__id_table_refs(&t, h), 1);
    p2p__id_table_hold(&t, h);
    ck_assert_uint_eq(p2p__id_table_refs(&t, h), 2);
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    p2p__id_table_release(&t, h);
    p2p__id_table_release(&t, h);
    ck_assert(!p2p__id_table_find(&t, &x, &found));
    ck_assert_uint_eq(mem.bytes, 0);
    p2p__id_table_fini(&t);
}
END_TEST

/* ids_max distinct ids fit; one more is refused with the table
 * unchanged, while a held id still takes references; a release makes
 * room. */
START_TEST(bound_limit_and_limit_plus_one)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_id_table t;
    p2p__id_table_init(&t, &mem, P2P_MEM_RECEIVER, 3, 0x77);
    uint32_t h[3], got;
    for (uint32_t i = 0; i < 3; i++) {
        struct p2p_artifact_id id = id_n(i);
        ck_assert_int_eq(p2p__id_table_intern(&t, &id, &h[i]), 0);
    }
    struct p2p_artifact_id extra = id_n(7);
    size_t bytes = mem.bytes;
    ck_assert_int_eq(p2p__id_table_intern(&t, &extra, &got), P2P_ERR_LIMIT);
    ck_assert_uint_eq(p2p__id_table_count(&t), 3);
    ck_assert_uint_eq(mem.bytes, bytes);
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    struct p2p_artifact_id held = id_n(1);
    ck_assert_int_eq(p2p__id_table_intern(&t, &held, &got), 0);
    ck_assert_uint_eq(got, h[1]);
    ck_assert_uint_eq(p2p__id_table_refs(&t, h[1]), 2);
    p2p__id_table_release(&t, h[0]);
    ck_assert_int_eq(p2p__id_table_intern(&t, &extra, &got), 0);
    ck_assert_uint_eq(got, h[0]);
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    p2p__id_table_fini(&t);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

#define WALK_IDS 40 /* past the records' and the map's second growth */

/* Interning WALK_IDS ids with the N-th allocation failing, N = 1, 2, ...
 * until none fails: a refused intern is P2P_ERR_NOMEM with the table
 * unchanged, the same id goes in once memory is back, and everything is
 * given back at the end. */
START_TEST(every_allocation_failure_is_survived)
{
    for (uint64_t n = 1;; n++) {
        ck_assert_uint_lt(n, 100);
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        struct p2p_id_table t;
        p2p__id_table_init(&t, &mem, P2P_MEM_RECEIVER, 64, 0x77);
        mem.fail_at = mem.allocs + n;
        uint32_t h[WALK_IDS];
        bool failed = false;
        for (uint32_t i = 0; i < WALK_IDS; i++) {
            struct p2p_artifact_id id = id_n(i);
            int rc = p2p__id_table_intern(&t, &id, &h[i]);
            if (rc != 0) {
                ck_assert_int_eq(rc, P2P_ERR_NOMEM);
                ck_assert(!failed);
                failed = true;
                ck_assert_uint_eq(p2p__id_table_count(&t), i);
                ck_assert_int_eq(p2p__id_table_check(&t), 0);
                rc = p2p__id_table_intern(&t, &id, &h[i]); /* memory back */
            }
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(p2p__id_table_refs(&t, h[i]), 1);
        }
        ck_assert_int_eq(p2p__id_table_check(&t), 0);
        for (uint32_t i = 0; i < WALK_IDS; i++) {
            struct p2p_artifact_id id = id_n(i);
            ck_assert(p2p_id_eq(p2p__id_table_id(&t, h[i]), &id));
            p2p__id_table_release(&t, h[i]);
        }
        ck_assert_uint_eq(mem.bytes, 0);
        p2p__id_table_fini(&t);
        if (!failed)
            return; /* no allocation failed: every point was walked */
    }
}
END_TEST

#define MODEL_IDS 64

/* Random interning and releasing: every id's reference count and handle
 * as a reference model says, handles stable while referenced. */
START_TEST(matches_a_reference_model)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_id_table t;
    p2p__id_table_init(&t, &mem, P2P_MEM_RECEIVER, MODEL_IDS, 0x99);
    uint32_t refs[MODEL_IDS] = {0}, handle[MODEL_IDS];
    uint32_t live = 0;
    struct p2p_rng rng;
    p2p_rng_init(&rng, 5, 1);
    for (int step = 0; step < 100000; step++) {
        uint32_t k = (uint32_t)p2p_rng_below(&rng, MODEL_IDS);
        if (p2p_rng_below(&rng, 2) == 0 || refs[k] == 0) {
            struct p2p_artifact_id id = id_n(k);
            uint32_t h;
            ck_assert_int_eq(p2p__id_table_intern(&t, &id, &h), 0);
            if (refs[k]++ == 0) {
                handle[k] = h;
                live++;
            }
            ck_assert_uint_eq(h, handle[k]);
        } else {
            p2p__id_table_release(&t, handle[k]);
            live -= --refs[k] == 0;
        }
        if (refs[k] > 0)
            ck_assert_uint_eq(p2p__id_table_refs(&t, handle[k]), refs[k]);
        ck_assert_uint_eq(p2p__id_table_count(&t), live);
    }
    ck_assert_int_eq(p2p__id_table_check(&t), 0);
    p2p__id_table_fini(&t);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("id_table");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, interning_twice_gives_one_handle_two_references);
    tcase_add_test(tc, last_release_frees_and_the_handle_is_reused);
    tcase_add_test(tc, find_hold_and_insert);
    tcase_add_test(tc, bound_limit_and_limit_plus_one);
    tcase_add_test(tc, every_allocation_failure_is_survived);
    tcase_add_test(tc, matches_a_reference_model);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
