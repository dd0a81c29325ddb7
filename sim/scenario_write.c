/* Scenario writer: struct sim_scenario -> YAML text the loader reads back
 * to the same struct (docs/scenario-format.md). */
#include "sim/scenario_write.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf/errmsg.h"
#include "conf/units.h"
#include "core/assert.h"
#include "core/err.h"

#define VALUE_BYTES 64 /* longest value text written ("123.456789012/m") */
#define DECIMALS_MAX 9 /* as the unit parser accepts */

/* ---- values ---------------------------------------------------------- */

static const char *duration(uint64_t ns, char *buf)
{
    conf_units_format_duration(ns, buf, VALUE_BYTES);
    return buf;
}

static const char *size(uint64_t bytes, char *buf)
{
    conf_units_format_size(bytes, buf, VALUE_BYTES);
    return buf;
}

static const char *offset(int64_t ns, char *buf)
{
    /* |ns| <= SIM_SCENARIO_TIME_MAX_NS, so the negation cannot overflow. */
    if (ns >= 0) {
        conf_units_format_duration((uint64_t)ns, buf, VALUE_BYTES);
    } else {
        buf[0] = '-';
        conf_units_format_duration((uint64_t)-ns, buf + 1, VALUE_BYTES - 1);
    }
    return buf;
}

/* ppm as a percentage with up to 4 decimals: 5000 -> "0.5%". */
static const char *percent(uint32_t ppm, char *buf)
{
    unsigned whole = ppm / 10000, frac = ppm % 10000, digits = 4;
    if (frac == 0) {
        snprintf(buf, VALUE_BYTES, "%u%%", whole);
        return buf;
    }
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    snprintf(buf, VALUE_BYTES, "%u.%0*u%%", whole, (int)digits, frac);
    return buf;
}

/* Bits per second in the largest unit dividing it (all are powers of
 * 1000, so the text is exact). */
static const char *bandwidth(uint64_t bps, char *buf)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {{"Gbit", 1000000000ULL},
                 {"Mbit", 1000000ULL},
                 {"kbit", 1000ULL},
                 {"bit", 1ULL}};
    size_t i = 0;
    while (bps != 0 && bps % units[i].mult != 0)
        i++;
    if (bps == 0)
        i = 3;
    snprintf(buf, VALUE_BYTES, "%" PRIu64 "%s", bps / units[i].mult,
             units[i].name);
    return buf;
}

/* "IP.FRAC" + unit for events / 10^digits, trailing zeros dropped. */
static void rate_text(uint64_t events, unsigned digits, const char *unit,
                      char *buf, size_t len)
{
    uint64_t pow = 1;
    for (unsigned k = 0; k < digits; k++)
        pow *= 10;
    uint64_t ip = events / pow, frac = events % pow;
    while (digits > 0 && frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    if (digits == 0)
        snprintf(buf, len, "%" PRIu64 "%s", ip, unit);
    else
        snprintf(buf, len, "%" PRIu64 ".%0*" PRIu64 "%s", ip, (int)digits, frac,
                 unit);
}

int sim_scenario_write_rate(uint64_t interval_ns, char *buf, size_t len)
{
    /* The loader stores floor(unit_ns * 10^d / events). For a given
     * (unit, d), events = floor(span / interval) is the largest count whose
     * interval is not below the target, so if any count hits the target
     * exactly, this one does. Shortest text first. */
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {{"/s", P2P_NS_PER_S}, {"/m", 60 * P2P_NS_PER_S}};
    P2P_ASSERT(buf != NULL && len > 0);
    if (interval_ns == 0)
        return P2P_ERR_INVALID_ARG;
    uint64_t pow = 1;
    for (unsigned d = 0; d <= DECIMALS_MAX; d++, pow *= 10) {
        for (size_t u = 0; u < 2; u++) {
            if (units[u].ns > UINT64_MAX / pow)
                continue;
            uint64_t span = units[u].ns * pow;
            uint64_t events = span / interval_ns;
            if (events == 0 || span / events != interval_ns)
                continue;
            char text[VALUE_BYTES];
            uint64_t back = 0;
            rate_text(events, d, units[u].name, text, sizeof text);
            if (conf_units_parse_rate(text, &back, NULL, 0) != 0 ||
                back != interval_ns || strlen(text) >= len)
                continue;
            memcpy(buf, text, strlen(text) + 1);
            return 0;
        }
    }
    return P2P_ERR_INVALID_ARG;
}

static void ids(FILE *out, const uint32_t *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%" PRIu32, i ? ", " : "", v[i]);
    fputc(']', out);
}

/* A YAML double-quoted scalar; names hold no control characters. */
static void quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* ---- sections -------------------------------------------------------- */

/* network.packet, its keys that are not at their defaults; nothing when
 * all are. */
static void write_packet(const struct sim_packet_cfg *p, FILE *out)
{
    char a[VALUE_BYTES];
    const char *sep = "  packet: {";
    if (p->mtu_bytes != SIM_SCENARIO_DEFAULT_MTU_BYTES) {
        fprintf(out, "%smtu: %" PRIu32, sep, p->mtu_bytes);
        sep = ", ";
    }
    if (p->queue_bytes != SIM_SCENARIO_DEFAULT_QUEUE_BYTES) {
        fprintf(out, "%squeue: %s", sep, size(p->queue_bytes, a));
        sep = ", ";
    }
    if (p->reorder_ppm != 0) {
        fprintf(out, "%sreorder: %s", sep, percent(p->reorder_ppm, a));
        sep = ", ";
    }
    if (p->reorder_ns != SIM_SCENARIO_DEFAULT_REORDER_NS) {
        fprintf(out, "%sreorder_delay: %s", sep, duration(p->reorder_ns, a));
        sep = ", ";
    }
    if (p->duplicate_ppm != 0) {
        fprintf(out, "%sduplicate: %s", sep, percent(p->duplicate_ppm, a));
        sep = ", ";
    }
    if (p->corrupt_ppm != 0) {
        fprintf(out, "%scorrupt: %s", sep, percent(p->corrupt_ppm, a));
        sep = ", ";
    }
    if (sep[0] == ',')
        fprintf(out, "}\n");
}

static void write_network(const struct sim_scenario *sc, FILE *out)
{
    const struct sim_network *n = &sc->net;
    char a[VALUE_BYTES], b[VALUE_BYTES], c[VALUE_BYTES], d[VALUE_BYTES];
    fprintf(out,
            "network:\n  latency: %s\n  jitter: %s\n  bandwidth: %s\n"
            "  loss: %s\n",
            duration(n->latency_ns, a), duration(n->jitter_ns, b),
            bandwidth(n->bandwidth_bps, c), percent(n->loss_ppm, d));
    if (n->model != SIM_MODEL_MESSAGE)
        fprintf(out, "  model: %s\n", sim_scenario_model_name(n->model));
    write_packet(&n->packet, out);
    if (n->links_count == 0)
        return;
    fprintf(out, "  links:\n");
    for (size_t i = 0; i < n->links_count; i++) {
        const struct sim_link_override *l = &n->links[i];
        fprintf(out, "    - {from: %" PRIu32 ", to: %" PRIu32, l->from, l->to);
        if (l->has_latency)
            fprintf(out, ", latency: %s", duration(l->latency_ns, a));
        if (l->has_jitter)
            fprintf(out, ", jitter: %s", duration(l->jitter_ns, a));
        if (l->has_bandwidth)
            fprintf(out, ", bandwidth: %s", bandwidth(l->bandwidth_bps, a));
        if (l->has_loss)
            fprintf(out, ", loss: %s", percent(l->loss_ppm, a));
        if (l->both_directions)
            fprintf(out, ", both: true");
        fprintf(out, "}\n");
    }
}

static int write_workload(const struct sim_scenario *sc, FILE *out)
{
    char a[VALUE_BYTES], b[VALUE_BYTES];
    if (sc->workload_count == 0)
        return 0;
    fprintf(out, "workload:\n");
    for (size_t i = 0; i < sc->workload_count; i++) {
        const struct sim_workload_item *w = &sc->workload[i];
        if (w->poisson) {
            if (sim_scenario_write_rate(w->interval_ns, b, sizeof b) != 0)
                return P2P_ERR_INVALID_ARG;
            fprintf(out, "  - {kind: %s, rate: %s",
                    w->kind == P2P_KIND_PUSH ? "push" : "advert", b);
        } else {
            fprintf(out, "  - {kind: %s, every: %s",
                    w->kind == P2P_KIND_PUSH ? "push" : "advert",
                    duration(w->interval_ns, a));
        }
        fprintf(out, ", size: %s", size(w->size_bytes, a));
        if (w->size_max_bytes != w->size_bytes)
            fprintf(out, ", size_max: %s", size(w->size_max_bytes, a));
        if (w->from == SIM_FROM_NODE)
            fprintf(out, ", from: %" PRIu32, w->from_node);
        else
            fprintf(out, ", from: %s", sim_scenario_from_mode_name(w->from));
        if (w->start_ns != 0)
            fprintf(out, ", start: %s", duration(w->start_ns, a));
        if (w->stop_ns != sc->duration_ns)
            fprintf(out, ", stop: %s", duration(w->stop_ns, a));
        fprintf(out, "}\n");
    }
    return 0;
}

static void write_state(const struct sim_scenario *sc, FILE *out)
{
    const struct sim_state_cfg *st = &sc->state;
    char a[VALUE_BYTES], b[VALUE_BYTES], c[VALUE_BYTES], d[VALUE_BYTES];
    if (!st->present)
        return;
    fprintf(out,
            "state:\n  size: %s\n  chunk: %s\n  checkpoint_every: %s\n"
            "  churn: %s\n",
            size(st->size_bytes, a), size(st->chunk_bytes, b),
            duration(st->checkpoint_every_ns, c), percent(st->churn_ppm, d));
    if (st->compressible_ppm != 0)
        fprintf(out, "  compressible: %s\n", percent(st->compressible_ppm, a));
}

static void write_protocol(const struct sim_scenario *sc, FILE *out)
{
    const struct sim_protocol *p = &sc->protocol;
    char a[VALUE_BYTES];
    if (!p->has_push_threshold && !p->has_validation_delay &&
        !p->has_artifact_ttl && !p->has_relay && !p->has_buggify &&
        !p->has_heights)
        return;
    fprintf(out, "protocol:\n");
    if (p->has_push_threshold)
        fprintf(out, "  push_threshold: %s\n",
                size(p->push_threshold_bytes, a));
    if (p->has_validation_delay)
        fprintf(out, "  validation_delay: %s\n",
                duration(p->validation_delay_ns, a));
    if (p->has_artifact_ttl)
        fprintf(out, "  artifact_ttl: %s\n", duration(p->artifact_ttl_ns, a));
    if (p->has_relay)
        fprintf(out, "  relay: %s\n", p->relay_advert ? "advert" : "push");
    if (p->has_buggify)
        fprintf(out, "  buggify: %s\n", p->buggify ? "true" : "false");
    if (p->has_heights)
        fprintf(out, "  heights: {every: %s, keep: %llu}\n",
                duration(p->height_every_ns, a),
                (unsigned long long)p->height_keep);
}

static void write_fault(const struct sim_fault *f, FILE *out)
{
    char a[VALUE_BYTES], b[VALUE_BYTES];
    fprintf(out, "  - {at: %s, %s: ", duration(f->at_ns, a),
            sim_scenario_fault_kind_name(f->kind));
    switch (f->kind) {
    case SIM_FAULT_PARTITION:
        fputc('[', out);
        for (size_t g = 0; g < f->groups_count; g++) {
            fprintf(out, "%s", g ? ", " : "");
            ids(out, f->groups[g], f->group_sizes[g]);
        }
        fputc(']', out);
        break;
    case SIM_FAULT_HEAL:
        fprintf(out, "all");
        break;
    case SIM_FAULT_BYZANTINE:
        fprintf(out, "{nodes: ");
        ids(out, f->nodes, f->nodes_count);
        fprintf(out, ", behaviour: %s}",
                sim_scenario_byzantine_name(f->behaviour));
        break;
    case SIM_FAULT_SKEW:
        fprintf(out, "{nodes: ");
        ids(out, f->nodes, f->nodes_count);
        fprintf(out, ", offset: %s, drift: %" PRId64 "ppm}",
                offset(f->skew_offset_ns, b), f->drift_ppm);
        break;
    case SIM_FAULT_LOSS:
        fprintf(out, "{links: all, rate: %s, for: %s}", percent(f->loss_ppm, b),
                duration(f->for_ns, a));
        break;
    case SIM_FAULT_BLACKHOLE:
        fprintf(out, "{nodes: ");
        ids(out, f->nodes, f->nodes_count);
        fprintf(out, ", for: %s}", duration(f->for_ns, a));
        break;
    case SIM_FAULT_REGISTRY_EARLIEST:
        if (f->earliest_version == 0)
            fprintf(out, "latest");
        else
            fprintf(out, "%" PRIu64, f->earliest_version);
        break;
    default: /* crash, restart, leave, join, nat_rebind */
        ids(out, f->nodes, f->nodes_count);
        break;
    }
    fprintf(out, "}\n");
}

static void write_expect(const struct sim_expect *e, FILE *out)
{
    char a[VALUE_BYTES];
    switch (e->kind) {
    case SIM_EXPECT_DELIVERED:
        fprintf(out, "  - {delivered: all, within: %s}\n",
                duration(e->within_ns, a));
        break;
    case SIM_EXPECT_STATE_SYNCED:
        fprintf(out, "  - {state_synced: ");
        ids(out, e->nodes, e->nodes_count);
        fprintf(out, ", within: %s}\n", duration(e->within_ns, a));
        break;
    case SIM_EXPECT_MAX_MEMORY:
        fprintf(out, "  - {max_memory_per_node: %s}\n", size(e->bytes, a));
        break;
    case SIM_EXPECT_PENALISED:
        fprintf(out, "  - {penalised: byzantine}\n");
        break;
    case SIM_EXPECT_SERVED_AFTER_LEAVE:
        fprintf(out, "  - {served_after_leave: ");
        ids(out, e->nodes, e->nodes_count);
        fprintf(out, "}\n");
        break;
    case SIM_EXPECT_SLOTS_CLEARED:
        fprintf(out, "  - {slots_cleared: purged, within: %s}\n",
                duration(e->within_ns, a));
        break;
    case SIM_EXPECT_HEIGHTS_PURGED:
        fprintf(out, "  - {heights_purged: all, within: %s}\n",
                duration(e->within_ns, a));
        break;
    }
}

int sim_scenario_write(const struct sim_scenario *sc, FILE *out)
{
    char a[VALUE_BYTES];
    P2P_ASSERT(sc != NULL && out != NULL);
    P2P_ASSERT(sc->nodes >= 1 && sc->duration_ns > 0);
    fprintf(out, "name: ");
    quoted(out, sc->name != NULL ? sc->name : "scenario");
    fputc('\n', out);
    if (sc->has_seed)
        fprintf(out, "seed: %" PRIu64 "\n", sc->seed);
    fprintf(out, "duration: %s\nsubnet: {nodes: %" PRIu32 "}\n",
            duration(sc->duration_ns, a), sc->nodes);
    write_network(sc, out);
    if (write_workload(sc, out) != 0)
        return P2P_ERR_INVALID_ARG;
    write_state(sc, out);
    write_protocol(sc, out);
    if (sc->faults_count > 0) {
        fprintf(out, "faults:\n");
        for (size_t i = 0; i < sc->faults_count; i++)
            write_fault(&sc->faults[i], out);
    }
    if (sc->expects_count > 0) {
        fprintf(out, "expect:\n");
        for (size_t i = 0; i < sc->expects_count; i++)
            write_expect(&sc->expects[i], out);
    }
    return ferror(out) ? P2P_ERR_WRITE : 0;
}

int sim_scenario_write_string(const struct sim_scenario *sc, char **text,
                              size_t *len)
{
    P2P_ASSERT(text != NULL && len != NULL);
    *text = NULL;
    *len = 0;
    char *buf = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&buf, &n);
    if (out == NULL)
        return P2P_ERR_NOMEM;
    int rc = sim_scenario_write(sc, out);
    if (fclose(out) != 0 && rc == 0)
        rc = P2P_ERR_NOMEM; /* a memory stream fails only for lack of it */
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return 0;
}

/* ---- comparison ------------------------------------------------------ */

#ifdef __GNUC__
__attribute__((format(printf, 3, 4)))
#endif
static bool
differ(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conf_errmsg_vset(why, why_len, fmt, ap);
    va_end(ap);
    return false;
}

static bool same_ids(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static bool same_link(const struct sim_link_override *a,
                      const struct sim_link_override *b)
{
    return a->from == b->from && a->to == b->to &&
           a->has_latency == b->has_latency && a->has_jitter == b->has_jitter &&
           a->has_bandwidth == b->has_bandwidth && a->has_loss == b->has_loss &&
           (!a->has_latency || a->latency_ns == b->latency_ns) &&
           (!a->has_jitter || a->jitter_ns == b->jitter_ns) &&
           (!a->has_bandwidth || a->bandwidth_bps == b->bandwidth_bps) &&
           (!a->has_loss || a->loss_ppm == b->loss_ppm) &&
           a->both_directions == b->both_directions;
}

static bool same_item(const struct sim_workload_item *a,
                      const struct sim_workload_item *b)
{
    return a->kind == b->kind && a->interval_ns == b->interval_ns &&
           a->poisson == b->poisson && a->size_bytes == b->size_bytes &&
           a->size_max_bytes == b->size_max_bytes && a->from == b->from &&
           (a->from != SIM_FROM_NODE || a->from_node == b->from_node) &&
           a->start_ns == b->start_ns && a->stop_ns == b->stop_ns;
}

static bool same_fault(const struct sim_fault *a, const struct sim_fault *b)
{
    if (a->kind != b->kind || a->at_ns != b->at_ns ||
        !same_ids(a->nodes, a->nodes_count, b->nodes, b->nodes_count) ||
        a->groups_count != b->groups_count)
        return false;
    for (size_t g = 0; g < a->groups_count; g++)
        if (!same_ids(a->groups[g], a->group_sizes[g], b->groups[g],
                      b->group_sizes[g]))
            return false;
    switch (a->kind) {
    case SIM_FAULT_BYZANTINE:
        return a->behaviour == b->behaviour;
    case SIM_FAULT_SKEW:
        return a->skew_offset_ns == b->skew_offset_ns &&
               a->drift_ppm == b->drift_ppm;
    case SIM_FAULT_LOSS:
        return a->loss_all_links == b->loss_all_links &&
               a->loss_ppm == b->loss_ppm && a->for_ns == b->for_ns;
    case SIM_FAULT_REGISTRY_EARLIEST:
        return a->earliest_version == b->earliest_version;
    case SIM_FAULT_BLACKHOLE:
        return a->for_ns == b->for_ns;
    default:
        return true;
    }
}

static bool same_expect(const struct sim_expect *a, const struct sim_expect *b)
{
    return a->kind == b->kind && a->within_ns == b->within_ns &&
           same_ids(a->nodes, a->nodes_count, b->nodes, b->nodes_count) &&
           a->bytes == b->bytes;
}

static bool same_protocol(const struct sim_protocol *a,
                          const struct sim_protocol *b)
{
    return a->has_push_threshold == b->has_push_threshold &&
           (!a->has_push_threshold ||
            a->push_threshold_bytes == b->push_threshold_bytes) &&
           a->has_validation_delay == b->has_validation_delay &&
           (!a->has_validation_delay ||
            a->validation_delay_ns == b->validation_delay_ns) &&
           a->has_artifact_ttl == b->has_artifact_ttl &&
           (!a->has_artifact_ttl || a->artifact_ttl_ns == b->artifact_ttl_ns) &&
           a->has_relay == b->has_relay &&
           (!a->has_relay || a->relay_advert == b->relay_advert) &&
           a->has_buggify == b->has_buggify &&
           (!a->has_buggify || a->buggify == b->buggify) &&
           a->has_heights == b->has_heights &&
           (!a->has_heights || (a->height_every_ns == b->height_every_ns &&
                                a->height_keep == b->height_keep));
}

static bool same_state(const struct sim_state_cfg *a,
                       const struct sim_state_cfg *b)
{
    return a->present == b->present &&
           (!a->present || (a->size_bytes == b->size_bytes &&
                            a->chunk_bytes == b->chunk_bytes &&
                            a->checkpoint_every_ns == b->checkpoint_every_ns &&
                            a->churn_ppm == b->churn_ppm &&
                            a->compressible_ppm == b->compressible_ppm));
}

static bool same_packet(const struct sim_packet_cfg *a,
                        const struct sim_packet_cfg *b)
{
    return a->mtu_bytes == b->mtu_bytes && a->queue_bytes == b->queue_bytes &&
           a->reorder_ppm == b->reorder_ppm && a->reorder_ns == b->reorder_ns &&
           a->duplicate_ppm == b->duplicate_ppm &&
           a->corrupt_ppm == b->corrupt_ppm;
}

static bool same_header(const struct sim_scenario *a,
                        const struct sim_scenario *b, char *why, size_t len)
{
    if ((a->name == NULL) != (b->name == NULL) ||
        (a->name != NULL && strcmp(a->name, b->name) != 0))
        return differ(why, len, "name");
    if (a->seed != b->seed || a->has_seed != b->has_seed)
        return differ(why, len, "seed");
    if (a->duration_ns != b->duration_ns)
        return differ(why, len, "duration");
    if (a->nodes != b->nodes || a->node_ids_count != b->node_ids_count)
        return differ(why, len, "subnet.nodes or the joined ids");
    if (a->net.latency_ns != b->net.latency_ns ||
        a->net.jitter_ns != b->net.jitter_ns ||
        a->net.bandwidth_bps != b->net.bandwidth_bps ||
        a->net.loss_ppm != b->net.loss_ppm)
        return differ(why, len, "network");
    if (a->net.model != b->net.model)
        return differ(why, len, "network.model");
    if (!same_packet(&a->net.packet, &b->net.packet))
        return differ(why, len, "network.packet");
    if (!same_state(&a->state, &b->state))
        return differ(why, len, "state");
    if (!same_protocol(&a->protocol, &b->protocol))
        return differ(why, len, "protocol");
    return true;
}

bool sim_scenario_write_equal(const struct sim_scenario *a,
                              const struct sim_scenario *b, char *why,
                              size_t why_len)
{
    P2P_ASSERT(a != NULL && b != NULL);
    if (!same_header(a, b, why, why_len))
        return false;
    if (a->net.links_count != b->net.links_count)
        return differ(why, why_len, "network.links count");
    for (size_t i = 0; i < a->net.links_count; i++)
        if (!same_link(&a->net.links[i], &b->net.links[i]))
            return differ(why, why_len, "network.links[%zu]", i);
    if (a->workload_count != b->workload_count)
        return differ(why, why_len, "workload count");
    for (size_t i = 0; i < a->workload_count; i++)
        if (!same_item(&a->workload[i], &b->workload[i]))
            return differ(why, why_len, "workload[%zu]", i);
    if (a->faults_count != b->faults_count)
        return differ(why, why_len, "faults count");
    for (size_t i = 0; i < a->faults_count; i++)
        if (!same_fault(&a->faults[i], &b->faults[i]))
            return differ(why, why_len, "faults[%zu] (sorted by at)", i);
    if (a->expects_count != b->expects_count)
        return differ(why, why_len, "expect count");
    for (size_t i = 0; i < a->expects_count; i++)
        if (!same_expect(&a->expects[i], &b->expects[i]))
            return differ(why, why_len, "expect[%zu]", i);
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    return true;
}
