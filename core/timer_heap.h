/* A binary min-heap of deadlines, ordered by (deadline, sequence).
 *
 * Owners schedule (kind, index, generation) triples; cancelled timers are not
 * removed but recognised as stale by the owner when they fire (the owner's
 * generation moved on). Bounded by entries_max. */
#ifndef P2P_CORE_TIMER_HEAP_H
#define P2P_CORE_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/types.h"

struct p2p_timer {
    p2p_time deadline;
    uint64_t seq;   /* insertion order: ties fire first-scheduled first */
    uint32_t kind;  /* owner-defined */
    uint32_t index; /* owner-defined, e.g. a table index */
    uint32_t gen;   /* owner-defined generation for staleness checks */
};

struct p2p_timer_heap {
    struct p2p_mem *mem;     /* borrowed */
    struct p2p_timer *items; /* owned */
    size_t count, capacity, entries_max;
    uint64_t next_seq;
    p2p_time next; /* items[0].deadline, P2P_TIME_NEVER when empty: asked
                      after every event, answered without touching items */
};

void p2p_timer_heap_init(struct p2p_timer_heap *h, struct p2p_mem *mem,
                         size_t entries_max);
void p2p_timer_heap_fini(struct p2p_timer_heap *h);

/* Schedules a timer, growing the array when it is full. Errors:
 * P2P_ERR_LIMIT (entries_max timers held), P2P_ERR_NOMEM. */
int p2p_timer_heap_push(struct p2p_timer_heap *h, p2p_time deadline,
                        uint32_t kind, uint32_t index, uint32_t gen);

/* Doubles the array's capacity (to 64 at first), at most to entries_max,
 * without changing the timers held. Errors: P2P_ERR_LIMIT (capacity is
 * entries_max already), P2P_ERR_NOMEM (the array is unchanged). */
int p2p_timer_heap_grow(struct p2p_timer_heap *h);

/* Says whether a scheduled timer still matters to its owner. */
typedef bool (*p2p_timer_live_fn)(const void *ctx, const struct p2p_timer *t);

/* Drops every timer `live` rejects and restores the heap order. Firing
 * order of the survivors is unchanged: it depends only on (deadline, seq).
 * Returns how many were dropped. */
size_t p2p_timer_heap_compact(struct p2p_timer_heap *h, p2p_timer_live_fn live,
                              const void *ctx);

/* Earliest deadline, or P2P_TIME_NEVER when empty. */
p2p_time p2p_timer_heap_next(const struct p2p_timer_heap *h);

/* Pops the earliest timer if its deadline <= now; returns 1 when one was
 * popped into *out, else 0. */
int p2p_timer_heap_pop_due(struct p2p_timer_heap *h, p2p_time now,
                           struct p2p_timer *out);

#endif
