#include "core/backoff.h"

#include "core/assert.h"

p2p_time p2p_backoff_base(const struct p2p_backoff *b, uint32_t attempt)
{
    P2P_ASSERT(b->factor_permille >= 1000);
    p2p_time d = b->initial_ns;
    for (uint32_t i = 0; i < attempt && d < b->max_ns; i++) {
        /* The second test keeps d * factor within 64 bits when max_ns is
         * near its top (found by fuzz_chunk_scheduler). */
        if (d > b->max_ns / b->factor_permille * 1000 ||
            d > UINT64_MAX / b->factor_permille)
            return b->max_ns;
        d = d * b->factor_permille / 1000;
    }
    return d < b->max_ns ? d : b->max_ns;
}

p2p_time p2p_backoff_delay(const struct p2p_backoff *b, uint32_t attempt,
                           struct p2p_rng *rng)
{
    return p2p_rng_jitter(rng, p2p_backoff_base(b, attempt), b->jitter_pct);
}
