/* The sender's slot table: push versus advert, commit ids, LIFO slot reuse,
 * retransmission with backoff until acknowledged, abort on removal, resend
 * to a peer that reconnects; and the sender alone (core/gossip_sender.h,
 * no node): removing a slot and losing a peer free exactly their own
 * transmissions, in ascending index order, as a scan of the table does,
 * and take their retry timers out of the node's timers. */
#include "harness.h"
#include "env_harness.h"
#include "core/gossip_sender.h"
#include "core/ledger.h" /* P2P_PENALTY_SILENT */
#include "core/pool.h"
#include "core/rng.h"
#include "core/status.h"

static const uint8_t small_body[100] = {1, 2, 3};
static uint8_t big_body[4096];

START_TEST(push_carries_body_advert_carries_id)
{
    struct harness h;
    h_init(&h, 2);
    struct p2p_artifact_id id;
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), &id),
                     0);
    ck_assert_uint_eq(
        h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE), 2);
    P2p__V1__SlotUpdate *u =
        h_update_of(&h, h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0));
    ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT);
    ck_assert_uint_eq(u->artifact->body.len, sizeof(small_body));
    ck_assert_uint_eq(h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->traffic,
                      P2P_TRAFFIC_PUSH);
    uint64_t first_commit = u->commit_id;
    p2p__v1__slot_update__free_unpacked(u, NULL);
    h_clear(&h);

    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, big_body,
                                     sizeof(big_body), &id),
                     0);
    u = h_update_of(&h, h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0));
    ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_REF);
    ck_assert_mem_eq(u->ref->id.data, id.b, P2P_ID_BYTES);
    ck_assert_uint_eq(u->ref->size, sizeof(big_body));
    ck_assert_uint_gt(u->commit_id, first_commit);
    ck_assert_uint_eq(u->slot_id, 1);
    p2p__v1__slot_update__free_unpacked(u, NULL);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Below the push threshold an advert-kind artifact is pushed too (IC). */
START_TEST(small_advert_is_pushed_below_threshold)
{
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, small_body,
                                     sizeof(small_body), NULL),
                     0);
    P2p__V1__SlotUpdate *u =
        h_update_of(&h, h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0));
    ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT);
    p2p__v1__slot_update__free_unpacked(u, NULL);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

START_TEST(freed_slot_is_reused_lifo)
{
    struct harness h;
    h_init(&h, 1);
    struct p2p_artifact_id a, b;
    uint8_t body_a[2000] = {1}, body_b[2000] = {2}, body_c[2000] = {3};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, body_a,
                                     sizeof(body_a), &a),
                     0);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, body_b,
                                     sizeof(body_b), &b),
                     0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &a), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, body_c,
                                     sizeof(body_c), NULL),
                     0);
    P2p__V1__SlotUpdate *u =
        h_update_of(&h, h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0));
    ck_assert_uint_eq(u->slot_id, 0); /* a's slot */
    p2p__v1__slot_update__free_unpacked(u, NULL);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

START_TEST(acknowledged_update_is_not_resent)
{
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), NULL),
                     0);
    const struct p2p_action *open = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0);
    uint64_t stream = open->stream_id;
    h_clear(&h);
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    ck_assert_int_eq(h_respond(&h, 1, stream, 200, &ack.base), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_acked, 1);
    for (int i = 0; i < 100; i++)
        h_advance(&h, 10 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_fini(&h);
}
END_TEST

static uint64_t points_of(struct harness *h, p2p_node_id peer)
{
    struct p2p_peer_info pi;
    ck_assert_int_eq(p2p_node_peer_info(h->node, peer, &pi), 0);
    return pi.penalty_total;
}

/* Timeouts and penalties (docs/architecture.md): an update that times out
 * (30 s) costs a peer no point while it answers something we asked at or
 * after it (_i = 0: the second update is acknowledged: slow, alive); a
 * peer that answered nothing we asked since, for P2P_SILENCE_NS, gets
 * P2P_PENALTY_SILENT (_i = 1), and only at the deadline, not at - 1. */
START_TEST(update_timeout_penalises_silence_not_slowness)
{
    bool answers = _i == 0;
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), NULL),
                     0);
    p2p_time first = h.now;
    h_clear(&h);
    h_advance(&h, 1 * P2P_NS_PER_S);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, big_body,
                                     sizeof(big_body), NULL),
                     0);
    uint64_t second = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->stream_id;
    h_clear(&h);
    if (answers) {
        P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
        ck_assert_int_eq(h_respond(&h, 1, second, 200, &ack.base), 0);
    }
    h_advance(&h, first + h.cfg.update_timeout_ns - 1 - h.now);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_retried, 0);
    ck_assert_uint_eq(points_of(&h, 1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_retried, 1);
    ck_assert_uint_eq(points_of(&h, 1), answers ? 0 : P2P_PENALTY_SILENT);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Retries wait for the backoff: nothing at deadline-1, a resend at the
 * deadline. With jitter 0 the first retry comes exactly 250 ms later. */
START_TEST(failed_update_is_retried_after_backoff)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 42);
    c.update_backoff.jitter_pct = 0;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), NULL),
                     0);
    uint64_t stream = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->stream_id;
    h_clear(&h);
    ck_assert_int_eq(h_respond(&h, 1, stream, 400, NULL), 0);
    p2p_time failed_at = h.now;
    ck_assert_uint_eq(p2p_node_next_deadline(h.node),
                      failed_at + 250 * P2P_NS_PER_MS);
    h_advance(&h, 250 * P2P_NS_PER_MS - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 1);
    /* A second failure (a transport reset) doubles the wait. */
    stream = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->stream_id;
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_stream_reset(h.node, h.now, 1, stream, false),
                     0);
    h_advance(&h, 500 * P2P_NS_PER_MS - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_retried, 2);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* An update nobody answers times out and is retried. */
START_TEST(unanswered_update_times_out)
{
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), NULL),
                     0);
    h_clear(&h);
    h_advance(&h, h.cfg.update_timeout_ns);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    h_clear(&h);
    h_advance(&h, 60 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Removal aborts the slot's transmissions at once (RESET); the slot's
 * deletion follows after the hold (nothing at hold - 1), and nothing more
 * once it is acknowledged. */
START_TEST(remove_aborts_transmissions)
{
    struct harness h;
    h_init(&h, 3);
    struct p2p_artifact_id id;
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), &id),
                     0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 3);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &id), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 3);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &id), P2P_ERR_NOT_FOUND);
    h_clear(&h);
    h_advance(&h, h.cfg.slot_deletion_hold_ns - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(
        h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE), 3);
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    for (size_t k = 0; k < 3; k++) {
        const struct p2p_action *open = h_find(&h, P2P_ACT_STREAM_OPEN, -1, k);
        ck_assert_uint_eq(open->peer, k + 1);
        ck_assert_int_eq(
            h_respond(&h, open->peer, open->stream_id, 200, &ack.base), 0);
    }
    h_clear(&h);
    h_advance(&h, 120 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->deletions_sent, 3);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* The k-th slot update opened (any peer), decoded; the caller frees it. */
static P2p__V1__SlotUpdate *nth_update(struct harness *h, size_t k)
{
    const struct p2p_action *open =
        h_find(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE, k);
    ck_assert_ptr_nonnull(open);
    return h_update_of(h, open);
}

/* How many of the slot updates opened are deletions. */
static size_t deletions_opened(struct harness *h)
{
    size_t n = 0;
    size_t all = h_count(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE);
    for (size_t k = 0; k < all; k++) {
        P2p__V1__SlotUpdate *u = nth_update(h, k);
        n += u->update_case == P2P__V1__SLOT_UPDATE__UPDATE_DELETED;
        p2p__v1__slot_update__free_unpacked(u, NULL);
    }
    return n;
}

/* Acknowledges every slot update in the outbox, then clears it. */
static void ack_all(struct harness *h)
{
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    size_t all = h_count(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE);
    struct p2p_action opens[16];
    ck_assert_uint_le(all, 16);
    for (size_t k = 0; k < all; k++)
        opens[k] =
            *h_find(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE, k);
    h_clear(h);
    for (size_t k = 0; k < all; k++)
        ck_assert_int_eq(
            h_respond(h, opens[k].peer, opens[k].stream_id, 200, &ack.base),
            0);
    h_clear(h);
}

/* The deletion a removal holds: SlotUpdate{commit > the artifact's, the
 * same slot, deleted}, to every peer, an advert-class message; one
 * refused is retried after the backoff (deadline - 1: nothing) until
 * acknowledged, then nothing more. */
START_TEST(deletion_names_the_slot_and_is_retried_until_acknowledged)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 42);
    c.update_backoff.jitter_pct = 0;
    struct harness h;
    h_init_cfg(&h, &c, 2);
    struct p2p_artifact_id keep, gone;
    uint8_t b1[2000] = {1}, b2[2000] = {2};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, b1,
                                     sizeof(b1), &keep),
                     0);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, b2,
                                     sizeof(b2), &gone),
                     0);
    P2p__V1__SlotUpdate *u = nth_update(&h, 2); /* gone's, to peer 1 */
    ck_assert_uint_eq(u->slot_id, 1);
    uint64_t commit = u->commit_id;
    p2p__v1__slot_update__free_unpacked(u, NULL);
    ack_all(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &gone), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, c.slot_deletion_hold_ns);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 2);
    for (size_t k = 0; k < 2; k++) {
        const struct p2p_action *open = h_find(&h, P2P_ACT_STREAM_OPEN, -1, k);
        ck_assert_uint_eq(open->peer, k + 1);
        ck_assert_uint_eq(open->traffic, P2P_TRAFFIC_ADVERT);
        u = h_update_of(&h, open);
        ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_DELETED);
        ck_assert(u->deleted);
        ck_assert_uint_eq(u->slot_id, 1);
        ck_assert_uint_gt(u->commit_id, commit);
        p2p__v1__slot_update__free_unpacked(u, NULL);
    }
    struct p2p_action to1 = *h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0);
    struct p2p_action to2 = *h_find(&h, P2P_ACT_STREAM_OPEN, -1, 1);
    h_clear(&h);
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    ck_assert_int_eq(h_respond(&h, 1, to1.stream_id, 200, &ack.base), 0);
    ck_assert_int_eq(h_respond(&h, 2, to2.stream_id, 400, NULL), 0);
    h_advance(&h, 250 * P2P_NS_PER_MS - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 1);
    ck_assert_uint_eq(h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->peer, 2);
    ck_assert_uint_eq(deletions_opened(&h), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->deletions_sent, 3);
    ack_all(&h);
    h_advance(&h, 120 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* The free list is LIFO: a new artifact takes the slot just freed. While
 * the deletion is held (here at hold - 1), the new artifact's update
 * replaces it: only that update goes out, with a newer commit id, and no
 * deletion ever follows (_i = 0). Once the deletion is in flight
 * (_i = 1), the new update replaces it too: its streams are reset and
 * the new update follows in the same slot. */
START_TEST(reused_slot_supersedes_the_deletion)
{
    bool in_flight = _i == 1;
    struct harness h;
    h_init(&h, 2);
    struct p2p_artifact_id a;
    uint8_t ba[2000] = {1}, bb[2000] = {2};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, ba,
                                     sizeof(ba), &a),
                     0);
    ack_all(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &a), 0);
    h_advance(&h, h.cfg.slot_deletion_hold_ns - (in_flight ? 0 : 1));
    ck_assert_uint_eq(deletions_opened(&h), in_flight ? 2 : 0);
    P2p__V1__SlotUpdate *d = in_flight ? nth_update(&h, 0) : NULL;
    h_clear(&h);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, bb,
                                     sizeof(bb), NULL),
                     0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), in_flight ? 2 : 0);
    ck_assert_uint_eq(
        h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE), 2);
    ck_assert_uint_eq(deletions_opened(&h), 0);
    P2p__V1__SlotUpdate *u = nth_update(&h, 0);
    ck_assert_uint_eq(u->slot_id, 0); /* a's */
    ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_REF);
    if (d != NULL) {
        ck_assert_uint_gt(u->commit_id, d->commit_id);
        p2p__v1__slot_update__free_unpacked(d, NULL);
    }
    p2p__v1__slot_update__free_unpacked(u, NULL);
    ack_all(&h);
    h_advance(&h, 120 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->deletions_superseded,
                      in_flight ? 0 : 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->deletions_sent,
                      in_flight ? 2 : 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* A deletion goes only to the peers that may hold the slot: those up
 * since before the removal. Peer 2 comes up during the hold (it was
 * never sent the artifact), peer 3 reconnects during it (it forgot its
 * views of us): only peer 1 gets the deletion. With no peer at all up at
 * the removal, no deletion is held (no timer). */
START_TEST(deletion_goes_to_peers_that_may_hold_the_slot)
{
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 3), 0);
    struct p2p_artifact_id a, b;
    uint8_t ba[2000] = {1}, bb[2000] = {2};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, ba,
                                     sizeof(ba), &a),
                     0);
    ack_all(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &a), 0);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 2), 0);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 3), 0);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 3), 0);
    h_clear(&h);
    h_advance(&h, h.cfg.slot_deletion_hold_ns);
    ck_assert_uint_eq(deletions_opened(&h), 1);
    ck_assert_uint_eq(h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->peer, 1);
    ack_all(&h);

    /* Nobody up: nothing held, nothing sent when peers come back. */
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, bb,
                                     sizeof(bb), &b),
                     0);
    ack_all(&h);
    for (p2p_node_id p = 1; p <= 3; p++)
        ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, p), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &b), 0);
    for (p2p_node_id p = 1; p <= 3; p++)
        ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, p), 0);
    h_clear(&h);
    h_advance(&h, 120 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->deletions_sent, 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* slot_deletion_hold_ns 0: the deletion goes out with the removal; the
 * config refuses a hold past P2P_CONFIG_DELETION_HOLD_MAX_NS (at the
 * limit: accepted). */
START_TEST(zero_hold_sends_the_deletion_at_once)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 42);
    c.slot_deletion_hold_ns = P2P_CONFIG_DELETION_HOLD_MAX_NS;
    ck_assert_int_eq(p2p_config_check(&c), 0);
    c.slot_deletion_hold_ns = P2P_CONFIG_DELETION_HOLD_MAX_NS + 1;
    ck_assert_int_eq(p2p_config_check(&c), P2P_ERR_INVALID_ARG);
    c.slot_deletion_hold_ns = 0;
    struct harness h;
    h_init_cfg(&h, &c, 2);
    struct p2p_artifact_id a;
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), &a),
                     0);
    ack_all(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &a), 0);
    ck_assert_uint_eq(deletions_opened(&h), 2);
    ack_all(&h);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* A peer that reconnects gets every active slot again. */
START_TEST(reconnected_peer_gets_every_slot)
{
    struct harness h;
    h_init(&h, 1);
    uint8_t b1[2000] = {1}, b2[2000] = {2};
    ck_assert_int_eq(
        p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, b1, sizeof(b1), NULL),
        0);
    ck_assert_int_eq(
        p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, b2, sizeof(b2), NULL),
        0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1), 0);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 1), 0);
    ck_assert_uint_eq(
        h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE), 2);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Config: a sender may not use slot ids its peers refuse; bounds stay
 * far from 2^32; oversize artifacts are refused at insert. */
START_TEST(config_and_insert_bounds)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    ck_assert_int_eq(p2p_config_check(&c), 0);
    c.slots_max = c.slots_per_peer_max + 1;
    ck_assert_int_eq(p2p_config_check(&c), P2P_ERR_INVALID_ARG);
    p2p_config_default(&c, 0, 1);
    c.downloads_max = P2P_CONFIG_TABLE_MAX + 1;
    ck_assert_int_eq(p2p_config_check(&c), P2P_ERR_INVALID_ARG);
    struct harness h;
    h_init(&h, 1);
    static const uint8_t dummy[1];
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, dummy,
                                     P2P_ARTIFACT_BYTES_MAX + 1, NULL),
                     P2P_ERR_OVERSIZE);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_fini(&h);
}
END_TEST

START_TEST(slot_table_bound)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.slots_max = 2;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    uint8_t b[3][10] = {{1}, {2}, {3}};
    ck_assert_int_eq(
        p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, b[0], 10, NULL), 0);
    ck_assert_int_eq(
        p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, b[1], 10, NULL), 0);
    ck_assert_int_eq(
        p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, b[2], 10, NULL),
        P2P_ERR_LIMIT);
    ck_assert_uint_eq(p2p_node_pool(h.node)->count[P2P_POOL_VALIDATED], 2);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Fail the N-th allocation of insert -> failed update -> retry -> remove
 * -> deletion, for N = 1, 2, ... until nothing fails: no crash, invariants hold, nothing
 * leaks. */
static void insert_fail_retry_remove(struct harness *h)
{
    struct p2p_artifact_id id;
    int rc = p2p_node_insert(h->node, h->now, P2P_KIND_PUSH, small_body,
                             sizeof(small_body), &id);
    const struct p2p_action *open = h_find(h, P2P_ACT_STREAM_OPEN, -1, 0);
    if (open != NULL) {
        uint64_t stream = open->stream_id;
        p2p_node_id peer = open->peer;
        h_clear(h);
        (void)h_respond(h, peer, stream, 400, NULL);
    }
    h_advance(h, 2 * P2P_NS_PER_S);
    if (rc == 0)
        ck_assert_int_eq(p2p_node_remove(h->node, h->now, &id), 0);
    h_advance(h, 2 * P2P_NS_PER_S); /* the deletion goes out */
}

START_TEST(every_allocation_failure_is_survived)
{
    h_walk_allocation_failures(2, insert_fail_retry_remove);
}
END_TEST

/* The sender alone, with a real stream table, pool and timers. */
struct sfx {
    struct h_env e;
    struct p2p_streams streams;
    struct p2p_gossip_sender s;
    p2p_time now;
};

static void sfx_init(struct sfx *f)
{
    h_env_start(&f->e, 0);
    f->e.cfg.node_ids_max = 16;
    h_env_init(&f->e, 100000, 100000);
    p2p__streams_init(&f->streams, &f->e.env, 42);
    p2p__gossip_sender_init(&f->s, &f->e.env, &f->streams, 43);
    for (p2p_node_id p = 0; p < f->e.cfg.node_ids_max; p++) {
        ck_assert_int_eq(p2p__streams_peer_fit(&f->streams, p), 0);
        ck_assert_int_eq(p2p__gossip_sender_peer_fit(&f->s, p), 0);
    }
    f->now = 1000;
}

static void sfx_fini(struct sfx *f)
{
    ck_assert_int_eq(p2p__gossip_sender_check(&f->s), 0);
    ck_assert_int_eq(p2p__streams_check(&f->streams), 0);
    p2p__gossip_sender_fini(&f->s);
    p2p__streams_fini(&f->streams);
    h_env_fini(&f->e);
}

/* Artifact k enters the validated pool and gets a slot; returns its id. */
static struct p2p_artifact_id sfx_add(struct sfx *f, uint32_t k)
{
    uint8_t body[16] = "slot";
    memcpy(body + 8, &k, sizeof(k));
    struct p2p_artifact_id id;
    p2p_id_of(body, sizeof(body), &id);
    struct p2p_pool_item item = {.section = P2P_POOL_VALIDATED,
                                 .id = &id,
                                 .kind = P2P_KIND_PUSH,
                                 .body = body,
                                 .len = sizeof(body),
                                 .from = P2P_NODE_NONE};
    ck_assert_int_eq(p2p_pool_insert(&f->e.pool, f->now, &item), 0);
    ck_assert_int_eq(p2p__gossip_sender_add(
                         &f->s, f->now, p2p_pool_get(&f->e.pool, &id), false),
                     0);
    return id;
}

/* Artifact id's slot index. */
static uint32_t sfx_slot(const struct sfx *f, const struct p2p_artifact_id *id)
{
    for (uint32_t i = 0; i < f->s.slots.capacity; i++) {
        const struct p2p_slot *slot = p2p__table_at(&f->s.slots, i);
        if (slot->used && memcmp(slot->id.b, id->b, P2P_ID_BYTES) == 0)
            return i;
    }
    ck_abort_msg("no slot");
    return 0;
}

/* Transmission i is acknowledged: its stream ends (as the stream table
 * closes it before node.c reports the response) and the sender hears. */
static void sfx_ack(struct sfx *f, uint32_t i)
{
    const struct p2p_tx *tx = p2p__table_at(&f->s.txs, i);
    ck_assert(tx->used && tx->stream != P2P_INDEX_NONE);
    p2p__streams_abort(&f->streams, tx->stream);
    struct p2p_frame fr = {.route = P2P_ROUTE_ARTIFACT_UPDATE,
                           .status = P2P_STATUS_OK};
    p2p__gossip_sender_on_response(&f->s, f->now, i, tx->gen, 0, &fr);
}

/* What the table says before an operation that should free the used
 * transmissions of slot (peer P2P_NODE_NONE) or of peer (slot
 * P2P_INDEX_NONE): those, ascending (the model: a scan of the table);
 * the stream ids they wait on, in that order; the free list's first
 * entries; and a copy of every record. */
struct tx_model {
    uint32_t freed[256], freed_count;
    uint64_t stream_ids[256];
    uint32_t free_list[64], free_count;
    struct p2p_tx before[1024];
    uint32_t capacity, count;
};

static uint64_t stream_id_of(const struct sfx *f, uint32_t stream)
{
    const struct p2p_stream *st = p2p__table_at(&f->streams.table, stream);
    ck_assert(st->used);
    return st->stream_id;
}

static void model_before(const struct sfx *f, uint32_t slot, p2p_node_id peer,
                         struct tx_model *m)
{
    memset(m, 0, sizeof(*m));
    m->capacity = f->s.txs.capacity;
    m->count = f->s.txs.count;
    ck_assert_uint_le(m->capacity, 1024);
    for (uint32_t i = 0; i < m->capacity; i++) {
        const struct p2p_tx *tx = p2p__table_at(&f->s.txs, i);
        m->before[i] = *tx;
        if (!tx->used || (slot != P2P_INDEX_NONE && tx->slot != slot) ||
            (peer != P2P_NODE_NONE && tx->peer != peer))
            continue;
        ck_assert_uint_lt(m->freed_count, 256);
        m->stream_ids[m->freed_count] =
            tx->stream != P2P_INDEX_NONE ? stream_id_of(f, tx->stream) : 0;
        m->freed[m->freed_count++] = i;
    }
    for (uint32_t i = f->s.txs.free_head;
         i != P2P_INDEX_NONE && m->free_count < 64;
         i = ((const struct p2p_tx *)p2p__table_at(&f->s.txs, i))->next_free)
        m->free_list[m->free_count++] = i;
}

/* After the operation: exactly the model's records were freed, pushed on
 * the free list in ascending order (so the list starts with them,
 * descending, then the old list); their streams were reset in that order;
 * every other record is untouched; the sender's lists agree with it. */
static void model_after(const struct sfx *f, const struct tx_model *m)
{
    ck_assert_int_eq(p2p__gossip_sender_check(&f->s), 0);
    ck_assert_uint_eq(f->s.txs.capacity, m->capacity);
    ck_assert_uint_eq(f->s.txs.count, m->count - m->freed_count);
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->capacity; i++) {
        const struct p2p_tx *tx = p2p__table_at(&f->s.txs, i);
        if (k < m->freed_count && m->freed[k] == i) {
            ck_assert(!tx->used);
            k++;
            continue;
        }
        ck_assert_int_eq(tx->used, m->before[i].used);
        if (!tx->used)
            continue;
        ck_assert_uint_eq(tx->gen, m->before[i].gen);
        ck_assert_uint_eq(tx->slot, m->before[i].slot);
        ck_assert_uint_eq(tx->peer, m->before[i].peer);
        ck_assert_uint_eq(tx->stream, m->before[i].stream);
    }
    uint32_t at = f->s.txs.free_head;
    for (uint32_t j = m->freed_count; j-- > 0;) {
        ck_assert_uint_eq(at, m->freed[j]);
        at = ((const struct p2p_tx *)p2p__table_at(&f->s.txs, at))->next_free;
    }
    for (uint32_t j = 0; j < m->free_count; j++) {
        ck_assert_uint_eq(at, m->free_list[j]);
        at = ((const struct p2p_tx *)p2p__table_at(&f->s.txs, at))->next_free;
    }
    uint32_t resets = 0;
    for (size_t i = 0; i < p2p_outbox_count(&f->e.outbox); i++) {
        const struct p2p_action *a = p2p_outbox_at(&f->e.outbox, i);
        if (a->type != P2P_ACT_STREAM_RESET)
            continue;
        while (resets < m->freed_count && m->stream_ids[resets] == 0)
            resets++; /* waiting to retry: no stream */
        ck_assert_uint_lt(resets, m->freed_count);
        ck_assert_uint_eq(a->stream_id, m->stream_ids[resets]);
        resets++;
    }
}

/* Whether slot's list of transmissions, from its head, is in index
 * order. */
static bool slot_list_ascending(const struct sfx *f, uint32_t slot)
{
    const struct p2p_slot *sl = p2p__table_at(&f->s.slots, slot);
    for (uint32_t i = sl->tx_head; i != P2P_INDEX_NONE;) {
        uint32_t next =
            ((const struct p2p_tx *)p2p__table_at(&f->s.txs, i))->by_slot.next;
        if (next != P2P_INDEX_NONE && next < i)
            return false;
        i = next;
    }
    return true;
}

/* Slots with transmissions to several peers, whose records were taken
 * from the free list out of order (acknowledgements, a peer down and up
 * again): removing one frees exactly its transmissions, in ascending
 * index order; a peer going down frees exactly its own the same way;
 * later slots reuse the freed records LIFO. */
START_TEST(remove_and_peer_down_free_their_own_in_index_order)
{
    enum { PEERS = 9, SLOTS = 12 };
    struct sfx f;
    sfx_init(&f);
    for (p2p_node_id p = 1; p <= PEERS; p++)
        p2p__gossip_sender_peer_up(&f.s, f.now, p);
    struct p2p_artifact_id ids[SLOTS + 2];
    struct p2p_rng rng;
    p2p_rng_init(&rng, 11, 2);
    for (uint32_t k = 0; k < SLOTS; k++) {
        ids[k] = sfx_add(&f, k);
        /* Acknowledge about a sixth of what is in flight. */
        for (uint32_t i = 0; i < f.s.txs.capacity; i++) {
            const struct p2p_tx *tx = p2p__table_at(&f.s.txs, i);
            if (tx->used && tx->stream != P2P_INDEX_NONE &&
                p2p_rng_below(&rng, 6) == 0)
                sfx_ack(&f, i);
        }
        if (k % 4 == 3) { /* peer 3 reconnects: every slot again */
            p2p__gossip_sender_peer_down(&f.s, 3);
            p2p__gossip_sender_peer_up(&f.s, f.now, 3);
        }
        ck_assert_int_eq(p2p__gossip_sender_check(&f.s), 0);
    }
    /* The slot with the most transmissions left whose list is not in
     * index order (so the order freed is the sender's doing). */
    uint32_t best = 0, best_n = 0;
    for (uint32_t k = 0; k < SLOTS; k++) {
        uint32_t slot = sfx_slot(&f, &ids[k]), n = 0;
        for (uint32_t i = 0; i < f.s.txs.capacity; i++) {
            const struct p2p_tx *tx = p2p__table_at(&f.s.txs, i);
            n += tx->used && tx->slot == slot;
        }
        if (n > best_n && !slot_list_ascending(&f, slot))
            best = k, best_n = n;
    }
    ck_assert_uint_ge(best_n, 5);
    static struct tx_model m;
    model_before(&f, sfx_slot(&f, &ids[best]), P2P_NODE_NONE, &m);
    ck_assert_uint_eq(m.freed_count, best_n);
    p2p_outbox_clear(&f.e.outbox);
    p2p__gossip_sender_remove(&f.s, f.now, &ids[best]);
    model_after(&f, &m);
    ck_assert_int_eq(p2p_pool_remove(&f.e.pool, &ids[best]), 0);

    /* Peer 5 goes down: its own transmissions only. */
    model_before(&f, P2P_INDEX_NONE, 5, &m);
    ck_assert_uint_ge(m.freed_count, 3);
    p2p_outbox_clear(&f.e.outbox);
    p2p__gossip_sender_peer_down(&f.s, 5);
    model_after(&f, &m);

    /* A new slot takes the freed records LIFO: the lowest peer up gets
     * the free list's head. */
    uint32_t head = f.s.txs.free_head;
    ids[SLOTS] = sfx_add(&f, SLOTS);
    const struct p2p_tx *tx = p2p__table_at(&f.s.txs, head);
    ck_assert(tx->used);
    ck_assert_uint_eq(tx->peer, 1);
    ck_assert_uint_eq(tx->slot, sfx_slot(&f, &ids[SLOTS]));

    /* Everything goes: the lists empty with the table. */
    for (p2p_node_id p = 1; p <= PEERS; p++)
        if (p != 5)
            p2p__gossip_sender_peer_down(&f.s, p);
    ck_assert_uint_eq(f.s.txs.count, 0);
    ck_assert_int_eq(p2p__gossip_sender_check(&f.s), 0);
    p2p_outbox_clear(&f.e.outbox);
    sfx_fini(&f);
}
END_TEST

/* The transmission of slot to peer. */
static uint32_t sfx_tx(const struct sfx *f, uint32_t slot, p2p_node_id peer)
{
    for (uint32_t i = 0; i < f->s.txs.capacity; i++) {
        const struct p2p_tx *tx = p2p__table_at(&f->s.txs, i);
        if (tx->used && tx->slot == slot && tx->peer == peer)
            return i;
    }
    ck_abort_msg("no transmission");
    return 0;
}

/* Transmission i's stream fails (reset): it waits to be retried. */
static void sfx_fail(struct sfx *f, uint32_t i)
{
    const struct p2p_tx *tx = p2p__table_at(&f->s.txs, i);
    ck_assert(tx->used && tx->stream != P2P_INDEX_NONE);
    p2p__streams_abort(&f->streams, tx->stream);
    struct p2p_frame fr = {.route = P2P_ROUTE_ARTIFACT_UPDATE};
    p2p__gossip_sender_on_response(&f->s, f->now, i, tx->gen, P2P_ERR_READ,
                                   &fr);
    ck_assert(p2p__gossip_sender_timer_live(&f->s, i, tx->gen));
}

/* A transmission freed while it waits to be retried (its peer lost, its
 * slot removed) takes its retry timer with it: the node's next deadline
 * is the next one still wanted. */
START_TEST(freed_transmission_cancels_its_retry)
{
    struct sfx f;
    sfx_init(&f);
    p2p__gossip_sender_peer_up(&f.s, f.now, 1);
    p2p__gossip_sender_peer_up(&f.s, f.now, 2);
    struct p2p_artifact_id id = sfx_add(&f, 0);
    uint32_t slot = sfx_slot(&f, &id);
    p2p_time update_deadline = f.now + f.e.cfg.update_timeout_ns;
    ck_assert_uint_eq(p2p_timer_heap_next(&f.e.timers.heap), update_deadline);
    /* Peer 1's update fails: a retry within the first backoff. */
    sfx_fail(&f, sfx_tx(&f, slot, 1));
    p2p_time retry = p2p_timer_heap_next(&f.e.timers.heap);
    ck_assert_uint_lt(retry, f.now + P2P_NS_PER_S);
    p2p__gossip_sender_peer_down(&f.s, 1);
    ck_assert_uint_eq(p2p_timer_heap_next(&f.e.timers.heap), update_deadline);
    /* Peer 2's fails too; its slot is removed: the only timer left is
     * the hold of the slot's deletion. */
    sfx_fail(&f, sfx_tx(&f, slot, 2));
    ck_assert_uint_lt(p2p_timer_heap_next(&f.e.timers.heap),
                      f.now + P2P_NS_PER_S);
    p2p__gossip_sender_remove(&f.s, f.now, &id);
    ck_assert_int_eq(p2p_pool_remove(&f.e.pool, &id), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&f.e.timers.heap),
                      f.now + f.e.cfg.slot_deletion_hold_ns);
    ck_assert_uint_eq(f.s.txs.count, 0);
    ck_assert_int_eq(p2p_timer_heap_check(&f.e.timers.heap), 0);
    p2p__gossip_sender_peer_down(&f.s, 2);
    p2p_outbox_clear(&f.e.outbox);
    sfx_fini(&f);
}
END_TEST

/* A deletion's life in the sender's tables: held (its timer armed, no
 * update packed, no transmission), then in transmission (its update
 * packed, one transmission per peer up), then over once the last is
 * acknowledged: a plain free slot, and the sender's memory what it was
 * while the deletion was held. A second removal's held deletion is
 * superseded when a new artifact takes the slot: its timer is stale,
 * nothing is sent. */
START_TEST(deletion_states_in_the_tables)
{
    struct sfx f;
    sfx_init(&f);
    p2p__gossip_sender_peer_up(&f.s, f.now, 1);
    p2p__gossip_sender_peer_up(&f.s, f.now, 2);
    struct p2p_artifact_id id = sfx_add(&f, 0);
    uint32_t slot = sfx_slot(&f, &id);
    sfx_ack(&f, sfx_tx(&f, slot, 1));
    sfx_ack(&f, sfx_tx(&f, slot, 2));
    p2p__gossip_sender_remove(&f.s, f.now, &id);
    ck_assert_int_eq(p2p_pool_remove(&f.e.pool, &id), 0);
    const struct p2p_slot *sl = p2p__table_at(&f.s.slots, slot);
    ck_assert(!sl->used && sl->deleting);
    ck_assert_uint_ne(sl->hold_timer, P2P_TIMER_HANDLE_NONE);
    ck_assert_ptr_null(sl->update);
    ck_assert_uint_eq(f.s.txs.count, 0);
    ck_assert_uint_eq(p2p__gossip_sender_deleting(&f.s), 1);
    ck_assert_uint_eq(f.s.slots.free_head, slot);
    ck_assert(p2p__gossip_sender_delete_timer_live(&f.s, slot, sl->gen));
    ck_assert_int_eq(p2p__gossip_sender_check(&f.s), 0);
    size_t held_bytes = f.e.mem.module_bytes[P2P_MEM_SENDER];

    f.now += f.e.cfg.slot_deletion_hold_ns;
    p2p__gossip_sender_on_delete_timer(&f.s, f.now, slot, sl->gen);
    ck_assert(sl->deleting);
    ck_assert_uint_eq(sl->hold_timer, P2P_TIMER_HANDLE_NONE);
    ck_assert_ptr_nonnull(sl->update);
    ck_assert_uint_eq(f.s.txs.count, 2);
    ck_assert_int_eq(p2p__gossip_sender_check(&f.s), 0);
    sfx_ack(&f, sfx_tx(&f, slot, 1));
    ck_assert(sl->deleting); /* peer 2 has not acknowledged yet */
    sfx_ack(&f, sfx_tx(&f, slot, 2));
    ck_assert(!sl->deleting);
    ck_assert_ptr_null(sl->update);
    ck_assert_uint_eq(p2p__gossip_sender_deleting(&f.s), 0);
    ck_assert_uint_eq(f.e.mem.module_bytes[P2P_MEM_SENDER], held_bytes);
    ck_assert_uint_eq(f.e.metrics.deletions_sent, 2);
    ck_assert_int_eq(p2p__gossip_sender_check(&f.s), 0);

    /* Superseded while held. */
    id = sfx_add(&f, 1);
    ck_assert_uint_eq(sfx_slot(&f, &id), slot);
    sfx_ack(&f, sfx_tx(&f, slot, 1));
    sfx_ack(&f, sfx_tx(&f, slot, 2));
    p2p__gossip_sender_remove(&f.s, f.now, &id);
    ck_assert_int_eq(p2p_pool_remove(&f.e.pool, &id), 0);
    uint32_t gen = sl->gen;
    ck_assert(p2p__gossip_sender_delete_timer_live(&f.s, slot, gen));
    id = sfx_add(&f, 2);
    ck_assert_uint_eq(sfx_slot(&f, &id), slot);
    ck_assert(!p2p__gossip_sender_delete_timer_live(&f.s, slot, gen));
    p2p__gossip_sender_on_delete_timer(&f.s, f.now, slot, gen); /* stale */
    ck_assert_uint_eq(p2p__gossip_sender_deleting(&f.s), 0);
    ck_assert_uint_eq(f.e.metrics.deletions_superseded, 1);
    ck_assert_uint_eq(f.e.metrics.deletions_sent, 2);
    ck_assert_uint_eq(f.s.txs.count, 2); /* the new artifact's */
    ck_assert_uint_eq(p2p_timer_heap_next(&f.e.timers.heap),
                      f.now + f.e.cfg.update_timeout_ns);
    ck_assert_int_eq(p2p__gossip_sender_check(&f.s), 0);
    p2p__gossip_sender_peer_down(&f.s, 1);
    p2p__gossip_sender_peer_down(&f.s, 2);
    p2p_outbox_clear(&f.e.outbox);
    sfx_fini(&f);
}
END_TEST

int main(void)
{
    memset(big_body, 7, sizeof(big_body));
    Suite *s = suite_create("gossip_sender");
    TCase *tc = tcase_create("sender");
    tcase_add_test(tc, push_carries_body_advert_carries_id);
    tcase_add_test(tc, small_advert_is_pushed_below_threshold);
    tcase_add_test(tc, freed_slot_is_reused_lifo);
    tcase_add_test(tc, acknowledged_update_is_not_resent);
    tcase_add_test(tc, failed_update_is_retried_after_backoff);
    tcase_add_test(tc, unanswered_update_times_out);
    tcase_add_test(tc, remove_aborts_transmissions);
    tcase_add_test(tc, reconnected_peer_gets_every_slot);
    tcase_add_test(tc,
                   deletion_names_the_slot_and_is_retried_until_acknowledged);
    tcase_add_loop_test(tc, reused_slot_supersedes_the_deletion, 0, 2);
    tcase_add_test(tc, deletion_goes_to_peers_that_may_hold_the_slot);
    tcase_add_test(tc, zero_hold_sends_the_deletion_at_once);
    tcase_add_test(tc, slot_table_bound);
    tcase_add_test(tc, config_and_insert_bounds);
    tcase_add_test(tc, every_allocation_failure_is_survived);
    tcase_add_loop_test(tc, update_timeout_penalises_silence_not_slowness, 0,
                        2);
    tcase_add_test(tc, remove_and_peer_down_free_their_own_in_index_order);
    tcase_add_test(tc, freed_transmission_cancels_its_retry);
    tcase_add_test(tc, deletion_states_in_the_tables);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
