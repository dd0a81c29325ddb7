/* A body written as its bytes arrive: a stream reader (core/framing.c)
 * opens one in the backend's body store when it learns that the rest of a
 * stream is one large artifact body, writes every byte into it as it is
 * fed, and hashes the bytes on the way (or lets a store that hashes do
 * it), so the body is never copied again and never hashed in a second
 * pass (its id is known when it is sealed).
 *
 * Owned by the reader that opened it; one body per sink. Pure: the store's
 * calls are the only I/O, and they are the backend's. */
#ifndef P2P_CORE_BODY_SINK_H
#define P2P_CORE_BODY_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "core/body.h"
#include "core/mem.h"

struct p2p_body_sink;

/* Opens a body of len bytes in store, its reference charged to mem under
 * module. NULL when the store declines (the caller buffers the bytes
 * itself) or mem refuses (*err is then P2P_ERR_NOMEM; else 0). */
struct p2p_body_sink *p2p__body_sink_open(struct p2p_mem *mem,
                                          enum p2p_mem_module module,
                                          const struct p2p_body_store *store,
                                          size_t len, int *err);

/* Bytes the body still lacks. */
size_t p2p__body_sink_missing(const struct p2p_body_sink *s);

/* Writes data[0..len) (at most p2p__body_sink_missing bytes) and hashes
 * it. 0, or P2P_ERR_WRITE from the store. */
int p2p__body_sink_write(struct p2p_body_sink *s, const uint8_t *data,
                         size_t len);

/* Every byte written: seals the body, sets its id from the running hash
 * and hands its reference (charged as at open) to *out; the sink is freed
 * either way. Errors: P2P_ERR_TRUNCATED (bytes missing), P2P_ERR_WRITE
 * (the store failed); the body is released then. */
int p2p__body_sink_seal(struct p2p_body_sink *s, struct p2p_body **out);

/* Abandons the body (released, so the store forgets it) and frees the
 * sink. NULL is allowed. */
void p2p__body_sink_abort(struct p2p_body_sink *s);

#endif
