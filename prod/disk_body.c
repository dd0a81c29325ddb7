/* Large artifact bodies in their files (prod/disk_body.h). */
#include "prod/disk_body.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "prod/durable.h"

struct prod_disk_bodies {
    char dir[PROD_DURABLE_PATH_MAX];
    uint64_t next; /* names temporary files */
    struct p2p_body_store store;
    struct prod_disk_bodies_stats stats;
};

/* One body whose bytes are a file's. */
struct disk_body {
    struct p2p_body b;               /* first: core hands it back as this */
    struct prod_disk_bodies *s;      /* NULL for a mapped pool file */
    int fd;                          /* the temporary file, until persisted */
    char tmp[PROD_DURABLE_PATH_MAX]; /* its name; "" once persisted */
    uint8_t *stage;                  /* PROD_DISK_BODY_STAGE_BYTES, or NULL */
    size_t staged;                   /* bytes in stage */
    size_t written;                  /* bytes in the file */
    void *map;                       /* the mapping, once sealed */
};

static void release(struct p2p_body *b);
static const struct p2p_body_owner owner = {.release = release};

static struct disk_body *disk_body_of(const struct p2p_body *b)
{
    return b->owner == &owner ? (struct disk_body *)b : NULL;
}

static void release(struct p2p_body *b)
{
    struct disk_body *d = (struct disk_body *)b;
    if (d->map != NULL)
        (void)munmap(d->map, b->len);
    if (d->fd >= 0)
        (void)close(d->fd);
    /* Not durable: a leftover is deleted at the next load anyway. */
    if (d->tmp[0] != '\0')
        (void)unlink(d->tmp);
    if (d->s != NULL)
        d->s->stats.live--;
    free(d->stage);
    free(d);
}

static struct p2p_body *store_open(void *ctx, size_t len)
{
    struct prod_disk_bodies *s = ctx;
    struct disk_body *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->stage = malloc(PROD_DISK_BODY_STAGE_BYTES);
    d->fd = -1;
    if (d->stage != NULL &&
        prod_durable_path(d->tmp, "%s/fetch-%llu.tmp", s->dir,
                          (unsigned long long)s->next++) == 0)
        d->fd = open(d->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (d->fd < 0) {
        /* The reader then buffers the body in memory. */
        s->stats.failed++;
        free(d->stage);
        free(d);
        return NULL;
    }
    d->s = s;
    (void)p2p_body_wrap(&d->b, NULL, P2P_MEM_OTHER, NULL, len, &owner, NULL);
    s->stats.opened++;
    s->stats.live++;
    return &d->b;
}

static int flush_stage(struct disk_body *d)
{
    size_t done = 0;
    while (done < d->staged) {
        ssize_t n = pwrite(d->fd, d->stage + done, d->staged - done,
                           (off_t)(d->written + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return P2P_ERR_WRITE;
        done += (size_t)n;
    }
    d->written += d->staged;
    d->staged = 0;
    return 0;
}

static int store_write(void *ctx, struct p2p_body *b, const uint8_t *data,
                       size_t len)
{
    struct disk_body *d = (struct disk_body *)b;
    while (len > 0) {
        size_t n = PROD_DISK_BODY_STAGE_BYTES - d->staged;
        if (n > len)
            n = len;
        memcpy(d->stage + d->staged, data, n);
        d->staged += n;
        data += n;
        len -= n;
        if (d->staged == PROD_DISK_BODY_STAGE_BYTES && flush_stage(d) != 0) {
            ((struct prod_disk_bodies *)ctx)->stats.failed++;
            return P2P_ERR_WRITE;
        }
    }
    return 0;
}

static int store_seal(void *ctx, struct p2p_body *b)
{
    struct prod_disk_bodies *s = ctx;
    struct disk_body *d = (struct disk_body *)b;
    if (flush_stage(d) != 0 || d->written != b->len) {
        s->stats.failed++;
        return P2P_ERR_WRITE;
    }
    free(d->stage);
    d->stage = NULL;
    void *map = mmap(NULL, b->len, PROT_READ, MAP_SHARED, d->fd, 0);
    if (map == MAP_FAILED) {
        s->stats.failed++;
        return P2P_ERR_WRITE;
    }
    d->map = map;
    b->bytes = map;
    s->stats.sealed++;
    return 0;
}

int prod_disk_bodies_open(const char *dir, struct prod_disk_bodies **out)
{
    struct prod_disk_bodies *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return P2P_ERR_NOMEM;
    /* Room for "/fetch-<20 digits>.tmp" after dir. */
    if (strlen(dir) + 32 >= sizeof(s->dir) ||
        prod_durable_path(s->dir, "%s", dir) != 0) {
        free(s);
        return P2P_ERR_INVALID_ARG;
    }
    s->store = (struct p2p_body_store){.bytes_min = PROD_DISK_BODY_BYTES_MIN,
                                       .ctx = s,
                                       .open = store_open,
                                       .write = store_write,
                                       .seal = store_seal};
    *out = s;
    return 0;
}

void prod_disk_bodies_close(struct prod_disk_bodies *s)
{
    free(s);
}

const struct p2p_body_store *prod_disk_bodies_store(struct prod_disk_bodies *s)
{
    return &s->store;
}

void prod_disk_bodies_get_stats(const struct prod_disk_bodies *s,
                                struct prod_disk_bodies_stats *out)
{
    *out = s->stats;
}

static int fail(char *err, size_t err_len, const char *what, const char *path,
                int e)
{
    if (err != NULL && err_len > 0)
        snprintf(err, err_len, "%s %s: %s", what, path, strerror(e));
    return P2P_ERR_READ;
}

int prod_disk_body_map(const char *path, size_t len, struct p2p_body **out,
                       char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail(err, err_len, "open", path, errno);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != (uint64_t)len || len == 0) {
        int e = errno != 0 ? errno : EIO;
        (void)close(fd);
        return fail(err, err_len, "map (changed since listed)", path, e);
    }
    struct disk_body *d = calloc(1, sizeof(*d));
    void *map =
        d != NULL ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    int e = errno;
    (void)close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        free(d);
        return fail(err, err_len, "map", path, d == NULL ? ENOMEM : e);
    }
    d->fd = -1;
    d->map = map;
    (void)p2p_body_wrap(&d->b, NULL, P2P_MEM_OTHER, map, len, &owner, NULL);
    *out = &d->b;
    return 0;
}

bool prod_disk_body_is_temporary(const struct p2p_body *b)
{
    const struct disk_body *d = disk_body_of(b);
    return d != NULL && d->tmp[0] != '\0' && d->map != NULL;
}

int prod_disk_body_persist(struct p2p_body *b, const char *path, char *err,
                           size_t err_len)
{
    if (!prod_disk_body_is_temporary(b))
        return P2P_ERR_STATE;
    struct disk_body *d = disk_body_of(b);
    if (fdatasync(d->fd) != 0) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "fsync %s: %s", d->tmp, strerror(errno));
        return P2P_ERR_WRITE;
    }
    int rc = prod_durable_rename(d->tmp, path, err, err_len);
    if (rc != 0)
        return P2P_ERR_WRITE;
    d->tmp[0] = '\0';
    (void)close(d->fd);
    d->fd = -1;
    if (d->s != NULL)
        d->s->stats.persisted++;
    return 0;
}
