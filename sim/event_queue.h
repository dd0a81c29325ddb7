/* The simulator's event queue: a binary min-heap ordered by (time, seq),
 * so events at the same virtual time run in the order they were scheduled.
 * That order is what makes a run reproducible. */
#ifndef P2P_SIM_EVENT_QUEUE_H
#define P2P_SIM_EVENT_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

struct sim_event {
    p2p_time time;
    uint64_t seq;  /* set by the queue (sim_event_queue_push) */
    uint32_t type; /* enum sim_event_type (world.h) */
    uint32_t node;
    uint64_t arg; /* type-specific */
    void *ptr;    /* type-specific, owned by the event */
};

struct sim_event_queue {
    struct sim_event *items;
    size_t count, capacity, max;
    uint64_t next_seq;
};

void sim_event_queue_init(struct sim_event_queue *q, size_t max);
void sim_event_queue_fini(struct sim_event_queue *q);
/* Schedules a copy of *e (borrowed; its seq is ignored: the queue numbers
 * events in the order they are pushed, which orders those at one time);
 * returns 0, P2P_ERR_LIMIT when the queue is at its bound or P2P_ERR_NOMEM
 * (the run is then aborted: the bound is far above any scenario). */
int sim_event_queue_push(struct sim_event_queue *q, const struct sim_event *e);
/* Pops the earliest event; 0 when empty. */
int sim_event_queue_pop(struct sim_event_queue *q, struct sim_event *out);

#endif
