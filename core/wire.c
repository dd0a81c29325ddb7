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

static void *unpacker_alloc(void *data, size_t size)
{
    struct p2p_wire_unpacker *u = data;
    void *p = u->node.alloc(u->node.allocator_data, size);
    if (p == NULL)
        u->refused = true;
    return p;
}

static void unpacker_free(void *data, void *p)
{
    struct p2p_wire_unpacker *u = data;
    u->node.free(u->node.allocator_data, p);
}

void p2p_wire_unpacker_init(struct p2p_wire_unpacker *u, struct p2p_mem *mem)
{
    P2P_ASSERT(u != NULL && mem != NULL);
    p2p_wire_allocator(mem, &u->node);
    u->base = (ProtobufCAllocator){
        .alloc = unpacker_alloc, .free = unpacker_free, .allocator_data = u};
    u->refused = false;
}
