/* State checkpoints on disk (docs/replica.md, "Data directory"): the
 * replica's state store, core's p2p_state_store_ops (core/state_store.h).
 *
 *   DATA/state/<height>-<root hex>/manifest, chunk-<i>   a checkpoint
 *   DATA/state/sync/<root hex>/manifest, chunk-<i>       a sync under way
 *
 * A checkpoint folder is complete when it holds its manifest (whose root
 * hash, the SHA-256 of its meta-manifest, core/state_manifest.h, is the
 * root in the folder's name) and every chunk file of the size the
 * manifest names: chunks are written and fsynced first, the manifest last
 * and atomically, so a crash leaves either a complete checkpoint or a
 * folder without a manifest, removed at open. A checkpoint is removed
 * manifest first for the same reason. Every checkpoint folder is
 * self-contained: chunks shared with an older checkpoint are hard links
 * (or copies) of its files, never references.
 *
 * A sync folder gets the manifest of the state being synced when its first
 * chunk is put, then each chunk atomically as it arrives; when core calls
 * complete, the chunks the store already held elsewhere are linked in and
 * the folder is renamed to its checkpoint name, one atomic step.
 *
 * Rule for sync folders (what is resumed, what is cleaned): at open, a
 * sync folder without a valid manifest (its root hash = the root in its
 * name),
 * or whose height is not above the newest complete checkpoint's, or whose
 * root is already a checkpoint, is removed; of the rest, the
 * PROD_DISK_STATE_SYNCS_MAX highest (by height, then name) are kept and
 * resumed by has_chunk. At run time, starting a new sync folder removes
 * the lowest other one when there would be more than
 * PROD_DISK_STATE_SYNCS_MAX, and complete removes every other sync folder
 * whose height is not above the completed one.
 *
 * Chunks served (chunk) and sync chunks found (has_chunk) are read and
 * checked against the manifest's size and hash, so a file damaged on disk
 * is never served or reused; chunks shared with a kept checkpoint are
 * found through an in-memory index of the kept manifests' chunk hashes.
 *
 * One process owns a data directory; the store is not thread-safe. */
#ifndef P2P_PROD_DISK_STATE_H
#define P2P_PROD_DISK_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/state_manifest.h"
#include "core/state_store.h"

/* The most checkpoints kept (keep_heights of prod_disk_state_open). */
#define PROD_DISK_STATE_KEEP_MAX 64u
/* Sync folders kept for resumption (see the rule above). */
#define PROD_DISK_STATE_SYNCS_MAX 2u
/* The longest error message kept by prod_disk_state_error. */
#define PROD_DISK_STATE_ERROR_MAX 512

struct
    prod_disk_state; /* DATA/state/<height>-<roothex>/{manifest,chunk-<i>}, DATA/state/sync/<roothex>/chunk-<i> */

/* What the store did, for logs and /metrics. */
struct prod_disk_state_stats {
    uint64_t checkpoints_made; /* prod_disk_state_checkpoint successes */
    uint64_t syncs_completed;  /* complete calls that became checkpoints */
    uint64_t complete_errors;  /* complete calls refused (I/O, a chunk
                                      missing, a root that is not m's) */
    uint64_t chunks_linked;    /* chunk files shared with an older
                                      checkpoint (hard link or copy) */
    uint64_t chunks_corrupt;   /* files whose bytes did not match the
                                      manifest (not served, not reused) */
    uint64_t dropped_at_open;  /* incomplete, damaged or stray folders
                                      and files removed (at open, or strays
                                      when a sync completes) */
    uint64_t pruned;           /* checkpoints removed by keep_heights */
};

/* Told of every folder or file the store removes as damaged, incomplete
 * or stray (at open, and strays found when a sync completes): its path
 * and why, in words ("checkpoint 7 dropped: ...; removed"). Both borrowed
 * for the call. Every such removal is also counted in dropped_at_open. */
typedef void (*prod_disk_state_drop_fn)(void *ctx, const char *path,
                                        const char *why);

/* Opens (creating when missing) DATA/state under data_dir, loads every
 * complete checkpoint (removing incomplete ones and strays; entries named
 * like checkpoints or syncs that are not folders, symbolic links
 * included, are removed without being followed), keeps the keep_heights
 * highest (1..PROD_DISK_STATE_KEEP_MAX; e.g. 4) and applies the sync
 * folder rule. on_drop (may be NULL; drop_ctx is its ctx) hears of each
 * removal. *out is owned by the caller (prod_disk_state_close). Errors,
 * with a message in err: P2P_ERR_INVALID_ARG (keep_heights, data_dir too
 * long), P2P_ERR_WRITE / P2P_ERR_READ (the folders cannot be made or
 * listed), P2P_ERR_NOMEM. */
int prod_disk_state_open(const char *data_dir,
                         uint32_t keep_heights /* e.g. 4 */,
                         prod_disk_state_drop_fn on_drop, void *drop_ctx,
                         struct prod_disk_state **out, char *err,
                         size_t err_len);

/* Frees s (NULL is allowed); nothing is pending on disk. */
void prod_disk_state_close(struct prod_disk_state *s);

/* The store's calls for p2p_node_set_state_store; ctx = the
 * prod_disk_state. Static; see core/state_store.h and the file comment. */
const struct p2p_state_store_ops *prod_disk_state_ops(
    void); /* ctx = the prod_disk_state */

/* Makes a new checkpoint at latest height + 1 (1 when none) from
 * bytes[0..len) (borrowed) cut into chunk_bytes chunks
 * (p2p_state_manifest_build_blob): writes the chunks (linking those an
 * older checkpoint holds), then the manifest last, then prunes checkpoints
 * beyond keep_heights (oldest first). Durable when it returns 0; *height
 * and *root name it and it is the latest. Errors (nothing is left on
 * disk): P2P_ERR_INVALID_ARG (chunk_bytes 0), P2P_ERR_OVERSIZE
 * (chunk_bytes above P2P_STATE_CHUNK_BYTES_MAX, more than
 * P2P_STATE_CHUNKS_MAX chunks), P2P_ERR_WRITE (text via
 * prod_disk_state_error), P2P_ERR_NOMEM. */
int prod_disk_state_checkpoint(struct prod_disk_state *s, const uint8_t *bytes,
                               size_t len, uint32_t chunk_bytes,
                               uint64_t *height, struct p2p_state_hash *root);

/* The newest complete checkpoint: height (0 when none), root (zeroes when
 * none), chunks, bytes. Any out pointer may be NULL. */
void prod_disk_state_latest_info(const struct prod_disk_state *s,
                                 uint64_t *height, struct p2p_state_hash *root,
                                 uint32_t *chunks, uint64_t *bytes);

/* The counters (see struct prod_disk_state_stats). */
void prod_disk_state_get_stats(const struct prod_disk_state *s,
                               struct prod_disk_state_stats *out);

/* The message of the last failure ("" when none); borrowed. */
const char *prod_disk_state_error(const struct prod_disk_state *s);

/* The store's own allocator (manifests, the hash index, the chunk buffer):
 * its live bytes, for /metrics. Borrowed. */
const struct p2p_mem *prod_disk_state_mem(const struct prod_disk_state *s);

#endif
