/* The packet-level network model (sim/pnet.c): exact times on idle and
 * queueing paths, drop-tail at both ends on both sides of the limit, the
 * MTU, loss, jitter, reordering, duplication, corruption and blackholes,
 * the counters, and that the results depend only on the seed and the
 * calls. */
#include "harness.h"

#include "sim/pnet.h"

#define MS P2P_NS_PER_MS
#define US P2P_NS_PER_US

static void setup(struct sim_pnet *p, uint32_t nodes,
                  const struct sim_pnet_params *pp, uint64_t seed)
{
    ck_assert_int_eq(sim_pnet_init(p, nodes, pp, seed), 0);
}

static void all_links(struct sim_pnet *p, uint64_t latency_ns,
                      uint64_t jitter_ns, uint32_t loss_ppm)
{
    struct sim_pnet_link l = {latency_ns, jitter_ns, loss_ppm};
    sim_pnet_set_all_links(p, &l);
}

/* A send that must deliver exactly one copy: its arrival time. */
static p2p_time one(struct sim_pnet *p, p2p_time now, uint32_t from,
                    uint32_t to, size_t len)
{
    struct sim_pnet_arrival out[2];
    enum sim_pnet_drop why = SIM_PNET_DROP_COUNT;
    ck_assert_uint_eq(sim_pnet_send(p, now, from, to, len, out, &why), 1);
    ck_assert_int_eq(why, SIM_PNET_DELIVERED);
    ck_assert(!out[0].corrupt);
    return out[0].at;
}

/* A send that must be dropped for `reason`. */
static void dropped(struct sim_pnet *p, p2p_time now, uint32_t from,
                    uint32_t to, size_t len, enum sim_pnet_drop reason)
{
    struct sim_pnet_arrival out[2];
    enum sim_pnet_drop why = SIM_PNET_DELIVERED;
    ck_assert_uint_eq(sim_pnet_send(p, now, from, to, len, out, &why), 0);
    ck_assert_str_eq(sim_pnet_drop_name(why), sim_pnet_drop_name(reason));
}

/* An idle path costs uplink time + latency + downlink time, each
 * transfer rounded up to a whole ns, 0 at infinite bandwidth. */
START_TEST(idle_path_costs_latency_and_both_transfers)
{
    static const struct {
        uint64_t up_bps, down_bps;
        size_t len;
        p2p_time extra_ns; /* beyond the latency */
    } rows[] = {
        {1000000000, 100000000, 1250, 10000 + 100000},
        {8000000000, 8000000000, 1500, 1500 + 1500},
        {0, 0, 1500, 0},
        {3000000000, 0, 1, 3},                 /* 8 / 3 ns, rounded up */
        {0, 7, 1, 1142857143},                 /* 8 / 7 s, rounded up */
        {UINT64_MAX, UINT64_MAX, 1500, 1 + 1}, /* no overflow */
        {1000000000, 1000000000, 0, 0},        /* an empty datagram */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct sim_pnet p;
        setup(&p, 2, NULL, 1);
        all_links(&p, 10 * MS, 0, 0);
        sim_pnet_set_bandwidth(&p, 0, rows[i].up_bps, 0);
        sim_pnet_set_bandwidth(&p, 1, 0, rows[i].down_bps);
        p2p_time now = 5 * MS;
        ck_assert_uint_eq(one(&p, now, 0, 1, rows[i].len),
                          now + 10 * MS + rows[i].extra_ns);
        sim_pnet_invariants(&p);
        sim_pnet_fini(&p);
    }
}
END_TEST

/* Datagrams sent at once leave one uplink one after another, to any
 * destination; an uplink idle again sends at once. */
START_TEST(uplink_is_fifo)
{
    struct sim_pnet p;
    setup(&p, 3, NULL, 1);
    all_links(&p, 1 * MS, 0, 0);
    sim_pnet_set_bandwidth(&p, 0, 1000000000, 0); /* 8 ns per byte */
    ck_assert_uint_eq(one(&p, 0, 0, 1, 1000), 8000 + 1 * MS);
    ck_assert_uint_eq(one(&p, 0, 0, 2, 1000), 16000 + 1 * MS);
    ck_assert_uint_eq(one(&p, 100, 0, 1, 1000), 24000 + 1 * MS);
    ck_assert_uint_eq(sim_pnet_uplink_free(&p, 0), 24000);
    ck_assert_uint_eq(sim_pnet_uplink_free(&p, 1), 0);
    ck_assert_uint_eq(one(&p, 100000, 0, 2, 500), 104000 + 1 * MS);
    sim_pnet_fini(&p);
}
END_TEST

/* 3000 bytes of queue at 1 byte per ns: three 1000-byte datagrams fit,
 * a fourth does not and reserves nothing; the queue's bytes are those
 * not yet sent, (uplink_free - now) at this rate. */
START_TEST(uplink_drop_tail_at_the_limit)
{
    struct sim_pnet_params pp;
    sim_pnet_params_default(&pp);
    pp.queue_bytes = 3000;
    struct sim_pnet p;
    setup(&p, 2, &pp, 1);
    sim_pnet_set_bandwidth(&p, 0, 8000000000, 0);
    for (int i = 1; i <= 3; i++)
        ck_assert_uint_eq(one(&p, 0, 0, 1, 1000), (p2p_time)i * 1000);
    dropped(&p, 0, 0, 1, 1000, SIM_PNET_DROP_UPLINK_QUEUE);
    dropped(&p, 0, 0, 1, 1, SIM_PNET_DROP_UPLINK_QUEUE);
    ck_assert_uint_eq(sim_pnet_uplink_free(&p, 0), 3000);
    /* 2001 bytes left at 999: one too many; 2000 at 1000: full. */
    dropped(&p, 999, 0, 1, 1000, SIM_PNET_DROP_UPLINK_QUEUE);
    ck_assert_uint_eq(one(&p, 1000, 0, 1, 1000), 4000);
    /* 3000 left at 1000: only an empty datagram fits. */
    dropped(&p, 1000, 0, 1, 1, SIM_PNET_DROP_UPLINK_QUEUE);
    ck_assert_uint_eq(one(&p, 1000, 0, 1, 0), 4000);
    ck_assert_uint_eq(p.counters.dropped[SIM_PNET_DROP_UPLINK_QUEUE], 4);
    sim_pnet_fini(&p);
}
END_TEST

/* Two senders with infinite uplinks into one receiver whose downlink
 * takes 1 byte per ns: they queue there, FIFO, and the fourth datagram
 * overflows its 3000 bytes. */
START_TEST(downlink_drop_tail_with_two_senders)
{
    struct sim_pnet_params pp;
    sim_pnet_params_default(&pp);
    pp.queue_bytes = 3000;
    struct sim_pnet p;
    setup(&p, 3, &pp, 1);
    all_links(&p, 1 * MS, 0, 0);
    sim_pnet_set_bandwidth(&p, 2, 0, 8000000000);
    ck_assert_uint_eq(one(&p, 0, 0, 2, 1000), 1 * MS + 1000);
    ck_assert_uint_eq(one(&p, 0, 1, 2, 1000), 1 * MS + 2000);
    ck_assert_uint_eq(one(&p, 0, 0, 2, 1000), 1 * MS + 3000);
    dropped(&p, 0, 1, 2, 1000, SIM_PNET_DROP_DOWNLINK_QUEUE);
    /* Measured at the link arrival: 2001 bytes left at 1 ms + 999. */
    dropped(&p, 999, 1, 2, 1000, SIM_PNET_DROP_DOWNLINK_QUEUE);
    ck_assert_uint_eq(one(&p, 1000, 1, 2, 1000), 1 * MS + 4000);
    ck_assert_uint_eq(p.counters.dropped[SIM_PNET_DROP_DOWNLINK_QUEUE], 2);
    ck_assert_uint_eq(p.counters.dropped_bytes[SIM_PNET_DROP_DOWNLINK_QUEUE],
                      2000);
    /* The dropped ones used their (infinite) uplinks and nothing else:
     * a later datagram is served as if they never came. */
    ck_assert_uint_eq(one(&p, 10 * MS, 0, 2, 1000), 11 * MS + 1000);
    sim_pnet_fini(&p);
}
END_TEST

/* A datagram reaching the downlink before a busy span reserved by one
 * sent earlier over a longer link is taken in in the idle time before
 * that span, not behind it; if it does not fit there, the rest of it
 * goes after the span (whose time was given out already), so the
 * downlink never carries more than its bandwidth. */
START_TEST(downlink_fills_the_gap_before_a_later_reservation)
{
    struct sim_pnet p;
    setup(&p, 3, NULL, 1);
    struct sim_pnet_link far = {10 * MS, 0, 0}, near = {1 * MS, 0, 0};
    sim_pnet_set_link(&p, 0, 2, &far);
    sim_pnet_set_link(&p, 1, 2, &near);
    sim_pnet_set_bandwidth(&p, 2, 0, 8000000000); /* 1 byte per ns */
    ck_assert_uint_eq(one(&p, 0, 0, 2, 1000), 10 * MS + 1000);
    ck_assert_uint_eq(one(&p, 0, 1, 2, 1000), 1 * MS + 1000);
    ck_assert_uint_eq(one(&p, 0, 1, 2, 1000), 1 * MS + 2000); /* queued */
    ck_assert_uint_eq(one(&p, 1 * MS, 0, 2, 1000), 11 * MS + 1000);
    /* 500 ns idle before the 10 ms span, the other 500 after it. */
    ck_assert_uint_eq(one(&p, 9 * MS - 500, 1, 2, 1000), 10 * MS + 1500);
    ck_assert_uint_eq(p.node[2].spans_count, 2);
    /* Exactly fits the 1000 ns before the 11 ms span. */
    ck_assert_uint_eq(one(&p, 10 * MS - 1000, 1, 2, 1000), 11 * MS);
    ck_assert_uint_eq(p.node[2].spans_count, 2);
    /* Behind the busy span from 11 ms - 1000 to 11 ms + 1000, 999 bytes
     * of which are still queued at 11 ms + 1. */
    ck_assert_uint_eq(one(&p, 10 * MS + 1, 1, 2, 1000), 11 * MS + 2000);
    sim_pnet_invariants(&p);
    sim_pnet_fini(&p);
}
END_TEST

/* A downlink remembers SIM_PNET_DOWNLINK_SPANS_MAX busy spans: one more
 * merges the two nearest, and a datagram reaching the idle time between
 * them waits for the merged span's end. */
START_TEST(downlink_spans_are_bounded)
{
    struct sim_pnet p;
    setup(&p, 3, NULL, 1);
    struct sim_pnet_link far = {100 * MS, 0, 0}, near = {0, 0, 0};
    sim_pnet_set_link(&p, 0, 2, &far);
    sim_pnet_set_link(&p, 1, 2, &near);
    sim_pnet_set_bandwidth(&p, 2, 0, 8000000000); /* 1 byte per ns */
    /* Spans [100 ms + 10i us, + 1 us): 9 us apart. */
    for (uint32_t i = 0; i < SIM_PNET_DOWNLINK_SPANS_MAX; i++)
        ck_assert_uint_eq(one(&p, i * 10 * US, 0, 2, 1000),
                          100 * MS + i * 10 * US + 1000);
    ck_assert_uint_eq(p.node[2].spans_count, SIM_PNET_DOWNLINK_SPANS_MAX);
    /* One 2 us after the last: those two merge. */
    p2p_time last = 100 * MS + (SIM_PNET_DOWNLINK_SPANS_MAX - 1) * 10 * US;
    ck_assert_uint_eq(one(&p, last - 100 * MS + 3 * US, 0, 2, 1000),
                      last + 4 * US);
    ck_assert_uint_eq(p.node[2].spans_count, SIM_PNET_DOWNLINK_SPANS_MAX);
    sim_pnet_invariants(&p);
    /* In the idle time between the second-last and the last: fits. */
    p2p_time before = last - 10 * US;
    ck_assert_uint_eq(one(&p, before + 2 * US, 1, 2, 1000), before + 3 * US);
    /* In the merged idle time: waits for the merged span's end. */
    ck_assert_uint_eq(one(&p, last + 1500, 1, 2, 1000), last + 5 * US);
    sim_pnet_invariants(&p);
    sim_pnet_fini(&p);
}
END_TEST

/* Longer than the MTU: dropped before the network, no uplink time and
 * no random draw; the MTU itself passes. */
START_TEST(mtu_drops_longer_datagrams_only)
{
    struct sim_pnet_params pp;
    sim_pnet_params_default(&pp);
    pp.corrupt_ppm = 1; /* so a datagram draws */
    struct sim_pnet p;
    setup(&p, 2, &pp, 1);
    all_links(&p, 1 * MS, 1 * US, 0);
    sim_pnet_set_bandwidth(&p, 0, 1000000000, 0);
    struct p2p_rng before = p.rng;
    dropped(&p, 0, 0, 1, SIM_PNET_MTU_DEFAULT + 1, SIM_PNET_DROP_MTU);
    ck_assert_uint_eq(sim_pnet_uplink_free(&p, 0), 0);
    ck_assert_uint_eq(p.rng.state, before.state);
    struct sim_pnet_arrival out[2];
    enum sim_pnet_drop why;
    ck_assert_uint_eq(
        sim_pnet_send(&p, 0, 0, 1, SIM_PNET_MTU_DEFAULT, out, &why), 1);
    ck_assert_uint_ne(p.rng.state, before.state);
    ck_assert_uint_eq(sim_pnet_uplink_free(&p, 0), 12000);
    ck_assert_uint_eq(p.counters.dropped[SIM_PNET_DROP_MTU], 1);
    ck_assert_uint_eq(p.counters.dropped_bytes[SIM_PNET_DROP_MTU], 1501);
    sim_pnet_fini(&p);
}
END_TEST

/* 100 % loss drops everything after its uplink time; 0 % nothing; 10 %
 * about a tenth; the extra loss adds to every link's. */
START_TEST(loss_all_none_and_rate)
{
    struct sim_pnet p;
    setup(&p, 3, NULL, 9);
    all_links(&p, 1 * MS, 0, 0);
    sim_pnet_set_bandwidth(&p, 0, 1000000000, 0);
    struct sim_pnet_link lossy = {1 * MS, 0, SIM_PNET_PPM};
    sim_pnet_set_link(&p, 0, 1, &lossy);
    for (int i = 0; i < 100; i++) {
        dropped(&p, 0, 0, 1, 1000, SIM_PNET_DROP_LOSS);
        ck_assert_uint_eq(one(&p, 0, 1, 0, 100), 1 * MS);
    }
    /* The lost ones used node 0's uplink: 100 x 8 us. */
    ck_assert_uint_eq(sim_pnet_uplink_free(&p, 0), 100 * 8000);
    ck_assert_uint_eq(one(&p, 0, 0, 2, 100), 100 * 8000 + 800 + 1 * MS);
    ck_assert_uint_eq(p.counters.dropped[SIM_PNET_DROP_LOSS], 100);
    sim_pnet_set_extra_loss(&p, SIM_PNET_PPM);
    dropped(&p, 0, 1, 0, 100, SIM_PNET_DROP_LOSS);
    sim_pnet_set_extra_loss(&p, 0);
    ck_assert_uint_eq(one(&p, 0, 1, 0, 100), 1 * MS);

    static const struct {
        uint32_t link_ppm, extra_ppm;
    } rates[] = {{100000, 0}, {0, 100000}, {50000, 50000}};
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        struct sim_pnet_link l = {1 * MS, 0, rates[r].link_ppm};
        sim_pnet_set_link(&p, 1, 2, &l);
        sim_pnet_set_extra_loss(&p, rates[r].extra_ppm);
        unsigned lost = 0;
        for (int i = 0; i < 10000; i++) {
            struct sim_pnet_arrival out[2];
            enum sim_pnet_drop why;
            size_t n = sim_pnet_send(&p, 0, 1, 2, 1200, out, &why);
            ck_assert_uint_eq(n, why == SIM_PNET_DELIVERED ? 1 : 0);
            lost += why == SIM_PNET_DROP_LOSS;
        }
        /* 1000 expected, 30 its standard deviation. */
        ck_assert_msg(lost >= 800 && lost <= 1200, "row %zu: %u lost", r, lost);
    }
    sim_pnet_invariants(&p);
    sim_pnet_fini(&p);
}
END_TEST

/* Jitter keeps the link time in [latency - jitter, latency + jitter],
 * spread over that range, and never below 0 when jitter exceeds the
 * latency. */
START_TEST(jitter_stays_in_bounds)
{
    struct sim_pnet p;
    setup(&p, 2, NULL, 3);
    all_links(&p, 10 * MS, 2 * MS, 0);
    p2p_time lo = P2P_TIME_NEVER, hi = 0;
    for (int i = 0; i < 10000; i++) {
        p2p_time now = (p2p_time)i * 10 * MS; /* far apart: no FIFO */
        p2p_time flight = one(&p, now, 0, 1, 1200) - now;
        ck_assert_uint_ge(flight, 8 * MS);
        ck_assert_uint_le(flight, 12 * MS);
        lo = flight < lo ? flight : lo;
        hi = flight > hi ? flight : hi;
    }
    ck_assert_uint_lt(lo, 8 * MS + 10 * US);
    ck_assert_uint_gt(hi, 12 * MS - 10 * US);

    all_links(&p, 1 * MS, 5 * MS, 0);
    unsigned zero = 0;
    for (int i = 0; i < 1000; i++) {
        p2p_time now = 200000 * MS + (p2p_time)i * 10 * MS;
        p2p_time flight = one(&p, now, 0, 1, 1200) - now;
        ck_assert_uint_le(flight, 6 * MS);
        zero += flight == 0;
    }
    /* latency + U[-5, 5] ms < 0 has chance 4 / 10. */
    ck_assert_uint_gt(zero, 300);
    ck_assert_uint_lt(zero, 500);
    sim_pnet_fini(&p);
}
END_TEST

/* A link is FIFO: datagrams 10 us apart with 5 ms of jitter arrive in
 * the order sent, each still within its bounds, while ones from another
 * sender interleave with them. */
START_TEST(jitter_never_reorders_one_link)
{
    struct sim_pnet p;
    setup(&p, 3, NULL, 5);
    all_links(&p, 10 * MS, 5 * MS, 0);
    p2p_time last = 0;
    unsigned passed = 0;
    for (int i = 0; i < 2000; i++) {
        p2p_time now = (p2p_time)i * 10 * US;
        p2p_time at = one(&p, now, 0, 2, 1200);
        ck_assert_uint_ge(at, last);
        ck_assert_uint_ge(at - now, 5 * MS);
        ck_assert_uint_le(at - now, 15 * MS);
        last = at;
        passed += one(&p, now, 1, 2, 1200) < at;
    }
    ck_assert_uint_gt(passed, 0);
    sim_pnet_fini(&p);
}
END_TEST

/* With reordering, a datagram is sometimes overtaken by a later one,
 * never arrives before latency (+ downlink time), and is held back at
 * most reorder_ns; at a finite downlink too. */
START_TEST(reorder_lets_later_datagrams_overtake)
{
    static const uint64_t down_bps[] = {0, 1000000000};
    for (size_t r = 0; r < 2; r++) {
        struct sim_pnet_params pp;
        sim_pnet_params_default(&pp);
        pp.reorder_ppm = 100000;
        pp.reorder_ns = 5 * MS;
        struct sim_pnet p;
        setup(&p, 2, &pp, 11);
        all_links(&p, 10 * MS, 0, 0);
        sim_pnet_set_bandwidth(&p, 1, 0, down_bps[r]);
        p2p_time down = down_bps[r] ? 9600 : 0; /* 1200 bytes */
        p2p_time prev = 0;
        unsigned overtaken = 0;
        for (int i = 0; i < 1000; i++) {
            p2p_time now = (p2p_time)i * 100 * US;
            p2p_time at = one(&p, now, 0, 1, 1200);
            ck_assert_uint_ge(at, now + 10 * MS + down);
            ck_assert_uint_le(at, now + 15 * MS + 2 * down);
            overtaken += i > 0 && at < prev;
            prev = at;
        }
        ck_assert_uint_gt(overtaken, 10);
        ck_assert_uint_gt(p.counters.reordered, 50);
        ck_assert_uint_lt(p.counters.reordered, 150);
        sim_pnet_fini(&p);
    }
}
END_TEST

/* Duplication: two arrivals, the second 1 ns to reorder_ns (1 ms when
 * it is 0) after the first, each with its own downlink time; at half
 * the rate, about half the datagrams. */
START_TEST(duplicate_gives_two_arrivals)
{
    struct sim_pnet_params pp;
    sim_pnet_params_default(&pp);
    pp.duplicate_ppm = SIM_PNET_PPM;
    struct sim_pnet p;
    setup(&p, 2, &pp, 13);
    all_links(&p, 1 * MS, 0, 0);
    p2p_time lo = P2P_TIME_NEVER, hi = 0;
    for (int i = 0; i < 2000; i++) {
        p2p_time now = (p2p_time)i * 10 * MS;
        struct sim_pnet_arrival out[2];
        enum sim_pnet_drop why;
        ck_assert_uint_eq(sim_pnet_send(&p, now, 0, 1, 1200, out, &why), 2);
        ck_assert_int_eq(why, SIM_PNET_DELIVERED);
        ck_assert_uint_eq(out[0].at, now + 1 * MS);
        p2p_time gap = out[1].at - out[0].at;
        ck_assert_uint_ge(gap, 1);
        ck_assert_uint_le(gap, 1 * MS);
        lo = gap < lo ? gap : lo;
        hi = gap > hi ? gap : hi;
    }
    ck_assert_uint_lt(lo, 10 * US);
    ck_assert_uint_gt(hi, 990 * US);
    ck_assert_uint_eq(p.counters.duplicated, 2000);
    ck_assert_uint_eq(p.counters.delivered, 4000);
    ck_assert_uint_eq(p.counters.delivered_bytes, 4000 * 1200);
    sim_pnet_fini(&p);

    /* A slow downlink: the copy queues behind the first. */
    pp.duplicate_ppm = 500000;
    pp.reorder_ns = 100; /* the copy's delay bound, without reordering */
    setup(&p, 2, &pp, 13);
    all_links(&p, 1 * MS, 0, 0);
    sim_pnet_set_bandwidth(&p, 1, 0, 1000000000); /* 9600 ns each */
    unsigned twice = 0;
    for (int i = 0; i < 2000; i++) {
        p2p_time now = (p2p_time)i * 10 * MS;
        struct sim_pnet_arrival out[2];
        enum sim_pnet_drop why;
        size_t n = sim_pnet_send(&p, now, 0, 1, 1200, out, &why);
        ck_assert_uint_ge(n, 1);
        ck_assert_uint_eq(out[0].at, now + 1 * MS + 9600);
        if (n == 2) {
            ck_assert_uint_eq(out[1].at, out[0].at + 9600);
            twice++;
        }
    }
    ck_assert_uint_gt(twice, 800);
    ck_assert_uint_lt(twice, 1200);
    ck_assert_uint_eq(p.counters.duplicated, twice);
    sim_pnet_fini(&p);
}
END_TEST

/* A corrupt copy names a bit inside the datagram: every bit of a 1-byte
 * datagram comes up; never for an empty one; at 30 %, about 30 %. */
START_TEST(corrupt_bit_is_in_range)
{
    struct sim_pnet_params pp;
    sim_pnet_params_default(&pp);
    pp.corrupt_ppm = SIM_PNET_PPM;
    struct sim_pnet p;
    setup(&p, 2, &pp, 17);
    unsigned seen = 0; /* bit i of a 1-byte datagram */
    for (size_t len = 1; len <= SIM_PNET_MTU_DEFAULT; len++) {
        struct sim_pnet_arrival out[2];
        enum sim_pnet_drop why;
        for (int k = 0; k < 4; k++) {
            ck_assert_uint_eq(sim_pnet_send(&p, 0, 0, 1, len, out, &why), 1);
            ck_assert(out[0].corrupt);
            ck_assert_uint_lt(out[0].bit, len * 8);
            if (len == 1)
                seen |= 1u << out[0].bit;
        }
    }
    for (int k = 0; k < 64; k++) {
        struct sim_pnet_arrival out[2];
        enum sim_pnet_drop why;
        ck_assert_uint_eq(sim_pnet_send(&p, 0, 0, 1, 1, out, &why), 1);
        seen |= 1u << out[0].bit;
    }
    ck_assert_uint_eq(seen, 0xff);
    struct sim_pnet_arrival out[2];
    enum sim_pnet_drop why;
    ck_assert_uint_eq(sim_pnet_send(&p, 0, 0, 1, 0, out, &why), 1);
    ck_assert(!out[0].corrupt);
    ck_assert_uint_eq(out[0].bit, 0);
    ck_assert_uint_eq(p.counters.corrupted, p.counters.delivered - 1);
    sim_pnet_fini(&p);

    pp.corrupt_ppm = 300000;
    setup(&p, 2, &pp, 17);
    for (int i = 0; i < 10000; i++)
        ck_assert_uint_eq(sim_pnet_send(&p, 0, 0, 1, 1200, out, &why), 1);
    ck_assert_uint_gt(p.counters.corrupted, 2800);
    ck_assert_uint_lt(p.counters.corrupted, 3200);
    sim_pnet_fini(&p);
}
END_TEST

/* A blackhole swallows every datagram to the node, after its uplink
 * time, and none from it; switched off, datagrams arrive again. */
START_TEST(blackhole_swallows_datagrams_to_the_node)
{
    struct sim_pnet p;
    setup(&p, 3, NULL, 1);
    all_links(&p, 1 * MS, 0, 0);
    sim_pnet_set_bandwidth(&p, 0, 1000000000, 0);
    sim_pnet_set_blackhole(&p, 1, true);
    dropped(&p, 0, 0, 1, 1000, SIM_PNET_DROP_BLACKHOLE);
    ck_assert_uint_eq(sim_pnet_uplink_free(&p, 0), 8000);
    ck_assert_uint_eq(one(&p, 0, 0, 2, 1000), 16000 + 1 * MS);
    ck_assert_uint_eq(one(&p, 0, 1, 0, 1000), 1 * MS);
    sim_pnet_set_blackhole(&p, 1, false);
    ck_assert_uint_eq(one(&p, 0, 0, 1, 1000), 24000 + 1 * MS);
    ck_assert_uint_eq(p.counters.dropped[SIM_PNET_DROP_BLACKHOLE], 1);
    sim_pnet_fini(&p);
}
END_TEST

struct outcome {
    size_t n;
    enum sim_pnet_drop why;
    struct sim_pnet_arrival out[2];
};

/* A fixed mix of calls on a lossy, jittery, reordering, duplicating,
 * corrupting network of 4 nodes with small queues. */
static void run_mix(uint64_t seed, uint64_t queue_bytes, struct outcome *o,
                    size_t count, struct p2p_rng *rng_after)
{
    struct sim_pnet_params pp = {
        .mtu_bytes = 1500,
        .queue_bytes = queue_bytes,
        .reorder_ppm = 50000,
        .reorder_ns = 2 * MS,
        .duplicate_ppm = 20000,
        .corrupt_ppm = 30000,
    };
    struct sim_pnet p;
    setup(&p, 4, &pp, seed);
    all_links(&p, 5 * MS, 1 * MS, 20000);
    for (uint32_t i = 0; i < 4; i++)
        sim_pnet_set_bandwidth(&p, i, 100000000, 200000000);
    for (size_t i = 0; i < count; i++) {
        memset(&o[i], 0, sizeof(o[i]));
        uint32_t from = (uint32_t)(i % 4), to = (uint32_t)((i * 7 + 1) % 4);
        o[i].n = sim_pnet_send(&p, (p2p_time)i * 20 * US, from, to,
                               100 + (i * 37) % 1400, o[i].out, &o[i].why);
    }
    sim_pnet_invariants(&p);
    *rng_after = p.rng;
    sim_pnet_fini(&p);
}

/* Same seed and calls: the same outcomes, field by field; another seed:
 * other outcomes. Queue drops draw as much as deliveries, so a network
 * with smaller queues ends on the same random state. */
START_TEST(same_seed_same_outcomes)
{
    enum { COUNT = 3000 };
    static struct outcome a[COUNT], b[COUNT], c[COUNT], d[COUNT];
    struct p2p_rng ra, rb, rc, rd;
    run_mix(42, SIM_PNET_QUEUE_BYTES_DEFAULT, a, COUNT, &ra);
    run_mix(42, SIM_PNET_QUEUE_BYTES_DEFAULT, b, COUNT, &rb);
    run_mix(43, SIM_PNET_QUEUE_BYTES_DEFAULT, c, COUNT, &rc);
    run_mix(42, 1500, d, COUNT, &rd);
    size_t differ = 0, queue_drops = 0;
    for (size_t i = 0; i < COUNT; i++) {
        ck_assert_uint_eq(a[i].n, b[i].n);
        ck_assert_int_eq(a[i].why, b[i].why);
        for (size_t k = 0; k < a[i].n; k++) {
            ck_assert_uint_eq(a[i].out[k].at, b[i].out[k].at);
            ck_assert_int_eq(a[i].out[k].corrupt, b[i].out[k].corrupt);
            ck_assert_uint_eq(a[i].out[k].bit, b[i].out[k].bit);
        }
        differ += a[i].n != c[i].n || a[i].why != c[i].why ||
                  (a[i].n > 0 && a[i].out[0].at != c[i].out[0].at);
        queue_drops += d[i].why == SIM_PNET_DROP_UPLINK_QUEUE ||
                       d[i].why == SIM_PNET_DROP_DOWNLINK_QUEUE;
    }
    ck_assert_uint_gt(differ, COUNT / 2);
    ck_assert_uint_eq(ra.state, rb.state);
    ck_assert_uint_ne(ra.state, rc.state);
    ck_assert_uint_gt(queue_drops, 100);
    ck_assert_uint_eq(ra.state, rd.state);
}
END_TEST

/* One datagram of each fate: every counter says so, bytes included. */
START_TEST(counters_count_every_fate)
{
    struct sim_pnet_params pp;
    sim_pnet_params_default(&pp);
    pp.queue_bytes = 1500;
    struct sim_pnet p;
    setup(&p, 4, &pp, 1);
    all_links(&p, 1 * MS, 0, 0);
    struct sim_pnet_link lossy = {1 * MS, 0, SIM_PNET_PPM};
    sim_pnet_set_link(&p, 0, 3, &lossy);
    sim_pnet_set_bandwidth(&p, 0, 8000000000, 0);
    sim_pnet_set_bandwidth(&p, 2, 0, 8000000000);
    sim_pnet_set_blackhole(&p, 1, true);
    ck_assert_uint_eq(one(&p, 0, 0, 2, 1000), 1000 + 1 * MS + 1000);
    dropped(&p, 0, 0, 2, 1000, SIM_PNET_DROP_UPLINK_QUEUE);
    /* Reaches node 2's downlink as the first starts there: 1000 queued. */
    dropped(&p, 1000, 3, 2, 1000, SIM_PNET_DROP_DOWNLINK_QUEUE);
    dropped(&p, 0, 0, 2, 2000, SIM_PNET_DROP_MTU);
    dropped(&p, 5000, 0, 1, 100, SIM_PNET_DROP_BLACKHOLE);
    dropped(&p, 5000, 0, 3, 200, SIM_PNET_DROP_LOSS);
    const struct sim_pnet_counters *c = &p.counters;
    ck_assert_uint_eq(c->sent, 6);
    ck_assert_uint_eq(c->sent_bytes, 5300);
    ck_assert_uint_eq(c->delivered, 1);
    ck_assert_uint_eq(c->delivered_bytes, 1000);
    static const uint64_t bytes[SIM_PNET_DROP_COUNT] = {
        [SIM_PNET_DROP_MTU] = 2000,
        [SIM_PNET_DROP_UPLINK_QUEUE] = 1000,
        [SIM_PNET_DROP_DOWNLINK_QUEUE] = 1000,
        [SIM_PNET_DROP_LOSS] = 200,
        [SIM_PNET_DROP_BLACKHOLE] = 100,
    };
    for (int i = 0; i < SIM_PNET_DROP_COUNT; i++) {
        ck_assert_uint_eq(c->dropped[i], i == SIM_PNET_DELIVERED ? 0 : 1);
        ck_assert_uint_eq(c->dropped_bytes[i], bytes[i]);
    }
    ck_assert_uint_eq(c->reordered + c->duplicated + c->corrupted, 0);
    sim_pnet_invariants(&p);
    sim_pnet_fini(&p);
}
END_TEST

START_TEST(drop_names)
{
    static const char *const names[] = {"delivered",    "mtu",
                                        "uplink_queue", "downlink_queue",
                                        "loss",         "blackhole"};
    ck_assert_uint_eq(sizeof(names) / sizeof(names[0]), SIM_PNET_DROP_COUNT);
    for (int i = 0; i < SIM_PNET_DROP_COUNT; i++)
        ck_assert_str_eq(sim_pnet_drop_name((enum sim_pnet_drop)i), names[i]);
    ck_assert_str_eq(sim_pnet_drop_name(SIM_PNET_DROP_COUNT), "?");
}
END_TEST

/* Every limit on both sides: the bound itself is taken, one past it is
 * P2P_ERR_INVALID_ARG with p left zeroed. */
START_TEST(init_checks_its_arguments)
{
    struct sim_pnet_params base;
    sim_pnet_params_default(&base);
    static const struct {
        uint32_t nodes;
        uint32_t mtu;
        uint64_t queue;
        uint32_t reorder_ppm;
        uint64_t reorder_ns;
        uint32_t duplicate_ppm, corrupt_ppm;
        int rc;
    } rows[] = {
        {1, 1500, 1 << 20, 0, 0, 0, 0, 0},
        {0, 1500, 1 << 20, 0, 0, 0, 0, P2P_ERR_INVALID_ARG},
        {SIM_PNET_NODES_MAX + 1, 1500, 1 << 20, 0, 0, 0, 0,
         P2P_ERR_INVALID_ARG},
        {2, 1, 1, 0, 0, 0, 0, 0},
        {2, 0, 1 << 20, 0, 0, 0, 0, P2P_ERR_INVALID_ARG},
        {2, SIM_PNET_MTU_MAX, SIM_PNET_MTU_MAX, 0, 0, 0, 0, 0},
        {2, SIM_PNET_MTU_MAX + 1, 1 << 20, 0, 0, 0, 0, P2P_ERR_INVALID_ARG},
        {2, 1500, 1499, 0, 0, 0, 0, P2P_ERR_INVALID_ARG},
        {2, 1500, SIM_PNET_QUEUE_BYTES_MAX, 0, 0, 0, 0, 0},
        {2, 1500, SIM_PNET_QUEUE_BYTES_MAX + 1, 0, 0, 0, 0,
         P2P_ERR_INVALID_ARG},
        {2, 1500, 1 << 20, SIM_PNET_PPM, 1, SIM_PNET_PPM, SIM_PNET_PPM, 0},
        {2, 1500, 1 << 20, SIM_PNET_PPM + 1, 1, 0, 0, P2P_ERR_INVALID_ARG},
        {2, 1500, 1 << 20, 0, 0, SIM_PNET_PPM + 1, 0, P2P_ERR_INVALID_ARG},
        {2, 1500, 1 << 20, 0, 0, 0, SIM_PNET_PPM + 1, P2P_ERR_INVALID_ARG},
        {2, 1500, 1 << 20, 1, 0, 0, 0, P2P_ERR_INVALID_ARG},
        {2, 1500, 1 << 20, 1, SIM_PNET_DELAY_NS_MAX, 0, 0, 0},
        {2, 1500, 1 << 20, 0, SIM_PNET_DELAY_NS_MAX + 1, 0, 0,
         P2P_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct sim_pnet_params pp = base;
        pp.mtu_bytes = rows[i].mtu;
        pp.queue_bytes = rows[i].queue;
        pp.reorder_ppm = rows[i].reorder_ppm;
        pp.reorder_ns = rows[i].reorder_ns;
        pp.duplicate_ppm = rows[i].duplicate_ppm;
        pp.corrupt_ppm = rows[i].corrupt_ppm;
        struct sim_pnet p;
        memset(&p, 0xa5, sizeof(p));
        int rc = sim_pnet_init(&p, rows[i].nodes, &pp, 1);
        ck_assert_msg(rc == rows[i].rc, "row %zu: %d", i, rc);
        if (rc == 0) {
            ck_assert_uint_eq(p.nodes, rows[i].nodes);
            sim_pnet_invariants(&p);
        } else {
            ck_assert_ptr_null(p.paths);
            ck_assert_uint_eq(p.nodes, 0);
        }
        sim_pnet_fini(&p);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_pnet");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, idle_path_costs_latency_and_both_transfers);
    tcase_add_test(tc, uplink_is_fifo);
    tcase_add_test(tc, uplink_drop_tail_at_the_limit);
    tcase_add_test(tc, downlink_drop_tail_with_two_senders);
    tcase_add_test(tc, downlink_fills_the_gap_before_a_later_reservation);
    tcase_add_test(tc, downlink_spans_are_bounded);
    tcase_add_test(tc, mtu_drops_longer_datagrams_only);
    tcase_add_test(tc, loss_all_none_and_rate);
    tcase_add_test(tc, jitter_stays_in_bounds);
    tcase_add_test(tc, jitter_never_reorders_one_link);
    tcase_add_test(tc, reorder_lets_later_datagrams_overtake);
    tcase_add_test(tc, duplicate_gives_two_arrivals);
    tcase_add_test(tc, corrupt_bit_is_in_range);
    tcase_add_test(tc, blackhole_swallows_datagrams_to_the_node);
    tcase_add_test(tc, same_seed_same_outcomes);
    tcase_add_test(tc, counters_count_every_fate);
    tcase_add_test(tc, drop_names);
    tcase_add_test(tc, init_checks_its_arguments);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
