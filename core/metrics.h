/* Per-node protocol counters and latency histograms.
 *
 * The counters are a plain struct that core's modules bump; the registry in
 * core/metrics_registry.h gives each a Prometheus name and HELP text, adds
 * gauges computed from the node's state, and writes the text exposition the
 * simulator saves per node and prod serves on /metrics. */
#ifndef P2P_CORE_METRICS_H
#define P2P_CORE_METRICS_H

#include <stdint.h>

#define P2P_METRICS_FIELDS(X)                                                  \
    X(updates_sent) /* slot updates sent (incl. retries) */                    \
    X(updates_acked)                                                           \
    X(updates_retried)                                                         \
    X(deletions_sent)       /* slot deletions sent (in updates_sent too) */    \
    X(deletions_superseded) /* held deletions a reused slot replaced */        \
    X(updates_received)                                                        \
    X(updates_stale)    /* older commit than held: ignored */                  \
    X(updates_rejected) /* bad slot id or body: answered 400 */                \
    X(pushes_received)                                                         \
    X(adverts_received)                                                        \
    X(deletions_received) /* slot updates that deleted a slot */               \
    X(fetches_started)                                                         \
    X(fetches_succeeded)                                                       \
    X(fetches_failed)                                                          \
    X(fetches_served)                                                          \
    X(fetches_not_found) /* answered 204 */                                    \
    X(id_mismatches)                                                           \
    X(artifacts_received) /* entered the unvalidated pool */                   \
    X(artifacts_validated)                                                     \
    X(artifacts_rejected)                                                      \
    X(artifacts_removed)                                                       \
    X(artifacts_withdrawn) /* unvalidated, every advertiser withdrew it */     \
    X(artifacts_purged)    /* below the purge height */                        \
    X(downloads_dropped)   /* unwanted, no advertiser left, or full */         \
    X(downloads_refused)   /* downloads_max reached */                         \
    X(pool_full)                                                               \
    X(streams_refused)  /* streams_max reached */                              \
    X(timers_refused)   /* timer table full or out of memory */                \
    X(stream_errors)    /* bad frames, oversize, read deadline */              \
    X(outbox_refused)   /* an action did not fit in the outbox */              \
    X(topology_changes) /* registry versions applied */                        \
    X(conns_dialed)                                                            \
    X(conns_dial_failed)                                                       \
    X(conns_up)       /* connections established, both sides */                \
    X(conns_replaced) /* a newer connection replaced an older one */           \
    X(conns_lost)     /* the backend reported a connection gone */             \
    X(conns_closed)   /* closed by core: non-member or banned */               \
    X(conns_refused)  /* a connection from a non-member or banned */           \
    X(penalties)      /* misbehaviour penalties given to peers */              \
    X(peers_banned)   /* peers disconnected for misbehaviour */                \
    X(state_adverts_sent)                                                      \
    X(state_adverts_received)                                                  \
    X(state_syncs_started)                                                     \
    X(state_syncs_completed)                                                   \
    X(state_syncs_cancelled) /* not needed any more, or a newer state */       \
    X(state_manifests_fetched)                                                 \
    X(state_chunks_requested)                                                  \
    X(state_chunks_received) /* verified and handed to the store */            \
    X(state_chunk_bytes_received)                                              \
    X(state_chunk_wire_bytes_received) /* as they arrived: zstd or raw */      \
    X(state_chunks_reused) /* already held at the start of a sync */           \
    X(state_chunks_failed) /* errors, timeouts, 204 */                         \
    X(state_chunks_slow)   /* failed early: far slower than the rest */        \
    X(state_bad_data)      /* manifests or chunks that did not match */        \
    X(state_chunks_served)                                                     \
    X(state_chunks_served_compressed) /* of those, sent as zstd frames */      \
    X(state_chunks_not_served)        /* answered 204 */                       \
    X(requests_refused_nomem) /* our own memory ran out unpacking a peer's \
                                 message: reset, never blamed on it */

struct p2p_metrics {
#define P2P_METRICS_DECLARE(name) uint64_t name;
    P2P_METRICS_FIELDS(P2P_METRICS_DECLARE)
#undef P2P_METRICS_DECLARE
};

/* The node's latency histograms. Their names and fixed bucket bounds are
 * in core/metrics_registry.c (p2p_hist_spec); values are observed in
 * nanoseconds of the node's own clock and exposed in seconds. */
enum p2p_hist {
    P2P_HIST_DOWNLOAD,   /* download created -> fetched artifact in the
                             unvalidated pool (downloader.c) */
    P2P_HIST_UPDATE_ACK, /* slot update first sent to a peer -> that peer
                             acknowledged it, retries included
                             (gossip_sender.c) */
    P2P_HISTS_COUNT
};

/* Most bucket bounds one histogram may have (the +Inf bucket excluded). */
#define P2P_HIST_BOUNDS_MAX 16u

struct p2p_histogram {
    /* Observations per bucket, not cumulative: buckets[i] counts values
     * in (bound[i-1], bound[i]]; buckets[bounds_count] those above the
     * last bound (the exposition's +Inf adds them all). */
    uint64_t buckets[P2P_HIST_BOUNDS_MAX + 1];
    uint64_t count;
    uint64_t sum_ns; /* saturates at UINT64_MAX */
};

#endif
