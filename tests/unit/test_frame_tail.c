/* Shared bodies on the wire: heads written up to a body that travels
 * apart (a "tail", core/body.h), and the readers and decoders that take it
 * back without a copy (core/framing.h, core/wire_write.h,
 * core/wire_view.h, core/outbox.h, core/streams.c).
 *
 * The reference for every head is protobuf-c's pack and unpack; the
 * reference for every way of reading a stream (whole, feed_tail, pieces)
 * is the same bytes fed flat in one piece and finished. Every test owns
 * its p2p_mem and checks it is back to zero bytes at the end; bodies are
 * made uncharged (mem NULL) so that only their holders' charges show. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.pb-c.h"

#include "core/body.h"
#include "core/err.h"
#include "core/framing.h"
#include "core/mem.h"
#include "core/outbox.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/wire_view.h"
#include "core/wire_write.h"
#include "harness.h"

#define MIB ((size_t)1 << 20)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* ck_assert_mem_eq for bytes that may be empty (and then NULL). */
#define BYTES_EQ(x, y, n)                                                      \
    ck_assert_msg((n) == 0 || memcmp((x), (y), (n)) == 0,                      \
                  "%s and %s differ in their %zu bytes", #x, #y, (size_t)(n))

/* ---- helpers ---- */

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

/* A message written by hand, byte by byte. */
struct buf {
    uint8_t *p; /* owned (malloc) */
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    b->p = realloc(b->p, cap);
    ck_assert_ptr_nonnull(b->p);
    b->cap = cap;
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_byte(struct buf *b, uint8_t x)
{
    buf_put(b, &x, 1);
}

/* The varint of v in at least width bytes (padded, non-minimal, when
 * width exceeds its size). */
static void buf_varint(struct buf *b, uint64_t v, unsigned width)
{
    for (unsigned n = 1;; n++) {
        bool more = (v >> 7) != 0 || n < width;
        buf_byte(b, (uint8_t)((v & 0x7f) | (more ? 0x80 : 0)));
        v >>= 7;
        if (!more)
            return;
    }
}

static void buf_key(struct buf *b, uint32_t field, unsigned wire,
                    unsigned width)
{
    buf_varint(b, ((uint64_t)field << 3) | wire, width);
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Up to 128 bytes in hex, for failure messages (one static buffer: one
 * call per message). */
static const char *hex(const uint8_t *p, size_t n)
{
    static char s[2 * 128 + 16];
    size_t k = n < 128 ? n : 128, at = 0;
    for (size_t i = 0; i < k; i++)
        at += (size_t)snprintf(s + at, sizeof(s) - at, "%02x", p[i]);
    if (k < n)
        snprintf(s + at, sizeof(s) - at, "...(%zu)", n);
    return s;
}

static uint64_t below(struct p2p_rng *rng, uint64_t bound)
{
    return p2p_rng_below(rng, bound);
}

static bool chance(struct p2p_rng *rng, unsigned percent)
{
    return below(rng, 100) < percent;
}

/* A value of a random width: small, two bytes, 32 or 64 bits. */
static uint64_t rand_value(struct p2p_rng *rng)
{
    switch (below(rng, 4)) {
    case 0:
        return below(rng, 128);
    case 1:
        return below(rng, 1u << 14);
    case 2:
        return p2p_rng_u32(rng);
    default:
        return p2p_rng_u64(rng);
    }
}

/* A body length: mostly small, sometimes empty, rarely large. */
static size_t rand_body_len(struct p2p_rng *rng)
{
    uint64_t r = below(rng, 1000);
    if (r < 40)
        return 0;
    if (r < 900)
        return 1 + (size_t)below(rng, 200);
    if (r < 995)
        return (size_t)below(rng, 5000);
    return (size_t)below(rng, 70000);
}

static void buf_random(struct buf *b, struct p2p_rng *rng, size_t n)
{
    buf_reserve(b, n);
    for (size_t i = 0; i < n; i++)
        b->p[b->len + i] = (uint8_t)p2p_rng_u32(rng);
    b->len += n;
}

/* An unknown field (number at least lowest) of a valid wire type. */
static void buf_unknown(struct buf *b, struct p2p_rng *rng, uint32_t lowest)
{
    uint32_t field = chance(rng, 90) ? lowest + (uint32_t)below(rng, 40)
                                     : lowest + (uint32_t)below(rng, 1u << 28);
    static const unsigned wires[] = {0, 1, 2, 5};
    unsigned wire = wires[below(rng, 4)];
    buf_key(b, field, wire, chance(rng, 10) ? 1 + (unsigned)below(rng, 5) : 0);
    switch (wire) {
    case 0:
        buf_varint(b, rand_value(rng), 0);
        break;
    case 1:
        buf_random(b, rng, 8);
        break;
    case 5:
        buf_random(b, rng, 4);
        break;
    default: {
        size_t n = (size_t)below(rng, 20);
        buf_varint(b, n, 0);
        buf_random(b, rng, n);
    }
    }
}

/* A body made for a test: one reference (the test's), uncharged. */
static struct p2p_body *body_of(const uint8_t *p, size_t n)
{
    struct p2p_body *t = p2p_body_copy(NULL, P2P_MEM_OTHER, p, n);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* ---- 1. envelope encoders against protobuf-c ---- */

static const size_t body_sizes[] = {0, 1, 127, 128, 16383, 16384, MIB};
static const uint32_t statuses[] = {0,   1,   127,   128,   200,
                                    204, 400, 16383, 16384, UINT32_MAX};

/* The tail lengths tried for a body of n bytes: one byte, about half, all
 * but one, all (distinct, non-zero). Returns how many. */
static size_t tails_of(size_t n, size_t out[4])
{
    size_t cand[4] = {1, n / 2, n - 1, n}, k = 0;
    for (size_t i = 0; n > 0 && i < 4; i++) {
        bool dup = cand[i] == 0 || cand[i] > n;
        for (size_t j = 0; j < k; j++)
            dup = dup || out[j] == cand[i];
        if (!dup)
            out[k++] = cand[i];
    }
    return k;
}

/* head || body[n - t..n) as one new buffer (free()). */
static uint8_t *join(const uint8_t *head, size_t head_len, const uint8_t *tail,
                     size_t tail_len)
{
    uint8_t *j = malloc(head_len + tail_len + 1);
    ck_assert_ptr_nonnull(j);
    memcpy(j, head, head_len);
    if (tail_len > 0)
        memcpy(j + head_len, tail, tail_len);
    return j;
}

/* Request {path, body} for every route and body size: with no tail the
 * bytes are protobuf-c's; with a tail of t bytes the head is those bytes
 * up to the last t, and head + tail unpacks to the same message. */
START_TEST(request_encoder_matches_protobuf_c)
{
    uint8_t *body = pattern(MIB, 1);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    for (unsigned route = 0; route < P2P_ROUTES_COUNT; route++) {
        for (size_t s = 0; s < COUNT(body_sizes); s++) {
            size_t n = body_sizes[s];
            P2p__V1__Request m = P2P__V1__REQUEST__INIT;
            m.path = (char *)p2p_route_path(route);
            m.body.data = body;
            m.body.len = n;
            size_t want_len = p2p__v1__request__get_packed_size(&m);
            uint8_t *want = malloc(want_len);
            ck_assert_uint_eq(p2p__v1__request__pack(&m, want), want_len);
            uint8_t *got;
            size_t got_len;
            ck_assert_int_eq(
                p2p_frame_request_encode(
                    &mem, P2P_MEM_OTHER,
                    &(struct p2p_frame_request){
                        .route = route, .body = n ? body : NULL, .body_len = n},
                    &got, &got_len),
                0);
            ck_assert_uint_eq(got_len, want_len);
            ck_assert_mem_eq(got, want, want_len);
            p2p_mem_free(&mem, P2P_MEM_OTHER, got);
            size_t tails[4], k = tails_of(n, tails);
            for (size_t i = 0; i < k; i++) {
                size_t t = tails[i];
                ck_assert_int_eq(
                    p2p_frame_request_encode(
                        &mem, P2P_MEM_OTHER,
                        &(struct p2p_frame_request){.route = route,
                                                    .body = body,
                                                    .body_len = n - t,
                                                    .tail_len = t},
                        &got, &got_len),
                    0);
                ck_assert_uint_eq(got_len + t, want_len);
                uint8_t *j = join(got, got_len, body + n - t, t);
                ck_assert_mem_eq(j, want, want_len);
                P2p__V1__Request *u =
                    p2p__v1__request__unpack(NULL, want_len, j);
                ck_assert_ptr_nonnull(u);
                ck_assert_str_eq(u->path, m.path);
                ck_assert_uint_eq(u->body.len, n);
                BYTES_EQ(u->body.data, body, n);
                p2p__v1__request__free_unpacked(u, NULL);
                free(j);
                p2p_mem_free(&mem, P2P_MEM_OTHER, got);
            }
            free(want);
        }
    }
    ck_assert_uint_eq(mem.bytes, 0);
    free(body);
}
END_TEST

/* Response {status, body} for every status and body size, as above. */
START_TEST(response_encoder_matches_protobuf_c)
{
    uint8_t *body = pattern(MIB, 2);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    for (size_t st = 0; st < COUNT(statuses); st++) {
        for (size_t s = 0; s < COUNT(body_sizes); s++) {
            size_t n = body_sizes[s];
            P2p__V1__Response m = P2P__V1__RESPONSE__INIT;
            m.status = statuses[st];
            m.body.data = body;
            m.body.len = n;
            size_t want_len = p2p__v1__response__get_packed_size(&m);
            uint8_t *want = malloc(want_len + 1);
            ck_assert_uint_eq(p2p__v1__response__pack(&m, want), want_len);
            uint8_t *got;
            size_t got_len;
            ck_assert_int_eq(
                p2p_frame_response_encode(
                    &mem, P2P_MEM_OTHER,
                    &(struct p2p_frame_response){.status = m.status,
                                                 .body = n ? body : NULL,
                                                 .body_len = n},
                    &got, &got_len),
                0);
            ck_assert_uint_eq(got_len, want_len);
            ck_assert_mem_eq(got, want, want_len);
            p2p_mem_free(&mem, P2P_MEM_OTHER, got);
            size_t tails[4], k = tails_of(n, tails);
            for (size_t i = 0; i < k; i++) {
                size_t t = tails[i];
                ck_assert_int_eq(
                    p2p_frame_response_encode(
                        &mem, P2P_MEM_OTHER,
                        &(struct p2p_frame_response){.status = m.status,
                                                     .body = body,
                                                     .body_len = n - t,
                                                     .tail_len = t},
                        &got, &got_len),
                    0);
                ck_assert_uint_eq(got_len + t, want_len);
                uint8_t *j = join(got, got_len, body + n - t, t);
                ck_assert_mem_eq(j, want, want_len);
                P2p__V1__Response *u =
                    p2p__v1__response__unpack(NULL, want_len, j);
                ck_assert_ptr_nonnull(u);
                ck_assert_uint_eq(u->status, m.status);
                ck_assert_uint_eq(u->body.len, n);
                BYTES_EQ(u->body.data, body, n);
                p2p__v1__response__free_unpacked(u, NULL);
                free(j);
                p2p_mem_free(&mem, P2P_MEM_OTHER, got);
            }
            free(want);
        }
    }
    ck_assert_uint_eq(mem.bytes, 0);
    free(body);
}
END_TEST

/* ---- 2. wire_write heads against protobuf-c ---- */

static const uint64_t u64s[] = {0,
                                1,
                                127,
                                128,
                                16383,
                                16384,
                                UINT32_MAX,
                                (uint64_t)UINT32_MAX + 1,
                                (uint64_t)1 << 63,
                                UINT64_MAX};

static void check_update_ack(uint64_t slot, uint64_t commit)
{
    P2p__V1__UpdateAck m = P2P__V1__UPDATE_ACK__INIT;
    m.slot_id = slot;
    m.commit_id = commit;
    uint8_t want[64], got[P2P_WIRE_UPDATE_ACK_BYTES_MAX];
    size_t want_len = p2p__v1__update_ack__pack(&m, want);
    size_t got_len = p2p_wire_update_ack(got, slot, commit);
    ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
                  "UpdateAck {%llu, %llu}: %zu bytes, protobuf-c %zu",
                  (unsigned long long)slot, (unsigned long long)commit, got_len,
                  want_len);
}

/* UpdateAck by hand is protobuf-c's bytes, on every boundary and for
 * random values of every width. */
START_TEST(update_ack_matches_protobuf_c)
{
    for (size_t i = 0; i < COUNT(u64s); i++)
        for (size_t j = 0; j < COUNT(u64s); j++)
            check_update_ack(u64s[i], u64s[j]);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 21, 2);
    for (int i = 0; i < 10000; i++)
        check_update_ack(rand_value(&rng), rand_value(&rng));
}
END_TEST

/* FetchRequest {id} by hand is protobuf-c's bytes. */
START_TEST(fetch_request_matches_protobuf_c)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, 22, 2);
    for (int i = 0; i < 1000; i++) {
        struct p2p_artifact_id id;
        for (size_t k = 0; k < P2P_ID_BYTES; k++)
            id.b[k] = i == 0 ? 0 : i == 1 ? 0xff : (uint8_t)p2p_rng_u32(&rng);
        P2p__V1__FetchRequest m = P2P__V1__FETCH_REQUEST__INIT;
        m.id.data = id.b;
        m.id.len = P2P_ID_BYTES;
        uint8_t want[64], got[P2P_WIRE_FETCH_REQUEST_BYTES];
        size_t want_len = p2p__v1__fetch_request__pack(&m, want);
        ck_assert_uint_eq(p2p_wire_fetch_request(got, &id),
                          P2P_WIRE_FETCH_REQUEST_BYTES);
        ck_assert_uint_eq(want_len, P2P_WIRE_FETCH_REQUEST_BYTES);
        ck_assert_mem_eq(got, want, want_len);
    }
}
END_TEST

/* An artifact head followed by its body unpacks (protobuf-c) to the
 * Artifact it was written for; without an id the bytes are protobuf-c's
 * (the body is the last field either way); the in-place decoder finds the
 * body exactly where the head ends. */
START_TEST(artifact_head_then_body_unpacks_as_artifact)
{
    static const uint32_t kinds[] = {0, 1, 127, 128, UINT32_MAX};
    static const size_t lens[] = {0, 1, 127, 128, 200, 16384, 70000};
    uint8_t *body = pattern(70000, 3);
    struct p2p_artifact_id id;
    p2p_id_of(body, 70000, &id);
    for (size_t k = 0; k < COUNT(kinds); k++) {
        for (int with_id = 0; with_id <= 1; with_id++) {
            for (size_t l = 0; l < COUNT(lens); l++) {
                size_t n = lens[l];
                uint8_t head[P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX];
                size_t hl = p2p_wire_artifact_head(head, kinds[k],
                                                   with_id ? &id : NULL, n);
                ck_assert_uint_le(hl, P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX);
                uint8_t *j = join(head, hl, body, n);
                P2p__V1__Artifact *a =
                    p2p__v1__artifact__unpack(NULL, hl + n, j);
                ck_assert_ptr_nonnull(a);
                ck_assert_uint_eq(a->kind, kinds[k]);
                ck_assert_uint_eq(a->body.len, n);
                BYTES_EQ(a->body.data, body, n);
                ck_assert_uint_eq(a->id.len, with_id ? P2P_ID_BYTES : 0);
                if (with_id)
                    ck_assert_mem_eq(a->id.data, id.b, P2P_ID_BYTES);
                p2p__v1__artifact__free_unpacked(a, NULL);
                if (!with_id) {
                    P2p__V1__Artifact m = P2P__V1__ARTIFACT__INIT;
                    m.kind = kinds[k];
                    m.body.data = body;
                    m.body.len = n;
                    size_t pl = p2p__v1__artifact__get_packed_size(&m);
                    uint8_t *packed = malloc(pl + 1);
                    p2p__v1__artifact__pack(&m, packed);
                    ck_assert_uint_eq(pl, hl + n);
                    ck_assert_mem_eq(packed, j, pl);
                    free(packed);
                }
                if (n > 0) {
                    struct p2p_artifact_view v;
                    ck_assert_int_eq(p2p_wire_view_artifact_tail(j, hl, n, &v),
                                     0);
                    ck_assert_ptr_eq(v.body.data, j + hl);
                    ck_assert_uint_eq(v.body.len, n);
                    ck_assert_uint_eq(v.kind, kinds[k]);
                }
                free(j);
            }
        }
    }
    free(body);
}
END_TEST

/* ---- reading a stream: the ways, and what they made of it ---- */

/* How a reader is set up. */
struct setup {
    enum p2p_frame_mode mode;
    enum p2p_route route; /* response mode: the route asked */
    const struct p2p_route_limits *limits;
    size_t cap; /* response mode: p2p_frame_reader_cap; SIZE_MAX none */
};

/* What a reader made of a stream, captured before its fini. */
struct outcome {
    int rc; /* the first error of any call, or 0 */
    enum p2p_route route;
    uint32_t status;
    uint8_t *body; /* the whole body (bytes and tail), malloc'd; NULL on
                      error */
    size_t body_len;
    bool kept; /* the frame's tail was the stream's tail, by reference */
};

static void outcome_free(struct outcome *o)
{
    free(o->body);
    o->body = NULL;
}

static void open_reader(struct p2p_frame_reader *r, struct p2p_mem *mem,
                        const struct setup *s)
{
    p2p_frame_reader_init(r, mem, s->mode, s->limits, s->route);
    if (s->mode == P2P_FRAME_RESPONSE && s->cap != SIZE_MAX)
        p2p_frame_reader_cap(r, s->cap);
}

/* Records rc and *f (when rc is 0), checks what a kept tail costs, finis
 * r, and checks the tail's references and mem are back where they were. */
static void settle(struct p2p_frame_reader *r, struct p2p_mem *mem, int rc,
                   const struct p2p_frame *f, struct p2p_body *tail,
                   uint32_t tail_refs, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->rc = rc;
    if (rc == 0) {
        ck_assert_ptr_nonnull(f->body);
        o->route = f->route;
        o->status = f->status;
        size_t tl = f->tail != NULL ? f->tail->len : 0;
        o->body_len = f->body_len + tl;
        o->body = malloc(o->body_len + 1);
        ck_assert_ptr_nonnull(o->body);
        if (f->body_len > 0)
            memcpy(o->body, f->body, f->body_len);
        if (tl > 0)
            memcpy(o->body + f->body_len, f->tail->bytes, tl);
        if (f->tail != NULL) {
            /* Only the stream's own tail, held once more, and charged. */
            ck_assert_ptr_eq(f->tail, tail);
            ck_assert_uint_eq(tail->refs, tail_refs + 1);
            ck_assert_uint_ge(mem->module_bytes[P2P_MEM_STREAMS], tail->len);
            o->kept = true;
        }
    }
    p2p_frame_reader_fini(r);
    if (tail != NULL)
        ck_assert_uint_eq(tail->refs, tail_refs);
    ck_assert_uint_eq(mem->bytes, 0);
}

/* The reference: every byte fed flat in one piece, then finish. */
static void run_flat(const struct setup *s, const uint8_t *bytes, size_t len,
                     struct outcome *o)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    struct p2p_frame f;
    open_reader(&r, &mem, s);
    int rc = p2p_frame_reader_feed(&r, len ? bytes : NULL, len);
    if (rc == 0)
        rc = p2p_frame_reader_finish(&r, &f);
    settle(&r, &mem, rc, &f, NULL, 0, o);
}

/* p2p_frame_reader_whole of head[0..head_len) and tail (may be NULL);
 * head is not written to. */
static void run_whole(const struct setup *s, const uint8_t *head,
                      size_t head_len, struct p2p_body *tail, struct outcome *o)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    struct p2p_frame f;
    uint8_t *copy = join(head, head_len, NULL, 0);
    uint32_t refs = tail != NULL ? tail->refs : 0;
    open_reader(&r, &mem, s);
    int rc =
        p2p_frame_reader_whole(&r, head_len ? head : NULL, head_len, tail, &f);
    ck_assert_mem_eq(head, copy, head_len);
    free(copy);
    settle(&r, &mem, rc, &f, tail, refs, o);
}

/* head fed in pieces (random cuts when rng is set, else one piece), the
 * last through p2p_frame_reader_feed_tail with tail, then finish. */
static void run_pieces(const struct setup *s, const uint8_t *head,
                       size_t head_len, struct p2p_body *tail,
                       struct p2p_rng *rng, struct outcome *o)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    struct p2p_frame f;
    uint32_t refs = tail != NULL ? tail->refs : 0;
    open_reader(&r, &mem, s);
    size_t pos = 0;
    int rc = 0;
    for (;;) {
        size_t piece = head_len - pos;
        if (rng != NULL && piece > 0 && chance(rng, 70))
            piece = (size_t)below(rng, piece + 1);
        if (pos + piece == head_len) {
            rc = p2p_frame_reader_feed_tail(&r, piece ? head + pos : NULL,
                                            piece, tail);
            break;
        }
        rc = p2p_frame_reader_feed(&r, piece ? head + pos : NULL, piece);
        pos += piece;
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = p2p_frame_reader_finish(&r, &f);
    settle(&r, &mem, rc, &f, tail, refs, o);
}

/* Describes a failing input: setup, split and the flat bytes. */
static char context[640];

static void describe(const char *what, const struct setup *s,
                     const uint8_t *flat, size_t len, size_t split)
{
    snprintf(context, sizeof(context),
             "%s: mode %s route %d cap %zu split %zu of %zu; bytes %s", what,
             s->mode == P2P_FRAME_REQUEST ? "request" : "response",
             (int)s->route, s->cap, split, len, hex(flat, len));
}

static bool same(const struct outcome *want, const struct outcome *got)
{
    return want->rc == got->rc &&
           (want->rc != 0 ||
            (want->route == got->route && want->status == got->status &&
             want->body_len == got->body_len &&
             memcmp(want->body, got->body, want->body_len) == 0));
}

/* Asserts got is want. */
static void expect_same(const struct outcome *want, const struct outcome *got,
                        const char *way)
{
    ck_assert_msg(same(want, got),
                  "%s differs from feed+finish: rc %d (%s) vs %d (%s), route "
                  "%d/%d, status %u/%u, body %zu/%zu bytes; %s",
                  way, got->rc, p2p_strerror(got->rc), want->rc,
                  p2p_strerror(want->rc), (int)got->route, (int)want->route,
                  got->status, want->status, got->body_len, want->body_len,
                  context);
}

/* Reads flat[0..len) split at `split` (the rest a shared tail) every
 * way, checks each against the flat read, and returns whether the tail
 * was kept (the same in every way, or the test fails). */
static bool check_split(const struct setup *s, const uint8_t *flat, size_t len,
                        size_t split, struct p2p_rng *rng, const char *what)
{
    describe(what, s, flat, len, split);
    struct outcome want, got;
    run_flat(s, flat, len, &want);
    ck_assert_msg(!want.kept, "%s", context);
    struct p2p_body *tail = body_of(flat + split, len - split);
    run_pieces(s, flat, split, tail, NULL, &got);
    expect_same(&want, &got, "feed_tail");
    bool kept = got.kept;
    outcome_free(&got);
    run_whole(s, flat, split, tail, &got);
    expect_same(&want, &got, "whole");
    ck_assert_msg(got.kept == kept, "whole and feed_tail keep differently; %s",
                  context);
    outcome_free(&got);
    if (rng != NULL) {
        run_pieces(s, flat, split, tail, rng, &got);
        expect_same(&want, &got, "pieces + feed_tail");
        ck_assert_msg(got.kept == kept, "pieces keep differently; %s", context);
        outcome_free(&got);
    }
    ck_assert_uint_eq(tail->refs, 1);
    p2p_body_release(tail, NULL, P2P_MEM_OTHER);
    outcome_free(&want);
    return kept;
}

/* ---- 3. tails kept and tails read as plain bytes ---- */

/* An Artifact {kind, id?, body of n pattern bytes}, the body last; *off
 * gets the body's offset in b. */
static void put_artifact(struct buf *b, uint32_t kind, bool with_id, size_t n,
                         uint64_t seed, size_t *off)
{
    uint8_t *body = pattern(n, seed);
    struct p2p_artifact_id id;
    p2p_id_of(body, n, &id);
    uint8_t head[P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX];
    size_t hl = p2p_wire_artifact_head(head, kind, with_id ? &id : NULL, n);
    buf_put(b, head, hl);
    *off = b->len;
    buf_put(b, body, n);
    free(body);
}

/* A stream built for one shape: flat bytes and where the tail starts. */
struct shape {
    const char *name;
    enum p2p_frame_mode mode;
    enum p2p_route route; /* response mode */
    bool kept;            /* whether the reader keeps the tail */
    void (*build)(struct buf *flat, size_t *split);
};

/* Response {200, Artifact} with the body split off, as a server with
 * shared bodies writes it. */
static void rpc_artifact(struct buf *b, size_t *split)
{
    struct buf art = {0};
    size_t off;
    put_artifact(&art, P2P_KIND_ADVERT, true, 1000, 31, &off);
    buf_key(b, 1, 0, 0);
    buf_varint(b, 200, 0);
    buf_key(b, 2, 2, 0);
    buf_varint(b, art.len, 0);
    *split = b->len + off;
    buf_put(b, art.p, art.len);
    buf_free(&art);
}

/* The same with a one-byte body, no id and kind 0. */
static void rpc_artifact_small(struct buf *b, size_t *split)
{
    struct buf art = {0};
    size_t off;
    put_artifact(&art, P2P_KIND_PUSH, false, 1, 32, &off);
    buf_key(b, 1, 0, 0);
    buf_varint(b, 200, 0);
    buf_key(b, 2, 2, 0);
    buf_varint(b, art.len, 0);
    *split = b->len + off;
    buf_put(b, art.p, art.len);
    buf_free(&art);
}

/* Request /artifact/update {SlotUpdate {commit, slot, Artifact}} with the
 * pushed body split off. */
static void update_push(struct buf *b, size_t *split)
{
    struct buf art = {0}, su = {0};
    size_t off;
    put_artifact(&art, P2P_KIND_PUSH, true, 5000, 33, &off);
    buf_key(&su, 1, 0, 0);
    buf_varint(&su, 7, 0);
    buf_key(&su, 2, 0, 0);
    buf_varint(&su, 3, 0);
    buf_key(&su, 3, 2, 0);
    buf_varint(&su, art.len, 0);
    off += su.len;
    buf_put(&su, art.p, art.len);
    const char *path = p2p_route_path(P2P_ROUTE_ARTIFACT_UPDATE);
    buf_key(b, 1, 2, 0);
    buf_varint(b, strlen(path), 0);
    buf_put(b, path, strlen(path));
    buf_key(b, 2, 2, 0);
    buf_varint(b, su.len, 0);
    *split = b->len + off;
    buf_put(b, su.p, su.len);
    buf_free(&art);
    buf_free(&su);
}

/* A first body, then a second that runs into the tail: the last wins. */
static void rpc_second_body(struct buf *b, size_t *split)
{
    buf_key(b, 2, 2, 0);
    buf_varint(b, 3, 0);
    buf_put(b, "abc", 3);
    rpc_artifact(b, split);
}

/* The body ends inside the tail and a field follows it there. */
static void rpc_field_after_body(struct buf *b, size_t *split)
{
    rpc_artifact(b, split);
    buf_key(b, 7, 0, 0);
    buf_varint(b, 9, 0);
}

/* The body ends before the tail: the tail is a later field. */
static void rpc_tail_is_a_field(struct buf *b, size_t *split)
{
    size_t ignored;
    rpc_artifact(b, &ignored);
    *split = b->len;
    buf_key(b, 7, 2, 0);
    buf_varint(b, 40, 0);
    buf_random(b, &(struct p2p_rng){1, 3}, 40);
}

/* The status comes last, in the tail, after the body. */
static void rpc_status_after_body(struct buf *b, size_t *split)
{
    struct buf art = {0};
    size_t off;
    put_artifact(&art, P2P_KIND_ADVERT, false, 300, 34, &off);
    buf_key(b, 2, 2, 0);
    buf_varint(b, art.len, 0);
    *split = b->len + off;
    buf_put(b, art.p, art.len);
    buf_key(b, 1, 0, 0);
    buf_varint(b, 204, 0);
    buf_free(&art);
}

/* The body's declared length runs one byte past the stream's end. */
static void rpc_body_past_end(struct buf *b, size_t *split)
{
    rpc_artifact(b, split);
    b->len--; /* the artifact's last byte never comes */
}

/* The body's declared length stops two bytes before the stream's end;
 * those two bytes are an unknown varint field. */
static void rpc_body_before_end(struct buf *b, size_t *split)
{
    buf_key(b, 1, 0, 0);
    buf_varint(b, 200, 0);
    buf_key(b, 2, 2, 0);
    buf_varint(b, 500, 0);
    *split = b->len + 100;
    buf_random(b, &(struct p2p_rng){2, 3}, 500);
    buf_key(b, 3, 0, 0);
    buf_varint(b, 1, 0);
}

/* A state-sync chunk answered with its bytes as a tail: that route's
 * consumer does not read tails. */
static void chunk_response(struct buf *b, size_t *split)
{
    buf_key(b, 1, 0, 0);
    buf_varint(b, 200, 0);
    buf_key(b, 2, 2, 0);
    buf_varint(b, 3000, 0);
    *split = b->len;
    buf_random(b, &(struct p2p_rng){3, 3}, 3000);
}

/* An UpdateAck with a tail (the update route's answers are not read as
 * tails). */
static void ack_response(struct buf *b, size_t *split)
{
    buf_key(b, 1, 0, 0);
    buf_varint(b, 200, 0);
    buf_key(b, 2, 2, 0);
    buf_varint(b, 4, 0);
    *split = b->len;
    buf_put(b, "\x08\x03\x10\x07", 4);
}

/* A fetch request with its id as a tail (rpc requests are not read as
 * tails). */
static void fetch_request(struct buf *b, size_t *split)
{
    const char *path = p2p_route_path(P2P_ROUTE_ARTIFACT_RPC);
    buf_key(b, 1, 2, 0);
    buf_varint(b, strlen(path), 0);
    buf_put(b, path, strlen(path));
    buf_key(b, 2, 2, 0);
    buf_varint(b, 34, 0);
    buf_key(b, 1, 2, 0);
    buf_varint(b, 32, 0);
    *split = b->len;
    buf_random(b, &(struct p2p_rng){4, 3}, 32);
}

/* A push followed by an unknown envelope field. */
static void update_push_then_field(struct buf *b, size_t *split)
{
    update_push(b, split);
    buf_key(b, 9, 5, 0);
    buf_put(b, "\x01\x02\x03\x04", 4);
}

/* The tail starts inside the request's path. */
static void update_path_split(struct buf *b, size_t *split)
{
    size_t ignored;
    update_push(b, &ignored);
    *split = 5;
}

/* The tail is the whole stream (nothing before it). */
static void rpc_all_tail(struct buf *b, size_t *split)
{
    size_t ignored;
    rpc_artifact(b, &ignored);
    *split = 0;
}

static void update_all_tail(struct buf *b, size_t *split)
{
    size_t ignored;
    update_push(b, &ignored);
    *split = 0;
}

static const struct shape shapes[] = {
    {"rpc artifact", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, true,
     rpc_artifact},
    {"rpc artifact, 1 byte", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, true,
     rpc_artifact_small},
    {"update push", P2P_FRAME_REQUEST, 0, true, update_push},
    {"rpc second body wins", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, true,
     rpc_second_body},
    {"rpc field after body", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, false,
     rpc_field_after_body},
    {"rpc tail is a field", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, false,
     rpc_tail_is_a_field},
    {"rpc status after body", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, false,
     rpc_status_after_body},
    {"rpc body past end", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, false,
     rpc_body_past_end},
    {"rpc body before end", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, false,
     rpc_body_before_end},
    {"chunk response", P2P_FRAME_RESPONSE, P2P_ROUTE_STATE_CHUNK, false,
     chunk_response},
    {"ack response", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_UPDATE, false,
     ack_response},
    {"fetch request", P2P_FRAME_REQUEST, 0, false, fetch_request},
    {"update push then field", P2P_FRAME_REQUEST, 0, false,
     update_push_then_field},
    {"update path split", P2P_FRAME_REQUEST, 0, false, update_path_split},
    {"rpc all tail", P2P_FRAME_RESPONSE, P2P_ROUTE_ARTIFACT_RPC, false,
     rpc_all_tail},
    {"update all tail", P2P_FRAME_REQUEST, 0, false, update_all_tail},
};

/* Each shape read as head + shared tail, whole, with feed_tail, and in
 * pieces: the same route, status and body as the flat bytes, the tail
 * kept (same pointer, one more reference, charged) exactly when the body
 * runs to the stream's end on a route that reads tails; references and
 * memory back to where they were after fini. */
START_TEST(tail_shapes_read_like_flat_bytes)
{
    const struct shape *sh = &shapes[_i];
    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    struct setup s = {.mode = sh->mode,
                      .route = sh->route,
                      .limits = &limits,
                      .cap = SIZE_MAX};
    struct buf flat = {0};
    size_t split;
    sh->build(&flat, &split);
    ck_assert_uint_le(split, flat.len);
    struct p2p_rng rng;
    p2p_rng_init(&rng, 5, (uint64_t)_i);
    for (int rep = 0; rep < 20; rep++) {
        bool kept = check_split(&s, flat.p, flat.len, split,
                                rep > 0 ? &rng : NULL, sh->name);
        ck_assert_msg(kept == sh->kept, "%s: tail %s", sh->name,
                      kept ? "kept" : "not kept");
    }
    buf_free(&flat);
}
END_TEST

/* A kept tail in detail: the frame's tail is the body object itself, the
 * reader's reference is charged to P2P_MEM_STREAMS on top of its buffer,
 * p2p_frame_flatten gives the flat body, and fini gives everything
 * back. */
START_TEST(kept_tail_is_the_same_body)
{
    for (int way = 0; way < 3; way++) {
        for (int which = 0; which < 2; which++) {
            struct buf flat = {0};
            size_t split;
            (which ? update_push : rpc_artifact)(&flat, &split);
            struct p2p_route_limits limits;
            p2p_route_limits_default(&limits);
            struct p2p_mem mem;
            p2p_mem_init(&mem);
            struct p2p_frame_reader r;
            p2p_frame_reader_init(
                &r, &mem, which ? P2P_FRAME_REQUEST : P2P_FRAME_RESPONSE,
                &limits, P2P_ROUTE_ARTIFACT_RPC);
            struct p2p_body *t = body_of(flat.p + split, flat.len - split);
            struct p2p_frame f;
            if (way == 0) { /* whole: borrowed head, nothing buffered */
                ck_assert_int_eq(
                    p2p_frame_reader_whole(&r, flat.p, split, t, &f), 0);
                ck_assert_uint_eq(mem.module_bytes[P2P_MEM_STREAMS], t->len);
            } else {
                if (way == 2) /* one byte at a time, then the tail alone */
                    for (size_t i = 0; i < split; i++)
                        ck_assert_int_eq(
                            p2p_frame_reader_feed(&r, flat.p + i, 1), 0);
                size_t at = way == 2 ? split : 0;
                ck_assert_int_eq(
                    p2p_frame_reader_feed_tail(
                        &r, at < split ? flat.p + at : NULL, split - at, t),
                    0);
                ck_assert_uint_eq(t->refs, 2);
                ck_assert_uint_eq(mem.module_bytes[P2P_MEM_STREAMS],
                                  p2p_frame_reader_buffered(&r) + t->len);
                ck_assert_int_eq(p2p_frame_reader_finish(&r, &f), 0);
            }
            ck_assert_ptr_eq(f.tail, t);
            ck_assert_uint_eq(t->refs, 2);
            /* body + tail are the flat body field's bytes */
            size_t body_off = (size_t)(f.body - (way == 0 ? flat.p : r.buf));
            ck_assert_uint_eq(body_off + f.body_len, split);
            uint8_t *whole;
            size_t whole_len;
            ck_assert_int_eq(p2p_frame_flatten(&mem, &f, &whole, &whole_len),
                             0);
            ck_assert_uint_eq(whole_len, flat.len - body_off);
            ck_assert_mem_eq(whole, flat.p + body_off, whole_len);
            ck_assert_uint_ge(mem.module_bytes[P2P_MEM_WIRE], whole_len);
            p2p_mem_free(&mem, P2P_MEM_WIRE, whole);
            p2p_frame_reader_fini(&r);
            ck_assert_uint_eq(t->refs, 1);
            ck_assert_uint_eq(mem.bytes, 0);
            p2p_body_release(t, NULL, P2P_MEM_OTHER);
            buf_free(&flat);
        }
    }
}
END_TEST

/* ---- 4. differential: whole and pieces against feed + finish ---- */

/* An envelope for mode, valid or damaged. *body_off: where the last body
 * field's bytes start (SIZE_MAX when none was written). */
static void gen_envelope(struct p2p_rng *rng, enum p2p_frame_mode mode,
                         struct buf *b, size_t *body_off)
{
    b->len = 0;
    *body_off = SIZE_MAX;
    if (chance(rng, 4)) { /* noise */
        buf_random(b, rng, (size_t)below(rng, 100));
        return;
    }
    if (mode == P2P_FRAME_REQUEST) {
        uint64_t r = below(rng, 100);
        if (r < 90) {
            /* mostly the routes whose requests carry bodies */
            enum p2p_route route =
                chance(rng, 60) ? P2P_ROUTE_ARTIFACT_UPDATE
                                : (enum p2p_route)below(rng, P2P_ROUTES_COUNT);
            const char *path = p2p_route_path(route);
            buf_key(b, 1, 2, chance(rng, 5) ? 1 + (unsigned)below(rng, 5) : 0);
            buf_varint(b, strlen(path),
                       chance(rng, 5) ? 1 + (unsigned)below(rng, 5) : 0);
            buf_put(b, path, strlen(path));
        } else if (r < 96) {
            size_t n = (size_t)below(rng, 70);
            buf_key(b, 1, 2, 0);
            buf_varint(b, n, 0);
            buf_random(b, rng, n);
        } else {
            buf_unknown(b, rng, 1);
        }
    } else if (chance(rng, 85)) {
        buf_key(b, 1, 0, chance(rng, 5) ? 1 + (unsigned)below(rng, 5) : 0);
        buf_varint(b, chance(rng, 70) ? 200 : rand_value(rng),
                   chance(rng, 5) ? 1 + (unsigned)below(rng, 10) : 0);
    }
    for (uint64_t k = below(rng, 3); k > 0; k--) {
        switch (below(rng, 6)) {
        case 0: /* an earlier body (the last one wins) */
            buf_key(b, 2, 2, 0);
            buf_varint(b, below(rng, 10), 0);
            buf_random(b, rng, b->p[b->len - 1]);
            break;
        case 1: /* field 1 again: a second path, or a later status */
            buf_key(b, 1, mode == P2P_FRAME_REQUEST ? 2 : 0, 0);
            buf_varint(b, 1, 0);
            if (mode == P2P_FRAME_REQUEST)
                buf_byte(b, '/');
            break;
        case 2: /* a known field with the wrong wire type */
            buf_key(b, 1 + (uint32_t)below(rng, 2), chance(rng, 50) ? 5 : 0, 0);
            buf_random(b, rng, 4);
            break;
        default:
            buf_unknown(b, rng, 3);
        }
    }
    if (chance(rng, 88)) {
        size_t n = rand_body_len(rng);
        buf_key(b, 2, 2, chance(rng, 3) ? 1 + (unsigned)below(rng, 5) : 0);
        buf_varint(b, n, chance(rng, 3) ? 1 + (unsigned)below(rng, 5) : 0);
        *body_off = b->len;
        buf_random(b, rng, n);
    }
    if (chance(rng, 8))
        buf_unknown(b, rng, 3);
    for (uint64_t m = chance(rng, 20) ? 1 + below(rng, 3) : 0; m > 0; m--) {
        if (b->len == 0)
            break;
        size_t at = (size_t)below(rng, b->len);
        switch (below(rng, 4)) {
        case 0:
            b->p[at] ^= (uint8_t)(1u << below(rng, 8));
            break;
        case 1:
            b->len = at;
            break;
        case 2:
            memmove(b->p + at, b->p + at + 1, b->len - at - 1);
            b->len--;
            break;
        default:
            buf_reserve(b, 1);
            memmove(b->p + at + 1, b->p + at, b->len - at);
            b->p[at] = (uint8_t)p2p_rng_u32(rng);
            b->len++;
        }
    }
}

/* Tallies of what the generator reached, so that a test that passes has
 * tested something. */
struct tally {
    unsigned ok, kept, errors, split_at_body;
};

#define DIFF_SLICES 20
#define DIFF_PER_SLICE 5000

/* One slice (of DIFF_SLICES; 100,000 envelopes in all, half of them
 * requests) of seeded envelopes in every mode (requests; responses on
 * every route, capped or not), under default or small random limits: read
 * whole and in random pieces with no tail, and with a tail split at the
 * body's start or at a random point, whole, with feed_tail and in pieces:
 * the same rc and the same route, status and body as feed + finish. */
START_TEST(whole_and_pieces_match_feed_finish)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, 0x7a11, (uint64_t)_i);
    struct buf b = {0};
    struct tally t = {0};
    for (unsigned it = 0; it < DIFF_PER_SLICE; it++) {
        /* Half requests; half responses, on each route in turn, every
         * other time capped. */
        bool request = it % 2 == 0, capped = !request && (it / 8) % 2 == 1;
        struct p2p_route_limits limits;
        p2p_route_limits_default(&limits);
        struct setup s = {.mode =
                              request ? P2P_FRAME_REQUEST : P2P_FRAME_RESPONSE,
                          .route = request ? 0 : (enum p2p_route)((it / 2) % 4),
                          .limits = &limits,
                          .cap = SIZE_MAX};
        size_t body_off;
        gen_envelope(&rng, s.mode, &b, &body_off);
        if (chance(&rng, 25)) /* limits around the envelope's size */
            for (unsigned r = 0; r < P2P_ROUTES_COUNT; r++) {
                limits.request_bytes_max[r] = (size_t)below(&rng, b.len + 80);
                limits.response_bytes_max[r] = (size_t)below(&rng, b.len + 80);
            }
        if (capped)
            s.cap = chance(&rng, 50) ? b.len : (size_t)below(&rng, b.len + 80);
        /* No tail: whole and pieces. */
        describe("no tail", &s, b.p, b.len, b.len);
        struct outcome want, got;
        run_flat(&s, b.p, b.len, &want);
        run_whole(&s, b.p, b.len, NULL, &got);
        expect_same(&want, &got, "whole");
        outcome_free(&got);
        run_pieces(&s, b.p, b.len, NULL, &rng, &got);
        expect_same(&want, &got, "pieces");
        outcome_free(&got);
        t.ok += want.rc == 0;
        t.errors += want.rc != 0;
        outcome_free(&want);
        /* With a tail. */
        size_t split;
        if (body_off < b.len && chance(&rng, 50)) {
            split = body_off;
            t.split_at_body++;
        } else {
            split = (size_t)below(&rng, b.len + 1);
        }
        t.kept += check_split(&s, b.p, b.len, split, &rng, "tail");
    }
    buf_free(&b);
    if (getenv("P2P_TAIL_VERBOSE") != NULL)
        fprintf(stderr, "slice %d: ok %u errors %u kept %u split at body %u\n",
                _i, t.ok, t.errors, t.kept, t.split_at_body);
    /* The mix is wide: successes, failures and kept tails in each slice. */
    ck_assert_uint_ge(t.ok, DIFF_PER_SLICE / 5);
    ck_assert_uint_ge(t.errors, DIFF_PER_SLICE / 10);
    ck_assert_uint_ge(t.kept, DIFF_PER_SLICE / 20);
    ck_assert_uint_ge(t.split_at_body, DIFF_PER_SLICE / 5);
}
END_TEST

/* flat[0..len) split at `split` reads the same whole, with feed_tail and
 * flat; returns the flat read's rc. The tests below are the smallest
 * inputs on which whole or feed_tail once read otherwise. */
static int expect_split_reads_flat(const struct setup *s, const uint8_t *flat,
                                   size_t len, size_t split, const char *what)
{
    describe(what, s, flat, len, split);
    struct outcome want, got;
    run_flat(s, flat, len, &want);
    struct p2p_body *tail = body_of(flat + split, len - split);
    run_pieces(s, flat, split, tail, NULL, &got);
    expect_same(&want, &got, "feed_tail");
    outcome_free(&got);
    run_whole(s, flat, split, tail, &got);
    expect_same(&want, &got, "whole");
    outcome_free(&got);
    p2p_body_release(tail, NULL, P2P_MEM_OTHER);
    int rc = want.rc;
    outcome_free(&want);
    return rc;
}

/* whole() on a request whose path runs into the tail (the head ends
 * after the path's tag and length): the route is not known from the
 * head, so it must read the tail as fed. Request {"/artifact/update"}
 * split at 2 reads ok (an empty body), not TRUNCATED; with an 80-byte
 * body after it, past the prefix cap, not OVERSIZE. */
START_TEST(whole_reads_path_that_runs_into_tail)
{
    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    struct setup s = {
        .mode = P2P_FRAME_REQUEST, .limits = &limits, .cap = SIZE_MAX};
    struct buf b = {0};
    buf_put(&b, "\x0a\x10/artifact/update", 18);
    ck_assert_int_eq(
        expect_split_reads_flat(&s, b.p, b.len, 2, "path in the tail"), 0);
    buf_put(&b, "\x12\x50", 2);
    buf_random(&b, &(struct p2p_rng){5, 3}, 80);
    expect_split_reads_flat(&s, b.p, b.len, 2, "path and body in the tail");
    buf_free(&b);
}
END_TEST

/* An /artifact/rpc response whose every byte is in the tail (an empty
 * head): Response {200} (08 c8 01, split 0) reads ok with status 200
 * through feed_tail and whole, not TRUNCATED. */
START_TEST(empty_head_tail_read_as_fed)
{
    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    struct setup s = {.mode = P2P_FRAME_RESPONSE,
                      .route = P2P_ROUTE_ARTIFACT_RPC,
                      .limits = &limits,
                      .cap = SIZE_MAX};
    ck_assert_int_eq(expect_split_reads_flat(&s,
                                             (const uint8_t *)"\x08\xc8\x01", 3,
                                             0, "status alone, in the tail"),
                     0);
}
END_TEST

/* A tail that turns out not to end the body is copied in at finish with
 * the declared-length check feed applies. On /artifact/rpc capped at 20
 * bytes, 08 c8 01 22 01 | ff 12 64 00*12 (status 200, field 4 of one
 * byte which is the tail's first, then a body declaring 100 bytes) is
 * OVERSIZE through feed_tail and whole, as flat, not TRUNCATED. */
START_TEST(tail_copied_at_finish_checks_declared_length)
{
    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    struct setup s = {.mode = P2P_FRAME_RESPONSE,
                      .route = P2P_ROUTE_ARTIFACT_RPC,
                      .limits = &limits,
                      .cap = 20};
    uint8_t flat[20] = {0x08, 0xc8, 0x01, 0x22, 0x01, 0xff, 0x12, 0x64};
    ck_assert_int_eq(
        expect_split_reads_flat(&s, flat, sizeof(flat), 5,
                                "body past the cap, declared in the tail"),
        P2P_ERR_OVERSIZE);
}
END_TEST

/* ---- 5. wire_view tails ---- */

/* An Artifact with random fields before its body (which is last unless
 * trailing). Returns the body's offset in b. */
static size_t gen_artifact(struct p2p_rng *rng, struct buf *b, size_t n,
                           bool trailing)
{
    for (uint64_t k = below(rng, 5); k > 0; k--) {
        switch (below(rng, 4)) {
        case 0: /* kind, uint32 from a varint of any width */
            buf_key(b, 1, 0, chance(rng, 10) ? 1 + (unsigned)below(rng, 5) : 0);
            buf_varint(b, rand_value(rng),
                       chance(rng, 10) ? 1 + (unsigned)below(rng, 10) : 0);
            break;
        case 1: { /* id, usually 32 bytes */
            size_t len = chance(rng, 80) ? 32 : (size_t)below(rng, 40);
            buf_key(b, 3, 2, 0);
            buf_varint(b, len,
                       chance(rng, 10) ? 1 + (unsigned)below(rng, 5) : 0);
            buf_random(b, rng, len);
            break;
        }
        case 2: { /* an earlier body: replaced */
            size_t len = (size_t)below(rng, 20);
            buf_key(b, 2, 2, 0);
            buf_varint(b, len, 0);
            buf_random(b, rng, len);
            break;
        }
        default:
            buf_unknown(b, rng, 5); /* 4 is the height */
        }
    }
    buf_key(b, 2, 2, chance(rng, 10) ? 1 + (unsigned)below(rng, 5) : 0);
    buf_varint(b, n, chance(rng, 10) ? 1 + (unsigned)below(rng, 5) : 0);
    size_t off = b->len;
    buf_random(b, rng, n);
    if (trailing) {
        if (chance(rng, 50)) {
            buf_key(b, 1, 0, 0);
            buf_varint(b, below(rng, 3), 0);
        } else {
            buf_unknown(b, rng, 5);
        }
    }
    return off;
}

/* A SlotUpdate whose last field is a pushed Artifact (unless trailing),
 * after random other fields, earlier oneof members included. Returns the
 * pushed body's offset in b. */
static size_t gen_slot_update(struct p2p_rng *rng, struct buf *b, size_t n,
                              bool trailing_art, bool trailing)
{
    for (uint64_t k = below(rng, 5); k > 0; k--) {
        switch (below(rng, 6)) {
        case 0:
        case 1: /* commit_id, slot_id */
            buf_key(b, 1 + (uint32_t)below(rng, 2), 0, 0);
            buf_varint(b, rand_value(rng),
                       chance(rng, 10) ? 1 + (unsigned)below(rng, 10) : 0);
            break;
        case 2: { /* an earlier ref, replaced by the artifact */
            struct buf ref = {0};
            buf_key(&ref, 1, 2, 0);
            buf_varint(&ref, 32, 0);
            buf_random(&ref, rng, 32);
            buf_key(&ref, 3, 0, 0);
            buf_varint(&ref, rand_value(rng), 0);
            buf_key(b, 4, 2, 0);
            buf_varint(b, ref.len, 0);
            buf_put(b, ref.p, ref.len);
            buf_free(&ref);
            break;
        }
        case 3: { /* an earlier artifact, replaced whole */
            struct buf art = {0};
            gen_artifact(rng, &art, (size_t)below(rng, 30), false);
            buf_key(b, 3, 2, 0);
            buf_varint(b, art.len, 0);
            buf_put(b, art.p, art.len);
            buf_free(&art);
            break;
        }
        case 4: /* deleted */
            buf_key(b, 5, 0, 0);
            buf_varint(b, below(rng, 2), 0);
            break;
        default:
            buf_unknown(b, rng, 6);
        }
    }
    struct buf art = {0};
    size_t off = gen_artifact(rng, &art, n, trailing_art);
    buf_key(b, 3, 2, chance(rng, 10) ? 1 + (unsigned)below(rng, 5) : 0);
    buf_varint(b, art.len, chance(rng, 10) ? 1 + (unsigned)below(rng, 5) : 0);
    off += b->len;
    buf_put(b, art.p, art.len);
    buf_free(&art);
    if (trailing) {
        if (chance(rng, 50)) {
            buf_key(b, 1 + (uint32_t)below(rng, 2), 0, 0);
            buf_varint(b, rand_value(rng), 0);
        } else {
            buf_unknown(b, rng, 6);
        }
    }
    return off;
}

static bool view_eq(struct p2p_bytes_view a, struct p2p_bytes_view b)
{
    return a.data == b.data && a.len == b.len;
}

static bool artifact_eq(const struct p2p_artifact_view *a,
                        const struct p2p_artifact_view *b)
{
    return a->kind == b->kind && view_eq(a->body, b->body) &&
           view_eq(a->id, b->id);
}

/* The split points tried for a message of len bytes: all when it is
 * short; else the ends, around body_off, and random ones. */
static size_t splits_of(struct p2p_rng *rng, size_t len, size_t body_off,
                        size_t out[48])
{
    size_t k = 0;
    if (len <= 48) {
        for (size_t s = 0; s < len; s++)
            out[k++] = s;
        return k;
    }
    size_t fixed[] = {0, 1, len - 1, body_off - 1, body_off, body_off + 1};
    for (size_t i = 0; i < COUNT(fixed); i++)
        if (fixed[i] < len)
            out[k++] = fixed[i];
    while (k < 48)
        out[k++] = (size_t)below(rng, len);
    return k;
}

/* Random valid Artifacts with the body last, split at the body's start:
 * the tail decoder gives the flat decoder's fields and the body view
 * {buf + len, tail}; split anywhere else (or with a field after the body)
 * it returns P2P_ERR_DECODE. */
START_TEST(artifact_tail_decoder_matches_flat)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, 0xa17, 5);
    struct buf b = {0};
    unsigned tails_ok = 0;
    for (int it = 0; it < 20000; it++) {
        b.len = 0;
        bool trailing = chance(&rng, 15);
        size_t n = rand_body_len(&rng);
        size_t off = gen_artifact(&rng, &b, n, trailing);
        struct p2p_artifact_view flat, v;
        ck_assert_msg(p2p_wire_view_artifact(b.p, b.len, &flat) == 0,
                      "generated artifact does not decode: %s",
                      hex(b.p, b.len));
        if (!trailing)
            ck_assert_ptr_eq(flat.body.data, b.p + off);
        size_t splits[48], k = splits_of(&rng, b.len, off, splits);
        for (size_t i = 0; i < k; i++) {
            size_t s = splits[i];
            memset(&v, 0xa5, sizeof(v));
            int rc = p2p_wire_view_artifact_tail(b.p, s, b.len - s, &v);
            if (!trailing && s == off) {
                ck_assert_msg(
                    rc == 0 && artifact_eq(&v, &flat) &&
                        v.body.data == b.p + s && v.body.len == b.len - s,
                    "rc %d at the body (%zu): %s", rc, s, hex(b.p, b.len));
                tails_ok++;
            } else {
                ck_assert_msg(rc == P2P_ERR_DECODE,
                              "rc %d for split %zu (body at %zu%s): %s", rc, s,
                              off, trailing ? ", field after" : "",
                              hex(b.p, b.len));
            }
        }
    }
    ck_assert_uint_ge(tails_ok, 10000);
    buf_free(&b);
}
END_TEST

/* The same for SlotUpdates pushing an artifact (the artifact last, its
 * body last); the flat decode also agrees with protobuf-c's unpack. */
START_TEST(slot_update_tail_decoder_matches_flat)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, 0x5107, 5);
    struct buf b = {0};
    unsigned tails_ok = 0;
    for (int it = 0; it < 20000; it++) {
        b.len = 0;
        bool trailing_art = chance(&rng, 8), trailing = chance(&rng, 8);
        size_t n = rand_body_len(&rng);
        size_t off = gen_slot_update(&rng, &b, n, trailing_art, trailing);
        bool last = !trailing_art && !trailing;
        struct p2p_slot_update_view flat, v;
        ck_assert_msg(p2p_wire_view_slot_update(b.p, b.len, &flat) == 0,
                      "generated update does not decode: %s", hex(b.p, b.len));
        ck_assert_int_eq(flat.update_case, P2P_SLOT_UPDATE_ARTIFACT);
        if (!trailing_art)
            ck_assert_ptr_eq(flat.artifact.body.data, b.p + off);
        P2p__V1__SlotUpdate *u = p2p__v1__slot_update__unpack(NULL, b.len, b.p);
        ck_assert_ptr_nonnull(u);
        ck_assert_uint_eq(u->commit_id, flat.commit_id);
        ck_assert_uint_eq(u->slot_id, flat.slot_id);
        ck_assert_int_eq(u->update_case, P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT);
        ck_assert_uint_eq(u->artifact->kind, flat.artifact.kind);
        ck_assert_uint_eq(u->artifact->body.len, flat.artifact.body.len);
        BYTES_EQ(u->artifact->body.data, flat.artifact.body.data,
                 flat.artifact.body.len);
        ck_assert_uint_eq(u->artifact->id.len, flat.artifact.id.len);
        p2p__v1__slot_update__free_unpacked(u, NULL);
        size_t splits[48], k = splits_of(&rng, b.len, off, splits);
        for (size_t i = 0; i < k; i++) {
            size_t s = splits[i];
            memset(&v, 0xa5, sizeof(v));
            int rc = p2p_wire_view_slot_update_tail(b.p, s, b.len - s, &v);
            if (last && s == off) {
                ck_assert_msg(rc == 0 && v.commit_id == flat.commit_id &&
                                  v.slot_id == flat.slot_id &&
                                  v.update_case == flat.update_case &&
                                  artifact_eq(&v.artifact, &flat.artifact) &&
                                  v.artifact.body.data == b.p + s &&
                                  v.artifact.body.len == b.len - s,
                              "rc %d at the body (%zu): %s", rc, s,
                              hex(b.p, b.len));
                tails_ok++;
            } else {
                ck_assert_msg(rc == P2P_ERR_DECODE,
                              "rc %d for split %zu (body at %zu, last %d): %s",
                              rc, s, off, last, hex(b.p, b.len));
            }
        }
    }
    ck_assert_uint_ge(tails_ok, 10000);
    buf_free(&b);
}
END_TEST

/* ---- 6. the outbox ---- */

static const char head_bytes[] = "envelope head";
#define HEAD_LEN (sizeof(head_bytes) - 1)

/* The caller's bytes for an action: a copy of head_bytes from mem. */
static uint8_t *head_alloc(struct p2p_mem *mem)
{
    uint8_t *p = p2p_mem_alloc_raw(mem, P2P_MEM_OUTBOX, HEAD_LEN);
    ck_assert_ptr_nonnull(p);
    memcpy(p, head_bytes, HEAD_LEN);
    return p;
}

static struct p2p_action respond_with(uint8_t *bytes, struct p2p_body *body)
{
    return (struct p2p_action){.type = P2P_ACT_STREAM_RESPOND,
                               .peer = 1,
                               .stream_id = 4,
                               .status = 200,
                               .traffic = P2P_TRAFFIC_ARTIFACT,
                               .bytes = bytes,
                               .len = HEAD_LEN,
                               .body = body};
}

/* Without shared bodies a push gets one flat buffer (head then body, the
 * action's body NULL) and holds no reference; an empty body adds
 * nothing. */
START_TEST(outbox_flattens_without_shared_bodies)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_outbox o;
    p2p_outbox_init(&o, &mem, 8);
    uint8_t *body = pattern(300, 6);
    struct p2p_body *b = body_of(body, 300), *empty = body_of(NULL, 0);
    struct p2p_action a = respond_with(head_alloc(&mem), b);
    ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
    a = respond_with(head_alloc(&mem), empty);
    ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
    const struct p2p_action *got = p2p_outbox_at(&o, 0);
    ck_assert_ptr_null(got->body);
    ck_assert_uint_eq(got->len, HEAD_LEN + 300);
    ck_assert_uint_eq(p2p_action_wire_len(got), HEAD_LEN + 300);
    ck_assert_mem_eq(got->bytes, head_bytes, HEAD_LEN);
    ck_assert_mem_eq(got->bytes + HEAD_LEN, body, 300);
    got = p2p_outbox_at(&o, 1);
    ck_assert_ptr_null(got->body);
    ck_assert_uint_eq(got->len, HEAD_LEN);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_uint_eq(empty->refs, 1);
    size_t items = o.capacity * sizeof(struct p2p_action);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_OUTBOX],
                      items + 2 * HEAD_LEN + 300);
    p2p_outbox_clear(&o);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_OUTBOX], items);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
    p2p_body_release(b, NULL, P2P_MEM_OTHER);
    p2p_body_release(empty, NULL, P2P_MEM_OTHER);
    free(body);
}
END_TEST

/* With shared bodies a push holds one reference per action, charged to
 * P2P_MEM_OUTBOX; its bytes stay the head; taking the bytes leaves the
 * reference; clear lets every reference go. */
START_TEST(outbox_holds_shared_bodies)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_outbox o;
    p2p_outbox_init(&o, &mem, 8);
    o.shared_bodies = true;
    uint8_t *body = pattern(300, 7);
    struct p2p_body *b = body_of(body, 300);
    for (int k = 0; k < 2; k++) {
        struct p2p_action a = respond_with(head_alloc(&mem), b);
        ck_assert_int_eq(p2p_outbox_push(&o, &a), 0);
        ck_assert_uint_eq(b->refs, 2 + (uint32_t)k);
    }
    size_t items = o.capacity * sizeof(struct p2p_action);
    const struct p2p_action *got = p2p_outbox_at(&o, 0);
    ck_assert_ptr_eq(got->body, b);
    ck_assert_uint_eq(got->len, HEAD_LEN);
    ck_assert_mem_eq(got->bytes, head_bytes, HEAD_LEN);
    ck_assert_uint_eq(p2p_action_wire_len(got), HEAD_LEN + 300);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_OUTBOX],
                      items + 2 * (HEAD_LEN + 300));
    uint8_t *taken = p2p_outbox_take_bytes(&o, 1);
    ck_assert_ptr_nonnull(taken);
    p2p_mem_free(&mem, P2P_MEM_OUTBOX, taken);
    ck_assert_uint_eq(b->refs, 3);
    p2p_outbox_clear(&o);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_OUTBOX], items);
    p2p_outbox_fini(&o);
    ck_assert_uint_eq(mem.bytes, 0);
    p2p_body_release(b, NULL, P2P_MEM_OTHER);
    free(body);
}
END_TEST

/* The N-th allocation (or charge) of a push fails, for N = 1, 2, ...
 * until none does, flat and shared: P2P_ERR_NOMEM, nothing appended, no
 * reference taken, and the caller's bytes still valid and theirs to free;
 * a full outbox is P2P_ERR_LIMIT the same way. */
START_TEST(outbox_push_failure_keeps_callers_bytes)
{
    uint8_t *body = pattern(300, 8);
    struct p2p_body *b = body_of(body, 300);
    for (int shared = 0; shared <= 1; shared++) {
        unsigned failures = 0;
        for (uint64_t n = 1;; n++) {
            ck_assert_uint_lt(n, 10);
            struct p2p_mem mem;
            p2p_mem_init(&mem);
            struct p2p_outbox o;
            p2p_outbox_init(&o, &mem, 1);
            o.shared_bodies = shared;
            uint8_t *bytes = head_alloc(&mem);
            mem.fail_at = mem.allocs + n;
            struct p2p_action a = respond_with(bytes, b);
            int rc = p2p_outbox_push(&o, &a);
            mem.fail_at = 0;
            if (rc == 0) {
                ck_assert_uint_eq(p2p_outbox_count(&o), 1);
                /* Full: the next push is refused the same way. */
                uint8_t *more = head_alloc(&mem);
                a = respond_with(more, b);
                ck_assert_int_eq(p2p_outbox_push(&o, &a), P2P_ERR_LIMIT);
                ck_assert_uint_eq(b->refs, 1 + (uint32_t)shared);
                ck_assert_mem_eq(more, head_bytes, HEAD_LEN);
                p2p_mem_free(&mem, P2P_MEM_OUTBOX, more);
                p2p_outbox_fini(&o);
                ck_assert_uint_eq(mem.bytes, 0);
                ck_assert_uint_eq(b->refs, 1);
                break;
            }
            failures++;
            ck_assert_int_eq(rc, P2P_ERR_NOMEM);
            ck_assert_uint_eq(p2p_outbox_count(&o), 0);
            ck_assert_uint_eq(b->refs, 1);
            ck_assert_mem_eq(bytes, head_bytes, HEAD_LEN);
            /* only the caller's bytes and the item array are charged */
            ck_assert_uint_eq(mem.module_bytes[P2P_MEM_OUTBOX],
                              HEAD_LEN +
                                  o.capacity * sizeof(struct p2p_action));
            p2p_mem_free(&mem, P2P_MEM_OUTBOX, bytes);
            p2p_outbox_fini(&o);
            ck_assert_uint_eq(mem.bytes, 0);
        }
        ck_assert_uint_eq(failures, 2); /* the item array, then the body */
    }
    p2p_body_release(b, NULL, P2P_MEM_OTHER);
    free(body);
}
END_TEST

/* ---- 7. node level ---- */

/* Answers a fetch as a server with shared bodies does: Response {200,
 * Artifact {advert} up to the body}, then t apart. The first `first`
 * bytes of the head come in an earlier read (SIZE_MAX: all at once). */
static int serve_tail(struct harness *h, const struct p2p_action *fetch,
                      struct p2p_body *t, size_t first)
{
    uint8_t art[P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX];
    size_t al = p2p_wire_artifact_head(art, P2P_KIND_ADVERT, NULL, t->len);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *head;
    size_t hl;
    ck_assert_int_eq(
        p2p_frame_response_encode(
            &mem, P2P_MEM_OTHER,
            &(struct p2p_frame_response){
                .status = 200, .body = art, .body_len = al, .tail_len = t->len},
            &head, &hl),
        0);
    struct p2p_stream_bytes in = {
        .peer = fetch->peer, .stream_id = fetch->stream_id, .inbound = false};
    if (first < hl) {
        in.data = head;
        in.len = first;
        ck_assert_int_eq(p2p_node_on_stream_data(h->node, h->now, &in), 0);
    } else {
        first = 0;
    }
    in.data = head + first;
    in.len = hl - first;
    in.fin = true;
    in.tail = t;
    int rc = p2p_node_on_stream_data(h->node, h->now, &in);
    p2p_mem_free(&mem, P2P_MEM_OTHER, head);
    ck_assert_uint_eq(mem.bytes, 0);
    return rc;
}

/* Advertises id (size bytes) from peer 1 and returns the fetch the node
 * opened. */
static struct p2p_action fetch_of(struct harness *h,
                                  const struct p2p_artifact_id *id, size_t size)
{
    ck_assert_int_eq(h_advert(h, 1, 0, 1, id, size), 0);
    const struct p2p_action *f =
        h_find(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    ck_assert_ptr_nonnull(f);
    struct p2p_action copy = *f;
    h_clear(h);
    return copy;
}

/* A fetched artifact that arrives as head + shared tail lands in the pool
 * as that very body (no copy), charged to the pool, and is hashed once: a
 * second node that gets the same body (this time after an earlier read of
 * part of the head) finds it hashed already. Both nodes free everything;
 * the body is back to the test's one reference. */
START_TEST(fetched_tail_lands_in_pool_shared_hashed_once)
{
    uint8_t *bytes = pattern(5000, 9);
    struct p2p_artifact_id id;
    p2p_id_of(bytes, 5000, &id);
    struct p2p_body *t = body_of(bytes, 5000);
    struct harness a, b;
    h_init(&a, 1);
    h_init(&b, 1);
    struct p2p_action fa = fetch_of(&a, &id, 5000);
    struct p2p_action fb = fetch_of(&b, &id, 5000);
    ck_assert(!t->hashed);
    ck_assert_int_eq(serve_tail(&a, &fa, t, SIZE_MAX), 0);
    const struct p2p_pool_entry *e = p2p_pool_get(p2p_node_pool(a.node), &id);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_eq(e->shared, t);
    ck_assert_ptr_eq(e->body, t->bytes);
    ck_assert_uint_eq(e->len, 5000);
    ck_assert(t->hashed);
    ck_assert(p2p_id_eq(&t->id, &id));
    ck_assert_uint_eq(t->refs, 2);
    ck_assert_uint_ge(a.mem.module_bytes[P2P_MEM_POOL], 5000);
    ck_assert_uint_eq(h_count(&a, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    /* The second node: already hashed before it sees the body. */
    ck_assert(t->hashed);
    ck_assert_int_eq(serve_tail(&b, &fb, t, 3), 0);
    e = p2p_pool_get(p2p_node_pool(b.node), &id);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_eq(e->shared, t);
    ck_assert_uint_eq(t->refs, 3);
    ck_assert_uint_eq(h_count(&b, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(a.node), 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(b.node), 0);
    h_clear(&a);
    h_clear(&b);
    h_fini(&a);
    ck_assert_uint_eq(t->refs, 2);
    h_fini(&b);
    ck_assert_uint_eq(t->refs, 1);
    p2p_body_release(t, NULL, P2P_MEM_OTHER);
    free(bytes);
}
END_TEST

/* A push end to end: a node with shared bodies inserts a body and pushes
 * it (the action holds the body, its bytes the head only); a second node
 * receives that head with the body as its tail (one read, with FIN) and
 * keeps the same body in its pool without hashing it again. */
START_TEST(pushed_tail_lands_in_peer_pool_shared)
{
    uint8_t *bytes = pattern(3000, 10);
    struct p2p_body *t = body_of(bytes, 3000);
    struct harness a, b;
    h_init(&a, 1);
    h_init(&b, 1);
    p2p_node_outbox(a.node)->shared_bodies = true;
    struct p2p_artifact_id id;
    ck_assert_int_eq(p2p_node_insert_body(a.node, a.now, P2P_KIND_PUSH, t, &id),
                     0);
    ck_assert(t->hashed);
    const struct p2p_action *push =
        h_find(&a, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_UPDATE, 0);
    ck_assert_ptr_nonnull(push);
    ck_assert_ptr_eq(push->body, t);
    ck_assert_uint_eq(p2p_action_wire_len(push), push->len + 3000);
    uint32_t refs = t->refs;
    ck_assert_int_eq(
        p2p_node_on_stream_data(b.node, b.now,
                                &(struct p2p_stream_bytes){.peer = 1,
                                                           .stream_id = 1,
                                                           .inbound = true,
                                                           .data = push->bytes,
                                                           .len = push->len,
                                                           .fin = true,
                                                           .tail = push->body}),
        0);
    const struct p2p_pool_entry *e = p2p_pool_get(p2p_node_pool(b.node), &id);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_eq(e->shared, t);
    ck_assert_uint_eq(t->refs, refs + 1);
    ck_assert_uint_eq(h_count(&b, P2P_ACT_ARTIFACT_RECEIVED, -1), 1);
    ck_assert_uint_eq(h_response_status(&b, 0), 200);
    ck_assert_int_eq(p2p_node_check_invariants_deep(b.node), 0);
    h_clear(&a);
    h_clear(&b);
    h_fini(&a);
    h_fini(&b);
    ck_assert_uint_eq(t->refs, 1);
    p2p_body_release(t, NULL, P2P_MEM_OTHER);
    free(bytes);
}
END_TEST

static Suite *frame_tail_suite(void)
{
    Suite *s = suite_create("frame_tail");
    TCase *tc = tcase_create("heads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, request_encoder_matches_protobuf_c);
    tcase_add_test(tc, response_encoder_matches_protobuf_c);
    tcase_add_test(tc, update_ack_matches_protobuf_c);
    tcase_add_test(tc, fetch_request_matches_protobuf_c);
    tcase_add_test(tc, artifact_head_then_body_unpacks_as_artifact);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, tail_shapes_read_like_flat_bytes, 0, COUNT(shapes));
    tcase_add_test(tc, kept_tail_is_the_same_body);
    tcase_add_loop_test(tc, whole_and_pieces_match_feed_finish, 0, DIFF_SLICES);
    suite_add_tcase(s, tc);
    tc = tcase_create("smallest");
    tcase_add_test(tc, whole_reads_path_that_runs_into_tail);
    tcase_add_test(tc, empty_head_tail_read_as_fed);
    tcase_add_test(tc, tail_copied_at_finish_checks_declared_length);
    suite_add_tcase(s, tc);
    tc = tcase_create("wire_view");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, artifact_tail_decoder_matches_flat);
    tcase_add_test(tc, slot_update_tail_decoder_matches_flat);
    suite_add_tcase(s, tc);
    tc = tcase_create("outbox");
    tcase_add_test(tc, outbox_flattens_without_shared_bodies);
    tcase_add_test(tc, outbox_holds_shared_bodies);
    tcase_add_test(tc, outbox_push_failure_keeps_callers_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("node");
    tcase_add_test(tc, fetched_tail_lands_in_pool_shared_hashed_once);
    tcase_add_test(tc, pushed_tail_lands_in_peer_pool_shared);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(frame_tail_suite());
}
