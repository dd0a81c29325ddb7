/* State checkpoints on disk (prod/disk_state.h): core's state store over
 * DATA/state, crash-safe by ordering (chunks, then the manifest or the
 * folder rename that commits them). */
#include "prod/disk_state.h"

#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/errmsg.h"
#include "conf/hex.h"
#include "core/assert.h"
#include "core/err.h"
#include "core/keymap.h"
#include "prod/durable.h"

#define MOD P2P_MEM_STATE_SYNC
#define HEX_CHARS (2 * P2P_STATE_HASH_BYTES)
#define MANIFEST_NAME "manifest"
#define SYNC_NAME "sync"
/* Room a data_dir must leave in a path for
 * "/state/sync/<64 hex>/chunk-<10 digits>.tmp". */
#define PATH_ROOM 128
/* Entries listed in DATA/state or DATA/state/sync at open: far above what
 * the store ever leaves there (keep_heights + a few strays). */
#define STATE_NAMES_MAX (1u << 20)
/* The hash index's value: slot << INDEX_BITS | chunk index. */
#define INDEX_BITS 20
_Static_assert(P2P_STATE_CHUNKS_MAX <= (1u << INDEX_BITS),
               "chunk index fits the index value");
_Static_assert(PROD_DISK_STATE_KEEP_MAX < (1u << (32 - INDEX_BITS)),
               "slot fits the index value");

/* A complete checkpoint, kept in memory while its folder exists. */
struct ckpt {
    uint64_t height;
    struct p2p_state_hash root;
    struct p2p_state_manifest m; /* owned; charged to the store's mem */
};

/* A sync folder on disk (its manifest read or written). */
struct sync_dir {
    uint64_t height;
    struct p2p_state_hash root;
};

struct prod_disk_state {
    char state_dir[PROD_DURABLE_PATH_MAX]; /* DATA/state */
    char sync_dir[PROD_DURABLE_PATH_MAX];  /* DATA/state/sync */
    uint32_t keep;                         /* keep_heights */
    struct p2p_mem mem;
    /* Ascending height (ties: the order they were adopted); the last is
     * the latest. One spare slot: an insertion precedes its prune. */
    struct ckpt ckpts[PROD_DISK_STATE_KEEP_MAX + 1];
    uint32_t ckpts_count;
    /* Chunk hash -> slot << INDEX_BITS | index, over every kept
     * checkpoint, rebuilt when the set changes. */
    struct p2p_keymap by_hash;
    uint64_t hash_key;
    struct sync_dir syncs[PROD_DISK_STATE_SYNCS_MAX + 1];
    uint32_t syncs_count;
    uint8_t *buf; /* chunk reads; owned (mem) */
    size_t buf_cap;
    struct prod_disk_state_stats stats;
    prod_disk_state_drop_fn on_drop; /* may be NULL */
    void *drop_ctx;
    char error[PROD_DISK_STATE_ERROR_MAX];
};

/* Keeps a message for prod_disk_state_error. */
__attribute__((format(printf, 2, 3))) static void errorf(
    struct prod_disk_state *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conf_errmsg_vset(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
}

/* ---- names and paths ---------------------------------------------------- */

static void hex_of(const struct p2p_state_hash *h, char out[HEX_CHARS + 1])
{
    conf_hex_encode(h->b, P2P_STATE_HASH_BYTES, out, HEX_CHARS + 1);
}

/* Parses exactly 64 lowercase hex digits (uppercase is not a name the
 * store writes). */
static bool parse_root(const char *s, struct p2p_state_hash *out)
{
    return conf_hex_decode_canonical(s, strlen(s), out->b,
                                     P2P_STATE_HASH_BYTES) == 0;
}

/* Parses s[0..len) as a canonical decimal (no sign, no leading zero) of at
 * most max. */
static bool parse_dec(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "<height>-<root hex>", height >= 1. */
static bool parse_ckpt_name(const char *name, uint64_t *height,
                            struct p2p_state_hash *root)
{
    const char *dash = strchr(name, '-');
    return dash != NULL &&
           parse_dec(name, (size_t)(dash - name), UINT64_MAX, height) &&
           *height >= 1 && parse_root(dash + 1, root);
}

/* "chunk-<i>" with i < count. */
static bool is_chunk_name(const char *name, uint32_t count)
{
    uint64_t i;
    return strncmp(name, "chunk-", 6) == 0 &&
           parse_dec(name + 6, strlen(name + 6), UINT32_MAX, &i) && i < count;
}

static void ckpt_path(const struct prod_disk_state *s, uint64_t height,
                      const struct p2p_state_hash *root, char *out)
{
    char hex[HEX_CHARS + 1];
    hex_of(root, hex);
    (void)prod_durable_path(out, "%s/%" PRIu64 "-%s", s->state_dir, height,
                            hex);
}

static void sync_path(const struct prod_disk_state *s,
                      const struct p2p_state_hash *root, char *out)
{
    char hex[HEX_CHARS + 1];
    hex_of(root, hex);
    (void)prod_durable_path(out, "%s/%s", s->sync_dir, hex);
}

static void chunk_path(const char *dir, uint32_t index, char *out)
{
    (void)prod_durable_path(out, "%s/chunk-%" PRIu32, dir, index);
}

static void manifest_path(const char *dir, char *out)
{
    (void)prod_durable_path(out, "%s/" MANIFEST_NAME, dir);
}

/* Joins dir and name; the caller checked both are bounded. */
static void join(const char *dir, const char *name, char *out)
{
    (void)prod_durable_path(out, "%s/%s", dir, name);
}

/* ---- memory: manifests, the chunk buffer, the index ----------------------- */

static void invariants(const struct prod_disk_state *s)
{
#ifdef P2P_DEBUG
    P2P_ASSERT(s->ckpts_count <= s->keep);
    P2P_ASSERT(s->syncs_count <= PROD_DISK_STATE_SYNCS_MAX);
    for (uint32_t i = 0; i < s->ckpts_count; i++) {
        P2P_ASSERT(s->ckpts[i].m.height == s->ckpts[i].height);
        P2P_ASSERT(i == 0 || s->ckpts[i - 1].height <= s->ckpts[i].height);
    }
#else
    (void)s;
#endif
}

/* The buffer, grown to hold n bytes; NULL when the allocator refuses. */
static uint8_t *buf_for(struct prod_disk_state *s, size_t n)
{
    if (n > s->buf_cap) {
        uint8_t *b = p2p_mem_realloc(&s->mem, MOD, s->buf, n);
        if (b == NULL)
            return NULL;
        s->buf = b;
        s->buf_cap = n;
    }
    return s->buf;
}

/* m's encoding in a new block of the store's mem (*len bytes). */
static int encode(struct prod_disk_state *s, const struct p2p_state_manifest *m,
                  uint8_t **out, size_t *len)
{
    size_t n = p2p_state_manifest_encoded_len(m);
    uint8_t *b = p2p_mem_alloc_raw(&s->mem, MOD, n);
    if (b == NULL)
        return P2P_ERR_NOMEM;
    int rc = p2p_state_manifest_encode(m, b, n);
    P2P_ASSERT(rc == 0);
    *out = b;
    *len = n;
    return 0;
}

static struct p2p_key key_of(const struct p2p_state_hash *h)
{
    struct p2p_key k;
    memcpy(k.b, h->b, sizeof(k.b));
    return k;
}

/* Rebuilds the hash index over the kept checkpoints. When the allocator
 * refuses, the index is partial: has_chunk then finds fewer chunks (they
 * are fetched again) and checkpoints link fewer (they are written). */
static void index_rebuild(struct prod_disk_state *s)
{
    size_t total = 0;
    for (uint32_t i = 0; i < s->ckpts_count; i++)
        total += s->ckpts[i].m.chunks_count;
    p2p_keymap_fini(&s->by_hash);
    p2p_keymap_init(&s->by_hash, &s->mem, MOD, total, s->hash_key);
    for (uint32_t i = 0; i < s->ckpts_count; i++) {
        const struct p2p_state_manifest *m = &s->ckpts[i].m;
        for (uint32_t c = 0; c < m->chunks_count; c++) {
            struct p2p_key k = key_of(&m->chunks[c].hash);
            int rc = p2p_keymap_put(&s->by_hash, &k, i << INDEX_BITS | c);
            if (rc == P2P_ERR_NOMEM)
                return;
            /* EXISTS: the same bytes elsewhere; the first copy serves. */
        }
    }
}

/* A kept checkpoint's chunk with c's size and hash: its folder and index. */
static bool index_find(const struct prod_disk_state *s,
                       const struct p2p_state_chunk *c, char *dir,
                       uint32_t *index)
{
    struct p2p_key k = key_of(&c->hash);
    uint32_t v;
    if (!p2p_keymap_get(&s->by_hash, &k, &v))
        return false;
    uint32_t slot = v >> INDEX_BITS, i = v & ((1u << INDEX_BITS) - 1);
    P2P_ASSERT(slot < s->ckpts_count && i < s->ckpts[slot].m.chunks_count);
    const struct p2p_state_chunk *have = &s->ckpts[slot].m.chunks[i];
    if (have->size != c->size || !p2p_state_hash_eq(&have->hash, &c->hash))
        return false;
    ckpt_path(s, s->ckpts[slot].height, &s->ckpts[slot].root, dir);
    *index = i;
    return true;
}

static struct ckpt *ckpt_find(struct prod_disk_state *s, uint64_t height,
                              const struct p2p_state_hash *root)
{
    for (uint32_t i = 0; i < s->ckpts_count; i++)
        if (s->ckpts[i].height == height &&
            p2p_state_hash_eq(&s->ckpts[i].root, root))
            return &s->ckpts[i];
    return NULL;
}

static bool root_is_ckpt(const struct prod_disk_state *s,
                         const struct p2p_state_hash *root)
{
    for (uint32_t i = 0; i < s->ckpts_count; i++)
        if (p2p_state_hash_eq(&s->ckpts[i].root, root))
            return true;
    return false;
}

static uint64_t latest_height(const struct prod_disk_state *s)
{
    return s->ckpts_count > 0 ? s->ckpts[s->ckpts_count - 1].height : 0;
}

/* Removes path (a folder: first, when not NULL, first); a path that is
 * already gone is fine and leaves s->error as it was. */
static int remove_quietly(struct prod_disk_state *s, const char *path,
                          const char *first)
{
    char err[PROD_DISK_STATE_ERROR_MAX] = "";
    int rc = prod_durable_remove_tree(path, first, err, sizeof(err));
    if (rc != 0 && rc != P2P_ERR_NOT_FOUND)
        memcpy(s->error, err, sizeof(s->error));
    return rc;
}

/* Removes a checkpoint's folder, manifest first (so it is never seen
 * complete with chunks missing). Errors are kept in s->error: a folder
 * left behind is found incomplete, or pruned, at the next open. */
static void remove_ckpt_dir(struct prod_disk_state *s, const char *dir)
{
    remove_quietly(s, dir, MANIFEST_NAME);
}

/* Removes the oldest checkpoints beyond keep. */
static void prune(struct prod_disk_state *s)
{
    while (s->ckpts_count > s->keep) {
        struct ckpt *c = &s->ckpts[0];
        char dir[PROD_DURABLE_PATH_MAX];
        ckpt_path(s, c->height, &c->root, dir);
        remove_ckpt_dir(s, dir);
        p2p_state_manifest_fini(&c->m);
        memmove(&s->ckpts[0], &s->ckpts[1],
                (s->ckpts_count - 1) * sizeof(s->ckpts[0]));
        s->ckpts_count--;
        s->stats.pruned++;
    }
}

/* Adopts c (its manifest now owned by the store) after every checkpoint
 * of the same or a lower height, then prunes. The caller rebuilds the
 * index. */
static void insert(struct prod_disk_state *s, struct ckpt *c)
{
    P2P_ASSERT(s->ckpts_count <= s->keep);
    uint32_t pos = s->ckpts_count;
    while (pos > 0 && s->ckpts[pos - 1].height > c->height)
        pos--;
    memmove(&s->ckpts[pos + 1], &s->ckpts[pos],
            (s->ckpts_count - pos) * sizeof(s->ckpts[0]));
    s->ckpts[pos] = *c;
    s->ckpts_count++;
    p2p_state_manifest_init(&c->m); /* moved */
    prune(s);
}

/* ---- folder checks at open ----------------------------------------------- */

/* Removes path (a folder: first, when not NULL, first) because of why:
 * counts it and tells the hook, with the removal's error if it failed
 * (the entry is then found again at the next open). */
static void drop(struct prod_disk_state *s, const char *path, const char *first,
                 const char *why)
{
    char err[PROD_DISK_STATE_ERROR_MAX] = "";
    int rc = prod_durable_remove_tree(path, first, err, sizeof(err));
    s->stats.dropped_at_open++;
    if (rc != 0 && rc != P2P_ERR_NOT_FOUND)
        memcpy(s->error, err, sizeof(s->error));
    if (s->on_drop == NULL)
        return;
    char text[2 * PROD_DISK_STATE_ERROR_MAX];
    if (rc != 0 && rc != P2P_ERR_NOT_FOUND)
        snprintf(text, sizeof(text), "%s; not removed: %s", why, err);
    else
        snprintf(text, sizeof(text), "%s; removed", why);
    s->on_drop(s->drop_ctx, path, text);
}

/* Whether path is a folder itself (lstat: a symbolic link to one is
 * not, and is never followed). */
static bool is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Removes every entry of dir but the manifest and chunk-<i> (i < count):
 * leftovers of interrupted writes. */
static void clean_folder(struct prod_disk_state *s, const char *dir,
                         uint32_t count)
{
    char *names = NULL;
    size_t n = 0;
    if (prod_durable_list(dir, (size_t)count + 64, &names, &n, s->error,
                          sizeof(s->error)) != 0)
        return; /* a folder with that many strays is only left as it is */
    for (size_t i = 0; i < n; i++) {
        const char *name = names + i * PROD_DURABLE_NAME_MAX;
        if (strcmp(name, MANIFEST_NAME) == 0 || is_chunk_name(name, count))
            continue;
        char path[PROD_DURABLE_PATH_MAX];
        join(dir, name, path);
        drop(s, path, NULL,
             "not a file of the checkpoint or sync it is in "
             "(a leftover of an interrupted write)");
    }
    free(names);
}

/* The root hash of the manifest encoded in enc[0..len) (at most
 * P2P_STATE_MANIFEST_BYTES_MAX bytes: read or encoded within it): the
 * SHA-256 of its meta-manifest (core/state_manifest.h). */
static void root_of(const uint8_t *enc, size_t len, struct p2p_state_hash *out)
{
    int rc = p2p_state_manifest_root_of_encoding(enc, len, out);
    P2P_ASSERT(rc == 0);
}

/* Reads dir/manifest and checks it names root (and height, when not 0):
 * decoded into *m (the store's mem). */
static int read_manifest(struct prod_disk_state *s, const char *dir,
                         const struct p2p_state_hash *root, uint64_t height,
                         struct p2p_state_manifest *m)
{
    char path[PROD_DURABLE_PATH_MAX];
    manifest_path(dir, path);
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = prod_durable_read(path, P2P_STATE_MANIFEST_BYTES_MAX, &bytes, &len,
                               s->error, sizeof(s->error));
    if (rc != 0)
        return rc;
    struct p2p_state_hash h;
    root_of(bytes, len, &h);
    if (!p2p_state_hash_eq(&h, root)) {
        rc = P2P_ERR_ID_MISMATCH;
        errorf(s, "%s: not the folder's root", path);
    } else {
        rc = p2p_state_manifest_decode(m, &s->mem, MOD, bytes, len);
        if (rc == 0 && height != 0 && m->height != height) {
            p2p_state_manifest_fini(m);
            rc = P2P_ERR_DECODE;
        }
        if (rc != 0)
            errorf(s, "%s: %s", path, p2p_strerror(rc));
    }
    free(bytes);
    return rc;
}

/* Whether dir holds every chunk file of m, each of the size m names. */
static bool chunks_present(struct prod_disk_state *s, const char *dir,
                           const struct p2p_state_manifest *m)
{
    for (uint32_t i = 0; i < m->chunks_count; i++) {
        char path[PROD_DURABLE_PATH_MAX];
        chunk_path(dir, i, path);
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_size != m->chunks[i].size) {
            errorf(s,
                   "chunk-%" PRIu32 " missing, not a regular file or "
                   "not of the manifest's size (%" PRIu32 " bytes)",
                   i, m->chunks[i].size);
            return false;
        }
    }
    return true;
}

/* Loads the checkpoint folder `name` (height, root), or removes it. */
static void open_ckpt(struct prod_disk_state *s, const char *name,
                      uint64_t height, const struct p2p_state_hash *root)
{
    char dir[PROD_DURABLE_PATH_MAX];
    join(s->state_dir, name, dir);
    struct ckpt c = {.height = height, .root = *root};
    p2p_state_manifest_init(&c.m);
    char why[PROD_DISK_STATE_ERROR_MAX + 128];
    if (!is_dir(dir)) {
        snprintf(why, sizeof(why),
                 "checkpoint %" PRIu64 " dropped: not a "
                 "folder (a symbolic link is never followed)",
                 height);
        drop(s, dir, NULL, why);
        return;
    }
    int rc = read_manifest(s, dir, root, height, &c.m);
    if (rc == P2P_ERR_NOMEM)
        return; /* not the folder's fault: left for the next open */
    if (rc == P2P_ERR_NOT_FOUND)
        errorf(s, "no manifest (a checkpoint a crash interrupted before its "
                  "commit)");
    if (rc != 0 || !chunks_present(s, dir, &c.m)) {
        p2p_state_manifest_fini(&c.m);
        snprintf(why, sizeof(why), "checkpoint %" PRIu64 " dropped: %s", height,
                 s->error);
        drop(s, dir, MANIFEST_NAME, why);
        return;
    }
    clean_folder(s, dir, c.m.chunks_count);
    insert(s, &c);
}

static int scan_ckpts(struct prod_disk_state *s)
{
    char *names = NULL;
    size_t n = 0;
    int rc = prod_durable_list(s->state_dir, STATE_NAMES_MAX, &names, &n,
                               s->error, sizeof(s->error));
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const char *name = names + i * PROD_DURABLE_NAME_MAX;
        uint64_t height;
        struct p2p_state_hash root;
        if (strcmp(name, SYNC_NAME) == 0)
            continue;
        if (parse_ckpt_name(name, &height, &root)) {
            open_ckpt(s, name, height, &root);
            continue;
        }
        char path[PROD_DURABLE_PATH_MAX];
        join(s->state_dir, name, path);
        drop(s, path, NULL, "not a checkpoint's name (<height>-<root hex>)");
    }
    free(names);
    return 0;
}

/* Removes the sync folder of root (errors kept in s->error). */
static void sync_remove_dir(struct prod_disk_state *s,
                            const struct p2p_state_hash *root)
{
    char dir[PROD_DURABLE_PATH_MAX];
    sync_path(s, root, dir);
    (void)remove_quietly(s, dir, NULL);
}

static int sync_find(const struct prod_disk_state *s,
                     const struct p2p_state_hash *root)
{
    for (uint32_t i = 0; i < s->syncs_count; i++)
        if (p2p_state_hash_eq(&s->syncs[i].root, root))
            return (int)i;
    return -1;
}

/* Forgets sync i (its folder already renamed or removed). */
static void sync_forget(struct prod_disk_state *s, uint32_t i)
{
    memmove(&s->syncs[i], &s->syncs[i + 1],
            (s->syncs_count - i - 1) * sizeof(s->syncs[0]));
    s->syncs_count--;
}

/* Adds a sync folder; beyond PROD_DISK_STATE_SYNCS_MAX removes the lowest
 * one other than root (the earliest listed among equal heights). */
static void sync_add(struct prod_disk_state *s, uint64_t height,
                     const struct p2p_state_hash *root)
{
    P2P_ASSERT(s->syncs_count <= PROD_DISK_STATE_SYNCS_MAX);
    s->syncs[s->syncs_count++] =
        (struct sync_dir){.height = height, .root = *root};
    if (s->syncs_count <= PROD_DISK_STATE_SYNCS_MAX)
        return;
    uint32_t low = UINT32_MAX;
    for (uint32_t i = 0; i + 1 < s->syncs_count; i++) /* not the new one */
        if (low == UINT32_MAX || s->syncs[i].height < s->syncs[low].height)
            low = i;
    sync_remove_dir(s, &s->syncs[low].root);
    sync_forget(s, low);
}

/* Keeps the sync folder `name` for resumption, or removes it. */
static void open_sync(struct prod_disk_state *s, const char *name)
{
    char dir[PROD_DURABLE_PATH_MAX];
    join(s->sync_dir, name, dir);
    struct p2p_state_hash root;
    struct p2p_state_manifest m;
    p2p_state_manifest_init(&m);
    bool named = parse_root(name, &root), folder = is_dir(dir);
    int rc =
        named && folder ? read_manifest(s, dir, &root, 0, &m) : P2P_ERR_DECODE;
    if (rc == P2P_ERR_NOMEM)
        return;
    char why[PROD_DISK_STATE_ERROR_MAX + 64];
    if (!named)
        snprintf(why, sizeof(why), "not a sync folder's name (<root hex>)");
    else if (!folder)
        snprintf(why, sizeof(why),
                 "not a folder (a symbolic link is never "
                 "followed)");
    else if (rc != 0)
        snprintf(why, sizeof(why), "sync dropped: %s", s->error);
    else if (m.height <= latest_height(s))
        snprintf(why, sizeof(why),
                 "sync of height %" PRIu64 " dropped: not "
                 "above the newest checkpoint (%" PRIu64 ")",
                 m.height, latest_height(s));
    else if (root_is_ckpt(s, &root))
        snprintf(why, sizeof(why),
                 "sync dropped: its root is a checkpoint "
                 "already");
    else
        why[0] = '\0';
    if (why[0] == '\0') {
        clean_folder(s, dir, m.chunks_count);
        sync_add(s, m.height, &root);
    } else {
        drop(s, dir, NULL, why);
    }
    p2p_state_manifest_fini(&m);
}

static int scan_syncs(struct prod_disk_state *s)
{
    char *names = NULL;
    size_t n = 0;
    int rc = prod_durable_list(s->sync_dir, STATE_NAMES_MAX, &names, &n,
                               s->error, sizeof(s->error));
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        open_sync(s, names + i * PROD_DURABLE_NAME_MAX);
    free(names);
    return 0;
}

/* ---- open, close, queries ------------------------------------------------ */

/* The hash index's key: peers choose the chunk hashes it is keyed by. */
static uint64_t draw_hash_key(void)
{
    uint64_t k = 0;
    if (getrandom(&k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k))
        k = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    return k;
}

int prod_disk_state_open(const char *data_dir, uint32_t keep_heights,
                         prod_disk_state_drop_fn on_drop, void *drop_ctx,
                         struct prod_disk_state **out, char *err,
                         size_t err_len)
{
    if (keep_heights == 0 || keep_heights > PROD_DISK_STATE_KEEP_MAX ||
        strlen(data_dir) + PATH_ROOM > PROD_DURABLE_PATH_MAX) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len,
                     "state: keep_heights must be 1..%u and "
                     "the data dir shorter",
                     PROD_DISK_STATE_KEEP_MAX);
        return P2P_ERR_INVALID_ARG;
    }
    struct prod_disk_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return P2P_ERR_NOMEM;
    p2p_mem_init(&s->mem);
    s->keep = keep_heights;
    s->on_drop = on_drop;
    s->drop_ctx = drop_ctx;
    s->hash_key = draw_hash_key();
    p2p_keymap_init(&s->by_hash, &s->mem, MOD, 0, s->hash_key);
    (void)prod_durable_path(s->state_dir, "%s/state", data_dir);
    (void)prod_durable_path(s->sync_dir, "%s/state/" SYNC_NAME, data_dir);
    int rc = prod_durable_mkdirs(s->sync_dir, s->error, sizeof(s->error));
    if (rc == 0)
        rc = scan_ckpts(s);
    if (rc == 0)
        rc = scan_syncs(s);
    if (rc != 0) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "%s", s->error);
        prod_disk_state_close(s);
        return rc;
    }
    index_rebuild(s);
    s->error[0] = '\0'; /* what open dropped is counted, not a failure */
    invariants(s);
    *out = s;
    return 0;
}

void prod_disk_state_close(struct prod_disk_state *s)
{
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < s->ckpts_count; i++)
        p2p_state_manifest_fini(&s->ckpts[i].m);
    p2p_keymap_fini(&s->by_hash);
    p2p_mem_free(&s->mem, MOD, s->buf);
    P2P_ASSERT(s->mem.bytes == 0);
    free(s);
}

void prod_disk_state_latest_info(const struct prod_disk_state *s,
                                 uint64_t *height, struct p2p_state_hash *root,
                                 uint32_t *chunks, uint64_t *bytes)
{
    const struct ckpt *c =
        s->ckpts_count > 0 ? &s->ckpts[s->ckpts_count - 1] : NULL;
    if (height != NULL)
        *height = c != NULL ? c->height : 0;
    if (root != NULL) {
        if (c != NULL)
            *root = c->root;
        else
            memset(root, 0, sizeof(*root));
    }
    if (chunks != NULL)
        *chunks = c != NULL ? c->m.chunks_count : 0;
    if (bytes != NULL)
        *bytes = c != NULL ? c->m.total_bytes : 0;
}

void prod_disk_state_get_stats(const struct prod_disk_state *s,
                               struct prod_disk_state_stats *out)
{
    *out = s->stats;
}

const char *prod_disk_state_error(const struct prod_disk_state *s)
{
    return s->error;
}

const struct p2p_mem *prod_disk_state_mem(const struct prod_disk_state *s)
{
    return &s->mem;
}

/* ---- making checkpoints ------------------------------------------------- */

/* Puts chunk i of a folder under construction: a hard link to the same
 * bytes in a kept checkpoint when there is one (a copy when the file
 * system refuses links), else `bytes` (may be NULL: then only a link or
 * copy will do). */
static int place_chunk(struct prod_disk_state *s, const char *dir,
                       const struct p2p_state_chunk *c, uint32_t i,
                       const uint8_t *bytes)
{
    char dst[PROD_DURABLE_PATH_MAX];
    chunk_path(dir, i, dst);
    char src_dir[PROD_DURABLE_PATH_MAX];
    uint32_t src_i;
    if (index_find(s, c, src_dir, &src_i)) {
        char src[PROD_DURABLE_PATH_MAX];
        chunk_path(src_dir, src_i, src);
        (void)unlink(dst);
        if (link(src, dst) == 0) {
            s->stats.chunks_linked++;
            return 0;
        }
        if (bytes == NULL) { /* copy, checking what is copied */
            uint8_t *b = buf_for(s, c->size);
            size_t len = 0;
            struct p2p_state_hash h;
            if (b == NULL)
                return P2P_ERR_NOMEM;
            int rc = prod_durable_read_into(src, b, c->size, &len, s->error,
                                            sizeof(s->error));
            if (rc == 0)
                p2p_state_hash_of(b, len, &h);
            if (rc == 0 &&
                (len != c->size || !p2p_state_hash_eq(&h, &c->hash))) {
                s->stats.chunks_corrupt++;
                errorf(s, "%s: corrupt", src);
                rc = P2P_ERR_ID_MISMATCH;
            }
            if (rc == 0)
                rc = prod_durable_write_direct(dst, b, len, s->error,
                                               sizeof(s->error));
            if (rc == 0)
                s->stats.chunks_linked++;
            return rc;
        }
    }
    if (bytes == NULL) {
        errorf(s, "%s: chunk not held", dst);
        return P2P_ERR_NOT_FOUND;
    }
    return prod_durable_write_direct(dst, bytes, c->size, s->error,
                                     sizeof(s->error));
}

int prod_disk_state_checkpoint(struct prod_disk_state *s, const uint8_t *bytes,
                               size_t len, uint32_t chunk_bytes,
                               uint64_t *height, struct p2p_state_hash *root)
{
    struct ckpt c = {.height = latest_height(s) + 1};
    int rc = p2p_state_manifest_build_blob(&c.m, &s->mem, MOD, c.height,
                                           chunk_bytes, bytes, len);
    if (rc != 0)
        return rc;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    rc = encode(s, &c.m, &enc, &enc_len);
    if (rc != 0)
        goto fail_fini;
    root_of(enc, enc_len, &c.root);
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    ckpt_path(s, c.height, &c.root, dir);
    remove_ckpt_dir(s, dir); /* a leftover of a failed attempt */
    rc = prod_durable_mkdirs(dir, s->error, sizeof(s->error));
    size_t off = 0;
    for (uint32_t i = 0; rc == 0 && i < c.m.chunks_count; i++) {
        rc = place_chunk(s, dir, &c.m.chunks[i], i, bytes + off);
        off += c.m.chunks[i].size;
    }
    /* The chunks' names are durable before the manifest commits them. */
    if (rc == 0)
        rc = prod_durable_fsync_dir(dir, s->error, sizeof(s->error));
    manifest_path(dir, path);
    if (rc == 0)
        rc = prod_durable_write(path, enc, enc_len, s->error, sizeof(s->error));
    p2p_mem_free(&s->mem, MOD, enc);
    if (rc != 0) {
        remove_ckpt_dir(s, dir);
        goto fail_fini;
    }
    *height = c.height;
    *root = c.root;
    insert(s, &c);
    index_rebuild(s);
    s->stats.checkpoints_made++;
    invariants(s);
    return 0;

fail_fini:
    p2p_state_manifest_fini(&c.m);
    return rc;
}

/* ---- the store's calls -------------------------------------------------- */

static const struct p2p_state_manifest *op_latest(void *ctx,
                                                  struct p2p_state_hash *root)
{
    struct prod_disk_state *s = ctx;
    if (s->ckpts_count == 0)
        return NULL;
    *root = s->ckpts[s->ckpts_count - 1].root;
    return &s->ckpts[s->ckpts_count - 1].m;
}

static const struct p2p_state_manifest *op_manifest(
    void *ctx, uint64_t height, const struct p2p_state_hash *root)
{
    struct ckpt *c = ckpt_find(ctx, height, root);
    return c != NULL ? &c->m : NULL;
}

/* Reads path into the buffer and checks it is chunk c. 0, NOT_FOUND (no
 * file, or a corrupt one: counted), P2P_ERR_READ, P2P_ERR_NOMEM. */
static int read_chunk(struct prod_disk_state *s, const char *path,
                      const struct p2p_state_chunk *c, size_t *len)
{
    uint8_t *b = buf_for(s, c->size);
    if (b == NULL)
        return P2P_ERR_NOMEM;
    char err[PROD_DISK_STATE_ERROR_MAX] = "";
    int rc = prod_durable_read_into(path, b, c->size, len, err, sizeof(err));
    if (rc == P2P_ERR_NOT_FOUND) /* not held: no failure of the store */
        return rc;
    if (rc != 0 && rc != P2P_ERR_OVERSIZE) {
        memcpy(s->error, err, sizeof(s->error));
        return rc;
    }
    struct p2p_state_hash h;
    if (rc == 0)
        p2p_state_hash_of(b, *len, &h);
    if (rc == P2P_ERR_OVERSIZE || *len != c->size ||
        !p2p_state_hash_eq(&h, &c->hash)) {
        s->stats.chunks_corrupt++;
        errorf(s, "%s: not the manifest's chunk", path);
        return P2P_ERR_NOT_FOUND;
    }
    return 0;
}

static int op_chunk(void *ctx, uint64_t height,
                    const struct p2p_state_hash *root, uint32_t index,
                    const uint8_t **bytes, size_t *len)
{
    struct prod_disk_state *s = ctx;
    const struct ckpt *c = ckpt_find(s, height, root);
    if (c == NULL || index >= c->m.chunks_count)
        return P2P_ERR_NOT_FOUND;
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    ckpt_path(s, height, root, dir);
    chunk_path(dir, index, path);
    int rc = read_chunk(s, path, &c->m.chunks[index], len);
    if (rc != 0)
        return rc;
    *bytes = s->buf;
    return 0;
}

static bool op_has_chunk(void *ctx, const struct p2p_state_manifest *m,
                         const struct p2p_state_hash *root, uint32_t index)
{
    struct prod_disk_state *s = ctx;
    if (index >= m->chunks_count)
        return false;
    const struct p2p_state_chunk *c = &m->chunks[index];
    if (sync_find(s, root) >= 0) {
        char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
        size_t len;
        sync_path(s, root, dir);
        chunk_path(dir, index, path);
        if (read_chunk(s, path, c, &len) == 0)
            return true;
    }
    /* A kept checkpoint's file, still there (complete links it; its
     * bytes are checked when served). */
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    uint32_t i;
    struct stat st;
    if (!index_find(s, c, dir, &i))
        return false;
    chunk_path(dir, i, path);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           (uint64_t)st.st_size == c->size;
}

/* Makes the sync folder of root with m's manifest, unless it exists.
 * Errors: P2P_ERR_ID_MISMATCH (m is not root's), P2P_ERR_WRITE,
 * P2P_ERR_NOMEM. */
static int sync_ensure(struct prod_disk_state *s,
                       const struct p2p_state_manifest *m,
                       const struct p2p_state_hash *root)
{
    if (sync_find(s, root) >= 0)
        return 0;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    int rc = encode(s, m, &enc, &enc_len);
    if (rc != 0)
        return rc;
    struct p2p_state_hash h;
    root_of(enc, enc_len, &h);
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    sync_path(s, root, dir);
    if (!p2p_state_hash_eq(&h, root)) {
        errorf(s, "%s: manifest is not the root's", dir);
        rc = P2P_ERR_ID_MISMATCH;
        goto done_free;
    }
    sync_remove_dir(s, root); /* a leftover the list forgot */
    rc = prod_durable_mkdirs(dir, s->error, sizeof(s->error));
    manifest_path(dir, path);
    if (rc == 0)
        rc = prod_durable_write(path, enc, enc_len, s->error, sizeof(s->error));
    if (rc == 0)
        sync_add(s, m->height, root);
    else
        sync_remove_dir(s, root);

done_free:
    p2p_mem_free(&s->mem, MOD, enc);
    return rc;
}

static int op_put_chunk(void *ctx, const struct p2p_state_manifest *m,
                        const struct p2p_state_hash *root, uint32_t index,
                        const uint8_t *bytes, size_t len)
{
    struct prod_disk_state *s = ctx;
    if (index >= m->chunks_count || len != m->chunks[index].size)
        return P2P_ERR_INVALID_ARG;
    int rc = sync_ensure(s, m, root);
    if (rc != 0)
        return rc;
    char dir[PROD_DURABLE_PATH_MAX], path[PROD_DURABLE_PATH_MAX];
    sync_path(s, root, dir);
    chunk_path(dir, index, path);
    rc = prod_durable_write(path, bytes, len, s->error, sizeof(s->error));
    invariants(s);
    return rc;
}

/* Every chunk of m in the sync folder dir: those put there are kept (put
 * whole, by atomic writes; has_chunk checked those from before a
 * restart), the others are linked from kept checkpoints. */
static int fill_sync(struct prod_disk_state *s, const char *dir,
                     const struct p2p_state_manifest *m)
{
    for (uint32_t i = 0; i < m->chunks_count; i++) {
        char path[PROD_DURABLE_PATH_MAX];
        chunk_path(dir, i, path);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size == m->chunks[i].size)
            continue;
        int rc = place_chunk(s, dir, &m->chunks[i], i, NULL);
        if (rc != 0)
            return rc;
    }
    clean_folder(s, dir, m->chunks_count);
    return prod_durable_fsync_dir(dir, s->error, sizeof(s->error));
}

/* Drops the sync folders complete made obsolete: every one whose height
 * is not above the completed one. */
static void syncs_drop_upto(struct prod_disk_state *s, uint64_t height)
{
    for (uint32_t i = 0; i < s->syncs_count;) {
        if (s->syncs[i].height > height) {
            i++;
            continue;
        }
        sync_remove_dir(s, &s->syncs[i].root);
        sync_forget(s, i);
    }
}

/* A copy of m, owned by the store, after checking root names it. */
static int copy_manifest(struct prod_disk_state *s,
                         const struct p2p_state_manifest *m,
                         const struct p2p_state_hash *root,
                         struct p2p_state_manifest *out)
{
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    int rc = encode(s, m, &enc, &enc_len);
    if (rc != 0)
        return rc;
    struct p2p_state_hash h;
    root_of(enc, enc_len, &h);
    if (!p2p_state_hash_eq(&h, root)) {
        errorf(s, "complete: manifest is not the "
                  "root's");
        rc = P2P_ERR_ID_MISMATCH;
    } else {
        rc = p2p_state_manifest_decode(out, &s->mem, MOD, enc, enc_len);
    }
    p2p_mem_free(&s->mem, MOD, enc);
    return rc;
}

static void op_complete(void *ctx, const struct p2p_state_manifest *m,
                        const struct p2p_state_hash *root)
{
    struct prod_disk_state *s = ctx;
    if (ckpt_find(s, m->height, root) != NULL) {
        syncs_drop_upto(s, m->height);
        return; /* held already */
    }
    struct ckpt c = {.height = m->height, .root = *root};
    p2p_state_manifest_init(&c.m);
    /* Everything that can fail without touching the disk goes first. */
    int rc = copy_manifest(s, m, root, &c.m);
    if (rc == 0)
        rc = sync_ensure(s, m, root);
    char dir[PROD_DURABLE_PATH_MAX], dst[PROD_DURABLE_PATH_MAX];
    sync_path(s, root, dir);
    ckpt_path(s, m->height, root, dst);
    if (rc == 0)
        rc = fill_sync(s, dir, m);
    if (rc == 0) {
        remove_ckpt_dir(s, dst); /* a leftover of a failed attempt */
        rc = prod_durable_rename(dir, dst, s->error, sizeof(s->error));
    }
    if (rc != 0) {
        /* The sync folder stays: core syncs this state again, and
         * has_chunk finds what was kept. */
        p2p_state_manifest_fini(&c.m);
        s->stats.complete_errors++;
        invariants(s);
        return;
    }
    int i = sync_find(s, root);
    P2P_ASSERT(i >= 0);
    sync_forget(s, (uint32_t)i);
    syncs_drop_upto(s, m->height);
    insert(s, &c);
    index_rebuild(s);
    s->stats.syncs_completed++;
    invariants(s);
}

static const struct p2p_state_store_ops ops = {
    .latest = op_latest,
    .manifest = op_manifest,
    .chunk = op_chunk,
    .has_chunk = op_has_chunk,
    .put_chunk = op_put_chunk,
    .complete = op_complete,
};

const struct p2p_state_store_ops *prod_disk_state_ops(void)
{
    return &ops;
}
