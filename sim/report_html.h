/* `p2p-sim run --report FILE.html`: one self-contained HTML page with the
 * run's plots, drawn by gnuplot (SVG, inlined: the page needs no network
 * and no script), in MiB and MiB/s as the summary:
 *   - delivery latency CDF per artifact kind;
 *   - bytes sent per node (uplinks) and received (downlinks) over virtual
 *     time, each message counted over the time its link carried it: the
 *     median, p90 and max across nodes, the busiest nodes, and the links'
 *     capacity as a reference line;
 *   - a node x time heatmap of each node's uplink and downlink use in %
 *     of its capacity;
 *   - delivery progress over time with the fault timeline under it, each
 *     bar named by its nodes or groups, and a table of every fault;
 *   - chunks held over time per state sync (when the run has any);
 * and the expectations with pass/fail, the seed and the replay command. A
 * run interrupted before its end is marked incomplete.
 *
 * Use: sim_report_series_init before the run (the network feeds it bytes as
 * messages move, state sync its progress), sim_report_html_prepare after
 * the run and before sim_report_build (which sorts the latencies in
 * place), then sim_report_html_write. */
#ifndef P2P_SIM_REPORT_HTML_H
#define P2P_SIM_REPORT_HTML_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/types.h"

struct sim_world;
struct sim_report;

#define SIM_REPORT_SERIES_BUCKETS_MAX 240u /* time buckets per plot */
#define SIM_REPORT_SERIES_SYNCS_MAX 16u /* state syncs whose progress is kept */
#define SIM_REPORT_SERIES_SYNC_POINTS_MAX 320u /* points kept per sync */
#define SIM_REPORT_SERIES_SYNC_STEPS 256u /* a point every 1/STEPS of a sync */

struct sim_net;

/* One sync's progress: chunks held at a time. */
struct sim_report_series_point {
    p2p_time t;
    uint32_t chunks;
};

/* Bytes each node sent and received per bucket of virtual time, each
 * message spread over the time its link took to carry it (sent: its
 * uplink serialisation; received: its downlink transfer, ending when it
 * arrived), and the progress of the first SIM_REPORT_SERIES_SYNCS_MAX state
 * syncs (sim_sync_record order). */
struct sim_report_series {
    p2p_time bucket_ns;
    uint32_t nodes, buckets;
    double *sent, *received; /* owned; bytes, [node * buckets + bucket] */
    /* owned; [sync * POINTS_MAX + i] */
    struct sim_report_series_point *sync_points;
    uint32_t sync_count[SIM_REPORT_SERIES_SYNCS_MAX]; /* points kept per sync */
};

/* Buckets cover [0, horizon_ns] (later times go to the last one); -1 on
 * allocation failure. */
int sim_report_series_init(struct sim_report_series *s, uint32_t nodes,
                           p2p_time horizon_ns);
/* bytes that node sent (or received) evenly over [from_ns, to_ns); an
 * empty interval puts them all at from_ns. Nothing before init. */
void sim_report_series_add_span(struct sim_report_series *s, p2p_time from_ns,
                                p2p_time to_ns, uint32_t node, bool sent,
                                uint64_t bytes);
/* Right after sim_net_send of len bytes from node (net borrowed): over the
 * interval its uplink serialised them. */
void sim_report_series_sent(struct sim_report_series *s,
                            const struct sim_net *net, uint32_t node,
                            uint64_t len);
/* A message of len bytes arrived at node at now: over the time its
 * downlink takes for them, ending now. */
void sim_report_series_received(struct sim_report_series *s,
                                const struct sim_net *net, p2p_time now,
                                uint32_t node, uint64_t len);
/* State sync number `sync` (its index in w->syncs) holds chunks of total
 * at t. Keeps a point each 1/SIM_REPORT_SERIES_SYNC_STEPS of total and the
 * last;
 * syncs from SIM_REPORT_SERIES_SYNCS_MAX on are not kept. */
void sim_report_series_sync(struct sim_report_series *s, size_t sync,
                            p2p_time t, uint32_t chunks, uint32_t total);
void sim_report_series_fini(struct sim_report_series *s);

/* What the page needs from the run that sim_report_build disturbs. */
struct sim_report_html_data {
    double *latency_ms[2]; /* owned; per artifact kind, sorted */
    size_t latency_count[2];
    p2p_time *delivered_at; /* owned; every delivery's time, sorted */
    size_t delivered_count;
};

int sim_report_html_prepare(const struct sim_world *w,
                            struct sim_report_html_data *d);
void sim_report_html_data_fini(struct sim_report_html_data *d);

/* Writes the page to path. replay is the command line that replays the
 * run. 0, or -1 with a message on err (gnuplot missing or failing, the
 * file not writable). */
int sim_report_html_write(const struct sim_world *w, const struct sim_report *r,
                          const struct sim_report_series *s,
                          const struct sim_report_html_data *d,
                          const char *path, const char *replay, FILE *err);

#endif
