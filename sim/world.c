/* The services every part of a run uses: the event queue, violations, a
 * node's local time, and the nodes whose actions wait to be carried out.
 * Below every handler (run.c, conn.c, faults.c, workload.c, byzantine.c,
 * state_run.c, metrics_out.c): it calls none of them. */
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "sim/world.h"

void sim_world_vviolation(struct sim_world *w, const char *fmt, va_list ap)
{
    if (w->stats.violation[0] != '\0')
        return;
    vsnprintf(w->stats.violation, sizeof(w->stats.violation), fmt, ap);
    w->stop = true;
}

void sim_world_violation(struct sim_world *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sim_world_vviolation(w, fmt, ap);
    va_end(ap);
}

void sim_world_push_event(struct sim_world *w, const struct sim_event *e)
{
    if (sim_event_queue_push(&w->queue, e) != 0) {
        sim_world_violation(w, "event queue bound (%u events) reached",
                            SIM_EVENTS_QUEUED_MAX);
        if (e->type == SIM_EV_MESSAGE)
            sim_world_msg_free(w, e->ptr);
    }
}

void sim_world_push_after_drain(struct sim_world *w, const struct sim_event *e,
                                bool droppable)
{
    P2P_ASSERT(e->type != SIM_EV_MESSAGE && e->ptr == NULL);
    P2P_ASSERT(w->after_count < SIM_AFTER_DRAIN_MAX);
    w->after[w->after_count++] =
        (struct sim_after_drain){.event = *e, .droppable = droppable};
}

struct sim_msg *sim_world_msg_new(struct sim_world *w, size_t head_len)
{
    struct sim_msg *m = w->spare_msgs;
    if (m != NULL) {
        w->spare_msgs = m->next;
        w->spare_count--;
        memset(m, 0, offsetof(struct sim_msg, inline_bytes));
    } else if ((m = calloc(1, sizeof(*m))) == NULL) {
        return NULL;
    }
    m->bytes = m->inline_bytes;
    if (head_len > SIM_MSG_INLINE_BYTES &&
        (m->bytes = malloc(head_len)) == NULL) {
        free(m);
        return NULL;
    }
    m->head_len = head_len;
    return m;
}

static void free_bytes(struct sim_msg *m)
{
    if (m->bytes != m->inline_bytes)
        free(m->bytes);
    m->bytes = NULL;
}

void sim_world_msg_set_bytes(struct sim_msg *m, uint8_t *bytes, size_t len)
{
    free_bytes(m);
    m->bytes = bytes;
    m->head_len = len;
}

void sim_world_msg_free(struct sim_world *w, struct sim_msg *m)
{
    if (m == NULL)
        return;
    free_bytes(m);
    p2p_body_release(m->body, NULL, P2P_MEM_OUTBOX);
    if (w->spare_count >= SIM_MSG_SPARE_MAX) {
        free(m);
        return;
    }
    m->next = w->spare_msgs;
    w->spare_msgs = m;
    w->spare_count++;
}

void sim_world_msg_spares_fini(struct sim_world *w)
{
    while (w->spare_msgs != NULL) {
        struct sim_msg *m = w->spare_msgs;
        w->spare_msgs = m->next;
        free(m);
    }
    w->spare_count = 0;
}

bool sim_world_msg_flatten(struct sim_msg *m)
{
    if (m->body == NULL)
        return true;
    uint8_t *flat = malloc(m->len ? m->len : 1);
    if (flat == NULL)
        return false;
    if (m->head_len > 0)
        memcpy(flat, m->bytes, m->head_len);
    memcpy(flat + m->head_len, m->body->bytes, m->body->len);
    sim_world_msg_set_bytes(m, flat, m->len);
    p2p_body_release(m->body, NULL, P2P_MEM_OUTBOX);
    m->body = NULL;
    return true;
}

p2p_time sim_world_local_now(struct sim_world *w, uint32_t node)
{
    return sim_clock_local(&w->nodes[node].clock, w->now);
}

bool sim_world_live_honest(const struct sim_world *w, uint32_t node)
{
    const struct sim_node *sn = &w->nodes[node];
    return sn->running && sn->member && !sn->byzantine;
}

void sim_world_mark(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    P2P_ASSERT(node < w->nodes_count && sn->running);
    if (sn->dirty)
        return;
    P2P_ASSERT(w->dirty_count < w->nodes_count);
    sn->dirty = true;
    w->dirty[w->dirty_count++] = node;
}

void sim_world_settle(struct sim_world *w)
{
    P2P_ASSERT(w->drain != NULL || w->dirty_count == 0);
    /* A drain marks no node; the loop still takes any marked meanwhile.
     * The quic model's flush may mark nodes again: then another round. */
    do {
        for (size_t i = 0; i < w->dirty_count; i++) {
            uint32_t node = w->dirty[i];
            w->nodes[node].dirty = false;
            if (w->nodes[node].running)
                w->drain(w, node);
        }
        w->dirty_count = 0;
    } while (w->flush != NULL && w->flush(w));
}

void sim_world_end_event(struct sim_world *w)
{
    sim_world_settle(w);
    for (size_t i = 0; i < w->after_count; i++) {
        const struct sim_after_drain *a = &w->after[i];
        if (a->droppable)
            (void)sim_event_queue_push(&w->queue, &a->event);
        else
            sim_world_push_event(w, &a->event);
    }
    w->after_count = 0;
}
