/* The chunk scheduler: order, per-peer limits, spread over 12 peers,
 * retries on another peer after an error, a timeout (at deadline - 1 and
 * at the deadline) or bad bytes, exclusion of a bad peer, a peer leaving
 * mid-flight, resume with half the chunks held, reuse from an older
 * manifest, completion exactly once, limits at limit and limit + 1,
 * allocation failures, and randomised runs that check the invariants after
 * every step and replay byte for byte from their seed. */
#include <stddef.h>

#include "harness.h"

#include "core/chunk_scheduler.h"

#define MOD P2P_MEM_OTHER
#define T0 (1000 * P2P_NS_PER_S)
#define REQS_MAX 4096

struct fx {
    struct p2p_mem mem;
    struct p2p_rng rng;
    uint8_t *state;           /* the state the peers serve */
    uint64_t len;
    uint32_t chunk_bytes;
    struct p2p_state_manifest m;
    struct p2p_chunk_scheduler_config cfg;
    struct p2p_chunk_scheduler *s;
    p2p_time now;
    struct p2p_chunk_request reqs[REQS_MAX]; /* from the last drain */
    size_t reqs_count;
};

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, seed, 7);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)p2p_rng_u32(&rng);
}

/* A config with no jitter, so that deadlines are exact. */
static void cfg_plain(struct p2p_chunk_scheduler_config *c)
{
    p2p_chunk_scheduler_config_default(c);
    c->peer_backoff.jitter_pct = 0;
}

/* A state of `chunks` chunks of 64 bytes (the last 40), its manifest, and
 * a scheduler under cfg (defaults without jitter when NULL) with peers
 * 1..peers. */
static void fx_init_cfg(struct fx *f, uint32_t chunks, unsigned peers,
                        const struct p2p_chunk_scheduler_config *cfg,
                        uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    p2p_mem_init(&f->mem);
    p2p_rng_init(&f->rng, seed, 1);
    f->chunk_bytes = 64;
    f->len = chunks == 0 ? 0 : (uint64_t)(chunks - 1) * 64 + 40;
    f->state = malloc(f->len ? f->len : 1);
    fill(f->state, f->len, seed + 100);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&f->m, &f->mem, MOD, 7, 64, f->state,
                                                   f->len), 0);
    ck_assert_uint_eq(f->m.chunks_count, chunks);
    if (cfg != NULL)
        f->cfg = *cfg;
    else
        cfg_plain(&f->cfg);
    ck_assert_int_eq(p2p_chunk_scheduler_new(&f->cfg, &f->m, &f->mem, MOD, &f->rng, &f->s), 0);
    f->now = T0;
    for (unsigned p = 1; p <= peers; p++)
        ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f->s, f->now, p), 0);
}

static void fx_init(struct fx *f, uint32_t chunks, unsigned peers,
                    uint32_t per_peer)
{
    struct p2p_chunk_scheduler_config c;
    cfg_plain(&c);
    c.per_peer_inflight_max = per_peer;
    fx_init_cfg(f, chunks, peers, &c, 1);
}

static void fx_fini(struct fx *f)
{
    ck_assert_int_eq(p2p_chunk_scheduler_check_invariants(f->s), 0);
    p2p_chunk_scheduler_del(f->s);
    p2p_state_manifest_fini(&f->m);
    free(f->state);
    ck_assert_uint_eq(f->mem.bytes, 0); /* nothing leaked */
}

static const uint8_t *chunk_at(const struct fx *f, uint32_t i, size_t *len)
{
    *len = f->m.chunks[i].size;
    return f->state + (uint64_t)i * f->chunk_bytes;
}

/* Takes every request the scheduler has now into f->reqs. */
static size_t drain(struct fx *f)
{
    f->reqs_count = 0;
    struct p2p_chunk_request r;
    while (p2p_chunk_scheduler_next_request(f->s, f->now, &r) == 1) {
        ck_assert_uint_lt(f->reqs_count, REQS_MAX);
        ck_assert_uint_eq(r.deadline, f->now + f->cfg.chunk_timeout_ns);
        f->reqs[f->reqs_count++] = r;
    }
    return f->reqs_count;
}

static enum p2p_chunk_verdict answer(struct fx *f, p2p_node_id peer,
                                     uint32_t index)
{
    size_t len;
    const uint8_t *b = chunk_at(f, index, &len);
    enum p2p_chunk_verdict v;
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_ok(f->s, f->now, peer, index, b, len, &v), 0);
    return v;
}

static enum p2p_chunk_verdict answer_bad(struct fx *f, p2p_node_id peer,
                                         uint32_t index)
{
    size_t len;
    const uint8_t *b = chunk_at(f, index, &len);
    uint8_t *x = malloc(len);
    memcpy(x, b, len);
    x[len / 2] ^= 0x5a;
    enum p2p_chunk_verdict v;
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_ok(f->s, f->now, peer, index, x, len, &v), 0);
    free(x);
    return v;
}

/* Serves every request of the last drain correctly. */
static void serve_all(struct fx *f)
{
    for (size_t i = 0; i < f->reqs_count; i++)
        ck_assert_int_eq(answer(f, f->reqs[i].peer, f->reqs[i].index), P2P_CHUNK_ACCEPTED);
}

static size_t inflight_of(const struct fx *f, p2p_node_id peer)
{
    struct p2p_chunk_request list[REQS_MAX];
    size_t n = p2p_chunk_scheduler_inflight(f->s, list, REQS_MAX), k = 0;
    ck_assert_uint_le(n, REQS_MAX);
    for (size_t i = 0; i < n; i++)
        k += list[i].peer == peer;
    return k;
}

static struct p2p_chunk_progress progress(const struct fx *f)
{
    struct p2p_chunk_progress p;
    p2p_chunk_scheduler_progress(f->s, &p);
    return p;
}

/* Answers every request in flight correctly; returns how many. */
static size_t serve_inflight(struct fx *f)
{
    struct p2p_chunk_request list[REQS_MAX];
    size_t n = p2p_chunk_scheduler_inflight(f->s, list, REQS_MAX);
    ck_assert_uint_le(n, REQS_MAX);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(answer(f, list[i].peer, list[i].index), P2P_CHUNK_ACCEPTED);
    return n;
}

/* Runs the sync to the end with every peer answering correctly. */
static void finish(struct fx *f)
{
    for (int round = 0; round < 10000 && !p2p_chunk_scheduler_done(f->s); round++) {
        drain(f);
        ck_assert_uint_gt(serve_inflight(f), 0);
    }
    ck_assert(p2p_chunk_scheduler_done(f->s));
}

START_TEST(lowest_index_first)
{
    struct fx f;
    fx_init(&f, 50, 1, 10);
    ck_assert_uint_eq(drain(&f), 10);
    for (uint32_t i = 0; i < 10; i++) {
        ck_assert_uint_eq(f.reqs[i].index, i);
        ck_assert_uint_eq(f.reqs[i].peer, 1);
    }
    /* Chunks 2, 7 and 4 arrive: the next three are 10, 11, 12. */
    ck_assert_int_eq(answer(&f, 1, 2), P2P_CHUNK_ACCEPTED);
    ck_assert_int_eq(answer(&f, 1, 7), P2P_CHUNK_ACCEPTED);
    ck_assert_int_eq(answer(&f, 1, 4), P2P_CHUNK_ACCEPTED);
    ck_assert_uint_eq(drain(&f), 3);
    for (uint32_t i = 0; i < 3; i++)
        ck_assert_uint_eq(f.reqs[i].index, 10 + i);
    /* A failed chunk goes back ahead of every chunk not yet asked. */
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, 1, 5, P2P_ERR_CONN_LOST), 0);
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, 2), 0);
    ck_assert_uint_eq(drain(&f), 10);
    ck_assert_uint_eq(f.reqs[0].index, 5);
    ck_assert_uint_eq(f.reqs[0].peer, 2);
    ck_assert_uint_eq(f.reqs[1].index, 13);
    finish(&f);
    fx_fini(&f);
}
END_TEST

START_TEST(per_peer_limit_at_limit_never_above)
{
    struct fx f;
    fx_init(&f, 200, 3, 4);
    ck_assert_uint_eq(drain(&f), 12);
    for (p2p_node_id p = 1; p <= 3; p++)
        ck_assert_uint_eq(inflight_of(&f, p), 4); /* at the limit */
    struct p2p_chunk_request r;
    ck_assert_int_eq(p2p_chunk_scheduler_next_request(f.s, f.now, &r), 0); /* not limit + 1 */
    /* Random completions: after each, no peer is above 4 and no chunk is
     * asked twice. */
    struct p2p_rng pick;
    p2p_rng_init(&pick, 9, 2);
    while (!p2p_chunk_scheduler_done(f.s)) {
        struct p2p_chunk_request list[16];
        size_t n = p2p_chunk_scheduler_inflight(f.s, list, 16);
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_le(n, 12);
        size_t k = p2p_rng_below(&pick, n);
        ck_assert_int_eq(answer(&f, list[k].peer, list[k].index), P2P_CHUNK_ACCEPTED);
        drain(&f);
        n = p2p_chunk_scheduler_inflight(f.s, list, 16);
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b < n; b++)
                ck_assert_uint_ne(list[a].index, list[b].index);
        for (p2p_node_id p = 1; p <= 3; p++)
            ck_assert_uint_le(inflight_of(&f, p), 4);
    }
    fx_fini(&f);
}
END_TEST

START_TEST(spread_across_12_peers)
{
    struct fx f;
    fx_init(&f, 1000, 12, 10);
    ck_assert_uint_eq(drain(&f), 120); /* IC: 10 x #peers */
    /* Least loaded first: every round of 12 requests covers all 12 peers. */
    for (size_t round = 0; round < 10; round++) {
        bool seen[13] = {false};
        for (size_t i = 0; i < 12; i++) {
            p2p_node_id p = f.reqs[round * 12 + i].peer;
            ck_assert(p >= 1 && p <= 12 && !seen[p]);
            seen[p] = true;
        }
    }
    for (p2p_node_id p = 1; p <= 12; p++)
        ck_assert_uint_eq(inflight_of(&f, p), 10);
    /* Peer 5 answers three: the next three requests all go to peer 5. */
    size_t served = 0;
    for (size_t i = 0; i < 120 && served < 3; i++)
        if (f.reqs[i].peer == 5) {
            answer(&f, 5, f.reqs[i].index);
            served++;
        }
    ck_assert_uint_eq(drain(&f), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(f.reqs[i].peer, 5);
    fx_fini(&f);
}
END_TEST

START_TEST(ties_broken_by_the_prng)
{
    /* The first peer asked depends on the seed, and only on it. */
    bool seen[13] = {false};
    p2p_node_id first[2][20];
    for (int rep = 0; rep < 2; rep++) {
        for (uint64_t seed = 0; seed < 20; seed++) {
            struct fx f;
            struct p2p_chunk_scheduler_config c;
            cfg_plain(&c);
            fx_init_cfg(&f, 10, 12, &c, seed);
            struct p2p_chunk_request r;
            ck_assert_int_eq(p2p_chunk_scheduler_next_request(f.s, f.now, &r), 1);
            first[rep][seed] = r.peer;
            seen[r.peer] = true;
            fx_fini(&f);
        }
    }
    ck_assert_mem_eq(first[0], first[1], sizeof(first[0]));
    size_t distinct = 0;
    for (int p = 1; p <= 12; p++)
        distinct += seen[p];
    ck_assert_uint_ge(distinct, 5);
}
END_TEST

START_TEST(retry_on_another_peer_after_error)
{
    struct fx f;
    fx_init(&f, 3, 2, 1);
    ck_assert_uint_eq(drain(&f), 2);
    p2p_node_id a = f.reqs[0].peer, b = f.reqs[1].peer;
    ck_assert_uint_eq(f.reqs[0].index, 0);
    ck_assert_uint_ne(a, b);
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, a, 0, P2P_ERR_CONN_LOST), 0);
    /* a backs off (1 s), b is busy: nothing now. */
    ck_assert_uint_eq(drain(&f), 0);
    ck_assert_uint_eq(p2p_chunk_scheduler_next_deadline(f.s), f.now + P2P_NS_PER_S);
    ck_assert_int_eq(answer(&f, b, 1), P2P_CHUNK_ACCEPTED);
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_uint_eq(f.reqs[0].index, 0); /* the failed chunk first */
    ck_assert_uint_eq(f.reqs[0].peer, b);  /* on the other peer */
    /* a's backoff: still out at its end - 1, back at its end. */
    f.now += P2P_NS_PER_S - 1;
    ck_assert_uint_eq(drain(&f), 0);
    f.now += 1;
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_uint_eq(f.reqs[0].index, 2);
    ck_assert_uint_eq(f.reqs[0].peer, a);
    ck_assert_uint_eq(progress(&f).failures, 1);
    /* A late failure of what is no longer asked changes nothing. */
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, a, 0, P2P_ERR_CONN_LOST),
                     P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, a, 2, 0), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, a, 3, P2P_ERR_TIMEOUT),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, 99, 2, P2P_ERR_TIMEOUT),
                     P2P_ERR_NOT_FOUND);
    ck_assert_uint_eq(progress(&f).failures, 1);
    finish(&f);
    fx_fini(&f);
}
END_TEST

START_TEST(retry_prefers_a_peer_that_has_not_failed_it)
{
    /* No backoff, so the failing peer stays free and is the least loaded:
     * the chunk still goes to the other peer. */
    struct fx f;
    struct p2p_chunk_scheduler_config c;
    cfg_plain(&c);
    c.per_peer_inflight_max = 3;
    c.peer_backoff.initial_ns = 0;
    fx_init_cfg(&f, 4, 2, &c, 1);
    ck_assert_uint_eq(drain(&f), 4);
    /* a is the first peer added, so it is met first when peers are
     * compared. */
    p2p_node_id a = 1, b = 2;
    ck_assert_uint_eq(inflight_of(&f, a), 2);
    ck_assert_uint_eq(inflight_of(&f, b), 2);
    uint32_t x = 0;
    while (f.reqs[x].peer != a)
        x++;
    x = f.reqs[x].index;
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, a, x, P2P_ERR_WRITE), 0);
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_uint_eq(f.reqs[0].index, x);
    ck_assert_uint_eq(f.reqs[0].peer, b);
    /* Both failed it once: then the least loaded (a) is asked again. */
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, b, x, P2P_ERR_WRITE), 0);
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_uint_eq(f.reqs[0].index, x);
    ck_assert_uint_eq(f.reqs[0].peer, a);
    finish(&f);
    fx_fini(&f);
}
END_TEST

START_TEST(timeout_at_deadline_not_before)
{
    struct fx f;
    fx_init(&f, 4, 2, 1);
    ck_assert_uint_eq(drain(&f), 2);
    p2p_time deadline = f.now + 10 * P2P_NS_PER_S; /* IC chunk timeout */
    ck_assert_uint_eq(p2p_chunk_scheduler_next_deadline(f.s), deadline);
    p2p_node_id slow = f.reqs[0].peer, fast = f.reqs[1].peer;
    struct p2p_chunk_request expired[4];
    ck_assert_uint_eq(p2p_chunk_scheduler_on_time(f.s, deadline - 1, expired, 4), 0);
    f.now = deadline - 1;
    ck_assert_int_eq(answer(&f, fast, 1), P2P_CHUNK_ACCEPTED);
    ck_assert_uint_eq(drain(&f), 1); /* chunk 2 on the fast peer */
    ck_assert_uint_eq(f.reqs[0].index, 2);
    f.now = deadline;
    ck_assert_uint_eq(p2p_chunk_scheduler_on_time(f.s, f.now, expired, 4), 1);
    ck_assert_uint_eq(expired[0].index, 0);
    ck_assert_uint_eq(expired[0].peer, slow);
    ck_assert_uint_eq(expired[0].deadline, deadline);
    ck_assert_uint_eq(progress(&f).timeouts, 1);
    /* The late answer from the slow peer is stale, not counted. */
    ck_assert_int_eq(answer(&f, slow, 0), P2P_CHUNK_STALE);
    ck_assert(!p2p_chunk_scheduler_is_held(f.s, 0));
    /* Chunk 0 goes to the fast peer once it is free. */
    ck_assert_int_eq(answer(&f, fast, 2), P2P_CHUNK_ACCEPTED);
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_uint_eq(f.reqs[0].index, 0);
    ck_assert_uint_eq(f.reqs[0].peer, fast);
    finish(&f);
    fx_fini(&f);
}
END_TEST

START_TEST(timeouts_reported_in_batches)
{
    struct fx f;
    fx_init(&f, 20, 1, 5);
    ck_assert_uint_eq(drain(&f), 5);
    p2p_time deadline = f.now + f.cfg.chunk_timeout_ns;
    struct p2p_chunk_request expired[2];
    ck_assert_uint_eq(p2p_chunk_scheduler_on_time(f.s, deadline, expired, 2), 2);
    ck_assert_uint_le(p2p_chunk_scheduler_next_deadline(f.s), deadline); /* more due */
    ck_assert_uint_eq(p2p_chunk_scheduler_on_time(f.s, deadline, expired, 2), 2);
    ck_assert_uint_eq(p2p_chunk_scheduler_on_time(f.s, deadline, NULL, 0), 1); /* all the rest */
    ck_assert_uint_eq(progress(&f).chunks_inflight, 0);
    ck_assert_uint_eq(progress(&f).timeouts, 5);
    /* Failures during a backoff do not lengthen it: one step, 1 s. */
    ck_assert_uint_eq(p2p_chunk_scheduler_next_deadline(f.s), deadline + P2P_NS_PER_S);
    fx_fini(&f);
}
END_TEST

START_TEST(peer_backoff_grows_and_resets)
{
    struct fx f;
    fx_init(&f, 10, 1, 1);
    /* Failures 1..4 in a row: 1, 2, 4, 8 s (chunk 0 is ruled out for the
     * peer after three, then chunk 1 fails). */
    p2p_time want[] = {1, 2, 4, 8};
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(drain(&f), 1);
        ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, 1, f.reqs[0].index,
                                                             P2P_ERR_REFUSED), 0);
        p2p_time end = f.now + want[i] * P2P_NS_PER_S;
        ck_assert_uint_eq(p2p_chunk_scheduler_next_deadline(f.s), end);
        f.now = end;
    }
    /* A success resets it. */
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_int_eq(answer(&f, 1, f.reqs[0].index), P2P_CHUNK_ACCEPTED);
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, 1, f.reqs[0].index,
                                                         P2P_ERR_REFUSED), 0);
    ck_assert_uint_eq(p2p_chunk_scheduler_next_deadline(f.s), f.now + P2P_NS_PER_S);
    fx_fini(&f);
}
END_TEST

START_TEST(bad_bytes_retried_elsewhere_and_peer_excluded)
{
    struct fx f;
    struct p2p_chunk_scheduler_config c;
    cfg_plain(&c);
    c.per_peer_inflight_max = 3;
    c.bad_chunks_max = 2;
    fx_init_cfg(&f, 30, 2, &c, 1);
    ck_assert_uint_eq(drain(&f), 6);
    p2p_node_id bad = f.reqs[0].peer, good = bad == 1 ? 2 : 1;
    uint32_t bad_chunks[3], k = 0;
    for (size_t i = 0; i < 6; i++)
        if (f.reqs[i].peer == bad)
            bad_chunks[k++] = f.reqs[i].index;
    ck_assert_uint_eq(k, 3);
    ck_assert_int_eq(answer_bad(&f, bad, bad_chunks[0]), P2P_CHUNK_BAD);
    ck_assert(!p2p_chunk_scheduler_is_held(f.s, bad_chunks[0]));
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, bad), P2P_ERR_EXISTS);
    ck_assert_int_eq(answer_bad(&f, bad, bad_chunks[1]), P2P_CHUNK_BAD_EXCLUDED);
    /* Its other request is forgotten; its answer is stale. */
    ck_assert_uint_eq(inflight_of(&f, bad), 0);
    ck_assert_int_eq(answer(&f, bad, bad_chunks[2]), P2P_CHUNK_STALE);
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, bad), P2P_ERR_MISBEHAVED);
    struct p2p_chunk_progress p = progress(&f);
    ck_assert_uint_eq(p.bad_chunks, 2);
    ck_assert_uint_eq(p.peers_excluded, 1);
    ck_assert_uint_eq(p.peers_present, 1);
    /* The rest comes from the good peer only, the three chunks included. */
    for (int round = 0; !p2p_chunk_scheduler_done(f.s); round++) {
        ck_assert_int_lt(round, 100);
        drain(&f);
        for (size_t i = 0; i < f.reqs_count; i++)
            ck_assert_uint_eq(f.reqs[i].peer, good);
        ck_assert_uint_eq(inflight_of(&f, bad), 0);
        serve_inflight(&f);
    }
    for (int i = 0; i < 3; i++)
        ck_assert(p2p_chunk_scheduler_is_held(f.s, bad_chunks[i]));
    fx_fini(&f);
}
END_TEST

START_TEST(bad_bytes_rule_that_peer_out_for_that_chunk)
{
    struct fx f;
    fx_init(&f, 1, 1, 1);
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_int_eq(answer_bad(&f, 1, 0), P2P_CHUNK_BAD);
    /* Its only peer served it wrong: not asked again, even later. */
    f.now += 3600 * P2P_NS_PER_S;
    ck_assert_uint_eq(drain(&f), 0);
    struct p2p_chunk_progress p = progress(&f);
    ck_assert_uint_eq(p.chunks_blocked, 1);
    ck_assert(p.stalled);
    /* A new peer unblocks it. */
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, 2), 0);
    ck_assert(!progress(&f).stalled);
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_uint_eq(f.reqs[0].peer, 2);
    finish(&f);
    fx_fini(&f);
}
END_TEST

START_TEST(attempts_per_peer_at_limit)
{
    struct fx f;
    struct p2p_chunk_scheduler_config c;
    cfg_plain(&c);
    c.attempts_per_peer_max = 3;
    fx_init_cfg(&f, 1, 1, &c, 1);
    for (int attempt = 0; attempt < 3; attempt++) {
        ck_assert_uint_eq(drain(&f), 1); /* attempts 1..3 (at the limit) */
        ck_assert_int_eq(p2p_chunk_scheduler_on_time(f.s, f.reqs[0].deadline, NULL, 0), 1);
        f.now = p2p_chunk_scheduler_next_deadline(f.s); /* end of the backoff */
        ck_assert_uint_ne(f.now, P2P_TIME_NEVER);
        ck_assert_uint_eq(p2p_chunk_scheduler_on_time(f.s, f.now, NULL, 0), 0);
    }
    ck_assert_uint_eq(drain(&f), 0); /* not a 4th time */
    ck_assert(progress(&f).stalled);
    ck_assert_uint_eq(progress(&f).timeouts, 3);
    fx_fini(&f);
}
END_TEST

START_TEST(not_found_rules_the_peer_out_at_once)
{
    struct fx f;
    fx_init(&f, 2, 2, 1);
    ck_assert_uint_eq(drain(&f), 2);
    p2p_node_id p0 = f.reqs[0].peer, p1 = f.reqs[1].peer;
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, p0, 0, P2P_ERR_NOT_FOUND), 0);
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, p1, 1, P2P_ERR_NOT_FOUND), 0);
    f.now += 3600 * P2P_NS_PER_S;
    /* Each chunk goes to the other peer, never back. */
    ck_assert_uint_eq(drain(&f), 2);
    for (size_t i = 0; i < 2; i++)
        ck_assert_uint_eq(f.reqs[i].peer, f.reqs[i].index == 0 ? p1 : p0);
    for (size_t i = 0; i < 2; i++)
        ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, f.reqs[i].peer,
                                                             f.reqs[i].index,
                                                             P2P_ERR_NOT_FOUND), 0);
    f.now += 3600 * P2P_NS_PER_S;
    ck_assert_uint_eq(drain(&f), 0);
    struct p2p_chunk_progress p = progress(&f);
    ck_assert_uint_eq(p.chunks_blocked, 2);
    ck_assert(p.stalled);
    ck_assert_uint_eq(p2p_chunk_scheduler_next_deadline(f.s) >= f.now, true);
    fx_fini(&f);
}
END_TEST

START_TEST(peer_leaving_mid_flight)
{
    struct fx f;
    fx_init(&f, 30, 2, 10);
    ck_assert_uint_eq(drain(&f), 20);
    ck_assert_uint_eq(inflight_of(&f, 1), 10);
    ck_assert_int_eq(p2p_chunk_scheduler_remove_peer(f.s, f.now, 1), 0);
    ck_assert_int_eq(p2p_chunk_scheduler_remove_peer(f.s, f.now, 1), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(p2p_chunk_scheduler_remove_peer(f.s, f.now, 77), P2P_ERR_NOT_FOUND);
    ck_assert_uint_eq(inflight_of(&f, 1), 0);
    ck_assert_uint_eq(progress(&f).chunks_waiting, 10);
    ck_assert_uint_eq(progress(&f).failures, 0); /* leaving is not failing */
    /* Its chunks go to peer 2 as it frees up; its answers are stale. */
    struct p2p_chunk_request old[20];
    memcpy(old, f.reqs, sizeof(old));
    for (size_t i = 0; i < 20; i++)
        if (old[i].peer == 1)
            ck_assert_int_eq(answer(&f, 1, old[i].index), P2P_CHUNK_STALE);
    for (size_t i = 0; i < 20; i++)
        if (old[i].peer == 2)
            ck_assert_int_eq(answer(&f, 2, old[i].index), P2P_CHUNK_ACCEPTED);
    ck_assert_uint_eq(drain(&f), 10);
    for (size_t i = 0; i < 10; i++) {
        ck_assert_uint_eq(f.reqs[i].peer, 2);
        bool was_peer1 = false;
        for (size_t j = 0; j < 20; j++)
            was_peer1 |= old[j].peer == 1 && old[j].index == f.reqs[i].index;
        ck_assert(was_peer1); /* the orphaned chunks, before new ones */
    }
    /* Back again: it is asked again. */
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, 1), 0);
    ck_assert_uint_eq(drain(&f), 10);
    for (size_t i = 0; i < 10; i++)
        ck_assert_uint_eq(f.reqs[i].peer, 1);
    /* Every peer gone: stalled, nothing in flight. */
    ck_assert_int_eq(p2p_chunk_scheduler_remove_peer(f.s, f.now, 1), 0);
    ck_assert_int_eq(p2p_chunk_scheduler_remove_peer(f.s, f.now, 2), 0);
    ck_assert(progress(&f).stalled);
    ck_assert_uint_eq(p2p_chunk_scheduler_next_deadline(f.s), P2P_TIME_NEVER);
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, 3), 0);
    finish(&f);
    fx_fini(&f);
}
END_TEST

START_TEST(resume_with_half_held)
{
    struct fx f;
    fx_init(&f, 100, 4, 10);
    for (uint32_t i = 0; i < 100; i += 2)
        ck_assert_int_eq(p2p_chunk_scheduler_mark_held(f.s, i), 0);
    ck_assert_int_eq(p2p_chunk_scheduler_mark_held(f.s, 0), P2P_ERR_EXISTS);
    ck_assert_int_eq(p2p_chunk_scheduler_mark_held(f.s, 100), P2P_ERR_INVALID_ARG);
    struct p2p_chunk_progress p = progress(&f);
    ck_assert_uint_eq(p.chunks_held, 50);
    ck_assert_uint_eq(p.bytes_held, 50 * 64);
    size_t asked = 0;
    while (!p2p_chunk_scheduler_done(f.s)) {
        drain(&f);
        for (size_t i = 0; i < f.reqs_count; i++)
            ck_assert_uint_eq(f.reqs[i].index % 2, 1); /* only the missing */
        asked += f.reqs_count;
        serve_all(&f);
    }
    ck_assert_uint_eq(asked, 50);
    p = progress(&f);
    ck_assert_uint_eq(p.bytes_held, p.bytes_total);
    ck_assert_uint_eq(p.bytes_total, 99 * 64 + 40);
    ck_assert_uint_eq(p.requests, 50);
    fx_fini(&f);
}
END_TEST

START_TEST(mark_held_while_in_flight)
{
    struct fx f;
    fx_init(&f, 5, 1, 2);
    ck_assert_uint_eq(drain(&f), 2);
    ck_assert_int_eq(p2p_chunk_scheduler_mark_held(f.s, 1), 0);
    ck_assert_uint_eq(inflight_of(&f, 1), 1);
    ck_assert_int_eq(answer(&f, 1, 1), P2P_CHUNK_STALE);
    ck_assert_uint_eq(drain(&f), 1);
    ck_assert_uint_eq(f.reqs[0].index, 2);
    finish(&f);
    fx_fini(&f);
}
END_TEST

START_TEST(reuse_from_an_older_manifest)
{
    /* Sync of an old state reaches half way; a newer state appears that
     * shares most chunks. */
    struct fx old;
    fx_init(&old, 40, 3, 10);
    for (int round = 0; round < 100 && progress(&old).chunks_held < 20; round++) {
        drain(&old);
        for (size_t i = 0; i < old.reqs_count && progress(&old).chunks_held < 20; i++)
            answer(&old, old.reqs[i].peer, old.reqs[i].index);
    }
    ck_assert_uint_eq(progress(&old).chunks_held, 20);
    /* The new state: chunks 5 and 30 changed, 2 appended. */
    struct fx nf;
    memset(&nf, 0, sizeof(nf));
    p2p_mem_init(&nf.mem);
    p2p_rng_init(&nf.rng, 2, 1);
    nf.chunk_bytes = 64;
    nf.len = 41 * 64 + 40;
    nf.state = malloc(nf.len);
    memcpy(nf.state, old.state, 39 * 64); /* the old last chunk was short */
    fill(nf.state + 39 * 64, nf.len - 39 * 64, 555);
    nf.state[5 * 64] ^= 1;
    nf.state[30 * 64] ^= 1;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&nf.m, &nf.mem, MOD, 8, 64, nf.state,
                                                   nf.len), 0);
    ck_assert_uint_eq(nf.m.chunks_count, 42);
    cfg_plain(&nf.cfg);
    ck_assert_int_eq(p2p_chunk_scheduler_new(&nf.cfg, &nf.m, &nf.mem, MOD, &nf.rng, &nf.s), 0);
    nf.now = old.now;
    for (p2p_node_id p = 1; p <= 3; p++)
        ck_assert_int_eq(p2p_chunk_scheduler_add_peer(nf.s, nf.now, p), 0);
    uint32_t from[42];
    ck_assert_int_eq(p2p_state_manifest_diff(&old.m, &nf.m, &nf.mem, MOD, from), 37);
    bool reused[42] = {false};
    uint32_t reused_count = 0;
    for (uint32_t i = 0; i < 42; i++) {
        if (from[i] != P2P_STATE_CHUNK_NONE && p2p_chunk_scheduler_is_held(old.s, from[i])) {
            ck_assert_int_eq(p2p_chunk_scheduler_mark_held(nf.s, i), 0);
            reused[i] = true;
            reused_count++;
        }
    }
    ck_assert_uint_eq(reused_count, 19); /* 0..19 held, 5 changed */
    /* The old sync is cancelled: its requests are listed, then freed. */
    struct p2p_chunk_request list[64];
    ck_assert_uint_le(p2p_chunk_scheduler_inflight(old.s, list, 64), 30);
    fx_fini(&old);
    size_t asked = 0;
    while (!p2p_chunk_scheduler_done(nf.s)) {
        drain(&nf);
        ck_assert_uint_gt(nf.reqs_count, 0);
        for (size_t i = 0; i < nf.reqs_count; i++)
            ck_assert(!reused[nf.reqs[i].index]);
        asked += nf.reqs_count;
        serve_all(&nf);
    }
    ck_assert_uint_eq(asked, 42 - reused_count);
    ck_assert(p2p_chunk_scheduler_take_complete(nf.s));
    fx_fini(&nf);
}
END_TEST

START_TEST(completion_exactly_once)
{
    struct fx f;
    fx_init(&f, 3, 2, 10);
    ck_assert(!p2p_chunk_scheduler_take_complete(f.s));
    ck_assert_uint_eq(drain(&f), 3);
    ck_assert_int_eq(answer(&f, f.reqs[0].peer, f.reqs[0].index), P2P_CHUNK_ACCEPTED);
    ck_assert_int_eq(answer(&f, f.reqs[1].peer, f.reqs[1].index), P2P_CHUNK_ACCEPTED);
    ck_assert(!p2p_chunk_scheduler_take_complete(f.s));
    ck_assert(!p2p_chunk_scheduler_done(f.s));
    ck_assert_int_eq(answer(&f, f.reqs[2].peer, f.reqs[2].index), P2P_CHUNK_ACCEPTED);
    ck_assert(p2p_chunk_scheduler_done(f.s));
    ck_assert(p2p_chunk_scheduler_take_complete(f.s));
    ck_assert(!p2p_chunk_scheduler_take_complete(f.s));
    /* Afterwards: duplicates are stale, nothing is asked, nothing is due. */
    ck_assert_int_eq(answer(&f, f.reqs[2].peer, f.reqs[2].index), P2P_CHUNK_STALE);
    ck_assert_int_eq(p2p_chunk_scheduler_mark_held(f.s, 0), P2P_ERR_EXISTS);
    ck_assert_uint_eq(drain(&f), 0);
    ck_assert_uint_eq(p2p_chunk_scheduler_next_deadline(f.s), P2P_TIME_NEVER);
    ck_assert(!p2p_chunk_scheduler_take_complete(f.s));
    ck_assert(p2p_chunk_scheduler_done(f.s));
    fx_fini(&f);
    /* Completed by mark_held (a resume that had everything). */
    fx_init(&f, 2, 0, 10);
    ck_assert_int_eq(p2p_chunk_scheduler_mark_held(f.s, 1), 0);
    ck_assert(!p2p_chunk_scheduler_take_complete(f.s));
    ck_assert_int_eq(p2p_chunk_scheduler_mark_held(f.s, 0), 0);
    ck_assert(p2p_chunk_scheduler_take_complete(f.s));
    ck_assert(!p2p_chunk_scheduler_take_complete(f.s));
    fx_fini(&f);
    /* A state of no chunks is complete at once. */
    fx_init(&f, 0, 1, 10);
    ck_assert(p2p_chunk_scheduler_done(f.s));
    ck_assert_uint_eq(drain(&f), 0);
    ck_assert(p2p_chunk_scheduler_take_complete(f.s));
    ck_assert(!p2p_chunk_scheduler_take_complete(f.s));
    fx_fini(&f);
}
END_TEST

START_TEST(peers_at_limit_and_limit_plus_one)
{
    struct fx f;
    struct p2p_chunk_scheduler_config c;
    cfg_plain(&c);
    c.peers_max = 4;
    fx_init_cfg(&f, 10, 4, &c, 1);
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, 5), P2P_ERR_LIMIT);
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, 4), P2P_ERR_EXISTS);
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, P2P_NODE_NONE), P2P_ERR_INVALID_ARG);
    /* A removed peer keeps its place: the limit counts distinct peers. */
    ck_assert_int_eq(p2p_chunk_scheduler_remove_peer(f.s, f.now, 2), 0);
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, 5), P2P_ERR_LIMIT);
    ck_assert_int_eq(p2p_chunk_scheduler_add_peer(f.s, f.now, 2), 0);
    fx_fini(&f);
}
END_TEST

START_TEST(active_chunks_at_limit)
{
    struct fx f;
    struct p2p_chunk_scheduler_config c;
    cfg_plain(&c);
    c.chunks_active_max = 3;
    fx_init_cfg(&f, 10, 2, &c, 1);
    ck_assert_uint_eq(drain(&f), 3); /* not 20: three chunks started */
    /* Failed chunks keep their records: still no fourth chunk. */
    ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(f.s, f.now, f.reqs[0].peer,
                                                         f.reqs[0].index, P2P_ERR_READ), 0);
    struct p2p_chunk_request r;
    while (p2p_chunk_scheduler_next_request(f.s, f.now, &r) == 1)
        ck_assert_uint_lt(r.index, 3);
    ck_assert_uint_le(progress(&f).chunks_inflight + progress(&f).chunks_waiting, 3);
    ck_assert_int_eq(answer(&f, f.reqs[1].peer, f.reqs[1].index), P2P_CHUNK_ACCEPTED);
    ck_assert_int_eq(p2p_chunk_scheduler_next_request(f.s, f.now, &r), 1);
    ck_assert_uint_eq(r.index, 3);
    fx_fini(&f);
}
END_TEST

START_TEST(config_bounds)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 1, 1);
    struct p2p_state_manifest m;
    uint8_t state[100] = {0};
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 10, state, 100), 0);
    struct p2p_chunk_scheduler *s;
    struct p2p_chunk_scheduler_config c;
    /* Each field at its bound works; 0 and bound + 1 do not. */
    static const struct { size_t offset; uint32_t bound; } fields[] = {
        {offsetof(struct p2p_chunk_scheduler_config, peers_max), P2P_CHUNK_SCHED_PEERS_MAX},
        {offsetof(struct p2p_chunk_scheduler_config, per_peer_inflight_max),
         P2P_CHUNK_SCHED_PER_PEER_MAX},
        {offsetof(struct p2p_chunk_scheduler_config, chunks_active_max),
         P2P_CHUNK_SCHED_ACTIVE_MAX},
        {offsetof(struct p2p_chunk_scheduler_config, attempts_per_peer_max),
         P2P_CHUNK_SCHED_ATTEMPTS_MAX},
        {offsetof(struct p2p_chunk_scheduler_config, bad_chunks_max), UINT32_MAX},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        uint32_t values[3] = {fields[i].bound, 0, fields[i].bound + 1};
        for (int v = 0; v < 3; v++) {
            if (v == 2 && fields[i].bound == UINT32_MAX)
                continue;
            p2p_chunk_scheduler_config_default(&c);
            if (fields[i].offset == offsetof(struct p2p_chunk_scheduler_config, peers_max) ||
                fields[i].offset ==
                    offsetof(struct p2p_chunk_scheduler_config, per_peer_inflight_max)) {
                c.peers_max = 8; /* keep the request table small */
                c.per_peer_inflight_max = 8;
            }
            memcpy((char *)&c + fields[i].offset, &values[v], sizeof(uint32_t));
            int rc = p2p_chunk_scheduler_new(&c, &m, &mem, MOD, &rng, &s);
            ck_assert_int_eq(rc, v == 0 ? 0 : P2P_ERR_INVALID_ARG);
            if (rc == 0)
                p2p_chunk_scheduler_del(s);
            else
                ck_assert_ptr_null(s);
        }
    }
    p2p_chunk_scheduler_config_default(&c);
    c.chunk_timeout_ns = 0;
    ck_assert_int_eq(p2p_chunk_scheduler_new(&c, &m, &mem, MOD, &rng, &s), P2P_ERR_INVALID_ARG);
    p2p_chunk_scheduler_config_default(&c);
    c.peer_backoff.factor_permille = 999;
    ck_assert_int_eq(p2p_chunk_scheduler_new(&c, &m, &mem, MOD, &rng, &s), P2P_ERR_INVALID_ARG);
    p2p_chunk_scheduler_config_default(&c);
    c.peer_backoff.jitter_pct = 101;
    ck_assert_int_eq(p2p_chunk_scheduler_new(&c, &m, &mem, MOD, &rng, &s), P2P_ERR_INVALID_ARG);
    /* The IC defaults. */
    p2p_chunk_scheduler_config_default(&c);
    ck_assert_uint_eq(c.per_peer_inflight_max, 10);
    ck_assert_uint_eq(c.chunk_timeout_ns, 10 * P2P_NS_PER_S);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(allocation_failure_walk)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 1, 1);
    uint8_t state[1000];
    fill(state, sizeof(state), 3);
    struct p2p_state_manifest m;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, MOD, 1, 10, state, 1000), 0);
    struct p2p_chunk_scheduler_config c;
    cfg_plain(&c);
    size_t base = mem.bytes;
    for (uint64_t n = 1;; n++) {
        ck_assert_uint_lt(n, 100);
        mem.fail_at = mem.allocs + n;
        struct p2p_chunk_scheduler *s;
        int rc = p2p_chunk_scheduler_new(&c, &m, &mem, MOD, &rng, &s);
        if (rc == 0) {
            ck_assert_uint_lt(mem.allocs, mem.fail_at); /* nothing failed */
            /* A whole sync allocates nothing more. */
            uint64_t allocs = mem.allocs;
            ck_assert_int_eq(p2p_chunk_scheduler_add_peer(s, T0, 1), 0);
            struct p2p_chunk_request r;
            while (!p2p_chunk_scheduler_done(s)) {
                ck_assert_int_eq(p2p_chunk_scheduler_next_request(s, T0, &r), 1);
                enum p2p_chunk_verdict v;
                ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_ok(s, T0, 1, r.index,
                                                                 state + 10 * r.index, 10, &v), 0);
                ck_assert_int_eq(v, P2P_CHUNK_ACCEPTED);
            }
            ck_assert_uint_eq(mem.allocs, allocs);
            p2p_chunk_scheduler_del(s);
            break;
        }
        ck_assert_int_eq(rc, P2P_ERR_NOMEM);
        ck_assert_ptr_null(s);
        ck_assert_uint_eq(mem.bytes, base);
    }
    mem.fail_at = 0;
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* A randomised sync: 12 peers, two of them serving bad bytes, some slow
 * (time out), some failing, peers leaving and coming back. Checks the
 * invariants after every step and that every chunk is accepted exactly
 * once. Returns a hash of every request and verdict, for the replay. */
static uint64_t soak(uint64_t seed)
{
    struct fx f;
    struct p2p_chunk_scheduler_config c;
    p2p_chunk_scheduler_config_default(&c); /* with jitter */
    c.peers_max = 16;
    c.bad_chunks_max = 2;
    fx_init_cfg(&f, 500, 12, &c, seed);
    struct p2p_rng dice;
    p2p_rng_init(&dice, seed, 99);
    uint64_t trace = 1469598103934665603ULL;
    uint32_t accepted[500] = {0};
    for (int step = 0; step < 200000 && !p2p_chunk_scheduler_done(f.s); step++) {
        ck_assert_msg(p2p_chunk_scheduler_check_invariants(f.s) == 0, "seed %llu step %d",
                      (unsigned long long)seed, step);
        drain(&f);
        for (size_t i = 0; i < f.reqs_count; i++)
            trace = (trace ^ (f.reqs[i].index * 31u + f.reqs[i].peer)) * 1099511628211ULL;
        struct p2p_chunk_request list[REQS_MAX];
        size_t n = p2p_chunk_scheduler_inflight(f.s, list, REQS_MAX);
        for (p2p_node_id p = 1; p <= 12; p++)
            ck_assert_uint_le(inflight_of(&f, p), c.per_peer_inflight_max);
        uint32_t roll = (uint32_t)p2p_rng_below(&dice, 100);
        if (n == 0 || roll < 3) {
            /* Time passes to the next deadline (timeouts, backoffs). */
            p2p_time next = p2p_chunk_scheduler_next_deadline(f.s);
            if (next == P2P_TIME_NEVER) {
                ck_assert(progress(&f).stalled);
                for (p2p_node_id p = 1; p <= 12; p++)
                    p2p_chunk_scheduler_add_peer(f.s, f.now, p);
                continue;
            }
            if (next > f.now)
                f.now = next;
            p2p_chunk_scheduler_on_time(f.s, f.now, NULL, 0);
            continue;
        }
        if (roll < 5) {
            p2p_node_id p = 1 + (p2p_node_id)p2p_rng_below(&dice, 12);
            if (p2p_chunk_scheduler_remove_peer(f.s, f.now, p) != 0)
                p2p_chunk_scheduler_add_peer(f.s, f.now, p);
            continue;
        }
        const struct p2p_chunk_request *r = &list[p2p_rng_below(&dice, n)];
        f.now += p2p_rng_below(&dice, 50 * P2P_NS_PER_MS);
        if (r->peer >= 11) { /* the two liars */
            enum p2p_chunk_verdict v = answer_bad(&f, r->peer, r->index);
            ck_assert(v == P2P_CHUNK_BAD || v == P2P_CHUNK_BAD_EXCLUDED);
            trace = (trace ^ (1000u + v)) * 1099511628211ULL;
        } else if (r->peer == 10 || roll < 15) { /* 10 is slow; others fail */
            if (r->peer != 10)
                ck_assert_int_eq(p2p_chunk_scheduler_on_chunk_failed(
                                     f.s, f.now, r->peer, r->index, P2P_ERR_CONN_LOST), 0);
        } else {
            ck_assert_int_eq(answer(&f, r->peer, r->index), P2P_CHUNK_ACCEPTED);
            accepted[r->index]++;
        }
    }
    ck_assert_msg(p2p_chunk_scheduler_done(f.s), "seed %llu did not finish",
                  (unsigned long long)seed);
    for (uint32_t i = 0; i < 500; i++)
        ck_assert_uint_eq(accepted[i], 1);
    struct p2p_chunk_progress p = progress(&f);
    ck_assert_uint_eq(p.peers_excluded, 2);
    ck_assert_uint_eq(p.bytes_held, p.bytes_total);
    ck_assert(p2p_chunk_scheduler_take_complete(f.s));
    fx_fini(&f);
    return trace;
}

START_TEST(randomised_syncs_replay_from_seed)
{
    for (uint64_t seed = 1; seed <= 8; seed++) {
        uint64_t a = soak(seed), b = soak(seed);
        ck_assert_msg(a == b, "seed %llu does not replay", (unsigned long long)seed);
    }
    ck_assert_uint_ne(soak(1), soak(2));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chunk_scheduler");
    TCase *order = tcase_create("order_and_spread");
    tcase_add_test(order, lowest_index_first);
    tcase_add_test(order, per_peer_limit_at_limit_never_above);
    tcase_add_test(order, spread_across_12_peers);
    tcase_add_test(order, ties_broken_by_the_prng);
    suite_add_tcase(s, order);
    TCase *retry = tcase_create("failures");
    tcase_add_test(retry, retry_on_another_peer_after_error);
    tcase_add_test(retry, retry_prefers_a_peer_that_has_not_failed_it);
    tcase_add_test(retry, timeout_at_deadline_not_before);
    tcase_add_test(retry, timeouts_reported_in_batches);
    tcase_add_test(retry, peer_backoff_grows_and_resets);
    tcase_add_test(retry, bad_bytes_retried_elsewhere_and_peer_excluded);
    tcase_add_test(retry, bad_bytes_rule_that_peer_out_for_that_chunk);
    tcase_add_test(retry, attempts_per_peer_at_limit);
    tcase_add_test(retry, not_found_rules_the_peer_out_at_once);
    tcase_add_test(retry, peer_leaving_mid_flight);
    suite_add_tcase(s, retry);
    TCase *held = tcase_create("held_chunks");
    tcase_add_test(held, resume_with_half_held);
    tcase_add_test(held, mark_held_while_in_flight);
    tcase_add_test(held, reuse_from_an_older_manifest);
    tcase_add_test(held, completion_exactly_once);
    suite_add_tcase(s, held);
    TCase *bounds = tcase_create("bounds");
    tcase_add_test(bounds, peers_at_limit_and_limit_plus_one);
    tcase_add_test(bounds, active_chunks_at_limit);
    tcase_add_test(bounds, config_bounds);
    tcase_add_test(bounds, allocation_failure_walk);
    tcase_add_test(bounds, randomised_syncs_replay_from_seed);
    suite_add_tcase(s, bounds);
    return h_run_suite(s);
}
