/* The event queue: a radix heap on time, ties by seq (sim/event_queue.h). */
#include "sim/event_queue.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

/* What moves: the order is time, then tag, and the tag's high bits are the
 * seq, so (time, tag) orders as (time, seq). */
struct sim_event_key {
    p2p_time time;
    uint64_t tag; /* seq << slot_bits | slot */
};

/* The rest of an event, by slot; a free slot's arg links the next. */
struct sim_event_body {
    uint64_t arg;
    void *ptr;
    uint32_t type, node;
};

#define CHUNK_KEYS 64u /* 1 KiB of keys */
struct sim_event_chunk {
    struct sim_event_key keys[CHUNK_KEYS];
    uint32_t next; /* the bucket's next chunk, or the next free one */
};

#define NONE UINT32_MAX
#define SLOTS_MIN 1024u
/* Chunks the pool keeps beyond one per CHUNK_KEYS queued events: a partial
 * tail for each bucket, and while a pop spreads a bucket, the chunk being
 * read. */
#define CHUNKS_SPARE (SIM_EVENT_QUEUE_BUCKETS + 2u)

void sim_event_queue_init(struct sim_event_queue *q, size_t max)
{
    P2P_ASSERT(max >= 1 && max <= ((size_t)1 << 32));
    memset(q, 0, sizeof(*q));
    q->free_chunk = q->free_slot = NONE;
    q->max = max;
    while (((size_t)1 << q->slot_bits) < max)
        q->slot_bits++;
    q->seq_max = UINT64_MAX >> q->slot_bits;
}

void sim_event_queue_fini(struct sim_event_queue *q)
{
    free(q->run);
    free(q->early);
    free(q->chunks);
    free(q->bodies);
    memset(q, 0, sizeof(*q));
}

static inline bool before(const struct sim_event_key *a,
                          const struct sim_event_key *b)
{
    return a->time != b->time ? a->time < b->time : a->tag < b->tag;
}

/* The bucket of a time after the last one popped. */
static inline unsigned bucket_of(const struct sim_event_queue *q, p2p_time t)
{
    P2P_DASSERT(t > q->last_time);
    return 64u - (unsigned)__builtin_clzll(t ^ q->last_time);
}

/* ---- room, made by push so that pop never allocates ---- */

static int reserve_slots(struct sim_event_queue *q, size_t events)
{
    if (q->slots_count >= events)
        return 0;
    size_t n = q->slots_count ? q->slots_count * 2 : SLOTS_MIN;
    if (n > q->max)
        n = q->max;
    struct sim_event_body *bodies = realloc(q->bodies, n * sizeof(*bodies));
    if (bodies == NULL)
        return P2P_ERR_NOMEM;
    q->bodies = bodies;
    struct sim_event_key *run = realloc(q->run, n * sizeof(*run));
    if (run == NULL)
        return P2P_ERR_NOMEM; /* the bigger slab stays, unused */
    q->run = run;
    /* A ring that wrapped: the part up to the old end moves to the new
     * end, and it wraps there. */
    size_t old = q->slots_count;
    if (q->run_first + q->run_len > old) {
        size_t top = old - q->run_first;
        memmove(run + n - top, run + q->run_first, top * sizeof(*run));
        q->run_first = n - top;
    }
    q->slots_count = n;
    return 0;
}

/* The pool's tail past chunks_used was never handed out: growing it
 * touches nothing. The buckets' pointers follow the pool. */
static int reserve_chunks(struct sim_event_queue *q, size_t events)
{
    size_t need = events / CHUNK_KEYS + CHUNKS_SPARE;
    if (q->chunks_count >= need)
        return 0;
    size_t n = q->chunks_count ? q->chunks_count * 2 : need;
    if (n < need)
        n = need;
    size_t fill[SIM_EVENT_QUEUE_BUCKETS];
    for (unsigned b = 1; b < SIM_EVENT_QUEUE_BUCKETS; b++)
        if (q->buckets[b].at != NULL)
            fill[b] =
                (size_t)(q->buckets[b].at - q->chunks[q->buckets[b].tail].keys);
    struct sim_event_chunk *chunks = realloc(q->chunks, n * sizeof(*chunks));
    if (chunks == NULL)
        return P2P_ERR_NOMEM;
    q->chunks = chunks;
    q->chunks_count = n;
    for (unsigned b = 1; b < SIM_EVENT_QUEUE_BUCKETS; b++) {
        struct sim_event_bucket *bk = &q->buckets[b];
        if (bk->at != NULL) {
            bk->at = chunks[bk->tail].keys + fill[b];
            bk->end = chunks[bk->tail].keys + CHUNK_KEYS;
        }
    }
    return 0;
}

static int reserve_early(struct sim_event_queue *q)
{
    if (q->early_count < q->early_capacity)
        return 0;
    size_t n = q->early_capacity ? q->early_capacity * 2 : 16;
    struct sim_event_key *early = realloc(q->early, n * sizeof(*early));
    if (early == NULL)
        return P2P_ERR_NOMEM;
    q->early = early;
    q->early_capacity = n;
    return 0;
}

/* ---- buckets ---- */

static uint32_t take_chunk(struct sim_event_queue *q)
{
    uint32_t c = q->free_chunk;
    if (c != NONE) {
        q->free_chunk = q->chunks[c].next;
    } else {
        P2P_ASSERT(q->chunks_used < q->chunks_count);
        c = (uint32_t)q->chunks_used++;
    }
    q->chunks[c].next = NONE;
    return c;
}

static void give_chunk(struct sim_event_queue *q, uint32_t c)
{
    q->chunks[c].next = q->free_chunk;
    q->free_chunk = c;
}

/* The tail chunk is full, or the bucket empty: a new tail. */
static void bucket_extend(struct sim_event_queue *q, unsigned b)
{
    struct sim_event_bucket *bk = &q->buckets[b];
    uint32_t c = take_chunk(q);
    if (bk->at == NULL) {
        bk->head = c;
        bk->least = P2P_TIME_NEVER;
        q->nonempty |= (uint64_t)1 << (b - 1);
    } else {
        q->chunks[bk->tail].next = c;
    }
    bk->tail = c;
    bk->at = q->chunks[c].keys;
    bk->end = bk->at + CHUNK_KEYS;
}

static inline void bucket_append(struct sim_event_queue *q, unsigned b,
                                 struct sim_event_key k)
{
    struct sim_event_bucket *bk = &q->buckets[b];
    if (bk->at == bk->end)
        bucket_extend(q, b);
    *bk->at++ = k;
    if (k.time < bk->least)
        bk->least = k.time;
}

/* The run is used up: the lowest non-empty bucket's earliest time becomes
 * the last time and its keys at that time the run; its other keys go to
 * lower buckets. The run comes out sorted by seq without sorting: the
 * keys of one time always share a bucket (the one of the highest bit in
 * which it differs from the last time, which a refill changes only below
 * the bucket it empties), so they entered it in seq order, either pushed
 * one by one or moved in all together, in order, from a higher one. */
static void refill(struct sim_event_queue *q)
{
    P2P_ASSERT(q->run_len == 0 && q->nonempty != 0);
    unsigned b = 1u + (unsigned)__builtin_ctzll(q->nonempty);
    struct sim_event_bucket taken = q->buckets[b];
    q->buckets[b].at = q->buckets[b].end = NULL;
    q->nonempty &= ~((uint64_t)1 << (b - 1));
    P2P_ASSERT(taken.least > q->last_time);
    p2p_time least = taken.least;
    q->last_time = least;

    size_t run = 0;
    for (uint32_t c = taken.head;;) {
        const struct sim_event_key *k = q->chunks[c].keys;
        const struct sim_event_key *end =
            c == taken.tail ? taken.at : k + CHUNK_KEYS;
        for (; k < end; k++) {
            if (k->time == least) {
                P2P_ASSERT(run == 0 || q->run[run - 1].tag < k->tag);
                q->run[run++] = *k;
            } else {
                unsigned to = bucket_of(q, k->time);
                P2P_DASSERT(to < b);
                bucket_append(q, to, *k);
            }
        }
        uint32_t next = q->chunks[c].next;
        give_chunk(q, c);
        if (c == taken.tail)
            break;
        c = next;
    }
    P2P_ASSERT(run > 0);
    q->run_first = 0;
    q->run_len = run;
}

/* ---- the heap of early keys ---- */

static void early_push(struct sim_event_queue *q, struct sim_event_key k)
{
    size_t i = q->early_count++;
    while (i > 0 && before(&k, &q->early[(i - 1) / 2])) {
        q->early[i] = q->early[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->early[i] = k;
}

static struct sim_event_key early_pop(struct sim_event_queue *q)
{
    struct sim_event_key top = q->early[0];
    struct sim_event_key last = q->early[--q->early_count];
    size_t i = 0, n = q->early_count;
    for (;;) {
        size_t m = 2 * i + 1;
        if (m >= n)
            break;
        if (m + 1 < n && before(&q->early[m + 1], &q->early[m]))
            m++;
        if (!before(&q->early[m], &last))
            break;
        q->early[i] = q->early[m];
        i = m;
    }
    if (n > 0)
        q->early[i] = last;
    return top;
}

/* ---- entry points ---- */

/* The run's i-th slot (i <= its length). */
static inline size_t ring_at(const struct sim_event_queue *q, size_t i)
{
    size_t at = q->run_first + i;
    return at >= q->slots_count ? at - q->slots_count : at;
}

int sim_event_queue_push(struct sim_event_queue *q, const struct sim_event *in)
{
    if (q->count >= q->max || q->next_seq > q->seq_max)
        return P2P_ERR_LIMIT;
    int rc = reserve_slots(q, q->count + 1);
    if (rc == 0)
        rc = reserve_chunks(q, q->count + 1);
    if (rc == 0 && in->time < q->last_time)
        rc = reserve_early(q);
    if (rc != 0)
        return rc;

    uint32_t slot = q->free_slot;
    if (slot != NONE)
        q->free_slot = (uint32_t)q->bodies[slot].arg;
    else
        slot = (uint32_t)q->slots_used++;
    q->bodies[slot] = (struct sim_event_body){
        .arg = in->arg, .ptr = in->ptr, .type = in->type, .node = in->node};
    struct sim_event_key k = {in->time, q->next_seq++ << q->slot_bits | slot};
    if (k.time < q->last_time)
        early_push(q, k);
    else if (k.time == q->last_time) /* the latest seq: the run's end */
        q->run[ring_at(q, q->run_len++)] = k;
    else
        bucket_append(q, bucket_of(q, k.time), k);
    q->count++;
    P2P_DASSERT(q->count <= q->slots_used && q->slots_used <= q->slots_count);
    return 0;
}

int sim_event_queue_pop(struct sim_event_queue *q, struct sim_event *out)
{
    if (q->count == 0)
        return 0;
    struct sim_event_key k;
    if (q->early_count > 0) {
        k = early_pop(q);
    } else {
        if (q->run_len == 0)
            refill(q);
        k = q->run[q->run_first];
        q->run_first = ring_at(q, 1);
        q->run_len--;
    }
    uint32_t slot = (uint32_t)(k.tag & (((uint64_t)1 << q->slot_bits) - 1));
    struct sim_event_body *b = &q->bodies[slot];
    *out = (struct sim_event){.time = k.time,
                              .seq = k.tag >> q->slot_bits,
                              .type = b->type,
                              .node = b->node,
                              .arg = b->arg,
                              .ptr = b->ptr};
    b->arg = q->free_slot;
    q->free_slot = slot;
    q->count--;
    return 1;
}
