/* The consensus manager's sender (core/gossip_sender.h). */
#include "core/gossip_sender.h"

#include <string.h>

#include "p2p.pb-c.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/histogram.h"
#include "core/status.h"
#include "core/wire_pack.h"
#include "core/wire_write.h"

static struct p2p_slot *slot_at(const struct p2p_gossip_sender *s, uint32_t i)
{
    return p2p__table_at(&s->slots, i);
}

static struct p2p_tx *tx_at(const struct p2p_gossip_sender *s, uint32_t i)
{
    return p2p__table_at(&s->txs, i);
}

/* A transmission's two lists: its slot's and its peer's. */
enum tx_list { BY_SLOT, BY_PEER };

static struct p2p_tx_link *link_of(const struct p2p_gossip_sender *s,
                                   uint32_t i, enum tx_list l)
{
    struct p2p_tx *tx = tx_at(s, i);
    return l == BY_SLOT ? &tx->by_slot : &tx->by_peer;
}

/* The head of the list of tx's slot or peer. */
static uint32_t *head_of(const struct p2p_gossip_sender *s,
                         const struct p2p_tx *tx, enum tx_list l)
{
    if (l == BY_SLOT)
        return &slot_at(s, tx->slot)->tx_head;
    P2P_ASSERT(tx->peer < s->peers_capacity);
    return &s->peers[tx->peer].tx_head;
}

static void list_push(struct p2p_gossip_sender *s, uint32_t i, enum tx_list l)
{
    uint32_t *head = head_of(s, tx_at(s, i), l);
    struct p2p_tx_link *k = link_of(s, i, l);
    k->prev = P2P_INDEX_NONE;
    k->next = *head;
    if (*head != P2P_INDEX_NONE)
        link_of(s, *head, l)->prev = i;
    *head = i;
}

static void list_unlink(struct p2p_gossip_sender *s, uint32_t i, enum tx_list l)
{
    struct p2p_tx_link *k = link_of(s, i, l);
    if (k->prev != P2P_INDEX_NONE)
        link_of(s, k->prev, l)->next = k->next;
    else
        *head_of(s, tx_at(s, i), l) = k->next;
    if (k->next != P2P_INDEX_NONE)
        link_of(s, k->next, l)->prev = k->prev;
}

/* Sorts the first n records of the chain from head (following l's next
 * links) by index, ascending; returns the sorted chain's head, whose last
 * record's next is P2P_INDEX_NONE. Only next links are kept: the caller
 * frees the whole chain. A merge sort: O(n log n), recursion depth log n. */
static uint32_t chain_sort(struct p2p_gossip_sender *s, uint32_t head,
                           uint32_t n, enum tx_list l)
{
    if (n <= 1) {
        if (n == 1)
            link_of(s, head, l)->next = P2P_INDEX_NONE;
        return n == 1 ? head : P2P_INDEX_NONE;
    }
    uint32_t mid = head;
    for (uint32_t i = 0; i < n / 2; i++)
        mid = link_of(s, mid, l)->next;
    /* mid is read before the first half is sorted (which cuts its end). */
    uint32_t a = chain_sort(s, head, n / 2, l);
    uint32_t b = chain_sort(s, mid, n - n / 2, l);
    uint32_t out = P2P_INDEX_NONE, *tail = &out;
    while (a != P2P_INDEX_NONE && b != P2P_INDEX_NONE) {
        uint32_t *from = a < b ? &a : &b;
        *tail = *from;
        tail = &link_of(s, *from, l)->next;
        *from = *tail;
    }
    *tail = a != P2P_INDEX_NONE ? a : b;
    return out;
}

/* The list from head (l's), sorted by index, ascending. */
static uint32_t list_sorted(struct p2p_gossip_sender *s, uint32_t head,
                            enum tx_list l)
{
    uint32_t n = 0;
    for (uint32_t i = head; i != P2P_INDEX_NONE; i = link_of(s, i, l)->next)
        n++;
    P2P_ASSERT(n <= s->txs.count);
    return chain_sort(s, head, n, l);
}

/* Push the body when it is small or latency sensitive, unless this node only
 * relays it and the relay policy says relayers advertise. */
void p2p__gossip_sender_init(struct p2p_gossip_sender *s,
                             const struct p2p_env *env,
                             struct p2p_streams *streams, uint64_t key_seed)
{
    const struct p2p_config *c = env->cfg;
    memset(s, 0, sizeof(*s));
    s->env = env;
    s->streams = streams;
    p2p__table_init(&s->slots, sizeof(struct p2p_slot),
                    offsetof(struct p2p_slot, next_free),
                    offsetof(struct p2p_slot, gen), c->slots_max,
                    P2P_MEM_SENDER);
    p2p_keymap_init(&s->slot_by_id, env->mem, P2P_MEM_SENDER, c->slots_max,
                    key_seed);
    p2p__table_init(
        &s->txs, sizeof(struct p2p_tx), offsetof(struct p2p_tx, next_free),
        offsetof(struct p2p_tx, gen),
        c->slots_max < UINT32_MAX / 64 ? c->slots_max * 64 : UINT32_MAX - 1,
        P2P_MEM_SENDER);
}

static void free_update(struct p2p_gossip_sender *s, struct p2p_slot *slot);

void p2p__gossip_sender_fini(struct p2p_gossip_sender *s)
{
    struct p2p_mem *mem = s->env->mem;
    for (uint32_t i = 0; i < s->slots.capacity; i++) {
        struct p2p_slot *slot = slot_at(s, i);
        if (slot->used || slot->deleting)
            free_update(s, slot);
    }
    p2p__table_fini(&s->slots, mem);
    p2p_keymap_fini(&s->slot_by_id);
    p2p__table_fini(&s->txs, mem);
    p2p_mem_free(mem, P2P_MEM_SENDER, s->peers);
    s->peers = NULL;
    s->peers_capacity = 0;
}

int p2p__gossip_sender_peer_fit(struct p2p_gossip_sender *s, p2p_node_id peer)
{
    return p2p__table_array_fit(s->env->mem, P2P_MEM_SENDER, (void **)&s->peers,
                                &s->peers_capacity, sizeof(*s->peers), peer,
                                s->env->cfg->node_ids_max);
}

bool p2p__gossip_sender_full(const struct p2p_gossip_sender *s)
{
    return s->slots.count >= s->env->cfg->slots_max;
}

bool p2p__gossip_sender_timer_live(const struct p2p_gossip_sender *s,
                                   uint32_t tx, uint32_t gen)
{
    if (tx >= s->txs.capacity)
        return false;
    const struct p2p_tx *t = tx_at(s, tx);
    return t->used && t->gen == gen && t->stream == P2P_INDEX_NONE;
}

bool p2p__gossip_sender_delete_timer_live(const struct p2p_gossip_sender *s,
                                          uint32_t slot, uint32_t gen)
{
    if (slot >= s->slots.capacity)
        return false;
    const struct p2p_slot *sl = slot_at(s, slot);
    return !sl->used && sl->deleting && sl->gen == gen &&
           sl->hold_timer != P2P_TIMER_HANDLE_NONE;
}

/* The length of the list from head (l's) if every record on it is a used
 * transmission whose slot or peer is owner and whose links agree both
 * ways; UINT32_MAX if not (or if it is longer than the table holds). */
static uint32_t list_check(const struct p2p_gossip_sender *s, uint32_t head,
                           enum tx_list l, uint32_t owner)
{
    uint32_t n = 0, prev = P2P_INDEX_NONE;
    for (uint32_t i = head; i != P2P_INDEX_NONE;
         prev = i, i = link_of(s, i, l)->next) {
        if (i >= s->txs.capacity || ++n > s->txs.count)
            return UINT32_MAX;
        const struct p2p_tx *tx = tx_at(s, i);
        if (!tx->used || (l == BY_SLOT ? tx->slot : tx->peer) != owner ||
            link_of(s, i, l)->prev != prev)
            return UINT32_MAX;
    }
    return n;
}

/* Every transmission is on its slot's and its (up) peer's list: the lists
 * hold only their own, and as many as the table. */
static int lists_check(const struct p2p_gossip_sender *s)
{
    uint64_t on_slots = 0, on_peers = 0;
    for (uint32_t i = 0; i < s->slots.capacity; i++) {
        if (!slot_at(s, i)->used && !slot_at(s, i)->deleting)
            continue;
        uint32_t n = list_check(s, slot_at(s, i)->tx_head, BY_SLOT, i);
        if (n == UINT32_MAX)
            return P2P_ERR_INTERNAL;
        on_slots += n;
    }
    for (p2p_node_id p = 0; p < s->peers_capacity; p++) {
        if (!s->peers[p].up)
            continue;
        uint32_t n = list_check(s, s->peers[p].tx_head, BY_PEER, p);
        if (n == UINT32_MAX)
            return P2P_ERR_INTERNAL;
        on_peers += n;
    }
    return on_slots == s->txs.count && on_peers == s->txs.count
               ? 0
               : P2P_ERR_INTERNAL;
}

int p2p__gossip_sender_check(const struct p2p_gossip_sender *s)
{
    if (s->slot_by_id.count != s->slots.count)
        return P2P_ERR_INTERNAL;
    uint32_t slots_used = 0, deleting = 0;
    for (uint32_t i = 0; i < s->slots.capacity; i++) {
        const struct p2p_slot *slot = slot_at(s, i);
        if (slot->deleting) {
            /* Free, and either held (no update yet, nothing sent) or in
             * transmission (its update packed, on its way to peers). */
            bool held = slot->hold_timer != P2P_TIMER_HANDLE_NONE;
            if (slot->used || held == (slot->tx_head != P2P_INDEX_NONE) ||
                held == (slot->update != NULL))
                return P2P_ERR_INTERNAL;
            deleting++;
            continue;
        }
        if (!slot->used) {
            if (slot->update != NULL) /* a free slot holds nothing */
                return P2P_ERR_INTERNAL;
            continue;
        }
        slots_used++;
        const struct p2p_pool_entry *e = p2p_pool_get(s->env->pool, &slot->id);
        /* Every slot broadcasts something the validated pool holds. */
        if (e == NULL || e->section != P2P_POOL_VALIDATED)
            return P2P_ERR_INTERNAL;
    }
    uint32_t txs_used = 0;
    for (uint32_t i = 0; i < s->txs.capacity; i++) {
        const struct p2p_tx *t = tx_at(s, i);
        if (!t->used)
            continue;
        txs_used++;
        if (t->slot >= s->slots.capacity ||
            (!slot_at(s, t->slot)->used && !slot_at(s, t->slot)->deleting))
            return P2P_ERR_INTERNAL;
    }
    if (slots_used != s->slots.count || txs_used != s->txs.count ||
        deleting != s->deleting)
        return P2P_ERR_INTERNAL;
    return lists_check(s);
}

static bool should_push(const struct p2p_gossip_sender *s,
                        enum p2p_artifact_kind kind, uint64_t size,
                        bool relayed)
{
    if (relayed && s->env->cfg->relay_advert)
        return false;
    return kind == P2P_KIND_PUSH || size < s->env->cfg->push_threshold_bytes;
}

/* A push's update written up to its body (core/wire_write.h): SlotUpdate
 * {commit_id, slot_id, artifact {kind, id, body}}, the body last, so it
 * goes on the wire from the pool's shared copy. */
static int encode_push(struct p2p_gossip_sender *s, const struct p2p_slot *slot,
                       uint32_t slot_index, const struct p2p_pool_entry *e,
                       uint8_t **out, size_t *out_len)
{
    uint8_t art[P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX];
    size_t art_len = p2p_wire_artifact_head_at(art, slot->kind, &slot->id,
                                               e->len, e->height);
    uint8_t *buf =
        p2p_mem_alloc_raw(s->env->mem, P2P_MEM_SENDER,
                          P2P_WIRE_SLOT_UPDATE_HEAD_BYTES_MAX + art_len);
    if (buf == NULL)
        return P2P_ERR_NOMEM;
    size_t n = 0;
    if (slot->commit_id != 0) {
        buf[n++] = (1 << 3) | 0; /* commit_id, varint */
        n += p2p_wire_put_varint(buf + n, slot->commit_id);
    }
    if (slot_index != 0) {
        buf[n++] = (2 << 3) | 0; /* slot_id, varint */
        n += p2p_wire_put_varint(buf + n, slot_index);
    }
    buf[n++] = (3 << 3) | 2; /* artifact, length-delimited */
    n += p2p_wire_put_varint(buf + n, art_len + e->len);
    memcpy(buf + n, art, art_len);
    *out = buf;
    *out_len = n + art_len;
    return 0;
}

/* Packs the slot's update once; every peer gets the same bytes. Pushes
 * also carry the id, so a receiver holding it skips hashing the body. */
static int encode_update(struct p2p_gossip_sender *s, struct p2p_slot *slot,
                         uint32_t slot_index)
{
    if (slot->push) {
        const struct p2p_pool_entry *e = p2p_pool_get(s->env->pool, &slot->id);
        P2P_ASSERT(e != NULL);
        if (!p2p_body_hold(e->shared, s->env->mem, P2P_MEM_SENDER))
            return P2P_ERR_NOMEM;
        int rc = encode_push(s, slot, slot_index, e, &slot->update,
                             &slot->update_len);
        if (rc != 0) {
            p2p_body_release(e->shared, s->env->mem, P2P_MEM_SENDER);
            return rc;
        }
        slot->body = e->shared;
        return 0;
    }
    P2p__V1__SlotUpdate msg = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__ArtifactRef ref = P2P__V1__ARTIFACT_REF__INIT;
    msg.commit_id = slot->commit_id;
    msg.slot_id = slot_index;
    ref.id.data = (uint8_t *)slot->id.b;
    ref.id.len = P2P_ID_BYTES;
    ref.kind = slot->kind;
    ref.size = slot->size;
    msg.update_case = P2P__V1__SLOT_UPDATE__UPDATE_REF;
    msg.ref = &ref;
    slot->body = NULL;
    return p2p_wire_pack(s->env->mem, P2P_MEM_SENDER, &msg.base, &slot->update,
                         &slot->update_len);
}

/* Frees what the slot's update holds. */
static void free_update(struct p2p_gossip_sender *s, struct p2p_slot *slot)
{
    p2p_mem_free(s->env->mem, P2P_MEM_SENDER, slot->update);
    p2p_body_release(slot->body, s->env->mem, P2P_MEM_SENDER);
    slot->update = NULL;
    slot->body = NULL;
}

static void tx_free(struct p2p_gossip_sender *s, uint32_t tx_index);

/* Waits out the backoff. Without a timer the transmission is given up; the
 * peer gets the slot again when it reconnects. */
static void schedule_retry(struct p2p_gossip_sender *s, p2p_time now,
                           uint32_t tx_index)
{
    struct p2p_tx *tx = tx_at(s, tx_index);
    p2p_time delay = p2p_backoff_delay(&s->env->cfg->update_backoff,
                                       tx->attempt, s->env->rng);
    tx->attempt++;
    tx->stream = P2P_INDEX_NONE;
    if (p2p__timers_arm(s->env->timers, now + delay, P2P_TIMER_TX_RETRY,
                        tx_index, tx->gen, &tx->retry_timer) != 0)
        tx_free(s, tx_index);
}

/* Sends the slot's current update on a fresh stream; on a local failure
 * (tables full) the transmission is retried later like a lost one. */
static void transmit(struct p2p_gossip_sender *s, p2p_time now,
                     uint32_t tx_index)
{
    struct p2p_tx *tx = tx_at(s, tx_index);
    const struct p2p_slot *slot = slot_at(s, tx->slot);
    if (P2P_BUGGIFY_AT(s->env->bug, P2P_BUGGIFY_DEFER_UPDATE)) {
        schedule_retry(s, now, tx_index);
        return;
    }
    uint32_t stream;
    struct p2p_stream_req req = {
        .peer = tx->peer,
        .route = P2P_ROUTE_ARTIFACT_UPDATE,
        .traffic = slot->push ? P2P_TRAFFIC_PUSH : P2P_TRAFFIC_ADVERT,
        .body = slot->update,
        .len = slot->update_len,
        .tail = slot->body,
        .owner = P2P_OWNER_SENDER,
        .owner_index = tx_index,
        .owner_gen = tx->gen,
        .timeout_ns = s->env->cfg->update_timeout_ns,
        .response_bytes_max = 0 /* the route's: an acknowledgement */};
    int rc = p2p__streams_request(s->streams, now, &req, &stream);
    if (rc == 0) {
        tx->stream = stream;
        s->env->metrics->updates_sent++;
        if (!slot->used)
            s->env->metrics->deletions_sent++;
        return;
    }
    schedule_retry(s, now, tx_index);
}

/* Aborts the transmission's stream, cancels its retry and returns its
 * record (its lists are the caller's). */
static void tx_release(struct p2p_gossip_sender *s, uint32_t tx_index)
{
    struct p2p_tx *tx = tx_at(s, tx_index);
    if (tx->stream != P2P_INDEX_NONE)
        p2p__streams_abort(s->streams, tx->stream);
    p2p__timers_cancel(s->env->timers, &tx->retry_timer);
    tx->used = false;
    p2p__table_give(&s->txs, tx_index);
}

static void tx_free(struct p2p_gossip_sender *s, uint32_t tx_index)
{
    list_unlink(s, tx_index, BY_SLOT);
    list_unlink(s, tx_index, BY_PEER);
    tx_release(s, tx_index);
}

static void settle(struct p2p_gossip_sender *s, uint32_t slot_index);

/* Frees every transmission on the list from head (l's), in ascending
 * index order, taking each off its other list; a peer's list may hold
 * the last transmission of a slot's deletion, which then is over. */
static void tx_free_list(struct p2p_gossip_sender *s, uint32_t head,
                         enum tx_list l)
{
    enum tx_list other = l == BY_SLOT ? BY_PEER : BY_SLOT;
    uint32_t i = list_sorted(s, head, l);
    while (i != P2P_INDEX_NONE) {
        uint32_t next = link_of(s, i, l)->next;
        uint32_t slot = tx_at(s, i)->slot;
        list_unlink(s, i, other);
        tx_release(s, i);
        if (l == BY_PEER)
            settle(s, slot);
        i = next;
    }
}

static void tx_start(struct p2p_gossip_sender *s, p2p_time now,
                     uint32_t slot_index, p2p_node_id peer)
{
    uint32_t tx_index;
    if (p2p__table_take(&s->txs, s->env->mem, &tx_index) != 0)
        return; /* bounded: the peer gets this slot when it reconnects */
    struct p2p_tx *tx = tx_at(s, tx_index);
    tx->used = true;
    tx->slot = slot_index;
    tx->peer = peer;
    tx->stream = P2P_INDEX_NONE;
    tx->started_ns = now;
    list_push(s, tx_index, BY_SLOT);
    list_push(s, tx_index, BY_PEER);
    transmit(s, now, tx_index);
}

/* ---- deletions: a freed slot tells the peers that may hold it ---- */

/* The deletion is over: the slot is a plain free one. */
static void end_deletion(struct p2p_gossip_sender *s, struct p2p_slot *slot)
{
    P2P_ASSERT(slot->deleting && s->deleting > 0);
    p2p__timers_cancel(s->env->timers, &slot->hold_timer);
    free_update(s, slot);
    slot->deleting = false;
    s->deleting--;
}

/* A deletion in transmission is over once every transmission of it ended
 * (acknowledged, its peer gone, or given up). */
static void settle(struct p2p_gossip_sender *s, uint32_t slot_index)
{
    struct p2p_slot *slot = slot_at(s, slot_index);
    if (slot->deleting && slot->hold_timer == P2P_TIMER_HANDLE_NONE &&
        slot->tx_head == P2P_INDEX_NONE)
        end_deletion(s, slot);
}

/* A new artifact takes the free slot: a deletion still held is never sent
 * (superseded); one in transmission is aborted (the new update's commit id
 * replaces it at every peer, whether it arrived or not). */
static void supersede(struct p2p_gossip_sender *s, uint32_t slot_index)
{
    struct p2p_slot *slot = slot_at(s, slot_index);
    if (!slot->deleting)
        return;
    if (slot->hold_timer != P2P_TIMER_HANDLE_NONE)
        s->env->metrics->deletions_superseded++;
    tx_free_list(s, slot->tx_head, BY_SLOT);
    slot->tx_head = P2P_INDEX_NONE;
    end_deletion(s, slot);
}

/* Whether some peer is up that may hold the slot removed at commit. */
static bool anyone_to_tell(const struct p2p_gossip_sender *s, uint64_t commit)
{
    for (p2p_node_id peer = 0; peer < s->peers_capacity; peer++)
        if (s->peers[peer].up && s->peers[peer].up_commit <= commit)
            return true;
    return false;
}

static void send_deletion(struct p2p_gossip_sender *s, p2p_time now,
                          uint32_t slot_index);

/* The slot was just freed: its deletion waits out the hold, unless a new
 * artifact takes the slot first. Without a timer it is given up. */
static void hold_deletion(struct p2p_gossip_sender *s, p2p_time now,
                          uint32_t slot_index)
{
    struct p2p_slot *slot = slot_at(s, slot_index);
    if (!anyone_to_tell(s, slot->commit_id))
        return;
    slot->deleting = true;
    slot->tx_head = P2P_INDEX_NONE;
    s->deleting++;
    p2p_time hold = s->env->cfg->slot_deletion_hold_ns;
    if (hold == 0) {
        send_deletion(s, now, slot_index);
        return;
    }
    if (p2p__timers_arm(s->env->timers, now + hold, P2P_TIMER_SLOT_DELETE,
                        slot_index, slot->gen, &slot->hold_timer) != 0)
        end_deletion(s, slot);
}

/* SlotUpdate {commit_id, slot_id, deleted}, packed once for every peer. */
static int encode_deletion(struct p2p_gossip_sender *s, struct p2p_slot *slot,
                           uint32_t slot_index)
{
    P2p__V1__SlotUpdate msg = P2P__V1__SLOT_UPDATE__INIT;
    msg.commit_id = slot->commit_id;
    msg.slot_id = slot_index;
    msg.update_case = P2P__V1__SLOT_UPDATE__UPDATE_DELETED;
    msg.deleted = true;
    slot->body = NULL;
    return p2p_wire_pack(s->env->mem, P2P_MEM_SENDER, &msg.base, &slot->update,
                         &slot->update_len);
}

/* The hold is over: the deletion goes to every peer up that may hold the
 * slot, and is retransmitted until each acknowledges it. Out of memory,
 * it is given up. */
static void send_deletion(struct p2p_gossip_sender *s, p2p_time now,
                          uint32_t slot_index)
{
    struct p2p_slot *slot = slot_at(s, slot_index);
    /* The hold is over: its timer fired (a no-op then) or never was. */
    p2p__timers_cancel(s->env->timers, &slot->hold_timer);
    if (encode_deletion(s, slot, slot_index) != 0) {
        end_deletion(s, slot);
        return;
    }
    for (p2p_node_id peer = 0; peer < s->peers_capacity; peer++)
        if (s->peers[peer].up && s->peers[peer].up_commit <= slot->commit_id)
            tx_start(s, now, slot_index, peer);
    settle(s, slot_index); /* no transmission could start: over */
}

void p2p__gossip_sender_on_delete_timer(struct p2p_gossip_sender *s,
                                        p2p_time now, uint32_t slot,
                                        uint32_t gen)
{
    if (!p2p__gossip_sender_delete_timer_live(s, slot, gen))
        return;
    send_deletion(s, now, slot);
}

int p2p__gossip_sender_add(struct p2p_gossip_sender *s, p2p_time now,
                           const struct p2p_pool_entry *e, bool relayed)
{
    P2P_ASSERT(e != NULL && e->section == P2P_POOL_VALIDATED);
    struct p2p_key key;
    p2p__table_id_key(&e->id, &key);
    if (p2p_keymap_get(&s->slot_by_id, &key, NULL))
        return 0; /* a duplicate Deliver is a no-op */
    /* The slot taken next (LIFO) may still be deleting: the new update
     * replaces the deletion, as a newer update replaces any stale one. */
    if (s->slots.free_head != P2P_INDEX_NONE)
        supersede(s, s->slots.free_head);
    uint32_t index;
    int rc = p2p__table_take(&s->slots, s->env->mem, &index);
    if (rc != 0)
        return rc;
    rc = p2p_keymap_put(&s->slot_by_id, &key, index);
    if (rc != 0) {
        p2p__table_give(&s->slots, index);
        return rc;
    }
    struct p2p_slot *slot = slot_at(s, index);
    slot->used = true;
    slot->tx_head = P2P_INDEX_NONE;
    slot->id = e->id;
    slot->kind = e->kind;
    slot->size = e->len;
    slot->commit_id = s->commit_id;
    slot->push = should_push(s, e->kind, e->len, relayed);
    rc = encode_update(s, slot, index);
    if (rc != 0) {
        (void)p2p_keymap_del(&s->slot_by_id, &key);
        slot->used = false;
        p2p__table_give(&s->slots, index);
        return rc;
    }
    s->commit_id++;
    for (p2p_node_id peer = 0; peer < s->peers_capacity; peer++)
        if (s->peers[peer].up)
            tx_start(s, now, index, peer);
    return 0;
}

void p2p__gossip_sender_remove(struct p2p_gossip_sender *s, p2p_time now,
                               const struct p2p_artifact_id *id)
{
    struct p2p_key key;
    p2p__table_id_key(id, &key);
    uint32_t index;
    if (!p2p_keymap_get(&s->slot_by_id, &key, &index))
        return;
    struct p2p_slot *slot = slot_at(s, index);
    tx_free_list(s, slot->tx_head, BY_SLOT);
    slot->tx_head = P2P_INDEX_NONE;
    int rc = p2p_keymap_del(&s->slot_by_id, &key);
    P2P_ASSERT(rc == 0);
    free_update(s, slot);
    slot->used = false;
    slot->push = false;
    p2p__table_give(&s->slots, index);
    slot->commit_id = s->commit_id++; /* the deletion's */
    hold_deletion(s, now, index);
}

void p2p__gossip_sender_peer_up(struct p2p_gossip_sender *s, p2p_time now,
                                p2p_node_id peer)
{
    P2P_ASSERT(peer < s->peers_capacity && !s->peers[peer].up);
    s->peers[peer].up = true;
    s->peers[peer].tx_head = P2P_INDEX_NONE; /* a peer down has none */
    s->peers[peer].up_commit = s->commit_id;
    for (uint32_t i = 0; i < s->slots.capacity; i++)
        if (slot_at(s, i)->used)
            tx_start(s, now, i, peer);
}

void p2p__gossip_sender_peer_down(struct p2p_gossip_sender *s, p2p_node_id peer)
{
    P2P_ASSERT(peer < s->peers_capacity && s->peers[peer].up);
    tx_free_list(s, s->peers[peer].tx_head, BY_PEER);
    s->peers[peer].tx_head = P2P_INDEX_NONE;
    s->peers[peer].up = false;
}

void p2p__gossip_sender_on_response(struct p2p_gossip_sender *s, p2p_time now,
                                    uint32_t tx, uint32_t gen, int err,
                                    const struct p2p_frame *f)
{
    if (tx >= s->txs.capacity)
        return;
    struct p2p_tx *t = tx_at(s, tx);
    if (!t->used || t->gen != gen)
        return;
    t->stream = P2P_INDEX_NONE; /* the stream is closed either way */
    if (err == 0 && f->status == P2P_STATUS_OK) {
        s->env->metrics->updates_acked++;
        p2p_histogram_observe(&s->env->hists[P2P_HIST_UPDATE_ACK],
                              P2P_HIST_UPDATE_ACK,
                              now > t->started_ns ? now - t->started_ns : 0);
        uint32_t slot = t->slot;
        tx_free(s, tx);
        settle(s, slot);
        return;
    }
    s->env->metrics->updates_retried++;
    uint32_t slot = t->slot;
    p2p_outbox_event(s->env->outbox, P2P_EV_UPDATE_RETRY, t->peer,
                     &slot_at(s, slot)->id, err ? err : (int64_t)f->status);
    schedule_retry(s, now, tx);
    settle(s, slot); /* given up for want of a timer: maybe the last */
}

void p2p__gossip_sender_on_retry(struct p2p_gossip_sender *s, p2p_time now,
                                 uint32_t tx, uint32_t gen)
{
    if (tx >= s->txs.capacity)
        return;
    struct p2p_tx *t = tx_at(s, tx);
    if (!t->used || t->gen != gen || t->stream != P2P_INDEX_NONE)
        return;
    uint32_t slot = t->slot;
    if (t->peer >= s->peers_capacity || !s->peers[t->peer].up)
        tx_free(s, tx);
    else
        transmit(s, now, tx);
    settle(s, slot);
}
