/* Traffic classes of stream envelopes (prod/stream_traffic.h). A tiny
 * protobuf walk over the first bytes: the envelope's fields come in
 * field order (path or status first), and so do a SlotUpdate's. */
#include "quic/stream_traffic.h"

#include "core/assert.h"
#include "core/framing.h"

enum { STATUS_OK = 200, STATUS_NO_CONTENT = 204 };

/* Protobuf wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Tags: (field << 3) | wire type. */
#define TAG_PATH ((1u << 3) | WT_LEN)      /* Request.path */
#define TAG_BODY ((2u << 3) | WT_LEN)      /* Request.body */
#define TAG_STATUS ((1u << 3) | WT_VARINT) /* Response.status */
#define SLOT_FIELD_ARTIFACT 3u             /* SlotUpdate.artifact: a push */

enum rd { RD_OK, RD_MORE, RD_BAD };

/* A varint at b[*pos..len): RD_MORE when it runs past len. */
static enum rd varint(const uint8_t *b, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*pos + i >= len)
            return RD_MORE;
        uint8_t c = b[*pos + i];
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if ((c & 0x80) == 0) {
            *pos += i + 1;
            *v = x;
            return RD_OK;
        }
    }
    return RD_BAD;
}

/* Skips a field of wire type wt at *pos: RD_MORE when its end is past
 * len, RD_BAD for a wire type without a known length. */
static enum rd skip(const uint8_t *b, size_t len, size_t *pos, unsigned wt)
{
    uint64_t n = 0;
    switch (wt) {
    case WT_VARINT:
        return varint(b, len, pos, &n);
    case WT_I64:
        n = 8;
        break;
    case WT_I32:
        n = 4;
        break;
    case WT_LEN: {
        enum rd r = varint(b, len, pos, &n);
        if (r != RD_OK)
            return r;
        break;
    }
    default:
        return RD_BAD;
    }
    if (n > len - *pos)
        return RD_MORE;
    *pos += (size_t)n;
    return RD_OK;
}

/* A SlotUpdate starting at b[pos], of body_len bytes (as declared): push
 * when its artifact field comes before anything else that decides. */
static bool slot_update(const uint8_t *b, size_t len, size_t pos,
                        uint64_t body_len, bool complete,
                        enum p2p_traffic *traffic)
{
    uint64_t end = body_len > UINT64_MAX - pos ? UINT64_MAX : pos + body_len;
    for (;;) {
        if (pos >= end) {
            *traffic = P2P_TRAFFIC_ADVERT;
            return true;
        }
        uint64_t tag;
        enum rd r = varint(b, len, &pos, &tag);
        if (r == RD_OK && (tag >> 3) == SLOT_FIELD_ARTIFACT) {
            *traffic = P2P_TRAFFIC_PUSH;
            return true;
        }
        if (r == RD_OK && (tag >> 3) < SLOT_FIELD_ARTIFACT)
            r = skip(b, len, &pos, (unsigned)(tag & 7));
        else if (r == RD_OK)
            break; /* a later field: an id, a deletion */
        if (r == RD_MORE && !complete)
            return false;
        if (r != RD_OK)
            break;
    }
    *traffic = P2P_TRAFFIC_ADVERT;
    return true;
}

bool quic_stream_traffic_of_request(const uint8_t *b, size_t len, bool complete,
                                    enum p2p_traffic *traffic, uint8_t *route)
{
    P2P_ASSERT(b != NULL || len == 0);
    P2P_ASSERT(traffic != NULL && route != NULL);
    *route = QUIC_TRAFFIC_ROUTE_NONE;
    *traffic = P2P_TRAFFIC_OTHER;
    size_t pos = 0;
    uint64_t tag, path_len;
    enum rd r = varint(b, len, &pos, &tag);
    if (r == RD_OK && tag != TAG_PATH)
        return true;
    if (r == RD_OK)
        r = varint(b, len, &pos, &path_len);
    if (r == RD_OK && path_len > P2P_FRAME_PATH_BYTES_MAX)
        return true;
    if (r == RD_OK && path_len > len - pos)
        r = RD_MORE;
    if (r == RD_MORE && !complete)
        return false;
    if (r != RD_OK)
        return true;
    enum p2p_route rt;
    if (p2p_route_lookup(b + pos, (size_t)path_len, &rt) != 0)
        return true;
    pos += (size_t)path_len;
    *route = (uint8_t)rt;
    switch (rt) {
    case P2P_ROUTE_ARTIFACT_RPC:
        *traffic = P2P_TRAFFIC_FETCH;
        return true;
    case P2P_ROUTE_STATE_ADVERT:
    case P2P_ROUTE_STATE_CHUNK:
        *traffic = P2P_TRAFFIC_STATE;
        return true;
    case P2P_ROUTE_ARTIFACT_UPDATE:
        break;
    default:
        return true;
    }
    /* An update: push or advert, from the SlotUpdate in the body. */
    uint64_t body_len;
    r = varint(b, len, &pos, &tag);
    if (r == RD_OK && tag != TAG_BODY)
        r = RD_BAD;
    if (r == RD_OK)
        r = varint(b, len, &pos, &body_len);
    if (r == RD_MORE && !complete)
        return false;
    *traffic = P2P_TRAFFIC_ADVERT;
    if (r != RD_OK)
        return true;
    return slot_update(b, len, pos, body_len, complete, traffic);
}

bool quic_stream_traffic_of_response(uint8_t route, const uint8_t *b,
                                     size_t len, bool complete,
                                     enum p2p_traffic *traffic)
{
    P2P_ASSERT(b != NULL || len == 0);
    P2P_ASSERT(traffic != NULL);
    *traffic = P2P_TRAFFIC_OTHER;
    if (route == P2P_ROUTE_STATE_ADVERT || route == P2P_ROUTE_STATE_CHUNK) {
        *traffic = P2P_TRAFFIC_STATE;
        return true;
    }
    if (route != P2P_ROUTE_ARTIFACT_UPDATE && route != P2P_ROUTE_ARTIFACT_RPC)
        return true;
    size_t pos = 0;
    uint64_t tag, status = 0;
    enum rd r = varint(b, len, &pos, &tag);
    if (r == RD_OK && tag != TAG_STATUS)
        return true;
    if (r == RD_OK)
        r = varint(b, len, &pos, &status);
    if (r == RD_MORE && !complete)
        return false;
    if (r != RD_OK)
        return true;
    if (route == P2P_ROUTE_ARTIFACT_UPDATE && status == STATUS_OK)
        *traffic = P2P_TRAFFIC_ACK;
    else if (route == P2P_ROUTE_ARTIFACT_RPC &&
             (status == STATUS_OK || status == STATUS_NO_CONTENT))
        *traffic = P2P_TRAFFIC_ARTIFACT;
    return true;
}
