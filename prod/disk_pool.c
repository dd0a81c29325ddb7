/* The validated pool on disk (prod/disk_pool.h): one durable file per
 * artifact, checked against its name when loaded. */
#include "prod/disk_pool.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "prod/durable.h"

#define HEX_CHARS (2 * P2P_ID_BYTES)

struct prod_disk_pool {
    char dir[PROD_DURABLE_PATH_MAX]; /* DATA/pool */
    uint64_t artifact_bytes_max;
    char error[PROD_DISK_POOL_ERROR_MAX];
};

/* Room left in a path for "/<64 hex>.advert.tmp" and a NUL. */
#define POOL_NAME_ROOM (1 + HEX_CHARS + sizeof(".advert.tmp"))

int prod_disk_pool_open(const char *data_dir, uint64_t artifact_bytes_max,
                        struct prod_disk_pool **out, char *err,
                        size_t err_len)
{
    if (artifact_bytes_max == 0 ||
        strlen(data_dir) + sizeof("/pool") + POOL_NAME_ROOM >
            PROD_DURABLE_PATH_MAX) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "pool: bad data dir or artifact limit");
        return P2P_ERR_INVALID_ARG;
    }
    struct prod_disk_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return P2P_ERR_NOMEM;
    (void)prod_durable_path(p->dir, "%s/pool", data_dir);
    p->artifact_bytes_max = artifact_bytes_max;
    int rc = prod_durable_mkdirs(p->dir, err, err_len);
    if (rc != 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void prod_disk_pool_close(struct prod_disk_pool *p)
{
    free(p);
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
    (void)prod_durable_path(out, "%s/%s.%s", p->dir, hex,
                            p2p_kind_name(kind));
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

int prod_disk_pool_put_hashed(struct prod_disk_pool *p,
                              const struct p2p_artifact_id *id,
                              enum p2p_artifact_kind kind,
                              const uint8_t *body, size_t len)
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
    /* The same id under the other kind would be a second copy at load. */
    enum p2p_artifact_kind other =
        kind == P2P_KIND_PUSH ? P2P_KIND_ADVERT : P2P_KIND_PUSH;
    path_of(p, id, other, path);
    char err[PROD_DISK_POOL_ERROR_MAX] = "";
    rc = prod_durable_remove(path, err, sizeof(err));
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

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase is not a name we write */
}

/* Parses "<64 lowercase hex>.<push|advert>"; false for any other name. */
static bool parse_name(const char *name, struct p2p_artifact_id *id,
                       enum p2p_artifact_kind *kind)
{
    if (strlen(name) < HEX_CHARS + 1 || name[HEX_CHARS] != '.')
        return false;
    for (size_t i = 0; i < P2P_ID_BYTES; i++) {
        int hi = hex_val(name[2 * i]), lo = hex_val(name[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        id->b[i] = (uint8_t)(hi << 4 | lo);
    }
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

/* Removes a file of ours that must not be loaded; counts it. */
static void drop(struct prod_disk_pool *p, const char *path, uint32_t *dropped)
{
    (void)prod_durable_remove(path, p->error, sizeof(p->error));
    (*dropped)++;
}

int prod_disk_pool_load(struct prod_disk_pool *p,
                        int (*fn)(void *ctx, const struct p2p_artifact_id *id,
                                  enum p2p_artifact_kind kind,
                                  const uint8_t *body, size_t len),
                        void *ctx, uint32_t *dropped)
{
    uint32_t dropped_local = 0;
    uint32_t *drops = dropped != NULL ? dropped : &dropped_local;
    *drops = 0;
    char *names = NULL;
    size_t count = 0;
    int rc = prod_durable_list(p->dir, PROD_DISK_POOL_FILES_MAX, &names,
                               &count, p->error, sizeof(p->error));
    if (rc != 0)
        return rc;
    struct p2p_artifact_id last;
    bool have_last = false;
    size_t cap = p->artifact_bytes_max > SIZE_MAX ? SIZE_MAX
                                                  : (size_t)p->artifact_bytes_max;
    for (size_t i = 0; i < count && rc == 0; i++) {
        const char *name = names + i * PROD_DURABLE_NAME_MAX;
        char path[PROD_DURABLE_PATH_MAX];
        (void)prod_durable_path(path, "%s/%s", p->dir, name);
        struct p2p_artifact_id id;
        enum p2p_artifact_kind kind;
        if (!parse_name(name, &id, &kind)) {
            if (ends_with(name, ".tmp"))
                drop(p, path, drops); /* a write a crash interrupted */
            continue;
        }
        if (have_last && p2p_id_eq(&id, &last)) {
            drop(p, path, drops);
            continue;
        }
        uint8_t *body = NULL;
        size_t len = 0;
        int r = prod_durable_read(path, cap, &body, &len, p->error,
                                  sizeof(p->error));
        if (r == P2P_ERR_OVERSIZE || r == P2P_ERR_NOT_FOUND) {
            (*drops) += r == P2P_ERR_OVERSIZE;
            continue;
        }
        if (r == P2P_ERR_NOMEM) {
            rc = r;
            break;
        }
        struct p2p_artifact_id got;
        if (r == 0)
            p2p_id_of(body, len, &got);
        if (r != 0 || !p2p_id_eq(&got, &id)) {
            free(body);
            drop(p, path, drops); /* torn, corrupt or unreadable */
            continue;
        }
        last = id;
        have_last = true;
        rc = fn(ctx, &id, kind, body, len);
        free(body);
    }
    free(names);
    return rc;
}
