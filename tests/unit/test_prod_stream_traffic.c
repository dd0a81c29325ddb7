/* The traffic class of stream envelopes (prod/stream_traffic.h), as the
 * simulator counts them: every request and response core makes, encoded
 * by core's own framing, is classified the same whether its bytes come
 * whole or one at a time (undecided until enough bytes, never a wrong
 * early answer), and malformed or cut envelopes decide "other" (or
 * "advert" on the update route) once complete. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/framing.h"
#include "core/mem.h"
#include "p2p.pb-c.h"
#include "quic/stream_traffic.h"

enum { OK = 200, NO_CONTENT = 204, BAD_REQUEST = 400 };

/* An envelope of the test (owned by the test's p2p_mem). */
struct env {
    uint8_t *b;
    size_t len;
};

static struct p2p_mem mem;

static struct env request(enum p2p_route route, const ProtobufCMessage *m)
{
    uint8_t body[512];
    size_t body_len = m == NULL ? 0 : protobuf_c_message_pack(m, body);
    ck_assert_uint_le(body_len, sizeof(body));
    struct env e;
    ck_assert_int_eq(p2p_frame_request_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_request){.route = route,
                                                     .body = body,
                                                     .body_len = body_len},
                         &e.b, &e.len),
                     0);
    return e;
}

static struct env response(uint32_t status, size_t body_len)
{
    uint8_t *body = calloc(1, body_len + 1);
    struct env e;
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){.status = status,
                                                      .body = body,
                                                      .body_len = body_len},
                         &e.b, &e.len),
                     0);
    free(body);
    return e;
}

static void env_free(struct env *e)
{
    p2p_mem_free(&mem, P2P_MEM_OTHER, e->b);
}

/* Every prefix: undecided, or decided as `want`; decided by the whole
 * envelope and by any prefix that is declared complete. */
static void check_request(const struct env *e, enum p2p_traffic want,
                          uint8_t want_route)
{
    bool decided = false;
    for (size_t k = 0; k <= e->len; k++) {
        enum p2p_traffic t;
        uint8_t route;
        bool d =
            quic_stream_traffic_of_request(e->b, k, k == e->len, &t, &route);
        ck_assert_msg(!decided || d, "undecided again at %zu bytes", k);
        if (d) {
            ck_assert_msg(t == want, "%s at %zu of %zu bytes, want %s",
                          p2p_traffic_name(t), k, e->len,
                          p2p_traffic_name(want));
            ck_assert_uint_eq(route, want_route);
            decided = true;
        }
        /* A prefix declared complete always decides. */
        ck_assert(quic_stream_traffic_of_request(e->b, k, true, &t, &route));
    }
    ck_assert(decided);
}

static void check_response(uint8_t route, const struct env *e,
                           enum p2p_traffic want)
{
    bool decided = false;
    for (size_t k = 0; k <= e->len; k++) {
        enum p2p_traffic t;
        bool d =
            quic_stream_traffic_of_response(route, e->b, k, k == e->len, &t);
        ck_assert(!decided || d);
        if (d) {
            ck_assert_msg(t == want, "%s at %zu bytes, want %s",
                          p2p_traffic_name(t), k, p2p_traffic_name(want));
            decided = true;
        }
        ck_assert(quic_stream_traffic_of_response(route, e->b, k, true, &t));
    }
    ck_assert(decided);
}

START_TEST(slot_updates)
{
    p2p_mem_init(&mem);
    /* Commit and slot ids of every varint size, the three updates. */
    static const uint64_t ids[] = {0, 1, 127, 128, 1u << 20, UINT64_MAX};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        uint8_t body[40] = {1, 2, 3}, id[32] = {9};
        P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
        art.body.data = body;
        art.body.len = sizeof(body);
        P2p__V1__ArtifactRef ref = P2P__V1__ARTIFACT_REF__INIT;
        ref.id.data = id;
        ref.id.len = sizeof(id);
        ref.size = 1u << 30;
        P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
        u.commit_id = ids[i];
        u.slot_id = ids[sizeof(ids) / sizeof(ids[0]) - 1 - i];
        static const struct {
            P2p__V1__SlotUpdate__UpdateCase c;
            enum p2p_traffic want;
        } cases[] = {
            {P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT, P2P_TRAFFIC_PUSH},
            {P2P__V1__SLOT_UPDATE__UPDATE_REF, P2P_TRAFFIC_ADVERT},
            {P2P__V1__SLOT_UPDATE__UPDATE_DELETED, P2P_TRAFFIC_ADVERT},
            {P2P__V1__SLOT_UPDATE__UPDATE__NOT_SET, P2P_TRAFFIC_ADVERT},
        };
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            u.update_case = cases[c].c;
            if (u.update_case == P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT)
                u.artifact = &art;
            else if (u.update_case == P2P__V1__SLOT_UPDATE__UPDATE_REF)
                u.ref = &ref;
            else
                u.deleted = 1;
            struct env e = request(P2P_ROUTE_ARTIFACT_UPDATE, &u.base);
            check_request(&e, cases[c].want, P2P_ROUTE_ARTIFACT_UPDATE);
            env_free(&e);
        }
    }
    /* An update without a body is an advert (and is refused by core). */
    struct env e = request(P2P_ROUTE_ARTIFACT_UPDATE, NULL);
    check_request(&e, P2P_TRAFFIC_ADVERT, P2P_ROUTE_ARTIFACT_UPDATE);
    env_free(&e);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(other_routes)
{
    p2p_mem_init(&mem);
    uint8_t id[32] = {7};
    P2p__V1__FetchRequest f = P2P__V1__FETCH_REQUEST__INIT;
    f.id.data = id;
    f.id.len = sizeof(id);
    struct env e = request(P2P_ROUTE_ARTIFACT_RPC, &f.base);
    check_request(&e, P2P_TRAFFIC_FETCH, P2P_ROUTE_ARTIFACT_RPC);
    env_free(&e);
    e = request(P2P_ROUTE_STATE_ADVERT, NULL);
    check_request(&e, P2P_TRAFFIC_STATE, P2P_ROUTE_STATE_ADVERT);
    env_free(&e);
    e = request(P2P_ROUTE_STATE_CHUNK, NULL);
    check_request(&e, P2P_TRAFFIC_STATE, P2P_ROUTE_STATE_CHUNK);
    env_free(&e);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(malformed_requests)
{
    static const struct {
        const char *bytes;
        size_t len;
        enum p2p_traffic want;
        uint8_t route;
    } cases[] = {
        /* Not a path first: decided at the first byte. */
        {"\x12\x01x", 3, P2P_TRAFFIC_OTHER, QUIC_TRAFFIC_ROUTE_NONE},
        /* A path that is no route. */
        {"\x0a\x04/xyz", 6, P2P_TRAFFIC_OTHER, QUIC_TRAFFIC_ROUTE_NONE},
        /* A path longer than any route. */
        {"\x0a\x7f", 2, P2P_TRAFFIC_OTHER, QUIC_TRAFFIC_ROUTE_NONE},
        /* A varint that never ends. */
        {"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11,
         P2P_TRAFFIC_OTHER, QUIC_TRAFFIC_ROUTE_NONE},
        /* The update route, then garbage: an advert. */
        {"\x0a\x10/artifact/update\x1a\x00", 20, P2P_TRAFFIC_ADVERT,
         P2P_ROUTE_ARTIFACT_UPDATE},
        /* A body whose first field has an unknown wire type. */
        {"\x0a\x10/artifact/update\x12\x02\x0f\x00", 22, P2P_TRAFFIC_ADVERT,
         P2P_ROUTE_ARTIFACT_UPDATE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct env e = {(uint8_t *)cases[i].bytes, cases[i].len};
        check_request(&e, cases[i].want, cases[i].route);
    }
    /* Empty and complete: other. */
    enum p2p_traffic t;
    uint8_t route;
    ck_assert(!quic_stream_traffic_of_request(NULL, 0, false, &t, &route));
    ck_assert(quic_stream_traffic_of_request(NULL, 0, true, &t, &route));
    ck_assert_int_eq(t, P2P_TRAFFIC_OTHER);
}
END_TEST

START_TEST(responses)
{
    p2p_mem_init(&mem);
    static const struct {
        uint8_t route;
        uint32_t status;
        size_t body;
        enum p2p_traffic want;
    } cases[] = {
        {P2P_ROUTE_ARTIFACT_UPDATE, OK, 8, P2P_TRAFFIC_ACK},
        {P2P_ROUTE_ARTIFACT_UPDATE, BAD_REQUEST, 0, P2P_TRAFFIC_OTHER},
        {P2P_ROUTE_ARTIFACT_RPC, OK, 300, P2P_TRAFFIC_ARTIFACT},
        {P2P_ROUTE_ARTIFACT_RPC, NO_CONTENT, 0, P2P_TRAFFIC_ARTIFACT},
        {P2P_ROUTE_ARTIFACT_RPC, BAD_REQUEST, 0, P2P_TRAFFIC_OTHER},
        {P2P_ROUTE_STATE_ADVERT, OK, 0, P2P_TRAFFIC_STATE},
        {P2P_ROUTE_STATE_CHUNK, NO_CONTENT, 0, P2P_TRAFFIC_STATE},
        {P2P_ROUTE_STATE_CHUNK, BAD_REQUEST, 0, P2P_TRAFFIC_STATE},
        {QUIC_TRAFFIC_ROUTE_NONE, BAD_REQUEST, 0, P2P_TRAFFIC_OTHER},
        {QUIC_TRAFFIC_ROUTE_NONE, OK, 4, P2P_TRAFFIC_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct env e = response(cases[i].status, cases[i].body);
        check_response(cases[i].route, &e, cases[i].want);
        env_free(&e);
    }
    /* A response that does not start with a status: other. */
    struct env e = {(uint8_t *)"\x12\x00", 2};
    check_response(P2P_ROUTE_ARTIFACT_RPC, &e, P2P_TRAFFIC_OTHER);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prod_stream_traffic");
    TCase *tc = tcase_create("classes");
    tcase_add_test(tc, slot_updates);
    tcase_add_test(tc, other_routes);
    tcase_add_test(tc, malformed_requests);
    tcase_add_test(tc, responses);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
