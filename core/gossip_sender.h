/* Internal: the consensus manager's sender (the IC's rs/p2p/consensus_manager). A slot
 * table of the artifacts in the validated pool; each slot's update is
 * packed once and sent to every connected peer, retransmitted with
 * backoff (cfg.update_backoff) until acknowledged; removing the artifact
 * frees the slot and aborts its transmissions. A freed slot then tells
 * the peers that may hold it (a `deleted` update, sent like any other and
 * retransmitted until acknowledged), after a hold of
 * cfg.slot_deletion_hold_ns: the free list is LIFO, so the next artifact
 * usually takes the slot within the hold, and its update replaces the
 * deletion, which is then never sent. Both tables are bounded
 * (cfg.slots_max slots, 64 times as many transmissions: a slot has one per
 * peer up, and the table is sized for 64 on average); a transmission
 * that finds no record or no timer is given up, and the peer gets the
 * slot again when it reconnects.
 *
 * Each transmission is on two lists threaded through the table: its slot's
 * and its peer's, so removing a slot or losing a peer touches only their
 * own transmissions (and frees them in ascending index order, as a scan of
 * the table would: the table's free list is LIFO, so that order decides
 * which records later transmissions get). A transmission freed while it
 * waits to be retried cancels its retry timer.
 *
 * The sender keeps its own record of which peers are up (the router tells
 * it). Cross-file internal names carry p2p__gossip_sender_. */
#ifndef P2P_CORE_GOSSIP_SENDER_H
#define P2P_CORE_GOSSIP_SENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/framing.h"
#include "core/keymap.h"
#include "core/streams.h"
#include "core/table.h"

/* The sender's per-artifact slot. A free slot whose artifact was removed
 * stays `deleting` until its deletion is over: held (hold_timer), then in
 * transmission to the peers that may have its artifact (tx_head, update),
 * until each acknowledged it or went down; a new artifact taking the slot
 * ends it at once (superseded). */
struct p2p_slot {
    bool used;
    bool deleting; /* free (on the free list), its deletion not over */
    uint32_t gen;
    struct p2p_artifact_id id;
    enum p2p_artifact_kind kind;
    uint64_t size;
    uint64_t commit_id; /* its update's; while deleting, the deletion's */
    bool push;          /* the update carries the body */
    uint8_t *update;    /* owned: the packed SlotUpdate, encoded once
                                  and sent to every peer; a push's
                                  is written up to its body */
    size_t update_len;
    struct p2p_body *body;       /* a push's: the update's last bytes (one
                              reference, charged to P2P_MEM_SENDER) */
    uint32_t next_free;          /* LIFO free list, as in the IC */
    uint32_t tx_head;            /* its transmissions (struct p2p_tx.by_slot) */
    p2p_timer_handle hold_timer; /* while its deletion is held back */
};

/* A transmission's place on one of its lists (table indices,
 * P2P_INDEX_NONE at the ends). */
struct p2p_tx_link {
    uint32_t prev, next;
};

/* One slot update in flight to one peer, or waiting to be retried. */
struct p2p_tx {
    bool used;
    uint32_t gen;
    uint32_t slot;
    p2p_node_id peer;
    uint32_t stream;              /* P2P_INDEX_NONE while waiting to retry */
    p2p_timer_handle retry_timer; /* while waiting; cancelled when freed */
    uint32_t attempt;
    uint32_t next_free;
    p2p_time started_ns;        /* first transmission: P2P_HIST_UPDATE_ACK */
    struct p2p_tx_link by_slot; /* its slot's transmissions */
    struct p2p_tx_link by_peer; /* its peer's transmissions */
};

/* What the sender knows of one peer. */
struct p2p_sender_peer {
    bool up;
    uint32_t tx_head;   /* while up: its transmissions (p2p_tx.by_peer) */
    uint64_t up_commit; /* the sender's commit id when it came up: it may
                           hold a slot removed at this commit or later,
                           never one removed before (its view of us was
                           new then) */
};

/* The module's state (caller storage; fields private to gossip_sender.c). */
struct p2p_gossip_sender {
    const struct p2p_env *env;   /* borrowed */
    struct p2p_streams *streams; /* borrowed: updates go out on it */
    struct p2p_table slots;      /* of struct p2p_slot */
    struct p2p_keymap slot_by_id;
    uint64_t commit_id;            /* the next update's */
    struct p2p_table txs;          /* of struct p2p_tx */
    struct p2p_sender_peer *peers; /* owned; indexed by node id */
    uint32_t peers_capacity;
    uint32_t deleting; /* slots whose deletion is not over */
};

/* An empty sender; env and streams are borrowed and outlive it. */
void p2p__gossip_sender_init(struct p2p_gossip_sender *s,
                             const struct p2p_env *env,
                             struct p2p_streams *streams, uint64_t key_seed);
/* Frees every slot (streams are left to their table's fini). */
void p2p__gossip_sender_fini(struct p2p_gossip_sender *s);
/* Makes room for peer's record (peer < cfg.node_ids_max). Errors:
 * P2P_ERR_NOMEM. */
int p2p__gossip_sender_peer_fit(struct p2p_gossip_sender *s, p2p_node_id peer);
/* Broadcasts validated pool entry e (borrowed for the call) in a new
 * slot; a relayed one is advertised when cfg.relay_advert. A duplicate is
 * a no-op. Errors: P2P_ERR_LIMIT (slot table full), P2P_ERR_NOMEM. */
int p2p__gossip_sender_add(struct p2p_gossip_sender *s, p2p_time now,
                           const struct p2p_pool_entry *e, bool relayed);
/* Frees id's slot, aborting its transmissions (in ascending index order),
 * and holds its deletion for cfg.slot_deletion_hold_ns (0: sent now) when
 * some peer is up; without a timer the deletion is given up (peers learn
 * when the slot is reused). id not held: a no-op. O(its transmissions x
 * log). */
void p2p__gossip_sender_remove(struct p2p_gossip_sender *s, p2p_time now,
                               const struct p2p_artifact_id *id);
/* Whether the slot table is full. */
bool p2p__gossip_sender_full(const struct p2p_gossip_sender *s);
/* peer is up: every slot is sent to it. */
void p2p__gossip_sender_peer_up(struct p2p_gossip_sender *s, p2p_time now,
                                p2p_node_id peer);
/* peer is down: its transmissions are given up (in ascending index
 * order). O(its transmissions x log). */
void p2p__gossip_sender_peer_down(struct p2p_gossip_sender *s,
                                  p2p_node_id peer);
/* An update stream (tx, gen) ended: err 0 with its frame, or why not. */
void p2p__gossip_sender_on_response(struct p2p_gossip_sender *s, p2p_time now,
                                    uint32_t tx, uint32_t gen, int err,
                                    const struct p2p_frame *f);
/* A P2P_TIMER_TX_RETRY fired. */
void p2p__gossip_sender_on_retry(struct p2p_gossip_sender *s, p2p_time now,
                                 uint32_t tx, uint32_t gen);
/* Whether a P2P_TIMER_TX_RETRY (tx, gen) still matters. */
bool p2p__gossip_sender_timer_live(const struct p2p_gossip_sender *s,
                                   uint32_t tx, uint32_t gen);
/* A P2P_TIMER_SLOT_DELETE (slot, gen) fired: the slot's deletion goes to
 * every peer up that may hold the slot (none: the deletion is over). A
 * stale timer (the slot was taken since) is ignored. */
void p2p__gossip_sender_on_delete_timer(struct p2p_gossip_sender *s,
                                        p2p_time now, uint32_t slot,
                                        uint32_t gen);
/* Whether a P2P_TIMER_SLOT_DELETE (slot, gen) still matters. */
bool p2p__gossip_sender_delete_timer_live(const struct p2p_gossip_sender *s,
                                          uint32_t slot, uint32_t gen);
/* Slots in use, slots whose deletion is held or in transmission, and
 * transmissions in flight or waiting. */
static inline uint32_t p2p__gossip_sender_slots(
    const struct p2p_gossip_sender *s)
{
    return s->slots.count;
}
static inline uint32_t p2p__gossip_sender_deleting(
    const struct p2p_gossip_sender *s)
{
    return s->deleting;
}
static inline uint32_t p2p__gossip_sender_txs(const struct p2p_gossip_sender *s)
{
    return s->txs.count;
}
/* The O(1) part of p2p__gossip_sender_check: index and table agree. */
static inline bool p2p__gossip_sender_counts_ok(
    const struct p2p_gossip_sender *s)
{
    return s->slot_by_id.count == s->slots.count;
}
/* 0, or P2P_ERR_INTERNAL: a slot whose artifact is not validated in the
 * pool, a transmission of a free slot that is not deleting, a deleting
 * slot neither held nor in transmission (or both), counts that
 * disagree, a slot's or
 * an up peer's list of transmissions that disagrees with the table (every
 * transmission is on exactly its slot's and its peer's list). O(slots +
 * peers + transmissions). */
int p2p__gossip_sender_check(const struct p2p_gossip_sender *s);

#endif
