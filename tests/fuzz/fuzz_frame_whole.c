/* libFuzzer harness: the stream reader's ways of taking a stream that
 * arrives at once (p2p_frame_reader_whole, p2p_frame_reader_feed_tail)
 * against the plain way (p2p_frame_reader_feed of every byte, then
 * p2p_frame_reader_finish), core/framing.h.
 *
 * Input layout:
 *   byte 0  flags: bit 0 mode (0 request, 1 response); bits 1-2 the
 *           response's route; bit 3 small per-route limits; bit 4
 *           p2p_frame_reader_cap (response mode); bit 5 a tail
 *   byte 1  small-limit seed      byte 2  cap seed
 *   bytes 3-4  where the tail starts (little endian, mod the length + 1)
 *   byte 5  seed of the random pieces
 *   then the stream's bytes.
 * Checked, for the stream read whole and in random pieces, and (bit 5)
 * split into a head and a shared tail read whole, with feed_tail in one
 * piece and in pieces: the same rc, route, status and body (bytes and
 * tail) as the plain way; a kept tail is the stream's own, held once; the
 * head is not written to; after fini every reference and every byte is
 * given back. Any failure aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/body.h"
#include "core/err.h"
#include "core/framing.h"
#include "core/mem.h"
#include "core/rng.h"
#include "fuzz_check.h"

struct setup {
    enum p2p_frame_mode mode;
    enum p2p_route route;
    const struct p2p_route_limits *limits;
    size_t cap; /* SIZE_MAX: none */
};

/* What a reader made of a stream. */
struct outcome {
    int rc;
    enum p2p_route route;
    uint32_t status;
    uint8_t *body; /* malloc'd: bytes then tail; NULL on error */
    size_t body_len;
    bool kept;
};

static void open_reader(struct p2p_frame_reader *r, struct p2p_mem *mem,
                        const struct setup *s)
{
    p2p_frame_reader_init(r, mem, s->mode, s->limits, s->route);
    if (s->mode == P2P_FRAME_RESPONSE && s->cap != SIZE_MAX)
        p2p_frame_reader_cap(r, s->cap);
}

static void settle(struct p2p_frame_reader *r, struct p2p_mem *mem, int rc,
                   const struct p2p_frame *f, struct p2p_body *tail,
                   uint32_t refs, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->rc = rc;
    if (rc == 0) {
        FUZZ_CHECK(f->body != NULL);
        size_t tl = f->tail != NULL ? f->tail->len : 0;
        o->route = f->route;
        o->status = f->status;
        o->body_len = f->body_len + tl;
        o->body = malloc(o->body_len + 1);
        FUZZ_CHECK(o->body != NULL);
        if (f->body_len > 0)
            memcpy(o->body, f->body, f->body_len);
        if (tl > 0)
            memcpy(o->body + f->body_len, f->tail->bytes, tl);
        if (f->tail != NULL) {
            FUZZ_CHECK(f->tail == tail);
            FUZZ_CHECK(tail->refs == refs + 1);
            FUZZ_CHECK(mem->module_bytes[P2P_MEM_STREAMS] >= tail->len);
            o->kept = true;
        }
    }
    p2p_frame_reader_fini(r);
    FUZZ_CHECK(tail == NULL || tail->refs == refs);
    FUZZ_CHECK(mem->bytes == 0);
}

static void run_flat(const struct setup *s, const uint8_t *p, size_t len,
                     struct outcome *o)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    struct p2p_frame f;
    open_reader(&r, &mem, s);
    int rc = p2p_frame_reader_feed(&r, len ? p : NULL, len);
    if (rc == 0)
        rc = p2p_frame_reader_finish(&r, &f);
    settle(&r, &mem, rc, &f, NULL, 0, o);
}

static void run_whole(const struct setup *s, const uint8_t *p, size_t len,
                      struct p2p_body *tail, struct outcome *o)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    struct p2p_frame f;
    uint32_t refs = tail != NULL ? tail->refs : 0;
    uint8_t *copy = malloc(len + 1);
    FUZZ_CHECK(copy != NULL);
    if (len > 0)
        memcpy(copy, p, len);
    open_reader(&r, &mem, s);
    int rc = p2p_frame_reader_whole(&r, len ? p : NULL, len, tail, &f);
    FUZZ_CHECK(len == 0 || memcmp(copy, p, len) == 0);
    free(copy);
    settle(&r, &mem, rc, &f, tail, refs, o);
}

/* p fed in pieces (random cuts when rng is set), the last one through
 * feed_tail with tail (NULL: a plain feed), then finish. */
static void run_pieces(const struct setup *s, const uint8_t *p, size_t len,
                       struct p2p_body *tail, struct p2p_rng *rng,
                       struct outcome *o)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    struct p2p_frame f;
    uint32_t refs = tail != NULL ? tail->refs : 0;
    open_reader(&r, &mem, s);
    size_t pos = 0;
    int rc;
    for (;;) {
        size_t piece = len - pos;
        if (rng != NULL && piece > 0 && p2p_rng_below(rng, 4) != 0)
            piece = (size_t)p2p_rng_below(rng, piece + 1);
        if (pos + piece == len) {
            rc = p2p_frame_reader_feed_tail(&r, piece ? p + pos : NULL, piece,
                                            tail);
            break;
        }
        rc = p2p_frame_reader_feed(&r, piece ? p + pos : NULL, piece);
        pos += piece;
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = p2p_frame_reader_finish(&r, &f);
    settle(&r, &mem, rc, &f, tail, refs, o);
}

static bool same(const struct outcome *a, const struct outcome *b)
{
    return a->rc == b->rc &&
           (a->rc != 0 ||
            (a->route == b->route && a->status == b->status &&
             a->body_len == b->body_len &&
             (a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0)));
}

/* Aborts unless got is want; frees got's body. */
static void expect(const struct outcome *want, struct outcome *got,
                   size_t split, size_t len, const char *way)
{
    if (!same(want, got)) {
        fprintf(stderr,
                "%s: rc %d route %d status %u body %zu, plain way: rc %d "
                "route %d status %u body %zu (split %zu of %zu)\n",
                way, got->rc, (int)got->route, got->status, got->body_len,
                want->rc, (int)want->route, want->status, want->body_len, split,
                len);
        abort();
    }
    free(got->body);
    got->body = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    const uint8_t flags = data[0], limit_seed = data[1], cap_seed = data[2];
    size_t split_seed = (size_t)data[3] | (size_t)data[4] << 8;
    struct p2p_rng rng;
    p2p_rng_init(&rng, data[5], 7);
    data += 6;
    size -= 6;

    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    if (flags & 8)
        for (unsigned i = 0; i < P2P_ROUTES_COUNT; i++) {
            limits.request_bytes_max[i] =
                (size_t)((limit_seed + i * 37) & 0xff) * 2;
            limits.response_bytes_max[i] =
                (size_t)((limit_seed + i * 91) & 0xff) * 2;
        }
    struct setup s = {.mode =
                          (flags & 1) ? P2P_FRAME_RESPONSE : P2P_FRAME_REQUEST,
                      .route = (enum p2p_route)((flags >> 1) & 3),
                      .limits = &limits,
                      .cap = SIZE_MAX};
    if (s.mode == P2P_FRAME_REQUEST)
        s.route = 0;
    else if (flags & 16)
        s.cap = (size_t)cap_seed * 3;

    struct outcome want, got;
    run_flat(&s, data, size, &want);
    run_whole(&s, data, size, NULL, &got);
    expect(&want, &got, size, size, "whole");
    run_pieces(&s, data, size, NULL, &rng, &got);
    expect(&want, &got, size, size, "pieces");
    if (flags & 32) {
        size_t split = split_seed % (size + 1);
        struct p2p_body *tail =
            p2p_body_copy(NULL, P2P_MEM_OTHER, data + split, size - split);
        FUZZ_CHECK(tail != NULL);
        /* Every way keeps the tail or not alike. */
        run_pieces(&s, data, split, tail, NULL, &got);
        expect(&want, &got, split, size, "feed_tail");
        bool kept = got.kept;
        run_whole(&s, data, split, tail, &got);
        expect(&want, &got, split, size, "whole + tail");
        FUZZ_CHECK(got.kept == kept);
        run_pieces(&s, data, split, tail, &rng, &got);
        expect(&want, &got, split, size, "pieces + feed_tail");
        FUZZ_CHECK(got.kept == kept);
        FUZZ_CHECK(tail->refs == 1);
        p2p_body_release(tail, NULL, P2P_MEM_OTHER);
    }
    free(want.body);
    return 0;
}
