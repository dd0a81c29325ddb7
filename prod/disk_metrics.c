/* The data directory's Prometheus families (prod/disk_metrics.h). */
#include "prod/disk_metrics.h"

#include <stddef.h>
#include <string.h>

#include "core/assert.h"

/* A family with one unlabelled sample, read from *m at offset. */
struct disk_family {
    const char *name;
    enum p2p_metric_type type;
    const char *help;
    size_t offset; /* of a uint64_t in struct prod_disk_metrics */
};

#define STATE(field)                                                           \
    (offsetof(struct prod_disk_metrics, state) +                               \
     offsetof(struct prod_disk_state_stats, field))

static const struct disk_family before_pool[] = {
    {"p2p_replica_artifacts_persisted_total", P2P_METRIC_COUNTER,
     "Artifacts made durable in the data directory's pool (POSTed, or "
     "received and validated).",
     offsetof(struct prod_disk_metrics, artifacts_persisted)},
    {"p2p_replica_artifact_persist_failures_total", P2P_METRIC_COUNTER,
     "Artifacts (POSTed or received) that could not be written to the "
     "pool on disk (I/O errors; logged).",
     offsetof(struct prod_disk_metrics, persist_failures)},
};

static const struct disk_family after_pool[] = {
    {"p2p_replica_pool_files_quarantined_total", P2P_METRIC_COUNTER,
     "Pool entries the loader moved into DATA/quarantine/pool.",
     offsetof(struct prod_disk_metrics, pool) +
         offsetof(struct prod_disk_pool_stats, quarantined)},
    {"p2p_replica_pool_files_left_total", P2P_METRIC_COUNTER,
     "Pool entries the loader dropped but could neither delete nor move "
     "(left in place; logged).",
     offsetof(struct prod_disk_metrics, pool) +
         offsetof(struct prod_disk_pool_stats, left)},
    {"p2p_replica_bodies_fetched_into_files_total", P2P_METRIC_COUNTER,
     "Fetched artifacts of 1 MiB and more written into their pool file as "
     "they arrived (never copied into memory).",
     offsetof(struct prod_disk_metrics, pool) +
         offsetof(struct prod_disk_pool_stats, bodies_in_files)},
    {"p2p_replica_body_file_failures_total", P2P_METRIC_COUNTER,
     "Fetches whose pool file could not be created, written or mapped "
     "(the fetch failed and is retried; the peer is not blamed).",
     offsetof(struct prod_disk_metrics, pool) +
         offsetof(struct prod_disk_pool_stats, body_file_failures)},
    {"p2p_replica_body_files_open", P2P_METRIC_GAUGE,
     "Artifact bodies held as mapped pool files (being fetched, or "
     "whole).",
     offsetof(struct prod_disk_metrics, pool) +
         offsetof(struct prod_disk_pool_stats, body_files_open)},
    {"p2p_replica_state_checkpoints_made_total", P2P_METRIC_COUNTER,
     "Checkpoints made from POST /state.", STATE(checkpoints_made)},
    {"p2p_replica_state_syncs_completed_total", P2P_METRIC_COUNTER,
     "State syncs that became checkpoints on disk.", STATE(syncs_completed)},
    {"p2p_replica_state_complete_errors_total", P2P_METRIC_COUNTER,
     "Completed state syncs the store could not commit (I/O, a chunk "
     "missing, a root that is not the manifest's).",
     STATE(complete_errors)},
    {"p2p_replica_state_chunks_linked_total", P2P_METRIC_COUNTER,
     "Checkpoint chunk files shared with an older checkpoint (hard link "
     "or copy) instead of written.",
     STATE(chunks_linked)},
    {"p2p_replica_state_chunks_corrupt_total", P2P_METRIC_COUNTER,
     "Chunk files whose bytes did not match their manifest (neither "
     "served nor reused).",
     STATE(chunks_corrupt)},
    {"p2p_replica_state_dropped_at_open_total", P2P_METRIC_COUNTER,
     "Incomplete, damaged or stray checkpoint and sync folders and files "
     "removed (at start; each logged).",
     STATE(dropped_at_open)},
    {"p2p_replica_state_checkpoints_pruned_total", P2P_METRIC_COUNTER,
     "Checkpoints removed beyond the newest ones kept.", STATE(pruned)},
    {"p2p_replica_state_checkpoint_height", P2P_METRIC_GAUGE,
     "Height of the newest complete checkpoint on disk (0: none).",
     offsetof(struct prod_disk_metrics, state_height)},
};

static uint64_t value_at(const struct prod_disk_metrics *m, size_t offset)
{
    P2P_ASSERT(offset + sizeof(uint64_t) <= sizeof(*m));
    uint64_t v;
    memcpy(&v, (const char *)m + offset, sizeof(v));
    return v;
}

static void write_families(struct p2p_metrics_text *t,
                           const struct prod_disk_metrics *m,
                           const struct disk_family *f, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        p2p_metrics_text_family(t, f[i].name, f[i].type, f[i].help);
        p2p_metrics_text_sample(t, f[i].name, NULL, NULL,
                                value_at(m, f[i].offset));
    }
}

void prod_disk_metrics_write(struct p2p_metrics_text *t,
                             const struct prod_disk_metrics *m)
{
    write_families(t, m, before_pool,
                   sizeof(before_pool) / sizeof(before_pool[0]));
    static const char *const name = "p2p_replica_pool_files_dropped_total";
    p2p_metrics_text_family(t, name, P2P_METRIC_COUNTER,
                            "Pool entries the loader set aside, by reason: "
                            "leftover and duplicate deleted; not_regular, "
                            "oversize and corrupt quarantined (each logged).");
    for (int r = 0; r < PROD_DISK_POOL_DROP_REASONS_COUNT; r++)
        p2p_metrics_text_sample(
            t, name, "reason",
            prod_disk_pool_drop_reason_name((enum prod_disk_pool_drop_reason)r),
            m->pool.dropped[r]);
    write_families(t, m, after_pool,
                   sizeof(after_pool) / sizeof(after_pool[0]));
}
