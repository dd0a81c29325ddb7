/* The encoding of state-sync chunk answers (core/state_sync_codec.c):
 * round trips of compressible bytes, random bytes and short chunks sent
 * raw, the 1/32 saving rule on both sides, and hostile frames refused
 * before anything is allocated or grown: a declared size above the 8 MiB
 * cap, no declared size, a declared size other than the manifest's,
 * blocks that decode to more (or less) than declared, trailing bytes, two
 * frames, an unknown encoding byte; argument limits, the contexts made
 * once and kept, and allocation failures (a raw answer when the
 * compressor cannot be had, this node's NOMEM when the decompressor
 * cannot). Every test ends with nothing allocated. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/err.h"
#include "core/state_sync_codec.h"

#define MOD P2P_MEM_OTHER
#define KIB 1024u

/* xorshift64 bytes: zstd cannot shrink them. */
static void fill_random(uint8_t *b, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (uint8_t)(x >> 24);
    }
}

/* random bytes, then `zeros` zero bytes at the end. */
static uint8_t *chunk_with_zeros(size_t len, size_t zeros, uint64_t seed)
{
    uint8_t *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    fill_random(b, len - zeros, seed);
    memset(b + len - zeros, 0, zeros);
    return b;
}

struct fixture {
    struct p2p_mem mem;
    struct p2p_state_codec c;
};

static void fx_init(struct fixture *f)
{
    p2p_mem_init(&f->mem);
    p2p__state_sync_codec_init(&f->c, &f->mem, MOD);
}

static void fx_fini(struct fixture *f)
{
    p2p__state_sync_codec_fini(&f->c);
    ck_assert_uint_eq(f->mem.bytes, 0);
}

/* A copy of the codec's answer body (borrowed until its next call). */
static uint8_t *encode_copy(struct fixture *f, const uint8_t *src, size_t len,
                            size_t *body_len, bool *compressed)
{
    const uint8_t *body;
    ck_assert_int_eq(p2p__state_sync_codec_encode(&f->c, src, len, &body,
                                                  body_len, compressed),
                     0);
    uint8_t *copy = malloc(*body_len);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, body, *body_len);
    return copy;
}

/* An answer body: the encoding byte, then frame[0..len). */
static uint8_t *body_of(uint8_t encoding, const uint8_t *frame, size_t len)
{
    uint8_t *b = malloc(1 + len);
    ck_assert_ptr_nonnull(b);
    b[0] = encoding;
    memcpy(b + 1, frame, len);
    return b;
}

/* A zstd frame of src[0..len) at level 1, with or without its content
 * size in the header (malloc'd). */
static uint8_t *zframe(const uint8_t *src, size_t len, bool content_size,
                       size_t *out_len)
{
    size_t cap = ZSTD_compressBound(len);
    uint8_t *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ck_assert_ptr_nonnull(cc);
    ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel,
                                                   1)));
    ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(
        cc, ZSTD_c_contentSizeFlag, content_size ? 1 : 0)));
    size_t n = ZSTD_compress2(cc, out, cap, src, len);
    ck_assert(!ZSTD_isError(n));
    ZSTD_freeCCtx(cc);
    *out_len = n;
    return out;
}

/* Rewrites the frame's declared content size, which must be held in a
 * 4-byte field (sizes 65,792 .. 2^32 - 1), to `declared`. */
static void patch_content_size(uint8_t *frame, size_t len, uint32_t declared)
{
    ck_assert_uint_gt(len, 6);
    uint8_t fhd = frame[4];
    unsigned fcs_flag = fhd >> 6, single = (fhd >> 5) & 1, dict = fhd & 3;
    static const unsigned dict_bytes[] = {0, 1, 2, 4};
    ck_assert_uint_eq(fcs_flag, 2); /* a 4-byte field */
    size_t at = 5 + (single ? 0 : 1) + dict_bytes[dict];
    for (int i = 0; i < 4; i++)
        frame[at + (size_t)i] = (uint8_t)(declared >> (8 * i));
    ck_assert_uint_eq(ZSTD_getFrameContentSize(frame, len), declared);
}

/* ---- round trips ---- */

/* Half-zero chunks of several sizes travel as frames and come back
 * whole; the decoded bytes sit in the caller's buffer. */
static const size_t sizes[] = {64, 4 * KIB, 1u << 20, 8u << 20};

START_TEST(compressible_chunk_round_trips_as_a_frame)
{
    size_t len = sizes[_i];
    struct fixture f;
    fx_init(&f);
    uint8_t *src = chunk_with_zeros(len, len / 2, 7);
    size_t body_len;
    bool compressed;
    uint8_t *body = encode_copy(&f, src, len, &body_len, &compressed);
    ck_assert(compressed);
    ck_assert_uint_eq(body[0], P2P_STATE_ENCODING_ZSTD);
    ck_assert_uint_le(body_len - 1, len - len / P2P_STATE_CODEC_SAVING_DIV);
    ck_assert_uint_eq(ZSTD_getFrameContentSize(body + 1, body_len - 1), len);
    uint8_t *out = malloc(len);
    struct p2p_state_decoded d;
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, body, body_len, len,
                                                  out, len, &d),
                     0);
    ck_assert(d.compressed);
    ck_assert_ptr_eq(d.bytes, out);
    ck_assert_uint_eq(d.len, len);
    ck_assert_uint_eq(d.wire_bytes, body_len - 1);
    ck_assert_int_eq(memcmp(out, src, len), 0);
    free(out);
    free(body);
    free(src);
    fx_fini(&f);
}
END_TEST

/* Random bytes, a chunk under P2P_STATE_CODEC_MIN_BYTES (even of zeros),
 * and a chunk whose zero tail saves under 1/32 go raw: the encoding byte
 * and the bytes, decoded in place without a copy. */
static const struct {
    const char *name;
    size_t len, zeros;
} raw_cases[] = {
    {"random 1 MiB", 1u << 20, 0},
    {"63 zero bytes", 63, 63},
    {"64 KiB with 1 KiB of zeros (1.5 %)", 65 * KIB, 1 * KIB},
};

START_TEST(incompressible_chunk_is_sent_raw)
{
    size_t len = raw_cases[_i].len;
    struct fixture f;
    fx_init(&f);
    uint8_t *src = chunk_with_zeros(len, raw_cases[_i].zeros, 11);
    size_t body_len;
    bool compressed;
    uint8_t *body = encode_copy(&f, src, len, &body_len, &compressed);
    ck_assert_msg(!compressed, "%s", raw_cases[_i].name);
    ck_assert_uint_eq(body[0], P2P_STATE_ENCODING_RAW);
    ck_assert_uint_eq(body_len, 1 + len);
    ck_assert_int_eq(memcmp(body + 1, src, len), 0);
    uint64_t allocs = f.mem.allocs;
    struct p2p_state_decoded d;
    uint8_t *out = malloc(len);
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, body, body_len, len,
                                                  out, len, &d),
                     0);
    free(out);
    ck_assert(!d.compressed);
    ck_assert_ptr_eq(d.bytes, body + 1); /* in place */
    ck_assert_uint_eq(d.len, len);
    ck_assert_uint_eq(d.wire_bytes, len);
    ck_assert_uint_eq(f.mem.allocs, allocs); /* no decompressor made */
    ck_assert_ptr_null(f.c.dctx);
    free(body);
    free(src);
    fx_fini(&f);
}
END_TEST

/* The 1/32 rule from the other side: 64 KiB with a 4 KiB zero tail (a
 * 6 % saving) is a frame. */
START_TEST(a_saving_above_one_32nd_is_a_frame)
{
    struct fixture f;
    fx_init(&f);
    size_t len = 64 * KIB;
    uint8_t *src = chunk_with_zeros(len, 4 * KIB, 3);
    size_t body_len;
    bool compressed;
    uint8_t *body = encode_copy(&f, src, len, &body_len, &compressed);
    ck_assert(compressed);
    ck_assert_uint_lt(body_len, 1 + len - len / P2P_STATE_CODEC_SAVING_DIV);
    free(body);
    free(src);
    fx_fini(&f);
}
END_TEST

/* One compression context for the node: made at the first chunk worth
 * trying, kept for the next (no allocation for a chunk the answer buffer
 * already fits), freed at fini. */
START_TEST(contexts_are_made_once_and_kept)
{
    struct fixture f;
    fx_init(&f);
    size_t len = 256 * KIB;
    uint8_t *src = chunk_with_zeros(len, len / 2, 5);
    size_t body_len;
    bool compressed;
    free(encode_copy(&f, src, len, &body_len, &compressed));
    ck_assert_ptr_nonnull(f.c.cctx);
    const struct ZSTD_CCtx_s *first = f.c.cctx;
    uint64_t allocs = f.mem.allocs;
    size_t bytes = f.mem.bytes;
    for (int k = 0; k < 4; k++) {
        free(encode_copy(&f, src, len, &body_len, &compressed));
        ck_assert(compressed);
    }
    ck_assert_ptr_eq(f.c.cctx, first);
    ck_assert_uint_eq(f.mem.allocs, allocs);
    ck_assert_uint_eq(f.mem.bytes, bytes);
    ck_assert_uint_gt(bytes, len); /* charged to the node's p2p_mem */
    free(src);
    fx_fini(&f);
}
END_TEST

/* ---- hostile frames ---- */

/* A frame that declares 8 MiB + 1 (over the cap) is refused from its
 * header: no decompressor is made, nothing is allocated or written. */
START_TEST(bomb_declaring_over_the_cap_is_refused_before_allocation)
{
    struct fixture f;
    fx_init(&f);
    size_t big = (size_t)P2P_STATE_CODEC_DECOMPRESSED_MAX + 1;
    uint8_t *zeros = calloc(1, big);
    ck_assert_ptr_nonnull(zeros);
    size_t flen;
    uint8_t *frame = zframe(zeros, big, true, &flen);
    free(zeros);
    ck_assert_uint_lt(flen, 4 * KIB); /* a bomb: tiny on the wire */
    uint8_t *body = body_of(P2P_STATE_ENCODING_ZSTD, frame, flen);
    uint8_t out[16];
    memset(out, 0xaa, sizeof(out));
    f.mem.fail_at = f.mem.allocs + 1; /* any allocation would fail */
    uint64_t allocs = f.mem.allocs;
    struct p2p_state_decoded d;
    /* Whatever the manifest says (here the largest chunk allowed). */
    uint8_t *buf = malloc(P2P_STATE_CODEC_DECOMPRESSED_MAX);
    ck_assert_int_eq(p2p__state_sync_codec_decode(
                         &f.c, body, 1 + flen, P2P_STATE_CODEC_DECOMPRESSED_MAX,
                         buf, P2P_STATE_CODEC_DECOMPRESSED_MAX, &d),
                     P2P_ERR_OVERSIZE);
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, body, 1 + flen,
                                                  sizeof(out), out,
                                                  sizeof(out), &d),
                     P2P_ERR_OVERSIZE);
    ck_assert_uint_eq(f.mem.allocs, allocs);
    ck_assert_ptr_null(f.c.dctx);
    for (size_t i = 0; i < sizeof(out); i++)
        ck_assert_uint_eq(out[i], 0xaa);
    free(buf);
    free(body);
    free(frame);
    fx_fini(&f);
}
END_TEST

/* Frames refused from their header, before any allocation: no declared
 * size, a declared size other than the manifest's (smaller or larger),
 * not a frame at all, a truncated frame, trailing bytes, two frames. */
enum frame_case {
    F_NO_SIZE,
    F_SIZE_SMALLER,
    F_SIZE_LARGER,
    F_NOT_A_FRAME,
    F_TRUNCATED,
    F_TRAILING,
    F_TWO_FRAMES,
    F_CASES
};

START_TEST(frames_refused_from_their_header)
{
    enum frame_case fc = (enum frame_case)_i;
    struct fixture f;
    fx_init(&f);
    size_t len = 64 * KIB;
    uint8_t *src = chunk_with_zeros(len, len / 2, 13);
    size_t flen;
    uint8_t *frame = zframe(src, len, fc != F_NO_SIZE, &flen);
    size_t expect = fc == F_SIZE_SMALLER  ? len - 1
                    : fc == F_SIZE_LARGER ? len + 1
                                          : len;
    uint8_t *payload = malloc(2 * flen + 8);
    size_t plen = flen;
    memcpy(payload, frame, flen);
    switch (fc) {
    case F_NOT_A_FRAME:
        fill_random(payload, plen, 99);
        break;
    case F_TRUNCATED:
        plen = flen - 1;
        break;
    case F_TRAILING:
        payload[plen++] = 0;
        break;
    case F_TWO_FRAMES:
        memcpy(payload + flen, frame, flen);
        plen = 2 * flen;
        break;
    default:
        break;
    }
    uint8_t *body = body_of(P2P_STATE_ENCODING_ZSTD, payload, plen);
    uint8_t *out = malloc(len + 1);
    f.mem.fail_at = f.mem.allocs + 1;
    uint64_t allocs = f.mem.allocs;
    struct p2p_state_decoded d;
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, body, 1 + plen,
                                                  expect, out, len + 1, &d),
                     P2P_ERR_DECODE);
    ck_assert_uint_eq(f.mem.allocs, allocs);
    ck_assert_ptr_null(f.c.dctx);
    free(out);
    free(body);
    free(payload);
    free(frame);
    free(src);
    fx_fini(&f);
}
END_TEST

/* A frame whose header lies: it declares 100,000 bytes (what the
 * manifest names) but its blocks decode to 131,072. Decompression into a
 * buffer of exactly 100,000 stops at its end: refused, nothing allocated
 * (the decompressor already exists), not one byte written past it. And
 * the other way: it declares 200,000 but holds 131,072. */
START_TEST(bomb_whose_output_exceeds_its_declared_size_is_refused)
{
    struct fixture f;
    fx_init(&f);
    size_t len = 128 * KIB;
    uint8_t *src = chunk_with_zeros(len, len / 2, 17);
    /* Make the decompressor with an honest frame first. */
    size_t body_len;
    bool compressed;
    uint8_t *good = encode_copy(&f, src, len, &body_len, &compressed);
    ck_assert(compressed);
    uint8_t *out = malloc(len + 64);
    struct p2p_state_decoded d;
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, good, body_len, len,
                                                  out, len, &d),
                     0);
    ck_assert_ptr_nonnull(f.c.dctx);
    for (int larger = 0; larger <= 1; larger++) {
        uint32_t declared = larger ? 200000u : 100000u;
        size_t flen;
        uint8_t *frame = zframe(src, len, true, &flen);
        patch_content_size(frame, flen, declared);
        uint8_t *body = body_of(P2P_STATE_ENCODING_ZSTD, frame, flen);
        uint8_t *buf = malloc((size_t)declared + 64);
        memset(buf, 0xaa, (size_t)declared + 64);
        f.mem.fail_at = f.mem.allocs + 1;
        uint64_t allocs = f.mem.allocs;
        ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, body, 1 + flen,
                                                      declared, buf, declared,
                                                      &d),
                         P2P_ERR_DECODE);
        ck_assert_uint_eq(f.mem.allocs, allocs);
        for (size_t i = declared; i < (size_t)declared + 64; i++)
            ck_assert_uint_eq(buf[i], 0xaa);
        f.mem.fail_at = 0;
        free(buf);
        free(body);
        free(frame);
    }
    free(out);
    free(good);
    free(src);
    fx_fini(&f);
}
END_TEST

/* An empty body and an unknown encoding byte are refused; a raw body is
 * returned as it is (its length is the chunk hash's business). */
START_TEST(encoding_byte_is_checked)
{
    struct fixture f;
    fx_init(&f);
    uint8_t out[8];
    struct p2p_state_decoded d;
    const uint8_t two[] = {2, 1, 2, 3};
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, two, 0, 3, out, 8, &d),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, two, sizeof(two), 3,
                                                  out, 8, &d),
                     P2P_ERR_DECODE);
    const uint8_t raw_short[] = {0, 1};
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, raw_short,
                                                  sizeof(raw_short), 3, out, 8,
                                                  &d),
                     0);
    ck_assert_uint_eq(d.len, 1);
    fx_fini(&f);
}
END_TEST

/* Limits of the arguments, at the limit and one past it. */
START_TEST(argument_limits)
{
    struct fixture f;
    fx_init(&f);
    const uint8_t *body;
    size_t body_len;
    bool compressed;
    uint8_t one = 0;
    ck_assert_int_eq(p2p__state_sync_codec_encode(&f.c, &one, 0, &body,
                                                  &body_len, &compressed),
                     P2P_ERR_INVALID_ARG);
    size_t max = P2P_STATE_CHUNK_BYTES_MAX;
    uint8_t *src = calloc(1, max + 1);
    ck_assert_int_eq(p2p__state_sync_codec_encode(&f.c, src, max + 1, &body,
                                                  &body_len, &compressed),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p__state_sync_codec_encode(&f.c, src, max, &body,
                                                  &body_len, &compressed),
                     0);
    ck_assert(compressed);
    ck_assert_uint_le(f.c.out_cap, P2P_STATE_CODEC_BODY_BYTES_MAX);
    struct p2p_state_decoded d;
    const uint8_t raw[] = {0, 5};
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, raw, 2, 0, src, 1, &d),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, raw, 2, max + 1, src,
                                                  max + 1, &d),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, raw, 2, 2, src, 1, &d),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p__state_sync_codec_decode(&f.c, raw, 2, max, src, max,
                                                  &d),
                     0);
    free(src);
    fx_fini(&f);
}
END_TEST

/* ---- allocation failures ---- */

/* The N-th allocation fails, N = 1, 2, ...: an encode either fails with
 * NOMEM (no buffer for any answer) or answers (raw when the compressor
 * could not be had, or a frame), a decode of a good frame either decodes
 * or says NOMEM (never DECODE: the peer is not blamed), and nothing
 * leaks. */
START_TEST(allocation_failures)
{
    size_t len = 256 * KIB;
    uint8_t *src = chunk_with_zeros(len, len / 2, 21);
    size_t flen;
    uint8_t *frame = zframe(src, len, true, &flen);
    uint8_t *body = body_of(P2P_STATE_ENCODING_ZSTD, frame, flen);
    uint8_t *out = malloc(len);
    bool saw_raw = false, saw_nomem = false;
    for (uint64_t n = 1;; n++) {
        ck_assert_uint_lt(n, 200);
        struct fixture f;
        fx_init(&f);
        f.mem.fail_at = n;
        const uint8_t *b;
        size_t blen;
        bool compressed;
        int rc = p2p__state_sync_codec_encode(&f.c, src, len, &b, &blen,
                                              &compressed);
        ck_assert(rc == 0 || rc == P2P_ERR_NOMEM);
        if (rc == 0 && !compressed) {
            saw_raw = true;
            ck_assert_uint_eq(blen, 1 + len);
        }
        struct p2p_state_decoded d;
        rc = p2p__state_sync_codec_decode(&f.c, body, 1 + flen, len, out, len,
                                          &d);
        ck_assert(rc == 0 || rc == P2P_ERR_NOMEM);
        saw_nomem |= rc == P2P_ERR_NOMEM;
        if (rc == 0)
            ck_assert_int_eq(memcmp(out, src, len), 0);
        bool done = f.mem.allocs < n;
        fx_fini(&f);
        if (done)
            break;
    }
    ck_assert(saw_raw);
    ck_assert(saw_nomem);
    free(out);
    free(body);
    free(frame);
    free(src);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("state_sync_codec");
    TCase *tc = tcase_create("round_trips");
    tcase_add_loop_test(tc, compressible_chunk_round_trips_as_a_frame, 0,
                        (int)(sizeof(sizes) / sizeof(sizes[0])));
    tcase_add_loop_test(tc, incompressible_chunk_is_sent_raw, 0,
                        (int)(sizeof(raw_cases) / sizeof(raw_cases[0])));
    tcase_add_test(tc, a_saving_above_one_32nd_is_a_frame);
    tcase_add_test(tc, contexts_are_made_once_and_kept);
    suite_add_tcase(s, tc);
    tc = tcase_create("hostile");
    tcase_add_test(tc, bomb_declaring_over_the_cap_is_refused_before_allocation);
    tcase_add_loop_test(tc, frames_refused_from_their_header, 0, F_CASES);
    tcase_add_test(tc, bomb_whose_output_exceeds_its_declared_size_is_refused);
    tcase_add_test(tc, encoding_byte_is_checked);
    tcase_add_test(tc, argument_limits);
    tcase_add_test(tc, allocation_failures);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
