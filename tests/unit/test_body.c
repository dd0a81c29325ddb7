/* Shared bodies: references and their charges, the id hashed once, a
 * refused charge, and two pools holding one body. */
#include "harness.h"

#include "core/body.h"
#include "core/pool.h"

START_TEST(references_charge_each_holder_and_free_with_the_last)
{
    struct p2p_mem a, b;
    p2p_mem_init(&a);
    p2p_mem_init(&b);
    struct p2p_body *body = p2p_body_copy(&a, P2P_MEM_POOL,
                                          (const uint8_t *)"abcdef", 6);
    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(a.module_bytes[P2P_MEM_POOL], 6);
    ck_assert(p2p_body_hold(body, &b, P2P_MEM_OUTBOX));
    ck_assert_uint_eq(b.module_bytes[P2P_MEM_OUTBOX], 6);
    ck_assert_uint_eq(body->refs, 2);
    p2p_body_release(body, &a, P2P_MEM_POOL);
    ck_assert_uint_eq(a.bytes, 0);
    ck_assert_uint_eq(body->refs, 1);
    ck_assert_mem_eq(body->bytes, "abcdef", 6);
    p2p_body_release(body, &b, P2P_MEM_OUTBOX);
    ck_assert_uint_eq(b.bytes, 0);
    p2p_body_release(NULL, &b, P2P_MEM_OUTBOX); /* allowed */
}
END_TEST

START_TEST(id_is_computed_once_and_compared)
{
    const uint8_t bytes[] = "the artifact";
    struct p2p_artifact_id want, other = {{1}};
    p2p_id_of(bytes, sizeof(bytes), &want);
    struct p2p_body *body =
        p2p_body_copy(NULL, P2P_MEM_POOL, bytes, sizeof(bytes));
    ck_assert(!body->hashed);
    ck_assert(p2p_body_matches(body, &want));
    ck_assert(body->hashed);
    ck_assert(!p2p_body_matches(body, &other));
    /* The cached id is the one used from now on. */
    ck_assert(p2p_id_eq(p2p_body_id(body), &want));
    struct p2p_body *empty = p2p_body_new(NULL, P2P_MEM_POOL, 0);
    ck_assert_ptr_nonnull(empty);
    struct p2p_artifact_id none;
    p2p_id_of(NULL, 0, &none);
    ck_assert(p2p_body_matches(empty, &none));
    p2p_body_release(empty, NULL, P2P_MEM_POOL);
    p2p_body_release(body, NULL, P2P_MEM_POOL);
}
END_TEST

START_TEST(refused_charge_takes_no_reference)
{
    struct p2p_mem m;
    p2p_mem_init(&m);
    m.bytes_budget = 10;
    ck_assert_ptr_null(p2p_body_new(&m, P2P_MEM_POOL, 11));
    ck_assert_uint_eq(m.bytes, 0);
    struct p2p_body *body = p2p_body_new(&m, P2P_MEM_POOL, 8);
    ck_assert_ptr_nonnull(body);
    ck_assert(!p2p_body_hold(body, &m, P2P_MEM_OUTBOX)); /* 16 > 10 */
    ck_assert_uint_eq(body->refs, 1);
    ck_assert_uint_eq(m.bytes, 8);
    m.fail_at = m.allocs + 1; /* the next attempt fails */
    ck_assert(!p2p_mem_charge(&m, P2P_MEM_OTHER, 1));
    p2p_body_release(body, &m, P2P_MEM_POOL);
    ck_assert_uint_eq(m.bytes, 0);
}
END_TEST

START_TEST(two_pools_share_one_body)
{
    struct p2p_mem ma, mb;
    p2p_mem_init(&ma);
    p2p_mem_init(&mb);
    struct p2p_pool_limits l;
    for (int s = 0; s < P2P_POOL_SECTIONS; s++) {
        l.count_max[s] = 4;
        l.bytes_max[s] = 1 << 20;
    }
    struct p2p_pool pa, pb;
    p2p_pool_init(&pa, &ma, &l, 1);
    p2p_pool_init(&pb, &mb, &l, 2);
    uint8_t bytes[1000];
    memset(bytes, 7, sizeof(bytes));
    struct p2p_body *body =
        p2p_body_copy(NULL, P2P_MEM_POOL, bytes, sizeof(bytes));
    struct p2p_pool_item it = {.section = P2P_POOL_UNVALIDATED,
                               .id = p2p_body_id(body),
                               .kind = P2P_KIND_ADVERT,
                               .shared = body,
                               .from = 3};
    ck_assert_int_eq(p2p_pool_insert(&pa, 0, &it), 0);
    ck_assert_int_eq(p2p_pool_insert(&pb, 0, &it), 0);
    p2p_body_release(body, NULL, P2P_MEM_POOL);
    const struct p2p_pool_entry *ea = p2p_pool_get(&pa, p2p_body_id(body));
    const struct p2p_pool_entry *eb = p2p_pool_get(&pb, p2p_body_id(body));
    ck_assert_ptr_eq(ea->body, eb->body); /* one copy of the bytes */
    ck_assert_uint_eq(ea->len, sizeof(bytes));
    ck_assert_uint_eq(pa.bytes[P2P_POOL_UNVALIDATED], sizeof(bytes));
    /* Each node is charged as if it held a copy. */
    ck_assert_uint_ge(ma.module_bytes[P2P_MEM_POOL], sizeof(bytes));
    ck_assert_uint_ge(mb.module_bytes[P2P_MEM_POOL], sizeof(bytes));
    ck_assert_uint_eq(body->refs, 2);
    struct p2p_artifact_id id = *p2p_body_id(body);
    ck_assert_int_eq(p2p_pool_remove(&pa, &id), 0);
    ck_assert_uint_eq(body->refs, 1);
    ck_assert_mem_eq(eb->body, bytes, sizeof(bytes));
    p2p_pool_fini(&pb); /* frees the body with its last reference */
    p2p_pool_fini(&pa);
    ck_assert_uint_eq(ma.bytes, 0);
    ck_assert_uint_eq(mb.bytes, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("body");
    TCase *tc = tcase_create("shared");
    tcase_add_test(tc, references_charge_each_holder_and_free_with_the_last);
    tcase_add_test(tc, id_is_computed_once_and_compared);
    tcase_add_test(tc, refused_charge_takes_no_reference);
    tcase_add_test(tc, two_pools_share_one_body);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
