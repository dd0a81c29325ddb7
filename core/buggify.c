/* BUGGIFY fault points (see buggify.h). */
#include "core/buggify.h"

#include "core/node.h"

#ifdef P2P_BUGGIFY

void p2p__buggify_init(struct p2p_node *n)
{
    n->buggify_on = 0;
    if (!n->cfg.buggify)
        return;
    p2p_rng_init(&n->buggify_rng, n->cfg.seed,
                 ((uint64_t)n->cfg.self << 32) | 0x62756767u /* "bugg" */);
    for (unsigned p = 0; p < P2P_BUGGIFY_POINTS; p++)
        if (p2p_rng_below(&n->buggify_rng, 100) < P2P_BUGGIFY_ENABLE_PCT)
            n->buggify_on |= 1u << p;
}

bool p2p__buggify(struct p2p_node *n, enum p2p_buggify_point point)
{
    if (!(n->buggify_on & (1u << point)))
        return false;
    if (p2p_rng_below(&n->buggify_rng, 100) >= P2P_BUGGIFY_FIRE_PCT)
        return false;
    n->metrics_buggify_fired++;
    return true;
}

#endif
