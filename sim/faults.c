/* Faults from the scenario's timeline (docs/scenario-format.md, "faults"): partitions and
 * heals, crashes and restarts, registry changes (join, leave), clock skew
 * and byzantine behaviour. Loss bursts are in run.c, the connections they
 * break in conn.c, byzantine behaviour itself in byzantine.c. */
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/pool.h"
#include "sim/world.h"

static void trace_fault(struct sim_world *w, uint32_t node, const char *what,
                        const char *fmt, unsigned long long v)
{
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, node, what, fmt, v);
}

/* The current registry version's members, in id order. */
static struct p2p_member *members_now(const struct sim_world *w,
                                      uint32_t *count)
{
    struct p2p_member *m = calloc(w->nodes_count, sizeof(*m));
    *count = 0;
    if (m == NULL)
        return NULL;
    for (uint32_t i = 0; i < w->nodes_count; i++)
        if (w->nodes[i].member)
            m[(*count)++].id = i;
    return m;
}

/* Notes, for every node, whether a registry version in use still lists
 * it, and when one that left stopped being listed. */
static void note_registry_use(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        struct sim_node *sn = &w->nodes[i];
        bool in_use = p2p_topology_is_member(&w->registry, i);
        if (sn->in_use && !in_use && sn->left_at != P2P_TIME_NEVER &&
            sn->dropped_at == P2P_TIME_NEVER)
            sn->dropped_at = w->now;
        sn->in_use = in_use;
    }
}

/* The current members as the next registry version into w->registry:
 * the earliest in use stays where it is when the scenario moves it
 * itself, else it is the new version. */
static int registry_add_version(struct sim_world *w)
{
    uint32_t count;
    struct p2p_member *m = members_now(w, &count);
    if (m == NULL)
        return P2P_ERR_NOMEM;
    bool pinned = sim_scenario_registry_pinned(w->sc);
    struct p2p_topology_update u = {.version = w->registry_version,
                                    .earliest_version =
                                        pinned && w->registry.version > 0
                                            ? w->registry.earliest_version
                                            : w->registry_version,
                                    .members = m,
                                    .count = count};
    int rc =
        p2p_topology_set(&w->registry, &w->registry_mem, &u, w->nodes_count);
    free(m);
    if (rc == 0)
        note_registry_use(w);
    return rc;
}

int sim_faults_registry_init(struct sim_world *w)
{
    p2p_mem_init(&w->registry_mem);
    p2p_topology_init(&w->registry);
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        w->nodes[i].left_at = P2P_TIME_NEVER;
        w->nodes[i].dropped_at = P2P_TIME_NEVER;
    }
    w->registry_version = 1;
    return registry_add_version(w);
}

void sim_faults_registry_fini(struct sim_world *w)
{
    p2p_topology_fini(&w->registry, &w->registry_mem);
}

/* Kept version k of w->registry to the node, with the earliest in use
 * (or k's own version, when the earliest lies past it: the oldest kept
 * version is the one in force at the earliest). */
static int give_version(struct sim_world *w, uint32_t node, uint32_t k)
{
    const struct p2p_topology_version *v = &w->registry.versions[k];
    uint64_t earliest = w->registry.earliest_version;
    struct p2p_topology_update u = {
        .version = v->version,
        .earliest_version = earliest < v->version ? earliest : v->version,
        .members = v->members,
        .count = v->count};
    int rc = p2p_node_on_topology(w->nodes[node].core,
                                  sim_world_local_now(w, node), &u);
    sim_world_mark(w, node);
    return rc;
}

/* Every version in use, oldest first, to a node that starts. */
static int give_registry(struct sim_world *w, uint32_t node)
{
    int rc = 0;
    for (uint32_t k = 0; rc == 0 && k < w->registry.versions_count; k++)
        rc = give_version(w, node, k);
    return rc;
}

/* A new registry version reaches every running node at once (in the sim
 * the registry has no propagation delay). */
static void publish_topology(struct sim_world *w)
{
    w->registry_version++;
    if (registry_add_version(w) != 0) {
        sim_world_violation(w, "out of memory publishing a topology");
        return;
    }
    trace_fault(w, 0, "registry", "version=%llu",
                (unsigned long long)w->registry_version);
    for (uint32_t i = 0; i < w->nodes_count; i++)
        if (w->nodes[i].running &&
            give_version(w, i, w->registry.versions_count - 1) != 0)
            sim_world_violation(w, "node %u refused registry version %llu", i,
                                (unsigned long long)w->registry_version);
    /* The running nodes react before anything else happens (a join then
     * starts the new nodes). */
    sim_world_settle(w);
}

/* The nodes' clients stop referencing the versions before f's. */
static void move_earliest(struct sim_world *w, const struct sim_fault *f)
{
    uint64_t earliest =
        f->earliest_version == 0 ? w->registry.version : f->earliest_version;
    /* Checked before the run (sim_faults_check); the registry's bound may
     * have moved it further already. */
    P2P_ASSERT(earliest <= w->registry.version);
    if (earliest < w->registry.earliest_version)
        earliest = w->registry.earliest_version;
    if (p2p_topology_set_earliest(&w->registry, &w->registry_mem, earliest) !=
        0) {
        sim_world_violation(w, "out of memory moving the earliest version");
        return;
    }
    trace_fault(w, 0, "registry_earliest", "version=%llu",
                (unsigned long long)earliest);
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        if (!w->nodes[i].running)
            continue;
        int rc = p2p_node_on_registry_earliest(
            w->nodes[i].core, sim_world_local_now(w, i), earliest);
        sim_world_mark(w, i);
        if (rc != 0)
            sim_world_violation(w, "node %u refused earliest version %llu: %s",
                                i, (unsigned long long)earliest,
                                p2p_strerror(rc));
    }
    sim_world_settle(w);
    note_registry_use(w);
}

static enum p2p_verdict sim_bouncer(void *ctx, const struct p2p_artifact_id *id,
                                    enum p2p_artifact_kind kind, uint64_t size)
{
    (void)kind;
    (void)size;
    struct sim_world *w = ctx;
    int64_t idx = sim_workload_artifact_find(w, id);
    /* The client no longer wants what it has purged by age. */
    if (idx >= 0 && w->artifacts[idx].expired <= w->now)
        return P2P_UNWANTED;
    return P2P_WANTS;
}

/* What the node persisted survives a crash: its validated pool. */
static void reinsert_persisted(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    for (size_t k = 0; k < sn->persisted_count; k++) {
        const struct sim_artifact *a = &w->artifacts[sn->persisted[k]];
        if (a->expired <= w->now)
            continue;
        struct p2p_body *body = sim_workload_artifact_body(w, sn->persisted[k]);
        if (body == NULL) {
            sim_world_violation(w, "out of memory restoring node %u", node);
            break;
        }
        int rc =
            p2p_node_insert_at_height(sn->core, sim_world_local_now(w, node),
                                      a->kind, body, a->height, NULL);
        p2p_body_release(body, NULL, P2P_MEM_POOL);
        if (rc != 0)
            sim_world_violation(w, "node %u could not restore an artifact: %s",
                                node, p2p_strerror(rc));
    }
    free(sn->persisted);
    sn->persisted = NULL;
    sn->persisted_count = 0;
}

int sim_faults_node_start(struct sim_world *w, uint32_t node)
{
    const struct sim_scenario *sc = w->sc;
    struct sim_node *sn = &w->nodes[node];
    struct p2p_config c;
    p2p_config_default(&c, node,
                       w->seed ^ (0x9e3779b97f4a7c15ULL * (node + 1)) ^
                           ((uint64_t)sn->incarnation << 48));
    c.node_ids_max = w->nodes_count;
    c.events = w->opt.events && SIM_TRACING(w);
    if (sc->protocol.has_push_threshold)
        c.push_threshold_bytes = sc->protocol.push_threshold_bytes;
    if (sc->protocol.has_relay)
        c.relay_advert = sc->protocol.relay_advert;
    if (sc->protocol.has_buggify)
        c.buggify = sc->protocol.buggify;
    int rc = p2p_node_new(&c, &sn->mem, &sn->core);
    if (rc != 0) {
        fprintf(stderr, "p2p-sim: node %u: %s\n", node, p2p_strerror(rc));
        return rc;
    }
    /* Messages carry artifact bodies by reference (sim/run.c). */
    p2p_node_outbox(sn->core)->shared_bodies = true;
    if (w->quic != NULL && (rc = sim_quic_model_node_start(w, node)) != 0)
        return rc;
    sn->running = true;
    sn->armed = P2P_TIME_NEVER;
    sn->live_since = w->now;
    p2p_time now = sim_world_local_now(w, node);
    p2p_node_set_bouncer(sn->core, now, sim_bouncer, w);
    if (w->registry_version > 0) {
        rc = give_registry(w, node);
        /* Its dials go out before its persisted artifacts return. */
        sim_world_settle(w);
        if (rc != 0) {
            fprintf(stderr, "p2p-sim: node %u refused the topology\n", node);
            return rc;
        }
    }
    /* The purge height is the client's: a new core learns it first. */
    if (w->purge_height > 0 &&
        (rc = p2p_node_purge_below(sn->core, now, w->purge_height)) != 0)
        return rc;
    reinsert_persisted(w, node);
    sim_state_run_node_started(w, node);
    /* Started as a whole before the fault moves on to the next node. */
    sim_world_mark(w, node);
    sim_world_settle(w);
    return 0;
}

static bool bit(const uint8_t *bits, uint32_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1u;
}

/* Volatile state is lost; the validated pool is what the node persisted.
 * Deliveries it had not yet validated are lost with it, and may happen
 * again after the restart. */
static void crash(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    if (!sn->running)
        return;
    const struct p2p_pool *pool = p2p_node_pool(sn->core);
    free(sn->persisted);
    sn->persisted = NULL;
    sn->persisted_count = 0;
    size_t cap = 0;
    for (size_t i = 0; i < w->artifacts_count; i++) {
        struct sim_artifact *a = &w->artifacts[i];
        const struct p2p_pool_entry *e = p2p_pool_get(pool, &a->id);
        if (e != NULL && e->section == P2P_POOL_VALIDATED) {
            if (sn->persisted_count == cap) {
                cap = cap ? cap * 2 : 64;
                uint32_t *p = realloc(sn->persisted, cap * sizeof(*p));
                if (p == NULL) {
                    sim_world_violation(w, "out of memory crashing node %u",
                                        node);
                    return;
                }
                sn->persisted = p;
            }
            sn->persisted[sn->persisted_count++] = (uint32_t)i;
        } else if (bit(a->delivered, node)) {
            a->delivered[node / 8] &= (uint8_t) ~(1u << (node % 8));
            a->deliveries--;
        }
    }
    P2P_ASSERT(!sn->dirty); /* nothing called its core in this event */
    sim_state_run_node_crashed(w, node);
    sim_uplink_drop(w, node); /* its unsent messages die with it */
    if (w->quic != NULL)
        sim_quic_model_node_crash(w, node);
    p2p_node_del(sn->core);
    sn->core = NULL;
    sn->running = false;
    sn->crashed = true;
    sn->armed = P2P_TIME_NEVER;
    trace_fault(w, node, "crash", "persisted=%llu",
                (unsigned long long)sn->persisted_count);
}

static void partition(struct sim_world *w, const struct sim_fault *f)
{
    for (uint32_t i = 0; i < w->nodes_count; i++)
        w->nodes[i].group = 0;
    for (size_t g = 0; g < f->groups_count; g++)
        for (size_t k = 0; k < f->group_sizes[g]; k++)
            w->nodes[f->groups[g][k]].group = (uint32_t)g + 1;
    trace_fault(w, 0, "partition", "groups=%llu",
                (unsigned long long)f->groups_count);
}

void sim_faults_fire(struct sim_world *w, uint64_t fault)
{
    const struct sim_fault *f = &w->sc->faults[fault];
    switch (f->kind) {
    case SIM_FAULT_PARTITION:
        partition(w, f);
        sim_conn_paths_changed(w);
        break;
    case SIM_FAULT_HEAL:
        for (uint32_t i = 0; i < w->nodes_count; i++)
            w->nodes[i].group = 0;
        if (SIM_TRACING(w))
            sim_trace_line(&w->trace, w->now, 0, "heal", "all");
        sim_conn_paths_changed(w);
        break;
    case SIM_FAULT_CRASH:
        for (size_t k = 0; k < f->nodes_count; k++)
            crash(w, f->nodes[k]);
        sim_conn_paths_changed(w);
        break;
    case SIM_FAULT_RESTART:
        for (size_t k = 0; k < f->nodes_count; k++) {
            uint32_t node = f->nodes[k];
            if (w->nodes[node].running)
                continue;
            w->nodes[node].incarnation++;
            w->nodes[node].crashed = false;
            sim_conn_node_restarted(w, node);
            trace_fault(w, node, "restart", "incarnation=%llu",
                        w->nodes[node].incarnation);
            if (sim_faults_node_start(w, node) != 0)
                sim_world_violation(w, "node %u could not restart", node);
            else if (w->nodes[node].byzantine)
                sim_byzantine_start(w, node);
        }
        sim_conn_paths_changed(w);
        break;
    case SIM_FAULT_LEAVE:
        for (size_t k = 0; k < f->nodes_count; k++) {
            w->nodes[f->nodes[k]].member = false;
            w->nodes[f->nodes[k]].left_at = w->now;
            w->nodes[f->nodes[k]].dropped_at = P2P_TIME_NEVER;
        }
        publish_topology(w);
        break;
    case SIM_FAULT_JOIN:
        for (size_t k = 0; k < f->nodes_count; k++) {
            w->nodes[f->nodes[k]].member = true;
            w->nodes[f->nodes[k]].live_since = w->now;
        }
        publish_topology(w);
        for (size_t k = 0; k < f->nodes_count; k++) {
            uint32_t node = f->nodes[k];
            if (w->nodes[node].running || w->nodes[node].crashed)
                continue; /* a member again, or crashed: not a new node */
            trace_fault(w, node, "join", "version=%llu",
                        (unsigned long long)w->registry_version);
            if (sim_faults_node_start(w, node) != 0)
                sim_world_violation(w, "node %u could not join", node);
        }
        sim_conn_paths_changed(w);
        break;
    case SIM_FAULT_BYZANTINE:
        for (size_t k = 0; k < f->nodes_count; k++) {
            struct sim_node *sn = &w->nodes[f->nodes[k]];
            sn->byzantine = true;
            sn->behaviour = f->behaviour;
            if (SIM_TRACING(w))
                sim_trace_line(&w->trace, w->now, f->nodes[k], "byzantine",
                               "behaviour=%s",
                               sim_scenario_byzantine_name(f->behaviour));
            sim_byzantine_start(w, f->nodes[k]);
        }
        break;
    case SIM_FAULT_SKEW:
        for (size_t k = 0; k < f->nodes_count; k++) {
            struct sim_node *sn = &w->nodes[f->nodes[k]];
            (void)sim_clock_skew(&sn->clock, w->now, f->skew_offset_ns,
                                 f->drift_ppm);
            if (sn->running)
                sim_world_mark(w, f->nodes[k]); /* re-arms on the new clock */
            if (w->quic != NULL)
                sim_quic_model_skew(w, f->nodes[k], f->drift_ppm);
            if (SIM_TRACING(w))
                sim_trace_line(&w->trace, w->now, f->nodes[k], "skew",
                               "offset_ns=%lld drift_ppm=%lld",
                               (long long)f->skew_offset_ns,
                               (long long)f->drift_ppm);
        }
        break;
    case SIM_FAULT_REGISTRY_EARLIEST:
        move_earliest(w, f);
        break;
    case SIM_FAULT_BLACKHOLE:
        for (size_t k = 0; k < f->nodes_count; k++) {
            sim_quic_model_blackhole(w, f->nodes[k], true);
            trace_fault(w, f->nodes[k], "blackhole", "for_ns=%llu",
                        (unsigned long long)f->for_ns);
        }
        sim_world_push_event(w,
                             &(struct sim_event){.time = w->now + f->for_ns,
                                                 .type = SIM_EV_BLACKHOLE_END,
                                                 .arg = fault});
        break;
    case SIM_FAULT_NAT_REBIND:
        for (size_t k = 0; k < f->nodes_count; k++) {
            sim_quic_model_nat_rebind(w, f->nodes[k]);
            trace_fault(w, f->nodes[k], "nat_rebind", "fault=%llu", fault);
        }
        break;
    case SIM_FAULT_LOSS:
    case SIM_FAULT_KINDS_COUNT:
        break;
    }
}

void sim_faults_blackhole_end(struct sim_world *w, uint64_t fault)
{
    const struct sim_fault *f = &w->sc->faults[fault];
    for (size_t k = 0; k < f->nodes_count; k++) {
        sim_quic_model_blackhole(w, f->nodes[k], false);
        trace_fault(w, f->nodes[k], "blackhole_end", "fault=%llu", fault);
    }
}

void sim_faults_schedule(struct sim_world *w)
{
    for (size_t k = 0; k < w->sc->faults_count; k++) {
        const struct sim_fault *f = &w->sc->faults[k];
        if (f->kind == SIM_FAULT_LOSS) {
            sim_world_push_event(w,
                                 &(struct sim_event){.time = f->at_ns,
                                                     .type = SIM_EV_LOSS_START,
                                                     .node = 0,
                                                     .arg = k});
            sim_world_push_event(
                w, &(struct sim_event){.time = f->at_ns + f->for_ns,
                                       .type = SIM_EV_LOSS_END,
                                       .node = 0,
                                       .arg = k});
        } else {
            sim_world_push_event(w, &(struct sim_event){.time = f->at_ns,
                                                        .type = SIM_EV_FAULT,
                                                        .node = 0,
                                                        .arg = k});
        }
    }
}

/* ---- checking the timeline before a run ---- */

static int bad(FILE *err, const struct sim_scenario *sc,
               const struct sim_fault *f, const char *msg, uint32_t node)
{
    fprintf(err, "%s:%d: %s fault: node %u %s\n", sc->path ? sc->path : "",
            f->line, sim_scenario_fault_kind_name(f->kind), node, msg);
    return P2P_ERR_DECODE;
}

/* Each registry_earliest names a version that exists by then (1, plus
 * one per leave or join before it) and does not move back. */
static int check_registry(const struct sim_scenario *sc, FILE *err)
{
    uint64_t version = 1, earliest = 0;
    for (size_t k = 0; k < sc->faults_count; k++) {
        const struct sim_fault *f = &sc->faults[k];
        if (f->kind == SIM_FAULT_LEAVE || f->kind == SIM_FAULT_JOIN)
            version++;
        if (f->kind != SIM_FAULT_REGISTRY_EARLIEST)
            continue;
        uint64_t v = f->earliest_version == 0 ? version : f->earliest_version;
        const char *why = v > version    ? "is past the latest registry "
                                           "version by then"
                          : v < earliest ? "is older than the earliest "
                                           "version already in use"
                                         : NULL;
        if (why != NULL) {
            fprintf(err,
                    "%s:%d: registry_earliest fault: version %llu %s "
                    "(%llu)\n",
                    sc->path ? sc->path : "", f->line, (unsigned long long)v,
                    why,
                    (unsigned long long)(v > version ? version : earliest));
            return P2P_ERR_DECODE;
        }
        earliest = v;
    }
    return 0;
}

/* Each node a served_after_leave expectation lists leaves exactly once
 * and does not join again after it. */
static int check_served(const struct sim_scenario *sc, FILE *err)
{
    for (size_t x = 0; x < sc->expects_count; x++) {
        const struct sim_expect *e = &sc->expects[x];
        for (size_t j = 0;
             e->kind == SIM_EXPECT_SERVED_AFTER_LEAVE && j < e->nodes_count;
             j++) {
            uint32_t v = e->nodes[j], leaves = 0;
            bool back = false;
            for (size_t k = 0; k < sc->faults_count; k++) {
                const struct sim_fault *f = &sc->faults[k];
                for (size_t i = 0; i < f->nodes_count; i++) {
                    if (f->nodes[i] != v)
                        continue;
                    leaves += f->kind == SIM_FAULT_LEAVE;
                    back |= f->kind == SIM_FAULT_JOIN && leaves > 0;
                }
            }
            if (leaves != 1 || back) {
                fprintf(err,
                        "%s:%d: served_after_leave: node %u must leave "
                        "exactly once and not join again (it leaves %u "
                        "times%s)\n",
                        sc->path ? sc->path : "", e->line, v, leaves,
                        back ? " and joins again" : "");
                return P2P_ERR_DECODE;
            }
        }
    }
    return 0;
}

int sim_faults_check(const struct sim_scenario *sc, FILE *err)
{
    uint32_t n = sc->node_ids_count;
    /* 1 running, 2 crashed; 0 never started. */
    uint8_t *state = calloc(n ? n : 1, 1);
    bool *member = calloc(n ? n : 1, sizeof(bool));
    int rc = state == NULL || member == NULL ? P2P_ERR_NOMEM : 0;
    if (rc != 0)
        fprintf(err, "p2p-sim: out of memory\n");
    for (uint32_t i = 0; rc == 0 && i < sc->nodes; i++) {
        state[i] = 1;
        member[i] = true;
    }
    for (size_t k = 0; rc == 0 && k < sc->faults_count; k++) {
        const struct sim_fault *f = &sc->faults[k];
        if (f->kind == SIM_FAULT_BYZANTINE &&
            f->behaviour == SIM_BYZ_BAD_CHUNKS && !sc->state.present) {
            fprintf(err,
                    "%s:%d: byzantine behaviour 'bad-chunks' needs a "
                    "'state' section (it serves wrong state chunks)\n",
                    sc->path ? sc->path : "", f->line);
            rc = P2P_ERR_DECODE;
        }
        for (size_t j = 0; rc == 0 && j < f->nodes_count; j++) {
            uint32_t v = f->nodes[j];
            switch (f->kind) {
            case SIM_FAULT_CRASH:
                if (state[v] != 1)
                    rc = bad(err, sc, f, "is not running", v);
                state[v] = 2;
                break;
            case SIM_FAULT_RESTART:
                if (state[v] != 2)
                    rc = bad(err, sc, f, "has not crashed", v);
                state[v] = 1;
                break;
            case SIM_FAULT_LEAVE:
                if (!member[v])
                    rc = bad(err, sc, f, "is not a member", v);
                member[v] = false;
                break;
            case SIM_FAULT_JOIN:
                if (member[v])
                    rc = bad(err, sc, f, "is a member already", v);
                member[v] = true;
                if (state[v] == 0)
                    state[v] = 1;
                break;
            case SIM_FAULT_BYZANTINE:
            case SIM_FAULT_SKEW:
                if (state[v] == 0)
                    rc = bad(err, sc, f, "has not joined yet", v);
                break;
            default:
                break;
            }
        }
    }
    free(state);
    free(member);
    if (rc == 0)
        rc = check_registry(sc, err);
    if (rc == 0)
        rc = check_served(sc, err);
    return rc;
}
