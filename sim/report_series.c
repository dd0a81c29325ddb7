/* What the HTML report plots, recorded while the run goes: bytes per node
 * over the time the links carried them, and state-sync progress (see
 * sim/report_html.h). Observation only: nothing here feeds back into the
 * run. */
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "sim/net.h"
#include "sim/report_html.h"

int sim_report_series_init(struct sim_report_series *s, uint32_t nodes,
                           p2p_time horizon_ns)
{
    memset(s, 0, sizeof(*s));
    s->nodes = nodes;
    s->buckets = SIM_REPORT_SERIES_BUCKETS_MAX;
    s->bucket_ns = horizon_ns / s->buckets + 1;
    s->sent = calloc((size_t)nodes * s->buckets, sizeof(double));
    s->received = calloc((size_t)nodes * s->buckets, sizeof(double));
    s->sync_points = calloc((size_t)SIM_REPORT_SERIES_SYNCS_MAX *
                                SIM_REPORT_SERIES_SYNC_POINTS_MAX,
                            sizeof(*s->sync_points));
    if (s->sent == NULL || s->received == NULL || s->sync_points == NULL) {
        sim_report_series_fini(s);
        return -1;
    }
    return 0;
}

static uint64_t bucket_of(const struct sim_report_series *s, p2p_time t)
{
    uint64_t b = t / s->bucket_ns;
    return b < s->buckets ? b : s->buckets - 1; /* the drain's tail */
}

/* bytes (negative: taken back) spread evenly over [from_ns, to_ns). */
static void spread(struct sim_report_series *s, p2p_time from_ns,
                   p2p_time to_ns, uint32_t node, bool sent, double bytes)
{
    if (s->sent == NULL || node >= s->nodes || bytes == 0)
        return;
    double *row = (sent ? s->sent : s->received) + (size_t)node * s->buckets;
    uint64_t first = bucket_of(s, from_ns);
    if (to_ns <= from_ns || bucket_of(s, to_ns - 1) == first) {
        row[first] += bytes;
        return;
    }
    /* Each bucket gets the share of the interval it covers. */
    double per_ns = bytes / (double)(to_ns - from_ns);
    uint64_t last = bucket_of(s, to_ns - 1);
    P2P_ASSERT(first < last && last < s->buckets);
    for (uint64_t b = first; b <= last; b++) {
        p2p_time lo = b * s->bucket_ns, hi = lo + s->bucket_ns;
        if (b == s->buckets - 1)
            hi = to_ns; /* the last bucket takes the tail */
        lo = lo > from_ns ? lo : from_ns;
        hi = hi < to_ns ? hi : to_ns;
        if (hi > lo)
            row[b] += per_ns * (double)(hi - lo);
    }
}

void sim_report_series_add_span(struct sim_report_series *s, p2p_time from_ns,
                                p2p_time to_ns, uint32_t node, bool sent,
                                uint64_t bytes)
{
    spread(s, from_ns, to_ns, node, sent, (double)bytes);
}

void sim_report_series_sent(struct sim_report_series *s,
                            const struct sim_net *net, uint32_t node,
                            uint64_t len)
{
    p2p_time start, end;
    sim_net_uplink_span(net, node, len, &start, &end);
    sim_report_series_add_span(s, start, end, node, true, len);
    if (len > SIM_NET_SMALL_BYTES)
        return;
    /* A small message that cut into the large one being serialised
     * pushed that one's end back by its own time (sim/net.c): the large
     * one's bytes recorded where the small one went move to its new end,
     * so that no interval counts both. It did iff the large class's end
     * is now more than a small transfer past the small one's start. */
    p2p_time up = end - start, large_end = sim_net_uplink_free(net, node);
    if (large_end <= start + up)
        return;
    p2p_time before = large_end - up; /* the large one's end until now */
    P2P_ASSERT(before > start);
    p2p_time overlap = (before < end ? before : end) - start;
    double moved = (double)overlap * (double)net->uplink_bps[node] / 8.0 /
                   (double)P2P_NS_PER_S;
    spread(s, start, start + overlap, node, true, -moved);
    spread(s, before, before + overlap, node, true, moved);
}

void sim_report_series_received(struct sim_report_series *s,
                                const struct sim_net *net, p2p_time now,
                                uint32_t node, uint64_t len)
{
    p2p_time took = sim_net_downlink_ns(net, node, len);
    sim_report_series_add_span(s, now > took ? now - took : 0, now, node, false,
                               len);
}

void sim_report_series_sync(struct sim_report_series *s, size_t sync,
                            p2p_time t, uint32_t chunks, uint32_t total)
{
    if (s->sync_points == NULL || sync >= SIM_REPORT_SERIES_SYNCS_MAX)
        return;
    struct sim_report_series_point *p =
        s->sync_points + sync * SIM_REPORT_SERIES_SYNC_POINTS_MAX;
    uint32_t *n = &s->sync_count[sync];
    uint32_t step = total / SIM_REPORT_SERIES_SYNC_STEPS
                        ? total / SIM_REPORT_SERIES_SYNC_STEPS
                        : 1;
    if (*n > 0 && chunks != total && chunks < p[*n - 1].chunks + step &&
        chunks >= p[*n - 1].chunks)
        return; /* less than a step since the last point */
    if (*n == SIM_REPORT_SERIES_SYNC_POINTS_MAX)
        (*n)--; /* full (only when chunks went back): the last point moves */
    p[(*n)++] = (struct sim_report_series_point){t, chunks};
    P2P_ASSERT(*n <= SIM_REPORT_SERIES_SYNC_POINTS_MAX);
}

void sim_report_series_fini(struct sim_report_series *s)
{
    free(s->sent);
    free(s->received);
    free(s->sync_points);
    memset(s, 0, sizeof(*s));
}
