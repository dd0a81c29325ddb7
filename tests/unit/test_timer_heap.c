/* The timer heap: (deadline, sequence) order, deadlines at t-1 and t, the
 * bound, and compaction keeping the survivors' order. */
#include "harness.h"

#include "core/timer_heap.h"

START_TEST(fires_in_deadline_then_sequence_order)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, 100);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 30, 0, 1, 0), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 10, 0, 2, 0), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 30, 0, 3, 0), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 10, 0, 4, 0), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 10);
    struct p2p_timer t;
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 9, &t), 0); /* deadline - 1 */
    uint32_t want[] = {2, 4, 1, 3};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 30, &t), 1);
        ck_assert_uint_eq(t.index, want[i]);
    }
    ck_assert_uint_eq(p2p_timer_heap_next(&h), P2P_TIME_NEVER);
    p2p_timer_heap_fini(&h);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(bound_limit_and_limit_plus_one)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, 3);
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_int_eq(p2p_timer_heap_push(&h, i, 0, i, 0), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 9, 0, 9, 0), P2P_ERR_LIMIT);
    p2p_timer_heap_fini(&h);
}
END_TEST

static bool keep_even(const void *ctx, const struct p2p_timer *t)
{
    (void)ctx;
    return t->index % 2 == 0;
}

START_TEST(compaction_keeps_order_of_survivors)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, 1000);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 5, 1);
    for (uint32_t i = 0; i < 500; i++)
        ck_assert_int_eq(p2p_timer_heap_push(&h, p2p_rng_below(&rng, 50), 0, i, 0), 0);
    ck_assert_uint_eq(p2p_timer_heap_compact(&h, keep_even, NULL), 250);
    struct p2p_timer prev = {0}, t;
    size_t n = 0;
    while (p2p_timer_heap_pop_due(&h, P2P_TIME_NEVER - 1, &t)) {
        ck_assert_uint_eq(t.index % 2, 0);
        if (n > 0)
            ck_assert(prev.deadline < t.deadline ||
                      (prev.deadline == t.deadline && prev.seq < t.seq));
        prev = t;
        n++;
    }
    ck_assert_uint_eq(n, 250);
    p2p_timer_heap_fini(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timer_heap");
    TCase *tc = tcase_create("heap");
    tcase_add_test(tc, fires_in_deadline_then_sequence_order);
    tcase_add_test(tc, bound_limit_and_limit_plus_one);
    tcase_add_test(tc, compaction_keeps_order_of_survivors);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
