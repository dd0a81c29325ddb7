/* libFuzzer harness for the stream reader (core/framing.h).
 *
 * Input layout:
 *   byte 0  flags: bit 0 mode (0 request, 1 response); bits 1-2 response
 *           route (0, 1 valid; 2, 3 out of range; with bit 0 clear, 3 makes
 *           the mode itself out of range); bit 3 small per-route limits;
 *           bit 4 p2p_frame_reader_cap (response mode); bits 5-7 the number
 *           of split points
 *   byte 1  small-limit seed      byte 2  cap seed
 *   byte 3  fail the N-th allocation (N = byte % 16, 0 = never)
 *   then one byte per split point (chunk length), then the stream's bytes.
 * The bytes are fed in those chunks, the rest in one last chunk, then
 * finish. A zero-length chunk is fed as NULL, which the API allows
 * (-DFUZZ_FRAMING_NO_NULL_FEED passes a non-NULL pointer instead). Checked:
 * sticky errors, the frame lies inside the bytes fed and equals them there,
 * finish is repeatable, a decoded envelope re-encodes to one that decodes
 * to the same route/status and body, and every byte is freed after fini.
 * Any failure aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/framing.h"
#include "core/mem.h"
#include "fuzz_check.h"

#define SPLITS_MAX 7

/* Decodes an envelope with generous limits; returns the reader's verdict
 * and fills *f (borrowed from r). */
static int decode_all(struct p2p_frame_reader *r, struct p2p_mem *mem,
                      const struct p2p_route_limits *limits,
                      enum p2p_frame_mode mode, enum p2p_route route,
                      const uint8_t *bytes, size_t len, struct p2p_frame *f)
{
    p2p_frame_reader_init(r, mem, mode, limits, route);
    int rc = p2p_frame_reader_feed(r, bytes, len);
    if (rc == 0)
        rc = p2p_frame_reader_finish(r, f);
    return rc;
}

/* A decoded frame re-encodes canonically, and the canonical form decodes
 * to the same frame and re-encodes to itself. */
static void check_reencode(const struct p2p_frame *f, enum p2p_frame_mode mode)
{
    struct p2p_route_limits big;
    for (unsigned i = 0; i < P2P_ROUTES_COUNT; i++)
        big.request_bytes_max[i] = big.response_bytes_max[i] =
            P2P_FRAME_MESSAGE_BYTES_MAX;
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    struct p2p_frame_request req = {
        .route = f->route, .body = f->body, .body_len = f->body_len};
    struct p2p_frame_response resp = {
        .status = f->status, .body = f->body, .body_len = f->body_len};
    int rc = mode == P2P_FRAME_REQUEST
                 ? p2p_frame_request_encode(&mem, P2P_MEM_OTHER, &req, &enc,
                                            &enc_len)
                 : p2p_frame_response_encode(&mem, P2P_MEM_OTHER, &resp, &enc,
                                             &enc_len);
    /* The body came out of a stream capped at the message limit, so it
     * always fits again (the path or status adds a few bytes at most). */
    if (rc == P2P_ERR_OVERSIZE) {
        FUZZ_CHECK(f->body_len > P2P_FRAME_MESSAGE_BYTES_MAX - 80);
        FUZZ_CHECK(mem.bytes == 0);
        return;
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(enc != NULL);
    if (mode == P2P_FRAME_RESPONSE && f->status == 0 && f->body_len == 0) {
        /* Documented: encodes to nothing, which readers refuse. */
        FUZZ_CHECK(enc_len == 0);
        p2p_mem_free(&mem, P2P_MEM_OTHER, enc);
        FUZZ_CHECK(mem.bytes == 0);
        return;
    }
    FUZZ_CHECK(enc_len >= f->body_len);

    struct p2p_frame_reader r2;
    struct p2p_frame g;
    rc = decode_all(&r2, &mem, &big, mode, f->route, enc, enc_len, &g);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(g.route == f->route);
    FUZZ_CHECK(g.status == f->status);
    FUZZ_CHECK(g.body != NULL);
    FUZZ_CHECK(g.body_len == f->body_len);
    FUZZ_CHECK(f->body_len == 0 || memcmp(g.body, f->body, f->body_len) == 0);

    /* Canonical: encoding the re-decoded frame gives the same bytes. */
    uint8_t *enc2 = NULL;
    size_t enc2_len = 0;
    req = (struct p2p_frame_request){
        .route = g.route, .body = g.body, .body_len = g.body_len};
    resp = (struct p2p_frame_response){
        .status = g.status, .body = g.body, .body_len = g.body_len};
    rc = mode == P2P_FRAME_REQUEST
             ? p2p_frame_request_encode(&mem, P2P_MEM_OTHER, &req, &enc2,
                                        &enc2_len)
             : p2p_frame_response_encode(&mem, P2P_MEM_OTHER, &resp, &enc2,
                                         &enc2_len);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(enc2_len == enc_len && memcmp(enc2, enc, enc_len) == 0);
    p2p_mem_free(&mem, P2P_MEM_OTHER, enc2);
    p2p_frame_reader_fini(&r2);
    p2p_mem_free(&mem, P2P_MEM_OTHER, enc);
    FUZZ_CHECK(mem.bytes == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const uint8_t flags = data[0], limit_seed = data[1], cap_seed = data[2],
                  fail_seed = data[3];
    data += 4;
    size -= 4;
    unsigned splits = (unsigned)(flags >> 5);
    if (splits > size)
        splits = (unsigned)size;
    size_t chunk_len[SPLITS_MAX + 1];
    for (unsigned i = 0; i < splits; i++)
        chunk_len[i] = data[i];
    data += splits;
    size -= splits;

    unsigned route_bits = (flags >> 1) & 3;
    enum p2p_frame_mode mode = (flags & 1) ? P2P_FRAME_RESPONSE
                                           : P2P_FRAME_REQUEST;
    if (mode == P2P_FRAME_REQUEST && route_bits == 3)
        mode = (enum p2p_frame_mode)2; /* out of range */
    enum p2p_route route = (enum p2p_route)route_bits; /* 2, 3 invalid */
    bool bad_init = mode > P2P_FRAME_RESPONSE ||
                    (mode == P2P_FRAME_RESPONSE && route >= P2P_ROUTES_COUNT);

    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    if (flags & 8) {
        /* Small limits so oversize paths are reachable with small inputs,
         * including limits below the prefix. */
        for (unsigned i = 0; i < P2P_ROUTES_COUNT; i++) {
            limits.request_bytes_max[i] = (size_t)((limit_seed + i * 37) & 0xff) * 2;
            limits.response_bytes_max[i] = (size_t)((limit_seed + i * 91) & 0xff) * 2;
        }
    }

    struct p2p_mem mem;
    p2p_mem_init(&mem);
    mem.fail_at = fail_seed % 16;
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, mode, &limits, route);
    if ((flags & 16) && mode == P2P_FRAME_RESPONSE)
        p2p_frame_reader_cap(&r, (size_t)cap_seed * 3);
    FUZZ_CHECK(mem.bytes == 0); /* init allocates nothing */

    /* Feed the chunks: lengths from the split bytes, clipped, then the
     * rest. A zero-length chunk is fed with a NULL pointer. */
    int err = 0;
    size_t pos = 0, fed = 0;
    for (unsigned i = 0; i <= splits; i++) {
        size_t n = i < splits ? chunk_len[i] : size - pos;
        if (n > size - pos)
            n = size - pos;
#ifdef FUZZ_FRAMING_NO_NULL_FEED
        const uint8_t *p = data + pos; /* to look past the NULL-feed bug */
#else
        const uint8_t *p = n ? data + pos : NULL; /* documented as allowed */
#endif
        int rc = p2p_frame_reader_feed(&r, p, n);
        pos += n;
        if (err != 0) {
            FUZZ_CHECK(rc == err); /* sticky */
            continue;
        }
        if (bad_init)
            FUZZ_CHECK(rc == P2P_ERR_INVALID_ARG);
        FUZZ_CHECK(rc == 0 || rc == P2P_ERR_DECODE || rc == P2P_ERR_OVERSIZE ||
                   rc == P2P_ERR_NO_ROUTE || rc == P2P_ERR_NOMEM ||
                   rc == P2P_ERR_INVALID_ARG);
        FUZZ_CHECK(rc != P2P_ERR_NOMEM || mem.fail_at != 0);
        if (rc != 0)
            err = rc;
        else
            fed += n;
    }
    FUZZ_CHECK(pos == size);
    if (err == 0) {
        FUZZ_CHECK(r.len == fed);
        FUZZ_CHECK(p2p_frame_reader_buffered(&r) >= r.len);
        FUZZ_CHECK(r.len <= P2P_FRAME_MESSAGE_BYTES_MAX);
    }

    struct p2p_frame f;
    memset(&f, 0xa5, sizeof(f));
    int rc = p2p_frame_reader_finish(&r, &f);
    if (err != 0)
        FUZZ_CHECK(rc == err);
    FUZZ_CHECK(rc == 0 || rc == P2P_ERR_TRUNCATED || rc == P2P_ERR_DECODE ||
               rc == err);
    if (rc == 0) {
        FUZZ_CHECK(!bad_init);
        /* The body lies in the reader's copy of the bytes fed, and equals
         * the input there. */
        FUZZ_CHECK(f.body != NULL);
        FUZZ_CHECK(f.body_len <= fed && fed <= size);
        FUZZ_CHECK(r.buf != NULL);
        FUZZ_CHECK(f.body >= r.buf && f.body <= r.buf + r.len);
        FUZZ_CHECK(f.body_len <= (size_t)(r.buf + r.len - f.body));
        size_t off = (size_t)(f.body - r.buf);
        FUZZ_CHECK(f.body_len == 0 ||
                   memcmp(f.body, data + off, f.body_len) == 0);
        if (mode == P2P_FRAME_REQUEST) {
            FUZZ_CHECK((unsigned)f.route < P2P_ROUTES_COUNT);
            FUZZ_CHECK(f.status == 0);
            FUZZ_CHECK(fed <= limits.request_bytes_max[f.route]);
        } else {
            FUZZ_CHECK(f.route == route);
            FUZZ_CHECK(fed <= limits.response_bytes_max[route]);
            if (flags & 16)
                FUZZ_CHECK(fed <= (size_t)cap_seed * 3);
        }
        /* finish is repeatable; feeding afterwards is a state error. */
        struct p2p_frame again;
        FUZZ_CHECK(p2p_frame_reader_finish(&r, &again) == 0);
        FUZZ_CHECK(again.route == f.route && again.status == f.status &&
                   again.body == f.body && again.body_len == f.body_len);
        FUZZ_CHECK(p2p_frame_reader_feed(&r, data, size ? 1 : 0) ==
                   P2P_ERR_STATE);
        FUZZ_CHECK(p2p_frame_reader_finish(&r, &again) == 0);
        check_reencode(&f, mode);
    } else {
        /* After an error every call repeats it. */
        FUZZ_CHECK(p2p_frame_reader_feed(&r, NULL, 0) == rc);
        FUZZ_CHECK(p2p_frame_reader_finish(&r, &f) == rc);
    }

    p2p_frame_reader_fini(&r);
    FUZZ_CHECK(mem.bytes == 0);
    p2p_frame_reader_fini(&r); /* safe twice */
    FUZZ_CHECK(mem.bytes == 0);
    return 0;
}
