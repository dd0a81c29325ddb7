/* --metrics DIR: every node's metrics as the replica exposes them on
 * /metrics (DIR/node-<id>.prom, Prometheus text format 0.0.4, written at
 * the end of the run) and a time series of the main counters and gauges
 * (DIR/timeseries.csv, one row per sample time and running node, sampled
 * every --metrics-every of virtual time); with --metrics-format
 * openmetrics also DIR/metrics.om: every family of every running node at
 * every sample, labelled node, timestamped from SIM_METRICS_OM_EPOCH_S.
 * Formats: docs/metrics.md.
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
#include "conf/units.h"
#include "sim/world.h"

#define TEXT_CAP_INITIAL (64u << 10)

/* One family of the exposition, for DIR/metrics.om. */
struct om_family {
    char *name;            /* owned; as written (counters end _total) */
    char *help;            /* owned; escaped as written */
    char type[16];         /* counter, gauge, histogram */
    uint32_t first, count; /* its sample lines: keys[first..+count) */
};

/* A node's exposition at one sample: its values, in key order, each
 * ending in a NUL, from vals[off]. */
struct om_record {
    uint32_t node;
    p2p_time t;
    size_t off;
};

/* Every sample of every running node, kept until the end of the run:
 * OpenMetrics wants each family's samples together and each series' in
 * time order. The exposition has the same lines at every sample (core's
 * registry and the transport families are fixed), so the keys are kept
 * once, from the first, and each sample keeps only its values. */
struct om_spool {
    struct om_family *fams; /* owned */
    uint32_t fams_count, fams_cap;
    char **keys; /* owned: sample names with their labels */
    uint32_t keys_count, keys_cap;
    struct om_record *recs; /* owned */
    size_t recs_count, recs_cap;
    char *vals; /* owned */
    size_t vals_len, vals_cap;
    bool failed; /* out of memory, or an exposition whose
                                 lines were not the first's */
};

struct sim_metrics_out {
    char *dir;    /* owned copy of --metrics */
    char *path;   /* owned scratch: dir + "/node-<id>.prom" */
    FILE *series; /* DIR/timeseries.csv */
    p2p_time every_ns;
    uint64_t samples, rows;
    bool series_failed; /* a write to the series failed */
    /* Per node id: the exposition taken just before a crash stopped it
     * (owned), and its length. */
    char **last;
    size_t *last_len;
    char *text; /* owned scratch for one exposition */
    size_t text_cap;
    struct om_spool *om; /* owned; NULL without openmetrics */
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

int sim_metrics_out_mkdir(const char *dir, char *msg, size_t msg_len)
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

int sim_metrics_out_start(struct sim_world *w)
{
    struct sim_metrics_out *mo = calloc(1, sizeof(*mo));
    if (mo == NULL)
        goto fail_oom;
    w->metrics = mo; /* freed by sim_metrics_out_fini, whatever happens next */
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
    if (w->opt.metrics_openmetrics) {
        mo->om = calloc(1, sizeof(*mo->om));
        if (mo->om == NULL)
            goto fail_oom;
    }
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
    sim_world_push_event(
        w, &(struct sim_event){.time = 0, .type = SIM_EV_METRICS, .node = 0});
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
        "%" PRIu64 ".%09" PRIu64 ",%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",%" PRIu64
        ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
        ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32
        ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",%" PRIu64
        ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
        (uint64_t)(t / P2P_NS_PER_S), (uint64_t)(t % P2P_NS_PER_S), node,
        sn->incarnation, sn->deliveries, sent, received, sn->messages_sent,
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

static int format_node(struct sim_world *w, uint32_t node, p2p_time t,
                       const char *state, size_t *len);
static bool om_record(struct om_spool *sp, uint32_t node, p2p_time t,
                      const char *text, size_t len);

void sim_metrics_out_sample(struct sim_world *w, p2p_time t)
{
    struct sim_metrics_out *mo = w->metrics;
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        if (!w->nodes[i].running)
            continue;
        series_row(w, i, t);
        size_t len;
        if (mo->om != NULL && !mo->om->failed &&
            (format_node(w, i, t, "sampled", &len) != 0 ||
             !om_record(mo->om, i, t, mo->text, len)))
            mo->om->failed = true;
    }
    mo->samples++;
    if (w->end >= mo->every_ns && t <= w->end - mo->every_ns)
        sim_world_push_event(w, &(struct sim_event){.time = t + mo->every_ns,
                                                    .type = SIM_EV_METRICS,
                                                    .node = 0});
}

/* The transport families, which the replica writes too with the same
 * names, labels and meaning (prod/admin_metrics.c; docs/metrics.md,
 * "Shared vocabulary"): what the network carried for this node id over
 * the whole run (every incarnation). Then the simulator's own, p2p_sim_. */
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
    p2p_metrics_text_sample(t, "p2p_transport_messages_sent_total", NULL, NULL,
                            sn->messages_sent);
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

/* ---- DIR/metrics.om (--metrics-format openmetrics) ---- */

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap > 0 ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (q == NULL)
        return false;
    *p = q;
    *cap = n;
    return true;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The first exposition: its families and sample keys. */
static bool om_template_line(struct om_spool *sp, const char *line, size_t n)
{
    if (n > 7 && memcmp(line, "# TYPE ", 7) == 0) {
        const char *name = line + 7, *sp1 = memchr(name, ' ', n - 7);
        size_t cap = sp->fams_cap;
        if (sp1 == NULL || !grow((void **)&sp->fams, &cap, sp->fams_count + 1,
                                 sizeof(*sp->fams)))
            return false;
        sp->fams_cap = (uint32_t)cap;
        struct om_family *f = &sp->fams[sp->fams_count];
        size_t tlen = (size_t)(line + n - (sp1 + 1));
        if (tlen >= sizeof(f->type))
            return false;
        *f = (struct om_family){.first = sp->keys_count};
        memcpy(f->type, sp1 + 1, tlen);
        f->name = dup_n(name, (size_t)(sp1 - name));
        if (f->name == NULL)
            return false;
        sp->fams_count++;
        return true;
    }
    if (n > 7 && memcmp(line, "# HELP ", 7) == 0)
        return true; /* kept when its TYPE comes (below) */
    if (line[0] == '#')
        return true;
    const char *value = NULL;
    for (size_t i = n; i > 0; i--)
        if (line[i - 1] == ' ') {
            value = line + i;
            break;
        }
    size_t cap = sp->keys_cap;
    if (value == NULL || sp->fams_count == 0 ||
        !grow((void **)&sp->keys, &cap, sp->keys_count + 1, sizeof(*sp->keys)))
        return false;
    sp->keys_cap = (uint32_t)cap;
    sp->keys[sp->keys_count] = dup_n(line, (size_t)(value - 1 - line));
    if (sp->keys[sp->keys_count] == NULL)
        return false;
    sp->keys_count++;
    sp->fams[sp->fams_count - 1].count++;
    return true;
}

/* HELP lines come before their TYPE: a second pass gives each family its
 * text. */
static bool om_template_help(struct om_spool *sp, const char *text, size_t len)
{
    uint32_t f = 0;
    for (const char *p = text, *end = text + len;
         p < end && f < sp->fams_count;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        size_t name_len = strlen(sp->fams[f].name);
        if (n > 7 + name_len + 1 && memcmp(p, "# HELP ", 7) == 0 &&
            memcmp(p + 7, sp->fams[f].name, name_len) == 0 &&
            p[7 + name_len] == ' ') {
            sp->fams[f].help = dup_n(p + 8 + name_len, n - 8 - name_len);
            if (sp->fams[f].help == NULL)
                return false;
        } else if (n > 7 && memcmp(p, "# TYPE ", 7) == 0) {
            f++;
        }
        p += n + 1;
    }
    return true;
}

/* Appends node's values at t from its exposition text[0..len). */
static bool om_record(struct om_spool *sp, uint32_t node, p2p_time t,
                      const char *text, size_t len)
{
    bool first = sp->fams_count == 0;
    size_t cap = sp->recs_cap;
    if (!grow((void **)&sp->recs, &cap, sp->recs_count + 1, sizeof(*sp->recs)))
        return false;
    sp->recs_cap = cap;
    size_t start = sp->vals_len;
    uint32_t k = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && first && !om_template_line(sp, p, n))
            return false;
        if (n > 0 && p[0] != '#') {
            /* key value: the key must be the template's k-th. */
            size_t klen = k < sp->keys_count ? strlen(sp->keys[k]) : 0;
            if (k >= sp->keys_count || n <= klen + 1 ||
                memcmp(p, sp->keys[k], klen) != 0 || p[klen] != ' ')
                return false;
            size_t vlen = n - klen - 1;
            size_t vcap = sp->vals_cap;
            if (!grow((void **)&sp->vals, &vcap, sp->vals_len + vlen + 1, 1))
                return false;
            sp->vals_cap = vcap;
            memcpy(sp->vals + sp->vals_len, p + klen + 1, vlen);
            sp->vals_len += vlen;
            sp->vals[sp->vals_len++] = '\0';
            k++;
        }
        p += n + 1;
    }
    if (k != sp->keys_count || (first && !om_template_help(sp, text, len)))
        return false;
    sp->recs[sp->recs_count++] = (struct om_record){node, t, start};
    return true;
}

static void om_free(struct om_spool *sp)
{
    if (sp == NULL)
        return;
    for (uint32_t i = 0; i < sp->fams_count; i++) {
        free(sp->fams[i].name);
        free(sp->fams[i].help);
    }
    for (uint32_t i = 0; i < sp->keys_count; i++)
        free(sp->keys[i]);
    free(sp->fams);
    free(sp->keys);
    free(sp->recs);
    free(sp->vals);
    free(sp);
}

/* key with node="<node>" as its first label. */
static void om_put_key(FILE *f, const char *key, uint32_t node)
{
    const char *brace = strchr(key, '{');
    if (brace == NULL) {
        fprintf(f, "%s{node=\"%" PRIu32 "\"}", key, node);
        return;
    }
    fprintf(f, "%.*s{node=\"%" PRIu32 "\",%s", (int)(brace - key), key, node,
            brace + 1);
}

/* One sample line: key, value (advancing *cur past it), timestamp in
 * seconds with milliseconds. */
static void om_put_sample(FILE *f, const struct om_spool *sp, uint32_t k,
                          const struct om_record *r, size_t *cur)
{
    const char *v = sp->vals + *cur;
    *cur += strlen(v) + 1;
    uint64_t ms = r->t / (P2P_NS_PER_S / 1000);
    om_put_key(f, sp->keys[k], r->node);
    fprintf(f, " %s %" PRIu64 ".%03" PRIu64 "\n", v,
            (uint64_t)SIM_METRICS_OM_EPOCH_S + ms / 1000, ms % 1000);
}

/* The family's name in OpenMetrics: a counter's without _total. */
static void om_put_family(FILE *f, const struct om_family *fam)
{
    size_t n = strlen(fam->name);
    if (strcmp(fam->type, "counter") == 0 && n > 6 &&
        strcmp(fam->name + n - 6, "_total") == 0)
        n -= 6;
    fprintf(f, "# TYPE %.*s %s\n", (int)n, fam->name, fam->type);
    if (fam->help == NULL)
        return;
    fprintf(f, "# HELP %.*s ", (int)n, fam->name);
    for (const char *h = fam->help; *h != '\0'; h++)
        fputs(*h == '"' ? "\\\"" : (char[2]){*h, '\0'}, f);
    fputc('\n', f);
}

/* Writes DIR/metrics.om: each family, each series (node and labels) in
 * time order; a histogram's buckets, sum and count together per sample.
 * Every record's values are read in key order, each once: a cursor per
 * record walks them as the keys go by. */
static int om_write(struct sim_metrics_out *mo, uint32_t nodes)
{
    struct om_spool *sp = mo->om;
    size_t n = sp->recs_count;
    size_t *cur = malloc((n > 0 ? n : 1) * sizeof(*cur));
    size_t *order = malloc((n > 0 ? n : 1) * sizeof(*order));
    size_t *start = calloc((size_t)nodes + 1, sizeof(*start));
    if (cur == NULL || order == NULL || start == NULL) {
        free(cur);
        free(order);
        free(start);
        fprintf(stderr, "p2p-sim: --metrics: out of memory\n");
        return -1;
    }
    /* Records by node, in time order within each (counting sort). */
    for (size_t r = 0; r < n; r++) {
        cur[r] = sp->recs[r].off;
        start[sp->recs[r].node + 1]++;
    }
    for (uint32_t i = 0; i < nodes; i++)
        start[i + 1] += start[i];
    size_t *fill = calloc((size_t)nodes + 1, sizeof(*fill));
    for (size_t r = 0; fill != NULL && r < n; r++) {
        uint32_t node = sp->recs[r].node;
        order[start[node] + fill[node]++] = r;
    }
    snprintf(mo->path, strlen(mo->dir) + 32, "%s/metrics.om", mo->dir);
    FILE *f = fill != NULL ? fopen(mo->path, "w") : NULL;
    int rc = -1;
    if (f == NULL) {
        fprintf(stderr, "p2p-sim: --metrics: cannot write %s\n", mo->path);
        goto out;
    }
    for (uint32_t fi = 0; fi < sp->fams_count; fi++) {
        const struct om_family *fam = &sp->fams[fi];
        om_put_family(f, fam);
        bool hist = strcmp(fam->type, "histogram") == 0;
        uint32_t end = fam->first + fam->count;
        for (uint32_t k = fam->first; k < end; k = hist ? end : k + 1)
            for (uint32_t node = 0; node < nodes; node++)
                for (size_t i = start[node]; i < start[node + 1]; i++) {
                    size_t r = order[i];
                    for (uint32_t j = k; j < (hist ? end : k + 1); j++)
                        om_put_sample(f, sp, j, &sp->recs[r], &cur[r]);
                }
    }
    fputs("# EOF\n", f);
    rc = fclose(f) == 0 ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "p2p-sim: --metrics: writing %s failed\n", mo->path);
out:
    free(fill);
    free(cur);
    free(order);
    free(start);
    return rc;
}

void sim_metrics_out_before_fault(struct sim_world *w, uint64_t fault)
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
        if (format_node(w, node, w->now,
                        "its last values, taken as it "
                        "crashed",
                        &len) != 0) {
            sim_world_violation(w, "out of memory keeping node %u's metrics",
                                node);
            return;
        }
        char *copy = malloc(len);
        if (copy == NULL) {
            sim_world_violation(w, "out of memory keeping node %u's metrics",
                                node);
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

int sim_metrics_out_finish(struct sim_world *w)
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
    if (mo->om != NULL && mo->om->failed) {
        fprintf(stderr, "p2p-sim: --metrics: metrics.om: out of memory, or "
                        "a node's families changed between samples\n");
        return -1;
    }
    if (mo->om != NULL && om_write(mo, w->nodes_count) != 0)
        return -1;
    FILE *series = mo->series;
    mo->series = NULL;
    if (fclose(series) != 0 || mo->series_failed) {
        fprintf(stderr,
                "p2p-sim: --metrics: writing %s/timeseries.csv "
                "failed\n",
                mo->dir);
        return -1;
    }
    char every[32];
    conf_units_format_duration(mo->every_ns, every, sizeof(every));
    fprintf(stderr,
            "p2p-sim: metrics in %s: node-<id>.prom for %" PRIu32
            " running node(s), %" PRIu32 " crashed (values from just before "
            "the crash), %" PRIu32 " never started (no file); timeseries.csv: "
            "%" PRIu64 " samples every %s, %" PRIu64 " rows%s\n",
            mo->dir, running, stopped, never, mo->samples, every, mo->rows,
            mo->om != NULL ? "; metrics.om: every sample" : "");
    return 0;
}

void sim_metrics_out_fini(struct sim_world *w)
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
    om_free(mo->om);
    free(mo->path);
    free(mo->dir);
    free(mo);
    w->metrics = NULL;
}
