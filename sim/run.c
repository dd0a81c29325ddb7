/* The simulation loop: pops events in (time, seq) order, feeds them to the
 * nodes' cores, and carries out the actions the cores emit. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "sim/world.h"

#define TRACING(w) ((w)->trace.file != NULL || (w)->trace.record)
#define PROGRESS_EVERY_EVENTS (1u << 16)
#define PROGRESS_WALL_S 2.0

void sim_violation(struct sim_world *w, const char *fmt, ...)
{
    if (w->stats.violation[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->stats.violation, sizeof(w->stats.violation), fmt, ap);
    va_end(ap);
    w->stop = true;
}

static void push_event(struct sim_world *w, p2p_time t, uint32_t type,
                       uint32_t node, uint64_t arg, void *ptr)
{
    if (sim_eq_push(&w->queue, t, type, node, arg, ptr) != 0)
        sim_violation(w, "event queue bound (%u events) reached",
                      SIM_EVENTS_QUEUED_MAX);
}

static void rearm(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    p2p_time d = p2p_node_next_deadline(sn->core);
    if (d >= sn->armed)
        return;
    sn->armed = d < w->now ? w->now : d;
    push_event(w, sn->armed, SIM_EV_TIMER, node, 0, NULL);
}

static void send_msg(struct sim_world *w, uint32_t from,
                     const struct p2p_action *a, enum sim_msg_kind kind,
                     bool inbound)
{
    struct sim_msg *m = calloc(1, sizeof(*m));
    if (m == NULL || (a->len > 0 && (m->bytes = malloc(a->len)) == NULL)) {
        free(m);
        sim_violation(w, "out of memory carrying a message");
        return;
    }
    m->kind = kind;
    m->from = from;
    m->stream_id = a->stream_id;
    m->inbound = inbound;
    m->traffic = a->traffic;
    m->len = a->len;
    if (a->len > 0)
        memcpy(m->bytes, a->bytes, a->len);
    p2p_time at = sim_net_send(&w->net, w->now, from, a->peer, a->len);
    if (kind == SIM_MSG_DATA) {
        w->stats.bytes_sent += a->len;
        w->stats.bytes_by_traffic[a->traffic] += a->len;
        w->stats.messages_sent++;
    }
    if (TRACING(w))
        sim_trace_line(&w->trace, w->now, from,
                       kind == SIM_MSG_RESET ? "reset" : "send",
                       "peer=%u stream=%llu %s bytes=%zu", a->peer,
                       (unsigned long long)a->stream_id,
                       p2p_traffic_name(a->traffic), a->len);
    push_event(w, at, SIM_EV_MESSAGE, a->peer, 0, m);
}

static void on_received(struct sim_world *w, uint32_t node,
                        const struct p2p_action *a)
{
    int64_t idx = sim_artifact_find(w, &a->id);
    char hex[17];
    p2p_id_hex(&a->id, hex, 16);
    if (idx < 0) {
        sim_violation(w, "node %u received artifact %s that no node made",
                      node, hex);
        return;
    }
    struct sim_artifact *art = &w->artifacts[idx];
    if (node == art->creator || (art->delivered[node / 8] & (1u << (node % 8)))) {
        sim_violation(w, "artifact %s delivered twice to node %u", hex, node);
        return;
    }
    art->delivered[node / 8] |= (uint8_t)(1u << (node % 8));
    art->deliveries++;
    p2p_time latency = w->now - art->created;
    struct sim_stats *st = &w->stats;
    if (st->latencies_count == st->latencies_capacity) {
        size_t cap = st->latencies_capacity ? st->latencies_capacity * 2 : 4096;
        uint64_t *l = realloc(st->latencies_ns, cap * sizeof(*l));
        if (l != NULL)
            st->latencies_ns = l;
        p2p_time *c = realloc(st->created_ns, cap * sizeof(*c));
        if (c != NULL)
            st->created_ns = c;
        if (l == NULL || c == NULL) {
            sim_violation(w, "out of memory recording latencies");
            return;
        }
        st->latencies_capacity = cap;
    }
    st->created_ns[st->latencies_count] = art->created;
    st->latencies_ns[st->latencies_count++] = latency;
    if (TRACING(w))
        sim_trace_line(&w->trace, w->now, node, "deliver",
                       "peer=%u id=%s bytes=%llu latency_us=%llu", a->peer, hex,
                       (unsigned long long)a->size,
                       (unsigned long long)(latency / P2P_NS_PER_US));
    push_event(w, w->now + w->validation_delay_ns, SIM_EV_VALIDATE, node,
               (uint64_t)idx, NULL);
}

void sim_node_drain(struct sim_world *w, uint32_t node)
{
    struct p2p_outbox *o = p2p_node_outbox(w->nodes[node].core);
    for (size_t i = 0; i < p2p_outbox_count(o); i++) {
        const struct p2p_action *a = p2p_outbox_at(o, i);
        switch (a->type) {
        case P2P_ACT_STREAM_OPEN:
            send_msg(w, node, a, SIM_MSG_DATA, true);
            break;
        case P2P_ACT_STREAM_RESPOND:
            send_msg(w, node, a, SIM_MSG_DATA, false);
            break;
        case P2P_ACT_STREAM_RESET:
            /* The peer sees a reset of the stream from its own side. */
            send_msg(w, node, a, SIM_MSG_RESET, !a->inbound);
            break;
        case P2P_ACT_ARTIFACT_RECEIVED:
            on_received(w, node, a);
            break;
        case P2P_ACT_EVENT:
            if (TRACING(w)) {
                char hex[17];
                p2p_id_hex(&a->id, hex, 16);
                sim_trace_line(&w->trace, w->now, node, p2p_event_name(a->event),
                               "peer=%d id=%s value=%lld",
                               a->peer == P2P_NODE_NONE ? -1 : (int)a->peer,
                               hex, (long long)a->value);
            }
            break;
        }
    }
    p2p_outbox_clear(o);
    struct p2p_mem *mem = &w->nodes[node].mem;
    if (mem->bytes_peak > w->stats.peak_memory_bytes) {
        w->stats.peak_memory_bytes = mem->bytes_peak;
        w->stats.peak_memory_node = node;
    }
    rearm(w, node);
}

static void on_message(struct sim_world *w, uint32_t node, struct sim_msg *m)
{
    struct p2p_node *core = w->nodes[node].core;
    if (TRACING(w))
        sim_trace_line(&w->trace, w->now, node,
                       m->kind == SIM_MSG_RESET ? "recv_reset" : "recv",
                       "peer=%u stream=%llu %s bytes=%zu", m->from,
                       (unsigned long long)m->stream_id,
                       p2p_traffic_name(m->traffic), m->len);
    if (m->kind == SIM_MSG_DATA)
        (void)p2p_node_on_stream_data(core, w->now, m->from, m->stream_id,
                                      m->inbound, m->bytes, m->len, true);
    else
        (void)p2p_node_on_stream_reset(core, w->now, m->from, m->stream_id,
                                       m->inbound);
    sim_node_drain(w, node);
}

static void on_validate(struct sim_world *w, uint32_t node, uint64_t idx)
{
    const struct sim_artifact *art = &w->artifacts[idx];
    int rc = p2p_node_validate(w->nodes[node].core, w->now, &art->id, true);
    if (TRACING(w)) {
        char hex[17];
        p2p_id_hex(&art->id, hex, 16);
        sim_trace_line(&w->trace, w->now, node, "validate", "id=%s rc=%d", hex,
                       rc);
    }
    sim_node_drain(w, node);
}

static void on_expire(struct sim_world *w, uint64_t idx)
{
    struct sim_artifact *art = &w->artifacts[idx];
    art->expired = w->now;
    if (TRACING(w)) {
        char hex[17];
        p2p_id_hex(&art->id, hex, 16);
        sim_trace_line(&w->trace, w->now, art->creator, "expire", "id=%s", hex);
    }
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        if (p2p_node_remove(w->nodes[i].core, w->now, &art->id) == 0)
            sim_node_drain(w, i);
    }
}

static void on_loss(struct sim_world *w, uint64_t fault, bool start)
{
    const struct sim_fault *f = &w->sc->faults[fault];
    /* Overlapping bursts add up (capped where the loss is applied). */
    if (start)
        w->net.burst_loss_ppm += f->loss_ppm;
    else
        w->net.burst_loss_ppm -= f->loss_ppm;
    if (TRACING(w))
        sim_trace_line(&w->trace, w->now, 0, start ? "loss_start" : "loss_end",
                       "rate_ppm=%u", f->loss_ppm);
}

static void free_event(struct sim_event *e)
{
    if (e->type == SIM_EV_MESSAGE) {
        struct sim_msg *m = e->ptr;
        free(m->bytes);
        free(m);
    }
}

static void dispatch(struct sim_world *w, struct sim_event *e)
{
    switch ((enum sim_event_type)e->type) {
    case SIM_EV_MESSAGE:
        on_message(w, e->node, e->ptr);
        break;
    case SIM_EV_TIMER:
        if (w->nodes[e->node].armed != e->time)
            break; /* superseded by an earlier deadline */
        w->nodes[e->node].armed = P2P_TIME_NEVER;
        (void)p2p_node_on_timer(w->nodes[e->node].core, w->now);
        sim_node_drain(w, e->node);
        break;
    case SIM_EV_WORKLOAD:
        sim_workload_fire(w, (uint32_t)e->arg);
        break;
    case SIM_EV_VALIDATE:
        on_validate(w, e->node, e->arg);
        break;
    case SIM_EV_EXPIRE:
        on_expire(w, e->arg);
        break;
    case SIM_EV_LOSS_START:
    case SIM_EV_LOSS_END:
        on_loss(w, e->arg, e->type == SIM_EV_LOSS_START);
        break;
    }
    free_event(e);
}

/* Cheap invariants after every event; the deep walk every
 * SIM_DEEP_CHECK_EVERY events of a node. */
static void check_invariants(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    bool deep = ++sn->events % SIM_DEEP_CHECK_EVERY == 0;
    int rc = deep ? p2p_node_check_invariants_deep(sn->core)
                  : p2p_node_check_invariants(sn->core);
    if (rc != 0)
        sim_violation(w, "node %u broke a core invariant%s at t=%llu ns", node,
                      deep ? " (deep check)" : "", (unsigned long long)w->now);
}

static void check_all_deep(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->nodes_count && !w->stop; i++)
        if (p2p_node_check_invariants_deep(w->nodes[i].core) != 0)
            sim_violation(w, "node %u broke a core invariant (final deep "
                          "check)", i);
}

static void progress(struct sim_world *w, struct timespec *last)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double dt = (double)(ts.tv_sec - last->tv_sec) +
                (double)(ts.tv_nsec - last->tv_nsec) / 1e9;
    if (dt < PROGRESS_WALL_S)
        return;
    *last = ts;
    fprintf(stderr, "progress: t=%.1fs of %.1fs, %llu events, %zu deliveries\n",
            (double)w->now / 1e9, (double)w->end / 1e9,
            (unsigned long long)w->stats.events, w->stats.latencies_count);
}

static int init_nodes(struct sim_world *w)
{
    const struct sim_scenario *sc = w->sc;
    w->nodes = calloc(w->nodes_count, sizeof(*w->nodes));
    if (w->nodes == NULL)
        return -1;
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        struct sim_node *sn = &w->nodes[i];
        p2p_mem_init(&sn->mem);
        sn->armed = P2P_TIME_NEVER;
        struct p2p_config c;
        p2p_config_default(&c, i, w->seed ^ (0x9e3779b97f4a7c15ULL * (i + 1)));
        c.node_ids_max = w->nodes_count + SIM_SCENARIO_JOIN_IDS_MAX + 1;
        c.events = w->opt.events && TRACING(w);
        if (sc->protocol.has_push_threshold)
            c.push_threshold_bytes = sc->protocol.push_threshold_bytes;
        if (sc->protocol.has_relay)
            c.relay_advert = sc->protocol.relay_advert;
        int rc = p2p_node_new(&c, &sn->mem, &sn->core);
        if (rc != 0) {
            fprintf(stderr, "p2p-sim: node %u: %s\n", i, p2p_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static enum p2p_verdict sim_bouncer(void *ctx, const struct p2p_artifact_id *id,
                                    enum p2p_artifact_kind kind, uint64_t size)
{
    (void)kind;
    (void)size;
    struct sim_world *w = ctx;
    int64_t idx = sim_artifact_find(w, id);
    /* The client no longer wants what it has purged by age. */
    if (idx >= 0 && w->artifacts[idx].expired <= w->now)
        return P2P_UNWANTED;
    return P2P_WANTS;
}

static void connect_all(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        p2p_node_set_bouncer(w->nodes[i].core, 0, sim_bouncer, w);
        for (uint32_t j = 0; j < w->nodes_count; j++)
            if (i != j)
                (void)p2p_node_on_peer_up(w->nodes[i].core, 0, j);
    }
    for (uint32_t i = 0; i < w->nodes_count; i++)
        sim_node_drain(w, i);
}

static void schedule_faults(struct sim_world *w)
{
    for (size_t k = 0; k < w->sc->faults_count; k++) {
        const struct sim_fault *f = &w->sc->faults[k];
        if (f->kind != SIM_FAULT_LOSS)
            continue;
        push_event(w, f->at_ns, SIM_EV_LOSS_START, 0, k, NULL);
        push_event(w, f->at_ns + f->for_ns, SIM_EV_LOSS_END, 0, k, NULL);
    }
}

static void set_horizon(struct sim_world *w)
{
    const struct sim_scenario *sc = w->sc;
    p2p_time drain = 0;
    for (size_t k = 0; k < sc->expects_count; k++) {
        const struct sim_expect *e = &sc->expects[k];
        if (e->within_ns > drain)
            drain = e->within_ns;
        if (e->kind == SIM_EXPECT_DELIVERED &&
            (w->delivered_within_ns == 0 || e->within_ns < w->delivered_within_ns))
            w->delivered_within_ns = e->within_ns;
    }
    /* Drain until every `within` has passed, counted from the end of the
     * run or of the last fault, whichever is later. */
    p2p_time last = sc->duration_ns;
    for (size_t k = 0; k < sc->faults_count; k++) {
        const struct sim_fault *f = &sc->faults[k];
        if (f->kind == SIM_FAULT_LOSS && f->at_ns + f->for_ns > last)
            last = f->at_ns + f->for_ns;
    }
    w->end = last + drain;
}

int sim_world_run(struct sim_world *w, const struct sim_scenario *sc,
                  const struct sim_options *opt)
{
    memset(w, 0, sizeof(*w));
    w->sc = sc;
    w->opt = *opt;
    w->seed = opt->has_seed ? opt->seed : sc->seed;
    w->nodes_count = sc->nodes;
    w->validation_delay_ns = sc->protocol.has_validation_delay
                                 ? sc->protocol.validation_delay_ns
                                 : SIM_DEFAULT_VALIDATION_DELAY_NS;
    w->artifact_ttl_ns = sc->protocol.has_artifact_ttl
                             ? sc->protocol.artifact_ttl_ns
                             : SIM_DEFAULT_ARTIFACT_TTL_NS;
    sim_trace_init(&w->trace, opt->trace_file, opt->record_hashes);
    w->trace.stop_at_line = opt->capture_line;
    sim_eq_init(&w->queue, SIM_EVENTS_QUEUED_MAX);
    p2p_mem_init(&w->index_mem);
    p2p_keymap_init(&w->artifact_by_id, &w->index_mem, P2P_MEM_OTHER,
                    SIM_ARTIFACTS_MAX, w->seed);
    p2p_rng_init(&w->workload_rng, w->seed, 0x776b6c64 /* "wkld" */);
    set_horizon(w);
    if (sim_net_init(&w->net, sc, w->nodes_count, w->seed) != 0 ||
        init_nodes(w) != 0)
        return -1;
    connect_all(w);
    schedule_faults(w);
    sim_workload_start(w);

    struct timespec last;
    clock_gettime(CLOCK_MONOTONIC, &last);
    struct sim_event e;
    while (!w->stop && sim_eq_pop(&w->queue, &e)) {
        if (e.time > w->end) {
            free_event(&e);
            break;
        }
        w->now = e.time;
        uint32_t node = e.node;
        dispatch(w, &e);
        w->stats.events++;
        if (w->opt.invariants && node < w->nodes_count)
            check_invariants(w, node);
        if (!w->opt.quiet && (w->stats.events % PROGRESS_EVERY_EVENTS) == 0)
            progress(w, &last);
    }
    if (w->opt.invariants)
        check_all_deep(w);
    return 0;
}

void sim_world_fini(struct sim_world *w)
{
    struct sim_event e;
    while (sim_eq_pop(&w->queue, &e))
        free_event(&e);
    sim_eq_fini(&w->queue);
    for (uint32_t i = 0; w->nodes != NULL && i < w->nodes_count; i++)
        p2p_node_del(w->nodes[i].core);
    free(w->nodes);
    for (size_t i = 0; i < w->artifacts_count; i++)
        free(w->artifacts[i].delivered);
    free(w->artifacts);
    free(w->round_robin_next);
    p2p_keymap_fini(&w->artifact_by_id);
    sim_net_fini(&w->net);
    free(w->stats.latencies_ns);
    free(w->stats.created_ns);
    sim_trace_fini(&w->trace);
    w->nodes = NULL;
    w->artifacts = NULL;
}
