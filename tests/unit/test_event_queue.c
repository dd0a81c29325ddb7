/* The simulator's event queue: events pop in (time, seq) order exactly, as
 * a reference binary heap and a sort of the same events say, under random
 * and simulation-like pushes, events scheduled before the last popped, the
 * bound on queued events and on seqs, and growth with a wrapped run. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "sim/event_queue.h"

/* ---- the reference: a plain binary heap on (time, seq) ---- */

struct ref {
    struct sim_event *items;
    size_t count, capacity;
};

static int ref_before(const struct sim_event *a, const struct sim_event *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

static void ref_swap(struct sim_event *a, struct sim_event *b)
{
    struct sim_event t = *a;
    *a = *b;
    *b = t;
}

static void ref_push(struct ref *r, const struct sim_event *e)
{
    if (r->count == r->capacity) {
        r->capacity = r->capacity ? 2 * r->capacity : 64;
        r->items = realloc(r->items, r->capacity * sizeof(*r->items));
        if (r->items == NULL)
            ck_abort_msg("out of memory");
    }
    size_t i = r->count++;
    r->items[i] = *e;
    for (; i > 0 && ref_before(&r->items[i], &r->items[(i - 1) / 2]);
         i = (i - 1) / 2)
        ref_swap(&r->items[i], &r->items[(i - 1) / 2]);
}

static struct sim_event ref_pop(struct ref *r)
{
    struct sim_event top = r->items[0];
    r->items[0] = r->items[--r->count];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->count && ref_before(&r->items[l], &r->items[m]))
            m = l;
        if (l + 1 < r->count && ref_before(&r->items[l + 1], &r->items[m]))
            m = l + 1;
        if (m == i)
            break;
        ref_swap(&r->items[i], &r->items[m]);
        i = m;
    }
    return top;
}

/* ---- a queue under test, checked against the reference ---- */

struct fix {
    struct sim_event_queue q;
    struct ref ref;
    uint64_t pushed;
    uint64_t seed;
};

static void fix_init(struct fix *f, size_t max, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    sim_event_queue_init(&f->q, max);
    f->seed = seed;
}

/* Pushes an event at time t whose payload names its push number. */
static void fix_push(struct fix *f, p2p_time t)
{
    struct sim_event e = {.time = t,
                          .seq = 12345, /* ignored */
                          .type = (uint32_t)(f->pushed % 7),
                          .node = (uint32_t)(f->pushed % 1000),
                          .arg = f->pushed,
                          .ptr = (void *)(uintptr_t)(f->pushed * 8)};
    if (sim_event_queue_push(&f->q, &e) != 0)
        ck_abort_msg("seed %llu: push %llu refused",
                     (unsigned long long)f->seed,
                     (unsigned long long)f->pushed);
    e.seq = f->pushed++; /* what the queue numbers it */
    ref_push(&f->ref, &e);
}

/* Pops one event and checks it is the reference's; returns its time.
 * (Check marks every assertion it passes, slowly: hot loops test first.) */
static p2p_time fix_pop(struct fix *f)
{
    struct sim_event got, want = ref_pop(&f->ref);
    int popped = sim_event_queue_pop(&f->q, &got);
    if (popped != 1 || got.time != want.time || got.seq != want.seq ||
        got.type != want.type || got.node != want.node || got.arg != want.arg ||
        got.ptr != want.ptr)
        ck_abort_msg("seed %llu: popped %d (%llu, %llu) arg %llu, want "
                     "(%llu, %llu) arg %llu",
                     (unsigned long long)f->seed, popped,
                     (unsigned long long)got.time, (unsigned long long)got.seq,
                     (unsigned long long)got.arg, (unsigned long long)want.time,
                     (unsigned long long)want.seq,
                     (unsigned long long)want.arg);
    return got.time;
}

static void fix_drain_fini(struct fix *f)
{
    while (f->ref.count > 0)
        (void)fix_pop(f);
    struct sim_event e;
    ck_assert_int_eq(sim_event_queue_pop(&f->q, &e), 0);
    ck_assert_uint_eq(f->q.count, 0);
    sim_event_queue_fini(&f->q);
    free(f->ref.items);
}

/* ---- tests ---- */

START_TEST(same_time_pops_in_push_order)
{
    static const p2p_time times[] = {30, 10, 30, 0, 10, 0, 30, 20, 10, 0};
    static const uint64_t want[] = {3, 5, 9, 1, 4, 8, 7, 0, 2, 6}; /* seqs */
    struct sim_event_queue q;
    sim_event_queue_init(&q, 100);
    for (size_t i = 0; i < 10; i++)
        ck_assert_int_eq(
            sim_event_queue_push(&q, &(struct sim_event){.time = times[i]}), 0);
    struct sim_event e;
    for (size_t i = 0; i < 10; i++) {
        ck_assert_int_eq(sim_event_queue_pop(&q, &e), 1);
        ck_assert_uint_eq(e.seq, want[i]);
        ck_assert_uint_eq(e.time, times[want[i]]);
    }
    ck_assert_int_eq(sim_event_queue_pop(&q, &e), 0);
    sim_event_queue_fini(&q);
}
END_TEST

static int by_time_seq(const void *a, const void *b)
{
    const struct sim_event *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Random times from a small range (many ties) or the whole of 64 bits,
 * pushed all at once: the pops are the sort. */
START_TEST(batch_pops_as_a_sort)
{
    static const uint64_t ranges[] = {1, 7, 1000, 1u << 30, 0 /* any */};
    enum { N = 20000 };
    struct sim_event *all = calloc(N, sizeof(*all));
    ck_assert_ptr_nonnull(all);
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        struct p2p_rng rng;
        p2p_rng_init(&rng, 11, r);
        struct sim_event_queue q;
        sim_event_queue_init(&q, N);
        for (uint64_t i = 0; i < N; i++) {
            all[i] = (struct sim_event){
                .time = ranges[r] ? p2p_rng_below(&rng, ranges[r])
                                  : p2p_rng_u64(&rng),
                .seq = i,
                .arg = i};
            if (sim_event_queue_push(&q, &all[i]) != 0)
                ck_abort_msg("push %llu refused", (unsigned long long)i);
        }
        qsort(all, N, sizeof(*all), by_time_seq);
        struct sim_event e;
        for (size_t i = 0; i < N; i++)
            if (sim_event_queue_pop(&q, &e) != 1 || e.time != all[i].time ||
                e.seq != all[i].seq || e.arg != all[i].arg)
                ck_abort_msg("range %llu, pop %zu",
                             (unsigned long long)ranges[r], i);
        ck_assert_int_eq(sim_event_queue_pop(&q, &e), 0);
        sim_event_queue_fini(&q);
    }
    free(all);
}
END_TEST

/* How a handled event schedules the next ones: how many, how far ahead. */
struct sim_like {
    const char *name;
    uint64_t fanout_max;                /* 0 .. fanout_max new events per pop */
    uint64_t delay_fixed, delay_spread; /* fixed + below(spread) */
};

static const struct sim_like sim_likes[] = {
    {"zero delay", 2, 0, 1},
    {"fixed 60ms", 2, 60000000, 1},
    {"fixed plus tiny jitter", 2, 1000, 4},
    {"lan", 2, 100000, 50000},
    {"wan", 2, 20000000, 200000000},
    {"timers to 2^40", 2, 0, (uint64_t)1 << 40},
};

/* A discrete-event simulation's pattern: pop the earliest, push a few at
 * or after it; checked against the reference at every pop. */
START_TEST(simulation_like_matches_reference)
{
    const struct sim_like *s = &sim_likes[_i];
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct fix f;
        fix_init(&f, 1u << 20, seed);
        struct p2p_rng rng;
        p2p_rng_init(&rng, seed, 0x7175);
        for (int i = 0; i < 500; i++)
            fix_push(&f, s->delay_fixed + p2p_rng_below(&rng, s->delay_spread));
        for (int i = 0; i < 100000 && f.ref.count > 0; i++) {
            p2p_time now = fix_pop(&f);
            uint64_t n = p2p_rng_below(&rng, s->fanout_max + 1);
            if (f.ref.count < 100)
                n++;
            for (uint64_t j = 0; j < n && f.ref.count < 20000; j++)
                fix_push(&f, now + s->delay_fixed +
                                 p2p_rng_below(&rng, s->delay_spread));
        }
        fix_drain_fini(&f);
    }
}
END_TEST

/* Events scheduled before the last one popped (nothing in a simulation
 * does it, the queue must still order them): random pushes anywhere
 * around the last popped time, interleaved with pops. */
START_TEST(events_before_the_last_popped_keep_order)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct fix f;
        fix_init(&f, 1u << 20, seed);
        struct p2p_rng rng;
        p2p_rng_init(&rng, seed, 0x6561);
        p2p_time now = 1000000;
        for (int i = 0; i < 50000; i++) {
            if (p2p_rng_below(&rng, 100) < 55 || f.ref.count == 0) {
                uint64_t d = p2p_rng_below(&rng, 2000);
                fix_push(&f, now + d >= 1000 ? now + d - 1000 : 0);
            } else {
                now = fix_pop(&f);
            }
        }
        fix_drain_fini(&f);
    }
}
END_TEST

/* max events queued, then max + 1 is refused and changes nothing; a pop
 * makes room again. */
START_TEST(bound_limit_and_limit_plus_one)
{
    struct fix f;
    fix_init(&f, 5, 1);
    for (int i = 0; i < 5; i++)
        fix_push(&f, 10 - (p2p_time)i);
    struct sim_event e = {.time = 1};
    ck_assert_int_eq(sim_event_queue_push(&f.q, &e), P2P_ERR_LIMIT);
    ck_assert_uint_eq(f.q.count, 5);
    ck_assert_uint_eq(f.q.next_seq, 5);
    ck_assert_uint_eq(fix_pop(&f), 6);
    fix_push(&f, 3);
    ck_assert_uint_eq(fix_pop(&f), 3);
    fix_drain_fini(&f);
}
END_TEST

/* The last seq a key holds is given out, the next push is refused. */
START_TEST(seq_bound_limit_and_limit_plus_one)
{
    struct sim_event_queue q;
    sim_event_queue_init(&q, (size_t)1 << 32);
    ck_assert_uint_eq(q.seq_max, UINT32_MAX); /* 32 bits for slots */
    q.next_seq = q.seq_max;
    struct sim_event e = {.time = 5, .arg = 77};
    ck_assert_int_eq(sim_event_queue_push(&q, &e), 0);
    ck_assert_int_eq(sim_event_queue_push(&q, &e), P2P_ERR_LIMIT);
    ck_assert_int_eq(sim_event_queue_pop(&q, &e), 1);
    ck_assert_uint_eq(e.seq, q.seq_max);
    ck_assert_uint_eq(e.arg, 77);
    ck_assert_int_eq(sim_event_queue_pop(&q, &e), 0);
    sim_event_queue_fini(&q);
}
END_TEST

/* The arrays grow while the run of events at the current time has wrapped
 * around its ring, and while buckets hold events: nothing is lost or
 * reordered. */
START_TEST(growth_with_a_wrapped_run)
{
    struct fix f;
    fix_init(&f, 1u << 20, 1);
    fix_push(&f, 5);
    ck_assert_uint_eq(fix_pop(&f), 5); /* the current time is 5 */
    size_t slots = f.q.slots_count;
    for (size_t i = 0; i < slots; i++) /* the run fills its ring */
        fix_push(&f, 5);
    for (size_t i = 0; i < slots / 2; i++)
        if (fix_pop(&f) != 5)
            ck_abort_msg("not 5");
    for (size_t i = 0; i < slots / 2; i++) /* it wraps */
        fix_push(&f, 5);
    ck_assert_uint_eq(f.q.slots_count, slots);
    for (size_t i = 0; i < 3 * slots; i++) /* it grows, twice */
        fix_push(&f, i % 3 == 0 ? 5 : 5 + i);
    ck_assert_uint_ge(f.q.slots_count, 4 * slots);
    fix_drain_fini(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, same_time_pops_in_push_order);
    tcase_add_test(tc, batch_pops_as_a_sort);
    tcase_add_loop_test(tc, simulation_like_matches_reference, 0,
                        sizeof(sim_likes) / sizeof(sim_likes[0]));
    tcase_add_test(tc, events_before_the_last_popped_keep_order);
    tcase_add_test(tc, bound_limit_and_limit_plus_one);
    tcase_add_test(tc, seq_bound_limit_and_limit_plus_one);
    tcase_add_test(tc, growth_with_a_wrapped_run);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
