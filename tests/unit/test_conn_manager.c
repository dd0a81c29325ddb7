/* The peer manager and connection manager policy (core/conn_manager.c):
 * the lower id dials; dial failures back off with jitter; a lost
 * connection is redialled at once by its dialler; non-members are refused;
 * topology changes close and dial; a reconnect replaces the old
 * connection and resends every slot; misbehaviour penalties decay and ban.
 * Every expectation is read from the outbox, return codes, peer info and
 * metrics. */
#include <stdlib.h>

#include "conn_harness.h"

#include "core/ledger.h" /* P2P_PENALTY_* */
#include "core/pool.h"

static const struct p2p_metrics *metrics(struct harness *h)
{
    return p2p_node_metrics(h->node);
}

/* Exactly one P2P_ACT_CONN_CLOSE to peer, with reason, for a connection
 * that was up (close_conn() must tell the backend before
 * connection_gone() clears `up`). */
static void expect_close_of_open(struct harness *h, p2p_node_id peer,
                                 int64_t reason)
{
    ck_assert_uint_eq(ch_count_to(h, P2P_ACT_CONN_CLOSE, peer), 1);
    ck_assert_int_eq(ch_find_to(h, P2P_ACT_CONN_CLOSE, peer)->value, reason);
}

/* ---- the dial rule ---- */

static const struct {
    p2p_node_id self, peer;
    bool dials;
} dial_rule[] = {
    {0, 1, true},          {1, 0, false},
    {5, 5, false},         {5, 6, true},
    {6, 5, false},         {0, UINT32_MAX - 1, true},
    {UINT32_MAX - 1, 0, false},
};

START_TEST(lower_id_dials)
{
    ck_assert(p2p_conn_should_dial(dial_rule[_i].self, dial_rule[_i].peer) ==
              dial_rule[_i].dials);
}
END_TEST

/* Node 5 of {1, 3, 5, 7, 9}: one dial each to 7 and 9, in id order, and
 * none to 1 and 3, which dial it. A newer version with the same members
 * dials nobody again. */
START_TEST(topology_dials_each_higher_member_once)
{
    struct harness h;
    ch_init(&h, 5);
    static const p2p_node_id ids[] = {9, 1, 7, 5, 3};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 5), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 2);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 2);
    ck_assert_uint_eq(h_find(&h, P2P_ACT_CONN_DIAL, -1, 0)->peer, 7);
    ck_assert_uint_eq(h_find(&h, P2P_ACT_CONN_DIAL, -1, 1)->peer, 9);
    ck_assert_uint_eq(metrics(&h)->conns_dialed, 2);
    ck_assert_uint_eq(metrics(&h)->topology_changes, 1);
    struct p2p_peer_info i7 = ch_info(&h, 7), i1 = ch_info(&h, 1),
                         i2 = ch_info(&h, 2);
    ck_assert(i7.member && !i7.up);
    ck_assert_int_eq(i7.conn, P2P_CONN_DIALING);
    ck_assert(i1.member && !i1.up);
    ck_assert_int_eq(i1.conn, P2P_CONN_IDLE);
    ck_assert(!i2.member);
    h_clear(&h);
    /* Same members again: 7 and 9 are still being dialled. */
    ck_assert_int_eq(ch_topology(&h, 2, ids, 5), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    /* 7 comes up; a third version still dials nobody. */
    ch_up(&h, 7);
    h_clear(&h);
    ck_assert_int_eq(ch_topology(&h, 3, ids, 5), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_uint_eq(metrics(&h)->conns_dialed, 2);
    ck_assert(ch_info(&h, 7).up);
    h_fini(&h);
}
END_TEST

/* Inbound connections: only from a lower-id member, and from nobody once
 * this node itself is no member. */
START_TEST(accepts_lower_members_only)
{
    struct harness h;
    ch_init(&h, 5);
    static const p2p_node_id v1[] = {1, 3, 5, 7, 9};
    ck_assert_int_eq(ch_topology(&h, 1, v1, 5), 0);
    static const struct {
        p2p_node_id peer;
        bool accepted;
    } cases[] = {
        {1, true},  {3, true},  {7, false}, {9, false},  {0, false},
        {2, false}, {4, false}, {5, false}, {8, false}, {4096, false},
    };
    for (size_t i = 0; i < CH_COUNT(cases); i++)
        ck_assert_msg(p2p_node_accepts_peer(h.node, h.now, cases[i].peer) ==
                          cases[i].accepted,
                      "peer %u", (unsigned)cases[i].peer);
    static const p2p_node_id v2[] = {1, 3, 7, 9};
    ck_assert_int_eq(ch_topology(&h, 2, v2, 4), 0);
    for (size_t i = 0; i < CH_COUNT(cases); i++)
        ck_assert(!p2p_node_accepts_peer(h.node, h.now, cases[i].peer));
    h_fini(&h);
}
END_TEST

/* Before any topology (version 0), every id below node_ids_max is a
 * member, any peer may come up, and nothing is dialled. */
START_TEST(legacy_mode_before_topology)
{
    struct harness h;
    ch_init(&h, 5);
    ck_assert_uint_eq(p2p_node_topology(h.node)->version, 0);
    static const p2p_node_id ok[] = {0, 4, 6, 4095};
    for (size_t i = 0; i < CH_COUNT(ok); i++)
        ck_assert(p2p_node_accepts_peer(h.node, h.now, ok[i]));
    ck_assert(!p2p_node_accepts_peer(h.node, h.now, 5));
    ck_assert(!p2p_node_accepts_peer(h.node, h.now, 4096));
    ch_up(&h, 0);
    ch_up(&h, 9); /* a higher id too */
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 4096),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 5),
                     P2P_ERR_INVALID_ARG);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    struct p2p_peer_info i9 = ch_info(&h, 9);
    ck_assert(i9.member && i9.up);
    ck_assert_int_eq(i9.conn, P2P_CONN_UP);
    ck_assert(ch_info(&h, 100).member);
    struct p2p_peer_info info;
    ck_assert_int_eq(p2p_node_peer_info(h.node, 4096, &info),
                     P2P_ERR_INVALID_ARG);
    ck_assert_uint_eq(metrics(&h)->conns_up, 2);
    ck_assert_uint_eq(metrics(&h)->conns_dialed, 0);
    /* A loss, of a lower or a higher peer: still nothing is dialled
     * (the backend brings peers up itself). */
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 0), 0);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 9), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_int_eq(ch_info(&h, 9).conn, P2P_CONN_IDLE);
    h_advance(&h, 60 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 0);
    h_fini(&h);
}
END_TEST

/* ---- dial failures ---- */

/* Node 0 of {0, 1}, dialling 1. */
static void init_dialling(struct harness *h, const struct p2p_config *c)
{
    ch_init_cfg(h, c);
    static const p2p_node_id ids[] = {0, 1};
    ck_assert_int_eq(ch_topology(h, 1, ids, 2), 0);
    ck_assert_uint_eq(ch_count_to(h, P2P_ACT_CONN_DIAL, 1), 1);
    h_clear(h);
}

/* Fails the pending dial to 1 and returns the redial deadline, checking
 * that nothing is emitted at once. */
static p2p_time fail_dial(struct harness *h)
{
    ck_assert_int_eq(ch_info(h, 1).conn, P2P_CONN_DIALING);
    ck_assert_int_eq(p2p_node_on_dial_failed(h->node, h->now, 1), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(h)), 0);
    ck_assert_int_eq(ch_info(h, 1).conn, P2P_CONN_WAIT);
    return p2p_node_next_deadline(h->node);
}

/* Nothing at deadline - 1, one dial to 1 at the deadline. */
static void redial_fires_at(struct harness *h, p2p_time deadline)
{
    ch_advance_to(h, deadline - 1);
    ck_assert_uint_eq(p2p_outbox_count(h_out(h)), 0);
    ch_advance_to(h, deadline);
    ck_assert_uint_eq(p2p_outbox_count(h_out(h)), 1);
    ck_assert_uint_eq(ch_count_to(h, P2P_ACT_CONN_DIAL, 1), 1);
    ck_assert_int_eq(ch_info(h, 1).conn, P2P_CONN_DIALING);
    h_clear(h);
}

#define FAILURES 6
static const struct {
    struct p2p_backoff b;
    p2p_time base_ns[FAILURES]; /* the window's centre per failure */
} backoffs[] = {
    /* No jitter: exact deadlines, doubling up to the cap. */
    {{1 * P2P_NS_PER_S, 5 * P2P_NS_PER_S, 2000, 0},
     {1000000000, 2000000000, 4000000000, 5000000000, 5000000000,
      5000000000}},
    /* x1.5 per failure. */
    {{1 * P2P_NS_PER_S, 60 * P2P_NS_PER_S, 1500, 0},
     {1000000000, 1500000000, 2250000000, 3375000000, 5062500000,
      7593750000}},
    /* The defaults: 5 s, x2, capped at 10 s, +-20 %. */
    {{5 * P2P_NS_PER_S, 10 * P2P_NS_PER_S, 2000, 20},
     {5000000000, 10000000000, 10000000000, 10000000000, 10000000000,
      10000000000}},
    {{1 * P2P_NS_PER_S, 5 * P2P_NS_PER_S, 2000, 50},
     {1000000000, 2000000000, 4000000000, 5000000000, 5000000000,
      5000000000}},
};

/* Each consecutive failure waits within its window: base +- jitter %,
 * base growing by the factor and capped at max. Jittered configs are run
 * over several seeds, and the jitter must actually move some deadline. */
START_TEST(dial_failure_backs_off_within_window)
{
    const struct p2p_backoff *b = &backoffs[_i].b;
    unsigned seeds = b->jitter_pct ? 16 : 1;
    unsigned off_centre = 0;
    for (unsigned seed = 1; seed <= seeds; seed++) {
        struct p2p_config c;
        p2p_config_default(&c, 0, seed);
        c.redial_backoff = *b;
        struct harness h;
        init_dialling(&h, &c);
        for (uint32_t k = 0; k < FAILURES; k++) {
            p2p_time base = backoffs[_i].base_ns[k];
            ck_assert_uint_eq(p2p_backoff_base(b, k), base);
            p2p_time spread = base / 100 * b->jitter_pct;
            p2p_time deadline = fail_dial(&h);
            ck_assert_uint_ge(deadline, h.now + base - spread);
            ck_assert_uint_le(deadline, h.now + base + spread);
            off_centre += deadline != h.now + base;
            redial_fires_at(&h, deadline);
        }
        ck_assert_uint_eq(metrics(&h)->conns_dial_failed, FAILURES);
        ck_assert_uint_eq(metrics(&h)->conns_dialed, FAILURES + 1);
        h_fini(&h);
    }
    if (b->jitter_pct)
        ck_assert_uint_gt(off_centre, 0);
}
END_TEST

static void exact_redial(struct p2p_config *c)
{
    ch_config(c, 0);
    c->redial_backoff = (struct p2p_backoff){1 * P2P_NS_PER_S,
                                             60 * P2P_NS_PER_S, 2000, 0};
}

/* on_dial_failed without a pending dial is P2P_ERR_STATE and changes
 * nothing: before any topology, for a lower member, a non-member, a peer
 * waiting to redial, and a peer that is up. */
START_TEST(dial_failed_without_dial_is_state_error)
{
    struct harness h;
    ch_init(&h, 5);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 7), P2P_ERR_STATE);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 1u << 30),
                     P2P_ERR_STATE);
    static const p2p_node_id ids[] = {1, 5, 7};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 3), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 1), P2P_ERR_STATE);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 3), P2P_ERR_STATE);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 5), P2P_ERR_STATE);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 7), 0);
    p2p_time deadline = p2p_node_next_deadline(h.node);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 7), P2P_ERR_STATE);
    ck_assert_uint_eq(p2p_node_next_deadline(h.node), deadline);
    ck_assert_int_eq(ch_info(&h, 7).conn, P2P_CONN_WAIT);
    ch_advance_to(&h, deadline);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 7), 1);
    h_clear(&h);
    ch_up(&h, 7);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 7), P2P_ERR_STATE);
    ck_assert(ch_info(&h, 7).up);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_uint_eq(metrics(&h)->conns_dial_failed, 1);
    h_fini(&h);
}
END_TEST

/* Three failures push the wait to 8 s; a connection that comes up resets
 * the count, so the next failure waits 1 s again. */
START_TEST(peer_up_resets_failure_count)
{
    struct p2p_config c;
    exact_redial(&c);
    struct harness h;
    init_dialling(&h, &c);
    for (int k = 0; k < 3; k++)
        redial_fires_at(&h, fail_dial(&h));
    ch_up(&h, 1);
    ck_assert_int_eq(ch_info(&h, 1).conn, P2P_CONN_UP);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1), 0);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 1), 1);
    h_clear(&h);
    p2p_time deadline = fail_dial(&h);
    ck_assert_uint_eq(deadline, h.now + 1 * P2P_NS_PER_S);
    redial_fires_at(&h, deadline);
    /* Without the reset it would have been 8 s; the next is 2 s. */
    ck_assert_uint_eq(fail_dial(&h), h.now + 2 * P2P_NS_PER_S);
    h_fini(&h);
}
END_TEST

/* A dial that succeeds late, while waiting to redial, cancels the redial. */
START_TEST(late_success_cancels_redial)
{
    struct p2p_config c;
    exact_redial(&c);
    struct harness h;
    init_dialling(&h, &c);
    p2p_time deadline = fail_dial(&h);
    ch_up(&h, 1);
    h_clear(&h);
    ch_advance_to(&h, deadline + 10 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 0);
    ck_assert_int_eq(ch_info(&h, 1).conn, P2P_CONN_UP);
    h_fini(&h);
}
END_TEST

/* ---- loss ---- */

/* Node 5 of {1, 5, 7}: losing 7 (ours to dial) redials it at once; losing
 * 1 (it dials us) emits nothing; a peer that is not up is NOT_FOUND. */
START_TEST(loss_redials_only_what_we_dial)
{
    struct harness h;
    ch_init(&h, 5);
    static const p2p_node_id ids[] = {1, 5, 7};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 3), 0);
    ch_up(&h, 7);
    ch_up(&h, 1);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 7), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 7), 1);
    struct p2p_peer_info i7 = ch_info(&h, 7);
    ck_assert(!i7.up);
    ck_assert_int_eq(i7.conn, P2P_CONN_DIALING);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_int_eq(ch_info(&h, 1).conn, P2P_CONN_IDLE);
    h_advance(&h, 60 * P2P_NS_PER_S);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_uint_eq(metrics(&h)->conns_lost, 2);
    /* Not up: already down, never up, a non-member, out of range. */
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1),
                     P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 7),
                     P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 3),
                     P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1u << 30),
                     P2P_ERR_NOT_FOUND);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_uint_eq(metrics(&h)->conns_lost, 2);
    h_fini(&h);
}
END_TEST

/* ---- refusal ---- */

START_TEST(non_member_is_refused)
{
    struct harness h;
    ch_init(&h, 5);
    static const p2p_node_id ids[] = {1, 5, 7};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 3), 0);
    ch_up(&h, 1);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 2), P2P_ERR_REFUSED);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 1);
    const struct p2p_action *close = ch_find_to(&h, P2P_ACT_CONN_CLOSE, 2);
    ck_assert_ptr_nonnull(close);
    ck_assert_int_eq(close->value, P2P_ERR_REFUSED);
    ck_assert_uint_eq(metrics(&h)->conns_refused, 1);
    ck_assert_uint_eq(metrics(&h)->conns_up, 1);
    struct p2p_peer_info i2 = ch_info(&h, 2);
    ck_assert(!i2.member && !i2.up);
    /* Nothing is sent to a refused peer. */
    h_clear(&h);
    static const uint8_t body[10] = {4};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, body,
                                     sizeof(body), NULL), 0);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_STREAM_OPEN, 1), 1);
    ck_assert_uint_eq(ch_count_any_to(&h, 2), 0);
    ck_assert_int_eq(ch_garbage(&h, 2), P2P_ERR_NOT_FOUND);
    /* Self is an invalid argument, not a refusal. */
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 5),
                     P2P_ERR_INVALID_ARG);
    ck_assert_uint_eq(metrics(&h)->conns_refused, 1);
    h_clear(&h);
    /* Once self has left, even members are refused. */
    static const p2p_node_id v2[] = {1, 7};
    ck_assert_int_eq(ch_topology(&h, 2, v2, 2), 0);
    expect_close_of_open(&h, 1, P2P_ERR_STATE);
    ck_assert(!ch_info(&h, 1).up);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 1), P2P_ERR_REFUSED);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_CLOSE, 1), 1);
    ck_assert_uint_eq(metrics(&h)->conns_refused, 2);
    h_fini(&h);
}
END_TEST

/* ---- topology changes ---- */

/* Node 0 of {0, 1, 2, 3} with all up, an update in flight to each, and a
 * half-read request from 2. Version 2 drops 2: its connection is closed
 * (and only its), its streams are gone: the update to it is not retried,
 * a late answer is refused, and the half-read stream's deadline never
 * penalises it. */
START_TEST(member_that_leaves_is_closed)
{
    struct harness h;
    ch_init(&h, 0);
    static const p2p_node_id v1[] = {0, 1, 2, 3};
    ck_assert_int_eq(ch_topology(&h, 1, v1, 4), 0);
    for (p2p_node_id p = 1; p <= 3; p++)
        ch_up(&h, p);
    h_clear(&h);
    static const uint8_t body[10] = {7};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, body,
                                     sizeof(body), NULL), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 3);
    uint64_t to1 = ch_find_to(&h, P2P_ACT_STREAM_OPEN, 1)->stream_id;
    uint64_t to2 = ch_find_to(&h, P2P_ACT_STREAM_OPEN, 2)->stream_id;
    h_clear(&h);
    static const uint8_t half[] = {0x0a, 0x10, '/'}; /* "/artifact/update" */
    ck_assert_int_eq(
        p2p_node_on_stream_data(h.node, h.now,
                                &(struct p2p_stream_bytes){.peer = 2,
                                                           .stream_id = 77,
                                                           .inbound = true,
                                                           .data = half,
                                                           .len = sizeof(half),
                                                           .fin = false}),
        0);

    static const p2p_node_id v2[] = {0, 1, 3};
    ck_assert_int_eq(ch_topology(&h, 2, v2, 3), 0);
    expect_close_of_open(&h, 2, P2P_ERR_STATE);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 0);
    ck_assert_uint_eq(ch_count_any_to(&h, 1) + ch_count_any_to(&h, 3), 0);
    struct p2p_peer_info i2 = ch_info(&h, 2);
    ck_assert(!i2.member && !i2.up);
    ck_assert_int_eq(i2.conn, P2P_CONN_IDLE);
    ck_assert(ch_info(&h, 1).up && ch_info(&h, 3).up);
    ck_assert_uint_eq(metrics(&h)->conns_closed, 1);
    h_clear(&h);

    /* The kept peer's stream still works; the dropped one's is gone. */
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    ck_assert_int_eq(h_respond(&h, 1, to1, 200, &ack.base), 0);
    ck_assert_uint_eq(metrics(&h)->updates_acked, 1);
    ck_assert_int_eq(h_respond(&h, 2, to2, 200, &ack.base), P2P_ERR_NOT_FOUND);
    ck_assert_uint_eq(metrics(&h)->updates_acked, 1);
    for (int s = 0; s < 130; s++) {
        h_advance(&h, P2P_NS_PER_S);
        ck_assert_uint_eq(ch_count_any_to(&h, 2), 0);
        h_clear(&h);
    }
    ck_assert_uint_eq(ch_info(&h, 2).penalty_total, 0);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 2), P2P_ERR_REFUSED);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* Node 2 of {0..5}: up with 0, 1 (they dialled), 3, 4 (it dialled); the
 * dial to 5 failed. When 2 leaves, every open connection is closed, the
 * pending redial of 5 is dropped, nothing is accepted; when it rejoins it
 * dials 3, 4 and 5 again. */
START_TEST(self_leaving_closes_everything)
{
    struct p2p_config c;
    exact_redial(&c);
    c.self = 2;
    struct harness h;
    ch_init_cfg(&h, &c);
    static const p2p_node_id v1[] = {0, 1, 2, 3, 4, 5};
    ck_assert_int_eq(ch_topology(&h, 1, v1, 6), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 3);
    static const p2p_node_id open[] = {0, 1, 3, 4};
    for (size_t i = 0; i < CH_COUNT(open); i++)
        ch_up(&h, open[i]);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 5), 0);
    h_clear(&h);

    static const p2p_node_id v2[] = {0, 1, 3, 4, 5};
    ck_assert_int_eq(ch_topology(&h, 2, v2, 5), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 0);
    ck_assert_uint_eq(ch_count_any_to(&h, 5), 0); /* nothing open to 5 */
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 4);
    for (size_t i = 0; i < CH_COUNT(open); i++) {
        expect_close_of_open(&h, open[i], P2P_ERR_STATE);
        struct p2p_peer_info info = ch_info(&h, open[i]);
        ck_assert(info.member && !info.up);
        ck_assert(!p2p_node_accepts_peer(h.node, h.now, open[i]));
    }
    ck_assert_int_eq(ch_info(&h, 5).conn, P2P_CONN_IDLE);
    h_clear(&h);
    h_advance(&h, 120 * P2P_NS_PER_S);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 0), P2P_ERR_REFUSED);
    h_clear(&h);

    ck_assert_int_eq(ch_topology(&h, 3, v1, 6), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 3);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 3), 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 4), 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 5), 1);
    ck_assert(p2p_node_accepts_peer(h.node, h.now, 0));
    h_fini(&h);
}
END_TEST

/* A member that joins is dialled by a lower node; one that leaves while
 * being dialled has its dial abandoned (CONN_CLOSE), after which a late
 * dial failure is P2P_ERR_STATE; a lower joiner is accepted, not
 * dialled; self joining late starts dialling then. */
START_TEST(join_dials_leave_abandons_dial)
{
    struct harness h;
    ch_init(&h, 0);
    static const p2p_node_id v1[] = {0, 1}, v2[] = {0, 1, 2};
    ck_assert_int_eq(ch_topology(&h, 1, v1, 2), 0);
    h_clear(&h);
    ck_assert_int_eq(ch_topology(&h, 2, v2, 3), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 2), 1);
    h_clear(&h);
    ck_assert_int_eq(ch_topology(&h, 3, v1, 2), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 1);
    const struct p2p_action *close = ch_find_to(&h, P2P_ACT_CONN_CLOSE, 2);
    ck_assert_ptr_nonnull(close);
    ck_assert_int_eq(close->value, P2P_ERR_STATE);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 2), P2P_ERR_STATE);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_int_eq(ch_topology(&h, 4, v2, 3), 0);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 2), 1);
    ck_assert_uint_eq(metrics(&h)->conns_dialed, 3);
    ck_assert_uint_eq(metrics(&h)->topology_changes, 4);
    h_fini(&h);

    ch_init(&h, 5);
    static const p2p_node_id w1[] = {5, 7}, w2[] = {3, 5, 7};
    ck_assert_int_eq(ch_topology(&h, 1, w1, 2), 0);
    ck_assert(!p2p_node_accepts_peer(h.node, h.now, 3));
    h_clear(&h);
    ck_assert_int_eq(ch_topology(&h, 2, w2, 3), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert(p2p_node_accepts_peer(h.node, h.now, 3));
    h_fini(&h);

    ch_init(&h, 2);
    static const p2p_node_id x1[] = {0, 1, 3}, x2[] = {0, 1, 2, 3};
    ck_assert_int_eq(ch_topology(&h, 1, x1, 3), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert(!p2p_node_accepts_peer(h.node, h.now, 0));
    ck_assert_int_eq(ch_topology(&h, 2, x2, 4), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 3), 1);
    ck_assert(p2p_node_accepts_peer(h.node, h.now, 0));
    ck_assert(p2p_node_accepts_peer(h.node, h.now, 1));
    h_fini(&h);
}
END_TEST

/* ---- replacement and the slot table on reconnect ---- */

/* Copies the first slot update a node sends to peer. */
static uint8_t *copy_update_to(struct harness *h, p2p_node_id peer,
                               size_t *len)
{
    const struct p2p_action *a = ch_find_to(h, P2P_ACT_STREAM_OPEN, peer);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->route, P2P_ROUTE_ARTIFACT_UPDATE);
    uint8_t *copy = malloc(a->len);
    memcpy(copy, a->bytes, a->len);
    *len = a->len;
    return copy;
}

/* Replays a captured update from A (node 0) into B on a new stream. */
static void replay(struct harness *b, const uint8_t *update, size_t len,
                   uint64_t stream)
{
    ck_assert_int_eq(
        p2p_node_on_stream_data(b->node, b->now,
                                &(struct p2p_stream_bytes){.peer = 0,
                                                           .stream_id = stream,
                                                           .inbound = true,
                                                           .data = update,
                                                           .len = len,
                                                           .fin = true}),
        0);
    ck_assert_uint_eq(h_count(b, P2P_ACT_STREAM_RESPOND, -1), 1);
    ck_assert_uint_eq(h_response_status(b, 0), 200);
    h_clear(b);
}

/* A (0) and B (1), both of {0, 1}: A dials, B accepts. A's three slots
 * reach B. A newer connection on both sides replaces the old one: B
 * forgets its view of A's slots (a replayed update is no longer stale)
 * and A sends every slot again, including one whose update was in flight
 * on the old connection. The same after a loss and reconnect. */
START_TEST(reconnect_forgets_views_and_resends_every_slot)
{
    struct harness a, b;
    ch_init(&a, 0);
    ch_init(&b, 1);
    static const p2p_node_id ids[] = {0, 1};
    ck_assert_int_eq(ch_topology(&a, 1, ids, 2), 0);
    ck_assert_int_eq(ch_topology(&b, 1, ids, 2), 0);
    ck_assert_uint_eq(ch_count_to(&a, P2P_ACT_CONN_DIAL, 1), 1);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&b)), 0);
    ck_assert(p2p_node_accepts_peer(b.node, b.now, 0));
    ck_assert(!p2p_node_accepts_peer(a.node, a.now, 1));
    h_clear(&a);
    ch_connect(&a, &b);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&a)), 0);

    uint8_t bodies[4][100];
    for (int i = 0; i < 4; i++)
        memset(bodies[i], i + 1, sizeof(bodies[i]));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(p2p_node_insert(a.node, a.now, P2P_KIND_PUSH,
                                         bodies[i], sizeof(bodies[i]), NULL),
                         0);
    ck_assert_uint_eq(ch_count_to(&a, P2P_ACT_STREAM_OPEN, 1), 3);
    size_t first_len;
    uint8_t *first = copy_update_to(&a, 1, &first_len);
    ch_pump(&a, &b);
    ck_assert_uint_eq(metrics(&b)->updates_received, 3);
    ck_assert_uint_eq(metrics(&b)->artifacts_received, 3);
    ck_assert_uint_eq(metrics(&a)->updates_acked, 3);
    ck_assert_uint_eq(metrics(&b)->updates_stale, 0);
    /* Control: while B holds A's view, a repeat is stale. */
    replay(&b, first, first_len, 1000);
    ck_assert_uint_eq(metrics(&b)->updates_stale, 1);

    /* A 4th slot whose update is lost with the old connection. */
    ck_assert_int_eq(p2p_node_insert(a.node, a.now, P2P_KIND_PUSH, bodies[3],
                                     sizeof(bodies[3]), NULL), 0);
    ck_assert_uint_eq(ch_count_to(&a, P2P_ACT_STREAM_OPEN, 1), 1);
    h_clear(&a);

    /* Replacement: a newer connection while the old one is up. */
    ch_up(&b, 0);
    ck_assert_uint_eq(metrics(&b)->conns_replaced, 1);
    ck_assert_uint_eq(metrics(&b)->conns_up, 2);
    ck_assert(ch_info(&b, 0).up);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&b)), 0); /* B has no slots */
    ch_up(&a, 1);
    ck_assert_uint_eq(metrics(&a)->conns_replaced, 1);
    ck_assert_uint_eq(ch_count_to(&a, P2P_ACT_CONN_CLOSE, 1), 0);
    uint32_t slots = p2p_node_pool(a.node)->count[P2P_POOL_VALIDATED];
    ck_assert_uint_eq(slots, 4);
    ck_assert_uint_eq(h_count(&a, P2P_ACT_STREAM_OPEN,
                              P2P_ROUTE_ARTIFACT_UPDATE), slots);
    ck_assert_uint_eq(ch_count_to(&a, P2P_ACT_STREAM_OPEN, 1), slots);
    ch_pump(&a, &b);
    ck_assert_uint_eq(metrics(&b)->updates_received, 3 + 1 + 4);
    ck_assert_uint_eq(metrics(&b)->updates_stale, 1); /* view forgotten */
    ck_assert_uint_eq(metrics(&b)->artifacts_received, 4);
    ck_assert_uint_eq(metrics(&a)->updates_acked, 3 + 4);
    replay(&b, first, first_len, 1001);
    ck_assert_uint_eq(metrics(&b)->updates_stale, 2); /* view rebuilt */

    /* Loss and reconnect: A (the dialler) redials at once, B waits. */
    ck_assert_int_eq(p2p_node_on_peer_down(a.node, a.now, 1), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&a)), 1);
    ck_assert_uint_eq(ch_count_to(&a, P2P_ACT_CONN_DIAL, 1), 1);
    h_clear(&a);
    ck_assert_int_eq(p2p_node_on_peer_down(b.node, b.now, 0), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&b)), 0);
    ch_connect(&a, &b);
    ck_assert_uint_eq(ch_count_to(&a, P2P_ACT_STREAM_OPEN, 1), slots);
    ch_pump(&a, &b);
    ck_assert_uint_eq(metrics(&b)->updates_received, 3 + 1 + 4 + 1 + 4);
    ck_assert_uint_eq(metrics(&b)->updates_stale, 2);
    ck_assert_uint_eq(metrics(&a)->conns_lost, 1);
    ck_assert_uint_eq(metrics(&b)->conns_lost, 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(a.node), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(b.node), 0);
    free(first);
    h_fini(&a);
    h_fini(&b);
}
END_TEST

/* ---- penalties and bans ---- */

/* Strikes peer with bad frames; each is refused with P2P_ERR_DECODE and
 * resets its stream. */
static void strike(struct harness *h, p2p_node_id peer, int times)
{
    for (int k = 0; k < times; k++) {
        size_t resets = h_count(h, P2P_ACT_STREAM_RESET, -1);
        ck_assert_int_eq(ch_garbage(h, peer), P2P_ERR_DECODE);
        ck_assert_uint_eq(h_count(h, P2P_ACT_STREAM_RESET, -1), resets + 1);
    }
}

/* Node 5 of {1, 5, 7}, 1 dials it. Three bad frames cost 75 points and
 * nothing else; the fourth (100) closes and bans 1 for ban_ns: it is
 * refused up to banned_until - 1 and accepted at banned_until. A second
 * offence bans it again. */
START_TEST(bad_frames_ban_a_peer_that_dials_us)
{
    struct harness h;
    ch_init(&h, 5);
    static const p2p_node_id ids[] = {1, 5, 7};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 3), 0);
    ch_up(&h, 1);
    h_clear(&h);
    ck_assert_uint_eq(h.cfg.penalty_ban_points / P2P_PENALTY_BAD_FRAME, 4);
    for (uint32_t k = 1; k <= 3; k++) {
        strike(&h, 1, 1);
        struct p2p_peer_info info = ch_info(&h, 1);
        ck_assert_uint_eq(info.penalty, k * P2P_PENALTY_BAD_FRAME);
        ck_assert_uint_eq(info.penalty_total, k * P2P_PENALTY_BAD_FRAME);
        ck_assert(info.up);
        ck_assert_uint_eq(info.bans, 0);
    }
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_CLOSE, -1), 0);
    ck_assert_uint_eq(metrics(&h)->stream_errors, 3);
    h_clear(&h);

    strike(&h, 1, 1);
    expect_close_of_open(&h, 1, P2P_ERR_MISBEHAVED);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 0);
    struct p2p_peer_info info = ch_info(&h, 1);
    ck_assert(!info.up && info.member);
    ck_assert_int_eq(info.conn, P2P_CONN_IDLE);
    ck_assert_uint_eq(info.bans, 1);
    ck_assert_uint_eq(info.penalty, 0);
    ck_assert_uint_eq(info.penalty_total, 4 * P2P_PENALTY_BAD_FRAME);
    ck_assert_uint_eq(info.banned_until, h.now + h.cfg.ban_ns);
    ck_assert_uint_eq(metrics(&h)->peers_banned, 1);
    ck_assert_uint_eq(metrics(&h)->penalties, 4);
    ck_assert_uint_eq(metrics(&h)->conns_closed, 1);
    h_clear(&h);
    /* Its streams are gone with the connection. */
    ck_assert_int_eq(ch_garbage(&h, 1), P2P_ERR_NOT_FOUND);

    p2p_time until = info.banned_until;
    ck_assert(!p2p_node_accepts_peer(h.node, h.now, 1));
    ck_assert(!p2p_node_accepts_peer(h.node, until - 1, 1));
    ck_assert(p2p_node_accepts_peer(h.node, until, 1));
    ch_set_time(&h, until - 1);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 1), P2P_ERR_REFUSED);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_CLOSE, 1), 1);
    ck_assert_uint_eq(metrics(&h)->conns_refused, 1);
    h_clear(&h);
    ch_set_time(&h, until);
    ch_up(&h, 1);
    ck_assert(ch_info(&h, 1).up);

    strike(&h, 1, 4);
    info = ch_info(&h, 1);
    ck_assert_uint_eq(info.bans, 2);
    ck_assert(!info.up);
    ck_assert_uint_eq(metrics(&h)->peers_banned, 2);
    expect_close_of_open(&h, 1, P2P_ERR_MISBEHAVED);
    h_fini(&h);
}
END_TEST

/* Node 0 of {0, 1, 2} dials 1. Banned, 1 is not redialled at once but by
 * a timer at banned_until (nothing at banned_until - 1); 2 is untouched. */
START_TEST(banned_peer_we_dial_is_redialled_after_ban)
{
    struct harness h;
    ch_init(&h, 0);
    static const p2p_node_id ids[] = {0, 1, 2};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 3), 0);
    ch_up(&h, 1);
    ch_up(&h, 2);
    h_clear(&h);
    strike(&h, 1, 4);
    expect_close_of_open(&h, 1, P2P_ERR_MISBEHAVED);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 0);
    struct p2p_peer_info info = ch_info(&h, 1);
    ck_assert_int_eq(info.conn, P2P_CONN_WAIT);
    ck_assert_uint_eq(info.banned_until, h.now + h.cfg.ban_ns);
    struct p2p_peer_info i2 = ch_info(&h, 2);
    ck_assert(i2.up);
    ck_assert_uint_eq(i2.penalty_total, 0);
    h_clear(&h);
    ch_advance_to(&h, info.banned_until - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 0);
    ch_advance_to(&h, info.banned_until);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_CONN_DIAL, -1), 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 1), 1);
    ck_assert_int_eq(ch_info(&h, 1).conn, P2P_CONN_DIALING);
    h_clear(&h);
    ch_up(&h, 1);
    ck_assert(ch_info(&h, 1).up);
    h_fini(&h);
}
END_TEST

/* Three strikes at a whole second, a wait, a fourth strike: banned or
 * not by what decayed meanwhile (whole seconds only). */
static const struct {
    uint32_t decay_per_s;
    p2p_time wait_ns;
    bool banned;
    uint32_t penalty_after; /* when not banned */
} decays[] = {
    {1, P2P_NS_PER_S - 1, true, 0},
    {1, P2P_NS_PER_S, false, 99},
    {10, P2P_NS_PER_S - 1, true, 0},
    {10, P2P_NS_PER_S, false, 90},
    {10, 3 * P2P_NS_PER_S + P2P_NS_PER_S / 2, false, 70},
    {10, 8 * P2P_NS_PER_S, false, 25}, /* 75 decayed to 0, not below */
    {0, 3600 * P2P_NS_PER_S, true, 0}, /* no decay */
};

START_TEST(penalty_decays_per_second)
{
    struct p2p_config c;
    ch_config(&c, 5);
    c.penalty_decay_per_s = decays[_i].decay_per_s;
    struct harness h;
    ch_init_cfg(&h, &c);
    ch_set_time(&h, 10 * P2P_NS_PER_S);
    static const p2p_node_id ids[] = {1, 5};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 2), 0);
    ch_up(&h, 1);
    strike(&h, 1, 3);
    ch_set_time(&h, h.now + decays[_i].wait_ns);
    h_clear(&h);
    strike(&h, 1, 1);
    struct p2p_peer_info info = ch_info(&h, 1);
    ck_assert_uint_eq(info.bans, decays[_i].banned ? 1 : 0);
    ck_assert(info.up == !decays[_i].banned);
    if (decays[_i].banned)
        expect_close_of_open(&h, 1, P2P_ERR_MISBEHAVED);
    else
        ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_CLOSE, 1), 0);
    ck_assert_uint_eq(info.penalty, decays[_i].penalty_after);
    ck_assert_uint_eq(info.penalty_total, 4 * P2P_PENALTY_BAD_FRAME);
    ck_assert_uint_eq(metrics(&h)->peers_banned, decays[_i].banned ? 1 : 0);
    h_fini(&h);
}
END_TEST

/* Decay counts whole seconds but keeps the remainder: strikes 0.6 s apart
 * still decay one second's worth by the third. */
START_TEST(penalty_decay_keeps_subsecond_remainder)
{
    struct p2p_config c;
    ch_config(&c, 5);
    c.penalty_decay_per_s = 10;
    struct harness h;
    ch_init_cfg(&h, &c);
    ch_set_time(&h, 10 * P2P_NS_PER_S);
    static const p2p_node_id ids[] = {1, 5};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 2), 0);
    ch_up(&h, 1);
    strike(&h, 1, 1);
    ch_set_time(&h, h.now + 600 * P2P_NS_PER_MS);
    strike(&h, 1, 1);
    ck_assert_uint_eq(ch_info(&h, 1).penalty, 50);
    ch_set_time(&h, h.now + 600 * P2P_NS_PER_MS);
    strike(&h, 1, 1);
    ck_assert_uint_eq(ch_info(&h, 1).penalty, 65);
    h_fini(&h);
}
END_TEST

/* ---- regressions (both were bugs the first version of this suite found) ---- */

/* A banned member we dial that leaves and rejoins during its ban is
 * dialled when the ban ends (the leave drops the ban's redial timer; the
 * rejoin must arm a new one). */
START_TEST(banned_rejoiner_is_redialled_after_ban)
{
    struct harness h;
    ch_init(&h, 0);
    static const p2p_node_id with[] = {0, 1}, without[] = {0};
    ck_assert_int_eq(ch_topology(&h, 1, with, 2), 0);
    ch_up(&h, 1);
    strike(&h, 1, 4);
    p2p_time until = ch_info(&h, 1).banned_until;
    ck_assert_int_eq(ch_topology(&h, 2, without, 1), 0);
    ck_assert_int_eq(ch_topology(&h, 3, with, 2), 0);
    h_clear(&h);
    ch_advance_to(&h, until + 60 * P2P_NS_PER_S);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 1), 1);
    h_fini(&h);
}
END_TEST

/* A dial whose CONN_DIAL did not fit in the outbox is not left DIALING
 * (no answer would ever come): it waits to be retried. */
START_TEST(dial_refused_by_outbox_is_not_stuck)
{
    struct p2p_config c;
    ch_config(&c, 0);
    c.outbox_actions_max = 1;
    struct harness h;
    ch_init_cfg(&h, &c);
    static const p2p_node_id ids[] = {0, 1, 2};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 3), 0);
    ck_assert_uint_eq(metrics(&h)->outbox_refused, 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 1), 1);
    ck_assert_int_ne(ch_info(&h, 2).conn, P2P_CONN_DIALING);
    h_fini(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conn_manager");
    TCase *tc = tcase_create("dial_rule");
    tcase_add_loop_test(tc, lower_id_dials, 0, (int)CH_COUNT(dial_rule));
    tcase_add_test(tc, topology_dials_each_higher_member_once);
    tcase_add_test(tc, accepts_lower_members_only);
    tcase_add_test(tc, legacy_mode_before_topology);
    suite_add_tcase(s, tc);

    tc = tcase_create("dial_failure");
    tcase_add_loop_test(tc, dial_failure_backs_off_within_window, 0,
                        (int)CH_COUNT(backoffs));
    tcase_add_test(tc, dial_failed_without_dial_is_state_error);
    tcase_add_test(tc, peer_up_resets_failure_count);
    tcase_add_test(tc, late_success_cancels_redial);
    suite_add_tcase(s, tc);

    tc = tcase_create("loss_refusal_topology");
    tcase_add_test(tc, loss_redials_only_what_we_dial);
    tcase_add_test(tc, non_member_is_refused);
    tcase_add_test(tc, member_that_leaves_is_closed);
    tcase_add_test(tc, self_leaving_closes_everything);
    tcase_add_test(tc, join_dials_leave_abandons_dial);
    tcase_add_test(tc, reconnect_forgets_views_and_resends_every_slot);
    suite_add_tcase(s, tc);

    tc = tcase_create("penalties");
    tcase_add_test(tc, bad_frames_ban_a_peer_that_dials_us);
    tcase_add_test(tc, banned_peer_we_dial_is_redialled_after_ban);
    tcase_add_loop_test(tc, penalty_decays_per_second, 0,
                        (int)CH_COUNT(decays));
    tcase_add_test(tc, penalty_decay_keeps_subsecond_remainder);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_add_test(tc, banned_rejoiner_is_redialled_after_ban);
    tcase_add_test(tc, dial_refused_by_outbox_is_not_stuck);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
