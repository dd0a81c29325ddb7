/* The peer manager and connection manager policy (core/conn_manager.h).
 *
 * The backend carries out P2P_ACT_CONN_DIAL / P2P_ACT_CONN_CLOSE and owns
 * health checking: it keeps a connection alive with keepalives every
 * cfg.keepalive_ns and declares it lost (p2p_node_on_peer_down) after
 * cfg.idle_timeout_ns of silence, and gives up a dial after
 * cfg.dial_timeout_ns (p2p_node_on_dial_failed).
 *
 * Before a topology is installed (version 0) every id is treated as a
 * member and nothing is dialled: the backend brings peers up itself. */
#include "core/conn_manager.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/table.h"

void p2p__conn_manager_init(struct p2p_conn_manager *cm,
                            const struct p2p_env *env)
{
    memset(cm, 0, sizeof(*cm));
    cm->env = env;
    p2p_topology_init(&cm->topology);
}

void p2p__conn_manager_fini(struct p2p_conn_manager *cm)
{
    p2p_topology_fini(&cm->topology, cm->env->mem);
    p2p_mem_free(cm->env->mem, P2P_MEM_OTHER, cm->peers);
    cm->peers = NULL;
    cm->peers_capacity = 0;
}

int p2p__conn_manager_fit(struct p2p_conn_manager *cm, p2p_node_id peer)
{
    return p2p__table_array_fit(
        cm->env->mem, P2P_MEM_OTHER, (void **)&cm->peers, &cm->peers_capacity,
        sizeof(*cm->peers), peer, cm->env->cfg->node_ids_max);
}

static bool topology_installed(const struct p2p_conn_manager *cm)
{
    return cm->topology.version != 0;
}

bool p2p__conn_manager_is_member(const struct p2p_conn_manager *cm,
                                 p2p_node_id id)
{
    if (!topology_installed(cm))
        return id < cm->env->cfg->node_ids_max;
    return p2p_topology_is_member(&cm->topology, id);
}

/* The IC's rule: the lower node id dials. */
bool p2p_conn_should_dial(p2p_node_id self, p2p_node_id peer)
{
    return self < peer;
}

bool p2p__conn_manager_wanted(const struct p2p_conn_manager *cm, p2p_node_id id)
{
    p2p_node_id self = cm->env->cfg->self;
    return id != self && p2p__conn_manager_is_member(cm, id) &&
           p2p__conn_manager_is_member(cm, self);
}

bool p2p__conn_manager_is_up(const struct p2p_conn_manager *cm, p2p_node_id id)
{
    return id < cm->peers_capacity && cm->peers[id].up;
}

const struct p2p_conn_peer *p2p__conn_manager_peer(
    const struct p2p_conn_manager *cm, p2p_node_id id)
{
    return id < cm->peers_capacity ? &cm->peers[id] : NULL;
}

const struct p2p_topology *p2p__conn_manager_topology(
    const struct p2p_conn_manager *cm)
{
    return &cm->topology;
}

static bool banned(const struct p2p_conn_manager *cm, p2p_node_id id,
                   p2p_time now)
{
    return p2p__ledger_banned(cm->env->ledger, id, now);
}

/* Ours to dial: wanted, and we have the lower id. */
static bool ours(const struct p2p_conn_manager *cm, p2p_node_id id)
{
    return p2p__conn_manager_wanted(cm, id) &&
           p2p_conn_should_dial(cm->env->cfg->self, id);
}

/* 0, or an error (counted) when the outbox is full. */
static int push_conn_action(struct p2p_conn_manager *cm,
                            enum p2p_action_type type, p2p_node_id peer,
                            int64_t reason)
{
    struct p2p_action a;
    memset(&a, 0, sizeof(a));
    a.type = type;
    a.peer = peer;
    a.value = reason;
    int rc = p2p_outbox_push(cm->env->outbox, &a);
    if (rc != 0)
        cm->env->metrics->outbox_refused++;
    return rc;
}

/* Waits `delay` before dialling again. */
static void wait_redial(struct p2p_conn_manager *cm, p2p_time now,
                        p2p_node_id id, p2p_time delay)
{
    struct p2p_conn_peer *p = &cm->peers[id];
    p->conn = P2P_CONN_WAIT;
    p->conn_gen++;
    p->redial_at = now + delay;
    if (p2p__timers_add(cm->env->timers, p->redial_at, P2P_TIMER_REDIAL, id,
                        p->conn_gen) != 0)
        p->conn = P2P_CONN_IDLE; /* retried at the next topology change */
}

static void dial(struct p2p_conn_manager *cm, p2p_time now, p2p_node_id id)
{
    const struct p2p_env *env = cm->env;
    if (push_conn_action(cm, P2P_ACT_CONN_DIAL, id, 0) != 0) {
        /* No room to ask: try again after a failed dial's backoff rather
         * than wait for an answer that cannot come. */
        wait_redial(cm, now, id,
                    p2p_backoff_delay(&env->cfg->redial_backoff, 0, env->rng));
        return;
    }
    struct p2p_conn_peer *p = &cm->peers[id];
    p->conn = P2P_CONN_DIALING;
    p->conn_gen++;
    env->metrics->conns_dialed++;
}

/* Dials now, or when the peer's ban ends. */
static void dial_when_allowed(struct p2p_conn_manager *cm, p2p_time now,
                              p2p_node_id id)
{
    if (banned(cm, id, now))
        wait_redial(cm, now, id,
                    p2p__ledger_peer(cm->env->ledger, id)->banned_until - now);
    else
        dial(cm, now, id);
}

void p2p__conn_manager_after_close(struct p2p_conn_manager *cm, p2p_time now,
                                   p2p_node_id id)
{
    const struct p2p_env *env = cm->env;
    cm->peers[id].conn = P2P_CONN_IDLE;
    if (!topology_installed(cm) || !ours(cm, id))
        return; /* the peer dials, or (no topology) the backend decides */
    if (P2P_BUGGIFY_AT(env->bug, P2P_BUGGIFY_REDIAL_LATE) &&
        !banned(cm, id, now)) {
        wait_redial(cm, now, id,
                    p2p_backoff_delay(&env->cfg->redial_backoff, 0, env->rng));
        return;
    }
    dial_when_allowed(cm, now, id);
}

enum p2p_conn_close p2p__conn_manager_close(struct p2p_conn_manager *cm,
                                            p2p_node_id id, int64_t reason)
{
    struct p2p_conn_peer *p = &cm->peers[id];
    if (!p->up && p->conn == P2P_CONN_IDLE)
        return P2P_CONN_CLOSE_NOTHING;
    if (p->up || p->conn == P2P_CONN_DIALING) {
        (void)push_conn_action(cm, P2P_ACT_CONN_CLOSE, id, reason);
        cm->env->metrics->conns_closed++;
    }
    return p->up ? P2P_CONN_CLOSE_WAS_UP : P2P_CONN_CLOSE_STOPPED;
}

void p2p__conn_manager_closed(struct p2p_conn_manager *cm, p2p_node_id id)
{
    struct p2p_conn_peer *p = &cm->peers[id];
    P2P_ASSERT(!p->up);
    p->conn = P2P_CONN_IDLE;
    p->conn_gen++;
}

void p2p__conn_manager_gone(struct p2p_conn_manager *cm, p2p_node_id id)
{
    P2P_ASSERT(p2p__conn_manager_is_up(cm, id));
    cm->peers[id].up = false;
}

bool p2p__conn_manager_accepts(const struct p2p_conn_manager *cm, p2p_time now,
                               p2p_node_id peer)
{
    if (!p2p__conn_manager_wanted(cm, peer) || banned(cm, peer, now))
        return false;
    /* Only the lower id dials; inbound from a higher id is refused. */
    return !topology_installed(cm) ||
           p2p_conn_should_dial(peer, cm->env->cfg->self);
}

int p2p__conn_manager_set_topology(struct p2p_conn_manager *cm,
                                   const struct p2p_topology_update *u)
{
    int rc = p2p_topology_set(&cm->topology, cm->env->mem, u,
                              cm->env->cfg->node_ids_max);
    if (rc == 0)
        cm->env->metrics->topology_changes++;
    return rc;
}

int p2p__conn_manager_set_earliest(struct p2p_conn_manager *cm,
                                   uint64_t earliest)
{
    return p2p_topology_set_earliest(&cm->topology, cm->env->mem, earliest);
}

void p2p__conn_manager_dial_member(struct p2p_conn_manager *cm, p2p_time now,
                                   p2p_node_id id)
{
    P2P_ASSERT(id < cm->peers_capacity);
    const struct p2p_conn_peer *p = &cm->peers[id];
    if (ours(cm, id) && !p->up && p->conn == P2P_CONN_IDLE)
        dial_when_allowed(cm, now, id);
}

bool p2p__conn_manager_admit(struct p2p_conn_manager *cm, p2p_time now,
                             p2p_node_id peer)
{
    P2P_ASSERT(peer < cm->peers_capacity);
    if (!p2p__conn_manager_wanted(cm, peer) || banned(cm, peer, now)) {
        cm->env->metrics->conns_refused++;
        (void)push_conn_action(cm, P2P_ACT_CONN_CLOSE, peer, P2P_ERR_REFUSED);
        return false;
    }
    return true;
}

void p2p__conn_manager_up(struct p2p_conn_manager *cm, p2p_node_id peer)
{
    struct p2p_conn_peer *p = &cm->peers[peer];
    P2P_ASSERT(!p->up);
    p->up = true;
    p->conn = P2P_CONN_UP;
    p->conn_gen++;
    p->dial_failures = 0;
    cm->env->metrics->conns_up++;
}

int p2p__conn_manager_dial_failed(struct p2p_conn_manager *cm, p2p_time now,
                                  p2p_node_id peer)
{
    const struct p2p_env *env = cm->env;
    if (peer >= cm->peers_capacity || cm->peers[peer].conn != P2P_CONN_DIALING)
        return P2P_ERR_STATE;
    struct p2p_conn_peer *p = &cm->peers[peer];
    env->metrics->conns_dial_failed++;
    if (!p2p__conn_manager_wanted(cm, peer)) {
        p->conn = P2P_CONN_IDLE;
        return 0;
    }
    p2p_time delay = p2p_backoff_delay(&env->cfg->redial_backoff,
                                       p->dial_failures, env->rng);
    if (p->dial_failures < UINT32_MAX)
        p->dial_failures++;
    wait_redial(cm, now, peer, delay);
    return 0;
}

void p2p__conn_manager_on_redial(struct p2p_conn_manager *cm, p2p_time now,
                                 p2p_node_id peer, uint32_t gen)
{
    if (!p2p__conn_manager_redial_live(cm, peer, gen))
        return;
    struct p2p_conn_peer *p = &cm->peers[peer];
    p->conn = P2P_CONN_IDLE;
    if (ours(cm, peer) && !p->up)
        dial_when_allowed(cm, now, peer);
}

bool p2p__conn_manager_redial_live(const struct p2p_conn_manager *cm,
                                   p2p_node_id peer, uint32_t gen)
{
    return peer < cm->peers_capacity && cm->peers[peer].conn == P2P_CONN_WAIT &&
           cm->peers[peer].conn_gen == gen;
}

int p2p__conn_manager_check(const struct p2p_conn_manager *cm)
{
    if (p2p_topology_check(&cm->topology) != 0)
        return P2P_ERR_INTERNAL;
    for (uint32_t id = 0; id < cm->peers_capacity; id++) {
        const struct p2p_conn_peer *p = &cm->peers[id];
        if (p->up != (p->conn == P2P_CONN_UP))
            return P2P_ERR_INTERNAL;
        if (p->up && !p2p__conn_manager_wanted(cm, id) &&
            topology_installed(cm))
            return P2P_ERR_INTERNAL;
    }
    return 0;
}
