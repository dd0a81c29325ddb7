#include "core/backoff.h"

#include "core/assert.h"

p2p_time p2p_backoff_base(const struct p2p_backoff *b, uint32_t attempt)
{
    P2P_ASSERT(b->factor_permille >= 1000);
    const uint64_t f = b->factor_permille;
    p2p_time d = b->initial_ns;
    for (uint32_t i = 0; i < attempt && d < b->max_ns; i++) {
        /* d * f / 1000 exactly, in 64 bits: (d / 1000) * f plus
         * (d % 1000) * f / 1000, the latter below 1000 * 2^32. */
        uint64_t q = d / 1000, r = d % 1000;
        if (q > b->max_ns / f)
            return b->max_ns; /* q * f alone passes max */
        uint64_t next = q * f, add = r * f / 1000;
        if (add >= b->max_ns - next)
            return b->max_ns;
        if (next + add == d)
            break; /* no longer grows (factor 1000, or rounding) */
        d = next + add;
    }
    return d < b->max_ns ? d : b->max_ns;
}

p2p_time p2p_backoff_delay(const struct p2p_backoff *b, uint32_t attempt,
                           struct p2p_rng *rng)
{
    return p2p_rng_jitter(rng, p2p_backoff_base(b, attempt), b->jitter_pct);
}
