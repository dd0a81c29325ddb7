/* Internal: a protocol module's environment, the collaborators it
 * borrows from its node instead of the whole node: the config, the
 * allocator, the outbox its effects go to, the timers, the protocol's
 * PRNG, the counters and histograms, the fault points, the penalty ledger,
 * the pools and the client's bouncer. The node owns every one of them and
 * outlives its modules; a module keeps a const pointer to the node's env
 * (the bouncer may change while the node runs). */
#ifndef P2P_CORE_ENV_H
#define P2P_CORE_ENV_H

#include "core/bouncer.h"
#include "core/buggify.h"
#include "core/config.h"
#include "core/ledger.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/outbox.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/timers.h"

struct p2p_env {
    const struct p2p_config *cfg;
    struct p2p_mem *mem;
    struct p2p_outbox *outbox;
    struct p2p_timers *timers;
    struct p2p_rng *rng; /* the protocol's draws, in event order */
    struct p2p_metrics *metrics;
    struct p2p_histogram *hists; /* P2P_HISTS_COUNT of them */
    struct p2p_buggify *bug;
    struct p2p_ledger *ledger;
    struct p2p_pool *pool;
    p2p_bouncer_fn bouncer; /* never NULL */
    void *bouncer_ctx;      /* borrowed */
    /* Where large fetched bodies are written as they arrive (borrowed;
     * NULL: in memory, as the simulator keeps them). */
    const struct p2p_body_store *body_store;
};

#endif
