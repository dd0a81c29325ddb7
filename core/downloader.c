/* The artifact downloader: one download per advertised id that is not in
 * the pool, fetched from one advertiser at a time (least loaded first, ties
 * broken by the node's PRNG), verified against its id, retried on another
 * advertiser, and backed off once every advertiser failed in a round. The
 * bouncer is asked before every attempt and on every refresh
 * (IC-REFERENCE 12.5, 12.6). */
#include <string.h>

#include "p2p.pb-c.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/metrics_registry.h"
#include "core/node.h"
#include "core/wire.h"
#include "core/wire_pack.h"

/* How long a download waits when every untried advertiser is at its
 * concurrency limit, before looking again: latency-sensitive (push kind)
 * artifacts look again sooner. */
#define DOWNLOAD_BUSY_RETRY_NS (100 * P2P_NS_PER_MS)
#define DOWNLOAD_BUSY_RETRY_PUSH_NS (10 * P2P_NS_PER_MS)

/* Response and Artifact envelopes around a body: tags, lengths, status,
 * kind (and an optional id), with room to spare. */
#define P2P_FETCH_ENVELOPE_BYTES 128u

enum drop_reason { DROP_UNWANTED = 1, DROP_NO_ADVERTISER = 2,
                   DROP_POOL_REFUSED = 3, DROP_NO_TIMER = 4 };

static struct p2p_download *dl_at(const struct p2p_node *n, uint32_t i)
{
    return p2p__table_at(&n->downloads, i);
}

static bool find(const struct p2p_node *n, const struct p2p_artifact_id *id,
                 uint32_t *index)
{
    struct p2p_key key;
    p2p__table_id_key(id, &key);
    return p2p_keymap_get(&n->download_by_id, &key, index);
}

static void schedule_refresh(struct p2p_node *n, p2p_time now)
{
    if (n->refresh_scheduled)
        return;
    /* Without a timer, the next download created tries again. */
    n->refresh_scheduled = p2p__timer(n, now + n->cfg.bouncer_refresh_ns,
                                      TIMER_BOUNCER_REFRESH, 0, 0) == 0;
}

/* Frees the record; aborts a fetch in flight. */
static void release(struct p2p_node *n, uint32_t i)
{
    struct p2p_download *d = dl_at(n, i);
    if (d->state == DL_FETCHING) {
        p2p__stream_abort(n, d->stream);
        n->peers[d->fetching_from].fetches_inflight--;
        n->peers[d->fetching_from].fetch_bytes_inflight -= d->fetch_bytes;
    }
    for (uint32_t k = 0; k < d->advs_count; k++)
        n->peers[d->advs[k].peer].advertising--;
    struct p2p_key key;
    p2p__table_id_key(&d->id, &key);
    int rc = p2p_keymap_del(&n->download_by_id, &key);
    P2P_ASSERT(rc == 0);
    p2p_mem_free(n->mem, P2P_MEM_DOWNLOADER, d->advs);
    d->advs = NULL;
    d->advs_count = d->advs_capacity = 0;
    d->used = false;
    p2p__table_give(&n->downloads, i);
}

static void drop(struct p2p_node *n, uint32_t i, enum drop_reason reason)
{
    n->metrics.downloads_dropped++;
    p2p_outbox_event(&n->outbox, P2P_EV_DOWNLOAD_DROP, P2P_NODE_NONE,
                     &dl_at(n, i)->id, reason);
    /* Ended for lack of room while still advertised: offer it again
     * later (IC-REFERENCE 12.4 #7). */
    if (reason == DROP_POOL_REFUSED || reason == DROP_NO_TIMER) {
        struct p2p_download *d = dl_at(n, i);
        for (uint32_t k = 0; k < d->advs_count; k++)
            p2p__receiver_mark_pending(n, 0, d->advs[k].peer, &d->id);
    }
    release(n, i);
}

/* The priority order: latency-sensitive (push kind) artifacts may use
 * every fetch slot of a peer; the others leave a quarter of them free, so a
 * backlog of bulk downloads never delays a push-kind one behind it. (What
 * the bouncer answers MaybeWantsLater is not fetched at all until it
 * turns to Wants.) */
static uint32_t fetch_slots(const struct p2p_node *n,
                            const struct p2p_download *d)
{
    uint32_t all = n->cfg.fetches_per_peer_max;
    if (d->kind == P2P_KIND_PUSH || all < 4)
        return all;
    return all - all / 4;
}

static p2p_time busy_retry(const struct p2p_download *d)
{
    return d->kind == P2P_KIND_PUSH ? DOWNLOAD_BUSY_RETRY_PUSH_NS
                                    : DOWNLOAD_BUSY_RETRY_NS;
}

/* The advertiser to try next: untried this round and under its per-peer
 * limit for the download's priority, fewest fetches in flight first.
 * *busy is set when some untried advertiser exists but all are at their
 * limit. */
static int pick(struct p2p_node *n, const struct p2p_download *d, bool *busy)
{
    uint32_t best_load = UINT32_MAX, ties = 0;
    uint32_t slots = fetch_slots(n, d);
    /* Buggified: any eligible advertiser, uniformly, not the least loaded. */
    bool any = P2P_BUGGIFY_AT(n, P2P_BUGGIFY_ANY_ADVERTISER);
    int best = -1;
    *busy = false;
    for (uint32_t k = 0; k < d->advs_count; k++) {
        const struct p2p_advertiser *a = &d->advs[k];
        if (a->failed)
            continue;
        const struct p2p_peer *pp = &n->peers[a->peer];
        uint32_t load = pp->fetches_inflight;
        if (load >= slots ||
            (load > 0 && pp->fetch_bytes_inflight + d->size >
                             n->cfg.fetch_bytes_per_peer_max)) {
            *busy = true;
            continue;
        }
        if (load < best_load && !any) {
            best_load = load;
            best = (int)k;
            ties = 1;
        } else if ((load == best_load || any) &&
                   p2p_rng_below(&n->rng, ++ties) == 0) {
            best = (int)k; /* reservoir choice among equals */
        }
    }
    return best;
}

static void drop(struct p2p_node *n, uint32_t i, enum drop_reason reason);

/* Parks the download until now + delay; without a timer it is dropped (a
 * later advert starts it again). */
static void wait_until(struct p2p_node *n, p2p_time now, uint32_t i,
                       p2p_time delay, bool round_backoff)
{
    struct p2p_download *d = dl_at(n, i);
    d->state = DL_BACKOFF;
    d->round_backoff = round_backoff;
    d->backoff_until = now + delay;
    if (p2p__timer(n, d->backoff_until, TIMER_DOWNLOAD, i, d->gen) != 0)
        drop(n, i, DROP_NO_TIMER);
}

/* Times a fetch's deadline may move while its peer is busy but alive and
 * no other advertiser can be asked instead. */
#define FETCH_EXTENSIONS_MAX 4u

/* The attempt deadline: the IC's growing base, plus transfer time at the
 * configured minimum rate for every byte this node has asked the peer for
 * and not yet received (the fetches already in flight to it, which it
 * serves first, and this one's advertised size). */
static p2p_time fetch_timeout(const struct p2p_node *n,
                              const struct p2p_download *d, p2p_node_id peer)
{
    p2p_time t = p2p_backoff_base(&n->cfg.fetch_backoff, d->round);
    uint64_t rate = n->cfg.fetch_bytes_per_s_min;
    /* Bounded: at most fetch_bytes_per_peer_max ahead (plus one artifact),
     * and each artifact is capped, so the product cannot overflow. */
    uint64_t queued = n->peers[peer].fetch_bytes_inflight;
    uint64_t cap = 4ull * P2P_FRAME_MESSAGE_BYTES_MAX;
    uint64_t size = d->size < P2P_FRAME_MESSAGE_BYTES_MAX
                        ? d->size : P2P_FRAME_MESSAGE_BYTES_MAX;
    uint64_t bytes = (queued < cap ? queued : cap) + size;
    if (rate > 0)
        t += bytes * P2P_NS_PER_S / rate;
    return t;
}

static int send_fetch(struct p2p_node *n, p2p_time now, uint32_t i,
                      p2p_node_id peer)
{
    struct p2p_download *d = dl_at(n, i);
    P2p__V1__FetchRequest req = P2P__V1__FETCH_REQUEST__INIT;
    req.id.data = d->id.b;
    req.id.len = P2P_ID_BYTES;
    uint8_t *body;
    size_t len;
    int rc = p2p_wire_pack(n->mem, P2P_MEM_WIRE, &req.base, &body, &len);
    if (rc != 0)
        return rc;
    uint32_t stream;
    /* The answer is the advertised artifact: a peer cannot make us buffer
     * more than its size (plus envelopes) whatever the route allows. */
    struct p2p_stream_req r = {
        .peer = peer, .route = P2P_ROUTE_ARTIFACT_RPC,
        .traffic = P2P_TRAFFIC_FETCH, .body = body, .len = len,
        .owner = OWNER_DOWNLOADER, .owner_index = i, .owner_gen = d->gen,
        .timeout_ns = fetch_timeout(n, d, peer),
        .response_bytes_max = d->size + P2P_FETCH_ENVELOPE_BYTES};
    rc = p2p__stream_request(n, now, &r, &stream);
    p2p_mem_free(n->mem, P2P_MEM_WIRE, body);
    if (rc != 0)
        return rc;
    d = dl_at(n, i);
    d->state = DL_FETCHING;
    d->extensions = 0;
    d->stream = stream;
    d->fetching_from = peer;
    n->peers[peer].fetches_inflight++;
    d->fetch_bytes = d->size; /* the size may grow while it runs */
    n->peers[peer].fetch_bytes_inflight += d->fetch_bytes;
    n->metrics.fetches_started++;
    p2p_outbox_event(&n->outbox, P2P_EV_DOWNLOAD_START, peer, &d->id, d->round);
    return 0;
}

/* Starts a fetch from the best advertiser, or waits. */
static void attempt(struct p2p_node *n, p2p_time now, uint32_t i)
{
    struct p2p_download *d = dl_at(n, i);
    bool busy;
    int k = pick(n, d, &busy);
    if (k >= 0) {
        if (send_fetch(n, now, i, d->advs[k].peer) != 0)
            wait_until(n, now, i, busy_retry(d), false);
        return;
    }
    if (busy) {
        wait_until(n, now, i, busy_retry(d), false);
        return;
    }
    /* Every advertiser failed this round: back off, then start over. */
    p2p_time delay = p2p_backoff_delay(&n->cfg.fetch_backoff, d->round, &n->rng);
    d->round++;
    for (uint32_t a = 0; a < d->advs_count; a++)
        d->advs[a].failed = false;
    p2p_outbox_event(&n->outbox, P2P_EV_DOWNLOAD_BACKOFF, P2P_NODE_NONE, &d->id,
                     (int64_t)delay);
    wait_until(n, now, i, delay, true);
}

/* Asks the bouncer, then fetches, parks or drops. */
static void consult(struct p2p_node *n, p2p_time now, uint32_t i)
{
    struct p2p_download *d = dl_at(n, i);
    switch (n->bouncer(n->bouncer_ctx, &d->id, d->kind, d->size)) {
    case P2P_WANTS:
        attempt(n, now, i);
        break;
    case P2P_MAYBE_WANTS_LATER:
        d->state = DL_WAIT_BOUNCER;
        break;
    case P2P_UNWANTED:
        drop(n, i, DROP_UNWANTED);
        break;
    }
}

/* Adds one reference from peer; *is_new tells whether the peer was not an
 * advertiser before. */
static int add_advertiser(struct p2p_node *n, struct p2p_download *d,
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
    n->peers[peer].advertising++;
    if (d->advs_count == d->advs_capacity) {
        uint32_t capacity = d->advs_capacity ? d->advs_capacity * 2 : 4;
        struct p2p_advertiser *advs = p2p_mem_realloc(
            n->mem, P2P_MEM_DOWNLOADER, d->advs, capacity * sizeof(*advs));
        if (advs == NULL)
            return P2P_ERR_NOMEM;
        d->advs = advs;
        d->advs_capacity = capacity;
    }
    d->advs[d->advs_count++] = (struct p2p_advertiser){peer, 1, false};
    return 0;
}

static int create(struct p2p_node *n, p2p_time now,
                  const struct p2p_artifact_id *id,
                  enum p2p_artifact_kind kind, uint64_t size, uint32_t *index)
{
    int rc = p2p__table_take(&n->downloads, n->mem, index);
    if (rc != 0)
        return rc;
    struct p2p_key key;
    p2p__table_id_key(id, &key);
    rc = p2p_keymap_put(&n->download_by_id, &key, *index);
    if (rc != 0) {
        p2p__table_give(&n->downloads, *index);
        return rc;
    }
    struct p2p_download *d = dl_at(n, *index);
    d->used = true;
    d->id = *id;
    d->kind = kind;
    d->size = size;
    d->state = DL_READY;
    d->stream = P2P_INDEX_NONE;
    d->fetching_from = P2P_NODE_NONE;
    d->created_ns = now;
    schedule_refresh(n, now);
    return 0;
}

int p2p__downloader_advertised(struct p2p_node *n, p2p_time now,
                               p2p_node_id peer,
                               const struct p2p_artifact_id *id,
                               enum p2p_artifact_kind kind, uint64_t size)
{
    uint32_t i;
    bool created = false;
    if (!find(n, id, &i)) {
        /* No peer may fill the table with its adverts alone. */
        if (n->peers[peer].advertising >= n->cfg.downloads_per_peer_max ||
            create(n, now, id, kind, size, &i) != 0) {
            n->metrics.downloads_refused++;
            schedule_refresh(n, now);
            return P2P_ERR_LIMIT;
        }
        created = true;
    }
    /* Plan for the largest size any advertiser claims (bounded): a peer
     * claiming less cannot shrink honest answers' room or deadline. */
    struct p2p_download *dl = dl_at(n, i);
    if (size > dl->size)
        dl->size = size < P2P_ARTIFACT_BYTES_MAX ? size : P2P_ARTIFACT_BYTES_MAX;
    bool is_new;
    if (add_advertiser(n, dl_at(n, i), peer, &is_new) != 0) {
        if (created)
            release(n, i);
        schedule_refresh(n, now);
        return P2P_ERR_LIMIT;
    }
    /* A new download, or a peer we have not tried yet for one that waits
     * for a free advertiser (not a round's backoff): try now. A peer that
     * re-advertises cannot cut a backoff short, so none is hammered. */
    struct p2p_download *d = dl_at(n, i);
    if (created || (is_new && d->state == DL_BACKOFF && !d->round_backoff))
        consult(n, now, i);
    return 0;
}

void p2p__downloader_unadvertised(struct p2p_node *n, p2p_time now,
                                  p2p_node_id peer,
                                  const struct p2p_artifact_id *id)
{
    (void)now;
    uint32_t i;
    if (!find(n, id, &i))
        return;
    struct p2p_download *d = dl_at(n, i);
    for (uint32_t k = 0; k < d->advs_count; k++) {
        if (d->advs[k].peer != peer)
            continue;
        if (--d->advs[k].refs == 0) {
            n->peers[peer].advertising--;
            memmove(&d->advs[k], &d->advs[k + 1],
                    (d->advs_count - k - 1) * sizeof(d->advs[0]));
            d->advs_count--;
        }
        break;
    }
    /* No peer offers it any more: abort without inserting (IC 12.4 #5). */
    if (d->advs_count == 0)
        drop(n, i, DROP_NO_ADVERTISER);
}

void p2p__downloader_done(struct p2p_node *n, const struct p2p_artifact_id *id)
{
    uint32_t i;
    if (find(n, id, &i))
        release(n, i);
}

static void mark_failed(struct p2p_download *d, p2p_node_id peer)
{
    for (uint32_t k = 0; k < d->advs_count; k++)
        if (d->advs[k].peer == peer)
            d->advs[k].failed = true;
}

/* Decodes a 200 response and checks the body against the id; on success
 * the artifact goes to the pool, which ends the download. */
static int take_artifact(struct p2p_node *n, p2p_time now, uint32_t i,
                         p2p_node_id peer, const struct p2p_frame *f)
{
    struct p2p_download *d = dl_at(n, i);
    struct p2p_wire_unpacker ua;
    p2p_wire_unpacker_init(&ua, n->mem);
    ProtobufCAllocator alloc = ua.base; /* a copy: its data is still &ua */
    P2p__V1__Artifact *art =
        p2p__v1__artifact__unpack(&alloc, f->body_len, f->body);
    if (art == NULL && ua.refused) {
        /* Our own lack of memory: the attempt failed, the peer did not. */
        n->metrics.requests_refused_nomem++;
        return P2P_ERR_NOMEM;
    }
    if (art == NULL || art->kind >= P2P_KINDS_COUNT) {
        if (art != NULL)
            p2p__v1__artifact__free_unpacked(art, &alloc);
        p2p__penalise(n, now, peer, P2P_PENALTY_BAD_FRAME);
        return P2P_ERR_DECODE;
    }
    struct p2p_artifact_id got;
    p2p_id_of(art->body.data, art->body.len, &got);
    if (!p2p_id_eq(&got, &d->id)) {
        p2p__v1__artifact__free_unpacked(art, &alloc);
        n->metrics.id_mismatches++;
        p2p__penalise(n, now, peer, P2P_PENALTY_WRONG_BYTES);
        p2p_outbox_event(&n->outbox, P2P_EV_ID_MISMATCH, peer, &d->id, 0);
        return P2P_ERR_ID_MISMATCH;
    }
    n->metrics.fetches_succeeded++;
    struct p2p_artifact_id id = d->id;
    /* The bouncer may have turned since the last refresh: an Unwanted
     * artifact never reaches the pool. */
    if (n->bouncer(n->bouncer_ctx, &id, art->kind, art->body.len) ==
        P2P_UNWANTED) {
        p2p__v1__artifact__free_unpacked(art, &alloc);
        drop(n, i, DROP_UNWANTED);
        return 0;
    }
    p2p_time created = d->created_ns;
    int rc = p2p__receiver_accept(n, now, peer, &id, art->kind, art->body.data,
                                  art->body.len);
    p2p__v1__artifact__free_unpacked(art, &alloc);
    if (rc == 0) /* in the unvalidated pool; the download has ended */
        p2p_histogram_observe(&n->hists[P2P_HIST_DOWNLOAD], P2P_HIST_DOWNLOAD,
                              now > created ? now - created : 0);
    else if (find(n, &id, &i))
        drop(n, i, DROP_POOL_REFUSED);
    return 0;
}

void p2p__downloader_on_response(struct p2p_node *n, p2p_time now,
                                 uint32_t dl, uint32_t gen, int err,
                                 const struct p2p_frame *f)
{
    if (dl >= n->downloads.capacity)
        return;
    struct p2p_download *d = dl_at(n, dl);
    if (!d->used || d->gen != gen || d->state != DL_FETCHING)
        return;
    p2p_node_id peer = d->fetching_from;
    n->peers[peer].fetches_inflight--;
    n->peers[peer].fetch_bytes_inflight -= d->fetch_bytes;
    d->state = DL_READY;
    d->stream = P2P_INDEX_NONE;
    d->fetching_from = P2P_NODE_NONE;
    if (err == 0 && f->status == 200) {
        err = take_artifact(n, now, dl, peer, f);
        if (err == 0)
            return;
    } else if (err == 0) {
        err = P2P_ERR_NOT_FOUND; /* 204: the peer no longer holds it */
        /* Honest only in a race with a purge; an advert flood does it
         * all the time. */
        p2p__penalise(n, now, peer, P2P_PENALTY_NOT_SERVED);
    }
    n->metrics.fetches_failed++;
    p2p_outbox_event(&n->outbox, P2P_EV_DOWNLOAD_FAIL, peer, &d->id, err);
    mark_failed(d, peer);
    consult(n, now, dl);
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
 * FETCH_EXTENSIONS_MAX times. With others, it waits one more timeout
 * before moving: every requester behind the busy peer sees the same other
 * advertisers at the same moment (those that got the artifact first), and
 * moving at once would pile them all onto those (measured: a 7-node
 * 10 Mbit subnet, 8 MiB adverts, scenarios/thin-links.yaml). A silent
 * peer's fetch fails at once and goes elsewhere. */
p2p_time p2p__downloader_more_time(struct p2p_node *n, p2p_time now,
                                   uint32_t dl, uint32_t gen,
                                   p2p_time opened_ns)
{
    (void)now;
    if (dl >= n->downloads.capacity)
        return 0;
    struct p2p_download *d = dl_at(n, dl);
    if (!d->used || d->gen != gen || d->state != DL_FETCHING ||
        d->extensions >= (has_alternative(d) ? 1u : FETCH_EXTENSIONS_MAX))
        return 0;
    p2p_node_id peer = d->fetching_from;
    if (n->peers[peer].answered_ns <= opened_ns)
        return 0;
    d->extensions++;
    /* This fetch's own bytes are in fetch_bytes_inflight already. */
    n->peers[peer].fetch_bytes_inflight -= d->fetch_bytes;
    p2p_time more = fetch_timeout(n, d, peer);
    n->peers[peer].fetch_bytes_inflight += d->fetch_bytes;
    p2p_outbox_event(&n->outbox, P2P_EV_DOWNLOAD_WAIT, peer, &d->id,
                     (int64_t)more);
    return more;
}

void p2p__downloader_on_timer(struct p2p_node *n, p2p_time now, uint32_t dl,
                              uint32_t gen)
{
    if (dl >= n->downloads.capacity)
        return;
    struct p2p_download *d = dl_at(n, dl);
    if (!d->used || d->gen != gen || d->state != DL_BACKOFF ||
        now < d->backoff_until)
        return;
    d->state = DL_READY;
    consult(n, now, dl);
}

static void refresh_all(struct p2p_node *n, p2p_time now)
{
    for (uint32_t i = 0; i < n->downloads.capacity; i++) {
        struct p2p_download *d = dl_at(n, i);
        if (!d->used)
            continue;
        if (d->state == DL_WAIT_BOUNCER) {
            consult(n, now, i);
        } else if (n->bouncer(n->bouncer_ctx, &d->id, d->kind, d->size) ==
                   P2P_UNWANTED) {
            drop(n, i, DROP_UNWANTED); /* cancels a fetch in flight */
        }
    }
}

void p2p__downloader_refresh(struct p2p_node *n, p2p_time now)
{
    refresh_all(n, now);
}

void p2p__downloader_on_refresh_timer(struct p2p_node *n, p2p_time now)
{
    n->refresh_scheduled = false;
    if (!P2P_BUGGIFY_AT(n, P2P_BUGGIFY_SKIP_REFRESH)) {
        refresh_all(n, now);
        if (n->views_pending > 0)
            p2p__receiver_retry_pending(n, now);
    }
    if (n->downloads.count > 0 || n->views_pending > 0)
        schedule_refresh(n, now);
}

int p2p__downloader_check(const struct p2p_node *n)
{
    uint32_t used = 0;
    for (uint32_t i = 0; i < n->downloads.capacity; i++) {
        const struct p2p_download *d = dl_at(n, i);
        if (!d->used)
            continue;
        used++;
        if (d->advs_count == 0)
            return P2P_ERR_INTERNAL;
        if ((d->state == DL_FETCHING) != (d->stream != P2P_INDEX_NONE))
            return P2P_ERR_INTERNAL;
        /* Nothing is downloaded that the pool already holds. */
        if (p2p_pool_get(&n->pool, &d->id) != NULL)
            return P2P_ERR_INTERNAL;
    }
    if (used != n->downloads.count || n->download_by_id.count != used)
        return P2P_ERR_INTERNAL;
    return 0;
}
