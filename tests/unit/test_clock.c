/* A node's local clock: identity, exact drift over 30 days (past 2^64 in the
 * intermediate product), floor boundaries at t-1 and t, offset jumps both
 * ways with the clock held monotonic, drift limit and limit+1, NEVER and
 * overflow, and the local <-> global round trip on random seeded clocks. */
#include "harness.h"

#include "core/rng.h"
#include "sim/clock.h"

#define DAY_NS (86400ULL * P2P_NS_PER_S)
#define DAYS_30_NS (30ULL * DAY_NS) /* 2,592,000,000,000,000 ns */

/* Local time at t on a copy, so the clock under test keeps its last_local. */
static p2p_time peek(const struct sim_clock *c, p2p_time t)
{
    struct sim_clock copy = *c;
    return sim_clock_local(&copy, t);
}

START_TEST(identity_clock_reads_global_time)
{
    struct sim_clock c;
    sim_clock_init(&c);
    p2p_time ts[] = {0, 1, 999, P2P_NS_PER_S, DAYS_30_NS, SIM_CLOCK_LOCAL_MAX};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        ck_assert_uint_eq(sim_clock_local(&c, ts[i]), ts[i]);
        ck_assert_uint_eq(c.last_local, ts[i]);
    }
    struct sim_clock d;
    sim_clock_init(&d);
    ck_assert_uint_eq(sim_clock_global(&d, 0, 12345), 12345);
    ck_assert_uint_eq(sim_clock_global(&d, 500, 12345), 12345);
    ck_assert_uint_eq(sim_clock_global(&d, 20000, 12345), 20000); /* past */
}
END_TEST

/* Table: drift, global time, exact local time. The +-500000 rows at 30 days
 * multiply to ~3.9e21 (> 2^64) before the division. */
static const struct {
    int64_t drift_ppm;
    p2p_time global, local;
} drift_rows[] = {
    {500000, DAYS_30_NS, 3888000000000000ULL},
    {-500000, DAYS_30_NS, 1296000000000000ULL},
    {37, DAYS_30_NS, 2592095904000000ULL},
    {-37, DAYS_30_NS, 2591904096000000ULL},
    {1, 999999, 999999},   /* 999999.999999 floors: deadline - 1 */
    {1, 1000000, 1000001}, /* deadline */
    {-1, 999999, 999998},  /* 999998.000001 */
    {-1, 1000000, 999999},
    {500000, 1, 1},        /* 1.5 */
    {500000, 2, 3},
    {-500000, 1, 0},       /* 0.5 */
    {-500000, 3, 1},
};

START_TEST(drift_matches_exact_expectations)
{
    for (size_t i = 0; i < sizeof(drift_rows) / sizeof(drift_rows[0]); i++) {
        struct sim_clock c;
        sim_clock_init(&c);
        ck_assert_int_eq(sim_clock_skew(&c, 0, 0, drift_rows[i].drift_ppm), 0);
        ck_assert_msg(sim_clock_local(&c, drift_rows[i].global) ==
                          drift_rows[i].local,
                      "row %zu", i);
    }
}
END_TEST

/* Drift applies from the skew time on, not from zero. */
START_TEST(drift_starts_at_skew_time)
{
    struct sim_clock c;
    sim_clock_init(&c);
    p2p_time t0 = 7 * DAY_NS;
    ck_assert_int_eq(sim_clock_skew(&c, t0, 0, -500000), 0);
    ck_assert_uint_eq(sim_clock_local(&c, t0), t0);
    ck_assert_uint_eq(sim_clock_local(&c, t0 + DAYS_30_NS),
                      t0 + DAYS_30_NS / 2);
    /* Deadlines on the 1.5x line: local 3 is first read at +2, local 4 at +3. */
    struct sim_clock f;
    sim_clock_init(&f);
    ck_assert_int_eq(sim_clock_skew(&f, 100, 0, 500000), 0);
    ck_assert_uint_eq(sim_clock_global(&f, 100, 103), 102);
    ck_assert_uint_eq(peek(&f, 101), 101);
    ck_assert_uint_eq(peek(&f, 102), 103);
    ck_assert_uint_eq(sim_clock_global(&f, 100, 104), 103);
    ck_assert_uint_eq(peek(&f, 102), 103);
    ck_assert_uint_eq(peek(&f, 103), 104);
}
END_TEST

START_TEST(positive_offset_jumps_forward)
{
    struct sim_clock c;
    sim_clock_init(&c);
    ck_assert_uint_eq(sim_clock_local(&c, 1000), 1000);
    ck_assert_int_eq(sim_clock_skew(&c, 1000, 5000, 0), 0);
    ck_assert_uint_eq(c.last_local, 1000); /* skew hands nothing out */
    ck_assert_uint_eq(sim_clock_global(&c, 1000, 1001), 1000);
    ck_assert_uint_eq(sim_clock_global(&c, 1000, 6000), 1000);
    ck_assert_uint_eq(sim_clock_global(&c, 1000, 6001), 1001);
    ck_assert_uint_eq(sim_clock_local(&c, 1000), 6000);
    ck_assert_uint_eq(sim_clock_local(&c, 1001), 6001);
    ck_assert_uint_eq(sim_clock_local(&c, 2000), 7000);
}
END_TEST

START_TEST(negative_offset_holds_still_then_resumes)
{
    struct sim_clock c;
    sim_clock_init(&c);
    ck_assert_uint_eq(sim_clock_local(&c, 1000), 1000);
    ck_assert_int_eq(sim_clock_skew(&c, 1000, -300, 0), 0);
    ck_assert_uint_eq(c.base_local, 700);
    /* Held at 1000 until the line (700 at 1000) reaches it at 1300. */
    ck_assert_uint_eq(sim_clock_local(&c, 1000), 1000);
    ck_assert_uint_eq(sim_clock_local(&c, 1200), 1000);
    ck_assert_uint_eq(sim_clock_local(&c, 1299), 1000);
    ck_assert_uint_eq(sim_clock_local(&c, 1300), 1000);
    ck_assert_uint_eq(sim_clock_local(&c, 1301), 1001);
    ck_assert_uint_eq(sim_clock_local(&c, 1400), 1100);

    /* The next deadline past the held value is when the line resumes. */
    struct sim_clock d;
    sim_clock_init(&d);
    ck_assert_uint_eq(sim_clock_local(&d, 1000), 1000);
    ck_assert_int_eq(sim_clock_skew(&d, 1000, -300, 0), 0);
    ck_assert_uint_eq(sim_clock_global(&d, 1000, 900), 1000);  /* below base */
    ck_assert_uint_eq(sim_clock_global(&d, 1000, 1000), 1000); /* held */
    ck_assert_uint_eq(sim_clock_global(&d, 1000, 1001), 1301);
    ck_assert_uint_eq(peek(&d, 1300), 1000);
    ck_assert_uint_eq(peek(&d, 1301), 1001);
}
END_TEST

/* An offset past zero clamps the new base to 0: no underflow, still held. */
START_TEST(negative_offset_below_zero_does_not_underflow)
{
    struct sim_clock c;
    sim_clock_init(&c);
    ck_assert_uint_eq(sim_clock_local(&c, 100), 100);
    ck_assert_int_eq(sim_clock_skew(&c, 100, INT64_MIN, 0), 0);
    ck_assert_uint_eq(c.base_local, 0);
    ck_assert_uint_eq(sim_clock_local(&c, 150), 100);
    ck_assert_uint_eq(sim_clock_local(&c, 200), 100);
    ck_assert_uint_eq(sim_clock_local(&c, 201), 101);
    ck_assert_int_eq(sim_clock_skew(&c, 300, -200, -500000), 0);
    ck_assert_uint_eq(c.base_local, 0); /* exactly zero: 200 - 200 */
    /* Held at 101 until the 0.5x line from 0 at 300 passes it at 504. */
    ck_assert_uint_eq(sim_clock_global(&c, 300, 101), 300);
    ck_assert_uint_eq(sim_clock_global(&c, 300, 102), 504);
    ck_assert_uint_eq(peek(&c, 503), 101);
    ck_assert_uint_eq(peek(&c, 504), 102);
}
END_TEST

/* A skew while held jumps from the held reading, not from the line. */
START_TEST(skew_while_held_jumps_from_the_reading)
{
    struct sim_clock c;
    sim_clock_init(&c);
    ck_assert_uint_eq(sim_clock_local(&c, 1000), 1000);
    ck_assert_int_eq(sim_clock_skew(&c, 1000, -300, 0), 0);
    ck_assert_uint_eq(sim_clock_local(&c, 1200), 1000); /* line at 900 */
    ck_assert_int_eq(sim_clock_skew(&c, 1200, 50, 0), 0);
    ck_assert_uint_eq(sim_clock_local(&c, 1200), 1050);
    ck_assert_uint_eq(sim_clock_local(&c, 1210), 1060);
}
END_TEST

START_TEST(drift_limit_and_limit_plus_one)
{
    int64_t ok[] = {SIM_CLOCK_DRIFT_PPM_MAX, -SIM_CLOCK_DRIFT_PPM_MAX, 0};
    for (size_t i = 0; i < 3; i++) {
        struct sim_clock c;
        sim_clock_init(&c);
        ck_assert_int_eq(sim_clock_skew(&c, 10, 0, ok[i]), 0);
        ck_assert_int_eq(c.drift_ppm, ok[i]);
    }
    int64_t bad[] = {SIM_CLOCK_DRIFT_PPM_MAX + 1, -SIM_CLOCK_DRIFT_PPM_MAX - 1,
                     INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < 4; i++) {
        struct sim_clock c, before;
        sim_clock_init(&c);
        ck_assert_int_eq(sim_clock_skew(&c, 10, 77, 250), 0);
        ck_assert_uint_eq(sim_clock_local(&c, 20), 10 + 77 + 10);
        before = c;
        ck_assert_int_eq(sim_clock_skew(&c, 30, 5, bad[i]),
                         P2P_ERR_INVALID_ARG);
        ck_assert(memcmp(&c, &before, sizeof(c)) == 0); /* unchanged */
    }
}
END_TEST

START_TEST(never_and_overflow)
{
    struct sim_clock c;
    sim_clock_init(&c);
    ck_assert_uint_eq(sim_clock_global(&c, 0, P2P_TIME_NEVER), P2P_TIME_NEVER);
    ck_assert_uint_eq(sim_clock_global(&c, 0, SIM_CLOCK_LOCAL_MAX),
                      SIM_CLOCK_LOCAL_MAX);
    /* At 0.5x, local MAX would be read after global 2^65: NEVER. */
    ck_assert_int_eq(sim_clock_skew(&c, 0, 0, -500000), 0);
    ck_assert_uint_eq(sim_clock_global(&c, 0, SIM_CLOCK_LOCAL_MAX),
                      P2P_TIME_NEVER);
    ck_assert_uint_eq(sim_clock_global(&c, 0, P2P_TIME_NEVER / 2),
                      P2P_TIME_NEVER - 1); /* exactly fits */
    ck_assert_uint_eq(sim_clock_global(&c, 0, P2P_TIME_NEVER / 2 + 1),
                      P2P_TIME_NEVER);
    /* Readings saturate at SIM_CLOCK_LOCAL_MAX, never NEVER. */
    struct sim_clock f;
    sim_clock_init(&f);
    ck_assert_int_eq(sim_clock_skew(&f, 0, INT64_MAX, 500000), 0);
    ck_assert_uint_eq(sim_clock_local(&f, P2P_TIME_NEVER - 1),
                      SIM_CLOCK_LOCAL_MAX);
    ck_assert_uint_eq(sim_clock_local(&f, P2P_TIME_NEVER), SIM_CLOCK_LOCAL_MAX);
    /* A positive offset saturates too; the reading is then due at once. */
    struct sim_clock h;
    sim_clock_init(&h);
    p2p_time late = P2P_TIME_NEVER - 10;
    ck_assert_uint_eq(sim_clock_local(&h, late), late);
    ck_assert_int_eq(sim_clock_skew(&h, late, INT64_MAX, 0), 0);
    ck_assert_uint_eq(h.base_local, SIM_CLOCK_LOCAL_MAX);
    ck_assert_uint_eq(sim_clock_global(&h, late, SIM_CLOCK_LOCAL_MAX), late);
    ck_assert_uint_eq(sim_clock_local(&h, late + 1), SIM_CLOCK_LOCAL_MAX);
}
END_TEST

/* Builds a random clock: a few skews (random offsets both ways, drifts
 * including the extremes) interleaved with reads at increasing times. */
static p2p_time random_clock(struct p2p_rng *rng, struct sim_clock *c)
{
    sim_clock_init(c);
    p2p_time t = p2p_rng_below(rng, 2) ? p2p_rng_below(rng, DAYS_30_NS)
                                       : p2p_rng_below(rng, 1000);
    uint32_t steps = (uint32_t)p2p_rng_below(rng, 6);
    for (uint32_t s = 0; s < steps; s++) {
        int64_t drift;
        switch (p2p_rng_below(rng, 4)) {
        case 0: drift = SIM_CLOCK_DRIFT_PPM_MAX; break;
        case 1: drift = -SIM_CLOCK_DRIFT_PPM_MAX; break;
        default:
            drift = (int64_t)p2p_rng_below(rng, 2 * SIM_CLOCK_DRIFT_PPM_MAX + 1);
            drift -= SIM_CLOCK_DRIFT_PPM_MAX;
        }
        int64_t span = p2p_rng_below(rng, 2) ? (int64_t)P2P_NS_PER_S : 1000;
        int64_t offset = (int64_t)p2p_rng_below(rng, 2 * (uint64_t)span + 1);
        offset -= span;
        ck_assert_int_eq(sim_clock_skew(c, t, offset, drift), 0);
        t += p2p_rng_below(rng, (uint64_t)span);
        p2p_time before = c->last_local;
        ck_assert_uint_ge(sim_clock_local(c, t), before);
        t += p2p_rng_below(rng, (uint64_t)span);
    }
    return t;
}

/* g = global(now, L): local(g) >= L, and local(g-1) < L when g > now. */
START_TEST(round_trip_on_random_clocks)
{
    const uint64_t seed = 20240611;
    struct p2p_rng rng;
    p2p_rng_init(&rng, seed, 7);
    for (uint32_t i = 0; i < 20000; i++) {
        struct sim_clock c;
        p2p_time now = random_clock(&rng, &c);
        p2p_time at_now = peek(&c, now);
        p2p_time L;
        switch (p2p_rng_below(&rng, 4)) {
        case 0: /* at or before the reading: due now */
            L = at_now - p2p_rng_below(&rng, at_now < 1000 ? at_now + 1 : 1000);
            break;
        case 1: L = at_now + p2p_rng_below(&rng, 1000); break;
        case 2: L = at_now + p2p_rng_below(&rng, DAYS_30_NS); break;
        default: L = SIM_CLOCK_LOCAL_MAX - p2p_rng_below(&rng, 4); /* NEVER */
        }
        p2p_time g = sim_clock_global(&c, now, L);
        struct sim_clock keep = c;
        if (g == P2P_TIME_NEVER) {
            ck_assert_msg(peek(&c, P2P_TIME_NEVER - 1) < L,
                          "seed %llu iter %u: NEVER but reachable",
                          (unsigned long long)seed, i);
            continue;
        }
        ck_assert_msg(g >= now, "seed %llu iter %u", (unsigned long long)seed, i);
        ck_assert_msg(peek(&c, g) >= L, "seed %llu iter %u: local(g) < L",
                      (unsigned long long)seed, i);
        if (g > now)
            ck_assert_msg(peek(&c, g - 1) < L,
                          "seed %llu iter %u: local(g-1) >= L",
                          (unsigned long long)seed, i);
        else
            ck_assert_msg(at_now >= L, "seed %llu iter %u",
                          (unsigned long long)seed, i);
        ck_assert(memcmp(&c, &keep, sizeof(c)) == 0); /* global is pure */
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("clock");
    tcase_add_test(tc, identity_clock_reads_global_time);
    tcase_add_test(tc, drift_matches_exact_expectations);
    tcase_add_test(tc, drift_starts_at_skew_time);
    tcase_add_test(tc, positive_offset_jumps_forward);
    tcase_add_test(tc, negative_offset_holds_still_then_resumes);
    tcase_add_test(tc, negative_offset_below_zero_does_not_underflow);
    tcase_add_test(tc, skew_while_held_jumps_from_the_reading);
    tcase_add_test(tc, drift_limit_and_limit_plus_one);
    tcase_add_test(tc, never_and_overflow);
    tcase_add_test(tc, round_trip_on_random_clocks);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
