/* The node's latency histograms (enum p2p_hist, core/metrics.h): each
 * one's Prometheus name, help and fixed bucket bounds, and the counting
 * of one observation. A leaf: the modules that observe need nothing of
 * the registry. */
#ifndef P2P_CORE_HISTOGRAM_H
#define P2P_CORE_HISTOGRAM_H

#include <stdint.h>

#include "core/metrics.h"
#include "core/types.h"

struct p2p_hist_spec {
    const char *name; /* Prometheus name, ends in _seconds */
    const char *help;
    uint32_t bounds_count;                   /* <= P2P_HIST_BOUNDS_MAX */
    uint64_t bounds_ns[P2P_HIST_BOUNDS_MAX]; /* strictly increasing upper
                                                bounds (le), inclusive */
};

/* The spec of histogram h (h < P2P_HISTS_COUNT). */
const struct p2p_hist_spec *p2p_hist_spec(enum p2p_hist h);

/* Counts one observation of value_ns in *hist, which has spec h's
 * buckets: the first bucket whose bound is >= value_ns, else +Inf. The
 * sum saturates instead of wrapping. */
void p2p_histogram_observe(struct p2p_histogram *hist, enum p2p_hist h,
                           uint64_t value_ns);

#endif
