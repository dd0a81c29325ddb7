#include "core/wire_pack.h"

#include "core/err.h"

int p2p_wire_pack(struct p2p_mem *mem, enum p2p_mem_module module,
                  const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    /* An empty message packs to zero bytes; keep a valid pointer anyway. */
    uint8_t *buf = p2p_mem_alloc_raw(mem, module, len ? len : 1);
    if (buf == NULL)
        return P2P_ERR_NOMEM;
    *out_len = protobuf_c_message_pack(msg, buf);
    *out = buf;
    return 0;
}
