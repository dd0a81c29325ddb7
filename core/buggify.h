/* Fault points inside core, in the spirit of FoundationDB's BUGGIFY: code
 * paths that honest runs rarely take (a retry, a redial, a cold refresh)
 * are made to happen on purpose, so that swarm runs exercise them.
 *
 * Compiled in only with P2P_BUGGIFY (the simulator's builds; a production
 * build leaves it out, and then cfg.buggify is refused). At node creation
 * each point is enabled with P2P_BUGGIFY_ENABLE_PCT % chance; an enabled
 * point then fires with P2P_BUGGIFY_FIRE_PCT % chance each time it is
 * reached. Both draws come from a PRNG stream of the node's own, seeded by
 * cfg.seed, so runs stay deterministic and the protocol's other draws are
 * untouched. Every point only delays or reorders work; none may break the
 * protocol's guarantees or penalise an honest peer. */
#ifndef P2P_CORE_BUGGIFY_H
#define P2P_CORE_BUGGIFY_H

#include <stdbool.h>

#define P2P_BUGGIFY_ENABLE_PCT 25u
#define P2P_BUGGIFY_FIRE_PCT 5u

enum p2p_buggify_point {
    P2P_BUGGIFY_DEFER_UPDATE,   /* a slot update waits one retry backoff */
    P2P_BUGGIFY_ANY_ADVERTISER, /* fetch from a random advertiser, not the
                                   least loaded */
    P2P_BUGGIFY_SKIP_REFRESH,   /* a bouncer refresh is skipped */
    P2P_BUGGIFY_REDIAL_LATE,    /* a lost connection is redialled after a
                                   backoff, not at once */
    P2P_BUGGIFY_COMPACT_TIMERS, /* the timer heap is compacted early */
    P2P_BUGGIFY_POINTS
};

#include "core/config.h"
#include "core/rng.h"

/* A node's fault points: which are enabled, and their own PRNG stream. */
struct p2p_buggify {
    struct p2p_rng rng;
    uint32_t on;    /* enabled points, a bit each */
    uint64_t fired; /* fault points that fired */
};

#ifdef P2P_BUGGIFY
/* Decides which points are enabled (none unless cfg->buggify). */
void p2p__buggify_init(struct p2p_buggify *b, const struct p2p_config *cfg);
/* True when the point is enabled and fires this time. */
bool p2p__buggify_fire(struct p2p_buggify *b, enum p2p_buggify_point point);
#define P2P_BUGGIFY_AT(b, point) p2p__buggify_fire((b), (point))
#else
#define P2P_BUGGIFY_AT(b, point) ((void)(b), false)
#endif

#endif
