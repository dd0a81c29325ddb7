/* Byzantine forgeries: every forged message is judged by the real reader,
 * protobuf-c and, end to end, a real node, never by re-reading the
 * forger's own assumptions. Every scratch p2p_mem must be back to zero
 * bytes at the end of its test. */
#include "harness.h"

#include <stdint.h>

#include "core/rng.h"
#include "core/wire_pack.h"
#include "sim/byzantine_forge.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MIB ((size_t)1 << 20)
#define GARBAGE_SEEDS 1000

/* ---- helpers ---- */

/* n pseudo-random bytes from seed; free with free(). */
static uint8_t *pattern(size_t n, uint64_t seed)
{
    uint8_t *b = malloc(n != 0 ? n : 1);
    ck_assert_ptr_nonnull(b);
    struct p2p_rng rng;
    p2p_rng_init(&rng, seed, 3);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)p2p_rng_u32(&rng);
    return b;
}

/* What a reader made of some bytes. */
struct verdict {
    int feed_rc;   /* first failing feed, or 0 */
    int finish_rc; /* finish after the feeds (the sticky error if one) */
    size_t buffered_max;
};

/* Feeds b[0..n) in pieces of step bytes (0: one piece) to a fresh reader,
 * stopping at the first error, then ends the stream. */
static struct verdict judge(const struct p2p_route_limits *l,
                            enum p2p_frame_mode mode, enum p2p_route route,
                            const uint8_t *b, size_t n, size_t step)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, mode, l, route);
    struct verdict v = {0};
    if (step == 0)
        step = n != 0 ? n : 1;
    for (size_t at = 0; at < n && v.feed_rc == 0; at += step) {
        size_t k = n - at < step ? n - at : step;
        v.feed_rc = p2p_frame_reader_feed(&r, b + at, k);
        size_t buffered = p2p_frame_reader_buffered(&r);
        if (buffered > v.buffered_max)
            v.buffered_max = buffered;
    }
    struct p2p_frame f;
    v.finish_rc = p2p_frame_reader_finish(&r, &f);
    if (v.feed_rc != 0)
        ck_assert_int_eq(v.finish_rc, v.feed_rc); /* sticky */
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(mem.bytes, 0);
    return v;
}

/* Decodes a complete envelope; copies its body to *body (free()). */
static struct p2p_frame decode(enum p2p_frame_mode mode, const uint8_t *b,
                               size_t n, uint8_t **body)
{
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, mode, &l, P2P_ROUTE_ARTIFACT_RPC);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, b, n), 0);
    struct p2p_frame f;
    ck_assert_int_eq(p2p_frame_reader_finish(&r, &f), 0);
    *body = malloc(f.body_len != 0 ? f.body_len : 1);
    ck_assert_ptr_nonnull(*body);
    memcpy(*body, f.body, f.body_len);
    f.body = *body;
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(mem.bytes, 0);
    return f;
}

/* Positions at which a[0..n) and b[0..n) differ; the last one in *at. */
static size_t differing(const uint8_t *a, const uint8_t *b, size_t n,
                        size_t *at)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            d++;
            *at = i;
        }
    }
    return d;
}

/* Reads a varint from p[0..n); returns its bytes (0 if malformed). */
static size_t get_varint(const uint8_t *p, size_t n, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        *v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0)
            return i + 1;
    }
    return 0;
}

static void limits_all(struct p2p_route_limits *l, size_t bytes)
{
    for (unsigned r = 0; r < P2P_ROUTES_COUNT; r++) {
        l->request_bytes_max[r] = bytes;
        l->response_bytes_max[r] = bytes;
    }
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* ---- garbage ---- */

/* Lengths at and around the reader's boundaries: one byte, the prefix
 * cap (74), the ack limit (256), the maximum. */
static const size_t garbage_lens[] = {
    1, 2, 5, 10, P2P_FRAME_PREFIX_BYTES_MAX, P2P_FRAME_PREFIX_BYTES_MAX + 1,
    P2P_FRAME_ACK_BYTES_MAX, P2P_FRAME_ACK_BYTES_MAX + 1,
    SIM_FORGE_GARBAGE_BYTES_MAX - 1, SIM_FORGE_GARBAGE_BYTES_MAX,
};

/* Every seed's garbage is refused: by a request reader at the first feed
 * (whole or a byte at a time), by response readers at the end, and by
 * protobuf-c. Not "likely": each of 1000 seeds. */
START_TEST(garbage_is_always_refused)
{
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    struct p2p_rng lens;
    p2p_rng_init(&lens, 7, 7);
    bool first_bytes[256] = {false};
    for (uint64_t seed = 0; seed < GARBAGE_SEEDS; seed++) {
        size_t n = seed % 2 == 0
                       ? garbage_lens[(seed / 2) % COUNT(garbage_lens)]
                       : 1 + (size_t)p2p_rng_below(&lens, 4096);
        struct p2p_rng rng;
        p2p_rng_init(&rng, seed, 11);
        uint8_t *g;
        ck_assert_int_eq(sim_byzantine_forge_garbage(&rng, n, &g), 0);
        first_bytes[g[0]] = true;

        struct verdict v = judge(&l, P2P_FRAME_REQUEST, 0, g, n, 0);
        ck_assert_msg(v.feed_rc == P2P_ERR_DECODE,
                      "seed %llu len %zu: request feed gave %d",
                      (unsigned long long)seed, n, v.feed_rc);
        v = judge(&l, P2P_FRAME_REQUEST, 0, g, n, 1);
        ck_assert_int_eq(v.feed_rc, P2P_ERR_DECODE);

        v = judge(&l, P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, g, n, 0);
        ck_assert_int_eq(v.feed_rc, 0);
        ck_assert_int_eq(v.finish_rc, P2P_ERR_DECODE);
        /* The ack route's small limit refuses long garbage sooner. */
        v = judge(&l, P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_UPDATE, g, n, 0);
        ck_assert_int_eq(v.finish_rc, n > P2P_FRAME_ACK_BYTES_MAX
                                          ? P2P_ERR_OVERSIZE
                                          : P2P_ERR_DECODE);

        ck_assert_ptr_null(p2p__v1__request__unpack(NULL, n, g));
        ck_assert_ptr_null(p2p__v1__response__unpack(NULL, n, g));
        free(g);
    }
    /* Every undefined one-byte tag is drawn, and nothing else leads. */
    int leads = 0;
    for (int b = 0; b < 256; b++) {
        if (!first_bytes[b])
            continue;
        leads++;
        ck_assert_int_lt(b, 0x80);
        ck_assert_int_ge(b & 7, 6);
    }
    ck_assert_int_eq(leads, 32);
}
END_TEST

START_TEST(garbage_length_is_bounded)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, 1, 1);
    uint8_t sentinel = 0, *g = &sentinel;
    static const size_t bad[] = {0, SIM_FORGE_GARBAGE_BYTES_MAX + 1, SIZE_MAX};
    for (int i = 0; i < COUNT(bad); i++) {
        ck_assert_int_eq(sim_byzantine_forge_garbage(&rng, bad[i], &g),
                         P2P_ERR_INVALID_ARG);
        ck_assert_ptr_eq(g, &sentinel); /* untouched */
    }
    ck_assert_int_eq(sim_byzantine_forge_garbage(NULL, 1, &g),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_byzantine_forge_garbage(&rng, 1, NULL),
                     P2P_ERR_INVALID_ARG);
    ck_assert_ptr_eq(g, &sentinel);
    ck_assert_int_eq(
        sim_byzantine_forge_garbage(&rng, SIM_FORGE_GARBAGE_BYTES_MAX, &g), 0);
    free(g);
}
END_TEST

/* Same seed, same bytes; the rng is the only source of variety. */
START_TEST(garbage_is_deterministic)
{
    uint8_t *a, *b, *c;
    struct p2p_rng r1, r2, r3;
    p2p_rng_init(&r1, 99, 5);
    p2p_rng_init(&r2, 99, 5);
    p2p_rng_init(&r3, 100, 5);
    ck_assert_int_eq(sim_byzantine_forge_garbage(&r1, 1000, &a), 0);
    ck_assert_int_eq(sim_byzantine_forge_garbage(&r2, 1000, &b), 0);
    ck_assert_int_eq(sim_byzantine_forge_garbage(&r3, 1000, &c), 0);
    ck_assert_mem_eq(a, b, 1000);
    ck_assert_int_ne(memcmp(a, c, 1000), 0);
    ck_assert_uint_eq(r1.state, r2.state); /* equal draws */
    free(a);
    free(b);
    free(c);
}
END_TEST

/* ---- oversize ---- */

/* Request limits to forge against (0: the defaults). 1 is below the path
 * itself; the last is above the message cap, so the cap applies. */
static const size_t oversize_limits[] = {
    0, 1, 20, 300, 4096, 2 * (size_t)P2P_FRAME_MESSAGE_BYTES_MAX,
};

static void oversize_limits_at(int i, struct p2p_route_limits *l)
{
    p2p_route_limits_default(l);
    if (oversize_limits[i] != 0)
        limits_all(l, oversize_limits[i]);
}

/* The forged prefix is the honest path part, then the body field
 * declaring limit + 1 bytes; for small limits, exactly the first bytes an
 * honest encoder writes for a body of limit + 1 bytes. */
START_TEST(oversize_declares_limit_plus_one)
{
    struct p2p_route_limits l;
    oversize_limits_at(_i / P2P_ROUTES_COUNT, &l);
    enum p2p_route route = (enum p2p_route)(_i % P2P_ROUTES_COUNT);
    size_t limit = min_size(l.request_bytes_max[route],
                            P2P_FRAME_MESSAGE_BYTES_MAX);
    uint8_t *b;
    size_t n;
    ck_assert_int_eq(sim_byzantine_forge_oversize(route, &l, 5, &b, &n), 0);

    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *path;
    size_t path_len;
    ck_assert_int_eq(p2p_frame_request_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_request){
                             .route = route, .body = NULL, .body_len = 0},
                         &path, &path_len),
                     0);
    ck_assert_uint_gt(n, path_len + 2);
    ck_assert_mem_eq(b, path, path_len);
    ck_assert_uint_eq(b[path_len], (2 << 3) | 2); /* field 2, bytes */
    uint64_t declared;
    size_t used = get_varint(b + path_len + 1, n - path_len - 1, &declared);
    ck_assert_uint_gt(used, 0);
    ck_assert_uint_eq(declared, (uint64_t)limit + 1);
    ck_assert_uint_eq(n, path_len + 1 + used + 5); /* then the filler */
    for (size_t i = path_len + 1 + used; i < n; i++)
        ck_assert_uint_eq(b[i], 0);
    p2p_mem_free(&mem, P2P_MEM_OTHER, path);

    if (limit + 1 <= 64 * 1024) {
        uint8_t *body = pattern(limit + 1, 1), *honest;
        size_t honest_len;
        ck_assert_int_eq(p2p_frame_request_encode(
                             &mem, P2P_MEM_OTHER,
                             &(struct p2p_frame_request){.route = route,
                                                         .body = body,
                                                         .body_len = limit + 1},
                             &honest, &honest_len),
                         0);
        ck_assert_uint_ge(honest_len, n - 5);
        ck_assert_mem_eq(b, honest, n - 5);
        p2p_mem_free(&mem, P2P_MEM_OTHER, honest);
        free(body);
    }
    ck_assert_uint_eq(mem.bytes, 0);
    free(b);
}
END_TEST

/* With the least filler that passes the limit, the reader says OVERSIZE
 * at the crossing feed, before the stream ends (fin false) and after it
 * (fin true), for every route, and never buffers past the limit. */
START_TEST(oversize_is_refused_once_past_the_limit)
{
    struct p2p_route_limits l;
    oversize_limits_at(_i / P2P_ROUTES_COUNT, &l);
    enum p2p_route route = (enum p2p_route)(_i % P2P_ROUTES_COUNT);
    size_t limit = min_size(l.request_bytes_max[route],
                            P2P_FRAME_MESSAGE_BYTES_MAX);
    size_t filler;
    ck_assert_int_eq(
        sim_byzantine_forge_oversize_filler_min(route, &l, &filler), 0);
    ck_assert_uint_le(filler, SIM_FORGE_FILLER_BYTES_MAX);
    uint8_t *b;
    size_t n;
    ck_assert_int_eq(sim_byzantine_forge_oversize(route, &l, filler, &b, &n),
                     0);
    ck_assert(n == limit + 1 || (filler == 0 && n > limit));

    /* One piece: nothing of the crossing feed is buffered. */
    struct verdict v = judge(&l, P2P_FRAME_REQUEST, 0, b, n, 0);
    ck_assert_int_eq(v.feed_rc, P2P_ERR_OVERSIZE);
    ck_assert_int_eq(v.finish_rc, P2P_ERR_OVERSIZE);
    ck_assert_uint_le(v.buffered_max, P2P_FRAME_PREFIX_BYTES_MAX);
    if (n <= MIB) {
        /* Trickled: refused at the byte that passes the limit. */
        v = judge(&l, P2P_FRAME_REQUEST, 0, b, n, 7);
        ck_assert_int_eq(v.feed_rc, P2P_ERR_OVERSIZE);
        ck_assert_uint_le(v.buffered_max,
                          limit > P2P_FRAME_PREFIX_BYTES_MAX
                              ? limit
                              : P2P_FRAME_PREFIX_BYTES_MAX);
    }
    free(b);
    /* More filler changes nothing. */
    ck_assert_int_eq(
        sim_byzantine_forge_oversize(route, &l, filler + 1, &b, &n), 0);
    ck_assert_int_eq(judge(&l, P2P_FRAME_REQUEST, 0, b, n, 0).feed_rc,
                     P2P_ERR_OVERSIZE);
    free(b);
}
END_TEST

/* Below the crossing (no filler, or a total of exactly the limit) the
 * envelope is still never accepted. Today's reader counts bytes received,
 * not lengths declared, so it takes the bytes and reports TRUNCATED at the
 * stream's end; one that checks the declared length would say OVERSIZE
 * at once. Either refuses; neither accepts. */
START_TEST(oversize_short_of_the_limit_is_never_accepted)
{
    struct p2p_route_limits l;
    oversize_limits_at(_i / P2P_ROUTES_COUNT, &l);
    enum p2p_route route = (enum p2p_route)(_i % P2P_ROUTES_COUNT);
    size_t crossing;
    ck_assert_int_eq(
        sim_byzantine_forge_oversize_filler_min(route, &l, &crossing), 0);
    size_t fillers[] = {0, 1, crossing - 1};
    int cases = crossing == 0 ? 0 : crossing <= MIB ? 3 : 2;
    for (int i = 0; i < cases && fillers[i] < crossing; i++) {
        uint8_t *b;
        size_t n;
        ck_assert_int_eq(
            sim_byzantine_forge_oversize(route, &l, fillers[i], &b, &n), 0);
        struct verdict v = judge(&l, P2P_FRAME_REQUEST, 0, b, n, 0);
        ck_assert_int_ne(v.finish_rc, 0);
        if (v.feed_rc != 0)
            ck_assert_int_eq(v.feed_rc, P2P_ERR_OVERSIZE);
        else
            ck_assert_int_eq(v.finish_rc, P2P_ERR_TRUNCATED);
        free(b);
    }
}
END_TEST

START_TEST(oversize_arguments_are_checked)
{
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    uint8_t sentinel = 0, *b = &sentinel;
    size_t n = 77, filler = 77;
    ck_assert_int_eq(
        sim_byzantine_forge_oversize(P2P_ROUTES_COUNT, &l, 0, &b, &n),
        P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(
        sim_byzantine_forge_oversize(P2P_ROUTE_ARTIFACT_RPC, NULL, 0, &b, &n),
        P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(
        sim_byzantine_forge_oversize(P2P_ROUTE_ARTIFACT_RPC, &l,
                                     SIM_FORGE_FILLER_BYTES_MAX + 1, &b, &n),
        P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(
        sim_byzantine_forge_oversize(P2P_ROUTE_ARTIFACT_RPC, &l, 0, NULL, &n),
        P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(
        sim_byzantine_forge_oversize(P2P_ROUTE_ARTIFACT_RPC, &l, 0, &b, NULL),
        P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(
        sim_byzantine_forge_oversize_filler_min(P2P_ROUTES_COUNT, &l, &filler),
        P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_byzantine_forge_oversize_filler_min(
                         P2P_ROUTE_ARTIFACT_RPC, NULL, &filler),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_byzantine_forge_oversize_filler_min(
                         P2P_ROUTE_ARTIFACT_RPC, &l, NULL),
                     P2P_ERR_INVALID_ARG);
    ck_assert_ptr_eq(b, &sentinel);
    ck_assert_uint_eq(n, 77);
    ck_assert_uint_eq(filler, 77);
    /* The maximum filler is allowed. */
    ck_assert_int_eq(sim_byzantine_forge_oversize(P2P_ROUTE_ARTIFACT_RPC, &l,
                                                  SIM_FORGE_FILLER_BYTES_MAX,
                                                  &b, &n),
                     0);
    ck_assert_uint_gt(n, SIM_FORGE_FILLER_BYTES_MAX);
    free(b);
}
END_TEST

/* ---- advert ---- */

static const struct advert_case {
    uint32_t slot;
    uint64_t commit_id;
    enum p2p_artifact_kind kind;
    uint64_t size;
    uint8_t id_fill;
} advert_cases[] = {
    {0, 0, P2P_KIND_ADVERT, 0, 0x00},
    {0, 1, P2P_KIND_PUSH, 1, 0xff},
    {1, 127, P2P_KIND_ADVERT, 128, 0x80},
    {4095, 1u << 20, P2P_KIND_ADVERT, P2P_FRAME_MESSAGE_BYTES_MAX, 0x42},
    {UINT32_MAX, UINT64_MAX, P2P_KIND_ADVERT, UINT64_MAX, 0x01},
};

/* The real reader and protobuf-c give back what was adverted. */
START_TEST(advert_round_trips)
{
    const struct advert_case *c = &advert_cases[_i];
    struct p2p_artifact_id id;
    memset(id.b, c->id_fill, sizeof(id.b));
    id.b[0] = (uint8_t)_i;
    uint8_t *b, *body;
    size_t n;
    const struct sim_byzantine_forge_advert_spec spec = {c->slot, c->commit_id,
                                                         &id, c->kind, c->size};
    ck_assert_int_eq(sim_byzantine_forge_advert(&spec, &b, &n), 0);
    struct p2p_route_limits l;
    p2p_route_limits_default(&l);
    ck_assert_int_eq(judge(&l, P2P_FRAME_REQUEST, 0, b, n, 1).finish_rc, 0);
    struct p2p_frame f = decode(P2P_FRAME_REQUEST, b, n, &body);
    ck_assert_int_eq(f.route, P2P_ROUTE_ARTIFACT_UPDATE);
    P2p__V1__SlotUpdate *u =
        p2p__v1__slot_update__unpack(NULL, f.body_len, body);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_REF);
    ck_assert_uint_eq(u->slot_id, c->slot);
    ck_assert_uint_eq(u->commit_id, c->commit_id);
    ck_assert_uint_eq(u->ref->id.len, P2P_ID_BYTES);
    ck_assert_mem_eq(u->ref->id.data, id.b, P2P_ID_BYTES);
    ck_assert_uint_eq(u->ref->kind, c->kind);
    ck_assert_uint_eq(u->ref->size, c->size);
    p2p__v1__slot_update__free_unpacked(u, NULL);
    free(body);

    P2p__V1__Request *req = p2p__v1__request__unpack(NULL, n, b);
    ck_assert_ptr_nonnull(req);
    ck_assert_str_eq(req->path, "/artifact/update");
    p2p__v1__request__free_unpacked(req, NULL);
    free(b);
}
END_TEST

/* Byte for byte what a real node's sender writes for its adverts. */
START_TEST(advert_is_what_an_honest_sender_writes)
{
    static uint8_t big[4096];
    struct harness h;
    h_init(&h, 1);
    for (int k = 0; k < 3; k++) {
        big[0] = (uint8_t)k;
        struct p2p_artifact_id id;
        ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, big,
                                         sizeof(big), &id), 0);
        const struct p2p_action *a =
            h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE, 0);
        ck_assert_ptr_nonnull(a);
        P2p__V1__SlotUpdate *u = h_update_of(&h, a);
        ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_REF);
        ck_assert_uint_le(u->slot_id, UINT32_MAX);
        uint8_t *b;
        size_t n;
        ck_assert_int_eq(sim_byzantine_forge_advert(
                             &(struct sim_byzantine_forge_advert_spec){
                                 (uint32_t)u->slot_id, u->commit_id, &id,
                                 P2P_KIND_ADVERT, sizeof(big)},
                             &b, &n),
                         0);
        ck_assert_uint_eq(n, a->len);
        ck_assert_mem_eq(b, a->bytes, n);
        free(b);
        p2p__v1__slot_update__free_unpacked(u, NULL);
        h_clear(&h);
    }
    h_fini(&h);
}
END_TEST

START_TEST(advert_arguments_are_checked)
{
    struct p2p_artifact_id id = {{0}};
    uint8_t sentinel = 0, *b = &sentinel;
    size_t n = 77;
    const struct sim_byzantine_forge_advert_spec ok = {0, 1, &id,
                                                       P2P_KIND_ADVERT, 1};
    const struct sim_byzantine_forge_advert_spec bad_kind = {
        0, 1, &id, P2P_KINDS_COUNT, 1};
    const struct sim_byzantine_forge_advert_spec no_id = {0, 1, NULL,
                                                          P2P_KIND_ADVERT, 1};
    ck_assert_int_eq(sim_byzantine_forge_advert(&bad_kind, &b, &n),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_byzantine_forge_advert(&no_id, &b, &n),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_byzantine_forge_advert(NULL, &b, &n),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_byzantine_forge_advert(&ok, NULL, &n),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(sim_byzantine_forge_advert(&ok, &b, NULL),
                     P2P_ERR_INVALID_ARG);
    ck_assert_ptr_eq(b, &sentinel);
    ck_assert_uint_eq(n, 77);
}
END_TEST

/* ---- corrupt response ---- */

/* An honest fetch answer, packed the way serve_fetch packs one (Artifact
 * through p2p_wire_pack, then the response envelope). with_id adds the id
 * field a push carries, to check it survives. Free with free(). */
static uint8_t *honest_answer(uint32_t status, enum p2p_artifact_kind kind,
                              const uint8_t *body, size_t len, bool with_id,
                              size_t *out_len)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_artifact_id id;
    p2p_id_of(body, len, &id);
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = kind;
    art.body.data = (uint8_t *)body;
    art.body.len = len;
    if (with_id) {
        art.id.data = id.b;
        art.id.len = P2P_ID_BYTES;
    }
    uint8_t *packed, *frame;
    size_t packed_len, frame_len;
    ck_assert_int_eq(p2p_wire_pack(&mem, P2P_MEM_WIRE, &art.base, &packed,
                                   &packed_len), 0);
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){.status = status,
                                                      .body = packed,
                                                      .body_len = packed_len},
                         &frame, &frame_len),
                     0);
    uint8_t *b = malloc(frame_len);
    ck_assert_ptr_nonnull(b);
    memcpy(b, frame, frame_len);
    p2p_mem_free(&mem, P2P_MEM_WIRE, packed);
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    ck_assert_uint_eq(mem.bytes, 0);
    *out_len = frame_len;
    return b;
}

/* Body sizes around protobuf's varint steps, up to a few MiB. */
static const size_t corrupt_sizes[] = {
    1, 2, 3, 100, 127, 128, 16383, 16384, 100000, 3 * MIB + 1,
};

/* The corrupted answer is the honest one with exactly one byte changed,
 * in the artifact's body; status, kind and id survive; the body no longer
 * hashes to the id. */
START_TEST(corrupt_changes_one_body_byte)
{
    size_t len = corrupt_sizes[_i / 4];
    bool with_id = (_i & 1) != 0;
    enum p2p_artifact_kind kind = (_i & 2) ? P2P_KIND_PUSH : P2P_KIND_ADVERT;
    uint8_t *body = pattern(len, 17 + (uint64_t)_i);
    struct p2p_artifact_id id;
    p2p_id_of(body, len, &id);
    size_t n;
    uint8_t *honest = honest_answer(200, kind, body, len, with_id, &n);

    uint8_t *bad = NULL;
    size_t bad_len = 0;
    ck_assert_int_eq(
        sim_byzantine_forge_corrupt_response(honest, n, &bad, &bad_len), 1);
    ck_assert_ptr_nonnull(bad);
    ck_assert_uint_eq(bad_len, n);
    size_t at = 0;
    ck_assert_uint_eq(differing(honest, bad, n, &at), 1);
    ck_assert_uint_eq(honest[at] ^ bad[at], SIM_FORGE_CORRUPT_XOR);

    uint8_t *frame_body;
    struct p2p_frame f = decode(P2P_FRAME_RESPONSE, bad, bad_len, &frame_body);
    ck_assert_uint_eq(f.status, 200);
    P2p__V1__Artifact *art =
        p2p__v1__artifact__unpack(NULL, f.body_len, frame_body);
    ck_assert_ptr_nonnull(art);
    ck_assert_uint_eq(art->kind, kind);
    ck_assert_uint_eq(art->id.len, with_id ? P2P_ID_BYTES : 0);
    if (with_id)
        ck_assert_mem_eq(art->id.data, id.b, P2P_ID_BYTES);
    ck_assert_uint_eq(art->body.len, len);
    size_t body_at = 0;
    ck_assert_uint_eq(differing(body, art->body.data, len, &body_at), 1);
    ck_assert_uint_eq(body_at, len / 2);
    struct p2p_artifact_id got;
    p2p_id_of(art->body.data, art->body.len, &got);
    ck_assert(!p2p_id_eq(&got, &id));
    p2p__v1__artifact__free_unpacked(art, NULL);
    free(frame_body);
    free(bad);
    free(honest);
    free(body);
}
END_TEST

/* The status is carried over whatever it is; only the body byte moves. */
START_TEST(corrupt_keeps_the_status)
{
    static const uint32_t statuses[] = {200, 1, 203, 500, UINT32_MAX};
    static const uint8_t body[10] = {9, 8, 7};
    for (int i = 0; i < COUNT(statuses); i++) {
        size_t n, bad_len, at;
        uint8_t *honest = honest_answer(statuses[i], P2P_KIND_PUSH, body,
                                        sizeof(body), true, &n);
        uint8_t *bad, *frame_body;
        ck_assert_int_eq(
            sim_byzantine_forge_corrupt_response(honest, n, &bad, &bad_len), 1);
        ck_assert_uint_eq(bad_len, n);
        ck_assert_uint_eq(differing(honest, bad, n, &at), 1);
        struct p2p_frame f = decode(P2P_FRAME_RESPONSE, bad, bad_len,
                                    &frame_body);
        ck_assert_uint_eq(f.status, statuses[i]);
        free(frame_body);
        free(bad);
        free(honest);
    }
}
END_TEST

/* Answers with no artifact body leave nothing to corrupt. */
START_TEST(corrupt_without_a_body_returns_zero)
{
    static const uint8_t one = 7;
    static const struct {
        uint32_t status;
        bool artifact;      /* a body holding an Artifact */
        size_t body_len;    /* the Artifact's body */
        bool with_id;
    } cases[] = {
        {204, false, 0, false}, /* not found, as serve_fetch says it */
        {400, false, 0, false},
        {200, true, 0, false},  /* an Artifact with an empty body */
        {200, true, 0, true},   /* only an id */
    };
    for (int i = 0; i < COUNT(cases); i++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        uint8_t *in;
        size_t n;
        if (cases[i].artifact) {
            in = honest_answer(cases[i].status, P2P_KIND_ADVERT, &one,
                               cases[i].body_len, cases[i].with_id, &n);
        } else {
            uint8_t *frame;
            ck_assert_int_eq(
                p2p_frame_response_encode(
                    &mem, P2P_MEM_OTHER,
                    &(struct p2p_frame_response){
                        .status = cases[i].status, .body = NULL, .body_len = 0},
                    &frame, &n),
                0);
            in = malloc(n);
            memcpy(in, frame, n);
            p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
        }
        uint8_t sentinel = 0, *out = &sentinel;
        size_t out_len = 77;
        ck_assert_int_eq(
            sim_byzantine_forge_corrupt_response(in, n, &out, &out_len), 0);
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(out_len, 0);
        free(in);
        ck_assert_uint_eq(mem.bytes, 0);
    }
}
END_TEST

/* Whatever is not a response envelope holding an Artifact is an error,
 * and the outputs are untouched. */
START_TEST(corrupt_refuses_what_is_not_an_answer)
{
    static const uint8_t body[300] = {1, 2, 3};
    size_t n;
    uint8_t *honest = honest_answer(200, P2P_KIND_ADVERT, body, sizeof(body),
                                    false, &n);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 5, 5);
    uint8_t *garbage;
    ck_assert_int_eq(sim_byzantine_forge_garbage(&rng, 64, &garbage), 0);
    /* Response {status 200, body = 0x0e}: a body that is no Artifact. */
    static const uint8_t not_artifact[] = {0x08, 0xc8, 0x01, 0x12, 0x01, 0x0e};
    static const uint8_t cut_kind[] = {0x08, 0xc8, 0x01, 0x12, 0x01, 0x08};
    const struct {
        const uint8_t *in;
        size_t len;
        int want;
    } cases[] = {
        {honest, 0, P2P_ERR_TRUNCATED},         /* nothing */
        {honest, n / 2, P2P_ERR_TRUNCATED},     /* cut inside the body */
        {honest, n - 1, P2P_ERR_TRUNCATED},
        {garbage, 64, P2P_ERR_DECODE},
        {not_artifact, sizeof(not_artifact), P2P_ERR_DECODE},
        {cut_kind, sizeof(cut_kind), P2P_ERR_DECODE},
        {NULL, 0, P2P_ERR_TRUNCATED},
        {NULL, 1, P2P_ERR_INVALID_ARG},
        {honest, SIM_FORGE_RESPONSE_BYTES_MAX + 1, P2P_ERR_OVERSIZE},
    };
    for (int i = 0; i < COUNT(cases); i++) {
        uint8_t sentinel = 0, *out = &sentinel;
        size_t out_len = 77;
        ck_assert_int_eq(sim_byzantine_forge_corrupt_response(
                             cases[i].in, cases[i].len, &out, &out_len),
                         cases[i].want);
        ck_assert_ptr_eq(out, &sentinel);
        ck_assert_uint_eq(out_len, 77);
    }
    uint8_t *out;
    size_t out_len;
    ck_assert_int_eq(
        sim_byzantine_forge_corrupt_response(honest, n, NULL, &out_len),
        P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(
        sim_byzantine_forge_corrupt_response(honest, n, &out, NULL),
        P2P_ERR_INVALID_ARG);
    free(garbage);
    free(honest);
}
END_TEST

/* ---- against real nodes ---- */

/* A real node's fetch answer, corrupted, differs in one byte; a real
 * downloader takes the honest answer and refuses the corrupted one as an
 * id mismatch. */
START_TEST(node_refuses_a_corrupted_fetch_answer)
{
    static uint8_t big[5000];
    big[0] = 0xab;
    struct harness server;
    h_init(&server, 1);
    struct p2p_artifact_id id;
    ck_assert_int_eq(p2p_node_insert(server.node, server.now, P2P_KIND_ADVERT,
                                     big, sizeof(big), &id), 0);
    h_clear(&server);
    P2p__V1__FetchRequest req = P2P__V1__FETCH_REQUEST__INIT;
    req.id.data = id.b;
    req.id.len = P2P_ID_BYTES;
    ck_assert_int_eq(h_request(&server, 1, P2P_ROUTE_ARTIFACT_RPC, &req.base),
                     0);
    const struct p2p_action *resp =
        h_find(&server, P2P_ACT_STREAM_RESPOND, -1, 0);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->status, 200);
    uint8_t *honest = malloc(resp->len);
    size_t n = resp->len;
    memcpy(honest, resp->bytes, n);
    h_clear(&server);
    h_fini(&server);

    uint8_t *bad;
    size_t bad_len;
    ck_assert_int_eq(
        sim_byzantine_forge_corrupt_response(honest, n, &bad, &bad_len), 1);
    size_t at;
    ck_assert_uint_eq(bad_len, n);
    ck_assert_uint_eq(differing(honest, bad, n, &at), 1);

    for (int corrupt = 0; corrupt < 2; corrupt++) {
        struct harness client;
        h_init(&client, 1);
        ck_assert_int_eq(h_advert(&client, 1, 0, 1, &id, sizeof(big)), 0);
        const struct p2p_action *fetch =
            h_find(&client, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
        ck_assert_ptr_nonnull(fetch);
        uint64_t stream = fetch->stream_id;
        h_clear(&client);
        (void)p2p_node_on_stream_data(
            client.node, client.now,
            &(struct p2p_stream_bytes){.peer = 1,
                                       .stream_id = stream,
                                       .inbound = false,
                                       .data = corrupt ? bad : honest,
                                       .len = corrupt ? bad_len : n,
                                       .fin = true});
        const struct p2p_metrics *m = p2p_node_metrics(client.node);
        ck_assert_uint_eq(m->id_mismatches, corrupt ? 1 : 0);
        ck_assert_uint_eq(m->fetches_succeeded, corrupt ? 0 : 1);
        h_clear(&client);
        h_fini(&client);
    }
    free(bad);
    free(honest);
}
END_TEST

/* A real node refuses forged garbage (DECODE) and crossing oversize
 * envelopes (OVERSIZE) on inbound streams, before the stream ends. */
START_TEST(node_refuses_garbage_and_oversize)
{
    for (uint64_t seed = 0; seed < 8; seed++) {
        struct harness h;
        h_init(&h, 1);
        struct p2p_rng rng;
        p2p_rng_init(&rng, seed, 2);
        uint8_t *g;
        size_t n = 1 + (size_t)p2p_rng_below(&rng, 200);
        ck_assert_int_eq(sim_byzantine_forge_garbage(&rng, n, &g), 0);
        ck_assert_int_eq(
            p2p_node_on_stream_data(h.node, h.now,
                                    &(struct p2p_stream_bytes){.peer = 1,
                                                               .stream_id = 1,
                                                               .inbound = true,
                                                               .data = g,
                                                               .len = n,
                                                               .fin = false}),
            P2P_ERR_DECODE);
        free(g);
        h_clear(&h);
        h_fini(&h);
    }
    for (unsigned r = 0; r < P2P_ROUTES_COUNT; r++) {
        struct harness h;
        h_init(&h, 1);
        const struct p2p_route_limits *l = &p2p_node_config(h.node)->routes;
        size_t filler;
        ck_assert_int_eq(sim_byzantine_forge_oversize_filler_min(r, l, &filler),
                         0);
        uint8_t *b;
        size_t n;
        ck_assert_int_eq(sim_byzantine_forge_oversize(r, l, filler, &b, &n), 0);
        ck_assert_int_eq(
            p2p_node_on_stream_data(h.node, h.now,
                                    &(struct p2p_stream_bytes){.peer = 1,
                                                               .stream_id = 1,
                                                               .inbound = true,
                                                               .data = b,
                                                               .len = n,
                                                               .fin = false}),
            P2P_ERR_OVERSIZE);
        free(b);
        h_clear(&h);
        h_fini(&h);
    }
}
END_TEST

/* ---- suite ---- */

static Suite *forge_suite(void)
{
    Suite *s = suite_create("byzantine_forge");
    TCase *tc = tcase_create("garbage");
    tcase_add_test(tc, garbage_is_always_refused);
    tcase_add_test(tc, garbage_length_is_bounded);
    tcase_add_test(tc, garbage_is_deterministic);
    suite_add_tcase(s, tc);

    int oversize_cases = COUNT(oversize_limits) * P2P_ROUTES_COUNT;
    tc = tcase_create("oversize");
    tcase_add_loop_test(tc, oversize_declares_limit_plus_one, 0,
                        oversize_cases);
    tcase_add_loop_test(tc, oversize_is_refused_once_past_the_limit, 0,
                        oversize_cases);
    tcase_add_loop_test(tc, oversize_short_of_the_limit_is_never_accepted, 0,
                        oversize_cases);
    tcase_add_test(tc, oversize_arguments_are_checked);
    suite_add_tcase(s, tc);

    tc = tcase_create("advert");
    tcase_add_loop_test(tc, advert_round_trips, 0, COUNT(advert_cases));
    tcase_add_test(tc, advert_is_what_an_honest_sender_writes);
    tcase_add_test(tc, advert_arguments_are_checked);
    suite_add_tcase(s, tc);

    tc = tcase_create("corrupt");
    tcase_add_loop_test(tc, corrupt_changes_one_body_byte, 0,
                        COUNT(corrupt_sizes) * 4);
    tcase_add_test(tc, corrupt_keeps_the_status);
    tcase_add_test(tc, corrupt_without_a_body_returns_zero);
    tcase_add_test(tc, corrupt_refuses_what_is_not_an_answer);
    suite_add_tcase(s, tc);

    tc = tcase_create("node");
    tcase_add_test(tc, node_refuses_a_corrupted_fetch_answer);
    tcase_add_test(tc, node_refuses_garbage_and_oversize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return h_run_suite(forge_suite()); }
