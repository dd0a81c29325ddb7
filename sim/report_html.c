/* The HTML report: data files and a gnuplot script in a temporary folder,
 * gnuplot draws SVGs, and the page inlines them (see report_html.h). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "sim/report_html.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/report.h"
#include "sim/world.h"

#define POINTS_MAX 2000u          /* points per curve: the page stays small */
#define SVG_BYTES_MAX (8u << 20)  /* one plot's SVG */
#define PATH_BYTES 512u

static const char *const plot_names[] = {"latency", "bytes_sent",
                                         "bytes_received", "progress"};
#define PLOTS (sizeof(plot_names) / sizeof(plot_names[0]))

/* ---- the series ---- */

int sim_series_init(struct sim_series *s, uint32_t nodes, p2p_time horizon_ns)
{
    memset(s, 0, sizeof(*s));
    s->nodes = nodes;
    s->buckets = SIM_SERIES_BUCKETS_MAX;
    s->bucket_ns = horizon_ns / s->buckets + 1;
    s->sent = calloc((size_t)nodes * s->buckets, sizeof(uint64_t));
    s->received = calloc((size_t)nodes * s->buckets, sizeof(uint64_t));
    if (s->sent == NULL || s->received == NULL) {
        sim_series_fini(s);
        return -1;
    }
    return 0;
}

void sim_series_add(struct sim_series *s, p2p_time t, uint32_t node, bool sent,
                    uint64_t bytes)
{
    if (s->sent == NULL || node >= s->nodes)
        return;
    uint64_t b = t / s->bucket_ns;
    if (b >= s->buckets)
        b = s->buckets - 1; /* the drain's tail */
    (sent ? s->sent : s->received)[(size_t)node * s->buckets + b] += bytes;
}

void sim_series_fini(struct sim_series *s)
{
    free(s->sent);
    free(s->received);
    memset(s, 0, sizeof(*s));
}

/* ---- data the report keeps before sim_report_build sorts ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_time(const void *a, const void *b)
{
    p2p_time x = *(const p2p_time *)a, y = *(const p2p_time *)b;
    return (x > y) - (x < y);
}

int sim_report_html_prepare(const struct sim_world *w,
                            struct sim_report_html_data *d)
{
    memset(d, 0, sizeof(*d));
    size_t n = w->stats.latencies_count;
    for (int k = 0; k < 2; k++)
        d->latency_ms[k] = malloc((n ? n : 1) * sizeof(double));
    d->delivered_at = malloc((n ? n : 1) * sizeof(p2p_time));
    if (d->latency_ms[0] == NULL || d->latency_ms[1] == NULL ||
        d->delivered_at == NULL) {
        sim_report_html_data_fini(d);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct sim_artifact *a =
            &w->artifacts[w->stats.deliveries[i].artifact];
        int k = a->kind == P2P_KIND_PUSH ? 0 : 1;
        d->latency_ms[k][d->latency_count[k]++] =
            (double)w->stats.latencies_ns[i] / 1e6;
        d->delivered_at[d->delivered_count++] =
            a->created + w->stats.latencies_ns[i];
    }
    for (int k = 0; k < 2; k++)
        qsort(d->latency_ms[k], d->latency_count[k], sizeof(double),
              cmp_double);
    qsort(d->delivered_at, d->delivered_count, sizeof(p2p_time), cmp_time);
    return 0;
}

void sim_report_html_data_fini(struct sim_report_html_data *d)
{
    for (int k = 0; k < 2; k++)
        free(d->latency_ms[k]);
    free(d->delivered_at);
    memset(d, 0, sizeof(*d));
}

/* ---- data files ---- */

static FILE *open_in(const char *dir, const char *name, char *path)
{
    snprintf(path, PATH_BYTES, "%s/%s", dir, name);
    return fopen(path, "w");
}

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

static uint32_t plotted_nodes(const struct sim_series *s)
{
    return s->nodes < SIM_REPORT_NODES_PLOTTED_MAX
               ? s->nodes : SIM_REPORT_NODES_PLOTTED_MAX;
}

/* Columns: time (s), then each plotted node's rate in MB/s. */
static void write_rates(FILE *f, const struct sim_series *s,
                        const uint64_t *bytes, p2p_time end)
{
    double secs = (double)s->bucket_ns / 1e9;
    for (uint32_t b = 0; b < s->buckets; b++) {
        if ((p2p_time)b * s->bucket_ns > end)
            break;
        fprintf(f, "%.3f", ((double)b + 0.5) * secs);
        for (uint32_t n = 0; n < plotted_nodes(s); n++)
            fprintf(f, " %.6f",
                    (double)bytes[(size_t)n * s->buckets + b] / 1e6 / secs);
        fputc('\n', f);
    }
}

/* Fault rows for the timeline: each a bar [start, end] on a row per kind
 * (instants get a short bar so they show). */
enum { ROW_PARTITION = 1, ROW_CRASH, ROW_LOSS, ROW_MEMBERSHIP, ROW_BYZANTINE,
       ROW_SKEW, ROWS };
static const char *const row_names[ROWS] = {
    "", "partition", "crash", "loss", "join/leave", "byzantine", "skew"};

static p2p_time fault_bar_end(const struct sim_scenario *sc, size_t k,
                              p2p_time end)
{
    const struct sim_fault *f = &sc->faults[k];
    switch (f->kind) {
    case SIM_FAULT_LOSS:
        return f->at_ns + f->for_ns;
    case SIM_FAULT_PARTITION:
        for (size_t j = k + 1; j < sc->faults_count; j++)
            if (sc->faults[j].kind == SIM_FAULT_HEAL ||
                sc->faults[j].kind == SIM_FAULT_PARTITION)
                return sc->faults[j].at_ns;
        return end;
    case SIM_FAULT_CRASH: {
        /* Until the last of its nodes is back (or the end). */
        p2p_time last = f->at_ns;
        for (size_t i = 0; i < f->nodes_count; i++) {
            p2p_time back = end;
            for (size_t j = k + 1; j < sc->faults_count && back == end; j++) {
                const struct sim_fault *g = &sc->faults[j];
                for (size_t m = 0; g->kind == SIM_FAULT_RESTART &&
                                   m < g->nodes_count; m++)
                    if (g->nodes[m] == f->nodes[i])
                        back = g->at_ns;
            }
            if (back > last)
                last = back;
        }
        return last;
    }
    case SIM_FAULT_BYZANTINE:
        return end;
    default:
        return f->at_ns;
    }
}

static int fault_row(enum sim_fault_kind kind)
{
    switch (kind) {
    case SIM_FAULT_PARTITION: return ROW_PARTITION;
    case SIM_FAULT_CRASH: return ROW_CRASH;
    case SIM_FAULT_LOSS: return ROW_LOSS;
    case SIM_FAULT_JOIN:
    case SIM_FAULT_LEAVE: return ROW_MEMBERSHIP;
    case SIM_FAULT_BYZANTINE: return ROW_BYZANTINE;
    case SIM_FAULT_SKEW: return ROW_SKEW;
    default: return 0; /* heal, restart: the ends of bars */
    }
}

static size_t write_faults(FILE *f, const struct sim_world *w)
{
    const struct sim_scenario *sc = w->sc;
    double min_bar = (double)w->now / 1e9 / 200.0;
    size_t bars = 0;
    for (size_t k = 0; k < sc->faults_count; k++) {
        int row = fault_row(sc->faults[k].kind);
        if (row == 0)
            continue;
        double a = (double)sc->faults[k].at_ns / 1e9;
        double b = (double)fault_bar_end(sc, k, w->now) / 1e9;
        if (b - a < min_bar)
            b = a + min_bar;
        fprintf(f, "%.6f %.6f %d\n", a, b, row);
        bars++;
    }
    return bars;
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

/* ---- the gnuplot script ---- */

static void script_head(FILE *g, const char *dir, const char *name,
                        int height)
{
    fprintf(g, "set terminal svg size 960,%d font 'sans,12' "
            "background rgb 'white'\n", height);
    fprintf(g, "set output '%s/%s.svg'\nreset\nset grid\n", dir, name);
}

static void script(FILE *g, const char *dir, const struct sim_world *w,
                   const struct sim_series *s,
                   const struct sim_report_html_data *d, size_t fault_bars)
{
    script_head(g, dir, "latency", 420);
    fprintf(g, "set title 'Delivery latency CDF per artifact kind'\n"
            "set xlabel 'latency (ms, log scale)'\n"
            "set ylabel 'share of deliveries'\nset logscale x\n"
            "set yrange [0:1.02]\nset key bottom right\n");
    if (d->latency_count[0] + d->latency_count[1] == 0) {
        fprintf(g, "set label 'no deliveries' at graph 0.5,0.5 center\n"
                "set xrange [1:10]\nplot 2 notitle\n");
    } else {
        fprintf(g, "plot ");
        const char *sep = "";
        for (int k = 0; k < 2; k++) {
            if (d->latency_count[k] == 0)
                continue;
            fprintf(g, "%s'%s/latency_%d.dat' using 1:2 with steps lw 2 "
                    "title '%s (%zu)'", sep, dir, k, k ? "advert" : "push",
                    d->latency_count[k]);
            sep = ", ";
        }
        fputc('\n', g);
    }
    uint32_t nodes = plotted_nodes(s);
    for (int r = 0; r < 2; r++) {
        script_head(g, dir, r ? "bytes_received" : "bytes_sent", 420);
        fprintf(g, "set title 'Bytes %s per node (%u nodes%s)'\n"
                "set xlabel 'virtual time (s)'\nset ylabel 'MB/s'\n"
                "set key outside right top horizontal maxcols 2 font ',9'\n",
                r ? "received" : "sent", nodes,
                s->nodes > nodes ? ", first shown" : "");
        fprintf(g, "plot for [i=2:%u] '%s/%s.dat' using 1:i with lines "
                "title sprintf('n%%d', i-2)\n", nodes + 1, dir,
                r ? "received" : "sent");
    }
    script_head(g, dir, "progress", 560);
    fprintf(g, "set multiplot layout 2,1 title 'Delivery progress and "
            "faults'\n");
    fprintf(g, "set lmargin 12\nset rmargin 4\nset xrange [0:%.3f]\n",
            (double)w->now / 1e9);
    fprintf(g, "set size 1,0.62\nset origin 0,0.36\n"
            "set ylabel 'deliveries'\nset format x ''\n"
            "plot '%s/progress.dat' using 1:2 with lines lw 2 "
            "title 'deliveries so far'\n", dir);
    fprintf(g, "set size 1,0.36\nset origin 0,0\nset format x '%%g'\n"
            "set xlabel 'virtual time (s)'\nunset ylabel\n"
            "set yrange [0.3:%d.7]\nset ytics (", ROWS - 1);
    for (int row = 1; row < ROWS; row++)
        fprintf(g, "%s'%s' %d", row > 1 ? ", " : "", row_names[row], row);
    fprintf(g, ")\n");
    if (fault_bars == 0)
        fprintf(g, "set label 'no faults' at graph 0.5,0.5 center\n"
                "plot 1/0 notitle\n");
    else
        fprintf(g, "plot '%s/faults.dat' using 1:3:($2-$1):(0) with vectors nohead "
                "lw 12 lc rgb '#c0392b' notitle\n", dir);
    fprintf(g, "unset multiplot\n");
}

/* ---- the page ---- */

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Copies an SVG file into the page, from its <svg element on (gnuplot's
 * XML prologue and DOCTYPE do not belong inside HTML). */
static int inline_svg(FILE *out, const char *path, FILE *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(err, "p2p-sim: report: gnuplot made no %s\n", path);
        return -1;
    }
    char *buf = malloc(SVG_BYTES_MAX + 1);
    size_t n = buf ? fread(buf, 1, SVG_BYTES_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > SVG_BYTES_MAX) {
        fprintf(err, "p2p-sim: report: %s is missing or larger than %u bytes\n",
                path, SVG_BYTES_MAX);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    const char *start = strstr(buf, "<svg");
    if (start == NULL) {
        fprintf(err, "p2p-sim: report: %s is not an SVG\n", path);
        free(buf);
        return -1;
    }
    fputs(start, out);
    free(buf);
    return 0;
}

static void page_head(FILE *f, const struct sim_world *w,
                      const struct sim_report *r, const char *replay)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<title>p2p-sim report: ", f);
    html_text(f, w->sc->name ? w->sc->name : "");
    fputs("</title>\n<style>body{font-family:sans-serif;max-width:1000px;"
          "margin:2em auto;color:#222}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
          ".ok{color:#1e8449;font-weight:bold}.fail{color:#c0392b;"
          "font-weight:bold}code{background:#f4f4f4;padding:2px 4px}"
          "figure{margin:1.5em 0}</style></head><body>\n<h1>", f);
    html_text(f, w->sc->name ? w->sc->name : "");
    fprintf(f, " <span class=\"%s\">%s</span></h1>\n", r->ok ? "ok" : "fail",
            r->ok ? "OK" : "FAILED");
    fprintf(f, "<p>seed %llu; %.1f s of virtual time, %llu events; "
            "%llu artifacts, %llu of %llu deliveries; latency p50 %.1f ms, "
            "p99 %.1f ms; bytes sent %.2fx ideal.</p>\n",
            (unsigned long long)w->seed, (double)w->now / 1e9,
            (unsigned long long)w->stats.events,
            (unsigned long long)r->artifacts,
            (unsigned long long)r->deliveries,
            (unsigned long long)r->deliveries_expected, (double)r->p50_ns / 1e6,
            (double)r->p99_ns / 1e6,
            w->stats.bytes_ideal
                ? (double)w->stats.bytes_sent / (double)w->stats.bytes_ideal
                : 0.0);
    fputs("<p>Replay: <code>", f);
    html_text(f, replay);
    fputs("</code></p>\n<h2>Expectations</h2>\n<table><tr><th>result</th>"
          "<th>expectation</th><th>detail</th></tr>\n", f);
    for (size_t i = 0; i < r->expects_count; i++) {
        fprintf(f, "<tr><td class=\"%s\">%s</td><td>",
                r->expects[i].ok ? "ok" : "fail",
                r->expects[i].ok ? "pass" : "FAIL");
        html_text(f, r->expects[i].name);
        fputs("</td><td>", f);
        html_text(f, r->expects[i].detail);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    for (size_t i = 0; i < r->byz_count; i++)
        fprintf(f, "<p>Byzantine node %u (%s): penalised %llu points by %u of "
                "%u honest nodes, disconnected %u times.</p>\n",
                r->byz[i].node, sim_byzantine_name(r->byz[i].behaviour),
                (unsigned long long)r->byz[i].points, r->byz[i].penalised_by,
                r->byz[i].honest, r->byz[i].bans);
}

static int page(const char *path, const char *dir, const struct sim_world *w,
                const struct sim_report *r, const char *replay, FILE *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(err, "p2p-sim: report: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    page_head(f, w, r, replay);
    static const char *const captions[PLOTS] = {
        "Delivery latency per artifact kind (share of deliveries at or "
        "below a latency).",
        "Bytes each node sent, per interval of virtual time.",
        "Bytes each node received, per interval of virtual time.",
        "Deliveries so far, with the faults of the scenario under them "
        "(bars: partitions until the heal, crashes until the restart, loss "
        "bursts, byzantine behaviour from its start; short bars: joins, "
        "leaves, skews)."};
    int rc = 0;
    for (size_t i = 0; i < PLOTS && rc == 0; i++) {
        char svg[PATH_BYTES];
        snprintf(svg, sizeof(svg), "%s/%s.svg", dir, plot_names[i]);
        fprintf(f, "<figure id=\"plot-%s\">", plot_names[i]);
        rc = inline_svg(f, svg, err);
        fprintf(f, "<figcaption>%s</figcaption></figure>\n", captions[i]);
    }
    fputs("<h2>State sync</h2>\n<p id=\"state-sync\">No node synced state in "
          "this run (state sync is not simulated yet).</p>\n", f);
    fputs("</body></html>\n", f);
    if (fclose(f) != 0 && rc == 0) {
        fprintf(err, "p2p-sim: report: writing %s failed\n", path);
        rc = -1;
    }
    return rc;
}

/* Runs gnuplot on the script; 0 when it exits 0. */
static int run_gnuplot(const char *script_path, FILE *err)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(err, "p2p-sim: report: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script_path, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(err, "p2p-sim: report: gnuplot failed%s\n",
                WIFEXITED(status) && WEXITSTATUS(status) == 127
                    ? " (not installed? Debian package gnuplot-nox)"
                    : "");
        return -1;
    }
    return 0;
}

static void remove_dir(const char *dir)
{
    static const char *const files[] = {
        "latency_0.dat", "latency_1.dat", "sent.dat", "received.dat",
        "progress.dat", "faults.dat", "plots.gp", "latency.svg",
        "bytes_sent.svg", "bytes_received.svg", "progress.svg"};
    char path[PATH_BYTES];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        (void)unlink(path);
    }
    (void)rmdir(dir);
}

static int write_data(const char *dir, const struct sim_world *w,
                      const struct sim_series *s,
                      const struct sim_report_html_data *d, size_t *bars)
{
    char path[PATH_BYTES];
    FILE *f;
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        char name[32];
        snprintf(name, sizeof(name), "latency_%d.dat", k);
        if ((f = open_in(dir, name, path)) == NULL)
            return -1;
        write_cdf(f, d->latency_ms[k], d->latency_count[k]);
        rc |= fclose(f);
    }
    if ((f = open_in(dir, "sent.dat", path)) == NULL)
        return -1;
    write_rates(f, s, s->sent, w->now);
    rc |= fclose(f);
    if ((f = open_in(dir, "received.dat", path)) == NULL)
        return -1;
    write_rates(f, s, s->received, w->now);
    rc |= fclose(f);
    if ((f = open_in(dir, "progress.dat", path)) == NULL)
        return -1;
    write_progress(f, d);
    rc |= fclose(f);
    if ((f = open_in(dir, "faults.dat", path)) == NULL)
        return -1;
    *bars = write_faults(f, w);
    rc |= fclose(f);
    return rc == 0 ? 0 : -1;
}

int sim_report_html_write(const struct sim_world *w, const struct sim_report *r,
                          const struct sim_series *s,
                          const struct sim_report_html_data *d,
                          const char *path, const char *replay, FILE *err)
{
    char dir[] = "/tmp/p2p-report.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        fprintf(err, "p2p-sim: report: cannot make a temporary folder: %s\n",
                strerror(errno));
        return -1;
    }
    size_t bars = 0;
    int rc = write_data(dir, w, s, d, &bars);
    char gp[PATH_BYTES];
    FILE *g = rc == 0 ? open_in(dir, "plots.gp", gp) : NULL;
    if (g == NULL) {
        fprintf(err, "p2p-sim: report: cannot write in %s\n", dir);
        remove_dir(dir);
        return -1;
    }
    script(g, dir, w, s, d, bars);
    rc = fclose(g) == 0 ? run_gnuplot(gp, err) : -1;
    if (rc == 0)
        rc = page(path, dir, w, r, replay, err);
    remove_dir(dir);
    return rc;
}
