/* Test harness: one node under test (id 0) and hand-played peers. Peers'
 * messages are built with the real wire code and fed through the shim, and
 * the node's actions are read back from its outbox. Header-only so every
 * suite can include it. */
#ifndef P2P_TESTS_HARNESS_H
#define P2P_TESTS_HARNESS_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.pb-c.h"

#include "core/err.h"
#include "core/framing.h"
#include "core/shim.h"
#include "core/wire.h"

struct harness {
    struct p2p_mem mem;
    struct p2p_config cfg;
    struct p2p_node *node;
    p2p_time now;
    uint64_t next_peer_stream;
};

static inline void h_init_cfg(struct harness *h, const struct p2p_config *cfg,
                              unsigned peers)
{
    memset(h, 0, sizeof(*h));
    p2p_mem_init(&h->mem);
    h->cfg = *cfg;
    ck_assert_int_eq(p2p_node_new(&h->cfg, &h->mem, &h->node), 0);
    h->now = 1000;
    h->next_peer_stream = 1;
    for (unsigned p = 1; p <= peers; p++)
        ck_assert_int_eq(p2p_node_on_peer_up(h->node, h->now, p), 0);
}

static inline void h_init(struct harness *h, unsigned peers)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 42);
    h_init_cfg(h, &c, peers);
}

static inline void h_fini(struct harness *h)
{
    p2p_node_del(h->node);
    ck_assert_uint_eq(h->mem.bytes, 0); /* nothing leaked */
}

static inline struct p2p_outbox *h_out(struct harness *h)
{
    return p2p_node_outbox(h->node);
}

/* Counts actions of a type (and, for OPEN, of a route; -1 = any). */
static inline size_t h_count(struct harness *h, enum p2p_action_type type,
                             int route)
{
    size_t n = 0;
    for (size_t i = 0; i < p2p_outbox_count(h_out(h)); i++) {
        const struct p2p_action *a = p2p_outbox_at(h_out(h), i);
        if (a->type == type && (route < 0 || (int)a->route == route))
            n++;
    }
    return n;
}

/* The k-th action of a type (and route), or NULL. */
static inline const struct p2p_action *h_find(struct harness *h,
                                              enum p2p_action_type type,
                                              int route, size_t k)
{
    for (size_t i = 0; i < p2p_outbox_count(h_out(h)); i++) {
        const struct p2p_action *a = p2p_outbox_at(h_out(h), i);
        if (a->type == type && (route < 0 || (int)a->route == route) && k-- == 0)
            return a;
    }
    return NULL;
}

static inline void h_clear(struct harness *h) { p2p_outbox_clear(h_out(h)); }

/* Advances time and fires due timers. */
static inline void h_advance(struct harness *h, p2p_time dt)
{
    h->now += dt;
    ck_assert_int_eq(p2p_node_on_timer(h->node, h->now), 0);
}

/* Decodes the request an OPEN action carries; the caller frees *out with
 * free(). Returns the route. */
static inline enum p2p_route h_request_body(struct harness *h,
                                            const struct p2p_action *a,
                                            uint8_t **out, size_t *len)
{
    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    struct p2p_frame_reader r;
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_REQUEST, &limits, 0);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, a->bytes, a->len), 0);
    struct p2p_frame f;
    ck_assert_int_eq(p2p_frame_reader_finish(&r, &f), 0);
    *out = malloc(f.body_len ? f.body_len : 1);
    memcpy(*out, f.body, f.body_len);
    *len = f.body_len;
    enum p2p_route route = f.route;
    p2p_frame_reader_fini(&r);
    (void)h;
    return route;
}

/* Decodes the SlotUpdate an OPEN action carries (caller frees with
 * p2p__v1__slot_update__free_unpacked(u, NULL)). */
static inline P2p__V1__SlotUpdate *h_update_of(struct harness *h,
                                               const struct p2p_action *a)
{
    uint8_t *body;
    size_t len;
    ck_assert_int_eq(h_request_body(h, a, &body, &len), P2P_ROUTE_ARTIFACT_UPDATE);
    P2p__V1__SlotUpdate *u = p2p__v1__slot_update__unpack(NULL, len, body);
    free(body);
    ck_assert_ptr_nonnull(u);
    return u;
}

/* The peer answers the node's stream `stream_id` with status and body. */
static inline int h_respond(struct harness *h, p2p_node_id peer,
                            uint64_t stream_id, uint32_t status,
                            const ProtobufCMessage *body)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *packed = NULL, *frame;
    size_t packed_len = 0, frame_len;
    if (body != NULL) {
        packed_len = protobuf_c_message_get_packed_size(body);
        packed = malloc(packed_len ? packed_len : 1);
        protobuf_c_message_pack(body, packed);
    }
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){.status = status,
                                                      .body = packed,
                                                      .body_len = packed_len},
                         &frame, &frame_len),
                     0);
    int rc = p2p_node_on_stream_data(
        h->node, h->now,
        &(struct p2p_stream_bytes){.peer = peer,
                                   .stream_id = stream_id,
                                   .inbound = false,
                                   .data = frame,
                                   .len = frame_len,
                                   .fin = true});
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    free(packed);
    return rc;
}

/* The peer opens a stream to the node and sends a request. */
static inline int h_request(struct harness *h, p2p_node_id peer,
                            enum p2p_route route, const ProtobufCMessage *body)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    size_t packed_len = protobuf_c_message_get_packed_size(body);
    uint8_t *packed = malloc(packed_len ? packed_len : 1), *frame;
    size_t frame_len;
    protobuf_c_message_pack(body, packed);
    ck_assert_int_eq(p2p_frame_request_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_request){.route = route,
                                                     .body = packed,
                                                     .body_len = packed_len},
                         &frame, &frame_len),
                     0);
    int rc = p2p_node_on_stream_data(
        h->node, h->now,
        &(struct p2p_stream_bytes){.peer = peer,
                                   .stream_id = h->next_peer_stream++,
                                   .inbound = true,
                                   .data = frame,
                                   .len = frame_len,
                                   .fin = true});
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    free(packed);
    return rc;
}

/* A peer's slot update advertising id (of the given kind, size). */
static inline int h_advert_kind(struct harness *h, p2p_node_id peer,
                                uint64_t slot, uint64_t commit,
                                const struct p2p_artifact_id *id,
                                enum p2p_artifact_kind kind, uint64_t size)
{
    P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__ArtifactRef ref = P2P__V1__ARTIFACT_REF__INIT;
    ref.id.data = (uint8_t *)id->b;
    ref.id.len = P2P_ID_BYTES;
    ref.kind = kind;
    ref.size = size;
    u.slot_id = slot;
    u.commit_id = commit;
    u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_REF;
    u.ref = &ref;
    return h_request(h, peer, P2P_ROUTE_ARTIFACT_UPDATE, &u.base);
}

/* A peer's slot update advertising id (kind advert, size). */
static inline int h_advert(struct harness *h, p2p_node_id peer, uint64_t slot,
                           uint64_t commit, const struct p2p_artifact_id *id,
                           uint64_t size)
{
    return h_advert_kind(h, peer, slot, commit, id, P2P_KIND_ADVERT, size);
}

/* A peer's slot update pushing body. */
static inline int h_push(struct harness *h, p2p_node_id peer, uint64_t slot,
                         uint64_t commit, const uint8_t *body, size_t len)
{
    P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = P2P_KIND_PUSH;
    art.body.data = (uint8_t *)body;
    art.body.len = len;
    u.slot_id = slot;
    u.commit_id = commit;
    u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT;
    u.artifact = &art;
    return h_request(h, peer, P2P_ROUTE_ARTIFACT_UPDATE, &u.base);
}

/* Answers a fetch with an artifact body (possibly not matching the id). */
static inline int h_serve(struct harness *h, const struct p2p_action *fetch,
                          const uint8_t *body, size_t len)
{
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = P2P_KIND_ADVERT;
    art.body.data = (uint8_t *)body;
    art.body.len = len;
    return h_respond(h, fetch->peer, fetch->stream_id, 200, &art.base);
}

/* The status of the k-th response the node wrote. */
static inline uint32_t h_response_status(struct harness *h, size_t k)
{
    const struct p2p_action *a = h_find(h, P2P_ACT_STREAM_RESPOND, -1, k);
    ck_assert_ptr_nonnull(a);
    return a->status;
}

/* Runs op on a fresh node (peers 1..peers up) with its N-th allocation
 * failing, for N = 1, 2, ... until op completes without a failure: the node
 * must never crash, must keep its invariants, and must free everything. */
static inline void h_walk_allocation_failures(unsigned peers,
                                              void (*op)(struct harness *h))
{
    for (uint64_t n = 1; n < 400; n++) {
        struct harness h;
        h_init(&h, peers);
        h.mem.fail_at = h.mem.allocs + n;
        op(&h);
        ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
        bool done = h.mem.allocs < h.mem.fail_at;
        h_clear(&h);
        h_fini(&h);
        if (done)
            return; /* no allocation failed: every point was walked */
    }
    ck_abort_msg("sequence still failing after 400 allocations");
}

/* A run function for suites: returns the number of failures. */
static inline int h_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
