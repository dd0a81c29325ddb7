#include "sim/ack_heap.h"

#include <stdlib.h>

#include "core/assert.h"
#include "core/err.h"

#define FIRST_CAPACITY 64u

void sim_ack_heap_init(struct sim_ack_heap *h, uint32_t max)
{
    *h = (struct sim_ack_heap){.max = max};
}

void sim_ack_heap_fini(struct sim_ack_heap *h)
{
    free(h->items);
    *h = (struct sim_ack_heap){.max = h->max};
}

bool sim_ack_heap_earlier(const struct sim_waiting_ack *a,
                          const struct sim_waiting_ack *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void sift_up(struct sim_waiting_ack *items, uint32_t i)
{
    struct sim_waiting_ack x = items[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!sim_ack_heap_earlier(&x, &items[parent]))
            break;
        items[i] = items[parent];
        i = parent;
    }
    items[i] = x;
}

static void sift_down(struct sim_waiting_ack *items, uint32_t count, uint32_t i)
{
    struct sim_waiting_ack x = items[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= count)
            break;
        if (c + 1 < count && sim_ack_heap_earlier(&items[c + 1], &items[c]))
            c++;
        if (!sim_ack_heap_earlier(&items[c], &x))
            break;
        items[i] = items[c];
        i = c;
    }
    items[i] = x;
}

int sim_ack_heap_push(struct sim_ack_heap *h, const struct sim_waiting_ack *a)
{
    if (h->count >= h->max)
        return P2P_ERR_LIMIT;
    if (h->count == h->capacity) {
        uint32_t cap = h->capacity ? h->capacity * 2 : FIRST_CAPACITY;
        if (cap > h->max)
            cap = h->max;
        struct sim_waiting_ack *items =
            realloc(h->items, (size_t)cap * sizeof(*items));
        if (items == NULL)
            return P2P_ERR_NOMEM;
        h->items = items;
        h->capacity = cap;
    }
    h->items[h->count] = *a;
    sift_up(h->items, h->count++);
    return 0;
}

const struct sim_waiting_ack *sim_ack_heap_top(const struct sim_ack_heap *h)
{
    return h->count > 0 ? &h->items[0] : NULL;
}

struct sim_waiting_ack sim_ack_heap_pop(struct sim_ack_heap *h)
{
    P2P_ASSERT(h->count > 0);
    struct sim_waiting_ack top = h->items[0];
    h->items[0] = h->items[--h->count];
    if (h->count > 0)
        sift_down(h->items, h->count, 0);
    return top;
}
