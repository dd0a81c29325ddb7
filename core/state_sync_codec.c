/* The encoding of state-sync chunk answers: raw, or one zstd frame
 * (core/state_sync_codec.h). */
#include "core/state_sync_codec.h"

#include <string.h>

/* The contexts' allocator hook (ZSTD_customMem) is in zstd's advanced
 * API; Debian 12's libzstd 1.5.4 exports it. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

#include "core/assert.h"
#include "core/err.h"

static void *zalloc(void *opaque, size_t size)
{
    struct p2p_state_codec *c = opaque;
    return size > 0 ? p2p_mem_alloc_raw(c->mem, c->module, size) : NULL;
}

static void zfree(void *opaque, void *p)
{
    struct p2p_state_codec *c = opaque;
    p2p_mem_free(c->mem, c->module, p);
}

static ZSTD_customMem custom_mem(struct p2p_state_codec *c)
{
    return (ZSTD_customMem){
        .customAlloc = zalloc, .customFree = zfree, .opaque = c};
}

void p2p__state_sync_codec_init(struct p2p_state_codec *c, struct p2p_mem *mem,
                                enum p2p_mem_module module)
{
    memset(c, 0, sizeof(*c));
    c->mem = mem;
    c->module = module;
}

void p2p__state_sync_codec_fini(struct p2p_state_codec *c)
{
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    p2p_mem_free(c->mem, c->module, c->out);
    p2p__state_sync_codec_init(c, c->mem, c->module);
}

/* Room for an answer body of n bytes in c->out. */
static int reserve(struct p2p_state_codec *c, size_t n)
{
    P2P_ASSERT(n <= P2P_STATE_CODEC_BODY_BYTES_MAX);
    if (c->out_cap >= n)
        return 0;
    /* A fresh block: the old bytes are not needed. */
    uint8_t *b = p2p_mem_alloc_raw(c->mem, c->module, n);
    if (b == NULL)
        return P2P_ERR_NOMEM;
    p2p_mem_free(c->mem, c->module, c->out);
    c->out = b;
    c->out_cap = n;
    return 0;
}

/* The frame's length in c->out + 1, or 0 when compression does not save
 * enough (or the compressor cannot be had). */
static size_t compress(struct p2p_state_codec *c, const uint8_t *src,
                       size_t len)
{
    if (len < P2P_STATE_CODEC_MIN_BYTES)
        return 0;
    if (c->cctx == NULL) {
        c->cctx = ZSTD_createCCtx_advanced(custom_mem(c));
        if (c->cctx == NULL)
            return 0;
    }
    size_t room = len - len / P2P_STATE_CODEC_SAVING_DIV;
    size_t n = ZSTD_compressCCtx(c->cctx, c->out + 1, room, src, len,
                                 P2P_STATE_CODEC_LEVEL);
    /* Too big for room, or no memory for the context's tables. */
    return ZSTD_isError(n) ? 0 : n;
}

int p2p__state_sync_codec_encode(struct p2p_state_codec *c, const uint8_t *src,
                                 size_t len, const uint8_t **body,
                                 size_t *body_len, bool *compressed)
{
    if (len == 0 || len > P2P_STATE_CHUNK_BYTES_MAX)
        return P2P_ERR_INVALID_ARG;
    int rc = reserve(c, 1 + len);
    if (rc != 0)
        return rc;
    size_t n = compress(c, src, len);
    *compressed = n > 0;
    if (n > 0) {
        c->out[0] = P2P_STATE_ENCODING_ZSTD;
        *body_len = 1 + n;
    } else {
        c->out[0] = P2P_STATE_ENCODING_RAW;
        memcpy(c->out + 1, src, len);
        *body_len = 1 + len;
    }
    *body = c->out;
    P2P_ASSERT(*body_len <= 1 + len);
    return 0;
}

/* Checks a frame's header against what is expected; allocates nothing. */
static int check_frame(const uint8_t *frame, size_t len, size_t expect_len)
{
    unsigned long long declared = ZSTD_getFrameContentSize(frame, len);
    if (declared == ZSTD_CONTENTSIZE_ERROR ||
        declared == ZSTD_CONTENTSIZE_UNKNOWN)
        return P2P_ERR_DECODE;
    if (declared > P2P_STATE_CODEC_DECOMPRESSED_MAX)
        return P2P_ERR_OVERSIZE;
    if (declared != expect_len)
        return P2P_ERR_DECODE;
    /* Exactly one frame: no second frame, no trailing bytes. */
    size_t whole = ZSTD_findFrameCompressedSize(frame, len);
    if (ZSTD_isError(whole) || whole != len)
        return P2P_ERR_DECODE;
    return 0;
}

int p2p__state_sync_codec_decode(struct p2p_state_codec *c, const uint8_t *body,
                                 size_t body_len, size_t expect_len,
                                 uint8_t *out, size_t out_cap,
                                 struct p2p_state_decoded *d)
{
    if (expect_len == 0 || expect_len > P2P_STATE_CODEC_DECOMPRESSED_MAX ||
        out_cap < expect_len)
        return P2P_ERR_INVALID_ARG;
    memset(d, 0, sizeof(*d));
    if (body_len == 0)
        return P2P_ERR_DECODE;
    const uint8_t *payload = body + 1;
    size_t len = body_len - 1;
    d->wire_bytes = len;
    if (body[0] == P2P_STATE_ENCODING_RAW) {
        d->bytes = payload;
        d->len = len;
        return 0;
    }
    if (body[0] != P2P_STATE_ENCODING_ZSTD)
        return P2P_ERR_DECODE;
    int rc = check_frame(payload, len, expect_len);
    if (rc != 0)
        return rc;
    if (c->dctx == NULL) {
        c->dctx = ZSTD_createDCtx_advanced(custom_mem(c));
        if (c->dctx == NULL)
            return P2P_ERR_NOMEM;
    }
    /* The buffer is exactly the declared size: blocks that decode to more
     * fail here (dstSize_tooSmall) instead of growing anything. */
    size_t n = ZSTD_decompressDCtx(c->dctx, out, expect_len, payload, len);
    if (ZSTD_isError(n)) {
        /* The context's own allocation failing is this node's fault. */
        return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation
                   ? P2P_ERR_NOMEM
                   : P2P_ERR_DECODE;
    }
    if (n != expect_len)
        return P2P_ERR_DECODE;
    d->bytes = out;
    d->len = n;
    d->compressed = true;
    return 0;
}
