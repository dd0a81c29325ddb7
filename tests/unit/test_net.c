/* The simulator's network model: uplink serialisation, latency, downlink
 * reservation, per-link overrides, and loss as whole retransmission
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
    struct sim_scenario s = scenario(10 * P2P_NS_PER_MS, 0 /* no transfer time */, 0);
    struct sim_link_override o = {.from = 0, .to = 1, .has_latency = true,
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

int main(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, one_message_costs_latency_plus_transfer);
    tcase_add_test(tc, uplink_and_downlink_serialise);
    tcase_add_test(tc, link_override_applies_one_way_or_both);
    tcase_add_test(tc, loss_adds_whole_timeouts);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
