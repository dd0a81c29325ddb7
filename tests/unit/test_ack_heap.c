/* The heap of acknowledgements waiting at a node (sim/ack_heap.c): taken
 * by arrival time, ties in push order; bounded by its max. */
#include "harness.h"

#include "core/err.h"
#include "core/rng.h"
#include "sim/ack_heap.h"

static struct sim_waiting_ack ack(p2p_time at, uint64_t seq)
{
    return (struct sim_waiting_ack){.at = at, .seq = seq, .m = NULL};
}

START_TEST(empty_heap_has_no_top)
{
    struct sim_ack_heap h;
    sim_ack_heap_init(&h, 4);
    ck_assert_ptr_null(sim_ack_heap_top(&h));
    sim_ack_heap_fini(&h);
}
END_TEST

/* Earlier arrival first; at one time, the first pushed first. */
START_TEST(arrival_then_push_order)
{
    struct sim_ack_heap h;
    sim_ack_heap_init(&h, 16);
    const p2p_time times[] = {30, 10, 20, 10, 30, 10};
    for (uint64_t i = 0; i < 6; i++) {
        struct sim_waiting_ack a = ack(times[i], i);
        ck_assert_int_eq(sim_ack_heap_push(&h, &a), 0);
    }
    const uint64_t want_seq[] = {1, 3, 5, 2, 0, 4};
    for (int i = 0; i < 6; i++) {
        ck_assert_uint_eq(sim_ack_heap_top(&h)->seq, want_seq[i]);
        ck_assert_uint_eq(sim_ack_heap_pop(&h).seq, want_seq[i]);
    }
    ck_assert_ptr_null(sim_ack_heap_top(&h));
    sim_ack_heap_fini(&h);
}
END_TEST

/* max entries fit; one more is refused with the heap unchanged; a pop
 * makes room again. */
START_TEST(limit_and_limit_plus_one)
{
    struct sim_ack_heap h;
    sim_ack_heap_init(&h, 3);
    for (uint64_t i = 0; i < 3; i++) {
        struct sim_waiting_ack a = ack(100 - i, i);
        ck_assert_int_eq(sim_ack_heap_push(&h, &a), 0);
    }
    struct sim_waiting_ack extra = ack(1, 99);
    ck_assert_int_eq(sim_ack_heap_push(&h, &extra), P2P_ERR_LIMIT);
    ck_assert_uint_eq(h.count, 3);
    ck_assert_uint_eq(sim_ack_heap_top(&h)->seq, 2);
    (void)sim_ack_heap_pop(&h);
    ck_assert_int_eq(sim_ack_heap_push(&h, &extra), 0);
    ck_assert_uint_eq(sim_ack_heap_top(&h)->seq, 99);
    sim_ack_heap_fini(&h);
}
END_TEST

/* Random pushes and pops against a plain list: the same entry each pop. */
START_TEST(matches_a_sorted_list)
{
    enum { STEPS = 20000, MAX = 512 };
    struct sim_ack_heap h;
    sim_ack_heap_init(&h, MAX);
    static struct sim_waiting_ack model[MAX];
    uint32_t held = 0;
    struct p2p_rng rng;
    p2p_rng_init(&rng, 7, 1);
    uint64_t seq = 0;
    p2p_time now = 0;
    for (int step = 0; step < STEPS; step++) {
        if (held < MAX && (held == 0 || p2p_rng_below(&rng, 3) != 0)) {
            struct sim_waiting_ack a = ack(now + p2p_rng_below(&rng, 8), seq++);
            ck_assert_int_eq(sim_ack_heap_push(&h, &a), 0);
            model[held++] = a;
            continue;
        }
        uint32_t best = 0;
        for (uint32_t i = 1; i < held; i++)
            if (sim_ack_heap_earlier(&model[i], &model[best]))
                best = i;
        struct sim_waiting_ack got = sim_ack_heap_pop(&h);
        ck_assert_uint_eq(got.seq, model[best].seq);
        ck_assert_uint_eq(got.at, model[best].at);
        now = got.at;
        model[best] = model[--held];
        ck_assert_uint_eq(h.count, held);
    }
    sim_ack_heap_fini(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ack_heap");
    TCase *tc = tcase_create("heap");
    tcase_add_test(tc, empty_heap_has_no_top);
    tcase_add_test(tc, arrival_then_push_order);
    tcase_add_test(tc, limit_and_limit_plus_one);
    tcase_add_test(tc, matches_a_sorted_list);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
