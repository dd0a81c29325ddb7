/* Purging by height (core/shim.h: p2p_node_insert_at_height,
 * p2p_node_validate_at_height, p2p_node_purge_below): entries with
 * 0 < height < the purge height leave both pools, their broadcasts are
 * aborted and counted in artifacts_purged; entries without a height stay;
 * the purge height only moves forward; inserts and validations below it
 * are refused; the height travels with the artifact (Artifact.height). */
#include "harness.h"
#include "core/pool.h"

static uint8_t bodies[8][200];

/* Inserts bodies[k] at height h; returns its id. */
static struct p2p_artifact_id insert_at(struct harness *h, size_t k,
                                        uint64_t height)
{
    struct p2p_body *b =
        p2p_body_copy(NULL, P2P_MEM_POOL, bodies[k], sizeof(bodies[k]));
    ck_assert_ptr_nonnull(b);
    struct p2p_artifact_id id;
    ck_assert_int_eq(p2p_node_insert_at_height(h->node, h->now, P2P_KIND_PUSH,
                                               b, height, &id),
                     0);
    p2p_body_release(b, NULL, P2P_MEM_POOL);
    return id;
}

static bool held(struct harness *h, const struct p2p_artifact_id *id)
{
    return p2p_pool_get(p2p_node_pool(h->node), id) != NULL;
}

/* Own artifacts at heights 1, 2, 3 and one without: purging below 3
 * drops heights 1 and 2 (their broadcasts reset), keeps 3 and the one
 * without; the entry records its height. */
START_TEST(purge_drops_what_is_below_and_keeps_the_rest)
{
    struct harness h;
    h_init(&h, 2);
    struct p2p_artifact_id a = insert_at(&h, 0, 1);
    struct p2p_artifact_id b = insert_at(&h, 1, 2);
    struct p2p_artifact_id c = insert_at(&h, 2, 3);
    struct p2p_artifact_id none = insert_at(&h, 3, 0);
    ck_assert_uint_eq(p2p_pool_get(p2p_node_pool(h.node), &b)->height, 2);
    h_clear(&h);
    ck_assert_uint_eq(p2p_node_purge_height(h.node), 0);
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 3), 0);
    ck_assert_uint_eq(p2p_node_purge_height(h.node), 3);
    ck_assert(!held(&h, &a));
    ck_assert(!held(&h, &b));
    ck_assert(held(&h, &c));
    ck_assert(held(&h, &none));
    /* Two artifacts' pushes to two peers, aborted. */
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 4);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_purged, 2);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_removed, 0);
    ck_assert_uint_eq(p2p_node_pool(h.node)->count[P2P_POOL_VALIDATED], 2);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    /* The same height again purges nothing new; a lower one is refused. */
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 3), 0);
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 2), P2P_ERR_STATE);
    ck_assert_uint_eq(p2p_node_purge_height(h.node), 3);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_purged, 2);
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 10), 0);
    ck_assert(!held(&h, &c));
    ck_assert(held(&h, &none));
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Below the purge height, an insert is refused and changes nothing; at
 * it, accepted. */
START_TEST(insert_below_the_purge_height_is_refused)
{
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 5), 0);
    struct p2p_body *b =
        p2p_body_copy(NULL, P2P_MEM_POOL, bodies[0], sizeof(bodies[0]));
    ck_assert_int_eq(
        p2p_node_insert_at_height(h.node, h.now, P2P_KIND_PUSH, b, 4, NULL),
        P2P_ERR_STATE);
    ck_assert_uint_eq(p2p_node_pool(h.node)->count[P2P_POOL_VALIDATED], 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    ck_assert_int_eq(
        p2p_node_insert_at_height(h.node, h.now, P2P_KIND_PUSH, b, 5, NULL), 0);
    p2p_body_release(b, NULL, P2P_MEM_POOL);
    ck_assert_uint_eq(p2p_node_pool(h.node)->count[P2P_POOL_VALIDATED], 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* An artifact from a peer has no height while unvalidated: a purge keeps
 * it. Validated at a height below the purge height, it is purged instead
 * (P2P_ERR_UNWANTED); validated at a height, it is purged by a later
 * purge; validated without one (p2p_node_validate), it stays. */
START_TEST(received_artifacts_take_their_height_at_validation)
{
    struct harness h;
    h_init(&h, 1);
    struct p2p_artifact_id ids[3];
    for (size_t k = 0; k < 3; k++) {
        p2p_id_of(bodies[4 + k], sizeof(bodies[4 + k]), &ids[k]);
        ck_assert_int_eq(
            h_push(&h, 1, k, 1, bodies[4 + k], sizeof(bodies[4 + k])), 0);
    }
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 3);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 3), 0);
    ck_assert_uint_eq(p2p_node_pool(h.node)->count[P2P_POOL_UNVALIDATED], 3);
    ck_assert_int_eq(
        p2p_node_validate_at_height(h.node, h.now, &ids[0], true, 2),
        P2P_ERR_UNWANTED);
    ck_assert(!held(&h, &ids[0]));
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_purged, 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_validated, 0);
    ck_assert_int_eq(
        p2p_node_validate_at_height(h.node, h.now, &ids[1], true, 3), 0);
    ck_assert_uint_eq(p2p_pool_get(p2p_node_pool(h.node), &ids[1])->height, 3);
    ck_assert_int_eq(p2p_node_validate(h.node, h.now, &ids[2], true), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 4), 0);
    ck_assert(!held(&h, &ids[1]));
    ck_assert(held(&h, &ids[2]));
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_purged, 2);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A peer's push carrying height h (Artifact.height). */
static int push_at(struct harness *h, p2p_node_id peer, uint64_t slot,
                   const uint8_t *body, size_t len, uint64_t height)
{
    P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = P2P_KIND_PUSH;
    art.body.data = (uint8_t *)body;
    art.body.len = len;
    art.height = height;
    u.slot_id = slot;
    u.commit_id = 1;
    u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT;
    u.artifact = &art;
    return h_request(h, peer, P2P_ROUTE_ARTIFACT_UPDATE, &u.base);
}

/* The height travels with the artifact: our pushes carry it (and none
 * without one); a peer's push with a height enters the unvalidated pool
 * with it, so a purge drops it unvalidated, p2p_node_validate keeps it,
 * and one that arrives below the purge height is not kept at all. */
START_TEST(height_travels_on_the_wire)
{
    struct harness h;
    h_init(&h, 1);
    (void)insert_at(&h, 0, 9);
    P2p__V1__SlotUpdate *u = h_update_of(
        &h, h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE, 0));
    ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT);
    ck_assert_uint_eq(u->artifact->height, 9);
    p2p__v1__slot_update__free_unpacked(u, NULL);
    h_clear(&h);
    (void)insert_at(&h, 1, 0);
    u = h_update_of(
        &h, h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE, 0));
    ck_assert_uint_eq(u->artifact->height, 0);
    p2p__v1__slot_update__free_unpacked(u, NULL);
    h_clear(&h);

    struct p2p_artifact_id ids[3];
    for (size_t k = 0; k < 3; k++)
        p2p_id_of(bodies[4 + k], sizeof(bodies[4 + k]), &ids[k]);
    ck_assert_int_eq(push_at(&h, 1, 0, bodies[4], sizeof(bodies[4]), 2), 0);
    ck_assert_int_eq(push_at(&h, 1, 1, bodies[5], sizeof(bodies[5]), 3), 0);
    ck_assert_uint_eq(p2p_pool_get(p2p_node_pool(h.node), &ids[0])->height, 2);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 3), 0);
    ck_assert(!held(&h, &ids[0])); /* unvalidated, height known */
    ck_assert_int_eq(p2p_node_validate(h.node, h.now, &ids[1], true), 0);
    ck_assert_uint_eq(p2p_pool_get(p2p_node_pool(h.node), &ids[1])->height, 3);
    h_clear(&h);
    ck_assert_int_eq(push_at(&h, 1, 2, bodies[6], sizeof(bodies[6]), 2), 0);
    ck_assert(!held(&h, &ids[2]));
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 0);
    /* The unvalidated one at 2, and the one that arrived at 2. */
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_purged, 2);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A purged artifact's slot is deleted at the peers after the hold, as
 * p2p_node_remove does. */
START_TEST(purge_sends_the_slot_deletion)
{
    struct harness h;
    h_init(&h, 1);
    (void)insert_at(&h, 0, 1);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_purge_below(h.node, h.now, 2), 0);
    h_clear(&h);
    h_advance(&h, h.cfg.slot_deletion_hold_ns);
    ck_assert_uint_eq(
        h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE), 1);
    P2p__V1__SlotUpdate *u = h_update_of(
        &h, h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE, 0));
    ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_DELETED);
    p2p__v1__slot_update__free_unpacked(u, NULL);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

int main(void)
{
    for (size_t k = 0; k < 8; k++)
        for (size_t i = 0; i < sizeof(bodies[k]); i++)
            bodies[k][i] = (uint8_t)(k * 31 + i);
    Suite *s = suite_create("purge");
    TCase *tc = tcase_create("purge");
    tcase_add_test(tc, purge_drops_what_is_below_and_keeps_the_rest);
    tcase_add_test(tc, insert_below_the_purge_height_is_refused);
    tcase_add_test(tc, received_artifacts_take_their_height_at_validation);
    tcase_add_test(tc, purge_sends_the_slot_deletion);
    tcase_add_test(tc, height_travels_on_the_wire);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
