/* Packing protobuf-c messages into buffers from the node's allocator. */
#ifndef P2P_CORE_WIRE_PACK_H
#define P2P_CORE_WIRE_PACK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

/* Packs msg into a new buffer charged to module; the caller frees it with
 * p2p_mem_free(mem, module, *out). An empty message still gets a freeable
 * block. Errors: P2P_ERR_NOMEM. */
int p2p_wire_pack(struct p2p_mem *mem, enum p2p_mem_module module,
                  const ProtobufCMessage *msg, uint8_t **out, size_t *out_len);

#endif
