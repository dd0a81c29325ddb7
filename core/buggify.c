/* BUGGIFY fault points (see buggify.h). */
#include "core/buggify.h"

#include <string.h>

#ifdef P2P_BUGGIFY

void p2p__buggify_init(struct p2p_buggify *b, const struct p2p_config *cfg)
{
    memset(b, 0, sizeof(*b));
    if (!cfg->buggify)
        return;
    p2p_rng_init(&b->rng, cfg->seed,
                 ((uint64_t)cfg->self << 32) | 0x62756767u /* "bugg" */);
    for (unsigned p = 0; p < P2P_BUGGIFY_POINTS; p++)
        if (p2p_rng_below(&b->rng, 100) < P2P_BUGGIFY_ENABLE_PCT)
            b->on |= 1u << p;
}

bool p2p__buggify_fire(struct p2p_buggify *b, enum p2p_buggify_point point)
{
    if (!(b->on & (1u << point)))
        return false;
    if (p2p_rng_below(&b->rng, 100) >= P2P_BUGGIFY_FIRE_PCT)
        return false;
    b->fired++;
    return true;
}

#endif
