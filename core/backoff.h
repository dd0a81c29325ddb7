/* Exponential backoff with jitter, integer only.
 *
 * delay(attempt) = min(initial * factor^attempt, max), then +-jitter_pct %
 * from the caller's PRNG. factor is given in per-mille (2000 = x2); each
 * step multiplies exactly and rounds down (so a small initial under a
 * fractional factor may not grow), and the result saturates at max, never
 * wrapping, whatever the values. */
#ifndef P2P_CORE_BACKOFF_H
#define P2P_CORE_BACKOFF_H

#include <stdint.h>

#include "core/rng.h"
#include "core/types.h"

struct p2p_backoff {
    p2p_time initial_ns;
    p2p_time max_ns;
    uint32_t factor_permille; /* >= 1000 */
    uint32_t jitter_pct;      /* 0..100 */
};

/* The delay before retry number `attempt` (0 = first retry). */
p2p_time p2p_backoff_delay(const struct p2p_backoff *b, uint32_t attempt,
                           struct p2p_rng *rng);

/* The same without jitter: the centre of the window. */
p2p_time p2p_backoff_base(const struct p2p_backoff *b, uint32_t attempt);

#endif
