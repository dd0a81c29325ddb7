/* The timer heap: (deadline, sequence) order, deadlines at t-1 and t, the
 * bound, and compaction keeping the survivors' order; cancellation by
 * handle (at the top, in the middle, at a leaf; stale handles; the bound
 * with cancelled timers held; a randomized differential against a plain
 * list); a node's timers (core/timers.c): how often they compact, and that
 * stale timers cannot grow the heap. */
#include "harness.h"

#include "core/timer_heap.h"
#include "core/timers.h"

START_TEST(fires_in_deadline_then_sequence_order)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, 100);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 30, 0, 1, 0, NULL), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 10, 0, 2, 0, NULL), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 30, 0, 3, 0, NULL), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 10, 0, 4, 0, NULL), 0);
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
        ck_assert_int_eq(p2p_timer_heap_push(&h, i, 0, i, 0, NULL), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 9, 0, 9, 0, NULL), P2P_ERR_LIMIT);
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
            p2p_timer_heap_push(&h, p2p_rng_below(&rng, 50), 0, i, 0, NULL), 0);
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
    ck_assert_int_eq(p2p_timer_heap_push(&h, 30, 0, 1, 0, NULL), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 30);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 10, 0, 2, 0, NULL), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 10);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 20, 0, 3, 0, NULL), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 10);
    ck_assert_uint_eq(p2p_timer_heap_compact(&h, drop_index_2, NULL), 1);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 20);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 19, &t), 0);
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 20, &t), 1);
    ck_assert_uint_eq(t.index, 3);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 30);
    ck_assert_int_eq(p2p_timer_heap_push(&h, P2P_TIME_NEVER, 0, 4, 0, NULL), 0);
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

/* Seven timers at 10, 20, ..., 70 pushed in that order sit in the array
 * in that order too: 10 at the top, 20 and 30 below it, 40-70 the leaves.
 * Cancelling the top moves the earliest deadline at once; cancelling a
 * middle one and a leaf leaves the rest to fire in order. A cancelled
 * timer's handle, a fired one's and NONE cancel nothing. */
START_TEST(cancel_at_top_middle_and_leaf)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, 100);
    p2p_timer_handle hd[7];
    for (uint32_t i = 0; i < 7; i++)
        ck_assert_int_eq(
            p2p_timer_heap_push(&h, 10 * (i + 1), 0, i, 0, &hd[i]), 0);
    for (uint32_t i = 0; i < 7; i++)
        ck_assert_uint_eq(h.items[i].index, i);
    ck_assert(p2p_timer_heap_cancel(&h, hd[0])); /* the top */
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 20);
    ck_assert_int_eq(p2p_timer_heap_check(&h), 0);
    ck_assert(p2p_timer_heap_cancel(&h, hd[2])); /* a middle one */
    ck_assert(p2p_timer_heap_cancel(&h, hd[5])); /* a leaf */
    ck_assert_int_eq(p2p_timer_heap_check(&h), 0);
    ck_assert(!p2p_timer_heap_cancel(&h, hd[2])); /* twice */
    ck_assert(!p2p_timer_heap_cancel(&h, P2P_TIMER_HANDLE_NONE));
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 20);
    struct p2p_timer t;
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 19, &t), 0); /* deadline-1 */
    uint32_t want[] = {1, 3, 4, 6};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 70, &t), 1);
        ck_assert_uint_eq(t.index, want[i]);
        ck_assert_int_eq(p2p_timer_heap_check(&h), 0);
    }
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, P2P_TIME_NEVER, &t), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&h), P2P_TIME_NEVER);
    ck_assert_uint_eq(h.count, 0); /* the cancelled ones left with them */
    ck_assert(!p2p_timer_heap_cancel(&h, hd[1])); /* fired */
    /* A reference reused by a new timer: the old handle still names
     * nothing; the new one cancels its own. */
    p2p_timer_handle fresh;
    ck_assert_int_eq(p2p_timer_heap_push(&h, 5, 0, 9, 0, &fresh), 0);
    for (uint32_t i = 0; i < 7; i++)
        ck_assert(!p2p_timer_heap_cancel(&h, hd[i]));
    ck_assert_uint_eq(p2p_timer_heap_next(&h), 5);
    ck_assert(p2p_timer_heap_cancel(&h, fresh));
    ck_assert_uint_eq(p2p_timer_heap_next(&h), P2P_TIME_NEVER);
    ck_assert_int_eq(p2p_timer_heap_check(&h), 0);
    p2p_timer_heap_fini(&h);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Cancelled timers count against entries_max only until a push needs
 * their room: at the limit, one cancelled makes room for one more, and
 * the one after that is refused. */
START_TEST(cancelled_timers_make_room_at_the_bound)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, 3);
    p2p_timer_handle hd[3];
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_int_eq(p2p_timer_heap_push(&h, 50 - i, 0, i, 0, &hd[i]), 0);
    p2p_timer_handle out = 1;
    ck_assert_int_eq(p2p_timer_heap_push(&h, 9, 0, 9, 0, &out), P2P_ERR_LIMIT);
    ck_assert_uint_eq(out, P2P_TIMER_HANDLE_NONE);
    ck_assert(p2p_timer_heap_cancel(&h, hd[0])); /* not the top: held */
    ck_assert_uint_eq(h.count, 3);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 60, 0, 3, 0, NULL), 0);
    ck_assert_int_eq(p2p_timer_heap_push(&h, 61, 0, 4, 0, NULL), P2P_ERR_LIMIT);
    ck_assert_int_eq(p2p_timer_heap_check(&h), 0);
    struct p2p_timer t;
    uint32_t want[] = {2, 1, 3};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 100, &t), 1);
        ck_assert_uint_eq(t.index, want[i]);
    }
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, 100, &t), 0);
    p2p_timer_heap_fini(&h);
}
END_TEST

/* Many timers with many equal deadlines; a random third cancelled: the
 * rest pop in exactly the order a sort of them by (deadline, seq) gives,
 * and the earliest deadline is always a live one's. */
START_TEST(cancel_then_pop_order_is_sorted_live)
{
    enum { N = 3000 };
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, N);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 17, 4);
    static p2p_timer_handle hd[N];
    static struct p2p_timer pushed[N], want[N];
    for (uint32_t i = 0; i < N; i++) {
        p2p_time d = p2p_rng_below(&rng, 200);
        pushed[i] = (struct p2p_timer){.deadline = d, .seq = h.next_seq,
                                       .index = i};
        ck_assert_int_eq(p2p_timer_heap_push(&h, d, 0, i, 0, &hd[i]), 0);
    }
    size_t live = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (p2p_rng_below(&rng, 3) == 0)
            ck_assert(p2p_timer_heap_cancel(&h, hd[i]));
        else
            want[live++] = pushed[i];
    }
    qsort(want, live, sizeof(*want), timer_cmp);
    ck_assert_int_eq(p2p_timer_heap_check(&h), 0);
    struct p2p_timer t;
    for (size_t k = 0; k < live; k++) {
        ck_assert_uint_eq(p2p_timer_heap_next(&h), want[k].deadline);
        ck_assert_int_eq(p2p_timer_heap_pop_due(&h, P2P_TIME_NEVER - 1, &t), 1);
        ck_assert_uint_eq(t.index, want[k].index);
        ck_assert_uint_eq(t.seq, want[k].seq);
    }
    ck_assert_int_eq(p2p_timer_heap_pop_due(&h, P2P_TIME_NEVER - 1, &t), 0);
    ck_assert_uint_eq(h.count, 0);
    p2p_timer_heap_fini(&h);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* The model: every timer ever pushed, with what became of it. */
struct model_timer {
    p2p_time deadline;
    uint64_t seq;
    p2p_timer_handle handle;
    bool scheduled;
};

enum { MODEL_N = 20000, MODEL_MAX = 40 };

struct model {
    struct model_timer t[MODEL_N];
    uint32_t n, scheduled;
    uint32_t drop_mod; /* compaction's live fn: index % drop_mod != 0 */
};

static bool model_live(const void *ctx, const struct p2p_timer *t)
{
    const struct model *m = ctx;
    return t->index % m->drop_mod != 0;
}

/* The model's earliest scheduled timer, or MODEL_N. */
static uint32_t model_first(const struct model *m)
{
    uint32_t best = MODEL_N;
    for (uint32_t i = 0; i < m->n; i++) {
        if (!m->t[i].scheduled)
            continue;
        if (best == MODEL_N || m->t[i].deadline < m->t[best].deadline ||
            (m->t[i].deadline == m->t[best].deadline &&
             m->t[i].seq < m->t[best].seq))
            best = i;
    }
    return best;
}

/* Random pushes, cancels (of scheduled timers and of stale handles), pops
 * as time moves on and compactions, against a plain list: the same
 * earliest deadline after every step, the same timer popped, the same
 * answer to every cancel and push (the bound counts scheduled timers). */
START_TEST(randomized_differential_against_a_list)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_timer_heap h;
    p2p_timer_heap_init(&h, &mem, MODEL_MAX);
    static struct model m;
    memset(&m, 0, sizeof(m));
    struct p2p_rng rng;
    p2p_rng_init(&rng, 23, 5);
    p2p_time now = 0;
    uint32_t limits = 0, stale_cancels = 0, pops = 0;
    for (uint32_t step = 0; step < 60000 && m.n < MODEL_N; step++) {
        uint64_t op = p2p_rng_below(&rng, 100);
        if (op < 45) { /* push */
            p2p_time d = now + 10 * p2p_rng_below(&rng, 40); /* ties */
            uint64_t seq = h.next_seq;
            p2p_timer_handle hd;
            int rc = p2p_timer_heap_push(&h, d, 0, m.n, 0, &hd);
            if (m.scheduled == MODEL_MAX) {
                ck_assert_int_eq(rc, P2P_ERR_LIMIT);
                ck_assert_uint_eq(hd, P2P_TIMER_HANDLE_NONE);
                limits++;
            } else {
                ck_assert_int_eq(rc, 0);
                m.t[m.n] = (struct model_timer){d, seq, hd, true};
                m.n++;
                m.scheduled++;
            }
        } else if (op < 75 && m.n > 0) { /* cancel any handle ever given */
            uint32_t i = (uint32_t)p2p_rng_below(&rng, m.n);
            bool was = m.t[i].scheduled;
            ck_assert_int_eq(p2p_timer_heap_cancel(&h, m.t[i].handle), was);
            if (was) {
                m.t[i].scheduled = false;
                m.scheduled--;
            }
            stale_cancels += !was;
        } else if (op < 97) { /* time moves on; everything due pops */
            now += p2p_rng_below(&rng, 20);
            struct p2p_timer t;
            for (;;) {
                uint32_t first = model_first(&m);
                bool due = first != MODEL_N && m.t[first].deadline <= now;
                ck_assert_int_eq(p2p_timer_heap_pop_due(&h, now, &t), due);
                if (!due)
                    break;
                ck_assert_uint_eq(t.index, first);
                ck_assert_uint_eq(t.seq, m.t[first].seq);
                m.t[first].scheduled = false;
                m.scheduled--;
                pops++;
            }
        } else { /* a compaction dropping some scheduled ones */
            m.drop_mod = 2 + (uint32_t)p2p_rng_below(&rng, 5);
            size_t dropped = p2p_timer_heap_compact(&h, model_live, &m);
            size_t gone = 0;
            for (uint32_t i = 0; i < m.n; i++)
                if (m.t[i].scheduled && i % m.drop_mod == 0) {
                    m.t[i].scheduled = false;
                    m.scheduled--;
                    gone++;
                }
            ck_assert_uint_ge(dropped, gone); /* and the cancelled held */
        }
        uint32_t first = model_first(&m);
        ck_assert_uint_eq(p2p_timer_heap_next(&h), first == MODEL_N
                                                       ? P2P_TIME_NEVER
                                                       : m.t[first].deadline);
        ck_assert_uint_eq(h.count - h.cancelled, m.scheduled);
        ck_assert_int_eq(p2p_timer_heap_check(&h), 0);
    }
    /* Every path was taken. */
    ck_assert_uint_gt(m.n, 1000);
    ck_assert_uint_gt(limits, 100);
    ck_assert_uint_gt(stale_cancels, 1000);
    ck_assert_uint_gt(pops, 1000);
    p2p_timer_heap_fini(&h);
    ck_assert_uint_eq(mem.bytes, 0);
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
    tcase_add_test(tc, cancel_at_top_middle_and_leaf);
    tcase_add_test(tc, cancelled_timers_make_room_at_the_bound);
    tcase_add_test(tc, cancel_then_pop_order_is_sorted_live);
    tcase_add_test(tc, randomized_differential_against_a_list);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
