/* Internal: the penalty ledger, a leaf every module may write to. A
 * module that sees a peer misbehave adds points here; at
 * cfg.penalty_ban_points the peer is marked for a ban, and the ban is
 * applied by the router (node.c) in the one epilogue that ends every entry
 * point, never while a handler still uses the peer. Points decay at
 * cfg.penalty_decay_per_s. Cross-file internal names carry p2p__ledger_.
 *
 * Points per kind of misbehaviour (out of cfg.penalty_ban_points, 100 by
 * default): a malformed frame or a wrong artifact is never an honest
 * mistake; a stale update can be (a late retransmission). Slowness is not
 * misbehaviour: a request that times out costs the peer its turn (the
 * request goes elsewhere, the peer backs off) and no points. Only silence
 * is penalised: a request timing out when the peer has answered none of
 * the requests we made since, P2P_SILENCE_NS or longer ago (a busy honest
 * peer still answers the small ones; see p2p__streams_peer_silent). */
#ifndef P2P_CORE_LEDGER_H
#define P2P_CORE_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/mem.h"
#include "core/metrics.h"

#define P2P_PENALTY_BAD_FRAME 25u
#define P2P_PENALTY_BAD_UPDATE 25u
#define P2P_PENALTY_WRONG_BYTES 34u
#define P2P_PENALTY_STALE_UPDATE 2u
#define P2P_PENALTY_NOT_SERVED 2u /* advertised, then answered 204 */
#define P2P_PENALTY_SILENT 10u    /* a request timed out in silence */
#define P2P_PENALTY_BAD_STATE P2P_PENALTY_WRONG_BYTES /* manifest, chunk */

/* How long a peer must have answered nothing we asked before a timeout
 * is blamed on it (the update timeout: an update to a live peer is
 * acknowledged well within it, however busy its links are). */
#define P2P_SILENCE_NS (30 * P2P_NS_PER_S)

/* One peer's account. */
struct p2p_ledger_peer {
    uint32_t penalty;       /* misbehaviour points, decaying */
    p2p_time penalty_at;    /* when penalty was last decayed */
    uint64_t penalty_total; /* every point ever given */
    uint32_t bans;          /* times disconnected for misbehaviour */
    p2p_time banned_until;  /* refused until then */
    bool ban_pending;       /* reached the limit: banned in the
                                  epilogue of the current entry point */
};

struct p2p_ledger {
    const struct p2p_config *cfg;  /* borrowed */
    struct p2p_mem *mem;           /* borrowed */
    struct p2p_metrics *metrics;   /* borrowed: penalties, peers_banned */
    struct p2p_ledger_peer *peers; /* owned; indexed by node id */
    uint32_t peers_capacity;
    uint32_t pending; /* peers with ban_pending set */
};

void p2p__ledger_init(struct p2p_ledger *l, const struct p2p_config *cfg,
                      struct p2p_mem *mem, struct p2p_metrics *metrics);
void p2p__ledger_fini(struct p2p_ledger *l);
/* Makes room for peer's account (peer < cfg.node_ids_max). Errors:
 * P2P_ERR_NOMEM. */
int p2p__ledger_fit(struct p2p_ledger *l, p2p_node_id peer);
/* Adds points to peer (no account: ignored); at cfg.penalty_ban_points
 * the peer is marked for a ban. */
void p2p__ledger_penalise(struct p2p_ledger *l, p2p_time now, p2p_node_id peer,
                          uint32_t points);
/* True while some peer is marked for a ban. */
static inline bool p2p__ledger_bans_pending(const struct p2p_ledger *l)
{
    return l->pending > 0;
}
/* Takes the lowest marked peer at or after *from and bans it until now +
 * cfg.ban_ns (its points reset); false when none is marked. */
bool p2p__ledger_take_ban(struct p2p_ledger *l, p2p_time now,
                          p2p_node_id *from);
/* True while peer is banned at now. */
bool p2p__ledger_banned(const struct p2p_ledger *l, p2p_node_id peer,
                        p2p_time now);
/* peer's account, or NULL when it has none. */
const struct p2p_ledger_peer *p2p__ledger_peer(const struct p2p_ledger *l,
                                               p2p_node_id peer);
/* 0, or P2P_ERR_INTERNAL when the pending count disagrees with the marks.
 * O(peers). */
int p2p__ledger_check(const struct p2p_ledger *l);

#endif
