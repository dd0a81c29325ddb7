/* State manifests: what a state at a height is made of, for state sync
 * (docs/state-sync.md).
 *
 * A state is a list of chunks; each chunk has a size (1..chunk_bytes) and
 * the SHA-256 of its bytes. The manifest names the height, the largest
 * chunk size allowed, the total size, the chunk count and every chunk's
 * size and hash. Its root hash is the SHA-256 of its canonical encoding,
 * so one root hash names exactly one manifest, and the manifest names
 * exactly the bytes of every chunk.
 *
 * The encoding (version 1, every integer little-endian):
 *
 *   offset  bytes  field
 *        0      4  magic "p2sm"
 *        4      1  version = 1
 *        5      8  height
 *       13      4  chunk_bytes   1..P2P_STATE_CHUNK_BYTES_MAX
 *       17      8  total_bytes   = the sum of the chunk sizes
 *       25      4  chunks_count  0..P2P_STATE_CHUNKS_MAX
 *       29   36*n  per chunk: size (4, 1..chunk_bytes), SHA-256 (32)
 *
 * Every field is checked, the length must be exactly 29 + 36 * n and no
 * byte is optional or ignored, so a decoded manifest re-encodes to the same
 * bytes.
 *
 * Manifest chunks and the meta-manifest (the IC's chunk ids 2^31.. and 0):
 * a manifest's encoding is cut into manifest chunks of
 * P2P_STATE_MANIFEST_CHUNK_BYTES (the last one shorter), fetched like the
 * state's own chunks, so no answer carries a whole manifest of up to
 * 37.7 MB. The meta-manifest names them (version 1, little-endian):
 *
 *   offset  bytes  field
 *        0      4  magic "p2mm"
 *        4      1  version = 1
 *        5      4  manifest_bytes  29..P2P_STATE_MANIFEST_BYTES_MAX
 *        9   32*k  SHA-256 of each manifest chunk,
 *                  k = ceil(manifest_bytes / P2P_STATE_MANIFEST_CHUNK_BYTES)
 *
 * The root hash of a state is the SHA-256 of its meta-manifest's encoding
 * (canonical too): the root names the meta-manifest, which names every
 * manifest chunk, so each one is checked as it arrives, and the manifest
 * names every state chunk. */
#ifndef P2P_CORE_STATE_MANIFEST_H
#define P2P_CORE_STATE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "core/types.h"

#define P2P_STATE_MANIFEST_VERSION 1u
#define P2P_STATE_HASH_BYTES 32u
/* Chunks of one state: 2^20 chunks of 1 MiB is a 1 TiB state. */
#define P2P_STATE_CHUNKS_MAX (1u << 20)
/* The largest chunk: the IC's largest decompressed chunk (8 MiB). */
#define P2P_STATE_CHUNK_BYTES_MAX (8u << 20)
/* The IC's chunk size (1 MiB), for states built here. */
#define P2P_STATE_CHUNK_BYTES_DEFAULT (1u << 20)
#define P2P_STATE_MANIFEST_HEADER_BYTES 29u
#define P2P_STATE_MANIFEST_ENTRY_BYTES (4u + P2P_STATE_HASH_BYTES)
/* The longest valid encoding: header + P2P_STATE_CHUNKS_MAX entries. */
#define P2P_STATE_MANIFEST_BYTES_MAX                                           \
    ((size_t)P2P_STATE_MANIFEST_HEADER_BYTES +                                 \
     (size_t)P2P_STATE_CHUNKS_MAX * P2P_STATE_MANIFEST_ENTRY_BYTES)
/* The manifest chunks: a manifest's encoding cut into pieces of this size
 * (the IC's chunk size), at most P2P_STATE_MANIFEST_CHUNKS_MAX (37) of
 * them. */
#define P2P_STATE_MANIFEST_CHUNK_BYTES (1u << 20)
#define P2P_STATE_MANIFEST_CHUNKS_MAX                                          \
    ((uint32_t)((P2P_STATE_MANIFEST_BYTES_MAX +                                \
                 P2P_STATE_MANIFEST_CHUNK_BYTES - 1) /                         \
                P2P_STATE_MANIFEST_CHUNK_BYTES))
#define P2P_STATE_META_VERSION 1u
#define P2P_STATE_META_HEADER_BYTES 9u
/* The longest meta-manifest: P2P_STATE_MANIFEST_CHUNKS_MAX hashes. */
#define P2P_STATE_META_BYTES_MAX                                               \
    ((size_t)P2P_STATE_META_HEADER_BYTES +                                     \
     (size_t)P2P_STATE_MANIFEST_CHUNKS_MAX * P2P_STATE_HASH_BYTES)
/* "No chunk" in chunk index arrays. */
#define P2P_STATE_CHUNK_NONE UINT32_MAX

/* A SHA-256 digest: of a chunk's bytes, or of a manifest's encoding. */
struct p2p_state_hash {
    uint8_t b[P2P_STATE_HASH_BYTES];
};

/* True when a and b are the same digest. */
static inline bool p2p_state_hash_eq(const struct p2p_state_hash *a,
                                     const struct p2p_state_hash *b)
{
    return memcmp(a->b, b->b, P2P_STATE_HASH_BYTES) == 0;
}

/* Computes the SHA-256 of bytes[0..len). */
void p2p_state_hash_of(const uint8_t *bytes, size_t len,
                       struct p2p_state_hash *out);

/* One chunk as the manifest names it. */
struct p2p_state_chunk {
    uint32_t size;              /* 1..chunk_bytes */
    struct p2p_state_hash hash; /* SHA-256 of the chunk's bytes */
};

/* A decoded or built manifest; owns its chunk table. */
struct p2p_state_manifest {
    struct p2p_mem *mem;        /* borrowed; NULL while empty */
    enum p2p_mem_module module; /* what `chunks` is charged to */
    uint64_t height;
    uint32_t chunk_bytes;           /* the largest chunk allowed */
    uint64_t total_bytes;           /* the sum of the chunk sizes */
    uint32_t chunks_count;          /* <= P2P_STATE_CHUNKS_MAX */
    struct p2p_state_chunk *chunks; /* owned; chunks_count entries */
};

/* One chunk's contents, for building a manifest (borrowed). */
struct p2p_state_chunk_bytes {
    const uint8_t *bytes;
    size_t len;
};

/* Makes *m empty (no chunks, nothing owned); fini is then a no-op. */
void p2p_state_manifest_init(struct p2p_state_manifest *m);

/* Frees the chunk table and leaves *m empty. */
void p2p_state_manifest_fini(struct p2p_state_manifest *m);

/* Builds the manifest of a state made of chunks[0..chunks_count) (read,
 * hashed, not kept) into *m, which must not hold a manifest. The table is
 * charged to (mem, module). Errors, leaving *m empty: P2P_ERR_INVALID_ARG
 * (chunk_bytes 0, a chunk of 0 bytes, of more than chunk_bytes, or with
 * NULL bytes), P2P_ERR_OVERSIZE (chunk_bytes above
 * P2P_STATE_CHUNK_BYTES_MAX, chunks_count above P2P_STATE_CHUNKS_MAX),
 * P2P_ERR_NOMEM. */
int p2p_state_manifest_build(struct p2p_state_manifest *m, struct p2p_mem *mem,
                             enum p2p_mem_module module, uint64_t height,
                             uint32_t chunk_bytes,
                             const struct p2p_state_chunk_bytes *chunks,
                             uint32_t chunks_count);

/* As p2p_state_manifest_build for the state state[0..len) cut into chunks
 * of chunk_bytes (the last one shorter); len 0 gives no chunks. Errors as
 * p2p_state_manifest_build (P2P_ERR_OVERSIZE when more than
 * P2P_STATE_CHUNKS_MAX chunks would be needed). */
int p2p_state_manifest_build_blob(struct p2p_state_manifest *m,
                                  struct p2p_mem *mem,
                                  enum p2p_mem_module module, uint64_t height,
                                  uint32_t chunk_bytes, const uint8_t *state,
                                  uint64_t len);

/* The length of m's encoding: 29 + 36 * chunks_count. */
size_t p2p_state_manifest_encoded_len(const struct p2p_state_manifest *m);

/* Writes m's encoding to out[0..encoded_len). Errors:
 * P2P_ERR_INVALID_ARG (out_len below p2p_state_manifest_encoded_len). */
int p2p_state_manifest_encode(const struct p2p_state_manifest *m, uint8_t *out,
                              size_t out_len);

/* Decodes untrusted bytes[0..len) into *m, which must not hold a manifest.
 * Every length is checked before anything is allocated; the only
 * allocation is the chunk table, of chunks_count entries, made after the
 * input was seen to be exactly as long as the header announces (so at
 * most about len bytes). Errors, leaving *m empty: P2P_ERR_OVERSIZE (len
 * above P2P_STATE_MANIFEST_BYTES_MAX, chunk_bytes above
 * P2P_STATE_CHUNK_BYTES_MAX, chunks_count above P2P_STATE_CHUNKS_MAX),
 * P2P_ERR_DECODE (short or long input, wrong magic or version,
 * chunk_bytes 0, a chunk size of 0 or above chunk_bytes, sizes that do
 * not add up to total_bytes), P2P_ERR_NOMEM. */
int p2p_state_manifest_decode(struct p2p_state_manifest *m, struct p2p_mem *mem,
                              enum p2p_mem_module module, const uint8_t *bytes,
                              size_t len);

/* Writes bytes [offset, offset + len) of m's encoding to out[0..len): a
 * manifest chunk without the whole encoding. Errors: P2P_ERR_INVALID_ARG
 * (the range is not inside the encoding). */
int p2p_state_manifest_encode_range(const struct p2p_state_manifest *m,
                                    size_t offset, uint8_t *out, size_t len);

/* The root hash: SHA-256 of the meta-manifest of m's encoding, hashed as
 * the encoding is produced (no allocation). */
void p2p_state_manifest_root(const struct p2p_state_manifest *m,
                             struct p2p_state_hash *out);

/* The root hash of the manifest whose encoding is bytes[0..len) (as
 * p2p_state_manifest_root of its decoding, without decoding it; any bytes
 * up to P2P_STATE_MANIFEST_BYTES_MAX). Errors: P2P_ERR_OVERSIZE. */
int p2p_state_manifest_root_of_encoding(const uint8_t *bytes, size_t len,
                                        struct p2p_state_hash *out);

/* A meta-manifest: the manifest chunks of one manifest's encoding. */
struct p2p_state_meta {
    uint32_t manifest_bytes; /* the encoding's length */
    uint32_t chunks_count;   /* 1..P2P_STATE_MANIFEST_CHUNKS_MAX */
    struct p2p_state_hash chunks[P2P_STATE_MANIFEST_CHUNKS_MAX];
};

/* The meta-manifest of m (its encoding hashed as it is produced, no
 * allocation). */
void p2p_state_meta_of(const struct p2p_state_manifest *m,
                       struct p2p_state_meta *out);

/* Manifest chunk k's size: P2P_STATE_MANIFEST_CHUNK_BYTES but for the
 * last. k < meta->chunks_count. */
uint32_t p2p_state_meta_chunk_size(const struct p2p_state_meta *meta,
                                   uint32_t k);

/* The length of meta's encoding: 9 + 32 * chunks_count. */
size_t p2p_state_meta_encoded_len(const struct p2p_state_meta *meta);

/* Writes meta's encoding to out[0..encoded_len). Errors:
 * P2P_ERR_INVALID_ARG (out_len below p2p_state_meta_encoded_len). */
int p2p_state_meta_encode(const struct p2p_state_meta *meta, uint8_t *out,
                          size_t out_len);

/* Decodes untrusted bytes[0..len) into *meta (caller storage; nothing is
 * allocated). Errors, *meta then undefined: P2P_ERR_OVERSIZE (len above
 * P2P_STATE_META_BYTES_MAX, manifest_bytes above
 * P2P_STATE_MANIFEST_BYTES_MAX), P2P_ERR_DECODE (short or long input for
 * its manifest_bytes, wrong magic or version, manifest_bytes below a
 * manifest header). */
int p2p_state_meta_decode(struct p2p_state_meta *meta, const uint8_t *bytes,
                          size_t len);

/* The root hash meta names: SHA-256 of its encoding. */
void p2p_state_meta_root(const struct p2p_state_meta *meta,
                         struct p2p_state_hash *out);

/* Checks m against the root hash a peer advertised. Errors:
 * P2P_ERR_ID_MISMATCH. */
int p2p_state_manifest_verify(const struct p2p_state_manifest *m,
                              const struct p2p_state_hash *root);

/* Checks bytes[0..len) (untrusted) as chunk `index` of m. Errors:
 * P2P_ERR_INVALID_ARG (index >= chunks_count), P2P_ERR_ID_MISMATCH (wrong
 * length or hash). */
int p2p_state_manifest_verify_chunk(const struct p2p_state_manifest *m,
                                    uint32_t index, const uint8_t *bytes,
                                    size_t len);

/* Which chunks of `next` already exist in `prev`: for every chunk i of
 * next, from_prev[i] (caller storage of next->chunks_count entries) is the
 * lowest index j of a chunk of prev with the same size and hash, or
 * P2P_STATE_CHUNK_NONE. Chunks match by content, not by position, so a
 * chunk that moved is found too. Uses a temporary index of prev's chunks
 * (40 bytes per chunk) charged to (mem, module). Returns how many chunks
 * of next were found (>= 0), or P2P_ERR_NOMEM (from_prev then undefined).
 * Whether the caller still holds chunk j of prev is its own business. */
int p2p_state_manifest_diff(const struct p2p_state_manifest *prev,
                            const struct p2p_state_manifest *next,
                            struct p2p_mem *mem, enum p2p_mem_module module,
                            uint32_t *from_prev);

#endif
