/* Internal to the HTML report (sim/report_html.c): the data files and the
 * gnuplot script of its plots, written into a temporary folder. */
#ifndef P2P_SIM_REPORT_PLOTS_H
#define P2P_SIM_REPORT_PLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/report_html.h"

struct sim_world;

/* Busiest nodes drawn by name. */
#define SIM_REPORT_PLOTS_TOP_NODES 3u
/* Heatmap rows; more nodes share rows. */
#define SIM_REPORT_PLOTS_HEAT_ROWS_MAX 64u
/* Capacity lines drawn per direction. */
#define SIM_REPORT_PLOTS_CAPACITIES_MAX 3u
#define SIM_REPORT_PLOTS_PATH_BYTES 512u

/* One direction of every node's link: uplinks (bytes sent) or downlinks
 * (bytes received). Rates in MiB/s. */
struct sim_plot_link {
    bool sent;
    /* The busiest nodes, most bytes first. */
    uint32_t top[SIM_REPORT_PLOTS_TOP_NODES];
    double top_bytes[SIM_REPORT_PLOTS_TOP_NODES];
    size_t top_count;
    double peak_use; /* the busiest bucket's rate over its capacity */
    uint32_t peak_node;
    double peak_t_s; /* the middle of that bucket */
    double peak_rate;
    double scale_max; /* the highest rate drawn */
    /* Distinct capacities, largest first, and the nodes with each. */
    uint64_t capacity_bps[SIM_REPORT_PLOTS_CAPACITIES_MAX];
    uint32_t capacity_nodes[SIM_REPORT_PLOTS_CAPACITIES_MAX];
    size_t capacities_count;
};

/* Everything the plots are drawn from (all borrowed) and what writing the
 * data found out for the captions. */
struct sim_report_plots {
    const struct sim_world *w;
    const struct sim_report_series *s;
    const struct sim_report_html_data *d;
    const char *dir;              /* the temporary folder */
    uint32_t buckets_shown;       /* buckets up to the end of the run */
    struct sim_plot_link link[2]; /* [0] uplinks, [1] downlinks */
    uint32_t heat_rows, heat_nodes_per_row;
    size_t fault_bars;
    size_t syncs_plotted;
};

/* Writes the data files into p->dir and fills the rest of *p; -1 when a
 * file cannot be written. */
int sim_report_plots_write_data(struct sim_report_plots *p);

/* Writes the gnuplot script that draws every plot as DIR/<name>.svg. */
void sim_report_plots_script(const struct sim_report_plots *p, FILE *g);

/* A fault's nodes or groups and details, for the timeline and the table:
 * "n7", "n0-5 | n6-12", "30% on all links", "n3 garbage". */
void sim_report_plots_fault_label(const struct sim_world *w, size_t fault,
                                  char *buf, size_t len);

/* Where the bar of fault `k` ends (a partition at its heal, a crash at
 * the restart of its last node, a loss burst after its `for`, byzantine
 * behaviour at the end); `end` when it never does. */
p2p_time sim_report_plots_fault_end(const struct sim_world *w, size_t k,
                                    p2p_time end);

/* MiB in a byte count, and MiB/s in a link's bits per second. */
double sim_report_plots_mib(double bytes);
double sim_report_plots_mib_s(uint64_t bps);

#endif
