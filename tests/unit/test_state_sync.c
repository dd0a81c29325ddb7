/* The state sync manager (core/state_sync.c) between real nodes.
 *
 * A small world drives up to SS_NODES_MAX nodes: every outbox action is
 * carried to its peer after a per-node delay (requests as inbound streams,
 * responses on the requester's stream, resets, closed connections), and
 * node timers fire in time order. Each node has a fake state store: it
 * holds states from a catalogue built with p2p_state_manifest_build_blob
 * (64 KiB in 4 KiB chunks), serves them, keeps the chunks put into it, and
 * on complete() rebuilds the state from those chunks and checks its root,
 * so a completed sync is checked byte for byte. Switches make a store
 * serve corrupted chunks, a wrong manifest, or NOT_FOUND; a deaf node
 * never answers.
 *
 * Covered: a two-node sync (random chunks, sent raw; half-zero chunks,
 * sent as zstd frames); the quorum (configured, and f + 1 of the
 * topology); parallel fetching within the per-peer limit; wrong chunk
 * bytes (penalty, retry elsewhere, exclusion after bad_chunks_max, a ban
 * with the default penalties); a wrong manifest; a silent peer timed out
 * at deadline - 1 and at the deadline; resume with chunks already held;
 * a peer going down in either phase; a newer state while fetching, while
 * in the manifest phase, and the own store reaching the sync height; a
 * store that fails to keep a chunk; a stalled sync revived by its peer's
 * re-advert (exclusions kept), by a new peer or by a newer state;
 * advertisers that moved on to a newer state (204s) leaving the sync, which
 * finishes from the others or, with none left, moves on at once; any 204
 * taking its peer out of the sync until its next advert; lost chunks and
 * a lost meta-manifest (204, retried after 1 s); chunk and manifest-chunk
 * answers over their caps; a manifest in two manifest chunks, one of them
 * wrong, reassembled; a compression bomb and a wrong frame as bad data;
 * no store, and the store removed and reinstalled mid-sync; topologies
 * above the scheduler's default 128 peers; serving (malformed requests,
 * unknown roots, indexes at and past the manifest and the meta-manifest,
 * a manifest in two manifest chunks); determinism; memory; an
 * allocation-failure walk on either side of a sync, in which no peer is
 * ever penalised for the failing node's lack of memory. */
#include <stdio.h>

#include "harness.h"
#include "core/chunk_scheduler.h"
#include "core/state_sync.h"

#include <zstd.h>

#define SS_CHUNK_BYTES 4096u
#define SS_STATE_BYTES (64u * 1024u)
#define SS_CHUNKS (SS_STATE_BYTES / SS_CHUNK_BYTES)
#define SS_NODES_MAX 8u
#define SS_HELD_MAX 4u
#define SS_MSGS_MAX 4096u
#define SS_OPEN_MAX 1024u
#define SS_EVENTS_MAX 32u
#define MS P2P_NS_PER_MS
#define SEC P2P_NS_PER_S
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define NO_STATE (-1)

/* ---- the catalogue of states ---- */

/* ST_HALF: height 4, every chunk's second half zeros (zstd halves it). */
enum { ST_1, ST_2, ST_2_ALT, ST_3, ST_HALF, ST_COUNT };

struct fstate {
    uint64_t height;
    uint8_t bytes[SS_STATE_BYTES];
    struct p2p_state_manifest m; /* charged to cat_mem */
    struct p2p_state_hash root;
};

static struct p2p_mem cat_mem;
static struct fstate cat[ST_COUNT];

/* The chunks of ST_3 that differ from ST_2; the others are equal. */
static const uint32_t s3_changed[] = {1, 6, 11};

static bool s3_changes(uint32_t index)
{
    for (size_t i = 0; i < COUNT_OF(s3_changed); i++)
        if (s3_changed[i] == index)
            return true;
    return false;
}

/* Deterministic bytes for chunk `index` at content version `version`:
 * distinct for every (index, version). */
static void fill_chunk(uint8_t *out, uint32_t index, uint32_t version)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (index + 1u) ^
                 0xbf58476d1ce4e5b9ull * (version + 1u);
    for (uint32_t k = 0; k < SS_CHUNK_BYTES; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[k] = (uint8_t)(x >> 24);
    }
}

static void cat_build(struct fstate *s, uint64_t height, uint32_t version,
                      bool s3)
{
    s->height = height;
    for (uint32_t i = 0; i < SS_CHUNKS; i++)
        fill_chunk(s->bytes + i * SS_CHUNK_BYTES, i,
                   s3 && s3_changes(i) ? 3u : version);
    p2p_state_manifest_init(&s->m);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&s->m, &cat_mem,
                                                   P2P_MEM_OTHER, height,
                                                   SS_CHUNK_BYTES, s->bytes,
                                                   SS_STATE_BYTES), 0);
    ck_assert_uint_eq(s->m.chunks_count, SS_CHUNKS);
    p2p_state_manifest_root(&s->m, &s->root);
}

static void cat_setup(void)
{
    p2p_mem_init(&cat_mem);
    cat_build(&cat[ST_1], 1, 1, false);
    cat_build(&cat[ST_2], 2, 2, false);
    cat_build(&cat[ST_2_ALT], 2, 20, false);
    cat_build(&cat[ST_3], 3, 2, true);
    struct fstate *h = &cat[ST_HALF];
    h->height = 4;
    for (uint32_t i = 0; i < SS_CHUNKS; i++) {
        uint8_t *c = h->bytes + i * SS_CHUNK_BYTES;
        fill_chunk(c, i, 4);
        memset(c + SS_CHUNK_BYTES / 2, 0, SS_CHUNK_BYTES / 2);
    }
    p2p_state_manifest_init(&h->m);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&h->m, &cat_mem,
                                                   P2P_MEM_OTHER, 4,
                                                   SS_CHUNK_BYTES, h->bytes,
                                                   SS_STATE_BYTES), 0);
    p2p_state_manifest_root(&h->m, &h->root);
}

static void cat_teardown(void)
{
    for (int i = 0; i < ST_COUNT; i++)
        p2p_state_manifest_fini(&cat[i].m);
    ck_assert_uint_eq(cat_mem.bytes, 0);
}

static const struct fstate *cat_find(const struct p2p_state_hash *root)
{
    for (int i = 0; i < ST_COUNT; i++)
        if (p2p_state_hash_eq(&cat[i].root, root))
            return &cat[i];
    return NULL;
}

/* ---- the fake state store ---- */

struct fstore {
    const struct fstate *held[SS_HELD_MAX]; /* borrowed; latest last */
    uint32_t held_count;
    /* The chunks put for part_root (and chunks "persisted" by a test). */
    bool part_valid;
    struct p2p_state_hash part_root;
    uint8_t part[SS_STATE_BYTES];
    bool part_has[SS_CHUNKS];
    /* Switches. */
    bool corrupt_chunks;   /* serve chunks with one byte flipped */
    bool corrupt_manifest; /* serve another state's manifest */
    bool chunk_not_found;  /* chunk(): NOT_FOUND */
    bool gone;             /* manifest(), chunk(): nothing held any more */
    uint32_t put_fail_at;  /* the n-th put_chunk fails (0: never) */
    uint8_t scratch[SS_CHUNK_BYTES];
    /* Observations. */
    uint32_t puts, put_calls, completes, chunks_served, bad_served;
    struct p2p_state_hash completed_root;
};

static void fs_hold(struct fstore *s, int state)
{
    if (s->held_count == SS_HELD_MAX) {
        memmove(&s->held[0], &s->held[1],
                (SS_HELD_MAX - 1) * sizeof(s->held[0]));
        s->held_count--;
    }
    s->held[s->held_count++] = &cat[state];
}

static const struct fstate *fs_find(const struct fstore *s, uint64_t height,
                                    const struct p2p_state_hash *root)
{
    for (uint32_t i = 0; i < s->held_count; i++)
        if (s->held[i]->height == height &&
            p2p_state_hash_eq(&s->held[i]->root, root))
            return s->held[i];
    return NULL;
}

/* Bytes of a held chunk with c's size and hash, or NULL. */
static const uint8_t *fs_held_chunk(const struct fstore *s,
                                    const struct p2p_state_chunk *c)
{
    for (uint32_t i = 0; i < s->held_count; i++) {
        const struct p2p_state_manifest *m = &s->held[i]->m;
        for (uint32_t j = 0; j < m->chunks_count; j++)
            if (m->chunks[j].size == c->size &&
                p2p_state_hash_eq(&m->chunks[j].hash, &c->hash))
                return s->held[i]->bytes + (size_t)j * SS_CHUNK_BYTES;
    }
    return NULL;
}

static void fs_part_reset(struct fstore *s, const struct p2p_state_hash *root)
{
    s->part_valid = true;
    s->part_root = *root;
    memset(s->part_has, 0, sizeof(s->part_has));
}

static const struct p2p_state_manifest *fs_latest(void *ctx,
                                                  struct p2p_state_hash *root)
{
    struct fstore *s = ctx;
    if (s->held_count == 0)
        return NULL;
    *root = s->held[s->held_count - 1]->root;
    return &s->held[s->held_count - 1]->m;
}

static const struct p2p_state_manifest *
fs_manifest(void *ctx, uint64_t height, const struct p2p_state_hash *root)
{
    struct fstore *s = ctx;
    const struct fstate *f = fs_find(s, height, root);
    if (f == NULL || s->gone)
        return NULL;
    if (s->corrupt_manifest)
        return f == &cat[ST_2_ALT] ? &cat[ST_2].m : &cat[ST_2_ALT].m;
    return &f->m;
}

static int fs_chunk(void *ctx, uint64_t height,
                    const struct p2p_state_hash *root, uint32_t index,
                    const uint8_t **bytes, size_t *len)
{
    struct fstore *s = ctx;
    const struct fstate *f = fs_find(s, height, root);
    if (f == NULL || s->chunk_not_found || s->gone)
        return P2P_ERR_NOT_FOUND;
    ck_assert_uint_lt(index, f->m.chunks_count);
    *bytes = f->bytes + (size_t)index * SS_CHUNK_BYTES;
    *len = f->m.chunks[index].size;
    s->chunks_served++;
    if (s->corrupt_chunks) {
        memcpy(s->scratch, *bytes, *len);
        s->scratch[index % *len] ^= 0x5a;
        *bytes = s->scratch;
        s->bad_served++;
    }
    return 0;
}

static bool fs_has_chunk(void *ctx, const struct p2p_state_manifest *m,
                         const struct p2p_state_hash *root, uint32_t index)
{
    struct fstore *s = ctx;
    ck_assert_uint_lt(index, m->chunks_count);
    if (s->part_valid && p2p_state_hash_eq(&s->part_root, root) &&
        s->part_has[index])
        return true;
    return fs_held_chunk(s, &m->chunks[index]) != NULL;
}

static int fs_put_chunk(void *ctx, const struct p2p_state_manifest *m,
                        const struct p2p_state_hash *root, uint32_t index,
                        const uint8_t *bytes, size_t len)
{
    struct fstore *s = ctx;
    /* Core hands over only verified chunks of the state it syncs. */
    ck_assert_int_eq(p2p_state_manifest_verify(m, root), 0);
    ck_assert_int_eq(p2p_state_manifest_verify_chunk(m, index, bytes, len), 0);
    if (++s->put_calls == s->put_fail_at)
        return P2P_ERR_NOMEM;
    if (!s->part_valid || !p2p_state_hash_eq(&s->part_root, root))
        fs_part_reset(s, root);
    memcpy(s->part + (size_t)index * SS_CHUNK_BYTES, bytes, len);
    s->part_has[index] = true;
    s->puts++;
    return 0;
}

/* Rebuilds the state from what the store holds and checks its root. */
static void fs_complete(void *ctx, const struct p2p_state_manifest *m,
                        const struct p2p_state_hash *root)
{
    struct fstore *s = ctx;
    static uint8_t whole[SS_STATE_BYTES];
    ck_assert_int_eq(p2p_state_manifest_verify(m, root), 0);
    ck_assert_uint_eq(m->total_bytes, SS_STATE_BYTES);
    for (uint32_t i = 0; i < m->chunks_count; i++) {
        const uint8_t *b = NULL;
        if (s->part_valid && p2p_state_hash_eq(&s->part_root, root) &&
            s->part_has[i])
            b = s->part + (size_t)i * SS_CHUNK_BYTES;
        else
            b = fs_held_chunk(s, &m->chunks[i]);
        ck_assert_msg(b != NULL, "chunk %u missing at complete()", i);
        memcpy(whole + (size_t)i * SS_CHUNK_BYTES, b, m->chunks[i].size);
    }
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest built;
    p2p_state_manifest_init(&built);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&built, &mem, P2P_MEM_OTHER,
                                                   m->height, SS_CHUNK_BYTES,
                                                   whole, m->total_bytes), 0);
    ck_assert_int_eq(p2p_state_manifest_verify(&built, root), 0);
    p2p_state_manifest_fini(&built);
    const struct fstate *f = cat_find(root);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(memcmp(f->bytes, whole, SS_STATE_BYTES), 0);
    fs_hold(s, (int)(f - cat));
    s->completes++;
    s->completed_root = *root;
    s->part_valid = false;
}

static const struct p2p_state_store_ops fs_ops = {
    .latest = fs_latest,
    .manifest = fs_manifest,
    .chunk = fs_chunk,
    .has_chunk = fs_has_chunk,
    .put_chunk = fs_put_chunk,
    .complete = fs_complete,
};

/* ---- the world ---- */

enum msg_kind { M_DATA, M_RESET, M_DOWN };

struct wmsg {
    p2p_time at;
    uint64_t seq;
    p2p_node_id from, to;
    enum msg_kind kind;
    uint64_t stream_id;
    bool inbound; /* as `to` sees the stream */
    uint8_t *bytes; /* malloc'd copy */
    size_t len;
};

struct wnode {
    bool exists;
    struct p2p_mem mem;
    struct p2p_config cfg;
    struct p2p_node *node;
    struct fstore store;
    p2p_time delay_ns; /* added to every message to or from it */
    bool deaf;         /* every message to it is lost */
};

/* A state-sync request of node 0 in flight. */
struct wopen {
    uint64_t stream_id;
    p2p_node_id peer;
    bool manifest; /* the meta-manifest or a manifest chunk */
    uint32_t index; /* ChunkRequest.index (2^31 + k: manifest chunk k) */
};

struct world {
    struct wnode nodes[SS_NODES_MAX];
    p2p_time now;
    struct wmsg msgs[SS_MSGS_MAX];
    size_t msgs_count;
    uint64_t seq;
    uint64_t hash;   /* FNV-1a over every action drained and when */
    uint64_t actions;
    /* Node 0's requests, as seen in its outbox. */
    struct wopen open[SS_OPEN_MAX];
    size_t open_count;
    uint32_t inflight[SS_NODES_MAX];     /* chunk requests in flight */
    uint32_t inflight_max[SS_NODES_MAX];
    uint32_t limit;                      /* inflight never above (0: off) */
    uint32_t chunk_reqs[SS_NODES_MAX];
    uint32_t manifest_reqs[SS_NODES_MAX];       /* meta-manifests */
    uint32_t manifest_chunk_reqs[SS_NODES_MAX]; /* manifest chunks */
    uint32_t requested[SS_CHUNKS];              /* per chunk index */
    p2p_time first_chunk_req_at[SS_NODES_MAX];
    uint32_t resets_to[SS_NODES_MAX];    /* node 0 abandoned a request */
    bool forbid[SS_NODES_MAX];           /* a request to it fails the test */
    /* Forbid requests to forbid_peer once node 0 counted this many bad
     * chunks (checked on the actions of the very call that counted it). */
    uint64_t forbid_at_bad;
    p2p_node_id forbid_peer;
    uint32_t events[SS_EVENTS_MAX];      /* node 0's, by type */
};

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ull;
    }
}

static void hash_u64(uint64_t *h, uint64_t v) { hash_bytes(h, &v, sizeof(v)); }

static void w_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    w->now = 1000;
    w->hash = 0xcbf29ce484222325ull;
    w->forbid_peer = P2P_NODE_NONE;
}

/* The defaults of this suite: events on, quorum 1. */
static void ss_config(struct p2p_config *c, p2p_node_id self)
{
    p2p_config_default(c, self, 7);
    c->events = true;
    c->state_sync_quorum = 1;
}

static struct p2p_node *node_of(struct world *w, p2p_node_id id)
{
    ck_assert(id < SS_NODES_MAX && w->nodes[id].exists);
    return w->nodes[id].node;
}

static const struct p2p_metrics *metrics_of(struct world *w, p2p_node_id id)
{
    return p2p_node_metrics(node_of(w, id));
}

static struct p2p_state_sync_info info_of(struct world *w, p2p_node_id id)
{
    struct p2p_state_sync_info info;
    p2p_node_state_sync_info(node_of(w, id), &info);
    return info;
}

static struct p2p_peer_info peer_of(struct world *w, p2p_node_id id,
                                    p2p_node_id peer)
{
    struct p2p_peer_info info;
    ck_assert_int_eq(p2p_node_peer_info(node_of(w, id), peer, &info), 0);
    return info;
}

/* Decodes the ChunkRequest an OPEN action carries (NULL for other
 * routes); free with p2p__v1__chunk_request__free_unpacked(r, NULL). */
static P2p__V1__ChunkRequest *chunk_request_of(const struct p2p_action *a)
{
    if (a->route != P2P_ROUTE_STATE_CHUNK)
        return NULL;
    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_REQUEST, &limits, 0);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, a->bytes, a->len), 0);
    struct p2p_frame f;
    ck_assert_int_eq(p2p_frame_reader_finish(&r, &f), 0);
    P2p__V1__ChunkRequest *req =
        p2p__v1__chunk_request__unpack(NULL, f.body_len, f.body);
    p2p_frame_reader_fini(&r);
    ck_assert_ptr_nonnull(req);
    ck_assert_uint_eq(req->root.len, P2P_STATE_HASH_BYTES);
    return req;
}

/* Node 0 no longer waits for stream_id (answered or abandoned). */
static void note_closed(struct world *w, p2p_node_id peer, uint64_t stream_id)
{
    for (size_t i = 0; i < w->open_count; i++) {
        struct wopen *o = &w->open[i];
        if (o->peer != peer || o->stream_id != stream_id)
            continue;
        if (!o->manifest)
            w->inflight[peer]--;
        w->open[i] = w->open[--w->open_count];
        return;
    }
}

/* Node 0's connection to peer is gone: its streams failed in core. */
static void note_peer_gone(struct world *w, p2p_node_id peer)
{
    for (size_t i = 0; i < w->open_count;) {
        if (w->open[i].peer == peer) {
            note_closed(w, peer, w->open[i].stream_id);
            continue;
        }
        i++;
    }
    ck_assert_uint_eq(w->inflight[peer], 0);
}

static void note_request(struct world *w, const struct p2p_action *a)
{
    P2p__V1__ChunkRequest *req = chunk_request_of(a);
    if (req == NULL)
        return;
    p2p_node_id peer = a->peer;
    ck_assert_uint_lt(peer, SS_NODES_MAX);
    ck_assert_msg(!w->forbid[peer], "node 0 asked peer %u after it was ruled out",
                  (unsigned)peer);
    ck_assert_uint_lt(w->open_count, SS_OPEN_MAX);
    bool manifest_chunk =
        !req->manifest && req->index >= P2P_STATE_SYNC_MANIFEST_CHUNK;
    w->open[w->open_count++] =
        (struct wopen){.stream_id = a->stream_id,
                       .peer = peer,
                       .manifest = req->manifest || manifest_chunk,
                       .index = req->index};
    if (req->manifest) {
        w->manifest_reqs[peer]++;
    } else if (manifest_chunk) {
        w->manifest_chunk_reqs[peer]++;
    } else {
        ck_assert_uint_lt(req->index, SS_CHUNKS);
        if (w->chunk_reqs[peer]++ == 0)
            w->first_chunk_req_at[peer] = w->now;
        w->requested[req->index]++;
        w->inflight[peer]++;
        if (w->inflight[peer] > w->inflight_max[peer])
            w->inflight_max[peer] = w->inflight[peer];
        if (w->limit != 0)
            ck_assert_uint_le(w->inflight[peer], w->limit);
    }
    p2p__v1__chunk_request__free_unpacked(req, NULL);
}

static void w_send(struct world *w, p2p_node_id from, p2p_node_id to,
                   enum msg_kind kind, uint64_t stream_id, bool inbound,
                   const uint8_t *bytes, size_t len)
{
    if (to >= SS_NODES_MAX || !w->nodes[to].exists ||
        (w->nodes[to].deaf && kind != M_DOWN))
        return;
    ck_assert_uint_lt(w->msgs_count, SS_MSGS_MAX);
    struct wmsg *m = &w->msgs[w->msgs_count++];
    *m = (struct wmsg){.at = w->now, .seq = w->seq++, .from = from, .to = to,
                       .kind = kind, .stream_id = stream_id,
                       .inbound = inbound, .len = len};
    if (kind != M_DOWN)
        m->at += 100 * P2P_NS_PER_US + w->nodes[from].delay_ns +
                 w->nodes[to].delay_ns;
    if (len > 0) {
        m->bytes = malloc(len);
        ck_assert_ptr_nonnull(m->bytes);
        memcpy(m->bytes, bytes, len);
    }
}

static void hash_action(struct world *w, p2p_node_id i,
                        const struct p2p_action *a)
{
    uint64_t *h = &w->hash;
    hash_u64(h, w->now);
    hash_u64(h, i);
    hash_u64(h, a->type);
    hash_u64(h, a->peer);
    hash_u64(h, a->stream_id);
    hash_u64(h, a->route);
    hash_u64(h, a->status);
    hash_u64(h, a->inbound);
    hash_u64(h, a->len);
    if (a->len > 0)
        hash_bytes(h, a->bytes, a->len);
    if (a->type == P2P_ACT_EVENT) {
        hash_u64(h, a->event);
        hash_u64(h, (uint64_t)a->value);
        hash_bytes(h, a->id.b, sizeof(a->id.b));
    }
    w->actions++;
}

/* Carries out node i's actions and clears its outbox. */
static void w_drain(struct world *w, p2p_node_id i)
{
    struct p2p_node *n = node_of(w, i);
    struct p2p_outbox *o = p2p_node_outbox(n);
    if (i == 0 && w->forbid_peer != P2P_NODE_NONE &&
        p2p_node_metrics(n)->state_bad_data >= w->forbid_at_bad)
        w->forbid[w->forbid_peer] = true;
    for (size_t k = 0; k < p2p_outbox_count(o); k++) {
        const struct p2p_action *a = p2p_outbox_at(o, k);
        hash_action(w, i, a);
        switch (a->type) {
        case P2P_ACT_STREAM_OPEN:
            if (i == 0)
                note_request(w, a);
            w_send(w, i, a->peer, M_DATA, a->stream_id, true, a->bytes,
                   a->len);
            break;
        case P2P_ACT_STREAM_RESPOND:
            w_send(w, i, a->peer, M_DATA, a->stream_id, false, a->bytes,
                   a->len);
            break;
        case P2P_ACT_STREAM_RESET:
            if (i == 0 && !a->inbound && a->peer < SS_NODES_MAX) {
                w->resets_to[a->peer]++;
                note_closed(w, a->peer, a->stream_id);
            }
            w_send(w, i, a->peer, M_RESET, a->stream_id, !a->inbound, NULL, 0);
            break;
        case P2P_ACT_CONN_CLOSE:
            if (i == 0 && a->peer < SS_NODES_MAX)
                note_peer_gone(w, a->peer);
            w_send(w, i, a->peer, M_DOWN, 0, false, NULL, 0);
            break;
        case P2P_ACT_EVENT:
            if (i == 0 && a->event < SS_EVENTS_MAX)
                w->events[a->event]++;
            break;
        default:
            break; /* dials, artifacts: not part of these scenarios */
        }
    }
    p2p_outbox_clear(o);
}

static void w_check(struct world *w, p2p_node_id id)
{
    ck_assert_int_eq(p2p_node_check_invariants_deep(node_of(w, id)), 0);
}

/* Adds node c->self holding `state` (or NO_STATE) with its store set
 * (none at all when with_store is false). */
static void w_add_store(struct world *w, const struct p2p_config *c,
                        int state, bool with_store)
{
    struct wnode *wn = &w->nodes[c->self];
    ck_assert(c->self < SS_NODES_MAX && !wn->exists);
    memset(wn, 0, sizeof(*wn));
    wn->exists = true;
    wn->cfg = *c;
    p2p_mem_init(&wn->mem);
    ck_assert_int_eq(p2p_node_new(&wn->cfg, &wn->mem, &wn->node), 0);
    if (state != NO_STATE)
        fs_hold(&wn->store, state);
    if (with_store)
        p2p_node_set_state_store(wn->node, w->now, &fs_ops, &wn->store);
    w_drain(w, c->self);
}

static void w_add(struct world *w, const struct p2p_config *c, int state)
{
    w_add_store(w, c, state, true);
}

static void w_add_default(struct world *w, p2p_node_id id, int state)
{
    struct p2p_config c;
    ss_config(&c, id);
    w_add(w, &c, state);
}

static void w_up(struct world *w, p2p_node_id a, p2p_node_id b)
{
    ck_assert_int_eq(p2p_node_on_peer_up(node_of(w, a), w->now, b), 0);
}

static void w_connect(struct world *w, p2p_node_id a, p2p_node_id b)
{
    w_up(w, a, b);
    w_up(w, b, a);
    w_drain(w, a);
    w_drain(w, b);
}

static void w_peer_down(struct world *w, p2p_node_id a, p2p_node_id b)
{
    ck_assert_int_eq(p2p_node_on_peer_down(node_of(w, a), w->now, b), 0);
    if (a == 0)
        note_peer_gone(w, b);
}

static void w_disconnect(struct world *w, p2p_node_id a, p2p_node_id b)
{
    w_peer_down(w, a, b);
    w_peer_down(w, b, a);
    w_drain(w, a);
    w_drain(w, b);
}

static void w_deliver(struct world *w, size_t k)
{
    struct wmsg m = w->msgs[k];
    w->msgs[k] = w->msgs[--w->msgs_count];
    struct wnode *t = &w->nodes[m.to];
    hash_u64(&w->hash, m.seq);
    switch (m.kind) {
    case M_DATA:
        if (m.to == 0 && !m.inbound)
            note_closed(w, m.from, m.stream_id);
        /* NOT_FOUND for a stream the receiver abandoned, or a peer it
         * considers down: both normal here. */
        (void)p2p_node_on_stream_data(
            t->node, w->now,
            &(struct p2p_stream_bytes){.peer = m.from,
                                       .stream_id = m.stream_id,
                                       .inbound = m.inbound,
                                       .data = m.bytes,
                                       .len = m.len,
                                       .fin = true});
        break;
    case M_RESET:
        (void)p2p_node_on_stream_reset(t->node, w->now, m.from, m.stream_id,
                                       m.inbound);
        break;
    case M_DOWN: {
        struct p2p_peer_info pi;
        ck_assert_int_eq(p2p_node_peer_info(t->node, m.from, &pi), 0);
        if (pi.up)
            w_peer_down(w, m.to, m.from);
        break;
    }
    }
    free(m.bytes);
    w_drain(w, m.to);
    w_check(w, m.to);
}

typedef bool (*w_stop_fn)(struct world *w);

/* Runs every message and timer due up to `until` (inclusive), in time
 * order, stopping early once stop (may be NULL) holds. Returns whether it
 * stopped early. */
static bool w_run(struct world *w, p2p_time until, w_stop_fn stop)
{
    for (uint64_t steps = 0;; steps++) {
        ck_assert_msg(steps < 2000000, "the world does not settle");
        if (stop != NULL && stop(w))
            return true;
        size_t first = SIZE_MAX;
        for (size_t k = 0; k < w->msgs_count; k++) {
            const struct wmsg *m = &w->msgs[k];
            if (first == SIZE_MAX || m->at < w->msgs[first].at ||
                (m->at == w->msgs[first].at && m->seq < w->msgs[first].seq))
                first = k;
        }
        p2p_time next_msg = first == SIZE_MAX ? P2P_TIME_NEVER
                                              : w->msgs[first].at;
        p2p_time next_timer = P2P_TIME_NEVER;
        for (p2p_node_id i = 0; i < SS_NODES_MAX; i++)
            if (w->nodes[i].exists) {
                p2p_time d = p2p_node_next_deadline(w->nodes[i].node);
                if (d < next_timer)
                    next_timer = d;
            }
        p2p_time next = next_msg < next_timer ? next_msg : next_timer;
        if (next == P2P_TIME_NEVER || next > until) {
            if (until != P2P_TIME_NEVER && until > w->now)
                w->now = until;
            return false;
        }
        if (next > w->now)
            w->now = next;
        if (next_msg <= next_timer) {
            w_deliver(w, first);
            continue;
        }
        for (p2p_node_id i = 0; i < SS_NODES_MAX; i++) {
            if (!w->nodes[i].exists ||
                p2p_node_next_deadline(w->nodes[i].node) > w->now)
                continue;
            ck_assert_int_eq(p2p_node_on_timer(w->nodes[i].node, w->now), 0);
            w_drain(w, i);
            w_check(w, i);
        }
    }
}

static void w_fini(struct world *w)
{
    for (size_t k = 0; k < w->msgs_count; k++)
        free(w->msgs[k].bytes);
    w->msgs_count = 0;
    for (p2p_node_id i = 0; i < SS_NODES_MAX; i++) {
        struct wnode *wn = &w->nodes[i];
        if (!wn->exists)
            continue;
        p2p_node_del(wn->node);
        ck_assert_uint_eq(wn->mem.bytes, 0); /* nothing leaked */
        wn->exists = false;
    }
}

/* Stop conditions. */
static bool synced_once(struct world *w) { return w->nodes[0].store.completes >= 1; }
static bool synced_twice(struct world *w) { return w->nodes[0].store.completes >= 2; }
static bool syncing(struct world *w) { return info_of(w, 0).active; }
static bool have_manifest(struct world *w) { return info_of(w, 0).have_manifest; }
static bool syncing_height_3(struct world *w) { return info_of(w, 0).height == 3; }
static bool bad_three(struct world *w)
{
    return metrics_of(w, 0)->state_bad_data >= 3;
}
static bool first_failure(struct world *w)
{
    return p2p_node_metrics(w->nodes[0].node)->state_chunks_failed > 0;
}

static bool second_request_round(struct world *w) { return w->chunk_reqs[1] > 2; }

static bool manifest_chunk_asked(struct world *w)
{
    for (p2p_node_id i = 0; i < SS_NODES_MAX; i++)
        if (w->manifest_chunk_reqs[i] > 0)
            return true;
    return false;
}

static bool manifest_asked(struct world *w)
{
    uint32_t n = 0;
    for (p2p_node_id i = 0; i < SS_NODES_MAX; i++)
        n += w->manifest_reqs[i];
    return n > 0;
}
static bool stalled(struct world *w)
{
    struct p2p_chunk_progress pr;
    return p2p_node_state_sync_progress(node_of(w, 0), &pr) && pr.stalled;
}
static bool chunks_held_2(struct world *w)
{
    struct p2p_chunk_progress pr;
    return p2p_node_state_sync_progress(node_of(w, 0), &pr) &&
           pr.chunks_held >= 2;
}

static void run_until_synced(struct world *w, w_stop_fn stop, p2p_time within)
{
    ck_assert_msg(w_run(w, w->now + within, stop), "no sync within %llu s",
                  (unsigned long long)(within / SEC));
}

static uint32_t sum_of(const uint32_t *v, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* The complete, correct state `state` reached node 0's store once. */
static void assert_synced(struct world *w, int state, uint32_t completes)
{
    const struct fstore *s = &w->nodes[0].store;
    ck_assert_uint_eq(s->completes, completes);
    ck_assert(p2p_state_hash_eq(&s->completed_root, &cat[state].root));
    struct p2p_state_hash root;
    const struct p2p_state_manifest *m = fs_latest((void *)s, &root);
    ck_assert_ptr_nonnull(m);
    ck_assert(p2p_state_hash_eq(&root, &cat[state].root));
    ck_assert(!info_of(w, 0).active);
    ck_assert_uint_eq(w->nodes[0].mem.module_bytes[P2P_MEM_STATE_SYNC], 0);
}

/* ---- 1. two nodes ---- */

/* Half of every chunk of ST_HALF is zeros: node 1 serves each as a zstd
 * frame, node 0 checks and decompresses it (one decompressor, made once)
 * and the state arrives whole, in about half the bytes on the wire. */
START_TEST(compressible_state_travels_compressed)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_HALF);
    w_connect(&w, 0, 1);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_HALF, 1);
    const struct p2p_metrics *m0 = metrics_of(&w, 0), *m1 = metrics_of(&w, 1);
    ck_assert_uint_eq(m1->state_chunks_served_compressed, SS_CHUNKS);
    ck_assert_uint_eq(m0->state_chunks_received, SS_CHUNKS);
    ck_assert_uint_eq(m0->state_chunk_bytes_received, SS_STATE_BYTES);
    ck_assert_uint_lt(m0->state_chunk_wire_bytes_received,
                      SS_STATE_BYTES * 6 / 10);
    ck_assert_uint_gt(m0->state_chunk_wire_bytes_received,
                      SS_STATE_BYTES * 4 / 10);
    ck_assert_uint_eq(m0->state_bad_data, 0);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 0);
    w_fini(&w);
}
END_TEST

START_TEST(two_nodes_sync_every_chunk_once)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    ck_assert_uint_eq(metrics_of(&w, 1)->state_adverts_sent, 0);

    /* The node with a state advertises it when the connection comes up;
     * the empty one has nothing to advertise. */
    w_up(&w, 1, 0);
    struct p2p_outbox *o1 = p2p_node_outbox(node_of(&w, 1));
    ck_assert_uint_eq(p2p_outbox_count(o1), 1);
    ck_assert_int_eq(p2p_outbox_at(o1, 0)->type, P2P_ACT_STREAM_OPEN);
    ck_assert_uint_eq(p2p_outbox_at(o1, 0)->route, P2P_ROUTE_STATE_ADVERT);
    ck_assert_uint_eq(p2p_outbox_at(o1, 0)->peer, 0);
    w_up(&w, 0, 1);
    ck_assert_uint_eq(p2p_outbox_count(p2p_node_outbox(node_of(&w, 0))), 0);
    w_drain(&w, 1);
    w_drain(&w, 0);
    ck_assert_uint_eq(metrics_of(&w, 1)->state_adverts_sent, 1);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_adverts_sent, 0);

    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_adverts_received, 1);
    ck_assert_uint_eq(m0->state_syncs_started, 1);
    ck_assert_uint_eq(m0->state_syncs_completed, 1);
    ck_assert_uint_eq(m0->state_syncs_cancelled, 0);
    ck_assert_uint_eq(m0->state_manifests_fetched, 1);
    ck_assert_uint_eq(m0->state_chunks_requested, SS_CHUNKS);
    ck_assert_uint_eq(m0->state_chunks_received, SS_CHUNKS);
    ck_assert_uint_eq(m0->state_chunk_bytes_received, SS_STATE_BYTES);
    ck_assert_uint_eq(m0->state_chunks_reused, 0);
    ck_assert_uint_eq(m0->state_chunks_failed, 0);
    ck_assert_uint_eq(m0->state_bad_data, 0);
    ck_assert_uint_eq(w.nodes[0].store.puts, SS_CHUNKS);
    ck_assert_uint_eq(w.manifest_reqs[1], 1);
    ck_assert_uint_eq(w.manifest_chunk_reqs[1], 1); /* a 605-byte manifest */
    for (uint32_t i = 0; i < SS_CHUNKS; i++)
        ck_assert_uint_eq(w.requested[i], 1);
    /* Random bytes: every chunk went raw. */
    ck_assert_uint_eq(m0->state_chunk_wire_bytes_received, SS_STATE_BYTES);
    ck_assert_uint_eq(w.events[P2P_EV_STATE_SYNC_START], 1);
    ck_assert_uint_eq(w.events[P2P_EV_STATE_SYNC_DONE], 1);
    ck_assert_uint_eq(w.events[P2P_EV_STATE_SYNC_CANCEL], 0);
    const struct p2p_metrics *m1 = metrics_of(&w, 1);
    /* + the meta-manifest and the manifest's one chunk */
    ck_assert_uint_eq(m1->state_chunks_served, SS_CHUNKS + 2);
    ck_assert_uint_eq(m1->state_chunks_served_compressed, 0);
    ck_assert_uint_eq(m1->state_chunks_not_served, 0);
    ck_assert_uint_eq(m1->state_syncs_started, 0);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 0);

    /* Node 0 now advertises the state at once and then every 5 s (its
     * timer runs from set_state_store at t = 0); node 1, at the same
     * height, starts nothing, and nothing is synced again. */
    ck_assert_uint_eq(m1->state_adverts_received, 0);
    ck_assert_uint_lt(w.now, 5 * SEC);
    w_run(&w, 11 * SEC, NULL);
    ck_assert_uint_eq(m0->state_adverts_sent, 3);
    ck_assert_uint_eq(m1->state_adverts_received, 3);
    ck_assert_uint_eq(m1->state_syncs_started, 0);
    ck_assert_uint_eq(m0->state_syncs_started, 1);
    ck_assert_uint_eq(w.nodes[0].store.completes, 1);
    w_fini(&w);
}
END_TEST

/* ---- 2. quorum ---- */

START_TEST(quorum_counts_advertisers_of_one_state)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_sync_quorum = 3;
    w_add(&w, &c, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w_add_default(&w, 2, ST_2);
    w_add_default(&w, 3, ST_2_ALT); /* same height, another root */
    w_add_default(&w, 4, ST_2);
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);
    w_connect(&w, 0, 3);
    /* Two of three for ST_2 (quorum - 1), one for ST_2_ALT: nothing. */
    w_run(&w, w.now + 6 * SEC, NULL);
    ck_assert_uint_ge(metrics_of(&w, 0)->state_adverts_received, 3);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_syncs_started, 0);
    ck_assert(!info_of(&w, 0).active);
    ck_assert_uint_eq(sum_of(w.manifest_reqs, SS_NODES_MAX), 0);
    /* The third advertiser of ST_2 (the quorum) starts it. */
    w_connect(&w, 0, 4);
    ck_assert(w_run(&w, w.now + SEC, syncing));
    struct p2p_state_sync_info info = info_of(&w, 0);
    ck_assert_uint_eq(info.height, 2);
    ck_assert(p2p_state_hash_eq(&info.root, &cat[ST_2].root));
    ck_assert_uint_eq(info.peers, 3);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_syncs_started, 1);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_eq(w.chunk_reqs[3], 0);
    ck_assert_uint_eq(w.manifest_reqs[3], 0);
    w_fini(&w);
}
END_TEST

/* Quorum 0: f + 1 of the topology's n = 3f + 1 members (1 without one). */
static const struct {
    uint32_t members; /* 0: no topology */
    uint32_t need;
} quorums[] = {{0, 1}, {4, 2}, {6, 2}, {7, 3}, {10, 4}};

START_TEST(default_quorum_is_f_plus_one)
{
    uint32_t members = quorums[_i].members, need = quorums[_i].need;
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_sync_quorum = 0;
    w_add(&w, &c, NO_STATE);
    if (members > 0) {
        struct p2p_member ms[16];
        for (uint32_t i = 0; i < members; i++) {
            memset(&ms[i], 0, sizeof(ms[i]));
            ms[i].id = i;
        }
        ck_assert_int_eq(p2p_node_on_topology(node_of(&w, 0), w.now,
                                              &(struct p2p_topology_update){
                                                  .version = 1,
                                                  .earliest_version = 1,
                                                  .members = ms,
                                                  .count = members}),
                         0);
        w_drain(&w, 0); /* dials: the test brings the peers up itself */
    }
    for (p2p_node_id p = 1; p <= need; p++)
        w_add_default(&w, p, ST_2);
    for (p2p_node_id p = 1; p < need; p++)
        w_connect(&w, 0, p);
    w_run(&w, w.now + 6 * SEC, NULL);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_syncs_started, 0);
    w_connect(&w, 0, need);
    ck_assert(w_run(&w, w.now + SEC, syncing));
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    w_fini(&w);
}
END_TEST

/* ---- 3. parallel download ---- */

static const uint32_t per_peer_limits[] = {1, 2, 5};

START_TEST(parallel_download_within_per_peer_limit)
{
    uint32_t limit = per_peer_limits[_i];
    struct world w;
    w_init(&w);
    w.limit = limit;
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = limit;
    w_add(&w, &c, NO_STATE);
    for (p2p_node_id p = 1; p <= 3; p++) {
        w_add_default(&w, p, ST_2);
        w.nodes[p].delay_ns = 20 * MS;
    }
    for (p2p_node_id p = 1; p <= 3; p++)
        w_connect(&w, 0, p);
    /* The adverts arrive together: all three serve from the start, and the
     * first batch fills every peer to its limit (3 x limit <= 16). */
    ck_assert(w_run(&w, w.now + 10 * SEC, have_manifest));
    for (p2p_node_id p = 1; p <= 3; p++)
        ck_assert_uint_eq(w.inflight[p], limit);
    struct p2p_chunk_progress pr;
    ck_assert(p2p_node_state_sync_progress(node_of(&w, 0), &pr));
    ck_assert_uint_eq(pr.chunks_inflight, 3 * limit);
    ck_assert_uint_eq(pr.peers_present, 3);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    for (p2p_node_id p = 1; p <= 3; p++) {
        ck_assert_uint_gt(w.chunk_reqs[p], 0);
        ck_assert_uint_eq(w.inflight_max[p], limit); /* never limit + 1 */
        ck_assert_uint_eq(w.inflight[p], 0);
    }
    ck_assert_uint_eq(sum_of(w.chunk_reqs, SS_NODES_MAX), SS_CHUNKS);
    w_fini(&w);
}
END_TEST

/* ---- 4. wrong chunk bytes ---- */

/* 0: the default penalties (3 bad chunks ban the peer); 1: bans out of
 * reach, so the scheduler's exclusion alone must keep the peer out. */
START_TEST(wrong_chunk_bytes_penalised_retried_excluded)
{
    bool ban = _i == 0;
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = 4;
    if (!ban)
        c.penalty_ban_points = 100000;
    w_add(&w, &c, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 1 * SEC; /* honest and slow: its advert is late */
    w_add_default(&w, 2, ST_2);
    w.nodes[2].delay_ns = 1 * MS;
    w.nodes[2].store.corrupt_chunks = true;
    w.forbid_at_bad = 3;
    w.forbid_peer = 2;
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);

    /* Node 2's advert starts the sync alone: the manifest (honest) and the
     * first four chunks come from it; three bad ones exclude it and the
     * fourth request is abandoned. */
    ck_assert(w_run(&w, w.now + 10 * SEC, bad_three));
    ck_assert_uint_eq(w.manifest_reqs[2], 1);
    ck_assert_uint_eq(w.chunk_reqs[2], 4);
    ck_assert_uint_eq(w.resets_to[2], 1);
    ck_assert_uint_eq(w.events[P2P_EV_STATE_BAD_DATA], 3);
    struct p2p_peer_info pi = peer_of(&w, 0, 2);
    ck_assert_uint_eq(pi.penalty_total, 3 * 34);
    if (ban) {
        ck_assert_uint_eq(pi.bans, 1);
        ck_assert(!pi.up);
    } else {
        ck_assert_uint_gt(pi.penalty, 0);
        ck_assert_uint_eq(pi.bans, 0);
        ck_assert(pi.up);
    }
    struct p2p_chunk_progress pr;
    ck_assert(p2p_node_state_sync_progress(node_of(&w, 0), &pr));
    ck_assert_uint_eq(pr.chunks_held, 0);
    ck_assert_uint_eq(pr.chunks_inflight, 0);
    ck_assert_uint_eq(pr.peers_excluded, 1);

    /* Node 1's advert brings the chunks; node 2's re-advert at 5 s (when
     * not banned) does not bring it back. */
    run_until_synced(&w, synced_once, 60 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_gt(w.now, 6 * SEC); /* node 2 re-advertised meanwhile */
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_bad_data, 3);
    ck_assert_uint_eq(m0->state_chunks_received, SS_CHUNKS);
    ck_assert_uint_eq(w.chunk_reqs[1], SS_CHUNKS);
    ck_assert_uint_eq(w.chunk_reqs[2], 4);
    ck_assert_uint_eq(w.nodes[2].store.bad_served, 4);
    if (!ban)
        ck_assert_uint_ge(metrics_of(&w, 2)->state_adverts_sent, 2);
    w_fini(&w);
}
END_TEST

/* ---- 5. wrong manifest ---- */

START_TEST(wrong_manifest_then_a_later_advertiser)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 1 * MS;
    w.nodes[1].store.corrupt_manifest = true;
    w_add_default(&w, 2, ST_2);
    w.nodes[2].delay_ns = 50 * MS;
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(w.manifest_reqs[1], 1);
    ck_assert_uint_eq(w.manifest_reqs[2], 1);
    ck_assert_uint_eq(m0->state_bad_data, 1);
    ck_assert_uint_eq(m0->state_manifests_fetched, 1);
    ck_assert_uint_eq(m0->state_syncs_started, 1);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 34);
    ck_assert_uint_eq(peer_of(&w, 0, 2).penalty_total, 0);
    ck_assert_uint_eq(w.events[P2P_EV_STATE_BAD_DATA], 1);
    ck_assert_uint_eq(w.events[P2P_EV_STATE_SYNC_START], 1); /* one sync */
    /* Node 1's chunks are fine: it still serves them. */
    ck_assert_uint_gt(w.chunk_reqs[1], 0);
    w_fini(&w);
}
END_TEST

/* Two liars and one honest node advertise at once: after each wrong
 * manifest another advertiser is asked at once, never the same one. */
START_TEST(wrong_manifest_asks_another_advertiser_at_once)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_sync_quorum = 3;
    w_add(&w, &c, NO_STATE);
    for (p2p_node_id p = 1; p <= 3; p++) {
        w_add_default(&w, p, ST_2);
        w.nodes[p].delay_ns = 1 * MS;
        w.nodes[p].store.corrupt_manifest = p != 3;
    }
    for (p2p_node_id p = 1; p <= 3; p++)
        w_connect(&w, 0, p);
    ck_assert(w_run(&w, w.now + 10 * SEC, syncing));
    p2p_time started = w.now;
    ck_assert(w_run(&w, w.now + 10 * SEC, have_manifest));
    ck_assert_uint_lt(w.now - started, 100 * MS); /* no pause */
    uint32_t asked = sum_of(w.manifest_reqs, SS_NODES_MAX);
    /* Each liar asked for the meta-manifest served a wrong one; node 3's
     * manifest chunk came from node 3 (the meta-manifest's server). */
    ck_assert_uint_eq(metrics_of(&w, 0)->state_bad_data, asked - 1);
    ck_assert_uint_eq(w.manifest_chunk_reqs[3], 1);
    ck_assert_uint_eq(sum_of(w.manifest_chunk_reqs, SS_NODES_MAX), 1);
    ck_assert_uint_eq(w.manifest_reqs[3], 1);
    for (p2p_node_id p = 1; p <= 3; p++)
        ck_assert_uint_le(w.manifest_reqs[p], 1);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    w_fini(&w);
}
END_TEST

/* ---- 6. a silent peer ---- */

/* Node 2 advertises ST_2 and never answers. Node 1's advert comes first,
 * so the manifest comes from node 1 and both get four chunk requests.
 * _i = 0: a chunk timeout (800 ms) below the slow-request rule's 1 s
 * floor, so the plain timeout fails node 2's requests, at deadline - 1
 * not yet, at the deadline all four. _i = 1: the default 10 s timeout, so
 * the slow-request rule (core/state_sync_slow.c) fails them at
 * max(4 x median, 1 s) = 1 s. Neither costs node 2 a point: a timeout is
 * not misbehaviour (a silent peer is penalised only after
 * P2P_SILENCE_NS without answering anything). */
START_TEST(silent_peer_times_out_at_the_deadline)
{
    bool plain = _i == 0;
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    if (plain)
        c.state_chunk_timeout_ns = 800 * MS;
    c.state_chunks_per_peer = 4;
    const p2p_time fail_after = plain ? c.state_chunk_timeout_ns : 1 * SEC;
    w_add(&w, &c, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 100 * MS;
    w_add_default(&w, 2, ST_2);
    w.nodes[2].delay_ns = 150 * MS;
    w.nodes[2].deaf = true; /* it advertises, it never answers */
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);

    ck_assert(w_run(&w, w.now + 10 * SEC, have_manifest));
    ck_assert_uint_eq(w.manifest_reqs[1], 1);
    ck_assert_uint_eq(w.manifest_reqs[2], 0);
    ck_assert_uint_eq(w.chunk_reqs[1], 4);
    ck_assert_uint_eq(w.chunk_reqs[2], 4);
    p2p_time sent = w.first_chunk_req_at[2];
    ck_assert_uint_eq(sent, w.now);

    /* Just before: node 1 served the other twelve, node 2's four wait. */
    w_run(&w, sent + fail_after - 1, NULL);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_chunks_failed, 0);
    ck_assert_uint_eq(m0->state_chunks_slow, 0);
    ck_assert_uint_eq(w.resets_to[2], 0);
    ck_assert_uint_eq(w.inflight[2], 4);
    ck_assert_uint_eq(w.nodes[0].store.puts, SS_CHUNKS - 4);
    ck_assert_uint_eq(w.nodes[0].store.completes, 0);
    /* At it: all four fail, their streams are reset and node 1 is asked
     * for them at once. */
    w_run(&w, sent + fail_after, NULL);
    ck_assert_uint_eq(m0->state_chunks_failed, plain ? 4 : 0);
    ck_assert_uint_eq(m0->state_chunks_slow, plain ? 0 : 4);
    ck_assert_uint_eq(w.resets_to[2], 4);
    ck_assert_uint_eq(w.inflight[2], 0);
    ck_assert_uint_eq(peer_of(&w, 0, 2).penalty_total, 0);
    ck_assert_uint_eq(w.chunk_reqs[1], SS_CHUNKS);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_eq(w.chunk_reqs[2], 4);
    w_fini(&w);
}
END_TEST

/* ---- 7. resume ---- */

static const uint32_t resume_held[] = {0, 1, 8, 15, 16};

START_TEST(resume_fetches_only_missing_chunks)
{
    uint32_t held = resume_held[_i];
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    /* Chunks 0..held-1 persisted by an interrupted sync of ST_2. */
    struct fstore *s0 = &w.nodes[0].store;
    fs_part_reset(s0, &cat[ST_2].root);
    for (uint32_t i = 0; i < held; i++) {
        memcpy(s0->part + i * SS_CHUNK_BYTES,
               cat[ST_2].bytes + i * SS_CHUNK_BYTES, SS_CHUNK_BYTES);
        s0->part_has[i] = true;
    }
    w_add_default(&w, 1, ST_2);
    w_connect(&w, 0, 1);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_chunks_reused, held);
    ck_assert_uint_eq(m0->state_chunks_requested, SS_CHUNKS - held);
    ck_assert_uint_eq(m0->state_chunks_received, SS_CHUNKS - held);
    ck_assert_uint_eq(m0->state_chunk_bytes_received,
                      (SS_CHUNKS - held) * SS_CHUNK_BYTES);
    for (uint32_t i = 0; i < SS_CHUNKS; i++)
        ck_assert_uint_eq(w.requested[i], i < held ? 0 : 1);
    ck_assert_uint_eq(s0->puts, SS_CHUNKS - held);
    w_fini(&w);
}
END_TEST

/* ---- 8. a peer going down ---- */

/* A chunk answer may be no longer than its chunk (plus the envelope),
 * whatever the route allows (a whole manifest, 37.7 MB): one declaring
 * 1 MiB for a 4 KiB chunk is refused as soon as its length is read,
 * before a byte of it is buffered, and the chunk is asked again. */
START_TEST(chunk_answer_over_its_cap_is_refused_at_its_length)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 100 * MS;
    w_connect(&w, 0, 1);
    ck_assert(w_run(&w, w.now + 10 * SEC, have_manifest));
    const struct wopen *o = NULL;
    for (size_t i = 0; i < w.open_count && o == NULL; i++)
        if (!w.open[i].manifest && w.open[i].peer == 1)
            o = &w.open[i];
    ck_assert_ptr_nonnull(o);
    /* Response {status: 200, body: <1 MiB declared>}, the header only. */
    const uint8_t head[] = {0x08, 0xc8, 0x01, 0x12, 0x80, 0x80, 0x40};
    struct p2p_mem *mem = &w.nodes[0].mem;
    size_t before = mem->module_bytes[P2P_MEM_STREAMS];
    ck_assert_int_eq(p2p_node_on_stream_data(
                         node_of(&w, 0), w.now,
                         &(struct p2p_stream_bytes){.peer = 1,
                                                    .stream_id = o->stream_id,
                                                    .inbound = false,
                                                    .data = head,
                                                    .len = sizeof(head),
                                                    .fin = false}),
                     P2P_ERR_OVERSIZE);
    ck_assert_uint_le(mem->module_bytes[P2P_MEM_STREAMS], before);
    w_drain(&w, 0);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    w_fini(&w);
}
END_TEST

/* As above for a manifest chunk: its cap is its size in the meta-manifest
 * (605 bytes here) plus the encoding byte and the envelope, so an answer
 * that announces 1 KiB is refused when its length is read. The chunk is
 * asked again and the sync completes. */
START_TEST(manifest_chunk_over_its_cap_is_refused_at_its_length)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 100 * MS;
    w_connect(&w, 0, 1);
    ck_assert(w_run(&w, w.now + 10 * SEC, manifest_chunk_asked));
    const struct wopen *o = NULL;
    for (size_t i = 0; i < w.open_count && o == NULL; i++)
        if (w.open[i].index == P2P_STATE_SYNC_MANIFEST_CHUNK)
            o = &w.open[i];
    ck_assert_ptr_nonnull(o);
    /* Response {status: 200, body: <1 KiB declared>}, the header only. */
    const uint8_t head[] = {0x08, 0xc8, 0x01, 0x12, 0x80, 0x08};
    struct p2p_mem *mem = &w.nodes[0].mem;
    size_t before = mem->module_bytes[P2P_MEM_STREAMS];
    ck_assert_int_eq(p2p_node_on_stream_data(
                         node_of(&w, 0), w.now,
                         &(struct p2p_stream_bytes){.peer = 1,
                                                    .stream_id = o->stream_id,
                                                    .inbound = false,
                                                    .data = head,
                                                    .len = sizeof(head),
                                                    .fin = false}),
                     P2P_ERR_OVERSIZE);
    ck_assert_uint_le(mem->module_bytes[P2P_MEM_STREAMS], before);
    w_drain(&w, 0);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_eq(w.manifest_chunk_reqs[1], 2);
    w_fini(&w);
}
END_TEST

START_TEST(peer_down_mid_fetch_moves_its_chunks)
{
    struct world w;
    w_init(&w);
    w.limit = 2;
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = 2;
    w_add(&w, &c, NO_STATE);
    for (p2p_node_id p = 1; p <= 3; p++) {
        w_add_default(&w, p, ST_2);
        w.nodes[p].delay_ns = 100 * MS;
    }
    for (p2p_node_id p = 1; p <= 3; p++)
        w_connect(&w, 0, p);
    ck_assert(w_run(&w, w.now + 10 * SEC, have_manifest));
    ck_assert_uint_eq(w.inflight[2], 2);
    uint32_t asked_of_2 = w.chunk_reqs[2];
    w.forbid[2] = true;
    w_disconnect(&w, 0, 2);
    struct p2p_chunk_progress pr;
    ck_assert(p2p_node_state_sync_progress(node_of(&w, 0), &pr));
    ck_assert_uint_eq(pr.peers_present, 2);
    ck_assert_uint_eq(pr.chunks_inflight, 4);
    ck_assert_uint_eq(info_of(&w, 0).peers, 2);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_chunks_failed, 0); /* not a failure */
    ck_assert_uint_eq(m0->state_chunks_received, SS_CHUNKS);
    ck_assert_uint_eq(w.chunk_reqs[2], asked_of_2);
    /* The two asked of node 2 were asked again of the others. */
    ck_assert_uint_eq(w.chunk_reqs[1] + w.chunk_reqs[3], SS_CHUNKS);
    w_fini(&w);
}
END_TEST

START_TEST(peer_down_with_the_manifest_request_asks_another)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_sync_quorum = 2;
    w_add(&w, &c, NO_STATE);
    for (p2p_node_id p = 1; p <= 2; p++) {
        w_add_default(&w, p, ST_2);
        w.nodes[p].delay_ns = 100 * MS;
    }
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);
    ck_assert(w_run(&w, w.now + 10 * SEC, manifest_asked));
    p2p_node_id asked = w.manifest_reqs[1] == 1 ? 1 : 2;
    p2p_node_id other = 3 - asked;
    ck_assert_uint_eq(w.manifest_reqs[asked], 1);
    ck_assert_uint_eq(w.manifest_reqs[other], 0);
    w.forbid[asked] = true;
    w_disconnect(&w, 0, asked);
    ck_assert_uint_eq(w.manifest_reqs[other], 1); /* at once */
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_eq(w.chunk_reqs[other], SS_CHUNKS);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_bad_data, 0);
    w_fini(&w);
}
END_TEST

/* ---- 9. newer states ---- */

START_TEST(newer_state_while_fetching_waits_then_reuses)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = 2;
    w_add(&w, &c, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 100 * MS;
    w_connect(&w, 0, 1);
    ck_assert(w_run(&w, w.now + 10 * SEC, chunks_held_2));
    uint32_t gen = info_of(&w, 0).gen;
    /* Node 1 checkpoints ST_3 and advertises it at once; it still serves
     * ST_2. */
    fs_hold(&w.nodes[1].store, ST_3);
    uint64_t received = metrics_of(&w, 0)->state_adverts_received;
    p2p_node_state_changed(node_of(&w, 1), w.now);
    w_drain(&w, 1);
    w_run(&w, w.now + 300 * MS, NULL);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_adverts_received, received + 1);
    struct p2p_state_sync_info info = info_of(&w, 0);
    ck_assert(info.active && info.have_manifest);
    ck_assert_uint_eq(info.height, 2);
    ck_assert_uint_eq(info.gen, gen);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_syncs_cancelled, 0);
    /* ST_2 completes, then ST_3 is synced reusing its 13 unchanged
     * chunks. */
    run_until_synced(&w, synced_twice, 60 * SEC);
    assert_synced(&w, ST_3, 2);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_syncs_started, 2);
    ck_assert_uint_eq(m0->state_syncs_completed, 2);
    ck_assert_uint_eq(m0->state_syncs_cancelled, 0);
    ck_assert_uint_eq(m0->state_chunks_reused,
                      SS_CHUNKS - COUNT_OF(s3_changed));
    ck_assert_uint_eq(m0->state_chunks_requested,
                      SS_CHUNKS + COUNT_OF(s3_changed));
    for (uint32_t i = 0; i < SS_CHUNKS; i++)
        ck_assert_uint_eq(w.requested[i], s3_changes(i) ? 2 : 1);
    ck_assert_uint_eq(w.manifest_reqs[1], 2);
    w_fini(&w);
}
END_TEST

START_TEST(newer_state_in_the_manifest_phase_switches_at_once)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 300 * MS;
    w_add_default(&w, 2, ST_3);
    w.nodes[2].delay_ns = 1 * MS;
    w_connect(&w, 0, 1);
    ck_assert(w_run(&w, w.now + 10 * SEC, manifest_asked));
    ck_assert_uint_eq(w.manifest_reqs[1], 1);
    struct p2p_state_sync_info info = info_of(&w, 0);
    ck_assert(info.active && !info.have_manifest);
    ck_assert_uint_eq(info.height, 2);
    /* Node 2's advert of ST_3 arrives before node 1's manifest. */
    w_connect(&w, 0, 2);
    ck_assert(w_run(&w, w.now + 100 * MS, syncing_height_3));
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_syncs_cancelled, 1);
    ck_assert_uint_eq(m0->state_syncs_started, 2);
    ck_assert_uint_eq(w.events[P2P_EV_STATE_SYNC_CANCEL], 1);
    ck_assert_uint_eq(w.resets_to[1], 1); /* the ST_2 manifest request */
    ck_assert_uint_ne(info_of(&w, 0).gen, info.gen);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_3, 1);
    ck_assert_uint_eq(m0->state_manifests_fetched, 1);
    ck_assert_uint_eq(m0->state_bad_data, 0);
    ck_assert_uint_eq(w.chunk_reqs[1], 0);
    ck_assert_uint_eq(w.chunk_reqs[2], SS_CHUNKS);
    /* ST_2 is older than what node 0 holds now: never synced. */
    w_run(&w, w.now + 11 * SEC, NULL);
    ck_assert_uint_eq(m0->state_syncs_started, 2);
    w_fini(&w);
}
END_TEST

/* The store reaches a height by itself: below the sync's the sync goes on;
 * at it the sync is cancelled. */
START_TEST(own_state_reaching_the_sync_height_cancels)
{
    bool reach = _i == 1;
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = 2;
    w_add(&w, &c, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 100 * MS;
    w_connect(&w, 0, 1);
    ck_assert(w_run(&w, w.now + 10 * SEC, chunks_held_2));
    ck_assert_uint_eq(w.inflight[1], 2);
    ck_assert_uint_gt(w.nodes[0].mem.module_bytes[P2P_MEM_STATE_SYNC], 0);
    uint64_t adverts = metrics_of(&w, 0)->state_adverts_sent;
    fs_hold(&w.nodes[0].store, reach ? ST_2 : ST_1);
    p2p_node_state_changed(node_of(&w, 0), w.now);
    struct p2p_outbox *o = p2p_node_outbox(node_of(&w, 0));
    size_t resets = 0, adverts_now = 0;
    for (size_t k = 0; k < p2p_outbox_count(o); k++) {
        const struct p2p_action *a = p2p_outbox_at(o, k);
        resets += a->type == P2P_ACT_STREAM_RESET;
        adverts_now += a->type == P2P_ACT_STREAM_OPEN &&
                       a->route == P2P_ROUTE_STATE_ADVERT;
    }
    ck_assert_uint_eq(adverts_now, 1); /* the new state, at once */
    ck_assert_uint_eq(metrics_of(&w, 0)->state_adverts_sent, adverts + 1);
    w_drain(&w, 0);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    if (!reach) {
        ck_assert_uint_eq(resets, 0);
        ck_assert(info_of(&w, 0).active);
        ck_assert_uint_eq(m0->state_syncs_cancelled, 0);
        run_until_synced(&w, synced_once, 30 * SEC);
        assert_synced(&w, ST_2, 1);
    } else {
        ck_assert_uint_eq(resets, 2); /* the two chunk requests */
        ck_assert(!info_of(&w, 0).active);
        ck_assert_uint_eq(m0->state_syncs_cancelled, 1);
        ck_assert_uint_eq(w.events[P2P_EV_STATE_SYNC_CANCEL], 1);
        ck_assert_uint_eq(w.inflight[1], 0);
        ck_assert_uint_eq(w.nodes[0].mem.module_bytes[P2P_MEM_STATE_SYNC], 0);
        w_run(&w, w.now + 11 * SEC, NULL);
        ck_assert_uint_eq(m0->state_syncs_started, 1);
        ck_assert_uint_eq(w.nodes[0].store.completes, 0);
    }
    w_fini(&w);
}
END_TEST

/* put_chunk fails once: the sync starts over and keeps what was put. */
START_TEST(store_refusing_a_chunk_restarts_the_sync)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = 1;
    w_add(&w, &c, NO_STATE);
    w.nodes[0].store.put_fail_at = 6;
    w_add_default(&w, 1, ST_2);
    w_connect(&w, 0, 1);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_syncs_started, 2);
    ck_assert_uint_eq(m0->state_syncs_cancelled, 1);
    ck_assert_uint_eq(m0->state_syncs_completed, 1);
    ck_assert_uint_eq(m0->state_chunks_reused, 5); /* put before */
    ck_assert_uint_eq(m0->state_chunks_received, SS_CHUNKS);
    for (uint32_t i = 0; i < SS_CHUNKS; i++)
        ck_assert_uint_eq(w.requested[i], i == 5 ? 2 : 1);
    w_fini(&w);
}
END_TEST


/* ---- stalls and lost states ---- */

/* Node 1 advertises ST_2 but answers 204 for every chunk: its first 204
 * takes it out of the sync (its other requests are reset) and the sync
 * stalls. Each later advert brings it back, for one more 204 each (the
 * chunk it refused stays ruled out on it). Then (_i) its store recovers
 * (a re-advert of the same state must revive the sync), a second
 * advertiser of ST_2 arrives, or a newer state is advertised (the stalled
 * sync moves to it at once). */
enum stall_exit { STALL_PEER_RECOVERS, STALL_NEW_PEER, STALL_NEWER_STATE };

START_TEST(stalled_sync_is_revived)
{
    enum stall_exit exit_by = (enum stall_exit)_i;
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 10 * MS;
    w.nodes[1].store.chunk_not_found = true;
    w_add_default(&w, 2, exit_by == STALL_NEWER_STATE ? ST_3 : ST_2);
    w.nodes[2].delay_ns = 10 * MS;
    w_connect(&w, 0, 1);
    ck_assert(w_run(&w, w.now + 30 * SEC, stalled));
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    const uint32_t per_peer = w.nodes[0].cfg.state_chunks_per_peer;
    ck_assert_uint_eq(m0->state_chunks_failed, 1); /* one 204 */
    ck_assert_uint_eq(w.chunk_reqs[1], per_peer);
    ck_assert_uint_eq(w.resets_to[1], per_peer - 1);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 0); /* not a lie */
    ck_assert_uint_eq(m0->state_syncs_cancelled, 0);
    struct p2p_chunk_progress pr;
    ck_assert(p2p_node_state_sync_progress(node_of(&w, 0), &pr));
    ck_assert_uint_eq(pr.peers_present, 0);
    /* Still stalled 2 s later: node 1's next advert is 5 s away. */
    w_run(&w, w.now + 2 * SEC, NULL);
    ck_assert(stalled(&w));
    ck_assert_uint_eq(w.chunk_reqs[1], per_peer);
    switch (exit_by) {
    case STALL_PEER_RECOVERS:
        w.nodes[1].store.chunk_not_found = false;
        break;
    case STALL_NEW_PEER:
    case STALL_NEWER_STATE:
        w_connect(&w, 0, 2);
        break;
    }
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, exit_by == STALL_NEWER_STATE ? ST_3 : ST_2, 1);
    ck_assert_uint_eq(m0->state_syncs_cancelled,
                      exit_by == STALL_NEWER_STATE ? 1 : 0);
    ck_assert_uint_eq(m0->state_chunks_received, SS_CHUNKS);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 0);
    w_fini(&w);
}
END_TEST

/* Node 1 serves wrong chunks (excluded after three; bans out of reach),
 * node 2 answers 204: the sync stalls. Node 2's store recovers: its
 * re-advert revives the sync (node 1, the lower id but excluded, does
 * not stand in the way), and node 1 stays excluded. */
START_TEST(revived_sync_keeps_its_exclusions)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.penalty_ban_points = 100000;
    w_add(&w, &c, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].store.corrupt_chunks = true;
    w_add_default(&w, 2, ST_2);
    w.nodes[2].store.chunk_not_found = true;
    w.forbid_at_bad = 3;
    w.forbid_peer = 1;
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);
    ck_assert(w_run(&w, w.now + 30 * SEC, stalled));
    struct p2p_chunk_progress pr;
    ck_assert(p2p_node_state_sync_progress(node_of(&w, 0), &pr));
    ck_assert_uint_eq(pr.peers_excluded, 1);
    ck_assert_uint_eq(pr.peers_present, 0); /* node 2 left at its 204 */
    ck_assert_uint_eq(metrics_of(&w, 0)->state_bad_data, 3);
    w.nodes[2].store.chunk_not_found = false;
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_bad_data, 3);
    ck_assert_uint_eq(peer_of(&w, 0, 2).penalty_total, 0);
    ck_assert(peer_of(&w, 0, 1).up); /* excluded, not banned */
    w_fini(&w);
}
END_TEST

/* A peer that lost its chunks answers 204 for them: each 204 takes it out
 * of the sync until its next advert (its other requests are reset), the
 * chunks come from the other advertiser, and nobody is penalised. */
START_TEST(lost_chunks_come_from_another_peer)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].store.chunk_not_found = true;
    w_add_default(&w, 2, ST_2);
    w.nodes[2].delay_ns = 30 * MS;
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    /* Each request to node 1 was answered 204 or reset after one. */
    ck_assert_uint_ge(m0->state_chunks_failed, 1);
    ck_assert_uint_eq(m0->state_chunks_failed + w.resets_to[1],
                      w.chunk_reqs[1]);
    ck_assert_uint_eq(m0->state_chunks_received, SS_CHUNKS);
    ck_assert_uint_eq(m0->state_bad_data, 0);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 0);
    ck_assert_uint_eq(metrics_of(&w, 1)->state_chunks_not_served,
                      w.chunk_reqs[1]);
    w_fini(&w);
}
END_TEST

/* The IC's rule: a peer that answers 204 for a chunk leaves the sync at
 * once. Node 1 answers 204 for every chunk, node 2 serves slowly (400 ms
 * each way). Node 1's first 204 resets its other request in flight, and
 * it is asked for nothing more until its next advert (5 s after its store
 * was set, at t = 1 us); that advert brings it back, it is asked again,
 * answers 204 again and leaves again. The state comes from node 2. */
START_TEST(no_content_drops_the_peer_until_its_next_advert)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = 2;
    c.state_sync_quorum = 2; /* both in the sync from its start */
    w_add(&w, &c, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 10 * MS;
    w.nodes[1].store.chunk_not_found = true;
    w_add_default(&w, 2, ST_2);
    w.nodes[2].delay_ns = 400 * MS;
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert(w_run(&w, w.now + 10 * SEC, first_failure));
    ck_assert_uint_eq(m0->state_chunks_failed, 1);
    ck_assert_uint_eq(w.chunk_reqs[1], 2);
    ck_assert_uint_eq(w.resets_to[1], 1); /* its other request */
    ck_assert_uint_eq(w.inflight[1], 0);
    struct p2p_chunk_progress pr;
    ck_assert(p2p_node_state_sync_progress(node_of(&w, 0), &pr));
    ck_assert_uint_eq(pr.peers_present, 1); /* node 2 only */
    /* Out until its next advert: asking it is a failure. */
    w.forbid[1] = true;
    w_run(&w, 5 * SEC - 1, NULL);
    ck_assert_uint_eq(w.chunk_reqs[1], 2);
    ck_assert(info_of(&w, 0).active);
    w.forbid[1] = false;
    ck_assert(w_run(&w, 5 * SEC + 100 * MS, second_request_round));
    ck_assert_uint_gt(w.chunk_reqs[1], 2);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_ge(m0->state_chunks_failed, 2);
    ck_assert_uint_eq(m0->state_chunks_failed + w.resets_to[1],
                      w.chunk_reqs[1]);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 0);
    w_fini(&w);
}
END_TEST

/* The only advertiser answers the manifest request 204: it is asked again
 * after 1 s (not at 1 s - 1), and no penalty. */
START_TEST(manifest_not_held_is_asked_again_after_a_pause)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 10 * MS;
    w_connect(&w, 0, 1);
    ck_assert(w_run(&w, w.now + 10 * SEC, manifest_asked));
    w.nodes[1].store.gone = true;
    /* Each way takes 100 us + 10 ms: the 204 arrives 20.2 ms later. */
    p2p_time answered = w.now + 2 * (100 * P2P_NS_PER_US + 10 * MS);
    w_run(&w, answered, NULL);
    ck_assert_uint_eq(metrics_of(&w, 1)->state_chunks_not_served, 1);
    w.nodes[1].store.gone = false;
    w_run(&w, answered + 1 * SEC - 1, NULL);
    ck_assert_uint_eq(w.manifest_reqs[1], 1);
    w_run(&w, answered + 1 * SEC, NULL);
    ck_assert_uint_eq(w.manifest_reqs[1], 2);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_eq(metrics_of(&w, 0)->state_bad_data, 0);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 0);
    w_fini(&w);
}
END_TEST

/* Node 1 (and, with _i == 0, node 2 too) checkpoints ST_3 and drops
 * ST_2 while node 0 fetches ST_2 from both: it advertises ST_3 and answers
 * 204 for ST_2's chunks. Its first 204 takes it out of the sync (its other
 * request in flight is abandoned), rather than one 204 per chunk with a
 * growing backoff between its turns. With both gone nobody can serve ST_2:
 * node 0 moves to ST_3 at once, not a minute of 204s later. With node 2
 * still serving ST_2, ST_2 is finished from it first. */
enum moved_on { MOVED_ON_BOTH, MOVED_ON_ONE };

static void move_on_to_st3(struct world *w, p2p_node_id id)
{
    struct fstore *s = &w->nodes[id].store;
    s->held_count = 0;
    fs_hold(s, ST_3);
    p2p_node_state_changed(node_of(w, id), w->now);
    w_drain(w, id);
}

START_TEST(advertisers_moving_on_leave_the_sync)
{
    enum moved_on which = (enum moved_on)_i;
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = 2;
    w_add(&w, &c, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 100 * MS;
    w_add_default(&w, 2, ST_2);
    w.nodes[2].delay_ns = 100 * MS;
    w_connect(&w, 0, 1);
    w_connect(&w, 0, 2);
    ck_assert(w_run(&w, w.now + 10 * SEC, chunks_held_2));
    ck_assert_uint_eq(w.inflight[1], 2);
    ck_assert_uint_eq(w.inflight[2], 2);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    uint32_t asked1 = w.chunk_reqs[1];
    /* It served the meta-manifest and the manifest chunk, if asked. */
    uint32_t manifest_served1 = w.manifest_reqs[1] + w.manifest_chunk_reqs[1];
    p2p_time moved = w.now;
    move_on_to_st3(&w, 1);
    if (which == MOVED_ON_BOTH)
        move_on_to_st3(&w, 2);
    /* Both gone: the adverts, then the 204s, each way 100.1 ms + 100 ms,
     * well within 1 s. One gone: ST_2 from node 2. */
    ck_assert(w_run(&w, moved + (which == MOVED_ON_BOTH ? 1 : 10) * SEC,
                    which == MOVED_ON_BOTH ? syncing_height_3 : synced_once));
    /* Of node 1's two requests in flight, one was served before it moved
     * on (node 0 then asked it one more), the other got its first 204:
     * that took node 1 out, its last request was reset, and it was asked
     * for no ST_2 chunk again. One failure per peer that moved on. */
    ck_assert_uint_eq(metrics_of(&w, 1)->state_chunks_served,
                      asked1 - 1 + manifest_served1);
    ck_assert_uint_eq(w.chunk_reqs[1], asked1 + 1);
    ck_assert_uint_eq(w.resets_to[1], 1);
    uint64_t failed = m0->state_chunks_failed;
    ck_assert_uint_eq(failed, which == MOVED_ON_BOTH ? 2 : 1);
    if (which == MOVED_ON_BOTH) {
        ck_assert_uint_eq(m0->state_syncs_cancelled, 1);
        ck_assert_uint_eq(w.events[P2P_EV_STATE_SYNC_CANCEL], 1);
        run_until_synced(&w, synced_once, 30 * SEC);
        assert_synced(&w, ST_3, 1);
    } else {
        /* ST_2 complete (ST_3 is synced next, from node 1). */
        ck_assert(p2p_state_hash_eq(&w.nodes[0].store.completed_root,
                                    &cat[ST_2].root));
        run_until_synced(&w, synced_twice, 30 * SEC);
        assert_synced(&w, ST_3, 2);
        ck_assert_uint_eq(m0->state_syncs_cancelled, 0);
    }
    ck_assert_uint_eq(m0->state_chunks_failed, failed);
    ck_assert_uint_eq(m0->state_bad_data, 0);
    ck_assert_uint_eq(peer_of(&w, 0, 1).penalty_total, 0);
    ck_assert_uint_eq(peer_of(&w, 0, 2).penalty_total, 0);
    w_fini(&w);
}
END_TEST

/* A node without a store records adverts, advertises nothing and never
 * syncs; a store removed mid-sync cancels it, and installing it again
 * syncs, reusing the chunks put before. */
START_TEST(store_absent_removed_and_reinstalled)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.state_chunks_per_peer = 2;
    w_add_store(&w, &c, NO_STATE, false);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 10 * MS;
    w_connect(&w, 0, 1);
    w_run(&w, w.now + 6 * SEC, NULL);
    const struct p2p_metrics *m0 = metrics_of(&w, 0);
    ck_assert_uint_eq(m0->state_adverts_received, 2);
    ck_assert_uint_eq(m0->state_adverts_sent, 0);
    ck_assert_uint_eq(m0->state_syncs_started, 0);
    ck_assert(!info_of(&w, 0).active);

    /* Installing the store uses the adverts already recorded. */
    p2p_node_set_state_store(node_of(&w, 0), w.now, &fs_ops,
                             &w.nodes[0].store);
    w_drain(&w, 0);
    ck_assert(info_of(&w, 0).active);
    ck_assert(w_run(&w, w.now + 10 * SEC, chunks_held_2));
    uint32_t put = w.nodes[0].store.puts;
    ck_assert_uint_ge(put, 2);
    p2p_node_set_state_store(node_of(&w, 0), w.now, NULL, NULL);
    w_drain(&w, 0);
    ck_assert(!info_of(&w, 0).active);
    ck_assert_uint_eq(m0->state_syncs_cancelled, 1);
    ck_assert_uint_eq(w.inflight[1], 0);
    ck_assert_uint_eq(w.nodes[0].mem.module_bytes[P2P_MEM_STATE_SYNC], 0);
    w_run(&w, w.now + 6 * SEC, NULL);
    ck_assert_uint_eq(m0->state_syncs_started, 1);

    p2p_node_set_state_store(node_of(&w, 0), w.now, &fs_ops,
                             &w.nodes[0].store);
    w_drain(&w, 0);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1);
    ck_assert_uint_eq(m0->state_syncs_started, 2);
    ck_assert_uint_eq(m0->state_chunks_reused, put);
    w_fini(&w);
}
END_TEST

/* ---- large topologies ---- */

static int raw_respond(struct harness *h, p2p_node_id peer, uint64_t stream_id,
                       uint32_t status, const uint8_t *body, size_t len)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *frame;
    size_t frame_len;
    ck_assert_int_eq(p2p_frame_response_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_response){
                             .status = status, .body = body, .body_len = len},
                         &frame, &frame_len),
                     0);
    int rc = p2p_node_on_stream_data(
        h->node, h->now,
        &(struct p2p_stream_bytes){.peer = peer,
                                   .stream_id = stream_id,
                                   .inbound = false,
                                   .data = frame,
                                   .len = frame_len,
                                   .fin = true});
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    return rc;
}

/* As raw_respond with a 200 whose body is the encoding byte `encoding`
 * and bytes[0..len). */
static int respond_encoded(struct harness *h, p2p_node_id peer,
                           uint64_t stream_id, uint8_t encoding,
                           const uint8_t *bytes, size_t len)
{
    uint8_t *body = malloc(1 + len);
    ck_assert_ptr_nonnull(body);
    body[0] = encoding;
    memcpy(body + 1, bytes, len);
    int rc = raw_respond(h, peer, stream_id, 200, body, 1 + len);
    free(body);
    return rc;
}

/* The only chunk request the node sent since the last h_clear: its peer,
 * stream and ChunkRequest fields. */
static void only_chunk_request(struct harness *h, p2p_node_id *peer,
                               uint64_t *stream, bool *manifest,
                               uint32_t *index)
{
    ck_assert_uint_eq(h_count(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_STATE_CHUNK),
                      1);
    const struct p2p_action *q =
        h_find(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_STATE_CHUNK, 0);
    P2p__V1__ChunkRequest *req = chunk_request_of(q);
    *peer = q->peer;
    *stream = q->stream_id;
    *manifest = req->manifest;
    *index = req->index;
    p2p__v1__chunk_request__free_unpacked(req, NULL);
    h_clear(h);
}

/* Answers the node's meta-manifest request for m, then its requests for
 * m's manifest chunks (which go to the meta-manifest's server, the only
 * peer of that phase until other adverts come), all raw. The outbox then
 * holds what the node did after the last answer. Returns that server. */
static p2p_node_id serve_manifest_to(struct harness *h,
                                     const struct p2p_state_manifest *m)
{
    p2p_node_id asked;
    uint64_t stream;
    bool manifest;
    uint32_t index;
    only_chunk_request(h, &asked, &stream, &manifest, &index);
    ck_assert(manifest);
    struct p2p_state_meta meta;
    p2p_state_meta_of(m, &meta);
    uint8_t enc[P2P_STATE_META_BYTES_MAX];
    ck_assert_int_eq(p2p_state_meta_encode(&meta, enc, sizeof(enc)), 0);
    ck_assert_int_eq(respond_encoded(h, asked, stream, P2P_STATE_ENCODING_RAW,
                                     enc, p2p_state_meta_encoded_len(&meta)),
                     0);
    size_t total = p2p_state_manifest_encoded_len(m);
    uint8_t *buf = malloc(total);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(p2p_state_manifest_encode(m, buf, total), 0);
    uint32_t answered = 0;
    for (;;) {
        struct {
            uint64_t stream;
            uint32_t k;
        } got[P2P_STATE_MANIFEST_CHUNKS_MAX];
        uint32_t n = 0;
        const struct p2p_action *q;
        for (size_t i = 0;
             (q = h_find(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_STATE_CHUNK, i));
             i++) {
            P2p__V1__ChunkRequest *req = chunk_request_of(q);
            ck_assert(!req->manifest);
            ck_assert_uint_ge(req->index, P2P_STATE_SYNC_MANIFEST_CHUNK);
            ck_assert_uint_eq(q->peer, asked);
            ck_assert_uint_lt(n, P2P_STATE_MANIFEST_CHUNKS_MAX);
            got[n].stream = q->stream_id;
            got[n++].k = req->index - P2P_STATE_SYNC_MANIFEST_CHUNK;
            p2p__v1__chunk_request__free_unpacked(req, NULL);
        }
        if (n == 0)
            break;
        h_clear(h);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = got[i].k;
            ck_assert_uint_lt(k, meta.chunks_count);
            size_t at = (size_t)k * P2P_STATE_MANIFEST_CHUNK_BYTES;
            ck_assert_int_eq(
                respond_encoded(h, asked, got[i].stream, P2P_STATE_ENCODING_RAW,
                                buf + at, p2p_state_meta_chunk_size(&meta, k)),
                0);
            answered++;
            if (answered == meta.chunks_count)
                break;
        }
        if (answered == meta.chunks_count)
            break;
    }
    ck_assert_uint_eq(answered, meta.chunks_count);
    free(buf);
    return asked;
}

/* A topology larger than the scheduler's default 128 peers: every peer
 * gets its share of requests at once (the records of started chunks
 * follow the raised peers_max), and 1024 members x 1024 per peer stays
 * within the scheduler's bounds. One node, hand-played peers. */
static const struct {
    uint32_t members, per_peer, peers, chunks, inflight;
} wide[] = {
    {300, 1, 299, 512, 299},
    {1024, 1024, 1, 512, 512},
};

START_TEST(large_topology_uses_every_peer)
{
    uint32_t members = wide[_i].members, peers = wide[_i].peers;
    uint32_t chunks = wide[_i].chunks;
    struct p2p_config c;
    ss_config(&c, 0);
    c.events = false;
    c.state_chunks_per_peer = wide[_i].per_peer;
    struct harness h;
    h_init_cfg(&h, &c, 0);
    struct p2p_member *ms = calloc(members, sizeof(*ms));
    ck_assert_ptr_nonnull(ms);
    for (uint32_t i = 0; i < members; i++) {
        ms[i].id = i;
        snprintf(ms[i].addr, sizeof(ms[i].addr), "10.0.%u:4100", i);
    }
    ck_assert_int_eq(p2p_node_on_topology(
                         h.node, h.now,
                         &(struct p2p_topology_update){.version = 1,
                                                       .earliest_version = 1,
                                                       .members = ms,
                                                       .count = members}),
                     0);
    free(ms);
    for (p2p_node_id p = 1; p <= peers; p++)
        ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, p), 0);
    struct fstore s;
    memset(&s, 0, sizeof(s));
    p2p_node_set_state_store(h.node, h.now, &fs_ops, &s);
    h_clear(&h);

    /* A state of `chunks` chunks of 64 bytes at height 5. */
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *blob = malloc((size_t)chunks * 64);
    ck_assert_ptr_nonnull(blob);
    uint8_t one[SS_CHUNK_BYTES];
    for (uint32_t i = 0; i < chunks; i++) {
        fill_chunk(one, i, 99);
        memcpy(blob + (size_t)i * 64, one, 64);
    }
    struct p2p_state_manifest m;
    p2p_state_manifest_init(&m);
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, P2P_MEM_OTHER, 5,
                                                   64, blob,
                                                   (uint64_t)chunks * 64), 0);
    struct p2p_state_hash root;
    p2p_state_manifest_root(&m, &root);

    P2p__V1__StateAdvert a = P2P__V1__STATE_ADVERT__INIT;
    a.height = 5;
    a.root.data = root.b;
    a.root.len = sizeof(root.b);
    for (p2p_node_id p = 1; p <= peers; p++)
        ck_assert_int_eq(h_request(&h, p, P2P_ROUTE_STATE_ADVERT, &a.base), 0);
    serve_manifest_to(&h, &m);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_STATE_CHUNK),
                      wide[_i].inflight);
    struct p2p_chunk_progress pr;
    ck_assert(p2p_node_state_sync_progress(h.node, &pr));
    ck_assert_uint_eq(pr.chunks_total, chunks);
    ck_assert_uint_eq(pr.chunks_inflight, wide[_i].inflight);
    ck_assert_uint_eq(pr.peers_present, peers);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
    free(blob);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST


/* ---- 10. serving ---- */

static uint32_t penalty_of(struct harness *h, p2p_node_id peer)
{
    struct p2p_peer_info info;
    ck_assert_int_eq(p2p_node_peer_info(h->node, peer, &info), 0);
    return info.penalty;
}

static void serve_init(struct harness *h, struct fstore *s, unsigned peers)
{
    struct p2p_config c;
    ss_config(&c, 0);
    c.events = false;
    h_init_cfg(h, &c, peers);
    memset(s, 0, sizeof(*s));
    fs_hold(s, ST_2);
    p2p_node_set_state_store(h->node, h->now, &fs_ops, s);
    ck_assert_uint_eq(h_count(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_STATE_ADVERT),
                      peers);
    h_clear(h);
}

static int raw_request(struct harness *h, p2p_node_id peer,
                       enum p2p_route route, const uint8_t *body, size_t len)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *frame;
    size_t frame_len;
    ck_assert_int_eq(p2p_frame_request_encode(
                         &mem, P2P_MEM_OTHER,
                         &(struct p2p_frame_request){
                             .route = route, .body = body, .body_len = len},
                         &frame, &frame_len),
                     0);
    int rc = p2p_node_on_stream_data(
        h->node, h->now,
        &(struct p2p_stream_bytes){.peer = peer,
                                   .stream_id = h->next_peer_stream++,
                                   .inbound = true,
                                   .data = frame,
                                   .len = frame_len,
                                   .fin = true});
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    return rc;
}

/* The status and body (copied to body[0..cap)) of the only response. */
static uint32_t only_response(struct harness *h, enum p2p_route route,
                              uint8_t *body, size_t cap, size_t *len)
{
    ck_assert_uint_eq(h_count(h, P2P_ACT_STREAM_RESPOND, -1), 1);
    const struct p2p_action *a = h_find(h, P2P_ACT_STREAM_RESPOND, -1, 0);
    struct p2p_route_limits limits;
    p2p_route_limits_default(&limits);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, P2P_FRAME_RESPONSE, &limits, route);
    ck_assert_int_eq(p2p_frame_reader_feed(&r, a->bytes, a->len), 0);
    struct p2p_frame f;
    ck_assert_int_eq(p2p_frame_reader_finish(&r, &f), 0);
    ck_assert_uint_eq(f.status, a->status);
    ck_assert_uint_le(f.body_len, cap);
    memcpy(body, f.body, f.body_len);
    *len = f.body_len;
    p2p_frame_reader_fini(&r);
    return a->status;
}

enum root_kind { R_HELD, R_OTHER, R_SHORT, R_NONE };

static const struct serve_case {
    const char *name;
    enum root_kind root;
    uint64_t height;
    bool manifest;
    uint32_t index;
    bool chunk_not_found; /* the store lost the chunk */
    uint32_t status;
    int rc;
    bool penalised;
} serve_cases[] = {
    {"first chunk", R_HELD, 2, false, 0, false, 200, 0, false},
    {"last chunk", R_HELD, 2, false, SS_CHUNKS - 1, false, 200, 0, false},
    {"index = count", R_HELD, 2, false, SS_CHUNKS, false, 400,
     P2P_ERR_INVALID_ARG, true},
    {"index max (a manifest chunk past the meta-manifest)", R_HELD, 2, false,
     UINT32_MAX, false, 400, P2P_ERR_INVALID_ARG, true},
    {"index below the manifest chunks", R_HELD, 2, false,
     P2P_STATE_SYNC_MANIFEST_CHUNK - 1, false, 400, P2P_ERR_INVALID_ARG, true},
    {"meta-manifest", R_HELD, 2, true, 0, false, 200, 0, false},
    {"meta-manifest, index ignored", R_HELD, 2, true, 99, false, 200, 0, false},
    {"manifest chunk 0", R_HELD, 2, false, P2P_STATE_SYNC_MANIFEST_CHUNK, false,
     200, 0, false},
    {"manifest chunk 1 (past the only one)", R_HELD, 2, false,
     P2P_STATE_SYNC_MANIFEST_CHUNK + 1, false, 400, P2P_ERR_INVALID_ARG, true},
    {"unknown root, manifest chunk", R_OTHER, 2, false,
     P2P_STATE_SYNC_MANIFEST_CHUNK, false, 204, 0, false},
    {"unknown root", R_OTHER, 2, false, 0, false, 204, 0, false},
    {"unknown root, manifest", R_OTHER, 2, true, 0, false, 204, 0, false},
    {"held root, other height", R_HELD, 3, false, 0, false, 204, 0, false},
    {"chunk lost by the store", R_HELD, 2, false, 3, true, 204, 0, false},
    {"root of 31 bytes", R_SHORT, 2, false, 0, false, 400, P2P_ERR_DECODE,
     true},
    {"no root", R_NONE, 2, false, 0, false, 400, P2P_ERR_DECODE, true},
};

START_TEST(serving_chunk_requests)
{
    const struct serve_case *t = &serve_cases[_i];
    struct harness h;
    struct fstore s;
    serve_init(&h, &s, 1);
    s.chunk_not_found = t->chunk_not_found;
    P2p__V1__ChunkRequest req = P2P__V1__CHUNK_REQUEST__INIT;
    req.height = t->height;
    req.root.data = t->root == R_OTHER ? cat[ST_2_ALT].root.b
                                       : cat[ST_2].root.b;
    req.root.len = t->root == R_SHORT  ? P2P_STATE_HASH_BYTES - 1
                   : t->root == R_NONE ? 0
                                       : P2P_STATE_HASH_BYTES;
    req.manifest = t->manifest;
    req.index = t->index;
    ck_assert_msg(h_request(&h, 1, P2P_ROUTE_STATE_CHUNK, &req.base) == t->rc,
                  "%s", t->name);
    static uint8_t body[1 + P2P_STATE_MANIFEST_HEADER_BYTES +
                        SS_CHUNKS * P2P_STATE_MANIFEST_ENTRY_BYTES +
                        SS_CHUNK_BYTES];
    size_t len;
    ck_assert_uint_eq(only_response(&h, P2P_ROUTE_STATE_CHUNK, body,
                                    sizeof(body), &len), t->status);
    const struct p2p_metrics *m = p2p_node_metrics(h.node);
    /* Random bytes and hashes: every 200 is raw. */
    if (t->status == 200)
        ck_assert_uint_eq(body[0], P2P_STATE_ENCODING_RAW);
    if (t->status == 200 && t->manifest) {
        /* The meta-manifest, which the root names. */
        struct p2p_state_hash root;
        p2p_state_hash_of(body + 1, len - 1, &root);
        ck_assert(p2p_state_hash_eq(&root, &cat[ST_2].root));
    } else if (t->status == 200 && t->index >= P2P_STATE_SYNC_MANIFEST_CHUNK) {
        /* The whole encoding: it fits in one manifest chunk. */
        uint8_t enc[P2P_STATE_MANIFEST_HEADER_BYTES +
                    SS_CHUNKS * P2P_STATE_MANIFEST_ENTRY_BYTES];
        ck_assert_int_eq(
            p2p_state_manifest_encode(&cat[ST_2].m, enc, sizeof(enc)), 0);
        ck_assert_uint_eq(len, 1 + sizeof(enc));
        ck_assert_int_eq(memcmp(body + 1, enc, sizeof(enc)), 0);
    } else if (t->status == 200) {
        ck_assert_uint_eq(len, 1 + SS_CHUNK_BYTES);
        ck_assert_int_eq(
            memcmp(body + 1,
                   cat[ST_2].bytes + (size_t)t->index * SS_CHUNK_BYTES,
                   SS_CHUNK_BYTES),
            0);
    } else {
        ck_assert_uint_eq(len, 0);
    }
    ck_assert_uint_eq(m->state_chunks_served, t->status == 200);
    ck_assert_uint_eq(m->state_chunks_not_served, t->status == 204);
    ck_assert_uint_eq(penalty_of(&h, 1), t->penalised ? 25 : 0);
    ck_assert_uint_eq(m->state_syncs_started, 0);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

START_TEST(serving_malformed_and_good_adverts)
{
    struct harness h;
    struct fstore s;
    serve_init(&h, &s, 4);
    uint8_t body[64];
    size_t len;
    /* Not protobuf at all, on either route: 400 and a penalty. */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(raw_request(&h, 1, P2P_ROUTE_STATE_CHUNK, garbage,
                                 sizeof(garbage)), P2P_ERR_DECODE);
    ck_assert_uint_eq(only_response(&h, P2P_ROUTE_STATE_CHUNK, body,
                                    sizeof(body), &len), 400);
    ck_assert_uint_eq(penalty_of(&h, 1), 25);
    h_clear(&h);
    ck_assert_int_eq(raw_request(&h, 2, P2P_ROUTE_STATE_ADVERT, garbage,
                                 sizeof(garbage)), P2P_ERR_DECODE);
    ck_assert_uint_eq(only_response(&h, P2P_ROUTE_STATE_ADVERT, body,
                                    sizeof(body), &len), 400);
    ck_assert_uint_eq(penalty_of(&h, 2), 25);
    h_clear(&h);
    /* An advert whose root is not 32 bytes. */
    P2p__V1__StateAdvert a = P2P__V1__STATE_ADVERT__INIT;
    a.height = 3;
    a.root.data = cat[ST_3].root.b;
    a.root.len = P2P_STATE_HASH_BYTES - 1;
    ck_assert_int_eq(h_request(&h, 3, P2P_ROUTE_STATE_ADVERT, &a.base),
                     P2P_ERR_DECODE);
    ck_assert_uint_eq(only_response(&h, P2P_ROUTE_STATE_ADVERT, body,
                                    sizeof(body), &len), 400);
    ck_assert_uint_eq(penalty_of(&h, 3), 25);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->state_adverts_received, 0);
    h_clear(&h);
    /* A good advert of a newer state: 200, recorded, and (quorum 1) a
     * sync starts with a manifest request to that peer. */
    a.root.len = P2P_STATE_HASH_BYTES;
    ck_assert_int_eq(h_request(&h, 4, P2P_ROUTE_STATE_ADVERT, &a.base), 0);
    ck_assert_uint_eq(h_response_status(&h, 0), 200);
    ck_assert_uint_eq(penalty_of(&h, 4), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->state_adverts_received, 1);
    const struct p2p_action *open =
        h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_STATE_CHUNK, 0);
    ck_assert_ptr_nonnull(open);
    ck_assert_uint_eq(open->peer, 4);
    P2p__V1__ChunkRequest *req = chunk_request_of(open);
    ck_assert(req->manifest);
    ck_assert_uint_eq(req->height, 3);
    ck_assert_int_eq(memcmp(req->root.data, cat[ST_3].root.b,
                            P2P_STATE_HASH_BYTES), 0);
    p2p__v1__chunk_request__free_unpacked(req, NULL);
    /* An advert of an older state starts nothing. */
    h_clear(&h);
    a.height = 1;
    a.root.data = cat[ST_1].root.b;
    ck_assert_int_eq(h_request(&h, 1, P2P_ROUTE_STATE_ADVERT, &a.base), 0);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, -1), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->state_syncs_started, 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* ---- manifest chunks and hostile chunk answers, hand-played ---- */

/* Peer p advertises the state (m, root) to the node. */
static void advertise_to(struct harness *h, p2p_node_id p,
                         const struct p2p_state_manifest *m,
                         const struct p2p_state_hash *root)
{
    P2p__V1__StateAdvert a = P2P__V1__STATE_ADVERT__INIT;
    a.height = m->height;
    a.root.data = (uint8_t *)root->b;
    a.root.len = sizeof(root->b);
    ck_assert_int_eq(h_request(h, p, P2P_ROUTE_STATE_ADVERT, &a.base), 0);
}

/* A node with a store (empty) and `peers` peers up, all advertising the
 * state of manifest m at its height: the sync has started and asked one
 * of them for the meta-manifest. */
static void sync_setup(struct harness *h, struct fstore *s, unsigned peers,
                       const struct p2p_state_manifest *m,
                       struct p2p_state_hash *root)
{
    struct p2p_config c;
    ss_config(&c, 0);
    c.events = false;
    h_init_cfg(h, &c, peers);
    memset(s, 0, sizeof(*s));
    p2p_node_set_state_store(h->node, h->now, &fs_ops, s);
    h_clear(h);
    p2p_state_manifest_root(m, root);
    for (p2p_node_id p = 1; p <= peers; p++)
        advertise_to(h, p, m, root);
}

/* The chunk requests in the outbox: peer, stream and index of each. */
struct req_seen {
    p2p_node_id peer;
    uint64_t stream;
    uint32_t index;
};

static size_t chunk_requests(struct harness *h, struct req_seen *out,
                             size_t cap)
{
    size_t n = 0;
    const struct p2p_action *q;
    for (size_t i = 0;
         (q = h_find(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_STATE_CHUNK, i)); i++) {
        P2p__V1__ChunkRequest *req = chunk_request_of(q);
        ck_assert_uint_lt(n, cap);
        out[n++] = (struct req_seen){q->peer, q->stream_id, req->index};
        p2p__v1__chunk_request__free_unpacked(req, NULL);
    }
    return n;
}

/* A state of 40,000 one-byte chunks has a manifest of 1,440,029 bytes:
 * two manifest chunks (1 MiB and 391,453 bytes), both asked of the
 * meta-manifest's server at once. It serves manifest chunk 1's bytes as
 * chunk 0: wrong bytes (34 points), and chunk 0 goes to another
 * advertiser once they re-advertise; the pieces are reassembled, the
 * manifest decoded, and every chunk asked of the three peers. */
START_TEST(manifest_in_several_chunks_is_reassembled)
{
    enum { N = 40000 };
    static uint8_t blob[N];
    fill_chunk(blob, 7, 7); /* the first 4 KiB */
    for (size_t i = SS_CHUNK_BYTES; i < N; i++)
        blob[i] = (uint8_t)(blob[i - SS_CHUNK_BYTES] * 31 + i);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, P2P_MEM_OTHER, 5,
                                                   1, blob, N),
                     0);
    size_t total = p2p_state_manifest_encoded_len(&m);
    ck_assert_uint_eq(total, 1440029);
    uint8_t *enc = malloc(total);
    ck_assert_int_eq(p2p_state_manifest_encode(&m, enc, total), 0);
    struct harness h;
    struct fstore s;
    struct p2p_state_hash root;
    sync_setup(&h, &s, 3, &m, &root);

    p2p_node_id asked;
    uint64_t stream;
    bool manifest;
    uint32_t index;
    only_chunk_request(&h, &asked, &stream, &manifest, &index);
    ck_assert(manifest);
    struct p2p_state_meta meta;
    p2p_state_meta_of(&m, &meta);
    ck_assert_uint_eq(meta.chunks_count, 2);
    uint8_t menc[P2P_STATE_META_BYTES_MAX];
    ck_assert_int_eq(p2p_state_meta_encode(&meta, menc, sizeof(menc)), 0);
    ck_assert_int_eq(respond_encoded(&h, asked, stream, P2P_STATE_ENCODING_RAW,
                                     menc, p2p_state_meta_encoded_len(&meta)),
                     0);
    struct req_seen r[4];
    ck_assert_uint_eq(chunk_requests(&h, r, 4), 2);
    h_clear(&h);
    size_t piece1 = total - P2P_STATE_MANIFEST_CHUNK_BYTES;
    for (int k = 0; k < 2; k++) {
        ck_assert_uint_eq(r[k].peer, asked);
        ck_assert_uint_eq(r[k].index, P2P_STATE_SYNC_MANIFEST_CHUNK + k);
    }
    /* Chunk 0 answered with chunk 1's bytes, chunk 1 rightly. */
    ck_assert_int_eq(respond_encoded(&h, asked, r[0].stream,
                                     P2P_STATE_ENCODING_RAW,
                                     enc + P2P_STATE_MANIFEST_CHUNK_BYTES,
                                     piece1),
                     0);
    ck_assert_int_eq(respond_encoded(&h, asked, r[1].stream,
                                     P2P_STATE_ENCODING_RAW,
                                     enc + P2P_STATE_MANIFEST_CHUNK_BYTES,
                                     piece1),
                     0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->state_bad_data, 1);
    ck_assert_uint_eq(penalty_of(&h, asked), P2P_PENALTY_BAD_STATE);
    struct p2p_chunk_progress pr;
    ck_assert(!p2p_node_state_sync_progress(h.node, &pr)); /* no manifest */
    h_clear(&h);
    /* The others re-advertise and join; chunk 0 goes to one of them. */
    for (p2p_node_id p = 1; p <= 3; p++)
        if (p != asked)
            advertise_to(&h, p, &m, &root);
    ck_assert_uint_eq(chunk_requests(&h, r, 4), 1);
    ck_assert_uint_ne(r[0].peer, asked);
    ck_assert_uint_eq(r[0].index, P2P_STATE_SYNC_MANIFEST_CHUNK);
    h_clear(&h);
    ck_assert_int_eq(respond_encoded(&h, r[0].peer, r[0].stream,
                                     P2P_STATE_ENCODING_RAW, enc,
                                     P2P_STATE_MANIFEST_CHUNK_BYTES),
                     0);
    ck_assert(p2p_node_state_sync_progress(h.node, &pr));
    ck_assert_uint_eq(pr.chunks_total, N);
    ck_assert_uint_eq(pr.peers_present, 3);
    ck_assert_uint_eq(h_count(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_STATE_CHUNK),
                      3 * h.cfg.state_chunks_per_peer);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->state_manifests_fetched, 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    h_fini(&h);
    free(enc);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* A zstd frame of `len` zero bytes that declares its size. */
static uint8_t *zero_frame(size_t len, size_t *out_len)
{
    uint8_t *zeros = calloc(1, len);
    size_t cap = ZSTD_compressBound(len);
    uint8_t *out = malloc(1 + cap);
    ck_assert_ptr_nonnull(zeros);
    ck_assert_ptr_nonnull(out);
    out[0] = P2P_STATE_ENCODING_ZSTD;
    size_t n = ZSTD_compress(out + 1, cap, zeros, len, 1);
    ck_assert(!ZSTD_isError(n));
    free(zeros);
    *out_len = 1 + n;
    return out;
}

/* A chunk answered with a compression bomb (a frame of 8 MiB + 1 zero
 * bytes, a few hundred bytes on the wire, for a chunk of 4 KiB), or with
 * a frame of 4 KiB of zeros (the right size, the wrong bytes): wrong
 * bytes from the peer, penalised; the bomb's declared size is refused
 * before anything is allocated for it. */
START_TEST(compression_bomb_is_bad_data_from_the_peer)
{
    bool bomb = _i == 0;
    struct harness h;
    struct fstore s;
    struct p2p_state_hash root;
    sync_setup(&h, &s, 1, &cat[ST_2].m, &root);
    serve_manifest_to(&h, &cat[ST_2].m);
    struct req_seen r[16];
    size_t n = chunk_requests(&h, r, 16);
    ck_assert_uint_eq(n, h.cfg.state_chunks_per_peer);
    h_clear(&h);
    size_t flen;
    uint8_t *frame = zero_frame(bomb ? P2P_STATE_CODEC_DECOMPRESSED_MAX + 1
                                     : SS_CHUNK_BYTES,
                                &flen);
    ck_assert_uint_lt(flen, 1024);
    size_t peak = h.mem.bytes_peak;
    ck_assert_int_eq(raw_respond(&h, 1, r[0].stream, 200, frame, flen), 0);
    const struct p2p_metrics *mt = p2p_node_metrics(h.node);
    ck_assert_uint_eq(mt->state_bad_data, 1);
    ck_assert_uint_eq(mt->state_chunks_received, 0);
    ck_assert_uint_eq(penalty_of(&h, 1), P2P_PENALTY_BAD_STATE);
    /* The bomb is refused from its header, before the decompressor is
     * even made; the honest-looking frame makes it once (about 160 KiB),
     * far below the 8 MiB a bomb would want. */
    ck_assert_uint_lt(h.mem.bytes_peak, peak + (bomb ? 64 : 512) * 1024);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    free(frame);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* A store with one state whose manifest needs two manifest chunks: the
 * meta-manifest hashes to its root, manifest chunks 0 and 1 are the
 * encoding's two pieces (sent as zstd frames: the sizes, all 1, shrink),
 * and chunk 2 is past the meta-manifest: 400 and a penalty. */
static const struct p2p_state_manifest *big_m;
static struct p2p_state_hash big_root;

static const struct p2p_state_manifest *big_latest(void *ctx,
                                                   struct p2p_state_hash *root)
{
    *root = big_root;
    return big_m;
}

static const struct p2p_state_manifest *
big_manifest(void *ctx, uint64_t height, const struct p2p_state_hash *root)
{
    return height == big_m->height && p2p_state_hash_eq(root, &big_root)
               ? big_m
               : NULL;
}

static int big_chunk(void *ctx, uint64_t height,
                     const struct p2p_state_hash *root, uint32_t index,
                     const uint8_t **bytes, size_t *len)
{
    return P2P_ERR_NOT_FOUND;
}

static const struct p2p_state_store_ops big_ops = {
    .latest = big_latest,
    .manifest = big_manifest,
    .chunk = big_chunk,
    .has_chunk = fs_has_chunk,
    .put_chunk = fs_put_chunk,
    .complete = fs_complete,
};

START_TEST(serving_a_manifest_in_several_chunks)
{
    enum { N = 40000 };
    static uint8_t blob[N];
    for (size_t i = 0; i < N; i++)
        blob[i] = (uint8_t)(i * 2654435761u >> 13);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_state_manifest m;
    ck_assert_int_eq(p2p_state_manifest_build_blob(&m, &mem, P2P_MEM_OTHER, 9,
                                                   1, blob, N),
                     0);
    big_m = &m;
    p2p_state_manifest_root(&m, &big_root);
    size_t total = p2p_state_manifest_encoded_len(&m);
    uint8_t *enc = malloc(total), *got = malloc(total);
    ck_assert_int_eq(p2p_state_manifest_encode(&m, enc, total), 0);
    struct p2p_config c;
    ss_config(&c, 0);
    c.events = false;
    struct harness h;
    h_init_cfg(&h, &c, 1);
    p2p_node_set_state_store(h.node, h.now, &big_ops, NULL);
    h_clear(&h);
    struct p2p_mem dm;
    p2p_mem_init(&dm);
    struct p2p_state_codec codec;
    p2p__state_sync_codec_init(&codec, &dm, P2P_MEM_OTHER);
    static uint8_t body[1 + P2P_STATE_MANIFEST_CHUNK_BYTES + 64];
    size_t at = 0;
    for (uint32_t k = 0; k <= 3; k++) {
        P2p__V1__ChunkRequest req = P2P__V1__CHUNK_REQUEST__INIT;
        req.height = 9;
        req.root.data = big_root.b;
        req.root.len = sizeof(big_root.b);
        req.manifest = k == 0;
        req.index = k == 0 ? 0 : P2P_STATE_SYNC_MANIFEST_CHUNK + k - 1;
        int rc = h_request(&h, 1, P2P_ROUTE_STATE_CHUNK, &req.base);
        size_t len;
        uint32_t status = only_response(&h, P2P_ROUTE_STATE_CHUNK, body,
                                        sizeof(body), &len);
        h_clear(&h);
        if (k == 0) {
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(status, 200);
            ck_assert_uint_eq(body[0], P2P_STATE_ENCODING_RAW);
            struct p2p_state_hash hh;
            p2p_state_hash_of(body + 1, len - 1, &hh);
            ck_assert(p2p_state_hash_eq(&hh, &big_root));
            continue;
        }
        if (k == 3) { /* past the two */
            ck_assert_int_eq(rc, P2P_ERR_INVALID_ARG);
            ck_assert_uint_eq(status, 400);
            ck_assert_uint_eq(penalty_of(&h, 1), P2P_PENALTY_BAD_UPDATE);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(status, 200);
        ck_assert_uint_eq(body[0], P2P_STATE_ENCODING_ZSTD);
        size_t want = k == 1 ? P2P_STATE_MANIFEST_CHUNK_BYTES
                             : total - P2P_STATE_MANIFEST_CHUNK_BYTES;
        struct p2p_state_decoded d;
        ck_assert_int_eq(p2p__state_sync_codec_decode(&codec, body, len, want,
                                                      got + at, total - at,
                                                      &d),
                         0);
        at += d.len;
    }
    ck_assert_uint_eq(at, total);
    ck_assert_int_eq(memcmp(got, enc, total), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->state_chunks_served_compressed,
                      2);
    p2p__state_sync_codec_fini(&codec);
    h_fini(&h);
    free(enc);
    free(got);
    p2p_state_manifest_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* ---- 11. determinism ---- */

/* Four peers: honest, lying about chunks, deaf, lying about the manifest;
 * quorum 2. Returns the hash of every action of every node. */
static uint64_t messy_sync(uint64_t seed, uint64_t *actions)
{
    struct world w;
    w_init(&w);
    struct p2p_config c;
    ss_config(&c, 0);
    c.seed = seed;
    c.state_sync_quorum = 2;
    c.state_chunks_per_peer = 3;
    c.state_chunk_timeout_ns = 2 * SEC;
    w_add(&w, &c, NO_STATE);
    static const p2p_time delays[] = {0, 50 * MS, 5 * MS, 1 * MS, 20 * MS};
    for (p2p_node_id p = 1; p <= 4; p++) {
        w_add_default(&w, p, ST_2);
        w.nodes[p].delay_ns = delays[p];
    }
    w.nodes[2].store.corrupt_chunks = true;
    w.nodes[3].deaf = true;
    w.nodes[4].store.corrupt_manifest = true;
    for (p2p_node_id p = 1; p <= 4; p++)
        w_connect(&w, 0, p);
    run_until_synced(&w, synced_once, 60 * SEC);
    assert_synced(&w, ST_2, 1);
    w_run(&w, w.now + 6 * SEC, NULL);
    *actions = w.actions;
    uint64_t h = w.hash;
    w_fini(&w);
    return h;
}

START_TEST(same_scenario_same_actions)
{
    uint64_t n1, n2, n3;
    uint64_t h1 = messy_sync(7, &n1);
    uint64_t h2 = messy_sync(7, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_uint_gt(n1, 100);
    ck_assert_uint_eq(h1, h2);
    /* The node's PRNG matters: another seed, another run. */
    uint64_t h3 = messy_sync(8, &n3);
    ck_assert_uint_ne(h1, h3);
}
END_TEST

/* ---- 12. memory ---- */

START_TEST(memory_charged_while_syncing_and_freed)
{
    struct world w;
    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w.nodes[1].delay_ns = 10 * MS;
    w_connect(&w, 0, 1);
    ck_assert_uint_eq(w.nodes[0].mem.module_bytes[P2P_MEM_STATE_SYNC], 0);
    ck_assert(w_run(&w, w.now + 10 * SEC, have_manifest));
    /* At least the decoded manifest's chunk table. */
    ck_assert_uint_ge(w.nodes[0].mem.module_bytes[P2P_MEM_STATE_SYNC],
                      SS_CHUNKS * sizeof(struct p2p_state_chunk));
    /* The server's manifest encoding was temporary. */
    ck_assert_uint_eq(w.nodes[1].mem.module_bytes[P2P_MEM_STATE_SYNC], 0);
    /* Deleting the nodes mid-sync (requests in flight) leaks nothing:
     * w_fini checks every node's live bytes are 0. */
    ck_assert_uint_gt(w.inflight[1], 0);
    w_fini(&w);

    w_init(&w);
    w_add_default(&w, 0, NO_STATE);
    w_add_default(&w, 1, ST_2);
    w_connect(&w, 0, 1);
    run_until_synced(&w, synced_once, 30 * SEC);
    assert_synced(&w, ST_2, 1); /* STATE_SYNC bytes are 0 again */
    w_fini(&w);
}
END_TEST

/* ---- allocation failures ---- */

/* The N-th allocation of node _i (0: the syncing node, 1: the server)
 * fails, for N = 1, 2, ... until a sync needs no more: every run keeps the
 * invariants, still completes (a failure only delays it), and frees
 * everything. */
START_TEST(allocation_failure_walk)
{
    p2p_node_id victim = (p2p_node_id)_i;
    for (uint64_t n = 1;; n++) {
        ck_assert_msg(n < 5000, "still failing after 5000 allocations");
        struct world w;
        w_init(&w);
        w_add_default(&w, 0, NO_STATE);
        w_add_default(&w, 1, ST_2);
        struct p2p_mem *mem = &w.nodes[victim].mem;
        mem->fail_at = mem->allocs + n;
        /* A peer-up that ran out of memory is retried (one failure). */
        for (p2p_node_id a = 0; a <= 1; a++) {
            int rc = p2p_node_on_peer_up(node_of(&w, a), w.now, 1 - a);
            if (rc == P2P_ERR_NOMEM)
                rc = p2p_node_on_peer_up(node_of(&w, a), w.now, 1 - a);
            ck_assert_int_eq(rc, 0);
        }
        w_drain(&w, 0);
        w_drain(&w, 1);
        ck_assert_msg(w_run(&w, w.now + 60 * SEC, synced_once),
                      "no sync with allocation %llu of node %u failing",
                      (unsigned long long)n, (unsigned)victim);
        assert_synced(&w, ST_2, 1);
        /* A node's own lack of memory is never blamed on its peer. */
        ck_assert_msg(peer_of(&w, 0, 1).penalty_total == 0 &&
                          peer_of(&w, 1, 0).penalty_total == 0,
                      "a penalty with allocation %llu of node %u failing",
                      (unsigned long long)n, (unsigned)victim);
        bool done = mem->allocs < mem->fail_at;
        w_fini(&w);
        if (done)
            return;
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("state_sync");
    TCase *tc = tcase_create("sync");
    tcase_add_checked_fixture(tc, cat_setup, cat_teardown);
    tcase_add_test(tc, two_nodes_sync_every_chunk_once);
    tcase_add_test(tc, compressible_state_travels_compressed);
    tcase_add_test(tc, quorum_counts_advertisers_of_one_state);
    tcase_add_loop_test(tc, default_quorum_is_f_plus_one, 0,
                        (int)COUNT_OF(quorums));
    tcase_add_loop_test(tc, parallel_download_within_per_peer_limit, 0,
                        (int)COUNT_OF(per_peer_limits));
    tcase_add_loop_test(tc, resume_fetches_only_missing_chunks, 0,
                        (int)COUNT_OF(resume_held));
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, cat_setup, cat_teardown);
    tcase_add_loop_test(tc, wrong_chunk_bytes_penalised_retried_excluded, 0, 2);
    tcase_add_test(tc, wrong_manifest_then_a_later_advertiser);
    tcase_add_test(tc, wrong_manifest_asks_another_advertiser_at_once);
    tcase_add_loop_test(tc, silent_peer_times_out_at_the_deadline, 0, 2);
    tcase_add_test(tc, peer_down_mid_fetch_moves_its_chunks);
    tcase_add_test(tc, chunk_answer_over_its_cap_is_refused_at_its_length);
    tcase_add_test(tc, manifest_chunk_over_its_cap_is_refused_at_its_length);
    tcase_add_test(tc, peer_down_with_the_manifest_request_asks_another);
    tcase_add_test(tc, store_refusing_a_chunk_restarts_the_sync);
    suite_add_tcase(s, tc);

    tc = tcase_create("stalls");
    tcase_add_checked_fixture(tc, cat_setup, cat_teardown);
    tcase_add_loop_test(tc, stalled_sync_is_revived, 0, 3);
    tcase_add_test(tc, revived_sync_keeps_its_exclusions);
    tcase_add_test(tc, lost_chunks_come_from_another_peer);
    tcase_add_test(tc, no_content_drops_the_peer_until_its_next_advert);
    tcase_add_test(tc, manifest_not_held_is_asked_again_after_a_pause);
    tcase_add_loop_test(tc, advertisers_moving_on_leave_the_sync, 0, 2);
    tcase_add_test(tc, store_absent_removed_and_reinstalled);
    tcase_add_loop_test(tc, large_topology_uses_every_peer, 0,
                        (int)COUNT_OF(wide));
    suite_add_tcase(s, tc);

    tc = tcase_create("manifest_chunks_and_frames");
    tcase_add_checked_fixture(tc, cat_setup, cat_teardown);
    tcase_add_test(tc, manifest_in_several_chunks_is_reassembled);
    tcase_add_loop_test(tc, compression_bomb_is_bad_data_from_the_peer, 0, 2);
    tcase_add_test(tc, serving_a_manifest_in_several_chunks);
    suite_add_tcase(s, tc);

    tc = tcase_create("newer_states");
    tcase_add_checked_fixture(tc, cat_setup, cat_teardown);
    tcase_add_test(tc, newer_state_while_fetching_waits_then_reuses);
    tcase_add_test(tc, newer_state_in_the_manifest_phase_switches_at_once);
    tcase_add_loop_test(tc, own_state_reaching_the_sync_height_cancels, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("serving");
    tcase_add_checked_fixture(tc, cat_setup, cat_teardown);
    tcase_add_loop_test(tc, serving_chunk_requests, 0,
                        (int)COUNT_OF(serve_cases));
    tcase_add_test(tc, serving_malformed_and_good_adverts);
    suite_add_tcase(s, tc);

    tc = tcase_create("determinism_memory");
    tcase_add_checked_fixture(tc, cat_setup, cat_teardown);
    tcase_add_test(tc, same_scenario_same_actions);
    tcase_add_test(tc, memory_charged_while_syncing_and_freed);
    tcase_add_loop_test(tc, allocation_failure_walk, 0, 2);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
