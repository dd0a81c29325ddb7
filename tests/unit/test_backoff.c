/* The backoff alone (core/backoff.h): the base delay
 * min(initial * factor^attempt, max) as a table (growth, the attempt
 * before and at the one that reaches max, max - 1 / max / max + 1 around
 * the product, initial at and past max, factor x1, the node's defaults,
 * the largest factor, saturation near UINT64_MAX without wrapping), and the
 * jittered delay: no jitter is the base, every draw inside +-jitter_pct %,
 * both sides of the window reached, replay from the seed, and the largest
 * base whose window still fits in 64 bits. Only core/backoff.h and what it
 * needs (core/rng.h, core/types.h). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/backoff.h"
#include "core/rng.h"
#include "core/types.h"

__extension__ typedef unsigned __int128 u128;

#define S P2P_NS_PER_S
#define MS P2P_NS_PER_MS

struct row {
    p2p_time initial_ns, max_ns;
    uint32_t factor_permille, attempt;
    p2p_time want;
};

/* Rows whose product is exact at every step, so that the header's formula
 * has one integer answer. */
static const struct row rows[] = {
    /* x2 from 100 to 10000: attempts 0..7, the first at max is 7. */
    {100, 10000, 2000, 0, 100},
    {100, 10000, 2000, 1, 200},
    {100, 10000, 2000, 2, 400},
    {100, 10000, 2000, 5, 3200},
    {100, 10000, 2000, 6, 6400},   /* attempt before max */
    {100, 10000, 2000, 7, 10000},  /* 12800: capped */
    {100, 10000, 2000, 8, 10000},
    {100, 10000, 2000, 1000, 10000},
    {100, 10000, 2000, UINT32_MAX, 10000},
    /* The product is 8000 at attempt 3: max one below, equal, one above. */
    {1000, 7999, 2000, 2, 4000},
    {1000, 7999, 2000, 3, 7999},
    {1000, 8000, 2000, 2, 4000},
    {1000, 8000, 2000, 3, 8000},
    {1000, 8000, 2000, 4, 8000},
    {1000, 8001, 2000, 3, 8000},
    {1000, 8001, 2000, 4, 8001},
    /* initial below, at and past max. */
    {4999, 5000, 2000, 0, 4999},
    {4999, 5000, 2000, 1, 5000},
    {5000, 5000, 2000, 0, 5000},
    {5000, 5000, 2000, 1, 5000},
    {5001, 5000, 2000, 0, 5000},
    {5001, 5000, 2000, UINT32_MAX, 5000},
    /* x1: constant. */
    {7000, 10000, 1000, 0, 7000},
    {7000, 10000, 1000, 1, 7000},
    {7000, 10000, 1000, 1000, 7000},
    /* x3 from 1: the powers of three up to max. */
    {1, 3000000, 3000, 1, 3},
    {1, 3000000, 3000, 4, 81},
    {1, 3000000, 3000, 13, 1594323},   /* attempt before max */
    {1, 3000000, 3000, 14, 3000000},   /* 4782969: capped */
    /* The node's update backoff: 250 ms x2 up to 60 s. */
    {250 * MS, 60 * S, 2000, 0, 250 * MS},
    {250 * MS, 60 * S, 2000, 3, 2 * S},
    {250 * MS, 60 * S, 2000, 7, 32 * S},
    {250 * MS, 60 * S, 2000, 8, 60 * S},
    /* The node's fetch backoff: 5 s x1.5 up to 120 s. */
    {5 * S, 120 * S, 1500, 1, 7500 * MS},
    {5 * S, 120 * S, 1500, 2, 11250 * MS},
    {5 * S, 120 * S, 1500, 5, 37968750 * P2P_NS_PER_US},
    {5 * S, 120 * S, 1500, 7, 85429687500ULL},
    {5 * S, 120 * S, 1500, 8, 120 * S},
    /* The node's redial backoff: 5 s x2 up to 10 s. */
    {5 * S, 10 * S, 2000, 0, 5 * S},
    {5 * S, 10 * S, 2000, 1, 10 * S},
    {5 * S, 10 * S, 2000, 2, 10 * S},
    /* The largest factor. */
    {1000, UINT64_MAX, UINT32_MAX, 1, UINT32_MAX},
    {1000, UINT64_MAX, UINT32_MAX, 2, 18446744065119617ULL},
    {1000, UINT64_MAX, UINT32_MAX, 3, UINT64_MAX},
    /* Near UINT64_MAX: products past 64 bits saturate at max, never wrap. */
    {1ULL << 63, UINT64_MAX, 2000, 1, UINT64_MAX},
    {1ULL << 63, UINT64_MAX, 2000, UINT32_MAX, UINT64_MAX},
    {1ULL << 61, UINT64_MAX, 8000, 1, UINT64_MAX},
    {UINT64_MAX - 1, UINT64_MAX, 1001, 1, UINT64_MAX},
    {UINT64_MAX, UINT64_MAX, 2000, 0, UINT64_MAX},
    {UINT64_MAX, UINT64_MAX, 2000, 1, UINT64_MAX},
    {1ULL << 62, UINT64_MAX - 1, 4000, 1, UINT64_MAX - 1},
    {3, UINT64_MAX, 2000, 64, UINT64_MAX}, /* 3 * 2^64 */
    {1, UINT64_MAX, 2000, 64, UINT64_MAX}, /* 2^64: one past */
};
#define ROWS_COUNT (sizeof(rows) / sizeof(rows[0]))

static struct p2p_backoff backoff_of(const struct row *r, uint32_t jitter_pct)
{
    return (struct p2p_backoff){.initial_ns = r->initial_ns,
                                .max_ns = r->max_ns,
                                .factor_permille = r->factor_permille,
                                .jitter_pct = jitter_pct};
}

START_TEST(base_table)
{
    for (size_t i = 0; i < ROWS_COUNT; i++) {
        struct p2p_backoff b = backoff_of(&rows[i], 50);
        p2p_time got = p2p_backoff_base(&b, rows[i].attempt);
        ck_assert_msg(got == rows[i].want, "row %zu: base %llu, want %llu", i,
                      (unsigned long long)got, (unsigned long long)rows[i].want);
    }
}
END_TEST

/* The base never decreases with the attempt and never passes max. */
START_TEST(base_is_monotonic_and_capped)
{
    static const struct p2p_backoff cfgs[] = {
        {1, 1000000, 1001, 0},          {250 * MS, 60 * S, 2000, 0},
        {5 * S, 120 * S, 1500, 0},      {1, UINT64_MAX, 2000, 0},
        {1, UINT64_MAX, UINT32_MAX, 0}, {123456789, UINT64_MAX, 1234, 0},
    };
    for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
        p2p_time prev = 0;
        for (uint32_t a = 0; a < 200; a++) {
            p2p_time d = p2p_backoff_base(&cfgs[c], a);
            ck_assert_msg(d >= prev, "cfg %zu attempt %u: %llu < %llu", c, a,
                          (unsigned long long)d, (unsigned long long)prev);
            ck_assert_uint_le(d, cfgs[c].max_ns);
            prev = d;
        }
    }
}
END_TEST

/* Without jitter the delay is the base, for every row. */
START_TEST(delay_without_jitter_is_the_base)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, 7, 1);
    for (size_t i = 0; i < ROWS_COUNT; i++) {
        struct p2p_backoff b = backoff_of(&rows[i], 0);
        ck_assert_uint_eq(p2p_backoff_delay(&b, rows[i].attempt, &rng),
                          rows[i].want);
    }
}
END_TEST

/* The window +-pct % of base, in 128 bits: [base - base*pct/100,
 * base + base*pct/100]. */
static void window(p2p_time base, uint32_t pct, u128 *lo, u128 *hi)
{
    u128 q = (u128)base * pct / 100;
    *lo = (u128)base - q;
    *hi = (u128)base + q;
}

/* Every draw lies in the window, for jitter 1..100 % and bases around the
 * percent's granularity (99, 100, 101) up to the node's largest. */
START_TEST(delay_stays_in_the_window)
{
    static const uint32_t pcts[] = {1, 20, 50, 99, 100};
    static const p2p_time bases[] = {1, 99, 100, 101, 1000, 5 * S, 120 * S,
                                     UINT64_MAX / 4};
    struct p2p_rng rng;
    p2p_rng_init(&rng, 11, 3);
    for (size_t p = 0; p < sizeof(pcts) / sizeof(pcts[0]); p++) {
        for (size_t k = 0; k < sizeof(bases) / sizeof(bases[0]); k++) {
            struct p2p_backoff b = {bases[k], UINT64_MAX, 2000, pcts[p]};
            u128 lo, hi;
            window(bases[k], pcts[p], &lo, &hi);
            for (int draw = 0; draw < 500; draw++) {
                p2p_time d = p2p_backoff_delay(&b, 0, &rng);
                ck_assert_msg(d >= lo && d <= hi, "base %llu pct %u: %llu",
                              (unsigned long long)bases[k], pcts[p],
                              (unsigned long long)d);
            }
        }
    }
}
END_TEST

/* The jitter reaches both sides of the base, close to both edges. */
START_TEST(delay_spreads_over_both_sides)
{
    static const uint32_t pcts[] = {20, 50, 100};
    struct p2p_rng rng;
    p2p_rng_init(&rng, 5, 9);
    for (size_t p = 0; p < sizeof(pcts) / sizeof(pcts[0]); p++) {
        struct p2p_backoff b = {5 * S, 120 * S, 1500, pcts[p]};
        p2p_time base = p2p_backoff_base(&b, 3);
        u128 lo, hi;
        window(base, pcts[p], &lo, &hi);
        p2p_time min = UINT64_MAX, max = 0;
        for (int draw = 0; draw < 2000; draw++) {
            p2p_time d = p2p_backoff_delay(&b, 3, &rng);
            min = d < min ? d : min;
            max = d > max ? d : max;
        }
        u128 edge = (hi - lo) / 50; /* within 2 % of the window's width */
        ck_assert(min < base && max > base);
        ck_assert(min <= lo + edge);
        ck_assert(max >= hi - edge);
    }
}
END_TEST

/* The same seed gives the same delays; another seed other delays. */
START_TEST(delay_replays_from_the_seed)
{
    struct p2p_backoff b = {250 * MS, 60 * S, 2000, 50};
    p2p_time first[64];
    for (int run = 0; run < 2; run++) {
        struct p2p_rng rng;
        p2p_rng_init(&rng, 42, 1);
        for (uint32_t a = 0; a < 64; a++) {
            p2p_time d = p2p_backoff_delay(&b, a % 10, &rng);
            if (run == 0)
                first[a] = d;
            else
                ck_assert_uint_eq(d, first[a]);
        }
    }
    struct p2p_rng other;
    p2p_rng_init(&other, 43, 1);
    int same = 0;
    for (uint32_t a = 0; a < 64; a++)
        same += p2p_backoff_delay(&b, a % 10, &other) == first[a];
    ck_assert_int_lt(same, 64);
}
END_TEST

/* The largest base whose +-pct % window still fits in 64 bits: every draw
 * is inside the window (nothing wraps past UINT64_MAX to a short delay). */
START_TEST(delay_window_at_the_top_of_64_bits)
{
    static const uint32_t pcts[] = {1, 50, 100};
    for (size_t p = 0; p < sizeof(pcts) / sizeof(pcts[0]); p++) {
        uint32_t pct = pcts[p];
        /* Largest v with v + v*pct/100 <= UINT64_MAX. */
        u128 v = ((u128)UINT64_MAX * 100) / (100 + pct) + 200;
        while (v + v * pct / 100 > UINT64_MAX)
            v--;
        struct p2p_backoff b = {(p2p_time)v, UINT64_MAX, 2000, pct};
        ck_assert_uint_eq(p2p_backoff_base(&b, 0), (p2p_time)v);
        u128 lo, hi;
        window((p2p_time)v, pct, &lo, &hi);
        ck_assert(hi <= UINT64_MAX);
        struct p2p_rng rng;
        p2p_rng_init(&rng, 3, pct);
        for (int draw = 0; draw < 2000; draw++) {
            p2p_time d = p2p_backoff_delay(&b, 0, &rng);
            ck_assert_msg(d >= lo && d <= hi, "pct %u: %llu", pct,
                          (unsigned long long)d);
        }
    }
}
END_TEST

/* Saturation is exact: a step whose result is still below max_ns is taken
 * (an older guard rounded max_ns / factor down first and returned max_ns
 * too early, and refused any d above UINT64_MAX / factor although
 * d * factor / 1000 still fitted); each step rounds down. */
START_TEST(base_saturates_exactly)
{
    static const struct row bad[] = {
        {1001, 2999, 2000, 1, 2002},
        {1500, 1999, 1000, 1, 1500},
        {1, 100, 1500, 2, 1},            /* per-step rounding: 1 */
        {1ULL << 62, UINT64_MAX, 2000, 1, 1ULL << 63},
        {UINT64_MAX - 1, UINT64_MAX, 1000, 5, UINT64_MAX - 1},
        {1, UINT64_MAX, 2000, 63, 1ULL << 63}, /* 2^63 fits */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct p2p_backoff b = backoff_of(&bad[i], 0);
        ck_assert_msg(p2p_backoff_base(&b, bad[i].attempt) == bad[i].want,
                      "bad row %zu", i);
    }
}
END_TEST

/* A base of UINT64_MAX (max_ns = P2P_TIME_NEVER) with 50 % jitter: the
 * window's top is capped, so no draw wraps below the window (about half
 * did when the top overflowed). */
START_TEST(delay_does_not_wrap_near_uint64_max)
{
    struct p2p_backoff b = {UINT64_MAX, UINT64_MAX, 2000, 50};
    u128 lo, hi;
    window(UINT64_MAX, 50, &lo, &hi);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 1, 1);
    for (int draw = 0; draw < 1000; draw++)
        ck_assert(p2p_backoff_delay(&b, 0, &rng) >= lo);
}
END_TEST

/* A factor of 1000 never grows the base: the loop stops at once instead of
 * running `attempt` times. */
START_TEST(base_that_cannot_grow_stops_at_once)
{
    struct p2p_backoff b = {1000, 1000000, 1000, 0};
    ck_assert_uint_eq(p2p_backoff_base(&b, UINT32_MAX), 1000);
    struct p2p_backoff zero = {0, 1000000, 2000, 0};
    ck_assert_uint_eq(p2p_backoff_base(&zero, UINT32_MAX), 0);
}
END_TEST


int main(void)
{
    Suite *s = suite_create("backoff");
    TCase *base = tcase_create("base");
    tcase_add_test(base, base_table);
    tcase_add_test(base, base_is_monotonic_and_capped);
    tcase_add_test(base, base_saturates_exactly);
    tcase_add_test(base, base_that_cannot_grow_stops_at_once);
    suite_add_tcase(s, base);
    TCase *jitter = tcase_create("jitter");
    tcase_add_test(jitter, delay_without_jitter_is_the_base);
    tcase_add_test(jitter, delay_stays_in_the_window);
    tcase_add_test(jitter, delay_spreads_over_both_sides);
    tcase_add_test(jitter, delay_replays_from_the_seed);
    tcase_add_test(jitter, delay_window_at_the_top_of_64_bits);
    tcase_add_test(jitter, delay_does_not_wrap_near_uint64_max);
    suite_add_tcase(s, jitter);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
