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

#include "core/types.h"

/* The longest error message kept by prod_disk_pool_error. */
#define PROD_DISK_POOL_ERROR_MAX 512
/* Files prod_disk_pool_load lists in one walk (a bound on its name table,
 * PROD_DURABLE_NAME_MAX bytes a name): far above any pool_artifacts
 * limit. */
#define PROD_DISK_POOL_FILES_MAX (1u << 24)

struct prod_disk_pool;  /* DATA/pool/<64hex>.<push|advert> */

/* Opens (creating when missing) DATA/pool under data_dir. Artifacts above
 * artifact_bytes_max are refused by put and skipped by load. *out is
 * owned by the caller (prod_disk_pool_close). Errors, with a message in
 * err: P2P_ERR_INVALID_ARG (data_dir too long, artifact_bytes_max 0),
 * P2P_ERR_WRITE (the folder cannot be made), P2P_ERR_NOMEM. */
int prod_disk_pool_open(const char *data_dir, uint64_t artifact_bytes_max,
                        struct prod_disk_pool **out, char *err,
                        size_t err_len);

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
                              enum p2p_artifact_kind kind,
                              const uint8_t *body, size_t len);

/* Removes artifact id (of whichever kind), durably. Errors:
 * P2P_ERR_NOT_FOUND, P2P_ERR_WRITE. */
int prod_disk_pool_remove(struct prod_disk_pool *p,
                          const struct p2p_artifact_id *id);

/* Calls fn for every stored artifact whose bytes hash to its file name
 * (body borrowed for the call); others — torn or corrupt, leftover *.tmp,
 * a second file of an id already seen (a crash during a put that changed
 * the kind: "<id>.advert" sorts first and wins) — are removed and counted
 * in *dropped (may be NULL). Files above artifact_bytes_max are skipped
 * and counted but left in place (a lower limit in the config must not
 * destroy data). Names that are none of ours are ignored. The walk is in
 * file-name order so it is deterministic. fn returning non-zero stops
 * the walk and load returns that value; else 0, or P2P_ERR_READ (the
 * folder cannot be listed), P2P_ERR_LIMIT (more than
 * PROD_DISK_POOL_FILES_MAX names), P2P_ERR_NOMEM. */
int prod_disk_pool_load(struct prod_disk_pool *p,
                        int (*fn)(void *ctx, const struct p2p_artifact_id *id,
                                  enum p2p_artifact_kind kind,
                                  const uint8_t *body, size_t len),
                        void *ctx, uint32_t *dropped);

/* The message of the last failed call ("" when none); borrowed. */
const char *prod_disk_pool_error(const struct prod_disk_pool *p);

#endif
