/* The HTML report: data files and a gnuplot script in a temporary folder,
 * gnuplot draws SVGs, and the page inlines them (see report_html.h). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "sim/report_html.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/report.h"
#include "sim/report_plots.h"
#include "sim/world.h"

#define SVG_BYTES_MAX (8u << 20) /* one plot's SVG */

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

/* ---- the page ---- */

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
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

static void page_status(FILE *f, const struct sim_world *w,
                        const struct sim_report *r)
{
    html_text(f, w->sc->name ? w->sc->name : "");
    if (r->interrupted)
        fputs(" <span class=\"fail\">INCOMPLETE</span></h1>\n", f);
    else
        fprintf(f, " <span class=\"%s\">%s</span></h1>\n",
                r->ok ? "ok" : "fail", r->ok ? "OK" : "FAILED");
    if (r->interrupted)
        fprintf(f,
                "<p class=\"banner\" id=\"incomplete\">Incomplete: the run "
                "was interrupted at %.2f s of virtual time, before its end at "
                "%.2f s (%.3g s + %.3g s drain). The plots stop there and the "
                "expectations were not judged.</p>\n",
                (double)w->now / 1e9, (double)r->end_ns / 1e9,
                (double)(r->end_ns - r->drain_ns) / 1e9,
                (double)r->drain_ns / 1e9);
}

static void page_summary(FILE *f, const struct sim_world *w,
                         const struct sim_report *r, const char *replay)
{
    const struct sim_stats *st = &w->stats;
    char end[96];
    sim_report_end_text(w, r, end, sizeof(end));
    fprintf(f,
            "<p>seed %llu; %.1f s of virtual time of %s, %llu events; "
            "%llu artifacts, %llu of %llu deliveries; latency p50 %.1f ms, "
            "p99 %.1f ms; bytes sent %.1f MiB = %.2fx ideal.</p>\n",
            (unsigned long long)w->seed, (double)w->now / 1e9, end,
            (unsigned long long)st->events, (unsigned long long)r->artifacts,
            (unsigned long long)r->deliveries,
            (unsigned long long)r->deliveries_expected, (double)r->p50_ns / 1e6,
            (double)r->p99_ns / 1e6,
            sim_report_plots_mib((double)st->bytes_sent),
            st->bytes_ideal ? (double)st->bytes_sent / (double)st->bytes_ideal
                            : 0.0);
    char cwd[1024];
    fputs("<p>Replay: <code>", f);
    html_text(f, replay);
    fputs("</code>", f);
    if (getcwd(cwd, sizeof(cwd)) != NULL) {
        fputs(" (in <code>", f);
        html_text(f, cwd);
        fputs("</code>)", f);
    }
    fputs("</p>\n", f);
}

static void page_expectations(FILE *f, const struct sim_report *r)
{
    fputs("<h2>Expectations</h2>\n", f);
    if (r->interrupted) {
        fputs("<p>Not judged: the run did not reach its end.</p>\n", f);
        return;
    }
    fputs("<table><tr><th>result</th><th>expectation</th><th>detail</th>"
          "</tr>\n",
          f);
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
        fprintf(f,
                "<p>Byzantine node %u (%s): penalised %llu points by %u of "
                "%u honest nodes, disconnected %u times.</p>\n",
                r->byz[i].node,
                sim_scenario_byzantine_name(r->byz[i].behaviour),
                (unsigned long long)r->byz[i].points, r->byz[i].penalised_by,
                r->byz[i].honest, r->byz[i].bans);
}

/* One figure: the SVG and its caption (caption is HTML). */
static int figure(FILE *f, const char *dir, const char *name,
                  const char *caption, FILE *err)
{
    char svg[SIM_REPORT_PLOTS_PATH_BYTES];
    snprintf(svg, sizeof(svg), "%s/%s.svg", dir, name);
    fprintf(f, "<figure id=\"plot-%s\">", name);
    int rc = inline_svg(f, svg, err);
    fprintf(f, "<figcaption>%s</figcaption></figure>\n", caption);
    return rc;
}

static void link_caption(const struct sim_report_plots *p, int dir, char *buf,
                         size_t len)
{
    const struct sim_plot_link *l = &p->link[dir];
    const char *link = dir == 0 ? "uplink" : "downlink";
    int n = snprintf(
        buf, len,
        "Bytes each node %s per %.0f ms of virtual time, in MiB/s: the "
        "median, p90 and max across the %u nodes, and the %zu busiest "
        "nodes. Each message is counted over the time its %s carried it "
        "(%s). ",
        dir == 0 ? "sent" : "received", (double)p->s->bucket_ns / 1e6,
        p->s->nodes, l->top_count, link,
        dir == 0 ? "its serialisation on the sender's uplink, small "
                   "messages ahead of large ones"
                 : "its transfer time on the receiver's downlink, ending "
                   "when it arrived; a message that lost packets arrives "
                   "late by its recovery time and is counted then, so after "
                   "losses an interval can show more than the capacity");
    if (n < 0 || (size_t)n >= len)
        return;
    if (l->capacities_count > 0)
        snprintf(buf + n, len - (size_t)n,
                 "Dashed: the %s capacity (%.1f MiB/s%s). Busiest: n%u at "
                 "%.1f s, %.1f%% of its %s.",
                 link, sim_report_plots_mib_s(l->capacity_bps[0]),
                 l->capacities_count > 1 ? " and others" : "", l->peak_node,
                 l->peak_t_s, l->peak_use * 100.0, link);
}

/* The fault table: every fault with its nodes or groups. */
static void fault_table(FILE *f, const struct sim_world *w)
{
    const struct sim_scenario *sc = w->sc;
    if (sc->faults_count == 0)
        return;
    fputs("<table id=\"faults\"><tr><th>at</th><th>fault</th><th>nodes and "
          "details</th><th>until</th></tr>\n",
          f);
    for (size_t k = 0; k < sc->faults_count; k++) {
        const struct sim_fault *ft = &sc->faults[k];
        char label[256];
        sim_report_plots_fault_label(w, k, label, sizeof(label));
        fprintf(f, "<tr><td>%.3f s</td><td>%s</td><td>",
                (double)ft->at_ns / 1e9,
                sim_scenario_fault_kind_name(ft->kind));
        html_text(f, label);
        p2p_time end = sim_report_plots_fault_end(w, k, P2P_TIME_NEVER);
        if (end == ft->at_ns)
            fputs("</td><td></td></tr>\n", f);
        else if (end == P2P_TIME_NEVER)
            fputs("</td><td>the end</td></tr>\n", f);
        else
            fprintf(f, "</td><td>%.3f s</td></tr>\n", (double)end / 1e9);
    }
    fputs("</table>\n", f);
}

static void sync_table(FILE *f, const struct sim_world *w)
{
    fputs("<table id=\"syncs\"><tr><th>node</th><th>height</th><th>started"
          "</th><th>took</th><th>chunks</th><th>reused</th><th>fetched</th>"
          "<th>peers</th><th>outcome</th></tr>\n",
          f);
    for (size_t i = 0; i < w->syncs_count; i++) {
        const struct sim_sync_record *r = &w->syncs[i];
        fprintf(f, "<tr><td>n%u</td><td>%llu</td><td>%.3f s</td><td>", r->node,
                (unsigned long long)r->height, (double)r->started / 1e9);
        if (r->ended != P2P_TIME_NEVER)
            fprintf(f, "%.3f s", (double)(r->ended - r->started) / 1e9);
        fprintf(f,
                "</td><td>%u</td><td>%u</td><td>%.1f MiB</td><td>%u</td>"
                "<td>%s</td></tr>\n",
                r->chunks_total, r->chunks_reused,
                sim_report_plots_mib((double)r->bytes_fetched), r->peers,
                r->completed                 ? "done"
                : r->ended != P2P_TIME_NEVER ? "stopped (crashed or cancelled)"
                                             : "running at the end");
    }
    fputs("</table>\n", f);
}

static int page_syncs(FILE *f, const struct sim_report_plots *p, FILE *err)
{
    const struct sim_world *w = p->w;
    fputs("<h2>State sync</h2>\n", f);
    if (!w->states_on) {
        fputs("<p id=\"state-sync\">The scenario has no state section: no "
              "node syncs state.</p>\n",
              f);
        return 0;
    }
    if (w->syncs_count == 0) {
        fputs("<p id=\"state-sync\">No node synced state in this run: every "
              "node held the newest state.</p>\n",
              f);
        return 0;
    }
    char caption[512];
    snprintf(caption, sizeof(caption),
             "Chunks each syncing node held over virtual time, one line per "
             "sync (the first %zu of %zu): from its start (the chunks it "
             "reused from its disk) to its end; a sync that stops short was "
             "ended by a crash or cancelled, and the node's next sync "
             "resumes from the chunks its store kept.",
             p->syncs_plotted, w->syncs_count);
    fputs("<div id=\"state-sync\">\n", f);
    int rc = figure(f, p->dir, "state_sync", caption, err);
    sync_table(f, w);
    fputs("</div>\n", f);
    return rc;
}

static int page_plots(FILE *f, const struct sim_report_plots *p, FILE *err)
{
    char caption[1024];
    int rc = figure(f, p->dir, "latency",
                    "Delivery latency per artifact kind (share of deliveries "
                    "at or below a latency).",
                    err);
    for (int dir = 0; dir < 2 && rc == 0; dir++) {
        link_caption(p, dir, caption, sizeof(caption));
        rc = figure(f, p->dir, dir == 0 ? "bytes_sent" : "bytes_received",
                    caption, err);
    }
    if (rc == 0) {
        snprintf(caption, sizeof(caption),
                 "Each node's use of its uplink and downlink over virtual "
                 "time, in %% of its capacity (white: idle)%s.",
                 p->heat_nodes_per_row > 1
                     ? "; a row is several nodes, showing the busiest"
                     : "");
        rc = figure(f, p->dir, "link_heatmap", caption, err);
    }
    if (rc == 0)
        rc = figure(f, p->dir, "progress",
                    "Deliveries so far, with the faults of the scenario "
                    "under them, each bar named by its nodes or groups "
                    "(partitions until the heal, crashes until the restart, "
                    "loss bursts and blackholes, byzantine behaviour from "
                    "its start; short bars: joins, leaves, skews, NAT "
                    "rebindings). The table lists every fault.",
                    err);
    if (rc == 0)
        fault_table(f, p->w);
    return rc;
}

static int page(const char *path, const struct sim_report_plots *p,
                const struct sim_report *r, const char *replay, FILE *err)
{
    const struct sim_world *w = p->w;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(err, "p2p-sim: report: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<title>p2p-sim report: ",
          f);
    html_text(f, w->sc->name ? w->sc->name : "");
    fputs("</title>\n<style>body{font-family:sans-serif;max-width:1000px;"
          "margin:2em auto;color:#222}table{border-collapse:collapse;"
          "margin:0.5em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
          "text-align:left}.ok{color:#1e8449;font-weight:bold}"
          ".fail{color:#c0392b;font-weight:bold}.banner{background:#fdecea;"
          "border:2px solid #c0392b;padding:0.6em}code{background:#f4f4f4;"
          "padding:2px 4px}figure{margin:1.5em 0}"
          "svg image{image-rendering:pixelated}</style></head><body>\n"
          "<h1>",
          f);
    page_status(f, w, r);
    page_summary(f, w, r, replay);
    page_expectations(f, r);
    int rc = page_plots(f, p, err);
    if (rc == 0)
        rc = page_syncs(f, p, err);
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

/* Removes the temporary folder and every file in it (all ours). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[SIM_REPORT_PLOTS_PATH_BYTES];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        (void)unlink(path);
    }
    if (d != NULL)
        closedir(d);
    (void)rmdir(dir);
}

int sim_report_html_write(const struct sim_world *w, const struct sim_report *r,
                          const struct sim_report_series *s,
                          const struct sim_report_html_data *d,
                          const char *path, const char *replay, FILE *err)
{
    char dir[] = "/tmp/p2p-report.XXXXXX";
    if (s->sent == NULL) {
        fprintf(err, "p2p-sim: report: the run kept no series\n");
        return -1;
    }
    if (mkdtemp(dir) == NULL) {
        fprintf(err, "p2p-sim: report: cannot make a temporary folder: %s\n",
                strerror(errno));
        return -1;
    }
    struct sim_report_plots p = {.w = w, .s = s, .d = d, .dir = dir};
    char gp[SIM_REPORT_PLOTS_PATH_BYTES];
    snprintf(gp, sizeof(gp), "%s/plots.gp", dir);
    FILE *g = NULL;
    if (sim_report_plots_write_data(&p) != 0 || (g = fopen(gp, "w")) == NULL) {
        fprintf(err, "p2p-sim: report: cannot write in %s\n", dir);
        remove_dir(dir);
        return -1;
    }
    sim_report_plots_script(&p, g);
    int rc = fclose(g) == 0 ? run_gnuplot(gp, err) : -1;
    if (rc == 0)
        rc = page(path, &p, r, replay, err);
    remove_dir(dir);
    return rc;
}
