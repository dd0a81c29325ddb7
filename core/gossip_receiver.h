/* Internal: the consensus manager's receiver and the artifact RPC server
 * (the IC's consensus manager receiver and its artifact assembler). Per-peer slot views (a newer commit id
 * replaces an older one, an older one is stale; a deletion empties the
 * view and withdraws its advert at once, keeping the commit id), pushed
 * artifacts go to the unvalidated pool through the intake, adverts go to
 * the downloader; an id whose last view is gone (its slot reused or
 * deleted, or its peer left the subnet) leaves the unvalidated pool if
 * the client has not taken it (core/intake.h);
 * fetches of our validated artifacts are answered. A peer may use slot ids
 * below cfg.slots_per_peer_max; its view grows to the highest one used.
 * Views name their ids through a per-node id table (core/id_table.h), so
 * an artifact every peer relays is stored once, not once per peer.
 * Cross-file internal names carry p2p__gossip_receiver_. */
#ifndef P2P_CORE_GOSSIP_RECEIVER_H
#define P2P_CORE_GOSSIP_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/downloader.h"
#include "core/env.h"
#include "core/framing.h"
#include "core/id_table.h"
#include "core/streams.h"

/* What a peer's slot holds, as this node last heard it. Every node keeps
 * one per slot id each peer has used, so it is small (12 bytes): the id
 * is a handle into the receiver's id table, and the commit id is kept in
 * two 32-bit halves so the view needs only 4-byte alignment. */
struct p2p_slot_view {
    uint32_t commit_lo, commit_hi; /* the commit id (meaningful if seen) */
    uint32_t id_handle : 30;       /* while used: the id, one reference in
                                      the receiver's id table (handles are
                                      < P2P_CONFIG_TABLE_MAX = 2^28) */
    uint32_t used : 1;             /* names an artifact now */
    uint32_t seen : 1;             /* ever written: the commit id is
                                      meaningful, also after a deletion */
};

struct p2p_rx_peer {
    struct p2p_slot_view *slots; /* owned; grows up to slots_per_peer_max */
    uint32_t slots_capacity;
    uint32_t slots_used;
};

/* The module's state (caller storage; fields private to
 * gossip_receiver.c). */
struct p2p_gossip_receiver {
    const struct p2p_env *env;   /* borrowed */
    struct p2p_streams *streams; /* borrowed: answers go out on it */
    struct p2p_downloader *dl;   /* borrowed: adverts go to it */
    struct p2p_rx_peer *peers;   /* owned; indexed by node id */
    uint32_t peers_capacity;
    struct p2p_id_table ids; /* the ids the used views name, one reference
                                per used view */
};

/* The most ids the receiver's id table may hold: every id held is named
 * by a used view, so the views' own bound (slots_per_peer_max for each of
 * node_ids_max peers) bounds it, capped at P2P_CONFIG_TABLE_MAX. The
 * table's memory grows with the distinct ids named, never past one record
 * per used view. */
static inline uint32_t p2p__gossip_receiver_ids_max(const struct p2p_config *c)
{
    uint64_t views = (uint64_t)c->node_ids_max * c->slots_per_peer_max;
    return views < P2P_CONFIG_TABLE_MAX ? (uint32_t)views
                                        : P2P_CONFIG_TABLE_MAX;
}

/* An empty receiver; env, streams and dl are borrowed and outlive it.
 * key_seed keys its id table's hash (draw it from the node's key
 * stream). */
void p2p__gossip_receiver_init(struct p2p_gossip_receiver *r,
                               const struct p2p_env *env,
                               struct p2p_streams *streams,
                               struct p2p_downloader *dl, uint64_t key_seed);
void p2p__gossip_receiver_fini(struct p2p_gossip_receiver *r);
/* Makes room for peer's record (peer < cfg.node_ids_max). Errors:
 * P2P_ERR_NOMEM. */
int p2p__gossip_receiver_peer_fit(struct p2p_gossip_receiver *r,
                                  p2p_node_id peer);
/* A slot update arrived on an inbound stream from peer (up); answered
 * 200 with an ack, 400 (malformed: points in the ledger), or reset (our
 * own lack of memory or room: the slot table could not grow or the id
 * table is full, P2P_ERR_NOMEM). */
int p2p__gossip_receiver_on_update(struct p2p_gossip_receiver *r, p2p_time now,
                                   p2p_node_id peer, uint64_t stream_id,
                                   const struct p2p_frame *f);
/* A fetch request arrived on an inbound stream: answered 200 with the
 * validated artifact, 204 when not held, 400 when malformed. */
int p2p__gossip_receiver_on_fetch(struct p2p_gossip_receiver *r,
                                  p2p_node_id peer, uint64_t stream_id,
                                  const struct p2p_frame *f);
/* peer's connection is gone: its slot views are forgotten, their adverts
 * withdrawn from the downloader and their ids released. When the peer
 * left the subnet (`left`), an id no peer advertises any more is
 * withdrawn from the unvalidated pool too (core/intake.h); a peer that
 * only lost its connection (or was banned) is still a member, as in the
 * IC, whose receiver keeps a member's entries across reconnections. */
void p2p__gossip_receiver_peer_down(struct p2p_gossip_receiver *r, p2p_time now,
                                    p2p_node_id peer, bool left);
/* The peers' slots (used views) that name id now: 0 once every peer
 * that advertised it has withdrawn it (reused or deleted the slot, or
 * gone down). O(1). */
uint32_t p2p__gossip_receiver_views_of(const struct p2p_gossip_receiver *r,
                                       const struct p2p_artifact_id *id);
/* 0, or P2P_ERR_INTERNAL when a peer's slots_used disagrees with its
 * views, or an id's reference count with the number of used views naming
 * it. O(views * (1 + ids / 1024) + ids). */
int p2p__gossip_receiver_check(const struct p2p_gossip_receiver *r);

#endif
