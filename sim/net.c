#include "sim/net.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "sim/draws.h"
#include "sim/big_table.h"

int sim_net_init(struct sim_net *net, const struct sim_scenario *s,
                 uint32_t nodes, uint64_t seed)
{
    memset(net, 0, sizeof(*net));
    net->nodes = nodes;
    size_t n = nodes;
    net->links = sim_big_table_new(n * n, sizeof(*net->links));
    net->uplink_bps = calloc(n, sizeof(uint64_t));
    net->downlink_bps = calloc(n, sizeof(uint64_t));
    net->uplink_free = calloc(n, sizeof(p2p_time));
    net->small_up_free = calloc(n, sizeof(p2p_time));
    net->down = calloc(n, sizeof(*net->down));
    net->loss_memo = calloc(SIM_NET_LOSS_MEMO, sizeof(*net->loss_memo));
    if (!net->loss_memo || !net->down || !net->links || !net->uplink_bps ||
        !net->downlink_bps || !net->uplink_free || !net->small_up_free) {
        sim_net_fini(net);
        return P2P_ERR_NOMEM;
    }
    for (size_t i = 0; i < n * n; i++)
        net->links[i] = (struct sim_link){s->net.latency_ns, s->net.jitter_ns,
                                          s->net.loss_ppm};
    for (size_t i = 0; i < n; i++)
        net->uplink_bps[i] = net->downlink_bps[i] = s->net.bandwidth_bps;
    for (size_t k = 0; k < s->net.links_count; k++) {
        const struct sim_link_override *o = &s->net.links[k];
        for (int dir = 0; dir < (o->both_directions ? 2 : 1); dir++) {
            uint32_t from = dir ? o->to : o->from, to = dir ? o->from : o->to;
            if (from >= nodes || to >= nodes)
                continue;
            struct sim_link *l = &net->links[(size_t)from * n + to];
            if (o->has_latency)
                l->latency_ns = o->latency_ns;
            if (o->has_jitter)
                l->jitter_ns = o->jitter_ns;
            if (o->has_loss)
                l->loss_ppm = o->loss_ppm;
            /* A link's bandwidth caps the sender's uplink in this model. */
            if (o->has_bandwidth && o->bandwidth_bps < net->uplink_bps[from])
                net->uplink_bps[from] = o->bandwidth_bps;
        }
    }
    p2p_rng_init(&net->rng, seed, 0x6e6574 /* "net" */);
    return 0;
}

void sim_net_fini(struct sim_net *net)
{
    free(net->links);
    free(net->uplink_bps);
    free(net->downlink_bps);
    free(net->uplink_free);
    free(net->small_up_free);
    free(net->down);
    free(net->loss_memo);
    memset(net, 0, sizeof(*net));
}

static p2p_time transfer_ns(uint64_t len, uint64_t bps)
{
    /* len * 8e9 fits in 64 bits for len up to ~2 GiB. */
    return bps ? (p2p_time)((len * 8 * P2P_NS_PER_S + bps - 1) / bps) : 0;
}

/* The chance, in ppm, that round k of loss recovery is needed for a
 * message of `packets` packets each lost with rate ppm: some packet was
 * lost k + 1 times, 1 - (1 - p^(k+1))^packets. */
static const uint32_t *loss_chances(struct sim_net *net, uint32_t ppm,
                                    uint64_t packets)
{
    uint64_t h =
        (ppm * 0x9e3779b97f4a7c15ULL) ^ (packets * 0xff51afd7ed558ccdULL);
    struct sim_loss_memo *m = &net->loss_memo[(h >> 32) % SIM_NET_LOSS_MEMO];
    if (m->ppm == ppm && m->packets == packets)
        return m->chance_ppm;
    for (uint32_t round = 0; round < SIM_NET_LOSS_ROUNDS_MAX; round++)
        m->chance_ppm[round] =
            sim_draws_lost_times_ppm(ppm, round + 1, packets);
    m->ppm = ppm;
    m->packets = packets;
    return m->chance_ppm;
}

/* Recovery time of a message whose packets are each lost with rate ppm.
 * Lost packets are resent in rounds, each costing one retransmission
 * timeout (two round trips); round k is needed when some packet was lost k
 * times, which for P packets happens with chance 1 - (1 - p^k)^P. */
static p2p_time loss_delay(struct sim_net *net, const struct sim_link *l,
                           uint64_t len)
{
    uint64_t ppm = l->loss_ppm + net->burst_loss_ppm;
    if (ppm == 0)
        return 0;
    if (ppm > 999999)
        ppm = 999999;
    uint64_t packets = (len + SIM_NET_PACKET_BYTES - 1) / SIM_NET_PACKET_BYTES;
    if (packets == 0)
        packets = 1;
    p2p_time rto = 4 * l->latency_ns;
    if (rto < P2P_NS_PER_MS)
        rto = P2P_NS_PER_MS;
    const uint32_t *chance = loss_chances(net, (uint32_t)ppm, packets);
    p2p_time delay = 0;
    for (int round = 0; round < SIM_NET_LOSS_ROUNDS_MAX; round++) {
        if (!p2p_rng_chance_ppm(&net->rng, chance[round]))
            break;
        delay += rto;
    }
    return delay;
}

static p2p_time later(p2p_time a, p2p_time b)
{
    return a > b ? a : b;
}

static p2p_time flight_ns(struct sim_net *net, const struct sim_link *l)
{
    int64_t flight = (int64_t)l->latency_ns;
    if (l->jitter_ns > 0)
        flight += (int64_t)p2p_rng_below(&net->rng, 2 * l->jitter_ns + 1) -
                  (int64_t)l->jitter_ns;
    return flight < 0 ? 0 : (p2p_time)flight;
}

/* Reserves `took` ns of the large class's downlink time (every message's
 * list) from `at` on; returns when they have passed, *start when they
 * began. */
static p2p_time reserve_all(struct sim_net_downlink *d, p2p_time at,
                            p2p_time took, p2p_time *start)
{
    p2p_time done = sim_busy_spans_fill(d->all, d->all_count, at, took, start);
    sim_busy_spans_add(d->all, &d->all_count, SIM_NET_DOWNLINK_SPANS_MAX,
                       *start, done);
    return done;
}

/* A small message: it queues behind small ones only, filling the small
 * class's idle time from its first byte on, and its transfer time comes
 * out of the large class's idle time from its start on. */
static p2p_time send_small(struct sim_net *net, const struct sim_link *l,
                           p2p_time now, uint32_t from, uint32_t to,
                           uint64_t len)
{
    p2p_time up = transfer_ns(len, net->uplink_bps[from]);
    p2p_time start = later(now, net->small_up_free[from]);
    p2p_time sent = start + up;
    net->small_up_free[from] = sent;
    if (net->uplink_free[from] > start)
        net->uplink_free[from] += up;
    p2p_time flight = flight_ns(net, l);
    p2p_time first_byte = start + flight;
    p2p_time down = transfer_ns(len, net->downlink_bps[to]);
    p2p_time done = first_byte;
    if (down > 0) {
        struct sim_net_downlink *d = &net->down[to];
        p2p_time took_from, ignored;
        done = sim_busy_spans_fill(d->small, d->small_count, first_byte, down,
                                   &took_from);
        sim_busy_spans_add(d->small, &d->small_count,
                           SIM_NET_DOWNLINK_SPANS_MAX, took_from, done);
        /* Equal lists: the same fill from took_from, the same add. */
        if (d->apart)
            reserve_all(d, took_from, down, &ignored);
    }
    return later(done, sent + flight) + loss_delay(net, l, len);
}

p2p_time sim_net_uplink_free(const struct sim_net *net, uint32_t node)
{
    return net->uplink_free[node];
}

void sim_net_uplink_span(const struct sim_net *net, uint32_t from, uint64_t len,
                         p2p_time *start, p2p_time *end)
{
    /* Each class's free time is where sim_net_send just ended it. */
    *end = len <= SIM_NET_SMALL_BYTES ? net->small_up_free[from]
                                      : net->uplink_free[from];
    p2p_time took = transfer_ns(len, net->uplink_bps[from]);
    *start = *end > took ? *end - took : 0;
}

p2p_time sim_net_downlink_ns(const struct sim_net *net, uint32_t node,
                             uint64_t len)
{
    return transfer_ns(len, net->downlink_bps[node]);
}

/* A large message: after the large ones before it on the uplink, in the
 * downlink's idle time (both classes') from its first byte on. */
static p2p_time send_large(struct sim_net *net, const struct sim_link *l,
                           p2p_time now, uint32_t from, uint32_t to,
                           uint64_t len)
{
    p2p_time start =
        now > net->uplink_free[from] ? now : net->uplink_free[from];
    p2p_time sent = start + transfer_ns(len, net->uplink_bps[from]);
    net->uplink_free[from] = sent;
    p2p_time flight = flight_ns(net, l);
    p2p_time first_byte = start + (p2p_time)flight;
    p2p_time last_byte = sent + (p2p_time)flight;
    p2p_time down = transfer_ns(len, net->downlink_bps[to]);
    p2p_time done = first_byte, ignored;
    struct sim_net_downlink *d = &net->down[to];
    if (down > 0 && !d->apart) {
        memcpy(d->all, d->small, d->small_count * sizeof(d->small[0]));
        d->all_count = d->small_count;
        d->apart = true;
    }
    if (down > 0)
        done = reserve_all(d, first_byte, down, &ignored);
    if (done < last_byte)
        done = last_byte;
    /* Recovery from loss delays this message, not the links: QUIC keeps
     * sending other streams' data while it resends lost packets. */
    return done + loss_delay(net, l, len);
}

static void downlink_invariants(const struct sim_net_downlink *d)
{
    sim_busy_spans_check(d->small, d->small_count, SIM_NET_DOWNLINK_SPANS_MAX);
    if (d->apart)
        sim_busy_spans_check(d->all, d->all_count, SIM_NET_DOWNLINK_SPANS_MAX);
}

/* Forgets what is over by now (every later reservation starts at or after
 * it); the lists are one again once the large class's time is over. */
static void downlink_prune(struct sim_net_downlink *d, p2p_time now)
{
    sim_busy_spans_prune(d->small, &d->small_count, now);
    if (!d->apart)
        return;
    sim_busy_spans_prune(d->all, &d->all_count, now);
    if (d->all_count == d->small_count &&
        memcmp(d->all, d->small, d->small_count * sizeof(d->small[0])) == 0)
        d->apart = false;
}

void sim_net_invariants(const struct sim_net *net)
{
    for (uint32_t i = 0; i < net->nodes; i++)
        downlink_invariants(&net->down[i]);
}

p2p_time sim_net_send(struct sim_net *net, p2p_time now, uint32_t from,
                      uint32_t to, uint64_t len)
{
    P2P_ASSERT(from < net->nodes && to < net->nodes);
    P2P_ASSERT(now >= net->last_send);
    net->last_send = now;
    struct sim_net_downlink *d = &net->down[to];
    downlink_prune(d, now);
    const struct sim_link *l = &net->links[(size_t)from * net->nodes + to];
    p2p_time at = len <= SIM_NET_SMALL_BYTES
                      ? send_small(net, l, now, from, to, len)
                      : send_large(net, l, now, from, to, len);
#ifdef P2P_DEBUG
    downlink_invariants(d);
#endif
    return at;
}
