/* Internal: a node's timers (one heap for every module). A module
 * schedules a timer naming itself (kind), its record (index) and the
 * record's generation; the router (node.c) pops due timers and hands each
 * to its module, which ignores a stale one. A module that keeps the
 * timer's handle cancels it when the record ends (streams, transmissions,
 * downloads), so the node is not woken for it. Before the heap grows, the
 * timers nobody waits for any more are dropped, as the router's liveness
 * callback says; when that frees less than a quarter of the heap, the heap
 * grows anyway, so that a heap of live timers is not passed over again at
 * nearly every push. Cross-file internal names carry p2p__timers_. */
#ifndef P2P_CORE_TIMERS_H
#define P2P_CORE_TIMERS_H

#include "core/buggify.h"
#include "core/metrics.h"
#include "core/timer_heap.h"

/* Whose a timer is, and what its index and gen name. */
enum p2p_timer_kind {
    P2P_TIMER_STREAM_DEADLINE, /* index, gen: a stream (streams.c) */
    P2P_TIMER_TX_RETRY,        /* index, gen: a transmission (sender) */
    P2P_TIMER_DOWNLOAD,        /* index, gen: a download */
    P2P_TIMER_BOUNCER_REFRESH, /* the downloader's periodic refresh */
    P2P_TIMER_REDIAL,          /* index: peer id; gen: its conn_gen */
    P2P_TIMER_STATE_ADVERT,    /* the periodic state advert */
    P2P_TIMER_STATE_SYNC,      /* gen: the sync's gen */
    P2P_TIMER_STATE_SLOW,      /* gen: the sync's gen; slow requests */
    P2P_TIMER_SLOT_DELETE,     /* index, gen: a slot's held deletion
                                  (sender) */
};

/* How late a timer may fire before core assumes it stalled itself. */
#define P2P_TIMER_STALL_NS (1 * P2P_NS_PER_S)

struct p2p_timers {
    struct p2p_timer_heap heap;
    p2p_timer_live_fn live;      /* the router's; NULL: every timer lives */
    const void *live_ctx;        /* borrowed */
    struct p2p_metrics *metrics; /* borrowed: timers_refused */
    struct p2p_buggify *bug;     /* borrowed */
    uint64_t compactions;        /* compaction passes run (for tests) */
};

/* At most entries_max timers; mem, metrics and bug are borrowed. */
void p2p__timers_init(struct p2p_timers *t, struct p2p_mem *mem,
                      size_t entries_max, struct p2p_metrics *metrics,
                      struct p2p_buggify *bug);
void p2p__timers_fini(struct p2p_timers *t);
/* Schedules a timer. Errors: P2P_ERR_LIMIT (timers_max reached),
 * P2P_ERR_NOMEM (counted in timers_refused); the caller then gives up
 * what needed the timer. */
int p2p__timers_add(struct p2p_timers *t, p2p_time deadline,
                    enum p2p_timer_kind kind, uint32_t index, uint32_t gen);
/* p2p__timers_add that hands out the timer's handle in *handle (borrowed
 * for the call; P2P_TIMER_HANDLE_NONE on an error), for an owner that
 * cancels the timer when what it guards ends. Errors: those of
 * p2p__timers_add. */
int p2p__timers_arm(struct p2p_timers *t, p2p_time deadline,
                    enum p2p_timer_kind kind, uint32_t index, uint32_t gen,
                    p2p_timer_handle *handle);
/* Cancels the timer *handle names if it is still scheduled (a timer that
 * fired or was compacted away: nothing), and sets *handle to
 * P2P_TIMER_HANDLE_NONE. */
void p2p__timers_cancel(struct p2p_timers *t, p2p_timer_handle *handle);

#endif
