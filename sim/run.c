/* The simulation loop: pops events in (time, seq) order, feeds them to the
 * nodes' cores, and carries out the actions the cores emit. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/pool.h"
#include "sim/world.h"

#define TRACING(w) SIM_TRACING(w)
#define PROGRESS_EVERY_EVENTS (1u << 16)
#define PROGRESS_WALL_S 2.0

/* Arms the node's next core deadline, converted to global time. */
static void rearm(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    p2p_time local = p2p_node_next_deadline(sn->core);
    p2p_time d = sim_clock_global(&sn->clock, w->now, local);
    if (d >= sn->armed)
        return;
    sn->armed = d < w->now ? w->now : d;
    sim_world_push_event(w, &(struct sim_event){.time = sn->armed,
                                                .type = SIM_EV_TIMER,
                                                .node = node});
}

static void send_msg(struct sim_world *w, uint32_t from,
                     const struct p2p_action *a, enum sim_msg_kind kind,
                     bool inbound)
{
    struct sim_msg *m = sim_world_msg_new(w, a->len);
    if (m == NULL) {
        sim_world_violation(w, "out of memory carrying a message");
        return;
    }
    m->kind = kind;
    m->from = from;
    m->to = a->peer;
    m->stream_id = a->stream_id;
    m->inbound = inbound;
    m->traffic = a->traffic;
    m->len = p2p_action_wire_len(a);
    if (a->len > 0)
        memcpy(m->bytes, a->bytes, a->len);
    if (a->body != NULL) {
        (void)p2p_body_hold(a->body, NULL, P2P_MEM_OUTBOX); /* uncharged */
        m->body = a->body;
    }
    if (!sim_byzantine_outgoing(w, from, m, a)) {
        sim_world_msg_free(w, m);
        return;
    }
    sim_uplink_send(w, from, m);
}

/* Whether actions after the k-th of o withdraw id: core took an artifact
 * and dropped it again in one call (its last advertiser withdrew it), so
 * the pool no longer holds the bytes the RECEIVED action names. */
static bool withdrawn_later(const struct p2p_outbox *o, size_t k,
                            const struct p2p_artifact_id *id)
{
    for (size_t j = k + 1; j < p2p_outbox_count(o); j++) {
        const struct p2p_action *b = p2p_outbox_at(o, j);
        if (b->type == P2P_ACT_ARTIFACT_WITHDRAWN &&
            memcmp(&b->id, id, sizeof(*id)) == 0)
            return true;
    }
    return false;
}

static void on_received(struct sim_world *w, uint32_t node,
                        const struct p2p_outbox *o, size_t k)
{
    const struct p2p_action *a = p2p_outbox_at(o, k);
    int64_t idx = sim_workload_artifact_find(w, &a->id);
    char hex[17];
    p2p_id_hex(&a->id, hex, 16);
    if (idx < 0) {
        sim_world_violation(w, "node %u received artifact %s that no node made",
                            node, hex);
        return;
    }
    struct sim_artifact *art = &w->artifacts[idx];
    if (node == art->creator ||
        (art->delivered[node / 8] & (1u << (node % 8)))) {
        sim_world_violation(w, "artifact %s delivered twice to node %u", hex,
                            node);
        return;
    }
    if (art->expired <= w->now) {
        sim_world_violation(w,
                            "node %u took artifact %s that its bouncer calls "
                            "Unwanted (purged %.3fs ago)",
                            node, hex, (double)(w->now - art->expired) / 1e9);
        return;
    }
    if (w->opt.invariants) {
        /* The pool's bytes are the artifact's: they hash to its id. */
        const struct p2p_pool_entry *e =
            p2p_pool_get(p2p_node_pool(w->nodes[node].core), &a->id);
        bool gone = e == NULL && withdrawn_later(o, k, &a->id);
        if (!gone && (e == NULL || e->len != art->size ||
                      !p2p_body_matches(e->shared, &art->id))) {
            sim_world_violation(
                w,
                "node %u took bytes for artifact %s that do not "
                "match its id",
                node, hex);
            return;
        }
    }
    art->delivered[node / 8] |= (uint8_t)(1u << (node % 8));
    art->deliveries++;
    w->nodes[node].deliveries++;
    p2p_time latency = w->now - art->created;
    struct sim_stats *st = &w->stats;
    if (st->latencies_count == st->latencies_capacity) {
        size_t cap = st->latencies_capacity ? st->latencies_capacity * 2 : 4096;
        uint64_t *l = realloc(st->latencies_ns, cap * sizeof(*l));
        if (l != NULL)
            st->latencies_ns = l;
        struct sim_delivery *c = realloc(st->deliveries, cap * sizeof(*c));
        if (c != NULL)
            st->deliveries = c;
        if (l == NULL || c == NULL) {
            sim_world_violation(w, "out of memory recording latencies");
            return;
        }
        st->latencies_capacity = cap;
    }
    st->deliveries[st->latencies_count] =
        (struct sim_delivery){(uint32_t)idx, node};
    st->latencies_ns[st->latencies_count++] = latency;
    if (TRACING(w))
        sim_trace_line(&w->trace, w->now, node, "deliver",
                       "peer=%u id=%s bytes=%llu latency_us=%llu", a->peer, hex,
                       (unsigned long long)a->size,
                       (unsigned long long)(latency / P2P_NS_PER_US));
    sim_world_push_event(
        w, &(struct sim_event){.time = w->now + w->validation_delay_ns,
                               .type = SIM_EV_VALIDATE,
                               .node = node,
                               .arg = (uint64_t)idx});
}

/* Every advertiser withdrew an artifact the node's client had not taken
 * yet: the node no longer holds it, so it is not delivered (as a crash
 * loses what was not validated) and may arrive again. The VALIDATE event
 * already scheduled for it still fires: it finds nothing (rc
 * P2P_ERR_NOT_FOUND), or a copy that arrived again since, which it then
 * validates early. */
static void on_withdrawn(struct sim_world *w, uint32_t node,
                         const struct p2p_action *a)
{
    int64_t idx = sim_workload_artifact_find(w, &a->id);
    char hex[17];
    p2p_id_hex(&a->id, hex, 16);
    if (idx < 0) {
        sim_world_violation(w, "node %u withdrew artifact %s that no node made",
                            node, hex);
        return;
    }
    struct sim_artifact *art = &w->artifacts[idx];
    if (art->delivered[node / 8] & (1u << (node % 8))) {
        art->delivered[node / 8] &= (uint8_t) ~(1u << (node % 8));
        art->deliveries--;
    }
    if (TRACING(w))
        sim_trace_line(&w->trace, w->now, node, "withdrawn", "id=%s", hex);
}

/* Carries out the node's actions and re-arms its timer: after every call
 * into its core (the end of an event, or sim_world_settle). */
static void drain(struct sim_world *w, uint32_t node)
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
            on_received(w, node, o, i);
            break;
        case P2P_ACT_ARTIFACT_WITHDRAWN:
            on_withdrawn(w, node, a);
            break;
        case P2P_ACT_CONN_DIAL:
            if (w->quic != NULL)
                sim_quic_model_dial(w, node, a->peer);
            else
                sim_conn_dial(w, node, a->peer);
            break;
        case P2P_ACT_CONN_CLOSE:
            /* Honest nodes must never ban each other. */
            if (a->value == P2P_ERR_MISBEHAVED && !w->nodes[node].byzantine &&
                !w->nodes[a->peer].byzantine)
                w->stats.honest_bans++;
            if (w->quic != NULL)
                sim_quic_model_close(w, node, a->peer, (int)a->value);
            else
                sim_conn_close(w, node, a->peer);
            break;
        case P2P_ACT_EVENT:
            if (TRACING(w)) {
                char hex[17];
                p2p_id_hex(&a->id, hex, 16);
                sim_trace_line(&w->trace, w->now, node,
                               p2p_event_name(a->event),
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
    sim_state_run_observe(w, node);
    rearm(w, node);
}

static void on_validate(struct sim_world *w, uint32_t node, uint64_t idx)
{
    const struct sim_artifact *art = &w->artifacts[idx];
    if (!w->nodes[node].running)
        return; /* crashed before validating: lost with its memory */
    int rc = p2p_node_validate_at_height(w->nodes[node].core,
                                         sim_world_local_now(w, node), &art->id,
                                         true, art->height);
    if (TRACING(w)) {
        char hex[17];
        p2p_id_hex(&art->id, hex, 16);
        sim_trace_line(&w->trace, w->now, node, "validate", "id=%s rc=%d", hex,
                       rc);
    }
    sim_world_mark(w, node);
}

static void on_expire(struct sim_world *w, uint64_t idx)
{
    struct sim_artifact *art = &w->artifacts[idx];
    if (art->expired != P2P_TIME_NEVER)
        return; /* purged by height already (sim/workload.c) */
    art->expired = w->now;
    if (TRACING(w)) {
        char hex[17];
        p2p_id_hex(&art->id, hex, 16);
        sim_trace_line(&w->trace, w->now, art->creator, "expire", "id=%s", hex);
    }
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        if (w->nodes[i].running &&
            p2p_node_remove(w->nodes[i].core, sim_world_local_now(w, i),
                            &art->id) == 0)
            sim_world_mark(w, i);
    }
    /* A crashed node's persisted copy is purged too. */
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        struct sim_node *sn = &w->nodes[i];
        for (size_t k = 0; k < sn->persisted_count; k++)
            if (sn->persisted[k] == idx)
                sn->persisted[k] = sn->persisted[--sn->persisted_count];
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
    if (w->quic != NULL)
        sim_quic_model_set_extra_loss(w, w->net.burst_loss_ppm);
    if (TRACING(w))
        sim_trace_line(&w->trace, w->now, 0, start ? "loss_start" : "loss_end",
                       "rate_ppm=%u", f->loss_ppm);
}

/* Frees what an event owns once dispatched or discarded. Messages are
 * owned by their handler once dispatched. */
static void free_event(struct sim_world *w, struct sim_event *e)
{
    if (e->type == SIM_EV_MESSAGE)
        sim_world_msg_free(w, e->ptr);
    else if (e->type == SIM_EV_DATAGRAM)
        sim_quic_model_free_datagram(w, e->ptr);
}

/* The nodes an event may act on, or whose connections it may change,
 * take their waiting acknowledgements first (sim/inbox.c). */
static void take_acks(struct sim_world *w, const struct sim_event *e)
{
    switch ((enum sim_event_type)e->type) {
    case SIM_EV_MESSAGE:
    case SIM_EV_TIMER:
    case SIM_EV_VALIDATE:
    case SIM_EV_BYZANTINE:
    case SIM_EV_DATAGRAM:
    case SIM_EV_QUIC_TIMER:
    case SIM_EV_QUIC_WRITABLE:
        sim_inbox_take(w, e->node);
        return;
    case SIM_EV_CONN_ESTABLISH:
    case SIM_EV_DIAL_TIMEOUT:
    case SIM_EV_CONN_IDLE:
    case SIM_EV_CONN_CLOSED:
        sim_inbox_take_pair(w, e->node, SIM_CONN_ARG_PEER(e->arg));
        return;
    case SIM_EV_UPLINK: /* no core is called, no connection changes */
    case SIM_EV_METRICS:
        return;
    case SIM_EV_WORKLOAD:
    case SIM_EV_EXPIRE:
    case SIM_EV_LOSS_START:
    case SIM_EV_LOSS_END:
    case SIM_EV_FAULT:
    case SIM_EV_CHECKPOINT:
    case SIM_EV_HEIGHT:
    case SIM_EV_BLACKHOLE_END:
        /* Carried out now, as their own events would have been: the
         * event then starts with no node marked. */
        sim_inbox_take_all(w);
        sim_world_settle(w);
        return;
    }
}

static void dispatch(struct sim_world *w, struct sim_event *e)
{
    take_acks(w, e);
    switch ((enum sim_event_type)e->type) {
    case SIM_EV_MESSAGE:
        sim_inbox_deliver(w, e->node, e->ptr, e->time);
        return; /* sim_inbox_deliver owns the message */
    case SIM_EV_TIMER:
        if (!w->nodes[e->node].running || w->nodes[e->node].armed != e->time)
            break; /* superseded by an earlier deadline, or crashed */
        w->nodes[e->node].armed = P2P_TIME_NEVER;
        (void)p2p_node_on_timer(w->nodes[e->node].core,
                                sim_world_local_now(w, e->node));
        sim_world_mark(w, e->node);
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
    case SIM_EV_FAULT:
        if (w->metrics != NULL)
            sim_metrics_out_before_fault(w, e->arg);
        sim_faults_fire(w, e->arg);
        break;
    case SIM_EV_CONN_ESTABLISH:
    case SIM_EV_DIAL_TIMEOUT:
    case SIM_EV_CONN_IDLE:
    case SIM_EV_CONN_CLOSED:
        sim_conn_on_event(w, e->type, e->node, e->arg);
        break;
    case SIM_EV_BYZANTINE:
        sim_byzantine_tick(w, e->node);
        break;
    case SIM_EV_CHECKPOINT:
        sim_state_run_checkpoint(w);
        break;
    case SIM_EV_UPLINK:
        sim_uplink_next(w, e->node);
        break;
    case SIM_EV_HEIGHT:
        sim_workload_height_tick(w);
        break;
    case SIM_EV_DATAGRAM:
        sim_quic_model_on_datagram(w, e);
        break;
    case SIM_EV_QUIC_TIMER:
        sim_quic_model_on_timer(w, e->node, e->time);
        break;
    case SIM_EV_QUIC_WRITABLE:
        sim_quic_model_on_writable(w, e->node);
        break;
    case SIM_EV_BLACKHOLE_END:
        sim_faults_blackhole_end(w, e->arg);
        break;
    case SIM_EV_METRICS:
        break; /* taken by the loop before dispatch */
    }
    free_event(w, e);
}

/* A core that waits for a dial's answer has a dial in progress in the
 * connection model, or no answer would ever come. */
static void check_dials(struct sim_world *w, uint32_t node)
{
    if (w->quic != NULL)
        return; /* the endpoint answers every dial by its deadline */
    for (uint32_t p = 0; p < w->nodes_count && !w->stop; p++) {
        struct p2p_peer_info info;
        if (p == node ||
            p2p_node_peer_info(w->nodes[node].core, p, &info) != 0 ||
            info.conn != P2P_CONN_DIALING)
            continue;
        const struct sim_conn *c = sim_conn_of(w, node, p);
        if (c->state != SIM_CONN_DIALING || c->dialer != node)
            sim_world_violation(w,
                                "node %u waits for a dial to %u that the "
                                "network is not making (t=%llu ns)",
                                node, p, (unsigned long long)w->now);
    }
}

/* Cheap invariants after every event; the deep walk every
 * SIM_DEEP_CHECK_EVERY events of a node. */
static void check_invariants(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    if (!sn->running)
        return;
    bool deep = ++sn->events % SIM_DEEP_CHECK_EVERY == 0;
    int rc = deep ? p2p_node_check_invariants_deep(sn->core)
                  : p2p_node_check_invariants(sn->core);
    if (rc != 0)
        sim_world_violation(w, "node %u broke a core invariant%s at t=%llu ns",
                            node, deep ? " (deep check)" : "",
                            (unsigned long long)w->now);
    if (deep)
        check_dials(w, node);
}

static void check_all_deep(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->nodes_count && !w->stop; i++)
        if (w->nodes[i].running) {
            if (p2p_node_check_invariants_deep(w->nodes[i].core) != 0)
                sim_world_violation(
                    w,
                    "node %u broke a core invariant (final deep "
                    "check)",
                    i);
            check_dials(w, i);
        }
}

static double seconds_between(const struct timespec *a,
                              const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) +
           (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Every PROGRESS_WALL_S of wall time: the share of the run's real end
 * (duration + drain, as the summary states it) reached, the wall time so
 * far and, at that pace, what is left. */
static void progress(struct sim_world *w, const struct timespec *start,
                     struct timespec *last)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double dt = seconds_between(last, &ts);
    if (dt < PROGRESS_WALL_S)
        return;
    *last = ts;
    double wall = seconds_between(start, &ts);
    double done_share = w->end ? (double)w->now / (double)w->end : 1.0;
    double eta = done_share > 0 ? wall * (1.0 - done_share) / done_share : 0;
    uint64_t done = w->stats.events - w->progress_events;
    w->progress_events = w->stats.events;
    fprintf(stderr,
            "progress: %3.0f%% t=%.1fs of %.1fs (%.3g s + %.3g s drain), "
            "wall %.1fs, ETA %.0fs, %llu events (%.0f/s), %zu deliveries\n",
            done_share * 100.0, (double)w->now / 1e9, (double)w->end / 1e9,
            (double)(w->end - w->drain_ns) / 1e9, (double)w->drain_ns / 1e9,
            wall, eta, (unsigned long long)w->stats.events, (double)done / dt,
            w->stats.latencies_count);
}

/* SIGINT (sim/main.c) asks the loop to stop before its next event. */
static bool interrupted(struct sim_world *w)
{
    if (w->opt.interrupt != NULL && *w->opt.interrupt != 0)
        w->interrupted = true;
    return w->interrupted;
}

/* The subnet at time 0: nodes 0..N-1 are members of registry version 1;
 * ids that join later start then. */
static int init_nodes(struct sim_world *w)
{
    w->nodes = calloc(w->nodes_count, sizeof(*w->nodes));
    w->dirty = calloc(w->nodes_count, sizeof(*w->dirty));
    if (w->nodes == NULL || w->dirty == NULL)
        return P2P_ERR_NOMEM;
    int rc = sim_conn_init(w);
    if (rc != 0)
        return rc;
    w->drain = drain;
    if (w->quic != NULL)
        w->flush = sim_quic_model_flush;
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        struct sim_node *sn = &w->nodes[i];
        p2p_mem_init(&sn->mem);
        sim_clock_init(&sn->clock);
        sn->armed = P2P_TIME_NEVER;
        sn->member = i < w->sc->nodes;
        sim_ack_heap_init(&sn->acks, SIM_ACKS_WAITING_MAX);
    }
    if ((rc = sim_faults_registry_init(w)) != 0)
        return rc;
    for (uint32_t i = 0; i < w->sc->nodes; i++)
        if ((rc = sim_faults_node_start(w, i)) != 0)
            return rc;
    /* Dials made before their peer had started now get through. */
    sim_conn_paths_changed(w);
    return 0;
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
            (w->delivered_within_ns == 0 ||
             e->within_ns < w->delivered_within_ns))
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
    w->drain_ns = drain;
}

/* Runs events until none is left before the end (or the run stops). */
static void run_events(struct sim_world *w, const struct timespec *start,
                       struct timespec *last)
{
    struct sim_event e;
    while (!w->stop && !interrupted(w) && sim_event_queue_pop(&w->queue, &e)) {
        if (e.time > w->end) {
            free_event(w, &e);
            break;
        }
        if (e.type == SIM_EV_METRICS) {
            /* Observation only: the clock, the event count, the trace and
             * the invariant checker never see it. */
            sim_metrics_out_sample(w, e.time);
            continue;
        }
        w->now = e.time;
        uint32_t node = e.node;
        dispatch(w, &e);
        sim_world_end_event(w);
        w->stats.events++;
        if (w->opt.invariants && node < w->nodes_count)
            check_invariants(w, node);
        if (!w->opt.quiet && (w->stats.events % PROGRESS_EVERY_EVENTS) == 0)
            progress(w, start, last);
    }
}

int sim_run_world(struct sim_world *w, const struct sim_scenario *sc,
                  const struct sim_options *opt)
{
    memset(w, 0, sizeof(*w));
    w->sc = sc;
    w->opt = *opt;
    w->seed = opt->has_seed ? opt->seed : sc->seed;
    w->nodes_count =
        sc->node_ids_count > sc->nodes ? sc->node_ids_count : sc->nodes;
    w->validation_delay_ns = sc->protocol.has_validation_delay
                                 ? sc->protocol.validation_delay_ns
                                 : SIM_DEFAULT_VALIDATION_DELAY_NS;
    w->artifact_ttl_ns = sc->protocol.has_artifact_ttl
                             ? sc->protocol.artifact_ttl_ns
                             : SIM_DEFAULT_ARTIFACT_TTL_NS;
    sim_trace_init(&w->trace, opt->trace_file, opt->record_hashes);
    w->trace.stop_at_line = opt->capture_line;
    sim_event_queue_init(&w->queue, SIM_EVENTS_QUEUED_MAX);
    p2p_mem_init(&w->index_mem);
    p2p_keymap_init(&w->artifact_by_id, &w->index_mem, P2P_MEM_OTHER,
                    SIM_ARTIFACTS_MAX, w->seed);
    p2p_rng_init(&w->workload_rng, w->seed, 0x776b6c64 /* "wkld" */);
    p2p_rng_init(&w->fault_rng, w->seed, 0x666c7473 /* "flts" */);
    set_horizon(w);
    int rc = 0;
    if ((w->opt.series &&
         sim_report_series_init(&w->series, w->nodes_count, w->end) != 0) ||
        (rc = sim_net_init(&w->net, sc, w->nodes_count, w->seed)) != 0 ||
        (sc->net.model == SIM_MODEL_QUIC &&
         (rc = sim_quic_model_new(w)) != 0) ||
        (rc = sim_state_run_init(w)) != 0 || (rc = init_nodes(w)) != 0)
        return rc != 0 ? rc : P2P_ERR_NOMEM;
    sim_faults_schedule(w);
    sim_state_run_schedule(w);
    sim_workload_start(w);
    sim_workload_heights_start(w);
    if (opt->metrics_dir != NULL && sim_metrics_out_start(w) != 0)
        return P2P_ERR_WRITE;

    struct timespec start, last;
    clock_gettime(CLOCK_MONOTONIC, &start);
    last = start;
    /* The acknowledgements still waiting once no event is left before
     * the end are taken last (and may, rarely, queue more events). */
    do
        run_events(w, &start, &last);
    while (!w->stop && !w->interrupted && sim_inbox_finish(w, w->end));
    if (w->opt.invariants)
        check_all_deep(w);
    if (w->metrics != NULL && sim_metrics_out_finish(w) != 0)
        return P2P_ERR_WRITE;
    return 0;
}

void sim_run_fini(struct sim_world *w)
{
    struct sim_event e;
    while (sim_event_queue_pop(&w->queue, &e))
        free_event(w, &e);
    sim_event_queue_fini(&w->queue);
    sim_inbox_fini(w);
    /* Endpoints let go of the bodies they send before the cores go. */
    sim_quic_model_del(w);
    for (uint32_t i = 0; w->nodes != NULL && i < w->nodes_count; i++) {
        p2p_node_del(w->nodes[i].core);
        free(w->nodes[i].persisted);
        sim_uplink_drop(w, i);
    }
    sim_state_run_fini(w);
    sim_faults_registry_fini(w);
    free(w->nodes);
    free(w->dirty);
    free(w->conns);
    for (size_t i = 0; i < w->held_count; i++)
        sim_world_msg_free(w, w->held[i]);
    free(w->held);
    sim_world_msg_spares_fini(w);
    for (size_t i = 0; i < w->artifacts_count; i++)
        free(w->artifacts[i].delivered);
    free(w->artifacts);
    free(w->round_robin_next);
    p2p_keymap_fini(&w->artifact_by_id);
    sim_net_fini(&w->net);
    free(w->stats.latencies_ns);
    free(w->stats.deliveries);
    sim_report_series_fini(&w->series);
    sim_trace_fini(&w->trace);
    sim_metrics_out_fini(w);
    w->nodes = NULL;
    w->artifacts = NULL;
}
