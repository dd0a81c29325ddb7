/* Internal: the encoding of state-sync chunk answers (docs/state-sync.md,
 * "Compression"), a leaf of the state sync manager.
 *
 * The IC sends every chunk as zstd(protobuf). Here a 200 answer on
 * /state-sync/chunk is one encoding byte and a payload:
 *
 *   0x00  raw:  the chunk's bytes
 *   0x01  zstd: one zstd frame that declares its content size
 *
 * The server compresses at a fast level (P2P_STATE_CODEC_LEVEL) and sends
 * the frame only when it saves at least 1/P2P_STATE_CODEC_SAVING_DIV of
 * the chunk; otherwise (random bytes, or a chunk too short to gain) it
 * sends the bytes raw, so the receiver pays no decompression for nothing.
 *
 * Untrusted frames are checked before anything is decompressed: the
 * frame's declared content size must be present, at most
 * P2P_STATE_CODEC_DECOMPRESSED_MAX (8 MiB, the IC's cap) and exactly the
 * size the manifest names, and the input must be that one frame. The
 * frame is then decompressed into the caller's buffer of exactly that
 * size, so a frame whose blocks decode to more than it declared fails
 * there (a compression bomb cannot grow anything).
 *
 * One compression context and one decompression context per node, made
 * on first use through the node's p2p_mem (charged to the module given at
 * init) and kept until fini; no global state. Cross-file internal names
 * carry p2p__state_sync_codec_. */
#ifndef P2P_CORE_STATE_SYNC_CODEC_H
#define P2P_CORE_STATE_SYNC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/state_manifest.h"

/* The encoding byte that starts every 200 answer on /state-sync/chunk. */
enum p2p_state_encoding {
    P2P_STATE_ENCODING_RAW = 0,
    P2P_STATE_ENCODING_ZSTD = 1,
};

/* The largest chunk a frame may declare: the IC's 8 MiB. */
#define P2P_STATE_CODEC_DECOMPRESSED_MAX P2P_STATE_CHUNK_BYTES_MAX
/* zstd's level 1: about 3 GB/s on random bytes (which it gives up on
 * quickly) and 5 GB/s on half-zero pages on one core of the build
 * machine, far above the link. */
#define P2P_STATE_CODEC_LEVEL 1
/* A frame is sent only when it is at most len - len / 32 bytes. */
#define P2P_STATE_CODEC_SAVING_DIV 32u
/* Chunks shorter than this are always sent raw. */
#define P2P_STATE_CODEC_MIN_BYTES 64u
/* The longest answer body: the encoding byte and the largest chunk. */
#define P2P_STATE_CODEC_BODY_BYTES_MAX (1u + P2P_STATE_CHUNK_BYTES_MAX)

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

/* One node's codec (caller storage; fields private to the .c). */
struct p2p_state_codec {
    struct p2p_mem *mem; /* borrowed */
    enum p2p_mem_module module;
    struct ZSTD_CCtx_s *cctx; /* owned; NULL until the first compression */
    struct ZSTD_DCtx_s *dctx; /* owned; NULL until the first frame */
    uint8_t *out;             /* owned: the last answer body built */
    size_t out_cap;           /* <= P2P_STATE_CODEC_BODY_BYTES_MAX */
};

/* An empty codec allocating from mem (borrowed, outlives it) under
 * module. Allocates nothing yet. */
void p2p__state_sync_codec_init(struct p2p_state_codec *c, struct p2p_mem *mem,
                                enum p2p_mem_module module);
/* Frees the contexts and the answer buffer. */
void p2p__state_sync_codec_fini(struct p2p_state_codec *c);

/* The answer body for chunk bytes src[0..len) (borrowed for the call; len
 * 1..P2P_STATE_CHUNK_BYTES_MAX): the encoding byte and a zstd frame when
 * it saves enough, else the encoding byte and the bytes. *body (borrowed
 * from the codec until its next call) and *body_len; *compressed says
 * which. When the compressor cannot be had (no memory) the answer is raw.
 * Errors: P2P_ERR_NOMEM (not even the buffer for a raw answer),
 * P2P_ERR_INVALID_ARG (len 0 or above the limit). */
int p2p__state_sync_codec_encode(struct p2p_state_codec *c, const uint8_t *src,
                                 size_t len, const uint8_t **body,
                                 size_t *body_len, bool *compressed);

/* What p2p__state_sync_codec_decode found. */
struct p2p_state_decoded {
    const uint8_t *bytes; /* borrowed: inside the body (raw) or out */
    size_t len;
    bool compressed;   /* the body was a zstd frame */
    size_t wire_bytes; /* the payload's length as it arrived */
};

/* Decodes an untrusted answer body[0..body_len) expected to hold a chunk
 * of exactly expect_len bytes (1..P2P_STATE_CODEC_DECOMPRESSED_MAX). A
 * raw payload is returned in place (its length is the caller's to check:
 * the chunk's hash does); a frame is checked as the file comment says and
 * decompressed into out[0..out_cap), which must hold expect_len bytes.
 * Allocates only the decompression context, once, after every check on
 * the frame's header passed. Errors: P2P_ERR_DECODE (empty body, unknown
 * encoding byte, not one well-formed frame, no declared content size, a
 * declared size other than expect_len, output other than the declared
 * size), P2P_ERR_OVERSIZE (a declared size above
 * P2P_STATE_CODEC_DECOMPRESSED_MAX), P2P_ERR_NOMEM (no decompression
 * context: this node's fault, not the peer's), P2P_ERR_INVALID_ARG
 * (expect_len 0 or above the cap, or out_cap below it). */
int p2p__state_sync_codec_decode(struct p2p_state_codec *c, const uint8_t *body,
                                 size_t body_len, size_t expect_len,
                                 uint8_t *out, size_t out_cap,
                                 struct p2p_state_decoded *d);

#endif
