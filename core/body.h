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
 * body is shared within one thread (one simulator, one replica loop).
 *
 * Bytes elsewhere: a backend may keep a body's bytes outside the heap (the
 * replica keeps large artifacts in their file, mapped) by wrapping them
 * (p2p_body_wrap) with a release hook; core reads such a body like any
 * other and never learns where its bytes are. A body may also be written
 * after it is made (struct p2p_body_store): its bytes are then NULL until
 * the store seals it, and nobody but its writer holds it before that. */
#ifndef P2P_CORE_BODY_H
#define P2P_CORE_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/types.h"

struct p2p_body;

/* Who keeps the bytes of a wrapped body. */
struct p2p_body_owner {
    /* Called once, with the last reference: gives the bytes back and frees
     * b (which the owner allocated, see p2p_body_wrap). */
    void (*release)(struct p2p_body *b);
};

struct p2p_body {
    uint32_t refs;
    bool hashed;               /* id below is SHA-256(bytes) */
    struct p2p_artifact_id id; /* valid when hashed */
    size_t len;
    /* len bytes, never changed after the maker filled them (right after
     * the header for p2p_body_new; NULL only while a store writes them) */
    uint8_t *bytes;
    const struct p2p_body_owner *owner; /* NULL: one malloc block */
    void *owner_ctx;                    /* the owner's, for its release */
};

/* Where a backend assembles large bodies as they arrive (the replica: a
 * file in its data directory), instead of in a reader's buffer. A stream
 * reader that learns it is receiving an artifact body of at least
 * bytes_min bytes opens one here and writes every byte of it in order, so
 * the body is copied once from the wire (core/body_sink.h). The store's
 * calls are the backend's I/O: core only calls them. */
struct p2p_body_store {
    size_t bytes_min; /* smaller bodies stay in the reader's buffer */
    void *ctx;        /* the backend's, passed to every call */
    /* The store hashes what it is written (off the caller's thread, say):
     * its seal sets b->id to SHA-256 of the bytes and b->hashed. When
     * false the reader hashes the bytes as it writes them. */
    bool hashes;
    /* A new body of len bytes, not yet written (bytes NULL), made with
     * p2p_body_wrap with one uncharged reference; its release must also
     * serve a body never sealed. NULL when the store cannot take it: the
     * reader then buffers it in memory as if there were no store. */
    struct p2p_body *(*open)(void *ctx, size_t len);
    /* Appends data[0..len) (borrowed) to what b holds. 0, or P2P_ERR_WRITE
     * (the stream fails; the peer is not blamed). */
    int (*write)(void *ctx, struct p2p_body *b, const uint8_t *data,
                 size_t len);
    /* All b->len bytes are written: makes b->bytes readable. 0, or
     * P2P_ERR_WRITE. */
    int (*seal)(void *ctx, struct p2p_body *b);
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

/* Initialises *b, which the owner allocated, as a body of len bytes at
 * bytes (NULL until written, see struct p2p_body_store) with one
 * reference charged to mem under module (mem may be NULL). The owner's
 * release gets b back with the last reference. false when mem refuses
 * (then b is untouched and still the caller's). */
bool p2p_body_wrap(struct p2p_body *b, struct p2p_mem *mem,
                   enum p2p_mem_module module, uint8_t *bytes, size_t len,
                   const struct p2p_body_owner *owner, void *owner_ctx);

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
