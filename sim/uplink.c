/* A node's uplink: what it sends goes on the wire (sim/net.c) at once when
 * small; large messages queue and go one at a time, as the replica's
 * transport sends them, and a reset of their stream drops those that have
 * not started. Below run.c and byzantine.c, above conn.c. */
#include <stdlib.h>

#include "sim/world.h"

/* Puts m on the wire now. */
static void transmit(struct sim_world *w, uint32_t from, struct sim_msg *m)
{
    p2p_time at = sim_net_send(&w->net, w->now, from, m->to, m->len);
    if (m->kind == SIM_MSG_DATA && w->opt.series)
        sim_report_series_sent(&w->series, &w->net, from, m->len);
    if (m->kind == SIM_MSG_DATA) {
        /* bytes_sent is the artifacts' traffic (against bytes_ideal);
         * state sync's is counted apart. */
        if (m->traffic != P2P_TRAFFIC_STATE)
            w->stats.bytes_sent += m->len;
        w->stats.bytes_by_traffic[m->traffic] += m->len;
        w->stats.messages_sent++;
        w->nodes[from].bytes_sent[m->traffic] += m->len;
        w->nodes[from].messages_sent++;
    }
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, from,
                       m->kind == SIM_MSG_RESET ? "reset" : "send",
                       "peer=%u stream=%llu %s bytes=%zu", m->to,
                       (unsigned long long)m->stream_id,
                       p2p_traffic_name(m->traffic), m->len);
    sim_inbox_push(w, at, m);
}

static bool large(const struct sim_msg *m)
{
    return m->kind == SIM_MSG_DATA && m->len > SIM_NET_SMALL_BYTES;
}

void sim_uplink_next(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    sn->bulk_busy = false;
    p2p_time free_at = sim_net_uplink_free(&w->net, node);
    if (free_at > w->now && sn->bulk_head != NULL) {
        /* Small messages cut in since: wait for what they took. */
        sn->bulk_busy = true;
        sim_world_push_event(w, &(struct sim_event){.time = free_at,
                                                    .type = SIM_EV_UPLINK,
                                                    .node = node});
        return;
    }
    while (sn->bulk_head != NULL) {
        struct sim_msg *m = sn->bulk_head;
        sn->bulk_head = m->next;
        if (sn->bulk_head == NULL)
            sn->bulk_tail = NULL;
        m->next = NULL;
        const struct sim_conn *c = sim_conn_of(w, node, m->to);
        if (c->state != SIM_CONN_UP || c->gen != m->conn_gen) {
            w->stats.messages_dropped++;
            sim_world_msg_free(w, m);
            continue;
        }
        transmit(w, node, m);
        sn->bulk_busy = true;
        sim_world_push_event(
            w, &(struct sim_event){.time = sim_net_uplink_free(&w->net, node),
                                   .type = SIM_EV_UPLINK,
                                   .node = node});
        return;
    }
}

void sim_uplink_cancel(struct sim_world *w, uint32_t node, uint32_t peer,
                       uint64_t stream_id, bool inbound)
{
    struct sim_node *sn = &w->nodes[node];
    struct sim_msg **link = &sn->bulk_head, *prev = NULL;
    while (*link != NULL) {
        struct sim_msg *m = *link;
        if (m->to == peer && m->stream_id == stream_id &&
            m->inbound == inbound) {
            *link = m->next;
            if (sn->bulk_tail == m)
                sn->bulk_tail = prev;
            sim_world_msg_free(w, m);
            continue;
        }
        prev = m;
        link = &m->next;
    }
}

void sim_uplink_drop(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    while (sn->bulk_head != NULL) {
        struct sim_msg *m = sn->bulk_head;
        sn->bulk_head = m->next;
        sim_world_msg_free(w, m);
    }
    sn->bulk_tail = NULL;
}

void sim_uplink_send(struct sim_world *w, uint32_t from, struct sim_msg *m)
{
    if (w->quic != NULL) {
        sim_quic_model_send_msg(w, from, m);
        return;
    }
    struct sim_conn *c = sim_conn_of(w, from, m->to);
    if (c->state != SIM_CONN_UP) {
        /* The core has not yet heard that its connection is gone. */
        w->stats.messages_dropped++;
        sim_world_msg_free(w, m);
        return;
    }
    m->conn_gen = c->gen;
    /* A reset drops what its stream still has queued on this side. */
    if (m->kind == SIM_MSG_RESET)
        sim_uplink_cancel(w, from, m->to, m->stream_id, m->inbound);
    if (!large(m)) {
        transmit(w, from, m);
        return;
    }
    struct sim_node *sn = &w->nodes[from];
    m->next = NULL;
    if (sn->bulk_tail != NULL)
        sn->bulk_tail->next = m;
    else
        sn->bulk_head = m;
    sn->bulk_tail = m;
    if (!sn->bulk_busy)
        sim_uplink_next(w, from);
}
