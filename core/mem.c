#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"

/* Every block carries a header with its size so that frees can be charged
 * back exactly. 16 bytes keeps the payload max-aligned. */
struct block_header {
    size_t size;
    size_t module;
};
_Static_assert(sizeof(struct block_header) == 16, "header keeps alignment");

void p2p_mem_init(struct p2p_mem *mem)
{
    memset(mem, 0, sizeof(*mem));
}

static int refuse(struct p2p_mem *mem, size_t grow)
{
    mem->allocs++;
    if (mem->fail_at != 0 && mem->allocs == mem->fail_at)
        return 1;
    if (mem->bytes_budget != 0 && (mem->bytes > mem->bytes_budget ||
                                   grow > mem->bytes_budget - mem->bytes))
        return 1; /* written so that a huge grow cannot wrap the sum */
    return 0;
}

static void charge(struct p2p_mem *mem, size_t module, size_t add, size_t sub)
{
    mem->module_bytes[module] += add;
    mem->module_bytes[module] -= sub;
    mem->bytes += add;
    mem->bytes -= sub;
    if (mem->bytes > mem->bytes_peak)
        mem->bytes_peak = mem->bytes;
}

/* Allocates a block, zeroed only when asked: large artifact copies are
 * overwritten at once and zeroing them showed up in profiles. */
static void *alloc_block(struct p2p_mem *mem, enum p2p_mem_module module,
                         size_t n, int zero)
{
    P2P_ASSERT(module < P2P_MEM_MODULES_COUNT);
    if (n == 0 || n > SIZE_MAX - sizeof(struct block_header))
        return NULL;
    if (refuse(mem, n))
        return NULL;
    struct block_header *h =
        zero ? calloc(1, sizeof(*h) + n) : malloc(sizeof(*h) + n);
    if (h == NULL)
        return NULL;
    h->size = n;
    h->module = module;
    charge(mem, module, n, 0);
    return h + 1;
}

void *p2p_mem_alloc(struct p2p_mem *mem, enum p2p_mem_module module, size_t n)
{
    return alloc_block(mem, module, n, 1);
}

void *p2p_mem_alloc_raw(struct p2p_mem *mem, enum p2p_mem_module module,
                        size_t n)
{
    return alloc_block(mem, module, n, 0);
}

void *p2p_mem_realloc(struct p2p_mem *mem, enum p2p_mem_module module, void *p,
                      size_t n)
{
    if (p == NULL)
        return p2p_mem_alloc(mem, module, n);
    struct block_header *h = (struct block_header *)p - 1;
    P2P_ASSERT(h->module == (size_t)module);
    if (n == 0 || n > SIZE_MAX - sizeof(*h))
        return NULL;
    size_t old = h->size;
    if (refuse(mem, n > old ? n - old : 0))
        return NULL;
    struct block_header *nh = realloc(h, sizeof(*nh) + n);
    if (nh == NULL)
        return NULL;
    nh->size = n;
    charge(mem, module, n, old);
    return nh + 1;
}

void p2p_mem_free(struct p2p_mem *mem, enum p2p_mem_module module, void *p)
{
    if (p == NULL)
        return;
    struct block_header *h = (struct block_header *)p - 1;
    P2P_ASSERT(h->module == (size_t)module);
    P2P_ASSERT(mem->module_bytes[module] >= h->size);
    charge(mem, module, 0, h->size);
    free(h);
}

void *p2p_mem_dup(struct p2p_mem *mem, enum p2p_mem_module module,
                  const void *src, size_t n)
{
    if (n == 0)
        return NULL;
    void *p = p2p_mem_alloc_raw(mem, module, n);
    if (p != NULL)
        memcpy(p, src, n);
    return p;
}

bool p2p_mem_charge(struct p2p_mem *mem, enum p2p_mem_module module, size_t n)
{
    P2P_ASSERT(module < P2P_MEM_MODULES_COUNT);
    if (refuse(mem, n))
        return false;
    charge(mem, module, n, 0);
    return true;
}

void p2p_mem_uncharge(struct p2p_mem *mem, enum p2p_mem_module module, size_t n)
{
    P2P_ASSERT(module < P2P_MEM_MODULES_COUNT);
    P2P_ASSERT(mem->module_bytes[module] >= n);
    charge(mem, module, 0, n);
}

const char *p2p_mem_module_name(enum p2p_mem_module module)
{
    static const char *const names[P2P_MEM_MODULES_COUNT] = {
        "pool",   "sender", "receiver",   "downloader", "streams",
        "outbox", "wire",   "state_sync", "other",
    };
    return module < P2P_MEM_MODULES_COUNT ? names[module] : "?";
}
