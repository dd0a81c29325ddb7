/* The workload: artifacts the nodes' clients make, from the scenario's
 * workload items, with sizes, senders and gaps drawn from the workload's
 * own PRNG stream. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/draws.h"
#include "sim/world.h"

int64_t sim_workload_artifact_find(const struct sim_world *w,
                                   const struct p2p_artifact_id *id)
{
    struct p2p_key key;
    memcpy(key.b, id->b, P2P_KEY_BYTES);
    uint32_t idx;
    return p2p_keymap_get(&w->artifact_by_id, &key, &idx) ? (int64_t)idx : -1;
}

/* Gap to the item's next artifact: fixed, or exponential with that mean. */
static p2p_time next_gap(struct sim_world *w,
                         const struct sim_workload_item *it)
{
    if (!it->poisson)
        return it->interval_ns;
    return sim_draws_exponential_ns(p2p_rng_u64(&w->workload_rng),
                                    it->interval_ns);
}

void sim_workload_start(struct sim_world *w)
{
    const struct sim_scenario *sc = w->sc;
    w->round_robin_next =
        calloc(sc->workload_count ? sc->workload_count : 1, sizeof(uint32_t));
    for (size_t i = 0; i < sc->workload_count; i++) {
        const struct sim_workload_item *it = &sc->workload[i];
        p2p_time first = it->start_ns + next_gap(w, it);
        if (first < it->stop_ns && first < sc->duration_ns)
            (void)sim_event_queue_push(
                &w->queue, &(struct sim_event){.time = first,
                                               .type = SIM_EV_WORKLOAD,
                                               .node = 0,
                                               .arg = i});
    }
}

/* Artifacts are made by live honest members only; P2P_NODE_NONE when the
 * item's node is not one now (that artifact is skipped). */
static uint32_t pick_creator(struct sim_world *w, uint32_t item)
{
    const struct sim_workload_item *it = &w->sc->workload[item];
    uint32_t n = w->nodes_count;
    switch (it->from) {
    case SIM_FROM_NODE:
        return sim_world_live_honest(w, it->from_node) ? it->from_node
                                                       : P2P_NODE_NONE;
    case SIM_FROM_ANY: {
        /* A uniform draw, then the next live one: one draw per artifact
         * whatever the faults, so the stream stays aligned. */
        uint32_t start = (uint32_t)p2p_rng_below(&w->workload_rng, n);
        for (uint32_t k = 0; k < n; k++)
            if (sim_world_live_honest(w, (start + k) % n))
                return (start + k) % n;
        return P2P_NODE_NONE;
    }
    case SIM_FROM_ROUND_ROBIN:
    default:
        for (uint32_t k = 0; k < n; k++) {
            uint32_t node = w->round_robin_next[item] % n;
            w->round_robin_next[item] = node + 1;
            if (sim_world_live_honest(w, node))
                return node;
        }
        return P2P_NODE_NONE;
    }
}

static uint32_t live_honest_count(const struct sim_world *w)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < w->nodes_count; i++)
        c += sim_world_live_honest(w, i);
    return c;
}

/* Unique content: the artifact's sequence number and the seed up front, the
 * rest from a PRNG stream of its own. */
/* Fills body[0..size) with artifact seq's bytes. */
static void fill_body(const struct sim_world *w, uint64_t seq, uint64_t size,
                      uint8_t *body)
{
    struct p2p_rng r;
    p2p_rng_init(&r, w->seed, 0x617274ULL + seq);
    size_t i = 0;
    for (; i + 4 <= size; i += 4) {
        uint32_t x = p2p_rng_u32(&r);
        memcpy(body + i, &x, 4);
    }
    for (; i < size; i++)
        body[i] = (uint8_t)p2p_rng_u32(&r);
    for (size_t k = 0; k < 8 && k < size; k++)
        body[k] = (uint8_t)(seq >> (8 * k));
}

/* A shared body (core/body.h, uncharged: the pools that take it charge
 * their nodes), so its id is hashed once however many nodes hold it. */
static struct p2p_body *make_body(const struct sim_world *w, uint64_t seq,
                                  uint64_t size)
{
    struct p2p_body *b = p2p_body_new(NULL, P2P_MEM_POOL, size);
    if (b != NULL)
        fill_body(w, seq, size, b->bytes);
    return b;
}

struct p2p_body *sim_workload_artifact_body(const struct sim_world *w,
                                            size_t index)
{
    return make_body(w, index, w->artifacts[index].size);
}

static int record(struct sim_world *w, const struct p2p_artifact_id *id,
                  enum p2p_artifact_kind kind, uint64_t size, uint32_t creator)
{
    if (w->artifacts_count == w->artifacts_capacity) {
        size_t cap = w->artifacts_capacity ? w->artifacts_capacity * 2 : 1024;
        struct sim_artifact *a = realloc(w->artifacts, cap * sizeof(*a));
        if (a == NULL)
            return P2P_ERR_NOMEM;
        w->artifacts = a;
        w->artifacts_capacity = cap;
    }
    struct sim_artifact *art = &w->artifacts[w->artifacts_count];
    memset(art, 0, sizeof(*art));
    art->delivered = calloc((w->nodes_count + 7) / 8, 1);
    if (art->delivered == NULL)
        return P2P_ERR_NOMEM;
    struct p2p_key key;
    memcpy(key.b, id->b, P2P_KEY_BYTES);
    int rc =
        p2p_keymap_put(&w->artifact_by_id, &key, (uint32_t)w->artifacts_count);
    if (rc != 0) {
        free(art->delivered);
        return rc;
    }
    art->id = *id;
    art->kind = kind;
    art->size = size;
    art->creator = creator;
    art->created = w->now;
    art->expired = P2P_TIME_NEVER;
    art->height = w->height;
    w->artifacts_count++;
    w->stats.bytes_ideal += size * (live_honest_count(w) - 1);
    return 0;
}

void sim_workload_fire(struct sim_world *w, uint32_t item)
{
    const struct sim_workload_item *it = &w->sc->workload[item];
    uint32_t creator = pick_creator(w, item);
    p2p_time next = w->now + next_gap(w, it);
    if (next < it->stop_ns && next < w->sc->duration_ns)
        (void)sim_event_queue_push(
            &w->queue,
            &(struct sim_event){
                .time = next, .type = SIM_EV_WORKLOAD, .node = 0, .arg = item});
    if (creator == P2P_NODE_NONE)
        return;
    uint64_t size = it->size_bytes;
    if (it->size_max_bytes > it->size_bytes)
        size += p2p_rng_below(&w->workload_rng,
                              it->size_max_bytes - it->size_bytes + 1);
    struct p2p_body *body = make_body(w, w->artifacts_count, size);
    if (body == NULL) {
        sim_world_violation(w, "out of memory making a %llu-byte artifact",
                            (unsigned long long)size);
        return;
    }
    struct p2p_artifact_id id = *p2p_body_id(body);
    if (record(w, &id, it->kind, size, creator) != 0) {
        p2p_body_release(body, NULL, P2P_MEM_POOL);
        sim_world_violation(w, "artifact table bound (%u) reached",
                            SIM_ARTIFACTS_MAX);
        return;
    }
    int rc = p2p_node_insert_at_height(w->nodes[creator].core,
                                       sim_world_local_now(w, creator),
                                       it->kind, body, w->height, NULL);
    p2p_body_release(body, NULL, P2P_MEM_POOL);
    char hex[17];
    p2p_id_hex(&id, hex, 16);
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, creator, "create",
                       "id=%s %s bytes=%llu rc=%d", hex,
                       p2p_kind_name(it->kind), (unsigned long long)size, rc);
    if (rc != 0)
        sim_world_violation(w, "node %u refused its own artifact %s: %s",
                            creator, hex, p2p_strerror(rc));
    sim_world_mark(w, creator);
    /* Queued after what the creator sends now. */
    struct sim_event expire = {.time = w->now + w->artifact_ttl_ns,
                               .type = SIM_EV_EXPIRE,
                               .node = creator,
                               .arg = w->artifacts_count - 1};
    if (expire.time <= w->end)
        sim_world_push_after_drain(w, &expire, true);
}

void sim_workload_heights_start(struct sim_world *w)
{
    if (!w->sc->protocol.has_heights)
        return;
    w->height = 1;
    p2p_time first = w->sc->protocol.height_every_ns;
    if (first <= w->sc->duration_ns)
        sim_world_push_event(
            w, &(struct sim_event){.time = first, .type = SIM_EV_HEIGHT});
}

void sim_workload_height_tick(struct sim_world *w)
{
    const struct sim_protocol *pr = &w->sc->protocol;
    w->height++;
    uint64_t purge =
        w->height >= pr->height_keep ? w->height + 1 - pr->height_keep : 0;
    uint64_t purged = 0;
    if (purge > w->purge_height) {
        w->purge_height = purge;
        /* The clients no longer want them (sim_bouncer); a TTL expiry
         * later finds them gone. */
        for (; w->height_purge_next < w->artifacts_count &&
               w->artifacts[w->height_purge_next].height < purge;
             w->height_purge_next++) {
            struct sim_artifact *a = &w->artifacts[w->height_purge_next];
            if (a->expired == P2P_TIME_NEVER) {
                a->expired = w->now;
                purged++;
            }
        }
        for (uint32_t i = 0; i < w->nodes_count; i++) {
            if (!w->nodes[i].running)
                continue;
            int rc = p2p_node_purge_below(w->nodes[i].core,
                                          sim_world_local_now(w, i), purge);
            if (rc != 0)
                sim_world_violation(w, "node %u refused purge height %llu: %s",
                                    i, (unsigned long long)purge,
                                    p2p_strerror(rc));
            sim_world_mark(w, i);
        }
    }
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, 0, "height",
                       "height=%llu purge_below=%llu purged=%llu",
                       (unsigned long long)w->height,
                       (unsigned long long)w->purge_height,
                       (unsigned long long)purged);
    /* Queued after what the nodes send now. */
    struct sim_event next = {.time = w->now + pr->height_every_ns,
                             .type = SIM_EV_HEIGHT};
    if (next.time <= w->sc->duration_ns)
        sim_world_push_after_drain(w, &next, false);
}
