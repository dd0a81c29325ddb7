/* Large artifact bodies kept in their files (docs/replica.md, "Bulk
 * path"): a fetched body of at least PROD_DISK_BODY_BYTES_MIN bytes is
 * written, as it arrives, into a temporary file of DATA/pool (core's body
 * store, struct p2p_body_store), written and hashed by the store's own
 * thread off the event loop, and then read through a read-only shared
 * mapping of that file. Accepting the artifact makes the file durable and
 * renames it to its pool name (prod_disk_body_persist): its bytes are
 * written once, never copied into the heap, and served to peers straight
 * from the mapping. Pool files of that size are mapped the same way when
 * the replica starts.
 *
 * A crash leaves at most "*.tmp" files behind, which the pool's load
 * deletes (prod/disk_pool.h). Owns its open temporary files and mappings;
 * single-threaded, like the replica's loop. */
#ifndef P2P_PROD_DISK_BODY_H
#define P2P_PROD_DISK_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/body.h"

/* Bodies of at least this many bytes live in files; smaller ones stay on
 * the heap (a page-granular mapping and a file per ingress message would
 * cost more than they save). */
#define PROD_DISK_BODY_BYTES_MIN ((size_t)1 << 20)
/* Bytes of a body gathered in memory before one write to its file: one
 * system call per this many bytes instead of one per packet. */
#define PROD_DISK_BODY_STAGE_BYTES ((size_t)256 << 10)
/* Spare stages the store keeps for its writer thread (which writes and
 * hashes full stages while the loop fills the next): its memory is this
 * many stages plus one per body being written. */
#define PROD_DISK_BODY_STAGES 8u

struct prod_disk_body_store;

/* The store of dir (DATA/pool, which exists). Its writer thread starts
 * with the first body (when it cannot start, the store declines every
 * body: they are buffered in memory). *out is the caller's (prod_disk_body_store_close, after
 * every body it made is released: it joins the thread).
 * Errors: P2P_ERR_INVALID_ARG (dir too long), P2P_ERR_NOMEM. */
int prod_disk_body_store_open(const char *dir,
                              struct prod_disk_body_store **out);
void prod_disk_body_store_close(struct prod_disk_body_store *s);

/* The core-facing store (borrowed from s, valid until close). */
const struct p2p_body_store *prod_disk_body_store_ops(
    struct prod_disk_body_store *s);

/* A body of the regular file at path (len bytes, as the caller's lstat
 * said), mapped read-only: one uncharged reference, its id not yet
 * known. Errors: P2P_ERR_READ (open or map failed, or the file is not len
 * bytes now), with the errno text in err. */
int prod_disk_body_map(const char *path, size_t len, struct p2p_body **out,
                       char *err, size_t err_len);

/* Whether b is a body of this store still in its temporary file. */
bool prod_disk_body_is_temporary(const struct p2p_body *b);

/* Makes a temporary body (prod_disk_body_is_temporary) durable as path:
 * fsyncs its file, renames it to path and fsyncs the folder. The body
 * stays mapped and usable either way. Errors: P2P_ERR_STATE (not a
 * temporary body), P2P_ERR_WRITE (with the errno text in err; the
 * temporary file is then still in place, removed with the body). */
int prod_disk_body_persist(struct p2p_body *b, const char *path, char *err,
                           size_t err_len);

/* Counters for /metrics and tests. */
struct prod_disk_body_stats {
    uint64_t sealed; /* of those, every byte written and mapped */
    uint64_t failed; /* writes or maps that failed */
    uint64_t live;   /* bodies of the store not yet released */
};
void prod_disk_body_store_stats(const struct prod_disk_body_store *s,
                                struct prod_disk_body_stats *out);

#endif
