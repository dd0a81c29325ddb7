/* Streaming readers (core/framing.h, p2p_frame_reader_set_store, and
 * core/body_sink.h): a fetched artifact's body goes to the backend's store
 * as it arrives, hashed on the way, and becomes the frame's tail.
 *
 * The store here keeps bodies in memory and records what it was asked, so
 * that each test can check which bytes went where: the reader's buffer
 * holds only the envelope's head, the store every body byte in order, and
 * the frame decodes as the same bytes fed to a reader without a store. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/body.h"
#include "core/err.h"
#include "core/framing.h"
#include "core/mem.h"
#include "core/wire_view.h"
#include "core/wire_write.h"
#include "harness.h"

#define STORE_MIN 4096u

/* ---- a store in memory that counts its calls ---- */

struct test_store {
    struct p2p_body_store ops;
    bool refuse_open;  /* open answers NULL */
    bool wrong_id;     /* a hashing store's seal sets a wrong id */
    size_t fail_after; /* write fails once this many bytes were taken (0:
                          never) */
    unsigned opened, sealed, released, released_unsealed;
    size_t taken; /* bytes written into the current body */
};

struct test_body {
    struct p2p_body b; /* first: the release gets it back */
    struct test_store *store;
    uint8_t *bytes; /* malloc'd, len bytes */
    size_t written;
};

static void test_body_release(struct p2p_body *b)
{
    struct test_body *t = (struct test_body *)b;
    t->store->released++;
    if (b->bytes == NULL)
        t->store->released_unsealed++;
    free(t->bytes);
    free(t);
}

static const struct p2p_body_owner test_owner = {.release = test_body_release};

static struct p2p_body *store_open(void *ctx, size_t len)
{
    struct test_store *s = ctx;
    if (s->refuse_open)
        return NULL;
    struct test_body *t = calloc(1, sizeof(*t));
    ck_assert_ptr_nonnull(t);
    t->store = s;
    t->bytes = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(t->bytes);
    ck_assert(p2p_body_wrap(&t->b, NULL, P2P_MEM_OTHER, NULL, len, &test_owner,
                            NULL));
    s->opened++;
    s->taken = 0;
    return &t->b;
}

static int store_write(void *ctx, struct p2p_body *b, const uint8_t *data,
                       size_t len)
{
    struct test_store *s = ctx;
    struct test_body *t = (struct test_body *)b;
    ck_assert_ptr_null(b->bytes); /* never written after seal */
    ck_assert_uint_le(t->written + len, b->len);
    if (s->fail_after != 0 && s->taken + len > s->fail_after)
        return P2P_ERR_WRITE;
    memcpy(t->bytes + t->written, data, len);
    t->written += len;
    s->taken += len;
    return 0;
}

static int store_seal(void *ctx, struct p2p_body *b)
{
    struct test_store *s = ctx;
    struct test_body *t = (struct test_body *)b;
    ck_assert_uint_eq(t->written, b->len);
    b->bytes = t->bytes;
    if (s->ops.hashes) {
        p2p_id_of(b->bytes, b->len, &b->id);
        b->id.b[0] ^= s->wrong_id ? 1 : 0;
        b->hashed = true;
    }
    s->sealed++;
    return 0;
}

static void store_init(struct test_store *s)
{
    memset(s, 0, sizeof(*s));
    s->ops = (struct p2p_body_store){.bytes_min = STORE_MIN,
                                     .ctx = s,
                                     .open = store_open,
                                     .write = store_write,
                                     .seal = store_seal};
}

/* ---- messages ---- */

static uint8_t *pattern(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

/* Response {status 200, body = Artifact {kind, id, body}} as ours write
 * it, plus extra bytes after the envelope's body (an unknown field 7 of
 * extra_len bytes) when extra_len > 0. Caller frees. */
static uint8_t *response(const uint8_t *body, size_t len, size_t extra_len,
                         size_t *out_len)
{
    uint8_t head[P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX];
    struct p2p_artifact_id id;
    p2p_id_of(body, len, &id);
    size_t h = p2p_wire_artifact_head(head, 1, &id, len);
    size_t inner = h + len;
    size_t cap = 32 + inner + extra_len + 16;
    uint8_t *m = malloc(cap);
    ck_assert_ptr_nonnull(m);
    size_t n = 0;
    m[n++] = 0x08; /* status */
    n += p2p_wire_put_varint(m + n, 200);
    m[n++] = 0x12; /* body */
    n += p2p_wire_put_varint(m + n, inner);
    memcpy(m + n, head, h);
    n += h;
    memcpy(m + n, body, len);
    n += len;
    if (extra_len > 0) {
        m[n++] = (7 << 3) | 2;
        n += p2p_wire_put_varint(m + n, extra_len);
        memset(m + n, 0xab, extra_len);
        n += extra_len;
    }
    ck_assert_uint_le(n, cap);
    *out_len = n;
    return m;
}

/* Feeds m[0..len) in pieces of piece bytes, then finishes. */
static int feed_pieces(struct p2p_frame_reader *r, const uint8_t *m, size_t len,
                       size_t piece, struct p2p_frame *f)
{
    for (size_t at = 0; at < len; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        int rc = p2p_frame_reader_feed(r, m + at, n);
        if (rc != 0)
            return rc;
    }
    return p2p_frame_reader_finish(r, f);
}

static struct p2p_route_limits limits;
static struct p2p_mem mem;

static void setup(void)
{
    p2p_route_limits_default(&limits);
    p2p_mem_init(&mem);
}

static void reader_init(struct p2p_frame_reader *r, struct test_store *s)
{
    p2p_frame_reader_init(r, &mem, P2P_FRAME_RESPONSE, &limits,
                          P2P_ROUTE_ARTIFACT_RPC);
    if (s != NULL)
        p2p_frame_reader_set_store(r, &s->ops);
}

/* The frame's artifact: body bytes (head and tail joined), checked against
 * want. */
static void check_artifact(const struct p2p_frame *f, const uint8_t *want,
                           size_t len)
{
    struct p2p_artifact_view v;
    size_t tail = f->tail != NULL ? f->tail->len : 0;
    ck_assert_int_eq(
        p2p_wire_view_artifact_tail(f->body, f->body_len, tail, &v), 0);
    ck_assert_uint_eq(v.body.len, len);
    if (f->tail != NULL)
        ck_assert_mem_eq(f->tail->bytes, want, len);
    else
        ck_assert_mem_eq(v.body.data, want, len);
}

/* ---- tests ---- */

START_TEST(large_body_goes_to_the_store_hashed)
{
    const size_t sizes[] = {STORE_MIN, 100000, 1u << 20};
    const size_t pieces[] = {1, 1200, 65536};
    for (size_t i = 0; i < 3; i++) {
        for (size_t k = 0; k < 3; k++) {
            if ((pieces[k] == 1 && sizes[i] > 100000) || pieces[k] >= sizes[i])
                continue;
            struct test_store s;
            store_init(&s);
            uint8_t *body = pattern(sizes[i], (uint32_t)i);
            size_t len;
            uint8_t *m = response(body, sizes[i], 0, &len);
            struct p2p_frame_reader r;
            reader_init(&r, &s);
            struct p2p_frame f;
            ck_assert_int_eq(feed_pieces(&r, m, len, pieces[k], &f), 0);
            ck_assert_uint_eq(s.opened, 1);
            ck_assert_uint_eq(s.sealed, 1);
            ck_assert_ptr_nonnull(f.tail);
            /* The buffer held at most the piece that brought the heads. */
            ck_assert_uint_le(p2p_frame_reader_buffered(&r),
                              2 * (pieces[k] + 256));
            check_artifact(&f, body, sizes[i]);
            /* Hashed as it arrived: the id is known, and right. */
            ck_assert(f.tail->hashed);
            struct p2p_artifact_id want;
            p2p_id_of(body, sizes[i], &want);
            ck_assert(p2p_id_eq(&f.tail->id, &want));
            ck_assert_uint_eq(mem.bytes, sizes[i] + r.cap);
            p2p_frame_reader_fini(&r);
            ck_assert_uint_eq(s.released, 1);
            ck_assert_uint_eq(mem.bytes, 0);
            free(m);
            free(body);
        }
    }
}
END_TEST

START_TEST(small_body_stays_in_the_buffer)
{
    struct test_store s;
    store_init(&s);
    uint8_t *body = pattern(STORE_MIN - 1, 3);
    size_t len;
    uint8_t *m = response(body, STORE_MIN - 1, 0, &len);
    struct p2p_frame_reader r;
    reader_init(&r, &s);
    struct p2p_frame f;
    ck_assert_int_eq(feed_pieces(&r, m, len, 1000, &f), 0);
    ck_assert_uint_eq(s.opened, 0);
    ck_assert_ptr_null(f.tail);
    check_artifact(&f, body, STORE_MIN - 1);
    p2p_frame_reader_fini(&r);
    free(m);
    free(body);
}
END_TEST

START_TEST(declined_open_buffers_as_before)
{
    struct test_store s;
    store_init(&s);
    s.refuse_open = true;
    uint8_t *body = pattern(50000, 4);
    size_t len;
    uint8_t *m = response(body, 50000, 0, &len);
    struct p2p_frame_reader r;
    reader_init(&r, &s);
    struct p2p_frame f;
    ck_assert_int_eq(feed_pieces(&r, m, len, 1200, &f), 0);
    ck_assert_ptr_null(f.tail);
    check_artifact(&f, body, 50000);
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(mem.bytes, 0);
    free(m);
    free(body);
}
END_TEST

/* Bytes after the body (a valid encoding ours never write): the stored
 * body is read back and the envelope decodes whole. */
START_TEST(bytes_after_the_body_are_read_back)
{
    struct test_store s;
    store_init(&s);
    uint8_t *body = pattern(20000, 5);
    size_t len;
    uint8_t *m = response(body, 20000, 300, &len);
    struct p2p_frame_reader r;
    reader_init(&r, &s);
    struct p2p_frame f;
    ck_assert_int_eq(feed_pieces(&r, m, len, 1200, &f), 0);
    ck_assert_uint_eq(s.opened, 1);
    ck_assert_uint_eq(s.released, 1); /* given back once read */
    ck_assert_ptr_null(f.tail);
    check_artifact(&f, body, 20000);
    ck_assert_uint_eq(f.status, 200);
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(mem.bytes, 0);
    free(m);
    free(body);
}
END_TEST

/* Wherever the first piece ends inside the heads, the body is streamed
 * and decodes alike. */
START_TEST(every_split_of_the_head_decodes_alike)
{
    uint8_t *body = pattern(STORE_MIN + 7, 6);
    size_t len;
    uint8_t *m = response(body, STORE_MIN + 7, 0, &len);
    for (size_t cut = 1; cut < 80; cut++) {
        struct test_store s;
        store_init(&s);
        struct p2p_frame_reader r;
        reader_init(&r, &s);
        ck_assert_int_eq(p2p_frame_reader_feed(&r, m, cut), 0);
        struct p2p_frame f;
        ck_assert_int_eq(feed_pieces(&r, m + cut, len - cut, 1000, &f), 0);
        ck_assert_uint_eq(s.opened, 1);
        check_artifact(&f, body, STORE_MIN + 7);
        p2p_frame_reader_fini(&r);
    }
    ck_assert_uint_eq(mem.bytes, 0);
    free(m);
    free(body);
}
END_TEST

START_TEST(store_write_failure_fails_the_stream)
{
    struct test_store s;
    store_init(&s);
    s.fail_after = 10000;
    uint8_t *body = pattern(30000, 7);
    size_t len;
    uint8_t *m = response(body, 30000, 0, &len);
    struct p2p_frame_reader r;
    reader_init(&r, &s);
    struct p2p_frame f;
    ck_assert_int_eq(feed_pieces(&r, m, len, 1200, &f), P2P_ERR_WRITE);
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(s.released_unsealed, 1);
    ck_assert_uint_eq(mem.bytes, 0);
    free(m);
    free(body);
}
END_TEST

START_TEST(truncated_or_abandoned_streams_release_the_body)
{
    uint8_t *body = pattern(30000, 8);
    size_t len;
    uint8_t *m = response(body, 30000, 0, &len);
    /* The stream ends early. */
    struct test_store s;
    store_init(&s);
    struct p2p_frame_reader r;
    reader_init(&r, &s);
    struct p2p_frame f;
    ck_assert_int_eq(feed_pieces(&r, m, len - 1, 1200, &f), P2P_ERR_TRUNCATED);
    ck_assert_uint_eq(s.released_unsealed, 1);
    p2p_frame_reader_fini(&r);
    /* The stream is abandoned (a reset) midway. */
    store_init(&s);
    reader_init(&r, &s);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, m, len / 2), 0);
    ck_assert_uint_eq(s.opened, 1);
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(s.released_unsealed, 1);
    ck_assert_uint_eq(mem.bytes, 0);
    free(m);
    free(body);
}
END_TEST

/* The route's limit still holds: a body declared past it is refused when
 * its length is read, before the store is asked for anything. */
START_TEST(limits_apply_before_the_store)
{
    struct test_store s;
    store_init(&s);
    uint8_t *body = pattern(30000, 9);
    size_t len;
    uint8_t *m = response(body, 30000, 0, &len);
    struct p2p_frame_reader r;
    reader_init(&r, &s);
    p2p_frame_reader_cap(&r, 20000);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, m, 1200), P2P_ERR_OVERSIZE);
    ck_assert_uint_eq(s.opened, 0);
    p2p_frame_reader_fini(&r);
    free(m);
    free(body);
}
END_TEST

/* Other shapes are not streamed: the body before the id (protobuf-c's
 * field order), and requests. */
START_TEST(other_shapes_are_buffered)
{
    struct test_store s;
    store_init(&s);
    size_t n = 20000;
    uint8_t *body = pattern(n, 10);
    struct p2p_artifact_id id;
    p2p_id_of(body, n, &id);
    /* Artifact {kind 1, body, id}: the id comes last. */
    size_t inner = 2 + 1 + p2p_wire_varint_size(n) + n + 2 + P2P_ID_BYTES;
    uint8_t *m = malloc(inner + 32);
    size_t k = 0;
    m[k++] = 0x08;
    k += p2p_wire_put_varint(m + k, 200);
    m[k++] = 0x12;
    k += p2p_wire_put_varint(m + k, inner);
    m[k++] = 0x08;
    m[k++] = 1;
    m[k++] = 0x12;
    k += p2p_wire_put_varint(m + k, n);
    memcpy(m + k, body, n);
    k += n;
    m[k++] = 0x1a;
    m[k++] = P2P_ID_BYTES;
    memcpy(m + k, id.b, P2P_ID_BYTES);
    k += P2P_ID_BYTES;
    struct p2p_frame_reader r;
    reader_init(&r, &s);
    struct p2p_frame f;
    ck_assert_int_eq(feed_pieces(&r, m, k, 1200, &f), 0);
    ck_assert_uint_eq(s.opened, 0);
    check_artifact(&f, body, n);
    p2p_frame_reader_fini(&r);
    ck_assert_uint_eq(mem.bytes, 0);
    free(m);
    free(body);
}
END_TEST

/* A store that hashes (off the loop, in the replica): the reader leaves
 * the id to its seal and keeps what it says. */
START_TEST(a_hashing_store_names_the_id)
{
    uint8_t *body = pattern(30000, 11);
    size_t len;
    uint8_t *m = response(body, 30000, 0, &len);
    struct p2p_artifact_id want;
    p2p_id_of(body, 30000, &want);
    for (int wrong = 0; wrong < 2; wrong++) {
        struct test_store s;
        store_init(&s);
        s.ops.hashes = true;
        s.wrong_id = wrong;
        struct p2p_frame_reader r;
        reader_init(&r, &s);
        struct p2p_frame f;
        ck_assert_int_eq(feed_pieces(&r, m, len, 1200, &f), 0);
        ck_assert_ptr_nonnull(f.tail);
        ck_assert(f.tail->hashed);
        ck_assert(p2p_id_eq(&f.tail->id, &want) == !wrong);
        p2p_frame_reader_fini(&r);
    }
    free(m);
    free(body);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("frame_stream");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, large_body_goes_to_the_store_hashed);
    tcase_add_test(tc, small_body_stays_in_the_buffer);
    tcase_add_test(tc, declined_open_buffers_as_before);
    tcase_add_test(tc, bytes_after_the_body_are_read_back);
    tcase_add_test(tc, every_split_of_the_head_decodes_alike);
    tcase_add_test(tc, store_write_failure_fails_the_stream);
    tcase_add_test(tc, truncated_or_abandoned_streams_release_the_body);
    tcase_add_test(tc, limits_apply_before_the_store);
    tcase_add_test(tc, other_shapes_are_buffered);
    tcase_add_test(tc, a_hashing_store_names_the_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
