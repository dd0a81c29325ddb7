#include "sim/event_queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void sim_event_queue_init(struct sim_event_queue *q, size_t max)
{
    memset(q, 0, sizeof(*q));
    q->max = max;
}

void sim_event_queue_fini(struct sim_event_queue *q)
{
    free(q->items);
    memset(q, 0, sizeof(*q));
}

static int before(const struct sim_event *a, const struct sim_event *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

int sim_event_queue_push(struct sim_event_queue *q, const struct sim_event *in)
{
    if (q->count >= q->max)
        return P2P_ERR_LIMIT;
    if (q->count == q->capacity) {
        size_t capacity = q->capacity ? q->capacity * 2 : 1024;
        struct sim_event *items = realloc(q->items, capacity * sizeof(*items));
        if (items == NULL)
            return P2P_ERR_NOMEM;
        q->items = items;
        q->capacity = capacity;
    }
    size_t i = q->count++;
    struct sim_event e = *in;
    e.seq = q->next_seq++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &q->items[parent]))
            break;
        q->items[i] = q->items[parent];
        i = parent;
    }
    q->items[i] = e;
    return 0;
}

int sim_event_queue_pop(struct sim_event_queue *q, struct sim_event *out)
{
    if (q->count == 0)
        return 0;
    *out = q->items[0];
    struct sim_event last = q->items[--q->count];
    size_t i = 0, n = q->count;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        size_t m =
            (l + 1 < n && before(&q->items[l + 1], &q->items[l])) ? l + 1 : l;
        if (!before(&q->items[m], &last))
            break;
        q->items[i] = q->items[m];
        i = m;
    }
    if (n > 0)
        q->items[i] = last;
    return 1;
}
