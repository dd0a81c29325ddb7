/* Internal: the consensus manager's receiver and the artifact RPC server
 * (the IC's consensus manager receiver and its artifact assembler). Per-peer slot views (a newer commit id
 * replaces an older one, an older one is stale), pushed artifacts go to
 * the unvalidated pool through the intake, adverts go to the downloader;
 * fetches of our validated artifacts are answered. A peer may use slot ids
 * below cfg.slots_per_peer_max; its view grows to the highest one used.
 * Cross-file internal names carry p2p__gossip_receiver_. */
#ifndef P2P_CORE_GOSSIP_RECEIVER_H
#define P2P_CORE_GOSSIP_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/downloader.h"
#include "core/env.h"
#include "core/framing.h"
#include "core/streams.h"

/* What a peer's slot holds, as this node last heard it. */
struct p2p_slot_view {
    bool used; /* names an artifact now */
    bool seen; /* ever written: commit_id is meaningful,
                                  also after a deletion */
    uint64_t commit_id;
    struct p2p_artifact_id id;
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
};

/* An empty receiver; env, streams and dl are borrowed and outlive it. */
void p2p__gossip_receiver_init(struct p2p_gossip_receiver *r,
                               const struct p2p_env *env,
                               struct p2p_streams *streams,
                               struct p2p_downloader *dl);
void p2p__gossip_receiver_fini(struct p2p_gossip_receiver *r);
/* Makes room for peer's record (peer < cfg.node_ids_max). Errors:
 * P2P_ERR_NOMEM. */
int p2p__gossip_receiver_peer_fit(struct p2p_gossip_receiver *r,
                                  p2p_node_id peer);
/* A slot update arrived on an inbound stream from peer (up); answered
 * 200 with an ack, 400 (malformed: points in the ledger), or reset (our
 * own lack of memory, P2P_ERR_NOMEM). */
int p2p__gossip_receiver_on_update(struct p2p_gossip_receiver *r, p2p_time now,
                                   p2p_node_id peer, uint64_t stream_id,
                                   const struct p2p_frame *f);
/* A fetch request arrived on an inbound stream: answered 200 with the
 * validated artifact, 204 when not held, 400 when malformed. */
int p2p__gossip_receiver_on_fetch(struct p2p_gossip_receiver *r,
                                  p2p_node_id peer, uint64_t stream_id,
                                  const struct p2p_frame *f);
/* peer's connection is gone: its slot views are forgotten and their
 * adverts withdrawn. */
void p2p__gossip_receiver_peer_down(struct p2p_gossip_receiver *r, p2p_time now,
                                    p2p_node_id peer);
/* 0, or P2P_ERR_INTERNAL when a peer's slots_used disagrees with its
 * views. O(views). */
int p2p__gossip_receiver_check(const struct p2p_gossip_receiver *r);

#endif
