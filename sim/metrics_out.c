/* --metrics DIR: every node's metrics as the replica will expose them on
 * /metrics (DIR/node-<id>.prom, Prometheus text format 0.0.4, written at
 * the end of the run) and a time series of the main counters and gauges
 * (DIR/timeseries.csv, one row per sample time and running node, sampled
 * every --metrics-every of virtual time). Formats: docs/metrics.md.
 *
 * Sampling is a SIM_EV_METRICS event that only reads: it calls no node
 * entry point, draws no randomness, writes no trace line, does not move
 * the virtual clock or a node's clock (it reads a copy), and is not counted
 * as an event, so a run with --metrics has the trace of a run without. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/metrics_registry.h"
#include "sim/units.h"
#include "sim/world.h"

#define TEXT_CAP_INITIAL (64u << 10)

struct sim_metrics_out {
    char *dir;                /* owned copy of --metrics */
    char *path;               /* owned scratch: dir + "/node-<id>.prom" */
    FILE *series;             /* DIR/timeseries.csv */
    p2p_time every_ns;
    uint64_t samples, rows;
    bool series_failed;       /* a write to the series failed */
    /* Per node id: the exposition taken just before a crash stopped it
     * (owned), and its length. */
    char **last;
    size_t *last_len;
    char *text;               /* owned scratch for one exposition */
    size_t text_cap;
};

/* Columns of DIR/timeseries.csv, in order (docs/metrics.md). */
static const char series_header[] =
    "time_s,node,incarnation,deliveries,bytes_sent,bytes_received,"
    "messages_sent,messages_received,artifacts_delivered,"
    "artifacts_validated,pool_unvalidated,pool_validated,"
    "pool_unvalidated_bytes,pool_validated_bytes,conns_up,conns_dialing,"
    "conns_waiting,downloads_pending,fetches_inflight,streams_open,"
    "slots_active,updates_sent,updates_retried,fetches_started,"
    "fetches_failed,core_memory_bytes\n";

int sim_metrics_mkdir(const char *dir, char *msg, size_t msg_len)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (n == 0 || p == NULL) {
        free(p);
        snprintf(msg, msg_len, n == 0 ? "empty path" : "out of memory");
        return -1;
    }
    memcpy(p, dir, n + 1);
    /* Each missing parent, then dir itself (mkdir -p). */
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            snprintf(msg, msg_len, "cannot create directory '%s': %s", p,
                     strerror(errno));
            free(p);
            return -1;
        }
        p[i] = saved;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(msg, msg_len, "'%s' exists and is not a directory", dir);
        return -1;
    }
    return 0;
}

/* The node's local time at global time t, read from a copy of its clock:
 * a reading remembers itself (monotonicity), and the sample must not. */
static p2p_time local_at(const struct sim_world *w, uint32_t node, p2p_time t)
{
    struct sim_clock c = w->nodes[node].clock;
    return sim_clock_local(&c, t);
}

static const char *node_path(struct sim_metrics_out *mo, uint32_t node)
{
    size_t cap = strlen(mo->dir) + 32;
    snprintf(mo->path, cap, "%s/node-%" PRIu32 ".prom", mo->dir, node);
    return mo->path;
}

int sim_metrics_start(struct sim_world *w)
{
    struct sim_metrics_out *mo = calloc(1, sizeof(*mo));
    if (mo == NULL)
        goto fail_oom;
    w->metrics = mo; /* freed by sim_metrics_fini, whatever happens next */
    size_t n = strlen(w->opt.metrics_dir);
    mo->dir = malloc(n + 1);
    mo->path = malloc(n + 32);
    mo->last = calloc(w->nodes_count, sizeof(*mo->last));
    mo->last_len = calloc(w->nodes_count, sizeof(*mo->last_len));
    mo->text = malloc(TEXT_CAP_INITIAL);
    if (mo->dir == NULL || mo->path == NULL || mo->last == NULL ||
        mo->last_len == NULL || mo->text == NULL)
        goto fail_oom;
    memcpy(mo->dir, w->opt.metrics_dir, n + 1);
    mo->text_cap = TEXT_CAP_INITIAL;
    mo->every_ns = w->opt.metrics_every_ns > 0 ? w->opt.metrics_every_ns
                                               : SIM_METRICS_EVERY_DEFAULT_NS;
    snprintf(mo->path, n + 32, "%s/timeseries.csv", mo->dir);
    mo->series = fopen(mo->path, "w");
    if (mo->series == NULL) {
        fprintf(stderr, "p2p-sim: --metrics: cannot write %s: %s\n", mo->path,
                strerror(errno));
        return -1;
    }
    fputs(series_header, mo->series);
    sim_push_event(w, 0, SIM_EV_METRICS, 0, 0, NULL);
    return 0;
fail_oom:
    fprintf(stderr, "p2p-sim: --metrics: out of memory\n");
    return -1;
}

static void series_row(struct sim_world *w, uint32_t node, p2p_time t)
{
    const struct sim_node *sn = &w->nodes[node];
    const struct p2p_metrics *m = p2p_node_metrics(sn->core);
    struct p2p_gauges g;
    p2p_node_gauges(sn->core, local_at(w, node, t), &g);
    uint64_t sent = 0, received = 0;
    for (int k = 0; k < P2P_TRAFFIC_COUNT; k++) {
        sent += sn->bytes_sent[k];
        received += sn->bytes_received[k];
    }
    int rc = fprintf(
        w->metrics->series,
        "%" PRIu64 ".%09" PRIu64 ",%" PRIu32 ",%" PRIu32 ",%" PRIu64
        ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
        ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
        ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32
        ",%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
        ",%" PRIu64 ",%" PRIu64 "\n",
        (uint64_t)(t / P2P_NS_PER_S), (uint64_t)(t % P2P_NS_PER_S), node,
        sn->incarnation,
        sn->deliveries, sent, received, sn->messages_sent,
        sn->messages_received, m->artifacts_received, m->artifacts_validated,
        g.pool_artifacts[P2P_POOL_UNVALIDATED],
        g.pool_artifacts[P2P_POOL_VALIDATED],
        g.pool_bytes[P2P_POOL_UNVALIDATED], g.pool_bytes[P2P_POOL_VALIDATED],
        g.conns_up, g.conns_dialing, g.conns_waiting, g.downloads_pending,
        g.fetches_inflight, g.streams_open, g.slots_active, m->updates_sent,
        m->updates_retried, m->fetches_started, m->fetches_failed,
        g.mem_bytes_total);
    if (rc < 0)
        w->metrics->series_failed = true;
    w->metrics->rows++;
}

void sim_metrics_sample(struct sim_world *w, p2p_time t)
{
    struct sim_metrics_out *mo = w->metrics;
    for (uint32_t i = 0; i < w->nodes_count; i++)
        if (w->nodes[i].running)
            series_row(w, i, t);
    mo->samples++;
    if (w->end >= mo->every_ns && t <= w->end - mo->every_ns)
        sim_push_event(w, t + mo->every_ns, SIM_EV_METRICS, 0, 0, NULL);
}

/* Families the simulator adds, as prod's transport will: what the network
 * carried for this node id over the whole run (every incarnation). */
static void write_transport(const struct sim_world *w, uint32_t node,
                            struct p2p_metrics_text *t)
{
    const struct sim_node *sn = &w->nodes[node];
    static const struct {
        const char *name, *help;
        size_t offset;
    } bytes[] = {
        {"p2p_transport_bytes_sent_total",
         "Bytes this node sent on streams, by what they carry (whole run).",
         offsetof(struct sim_node, bytes_sent)},
        {"p2p_transport_bytes_received_total",
         "Bytes that reached this node on streams, by what they carry "
         "(whole run).",
         offsetof(struct sim_node, bytes_received)},
    };
    for (size_t b = 0; b < sizeof(bytes) / sizeof(bytes[0]); b++) {
        const uint64_t *v =
            (const uint64_t *)((const char *)sn + bytes[b].offset);
        p2p_metrics_text_family(t, bytes[b].name, P2P_METRIC_COUNTER,
                                bytes[b].help);
        for (int k = 0; k < P2P_TRAFFIC_COUNT; k++)
            p2p_metrics_text_sample(t, bytes[b].name, "traffic",
                                    p2p_traffic_name((enum p2p_traffic)k),
                                    v[k]);
    }
    p2p_metrics_text_family(t, "p2p_transport_messages_sent_total",
                            P2P_METRIC_COUNTER,
                            "Stream messages this node sent (whole run).");
    p2p_metrics_text_sample(t, "p2p_transport_messages_sent_total", NULL,
                            NULL, sn->messages_sent);
    p2p_metrics_text_family(t, "p2p_transport_messages_received_total",
                            P2P_METRIC_COUNTER,
                            "Stream messages that reached this node (whole "
                            "run).");
    p2p_metrics_text_sample(t, "p2p_transport_messages_received_total", NULL,
                            NULL, sn->messages_received);
    p2p_metrics_text_family(t, "p2p_sim_deliveries_total", P2P_METRIC_COUNTER,
                            "Artifacts delivered to this node id over every "
                            "incarnation (the simulator's count).");
    p2p_metrics_text_sample(t, "p2p_sim_deliveries_total", NULL, NULL,
                            sn->deliveries);
    p2p_metrics_text_family(t, "p2p_sim_incarnation", P2P_METRIC_GAUGE,
                            "Restarts of this node so far; core's values "
                            "start from zero at each.");
    p2p_metrics_text_sample(t, "p2p_sim_incarnation", NULL, NULL,
                            sn->incarnation);
}

/* Node `node`'s whole exposition at global time t into mo->text; its
 * length in *len. -1 when out of memory. */
static int format_node(struct sim_world *w, uint32_t node, p2p_time t,
                       const char *state, size_t *len)
{
    struct sim_metrics_out *mo = w->metrics;
    char comment[160];
    snprintf(comment, sizeof(comment),
             "p2p-sim node %" PRIu32 " incarnation %" PRIu32
             " at virtual time %" PRIu64 ".%09" PRIu64 " s: %s",
             node, w->nodes[node].incarnation, (uint64_t)(t / P2P_NS_PER_S),
             (uint64_t)(t % P2P_NS_PER_S), state);
    for (;;) {
        struct p2p_metrics_text mt;
        p2p_metrics_text_init(&mt, mo->text, mo->text_cap);
        p2p_metrics_text_comment(&mt, comment);
        p2p_node_metrics_write(w->nodes[node].core, local_at(w, node, t), &mt);
        write_transport(w, node, &mt);
        if (p2p_metrics_text_finish(&mt, len) == 0)
            return 0;
        size_t cap = *len + 1 + (*len >> 2);
        char *text = realloc(mo->text, cap);
        if (text == NULL)
            return -1;
        mo->text = text;
        mo->text_cap = cap;
    }
}

void sim_metrics_before_fault(struct sim_world *w, uint64_t fault)
{
    const struct sim_fault *f = &w->sc->faults[fault];
    if (f->kind != SIM_FAULT_CRASH)
        return;
    struct sim_metrics_out *mo = w->metrics;
    for (size_t k = 0; k < f->nodes_count; k++) {
        uint32_t node = f->nodes[k];
        size_t len;
        if (!w->nodes[node].running)
            continue;
        if (format_node(w, node, w->now, "its last values, taken as it "
                        "crashed", &len) != 0) {
            sim_violation(w, "out of memory keeping node %u's metrics", node);
            return;
        }
        char *copy = malloc(len);
        if (copy == NULL) {
            sim_violation(w, "out of memory keeping node %u's metrics", node);
            return;
        }
        memcpy(copy, mo->text, len);
        free(mo->last[node]);
        mo->last[node] = copy;
        mo->last_len[node] = len;
    }
}

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "p2p-sim: --metrics: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    size_t put = fwrite(text, 1, len, f);
    if (fclose(f) != 0 || put != len) {
        fprintf(stderr, "p2p-sim: --metrics: writing %s failed\n", path);
        return -1;
    }
    return 0;
}

int sim_metrics_finish(struct sim_world *w)
{
    struct sim_metrics_out *mo = w->metrics;
    uint32_t running = 0, stopped = 0, never = 0;
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        const char *text = mo->last[i];
        size_t len = mo->last_len[i];
        if (w->nodes[i].running) {
            if (format_node(w, i, w->now, "running at the end of the run",
                            &len) != 0) {
                fprintf(stderr, "p2p-sim: --metrics: out of memory\n");
                return -1;
            }
            text = mo->text;
            running++;
        } else if (text != NULL) {
            stopped++;
        } else {
            never++; /* never started: no file */
            continue;
        }
        if (write_file(node_path(mo, i), text, len) != 0)
            return -1;
    }
    FILE *series = mo->series;
    mo->series = NULL;
    if (fclose(series) != 0 || mo->series_failed) {
        fprintf(stderr, "p2p-sim: --metrics: writing %s/timeseries.csv "
                "failed\n", mo->dir);
        return -1;
    }
    char every[32];
    sim_units_format_duration(mo->every_ns, every, sizeof(every));
    fprintf(stderr,
            "p2p-sim: metrics in %s: node-<id>.prom for %" PRIu32
            " running node(s), %" PRIu32 " crashed (values from just before "
            "the crash), %" PRIu32 " never started (no file); timeseries.csv: "
            "%" PRIu64 " samples every %s, %" PRIu64 " rows\n",
            mo->dir, running, stopped, never, mo->samples, every, mo->rows);
    return 0;
}

void sim_metrics_fini(struct sim_world *w)
{
    struct sim_metrics_out *mo = w->metrics;
    if (mo == NULL)
        return;
    if (mo->series != NULL)
        fclose(mo->series);
    for (uint32_t i = 0; mo->last != NULL && i < w->nodes_count; i++)
        free(mo->last[i]);
    free(mo->last);
    free(mo->last_len);
    free(mo->text);
    free(mo->path);
    free(mo->dir);
    free(mo);
    w->metrics = NULL;
}
