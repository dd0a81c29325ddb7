/* Byzantine peers (the scenario's `byzantine` fault, docs/scenario-format.md). A
 * byzantine node keeps its honest core for connections, and the simulator
 * makes it misbehave around it:
 *   silent        accepts connections and streams, never reads or answers
 *                 (it only sends its state adverts);
 *   slow-reader   reads at 1 KiB/s (its downlink);
 *   garbage       opens streams carrying bytes that are no envelope;
 *   oversize      opens streams whose body is past the route's limit;
 *   advert-flood  adverts for ids that never exist, in ever new slots;
 *   wrong-bytes   answers fetches with bytes that do not match the id;
 *   stale-commit  slot updates with commit ids older than the slot's;
 *   bad-chunks    serves state chunks whose bytes do not match (its
 *                 store flips a byte of every chunk it serves);
 * and wrong-bytes also makes artifacts of its own to serve wrongly, so
 * that honest nodes fetch from it even when others are quicker. 
 * Forged bytes come from sim/byzantine_forge.c; choices from the fault
 * PRNG stream, so honest nodes' randomness is untouched. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/byzantine_forge.h"
#include "sim/world.h"

#define SLOW_READER_BPS 8192ULL /* 1 KiB/s */
#define GARBAGE_EVERY_NS (100 * P2P_NS_PER_MS)
#define OVERSIZE_EVERY_NS (200 * P2P_NS_PER_MS)
#define FLOOD_EVERY_NS (20 * P2P_NS_PER_MS)
#define STALE_EVERY_NS (100 * P2P_NS_PER_MS)
#define OWN_ARTIFACT_EVERY_NS (200 * P2P_NS_PER_MS)
/* The quic model's packet-level misdeeds (sim/quic_model.c). */
#define GARBAGE_DATAGRAMS_EVERY_NS (50 * P2P_NS_PER_MS)
#define HANDSHAKE_FLOOD_EVERY_NS (100 * P2P_NS_PER_MS)
#define OWN_ARTIFACT_BYTES 4096u
#define FLOOD_SLOTS 100000u /* past the honest per-peer slot limit */
#define STALE_SLOTS 64u     /* the low slots an honest sender uses first */
#define FORGED_STREAM_BASE (1ULL << 62) /* clear of the core's stream ids */

static p2p_time period(enum sim_byzantine b)
{
    switch (b) {
    case SIM_BYZ_GARBAGE:
        return GARBAGE_EVERY_NS;
    case SIM_BYZ_OVERSIZE:
        return OVERSIZE_EVERY_NS;
    case SIM_BYZ_ADVERT_FLOOD:
        return FLOOD_EVERY_NS;
    case SIM_BYZ_STALE_COMMIT:
        return STALE_EVERY_NS;
    case SIM_BYZ_WRONG_BYTES:
        return OWN_ARTIFACT_EVERY_NS;
    case SIM_BYZ_GARBAGE_DATAGRAMS:
        return GARBAGE_DATAGRAMS_EVERY_NS;
    case SIM_BYZ_HANDSHAKE_FLOOD:
        return HANDSHAKE_FLOOD_EVERY_NS;
    default:
        return 0;
    }
}

void sim_byzantine_start(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    if (sn->byz_next_stream == 0)
        sn->byz_next_stream = FORGED_STREAM_BASE;
    if (sn->behaviour == SIM_BYZ_SLOW_READER) {
        w->net.downlink_bps[node] = SLOW_READER_BPS;
        if (w->quic != NULL)
            sim_quic_model_byzantine_start(w, node);
    }
    if (sn->behaviour == SIM_BYZ_BAD_CHUNKS && sn->store_ready)
        sn->store.corrupt = true;
    p2p_time p = period(sn->behaviour);
    if (p != 0 && !sn->byz_ticking) {
        sn->byz_ticking = true;
        sim_world_push_event(w, &(struct sim_event){.time = w->now + p,
                                                    .type = SIM_EV_BYZANTINE,
                                                    .node = node});
    }
}

bool sim_byzantine_reads(const struct sim_world *w, uint32_t node)
{
    const struct sim_node *sn = &w->nodes[node];
    return !(sn->byzantine && sn->behaviour == SIM_BYZ_SILENT);
}

static struct sim_msg *new_msg(struct sim_world *w, uint32_t to,
                               uint64_t stream_id, enum p2p_traffic traffic,
                               uint8_t *bytes, size_t len)
{
    struct sim_msg *m = sim_world_msg_new(w, 0);
    if (m == NULL)
        return NULL;
    m->kind = SIM_MSG_DATA;
    m->to = to;
    m->stream_id = stream_id;
    m->inbound = true;
    m->traffic = traffic;
    sim_world_msg_set_bytes(m, bytes, len);
    m->len = len;
    return m;
}

static void send_forged(struct sim_world *w, uint32_t node, uint32_t peer,
                        enum p2p_traffic traffic, uint8_t *bytes, size_t len)
{
    struct sim_node *sn = &w->nodes[node];
    struct sim_msg *m =
        new_msg(w, peer, sn->byz_next_stream++, traffic, bytes, len);
    if (m == NULL) {
        free(bytes);
        sim_world_violation(w, "out of memory forging a message");
        return;
    }
    m->from = node;
    sn->byz_misdeeds++;
    sim_uplink_send(w, node, m);
}

static void random_id(struct sim_world *w, struct p2p_artifact_id *id)
{
    for (size_t k = 0; k < P2P_ID_BYTES; k += 4) {
        uint32_t x = p2p_rng_u32(&w->fault_rng);
        memcpy(id->b + k, &x, 4);
    }
}

/* wrong-bytes: an artifact only it holds, so honest nodes must fetch it
 * from this node (and always get wrong bytes). Never owed to anyone. */
static void make_own_artifact(struct sim_world *w, uint32_t node)
{
    /* Past the push threshold, so it is advertised and fetched (a push
     * would carry intact bytes: only fetch answers are corrupted). */
    uint64_t size = p2p_node_config(w->nodes[node].core)->push_threshold_bytes;
    size = size < OWN_ARTIFACT_BYTES ? OWN_ARTIFACT_BYTES : size + 4;
    if (size > P2P_ARTIFACT_BYTES_MAX)
        return; /* everything is pushed: nothing to serve wrongly */
    uint8_t *body = malloc(size);
    if (body == NULL) {
        sim_world_violation(w, "out of memory forging an artifact");
        return;
    }
    for (size_t k = 0; k + 4 <= size; k += 4) {
        uint32_t x = p2p_rng_u32(&w->fault_rng);
        memcpy(body + k, &x, 4);
    }
    (void)p2p_node_insert(w->nodes[node].core, sim_world_local_now(w, node),
                          P2P_KIND_ADVERT, body, size, NULL);
    free(body);
    sim_world_mark(w, node);
}

static void misdeed(struct sim_world *w, uint32_t node, uint32_t peer)
{
    struct sim_node *sn = &w->nodes[node];
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = 0;
    enum p2p_traffic traffic = P2P_TRAFFIC_OTHER;
    switch (sn->behaviour) {
    case SIM_BYZ_GARBAGE:
        len = 64 + p2p_rng_below(&w->fault_rng, 4096);
        rc = sim_byzantine_forge_garbage(&w->fault_rng, len, &bytes);
        break;
    case SIM_BYZ_OVERSIZE:
        /* Past the route's limit (every node is configured alike), which
         * the target learns from the length before any body byte. */
        rc = sim_byzantine_forge_oversize(P2P_ROUTE_ARTIFACT_UPDATE,
                                          &p2p_node_config(sn->core)->routes,
                                          4096, &bytes, &len);
        break;
    case SIM_BYZ_STALE_COMMIT: {
        struct p2p_artifact_id id;
        random_id(w, &id);
        uint32_t slot = (uint32_t)p2p_rng_below(&w->fault_rng, STALE_SLOTS);
        const struct sim_byzantine_forge_advert_spec spec = {
            .slot = slot, .id = &id, .kind = P2P_KIND_ADVERT, .size = 1024};
        rc = sim_byzantine_forge_advert(&spec, &bytes, &len);
        traffic = P2P_TRAFFIC_ADVERT;
        break;
    }
    case SIM_BYZ_ADVERT_FLOOD: {
        struct p2p_artifact_id id;
        random_id(w, &id);
        uint32_t slot = sn->byz_next_slot++ % FLOOD_SLOTS;
        uint64_t size = 1024 + p2p_rng_below(&w->fault_rng, 1u << 20);
        const struct sim_byzantine_forge_advert_spec spec = {
            .slot = slot,
            .commit_id = sn->byz_next_stream,
            .id = &id,
            .kind = P2P_KIND_ADVERT,
            .size = size};
        rc = sim_byzantine_forge_advert(&spec, &bytes, &len);
        traffic = P2P_TRAFFIC_ADVERT;
        break;
    }
    default:
        return;
    }
    if (rc != 0) {
        sim_world_violation(w, "byzantine node %u could not forge: %s", node,
                            p2p_strerror(rc));
        return;
    }
    send_forged(w, node, peer, traffic, bytes, len);
}

void sim_byzantine_tick(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    if (!sn->running || !sn->byzantine) {
        sn->byz_ticking = false; /* a restart starts it again */
        return;
    }
    if (sn->behaviour == SIM_BYZ_WRONG_BYTES) {
        make_own_artifact(w, node);
    } else if (sn->behaviour == SIM_BYZ_GARBAGE_DATAGRAMS ||
               sn->behaviour == SIM_BYZ_HANDSHAKE_FLOOD) {
        sim_quic_model_byzantine_tick(w, node);
    } else {
        for (uint32_t p = 0; p < w->nodes_count && !w->stop; p++)
            if (p != node && w->nodes[p].running &&
                (w->quic != NULL
                     ? sim_quic_model_up(w, node, p)
                     : sim_conn_of(w, node, p)->state == SIM_CONN_UP))
                misdeed(w, node, p);
    }
    p2p_time p = period(sn->behaviour);
    if (p == 0) {
        sn->byz_ticking = false; /* its behaviour changed to a passive one */
        return;
    }
    /* Queued after what its own artifact makes it send now. */
    sim_world_push_after_drain(w,
                               &(struct sim_event){.time = w->now + p,
                                                   .type = SIM_EV_BYZANTINE,
                                                   .node = node},
                               false);
}

bool sim_byzantine_outgoing(struct sim_world *w, uint32_t node,
                            struct sim_msg *m, const struct p2p_action *a)
{
    struct sim_node *sn = &w->nodes[node];
    if (!sn->byzantine)
        return true;
    switch (sn->behaviour) {
    case SIM_BYZ_SILENT:
        /* It still announces its state: the worst case for a syncer, which
         * sends it requests that can only time out. */
        return a->type == P2P_ACT_STREAM_OPEN &&
               a->route == P2P_ROUTE_STATE_ADVERT;
    case SIM_BYZ_WRONG_BYTES: {
        if (a->type != P2P_ACT_STREAM_RESPOND ||
            a->traffic != P2P_TRAFFIC_ARTIFACT)
            return true;
        uint8_t *out = NULL;
        size_t len = 0;
        /* Changed bytes are a body of their own: the shared one stays. */
        if (sim_world_msg_flatten(m) &&
            sim_byzantine_forge_corrupt_response(m->bytes, m->len, &out,
                                                 &len) == 1) {
            sim_world_msg_set_bytes(m, out, len);
            m->len = len;
            sn->byz_misdeeds++;
        }
        return true;
    }
    default:
        return true;
    }
}
