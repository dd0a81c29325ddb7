/* A link's busy spans (sim/busy_spans.c): filling idle time around spans
 * reserved earlier, merging on add, forgetting what is over, and the
 * bound on their number. */
#include "harness.h"

#include "sim/busy_spans.h"

#define MAX 4u

struct list {
    uint32_t count;
    struct sim_busy_span s[MAX + 1];
};

static void add(struct list *l, p2p_time from, p2p_time to)
{
    sim_busy_spans_add(l->s, &l->count, MAX, from, to);
    sim_busy_spans_check(l->s, l->count, MAX);
}

static void expect(const struct list *l, uint32_t i, p2p_time from, p2p_time to)
{
    ck_assert_uint_lt(i, l->count);
    ck_assert_uint_eq(l->s[i].from, from);
    ck_assert_uint_eq(l->s[i].to, to);
}

/* One case of fill on the list [100, 200) [300, 400). */
struct fill_case {
    p2p_time at, took, start, done;
};

static const struct fill_case fills[] = {
    {0, 50, 0, 50},       /* idle before the first span */
    {50, 50, 50, 100},    /* exactly the gap: done at the span's start */
    {50, 51, 50, 201},    /* one more: the rest after the span */
    {100, 10, 200, 210},  /* at a span's start: after it */
    {199, 10, 200, 210},  /* at its last ns */
    {200, 10, 200, 210},  /* at its end: idle */
    {150, 150, 200, 450}, /* the whole gap between, the rest at the end */
    {400, 1, 400, 401},   /* past every span */
};

START_TEST(fill_takes_idle_time_around_spans)
{
    struct list l = {0};
    add(&l, 100, 200);
    add(&l, 300, 400);
    const struct fill_case *c = &fills[_i];
    p2p_time start = 0;
    ck_assert_uint_eq(sim_busy_spans_fill(l.s, l.count, c->at, c->took, &start),
                      c->done);
    ck_assert_uint_eq(start, c->start);
}
END_TEST

START_TEST(fill_on_an_idle_link)
{
    p2p_time start = 0;
    ck_assert_uint_eq(sim_busy_spans_fill(NULL, 0, 7, 3, &start), 10);
    ck_assert_uint_eq(start, 7);
}
END_TEST

/* A span merges with those it overlaps or adjoins, and stays apart from
 * one 1 ns away. */
START_TEST(add_merges_overlapping_and_adjoining)
{
    struct list l = {0};
    add(&l, 10, 20);
    add(&l, 20, 30); /* adjoins */
    ck_assert_uint_eq(l.count, 1);
    expect(&l, 0, 10, 30);
    add(&l, 31, 40); /* 1 ns apart */
    add(&l, 0, 5);   /* before every span */
    ck_assert_uint_eq(l.count, 3);
    expect(&l, 0, 0, 5);
    expect(&l, 1, 10, 30);
    expect(&l, 2, 31, 40);
    add(&l, 25, 35); /* overlaps two */
    ck_assert_uint_eq(l.count, 2);
    expect(&l, 1, 10, 40);
}
END_TEST

START_TEST(prune_forgets_what_is_over)
{
    struct list l = {0};
    add(&l, 10, 20);
    add(&l, 30, 40);
    sim_busy_spans_prune(l.s, &l.count, 19); /* the first ends at 20 */
    ck_assert_uint_eq(l.count, 2);
    sim_busy_spans_prune(l.s, &l.count, 20);
    ck_assert_uint_eq(l.count, 1);
    expect(&l, 0, 30, 40);
    ck_assert_uint_eq(sim_busy_spans_until(l.s, l.count, 29), 29);
    ck_assert_uint_eq(sim_busy_spans_until(l.s, l.count, 30), 40);
    ck_assert_uint_eq(sim_busy_spans_until(l.s, l.count, 39), 40);
    ck_assert_uint_eq(sim_busy_spans_until(l.s, l.count, 40), 40);
    sim_busy_spans_prune(l.s, &l.count, 1000);
    ck_assert_uint_eq(l.count, 0);
}
END_TEST

/* MAX spans stay apart; one more merges the two with the least idle time
 * between them, which then counts as busy. */
START_TEST(add_bounds_the_spans)
{
    struct list l = {0};
    add(&l, 0, 10);
    add(&l, 20, 30); /* 10 after */
    add(&l, 33, 40); /* 3 after */
    add(&l, 50, 60); /* 10 after */
    ck_assert_uint_eq(l.count, MAX);
    expect(&l, 2, 33, 40);
    add(&l, 62, 70); /* 2 after: the nearest pair */
    ck_assert_uint_eq(l.count, MAX);
    expect(&l, 3, 50, 70);
    add(&l, 80, 90); /* 10 after; now [20,30) [33,40) are nearest */
    ck_assert_uint_eq(l.count, MAX);
    expect(&l, 1, 20, 40);
    expect(&l, 3, 80, 90);
    p2p_time start = 0;
    ck_assert_uint_eq(sim_busy_spans_fill(l.s, l.count, 30, 1, &start), 41);
    ck_assert_uint_eq(start, 40);
}
END_TEST

/* Equal gaps: the first pair merges. */
START_TEST(add_bound_tie_merges_the_first_pair)
{
    struct list l = {0};
    for (p2p_time k = 0; k <= MAX; k++)
        add(&l, 10 * k, 10 * k + 5);
    ck_assert_uint_eq(l.count, MAX);
    expect(&l, 0, 0, 15);
    expect(&l, 1, 20, 25);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("busy_spans");
    TCase *tc = tcase_create("spans");
    tcase_add_loop_test(tc, fill_takes_idle_time_around_spans, 0,
                        (int)(sizeof(fills) / sizeof(fills[0])));
    tcase_add_test(tc, fill_on_an_idle_link);
    tcase_add_test(tc, add_merges_overlapping_and_adjoining);
    tcase_add_test(tc, prune_forgets_what_is_over);
    tcase_add_test(tc, add_bounds_the_spans);
    tcase_add_test(tc, add_bound_tie_merges_the_first_pair);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
