/* The data directory's Prometheus families for /metrics (docs/replica.md,
 * "Data directory"): artifacts persisted and failed, pool entries the
 * loader dropped (by reason) or quarantined, and the state store's
 * counters (checkpoints made, syncs completed, chunks linked or found
 * corrupt, entries dropped at open, checkpoints pruned) with the newest
 * checkpoint's height. Every name starts with p2p_replica_ so none
 * collides with core's; counters end in _total. */
#ifndef P2P_PROD_DISK_METRICS_H
#define P2P_PROD_DISK_METRICS_H

#include <stdint.h>

#include "core/metrics_registry.h"
#include "prod/disk_pool.h"
#include "prod/disk_state.h"

/* The values written; the caller gathers them. */
struct prod_disk_metrics {
    struct prod_disk_pool_stats pool;   /* prod_disk_pool_get_stats */
    struct prod_disk_state_stats state; /* prod_disk_state_get_stats */
    uint64_t state_height;              /* newest checkpoint; 0: none */
    uint64_t artifacts_persisted;       /* durable in DATA/pool */
    uint64_t persist_failures;          /* writes to DATA/pool that failed */
};

/* Appends the families of *m (borrowed) to t, in a fixed order, each with
 * its HELP and TYPE lines; the pool's drops get one sample per reason
 * (label reason=, prod_disk_pool_drop_reason_name), zeroes included. Like
 * every p2p_metrics_text writer, a too-small buffer only makes
 * p2p_metrics_text_finish report the size needed. */
void prod_disk_metrics_write(struct p2p_metrics_text *t,
                             const struct prod_disk_metrics *m);

#endif
