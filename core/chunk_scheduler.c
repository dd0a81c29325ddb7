/* The chunk scheduler: per-chunk bits, per-peer request slots and a table
 * of chunks started and not yet held. See chunk_scheduler.h for the
 * policy and docs/state-sync.md for why. */
#include "core/chunk_scheduler.h"

#include "core/assert.h"
#include "core/err.h"

#define NONE UINT32_MAX

enum rec_state { REC_FREE = 0, REC_WAITING = 1, REC_INFLIGHT = 2 };

/* How often a peer failed one chunk. */
struct sched_tried {
    uint16_t peer; /* peer slot */
    uint8_t fails; /* <= attempts_per_peer_max */
};

/* A chunk started and not yet held. */
struct sched_rec {
    uint32_t chunk; /* when free: the next free record, or NONE */
    uint8_t state;  /* enum rec_state */
    uint8_t tried_count;
    uint16_t peer; /* when in flight: peer slot */
    uint16_t req;  /* when in flight: request slot of that peer */
    struct sched_tried tried[P2P_CHUNK_SCHED_TRIED_MAX];
};

struct sched_peer {
    p2p_node_id id;
    bool present;  /* advertises the state */
    bool excluded; /* served bad_chunks_max bad chunks */
    bool free_now; /* scratch for next_request */
    uint32_t inflight;
    uint32_t bad_chunks;
    uint32_t failures_in_row;
    p2p_time ready_at; /* backing off until then; 0 = not */
};

struct sched_req {
    uint32_t rec;    /* record index, NONE when the slot is free */
    p2p_time issued; /* when next_request handed it out */
    p2p_time deadline;
};

struct p2p_chunk_scheduler {
    struct p2p_chunk_scheduler_config cfg;
    const struct p2p_state_manifest *manifest; /* borrowed */
    struct p2p_mem *mem;                       /* borrowed */
    enum p2p_mem_module module;
    struct p2p_rng *rng; /* borrowed */
    uint32_t chunks_count;
    size_t words;      /* of each bitset */
    uint64_t *held;    /* owned; bit per chunk */
    uint64_t *started; /* owned; bit per chunk with a record */
    uint32_t held_count;
    uint32_t started_count; /* records in use */
    uint32_t waiting_count; /* records waiting */
    uint32_t inflight_count;
    uint64_t bytes_held;
    uint32_t cursor;          /* every chunk below is held or started */
    struct sched_peer *peers; /* owned; peers_max, first peers_count used */
    uint32_t peers_count;
    struct sched_req *reqs; /* owned; per_peer_inflight_max per peer */
    struct sched_rec *recs; /* owned; recs_count */
    uint32_t recs_count;
    uint32_t recs_free;    /* free list head, NONE when all in use */
    bool complete_pending; /* every chunk held, not yet taken */
    uint64_t requests, failures, timeouts, bad_chunks;
};

#define CHECK(s) P2P_DASSERT(p2p_chunk_scheduler_check_invariants(s) == 0)

void p2p_chunk_scheduler_config_default(struct p2p_chunk_scheduler_config *c)
{
    memset(c, 0, sizeof(*c));
    c->peers_max = P2P_CHUNK_SCHED_DEFAULT_PEERS;
    c->per_peer_inflight_max = P2P_CHUNK_SCHED_DEFAULT_PER_PEER;
    c->chunks_active_max = 2 * c->per_peer_inflight_max * c->peers_max;
    c->chunk_timeout_ns = P2P_CHUNK_SCHED_DEFAULT_TIMEOUT_NS;
    c->peer_backoff = (struct p2p_backoff){
        .initial_ns = 1 * P2P_NS_PER_S,
        .max_ns = 60 * P2P_NS_PER_S,
        .factor_permille = 2000,
        .jitter_pct = 10,
    };
    c->attempts_per_peer_max = 3;
    c->bad_chunks_max = 3;
}

static bool config_ok(const struct p2p_chunk_scheduler_config *c)
{
    return c->peers_max >= 1 && c->peers_max <= P2P_CHUNK_SCHED_PEERS_MAX &&
           c->per_peer_inflight_max >= 1 &&
           c->per_peer_inflight_max <= P2P_CHUNK_SCHED_PER_PEER_MAX &&
           c->chunks_active_max >= 1 &&
           c->chunks_active_max <= P2P_CHUNK_SCHED_ACTIVE_MAX &&
           c->chunk_timeout_ns > 0 && c->attempts_per_peer_max >= 1 &&
           c->attempts_per_peer_max <= P2P_CHUNK_SCHED_ATTEMPTS_MAX &&
           c->bad_chunks_max >= 1 && c->peer_backoff.factor_permille >= 1000 &&
           c->peer_backoff.jitter_pct <= 100;
}

static bool bit(const uint64_t *set, uint32_t i)
{
    return (set[i / 64] >> (i % 64)) & 1u;
}

static void bit_set(uint64_t *set, uint32_t i)
{
    set[i / 64] |= 1ULL << (i % 64);
}

static void bit_clear(uint64_t *set, uint32_t i)
{
    set[i / 64] &= ~(1ULL << (i % 64));
}

static uint32_t popcount(uint64_t w)
{
    uint32_t n = 0;
    for (; w != 0; w &= w - 1)
        n++;
    return n;
}

static uint32_t lowest_bit(uint64_t w)
{
    P2P_ASSERT(w != 0);
    uint32_t i = 0;
    while ((w & 1u) == 0) {
        w >>= 1;
        i++;
    }
    return i;
}

static p2p_time add_time(p2p_time now, p2p_time dt)
{
    return now > P2P_TIME_NEVER - 1 - dt ? P2P_TIME_NEVER - 1 : now + dt;
}

static struct sched_req *req_at(const struct p2p_chunk_scheduler *s,
                                uint32_t peer, uint32_t k)
{
    return &s->reqs[(size_t)peer * s->cfg.per_peer_inflight_max + k];
}

static void free_all(struct p2p_chunk_scheduler *s)
{
    p2p_mem_free(s->mem, s->module, s->held);
    p2p_mem_free(s->mem, s->module, s->started);
    p2p_mem_free(s->mem, s->module, s->peers);
    p2p_mem_free(s->mem, s->module, s->reqs);
    p2p_mem_free(s->mem, s->module, s->recs);
    p2p_mem_free(s->mem, s->module, s);
}

static int alloc_tables(struct p2p_chunk_scheduler *s)
{
    const struct p2p_chunk_scheduler_config *c = &s->cfg;
    if (s->words > 0) {
        s->held = p2p_mem_alloc(s->mem, s->module, s->words * sizeof(uint64_t));
        s->started =
            p2p_mem_alloc(s->mem, s->module, s->words * sizeof(uint64_t));
        if (s->held == NULL || s->started == NULL)
            return P2P_ERR_NOMEM;
    }
    s->peers =
        p2p_mem_alloc(s->mem, s->module, c->peers_max * sizeof(*s->peers));
    s->reqs = p2p_mem_alloc(s->mem, s->module,
                            (size_t)c->peers_max * c->per_peer_inflight_max *
                                sizeof(*s->reqs));
    if (s->peers == NULL || s->reqs == NULL)
        return P2P_ERR_NOMEM;
    if (s->recs_count > 0) {
        s->recs =
            p2p_mem_alloc(s->mem, s->module, s->recs_count * sizeof(*s->recs));
        if (s->recs == NULL)
            return P2P_ERR_NOMEM;
    }
    return 0;
}

int p2p_chunk_scheduler_new(const struct p2p_chunk_scheduler_config *cfg,
                            const struct p2p_state_manifest *manifest,
                            struct p2p_mem *mem, enum p2p_mem_module module,
                            struct p2p_rng *rng,
                            struct p2p_chunk_scheduler **out)
{
    *out = NULL;
    if (!config_ok(cfg) || manifest->chunks_count > P2P_STATE_CHUNKS_MAX)
        return P2P_ERR_INVALID_ARG;
    struct p2p_chunk_scheduler *s = p2p_mem_alloc(mem, module, sizeof(*s));
    if (s == NULL)
        return P2P_ERR_NOMEM;
    s->cfg = *cfg;
    s->manifest = manifest;
    s->mem = mem;
    s->module = module;
    s->rng = rng;
    s->chunks_count = manifest->chunks_count;
    s->words = ((size_t)s->chunks_count + 63) / 64;
    /* No more records than chunks: a small state costs little. */
    s->recs_count = cfg->chunks_active_max < s->chunks_count
                        ? cfg->chunks_active_max
                        : s->chunks_count;
    if (alloc_tables(s) != 0) {
        free_all(s);
        return P2P_ERR_NOMEM;
    }
    for (size_t i = 0; i < (size_t)cfg->peers_max * cfg->per_peer_inflight_max;
         i++)
        s->reqs[i].rec = NONE;
    s->recs_free = s->recs_count > 0 ? 0 : NONE;
    for (uint32_t i = 0; i < s->recs_count; i++)
        s->recs[i].chunk = i + 1 < s->recs_count ? i + 1 : NONE;
    s->complete_pending = s->chunks_count == 0;
    *out = s;
    CHECK(s);
    return 0;
}

void p2p_chunk_scheduler_del(struct p2p_chunk_scheduler *s)
{
    if (s != NULL)
        free_all(s);
}

static uint32_t find_peer(const struct p2p_chunk_scheduler *s, p2p_node_id id)
{
    for (uint32_t i = 0; i < s->peers_count; i++)
        if (s->peers[i].id == id)
            return i;
    return NONE;
}

/* The request slot of peer asking for chunk, or NONE. */
static uint32_t find_req(const struct p2p_chunk_scheduler *s, uint32_t peer,
                         uint32_t chunk)
{
    for (uint32_t k = 0; k < s->cfg.per_peer_inflight_max; k++) {
        const struct sched_req *q = req_at(s, peer, k);
        if (q->rec != NONE && s->recs[q->rec].chunk == chunk)
            return k;
    }
    return NONE;
}

static uint32_t fails_on(const struct sched_rec *r, uint32_t peer)
{
    for (uint32_t t = 0; t < r->tried_count; t++)
        if (r->tried[t].peer == peer)
            return r->tried[t].fails;
    return 0;
}

/* Counts one more failure of peer on r's chunk; `exhaust` rules the peer
 * out for it at once. With no room left, the entry with the fewest
 * failures (the first of them) is forgotten. */
static void add_fail(struct p2p_chunk_scheduler *s, struct sched_rec *r,
                     uint32_t peer, bool exhaust)
{
    uint32_t max = s->cfg.attempts_per_peer_max, t;
    for (t = 0; t < r->tried_count; t++)
        if (r->tried[t].peer == peer)
            break;
    if (t == r->tried_count) {
        if (r->tried_count < P2P_CHUNK_SCHED_TRIED_MAX) {
            r->tried_count++;
        } else {
            t = 0;
            for (uint32_t u = 1; u < r->tried_count; u++)
                if (r->tried[u].fails < r->tried[t].fails)
                    t = u;
        }
        r->tried[t].peer = (uint16_t)peer;
        r->tried[t].fails = 0;
    }
    uint32_t fails = exhaust ? max : r->tried[t].fails + 1u;
    r->tried[t].fails = (uint8_t)(fails < max ? fails : max);
}

/* Frees a request slot; its record goes back to waiting. */
static uint32_t release_req(struct p2p_chunk_scheduler *s, uint32_t peer,
                            uint32_t k)
{
    struct sched_req *q = req_at(s, peer, k);
    uint32_t rec = q->rec;
    P2P_ASSERT(rec != NONE && s->recs[rec].state == REC_INFLIGHT);
    q->rec = NONE;
    s->peers[peer].inflight--;
    s->inflight_count--;
    s->recs[rec].state = REC_WAITING;
    s->waiting_count++;
    return rec;
}

/* Releases a record (its request first, if in flight). */
static void finish_rec(struct p2p_chunk_scheduler *s, uint32_t rec)
{
    struct sched_rec *r = &s->recs[rec];
    if (r->state == REC_INFLIGHT)
        release_req(s, r->peer, r->req);
    P2P_ASSERT(r->state == REC_WAITING);
    s->waiting_count--;
    s->started_count--;
    bit_clear(s->started, r->chunk);
    r->state = REC_FREE;
    r->chunk = s->recs_free;
    s->recs_free = rec;
}

static void hold(struct p2p_chunk_scheduler *s, uint32_t chunk)
{
    P2P_ASSERT(!bit(s->held, chunk) && !bit(s->started, chunk));
    bit_set(s->held, chunk);
    s->held_count++;
    s->bytes_held += s->manifest->chunks[chunk].size;
    if (s->held_count == s->chunks_count)
        s->complete_pending = true; /* reached once: held never shrinks */
}

/* The peer failed a request: it backs off, unless it already does. */
static void peer_failed(struct p2p_chunk_scheduler *s, p2p_time now,
                        uint32_t peer)
{
    struct sched_peer *p = &s->peers[peer];
    if (p->ready_at != 0 && p->ready_at > now)
        return;
    if (p->failures_in_row < UINT32_MAX)
        p->failures_in_row++;
    p2p_time delay =
        p2p_backoff_delay(&s->cfg.peer_backoff, p->failures_in_row - 1, s->rng);
    p->ready_at = add_time(now, delay);
}

static void drop_requests(struct p2p_chunk_scheduler *s, uint32_t peer)
{
    for (uint32_t k = 0; k < s->cfg.per_peer_inflight_max; k++)
        if (req_at(s, peer, k)->rec != NONE)
            release_req(s, peer, k);
}

static void refresh_backoffs(struct p2p_chunk_scheduler *s, p2p_time now)
{
    for (uint32_t i = 0; i < s->peers_count; i++)
        if (s->peers[i].ready_at != 0 && s->peers[i].ready_at <= now)
            s->peers[i].ready_at = 0;
}

int p2p_chunk_scheduler_add_peer(struct p2p_chunk_scheduler *s, p2p_time now,
                                 p2p_node_id peer)
{
    (void)now;
    if (peer == P2P_NODE_NONE)
        return P2P_ERR_INVALID_ARG;
    uint32_t i = find_peer(s, peer);
    if (i != NONE) {
        if (s->peers[i].excluded)
            return P2P_ERR_MISBEHAVED;
        if (s->peers[i].present)
            return P2P_ERR_EXISTS;
        s->peers[i].present = true;
        CHECK(s);
        return 0;
    }
    if (s->peers_count == s->cfg.peers_max)
        return P2P_ERR_LIMIT;
    s->peers[s->peers_count++] =
        (struct sched_peer){.id = peer, .present = true};
    CHECK(s);
    return 0;
}

int p2p_chunk_scheduler_remove_peer(struct p2p_chunk_scheduler *s, p2p_time now,
                                    p2p_node_id peer)
{
    (void)now;
    uint32_t i = find_peer(s, peer);
    if (i == NONE || !s->peers[i].present)
        return P2P_ERR_NOT_FOUND;
    drop_requests(s, i);
    s->peers[i].present = false;
    CHECK(s);
    return 0;
}

bool p2p_chunk_scheduler_is_held(const struct p2p_chunk_scheduler *s,
                                 uint32_t index)
{
    return index < s->chunks_count && bit(s->held, index);
}

int p2p_chunk_scheduler_mark_held(struct p2p_chunk_scheduler *s, uint32_t index)
{
    if (index >= s->chunks_count)
        return P2P_ERR_INVALID_ARG;
    if (bit(s->held, index))
        return P2P_ERR_EXISTS;
    if (bit(s->started, index)) {
        uint32_t rec = 0;
        while (s->recs[rec].state == REC_FREE || s->recs[rec].chunk != index)
            rec++; /* the started bit says it is there */
        finish_rec(s, rec);
    }
    hold(s, index);
    CHECK(s);
    return 0;
}

/* Marks the peers that may take a request now; returns how many. */
static uint32_t mark_free_peers(struct p2p_chunk_scheduler *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->peers_count; i++) {
        struct sched_peer *p = &s->peers[i];
        p->free_now = p->present && !p->excluded && p->ready_at == 0 &&
                      p->inflight < s->cfg.per_peer_inflight_max;
        n += p->free_now;
    }
    return n;
}

/* Free peers that r's chunk may no longer be asked of. */
static uint32_t exhausted_free(const struct p2p_chunk_scheduler *s,
                               const struct sched_rec *r)
{
    uint32_t n = 0;
    for (uint32_t t = 0; t < r->tried_count; t++)
        n += r->tried[t].fails >= s->cfg.attempts_per_peer_max &&
             s->peers[r->tried[t].peer].free_now;
    return n;
}

/* The waiting chunk with the lowest index that some free peer may serve. */
static uint32_t pick_waiting(const struct p2p_chunk_scheduler *s,
                             uint32_t free_count)
{
    uint32_t best = NONE;
    for (uint32_t i = 0; i < s->recs_count && s->waiting_count > 0; i++) {
        const struct sched_rec *r = &s->recs[i];
        if (r->state == REC_WAITING &&
            (best == NONE || r->chunk < s->recs[best].chunk) &&
            exhausted_free(s, r) < free_count)
            best = i;
    }
    return best;
}

/* The lowest chunk neither held nor started, or NONE. */
static uint32_t find_fresh(struct p2p_chunk_scheduler *s)
{
    for (size_t w = s->cursor / 64; w < s->words; w++) {
        uint64_t open = ~(s->held[w] | s->started[w]);
        if (w == s->words - 1 && s->chunks_count % 64 != 0)
            open &= (1ULL << (s->chunks_count % 64)) - 1;
        if (open != 0) {
            s->cursor = (uint32_t)(w * 64 + lowest_bit(open));
            return s->cursor;
        }
    }
    s->cursor = s->chunks_count;
    return NONE;
}

static uint32_t start_chunk(struct p2p_chunk_scheduler *s, uint32_t chunk)
{
    uint32_t rec = s->recs_free;
    P2P_ASSERT(rec != NONE && !bit(s->started, chunk));
    struct sched_rec *r = &s->recs[rec];
    s->recs_free = r->chunk;
    *r = (struct sched_rec){.chunk = chunk, .state = REC_WAITING};
    bit_set(s->started, chunk);
    s->started_count++;
    s->waiting_count++;
    return rec;
}

/* Among the free peers that may serve r: the fewest failures on it, then
 * the fewest requests in flight, ties uniformly by the PRNG. */
static uint32_t pick_peer(struct p2p_chunk_scheduler *s,
                          const struct sched_rec *r)
{
    uint32_t best = NONE, best_fails = 0, best_load = 0, ties = 0;
    for (uint32_t i = 0; i < s->peers_count; i++) {
        const struct sched_peer *p = &s->peers[i];
        if (!p->free_now)
            continue;
        uint32_t fails = fails_on(r, i);
        if (fails >= s->cfg.attempts_per_peer_max)
            continue;
        if (best == NONE || fails < best_fails ||
            (fails == best_fails && p->inflight < best_load)) {
            best = i;
            best_fails = fails;
            best_load = p->inflight;
            ties = 1;
        } else if (fails == best_fails && p->inflight == best_load) {
            ties++;
            if (p2p_rng_below(s->rng, ties) == 0)
                best = i;
        }
    }
    return best;
}

int p2p_chunk_scheduler_next_request(struct p2p_chunk_scheduler *s,
                                     p2p_time now,
                                     struct p2p_chunk_request *out)
{
    refresh_backoffs(s, now);
    if (s->held_count == s->chunks_count)
        return 0;
    uint32_t free_count = mark_free_peers(s);
    if (free_count == 0)
        return 0;
    uint32_t rec = pick_waiting(s, free_count);
    if (rec == NONE) {
        if (s->recs_free == NONE)
            return 0; /* chunks_active_max started: wait for one to end */
        uint32_t chunk = find_fresh(s);
        if (chunk == NONE)
            return 0;
        rec = start_chunk(s, chunk);
    }
    struct sched_rec *r = &s->recs[rec];
    uint32_t peer = pick_peer(s, r);
    P2P_ASSERT(peer != NONE); /* a fresh chunk has no failures */
    uint32_t k = 0;
    while (req_at(s, peer, k)->rec != NONE)
        k++; /* free_now says one is free */
    struct sched_req *q = req_at(s, peer, k);
    q->rec = rec;
    q->issued = now;
    q->deadline = add_time(now, s->cfg.chunk_timeout_ns);
    s->peers[peer].inflight++;
    s->inflight_count++;
    s->waiting_count--;
    r->state = REC_INFLIGHT;
    r->peer = (uint16_t)peer;
    r->req = (uint16_t)k;
    s->requests++;
    *out = (struct p2p_chunk_request){.index = r->chunk,
                                      .peer = s->peers[peer].id,
                                      .issued = now,
                                      .deadline = q->deadline};
    CHECK(s);
    return 1;
}

int p2p_chunk_scheduler_on_chunk_ok(struct p2p_chunk_scheduler *s, p2p_time now,
                                    p2p_node_id peer, uint32_t index,
                                    const uint8_t *bytes, size_t len,
                                    enum p2p_chunk_verdict *verdict)
{
    if (index >= s->chunks_count)
        return P2P_ERR_INVALID_ARG;
    *verdict = P2P_CHUNK_STALE;
    uint32_t i = find_peer(s, peer);
    uint32_t k = i == NONE ? NONE : find_req(s, i, index);
    if (k == NONE)
        return 0;
    struct sched_peer *p = &s->peers[i];
    uint32_t rec = req_at(s, i, k)->rec;
    if (p2p_state_manifest_verify_chunk(s->manifest, index, bytes, len) == 0) {
        finish_rec(s, rec);
        hold(s, index);
        p->failures_in_row = 0;
        p->ready_at = 0;
        *verdict = P2P_CHUNK_ACCEPTED;
        CHECK(s);
        return 0;
    }
    release_req(s, i, k);
    add_fail(s, &s->recs[rec], i, true);
    s->bad_chunks++;
    p->bad_chunks++;
    peer_failed(s, now, i);
    *verdict = P2P_CHUNK_BAD;
    if (p->bad_chunks >= s->cfg.bad_chunks_max) {
        drop_requests(s, i);
        p->excluded = true;
        *verdict = P2P_CHUNK_BAD_EXCLUDED;
    }
    CHECK(s);
    return 0;
}

static void fail_req(struct p2p_chunk_scheduler *s, p2p_time now, uint32_t peer,
                     uint32_t k, int err)
{
    uint32_t rec = release_req(s, peer, k);
    add_fail(s, &s->recs[rec], peer, err == P2P_ERR_NOT_FOUND);
    s->failures++;
    s->timeouts += err == P2P_ERR_TIMEOUT;
    peer_failed(s, now, peer);
}

int p2p_chunk_scheduler_on_chunk_failed(struct p2p_chunk_scheduler *s,
                                        p2p_time now, p2p_node_id peer,
                                        uint32_t index, int err)
{
    if (err >= 0 || index >= s->chunks_count)
        return P2P_ERR_INVALID_ARG;
    uint32_t i = find_peer(s, peer);
    uint32_t k = i == NONE ? NONE : find_req(s, i, index);
    if (k == NONE)
        return P2P_ERR_NOT_FOUND;
    fail_req(s, now, i, k, err);
    CHECK(s);
    return 0;
}

void p2p_chunk_scheduler_on_progress(struct p2p_chunk_scheduler *s,
                                     p2p_time now, p2p_node_id peer)
{
    uint32_t i = find_peer(s, peer);
    if (i == NONE)
        return;
    p2p_time renewed = add_time(now, s->cfg.chunk_timeout_ns);
    for (uint32_t k = 0; k < s->cfg.per_peer_inflight_max; k++) {
        struct sched_req *q = req_at(s, i, k);
        if (q->rec != NONE && q->deadline < renewed)
            q->deadline = renewed;
    }
    CHECK(s);
}

/* True while some chunk is neither held nor in flight. */
static bool work_left(const struct p2p_chunk_scheduler *s)
{
    return s->held_count + s->inflight_count < s->chunks_count;
}

p2p_time p2p_chunk_scheduler_next_deadline(const struct p2p_chunk_scheduler *s)
{
    p2p_time next = P2P_TIME_NEVER;
    bool work = work_left(s);
    for (uint32_t i = 0; i < s->peers_count; i++) {
        const struct sched_peer *p = &s->peers[i];
        if (work && p->present && !p->excluded && p->ready_at != 0 &&
            p->ready_at < next)
            next = p->ready_at;
        for (uint32_t k = 0;
             k < s->cfg.per_peer_inflight_max && p->inflight > 0; k++) {
            const struct sched_req *q = req_at(s, i, k);
            if (q->rec != NONE && q->deadline < next)
                next = q->deadline;
        }
    }
    return next;
}

size_t p2p_chunk_scheduler_on_time(struct p2p_chunk_scheduler *s, p2p_time now,
                                   struct p2p_chunk_request *expired,
                                   size_t expired_cap)
{
    refresh_backoffs(s, now);
    size_t n = 0;
    for (uint32_t i = 0; i < s->peers_count; i++) {
        for (uint32_t k = 0; k < s->cfg.per_peer_inflight_max; k++) {
            struct sched_req *q = req_at(s, i, k);
            if (q->rec == NONE || q->deadline > now)
                continue;
            if (expired != NULL) {
                if (n == expired_cap)
                    goto out;
                expired[n] =
                    (struct p2p_chunk_request){.index = s->recs[q->rec].chunk,
                                               .peer = s->peers[i].id,
                                               .issued = q->issued,
                                               .deadline = q->deadline};
            }
            fail_req(s, now, i, k, P2P_ERR_TIMEOUT);
            n++;
        }
    }
out:
    CHECK(s);
    return n;
}

/* Present, unexcluded peers that r's chunk may no longer be asked of. */
static uint32_t exhausted_present(const struct p2p_chunk_scheduler *s,
                                  const struct sched_rec *r)
{
    uint32_t n = 0;
    for (uint32_t t = 0; t < r->tried_count; t++) {
        const struct sched_peer *p = &s->peers[r->tried[t].peer];
        n += r->tried[t].fails >= s->cfg.attempts_per_peer_max && p->present &&
             !p->excluded;
    }
    return n;
}

void p2p_chunk_scheduler_progress(const struct p2p_chunk_scheduler *s,
                                  struct p2p_chunk_progress *out)
{
    memset(out, 0, sizeof(*out));
    out->chunks_total = s->chunks_count;
    out->chunks_held = s->held_count;
    out->chunks_inflight = s->inflight_count;
    out->chunks_waiting = s->waiting_count;
    out->bytes_total = s->manifest->total_bytes;
    out->bytes_held = s->bytes_held;
    for (uint32_t i = 0; i < s->peers_count; i++) {
        out->peers_present += s->peers[i].present && !s->peers[i].excluded;
        out->peers_excluded += s->peers[i].excluded;
    }
    for (uint32_t i = 0; i < s->recs_count; i++)
        if (s->recs[i].state == REC_WAITING &&
            exhausted_present(s, &s->recs[i]) == out->peers_present)
            out->chunks_blocked++;
    uint32_t fresh = s->chunks_count - s->held_count - s->started_count;
    out->stalled =
        s->held_count < s->chunks_count && s->inflight_count == 0 &&
        (out->peers_present == 0 || (out->chunks_blocked == s->waiting_count &&
                                     (fresh == 0 || s->recs_free == NONE)));
    out->requests = s->requests;
    out->failures = s->failures;
    out->timeouts = s->timeouts;
    out->bad_chunks = s->bad_chunks;
}

bool p2p_chunk_scheduler_done(const struct p2p_chunk_scheduler *s)
{
    return s->held_count == s->chunks_count;
}

bool p2p_chunk_scheduler_take_complete(struct p2p_chunk_scheduler *s)
{
    bool complete = s->complete_pending;
    s->complete_pending = false;
    return complete;
}

size_t p2p_chunk_scheduler_inflight(const struct p2p_chunk_scheduler *s,
                                    struct p2p_chunk_request *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->peers_count; i++) {
        for (uint32_t k = 0; k < s->cfg.per_peer_inflight_max; k++) {
            const struct sched_req *q = req_at(s, i, k);
            if (q->rec == NONE)
                continue;
            if (n < cap)
                out[n] =
                    (struct p2p_chunk_request){.index = s->recs[q->rec].chunk,
                                               .peer = s->peers[i].id,
                                               .issued = q->issued,
                                               .deadline = q->deadline};
            n++;
        }
    }
    return n;
}

bool p2p_chunk_scheduler_request_deadline(const struct p2p_chunk_scheduler *s,
                                          p2p_node_id peer, uint32_t index,
                                          p2p_time *deadline)
{
    uint32_t i = find_peer(s, peer);
    if (i == NONE)
        return false;
    uint32_t k = find_req(s, i, index);
    if (k == NONE)
        return false;
    *deadline = req_at(s, i, k)->deadline;
    return true;
}

bool p2p_chunk_scheduler_request_issued(const struct p2p_chunk_scheduler *s,
                                        p2p_node_id peer, uint32_t index,
                                        p2p_time *issued)
{
    uint32_t i = find_peer(s, peer);
    uint32_t k = i == NONE ? NONE : find_req(s, i, index);
    if (k == NONE)
        return false;
    *issued = req_at(s, i, k)->issued;
    return true;
}

static bool bits_ok(const struct p2p_chunk_scheduler *s)
{
    uint32_t held = 0, started = 0;
    if (s->cursor > s->chunks_count)
        return false;
    for (size_t w = 0; w < s->words; w++) {
        if ((s->held[w] & s->started[w]) != 0)
            return false;
        held += popcount(s->held[w]);
        started += popcount(s->started[w]);
    }
    if (s->words > 0 && s->chunks_count % 64 != 0 &&
        ((s->held[s->words - 1] | s->started[s->words - 1]) >>
         (s->chunks_count % 64)) != 0)
        return false; /* bits past the last chunk */
    /* Every chunk below the cursor is held or started. */
    for (size_t w = 0; w < s->cursor / 64; w++)
        if ((s->held[w] | s->started[w]) != UINT64_MAX)
            return false;
    if (s->cursor % 64 != 0 &&
        ((s->held[s->cursor / 64] | s->started[s->cursor / 64]) &
         ((1ULL << (s->cursor % 64)) - 1)) != ((1ULL << (s->cursor % 64)) - 1))
        return false;
    return held == s->held_count && started == s->started_count;
}

static bool recs_ok(const struct p2p_chunk_scheduler *s)
{
    uint32_t used = 0, waiting = 0, free_listed = 0;
    for (uint32_t i = 0; i < s->recs_count; i++) {
        const struct sched_rec *r = &s->recs[i];
        if (r->state == REC_FREE)
            continue;
        used++;
        waiting += r->state == REC_WAITING;
        if (r->chunk >= s->chunks_count || !bit(s->started, r->chunk) ||
            r->tried_count > P2P_CHUNK_SCHED_TRIED_MAX)
            return false;
        if (r->state == REC_INFLIGHT &&
            (r->peer >= s->peers_count ||
             r->req >= s->cfg.per_peer_inflight_max ||
             req_at(s, r->peer, r->req)->rec != i))
            return false;
    }
    for (uint32_t i = s->recs_free; i != NONE && free_listed <= s->recs_count;
         i = s->recs[i].chunk) {
        if (s->recs[i].state != REC_FREE)
            return false;
        free_listed++;
    }
    return used == s->started_count && waiting == s->waiting_count &&
           used + free_listed == s->recs_count;
}

static bool peers_ok(const struct p2p_chunk_scheduler *s)
{
    uint32_t inflight = 0;
    for (uint32_t i = 0; i < s->peers_count; i++) {
        const struct sched_peer *p = &s->peers[i];
        uint32_t n = 0;
        for (uint32_t k = 0; k < s->cfg.per_peer_inflight_max; k++) {
            const struct sched_req *q = req_at(s, i, k);
            if (q->rec == NONE)
                continue;
            n++;
            if (q->rec >= s->recs_count ||
                s->recs[q->rec].state != REC_INFLIGHT ||
                s->recs[q->rec].peer != i || s->recs[q->rec].req != k)
                return false;
        }
        if (n != p->inflight || n > s->cfg.per_peer_inflight_max ||
            (n > 0 && (!p->present || p->excluded)))
            return false;
        inflight += n;
    }
    return inflight == s->inflight_count;
}

int p2p_chunk_scheduler_check_invariants(const struct p2p_chunk_scheduler *s)
{
    bool ok = s->held_count <= s->chunks_count &&
              s->started_count + s->held_count <= s->chunks_count &&
              s->inflight_count + s->waiting_count == s->started_count &&
              s->peers_count <= s->cfg.peers_max &&
              s->bytes_held <= s->manifest->total_bytes && bits_ok(s) &&
              recs_ok(s) && peers_ok(s);
    return ok ? 0 : P2P_ERR_INTERNAL;
}
