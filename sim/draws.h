/* The simulator's non-uniform random draws in integer arithmetic only (no
 * libm, no floating point), so the same seed gives the same trace on every
 * platform, compiler and libm: the chance a loss-recovery round is needed,
 * and exponential gaps for Poisson arrivals. Fixed point on 64 bits with
 * 128-bit products; each function is exact to the bit in its own
 * arithmetic, and within a few parts in 10^15 of the real value. */
#ifndef P2P_SIM_DRAWS_H
#define P2P_SIM_DRAWS_H

#include <stdint.h>

#include "core/types.h"

/* The chance, in ppm (at most 999,999), that some one of `packets`
 * packets (>= 1), each lost independently with rate ppm (< 1,000,000), is
 * lost `times` times in a row (>= 1): 1 - (1 - p^times)^packets, rounded
 * down (a value within 2^-24 ppm below a whole ppm counts as that ppm). */
uint32_t sim_draws_lost_times_ppm(uint32_t ppm, uint32_t times,
                                  uint64_t packets);

/* An exponential gap with mean mean_ns from 64 random bits r:
 * -ln(u) * mean_ns, u = ((r >> 11) + 1) / 2^53 in (0, 1], rounded down and
 * at least 1. */
p2p_time sim_draws_exponential_ns(uint64_t r, p2p_time mean_ns);

#endif
