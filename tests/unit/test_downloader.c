/* The downloader (core/downloader.h) alone, through its own header and a
 * real stream table, pool and ledger: no node. Fetch slots per peer at the
 * limit and one past it (advert kind and push kind), the bytes in flight
 * per peer at the limit and one past it, the per-peer download quota and
 * its retry list, the busy wait at its deadline - 1 and at it, the fetch
 * deadline's extensions up to their limit, wrong bytes, a verified
 * artifact reaching the pool, and a wait that ends early taking its timer
 * out of the node's timers. */
#include <check.h>
#include <string.h>

#include "p2p.pb-c.h"

#include "env_harness.h"

#include "core/downloader.h"
#include "core/err.h"

#define A 3u
#define B 4u

struct fx {
    struct h_env e;
    struct p2p_streams s;
    struct p2p_downloader dl;
};

static void fx_init(struct fx *f)
{
    h_env_start(&f->e, 1);
    f->e.cfg.node_ids_max = 16;
    f->e.cfg.fetches_per_peer_max = 4; /* advert kind: 3, push kind: 4 */
    f->e.cfg.fetch_bytes_per_peer_max = 1000;
    f->e.cfg.downloads_per_peer_max = 5;
    h_env_init(&f->e, 10000, 10000);
    f->e.outbox.events_enabled = true;
    p2p__streams_init(&f->s, &f->e.env, 42);
    p2p__downloader_init(&f->dl, &f->e.env, &f->s, 43);
    for (p2p_node_id p = 0; p < f->e.cfg.node_ids_max; p++) {
        ck_assert_int_eq(p2p__streams_peer_fit(&f->s, p), 0);
        ck_assert_int_eq(p2p__downloader_peer_fit(&f->dl, p), 0);
    }
}

static void fx_fini(struct fx *f)
{
    ck_assert_int_eq(p2p__downloader_check(&f->dl), 0);
    ck_assert_int_eq(p2p__streams_check(&f->s), 0);
    p2p__downloader_fini(&f->dl);
    p2p__streams_fini(&f->s);
    h_env_fini(&f->e);
}

/* Artifact number k's body and id. */
static void artifact(uint32_t k, uint8_t body[16], struct p2p_artifact_id *id)
{
    memset(body, 0, 16);
    memcpy(body, "artifact", 8);
    memcpy(body + 8, &k, sizeof(k));
    p2p_id_of(body, 16, id);
}

static int advertise(struct fx *f, p2p_time now, p2p_node_id peer,
                     uint32_t slot, uint32_t k, enum p2p_artifact_kind kind,
                     uint64_t size)
{
    uint8_t body[16];
    struct p2p_artifact_id id;
    artifact(k, body, &id);
    return p2p__downloader_advertised(&f->dl, now, peer, slot, &id, kind, size);
}

/* The fetches sent to peer so far. */
static uint32_t fetches_to(const struct fx *f, p2p_node_id peer)
{
    uint32_t n = 0;
    for (size_t i = 0; i < p2p_outbox_count(&f->e.outbox); i++) {
        const struct p2p_action *a = p2p_outbox_at(&f->e.outbox, i);
        n += a->type == P2P_ACT_STREAM_OPEN && a->peer == peer &&
             a->route == P2P_ROUTE_ARTIFACT_RPC;
    }
    return n;
}

/* The last fetch's stream id to peer. */
static uint64_t last_fetch(const struct fx *f, p2p_node_id peer)
{
    for (size_t i = p2p_outbox_count(&f->e.outbox); i-- > 0;) {
        const struct p2p_action *a = p2p_outbox_at(&f->e.outbox, i);
        if (a->type == P2P_ACT_STREAM_OPEN && a->peer == peer)
            return a->stream_id;
    }
    ck_abort_msg("no fetch to %u", peer);
    return 0;
}

/* peer answers stream id with body (an Artifact of kind); the report is
 * routed to the downloader as node.c does. */
static void answer(struct fx *f, p2p_time now, p2p_node_id peer, uint64_t id,
                   const uint8_t *body, size_t len)
{
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = P2P_KIND_ADVERT;
    art.body.data = (uint8_t *)body;
    art.body.len = len;
    uint8_t packed[128];
    size_t plen = p2p__v1__artifact__pack(&art, packed);
    uint8_t *frame;
    size_t flen;
    ck_assert_int_eq(p2p_frame_response_encode(
                         &f->e.mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){
                             .status = 200, .body = packed, .body_len = plen},
                         &frame, &flen),
                     0);
    struct p2p_stream_bytes in = {
        .peer = peer, .stream_id = id, .data = frame, .len = flen, .fin = true};
    struct p2p_stream_done d;
    ck_assert_int_eq(p2p__streams_on_data(&f->s, now, &in, &d), 0);
    ck_assert_int_eq(d.owner, P2P_OWNER_DOWNLOADER);
    p2p__downloader_on_response(&f->dl, now, d.owner_index, d.owner_gen, d.err,
                                &d.frame);
    p2p__streams_done_fini(&d);
    p2p_mem_free(&f->e.mem, P2P_MEM_OTHER, frame);
}

/* Advert-kind downloads may use fetches_per_peer_max - 1/4 of a peer's
 * fetch slots (3 of 4), push-kind ones all of them (4), not one more. */
START_TEST(fetch_slots_per_peer_limit)
{
    struct fx f;
    fx_init(&f);
    f.e.cfg.downloads_per_peer_max = 100;
    for (uint32_t k = 0; k < 3; k++)
        ck_assert_int_eq(advertise(&f, 0, A, k, k, P2P_KIND_ADVERT, 10), 0);
    ck_assert_uint_eq(fetches_to(&f, A), 3);
    ck_assert_uint_eq(p2p__downloader_fetches(&f.dl, A), 3);
    /* The fourth advert-kind one waits. */
    ck_assert_int_eq(advertise(&f, 0, A, 3, 3, P2P_KIND_ADVERT, 10), 0);
    ck_assert_uint_eq(fetches_to(&f, A), 3);
    /* A push-kind one takes the last slot; a fifth of any kind waits. */
    ck_assert_int_eq(advertise(&f, 0, A, 4, 4, P2P_KIND_PUSH, 10), 0);
    ck_assert_uint_eq(fetches_to(&f, A), 4);
    ck_assert_int_eq(advertise(&f, 0, A, 5, 5, P2P_KIND_PUSH, 10), 0);
    ck_assert_uint_eq(fetches_to(&f, A), 4);
    /* Another peer's slots are its own. */
    ck_assert_int_eq(advertise(&f, 0, B, 0, 6, P2P_KIND_ADVERT, 10), 0);
    ck_assert_uint_eq(fetches_to(&f, B), 1);
    fx_fini(&f);
}
END_TEST

/* At most fetch_bytes_per_peer_max advertised bytes in flight to a peer
 * that has a fetch in flight: a second fetch that reaches the limit goes,
 * one byte more waits; a peer with none in flight may be asked for one
 * larger than the limit. */
START_TEST(fetch_bytes_per_peer_limit)
{
    for (int over = 0; over <= 1; over++) {
        struct fx f;
        fx_init(&f);
        uint64_t max = f.e.cfg.fetch_bytes_per_peer_max;
        ck_assert_int_eq(advertise(&f, 0, A, 0, 0, P2P_KIND_ADVERT, 400), 0);
        ck_assert_int_eq(
            advertise(&f, 0, A, 1, 1, P2P_KIND_ADVERT, max - 400 + over), 0);
        ck_assert_uint_eq(fetches_to(&f, A), (over ? 1u : 2u));
        ck_assert_int_eq(advertise(&f, 0, B, 0, 2, P2P_KIND_ADVERT, max * 3),
                         0);
        ck_assert_uint_eq(fetches_to(&f, B), 1);
        fx_fini(&f);
    }
}
END_TEST

/* A waiting download looks again after P2P_DOWNLOAD_BUSY_RETRY_NS: not at
 * deadline - 1, at it; once a slot is free, it fetches. */
START_TEST(busy_wait_both_sides)
{
    struct fx f;
    fx_init(&f);
    for (uint32_t k = 0; k < 4; k++)
        ck_assert_int_eq(advertise(&f, 0, A, k, k, P2P_KIND_ADVERT, 10), 0);
    ck_assert_uint_eq(fetches_to(&f, A), 3);
    /* Free a slot: the first fetch is answered. */
    uint8_t body[16];
    struct p2p_artifact_id id;
    artifact(0, body, &id);
    answer(&f, 5, A, last_fetch(&f, A) - 2, body, sizeof(body));
    ck_assert_ptr_nonnull(p2p_pool_get(&f.e.pool, &id));
    ck_assert_uint_eq(p2p__downloader_fetches(&f.dl, A), 2);
    struct p2p_timer t;
    p2p_time at = P2P_DOWNLOAD_BUSY_RETRY_NS;
    while (p2p_timer_heap_pop_due(&f.e.timers.heap, at - 1, &t) == 1)
        if (t.kind == P2P_TIMER_DOWNLOAD)
            p2p__downloader_on_timer(&f.dl, at - 1, t.index, t.gen);
    ck_assert_uint_eq(fetches_to(&f, A), 3);
    bool fired = false;
    while (p2p_timer_heap_pop_due(&f.e.timers.heap, at, &t) == 1) {
        if (t.kind != P2P_TIMER_DOWNLOAD)
            continue;
        /* Early: nothing; at the deadline: the fetch. */
        p2p__downloader_on_timer(&f.dl, at - 1, t.index, t.gen);
        ck_assert_uint_eq(fetches_to(&f, A), 3);
        p2p__downloader_on_timer(&f.dl, at, t.index, t.gen);
        fired = true;
    }
    ck_assert(fired);
    ck_assert_uint_eq(fetches_to(&f, A), 4);
    fx_fini(&f);
}
END_TEST

/* downloads_per_peer_max downloads from one peer's adverts, not one more:
 * the refused advert goes on the retry list and is offered again on the
 * refresh once there is room; a changed slot leaves the list. */
START_TEST(downloads_per_peer_quota_and_retry_list)
{
    struct fx f;
    fx_init(&f);
    uint32_t quota = f.e.cfg.downloads_per_peer_max;
    for (uint32_t k = 0; k < quota; k++)
        ck_assert_int_eq(advertise(&f, 0, A, k, k, P2P_KIND_ADVERT, 10), 0);
    ck_assert_uint_eq(p2p__downloader_count(&f.dl), quota);
    ck_assert_int_eq(advertise(&f, 0, A, quota, quota, P2P_KIND_ADVERT, 10),
                     P2P_ERR_LIMIT);
    ck_assert_int_eq(
        advertise(&f, 0, A, quota + 1, quota + 1, P2P_KIND_ADVERT, 10),
        P2P_ERR_LIMIT);
    ck_assert_uint_eq(f.dl.pending, 2);
    ck_assert_uint_eq(f.e.metrics.downloads_refused, 2);
    /* Slot quota + 1 changes: it leaves the list. */
    p2p__downloader_slot_changed(&f.dl, A, quota + 1);
    ck_assert_uint_eq(f.dl.pending, 1);
    /* Make room: the first download ends (its artifact arrived). */
    uint8_t body[16];
    struct p2p_artifact_id id;
    artifact(0, body, &id);
    p2p__downloader_done(&f.dl, &id);
    ck_assert_uint_eq(p2p__downloader_count(&f.dl), quota - 1);
    p2p__downloader_on_refresh_timer(&f.dl, 1000);
    ck_assert_uint_eq(f.dl.pending, 0);
    ck_assert_uint_eq(p2p__downloader_count(&f.dl), quota);
    fx_fini(&f);
}
END_TEST

/* A fetch whose deadline passed while its peer is alive (it answered a
 * later request) waits on: with no other advertiser up to
 * P2P_FETCH_EXTENSIONS_MAX times, with one once; a silent peer's fails at
 * once. */
START_TEST(fetch_extensions_limit)
{
    for (int alternative = 0; alternative <= 1; alternative++) {
        struct fx f;
        fx_init(&f);
        ck_assert_int_eq(advertise(&f, 0, A, 0, 0, P2P_KIND_ADVERT, 10), 0);
        if (alternative)
            ck_assert_int_eq(advertise(&f, 0, B, 0, 0, P2P_KIND_ADVERT, 10), 0);
        /* The fetch's deadline (the refresh timer comes first). */
        struct p2p_stream_due due;
        struct p2p_timer t;
        do
            ck_assert_int_eq(p2p_timer_heap_pop_due(&f.e.timers.heap,
                                                    P2P_TIME_NEVER - 1, &t),
                             1);
        while (t.kind != P2P_TIMER_STREAM_DEADLINE);
        ck_assert(p2p__streams_due(&f.s, t.deadline, t.index, t.gen, &due));
        ck_assert_int_eq(due.owner, P2P_OWNER_DOWNLOADER);
        /* Silent: no answer since the fetch was opened. */
        ck_assert_uint_eq(p2p__downloader_more_time(
                              &f.dl, t.deadline, due.owner_index, due.owner_gen,
                              due.opened_ns, due.opened_ns),
                          0);
        uint32_t limit = alternative ? 1 : P2P_FETCH_EXTENSIONS_MAX;
        for (uint32_t k = 0; k < limit; k++)
            ck_assert_uint_gt(
                p2p__downloader_more_time(&f.dl, t.deadline, due.owner_index,
                                          due.owner_gen, due.opened_ns,
                                          due.opened_ns + 1),
                0);
        ck_assert_uint_eq(p2p__downloader_more_time(
                              &f.dl, t.deadline, due.owner_index, due.owner_gen,
                              due.opened_ns, due.opened_ns + 1),
                          0);
        fx_fini(&f);
    }
}
END_TEST

/* Bytes that do not hash to the id: P2P_PENALTY_WRONG_BYTES, nothing in
 * the pool, the next advertiser asked at once. */
START_TEST(wrong_bytes_penalised_and_retried_elsewhere)
{
    struct fx f;
    fx_init(&f);
    ck_assert_int_eq(advertise(&f, 0, A, 0, 0, P2P_KIND_ADVERT, 16), 0);
    ck_assert_int_eq(advertise(&f, 0, B, 0, 0, P2P_KIND_ADVERT, 16), 0);
    ck_assert_uint_eq(fetches_to(&f, A) + fetches_to(&f, B), 1);
    p2p_node_id first = fetches_to(&f, A) ? A : B;
    p2p_node_id second = first == A ? B : A;
    uint8_t body[16];
    struct p2p_artifact_id id;
    artifact(1, body, &id); /* not artifact 0 */
    answer(&f, 5, first, last_fetch(&f, first), body, sizeof(body));
    ck_assert_uint_eq(p2p__ledger_peer(&f.e.ledger, first)->penalty_total,
                      P2P_PENALTY_WRONG_BYTES);
    ck_assert_uint_eq(f.e.pool.count[P2P_POOL_UNVALIDATED], 0);
    ck_assert_uint_eq(fetches_to(&f, second), 1);
    artifact(0, body, &id);
    answer(&f, 6, second, last_fetch(&f, second), body, sizeof(body));
    ck_assert_ptr_nonnull(p2p_pool_get(&f.e.pool, &id));
    ck_assert_uint_eq(p2p__downloader_count(&f.dl), 0);
    ck_assert_uint_eq(f.e.metrics.artifacts_received, 1);
    fx_fini(&f);
}
END_TEST

/* A download that stops waiting before its timer (a new advertiser to
 * try, the artifact arriving by another route) takes its timer out of the
 * node's timers: the next deadline is the next one still wanted. */
START_TEST(ended_wait_cancels_its_timer)
{
    struct fx f;
    fx_init(&f);
    for (uint32_t k = 0; k < 4; k++)
        ck_assert_int_eq(advertise(&f, 0, A, k, k, P2P_KIND_ADVERT, 10), 0);
    ck_assert_uint_eq(fetches_to(&f, A), 3);
    ck_assert_uint_eq(p2p_timer_heap_next(&f.e.timers.heap),
                      P2P_DOWNLOAD_BUSY_RETRY_NS);
    /* B advertises the waiting one: fetched from B at once. */
    ck_assert_int_eq(advertise(&f, 1, B, 0, 3, P2P_KIND_ADVERT, 10), 0);
    ck_assert_uint_eq(fetches_to(&f, B), 1);
    ck_assert_uint_gt(p2p_timer_heap_next(&f.e.timers.heap),
                      P2P_DOWNLOAD_BUSY_RETRY_NS);
    /* Another waits, then arrives by another route. */
    ck_assert_int_eq(advertise(&f, 2, A, 4, 4, P2P_KIND_ADVERT, 10), 0);
    ck_assert_uint_eq(p2p_timer_heap_next(&f.e.timers.heap),
                      2 + P2P_DOWNLOAD_BUSY_RETRY_NS);
    uint8_t body[16];
    struct p2p_artifact_id id;
    artifact(4, body, &id);
    p2p__downloader_done(&f.dl, &id);
    ck_assert_uint_gt(p2p_timer_heap_next(&f.e.timers.heap),
                      2 + P2P_DOWNLOAD_BUSY_RETRY_NS);
    ck_assert_int_eq(p2p_timer_heap_check(&f.e.timers.heap), 0);
    fx_fini(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("downloader");
    TCase *tc = tcase_create("downloader");
    tcase_add_test(tc, fetch_slots_per_peer_limit);
    tcase_add_test(tc, fetch_bytes_per_peer_limit);
    tcase_add_test(tc, busy_wait_both_sides);
    tcase_add_test(tc, downloads_per_peer_quota_and_retry_list);
    tcase_add_test(tc, fetch_extensions_limit);
    tcase_add_test(tc, wrong_bytes_penalised_and_retried_elsewhere);
    tcase_add_test(tc, ended_wait_cancels_its_timer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
