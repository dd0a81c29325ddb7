/* The artifact downloader (core/downloader.h). */
#include "core/downloader.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/histogram.h"
#include "core/intake.h"
#include "core/status.h"
#include "core/wire_view.h"
#include "core/wire_write.h"

enum drop_reason {
    DROP_UNWANTED = 1,
    DROP_NO_ADVERTISER = 2,
    DROP_POOL_REFUSED = 3,
    DROP_NO_TIMER = 4
};

static struct p2p_download *dl_at(const struct p2p_downloader *dl, uint32_t i)
{
    return p2p__table_at(&dl->downloads, i);
}

static bool find(const struct p2p_downloader *dl,
                 const struct p2p_artifact_id *id, uint32_t *index)
{
    struct p2p_key key;
    p2p__table_id_key(id, &key);
    return p2p_keymap_get(&dl->by_id, &key, index);
}

void p2p__downloader_init(struct p2p_downloader *dl, const struct p2p_env *env,
                          struct p2p_streams *streams, uint64_t key_seed)
{
    memset(dl, 0, sizeof(*dl));
    dl->env = env;
    dl->streams = streams;
    p2p__table_init(&dl->downloads, sizeof(struct p2p_download),
                    offsetof(struct p2p_download, next_free),
                    offsetof(struct p2p_download, gen), env->cfg->downloads_max,
                    P2P_MEM_DOWNLOADER);
    p2p_keymap_init(&dl->by_id, env->mem, P2P_MEM_DOWNLOADER,
                    env->cfg->downloads_max, key_seed);
}

void p2p__downloader_fini(struct p2p_downloader *dl)
{
    struct p2p_mem *mem = dl->env->mem;
    for (uint32_t i = 0; i < dl->downloads.capacity; i++)
        p2p_mem_free(mem, P2P_MEM_DOWNLOADER, dl_at(dl, i)->advs);
    for (uint32_t p = 0; p < dl->peers_capacity; p++)
        p2p_mem_free(mem, P2P_MEM_RECEIVER, dl->peers[p].adverts);
    p2p_mem_free(mem, P2P_MEM_DOWNLOADER, dl->peers);
    p2p__table_fini(&dl->downloads, mem);
    p2p_keymap_fini(&dl->by_id);
    dl->peers = NULL;
    dl->peers_capacity = 0;
}

int p2p__downloader_peer_fit(struct p2p_downloader *dl, p2p_node_id peer)
{
    return p2p__table_array_fit(dl->env->mem, P2P_MEM_DOWNLOADER,
                                (void **)&dl->peers, &dl->peers_capacity,
                                sizeof(*dl->peers), peer,
                                dl->env->cfg->node_ids_max);
}

uint32_t p2p__downloader_fetches(const struct p2p_downloader *dl,
                                 p2p_node_id peer)
{
    return peer < dl->peers_capacity ? dl->peers[peer].fetches_inflight : 0;
}

/* ---- the retry list: adverts refused for lack of room ---- */

static void set_pending(struct p2p_downloader *dl, struct p2p_dl_advert *v,
                        bool pending)
{
    if (v->pending == pending)
        return;
    v->pending = pending;
    if (pending)
        dl->pending++;
    else
        dl->pending--;
}

void p2p__downloader_slot_changed(struct p2p_downloader *dl, p2p_node_id peer,
                                  uint32_t slot)
{
    if (peer >= dl->peers_capacity)
        return;
    struct p2p_dl_peer *p = &dl->peers[peer];
    if (slot >= p->adverts_capacity)
        return;
    set_pending(dl, &p->adverts[slot], false);
    p->adverts[slot].offered = false;
}

void p2p__downloader_peer_down(struct p2p_downloader *dl, p2p_node_id peer)
{
    if (peer >= dl->peers_capacity)
        return;
    struct p2p_dl_peer *p = &dl->peers[peer];
    for (uint32_t s = 0; s < p->adverts_capacity; s++)
        set_pending(dl, &p->adverts[s], false);
    p2p_mem_free(dl->env->mem, P2P_MEM_RECEIVER, p->adverts);
    p->adverts = NULL;
    p->adverts_capacity = 0;
}

/* Marks the adverts of peer that name id pending: the download ended
 * without the artifact while still advertised (as the IC's receiver does). */
static void mark_pending(struct p2p_downloader *dl, p2p_node_id peer,
                         const struct p2p_artifact_id *id)
{
    if (peer >= dl->peers_capacity)
        return;
    struct p2p_dl_peer *p = &dl->peers[peer];
    for (uint32_t s = 0; s < p->adverts_capacity; s++)
        if (p->adverts[s].offered && p2p_id_eq(&p->adverts[s].id, id))
            set_pending(dl, &p->adverts[s], true);
}

static void schedule_refresh(struct p2p_downloader *dl, p2p_time now)
{
    if (dl->refresh_scheduled)
        return;
    /* Without a timer, the next download created tries again. */
    dl->refresh_scheduled =
        p2p__timers_add(dl->env->timers, now + dl->env->cfg->bouncer_refresh_ns,
                        P2P_TIMER_BOUNCER_REFRESH, 0, 0) == 0;
}

/* Aborts the download's fetch in flight (its stream reset, its peer's
 * load given back): the download is ready for its next attempt. */
static void abandon_fetch(struct p2p_downloader *dl, uint32_t i)
{
    struct p2p_download *d = dl_at(dl, i);
    P2P_ASSERT(d->state == DL_FETCHING);
    p2p__streams_abort(dl->streams, d->stream);
    dl->peers[d->fetching_from].fetches_inflight--;
    dl->peers[d->fetching_from].fetch_bytes_inflight -= d->fetch_bytes;
    d->state = DL_READY;
    d->stream = P2P_INDEX_NONE;
    d->fetching_from = P2P_NODE_NONE;
}

/* Frees the record; aborts a fetch in flight. */
static void release(struct p2p_downloader *dl, uint32_t i)
{
    struct p2p_download *d = dl_at(dl, i);
    p2p__timers_cancel(dl->env->timers, &d->timer);
    if (d->state == DL_FETCHING)
        abandon_fetch(dl, i);
    for (uint32_t k = 0; k < d->advs_count; k++)
        dl->peers[d->advs[k].peer].advertising--;
    struct p2p_key key;
    p2p__table_id_key(&d->id, &key);
    int rc = p2p_keymap_del(&dl->by_id, &key);
    P2P_ASSERT(rc == 0);
    p2p_mem_free(dl->env->mem, P2P_MEM_DOWNLOADER, d->advs);
    d->advs = NULL;
    d->advs_count = d->advs_capacity = 0;
    d->used = false;
    p2p__table_give(&dl->downloads, i);
}

static void drop(struct p2p_downloader *dl, uint32_t i, enum drop_reason reason)
{
    dl->env->metrics->downloads_dropped++;
    p2p_outbox_event(dl->env->outbox, P2P_EV_DOWNLOAD_DROP, P2P_NODE_NONE,
                     &dl_at(dl, i)->id, reason);
    /* Ended for lack of room while still advertised: offer it again
     * later (as the IC's receiver does). */
    if (reason == DROP_POOL_REFUSED || reason == DROP_NO_TIMER) {
        struct p2p_download *d = dl_at(dl, i);
        for (uint32_t k = 0; k < d->advs_count; k++)
            mark_pending(dl, d->advs[k].peer, &d->id);
    }
    release(dl, i);
}

/* The priority order: latency-sensitive (push kind) artifacts may use
 * every fetch slot of a peer; the others leave a quarter of them free, so a
 * backlog of bulk downloads never delays a push-kind one behind it. (What
 * the bouncer answers MaybeWantsLater is not fetched at all until it
 * turns to Wants.) */
static uint32_t fetch_slots(const struct p2p_downloader *dl,
                            const struct p2p_download *d)
{
    uint32_t all = dl->env->cfg->fetches_per_peer_max;
    if (d->kind == P2P_KIND_PUSH || all < 4)
        return all;
    return all - all / 4;
}

static p2p_time busy_retry(const struct p2p_download *d)
{
    return d->kind == P2P_KIND_PUSH ? P2P_DOWNLOAD_BUSY_RETRY_PUSH_NS
                                    : P2P_DOWNLOAD_BUSY_RETRY_NS;
}

/* The advertiser to try next: untried this round and under its per-peer
 * limit for the download's priority, fewest fetches in flight first.
 * *busy is set when some untried advertiser exists but all are at their
 * limit. */
static int pick(struct p2p_downloader *dl, const struct p2p_download *d,
                bool *busy)
{
    uint32_t best_load = UINT32_MAX, ties = 0;
    uint32_t slots = fetch_slots(dl, d);
    /* Buggified: any eligible advertiser, uniformly, not the least loaded. */
    bool any = P2P_BUGGIFY_AT(dl->env->bug, P2P_BUGGIFY_ANY_ADVERTISER);
    int best = -1;
    *busy = false;
    for (uint32_t k = 0; k < d->advs_count; k++) {
        const struct p2p_advertiser *a = &d->advs[k];
        if (a->failed)
            continue;
        const struct p2p_dl_peer *pp = &dl->peers[a->peer];
        uint32_t load = pp->fetches_inflight;
        if (load >= slots ||
            (load > 0 && pp->fetch_bytes_inflight + d->size >
                             dl->env->cfg->fetch_bytes_per_peer_max)) {
            *busy = true;
            continue;
        }
        if (load < best_load && !any) {
            best_load = load;
            best = (int)k;
            ties = 1;
        } else if ((load == best_load || any) &&
                   p2p_rng_below(dl->env->rng, ++ties) == 0) {
            best = (int)k; /* reservoir choice among equals */
        }
    }
    return best;
}

static void drop(struct p2p_downloader *dl, uint32_t i,
                 enum drop_reason reason);

/* Parks the download until now + delay; without a timer it is dropped (a
 * later advert starts it again). */
static void wait_until(struct p2p_downloader *dl, p2p_time now, uint32_t i,
                       p2p_time delay, bool round_backoff)
{
    struct p2p_download *d = dl_at(dl, i);
    d->state = DL_BACKOFF;
    d->round_backoff = round_backoff;
    d->backoff_until = now + delay;
    p2p__timers_cancel(dl->env->timers, &d->timer); /* one wait at a time */
    if (p2p__timers_arm(dl->env->timers, d->backoff_until, P2P_TIMER_DOWNLOAD,
                        i, d->gen, &d->timer) != 0)
        drop(dl, i, DROP_NO_TIMER);
}

/* The attempt deadline: the IC's growing base, plus transfer time at the
 * configured minimum rate for every byte this node has asked the peer for
 * and not yet received (the fetches already in flight to it, which it
 * serves first, and this one's advertised size). */
static p2p_time fetch_timeout(const struct p2p_downloader *dl,
                              const struct p2p_download *d, p2p_node_id peer)
{
    p2p_time t = p2p_backoff_base(&dl->env->cfg->fetch_backoff, d->round);
    uint64_t rate = dl->env->cfg->fetch_bytes_per_s_min;
    /* Bounded: at most fetch_bytes_per_peer_max ahead (plus one artifact),
     * and each artifact is capped, so the product cannot overflow. */
    uint64_t queued = dl->peers[peer].fetch_bytes_inflight;
    uint64_t cap = 4ull * P2P_FRAME_MESSAGE_BYTES_MAX;
    uint64_t size = d->size < P2P_FRAME_MESSAGE_BYTES_MAX
                        ? d->size
                        : P2P_FRAME_MESSAGE_BYTES_MAX;
    uint64_t bytes = (queued < cap ? queued : cap) + size;
    if (rate > 0)
        t += bytes * P2P_NS_PER_S / rate;
    return t;
}

static int send_fetch(struct p2p_downloader *dl, p2p_time now, uint32_t i,
                      p2p_node_id peer)
{
    struct p2p_download *d = dl_at(dl, i);
    uint8_t body[P2P_WIRE_FETCH_REQUEST_BYTES];
    size_t len = p2p_wire_fetch_request(body, &d->id);
    uint32_t stream;
    /* The answer is the advertised artifact: a peer cannot make us buffer
     * more than its size (plus envelopes) whatever the route allows. */
    struct p2p_stream_req r = {.peer = peer,
                               .route = P2P_ROUTE_ARTIFACT_RPC,
                               .traffic = P2P_TRAFFIC_FETCH,
                               .body = body,
                               .len = len,
                               .owner = P2P_OWNER_DOWNLOADER,
                               .owner_index = i,
                               .owner_gen = d->gen,
                               .timeout_ns = fetch_timeout(dl, d, peer),
                               .response_bytes_max =
                                   d->size + P2P_FETCH_ENVELOPE_BYTES};
    int rc = p2p__streams_request(dl->streams, now, &r, &stream);
    if (rc != 0)
        return rc;
    d = dl_at(dl, i);
    d->state = DL_FETCHING;
    d->extensions = 0;
    d->stream = stream;
    d->fetching_from = peer;
    dl->peers[peer].fetches_inflight++;
    d->fetch_bytes = d->size; /* the size may grow while it runs */
    dl->peers[peer].fetch_bytes_inflight += d->fetch_bytes;
    dl->env->metrics->fetches_started++;
    p2p_outbox_event(dl->env->outbox, P2P_EV_DOWNLOAD_START, peer, &d->id,
                     d->round);
    return 0;
}

/* Starts a fetch from the best advertiser, or waits. */
static void attempt(struct p2p_downloader *dl, p2p_time now, uint32_t i)
{
    struct p2p_download *d = dl_at(dl, i);
    bool busy;
    int k = pick(dl, d, &busy);
    if (k >= 0) {
        if (send_fetch(dl, now, i, d->advs[k].peer) != 0)
            wait_until(dl, now, i, busy_retry(d), false);
        return;
    }
    if (busy) {
        wait_until(dl, now, i, busy_retry(d), false);
        return;
    }
    /* Every advertiser failed this round: back off, then start over. */
    p2p_time delay =
        p2p_backoff_delay(&dl->env->cfg->fetch_backoff, d->round, dl->env->rng);
    d->round++;
    for (uint32_t a = 0; a < d->advs_count; a++)
        d->advs[a].failed = false;
    p2p_outbox_event(dl->env->outbox, P2P_EV_DOWNLOAD_BACKOFF, P2P_NODE_NONE,
                     &d->id, (int64_t)delay);
    wait_until(dl, now, i, delay, true);
}

/* Asks the bouncer, then fetches, parks or drops. */
static void consult(struct p2p_downloader *dl, p2p_time now, uint32_t i)
{
    struct p2p_download *d = dl_at(dl, i);
    /* A wait that ends early (a new advertiser) needs no wake-up. */
    p2p__timers_cancel(dl->env->timers, &d->timer);
    switch (dl->env->bouncer(dl->env->bouncer_ctx, &d->id, d->kind, d->size)) {
    case P2P_WANTS:
        attempt(dl, now, i);
        break;
    case P2P_MAYBE_WANTS_LATER:
        d->state = DL_WAIT_BOUNCER;
        break;
    case P2P_UNWANTED:
        drop(dl, i, DROP_UNWANTED);
        break;
    }
}

/* Adds one reference from peer; *is_new tells whether the peer was not an
 * advertiser before. */
static int add_advertiser(struct p2p_downloader *dl, struct p2p_download *d,
                          p2p_node_id peer, bool *is_new)
{
    *is_new = false;
    for (uint32_t k = 0; k < d->advs_count; k++) {
        if (d->advs[k].peer == peer) {
            d->advs[k].refs++;
            return 0;
        }
    }
    *is_new = true;
    dl->peers[peer].advertising++;
    if (d->advs_count == d->advs_capacity) {
        uint32_t capacity = d->advs_capacity ? d->advs_capacity * 2 : 4;
        struct p2p_advertiser *advs =
            p2p_mem_realloc(dl->env->mem, P2P_MEM_DOWNLOADER, d->advs,
                            capacity * sizeof(*advs));
        if (advs == NULL)
            return P2P_ERR_NOMEM;
        d->advs = advs;
        d->advs_capacity = capacity;
    }
    d->advs[d->advs_count++] = (struct p2p_advertiser){peer, 1, false};
    return 0;
}

static int create(struct p2p_downloader *dl, p2p_time now,
                  const struct p2p_artifact_id *id, enum p2p_artifact_kind kind,
                  uint64_t size, uint32_t *index)
{
    int rc = p2p__table_take(&dl->downloads, dl->env->mem, index);
    if (rc != 0)
        return rc;
    struct p2p_key key;
    p2p__table_id_key(id, &key);
    rc = p2p_keymap_put(&dl->by_id, &key, *index);
    if (rc != 0) {
        p2p__table_give(&dl->downloads, *index);
        return rc;
    }
    struct p2p_download *d = dl_at(dl, *index);
    d->used = true;
    d->id = *id;
    d->kind = kind;
    d->size = size;
    d->state = DL_READY;
    d->stream = P2P_INDEX_NONE;
    d->fetching_from = P2P_NODE_NONE;
    d->created_ns = now;
    schedule_refresh(dl, now);
    return 0;
}

/* peer advertises id: a new download, or one more advertiser. */
static int advertise(struct p2p_downloader *dl, p2p_time now, p2p_node_id peer,
                     const struct p2p_artifact_id *id,
                     enum p2p_artifact_kind kind, uint64_t size)
{
    uint32_t i;
    bool created = false;
    if (!find(dl, id, &i)) {
        /* No peer may fill the table with its adverts alone. */
        if (dl->peers[peer].advertising >=
                dl->env->cfg->downloads_per_peer_max ||
            create(dl, now, id, kind, size, &i) != 0) {
            dl->env->metrics->downloads_refused++;
            schedule_refresh(dl, now);
            return P2P_ERR_LIMIT;
        }
        created = true;
    }
    /* Plan for the largest size any advertiser claims (bounded): a peer
     * claiming less cannot shrink honest answers' room or deadline. */
    struct p2p_download *grown = dl_at(dl, i);
    if (size > grown->size)
        grown->size =
            size < P2P_ARTIFACT_BYTES_MAX ? size : P2P_ARTIFACT_BYTES_MAX;
    bool is_new;
    if (add_advertiser(dl, dl_at(dl, i), peer, &is_new) != 0) {
        if (created)
            release(dl, i);
        schedule_refresh(dl, now);
        return P2P_ERR_LIMIT;
    }
    /* A new download, or a peer we have not tried yet for one that waits
     * for a free advertiser (not a round's backoff): try now. A peer that
     * re-advertises cannot cut a backoff short, so none is hammered. */
    struct p2p_download *d = dl_at(dl, i);
    if (created || (is_new && d->state == DL_BACKOFF && !d->round_backoff))
        consult(dl, now, i);
    return 0;
}

int p2p__downloader_advertised(struct p2p_downloader *dl, p2p_time now,
                               p2p_node_id peer, uint32_t slot,
                               const struct p2p_artifact_id *id,
                               enum p2p_artifact_kind kind, uint64_t size)
{
    P2P_ASSERT(peer < dl->peers_capacity);
    struct p2p_dl_peer *p = &dl->peers[peer];
    if (p2p__table_array_fit(dl->env->mem, P2P_MEM_RECEIVER,
                             (void **)&p->adverts, &p->adverts_capacity,
                             sizeof(*p->adverts), slot,
                             dl->env->cfg->slots_per_peer_max) != 0)
        return P2P_ERR_LIMIT; /* no room to remember it: a later advert */
    struct p2p_dl_advert *v = &p->adverts[slot];
    v->offered = true;
    v->id = *id;
    v->kind = kind;
    v->size = size;
    int rc = advertise(dl, now, peer, id, kind, size);
    set_pending(dl, &p->adverts[slot], rc != 0);
    return rc;
}

/* Offers every advert on the retry list again, in (peer, slot) order. */
static void retry_pending(struct p2p_downloader *dl, p2p_time now)
{
    for (p2p_node_id peer = 0; peer < dl->peers_capacity; peer++) {
        struct p2p_dl_peer *p = &dl->peers[peer];
        for (uint32_t s = 0; s < p->adverts_capacity && dl->pending; s++) {
            struct p2p_dl_advert *v = &p->adverts[s];
            if (!v->pending)
                continue;
            if (p2p_pool_get(dl->env->pool, &v->id) != NULL) {
                set_pending(dl, v, false);
                continue;
            }
            struct p2p_artifact_id id = v->id;
            int rc = advertise(dl, now, peer, &id, v->kind, v->size);
            /* The list may have grown: look the record up again. */
            set_pending(dl, &dl->peers[peer].adverts[s], rc != 0);
        }
    }
}

void p2p__downloader_unadvertised(struct p2p_downloader *dl, p2p_time now,
                                  p2p_node_id peer,
                                  const struct p2p_artifact_id *id)
{
    uint32_t i;
    if (!find(dl, id, &i))
        return;
    struct p2p_download *d = dl_at(dl, i);
    bool withdrawn = false;
    for (uint32_t k = 0; k < d->advs_count; k++) {
        if (d->advs[k].peer != peer)
            continue;
        if (--d->advs[k].refs == 0) {
            dl->peers[peer].advertising--;
            memmove(&d->advs[k], &d->advs[k + 1],
                    (d->advs_count - k - 1) * sizeof(d->advs[0]));
            d->advs_count--;
            withdrawn = true;
        }
        break;
    }
    /* No peer offers it any more: abort without inserting (as the IC's
     * receiver does). */
    if (d->advs_count == 0) {
        drop(dl, i, DROP_NO_ADVERTISER);
        return;
    }
    /* The peer being fetched from withdrew its advert (it deleted or
     * reused the slot: it purged the artifact): its answer would be a
     * 204, so ask another advertiser now, with no penalty. */
    if (withdrawn && d->state == DL_FETCHING && d->fetching_from == peer) {
        abandon_fetch(dl, i);
        consult(dl, now, i);
    }
}

void p2p__downloader_done(struct p2p_downloader *dl,
                          const struct p2p_artifact_id *id)
{
    uint32_t i;
    if (find(dl, id, &i))
        release(dl, i);
}

static void mark_failed(struct p2p_download *d, p2p_node_id peer)
{
    for (uint32_t k = 0; k < d->advs_count; k++)
        if (d->advs[k].peer == peer)
            d->advs[k].failed = true;
}

/* A fetched artifact that matches its id (borrowed for the call): into
 * the pool, which ends the download, unless the bouncer turned against it
 * since the last refresh (an Unwanted artifact never reaches the pool). */
/* A fetched artifact, decoded in place: its body is the frame's shared
 * tail (not copied; hashed at most once in its life) or a view into the
 * frame. */
struct fetched {
    struct p2p_artifact_view v;
    struct p2p_body *shared;
};

static void keep(struct p2p_downloader *dl, p2p_time now, uint32_t i,
                 p2p_node_id peer, const struct fetched *art)
{
    const struct p2p_download *d = dl_at(dl, i);
    struct p2p_artifact_id id = d->id;
    if (dl->env->bouncer(dl->env->bouncer_ctx, &id, art->v.kind,
                         art->v.body.len) == P2P_UNWANTED) {
        drop(dl, i, DROP_UNWANTED);
        return;
    }
    p2p_time created = d->created_ns;
    struct p2p_intake in = {.peer = peer,
                            .id = &id,
                            .kind = art->v.kind,
                            .shared = art->shared,
                            .body = art->shared != NULL ? art->shared->bytes
                                                        : art->v.body.data,
                            .len = art->v.body.len,
                            .height = art->v.height};
    if (p2p__intake_accept(dl->env, now, &in) == 0) {
        p2p__downloader_done(dl, &id); /* the download has ended */
        p2p_histogram_observe(&dl->env->hists[P2P_HIST_DOWNLOAD],
                              P2P_HIST_DOWNLOAD,
                              now > created ? now - created : 0);
    } else if (find(dl, &id, &i)) {
        drop(dl, i, DROP_POOL_REFUSED);
    }
}

/* Decodes an artifact in place: a tail is its body, kept shared. Bytes of
 * any other shape are decoded whole from a copy in *flat (the caller
 * frees it). */
static int decode_fetched(struct p2p_downloader *dl, const struct p2p_frame *f,
                          struct fetched *art, uint8_t **flat)
{
    *flat = NULL;
    art->shared = NULL;
    if (f->tail == NULL)
        return p2p_wire_view_artifact(f->body, f->body_len, &art->v);
    if (p2p_wire_view_artifact_tail(f->body, f->body_len, f->tail->len,
                                    &art->v) == 0) {
        art->shared = f->tail;
        return 0;
    }
    size_t len;
    int rc = p2p_frame_flatten(dl->env->mem, f, flat, &len);
    return rc != 0 ? rc : p2p_wire_view_artifact(*flat, len, &art->v);
}

/* Whether the fetched body hashes to the id asked for. */
static bool matches(const struct fetched *art, const struct p2p_artifact_id *id)
{
    if (art->shared != NULL)
        return p2p_body_matches(art->shared, id);
    struct p2p_artifact_id got;
    p2p_id_of(art->v.body.data, art->v.body.len, &got);
    return p2p_id_eq(&got, id);
}

/* Decodes a 200 response and checks the body against the id; on success
 * the artifact goes to the pool, which ends the download. */
static int take_artifact(struct p2p_downloader *dl, p2p_time now, uint32_t i,
                         p2p_node_id peer, const struct p2p_frame *f)
{
    struct p2p_download *d = dl_at(dl, i);
    struct fetched art;
    uint8_t *flat;
    int rc = decode_fetched(dl, f, &art, &flat);
    if (rc == P2P_ERR_NOMEM) {
        /* Our own lack of memory: the attempt failed, the peer did not. */
        dl->env->metrics->requests_refused_nomem++;
        return P2P_ERR_NOMEM;
    }
    if (rc != 0 || art.v.kind >= P2P_KINDS_COUNT) {
        p2p_mem_free(dl->env->mem, P2P_MEM_WIRE, flat);
        p2p__ledger_penalise(dl->env->ledger, now, peer, P2P_PENALTY_BAD_FRAME);
        return P2P_ERR_DECODE;
    }
    if (!matches(&art, &d->id)) {
        p2p_mem_free(dl->env->mem, P2P_MEM_WIRE, flat);
        dl->env->metrics->id_mismatches++;
        p2p__ledger_penalise(dl->env->ledger, now, peer,
                             P2P_PENALTY_WRONG_BYTES);
        p2p_outbox_event(dl->env->outbox, P2P_EV_ID_MISMATCH, peer, &d->id, 0);
        return P2P_ERR_ID_MISMATCH;
    }
    dl->env->metrics->fetches_succeeded++;
    keep(dl, now, i, peer, &art);
    p2p_mem_free(dl->env->mem, P2P_MEM_WIRE, flat);
    return 0;
}

void p2p__downloader_on_response(struct p2p_downloader *dl, p2p_time now,
                                 uint32_t i, uint32_t gen, int err,
                                 const struct p2p_frame *f)
{
    if (i >= dl->downloads.capacity)
        return;
    struct p2p_download *d = dl_at(dl, i);
    if (!d->used || d->gen != gen || d->state != DL_FETCHING)
        return;
    p2p_node_id peer = d->fetching_from;
    dl->peers[peer].fetches_inflight--;
    dl->peers[peer].fetch_bytes_inflight -= d->fetch_bytes;
    d->state = DL_READY;
    d->stream = P2P_INDEX_NONE;
    d->fetching_from = P2P_NODE_NONE;
    if (err == 0 && f->status == P2P_STATUS_OK) {
        err = take_artifact(dl, now, i, peer, f);
        if (err == 0)
            return;
    } else if (err == 0) {
        err = P2P_ERR_NOT_FOUND; /* 204: the peer no longer holds it */
        /* Honest only in a race with a purge; an advert flood does it
         * all the time. */
        p2p__ledger_penalise(dl->env->ledger, now, peer,
                             P2P_PENALTY_NOT_SERVED);
    }
    dl->env->metrics->fetches_failed++;
    p2p_outbox_event(dl->env->outbox, P2P_EV_DOWNLOAD_FAIL, peer, &d->id, err);
    mark_failed(d, peer);
    consult(dl, now, i);
}

/* Whether the download has an advertiser other than the one it is
 * fetching from that has not failed this round. */
static bool has_alternative(const struct p2p_download *d)
{
    for (uint32_t k = 0; k < d->advs_count; k++)
        if (!d->advs[k].failed && d->advs[k].peer != d->fetching_from)
            return true;
    return false;
}

/* A fetch's deadline passed. A peer that is alive (it has answered some
 * request we made after this fetch: a busy peer still answers the small
 * ones) is busy, not broken: its uplink serves the large answers one at a
 * time, and ours waits behind the others'. With no other advertiser,
 * giving up would only queue the request again at the back of the same
 * peer: the fetch waits on, one fetch timeout at a time, at most
 * P2P_FETCH_EXTENSIONS_MAX times. With others, it waits one more timeout
 * before moving: every requester behind the busy peer sees the same other
 * advertisers at the same moment (those that got the artifact first), and
 * moving at once would pile them all onto those (measured: a 7-node
 * 10 Mbit subnet, 8 MiB adverts, scenarios/thin-links.yaml). A silent
 * peer's fetch fails at once and goes elsewhere. */
p2p_time p2p__downloader_more_time(struct p2p_downloader *dl, p2p_time now,
                                   uint32_t i, uint32_t gen, p2p_time opened_ns,
                                   p2p_time answered_ns)
{
    (void)now;
    if (i >= dl->downloads.capacity)
        return 0;
    struct p2p_download *d = dl_at(dl, i);
    if (!d->used || d->gen != gen || d->state != DL_FETCHING ||
        d->extensions >= (has_alternative(d) ? 1u : P2P_FETCH_EXTENSIONS_MAX))
        return 0;
    p2p_node_id peer = d->fetching_from;
    if (answered_ns <= opened_ns)
        return 0;
    d->extensions++;
    /* This fetch's own bytes are in fetch_bytes_inflight already. */
    dl->peers[peer].fetch_bytes_inflight -= d->fetch_bytes;
    p2p_time more = fetch_timeout(dl, d, peer);
    dl->peers[peer].fetch_bytes_inflight += d->fetch_bytes;
    p2p_outbox_event(dl->env->outbox, P2P_EV_DOWNLOAD_WAIT, peer, &d->id,
                     (int64_t)more);
    return more;
}

void p2p__downloader_on_timer(struct p2p_downloader *dl, p2p_time now,
                              uint32_t i, uint32_t gen)
{
    if (i >= dl->downloads.capacity)
        return;
    struct p2p_download *d = dl_at(dl, i);
    if (!d->used || d->gen != gen || d->state != DL_BACKOFF ||
        now < d->backoff_until)
        return;
    d->state = DL_READY;
    consult(dl, now, i);
}

static void refresh_all(struct p2p_downloader *dl, p2p_time now)
{
    for (uint32_t i = 0; i < dl->downloads.capacity; i++) {
        struct p2p_download *d = dl_at(dl, i);
        if (!d->used)
            continue;
        if (d->state == DL_WAIT_BOUNCER) {
            consult(dl, now, i);
        } else if (dl->env->bouncer(dl->env->bouncer_ctx, &d->id, d->kind,
                                    d->size) == P2P_UNWANTED) {
            drop(dl, i, DROP_UNWANTED); /* cancels a fetch in flight */
        }
    }
}

void p2p__downloader_refresh(struct p2p_downloader *dl, p2p_time now)
{
    refresh_all(dl, now);
}

void p2p__downloader_on_refresh_timer(struct p2p_downloader *dl, p2p_time now)
{
    dl->refresh_scheduled = false;
    if (!P2P_BUGGIFY_AT(dl->env->bug, P2P_BUGGIFY_SKIP_REFRESH)) {
        refresh_all(dl, now);
        if (dl->pending > 0)
            retry_pending(dl, now);
    }
    if (dl->downloads.count > 0 || dl->pending > 0)
        schedule_refresh(dl, now);
}

int p2p__downloader_check(const struct p2p_downloader *dl)
{
    uint32_t used = 0;
    for (uint32_t i = 0; i < dl->downloads.capacity; i++) {
        const struct p2p_download *d = dl_at(dl, i);
        if (!d->used)
            continue;
        used++;
        if (d->advs_count == 0)
            return P2P_ERR_INTERNAL;
        if ((d->state == DL_FETCHING) != (d->stream != P2P_INDEX_NONE))
            return P2P_ERR_INTERNAL;
        /* Nothing is downloaded that the pool already holds. */
        if (p2p_pool_get(dl->env->pool, &d->id) != NULL)
            return P2P_ERR_INTERNAL;
    }
    if (used != dl->downloads.count || dl->by_id.count != used)
        return P2P_ERR_INTERNAL;
    uint32_t pending = 0;
    for (uint32_t p = 0; p < dl->peers_capacity; p++)
        for (uint32_t s = 0; s < dl->peers[p].adverts_capacity; s++) {
            const struct p2p_dl_advert *v = &dl->peers[p].adverts[s];
            if (v->pending && !v->offered)
                return P2P_ERR_INTERNAL;
            pending += v->pending;
        }
    return pending == dl->pending ? 0 : P2P_ERR_INTERNAL;
}

bool p2p__downloader_timer_live(const struct p2p_downloader *dl, uint32_t i,
                                uint32_t gen, p2p_time deadline)
{
    if (i >= dl->downloads.capacity)
        return false;
    const struct p2p_download *d = dl_at(dl, i);
    return d->used && d->gen == gen && d->state == DL_BACKOFF &&
           d->backoff_until == deadline;
}
