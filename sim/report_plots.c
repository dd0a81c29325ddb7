/* The HTML report's plots: data files and a gnuplot script (see
 * sim/report_plots.h). Bytes are in MiB and rates in MiB/s, as in the
 * run's summary. */
#include "sim/report_plots.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "sim/world.h"

#define POINTS_MAX 2000u /* points per curve: the page stays small */
#define MIB 1048576.0
/* Capacity lines are drawn when the busiest bucket used at least this
 * share of the largest capacity; below it they would flatten the curves
 * and the caption gives the capacity instead. */
#define CAPACITY_DRAWN_MIN_USE 0.10

double sim_report_plots_mib(double bytes)
{
    return bytes / MIB;
}

double sim_report_plots_mib_s(uint64_t bps)
{
    return (double)bps / 8.0 / MIB;
}

static FILE *open_in(const char *dir, const char *name)
{
    char path[SIM_REPORT_PLOTS_PATH_BYTES];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return fopen(path, "w");
}

static double bucket_s(const struct sim_report_plots *p)
{
    return (double)p->s->bucket_ns / 1e9;
}

static const double *link_bytes(const struct sim_report_plots *p, int dir)
{
    return dir == 0 ? p->s->sent : p->s->received;
}

static uint64_t link_bps(const struct sim_report_plots *p, int dir,
                         uint32_t node)
{
    const struct sim_net *net = &p->w->net;
    return dir == 0 ? net->uplink_bps[node] : net->downlink_bps[node];
}

/* ---- latency and progress ---- */

/* At most POINTS_MAX points of a sorted sample's CDF. */
static void write_cdf(FILE *f, const double *v, size_t n)
{
    size_t step = n > POINTS_MAX ? n / POINTS_MAX : 1;
    for (size_t i = 0; i < n; i += step)
        fprintf(f, "%.6f %.6f\n", v[i] > 0.001 ? v[i] : 0.001,
                (double)(i + 1) / (double)n);
    if (n > 0)
        fprintf(f, "%.6f 1\n", v[n - 1] > 0.001 ? v[n - 1] : 0.001);
}

static void write_progress(FILE *f, const struct sim_report_html_data *d)
{
    size_t n = d->delivered_count;
    size_t step = n > POINTS_MAX ? n / POINTS_MAX : 1;
    fprintf(f, "0 0\n");
    for (size_t i = 0; i < n; i += step)
        fprintf(f, "%.6f %zu\n", (double)d->delivered_at[i] / 1e9, i + 1);
    if (n > 0)
        fprintf(f, "%.6f %zu\n", (double)d->delivered_at[n - 1] / 1e9, n);
}

/* ---- links ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The busiest nodes by bytes over the run. */
static void find_top(const struct sim_report_plots *p, int dir,
                     struct sim_plot_link *l)
{
    const struct sim_report_series *s = p->s;
    const double *bytes = link_bytes(p, dir);
    l->top_count = 0;
    for (uint32_t n = 0; n < s->nodes; n++) {
        double total = 0;
        for (uint32_t b = 0; b < s->buckets; b++)
            total += bytes[(size_t)n * s->buckets + b];
        if (total <= 0)
            continue;
        size_t at = l->top_count;
        while (at > 0 && l->top_bytes[at - 1] < total)
            at--;
        if (at >= SIM_REPORT_PLOTS_TOP_NODES)
            continue;
        size_t last = l->top_count < SIM_REPORT_PLOTS_TOP_NODES
                          ? l->top_count
                          : SIM_REPORT_PLOTS_TOP_NODES - 1;
        for (size_t i = last; i > at; i--) {
            l->top[i] = l->top[i - 1];
            l->top_bytes[i] = l->top_bytes[i - 1];
        }
        l->top[at] = n;
        l->top_bytes[at] = total;
        if (l->top_count < SIM_REPORT_PLOTS_TOP_NODES)
            l->top_count++;
    }
}

/* The busiest bucket of any node, against that node's capacity, and the
 * distinct capacities. */
static void find_peak(const struct sim_report_plots *p, int dir,
                      struct sim_plot_link *l)
{
    const struct sim_report_series *s = p->s;
    const double *bytes = link_bytes(p, dir);
    double secs = bucket_s(p);
    for (uint32_t n = 0; n < s->nodes; n++) {
        uint64_t bps = link_bps(p, dir, n);
        for (uint32_t b = 0; b < p->buckets_shown; b++) {
            double rate = bytes[(size_t)n * s->buckets + b] / MIB / secs;
            double use = bps ? rate / sim_report_plots_mib_s(bps) : 0;
            if (rate > l->peak_rate)
                l->peak_rate = rate;
            if (use > l->peak_use) {
                l->peak_use = use;
                l->peak_node = n;
                l->peak_t_s = ((double)b + 0.5) * secs;
            }
        }
        size_t k = 0;
        while (k < l->capacities_count && l->capacity_bps[k] != bps)
            k++;
        if (k < l->capacities_count) {
            l->capacity_nodes[k]++;
            continue;
        }
        /* A new value: keep the largest ones, in order. */
        size_t at = l->capacities_count;
        while (at > 0 && l->capacity_bps[at - 1] < bps)
            at--;
        if (at >= SIM_REPORT_PLOTS_CAPACITIES_MAX)
            continue;
        size_t last = l->capacities_count < SIM_REPORT_PLOTS_CAPACITIES_MAX
                          ? l->capacities_count
                          : SIM_REPORT_PLOTS_CAPACITIES_MAX - 1;
        for (size_t i = last; i > at; i--) {
            l->capacity_bps[i] = l->capacity_bps[i - 1];
            l->capacity_nodes[i] = l->capacity_nodes[i - 1];
        }
        l->capacity_bps[at] = bps;
        l->capacity_nodes[at] = 1;
        if (l->capacities_count < SIM_REPORT_PLOTS_CAPACITIES_MAX)
            l->capacities_count++;
    }
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *v, size_t n, unsigned pct)
{
    size_t rank = (n * pct + 99) / 100;
    return v[rank ? rank - 1 : 0];
}

/* Columns: time (s), the median, p90 and max of the nodes' rates, then
 * each top node's rate (MiB/s). */
static int write_rates(const struct sim_report_plots *p, int dir, FILE *f)
{
    const struct sim_report_series *s = p->s;
    const struct sim_plot_link *l = &p->link[dir];
    const double *bytes = link_bytes(p, dir);
    double secs = bucket_s(p);
    double *row = malloc((s->nodes ? s->nodes : 1) * sizeof(double));
    if (row == NULL)
        return -1;
    for (uint32_t b = 0; b < p->buckets_shown; b++) {
        for (uint32_t n = 0; n < s->nodes; n++)
            row[n] = bytes[(size_t)n * s->buckets + b] / MIB / secs;
        fprintf(f, "%.4f", ((double)b + 0.5) * secs);
        for (size_t t = 0; t < l->top_count; t++)
            fprintf(f, " %.6f", row[l->top[t]]);
        qsort(row, s->nodes, sizeof(double), cmp_double);
        fprintf(f, " %.6f %.6f %.6f\n", percentile(row, s->nodes, 50),
                percentile(row, s->nodes, 90), row[s->nodes - 1]);
    }
    free(row);
    return 0;
}

/* Rows of nodes (several per row past SIM_REPORT_PLOTS_HEAT_ROWS_MAX), each the
 * highest use of its nodes in % of their capacity, per bucket. */
static void write_heat(const struct sim_report_plots *p, int dir, FILE *f)
{
    const struct sim_report_series *s = p->s;
    const double *bytes = link_bytes(p, dir);
    double secs = bucket_s(p);
    for (uint32_t r = 0; r < p->heat_rows; r++) {
        for (uint32_t b = 0; b < p->buckets_shown; b++) {
            double most = 0;
            for (uint32_t n = r * p->heat_nodes_per_row;
                 n < (r + 1) * p->heat_nodes_per_row && n < s->nodes; n++) {
                uint64_t bps = link_bps(p, dir, n);
                double use = bps ? bytes[(size_t)n * s->buckets + b] / MIB /
                                       secs / sim_report_plots_mib_s(bps) *
                                       100.0
                                 : 0;
                most = use > most ? use : most;
            }
            fprintf(f, "%s%.3f", b ? " " : "", most);
        }
        fputc('\n', f);
    }
}

static int write_links(struct sim_report_plots *p)
{
    static const char *const rates[2] = {"sent.dat", "received.dat"};
    static const char *const heats[2] = {"heat_sent.dat", "heat_received.dat"};
    const struct sim_report_series *s = p->s;
    p->heat_nodes_per_row = (s->nodes + SIM_REPORT_PLOTS_HEAT_ROWS_MAX - 1) /
                            SIM_REPORT_PLOTS_HEAT_ROWS_MAX;
    if (p->heat_nodes_per_row == 0)
        p->heat_nodes_per_row = 1;
    p->heat_rows =
        (s->nodes + p->heat_nodes_per_row - 1) / p->heat_nodes_per_row;
    P2P_ASSERT(p->heat_rows <= SIM_REPORT_PLOTS_HEAT_ROWS_MAX &&
               p->heat_rows * p->heat_nodes_per_row >= s->nodes);
    int rc = 0;
    for (int dir = 0; dir < 2; dir++) {
        struct sim_plot_link *l = &p->link[dir];
        memset(l, 0, sizeof(*l));
        l->sent = dir == 0;
        find_top(p, dir, l);
        find_peak(p, dir, l);
        P2P_ASSERT(l->top_count <= SIM_REPORT_PLOTS_TOP_NODES &&
                   l->capacities_count <= SIM_REPORT_PLOTS_CAPACITIES_MAX);
        FILE *f = open_in(p->dir, rates[dir]);
        if (f == NULL)
            return -1;
        rc |= write_rates(p, dir, f);
        rc |= fclose(f);
        if ((f = open_in(p->dir, heats[dir])) == NULL)
            return -1;
        write_heat(p, dir, f);
        rc |= fclose(f);
    }
    return rc == 0 ? 0 : -1;
}

/* ---- faults ---- */

/* Fault rows of the timeline: a bar per fault, on a row per kind. */
enum {
    ROW_PARTITION = 1,
    ROW_CRASH,
    ROW_LOSS,
    ROW_MEMBERSHIP,
    ROW_BYZANTINE,
    ROW_SKEW,
    ROW_PACKET, /* the quic model's blackholes and NAT rebindings */
    ROWS
};
static const char *const row_names[ROWS] = {"",     "partition",    "crash",
                                            "loss", "join/leave",   "byzantine",
                                            "skew", "blackhole/NAT"};

static int fault_row(enum sim_fault_kind kind)
{
    switch (kind) {
    case SIM_FAULT_PARTITION:
        return ROW_PARTITION;
    case SIM_FAULT_CRASH:
        return ROW_CRASH;
    case SIM_FAULT_LOSS:
        return ROW_LOSS;
    case SIM_FAULT_JOIN:
    case SIM_FAULT_LEAVE:
    case SIM_FAULT_REGISTRY_EARLIEST:
        return ROW_MEMBERSHIP;
    case SIM_FAULT_BYZANTINE:
        return ROW_BYZANTINE;
    case SIM_FAULT_SKEW:
        return ROW_SKEW;
    case SIM_FAULT_BLACKHOLE:
    case SIM_FAULT_NAT_REBIND:
        return ROW_PACKET;
    default:
        return 0; /* heal, restart: the ends of bars */
    }
}

/* When node v of crash k is back, or end. */
static p2p_time restart_of(const struct sim_scenario *sc, size_t k, uint32_t v,
                           p2p_time end)
{
    for (size_t j = k + 1; j < sc->faults_count; j++) {
        const struct sim_fault *g = &sc->faults[j];
        for (size_t m = 0; g->kind == SIM_FAULT_RESTART && m < g->nodes_count;
             m++)
            if (g->nodes[m] == v)
                return g->at_ns;
    }
    return end;
}

p2p_time sim_report_plots_fault_end(const struct sim_world *w, size_t k,
                                    p2p_time end)
{
    const struct sim_scenario *sc = w->sc;
    const struct sim_fault *f = &sc->faults[k];
    switch (f->kind) {
    case SIM_FAULT_LOSS:
    case SIM_FAULT_BLACKHOLE:
        return f->at_ns + f->for_ns;
    case SIM_FAULT_PARTITION:
        for (size_t j = k + 1; j < sc->faults_count; j++)
            if (sc->faults[j].kind == SIM_FAULT_HEAL ||
                sc->faults[j].kind == SIM_FAULT_PARTITION)
                return sc->faults[j].at_ns;
        return end;
    case SIM_FAULT_CRASH: {
        p2p_time last = f->at_ns;
        for (size_t i = 0; i < f->nodes_count; i++) {
            p2p_time back = restart_of(sc, k, f->nodes[i], end);
            last = back > last ? back : last;
        }
        return last;
    }
    case SIM_FAULT_BYZANTINE:
        return end;
    default:
        return f->at_ns;
    }
}

/* Appends to buf at *at, keeping it NUL-terminated. */
#ifdef __GNUC__
__attribute__((format(printf, 4, 5)))
#endif
static void
add(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    if (*at >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
    *at = n < 0 ? len : *at + (size_t)n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* "n0-5,7" for a set of node ids (sorted here, in a copy). */
static void add_nodes(char *buf, size_t len, size_t *at, const uint32_t *ids,
                      size_t count)
{
    uint32_t sorted[64];
    size_t n = count < 64 ? count : 64;
    memcpy(sorted, ids, n * sizeof(*ids));
    qsort(sorted, n, sizeof(*sorted), cmp_u32);
    add(buf, len, at, "n");
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && sorted[j + 1] == sorted[j] + 1)
            j++;
        add(buf, len, at, "%s%u", i ? "," : "", sorted[i]);
        if (j > i)
            add(buf, len, at, "-%u", sorted[j]);
        i = j + 1;
    }
    if (count > n)
        add(buf, len, at, ",...");
}

void sim_report_plots_fault_label(const struct sim_world *w, size_t fault,
                                  char *buf, size_t len)
{
    const struct sim_fault *f = &w->sc->faults[fault];
    size_t at = 0;
    buf[0] = '\0';
    switch (f->kind) {
    case SIM_FAULT_PARTITION: {
        size_t listed = 0;
        for (size_t g = 0; g < f->groups_count; g++) {
            if (g)
                add(buf, len, &at, " | ");
            add_nodes(buf, len, &at, f->groups[g], f->group_sizes[g]);
            listed += f->group_sizes[g];
        }
        if (listed < w->sc->nodes)
            add(buf, len, &at, " | the rest");
        break;
    }
    case SIM_FAULT_HEAL:
        add(buf, len, &at, "all links");
        break;
    case SIM_FAULT_LOSS:
        add(buf, len, &at, "%.3g%% on all links for %.3g s",
            (double)f->loss_ppm / 1e4, (double)f->for_ns / 1e9);
        break;
    case SIM_FAULT_JOIN:
    case SIM_FAULT_LEAVE:
        add(buf, len, &at, "%s", f->kind == SIM_FAULT_JOIN ? "+" : "-");
        add_nodes(buf, len, &at, f->nodes, f->nodes_count);
        break;
    case SIM_FAULT_REGISTRY_EARLIEST:
        if (f->earliest_version == 0)
            add(buf, len, &at, "earliest version: the latest");
        else
            add(buf, len, &at, "earliest version %llu",
                (unsigned long long)f->earliest_version);
        break;
    case SIM_FAULT_BYZANTINE:
        add_nodes(buf, len, &at, f->nodes, f->nodes_count);
        add(buf, len, &at, " %s", sim_scenario_byzantine_name(f->behaviour));
        break;
    case SIM_FAULT_SKEW:
        add_nodes(buf, len, &at, f->nodes, f->nodes_count);
        add(buf, len, &at, " %+.3g s, %+lld ppm",
            (double)f->skew_offset_ns / 1e9, (long long)f->drift_ppm);
        break;
    case SIM_FAULT_BLACKHOLE:
        add_nodes(buf, len, &at, f->nodes, f->nodes_count);
        add(buf, len, &at, " blackholed %.3g s", (double)f->for_ns / 1e9);
        break;
    case SIM_FAULT_NAT_REBIND:
        add_nodes(buf, len, &at, f->nodes, f->nodes_count);
        add(buf, len, &at, " NAT rebinding");
        break;
    default: /* crash, restart */
        add_nodes(buf, len, &at, f->nodes, f->nodes_count);
        break;
    }
}

/* Bars (faults.dat: from, to, row) and their labels (fault_labels.dat:
 * x, y, "text"); a label that would run into the previous one on its row
 * is left out (the fault table under the plot has them all). */
static int write_faults(struct sim_report_plots *p)
{
    const struct sim_world *w = p->w;
    const struct sim_scenario *sc = w->sc;
    double span_s = (double)w->now / 1e9;
    double min_bar = span_s / 200.0;
    double s_per_char = span_s / 120.0; /* at the labels' font size */
    double label_end[ROWS] = {0};
    FILE *bars = open_in(p->dir, "faults.dat");
    FILE *labels = open_in(p->dir, "fault_labels.dat");
    if (bars == NULL || labels == NULL) {
        if (bars)
            fclose(bars);
        if (labels)
            fclose(labels);
        return -1;
    }
    p->fault_bars = 0;
    for (size_t k = 0; k < sc->faults_count; k++) {
        int row = fault_row(sc->faults[k].kind);
        if (row == 0 || sc->faults[k].at_ns > w->now)
            continue;
        double a = (double)sc->faults[k].at_ns / 1e9;
        double b = (double)sim_report_plots_fault_end(w, k, w->now) / 1e9;
        b = b > span_s ? span_s : b;
        if (b - a < min_bar)
            b = a + min_bar;
        fprintf(bars, "%.6f %.6f %d\n", a, b, row);
        p->fault_bars++;
        char text[160];
        sim_report_plots_fault_label(w, k, text, sizeof(text));
        if (a < label_end[row])
            continue;
        label_end[row] = a + (double)(strlen(text) + 2) * s_per_char;
        fprintf(labels, "%.6f %.2f \"%s\"\n", a, row + 0.42, text);
    }
    int rc = fclose(bars) | fclose(labels);
    return rc == 0 ? 0 : -1;
}

/* ---- state sync ---- */

/* One block per plotted sync (gnuplot's index): time (s) and chunks
 * held, from its start to its end. */
static int write_syncs(struct sim_report_plots *p)
{
    const struct sim_world *w = p->w;
    FILE *f = open_in(p->dir, "sync.dat");
    if (f == NULL)
        return -1;
    p->syncs_plotted = 0;
    for (size_t i = 0; i < w->syncs_count && i < SIM_REPORT_SERIES_SYNCS_MAX;
         i++) {
        const struct sim_sync_record *r = &w->syncs[i];
        const struct sim_report_series_point *pt =
            p->s->sync_points + i * SIM_REPORT_SERIES_SYNC_POINTS_MAX;
        uint32_t n = p->s->sync_count[i];
        fprintf(f, "%s%.6f %u\n", i ? "\n\n" : "", (double)r->started / 1e9,
                r->chunks_reused);
        uint32_t held = r->chunks_reused;
        for (uint32_t k = 0; k < n; k++) {
            fprintf(f, "%.6f %u\n", (double)pt[k].t / 1e9, pt[k].chunks);
            held = pt[k].chunks;
        }
        if (r->completed)
            held = r->chunks_total;
        p2p_time end = r->ended != P2P_TIME_NEVER ? r->ended : w->now;
        fprintf(f, "%.6f %u\n", (double)end / 1e9, held);
        p->syncs_plotted++;
    }
    return fclose(f) == 0 ? 0 : -1;
}

int sim_report_plots_write_data(struct sim_report_plots *p)
{
    const struct sim_report_html_data *d = p->d;
    uint64_t last = p->w->now / p->s->bucket_ns;
    p->buckets_shown =
        last < p->s->buckets ? (uint32_t)last + 1 : p->s->buckets;
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof(name), "latency_%d.dat", k);
        FILE *f = open_in(p->dir, name);
        if (f == NULL)
            return -1;
        write_cdf(f, d->latency_ms[k], d->latency_count[k]);
        if (fclose(f) != 0)
            return -1;
    }
    FILE *f = open_in(p->dir, "progress.dat");
    if (f == NULL)
        return -1;
    write_progress(f, d);
    if (fclose(f) != 0)
        return -1;
    if (p->s->nodes == 0 || write_links(p) != 0 || write_faults(p) != 0 ||
        write_syncs(p) != 0)
        return -1;
    return 0;
}

/* ---- the gnuplot script ---- */

static void head(FILE *g, const char *dir, const char *name, int height)
{
    fprintf(g,
            "reset\nset terminal svg size 960,%d font 'sans,12' "
            "background rgb 'white' noenhanced\n",
            height);
    fprintf(g, "set output '%s/%s.svg'\nset grid\n", dir, name);
}

static void script_latency(const struct sim_report_plots *p, FILE *g)
{
    const struct sim_report_html_data *d = p->d;
    head(g, p->dir, "latency", 420);
    fprintf(g, "set title 'Delivery latency CDF per artifact kind'\n"
               "set xlabel 'latency (ms, log scale)'\n"
               "set ylabel 'share of deliveries'\nset logscale x\n"
               "set yrange [0:1.02]\nset key bottom right\n");
    if (d->latency_count[0] + d->latency_count[1] == 0) {
        fprintf(g, "set label 'no deliveries' at graph 0.5,0.5 center\n"
                   "set xrange [1:10]\nplot 2 notitle\n");
        return;
    }
    fprintf(g, "plot ");
    const char *sep = "";
    for (int k = 0; k < 2; k++) {
        if (d->latency_count[k] == 0)
            continue;
        fprintf(g,
                "%s'%s/latency_%d.dat' using 1:2 with steps lw 2 "
                "title '%s (%zu)'",
                sep, p->dir, k, k ? "advert" : "push", d->latency_count[k]);
        sep = ", ";
    }
    fputc('\n', g);
}

/* The capacity lines of one direction, or a note when they are off the
 * scale; sets the y range. */
static void capacity_lines(const struct sim_report_plots *p, int dir, FILE *g,
                           char *plot, size_t len, size_t *at)
{
    const struct sim_plot_link *l = &p->link[dir];
    const char *link = dir == 0 ? "uplink" : "downlink";
    if (l->capacities_count == 0)
        return;
    double top = sim_report_plots_mib_s(l->capacity_bps[0]);
    if (l->peak_rate < CAPACITY_DRAWN_MIN_USE * top) {
        fprintf(g,
                "set yrange [0:*]\nset label 'the %s capacity, %.1f MiB/s, "
                "is off this scale' at graph 0.01,0.95 left font ',10'\n",
                link, top);
        return;
    }
    double ymax = l->peak_rate > top ? l->peak_rate : top;
    fprintf(g, "set yrange [0:%.4f]\n", ymax * 1.1);
    for (size_t c = 0; c < l->capacities_count; c++) {
        char who[48] = "";
        if (l->capacity_nodes[c] != p->s->nodes)
            snprintf(who, sizeof(who), " (%u nodes)", l->capacity_nodes[c]);
        add(plot, len, at,
            ", %.6f with lines dt 2 lw 2 lc rgb '%s' "
            "title '%s capacity %.1f MiB/s%s'",
            sim_report_plots_mib_s(l->capacity_bps[c]),
            c ? "#e67e22" : "#c0392b", link,
            sim_report_plots_mib_s(l->capacity_bps[c]), who);
    }
}

static void script_rates(const struct sim_report_plots *p, int dir, FILE *g)
{
    static const char *const top_colours[SIM_REPORT_PLOTS_TOP_NODES] = {
        "#8e44ad", "#16a085", "#d35400"};
    const struct sim_plot_link *l = &p->link[dir];
    const char *file = dir == 0 ? "sent.dat" : "received.dat";
    head(g, p->dir, dir == 0 ? "bytes_sent" : "bytes_received", 440);
    fprintf(g,
            "set title '%s: bytes %s per node, as the links carried them "
            "(%u nodes)'\nset xlabel 'virtual time (s)'\n"
            "set ylabel 'MiB/s'\nset xrange [0:%.3f]\n"
            "set key outside right top vertical font ',10' width -4\n",
            dir == 0 ? "Uplinks" : "Downlinks", dir == 0 ? "sent" : "received",
            p->s->nodes, (double)p->w->now / 1e9);
    char plot[2048];
    size_t at = 0;
    size_t c = l->top_count; /* the percentile columns follow the top */
    add(plot, sizeof(plot), &at,
        "plot '%s/%s' using 1:%zu with lines lw 1 lc rgb '#aaaaaa' "
        "title 'max of the nodes', '' using 1:%zu with lines lw 2 "
        "lc rgb '#2980b9' title 'p90 of the nodes', '' using 1:%zu with "
        "lines lw 2 lc rgb '#27ae60' title 'median node'",
        p->dir, file, c + 4, c + 3, c + 2);
    /* top_count <= SIM_REPORT_PLOTS_TOP_NODES (checked when filled); the second
     * bound lets -O3 see that top_colours[t] is never past its end. */
    for (size_t t = 0; t < l->top_count && t < SIM_REPORT_PLOTS_TOP_NODES; t++)
        add(plot, sizeof(plot), &at,
            ", '' using 1:%zu with lines lw 1.5 dt %d lc rgb '%s' "
            "title 'n%u: %.1f MiB in all%s'",
            t + 2, t ? 3 : 1, top_colours[t], l->top[t],
            sim_report_plots_mib(l->top_bytes[t]), t ? "" : " (busiest)");
    capacity_lines(p, dir, g, plot, sizeof(plot), &at);
    fprintf(g, "%s\n", plot);
}

static void heat_panel(const struct sim_report_plots *p, int dir, FILE *g)
{
    double secs = bucket_s(p);
    fprintf(g,
            "set title '%s use per node, %% of its capacity'\n"
            "set yrange [%u.5:-0.5]\nset ytics (",
            dir == 0 ? "Uplink" : "Downlink", p->heat_rows - 1);
    uint32_t every = p->heat_rows > 16 ? (p->heat_rows + 15) / 16 : 1;
    for (uint32_t r = 0; r < p->heat_rows; r += every) {
        uint32_t lo = r * p->heat_nodes_per_row;
        uint32_t hi = lo + p->heat_nodes_per_row - 1;
        if (hi >= p->s->nodes)
            hi = p->s->nodes - 1;
        if (hi > lo)
            fprintf(g, "%s'n%u-%u' %u", r ? ", " : "", lo, hi, r);
        else
            fprintf(g, "%s'n%u' %u", r ? ", " : "", lo, r);
    }
    fprintf(g,
            ")\nplot '%s/%s' matrix using (($1+0.5)*%.6f):2:3 with image "
            "notitle\n",
            p->dir, dir == 0 ? "heat_sent.dat" : "heat_received.dat", secs);
}

static void script_heat(const struct sim_report_plots *p, FILE *g)
{
    int panel = 60 + (int)p->heat_rows * 14;
    panel = panel < 200 ? 200 : panel > 480 ? 480 : panel;
    head(g, p->dir, "link_heatmap", 2 * panel + 40);
    fprintf(g,
            "unset grid\nset multiplot layout 2,1\n"
            "set xrange [0:%.3f]\nset xlabel 'virtual time (s)'\n"
            "set palette defined (0 '#ffffff', 3 '#fff6c8', 25 '#fdb863', "
            "60 '#e66101', 100 '#67001f')\nset cbrange [0:100]\n"
            "set cblabel '%% of capacity'\nset ytics font ',9'\n"
            "set lmargin 10\nset rmargin 14\n",
            (double)p->w->now / 1e9);
    heat_panel(p, 0, g);
    heat_panel(p, 1, g);
    fprintf(g, "unset multiplot\n");
}

static void script_progress(const struct sim_report_plots *p, FILE *g)
{
    head(g, p->dir, "progress", 600);
    fprintf(g,
            "set multiplot layout 2,1 title 'Delivery progress and "
            "faults'\nset lmargin 12\nset rmargin 4\nset xrange [0:%.3f]\n",
            (double)p->w->now / 1e9);
    fprintf(g,
            "set size 1,0.58\nset origin 0,0.40\n"
            "set ylabel 'deliveries'\nset format x ''\nset key top left\n"
            "plot '%s/progress.dat' using 1:2 with lines lw 2 "
            "title 'deliveries so far'\n",
            p->dir);
    fprintf(g,
            "set size 1,0.40\nset origin 0,0\nset format x '%%g'\n"
            "set xlabel 'virtual time (s)'\nunset ylabel\n"
            "set yrange [0.5:%d.9]\nset ytics (",
            ROWS - 1);
    for (int row = 1; row < ROWS; row++)
        fprintf(g, "%s'%s' %d", row > 1 ? ", " : "", row_names[row], row);
    fprintf(g, ")\n");
    if (p->fault_bars == 0)
        fprintf(g, "set label 'no faults' at graph 0.5,0.5 center\n"
                   "plot 1/0 notitle\n");
    else
        fprintf(g,
                "plot '%s/faults.dat' using 1:3:($2-$1):(0) with vectors "
                "nohead lw 10 lc rgb '#c0392b' notitle, "
                "'%s/fault_labels.dat' using 1:2:3 with labels left "
                "font ',10' notitle\n",
                p->dir, p->dir);
    fprintf(g, "unset multiplot\n");
}

/* Whether a crash of node happened at t (a sync it ended). */
static bool crashed_at(const struct sim_world *w, uint32_t node, p2p_time t)
{
    const struct sim_scenario *sc = w->sc;
    for (size_t k = 0; k < sc->faults_count; k++) {
        const struct sim_fault *f = &sc->faults[k];
        for (size_t i = 0;
             f->kind == SIM_FAULT_CRASH && f->at_ns == t && i < f->nodes_count;
             i++)
            if (f->nodes[i] == node)
                return true;
    }
    return false;
}

static void script_syncs(const struct sim_report_plots *p, FILE *g)
{
    const struct sim_world *w = p->w;
    head(g, p->dir, "state_sync", 440);
    fprintf(g,
            "set title 'State sync: chunks held per syncing node'\n"
            "set xlabel 'virtual time (s)'\nset ylabel 'chunks held'\n"
            "set xrange [0:%.3f]\nset yrange [0:*]\n"
            "set key top left font ',10' opaque box\nplot ",
            (double)w->now / 1e9);
    for (size_t i = 0; i < p->syncs_plotted; i++) {
        const struct sim_sync_record *r = &w->syncs[i];
        char how[96];
        if (r->completed)
            snprintf(how, sizeof(how), "done in %.2f s",
                     (double)(r->ended - r->started) / 1e9);
        else if (r->ended != P2P_TIME_NEVER)
            snprintf(how, sizeof(how), "%s at %.2f s",
                     crashed_at(w, r->node, r->ended) ? "crashed" : "cancelled",
                     (double)r->ended / 1e9);
        else
            snprintf(how, sizeof(how), "running at the end");
        fprintf(g,
                "%s'%s/sync.dat' index %zu using 1:2 with linespoints "
                "pt 7 ps 0.4 lw 2 title 'n%u height %llu: %u chunks, %u "
                "reused, %s'",
                i ? ", " : "", p->dir, i, r->node,
                (unsigned long long)r->height, r->chunks_total,
                r->chunks_reused, how);
    }
    fputc('\n', g);
}

void sim_report_plots_script(const struct sim_report_plots *p, FILE *g)
{
    script_latency(p, g);
    script_rates(p, 0, g);
    script_rates(p, 1, g);
    script_heat(p, g);
    script_progress(p, g);
    if (p->syncs_plotted > 0)
        script_syncs(p, g);
}
