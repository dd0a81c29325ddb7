/* The consensus manager's sender: a slot table of the artifacts in the
 * validated pool, each slot update sent to every connected peer and
 * retransmitted with backoff until acknowledged; removing the artifact frees
 * the slot and aborts its transmissions (IC-REFERENCE 12.3). */
#include <string.h>

#include "p2p.pb-c.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/metrics_registry.h"
#include "core/node.h"
#include "core/wire_pack.h"

static struct p2p_slot *slot_at(struct p2p_node *n, uint32_t i)
{
    return p2p__table_at(&n->slots, i);
}

static struct p2p_tx *tx_at(struct p2p_node *n, uint32_t i)
{
    return p2p__table_at(&n->txs, i);
}

/* Push the body when it is small or latency sensitive, unless this node only
 * relays it and the relay policy says relayers advertise. */
static bool should_push(const struct p2p_node *n, enum p2p_artifact_kind kind,
                        uint64_t size, bool relayed)
{
    if (relayed && n->cfg.relay_advert)
        return false;
    return kind == P2P_KIND_PUSH || size < n->cfg.push_threshold_bytes;
}

/* Packs the slot's update once; every peer gets the same bytes. Pushes
 * also carry the id, so a receiver holding it skips hashing the body. */
static int encode_update(struct p2p_node *n, const struct p2p_slot *slot,
                         uint32_t slot_index, uint8_t **out, size_t *out_len)
{
    P2p__V1__SlotUpdate msg = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    P2p__V1__ArtifactRef ref = P2P__V1__ARTIFACT_REF__INIT;
    msg.commit_id = slot->commit_id;
    msg.slot_id = slot_index;
    if (slot->push) {
        const struct p2p_pool_entry *e = p2p_pool_get(&n->pool, &slot->id);
        P2P_ASSERT(e != NULL);
        art.kind = slot->kind;
        art.body.data = e->body;
        art.body.len = e->len;
        art.id.data = (uint8_t *)slot->id.b;
        art.id.len = P2P_ID_BYTES;
        msg.update_case = P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT;
        msg.artifact = &art;
    } else {
        ref.id.data = (uint8_t *)slot->id.b;
        ref.id.len = P2P_ID_BYTES;
        ref.kind = slot->kind;
        ref.size = slot->size;
        msg.update_case = P2P__V1__SLOT_UPDATE__UPDATE_REF;
        msg.ref = &ref;
    }
    return p2p_wire_pack(n->mem, P2P_MEM_SENDER, &msg.base, out, out_len);
}

static void tx_free(struct p2p_node *n, uint32_t tx_index);

/* Waits out the backoff. Without a timer the transmission is given up; the
 * peer gets the slot again when it reconnects. */
static void schedule_retry(struct p2p_node *n, p2p_time now, uint32_t tx_index)
{
    struct p2p_tx *tx = tx_at(n, tx_index);
    p2p_time delay = p2p_backoff_delay(&n->cfg.update_backoff, tx->attempt,
                                       &n->rng);
    tx->attempt++;
    tx->stream = P2P_INDEX_NONE;
    if (p2p__timer(n, now + delay, TIMER_TX_RETRY, tx_index, tx->gen) != 0)
        tx_free(n, tx_index);
}

/* Sends the slot's current update on a fresh stream; on a local failure
 * (tables full) the transmission is retried later like a lost one. */
static void transmit(struct p2p_node *n, p2p_time now, uint32_t tx_index)
{
    struct p2p_tx *tx = tx_at(n, tx_index);
    const struct p2p_slot *slot = slot_at(n, tx->slot);
    if (P2P_BUGGIFY_AT(n, P2P_BUGGIFY_DEFER_UPDATE)) {
        schedule_retry(n, now, tx_index);
        return;
    }
    uint32_t stream;
    struct p2p_stream_req req = {
        .peer = tx->peer, .route = P2P_ROUTE_ARTIFACT_UPDATE,
        .traffic = slot->push ? P2P_TRAFFIC_PUSH : P2P_TRAFFIC_ADVERT,
        .body = slot->update, .len = slot->update_len,
        .owner = OWNER_SENDER, .owner_index = tx_index, .owner_gen = tx->gen,
        .timeout_ns = n->cfg.update_timeout_ns,
        .response_bytes_max = 0 /* the route's: an acknowledgement */};
    int rc = p2p__stream_request(n, now, &req, &stream);
    if (rc == 0) {
        tx->stream = stream;
        n->metrics.updates_sent++;
        return;
    }
    schedule_retry(n, now, tx_index);
}

static void tx_free(struct p2p_node *n, uint32_t tx_index)
{
    struct p2p_tx *tx = tx_at(n, tx_index);
    if (tx->stream != P2P_INDEX_NONE)
        p2p__stream_abort(n, tx->stream);
    tx->used = false;
    p2p__table_give(&n->txs, tx_index);
}

static void tx_start(struct p2p_node *n, p2p_time now, uint32_t slot_index,
                     p2p_node_id peer)
{
    uint32_t tx_index;
    if (p2p__table_take(&n->txs, n->mem, &tx_index) != 0)
        return; /* bounded: the peer gets this slot when it reconnects */
    struct p2p_tx *tx = tx_at(n, tx_index);
    tx->used = true;
    tx->slot = slot_index;
    tx->peer = peer;
    tx->stream = P2P_INDEX_NONE;
    tx->started_ns = now;
    transmit(n, now, tx_index);
}

int p2p__sender_add(struct p2p_node *n, p2p_time now,
                    const struct p2p_pool_entry *e, bool relayed)
{
    P2P_ASSERT(e != NULL && e->section == P2P_POOL_VALIDATED);
    struct p2p_key key;
    p2p__table_id_key(&e->id, &key);
    if (p2p_keymap_get(&n->slot_by_id, &key, NULL))
        return 0; /* a duplicate Deliver is a no-op */
    uint32_t index;
    int rc = p2p__table_take(&n->slots, n->mem, &index);
    if (rc != 0)
        return rc;
    rc = p2p_keymap_put(&n->slot_by_id, &key, index);
    if (rc != 0) {
        p2p__table_give(&n->slots, index);
        return rc;
    }
    struct p2p_slot *slot = slot_at(n, index);
    slot->used = true;
    slot->id = e->id;
    slot->kind = e->kind;
    slot->size = e->len;
    slot->commit_id = n->commit_id;
    slot->push = should_push(n, e->kind, e->len, relayed);
    rc = encode_update(n, slot, index, &slot->update, &slot->update_len);
    if (rc != 0) {
        (void)p2p_keymap_del(&n->slot_by_id, &key);
        slot->used = false;
        p2p__table_give(&n->slots, index);
        return rc;
    }
    n->commit_id++;
    for (p2p_node_id peer = 0; peer < n->peers_capacity; peer++)
        if (n->peers[peer].up)
            tx_start(n, now, index, peer);
    return 0;
}

void p2p__sender_remove(struct p2p_node *n, const struct p2p_artifact_id *id)
{
    struct p2p_key key;
    p2p__table_id_key(id, &key);
    uint32_t index;
    if (!p2p_keymap_get(&n->slot_by_id, &key, &index))
        return;
    for (uint32_t i = 0; i < n->txs.capacity; i++) {
        struct p2p_tx *tx = tx_at(n, i);
        if (tx->used && tx->slot == index)
            tx_free(n, i);
    }
    int rc = p2p_keymap_del(&n->slot_by_id, &key);
    P2P_ASSERT(rc == 0);
    struct p2p_slot *slot = slot_at(n, index);
    p2p_mem_free(n->mem, P2P_MEM_SENDER, slot->update);
    slot->update = NULL;
    slot->used = false;
    p2p__table_give(&n->slots, index);
    n->commit_id++;
}

void p2p__sender_peer_up(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    for (uint32_t i = 0; i < n->slots.capacity; i++)
        if (slot_at(n, i)->used)
            tx_start(n, now, i, peer);
}

void p2p__sender_peer_down(struct p2p_node *n, p2p_node_id peer)
{
    for (uint32_t i = 0; i < n->txs.capacity; i++) {
        struct p2p_tx *tx = tx_at(n, i);
        if (tx->used && tx->peer == peer)
            tx_free(n, i);
    }
}

void p2p__sender_on_response(struct p2p_node *n, p2p_time now, uint32_t tx,
                             uint32_t gen, int err, const struct p2p_frame *f)
{
    if (tx >= n->txs.capacity)
        return;
    struct p2p_tx *t = tx_at(n, tx);
    if (!t->used || t->gen != gen)
        return;
    t->stream = P2P_INDEX_NONE; /* the stream is closed either way */
    if (err == 0 && f->status == 200) {
        n->metrics.updates_acked++;
        p2p_histogram_observe(&n->hists[P2P_HIST_UPDATE_ACK],
                              P2P_HIST_UPDATE_ACK,
                              now > t->started_ns ? now - t->started_ns : 0);
        tx_free(n, tx);
        return;
    }
    n->metrics.updates_retried++;
    p2p_outbox_event(&n->outbox, P2P_EV_UPDATE_RETRY, t->peer,
                     &slot_at(n, t->slot)->id, err ? err : (int64_t)f->status);
    schedule_retry(n, now, tx);
}

void p2p__sender_on_retry(struct p2p_node *n, p2p_time now, uint32_t tx,
                          uint32_t gen)
{
    if (tx >= n->txs.capacity)
        return;
    struct p2p_tx *t = tx_at(n, tx);
    if (!t->used || t->gen != gen || t->stream != P2P_INDEX_NONE)
        return;
    if (p2p__peer_up(n, t->peer) == NULL) {
        tx_free(n, tx);
        return;
    }
    transmit(n, now, tx);
}
