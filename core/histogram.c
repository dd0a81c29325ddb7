/* The node's latency histograms: their specs and observation
 * (core/histogram.h). */
#include "core/histogram.h"

#include "core/assert.h"

/* Latency buckets: Prometheus' default bounds (5 ms .. 10 s) extended to
 * the protocol's longest waits (fetch backoff to 120 s). */
#define LATENCY_BOUNDS_NS                                                      \
    {                                                                          \
        5 * P2P_NS_PER_MS, 10 * P2P_NS_PER_MS, 25 * P2P_NS_PER_MS,             \
            50 * P2P_NS_PER_MS, 100 * P2P_NS_PER_MS, 250 * P2P_NS_PER_MS,      \
            500 * P2P_NS_PER_MS, 1 * P2P_NS_PER_S, 2500 * P2P_NS_PER_MS,       \
            5 * P2P_NS_PER_S, 10 * P2P_NS_PER_S, 30 * P2P_NS_PER_S,            \
            60 * P2P_NS_PER_S, 120 * P2P_NS_PER_S                              \
    }
#define LATENCY_BOUNDS_COUNT 14u

static const struct p2p_hist_spec hists[P2P_HISTS_COUNT] = {
    [P2P_HIST_DOWNLOAD] =
        {"p2p_download_duration_seconds",
         "Time from a download's creation (first advert) to its fetched "
         "artifact entering the unvalidated pool.",
         LATENCY_BOUNDS_COUNT, LATENCY_BOUNDS_NS},
    [P2P_HIST_UPDATE_ACK] =
        {"p2p_update_ack_seconds",
         "Time from a slot update's first transmission to a peer until that "
         "peer acknowledged it, retransmissions included.",
         LATENCY_BOUNDS_COUNT, LATENCY_BOUNDS_NS},
};

const struct p2p_hist_spec *p2p_hist_spec(enum p2p_hist h)
{
    P2P_ASSERT((unsigned)h < P2P_HISTS_COUNT);
    return &hists[h];
}

void p2p_histogram_observe(struct p2p_histogram *hist, enum p2p_hist h,
                           uint64_t value_ns)
{
    const struct p2p_hist_spec *spec = p2p_hist_spec(h);
    uint32_t b = 0;
    while (b < spec->bounds_count && value_ns > spec->bounds_ns[b])
        b++;
    P2P_ASSERT(b <= spec->bounds_count && b <= P2P_HIST_BOUNDS_MAX);
    hist->buckets[b]++;
    hist->count++;
    hist->sum_ns = value_ns > UINT64_MAX - hist->sum_ns
                       ? UINT64_MAX
                       : hist->sum_ns + value_ns;
}
