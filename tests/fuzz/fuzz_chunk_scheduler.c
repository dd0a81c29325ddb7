/* Stateful libFuzzer harness for the chunk scheduler of state sync
 * (core/chunk_scheduler.h).
 *
 * The first bytes of the input choose a state (0..320 chunks of 1..32
 * bytes), a configuration within the documented bounds, a memory budget
 * (or the N-th allocation failing) and chunks held from the start
 * (resume). The rest is decoded as a sequence of operations (at most
 * OPS_MAX) on one scheduler: peers advertising and leaving, draining
 * next_request, requests answered with the right bytes, wrong bytes or a
 * failure, late and stray answers, time steps and on_time, chunks marked
 * held, deadline queries and take_complete.
 *
 * The harness keeps its own model of what the header promises (which
 * chunks are held, in flight and to whom, with which deadline, each
 * peer's failures per chunk, its bad chunks, exclusion and backoff
 * window) and after every operation compares it with the scheduler's
 * public view: check_invariants, progress, inflight, request_deadline,
 * is_held, done, next_deadline; and no allocation after _new. Each
 * request must respect the policy: a present, not excluded, not backing
 * off peer under per_peer_inflight_max, never a held chunk or one
 * already in flight, the lowest askable chunk, the peer with the fewest
 * failures on it then the least loaded. Where jitter or a chunk's
 * forgotten failures (more than P2P_CHUNK_SCHED_TRIED_MAX peers) make the
 * exact answer unknowable, the check becomes the bound that still holds.
 *
 * At the end (liveness) every peer that may come back does, and every
 * request is answered with the right bytes: the sync must end with every
 * chunk held, or be reported stalled for a reason the model confirms
 * (then a fresh peer is added while peers_max allows). Then the scheduler
 * is freed and every byte must be back. Any failure aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "core/chunk_scheduler.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/state_manifest.h"
#include "fuzz_check.h"

#ifdef FUZZ_SCHED_TRACE /* -DFUZZ_SCHED_TRACE: print every step */
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

#define OPS_MAX 512
/* Chunks of the fuzzed state: five 64-bit words of bits, enough for the
 * word-crossing logic; more only slows each run (the checks are linear). */
#define CHUNKS_MAX 320u
#define CHUNK_BYTES_MAX 32u     /* the fuzzed chunk_bytes */
#define NIDS 16u                /* peer ids 0..NIDS-1 */
#define PEERS_FUZZ_MAX 12u      /* peers_max below NIDS, so LIMIT is hit */
#define PAST_MAX 16u            /* finished requests kept for late answers */
#define DRAIN_MAX 64u           /* next_request calls per drain operation */
#define T0 (1000 * P2P_NS_PER_S)
#define TIME_MAX (30ULL * 24 * 3600 * P2P_NS_PER_S) /* from T0 */
#define BUDGET_BYTES (4u << 20) /* ample for any fuzzed configuration */
#define NO_PEER 0xffu
#define MOD P2P_MEM_STATE_SYNC

/* ---- input ---- */

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static uint32_t u16(struct input *in)
{
    uint32_t hi = u8(in);
    return hi << 8 | u8(in);
}

/* ---- the model ---- */

struct mpeer {
    bool seen;           /* in the scheduler's table (added once) */
    bool present;        /* added and not removed since */
    bool excluded;
    uint32_t order;      /* rank of its first add */
    uint32_t bad;        /* bad chunks served */
    uint32_t inflight;
    /* Backoff: the scheduler's ready_at is 0 (!bo_set) or in [lo, hi]
     * (lo == hi without jitter); maybe_cleared: a refresh may have reset
     * it to 0 already. !bo_known: ambiguous (a failure came while the
     * backoff may or may not have ended), until a success resets it. */
    bool bo_known, bo_set, maybe_cleared;
    uint32_t fails_in_row;
    p2p_time lo, hi;
};

struct mchunk {
    p2p_time deadline;   /* of the request in flight */
    uint8_t held, started;
    uint8_t peer;        /* the peer asked now, or NO_PEER */
    uint8_t distinct;    /* peers that failed it: > TRIED_MAX = some forgotten */
    uint8_t fails[NIDS]; /* per peer, capped at attempts_per_peer_max */
};

struct past {            /* a request no longer in flight */
    uint32_t index;
    uint8_t peer;
};

struct fz {
    struct p2p_mem mem, mman;
    struct p2p_rng rng;
    struct p2p_state_manifest m;
    struct p2p_chunk_scheduler_config cfg;
    struct p2p_chunk_scheduler *s;
    p2p_time now;
    uint32_t chunks, recs_count;
    uint64_t checks;        /* check_all calls */
    uint64_t allocs_after_new;
    size_t bytes_after_new;
    struct mpeer peers[NIDS];
    uint32_t peers_seen;
    struct mchunk *c;       /* chunks entries */
    uint32_t *infl;         /* chunks in flight, infl_count of them */
    uint32_t *infl_pos;     /* per chunk: its place in infl */
    uint32_t infl_count;
    uint32_t *wait;         /* chunks started and not in flight */
    uint32_t *wait_pos;
    uint32_t wait_count;
    uint32_t held_count, started_count, cursor;
    uint64_t bytes_held;
    uint64_t requests, failures, timeouts, bad_chunks;
    bool complete_pending;
    struct past past[PAST_MAX];
    uint32_t past_count, past_next;
    uint8_t *state;         /* the state the peers serve */
};

/* libFuzzer runs one input at a time: the harness's tables are static so
 * that a run allocates nothing but what the scheduler and manifest do. */
static struct fz g_fz;
static struct mchunk g_chunks[CHUNKS_MAX];
static uint32_t g_infl[CHUNKS_MAX], g_infl_pos[CHUNKS_MAX];
static uint32_t g_wait[CHUNKS_MAX], g_wait_pos[CHUNKS_MAX];
static uint8_t g_state[CHUNKS_MAX * CHUNK_BYTES_MAX];
static uint8_t g_bytes[CHUNK_BYTES_MAX + 1];

static p2p_time add_time(p2p_time now, p2p_time dt)
{
    return now > P2P_TIME_NEVER - 1 - dt ? P2P_TIME_NEVER - 1 : now + dt;
}

static p2p_node_id id_of(uint32_t pid) { return (p2p_node_id)pid; }

/* A peer id from the input: 0..NIDS-1, or P2P_NODE_NONE. */
static uint32_t pick_pid(struct input *in)
{
    uint32_t v = u8(in) % (NIDS + 1);
    return v == NIDS ? NO_PEER : v;
}

static p2p_node_id node_of(uint32_t pid)
{
    return pid == NO_PEER ? P2P_NODE_NONE : id_of(pid);
}

static const uint8_t *chunk_bytes(const struct fz *f, uint32_t i, size_t *len)
{
    *len = f->m.chunks[i].size;
    return f->state + (size_t)i * f->m.chunk_bytes;
}

static void list_add(uint32_t *list, uint32_t *pos, uint32_t *count,
                     uint32_t chunk)
{
    pos[chunk] = *count;
    list[(*count)++] = chunk;
}

static void list_del(uint32_t *list, uint32_t *pos, uint32_t *count,
                     uint32_t chunk)
{
    uint32_t at = pos[chunk];
    FUZZ_CHECK(at < *count && list[at] == chunk);
    list[at] = list[--*count];
    pos[list[at]] = at;
}

static void remember_past(struct fz *f, uint32_t index, uint32_t pid)
{
    f->past[f->past_next] = (struct past){index, (uint8_t)pid};
    f->past_next = (f->past_next + 1) % PAST_MAX;
    if (f->past_count < PAST_MAX)
        f->past_count++;
}

/* The request for chunk i is no longer in flight; it waits again. */
static void model_release(struct fz *f, uint32_t i)
{
    struct mchunk *c = &f->c[i];
    FUZZ_CHECK(c->peer != NO_PEER);
    f->peers[c->peer].inflight--;
    remember_past(f, i, c->peer);
    c->peer = NO_PEER;
    list_del(f->infl, f->infl_pos, &f->infl_count, i);
    list_add(f->wait, f->wait_pos, &f->wait_count, i);
}

static void model_advance_cursor(struct fz *f)
{
    while (f->cursor < f->chunks &&
           (f->c[f->cursor].held || f->c[f->cursor].started))
        f->cursor++;
}

/* Chunk i becomes held (arrived, or marked). */
static void model_hold(struct fz *f, uint32_t i)
{
    struct mchunk *c = &f->c[i];
    FUZZ_CHECK(!c->held);
    if (c->peer != NO_PEER)
        model_release(f, i);
    if (c->started) {
        list_del(f->wait, f->wait_pos, &f->wait_count, i);
        c->started = 0;
        f->started_count--;
    }
    c->held = 1;
    f->held_count++;
    f->bytes_held += f->m.chunks[i].size;
    if (f->held_count == f->chunks)
        f->complete_pending = true;
    model_advance_cursor(f);
}

static void model_add_fail(struct fz *f, uint32_t i, uint32_t pid, bool exhaust)
{
    struct mchunk *c = &f->c[i];
    uint32_t max = f->cfg.attempts_per_peer_max;
    if (c->fails[pid] == 0 && c->distinct < UINT8_MAX)
        c->distinct++;
    uint32_t n = exhaust ? max : c->fails[pid] + 1u;
    c->fails[pid] = (uint8_t)(n < max ? n : max);
}

/* Some failures of chunk i were forgotten: the scheduler may count fewer
 * than the model. */
static bool forgotten(const struct fz *f, uint32_t i)
{
    return f->c[i].distinct > P2P_CHUNK_SCHED_TRIED_MAX;
}

static bool exhausted(const struct fz *f, uint32_t i, uint32_t pid)
{
    return f->c[i].fails[pid] >= f->cfg.attempts_per_peer_max;
}

/* The scheduler's refresh_backoffs at now (next_request, on_time). */
static void model_refresh(struct fz *f)
{
    for (uint32_t p = 0; p < NIDS; p++) {
        struct mpeer *mp = &f->peers[p];
        if (!mp->bo_known || !mp->bo_set)
            continue;
        if (mp->hi <= f->now)
            mp->bo_set = mp->maybe_cleared = false;
        else if (mp->lo <= f->now)
            mp->maybe_cleared = true;
    }
}

/* The peer failed a request at now: it backs off unless it already does. */
static void model_peer_failed(struct fz *f, uint32_t pid)
{
    struct mpeer *mp = &f->peers[pid];
    if (!mp->bo_known)
        return;
    bool ended = !mp->bo_set || mp->hi <= f->now;
    bool running = mp->bo_set && mp->lo > f->now && !mp->maybe_cleared;
    if (!ended && !running) {
        mp->bo_known = false; /* may or may not back off anew */
        return;
    }
    if (running)
        return;
    if (mp->fails_in_row < UINT32_MAX)
        mp->fails_in_row++;
    p2p_time base = p2p_backoff_base(&f->cfg.peer_backoff, mp->fails_in_row - 1);
    p2p_time spread = f->cfg.peer_backoff.jitter_pct == 0
                          ? 0 : base / 100 * f->cfg.peer_backoff.jitter_pct;
    mp->lo = add_time(f->now, base - spread);
    mp->hi = add_time(f->now, base + spread);
    /* ready_at 0 means "not backing off": at time 0 with no delay. */
    mp->bo_set = mp->hi != 0;
    mp->maybe_cleared = mp->lo == 0;
}

/* Whether the peer may be asked now, after a refresh: 1 yes, 0 no, -1
 * unknown (backoff window). */
static int peer_free(const struct fz *f, uint32_t pid)
{
    const struct mpeer *mp = &f->peers[pid];
    if (!mp->seen || !mp->present || mp->excluded ||
        mp->inflight >= f->cfg.per_peer_inflight_max)
        return 0;
    if (!mp->bo_known)
        return -1;
    if (!mp->bo_set)
        return 1;
    if (mp->lo > f->now)
        return 0;
    return -1;
}

static bool peer_present(const struct fz *f, uint32_t pid)
{
    const struct mpeer *mp = &f->peers[pid];
    return mp->seen && mp->present && !mp->excluded;
}

/* ---- checks ---- */

static void check_inflight_list(struct fz *f)
{
    if (f->checks % 8 == 0) { /* a buffer too small, exactly: ASan bounds */
        size_t cap = f->infl_count / 2;
        struct p2p_chunk_request *part = cap ? malloc(cap * sizeof(*part)) : NULL;
        FUZZ_CHECK(p2p_chunk_scheduler_inflight(f->s, part, cap) == f->infl_count);
        free(part);
    }
    struct p2p_chunk_request *all =
        malloc((f->infl_count ? f->infl_count : 1) * sizeof(*all));
    FUZZ_CHECK(all != NULL);
    FUZZ_CHECK(p2p_chunk_scheduler_inflight(f->s, all, f->infl_count) ==
               f->infl_count);
    uint32_t per_peer[NIDS] = {0};
    uint32_t last_order = 0;
    for (uint32_t k = 0; k < f->infl_count; k++) {
        const struct p2p_chunk_request *r = &all[k];
        FUZZ_CHECK(r->index < f->chunks && r->peer < NIDS);
        const struct mchunk *c = &f->c[r->index];
        /* Listed once each (the model has one peer per chunk) */
        FUZZ_CHECK(c->peer == r->peer && c->deadline == r->deadline);
        FUZZ_CHECK(!c->held && c->started);
        FUZZ_CHECK(peer_present(f, r->peer));
        FUZZ_CHECK(++per_peer[r->peer] <= f->cfg.per_peer_inflight_max);
        /* by peer, in the order peers were first added */
        FUZZ_CHECK(f->peers[r->peer].order >= last_order);
        last_order = f->peers[r->peer].order;
    }
    for (uint32_t p = 0; p < NIDS; p++)
        FUZZ_CHECK(per_peer[p] == f->peers[p].inflight);
    free(all);
    /* request_deadline costs O(per_peer_inflight_max): a moving window. */
    for (uint32_t n = 0; n < f->infl_count && n < 8; n++) {
        uint32_t i = f->infl[(f->checks * 8 + n) % f->infl_count];
        p2p_time d = 0;
        FUZZ_CHECK(p2p_chunk_scheduler_request_deadline(f->s, id_of(f->c[i].peer),
                                                        i, &d));
        FUZZ_CHECK(d == f->c[i].deadline);
    }
}

/* Blocked chunks (waiting, every present peer exhausted for it) and
 * whether the sync is stalled, as ranges: forgotten failures may make
 * the scheduler see a chunk as not blocked. */
static void model_blocked(const struct fz *f, uint32_t present,
                          uint32_t *blocked_lo, uint32_t *blocked_hi)
{
    *blocked_lo = *blocked_hi = 0;
    for (uint32_t k = 0; k < f->wait_count; k++) {
        uint32_t i = f->wait[k], n = 0;
        for (uint32_t p = 0; p < NIDS; p++)
            n += peer_present(f, p) && exhausted(f, i, p);
        if (n == present) {
            (*blocked_hi)++;
            *blocked_lo += !forgotten(f, i);
        }
    }
}

static void check_progress(struct fz *f)
{
    struct p2p_chunk_progress pr;
    p2p_chunk_scheduler_progress(f->s, &pr);
    FUZZ_CHECK(pr.chunks_total == f->chunks);
    FUZZ_CHECK(pr.chunks_held == f->held_count);
    FUZZ_CHECK(pr.chunks_inflight == f->infl_count);
    FUZZ_CHECK(pr.chunks_waiting == f->wait_count);
    FUZZ_CHECK((uint64_t)pr.chunks_held + pr.chunks_inflight + pr.chunks_waiting <=
               pr.chunks_total);
    FUZZ_CHECK(pr.chunks_blocked <= pr.chunks_waiting);
    FUZZ_CHECK(pr.bytes_total == f->m.total_bytes);
    FUZZ_CHECK(pr.bytes_held == f->bytes_held && pr.bytes_held <= pr.bytes_total);
    FUZZ_CHECK((pr.bytes_held == pr.bytes_total) == (pr.chunks_held == pr.chunks_total));
    uint32_t present = 0, excluded = 0;
    for (uint32_t p = 0; p < NIDS; p++) {
        present += peer_present(f, p);
        excluded += f->peers[p].excluded;
    }
    FUZZ_CHECK(pr.peers_present == present && pr.peers_excluded == excluded);
    uint32_t blo, bhi;
    model_blocked(f, present, &blo, &bhi);
    FUZZ_CHECK(pr.chunks_blocked >= blo && pr.chunks_blocked <= bhi);
    bool undone = f->held_count < f->chunks;
    uint32_t fresh = f->chunks - f->held_count - f->started_count;
    bool no_fresh = fresh == 0 || f->started_count == f->recs_count;
    bool stalled_hi = undone && f->infl_count == 0 &&
                      (present == 0 || (bhi == f->wait_count && no_fresh));
    bool stalled_lo = undone && f->infl_count == 0 &&
                      (present == 0 || (blo == f->wait_count && no_fresh));
    FUZZ_CHECK(!pr.stalled || stalled_hi);
    FUZZ_CHECK(pr.stalled || !stalled_lo);
    FUZZ_CHECK(pr.requests == f->requests && pr.failures == f->failures &&
               pr.timeouts == f->timeouts && pr.bad_chunks == f->bad_chunks);
    FUZZ_CHECK(pr.timeouts <= pr.failures);
    FUZZ_CHECK(p2p_chunk_scheduler_done(f->s) == !undone);
}

static void check_deadline(struct fz *f)
{
    p2p_time lo = P2P_TIME_NEVER, hi = P2P_TIME_NEVER;
    for (uint32_t k = 0; k < f->infl_count; k++) {
        p2p_time d = f->c[f->infl[k]].deadline;
        lo = d < lo ? d : lo;
        hi = d < hi ? d : hi;
    }
    if (f->held_count + f->infl_count < f->chunks) {
        for (uint32_t p = 0; p < NIDS; p++) {
            const struct mpeer *mp = &f->peers[p];
            if (!peer_present(f, p))
                continue;
            if (!mp->bo_known) {
                lo = 0;
            } else if (mp->bo_set) {
                lo = mp->lo < lo ? mp->lo : lo;
                if (!mp->maybe_cleared)
                    hi = mp->hi < hi ? mp->hi : hi;
            }
        }
    }
    p2p_time nd = p2p_chunk_scheduler_next_deadline(f->s);
    if (nd < lo || nd > hi)
        TRACE("next_deadline %llu not in [%llu, %llu]\n",
              (unsigned long long)nd, (unsigned long long)lo,
              (unsigned long long)hi);
    FUZZ_CHECK(nd >= lo && nd <= hi);
}

static void check_all(struct fz *f)
{
    FUZZ_CHECK(p2p_chunk_scheduler_check_invariants(f->s) == 0);
    /* Everything was allocated by _new. */
    FUZZ_CHECK(f->mem.allocs == f->allocs_after_new);
    FUZZ_CHECK(f->mem.bytes == f->bytes_after_new);
    check_progress(f);
    check_inflight_list(f);
    check_deadline(f);
    /* Held bits: a window that moves each time (the count is checked
     * above, every bit at the end). */
    for (uint32_t k = 0; k < f->chunks && k < 16; k++) {
        uint32_t i = (uint32_t)((f->checks * 16 + k) % f->chunks);
        FUZZ_CHECK(p2p_chunk_scheduler_is_held(f->s, i) == (f->c[i].held != 0));
    }
    FUZZ_CHECK(!p2p_chunk_scheduler_is_held(f->s, f->chunks));
    f->checks++;
}

static void check_held_bits(struct fz *f)
{
    for (uint32_t i = 0; i < f->chunks; i++)
        FUZZ_CHECK(p2p_chunk_scheduler_is_held(f->s, i) == (f->c[i].held != 0));
}

/* ---- operations ---- */

static void op_add_peer(struct fz *f, uint32_t pid)
{
    int rc = p2p_chunk_scheduler_add_peer(f->s, f->now, node_of(pid));
    if (pid == NO_PEER) {
        FUZZ_CHECK(rc == P2P_ERR_INVALID_ARG);
        return;
    }
    struct mpeer *mp = &f->peers[pid];
    if (mp->excluded) {
        FUZZ_CHECK(rc == P2P_ERR_MISBEHAVED);
    } else if (mp->seen && mp->present) {
        FUZZ_CHECK(rc == P2P_ERR_EXISTS);
    } else if (!mp->seen && f->peers_seen == f->cfg.peers_max) {
        FUZZ_CHECK(rc == P2P_ERR_LIMIT);
    } else {
        FUZZ_CHECK(rc == 0);
        if (!mp->seen) {
            mp->seen = true;
            mp->order = f->peers_seen++;
            mp->bo_known = true;
        }
        mp->present = true;
    }
}

static void op_remove_peer(struct fz *f, uint32_t pid)
{
    int rc = p2p_chunk_scheduler_remove_peer(f->s, f->now, node_of(pid));
    if (pid == NO_PEER || !f->peers[pid].seen || !f->peers[pid].present) {
        FUZZ_CHECK(rc == P2P_ERR_NOT_FOUND);
        return;
    }
    struct mpeer *mp = &f->peers[pid];
    /* An excluded peer: the header does not say whether it still counts
     * as present here; either answer is fine, it has nothing in flight. */
    FUZZ_CHECK(rc == 0 || (mp->excluded && rc == P2P_ERR_NOT_FOUND));
    for (uint32_t k = f->infl_count; k-- > 0;)
        if (f->c[f->infl[k]].peer == pid)
            model_release(f, f->infl[k]);
    FUZZ_CHECK(mp->inflight == 0);
    mp->present = false;
}

/* The set of free peers is known (no backoff window in doubt). */
static bool free_set_known(const struct fz *f, uint32_t *free_count)
{
    *free_count = 0;
    for (uint32_t p = 0; p < NIDS; p++) {
        int fr = peer_free(f, p);
        if (fr < 0)
            return false;
        *free_count += (uint32_t)fr;
    }
    return true;
}

/* Some free peer may serve chunk i (by the model's count of failures). */
static bool servable(const struct fz *f, uint32_t i)
{
    for (uint32_t p = 0; p < NIDS; p++)
        if (peer_free(f, p) == 1 && !exhausted(f, i, p))
            return true;
    return false;
}

/* One next_request call, checked against the policy; true when it gave a
 * request. */
static bool one_request(struct fz *f)
{
    model_refresh(f);
    uint32_t free_count;
    bool known = free_set_known(f, &free_count);
    struct p2p_chunk_request r;
    memset(&r, 0xa5, sizeof(r));
    int got = p2p_chunk_scheduler_next_request(f->s, f->now, &r);
    FUZZ_CHECK(got == 0 || got == 1);
    if (got)
        TRACE("  t=%llu request chunk %u to %u\n", (unsigned long long)f->now,
              r.index, r.peer);
    bool fresh_left = f->cursor < f->chunks && f->started_count < f->recs_count;
    if (got == 0) {
        if (f->held_count == f->chunks || !known || free_count == 0)
            return false;
        /* Nothing askable: no fresh chunk may start, no waiting chunk
         * may be served by a free peer. */
        FUZZ_CHECK(!fresh_left);
        for (uint32_t k = 0; k < f->wait_count; k++)
            FUZZ_CHECK(!servable(f, f->wait[k]));
        return false;
    }
    uint32_t i = r.index;
    FUZZ_CHECK(i < f->chunks && r.peer < NIDS);
    uint32_t q = r.peer;
    struct mchunk *c = &f->c[i];
    struct mpeer *mp = &f->peers[q];
    /* Never a held chunk, one already in flight, or an unusable peer. */
    FUZZ_CHECK(!c->held && c->peer == NO_PEER);
    FUZZ_CHECK(peer_present(f, q) && mp->inflight < f->cfg.per_peer_inflight_max);
    FUZZ_CHECK(peer_free(f, q) != 0);
    FUZZ_CHECK(forgotten(f, i) || !exhausted(f, i, q));
    FUZZ_CHECK(r.deadline == add_time(f->now, f->cfg.chunk_timeout_ns));
    if (known) {
        /* The lowest askable chunk: failed ones first, then fresh ones in
         * order while records remain. */
        for (uint32_t k = 0; k < f->wait_count; k++) {
            uint32_t w = f->wait[k];
            if (w < i || !c->started)
                FUZZ_CHECK(w == i || !servable(f, w));
        }
        if (!c->started)
            FUZZ_CHECK(i == f->cursor && fresh_left);
        /* The peer: fewest failures on it, then fewest in flight. */
        if (!forgotten(f, i))
            for (uint32_t p = 0; p < NIDS; p++) {
                if (peer_free(f, p) != 1 || exhausted(f, i, p))
                    continue;
                FUZZ_CHECK(c->fails[p] > c->fails[q] ||
                           (c->fails[p] == c->fails[q] &&
                            f->peers[p].inflight >= mp->inflight));
            }
    }
    if (!c->started) {
        c->started = 1;
        f->started_count++;
        model_advance_cursor(f);
    } else {
        list_del(f->wait, f->wait_pos, &f->wait_count, i);
    }
    list_add(f->infl, f->infl_pos, &f->infl_count, i);
    c->peer = (uint8_t)q;
    c->deadline = r.deadline;
    mp->inflight++;
    f->requests++;
    return true;
}

static void op_drain(struct fz *f, struct input *in)
{
    uint32_t n = 1 + u8(in) % DRAIN_MAX;
    for (uint32_t k = 0; k < n && one_request(f); k++)
        ;
}

/* Picks a request in flight; false when none. The operations read the
 * same bytes either way, so that inputs decode alike whatever the state. */
static bool pick_inflight(const struct fz *f, struct input *in, uint32_t *i)
{
    uint32_t v = u16(in);
    if (f->infl_count == 0)
        return false;
    *i = f->infl[v % f->infl_count];
    return true;
}

static void answer_ok(struct fz *f, uint32_t i)
{
    uint32_t pid = f->c[i].peer;
    size_t len;
    const uint8_t *b = chunk_bytes(f, i, &len);
    enum p2p_chunk_verdict v;
    FUZZ_CHECK(p2p_chunk_scheduler_on_chunk_ok(f->s, f->now, id_of(pid), i, b, len,
                                               &v) == 0);
    FUZZ_CHECK(v == P2P_CHUNK_ACCEPTED);
    model_hold(f, i);
    struct mpeer *mp = &f->peers[pid];
    mp->bo_known = true; /* a success resets the backoff */
    mp->bo_set = mp->maybe_cleared = false;
    mp->fails_in_row = 0;
}

static void op_answer_ok(struct fz *f, struct input *in)
{
    uint32_t i;
    if (pick_inflight(f, in, &i))
        answer_ok(f, i);
}

/* Wrong bytes: one flipped, one short, one long, or none. */
static void op_answer_bad(struct fz *f, struct input *in)
{
    uint32_t i;
    bool any = pick_inflight(f, in, &i);
    uint8_t sel = u8(in);
    if (!any)
        return;
    uint32_t pid = f->c[i].peer;
    size_t len;
    const uint8_t *b = chunk_bytes(f, i, &len);
    memcpy(g_bytes, b, len);
    switch (sel & 3) {
    case 0:
        g_bytes[sel % len] ^= (uint8_t)(1u << (sel >> 5));
        break;
    case 1:
        len--;
        break;
    case 2:
        g_bytes[len++] = sel;
        break;
    default:
        len = 0;
        break;
    }
    enum p2p_chunk_verdict v;
    FUZZ_CHECK(p2p_chunk_scheduler_on_chunk_ok(f->s, f->now, id_of(pid), i,
                                               g_bytes, len, &v) == 0);
    struct mpeer *mp = &f->peers[pid];
    model_release(f, i);
    model_add_fail(f, i, pid, true);
    f->bad_chunks++;
    mp->bad++;
    model_peer_failed(f, pid);
    if (mp->bad >= f->cfg.bad_chunks_max) {
        FUZZ_CHECK(v == P2P_CHUNK_BAD_EXCLUDED);
        TRACE("  peer %u excluded\n", pid);
        mp->excluded = true;
        for (uint32_t k = f->infl_count; k-- > 0;)
            if (f->c[f->infl[k]].peer == pid)
                model_release(f, f->infl[k]);
    } else {
        FUZZ_CHECK(v == P2P_CHUNK_BAD);
    }
}

static int pick_err(uint8_t sel)
{
    static const int errs[] = {P2P_ERR_TIMEOUT, P2P_ERR_CONN_LOST,
                               P2P_ERR_NOT_FOUND, P2P_ERR_READ,
                               P2P_ERR_REFUSED, P2P_ERR_INTERNAL, -1000};
    return errs[sel % (sizeof(errs) / sizeof(errs[0]))];
}

static void fail_one(struct fz *f, uint32_t i, int err)
{
    uint32_t pid = f->c[i].peer;
    FUZZ_CHECK(p2p_chunk_scheduler_on_chunk_failed(f->s, f->now, id_of(pid), i,
                                                   err) == 0);
    model_release(f, i);
    model_add_fail(f, i, pid, err == P2P_ERR_NOT_FOUND);
    f->failures++;
    f->timeouts += err == P2P_ERR_TIMEOUT;
    model_peer_failed(f, pid);
}

static void op_answer_failed(struct fz *f, struct input *in)
{
    uint32_t i;
    bool any = pick_inflight(f, in, &i);
    int err = pick_err(u8(in));
    if (any)
        fail_one(f, i, err);
}

/* An answer to nothing in flight: late (after a timeout, a removal, a
 * mark_held), to the wrong peer, out of range, or a non-error "failure". */
static void op_stray(struct fz *f, struct input *in)
{
    uint8_t sel = u8(in);
    uint8_t which = u8(in);
    uint32_t pid = pick_pid(in);
    uint32_t i = u16(in) % (f->chunks + 2);
    if ((sel & 1) && f->past_count > 0) {
        pid = f->past[which % f->past_count].peer;
        i = f->past[which % f->past_count].index;
    }
    bool inflight = pid != NO_PEER && i < f->chunks && f->c[i].peer == pid;
    if (inflight)
        return; /* a real answer: the other operations do those */
    if (sel & 2) {
        int err = (sel & 4) ? (int)(sel >> 3) : pick_err(sel >> 3);
        int rc = p2p_chunk_scheduler_on_chunk_failed(f->s, f->now, node_of(pid),
                                                     i, err);
        FUZZ_CHECK(rc == (err >= 0 || i >= f->chunks ? P2P_ERR_INVALID_ARG
                                                     : P2P_ERR_NOT_FOUND));
        return;
    }
    size_t len = 1;
    const uint8_t *b = g_bytes;
    g_bytes[0] = sel;
    if (i < f->chunks && (sel & 4))
        b = chunk_bytes(f, i, &len); /* the right bytes, still too late */
    enum p2p_chunk_verdict v = P2P_CHUNK_ACCEPTED;
    int rc = p2p_chunk_scheduler_on_chunk_ok(f->s, f->now, node_of(pid), i, b,
                                             len, &v);
    if (i >= f->chunks) {
        FUZZ_CHECK(rc == P2P_ERR_INVALID_ARG);
    } else {
        FUZZ_CHECK(rc == 0 && v == P2P_CHUNK_STALE);
    }
}

static void fire(struct fz *f, uint8_t sel)
{
    model_refresh(f);
    uint32_t due = 0;
    for (uint32_t k = 0; k < f->infl_count; k++)
        due += f->c[f->infl[k]].deadline <= f->now;
    if ((sel & 3) == 0) { /* no list: every due request fails */
        uint32_t n = (uint32_t)p2p_chunk_scheduler_on_time(f->s, f->now, NULL, 0);
        FUZZ_CHECK(n == due);
        for (uint32_t k = f->infl_count; k-- > 0;)
            if (f->c[f->infl[k]].deadline <= f->now) {
                uint32_t i = f->infl[k], pid = f->c[i].peer;
                model_release(f, i);
                model_add_fail(f, i, pid, false);
                f->failures++;
                f->timeouts++;
                model_peer_failed(f, pid);
            }
        return;
    }
    size_t cap = (sel & 3) == 1 ? (sel >> 2) % 4 : CHUNKS_MAX;
    struct p2p_chunk_request *exp = malloc((cap ? cap : 1) * sizeof(*exp));
    FUZZ_CHECK(exp != NULL);
    size_t n = p2p_chunk_scheduler_on_time(f->s, f->now, exp, cap);
    FUZZ_CHECK(n == (due < cap ? due : cap));
    for (size_t k = 0; k < n; k++) {
        uint32_t i = exp[k].index, pid = exp[k].peer;
        FUZZ_CHECK(i < f->chunks && pid < NIDS);
        FUZZ_CHECK(f->c[i].peer == pid && f->c[i].deadline == exp[k].deadline &&
                   exp[k].deadline <= f->now);
        model_release(f, i); /* twice in the list would fail here */
        model_add_fail(f, i, pid, false);
        f->failures++;
        f->timeouts++;
        model_peer_failed(f, pid);
    }
    free(exp);
}

static void op_time(struct fz *f, struct input *in)
{
    static const p2p_time units[8] = {
        1, P2P_NS_PER_US, P2P_NS_PER_MS, 100 * P2P_NS_PER_MS, P2P_NS_PER_S,
        10 * P2P_NS_PER_S, 60 * P2P_NS_PER_S, 3600 * P2P_NS_PER_S};
    uint8_t sel = u8(in);
    p2p_time to;
    if (sel & 8) {
        to = p2p_chunk_scheduler_next_deadline(f->s);
        if (to == P2P_TIME_NEVER)
            to = f->now;
        if ((sel & 0x30) == 0x10)
            to += 1; /* just past it */
        else if ((sel & 0x30) == 0x20 && to > 0)
            to -= 1; /* just before it */
    } else {
        to = f->now + units[sel & 7] * (1 + (p2p_time)u8(in));
    }
    if (to > T0 + TIME_MAX)
        to = T0 + TIME_MAX;
    if (to > f->now)
        f->now = to;
    if (sel & 0x40) /* the caller's timer fires */
        fire(f, u8(in));
}

static void op_on_time(struct fz *f, struct input *in) { fire(f, u8(in)); }

static void op_mark_held(struct fz *f, struct input *in)
{
    uint8_t sel = u8(in);
    uint32_t v = u16(in);
    uint32_t i = v % (f->chunks + 2);
    if ((sel & 1) && f->infl_count > 0) /* one in flight */
        i = f->infl[v % f->infl_count];
    int rc = p2p_chunk_scheduler_mark_held(f->s, i);
    if (i >= f->chunks) {
        FUZZ_CHECK(rc == P2P_ERR_INVALID_ARG);
    } else if (f->c[i].held) {
        FUZZ_CHECK(rc == P2P_ERR_EXISTS);
    } else {
        FUZZ_CHECK(rc == 0);
        model_hold(f, i);
    }
}

static void op_take_complete(struct fz *f)
{
    FUZZ_CHECK(p2p_chunk_scheduler_take_complete(f->s) == f->complete_pending);
    f->complete_pending = false;
}

static void op_query(struct fz *f, struct input *in)
{
    uint32_t pid = pick_pid(in);
    uint32_t i = u16(in) % (f->chunks + 2);
    p2p_time d = 0;
    bool got = p2p_chunk_scheduler_request_deadline(f->s, node_of(pid), i, &d);
    bool inflight = pid != NO_PEER && i < f->chunks && f->c[i].peer == pid;
    FUZZ_CHECK(got == inflight);
    if (got)
        FUZZ_CHECK(d == f->c[i].deadline);
}

/* ---- set-up ---- */

/* Fills cfg from the input, within the documented bounds. */
static void read_config(struct fz *f, struct input *in)
{
    static const p2p_time units[4] = {1, P2P_NS_PER_MS, P2P_NS_PER_S,
                                      60 * P2P_NS_PER_S};
    struct p2p_chunk_scheduler_config *c = &f->cfg;
    p2p_chunk_scheduler_config_default(c);
    uint8_t b = u8(in);
    c->peers_max = b == 0xff ? P2P_CHUNK_SCHED_PEERS_MAX : 1 + b % PEERS_FUZZ_MAX;
    b = u8(in);
    c->per_peer_inflight_max = b == 0xff ? P2P_CHUNK_SCHED_PER_PEER_MAX : 1u + b % 6u;
    /* The bounds themselves, but not both at once (16 MiB of slots), and
     * 1024 slots for few peers only: every check walks all slots. */
    if (c->per_peer_inflight_max > 6)
        c->peers_max = c->peers_max > PEERS_FUZZ_MAX ? 1 : 1 + (c->peers_max - 1) % 2;
    b = u8(in);
    if (b == 0)
        c->chunks_active_max = 2 * c->per_peer_inflight_max * c->peers_max;
    else if (b == 0xff)
        c->chunks_active_max = P2P_CHUNK_SCHED_ACTIVE_MAX;
    else
        c->chunks_active_max = 1 + b % (f->chunks + 4);
    b = u8(in);
    c->chunk_timeout_ns = b == 0xff ? P2P_TIME_NEVER - 3
                                    : (1 + (p2p_time)u8(in)) * units[b & 3];
    /* Backoffs of at most 255 min: p2p_backoff_base's multiplication
     * wraps for max_ns above about 2^54 ns. */
    b = u8(in);
    c->peer_backoff.initial_ns = (p2p_time)u8(in) * units[b & 3];
    c->peer_backoff.max_ns = (p2p_time)u8(in) * units[(b >> 2) & 3];
    c->peer_backoff.factor_permille = 1000 + (uint32_t)u8(in) * 20;
    uint8_t j = u8(in);
    c->peer_backoff.jitter_pct = j < 0x80 ? 0 : (j - 0x80u) % 101;
    b = u8(in);
    c->attempts_per_peer_max = b == 0xff ? P2P_CHUNK_SCHED_ATTEMPTS_MAX : 1u + b % 4u;
    c->bad_chunks_max = 1 + u8(in) % 4;
}

/* A config with one field out of bounds is refused, allocating nothing. */
static void probe_bad_config(struct fz *f, uint8_t sel)
{
    struct p2p_chunk_scheduler_config c = f->cfg;
    switch (sel % 10) {
    case 0: c.peers_max = 0; break;
    case 1: c.peers_max = P2P_CHUNK_SCHED_PEERS_MAX + 1; break;
    case 2: c.per_peer_inflight_max = 0; break;
    case 3: c.per_peer_inflight_max = P2P_CHUNK_SCHED_PER_PEER_MAX + 1; break;
    case 4: c.chunks_active_max = 0; break;
    case 5: c.chunks_active_max = P2P_CHUNK_SCHED_ACTIVE_MAX + 1; break;
    case 6: c.chunk_timeout_ns = 0; break;
    case 7: c.attempts_per_peer_max = 0; break;
    case 8: c.attempts_per_peer_max = P2P_CHUNK_SCHED_ATTEMPTS_MAX + 1; break;
    default: c.bad_chunks_max = 0; break;
    }
    struct p2p_chunk_scheduler *s = (struct p2p_chunk_scheduler *)&c;
    FUZZ_CHECK(p2p_chunk_scheduler_new(&c, &f->m, &f->mem, MOD, &f->rng, &s) ==
               P2P_ERR_INVALID_ARG);
    FUZZ_CHECK(s == NULL && f->mem.bytes == 0);
}

/* Builds the state (chunks of chunk_bytes, the last one shorter) and its
 * manifest. */
static void make_state(struct fz *f, struct input *in)
{
    uint8_t b = u8(in);
    f->chunks = b < 0xf0 ? b % 97 : 97 + u16(in) % (CHUNKS_MAX - 96);
    FUZZ_CHECK(f->chunks <= CHUNKS_MAX);
    uint32_t cb = 1 + u8(in) % CHUNK_BYTES_MAX;
    uint32_t last = 1 + u8(in) % cb;
    uint8_t seed = u8(in);
    uint64_t len = f->chunks == 0 ? 0 : (uint64_t)(f->chunks - 1) * cb + last;
    for (uint64_t k = 0; k < len; k++)
        f->state[k] = (uint8_t)(k * 131u + seed + (k >> 7));
    FUZZ_CHECK(p2p_state_manifest_build_blob(&f->m, &f->mman, MOD, 7, cb, f->state,
                                             len) == 0);
    FUZZ_CHECK(f->m.chunks_count == f->chunks);
}

/* ---- liveness ---- */

/* Every peer that may come back does; every request is answered with the
 * right bytes. Ends with every chunk held, or stalled as the model
 * confirms with no room for a new peer. */
static void drive_to_end(struct fz *f)
{
    for (uint32_t p = 0; p < NIDS; p++)
        if (f->peers[p].seen && !f->peers[p].excluded && !f->peers[p].present)
            op_add_peer(f, p);
    check_all(f);
    /* Each round holds a chunk, ends a backoff (no failure happens now:
     * at most one per peer) or adds a peer. */
    uint32_t rounds_max = f->chunks + 2 * NIDS + 4;
    for (uint32_t round = 0; round < rounds_max; round++) {
        /* Requests left from the operations first: they free slots. */
        bool moved = f->infl_count > 0;
        while (f->infl_count > 0)
            answer_ok(f, f->infl[f->infl_count - 1]);
        while (one_request(f))
            moved = true;
        while (f->infl_count > 0)
            answer_ok(f, f->infl[f->infl_count - 1]);
        check_all(f);
        if (f->held_count == f->chunks)
            break;
        if (moved)
            continue;
        struct p2p_chunk_progress pr;
        p2p_chunk_scheduler_progress(f->s, &pr);
        if (pr.stalled) {
            /* check_progress confirmed the model agrees it is stuck. */
            uint32_t pid = 0;
            while (pid < NIDS && f->peers[pid].seen)
                pid++;
            if (f->peers_seen == f->cfg.peers_max || pid == NIDS)
                return;
            op_add_peer(f, pid);
            check_all(f);
            continue;
        }
        /* Not stalled and nothing to ask: a backoff must end. */
        p2p_time nd = p2p_chunk_scheduler_next_deadline(f->s);
        TRACE("round %u: held %u waiting %u blocked %u present %u stalled %d "
              "next %llu\n", round, pr.chunks_held, pr.chunks_waiting,
              pr.chunks_blocked, pr.peers_present, (int)pr.stalled,
              (unsigned long long)nd);
        FUZZ_CHECK(nd != P2P_TIME_NEVER);
        if (nd > f->now)
            f->now = nd;
        fire(f, 0);
        check_all(f);
    }
    FUZZ_CHECK(f->held_count == f->chunks);
    FUZZ_CHECK(p2p_chunk_scheduler_done(f->s));
    op_take_complete(f);
    FUZZ_CHECK(!p2p_chunk_scheduler_take_complete(f->s));
}

/* ---- entry point ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz *f = &g_fz;
    memset(f, 0, sizeof(*f));
    f->state = g_state;
    f->infl = g_infl;
    f->infl_pos = g_infl_pos;
    f->wait = g_wait;
    f->wait_pos = g_wait_pos;
    f->c = g_chunks;
    struct input in = {data, size};

    p2p_mem_init(&f->mem);
    p2p_mem_init(&f->mman);
    p2p_state_manifest_init(&f->m);
    make_state(f, &in);
    memset(f->c, 0, f->chunks * sizeof(*f->c));
    for (uint32_t i = 0; i < f->chunks; i++)
        f->c[i].peer = NO_PEER;
    read_config(f, &in);
    p2p_rng_init(&f->rng, u8(&in), 3);
    f->recs_count = f->cfg.chunks_active_max < f->chunks
                        ? f->cfg.chunks_active_max : f->chunks;
    uint8_t memsel = u8(&in);
    uint8_t probe = u8(&in);
    if (probe & 1)
        probe_bad_config(f, probe >> 1);
    if ((memsel & 0xc0) == 0xc0)
        f->mem.fail_at = 1 + memsel % 8;
    else if ((memsel & 0xc0) == 0x80)
        f->mem.bytes_budget = (size_t)(memsel & 0x3f) * 256 + 1;
    else
        f->mem.bytes_budget = BUDGET_BYTES;
    int rc = p2p_chunk_scheduler_new(&f->cfg, &f->m, &f->mem, MOD, &f->rng, &f->s);
    if (rc != 0) {
        /* Only the budget or the injected failure may refuse it. */
        FUZZ_CHECK(rc == P2P_ERR_NOMEM && f->mem.bytes_budget != BUDGET_BYTES);
        FUZZ_CHECK(f->s == NULL && f->mem.bytes == 0);
        p2p_state_manifest_fini(&f->m);
        FUZZ_CHECK(f->mman.bytes == 0);
        return 0;
    }
    f->allocs_after_new = f->mem.allocs;
    f->bytes_after_new = f->mem.bytes;
    f->complete_pending = f->chunks == 0;
    f->now = (memsel & 0x20) ? 0 : T0; /* time may start at 0 */
    check_all(f);

    /* Resume: some chunks held from the start (every k-th, from j). */
    uint8_t resume = u8(&in);
    if (resume != 0 && f->chunks > 0) {
        uint32_t step = 1 + resume % 5, from = (resume >> 3) % f->chunks;
        for (uint32_t i = from; i < f->chunks; i += step) {
            FUZZ_CHECK(p2p_chunk_scheduler_mark_held(f->s, i) == 0);
            model_hold(f, i);
        }
        check_all(f);
    }
    uint32_t initial = u8(&in) % (NIDS + 1);
    for (uint32_t p = 0; p < initial; p++)
        op_add_peer(f, p);
    check_all(f);

    TRACE("chunks %u peers_max %u per_peer %u active %u timeout %llu "
          "backoff %llu..%llu x%u j%u attempts %u bad %u now %llu\n",
          f->chunks, f->cfg.peers_max, f->cfg.per_peer_inflight_max,
          f->cfg.chunks_active_max,
          (unsigned long long)f->cfg.chunk_timeout_ns,
          (unsigned long long)f->cfg.peer_backoff.initial_ns,
          (unsigned long long)f->cfg.peer_backoff.max_ns,
          f->cfg.peer_backoff.factor_permille, f->cfg.peer_backoff.jitter_pct,
          f->cfg.attempts_per_peer_max, f->cfg.bad_chunks_max,
          (unsigned long long)f->now);
    for (unsigned ops = 0; ops < OPS_MAX && in.n > 0; ops++) {
        TRACE("op %u: %u\n", ops, in.p[0] % 16u);
        switch (u8(&in) % 16) {
        case 0: op_add_peer(f, pick_pid(&in)); break;
        case 1: op_remove_peer(f, pick_pid(&in)); break;
        case 2:
        case 3:
        case 4: op_drain(f, &in); break;
        case 5:
        case 6: op_answer_ok(f, &in); break;
        case 7: op_answer_bad(f, &in); break;
        case 8: op_answer_failed(f, &in); break;
        case 9: op_stray(f, &in); break;
        case 10:
        case 11: op_time(f, &in); break;
        case 12: op_on_time(f, &in); break;
        case 13: op_mark_held(f, &in); break;
        case 14: op_take_complete(f); break;
        default: op_query(f, &in); break;
        }
        check_all(f);
    }

    drive_to_end(f);
    check_held_bits(f);
    p2p_chunk_scheduler_del(f->s);
    FUZZ_CHECK(f->mem.bytes == 0);
    p2p_state_manifest_fini(&f->m);
    FUZZ_CHECK(f->mman.bytes == 0);
    return 0;
}
