/* Artifact pools: count and byte bounds on both sides of each limit,
 * duplicates, promotion, removal, and allocator failures. */
#include "harness.h"

#include "core/pool.h"

static struct p2p_pool_limits limits(size_t count, uint64_t bytes)
{
    struct p2p_pool_limits l;
    for (int s = 0; s < P2P_POOL_SECTIONS; s++) {
        l.count_max[s] = count;
        l.bytes_max[s] = bytes;
    }
    return l;
}

static struct p2p_artifact_id id_n(uint8_t n)
{
    struct p2p_artifact_id id = {{0}};
    id.b[0] = n;
    id.b[31] = (uint8_t)(n * 3);
    return id;
}

START_TEST(count_bound_limit_and_limit_plus_one)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_pool p;
    struct p2p_pool_limits l = limits(3, 1 << 20);
    p2p_pool_init(&p, &mem, &l, 99);
    uint8_t b[4] = {1, 2, 3, 4};
    struct p2p_pool_item it = {.section = P2P_POOL_UNVALIDATED,
                               .kind = P2P_KIND_PUSH,
                               .body = b,
                               .len = 4,
                               .from = 1};
    for (uint8_t i = 0; i < 3; i++) {
        struct p2p_artifact_id id = id_n(i);
        it.id = &id;
        ck_assert_int_eq(p2p_pool_insert(&p, 0, &it), 0);
    }
    struct p2p_artifact_id extra = id_n(9);
    it.id = &extra;
    ck_assert_int_eq(p2p_pool_insert(&p, 0, &it), P2P_ERR_LIMIT);
    ck_assert_ptr_null(p2p_pool_get(&p, &extra));
    ck_assert_uint_eq(p.count[P2P_POOL_UNVALIDATED], 3);
    /* The validated section has its own bound. */
    it.section = P2P_POOL_VALIDATED;
    ck_assert_int_eq(p2p_pool_insert(&p, 0, &it), 0);
    p2p_pool_fini(&p);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(byte_bound_exact_fit_and_one_over)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_pool p;
    struct p2p_pool_limits l = limits(100, 1000);
    p2p_pool_init(&p, &mem, &l, 99);
    static uint8_t b[1001];
    struct p2p_artifact_id a = id_n(1), c = id_n(2);
    struct p2p_pool_item it = {.section = P2P_POOL_UNVALIDATED,
                               .id = &a,
                               .kind = P2P_KIND_ADVERT,
                               .body = b,
                               .len = 1001,
                               .from = 1};
    ck_assert_int_eq(p2p_pool_insert(&p, 0, &it), P2P_ERR_LIMIT);
    it.len = 1000;
    ck_assert_int_eq(p2p_pool_insert(&p, 0, &it), 0);
    ck_assert_uint_eq(p.bytes[P2P_POOL_UNVALIDATED], 1000);
    it.id = &c;
    it.len = 1;
    ck_assert_int_eq(p2p_pool_insert(&p, 0, &it), P2P_ERR_LIMIT);
    ck_assert_int_eq(p2p_pool_remove(&p, &a), 0);
    ck_assert_uint_eq(p.bytes[P2P_POOL_UNVALIDATED], 0);
    ck_assert_int_eq(p2p_pool_insert(&p, 0, &it), 0);
    p2p_pool_fini(&p);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(duplicates_promotion_and_removal)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_pool p;
    struct p2p_pool_limits l = limits(10, 1 << 20);
    l.count_max[P2P_POOL_VALIDATED] = 1;
    p2p_pool_init(&p, &mem, &l, 99);
    uint8_t b[8] = {0};
    struct p2p_artifact_id a = id_n(1), c = id_n(2), missing = id_n(3);
    struct p2p_pool_item it = {.section = P2P_POOL_UNVALIDATED,
                               .id = &a,
                               .kind = P2P_KIND_PUSH,
                               .body = b,
                               .len = 8,
                               .from = 2};
    ck_assert_int_eq(p2p_pool_insert(&p, 5, &it), 0);
    it.section = P2P_POOL_VALIDATED;
    ck_assert_int_eq(p2p_pool_insert(&p, 5, &it), P2P_ERR_EXISTS);
    it.section = P2P_POOL_UNVALIDATED;
    it.id = &c;
    ck_assert_int_eq(p2p_pool_insert(&p, 5, &it), 0);
    ck_assert_int_eq(p2p_pool_promote(&p, &a), 0);
    ck_assert_int_eq(p2p_pool_promote(&p, &a), P2P_ERR_STATE);
    ck_assert_int_eq(p2p_pool_promote(&p, &c), P2P_ERR_LIMIT); /* validated full */
    ck_assert_int_eq(p2p_pool_promote(&p, &missing), P2P_ERR_NOT_FOUND);
    const struct p2p_pool_entry *e = p2p_pool_get(&p, &a);
    ck_assert_int_eq(e->section, P2P_POOL_VALIDATED);
    ck_assert_uint_eq(e->from, 2);
    ck_assert_uint_eq(e->inserted_ns, 5);
    ck_assert_int_eq(p2p_pool_remove(&p, &a), 0);
    ck_assert_int_eq(p2p_pool_remove(&p, &a), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(p2p_pool_promote(&p, &c), 0);
    p2p_pool_fini(&p);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Fail the N-th allocation for N = 1, 2, ... until an insert succeeds:
 * every failure leaves the pool unchanged and leaks nothing. */
START_TEST(allocation_failures_leave_pool_unchanged)
{
    uint8_t b[16] = {7};
    for (uint64_t n = 1; n < 20; n++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        struct p2p_pool p;
        struct p2p_pool_limits l = limits(10, 1 << 20);
        p2p_pool_init(&p, &mem, &l, 99);
        mem.fail_at = n;
        struct p2p_artifact_id a = id_n(1);
        struct p2p_pool_item it = {.section = P2P_POOL_UNVALIDATED,
                                   .id = &a,
                                   .kind = P2P_KIND_PUSH,
                                   .body = b,
                                   .len = 16,
                                   .from = 1};
        int rc = p2p_pool_insert(&p, 0, &it);
        if (rc == 0) {
            ck_assert_ptr_nonnull(p2p_pool_get(&p, &a));
            p2p_pool_fini(&p);
            ck_assert_uint_eq(mem.bytes, 0);
            return;
        }
        ck_assert_int_eq(rc, P2P_ERR_NOMEM);
        ck_assert_uint_eq(p.count[P2P_POOL_UNVALIDATED], 0);
        ck_assert_ptr_null(p2p_pool_get(&p, &a));
        p2p_pool_fini(&p);
        ck_assert_uint_eq(mem.bytes, 0);
    }
    ck_abort_msg("insert never succeeded");
}
END_TEST

/* Node level: a full unvalidated pool refuses a fetched artifact. */
START_TEST(node_pool_full_refuses_push)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.pool.count_max[P2P_POOL_UNVALIDATED] = 1;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    uint8_t a[100] = {1}, b[100] = {2};
    ck_assert_int_eq(h_push(&h, 1, 0, 1, a, sizeof(a)), 0);
    ck_assert_int_eq(h_push(&h, 1, 1, 2, b, sizeof(b)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->pool_full, 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("bounds");
    tcase_add_test(tc, count_bound_limit_and_limit_plus_one);
    tcase_add_test(tc, byte_bound_exact_fit_and_one_over);
    tcase_add_test(tc, duplicates_promotion_and_removal);
    tcase_add_test(tc, allocation_failures_leave_pool_unchanged);
    tcase_add_test(tc, node_pool_full_refuses_push);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
