/* Crash-safe file primitives (prod/durable.h): atomic replacement through
 * NAME.tmp + fsync + rename + folder fsync, bounded reads, mkdir -p and
 * removals made durable. */
#include "prod/durable.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

/* Writes "<what> <path>: <errno text>" to err and returns code. */
static int fail(char *err, size_t err_len, int code, const char *what,
                const char *path, int errnum)
{
    if (err != NULL && err_len > 0)
        snprintf(err, err_len, "%s %s: %s", what, path, strerror(errnum));
    return code;
}

/* The code for a failed open/stat: NOT_FOUND for ENOENT. */
static int io_code(int errnum, int otherwise)
{
    return errnum == ENOENT ? P2P_ERR_NOT_FOUND : otherwise;
}

static int path_fits(const char *path, char *err, size_t err_len)
{
    if (strlen(path) + sizeof(".tmp") > PROD_DURABLE_PATH_MAX)
        return fail(err, err_len, P2P_ERR_INVALID_ARG, "path too long:", path,
                    ENAMETOOLONG);
    return 0;
}

int prod_durable_parent(const char *path, char *out, size_t out_len)
{
    const char *slash = strrchr(path, '/');
    const char *dir = ".";
    size_t n = 1;
    if (slash == path) {
        dir = "/";
    } else if (slash != NULL) {
        dir = path;
        n = (size_t)(slash - path);
    }
    if (n + 1 > out_len)
        return P2P_ERR_INVALID_ARG;
    memcpy(out, dir, n);
    out[n] = '\0';
    return 0;
}

int prod_durable_fsync_dir(const char *dir, char *err, size_t err_len)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, err_len, io_code(errno, P2P_ERR_WRITE), "open", dir,
                    errno);
    int rc = 0;
    if (fsync(fd) != 0)
        rc = fail(err, err_len, P2P_ERR_WRITE, "fsync", dir, errno);
    close(fd);
    return rc;
}

static int fsync_parent(const char *path, char *err, size_t err_len)
{
    char dir[PROD_DURABLE_PATH_MAX];
    if (prod_durable_parent(path, dir, sizeof(dir)) != 0)
        return fail(err, err_len, P2P_ERR_INVALID_ARG, "path too long:", path,
                    ENAMETOOLONG);
    return prod_durable_fsync_dir(dir, err, err_len);
}

/* Writes all of bytes[0..len) to fd (retrying short writes and EINTR). */
static int write_all(int fd, const uint8_t *bytes, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, bytes, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return P2P_ERR_WRITE;
        }
        bytes += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Creates path exclusively, writes and fsyncs it. */
static int create_synced(const char *path, const void *bytes, size_t len,
                         char *err, size_t err_len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(err, err_len, P2P_ERR_WRITE, "create", path, errno);
    int rc = 0;
    if (write_all(fd, bytes, len) != 0)
        rc = fail(err, err_len, P2P_ERR_WRITE, "write", path, errno);
    else if (fsync(fd) != 0)
        rc = fail(err, err_len, P2P_ERR_WRITE, "fsync", path, errno);
    if (close(fd) != 0 && rc == 0)
        rc = fail(err, err_len, P2P_ERR_WRITE, "close", path, errno);
    return rc;
}

int prod_durable_write_direct(const char *path, const void *bytes, size_t len,
                              char *err, size_t err_len)
{
    int rc = path_fits(path, err, err_len);
    if (rc != 0)
        return rc;
    if (unlink(path) != 0 && errno != ENOENT)
        return fail(err, err_len, P2P_ERR_WRITE, "unlink", path, errno);
    rc = create_synced(path, bytes, len, err, err_len);
    if (rc != 0)
        (void)unlink(path);
    return rc;
}

int prod_durable_write(const char *path, const void *bytes, size_t len,
                       char *err, size_t err_len)
{
    int rc = path_fits(path, err, err_len);
    if (rc != 0)
        return rc;
    char tmp[PROD_DURABLE_PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* A leftover from a crash (or a hard link) is replaced, not reused. */
    if (unlink(tmp) != 0 && errno != ENOENT)
        return fail(err, err_len, P2P_ERR_WRITE, "unlink", tmp, errno);
    rc = create_synced(tmp, bytes, len, err, err_len);
    if (rc != 0)
        goto fail_unlink_tmp;
    if (rename(tmp, path) != 0) {
        rc = fail(err, err_len, P2P_ERR_WRITE, "rename", tmp, errno);
        goto fail_unlink_tmp;
    }
    return fsync_parent(path, err, err_len);

fail_unlink_tmp:
    (void)unlink(tmp);
    return rc;
}

/* Reads exactly size bytes of fd into buf, then checks the file ended. */
static int read_exact(int fd, uint8_t *buf, size_t size, const char *path,
                      char *err, size_t err_len)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(err, err_len, P2P_ERR_READ, "read", path, errno);
        if (n == 0)
            return fail(err, err_len, P2P_ERR_READ, "read (file shrank)", path,
                        EIO);
        got += (size_t)n;
    }
    uint8_t extra;
    ssize_t n;
    do {
        n = read(fd, &extra, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 0)
        return fail(err, err_len, P2P_ERR_READ,
                    n < 0 ? "read" : "read (file grew)", path,
                    n < 0 ? errno : EIO);
    return 0;
}

/* Opens a regular file for reading and returns its size in *size. */
static int open_regular(const char *path, size_t *size, char *err,
                        size_t err_len)
{
    /* No symbolic link is followed and no FIFO waited on: the caller
     * learns it is not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ELOOP)
        return fail(err, err_len, P2P_ERR_READ, "not a regular file:", path,
                    ELOOP);
    if (fd < 0)
        return fail(err, err_len, io_code(errno, P2P_ERR_READ), "open", path,
                    errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, err_len, P2P_ERR_READ, "stat", path, e);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, err_len, P2P_ERR_READ, "not a regular file:", path,
                    EINVAL);
    }
    *size = (size_t)st.st_size;
    return fd;
}

int prod_durable_read(const char *path, size_t size_max, uint8_t **out,
                      size_t *len, char *err, size_t err_len)
{
    size_t size = 0;
    int fd = open_regular(path, &size, err, err_len);
    if (fd < 0)
        return fd;
    int rc;
    if (size > size_max) {
        rc = fail(err, err_len, P2P_ERR_OVERSIZE, "file above its limit:", path,
                  EFBIG);
        goto fail_close;
    }
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        rc = fail(err, err_len, P2P_ERR_NOMEM, "allocate for", path, ENOMEM);
        goto fail_close;
    }
    rc = read_exact(fd, buf, size, path, err, err_len);
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = size;
    return 0;

fail_close:
    close(fd);
    return rc;
}

int prod_durable_read_into(const char *path, uint8_t *buf, size_t buf_len,
                           size_t *len, char *err, size_t err_len)
{
    size_t size = 0;
    int fd = open_regular(path, &size, err, err_len);
    if (fd < 0)
        return fd;
    int rc = size > buf_len ? fail(err, err_len, P2P_ERR_OVERSIZE,
                                   "file above its limit:", path, EFBIG)
                            : read_exact(fd, buf, size, path, err, err_len);
    close(fd);
    if (rc == 0)
        *len = size;
    return rc;
}

/* Creates one folder; 1 when it was made, 0 when it existed. */
static int mkdir_one(const char *path, char *err, size_t err_len)
{
    if (mkdir(path, 0755) == 0)
        return 1;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return fail(err, err_len, P2P_ERR_WRITE, "mkdir", path, e);
}

int prod_durable_mkdirs(const char *path, char *err, size_t err_len)
{
    int rc = path_fits(path, err, err_len);
    if (rc != 0)
        return rc;
    char buf[PROD_DURABLE_PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    /* Every prefix ending before a slash, then the whole path. */
    for (size_t i = 1; i <= n; i++) {
        if (i < n && buf[i] != '/')
            continue;
        if (i < n && buf[i - 1] == '/')
            continue; /* "a//b" */
        char saved = buf[i];
        buf[i] = '\0';
        rc = mkdir_one(buf, err, err_len);
        if (rc == 1)
            rc = fsync_parent(buf, err, err_len);
        buf[i] = saved;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int prod_durable_remove(const char *path, char *err, size_t err_len)
{
    if (unlink(path) != 0)
        return fail(err, err_len, io_code(errno, P2P_ERR_WRITE), "unlink", path,
                    errno);
    return fsync_parent(path, err, err_len);
}

/* Removes path and what it holds; no fsync (the caller fsyncs). */
static int remove_rec(const char *path, unsigned depth, char *err,
                      size_t err_len)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return fail(err, err_len, io_code(errno, P2P_ERR_WRITE), "stat", path,
                    errno);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0)
            return fail(err, err_len, P2P_ERR_WRITE, "unlink", path, errno);
        return 0;
    }
    if (depth >= PROD_DURABLE_DEPTH_MAX)
        return fail(err, err_len, P2P_ERR_WRITE, "remove (too deep)", path,
                    ELOOP);
    DIR *d = opendir(path);
    if (d == NULL)
        return fail(err, err_len, P2P_ERR_WRITE, "opendir", path, errno);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[PROD_DURABLE_PATH_MAX];
        if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >=
            sizeof(child))
            rc = fail(err, err_len, P2P_ERR_WRITE, "path too long:", path,
                      ENAMETOOLONG);
        else
            rc = remove_rec(child, depth + 1, err, err_len);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0)
        rc = fail(err, err_len, P2P_ERR_WRITE, "rmdir", path, errno);
    return rc;
}

int prod_durable_remove_tree(const char *path, const char *first, char *err,
                             size_t err_len)
{
    int rc = path_fits(path, err, err_len);
    if (rc != 0)
        return rc;
    struct stat st;
    if (lstat(path, &st) != 0)
        return fail(err, err_len, io_code(errno, P2P_ERR_WRITE), "stat", path,
                    errno);
    if (first != NULL && S_ISDIR(st.st_mode)) {
        char marker[PROD_DURABLE_PATH_MAX];
        if ((size_t)snprintf(marker, sizeof(marker), "%s/%s", path, first) >=
            sizeof(marker))
            return fail(err, err_len, P2P_ERR_INVALID_ARG,
                        "path too long:", path, ENAMETOOLONG);
        rc = prod_durable_remove(marker, err, err_len);
        if (rc != 0 && rc != P2P_ERR_NOT_FOUND)
            return rc;
    }
    rc = remove_rec(path, 0, err, err_len);
    if (rc != 0)
        return rc;
    return fsync_parent(path, err, err_len);
}

int prod_durable_rename(const char *from, const char *to, char *err,
                        size_t err_len)
{
    if (rename(from, to) != 0)
        return fail(err, err_len, io_code(errno, P2P_ERR_WRITE), "rename", from,
                    errno);
    char a[PROD_DURABLE_PATH_MAX], b[PROD_DURABLE_PATH_MAX];
    if (prod_durable_parent(from, a, sizeof(a)) != 0 ||
        prod_durable_parent(to, b, sizeof(b)) != 0)
        return fail(err, err_len, P2P_ERR_INVALID_ARG, "path too long:", to,
                    ENAMETOOLONG);
    /* The new name first: once it is durable the data cannot be lost. */
    int rc = prod_durable_fsync_dir(b, err, err_len);
    if (rc == 0 && strcmp(a, b) != 0)
        rc = prod_durable_fsync_dir(a, err, err_len);
    return rc;
}

/* The pid written in an open lock file, or 0 when it holds none. */
static long lock_holder(int fd)
{
    char text[32];
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    char *end = NULL;
    long pid = strtol(text, &end, 10);
    return end != text && pid > 0 ? pid : 0;
}

/* Writes "<pid>\n" over the lock file's contents (informational: not
 * fsynced, a reader that finds none says so). */
static void lock_write_pid(int fd)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    /* Written first, then cut to length: a reader sees the old pid or
     * the new one, never an empty file. */
    if (pwrite(fd, text, (size_t)n, 0) == (ssize_t)n)
        (void)!ftruncate(fd, n);
}

int prod_durable_lock(const char *dir, int *fd, char *err, size_t err_len)
{
    char path[PROD_DURABLE_PATH_MAX];
    if (prod_durable_path(path, "%s/" PROD_DURABLE_LOCK_NAME, dir) != 0)
        return fail(err, err_len, P2P_ERR_INVALID_ARG, "path too long:", dir,
                    ENAMETOOLONG);
    int rc = prod_durable_mkdirs(dir, err, err_len);
    if (rc != 0)
        return rc;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                 0644);
    if (f < 0)
        return fail(err, err_len, P2P_ERR_WRITE, "open lock file", path, errno);
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fail(err, err_len, P2P_ERR_WRITE,
                  "lock file is not a regular "
                  "file:",
                  path, EINVAL);
        goto fail_close;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK) {
            rc = fail(err, err_len, P2P_ERR_WRITE, "flock", path, e);
            goto fail_close;
        }
        long pid = lock_holder(f);
        char who[48] = "another process";
        if (pid > 0)
            snprintf(who, sizeof(who), "another process (pid %ld)", pid);
        if (err != NULL && err_len > 0)
            snprintf(err, err_len,
                     "data directory %s is in use: %s holds its lock %s; "
                     "one replica per data directory",
                     dir, who, path);
        rc = P2P_ERR_STATE;
        goto fail_close;
    }
    lock_write_pid(f);
    *fd = f;
    return 0;

fail_close:
    close(f);
    return rc;
}

void prod_durable_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

int prod_durable_list(const char *dir, size_t names_max, char **names,
                      size_t *count, char *err, size_t err_len)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return fail(err, err_len, io_code(errno, P2P_ERR_READ), "opendir", dir,
                    errno);
    char *table = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0)
                rc = fail(err, err_len, P2P_ERR_READ, "readdir", dir, errno);
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strlen(e->d_name) >= PROD_DURABLE_NAME_MAX)
            continue;
        if (n == names_max) {
            rc = fail(err, err_len, P2P_ERR_LIMIT, "too many files in", dir,
                      EMFILE);
            break;
        }
        if (n == cap) {
            size_t grown = cap == 0 ? 64 : 2 * cap;
            if (grown > names_max)
                grown = names_max;
            char *t = realloc(table, grown * PROD_DURABLE_NAME_MAX);
            if (t == NULL) {
                rc = fail(err, err_len, P2P_ERR_NOMEM, "list", dir, ENOMEM);
                break;
            }
            table = t;
            cap = grown;
        }
        memcpy(table + n * PROD_DURABLE_NAME_MAX, e->d_name,
               strlen(e->d_name) + 1);
        n++;
    }
    closedir(d);
    if (rc != 0) {
        free(table);
        return rc;
    }
    if (n > 1)
        qsort(table, n, PROD_DURABLE_NAME_MAX, name_cmp);
    *names = table;
    *count = n;
    return 0;
}

int prod_durable_path(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PROD_DURABLE_PATH_MAX, fmt, ap);
    va_end(ap);
    return n < 0 || n >= PROD_DURABLE_PATH_MAX ? P2P_ERR_INVALID_ARG : 0;
}
