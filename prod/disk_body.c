/* Large artifact bodies in their files (prod/disk_body.h).
 *
 * The loop copies a body's bytes into the body's stage buffer; a full
 * stage goes to the store's writer thread, which writes it to the body's
 * file and hashes it, while the loop fills a spare stage from the store's
 * pool (waiting for the writer to give one back when every spare is out:
 * the loop's back-pressure when the disk is slower than the network). The
 * writer touches only jobs (a stage, the body's file and hash state), never
 * a body's reference count or anything of core's. A body waits for its
 * jobs before it is sealed or freed.
 *
 * Stages: each body being written holds one; the pool holds at most
 * PROD_DISK_BODY_STAGES spares, and jobs the rest. Jobs never outnumber the
 * spares by more than one (a seal's last stage: seals run one at a time,
 * and wait for their jobs), so the job ring has one slot more. */
#include "prod/disk_body.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "prod/durable.h"

struct disk_body;

/* A stage buffer handed to the writer: len bytes for body's file at off. */
struct job {
    struct disk_body *body;
    uint8_t *stage;
    size_t len;
    uint64_t off;
};

struct prod_disk_body_store {
    char dir[PROD_DURABLE_PATH_MAX];
    uint64_t next; /* names temporary files */
    struct p2p_body_store store;
    struct prod_disk_body_stats stats; /* the loop's */
    /* The writer: everything below is under lock. */
    pthread_t writer;
    bool writer_started, stopping;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    struct job jobs[PROD_DISK_BODY_STAGES + 1]; /* a ring (see above) */
    unsigned head, count;
    uint8_t *free_stages[PROD_DISK_BODY_STAGES];
    unsigned free_count;
};

/* One body whose bytes are a file's. */
struct disk_body {
    struct p2p_body b;               /* first: core hands it back as this */
    struct prod_disk_body_store *s;  /* NULL for a mapped pool file */
    int fd;                          /* the temporary file, until persisted */
    char tmp[PROD_DURABLE_PATH_MAX]; /* its name; "" once persisted */
    uint8_t *stage;                  /* being filled by the loop, or NULL */
    size_t staged;                   /* bytes in stage */
    uint64_t queued;                 /* bytes handed to the writer */
    void *map;                       /* the mapping, once sealed */
    /* Under s->lock: jobs not yet done, and what they left. */
    unsigned pending;
    bool failed;
    uint64_t written;
    struct sha256_ctx sha;
};

static void release(struct p2p_body *b);
static const struct p2p_body_owner owner = {.release = release};

static struct disk_body *disk_body_of(const struct p2p_body *b)
{
    return b->owner == &owner ? (struct disk_body *)b : NULL;
}

/* ---- the writer thread ---- */

#define JOB_SLOTS (PROD_DISK_BODY_STAGES + 1)

/* A stage no longer used: a spare while the pool has room, else freed.
 * Under s->lock. */
static void give_back_locked(struct prod_disk_body_store *s, uint8_t *stage)
{
    if (s->free_count < PROD_DISK_BODY_STAGES)
        s->free_stages[s->free_count++] = stage;
    else
        free(stage);
}

static void give_back(struct prod_disk_body_store *s, uint8_t *stage)
{
    pthread_mutex_lock(&s->lock);
    give_back_locked(s, stage);
    pthread_mutex_unlock(&s->lock);
}

static void run_job(const struct job *j)
{
    struct disk_body *d = j->body;
    size_t done = 0;
    bool failed = false;
    while (done < j->len) {
        ssize_t n = pwrite(d->fd, j->stage + done, j->len - done,
                           (off_t)(j->off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            failed = true;
            break;
        }
        done += (size_t)n;
    }
    /* Only this thread touches the hash while jobs are pending. */
    if (!failed)
        sha256_update(&d->sha, j->len, j->stage);
    pthread_mutex_lock(&d->s->lock);
    d->failed |= failed;
    d->written += done;
    d->pending--;
    give_back_locked(d->s, j->stage);
    pthread_cond_broadcast(&d->s->done);
    pthread_mutex_unlock(&d->s->lock);
}

static void *writer_main(void *arg)
{
    struct prod_disk_body_store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->count == 0 && !s->stopping)
            pthread_cond_wait(&s->work, &s->lock);
        if (s->count == 0)
            break;
        struct job j = s->jobs[s->head];
        s->head = (s->head + 1) % JOB_SLOTS;
        s->count--;
        pthread_mutex_unlock(&s->lock);
        run_job(&j);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Hands d's stage (staged bytes) to the writer and, unless it is the
 * last, takes a spare in its place, waiting for one if none is free (the
 * job just queued gives one back). */
static void hand_over(struct disk_body *d, bool last)
{
    struct prod_disk_body_store *s = d->s;
    pthread_mutex_lock(&s->lock);
    if (s->count == JOB_SLOTS)
        abort(); /* the bound above is broken: a bug, not an input */
    s->jobs[(s->head + s->count) % JOB_SLOTS] = (struct job){
        .body = d, .stage = d->stage, .len = d->staged, .off = d->queued};
    s->count++;
    d->pending++;
    pthread_cond_signal(&s->work);
    d->stage = NULL;
    while (!last && s->free_count == 0)
        pthread_cond_wait(&s->done, &s->lock);
    if (!last)
        d->stage = s->free_stages[--s->free_count];
    pthread_mutex_unlock(&s->lock);
    d->queued += d->staged;
    d->staged = 0;
}

/* Waits until the writer has done every job of d. */
static void wait_jobs(struct disk_body *d)
{
    struct prod_disk_body_store *s = d->s;
    pthread_mutex_lock(&s->lock);
    while (d->pending > 0)
        pthread_cond_wait(&s->done, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

/* ---- bodies ---- */

static void release(struct p2p_body *b)
{
    struct disk_body *d = (struct disk_body *)b;
    struct prod_disk_body_store *s = d->s;
    if (s != NULL) {
        wait_jobs(d);
        if (d->stage != NULL)
            give_back(s, d->stage);
        s->stats.live--;
    }
    if (d->map != NULL)
        (void)munmap(d->map, b->len);
    if (d->fd >= 0)
        (void)close(d->fd);
    /* Not durable: a leftover is deleted at the next load anyway. */
    if (d->tmp[0] != '\0')
        (void)unlink(d->tmp);
    free(d);
}

/* Starts the writer with every signal blocked (signals stay the loop's,
 * as before there was a thread). Started by the first large body, so a
 * replica that never fetches one never has a second thread. */
static bool start_writer(struct prod_disk_body_store *s)
{
    if (s->writer_started)
        return true;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    s->writer_started = pthread_create(&s->writer, NULL, writer_main, s) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return s->writer_started;
}

static struct p2p_body *store_open(void *ctx, size_t len)
{
    struct prod_disk_body_store *s = ctx;
    struct disk_body *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->fd = -1;
    d->stage = malloc(PROD_DISK_BODY_STAGE_BYTES);
    /* Without its thread the store declines every body (they are then
     * buffered in memory): the replica still works. */
    if (d->stage != NULL && start_writer(s) &&
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
    sha256_init(&d->sha);
    (void)p2p_body_wrap(&d->b, NULL, P2P_MEM_OTHER, NULL, len, &owner, NULL);
    s->stats.live++;
    return &d->b;
}

static int store_write(void *ctx, struct p2p_body *b, const uint8_t *data,
                       size_t len)
{
    (void)ctx;
    struct disk_body *d = (struct disk_body *)b;
    while (len > 0) {
        size_t n = PROD_DISK_BODY_STAGE_BYTES - d->staged;
        if (n > len)
            n = len;
        memcpy(d->stage + d->staged, data, n);
        d->staged += n;
        data += n;
        len -= n;
        if (d->staged == PROD_DISK_BODY_STAGE_BYTES)
            hand_over(d, false);
    }
    return 0;
}

static int store_seal(void *ctx, struct p2p_body *b)
{
    struct prod_disk_body_store *s = ctx;
    struct disk_body *d = (struct disk_body *)b;
    if (d->staged > 0) {
        hand_over(d, true);
    } else {
        give_back(s, d->stage);
        d->stage = NULL;
    }
    wait_jobs(d);
    /* The writer is done with d: its results are ours to read now. */
    if (d->failed || d->written != b->len) {
        s->stats.failed++;
        return P2P_ERR_WRITE;
    }
    void *map = mmap(NULL, b->len, PROT_READ, MAP_SHARED, d->fd, 0);
    if (map == MAP_FAILED) {
        s->stats.failed++;
        return P2P_ERR_WRITE;
    }
    d->map = map;
    b->bytes = map;
    sha256_digest(&d->sha, P2P_ID_BYTES, b->id.b);
    b->hashed = true;
    s->stats.sealed++;
    return 0;
}

/* ---- the store ---- */

static void free_stages(struct prod_disk_body_store *s)
{
    for (unsigned i = 0; i < s->free_count; i++)
        free(s->free_stages[i]);
    s->free_count = 0;
}

int prod_disk_body_store_open(const char *dir,
                              struct prod_disk_body_store **out)
{
    struct prod_disk_body_store *s = calloc(1, sizeof(*s));
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
                                       .hashes = true,
                                       .open = store_open,
                                       .write = store_write,
                                       .seal = store_seal};
    for (unsigned i = 0; i < PROD_DISK_BODY_STAGES; i++) {
        uint8_t *stage = malloc(PROD_DISK_BODY_STAGE_BYTES);
        if (stage == NULL) {
            free_stages(s);
            free(s);
            return P2P_ERR_NOMEM;
        }
        s->free_stages[s->free_count++] = stage;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    *out = s;
    return 0;
}

void prod_disk_body_store_close(struct prod_disk_body_store *s)
{
    if (s == NULL)
        return;
    if (s->writer_started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->lock);
        (void)pthread_join(s->writer, NULL);
    }
    free_stages(s);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const struct p2p_body_store *prod_disk_body_store_ops(
    struct prod_disk_body_store *s)
{
    return &s->store;
}

void prod_disk_body_store_stats(const struct prod_disk_body_store *s,
                                struct prod_disk_body_stats *out)
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
    return 0;
}
