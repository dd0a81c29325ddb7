/* The stream table (core/streams.h) alone, through its own header: no
 * node. Outbound requests and their reports, deadlines on both sides
 * (deadline - 1, deadline), the silence rule at P2P_SILENCE_NS - 1 and at
 * it, every per-peer and table limit at the limit and one past it, the
 * answer cap, resets, a lost peer, the N-th allocation failing, and a
 * stream that ends taking its deadline out of the node's timers. */
#include <check.h>
#include <string.h>

#include "core/err.h"
#include "core/streams.h"
#include "env_harness.h"

#define PEER 3u
#define OTHER 5u

/* One stream table with a real environment. */
struct fx {
    struct h_env e;
    struct p2p_streams s;
};

static void fx_init(struct fx *f)
{
    h_env_start(&f->e, 1);
    f->e.cfg.node_ids_max = 16;
    f->e.cfg.streams_max = 8;
    f->e.cfg.streams_in_per_peer_max = 3;
    f->e.cfg.stream_bytes_in_per_peer_max = 64;
    f->e.cfg.stream_read_timeout_ns = 1000;
    h_env_init(&f->e, 1000, 1000);
    f->e.outbox.events_enabled = true;
    p2p__streams_init(&f->s, &f->e.env, 42);
    for (p2p_node_id p = 0; p < f->e.cfg.node_ids_max; p++)
        ck_assert_int_eq(p2p__streams_peer_fit(&f->s, p), 0);
}

static void fx_fini(struct fx *f)
{
    ck_assert_int_eq(p2p__streams_check(&f->s), 0);
    p2p__streams_fini(&f->s);
    h_env_fini(&f->e);
}

static const struct p2p_action *last(const struct fx *f)
{
    size_t n = p2p_outbox_count(&f->e.outbox);
    ck_assert_uint_gt(n, 0);
    return p2p_outbox_at(&f->e.outbox, n - 1);
}

static size_t count_of(const struct fx *f, enum p2p_action_type type)
{
    size_t n = 0;
    for (size_t i = 0; i < p2p_outbox_count(&f->e.outbox); i++)
        n += p2p_outbox_at(&f->e.outbox, i)->type == type;
    return n;
}

/* Opens a fetch to peer; returns its index, *stream_id its wire id. */
static uint32_t request(struct fx *f, p2p_time now, p2p_node_id peer,
                        p2p_time timeout_ns, size_t cap, uint64_t *stream_id)
{
    static const uint8_t body[] = "fetch";
    struct p2p_stream_req r = {.peer = peer,
                               .route = P2P_ROUTE_ARTIFACT_RPC,
                               .traffic = P2P_TRAFFIC_FETCH,
                               .body = body,
                               .len = sizeof(body),
                               .owner = P2P_OWNER_DOWNLOADER,
                               .owner_index = 11,
                               .owner_gen = 22,
                               .timeout_ns = timeout_ns,
                               .response_bytes_max = cap};
    uint32_t index;
    ck_assert_int_eq(p2p__streams_request(&f->s, now, &r, &index), 0);
    const struct p2p_action *a = last(f);
    ck_assert_int_eq(a->type, P2P_ACT_STREAM_OPEN);
    ck_assert_uint_eq(a->peer, peer);
    if (stream_id != NULL)
        *stream_id = a->stream_id;
    return index;
}

/* A response envelope with a body of body_len bytes (caller frees). */
static uint8_t *response(struct fx *f, uint32_t status, size_t body_len,
                         size_t *len)
{
    uint8_t body[256];
    ck_assert_uint_le(body_len, sizeof(body));
    memset(body, 'b', body_len);
    uint8_t *out;
    ck_assert_int_eq(p2p_frame_response_encode(
                         &f->e.mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){.status = status,
                                                      .body = body,
                                                      .body_len = body_len},
                         &out, len),
                     0);
    return out;
}

/* A request envelope on route /artifact/update (caller frees). */
static uint8_t *request_bytes(struct fx *f, size_t body_len, size_t *len)
{
    uint8_t body[256];
    ck_assert_uint_le(body_len, sizeof(body));
    memset(body, 'r', body_len);
    uint8_t *out;
    ck_assert_int_eq(
        p2p_frame_request_encode(
            &f->e.mem, P2P_MEM_OTHER,
            &(struct p2p_frame_request){.route = P2P_ROUTE_ARTIFACT_UPDATE,
                                        .body = body,
                                        .body_len = body_len},
            &out, len),
        0);
    return out;
}

static int feed(struct fx *f, p2p_time now, p2p_node_id peer, uint64_t id,
                bool inbound, const uint8_t *data, size_t len, bool fin,
                struct p2p_stream_done *done)
{
    struct p2p_stream_bytes in = {.peer = peer,
                                  .stream_id = id,
                                  .inbound = inbound,
                                  .data = data,
                                  .len = len,
                                  .fin = fin};
    return p2p__streams_on_data(&f->s, now, &in, done);
}

/* Pops the next due stream deadline at now: true with its index, gen. */
static bool due_timer(struct fx *f, p2p_time now, struct p2p_timer *t)
{
    return p2p_timer_heap_pop_due(&f->e.timers.heap, now, t) == 1;
}

START_TEST(response_reported_to_its_owner)
{
    struct fx f;
    fx_init(&f);
    uint64_t id;
    request(&f, 100, PEER, 1000, 0, &id);
    size_t len;
    uint8_t *bytes = response(&f, 200, 10, &len);
    struct p2p_stream_done d;
    /* In two pieces: nothing to report until the end. */
    ck_assert_int_eq(feed(&f, 150, PEER, id, false, bytes, 4, false, &d), 0);
    ck_assert_int_eq(d.end, P2P_STREAM_END_NONE);
    ck_assert_int_eq(
        feed(&f, 160, PEER, id, false, bytes + 4, len - 4, true, &d), 0);
    ck_assert_int_eq(d.end, P2P_STREAM_END_RESPONSE);
    ck_assert_int_eq(d.owner, P2P_OWNER_DOWNLOADER);
    ck_assert_uint_eq(d.owner_index, 11);
    ck_assert_uint_eq(d.owner_gen, 22);
    ck_assert_int_eq(d.err, 0);
    ck_assert_uint_eq(d.frame.status, 200);
    ck_assert_uint_eq(d.frame.body_len, 10);
    ck_assert_uint_eq(d.frame.body[9], 'b');
    p2p__streams_done_fini(&d);
    ck_assert_uint_eq(p2p__streams_count(&f.s), 0);
    /* It answered the request opened at 100. */
    ck_assert_uint_eq(p2p__streams_answered_ns(&f.s, PEER), 100);
    /* A late answer to a forgotten stream is ignored. */
    ck_assert_int_eq(feed(&f, 170, PEER, id, false, bytes, len, true, &d),
                     P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(d.end, P2P_STREAM_END_NONE);
    p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, bytes);
    fx_fini(&f);
}
END_TEST

/* An outbound deadline: not due at deadline - 1, due at it; extended, the
 * same at the new deadline; expired, reported as a timeout with a reset. */
START_TEST(outbound_deadline_both_sides)
{
    struct fx f;
    fx_init(&f);
    uint64_t id;
    uint32_t index = request(&f, 0, PEER, 1000, 0, &id);
    struct p2p_timer t;
    struct p2p_stream_due due;
    ck_assert(!due_timer(&f, 999, &t));
    ck_assert(due_timer(&f, 1000, &t));
    ck_assert_uint_eq(t.index, index);
    /* A timer fired early (its deadline moved) is not due. */
    ck_assert(!p2p__streams_due(&f.s, 999, t.index, t.gen, &due));
    ck_assert(p2p__streams_due(&f.s, 1000, t.index, t.gen, &due));
    ck_assert_uint_eq(due.peer, PEER);
    ck_assert_int_eq(due.owner, P2P_OWNER_DOWNLOADER);
    ck_assert_uint_eq(due.opened_ns, 0);
    ck_assert_int_eq(p2p__streams_extend(&f.s, 1000, index, 500), 0);
    ck_assert(!p2p__streams_timer_live(&f.s, t.index, t.gen, 1000));
    ck_assert(!due_timer(&f, 1499, &t));
    ck_assert(due_timer(&f, 1500, &t));
    ck_assert(!p2p__streams_due(&f.s, 1499, t.index, t.gen, &due));
    ck_assert(p2p__streams_due(&f.s, 1500, t.index, t.gen, &due));
    struct p2p_stream_done d;
    p2p__streams_expire(&f.s, 1500, index, true, &d);
    ck_assert_int_eq(d.end, P2P_STREAM_END_RESPONSE);
    ck_assert_int_eq(d.err, P2P_ERR_TIMEOUT);
    ck_assert_int_eq(last(&f)->type, P2P_ACT_STREAM_RESET);
    ck_assert(!last(&f)->inbound);
    p2p__streams_done_fini(&d);
    /* Slow, not silent: 1.5 us is no P2P_SILENCE_NS. */
    ck_assert_uint_eq(f.e.metrics.penalties, 0);
    /* The record moved on: the old generation is stale. */
    ck_assert(!p2p__streams_due(&f.s, 2000, t.index, t.gen, &due));
    fx_fini(&f);
}
END_TEST

/* The silence rule: a timeout costs P2P_PENALTY_SILENT only when the peer
 * answered nothing we asked since, P2P_SILENCE_NS or longer ago. */
START_TEST(silence_penalty_edges)
{
    enum { T0 = 100 }; /* opened: a peer that answered nothing, answered 0 */
    static const struct {
        p2p_time expire_at;
        bool blame;
        bool answered_later; /* a later request was answered */
        uint32_t points;
    } cases[] = {
        {T0 + P2P_SILENCE_NS - 1, true, false, 0},
        {T0 + P2P_SILENCE_NS, true, false, P2P_PENALTY_SILENT},
        {T0 + P2P_SILENCE_NS, false, false, 0}, /* this node stalled */
        {T0 + P2P_SILENCE_NS, true, true, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fx f;
        fx_init(&f);
        uint32_t index = request(&f, T0, PEER, P2P_SILENCE_NS * 2, 0, NULL);
        if (cases[i].answered_later) {
            uint64_t id;
            request(&f, T0 + 10, PEER, P2P_SILENCE_NS * 2, 0, &id);
            struct p2p_stream_done d;
            ck_assert_int_eq(
                p2p__streams_on_reset(&f.s, T0 + 20, PEER, id, false, &d), 0);
            ck_assert_int_eq(d.err, P2P_ERR_READ);
            p2p__streams_done_fini(&d);
        }
        ck_assert_msg(
            p2p__streams_peer_silent(&f.s, cases[i].expire_at, PEER, T0) ==
                (cases[i].points != 0 || !cases[i].blame),
            "case %zu", i);
        struct p2p_stream_done d;
        p2p__streams_expire(&f.s, cases[i].expire_at, index, cases[i].blame,
                            &d);
        p2p__streams_done_fini(&d);
        const struct p2p_ledger_peer *p = p2p__ledger_peer(&f.e.ledger, PEER);
        ck_assert_msg(p->penalty_total == cases[i].points, "case %zu", i);
        fx_fini(&f);
    }
}
END_TEST

/* An inbound request must arrive within cfg.stream_read_timeout_ns: at
 * deadline - 1 it still may, at the deadline it is closed, no points. */
START_TEST(inbound_read_deadline_both_sides)
{
    struct fx f;
    fx_init(&f);
    size_t len;
    uint8_t *bytes = request_bytes(&f, 20, &len);
    struct p2p_stream_done d;
    ck_assert_int_eq(feed(&f, 0, PEER, 9, true, bytes, 10, false, &d), 0);
    ck_assert_uint_eq(f.s.peers[PEER].streams_in, 1);
    struct p2p_timer t;
    struct p2p_stream_due due;
    ck_assert(!due_timer(&f, 999, &t));
    ck_assert(due_timer(&f, 1000, &t));
    ck_assert(!p2p__streams_due(&f.s, 999, t.index, t.gen, &due));
    ck_assert_uint_eq(f.e.metrics.stream_errors, 0);
    /* Handled inside: nothing for the caller. */
    ck_assert(!p2p__streams_due(&f.s, 1000, t.index, t.gen, &due));
    ck_assert_uint_eq(f.e.metrics.stream_errors, 1);
    ck_assert_uint_eq(f.e.metrics.penalties, 0);
    ck_assert_int_eq(last(&f)->type, P2P_ACT_STREAM_RESET);
    ck_assert(last(&f)->inbound);
    ck_assert_uint_eq(f.s.peers[PEER].streams_in, 0);
    ck_assert_uint_eq(f.s.peers[PEER].bytes_in, 0);
    p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, bytes);
    fx_fini(&f);
}
END_TEST

/* A complete inbound request is reported for routing. */
START_TEST(inbound_request_reported)
{
    struct fx f;
    fx_init(&f);
    size_t len;
    uint8_t *bytes = request_bytes(&f, 20, &len);
    struct p2p_stream_done d;
    ck_assert_int_eq(feed(&f, 0, PEER, 9, true, bytes, len, true, &d), 0);
    ck_assert_int_eq(d.end, P2P_STREAM_END_REQUEST);
    ck_assert_uint_eq(d.peer, PEER);
    ck_assert_uint_eq(d.stream_id, 9);
    ck_assert_int_eq(d.frame.route, P2P_ROUTE_ARTIFACT_UPDATE);
    ck_assert_uint_eq(d.frame.body_len, 20);
    p2p__streams_done_fini(&d);
    ck_assert_uint_eq(p2p__streams_count(&f.s), 0);
    /* The answer goes out; an answer that cannot (outbox full) resets. */
    struct p2p_stream_resp r = {.peer = PEER,
                                .stream_id = 9,
                                .traffic = P2P_TRAFFIC_ACK,
                                .status = 200};
    ck_assert_int_eq(p2p__streams_respond(&f.s, &r), 0);
    ck_assert_int_eq(last(&f)->type, P2P_ACT_STREAM_RESPOND);
    f.e.outbox.actions_max = p2p_outbox_count(&f.e.outbox);
    ck_assert_int_eq(p2p__streams_respond(&f.s, &r), P2P_ERR_LIMIT);
    p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, bytes);
    fx_fini(&f);
}
END_TEST

/* streams_in_per_peer_max inbound streams from one peer, not one more;
 * another peer is not affected. */
START_TEST(inbound_streams_per_peer_limit)
{
    struct fx f;
    fx_init(&f);
    size_t len;
    uint8_t *bytes = request_bytes(&f, 20, &len);
    struct p2p_stream_done d;
    uint32_t limit = f.e.cfg.streams_in_per_peer_max;
    for (uint32_t i = 0; i < limit; i++)
        ck_assert_int_eq(feed(&f, 0, PEER, 100 + i, true, bytes, 4, false, &d),
                         0);
    ck_assert_uint_eq(f.s.peers[PEER].streams_in, limit);
    ck_assert_int_eq(feed(&f, 0, PEER, 100 + limit, true, bytes, 4, false, &d),
                     P2P_ERR_LIMIT);
    ck_assert_uint_eq(f.e.metrics.streams_refused, 1);
    ck_assert_int_eq(last(&f)->type, P2P_ACT_STREAM_RESET);
    ck_assert_uint_eq(last(&f)->stream_id, 100 + limit);
    ck_assert_uint_eq(f.s.peers[PEER].streams_in, limit);
    ck_assert_int_eq(feed(&f, 0, OTHER, 1, true, bytes, 4, false, &d), 0);
    /* A refusal is no misbehaviour. */
    ck_assert_uint_eq(f.e.metrics.penalties, 0);
    p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, bytes);
    fx_fini(&f);
}
END_TEST

/* stream_bytes_in_per_peer_max bytes buffered across one peer's streams,
 * not one more: the stream that would pass it fails, no points. */
START_TEST(inbound_bytes_per_peer_limit)
{
    struct fx f;
    fx_init(&f);
    size_t len;
    uint8_t *bytes = request_bytes(&f, 100, &len);
    ck_assert_uint_gt(len, 40);
    struct p2p_stream_done d;
    uint64_t max = f.e.cfg.stream_bytes_in_per_peer_max;
    ck_assert_int_eq(feed(&f, 0, PEER, 1, true, bytes, 32, false, &d), 0);
    ck_assert_int_eq(feed(&f, 0, PEER, 2, true, bytes, max - 32, false, &d), 0);
    ck_assert_uint_eq(f.s.peers[PEER].bytes_in, max);
    ck_assert_int_eq(feed(&f, 0, PEER, 1, true, bytes + 32, 1, false, &d),
                     P2P_ERR_LIMIT);
    ck_assert_uint_eq(f.e.metrics.stream_errors, 1);
    ck_assert_uint_eq(f.e.metrics.penalties, 0);
    ck_assert_uint_eq(f.s.peers[PEER].streams_in, 1);
    ck_assert_uint_eq(f.s.peers[PEER].bytes_in, max - 32);
    p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, bytes);
    fx_fini(&f);
}
END_TEST

/* An answer as long as the request's cap is taken; one byte longer is
 * refused when its length is read, and the peer penalised. */
START_TEST(answer_cap_both_sides)
{
    for (int over = 0; over <= 1; over++) {
        struct fx f;
        fx_init(&f);
        size_t len;
        uint8_t *bytes = response(&f, 200, 50, &len);
        uint64_t id;
        request(&f, 0, PEER, 1000, len - (size_t)over, &id);
        struct p2p_stream_done d;
        int rc = feed(&f, 1, PEER, id, false, bytes, len, true, &d);
        ck_assert_int_eq(d.end, P2P_STREAM_END_RESPONSE);
        if (over) {
            ck_assert_int_eq(rc, P2P_ERR_OVERSIZE);
            ck_assert_int_eq(d.err, P2P_ERR_OVERSIZE);
            ck_assert_uint_eq(
                p2p__ledger_peer(&f.e.ledger, PEER)->penalty_total,
                P2P_PENALTY_BAD_FRAME);
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(d.err, 0);
            ck_assert_uint_eq(f.e.metrics.penalties, 0);
        }
        p2p__streams_done_fini(&d);
        p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, bytes);
        fx_fini(&f);
    }
}
END_TEST

/* cfg.streams_max streams, not one more: the refused request sends
 * nothing and keeps nothing. */
START_TEST(table_limit)
{
    struct fx f;
    fx_init(&f);
    for (uint32_t i = 0; i < f.e.cfg.streams_max; i++)
        request(&f, 0, PEER, 1000, 0, NULL);
    size_t actions = p2p_outbox_count(&f.e.outbox);
    size_t bytes = f.e.mem.bytes;
    struct p2p_stream_req r = {
        .peer = PEER, .route = P2P_ROUTE_ARTIFACT_RPC, .timeout_ns = 1000};
    uint32_t index;
    ck_assert_int_eq(p2p__streams_request(&f.s, 0, &r, &index), P2P_ERR_LIMIT);
    ck_assert_uint_eq(p2p_outbox_count(&f.e.outbox), actions);
    ck_assert_uint_eq(f.e.mem.bytes, bytes);
    ck_assert_uint_eq(p2p__streams_count(&f.s), f.e.cfg.streams_max);
    fx_fini(&f);
}
END_TEST

/* A lost peer: its inbound streams close silently, its outbound ones are
 * reported one at a time (P2P_ERR_CONN_LOST), other peers' stay. */
START_TEST(peer_down_reports_each_outbound)
{
    struct fx f;
    fx_init(&f);
    size_t len;
    uint8_t *bytes = request_bytes(&f, 20, &len);
    struct p2p_stream_done d;
    ck_assert_int_eq(feed(&f, 0, PEER, 77, true, bytes, 4, false, &d), 0);
    uint32_t a = request(&f, 0, PEER, 1000, 0, NULL);
    request(&f, 0, OTHER, 1000, 0, NULL);
    uint32_t b = request(&f, 0, PEER, 1000, 0, NULL);
    uint32_t cursor = 0, reported = 0;
    while (p2p__streams_peer_down_next(&f.s, PEER, &cursor, &d)) {
        ck_assert_int_eq(d.end, P2P_STREAM_END_RESPONSE);
        ck_assert_int_eq(d.err, P2P_ERR_CONN_LOST);
        ck_assert_uint_eq(d.peer, PEER);
        ck_assert_uint_eq(cursor - 1, reported == 0 ? a : b);
        p2p__streams_done_fini(&d);
        reported++;
    }
    ck_assert_uint_eq(reported, 2);
    ck_assert_uint_eq(p2p__streams_count(&f.s), 1);
    ck_assert_uint_eq(f.s.peers[PEER].streams_in, 0);
    /* No reset: the connection is gone. */
    ck_assert_uint_eq(count_of(&f, P2P_ACT_STREAM_RESET), 0);
    p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, bytes);
    fx_fini(&f);
}
END_TEST

/* Malformed bytes on an inbound stream: refused, the stream reset, the
 * peer penalised. */
START_TEST(malformed_inbound_penalised)
{
    struct fx f;
    fx_init(&f);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct p2p_stream_done d;
    int rc = feed(&f, 0, PEER, 1, true, junk, sizeof(junk), true, &d);
    ck_assert_int_lt(rc, 0);
    ck_assert_int_eq(d.end, P2P_STREAM_END_NONE);
    ck_assert_uint_eq(p2p__ledger_peer(&f.e.ledger, PEER)->penalty_total,
                      P2P_PENALTY_BAD_FRAME);
    ck_assert_int_eq(last(&f)->type, P2P_ACT_STREAM_RESET);
    ck_assert_uint_eq(p2p__streams_count(&f.s), 0);
    fx_fini(&f);
}
END_TEST

/* The N-th allocation failing, N = 1, 2, ...: a request either opens or
 * leaves no trace (no action, no bytes, no record). */
START_TEST(request_allocation_failures)
{
    for (uint64_t n = 1;; n++) {
        struct fx f;
        fx_init(&f);
        size_t bytes = f.e.mem.bytes;
        f.e.mem.fail_at = f.e.mem.allocs + n;
        static const uint8_t body[] = "x";
        struct p2p_stream_req r = {.peer = PEER,
                                   .route = P2P_ROUTE_ARTIFACT_RPC,
                                   .body = body,
                                   .len = 1,
                                   .timeout_ns = 1000};
        uint32_t index;
        int rc = p2p__streams_request(&f.s, 0, &r, &index);
        f.e.mem.fail_at = 0;
        if (rc == 0) {
            ck_assert_uint_eq(p2p__streams_count(&f.s), 1);
            fx_fini(&f);
            ck_assert_uint_gt(n, 1);
            break;
        }
        ck_assert_int_eq(rc, P2P_ERR_NOMEM);
        ck_assert_uint_eq(p2p_outbox_count(&f.e.outbox), 0);
        ck_assert_uint_eq(p2p__streams_count(&f.s), 0);
        ck_assert_uint_le(f.e.mem.bytes, bytes + 4096); /* grown tables */
        fx_fini(&f);
    }
}
END_TEST

/* The earliest deadline among the timers. */
static p2p_time next_deadline(const struct fx *f)
{
    return p2p_timer_heap_next(&f->e.timers.heap);
}

/* However a stream ends (answered, aborted, reset by the peer, its request
 * read in full, its peer lost, after its deadline moved), its deadline
 * leaves the node's timers at once: nothing wakes the node for it. */
START_TEST(ended_streams_cancel_their_deadlines)
{
    struct fx f;
    fx_init(&f);
    struct p2p_stream_done d;
    size_t len;
    uint8_t *answer = response(&f, 200, 10, &len);
    /* Answered. */
    uint64_t id;
    request(&f, 0, PEER, 1000, 0, &id);
    ck_assert_uint_eq(next_deadline(&f), 1000);
    ck_assert_int_eq(feed(&f, 150, PEER, id, false, answer, len, true, &d), 0);
    ck_assert_int_eq(d.end, P2P_STREAM_END_RESPONSE);
    p2p__streams_done_fini(&d);
    ck_assert_uint_eq(next_deadline(&f), P2P_TIME_NEVER);
    /* Aborted. */
    uint32_t index = request(&f, 200, PEER, 1000, 0, NULL);
    ck_assert_uint_eq(next_deadline(&f), 1200);
    p2p__streams_abort(&f.s, index);
    ck_assert_uint_eq(next_deadline(&f), P2P_TIME_NEVER);
    /* Reset by the peer. */
    request(&f, 300, PEER, 1000, 0, &id);
    ck_assert_int_eq(p2p__streams_on_reset(&f.s, 320, PEER, id, false, &d), 0);
    p2p__streams_done_fini(&d);
    ck_assert_uint_eq(next_deadline(&f), P2P_TIME_NEVER);
    /* An inbound request in two pieces: its read deadline from the first,
     * gone with the last. */
    size_t req_len;
    uint8_t *req = request_bytes(&f, 10, &req_len);
    ck_assert_int_eq(feed(&f, 400, PEER, 77, true, req, 4, false, &d), 0);
    ck_assert_uint_eq(next_deadline(&f), 400 + f.e.cfg.stream_read_timeout_ns);
    ck_assert_int_eq(
        feed(&f, 410, PEER, 77, true, req + 4, req_len - 4, true, &d), 0);
    ck_assert_int_eq(d.end, P2P_STREAM_END_REQUEST);
    p2p__streams_done_fini(&d);
    ck_assert_uint_eq(next_deadline(&f), P2P_TIME_NEVER);
    /* Its deadline moved, then answered: the moved one goes. */
    request(&f, 500, PEER, 100, 0, &id);
    struct p2p_timer t;
    struct p2p_stream_due due;
    ck_assert(due_timer(&f, 600, &t));
    ck_assert(p2p__streams_due(&f.s, 600, t.index, t.gen, &due));
    ck_assert_int_eq(p2p__streams_extend(&f.s, 600, t.index, 50), 0);
    ck_assert_uint_eq(next_deadline(&f), 650);
    ck_assert_int_eq(feed(&f, 620, PEER, id, false, answer, len, true, &d), 0);
    p2p__streams_done_fini(&d);
    ck_assert_uint_eq(next_deadline(&f), P2P_TIME_NEVER);
    /* The peer lost: both directions. */
    request(&f, 700, PEER, 1000, 0, NULL);
    ck_assert_int_eq(feed(&f, 700, PEER, 79, true, req, 4, false, &d), 0);
    uint32_t cursor = 0;
    while (p2p__streams_peer_down_next(&f.s, PEER, &cursor, &d))
        p2p__streams_done_fini(&d);
    ck_assert_uint_eq(next_deadline(&f), P2P_TIME_NEVER);
    ck_assert_int_eq(p2p_timer_heap_check(&f.e.timers.heap), 0);
    p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, req);
    p2p_mem_free(&f.e.mem, P2P_MEM_OTHER, answer);
    fx_fini(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("streams");
    TCase *tc = tcase_create("streams");
    tcase_add_test(tc, response_reported_to_its_owner);
    tcase_add_test(tc, outbound_deadline_both_sides);
    tcase_add_test(tc, silence_penalty_edges);
    tcase_add_test(tc, inbound_read_deadline_both_sides);
    tcase_add_test(tc, inbound_request_reported);
    tcase_add_test(tc, inbound_streams_per_peer_limit);
    tcase_add_test(tc, inbound_bytes_per_peer_limit);
    tcase_add_test(tc, answer_cap_both_sides);
    tcase_add_test(tc, table_limit);
    tcase_add_test(tc, peer_down_reports_each_outbound);
    tcase_add_test(tc, malformed_inbound_penalised);
    tcase_add_test(tc, request_allocation_failures);
    tcase_add_test(tc, ended_streams_cancel_their_deadlines);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
