/* What a core module borrows through its env (core/env.h), for suites that
 * test one module without a node: config, memory, outbox, timers, ledger,
 * pool, PRNG, metrics. The caller sets cfg after h_env_start, then calls
 * h_env_init; h_env_fini frees them (after the module's own fini). */
#ifndef P2P_TESTS_ENV_HARNESS_H
#define P2P_TESTS_ENV_HARNESS_H

#include <check.h>
#include <string.h>

#include "core/bouncer.h"
#include "core/buggify.h"
#include "core/config.h"
#include "core/env.h"
#include "core/ledger.h"
#include "core/metrics.h"
#include "core/outbox.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/timers.h"

struct h_env {
    struct p2p_config cfg;
    struct p2p_mem mem;
    struct p2p_outbox outbox;
    struct p2p_metrics metrics;
    struct p2p_histogram hists[P2P_HISTS_COUNT];
    struct p2p_buggify bug;
    struct p2p_timers timers;
    struct p2p_ledger ledger;
    struct p2p_pool pool;
    struct p2p_rng rng;
    struct p2p_env env; /* borrows all of the above */
};

/* Zeroes e and gives cfg the defaults for node self (seed 7): set what the
 * suite needs, then h_env_init. */
static inline void h_env_start(struct h_env *e, p2p_node_id self)
{
    memset(e, 0, sizeof(*e));
    p2p_config_default(&e->cfg, self, 7);
}

/* The parts, an outbox of outbox_max actions and timers_max timers, and a
 * ledger record for every peer below cfg.node_ids_max; the bouncer wants
 * everything. */
static inline void h_env_init(struct h_env *e, size_t outbox_max,
                              size_t timers_max)
{
    p2p_mem_init(&e->mem);
    p2p_outbox_init(&e->outbox, &e->mem, outbox_max);
    p2p__timers_init(&e->timers, &e->mem, timers_max, &e->metrics, &e->bug);
    p2p__ledger_init(&e->ledger, &e->cfg, &e->mem, &e->metrics);
    p2p_pool_init(&e->pool, &e->mem, &e->cfg.pool, 99);
    p2p_rng_init(&e->rng, 7, 1);
    e->env = (struct p2p_env){.cfg = &e->cfg,
                              .mem = &e->mem,
                              .outbox = &e->outbox,
                              .timers = &e->timers,
                              .rng = &e->rng,
                              .metrics = &e->metrics,
                              .hists = e->hists,
                              .bug = &e->bug,
                              .ledger = &e->ledger,
                              .pool = &e->pool,
                              .bouncer = p2p_bouncer_wants_all};
    for (p2p_node_id p = 0; p < e->cfg.node_ids_max; p++)
        ck_assert_int_eq(p2p__ledger_fit(&e->ledger, p), 0);
}

/* Frees the parts; every byte of e->mem must be back. */
static inline void h_env_fini(struct h_env *e)
{
    p2p_pool_fini(&e->pool);
    p2p__ledger_fini(&e->ledger);
    p2p__timers_fini(&e->timers);
    p2p_outbox_fini(&e->outbox);
    ck_assert_uint_eq(e->mem.bytes, 0);
}

#endif
