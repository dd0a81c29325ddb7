/* Internal: the peer manager and connection manager (the IC's QUIC transport and peer manager, rs/p2p/quic_transport and rs/p2p/peer_manager).
 *
 * The topology (the registry versions in use, core/topology.h) decides
 * who is a member: a node listed in any of them. Between
 * two members the lower node id dials and the higher accepts; a connection
 * is only kept to members, and only while this node is one. A dial that
 * fails is retried after an exponential backoff with jitter from the
 * node's PRNG; a connection that is lost is redialled at once. A peer the
 * ledger bans is disconnected and redialled when its ban ends.
 *
 * The module owns each peer's connection state and reports transitions;
 * it never calls the modules above it. A connection going down is done in
 * three steps so that the router (node.c) can fan the loss out to the
 * other modules in between, while the peer still counts as up:
 * p2p__conn_manager_close (or the backend's loss), the fan-out, then
 * p2p__conn_manager_gone. Cross-file internal names carry
 * p2p__conn_manager_. */
#ifndef P2P_CORE_CONN_MANAGER_H
#define P2P_CORE_CONN_MANAGER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/shim.h"
#include "core/topology.h"

/* One peer's connection, as this node sees it. */
struct p2p_conn_peer {
    bool up; /* a connection is established */
    enum p2p_conn_state conn;
    uint32_t conn_gen;      /* names the current redial timer */
    uint32_t dial_failures; /* in a row, for the redial backoff */
    p2p_time redial_at;     /* while P2P_CONN_WAIT */
};

/* The module's state (caller storage; fields private to conn_manager.c). */
struct p2p_conn_manager {
    const struct p2p_env *env;    /* borrowed */
    struct p2p_topology topology; /* the registry versions in use */
    struct p2p_conn_peer *peers;  /* owned; indexed by node id */
    uint32_t peers_capacity;
};

/* What p2p__conn_manager_close found. */
enum p2p_conn_close {
    P2P_CONN_CLOSE_NOTHING, /* no connection, no dial: nothing done */
    P2P_CONN_CLOSE_STOPPED, /* a dial or a wait was stopped */
    P2P_CONN_CLOSE_WAS_UP,  /* an up connection: fan the loss out, then
                                  p2p__conn_manager_gone */
};

void p2p__conn_manager_init(struct p2p_conn_manager *cm,
                            const struct p2p_env *env);
void p2p__conn_manager_fini(struct p2p_conn_manager *cm);
/* Makes room for peer's record (peer < cfg.node_ids_max). Errors:
 * P2P_ERR_NOMEM. */
int p2p__conn_manager_fit(struct p2p_conn_manager *cm, p2p_node_id peer);
/* Records per peer (ids below this may have one). */
static inline uint32_t p2p__conn_manager_capacity(
    const struct p2p_conn_manager *cm)
{
    return cm->peers_capacity;
}

/* Whether id is a member (every id below node_ids_max before the first
 * topology). */
bool p2p__conn_manager_is_member(const struct p2p_conn_manager *cm,
                                 p2p_node_id id);
/* Whether this node should hold a connection to id right now. */
bool p2p__conn_manager_wanted(const struct p2p_conn_manager *cm,
                              p2p_node_id id);
/* Whether a connection to id is established. */
bool p2p__conn_manager_is_up(const struct p2p_conn_manager *cm, p2p_node_id id);
/* id's record, or NULL when it has none. */
const struct p2p_conn_peer *p2p__conn_manager_peer(
    const struct p2p_conn_manager *cm, p2p_node_id id);
const struct p2p_topology *p2p__conn_manager_topology(
    const struct p2p_conn_manager *cm);

/* Installs a registry version (copied; records fitted by the caller).
 * Errors: those of p2p_topology_set (nothing changed). */
int p2p__conn_manager_set_topology(struct p2p_conn_manager *cm,
                                   const struct p2p_topology_update *u);
/* Moves the earliest registry version in use (members only leave).
 * Errors: those of p2p_topology_set_earliest (nothing changed). */
int p2p__conn_manager_set_earliest(struct p2p_conn_manager *cm,
                                   uint64_t earliest);
/* Dials member id if it is ours to dial and neither up nor being dialled
 * (or, while banned, when the ban ends). Its record exists. */
void p2p__conn_manager_dial_member(struct p2p_conn_manager *cm, p2p_time now,
                                   p2p_node_id id);
/* Whether an inbound connection from peer may be accepted now. */
bool p2p__conn_manager_accepts(const struct p2p_conn_manager *cm, p2p_time now,
                               p2p_node_id peer);
/* A connection from or to peer came up (its record exists). false: it
 * is refused (not wanted, or banned), with a P2P_ACT_CONN_CLOSE. */
bool p2p__conn_manager_admit(struct p2p_conn_manager *cm, p2p_time now,
                             p2p_node_id peer);
/* Marks an admitted peer up (after the loss of a replaced connection has
 * been fanned out). */
void p2p__conn_manager_up(struct p2p_conn_manager *cm, p2p_node_id peer);
/* Closes, or stops dialling, a connection core no longer wants (a
 * P2P_ACT_CONN_CLOSE with reason); see enum p2p_conn_close. */
enum p2p_conn_close p2p__conn_manager_close(struct p2p_conn_manager *cm,
                                            p2p_node_id peer, int64_t reason);
/* The end of a closed connection's fan-out: the peer is idle. */
void p2p__conn_manager_closed(struct p2p_conn_manager *cm, p2p_node_id peer);
/* The end of any lost connection's fan-out: the peer is down. */
void p2p__conn_manager_gone(struct p2p_conn_manager *cm, p2p_node_id peer);
/* After a connection ended or a ban began: dials again if it is ours to
 * dial (at once, or when the ban ends), else waits for the peer. */
void p2p__conn_manager_after_close(struct p2p_conn_manager *cm, p2p_time now,
                                   p2p_node_id peer);
/* A dial failed. Errors: P2P_ERR_STATE when no dial was pending. */
int p2p__conn_manager_dial_failed(struct p2p_conn_manager *cm, p2p_time now,
                                  p2p_node_id peer);
/* A P2P_TIMER_REDIAL fired. */
void p2p__conn_manager_on_redial(struct p2p_conn_manager *cm, p2p_time now,
                                 p2p_node_id peer, uint32_t gen);
/* Whether a P2P_TIMER_REDIAL (peer, gen) still matters. */
bool p2p__conn_manager_redial_live(const struct p2p_conn_manager *cm,
                                   p2p_node_id peer, uint32_t gen);
/* 0, or P2P_ERR_INTERNAL when a record is inconsistent (up but not
 * P2P_CONN_UP, or the reverse; up but not wanted) or the topology breaks
 * its invariants. O(peers + p2p_topology_check). */
int p2p__conn_manager_check(const struct p2p_conn_manager *cm);

#endif
