/* Artifact bodies shared by every holder: immutable, reference-counted,
 * and carrying the id they were verified against.
 *
 * A body is made once (by the client that creates the artifact, or by the
 * reader that assembled it from the wire) and then only referenced: the
 * pool, an outbox action that sends it and, in the simulator, a message in
 * flight all hold the same bytes. Its SHA-256 is computed at most once in
 * its life (p2p_body_matches), so a body that reaches n nodes unchanged is
 * hashed once, not n times. Bytes that differ (a byzantine peer's) are a
 * different body and are verified on their own.
 *
 * Memory: each holder charges the body's bytes to its own p2p_mem when it
 * takes a reference and gives them back when it lets go, so a node's
 * accounting and budget see every body it holds, as if it held a copy.
 * The block itself is freed with the last reference. Not thread-safe: a
 * body is shared within one thread (one simulator, one replica loop). */
#ifndef P2P_CORE_BODY_H
#define P2P_CORE_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/types.h"

struct p2p_body {
    uint32_t refs;
    bool hashed;               /* id below is SHA-256(bytes) */
    struct p2p_artifact_id id; /* valid when hashed */
    size_t len;
    uint8_t bytes[]; /* len bytes, never changed after p2p_body_new's
                        caller filled them */
};

/* A new body of len bytes (len may be 0), one reference, charged to mem
 * under module (mem may be NULL: uncharged, for backends). The caller
 * fills bytes before sharing it. NULL when mem refuses or malloc fails. */
struct p2p_body *p2p_body_new(struct p2p_mem *mem, enum p2p_mem_module module,
                              size_t len);

/* p2p_body_new filled with a copy of src[0..len) (src may be NULL when
 * len is 0). */
struct p2p_body *p2p_body_copy(struct p2p_mem *mem, enum p2p_mem_module module,
                               const uint8_t *src, size_t len);

/* Takes one more reference, charged to mem under module (NULL mem:
 * uncharged). false when mem refuses (no reference taken). */
bool p2p_body_hold(struct p2p_body *b, struct p2p_mem *mem,
                   enum p2p_mem_module module);

/* Gives back one reference and its charge (mem and module as when it was
 * taken); the last one frees the body. NULL b is allowed. */
void p2p_body_release(struct p2p_body *b, struct p2p_mem *mem,
                      enum p2p_mem_module module);

/* The body's id: SHA-256 of its bytes, computed on the first call only. */
const struct p2p_artifact_id *p2p_body_id(struct p2p_body *b);

/* Whether the body's bytes hash to id (hashing them the first time). */
bool p2p_body_matches(struct p2p_body *b, const struct p2p_artifact_id *id);

#endif
