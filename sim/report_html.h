/* `p2p-sim run --report FILE.html`: one self-contained HTML page with the
 * run's plots, drawn by gnuplot (SVG, inlined: the page needs no network
 * and no script):
 *   - delivery latency CDF per artifact kind;
 *   - bytes sent and received per node over virtual time;
 *   - delivery progress over time with the fault timeline under it;
 *   - state-sync progress per syncing node (when the run has any);
 * and the expectations with pass/fail, the seed and the replay command.
 *
 * Use: sim_series_init before the run (run.c feeds it bytes as messages
 * move), sim_report_html_prepare after the run and before
 * sim_report_build (which sorts the latencies in place), then
 * sim_report_html_write. */
#ifndef P2P_SIM_REPORT_HTML_H
#define P2P_SIM_REPORT_HTML_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/types.h"

struct sim_world;
struct sim_report;

#define SIM_SERIES_BUCKETS_MAX 240u  /* time buckets per plot */
#define SIM_REPORT_NODES_PLOTTED_MAX 64u /* per-node lines drawn */

/* Bytes each node sent and received per bucket of virtual time. */
struct sim_series {
    p2p_time bucket_ns;
    uint32_t nodes, buckets;
    uint64_t *sent, *received; /* owned; [node * buckets + bucket] */
};

/* Buckets cover [0, horizon_ns]; -1 on allocation failure. */
int sim_series_init(struct sim_series *s, uint32_t nodes, p2p_time horizon_ns);
void sim_series_add(struct sim_series *s, p2p_time t, uint32_t node, bool sent,
                    uint64_t bytes);
void sim_series_fini(struct sim_series *s);

/* What the page needs from the run that sim_report_build disturbs. */
struct sim_report_html_data {
    double *latency_ms[2];    /* owned; per artifact kind, sorted */
    size_t latency_count[2];
    p2p_time *delivered_at;   /* owned; every delivery's time, sorted */
    size_t delivered_count;
};

int sim_report_html_prepare(const struct sim_world *w,
                            struct sim_report_html_data *d);
void sim_report_html_data_fini(struct sim_report_html_data *d);

/* Writes the page to path. replay is the command line that replays the
 * run. 0, or -1 with a message on err (gnuplot missing or failing, the
 * file not writable). */
int sim_report_html_write(const struct sim_world *w, const struct sim_report *r,
                          const struct sim_series *s,
                          const struct sim_report_html_data *d,
                          const char *path, const char *replay, FILE *err);

#endif
