/* The validated pool on disk (docs/replica.md, "Data directory"): one file
 * per artifact, DATA/pool/<64 hex id>.<push|advert>, written atomically
 * and durably (prod/durable.h) so an artifact acknowledged to a client
 * survives a SIGKILL. At start the replica walks the folder and inserts
 * what it finds into core's validated pool.
 *
 * One process owns a data directory; the pool is not safe to share. */
#ifndef P2P_PROD_DISK_POOL_H
#define P2P_PROD_DISK_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "core/body.h"
#include "core/types.h"

/* The longest error message kept by prod_disk_pool_error. */
#define PROD_DISK_POOL_ERROR_MAX 512
/* Files prod_disk_pool_load lists in one walk (a bound on its name table,
 * PROD_DURABLE_NAME_MAX bytes a name): far above any pool_artifacts
 * limit. */
#define PROD_DISK_POOL_FILES_MAX (1u << 24)

struct prod_disk_pool; /* DATA/pool/<64hex>.<push|advert> */

/* Opens (creating when missing) DATA/pool under data_dir. Artifacts above
 * artifact_bytes_max are refused by put and quarantined by load. *out is
 * owned by the caller (prod_disk_pool_close). Errors, with a message in
 * err: P2P_ERR_INVALID_ARG (data_dir too long, artifact_bytes_max 0),
 * P2P_ERR_WRITE (the folder cannot be made), P2P_ERR_NOMEM. */
int prod_disk_pool_open(const char *data_dir, uint64_t artifact_bytes_max,
                        struct prod_disk_pool **out, char *err, size_t err_len);

/* Frees p (NULL is allowed). Nothing is pending: every put is durable. */
void prod_disk_pool_close(struct prod_disk_pool *p);

/* Stores body[0..len) (borrowed) as artifact id of kind, durable before it
 * returns 0. Replaces a file of the same id (of either kind: the other
 * kind's file is removed). Errors: P2P_ERR_INVALID_ARG (bad kind),
 * P2P_ERR_OVERSIZE (len above artifact_bytes_max), P2P_ERR_ID_MISMATCH
 * (body does not hash to id: it would be dropped at the next load),
 * P2P_ERR_WRITE on I/O failure, with errno text via prod_disk_pool_error;
 * the stored set is then unchanged. */
int prod_disk_pool_put(struct prod_disk_pool *p,
                       const struct p2p_artifact_id *id,
                       enum p2p_artifact_kind kind, const uint8_t *body,
                       size_t len);

/* As prod_disk_pool_put, for a body the caller has just hashed to id
 * (core verified it, or the id was computed from it): skips the second
 * SHA-256, a sixth of a receiver's time on bulk transfers. A wrong id
 * would still be caught (and the file dropped) at the next load. */
int prod_disk_pool_put_hashed(struct prod_disk_pool *p,
                              const struct p2p_artifact_id *id,
                              enum p2p_artifact_kind kind, const uint8_t *body,
                              size_t len);

/* As prod_disk_pool_put_hashed, for a shared body: one that is still in
 * its temporary file (prod/disk_body.h: fetched into this pool's body
 * store) is made durable and renamed to its pool name, without writing
 * its bytes again; any other is written. */
int prod_disk_pool_put_body(struct prod_disk_pool *p,
                            const struct p2p_artifact_id *id,
                            enum p2p_artifact_kind kind, struct p2p_body *b);

/* The pool file of artifact id (just put, len bytes, hashing to id) as a
 * shared body mapped read-only (prod/disk_body.h): one uncharged
 * reference, its id set. For a large POSTed artifact, so that the pool
 * holds its file rather than a second copy on the heap. Errors:
 * P2P_ERR_READ (with the text in prod_disk_pool_error). */
int prod_disk_pool_map(struct prod_disk_pool *p,
                       const struct p2p_artifact_id *id,
                       enum p2p_artifact_kind kind, size_t len,
                       struct p2p_body **out);

/* The store large fetched bodies are written into as they arrive
 * (prod/disk_body.h), for p2p_node_set_body_store; borrowed from p, which
 * must outlive every body it made. */
const struct p2p_body_store *prod_disk_pool_body_store(
    struct prod_disk_pool *p);

/* Removes artifact id (of whichever kind), durably. Errors:
 * P2P_ERR_NOT_FOUND, P2P_ERR_WRITE. */
int prod_disk_pool_remove(struct prod_disk_pool *p,
                          const struct p2p_artifact_id *id);

/* Why prod_disk_pool_load set a pool entry aside (docs/replica.md, "Data
 * directory"). Leftovers and duplicates are by-products of the pool's own
 * crash-safe writes and are deleted; everything else is quarantined: moved,
 * never read again, into DATA/quarantine/pool/ (PROD_DISK_POOL_QUARANTINE). */
enum prod_disk_pool_drop_reason {
    PROD_DISK_POOL_DROP_LEFTOVER = 0, /* a *.tmp regular file: a put a crash
                                         interrupted; deleted */
    PROD_DISK_POOL_DROP_DUPLICATE,    /* a second regular file of an id
                                         already loaded (a crash inside a put
                                         that changed the kind); deleted */
    PROD_DISK_POOL_DROP_NOT_REGULAR,  /* an artifact's or a *.tmp name on a
                                         symbolic link (never followed), a
                                         folder, a FIFO...; quarantined */
    PROD_DISK_POOL_DROP_OVERSIZE,     /* above artifact_bytes_max;
                                         quarantined (a lower limit must not
                                         destroy data) */
    PROD_DISK_POOL_DROP_CORRUPT,      /* unreadable, or bytes that do not
                                         hash to the name (torn, damaged);
                                         quarantined */
    PROD_DISK_POOL_DROP_REASONS_COUNT
};

/* What became of a dropped entry. */
enum prod_disk_pool_fate {
    PROD_DISK_POOL_DELETED = 0,
    PROD_DISK_POOL_QUARANTINED,
    PROD_DISK_POOL_LEFT, /* could be neither (an I/O error, or every
                              quarantine name of it taken by a folder): in
                              place, dropped again at the next load */
};

/* The quarantine folder, under the data directory. */
#define PROD_DISK_POOL_QUARANTINE "quarantine/pool"
/* Names one entry may take in the quarantine: NAME, then NAME.1 ..
 * NAME.<max - 1>; when every one is taken, a file (or link) is deleted
 * instead and a folder left in place. Bounds the quarantine to this many
 * entries per pool name. */
#define PROD_DISK_POOL_QUARANTINE_COPIES_MAX 8u

/* One dropped entry, for the caller's log. Every pointer is borrowed for
 * the call. */
struct prod_disk_pool_drop {
    enum prod_disk_pool_drop_reason reason;
    enum prod_disk_pool_fate fate;
    const char *path;     /* where it was: DATA/pool/NAME */
    const char *moved_to; /* QUARANTINED: where it is now; else "" */
    const char *detail;   /* why, in words ("a symbolic link", sizes, the
                              errno text of a failed read or move) */
};

/* What the pool dropped since it was opened, for /metrics. */
struct prod_disk_pool_stats {
    uint64_t dropped[PROD_DISK_POOL_DROP_REASONS_COUNT]; /* by reason */
    uint64_t quarantined; /* entries moved into the quarantine */
    uint64_t left;        /* entries that could be neither deleted nor
                               moved (fate LEFT) */
    /* Fetched bodies written into pool files as they arrived
     * (prod/disk_body.h): whole and mapped, failed (a write or map error:
     * the fetch failed, the peer not blamed), and open now (temporary or
     * persisted bodies still held). */
    uint64_t bodies_in_files, body_file_failures, body_files_open;
};

/* The reason's name as a metrics label: "leftover", "duplicate",
 * "not_regular", "oversize", "corrupt" (static). */
const char *prod_disk_pool_drop_reason_name(enum prod_disk_pool_drop_reason r);

/* Calls fn for every stored artifact whose bytes hash to its file name
 * (body borrowed for the call: fn takes a reference to keep it; bodies of
 * at least PROD_DISK_BODY_BYTES_MIN bytes are the file, mapped, the rest
 * a copy in memory; either way already hashed); every other entry with a name of ours is
 * dropped (see enum prod_disk_pool_drop_reason: deleted or quarantined),
 * counted in *dropped (may be NULL) and in the stats, and reported to
 * on_drop (may be NULL) with its reason and path. "<id>.advert" sorts
 * before "<id>.push", so of two valid files of one id the advert wins.
 * Nothing is read through a symbolic link. Names that are none of ours
 * (neither "<64 hex>.<push|advert>" nor "*.tmp") are ignored and left. The
 * walk is in file-name order so it is deterministic. fn returning non-zero
 * stops the walk and load returns that value; else 0, or P2P_ERR_READ (the
 * folder cannot be listed), P2P_ERR_LIMIT (more than
 * PROD_DISK_POOL_FILES_MAX names), P2P_ERR_NOMEM. */
int prod_disk_pool_load(struct prod_disk_pool *p,
                        int (*fn)(void *ctx, const struct p2p_artifact_id *id,
                                  enum p2p_artifact_kind kind,
                                  struct p2p_body *body),
                        void (*on_drop)(void *ctx,
                                        const struct prod_disk_pool_drop *d),
                        void *ctx, uint32_t *dropped);

/* Heights (docs/replica.md, "Data directory"): the client's height of an
 * artifact is DATA/pool-heights/<64 hex id> (its decimal digits and a
 * newline), the purge height DATA/pool-heights/purge-height; both written
 * atomically and durably. An artifact without a file has no height. The
 * replica writes the purge height before it removes anything, so a crash
 * in the middle of a purge is finished by prod_disk_pool_purge_below at
 * the next start. */
#define PROD_DISK_POOL_HEIGHTS_DIR "pool-heights"
#define PROD_DISK_POOL_PURGE_HEIGHT_NAME "purge-height"

/* Stores id's height durably (0: removes its file). Errors: P2P_ERR_WRITE
 * (text in prod_disk_pool_error). */
int prod_disk_pool_put_height(struct prod_disk_pool *p,
                              const struct p2p_artifact_id *id,
                              uint64_t height);

/* id's height into *height: 0 when it has none. Errors: P2P_ERR_DECODE (a
 * file that is not a height), P2P_ERR_READ. */
int prod_disk_pool_get_height(struct prod_disk_pool *p,
                              const struct p2p_artifact_id *id,
                              uint64_t *height);

/* Stores the purge height durably. Errors: P2P_ERR_WRITE. */
int prod_disk_pool_set_purge_height(struct prod_disk_pool *p, uint64_t height);

/* The purge height stored (0 when none). Errors: P2P_ERR_DECODE,
 * P2P_ERR_READ. */
int prod_disk_pool_get_purge_height(struct prod_disk_pool *p, uint64_t *height);

/* Durably removes every artifact (either kind) whose height file says
 * 0 < height < `height`, then its height file; *removed (may be NULL)
 * counts the artifacts' files removed. Height files of artifacts already
 * gone are removed too; a height file that is not a height is left (and
 * counted nowhere). Errors: P2P_ERR_READ (the folder cannot be listed),
 * P2P_ERR_WRITE, P2P_ERR_NOMEM; what was removed before stays removed. */
int prod_disk_pool_purge_below(struct prod_disk_pool *p, uint64_t height,
                               uint64_t *removed);

/* The counters (see struct prod_disk_pool_stats). */
void prod_disk_pool_get_stats(const struct prod_disk_pool *p,
                              struct prod_disk_pool_stats *out);

/* The message of the last failed call ("" when none); borrowed. */
const char *prod_disk_pool_error(const struct prod_disk_pool *p);

#endif
