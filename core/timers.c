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
}

void p2p__timers_fini(struct p2p_timers *t)
{
    p2p_timer_heap_fini(&t->heap);
}

int p2p__timers_add(struct p2p_timers *t, p2p_time deadline,
                    enum p2p_timer_kind kind, uint32_t index, uint32_t gen)
{
    P2P_ASSERT(t->heap.count <= t->heap.capacity);
    /* Before the heap grows, drop timers nobody waits for any more: closed
     * streams leave their deadlines behind, and at n peers that is most of
     * the heap. */
    if (t->live != NULL &&
        ((t->heap.count == t->heap.capacity && t->heap.count > 0) ||
         P2P_BUGGIFY_AT(t->bug, P2P_BUGGIFY_COMPACT_TIMERS)))
        (void)p2p_timer_heap_compact(&t->heap, t->live, t->live_ctx);
    int rc = p2p_timer_heap_push(&t->heap, deadline, kind, index, gen);
    if (rc != 0)
        t->metrics->timers_refused++;
    return rc;
}
