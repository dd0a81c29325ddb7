/* The consensus manager's receiver and the artifact RPC server: per-peer
 * slot views (a newer commit id replaces an older one), pushed artifacts go
 * to the unvalidated pool, adverts go to the downloader; fetches of our
 * validated artifacts are answered (IC-REFERENCE 12.4, 12.5). */
#include <string.h>

#include "p2p.pb-c.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/node.h"
#include "core/wire.h"
#include "core/wire_pack.h"

enum { STATUS_OK = 200, STATUS_NO_CONTENT = 204, STATUS_BAD_REQUEST = 400 };

static int respond_packed(struct p2p_node *n, p2p_node_id peer,
                          uint64_t stream_id, enum p2p_traffic traffic,
                          uint32_t status, const ProtobufCMessage *msg)
{
    uint8_t *body = NULL;
    size_t len = 0;
    int rc = 0;
    if (msg != NULL)
        rc = p2p_wire_pack(n->mem, P2P_MEM_WIRE, msg, &body, &len);
    if (rc == 0)
        rc = p2p__stream_respond(n, peer, stream_id, traffic, status, body,
                                 len);
    p2p_mem_free(n->mem, P2P_MEM_WIRE, body);
    if (rc != 0) {
        /* Never leave a requester waiting out its deadline. */
        struct p2p_action a = {.type = P2P_ACT_STREAM_RESET, .peer = peer,
                               .stream_id = stream_id, .inbound = true};
        (void)p2p_outbox_push(&n->outbox, &a);
    }
    return rc;
}

int p2p__receiver_accept(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                         const struct p2p_artifact_id *id,
                         enum p2p_artifact_kind kind, const uint8_t *body,
                         size_t len)
{
    if (p2p_pool_get(&n->pool, id) != NULL)
        return P2P_ERR_EXISTS;
    int rc = p2p_pool_insert(&n->pool, P2P_POOL_UNVALIDATED, id, kind, body,
                             len, peer, now);
    if (rc == P2P_ERR_LIMIT) {
        n->metrics.pool_full++;
        p2p_outbox_event(&n->outbox, P2P_EV_POOL_FULL, peer, id, (int64_t)len);
    }
    if (rc != 0)
        return rc;
    struct p2p_action a = {.type = P2P_ACT_ARTIFACT_RECEIVED, .peer = peer,
                           .id = *id, .kind = kind, .size = len};
    rc = p2p_outbox_push(&n->outbox, &a);
    if (rc != 0) {
        /* The client would never hear of it: take it back out. */
        (void)p2p_pool_remove(&n->pool, id);
        return rc;
    }
    p2p__downloader_done(n, id);
    n->metrics.artifacts_received++;
    return 0;
}

/* Checks a decoded update's content before any state changes. */
static int check_update(const struct p2p_node *n, const P2p__V1__SlotUpdate *u)
{
    if (u->slot_id >= n->cfg.slots_per_peer_max)
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

static void set_pending(struct p2p_node *n, struct p2p_slot_view *v,
                        bool pending)
{
    if (v->pending == pending)
        return;
    v->pending = pending;
    if (pending)
        n->views_pending++;
    else
        n->views_pending--;
}

/* Offers an advertised id to the downloader; when there is no room now,
 * the view remembers it. */
static void offer(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                  struct p2p_slot_view *v, enum p2p_artifact_kind kind,
                  uint64_t size)
{
    v->kind = kind;
    v->size = size;
    int rc = p2p__downloader_advertised(n, now, peer, &v->id, kind, size);
    set_pending(n, v, rc != 0);
}

void p2p__receiver_mark_pending(struct p2p_node *n, p2p_time now,
                                p2p_node_id peer,
                                const struct p2p_artifact_id *id)
{
    (void)now;
    if (peer >= n->peers_capacity)
        return;
    struct p2p_peer *p = &n->peers[peer];
    for (uint32_t s = 0; s < p->slots_capacity; s++)
        if (p->slots[s].used && p2p_id_eq(&p->slots[s].id, id))
            set_pending(n, &p->slots[s], true);
}

void p2p__receiver_retry_pending(struct p2p_node *n, p2p_time now)
{
    for (p2p_node_id peer = 0; peer < n->peers_capacity; peer++) {
        struct p2p_peer *p = &n->peers[peer];
        for (uint32_t s = 0; s < p->slots_capacity && n->views_pending; s++) {
            struct p2p_slot_view *v = &p->slots[s];
            if (!v->pending)
                continue;
            if (p2p_pool_get(&n->pool, &v->id) != NULL)
                set_pending(n, v, false);
            else
                offer(n, now, peer, v, v->kind, v->size);
        }
    }
}

/* Acts on the slot's new content: pushed bodies are offered to the pool,
 * advertised ids to the downloader. */
static void act_on_update(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                          struct p2p_slot_view *v, const P2p__V1__SlotUpdate *u,
                          const struct p2p_artifact_id *id)
{
    if (u->update_case == P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT) {
        n->metrics.pushes_received++;
        if (p2p_pool_get(&n->pool, id) != NULL)
            return;
        enum p2p_artifact_kind kind = u->artifact->kind;
        uint64_t size = u->artifact->body.len;
        switch (n->bouncer(n->bouncer_ctx, id, kind, size)) {
        case P2P_WANTS:
            (void)p2p__receiver_accept(n, now, peer, id, kind,
                                       u->artifact->body.data, size);
            break;
        case P2P_MAYBE_WANTS_LATER:
            /* Drop the bytes; fetch from this peer when wanted. */
            offer(n, now, peer, v, kind, size);
            break;
        case P2P_UNWANTED:
            break;
        }
    } else if (u->update_case == P2P__V1__SLOT_UPDATE__UPDATE_REF) {
        n->metrics.adverts_received++;
        if (p2p_pool_get(&n->pool, id) == NULL)
            offer(n, now, peer, v, u->ref->kind, u->ref->size);
    }
}

/* The id a slot update names. A push's claimed id is trusted only when we
 * already hold that artifact (its body is then ignored); otherwise the body
 * is hashed and must match the claim. */
static int update_id(struct p2p_node *n, const P2p__V1__SlotUpdate *u,
                     struct p2p_artifact_id *id)
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
        if (p2p_pool_get(&n->pool, id) != NULL)
            return 0;
    }
    struct p2p_artifact_id got;
    p2p_id_of(art->body.data, art->body.len, &got);
    if (art->id.len == P2P_ID_BYTES && !p2p_id_eq(&got, id)) {
        n->metrics.id_mismatches++;
        return P2P_ERR_ID_MISMATCH;
    }
    *id = got;
    return 0;
}

static int on_update(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                     const P2p__V1__SlotUpdate *u)
{
    int rc = check_update(n, u);
    if (rc != 0)
        return rc;
    struct p2p_peer *p = p2p__peer_up(n, peer);
    P2P_ASSERT(p != NULL);
    rc = p2p__table_array_fit(n->mem, P2P_MEM_RECEIVER, (void **)&p->slots,
                        &p->slots_capacity, sizeof(*p->slots),
                        (uint32_t)u->slot_id, n->cfg.slots_per_peer_max);
    if (rc != 0)
        return rc;
    n->metrics.updates_received++;
    struct p2p_slot_view *v = &p->slots[u->slot_id];
    if (v->seen && u->commit_id <= v->commit_id) {
        n->metrics.updates_stale++;
        /* A repeat of the same commit is a harmless retransmission. */
        if (u->commit_id < v->commit_id)
            p2p__penalise(n, now, peer, P2P_PENALTY_STALE_UPDATE);
        p2p_outbox_event(&n->outbox, P2P_EV_UPDATE_STALE, peer, &v->id,
                         (int64_t)u->commit_id);
        return 0;
    }
    struct p2p_artifact_id id;
    rc = update_id(n, u, &id);
    if (rc != 0)
        return rc;
    struct p2p_slot_view old = *v;
    set_pending(n, v, false);
    bool deleted = u->update_case == P2P__V1__SLOT_UPDATE__UPDATE_DELETED;
    v->used = !deleted;
    v->seen = true;
    v->commit_id = u->commit_id;
    v->id = id;
    p->slots_used += (uint32_t)v->used - (uint32_t)old.used;
    /* Advertise the new id before withdrawing the old one, so an id that
     * stays in the slot keeps its download. */
    act_on_update(n, now, peer, v, u, &id);
    if (old.used)
        p2p__downloader_unadvertised(n, now, peer, &old.id);
    return 0;
}

/* A request this node could not handle for lack of its own memory: the
 * stream is reset, so the requester retries (here later, or elsewhere)
 * and blames no one; a 400 would call the request malformed, a 204 would
 * say the artifact is not held. */
static int refuse_for_now(struct p2p_node *n, p2p_node_id peer,
                          uint64_t stream_id)
{
    n->metrics.requests_refused_nomem++;
    struct p2p_action a = {.type = P2P_ACT_STREAM_RESET, .peer = peer,
                           .stream_id = stream_id, .inbound = true};
    (void)p2p_outbox_push(&n->outbox, &a);
    return P2P_ERR_NOMEM;
}

static int serve_update(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        uint64_t stream_id, const struct p2p_frame *f)
{
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, n->mem);
    ProtobufCAllocator alloc = ua.base; /* a copy: its data is still &ua */
    P2p__V1__SlotUpdate *u =
        p2p__v1__slot_update__unpack(&alloc, f->body_len, f->body);
    if (u == NULL && ua.refused)
        return refuse_for_now(n, peer, stream_id); /* our memory, not them */
    int rc = u == NULL ? P2P_ERR_DECODE : on_update(n, now, peer, u);
    if (rc == P2P_ERR_NOMEM) { /* the slot table could not grow */
        p2p__v1__slot_update__free_unpacked(u, &alloc);
        return refuse_for_now(n, peer, stream_id);
    }
    if (rc != 0) {
        n->metrics.updates_rejected++;
        if (rc == P2P_ERR_ID_MISMATCH)
            p2p__penalise(n, now, peer, P2P_PENALTY_WRONG_BYTES);
        else if (rc == P2P_ERR_DECODE || rc == P2P_ERR_LIMIT)
            p2p__penalise(n, now, peer, P2P_PENALTY_BAD_UPDATE);
        if (u != NULL)
            p2p__v1__slot_update__free_unpacked(u, &alloc);
        (void)respond_packed(n, peer, stream_id, P2P_TRAFFIC_OTHER,
                             STATUS_BAD_REQUEST, NULL);
        return rc;
    }
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    ack.slot_id = u->slot_id;
    ack.commit_id = u->commit_id;
    p2p__v1__slot_update__free_unpacked(u, &alloc);
    return respond_packed(n, peer, stream_id, P2P_TRAFFIC_ACK, STATUS_OK,
                          &ack.base);
}

static int serve_fetch(struct p2p_node *n, p2p_node_id peer,
                       uint64_t stream_id, const struct p2p_frame *f)
{
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, n->mem);
    ProtobufCAllocator alloc = ua.base; /* a copy: its data is still &ua */
    P2p__V1__FetchRequest *req =
        p2p__v1__fetch_request__unpack(&alloc, f->body_len, f->body);
    if (req == NULL && ua.refused)
        return refuse_for_now(n, peer, stream_id);
    if (req == NULL || req->id.len != P2P_ID_BYTES) {
        if (req != NULL)
            p2p__v1__fetch_request__free_unpacked(req, &alloc);
        (void)respond_packed(n, peer, stream_id, P2P_TRAFFIC_OTHER,
                             STATUS_BAD_REQUEST, NULL);
        return P2P_ERR_DECODE;
    }
    struct p2p_artifact_id id;
    memcpy(id.b, req->id.data, P2P_ID_BYTES);
    p2p__v1__fetch_request__free_unpacked(req, &alloc);
    const struct p2p_pool_entry *e = p2p_pool_get(&n->pool, &id);
    if (e == NULL || e->section != P2P_POOL_VALIDATED) {
        n->metrics.fetches_not_found++;
        return respond_packed(n, peer, stream_id, P2P_TRAFFIC_ARTIFACT,
                              STATUS_NO_CONTENT, NULL);
    }
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = e->kind;
    art.body.data = e->body;
    art.body.len = e->len;
    n->metrics.fetches_served++;
    return respond_packed(n, peer, stream_id, P2P_TRAFFIC_ARTIFACT, STATUS_OK,
                          &art.base);
}

int p2p__receiver_on_request(struct p2p_node *n, p2p_time now,
                             p2p_node_id peer, uint64_t stream_id,
                             const struct p2p_frame *f)
{
    switch (f->route) {
    case P2P_ROUTE_ARTIFACT_UPDATE:
        return serve_update(n, now, peer, stream_id, f);
    case P2P_ROUTE_ARTIFACT_RPC:
        return serve_fetch(n, peer, stream_id, f);
    case P2P_ROUTE_STATE_ADVERT:
    case P2P_ROUTE_STATE_CHUNK:
        return p2p__state_on_request(n, now, peer, stream_id, f);
    default:
        (void)respond_packed(n, peer, stream_id, P2P_TRAFFIC_OTHER,
                             STATUS_BAD_REQUEST, NULL);
        return P2P_ERR_NO_ROUTE;
    }
}

void p2p__receiver_peer_down(struct p2p_node *n, p2p_time now,
                             p2p_node_id peer)
{
    struct p2p_peer *p = p2p__peer_up(n, peer);
    if (p == NULL)
        return;
    for (uint32_t i = 0; i < p->slots_capacity; i++) {
        set_pending(n, &p->slots[i], false);
        if (p->slots[i].used)
            p2p__downloader_unadvertised(n, now, peer, &p->slots[i].id);
    }
    p2p_mem_free(n->mem, P2P_MEM_RECEIVER, p->slots);
    p->slots = NULL;
    p->slots_capacity = 0;
    p->slots_used = 0;
}
