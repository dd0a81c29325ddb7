/* Swarm scenario generator: seed -> scenario YAML (sim/swarm_gen.h).
 *
 * Decisions first (subnet, network, workload, protocol, fault steps while
 * tracking every node's state so that each fault is legal when it fires,
 * then state sync from its own PRNG stream), then the text. Times are
 * whole milliseconds. */
#include "sim/swarm_gen.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/units.h"
#include "core/assert.h"
#include "core/err.h"
#include "core/rng.h"
#include "sim/scenario.h"

#define IDS_MAX (SIM_SWARM_NODES_MAX + SIM_SWARM_JOIN_IDS_MAX)
/* Steps, then at most one heal and one restart per id to close them, then
 * at most one registry_earliest per step and a last one, then the quic
 * model's own. */
#define FAULTS_MAX                                                             \
    (2 * SIM_SWARM_STEPS_MAX + 2 + IDS_MAX + SIM_SWARM_QUIC_FAULTS_MAX)
#define BYZ_BEHAVIOURS 7 /* the menu without bad-chunks (gen_state's) */
#define SCALE_ROUNDS_MAX 24

enum node_state { NODE_NEW, NODE_RUNNING, NODE_CRASHED };

struct gen_node {
    uint8_t state; /* enum node_state */
    bool member;
    bool byzantine;
    bool restart_owed; /* crashed, and a restart is to come */
    bool ever_crashed, ever_left;
    bool late_start;        /* a join or a restart named it */
    uint64_t live_since_ms; /* its latest join or restart */
    enum sim_byzantine behaviour;
};

struct gen_fault {
    enum sim_fault_kind kind;
    uint64_t at_ms;
    uint32_t nodes[IDS_MAX]; /* crash ... skew */
    size_t nodes_count;
    uint8_t group_of[IDS_MAX]; /* partition: 1-based group, 0 = implicit */
    size_t groups_count;
    enum sim_byzantine behaviour;
    int64_t offset_ms, drift_ppm; /* skew */
    uint32_t loss_pct;            /* loss */
    uint64_t for_ms;              /* loss, blackhole */
};

enum from_kind { FROM_ROUND_ROBIN, FROM_ANY, FROM_NODE };

struct gen_item {
    bool push;         /* kind push, else advert */
    bool poisson;      /* 'rate: N/m', else 'every' */
    uint64_t every_ms; /* when !poisson */
    uint64_t per_min;  /* when poisson */
    uint64_t size, size_max;
    enum from_kind from;
    uint32_t from_node;
    uint64_t start_ms, stop_ms;
};

struct gen_link {
    uint32_t from, to;
    bool both;
    uint64_t latency_ms; /* 0: not overridden */
    uint32_t loss_ppm;   /* 0: not overridden */
    uint64_t bw_mbit;    /* 0: not overridden */
};

static const char *const profile_names[] = {"lan", "wan", "lossy", "slow",
                                            "thin"};
enum { PROFILE_THIN = 4, PROFILES_COUNT = 5 };

struct gen {
    struct p2p_rng rng;
    uint64_t seed;
    uint32_t nodes, ids; /* ids: nodes + join ids it may use */
    uint64_t duration_ms, faults_end_ms;
    unsigned profile;
    uint64_t latency_us, jitter_us, bw_mbit;
    uint32_t loss_ppm;
    struct gen_link links[SIM_SWARM_LINKS_MAX];
    size_t links_count;
    struct gen_item items[SIM_SWARM_ITEMS_MAX];
    size_t items_count;
    bool has_push_threshold, has_delay, has_ttl, has_relay, relay_advert;
    bool buggify; /* protocol.buggify: true */
    uint64_t push_threshold, delay_ms, ttl_s;
    struct gen_node node[IDS_MAX];
    struct gen_fault faults[FAULTS_MAX];
    size_t faults_count;
    bool partitioned;
    uint32_t byz_count, byz_max;
    /* State sync, all drawn from srng (see sim/swarm_gen.h). */
    struct p2p_rng srng;
    bool has_state;
    uint64_t state_size, state_chunk, state_every_ms;
    uint32_t state_churn_ppm;
    uint32_t synced[IDS_MAX]; /* state_synced: [...] */
    size_t synced_count;      /* 0: no such expectation */
    uint64_t synced_within_ms;
    /* The quic model's extras, all drawn from their own stream. */
    enum sim_net_model model;
    uint32_t reorder_ppm, duplicate_ppm, corrupt_ppm; /* network.packet */
    uint64_t reorder_delay_ms;                        /* 0: the default */
};

/* ---- random helpers -------------------------------------------------- */

static uint64_t below(struct gen *g, uint64_t bound)
{
    return p2p_rng_below(&g->rng, bound);
}

/* Uniform in [lo, hi]. */
static uint64_t range(struct gen *g, uint64_t lo, uint64_t hi)
{
    P2P_ASSERT(lo <= hi);
    return lo + below(g, hi - lo + 1);
}

static bool one_in(struct gen *g, uint64_t n)
{
    return below(g, n) == 0;
}

/* ---- subnet, network, workload, protocol ----------------------------- */

static void gen_network(struct gen *g)
{
    static const uint64_t wan_bw[] = {100, 200, 500, 1000};
    static const uint64_t slow_bw[] = {50, 100, 200};
    g->profile = (unsigned)below(g, PROFILES_COUNT);
    switch (g->profile) {
    case 0: /* lan */
        g->latency_us = range(g, 1, 5) * 1000;
        g->jitter_us = below(g, 1001);
        g->bw_mbit = one_in(g, 2) ? 1000 : 10000;
        break;
    case 1: /* wan */
        g->latency_us = range(g, 20, 100) * 1000;
        g->jitter_us = below(g, g->latency_us / 5 + 1) / 1000 * 1000;
        g->bw_mbit = wan_bw[below(g, 4)];
        g->loss_ppm = (uint32_t)below(g, 11) * 1000; /* 0..1 % */
        break;
    case 2: /* lossy */
        g->latency_us = range(g, 20, 60) * 1000;
        g->jitter_us = range(g, 2, 10) * 1000;
        g->bw_mbit = 1000;
        g->loss_ppm = (uint32_t)range(g, 10, 50) * 1000; /* 1..5 % */
        break;
    case 3: /* slow */
        g->latency_us = range(g, 100, 250) * 1000;
        g->jitter_us = range(g, 10, 30) * 1000;
        g->bw_mbit = slow_bw[below(g, 3)];
        g->loss_ppm = (uint32_t)below(g, 6) * 1000; /* 0..0.5 % */
        break;
    default: /* thin: 10 or 20 Mbit, with multi-MiB adverts (gen_item) */
        g->latency_us = range(g, 20, 60) * 1000;
        g->jitter_us = below(g, g->latency_us / 3 + 1) / 1000 * 1000;
        g->bw_mbit = one_in(g, 2) ? 10 : 20;
        g->loss_ppm = (uint32_t)below(g, 11) * 1000; /* 0..1 % */
        break;
    }
    if (!one_in(g, 3))
        return;
    /* A few slower, lossier or thinner links, each on its own pair. */
    size_t want = (size_t)range(g, 1, SIM_SWARM_LINKS_MAX);
    for (size_t tries = 0; g->links_count < want && tries < 32; tries++) {
        uint32_t a = (uint32_t)below(g, g->nodes);
        uint32_t b = (uint32_t)below(g, g->nodes);
        bool clash = a == b;
        for (size_t i = 0; i < g->links_count && !clash; i++)
            clash = (g->links[i].from == a && g->links[i].to == b) ||
                    (g->links[i].from == b && g->links[i].to == a);
        if (clash)
            continue;
        struct gen_link *l = &g->links[g->links_count++];
        memset(l, 0, sizeof *l);
        l->from = a;
        l->to = b;
        l->both = one_in(g, 2);
        switch (below(g, 3)) {
        case 0:
            l->latency_ms = (g->latency_us / 1000) * range(g, 2, 4) + 1;
            break;
        case 1:
            l->loss_ppm = (uint32_t)range(g, 1, 5) * 10000;
            break;
        default: /* a thinner uplink: at least a quarter, and 50 Mbit */
            l->bw_mbit = g->bw_mbit / 4 < 50 ? 50 : g->bw_mbit / 4;
            if (l->bw_mbit > g->bw_mbit)
                l->bw_mbit = g->bw_mbit;
            break;
        }
    }
}

/* The thinnest uplink any node may have. */
static uint64_t bw_min_mbit(const struct gen *g)
{
    uint64_t bw = g->bw_mbit;
    for (size_t i = 0; i < g->links_count; i++)
        if (g->links[i].bw_mbit != 0 && g->links[i].bw_mbit < bw)
            bw = g->links[i].bw_mbit;
    return bw;
}

/* Thin links: large adverts of at least this size (halved rates keep
 * them, see fit_workload), at most what the creator's uplink serves to
 * every other id, one answer at a time, in THIN_SERVE_S. On the quic
 * model the replica's transport shares the creator's uplink among all
 * its fetchers instead of answering one at a time, so no fetch ends
 * early and relays later; every fetch's deadline then runs against
 * the whole batch: half the time (swarm seed 100,152 on the quic model:
 * 1.8 MiB adverts to 11 peers at 10 Mbit, 9 deliveries past 40 s). */
#define THIN_ADVERT_MIN (1ULL << 20)
#define THIN_SERVE_S 16u
#define THIN_SERVE_QUIC_S 8u

static void fit_thin_advert(const struct gen *g, struct gen_item *it)
{
    uint64_t serve_s =
        g->model == SIM_MODEL_QUIC ? THIN_SERVE_QUIC_S : THIN_SERVE_S;
    uint64_t bytes = bw_min_mbit(g) * 1000000 / 8 * serve_s;
    /* On the quic model the largest size shrinks down to the smallest too
     * (the message model's seeds stay as they were). */
    bool quic = g->model == SIM_MODEL_QUIC;
    while ((it->size > THIN_ADVERT_MIN || (quic && it->size_max > it->size)) &&
           (g->ids - 1) * it->size_max > bytes) {
        it->size /= 2;
        it->size_max =
            it->size_max / 2 < it->size ? it->size : it->size_max / 2;
    }
}

/* An item of kind `type`: 0 small pushes, 1 small adverts (the bulk),
 * 2 large adverts. */
static void gen_item(struct gen *g, struct gen_item *it, unsigned type)
{
    memset(it, 0, sizeof *it);
    switch (type) {
    case 0: /* small pushes */
        it->push = true;
        it->poisson = one_in(g, 2);
        it->every_ms = range(g, 1, 10) * 100;
        it->per_min = range(g, 1, 20) * 60;
        it->size = range(g, 16, 2048);
        break;
    case 1: /* small adverts, the bulk */
        it->poisson = !one_in(g, 4);
        it->every_ms = range(g, 20, 500);
        it->per_min = range(g, 2, 50) * 60;
        it->size = range(g, 64, 8192);
        break;
    default: { /* large adverts, fetched */
        it->poisson = one_in(g, 3);
        it->every_ms = range(g, 1, 10) * 1000;
        it->per_min = range(g, 6, 60);
        unsigned shift = (unsigned)below(g, bw_min_mbit(g) >= 1000 ? 8 : 7);
        it->size = (16ULL << 10) << shift; /* 16 KiB .. 1 or 2 MiB */
        if (g->profile == PROFILE_THIN)
            it->size = THIN_ADVERT_MIN << below(g, 4); /* 1 .. 8 MiB */
        break;
    }
    }
    it->size_max = one_in(g, 3) ? it->size + below(g, it->size + 1) : it->size;
    if (type == 2 && g->profile == PROFILE_THIN)
        fit_thin_advert(g, it);
    /* Streams of small artifacts (the first item is one) come from many
     * nodes, so that a crash or a byzantine turn does not silence them. */
    switch (below(g, type < 2 ? 3 : 4)) {
    case 0:
    case 1:
        it->from = FROM_ROUND_ROBIN;
        break;
    case 2:
        it->from = FROM_ANY;
        break;
    default:
        it->from = FROM_NODE;
        it->from_node = (uint32_t)below(g, g->nodes);
        break;
    }
    it->stop_ms = g->duration_ms;
    if (one_in(g, 5)) {
        uint64_t third = g->duration_ms / 3 / 100 + 1; /* in 100 ms steps */
        it->start_ms = below(g, third) * 100;
        it->stop_ms = g->duration_ms - below(g, third) * 100;
    }
}

/* Mean gap between an item's artifacts, in microseconds. */
static uint64_t gap_us(const struct gen_item *it)
{
    return it->poisson ? 60ULL * 1000000 / it->per_min : it->every_ms * 1000;
}

/* What one item costs: its artifacts over the run, their bodies, and the
 * bytes per second it brings into each node. */
struct load {
    uint64_t artifacts;
    uint64_t pool_bytes;
    uint64_t down_bps;
};

static struct load item_load(const struct gen *g, const struct gen_item *it)
{
    struct load l;
    uint64_t gap = gap_us(it);
    uint64_t avg = (it->size + it->size_max) / 2;
    uint64_t threshold = g->has_push_threshold ? g->push_threshold : 1024;
    bool pushed = it->push || it->size_max < threshold;
    /* A pushed body reaches each node once from every validator (the IC's
     * relay), unless relayers advertise instead. */
    uint64_t copies =
        pushed && !(g->has_relay && g->relay_advert) ? g->nodes - 1 : 1;
    l.artifacts = (it->stop_ms - it->start_ms) * 1000 / gap + 1;
    l.pool_bytes = l.artifacts * avg;
    l.down_bps = avg * copies * 1000000 / gap;
    return l;
}

/* Scales the item that costs most until the run fits its budgets:
 * artifacts (the simulator's work), pool bytes, and a fifth of the
 * thinnest link for each node's downlink. Rates are halved first, then
 * sizes. */
static void fit_workload(struct gen *g)
{
    uint64_t budget = SIM_SWARM_ARTIFACT_WORK / ((uint64_t)g->nodes * g->nodes);
    if (budget < SIM_SWARM_ARTIFACTS_MIN)
        budget = SIM_SWARM_ARTIFACTS_MIN;
    if (budget > SIM_SWARM_ARTIFACTS_MAX)
        budget = SIM_SWARM_ARTIFACTS_MAX;
    /* Thin links carry multi-MiB adverts: a third of the link. */
    uint64_t down_max =
        bw_min_mbit(g) * 1000000 / 8 / (g->profile == PROFILE_THIN ? 3 : 5);
    for (unsigned round = 0; round < SCALE_ROUNDS_MAX * SIM_SWARM_ITEMS_MAX;
         round++) {
        struct load sum = {0, 0, 0}, l[SIM_SWARM_ITEMS_MAX];
        for (size_t i = 0; i < g->items_count; i++) {
            l[i] = item_load(g, &g->items[i]);
            sum.artifacts += l[i].artifacts;
            sum.pool_bytes += l[i].pool_bytes;
            sum.down_bps += l[i].down_bps;
        }
        size_t worst = 0;
        for (size_t i = 1; i < g->items_count; i++) {
            bool more = sum.artifacts > budget
                            ? l[i].artifacts > l[worst].artifacts
                        : sum.pool_bytes > SIM_SWARM_POOL_BYTES_MAX
                            ? l[i].pool_bytes > l[worst].pool_bytes
                            : l[i].down_bps > l[worst].down_bps;
            if (more)
                worst = i;
        }
        if (sum.artifacts <= budget &&
            sum.pool_bytes <= SIM_SWARM_POOL_BYTES_MAX &&
            sum.down_bps <= down_max)
            return;
        struct gen_item *it = &g->items[worst];
        if (it->poisson && it->per_min > 1)
            it->per_min /= 2;
        else if (!it->poisson && it->every_ms < g->duration_ms)
            it->every_ms *= 2;
        else if (it->size > 2 * SIM_SCENARIO_ARTIFACT_BYTES_MIN &&
                 !(g->profile == PROFILE_THIN && it->size <= THIN_ADVERT_MIN &&
                   it->size_max >= THIN_ADVERT_MIN)) {
            it->size /= 2;
            it->size_max =
                it->size_max / 2 < it->size ? it->size : it->size_max / 2;
        } else {
            return; /* as light as it gets */
        }
    }
}

/* Thin links: the fetch protocol moves whole artifacts, and every node
 * asks the creator first, so each multi-MiB item's creators must be able
 * to serve every other id in turn: at most half their uplink on average
 * (one creator for `from: N`, all nodes sharing otherwise). */
static void fit_thin_creators(struct gen *g)
{
    if (g->profile != PROFILE_THIN)
        return;
    uint64_t half = bw_min_mbit(g) * 1000000 / 8 / 2;
    for (size_t i = 0; i < g->items_count; i++) {
        struct gen_item *it = &g->items[i];
        if (it->push || it->size_max < THIN_ADVERT_MIN)
            continue;
        uint64_t creators = it->from == FROM_NODE ? 1 : g->nodes;
        for (unsigned round = 0; round < SCALE_ROUNDS_MAX; round++) {
            uint64_t avg = (it->size + it->size_max) / 2;
            uint64_t up = (g->ids - 1) * avg * 1000000 / gap_us(it) / creators;
            if (up <= half)
                break;
            if (it->poisson && it->per_min > 1)
                it->per_min /= 2;
            else if (!it->poisson && it->every_ms < g->duration_ms)
                it->every_ms *= 2;
            else
                break;
        }
    }
}

static void gen_protocol(struct gen *g)
{
    static const uint64_t thresholds[] = {0, 256, 1024, 4096, 16384};
    g->has_push_threshold = one_in(g, 2);
    g->push_threshold = thresholds[below(g, 5)];
    g->has_delay = one_in(g, 2);
    g->delay_ms = one_in(g, 4)    ? 0
                  : one_in(g, 10) ? range(g, 200, 1000)
                                  : range(g, 1, 200);
    g->has_ttl = one_in(g, 2);
    /* Mostly longer than the liveness bound, so that nothing is purged
     * before it is owed; sometimes short, which tests purging. */
    g->ttl_s = one_in(g, 3) ? range(g, 3, 44) : range(g, 45, 120);
    g->has_relay = one_in(g, 2);
    g->relay_advert = one_in(g, 2);
    /* Core's BUGGIFY fault points, where compiled in (sim builds by
     * default): the draw is made either way, so that the rest of the
     * scenario does not depend on the build. */
    g->buggify = one_in(g, 2);
#ifndef P2P_BUGGIFY
    g->buggify = false;
#endif
}

/* ---- the fault timeline ---------------------------------------------- */

static bool live_honest(const struct gen_node *n)
{
    return n->state == NODE_RUNNING && n->member && !n->byzantine;
}

static uint32_t live_honest_count(const struct gen *g)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < g->ids; i++)
        c += live_honest(&g->node[i]);
    return c;
}

/* Whether taking node i out of the live honest set keeps enough. */
static bool can_lose(const struct gen *g, uint32_t i)
{
    return !live_honest(&g->node[i]) ||
           live_honest_count(g) > SIM_SWARM_HONEST_LIVE_MIN;
}

enum step {
    STEP_PARTITION,
    STEP_HEAL,
    STEP_CRASH,
    STEP_RESTART,
    STEP_LEAVE,
    STEP_JOIN,
    STEP_BYZANTINE,
    STEP_SKEW,
    STEP_LOSS,
    STEPS_COUNT
};

/* Node ids for which ok(g, i) holds; returns how many. */
static uint32_t candidates(const struct gen *g,
                           bool (*ok)(const struct gen *, uint32_t),
                           uint32_t *out)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < g->ids; i++)
        if (ok(g, i))
            out[c++] = i;
    return c;
}

static bool can_crash(const struct gen *g, uint32_t i)
{
    return g->node[i].state == NODE_RUNNING && can_lose(g, i);
}

static bool can_restart(const struct gen *g, uint32_t i)
{
    return g->node[i].state == NODE_CRASHED && g->node[i].restart_owed;
}

static bool can_leave(const struct gen *g, uint32_t i)
{
    return g->node[i].member && can_lose(g, i);
}

static bool can_join(const struct gen *g, uint32_t i)
{
    return !g->node[i].member;
}

static bool can_turn(const struct gen *g, uint32_t i)
{
    return g->byz_count < g->byz_max && g->node[i].state != NODE_NEW &&
           !g->node[i].byzantine && can_lose(g, i);
}

static bool started(const struct gen *g, uint32_t i)
{
    return g->node[i].state != NODE_NEW;
}

static bool applicable(const struct gen *g, enum step s, uint64_t t_ms)
{
    uint32_t ids[IDS_MAX];
    switch (s) {
    case STEP_PARTITION:
        return candidates(g, started, ids) >= 2;
    case STEP_HEAL:
        return g->partitioned;
    case STEP_CRASH:
        return candidates(g, can_crash, ids) > 0;
    case STEP_RESTART:
        return candidates(g, can_restart, ids) > 0;
    case STEP_LEAVE:
        return candidates(g, can_leave, ids) > 0;
    case STEP_JOIN:
        return candidates(g, can_join, ids) > 0;
    case STEP_BYZANTINE:
        return candidates(g, can_turn, ids) > 0;
    case STEP_SKEW:
        return true;
    case STEP_LOSS:
        return g->faults_end_ms >= t_ms + 500;
    default:
        return false;
    }
}

static struct gen_fault *new_fault(struct gen *g, enum sim_fault_kind kind,
                                   uint64_t at_ms)
{
    P2P_ASSERT(g->faults_count < FAULTS_MAX);
    P2P_ASSERT(at_ms <= g->faults_end_ms);
    struct gen_fault *f = &g->faults[g->faults_count++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->at_ms = at_ms;
    return f;
}

static void shuffle(struct gen *g, uint32_t *v, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)below(g, i);
        uint32_t x = v[i - 1];
        v[i - 1] = v[j];
        v[j] = x;
    }
}

static void step_partition(struct gen *g, uint64_t t)
{
    uint32_t ids[IDS_MAX];
    uint32_t n = candidates(g, started, ids);
    struct gen_fault *f = new_fault(g, SIM_FAULT_PARTITION, t);
    shuffle(g, ids, n);
    if (one_in(g, 3)) {
        f->groups_count = 1; /* isolate one node; the rest is implicit */
        f->group_of[ids[0]] = 1;
    } else if (n >= 3 && one_in(g, 3)) {
        uint32_t a = (uint32_t)range(g, 1, n - 2);
        uint32_t b = (uint32_t)range(g, a + 1, n - 1);
        f->groups_count = 3;
        for (uint32_t k = 0; k < n; k++)
            f->group_of[ids[k]] = k < a ? 1 : k < b ? 2 : 3;
    } else {
        uint32_t a = (uint32_t)range(g, 1, n - 1);
        f->groups_count = 2;
        for (uint32_t k = 0; k < n; k++)
            f->group_of[ids[k]] = k < a ? 1 : 2;
    }
    g->partitioned = true;
}

static void step_crash(struct gen *g, uint64_t t)
{
    uint32_t ids[IDS_MAX];
    struct gen_fault *f = new_fault(g, SIM_FAULT_CRASH, t);
    bool permanent = one_in(g, 5);
    size_t want = one_in(g, 4) ? 2 : 1;
    while (f->nodes_count < want) {
        uint32_t c = candidates(g, can_crash, ids);
        if (c == 0)
            break;
        uint32_t v = ids[below(g, c)];
        f->nodes[f->nodes_count++] = v;
        g->node[v].state = NODE_CRASHED;
        g->node[v].restart_owed = !permanent;
        g->node[v].ever_crashed = true;
    }
}

static void step_restart(struct gen *g, uint64_t t)
{
    uint32_t ids[IDS_MAX];
    uint32_t c = candidates(g, can_restart, ids);
    struct gen_fault *f = new_fault(g, SIM_FAULT_RESTART, t);
    bool all = one_in(g, 2);
    for (uint32_t k = 0; k < c; k++) {
        if (!all && k > 0)
            break;
        uint32_t v = all ? ids[k] : ids[below(g, c)];
        f->nodes[f->nodes_count++] = v;
        g->node[v].state = NODE_RUNNING;
        g->node[v].restart_owed = false;
        g->node[v].late_start = true;
        g->node[v].live_since_ms = t;
    }
}

static void step_leave(struct gen *g, uint64_t t)
{
    uint32_t ids[IDS_MAX];
    uint32_t c = candidates(g, can_leave, ids);
    uint32_t v = ids[below(g, c)];
    struct gen_fault *f = new_fault(g, SIM_FAULT_LEAVE, t);
    f->nodes[f->nodes_count++] = v;
    g->node[v].member = false;
    g->node[v].ever_left = true;
}

static void step_join(struct gen *g, uint64_t t)
{
    uint32_t ids[IDS_MAX];
    uint32_t c = candidates(g, can_join, ids);
    uint32_t v = ids[below(g, c)];
    struct gen_fault *f = new_fault(g, SIM_FAULT_JOIN, t);
    f->nodes[f->nodes_count++] = v;
    g->node[v].member = true;
    g->node[v].late_start = true;
    g->node[v].live_since_ms = t; /* also for a member again (simulator) */
    if (g->node[v].state == NODE_NEW)
        g->node[v].state = NODE_RUNNING;
}

static void step_byzantine(struct gen *g, uint64_t t)
{
    static const enum sim_byzantine menu[BYZ_BEHAVIOURS] = {
        SIM_BYZ_SILENT,      SIM_BYZ_SLOW_READER,  SIM_BYZ_GARBAGE,
        SIM_BYZ_OVERSIZE,    SIM_BYZ_ADVERT_FLOOD, SIM_BYZ_WRONG_BYTES,
        SIM_BYZ_STALE_COMMIT};
    uint32_t ids[IDS_MAX];
    uint32_t c = candidates(g, can_turn, ids);
    uint32_t v = ids[below(g, c)];
    struct gen_fault *f = new_fault(g, SIM_FAULT_BYZANTINE, t);
    f->behaviour = menu[below(g, BYZ_BEHAVIOURS)];
    f->nodes[f->nodes_count++] = v;
    g->node[v].byzantine = true;
    g->node[v].behaviour = f->behaviour;
    g->byz_count++;
}

static void step_skew(struct gen *g, uint64_t t)
{
    uint32_t ids[IDS_MAX];
    uint32_t c = candidates(g, started, ids);
    struct gen_fault *f = new_fault(g, SIM_FAULT_SKEW, t);
    shuffle(g, ids, c);
    f->nodes_count = (size_t)range(g, 1, c < 3 ? c : 3);
    memcpy(f->nodes, ids, f->nodes_count * sizeof ids[0]);
    if (one_in(g, 10))
        f->offset_ms = 3600 * 1000; /* a jump of an hour */
    else if (!one_in(g, 3))
        f->offset_ms = (int64_t)range(g, 1, 5000) * (one_in(g, 2) ? -1 : 1);
    if (!one_in(g, 3))
        f->drift_ppm = (int64_t)range(g, 1, 100000) * (one_in(g, 2) ? -1 : 1);
    if (f->offset_ms == 0 && f->drift_ppm == 0)
        f->drift_ppm = 100;
}

static void step_loss(struct gen *g, uint64_t t)
{
    struct gen_fault *f = new_fault(g, SIM_FAULT_LOSS, t);
    uint64_t room = g->faults_end_ms - t;
    f->loss_pct = (uint32_t)range(g, 5, 50);
    f->for_ms = range(g, 5, (room < 5000 ? room : 5000) / 100) * 100;
}

static void do_step(struct gen *g, enum step s, uint64_t t)
{
    switch (s) {
    case STEP_PARTITION:
        step_partition(g, t);
        break;
    case STEP_HEAL:
        new_fault(g, SIM_FAULT_HEAL, t);
        g->partitioned = false;
        break;
    case STEP_CRASH:
        step_crash(g, t);
        break;
    case STEP_RESTART:
        step_restart(g, t);
        break;
    case STEP_LEAVE:
        step_leave(g, t);
        break;
    case STEP_JOIN:
        step_join(g, t);
        break;
    case STEP_BYZANTINE:
        step_byzantine(g, t);
        break;
    case STEP_SKEW:
        step_skew(g, t);
        break;
    case STEP_LOSS:
        step_loss(g, t);
        break;
    default:
        P2P_UNREACHABLE();
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Random steps at sorted times, then what closes them: a heal for an open
 * partition and a restart for every crash that is not permanent, all by
 * faults_end_ms. */
static void gen_faults(struct gen *g)
{
    static const unsigned weights[STEPS_COUNT] = {3, 3, 3, 3, 2, 2, 2, 2, 2};
    uint64_t times[SIM_SWARM_STEPS_MAX];
    size_t steps = (size_t)below(g, SIM_SWARM_STEPS_MAX + 1);
    uint64_t lo = 5, hi = (g->faults_end_ms - 200) / 100; /* 100 ms units */
    for (size_t i = 0; i < steps; i++)
        times[i] = range(g, lo, hi) * 100;
    qsort(times, steps, sizeof times[0], cmp_u64);
    uint64_t last = 0;
    for (size_t i = 0; i < steps; i++) {
        unsigned total = 0, w[STEPS_COUNT];
        for (int s = 0; s < STEPS_COUNT; s++) {
            w[s] = applicable(g, (enum step)s, times[i]) ? weights[s] : 0;
            if (s == STEP_PARTITION && g->partitioned)
                w[s] = w[s] ? 1 : 0; /* replacing one is rarer */
            total += w[s];
        }
        if (total == 0)
            continue;
        unsigned pick = (unsigned)below(g, total);
        int s = 0;
        while (pick >= w[s])
            pick -= w[s++];
        do_step(g, (enum step)s, times[i]);
        last = times[i];
    }
    uint64_t from = last / 100 + 1, to = g->faults_end_ms / 100;
    if (g->partitioned) {
        new_fault(g, SIM_FAULT_HEAL, range(g, from, to) * 100);
        g->partitioned = false;
    }
    for (uint32_t i = 0; i < g->ids; i++) {
        if (!can_restart(g, i))
            continue;
        struct gen_fault *f =
            new_fault(g, SIM_FAULT_RESTART, range(g, from, to) * 100);
        f->nodes[f->nodes_count++] = i;
        g->node[i].state = NODE_RUNNING;
        g->node[i].restart_owed = false;
        g->node[i].late_start = true;
        g->node[i].live_since_ms = f->at_ms;
    }
}

/* ---- registry lag ------------------------------------------------------ */

/* In one seed in SIM_SWARM_REGISTRY_LAG_ONE_IN with a leave or a join, the
 * nodes' clients lag behind the registry: a new version leaves the
 * earliest in use where it is, and after each leave or join, with one
 * chance in two, they move to the latest at a random later time; they do
 * so once more after the last one, by the end of the fault phase (so the
 * liveness phase sees the latest version alone). From its own stream: the
 * other draws stay as they were. */
static void gen_registry(struct gen *g)
{
    struct p2p_rng r;
    p2p_rng_init(&r, g->seed, SIM_SWARM_REGISTRY_RNG_STREAM);
    uint64_t last = 0;
    bool changes = false;
    for (size_t k = 0; k < g->faults_count; k++) {
        const struct gen_fault *f = &g->faults[k];
        if (f->kind != SIM_FAULT_LEAVE && f->kind != SIM_FAULT_JOIN)
            continue;
        changes = true;
        if (f->at_ms > last)
            last = f->at_ms;
    }
    if (!changes || p2p_rng_below(&r, SIM_SWARM_REGISTRY_LAG_ONE_IN) != 0)
        return;
    uint64_t to = g->faults_end_ms / 100;
    size_t n = g->faults_count;
    for (size_t k = 0; k < n; k++) {
        uint64_t from = g->faults[k].at_ms / 100;
        if ((g->faults[k].kind != SIM_FAULT_LEAVE &&
             g->faults[k].kind != SIM_FAULT_JOIN) ||
            p2p_rng_below(&r, 2) != 0)
            continue;
        new_fault(g, SIM_FAULT_REGISTRY_EARLIEST,
                  (from + p2p_rng_below(&r, to - from + 1)) * 100);
    }
    uint64_t from = last / 100;
    new_fault(g, SIM_FAULT_REGISTRY_EARLIEST,
              (from + p2p_rng_below(&r, to - from + 1)) * 100);
}

/* ---- state sync --------------------------------------------------------- */

static uint64_t state_range(struct gen *g, uint64_t lo, uint64_t hi)
{
    P2P_ASSERT(lo <= hi);
    return lo + p2p_rng_below(&g->srng, hi - lo + 1);
}

/* The nodes that must catch up with the subnet's state: every honest
 * running member that a join or a restart named (a node started with the
 * subnet never falls behind). They need f + 1 members advertising the
 * newest state (core's default quorum, of the final topology), counted
 * here among honest members that never crashed: those executed every
 * checkpoint themselves. Without them no expectation is added. The
 * deadline, from the earliest of their latest starts: the rest of the
 * fault phase, the liveness bound (connections back after every fault),
 * two full syncs on the thinnest link (the workload shares it; a newer
 * checkpoint's changed chunks follow) and one checkpoint interval. */
static void gen_state_synced(struct gen *g)
{
    uint32_t members = 0, anchors = 0;
    uint64_t since = g->faults_end_ms;
    for (uint32_t i = 0; i < g->ids; i++) {
        const struct gen_node *n = &g->node[i];
        members += n->member;
        anchors += i < g->nodes && live_honest(n) && !n->ever_crashed;
    }
    uint32_t quorum = members > 0 ? (members - 1) / 3 + 1 : 1;
    if (anchors < quorum)
        return;
    for (uint32_t i = 0; i < g->ids; i++) {
        const struct gen_node *n = &g->node[i];
        if (!n->late_start || !live_honest(n))
            continue;
        g->synced[g->synced_count++] = i;
        if (n->live_since_ms < since)
            since = n->live_since_ms;
    }
    if (g->synced_count == 0)
        return;
    uint64_t bw = bw_min_mbit(g);
    uint64_t sync_ms = (g->state_size * 8 + bw * 1000 - 1) / (bw * 1000);
    uint64_t within = g->faults_end_ms - since +
                      SIM_SWARM_WITHIN_NS / P2P_NS_PER_MS + 2 * sync_ms +
                      g->state_every_ms;
    g->synced_within_ms = (within + 999) / 1000 * 1000;
}

/* With SIM_SWARM_STATE_PERCENT chance: a state small enough to sync
 * quickly on the thinnest link, in chunks small enough that what a sync
 * asks for at once crosses it within SIM_SWARM_STATE_BURST_MS. Then some
 * byzantine turns become bad-chunks, and the state_synced expectation. */
static void gen_state(struct gen *g)
{
    p2p_rng_init(&g->srng, g->seed, SIM_SWARM_STATE_RNG_STREAM);
    if (p2p_rng_below(&g->srng, 100) >= SIM_SWARM_STATE_PERCENT)
        return;
    g->has_state = true;
    uint64_t bw = bw_min_mbit(g);
    uint64_t bytes_per_s = bw * 1000000 / 8;
    uint64_t burst = bytes_per_s * SIM_SWARM_STATE_BURST_MS / 1000;
    uint64_t peers = g->ids - 1;
    uint64_t chunk = SIM_SWARM_STATE_CHUNK_MAX;
    while (chunk > SIM_SWARM_STATE_CHUNK_MIN &&
           SIM_SWARM_STATE_CHUNKS_PER_PEER * peers * chunk > burst)
        chunk /= 2;
    uint64_t mib_max = (bytes_per_s * SIM_SWARM_STATE_SYNC_S_MAX) >> 20;
    if (mib_max > SIM_SWARM_STATE_MIB_MAX)
        mib_max = SIM_SWARM_STATE_MIB_MAX;
    if (mib_max < SIM_SWARM_STATE_MIB_MIN)
        mib_max = SIM_SWARM_STATE_MIB_MIN;
    g->state_chunk = chunk;
    g->state_size = state_range(g, SIM_SWARM_STATE_MIB_MIN, mib_max) << 20;
    if (p2p_rng_below(&g->srng, 3) == 0) /* a short last chunk */
        g->state_size += state_range(g, 1, chunk - 1);
    g->state_every_ms = state_range(g, SIM_SWARM_STATE_EVERY_MS_MIN / 100,
                                    SIM_SWARM_STATE_EVERY_MS_MAX / 100) *
                        100;
    g->state_churn_ppm =
        p2p_rng_below(&g->srng, 4) == 0
            ? 0
            : (uint32_t)state_range(g, 1, SIM_SWARM_STATE_CHURN_PERMILLE_MAX) *
                  1000;
    for (size_t k = 0; k < g->faults_count; k++) {
        struct gen_fault *f = &g->faults[k];
        if (f->kind != SIM_FAULT_BYZANTINE ||
            p2p_rng_below(&g->srng, SIM_SWARM_BAD_CHUNKS_ONE_IN) != 0)
            continue;
        f->behaviour = SIM_BYZ_BAD_CHUNKS;
        for (size_t j = 0; j < f->nodes_count; j++)
            g->node[f->nodes[j]].behaviour = SIM_BYZ_BAD_CHUNKS;
    }
    gen_state_synced(g);
}

/* ---- the quic model --------------------------------------------------- */

/* On the quic model, from a stream of its own after everything else:
 * each network.packet rate in half of the seeds, and 0 to
 * SIM_SWARM_QUIC_FAULTS_MAX blackhole (one node, two in a quarter, for
 * 100 ms up to SIM_SWARM_BLACKHOLE_MS_MAX, over by the end of the fault
 * phase) or nat_rebind (one to three nodes) faults, at random times of
 * the fault phase, on nodes the subnet starts with. */
static void gen_quic(struct gen *g)
{
    struct p2p_rng r;
    if (g->model != SIM_MODEL_QUIC)
        return;
    p2p_rng_init(&r, g->seed, SIM_SWARM_QUIC_RNG_STREAM);
    if (p2p_rng_below(&r, 2) == 0) {
        g->reorder_ppm =
            (uint32_t)(1 + p2p_rng_below(&r, SIM_SWARM_REORDER_PERMILLE_MAX)) *
            1000;
        g->reorder_delay_ms =
            1 + p2p_rng_below(&r, SIM_SWARM_REORDER_DELAY_MS_MAX);
    }
    if (p2p_rng_below(&r, 2) == 0)
        g->duplicate_ppm =
            (uint32_t)(1 +
                       p2p_rng_below(&r, SIM_SWARM_DUPLICATE_PERMILLE_MAX)) *
            1000;
    if (p2p_rng_below(&r, 2) == 0)
        g->corrupt_ppm =
            (uint32_t)(1 + p2p_rng_below(&r, SIM_SWARM_CORRUPT_PERMILLE_MAX)) *
            1000;
    uint64_t lo = 5, hi = (g->faults_end_ms - 200) / 100; /* 100 ms units */
    uint64_t n = p2p_rng_below(&r, SIM_SWARM_QUIC_FAULTS_MAX + 1);
    for (uint64_t k = 0; k < n; k++) {
        uint64_t t = (lo + p2p_rng_below(&r, hi - lo + 1)) * 100;
        bool blackhole = p2p_rng_below(&r, 2) == 0;
        struct gen_fault *f = new_fault(
            g, blackhole ? SIM_FAULT_BLACKHOLE : SIM_FAULT_NAT_REBIND, t);
        size_t want = blackhole ? (p2p_rng_below(&r, 4) == 0 ? 2 : 1)
                                : 1 + (size_t)p2p_rng_below(&r, 3);
        uint32_t ids[IDS_MAX];
        for (uint32_t i = 0; i < g->nodes; i++)
            ids[i] = i;
        for (size_t j = 0; j < want; j++) { /* a partial shuffle */
            uint32_t pick = (uint32_t)(j + p2p_rng_below(&r, g->nodes - j));
            uint32_t x = ids[j];
            ids[j] = ids[pick];
            ids[pick] = x;
            f->nodes[f->nodes_count++] = ids[j];
        }
        if (blackhole) {
            uint64_t room = g->faults_end_ms - t;
            uint64_t max = room < SIM_SWARM_BLACKHOLE_MS_MAX
                               ? room
                               : SIM_SWARM_BLACKHOLE_MS_MAX;
            f->for_ms = (1 + p2p_rng_below(&r, max / 100)) * 100;
        }
    }
}

/* {penalised: byzantine} must hold when every byzantine node keeps
 * sending malformed frames (garbage, oversize: 25 points each, several a
 * second, to every connected peer) and stays a running member: every live
 * honest node is connected to it in the liveness phase. Other behaviours
 * are only noticed through traffic that may not happen, so they are not
 * judged this way. */
static bool penalised_must_hold(const struct gen *g)
{
    if (g->byz_count == 0)
        return false;
    for (uint32_t i = 0; i < g->ids; i++) {
        const struct gen_node *n = &g->node[i];
        if (!n->byzantine)
            continue;
        if ((n->behaviour != SIM_BYZ_GARBAGE &&
             n->behaviour != SIM_BYZ_OVERSIZE) ||
            n->ever_crashed || n->ever_left || !n->member ||
            n->state != NODE_RUNNING)
            return false;
    }
    return true;
}

/* ---- text ------------------------------------------------------------ */

static void put_ms(FILE *out, const char *key, uint64_t ms)
{
    char buf[32];
    conf_units_format_duration(ms * P2P_NS_PER_MS, buf, sizeof buf);
    fprintf(out, "%s%s", key, buf);
}

static void put_size(FILE *out, const char *key, uint64_t bytes)
{
    char buf[32];
    conf_units_format_size(bytes, buf, sizeof buf);
    fprintf(out, "%s%s", key, buf);
}

static void put_ppm(FILE *out, const char *key, uint32_t ppm)
{
    /* Multiples of 0.1 % (1000 ppm) only. */
    fprintf(out, "%s%u.%u%%", key, ppm / 10000, ppm % 10000 / 1000);
}

static void put_ids(FILE *out, const uint32_t *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%" PRIu32, i ? ", " : "", v[i]);
    fputc(']', out);
}

/* network.model and network.packet on the quic model. */
static void write_quic_network(const struct gen *g, FILE *out)
{
    if (g->model != SIM_MODEL_QUIC)
        return;
    fprintf(out, "  model: quic\n");
    if (g->reorder_ppm == 0 && g->duplicate_ppm == 0 && g->corrupt_ppm == 0)
        return;
    const char *sep = "";
    fprintf(out, "  packet: {");
    if (g->reorder_ppm != 0) {
        put_ppm(out, "reorder: ", g->reorder_ppm);
        put_ms(out, ", reorder_delay: ", g->reorder_delay_ms);
        sep = ", ";
    }
    if (g->duplicate_ppm != 0) {
        fprintf(out, "%s", sep);
        put_ppm(out, "duplicate: ", g->duplicate_ppm);
        sep = ", ";
    }
    if (g->corrupt_ppm != 0) {
        fprintf(out, "%s", sep);
        put_ppm(out, "corrupt: ", g->corrupt_ppm);
    }
    fprintf(out, "}\n");
}

static void write_network(const struct gen *g, FILE *out)
{
    char buf[32];
    fprintf(out, "network:                     # profile %s\n",
            profile_names[g->profile]);
    conf_units_format_duration(g->latency_us * P2P_NS_PER_US, buf, sizeof buf);
    fprintf(out, "  latency: %s\n", buf);
    conf_units_format_duration(g->jitter_us * P2P_NS_PER_US, buf, sizeof buf);
    fprintf(out, "  jitter: %s\n  bandwidth: %" PRIu64 "Mbit\n", buf,
            g->bw_mbit);
    put_ppm(out, "  loss: ", g->loss_ppm);
    fputc('\n', out);
    write_quic_network(g, out);
    if (g->links_count == 0)
        return;
    fprintf(out, "  links:\n");
    for (size_t i = 0; i < g->links_count; i++) {
        const struct gen_link *l = &g->links[i];
        fprintf(out, "    - {from: %" PRIu32 ", to: %" PRIu32, l->from, l->to);
        if (l->latency_ms != 0)
            put_ms(out, ", latency: ", l->latency_ms);
        if (l->loss_ppm != 0)
            put_ppm(out, ", loss: ", l->loss_ppm);
        if (l->bw_mbit != 0)
            fprintf(out, ", bandwidth: %" PRIu64 "Mbit", l->bw_mbit);
        fprintf(out, "%s}\n", l->both ? ", both: true" : "");
    }
}

static void write_workload(const struct gen *g, FILE *out)
{
    fprintf(out, "workload:\n");
    for (size_t i = 0; i < g->items_count; i++) {
        const struct gen_item *it = &g->items[i];
        fprintf(out, "  - {kind: %s, ", it->push ? "push" : "advert");
        if (!it->poisson)
            put_ms(out, "every: ", it->every_ms);
        else if (it->per_min % 60 == 0)
            fprintf(out, "rate: %" PRIu64 "/s", it->per_min / 60);
        else
            fprintf(out, "rate: %" PRIu64 "/m", it->per_min);
        put_size(out, ", size: ", it->size);
        if (it->size_max != it->size)
            put_size(out, ", size_max: ", it->size_max);
        if (it->from == FROM_NODE)
            fprintf(out, ", from: %" PRIu32, it->from_node);
        else
            fprintf(out, ", from: %s",
                    it->from == FROM_ANY ? "any" : "round-robin");
        if (it->start_ms != 0)
            put_ms(out, ", start: ", it->start_ms);
        if (it->stop_ms != g->duration_ms)
            put_ms(out, ", stop: ", it->stop_ms);
        fprintf(out, "}\n");
    }
}

static void write_protocol(const struct gen *g, FILE *out)
{
    if (!g->has_push_threshold && !g->has_delay && !g->has_ttl &&
        !g->has_relay && !g->buggify)
        return;
    fprintf(out, "protocol:\n");
    if (g->has_push_threshold) {
        put_size(out, "  push_threshold: ", g->push_threshold);
        fputc('\n', out);
    }
    if (g->has_delay) {
        put_ms(out, "  validation_delay: ", g->delay_ms);
        fputc('\n', out);
    }
    if (g->has_ttl)
        fprintf(out, "  artifact_ttl: %" PRIu64 "s\n", g->ttl_s);
    if (g->has_relay)
        fprintf(out, "  relay: %s\n", g->relay_advert ? "advert" : "push");
    if (g->buggify)
        fprintf(out, "  buggify: true\n");
}

static void write_state(const struct gen *g, FILE *out)
{
    if (!g->has_state)
        return;
    put_size(out, "state: {size: ", g->state_size);
    put_size(out, ", chunk: ", g->state_chunk);
    put_ms(out, ", checkpoint_every: ", g->state_every_ms);
    put_ppm(out, ", churn: ", g->state_churn_ppm);
    fprintf(out, "}\n");
}

static void write_fault(const struct gen *g, const struct gen_fault *f,
                        FILE *out)
{
    put_ms(out, "  - {at: ", f->at_ms);
    fprintf(out, ", %s: ", sim_scenario_fault_kind_name(f->kind));
    switch (f->kind) {
    case SIM_FAULT_PARTITION:
        fputc('[', out);
        for (size_t grp = 1; grp <= f->groups_count; grp++) {
            uint32_t v[IDS_MAX];
            size_t n = 0;
            for (uint32_t i = 0; i < g->ids; i++)
                if (f->group_of[i] == grp)
                    v[n++] = i;
            fprintf(out, "%s", grp > 1 ? ", " : "");
            put_ids(out, v, n);
        }
        fputc(']', out);
        break;
    case SIM_FAULT_HEAL:
        fprintf(out, "all");
        break;
    case SIM_FAULT_BYZANTINE:
        fprintf(out, "{nodes: ");
        put_ids(out, f->nodes, f->nodes_count);
        fprintf(out, ", behaviour: %s}",
                sim_scenario_byzantine_name(f->behaviour));
        break;
    case SIM_FAULT_SKEW:
        fprintf(out, "{nodes: ");
        put_ids(out, f->nodes, f->nodes_count);
        if (f->offset_ms < 0)
            put_ms(out, ", offset: -", (uint64_t)-f->offset_ms);
        else
            put_ms(out, ", offset: ", (uint64_t)f->offset_ms);
        fprintf(out, ", drift: %" PRId64 "ppm}", f->drift_ppm);
        break;
    case SIM_FAULT_LOSS:
        fprintf(out, "{links: all, rate: %" PRIu32 "%%, ", f->loss_pct);
        put_ms(out, "for: ", f->for_ms);
        fputc('}', out);
        break;
    case SIM_FAULT_BLACKHOLE:
        fprintf(out, "{nodes: ");
        put_ids(out, f->nodes, f->nodes_count);
        put_ms(out, ", for: ", f->for_ms);
        fputc('}', out);
        break;
    case SIM_FAULT_REGISTRY_EARLIEST:
        fprintf(out, "latest");
        break;
    default: /* crash, restart, leave, join, nat_rebind */
        put_ids(out, f->nodes, f->nodes_count);
        break;
    }
    fprintf(out, "}\n");
}

static void write_scenario(const struct gen *g, FILE *out)
{
    char within[32];
    conf_units_format_duration(SIM_SWARM_WITHIN_NS, within, sizeof within);
    fprintf(out,
            "# p2p-sim swarm, seed %" PRIu64 ": generated (sim/swarm_gen.c).\n"
            "# Faults end by %" PRIu64 "ms; then the liveness phase: every "
            "live honest\n# node must converge within %s.\n",
            g->seed, g->faults_end_ms, within);
    fprintf(out, "name: swarm-%" PRIu64 "\nseed: %" PRIu64 "\n", g->seed,
            g->seed);
    put_ms(out, "duration: ", g->duration_ms);
    fprintf(out, "\nsubnet: {nodes: %" PRIu32 "}\n", g->nodes);
    write_network(g, out);
    write_workload(g, out);
    write_state(g, out);
    write_protocol(g, out);
    if (g->faults_count > 0) {
        fprintf(out, "faults:\n");
        for (size_t i = 0; i < g->faults_count; i++)
            write_fault(g, &g->faults[i], out);
    }
    fprintf(out, "expect:\n  - {delivered: all, within: %s}\n", within);
    put_size(out, "  - {max_memory_per_node: ", SIM_SWARM_MEMORY_BYTES);
    fprintf(out, "}\n");
    if (penalised_must_hold(g))
        fprintf(out, "  - {penalised: byzantine}\n");
    if (g->synced_count > 0) {
        fprintf(out, "  - {state_synced: ");
        put_ids(out, g->synced, g->synced_count);
        put_ms(out, ", within: ", g->synced_within_ms);
        fprintf(out, "}\n");
    }
}

int sim_swarm_gen_scenario(uint64_t seed, enum sim_net_model model, char **text,
                           size_t *len)
{
    P2P_ASSERT(text != NULL && len != NULL);
    *text = NULL;
    *len = 0;
    struct gen *g = calloc(1, sizeof *g);
    if (g == NULL)
        return P2P_ERR_NOMEM;
    p2p_rng_init(&g->rng, seed, SIM_SWARM_RNG_STREAM);
    g->seed = seed;
    g->model = model;
    g->nodes = (uint32_t)range(g, SIM_SWARM_NODES_MIN, SIM_SWARM_NODES_MAX);
    g->ids = g->nodes + (uint32_t)below(g, SIM_SWARM_JOIN_IDS_MAX + 1);
    g->duration_ms = range(g, SIM_SWARM_DURATION_MIN_MS / 100,
                           SIM_SWARM_DURATION_MAX_MS / 100) *
                     100;
    uint64_t window = g->duration_ms / 4 / 100 * 100;
    if (window < SIM_SWARM_LIVENESS_MIN_MS)
        window = SIM_SWARM_LIVENESS_MIN_MS;
    g->faults_end_ms = g->duration_ms - window;
    g->byz_max = g->nodes / 4 ? g->nodes / 4 : 1;
    for (uint32_t i = 0; i < g->nodes; i++) {
        g->node[i].state = NODE_RUNNING;
        g->node[i].member = true;
    }
    gen_network(g);
    gen_protocol(g);
    g->items_count = (size_t)range(g, 1, SIM_SWARM_ITEMS_MAX);
    bool thin = g->profile == PROFILE_THIN;
    if (thin && g->items_count < 2)
        g->items_count = 2;
    /* The first item is a steady stream of small artifacts, so that every
     * run has traffic to disturb; the others are of any kind (on thin
     * links the second is multi-MiB adverts). */
    for (size_t i = 0; i < g->items_count; i++)
        gen_item(g, &g->items[i],
                 i == 0           ? (unsigned)below(g, 2)
                 : i == 1 && thin ? 2u
                                  : (unsigned)below(g, 3));
    fit_workload(g);
    fit_thin_creators(g);
    gen_faults(g);
    gen_state(g);
    gen_registry(g);
    gen_quic(g);
    P2P_ASSERT(live_honest_count(g) >= SIM_SWARM_HONEST_LIVE_MIN);
    P2P_ASSERT(!g->partitioned);

    char *buf = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&buf, &n);
    if (out == NULL) {
        free(g);
        return P2P_ERR_NOMEM;
    }
    write_scenario(g, out);
    bool failed = ferror(out) != 0;
    free(g);
    if (fclose(out) != 0 || failed) {
        free(buf);
        return P2P_ERR_NOMEM;
    }
    *text = buf;
    *len = n;
    return 0;
}
