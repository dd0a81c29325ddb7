/* The allocator hook every core allocation goes through.
 *
 * A p2p_mem counts live bytes per module and in total, remembers the peak,
 * enforces an optional byte budget, and can fail the N-th allocation so that
 * tests walk every error path. One p2p_mem belongs to one node; the caller
 * owns it and must outlive every object allocated from it. */
#ifndef P2P_CORE_MEM_H
#define P2P_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum p2p_mem_module {
    P2P_MEM_POOL,       /* artifact bytes and pool tables */
    P2P_MEM_SENDER,     /* slot table and per-peer transmissions */
    P2P_MEM_RECEIVER,   /* per-peer slot views, the ids they name */
    P2P_MEM_DOWNLOADER, /* pending downloads */
    P2P_MEM_STREAMS,    /* stream reassembly buffers */
    P2P_MEM_OUTBOX,     /* actions and their payloads */
    P2P_MEM_WIRE,       /* protobuf encode/decode temporaries */
    P2P_MEM_STATE_SYNC, /* manifests, the chunk scheduler, served
                            manifests */
    P2P_MEM_OTHER,
    P2P_MEM_MODULES_COUNT
};

struct p2p_mem {
    size_t module_bytes[P2P_MEM_MODULES_COUNT]; /* live bytes per module */
    size_t bytes;                               /* live bytes in total */
    size_t bytes_peak;   /* highest value of bytes seen */
    size_t bytes_budget; /* 0 = unlimited; else allocations past it fail */
    uint64_t allocs;     /* allocations attempted so far */
    uint64_t fail_at;    /* 0 = never; else the fail_at-th attempt fails */
};

/* Zeroes the counters; no budget, no injected failure. */
void p2p_mem_init(struct p2p_mem *mem);

/* Allocates n bytes (n > 0) charged to module; NULL when refused. The
 * returned block is zeroed. */
void *p2p_mem_alloc(struct p2p_mem *mem, enum p2p_mem_module module, size_t n);

/* As p2p_mem_alloc, but the block is not zeroed: for buffers the caller
 * fills completely at once (packed messages, copies of bodies). */
void *p2p_mem_alloc_raw(struct p2p_mem *mem, enum p2p_mem_module module,
                        size_t n);

/* Resizes a block from p2p_mem_alloc (p may be NULL). On failure returns NULL
 * and p stays valid. New bytes are not zeroed. */
void *p2p_mem_realloc(struct p2p_mem *mem, enum p2p_mem_module module, void *p,
                      size_t n);

/* Frees a block from p2p_mem_alloc (NULL is allowed). */
void p2p_mem_free(struct p2p_mem *mem, enum p2p_mem_module module, void *p);

/* Duplicates n > 0 bytes; NULL when refused or n == 0. */
void *p2p_mem_dup(struct p2p_mem *mem, enum p2p_mem_module module,
                  const void *src, size_t n);

/* Counts n bytes held elsewhere (a shared block, core/body.h) against
 * module as if allocated: subject to the budget and to injected failures.
 * false when refused (nothing counted). n may be 0. */
bool p2p_mem_charge(struct p2p_mem *mem, enum p2p_mem_module module, size_t n);

/* Gives back what p2p_mem_charge counted. */
void p2p_mem_uncharge(struct p2p_mem *mem, enum p2p_mem_module module,
                      size_t n);

/* Returns the module's short name, for reports. */
const char *p2p_mem_module_name(enum p2p_mem_module module);

#endif
