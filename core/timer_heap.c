#include "core/timer_heap.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

void p2p_timer_heap_init(struct p2p_timer_heap *h, struct p2p_mem *mem,
                         size_t entries_max)
{
    memset(h, 0, sizeof(*h));
    h->mem = mem;
    h->entries_max = entries_max;
    h->next = P2P_TIME_NEVER;
}

void p2p_timer_heap_fini(struct p2p_timer_heap *h)
{
    p2p_mem_free(h->mem, P2P_MEM_OTHER, h->items);
    h->items = NULL;
    h->count = h->capacity = 0;
    h->next = P2P_TIME_NEVER;
}

static int before(const struct p2p_timer *a, const struct p2p_timer *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->seq < b->seq;
}

static void swap(struct p2p_timer *a, struct p2p_timer *b)
{
    struct p2p_timer t = *a;
    *a = *b;
    *b = t;
}

int p2p_timer_heap_grow(struct p2p_timer_heap *h)
{
    if (h->capacity >= h->entries_max)
        return P2P_ERR_LIMIT;
    size_t capacity = h->capacity ? h->capacity * 2 : 64;
    if (capacity > h->entries_max)
        capacity = h->entries_max;
    struct p2p_timer *items = p2p_mem_realloc(h->mem, P2P_MEM_OTHER, h->items,
                                              capacity * sizeof(*items));
    if (items == NULL)
        return P2P_ERR_NOMEM;
    h->items = items;
    h->capacity = capacity;
    return 0;
}

int p2p_timer_heap_push(struct p2p_timer_heap *h, p2p_time deadline,
                        uint32_t kind, uint32_t index, uint32_t gen)
{
    if (h->count >= h->entries_max)
        return P2P_ERR_LIMIT;
    if (h->count == h->capacity) {
        int rc = p2p_timer_heap_grow(h);
        if (rc != 0)
            return rc;
    }
    size_t i = h->count++;
    h->items[i] = (struct p2p_timer){deadline, h->next_seq++, kind, index, gen};
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&h->items[i], &h->items[parent]))
            break;
        swap(&h->items[i], &h->items[parent]);
        i = parent;
    }
    if (i == 0) /* the new earliest (items[0] is not read: it may be cold) */
        h->next = deadline;
    return 0;
}

p2p_time p2p_timer_heap_next(const struct p2p_timer_heap *h)
{
    P2P_DASSERT(h->next == (h->count ? h->items[0].deadline : P2P_TIME_NEVER));
    return h->next;
}

static void sift_down(struct p2p_timer_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->count && before(&h->items[l], &h->items[m]))
            m = l;
        if (r < h->count && before(&h->items[r], &h->items[m]))
            m = r;
        if (m == i)
            return;
        swap(&h->items[i], &h->items[m]);
        i = m;
    }
}

size_t p2p_timer_heap_compact(struct p2p_timer_heap *h, p2p_timer_live_fn live,
                              const void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < h->count; i++)
        if (live(ctx, &h->items[i]))
            h->items[kept++] = h->items[i];
    size_t dropped = h->count - kept;
    h->count = kept;
    for (size_t i = kept / 2; i-- > 0;)
        sift_down(h, i);
    h->next = kept ? h->items[0].deadline : P2P_TIME_NEVER;
    return dropped;
}

int p2p_timer_heap_pop_due(struct p2p_timer_heap *h, p2p_time now,
                           struct p2p_timer *out)
{
    if (h->count == 0 || h->next > now)
        return 0;
    *out = h->items[0];
    h->items[0] = h->items[--h->count];
    sift_down(h, 0);
    h->next = h->count ? h->items[0].deadline : P2P_TIME_NEVER;
    return 1;
}
