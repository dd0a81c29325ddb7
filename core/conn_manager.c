/* Peer manager and connection manager policy (DESIGN.md 3, "Transport" and
 * "Peer manager"; IC-REFERENCE 12.1-12.2).
 *
 * The topology (one registry version) decides who is a member. Between two
 * members the lower node id dials and the higher accepts; a connection is
 * only kept to members, and only while this node is one. A dial that fails
 * is retried after an exponential backoff with jitter from the node's PRNG;
 * a connection that is lost is redialled at once. A peer whose misbehaviour
 * penalty reaches the limit is disconnected and banned for a while.
 *
 * The backend carries out P2P_ACT_CONN_DIAL / P2P_ACT_CONN_CLOSE and owns
 * health checking: it keeps a connection alive with keepalives every
 * cfg.keepalive_ns and declares it lost (p2p_node_on_peer_down) after
 * cfg.idle_timeout_ns of silence, and gives up a dial after
 * cfg.dial_timeout_ns (p2p_node_on_dial_failed).
 *
 * Before a topology is installed (version 0) every id is treated as a
 * member and nothing is dialled: the backend brings peers up itself. */
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/node.h"

static bool topology_installed(const struct p2p_node *n)
{
    return n->topology.version != 0;
}

bool p2p__is_member(const struct p2p_node *n, p2p_node_id id)
{
    if (!topology_installed(n))
        return id < n->cfg.node_ids_max;
    return p2p_topology_is_member(&n->topology, id);
}

/* The IC's rule: the lower node id dials. */
bool p2p_conn_should_dial(p2p_node_id self, p2p_node_id peer)
{
    return self < peer;
}

static struct p2p_peer *peer_record(struct p2p_node *n, p2p_node_id id)
{
    if (id >= n->cfg.node_ids_max || id == n->cfg.self)
        return NULL;
    if (p2p__table_array_fit(n->mem, P2P_MEM_RECEIVER, (void **)&n->peers,
                       &n->peers_capacity, sizeof(*n->peers), id,
                       n->cfg.node_ids_max) != 0)
        return NULL;
    return &n->peers[id];
}

static bool banned(const struct p2p_peer *p, p2p_time now)
{
    return p->banned_until > now;
}

/* 0, or an error (counted) when the outbox is full. */
static int push_conn_action(struct p2p_node *n, enum p2p_action_type type,
                            p2p_node_id peer, int64_t reason)
{
    struct p2p_action a;
    memset(&a, 0, sizeof(a));
    a.type = type;
    a.peer = peer;
    a.value = reason;
    int rc = p2p_outbox_push(&n->outbox, &a);
    if (rc != 0)
        n->metrics.outbox_refused++;
    return rc;
}

/* Whether this node should hold a connection to id right now. */
static bool wanted(const struct p2p_node *n, p2p_node_id id)
{
    return id != n->cfg.self && p2p__is_member(n, id) &&
           p2p__is_member(n, n->cfg.self);
}

/* Waits `delay` before dialling again. */
static void wait_redial(struct p2p_node *n, p2p_time now, p2p_node_id id,
                        struct p2p_peer *p, p2p_time delay)
{
    p->conn = P2P_CONN_WAIT;
    p->conn_gen++;
    p->redial_at = now + delay;
    if (p2p__timer(n, p->redial_at, TIMER_REDIAL, id, p->conn_gen) != 0)
        p->conn = P2P_CONN_IDLE; /* retried at the next topology change */
}

static void dial(struct p2p_node *n, p2p_time now, p2p_node_id id,
                 struct p2p_peer *p)
{
    if (push_conn_action(n, P2P_ACT_CONN_DIAL, id, 0) != 0) {
        /* No room to ask: try again after a failed dial's backoff rather
         * than wait for an answer that cannot come. */
        wait_redial(n, now, id, p,
                    p2p_backoff_delay(&n->cfg.redial_backoff, 0, &n->rng));
        return;
    }
    p->conn = P2P_CONN_DIALING;
    p->conn_gen++;
    n->metrics.conns_dialed++;
}

/* Dials now, or when the peer's ban ends. */
static void dial_when_allowed(struct p2p_node *n, p2p_time now, p2p_node_id id,
                              struct p2p_peer *p)
{
    if (banned(p, now))
        wait_redial(n, now, id, p, p->banned_until - now);
    else
        dial(n, now, id, p);
}

/* After a connection ends or a ban starts: dial again if it is ours to
 * dial (at once, or when the ban ends), else wait for the peer. */
static void after_close(struct p2p_node *n, p2p_time now, p2p_node_id id,
                        struct p2p_peer *p)
{
    p->conn = P2P_CONN_IDLE;
    if (!topology_installed(n) || !wanted(n, id) ||
        !p2p_conn_should_dial(n->cfg.self, id))
        return; /* the peer dials, or (no topology) the backend decides */
    if (P2P_BUGGIFY_AT(n, P2P_BUGGIFY_REDIAL_LATE) && !banned(p, now)) {
        wait_redial(n, now, id, p,
                    p2p_backoff_delay(&n->cfg.redial_backoff, 0, &n->rng));
        return;
    }
    dial_when_allowed(n, now, id, p);
}

/* The connection's streams fail, its slot views and adverts are
 * forgotten; the sender will resend every slot when it comes back. */
static void connection_gone(struct p2p_node *n, p2p_time now, p2p_node_id id)
{
    /* State sync first, so that the failures of the peer's streams below
     * cannot send its requests back to it. */
    p2p__state_peer_down(n, now, id);
    p2p__streams_peer_down(n, now, id);
    p2p__sender_peer_down(n, id);
    p2p__receiver_peer_down(n, now, id);
    n->peers[id].up = false;
}

/* Closes (or stops dialling) a connection core no longer wants. */
static void close_conn(struct p2p_node *n, p2p_time now, p2p_node_id id,
                       int64_t reason)
{
    struct p2p_peer *p = &n->peers[id];
    if (!p->up && p->conn == P2P_CONN_IDLE)
        return;
    /* Tell the backend first: connection_gone clears `up`. */
    if (p->up || p->conn == P2P_CONN_DIALING)
        (void)push_conn_action(n, P2P_ACT_CONN_CLOSE, id, reason);
    if (p->up || p->conn == P2P_CONN_DIALING)
        n->metrics.conns_closed++;
    if (p->up)
        connection_gone(n, now, id);
    p->conn = P2P_CONN_IDLE;
    p->conn_gen++;
}

bool p2p_node_accepts_peer(const struct p2p_node *n, p2p_time now,
                           p2p_node_id peer)
{
    if (!wanted(n, peer))
        return false;
    if (peer < n->peers_capacity && banned(&n->peers[peer], now))
        return false;
    /* Only the lower id dials; inbound from a higher id is refused. */
    return !topology_installed(n) || p2p_conn_should_dial(peer, n->cfg.self);
}

int p2p_node_on_topology(struct p2p_node *n, p2p_time now, uint64_t version,
                         uint64_t earliest_version,
                         const struct p2p_member *members, uint32_t count)
{
    /* Make room for every member's record first, so that running out of
     * memory changes nothing. */
    p2p_node_id top = 0;
    for (uint32_t i = 0; i < count && members != NULL; i++)
        if (members[i].id > top && members[i].id < n->cfg.node_ids_max)
            top = members[i].id;
    if (count > 0 &&
        p2p__table_array_fit(n->mem, P2P_MEM_RECEIVER, (void **)&n->peers,
                       &n->peers_capacity, sizeof(*n->peers), top,
                       n->cfg.node_ids_max) != 0)
        return P2P_ERR_NOMEM;
    int rc = p2p_topology_set(&n->topology, n->mem, version, earliest_version,
                              members, count, n->cfg.node_ids_max);
    if (rc != 0)
        return rc;
    n->metrics.topology_changes++;
    /* Close what is no longer wanted: ids that left, or all of them when
     * this node itself left. */
    for (p2p_node_id id = 0; id < n->peers_capacity; id++)
        if (id != n->cfg.self && !wanted(n, id))
            close_conn(n, now, id, P2P_ERR_STATE);
    /* Dial the members that are ours to dial. */
    for (uint32_t i = 0; i < n->topology.count; i++) {
        p2p_node_id id = n->topology.members[i].id;
        if (!wanted(n, id) || !p2p_conn_should_dial(n->cfg.self, id))
            continue;
        struct p2p_peer *p = peer_record(n, id);
        if (p == NULL)
            return P2P_ERR_NOMEM;
        if (!p->up && p->conn == P2P_CONN_IDLE)
            dial_when_allowed(n, now, id, p);
    }
    return 0;
}

int p2p_node_on_peer_up(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    if (peer >= n->cfg.node_ids_max || peer == n->cfg.self)
        return P2P_ERR_INVALID_ARG;
    struct p2p_peer *p = peer_record(n, peer);
    if (p == NULL)
        return P2P_ERR_NOMEM;
    if (!wanted(n, peer) || banned(p, now)) {
        n->metrics.conns_refused++;
        (void)push_conn_action(n, P2P_ACT_CONN_CLOSE, peer, P2P_ERR_REFUSED);
        return P2P_ERR_REFUSED;
    }
    /* A newer connection replaces the older one (IC-REFERENCE 12.1 #2). */
    if (p->up) {
        connection_gone(n, now, peer);
        n->metrics.conns_replaced++;
    }
    p->up = true;
    p->conn = P2P_CONN_UP;
    p->conn_gen++;
    p->dial_failures = 0;
    n->metrics.conns_up++;
    p2p__sender_peer_up(n, now, peer);
    p2p__state_peer_up(n, now, peer);
    return 0;
}

int p2p_node_on_peer_down(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    struct p2p_peer *p = p2p__peer_up(n, peer);
    if (p == NULL)
        return P2P_ERR_NOT_FOUND;
    connection_gone(n, now, peer);
    n->metrics.conns_lost++;
    /* The IC redials at once after a loss. */
    after_close(n, now, peer, p);
    return 0;
}

int p2p_node_on_dial_failed(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    if (peer >= n->peers_capacity || n->peers[peer].conn != P2P_CONN_DIALING)
        return P2P_ERR_STATE;
    struct p2p_peer *p = &n->peers[peer];
    n->metrics.conns_dial_failed++;
    if (!wanted(n, peer)) {
        p->conn = P2P_CONN_IDLE;
        return 0;
    }
    p2p_time delay =
        p2p_backoff_delay(&n->cfg.redial_backoff, p->dial_failures, &n->rng);
    if (p->dial_failures < UINT32_MAX)
        p->dial_failures++;
    wait_redial(n, now, peer, p, delay);
    return 0;
}

void p2p__conn_on_redial(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                         uint32_t gen)
{
    if (peer >= n->peers_capacity)
        return;
    struct p2p_peer *p = &n->peers[peer];
    if (p->conn != P2P_CONN_WAIT || p->conn_gen != gen)
        return;
    p->conn = P2P_CONN_IDLE;
    if (wanted(n, peer) && p2p_conn_should_dial(n->cfg.self, peer) &&
        !p->up)
        dial_when_allowed(n, now, peer, p);
}

bool p2p__redial_live(const struct p2p_node *n, p2p_node_id peer, uint32_t gen)
{
    return peer < n->peers_capacity && n->peers[peer].conn == P2P_CONN_WAIT &&
           n->peers[peer].conn_gen == gen;
}

/* ---- misbehaviour ---- */

static void decay(const struct p2p_node *n, struct p2p_peer *p, p2p_time now)
{
    if (now > p->penalty_at) {
        uint64_t gone = (now - p->penalty_at) / P2P_NS_PER_S *
                        n->cfg.penalty_decay_per_s;
        p->penalty = gone >= p->penalty ? 0 : p->penalty - (uint32_t)gone;
        /* Keep the sub-second remainder so frequent calls still decay. */
        p->penalty_at = now - (now - p->penalty_at) % P2P_NS_PER_S;
    }
}

void p2p__penalise(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                   uint32_t points)
{
    if (points == 0 || peer >= n->peers_capacity)
        return;
    struct p2p_peer *p = &n->peers[peer];
    decay(n, p, now);
    p->penalty = points > UINT32_MAX - p->penalty ? UINT32_MAX
                                                  : p->penalty + points;
    p->penalty_total += points;
    n->metrics.penalties++;
    if (p->penalty >= n->cfg.penalty_ban_points && !p->ban_pending) {
        p->ban_pending = true;
        n->bans_pending++;
    }
}

/* Disconnects and bans the peers whose penalty reached the limit. Run at
 * the end of an entry point, never while a handler still uses the peer. */
void p2p__conn_apply_bans(struct p2p_node *n, p2p_time now)
{
    for (p2p_node_id id = 0; n->bans_pending > 0 && id < n->peers_capacity;
         id++) {
        struct p2p_peer *p = &n->peers[id];
        if (!p->ban_pending)
            continue;
        p->ban_pending = false;
        n->bans_pending--;
        p->penalty = 0;
        p->bans++;
        p->banned_until = now + n->cfg.ban_ns;
        n->metrics.peers_banned++;
        close_conn(n, now, id, P2P_ERR_MISBEHAVED);
        after_close(n, now, id, p); /* redials when the ban ends */
    }
}

int p2p_node_peer_info(const struct p2p_node *n, p2p_node_id peer,
                       struct p2p_peer_info *out)
{
    memset(out, 0, sizeof(*out));
    if (peer >= n->cfg.node_ids_max)
        return P2P_ERR_INVALID_ARG;
    out->member = p2p__is_member(n, peer);
    if (peer >= n->peers_capacity)
        return 0;
    const struct p2p_peer *p = &n->peers[peer];
    out->up = p->up;
    out->conn = p->conn;
    out->penalty = p->penalty;
    out->penalty_total = p->penalty_total;
    out->bans = p->bans;
    out->banned_until = p->banned_until;
    return 0;
}

const struct p2p_topology *p2p_node_topology(const struct p2p_node *n)
{
    return &n->topology;
}
