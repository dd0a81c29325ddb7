/* The node: composes pools, streams, sender, receiver and downloader behind
 * the shim's entry points, and runs the node's timers. */
#include "core/node.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

/* ---- lifecycle ---- */

int p2p_node_new(const struct p2p_config *c, struct p2p_mem *mem,
                 struct p2p_node **out)
{
    int rc = p2p_config_check(c);
    if (rc != 0)
        return rc;
    struct p2p_node *n = p2p_mem_alloc(mem, P2P_MEM_OTHER, sizeof(*n));
    if (n == NULL)
        return P2P_ERR_NOMEM;
    n->cfg = *c;
    n->mem = mem;
    p2p_rng_init(&n->rng, c->seed, c->self);
    /* Hash keys come from a stream of their own, so the protocol's draws
     * are the same whatever the tables do. */
    struct p2p_rng keys;
    p2p_rng_init(&keys, c->seed, ((uint64_t)c->self << 32) | 0x6b657973u);
#ifdef P2P_BUGGIFY
    p2p__buggify_init(n);
#endif
    p2p_outbox_init(&n->outbox, mem, c->outbox_actions_max);
    n->outbox.events_enabled = c->events;
    p2p_timer_heap_init(&n->timers, mem, c->timers_max);
    p2p_pool_init(&n->pool, mem, &c->pool, p2p_rng_u64(&keys));
    n->bouncer = p2p_bouncer_wants_all;
    p2p__table_init(&n->streams, sizeof(struct p2p_stream),
                    offsetof(struct p2p_stream, next_free),
                    offsetof(struct p2p_stream, gen), c->streams_max,
                    P2P_MEM_STREAMS);
    p2p_keymap_init(&n->stream_by_key, mem, P2P_MEM_STREAMS, c->streams_max,
                    p2p_rng_u64(&keys));
    n->next_stream_id = 1;
    p2p__table_init(&n->slots, sizeof(struct p2p_slot),
                    offsetof(struct p2p_slot, next_free),
                    offsetof(struct p2p_slot, gen), c->slots_max,
                    P2P_MEM_SENDER);
    p2p_keymap_init(&n->slot_by_id, mem, P2P_MEM_SENDER, c->slots_max,
                    p2p_rng_u64(&keys));
    p2p__table_init(&n->txs, sizeof(struct p2p_tx),
                    offsetof(struct p2p_tx, next_free),
                    offsetof(struct p2p_tx, gen),
                    c->slots_max < UINT32_MAX / 64 ? c->slots_max * 64
                                                   : UINT32_MAX - 1,
                    P2P_MEM_SENDER);
    p2p__table_init(&n->downloads, sizeof(struct p2p_download),
                    offsetof(struct p2p_download, next_free),
                    offsetof(struct p2p_download, gen), c->downloads_max,
                    P2P_MEM_DOWNLOADER);
    p2p_keymap_init(&n->download_by_id, mem, P2P_MEM_DOWNLOADER,
                    c->downloads_max, p2p_rng_u64(&keys));
    p2p__state_init(n);
    *out = n;
    return 0;
}

void p2p_node_del(struct p2p_node *n)
{
    if (n == NULL)
        return;
    struct p2p_mem *mem = n->mem;
    p2p__state_fini(n);
    for (uint32_t i = 0; i < n->streams.capacity; i++) {
        struct p2p_stream *s = p2p__table_at(&n->streams, i);
        if (s->used)
            p2p_frame_reader_fini(&s->reader);
    }
    for (uint32_t i = 0; i < n->downloads.capacity; i++) {
        struct p2p_download *d = p2p__table_at(&n->downloads, i);
        p2p_mem_free(mem, P2P_MEM_DOWNLOADER, d->advs);
    }
    for (uint32_t i = 0; i < n->peers_capacity; i++)
        p2p_mem_free(mem, P2P_MEM_RECEIVER, n->peers[i].slots);
    for (uint32_t i = 0; i < n->slots.capacity; i++) {
        struct p2p_slot *s = p2p__table_at(&n->slots, i);
        if (s->used)
            p2p_mem_free(mem, P2P_MEM_SENDER, s->update);
    }
    p2p_mem_free(mem, P2P_MEM_RECEIVER, n->peers);
    p2p_topology_fini(&n->topology, mem);
    p2p__table_fini(&n->streams, mem);
    p2p_keymap_fini(&n->stream_by_key);
    p2p__table_fini(&n->slots, mem);
    p2p_keymap_fini(&n->slot_by_id);
    p2p__table_fini(&n->txs, mem);
    p2p__table_fini(&n->downloads, mem);
    p2p_keymap_fini(&n->download_by_id);
    p2p_pool_fini(&n->pool);
    p2p_timer_heap_fini(&n->timers);
    p2p_outbox_fini(&n->outbox);
    p2p_mem_free(mem, P2P_MEM_OTHER, n);
}

/* ---- timers ---- */

/* Whether a timer's owner still waits for it; stale ones are skipped when
 * they fire, and purged when the heap would otherwise grow. */
static bool timer_live(const void *ctx, const struct p2p_timer *t)
{
    const struct p2p_node *n = ctx;
    switch ((enum timer_kind)t->kind) {
    case TIMER_STREAM_DEADLINE: {
        if (t->index >= n->streams.capacity)
            return false;
        const struct p2p_stream *s = p2p__table_at(&n->streams, t->index);
        return s->used && s->gen == t->gen && t->deadline >= s->deadline_ns;
    }
    case TIMER_TX_RETRY: {
        if (t->index >= n->txs.capacity)
            return false;
        const struct p2p_tx *tx = p2p__table_at(&n->txs, t->index);
        return tx->used && tx->gen == t->gen && tx->stream == P2P_INDEX_NONE;
    }
    case TIMER_DOWNLOAD: {
        if (t->index >= n->downloads.capacity)
            return false;
        const struct p2p_download *d = p2p__table_at(&n->downloads, t->index);
        return d->used && d->gen == t->gen && d->state == DL_BACKOFF &&
               d->backoff_until == t->deadline;
    }
    case TIMER_BOUNCER_REFRESH:
        return true;
    case TIMER_REDIAL:
        return p2p__redial_live(n, t->index, t->gen);
    case TIMER_STATE_ADVERT:
    case TIMER_STATE_SYNC:
        return p2p__state_timer_live(n, t->kind, t->gen, t->deadline);
    case TIMER_STATE_SLOW:
        return n->state.active && n->state.gen == t->gen;
    }
    return true;
}

int p2p__timer(struct p2p_node *n, p2p_time deadline, enum timer_kind kind,
               uint32_t index, uint32_t gen)
{
    /* Before the heap grows, drop timers nobody waits for any more: closed
     * streams leave their deadlines behind, and at n peers that is most of
     * the heap. */
    if ((n->timers.count == n->timers.capacity && n->timers.count > 0) ||
        P2P_BUGGIFY_AT(n, P2P_BUGGIFY_COMPACT_TIMERS))
        (void)p2p_timer_heap_compact(&n->timers, timer_live, n);
    int rc = p2p_timer_heap_push(&n->timers, deadline, kind, index, gen);
    if (rc != 0)
        n->metrics.timers_refused++;
    return rc;
}

p2p_time p2p_node_next_deadline(const struct p2p_node *n)
{
    return p2p_timer_heap_next(&n->timers);
}

int p2p_node_on_timer(struct p2p_node *n, p2p_time now)
{
    struct p2p_timer t;
    while (p2p_timer_heap_pop_due(&n->timers, now, &t)) {
        switch ((enum timer_kind)t.kind) {
        case TIMER_STREAM_DEADLINE:
            /* A deadline found long after it passed means this node
             * stalled (a paused process, a clock step): not the peer's
             * fault, so no penalty. */
            p2p__stream_on_deadline(n, now, t.index, t.gen,
                                    now - t.deadline <= P2P_TIMER_STALL_NS);
            break;
        case TIMER_TX_RETRY:
            p2p__sender_on_retry(n, now, t.index, t.gen);
            break;
        case TIMER_DOWNLOAD:
            p2p__downloader_on_timer(n, now, t.index, t.gen);
            break;
        case TIMER_BOUNCER_REFRESH:
            p2p__downloader_on_refresh_timer(n, now);
            break;
        case TIMER_REDIAL:
            p2p__conn_on_redial(n, now, t.index, t.gen);
            break;
        case TIMER_STATE_ADVERT:
            p2p__state_on_advert_timer(n, now);
            break;
        case TIMER_STATE_SYNC:
            p2p__state_on_sync_timer(n, now, t.gen);
            break;
        case TIMER_STATE_SLOW:
            p2p__state_slow_on_timer(n, now, t.gen);
            break;
        default:
            P2P_UNREACHABLE();
        }
    }
    p2p__conn_apply_bans(n, now);
    return 0;
}

/* ---- peers ---- */

struct p2p_peer *p2p__peer_up(struct p2p_node *n, p2p_node_id id)
{
    if (id >= n->peers_capacity || !n->peers[id].up)
        return NULL;
    return &n->peers[id];
}

int p2p_node_on_stream_data(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                            uint64_t stream_id, bool inbound,
                            const uint8_t *data, size_t len, bool fin)
{
    if (p2p__peer_up(n, peer) == NULL)
        return P2P_ERR_NOT_FOUND;
    int rc = p2p__stream_on_data(n, now, peer, stream_id, inbound, data, len,
                                 fin);
    p2p__conn_apply_bans(n, now);
    return rc;
}

int p2p_node_on_stream_reset(struct p2p_node *n, p2p_time now,
                             p2p_node_id peer, uint64_t stream_id, bool inbound)
{
    return p2p__stream_on_reset(n, now, peer, stream_id, inbound);
}

/* ---- client calls ---- */

int p2p_node_insert(struct p2p_node *n, p2p_time now,
                    enum p2p_artifact_kind kind, const uint8_t *body,
                    size_t len, struct p2p_artifact_id *id_out)
{
    if (kind >= P2P_KINDS_COUNT || (body == NULL && len > 0))
        return P2P_ERR_INVALID_ARG;
    /* It must fit, with its envelope, in one message to be sent at all. */
    if (len > P2P_ARTIFACT_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    struct p2p_artifact_id id;
    p2p_id_of(body, len, &id);
    int rc = p2p_pool_insert(&n->pool, P2P_POOL_VALIDATED, &id, kind, body,
                             len, P2P_NODE_NONE, now);
    if (rc != 0)
        return rc;
    rc = p2p__sender_add(n, now, p2p_pool_get(&n->pool, &id), false);
    if (rc != 0) {
        (void)p2p_pool_remove(&n->pool, &id);
        return rc;
    }
    p2p__downloader_done(n, &id);
    if (id_out != NULL)
        *id_out = id;
    return 0;
}

int p2p_node_validate(struct p2p_node *n, p2p_time now,
                      const struct p2p_artifact_id *id, bool accept)
{
    const struct p2p_pool_entry *e = p2p_pool_get(&n->pool, id);
    if (e == NULL)
        return P2P_ERR_NOT_FOUND;
    if (e->section != P2P_POOL_UNVALIDATED)
        return P2P_ERR_STATE;
    if (!accept) {
        n->metrics.artifacts_rejected++;
        return p2p_pool_remove(&n->pool, id);
    }
    /* Check the slot table first, so a refusal leaves the artifact
     * unvalidated rather than validated but never relayed. */
    if (n->slots.count >= n->cfg.slots_max)
        return P2P_ERR_LIMIT;
    int rc = p2p_pool_promote(&n->pool, id);
    if (rc != 0)
        return rc;
    rc = p2p__sender_add(n, now, p2p_pool_get(&n->pool, id), true);
    if (rc != 0)
        return rc; /* out of memory: validated, relayed on no peer */
    n->metrics.artifacts_validated++;
    return 0;
}

int p2p_node_remove(struct p2p_node *n, p2p_time now,
                    const struct p2p_artifact_id *id)
{
    (void)now;
    int rc = p2p_pool_remove(&n->pool, id);
    if (rc != 0)
        return rc;
    p2p__sender_remove(n, id);
    n->metrics.artifacts_removed++;
    return 0;
}

void p2p_node_set_bouncer(struct p2p_node *n, p2p_time now, p2p_bouncer_fn fn,
                          void *ctx)
{
    n->bouncer = fn != NULL ? fn : p2p_bouncer_wants_all;
    n->bouncer_ctx = ctx;
    p2p__downloader_refresh(n, now);
}

struct p2p_outbox *p2p_node_outbox(struct p2p_node *n) { return &n->outbox; }
const struct p2p_pool *p2p_node_pool(const struct p2p_node *n)
{
    return &n->pool;
}
const struct p2p_metrics *p2p_node_metrics(const struct p2p_node *n)
{
    return &n->metrics;
}
const struct p2p_config *p2p_node_config(const struct p2p_node *n)
{
    return &n->cfg;
}

int p2p_node_check_invariants(const struct p2p_node *n)
{
    if (n->slot_by_id.count != n->slots.count ||
        n->stream_by_key.count != n->streams.count ||
        n->download_by_id.count != n->downloads.count)
        return P2P_ERR_INTERNAL;
    for (int s = 0; s < P2P_POOL_SECTIONS; s++)
        if (n->pool.count[s] > n->cfg.pool.count_max[s] ||
            n->pool.bytes[s] > n->cfg.pool.bytes_max[s])
            return P2P_ERR_INTERNAL;
    return 0;
}

int p2p_node_check_invariants_deep(const struct p2p_node *n)
{
    int rc = p2p_node_check_invariants(n);
    if (rc != 0)
        return rc;
    uint32_t slots_used = 0;
    for (uint32_t i = 0; i < n->slots.capacity; i++) {
        const struct p2p_slot *s = p2p__table_at(&n->slots, i);
        if (!s->used)
            continue;
        slots_used++;
        const struct p2p_pool_entry *e = p2p_pool_get(&n->pool, &s->id);
        /* Every slot broadcasts something the validated pool holds. */
        if (e == NULL || e->section != P2P_POOL_VALIDATED)
            return P2P_ERR_INTERNAL;
    }
    if (slots_used != n->slots.count)
        return P2P_ERR_INTERNAL;
    uint32_t pending = 0;
    for (uint32_t p = 0; p < n->peers_capacity; p++)
        for (uint32_t s = 0; s < n->peers[p].slots_capacity; s++)
            pending += n->peers[p].slots[s].pending;
    if (pending != n->views_pending)
        return P2P_ERR_INTERNAL;
    return p2p__downloader_check(n);
}
