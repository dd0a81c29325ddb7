/* The acknowledgements waiting at one node (sim/inbox.c): a binary heap by
 * (arrival time, push order), at most `max` of them. The heap owns its
 * array, not the messages. */
#ifndef P2P_SIM_ACK_HEAP_H
#define P2P_SIM_ACK_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/types.h"

struct sim_msg;

struct sim_waiting_ack {
    p2p_time at;       /* arrival, global time */
    uint64_t seq;      /* push order: ties are taken first-pushed first */
    struct sim_msg *m; /* owned by whoever holds the entry */
};

struct sim_ack_heap {
    struct sim_waiting_ack *items; /* owned */
    uint32_t count, capacity, max;
};

/* An empty heap for at most max entries (no allocation yet). */
void sim_ack_heap_init(struct sim_ack_heap *h, uint32_t max);
/* Frees the array (the messages are the caller's to free first). */
void sim_ack_heap_fini(struct sim_ack_heap *h);
/* Whether a is taken before b: earlier arrival, then earlier push. */
bool sim_ack_heap_earlier(const struct sim_waiting_ack *a,
                          const struct sim_waiting_ack *b);
/* Adds a copy of *a. 0, P2P_ERR_LIMIT (max entries held) or P2P_ERR_NOMEM;
 * on an error the heap is unchanged. */
int sim_ack_heap_push(struct sim_ack_heap *h, const struct sim_waiting_ack *a);
/* The earliest entry (borrowed until the next push or pop), or NULL. */
const struct sim_waiting_ack *sim_ack_heap_top(const struct sim_ack_heap *h);
/* Removes and returns the earliest entry; the heap must not be empty. */
struct sim_waiting_ack sim_ack_heap_pop(struct sim_ack_heap *h);

#endif
