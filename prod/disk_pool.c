/* The validated pool on disk (prod/disk_pool.h): one durable file per
 * artifact, checked against its name when loaded. */
#include "prod/disk_pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/hex.h"
#include "core/err.h"
#include "prod/disk_body.h"
#include "prod/durable.h"

#define HEX_CHARS (2 * P2P_ID_BYTES)

struct prod_disk_pool {
    char dir[PROD_DURABLE_PATH_MAX];        /* DATA/pool */
    char quarantine[PROD_DURABLE_PATH_MAX]; /* DATA/quarantine/pool */
    uint64_t artifact_bytes_max;
    struct prod_disk_body_store *bodies; /* large fetched bodies, in files */
    struct prod_disk_pool_stats stats;
    char error[PROD_DISK_POOL_ERROR_MAX];
};

/* Room left after the data directory for the longest path made:
 * "/quarantine/pool/<a listed name>.<copy>" and a NUL. */
#define POOL_NAME_ROOM                                                         \
    (sizeof("/" PROD_DISK_POOL_QUARANTINE "/") + PROD_DURABLE_NAME_MAX +       \
     sizeof(".99"))
_Static_assert(PROD_DISK_POOL_QUARANTINE_COPIES_MAX <= 100,
               "a copy number fits POOL_NAME_ROOM");

int prod_disk_pool_open(const char *data_dir, uint64_t artifact_bytes_max,
                        struct prod_disk_pool **out, char *err, size_t err_len)
{
    if (artifact_bytes_max == 0 ||
        strlen(data_dir) + POOL_NAME_ROOM > PROD_DURABLE_PATH_MAX) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "pool: bad data dir or artifact limit");
        return P2P_ERR_INVALID_ARG;
    }
    struct prod_disk_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return P2P_ERR_NOMEM;
    (void)prod_durable_path(p->dir, "%s/pool", data_dir);
    (void)prod_durable_path(p->quarantine, "%s/" PROD_DISK_POOL_QUARANTINE,
                            data_dir);
    p->artifact_bytes_max = artifact_bytes_max;
    int rc = prod_durable_mkdirs(p->dir, err, err_len);
    if (rc == 0)
        rc = prod_disk_body_store_open(p->dir, &p->bodies);
    if (rc != 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void prod_disk_pool_close(struct prod_disk_pool *p)
{
    if (p == NULL)
        return;
    prod_disk_body_store_close(p->bodies);
    free(p);
}

const struct p2p_body_store *prod_disk_pool_body_store(struct prod_disk_pool *p)
{
    return prod_disk_body_store_ops(p->bodies);
}

const char *prod_disk_pool_error(const struct prod_disk_pool *p)
{
    return p->error;
}

static void path_of(const struct prod_disk_pool *p,
                    const struct p2p_artifact_id *id,
                    enum p2p_artifact_kind kind, char *out)
{
    char hex[HEX_CHARS + 1];
    p2p_id_hex(id, hex, HEX_CHARS);
    (void)prod_durable_path(out, "%s/%s.%s", p->dir, hex, p2p_kind_name(kind));
}

int prod_disk_pool_map(struct prod_disk_pool *p,
                       const struct p2p_artifact_id *id,
                       enum p2p_artifact_kind kind, size_t len,
                       struct p2p_body **out)
{
    char path[PROD_DURABLE_PATH_MAX];
    path_of(p, id, kind, path);
    int rc = prod_disk_body_map(path, len, out, p->error, sizeof(p->error));
    if (rc == 0) {
        (*out)->id = *id;
        (*out)->hashed = true;
    }
    return rc;
}

int prod_disk_pool_put(struct prod_disk_pool *p,
                       const struct p2p_artifact_id *id,
                       enum p2p_artifact_kind kind, const uint8_t *body,
                       size_t len)
{
    if (kind != P2P_KIND_PUSH && kind != P2P_KIND_ADVERT)
        return P2P_ERR_INVALID_ARG;
    if (len > p->artifact_bytes_max)
        return P2P_ERR_OVERSIZE;
    struct p2p_artifact_id got;
    p2p_id_of(body, len, &got);
    if (!p2p_id_eq(&got, id))
        return P2P_ERR_ID_MISMATCH;
    return prod_disk_pool_put_hashed(p, id, kind, body, len);
}

static int remove_other_kind(struct prod_disk_pool *p,
                             const struct p2p_artifact_id *id,
                             enum p2p_artifact_kind kind);

int prod_disk_pool_put_hashed(struct prod_disk_pool *p,
                              const struct p2p_artifact_id *id,
                              enum p2p_artifact_kind kind, const uint8_t *body,
                              size_t len)
{
    if (kind != P2P_KIND_PUSH && kind != P2P_KIND_ADVERT)
        return P2P_ERR_INVALID_ARG;
    if (len > p->artifact_bytes_max)
        return P2P_ERR_OVERSIZE;
    char path[PROD_DURABLE_PATH_MAX];
    path_of(p, id, kind, path);
    int rc = prod_durable_write(path, body, len, p->error, sizeof(p->error));
    if (rc != 0)
        return rc;
    return remove_other_kind(p, id, kind);
}

int prod_disk_pool_put_body(struct prod_disk_pool *p,
                            const struct p2p_artifact_id *id,
                            enum p2p_artifact_kind kind, struct p2p_body *b)
{
    if (!prod_disk_body_is_temporary(b))
        return prod_disk_pool_put_hashed(p, id, kind, b->bytes, b->len);
    if (kind != P2P_KIND_PUSH && kind != P2P_KIND_ADVERT)
        return P2P_ERR_INVALID_ARG;
    if (b->len > p->artifact_bytes_max)
        return P2P_ERR_OVERSIZE;
    char path[PROD_DURABLE_PATH_MAX];
    path_of(p, id, kind, path);
    int rc = prod_disk_body_persist(b, path, p->error, sizeof(p->error));
    if (rc != 0)
        return rc;
    return remove_other_kind(p, id, kind);
}

/* The same id under the other kind would be a second copy at load. */
static int remove_other_kind(struct prod_disk_pool *p,
                             const struct p2p_artifact_id *id,
                             enum p2p_artifact_kind kind)
{
    char path[PROD_DURABLE_PATH_MAX];
    enum p2p_artifact_kind other =
        kind == P2P_KIND_PUSH ? P2P_KIND_ADVERT : P2P_KIND_PUSH;
    path_of(p, id, other, path);
    char err[PROD_DISK_POOL_ERROR_MAX] = "";
    int rc = prod_durable_remove(path, err, sizeof(err));
    if (rc == P2P_ERR_NOT_FOUND)
        return 0;
    if (rc != 0)
        memcpy(p->error, err, sizeof(p->error));
    return rc;
}

int prod_disk_pool_remove(struct prod_disk_pool *p,
                          const struct p2p_artifact_id *id)
{
    bool found = false;
    for (int k = 0; k < P2P_KINDS_COUNT; k++) {
        char path[PROD_DURABLE_PATH_MAX];
        path_of(p, id, (enum p2p_artifact_kind)k, path);
        char err[PROD_DISK_POOL_ERROR_MAX] = "";
        int rc = prod_durable_remove(path, err, sizeof(err));
        if (rc == P2P_ERR_NOT_FOUND)
            continue;
        if (rc != 0) {
            memcpy(p->error, err, sizeof(p->error));
            return rc;
        }
        found = true;
    }
    return found ? 0 : P2P_ERR_NOT_FOUND;
}

/* Parses "<64 lowercase hex>.<push|advert>"; false for any other name. */
static bool parse_name(const char *name, struct p2p_artifact_id *id,
                       enum p2p_artifact_kind *kind)
{
    /* Uppercase is not a name we write. */
    if (strlen(name) < HEX_CHARS + 1 || name[HEX_CHARS] != '.' ||
        conf_hex_decode_canonical(name, HEX_CHARS, id->b, P2P_ID_BYTES) != 0)
        return false;
    const char *suffix = name + HEX_CHARS + 1;
    for (int k = 0; k < P2P_KINDS_COUNT; k++) {
        if (strcmp(suffix, p2p_kind_name((enum p2p_artifact_kind)k)) == 0) {
            *kind = (enum p2p_artifact_kind)k;
            return true;
        }
    }
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const char *const REASON_NAMES[PROD_DISK_POOL_DROP_REASONS_COUNT] = {
    "leftover", "duplicate", "not_regular", "oversize", "corrupt",
};

const char *prod_disk_pool_drop_reason_name(enum prod_disk_pool_drop_reason r)
{
    return (unsigned)r < PROD_DISK_POOL_DROP_REASONS_COUNT ? REASON_NAMES[r]
                                                           : "unknown";
}

void prod_disk_pool_get_stats(const struct prod_disk_pool *p,
                              struct prod_disk_pool_stats *out)
{
    *out = p->stats;
    struct prod_disk_body_stats b;
    prod_disk_body_store_stats(p->bodies, &b);
    out->bodies_in_files = b.sealed;
    out->body_file_failures = b.failed;
    out->body_files_open = b.live;
}

static const char *type_name(mode_t mode)
{
    if (S_ISLNK(mode))
        return "a symbolic link (never followed)";
    if (S_ISDIR(mode))
        return "a folder";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    return "not a regular file";
}

/* One walk's state: the caller's hook and its tally. */
struct walk {
    struct prod_disk_pool *p;
    void (*on_drop)(void *ctx, const struct prod_disk_pool_drop *d);
    void *ctx;
    uint32_t dropped;
};

/* Moves path (the pool entry `name`, of type mode) into the quarantine
 * under the first free name; *to gets that path. Deletes a non-folder
 * when every name is taken. Returns the fate; detail gets an error's
 * text. */
static enum prod_disk_pool_fate quarantine(struct prod_disk_pool *p,
                                           const char *path, const char *name,
                                           mode_t mode, char *to, char *detail,
                                           size_t detail_len)
{
    if (prod_durable_mkdirs(p->quarantine, detail, detail_len) != 0)
        return PROD_DISK_POOL_LEFT;
    for (unsigned copy = 0; copy < PROD_DISK_POOL_QUARANTINE_COPIES_MAX;
         copy++) {
        if (copy == 0)
            (void)prod_durable_path(to, "%s/%s", p->quarantine, name);
        else
            (void)prod_durable_path(to, "%s/%s.%u", p->quarantine, name, copy);
        struct stat st;
        if (lstat(to, &st) == 0)
            continue; /* taken: the lock keeps anyone else from taking it */
        if (prod_durable_rename(path, to, detail, detail_len) != 0)
            return PROD_DISK_POOL_LEFT;
        return PROD_DISK_POOL_QUARANTINED;
    }
    to[0] = '\0';
    if (S_ISDIR(mode)) {
        snprintf(detail, detail_len, "%u copies already quarantined",
                 PROD_DISK_POOL_QUARANTINE_COPIES_MAX);
        return PROD_DISK_POOL_LEFT;
    }
    return prod_durable_remove(path, detail, detail_len) == 0
               ? PROD_DISK_POOL_DELETED
               : PROD_DISK_POOL_LEFT;
}

/* Sets the entry `name` (at path, of type mode) aside for reason: deletes
 * a leftover or a duplicate, quarantines the rest; counts and reports
 * it. why says what was wrong. */
static void drop(struct walk *w, const char *path, const char *name,
                 mode_t mode, enum prod_disk_pool_drop_reason reason,
                 const char *why)
{
    struct prod_disk_pool *p = w->p;
    char to[PROD_DURABLE_PATH_MAX] = "";
    char failure[PROD_DISK_POOL_ERROR_MAX] = "";
    enum prod_disk_pool_fate fate;
    if (reason == PROD_DISK_POOL_DROP_LEFTOVER ||
        reason == PROD_DISK_POOL_DROP_DUPLICATE) {
        int rc = prod_durable_remove(path, failure, sizeof(failure));
        fate = rc == 0 || rc == P2P_ERR_NOT_FOUND ? PROD_DISK_POOL_DELETED
                                                  : PROD_DISK_POOL_LEFT;
    } else {
        fate = quarantine(p, path, name, mode, to, failure, sizeof(failure));
    }
    p->stats.dropped[reason]++;
    p->stats.quarantined += fate == PROD_DISK_POOL_QUARANTINED;
    if (fate == PROD_DISK_POOL_LEFT) {
        p->stats.left++;
        memcpy(p->error, failure, sizeof(p->error));
    }
    w->dropped++;
    if (w->on_drop == NULL)
        return;
    char detail[2 * PROD_DISK_POOL_ERROR_MAX];
    if (fate == PROD_DISK_POOL_LEFT)
        snprintf(detail, sizeof(detail), "%s; left in place: %s", why, failure);
    else
        snprintf(detail, sizeof(detail), "%s", why);
    struct prod_disk_pool_drop d = {.reason = reason,
                                    .fate = fate,
                                    .path = path,
                                    .moved_to = to,
                                    .detail = detail};
    w->on_drop(w->ctx, &d);
}

/* The file at path (size bytes by lstat) as a body: mapped when large, else
 * read into memory. Errors as prod_durable_read. */
static int body_of_file(const char *path, size_t size, size_t cap,
                        struct p2p_body **out, char *err, size_t err_len)
{
    if (size >= PROD_DISK_BODY_BYTES_MIN && size <= cap)
        return prod_disk_body_map(path, size, out, err, err_len);
    uint8_t *bytes;
    size_t len;
    int rc = prod_durable_read(path, cap, &bytes, &len, err, err_len);
    if (rc != 0)
        return rc;
    *out = p2p_body_copy(NULL, P2P_MEM_POOL, bytes, len);
    free(bytes);
    return *out != NULL ? 0 : P2P_ERR_NOMEM;
}

/* Reads the regular file at path (size bytes by lstat) and checks it is
 * artifact id: 0 with *body (one reference, the caller's, hashed), 1 when
 * it was dropped or vanished, P2P_ERR_NOMEM. */
static int read_checked(struct walk *w, const char *path, const char *name,
                        const struct stat *st, const struct p2p_artifact_id *id,
                        struct p2p_body **body)
{
    struct prod_disk_pool *p = w->p;
    char why[PROD_DISK_POOL_ERROR_MAX + 64];
    if ((uint64_t)st->st_size > p->artifact_bytes_max) {
        snprintf(why, sizeof(why),
                 "%" PRIu64 " bytes, above artifact_bytes (%" PRIu64 ")",
                 (uint64_t)st->st_size, p->artifact_bytes_max);
        drop(w, path, name, st->st_mode, PROD_DISK_POOL_DROP_OVERSIZE, why);
        return 1;
    }
    char err[PROD_DISK_POOL_ERROR_MAX] = "";
    size_t cap = p->artifact_bytes_max > SIZE_MAX
                     ? SIZE_MAX
                     : (size_t)p->artifact_bytes_max;
    int rc =
        body_of_file(path, (size_t)st->st_size, cap, body, err, sizeof(err));
    if (rc == P2P_ERR_NOT_FOUND)
        return 1; /* gone since it was listed */
    if (rc == P2P_ERR_NOMEM) {
        memcpy(p->error, err, sizeof(p->error));
        return rc;
    }
    if (rc == P2P_ERR_OVERSIZE) {
        snprintf(why, sizeof(why), "above artifact_bytes (%" PRIu64 ")",
                 p->artifact_bytes_max);
        drop(w, path, name, st->st_mode, PROD_DISK_POOL_DROP_OVERSIZE, why);
        return 1;
    }
    if (rc != 0) {
        snprintf(why, sizeof(why), "unreadable: %s", err);
        drop(w, path, name, st->st_mode, PROD_DISK_POOL_DROP_CORRUPT, why);
        return 1;
    }
    if (!p2p_body_matches(*body, id)) {
        size_t len = (*body)->len;
        p2p_body_release(*body, NULL, P2P_MEM_POOL);
        *body = NULL;
        snprintf(why, sizeof(why),
                 "its %zu bytes do not hash to its name (torn or damaged)",
                 len);
        drop(w, path, name, st->st_mode, PROD_DISK_POOL_DROP_CORRUPT, why);
        return 1;
    }
    return 0;
}

int prod_disk_pool_load(struct prod_disk_pool *p,
                        int (*fn)(void *ctx, const struct p2p_artifact_id *id,
                                  enum p2p_artifact_kind kind,
                                  struct p2p_body *body),
                        void (*on_drop)(void *ctx,
                                        const struct prod_disk_pool_drop *d),
                        void *ctx, uint32_t *dropped)
{
    struct walk w = {.p = p, .on_drop = on_drop, .ctx = ctx};
    if (dropped != NULL)
        *dropped = 0;
    char *names = NULL;
    size_t count = 0;
    int rc = prod_durable_list(p->dir, PROD_DISK_POOL_FILES_MAX, &names, &count,
                               p->error, sizeof(p->error));
    if (rc != 0)
        return rc;
    struct p2p_artifact_id last;
    bool have_last = false;
    for (size_t i = 0; i < count && rc == 0; i++) {
        const char *name = names + i * PROD_DURABLE_NAME_MAX;
        struct p2p_artifact_id id;
        enum p2p_artifact_kind kind = P2P_KIND_ADVERT;
        bool artifact = parse_name(name, &id, &kind);
        if (!artifact && !ends_with(name, ".tmp"))
            continue; /* none of ours */
        char path[PROD_DURABLE_PATH_MAX];
        (void)prod_durable_path(path, "%s/%s", p->dir, name);
        struct stat st;
        if (lstat(path, &st) != 0) {
            if (errno != ENOENT) /* gone since it was listed: nothing */
                drop(&w, path, name, 0, PROD_DISK_POOL_DROP_CORRUPT,
                     strerror(errno));
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            drop(&w, path, name, st.st_mode, PROD_DISK_POOL_DROP_NOT_REGULAR,
                 type_name(st.st_mode));
            continue;
        }
        if (!artifact) {
            drop(&w, path, name, st.st_mode, PROD_DISK_POOL_DROP_LEFTOVER,
                 "a write a crash interrupted");
            continue;
        }
        if (have_last && p2p_id_eq(&id, &last)) {
            drop(&w, path, name, st.st_mode, PROD_DISK_POOL_DROP_DUPLICATE,
                 "a second file of an artifact already loaded");
            continue;
        }
        struct p2p_body *body = NULL;
        int r = read_checked(&w, path, name, &st, &id, &body);
        if (r == 1)
            continue;
        if (r != 0) {
            rc = r;
            break;
        }
        last = id;
        have_last = true;
        rc = fn(ctx, &id, kind, body);
        p2p_body_release(body, NULL, P2P_MEM_POOL);
    }
    free(names);
    if (dropped != NULL)
        *dropped = w.dropped;
    return rc;
}

/* ---- heights ---- */

/* A height file's bytes: digits and a newline. */
#define HEIGHT_FILE_BYTES_MAX 24u

static void heights_path(const struct prod_disk_pool *p, const char *name,
                         char *out)
{
    /* p->dir is DATA/pool. */
    (void)prod_durable_path(out, "%s-heights/%s", p->dir, name);
}

static int write_height(struct prod_disk_pool *p, const char *name,
                        uint64_t height)
{
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    (void)prod_durable_path(dir, "%s-heights", p->dir);
    int rc = prod_durable_mkdirs(dir, p->error, sizeof(p->error));
    if (rc != 0)
        return P2P_ERR_WRITE;
    heights_path(p, name, path);
    char text[HEIGHT_FILE_BYTES_MAX];
    int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", height);
    rc = prod_durable_write(path, text, (size_t)n, p->error, sizeof(p->error));
    return rc == 0 ? 0 : P2P_ERR_WRITE;
}

/* 0 with *height (0 when the file is absent), P2P_ERR_DECODE,
 * P2P_ERR_READ. */
static int read_height(struct prod_disk_pool *p, const char *name,
                       uint64_t *height)
{
    char path[PROD_DURABLE_PATH_MAX];
    heights_path(p, name, path);
    uint8_t buf[HEIGHT_FILE_BYTES_MAX];
    size_t len = 0;
    *height = 0;
    int rc = prod_durable_read_into(path, buf, sizeof(buf), &len, p->error,
                                    sizeof(p->error));
    if (rc == P2P_ERR_NOT_FOUND)
        return 0;
    if (rc == P2P_ERR_OVERSIZE)
        return P2P_ERR_DECODE;
    if (rc != 0)
        return P2P_ERR_READ;
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len == 0 || len > 20)
        return P2P_ERR_DECODE;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return P2P_ERR_DECODE;
        unsigned d = (unsigned)(buf[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return P2P_ERR_DECODE;
        v = v * 10 + d;
    }
    *height = v;
    return 0;
}

int prod_disk_pool_put_height(struct prod_disk_pool *p,
                              const struct p2p_artifact_id *id, uint64_t height)
{
    char hex[HEX_CHARS + 1];
    p2p_id_hex(id, hex, HEX_CHARS);
    if (height > 0)
        return write_height(p, hex, height);
    char path[PROD_DURABLE_PATH_MAX];
    heights_path(p, hex, path);
    int rc = prod_durable_remove(path, p->error, sizeof(p->error));
    return rc == 0 || rc == P2P_ERR_NOT_FOUND ? 0 : P2P_ERR_WRITE;
}

int prod_disk_pool_get_height(struct prod_disk_pool *p,
                              const struct p2p_artifact_id *id,
                              uint64_t *height)
{
    char hex[HEX_CHARS + 1];
    p2p_id_hex(id, hex, HEX_CHARS);
    return read_height(p, hex, height);
}

int prod_disk_pool_set_purge_height(struct prod_disk_pool *p, uint64_t height)
{
    return write_height(p, PROD_DISK_POOL_PURGE_HEIGHT_NAME, height);
}

int prod_disk_pool_get_purge_height(struct prod_disk_pool *p, uint64_t *height)
{
    return read_height(p, PROD_DISK_POOL_PURGE_HEIGHT_NAME, height);
}

int prod_disk_pool_purge_below(struct prod_disk_pool *p, uint64_t height,
                               uint64_t *removed)
{
    char dir[PROD_DURABLE_PATH_MAX];
    (void)prod_durable_path(dir, "%s-heights", p->dir);
    char *names = NULL;
    size_t count = 0;
    if (removed != NULL)
        *removed = 0;
    int rc = prod_durable_list(dir, PROD_DISK_POOL_FILES_MAX, &names, &count,
                               p->error, sizeof(p->error));
    if (rc == P2P_ERR_NOT_FOUND)
        return 0; /* no height was ever stored */
    if (rc != 0)
        return rc == P2P_ERR_NOMEM ? rc : P2P_ERR_READ;
    for (size_t i = 0; i < count && rc == 0; i++) {
        const char *name = names + i * PROD_DURABLE_NAME_MAX;
        struct p2p_artifact_id id;
        if (strlen(name) != HEX_CHARS ||
            conf_hex_decode(name, HEX_CHARS, id.b, P2P_ID_BYTES, NULL) != 0)
            continue; /* the purge height, a *.tmp: not an artifact's */
        uint64_t h = 0;
        if (read_height(p, name, &h) != 0 || h == 0 || h >= height)
            continue;
        /* The artifact first: a crash between leaves a height file,
         * removed by the next purge. */
        rc = prod_disk_pool_remove(p, &id);
        if (rc == 0 && removed != NULL)
            (*removed)++;
        if (rc == P2P_ERR_NOT_FOUND)
            rc = 0;
        if (rc == 0)
            rc = prod_disk_pool_put_height(p, &id, 0);
    }
    free(names);
    return rc;
}
