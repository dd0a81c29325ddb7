/* A binary min-heap of deadlines, ordered by (deadline, sequence).
 *
 * Owners schedule (kind, index, generation) triples. A timer can be
 * cancelled by the handle its push handed out: owners cancel the
 * deadlines of records that end, so nobody is woken for them. A cancelled
 * timer is marked (O(1)) and leaves the array when it reaches the top
 * (at once: the earliest deadline is always one still scheduled) or at a
 * compaction, whichever comes first; the order of the others is
 * unchanged. A timer an owner did not cancel (it kept no handle) is
 * recognised as stale by the owner when it fires (the owner's generation
 * moved on), or dropped by a compaction. Bounded by entries_max, cancelled
 * timers included until they leave (a push into a full array drops them
 * first).
 *
 * State: the heap array, and one reference per array entry (whether its
 * timer is scheduled or cancelled while the reference is taken, the next
 * free reference while not, and a generation that makes old handles
 * stale). */
#ifndef P2P_CORE_TIMER_HEAP_H
#define P2P_CORE_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/types.h"

/* Names one scheduled timer: its reference and that reference's
 * generation. A timer that fired, was cancelled or was compacted away
 * leaves its handle stale, and a stale handle cancels nothing (until one
 * reference's generation wraps, after 2^32 timers through it).
 * P2P_TIMER_HANDLE_NONE (0, what a zeroed record holds) names none. */
typedef uint64_t p2p_timer_handle;
#define P2P_TIMER_HANDLE_NONE ((p2p_timer_handle)0)

struct p2p_timer {
    p2p_time deadline;
    uint64_t seq;   /* insertion order: ties fire first-scheduled first */
    uint32_t kind;  /* owner-defined */
    uint32_t index; /* owner-defined, e.g. a table index */
    uint32_t gen;   /* owner-defined generation for staleness checks */
    uint32_t ref;   /* the heap's: this timer's reference */
};

/* A timer's reference (private to timer_heap.c). */
struct p2p_timer_ref {
    uint32_t gen;   /* moves on when the reference is freed */
    uint32_t state; /* taken: scheduled or cancelled; free: the next free
                       reference (timer_heap.c) */
};

struct p2p_timer_heap {
    struct p2p_mem *mem;        /* borrowed */
    struct p2p_timer *items;    /* owned */
    struct p2p_timer_ref *refs; /* owned; capacity of them */
    size_t count, capacity, entries_max;
    size_t cancelled;   /* of count: cancelled, not yet dropped */
    uint32_t refs_free; /* head of the free references (UINT32_MAX: none) */
    uint64_t next_seq;
    p2p_time next; /* items[0].deadline, P2P_TIME_NEVER when empty: asked
                      after every event, answered without touching items */
};

/* An empty heap of at most entries_max (< UINT32_MAX - 2) timers; mem is
 * borrowed and outlives it. */
void p2p_timer_heap_init(struct p2p_timer_heap *h, struct p2p_mem *mem,
                         size_t entries_max);
void p2p_timer_heap_fini(struct p2p_timer_heap *h);

/* Schedules a timer; when the array is full, the cancelled timers are
 * dropped or else it grows. *handle (if not NULL) gets its handle, or
 * P2P_TIMER_HANDLE_NONE on an error. Errors: P2P_ERR_LIMIT (entries_max
 * timers scheduled), P2P_ERR_NOMEM. */
int p2p_timer_heap_push(struct p2p_timer_heap *h, p2p_time deadline,
                        uint32_t kind, uint32_t index, uint32_t gen,
                        p2p_timer_handle *handle);

/* Cancels the timer handle names, if it is still scheduled: true then,
 * false for a stale handle or P2P_TIMER_HANDLE_NONE (nothing changes).
 * It never fires, and the others keep their (deadline, seq) order. O(1),
 * plus O(log n) for each cancelled timer that leaves the top. */
bool p2p_timer_heap_cancel(struct p2p_timer_heap *h, p2p_timer_handle handle);

/* Doubles the array's capacity (to 64 at first), at most to entries_max,
 * without changing the timers held. Errors: P2P_ERR_LIMIT (capacity is
 * entries_max already), P2P_ERR_NOMEM (the timers are unchanged). */
int p2p_timer_heap_grow(struct p2p_timer_heap *h);

/* Says whether a scheduled timer still matters to its owner. */
typedef bool (*p2p_timer_live_fn)(const void *ctx, const struct p2p_timer *t);

/* Drops every cancelled timer and every timer `live` rejects (their
 * handles go stale; `live` is asked only about scheduled ones) and
 * restores the heap order. Firing order of the survivors is unchanged: it
 * depends only on (deadline, seq). Returns how many were dropped. */
size_t p2p_timer_heap_compact(struct p2p_timer_heap *h, p2p_timer_live_fn live,
                              const void *ctx);

/* Earliest deadline of a scheduled timer, or P2P_TIME_NEVER when none. */
p2p_time p2p_timer_heap_next(const struct p2p_timer_heap *h);

/* Pops the earliest timer if its deadline <= now; returns 1 when one was
 * popped into *out (its handle is stale from then on), else 0. */
int p2p_timer_heap_pop_due(struct p2p_timer_heap *h, p2p_time now,
                           struct p2p_timer *out);

/* 0, or P2P_ERR_INTERNAL when the order, the references, the cancelled
 * count or the earliest deadline disagree with the array, or the earliest
 * timer is a cancelled one. O(capacity). */
int p2p_timer_heap_check(const struct p2p_timer_heap *h);

#endif
