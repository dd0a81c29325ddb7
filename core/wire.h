/* Protobuf-c glue: an allocator that charges protobuf-c's temporaries to
 * the node's p2p_mem, so decoding a peer's message is counted, bounded by
 * the node's byte budget and can be failed on purpose in tests. */
#ifndef P2P_CORE_WIRE_H
#define P2P_CORE_WIRE_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "core/mem.h"

/* Fills *out with a protobuf-c allocator whose alloc and free go through
 * mem under P2P_MEM_WIRE (out->allocator_data = mem, borrowed: mem must
 * outlive every message unpacked with it). A zero-byte request still gets a
 * valid, freeable block, since p2p_mem_alloc refuses n == 0. When mem
 * refuses, alloc returns NULL and protobuf-c reports failure (unpack
 * returns NULL having freed what it took). Messages unpacked with this
 * allocator must be freed with the same allocator. */
void p2p_wire_allocator(struct p2p_mem *mem, ProtobufCAllocator *out);

/* p2p_wire_allocator that remembers a refusal. protobuf-c's unpack
 * returns NULL both for bytes that are no message and for a lack of
 * memory, and only the first is the sender's fault: after a NULL, refused
 * tells which. Caller storage; pass &u->base to protobuf-c (its
 * allocator_data points at u, so u must not move while in use); free what
 * it unpacked with &u->base too. */
struct p2p_wire_unpacker {
    ProtobufCAllocator base; /* handed to protobuf-c */
    ProtobufCAllocator node; /* p2p_wire_allocator's */
    bool refused;            /* an allocation was refused since init */
};

/* Prepares u over mem (borrowed, as for p2p_wire_allocator). */
void p2p_wire_unpacker_init(struct p2p_wire_unpacker *u, struct p2p_mem *mem);

#endif
