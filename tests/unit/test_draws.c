/* The simulator's integer-only random draws (sim/draws.c): close to the
 * real functions, and pinned to exact values, so a trace cannot change
 * with the platform, the compiler or libm. libm is used here only to
 * check closeness. */
#include <math.h>

#include "harness.h"

#include "sim/draws.h"

static double lost_times_real(uint32_t ppm, uint32_t times, uint64_t packets)
{
    double pk = pow((double)ppm / 1e6, (double)times);
    /* 1 - (1 - pk)^packets, without cancellation for small pk. */
    return -expm1((double)packets * log1p(-pk));
}

/* Within one ppm of the real chance (rounding down), over rates from
 * 1 ppm to 99.9999 %, one to 16 losses, and 1 to 2^30 packets. */
START_TEST(loss_chance_is_close_to_the_real_one)
{
    static const uint32_t rates[] = {1, 10, 5000, 20000, 100000, 500000,
                                     999999};
    static const uint64_t packets[] = {1, 2, 7, 874, 100000, 1u << 30};
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
        for (uint32_t times = 1; times <= 16; times++)
            for (size_t k = 0; k < sizeof(packets) / sizeof(packets[0]);
                 k++) {
                double real =
                    lost_times_real(rates[i], times, packets[k]) * 1e6;
                if (real > 999999.0)
                    real = 999999.0;
                uint32_t got =
                    sim_draws_lost_times_ppm(rates[i], times, packets[k]);
                ck_assert_msg(fabs((double)got - floor(real)) <= 1.0,
                              "ppm %u times %u packets %llu: %u, real %.6f",
                              rates[i], times,
                              (unsigned long long)packets[k], got, real);
            }
}
END_TEST

START_TEST(loss_chance_edges)
{
    ck_assert_uint_eq(sim_draws_lost_times_ppm(0, 1, 1000), 0);
    ck_assert_uint_eq(sim_draws_lost_times_ppm(5000, 0, 1000), 0);
    ck_assert_uint_eq(sim_draws_lost_times_ppm(5000, 1, 0), 0);
    /* p^times below 2^-64: never. */
    ck_assert_uint_eq(sim_draws_lost_times_ppm(1, 16, 1u << 30), 0);
    /* A rate of 100 % is taken as 999,999 ppm; the chance saturates. */
    ck_assert_uint_eq(sim_draws_lost_times_ppm(1000000, 1, 1), 999999);
    ck_assert_uint_eq(sim_draws_lost_times_ppm(999999, 1, 1000), 999999);
    /* One packet: exactly the rate. */
    ck_assert_uint_eq(sim_draws_lost_times_ppm(5000, 1, 1), 5000);
    ck_assert_uint_eq(sim_draws_lost_times_ppm(1, 1, 1), 1);
}
END_TEST

/* -ln(u) * mean within a nanosecond and a part in 10^12 of the real
 * value, over u from 2^-53 to 1. */
START_TEST(exponential_gap_is_close_to_the_real_one)
{
    static const uint64_t bits[] = {0,
                                    1ull << 11,
                                    0x0123456789abcdefull,
                                    0x5555555555555555ull,
                                    0x8000000000000000ull,
                                    0xb504f333f9de6484ull,
                                    0xfffffffffffff7ffull,
                                    UINT64_MAX};
    static const p2p_time means[] = {1, 1000, 10 * P2P_NS_PER_MS,
                                     P2P_NS_PER_S, 3600 * P2P_NS_PER_S};
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        for (size_t k = 0; k < sizeof(means) / sizeof(means[0]); k++) {
            double u =
                ((double)(bits[i] >> 11) + 1.0) / 9007199254740992.0;
            double real = -log(u) * (double)means[k];
            p2p_time got = sim_draws_exponential_ns(bits[i], means[k]);
            double want = real < 1.0 ? 1.0 : floor(real);
            ck_assert_msg(fabs((double)got - want) <= 1.0 + want * 1e-12,
                          "bits %016llx mean %llu: %llu, real %.3f",
                          (unsigned long long)bits[i],
                          (unsigned long long)means[k],
                          (unsigned long long)got, real);
        }
}
END_TEST

/* Exact values, the same on every platform: a change here changes every
 * trace with loss or Poisson arrivals. */
START_TEST(draws_are_pinned)
{
    ck_assert_uint_eq(sim_draws_lost_times_ppm(5000, 1, 1), 5000);
    ck_assert_uint_eq(sim_draws_lost_times_ppm(5000, 1, 874), 987486);
    ck_assert_uint_eq(sim_draws_lost_times_ppm(20000, 2, 100000),
                      999999);
    ck_assert_uint_eq(sim_draws_lost_times_ppm(100000, 5, 1u << 20),
                      999972);
    ck_assert_uint_eq(
        sim_draws_exponential_ns(0x0123456789abcdefull, P2P_NS_PER_S),
        5416100402ull);
    ck_assert_uint_eq(
        sim_draws_exponential_ns(0x5555555555555555ull, 10 * P2P_NS_PER_MS),
        10986122ull);
    ck_assert_uint_eq(sim_draws_exponential_ns(0, P2P_NS_PER_S), 36736800569ull);
    ck_assert_uint_eq(sim_draws_exponential_ns(UINT64_MAX, P2P_NS_PER_S), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("draws");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, loss_chance_is_close_to_the_real_one);
    tcase_add_test(tc, loss_chance_edges);
    tcase_add_test(tc, exponential_gap_is_close_to_the_real_one);
    tcase_add_test(tc, draws_are_pinned);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
