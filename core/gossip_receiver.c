/* The consensus manager's receiver and the artifact RPC server: per-peer
 * slot views (a newer commit id replaces an older one), pushed artifacts go
 * to the unvalidated pool, adverts go to the downloader; fetches of our
 * validated artifacts are answered (the IC's consensus manager receiver and its artifact assembler). */
#include "core/gossip_receiver.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/intake.h"
#include "core/status.h"
#include "core/wire_view.h"
#include "core/wire_write.h"

_Static_assert(sizeof(struct p2p_slot_view) == 12, "a view stays small");
_Static_assert(P2P_CONFIG_TABLE_MAX <= (1u << 30), "handles fit a view");

static uint64_t commit_of(const struct p2p_slot_view *v)
{
    return (uint64_t)v->commit_hi << 32 | v->commit_lo;
}

void p2p__gossip_receiver_init(struct p2p_gossip_receiver *r,
                               const struct p2p_env *env,
                               struct p2p_streams *streams,
                               struct p2p_downloader *dl, uint64_t key_seed)
{
    memset(r, 0, sizeof(*r));
    r->env = env;
    r->streams = streams;
    r->dl = dl;
    p2p__id_table_init(&r->ids, env->mem, P2P_MEM_RECEIVER,
                       p2p__gossip_receiver_ids_max(env->cfg), key_seed);
}

void p2p__gossip_receiver_fini(struct p2p_gossip_receiver *r)
{
    for (uint32_t i = 0; i < r->peers_capacity; i++)
        p2p_mem_free(r->env->mem, P2P_MEM_RECEIVER, r->peers[i].slots);
    p2p_mem_free(r->env->mem, P2P_MEM_RECEIVER, r->peers);
    r->peers = NULL;
    r->peers_capacity = 0;
    p2p__id_table_fini(&r->ids);
}

int p2p__gossip_receiver_peer_fit(struct p2p_gossip_receiver *r,
                                  p2p_node_id peer)
{
    return p2p__table_array_fit(
        r->env->mem, P2P_MEM_RECEIVER, (void **)&r->peers, &r->peers_capacity,
        sizeof(*r->peers), peer, r->env->cfg->node_ids_max);
}

/* Handles whose views check_refs counts in one pass (on the stack). */
#define CHECK_HANDLES_PER_PASS 1024u

/* Whether every handle in [first, first + CHECK_HANDLES_PER_PASS) has as
 * many references as used views name it. */
static bool check_refs(const struct p2p_gossip_receiver *r, uint32_t first)
{
    uint32_t named[CHECK_HANDLES_PER_PASS] = {0};
    for (uint32_t i = 0; i < r->peers_capacity; i++) {
        const struct p2p_rx_peer *p = &r->peers[i];
        for (uint32_t s = 0; s < p->slots_capacity; s++) {
            uint32_t h = p->slots[s].id_handle;
            if (p->slots[s].used && h - first < CHECK_HANDLES_PER_PASS)
                named[h - first]++;
        }
    }
    uint32_t end = p2p__id_table_capacity(&r->ids);
    for (uint32_t h = first; h < end && h - first < CHECK_HANDLES_PER_PASS; h++)
        if (p2p__id_table_refs(&r->ids, h) != named[h - first])
            return false;
    return true;
}

int p2p__gossip_receiver_check(const struct p2p_gossip_receiver *r)
{
    uint32_t handles = p2p__id_table_capacity(&r->ids);
    for (uint32_t i = 0; i < r->peers_capacity; i++) {
        const struct p2p_rx_peer *p = &r->peers[i];
        uint32_t used = 0;
        for (uint32_t s = 0; s < p->slots_capacity; s++) {
            const struct p2p_slot_view *v = &p->slots[s];
            used += v->used;
            if (v->used && v->id_handle >= handles)
                return P2P_ERR_INTERNAL;
        }
        if (used != p->slots_used)
            return P2P_ERR_INTERNAL;
    }
    for (uint32_t first = 0; first < handles; first += CHECK_HANDLES_PER_PASS)
        if (!check_refs(r, first))
            return P2P_ERR_INTERNAL;
    return p2p__id_table_check(&r->ids);
}

/* A decoded slot update and, for a push, where its body is: a view into
 * the frame, or the frame's shared tail (then the body is not copied and
 * its hash is computed at most once in its life). */
struct update {
    struct p2p_slot_update_view v;
    struct p2p_body *shared; /* the body, when it came as the tail */
};

static const uint8_t *body_bytes(const struct update *u)
{
    return u->shared != NULL ? u->shared->bytes : u->v.artifact.body.data;
}

/* A pushed body the bouncer wants: into the unvalidated pool, which ends
 * its download if any. */
static void accept(struct p2p_gossip_receiver *r, p2p_time now,
                   p2p_node_id peer, const struct p2p_artifact_id *id,
                   const struct update *u)
{
    struct p2p_intake in = {.peer = peer,
                            .id = id,
                            .kind = u->v.artifact.kind,
                            .shared = u->shared,
                            .body = body_bytes(u),
                            .len = u->v.artifact.body.len,
                            .height = u->v.artifact.height};
    int rc = p2p__intake_accept(r->env, now, &in);
    if (rc == 0 || rc == P2P_ERR_UNWANTED) /* below the purge height */
        p2p__downloader_done(r->dl, id);
}

/* Checks a decoded update's content before any state changes. */
static int check_update(const struct p2p_gossip_receiver *r,
                        const struct p2p_slot_update_view *u)
{
    if (u->slot_id >= r->env->cfg->slots_per_peer_max)
        return P2P_ERR_LIMIT;
    switch (u->update_case) {
    case P2P_SLOT_UPDATE_ARTIFACT:
        if (u->artifact.kind >= P2P_KINDS_COUNT ||
            (u->artifact.id.len != 0 && u->artifact.id.len != P2P_ID_BYTES))
            return P2P_ERR_DECODE;
        return 0;
    case P2P_SLOT_UPDATE_REF:
        if (u->ref.id.len != P2P_ID_BYTES || u->ref.kind >= P2P_KINDS_COUNT)
            return P2P_ERR_DECODE;
        return 0;
    case P2P_SLOT_UPDATE_DELETED:
        return 0;
    default:
        return P2P_ERR_DECODE;
    }
}

/* One used view less names handle's id (its slot changed, or its peer
 * left the subnet). The last one is the last peer advertising it: an
 * artifact the client has not taken yet leaves the unvalidated pool
 * (core/intake.h), as the IC drops an artifact once its last advertiser
 * left (its download, if any, ended with its last advertiser:
 * core/downloader.c). */
static void release_id(struct p2p_gossip_receiver *r, p2p_time now,
                       uint32_t handle)
{
    if (p2p__id_table_refs(&r->ids, handle) > 1) {
        p2p__id_table_release(&r->ids, handle);
        return;
    }
    struct p2p_artifact_id id = *p2p__id_table_id(&r->ids, handle);
    p2p__id_table_release(&r->ids, handle);
    (void)p2p__intake_withdrawn(r->env, now, &id);
}

/* Offers an advertised id to the downloader; when there is no room now,
 * the view remembers it. */
static void offer(struct p2p_gossip_receiver *r, p2p_time now, p2p_node_id peer,
                  uint32_t slot, const struct p2p_artifact_id *id,
                  enum p2p_artifact_kind kind, uint64_t size)
{
    (void)p2p__downloader_advertised(r->dl, now, peer, slot, id, kind, size);
}

/* Acts on the slot's new content (id, borrowed): pushed bodies are
 * offered to the pool, advertised ids to the downloader. */
static void act_on_update(struct p2p_gossip_receiver *r, p2p_time now,
                          p2p_node_id peer, const struct update *u,
                          const struct p2p_artifact_id *id)
{
    if (u->v.update_case == P2P_SLOT_UPDATE_ARTIFACT) {
        r->env->metrics->pushes_received++;
        if (p2p_pool_get(r->env->pool, id) != NULL)
            return;
        enum p2p_artifact_kind kind = u->v.artifact.kind;
        uint64_t size = u->v.artifact.body.len;
        switch (r->env->bouncer(r->env->bouncer_ctx, id, kind, size)) {
        case P2P_WANTS:
            accept(r, now, peer, id, u);
            break;
        case P2P_MAYBE_WANTS_LATER:
            /* Drop the bytes; fetch from this peer when wanted. */
            offer(r, now, peer, (uint32_t)u->v.slot_id, id, kind, size);
            break;
        case P2P_UNWANTED:
            break;
        }
    } else if (u->v.update_case == P2P_SLOT_UPDATE_REF) {
        r->env->metrics->adverts_received++;
        if (p2p_pool_get(r->env->pool, id) == NULL)
            offer(r, now, peer, (uint32_t)u->v.slot_id, id, u->v.ref.kind,
                  u->v.ref.size);
    } else {
        r->env->metrics->deletions_received++; /* withdrawn by the caller */
    }
}

/* The id a slot update names. A push's claimed id is trusted only when we
 * already hold that artifact (its body is then ignored); otherwise the body
 * is hashed and must match the claim. */
static int update_id(struct p2p_gossip_receiver *r, const struct update *u,
                     struct p2p_artifact_id *id)
{
    memset(id, 0, sizeof(*id));
    if (u->v.update_case == P2P_SLOT_UPDATE_REF) {
        memcpy(id->b, u->v.ref.id.data, P2P_ID_BYTES);
        return 0;
    }
    if (u->v.update_case != P2P_SLOT_UPDATE_ARTIFACT)
        return 0;
    const struct p2p_artifact_view *art = &u->v.artifact;
    bool claimed = art->id.len == P2P_ID_BYTES;
    if (claimed) {
        memcpy(id->b, art->id.data, P2P_ID_BYTES);
        if (p2p_pool_get(r->env->pool, id) != NULL)
            return 0;
    }
    struct p2p_artifact_id got;
    if (u->shared != NULL)
        got = *p2p_body_id(u->shared); /* hashed once in its life */
    else
        p2p_id_of(art->body.data, art->body.len, &got);
    if (claimed && !p2p_id_eq(&got, id)) {
        r->env->metrics->id_mismatches++;
        return P2P_ERR_ID_MISMATCH;
    }
    *id = got;
    return 0;
}

static int on_update(struct p2p_gossip_receiver *r, p2p_time now,
                     p2p_node_id peer, const struct update *u)
{
    int rc = check_update(r, &u->v);
    if (rc != 0)
        return rc;
    P2P_ASSERT(peer < r->peers_capacity);
    struct p2p_rx_peer *p = &r->peers[peer];
    rc = p2p__table_array_fit(r->env->mem, P2P_MEM_RECEIVER, (void **)&p->slots,
                              &p->slots_capacity, sizeof(*p->slots),
                              (uint32_t)u->v.slot_id,
                              r->env->cfg->slots_per_peer_max);
    if (rc != 0)
        return rc;
    r->env->metrics->updates_received++;
    struct p2p_slot_view *v = &p->slots[u->v.slot_id];
    if (v->seen && u->v.commit_id <= commit_of(v)) {
        r->env->metrics->updates_stale++;
        /* A repeat of the same commit is a harmless retransmission; so is
         * an older deletion: an honest sender that reuses the slot just
         * after deleting it may see the new update overtake the deletion
         * on the way (they travel on separate streams). */
        if (u->v.commit_id < commit_of(v) &&
            u->v.update_case != P2P_SLOT_UPDATE_DELETED)
            p2p__ledger_penalise(r->env->ledger, now, peer,
                                 P2P_PENALTY_STALE_UPDATE);
        struct p2p_artifact_id none = {{0}}; /* a deleted slot's */
        p2p_outbox_event(r->env->outbox, P2P_EV_UPDATE_STALE, peer,
                         v->used ? p2p__id_table_id(&r->ids, v->id_handle)
                                 : &none,
                         (int64_t)u->v.commit_id);
        return 0;
    }
    /* A copy: interning below may move the table's records (read early,
     * so the access overlaps the work up to the intern). */
    struct p2p_artifact_id old_id;
    if (v->used)
        old_id = *p2p__id_table_id(&r->ids, v->id_handle);
    struct p2p_artifact_id id;
    rc = update_id(r, u, &id);
    if (rc != 0)
        return rc;
    bool deleted = u->v.update_case == P2P_SLOT_UPDATE_DELETED;
    uint32_t handle = 0;
    bool held = !deleted && p2p__id_table_find(&r->ids, &id, &handle);
    /* No room for the id is ours, as no room for the view is. */
    if (!deleted && !held && p2p__id_table_insert(&r->ids, &id, &handle) != 0)
        return P2P_ERR_NOMEM;
    struct p2p_slot_view old = *v;
    p2p__downloader_slot_changed(r->dl, peer, (uint32_t)u->v.slot_id);
    if (held) /* here: its record and the downloader's are read together */
        p2p__id_table_hold(&r->ids, handle);
    v->used = !deleted;
    v->seen = true;
    v->commit_lo = (uint32_t)u->v.commit_id;
    v->commit_hi = (uint32_t)(u->v.commit_id >> 32);
    P2P_ASSERT(handle < P2P_CONFIG_TABLE_MAX);
    v->id_handle = handle;
    p->slots_used += (uint32_t)v->used - (uint32_t)old.used;
    /* Advertise the new id before withdrawing the old one, so an id that
     * stays in the slot keeps its download. */
    act_on_update(r, now, peer, u, &id);
    if (old.used) {
        p2p__downloader_unadvertised(r->dl, now, peer, &old_id);
        release_id(r, now, old.id_handle);
    }
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

/* Answers a request with a status and no body. */
static int respond_empty(struct p2p_gossip_receiver *r, p2p_node_id peer,
                         uint64_t stream_id, enum p2p_traffic traffic,
                         uint32_t status)
{
    struct p2p_stream_resp resp = {.peer = peer,
                                   .stream_id = stream_id,
                                   .traffic = traffic,
                                   .status = status};
    return p2p__streams_respond(r->streams, &resp); /* resets on failure */
}

/* Decodes an update in place: a tail is the pushed body, kept shared.
 * Bytes of any other shape are decoded whole from a copy in *flat (the
 * caller frees it). */
static int decode_update(struct p2p_gossip_receiver *r,
                         const struct p2p_frame *f, struct update *u,
                         uint8_t **flat)
{
    *flat = NULL;
    u->shared = NULL;
    if (f->tail == NULL)
        return p2p_wire_view_slot_update(f->body, f->body_len, &u->v);
    if (p2p_wire_view_slot_update_tail(f->body, f->body_len, f->tail->len,
                                       &u->v) == 0) {
        u->shared = f->tail;
        return 0;
    }
    size_t len;
    int rc = p2p_frame_flatten(r->env->mem, f, flat, &len);
    return rc != 0 ? rc : p2p_wire_view_slot_update(*flat, len, &u->v);
}

int p2p__gossip_receiver_on_update(struct p2p_gossip_receiver *r, p2p_time now,
                                   p2p_node_id peer, uint64_t stream_id,
                                   const struct p2p_frame *f)
{
    struct update u;
    uint8_t *flat;
    int rc = decode_update(r, f, &u, &flat);
    if (rc == P2P_ERR_NOMEM)
        return refuse_for_now(r, peer, stream_id); /* our memory, not them */
    if (rc == 0)
        rc = on_update(r, now, peer, &u);
    p2p_mem_free(r->env->mem, P2P_MEM_WIRE, flat);
    if (rc == P2P_ERR_NOMEM) /* the slot table could not grow */
        return refuse_for_now(r, peer, stream_id);
    if (rc != 0) {
        r->env->metrics->updates_rejected++;
        if (rc == P2P_ERR_ID_MISMATCH)
            p2p__ledger_penalise(r->env->ledger, now, peer,
                                 P2P_PENALTY_WRONG_BYTES);
        else if (rc == P2P_ERR_DECODE || rc == P2P_ERR_LIMIT)
            p2p__ledger_penalise(r->env->ledger, now, peer,
                                 P2P_PENALTY_BAD_UPDATE);
        (void)respond_empty(r, peer, stream_id, P2P_TRAFFIC_OTHER,
                            P2P_STATUS_BAD_REQUEST);
        return rc;
    }
    uint8_t ack[P2P_WIRE_UPDATE_ACK_BYTES_MAX];
    struct p2p_stream_resp resp = {
        .peer = peer,
        .stream_id = stream_id,
        .traffic = P2P_TRAFFIC_ACK,
        .status = P2P_STATUS_OK,
        .body = ack,
        .len = p2p_wire_update_ack(ack, u.v.slot_id, u.v.commit_id)};
    return p2p__streams_respond(r->streams, &resp); /* resets on failure */
}

int p2p__gossip_receiver_on_fetch(struct p2p_gossip_receiver *r,
                                  p2p_node_id peer, uint64_t stream_id,
                                  const struct p2p_frame *f)
{
    struct p2p_fetch_request_view req;
    if (p2p_wire_view_fetch_request(f->body, f->body_len, &req) != 0 ||
        req.id.len != P2P_ID_BYTES) {
        (void)respond_empty(r, peer, stream_id, P2P_TRAFFIC_OTHER,
                            P2P_STATUS_BAD_REQUEST);
        return P2P_ERR_DECODE;
    }
    struct p2p_artifact_id id;
    memcpy(id.b, req.id.data, P2P_ID_BYTES);
    const struct p2p_pool_entry *e = p2p_pool_get(r->env->pool, &id);
    if (e == NULL || e->section != P2P_POOL_VALIDATED) {
        r->env->metrics->fetches_not_found++;
        return respond_empty(r, peer, stream_id, P2P_TRAFFIC_ARTIFACT,
                             P2P_STATUS_NO_CONTENT);
    }
    /* Artifact {kind, body}: the body goes on the wire from the pool's
     * shared copy, after the head. */
    uint8_t head[P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX];
    struct p2p_stream_resp resp = {.peer = peer,
                                   .stream_id = stream_id,
                                   .traffic = P2P_TRAFFIC_ARTIFACT,
                                   .status = P2P_STATUS_OK,
                                   .body = head,
                                   .len = p2p_wire_artifact_head_at(
                                       head, e->kind, NULL, e->len, e->height),
                                   .tail = e->len > 0 ? e->shared : NULL};
    r->env->metrics->fetches_served++;
    return p2p__streams_respond(r->streams, &resp); /* resets on failure */
}

void p2p__gossip_receiver_peer_down(struct p2p_gossip_receiver *r, p2p_time now,
                                    p2p_node_id peer, bool left)
{
    P2P_ASSERT(peer < r->peers_capacity);
    struct p2p_rx_peer *p = &r->peers[peer];
    p2p__downloader_peer_down(r->dl, peer);
    for (uint32_t i = 0; i < p->slots_capacity; i++) {
        const struct p2p_slot_view *v = &p->slots[i];
        if (!v->used)
            continue;
        p2p__downloader_unadvertised(r->dl, now, peer,
                                     p2p__id_table_id(&r->ids, v->id_handle));
        if (left)
            release_id(r, now, v->id_handle);
        else
            p2p__id_table_release(&r->ids, v->id_handle);
    }
    p2p_mem_free(r->env->mem, P2P_MEM_RECEIVER, p->slots);
    p->slots = NULL;
    p->slots_capacity = 0;
    p->slots_used = 0;
}

uint32_t p2p__gossip_receiver_views_of(const struct p2p_gossip_receiver *r,
                                       const struct p2p_artifact_id *id)
{
    uint32_t handle;
    return p2p__id_table_find(&r->ids, id, &handle)
               ? p2p__id_table_refs(&r->ids, handle)
               : 0;
}
