/* Forged wire bytes for byzantine nodes: garbage, oversize prefixes,
 * adverts and corrupted fetch answers. Core's encoders allocate from a
 * scratch p2p_mem local to each call; results are copied to malloc. */
#include "sim/byzantine_forge.h"

#include <stdlib.h>
#include <string.h>

#include "p2p.pb-c.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/wire.h"
#include "core/wire_pack.h"

/* Protobuf wire types used here, and the request's body field. */
enum { WT_LEN = 2, WT_FIRST_UNDEFINED = 6, FIELD_BODY = 2 };

/* One-byte tags (field numbers 0..15) whose wire type is 6 or 7. */
#define BAD_TAGS_COUNT 32u

/* A varint of a 64-bit value takes at most this many bytes. */
#define VARINT_BYTES_MAX 10

/* The body's tag (1 byte) and length (a 32-bit varint, at most 5 bytes)
 * after the path part an honest encoder writes. */
#define OVERSIZE_PREFIX_BYTES_MAX (P2P_FRAME_PREFIX_BYTES_MAX + 1 + 5)

/* Copies block[0..len) to malloc, for the caller to free(), and returns
 * block to the scratch allocator either way. */
static int to_heap(struct p2p_mem *mem, enum p2p_mem_module module,
                   uint8_t *block, size_t len, uint8_t **out)
{
    uint8_t *b = malloc(len != 0 ? len : 1);
    if (b != NULL && len != 0)
        memcpy(b, block, len);
    p2p_mem_free(mem, module, block);
    if (b == NULL)
        return P2P_ERR_NOMEM;
    *out = b;
    return 0;
}

/* ---- garbage ---- */

/* The k-th (k < BAD_TAGS_COUNT) one-byte tag with an undefined wire
 * type: field k / 2, wire type 6 + k % 2; below 0x80, so it ends at once. */
static uint8_t bad_tag(uint32_t k)
{
    P2P_ASSERT(k < BAD_TAGS_COUNT);
    uint8_t tag = (uint8_t)(((k >> 1) << 3) | (WT_FIRST_UNDEFINED + (k & 1)));
    P2P_ASSERT(tag < 0x80 && (tag & 7) >= WT_FIRST_UNDEFINED);
    return tag;
}

int sim_byzantine_forge_garbage(struct p2p_rng *rng, size_t len, uint8_t **out)
{
    if (rng == NULL || out == NULL || len == 0 ||
        len > SIM_FORGE_GARBAGE_BYTES_MAX)
        return P2P_ERR_INVALID_ARG;
    uint8_t *b = malloc(len);
    if (b == NULL)
        return P2P_ERR_NOMEM;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t x = p2p_rng_u32(rng);
        size_t n = len - i < 4 ? len - i : 4;
        for (size_t k = 0; k < n; k++)
            b[i + k] = (uint8_t)(x >> (8 * k));
    }
    b[0] = bad_tag((uint32_t)p2p_rng_below(rng, BAD_TAGS_COUNT));
    *out = b;
    return 0;
}

/* ---- oversize ---- */

/* Writes v as a protobuf varint to p; returns the bytes written. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    P2P_ASSERT(n <= VARINT_BYTES_MAX);
    return n;
}

/* The route's request limit as the reader applies it. */
static size_t request_limit(const struct p2p_route_limits *limits,
                            enum p2p_route route)
{
    size_t l = limits->request_bytes_max[route];
    return l < P2P_FRAME_MESSAGE_BYTES_MAX ? l : P2P_FRAME_MESSAGE_BYTES_MAX;
}

/* Writes the oversize prefix (path part, body tag, declared length) to
 * p[0..OVERSIZE_PREFIX_BYTES_MAX) and its length to *len. */
static int oversize_prefix(enum p2p_route route,
                           const struct p2p_route_limits *limits, uint8_t *p,
                           size_t *len)
{
    if (limits == NULL || p2p_route_path(route) == NULL)
        return P2P_ERR_INVALID_ARG;
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *path_part;
    size_t n;
    struct p2p_frame_request req = {.route = route};
    int rc =
        p2p_frame_request_encode(&mem, P2P_MEM_OTHER, &req, &path_part, &n);
    if (rc != 0)
        return rc;
    /* An empty body is left out, so this is the path field alone. */
    P2P_ASSERT(n >= 2 && n <= P2P_FRAME_PREFIX_BYTES_MAX);
    memcpy(p, path_part, n);
    p2p_mem_free(&mem, P2P_MEM_OTHER, path_part);
    P2P_ASSERT(mem.bytes == 0);
    p[n++] = (uint8_t)((FIELD_BODY << 3) | WT_LEN);
    n += put_varint(p + n, (uint64_t)request_limit(limits, route) + 1);
    P2P_ASSERT(n <= OVERSIZE_PREFIX_BYTES_MAX);
    *len = n;
    return 0;
}

int sim_byzantine_forge_oversize_filler_min(
    enum p2p_route route, const struct p2p_route_limits *limits, size_t *filler)
{
    uint8_t prefix[OVERSIZE_PREFIX_BYTES_MAX];
    size_t n;
    if (filler == NULL)
        return P2P_ERR_INVALID_ARG;
    int rc = oversize_prefix(route, limits, prefix, &n);
    if (rc != 0)
        return rc;
    size_t limit = request_limit(limits, route);
    *filler = n > limit ? 0 : limit + 1 - n;
    P2P_ASSERT(*filler <= SIM_FORGE_FILLER_BYTES_MAX);
    return 0;
}

int sim_byzantine_forge_oversize(enum p2p_route route,
                                 const struct p2p_route_limits *limits,
                                 size_t filler, uint8_t **out, size_t *len)
{
    if (out == NULL || len == NULL || filler > SIM_FORGE_FILLER_BYTES_MAX)
        return P2P_ERR_INVALID_ARG;
    uint8_t prefix[OVERSIZE_PREFIX_BYTES_MAX];
    size_t n;
    int rc = oversize_prefix(route, limits, prefix, &n);
    if (rc != 0)
        return rc;
    /* calloc: the filler is zeros, and a large one stays untouched pages. */
    uint8_t *b = calloc(1, n + filler);
    if (b == NULL)
        return P2P_ERR_NOMEM;
    memcpy(b, prefix, n);
    *out = b;
    *len = n + filler;
    return 0;
}

/* ---- advert ---- */

int sim_byzantine_forge_advert(const struct sim_byzantine_forge_advert_spec *a,
                               uint8_t **out, size_t *len)
{
    if (a == NULL || a->id == NULL || out == NULL || len == NULL ||
        (unsigned)a->kind >= P2P_KINDS_COUNT)
        return P2P_ERR_INVALID_ARG;
    const struct p2p_artifact_id *id = a->id;
    /* As the sender's encode_update writes an advert. */
    P2p__V1__SlotUpdate msg = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__ArtifactRef ref = P2P__V1__ARTIFACT_REF__INIT;
    msg.commit_id = a->commit_id;
    msg.slot_id = a->slot;
    ref.id.data = (uint8_t *)id->b; /* only read by pack */
    ref.id.len = P2P_ID_BYTES;
    ref.kind = a->kind;
    ref.size = a->size;
    msg.update_case = P2P__V1__SLOT_UPDATE__UPDATE_REF;
    msg.ref = &ref;

    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *body, *frame;
    size_t body_len, frame_len;
    int rc = p2p_wire_pack(&mem, P2P_MEM_WIRE, &msg.base, &body, &body_len);
    if (rc != 0)
        return rc;
    struct p2p_frame_request req = {
        .route = P2P_ROUTE_ARTIFACT_UPDATE, .body = body, .body_len = body_len};
    rc =
        p2p_frame_request_encode(&mem, P2P_MEM_OTHER, &req, &frame, &frame_len);
    p2p_mem_free(&mem, P2P_MEM_WIRE, body);
    if (rc == 0)
        rc = to_heap(&mem, P2P_MEM_OTHER, frame, frame_len, out);
    P2P_ASSERT(mem.bytes == 0);
    if (rc == 0)
        *len = frame_len;
    return rc;
}

/* ---- corrupt response ---- */

/* Re-encodes art as a response body with status; the frame goes to *out
 * (malloc). */
static int encode_corrupt(struct p2p_mem *mem, uint32_t status,
                          const P2p__V1__Artifact *art, uint8_t **out,
                          size_t *out_len)
{
    uint8_t *body, *frame;
    size_t body_len, frame_len;
    int rc = p2p_wire_pack(mem, P2P_MEM_WIRE, &art->base, &body, &body_len);
    if (rc != 0)
        return rc;
    struct p2p_frame_response resp = {
        .status = status, .body = body, .body_len = body_len};
    rc = p2p_frame_response_encode(mem, P2P_MEM_OTHER, &resp, &frame,
                                   &frame_len);
    p2p_mem_free(mem, P2P_MEM_WIRE, body);
    if (rc == 0)
        rc = to_heap(mem, P2P_MEM_OTHER, frame, frame_len, out);
    if (rc == 0)
        *out_len = frame_len;
    return rc;
}

/* Corrupts the Artifact in a decoded response body; 1 when it had a body
 * to corrupt, 0 when not. */
static int corrupt_frame(struct p2p_mem *mem, const struct p2p_frame *f,
                         uint8_t **out, size_t *out_len)
{
    if (f->body_len == 0)
        return 0;
    ProtobufCAllocator alloc;
    p2p_wire_allocator(mem, &alloc);
    P2p__V1__Artifact *art =
        p2p__v1__artifact__unpack(&alloc, f->body_len, f->body);
    if (art == NULL)
        return P2P_ERR_DECODE;
    int rc = 0;
    if (art->body.len != 0) {
        /* The unpacked copy is ours to change. */
        art->body.data[art->body.len / 2] ^= SIM_FORGE_CORRUPT_XOR;
        rc = encode_corrupt(mem, f->status, art, out, out_len);
        if (rc == 0)
            rc = 1;
    }
    p2p__v1__artifact__free_unpacked(art, &alloc);
    return rc;
}

int sim_byzantine_forge_corrupt_response(const uint8_t *in, size_t len,
                                         uint8_t **out, size_t *out_len)
{
    if ((in == NULL && len != 0) || out == NULL || out_len == NULL)
        return P2P_ERR_INVALID_ARG;
    if (len > SIM_FORGE_RESPONSE_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    limits.response_bytes_max[P2P_ROUTE_ARTIFACT_RPC] =
        SIM_FORGE_RESPONSE_BYTES_MAX;
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_RESPONSE, &limits,
                          P2P_ROUTE_ARTIFACT_RPC);
    struct p2p_frame f;
    int rc = p2p_frame_reader_feed(&r, in, len);
    if (rc == 0)
        rc = p2p_frame_reader_finish(&r, &f);
    uint8_t *forged = NULL;
    size_t forged_len = 0;
    if (rc == 0)
        rc = corrupt_frame(&mem, &f, &forged, &forged_len);
    p2p_frame_reader_fini(&r);
    P2P_ASSERT(mem.bytes == 0);
    P2P_ASSERT(rc <= 1 && (rc == 1) == (forged != NULL));
    if (rc >= 0) {
        *out = forged;
        *out_len = forged_len;
    }
    return rc;
}
