/* A link's reservations as a sorted list of busy spans, for models that
 * reserve a receiver's downlink when something is sent rather than when it
 * arrives (sim/pnet.c per datagram, sim/net.c per message).
 *
 * The list lives in caller storage: spans[0..*count), in order, each
 * non-empty, apart (an idle gap between any two), and room for max + 1
 * entries (the one being merged in). A reservation takes the idle time
 * from its arrival on, filling the gaps before spans reserved earlier for
 * later arrivals instead of queueing behind them; times already given out
 * never move, and no two reservations overlap, so the link never carries
 * more than its capacity. Past max spans the two with the least idle time
 * between them merge, that idle time counting as busy (later reservations
 * may come out later than they would have, never earlier). Integer
 * arithmetic only; deterministic: the result depends only on the calls. */
#ifndef P2P_SIM_BUSY_SPANS_H
#define P2P_SIM_BUSY_SPANS_H

#include <stdint.h>

#include "core/types.h"

/* A time span [from, to) in which a link is busy. */
struct sim_busy_span {
    p2p_time from, to;
};

/* Forgets the spans over by `now` (to <= now): the caller promises that
 * every later reservation starts at or after `now`. */
void sim_busy_spans_prune(struct sim_busy_span *spans, uint32_t *count,
                          p2p_time now);

/* The end of the busy span `at` falls in; `at` when the link is idle
 * then. */
p2p_time sim_busy_spans_until(const struct sim_busy_span *spans, uint32_t count,
                              p2p_time at);

/* When `took` ns (> 0) of the link's idle time from `at` on have passed;
 * *start is the first idle moment at or after `at`. Changes nothing: add
 * [*start, returned) to reserve it. */
p2p_time sim_busy_spans_fill(const struct sim_busy_span *spans, uint32_t count,
                             p2p_time at, p2p_time took, p2p_time *start);

/* Marks [from, to) (from < to) busy: the spans it overlaps or adjoins
 * merge with it; then, while there are more than max (>= 1), the two
 * nearest merge. spans has room for max + 1 entries. */
void sim_busy_spans_add(struct sim_busy_span *spans, uint32_t *count,
                        uint32_t max, p2p_time from, p2p_time to);

/* Asserts the list's invariants: at most max spans, each non-empty, in
 * order and apart. O(count). */
void sim_busy_spans_check(const struct sim_busy_span *spans, uint32_t count,
                          uint32_t max);

#endif
