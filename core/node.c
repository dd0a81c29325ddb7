/* The node: composes pools, streams, sender, receiver and downloader behind
 * the shim's entry points, and runs the node's timers. */
#include "core/node.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/metrics_registry.h"
#include "core/status.h"

/* ---- lifecycle ---- */

static bool timer_live(const void *ctx, const struct p2p_timer *t);
static void on_stream_deadline(struct p2p_node *n, p2p_time now, uint32_t index,
                               uint32_t gen, bool blame_peer);
static void close_conn(struct p2p_node *n, p2p_time now, p2p_node_id id,
                       int64_t reason);
static void streams_peer_down(struct p2p_node *n, p2p_time now,
                              p2p_node_id peer);
static void epilogue(struct p2p_node *n, p2p_time now);

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
    p2p__buggify_init(&n->bug, &n->cfg);
#endif
    p2p_outbox_init(&n->outbox, mem, c->outbox_actions_max);
    n->outbox.events_enabled = c->events;
    p2p__timers_init(&n->timers, mem, c->timers_max, &n->metrics, &n->bug);
    n->timers.live = timer_live;
    n->timers.live_ctx = n;
    p2p_pool_init(&n->pool, mem, &c->pool, p2p_rng_u64(&keys));
    p2p__ledger_init(&n->ledger, &n->cfg, mem, &n->metrics);
    n->env = (struct p2p_env){.cfg = &n->cfg,
                              .mem = mem,
                              .outbox = &n->outbox,
                              .timers = &n->timers,
                              .rng = &n->rng,
                              .metrics = &n->metrics,
                              .hists = n->hists,
                              .bug = &n->bug,
                              .ledger = &n->ledger,
                              .pool = &n->pool,
                              .bouncer = p2p_bouncer_wants_all};
    p2p__streams_init(&n->streams, &n->env, p2p_rng_u64(&keys));
    p2p__conn_manager_init(&n->conns, &n->env);
    p2p__gossip_sender_init(&n->sender, &n->env, &n->streams,
                            p2p_rng_u64(&keys));
    p2p__downloader_init(&n->dl, &n->env, &n->streams, p2p_rng_u64(&keys));
    p2p__gossip_receiver_init(&n->receiver, &n->env, &n->streams, &n->dl,
                              p2p_rng_u64(&keys));
    p2p__state_sync_init(&n->state, &n->env, &n->streams,
                         p2p__conn_manager_topology(&n->conns));
    *out = n;
    return 0;
}

void p2p_node_del(struct p2p_node *n)
{
    if (n == NULL)
        return;
    struct p2p_mem *mem = n->mem;
    p2p__state_sync_fini(&n->state);
    p2p__streams_fini(&n->streams);
    p2p__gossip_receiver_fini(&n->receiver);
    p2p__conn_manager_fini(&n->conns);
    p2p__ledger_fini(&n->ledger);
    p2p__gossip_sender_fini(&n->sender);
    p2p__downloader_fini(&n->dl);
    p2p_pool_fini(&n->pool);
    p2p__timers_fini(&n->timers);
    p2p_outbox_fini(&n->outbox);
    p2p_mem_free(mem, P2P_MEM_OTHER, n);
}

/* ---- timers ---- */

/* Whether a timer's owner still waits for it; stale ones are skipped when
 * they fire, and purged when the heap would otherwise grow. */
static bool timer_live(const void *ctx, const struct p2p_timer *t)
{
    const struct p2p_node *n = ctx;
    switch ((enum p2p_timer_kind)t->kind) {
    case P2P_TIMER_STREAM_DEADLINE:
        return p2p__streams_timer_live(&n->streams, t->index, t->gen,
                                       t->deadline);
    case P2P_TIMER_TX_RETRY:
        return p2p__gossip_sender_timer_live(&n->sender, t->index, t->gen);
    case P2P_TIMER_SLOT_DELETE:
        return p2p__gossip_sender_delete_timer_live(&n->sender, t->index,
                                                    t->gen);
    case P2P_TIMER_DOWNLOAD:
        return p2p__downloader_timer_live(&n->dl, t->index, t->gen,
                                          t->deadline);
    case P2P_TIMER_BOUNCER_REFRESH:
        return true;
    case P2P_TIMER_REDIAL:
        return p2p__conn_manager_redial_live(&n->conns, t->index, t->gen);
    case P2P_TIMER_STATE_ADVERT:
    case P2P_TIMER_STATE_SYNC:
    case P2P_TIMER_STATE_SLOW:
        return p2p__state_sync_timer_live(&n->state, t->kind, t->gen,
                                          t->deadline);
    }
    return true;
}

p2p_time p2p_node_next_deadline(const struct p2p_node *n)
{
    return p2p_timer_heap_next(&n->timers.heap);
}

int p2p_node_on_timer(struct p2p_node *n, p2p_time now)
{
    struct p2p_timer t;
    while (p2p_timer_heap_pop_due(&n->timers.heap, now, &t)) {
        switch ((enum p2p_timer_kind)t.kind) {
        case P2P_TIMER_STREAM_DEADLINE:
            /* A deadline found long after it passed means this node
             * stalled (a paused process, a clock step): not the peer's
             * fault, so no penalty. */
            on_stream_deadline(n, now, t.index, t.gen,
                               now - t.deadline <= P2P_TIMER_STALL_NS);
            break;
        case P2P_TIMER_TX_RETRY:
            p2p__gossip_sender_on_retry(&n->sender, now, t.index, t.gen);
            break;
        case P2P_TIMER_SLOT_DELETE:
            p2p__gossip_sender_on_delete_timer(&n->sender, now, t.index, t.gen);
            break;
        case P2P_TIMER_DOWNLOAD:
            p2p__downloader_on_timer(&n->dl, now, t.index, t.gen);
            break;
        case P2P_TIMER_BOUNCER_REFRESH:
            p2p__downloader_on_refresh_timer(&n->dl, now);
            break;
        case P2P_TIMER_REDIAL:
            p2p__conn_manager_on_redial(&n->conns, now, t.index, t.gen);
            break;
        case P2P_TIMER_STATE_ADVERT:
            p2p__state_sync_on_advert_timer(&n->state, now);
            break;
        case P2P_TIMER_STATE_SYNC:
            p2p__state_sync_on_sync_timer(&n->state, now, t.gen);
            break;
        case P2P_TIMER_STATE_SLOW:
            p2p__state_sync_on_slow_timer(&n->state, now, t.gen);
            break;
        default:
            P2P_UNREACHABLE();
        }
    }
    epilogue(n, now);
    return 0;
}

/* ---- peers ---- */

static int peer_fit(struct p2p_node *n, p2p_node_id peer)
{
    int rc = p2p__conn_manager_fit(&n->conns, peer);
    if (rc == 0)
        rc = p2p__ledger_fit(&n->ledger, peer);
    if (rc == 0)
        rc = p2p__downloader_peer_fit(&n->dl, peer);
    if (rc == 0)
        rc = p2p__gossip_sender_peer_fit(&n->sender, peer);
    if (rc == 0)
        rc = p2p__gossip_receiver_peer_fit(&n->receiver, peer);
    if (rc == 0)
        rc = p2p__state_sync_peer_fit(&n->state, peer);
    if (rc == 0)
        rc = p2p__streams_peer_fit(&n->streams, peer);
    return rc;
}

/* ---- the router: connections ---- */

/* The connection to id is gone: its streams fail, its slot views and
 * adverts are forgotten; the sender will resend every slot when it comes
 * back. Only a peer that left the subnet (`left`) withdraws its adverts
 * from the unvalidated pool, as the IC purges a peer from its receiver
 * only when it leaves the topology. The peer counts as up until the
 * end. */
static void connection_gone(struct p2p_node *n, p2p_time now, p2p_node_id id,
                            bool left)
{
    /* State sync first, so that the failures of the peer's streams below
     * cannot send its requests back to it. */
    p2p__state_sync_peer_down(&n->state, now, id);
    streams_peer_down(n, now, id);
    p2p__gossip_sender_peer_down(&n->sender, id);
    p2p__gossip_receiver_peer_down(&n->receiver, now, id, left);
    p2p__conn_manager_gone(&n->conns, id);
}

/* Closes (or stops dialling) a connection core no longer wants. */
static void close_conn(struct p2p_node *n, p2p_time now, p2p_node_id id,
                       int64_t reason)
{
    enum p2p_conn_close c = p2p__conn_manager_close(&n->conns, id, reason);
    if (c == P2P_CONN_CLOSE_NOTHING)
        return;
    if (c == P2P_CONN_CLOSE_WAS_UP)
        connection_gone(n, now, id, reason == P2P_ERR_STATE);
    p2p__conn_manager_closed(&n->conns, id);
}

bool p2p_node_accepts_peer(const struct p2p_node *n, p2p_time now,
                           p2p_node_id peer)
{
    return p2p__conn_manager_accepts(&n->conns, now, peer);
}

/* Closes what is no longer wanted after a change of membership: ids that
 * left, or all of them when this node itself left. */
static void close_unwanted(struct p2p_node *n, p2p_time now)
{
    for (p2p_node_id id = 0; id < p2p__conn_manager_capacity(&n->conns); id++)
        if (id != n->cfg.self && !p2p__conn_manager_wanted(&n->conns, id))
            close_conn(n, now, id, P2P_ERR_STATE);
}

int p2p_node_on_topology(struct p2p_node *n, p2p_time now,
                         const struct p2p_topology_update *u)
{
    /* Make room for every member's record first, so that running out of
     * memory changes nothing. */
    p2p_node_id top = 0;
    for (uint32_t i = 0; i < u->count && u->members != NULL; i++)
        if (u->members[i].id > top && u->members[i].id < n->cfg.node_ids_max)
            top = u->members[i].id;
    if (u->count > 0 && peer_fit(n, top) != 0)
        return P2P_ERR_NOMEM;
    int rc = p2p__conn_manager_set_topology(&n->conns, u);
    if (rc != 0)
        return rc;
    close_unwanted(n, now);
    /* Dial the members that are ours to dial. */
    const struct p2p_topology *t = p2p__conn_manager_topology(&n->conns);
    for (uint32_t i = 0; i < t->count; i++) {
        p2p_node_id id = t->members[i].id;
        if (!p2p__conn_manager_wanted(&n->conns, id) ||
            !p2p_conn_should_dial(n->cfg.self, id))
            continue;
        if (peer_fit(n, id) != 0)
            return P2P_ERR_NOMEM;
        p2p__conn_manager_dial_member(&n->conns, now, id);
    }
    epilogue(n, now);
    return 0;
}

int p2p_node_on_registry_earliest(struct p2p_node *n, p2p_time now,
                                  uint64_t earliest)
{
    int rc = p2p__conn_manager_set_earliest(&n->conns, earliest);
    if (rc != 0)
        return rc;
    close_unwanted(n, now);
    epilogue(n, now);
    return 0;
}

int p2p_node_on_peer_up(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    if (peer >= n->cfg.node_ids_max || peer == n->cfg.self)
        return P2P_ERR_INVALID_ARG;
    if (peer_fit(n, peer) != 0)
        return P2P_ERR_NOMEM;
    if (!p2p__conn_manager_admit(&n->conns, now, peer))
        return P2P_ERR_REFUSED;
    /* A newer connection replaces the older one (the IC's peer manager). */
    if (p2p__conn_manager_is_up(&n->conns, peer)) {
        connection_gone(n, now, peer, false);
        n->metrics.conns_replaced++;
    }
    p2p__conn_manager_up(&n->conns, peer);
    p2p__gossip_sender_peer_up(&n->sender, now, peer);
    p2p__state_sync_peer_up(&n->state, now, peer);
    epilogue(n, now);
    return 0;
}

int p2p_node_on_peer_down(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    if (!p2p__conn_manager_is_up(&n->conns, peer))
        return P2P_ERR_NOT_FOUND;
    connection_gone(n, now, peer, false);
    n->metrics.conns_lost++;
    /* The IC redials at once after a loss. */
    p2p__conn_manager_after_close(&n->conns, now, peer);
    epilogue(n, now);
    return 0;
}

int p2p_node_on_dial_failed(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    int rc = p2p__conn_manager_dial_failed(&n->conns, now, peer);
    epilogue(n, now);
    return rc;
}

int p2p_node_peer_info(const struct p2p_node *n, p2p_node_id peer,
                       struct p2p_peer_info *out)
{
    memset(out, 0, sizeof(*out));
    if (peer >= n->cfg.node_ids_max)
        return P2P_ERR_INVALID_ARG;
    out->member = p2p__conn_manager_is_member(&n->conns, peer);
    const struct p2p_conn_peer *c = p2p__conn_manager_peer(&n->conns, peer);
    if (c == NULL)
        return 0;
    out->up = c->up;
    out->conn = c->conn;
    const struct p2p_ledger_peer *l = p2p__ledger_peer(&n->ledger, peer);
    if (l != NULL) {
        out->penalty = l->penalty;
        out->penalty_total = l->penalty_total;
        out->bans = l->bans;
        out->banned_until = l->banned_until;
    }
    return 0;
}

const struct p2p_topology *p2p_node_topology(const struct p2p_node *n)
{
    return p2p__conn_manager_topology(&n->conns);
}

/* ---- the router: streams ---- */

/* An answer to a request no route takes. */
static int no_route(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                    uint64_t stream_id, const struct p2p_frame *f)
{
    (void)now;
    (void)f;
    struct p2p_stream_resp r = {.peer = peer,
                                .stream_id = stream_id,
                                .traffic = P2P_TRAFFIC_OTHER,
                                .status = P2P_STATUS_BAD_REQUEST};
    (void)p2p__streams_respond(&n->streams, &r);
    return P2P_ERR_NO_ROUTE;
}

static int serve_update(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        uint64_t stream_id, const struct p2p_frame *f)
{
    return p2p__gossip_receiver_on_update(&n->receiver, now, peer, stream_id,
                                          f);
}

static int serve_fetch(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                       uint64_t stream_id, const struct p2p_frame *f)
{
    (void)now;
    return p2p__gossip_receiver_on_fetch(&n->receiver, peer, stream_id, f);
}

static int serve_state(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                       uint64_t stream_id, const struct p2p_frame *f)
{
    return p2p__state_sync_on_request(&n->state, now, peer, stream_id, f);
}

/* The inbound route table: which module serves each route. */
typedef int (*route_fn)(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        uint64_t stream_id, const struct p2p_frame *f);
static const route_fn routes[P2P_ROUTES_COUNT] = {
    [P2P_ROUTE_ARTIFACT_UPDATE] = serve_update,
    [P2P_ROUTE_ARTIFACT_RPC] = serve_fetch,
    [P2P_ROUTE_STATE_ADVERT] = serve_state,
    [P2P_ROUTE_STATE_CHUNK] = serve_state,
};

/* Hands a stream's outcome to the module it belongs to: a request to its
 * route's server, a response to the owner that waits for it. Returns the
 * server's result for a request, 0 otherwise. */
static int dispatch(struct p2p_node *n, p2p_time now, struct p2p_stream_done *d)
{
    int rc = 0;
    const struct p2p_frame *f = d->err == 0 ? &d->frame : NULL;
    if (d->end == P2P_STREAM_END_REQUEST) {
        route_fn fn = (unsigned)d->frame.route < P2P_ROUTES_COUNT
                          ? routes[d->frame.route]
                          : NULL;
        rc = (fn != NULL ? fn : no_route)(n, now, d->peer, d->stream_id, f);
    } else if (d->end == P2P_STREAM_END_RESPONSE) {
        switch (d->owner) {
        case P2P_OWNER_STATE_SYNC:
            p2p__state_sync_on_response(&n->state, now, d->peer, d->owner_index,
                                        d->owner_gen, d->err, f);
            break;
        case P2P_OWNER_SENDER:
            p2p__gossip_sender_on_response(&n->sender, now, d->owner_index,
                                           d->owner_gen, d->err, f);
            break;
        case P2P_OWNER_DOWNLOADER:
            p2p__downloader_on_response(&n->dl, now, d->owner_index,
                                        d->owner_gen, d->err, f);
            break;
        case P2P_OWNER_NONE:
            break;
        }
    }
    p2p__streams_done_fini(d);
    return rc;
}

/* A stream deadline fired: an outbound one's owner may wait on (the
 * downloader, for a busy but alive peer), else it fails. */
static void on_stream_deadline(struct p2p_node *n, p2p_time now, uint32_t index,
                               uint32_t gen, bool blame_peer)
{
    struct p2p_stream_due due;
    if (!p2p__streams_due(&n->streams, now, index, gen, &due))
        return;
    p2p_time more =
        due.owner == P2P_OWNER_DOWNLOADER
            ? p2p__downloader_more_time(
                  &n->dl, now, due.owner_index, due.owner_gen, due.opened_ns,
                  p2p__streams_answered_ns(&n->streams, due.peer))
            : 0;
    if (more > 0 && p2p__streams_extend(&n->streams, now, index, more) == 0)
        return;
    struct p2p_stream_done d;
    p2p__streams_expire(&n->streams, now, index, blame_peer, &d);
    (void)dispatch(n, now, &d);
}

static void streams_peer_down(struct p2p_node *n, p2p_time now,
                              p2p_node_id peer)
{
    uint32_t cursor = 0;
    struct p2p_stream_done d;
    while (p2p__streams_peer_down_next(&n->streams, peer, &cursor, &d))
        (void)dispatch(n, now, &d);
}

static void epilogue(struct p2p_node *n, p2p_time now)
{
    /* Bans wait until here: no handler still uses the peer. */
    for (p2p_node_id id = 0; p2p__ledger_take_ban(&n->ledger, now, &id); id++) {
        close_conn(n, now, id, P2P_ERR_MISBEHAVED);
        p2p__conn_manager_after_close(&n->conns, now, id); /* at its end */
    }
}

int p2p_node_on_stream_data(struct p2p_node *n, p2p_time now,
                            const struct p2p_stream_bytes *in)
{
    if (in->tail != NULL && !in->fin)
        return P2P_ERR_INVALID_ARG; /* a tail ends the peer's half */
    if (!p2p__conn_manager_is_up(&n->conns, in->peer))
        return P2P_ERR_NOT_FOUND;
    struct p2p_stream_done d;
    int rc = p2p__streams_on_data(&n->streams, now, in, &d);
    if (d.end == P2P_STREAM_END_REQUEST)
        rc = dispatch(n, now, &d);
    else
        (void)dispatch(n, now, &d);
    epilogue(n, now);
    return rc;
}

int p2p_node_on_stream_reset(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                             uint64_t stream_id, bool inbound)
{
    struct p2p_stream_done d;
    int rc =
        p2p__streams_on_reset(&n->streams, now, peer, stream_id, inbound, &d);
    (void)dispatch(n, now, &d);
    return rc;
}

/* ---- client calls ---- */

int p2p_node_insert(struct p2p_node *n, p2p_time now,
                    enum p2p_artifact_kind kind, const uint8_t *body,
                    size_t len, struct p2p_artifact_id *id_out)
{
    if (kind >= P2P_KINDS_COUNT || (body == NULL && len > 0))
        return P2P_ERR_INVALID_ARG;
    if (len > P2P_ARTIFACT_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    /* Uncharged: the pool's own reference is what the node holds. */
    struct p2p_body *b = p2p_body_copy(NULL, P2P_MEM_POOL, body, len);
    if (b == NULL)
        return P2P_ERR_NOMEM;
    int rc = p2p_node_insert_body(n, now, kind, b, id_out);
    p2p_body_release(b, NULL, P2P_MEM_POOL);
    return rc;
}

int p2p_node_insert_body(struct p2p_node *n, p2p_time now,
                         enum p2p_artifact_kind kind, struct p2p_body *b,
                         struct p2p_artifact_id *id_out)
{
    return p2p_node_insert_at_height(n, now, kind, b, 0, id_out);
}

/* Whether an artifact at height is below the purge height. */
static bool below_purge(const struct p2p_node *n, uint64_t height)
{
    return height > 0 && height < n->pool.purge_height;
}

int p2p_node_insert_at_height(struct p2p_node *n, p2p_time now,
                              enum p2p_artifact_kind kind, struct p2p_body *b,
                              uint64_t height, struct p2p_artifact_id *id_out)
{
    if (kind >= P2P_KINDS_COUNT || b == NULL)
        return P2P_ERR_INVALID_ARG;
    if (below_purge(n, height))
        return P2P_ERR_STATE;
    /* It must fit, with its envelope, in one message to be sent at all. */
    if (b->len > P2P_ARTIFACT_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    struct p2p_artifact_id id = *p2p_body_id(b);
    struct p2p_pool_item item = {.section = P2P_POOL_VALIDATED,
                                 .id = &id,
                                 .kind = kind,
                                 .shared = b,
                                 .from = P2P_NODE_NONE,
                                 .height = height};
    int rc = p2p_pool_insert(&n->pool, now, &item);
    if (rc != 0)
        return rc;
    rc = p2p__gossip_sender_add(&n->sender, now, p2p_pool_get(&n->pool, &id),
                                false);
    if (rc != 0) {
        (void)p2p_pool_remove(&n->pool, &id);
        return rc;
    }
    p2p__downloader_done(&n->dl, &id);
    if (id_out != NULL)
        *id_out = id;
    return 0;
}

int p2p_node_validate(struct p2p_node *n, p2p_time now,
                      const struct p2p_artifact_id *id, bool accept)
{
    return p2p_node_validate_at_height(n, now, id, accept, 0);
}

int p2p_node_validate_at_height(struct p2p_node *n, p2p_time now,
                                const struct p2p_artifact_id *id, bool accept,
                                uint64_t height)
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
    if (height == 0)
        height = e->height; /* as it came on the wire, or none */
    if (below_purge(n, height)) {
        n->metrics.artifacts_purged++;
        (void)p2p_pool_remove(&n->pool, id);
        return P2P_ERR_UNWANTED;
    }
    /* Check the slot table first, so a refusal leaves the artifact
     * unvalidated rather than validated but never relayed. */
    if (p2p__gossip_sender_full(&n->sender))
        return P2P_ERR_LIMIT;
    int rc = p2p_pool_promote(&n->pool, id);
    if (rc != 0)
        return rc;
    (void)p2p_pool_set_height(&n->pool, id, height);
    rc = p2p__gossip_sender_add(&n->sender, now, p2p_pool_get(&n->pool, id),
                                true);
    if (rc != 0)
        return rc; /* out of memory: validated, relayed on no peer */
    n->metrics.artifacts_validated++;
    return 0;
}

int p2p_node_remove(struct p2p_node *n, p2p_time now,
                    const struct p2p_artifact_id *id)
{
    int rc = p2p_pool_remove(&n->pool, id);
    if (rc != 0)
        return rc;
    p2p__gossip_sender_remove(&n->sender, now, id);
    n->metrics.artifacts_removed++;
    return 0;
}

int p2p_node_purge_below(struct p2p_node *n, p2p_time now, uint64_t height)
{
    if (height < n->pool.purge_height)
        return P2P_ERR_STATE;
    n->pool.purge_height = height;
    /* Removing frees slots but takes none: the walk sees every entry. */
    for (uint32_t i = 0; i < n->pool.capacity; i++) {
        const struct p2p_pool_entry *e = p2p_pool_at(&n->pool, i);
        if (!e->used || !below_purge(n, e->height))
            continue;
        struct p2p_artifact_id id = e->id;
        (void)p2p_pool_remove(&n->pool, &id);
        p2p__gossip_sender_remove(&n->sender, now, &id);
        n->metrics.artifacts_purged++;
    }
    return 0;
}

uint64_t p2p_node_purge_height(const struct p2p_node *n)
{
    return n->pool.purge_height;
}

void p2p_node_set_bouncer(struct p2p_node *n, p2p_time now, p2p_bouncer_fn fn,
                          void *ctx)
{
    n->env.bouncer = fn != NULL ? fn : p2p_bouncer_wants_all;
    n->env.bouncer_ctx = ctx;
    p2p__downloader_refresh(&n->dl, now);
}

void p2p_node_set_body_store(struct p2p_node *n,
                             const struct p2p_body_store *store)
{
    n->env.body_store = store;
}

struct p2p_outbox *p2p_node_outbox(struct p2p_node *n)
{
    return &n->outbox;
}
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
uint32_t p2p_node_slot_views(const struct p2p_node *n,
                             const struct p2p_artifact_id *id)
{
    return p2p__gossip_receiver_views_of(&n->receiver, id);
}

int p2p_node_check_invariants(const struct p2p_node *n)
{
    if (!p2p__gossip_sender_counts_ok(&n->sender) ||
        !p2p__streams_counts_ok(&n->streams) ||
        !p2p__downloader_counts_ok(&n->dl))
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
    if (rc == 0)
        rc = p2p__streams_check(&n->streams);
    if (rc == 0)
        rc = p2p__ledger_check(&n->ledger);
    if (rc == 0)
        rc = p2p__conn_manager_check(&n->conns);
    if (rc == 0)
        rc = p2p__downloader_check(&n->dl);
    if (rc == 0)
        rc = p2p__gossip_sender_check(&n->sender);
    if (rc == 0)
        rc = p2p__gossip_receiver_check(&n->receiver);
    if (rc == 0)
        rc = p2p__state_sync_check(&n->state);
    if (rc == 0)
        rc = p2p_timer_heap_check(&n->timers.heap);
    return rc;
}

/* ---- state sync ---- */

void p2p_node_set_state_store(struct p2p_node *n, p2p_time now,
                              const struct p2p_state_store_ops *ops, void *ctx)
{
    p2p__state_sync_set_store(&n->state, now, ops, ctx);
    epilogue(n, now);
}

void p2p_node_state_changed(struct p2p_node *n, p2p_time now)
{
    p2p__state_sync_changed(&n->state, now);
    epilogue(n, now);
}

void p2p_node_state_sync_info(const struct p2p_node *n,
                              struct p2p_state_sync_info *info)
{
    p2p__state_sync_info(&n->state, info);
}

bool p2p_node_state_sync_progress(const struct p2p_node *n,
                                  struct p2p_chunk_progress *out)
{
    return p2p__state_sync_progress(&n->state, out);
}

/* ---- metrics (core/metrics_registry.h) ---- */

const struct p2p_histogram *p2p_node_histogram(const struct p2p_node *n,
                                               enum p2p_hist h)
{
    P2P_ASSERT((unsigned)h < P2P_HISTS_COUNT);
    return &n->hists[h];
}

void p2p_node_gauges(const struct p2p_node *n, p2p_time now,
                     struct p2p_gauges *out)
{
    memset(out, 0, sizeof(*out));
    for (int s = 0; s < P2P_POOL_SECTIONS; s++) {
        out->pool_artifacts[s] = n->pool.count[s];
        out->pool_bytes[s] = n->pool.bytes[s];
    }
    for (uint32_t id = 0; id < p2p__conn_manager_capacity(&n->conns); id++) {
        const struct p2p_conn_peer *c = p2p__conn_manager_peer(&n->conns, id);
        if (c->up)
            out->conns_up++;
        else if (c->conn == P2P_CONN_DIALING)
            out->conns_dialing++;
        else if (c->conn == P2P_CONN_WAIT)
            out->conns_waiting++;
        if (p2p__ledger_banned(&n->ledger, id, now))
            out->peers_banned++;
        out->fetches_inflight += p2p__downloader_fetches(&n->dl, id);
    }
    out->streams_open = p2p__streams_count(&n->streams);
    out->downloads_pending = p2p__downloader_count(&n->dl);
    out->slots_active = p2p__gossip_sender_slots(&n->sender);
    out->transmissions = p2p__gossip_sender_txs(&n->sender);
    const struct p2p_topology_version *latest =
        p2p_topology_latest(p2p__conn_manager_topology(&n->conns));
    out->topology_members = latest != NULL ? latest->count : 0;
    out->topology_members_in_use = p2p__conn_manager_topology(&n->conns)->count;
    struct p2p_chunk_progress pr;
    struct p2p_state_sync_info info;
    p2p_node_state_sync_info(n, &info);
    if (info.active)
        out->state_sync_height = info.height;
    if (p2p_node_state_sync_progress(n, &pr)) {
        out->state_sync_chunks_total = pr.chunks_total;
        out->state_sync_chunks_held = pr.chunks_held;
        out->state_sync_bytes_total = pr.bytes_total;
        out->state_sync_bytes_held = pr.bytes_held;
    }
    out->topology_version = p2p__conn_manager_topology(&n->conns)->version;
    out->topology_earliest_version =
        p2p__conn_manager_topology(&n->conns)->earliest_version;
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++)
        out->mem_bytes[m] = n->mem->module_bytes[m];
    out->mem_bytes_total = n->mem->bytes;
    out->mem_peak_bytes = n->mem->bytes_peak;
    P2P_ASSERT(out->conns_up + out->conns_dialing + out->conns_waiting <=
               p2p__conn_manager_capacity(&n->conns));
#ifdef P2P_DEBUG
    uint64_t sum = 0;
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++)
        sum += out->mem_bytes[m];
    P2P_ASSERT(sum == out->mem_bytes_total);
#endif
}

void p2p_node_metrics_write(const struct p2p_node *n, p2p_time now,
                            struct p2p_metrics_text *t)
{
    struct p2p_gauges g;
    p2p_node_gauges(n, now, &g);
    p2p_metrics_write_node(t, &n->metrics, &g, n->hists);
}

int p2p_node_metrics_format(const struct p2p_node *n, p2p_time now, char *buf,
                            size_t cap, size_t *len)
{
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, buf, cap);
    p2p_node_metrics_write(n, now, &t);
    return p2p_metrics_text_finish(&t, len);
}
