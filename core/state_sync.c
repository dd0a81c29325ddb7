/* The state sync manager (the IC's rs/p2p/state_sync_manager;
 * docs/state-sync.md).
 *
 * Every node advertises the newest state its store holds (height, root
 * hash) to every peer every cfg.state_advert_every_ns, when a connection
 * comes up and when the store changes. When enough peers (the quorum,
 * f + 1 by default) advertise the same newer state, the node syncs it: the
 * meta-manifest from one advertiser, checked against the root hash before
 * it is decoded, then the manifest chunks it names (the IC's chunk ids
 * 2^31 + k), each checked against its hash and assembled into the
 * manifest, then the chunks from every advertiser through the chunk
 * scheduler (core/chunk_scheduler.h), each checked against the manifest
 * before the store keeps it. Answers are zstd frames or raw
 * (core/state_sync_codec.h); a frame is checked before it is
 * decompressed. Chunks the store already holds (persisted by an
 * interrupted sync, or unchanged since an older state) are not fetched.
 *
 * At most one sync runs. A newer state advertised mid-sync does not cancel
 * a sync that is fetching chunks: its requests in flight would be wasted,
 * and peers keep serving recent states. The sync finishes, and the newer
 * state is synced next, reusing every unchanged chunk. A sync that has no
 * manifest yet, or is stalled (no peer can serve what is missing), moves
 * to the newer state at once. A peer that answers 204 leaves the sync
 * until its next advert (as in the IC), and a sync left without a peer
 * moves at once. A stalled sync whose peers still
 * advertise its state asks them again on their next advert (their 204s or
 * failures may have passed). A sync is cancelled when the store reaches
 * its height by itself.
 *
 * A node's own lack of memory is never blamed on a peer: a request it
 * cannot unpack is reset (not answered 400), a manifest it cannot decode
 * is not "bad data". */
#include "core/state_sync.h"

#include <string.h>

#include "p2p.pb-c.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/status.h"
#include "core/table.h"
#include "core/wire.h"
#include "core/wire_pack.h"

/* No advertiser could be asked for the manifest: look again after this. */
#define MANIFEST_RETRY_NS (1 * P2P_NS_PER_S)
/* Timed-out chunk requests handled per scheduler call. */
#define EXPIRED_BATCH 64u

/* The manager's invariants, O(1) (the scheduler checks its own): checked
 * at the end of its entry points in debug builds. */
static bool invariants_ok(const struct p2p_state_sync *st)
{
    bool phase_empty = st->sched == NULL && st->manifest.chunks == NULL &&
                       st->parts.chunks == NULL && st->manifest_buf == NULL &&
                       st->scratch == NULL;
    if (!st->active)
        return phase_empty && !st->have_meta && !st->have_manifest &&
               !st->manifest_inflight && st->timer_at == P2P_TIME_NEVER;
    if (st->ops == NULL)
        return false;
    if (st->have_manifest)
        return st->have_meta && st->sched != NULL && st->scratch != NULL &&
               !st->manifest_inflight && st->manifest_buf == NULL &&
               st->parts.chunks == NULL && st->manifest.height == st->height;
    if (st->have_meta)
        return st->sched != NULL && st->scratch != NULL &&
               st->manifest_buf != NULL && !st->manifest_inflight &&
               st->manifest.chunks == NULL &&
               st->parts.chunks_count == st->meta.chunks_count;
    return phase_empty;
}

static void slow_sample(struct p2p_state_sync *st, p2p_time now,
                        p2p_node_id peer, uint32_t index);
static void slow_start(struct p2p_state_sync *st, p2p_time now);

#ifdef P2P_DEBUG
#define CHECK(st) P2P_ASSERT(invariants_ok(st))
#else
#define CHECK(st) ((void)0)
#endif

/* ---- small helpers ---- */

static const struct p2p_state_manifest *latest(struct p2p_state_sync *st,
                                               struct p2p_state_hash *root)
{
    return st->ops != NULL ? st->ops->latest(st->ctx, root) : NULL;
}

static uint64_t our_height(struct p2p_state_sync *st)
{
    struct p2p_state_hash root;
    const struct p2p_state_manifest *m = latest(st, &root);
    return m != NULL ? m->height : 0;
}

static bool advertises(const struct p2p_state_sync *st, p2p_node_id id,
                       uint64_t height, const struct p2p_state_hash *root)
{
    const struct p2p_state_peer *p = &st->peers[id];
    return p->up && p->advertised && p->height == height &&
           p2p_state_hash_eq(&p->root, root);
}

static void event(struct p2p_state_sync *st, enum p2p_event ev,
                  p2p_node_id peer, const struct p2p_state_hash *root,
                  int64_t value)
{
    struct p2p_artifact_id id;
    memcpy(id.b, root->b, sizeof(id.b));
    p2p_outbox_event(st->env->outbox, ev, peer, &id, value);
}

/* Answers an inbound state request; never leaves the requester waiting. */
static int respond(struct p2p_state_sync *st, p2p_node_id peer,
                   uint64_t stream_id, uint32_t status, const uint8_t *body,
                   size_t len)
{
    struct p2p_stream_resp r = {.peer = peer,
                                .stream_id = stream_id,
                                .traffic = P2P_TRAFFIC_STATE,
                                .status = status,
                                .body = body,
                                .len = len};
    return p2p__streams_respond(st->streams, &r); /* resets on failure */
}

/* Response and envelope around a chunk or manifest: tags, lengths and
 * status, with room to spare. */
#define STATE_ENVELOPE_BYTES 64u

/* What the sync's scheduler runs over: the manifest chunks until the
 * manifest is held, then the state's chunks. */
static const struct p2p_state_manifest *sched_manifest(
    const struct p2p_state_sync *st)
{
    return st->have_manifest ? &st->manifest : &st->parts;
}

/* The id a request of the scheduler's chunk index goes out with (and
 * comes back under): manifest chunks from P2P_STATE_SYNC_MANIFEST_CHUNK. */
static uint32_t wire_index(const struct p2p_state_sync *st, uint32_t index)
{
    return st->have_manifest ? index : P2P_STATE_SYNC_MANIFEST_CHUNK + index;
}

/* The longest honest answer to a request for id (a wire index, or
 * P2P_STATE_SYNC_MANIFEST): the encoding byte and the chunk's size in the
 * manifest (a zstd frame is sent only when shorter), or the meta-manifest
 * limit. A peer cannot make this node buffer more than that per request. */
static size_t response_bytes_max(const struct p2p_state_sync *st, uint32_t id)
{
    size_t body = 1 + P2P_STATE_CHUNK_BYTES_MAX;
    if (id == P2P_STATE_SYNC_MANIFEST) {
        body = 1 + P2P_STATE_META_BYTES_MAX;
    } else if (id >= P2P_STATE_SYNC_MANIFEST_CHUNK) {
        uint32_t k = id - P2P_STATE_SYNC_MANIFEST_CHUNK;
        if (st->have_meta && k < st->meta.chunks_count)
            body = 1 + (size_t)p2p_state_meta_chunk_size(&st->meta, k);
    } else if (st->have_manifest && id < st->manifest.chunks_count) {
        body = 1 + (size_t)st->manifest.chunks[id].size;
    }
    return body + STATE_ENVELOPE_BYTES;
}

/* Sends one ChunkRequest for the current sync: for the wire index `index`
 * (a chunk, or manifest chunk index - P2P_STATE_SYNC_MANIFEST_CHUNK), or
 * the meta-manifest when index is P2P_STATE_SYNC_MANIFEST. */
static int send_request(struct p2p_state_sync *st, p2p_time now,
                        p2p_node_id peer, uint32_t index, p2p_time timeout_ns)
{
    P2p__V1__ChunkRequest req = P2P__V1__CHUNK_REQUEST__INIT;
    req.height = st->height;
    req.root.data = st->root.b;
    req.root.len = sizeof(st->root.b);
    req.manifest = index == P2P_STATE_SYNC_MANIFEST;
    req.index = req.manifest ? 0 : index;
    uint8_t *body;
    size_t len;
    int rc = p2p_wire_pack(st->env->mem, P2P_MEM_WIRE, &req.base, &body, &len);
    if (rc != 0)
        return rc;
    uint32_t stream;
    struct p2p_stream_req r = {.peer = peer,
                               .route = P2P_ROUTE_STATE_CHUNK,
                               .traffic = P2P_TRAFFIC_STATE,
                               .body = body,
                               .len = len,
                               .owner = P2P_OWNER_STATE_SYNC,
                               .owner_index = index,
                               .owner_gen = st->gen,
                               .timeout_ns = timeout_ns,
                               .response_bytes_max =
                                   response_bytes_max(st, index)};
    rc = p2p__streams_request(st->streams, now, &r, &stream);
    p2p_mem_free(st->env->mem, P2P_MEM_WIRE, body);
    return rc;
}

/* Aborts this sync's outbound streams: to peer (or every peer when
 * P2P_NODE_NONE) for chunk index (or every request when index is
 * P2P_INDEX_NONE - 1, see ANY_INDEX). O(streams). */
#define ANY_INDEX (P2P_STATE_SYNC_MANIFEST - 1u)
static void abort_streams(struct p2p_state_sync *st, p2p_node_id peer,
                          uint32_t index)
{
    p2p__streams_abort_owned(st->streams, P2P_OWNER_STATE_SYNC, peer, index,
                             index == ANY_INDEX);
}

/* Arms the sync's one timer at `at` unless it is armed there already. */
static void arm_sync_timer(struct p2p_state_sync *st, p2p_time at)
{
    if (at == P2P_TIME_NEVER || at == st->timer_at)
        return;
    if (p2p__timers_add(st->env->timers, at, P2P_TIMER_STATE_SYNC, 0,
                        st->gen) == 0)
        st->timer_at = at;
}

/* ---- lifecycle of a sync ---- */

/* Frees what the sync holds; its streams and timers become stale. */
/* Frees the scheduler, its scratch and the manifest-chunk phase's
 * buffers (not the manifest). */
static void free_phase(struct p2p_state_sync *st)
{
    p2p_chunk_scheduler_del(st->sched);
    st->sched = NULL;
    p2p_mem_free(st->env->mem, P2P_MEM_STATE_SYNC, st->scratch);
    st->scratch = NULL;
    st->scratch_len = 0;
    p2p_mem_free(st->env->mem, P2P_MEM_STATE_SYNC, st->manifest_buf);
    st->manifest_buf = NULL;
    p2p_state_manifest_fini(&st->parts);
}

static void end_sync(struct p2p_state_sync *st)
{
    abort_streams(st, P2P_NODE_NONE, ANY_INDEX);
    free_phase(st);
    p2p_state_manifest_fini(&st->manifest);
    st->active = false;
    st->have_meta = false;
    st->have_manifest = false;
    st->manifest_inflight = false;
    st->gen++;
    st->timer_at = P2P_TIME_NEVER;
}

static void cancel(struct p2p_state_sync *st)
{
    if (!st->active)
        return;
    st->env->metrics->state_syncs_cancelled++;
    event(st, P2P_EV_STATE_SYNC_CANCEL, P2P_NODE_NONE, &st->root,
          (int64_t)st->height);
    end_sync(st);
}

static void request_manifest(struct p2p_state_sync *st, p2p_time now);
static void manifest_assembled(struct p2p_state_sync *st, p2p_time now);
static void evaluate(struct p2p_state_sync *st, p2p_time now);
static void advertise_all(struct p2p_state_sync *st, p2p_time now);

static void start(struct p2p_state_sync *st, p2p_time now, uint64_t height,
                  const struct p2p_state_hash *root)
{
    P2P_ASSERT(!st->active);
    st->active = true;
    st->gen++;
    st->height = height;
    st->root = *root;
    st->started_ns = now;
    st->manifest_peer = P2P_NODE_NONE;
    st->timer_at = P2P_TIME_NEVER;
    st->env->metrics->state_syncs_started++;
    request_manifest(st, now);
    /* Once per sync, naming the advertiser asked first for the manifest
     * (retries and other advertisers show in the stream actions). */
    event(st, P2P_EV_STATE_SYNC_START, st->manifest_peer, &st->root,
          (int64_t)st->height);
}

static void finish(struct p2p_state_sync *st, p2p_time now)
{
    st->ops->complete(st->ctx, &st->manifest, &st->root);
    st->env->metrics->state_syncs_completed++;
    event(st, P2P_EV_STATE_SYNC_DONE, P2P_NODE_NONE, &st->root,
          (int64_t)st->height);
    end_sync(st);
    advertise_all(st, now);
    evaluate(st, now); /* a newer state may be advertised already */
}

/* Issues every request the scheduler allows now, hands a complete state
 * over, and arms the timer for the next deadline. */
static void pump(struct p2p_state_sync *st, p2p_time now)
{
    if (!st->active || !st->have_meta)
        return;
    struct p2p_chunk_request r;
    while (p2p_chunk_scheduler_next_request(st->sched, now, &r) == 1) {
        /* The stream's own deadline is a backstop against a request the
         * scheduler forgot (its peer removed, its chunk held): the
         * scheduler times the request out and aborts the stream first,
         * each deadline at most chunk_timeout_ns after the peer's last
         * answer, so a request waits behind at most the peer's other
         * requests in flight. */
        p2p_time backstop =
            (p2p_time)(st->env->cfg->state_chunks_per_peer + 1) *
                st->env->cfg->state_chunk_timeout_ns +
            P2P_TIMER_STALL_NS;
        int rc =
            send_request(st, now, r.peer, wire_index(st, r.index), backstop);
        if (rc == 0) {
            st->env->metrics->state_chunks_requested += st->have_manifest;
            continue;
        }
        /* Out of streams or memory: the peer backs off, the chunk waits. */
        (void)p2p_chunk_scheduler_on_chunk_failed(st->sched, now, r.peer,
                                                  r.index, rc);
    }
    if (p2p_chunk_scheduler_take_complete(st->sched)) {
        if (st->have_manifest)
            finish(st, now);
        else
            manifest_assembled(st, now);
        return;
    }
    arm_sync_timer(st, p2p_chunk_scheduler_next_deadline(st->sched));
}

/* An advertiser of the sync's state, chosen at random, preferring one
 * other than `avoid`; P2P_NODE_NONE when none is up. */
static p2p_node_id pick_advertiser(struct p2p_state_sync *st, p2p_node_id avoid)
{
    uint32_t count = 0, others = 0;
    for (uint32_t id = 0; id < st->peers_capacity; id++)
        if (advertises(st, id, st->height, &st->root)) {
            count++;
            others += id != avoid;
        }
    if (count == 0)
        return P2P_NODE_NONE;
    bool skip_avoid = others > 0;
    uint64_t k = p2p_rng_below(&st->rng, skip_avoid ? others : count);
    for (uint32_t id = 0; id < st->peers_capacity; id++) {
        if (!advertises(st, id, st->height, &st->root) ||
            (skip_avoid && id == avoid))
            continue;
        if (k-- == 0)
            return id;
    }
    P2P_UNREACHABLE();
    return P2P_NODE_NONE;
}

static void request_manifest(struct p2p_state_sync *st, p2p_time now)
{
    p2p_node_id peer = pick_advertiser(st, st->manifest_peer);
    if (peer == P2P_NODE_NONE)
        return; /* the next advert of this state asks again */
    int rc = send_request(st, now, peer, P2P_STATE_SYNC_MANIFEST,
                          st->env->cfg->state_chunk_timeout_ns);
    st->manifest_peer = peer;
    if (rc != 0) {
        arm_sync_timer(st, now + MANIFEST_RETRY_NS);
        return;
    }
    st->manifest_inflight = true;
}

/* The scheduler's config: peers_max covers the topology (up to the
 * scheduler's bound) and, as in its default, there are records for every
 * peer's requests in flight plus as many waiting, within its bound. */
static void sched_config(const struct p2p_state_sync *st,
                         struct p2p_chunk_scheduler_config *cfg)
{
    p2p_chunk_scheduler_config_default(cfg);
    cfg->per_peer_inflight_max = st->env->cfg->state_chunks_per_peer;
    cfg->chunk_timeout_ns = st->env->cfg->state_chunk_timeout_ns;
    if (st->topology->count > cfg->peers_max)
        cfg->peers_max = st->topology->count < P2P_CHUNK_SCHED_PEERS_MAX
                             ? st->topology->count
                             : P2P_CHUNK_SCHED_PEERS_MAX;
    uint64_t active = 2ull * cfg->per_peer_inflight_max * cfg->peers_max;
    cfg->chunks_active_max = active < P2P_CHUNK_SCHED_ACTIVE_MAX
                                 ? (uint32_t)active
                                 : P2P_CHUNK_SCHED_ACTIVE_MAX;
}

/* A scheduler for the phase's chunks (sched_manifest) with every current
 * advertiser of the state (only `only` unless it is P2P_NODE_NONE; the
 * others join with their next advert). With prev (a stalled scheduler of
 * the same phase), what prev holds is held and the peers prev excluded
 * stay out; without, in the chunk phase, what the store already holds is
 * held (counted as reused). Errors: P2P_ERR_NOMEM. */
static int new_sched(struct p2p_state_sync *st, p2p_time now,
                     struct p2p_chunk_scheduler *prev, p2p_node_id only,
                     struct p2p_chunk_scheduler **out)
{
    struct p2p_chunk_scheduler_config cfg;
    sched_config(st, &cfg);
    const struct p2p_state_manifest *m = sched_manifest(st);
    int rc = p2p_chunk_scheduler_new(&cfg, m, st->env->mem, P2P_MEM_STATE_SYNC,
                                     &st->rng, out);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < m->chunks_count; i++) {
        bool held =
            prev != NULL ? p2p_chunk_scheduler_is_held(prev, i)
            : st->have_manifest
                ? st->ops->has_chunk(st->ctx, &st->manifest, &st->root, i)
                : false;
        if (held && p2p_chunk_scheduler_mark_held(*out, i) == 0 && prev == NULL)
            st->env->metrics->state_chunks_reused++;
    }
    for (uint32_t id = 0; id < st->peers_capacity; id++) {
        if (!advertises(st, id, st->height, &st->root) ||
            (only != P2P_NODE_NONE && id != only))
            continue;
        /* add_peer tells an excluded peer (prev is discarded after). */
        if (prev != NULL &&
            p2p_chunk_scheduler_add_peer(prev, now, id) == P2P_ERR_MISBEHAVED)
            continue;
        (void)p2p_chunk_scheduler_add_peer(*out, now, id);
    }
    return 0;
}

/* The phase's scheduler (peers as new_sched's `only`) and a scratch
 * buffer for one decompressed chunk of up to scratch_len bytes. Errors:
 * P2P_ERR_NOMEM (nothing made). */
static int begin_phase(struct p2p_state_sync *st, p2p_time now,
                       p2p_node_id only, size_t scratch_len)
{
    st->scratch =
        p2p_mem_alloc_raw(st->env->mem, P2P_MEM_STATE_SYNC, scratch_len);
    if (st->scratch == NULL)
        return P2P_ERR_NOMEM;
    st->scratch_len = scratch_len;
    int rc = new_sched(st, now, NULL, only, &st->sched);
    if (rc != 0) {
        p2p_mem_free(st->env->mem, P2P_MEM_STATE_SYNC, st->scratch);
        st->scratch = NULL;
        st->scratch_len = 0;
    }
    return rc;
}

/* The manifest is held (decoded into st->manifest): the manifest-chunk
 * phase's buffers go, and the chunks are fetched from every advertiser. */
static void begin_chunks(struct p2p_state_sync *st, p2p_time now)
{
    free_phase(st);
    st->have_manifest = true;
    st->env->metrics->state_manifests_fetched++;
    size_t largest = 1;
    for (uint32_t i = 0; i < st->manifest.chunks_count; i++)
        if (st->manifest.chunks[i].size > largest)
            largest = st->manifest.chunks[i].size;
    if (begin_phase(st, now, P2P_NODE_NONE, largest) != 0) {
        cancel(st); /* out of memory: a later advert tries again */
        return;
    }
    slow_start(st, now);
    pump(st, now);
}

static bool stalled(const struct p2p_state_sync *st)
{
    struct p2p_chunk_progress pr;
    p2p_chunk_scheduler_progress(st->sched, &pr);
    return pr.stalled;
}

/* The lowest id that advertises the sync's state and is not excluded from
 * it, or P2P_NODE_NONE. add_peer is the probe: it refuses an excluded
 * peer, and (re)adds an advertiser that is missing, as it should be. */
static p2p_node_id first_server(struct p2p_state_sync *st, p2p_time now)
{
    for (uint32_t id = 0; id < st->peers_capacity; id++) {
        if (!advertises(st, id, st->height, &st->root))
            continue;
        int rc = p2p_chunk_scheduler_add_peer(st->sched, now, id);
        if (rc == 0 || rc == P2P_ERR_EXISTS)
            return id;
    }
    return P2P_NODE_NONE;
}

/* peer, present in the sync, advertised its state again. If the sync is
 * stalled (the scheduler ruled every missing chunk out on every present
 * peer after 204s or failures, which may have passed: a store that was
 * busy or restarting), it would wait forever: a fresh scheduler asks them
 * again, keeping the manifest, the chunks held and the exclusions. Only
 * on the adverts of one peer (the first that may serve), so at most once
 * per cfg.state_advert_every_ns. */
static void revive(struct p2p_state_sync *st, p2p_time now, p2p_node_id peer)
{
    struct p2p_chunk_scheduler *fresh;
    if (first_server(st, now) == peer && stalled(st) &&
        new_sched(st, now, st->sched, P2P_NODE_NONE, &fresh) == 0) {
        /* Stalled: nothing in flight, so no stream names the old one. */
        p2p_chunk_scheduler_del(st->sched);
        st->sched = fresh;
    }
    pump(st, now);
}

/* A peer served bytes that do not match: a penalty, and a trace line. */
static void bad_data(struct p2p_state_sync *st, p2p_time now, p2p_node_id peer,
                     int64_t index)
{
    st->env->metrics->state_bad_data++;
    event(st, P2P_EV_STATE_BAD_DATA, peer, &st->root, index);
    p2p__ledger_penalise(st->env->ledger, now, peer, P2P_PENALTY_BAD_STATE);
}

/* The sizes and hashes of the meta-manifest's manifest chunks, as a
 * manifest the scheduler can run over. Errors: P2P_ERR_NOMEM. */
static int build_parts(struct p2p_state_sync *st)
{
    struct p2p_state_manifest *p = &st->parts;
    p2p_state_manifest_init(p);
    p->chunks = p2p_mem_alloc(st->env->mem, P2P_MEM_STATE_SYNC,
                              st->meta.chunks_count * sizeof(*p->chunks));
    if (p->chunks == NULL)
        return P2P_ERR_NOMEM;
    p->mem = st->env->mem;
    p->module = P2P_MEM_STATE_SYNC;
    p->height = st->height;
    p->chunk_bytes = P2P_STATE_MANIFEST_CHUNK_BYTES;
    p->chunks_count = st->meta.chunks_count;
    p->total_bytes = st->meta.manifest_bytes;
    for (uint32_t k = 0; k < p->chunks_count; k++) {
        p->chunks[k].size = p2p_state_meta_chunk_size(&st->meta, k);
        p->chunks[k].hash = st->meta.chunks[k];
    }
    return 0;
}

/* The meta-manifest is held: its manifest chunks are fetched, from its
 * server first. Errors (nothing kept): P2P_ERR_NOMEM. */
static int begin_parts(struct p2p_state_sync *st, p2p_time now)
{
    int rc = build_parts(st);
    if (rc == 0) {
        st->manifest_buf = p2p_mem_alloc_raw(st->env->mem, P2P_MEM_STATE_SYNC,
                                             st->meta.manifest_bytes);
        rc = st->manifest_buf != NULL ? 0 : P2P_ERR_NOMEM;
    }
    if (rc == 0) {
        st->have_meta = true;
        /* The meta-manifest's server first: it just answered, while an
         * advertiser that never answers would hold a manifest chunk for
         * the whole chunk timeout (the slow-request rule needs the
         * latencies of the chunk phase). The others join with their
         * next advert. */
        rc = begin_phase(st, now, st->manifest_peer,
                         p2p_state_meta_chunk_size(&st->meta, 0));
    }
    if (rc != 0) {
        free_phase(st);
        st->have_meta = false;
        return rc;
    }
    pump(st, now);
    return 0;
}

/* The meta-manifest from peer: checked against the root before it is
 * decoded (its encoding is canonical), so a wrong one costs nothing. */
static int take_meta(struct p2p_state_sync *st, const struct p2p_frame *f)
{
    /* Tiny: always sent raw. */
    if (f->body_len == 0 || f->body[0] != P2P_STATE_ENCODING_RAW)
        return P2P_ERR_DECODE;
    struct p2p_state_hash h;
    p2p_state_hash_of(f->body + 1, f->body_len - 1, &h);
    if (!p2p_state_hash_eq(&h, &st->root))
        return P2P_ERR_ID_MISMATCH;
    return p2p_state_meta_decode(&st->meta, f->body + 1, f->body_len - 1);
}

static void on_meta(struct p2p_state_sync *st, p2p_time now, p2p_node_id peer,
                    int err, const struct p2p_frame *f)
{
    st->manifest_inflight = false;
    if (err == 0 && f->status == P2P_STATUS_OK) {
        int rc = take_meta(st, f);
        if (rc == 0) {
            rc = begin_parts(st, now);
            if (rc == 0)
                return;
            cancel(st); /* out of memory: a later advert tries again */
            return;
        }
        bad_data(st, now, peer, -1);
    }
    /* Another advertiser at once; the same one only after a pause. */
    if (pick_advertiser(st, peer) != peer)
        request_manifest(st, now);
    else
        arm_sync_timer(st, now + MANIFEST_RETRY_NS);
}

/* Every manifest chunk is held and matched the meta-manifest: the
 * manifest is decoded (and, its root being the advertised one, the bytes
 * are what the advertisers named). A manifest that does not decode, or of
 * another height, is the meta-manifest's server's fault as much as
 * anyone's: it is penalised and the meta-manifest asked again elsewhere. */
static void manifest_assembled(struct p2p_state_sync *st, p2p_time now)
{
    int rc = p2p_state_manifest_decode(&st->manifest, st->env->mem,
                                       P2P_MEM_STATE_SYNC, st->manifest_buf,
                                       st->meta.manifest_bytes);
    if (rc == 0 && st->manifest.height == st->height) {
        begin_chunks(st, now);
        return;
    }
    p2p_state_manifest_fini(&st->manifest);
    abort_streams(st, P2P_NODE_NONE, ANY_INDEX);
    free_phase(st);
    st->have_meta = false;
    if (rc == P2P_ERR_NOMEM) {
        cancel(st); /* our own lack of memory: a later advert tries again */
        return;
    }
    bad_data(st, now, st->manifest_peer, -1);
    request_manifest(st, now);
    if (!st->manifest_inflight)
        arm_sync_timer(st, now + MANIFEST_RETRY_NS);
}

/* peer answered 204 ("not held"): as in the IC, it leaves the sync (its
 * requests in flight are abandoned and go to the other advertisers), and
 * comes back with its next advert of the state (every
 * state_advert_every_ns), still ruled out for the chunk it refused. A
 * store holds a state whole or not at all, so a peer that refuses one
 * chunk (it moved on to a newer checkpoint and dropped this one) would
 * refuse the others too. True when it left. */
static bool drop_peer(struct p2p_state_sync *st, p2p_time now, p2p_node_id peer)
{
    if (p2p_chunk_scheduler_remove_peer(st->sched, now, peer) != 0)
        return false;
    abort_streams(st, peer, ANY_INDEX);
    return true;
}

/* A peer left the sync: if no one left can serve what is missing, the
 * sync gives way to the newest state a quorum advertises now, rather than
 * on that state's next advert. */
static void after_peer_left(struct p2p_state_sync *st, p2p_time now,
                            uint32_t gen)
{
    if (st->active && st->gen == gen && st->have_meta && stalled(st))
        evaluate(st, now);
}

/* A chunk of the phase matched: a manifest chunk goes into the manifest's
 * buffer, a state chunk to the store. False when the store refused it
 * (the sync then started over). */
static bool keep_chunk(struct p2p_state_sync *st, p2p_time now, uint32_t index,
                       const struct p2p_state_decoded *d)
{
    if (!st->have_manifest) {
        memcpy(st->manifest_buf +
                   (size_t)index * P2P_STATE_MANIFEST_CHUNK_BYTES,
               d->bytes, d->len);
        return true;
    }
    if (st->ops->put_chunk(st->ctx, &st->manifest, &st->root, index, d->bytes,
                           d->len) != 0) {
        /* The scheduler counts it held but the store does not: start
         * over, reusing what the store kept. */
        cancel(st);
        evaluate(st, now);
        return false;
    }
    struct p2p_metrics *mt = st->env->metrics;
    mt->state_chunks_received++;
    mt->state_chunk_bytes_received += d->len;
    mt->state_chunk_wire_bytes_received += d->wire_bytes;
    return true;
}

/* A 200 answer for the phase's chunk index: decoded (a zstd frame checked
 * and decompressed into the scratch buffer), then judged by the
 * scheduler. An answer the scheduler no longer waits for is not decoded;
 * one that does not decode is wrong bytes. False when the sync ended. */
static bool on_chunk_bytes(struct p2p_state_sync *st, p2p_time now,
                           p2p_node_id peer, uint32_t index,
                           const struct p2p_frame *f)
{
    p2p_time issued;
    if (!p2p_chunk_scheduler_request_issued(st->sched, peer, index, &issued))
        return true; /* stale: a late answer, or its peer left */
    const struct p2p_state_manifest *m = sched_manifest(st);
    struct p2p_state_decoded d;
    int rc = p2p__state_sync_codec_decode(&st->codec, f->body, f->body_len,
                                          m->chunks[index].size, st->scratch,
                                          st->scratch_len, &d);
    if (rc == P2P_ERR_NOMEM) {
        /* No decompression context: our fault; asked again (elsewhere). */
        if (p2p_chunk_scheduler_on_chunk_failed(st->sched, now, peer, index,
                                                rc) == 0)
            st->env->metrics->state_chunks_failed++;
        return true;
    }
    if (rc != 0)
        d = (struct p2p_state_decoded){.bytes = NULL, .len = 0};
    enum p2p_chunk_verdict v;
    if (p2p_chunk_scheduler_on_chunk_ok(st->sched, now, peer, index, d.bytes,
                                        d.len, &v) != 0)
        return true;
    int64_t id = (int64_t)wire_index(st, index);
    switch (v) {
    case P2P_CHUNK_ACCEPTED:
        return keep_chunk(st, now, index, &d);
    case P2P_CHUNK_STALE:
        break;
    case P2P_CHUNK_BAD_EXCLUDED:
        abort_streams(st, peer, ANY_INDEX);
        /* fall through */
    case P2P_CHUNK_BAD:
        bad_data(st, now, peer, id);
        break;
    }
    return true;
}

static void on_chunk(struct p2p_state_sync *st, p2p_time now, p2p_node_id peer,
                     uint32_t index, int err, const struct p2p_frame *f)
{
    uint32_t gen = st->gen;
    bool left = false;
    if (index >= sched_manifest(st)->chunks_count)
        return; /* not one of ours (owner_index is ours: never) */
    /* Any answer shows the peer working through our requests: the ones
     * behind this one are timed from now (after the latency sample). */
    if (err == 0 && f->status == P2P_STATUS_OK) {
        if (st->have_manifest)
            slow_sample(st, now, peer, index);
        p2p_chunk_scheduler_on_progress(st->sched, now, peer);
        if (!on_chunk_bytes(st, now, peer, index, f))
            return;
    } else {
        if (err == 0)
            p2p_chunk_scheduler_on_progress(st->sched, now, peer);
        int e = err != 0                             ? err
                : f->status == P2P_STATUS_NO_CONTENT ? P2P_ERR_NOT_FOUND
                                                     : P2P_ERR_DECODE;
        if (p2p_chunk_scheduler_on_chunk_failed(st->sched, now, peer, index,
                                                e) == 0)
            st->env->metrics->state_chunks_failed++;
        if (e == P2P_ERR_NOT_FOUND)
            left = drop_peer(st, now, peer);
    }
    pump(st, now);
    if (left)
        after_peer_left(st, now, gen);
}

void p2p__state_sync_on_response(struct p2p_state_sync *st, p2p_time now,
                                 p2p_node_id peer, uint32_t index, uint32_t gen,
                                 int err, const struct p2p_frame *f)
{
    if (!st->active || gen != st->gen)
        return; /* an older sync's answer */
    if (index == P2P_STATE_SYNC_MANIFEST) {
        if (st->manifest_inflight && !st->have_meta)
            on_meta(st, now, peer, err, f);
    } else if (index >= P2P_STATE_SYNC_MANIFEST_CHUNK) {
        if (st->have_meta && !st->have_manifest)
            on_chunk(st, now, peer, index - P2P_STATE_SYNC_MANIFEST_CHUNK, err,
                     f);
    } else if (st->have_manifest) {
        on_chunk(st, now, peer, index, err, f);
    }
    CHECK(st);
}

void p2p__state_sync_on_sync_timer(struct p2p_state_sync *st, p2p_time now,
                                   uint32_t gen)
{
    if (!st->active || gen != st->gen)
        return;
    st->timer_at = P2P_TIME_NEVER;
    if (!st->have_meta) {
        if (!st->manifest_inflight)
            request_manifest(st, now);
        CHECK(st);
        return;
    }
    struct p2p_chunk_request expired[EXPIRED_BATCH];
    size_t k;
    do {
        k = p2p_chunk_scheduler_on_time(st->sched, now, expired, EXPIRED_BATCH);
        /* A timed-out request goes to another peer and its peer backs
         * off; no points: a peer that answers nothing at all is
         * penalised by its other streams' deadlines (P2P_SILENCE_NS). */
        for (size_t i = 0; i < k; i++) {
            abort_streams(st, expired[i].peer,
                          wire_index(st, expired[i].index));
            st->env->metrics->state_chunks_failed++;
        }
    } while (k == EXPIRED_BATCH);
    pump(st, now);
    CHECK(st);
}

/* ---- choosing a state ---- */

/* Advertisers needed: the configured quorum, or f + 1 of the current
 * topology's n = 3f + 1 members (1 without a topology). */
static uint32_t quorum(const struct p2p_state_sync *st)
{
    if (st->env->cfg->state_sync_quorum != 0)
        return st->env->cfg->state_sync_quorum;
    uint32_t members = st->topology->count;
    return members > 0 ? (members - 1) / 3 + 1 : 1;
}

static uint32_t count_advertisers(const struct p2p_state_sync *st,
                                  uint64_t height,
                                  const struct p2p_state_hash *root)
{
    uint32_t count = 0;
    for (uint32_t id = 0; id < st->peers_capacity; id++)
        count += advertises(st, id, height, root);
    return count;
}

/* Whether the sync under way should give way to a newer state: only while
 * it has nothing invested that a switch would waste. */
static bool may_switch(const struct p2p_state_sync *st)
{
    if (!st->active)
        return true;
    return !st->have_manifest || stalled(st);
}

/* Starts (or moves to) the newest state advertised by a quorum above the
 * store's own, if any. O(peers^2), run on adverts of newer states only. */
static void evaluate(struct p2p_state_sync *st, p2p_time now)
{
    if (st->ops == NULL)
        return;
    uint64_t floor = our_height(st);
    if (st->active && st->height > floor)
        floor = st->height;
    uint32_t need = quorum(st);
    p2p_node_id best = P2P_NODE_NONE;
    uint32_t best_count = 0;
    for (uint32_t id = 0; id < st->peers_capacity; id++) {
        const struct p2p_state_peer *p = &st->peers[id];
        if (!p->up || !p->advertised || p->height <= floor)
            continue;
        if (best != P2P_NODE_NONE) {
            const struct p2p_state_peer *b = &st->peers[best];
            if (p->height < b->height ||
                (p->height == b->height &&
                 p2p_state_hash_eq(&p->root, &b->root)))
                continue;
        }
        uint32_t c = count_advertisers(st, p->height, &p->root);
        if (c < need)
            continue;
        /* Higher first; at one height the root most peers agree on. */
        if (best == P2P_NODE_NONE || p->height > st->peers[best].height ||
            c > best_count) {
            best = id;
            best_count = c;
        }
    }
    if (best == P2P_NODE_NONE || !may_switch(st))
        return;
    struct p2p_state_hash root = st->peers[best].root;
    uint64_t height = st->peers[best].height;
    cancel(st);
    start(st, now, height, &root);
}

/* ---- adverts ---- */

static void send_advert(struct p2p_state_sync *st, p2p_time now,
                        p2p_node_id peer)
{
    struct p2p_state_hash root;
    const struct p2p_state_manifest *m = latest(st, &root);
    if (m == NULL)
        return;
    P2p__V1__StateAdvert a = P2P__V1__STATE_ADVERT__INIT;
    a.height = m->height;
    a.root.data = root.b;
    a.root.len = sizeof(root.b);
    a.total_bytes = m->total_bytes;
    a.chunks = m->chunks_count;
    uint8_t *body;
    size_t len;
    if (p2p_wire_pack(st->env->mem, P2P_MEM_WIRE, &a.base, &body, &len) != 0)
        return; /* best effort, as in the IC: the next round sends it */
    uint32_t stream;
    struct p2p_stream_req req = {
        .peer = peer,
        .route = P2P_ROUTE_STATE_ADVERT,
        .traffic = P2P_TRAFFIC_STATE,
        .body = body,
        .len = len,
        .owner = P2P_OWNER_NONE,
        .timeout_ns = st->env->cfg->state_advert_timeout_ns,
        .response_bytes_max = 0 /* the route's: an empty answer */};
    if (p2p__streams_request(st->streams, now, &req, &stream) == 0)
        st->env->metrics->state_adverts_sent++;
    p2p_mem_free(st->env->mem, P2P_MEM_WIRE, body);
}

static void advertise_all(struct p2p_state_sync *st, p2p_time now)
{
    for (uint32_t id = 0; id < st->peers_capacity; id++)
        if (st->peers[id].up)
            send_advert(st, now, id);
}

static void arm_advert_timer(struct p2p_state_sync *st, p2p_time now)
{
    if (st->ops == NULL || st->advert_timer)
        return;
    if (p2p__timers_add(st->env->timers,
                        now + st->env->cfg->state_advert_every_ns,
                        P2P_TIMER_STATE_ADVERT, 0, 0) == 0)
        st->advert_timer = true;
}

void p2p__state_sync_on_advert_timer(struct p2p_state_sync *st, p2p_time now)
{
    st->advert_timer = false;
    if (st->ops == NULL)
        return;
    advertise_all(st, now);
    arm_advert_timer(st, now);
    CHECK(st);
}

/* A peer's advert was recorded. */
static void on_advert(struct p2p_state_sync *st, p2p_time now, p2p_node_id peer)
{
    const struct p2p_state_peer *p = &st->peers[peer];
    if (st->active && p->height == st->height &&
        p2p_state_hash_eq(&p->root, &st->root)) {
        if (st->have_meta) {
            int rc = p2p_chunk_scheduler_add_peer(st->sched, now, peer);
            if (rc == 0)
                pump(st, now);
            else if (rc == P2P_ERR_EXISTS)
                revive(st, now, peer);
        } else if (!st->manifest_inflight) {
            request_manifest(st, now);
        }
        return;
    }
    if (st->ops != NULL && p->height > our_height(st) &&
        (!st->active || p->height > st->height))
        evaluate(st, now);
}

/* ---- serving ---- */

/* A request this node could not unpack for lack of memory: the stream is
 * reset, so the requester retries (elsewhere, or later) and blames no
 * one; a 204 would rule this peer out for the chunk. */
static int refuse_for_now(struct p2p_state_sync *st, p2p_node_id peer,
                          uint64_t stream_id)
{
    st->env->metrics->requests_refused_nomem++;
    p2p__streams_reset(st->streams, peer, stream_id);
    return P2P_ERR_NOMEM;
}

static int serve_advert(struct p2p_state_sync *st, p2p_time now,
                        p2p_node_id peer, uint64_t stream_id,
                        const struct p2p_frame *f)
{
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, st->env->mem);
    ProtobufCAllocator *alloc = &ua.base;
    P2p__V1__StateAdvert *a =
        p2p__v1__state_advert__unpack(alloc, f->body_len, f->body);
    if (a == NULL && ua.refused)
        return refuse_for_now(st, peer, stream_id);
    if (a == NULL || a->root.len != P2P_STATE_HASH_BYTES) {
        if (a != NULL)
            p2p__v1__state_advert__free_unpacked(a, alloc);
        p2p__ledger_penalise(st->env->ledger, now, peer,
                             P2P_PENALTY_BAD_UPDATE);
        (void)respond(st, peer, stream_id, P2P_STATUS_BAD_REQUEST, NULL, 0);
        return P2P_ERR_DECODE;
    }
    struct p2p_state_peer *p = &st->peers[peer];
    p->advertised = true;
    p->height = a->height;
    memcpy(p->root.b, a->root.data, P2P_STATE_HASH_BYTES);
    p2p__v1__state_advert__free_unpacked(a, alloc);
    st->env->metrics->state_adverts_received++;
    (void)respond(st, peer, stream_id, P2P_STATUS_OK, NULL, 0);
    on_advert(st, now, peer);
    return 0;
}

/* The meta-manifest of the state `root`, whose manifest the store gave as
 * m: the one served last when it names root, else computed (hashing all
 * of m's encoding) into the one-entry cache, valid when it names root (a
 * store that gives another state's manifest is served uncached). */
static const struct p2p_state_meta *served_meta(
    struct p2p_state_sync *st, const struct p2p_state_manifest *m,
    const struct p2p_state_hash *root)
{
    if (st->served_valid && p2p_state_hash_eq(&st->served_root, root))
        return &st->served_meta;
    struct p2p_state_hash r;
    p2p_state_meta_of(m, &st->served_meta);
    p2p_state_meta_root(&st->served_meta, &r);
    st->served_root = *root;
    st->served_valid = p2p_state_hash_eq(&r, root);
    return &st->served_meta;
}

/* Answers with the meta-manifest, raw (a little over 1 KiB at most). */
static int serve_meta(struct p2p_state_sync *st, p2p_node_id peer,
                      uint64_t stream_id, const struct p2p_state_manifest *m,
                      const struct p2p_state_hash *root)
{
    uint8_t body[1 + P2P_STATE_META_BYTES_MAX];
    const struct p2p_state_meta *meta = served_meta(st, m, root);
    body[0] = P2P_STATE_ENCODING_RAW;
    int rc = p2p_state_meta_encode(meta, body + 1, sizeof(body) - 1);
    P2P_ASSERT(rc == 0);
    st->env->metrics->state_chunks_served++;
    return respond(st, peer, stream_id, P2P_STATUS_OK, body,
                   1 + p2p_state_meta_encoded_len(meta));
}

/* Answers with chunk bytes[0..len), compressed when that pays. Our own
 * lack of memory resets the stream: the requester asks again, elsewhere
 * or later, and blames no one (a 204 would drop us from its sync). */
static int serve_bytes(struct p2p_state_sync *st, p2p_node_id peer,
                       uint64_t stream_id, const uint8_t *bytes, size_t len)
{
    const uint8_t *body;
    size_t body_len;
    bool compressed;
    int rc = p2p__state_sync_codec_encode(&st->codec, bytes, len, &body,
                                          &body_len, &compressed);
    if (rc != 0) {
        p2p__streams_reset(st->streams, peer, stream_id);
        return rc;
    }
    st->env->metrics->state_chunks_served++;
    st->env->metrics->state_chunks_served_compressed += compressed;
    return respond(st, peer, stream_id, P2P_STATUS_OK, body, body_len);
}

/* Answers with manifest chunk k of m's encoding (made for the call). */
static int serve_manifest_chunk(struct p2p_state_sync *st, p2p_time now,
                                p2p_node_id peer, uint64_t stream_id,
                                const struct p2p_state_manifest *m, uint32_t k)
{
    size_t total = p2p_state_manifest_encoded_len(m);
    size_t count = (total + P2P_STATE_MANIFEST_CHUNK_BYTES - 1) /
                   P2P_STATE_MANIFEST_CHUNK_BYTES;
    if (k >= count) {
        /* No honest peer asks past the meta-manifest it checked. */
        p2p__ledger_penalise(st->env->ledger, now, peer,
                             P2P_PENALTY_BAD_UPDATE);
        (void)respond(st, peer, stream_id, P2P_STATUS_BAD_REQUEST, NULL, 0);
        return P2P_ERR_INVALID_ARG;
    }
    size_t pos = (size_t)k * P2P_STATE_MANIFEST_CHUNK_BYTES;
    size_t len = total - pos < P2P_STATE_MANIFEST_CHUNK_BYTES
                     ? total - pos
                     : P2P_STATE_MANIFEST_CHUNK_BYTES;
    uint8_t *buf = p2p_mem_alloc_raw(st->env->mem, P2P_MEM_STATE_SYNC, len);
    if (buf == NULL) {
        p2p__streams_reset(st->streams, peer, stream_id);
        return P2P_ERR_NOMEM;
    }
    int rc = p2p_state_manifest_encode_range(m, pos, buf, len);
    P2P_ASSERT(rc == 0);
    rc = serve_bytes(st, peer, stream_id, buf, len);
    p2p_mem_free(st->env->mem, P2P_MEM_STATE_SYNC, buf);
    return rc;
}

/* A ChunkRequest: the meta-manifest (manifest: true), manifest chunk
 * index - P2P_STATE_SYNC_MANIFEST_CHUNK, or state chunk index. */
static int serve_chunk(struct p2p_state_sync *st, p2p_time now,
                       p2p_node_id peer, uint64_t stream_id,
                       const struct p2p_frame *f)
{
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, st->env->mem);
    ProtobufCAllocator *alloc = &ua.base;
    P2p__V1__ChunkRequest *req =
        p2p__v1__chunk_request__unpack(alloc, f->body_len, f->body);
    if (req == NULL && ua.refused)
        return refuse_for_now(st, peer, stream_id);
    if (req == NULL || req->root.len != P2P_STATE_HASH_BYTES) {
        if (req != NULL)
            p2p__v1__chunk_request__free_unpacked(req, alloc);
        p2p__ledger_penalise(st->env->ledger, now, peer,
                             P2P_PENALTY_BAD_UPDATE);
        (void)respond(st, peer, stream_id, P2P_STATUS_BAD_REQUEST, NULL, 0);
        return P2P_ERR_DECODE;
    }
    struct p2p_state_hash root;
    memcpy(root.b, req->root.data, sizeof(root.b));
    uint64_t height = req->height;
    bool want_meta = req->manifest;
    uint32_t index = req->index;
    p2p__v1__chunk_request__free_unpacked(req, alloc);

    const struct p2p_state_manifest *m =
        st->ops != NULL ? st->ops->manifest(st->ctx, height, &root) : NULL;
    if (m == NULL) {
        st->env->metrics->state_chunks_not_served++;
        return respond(st, peer, stream_id, P2P_STATUS_NO_CONTENT, NULL, 0);
    }
    if (want_meta)
        return serve_meta(st, peer, stream_id, m, &root);
    if (index >= P2P_STATE_SYNC_MANIFEST_CHUNK)
        return serve_manifest_chunk(st, now, peer, stream_id, m,
                                    index - P2P_STATE_SYNC_MANIFEST_CHUNK);
    if (index >= m->chunks_count) {
        /* No honest peer asks past the manifest it checked. */
        p2p__ledger_penalise(st->env->ledger, now, peer,
                             P2P_PENALTY_BAD_UPDATE);
        (void)respond(st, peer, stream_id, P2P_STATUS_BAD_REQUEST, NULL, 0);
        return P2P_ERR_INVALID_ARG;
    }
    const uint8_t *bytes;
    size_t len;
    if (st->ops->chunk(st->ctx, height, &root, index, &bytes, &len) != 0) {
        st->env->metrics->state_chunks_not_served++;
        return respond(st, peer, stream_id, P2P_STATUS_NO_CONTENT, NULL, 0);
    }
    return serve_bytes(st, peer, stream_id, bytes, len);
}

int p2p__state_sync_on_request(struct p2p_state_sync *st, p2p_time now,
                               p2p_node_id peer, uint64_t stream_id,
                               const struct p2p_frame *f)
{
    int rc = f->route == P2P_ROUTE_STATE_ADVERT
                 ? serve_advert(st, now, peer, stream_id, f)
                 : serve_chunk(st, now, peer, stream_id, f);
    CHECK(st);
    return rc;
}

/* ---- peers and the shim ---- */

void p2p__state_sync_peer_up(struct p2p_state_sync *st, p2p_time now,
                             p2p_node_id peer)
{
    P2P_ASSERT(peer < st->peers_capacity && !st->peers[peer].up);
    st->peers[peer].up = true;
    st->peers[peer].advertised = false;
    send_advert(st, now, peer);
    /* The periodic advert may have failed to re-arm (timers full). */
    arm_advert_timer(st, now);
    CHECK(st);
}

void p2p__state_sync_peer_down(struct p2p_state_sync *st, p2p_time now,
                               p2p_node_id peer)
{
    P2P_ASSERT(peer < st->peers_capacity && st->peers[peer].up);
    st->peers[peer].up = false;
    st->peers[peer].advertised = false;
    if (st->active && st->have_meta &&
        p2p_chunk_scheduler_remove_peer(st->sched, now, peer) == 0)
        pump(st, now);
    CHECK(st);
}

void p2p__state_sync_init(struct p2p_state_sync *st, const struct p2p_env *env,
                          struct p2p_streams *streams,
                          const struct p2p_topology *topology)
{
    memset(st, 0, sizeof(*st));
    st->env = env;
    st->streams = streams;
    st->topology = topology;
    p2p_rng_init(&st->rng, env->cfg->seed,
                 ((uint64_t)env->cfg->self << 32) | 0x73746174u /* "stat" */);
    p2p_state_manifest_init(&st->manifest);
    p2p_state_manifest_init(&st->parts);
    p2p__state_sync_codec_init(&st->codec, env->mem, P2P_MEM_OTHER);
    st->manifest_peer = P2P_NODE_NONE;
    st->timer_at = P2P_TIME_NEVER;
}

void p2p__state_sync_fini(struct p2p_state_sync *st)
{
    free_phase(st);
    p2p_state_manifest_fini(&st->manifest);
    p2p__state_sync_codec_fini(&st->codec);
    p2p_mem_free(st->env->mem, P2P_MEM_OTHER, st->peers);
    st->peers = NULL;
    st->peers_capacity = 0;
}

int p2p__state_sync_peer_fit(struct p2p_state_sync *st, p2p_node_id peer)
{
    /* Per-peer bookkeeping, not the sync's data: P2P_MEM_OTHER, so a
     * node without a sync holds no state-sync bytes. */
    return p2p__table_array_fit(
        st->env->mem, P2P_MEM_OTHER, (void **)&st->peers, &st->peers_capacity,
        sizeof(*st->peers), peer, st->env->cfg->node_ids_max);
}

void p2p__state_sync_set_store(struct p2p_state_sync *st, p2p_time now,
                               const struct p2p_state_store_ops *ops, void *ctx)
{
    cancel(st);
    st->ops = ops;
    st->ctx = ctx;
    if (ops != NULL) {
        arm_advert_timer(st, now);
        advertise_all(st, now);
        evaluate(st, now);
    }
    CHECK(st);
}

void p2p__state_sync_changed(struct p2p_state_sync *st, p2p_time now)
{
    if (st->ops == NULL)
        return;
    if (st->active && our_height(st) >= st->height)
        cancel(st);
    arm_advert_timer(st, now); /* in case it failed to re-arm */
    advertise_all(st, now);
    evaluate(st, now);
    CHECK(st);
}

void p2p__state_sync_info(const struct p2p_state_sync *st,
                          struct p2p_state_sync_info *info)
{
    memset(info, 0, sizeof(*info));
    info->gen = st->gen;
    info->active = st->active;
    if (!st->active)
        return;
    info->height = st->height;
    info->root = st->root;
    info->have_manifest = st->have_manifest;
    info->started_ns = st->started_ns;
    info->peers = count_advertisers(st, st->height, &st->root);
}

bool p2p__state_sync_progress(const struct p2p_state_sync *st,
                              struct p2p_chunk_progress *out)
{
    if (!st->active || !st->have_manifest)
        return false;
    p2p_chunk_scheduler_progress(st->sched, out);
    return true;
}

/* ---- slow requests (core/state_sync_slow.h) ---- */

/* A chunk from peer arrived (before the scheduler hears of it): its
 * latency is sampled. */
static void slow_sample(struct p2p_state_sync *st, p2p_time now,
                        p2p_node_id peer, uint32_t index)
{
    p2p_time issued;
    if (!st->have_manifest ||
        !p2p_chunk_scheduler_request_issued(st->sched, peer, index, &issued))
        return;
    p2p__state_sync_slow_sample(&st->slow, now > issued ? now - issued : 0);
}

static void slow_arm(struct p2p_state_sync *st, p2p_time now)
{
    (void)p2p__timers_add(st->env->timers, now + P2P_STATE_SLOW_CHECK_EVERY_NS,
                          P2P_TIMER_STATE_SLOW, 0, st->gen);
}

/* The chunk phase began: the periodic check is armed. */
static void slow_start(struct p2p_state_sync *st, p2p_time now)
{
    p2p__state_sync_slow_reset(&st->slow);
    slow_arm(st, now);
}

/* Fails every request in flight that waited past the judge's limit. */
static void fail_slow(struct p2p_state_sync *st, p2p_time now, p2p_time limit)
{
    size_t count = p2p_chunk_scheduler_inflight(st->sched, NULL, 0);
    struct p2p_chunk_request *req =
        count ? p2p_mem_alloc(st->env->mem, P2P_MEM_STATE_SYNC,
                              count * sizeof(*req))
              : NULL;
    if (req == NULL)
        return;
    count = p2p_chunk_scheduler_inflight(st->sched, req, count);
    for (size_t i = 0; i < count; i++) {
        /* Waiting since its issue or its peer's last answer. */
        p2p_time since = req[i].deadline - st->env->cfg->state_chunk_timeout_ns;
        if (now < since + limit)
            continue;
        if (p2p_chunk_scheduler_on_chunk_failed(st->sched, now, req[i].peer,
                                                req[i].index,
                                                P2P_ERR_TIMEOUT) != 0)
            continue;
        abort_streams(st, req[i].peer, req[i].index);
        st->env->metrics->state_chunks_slow++;
    }
    p2p_mem_free(st->env->mem, P2P_MEM_STATE_SYNC, req);
}

void p2p__state_sync_on_slow_timer(struct p2p_state_sync *st, p2p_time now,
                                   uint32_t gen)
{
    if (!st->active || gen != st->gen || !st->have_manifest)
        return;
    p2p_time limit;
    if (p2p__state_sync_slow_limit(&st->slow, &limit))
        fail_slow(st, now, limit);
    slow_arm(st, now);
    pump(st, now);
    CHECK(st);
}

bool p2p__state_sync_timer_live(const struct p2p_state_sync *st,
                                enum p2p_timer_kind kind, uint32_t gen,
                                p2p_time deadline)
{
    switch (kind) {
    case P2P_TIMER_STATE_ADVERT:
        return st->advert_timer;
    case P2P_TIMER_STATE_SYNC:
        return st->active && gen == st->gen && deadline == st->timer_at;
    case P2P_TIMER_STATE_SLOW:
        return st->active && gen == st->gen;
    default:
        return true;
    }
}

int p2p__state_sync_check(const struct p2p_state_sync *st)
{
    return invariants_ok(st) ? 0 : P2P_ERR_INTERNAL;
}
