/* What reaches a node: a message is an event at its arrival time, except
 * an acknowledgement (the answer to a slot update), which waits in its
 * node's inbox and is taken just before the node next acts (the model:
 * docs/architecture.md and docs/trace-format.md). An acknowledgement only
 * ends a transmission, so taking it later, with its own arrival time,
 * changes nothing the node does: every path by which the node could act, or by
 * which the acceptance of the message could change, takes the waiting
 * acknowledgements first. Below run.c, above uplink.c and conn.c. */
#include "core/assert.h"
#include "core/err.h"
#include "sim/world.h"

/* Whether m is taken lazily: a successful answer on a slot update's
 * stream (the receiver's 400s and resets travel as other traffic). */
static bool lazy(const struct sim_msg *m)
{
    return m->kind == SIM_MSG_DATA && !m->inbound &&
           m->traffic == P2P_TRAFFIC_ACK;
}

void sim_inbox_push(struct sim_world *w, p2p_time at, struct sim_msg *m)
{
    if (!lazy(m) || w->opt.acks_as_events) {
        sim_world_push_event(w, &(struct sim_event){.time = at,
                                                    .type = SIM_EV_MESSAGE,
                                                    .node = m->to,
                                                    .ptr = m});
        return;
    }
    struct sim_waiting_ack a = {.at = at, .seq = w->acks_seq++, .m = m};
    if (sim_ack_heap_push(&w->nodes[m->to].acks, &a) != 0) {
        sim_world_violation(w,
                            "more than %u acknowledgements waiting at node "
                            "%u (or out of memory)",
                            SIM_ACKS_WAITING_MAX, m->to);
        sim_world_msg_free(w, m);
    }
}

void sim_inbox_deliver(struct sim_world *w, uint32_t node, struct sim_msg *m,
                       p2p_time at)
{
    if (!sim_conn_accept_msg(w, m))
        return; /* dropped with its connection, or held by a partition */
    struct sim_node *sn = &w->nodes[node];
    p2p_time now = sim_clock_local(&sn->clock, at);
    bool waited = lazy(m) && !w->opt.acks_as_events;
    if (m->kind == SIM_MSG_DATA) {
        sn->bytes_received[m->traffic] += m->len;
        sn->messages_received++;
    }
    /* A waiting acknowledgement has no line: it would be stamped with a
     * time before lines already written. */
    if (SIM_TRACING(w) && !waited)
        sim_trace_line(&w->trace, w->now, node,
                       m->kind == SIM_MSG_RESET ? "recv_reset" : "recv",
                       "peer=%u stream=%llu %s bytes=%zu", m->from,
                       (unsigned long long)m->stream_id,
                       p2p_traffic_name(m->traffic), m->len);
    if (m->kind == SIM_MSG_DATA && w->opt.series)
        sim_report_series_received(&w->series, &w->net, at, node, m->len);
    /* The peer reset the stream: what this node still had queued for it
     * is not sent. */
    if (m->kind == SIM_MSG_RESET)
        sim_uplink_cancel(w, node, m->from, m->stream_id, !m->inbound);
    if (!sim_byzantine_reads(w, node)) {
        ; /* a silent node swallows everything */
    } else if (m->kind == SIM_MSG_DATA) {
        struct p2p_stream_bytes in = {.peer = m->from,
                                      .stream_id = m->stream_id,
                                      .inbound = m->inbound,
                                      .data = m->bytes,
                                      .len = m->head_len,
                                      .tail = m->body,
                                      .fin = true};
        (void)p2p_node_on_stream_data(sn->core, now, &in);
    } else {
        (void)p2p_node_on_stream_reset(sn->core, now, m->from, m->stream_id,
                                       m->inbound);
    }
    sim_world_msg_free(w, m);
    sim_world_mark(w, node);
}

void sim_inbox_take(struct sim_world *w, uint32_t node)
{
    struct sim_ack_heap *h = &w->nodes[node].acks;
    const struct sim_waiting_ack *top;
    while ((top = sim_ack_heap_top(h)) != NULL && top->at <= w->now) {
        struct sim_waiting_ack a = sim_ack_heap_pop(h);
        sim_inbox_deliver(w, node, a.m, a.at);
    }
}

void sim_inbox_take_all(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->nodes_count; i++)
        sim_inbox_take(w, i);
}

void sim_inbox_take_pair(struct sim_world *w, uint32_t a, uint32_t b)
{
    sim_inbox_take(w, a);
    sim_inbox_take(w, b);
}

bool sim_inbox_finish(struct sim_world *w, p2p_time end)
{
    /* Each node's earliest acknowledgement, copied into one more heap (an
     * entry names its node: m->to), gives them all in arrival order. */
    struct sim_ack_heap firsts;
    sim_ack_heap_init(&firsts, w->nodes_count);
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        const struct sim_waiting_ack *top = sim_ack_heap_top(&w->nodes[i].acks);
        if (top != NULL && sim_ack_heap_push(&firsts, top) != 0) {
            sim_world_violation(w, "out of memory taking the last "
                                   "acknowledgements");
            sim_ack_heap_fini(&firsts);
            return false;
        }
    }
    /* Taken as the events they stand for would have run, the clock
     * following them. Taking one queues no event and sends nothing unless
     * a core answers a forged acknowledgement with a retry: then the loop
     * goes on with it (and this starts again from the nodes' heaps), each
     * node still taking its acknowledgements before it next acts. */
    bool more = false;
    size_t queued_before = w->queue.count; /* any left are after end */
    uint64_t pushed_before = w->acks_seq;
    const struct sim_waiting_ack *first;
    while (!w->stop && !more && (first = sim_ack_heap_top(&firsts)) != NULL &&
           first->at <= end) {
        uint32_t node = sim_ack_heap_pop(&firsts).m->to;
        struct sim_ack_heap *acks = &w->nodes[node].acks;
        struct sim_waiting_ack a = sim_ack_heap_pop(acks);
        const struct sim_waiting_ack *next = sim_ack_heap_top(acks);
        /* Cannot fail: an entry was just popped, so there is room. */
        int rc = next != NULL ? sim_ack_heap_push(&firsts, next) : 0;
        P2P_ASSERT(rc == 0);
        if (a.at > w->now)
            w->now = a.at;
        sim_inbox_deliver(w, node, a.m, a.at);
        sim_world_end_event(w);
        more = w->queue.count > queued_before || w->acks_seq != pushed_before;
    }
    sim_ack_heap_fini(&firsts);
    return more;
}

void sim_inbox_fini(struct sim_world *w)
{
    for (uint32_t i = 0; w->nodes != NULL && i < w->nodes_count; i++) {
        struct sim_ack_heap *acks = &w->nodes[i].acks;
        while (acks->count > 0)
            sim_world_msg_free(w, sim_ack_heap_pop(acks).m);
        sim_ack_heap_fini(acks);
    }
}
