/* The consensus manager's receiver and the artifact RPC server: per-peer
 * slot views (a newer commit id replaces an older one), pushed artifacts go
 * to the unvalidated pool, adverts go to the downloader; fetches of our
 * validated artifacts are answered (the IC's consensus manager receiver and its artifact assembler). */
#include "core/gossip_receiver.h"

#include <string.h>

#include "p2p.pb-c.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/intake.h"
#include "core/status.h"
#include "core/wire.h"
#include "core/wire_pack.h"

void p2p__gossip_receiver_init(struct p2p_gossip_receiver *r,
                               const struct p2p_env *env,
                               struct p2p_streams *streams,
                               struct p2p_downloader *dl)
{
    memset(r, 0, sizeof(*r));
    r->env = env;
    r->streams = streams;
    r->dl = dl;
}

void p2p__gossip_receiver_fini(struct p2p_gossip_receiver *r)
{
    for (uint32_t i = 0; i < r->peers_capacity; i++)
        p2p_mem_free(r->env->mem, P2P_MEM_RECEIVER, r->peers[i].slots);
    p2p_mem_free(r->env->mem, P2P_MEM_RECEIVER, r->peers);
    r->peers = NULL;
    r->peers_capacity = 0;
}

int p2p__gossip_receiver_peer_fit(struct p2p_gossip_receiver *r,
                                  p2p_node_id peer)
{
    return p2p__table_array_fit(
        r->env->mem, P2P_MEM_RECEIVER, (void **)&r->peers, &r->peers_capacity,
        sizeof(*r->peers), peer, r->env->cfg->node_ids_max);
}

int p2p__gossip_receiver_check(const struct p2p_gossip_receiver *r)
{
    for (uint32_t i = 0; i < r->peers_capacity; i++) {
        const struct p2p_rx_peer *p = &r->peers[i];
        uint32_t used = 0;
        for (uint32_t s = 0; s < p->slots_capacity; s++)
            used += p->slots[s].used;
        if (used != p->slots_used)
            return P2P_ERR_INTERNAL;
    }
    return 0;
}

static int respond_packed(struct p2p_gossip_receiver *r, p2p_node_id peer,
                          uint64_t stream_id, enum p2p_traffic traffic,
                          uint32_t status, const ProtobufCMessage *msg)
{
    uint8_t *body = NULL;
    size_t len = 0;
    int rc = 0;
    if (msg != NULL)
        rc = p2p_wire_pack(r->env->mem, P2P_MEM_WIRE, msg, &body, &len);
    if (rc == 0) {
        struct p2p_stream_resp resp = {.peer = peer,
                                       .stream_id = stream_id,
                                       .traffic = traffic,
                                       .status = status,
                                       .body = body,
                                       .len = len};
        rc = p2p__streams_respond(r->streams, &resp); /* resets on failure */
    } else {
        /* Never leave a requester waiting out its deadline. */
        p2p__streams_reset(r->streams, peer, stream_id);
    }
    p2p_mem_free(r->env->mem, P2P_MEM_WIRE, body);
    return rc;
}

/* A pushed body the bouncer wants: into the unvalidated pool, which ends
 * its download if any. */
static void accept(struct p2p_gossip_receiver *r, p2p_time now,
                   p2p_node_id peer, const struct p2p_artifact_id *id,
                   enum p2p_artifact_kind kind, const uint8_t *body, size_t len)
{
    struct p2p_intake in = {
        .peer = peer, .id = id, .kind = kind, .body = body, .len = len};
    if (p2p__intake_accept(r->env, now, &in) == 0)
        p2p__downloader_done(r->dl, id);
}

/* Checks a decoded update's content before any state changes. */
static int check_update(const struct p2p_gossip_receiver *r,
                        const P2p__V1__SlotUpdate *u)
{
    if (u->slot_id >= r->env->cfg->slots_per_peer_max)
        return P2P_ERR_LIMIT;
    switch (u->update_case) {
    case P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT:
        if (u->artifact == NULL || u->artifact->kind >= P2P_KINDS_COUNT ||
            (u->artifact->id.len != 0 && u->artifact->id.len != P2P_ID_BYTES))
            return P2P_ERR_DECODE;
        return 0;
    case P2P__V1__SLOT_UPDATE__UPDATE_REF:
        if (u->ref == NULL || u->ref->id.len != P2P_ID_BYTES ||
            u->ref->kind >= P2P_KINDS_COUNT)
            return P2P_ERR_DECODE;
        return 0;
    case P2P__V1__SLOT_UPDATE__UPDATE_DELETED:
        return 0;
    default:
        return P2P_ERR_DECODE;
    }
}

/* Offers an advertised id to the downloader; when there is no room now,
 * the view remembers it. */
static void offer(struct p2p_gossip_receiver *r, p2p_time now, p2p_node_id peer,
                  uint32_t slot, const struct p2p_slot_view *v,
                  enum p2p_artifact_kind kind, uint64_t size)
{
    (void)p2p__downloader_advertised(r->dl, now, peer, slot, &v->id, kind,
                                     size);
}

/* Acts on the slot's new content: pushed bodies are offered to the pool,
 * advertised ids to the downloader. */
static void act_on_update(struct p2p_gossip_receiver *r, p2p_time now,
                          p2p_node_id peer, const struct p2p_slot_view *v,
                          const P2p__V1__SlotUpdate *u,
                          const struct p2p_artifact_id *id)
{
    if (u->update_case == P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT) {
        r->env->metrics->pushes_received++;
        if (p2p_pool_get(r->env->pool, id) != NULL)
            return;
        enum p2p_artifact_kind kind = u->artifact->kind;
        uint64_t size = u->artifact->body.len;
        switch (r->env->bouncer(r->env->bouncer_ctx, id, kind, size)) {
        case P2P_WANTS:
            accept(r, now, peer, id, kind, u->artifact->body.data, size);
            break;
        case P2P_MAYBE_WANTS_LATER:
            /* Drop the bytes; fetch from this peer when wanted. */
            offer(r, now, peer, (uint32_t)u->slot_id, v, kind, size);
            break;
        case P2P_UNWANTED:
            break;
        }
    } else if (u->update_case == P2P__V1__SLOT_UPDATE__UPDATE_REF) {
        r->env->metrics->adverts_received++;
        if (p2p_pool_get(r->env->pool, id) == NULL)
            offer(r, now, peer, (uint32_t)u->slot_id, v, u->ref->kind,
                  u->ref->size);
    }
}

/* The id a slot update names. A push's claimed id is trusted only when we
 * already hold that artifact (its body is then ignored); otherwise the body
 * is hashed and must match the claim. */
static int update_id(struct p2p_gossip_receiver *r,
                     const P2p__V1__SlotUpdate *u, struct p2p_artifact_id *id)
{
    memset(id, 0, sizeof(*id));
    if (u->update_case == P2P__V1__SLOT_UPDATE__UPDATE_REF) {
        memcpy(id->b, u->ref->id.data, P2P_ID_BYTES);
        return 0;
    }
    if (u->update_case != P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT)
        return 0;
    const P2p__V1__Artifact *art = u->artifact;
    if (art->id.len == P2P_ID_BYTES) {
        memcpy(id->b, art->id.data, P2P_ID_BYTES);
        if (p2p_pool_get(r->env->pool, id) != NULL)
            return 0;
    }
    struct p2p_artifact_id got;
    p2p_id_of(art->body.data, art->body.len, &got);
    if (art->id.len == P2P_ID_BYTES && !p2p_id_eq(&got, id)) {
        r->env->metrics->id_mismatches++;
        return P2P_ERR_ID_MISMATCH;
    }
    *id = got;
    return 0;
}

static int on_update(struct p2p_gossip_receiver *r, p2p_time now,
                     p2p_node_id peer, const P2p__V1__SlotUpdate *u)
{
    int rc = check_update(r, u);
    if (rc != 0)
        return rc;
    P2P_ASSERT(peer < r->peers_capacity);
    struct p2p_rx_peer *p = &r->peers[peer];
    rc = p2p__table_array_fit(r->env->mem, P2P_MEM_RECEIVER, (void **)&p->slots,
                              &p->slots_capacity, sizeof(*p->slots),
                              (uint32_t)u->slot_id,
                              r->env->cfg->slots_per_peer_max);
    if (rc != 0)
        return rc;
    r->env->metrics->updates_received++;
    struct p2p_slot_view *v = &p->slots[u->slot_id];
    if (v->seen && u->commit_id <= v->commit_id) {
        r->env->metrics->updates_stale++;
        /* A repeat of the same commit is a harmless retransmission. */
        if (u->commit_id < v->commit_id)
            p2p__ledger_penalise(r->env->ledger, now, peer,
                                 P2P_PENALTY_STALE_UPDATE);
        p2p_outbox_event(r->env->outbox, P2P_EV_UPDATE_STALE, peer, &v->id,
                         (int64_t)u->commit_id);
        return 0;
    }
    struct p2p_artifact_id id;
    rc = update_id(r, u, &id);
    if (rc != 0)
        return rc;
    struct p2p_slot_view old = *v;
    p2p__downloader_slot_changed(r->dl, peer, (uint32_t)u->slot_id);
    bool deleted = u->update_case == P2P__V1__SLOT_UPDATE__UPDATE_DELETED;
    v->used = !deleted;
    v->seen = true;
    v->commit_id = u->commit_id;
    v->id = id;
    p->slots_used += (uint32_t)v->used - (uint32_t)old.used;
    /* Advertise the new id before withdrawing the old one, so an id that
     * stays in the slot keeps its download. */
    act_on_update(r, now, peer, v, u, &id);
    if (old.used)
        p2p__downloader_unadvertised(r->dl, now, peer, &old.id);
    return 0;
}

/* A request this node could not handle for lack of its own memory: the
 * stream is reset, so the requester retries (here later, or elsewhere)
 * and blames no one; a 400 would call the request malformed, a 204 would
 * say the artifact is not held. */
static int refuse_for_now(struct p2p_gossip_receiver *r, p2p_node_id peer,
                          uint64_t stream_id)
{
    r->env->metrics->requests_refused_nomem++;
    p2p__streams_reset(r->streams, peer, stream_id);
    return P2P_ERR_NOMEM;
}

int p2p__gossip_receiver_on_update(struct p2p_gossip_receiver *r, p2p_time now,
                                   p2p_node_id peer, uint64_t stream_id,
                                   const struct p2p_frame *f)
{
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, r->env->mem);
    ProtobufCAllocator alloc = ua.base; /* a copy: its data is still &ua */
    P2p__V1__SlotUpdate *u =
        p2p__v1__slot_update__unpack(&alloc, f->body_len, f->body);
    if (u == NULL && ua.refused)
        return refuse_for_now(r, peer, stream_id); /* our memory, not them */
    int rc = u == NULL ? P2P_ERR_DECODE : on_update(r, now, peer, u);
    if (rc == P2P_ERR_NOMEM) { /* the slot table could not grow */
        p2p__v1__slot_update__free_unpacked(u, &alloc);
        return refuse_for_now(r, peer, stream_id);
    }
    if (rc != 0) {
        r->env->metrics->updates_rejected++;
        if (rc == P2P_ERR_ID_MISMATCH)
            p2p__ledger_penalise(r->env->ledger, now, peer,
                                 P2P_PENALTY_WRONG_BYTES);
        else if (rc == P2P_ERR_DECODE || rc == P2P_ERR_LIMIT)
            p2p__ledger_penalise(r->env->ledger, now, peer,
                                 P2P_PENALTY_BAD_UPDATE);
        if (u != NULL)
            p2p__v1__slot_update__free_unpacked(u, &alloc);
        (void)respond_packed(r, peer, stream_id, P2P_TRAFFIC_OTHER,
                             P2P_STATUS_BAD_REQUEST, NULL);
        return rc;
    }
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    ack.slot_id = u->slot_id;
    ack.commit_id = u->commit_id;
    p2p__v1__slot_update__free_unpacked(u, &alloc);
    return respond_packed(r, peer, stream_id, P2P_TRAFFIC_ACK, P2P_STATUS_OK,
                          &ack.base);
}

int p2p__gossip_receiver_on_fetch(struct p2p_gossip_receiver *r,
                                  p2p_node_id peer, uint64_t stream_id,
                                  const struct p2p_frame *f)
{
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, r->env->mem);
    ProtobufCAllocator alloc = ua.base; /* a copy: its data is still &ua */
    P2p__V1__FetchRequest *req =
        p2p__v1__fetch_request__unpack(&alloc, f->body_len, f->body);
    if (req == NULL && ua.refused)
        return refuse_for_now(r, peer, stream_id);
    if (req == NULL || req->id.len != P2P_ID_BYTES) {
        if (req != NULL)
            p2p__v1__fetch_request__free_unpacked(req, &alloc);
        (void)respond_packed(r, peer, stream_id, P2P_TRAFFIC_OTHER,
                             P2P_STATUS_BAD_REQUEST, NULL);
        return P2P_ERR_DECODE;
    }
    struct p2p_artifact_id id;
    memcpy(id.b, req->id.data, P2P_ID_BYTES);
    p2p__v1__fetch_request__free_unpacked(req, &alloc);
    const struct p2p_pool_entry *e = p2p_pool_get(r->env->pool, &id);
    if (e == NULL || e->section != P2P_POOL_VALIDATED) {
        r->env->metrics->fetches_not_found++;
        return respond_packed(r, peer, stream_id, P2P_TRAFFIC_ARTIFACT,
                              P2P_STATUS_NO_CONTENT, NULL);
    }
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = e->kind;
    art.body.data = (uint8_t *)e->body; /* packed, not changed */
    art.body.len = e->len;
    r->env->metrics->fetches_served++;
    return respond_packed(r, peer, stream_id, P2P_TRAFFIC_ARTIFACT,
                          P2P_STATUS_OK, &art.base);
}

void p2p__gossip_receiver_peer_down(struct p2p_gossip_receiver *r, p2p_time now,
                                    p2p_node_id peer)
{
    P2P_ASSERT(peer < r->peers_capacity);
    struct p2p_rx_peer *p = &r->peers[peer];
    p2p__downloader_peer_down(r->dl, peer);
    for (uint32_t i = 0; i < p->slots_capacity; i++)
        if (p->slots[i].used)
            p2p__downloader_unadvertised(r->dl, now, peer, &p->slots[i].id);
    p2p_mem_free(r->env->mem, P2P_MEM_RECEIVER, p->slots);
    p->slots = NULL;
    p->slots_capacity = 0;
    p->slots_used = 0;
}
