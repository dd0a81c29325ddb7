#include "sim/report.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/pool.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t percentile(const uint64_t *v, size_t n, unsigned pct)
{
    if (n == 0)
        return 0;
    size_t rank = (n * pct + 99) / 100;
    return v[rank ? rank - 1 : 0];
}

static bool delivered_to(const struct sim_artifact *a, uint32_t node)
{
    return (a->delivered[node / 8] >> (node % 8)) & 1u;
}

static bool names(const struct sim_fault *f, uint32_t node)
{
    for (size_t i = 0; i < f->nodes_count; i++)
        if (f->nodes[i] == node)
            return true;
    return false;
}

/* The end of the interference a fault causes to the pair (an artifact made
 * by `creator`, delivered to `node`), or P2P_TIME_NEVER when it causes
 * none. 'delivered' (docs/scenario-format.md) counts a heal, a restart, a
 * join and the end of a loss burst: a partition (every pair) lasts until
 * the next heal, a crash (of the creator or the node) until that node's
 * restart, a loss burst (every pair) for its `for`. A join is judged by
 * the joiner's own start (deadline_of); skew, leave and byzantine
 * behaviour earn no extra time. */
static p2p_time fault_end(const struct sim_scenario *sc, size_t k,
                          uint32_t creator, uint32_t node)
{
    const struct sim_fault *f = &sc->faults[k];
    switch (f->kind) {
    case SIM_FAULT_LOSS:
        return f->at_ns + f->for_ns;
    case SIM_FAULT_PARTITION:
        for (size_t j = k + 1; j < sc->faults_count; j++)
            if (sc->faults[j].kind == SIM_FAULT_HEAL)
                return sc->faults[j].at_ns;
        return P2P_TIME_NEVER; /* never healed: no time is owed for it */
    case SIM_FAULT_CRASH: {
        p2p_time end = P2P_TIME_NEVER;
        for (size_t i = 0; i < f->nodes_count; i++) {
            uint32_t v = f->nodes[i];
            if (v != creator && v != node)
                continue;
            for (size_t j = k + 1; j < sc->faults_count; j++) {
                const struct sim_fault *g = &sc->faults[j];
                if (g->kind == SIM_FAULT_RESTART && names(g, v)) {
                    if (end == P2P_TIME_NEVER || g->at_ns > end)
                        end = g->at_ns;
                    break;
                }
            }
        }
        return end;
    }
    default:
        return P2P_TIME_NEVER;
    }
}

/* When an artifact made at `created` by `creator` must have reached
 * `node`: within T of its creation, or within T of the end of the last
 * fault that interfered (one that started before the deadline so far and
 * ended after the creation; interference chains), whichever is later
 * (docs/scenario-format.md); and a node that started, joined or restarted
 * after the creation has T from then. */
static p2p_time deadline_of(const struct sim_world *w, p2p_time created,
                            uint32_t creator, uint32_t node, p2p_time within,
                            p2p_time relayed)
{
    p2p_time deadline = created + within;
    if (relayed != 0 && relayed != P2P_TIME_NEVER &&
        relayed + within > deadline)
        deadline = relayed + within;
    const struct sim_scenario *sc = w->sc;
    for (size_t k = 0; k < sc->faults_count; k++) { /* sorted by at */
        const struct sim_fault *f = &sc->faults[k];
        if (f->at_ns > deadline)
            break;
        p2p_time end = fault_end(sc, k, creator, node);
        if (end != P2P_TIME_NEVER && end >= created && end + within > deadline)
            deadline = end + within;
    }
    p2p_time since = w->nodes[node].live_since;
    if (since > created && since + within > deadline)
        deadline = since + within;
    return deadline;
}

/* When the creator of the artifact made at `created` turned byzantine, at
 * or after that time; P2P_TIME_NEVER when it did not. */
static p2p_time creator_turned_at(const struct sim_scenario *sc,
                                  uint32_t creator, p2p_time created)
{
    for (size_t k = 0; k < sc->faults_count; k++) { /* sorted by at */
        const struct sim_fault *f = &sc->faults[k];
        if (f->kind == SIM_FAULT_BYZANTINE && f->at_ns >= created &&
            names(f, creator))
            return f->at_ns;
    }
    return P2P_TIME_NEVER;
}

/* For every artifact, when its relay began, as the deadline clock sees it:
 * 0 (the clock starts at its creation), or, when its creator turned
 * byzantine before any honest node held it, the time the first honest node
 * received it (P2P_TIME_NEVER if none ever did). Until then only a
 * byzantine node held it, so nothing was owed (docs/scenario-format.md,
 * `delivered`). Owned by the caller (free); NULL when out of memory, which
 * judges as if no creator turned. */
static p2p_time *relay_starts(const struct sim_world *w)
{
    if (w->artifacts_count == 0)
        return NULL;
    p2p_time *first = malloc(w->artifacts_count * sizeof(*first));
    if (first == NULL)
        return NULL;
    for (size_t i = 0; i < w->artifacts_count; i++)
        first[i] = P2P_TIME_NEVER;
    for (size_t i = 0; i < w->stats.latencies_count; i++) {
        const struct sim_delivery *d = &w->stats.deliveries[i];
        const struct sim_artifact *a = &w->artifacts[d->artifact];
        p2p_time at = a->created + w->stats.latencies_ns[i];
        if (d->node != a->creator && !w->nodes[d->node].byzantine &&
            at < first[d->artifact])
            first[d->artifact] = at;
    }
    for (size_t i = 0; i < w->artifacts_count; i++) {
        const struct sim_artifact *a = &w->artifacts[i];
        p2p_time turned = creator_turned_at(w->sc, a->creator, a->created);
        if (turned == P2P_TIME_NEVER || first[i] <= turned)
            first[i] = 0;
    }
    return first;
}

static p2p_time relay_start_of(const p2p_time *starts, size_t artifact)
{
    return starts != NULL ? starts[artifact] : 0;
}

/* Some live honest node holds the artifact: 'delivered' judges only
 * artifacts still in some honest validated pool. */
static bool held_by_honest(const struct sim_world *w,
                           const struct sim_artifact *a)
{
    if (sim_world_live_honest(w, a->creator))
        return true;
    for (uint32_t n = 0; n < w->nodes_count; n++)
        if (delivered_to(a, n) && sim_world_live_honest(w, n))
            return true;
    return false;
}

/* A pair (artifact, node) is owed a delivery when the node is a live
 * honest member at the end and the artifact reached it, or it was still
 * held by an honest node and not purged before its deadline (before the
 * end of the run when within is 0). */
static bool owed(const struct sim_world *w, const struct sim_artifact *a,
                 uint32_t node, p2p_time within, bool held, p2p_time relayed)
{
    if (node == a->creator || !sim_world_live_honest(w, node))
        return false;
    if (delivered_to(a, node))
        return true;
    if (!held)
        return false;
    if (within == 0)
        return a->expired == P2P_TIME_NEVER;
    return a->expired >=
           deadline_of(w, a->created, a->creator, node, within, relayed);
}

static void judge_delivered(const struct sim_world *w,
                            const struct sim_expect *e,
                            struct sim_expect_result *res)
{
    uint64_t pairs = 0, missing = 0, late = 0;
    p2p_time *relayed = relay_starts(w);
    for (size_t i = 0; i < w->artifacts_count; i++) {
        const struct sim_artifact *a = &w->artifacts[i];
        bool held = held_by_honest(w, a);
        for (uint32_t n = 0; n < w->nodes_count; n++) {
            if (!owed(w, a, n, e->within_ns, held, relay_start_of(relayed, i)))
                continue;
            pairs++;
            missing += !delivered_to(a, n);
        }
    }
    for (size_t i = 0; i < w->stats.latencies_count; i++) {
        const struct sim_delivery *d = &w->stats.deliveries[i];
        if (!sim_world_live_honest(w, d->node))
            continue;
        const struct sim_artifact *a = &w->artifacts[d->artifact];
        late += a->created + w->stats.latencies_ns[i] >
                deadline_of(w, a->created, a->creator, d->node, e->within_ns,
                            relay_start_of(relayed, d->artifact));
    }
    free(relayed);
    res->ok = missing == 0 && late == 0;
    snprintf(res->name, sizeof(res->name), "delivered all within %.3gs",
             (double)e->within_ns / 1e9);
    snprintf(res->detail, sizeof(res->detail),
             "%llu of %llu deliveries, %llu missing, %llu later than %.3gs",
             (unsigned long long)(pairs - missing), (unsigned long long)pairs,
             (unsigned long long)missing, (unsigned long long)late,
             (double)e->within_ns / 1e9);
}

/* Every artifact purged at least `within` before the end is named by no
 * peer's slot in any live honest node's receiver: each sender told its
 * peers (a slot deletion) or reused the slot. Slots of byzantine peers
 * count too. */
static void judge_slots_cleared(const struct sim_world *w,
                                const struct sim_expect *e,
                                struct sim_expect_result *res)
{
    uint64_t judged = 0, stale = 0;
    int64_t first = -1;
    uint32_t first_node = 0;
    for (size_t i = 0; i < w->artifacts_count; i++) {
        const struct sim_artifact *a = &w->artifacts[i];
        if (a->expired == P2P_TIME_NEVER || a->expired + e->within_ns > w->end)
            continue;
        judged++;
        for (uint32_t n = 0; n < w->nodes_count; n++) {
            if (!sim_world_live_honest(w, n))
                continue;
            uint32_t views = p2p_node_slot_views(w->nodes[n].core, &a->id);
            if (views > 0 && first < 0) {
                first = (int64_t)i;
                first_node = n;
            }
            stale += views;
        }
    }
    res->ok = stale == 0;
    snprintf(res->name, sizeof(res->name), "slots_cleared within %.3gs",
             (double)e->within_ns / 1e9);
    if (first < 0) {
        snprintf(res->detail, sizeof(res->detail),
                 "%llu artifacts purged, no peer's slot names one",
                 (unsigned long long)judged);
        return;
    }
    char hex[17];
    p2p_id_hex(&w->artifacts[first].id, hex, 16);
    snprintf(res->detail, sizeof(res->detail),
             "%llu artifacts purged, %llu slots still name them (first: %s "
             "at node %u)",
             (unsigned long long)judged, (unsigned long long)stale, hex,
             first_node);
}

/* The purge height in force at t (sim/workload.c: height 1 at 0, one
 * more every protocol.heights.every up to the duration). */
static uint64_t purge_height_at(const struct sim_world *w, p2p_time t)
{
    const struct sim_protocol *pr = &w->sc->protocol;
    p2p_time last = t < w->sc->duration_ns ? t : w->sc->duration_ns;
    uint64_t height = 1 + last / pr->height_every_ns;
    return height >= pr->height_keep ? height + 1 - pr->height_keep : 0;
}

/* No live honest node holds, validated or not, an artifact below the
 * purge height in force `within` before the end. */
static void judge_heights_purged(const struct sim_world *w,
                                 const struct sim_expect *e,
                                 struct sim_expect_result *res)
{
    p2p_time t = w->end > e->within_ns ? w->end - e->within_ns : 0;
    uint64_t purge = purge_height_at(w, t), held = 0, stale = 0;
    int64_t first = -1;
    uint32_t first_node = 0;
    for (uint32_t n = 0; n < w->nodes_count; n++) {
        if (!sim_world_live_honest(w, n))
            continue;
        const struct p2p_pool *pool = p2p_node_pool(w->nodes[n].core);
        for (uint32_t i = 0; i < pool->capacity; i++) {
            const struct p2p_pool_entry *pe = p2p_pool_at(pool, i);
            if (!pe->used)
                continue;
            held++;
            int64_t idx = sim_workload_artifact_find(w, &pe->id);
            if (idx < 0 || w->artifacts[idx].height >= purge)
                continue;
            if (first < 0) {
                first = idx;
                first_node = n;
            }
            stale++;
        }
    }
    res->ok = stale == 0;
    snprintf(res->name, sizeof(res->name), "heights_purged within %.3gs",
             (double)e->within_ns / 1e9);
    if (first < 0) {
        snprintf(res->detail, sizeof(res->detail),
                 "purge height %llu at %.3fs: none of the %llu artifacts "
                 "held at the end is below it",
                 (unsigned long long)purge, (double)t / 1e9,
                 (unsigned long long)held);
        return;
    }
    char hex[17];
    p2p_id_hex(&w->artifacts[first].id, hex, 16);
    snprintf(res->detail, sizeof(res->detail),
             "purge height %llu at %.3fs: %llu held entries are below it "
             "(first: %s, height %llu, at node %u)",
             (unsigned long long)purge, (double)t / 1e9,
             (unsigned long long)stale, hex,
             (unsigned long long)w->artifacts[first].height, first_node);
}

static void judge_memory(const struct sim_world *w, const struct sim_expect *e,
                         struct sim_expect_result *res)
{
    res->ok = w->stats.peak_memory_bytes <= e->bytes;
    snprintf(res->name, sizeof(res->name), "max_memory_per_node %.1f MiB",
             (double)e->bytes / 1048576.0);
    snprintf(res->detail, sizeof(res->detail),
             "peak %.1f MiB of core memory, at node %u",
             (double)w->stats.peak_memory_bytes / 1048576.0,
             w->stats.peak_memory_node);
}

static void count_deliveries(const struct sim_world *w, struct sim_report *r)
{
    p2p_time *relayed = relay_starts(w);
    for (size_t i = 0; i < w->artifacts_count; i++) {
        const struct sim_artifact *a = &w->artifacts[i];
        bool held = held_by_honest(w, a);
        for (uint32_t n = 0; n < w->nodes_count; n++) {
            if (owed(w, a, n, w->delivered_within_ns, held,
                     relay_start_of(relayed, i))) {
                r->deliveries_expected++;
                r->deliveries += delivered_to(a, n);
            }
        }
    }
    free(relayed);
}

/* Whether any node has a connection up to or from node v at the end. */
static bool connected_at_end(const struct sim_world *w, uint32_t v)
{
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        struct p2p_peer_info info;
        if (i == v)
            continue;
        if (w->nodes[v].running &&
            p2p_node_peer_info(w->nodes[v].core, i, &info) == 0 && info.up)
            return true;
        if (w->nodes[i].running &&
            p2p_node_peer_info(w->nodes[i].core, v, &info) == 0 && info.up)
            return true;
    }
    return false;
}

/* {served_after_leave: [ids]}: each listed node received an artifact made
 * after its leave while a version in use still listed it, none made once
 * none did, and has no connection at the end once dropped. */
static void judge_served_after_leave(const struct sim_world *w,
                                     const struct sim_expect *e,
                                     struct sim_expect_result *res)
{
    uint32_t unserved = 0, late = 0, connected = 0;
    uint64_t served = 0;
    for (size_t j = 0; j < e->nodes_count; j++) {
        uint32_t v = e->nodes[j];
        const struct sim_node *sn = &w->nodes[v];
        uint64_t got = 0;
        for (size_t i = 0; i < w->artifacts_count; i++) {
            const struct sim_artifact *a = &w->artifacts[i];
            if (!delivered_to(a, v) || a->created < sn->left_at)
                continue;
            if (a->created < sn->dropped_at)
                got++;
            else
                late++;
        }
        served += got;
        unserved += sn->left_at == P2P_TIME_NEVER || got == 0;
        connected += sn->dropped_at != P2P_TIME_NEVER && connected_at_end(w, v);
    }
    res->ok = unserved == 0 && late == 0 && connected == 0;
    snprintf(res->name, sizeof(res->name), "served after leave");
    snprintf(res->detail, sizeof(res->detail),
             "%llu artifacts received after leaving; %u of %zu nodes got "
             "none, %llu made after the drop reached them, %u still "
             "connected at the end",
             (unsigned long long)served, unserved, e->nodes_count,
             (unsigned long long)late, connected);
}

/* How the honest nodes treated each byzantine node. */
static void judge_byzantine(const struct sim_world *w, struct sim_report *r)
{
    r->honest_bans = w->stats.honest_bans; /* counted as they happen */
    for (uint32_t b = 0;
         b < w->nodes_count && r->byz_count < SIM_REPORT_BYZ_MAX; b++) {
        const struct sim_node *bn = &w->nodes[b];
        if (!bn->byzantine)
            continue;
        struct sim_byz_result *res = &r->byz[r->byz_count++];
        res->node = b;
        res->behaviour = bn->behaviour;
        res->misdeeds = bn->byz_misdeeds;
        if (bn->behaviour == SIM_BYZ_BAD_CHUNKS && bn->store_ready)
            res->misdeeds += bn->store.chunks_served; /* all corrupted */
        for (uint32_t h = 0; h < w->nodes_count; h++) {
            if (!sim_world_live_honest(w, h))
                continue;
            struct p2p_peer_info info;
            if (p2p_node_peer_info(w->nodes[h].core, b, &info) != 0)
                continue;
            res->honest++;
            res->points += info.penalty_total;
            res->penalised_by += info.penalty_total > 0;
            res->bans += info.bans;
            res->banned_now += info.banned_until >
                               sim_world_local_now((struct sim_world *)w, h);
        }
    }
}

/* {penalised: byzantine}: every byzantine node was penalised by every
 * live honest member (judge_byzantine has counted). */
static void judge_penalised(const struct sim_report *r,
                            struct sim_expect_result *res)
{
    uint32_t short_of = 0;
    for (size_t i = 0; i < r->byz_count; i++)
        short_of += r->byz[i].penalised_by < r->byz[i].honest;
    res->ok = r->byz_count > 0 && short_of == 0;
    snprintf(res->name, sizeof(res->name), "byzantine nodes penalised");
    snprintf(res->detail, sizeof(res->detail),
             "%zu byzantine nodes, %u not penalised by every honest node",
             r->byz_count, short_of);
}

void sim_report_build(struct sim_world *w, double wall_s, struct sim_report *r)
{
    memset(r, 0, sizeof(*r));
    r->wall_s = wall_s;
    r->artifacts = w->artifacts_count;
    r->interrupted = w->interrupted;
    r->end_ns = w->end;
    r->drain_ns = w->drain_ns;
    count_deliveries(w, r);
    judge_byzantine(w, r);
    r->ok = w->stats.violation[0] == '\0' && !r->interrupted;
    if (w->stats.violation[0] != '\0') {
        struct sim_expect_result *res = &r->expects[r->expects_count++];
        snprintf(res->name, sizeof(res->name), "invariants");
        snprintf(res->detail, sizeof(res->detail), "%s", w->stats.violation);
    }
    /* Always judged: honest nodes never ban each other. */
    if (r->honest_bans > 0) {
        struct sim_expect_result *res = &r->expects[r->expects_count++];
        snprintf(res->name, sizeof(res->name), "no honest peer banned");
        snprintf(res->detail, sizeof(res->detail),
                 "%llu bans of honest peers by honest nodes",
                 (unsigned long long)r->honest_bans);
        r->ok = false;
    }
    /* Judge first: it reads latencies alongside their creation times. An
     * interrupted run is judged on nothing: its deadlines had not come. */
    for (size_t k = 0; !r->interrupted && k < w->sc->expects_count &&
                       r->expects_count < SIM_REPORT_EXPECTS_MAX;
         k++) {
        const struct sim_expect *e = &w->sc->expects[k];
        struct sim_expect_result *res = &r->expects[r->expects_count++];
        if (e->kind == SIM_EXPECT_DELIVERED)
            judge_delivered(w, e, res);
        else if (e->kind == SIM_EXPECT_MAX_MEMORY)
            judge_memory(w, e, res);
        else if (e->kind == SIM_EXPECT_PENALISED)
            judge_penalised(r, res);
        else if (e->kind == SIM_EXPECT_STATE_SYNCED)
            sim_report_state_judge_synced(w, e, res);
        else if (e->kind == SIM_EXPECT_SERVED_AFTER_LEAVE)
            judge_served_after_leave(w, e, res);
        else if (e->kind == SIM_EXPECT_SLOTS_CLEARED)
            judge_slots_cleared(w, e, res);
        else if (e->kind == SIM_EXPECT_HEIGHTS_PURGED)
            judge_heights_purged(w, e, res);
        r->ok = r->ok && res->ok;
    }
    uint64_t *lat = w->stats.latencies_ns;
    size_t n = w->stats.latencies_count;
    if (n > 0) /* lat is NULL without deliveries, and qsort may not get it */
        qsort(lat, n, sizeof(*lat),
              cmp_u64); /* deliveries no longer parallel */
    r->p50_ns = percentile(lat, n, 50);
    r->p90_ns = percentile(lat, n, 90);
    r->p99_ns = percentile(lat, n, 99);
    r->max_ns = n ? lat[n - 1] : 0;
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* The simulator process's peak resident set, in bytes. */
static uint64_t peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024;
}

static uint64_t advert_bytes(const struct sim_stats *st)
{
    return st->bytes_by_traffic[P2P_TRAFFIC_ADVERT] +
           st->bytes_by_traffic[P2P_TRAFFIC_FETCH] +
           st->bytes_by_traffic[P2P_TRAFFIC_ARTIFACT];
}

static void print_json(const struct sim_world *w, const struct sim_report *r,
                       FILE *out)
{
    const struct sim_stats *st = &w->stats;
    fprintf(out, "{\"scenario\": ");
    json_string(out, w->sc->name ? w->sc->name : "");
    fprintf(
        out,
        ", \"seed\": %llu, \"ok\": %s, \"artifacts\": %llu, "
        "\"deliveries_expected\": %llu, \"deliveries\": %llu, "
        "\"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
        "\"max\": %.3f}, \"bytes_sent\": %llu, \"bytes_ideal\": %llu, "
        "\"bytes_push\": %llu, \"bytes_advert\": %llu, \"bytes_ack\": %llu, "
        "\"messages\": %llu, \"peak_memory_bytes\": %zu, "
        "\"peak_rss_bytes\": %llu, "
        "\"events\": %llu, \"sim_s\": %.3f, \"end_s\": %.3f, "
        "\"drain_s\": %.3f, \"complete\": %s, \"wall_s\": %.3f, "
        "\"expectations\": [",
        (unsigned long long)w->seed, r->ok ? "true" : "false",
        (unsigned long long)r->artifacts,
        (unsigned long long)r->deliveries_expected,
        (unsigned long long)r->deliveries, ms(r->p50_ns), ms(r->p90_ns),
        ms(r->p99_ns), ms(r->max_ns), (unsigned long long)st->bytes_sent,
        (unsigned long long)st->bytes_ideal,
        (unsigned long long)st->bytes_by_traffic[P2P_TRAFFIC_PUSH],
        (unsigned long long)advert_bytes(st),
        (unsigned long long)st->bytes_by_traffic[P2P_TRAFFIC_ACK],
        (unsigned long long)st->messages_sent, st->peak_memory_bytes,
        (unsigned long long)peak_rss_bytes(), (unsigned long long)st->events,
        (double)w->now / 1e9, (double)r->end_ns / 1e9,
        (double)r->drain_ns / 1e9, r->interrupted ? "false" : "true",
        r->wall_s);
    for (size_t i = 0; i < r->expects_count; i++) {
        fprintf(out, "%s{\"name\": ", i ? ", " : "");
        json_string(out, r->expects[i].name);
        fprintf(out, ", \"ok\": %s, \"detail\": ",
                r->expects[i].ok ? "true" : "false");
        json_string(out, r->expects[i].detail);
        fputc('}', out);
    }
    fprintf(out,
            "], \"connections\": {\"established\": %llu, "
            "\"dials_failed\": %llu, \"broken\": %llu, "
            "\"messages_dropped\": %llu, \"honest_bans\": %llu}, "
            "\"byzantine\": [",
            (unsigned long long)st->conns_established,
            (unsigned long long)st->dials_failed,
            (unsigned long long)st->conns_broken,
            (unsigned long long)st->messages_dropped,
            (unsigned long long)r->honest_bans);
    for (size_t i = 0; i < r->byz_count; i++) {
        const struct sim_byz_result *b = &r->byz[i];
        fprintf(out,
                "%s{\"node\": %u, \"behaviour\": \"%s\", "
                "\"misdeeds\": %llu, \"penalty_points\": %llu, "
                "\"penalised_by\": %u, \"honest\": %u, \"bans\": %u, "
                "\"banned_now_by\": %u}",
                i ? ", " : "", b->node,
                sim_scenario_byzantine_name(b->behaviour),
                (unsigned long long)b->misdeeds, (unsigned long long)b->points,
                b->penalised_by, b->honest, b->bans, b->banned_now);
    }
    fputc(']', out);
    fprintf(out, ", \"model\": \"%s\"", w->quic != NULL ? "quic" : "message");
    if (w->quic != NULL) {
        struct sim_quic_model_totals q;
        sim_quic_model_totals(w, &q);
        fprintf(out,
                ", \"quic\": {\"datagrams\": %llu, \"datagram_bytes\": %llu, "
                "\"delivered\": %llu, \"dropped\": %llu, "
                "\"dropped_partition\": %llu, \"dropped_network\": %llu, "
                "\"dropped_nat\": %llu, \"dropped_down\": %llu, "
                "\"handshakes\": %llu, \"refusals\": %llu, \"stalls\": %llu}",
                (unsigned long long)q.datagrams_sent,
                (unsigned long long)q.datagram_bytes_sent,
                (unsigned long long)q.datagrams_delivered,
                (unsigned long long)q.datagrams_dropped,
                (unsigned long long)q.dropped_partition,
                (unsigned long long)q.dropped_network,
                (unsigned long long)q.dropped_nat,
                (unsigned long long)q.dropped_down,
                (unsigned long long)q.handshakes,
                (unsigned long long)q.refusals, (unsigned long long)q.stalls);
    } else {
        fprintf(out, ", \"quic\": null");
    }
    sim_report_state_json(w, out);
    fprintf(out, "}\n");
}

void sim_report_end_text(const struct sim_world *w, const struct sim_report *r,
                         char *buf, size_t len)
{
    int n = snprintf(buf, len, "%.3g s + %.3g s drain",
                     (double)(r->end_ns - r->drain_ns) / 1e9,
                     (double)r->drain_ns / 1e9);
    if (n < 0 || (size_t)n >= len)
        return;
    if (r->interrupted)
        snprintf(buf + n, len - (size_t)n, " (interrupted)");
    else if (w->now < r->end_ns)
        snprintf(buf + n, len - (size_t)n,
                 " (nothing was left to happen after %.2f s)",
                 (double)w->now / 1e9);
}

static void print_text(const struct sim_world *w, const struct sim_report *r,
                       FILE *out)
{
    const struct sim_stats *st = &w->stats;
    char end[96];
    sim_report_end_text(w, r, end, sizeof(end));
    double ideal = st->bytes_ideal ? (double)st->bytes_ideal : 1.0;
    fprintf(out, "scenario %s, seed %llu: %s", w->sc->name ? w->sc->name : "",
            (unsigned long long)w->seed,
            r->interrupted ? "INCOMPLETE"
            : r->ok        ? "OK"
                           : "FAILED");
    if (r->interrupted)
        fprintf(out,
                " (interrupted at %.1f s of %.1f s: the figures so far, "
                "expectations not judged)",
                (double)w->now / 1e9, (double)r->end_ns / 1e9);
    fputc('\n', out);
    fprintf(out, "  artifacts %llu, deliveries %llu of %llu\n",
            (unsigned long long)r->artifacts, (unsigned long long)r->deliveries,
            (unsigned long long)r->deliveries_expected);
    fprintf(out, "  latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
            ms(r->p50_ns), ms(r->p90_ns), ms(r->p99_ns), ms(r->max_ns));
    fprintf(out,
            "  bytes sent %.1f MiB = %.2fx ideal (push %.1f MiB, advert+fetch "
            "%.1f MiB, acks %.1f MiB)\n",
            (double)st->bytes_sent / 1048576.0, (double)st->bytes_sent / ideal,
            (double)st->bytes_by_traffic[P2P_TRAFFIC_PUSH] / 1048576.0,
            (double)advert_bytes(st) / 1048576.0,
            (double)st->bytes_by_traffic[P2P_TRAFFIC_ACK] / 1048576.0);
    fprintf(out,
            "  %llu events, %.1f s simulated of %s in %.2f s wall (%.0fx real "
            "time), peak core memory %.1f MiB (node %u)\n",
            (unsigned long long)st->events, (double)w->now / 1e9, end,
            r->wall_s, r->wall_s > 0 ? (double)w->now / 1e9 / r->wall_s : 0.0,
            (double)st->peak_memory_bytes / 1048576.0, st->peak_memory_node);
    fprintf(out,
            "  connections: %llu established, %llu dials failed, %llu broken "
            "by %s, %llu messages lost with them, %llu bans of "
            "honest peers\n",
            (unsigned long long)st->conns_established,
            (unsigned long long)st->dials_failed,
            (unsigned long long)st->conns_broken,
            /* On QUIC a connection also ends by a stall or a reset. */
            w->quic != NULL ? "the transport" : "idle timeout",
            (unsigned long long)st->messages_dropped,
            (unsigned long long)r->honest_bans);
    if (w->quic != NULL) {
        struct sim_quic_model_totals q;
        sim_quic_model_totals(w, &q);
        fprintf(out,
                "  quic model: %llu datagrams (%.1f MiB, the bytes sent "
                "above), %llu dropped (partition %llu, network %llu, nat "
                "%llu, node down %llu), %llu handshakes, %llu refused, "
                "%llu connections closed as stalled\n",
                (unsigned long long)q.datagrams_sent,
                (double)q.datagram_bytes_sent / 1048576.0,
                (unsigned long long)q.datagrams_dropped,
                (unsigned long long)q.dropped_partition,
                (unsigned long long)q.dropped_network,
                (unsigned long long)q.dropped_nat,
                (unsigned long long)q.dropped_down,
                (unsigned long long)q.handshakes,
                (unsigned long long)q.refusals, (unsigned long long)q.stalls);
    }
    for (size_t i = 0; i < r->byz_count; i++) {
        const struct sim_byz_result *b = &r->byz[i];
        fprintf(out,
                "  byzantine node %u (%s, %llu misdeeds): penalised %llu "
                "points by %u of %u honest nodes, disconnected %u times, "
                "banned by %u now\n",
                b->node, sim_scenario_byzantine_name(b->behaviour),
                (unsigned long long)b->misdeeds, (unsigned long long)b->points,
                b->penalised_by, b->honest, b->bans, b->banned_now);
    }
    sim_report_state_text(w, out);
    for (size_t i = 0; i < r->expects_count; i++)
        fprintf(out, "  %s %s: %s\n", r->expects[i].ok ? "ok  " : "FAIL",
                r->expects[i].name, r->expects[i].detail);
}

void sim_report_print(const struct sim_world *w, const struct sim_report *r,
                      bool json, FILE *out)
{
    if (json)
        print_json(w, r, out);
    else
        print_text(w, r, out);
}
