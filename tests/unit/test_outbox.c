/* The outbox alone (core/outbox.h): actions kept in order and copied field
 * by field, payload ownership on success and on error, the bound at limit
 * and limit + 1 (a full outbox returns P2P_ERR_LIMIT, adds nothing, leaves
 * its state and the caller's bytes alone), the allocator refusing the N-th
 * allocation for N = 1, 2, ..., best-effort events, clear and fini freeing
 * every byte, and the event and traffic names. No node, no simulator. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/outbox.h"
#include "core/types.h"

#define OUT P2P_MEM_OUTBOX

/* A distinct action for index k, of every type in turn; OPEN and RESPOND
 * carry k % 50 + 1 payload bytes allocated from mem under P2P_MEM_OUTBOX
 * (NULL when the allocator refuses). */
static struct p2p_action action_of(struct p2p_mem *mem, size_t k)
{
    static const enum p2p_action_type types[] = {
        P2P_ACT_STREAM_OPEN, P2P_ACT_STREAM_RESPOND, P2P_ACT_STREAM_RESET,
        P2P_ACT_ARTIFACT_RECEIVED, P2P_ACT_EVENT, P2P_ACT_CONN_DIAL,
        P2P_ACT_CONN_CLOSE,
    };
    struct p2p_action a;
    memset(&a, 0, sizeof(a));
    a.type = types[k % (sizeof(types) / sizeof(types[0]))];
    a.peer = (p2p_node_id)(k + 1);
    a.stream_id = 1000 + k;
    a.route = (uint32_t)(k % 5);
    a.status = 200 + (uint32_t)k;
    a.traffic = (enum p2p_traffic)(k % P2P_TRAFFIC_COUNT);
    a.inbound = k % 2 == 1;
    for (size_t i = 0; i < P2P_ID_BYTES; i++)
        a.id.b[i] = (uint8_t)(k + i);
    a.kind = (enum p2p_artifact_kind)(k % P2P_KINDS_COUNT);
    a.size = 7 * k;
    a.event = P2P_EV_DOWNLOAD_START;
    a.value = -(int64_t)k;
    if (a.type == P2P_ACT_STREAM_OPEN || a.type == P2P_ACT_STREAM_RESPOND) {
        a.len = k % 50 + 1;
        a.bytes = p2p_mem_alloc_raw(mem, OUT, a.len);
        if (a.bytes != NULL)
            memset(a.bytes, (int)(k & 0xff), a.len);
    }
    return a;
}

/* The action at i equals want field by field (bytes by content and by
 * pointer: the outbox takes the caller's block, it does not copy it). */
static void check_action(const struct p2p_action *got,
                         const struct p2p_action *want)
{
    ck_assert_int_eq(got->type, want->type);
    ck_assert_uint_eq(got->peer, want->peer);
    ck_assert_uint_eq(got->stream_id, want->stream_id);
    ck_assert_uint_eq(got->route, want->route);
    ck_assert_uint_eq(got->status, want->status);
    ck_assert_int_eq(got->traffic, want->traffic);
    ck_assert_int_eq(got->inbound, want->inbound);
    ck_assert_ptr_eq(got->bytes, want->bytes);
    ck_assert_uint_eq(got->len, want->len);
    ck_assert(p2p_id_eq(&got->id, &want->id));
    ck_assert_int_eq(got->kind, want->kind);
    ck_assert_uint_eq(got->size, want->size);
    ck_assert_int_eq(got->event, want->event);
    ck_assert_int_eq(got->value, want->value);
}

/* Payload bytes of the actions the outbox holds. */
static size_t payload_bytes(const struct p2p_outbox *o)
{
    size_t n = 0;
    for (size_t i = 0; i < p2p_outbox_count(o); i++)
        n += p2p_outbox_at(o, i)->len;
    return n;
}

START_TEST(init_is_empty)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_outbox o;
    memset(&o, 0xa5, sizeof(o));
    p2p_outbox_init(&o, &mem, 10);
    ck_assert_uint_eq(p2p_outbox_count(&o), 0);
    ck_assert_ptr_eq(o.mem, &mem);
    ck_assert_uint_eq(o.actions_max, 10);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Actions of every type come back in push order with every field as
 * pushed; the outbox keeps a copy, so the caller's struct may change. */
START_TEST(push_keeps_order_and_every_field)
{
    enum { N = 150 }; /* past the first growth of the array */
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_outbox o;
    p2p_outbox_init(&o, &mem, 1000);
    static struct p2p_action want[N];
    for (size_t k = 0; k < N; k++) {
        struct p2p_action a = action_of(&mem, k);
        want[k] = a;
        ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
        ck_assert_uint_eq(p2p_outbox_count(&o), k + 1);
        memset(&a, 0xee, sizeof(a)); /* the outbox holds its own copy */
    }
    size_t payloads = 0;
    for (size_t k = 0; k < N; k++) {
        check_action(p2p_outbox_at(&o, k), &want[k]);
        payloads += want[k].len;
        if (want[k].len)
            ck_assert_uint_eq(p2p_outbox_at(&o, k)->bytes[0], (uint8_t)(k & 0xff));
    }
    ck_assert_uint_gt(payloads, 0);
    ck_assert_uint_eq(payload_bytes(&o), payloads);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* On success the outbox owns a->bytes: clear frees them (the module's
 * count drops by exactly the payloads) and the caller frees nothing;
 * fini frees the rest. */
START_TEST(clear_frees_the_payloads_it_owns)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_outbox o;
    p2p_outbox_init(&o, &mem, 100);
    for (int round = 0; round < 3; round++) {
        for (size_t k = 0; k < 40; k++) {
            struct p2p_action a = action_of(&mem, k);
            ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
        }
        size_t payloads = payload_bytes(&o);
        ck_assert_uint_gt(payloads, 0);
        size_t before = mem.module_bytes[OUT];
        p2p_outbox_clear(&o);
        ck_assert_uint_eq(p2p_outbox_count(&o), 0);
        ck_assert_uint_le(mem.module_bytes[OUT], before - payloads);
        ck_assert_uint_eq(mem.bytes, mem.module_bytes[OUT]);
    }
    p2p_outbox_clear(&o); /* clearing an empty outbox is harmless */
    ck_assert_uint_eq(p2p_outbox_count(&o), 0);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* fini frees pending actions' bytes and the array; on a never-used outbox
 * it frees nothing and fails nothing. */
START_TEST(fini_frees_everything)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_outbox o;
    p2p_outbox_init(&o, &mem, 100);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
    p2p_outbox_init(&o, &mem, 100);
    for (size_t k = 0; k < 99; k++) {
        struct p2p_action a = action_of(&mem, k);
        ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
    }
    ck_assert_uint_gt(mem.bytes, 0);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
    ck_assert_uint_eq(mem.module_bytes[OUT], 0);
}
END_TEST

/* The bound: actions_max pushes succeed, push number actions_max + 1 fails
 * with P2P_ERR_LIMIT, adds nothing, leaves the outbox (count, array,
 * earlier actions) as it was, and the caller still owns its bytes. Rows at
 * 0 and around the array's growth steps. */
START_TEST(limit_and_limit_plus_one)
{
    static const size_t maxes[] = {0, 1, 2, 63, 64, 65, 127, 128, 129, 300};
    for (size_t r = 0; r < sizeof(maxes) / sizeof(maxes[0]); r++) {
        size_t max = maxes[r];
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        struct p2p_outbox o;
        p2p_outbox_init(&o, &mem, max);
        for (size_t k = 0; k < max; k++) {
            struct p2p_action a = action_of(&mem, k);
            ck_assert_msg(p2p_outbox_push(&o, &a) == 0, "max %zu: push %zu", max, k);
        }
        ck_assert_uint_eq(p2p_outbox_count(&o), max);
        for (size_t extra = 0; extra < 2; extra++) {
            /* An action with a payload, so that ownership shows. */
            struct p2p_action a = action_of(&mem, 7 * extra);
            ck_assert_ptr_nonnull(a.bytes);
            struct p2p_outbox snap = o;
            struct p2p_mem mem_snap = mem;
            ck_assert_int_eq(p2p_outbox_push(&o, &a), P2P_ERR_LIMIT);
            ck_assert_mem_eq(&o, &snap, sizeof(o));
            ck_assert_mem_eq(&mem, &mem_snap, sizeof(mem)); /* nothing freed */
            for (size_t k = 0; k < max; k++) {
                const struct p2p_action *got = p2p_outbox_at(&o, k);
                ck_assert_uint_eq(got->peer, k + 1);
                ck_assert_uint_eq(got->stream_id, 1000 + k);
                if (got->len)
                    ck_assert_uint_eq(got->bytes[got->len - 1], (uint8_t)(k & 0xff));
            }
            /* The caller still owns a.bytes: freeing it returns the count. */
            size_t before = mem.module_bytes[OUT];
            p2p_mem_free(&mem, OUT, a.bytes);
            ck_assert_uint_eq(mem.module_bytes[OUT], before - a.len);
        }
        /* After a drain the outbox takes actions again, up to the bound. */
        p2p_outbox_clear(&o);
        if (max > 0) {
            struct p2p_action a = action_of(&mem, 1);
            ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
        }
        p2p_outbox_fini(&o);
        ck_assert_uint_eq(mem.bytes, 0);
    }
}
END_TEST

/* Fails the N-th allocation for N = 1, 2, ... while a caller builds and
 * pushes 200 actions (its own payload allocations and the outbox's array
 * growth both count), until a run sees no failure. A push that returns an
 * error returned P2P_ERR_NOMEM, added nothing, left the outbox's state as
 * it was and the caller's bytes with the caller; a retry then succeeds.
 * At the end every action is there in order and fini frees every byte. */
START_TEST(walk_allocation_failures)
{
    enum { N = 200 };
    uint64_t n;
    for (n = 1; n < 1000; n++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        mem.fail_at = n;
        struct p2p_outbox o;
        p2p_outbox_init(&o, &mem, 1000);
        int push_failures = 0;
        for (size_t k = 0; k < N; k++) {
            struct p2p_action a = action_of(&mem, k);
            if (a.len != 0 && a.bytes == NULL)
                a = action_of(&mem, k); /* the caller's own refusal: retry */
            ck_assert(a.len == 0 || a.bytes != NULL);
            struct p2p_outbox snap = o;
            size_t held = mem.module_bytes[OUT];
            int rc = p2p_outbox_push(&o, &a);
            if (rc != 0) {
                push_failures++;
                ck_assert_int_eq(rc, P2P_ERR_NOMEM);
                ck_assert_mem_eq(&o, &snap, sizeof(o));
                ck_assert_uint_eq(mem.module_bytes[OUT], held);
                if (a.len)
                    ck_assert_uint_eq(a.bytes[a.len - 1], (uint8_t)(k & 0xff));
                rc = p2p_outbox_push(&o, &a); /* fail_at fails once */
            }
            ck_assert_int_eq(rc, 0);
        }
        ck_assert_uint_eq(p2p_outbox_count(&o), N);
        for (size_t k = 0; k < N; k++) {
            const struct p2p_action *got = p2p_outbox_at(&o, k);
            ck_assert_uint_eq(got->peer, k + 1);
            ck_assert_uint_eq(got->stream_id, 1000 + k);
            if (got->len)
                ck_assert_uint_eq(got->bytes[0], (uint8_t)(k & 0xff));
        }
        bool failed = mem.allocs >= n;
        ck_assert(push_failures <= 1);
        p2p_outbox_fini(&o);
        ck_assert_uint_eq(mem.bytes, 0);
        if (!failed)
            break;
    }
    ck_assert_uint_lt(n, 1000);
}
END_TEST

/* Events are kept only when enabled, carry what was passed (a NULL id is
 * all zeros), and are dropped silently when the outbox is full (limit - 1:
 * kept, limit: dropped) or the allocator refuses. */
START_TEST(events_best_effort)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_outbox o;
    p2p_outbox_init(&o, &mem, 3);
    struct p2p_artifact_id id;
    for (size_t i = 0; i < P2P_ID_BYTES; i++)
        id.b[i] = (uint8_t)(0xc0 + i);

    o.events_enabled = false;
    p2p_outbox_event(&o, P2P_EV_POOL_FULL, 4, &id, 9); /* disabled */
    ck_assert_uint_eq(p2p_outbox_count(&o), 0);

    o.events_enabled = true;
    p2p_outbox_event(&o, P2P_EV_ID_MISMATCH, 5, &id, -3);
    p2p_outbox_event(&o, P2P_EV_DOWNLOAD_WAIT, P2P_NODE_NONE, NULL, INT64_MAX);
    ck_assert_uint_eq(p2p_outbox_count(&o), 2);
    const struct p2p_action *a = p2p_outbox_at(&o, 0);
    ck_assert_int_eq(a->type, P2P_ACT_EVENT);
    ck_assert_int_eq(a->event, P2P_EV_ID_MISMATCH);
    ck_assert_uint_eq(a->peer, 5);
    ck_assert(p2p_id_eq(&a->id, &id));
    ck_assert_int_eq(a->value, -3);
    ck_assert_ptr_null(a->bytes);
    ck_assert_uint_eq(a->len, 0);
    a = p2p_outbox_at(&o, 1);
    ck_assert_int_eq(a->event, P2P_EV_DOWNLOAD_WAIT);
    ck_assert_uint_eq(a->peer, P2P_NODE_NONE);
    struct p2p_artifact_id zero;
    memset(&zero, 0, sizeof(zero));
    ck_assert(p2p_id_eq(&a->id, &zero));
    ck_assert_int_eq(a->value, INT64_MAX);

    /* limit - 1 actions held: the event is kept and fills the outbox. */
    p2p_outbox_event(&o, P2P_EV_UPDATE_STALE, 6, NULL, 1);
    ck_assert_uint_eq(p2p_outbox_count(&o), 3);
    /* At the limit: dropped, nothing else touched. */
    struct p2p_outbox snap = o;
    p2p_outbox_event(&o, P2P_EV_UPDATE_RETRY, 7, &id, 2);
    ck_assert_mem_eq(&o, &snap, sizeof(o));
    ck_assert_int_eq(p2p_outbox_at(&o, 2)->event, P2P_EV_UPDATE_STALE);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);

    /* The allocator refusing the array: dropped, state unchanged. */
    p2p_outbox_init(&o, &mem, 3);
    o.events_enabled = true;
    mem.fail_at = mem.allocs + 1;
    snap = o;
    p2p_outbox_event(&o, P2P_EV_STREAM_ERROR, 1, NULL, -1);
    ck_assert_mem_eq(&o, &snap, sizeof(o));
    ck_assert_uint_eq(mem.bytes, 0);
    p2p_outbox_event(&o, P2P_EV_STREAM_ERROR, 1, NULL, -1); /* fails once */
    ck_assert_uint_eq(p2p_outbox_count(&o), 1);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Events sit among other actions in the order they were appended. */
START_TEST(events_interleave_in_order)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_outbox o;
    p2p_outbox_init(&o, &mem, 10);
    o.events_enabled = true;
    struct p2p_action a = action_of(&mem, 0); /* an OPEN */
    ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
    p2p_outbox_event(&o, P2P_EV_DOWNLOAD_FAIL, 2, NULL, P2P_ERR_TIMEOUT);
    a = action_of(&mem, 2); /* a RESET */
    ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
    ck_assert_uint_eq(p2p_outbox_count(&o), 3);
    ck_assert_int_eq(p2p_outbox_at(&o, 0)->type, P2P_ACT_STREAM_OPEN);
    ck_assert_int_eq(p2p_outbox_at(&o, 1)->type, P2P_ACT_EVENT);
    ck_assert_int_eq(p2p_outbox_at(&o, 1)->value, P2P_ERR_TIMEOUT);
    ck_assert_int_eq(p2p_outbox_at(&o, 2)->type, P2P_ACT_STREAM_RESET);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* The names are trace and metrics vocabulary: pinned here, one per value,
 * and "?" past the end. */
START_TEST(event_and_traffic_names)
{
    static const char *const events[] = {
        [P2P_EV_UPDATE_STALE] = "update_stale",
        [P2P_EV_DOWNLOAD_START] = "download_start",
        [P2P_EV_DOWNLOAD_FAIL] = "download_fail",
        [P2P_EV_DOWNLOAD_BACKOFF] = "download_backoff",
        [P2P_EV_DOWNLOAD_DROP] = "download_drop",
        [P2P_EV_ID_MISMATCH] = "id_mismatch",
        [P2P_EV_UPDATE_RETRY] = "update_retry",
        [P2P_EV_STREAM_ERROR] = "stream_error",
        [P2P_EV_POOL_FULL] = "pool_full",
        [P2P_EV_STATE_SYNC_START] = "state_sync_start",
        [P2P_EV_STATE_SYNC_DONE] = "state_sync_done",
        [P2P_EV_STATE_SYNC_CANCEL] = "state_sync_cancel",
        [P2P_EV_STATE_BAD_DATA] = "state_bad_data",
        [P2P_EV_DOWNLOAD_WAIT] = "download_wait",
    };
    size_t events_count = sizeof(events) / sizeof(events[0]);
    for (size_t e = 0; e < events_count; e++)
        ck_assert_str_eq(p2p_event_name((enum p2p_event)e), events[e]);
    ck_assert_str_eq(p2p_event_name((enum p2p_event)events_count), "?");

    static const char *const traffic[P2P_TRAFFIC_COUNT] = {
        [P2P_TRAFFIC_PUSH] = "push",       [P2P_TRAFFIC_ADVERT] = "advert",
        [P2P_TRAFFIC_ACK] = "ack",         [P2P_TRAFFIC_FETCH] = "fetch",
        [P2P_TRAFFIC_ARTIFACT] = "artifact", [P2P_TRAFFIC_OTHER] = "other",
        [P2P_TRAFFIC_STATE] = "state",
    };
    for (int t = 0; t < P2P_TRAFFIC_COUNT; t++) {
        ck_assert_ptr_nonnull(traffic[t]); /* a new class needs a row here */
        ck_assert_str_eq(p2p_traffic_name((enum p2p_traffic)t), traffic[t]);
    }
    ck_assert_str_eq(p2p_traffic_name(P2P_TRAFFIC_COUNT), "?");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("outbox");
    TCase *basic = tcase_create("actions");
    tcase_add_test(basic, init_is_empty);
    tcase_add_test(basic, push_keeps_order_and_every_field);
    tcase_add_test(basic, clear_frees_the_payloads_it_owns);
    tcase_add_test(basic, fini_frees_everything);
    tcase_add_test(basic, events_best_effort);
    tcase_add_test(basic, events_interleave_in_order);
    tcase_add_test(basic, event_and_traffic_names);
    suite_add_tcase(s, basic);
    TCase *bounds = tcase_create("bounds");
    tcase_add_test(bounds, limit_and_limit_plus_one);
    tcase_add_test(bounds, walk_allocation_failures);
    suite_add_tcase(s, bounds);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
