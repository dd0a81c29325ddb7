/* The replica's data directory (prod/durable, prod/disk_pool,
 * prod/disk_state), each test in its own mkdtemp folder: durable writes
 * leave no .tmp and reads are capped; the pool's round trip, torn files
 * and leftovers dropped at load, removal, limits; checkpoints that survive
 * a reopen, a second store synced through core's ops (fresh, reusing an
 * older checkpoint, resumed after a restart), damaged folders dropped at
 * open, the sync folder rule, pruning, oversize files; and SIGKILL at
 * random moments of a writer loop, after which everything acknowledged is
 * there and everything loaded is consistent. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/rng.h"
#include "core/state_manifest.h"
#include "core/metrics_registry.h"
#include "prod/disk_metrics.h"
#include "prod/disk_pool.h"
#include "prod/disk_state.h"
#include "prod/durable.h"

#define MOD P2P_MEM_OTHER

/* ---- helpers ------------------------------------------------------------ */

static char *tmpdir_new(void)
{
    char *d = strdup("/tmp/p2p-disk-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void tmpdir_del(char *d)
{
    ck_assert_int_eq(prod_durable_remove_tree(d, NULL, NULL, 0), 0);
    free(d);
}

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
    struct p2p_rng rng;
    p2p_rng_init(&rng, seed, 3);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)p2p_rng_u32(&rng);
}

static size_t count_entries(const char *dir)
{
    char *names = NULL;
    size_t n = 0;
    ck_assert_int_eq(prod_durable_list(dir, 1u << 20, &names, &n, NULL, 0), 0);
    free(names);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Replaces path with bytes, not durably (a new file: chunk files of
 * checkpoints may be hard links shared with older ones). */
static void write_raw(const char *path, const void *bytes, size_t len)
{
    (void)unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

static void hex(const struct p2p_state_hash *h, char out[65])
{
    struct p2p_artifact_id id;
    memcpy(id.b, h->b, 32);
    p2p_id_hex(&id, out, 64);
}

/* ---- durable ------------------------------------------------------------ */

START_TEST(durable_write_leaves_no_tmp_and_reads_are_capped)
{
    char *d = tmpdir_new();
    char sub[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(sub, "%s/a/b//c/", d), 0);
    ck_assert_int_eq(prod_durable_mkdirs(sub, NULL, 0), 0);
    ck_assert_int_eq(prod_durable_mkdirs(sub, NULL, 0), 0); /* exists: fine */
    ck_assert_int_eq(prod_durable_path(path, "%s/a/b/c/f", d), 0);
    ck_assert_int_eq(prod_durable_write(path, "hello", 5, NULL, 0), 0);
    ck_assert_int_eq(prod_durable_write(path, "bye", 3, NULL, 0), 0);
    ck_assert_uint_eq(count_entries(sub), 1); /* f, no f.tmp */
    uint8_t *b = NULL;
    size_t len = 0;
    ck_assert_int_eq(prod_durable_read(path, 3, &b, &len, NULL, 0), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(b, "bye", 3);
    free(b);
    char err[256] = "";
    ck_assert_int_eq(prod_durable_read(path, 2, &b, &len, err, sizeof(err)),
                     P2P_ERR_OVERSIZE);
    ck_assert_ptr_nonnull(strstr(err, "/a/b/c/f"));
    uint8_t small[3];
    ck_assert_int_eq(prod_durable_read_into(path, small, 3, &len, NULL, 0), 0);
    ck_assert_int_eq(prod_durable_read_into(path, small, 2, &len, NULL, 0),
                     P2P_ERR_OVERSIZE);
    /* An empty file reads as 0 bytes. */
    ck_assert_int_eq(prod_durable_write(path, "", 0, NULL, 0), 0);
    ck_assert_int_eq(prod_durable_read(path, 0, &b, &len, NULL, 0), 0);
    ck_assert_uint_eq(len, 0);
    free(b);
    /* A folder is not a file; a mkdir over a file fails. */
    ck_assert_int_eq(prod_durable_read(sub, 100, &b, &len, NULL, 0),
                     P2P_ERR_READ);
    ck_assert_int_eq(prod_durable_mkdirs(path, NULL, 0), P2P_ERR_WRITE);
    ck_assert_int_eq(prod_durable_remove(path, NULL, 0), 0);
    ck_assert_int_eq(prod_durable_remove(path, NULL, 0), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(prod_durable_read(path, 10, &b, &len, NULL, 0),
                     P2P_ERR_NOT_FOUND);
    /* write_direct replaces a hard link without touching its twin. */
    char twin[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(twin, "%s/a/twin", d), 0);
    ck_assert_int_eq(prod_durable_write(path, "orig", 4, NULL, 0), 0);
    ck_assert_int_eq(link(path, twin), 0);
    ck_assert_int_eq(prod_durable_write_direct(path, "new", 3, NULL, 0), 0);
    ck_assert_int_eq(prod_durable_read(twin, 10, &b, &len, NULL, 0), 0);
    ck_assert_mem_eq(b, "orig", 4);
    free(b);
    ck_assert_int_eq(prod_durable_path(sub, "%s/a", d), 0);
    ck_assert_int_eq(prod_durable_remove_tree(sub, NULL, NULL, 0), 0);
    ck_assert(!exists(sub));
    ck_assert_int_eq(prod_durable_remove_tree(sub, NULL, NULL, 0),
                     P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(prod_durable_path(sub, "%*s", PROD_DURABLE_PATH_MAX, "x"),
                     P2P_ERR_INVALID_ARG);
    tmpdir_del(d);
}
END_TEST

/* ---- pool --------------------------------------------------------------- */

#define LOADED_MAX 64

struct loaded {
    uint32_t count;
    struct p2p_artifact_id ids[LOADED_MAX];
    enum p2p_artifact_kind kinds[LOADED_MAX];
    size_t lens[LOADED_MAX];
    uint32_t stop_after; /* 0 = never */
    /* What on_drop was told. */
    uint32_t drops;
    enum prod_disk_pool_drop_reason reasons[LOADED_MAX];
    enum prod_disk_pool_fate fates[LOADED_MAX];
    char paths[LOADED_MAX][512];
    char moved_to[LOADED_MAX][512];
};

static void on_drop(void *ctx, const struct prod_disk_pool_drop *d)
{
    struct loaded *l = ctx;
    ck_assert_uint_lt(l->drops, LOADED_MAX);
    ck_assert_ptr_nonnull(d->detail);
    ck_assert_uint_gt(strlen(d->detail), 0);
    l->reasons[l->drops] = d->reason;
    l->fates[l->drops] = d->fate;
    snprintf(l->paths[l->drops], sizeof(l->paths[0]), "%s", d->path);
    snprintf(l->moved_to[l->drops], sizeof(l->moved_to[0]), "%s",
             d->moved_to);
    l->drops++;
}

static int on_artifact(void *ctx, const struct p2p_artifact_id *id,
                       enum p2p_artifact_kind kind, struct p2p_body *b)
{
    const uint8_t *body = b->bytes;
    size_t len = b->len;
    struct loaded *l = ctx;
    struct p2p_artifact_id got;
    p2p_id_of(body, len, &got);
    ck_assert(p2p_id_eq(&got, id));
    ck_assert_uint_lt(l->count, LOADED_MAX);
    l->ids[l->count] = *id;
    l->kinds[l->count] = kind;
    l->lens[l->count] = len;
    l->count++;
    return l->stop_after != 0 && l->count == l->stop_after ? 42 : 0;
}

static struct prod_disk_pool *pool_open(const char *dir, uint64_t max)
{
    struct prod_disk_pool *p = NULL;
    char err[256];
    ck_assert_int_eq(prod_disk_pool_open(dir, max, &p, err, sizeof(err)), 0);
    return p;
}

/* Puts a body of len bytes from seed; returns its id. */
static struct p2p_artifact_id pool_put(struct prod_disk_pool *p, uint64_t seed,
                                       size_t len, enum p2p_artifact_kind kind)
{
    uint8_t *b = malloc(len > 0 ? len : 1);
    fill(b, len, seed);
    struct p2p_artifact_id id;
    p2p_id_of(b, len, &id);
    ck_assert_int_eq(prod_disk_pool_put(p, &id, kind, b, len), 0);
    free(b);
    return id;
}

static void pool_path(const char *dir, const struct p2p_artifact_id *id,
                      const char *suffix, char *out)
{
    char h[65];
    p2p_id_hex(id, h, 64);
    ck_assert_int_eq(prod_durable_path(out, "%s/pool/%s%s", dir, h, suffix), 0);
}

START_TEST(pool_round_trip_in_name_order)
{
    char *d = tmpdir_new();
    struct prod_disk_pool *p = pool_open(d, 1000);
    struct p2p_artifact_id ids[5];
    for (int i = 0; i < 4; i++)
        ids[i] = pool_put(p, 100 + i, 10 * (i + 1),
                          i % 2 ? P2P_KIND_PUSH : P2P_KIND_ADVERT);
    ids[4] = pool_put(p, 99, 0, P2P_KIND_ADVERT); /* an empty body */
    prod_disk_pool_close(p);

    p = pool_open(d, 1000);
    struct loaded l = {0};
    uint32_t dropped = 7;
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(dropped, 0);
    ck_assert_uint_eq(l.count, 5);
    for (uint32_t i = 1; i < l.count; i++) /* file-name order */
        ck_assert_int_lt(memcmp(l.ids[i - 1].b, l.ids[i].b, 32), 0);
    for (int i = 0; i < 5; i++) {
        bool found = false;
        for (uint32_t j = 0; j < l.count; j++) {
            if (!p2p_id_eq(&l.ids[j], &ids[i]))
                continue;
            found = true;
            ck_assert_int_eq(l.kinds[j], i == 4 ? P2P_KIND_ADVERT
                                         : i % 2 ? P2P_KIND_PUSH
                                                 : P2P_KIND_ADVERT);
            ck_assert_uint_eq(l.lens[j], i == 4 ? 0 : 10 * (i + 1));
        }
        ck_assert(found);
    }
    /* fn's non-zero stops the walk and is returned. */
    struct loaded stop = {.stop_after = 2};
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &stop, NULL), 42);
    ck_assert_uint_eq(stop.count, 2);
    prod_disk_pool_close(p);
    tmpdir_del(d);
}
END_TEST

START_TEST(pool_torn_corrupt_and_tmp_files_dropped_at_load)
{
    char *d = tmpdir_new();
    struct prod_disk_pool *p = pool_open(d, 1000);
    struct p2p_artifact_id good = pool_put(p, 1, 100, P2P_KIND_PUSH);
    struct p2p_artifact_id torn = pool_put(p, 2, 100, P2P_KIND_PUSH);
    struct p2p_artifact_id flipped = pool_put(p, 3, 100, P2P_KIND_ADVERT);
    char path[PROD_DURABLE_PATH_MAX];
    uint8_t b[100];
    fill(b, 100, 2);
    pool_path(d, &torn, ".push", path);
    write_raw(path, b, 60);                      /* torn: cut short */
    fill(b, 100, 3);
    b[17] ^= 1;
    pool_path(d, &flipped, ".advert", path);
    write_raw(path, b, 100);                     /* a flipped bit */
    pool_path(d, &good, ".push.tmp", path);
    write_raw(path, "x", 1);                     /* a crash's leftover */
    ck_assert_int_eq(prod_durable_path(path, "%s/pool/README", d), 0);
    write_raw(path, "not ours", 8);              /* ignored, kept */

    struct loaded l = {0};
    uint32_t dropped = 0;
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 1);
    ck_assert(p2p_id_eq(&l.ids[0], &good));
    ck_assert_uint_eq(dropped, 3);
    ck_assert_int_eq(prod_durable_path(path, "%s/pool", d), 0);
    ck_assert_uint_eq(count_entries(path), 2); /* good + README */
    /* Each drop reported: the leftover deleted, the damaged two moved to
     * the quarantine with their bytes. */
    ck_assert_uint_eq(l.drops, 3);
    uint32_t corrupt = 0, leftover = 0;
    for (uint32_t i = 0; i < l.drops; i++) {
        if (l.reasons[i] == PROD_DISK_POOL_DROP_LEFTOVER) {
            leftover++;
            ck_assert_int_eq(l.fates[i], PROD_DISK_POOL_DELETED);
            ck_assert_str_eq(l.moved_to[i], "");
            continue;
        }
        corrupt++;
        ck_assert_int_eq(l.reasons[i], PROD_DISK_POOL_DROP_CORRUPT);
        ck_assert_int_eq(l.fates[i], PROD_DISK_POOL_QUARANTINED);
        ck_assert(!exists(l.paths[i]));
        ck_assert(strstr(l.moved_to[i], "/quarantine/pool/") != NULL);
        uint8_t *back = NULL;
        size_t len = 0;
        ck_assert_int_eq(prod_durable_read(l.moved_to[i], 1000, &back, &len,
                                           NULL, 0), 0);
        ck_assert_uint_eq(len, strstr(l.moved_to[i], ".push") ? 60 : 100);
        free(back);
    }
    ck_assert_uint_eq(corrupt, 2);
    ck_assert_uint_eq(leftover, 1);
    struct prod_disk_pool_stats st;
    prod_disk_pool_get_stats(p, &st);
    ck_assert_uint_eq(st.dropped[PROD_DISK_POOL_DROP_CORRUPT], 2);
    ck_assert_uint_eq(st.dropped[PROD_DISK_POOL_DROP_LEFTOVER], 1);
    ck_assert_uint_eq(st.quarantined, 2);
    ck_assert_uint_eq(st.left, 0);
    /* Set aside once: the next load finds nothing to drop. */
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_uint_eq(dropped, 0);
    prod_disk_pool_close(p);
    tmpdir_del(d);
}
END_TEST

/* Heights: stored and read back across a reopen (none: 0), the purge
 * height too; purge_below removes the artifacts with 0 < height < the
 * bound and their height files, keeps those without a height or at it,
 * removes a height file whose artifact is gone (a crash between the two
 * writes), and leaves a damaged one (P2P_ERR_DECODE when read). */
START_TEST(pool_heights_persist_and_purge_below)
{
    char *d = tmpdir_new();
    struct prod_disk_pool *p = pool_open(d, 1000);
    struct p2p_artifact_id low = pool_put(p, 1, 10, P2P_KIND_PUSH);
    struct p2p_artifact_id at = pool_put(p, 2, 10, P2P_KIND_ADVERT);
    struct p2p_artifact_id none = pool_put(p, 3, 10, P2P_KIND_PUSH);
    struct p2p_artifact_id orphan;
    uint8_t b[10];
    fill(b, 10, 4);
    p2p_id_of(b, 10, &orphan);
    ck_assert_int_eq(prod_disk_pool_put_height(p, &low, 4), 0);
    ck_assert_int_eq(prod_disk_pool_put_height(p, &at, 5), 0);
    ck_assert_int_eq(prod_disk_pool_put_height(p, &orphan, 1), 0);
    uint64_t h = 99;
    ck_assert_int_eq(prod_disk_pool_get_purge_height(p, &h), 0);
    ck_assert_uint_eq(h, 0);
    ck_assert_int_eq(prod_disk_pool_set_purge_height(p, 5), 0);
    prod_disk_pool_close(p);

    p = pool_open(d, 1000);
    ck_assert_int_eq(prod_disk_pool_get_height(p, &low, &h), 0);
    ck_assert_uint_eq(h, 4);
    ck_assert_int_eq(prod_disk_pool_get_height(p, &none, &h), 0);
    ck_assert_uint_eq(h, 0);
    ck_assert_int_eq(prod_disk_pool_get_purge_height(p, &h), 0);
    ck_assert_uint_eq(h, 5);
    uint64_t removed = 0;
    ck_assert_int_eq(prod_disk_pool_purge_below(p, 5, &removed), 0);
    ck_assert_uint_eq(removed, 1);
    char path[PROD_DURABLE_PATH_MAX];
    pool_path(d, &low, ".push", path);
    ck_assert(!exists(path));
    pool_path(d, &at, ".advert", path);
    ck_assert(exists(path));
    pool_path(d, &none, ".push", path);
    ck_assert(exists(path));
    ck_assert_int_eq(prod_disk_pool_get_height(p, &low, &h), 0);
    ck_assert_uint_eq(h, 0); /* its height file went too */
    ck_assert_int_eq(prod_disk_pool_get_height(p, &orphan, &h), 0);
    ck_assert_uint_eq(h, 0);
    ck_assert_int_eq(prod_durable_path(path, "%s/" PROD_DISK_POOL_HEIGHTS_DIR,
                                       d),
                     0);
    ck_assert_uint_eq(count_entries(path), 2); /* at's and the purge height */
    /* A damaged height file. */
    char hex[65];
    p2p_id_hex(&none, hex, 64);
    ck_assert_int_eq(prod_durable_path(path,
                                       "%s/" PROD_DISK_POOL_HEIGHTS_DIR "/%s",
                                       d, hex),
                     0);
    write_raw(path, (const uint8_t *)"x1\n", 3);
    ck_assert_int_eq(prod_disk_pool_get_height(p, &none, &h), P2P_ERR_DECODE);
    ck_assert_int_eq(prod_disk_pool_purge_below(p, 100, &removed), 0);
    ck_assert_uint_eq(removed, 1); /* at */
    ck_assert(exists(path));
    pool_path(d, &none, ".push", path);
    ck_assert(exists(path));
    prod_disk_pool_close(p);
    tmpdir_del(d);
}
END_TEST

START_TEST(pool_remove_kind_change_and_limits)
{
    char *d = tmpdir_new();
    struct prod_disk_pool *p = pool_open(d, 100);
    struct p2p_artifact_id a = pool_put(p, 1, 100, P2P_KIND_PUSH); /* at limit */
    uint8_t b[101];
    fill(b, 101, 9);
    struct p2p_artifact_id big;
    p2p_id_of(b, 101, &big);
    ck_assert_int_eq(prod_disk_pool_put(p, &big, P2P_KIND_PUSH, b, 101),
                     P2P_ERR_OVERSIZE);
    ck_assert_int_eq(prod_disk_pool_put(p, &a, P2P_KIND_PUSH, b, 50),
                     P2P_ERR_ID_MISMATCH);
    ck_assert_int_eq(prod_disk_pool_put(p, &a, P2P_KINDS_COUNT, b, 50),
                     P2P_ERR_INVALID_ARG);
    /* The same id again, as an advert: one file, of the new kind. */
    pool_put(p, 1, 100, P2P_KIND_ADVERT);
    char path[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(path, "%s/pool", d), 0);
    ck_assert_uint_eq(count_entries(path), 1);
    struct loaded l = {0};
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, NULL), 0);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_int_eq(l.kinds[0], P2P_KIND_ADVERT);
    /* Both kinds on disk (a crash inside a put): the advert wins. */
    pool_path(d, &a, ".push", path);
    fill(b, 100, 1);
    write_raw(path, b, 100);
    uint32_t dropped = 0;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_int_eq(l.kinds[0], P2P_KIND_ADVERT);
    ck_assert_uint_eq(dropped, 1);
    ck_assert(!exists(path));

    ck_assert_int_eq(prod_disk_pool_remove(p, &a), 0);
    ck_assert_int_eq(prod_disk_pool_remove(p, &a), P2P_ERR_NOT_FOUND);
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, NULL), 0);
    ck_assert_uint_eq(l.count, 0);
    prod_disk_pool_close(p);
    tmpdir_del(d);
}
END_TEST

START_TEST(pool_files_above_the_limit_are_quarantined_once)
{
    char *d = tmpdir_new();
    struct prod_disk_pool *p = pool_open(d, 100);
    struct p2p_artifact_id big = pool_put(p, 1, 100, P2P_KIND_PUSH);
    pool_put(p, 2, 50, P2P_KIND_PUSH);
    prod_disk_pool_close(p);
    /* A lower limit: the larger file is set aside, never read, not lost. */
    p = pool_open(d, 50);
    struct loaded l = {0};
    uint32_t dropped = 0;
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_uint_eq(l.lens[0], 50);
    ck_assert_uint_eq(dropped, 1);
    ck_assert_uint_eq(l.drops, 1);
    ck_assert_int_eq(l.reasons[0], PROD_DISK_POOL_DROP_OVERSIZE);
    ck_assert_int_eq(l.fates[0], PROD_DISK_POOL_QUARANTINED);
    char path[PROD_DURABLE_PATH_MAX], q[PROD_DURABLE_PATH_MAX];
    pool_path(d, &big, ".push", path);
    ck_assert_str_eq(l.paths[0], path);
    char h[65];
    p2p_id_hex(&big, h, 64);
    ck_assert_int_eq(prod_durable_path(q, "%s/quarantine/pool/%s.push", d, h), 0);
    ck_assert_str_eq(l.moved_to[0], q);
    ck_assert(!exists(path));
    /* Not counted again at the next start. */
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_uint_eq(dropped, 0);
    prod_disk_pool_close(p);
    /* Restored by hand with a higher limit: loaded again. */
    ck_assert_int_eq(rename(q, path), 0);
    p = pool_open(d, 100);
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 2);
    ck_assert_uint_eq(dropped, 0);
    prod_disk_pool_close(p);
    struct prod_disk_pool *bad = NULL;
    ck_assert_int_eq(prod_disk_pool_open(d, 0, &bad, NULL, 0), P2P_ERR_INVALID_ARG);
    tmpdir_del(d);
}
END_TEST

/* A symbolic link named like an artifact is never followed, even to the
 * artifact's very bytes (or to /etc/passwd): moved to the quarantine as a
 * link, its target untouched. */
START_TEST(pool_symbolic_links_are_never_followed)
{
    char *d = tmpdir_new();
    struct prod_disk_pool *p = pool_open(d, 1000);
    uint8_t b[100];
    fill(b, 100, 5);
    struct p2p_artifact_id id;
    p2p_id_of(b, 100, &id);
    char target[PROD_DURABLE_PATH_MAX], link_path[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(target, "%s/outside", d), 0);
    write_raw(target, b, 100);
    pool_path(d, &id, ".push", link_path);
    ck_assert_int_eq(symlink(target, link_path), 0);
    struct p2p_artifact_id other = id;
    other.b[0] ^= 1;
    char other_path[PROD_DURABLE_PATH_MAX];
    pool_path(d, &other, ".advert", other_path);
    ck_assert_int_eq(symlink("/etc/passwd", other_path), 0);
    pool_path(d, &other, ".push.tmp", other_path);
    ck_assert_int_eq(symlink("/nonexistent", other_path), 0); /* dangling */

    struct loaded l = {0};
    uint32_t dropped = 0;
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 0);
    ck_assert_uint_eq(dropped, 3);
    ck_assert_uint_eq(l.drops, 3);
    for (uint32_t i = 0; i < l.drops; i++) {
        ck_assert_int_eq(l.reasons[i], PROD_DISK_POOL_DROP_NOT_REGULAR);
        ck_assert_int_eq(l.fates[i], PROD_DISK_POOL_QUARANTINED);
        struct stat st;
        ck_assert_int_eq(lstat(l.moved_to[i], &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
    }
    uint8_t *back = NULL;
    size_t len = 0;
    ck_assert_int_eq(prod_durable_read(target, 1000, &back, &len, NULL, 0), 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(memcmp(back, b, 100), 0);
    free(back);
    /* Reads refuse a link too. */
    char err[256] = "";
    ck_assert_int_eq(prod_durable_read(l.moved_to[0], 1000, &back, &len, err,
                                       sizeof(err)), P2P_ERR_READ);
    ck_assert(strstr(err, "not a regular file") != NULL);
    ck_assert_int_eq(prod_durable_path(target, "%s/pool", d), 0);
    ck_assert_uint_eq(count_entries(target), 0);
    prod_disk_pool_close(p);
    tmpdir_del(d);
}
END_TEST

/* A folder or a FIFO named like an artifact: quarantined (never opened for
 * reading, so a FIFO does not block the load), not found again. */
START_TEST(pool_folders_and_fifos_named_like_artifacts_are_quarantined)
{
    char *d = tmpdir_new();
    struct prod_disk_pool *p = pool_open(d, 1000);
    struct p2p_artifact_id good = pool_put(p, 1, 100, P2P_KIND_PUSH);
    struct p2p_artifact_id a = good, f = good;
    a.b[31] ^= 1;
    f.b[31] ^= 2;
    char dir[PROD_DURABLE_PATH_MAX], inner[PROD_DURABLE_PATH_MAX];
    char fifo[PROD_DURABLE_PATH_MAX];
    pool_path(d, &a, ".advert", dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(prod_durable_path(inner, "%s/kept", dir), 0);
    write_raw(inner, "bytes", 5);
    pool_path(d, &f, ".push", fifo);
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);

    struct loaded l = {0};
    uint32_t dropped = 0;
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 1);
    ck_assert(p2p_id_eq(&l.ids[0], &good));
    ck_assert_uint_eq(dropped, 2);
    for (uint32_t i = 0; i < l.drops; i++) {
        ck_assert_int_eq(l.reasons[i], PROD_DISK_POOL_DROP_NOT_REGULAR);
        ck_assert_int_eq(l.fates[i], PROD_DISK_POOL_QUARANTINED);
        ck_assert(!exists(l.paths[i]));
        ck_assert(exists(l.moved_to[i]));
    }
    /* The folder moved whole. */
    char moved[PROD_DURABLE_PATH_MAX];
    char h[65];
    p2p_id_hex(&a, h, 64);
    ck_assert_int_eq(prod_durable_path(moved, "%s/quarantine/pool/%s.advert/kept",
                                       d, h), 0);
    ck_assert(exists(moved));
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, &dropped), 0);
    ck_assert_uint_eq(l.count, 1);
    ck_assert_uint_eq(dropped, 0);
    struct prod_disk_pool_stats st;
    prod_disk_pool_get_stats(p, &st);
    ck_assert_uint_eq(st.dropped[PROD_DISK_POOL_DROP_NOT_REGULAR], 2);
    ck_assert_uint_eq(st.quarantined, 2);
    prod_disk_pool_close(p);
    tmpdir_del(d);
}
END_TEST

/* The same name damaged again and again: NAME, NAME.1 .. in the
 * quarantine, then deleted once PROD_DISK_POOL_QUARANTINE_COPIES_MAX are
 * kept; a folder with every name taken stays in place, reported as such. */
START_TEST(pool_quarantine_keeps_a_bounded_number_of_copies)
{
    char *d = tmpdir_new();
    struct prod_disk_pool *p = pool_open(d, 1000);
    uint8_t b[100];
    fill(b, 100, 8);
    struct p2p_artifact_id id;
    p2p_id_of(b, 100, &id);
    char path[PROD_DURABLE_PATH_MAX];
    pool_path(d, &id, ".push", path);
    for (unsigned i = 0; i <= PROD_DISK_POOL_QUARANTINE_COPIES_MAX; i++) {
        write_raw(path, b, 50 + i); /* torn */
        struct loaded l = {0};
        ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, NULL), 0);
        ck_assert_uint_eq(l.drops, 1);
        ck_assert_int_eq(l.reasons[0], PROD_DISK_POOL_DROP_CORRUPT);
        ck_assert_int_eq(l.fates[0], i < PROD_DISK_POOL_QUARANTINE_COPIES_MAX
                                         ? PROD_DISK_POOL_QUARANTINED
                                         : PROD_DISK_POOL_DELETED);
        ck_assert(!exists(path));
    }
    char q[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(q, "%s/quarantine/pool", d), 0);
    ck_assert_uint_eq(count_entries(q), PROD_DISK_POOL_QUARANTINE_COPIES_MAX);
    /* A folder: left where it is when every name is taken. */
    ck_assert_int_eq(mkdir(path, 0755), 0);
    struct loaded l = {0};
    ck_assert_int_eq(prod_disk_pool_load(p, on_artifact, on_drop, &l, NULL), 0);
    ck_assert_uint_eq(l.drops, 1);
    ck_assert_int_eq(l.fates[0], PROD_DISK_POOL_LEFT);
    ck_assert(exists(path));
    struct prod_disk_pool_stats st;
    prod_disk_pool_get_stats(p, &st);
    ck_assert_uint_eq(st.quarantined, PROD_DISK_POOL_QUARANTINE_COPIES_MAX);
    ck_assert_uint_eq(st.left, 1);
    ck_assert_uint_eq(st.dropped[PROD_DISK_POOL_DROP_CORRUPT],
                      PROD_DISK_POOL_QUARANTINE_COPIES_MAX + 1);
    ck_assert_str_eq(prod_disk_pool_drop_reason_name(PROD_DISK_POOL_DROP_OVERSIZE),
                     "oversize");
    prod_disk_pool_close(p);
    tmpdir_del(d);
}
END_TEST

/* ---- the data directory's lock ------------------------------------------ */

/* One holder at a time, even within one process (flock locks belong to
 * open files): the second is refused with the directory and the holder's
 * pid named, and changes nothing; a holder's death (SIGKILL) frees it. */
START_TEST(durable_lock_is_exclusive_and_names_the_holder)
{
    char *d = tmpdir_new();
    char data[PROD_DURABLE_PATH_MAX], lock[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(data, "%s/data", d), 0);
    ck_assert_int_eq(prod_durable_path(lock, "%s/lock", data), 0);
    int fd = -1, fd2 = -1;
    char err[1024] = "";
    ck_assert_int_eq(prod_durable_lock(data, &fd, err, sizeof(err)), 0);
    ck_assert_int_ge(fd, 0);
    uint8_t *b = NULL;
    size_t len = 0;
    ck_assert_int_eq(prod_durable_read(lock, 64, &b, &len, NULL, 0), 0);
    char want[32];
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_int_eq(memcmp(b, want, len), 0);
    free(b);
    struct stat before, after;
    ck_assert_int_eq(stat(lock, &before), 0);
    ck_assert_int_eq(prod_durable_lock(data, &fd2, err, sizeof(err)),
                     P2P_ERR_STATE);
    ck_assert_int_eq(fd2, -1);
    ck_assert_msg(strstr(err, data) != NULL, "%s", err);
    snprintf(want, sizeof(want), "pid %ld", (long)getpid());
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    ck_assert_int_eq(stat(lock, &after), 0);
    ck_assert_int_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    ck_assert_int_eq(before.st_size, after.st_size);
    prod_durable_unlock(fd);
    ck_assert_int_eq(prod_durable_lock(data, &fd, err, sizeof(err)), 0);
    prod_durable_unlock(fd);

    /* Another process holds it until it is killed. */
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        int cfd = -1;
        char c = prod_durable_lock(data, &cfd, NULL, 0) == 0 ? 'y' : 'n';
        (void)!write(ready[1], &c, 1);
        for (;;)
            pause();
    }
    char c = 0;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    ck_assert_int_eq(prod_durable_lock(data, &fd, err, sizeof(err)),
                     P2P_ERR_STATE);
    snprintf(want, sizeof(want), "pid %ld", (long)child);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    ck_assert_int_eq(prod_durable_lock(data, &fd, err, sizeof(err)), 0);
    prod_durable_unlock(fd);
    close(ready[0]);
    close(ready[1]);

    /* A lock file that is a link is refused, not followed. */
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(symlink("/etc/passwd", lock), 0);
    ck_assert_int_eq(prod_durable_lock(data, &fd, err, sizeof(err)),
                     P2P_ERR_WRITE);
    tmpdir_del(d);
}
END_TEST

/* ---- the data directory's /metrics families ------------------------------ */

static const char *const DISK_FAMILIES[] = {
    "p2p_replica_artifacts_persisted_total",
    "p2p_replica_artifact_persist_failures_total",
    "p2p_replica_pool_files_dropped_total",
    "p2p_replica_pool_files_quarantined_total",
    "p2p_replica_pool_files_left_total",
    "p2p_replica_bodies_fetched_into_files_total",
    "p2p_replica_body_file_failures_total",
    "p2p_replica_body_files_open",
    "p2p_replica_state_checkpoints_made_total",
    "p2p_replica_state_syncs_completed_total",
    "p2p_replica_state_complete_errors_total",
    "p2p_replica_state_chunks_linked_total",
    "p2p_replica_state_chunks_corrupt_total",
    "p2p_replica_state_dropped_at_open_total",
    "p2p_replica_state_checkpoints_pruned_total",
    "p2p_replica_state_checkpoint_height",
};

/* Every family with HELP and TYPE, every value where it belongs, and (when
 * promtool is installed) a text promtool accepts without a lint. */
START_TEST(disk_metrics_families)
{
    struct prod_disk_metrics m = {
        .artifacts_persisted = 11, .persist_failures = 12,
        .state_height = 13,
        .pool = {.dropped = {1, 2, 3, 4, 5}, .quarantined = 6, .left = 7,
                 .bodies_in_files = 8, .body_file_failures = 9,
                 .body_files_open = 10},
        .state = {.checkpoints_made = 21, .syncs_completed = 22,
                  .complete_errors = 23, .chunks_linked = 24,
                  .chunks_corrupt = 25, .dropped_at_open = 26, .pruned = 27},
    };
    char buf[16384];
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, buf, sizeof(buf));
    prod_disk_metrics_write(&t, &m);
    size_t len = 0;
    ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
    for (size_t i = 0; i < sizeof(DISK_FAMILIES) / sizeof(DISK_FAMILIES[0]);
         i++) {
        char line[160];
        snprintf(line, sizeof(line), "# HELP %s ", DISK_FAMILIES[i]);
        ck_assert_msg(strstr(buf, line) != NULL, "%s", line);
        snprintf(line, sizeof(line), "# TYPE %s %s\n", DISK_FAMILIES[i],
                 strstr(DISK_FAMILIES[i], "_total") ? "counter" : "gauge");
        ck_assert_msg(strstr(buf, line) != NULL, "%s", line);
    }
    static const char *const samples[] = {
        "\np2p_replica_artifacts_persisted_total 11\n",
        "\np2p_replica_artifact_persist_failures_total 12\n",
        "\np2p_replica_pool_files_dropped_total{reason=\"leftover\"} 1\n",
        "\np2p_replica_pool_files_dropped_total{reason=\"duplicate\"} 2\n",
        "\np2p_replica_pool_files_dropped_total{reason=\"not_regular\"} 3\n",
        "\np2p_replica_pool_files_dropped_total{reason=\"oversize\"} 4\n",
        "\np2p_replica_pool_files_dropped_total{reason=\"corrupt\"} 5\n",
        "\np2p_replica_pool_files_quarantined_total 6\n",
        "\np2p_replica_pool_files_left_total 7\n",
        "\np2p_replica_bodies_fetched_into_files_total 8\n",
        "\np2p_replica_body_file_failures_total 9\n",
        "\np2p_replica_body_files_open 10\n",
        "\np2p_replica_state_checkpoints_made_total 21\n",
        "\np2p_replica_state_syncs_completed_total 22\n",
        "\np2p_replica_state_complete_errors_total 23\n",
        "\np2p_replica_state_chunks_linked_total 24\n",
        "\np2p_replica_state_chunks_corrupt_total 25\n",
        "\np2p_replica_state_dropped_at_open_total 26\n",
        "\np2p_replica_state_checkpoints_pruned_total 27\n",
        "\np2p_replica_state_checkpoint_height 13\n",
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        ck_assert_msg(strstr(buf, samples[i]) != NULL, "%s", samples[i]);
    /* Too small a buffer: the size needed, as every writer reports it. */
    struct p2p_metrics_text small;
    p2p_metrics_text_init(&small, buf, 10);
    prod_disk_metrics_write(&small, &m);
    size_t need = 0;
    ck_assert_int_eq(p2p_metrics_text_finish(&small, &need), P2P_ERR_LIMIT);
    ck_assert_uint_eq(need, len);
    /* promtool, when installed. */
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        printf("NOTICE: promtool not found; disk metrics not checked by it\n");
        return;
    }
    p2p_metrics_text_init(&t, buf, sizeof(buf));
    prod_disk_metrics_write(&t, &m);
    ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
    char in[] = "/tmp/test_prod_disk_metrics_XXXXXX";
    int fd = mkstemp(in);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", in);
    int st = system(cmd);
    unlink(in);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "promtool rejected the disk families (status %d)", st);
}
END_TEST

/* ---- state -------------------------------------------------------------- */

static struct prod_disk_state *state_open(const char *dir, uint32_t keep)
{
    struct prod_disk_state *s = NULL;
    char err[512] = "";
    int rc = prod_disk_state_open(dir, keep, NULL, NULL, &s, err, sizeof(err));
    ck_assert_msg(rc == 0, "open: %s", err);
    return s;
}

static const struct p2p_state_store_ops *OPS;

/* A checkpoint of len bytes from seed (chunks of chunk bytes). */
static uint64_t checkpoint(struct prod_disk_state *s, const uint8_t *bytes,
                           size_t len, uint32_t chunk,
                           struct p2p_state_hash *root)
{
    uint64_t h = 0;
    struct p2p_state_hash r;
    ck_assert_int_eq(prod_disk_state_checkpoint(s, bytes, len, chunk, &h,
                                                root != NULL ? root : &r), 0);
    return h;
}

/* Reads back every chunk of the checkpoint (height, root) through the ops
 * and compares it with bytes. */
static void check_ckpt(struct prod_disk_state *s, uint64_t height,
                       const struct p2p_state_hash *root, const uint8_t *bytes,
                       size_t len)
{
    const struct p2p_state_manifest *m = OPS->manifest(s, height, root);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->height, height);
    ck_assert_uint_eq(m->total_bytes, len);
    ck_assert_int_eq(p2p_state_manifest_verify(m, root), 0);
    uint32_t count = m->chunks_count, chunk = m->chunk_bytes;
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *b = NULL;
        size_t n = 0;
        ck_assert_int_eq(OPS->chunk(s, height, root, i, &b, &n), 0);
        ck_assert_uint_le(n, chunk);
        ck_assert_mem_eq(b, bytes + off, n);
        off += n;
    }
    ck_assert_uint_eq(off, len);
    const uint8_t *b;
    size_t n;
    ck_assert_int_eq(OPS->chunk(s, height, root, count, &b, &n),
                     P2P_ERR_NOT_FOUND);
}

static void check_latest(struct prod_disk_state *s, uint64_t height,
                         const struct p2p_state_hash *root)
{
    struct p2p_state_hash r;
    const struct p2p_state_manifest *m = OPS->latest(s, &r);
    ck_assert_ptr_nonnull(m);
    ck_assert(p2p_state_hash_eq(&r, root));
    ck_assert_uint_eq(m->height, height);
    uint64_t h;
    prod_disk_state_latest_info(s, &h, &r, NULL, NULL);
    ck_assert_uint_eq(h, height);
    ck_assert(p2p_state_hash_eq(&r, root));
}

START_TEST(state_checkpoint_survives_reopen)
{
    char *d = tmpdir_new();
    struct prod_disk_state *s = state_open(d, 4);
    struct p2p_state_hash root;
    uint64_t h;
    prod_disk_state_latest_info(s, &h, &root, NULL, NULL);
    ck_assert_uint_eq(h, 0);
    ck_assert_ptr_null(OPS->latest(s, &root));
    uint8_t bytes[10000];
    fill(bytes, sizeof(bytes), 5);
    ck_assert_uint_eq(checkpoint(s, bytes, sizeof(bytes), 1024, &root), 1);
    check_latest(s, 1, &root);
    check_ckpt(s, 1, &root, bytes, sizeof(bytes));
    uint32_t chunks;
    uint64_t total;
    prod_disk_state_latest_info(s, NULL, NULL, &chunks, &total);
    ck_assert_uint_eq(chunks, 10); /* 9 x 1024 + 784 */
    ck_assert_uint_eq(total, 10000);
    /* An empty state is a checkpoint too. */
    struct p2p_state_hash empty;
    ck_assert_uint_eq(checkpoint(s, NULL, 0, 1024, &empty), 2);
    prod_disk_state_close(s);

    s = state_open(d, 4);
    check_latest(s, 2, &empty);
    check_ckpt(s, 1, &root, bytes, sizeof(bytes));
    check_ckpt(s, 2, &empty, NULL, 0);
    ck_assert_ptr_null(OPS->manifest(s, 1, &empty));
    ck_assert_ptr_null(OPS->manifest(s, 3, &root));
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(s, &st);
    ck_assert_uint_eq(st.dropped_at_open, 0);
    /* Bad arguments leave nothing behind. */
    ck_assert_int_eq(prod_disk_state_checkpoint(s, bytes, 10, 0, &h, &root),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(prod_disk_state_checkpoint(s, bytes, 10,
                                                P2P_STATE_CHUNK_BYTES_MAX + 1,
                                                &h, &root),
                     P2P_ERR_OVERSIZE);
    check_latest(s, 2, &empty);
    prod_disk_state_close(s);
    ck_assert_int_eq(prod_disk_state_open(d, 0, NULL, NULL, &s, NULL, 0), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(prod_disk_state_open(d, PROD_DISK_STATE_KEEP_MAX + 1, NULL, NULL, &s,
                                          NULL, 0),
                     P2P_ERR_INVALID_ARG);
    s = state_open(d, PROD_DISK_STATE_KEEP_MAX);
    prod_disk_state_close(s);
    tmpdir_del(d);
}
END_TEST

/* The folder of checkpoint (height, root) under data dir d. */
static void ckpt_dir(const char *d, uint64_t height,
                     const struct p2p_state_hash *root, char *out)
{
    char h[65];
    hex(root, h);
    ck_assert_int_eq(prod_durable_path(out, "%s/state/%" PRIu64 "-%s", d,
                                       height, h), 0);
}

/* A copy of the latest manifest of src (its borrowed one may change). */
static void latest_copy(struct prod_disk_state *src, struct p2p_mem *mem,
                        struct p2p_state_manifest *m,
                        struct p2p_state_hash *root)
{
    const struct p2p_state_manifest *l = OPS->latest(src, root);
    ck_assert_ptr_nonnull(l);
    size_t n = p2p_state_manifest_encoded_len(l);
    uint8_t *b = malloc(n);
    ck_assert_int_eq(p2p_state_manifest_encode(l, b, n), 0);
    p2p_state_manifest_init(m);
    ck_assert_int_eq(p2p_state_manifest_decode(m, mem, MOD, b, n), 0);
    free(b);
}

/* Copies chunks of m from src to dst as core would: those dst lacks, at
 * most `limit` of them (UINT32_MAX: all). Returns how many were put. */
static uint32_t sync_chunks(struct prod_disk_state *src,
                            struct prod_disk_state *dst,
                            const struct p2p_state_manifest *m,
                            const struct p2p_state_hash *root, uint32_t limit)
{
    uint32_t put = 0;
    for (uint32_t i = 0; i < m->chunks_count && put < limit; i++) {
        if (OPS->has_chunk(dst, m, root, i))
            continue;
        const uint8_t *b = NULL;
        size_t n = 0;
        ck_assert_int_eq(OPS->chunk(src, m->height, root, i, &b, &n), 0);
        ck_assert_int_eq(p2p_state_manifest_verify_chunk(m, i, b, n), 0);
        ck_assert_int_eq(OPS->put_chunk(dst, m, root, i, b, n), 0);
        put++;
    }
    return put;
}

START_TEST(state_sync_through_the_ops)
{
    char *da = tmpdir_new(), *db = tmpdir_new();
    struct prod_disk_state *a = state_open(da, 4), *b = state_open(db, 4);
    uint8_t bytes[8192];
    fill(bytes, sizeof(bytes), 1);
    checkpoint(a, bytes, sizeof(bytes), 512, NULL);
    bytes[100] ^= 1;
    struct p2p_state_hash root;
    ck_assert_uint_eq(checkpoint(a, bytes, sizeof(bytes), 512, &root), 2);
    /* The second shares 15 of its 16 chunks with the first: linked. */
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(a, &st);
    ck_assert_uint_eq(st.chunks_linked, 15);

    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    struct p2p_state_hash r;
    latest_copy(a, &mem, &m, &r);
    ck_assert(p2p_state_hash_eq(&r, &root));
    for (uint32_t i = 0; i < m.chunks_count; i++)
        ck_assert(!OPS->has_chunk(b, &m, &root, i));
    ck_assert(!OPS->has_chunk(b, &m, &root, m.chunks_count));
    /* Put errors: index out of range, wrong length. */
    ck_assert_int_eq(OPS->put_chunk(b, &m, &root, m.chunks_count, bytes, 512),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(OPS->put_chunk(b, &m, &root, 0, bytes, 511),
                     P2P_ERR_INVALID_ARG);
    ck_assert_uint_eq(sync_chunks(a, b, &m, &root, UINT32_MAX), 16);
    for (uint32_t i = 0; i < m.chunks_count; i++)
        ck_assert(OPS->has_chunk(b, &m, &root, i));
    ck_assert_ptr_null(OPS->latest(b, &r));
    OPS->complete(b, &m, &root);
    check_latest(b, 2, &root);
    check_ckpt(b, 2, &root, bytes, sizeof(bytes));
    prod_disk_state_get_stats(b, &st);
    ck_assert_uint_eq(st.syncs_completed, 1);
    /* The sync folder became the checkpoint. */
    char path[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(path, "%s/state/sync", db), 0);
    ck_assert_uint_eq(count_entries(path), 0);
    /* A second complete of the same state changes nothing. */
    OPS->complete(b, &m, &root);
    check_latest(b, 2, &root);
    prod_disk_state_close(b);
    b = state_open(db, 4);
    check_latest(b, 2, &root);
    check_ckpt(b, 2, &root, bytes, sizeof(bytes));
    /* A local checkpoint after a synced one continues its heights. */
    ck_assert_uint_eq(checkpoint(b, bytes, 100, 512, NULL), 3);
    ck_assert_str_eq(prod_disk_state_error(b), ""); /* nothing failed */

    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
    prod_disk_state_close(a);
    prod_disk_state_close(b);
    tmpdir_del(da);
    tmpdir_del(db);
}
END_TEST

START_TEST(state_sync_reuses_older_chunks_and_resumes_after_restart)
{
    char *da = tmpdir_new(), *db = tmpdir_new();
    struct prod_disk_state *a = state_open(da, 4), *b = state_open(db, 2);
    uint8_t old[4096], cur[4096];
    fill(old, sizeof(old), 1);
    memcpy(cur, old, sizeof(cur));
    cur[0] ^= 1;    /* chunk 0 differs */
    cur[4000] ^= 1; /* chunk 15 differs */
    struct p2p_state_hash b_old;
    checkpoint(b, old, sizeof(old), 256, &b_old); /* b holds the old state */
    for (int i = 0; i < 4; i++)                 /* a is at height 4 */
        checkpoint(a, i == 3 ? cur : old, sizeof(old), 256, NULL);

    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    struct p2p_state_hash root;
    latest_copy(a, &mem, &m, &root);
    ck_assert_uint_eq(m.height, 4);
    uint32_t held = 0;
    for (uint32_t i = 0; i < m.chunks_count; i++)
        held += OPS->has_chunk(b, &m, &root, i);
    ck_assert_uint_eq(held, 14); /* shared with b's older checkpoint */
    ck_assert(!OPS->has_chunk(b, &m, &root, 0));
    ck_assert(!OPS->has_chunk(b, &m, &root, 15));
    /* One chunk arrives, then the replica restarts. */
    ck_assert_uint_eq(sync_chunks(a, b, &m, &root, 1), 1);
    prod_disk_state_close(b);
    b = state_open(db, 2);
    ck_assert(OPS->has_chunk(b, &m, &root, 0));  /* persisted: resumed */
    ck_assert(!OPS->has_chunk(b, &m, &root, 15));
    ck_assert_uint_eq(sync_chunks(a, b, &m, &root, UINT32_MAX), 1);
    OPS->complete(b, &m, &root);
    check_latest(b, 4, &root);
    check_ckpt(b, 4, &root, cur, sizeof(cur));
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(b, &st);
    ck_assert_uint_eq(st.chunks_linked, 14);
    /* The new folder is self-contained: prune the old one away (keep 2:
     * two more checkpoints) and the synced state still reads whole. */
    ck_assert_ptr_nonnull(OPS->manifest(b, 1, &b_old));
    ck_assert_uint_eq(checkpoint(b, old, 10, 256, NULL), 5);
    ck_assert_ptr_null(OPS->manifest(b, 1, &b_old));
    check_ckpt(b, 4, &root, cur, sizeof(cur));
    prod_disk_state_close(b);
    b = state_open(db, 2);
    check_ckpt(b, 4, &root, cur, sizeof(cur));
    prod_disk_state_close(b);

    p2p_state_manifest_fini(&m);
    prod_disk_state_close(a);
    tmpdir_del(da);
    tmpdir_del(db);
}
END_TEST

START_TEST(state_has_chunk_needs_the_older_file_still_there)
{
    char *da = tmpdir_new(), *db = tmpdir_new();
    struct prod_disk_state *a = state_open(da, 4), *b = state_open(db, 4);
    uint8_t bytes[1024];
    fill(bytes, sizeof(bytes), 12);
    struct p2p_state_hash b1;
    checkpoint(b, bytes, sizeof(bytes), 128, &b1);
    checkpoint(a, bytes, 10, 128, NULL);
    checkpoint(a, bytes, sizeof(bytes), 128, NULL); /* same chunks, height 2 */
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    ckpt_dir(db, 1, &b1, dir);
    ck_assert_int_eq(prod_durable_path(path, "%s/chunk-2", dir), 0);
    ck_assert_int_eq(unlink(path), 0);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    struct p2p_state_hash root;
    latest_copy(a, &mem, &m, &root);
    for (uint32_t i = 0; i < m.chunks_count; i++)
        ck_assert_int_eq(OPS->has_chunk(b, &m, &root, i), i != 2);
    ck_assert_uint_eq(sync_chunks(a, b, &m, &root, UINT32_MAX), 1);
    OPS->complete(b, &m, &root);
    check_latest(b, 2, &root);
    check_ckpt(b, 2, &root, bytes, sizeof(bytes));
    p2p_state_manifest_fini(&m);
    prod_disk_state_close(a);
    prod_disk_state_close(b);
    tmpdir_del(da);
    tmpdir_del(db);
}
END_TEST

START_TEST(state_complete_refuses_a_wrong_root_or_missing_chunks)
{
    char *da = tmpdir_new(), *db = tmpdir_new();
    struct prod_disk_state *a = state_open(da, 4), *b = state_open(db, 4);
    uint8_t bytes[2048];
    fill(bytes, sizeof(bytes), 3);
    checkpoint(a, bytes, sizeof(bytes), 256, NULL);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    struct p2p_state_hash root, bogus = {{1}};
    latest_copy(a, &mem, &m, &root);
    ck_assert_int_eq(OPS->put_chunk(b, &m, &bogus, 0, bytes, 256),
                     P2P_ERR_ID_MISMATCH);
    OPS->complete(b, &m, &bogus);
    ck_assert_uint_eq(sync_chunks(a, b, &m, &root, 3), 3);
    OPS->complete(b, &m, &root); /* 5 chunks missing */
    ck_assert_ptr_null(OPS->latest(b, &root));
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(b, &st);
    ck_assert_uint_eq(st.complete_errors, 2);
    ck_assert_str_ne(prod_disk_state_error(b), "");
    /* What was put stays, and the sync finishes later. */
    ck_assert_uint_eq(sync_chunks(a, b, &m, &root, UINT32_MAX), 5);
    OPS->complete(b, &m, &root);
    check_latest(b, 1, &root);
    p2p_state_manifest_fini(&m);
    prod_disk_state_close(a);
    prod_disk_state_close(b);
    tmpdir_del(da);
    tmpdir_del(db);
}
END_TEST

START_TEST(state_damaged_folders_dropped_at_open)
{
    char *d = tmpdir_new();
    struct prod_disk_state *s = state_open(d, 8);
    uint8_t bytes[1000];
    fill(bytes, sizeof(bytes), 4);
    struct p2p_state_hash r[6];
    for (int i = 0; i < 6; i++) {
        bytes[0] = (uint8_t)i;
        checkpoint(s, bytes, sizeof(bytes), 100, &r[i]);
    }
    prod_disk_state_close(s);
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    /* 6: a corrupt manifest (one flipped byte). */
    ckpt_dir(d, 6, &r[5], dir);
    ck_assert_int_eq(prod_durable_path(path, "%s/manifest", dir), 0);
    uint8_t *b;
    size_t len;
    ck_assert_int_eq(prod_durable_read(path, 1u << 20, &b, &len, NULL, 0), 0);
    b[len - 1] ^= 0x80;
    write_raw(path, b, len);
    free(b);
    /* 5: no manifest (a crash before the commit). */
    ckpt_dir(d, 5, &r[4], dir);
    ck_assert_int_eq(prod_durable_path(path, "%s/manifest", dir), 0);
    ck_assert_int_eq(unlink(path), 0);
    /* 4: a chunk missing; 3: a chunk longer than the manifest says. */
    ckpt_dir(d, 4, &r[3], dir);
    ck_assert_int_eq(prod_durable_path(path, "%s/chunk-9", dir), 0);
    ck_assert_int_eq(unlink(path), 0);
    ckpt_dir(d, 3, &r[2], dir);
    ck_assert_int_eq(prod_durable_path(path, "%s/chunk-2", dir), 0);
    write_raw(path, bytes, 101);
    /* 2: a manifest above P2P_STATE_MANIFEST_BYTES_MAX (sparse: refused
     * by its size before any allocation). */
    ckpt_dir(d, 2, &r[1], dir);
    ck_assert_int_eq(prod_durable_path(path, "%s/manifest", dir), 0);
    ck_assert_int_eq(truncate(path, (off_t)P2P_STATE_MANIFEST_BYTES_MAX + 1), 0);
    /* Strays: a file, a folder with a bad name, a leftover in 1's folder. */
    ck_assert_int_eq(prod_durable_path(path, "%s/state/junk.tmp", d), 0);
    write_raw(path, "x", 1);
    ck_assert_int_eq(prod_durable_path(path, "%s/state/0-%064d", d, 0), 0);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ckpt_dir(d, 1, &r[0], dir);
    ck_assert_int_eq(prod_durable_path(path, "%s/manifest.tmp", dir), 0);
    write_raw(path, "x", 1);

    s = state_open(d, 8);
    check_latest(s, 1, &r[0]);
    fill(bytes, sizeof(bytes), 4);
    bytes[0] = 0;
    check_ckpt(s, 1, &r[0], bytes, sizeof(bytes));
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(s, &st);
    ck_assert_uint_eq(st.dropped_at_open, 5 + 3);
    ck_assert_int_eq(prod_durable_path(path, "%s/state", d), 0);
    ck_assert_uint_eq(count_entries(path), 2); /* 1-<root>, sync */
    ck_assert_uint_eq(count_entries(dir), 1 + 10);
    /* The next checkpoint is height 2 again. */
    ck_assert_uint_eq(checkpoint(s, bytes, 10, 100, NULL), 2);
    prod_disk_state_close(s);
    tmpdir_del(d);
}
END_TEST

/* What a store's drop hook was told. */
#define SEEN_MAX 16
struct seen {
    uint32_t count;
    char paths[SEEN_MAX][512];
    char whys[SEEN_MAX][1024];
};

static void on_state_drop(void *ctx, const char *path, const char *why)
{
    struct seen *w = ctx;
    ck_assert_uint_lt(w->count, SEEN_MAX);
    snprintf(w->paths[w->count], sizeof(w->paths[0]), "%s", path);
    snprintf(w->whys[w->count], sizeof(w->whys[0]), "%s", why);
    w->count++;
}

/* The entry of w whose path is path, or -1. */
static int seen_find(const struct seen *w, const char *path)
{
    for (uint32_t i = 0; i < w->count; i++)
        if (strcmp(w->paths[i], path) == 0)
            return (int)i;
    return -1;
}

/* A corrupt newest checkpoint is dropped with a word to the hook (its
 * path, its height, why) and a count; so are entries named like
 * checkpoints or syncs that are symbolic links, which are removed without
 * being followed (the folder they point to, outside the data directory,
 * is untouched), and a checkpoint whose chunk is a link. */
START_TEST(state_drops_at_open_are_reported_and_links_never_followed)
{
    char *d = tmpdir_new(), *out = tmpdir_new();
    struct prod_disk_state *s = state_open(d, 8);
    uint8_t bytes[1000];
    fill(bytes, sizeof(bytes), 6);
    struct p2p_state_hash r[4];
    for (int i = 0; i < 4; i++) {
        bytes[0] = (uint8_t)i;
        checkpoint(s, bytes, sizeof(bytes), 100, &r[i]);
    }
    prod_disk_state_close(s);
    /* Outside: a copy of checkpoint 3 whose manifest is damaged. */
    char dir2[PROD_DURABLE_PATH_MAX], dir3[PROD_DURABLE_PATH_MAX];
    char path[PROD_DURABLE_PATH_MAX], outside[PROD_DURABLE_PATH_MAX];
    ckpt_dir(d, 3, &r[2], dir2);
    ckpt_dir(d, 4, &r[3], dir3);
    char cmd[3 * PROD_DURABLE_PATH_MAX];
    snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s/copy'", dir2, out);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(prod_durable_path(outside, "%s/copy/manifest", out), 0);
    uint8_t *b;
    size_t len;
    ck_assert_int_eq(prod_durable_read(outside, 1u << 20, &b, &len, NULL, 0), 0);
    b[len - 1] ^= 0x80;
    write_raw(outside, b, len);
    /* 4, the newest: a manifest not its own. */
    ck_assert_int_eq(prod_durable_path(path, "%s/manifest", dir3), 0);
    write_raw(path, b, len); /* not 3's manifest at all */
    free(b);
    /* 3: replaced by a link to the damaged copy outside. */
    ck_assert_int_eq(prod_durable_remove_tree(dir2, "manifest", NULL, 0), 0);
    ck_assert_int_eq(prod_durable_path(path, "%s/copy", out), 0);
    ck_assert_int_eq(symlink(path, dir2), 0);
    /* 2: a chunk that is a link to the same bytes. */
    char dir1[PROD_DURABLE_PATH_MAX], chunk[PROD_DURABLE_PATH_MAX];
    ckpt_dir(d, 2, &r[1], dir1);
    ck_assert_int_eq(prod_durable_path(chunk, "%s/chunk-0", dir1), 0);
    ck_assert_int_eq(prod_durable_path(path, "%s/chunk-0", out), 0);
    ck_assert_int_eq(rename(chunk, path), 0);
    ck_assert_int_eq(symlink(path, chunk), 0);
    /* A sync folder that is a link. */
    char sync_link[PROD_DURABLE_PATH_MAX];
    char hex_root[65];
    hex(&r[3], hex_root);
    ck_assert_int_eq(prod_durable_path(sync_link, "%s/state/sync/%s", d,
                                       hex_root), 0);
    ck_assert_int_eq(symlink(out, sync_link), 0);

    struct seen w = {0};
    char err[512] = "";
    ck_assert_int_eq(prod_disk_state_open(d, 8, on_state_drop, &w, &s, err,
                                          sizeof(err)), 0);
    check_latest(s, 1, &r[0]); /* fell back: and said so */
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(s, &st);
    ck_assert_uint_eq(st.dropped_at_open, 4);
    ck_assert_uint_eq(w.count, 4);
    int i3 = seen_find(&w, dir3), i2 = seen_find(&w, dir2),
        i1 = seen_find(&w, dir1), is = seen_find(&w, sync_link);
    ck_assert_int_ge(i3, 0);
    ck_assert_int_ge(i2, 0);
    ck_assert_int_ge(i1, 0);
    ck_assert_int_ge(is, 0);
    ck_assert_msg(strstr(w.whys[i3], "checkpoint 4 dropped") != NULL, "%s",
                  w.whys[i3]);
    ck_assert_msg(strstr(w.whys[i3], "not the folder's root") != NULL, "%s",
                  w.whys[i3]);
    ck_assert_msg(strstr(w.whys[i2], "not a folder") != NULL, "%s",
                  w.whys[i2]);
    ck_assert_msg(strstr(w.whys[i1], "chunk-0") != NULL, "%s", w.whys[i1]);
    ck_assert_msg(strstr(w.whys[is], "not a folder") != NULL, "%s",
                  w.whys[is]);
    /* Nothing outside was touched; the links are gone. */
    ck_assert(exists(outside));
    ck_assert(exists(path));
    struct stat lst;
    ck_assert_int_ne(lstat(dir2, &lst), 0);
    ck_assert_int_ne(lstat(sync_link, &lst), 0);
    prod_disk_state_close(s);
    tmpdir_del(d);
    tmpdir_del(out);
}
END_TEST

START_TEST(state_chunk_file_damaged_after_open_is_not_served)
{
    char *d = tmpdir_new();
    struct prod_disk_state *s = state_open(d, 4);
    uint8_t bytes[1000];
    fill(bytes, sizeof(bytes), 8);
    struct p2p_state_hash root;
    checkpoint(s, bytes, sizeof(bytes), 100, &root);
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    ckpt_dir(d, 1, &root, dir);
    const uint8_t *b;
    size_t n;
    /* Same size, other bytes. */
    ck_assert_int_eq(prod_durable_path(path, "%s/chunk-3", dir), 0);
    uint8_t bad[100] = {0};
    write_raw(path, bad, 100);
    ck_assert_int_eq(OPS->chunk(s, 1, &root, 3, &b, &n), P2P_ERR_NOT_FOUND);
    /* Longer than the manifest's chunk: refused before it is read. */
    ck_assert_int_eq(prod_durable_path(path, "%s/chunk-4", dir), 0);
    ck_assert_int_eq(truncate(path, 1 << 20), 0);
    ck_assert_int_eq(OPS->chunk(s, 1, &root, 4, &b, &n), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(prod_durable_path(path, "%s/chunk-5", dir), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(OPS->chunk(s, 1, &root, 5, &b, &n), P2P_ERR_NOT_FOUND);
    ck_assert_int_eq(OPS->chunk(s, 1, &root, 6, &b, &n), 0);
    ck_assert_mem_eq(b, bytes + 600, 100);
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(s, &st);
    ck_assert_uint_eq(st.chunks_corrupt, 2);
    prod_disk_state_close(s);
    tmpdir_del(d);
}
END_TEST

START_TEST(state_prune_keeps_keep_heights)
{
    char *d = tmpdir_new();
    struct prod_disk_state *s = state_open(d, 3);
    uint8_t bytes[300];
    struct p2p_state_hash r[6];
    for (int i = 0; i < 6; i++) {
        fill(bytes, sizeof(bytes), 50 + i);
        ck_assert_uint_eq(checkpoint(s, bytes, sizeof(bytes), 100, &r[i]),
                          (uint64_t)i + 1);
    }
    check_latest(s, 6, &r[5]);
    const uint8_t *b;
    size_t n;
    for (int i = 0; i < 6; i++) {
        bool kept = i >= 3;
        ck_assert_int_eq(OPS->manifest(s, i + 1, &r[i]) != NULL, kept);
        ck_assert_int_eq(OPS->chunk(s, i + 1, &r[i], 0, &b, &n),
                         kept ? 0 : P2P_ERR_NOT_FOUND);
    }
    char path[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(path, "%s/state", d), 0);
    ck_assert_uint_eq(count_entries(path), 3 + 1);
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(s, &st);
    ck_assert_uint_eq(st.pruned, 3);
    prod_disk_state_close(s);
    /* A lower keep_heights prunes at open. */
    s = state_open(d, 1);
    check_latest(s, 6, &r[5]);
    ck_assert_ptr_null(OPS->manifest(s, 5, &r[4]));
    ck_assert_uint_eq(count_entries(path), 1 + 1);
    prod_disk_state_close(s);
    tmpdir_del(d);
}
END_TEST

START_TEST(state_sync_folder_rule)
{
    char *da = tmpdir_new(), *db = tmpdir_new();
    struct prod_disk_state *a = state_open(da, 8), *b = state_open(db, 4);
    uint8_t bytes[512];
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m[4];
    struct p2p_state_hash r[4];
    /* a makes heights 1..4; b starts syncing each of them. */
    for (int i = 0; i < 4; i++) {
        fill(bytes, sizeof(bytes), 70 + i);
        checkpoint(a, bytes, sizeof(bytes), 128, NULL);
        latest_copy(a, &mem, &m[i], &r[i]);
        ck_assert_uint_eq(sync_chunks(a, b, &m[i], &r[i], 1), 1);
    }
    /* At most two sync folders: the highest (3 and 4). */
    char path[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(path, "%s/state/sync", db), 0);
    ck_assert_uint_eq(count_entries(path), 2);
    ck_assert(!OPS->has_chunk(b, &m[1], &r[1], 0));
    ck_assert(OPS->has_chunk(b, &m[2], &r[2], 0));
    ck_assert(OPS->has_chunk(b, &m[3], &r[3], 0));
    /* Strays in the sync folder: a bad name, a folder without manifest,
     * a leftover .tmp inside a kept one. */
    char p2[PROD_DURABLE_PATH_MAX], h[65];
    ck_assert_int_eq(prod_durable_path(p2, "%s/zzz", path), 0);
    write_raw(p2, "x", 1);
    hex(&r[0], h);
    ck_assert_int_eq(prod_durable_path(p2, "%s/%s", path, h), 0);
    ck_assert_int_eq(mkdir(p2, 0755), 0);
    hex(&r[3], h);
    ck_assert_int_eq(prod_durable_path(p2, "%s/%s/chunk-1.tmp", path, h), 0);
    write_raw(p2, "x", 1);
    prod_disk_state_close(b);
    b = state_open(db, 4);
    ck_assert_uint_eq(count_entries(path), 2);
    ck_assert(!exists(p2));
    ck_assert(OPS->has_chunk(b, &m[2], &r[2], 0));
    ck_assert(OPS->has_chunk(b, &m[3], &r[3], 0));
    /* Completing 3 drops the sync folders up to height 3, keeps 4's. */
    ck_assert_uint_eq(sync_chunks(a, b, &m[2], &r[2], UINT32_MAX), 3);
    OPS->complete(b, &m[2], &r[2]);
    check_latest(b, 3, &r[2]);
    ck_assert_uint_eq(count_entries(path), 1);
    ck_assert(OPS->has_chunk(b, &m[3], &r[3], 0));
    prod_disk_state_close(b);
    /* A sync folder at or below the latest height is dropped at open:
     * b makes local checkpoints 4 and 5 over 4's sync. */
    b = state_open(db, 4);
    ck_assert_uint_eq(count_entries(path), 1);
    checkpoint(b, bytes, 10, 128, NULL);
    prod_disk_state_close(b);
    b = state_open(db, 4);
    ck_assert_uint_eq(count_entries(path), 0);
    ck_assert(!OPS->has_chunk(b, &m[3], &r[3], 0));
    prod_disk_state_close(b);

    for (int i = 0; i < 4; i++)
        p2p_state_manifest_fini(&m[i]);
    ck_assert_uint_eq(mem.bytes, 0);
    prod_disk_state_close(a);
    tmpdir_del(da);
    tmpdir_del(db);
}
END_TEST

/* ---- SIGKILL ------------------------------------------------------------ */

/* What the writer acknowledges, one record per durable success, through a
 * pipe (records below PIPE_BUF are written whole). */
struct ack {
    uint8_t what;                 /* 'a' artifact, 'c' checkpoint, 's' the
                                     latest checkpoint synced into
                                     DATA/b through the ops */
    uint64_t height;
    struct p2p_artifact_id id;
};

/* The child's sync of src's latest state into dst, as core does it; 0 or
 * an exit code. */
static int writer_sync(struct prod_disk_state *src, struct prod_disk_state *dst,
                       uint64_t *height)
{
    struct p2p_state_hash root;
    const struct p2p_state_manifest *l = OPS->latest(src, &root);
    size_t n = p2p_state_manifest_encoded_len(l);
    uint8_t *enc = malloc(n);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    p2p_state_manifest_init(&m);
    if (enc == NULL || p2p_state_manifest_encode(l, enc, n) != 0 ||
        p2p_state_manifest_decode(&m, &mem, MOD, enc, n) != 0)
        return 6;
    free(enc);
    for (uint32_t i = 0; i < m.chunks_count; i++) {
        const uint8_t *b;
        size_t len;
        if (OPS->has_chunk(dst, &m, &root, i))
            continue;
        if (OPS->chunk(src, m.height, &root, i, &b, &len) != 0 ||
            OPS->put_chunk(dst, &m, &root, i, b, len) != 0)
            return 7;
    }
    OPS->complete(dst, &m, &root);
    *height = m.height;
    p2p_state_manifest_fini(&m);
    struct p2p_state_hash r;
    const struct p2p_state_manifest *got = OPS->latest(dst, &r);
    return got != NULL && p2p_state_hash_eq(&r, &root) ? 0 : 8;
}

/* The child: writes artifacts and checkpoints, and syncs them into a
 * second store, until it is killed. */
static void writer(const char *d, int fd, uint64_t seed)
{
    struct prod_disk_pool *p = NULL;
    struct prod_disk_state *s = NULL, *s2 = NULL;
    char d2[PROD_DURABLE_PATH_MAX];
    if (prod_durable_path(d2, "%s/b", d) != 0 ||
        prod_disk_pool_open(d, 1 << 16, &p, NULL, 0) != 0 ||
        prod_disk_state_open(d, 3, NULL, NULL, &s, NULL, 0) != 0 ||
        prod_disk_state_open(d2, 3, NULL, NULL, &s2, NULL, 0) != 0)
        _exit(3);
    struct p2p_rng rng;
    p2p_rng_init(&rng, seed, 1);
    static uint8_t state[64 * 1024];
    fill(state, sizeof(state), seed);
    for (uint64_t i = 0;; i++) {
        uint8_t body[4096];
        size_t len = 1 + p2p_rng_u32(&rng) % sizeof(body);
        fill(body, len, seed * 1000003u + i);
        struct ack a = {.what = 'a'};
        p2p_id_of(body, len, &a.id);
        if (prod_disk_pool_put(p, &a.id, p2p_rng_u32(&rng) % 2, body, len) != 0 ||
            write(fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
            _exit(4);
        if (i % 4 != 0)
            continue;
        /* A new state: a few chunks changed, most shared (linked). */
        for (int k = 0; k < 3; k++)
            state[p2p_rng_u32(&rng) % sizeof(state)] ^= 0xff;
        struct ack c = {.what = 'c'};
        struct p2p_state_hash root;
        if (prod_disk_state_checkpoint(s, state, sizeof(state), 4096,
                                       &c.height, &root) != 0 ||
            write(fd, &c, sizeof(c)) != (ssize_t)sizeof(c))
            _exit(5);
        struct ack y = {.what = 's'};
        int rc = writer_sync(s, s2, &y.height);
        if (rc != 0)
            _exit(rc);
        if (write(fd, &y, sizeof(y)) != (ssize_t)sizeof(y))
            _exit(5);
    }
}

static void check_state_after_kill(const char *d, uint64_t acked_height,
                                   uint64_t *dropped_total);

/* What a load walk found (every artifact checked against its id). */
struct collected {
    struct p2p_artifact_id *ids;
    uint32_t count;
};

static int collect(void *ctx, const struct p2p_artifact_id *id,
                   enum p2p_artifact_kind kind, struct p2p_body *b)
{
    const uint8_t *body = b->bytes;
    size_t len = b->len;
    struct collected *c = ctx;
    struct p2p_artifact_id got;
    p2p_id_of(body, len, &got);
    ck_assert(p2p_id_eq(&got, id));
    c->ids = realloc(c->ids, (c->count + 1) * sizeof(*c->ids));
    c->ids[c->count++] = *id;
    return 0;
}

/* Every acknowledged artifact loaded, every loaded one whole, no file left
 * that is not loaded; the latest checkpoint at least the last acknowledged
 * and its every chunk readable and matching. */
static void check_after_kill(const char *d, const struct ack *acks, size_t n,
                             uint64_t *dropped_total)
{
    struct prod_disk_pool *p = pool_open(d, 1 << 16);
    struct collected c = {0};
    uint32_t dropped = 0;
    ck_assert_int_eq(prod_disk_pool_load(p, collect, NULL, &c, &dropped), 0);
    char path[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(path, "%s/pool", d), 0);
    ck_assert_uint_eq(count_entries(path), c.count);
    *dropped_total += dropped;
    uint64_t acked_height = 0, synced_height = 0;
    for (size_t i = 0; i < n; i++) {
        if (acks[i].what != 'a') {
            if (acks[i].what == 'c')
                acked_height = acks[i].height;
            else
                synced_height = acks[i].height;
            continue;
        }
        bool found = false;
        for (uint32_t j = 0; j < c.count && !found; j++)
            found = p2p_id_eq(&c.ids[j], &acks[i].id);
        ck_assert_msg(found, "acknowledged artifact %zu lost", i);
    }
    free(c.ids);
    prod_disk_pool_close(p);

    check_state_after_kill(d, acked_height, dropped_total);
    char d2[PROD_DURABLE_PATH_MAX];
    ck_assert_int_eq(prod_durable_path(d2, "%s/b", d), 0);
    check_state_after_kill(d2, synced_height, dropped_total);
    ck_assert_int_eq(prod_durable_path(path, "%s/b/state/sync", d), 0);
    ck_assert_uint_le(count_entries(path), PROD_DISK_STATE_SYNCS_MAX);
}

/* The latest checkpoint under d: at least acked_height, every chunk whole. */
static void check_state_after_kill(const char *d, uint64_t acked_height,
                                   uint64_t *dropped_total)
{
    struct prod_disk_state *s = state_open(d, 3);
    struct p2p_state_hash root;
    const struct p2p_state_manifest *m = OPS->latest(s, &root);
    ck_assert(acked_height == 0 || m != NULL);
    if (m != NULL) {
        ck_assert_uint_ge(m->height, acked_height);
        ck_assert_int_eq(p2p_state_manifest_verify(m, &root), 0);
        uint64_t height = m->height;
        uint32_t chunks = m->chunks_count;
        for (uint32_t i = 0; i < chunks; i++) {
            const uint8_t *b;
            size_t len;
            ck_assert_int_eq(OPS->chunk(s, height, &root, i, &b, &len), 0);
            m = OPS->manifest(s, height, &root);
            ck_assert_int_eq(p2p_state_manifest_verify_chunk(m, i, b, len), 0);
        }
    }
    struct prod_disk_state_stats st;
    prod_disk_state_get_stats(s, &st);
    *dropped_total += st.dropped_at_open;
    prod_disk_state_close(s);
}

START_TEST(sigkill_at_random_moments_loses_nothing_acknowledged)
{
    char *d = tmpdir_new();
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("P2P_DISK_SEED");
    if (env != NULL)
        seed = strtoull(env, NULL, 10);
    int rounds = 10; /* P2P_DISK_ROUNDS=1000 for a soak */
    env = getenv("P2P_DISK_ROUNDS");
    if (env != NULL)
        rounds = atoi(env);
    fprintf(stderr, "sigkill test: P2P_DISK_SEED=%" PRIu64 "\n", seed);
    struct p2p_rng rng;
    p2p_rng_init(&rng, seed, 2);
    struct ack *acks = NULL;
    size_t acks_count = 0;
    uint64_t dropped = 0;
    for (int round = 0; round < rounds; round++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            writer(d, fds[1], seed + (uint64_t)round);
        }
        close(fds[1]);
        /* Read acknowledgements while the child runs, then kill it. */
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint64_t run_ns = 2000000ull + p2p_rng_u32(&rng) % 80000000u;
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
        for (;;) {
            struct ack a;
            ssize_t r = read(fds[0], &a, sizeof(a));
            if (r == (ssize_t)sizeof(a)) {
                acks = realloc(acks, (acks_count + 1) * sizeof(*acks));
                acks[acks_count++] = a;
                continue;
            }
            if (r == 0)
                break; /* the writer ended on its own: reported below */
            ck_assert(r < 0 && errno == EAGAIN); /* whole records only */
            clock_gettime(CLOCK_MONOTONIC, &now);
            uint64_t el = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000000000ull +
                          (uint64_t)now.tv_nsec - (uint64_t)t0.tv_nsec;
            if (el >= run_ns)
                break;
            usleep(200);
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "the writer failed on its own (status %d)", status);
        /* Acknowledgements written before the kill. */
        fcntl(fds[0], F_SETFL, 0);
        struct ack a;
        while (read(fds[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) {
            acks = realloc(acks, (acks_count + 1) * sizeof(*acks));
            acks[acks_count++] = a;
        }
        close(fds[0]);
        check_after_kill(d, acks, acks_count, &dropped);
    }
    ck_assert_uint_gt(acks_count, 0);
    size_t ckpts = 0;
    size_t syncs = 0;
    for (size_t i = 0; i < acks_count; i++) {
        ckpts += acks[i].what == 'c';
        syncs += acks[i].what == 's';
    }
    fprintf(stderr, "sigkill test: %zu artifacts, %zu checkpoints, %zu "
            "syncs acknowledged; %" PRIu64 " torn files or folders "
            "dropped\n", acks_count - ckpts - syncs, ckpts, syncs, dropped);
    free(acks);
    tmpdir_del(d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("prod_disk");
    TCase *t = tcase_create("durable");
    tcase_add_test(t, durable_write_leaves_no_tmp_and_reads_are_capped);
    suite_add_tcase(s, t);
    t = tcase_create("pool");
    tcase_add_test(t, pool_round_trip_in_name_order);
    tcase_add_test(t, pool_torn_corrupt_and_tmp_files_dropped_at_load);
    tcase_add_test(t, pool_remove_kind_change_and_limits);
    tcase_add_test(t, pool_heights_persist_and_purge_below);
    tcase_add_test(t, pool_files_above_the_limit_are_quarantined_once);
    tcase_add_test(t, pool_symbolic_links_are_never_followed);
    tcase_add_test(t, pool_folders_and_fifos_named_like_artifacts_are_quarantined);
    tcase_add_test(t, pool_quarantine_keeps_a_bounded_number_of_copies);
    tcase_add_test(t, durable_lock_is_exclusive_and_names_the_holder);
    tcase_add_test(t, disk_metrics_families);
    suite_add_tcase(s, t);
    t = tcase_create("state");
    tcase_add_test(t, state_checkpoint_survives_reopen);
    tcase_add_test(t, state_sync_through_the_ops);
    tcase_add_test(t, state_sync_reuses_older_chunks_and_resumes_after_restart);
    tcase_add_test(t, state_has_chunk_needs_the_older_file_still_there);
    tcase_add_test(t, state_complete_refuses_a_wrong_root_or_missing_chunks);
    tcase_add_test(t, state_damaged_folders_dropped_at_open);
    tcase_add_test(t, state_drops_at_open_are_reported_and_links_never_followed);
    tcase_add_test(t, state_chunk_file_damaged_after_open_is_not_served);
    tcase_add_test(t, state_prune_keeps_keep_heights);
    tcase_add_test(t, state_sync_folder_rule);
    suite_add_tcase(s, t);
    t = tcase_create("crash");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, sigkill_at_random_moments_loses_nothing_acknowledged);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    OPS = prod_disk_state_ops();
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
