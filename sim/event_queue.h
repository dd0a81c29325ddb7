/* The simulator's event queue, ordered by (time, seq), so events at the same
 * virtual time run in the order they were scheduled. That order is what
 * makes a run reproducible.
 *
 * A radix heap on time. The events at the time last popped (the "now run")
 * wait in an array sorted by seq; a later one waits in bucket b (1..64)
 * when the highest bit in which its time differs from the last popped is
 * bit b - 1. When the run is used up, the lowest non-empty bucket is
 * emptied: its earliest time becomes the run (sorted by seq), the rest go
 * to lower buckets. An event moves at most 64 times, in practice a few,
 * always through sequential memory, and only its 16-byte key (time; seq
 * and the slot of the rest of the event) moves. This needs times pushed in
 * order with the ones popped, which a discrete-event simulator gives
 * (nothing is scheduled in the past); an event before the last time popped
 * waits in a small heap of its own, ahead of everything else, so the order
 * stays exactly (time, seq) whatever is pushed.
 *
 * Push keeps every array big enough for the events queued (buckets are
 * lists of fixed chunks from one pool): a pop never allocates. */
#ifndef P2P_SIM_EVENT_QUEUE_H
#define P2P_SIM_EVENT_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

struct sim_event {
    p2p_time time;
    uint64_t seq;  /* set by the queue (sim_event_queue_push) */
    uint32_t type; /* enum sim_event_type (world.h) */
    uint32_t node;
    uint64_t arg; /* type-specific */
    void *ptr;    /* type-specific, owned by the event */
};

/* Bucket b (1..64) holds the events whose time differs from the last time
 * popped first (from the top) in bit b - 1. */
#define SIM_EVENT_QUEUE_BUCKETS 65

struct sim_event_key;   /* event_queue.c */
struct sim_event_body;  /* event_queue.c */
struct sim_event_chunk; /* event_queue.c */

/* A list of chunks of keys, filled in order; only its tail may be
 * partial. */
struct sim_event_bucket {
    struct sim_event_key *at, *end; /* the tail chunk's next free key and
                                       its end; both NULL: empty */
    uint32_t head, tail;            /* chunk indices */
    p2p_time least;                 /* the earliest time in the bucket */
};

struct sim_event_queue {
    struct sim_event_bucket buckets[SIM_EVENT_QUEUE_BUCKETS]; /* [0] unused */
    uint64_t nonempty;  /* bit b - 1: bucket b holds events */
    p2p_time last_time; /* the time last popped from the run; 0 at first */
    struct sim_event_key *run; /* owned: keys at last_time, by seq, a ring
                                  of slots_count */
    size_t run_first, run_len;
    struct sim_event_key *early; /* owned: a binary heap of keys before
                                    last_time (none in a simulation) */
    size_t early_count, early_capacity;
    struct sim_event_chunk *chunks;   /* owned: the buckets' pool */
    size_t chunks_count, chunks_used; /* in the pool, ever handed out */
    uint32_t free_chunk;              /* head of the free chunks */
    struct sim_event_body *bodies;    /* owned: the rest of each event */
    size_t slots_count, slots_used;   /* run and bodies: capacity, and
                                         slots ever handed out */
    uint32_t free_slot;               /* head of the free slots */
    unsigned slot_bits;               /* enough bits for max slots */
    size_t count, max;                /* events queued, the bound */
    uint64_t next_seq, seq_max;       /* seq_max: the last seq a key holds */
};

/* An empty queue for at most max events (1 <= max <= 2^32). */
void sim_event_queue_init(struct sim_event_queue *q, size_t max);
void sim_event_queue_fini(struct sim_event_queue *q);
/* Schedules a copy of *e (borrowed; its seq is ignored: the queue numbers
 * events in the order they are pushed, which orders those at one time);
 * returns 0, P2P_ERR_LIMIT when the queue is at its bound (max events
 * queued, or seq_max + 1 = 2^(64 - slot_bits) events numbered: 2^38 for
 * the simulator's 2^26) or P2P_ERR_NOMEM (the run is then aborted: the
 * bound is far above any scenario). On an error the queue is unchanged. */
int sim_event_queue_push(struct sim_event_queue *q, const struct sim_event *e);
/* Pops the earliest event by (time, seq) into *out: 1, or 0 when empty.
 * Never allocates, never fails. */
int sim_event_queue_pop(struct sim_event_queue *q, struct sim_event *out);

#endif
