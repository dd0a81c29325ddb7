/* The timer heap (core/timer_heap.h). */
#include "core/timer_heap.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

/* A reference's state: free ones hold the next free one (or REF_NONE). */
#define REF_NONE UINT32_MAX
#define REF_SCHEDULED (UINT32_MAX - 1)
#define REF_CANCELLED (UINT32_MAX - 2)

void p2p_timer_heap_init(struct p2p_timer_heap *h, struct p2p_mem *mem,
                         size_t entries_max)
{
    P2P_ASSERT(entries_max < REF_CANCELLED);
    memset(h, 0, sizeof(*h));
    h->mem = mem;
    h->entries_max = entries_max;
    h->refs_free = REF_NONE;
    h->next = P2P_TIME_NEVER;
}

void p2p_timer_heap_fini(struct p2p_timer_heap *h)
{
    p2p_mem_free(h->mem, P2P_MEM_OTHER, h->items);
    p2p_mem_free(h->mem, P2P_MEM_OTHER, h->refs);
    h->items = NULL;
    h->refs = NULL;
    h->count = h->capacity = h->cancelled = 0;
    h->refs_free = REF_NONE;
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

/* Returns reference r to the free list; handles naming it go stale. */
static void ref_free(struct p2p_timer_heap *h, uint32_t r)
{
    h->refs[r].gen++;
    h->refs[r].state = h->refs_free;
    h->refs_free = r;
}

static bool is_cancelled(const struct p2p_timer_heap *h,
                         const struct p2p_timer *t)
{
    return h->refs[t->ref].state == REF_CANCELLED;
}

/* Takes the earliest timer out of the array. */
static void remove_top(struct p2p_timer_heap *h)
{
    ref_free(h, h->items[0].ref);
    h->items[0] = h->items[--h->count];
    sift_down(h, 0);
}

/* Drops cancelled timers from the top, so the earliest is a scheduled
 * one, and notes its deadline. */
static void settle_top(struct p2p_timer_heap *h)
{
    while (h->count > 0 && is_cancelled(h, &h->items[0])) {
        h->cancelled--;
        remove_top(h);
    }
    h->next = h->count ? h->items[0].deadline : P2P_TIME_NEVER;
}

int p2p_timer_heap_grow(struct p2p_timer_heap *h)
{
    if (h->capacity >= h->entries_max)
        return P2P_ERR_LIMIT;
    size_t capacity = h->capacity ? h->capacity * 2 : 64;
    if (capacity > h->entries_max)
        capacity = h->entries_max;
    /* Both arrays grow, or the capacity stays (a larger items array with
     * the old capacity is only unused room). */
    struct p2p_timer *items = p2p_mem_realloc(h->mem, P2P_MEM_OTHER, h->items,
                                              capacity * sizeof(*items));
    if (items == NULL)
        return P2P_ERR_NOMEM;
    h->items = items;
    struct p2p_timer_ref *refs = p2p_mem_realloc(h->mem, P2P_MEM_OTHER, h->refs,
                                                 capacity * sizeof(*refs));
    if (refs == NULL)
        return P2P_ERR_NOMEM;
    h->refs = refs;
    /* The new references onto the free list, lowest first. */
    for (size_t r = capacity; r-- > h->capacity;) {
        h->refs[r].gen = 0;
        h->refs[r].state = h->refs_free;
        h->refs_free = (uint32_t)r;
    }
    h->capacity = capacity;
    return 0;
}

static bool drop_cancelled(const void *ctx, const struct p2p_timer *t)
{
    (void)ctx;
    (void)t;
    return true; /* only the cancelled ones go */
}

int p2p_timer_heap_push(struct p2p_timer_heap *h, p2p_time deadline,
                        uint32_t kind, uint32_t index, uint32_t gen,
                        p2p_timer_handle *handle)
{
    if (handle != NULL)
        *handle = P2P_TIMER_HANDLE_NONE;
    if (h->count == h->capacity && h->cancelled > 0)
        (void)p2p_timer_heap_compact(h, drop_cancelled, NULL);
    if (h->count >= h->entries_max)
        return P2P_ERR_LIMIT;
    if (h->count == h->capacity) {
        int rc = p2p_timer_heap_grow(h);
        if (rc != 0)
            return rc;
    }
    /* count < capacity: a reference is free. */
    uint32_t r = h->refs_free;
    P2P_ASSERT(r != REF_NONE);
    h->refs_free = h->refs[r].state;
    h->refs[r].state = REF_SCHEDULED;
    size_t i = h->count++;
    h->items[i] =
        (struct p2p_timer){deadline, h->next_seq++, kind, index, gen, r};
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&h->items[i], &h->items[parent]))
            break;
        swap(&h->items[i], &h->items[parent]);
        i = parent;
    }
    if (i == 0) /* the new earliest (items[0] is not read: it may be cold) */
        h->next = deadline;
    if (handle != NULL)
        *handle = ((uint64_t)h->refs[r].gen << 32) | ((uint64_t)r + 1);
    return 0;
}

bool p2p_timer_heap_cancel(struct p2p_timer_heap *h, p2p_timer_handle handle)
{
    uint64_t low = handle & UINT32_MAX;
    if (low == 0 || low > h->capacity)
        return false;
    uint32_t r = (uint32_t)(low - 1);
    struct p2p_timer_ref *ref = &h->refs[r];
    if (ref->gen != (uint32_t)(handle >> 32) || ref->state != REF_SCHEDULED)
        return false; /* fired, dropped or cancelled already */
    ref->state = REF_CANCELLED;
    h->cancelled++;
    /* The earliest deadline is always a scheduled timer's. */
    if (h->items[0].ref == r)
        settle_top(h);
    return true;
}

p2p_time p2p_timer_heap_next(const struct p2p_timer_heap *h)
{
    P2P_DASSERT(h->next == (h->count ? h->items[0].deadline : P2P_TIME_NEVER));
    return h->next;
}

size_t p2p_timer_heap_compact(struct p2p_timer_heap *h, p2p_timer_live_fn live,
                              const void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < h->count; i++) {
        const struct p2p_timer *t = &h->items[i];
        if (is_cancelled(h, t) || !live(ctx, t)) {
            ref_free(h, t->ref);
            continue;
        }
        if (kept != i)
            h->items[kept] = *t;
        kept++;
    }
    size_t dropped = h->count - kept;
    h->count = kept;
    h->cancelled = 0;
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
    remove_top(h);
    settle_top(h);
    return 1;
}

int p2p_timer_heap_check(const struct p2p_timer_heap *h)
{
    if (h->count > h->capacity || h->capacity > h->entries_max ||
        h->cancelled > h->count)
        return P2P_ERR_INTERNAL;
    if (h->next != (h->count ? h->items[0].deadline : P2P_TIME_NEVER) ||
        (h->count > 0 && is_cancelled(h, &h->items[0])))
        return P2P_ERR_INTERNAL;
    size_t cancelled = 0;
    for (size_t i = 0; i < h->count; i++) {
        const struct p2p_timer *t = &h->items[i];
        if (i > 0 && before(t, &h->items[(i - 1) / 2]))
            return P2P_ERR_INTERNAL;
        if (t->ref >= h->capacity || (h->refs[t->ref].state != REF_SCHEDULED &&
                                      h->refs[t->ref].state != REF_CANCELLED))
            return P2P_ERR_INTERNAL;
        cancelled += is_cancelled(h, t);
    }
    /* As many references taken as timers held (so no two share one), and
     * the others on the free list. */
    size_t taken = 0, free_refs = 0;
    for (size_t r = 0; r < h->capacity; r++)
        taken += h->refs[r].state == REF_SCHEDULED ||
                 h->refs[r].state == REF_CANCELLED;
    for (uint32_t r = h->refs_free; r != REF_NONE; r = h->refs[r].state)
        if (r >= h->capacity || ++free_refs > h->capacity - h->count)
            return P2P_ERR_INTERNAL;
    return cancelled == h->cancelled && taken == h->count &&
                   free_refs == h->capacity - h->count
               ? 0
               : P2P_ERR_INTERNAL;
}
