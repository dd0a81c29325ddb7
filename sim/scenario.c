/* Scenario loader: libyaml document API -> struct sim_scenario, with the
 * helpers of conf/yaml.h.
 *
 * The document is walked once, following the schema; every node is taken
 * through the library's walk (conf_yaml_map, conf_yaml_seq_item), which
 * refuses a node seen before (an alias), so the work and memory spent are
 * bounded by the size of the file. Node ids are checked against
 * subnet.nodes plus the ids any join fault names (a pre-pass collects
 * those), because later faults and expectations may refer to joined nodes.
 * Scenario files word their errors their own way (scenario_words). */
#include "sim/scenario.h"
#include "core/state_manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "conf/units.h"
#include "conf/yaml.h"
#include "core/assert.h"
#include "core/err.h"

#define WHAT_BYTES 96 /* "faults[65535].partition" and the like */

struct loader {
    struct conf_yaml_doc *d; /* borrowed */
    struct sim_scenario *sc; /* borrowed; being filled */
    uint32_t id_cap;         /* nodes + SIM_SCENARIO_JOIN_IDS_MAX */
    uint8_t *id_seen;        /* owned; id_cap flags, all 0 between id lists */
    uint8_t *joinable; /* owned; id_cap flags: ids >= nodes named by a join */
};

/* ---- how scenario files read ------------------------------------------ */

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return n->data.scalar.length == 0 ? "nothing" : "a plain value";
    default:
        return "an empty node";
    }
}

/* Scenario messages: "WHAT: problem", and keys named in quotes ("unknown
 * key 'latncy' in network"); the rest as the library words them. */
static void scenario_words(const struct conf_yaml_problem *p, char *buf,
                           size_t len)
{
    int key_len = (int)(p->key_len > 40 ? 40 : p->key_len);
    unsigned long long count = p->count, limit = p->limit;
    switch (p->kind) {
    case CONF_YAML_FILE_SIZE:
        if (count > 0)
            snprintf(buf, len,
                     "the file is %llu bytes, more than the limit of %llu MiB",
                     count, limit >> 20);
        else
            snprintf(buf, len, "the file is larger than the limit of %llu MiB",
                     limit >> 20);
        return;
    case CONF_YAML_NODES:
        snprintf(buf, len,
                 "more than the limit of %llu YAML nodes (values, lists and "
                 "mappings)",
                 limit);
        return;
    case CONF_YAML_SECOND_DOCUMENT:
        snprintf(buf, len, "a second YAML document; a file holds one scenario");
        return;
    case CONF_YAML_KEY_NOT_WORD:
        snprintf(buf, len, "%s: a key must be a plain word, got %s", p->what,
                 p->got);
        return;
    case CONF_YAML_KEY_UNKNOWN:
        snprintf(buf, len, "unknown key '%.*s' in %s (expected %s)", key_len,
                 p->key, p->what, p->expected);
        return;
    case CONF_YAML_KEY_TWICE:
        snprintf(buf, len, "duplicate key '%.*s' in %s (first at line %llu)",
                 key_len, p->key, p->what, count);
        return;
    case CONF_YAML_KEY_MISSING:
        if (p->what[0] == '\0')
            snprintf(buf, len, "missing required key '%.*s'", key_len, p->key);
        else
            snprintf(buf, len, "%s: missing required key '%.*s'", p->what,
                     key_len, p->key);
        return;
    case CONF_YAML_VALUE_LONG:
        snprintf(buf, len, "%s: value is too long (at most %llu characters)",
                 p->what, limit);
        return;
    case CONF_YAML_VALUE_NUL:
        snprintf(buf, len, "%s: value contains a NUL character", p->what);
        return;
    case CONF_YAML_NOT_NUMBER:
        snprintf(buf, len, "%s: '%s' is not a whole number", p->what, p->text);
        return;
    case CONF_YAML_NUMBER_LARGE:
        snprintf(buf, len, "%s: '%s' is too large", p->what, p->text);
        return;
    case CONF_YAML_NOT_WORD:
        snprintf(buf, len, "%s: unknown value '%s' (expected %s)", p->what,
                 p->text, p->expected);
        return;
    case CONF_YAML_BAD_UNITS:
        snprintf(buf, len, "%s: %s", p->what, p->text);
        return;
    default:
        conf_yaml_words_default(p, buf, len);
        return;
    }
}

/* Scenario files: any file (a process substitution too), aliases allowed
 * until the walk reaches a node twice, empty values handed to the parsers,
 * the line kept in struct sim_scenario_error rather than in the text. */
static const struct conf_yaml_opts SCENARIO_YAML = {
    .bytes_max = SIM_SCENARIO_FILE_BYTES_MAX,
    .nodes_max = SIM_SCENARIO_YAML_NODES_MAX,
    .depth_max = SIM_SCENARIO_YAML_DEPTH_MAX,
    .any_file = true,
    .aliases_at_walk = true,
    .second_document_at_node = true,
    .empty_is_value = true,
    .type_name = type_name,
    .words = scenario_words,
};

/* What each quantity is called in messages; any value the parser takes. */
static const struct conf_yaml_quantity Q_DURATION = {"a duration (e.g. 40ms)",
                                                     0, UINT64_MAX};
static const struct conf_yaml_quantity Q_SIZE = {"a size (e.g. 4MiB)", 0,
                                                 UINT64_MAX};
static const struct conf_yaml_quantity Q_BANDWIDTH = {
    "a bandwidth (e.g. 1Gbit)", 0, UINT64_MAX};
static const struct conf_yaml_quantity Q_RATE = {"a rate (e.g. 100/s)", 0,
                                                 UINT64_MAX};

#ifdef __GNUC__
__attribute__((format(printf, 4, 5)))
#endif
static int
fail(struct loader *ld, const yaml_node_t *node, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conf_yaml_vfail(ld->d, node, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- scalars --------------------------------------------------------- */

static int get_u64(struct loader *ld, const yaml_node_t *n, const char *what,
                   uint64_t *out)
{
    return conf_yaml_u64(ld->d, n, what, 0, UINT64_MAX, out);
}

/* Node id check: ids < nodes exist; ids up to id_cap exist when named by a
 * join (for_join: any id < id_cap may be named). */
static int get_node_id(struct loader *ld, const yaml_node_t *n,
                       const char *what, bool for_join, uint32_t *out)
{
    uint64_t v;
    int rc = get_u64(ld, n, what, &v);
    if (rc != 0)
        return rc;
    if (v < ld->sc->nodes ||
        (v < ld->id_cap && (for_join || ld->joinable[v]))) {
        *out = (uint32_t)v;
        return 0;
    }
    if (for_join)
        return fail(ld, n, P2P_ERR_DECODE,
                    "%s: node %llu is out of range (a join may name ids 0..%u)",
                    what, (unsigned long long)v, ld->id_cap - 1);
    return fail(ld, n, P2P_ERR_DECODE,
                "%s: node %llu is out of range (the subnet has nodes 0..%u; "
                "higher ids must be added by a join fault)",
                what, (unsigned long long)v, ld->sc->nodes - 1);
}

static int get_duration(struct loader *ld, const yaml_node_t *n,
                        const char *what, uint64_t *out)
{
    int rc = conf_yaml_duration(ld->d, n, what, &Q_DURATION, out);
    if (rc == 0 && *out > SIM_SCENARIO_TIME_MAX_NS)
        return fail(ld, n, P2P_ERR_DECODE, "%s: more than the limit of 30 days",
                    what);
    return rc;
}

static int get_positive_duration(struct loader *ld, const yaml_node_t *n,
                                 const char *what, uint64_t *out)
{
    int rc = get_duration(ld, n, what, out);
    if (rc == 0 && *out == 0)
        return fail(ld, n, P2P_ERR_DECODE, "%s: must be greater than 0", what);
    return rc;
}

static int get_offset(struct loader *ld, const yaml_node_t *n, const char *what,
                      int64_t *out)
{
    int rc = conf_yaml_offset(ld->d, n, what, "a duration (e.g. -2s)", out);
    if (rc == 0 && (*out > (int64_t)SIM_SCENARIO_TIME_MAX_NS ||
                    *out < -(int64_t)SIM_SCENARIO_TIME_MAX_NS))
        return fail(ld, n, P2P_ERR_DECODE, "%s: more than the limit of 30 days",
                    what);
    return rc;
}

static int get_percent(struct loader *ld, const yaml_node_t *n,
                       const char *what, uint32_t *out)
{
    return conf_yaml_percent(ld->d, n, what, "a percentage (e.g. 0.5%)", out);
}

/* A rate of events per packet or message: 0% up to but excluding 100%;
 * noun names it in the message ("a loss rate"). */
static int get_rate_below_all(struct loader *ld, const yaml_node_t *n,
                              const char *what, const char *noun, uint32_t *out)
{
    int rc = get_percent(ld, n, what, out);
    if (rc == 0 && *out >= 1000000)
        return fail(ld, n, P2P_ERR_DECODE,
                    "%s: out of range (%s must be below 100%%)", what, noun);
    return rc;
}

/* A loss rate: 0% up to but excluding 100%. */
static int get_loss(struct loader *ld, const yaml_node_t *n, const char *what,
                    uint32_t *out)
{
    return get_rate_below_all(ld, n, what, "a loss rate", out);
}

/* ---- node id lists --------------------------------------------------- */

/* Parses a non-empty list of distinct node ids into a new array. Ids stay
 * marked in id_seen when keep_marks (the caller clears them). */
static int get_id_list(struct loader *ld, const yaml_node_t *n,
                       const char *what, bool for_join, bool keep_marks,
                       uint32_t **out, size_t *out_count)
{
    size_t count;
    int rc = conf_yaml_seq(ld->d, n, what, 0, SIZE_MAX, &count);
    if (rc != 0)
        return rc;
    if (count == 0)
        return fail(ld, n, P2P_ERR_DECODE, "%s: the list of nodes is empty",
                    what);
    uint32_t *ids = malloc(count * sizeof *ids);
    if (ids == NULL)
        return fail(ld, n, P2P_ERR_NOMEM, "out of memory");
    *out = ids; /* owned by the caller's struct from here on */
    *out_count = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item;
        if ((rc = conf_yaml_seq_item(ld->d, n, i, &item)) != 0)
            return rc;
        rc = get_node_id(ld, item, what, for_join, &ids[i]);
        if (rc != 0)
            return rc;
        if (ld->id_seen[ids[i]])
            return fail(ld, item, P2P_ERR_DECODE,
                        "%s: node %u is listed more than once", what, ids[i]);
        ld->id_seen[ids[i]] = 1;
        *out_count = i + 1;
    }
    if (!keep_marks) {
        for (size_t i = 0; i < count; i++)
            ld->id_seen[ids[i]] = 0;
    }
    return 0;
}

/* Collects the ids >= nodes named by join faults, before the faults are
 * parsed for real (errors are left to that pass). */
static void collect_joins(struct loader *ld, const yaml_node_t *faults)
{
    if (faults == NULL || faults->type != YAML_SEQUENCE_NODE)
        return;
    for (yaml_node_item_t *it = faults->data.sequence.items.start;
         it < faults->data.sequence.items.top; it++) {
        yaml_node_t *f = yaml_document_get_node(&ld->d->doc, *it);
        if (f == NULL || f->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = f->data.mapping.pairs.start;
             p < f->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(&ld->d->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(&ld->d->doc, p->value);
            if (k == NULL || v == NULL || !conf_yaml_scalar_is(k, "join") ||
                v->type != YAML_SEQUENCE_NODE)
                continue;
            for (yaml_node_item_t *j = v->data.sequence.items.start;
                 j < v->data.sequence.items.top; j++) {
                yaml_node_t *id = yaml_document_get_node(&ld->d->doc, *j);
                uint64_t x = 0;
                if (id == NULL || id->type != YAML_SCALAR_NODE ||
                    id->data.scalar.length == 0 || id->data.scalar.length > 6)
                    continue;
                bool digits = true;
                for (size_t c = 0; c < id->data.scalar.length; c++) {
                    unsigned char ch = id->data.scalar.value[c];
                    digits = digits && ch >= '0' && ch <= '9';
                    x = x * 10 + (uint64_t)(ch - '0');
                }
                if (digits && x >= ld->sc->nodes && x < ld->id_cap) {
                    ld->joinable[x] = 1;
                    if (x + 1 > ld->sc->node_ids_count)
                        ld->sc->node_ids_count = (uint32_t)x + 1;
                }
            }
        }
    }
}

/* ---- sections -------------------------------------------------------- */

static int parse_subnet(struct loader *ld, const yaml_node_t *n)
{
    static const char *const keys[] = {"nodes"};
    yaml_node_t *v[1];
    uint64_t nodes;
    int rc = conf_yaml_map(ld->d, n, "subnet", keys, 1, v);
    if (rc != 0)
        return rc;
    if (v[0] == NULL)
        return conf_yaml_missing(ld->d, n, "subnet", "nodes");
    if ((rc = get_u64(ld, v[0], "subnet.nodes", &nodes)) != 0)
        return rc;
    if (nodes < 1 || nodes > SIM_SCENARIO_NODES_MAX)
        return fail(ld, v[0], P2P_ERR_DECODE,
                    "subnet.nodes: %llu is out of range (1..%u)",
                    (unsigned long long)nodes, SIM_SCENARIO_NODES_MAX);
    ld->sc->nodes = (uint32_t)nodes;
    ld->sc->node_ids_count = (uint32_t)nodes;
    return 0;
}

static bool links_clash(const struct sim_link_override *a,
                        const struct sim_link_override *b)
{
    return (a->from == b->from && a->to == b->to) ||
           ((a->both_directions || b->both_directions) && a->from == b->to &&
            a->to == b->from);
}

static int parse_link(struct loader *ld, const yaml_node_t *n, size_t index,
                      struct sim_link_override *l)
{
    static const char *const keys[] = {"from",      "to",   "latency", "jitter",
                                       "bandwidth", "loss", "both"};
    enum { FROM, TO, LATENCY, JITTER, BANDWIDTH, LOSS, BOTH, KEYS };
    yaml_node_t *v[KEYS];
    char where[WHAT_BYTES], what[WHAT_BYTES];
    int rc;
    snprintf(where, sizeof where, "network.links[%zu]", index);
    l->line = conf_yaml_line(n);
    if ((rc = conf_yaml_map(ld->d, n, where, keys, KEYS, v)) != 0)
        return rc;
    if (v[FROM] == NULL)
        return conf_yaml_missing(ld->d, n, where, "from");
    if (v[TO] == NULL)
        return conf_yaml_missing(ld->d, n, where, "to");
    if ((rc = get_node_id(ld, v[FROM],
                          conf_yaml_what(what, sizeof what, where, "from"),
                          false, &l->from)) != 0 ||
        (rc = get_node_id(ld, v[TO],
                          conf_yaml_what(what, sizeof what, where, "to"), false,
                          &l->to)) != 0)
        return rc;
    if (l->from == l->to)
        return fail(ld, v[TO], P2P_ERR_DECODE,
                    "%s: a link needs two different nodes (from = to = %u)",
                    where, l->from);
    if (v[LATENCY] != NULL) {
        l->has_latency = true;
        rc = get_duration(ld, v[LATENCY],
                          conf_yaml_what(what, sizeof what, where, "latency"),
                          &l->latency_ns);
        if (rc != 0)
            return rc;
    }
    if (v[JITTER] != NULL) {
        l->has_jitter = true;
        rc = get_duration(ld, v[JITTER],
                          conf_yaml_what(what, sizeof what, where, "jitter"),
                          &l->jitter_ns);
        if (rc != 0)
            return rc;
    }
    if (v[BANDWIDTH] != NULL) {
        l->has_bandwidth = true;
        conf_yaml_what(what, sizeof what, where, "bandwidth");
        if ((rc = conf_yaml_bandwidth(ld->d, v[BANDWIDTH], what, &Q_BANDWIDTH,
                                      &l->bandwidth_bps)) != 0)
            return rc;
        if (l->bandwidth_bps == 0)
            return fail(ld, v[BANDWIDTH], P2P_ERR_DECODE,
                        "%s: must be greater than 0", what);
    }
    if (v[LOSS] != NULL) {
        l->has_loss = true;
        rc = get_loss(ld, v[LOSS],
                      conf_yaml_what(what, sizeof what, where, "loss"),
                      &l->loss_ppm);
        if (rc != 0)
            return rc;
    }
    if (v[BOTH] != NULL &&
        (rc = conf_yaml_bool(ld->d, v[BOTH],
                             conf_yaml_what(what, sizeof what, where, "both"),
                             &l->both_directions)) != 0)
        return rc;
    if (!l->has_latency && !l->has_jitter && !l->has_bandwidth && !l->has_loss)
        return fail(
            ld, n, P2P_ERR_DECODE,
            "%s: sets nothing (give latency, jitter, bandwidth or loss)",
            where);
    return 0;
}

static int parse_links(struct loader *ld, const yaml_node_t *n)
{
    struct sim_network *net = &ld->sc->net;
    size_t count;
    int rc = conf_yaml_seq(ld->d, n, "network.links", CONF_YAML_SEQ_NULL_EMPTY,
                           SIM_SCENARIO_LINKS_MAX, &count);
    if (rc != 0 || count == 0)
        return rc;
    net->links = calloc(count, sizeof *net->links);
    if (net->links == NULL)
        return fail(ld, n, P2P_ERR_NOMEM, "out of memory");
    net->links_count = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item;
        if ((rc = conf_yaml_seq_item(ld->d, n, i, &item)) != 0)
            return rc;
        if ((rc = parse_link(ld, item, i, &net->links[i])) != 0)
            return rc;
        for (size_t j = 0; j < i; j++) {
            if (links_clash(&net->links[i], &net->links[j]))
                return fail(ld, item, P2P_ERR_DECODE,
                            "network.links[%zu]: overrides link %u->%u again "
                            "(already at line %d)",
                            i, net->links[i].from, net->links[i].to,
                            net->links[j].line);
        }
    }
    return 0;
}

/* network.packet: every key optional, the defaults already in place. */
static int parse_packet(struct loader *ld, const yaml_node_t *n)
{
    static const char *const keys[] = {"mtu",           "queue",     "reorder",
                                       "reorder_delay", "duplicate", "corrupt"};
    enum { MTU, QUEUE, REORDER, REORDER_DELAY, DUPLICATE, CORRUPT, KEYS };
    struct sim_packet_cfg *p = &ld->sc->net.packet;
    yaml_node_t *v[KEYS];
    uint64_t mtu;
    int rc;
    if (conf_yaml_is_null(n))
        return 0;
    if ((rc = conf_yaml_map(ld->d, n, "network.packet", keys, KEYS, v)) != 0)
        return rc;
    if (v[MTU] != NULL) {
        if ((rc = get_u64(ld, v[MTU], "network.packet.mtu", &mtu)) != 0)
            return rc;
        if (mtu < SIM_SCENARIO_MTU_BYTES_MIN ||
            mtu > SIM_SCENARIO_MTU_BYTES_MAX)
            return fail(ld, v[MTU], P2P_ERR_DECODE,
                        "network.packet.mtu: %llu is out of range (%u..%u, "
                        "in bytes)",
                        (unsigned long long)mtu, SIM_SCENARIO_MTU_BYTES_MIN,
                        SIM_SCENARIO_MTU_BYTES_MAX);
        p->mtu_bytes = (uint32_t)mtu;
    }
    if (v[QUEUE] != NULL) {
        if ((rc = conf_yaml_size(ld->d, v[QUEUE], "network.packet.queue",
                                 &Q_SIZE, &p->queue_bytes)) != 0)
            return rc;
        if (p->queue_bytes < SIM_SCENARIO_QUEUE_BYTES_MIN)
            return fail(ld, v[QUEUE], P2P_ERR_DECODE,
                        "network.packet.queue: must be at least %uB (one "
                        "full-size packet)",
                        SIM_SCENARIO_QUEUE_BYTES_MIN);
        if (p->queue_bytes > SIM_SCENARIO_QUEUE_BYTES_MAX)
            return fail(ld, v[QUEUE], P2P_ERR_DECODE,
                        "network.packet.queue: more than the limit of 1GiB");
    }
    if (p->queue_bytes < p->mtu_bytes)
        return fail(ld, v[QUEUE] != NULL ? v[QUEUE] : v[MTU], P2P_ERR_DECODE,
                    "network.packet.queue: %lluB is less than network.packet."
                    "mtu (%uB): a queue holds at least one full-size packet",
                    (unsigned long long)p->queue_bytes, p->mtu_bytes);
    if (v[REORDER] != NULL &&
        (rc = get_rate_below_all(ld, v[REORDER], "network.packet.reorder",
                                 "a reorder rate", &p->reorder_ppm)) != 0)
        return rc;
    if (v[REORDER_DELAY] != NULL) {
        if ((rc = get_positive_duration(ld, v[REORDER_DELAY],
                                        "network.packet.reorder_delay",
                                        &p->reorder_ns)) != 0)
            return rc;
        if (p->reorder_ns > SIM_SCENARIO_QUIC_DELAY_NS_MAX)
            return fail(ld, v[REORDER_DELAY], P2P_ERR_DECODE,
                        "network.packet.reorder_delay: more than the limit "
                        "of 1h");
    }
    if (v[DUPLICATE] != NULL &&
        (rc = get_rate_below_all(ld, v[DUPLICATE], "network.packet.duplicate",
                                 "a duplicate rate", &p->duplicate_ppm)) != 0)
        return rc;
    if (v[CORRUPT] != NULL &&
        (rc = get_rate_below_all(ld, v[CORRUPT], "network.packet.corrupt",
                                 "a corrupt rate", &p->corrupt_ppm)) != 0)
        return rc;
    return 0;
}

static int parse_network(struct loader *ld, const yaml_node_t *n)
{
    static const char *const keys[] = {"latency", "jitter", "bandwidth", "loss",
                                       "links",   "model",  "packet"};
    static const char *const models[] = {"message", "quic"};
    enum { LATENCY, JITTER, BANDWIDTH, LOSS, LINKS, MODEL, PACKET, KEYS };
    struct sim_network *net = &ld->sc->net;
    yaml_node_t *v[KEYS];
    size_t model = 0;
    int rc;
    if (conf_yaml_is_null(n))
        return 0;
    if ((rc = conf_yaml_map(ld->d, n, "network", keys, KEYS, v)) != 0)
        return rc;
    if (v[MODEL] != NULL) {
        if ((rc = conf_yaml_word(ld->d, v[MODEL], "network.model", models, 2,
                                 "message or quic", &model)) != 0)
            return rc;
        net->model = model == 1 ? SIM_MODEL_QUIC : SIM_MODEL_MESSAGE;
    }
    if (v[PACKET] != NULL && (rc = parse_packet(ld, v[PACKET])) != 0)
        return rc;
    if (v[LATENCY] != NULL &&
        (rc = get_duration(ld, v[LATENCY], "network.latency",
                           &net->latency_ns)) != 0)
        return rc;
    if (v[JITTER] != NULL && (rc = get_duration(ld, v[JITTER], "network.jitter",
                                                &net->jitter_ns)) != 0)
        return rc;
    if (v[BANDWIDTH] != NULL) {
        if ((rc = conf_yaml_bandwidth(ld->d, v[BANDWIDTH], "network.bandwidth",
                                      &Q_BANDWIDTH, &net->bandwidth_bps)) != 0)
            return rc;
        if (net->bandwidth_bps == 0)
            return fail(ld, v[BANDWIDTH], P2P_ERR_DECODE,
                        "network.bandwidth: must be greater than 0");
    }
    if (v[LOSS] != NULL &&
        (rc = get_loss(ld, v[LOSS], "network.loss", &net->loss_ppm)) != 0)
        return rc;
    if (v[LINKS] != NULL)
        return parse_links(ld, v[LINKS]);
    return 0;
}

static int parse_state(struct loader *ld, const yaml_node_t *n)
{
    static const char *const keys[] = {"size", "chunk", "checkpoint_every",
                                       "churn", "compressible"};
    enum { SIZE, CHUNK, EVERY, CHURN, COMPRESSIBLE, KEYS };
    struct sim_state_cfg *st = &ld->sc->state;
    yaml_node_t *v[KEYS];
    int rc;
    if (conf_yaml_is_null(n))
        return 0;
    if ((rc = conf_yaml_map(ld->d, n, "state", keys, KEYS, v)) != 0)
        return rc;
    st->present = true;
    if (v[SIZE] == NULL)
        return conf_yaml_missing(ld->d, n, "state", "size");
    if (v[EVERY] == NULL)
        return conf_yaml_missing(ld->d, n, "state", "checkpoint_every");
    if ((rc = conf_yaml_size(ld->d, v[SIZE], "state.size", &Q_SIZE,
                             &st->size_bytes)) != 0)
        return rc;
    if (st->size_bytes == 0)
        return fail(ld, v[SIZE], P2P_ERR_DECODE,
                    "state.size: must be greater than 0");
    if ((rc = get_positive_duration(ld, v[EVERY], "state.checkpoint_every",
                                    &st->checkpoint_every_ns)) != 0)
        return rc;
    st->chunk_bytes = st->size_bytes < SIM_SCENARIO_DEFAULT_CHUNK_BYTES
                          ? st->size_bytes
                          : SIM_SCENARIO_DEFAULT_CHUNK_BYTES;
    if (v[CHUNK] != NULL) {
        if ((rc = conf_yaml_size(ld->d, v[CHUNK], "state.chunk", &Q_SIZE,
                                 &st->chunk_bytes)) != 0)
            return rc;
        if (st->chunk_bytes == 0 || st->chunk_bytes > st->size_bytes ||
            st->chunk_bytes > P2P_STATE_CHUNK_BYTES_MAX)
            return fail(ld, v[CHUNK], P2P_ERR_DECODE,
                        "state.chunk: out of range (1B up to state.size and "
                        "8MiB, the largest chunk)");
    }
    uint64_t chunks = st->size_bytes / st->chunk_bytes +
                      (st->size_bytes % st->chunk_bytes != 0);
    if (chunks > SIM_SCENARIO_STATE_CHUNKS_MAX)
        return fail(ld, v[CHUNK] ? v[CHUNK] : v[SIZE], P2P_ERR_DECODE,
                    "state: %llu chunks per checkpoint, more than the limit of "
                    "%llu (use a larger chunk)",
                    (unsigned long long)chunks,
                    (unsigned long long)SIM_SCENARIO_STATE_CHUNKS_MAX);
    if (v[CHURN] != NULL &&
        (rc = get_percent(ld, v[CHURN], "state.churn", &st->churn_ppm)) != 0)
        return rc;
    if (v[COMPRESSIBLE] != NULL &&
        (rc = get_percent(ld, v[COMPRESSIBLE], "state.compressible",
                          &st->compressible_ppm)) != 0)
        return rc;
    return 0;
}

/* protocol.heights: {every: DURATION, keep: INTEGER}, both required. */
static int parse_heights(struct loader *ld, const yaml_node_t *n,
                         struct sim_protocol *pr)
{
    static const char *const keys[] = {"every", "keep"};
    enum { EVERY, KEEP, KEYS };
    yaml_node_t *v[KEYS];
    int rc;
    if ((rc = conf_yaml_map(ld->d, n, "protocol.heights", keys, KEYS, v)) != 0)
        return rc;
    if (v[EVERY] == NULL)
        return conf_yaml_missing(ld->d, n, "protocol.heights", "every");
    if (v[KEEP] == NULL)
        return conf_yaml_missing(ld->d, n, "protocol.heights", "keep");
    pr->has_heights = true;
    if ((rc = get_positive_duration(ld, v[EVERY], "protocol.heights.every",
                                    &pr->height_every_ns)) != 0)
        return rc;
    return conf_yaml_u64(ld->d, v[KEEP], "protocol.heights.keep", 1,
                         SIM_SCENARIO_HEIGHT_KEEP_MAX, &pr->height_keep);
}

static int parse_protocol(struct loader *ld, const yaml_node_t *n)
{
    static const char *const keys[] = {"push_threshold", "validation_delay",
                                       "artifact_ttl",   "relay",
                                       "buggify",        "heights"};
    static const char *const relays[] = {"push", "advert"};
    enum { PUSH, DELAY, TTL, RELAY, BUGGIFY, HEIGHTS, KEYS };
    struct sim_protocol *pr = &ld->sc->protocol;
    yaml_node_t *v[KEYS];
    int rc;
    if (conf_yaml_is_null(n))
        return 0;
    if ((rc = conf_yaml_map(ld->d, n, "protocol", keys, KEYS, v)) != 0)
        return rc;
    if (v[PUSH] != NULL) {
        pr->has_push_threshold = true;
        if ((rc = conf_yaml_size(ld->d, v[PUSH], "protocol.push_threshold",
                                 &Q_SIZE, &pr->push_threshold_bytes)) != 0)
            return rc;
    }
    if (v[DELAY] != NULL) {
        pr->has_validation_delay = true;
        if ((rc = get_duration(ld, v[DELAY], "protocol.validation_delay",
                               &pr->validation_delay_ns)) != 0)
            return rc;
    }
    if (v[TTL] != NULL) {
        pr->has_artifact_ttl = true;
        if ((rc = get_positive_duration(ld, v[TTL], "protocol.artifact_ttl",
                                        &pr->artifact_ttl_ns)) != 0)
            return rc;
    }
    if (v[RELAY] != NULL) {
        size_t i = 0;
        pr->has_relay = true;
        if ((rc = conf_yaml_word(ld->d, v[RELAY], "protocol.relay", relays, 2,
                                 "push or advert", &i)) != 0)
            return rc;
        pr->relay_advert = i == 1;
    }
    if (v[BUGGIFY] != NULL) {
        pr->has_buggify = true;
        if ((rc = conf_yaml_bool(ld->d, v[BUGGIFY], "protocol.buggify",
                                 &pr->buggify)) != 0)
            return rc;
    }
    if (v[HEIGHTS] != NULL)
        return parse_heights(ld, v[HEIGHTS], pr);
    return 0;
}

static int parse_workload_item(struct loader *ld, const yaml_node_t *n,
                               size_t index, struct sim_workload_item *w)
{
    static const char *const keys[] = {"kind",     "every", "rate",  "size",
                                       "size_max", "from",  "start", "stop"};
    static const char *const kinds[] = {"push", "advert"};
    enum { KIND, EVERY, RATE, SIZE, SIZE_MAX_, FROM, START, STOP, KEYS };
    yaml_node_t *v[KEYS];
    char where[WHAT_BYTES], what[WHAT_BYTES];
    size_t i = 0;
    int rc;
    snprintf(where, sizeof where, "workload[%zu]", index);
    w->line = conf_yaml_line(n);
    if ((rc = conf_yaml_map(ld->d, n, where, keys, KEYS, v)) != 0)
        return rc;
    if (v[KIND] == NULL)
        return conf_yaml_missing(ld->d, n, where, "kind");
    if (v[SIZE] == NULL)
        return conf_yaml_missing(ld->d, n, where, "size");
    if (v[EVERY] == NULL && v[RATE] == NULL)
        return fail(ld, n, P2P_ERR_DECODE, "%s: needs 'every' or 'rate'",
                    where);
    if (v[EVERY] != NULL && v[RATE] != NULL)
        return fail(ld, v[RATE], P2P_ERR_DECODE,
                    "%s: give 'every' or 'rate', not both", where);
    if ((rc = conf_yaml_word(ld->d, v[KIND],
                             conf_yaml_what(what, sizeof what, where, "kind"),
                             kinds, 2, "push or advert", &i)) != 0)
        return rc;
    w->kind = i == 0 ? P2P_KIND_PUSH : P2P_KIND_ADVERT;
    if (v[EVERY] != NULL) {
        rc = get_positive_duration(
            ld, v[EVERY], conf_yaml_what(what, sizeof what, where, "every"),
            &w->interval_ns);
    } else {
        w->poisson = true;
        rc = conf_yaml_rate(ld->d, v[RATE],
                            conf_yaml_what(what, sizeof what, where, "rate"),
                            &Q_RATE, &w->interval_ns);
    }
    if (rc != 0)
        return rc;
    conf_yaml_what(what, sizeof what, where, "size");
    if ((rc = conf_yaml_size(ld->d, v[SIZE], what, &Q_SIZE, &w->size_bytes)) !=
        0)
        return rc;
    if (w->size_bytes < SIM_SCENARIO_ARTIFACT_BYTES_MIN ||
        w->size_bytes > SIM_SCENARIO_ARTIFACT_BYTES_MAX)
        return fail(ld, v[SIZE], P2P_ERR_DECODE,
                    "%s: out of range (16B up to 131071KiB, 128MiB less 1KiB)",
                    what);
    w->size_max_bytes = w->size_bytes;
    if (v[SIZE_MAX_] != NULL) {
        conf_yaml_what(what, sizeof what, where, "size_max");
        if ((rc = conf_yaml_size(ld->d, v[SIZE_MAX_], what, &Q_SIZE,
                                 &w->size_max_bytes)) != 0)
            return rc;
        if (w->size_max_bytes < w->size_bytes)
            return fail(ld, v[SIZE_MAX_], P2P_ERR_DECODE,
                        "%s: must be at least size", what);
        if (w->size_max_bytes > SIM_SCENARIO_ARTIFACT_BYTES_MAX)
            return fail(ld, v[SIZE_MAX_], P2P_ERR_DECODE,
                        "%s: out of range (up to 131071KiB, 128MiB less "
                        "1KiB)",
                        what);
    }
    w->from = SIM_FROM_ROUND_ROBIN;
    if (v[FROM] != NULL) {
        conf_yaml_what(what, sizeof what, where, "from");
        if (conf_yaml_scalar_is(v[FROM], "round-robin")) {
            w->from = SIM_FROM_ROUND_ROBIN;
        } else if (conf_yaml_scalar_is(v[FROM], "any")) {
            w->from = SIM_FROM_ANY;
        } else {
            w->from = SIM_FROM_NODE;
            if ((rc = get_node_id(ld, v[FROM], what, false, &w->from_node)) !=
                0)
                return rc;
        }
    }
    w->stop_ns = ld->sc->duration_ns;
    if (v[START] != NULL &&
        (rc = get_duration(ld, v[START],
                           conf_yaml_what(what, sizeof what, where, "start"),
                           &w->start_ns)) != 0)
        return rc;
    if (v[STOP] != NULL) {
        conf_yaml_what(what, sizeof what, where, "stop");
        if ((rc = get_duration(ld, v[STOP], what, &w->stop_ns)) != 0)
            return rc;
        if (w->stop_ns > ld->sc->duration_ns)
            return fail(ld, v[STOP], P2P_ERR_DECODE,
                        "%s: beyond the scenario's duration", what);
    }
    if (w->start_ns >= w->stop_ns)
        return fail(ld, v[START] ? v[START] : n, P2P_ERR_DECODE,
                    "%s: start must be before stop (which defaults to the "
                    "duration)",
                    where);
    return 0;
}

static int parse_workload(struct loader *ld, const yaml_node_t *n)
{
    struct sim_scenario *sc = ld->sc;
    size_t count;
    int rc = conf_yaml_seq(ld->d, n, "workload", CONF_YAML_SEQ_NULL_EMPTY,
                           SIM_SCENARIO_WORKLOAD_MAX, &count);
    if (rc != 0 || count == 0)
        return rc;
    sc->workload = calloc(count, sizeof *sc->workload);
    if (sc->workload == NULL)
        return fail(ld, n, P2P_ERR_NOMEM, "out of memory");
    sc->workload_count = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item;
        if ((rc = conf_yaml_seq_item(ld->d, n, i, &item)) != 0)
            return rc;
        if ((rc = parse_workload_item(ld, item, i, &sc->workload[i])) != 0)
            return rc;
    }
    return 0;
}

static int parse_partition(struct loader *ld, const yaml_node_t *n,
                           const char *what, struct sim_fault *f)
{
    size_t count;
    int rc = conf_yaml_seq(ld->d, n, what, 0, SIZE_MAX, &count);
    if (rc != 0)
        return rc;
    if (count == 0 || count > ld->id_cap)
        return fail(ld, n, P2P_ERR_DECODE,
                    "%s: expected a list of node groups, e.g. [[0,1],[2,3]]",
                    what);
    f->groups = calloc(count, sizeof *f->groups);
    f->group_sizes = calloc(count, sizeof *f->group_sizes);
    if (f->groups == NULL || f->group_sizes == NULL)
        return fail(ld, n, P2P_ERR_NOMEM, "out of memory");
    f->groups_count = count;
    for (size_t i = 0; i < count && rc == 0; i++) {
        yaml_node_t *g;
        if ((rc = conf_yaml_seq_item(ld->d, n, i, &g)) != 0)
            break;
        if (g->type != YAML_SEQUENCE_NODE) {
            rc = fail(ld, g, P2P_ERR_DECODE,
                      "%s: expected a list of node groups, e.g. [[0,1],[2,3]]",
                      what);
            break;
        }
        rc = get_id_list(ld, g, what, false, true, &f->groups[i],
                         &f->group_sizes[i]);
    }
    /* Groups must be disjoint, so the marks stay set across groups. */
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < f->group_sizes[i]; j++)
            ld->id_seen[f->groups[i][j]] = 0;
    }
    return rc;
}

static int parse_byzantine(struct loader *ld, const yaml_node_t *n,
                           const char *what, struct sim_fault *f)
{
    static const char *const keys[] = {"nodes", "behaviour"};
    static const char *const names[] = {
        "silent",         "slow-reader",  "garbage",
        "oversize",       "advert-flood", "wrong-bytes",
        "stale-commit",   "bad-chunks",   "garbage-datagrams",
        "handshake-flood"};
    _Static_assert(sizeof names / sizeof names[0] == SIM_BYZ_COUNT,
                   "a name for every behaviour");
    char sub[WHAT_BYTES];
    yaml_node_t *v[2];
    size_t i = 0;
    int rc;
    if ((rc = conf_yaml_map(ld->d, n, what, keys, 2, v)) != 0)
        return rc;
    if (v[0] == NULL)
        return conf_yaml_missing(ld->d, n, what, "nodes");
    if (v[1] == NULL)
        return conf_yaml_missing(ld->d, n, what, "behaviour");
    if ((rc = get_id_list(ld, v[0],
                          conf_yaml_what(sub, sizeof sub, what, "nodes"), false,
                          false, &f->nodes, &f->nodes_count)) != 0)
        return rc;
    if ((rc = conf_yaml_word(
             ld->d, v[1], conf_yaml_what(sub, sizeof sub, what, "behaviour"),
             names, SIM_BYZ_COUNT,
             "silent, slow-reader, garbage, oversize, advert-flood, "
             "wrong-bytes, stale-commit, bad-chunks, garbage-datagrams or "
             "handshake-flood",
             &i)) != 0)
        return rc;
    f->behaviour = (enum sim_byzantine)i;
    return 0;
}

static int parse_skew(struct loader *ld, const yaml_node_t *n, const char *what,
                      struct sim_fault *f)
{
    static const char *const keys[] = {"nodes", "offset", "drift"};
    char sub[WHAT_BYTES];
    yaml_node_t *v[3];
    int rc;
    if ((rc = conf_yaml_map(ld->d, n, what, keys, 3, v)) != 0)
        return rc;
    if (v[0] == NULL)
        return conf_yaml_missing(ld->d, n, what, "nodes");
    if (v[1] == NULL && v[2] == NULL)
        return fail(ld, n, P2P_ERR_DECODE, "%s: needs 'offset' or 'drift'",
                    what);
    if ((rc = get_id_list(ld, v[0],
                          conf_yaml_what(sub, sizeof sub, what, "nodes"), false,
                          false, &f->nodes, &f->nodes_count)) != 0)
        return rc;
    if (v[1] != NULL &&
        (rc = get_offset(ld, v[1],
                         conf_yaml_what(sub, sizeof sub, what, "offset"),
                         &f->skew_offset_ns)) != 0)
        return rc;
    if (v[2] != NULL) {
        conf_yaml_what(sub, sizeof sub, what, "drift");
        if ((rc = conf_yaml_ppm(ld->d, v[2], sub, "a ppm value (e.g. 100ppm)",
                                &f->drift_ppm)) != 0)
            return rc;
        if (f->drift_ppm > SIM_SCENARIO_DRIFT_PPM_MAX ||
            f->drift_ppm < -SIM_SCENARIO_DRIFT_PPM_MAX)
            return fail(ld, v[2], P2P_ERR_DECODE,
                        "%s: out of range (-%dppm..%dppm)", sub,
                        SIM_SCENARIO_DRIFT_PPM_MAX, SIM_SCENARIO_DRIFT_PPM_MAX);
    }
    return 0;
}

static int parse_loss_fault(struct loader *ld, const yaml_node_t *n,
                            const char *what, struct sim_fault *f)
{
    static const char *const keys[] = {"links", "rate", "for"};
    char sub[WHAT_BYTES];
    yaml_node_t *v[3];
    int rc;
    if ((rc = conf_yaml_map(ld->d, n, what, keys, 3, v)) != 0)
        return rc;
    for (size_t i = 0; i < 3; i++) {
        if (v[i] == NULL)
            return conf_yaml_missing(ld->d, n, what, keys[i]);
    }
    if (!conf_yaml_scalar_is(v[0], "all"))
        return fail(ld, v[0], P2P_ERR_DECODE, "%s.links: expected 'all'", what);
    f->loss_all_links = true;
    if ((rc = get_loss(ld, v[1], conf_yaml_what(sub, sizeof sub, what, "rate"),
                       &f->loss_ppm)) != 0)
        return rc;
    return get_positive_duration(
        ld, v[2], conf_yaml_what(sub, sizeof sub, what, "for"), &f->for_ns);
}

/* blackhole: {nodes: [ids], for: T}, both required. */
static int parse_blackhole(struct loader *ld, const yaml_node_t *n,
                           const char *what, struct sim_fault *f)
{
    static const char *const keys[] = {"nodes", "for"};
    char sub[WHAT_BYTES];
    yaml_node_t *v[2];
    int rc;
    if ((rc = conf_yaml_map(ld->d, n, what, keys, 2, v)) != 0)
        return rc;
    for (size_t i = 0; i < 2; i++) {
        if (v[i] == NULL)
            return conf_yaml_missing(ld->d, n, what, keys[i]);
    }
    if ((rc = get_id_list(ld, v[0],
                          conf_yaml_what(sub, sizeof sub, what, "nodes"), false,
                          false, &f->nodes, &f->nodes_count)) != 0)
        return rc;
    return get_positive_duration(
        ld, v[1], conf_yaml_what(sub, sizeof sub, what, "for"), &f->for_ns);
}

static int parse_fault(struct loader *ld, const yaml_node_t *n, size_t index,
                       struct sim_fault *f)
{
    /* keys[1 + kind] is the key of fault kind `kind`. */
    static const char *const keys[] = {
        "at",        "partition",         "heal",
        "crash",     "restart",           "leave",
        "join",      "byzantine",         "skew",
        "loss",      "registry_earliest", "blackhole",
        "nat_rebind"};
    enum { AT, KEYS = 1 + SIM_FAULT_KINDS_COUNT };
    _Static_assert(sizeof keys / sizeof keys[0] == KEYS,
                   "a key for every fault kind");
    yaml_node_t *v[KEYS];
    char where[WHAT_BYTES], what[WHAT_BYTES], at[32], dur[32];
    int rc, kind = -1;
    snprintf(where, sizeof where, "faults[%zu]", index);
    f->line = conf_yaml_line(n);
    if ((rc = conf_yaml_map(ld->d, n, where, keys, KEYS, v)) != 0)
        return rc;
    if (v[AT] == NULL)
        return conf_yaml_missing(ld->d, n, where, "at");
    for (int k = 0; k < SIM_FAULT_KINDS_COUNT; k++) {
        if (v[1 + k] == NULL)
            continue;
        if (kind >= 0)
            return fail(ld, v[1 + k], P2P_ERR_DECODE,
                        "%s: has both '%s' and '%s' (one fault per entry)",
                        where, keys[1 + kind], keys[1 + k]);
        kind = k;
    }
    if (kind < 0)
        return fail(ld, n, P2P_ERR_DECODE,
                    "%s: needs one of partition, heal, crash, restart, leave, "
                    "join, byzantine, skew, loss, registry_earliest, "
                    "blackhole, nat_rebind",
                    where);
    f->kind = (enum sim_fault_kind)kind;
    conf_yaml_what(what, sizeof what, where, "at");
    if ((rc = get_duration(ld, v[AT], what, &f->at_ns)) != 0)
        return rc;
    if (f->at_ns > ld->sc->duration_ns) {
        conf_units_format_duration(f->at_ns, at, sizeof at);
        conf_units_format_duration(ld->sc->duration_ns, dur, sizeof dur);
        return fail(ld, v[AT], P2P_ERR_DECODE,
                    "%s: %s is beyond the scenario's duration (%s)", what, at,
                    dur);
    }
    const yaml_node_t *a = v[1 + kind];
    conf_yaml_what(what, sizeof what, where, keys[1 + kind]);
    switch (f->kind) {
    case SIM_FAULT_PARTITION:
        return parse_partition(ld, a, what, f);
    case SIM_FAULT_HEAL:
        if (!conf_yaml_scalar_is(a, "all"))
            return fail(ld, a, P2P_ERR_DECODE, "%s: expected 'all'", what);
        return 0;
    case SIM_FAULT_CRASH:
    case SIM_FAULT_RESTART:
    case SIM_FAULT_LEAVE:
    case SIM_FAULT_JOIN:
    case SIM_FAULT_NAT_REBIND:
        return get_id_list(ld, a, what, f->kind == SIM_FAULT_JOIN, false,
                           &f->nodes, &f->nodes_count);
    case SIM_FAULT_BYZANTINE:
        return parse_byzantine(ld, a, what, f);
    case SIM_FAULT_SKEW:
        return parse_skew(ld, a, what, f);
    case SIM_FAULT_LOSS:
        return parse_loss_fault(ld, a, what, f);
    case SIM_FAULT_BLACKHOLE:
        return parse_blackhole(ld, a, what, f);
    case SIM_FAULT_REGISTRY_EARLIEST:
        if (conf_yaml_scalar_is(a, "latest"))
            return 0; /* earliest_version 0 */
        if (a->type != YAML_SCALAR_NODE)
            return fail(ld, a, P2P_ERR_DECODE,
                        "%s: expected a registry version or 'latest'", what);
        return conf_yaml_u64(ld->d, a, what, 1, UINT64_MAX,
                             &f->earliest_version);
    default:
        P2P_UNREACHABLE();
        return P2P_ERR_INTERNAL;
    }
}

/* Stable merge sort of faults by at_ns. */
static int sort_faults(struct sim_fault *a, size_t n)
{
    size_t i = 1;
    while (i < n && a[i - 1].at_ns <= a[i].at_ns)
        i++;
    if (i >= n)
        return 0;
    struct sim_fault *tmp = malloc(n * sizeof *tmp);
    if (tmp == NULL)
        return P2P_ERR_NOMEM;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t l = lo, r = mid, o = lo;
            while (l < mid && r < hi)
                tmp[o++] = a[r].at_ns < a[l].at_ns ? a[r++] : a[l++];
            while (l < mid)
                tmp[o++] = a[l++];
            while (r < hi)
                tmp[o++] = a[r++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
    free(tmp);
    return 0;
}

static int parse_faults(struct loader *ld, const yaml_node_t *n)
{
    struct sim_scenario *sc = ld->sc;
    size_t count;
    int rc = conf_yaml_seq(ld->d, n, "faults", CONF_YAML_SEQ_NULL_EMPTY,
                           SIM_SCENARIO_FAULTS_MAX, &count);
    if (rc != 0 || count == 0)
        return rc;
    sc->faults = calloc(count, sizeof *sc->faults);
    if (sc->faults == NULL)
        return fail(ld, n, P2P_ERR_NOMEM, "out of memory");
    sc->faults_count = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item;
        if ((rc = conf_yaml_seq_item(ld->d, n, i, &item)) != 0)
            return rc;
        if ((rc = parse_fault(ld, item, i, &sc->faults[i])) != 0)
            return rc;
    }
    if (sort_faults(sc->faults, count) != 0)
        return fail(ld, n, P2P_ERR_NOMEM, "out of memory");
    return 0;
}

static int parse_expect_item(struct loader *ld, const yaml_node_t *n,
                             size_t index, struct sim_expect *e)
{
    static const char *const keys[] = {"delivered",           "state_synced",
                                       "max_memory_per_node", "penalised",
                                       "served_after_leave",  "slots_cleared",
                                       "heights_purged",      "within"};
    enum {
        DELIVERED,
        SYNCED,
        MEMORY,
        PENALISED,
        SERVED,
        CLEARED,
        HEIGHTS,
        WITHIN,
        KEYS
    };
    yaml_node_t *v[KEYS];
    char where[WHAT_BYTES], what[WHAT_BYTES];
    int rc, kind = -1;
    snprintf(where, sizeof where, "expect[%zu]", index);
    e->line = conf_yaml_line(n);
    if ((rc = conf_yaml_map(ld->d, n, where, keys, KEYS, v)) != 0)
        return rc;
    for (int k = DELIVERED; k <= HEIGHTS; k++) {
        if (v[k] == NULL)
            continue;
        if (kind >= 0)
            return fail(
                ld, v[k], P2P_ERR_DECODE,
                "%s: has both '%s' and '%s' (one expectation per entry)", where,
                keys[kind], keys[k]);
        kind = k;
    }
    if (kind < 0)
        return fail(ld, n, P2P_ERR_DECODE,
                    "%s: needs one of delivered, state_synced, "
                    "max_memory_per_node, penalised, served_after_leave, "
                    "slots_cleared, heights_purged",
                    where);
    conf_yaml_what(what, sizeof what, where, keys[kind]);
    switch (kind) {
    case DELIVERED:
        e->kind = SIM_EXPECT_DELIVERED;
        if (!conf_yaml_scalar_is(v[DELIVERED], "all"))
            return fail(ld, v[DELIVERED], P2P_ERR_DECODE, "%s: expected 'all'",
                        what);
        break;
    case CLEARED:
        e->kind = SIM_EXPECT_SLOTS_CLEARED;
        if (!conf_yaml_scalar_is(v[CLEARED], "purged"))
            return fail(ld, v[CLEARED], P2P_ERR_DECODE, "%s: expected 'purged'",
                        what);
        break;
    case HEIGHTS:
        e->kind = SIM_EXPECT_HEIGHTS_PURGED;
        if (!conf_yaml_scalar_is(v[HEIGHTS], "all"))
            return fail(ld, v[HEIGHTS], P2P_ERR_DECODE, "%s: expected 'all'",
                        what);
        if (!ld->sc->protocol.has_heights)
            return fail(ld, v[HEIGHTS], P2P_ERR_DECODE,
                        "%s: needs protocol.heights", what);
        break;
    case SYNCED:
        e->kind = SIM_EXPECT_STATE_SYNCED;
        if (!ld->sc->state.present)
            return fail(ld, v[SYNCED], P2P_ERR_DECODE,
                        "%s: needs a 'state' section", what);
        if ((rc = get_id_list(ld, v[SYNCED], what, false, false, &e->nodes,
                              &e->nodes_count)) != 0)
            return rc;
        break;
    case PENALISED:
        e->kind = SIM_EXPECT_PENALISED;
        if (!conf_yaml_scalar_is(v[PENALISED], "byzantine"))
            return fail(ld, v[PENALISED], P2P_ERR_DECODE,
                        "%s: expected 'byzantine'", what);
        if (v[WITHIN] != NULL)
            return fail(ld, v[WITHIN], P2P_ERR_DECODE,
                        "%s: 'within' does not apply to penalised", where);
        return 0;
    case SERVED:
        e->kind = SIM_EXPECT_SERVED_AFTER_LEAVE;
        if (v[WITHIN] != NULL)
            return fail(ld, v[WITHIN], P2P_ERR_DECODE,
                        "%s: 'within' does not apply to served_after_leave",
                        where);
        /* That each one leaves is the timeline check's (sim/faults.c). */
        return get_id_list(ld, v[SERVED], what, false, false, &e->nodes,
                           &e->nodes_count);
    default:
        e->kind = SIM_EXPECT_MAX_MEMORY;
        if ((rc = conf_yaml_size(ld->d, v[MEMORY], what, &Q_SIZE, &e->bytes)) !=
            0)
            return rc;
        if (e->bytes == 0)
            return fail(ld, v[MEMORY], P2P_ERR_DECODE,
                        "%s: must be greater than 0", what);
        if (v[WITHIN] != NULL)
            return fail(ld, v[WITHIN], P2P_ERR_DECODE,
                        "%s: 'within' does not apply to max_memory_per_node",
                        where);
        return 0;
    }
    if (v[WITHIN] == NULL)
        return conf_yaml_missing(ld->d, n, where, "within");
    return get_positive_duration(
        ld, v[WITHIN], conf_yaml_what(what, sizeof what, where, "within"),
        &e->within_ns);
}

static int parse_expects(struct loader *ld, const yaml_node_t *n)
{
    struct sim_scenario *sc = ld->sc;
    size_t count;
    int rc = conf_yaml_seq(ld->d, n, "expect", CONF_YAML_SEQ_NULL_EMPTY,
                           SIM_SCENARIO_EXPECTS_MAX, &count);
    if (rc != 0 || count == 0)
        return rc;
    sc->expects = calloc(count, sizeof *sc->expects);
    if (sc->expects == NULL)
        return fail(ld, n, P2P_ERR_NOMEM, "out of memory");
    sc->expects_count = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item;
        if ((rc = conf_yaml_seq_item(ld->d, n, i, &item)) != 0)
            return rc;
        if ((rc = parse_expect_item(ld, item, i, &sc->expects[i])) != 0)
            return rc;
    }
    return 0;
}

/* name: given, or the path's base name without .yaml/.yml. */
static int parse_name(struct loader *ld, const yaml_node_t *n)
{
    struct sim_scenario *sc = ld->sc;
    const char *src;
    size_t len;
    if (n != NULL) {
        if (n->type != YAML_SCALAR_NODE)
            return fail(ld, n, P2P_ERR_DECODE, "name: expected text, got %s",
                        type_name(n));
        src = (const char *)n->data.scalar.value;
        len = n->data.scalar.length;
        if (len == 0 || len > SIM_SCENARIO_NAME_BYTES_MAX)
            return fail(ld, n, P2P_ERR_DECODE,
                        "name: must be 1 to %u characters long",
                        SIM_SCENARIO_NAME_BYTES_MAX);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)src[i];
            if (c < 0x20 || c == 0x7f)
                return fail(ld, n, P2P_ERR_DECODE,
                            "name: must not contain control characters");
        }
    } else if (sc->path != NULL) {
        const char *slash = strrchr(sc->path, '/');
        src = slash ? slash + 1 : sc->path;
        len = strlen(src);
        if (len > 5 && strcmp(src + len - 5, ".yaml") == 0)
            len -= 5;
        else if (len > 4 && strcmp(src + len - 4, ".yml") == 0)
            len -= 4;
        if (len > SIM_SCENARIO_NAME_BYTES_MAX)
            len = SIM_SCENARIO_NAME_BYTES_MAX;
        if (len == 0) {
            src = "scenario";
            len = strlen(src);
        }
    } else {
        src = "scenario";
        len = strlen(src);
    }
    sc->name = malloc(len + 1);
    if (sc->name == NULL)
        return fail(ld, n, P2P_ERR_NOMEM, "out of memory");
    memcpy(sc->name, src, len);
    sc->name[len] = '\0';
    return 0;
}

static int parse_root(struct loader *ld, const yaml_node_t *root)
{
    static const char *const keys[] = {
        "name",     "seed",  "duration", "subnet", "network",
        "workload", "state", "faults",   "expect", "protocol"};
    enum {
        NAME,
        SEED,
        DURATION,
        SUBNET,
        NETWORK,
        WORKLOAD,
        STATE,
        FAULTS,
        EXPECT,
        PROTOCOL,
        KEYS
    };
    struct sim_scenario *sc = ld->sc;
    yaml_node_t *v[KEYS];
    int rc;
    if (root->type != YAML_MAPPING_NODE)
        return fail(ld, root, P2P_ERR_DECODE,
                    "a scenario must be a mapping (name: ..., duration: ...), "
                    "got %s",
                    type_name(root));
    if ((rc = conf_yaml_map(ld->d, root, "the scenario", keys, KEYS, v)) != 0)
        return rc;
    if (v[DURATION] == NULL)
        return conf_yaml_missing(ld->d, root, "", "duration");
    if (v[SUBNET] == NULL)
        return conf_yaml_missing(ld->d, root, "", "subnet");
    /* Order matters: ids need nodes, times need duration, state_synced
     * needs state. */
    if ((rc = parse_subnet(ld, v[SUBNET])) != 0 ||
        (rc = get_positive_duration(ld, v[DURATION], "duration",
                                    &sc->duration_ns)) != 0)
        return rc;
    sc->seed = SIM_SCENARIO_DEFAULT_SEED;
    if (v[SEED] != NULL) {
        sc->has_seed = true;
        if ((rc = get_u64(ld, v[SEED], "seed", &sc->seed)) != 0)
            return rc;
    }
    if ((rc = parse_name(ld, v[NAME])) != 0)
        return rc;
    ld->id_cap = sc->nodes + SIM_SCENARIO_JOIN_IDS_MAX;
    ld->id_seen = calloc(ld->id_cap, 1);
    ld->joinable = calloc(ld->id_cap, 1);
    if (ld->id_seen == NULL || ld->joinable == NULL)
        return fail(ld, NULL, P2P_ERR_NOMEM, "out of memory");
    collect_joins(ld, v[FAULTS]);
    sc->net.latency_ns = SIM_SCENARIO_DEFAULT_LATENCY_NS;
    sc->net.bandwidth_bps = SIM_SCENARIO_DEFAULT_BANDWIDTH_BPS;
    sc->net.model = SIM_MODEL_MESSAGE;
    sc->net.packet = (struct sim_packet_cfg){
        .mtu_bytes = SIM_SCENARIO_DEFAULT_MTU_BYTES,
        .queue_bytes = SIM_SCENARIO_DEFAULT_QUEUE_BYTES,
        .reorder_ns = SIM_SCENARIO_DEFAULT_REORDER_NS,
    };
    if (v[NETWORK] != NULL && (rc = parse_network(ld, v[NETWORK])) != 0)
        return rc;
    if (v[STATE] != NULL && (rc = parse_state(ld, v[STATE])) != 0)
        return rc;
    if (v[PROTOCOL] != NULL && (rc = parse_protocol(ld, v[PROTOCOL])) != 0)
        return rc;
    if (v[WORKLOAD] != NULL && (rc = parse_workload(ld, v[WORKLOAD])) != 0)
        return rc;
    if (v[FAULTS] != NULL && (rc = parse_faults(ld, v[FAULTS])) != 0)
        return rc;
    if (v[EXPECT] != NULL && (rc = parse_expects(ld, v[EXPECT])) != 0)
        return rc;
    return 0;
}

/* ---- entry points ---------------------------------------------------- */

/* Walks a loaded document into out. */
static int parse_doc(struct conf_yaml_doc *d, struct sim_scenario *out,
                     struct sim_scenario_error *err)
{
    struct loader ld = {.d = d, .sc = out};
    yaml_node_t *root = conf_yaml_root(d);
    if (root == NULL) {
        err->line = 1;
        snprintf(err->message, sizeof err->message,
                 "the file is empty (expected a scenario: duration, subnet, "
                 "...)");
        return P2P_ERR_DECODE;
    }
    int rc = parse_root(&ld, root);
    free(ld.id_seen);
    free(ld.joinable);
    return rc;
}

int sim_scenario_load_string(const char *text, size_t len,
                             const char *name_for_errors,
                             struct sim_scenario *out,
                             struct sim_scenario_error *err)
{
    struct sim_scenario_error local;
    struct conf_yaml_doc d;
    int rc;
    P2P_ASSERT(out != NULL);
    P2P_ASSERT(text != NULL || len == 0);
    if (err == NULL)
        err = &local;
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    if (name_for_errors != NULL && len <= SIM_SCENARIO_FILE_BYTES_MAX) {
        out->path = strdup(name_for_errors);
        if (out->path == NULL) {
            snprintf(err->message, sizeof err->message, "out of memory");
            return P2P_ERR_NOMEM;
        }
    }
    rc = conf_yaml_load(&d, (const uint8_t *)text, len, name_for_errors,
                        &SCENARIO_YAML, err->message, sizeof err->message);
    if (rc == 0)
        rc = parse_doc(&d, out, err);
    if (rc != 0 && err->line == 0) {
        err->line = d.err_line;
        err->column = d.err_column;
    }
    conf_yaml_fini(&d);
    if (rc != 0) {
        sim_scenario_fini(out);
        return rc;
    }
    P2P_ASSERT(out->nodes >= 1 && out->duration_ns > 0);
    P2P_ASSERT(out->node_ids_count >= out->nodes);
    return 0;
}

int sim_scenario_load_file(const char *path, struct sim_scenario *out,
                           struct sim_scenario_error *err)
{
    struct sim_scenario_error local;
    uint8_t *buf;
    size_t len;
    P2P_ASSERT(path != NULL && out != NULL);
    if (err == NULL)
        err = &local;
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    int rc = conf_yaml_read_file(path, &SCENARIO_YAML, &buf, &len, err->message,
                                 sizeof err->message);
    if (rc != 0)
        return rc;
    rc = sim_scenario_load_string((const char *)buf, len, path, out, err);
    free(buf);
    return rc;
}

void sim_scenario_fini(struct sim_scenario *s)
{
    if (s == NULL)
        return;
    free(s->name);
    free(s->path);
    free(s->net.links);
    free(s->workload);
    for (size_t i = 0; s->faults != NULL && i < s->faults_count; i++) {
        struct sim_fault *f = &s->faults[i];
        free(f->nodes);
        for (size_t g = 0; f->groups != NULL && g < f->groups_count; g++)
            free(f->groups[g]);
        free(f->groups);
        free(f->group_sizes);
    }
    free(s->faults);
    for (size_t i = 0; s->expects != NULL && i < s->expects_count; i++)
        free(s->expects[i].nodes);
    free(s->expects);
    memset(s, 0, sizeof *s);
}

void sim_scenario_error_format(const struct sim_scenario_error *err,
                               const char *path, char *buf, size_t len)
{
    P2P_ASSERT(err != NULL && buf != NULL && len > 0);
    if (path == NULL)
        path = "<scenario>";
    if (err->line > 0)
        snprintf(buf, len, "%s:%d: %s", path, err->line, err->message);
    else
        snprintf(buf, len, "%s: %s", path, err->message);
}

const char *sim_scenario_fault_kind_name(enum sim_fault_kind kind)
{
    static const char *const names[] = {
        "partition", "heal",      "crash", "restart", "leave",
        "join",      "byzantine", "skew",  "loss",    "registry_earliest",
        "blackhole", "nat_rebind"};
    _Static_assert(sizeof names / sizeof names[0] == SIM_FAULT_KINDS_COUNT,
                   "a name for every fault kind");
    return (unsigned)kind < SIM_FAULT_KINDS_COUNT ? names[kind] : "?";
}

const char *sim_scenario_byzantine_name(enum sim_byzantine behaviour)
{
    static const char *const names[] = {
        "silent",         "slow-reader",  "garbage",
        "oversize",       "advert-flood", "wrong-bytes",
        "stale-commit",   "bad-chunks",   "garbage-datagrams",
        "handshake-flood"};
    _Static_assert(sizeof names / sizeof names[0] == SIM_BYZ_COUNT,
                   "a name for every behaviour");
    return (unsigned)behaviour < SIM_BYZ_COUNT ? names[behaviour] : "?";
}

bool sim_scenario_fault_quic_only(enum sim_fault_kind kind)
{
    return kind == SIM_FAULT_BLACKHOLE || kind == SIM_FAULT_NAT_REBIND;
}

bool sim_scenario_byzantine_quic_only(enum sim_byzantine behaviour)
{
    return behaviour == SIM_BYZ_GARBAGE_DATAGRAMS ||
           behaviour == SIM_BYZ_HANDSHAKE_FLOOD;
}

const char *sim_scenario_model_name(enum sim_net_model model)
{
    switch (model) {
    case SIM_MODEL_MESSAGE:
        return "message";
    case SIM_MODEL_QUIC:
        return "quic";
    }
    return "?";
}

int sim_scenario_model_parse(const char *name, enum sim_net_model *out)
{
    P2P_ASSERT(name != NULL && out != NULL);
    if (strcmp(name, "message") == 0)
        *out = SIM_MODEL_MESSAGE;
    else if (strcmp(name, "quic") == 0)
        *out = SIM_MODEL_QUIC;
    else
        return P2P_ERR_INVALID_ARG;
    return 0;
}

/* One delay of the quic model: 0, or P2P_ERR_INVALID_ARG with "WHERE: 2h
 * is longer than the quic model's limit of 1h" (where names the key, with
 * its line when it has one). */
static int check_quic_delay(uint64_t ns, int line, const char *where, char *err,
                            size_t err_len)
{
    char text[32];
    if (ns <= SIM_SCENARIO_QUIC_DELAY_NS_MAX)
        return 0;
    if (err_len > 0) {
        conf_units_format_duration(ns, text, sizeof text);
        if (line > 0)
            snprintf(err, err_len,
                     "line %d: %s: %s is longer than the quic model's limit "
                     "of 1h",
                     line, where, text);
        else
            snprintf(err, err_len,
                     "%s: %s is longer than the quic model's limit of 1h",
                     where, text);
    }
    return P2P_ERR_INVALID_ARG;
}

/* The quic model's packet network delays a datagram by each of latency
 * and jitter up to SIM_SCENARIO_QUIC_DELAY_NS_MAX. */
static int check_quic_delays(const struct sim_network *net, char *err,
                             size_t err_len)
{
    char where[WHAT_BYTES];
    if (check_quic_delay(net->latency_ns, 0, "network.latency", err, err_len) !=
            0 ||
        check_quic_delay(net->jitter_ns, 0, "network.jitter", err, err_len) !=
            0)
        return P2P_ERR_INVALID_ARG;
    for (size_t i = 0; i < net->links_count; i++) {
        const struct sim_link_override *l = &net->links[i];
        snprintf(where, sizeof where, "network.links[%zu].latency", i);
        if (l->has_latency &&
            check_quic_delay(l->latency_ns, l->line, where, err, err_len) != 0)
            return P2P_ERR_INVALID_ARG;
        snprintf(where, sizeof where, "network.links[%zu].jitter", i);
        if (l->has_jitter &&
            check_quic_delay(l->jitter_ns, l->line, where, err, err_len) != 0)
            return P2P_ERR_INVALID_ARG;
    }
    return 0;
}

int sim_scenario_check_model(const struct sim_scenario *sc, char *err,
                             size_t err_len)
{
    P2P_ASSERT(sc != NULL);
    P2P_ASSERT(err != NULL || err_len == 0);
    if (err_len > 0)
        err[0] = '\0';
    if (sc->net.model == SIM_MODEL_QUIC)
        return check_quic_delays(&sc->net, err, err_len);
    for (size_t k = 0; k < sc->faults_count; k++) {
        const struct sim_fault *f = &sc->faults[k];
        if (sim_scenario_fault_quic_only(f->kind)) {
            if (err_len > 0)
                snprintf(err, err_len,
                         "line %d: fault '%s' needs network.model: quic (or "
                         "--model quic)",
                         f->line, sim_scenario_fault_kind_name(f->kind));
            return P2P_ERR_INVALID_ARG;
        }
        if (f->kind == SIM_FAULT_BYZANTINE &&
            sim_scenario_byzantine_quic_only(f->behaviour)) {
            if (err_len > 0)
                snprintf(err, err_len,
                         "line %d: byzantine behaviour '%s' needs "
                         "network.model: quic (or --model quic)",
                         f->line, sim_scenario_byzantine_name(f->behaviour));
            return P2P_ERR_INVALID_ARG;
        }
    }
    return 0;
}

const char *sim_scenario_expect_kind_name(enum sim_expect_kind kind)
{
    switch (kind) {
    case SIM_EXPECT_DELIVERED:
        return "delivered";
    case SIM_EXPECT_STATE_SYNCED:
        return "state_synced";
    case SIM_EXPECT_MAX_MEMORY:
        return "max_memory_per_node";
    case SIM_EXPECT_PENALISED:
        return "penalised";
    case SIM_EXPECT_SERVED_AFTER_LEAVE:
        return "served_after_leave";
    case SIM_EXPECT_SLOTS_CLEARED:
        return "slots_cleared";
    case SIM_EXPECT_HEIGHTS_PURGED:
        return "heights_purged";
    }
    return "?";
}

bool sim_scenario_registry_pinned(const struct sim_scenario *s)
{
    for (size_t k = 0; k < s->faults_count; k++)
        if (s->faults[k].kind == SIM_FAULT_REGISTRY_EARLIEST)
            return true;
    return false;
}

const char *sim_scenario_from_mode_name(enum sim_from_mode from)
{
    switch (from) {
    case SIM_FROM_ROUND_ROBIN:
        return "round-robin";
    case SIM_FROM_ANY:
        return "any";
    case SIM_FROM_NODE:
        return "node";
    }
    return "?";
}
