/* Protobuf heads by hand (core/wire_write.h). */
#include "core/wire_write.h"

#include <string.h>

enum { WT_VARINT = 0, WT_LEN = 2 };
enum {
    ARTIFACT_KIND = 1,
    ARTIFACT_BODY = 2,
    ARTIFACT_ID = 3,
    ARTIFACT_HEIGHT = 4
};

size_t p2p_wire_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t p2p_wire_put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static size_t put_key(uint8_t *out, unsigned field, unsigned wire_type)
{
    return p2p_wire_put_varint(out, ((uint64_t)field << 3) | wire_type);
}

size_t p2p_wire_artifact_head(uint8_t *out, uint32_t kind,
                              const struct p2p_artifact_id *id, size_t body_len)
{
    return p2p_wire_artifact_head_at(out, kind, id, body_len, 0);
}

size_t p2p_wire_artifact_head_at(uint8_t *out, uint32_t kind,
                                 const struct p2p_artifact_id *id,
                                 size_t body_len, uint64_t height)
{
    size_t n = 0;
    if (kind != 0) {
        n += put_key(out + n, ARTIFACT_KIND, WT_VARINT);
        n += p2p_wire_put_varint(out + n, kind);
    }
    if (id != NULL) {
        n += put_key(out + n, ARTIFACT_ID, WT_LEN);
        n += p2p_wire_put_varint(out + n, P2P_ID_BYTES);
        memcpy(out + n, id->b, P2P_ID_BYTES);
        n += P2P_ID_BYTES;
    }
    if (height != 0) {
        n += put_key(out + n, ARTIFACT_HEIGHT, WT_VARINT);
        n += p2p_wire_put_varint(out + n, height);
    }
    if (body_len != 0) {
        n += put_key(out + n, ARTIFACT_BODY, WT_LEN);
        n += p2p_wire_put_varint(out + n, body_len);
    }
    return n;
}

size_t p2p_wire_update_ack(uint8_t *out, uint64_t slot_id, uint64_t commit_id)
{
    size_t n = 0;
    if (slot_id != 0) {
        n += put_key(out + n, 1, WT_VARINT);
        n += p2p_wire_put_varint(out + n, slot_id);
    }
    if (commit_id != 0) {
        n += put_key(out + n, 2, WT_VARINT);
        n += p2p_wire_put_varint(out + n, commit_id);
    }
    return n;
}

size_t p2p_wire_fetch_request(uint8_t *out, const struct p2p_artifact_id *id)
{
    size_t n = put_key(out, 1, WT_LEN);
    n += p2p_wire_put_varint(out + n, P2P_ID_BYTES);
    memcpy(out + n, id->b, P2P_ID_BYTES);
    return n + P2P_ID_BYTES;
}
