#include "core/types.h"

#include <nettle/sha2.h>

void p2p_id_of(const uint8_t *body, size_t len, struct p2p_artifact_id *out)
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, body);
    sha256_digest(&ctx, P2P_ID_BYTES, out->b);
}

void p2p_id_hex(const struct p2p_artifact_id *id, char *out, size_t chars)
{
    static const char digits[] = "0123456789abcdef";
    if (chars > 2 * P2P_ID_BYTES)
        chars = 2 * P2P_ID_BYTES;
    for (size_t i = 0; i < chars; i++) {
        uint8_t byte = id->b[i / 2];
        out[i] = digits[(i % 2 == 0) ? byte >> 4 : byte & 0xf];
    }
    out[chars] = '\0';
}

const char *p2p_kind_name(enum p2p_artifact_kind kind)
{
    switch (kind) {
    case P2P_KIND_PUSH:
        return "push";
    case P2P_KIND_ADVERT:
        return "advert";
    default:
        return "?";
    }
}
