/* A node's timers (core/timers.h). */
#include "core/timers.h"

#include "core/assert.h"

void p2p__timers_init(struct p2p_timers *t, struct p2p_mem *mem,
                      size_t entries_max, struct p2p_metrics *metrics,
                      struct p2p_buggify *bug)
{
    p2p_timer_heap_init(&t->heap, mem, entries_max);
    t->live = NULL;
    t->live_ctx = NULL;
    t->metrics = metrics;
    t->bug = bug;
    t->compactions = 0;
}

void p2p__timers_fini(struct p2p_timers *t)
{
    p2p_timer_heap_fini(&t->heap);
}

/* Drops the timers nobody waits for any more. A pass over a full heap
 * that frees less than a quarter of it would be needed again within a
 * quarter of a heap's pushes: the heap is nearly all live timers, and
 * passing over it at nearly every push is quadratic. The array doubles
 * instead (up to entries_max), so the next pass comes only after as many
 * pushes as the heap held: a pass costs O(1) per push, amortised, and over
 * n live timers there are O(log n) of them. */
static void compact(struct p2p_timers *t)
{
    size_t count = t->heap.count;
    bool full = count == t->heap.capacity;
    size_t dropped = p2p_timer_heap_compact(&t->heap, t->live, t->live_ctx);
    t->compactions++;
    /* Nothing dropped: the push grows the array, as ever. A failed growth
     * here costs nothing: the push has room. */
    if (full && dropped > 0 && dropped < count / 4)
        (void)p2p_timer_heap_grow(&t->heap);
}

int p2p__timers_add(struct p2p_timers *t, p2p_time deadline,
                    enum p2p_timer_kind kind, uint32_t index, uint32_t gen)
{
    return p2p__timers_arm(t, deadline, kind, index, gen, NULL);
}

void p2p__timers_cancel(struct p2p_timers *t, p2p_timer_handle *handle)
{
    (void)p2p_timer_heap_cancel(&t->heap, *handle);
    *handle = P2P_TIMER_HANDLE_NONE;
}

int p2p__timers_arm(struct p2p_timers *t, p2p_time deadline,
                    enum p2p_timer_kind kind, uint32_t index, uint32_t gen,
                    p2p_timer_handle *handle)
{
    P2P_ASSERT(t->heap.count <= t->heap.capacity);
    /* Before the heap grows, drop timers nobody waits for any more: those
     * of owners that keep no handle to cancel them with (redials, state
     * sync). */
    if (t->live != NULL &&
        ((t->heap.count == t->heap.capacity && t->heap.count > 0) ||
         P2P_BUGGIFY_AT(t->bug, P2P_BUGGIFY_COMPACT_TIMERS)))
        compact(t);
    int rc = p2p_timer_heap_push(&t->heap, deadline, kind, index, gen, handle);
    if (rc != 0)
        t->metrics->timers_refused++;
    P2P_ASSERT(t->heap.count <= t->heap.capacity &&
               t->heap.capacity <= t->heap.entries_max);
    return rc;
}
