/* The timer heap: (deadline, sequence) order, deadlines at t-1 and t, the
 * bound, and compaction keeping the survivors' order; a node's timers
 * (core/timers.c): how often they compact, and that stale timers cannot
 * grow the heap. */
#include "harness.h"

#include "core/timer_heap.h"
#include "core/timers.h"

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
        ck_assert_int_eq(
            p2p_timer_heap_push(&h, p2p_rng_below(&rng, 50), 0, i, 0), 0);
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

static bool drop_index_2(const void *ctx, const struct p2p_timer *t)
{
    (void)ctx;
    return t->index != 2;
}

/* The earliest deadline, kept aside, follows pushes, pops and a compaction
 * that drops the earliest timer; P2P_TIME_NEVER is a deadline like any. */
START_TEST(next_follows_push_pop_compact)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, 100);
    struct p2p_timer t;
    ck_assert_uint_eq(p2p_timer_heap_next(&h), P2P_TIME_NEVER);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, P2P_TIME_NEVER, &t), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 30, 0, 1, 0), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 30);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 10, 0, 2, 0), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 10);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 20, 0, 3, 0), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 10);
    ck_assert_uint_eq(p2p_timer_heap_compact(&h, drop_index_2, NULL), 1);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 20);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 19, &t), 0);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 20, &t), 1);
    ck_assert_uint_eq(t.index, 3);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 30);
    ck_assert_int_eq(p2p_timer_heap_push(&h, P2P_TIME_NEVER, 0, 4, 0), 0);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 30, &t), 1);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), P2P_TIME_NEVER);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, P2P_TIME_NEVER - 1, &t), 0);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, P2P_TIME_NEVER, &t), 1);
    ck_assert_uint_eq(t.index, 4);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, P2P_TIME_NEVER, &t), 0);
    ck_assert_uint_eq(p2p_timer_heap_compact(&h, drop_index_2, NULL), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), P2P_TIME_NEVER);
    p2p_timer_heap_fini(&h);
}
END_TEST

/* A node's timers whose owner waits only for the last `window` timers
 * pushed (index = push number): older ones went stale, as streams that
 * closed leave their deadlines behind. */
struct window_fix {
    struct p2p_mem mem;
    struct p2p_metrics metrics;
    struct p2p_buggify bug; /* no point enabled */
    struct p2p_timers timers;
    uint32_t pushed, window;
    uint64_t live_calls;
};

static bool window_live(const void *ctx, const struct p2p_timer *t)
{
    struct window_fix *f = (struct window_fix *)ctx;
    f->live_calls++;
    return (uint64_t)t->index + f->window >= f->pushed;
}

static void window_init(struct window_fix *f, uint32_t window,
                        size_t entries_max)
{
    memset(f, 0, sizeof(*f));
    p2p_mem_init(&f->mem);
    p2p__timers_init(&f->timers, &f->mem, entries_max, &f->metrics, &f->bug);
    f->timers.live = window_live;
    f->timers.live_ctx = f;
    f->window = window;
}

/* Pushes one timer at deadline; returns what p2p__timers_add returned. */
static int window_push(struct window_fix *f, p2p_time deadline)
{
    int rc =
        p2p__timers_add(&f->timers, deadline, P2P_TIMER_DOWNLOAD, f->pushed, 0);
    f->pushed++;
    return rc;
}

static void window_fini(struct window_fix *f)
{
    p2p__timers_fini(&f->timers);
    ck_assert_uint_eq(f->mem.bytes, 0);
}

/* N pushes of timers that all stay live: the heap doubles, and each
 * compaction before a doubling finds nothing to drop. */
START_TEST(live_timers_compact_log_n_times)
{
    enum { N = 100000 };
    struct window_fix f;
    window_init(&f, UINT32_MAX, 1u << 22);
    for (uint32_t i = 0; i < N; i++)
        ck_assert_int_eq(window_push(&f, i % 977), 0);
    ck_assert_uint_eq(f.timers.heap.count, N);
    ck_assert_uint_lt(f.timers.compactions, 40);
    ck_assert_uint_lt(f.live_calls, 4 * (uint64_t)N);
    window_fini(&f);
}
END_TEST

/* A heap kept nearly full of live timers (4,000 live, the array at 4,096):
 * each compaction frees a few slots only. It must grow instead of
 * compacting again at nearly every push: the liveness checks stay a
 * constant per push, not the heap's size per push. */
START_TEST(nearly_full_of_live_timers_grows_instead)
{
    enum { N = 100000, WINDOW = 4000 };
    struct window_fix f;
    window_init(&f, WINDOW, 1u << 22);
    for (uint32_t i = 0; i < N; i++)
        ck_assert_int_eq(window_push(&f, i), 0);
    ck_assert_uint_lt(f.timers.compactions, 40);
    ck_assert_uint_lt(f.live_calls, 4 * (uint64_t)N);
    ck_assert_uint_le(f.timers.heap.capacity, 4 * WINDOW);
    ck_assert_uint_eq(f.metrics.timers_refused, 0);
    window_fini(&f);
}
END_TEST

/* Most timers stale (100 live of 100,000 pushed): compaction still purges
 * them, so the array stays small. */
START_TEST(stale_timers_are_purged_memory_bounded)
{
    enum { N = 100000, WINDOW = 100 };
    struct window_fix f;
    window_init(&f, WINDOW, 1u << 22);
    for (uint32_t i = 0; i < N; i++) {
        ck_assert_int_eq(window_push(&f, i), 0);
        ck_assert_uint_le(f.timers.heap.count, 4 * WINDOW);
    }
    ck_assert_uint_le(f.timers.heap.capacity, 4 * WINDOW);
    ck_assert_uint_le(f.mem.bytes_peak, 4 * WINDOW * sizeof(struct p2p_timer));
    window_fini(&f);
}
END_TEST

static int timer_cmp(const void *a, const void *b)
{
    const struct p2p_timer *x = a, *y = b;
    if (x->deadline != y->deadline)
        return x->deadline < y->deadline ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Through compactions and growth, timers fire in (deadline, seq) order:
 * the live ones exactly as a sort of them says. */
START_TEST(compaction_and_growth_keep_firing_order)
{
    enum { N = 20000, WINDOW = 3000 };
    struct window_fix f;
    window_init(&f, WINDOW, 1u << 22);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 7, 3);
    struct p2p_timer *want = calloc(N, sizeof(*want));
    ck_assert_ptr_nonnull(want);
    for (uint32_t i = 0; i < N; i++) {
        p2p_time d = p2p_rng_below(&rng, 5000);
        ck_assert_int_eq(window_push(&f, d), 0);
        want[i] = (struct p2p_timer){.deadline = d, .seq = i, .index = i};
    }
    ck_assert_uint_gt(f.timers.compactions, 0);
    /* The live ones are the last WINDOW pushed (seq = push number here:
     * the heap numbers every push). */
    qsort(want + (N - WINDOW), WINDOW, sizeof(*want), timer_cmp);
    struct p2p_timer prev = {0}, t;
    size_t popped = 0, live = 0;
    while (p2p_timer_heap_pop_due(&f.timers.heap, P2P_TIME_NEVER - 1, &t)) {
        if (popped++ > 0)
            ck_assert_int_lt(timer_cmp(&prev, &t), 0);
        prev = t;
        if (!window_live(&f, &t))
            continue;
        struct p2p_timer *w = &want[N - WINDOW + live++];
        ck_assert_uint_eq(t.deadline, w->deadline);
        ck_assert_uint_eq(t.seq, w->seq);
        ck_assert_uint_eq(t.index, w->index);
    }
    ck_assert_uint_eq(live, WINDOW);
    free(want);
    window_fini(&f);
}
END_TEST

/* At entries_max, a full heap drops its stale timers rather than refuse a
 * new one; full of live timers, it refuses exactly the one past the
 * limit. */
START_TEST(full_at_entries_max_compacts_then_refuses)
{
    struct window_fix f;
    window_init(&f, 50, 100);
    for (uint32_t i = 0; i < 1000; i++)
        ck_assert_int_eq(window_push(&f, i), 0);
    ck_assert_uint_eq(f.metrics.timers_refused, 0);
    window_fini(&f);

    window_init(&f, UINT32_MAX, 100);
    for (uint32_t i = 0; i < 100; i++) /* the limit */
        ck_assert_int_eq(window_push(&f, i), 0);
    ck_assert_int_eq(window_push(&f, 100), P2P_ERR_LIMIT); /* limit + 1 */
    ck_assert_uint_eq(f.metrics.timers_refused, 1);
    ck_assert_uint_eq(f.timers.heap.count, 100);
    window_fini(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timer_heap");
    TCase *tc = tcase_create("heap");
    tcase_add_test(tc, fires_in_deadline_then_sequence_order);
    tcase_add_test(tc, bound_limit_and_limit_plus_one);
    tcase_add_test(tc, compaction_keeps_order_of_survivors);
    tcase_add_test(tc, next_follows_push_pop_compact);
    tcase_add_test(tc, live_timers_compact_log_n_times);
    tcase_add_test(tc, nearly_full_of_live_timers_grows_instead);
    tcase_add_test(tc, stale_timers_are_purged_memory_bounded);
    tcase_add_test(tc, compaction_and_growth_keep_firing_order);
    tcase_add_test(tc, full_at_entries_max_compacts_then_refuses);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
