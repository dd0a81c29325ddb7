/* Crash-safe file primitives for the replica's data directory
 * (docs/replica.md, "Data directory").
 *
 * A file is replaced atomically: its bytes go to NAME.tmp, which is
 * fsynced, renamed over NAME, and NAME's folder is fsynced, so after a
 * SIGKILL or a power cut the folder holds either the old file or the new
 * one, never a torn mix. Removals and new folders are made durable the
 * same way (the parent folder is fsynced). Reads are bounded: a file
 * larger than the caller's cap is refused before anything is allocated.
 *
 * Every call returns 0 or a negative P2P_ERR_* and, on error, writes a
 * message naming the path and the errno text to err[0..err_len) (err may
 * be NULL). Errors: P2P_ERR_INVALID_ARG (a path longer than
 * PROD_DURABLE_PATH_MAX), P2P_ERR_NOT_FOUND (no such file), P2P_ERR_OVERSIZE
 * (a file above the cap), P2P_ERR_READ, P2P_ERR_WRITE (any other I/O
 * failure; a failed fsync leaves the file's contents unknown), and
 * P2P_ERR_NOMEM. */
#ifndef P2P_PROD_DURABLE_H
#define P2P_PROD_DURABLE_H

#include <stddef.h>
#include <stdint.h>

/* The longest path handled, NUL included (Linux's PATH_MAX). */
#define PROD_DURABLE_PATH_MAX 4096
/* How deep prod_durable_remove_tree descends (a bound on its recursion):
 * the data directory's folders go three levels deep (state/sync/<root>),
 * with room for a data directory nested in another. */
#define PROD_DURABLE_DEPTH_MAX 8

/* Replaces path with bytes[0..len) atomically and durably: writes
 * path.tmp, fsyncs it, renames it over path and fsyncs the folder. On
 * error path is unchanged and path.tmp is removed. */
int prod_durable_write(const char *path, const void *bytes, size_t len,
                       char *err, size_t err_len);

/* Creates path (replacing a file of that name: unlinked first, never
 * truncated in place, since it may be a hard link shared with another
 * folder), writes bytes[0..len) and fsyncs the file but not its folder.
 * For files of a folder that is committed later by one atomic step (a
 * checkpoint's chunks, committed by its manifest): the caller fsyncs the
 * folder once for all of them. A crash may leave the file torn. */
int prod_durable_write_direct(const char *path, const void *bytes, size_t len,
                              char *err, size_t err_len);

/* Reads the whole regular file path into a new malloc'd block *out (the
 * caller free()s it; at least 1 byte is allocated so *out is never NULL
 * on success) of *len bytes. P2P_ERR_OVERSIZE when the file is larger
 * than size_max (checked with fstat before allocating); P2P_ERR_READ when
 * it is not a regular file (a symbolic link is never followed, a FIFO
 * never waited on: nothing the data directory holds is either) or changes
 * size while read. */
int prod_durable_read(const char *path, size_t size_max, uint8_t **out,
                      size_t *len, char *err, size_t err_len);

/* As prod_durable_read into caller storage buf[0..buf_len):
 * P2P_ERR_OVERSIZE when the file is larger than buf_len. */
int prod_durable_read_into(const char *path, uint8_t *buf, size_t buf_len,
                           size_t *len, char *err, size_t err_len);

/* mkdir -p: creates path and its missing parents (mode 0755), fsyncing the
 * parent of each folder it creates. An existing folder is fine; an
 * existing non-folder is P2P_ERR_WRITE. */
int prod_durable_mkdirs(const char *path, char *err, size_t err_len);

/* Unlinks the file path and fsyncs its folder. P2P_ERR_NOT_FOUND when it
 * does not exist. */
int prod_durable_remove(const char *path, char *err, size_t err_len);

/* Removes the folder path and everything in it (at most
 * PROD_DURABLE_DEPTH_MAX levels), then fsyncs its parent. When first is
 * not NULL, the file path/first is removed first and the folder fsynced
 * before anything else goes: a folder whose completeness is marked by that
 * file (a checkpoint's manifest) is never seen complete with files
 * missing, whatever moment a crash strikes. A path that is a file is
 * unlinked. P2P_ERR_NOT_FOUND when path does not exist. */
int prod_durable_remove_tree(const char *path, const char *first, char *err,
                             size_t err_len);

/* Renames from to to (same file system) and fsyncs both parent folders
 * (once when they are the same). A folder replaces only an empty one. */
int prod_durable_rename(const char *from, const char *to, char *err,
                        size_t err_len);

/* fsyncs the folder dir, making its entries (new, renamed, removed files)
 * durable. */
int prod_durable_fsync_dir(const char *dir, char *err, size_t err_len);

/* The lock file of a data directory (docs/replica.md, "Data directory"). */
#define PROD_DURABLE_LOCK_NAME "lock"

/* Takes the data directory dir for this process: creates dir when missing,
 * opens (creating) dir/PROD_DURABLE_LOCK_NAME without following a symbolic
 * link, takes flock(LOCK_EX | LOCK_NB) on it and writes this process's pid
 * into it. The lock lasts until *fd is closed (prod_durable_unlock) or the
 * process ends, however it ends: the kernel drops it, so a lock is never
 * stale. It must be taken before anything else in dir is read or changed;
 * a process that cannot take it changes nothing in dir (the file exists
 * once a replica has run there: it is never removed). Errors:
 * P2P_ERR_STATE (another process holds it: err names dir and, when the
 * file says, the holder's pid), P2P_ERR_INVALID_ARG (path too long),
 * P2P_ERR_WRITE (dir or the file cannot be made or opened, or is not a
 * regular file). */
int prod_durable_lock(const char *dir, int *fd, char *err, size_t err_len);

/* Releases a lock of prod_durable_lock (fd < 0 is allowed: nothing). The
 * file stays: removing it would let two processes lock two files. */
void prod_durable_unlock(int fd);

/* A name slot of prod_durable_list, NUL included. */
#define PROD_DURABLE_NAME_MAX 96

/* Lists the entries of folder dir except "." and "..", sorted by strcmp
 * so that walks are deterministic, into a new malloc'd table *names (the
 * caller free()s it; NULL when *count is 0) of *count slots of
 * PROD_DURABLE_NAME_MAX bytes, slot i at *names + i *
 * PROD_DURABLE_NAME_MAX. Names of PROD_DURABLE_NAME_MAX bytes or more are
 * skipped (none of the data directory's names comes near). Errors:
 * P2P_ERR_NOT_FOUND, P2P_ERR_READ, P2P_ERR_LIMIT (more than names_max
 * names), P2P_ERR_NOMEM. */
int prod_durable_list(const char *dir, size_t names_max, char **names,
                      size_t *count, char *err, size_t err_len);

/* Formats a path (printf-style) into out[0..PROD_DURABLE_PATH_MAX).
 * P2P_ERR_INVALID_ARG when it does not fit (out then holds it cut
 * short). */
int prod_durable_path(char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes the parent folder of path ("." when it has no slash) to
 * out[0..out_len). P2P_ERR_INVALID_ARG when it does not fit. */
int prod_durable_parent(const char *path, char *out, size_t out_len);

#endif
