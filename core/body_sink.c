/* Bodies written as they arrive (core/body_sink.h). */
#include "core/body_sink.h"

#include <nettle/sha2.h>
#include <stdlib.h>

#include "core/assert.h"
#include "core/err.h"

struct p2p_body_sink {
    struct p2p_mem *mem; /* borrowed */
    enum p2p_mem_module module;
    const struct p2p_body_store *store; /* borrowed */
    struct p2p_body *body;              /* one reference, charged */
    size_t written;
    struct sha256_ctx sha;
};

struct p2p_body_sink *p2p__body_sink_open(struct p2p_mem *mem,
                                          enum p2p_mem_module module,
                                          const struct p2p_body_store *store,
                                          size_t len, int *err)
{
    *err = 0;
    struct p2p_body_sink *s = p2p_mem_alloc_raw(mem, module, sizeof(*s));
    if (s == NULL) {
        *err = P2P_ERR_NOMEM;
        return NULL;
    }
    struct p2p_body *b = store->open(store->ctx, len);
    if (b != NULL && !p2p_mem_charge(mem, module, len)) {
        p2p_body_release(b, NULL, module);
        b = NULL;
        *err = P2P_ERR_NOMEM;
    }
    if (b == NULL) {
        p2p_mem_free(mem, module, s);
        return NULL;
    }
    P2P_ASSERT(b->len == len && b->refs == 1);
    s->mem = mem;
    s->module = module;
    s->store = store;
    s->body = b;
    s->written = 0;
    sha256_init(&s->sha);
    return s;
}

size_t p2p__body_sink_missing(const struct p2p_body_sink *s)
{
    return s->body->len - s->written;
}

int p2p__body_sink_write(struct p2p_body_sink *s, const uint8_t *data,
                         size_t len)
{
    P2P_ASSERT(len <= p2p__body_sink_missing(s));
    if (len == 0)
        return 0;
    int rc = s->store->write(s->store->ctx, s->body, data, len);
    if (rc != 0)
        return P2P_ERR_WRITE;
    if (!s->store->hashes)
        sha256_update(&s->sha, len, data);
    s->written += len;
    return 0;
}

static void free_sink(struct p2p_body_sink *s)
{
    p2p_mem_free(s->mem, s->module, s);
}

int p2p__body_sink_seal(struct p2p_body_sink *s, struct p2p_body **out)
{
    struct p2p_body *b = s->body;
    int rc = p2p__body_sink_missing(s) > 0           ? P2P_ERR_TRUNCATED
             : s->store->seal(s->store->ctx, b) != 0 ? P2P_ERR_WRITE
                                                     : 0;
    if (rc != 0) {
        p2p__body_sink_abort(s);
        return rc;
    }
    P2P_ASSERT(b->bytes != NULL || b->len == 0);
    if (!s->store->hashes) {
        sha256_digest(&s->sha, P2P_ID_BYTES, b->id.b);
        b->hashed = true;
    }
    P2P_ASSERT(b->hashed);
    *out = b;
    free_sink(s);
    return 0;
}

void p2p__body_sink_abort(struct p2p_body_sink *s)
{
    if (s == NULL)
        return;
    p2p_body_release(s->body, s->mem, s->module);
    free_sink(s);
}
