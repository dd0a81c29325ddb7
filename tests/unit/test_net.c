/* The simulator's network model: uplink serialisation, latency, downlink
 * reservation (idle time filled around earlier reservations, bounded busy
 * spans), per-link overrides, and loss as whole retransmission
 * timeouts. Exact arithmetic, no randomness where jitter and loss are 0. */
#include "harness.h"

#include "sim/net.h"

static struct sim_scenario scenario(uint64_t latency_ns, uint64_t bps,
                                    uint32_t loss_ppm)
{
    struct sim_scenario s;
    memset(&s, 0, sizeof(s));
    s.nodes = 3;
    s.net.latency_ns = latency_ns;
    s.net.bandwidth_bps = bps;
    s.net.loss_ppm = loss_ppm;
    return s;
}

/* 1,000,000 bytes at 1 Gbit/s take 8 ms; the downlink fills while the
 * uplink sends (pipelined), so the message costs latency + 8 ms. */
START_TEST(one_message_costs_latency_plus_transfer)
{
    struct sim_scenario s = scenario(40 * P2P_NS_PER_MS, 1000000000, 0);
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, 3, 1), 0);
    p2p_time at = sim_net_send(&net, 0, 0, 1, 1000000);
    ck_assert_uint_eq(at, 40 * P2P_NS_PER_MS + 8 * P2P_NS_PER_MS);
    sim_net_fini(&net);
}
END_TEST

/* Two messages from one node share its uplink: the second waits. Two
 * senders to one node share its downlink. */
START_TEST(uplink_and_downlink_serialise)
{
    struct sim_scenario s = scenario(10 * P2P_NS_PER_MS, 1000000000, 0);
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, 3, 1), 0);
    p2p_time a = sim_net_send(&net, 0, 0, 1, 1000000); /* 10 + 8 ms */
    p2p_time b = sim_net_send(&net, 0, 0, 2, 1000000); /* starts at 8 ms */
    ck_assert_uint_eq(a, 18 * P2P_NS_PER_MS);
    ck_assert_uint_eq(b, 26 * P2P_NS_PER_MS);
    /* Node 2 sends to node 1 at once: its first byte arrives at 10 ms,
     * but node 1's downlink is busy until 18 ms. */
    p2p_time c = sim_net_send(&net, 0, 2, 1, 1000000);
    ck_assert_uint_eq(c, 26 * P2P_NS_PER_MS);
    sim_net_fini(&net);
}
END_TEST

START_TEST(link_override_applies_one_way_or_both)
{
    struct sim_scenario s =
        scenario(10 * P2P_NS_PER_MS, 0 /* no transfer time */, 0);
    struct sim_link_override o = {.from = 0,
                                  .to = 1,
                                  .has_latency = true,
                                  .latency_ns = 100 * P2P_NS_PER_MS};
    s.net.links = &o;
    s.net.links_count = 1;
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, 3, 1), 0);
    ck_assert_uint_eq(sim_net_send(&net, 0, 0, 1, 100), 100 * P2P_NS_PER_MS);
    ck_assert_uint_eq(sim_net_send(&net, 0, 1, 0, 100), 10 * P2P_NS_PER_MS);
    sim_net_fini(&net);
    o.both_directions = true;
    ck_assert_int_eq(sim_net_init(&net, &s, 3, 1), 0);
    ck_assert_uint_eq(sim_net_send(&net, 0, 1, 0, 100), 100 * P2P_NS_PER_MS);
    sim_net_fini(&net);
}
END_TEST

/* Loss only ever adds whole retransmission timeouts (4 x latency), and a
 * large message under heavy loss is late by more than a small one. */
START_TEST(loss_adds_whole_timeouts)
{
    struct sim_scenario s = scenario(10 * P2P_NS_PER_MS, 0, 300000 /* 30 % */);
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, 3, 7), 0);
    p2p_time rto = 40 * P2P_NS_PER_MS;
    uint64_t small_late = 0, big_late = 0;
    for (int i = 0; i < 2000; i++) {
        p2p_time t = sim_net_send(&net, 0, 0, 1, 100) - 10 * P2P_NS_PER_MS;
        ck_assert_uint_eq(t % rto, 0);
        small_late += t / rto;
        t = sim_net_send(&net, 0, 0, 2, 120000) - 10 * P2P_NS_PER_MS;
        ck_assert_uint_eq(t % rto, 0);
        ck_assert_uint_le(t / rto, SIM_NET_LOSS_ROUNDS_MAX);
        big_late += t / rto;
    }
    ck_assert_uint_gt(small_late, 0);
    ck_assert_uint_gt(big_late, 2 * small_late);
    sim_net_fini(&net);
}
END_TEST

#define MS P2P_NS_PER_MS

/* At 8 Mbit/s a byte takes 1 us: 1,000 bytes 1 ms, 10,000 bytes 10 ms. */
#define SLOW_BPS 8000000u

/* A scenario of `nodes` nodes on 20 ms links at SLOW_BPS, with the links
 * from node i to node `to` (one way) of latency_ms[i] where that is > 0. */
static struct sim_scenario uneven(uint32_t nodes, uint32_t to,
                                  const uint32_t *latency_ms,
                                  struct sim_link_override *o)
{
    struct sim_scenario s = scenario(20 * MS, SLOW_BPS, 0);
    s.nodes = nodes;
    s.net.links = o;
    for (uint32_t i = 0; i < nodes; i++) {
        if (latency_ms[i] == 0)
            continue;
        o[s.net.links_count++] =
            (struct sim_link_override){.from = i,
                                       .to = to,
                                       .has_latency = true,
                                       .latency_ns = latency_ms[i] * MS};
    }
    return s;
}

/* A small message from a near peer, sent after a far peer's, arrives after
 * its own link's latency: it fills the receiver's downlink before the far
 * one's reservation instead of queueing behind it (a single FIFO gave
 * 140 ms). One arriving just before the far one's reservation fills the
 * 5 ms left before it and the rest after it: the downlink never takes in
 * two messages at once. */
START_TEST(near_small_message_not_behind_far_one)
{
    const uint32_t latency_ms[4] = {120, 0, 115, 0};
    struct sim_link_override o[4];
    struct sim_scenario s = uneven(4, 3, latency_ms, o);
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, 4, 1), 0);
    ck_assert_uint_eq(sim_net_send(&net, 0, 0, 3, 10000), 130 * MS);
    ck_assert_uint_eq(sim_net_send(&net, 0, 1, 3, 10000), 30 * MS);
    ck_assert_uint_eq(sim_net_send(&net, 0, 2, 3, 10000), 135 * MS);
    ck_assert_uint_eq(net.down[3].small_count, 2); /* [20,30) [115,135) */
    sim_net_invariants(&net);
    sim_net_fini(&net);
}
END_TEST

/* The same for large messages, past the one busy period the previous
 * model tracked: a message whose first byte comes 5 ms before a far
 * sender's reservation takes those 5 ms and the rest after it instead of
 * overlapping it (the previous model let it end at 215 ms), a near one
 * still goes first, and one that does not fit a gap fills it and goes on
 * after the next reservation. */
START_TEST(large_message_fills_gaps_without_overlap)
{
    const uint32_t latency_ms[5] = {120, 0, 115, 0, 0};
    struct sim_link_override o[5];
    struct sim_scenario s = uneven(5, 3, latency_ms, o);
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, 5, 1), 0);
    /* 100,000 bytes take 100 ms on each end, 70,000 bytes 70 ms. */
    ck_assert_uint_eq(sim_net_send(&net, 0, 0, 3, 100000), 220 * MS);
    ck_assert_uint_eq(sim_net_send(&net, 0, 2, 3, 100000), 315 * MS);
    ck_assert_uint_eq(sim_net_send(&net, 0, 1, 3, 70000), 90 * MS);
    /* Busy [20, 90) and [115, 315): 25 ms before 115 ms, 75 after. */
    ck_assert_uint_eq(sim_net_send(&net, 0, 4, 3, 100000), 390 * MS);
    ck_assert_uint_eq(net.down[3].all_count, 1);
    sim_net_invariants(&net);
    sim_net_fini(&net);
}
END_TEST

/* Small messages go ahead of large ones, whose later reservations their
 * transfer time pushes back, as before. The downlink keeps the two lists
 * apart while a large message's time is not over, and one list after. */
START_TEST(small_goes_ahead_of_large_and_pushes_it_back)
{
    struct sim_scenario s = scenario(20 * MS, SLOW_BPS, 0);
    s.nodes = 5;
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, 5, 1), 0);
    ck_assert_uint_eq(sim_net_send(&net, 0, 1, 3, 100000), 120 * MS);
    ck_assert_uint_eq(sim_net_send(&net, 0, 2, 3, 10000), 30 * MS);
    ck_assert_uint_eq(sim_net_send(&net, 0, 4, 3, 100000), 230 * MS);
    ck_assert(net.down[3].apart);
    ck_assert_uint_eq(net.down[3].small_count, 1);
    ck_assert_uint_eq(net.down[3].all_count, 1); /* [20, 230) */
    sim_net_invariants(&net);
    ck_assert_uint_eq(sim_net_send(&net, 229 * MS, 2, 3, 10000), 259 * MS);
    ck_assert(net.down[3].apart);
    /* The large class's time is over: queued behind [249, 259) alone. */
    ck_assert_uint_eq(sim_net_send(&net, 230 * MS, 1, 3, 10000), 269 * MS);
    ck_assert(!net.down[3].apart);
    sim_net_fini(&net);
}
END_TEST

/* Capacity: of the small messages whose first byte reaches node 0 at or
 * after s and that have arrived by t, there are never more than the
 * downlink can take in during [s, t). Eleven senders at 10 to 110 ms,
 * each sending at most once per 3 ms (so its uplink is free), 1 ms
 * messages: many out-of-order reservations. */
START_TEST(small_messages_never_exceed_downlink)
{
    enum { SENDERS = 11, SENT = 300 };
    uint32_t latency_ms[SENDERS + 1] = {0};
    for (uint32_t i = 1; i <= SENDERS; i++)
        latency_ms[i] = 10 * i;
    struct sim_link_override o[SENDERS + 1];
    struct sim_scenario s = uneven(SENDERS + 1, 0, latency_ms, o);
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, SENDERS + 1, 1), 0);
    p2p_time first[SENT], done[SENT];
    uint32_t x = 12345;
    for (int k = 0; k < SENT; k++) {
        x = x * 1103515245u + 12345u;
        uint32_t from = 1 + (x >> 16) % SENDERS;
        p2p_time now = (p2p_time)k * 3 * MS;
        first[k] = now + latency_ms[from] * MS;
        done[k] = sim_net_send(&net, now, from, 0, 1000);
        ck_assert_uint_ge(done[k], first[k] + 1 * MS);
    }
    for (int a = 0; a < SENT; a++)
        for (int b = 0; b < SENT; b++) {
            if (done[b] <= first[a])
                continue;
            uint64_t in = 0;
            for (int k = 0; k < SENT; k++)
                in += first[k] >= first[a] && done[k] <= done[b];
            ck_assert_uint_le(in * MS, done[b] - first[a]);
        }
    sim_net_invariants(&net);
    sim_net_fini(&net);
}
END_TEST

/* A downlink remembers SIM_NET_DOWNLINK_SPANS_MAX busy spans: at the
 * limit nothing merges and a message fits the 1 ms gap after the first;
 * one more span merges the two nearest (the first pair of equal gaps),
 * whose gap then counts as busy. */
static p2p_time spans_probe(uint32_t far_sends)
{
    /* Node 0 reaches node 3 in 1 s, node 1 in 937 ms. */
    const uint32_t latency_ms[4] = {1000, 937, 0, 0};
    struct sim_link_override o[4];
    struct sim_scenario s = uneven(4, 3, latency_ms, o);
    struct sim_net net;
    ck_assert_int_eq(sim_net_init(&net, &s, 4, 1), 0);
    /* [1000 + 2k, 1001 + 2k) ms for k < far_sends, 1 ms apart. */
    for (uint32_t k = 0; k < far_sends; k++)
        ck_assert_uint_eq(sim_net_send(&net, k * 2 * MS, 0, 3, 1000),
                          (1001 + 2 * k) * MS);
    uint32_t spans = far_sends < SIM_NET_DOWNLINK_SPANS_MAX
                         ? far_sends
                         : SIM_NET_DOWNLINK_SPANS_MAX;
    ck_assert_uint_eq(net.down[3].small_count, spans);
    ck_assert(!net.down[3].apart); /* small messages only: one list */
    /* Its first byte at 1001 ms. */
    p2p_time at = sim_net_send(&net, 64 * MS, 1, 3, 1000);
    ck_assert_uint_le(net.down[3].small_count, SIM_NET_DOWNLINK_SPANS_MAX);
    sim_net_invariants(&net);
    sim_net_fini(&net);
    return at;
}

START_TEST(downlink_spans_are_bounded)
{
    ck_assert_uint_eq(spans_probe(SIM_NET_DOWNLINK_SPANS_MAX), 1002 * MS);
    ck_assert_uint_eq(spans_probe(SIM_NET_DOWNLINK_SPANS_MAX + 1), 1004 * MS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, one_message_costs_latency_plus_transfer);
    tcase_add_test(tc, uplink_and_downlink_serialise);
    tcase_add_test(tc, link_override_applies_one_way_or_both);
    tcase_add_test(tc, loss_adds_whole_timeouts);
    tcase_add_test(tc, near_small_message_not_behind_far_one);
    tcase_add_test(tc, large_message_fills_gaps_without_overlap);
    tcase_add_test(tc, small_goes_ahead_of_large_and_pushes_it_back);
    tcase_add_test(tc, small_messages_never_exceed_downlink);
    tcase_add_test(tc, downlink_spans_are_bounded);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
