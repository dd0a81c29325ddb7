/* The receiver and the downloader: slot views (newer commit replaces older,
 * stale ignored, bounds), fetch from advertisers with verification, retry on
 * another advertiser, backoff once all failed, the bouncer's three answers,
 * and every cancellation path. */
#include "harness.h"
#include "conn_harness.h"
#include "core/ledger.h" /* P2P_PENALTY_STALE_UPDATE */
#include "core/pool.h"

static uint8_t body[5000];
static struct p2p_artifact_id body_id;

static void setup(void)
{
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 7);
    p2p_id_of(body, sizeof(body), &body_id);
}

START_TEST(newer_commit_replaces_older_stale_is_ignored)
{
    struct harness h;
    h_init(&h, 1);
    struct p2p_artifact_id other = {{9}};
    ck_assert_int_eq(h_advert(&h, 1, 0, 5, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 1);
    ck_assert_uint_eq(h_response_status(&h, 0), 200);
    h_clear(&h);
    /* Older commit for the same slot: acknowledged, ignored. */
    ck_assert_int_eq(h_advert(&h, 1, 0, 4, &other, 10), 0);
    ck_assert_uint_eq(h_response_status(&h, 0), 200);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_stale, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    /* Equal commit: stale too. */
    ck_assert_int_eq(h_advert(&h, 1, 0, 5, &other, 10), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_stale, 2);
    h_clear(&h);
    /* Newer commit: the slot now names `other`; body_id has no advertiser
     * left, so its fetch is cancelled (RESET) and `other` is fetched. */
    ck_assert_int_eq(h_advert(&h, 1, 0, 6, &other, 10), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->downloads_dropped, 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

START_TEST(slot_id_past_limit_is_rejected)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.slots_per_peer_max = 8;
    c.slots_max = 8;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    ck_assert_int_eq(h_advert(&h, 1, 7, 1, &body_id, 10), 0);
    ck_assert_uint_eq(h_response_status(&h, 0), 200);
    h_clear(&h);
    ck_assert_int_eq(h_advert(&h, 1, 8, 2, &body_id, 10), P2P_ERR_LIMIT);
    ck_assert_uint_eq(h_response_status(&h, 0), 400);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_rejected, 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

START_TEST(fetched_artifact_is_verified_and_delivered)
{
    struct harness h;
    h_init(&h, 2);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    const struct p2p_action *fetch = h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    ck_assert_uint_eq(fetch->peer, 1);
    struct p2p_action f = *fetch;
    h_clear(&h);
    ck_assert_int_eq(h_serve(&h, &f, body, sizeof(body)), 0);
    const struct p2p_action *got = h_find(&h, P2P_ACT_ARTIFACT_RECEIVED, -1, 0);
    ck_assert_ptr_nonnull(got);
    ck_assert(p2p_id_eq(&got->id, &body_id));
    ck_assert_uint_eq(got->peer, 1);
    h_clear(&h);
    /* Validation moves it to the validated pool and relays it to both
     * peers (the one it came from included, as in the IC). */
    ck_assert_int_eq(p2p_node_validate(h.node, h.now, &body_id, true), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE), 2);
    h_clear(&h);
    /* A second advert for an artifact held: no fetch. */
    ck_assert_int_eq(h_advert(&h, 2, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Wrong bytes from one advertiser: counted, and the next advertiser is
 * tried at once; when every advertiser failed, back off, then retry. */
START_TEST(wrong_bytes_retry_elsewhere_then_backoff)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.fetch_backoff.jitter_pct = 0;
    struct harness h;
    h_init_cfg(&h, &c, 2);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_int_eq(h_advert(&h, 2, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 1);
    struct p2p_action f1 = *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(&h);
    uint8_t wrong[10] = {0};
    ck_assert_int_eq(h_serve(&h, &f1, wrong, sizeof(wrong)), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->id_mismatches, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 0);
    struct p2p_action f2 = *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    ck_assert_uint_ne(f2.peer, f1.peer);
    h_clear(&h);
    /* The other answers 204 (not held): all failed, back off 5 s. */
    ck_assert_int_eq(h_respond(&h, f2.peer, f2.stream_id, 204, NULL), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 5 * P2P_NS_PER_S - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 1);
    struct p2p_action f3 = *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(&h);
    ck_assert_int_eq(h_serve(&h, &f3, body, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->fetches_failed, 2);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A fetch nobody answers hits its attempt deadline (5 s in round 0, the
 * IC's value, when the size allowance is off). */
START_TEST(fetch_times_out_and_moves_on)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.fetch_bytes_per_s_min = 0;
    struct harness h;
    h_init_cfg(&h, &c, 2);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_int_eq(h_advert(&h, 2, 0, 1, &body_id, sizeof(body)), 0);
    p2p_node_id first = h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0)->peer;
    h_clear(&h);
    h_advance(&h, 5 * P2P_NS_PER_S - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    const struct p2p_action *next = h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    ck_assert_ptr_nonnull(next);
    ck_assert_uint_ne(next->peer, first);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* With the size allowance, a 5000-byte artifact at 1000 B/s gets 5 s more. */
START_TEST(fetch_deadline_grows_with_size)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.fetch_bytes_per_s_min = 1000;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    h_clear(&h);
    h_advance(&h, 10 * P2P_NS_PER_S - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

static enum p2p_verdict verdict_now;
static enum p2p_verdict test_bouncer(void *ctx, const struct p2p_artifact_id *id,
                                     enum p2p_artifact_kind kind, uint64_t size)
{
    (void)ctx; (void)id; (void)kind; (void)size;
    return verdict_now;
}

START_TEST(bouncer_wants_fetches)
{
    struct harness h;
    h_init(&h, 1);
    verdict_now = P2P_WANTS;
    p2p_node_set_bouncer(h.node, h.now, test_bouncer, NULL);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* MaybeWantsLater parks the advert; it is fetched once the bouncer's
 * refresh says Wants. */
START_TEST(bouncer_maybe_later_is_reasked_on_refresh)
{
    struct harness h;
    h_init(&h, 1);
    verdict_now = P2P_MAYBE_WANTS_LATER;
    p2p_node_set_bouncer(h.node, h.now, test_bouncer, NULL);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 0);
    h_clear(&h);
    h_advance(&h, h.cfg.bouncer_refresh_ns);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    verdict_now = P2P_WANTS;
    h_advance(&h, h.cfg.bouncer_refresh_ns - 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_advance(&h, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

START_TEST(bouncer_unwanted_drops)
{
    struct harness h;
    h_init(&h, 1);
    verdict_now = P2P_UNWANTED;
    p2p_node_set_bouncer(h.node, h.now, test_bouncer, NULL);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->downloads_dropped, 1);
    /* An unwanted push is not delivered either. */
    uint8_t small[50] = {5};
    ck_assert_int_eq(h_push(&h, 1, 1, 2, small, sizeof(small)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Cancellation: the bouncer turns Unwanted while a fetch is in flight. */
START_TEST(cancel_when_bouncer_turns_unwanted)
{
    struct harness h;
    h_init(&h, 1);
    verdict_now = P2P_WANTS;
    p2p_node_set_bouncer(h.node, h.now, test_bouncer, NULL);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    struct p2p_action f = *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(&h);
    verdict_now = P2P_UNWANTED;
    h_advance(&h, h.cfg.bouncer_refresh_ns);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    h_clear(&h);
    /* The late response is ignored: nothing delivered. */
    ck_assert_int_eq(h_serve(&h, &f, body, sizeof(body)), P2P_ERR_NOT_FOUND);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 0);
    h_fini(&h);
}
END_TEST

/* Cancellation: the artifact arrives by another route (a push). */
START_TEST(cancel_when_artifact_arrives_elsewhere)
{
    struct harness h;
    h_init(&h, 2);
    uint8_t small[600];
    memset(small, 3, sizeof(small));
    struct p2p_artifact_id small_id;
    p2p_id_of(small, sizeof(small), &small_id);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &small_id, sizeof(small)), 0);
    struct p2p_action f = *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(&h);
    ck_assert_int_eq(h_push(&h, 2, 0, 1, small, sizeof(small)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    h_clear(&h);
    /* The fetch's answer arrives anyway: no second delivery. */
    (void)h_serve(&h, &f, small, sizeof(small));
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 0);
    /* Neither does a second push of the same bytes. */
    ck_assert_int_eq(h_push(&h, 2, 1, 2, small, sizeof(small)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A push claiming an id its body does not hash to is refused with 400. */
START_TEST(push_with_wrong_claimed_id_is_refused)
{
    struct harness h;
    h_init(&h, 1);
    uint8_t small[64] = {4};
    P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = P2P_KIND_PUSH;
    art.body.data = small;
    art.body.len = sizeof(small);
    art.id.data = body_id.b; /* someone else's id */
    art.id.len = P2P_ID_BYTES;
    u.slot_id = 0;
    u.commit_id = 1;
    u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT;
    u.artifact = &art;
    ck_assert_int_eq(h_request(&h, 1, P2P_ROUTE_ARTIFACT_UPDATE, &u.base), P2P_ERR_ID_MISMATCH);
    ck_assert_uint_eq(h_response_status(&h, 0), 400);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->id_mismatches, 1);
    h_clear(&h);
    /* With the right id it is accepted. */
    struct p2p_artifact_id right;
    p2p_id_of(small, sizeof(small), &right);
    art.id.data = right.b;
    u.commit_id = 2;
    ck_assert_int_eq(h_request(&h, 1, P2P_ROUTE_ARTIFACT_UPDATE, &u.base), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Review finding: an empty pushed body (NULL data in protobuf-c) once
 * crashed the node. It is a valid, if useless, artifact. */
START_TEST(empty_push_is_survived)
{
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(h_push(&h, 1, 0, 1, NULL, 0), 0);
    ck_assert_uint_eq(h_response_status(&h, 0), 200);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, NULL, 0, NULL), P2P_ERR_EXISTS);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A deleted slot remembers its commit: a late older update is stale. */
START_TEST(deleted_slot_keeps_its_commit)
{
    struct harness h;
    h_init(&h, 1);
    P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
    u.slot_id = 0;
    u.commit_id = 6;
    u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_DELETED;
    u.deleted = 1;
    ck_assert_int_eq(h_request(&h, 1, P2P_ROUTE_ARTIFACT_UPDATE, &u.base), 0);
    h_clear(&h);
    ck_assert_int_eq(h_advert(&h, 1, 0, 5, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_stale, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* peer's slot is deleted at commit. */
static int delete_slot(struct harness *h, p2p_node_id peer, uint64_t slot,
                       uint64_t commit)
{
    P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
    u.slot_id = slot;
    u.commit_id = commit;
    u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_DELETED;
    u.deleted = 1;
    return h_request(h, peer, P2P_ROUTE_ARTIFACT_UPDATE, &u.base);
}

/* The penalty points peer holds at h's node. */
static uint64_t points_of(struct harness *h, p2p_node_id peer)
{
    struct p2p_peer_info pi;
    ck_assert_int_eq(p2p_node_peer_info(h->node, peer, &pi), 0);
    return pi.penalty_total;
}

/* A deletion drops the peer's view at once, and what hangs off it: the
 * advert (the id table's reference), the downloader's interest in that
 * peer (its fetch in flight to it is reset and the other advertiser asked
 * at once, with no penalty). The deleted slot keeps its commit: an older
 * advert is stale. An older deletion, which an honest sender's reuse of
 * the slot can overtake, is stale too but costs no point. When the last
 * advertiser deletes its slot, the download is dropped. */
START_TEST(deletion_drops_the_view_and_its_advert)
{
    struct harness h;
    h_init(&h, 2);
    ck_assert_int_eq(h_advert(&h, 1, 3, 1, &body_id, sizeof(body)), 0);
    const struct p2p_action *f1 =
        h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    ck_assert_uint_eq(f1->peer, 1);
    uint64_t to1 = f1->stream_id;
    ck_assert_int_eq(h_advert(&h, 2, 5, 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(p2p_node_slot_views(h.node, &body_id), 2);
    h_clear(&h);

    ck_assert_int_eq(delete_slot(&h, 1, 3, 2), 0);
    ck_assert_uint_eq(h_response_status(&h, 0), 200);
    ck_assert_uint_eq(p2p_node_slot_views(h.node, &body_id), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->deletions_received, 1);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    ck_assert_uint_eq(h_find(&h, P2P_ACT_STREAM_RESET, -1, 0)->stream_id, to1);
    const struct p2p_action *f2 =
        h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    ck_assert_ptr_nonnull(f2);
    ck_assert_uint_eq(f2->peer, 2);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->fetches_failed, 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->downloads_dropped, 0);
    ck_assert_uint_eq(points_of(&h, 1), 0);
    h_clear(&h);

    ck_assert_int_eq(h_advert(&h, 1, 3, 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_stale, 1);
    ck_assert_uint_eq(p2p_node_slot_views(h.node, &body_id), 1);
    ck_assert_uint_eq(points_of(&h, 1), P2P_PENALTY_STALE_UPDATE);
    h_clear(&h);

    ck_assert_int_eq(h_advert(&h, 2, 5, 4, &body_id, sizeof(body)), 0);
    ck_assert_int_eq(delete_slot(&h, 2, 5, 3), 0); /* overtaken */
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_stale, 2);
    ck_assert_uint_eq(points_of(&h, 2), 0);
    ck_assert_uint_eq(p2p_node_slot_views(h.node, &body_id), 1);
    h_clear(&h);

    ck_assert_int_eq(delete_slot(&h, 2, 5, 5), 0);
    ck_assert_uint_eq(p2p_node_slot_views(h.node, &body_id), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->downloads_dropped, 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_advance(&h, 300 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_fini(&h);
}
END_TEST

/* How peer withdraws its advert of slot: 0 deletes the slot, 1 reuses it
 * for another artifact, 2 leaves the subnet (peer 1 first, then peer 2:
 * registry versions 1 and 2). */
static void withdraw(struct harness *h, p2p_node_id peer, uint64_t slot,
                     uint64_t commit, int how)
{
    struct p2p_artifact_id other = {{0xee}};
    switch (how) {
    case 0:
        ck_assert_int_eq(delete_slot(h, peer, slot, commit), 0);
        break;
    case 1:
        ck_assert_int_eq(h_advert(h, peer, slot, commit, &other, 10), 0);
        break;
    default: {
        static const p2p_node_id without_1[] = {0, 2}, without_both[] = {0};
        if (peer == 1)
            ck_assert_int_eq(ch_topology(h, 1, without_1, 2), 0);
        else
            ck_assert_int_eq(ch_topology(h, 2, without_both, 1), 0);
        ck_assert_uint_eq(p2p_node_metrics(h->node)->conns_closed,
                          peer == 1 ? 1 : 2);
        break;
    }
    }
}

/* An artifact that reached the unvalidated pool, pushed (_i / 3 == 0) or
 * fetched (_i / 3 == 1), stays while some peer still advertises it; when
 * the last one withdraws (deletion, slot reused or peer left: _i % 3)
 * before the client took it, it leaves the pool with a
 * P2P_ACT_ARTIFACT_WITHDRAWN, and p2p_node_validate then answers
 * P2P_ERR_NOT_FOUND. */
START_TEST(withdrawn_before_taken_is_dropped)
{
    int how = _i % 3;
    bool fetched = _i / 3 == 1;
    struct harness h;
    h_init(&h, 2);
    const uint8_t *b = fetched ? body : body + 1000;
    size_t len = fetched ? sizeof(body) : 500;
    struct p2p_artifact_id id;
    p2p_id_of(b, len, &id);
    if (fetched) {
        ck_assert_int_eq(h_advert(&h, 1, 0, 1, &id, len), 0);
        struct p2p_action f =
            *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
        h_clear(&h);
        ck_assert_int_eq(h_serve(&h, &f, b, len), 0);
    } else {
        ck_assert_int_eq(h_push(&h, 1, 0, 1, b, len), 0);
    }
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    h_clear(&h);
    ck_assert_int_eq(h_advert(&h, 2, 4, 1, &id, len), 0); /* held: no fetch */
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_clear(&h);

    withdraw(&h, 1, 0, 2, how); /* peer 2 still advertises it */
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_WITHDRAWN, -1), 0);
    ck_assert_ptr_nonnull(p2p_pool_get(p2p_node_pool(h.node), &id));
    h_clear(&h);

    withdraw(&h, 2, 4, 2, how);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_WITHDRAWN, -1), 1);
    const struct p2p_action *w = h_find(&h, P2P_ACT_ARTIFACT_WITHDRAWN, -1, 0);
    ck_assert(p2p_id_eq(&w->id, &id));
    ck_assert_uint_eq(w->peer, 1); /* it came from peer 1 */
    ck_assert_ptr_null(p2p_pool_get(p2p_node_pool(h.node), &id));
    ck_assert_uint_eq(p2p_node_pool(h.node)->count[P2P_POOL_UNVALIDATED], 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_withdrawn, 1);
    ck_assert_int_eq(p2p_node_validate(h.node, h.now, &id, true),
                     P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A validation refused for lack of room (the slot table full: the
 * artifact stays unvalidated) does not take the artifact: withdrawn by
 * its last advertiser, it leaves the pool. */
START_TEST(refused_validation_does_not_take)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 42);
    c.slots_max = 1;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    static const uint8_t mine[100] = {7};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, mine,
                                     sizeof(mine), NULL),
                     0);
    h_clear(&h);
    struct p2p_artifact_id id;
    p2p_id_of(body, 500, &id);
    ck_assert_int_eq(h_push(&h, 1, 0, 1, body, 500), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_validate(h.node, h.now, &id, true),
                     P2P_ERR_LIMIT);
    ck_assert_int_eq(p2p_pool_get(p2p_node_pool(h.node), &id)->section,
                     P2P_POOL_UNVALIDATED);
    ck_assert_int_eq(delete_slot(&h, 1, 0, 2), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_WITHDRAWN, -1), 1);
    ck_assert_ptr_null(p2p_pool_get(p2p_node_pool(h.node), &id));
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A peer that only lost its connection (or was replaced by a newer one)
 * is still a member: its views are forgotten, but the artifact it alone
 * advertised stays in the unvalidated pool for the client (the IC keeps a
 * member's entries across reconnections). */
START_TEST(disconnected_peer_withdraws_nothing)
{
    struct harness h;
    h_init(&h, 1);
    struct p2p_artifact_id id;
    p2p_id_of(body, 500, &id);
    ck_assert_int_eq(h_push(&h, 1, 0, 1, body, 500), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 1), 0); /* newer */
    ck_assert_uint_eq(p2p_node_metrics(h.node)->conns_replaced, 1);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1), 0);
    ck_assert_uint_eq(p2p_node_slot_views(h.node, &id), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_WITHDRAWN, -1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_withdrawn, 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_validate(h.node, h.now, &id, true), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* The client took the artifact (p2p_node_validate called): accepted, it
 * is validated and stays when its last advertiser withdraws (_i = 0);
 * rejected, it is gone already and nothing is withdrawn (_i = 1). */
START_TEST(taken_artifact_is_not_withdrawn)
{
    bool accept = _i == 0;
    struct harness h;
    h_init(&h, 1);
    struct p2p_artifact_id id;
    p2p_id_of(body, 500, &id);
    ck_assert_int_eq(h_push(&h, 1, 0, 1, body, 500), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_validate(h.node, h.now, &id, accept), 0);
    h_clear(&h);
    ck_assert_int_eq(delete_slot(&h, 1, 0, 2), 0);
    ck_assert_uint_eq(p2p_node_slot_views(h.node, &id), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_WITHDRAWN, -1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_withdrawn, 0);
    const struct p2p_pool_entry *e = p2p_pool_get(p2p_node_pool(h.node), &id);
    if (accept) {
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(e->section, P2P_POOL_VALIDATED);
    } else {
        ck_assert_ptr_null(e);
    }
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Views name their ids through the receiver's id table: the same id in
 * two peers' slots is stored once; replacing it in one slot and deleting
 * it from the other releases it, the last id released gives the table's
 * memory back, and so does a peer going down. The deep check (every id's
 * references equal the used views naming it) holds at every step. */
START_TEST(one_id_in_two_peers_slots_is_stored_once_and_released)
{
    struct harness h;
    h_init(&h, 2);
    const size_t *rx = &h.mem.module_bytes[P2P_MEM_RECEIVER];
    size_t up = *rx;
    /* The views (slot 3 of peer 1, slot 5 of peer 2) and the downloader's
     * records of their adverts exist, naming nothing: the baseline. */
    struct p2p_artifact_id x = {{1}}, y = {{2}}, z = {{3}};
    ck_assert_int_eq(h_advert(&h, 1, 3, 1, &z, 100), 0);
    ck_assert_int_eq(h_advert(&h, 2, 5, 1, &z, 100), 0);
    ck_assert_int_eq(delete_slot(&h, 1, 3, 2), 0);
    ck_assert_int_eq(delete_slot(&h, 2, 5, 2), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    size_t baseline = *rx;
    ck_assert_uint_gt(baseline, up);
    ck_assert_int_eq(h_advert(&h, 1, 3, 3, &x, 100), 0);
    size_t one_id = *rx;
    ck_assert_uint_gt(one_id, baseline);
    ck_assert_int_eq(h_advert(&h, 2, 5, 3, &x, 100), 0);
    ck_assert_uint_eq(*rx, one_id); /* stored once */
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    /* Peer 1 replaces it; peer 2 deletes it. */
    ck_assert_int_eq(h_advert(&h, 1, 3, 4, &y, 100), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    ck_assert_int_eq(delete_slot(&h, 2, 5, 4), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    ck_assert_uint_eq(*rx, one_id);
    h_clear(&h);
    /* A stale update still names the slot's id (y) in its event. */
    ck_assert_int_eq(h_advert(&h, 1, 3, 4, &x, 100), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_stale, 1);
    h_clear(&h);
    ck_assert_int_eq(delete_slot(&h, 1, 3, 5), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    ck_assert_uint_eq(*rx, baseline);
    h_clear(&h);
    /* Both name x again; both go down: back to the peers' records alone. */
    ck_assert_int_eq(h_advert(&h, 1, 3, 6, &x, 100), 0);
    ck_assert_int_eq(h_advert(&h, 2, 5, 6, &x, 100), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 2), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    ck_assert_uint_eq(*rx, up);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A peer re-advertising an id (another slot, a newer commit) cannot cut a
 * round's backoff short; a peer never tried can. */
START_TEST(readvert_does_not_cut_backoff)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.fetch_backoff.jitter_pct = 0;
    struct harness h;
    h_init_cfg(&h, &c, 2);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    struct p2p_action f = *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(&h);
    ck_assert_int_eq(h_respond(&h, f.peer, f.stream_id, 204, NULL), 0);
    h_clear(&h); /* all (one) advertisers failed: backing off */
    for (uint64_t k = 1; k <= 5; k++)
        ck_assert_int_eq(h_advert(&h, 1, k, k + 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 0);
    h_clear(&h);
    ck_assert_int_eq(h_advert(&h, 2, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* One peer cannot hold more than streams_in_per_peer_max streams open;
 * others are unaffected, and closing one frees room. */
START_TEST(per_peer_inbound_stream_bound)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.streams_in_per_peer_max = 2;
    struct harness h;
    h_init_cfg(&h, &c, 2);
    uint8_t partial[3] = {0x0a, 0x10, '/'}; /* a path, never finished */
    for (uint64_t s = 1; s <= 2; s++)
        ck_assert_int_eq(
            p2p_node_on_stream_data(h.node, h.now,
                                    &(struct p2p_stream_bytes){.peer = 1,
                                                               .stream_id = s,
                                                               .inbound = true,
                                                               .data = partial,
                                                               .len = 3,
                                                               .fin = false}),
            0);
    ck_assert_int_eq(
        p2p_node_on_stream_data(h.node, h.now,
                                &(struct p2p_stream_bytes){.peer = 1,
                                                           .stream_id = 3,
                                                           .inbound = true,
                                                           .data = partial,
                                                           .len = 3,
                                                           .fin = false}),
        P2P_ERR_LIMIT);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->streams_refused, 1);
    h_clear(&h);
    uint8_t small[50] = {9};
    ck_assert_int_eq(h_push(&h, 2, 0, 1, small, sizeof(small)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_stream_reset(h.node, h.now, 1, 1, true), 0);
    ck_assert_int_eq(
        p2p_node_on_stream_data(h.node, h.now,
                                &(struct p2p_stream_bytes){.peer = 1,
                                                           .stream_id = 4,
                                                           .inbound = true,
                                                           .data = partial,
                                                           .len = 3,
                                                           .fin = false}),
        0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A fetch answer larger than the advertised size is refused as it
 * arrives, and the next advertiser is tried. */
START_TEST(fetch_answer_past_advertised_size_is_refused)
{
    struct harness h;
    h_init(&h, 2);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, 100), 0); /* claims 100 B */
    ck_assert_int_eq(h_advert(&h, 2, 0, 1, &body_id, 100), 0);
    struct p2p_action f = *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(&h);
    ck_assert_int_eq(h_serve(&h, &f, body, sizeof(body)), P2P_ERR_OVERSIZE);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 0);
    const struct p2p_action *next = h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    ck_assert_ptr_nonnull(next);
    ck_assert_uint_ne(next->peer, f.peer);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Our own memory running out while unpacking a peer's push or fetch
 * request is ours, not the peer's: for every allocation failing in turn,
 * peer 1 is never penalised, and a request refused for it is reset (the
 * sender retries), never answered 400. */
START_TEST(own_oom_unpacking_a_request_is_not_blamed)
{
    for (uint64_t n = 1; n < 400; n++) {
        struct harness h;
        h_init(&h, 2);
        h.mem.fail_at = h.mem.allocs + n;
        (void)h_push(&h, 1, 0, 1, body, sizeof(body));
        P2p__V1__FetchRequest req = P2P__V1__FETCH_REQUEST__INIT;
        req.id.data = body_id.b;
        req.id.len = P2P_ID_BYTES;
        (void)h_request(&h, 1, P2P_ROUTE_ARTIFACT_RPC, &req.base);
        bool failed = h.mem.allocs >= h.mem.fail_at;
        ck_assert_msg(points_of(&h, 1) == 0,
                      "allocation %llu failing cost the peer %llu points",
                      (unsigned long long)n,
                      (unsigned long long)points_of(&h, 1));
        for (size_t k = 0; k < h_count(&h, P2P_ACT_STREAM_RESPOND, -1); k++)
            ck_assert_uint_ne(h_response_status(&h, k), 400);
        ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
        h_clear(&h);
        h_fini(&h);
        if (!failed)
            return;
    }
    ck_abort_msg("still failing after 400 allocations");
}
END_TEST

/* The same for a fetch answer: unpacking it fails for our memory, the
 * attempt fails (no artifact, no points) and the download goes on. */
START_TEST(own_oom_unpacking_a_fetch_answer_is_not_blamed)
{
    for (uint64_t n = 1; n < 400; n++) {
        struct harness h;
        h_init(&h, 2);
        ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
        ck_assert_int_eq(h_advert(&h, 2, 0, 1, &body_id, sizeof(body)), 0);
        struct p2p_action f =
            *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
        h_clear(&h);
        uint64_t refused = p2p_node_metrics(h.node)->requests_refused_nomem;
        h.mem.fail_at = h.mem.allocs + n;
        (void)h_serve(&h, &f, body, sizeof(body));
        bool failed = h.mem.allocs >= h.mem.fail_at;
        ck_assert_msg(points_of(&h, f.peer) == 0,
                      "allocation %llu failing cost the peer %llu points",
                      (unsigned long long)n,
                      (unsigned long long)points_of(&h, f.peer));
        if (failed && h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1) == 0 &&
            p2p_node_metrics(h.node)->requests_refused_nomem > refused)
            ck_assert_uint_eq(p2p_node_metrics(h.node)->id_mismatches, 0);
        ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
        h_clear(&h);
        h_fini(&h);
        if (!failed)
            return;
    }
    ck_abort_msg("still failing after 400 allocations");
}
END_TEST

/* A fetch answer declaring a body longer than the advertised size is
 * refused as soon as its length is read: nothing of the body is buffered
 * (the stream's reader never holds more than the header). */
START_TEST(fetch_answer_over_its_cap_is_refused_at_its_length)
{
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, 100), 0);
    struct p2p_action f =
        *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(&h);
    /* Response {status: 200, body: <1 MiB declared>}, header only. */
    const uint8_t head[] = {0x08, 0xc8, 0x01, 0x12, 0x80, 0x80, 0x40};
    size_t before = h.mem.module_bytes[P2P_MEM_STREAMS];
    ck_assert_int_eq(p2p_node_on_stream_data(
                         h.node, h.now,
                         &(struct p2p_stream_bytes){.peer = 1,
                                                    .stream_id = f.stream_id,
                                                    .inbound = false,
                                                    .data = head,
                                                    .len = sizeof(head),
                                                    .fin = false}),
                     P2P_ERR_OVERSIZE);
    ck_assert_uint_le(h.mem.module_bytes[P2P_MEM_STREAMS], before);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_RESET, -1), 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A peer past its download quota waits; its advert is fetched once room
 * frees up (on the refresh timer), not lost. */
START_TEST(quota_refused_advert_is_retried)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.downloads_per_peer_max = 1;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    uint8_t other[3000];
    memset(other, 1, sizeof(other));
    struct p2p_artifact_id other_id;
    p2p_id_of(other, sizeof(other), &other_id);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    ck_assert_int_eq(h_advert(&h, 1, 1, 2, &other_id, sizeof(other)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->downloads_refused, 1);
    struct p2p_action f = *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(&h);
    ck_assert_int_eq(h_serve(&h, &f, body, sizeof(body)), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_advance(&h, h.cfg.bouncer_refresh_ns);
    const struct p2p_action *g = h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    ck_assert_ptr_nonnull(g);
    struct p2p_action gc = *g;
    h_clear(&h);
    ck_assert_int_eq(h_serve(&h, &gc, other, sizeof(other)), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Cancellation: the only advertiser disconnects. */
START_TEST(cancel_when_advertiser_leaves)
{
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(h_advert(&h, 1, 0, 1, &body_id, sizeof(body)), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_peer_down(h.node, h.now, 1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->downloads_dropped, 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_advance(&h, 300 * P2P_NS_PER_S);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    h_fini(&h);
}
END_TEST

START_TEST(downloads_bound)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.downloads_max = 2;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    struct p2p_artifact_id ids[3] = {{{1}}, {{2}}, {{3}}};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(h_advert(&h, 1, (uint64_t)i, 1, &ids[i], 5000), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 2);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->downloads_refused, 1);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* The priority order: advert-kind downloads leave a quarter of a peer's
 * fetch slots free, which a push-kind (latency-sensitive) download takes
 * at once; the waiting advert-kind one starts when a slot frees up. */
START_TEST(push_kind_downloads_jump_the_queue)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    c.fetches_per_peer_max = 4;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    struct p2p_artifact_id ids[5] = {{{1}}, {{2}}, {{3}}, {{4}}, {{5}}};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(h_advert(&h, 1, (uint64_t)i, 1, &ids[i], 5000), 0);
    /* Three of four slots for bulk; the fourth advert waits. */
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 3);
    h_clear(&h);
    ck_assert_int_eq(h_advert_kind(&h, 1, 4, 1, &ids[4], P2P_KIND_PUSH, 5000), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 1);
    h_clear(&h);
    /* Every slot is busy now: the waiting bulk download stays parked. */
    h_advance(&h, 200 * P2P_NS_PER_MS);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->fetches_started, 4);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

START_TEST(fetch_is_served_from_validated_pool)
{
    struct harness h;
    h_init(&h, 1);
    struct p2p_artifact_id id;
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, body, sizeof(body), &id), 0);
    h_clear(&h);
    P2p__V1__FetchRequest req = P2P__V1__FETCH_REQUEST__INIT;
    req.id.data = id.b;
    req.id.len = P2P_ID_BYTES;
    ck_assert_int_eq(h_request(&h, 1, P2P_ROUTE_ARTIFACT_RPC, &req.base), 0);
    ck_assert_uint_eq(h_response_status(&h, 0), 200);
    ck_assert_uint_gt(h_find(&h, P2P_ACT_STREAM_RESPOND, -1, 0)->len, sizeof(body));
    h_clear(&h);
    struct p2p_artifact_id unknown = {{0xee}};
    req.id.data = unknown.b;
    ck_assert_int_eq(h_request(&h, 1, P2P_ROUTE_ARTIFACT_RPC, &req.base), 0);
    ck_assert_uint_eq(h_response_status(&h, 0), 204);
    h_clear(&h);
    req.id.len = 5; /* malformed id */
    ck_assert_int_eq(h_request(&h, 1, P2P_ROUTE_ARTIFACT_RPC, &req.base), P2P_ERR_DECODE);
    ck_assert_uint_eq(h_response_status(&h, 0), 400);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Fail the N-th allocation of an advert -> fetch -> validate sequence for
 * N = 1, 2, ... until nothing fails: the node never crashes, keeps its
 * invariants, and frees everything at the end. */
static void advert_fetch_validate(struct harness *h)
{
    (void)h_advert(h, 1, 0, 1, &body_id, sizeof(body));
    const struct p2p_action *f = h_find(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    if (f != NULL) {
        struct p2p_action copy = *f;
        (void)h_serve(h, &copy, body, sizeof(body));
    }
    (void)p2p_node_validate(h->node, h->now, &body_id, true);
}

START_TEST(every_allocation_failure_is_survived)
{
    h_walk_allocation_failures(2, advert_fetch_validate);
}
END_TEST

int main(void)
{
    setup();
    Suite *s = suite_create("gossip_receiver");
    TCase *tc = tcase_create("receiver");
    tcase_add_test(tc, newer_commit_replaces_older_stale_is_ignored);
    tcase_add_test(tc, slot_id_past_limit_is_rejected);
    tcase_add_test(tc, fetched_artifact_is_verified_and_delivered);
    tcase_add_test(tc, wrong_bytes_retry_elsewhere_then_backoff);
    tcase_add_test(tc, fetch_times_out_and_moves_on);
    tcase_add_test(tc, fetch_deadline_grows_with_size);
    tcase_add_test(tc, bouncer_wants_fetches);
    tcase_add_test(tc, bouncer_maybe_later_is_reasked_on_refresh);
    tcase_add_test(tc, bouncer_unwanted_drops);
    tcase_add_test(tc, cancel_when_bouncer_turns_unwanted);
    tcase_add_test(tc, cancel_when_artifact_arrives_elsewhere);
    tcase_add_test(tc, cancel_when_advertiser_leaves);
    tcase_add_test(tc, push_with_wrong_claimed_id_is_refused);
    tcase_add_test(tc, empty_push_is_survived);
    tcase_add_test(tc, deleted_slot_keeps_its_commit);
    tcase_add_test(tc, deletion_drops_the_view_and_its_advert);
    tcase_add_loop_test(tc, withdrawn_before_taken_is_dropped, 0, 6);
    tcase_add_loop_test(tc, taken_artifact_is_not_withdrawn, 0, 2);
    tcase_add_test(tc, disconnected_peer_withdraws_nothing);
    tcase_add_test(tc, refused_validation_does_not_take);
    tcase_add_test(tc, one_id_in_two_peers_slots_is_stored_once_and_released);
    tcase_add_test(tc, readvert_does_not_cut_backoff);
    tcase_add_test(tc, per_peer_inbound_stream_bound);
    tcase_add_test(tc, quota_refused_advert_is_retried);
    tcase_add_test(tc, fetch_answer_past_advertised_size_is_refused);
    tcase_add_test(tc, downloads_bound);
    tcase_add_test(tc, push_kind_downloads_jump_the_queue);
    tcase_add_test(tc, fetch_is_served_from_validated_pool);
    tcase_add_test(tc, every_allocation_failure_is_survived);
    tcase_add_test(tc, own_oom_unpacking_a_request_is_not_blamed);
    tcase_add_test(tc, own_oom_unpacking_a_fetch_answer_is_not_blamed);
    tcase_add_test(tc, fetch_answer_over_its_cap_is_refused_at_its_length);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
