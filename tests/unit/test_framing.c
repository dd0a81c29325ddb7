/* Framing: envelopes, routes and the incremental stream reader.
 *
 * Every test owns its p2p_mem and checks it is back to zero bytes at the
 * end, so a leak anywhere fails the test that caused it. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.pb-c.h"

#include "core/err.h"
#include "core/framing.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/wire.h"

#define MIB ((size_t)1 << 20)
#define ONE_PIECE SIZE_MAX /* feed step meaning "everything at once" */

/* ---- helpers ---- */

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* n pseudo-random bytes from a fixed seed; free with free(). */
static uint8_t *pattern(size_t n, uint64_t seed)
{
    uint8_t *b = malloc(n != 0 ? n : 1);
    ck_assert_ptr_nonnull(b);
    struct p2p_rng rng;
    p2p_rng_init(&rng, seed, 1);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)p2p_rng_u32(&rng);
    return b;
}

/* What a reader made of some bytes, captured before its fini. */
struct outcome {
    int rc;              /* first error of feed or finish, or 0 */
    enum p2p_route route;
    uint32_t status;
    size_t body_len;
    uint64_t body_hash;
    size_t buffered_max; /* largest p2p_frame_reader_buffered() seen */
};

static void note_buffered(struct outcome *o, const struct p2p_frame_reader *r)
{
    size_t b = p2p_frame_reader_buffered(r);
    if (b > o->buffered_max)
        o->buffered_max = b;
}

/* Finishes r (unless a feed failed), records the result and finis r. The
 * error state must be sticky: a failed reader keeps returning its error. */
static struct outcome conclude(struct p2p_frame_reader *r, struct outcome o)
{
    struct p2p_frame f;
    if (o.rc == 0)
        o.rc = p2p_frame_reader_finish(r, &f);
    if (o.rc == 0) {
        ck_assert_ptr_nonnull(f.body);
        o.route = f.route;
        o.status = f.status;
        o.body_len = f.body_len;
        o.body_hash = fnv1a(f.body, f.body_len);
    } else {
        ck_assert_int_eq(p2p_frame_reader_feed(r, NULL, 0), o.rc);
        ck_assert_int_eq(p2p_frame_reader_finish(r, &f), o.rc);
    }
    p2p_frame_reader_fini(r);
    return o;
}

/* Reads b[0..n) in pieces of step bytes (ONE_PIECE: a single feed). */
static struct outcome read_steps(struct p2p_mem *mem,
                                 const struct p2p_route_limits *l,
                                 enum p2p_frame_mode mode,
                                 enum p2p_route route, const uint8_t *b,
                                 size_t n, size_t step)
{
    struct p2p_frame_reader r;
    struct outcome o = {0};
    p2p_frame_reader_init(&r, mem, mode, l, route);
    for (size_t at = 0; at < n && o.rc == 0; at += step) {
        size_t k = n - at < step ? n - at : step;
        o.rc = p2p_frame_reader_feed(&r, b + at, k);
        note_buffered(&o, &r);
    }
    return conclude(&r, o);
}

/* Reads b[0..n) as two feeds split at cut. */
static struct outcome read_split(struct p2p_mem *mem,
                                 const struct p2p_route_limits *l,
                                 enum p2p_frame_mode mode,
                                 enum p2p_route route, const uint8_t *b,
                                 size_t n, size_t cut)
{
    struct p2p_frame_reader r;
    struct outcome o = {0};
    p2p_frame_reader_init(&r, mem, mode, l, route);
    o.rc = p2p_frame_reader_feed(&r, b, cut);
    if (o.rc == 0)
        o.rc = p2p_frame_reader_feed(&r, b + cut, n - cut);
    note_buffered(&o, &r);
    return conclude(&r, o);
}

static void assert_same(const struct outcome *a, const struct outcome *b)
{
    ck_assert_int_eq(a->rc, b->rc);
    ck_assert_int_eq(a->route, b->route);
    ck_assert_uint_eq(a->status, b->status);
    ck_assert_uint_eq(a->body_len, b->body_len);
    ck_assert_uint_eq(a->body_hash, b->body_hash);
}

/* A test message: the envelope plus what a reader should make of it. */
struct msg {
    enum p2p_frame_mode mode;
    enum p2p_route route;
    uint32_t status;
    uint8_t *bytes; /* owned, from mem under P2P_MEM_OTHER */
    size_t len;
    struct outcome want;
};

static void msg_make(struct p2p_mem *mem, enum p2p_frame_mode mode,
                     enum p2p_route route, uint32_t status,
                     const uint8_t *body, size_t body_len, struct msg *m)
{
    memset(m, 0, sizeof(*m));
    m->mode = mode;
    m->route = route;
    m->status = status;
    struct p2p_frame_request req = {
        .route = route, .body = body, .body_len = body_len};
    struct p2p_frame_response resp = {
        .status = status, .body = body, .body_len = body_len};
    int rc = mode == P2P_FRAME_REQUEST
                 ? p2p_frame_request_encode(mem, P2P_MEM_OTHER, &req, &m->bytes,
                                            &m->len)
                 : p2p_frame_response_encode(mem, P2P_MEM_OTHER, &resp,
                                             &m->bytes, &m->len);
    ck_assert_int_eq(rc, 0);
    m->want.route = route;
    m->want.status = mode == P2P_FRAME_REQUEST ? 0 : status;
    m->want.body_len = body_len;
    m->want.body_hash = fnv1a(body, body_len);
}

/* A message whose envelope is exactly target bytes (the body length is
 * searched; the test picks targets a varint step does not skip). */
static void msg_sized(struct p2p_mem *mem, enum p2p_frame_mode mode,
                      enum p2p_route route, size_t target, struct msg *m)
{
    uint8_t *body = pattern(target, 7);
    for (size_t n = target > 40 ? target - 40 : 0; n <= target; n++) {
        msg_make(mem, mode, route, 200, body, n, m);
        if (m->len == target) {
            free(body);
            return;
        }
        p2p_mem_free(mem, P2P_MEM_OTHER, m->bytes);
    }
    ck_abort_msg("no envelope of exactly %zu bytes", target);
}

static void msg_free(struct p2p_mem *mem, struct msg *m)
{
    p2p_mem_free(mem, P2P_MEM_OTHER, m->bytes);
    m->bytes = NULL;
}

static struct outcome msg_read(struct p2p_mem *mem,
                               const struct p2p_route_limits *l,
                               const struct msg *m, size_t step)
{
    return read_steps(mem, l, m->mode, m->route, m->bytes, m->len, step);
}

/* Equal limits on every route and direction, for boundary tests. */
static void limits_all(struct p2p_route_limits *l, size_t bytes)
{
    for (unsigned r = 0; r < P2P_ROUTES_COUNT; r++) {
        l->request_bytes_max[r] = bytes;
        l->response_bytes_max[r] = bytes;
    }
}

/* ---- routes and limits ---- */

START_TEST(route_table_round_trips)
{
    for (unsigned i = 0; i < P2P_ROUTES_COUNT; i++) {
        const char *p = p2p_route_path((enum p2p_route)i);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_le(strlen(p), P2P_FRAME_PATH_BYTES_MAX);
        enum p2p_route got = P2P_ROUTES_COUNT;
        ck_assert_int_eq(p2p_route_lookup((const uint8_t *)p, strlen(p), &got),
                         0);
        ck_assert_int_eq(got, i);
    }
    ck_assert_str_eq(p2p_route_path(P2P_ROUTE_ARTIFACT_UPDATE),
                     "/artifact/update");
    ck_assert_str_eq(p2p_route_path(P2P_ROUTE_ARTIFACT_RPC), "/artifact/rpc");
    ck_assert_ptr_null(p2p_route_path(P2P_ROUTES_COUNT));
}
END_TEST

START_TEST(route_lookup_rejects_near_misses)
{
    static const struct {
        const char *path;
        size_t len;
    } cases[] = {
        {"", 0},
        {"/", 1},
        {"/artifact/updat", 15},
        {"/artifact/updatex", 17},
        {"/artifact/UPDATE", 16},
        {"/artifact/update\0", 17}, /* embedded NUL */
        {"artifact/rpc", 12},
        {"/state-sync/chun", 16},
        {"/state-sync/chunks", 18},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum p2p_route got = P2P_ROUTES_COUNT;
        ck_assert_int_eq(p2p_route_lookup((const uint8_t *)cases[i].path,
                                          cases[i].len, &got),
                         P2P_ERR_NO_ROUTE);
        ck_assert_int_eq(got, P2P_ROUTES_COUNT); /* untouched */
    }
    enum p2p_route got;
    ck_assert_int_eq(p2p_route_lookup(NULL, 0, &got), P2P_ERR_NO_ROUTE);
}
END_TEST

/* The small default limits must hold the largest real message they guard. */
START_TEST(default_limits_fit_their_messages)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    ck_assert_uint_eq(l.request_bytes_max[P2P_ROUTE_ARTIFACT_UPDATE],
                      P2P_FRAME_MESSAGE_BYTES_MAX);
    ck_assert_uint_eq(l.response_bytes_max[P2P_ROUTE_ARTIFACT_RPC],
                      P2P_FRAME_MESSAGE_BYTES_MAX);

    uint8_t buf[64], *frame;
    size_t frame_len;
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    ack.slot_id = UINT64_MAX;
    ack.commit_id = UINT64_MAX;
    size_t n = p2p__v1__update_ack__pack(&ack, buf);
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){
                             .status = UINT32_MAX, .body = buf, .body_len = n},
                         &frame, &frame_len),
                     0);
    ck_assert_uint_le(frame_len,
                      l.response_bytes_max[P2P_ROUTE_ARTIFACT_UPDATE]);
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);

    uint8_t id[32] = {0};
    P2p__V1__FetchRequest fetch = P2P__V1__FETCH_REQUEST__INIT;
    fetch.id.data = id;
    fetch.id.len = sizeof(id);
    n = p2p__v1__fetch_request__pack(&fetch, buf);
    ck_assert_int_eq(
        p2p_frame_request_encode(
            &mem, P2P_MEM_OTHER,
            &(struct p2p_frame_request){
                .route = P2P_ROUTE_ARTIFACT_RPC, .body = buf, .body_len = n},
            &frame, &frame_len),
        0);
    ck_assert_uint_le(frame_len, l.request_bytes_max[P2P_ROUTE_ARTIFACT_RPC]);
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* ---- round trips ---- */

static const struct {
    enum p2p_frame_mode mode;
    enum p2p_route route;
    uint32_t status;
    size_t body_len;
} round_trips[] = {
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 0, 0},
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 0, 5},
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 0, MIB},
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_RPC, 0, 0},
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_RPC, 0, 34},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_UPDATE, 200, 0},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_UPDATE, 400, 22},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, 204, 0},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, 200, 5},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, 200, MIB},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, UINT32_MAX, 7},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, 0, 3}, /* status omitted */
};

/* protobuf-c, through the p2p_mem allocator, reads our envelope alike. */
static void check_with_protobuf_c(struct p2p_mem *mem, const struct msg *m,
                                  const uint8_t *body, size_t body_len)
{
    ProtobufCAllocator a;
    p2p_wire_allocator(mem, &a);
    if (m->mode == P2P_FRAME_REQUEST) {
        P2p__V1__Request *req = p2p__v1__request__unpack(&a, m->len, m->bytes);
        ck_assert_ptr_nonnull(req);
        ck_assert_str_eq(req->path, p2p_route_path(m->route));
        ck_assert_uint_eq(req->body.len, body_len);
        ck_assert(body_len == 0 || memcmp(req->body.data, body, body_len) == 0);
        ck_assert_uint_gt(mem->module_bytes[P2P_MEM_WIRE], 0);
        p2p__v1__request__free_unpacked(req, &a);
    } else {
        P2p__V1__Response *resp =
            p2p__v1__response__unpack(&a, m->len, m->bytes);
        ck_assert_ptr_nonnull(resp);
        ck_assert_uint_eq(resp->status, m->status);
        ck_assert_uint_eq(resp->body.len, body_len);
        p2p__v1__response__free_unpacked(resp, &a);
    }
    ck_assert_uint_eq(mem->module_bytes[P2P_MEM_WIRE], 0);
}

START_TEST(round_trip)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    uint8_t *body = pattern(round_trips[_i].body_len, (uint64_t)_i);
    struct msg m;
    msg_make(&mem, round_trips[_i].mode, round_trips[_i].route,
             round_trips[_i].status, body, round_trips[_i].body_len, &m);
    check_with_protobuf_c(&mem, &m, body, round_trips[_i].body_len);
    if (m.mode == P2P_FRAME_REQUEST) /* the path leads the stream */
        ck_assert_uint_eq(m.bytes[0], 0x0a);
    free(body);

    struct outcome got = msg_read(&mem, &l, &m, ONE_PIECE);
    assert_same(&got, &m.want);
    got = msg_read(&mem, &l, &m, 4096);
    assert_same(&got, &m.want);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_STREAMS], 0);
    msg_free(&mem, &m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* ---- splits and truncations ---- */

static const struct {
    enum p2p_frame_mode mode;
    enum p2p_route route;
    uint32_t status;
    size_t body_len;
    size_t field_end; /* the one inner point between two fields */
} smalls[] = {
    /* tag, length, 16-byte path */
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 0, 20, 2 + 16},
    /* tag, length, 13-byte path */
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_RPC, 0, 34, 2 + 13},
    /* tag, two-byte varint 200 */
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, 200, 20, 3},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_UPDATE, 200, 22, 3},
};

static void small_msg(struct p2p_mem *mem, int i, struct msg *m)
{
    uint8_t *body = pattern(smalls[i].body_len, 100 + (uint64_t)i);
    msg_make(mem, smalls[i].mode, smalls[i].route, smalls[i].status, body,
             smalls[i].body_len, m);
    free(body);
}

START_TEST(every_split_point)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    struct msg m;
    small_msg(&mem, _i, &m);
    for (size_t cut = 0; cut <= m.len; cut++) {
        struct outcome got =
            read_split(&mem, &l, m.mode, m.route, m.bytes, m.len, cut);
        assert_same(&got, &m.want);
    }
    struct outcome got = msg_read(&mem, &l, &m, 1);
    assert_same(&got, &m.want);
    msg_free(&mem, &m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* A stream cut inside a field is TRUNCATED. A cut exactly between the two
 * fields leaves a shorter but valid envelope (protobuf has no end marker;
 * the FIN is the end), which must decode as exactly that: an empty body. */
START_TEST(every_truncation_point)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    struct msg m;
    small_msg(&mem, _i, &m);
    for (size_t k = 0; k < m.len; k++) {
        struct outcome byte_wise =
            read_steps(&mem, &l, m.mode, m.route, m.bytes, k, 1);
        struct outcome got =
            read_steps(&mem, &l, m.mode, m.route, m.bytes, k, ONE_PIECE);
        assert_same(&got, &byte_wise);
        if (k != smalls[_i].field_end) {
            ck_assert_msg(got.rc == P2P_ERR_TRUNCATED, "prefix %zu: rc %d", k,
                          got.rc);
            continue;
        }
        ck_assert_int_eq(got.rc, 0);
        ck_assert_uint_eq(got.body_len, 0);
        ck_assert_uint_ne(got.body_len, m.want.body_len);
    }
    msg_free(&mem, &m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* ---- limits ---- */

static const struct {
    enum p2p_frame_mode mode;
    enum p2p_route route;
    size_t limit; /* 0: the default limit */
} limit_cases[] = {
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 1000},
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_RPC, 1000},
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_RPC, 0},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_UPDATE, 1000},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_UPDATE, 0},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, 1000},
    {P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 70000},
    {P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, 70000},
};

START_TEST(limit_is_inclusive)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    if (limit_cases[_i].limit != 0)
        limits_all(&l, limit_cases[_i].limit);
    enum p2p_route route = limit_cases[_i].route;
    size_t limit = limit_cases[_i].mode == P2P_FRAME_REQUEST
                       ? l.request_bytes_max[route]
                       : l.response_bytes_max[route];
    struct msg at, over;
    msg_sized(&mem, limit_cases[_i].mode, route, limit, &at);
    msg_sized(&mem, limit_cases[_i].mode, route, limit + 1, &over);

    struct outcome got = msg_read(&mem, &l, &at, ONE_PIECE);
    assert_same(&got, &at.want);
    ck_assert_uint_le(got.buffered_max, limit);
    got = msg_read(&mem, &l, &at, 1);
    assert_same(&got, &at.want);
    ck_assert_uint_le(got.buffered_max, limit);

    /* One byte too many: refused as it arrives, and not buffered. */
    size_t held_max = limit_cases[_i].mode == P2P_FRAME_REQUEST
                          ? P2P_FRAME_PREFIX_BYTES_MAX
                          : 0;
    got = msg_read(&mem, &l, &over, ONE_PIECE);
    ck_assert_int_eq(got.rc, P2P_ERR_OVERSIZE);
    ck_assert_uint_le(got.buffered_max, held_max);
    got = msg_read(&mem, &l, &over, 1);
    ck_assert_int_eq(got.rc, P2P_ERR_OVERSIZE);
    ck_assert_uint_le(got.buffered_max, limit);

    msg_free(&mem, &at);
    msg_free(&mem, &over);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* A body whose declared length passes the limit is refused by the feed
 * that completes the declaration, before any of its bytes arrive: fed one
 * byte at a time, nothing past the length header is buffered. */
START_TEST(oversize_detected_at_the_crossing_byte)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    limits_all(&l, 300);
    struct msg over;
    msg_sized(&mem, P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 301, &over);
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_REQUEST, &l, 0);
    size_t fed = 0;
    int rc = 0;
    while (rc == 0 && fed < over.len)
        rc = p2p_frame_reader_feed(&r, over.bytes + fed++, 1);
    ck_assert_int_eq(rc, P2P_ERR_OVERSIZE);
    /* The path field, then the body's tag and two length bytes. */
    ck_assert_uint_lt(fed, 300 - 256);
    ck_assert_uint_le(p2p_frame_reader_buffered(&r), P2P_FRAME_PREFIX_BYTES_MAX);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, over.bytes, 0), P2P_ERR_OVERSIZE);
    p2p_frame_reader_fini(&r);
    msg_free(&mem, &over);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* A route limit below the path's own size refuses every request on it. */
START_TEST(limit_smaller_than_the_path)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    l.request_bytes_max[P2P_ROUTE_ARTIFACT_RPC] = 10;
    struct msg m;
    msg_make(&mem, P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_RPC, 0, NULL, 0, &m);
    for (size_t step = 1; step <= m.len; step++) {
        struct outcome got = msg_read(&mem, &l, &m, step);
        ck_assert_int_eq(got.rc, P2P_ERR_OVERSIZE);
        ck_assert_uint_le(got.buffered_max, P2P_FRAME_PREFIX_BYTES_MAX);
    }
    msg_free(&mem, &m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Limits above the transport's cap are capped. The oversize feeds below
 * are refused before a byte is read, so a one-byte buffer backs them. */
START_TEST(limits_capped_at_message_max)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    limits_all(&l, SIZE_MAX);
    uint8_t one = 0x08;
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_RESPONSE, &l,
                          P2P_ROUTE_ARTIFACT_RPC);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, &one,
                                           P2P_FRAME_MESSAGE_BYTES_MAX + 1u),
                     P2P_ERR_OVERSIZE);
    ck_assert_uint_eq(p2p_frame_reader_buffered(&r), 0);
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* The encoder refuses envelopes past 128 MiB and accepts one exactly at
 * it, which the default rpc response limit then reads. */
START_TEST(encode_message_max_boundary)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *frame = NULL, small = 0;
    size_t frame_len = 0;
    /* status 0 is omitted; the body field costs 1 + 4 (varint) bytes. */
    size_t at_max = P2P_FRAME_MESSAGE_BYTES_MAX - 5;
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){.status = 0,
                                                      .body = &small,
                                                      .body_len = at_max + 1},
                         &frame, &frame_len),
                     P2P_ERR_OVERSIZE);
    ck_assert_int_eq(
        p2p_frame_request_encode(&mem, P2P_MEM_OTHER,
                                 &(struct p2p_frame_request){
                                     .route = P2P_ROUTE_ARTIFACT_UPDATE,
                                     .body = &small,
                                     .body_len = P2P_FRAME_MESSAGE_BYTES_MAX},
                                 &frame, &frame_len),
        P2P_ERR_OVERSIZE);
    ck_assert_int_eq(
        p2p_frame_request_encode(
            &mem, P2P_MEM_OTHER,
            &(struct p2p_frame_request){.route = P2P_ROUTE_ARTIFACT_UPDATE,
                                        .body = &small,
                                        .body_len = SIZE_MAX},
            &frame, &frame_len),
        P2P_ERR_OVERSIZE);
    ck_assert_ptr_null(frame);
    ck_assert_uint_eq(mem.bytes, 0);

    uint8_t *body = calloc(at_max, 1);
    ck_assert_ptr_nonnull(body);
    body[at_max - 1] = 0x5a;
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){
                             .status = 0, .body = body, .body_len = at_max},
                         &frame, &frame_len),
                     0);
    ck_assert_uint_eq(frame_len, P2P_FRAME_MESSAGE_BYTES_MAX);
    free(body);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    struct outcome got = read_steps(&mem, &l, P2P_FRAME_RESPONSE,
                                    P2P_ROUTE_ARTIFACT_RPC, frame, frame_len,
                                    ONE_PIECE);
    ck_assert_int_eq(got.rc, 0);
    ck_assert_uint_eq(got.body_len, at_max);
    ck_assert_uint_eq(got.buffered_max, P2P_FRAME_MESSAGE_BYTES_MAX);
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* ---- malformed input, table-driven ---- */

#define PATH_RPC "\x0a\x0d/artifact/rpc"
#define PATH_UPDATE "\x0a\x10/artifact/update"
#define PATH_64 "0123456789012345678901234567890123456789012345678901234567890123"

static const struct {
    const char *name;
    enum p2p_frame_mode mode;
    const char *bytes;
    size_t len;
    int rc;           /* expected first error, or 0 */
    uint32_t status;  /* when rc == 0 */
    size_t body_len;  /* when rc == 0 */
} bad_cases[] = {
#define REQ(name, s, rc, body_len)                                            \
    {name, P2P_FRAME_REQUEST, s, sizeof(s) - 1, rc, 0, body_len}
#define RESP(name, s, rc, status, body_len)                                   \
    {name, P2P_FRAME_RESPONSE, s, sizeof(s) - 1, rc, status, body_len}
    REQ("empty request", "", P2P_ERR_TRUNCATED, 0),
    REQ("path only", PATH_RPC, 0, 0),
    REQ("body first", "\x12\x01" "A" PATH_RPC, P2P_ERR_DECODE, 0),
    REQ("varint field 1 first", "\x08\x01", P2P_ERR_DECODE, 0),
    REQ("unknown field first", "\x18\x01" PATH_RPC, P2P_ERR_DECODE, 0),
    REQ("field 0 first", "\x02\x00", P2P_ERR_DECODE, 0),
    REQ("path 65 bytes", "\x0a\x41" PATH_64 "x", P2P_ERR_OVERSIZE, 0),
    REQ("path length huge", "\x0a\xff\xff\xff\xff\x0f", P2P_ERR_OVERSIZE, 0),
    REQ("path 64 bytes unknown", "\x0a\x40" PATH_64, P2P_ERR_NO_ROUTE, 0),
    REQ("unknown path", "\x0a\x0d/artifact/foo", P2P_ERR_NO_ROUTE, 0),
    REQ("empty path", "\x0a\x00\x12\x00", P2P_ERR_NO_ROUTE, 0),
    REQ("path cut", "\x0a\x0d/artifact", P2P_ERR_TRUNCATED, 0),
    REQ("tag 6 bytes", "\x8a\x80\x80\x80\x80\x00", P2P_ERR_DECODE, 0),
    REQ("length 6 bytes", "\x0a\x8d\x80\x80\x80\x80\x00", P2P_ERR_DECODE, 0),
    REQ("non-minimal tag and length", "\x8a\x00\x8d\x80\x00/artifact/rpc"
        "\x12\x01" "A", 0, 1),
    REQ("second path", PATH_RPC PATH_RPC, P2P_ERR_DECODE, 0),
    REQ("second path, other route", PATH_RPC PATH_UPDATE, P2P_ERR_DECODE, 0),
    REQ("body cut", PATH_RPC "\x12\x02" "A", P2P_ERR_TRUNCATED, 0),
    REQ("body as varint", PATH_RPC "\x10\x01", P2P_ERR_DECODE, 0),
    REQ("group field", PATH_RPC "\x13", P2P_ERR_DECODE, 0),
    REQ("wire type 6", PATH_RPC "\x1e", P2P_ERR_DECODE, 0),
    REQ("wire type 7", PATH_RPC "\x1f", P2P_ERR_DECODE, 0),
    REQ("trailing field 0", PATH_RPC "\x12\x01" "A" "\x00", P2P_ERR_DECODE, 0),
    REQ("trailing cut tag", PATH_RPC "\xff", P2P_ERR_TRUNCATED, 0),
    REQ("unknown fields skipped", PATH_RPC "\x18\x01\x21" "12345678"
        "\x2d" "1234" "\x22\x02" "xy" "\x12\x01" "A", 0, 1),
    REQ("last body wins", PATH_RPC "\x12\x01" "A" "\x12\x02" "BC", 0, 2),
    REQ("fixed64 cut", PATH_RPC "\x21" "1234567", P2P_ERR_TRUNCATED, 0),
    RESP("empty response", "", P2P_ERR_TRUNCATED, 0, 0),
    RESP("status only", "\x08\xc8\x01", 0, 200, 0),
    RESP("body only", "\x12\x01" "A", 0, 0, 1),
    RESP("body then status", "\x12\x01" "A" "\x08\xcc\x01", 0, 204, 1),
    RESP("tag only", "\x08", P2P_ERR_TRUNCATED, 0, 0),
    RESP("status cut", "\x08\xc8", P2P_ERR_TRUNCATED, 0, 0),
    RESP("status 10 bytes", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 0,
         UINT32_MAX, 0),
    RESP("status past 64 bits", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",
         P2P_ERR_DECODE, 0, 0),
    RESP("status 11 bytes",
         "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", P2P_ERR_DECODE,
         0, 0),
    RESP("status as bytes", "\x0a\x00", P2P_ERR_DECODE, 0, 0),
    RESP("body as varint", "\x10\x01", P2P_ERR_DECODE, 0, 0),
    RESP("field 0", "\x00", P2P_ERR_DECODE, 0, 0),
    RESP("group end", "\x08\xc8\x01\x0c", P2P_ERR_DECODE, 0, 0),
    RESP("tag past 32 bits", "\xf8\xff\xff\xff\x7f\x00", P2P_ERR_DECODE, 0, 0),
    RESP("length past 32 bits", "\x12\xff\xff\xff\xff\x1f", P2P_ERR_DECODE, 0,
         0),
    /* Declares 4 GiB: refused from the declaration, before any body. */
    RESP("length beyond the limit", "\x12\xff\xff\xff\xff\x0f",
         P2P_ERR_OVERSIZE, 0, 0),
    RESP("length beyond the bytes", "\x12\x05" "ab", P2P_ERR_TRUNCATED, 0, 0),
    RESP("unknown fields skipped", "\x18\x05\x12\x01" "A" "\x25" "1234"
         "\x08\xc8\x01", 0, 200, 1),
#undef REQ
#undef RESP
};

START_TEST(malformed_input)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    const uint8_t *b = (const uint8_t *)bad_cases[_i].bytes;
    size_t n = bad_cases[_i].len;
    struct outcome whole = read_steps(&mem, &l, bad_cases[_i].mode,
                                      P2P_ROUTE_ARTIFACT_RPC, b, n, ONE_PIECE);
    struct outcome bytes = read_steps(&mem, &l, bad_cases[_i].mode,
                                      P2P_ROUTE_ARTIFACT_RPC, b, n, 1);
    ck_assert_msg(whole.rc == bad_cases[_i].rc, "%s: rc %d (%s)",
                  bad_cases[_i].name, whole.rc, p2p_strerror(whole.rc));
    assert_same(&whole, &bytes);
    ck_assert_uint_le(bytes.buffered_max, 256);
    if (whole.rc == 0) {
        ck_assert_uint_eq(whole.status, bad_cases[_i].status);
        ck_assert_uint_eq(whole.body_len, bad_cases[_i].body_len);
    }
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* ---- reader states and arguments ---- */

START_TEST(error_state_is_sticky)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    static const uint8_t bad[] = {0x12, 0x00};
    static const uint8_t good[] = PATH_RPC;
    struct p2p_frame_reader r;
    struct p2p_frame f;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_REQUEST, &l, 0);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, bad, sizeof(bad)),
                     P2P_ERR_DECODE);
    size_t held = p2p_frame_reader_buffered(&r);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, good, sizeof(good) - 1),
                     P2P_ERR_DECODE);
    ck_assert_uint_eq(p2p_frame_reader_buffered(&r), held);
    ck_assert_int_eq(p2p_frame_reader_finish(&r, &f), P2P_ERR_DECODE);
    p2p_frame_reader_fini(&r);
    p2p_frame_reader_fini(&r); /* twice is fine */
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(finish_is_repeatable_and_ends_feeding)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    static const uint8_t msg[] = PATH_RPC "\x12\x02" "ab";
    struct p2p_frame_reader r;
    struct p2p_frame f1, f2;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_REQUEST, &l, 0);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, msg, sizeof(msg) - 1), 0);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_STREAMS],
                      p2p_frame_reader_buffered(&r));
    ck_assert_int_eq(p2p_frame_reader_finish(&r, &f1), 0);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, msg, 1), P2P_ERR_STATE);
    ck_assert_int_eq(p2p_frame_reader_finish(&r, &f2), 0);
    ck_assert_ptr_eq(f1.body, f2.body);
    ck_assert_uint_eq(f2.body_len, 2);
    ck_assert_mem_eq(f2.body, "ab", 2);
    ck_assert_int_eq(f2.route, P2P_ROUTE_ARTIFACT_RPC);
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(invalid_arguments_are_errors)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    struct p2p_frame_reader r;
    struct p2p_frame f;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_RESPONSE, &l, P2P_ROUTES_COUNT);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, NULL, 0), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_frame_reader_finish(&r, &f), P2P_ERR_INVALID_ARG);
    p2p_frame_reader_fini(&r);
    p2p_frame_reader_init(&r, &mem, (enum p2p_frame_mode)7, &l, 0);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, NULL, 0), P2P_ERR_INVALID_ARG);
    p2p_frame_reader_fini(&r);
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_REQUEST, &l, 0);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, NULL, 0), 0);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, NULL, 3), P2P_ERR_INVALID_ARG);
    p2p_frame_reader_fini(&r);

    uint8_t *out = NULL;
    size_t out_len = 0;
    ck_assert_int_eq(p2p_frame_request_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_request){.route = P2P_ROUTES_COUNT,
                                                     .body = NULL,
                                                     .body_len = 0},
                         &out, &out_len),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(
        p2p_frame_request_encode(
            &mem, P2P_MEM_OTHER,
            &(struct p2p_frame_request){
                .route = P2P_ROUTE_ARTIFACT_RPC, .body = NULL, .body_len = 3},
            &out, &out_len),
        P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){
                             .status = 200, .body = NULL, .body_len = 3},
                         &out, &out_len),
                     P2P_ERR_INVALID_ARG);
    ck_assert_ptr_null(out);
    /* An all-default response is zero bytes, which no reader accepts. */
    ck_assert_int_eq(
        p2p_frame_response_encode(&mem, P2P_MEM_OTHER,
                                  &(struct p2p_frame_response){
                                      .status = 0, .body = NULL, .body_len = 0},
                                  &out, &out_len),
        0);
    ck_assert_uint_eq(out_len, 0);
    struct outcome got = read_steps(&mem, &l, P2P_FRAME_RESPONSE,
                                    P2P_ROUTE_ARTIFACT_RPC, out, out_len, 1);
    ck_assert_int_eq(got.rc, P2P_ERR_TRUNCATED);
    p2p_mem_free(&mem, P2P_MEM_OTHER, out);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* ---- memory ---- */

/* The buffer doubles, so a 1 MiB body costs O(log n) reallocations, and
 * it never holds more than twice what arrived (nor more than the limit). */
START_TEST(buffer_grows_geometrically_within_the_limit)
{
    struct p2p_mem mem, enc;
    p2p_mem_init(&mem);
    p2p_mem_init(&enc);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    l.request_bytes_max[P2P_ROUTE_ARTIFACT_UPDATE] = MIB + 64;
    uint8_t *body = pattern(MIB, 3);
    struct msg m;
    msg_make(&enc, P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 0, body, MIB,
             &m);
    free(body);
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_REQUEST, &l, 0);
    for (size_t at = 0; at < m.len; at += 1000) {
        size_t k = m.len - at < 1000 ? m.len - at : 1000;
        ck_assert_int_eq(p2p_frame_reader_feed(&r, m.bytes + at, k), 0);
        size_t held = p2p_frame_reader_buffered(&r);
        ck_assert_uint_le(held, 2 * (at + k) + 128);
        ck_assert_uint_le(held, MIB + 64);
        ck_assert_uint_eq(held, mem.module_bytes[P2P_MEM_STREAMS]);
    }
    ck_assert_uint_le(mem.allocs, 20);
    ck_assert_uint_eq(p2p_frame_reader_buffered(&r), MIB + 64); /* capped */
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(mem.bytes, 0);
    msg_free(&enc, &m);
    ck_assert_uint_eq(enc.bytes, 0);
}
END_TEST

START_TEST(wire_allocator_charges_wire_module)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    ProtobufCAllocator a;
    p2p_wire_allocator(&mem, &a);
    ck_assert_ptr_eq(a.allocator_data, &mem);
    void *zero = a.alloc(a.allocator_data, 0);
    ck_assert_ptr_nonnull(zero);
    void *some = a.alloc(a.allocator_data, 100);
    ck_assert_ptr_nonnull(some);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_WIRE], 101);
    a.free(a.allocator_data, zero);
    a.free(a.allocator_data, some);
    a.free(a.allocator_data, NULL);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Fails the N-th allocation for N = 1, 2, ... until nothing fails: every
 * failure is NOMEM, sticky, and leaks nothing. */
START_TEST(allocation_failures_leak_nothing)
{
    struct p2p_mem enc;
    p2p_mem_init(&enc);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    uint8_t *body = pattern(100000, 9);
    struct msg m;
    msg_make(&enc, P2P_FRAME_REQUEST, P2P_ROUTE_ARTIFACT_UPDATE, 0, body,
             100000, &m);

    struct p2p_mem mem;
    p2p_mem_init(&mem);
    mem.fail_at = 1;
    uint8_t *out = NULL;
    size_t out_len = 0;
    ck_assert_int_eq(
        p2p_frame_request_encode(
            &mem, P2P_MEM_OTHER,
            &(struct p2p_frame_request){.route = P2P_ROUTE_ARTIFACT_UPDATE,
                                        .body = body,
                                        .body_len = 100000},
            &out, &out_len),
        P2P_ERR_NOMEM);
    mem.fail_at = mem.allocs + 1;
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){
                             .status = 200, .body = body, .body_len = 10},
                         &out, &out_len),
                     P2P_ERR_NOMEM);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(mem.bytes, 0);
    free(body);

    uint64_t n;
    for (n = 1; n < 64; n++) {
        p2p_mem_init(&mem);
        mem.fail_at = n;
        struct outcome got = msg_read(&mem, &l, &m, 777);
        ck_assert_uint_eq(mem.bytes, 0);
        if (got.rc == 0) {
            assert_same(&got, &m.want);
            break;
        }
        ck_assert_int_eq(got.rc, P2P_ERR_NOMEM);
    }
    ck_assert_uint_gt(n, 3); /* several growth steps were failed */
    ck_assert_uint_lt(n, 64);

    /* protobuf-c through the wire allocator fails cleanly too. */
    ProtobufCAllocator a;
    for (n = 1; n < 64; n++) {
        p2p_mem_init(&mem);
        mem.fail_at = n;
        p2p_wire_allocator(&mem, &a);
        P2p__V1__Request *req = p2p__v1__request__unpack(&a, m.len, m.bytes);
        if (req != NULL) {
            p2p__v1__request__free_unpacked(req, &a);
            ck_assert_uint_eq(mem.bytes, 0);
            break;
        }
        ck_assert_uint_eq(mem.bytes, 0);
    }
    ck_assert_uint_gt(n, 1);
    ck_assert_uint_lt(n, 64);
    msg_free(&enc, &m);
    ck_assert_uint_eq(enc.bytes, 0);
}
END_TEST

/* ---- garbage ---- */

/* What protobuf-c makes of bytes our reader accepted: it must agree. */
static void agree_with_protobuf_c(enum p2p_frame_mode mode, const uint8_t *b,
                                  size_t n, const struct outcome *ours)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    ProtobufCAllocator a;
    p2p_wire_allocator(&mem, &a);
    if (mode == P2P_FRAME_REQUEST) {
        P2p__V1__Request *req = p2p__v1__request__unpack(&a, n, b);
        ck_assert_ptr_nonnull(req);
        ck_assert_str_eq(req->path, p2p_route_path(ours->route));
        ck_assert_uint_eq(req->body.len, ours->body_len);
        ck_assert_uint_eq(fnv1a(req->body.data, req->body.len),
                          ours->body_hash);
        p2p__v1__request__free_unpacked(req, &a);
    } else {
        P2p__V1__Response *resp = p2p__v1__response__unpack(&a, n, b);
        ck_assert_ptr_nonnull(resp);
        ck_assert_uint_eq(resp->status, ours->status);
        ck_assert_uint_eq(resp->body.len, ours->body_len);
        ck_assert_uint_eq(fnv1a(resp->body.data, resp->body.len),
                          ours->body_hash);
        p2p__v1__response__free_unpacked(resp, &a);
    }
    ck_assert_uint_eq(mem.bytes, 0);
}

/* Reads b in random pieces and all at once in both modes: no crash, the
 * same answer both ways, no leak, and protobuf-c agrees with every
 * acceptance. Returns how many of the two modes accepted. */
static int read_garbage(struct p2p_rng *rng, const uint8_t *b, size_t n)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits l;
    limits_all(&l, 200);
    int accepted = 0;
    for (int mode = P2P_FRAME_REQUEST; mode <= P2P_FRAME_RESPONSE; mode++) {
        size_t step = 1 + (size_t)p2p_rng_below(rng, 16);
        struct outcome whole = read_steps(&mem, &l, mode,
                                          P2P_ROUTE_ARTIFACT_RPC, b, n,
                                          ONE_PIECE);
        struct outcome pieces =
            read_steps(&mem, &l, mode, P2P_ROUTE_ARTIFACT_RPC, b, n, step);
        assert_same(&whole, &pieces);
        ck_assert(whole.rc <= 0 && whole.rc > P2P_ERR_FATAL);
        ck_assert_uint_eq(mem.bytes, 0);
        if (whole.rc == 0) {
            agree_with_protobuf_c(mode, b, n, &whole);
            accepted++;
        }
    }
    return accepted;
}

START_TEST(random_garbage_never_crashes)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, 20240601, 7);
    uint8_t b[300];
    static const uint8_t prefix[] = PATH_RPC;
    for (int i = 0; i < 400; i++) {
        size_t n = (size_t)p2p_rng_below(&rng, sizeof(b));
        for (size_t k = 0; k < n; k++)
            b[k] = (uint8_t)p2p_rng_u32(&rng);
        /* Half start with a valid path, to reach the body decoder. */
        if (i % 2 == 1 && n >= sizeof(prefix) - 1)
            memcpy(b, prefix, sizeof(prefix) - 1);
        read_garbage(&rng, b, n);
    }
}
END_TEST

/* Valid envelopes with one to three bytes changed: near misses reach every
 * branch of the decoder. */
START_TEST(mutated_envelopes_never_crash)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, 42, 9);
    struct p2p_mem enc;
    p2p_mem_init(&enc);
    struct msg m[4];
    for (int i = 0; i < 4; i++)
        small_msg(&enc, i, &m[i]);
    int accepted = 0;
    uint8_t b[128];
    for (int i = 0; i < 600; i++) {
        const struct msg *src = &m[i % 4];
        ck_assert_uint_le(src->len, sizeof(b));
        memcpy(b, src->bytes, src->len);
        unsigned flips = 1 + (unsigned)p2p_rng_below(&rng, 3);
        for (unsigned k = 0; k < flips; k++)
            b[p2p_rng_below(&rng, src->len)] = (uint8_t)p2p_rng_u32(&rng);
        size_t n = src->len - (size_t)p2p_rng_below(&rng, 3);
        accepted += read_garbage(&rng, b, n);
    }
    ck_assert_int_gt(accepted, 0); /* some mutants stay valid */
    for (int i = 0; i < 4; i++)
        msg_free(&enc, &m[i]);
    ck_assert_uint_eq(enc.bytes, 0);
}
END_TEST

/* ---- suite ---- */

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *framing_suite(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("routes");
    tcase_add_test(tc, route_table_round_trips);
    tcase_add_test(tc, route_lookup_rejects_near_misses);
    tcase_add_test(tc, default_limits_fit_their_messages);
    suite_add_tcase(s, tc);

    tc = tcase_create("envelopes");
    tcase_add_loop_test(tc, round_trip, 0, COUNT(round_trips));
    tcase_add_loop_test(tc, every_split_point, 0, COUNT(smalls));
    tcase_add_loop_test(tc, every_truncation_point, 0, COUNT(smalls));
    tcase_add_loop_test(tc, malformed_input, 0, COUNT(bad_cases));
    tcase_add_test(tc, error_state_is_sticky);
    tcase_add_test(tc, finish_is_repeatable_and_ends_feeding);
    tcase_add_test(tc, invalid_arguments_are_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_loop_test(tc, limit_is_inclusive, 0, COUNT(limit_cases));
    tcase_add_test(tc, oversize_detected_at_the_crossing_byte);
    tcase_add_test(tc, limit_smaller_than_the_path);
    tcase_add_test(tc, limits_capped_at_message_max);
    tcase_add_test(tc, encode_message_max_boundary);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_test(tc, buffer_grows_geometrically_within_the_limit);
    tcase_add_test(tc, wire_allocator_charges_wire_module);
    tcase_add_test(tc, allocation_failures_leak_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("garbage");
    tcase_add_test(tc, random_garbage_never_crashes);
    tcase_add_test(tc, mutated_envelopes_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(framing_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
