/* The stream table (core/streams.h): every open RPC stream, inbound (we
 * read a request and answer it) or outbound (we wait for the response to
 * our request). Each has a deadline, so no peer can pin a stream open. */
#include "core/streams.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"

static void stream_key(bool inbound, p2p_node_id peer, uint64_t stream_id,
                       struct p2p_key *key)
{
    memset(key, 0, sizeof(*key));
    key->b[0] = inbound ? 1 : 2;
    memcpy(key->b + 1, &peer, sizeof(peer));
    memcpy(key->b + 8, &stream_id, sizeof(stream_id));
}

static struct p2p_stream *stream_at(const struct p2p_streams *s, uint32_t index)
{
    return p2p__table_at(&s->table, index);
}

/* The O(1) invariants, at the end of every entry point; the walk of
 * p2p__streams_check runs with the node's deep check. */
#define CHECK(s)                                                               \
    P2P_ASSERT((s)->by_key.count + (s)->out_ring_count == (s)->table.count &&  \
               (s)->table.count <= (s)->table.max)

void p2p__streams_init(struct p2p_streams *s, const struct p2p_env *env,
                       uint64_t key_seed)
{
    memset(s, 0, sizeof(*s));
    s->env = env;
    p2p__table_init(&s->table, sizeof(struct p2p_stream),
                    offsetof(struct p2p_stream, next_free),
                    offsetof(struct p2p_stream, gen), env->cfg->streams_max,
                    P2P_MEM_STREAMS);
    p2p_keymap_init(&s->by_key, env->mem, P2P_MEM_STREAMS,
                    env->cfg->streams_max, key_seed);
    s->next_stream_id = 1;
}

void p2p__streams_fini(struct p2p_streams *s)
{
    for (uint32_t i = 0; i < s->table.capacity; i++) {
        struct p2p_stream *st = stream_at(s, i);
        if (st->used)
            p2p_frame_reader_fini(&st->reader);
    }
    p2p__table_fini(&s->table, s->env->mem);
    p2p_keymap_fini(&s->by_key);
    p2p_mem_free(s->env->mem, P2P_MEM_STREAMS, s->out_ring);
    s->out_ring = NULL;
    s->out_ring_count = 0;
    p2p_mem_free(s->env->mem, P2P_MEM_STREAMS, s->peers);
    s->peers = NULL;
    s->peers_capacity = 0;
}

int p2p__streams_peer_fit(struct p2p_streams *s, p2p_node_id peer)
{
    return p2p__table_array_fit(
        s->env->mem, P2P_MEM_STREAMS, (void **)&s->peers, &s->peers_capacity,
        sizeof(*s->peers), peer, s->env->cfg->node_ids_max);
}

static uint32_t *ring_slot(const struct p2p_streams *s, uint64_t stream_id)
{
    return &s->out_ring[stream_id & (P2P_STREAMS_OUT_RING - 1)];
}

static bool find(const struct p2p_streams *s, bool inbound, p2p_node_id peer,
                 uint64_t stream_id, uint32_t *index)
{
    if (!inbound && s->out_ring != NULL) {
        uint32_t at = *ring_slot(s, stream_id);
        if (at != 0) {
            const struct p2p_stream *st = stream_at(s, at - 1);
            if (st->used && !st->inbound && st->stream_id == stream_id) {
                if (st->peer != peer)
                    return false; /* ids are ours: no other record has it */
                *index = at - 1;
                return true;
            }
        }
    }
    struct p2p_key key;
    stream_key(inbound, peer, stream_id, &key);
    return p2p_keymap_get(&s->by_key, &key, index);
}

static int open_record(struct p2p_streams *s, bool inbound, p2p_node_id peer,
                       uint64_t stream_id, uint32_t *index)
{
    int rc = p2p__table_take(&s->table, s->env->mem, index);
    if (rc != 0)
        return rc;
    if (!inbound && s->out_ring == NULL)
        s->out_ring =
            p2p_mem_alloc(s->env->mem, P2P_MEM_STREAMS,
                          P2P_STREAMS_OUT_RING * sizeof(*s->out_ring));
    if (!inbound && s->out_ring != NULL && *ring_slot(s, stream_id) == 0) {
        *ring_slot(s, stream_id) = *index + 1;
        s->out_ring_count++;
    } else {
        struct p2p_key key;
        stream_key(inbound, peer, stream_id, &key);
        rc = p2p_keymap_put(&s->by_key, &key, *index);
        if (rc != 0) {
            p2p__table_give(&s->table, *index);
            return rc;
        }
    }
    struct p2p_stream *st = stream_at(s, *index);
    st->used = true;
    st->inbound = inbound;
    st->peer = peer;
    st->stream_id = stream_id;
    return 0;
}

/* Forgets the record and hands its reader to the caller, who must fini it. */
static void close_record(struct p2p_streams *s, uint32_t index,
                         struct p2p_frame_reader *reader_out)
{
    struct p2p_stream *st = stream_at(s, index);
    P2P_ASSERT(st->used);
    if (st->inbound && st->peer < s->peers_capacity) {
        struct p2p_stream_peer *p = &s->peers[st->peer];
        P2P_ASSERT(p->streams_in > 0 && p->bytes_in >= st->bytes_in);
        p->streams_in--;
        p->bytes_in -= st->bytes_in;
    }
    if (!st->inbound && s->out_ring != NULL &&
        *ring_slot(s, st->stream_id) == index + 1) {
        *ring_slot(s, st->stream_id) = 0;
        s->out_ring_count--;
    } else {
        struct p2p_key key;
        stream_key(st->inbound, st->peer, st->stream_id, &key);
        int rc = p2p_keymap_del(&s->by_key, &key);
        P2P_ASSERT(rc == 0);
    }
    /* Its deadline cannot matter any more: no wake-up for it. */
    p2p__timers_cancel(s->env->timers, &st->deadline_timer);
    if (reader_out != NULL)
        *reader_out = st->reader;
    else
        p2p_frame_reader_fini(&st->reader);
    st->used = false;
    p2p__table_give(&s->table, index);
}

static void push_reset(struct p2p_streams *s, p2p_node_id peer,
                       uint64_t stream_id, bool inbound)
{
    struct p2p_action a = {.type = P2P_ACT_STREAM_RESET,
                           .peer = peer,
                           .stream_id = stream_id,
                           .inbound = inbound};
    (void)p2p_outbox_push(s->env->outbox, &a); /* best effort: peer times out */
}

/* Fills a fresh outbound record for request r. */
static struct p2p_stream *set_outbound(struct p2p_streams *s, p2p_time now,
                                       const struct p2p_stream_req *r,
                                       uint32_t index)
{
    const struct p2p_env *env = s->env;
    struct p2p_stream *st = stream_at(s, index);
    st->route = r->route;
    st->owner = r->owner;
    st->owner_index = r->owner_index;
    st->owner_gen = r->owner_gen;
    st->opened_ns = now;
    st->deadline_ns = now + r->timeout_ns;
    p2p_frame_reader_init(&st->reader, env->mem, P2P_FRAME_RESPONSE,
                          &env->cfg->routes, r->route);
    /* What this request can honestly be answered with: a longer answer is
     * refused when its length is read, before it is buffered. */
    if (r->response_bytes_max != 0)
        p2p_frame_reader_cap(&st->reader, r->response_bytes_max);
    if (env->body_store != NULL)
        p2p_frame_reader_set_store(&st->reader, env->body_store);
    return st;
}

int p2p__streams_request(struct p2p_streams *s, p2p_time now,
                         const struct p2p_stream_req *r, uint32_t *index_out)
{
    const struct p2p_env *env = s->env;
    uint8_t *frame;
    size_t frame_len;
    struct p2p_frame_request req = {.route = r->route,
                                    .body = r->body,
                                    .body_len = r->len,
                                    .tail_len =
                                        r->tail != NULL ? r->tail->len : 0};
    int rc = p2p_frame_request_encode(env->mem, P2P_MEM_OUTBOX, &req, &frame,
                                      &frame_len);
    if (rc != 0)
        return rc;
    uint64_t stream_id = s->next_stream_id;
    uint32_t index;
    rc = open_record(s, false, r->peer, stream_id, &index);
    if (rc != 0)
        goto fail_free_frame;
    struct p2p_stream *st = set_outbound(s, now, r, index);
    /* If the push below fails, closing the record cancels the deadline. */
    rc =
        p2p__timers_arm(env->timers, st->deadline_ns, P2P_TIMER_STREAM_DEADLINE,
                        index, st->gen, &st->deadline_timer);
    if (rc != 0)
        goto fail_close_record;
    struct p2p_action a = {.type = P2P_ACT_STREAM_OPEN,
                           .peer = r->peer,
                           .stream_id = stream_id,
                           .route = r->route,
                           .traffic = r->traffic,
                           .bytes = frame,
                           .len = frame_len,
                           .body = r->tail};
    rc = p2p_outbox_push(env->outbox, &a);
    if (rc != 0)
        goto fail_close_record;
    s->next_stream_id++;
    *index_out = index;
    CHECK(s);
    return 0;

fail_close_record:
    close_record(s, index, NULL);
fail_free_frame:
    p2p_mem_free(env->mem, P2P_MEM_OUTBOX, frame);
    return rc;
}

void p2p__streams_abort(struct p2p_streams *s, uint32_t index)
{
    struct p2p_stream *st = stream_at(s, index);
    P2P_ASSERT(st->used && !st->inbound);
    push_reset(s, st->peer, st->stream_id, false);
    close_record(s, index, NULL);
}

void p2p__streams_abort_owned(struct p2p_streams *s,
                              enum p2p_stream_owner owner, p2p_node_id peer,
                              uint32_t index, bool any_index)
{
    for (uint32_t i = 0; i < s->table.capacity; i++) {
        const struct p2p_stream *st = stream_at(s, i);
        if (!st->used || st->inbound || st->owner != owner)
            continue;
        if ((peer != P2P_NODE_NONE && st->peer != peer) ||
            (!any_index && st->owner_index != index))
            continue;
        p2p__streams_abort(s, i);
    }
}

int p2p__streams_respond(struct p2p_streams *s, const struct p2p_stream_resp *r)
{
    uint8_t *frame;
    size_t frame_len;
    struct p2p_frame_response resp = {.status = r->status,
                                      .body = r->body,
                                      .body_len = r->len,
                                      .tail_len =
                                          r->tail != NULL ? r->tail->len : 0};
    int rc = p2p_frame_response_encode(s->env->mem, P2P_MEM_OUTBOX, &resp,
                                       &frame, &frame_len);
    if (rc == 0) {
        struct p2p_action a = {.type = P2P_ACT_STREAM_RESPOND,
                               .peer = r->peer,
                               .stream_id = r->stream_id,
                               .status = r->status,
                               .traffic = r->traffic,
                               .bytes = frame,
                               .len = frame_len,
                               .body = r->tail};
        rc = p2p_outbox_push(s->env->outbox, &a);
        if (rc != 0)
            p2p_mem_free(s->env->mem, P2P_MEM_OUTBOX, frame);
    }
    /* Never leave a requester waiting out its deadline. */
    if (rc != 0)
        push_reset(s, r->peer, r->stream_id, true);
    return rc;
}

void p2p__streams_reset(struct p2p_streams *s, p2p_node_id peer,
                        uint64_t stream_id)
{
    push_reset(s, peer, stream_id, true);
}

/* Closes an outbound stream and reports its end to its owner: err, or 0
 * with frame f (borrowed from the record's reader, which the report then
 * owns). */
static void close_outbound(struct p2p_streams *s, uint32_t index, int err,
                           const struct p2p_frame *f,
                           struct p2p_stream_done *done)
{
    struct p2p_stream st = *stream_at(s, index);
    close_record(s, index, f != NULL ? &done->reader : NULL);
    done->has_reader = f != NULL;
    if (f != NULL)
        done->frame = *f;
    done->end = P2P_STREAM_END_RESPONSE;
    done->peer = st.peer;
    done->stream_id = st.stream_id;
    done->owner = st.owner;
    done->owner_index = st.owner_index;
    done->owner_gen = st.owner_gen;
    done->err = err;
}

/* Closes an outbound stream and reports that it failed with err. */
static void fail_outbound(struct p2p_streams *s, uint32_t index, int err,
                          bool reset, struct p2p_stream_done *done)
{
    const struct p2p_stream *st = stream_at(s, index);
    if (reset)
        push_reset(s, st->peer, st->stream_id, false);
    close_outbound(s, index, err, NULL, done);
}

/* Bytes no honest peer sends: a malformed or over-limit frame. */
static bool malformed(int err)
{
    return err == P2P_ERR_DECODE || err == P2P_ERR_OVERSIZE ||
           err == P2P_ERR_NO_ROUTE || err == P2P_ERR_TRUNCATED;
}

static void fail_inbound(struct p2p_streams *s, p2p_time now, uint32_t index,
                         int err)
{
    const struct p2p_env *env = s->env;
    struct p2p_stream *st = stream_at(s, index);
    env->metrics->stream_errors++;
    if (malformed(err))
        p2p__ledger_penalise(env->ledger, now, st->peer, P2P_PENALTY_BAD_FRAME);
    p2p_outbox_event(env->outbox, P2P_EV_STREAM_ERROR, st->peer, NULL, err);
    push_reset(s, st->peer, st->stream_id, true);
    close_record(s, index, NULL);
}

/* Finds or opens the inbound stream for in; on error it is refused. */
static int inbound_open(struct p2p_streams *s, p2p_time now,
                        const struct p2p_stream_bytes *in, uint32_t *index)
{
    const struct p2p_config *cfg = s->env->cfg;
    if (find(s, true, in->peer, in->stream_id, index))
        return 0;
    struct p2p_stream_peer *p = &s->peers[in->peer];
    /* One peer may not take the whole stream table. */
    int rc = p->streams_in >= cfg->streams_in_per_peer_max
                 ? P2P_ERR_LIMIT
                 : open_record(s, true, in->peer, in->stream_id, index);
    if (rc != 0) {
        s->env->metrics->streams_refused++;
        push_reset(s, in->peer, in->stream_id, true);
        return rc;
    }
    p->streams_in++;
    struct p2p_stream *st = stream_at(s, *index);
    p2p_frame_reader_init(&st->reader, s->env->mem, P2P_FRAME_REQUEST,
                          &cfg->routes, 0);
    /* No stream stays open without its read deadline. */
    st->deadline_ns = now + cfg->stream_read_timeout_ns;
    rc = p2p__timers_arm(s->env->timers, st->deadline_ns,
                         P2P_TIMER_STREAM_DEADLINE, *index, st->gen,
                         &st->deadline_timer);
    if (rc != 0) {
        close_record(s, *index, NULL);
        push_reset(s, in->peer, in->stream_id, true);
    }
    return rc;
}

/* A request whose bytes all arrive at once (the usual case: a slot update
 * or a fetch fits in one read): decoded from the caller's bytes, with no
 * record, no deadline and no copy. The same limits and penalties apply as
 * to a stream that arrives in pieces. */
static int inbound_whole(struct p2p_streams *s, p2p_time now,
                         const struct p2p_stream_bytes *in,
                         struct p2p_stream_done *done)
{
    const struct p2p_env *env = s->env;
    struct p2p_stream_peer *p = &s->peers[in->peer];
    if (p->streams_in >= env->cfg->streams_in_per_peer_max ||
        s->table.count >= s->table.max) {
        env->metrics->streams_refused++;
        push_reset(s, in->peer, in->stream_id, true);
        return P2P_ERR_LIMIT;
    }
    size_t len = in->len + (in->tail != NULL ? in->tail->len : 0);
    p2p_frame_reader_init(&done->reader, env->mem, P2P_FRAME_REQUEST,
                          &env->cfg->routes, 0);
    int rc = len > env->cfg->stream_bytes_in_per_peer_max - p->bytes_in
                 ? P2P_ERR_LIMIT
                 : p2p_frame_reader_whole(&done->reader, in->data, in->len,
                                          in->tail, &done->frame);
    if (rc != 0) {
        p2p_frame_reader_fini(&done->reader);
        env->metrics->stream_errors++;
        if (malformed(rc))
            p2p__ledger_penalise(env->ledger, now, in->peer,
                                 P2P_PENALTY_BAD_FRAME);
        p2p_outbox_event(env->outbox, P2P_EV_STREAM_ERROR, in->peer, NULL, rc);
        push_reset(s, in->peer, in->stream_id, true);
        return rc;
    }
    done->has_reader = true;
    done->end = P2P_STREAM_END_REQUEST;
    done->peer = in->peer;
    done->stream_id = in->stream_id;
    return 0;
}

static int inbound_data(struct p2p_streams *s, p2p_time now,
                        const struct p2p_stream_bytes *in,
                        struct p2p_stream_done *done)
{
    P2P_ASSERT(in->peer < s->peers_capacity);
    uint32_t index;
    /* A peer with no request still arriving needs no lookup. */
    if (in->fin && (s->peers[in->peer].streams_in == 0 ||
                    !find(s, true, in->peer, in->stream_id, &index)))
        return inbound_whole(s, now, in, done);
    int rc = inbound_open(s, now, in, &index);
    if (rc != 0)
        return rc;
    struct p2p_stream_peer *p = &s->peers[in->peer];
    size_t len = in->len + (in->tail != NULL ? in->tail->len : 0);
    /* Nor buffer more than its share of bytes across its streams. */
    rc = len > s->env->cfg->stream_bytes_in_per_peer_max - p->bytes_in
             ? P2P_ERR_LIMIT
             : p2p_frame_reader_feed_tail(&stream_at(s, index)->reader,
                                          in->data, in->len, in->tail);
    if (rc != 0) {
        fail_inbound(s, now, index, rc);
        return rc;
    }
    stream_at(s, index)->bytes_in += len;
    p->bytes_in += len;
    if (!in->fin)
        return 0;
    rc = p2p_frame_reader_finish(&stream_at(s, index)->reader, &done->frame);
    if (rc != 0) {
        fail_inbound(s, now, index, rc);
        return rc;
    }
    close_record(s, index, &done->reader);
    done->has_reader = true;
    done->end = P2P_STREAM_END_REQUEST;
    done->peer = in->peer;
    done->stream_id = in->stream_id;
    return 0;
}

/* The peer answered (bytes or a reset) a request we made at opened_ns. */
static void answered(struct p2p_streams *s, p2p_node_id peer,
                     p2p_time opened_ns)
{
    P2P_ASSERT(peer < s->peers_capacity);
    struct p2p_stream_peer *p = &s->peers[peer];
    if (opened_ns > p->answered_ns)
        p->answered_ns = opened_ns;
}

bool p2p__streams_peer_silent(const struct p2p_streams *s, p2p_time now,
                              p2p_node_id peer, p2p_time since)
{
    if (peer >= s->peers_capacity || now < since ||
        now - since < P2P_SILENCE_NS)
        return false;
    return s->peers[peer].answered_ns < since;
}

p2p_time p2p__streams_answered_ns(const struct p2p_streams *s, p2p_node_id peer)
{
    return peer < s->peers_capacity ? s->peers[peer].answered_ns : 0;
}

/* A bad response: counted, a malformed one penalised, the stream failed. */
static void bad_response(struct p2p_streams *s, p2p_time now, uint32_t index,
                         int err, bool reset, struct p2p_stream_done *done)
{
    const struct p2p_env *env = s->env;
    env->metrics->stream_errors++;
    if (malformed(err))
        p2p__ledger_penalise(env->ledger, now, stream_at(s, index)->peer,
                             P2P_PENALTY_BAD_FRAME);
    fail_outbound(s, index, err, reset, done);
}

/* Whether a response reader's error is one feed gives (the answer was
 * refused while it arrived: the stream is reset) rather than finish (it
 * ended malformed: nothing left to reset). */
static bool refused_as_fed(int err)
{
    return err != P2P_ERR_TRUNCATED && err != P2P_ERR_DECODE;
}

static int outbound_data(struct p2p_streams *s, p2p_time now,
                         const struct p2p_stream_bytes *in,
                         struct p2p_stream_done *done)
{
    uint32_t index;
    /* A response to a stream we already abandoned is normal: ignore it. */
    if (!find(s, false, in->peer, in->stream_id, &index))
        return P2P_ERR_NOT_FOUND;
    answered(s, in->peer, stream_at(s, index)->opened_ns);
    struct p2p_frame_reader *reader = &stream_at(s, index)->reader;
    if (in->fin && reader->len == 0) {
        /* The whole answer at once: decoded from the caller's bytes. */
        struct p2p_frame f;
        int rc =
            p2p_frame_reader_whole(reader, in->data, in->len, in->tail, &f);
        if (rc != 0) {
            bad_response(s, now, index, rc, refused_as_fed(rc), done);
            return rc;
        }
        close_outbound(s, index, 0, &f, done);
        return 0;
    }
    int rc = p2p_frame_reader_feed_tail(reader, in->data, in->len, in->tail);
    if (rc != 0) {
        bad_response(s, now, index, rc, true, done);
        return rc;
    }
    if (!in->fin)
        return 0;
    struct p2p_frame f;
    rc = p2p_frame_reader_finish(&stream_at(s, index)->reader, &f);
    if (rc != 0) {
        bad_response(s, now, index, rc, false, done);
        return rc;
    }
    close_outbound(s, index, 0, &f, done);
    return 0;
}

int p2p__streams_on_data(struct p2p_streams *s, p2p_time now,
                         const struct p2p_stream_bytes *in,
                         struct p2p_stream_done *done)
{
    memset(done, 0, sizeof(*done));
    int rc = in->inbound ? inbound_data(s, now, in, done)
                         : outbound_data(s, now, in, done);
    CHECK(s);
    return rc;
}

int p2p__streams_on_reset(struct p2p_streams *s, p2p_time now, p2p_node_id peer,
                          uint64_t stream_id, bool inbound,
                          struct p2p_stream_done *done)
{
    (void)now;
    memset(done, 0, sizeof(*done));
    uint32_t index;
    if (!find(s, inbound, peer, stream_id, &index))
        return P2P_ERR_NOT_FOUND;
    if (inbound) {
        close_record(s, index, NULL);
    } else {
        answered(s, peer, stream_at(s, index)->opened_ns);
        fail_outbound(s, index, P2P_ERR_READ, false, done);
    }
    CHECK(s);
    return 0;
}

bool p2p__streams_due(struct p2p_streams *s, p2p_time now, uint32_t index,
                      uint32_t gen, struct p2p_stream_due *due)
{
    if (index >= s->table.capacity)
        return false;
    struct p2p_stream *st = stream_at(s, index);
    if (!st->used || st->gen != gen || now < st->deadline_ns)
        return false; /* the deadline moved since this timer was armed */
    if (st->inbound) {
        /* A request still arriving: slow, not wrong (the stream is
         * closed, which bounds what a slow peer holds). */
        fail_inbound(s, now, index, P2P_ERR_TIMEOUT);
        CHECK(s);
        return false;
    }
    due->peer = st->peer;
    due->owner = st->owner;
    due->owner_index = st->owner_index;
    due->owner_gen = st->owner_gen;
    due->opened_ns = st->opened_ns;
    return true;
}

int p2p__streams_extend(struct p2p_streams *s, p2p_time now, uint32_t index,
                        p2p_time more_ns)
{
    struct p2p_stream *st = stream_at(s, index);
    P2P_ASSERT(st->used && !st->inbound && more_ns > 0);
    p2p_timer_handle timer;
    int rc = p2p__timers_arm(s->env->timers, now + more_ns,
                             P2P_TIMER_STREAM_DEADLINE, index, st->gen, &timer);
    if (rc == 0) {
        /* The old deadline's timer fired (it is why we are here). */
        p2p__timers_cancel(s->env->timers, &st->deadline_timer);
        st->deadline_ns = now + more_ns;
        st->deadline_timer = timer;
    }
    return rc;
}

void p2p__streams_expire(struct p2p_streams *s, p2p_time now, uint32_t index,
                         bool blame_peer, struct p2p_stream_done *done)
{
    memset(done, 0, sizeof(*done));
    struct p2p_stream *st = stream_at(s, index);
    P2P_ASSERT(st->used && !st->inbound);
    /* Slowness costs the peer this request, not points: only a peer that
     * has answered nothing we asked since this request, for
     * P2P_SILENCE_NS, is penalised. */
    if (blame_peer && p2p__streams_peer_silent(s, now, st->peer, st->opened_ns))
        p2p__ledger_penalise(s->env->ledger, now, st->peer, P2P_PENALTY_SILENT);
    fail_outbound(s, index, P2P_ERR_TIMEOUT, true, done);
    CHECK(s);
}

bool p2p__streams_peer_down_next(struct p2p_streams *s, p2p_node_id peer,
                                 uint32_t *cursor, struct p2p_stream_done *done)
{
    memset(done, 0, sizeof(*done));
    for (; *cursor < s->table.capacity; (*cursor)++) {
        struct p2p_stream *st = stream_at(s, *cursor);
        if (!st->used || st->peer != peer)
            continue;
        if (st->inbound) {
            close_record(s, *cursor, NULL);
            continue;
        }
        fail_outbound(s, (*cursor)++, P2P_ERR_CONN_LOST, false, done);
        return true;
    }
    CHECK(s);
    return false;
}

void p2p__streams_done_fini(struct p2p_stream_done *done)
{
    if (done->has_reader)
        p2p_frame_reader_fini(&done->reader);
    done->has_reader = false;
    done->end = P2P_STREAM_END_NONE;
}

bool p2p__streams_timer_live(const struct p2p_streams *s, uint32_t index,
                             uint32_t gen, p2p_time deadline)
{
    if (index >= s->table.capacity)
        return false;
    const struct p2p_stream *st = stream_at(s, index);
    return st->used && st->gen == gen && deadline >= st->deadline_ns;
}

int p2p__streams_check(const struct p2p_streams *s)
{
    if (s->by_key.count + s->out_ring_count != s->table.count)
        return P2P_ERR_INTERNAL;
    uint32_t used = 0;
    for (uint32_t i = 0; i < s->table.capacity; i++) {
        const struct p2p_stream *st = stream_at(s, i);
        if (!st->used)
            continue;
        used++;
        uint32_t found;
        if (!find(s, st->inbound, st->peer, st->stream_id, &found) ||
            found != i)
            return P2P_ERR_INTERNAL;
    }
    if (used != s->table.count)
        return P2P_ERR_INTERNAL;
    /* The peers' counts add up to the inbound streams' (O(streams +
     * peers)). */
    uint64_t open = 0, bytes = 0;
    for (uint32_t i = 0; i < s->table.capacity; i++) {
        const struct p2p_stream *st = stream_at(s, i);
        if (st->used && st->inbound && st->peer < s->peers_capacity) {
            open++;
            bytes += st->bytes_in;
        }
    }
    for (uint32_t id = 0; id < s->peers_capacity; id++) {
        open -= s->peers[id].streams_in;
        bytes -= s->peers[id].bytes_in;
    }
    if (open != 0 || bytes != 0)
        return P2P_ERR_INTERNAL;
    return 0;
}
