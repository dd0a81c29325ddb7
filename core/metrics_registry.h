/* The metrics registry: every metric a node exposes, with its Prometheus
 * name, type and HELP text, and a writer of the text exposition format
 * (version 0.0.4) into caller memory.
 *
 * Three kinds of metric (docs/metrics.md lists them all):
 *   - counters: the fields of struct p2p_metrics (core/metrics.h), each
 *     named p2p_..._total;
 *   - gauges: computed from the node's state when asked (pool sizes,
 *     connections by state, open streams, pending downloads, slots, core
 *     memory from p2p_mem);
 *   - histograms: fixed, named bucket bounds (struct p2p_hist_spec),
 *     durations observed in nanoseconds and exposed in seconds.
 *
 * Pure: no I/O, no allocation, no globals (the tables are const), no
 * floating point; output order is the registry's order, so the same node
 * state always gives the same bytes. A backend adds its own families (its
 * transport's bytes and messages) through the same writer, after the
 * node's, and serves or saves the result. */
#ifndef P2P_CORE_METRICS_REGISTRY_H
#define P2P_CORE_METRICS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/histogram.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "core/types.h"

struct p2p_node;

enum p2p_metric_type {
    P2P_METRIC_COUNTER,
    P2P_METRIC_GAUGE,
    P2P_METRIC_HISTOGRAM,
};

/* "counter", "gauge" or "histogram": the # TYPE word. */
const char *p2p_metric_type_name(enum p2p_metric_type type);

/* ---- counters ---- */

/* One field of struct p2p_metrics. */
struct p2p_counter_spec {
    const char *name; /* Prometheus name, ends in _total */
    const char *help;
    size_t offset; /* of its uint64_t in struct p2p_metrics */
};

/* How many counters the registry names: one per p2p_metrics field. */
#define P2P_COUNTERS_COUNT (sizeof(struct p2p_metrics) / sizeof(uint64_t))

/* Counter i (i < P2P_COUNTERS_COUNT), in exposition order. */
const struct p2p_counter_spec *p2p_counter_spec(uint32_t i);

/* The value counter i has in *m. */
uint64_t p2p_counter_value(const struct p2p_metrics *m, uint32_t i);

/* ---- histograms ---- */

/* The node's histogram h (borrowed; valid while the node lives). */
const struct p2p_histogram *p2p_node_histogram(const struct p2p_node *n,
                                               enum p2p_hist h);

/* ---- gauges ---- */

/* A node's gauges at one moment, computed from its state. */
struct p2p_gauges {
    uint64_t pool_artifacts[P2P_POOL_SECTIONS];
    uint64_t pool_bytes[P2P_POOL_SECTIONS];
    uint32_t conns_up;          /* connections established */
    uint32_t conns_dialing;     /* dials emitted, not answered yet */
    uint32_t conns_waiting;     /* waiting to redial (backoff or ban) */
    uint32_t peers_banned;      /* peers whose ban has not ended at now */
    uint32_t streams_open;      /* both directions */
    uint32_t downloads_pending; /* downloads in any state */
    uint32_t fetches_inflight;  /* fetch requests awaiting an answer */
    uint32_t slots_active;      /* sender slots (validated artifacts) */
    uint32_t transmissions;     /* slot updates in flight or awaiting a
                                   retry, over every peer */
    uint32_t topology_members;  /* of the latest registry version */
    uint64_t topology_version;  /* 0 before the first one */
    /* The earliest registry version in use, and the members of any
     * version in use (earliest to latest). */
    uint64_t topology_earliest_version;
    uint32_t topology_members_in_use;
    uint64_t state_sync_height; /* of the sync under way, 0 = none */
    uint64_t state_sync_chunks_total, state_sync_chunks_held;
    uint64_t state_sync_bytes_total, state_sync_bytes_held;
    uint64_t mem_bytes[P2P_MEM_MODULES_COUNT]; /* live core bytes */
    uint64_t mem_bytes_total;
    uint64_t mem_peak_bytes;
};

/* Fills *out from n's state; now (the node's clock) decides which bans
 * are still running. O(peers). */
void p2p_node_gauges(const struct p2p_node *n, p2p_time now,
                     struct p2p_gauges *out);

/* ---- the text exposition ---- */

/* A text exposition being written into caller memory. Nothing is written
 * past cap; len keeps counting, so a too-small buffer reports the size it
 * needs (as snprintf does). */
struct p2p_metrics_text {
    char *buf; /* borrowed; may be NULL when cap is 0 */
    size_t cap;
    size_t len; /* bytes the text needs so far */
};

/* Starts an empty text over buf[0..cap) (borrowed until finish). */
void p2p_metrics_text_init(struct p2p_metrics_text *t, char *buf, size_t cap);

/* A comment line "# text" (text must not hold a newline, nor start with
 * HELP or TYPE). */
void p2p_metrics_text_comment(struct p2p_metrics_text *t, const char *text);

/* A family's "# HELP name help" and "# TYPE name type" lines; its samples
 * follow. help is escaped (backslash, newline). */
void p2p_metrics_text_family(struct p2p_metrics_text *t, const char *name,
                             enum p2p_metric_type type, const char *help);

/* Raw pieces for writers of samples the helpers here cannot express (two
 * labels, fractional values), with the same contract: nothing is written
 * past cap, len counts what is needed. put writes s[0..n), put_str a
 * NUL-terminated string, put_u64 a decimal number, put_label_value a
 * label value escaped (backslash, quote, newline). */
void p2p_metrics_text_put(struct p2p_metrics_text *t, const char *s, size_t n);
void p2p_metrics_text_put_str(struct p2p_metrics_text *t, const char *s);
void p2p_metrics_text_put_u64(struct p2p_metrics_text *t, uint64_t v);
void p2p_metrics_text_put_label_value(struct p2p_metrics_text *t,
                                      const char *s);

/* One sample line: `name value`, or `name{label="label_value"} value`
 * when label is not NULL (label_value is escaped: backslash, quote,
 * newline). */
void p2p_metrics_text_sample(struct p2p_metrics_text *t, const char *name,
                             const char *label, const char *label_value,
                             uint64_t value);

/* A whole histogram family: HELP, TYPE, cumulative name_bucket{le="..."}
 * lines ending with le="+Inf", name_sum (seconds) and name_count. */
void p2p_metrics_text_histogram(struct p2p_metrics_text *t,
                                const struct p2p_hist_spec *spec,
                                const struct p2p_histogram *hist);

/* Ends the text: 0 with *len = its length (and a NUL after it when
 * cap > *len), or P2P_ERR_LIMIT with *len = the bytes it needs (the
 * buffer then holds a truncated prefix). */
int p2p_metrics_text_finish(const struct p2p_metrics_text *t, size_t *len);

/* Appends every family of node n, in registry order: counters, gauges,
 * histograms. now is the node's clock (for the gauges). */
void p2p_node_metrics_write(const struct p2p_node *n, p2p_time now,
                            struct p2p_metrics_text *t);

/* num / den in thousandths, rounded (0 when den is 0): the fixed-point
 * value of a ratio gauge such as p2p_state_chunk_compression_ratio. */
uint64_t p2p_metrics_ratio_milli(uint64_t num, uint64_t den);

/* Appends every family of one node, in registry order: counters m,
 * gauges g, histograms hists[0..P2P_HISTS_COUNT) (all borrowed for the
 * call). p2p_node_metrics_write is this for a node. */
void p2p_metrics_write_node(struct p2p_metrics_text *t,
                            const struct p2p_metrics *m,
                            const struct p2p_gauges *g,
                            const struct p2p_histogram *hists);

#endif
