#include "sim/busy_spans.h"

#include <stdbool.h>
#include <string.h>

#include "core/assert.h"

void sim_busy_spans_prune(struct sim_busy_span *spans, uint32_t *count,
                          p2p_time now)
{
    uint32_t gone = 0;
    while (gone < *count && spans[gone].to <= now)
        gone++;
    if (gone == 0)
        return;
    *count -= gone;
    memmove(spans, spans + gone, *count * sizeof(spans[0]));
}

/* The first span ending after t (or at it, when `at_t`), count if none:
 * the ends are in order, so a binary search. */
static uint32_t first_ending(const struct sim_busy_span *spans, uint32_t count,
                             p2p_time t, bool at_t)
{
    uint32_t lo = 0, hi = count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (spans[mid].to > t || (at_t && spans[mid].to == t))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

p2p_time sim_busy_spans_until(const struct sim_busy_span *spans, uint32_t count,
                              p2p_time at)
{
    uint32_t i = first_ending(spans, count, at, false);
    return i < count && spans[i].from <= at ? spans[i].to : at;
}

p2p_time sim_busy_spans_fill(const struct sim_busy_span *spans, uint32_t count,
                             p2p_time at, p2p_time took, p2p_time *start)
{
    P2P_ASSERT(took > 0);
    p2p_time t = at, left = took;
    bool started = false;
    /* Every span from the first ending after `at` on ends after t. */
    for (uint32_t i = first_ending(spans, count, at, false); i < count; i++) {
        const struct sim_busy_span *s = &spans[i];
        if (s->from > t) { /* idle in [t, s->from) */
            if (!started)
                *start = t;
            started = true;
            if (left <= s->from - t)
                return t + left;
            left -= s->from - t;
        }
        t = s->to;
    }
    if (!started)
        *start = t;
    return t + left;
}

/* Merges the two spans with the least idle time between them (counting
 * it busy) while there are more than max; the first such pair on a tie. */
static void bound(struct sim_busy_span *spans, uint32_t *count, uint32_t max)
{
    while (*count > max) {
        uint32_t best = 0;
        p2p_time best_gap = spans[1].from - spans[0].to;
        for (uint32_t i = 1; i + 1 < *count; i++) {
            p2p_time gap = spans[i + 1].from - spans[i].to;
            bool nearer = gap < best_gap; /* no branch: cheaper here */
            best = nearer ? i : best;
            best_gap = nearer ? gap : best_gap;
        }
        spans[best].to = spans[best + 1].to;
        (*count)--;
        memmove(&spans[best + 1], &spans[best + 2],
                (*count - best - 1) * sizeof(spans[0]));
    }
}

void sim_busy_spans_add(struct sim_busy_span *spans, uint32_t *count,
                        uint32_t max, p2p_time from, p2p_time to)
{
    P2P_ASSERT(from < to && max >= 1 && *count <= max);
    struct sim_busy_span *s = spans;
    uint32_t i = first_ending(s, *count, from, true), j;
    for (j = i; j < *count && s[j].from <= to; j++) {
        from = s[j].from < from ? s[j].from : from;
        to = s[j].to > to ? s[j].to : to;
    }
    /* A new span goes in at i, or spans [i, j) become one. */
    if (j == i) {
        memmove(&s[i + 1], &s[i], (*count - i) * sizeof(*s));
        (*count)++;
    } else {
        memmove(&s[i + 1], &s[j], (*count - j) * sizeof(*s));
        *count -= j - i - 1;
    }
    s[i] = (struct sim_busy_span){from, to};
    bound(spans, count, max);
}

void sim_busy_spans_check(const struct sim_busy_span *spans, uint32_t count,
                          uint32_t max)
{
    P2P_ASSERT(count <= max);
    for (uint32_t i = 0; i < count; i++) {
        P2P_ASSERT(spans[i].from < spans[i].to);
        P2P_ASSERT(i == 0 || spans[i - 1].to < spans[i].from);
    }
}
