#include "sim/pnet.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "sim/big_table.h"

typedef unsigned __int128 u128;

#define BITS_NS (8 * P2P_NS_PER_S) /* bits x ns per second */
#define STREAM 0x706e6574          /* "pnet" */

/* The header's memory figure. */
_Static_assert(sizeof(struct sim_pnet_path) == 32, "a link is 32 bytes");

/* The random values one datagram draws, all before any outcome. */
struct draws {
    uint64_t jitter;       /* in [0, 2 * jitter_ns] */
    bool lost;             /* link + extra loss */
    p2p_time reorder_ns;   /* 0: not held back */
    p2p_time duplicate_ns; /* 0: no second copy */
    bool corrupt[2];
    uint32_t bit[2];
};

static const char *const drop_names[SIM_PNET_DROP_COUNT] = {
    [SIM_PNET_DELIVERED] = "delivered",
    [SIM_PNET_DROP_MTU] = "mtu",
    [SIM_PNET_DROP_UPLINK_QUEUE] = "uplink_queue",
    [SIM_PNET_DROP_DOWNLINK_QUEUE] = "downlink_queue",
    [SIM_PNET_DROP_LOSS] = "loss",
    [SIM_PNET_DROP_BLACKHOLE] = "blackhole",
};

const char *sim_pnet_drop_name(enum sim_pnet_drop d)
{
    if ((unsigned)d >= SIM_PNET_DROP_COUNT)
        return "?";
    return drop_names[d];
}

void sim_pnet_params_default(struct sim_pnet_params *params)
{
    memset(params, 0, sizeof(*params));
    params->mtu_bytes = SIM_PNET_MTU_DEFAULT;
    params->queue_bytes = SIM_PNET_QUEUE_BYTES_DEFAULT;
}

static bool params_valid(const struct sim_pnet_params *pp)
{
    if (pp->mtu_bytes == 0 || pp->mtu_bytes > SIM_PNET_MTU_MAX)
        return false;
    if (pp->queue_bytes < pp->mtu_bytes ||
        pp->queue_bytes > SIM_PNET_QUEUE_BYTES_MAX)
        return false;
    if (pp->reorder_ppm > SIM_PNET_PPM || pp->duplicate_ppm > SIM_PNET_PPM ||
        pp->corrupt_ppm > SIM_PNET_PPM)
        return false;
    if (pp->reorder_ns > SIM_PNET_DELAY_NS_MAX)
        return false;
    return pp->reorder_ppm == 0 || pp->reorder_ns > 0;
}

int sim_pnet_init(struct sim_pnet *p, uint32_t nodes,
                  const struct sim_pnet_params *params, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    struct sim_pnet_params pp;
    if (params)
        pp = *params;
    else
        sim_pnet_params_default(&pp);
    if (nodes == 0 || nodes > SIM_PNET_NODES_MAX || !params_valid(&pp))
        return P2P_ERR_INVALID_ARG;
    size_t n = nodes;
    p->paths = sim_big_table_new(n * n, sizeof(*p->paths));
    p->node = calloc(n, sizeof(*p->node));
    if (!p->paths || !p->node) {
        sim_pnet_fini(p);
        return P2P_ERR_NOMEM;
    }
    p->nodes = nodes;
    p->params = pp;
    p2p_rng_init(&p->rng, seed, STREAM);
    return 0;
}

void sim_pnet_fini(struct sim_pnet *p)
{
    free(p->paths);
    free(p->node);
    memset(p, 0, sizeof(*p));
}

static void check_link(const struct sim_pnet_link *l)
{
    P2P_ASSERT(l->latency_ns <= SIM_PNET_DELAY_NS_MAX);
    P2P_ASSERT(l->jitter_ns <= SIM_PNET_DELAY_NS_MAX);
    P2P_ASSERT(l->loss_ppm <= SIM_PNET_PPM);
}

void sim_pnet_set_link(struct sim_pnet *p, uint32_t from, uint32_t to,
                       const struct sim_pnet_link *l)
{
    P2P_ASSERT(from < p->nodes && to < p->nodes);
    check_link(l);
    p->paths[(size_t)from * p->nodes + to].link = *l;
}

void sim_pnet_set_all_links(struct sim_pnet *p, const struct sim_pnet_link *l)
{
    check_link(l);
    size_t cells = (size_t)p->nodes * p->nodes;
    for (size_t i = 0; i < cells; i++)
        p->paths[i].link = *l;
}

void sim_pnet_set_bandwidth(struct sim_pnet *p, uint32_t node,
                            uint64_t uplink_bps, uint64_t downlink_bps)
{
    P2P_ASSERT(node < p->nodes);
    p->node[node].uplink_bps = uplink_bps;
    p->node[node].downlink_bps = downlink_bps;
}

void sim_pnet_set_extra_loss(struct sim_pnet *p, uint32_t ppm)
{
    P2P_ASSERT(ppm <= SIM_PNET_PPM);
    p->extra_loss_ppm = ppm;
}

void sim_pnet_set_blackhole(struct sim_pnet *p, uint32_t node, bool on)
{
    P2P_ASSERT(node < p->nodes);
    p->node[node].blackhole = on;
}

p2p_time sim_pnet_uplink_free(const struct sim_pnet *p, uint32_t node)
{
    P2P_ASSERT(node < p->nodes);
    return p->node[node].uplink_free;
}

/* len bytes at bps, in ns rounded up; 0 at an infinite bandwidth. */
static p2p_time transfer_ns(size_t len, uint64_t bps)
{
    if (bps == 0)
        return 0;
    return (p2p_time)(((u128)len * BITS_NS + bps - 1) / bps);
}

/* The bytes a link at bps that is busy until `free` still holds at `at`,
 * rounded down. */
static uint64_t queued_bytes(p2p_time free, p2p_time at, uint64_t bps)
{
    if (bps == 0 || free <= at)
        return 0;
    u128 bytes = (u128)(free - at) * bps / BITS_NS;
    return bytes > UINT64_MAX ? UINT64_MAX : (uint64_t)bytes;
}

/* Whether len more bytes overflow a queue holding `queued`. */
static bool overflows(const struct sim_pnet *p, uint64_t queued, size_t len)
{
    /* len <= mtu_bytes <= queue_bytes: no wrap. */
    return queued > p->params.queue_bytes - len;
}

bool sim_pnet_uplink_takes(const struct sim_pnet *p, p2p_time now,
                           uint32_t node, size_t len, p2p_time *room_at)
{
    P2P_ASSERT(node < p->nodes);
    const struct sim_pnet_node *up = &p->node[node];
    if (len > p->params.mtu_bytes ||
        !overflows(p, queued_bytes(up->uplink_free, now, up->uplink_bps), len))
        return true;
    /* Room for len once the queue holds queue_bytes - len: that many
     * bytes before the uplink is free. */
    uint64_t keep = p->params.queue_bytes - len;
    p2p_time at = up->uplink_free - transfer_ns(keep, up->uplink_bps);
    *room_at = at > now ? at : now + 1;
    return false;
}

static bool chance(struct p2p_rng *rng, uint32_t ppm)
{
    return p2p_rng_below(rng, SIM_PNET_PPM) < ppm;
}

/* Every value the datagram needs, in the order the header states. */
static void draw(struct sim_pnet *p, const struct sim_pnet_link *l, size_t len,
                 struct draws *d)
{
    const struct sim_pnet_params *pp = &p->params;
    struct p2p_rng *rng = &p->rng;
    memset(d, 0, sizeof(*d));
    if (l->jitter_ns > 0)
        d->jitter = p2p_rng_below(rng, 2 * l->jitter_ns + 1);
    uint32_t loss = l->loss_ppm + p->extra_loss_ppm;
    if (loss > 0)
        d->lost = chance(rng, loss);
    if (pp->reorder_ppm > 0) {
        bool held = chance(rng, pp->reorder_ppm);
        p2p_time extra = 1 + p2p_rng_below(rng, pp->reorder_ns);
        d->reorder_ns = held ? extra : 0;
    }
    if (pp->duplicate_ppm > 0) {
        p2p_time bound =
            pp->reorder_ns ? pp->reorder_ns : SIM_PNET_DUPLICATE_NS_DEFAULT;
        bool twice = chance(rng, pp->duplicate_ppm);
        p2p_time later = 1 + p2p_rng_below(rng, bound);
        d->duplicate_ns = twice ? later : 0;
    }
    if (pp->corrupt_ppm > 0) {
        for (int c = 0; c < 2; c++) {
            bool flip = chance(rng, pp->corrupt_ppm);
            uint32_t bit =
                len ? (uint32_t)p2p_rng_below(rng, (uint64_t)len * 8) : 0;
            d->corrupt[c] = flip && len > 0;
            d->bit[c] = d->corrupt[c] ? bit : 0;
        }
    }
}

/* The link time: latency +- jitter, never below 0. */
static p2p_time flight_ns(const struct sim_pnet_link *l, uint64_t jitter)
{
    /* jitter in [0, 2 * jitter_ns] stands for jitter - jitter_ns. */
    if (l->latency_ns + jitter < l->jitter_ns)
        return 0;
    return l->latency_ns + jitter - l->jitter_ns;
}

/* Reserves `to`'s downlink for a copy of len bytes, sent at `now`,
 * reaching it from the link at `at` (the header's step 6). False: dropped
 * at the queue, and nothing reserved; else *done is when its last byte
 * has left. */
static bool downlink_reserve(const struct sim_pnet *p, struct sim_pnet_node *n,
                             p2p_time now, p2p_time at, size_t len,
                             p2p_time *done)
{
    uint64_t bps = n->downlink_bps;
    sim_busy_spans_prune(n->spans, &n->spans_count, now);
    uint64_t queued = queued_bytes(
        sim_busy_spans_until(n->spans, n->spans_count, at), at, bps);
    if (overflows(p, queued, len))
        return false;
    p2p_time took = transfer_ns(len, bps), start;
    if (took == 0) {
        *done = at;
        return true;
    }
    *done = sim_busy_spans_fill(n->spans, n->spans_count, at, took, &start);
    sim_busy_spans_add(n->spans, &n->spans_count, SIM_PNET_DOWNLINK_SPANS_MAX,
                       start, *done);
    return true;
}

static void count_drop(struct sim_pnet *p, enum sim_pnet_drop why, size_t len)
{
    p->counters.dropped[why]++;
    p->counters.dropped_bytes[why] += len;
}

/* Steps 2 and 3 of the header: SIM_PNET_DELIVERED when the datagram
 * crosses the link, with *arrive its arrival from it (reordering
 * included); else why it was dropped. */
static enum sim_pnet_drop uplink_and_link(struct sim_pnet *p, p2p_time now,
                                          uint32_t from, uint32_t to,
                                          size_t len, const struct draws *d,
                                          p2p_time *arrive)
{
    struct sim_pnet_node *up = &p->node[from];
    if (overflows(p, queued_bytes(up->uplink_free, now, up->uplink_bps), len))
        return SIM_PNET_DROP_UPLINK_QUEUE;
    p2p_time start = now > up->uplink_free ? now : up->uplink_free;
    p2p_time sent = start + transfer_ns(len, up->uplink_bps);
    up->uplink_free = sent;
    if (p->node[to].blackhole)
        return SIM_PNET_DROP_BLACKHOLE;
    if (d->lost)
        return SIM_PNET_DROP_LOSS;
    struct sim_pnet_path *path = &p->paths[(size_t)from * p->nodes + to];
    p2p_time at = sent + flight_ns(&path->link, d->jitter);
    if (at < path->last_ns)
        at = path->last_ns; /* a FIFO path: no overtaking */
    path->last_ns = at;
    if (d->reorder_ns)
        p->counters.reordered++;
    *arrive = at + d->reorder_ns;
    return SIM_PNET_DELIVERED;
}

/* One node's invariants: its downlink's busy spans are bounded, each
 * non-empty, in order, and apart. */
static void node_invariants(const struct sim_pnet_node *n)
{
    sim_busy_spans_check(n->spans, n->spans_count, SIM_PNET_DOWNLINK_SPANS_MAX);
}

static void counters_invariants(const struct sim_pnet_counters *c)
{
    uint64_t dropped = 0;
    for (int i = 0; i < SIM_PNET_DROP_COUNT; i++)
        dropped += c->dropped[i];
    P2P_ASSERT(c->dropped[SIM_PNET_DELIVERED] == 0);
    P2P_ASSERT(c->sent + c->duplicated == c->delivered + dropped);
    P2P_ASSERT(c->corrupted <= c->delivered);
    P2P_ASSERT(c->delivered_bytes <= c->sent_bytes * 2);
}

/* sim_pnet_send but for its checks. */
static size_t send_datagram(struct sim_pnet *p, p2p_time now, uint32_t from,
                            uint32_t to, size_t len,
                            struct sim_pnet_arrival out[2],
                            enum sim_pnet_drop *why)
{
    p->counters.sent++;
    p->counters.sent_bytes += len;
    *why = SIM_PNET_DROP_MTU;
    if (len > p->params.mtu_bytes) {
        count_drop(p, *why, len);
        return 0;
    }
    const struct sim_pnet_link *l =
        &p->paths[(size_t)from * p->nodes + to].link;
    struct draws d;
    draw(p, l, len, &d);
    p2p_time arrive = 0;
    *why = uplink_and_link(p, now, from, to, len, &d, &arrive);
    if (*why != SIM_PNET_DELIVERED) {
        count_drop(p, *why, len);
        return 0;
    }
    int copies = 1;
    if (d.duplicate_ns) {
        copies = 2;
        p->counters.duplicated++;
    }
    size_t n = 0;
    for (int c = 0; c < copies; c++) {
        p2p_time at = arrive + (c ? d.duplicate_ns : 0), done;
        if (!downlink_reserve(p, &p->node[to], now, at, len, &done)) {
            count_drop(p, SIM_PNET_DROP_DOWNLINK_QUEUE, len);
            continue;
        }
        out[n++] = (struct sim_pnet_arrival){done, d.corrupt[c], d.bit[c]};
        p->counters.delivered++;
        p->counters.delivered_bytes += len;
        p->counters.corrupted += d.corrupt[c];
    }
    *why = n ? SIM_PNET_DELIVERED : SIM_PNET_DROP_DOWNLINK_QUEUE;
    return n;
}

size_t sim_pnet_send(struct sim_pnet *p, p2p_time now, uint32_t from,
                     uint32_t to, size_t len, struct sim_pnet_arrival out[2],
                     enum sim_pnet_drop *why)
{
    P2P_ASSERT(from < p->nodes && to < p->nodes);
    size_t n = send_datagram(p, now, from, to, len, out, why);
    P2P_ASSERT(n <= 2 && (n > 0) == (*why == SIM_PNET_DELIVERED));
    P2P_ASSERT(n < 2 || out[0].at <= out[1].at);
#ifdef P2P_DEBUG
    node_invariants(&p->node[from]);
    node_invariants(&p->node[to]);
    counters_invariants(&p->counters);
#endif
    return n;
}

void sim_pnet_invariants(const struct sim_pnet *p)
{
    P2P_ASSERT(p->nodes >= 1 && p->nodes <= SIM_PNET_NODES_MAX);
    P2P_ASSERT(p->extra_loss_ppm <= SIM_PNET_PPM);
    for (uint32_t i = 0; i < p->nodes; i++)
        node_invariants(&p->node[i]);
    counters_invariants(&p->counters);
}
