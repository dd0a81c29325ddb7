/* The state sync manager (DESIGN.md 3, "State sync"; IC-REFERENCE 12.8;
 * docs/state-sync.md).
 *
 * Every node advertises the newest state its store holds (height, root
 * hash) to every peer every cfg.state_advert_every_ns, when a connection
 * comes up and when the store changes. When enough peers (the quorum,
 * f + 1 by default) advertise the same newer state, the node syncs it: the
 * manifest from one advertiser, checked against the root hash before it is
 * decoded, then the chunks from every advertiser through the chunk
 * scheduler (core/chunk_scheduler.h), each checked against the manifest
 * before the store keeps it. Chunks the store already holds (persisted by
 * an interrupted sync, or unchanged since an older state) are not fetched.
 *
 * At most one sync runs. A newer state advertised mid-sync does not cancel
 * a sync that is fetching chunks: its requests in flight would be wasted,
 * and peers keep serving recent states. The sync finishes, and the newer
 * state is synced next, reusing every unchanged chunk. A sync that has no
 * manifest yet, or is stalled (no peer can serve what is missing), moves
 * to the newer state at once. A stalled sync whose peers still advertise
 * its state asks them again on their next advert (their 204s or failures
 * may have passed). A sync is cancelled when the store reaches its height
 * by itself.
 *
 * A node's own lack of memory is never blamed on a peer: a request it
 * cannot unpack is reset (not answered 400), a manifest it cannot decode
 * is not "bad data". */
#include <string.h>

#include "p2p.pb-c.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/node.h"
#include "core/status.h"
#include "core/wire.h"
#include "core/wire_pack.h"

/* No advertiser could be asked for the manifest: look again after this. */
#define MANIFEST_RETRY_NS (1 * P2P_NS_PER_S)
/* Timed-out chunk requests handled per scheduler call. */
#define EXPIRED_BATCH 64u

#ifdef P2P_DEBUG
/* The manager's invariants, O(1) (the scheduler checks its own): checked
 * at the end of its entry points in debug builds. */
static bool invariants_ok(const struct p2p_node *n)
{
    const struct p2p_state_sync *st = &n->state;
    if (!st->active)
        return st->sched == NULL && !st->have_manifest &&
               !st->manifest_inflight && st->manifest.chunks == NULL &&
               st->timer_at == P2P_TIME_NEVER;
    if (st->ops == NULL)
        return false;
    if (st->have_manifest)
        return st->sched != NULL && !st->manifest_inflight &&
               st->manifest.height == st->height;
    return st->sched == NULL && st->manifest.chunks == NULL;
}
#define CHECK(n) P2P_ASSERT(invariants_ok(n))
#else
#define CHECK(n) ((void)0)
#endif

/* ---- small helpers ---- */

static const struct p2p_state_manifest *latest(struct p2p_node *n,
                                               struct p2p_state_hash *root)
{
    struct p2p_state_sync *st = &n->state;
    return st->ops != NULL ? st->ops->latest(st->ctx, root) : NULL;
}

static uint64_t our_height(struct p2p_node *n)
{
    struct p2p_state_hash root;
    const struct p2p_state_manifest *m = latest(n, &root);
    return m != NULL ? m->height : 0;
}

static bool advertises(const struct p2p_node *n, p2p_node_id id,
                       uint64_t height, const struct p2p_state_hash *root)
{
    const struct p2p_peer *p = &n->peers[id];
    return p2p__conn_manager_is_up(&n->conns, id) && p->state_advertised && p->state_height == height &&
           p2p_state_hash_eq(&p->state_root, root);
}

static void event(struct p2p_node *n, enum p2p_event ev, p2p_node_id peer,
                  const struct p2p_state_hash *root, int64_t value)
{
    struct p2p_artifact_id id;
    memcpy(id.b, root->b, sizeof(id.b));
    p2p_outbox_event(&n->outbox, ev, peer, &id, value);
}

/* Answers an inbound state request; never leaves the requester waiting. */
static int respond(struct p2p_node *n, p2p_node_id peer, uint64_t stream_id,
                   uint32_t status, const uint8_t *body, size_t len)
{
    struct p2p_stream_resp r = {.peer = peer, .stream_id = stream_id,
                                .traffic = P2P_TRAFFIC_STATE, .status = status,
                                .body = body, .len = len};
    return p2p__streams_respond(&n->streams, &r); /* resets on failure */
}

/* Response and envelope around a chunk or manifest: tags, lengths and
 * status, with room to spare. */
#define STATE_ENVELOPE_BYTES 64u

/* The longest honest answer to a request for chunk index (or the
 * manifest): the chunk's size in the manifest, or the manifest limit. A
 * peer cannot make this node buffer more than that per request. */
static size_t response_bytes_max(const struct p2p_state_sync *st,
                                 uint32_t index)
{
    if (index == P2P_STATE_SYNC_MANIFEST || !st->have_manifest ||
        index >= st->manifest.chunks_count)
        return P2P_STATE_MANIFEST_BYTES_MAX + STATE_ENVELOPE_BYTES;
    return (size_t)st->manifest.chunks[index].size + STATE_ENVELOPE_BYTES;
}

/* Sends one ChunkRequest (a chunk, or the manifest when index is
 * P2P_STATE_SYNC_MANIFEST) for the current sync. */
static int send_request(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        uint32_t index, p2p_time timeout_ns)
{
    struct p2p_state_sync *st = &n->state;
    P2p__V1__ChunkRequest req = P2P__V1__CHUNK_REQUEST__INIT;
    req.height = st->height;
    req.root.data = st->root.b;
    req.root.len = sizeof(st->root.b);
    req.manifest = index == P2P_STATE_SYNC_MANIFEST;
    req.index = req.manifest ? 0 : index;
    uint8_t *body;
    size_t len;
    int rc = p2p_wire_pack(n->mem, P2P_MEM_WIRE, &req.base, &body, &len);
    if (rc != 0)
        return rc;
    uint32_t stream;
    struct p2p_stream_req r = {
        .peer = peer, .route = P2P_ROUTE_STATE_CHUNK,
        .traffic = P2P_TRAFFIC_STATE, .body = body, .len = len,
        .owner = P2P_OWNER_STATE_SYNC, .owner_index = index, .owner_gen = st->gen,
        .timeout_ns = timeout_ns,
        .response_bytes_max = response_bytes_max(st, index)};
    rc = p2p__streams_request(&n->streams, now, &r, &stream);
    p2p_mem_free(n->mem, P2P_MEM_WIRE, body);
    return rc;
}

/* Aborts this sync's outbound streams: to peer (or every peer when
 * P2P_NODE_NONE) for chunk index (or every request when index is
 * P2P_INDEX_NONE - 1, see ANY_INDEX). O(streams). */
#define ANY_INDEX (P2P_STATE_SYNC_MANIFEST - 1u)
static void abort_streams(struct p2p_node *n, p2p_node_id peer, uint32_t index)
{
    p2p__streams_abort_owned(&n->streams, P2P_OWNER_STATE_SYNC, peer, index,
                             index == ANY_INDEX);
}

/* Arms the sync's one timer at `at` unless it is armed there already. */
static void arm_sync_timer(struct p2p_node *n, p2p_time at)
{
    struct p2p_state_sync *st = &n->state;
    if (at == P2P_TIME_NEVER || at == st->timer_at)
        return;
    if (p2p__timer(n, at, P2P_TIMER_STATE_SYNC, 0, st->gen) == 0)
        st->timer_at = at;
}

/* ---- lifecycle of a sync ---- */

/* Frees what the sync holds; its streams and timers become stale. */
static void end_sync(struct p2p_node *n)
{
    struct p2p_state_sync *st = &n->state;
    abort_streams(n, P2P_NODE_NONE, ANY_INDEX);
    p2p_chunk_scheduler_del(st->sched);
    st->sched = NULL;
    p2p_state_manifest_fini(&st->manifest);
    st->active = false;
    st->have_manifest = false;
    st->manifest_inflight = false;
    st->gen++;
    st->timer_at = P2P_TIME_NEVER;
}

static void cancel(struct p2p_node *n)
{
    struct p2p_state_sync *st = &n->state;
    if (!st->active)
        return;
    n->metrics.state_syncs_cancelled++;
    event(n, P2P_EV_STATE_SYNC_CANCEL, P2P_NODE_NONE, &st->root,
          (int64_t)st->height);
    end_sync(n);
}

static void request_manifest(struct p2p_node *n, p2p_time now);
static void evaluate(struct p2p_node *n, p2p_time now);
static void advertise_all(struct p2p_node *n, p2p_time now);

static void start(struct p2p_node *n, p2p_time now, uint64_t height,
                  const struct p2p_state_hash *root)
{
    struct p2p_state_sync *st = &n->state;
    P2P_ASSERT(!st->active);
    st->active = true;
    st->gen++;
    st->height = height;
    st->root = *root;
    st->started_ns = now;
    st->manifest_peer = P2P_NODE_NONE;
    st->timer_at = P2P_TIME_NEVER;
    n->metrics.state_syncs_started++;
    request_manifest(n, now);
    /* Once per sync, naming the advertiser asked first for the manifest
     * (retries and other advertisers show in the stream actions). */
    event(n, P2P_EV_STATE_SYNC_START, st->manifest_peer, &st->root,
          (int64_t)st->height);
}

static void finish(struct p2p_node *n, p2p_time now)
{
    struct p2p_state_sync *st = &n->state;
    st->ops->complete(st->ctx, &st->manifest, &st->root);
    n->metrics.state_syncs_completed++;
    event(n, P2P_EV_STATE_SYNC_DONE, P2P_NODE_NONE, &st->root,
          (int64_t)st->height);
    end_sync(n);
    advertise_all(n, now);
    evaluate(n, now); /* a newer state may be advertised already */
}

/* Issues every request the scheduler allows now, hands a complete state
 * over, and arms the timer for the next deadline. */
static void pump(struct p2p_node *n, p2p_time now)
{
    struct p2p_state_sync *st = &n->state;
    if (!st->active || !st->have_manifest)
        return;
    struct p2p_chunk_request r;
    while (p2p_chunk_scheduler_next_request(st->sched, now, &r) == 1) {
        /* The stream's own deadline is a backstop against a request the
         * scheduler forgot (its peer removed, its chunk held): the
         * scheduler times the request out and aborts the stream first,
         * each deadline at most chunk_timeout_ns after the peer's last
         * answer, so a request waits behind at most the peer's other
         * requests in flight. */
        p2p_time backstop = (p2p_time)(n->cfg.state_chunks_per_peer + 1) *
                                n->cfg.state_chunk_timeout_ns +
                            P2P_TIMER_STALL_NS;
        int rc = send_request(n, now, r.peer, r.index, backstop);
        if (rc == 0) {
            n->metrics.state_chunks_requested++;
            continue;
        }
        /* Out of streams or memory: the peer backs off, the chunk waits. */
        (void)p2p_chunk_scheduler_on_chunk_failed(st->sched, now, r.peer,
                                                  r.index, rc);
    }
    if (p2p_chunk_scheduler_take_complete(st->sched)) {
        finish(n, now);
        return;
    }
    arm_sync_timer(n, p2p_chunk_scheduler_next_deadline(st->sched));
}

/* An advertiser of the sync's state, chosen at random, preferring one
 * other than `avoid`; P2P_NODE_NONE when none is up. */
static p2p_node_id pick_advertiser(struct p2p_node *n, p2p_node_id avoid)
{
    struct p2p_state_sync *st = &n->state;
    uint32_t count = 0, others = 0;
    for (uint32_t id = 0; id < n->peers_capacity; id++)
        if (advertises(n, id, st->height, &st->root)) {
            count++;
            others += id != avoid;
        }
    if (count == 0)
        return P2P_NODE_NONE;
    bool skip_avoid = others > 0;
    uint64_t k = p2p_rng_below(&st->rng, skip_avoid ? others : count);
    for (uint32_t id = 0; id < n->peers_capacity; id++) {
        if (!advertises(n, id, st->height, &st->root) ||
            (skip_avoid && id == avoid))
            continue;
        if (k-- == 0)
            return id;
    }
    P2P_UNREACHABLE();
    return P2P_NODE_NONE;
}

static void request_manifest(struct p2p_node *n, p2p_time now)
{
    struct p2p_state_sync *st = &n->state;
    p2p_node_id peer = pick_advertiser(n, st->manifest_peer);
    if (peer == P2P_NODE_NONE)
        return; /* the next advert of this state asks again */
    int rc = send_request(n, now, peer, P2P_STATE_SYNC_MANIFEST,
                          n->cfg.state_chunk_timeout_ns);
    st->manifest_peer = peer;
    if (rc != 0) {
        arm_sync_timer(n, now + MANIFEST_RETRY_NS);
        return;
    }
    st->manifest_inflight = true;
}

/* The scheduler's config: peers_max covers the topology (up to the
 * scheduler's bound) and, as in its default, there are records for every
 * peer's requests in flight plus as many waiting, within its bound. */
static void sched_config(const struct p2p_node *n,
                         struct p2p_chunk_scheduler_config *cfg)
{
    p2p_chunk_scheduler_config_default(cfg);
    cfg->per_peer_inflight_max = n->cfg.state_chunks_per_peer;
    cfg->chunk_timeout_ns = n->cfg.state_chunk_timeout_ns;
    if (p2p__conn_manager_topology(&n->conns)->count > cfg->peers_max)
        cfg->peers_max = p2p__conn_manager_topology(&n->conns)->count < P2P_CHUNK_SCHED_PEERS_MAX
                             ? p2p__conn_manager_topology(&n->conns)->count
                             : P2P_CHUNK_SCHED_PEERS_MAX;
    uint64_t active = 2ull * cfg->per_peer_inflight_max * cfg->peers_max;
    cfg->chunks_active_max = active < P2P_CHUNK_SCHED_ACTIVE_MAX
                                 ? (uint32_t)active
                                 : P2P_CHUNK_SCHED_ACTIVE_MAX;
}

/* A scheduler for the held manifest with every current advertiser of the
 * state. With prev (a stalled scheduler of the same sync), what prev holds
 * is held and the peers prev excluded stay out; without, what the store
 * already holds is held (counted as reused). Errors: P2P_ERR_NOMEM. */
static int new_sched(struct p2p_node *n, p2p_time now,
                     struct p2p_chunk_scheduler *prev,
                     struct p2p_chunk_scheduler **out)
{
    struct p2p_state_sync *st = &n->state;
    struct p2p_chunk_scheduler_config cfg;
    sched_config(n, &cfg);
    int rc = p2p_chunk_scheduler_new(&cfg, &st->manifest, n->mem,
                                     P2P_MEM_STATE_SYNC, &st->rng, out);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < st->manifest.chunks_count; i++) {
        bool held = prev != NULL
                        ? p2p_chunk_scheduler_is_held(prev, i)
                        : st->ops->has_chunk(st->ctx, &st->manifest,
                                             &st->root, i);
        if (held && p2p_chunk_scheduler_mark_held(*out, i) == 0 &&
            prev == NULL)
            n->metrics.state_chunks_reused++;
    }
    for (uint32_t id = 0; id < n->peers_capacity; id++) {
        if (!advertises(n, id, st->height, &st->root))
            continue;
        /* add_peer tells an excluded peer (prev is discarded after). */
        if (prev != NULL && p2p_chunk_scheduler_add_peer(prev, now, id) ==
                                P2P_ERR_MISBEHAVED)
            continue;
        (void)p2p_chunk_scheduler_add_peer(*out, now, id);
    }
    return 0;
}

/* The manifest is held: start fetching chunks from every advertiser. */
static void begin_chunks(struct p2p_node *n, p2p_time now)
{
    struct p2p_state_sync *st = &n->state;
    if (new_sched(n, now, NULL, &st->sched) != 0) {
        cancel(n); /* out of memory: a later advert tries again */
        return;
    }
    st->have_manifest = true;
    n->metrics.state_manifests_fetched++;
    p2p__state_slow_start(n, now);
    pump(n, now);
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
static p2p_node_id first_server(struct p2p_node *n, p2p_time now)
{
    struct p2p_state_sync *st = &n->state;
    for (uint32_t id = 0; id < n->peers_capacity; id++) {
        if (!advertises(n, id, st->height, &st->root))
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
static void revive(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    struct p2p_state_sync *st = &n->state;
    struct p2p_chunk_scheduler *fresh;
    if (first_server(n, now) == peer && stalled(st) &&
        new_sched(n, now, st->sched, &fresh) == 0) {
        /* Stalled: nothing in flight, so no stream names the old one. */
        p2p_chunk_scheduler_del(st->sched);
        st->sched = fresh;
    }
    pump(n, now);
}

/* A peer served bytes that do not match: a penalty, and a trace line. */
static void bad_data(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                     int64_t index)
{
    n->metrics.state_bad_data++;
    event(n, P2P_EV_STATE_BAD_DATA, peer, &n->state.root, index);
    p2p__ledger_penalise(&n->ledger, now, peer, P2P_PENALTY_BAD_STATE);
}

static void on_manifest(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        int err, const struct p2p_frame *f)
{
    struct p2p_state_sync *st = &n->state;
    st->manifest_inflight = false;
    if (err == 0 && f->status == P2P_STATUS_OK) {
        /* The encoding is canonical: hash the bytes before decoding them,
         * so a wrong manifest costs no allocation. */
        struct p2p_state_hash h;
        p2p_state_hash_of(f->body, f->body_len, &h);
        int rc = p2p_state_hash_eq(&h, &st->root)
                     ? p2p_state_manifest_decode(&st->manifest, n->mem,
                                                 P2P_MEM_STATE_SYNC, f->body,
                                                 f->body_len)
                     : P2P_ERR_ID_MISMATCH;
        if (rc == 0) {
            if (st->manifest.height == st->height) {
                begin_chunks(n, now);
                return;
            }
            p2p_state_manifest_fini(&st->manifest);
            rc = P2P_ERR_DECODE;
        }
        /* Our own lack of memory is not the peer's fault. */
        if (rc != P2P_ERR_NOMEM)
            bad_data(n, now, peer, -1);
    }
    /* Another advertiser at once; the same one only after a pause. */
    if (pick_advertiser(n, peer) != peer)
        request_manifest(n, now);
    else
        arm_sync_timer(n, now + MANIFEST_RETRY_NS);
}

static void on_chunk(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                     uint32_t index, int err, const struct p2p_frame *f)
{
    struct p2p_state_sync *st = &n->state;
    /* Any answer shows the peer working through our requests: the ones
     * behind this one are timed from now (after the latency sample). */
    if (err == 0 && f->status == P2P_STATUS_OK) {
        p2p__state_slow_sample(n, now, peer, index);
        p2p_chunk_scheduler_on_progress(st->sched, now, peer);
        enum p2p_chunk_verdict v;
        if (p2p_chunk_scheduler_on_chunk_ok(st->sched, now, peer, index,
                                            f->body, f->body_len, &v) != 0)
            return;
        switch (v) {
        case P2P_CHUNK_ACCEPTED:
            if (st->ops->put_chunk(st->ctx, &st->manifest, &st->root, index,
                                   f->body, f->body_len) != 0) {
                /* The scheduler counts it held but the store does not:
                 * start over, reusing what the store kept. */
                cancel(n);
                evaluate(n, now);
                return;
            }
            n->metrics.state_chunks_received++;
            n->metrics.state_chunk_bytes_received += f->body_len;
            break;
        case P2P_CHUNK_STALE:
            break;
        case P2P_CHUNK_BAD_EXCLUDED:
            abort_streams(n, peer, ANY_INDEX);
            /* fall through */
        case P2P_CHUNK_BAD:
            bad_data(n, now, peer, index);
            break;
        }
    } else {
        if (err == 0)
            p2p_chunk_scheduler_on_progress(st->sched, now, peer);
        int e = err != 0 ? err
                : f->status == P2P_STATUS_NO_CONTENT ? P2P_ERR_NOT_FOUND
                                                 : P2P_ERR_DECODE;
        if (p2p_chunk_scheduler_on_chunk_failed(st->sched, now, peer, index,
                                                e) == 0)
            n->metrics.state_chunks_failed++;
    }
    pump(n, now);
}

void p2p__state_on_response(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                            uint32_t index, uint32_t gen, int err,
                            const struct p2p_frame *f)
{
    struct p2p_state_sync *st = &n->state;
    if (!st->active || gen != st->gen)
        return; /* an older sync's answer */
    if (index == P2P_STATE_SYNC_MANIFEST) {
        if (st->manifest_inflight && !st->have_manifest)
            on_manifest(n, now, peer, err, f);
    } else if (st->have_manifest) {
        on_chunk(n, now, peer, index, err, f);
    }
    CHECK(n);
}

void p2p__state_on_sync_timer(struct p2p_node *n, p2p_time now, uint32_t gen)
{
    struct p2p_state_sync *st = &n->state;
    if (!st->active || gen != st->gen)
        return;
    st->timer_at = P2P_TIME_NEVER;
    if (!st->have_manifest) {
        if (!st->manifest_inflight)
            request_manifest(n, now);
        CHECK(n);
        return;
    }
    struct p2p_chunk_request expired[EXPIRED_BATCH];
    size_t k;
    do {
        k = p2p_chunk_scheduler_on_time(st->sched, now, expired,
                                        EXPIRED_BATCH);
        /* A timed-out request goes to another peer and its peer backs
         * off; no points: a peer that answers nothing at all is
         * penalised by its other streams' deadlines (P2P_SILENCE_NS). */
        for (size_t i = 0; i < k; i++) {
            abort_streams(n, expired[i].peer, expired[i].index);
            n->metrics.state_chunks_failed++;
        }
    } while (k == EXPIRED_BATCH);
    pump(n, now);
    CHECK(n);
}

void p2p__state_pump(struct p2p_node *n, p2p_time now)
{
    pump(n, now);
    CHECK(n);
}

void p2p__state_abort_request(struct p2p_node *n, p2p_node_id peer,
                              uint32_t index)
{
    abort_streams(n, peer, index);
}

/* ---- choosing a state ---- */

/* Advertisers needed: the configured quorum, or f + 1 of the current
 * topology's n = 3f + 1 members (1 without a topology). */
static uint32_t quorum(const struct p2p_node *n)
{
    if (n->cfg.state_sync_quorum != 0)
        return n->cfg.state_sync_quorum;
    uint32_t members = p2p__conn_manager_topology(&n->conns)->count;
    return members > 0 ? (members - 1) / 3 + 1 : 1;
}

static uint32_t count_advertisers(const struct p2p_node *n, uint64_t height,
                                  const struct p2p_state_hash *root)
{
    uint32_t count = 0;
    for (uint32_t id = 0; id < n->peers_capacity; id++)
        count += advertises(n, id, height, root);
    return count;
}

/* Whether the sync under way should give way to a newer state: only while
 * it has nothing invested that a switch would waste. */
static bool may_switch(const struct p2p_node *n)
{
    const struct p2p_state_sync *st = &n->state;
    if (!st->active)
        return true;
    return !st->have_manifest || stalled(st);
}

/* Starts (or moves to) the newest state advertised by a quorum above the
 * store's own, if any. O(peers^2), run on adverts of newer states only. */
static void evaluate(struct p2p_node *n, p2p_time now)
{
    struct p2p_state_sync *st = &n->state;
    if (st->ops == NULL)
        return;
    uint64_t floor = our_height(n);
    if (st->active && st->height > floor)
        floor = st->height;
    uint32_t need = quorum(n);
    p2p_node_id best = P2P_NODE_NONE;
    uint32_t best_count = 0;
    for (uint32_t id = 0; id < n->peers_capacity; id++) {
        const struct p2p_peer *p = &n->peers[id];
        if (!p2p__conn_manager_is_up(&n->conns, id) || !p->state_advertised || p->state_height <= floor)
            continue;
        if (best != P2P_NODE_NONE) {
            const struct p2p_peer *b = &n->peers[best];
            if (p->state_height < b->state_height ||
                (p->state_height == b->state_height &&
                 p2p_state_hash_eq(&p->state_root, &b->state_root)))
                continue;
        }
        uint32_t c = count_advertisers(n, p->state_height, &p->state_root);
        if (c < need)
            continue;
        /* Higher first; at one height the root most peers agree on. */
        if (best == P2P_NODE_NONE ||
            p->state_height > n->peers[best].state_height || c > best_count) {
            best = id;
            best_count = c;
        }
    }
    if (best == P2P_NODE_NONE || !may_switch(n))
        return;
    struct p2p_state_hash root = n->peers[best].state_root;
    uint64_t height = n->peers[best].state_height;
    cancel(n);
    start(n, now, height, &root);
}

/* ---- adverts ---- */

static void send_advert(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    struct p2p_state_hash root;
    const struct p2p_state_manifest *m = latest(n, &root);
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
    if (p2p_wire_pack(n->mem, P2P_MEM_WIRE, &a.base, &body, &len) != 0)
        return; /* best effort, as in the IC: the next round sends it */
    uint32_t stream;
    struct p2p_stream_req req = {
        .peer = peer, .route = P2P_ROUTE_STATE_ADVERT,
        .traffic = P2P_TRAFFIC_STATE, .body = body, .len = len,
        .owner = P2P_OWNER_NONE, .timeout_ns = n->cfg.state_advert_timeout_ns,
        .response_bytes_max = 0 /* the route's: an empty answer */};
    if (p2p__streams_request(&n->streams, now, &req, &stream) == 0)
        n->metrics.state_adverts_sent++;
    p2p_mem_free(n->mem, P2P_MEM_WIRE, body);
}

static void advertise_all(struct p2p_node *n, p2p_time now)
{
    for (uint32_t id = 0; id < n->peers_capacity; id++)
        if (p2p__conn_manager_is_up(&n->conns, id))
            send_advert(n, now, id);
}

static void arm_advert_timer(struct p2p_node *n, p2p_time now)
{
    struct p2p_state_sync *st = &n->state;
    if (st->ops == NULL || st->advert_timer)
        return;
    if (p2p__timer(n, now + n->cfg.state_advert_every_ns, P2P_TIMER_STATE_ADVERT,
                   0, 0) == 0)
        st->advert_timer = true;
}

void p2p__state_on_advert_timer(struct p2p_node *n, p2p_time now)
{
    n->state.advert_timer = false;
    if (n->state.ops == NULL)
        return;
    advertise_all(n, now);
    arm_advert_timer(n, now);
    CHECK(n);
}

bool p2p__state_timer_live(const struct p2p_node *n, uint32_t kind,
                           uint32_t gen, p2p_time deadline)
{
    const struct p2p_state_sync *st = &n->state;
    if (kind == P2P_TIMER_STATE_ADVERT)
        return st->advert_timer;
    return st->active && gen == st->gen && deadline == st->timer_at;
}

/* A peer's advert was recorded. */
static void on_advert(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    struct p2p_state_sync *st = &n->state;
    const struct p2p_peer *p = &n->peers[peer];
    if (st->active && p->state_height == st->height &&
        p2p_state_hash_eq(&p->state_root, &st->root)) {
        if (st->have_manifest) {
            int rc = p2p_chunk_scheduler_add_peer(st->sched, now, peer);
            if (rc == 0)
                pump(n, now);
            else if (rc == P2P_ERR_EXISTS)
                revive(n, now, peer);
        } else if (!st->manifest_inflight) {
            request_manifest(n, now);
        }
        return;
    }
    if (st->ops != NULL && p->state_height > our_height(n) &&
        (!st->active || p->state_height > st->height))
        evaluate(n, now);
}

/* ---- serving ---- */

/* A request this node could not unpack for lack of memory: the stream is
 * reset, so the requester retries (elsewhere, or later) and blames no
 * one; a 204 would rule this peer out for the chunk. */
static int refuse_for_now(struct p2p_node *n, p2p_node_id peer,
                          uint64_t stream_id)
{
    n->metrics.requests_refused_nomem++;
    p2p__streams_reset(&n->streams, peer, stream_id);
    return P2P_ERR_NOMEM;
}

static int serve_advert(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        uint64_t stream_id, const struct p2p_frame *f)
{
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, n->mem);
    ProtobufCAllocator *alloc = &ua.base;
    P2p__V1__StateAdvert *a =
        p2p__v1__state_advert__unpack(alloc, f->body_len, f->body);
    if (a == NULL && ua.refused)
        return refuse_for_now(n, peer, stream_id);
    if (a == NULL || a->root.len != P2P_STATE_HASH_BYTES) {
        if (a != NULL)
            p2p__v1__state_advert__free_unpacked(a, alloc);
        p2p__ledger_penalise(&n->ledger, now, peer, P2P_PENALTY_BAD_UPDATE);
        (void)respond(n, peer, stream_id, P2P_STATUS_BAD_REQUEST, NULL, 0);
        return P2P_ERR_DECODE;
    }
    struct p2p_peer *p = &n->peers[peer];
    p->state_advertised = true;
    p->state_height = a->height;
    memcpy(p->state_root.b, a->root.data, P2P_STATE_HASH_BYTES);
    p2p__v1__state_advert__free_unpacked(a, alloc);
    n->metrics.state_adverts_received++;
    (void)respond(n, peer, stream_id, P2P_STATUS_OK, NULL, 0);
    on_advert(n, now, peer);
    return 0;
}

/* Answers with the manifest's encoding (allocated for the call). */
static int serve_manifest(struct p2p_node *n, p2p_node_id peer,
                          uint64_t stream_id,
                          const struct p2p_state_manifest *m)
{
    size_t len = p2p_state_manifest_encoded_len(m);
    uint8_t *buf = p2p_mem_alloc(n->mem, P2P_MEM_STATE_SYNC, len);
    if (buf == NULL) {
        (void)respond(n, peer, stream_id, P2P_STATUS_NO_CONTENT, NULL, 0);
        return P2P_ERR_NOMEM;
    }
    int rc = p2p_state_manifest_encode(m, buf, len);
    P2P_ASSERT(rc == 0);
    rc = respond(n, peer, stream_id, P2P_STATUS_OK, buf, len);
    p2p_mem_free(n->mem, P2P_MEM_STATE_SYNC, buf);
    return rc;
}

static int serve_chunk(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                       uint64_t stream_id, const struct p2p_frame *f)
{
    struct p2p_state_sync *st = &n->state;
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, n->mem);
    ProtobufCAllocator *alloc = &ua.base;
    P2p__V1__ChunkRequest *req =
        p2p__v1__chunk_request__unpack(alloc, f->body_len, f->body);
    if (req == NULL && ua.refused)
        return refuse_for_now(n, peer, stream_id);
    if (req == NULL || req->root.len != P2P_STATE_HASH_BYTES) {
        if (req != NULL)
            p2p__v1__chunk_request__free_unpacked(req, alloc);
        p2p__ledger_penalise(&n->ledger, now, peer, P2P_PENALTY_BAD_UPDATE);
        (void)respond(n, peer, stream_id, P2P_STATUS_BAD_REQUEST, NULL, 0);
        return P2P_ERR_DECODE;
    }
    struct p2p_state_hash root;
    memcpy(root.b, req->root.data, sizeof(root.b));
    uint64_t height = req->height;
    bool want_manifest = req->manifest;
    uint32_t index = req->index;
    p2p__v1__chunk_request__free_unpacked(req, alloc);

    const struct p2p_state_manifest *m =
        st->ops != NULL ? st->ops->manifest(st->ctx, height, &root) : NULL;
    if (m == NULL) {
        n->metrics.state_chunks_not_served++;
        return respond(n, peer, stream_id, P2P_STATUS_NO_CONTENT, NULL, 0);
    }
    if (want_manifest) {
        n->metrics.state_chunks_served++;
        return serve_manifest(n, peer, stream_id, m);
    }
    if (index >= m->chunks_count) {
        /* No honest peer asks past the manifest it checked. */
        p2p__ledger_penalise(&n->ledger, now, peer, P2P_PENALTY_BAD_UPDATE);
        (void)respond(n, peer, stream_id, P2P_STATUS_BAD_REQUEST, NULL, 0);
        return P2P_ERR_INVALID_ARG;
    }
    const uint8_t *bytes;
    size_t len;
    if (st->ops->chunk(st->ctx, height, &root, index, &bytes, &len) != 0) {
        n->metrics.state_chunks_not_served++;
        return respond(n, peer, stream_id, P2P_STATUS_NO_CONTENT, NULL, 0);
    }
    n->metrics.state_chunks_served++;
    return respond(n, peer, stream_id, P2P_STATUS_OK, bytes, len);
}

int p2p__state_on_request(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                          uint64_t stream_id, const struct p2p_frame *f)
{
    int rc = f->route == P2P_ROUTE_STATE_ADVERT
                 ? serve_advert(n, now, peer, stream_id, f)
                 : serve_chunk(n, now, peer, stream_id, f);
    CHECK(n);
    return rc;
}

/* ---- peers and the shim ---- */

void p2p__state_peer_up(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    n->peers[peer].state_advertised = false;
    send_advert(n, now, peer);
    /* The periodic advert may have failed to re-arm (timers full). */
    arm_advert_timer(n, now);
    CHECK(n);
}

void p2p__state_peer_down(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    struct p2p_state_sync *st = &n->state;
    n->peers[peer].state_advertised = false;
    if (st->active && st->have_manifest &&
        p2p_chunk_scheduler_remove_peer(st->sched, now, peer) == 0)
        pump(n, now);
    CHECK(n);
}

void p2p__state_init(struct p2p_node *n)
{
    struct p2p_state_sync *st = &n->state;
    memset(st, 0, sizeof(*st));
    p2p_rng_init(&st->rng, n->cfg.seed,
                 ((uint64_t)n->cfg.self << 32) | 0x73746174u /* "stat" */);
    p2p_state_manifest_init(&st->manifest);
    st->manifest_peer = P2P_NODE_NONE;
    st->timer_at = P2P_TIME_NEVER;
}

void p2p__state_fini(struct p2p_node *n)
{
    struct p2p_state_sync *st = &n->state;
    p2p_chunk_scheduler_del(st->sched);
    st->sched = NULL;
    p2p_state_manifest_fini(&st->manifest);
}

void p2p_node_set_state_store(struct p2p_node *n, p2p_time now,
                              const struct p2p_state_store_ops *ops,
                              void *ctx)
{
    struct p2p_state_sync *st = &n->state;
    cancel(n);
    st->ops = ops;
    st->ctx = ctx;
    if (ops != NULL) {
        arm_advert_timer(n, now);
        advertise_all(n, now);
        evaluate(n, now);
        p2p__node_epilogue(n, now);
    }
    CHECK(n);
}

void p2p_node_state_changed(struct p2p_node *n, p2p_time now)
{
    struct p2p_state_sync *st = &n->state;
    if (st->ops == NULL)
        return;
    if (st->active && our_height(n) >= st->height)
        cancel(n);
    arm_advert_timer(n, now); /* in case it failed to re-arm */
    advertise_all(n, now);
    evaluate(n, now);
    p2p__node_epilogue(n, now);
    CHECK(n);
}

void p2p_node_state_sync_info(const struct p2p_node *n,
                              struct p2p_state_sync_info *info)
{
    const struct p2p_state_sync *st = &n->state;
    memset(info, 0, sizeof(*info));
    info->gen = st->gen;
    info->active = st->active;
    if (!st->active)
        return;
    info->height = st->height;
    info->root = st->root;
    info->have_manifest = st->have_manifest;
    info->started_ns = st->started_ns;
    info->peers = count_advertisers(n, st->height, &st->root);
}

bool p2p_node_state_sync_progress(const struct p2p_node *n,
                                  struct p2p_chunk_progress *out)
{
    const struct p2p_state_sync *st = &n->state;
    if (!st->active || !st->have_manifest)
        return false;
    p2p_chunk_scheduler_progress(st->sched, out);
    return true;
}
