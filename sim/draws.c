#include "sim/draws.h"

typedef unsigned __int128 u128;

#define ONE_Q64 ((u128)1 << 64)
#define PPM 1000000u

/* a * b for fractions in Q0.64 (value / 2^64), rounded down. */
static uint64_t mul_q64(uint64_t a, uint64_t b)
{
    return (uint64_t)(((u128)a * b) >> 64);
}

/* q^n for q in Q0.64, by squaring. */
static uint64_t pow_q64(uint64_t q, uint64_t n)
{
    /* The result starts at 1, which Q0.64 cannot hold: track it apart. */
    uint64_t acc = 0;
    int acc_is_one = 1;
    while (n > 0) {
        if (n & 1) {
            acc = acc_is_one ? q : mul_q64(acc, q);
            acc_is_one = 0;
        }
        n >>= 1;
        if (n > 0)
            q = mul_q64(q, q);
    }
    return acc_is_one ? UINT64_MAX : acc;
}

uint32_t sim_draws_lost_times_ppm(uint32_t ppm, uint32_t times,
                                  uint64_t packets)
{
    if (ppm == 0 || times == 0 || packets == 0)
        return 0;
    if (ppm >= PPM)
        ppm = PPM - 1;
    /* p in Q0.64, then p^times. */
    uint64_t p = (uint64_t)(((u128)ppm << 64) / PPM);
    uint64_t pk = pow_q64(p, times);
    if (pk == 0)
        return 0; /* below 2^-64: never */
    /* 1 - (1 - pk)^packets, in ppm. 1 - pk fits: pk > 0. */
    uint64_t stays = pow_q64((uint64_t)(ONE_Q64 - pk), packets);
    u128 chance_q64 = ONE_Q64 - stays;
    /* Rounded down after a nudge of 2^-24 ppm, far above the error of
     * the fixed point (a few 2^-64), so that an exact whole ppm (one
     * packet: the rate itself) is not rounded down to the one below. */
    uint64_t chance = (uint64_t)((chance_q64 * PPM + ((u128)1 << 40)) >> 64);
    return chance > PPM - 1 ? PPM - 1 : (uint32_t)chance;
}

/* log2(m) for m >= 1, in Q56 (value / 2^56): the integer part from the
 * highest bit, then each fraction bit by squaring the mantissa. */
static uint64_t log2_q56(uint64_t m)
{
    unsigned e = 63u - (unsigned)__builtin_clzll(m);
    /* The mantissa m / 2^e in [1, 2), in Q62. */
    uint64_t x = e <= 62 ? m << (62 - e) : m >> 1;
    uint64_t frac = 0;
    for (int bit = 55; bit >= 0; bit--) {
        x = (uint64_t)(((u128)x * x) >> 62);
        if (x >= ((uint64_t)1 << 63)) { /* >= 2 */
            x >>= 1;
            frac |= (uint64_t)1 << bit;
        }
    }
    return ((uint64_t)e << 56) | frac;
}

/* ln 2 in Q0.64: 0.693147180559945309417... * 2^64, rounded down. */
#define LN2_Q64 0xB17217F7D1CF79ABull

p2p_time sim_draws_exponential_ns(uint64_t r, p2p_time mean_ns)
{
    uint64_t m = (r >> 11) + 1; /* u = m / 2^53, m in [1, 2^53] */
    /* -log2(u) = 53 - log2(m) in [0, 53], Q56. */
    uint64_t neg_log2 = ((uint64_t)53 << 56) - log2_q56(m);
    uint64_t neg_ln = mul_q64(neg_log2, LN2_Q64); /* still Q56 */
    u128 gap = ((u128)neg_ln * mean_ns) >> 56;
    if (gap < 1)
        return 1;
    return gap >= P2P_TIME_NEVER ? P2P_TIME_NEVER - 1 : (p2p_time)gap;
}
