#include "core/rng.h"

#include "core/assert.h"

#define PCG_MULT 6364136223846793005ULL

void p2p_rng_init(struct p2p_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    (void)p2p_rng_u32(rng);
    rng->state += seed;
    (void)p2p_rng_u32(rng);
}

uint32_t p2p_rng_u32(struct p2p_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint64_t p2p_rng_u64(struct p2p_rng *rng)
{
    uint64_t hi = p2p_rng_u32(rng);
    return (hi << 32) | p2p_rng_u32(rng);
}

uint64_t p2p_rng_below(struct p2p_rng *rng, uint64_t bound)
{
    P2P_ASSERT(bound > 0);
    /* Reject the low values that would bias the modulo. */
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t r = p2p_rng_u64(rng);
        if (r >= threshold)
            return r % bound;
    }
}

int p2p_rng_chance_ppm(struct p2p_rng *rng, uint32_t ppm)
{
    if (ppm == 0)
        return 0;
    return p2p_rng_below(rng, 1000000) < ppm;
}

void p2p_rng_fill(struct p2p_rng *rng, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = p2p_rng_u64(rng);
        for (size_t k = 0; k < 8 && i + k < n; k++)
            out[i + k] = (uint8_t)(v >> (8 * k));
    }
}

uint64_t p2p_rng_jitter(struct p2p_rng *rng, uint64_t value,
                        uint32_t jitter_pct)
{
    if (jitter_pct == 0 || value == 0)
        return value;
    /* [value - q, value + q], the top capped at UINT64_MAX (a base of
     * P2P_TIME_NEVER must not wrap to an early time). */
    uint64_t q = value / 100 * jitter_pct;
    uint64_t low = value - q;
    uint64_t high = q > UINT64_MAX - value ? UINT64_MAX : value + q;
    if (high - low == UINT64_MAX)
        return p2p_rng_u64(rng);
    return low + p2p_rng_below(rng, high - low + 1);
}
