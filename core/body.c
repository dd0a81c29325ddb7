/* Shared artifact bodies (core/body.h). */
#include "core/body.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"

struct p2p_body *p2p_body_new(struct p2p_mem *mem, enum p2p_mem_module module,
                              size_t len)
{
    if (len > SIZE_MAX - sizeof(struct p2p_body))
        return NULL;
    if (mem != NULL && !p2p_mem_charge(mem, module, len))
        return NULL;
    struct p2p_body *b = malloc(sizeof(*b) + len);
    if (b == NULL) {
        if (mem != NULL)
            p2p_mem_uncharge(mem, module, len);
        return NULL;
    }
    b->refs = 1;
    b->hashed = false;
    memset(&b->id, 0, sizeof(b->id));
    b->len = len;
    b->bytes = (uint8_t *)(b + 1);
    b->owner = NULL;
    b->owner_ctx = NULL;
    return b;
}

bool p2p_body_wrap(struct p2p_body *b, struct p2p_mem *mem,
                   enum p2p_mem_module module, uint8_t *bytes, size_t len,
                   const struct p2p_body_owner *owner, void *owner_ctx)
{
    P2P_ASSERT(b != NULL && owner != NULL && owner->release != NULL);
    if (mem != NULL && !p2p_mem_charge(mem, module, len))
        return false;
    b->refs = 1;
    b->hashed = false;
    memset(&b->id, 0, sizeof(b->id));
    b->len = len;
    b->bytes = bytes;
    b->owner = owner;
    b->owner_ctx = owner_ctx;
    return true;
}

struct p2p_body *p2p_body_copy(struct p2p_mem *mem, enum p2p_mem_module module,
                               const uint8_t *src, size_t len)
{
    struct p2p_body *b = p2p_body_new(mem, module, len);
    if (b != NULL && len > 0)
        memcpy(b->bytes, src, len);
    return b;
}

bool p2p_body_hold(struct p2p_body *b, struct p2p_mem *mem,
                   enum p2p_mem_module module)
{
    P2P_ASSERT(b->refs > 0 && b->refs < UINT32_MAX);
    if (mem != NULL && !p2p_mem_charge(mem, module, b->len))
        return false;
    b->refs++;
    return true;
}

void p2p_body_release(struct p2p_body *b, struct p2p_mem *mem,
                      enum p2p_mem_module module)
{
    if (b == NULL)
        return;
    P2P_ASSERT(b->refs > 0);
    if (mem != NULL)
        p2p_mem_uncharge(mem, module, b->len);
    if (--b->refs > 0)
        return;
    if (b->owner != NULL)
        b->owner->release(b);
    else
        free(b);
}

const struct p2p_artifact_id *p2p_body_id(struct p2p_body *b)
{
    if (!b->hashed) {
        P2P_ASSERT(b->bytes != NULL || b->len == 0);
        p2p_id_of(b->bytes, b->len, &b->id);
        b->hashed = true;
    }
    return &b->id;
}

bool p2p_body_matches(struct p2p_body *b, const struct p2p_artifact_id *id)
{
    return p2p_id_eq(p2p_body_id(b), id);
}
