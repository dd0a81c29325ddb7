/* The replica's loop: startup, the registry, transport events into core,
 * core's outbox into the transport (see prod/replica.h). */
#include "prod/replica.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <systemd/sd-daemon.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/pool.h"
#include "prod/durable.h"
#include "prod/identity.h"
#include "prod/replica_int.h"

static const char *const LEVEL_NAMES[] = {"error", "warn", "info", "debug"};

uint64_t prod_replica_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * P2P_NS_PER_S + (uint64_t)ts.tv_nsec;
}

void prod_replica_log(const struct prod_replica *r, enum prod_log_level level,
                      const char *fmt, ...)
{
    if ((int)level > r->cfg.log_level)
        return;
    char when[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    char who[32];
    if (r->self == UINT32_MAX)
        snprintf(who, sizeof(who), "%.8s", r->self_hex);
    else
        snprintf(who, sizeof(who), "node %u", r->self);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ p2p-replica[%s] %s: %s\n", when,
            ts.tv_nsec / 1000000, who, LEVEL_NAMES[level], msg);
}

/* ---- core's outbox ---- */

static void rearm_core(struct prod_replica *r)
{
    ev_timer_stop(r->loop, &r->core_timer);
    if (r->node == NULL)
        return;
    p2p_time next = p2p_node_next_deadline(r->node);
    if (next == P2P_TIME_NEVER)
        return;
    p2p_time now = prod_replica_now();
    double after = next <= now ? 0.0 : (double)(next - now) / 1e9;
    ev_timer_set(&r->core_timer, after, 0.0);
    ev_timer_start(r->loop, &r->core_timer);
}

static void carry_out(struct prod_replica *r, const struct p2p_action *a)
{
    int rc;
    switch (a->type) {
    case P2P_ACT_STREAM_OPEN:
        rc = prod_transport_open(r->transport, a->peer, a->stream_id, a->bytes,
                                 a->len, a->body);
        if (rc != 0 && r->feedback_count < PROD_REPLICA_FEEDBACK_MAX)
            r->feedback[r->feedback_count++] = (struct prod_feedback){
                .dial = false, .peer = a->peer, .stream_id = a->stream_id};
        break;
    case P2P_ACT_STREAM_RESPOND:
        /* Past the connection's send budget: the peer sees a reset and
         * asks again later (or elsewhere). */
        if (prod_transport_respond(r->transport, a->peer, a->stream_id,
                                   a->bytes, a->len, a->body) != 0)
            prod_transport_reset(r->transport, a->peer, a->stream_id, true);
        break;
    case P2P_ACT_STREAM_RESET:
        prod_transport_reset(r->transport, a->peer, a->stream_id, a->inbound);
        break;
    case P2P_ACT_ARTIFACT_RECEIVED:
        if (r->validate_count < PROD_REPLICA_VALIDATE_MAX)
            r->validate[r->validate_count++] = a->id;
        else
            prod_replica_log(r, PROD_LOG_WARN,
                             "validation queue full: an artifact waits");
        break;
    case P2P_ACT_ARTIFACT_WITHDRAWN:
        break; /* validate_one finds it gone */
    case P2P_ACT_CONN_DIAL: {
        const struct prod_member *m =
            prod_registry_history_by_index(&r->hist, a->peer);
        rc = m == NULL ? P2P_ERR_NOT_FOUND
                       : prod_transport_dial(r->transport, a->peer,
                                             (const struct sockaddr *)&m->addr,
                                             m->addr_len, m->key_id);
        if (rc == 0)
            prod_replica_log(r, PROD_LOG_DEBUG, "dialling node %u at %s",
                             a->peer, m->addr_text);
        else if (rc != P2P_ERR_EXISTS &&
                 r->feedback_count < PROD_REPLICA_FEEDBACK_MAX)
            r->feedback[r->feedback_count++] =
                (struct prod_feedback){.dial = true, .peer = a->peer};
        break;
    }
    case P2P_ACT_CONN_CLOSE:
        prod_replica_log(
            r, a->value == P2P_ERR_MISBEHAVED ? PROD_LOG_WARN : PROD_LOG_INFO,
            "closing the connection to node %u: %s", a->peer,
            p2p_strerror((int)a->value));
        prod_transport_close(r->transport, a->peer, (int)a->value);
        break;
    case P2P_ACT_EVENT:
        if (r->cfg.log_level >= PROD_LOG_DEBUG) {
            char hex[17];
            p2p_id_hex(&a->id, hex, 16);
            prod_replica_log(r, PROD_LOG_DEBUG, "%s peer=%d id=%s value=%lld",
                             p2p_event_name(a->event),
                             a->peer == P2P_NODE_NONE ? -1 : (int)a->peer, hex,
                             (long long)a->value);
        }
        break;
    }
}

/* Accepts a received artifact and makes it durable. Every artifact that
 * hashes to its id is valid here: the replica has no application to ask.
 * A crash before the file is written loses nothing a peer cannot send
 * again. */
static void validate_one(struct prod_replica *r,
                         const struct p2p_artifact_id *id, p2p_time now)
{
    int rc = p2p_node_validate(r->node, now, id, true);
    if (rc != 0)
        return;
    const struct p2p_pool_entry *e = p2p_pool_get(p2p_node_pool(r->node), id);
    if (e == NULL)
        return;
    /* Its height (as it came on the wire) before it, as for a POST. */
    rc = e->height > 0 ? prod_disk_pool_put_height(r->disk_pool, id, e->height)
                       : 0;
    if (rc == 0)
        rc = prod_disk_pool_put_body(r->disk_pool, id, e->kind, e->shared);
    if (rc == 0) {
        r->artifacts_persisted++;
    } else {
        r->persist_failures++;
        prod_replica_log(r, PROD_LOG_ERROR, "cannot persist an artifact: %s",
                         p2p_strerror(rc));
    }
}

void prod_replica_drain(struct prod_replica *r)
{
    if (r->node == NULL || r->draining)
        return;
    r->draining = true;
    /* Validation and feedback make new actions: a few rounds settle. */
    for (int round = 0; round < 64; round++) {
        struct p2p_outbox *o = p2p_node_outbox(r->node);
        for (size_t i = 0; i < p2p_outbox_count(o); i++)
            carry_out(r, p2p_outbox_at(o, i));
        p2p_outbox_clear(o);
        if (r->validate_count == 0 && r->feedback_count == 0)
            break;
        p2p_time now = prod_replica_now();
        uint32_t nv = r->validate_count, nf = r->feedback_count;
        r->validate_count = 0;
        r->feedback_count = 0;
        for (uint32_t i = 0; i < nv; i++)
            validate_one(r, &r->validate[i], now);
        for (uint32_t i = 0; i < nf; i++) {
            const struct prod_feedback *f = &r->feedback[i];
            if (f->dial)
                (void)p2p_node_on_dial_failed(r->node, now, f->peer);
            else
                (void)p2p_node_on_stream_reset(r->node, now, f->peer,
                                               f->stream_id, false);
        }
    }
    r->draining = false;
    rearm_core(r);
}

static void core_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct prod_replica *r = w->data;
    int rc = p2p_node_on_timer(r->node, prod_replica_now());
    if (p2p_err_is_fatal(rc)) {
        r->failed = true;
        prod_replica_log(r, PROD_LOG_ERROR, "core failed: %s",
                         p2p_strerror(rc));
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    prod_replica_drain(r);
}

/* ---- transport events ---- */

static bool accept_key(void *ctx, const uint8_t key_id[QUIC_KEY_ID_LEN],
                       uint32_t *peer, enum quic_refusal *why)
{
    struct prod_replica *r = ctx;
    const struct prod_member *m =
        prod_registry_history_by_key(&r->hist, key_id);
    char hex[65];
    quic_cert_hex(key_id, hex);
    if (m == NULL || r->node == NULL) {
        *why = QUIC_REFUSE_NOT_MEMBER;
        /* Anyone who reaches the port can cause this: one line a second
         * at most (the metric counts them all). */
        uint64_t now = prod_replica_now();
        if (now >= r->refusal_logged_at + P2P_NS_PER_S) {
            prod_replica_log(r, PROD_LOG_WARN,
                             "refused a handshake: key %.16s is not a "
                             "member of registry version %llu (%llu more "
                             "refusals not logged)",
                             hex, (unsigned long long)r->reg->version,
                             (unsigned long long)r->refusals_unlogged);
            r->refusal_logged_at = now;
            r->refusals_unlogged = 0;
        } else {
            r->refusals_unlogged++;
        }
        return false;
    }
    if (!p2p_node_accepts_peer(r->node, prod_replica_now(), m->index)) {
        /* Our own key from elsewhere is a second process with our
         * identity; a higher id is one we dial (the lower id dials), not
         * a ban. */
        *why = m->index == r->self ? QUIC_REFUSE_DUPLICATE
               : p2p_conn_should_dial(r->self, m->index)
                   ? QUIC_REFUSE_OURS_TO_DIAL
                   : QUIC_REFUSE_BANNED;
        prod_replica_log(r, PROD_LOG_INFO,
                         "refused a handshake from node %u (%s)", m->index,
                         quic_peer_stats_refusal_name(*why));
        return false;
    }
    *peer = m->index;
    return true;
}

static void on_core_rc(struct prod_replica *r, int rc)
{
    if (p2p_err_is_fatal(rc)) {
        r->failed = true;
        prod_replica_log(r, PROD_LOG_ERROR, "core failed: %s",
                         p2p_strerror(rc));
        ev_break(r->loop, EVBREAK_ALL);
    }
}

static void peer_up(void *ctx, uint32_t peer)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL) {
        prod_transport_close(r->transport, peer, P2P_ERR_REFUSED);
        return;
    }
    prod_replica_log(r, PROD_LOG_INFO, "connected to node %u", peer);
    on_core_rc(r, p2p_node_on_peer_up(r->node, prod_replica_now(), peer));
    prod_replica_drain(r);
}

static void peer_down(void *ctx, uint32_t peer, int reason)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL)
        return;
    prod_replica_log(r, PROD_LOG_INFO, "lost node %u: %s", peer,
                     p2p_strerror(reason));
    (void)p2p_node_on_peer_down(r->node, prod_replica_now(), peer);
    prod_replica_drain(r);
}

/* The transport's warnings (duplicate identities) in the replica's log. */
static void transport_warn(void *ctx, const char *msg)
{
    prod_replica_log(ctx, PROD_LOG_WARN, "%s", msg);
}

static void dial_failed(void *ctx, uint32_t peer, int reason)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL)
        return;
    prod_replica_log(r, PROD_LOG_DEBUG, "dial of node %u failed: %s", peer,
                     p2p_strerror(reason));
    (void)p2p_node_on_dial_failed(r->node, prod_replica_now(), peer);
    prod_replica_drain(r);
}

static void stream_data(void *ctx, uint32_t peer, uint64_t stream_id,
                        bool inbound, const uint8_t *data, size_t len, bool fin)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL)
        return;
    struct p2p_stream_bytes in = {.peer = peer,
                                  .stream_id = stream_id,
                                  .inbound = inbound,
                                  .data = data,
                                  .len = len,
                                  .fin = fin};
    int rc = p2p_node_on_stream_data(r->node, prod_replica_now(), &in);
    if (rc != 0 && !p2p_err_is_fatal(rc))
        prod_replica_log(r, PROD_LOG_DEBUG, "stream %llu from node %u: %s",
                         (unsigned long long)stream_id, peer, p2p_strerror(rc));
    on_core_rc(r, rc);
    prod_replica_drain(r);
}

static void stream_reset(void *ctx, uint32_t peer, uint64_t stream_id,
                         bool inbound)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL)
        return;
    (void)p2p_node_on_stream_reset(r->node, prod_replica_now(), peer, stream_id,
                                   inbound);
    prod_replica_drain(r);
}

/* ---- the registry ---- */

static int load_pool(void *ctx, const struct p2p_artifact_id *id,
                     enum p2p_artifact_kind kind, struct p2p_body *body)
{
    struct prod_replica *r = ctx;
    /* The body is hashed: the node reads the id from it. Its height, if
     * the client gave one, is in its height file. */
    uint64_t height = 0;
    if (prod_disk_pool_get_height(r->disk_pool, id, &height) != 0)
        prod_replica_log(r, PROD_LOG_WARN,
                         "pool: an artifact's height file is unreadable, "
                         "loaded without a height: %s",
                         prod_disk_pool_error(r->disk_pool));
    int rc = p2p_node_insert_at_height(r->node, prod_replica_now(), kind, body,
                                       height, NULL);
    if (rc != 0 && rc != P2P_ERR_EXISTS)
        prod_replica_log(r, PROD_LOG_WARN,
                         "an artifact on disk was not loaded: %s",
                         p2p_strerror(rc));
    prod_replica_drain(r);
    return 0;
}

/* The purge height persisted by POST /purge: core learns it, and a purge
 * a crash interrupted is finished on disk before the pool is loaded. */
static void load_purge_height(struct prod_replica *r)
{
    uint64_t height = 0, removed = 0;
    int rc = prod_disk_pool_get_purge_height(r->disk_pool, &height);
    if (rc != 0) {
        prod_replica_log(r, PROD_LOG_ERROR,
                         "pool: the purge height is unreadable, none used: %s",
                         prod_disk_pool_error(r->disk_pool));
        return;
    }
    if (height == 0)
        return;
    (void)p2p_node_purge_below(r->node, prod_replica_now(), height);
    rc = prod_disk_pool_purge_below(r->disk_pool, height, &removed);
    if (rc != 0)
        prod_replica_log(r, PROD_LOG_ERROR,
                         "pool: purge below height %llu stopped: %s (%s)",
                         (unsigned long long)height, p2p_strerror(rc),
                         prod_disk_pool_error(r->disk_pool));
    prod_replica_log(r, PROD_LOG_INFO,
                     "pool: purge height %llu (%llu artifacts removed now)",
                     (unsigned long long)height, (unsigned long long)removed);
}

/* Every pool entry the loader set aside, with its reason and fate. */
static void pool_dropped(void *ctx, const struct prod_disk_pool_drop *d)
{
    struct prod_replica *r = ctx;
    if (d->fate == PROD_DISK_POOL_QUARANTINED)
        prod_replica_log(
            r, PROD_LOG_WARN, "pool: dropped %s (%s): %s; moved to %s", d->path,
            prod_disk_pool_drop_reason_name(d->reason), d->detail, d->moved_to);
    else
        prod_replica_log(
            r, PROD_LOG_WARN, "pool: dropped %s (%s): %s; %s", d->path,
            prod_disk_pool_drop_reason_name(d->reason), d->detail,
            d->fate == PROD_DISK_POOL_DELETED ? "deleted" : "left in place");
}

/* Kept version k of the history to core, with the earliest in use (or
 * k's own version when the earliest lies past it: the oldest kept version
 * is the one in force at the earliest). */
static int give_version(struct prod_replica *r, uint32_t k)
{
    const struct prod_registry_version *v = &r->hist.versions[k];
    struct p2p_member *members =
        calloc(v->count ? v->count : 1, sizeof(*members));
    if (members == NULL)
        return P2P_ERR_NOMEM;
    for (uint32_t i = 0; i < v->count; i++) {
        members[i].id = v->members[i].index;
        snprintf(members[i].addr, sizeof(members[i].addr), "%s",
                 v->members[i].addr_text);
    }
    uint64_t earliest = r->hist.topo.earliest_version;
    struct p2p_topology_update u = {
        .version = v->version,
        .earliest_version = earliest < v->version ? earliest : v->version,
        .members = members,
        .count = v->count};
    int rc = p2p_node_on_topology(r->node, prod_replica_now(), &u);
    free(members);
    prod_replica_drain(r);
    return rc;
}

/* The latest version to core; a node that starts gets every version in
 * use, oldest first. */
static int apply_topology(struct prod_replica *r, bool all)
{
    int rc = 0;
    uint32_t k = all ? 0 : r->hist.count - 1;
    P2P_ASSERT(r->hist.count > 0);
    for (; rc == 0 && k < r->hist.count; k++)
        rc = give_version(r, k);
    return rc;
}

uint64_t prod_replica_earliest_for(const struct prod_replica *r,
                                   uint64_t latest)
{
    uint64_t e = r->earliest_pin != 0 && r->earliest_pin < latest
                     ? r->earliest_pin
                     : latest;
    return e < r->hist.topo.earliest_version ? r->hist.topo.earliest_version
                                             : e;
}

/* Tells systemd (Type=notify) what the replica is doing; READY=1 the
 * first time, once both sockets listen and the pool is loaded.
 * sd_notify does nothing when NOTIFY_SOCKET is unset (not under
 * systemd). */
static void notify_status(const struct prod_replica *r, bool ready)
{
    char msg[256];
    if (r->node != NULL)
        snprintf(msg, sizeof(msg),
                 "%sSTATUS=node %u of registry version %llu (%u artifacts)",
                 ready ? "READY=1\n" : "", r->self,
                 (unsigned long long)r->reg->version,
                 (unsigned)p2p_node_pool(r->node)->count[P2P_POOL_VALIDATED]);
    else
        snprintf(msg, sizeof(msg),
                 "%sSTATUS=waiting for a registry version that lists this "
                 "node's key",
                 ready ? "READY=1\n" : "");
    (void)sd_notify(0, msg);
}

/* Makes the core node once the registry lists our key. */
static int start_node(struct prod_replica *r, uint32_t self)
{
    uint64_t seed;
    (void)gnutls_rnd(GNUTLS_RND_NONCE, &seed, sizeof(seed));
    struct p2p_config c;
    p2p_config_default(&c, self, seed);
    prod_config_apply(&r->cfg, &c);
    c.node_ids_max = PROD_REGISTRY_INDEX_MAX;
    c.events = r->cfg.log_level >= PROD_LOG_DEBUG;
    int rc = p2p_config_check(&c);
    if (rc == 0)
        rc = p2p_node_new(&c, &r->mem, &r->node);
    if (rc != 0) {
        prod_replica_log(r, PROD_LOG_ERROR, "cannot start core: %s",
                         p2p_strerror(rc));
        return rc;
    }
    r->self = self;
    p2p_node_set_state_store(r->node, prod_replica_now(), prod_disk_state_ops(),
                             r->disk_state);
    /* Large fetched artifacts are written into their pool files as they
     * arrive, and persisting one renames its file (prod/disk_body.h). */
    p2p_node_set_body_store(r->node, prod_disk_pool_body_store(r->disk_pool));
    /* Messages that carry a body come as a head and a reference to it:
     * the transport sends the body from where it lies. */
    p2p_node_outbox(r->node)->shared_bodies = true;
    load_purge_height(r);
    uint32_t dropped = 0;
    rc =
        prod_disk_pool_load(r->disk_pool, load_pool, pool_dropped, r, &dropped);
    if (rc != 0)
        prod_replica_log(r, PROD_LOG_ERROR, "pool: load stopped: %s (%s)",
                         p2p_strerror(rc), prod_disk_pool_error(r->disk_pool));
    if (dropped > 0)
        prod_replica_log(r, PROD_LOG_WARN,
                         "pool: %u entries dropped at load (see above)",
                         dropped);
    prod_replica_log(
        r, PROD_LOG_INFO,
        "started as node %u of registry version %llu (%u "
        "artifacts loaded)",
        self, (unsigned long long)r->reg->version,
        (unsigned)p2p_node_pool(r->node)->count[P2P_POOL_VALIDATED]);
    notify_status(r, false);
    return apply_topology(r, true);
}

static int apply_registry(struct prod_replica *r)
{
    const struct prod_member *me =
        prod_registry_history_by_key(&r->hist, r->self_key);
    if (r->node == NULL) {
        if (me == NULL) {
            prod_replica_log(r, PROD_LOG_WARN,
                             "registry version %llu does not list this "
                             "node's key %.16s: waiting for one that does",
                             (unsigned long long)r->reg->version, r->self_hex);
            return 0;
        }
        int rc = start_node(r, me->index);
        if (rc != 0) {
            r->failed = true;
            ev_break(r->loop, EVBREAK_ALL);
        }
        return rc;
    }
    if (me != NULL && me->index != r->self)
        prod_replica_log(r, PROD_LOG_ERROR,
                         "registry version %llu moved this node from index "
                         "%u to %u: restart the replica",
                         (unsigned long long)r->reg->version, r->self,
                         me->index);
    int rc = apply_topology(r, false);
    if (rc != 0)
        prod_replica_log(r, PROD_LOG_ERROR, "registry version %llu: %s",
                         (unsigned long long)r->reg->version, p2p_strerror(rc));
    return 0;
}

/* A member whose key (or address) changed in the new version is
 * disconnected: its connection was authenticated with a key the registry
 * no longer names. Core redials it (or waits for it) with the new one. */
static void drop_changed_members(struct prod_replica *r,
                                 const struct prod_registry *old)
{
    for (uint32_t i = 0; i < r->reg->count; i++) {
        const struct prod_member *m = &r->reg->members[i];
        const struct prod_member *was = prod_registry_by_index(old, m->index);
        if (was == NULL || m->index == r->self ||
            (memcmp(was->key_id, m->key_id, QUIC_KEY_ID_LEN) == 0 &&
             strcmp(was->addr_text, m->addr_text) == 0))
            continue;
        prod_replica_log(r, PROD_LOG_INFO,
                         "node %u has a new key or address: reconnecting",
                         m->index);
        prod_transport_close(r->transport, m->index, P2P_ERR_REFUSED);
        if (r->node != NULL)
            (void)p2p_node_on_peer_down(r->node, prod_replica_now(), m->index);
    }
    prod_replica_drain(r);
}

static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct prod_replica *r = w->data;
    char err[512];
    if (prod_registry_load(r->cfg.registry_path, r->next, err, sizeof(err)) !=
        0) {
        prod_replica_log(r, PROD_LOG_WARN,
                         "registry not reloaded (keeping version %llu): %s",
                         (unsigned long long)r->reg->version, err);
        return;
    }
    if (r->next->version <= r->reg->version)
        return;
    int rc = prod_registry_history_add(
        &r->hist, r->next, prod_replica_earliest_for(r, r->next->version));
    if (rc != 0) {
        prod_replica_log(r, PROD_LOG_WARN,
                         "registry version %llu not taken (keeping %llu): %s",
                         (unsigned long long)r->next->version,
                         (unsigned long long)r->reg->version, p2p_strerror(rc));
        return;
    }
    prod_replica_log(r, PROD_LOG_INFO,
                     "registry version %llu -> %llu (earliest in use %llu)",
                     (unsigned long long)r->reg->version,
                     (unsigned long long)r->next->version,
                     (unsigned long long)r->hist.topo.earliest_version);
    struct prod_registry *old = r->reg;
    r->reg = r->next;
    r->next = old;
    drop_changed_members(r, old);
    (void)apply_registry(r);
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct prod_replica *r = w->data;
    prod_replica_log(r, PROD_LOG_INFO, "signal %d: stopping", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

/* ---- startup and shutdown ---- */

static void teardown(struct prod_replica *r)
{
    if (r->admin != NULL)
        prod_admin_stop(r->admin);
    if (r->transport != NULL)
        prod_transport_del(r->transport);
    if (r->node != NULL)
        p2p_node_del(r->node);
    quic_tls_del(r->tls);
    if (r->disk_pool != NULL)
        prod_disk_pool_close(r->disk_pool);
    if (r->disk_state != NULL)
        prod_disk_state_close(r->disk_state);
    free(r->reg);
    free(r->next);
    prod_registry_history_fini(&r->hist);
    if (r->loop != NULL)
        ev_loop_destroy(r->loop);
    /* Last: nothing of the data directory is open any more. */
    prod_durable_unlock(r->datadir_lock);
    r->datadir_lock = -1;
}

/* Every checkpoint, sync or stray the state store removed as damaged or
 * incomplete. */
static void state_dropped(void *ctx, const char *path, const char *why)
{
    prod_replica_log(ctx, PROD_LOG_WARN, "state: %s: %s", path, why);
}

static int open_disk(struct prod_replica *r, char *err, size_t err_len)
{
    const struct prod_config *c = &r->cfg;
    if (prod_disk_pool_open(c->data_dir, c->artifact_bytes_max, &r->disk_pool,
                            err, err_len) != 0 ||
        prod_disk_state_open(c->data_dir, 4, state_dropped, r, &r->disk_state,
                             err, err_len) != 0)
        return 1;
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(r->disk_state, &st);
    uint64_t height = 0;
    prod_disk_state_latest_info(r->disk_state, &height, NULL, NULL, NULL);
    prod_replica_log(r, st.dropped_at_open > 0 ? PROD_LOG_WARN : PROD_LOG_INFO,
                     "state: newest checkpoint at height %llu (%llu entries "
                     "dropped at open)",
                     (unsigned long long)height,
                     (unsigned long long)st.dropped_at_open);
    return 0;
}

static int open_parts(struct prod_replica *r, char *err, size_t err_len)
{
    const struct prod_config *c = &r->cfg;
    /* Before anything else reads or changes the data directory: a second
     * replica on it would remove the files the first is still writing. */
    int rc = prod_durable_lock(c->data_dir, &r->datadir_lock, err, err_len);
    if (rc != 0)
        return rc == P2P_ERR_STATE ? 2 : 1;
    rc = prod_identity_tls_new(c->key_path, c->cert_path, &r->tls, r->self_key,
                               err, err_len);
    if (rc != 0)
        return 2;
    quic_cert_hex(r->self_key, r->self_hex);
    if (c->node_id_hex[0] != '\0' && strcmp(c->node_id_hex, r->self_hex) != 0) {
        snprintf(err, err_len,
                 "node_id %.64s does not match the key of %.512s (%.64s)",
                 c->node_id_hex, c->cert_path, r->self_hex);
        return 2;
    }
    if (prod_registry_load(c->registry_path, r->reg, err, err_len) != 0)
        return 2;
    if (prod_registry_history_add(&r->hist, r->reg, r->reg->version) != 0) {
        snprintf(err, err_len, "out of memory");
        return 1;
    }
    if (open_disk(r, err, err_len) != 0)
        return 1;
    struct quic_endpoint_limits lim;
    quic_endpoint_limits_default(&lim);
    lim.streams_per_peer = c->streams_per_peer_max;
    lim.idle_timeout_ns = c->idle_timeout_ns;
    lim.keepalive_ns = c->keepalive_ns;
    lim.dial_timeout_ns = c->dial_timeout_ns;
    static const struct quic_endpoint_cbs CBS = {.accept_key = accept_key,
                                                 .peer_up = peer_up,
                                                 .peer_down = peer_down,
                                                 .dial_failed = dial_failed,
                                                 .stream_data = stream_data,
                                                 .stream_reset = stream_reset,
                                                 .warn = transport_warn};
    struct quic_endpoint_cbs cbs = CBS;
    cbs.ctx = r;
    if (prod_transport_new(r->loop, (const struct sockaddr *)&c->listen,
                           c->listen_len, &lim, r->tls, &cbs, &r->transport,
                           err, err_len) != 0)
        return 1;
    struct prod_admin_ops ops;
    struct prod_admin_limits admin_limits = {
        .body_bytes_max = (size_t)c->admin_body_bytes_max,
        .buffered_bytes_max = (size_t)c->admin_buffered_bytes_max};
    if (prod_admin_start(r->loop, (const struct sockaddr *)&c->admin,
                         c->admin_len, &admin_limits,
                         prod_replica_admin_ops(r, &ops), &r->admin, err,
                         err_len) != 0)
        return 1;
    return 0;
}

int prod_replica_run(const char *config_path)
{
    struct prod_replica *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        fprintf(stderr, "p2p-replica: out of memory\n");
        return 1;
    }
    r->self = UINT32_MAX;
    r->datadir_lock = -1;
    prod_registry_history_init(&r->hist);
    r->cfg.log_level = PROD_LOG_INFO;
    p2p_mem_init(&r->mem);
    char err[1024];
    if (prod_config_load(config_path, &r->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "p2p-replica: %s\n", err);
        free(r);
        return 2;
    }
    r->reg = calloc(1, sizeof(*r->reg));
    r->next = calloc(1, sizeof(*r->next));
    r->loop = ev_loop_new(EVFLAG_AUTO);
    if (r->reg == NULL || r->next == NULL || r->loop == NULL) {
        fprintf(stderr, "p2p-replica: out of memory\n");
        teardown(r);
        free(r);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int code = open_parts(r, err, sizeof(err));
    if (code != 0) {
        fprintf(stderr, "p2p-replica: %s\n", err);
        teardown(r);
        free(r);
        return code;
    }
    ev_init(&r->core_timer, core_timer_cb);
    r->core_timer.data = r;
    ev_timer_init(&r->poll_timer, poll_cb, 0.0,
                  (double)r->cfg.registry_poll_ns / 1e9);
    r->poll_timer.data = r;
    ev_timer_again(r->loop, &r->poll_timer);
    ev_signal_init(&r->sigint, stop_cb, SIGINT);
    r->sigint.data = r;
    ev_signal_start(r->loop, &r->sigint);
    ev_signal_init(&r->sigterm, stop_cb, SIGTERM);
    r->sigterm.data = r;
    ev_signal_start(r->loop, &r->sigterm);
    prod_replica_log(
        r, PROD_LOG_INFO, "key %s, QUIC on %s, admin on http://%s, data in %s",
        r->self_hex, r->cfg.listen_text, r->cfg.admin_text, r->cfg.data_dir);
    if (apply_registry(r) == 0) {
        notify_status(r, true);
        ev_run(r->loop, 0);
    }
    (void)sd_notify(0, "STOPPING=1");
    code = r->failed ? 1 : 0;
    prod_replica_log(r, PROD_LOG_INFO, "stopped");
    teardown(r);
    free(r);
    return code;
}
