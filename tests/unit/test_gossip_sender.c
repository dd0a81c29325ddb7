/* The sender's slot table: push versus advert, commit ids, LIFO slot reuse,
 * retransmission with backoff until acknowledged, abort on removal, resend
 * to a peer that reconnects. */
#include "harness.h"
#include "core/ledger.h" /* P2P_PENALTY_SILENT */
#include "core/pool.h"

static const uint8_t small_body[100] = {1, 2, 3};
static uint8_t big_body[4096];

START_TEST(push_carries_body_advert_carries_id)
{
    struct harness h;
    h_init(&h, 2);
    struct p2p_artifact_id id;
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), &id), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE), 2);
    P2p__V1__SlotUpdate *u = h_update_of(&h, h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0));
    ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT);
    ck_assert_uint_eq(u->artifact->body.len, sizeof(small_body));
    ck_assert_uint_eq(h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->traffic, P2P_TRAFFIC_PUSH);
    uint64_t first_commit = u->commit_id;
    p2p__v1__slot_update__free_unpacked(u, NULL);
    h_clear(&h);

    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, big_body,
                                     sizeof(big_body), &id), 0);
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
                                     sizeof(small_body), NULL), 0);
    P2p__V1__SlotUpdate *u = h_update_of(&h, h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0));
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
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, body_a, sizeof(body_a), &a), 0);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, body_b, sizeof(body_b), &b), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &a), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, body_c, sizeof(body_c), NULL), 0);
    P2p__V1__SlotUpdate *u = h_update_of(&h, h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0));
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
                                     sizeof(small_body), NULL), 0);
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
                                     sizeof(small_body), NULL), 0);
    p2p_time first = h.now;
    h_clear(&h);
    h_advance(&h, 1 * P2P_NS_PER_S);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, big_body,
                                     sizeof(big_body), NULL), 0);
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
                                     sizeof(small_body), NULL), 0);
    uint64_t stream = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->stream_id;
    h_clear(&h);
    ck_assert_int_eq(h_respond(&h, 1, stream, 400, NULL), 0);
    p2p_time failed_at = h.now;
    ck_assert_uint_eq(p2p_node_next_deadline(h.node), failed_at + 250 * P2P_NS_PER_MS);
    h_advance(&h, 250 * P2P_NS_PER_MS - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 1);
    /* A second failure (a transport reset) doubles the wait. */
    stream = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->stream_id;
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_stream_reset(h.node, h.now, 1, stream, false), 0);
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
                                     sizeof(small_body), NULL), 0);
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

START_TEST(remove_aborts_transmissions)
{
    struct harness h;
    h_init(&h, 3);
    struct p2p_artifact_id id;
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), &id), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 3);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &id), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 3);
    ck_assert_int_eq(p2p_node_remove(h.node, h.now, &id), P2P_ERR_NOT_FOUND);
    h_clear(&h);
    h_advance(&h, 120 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_fini(&h);
}
END_TEST

/* A peer that reconnects gets every active slot again. */
START_TEST(reconnected_peer_gets_every_slot)
{
    struct harness h;
    h_init(&h, 1);
    uint8_t b1[2000] = {1}, b2[2000] = {2};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, b1, sizeof(b1), NULL), 0);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, b2, sizeof(b2), NULL), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1), 0);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 1), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE), 2);
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
                                     P2P_ARTIFACT_BYTES_MAX + 1, NULL), P2P_ERR_OVERSIZE);
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
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, b[0], 10, NULL), 0);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, b[1], 10, NULL), 0);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, b[2], 10, NULL), P2P_ERR_LIMIT);
    ck_assert_uint_eq(p2p_node_pool(h.node)->count[P2P_POOL_VALIDATED], 2);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Fail the N-th allocation of insert -> failed update -> retry -> remove,
 * for N = 1, 2, ... until nothing fails: no crash, invariants hold, nothing
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
}

START_TEST(every_allocation_failure_is_survived)
{
    h_walk_allocation_failures(2, insert_fail_retry_remove);
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
    tcase_add_test(tc, slot_table_bound);
    tcase_add_test(tc, config_and_insert_bounds);
    tcase_add_test(tc, every_allocation_failure_is_survived);
    tcase_add_loop_test(tc, update_timeout_penalises_silence_not_slowness, 0, 2);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
