#include "core/wire.h"

#include "core/assert.h"

static void *wire_alloc(void *data, size_t size)
{
    /* protobuf-c may ask for 0 bytes (an empty repeated field or string);
     * hand out one byte so the result is a real block it can free. */
    return p2p_mem_alloc(data, P2P_MEM_WIRE, size != 0 ? size : 1);
}

static void wire_free(void *data, void *p)
{
    p2p_mem_free(data, P2P_MEM_WIRE, p);
}

void p2p_wire_allocator(struct p2p_mem *mem, ProtobufCAllocator *out)
{
    P2P_ASSERT(mem != NULL && out != NULL);
    out->alloc = wire_alloc;
    out->free = wire_free;
    out->allocator_data = mem;
}
