/* The stream table: every open RPC stream, inbound (we read a request and
 * answer it) or outbound (we wait for the response to our request). Each has
 * a deadline, so no peer can pin a stream open. */
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/node.h"

static void stream_key(bool inbound, p2p_node_id peer, uint64_t stream_id,
                       struct p2p_key *key)
{
    memset(key, 0, sizeof(*key));
    key->b[0] = inbound ? 1 : 2;
    memcpy(key->b + 1, &peer, sizeof(peer));
    memcpy(key->b + 8, &stream_id, sizeof(stream_id));
}

static struct p2p_stream *stream_at(struct p2p_node *n, uint32_t index)
{
    return p2p__table_at(&n->streams, index);
}

static bool find(struct p2p_node *n, bool inbound, p2p_node_id peer,
                 uint64_t stream_id, uint32_t *index)
{
    struct p2p_key key;
    stream_key(inbound, peer, stream_id, &key);
    return p2p_keymap_get(&n->stream_by_key, &key, index);
}

static int open_record(struct p2p_node *n, bool inbound, p2p_node_id peer,
                       uint64_t stream_id, uint32_t *index)
{
    int rc = p2p__table_take(&n->streams, n->mem, index);
    if (rc != 0)
        return rc;
    struct p2p_key key;
    stream_key(inbound, peer, stream_id, &key);
    rc = p2p_keymap_put(&n->stream_by_key, &key, *index);
    if (rc != 0) {
        p2p__table_give(&n->streams, *index);
        return rc;
    }
    struct p2p_stream *s = stream_at(n, *index);
    s->used = true;
    s->inbound = inbound;
    s->peer = peer;
    s->stream_id = stream_id;
    return 0;
}

/* Forgets the record and hands its reader to the caller, who must fini it. */
static void close_record(struct p2p_node *n, uint32_t index,
                         struct p2p_frame_reader *reader_out)
{
    struct p2p_stream *s = stream_at(n, index);
    P2P_ASSERT(s->used);
    if (s->inbound && s->peer < n->peers_capacity) {
        struct p2p_peer *p = &n->peers[s->peer];
        P2P_ASSERT(p->streams_in > 0 && p->bytes_in >= s->bytes_in);
        p->streams_in--;
        p->bytes_in -= s->bytes_in;
    }
    struct p2p_key key;
    stream_key(s->inbound, s->peer, s->stream_id, &key);
    int rc = p2p_keymap_del(&n->stream_by_key, &key);
    P2P_ASSERT(rc == 0);
    if (reader_out != NULL)
        *reader_out = s->reader;
    else
        p2p_frame_reader_fini(&s->reader);
    s->used = false;
    p2p__table_give(&n->streams, index);
}

static void push_reset(struct p2p_node *n, p2p_node_id peer,
                       uint64_t stream_id, bool inbound)
{
    struct p2p_action a = {.type = P2P_ACT_STREAM_RESET, .peer = peer,
                           .stream_id = stream_id, .inbound = inbound};
    (void)p2p_outbox_push(&n->outbox, &a); /* best effort: peer times out */
}

int p2p__stream_request(struct p2p_node *n, p2p_time now,
                        const struct p2p_stream_req *r, uint32_t *stream_out)
{
    uint8_t *frame;
    size_t frame_len;
    int rc = p2p_frame_encode_request(n->mem, P2P_MEM_OUTBOX, r->route,
                                      r->body, r->len, &frame, &frame_len);
    if (rc != 0)
        return rc;
    uint64_t stream_id = n->next_stream_id;
    uint32_t index;
    rc = open_record(n, false, r->peer, stream_id, &index);
    if (rc != 0)
        goto fail_free_frame;
    struct p2p_stream *s = stream_at(n, index);
    s->route = r->route;
    s->owner = r->owner;
    s->owner_index = r->owner_index;
    s->owner_gen = r->owner_gen;
    s->opened_ns = now;
    s->deadline_ns = now + r->timeout_ns;
    p2p_frame_reader_init(&s->reader, n->mem, P2P_FRAME_RESPONSE,
                          &n->cfg.routes, r->route);
    /* What this request can honestly be answered with: a longer answer is
     * refused when its length is read, before it is buffered. */
    if (r->response_bytes_max != 0)
        p2p_frame_reader_cap(&s->reader, r->response_bytes_max);
    /* A stale deadline is harmless if the push below fails: the record's
     * generation moves on when it is reused. */
    rc = p2p__timer(n, s->deadline_ns, TIMER_STREAM_DEADLINE, index, s->gen);
    if (rc != 0)
        goto fail_close_record;
    struct p2p_action a = {.type = P2P_ACT_STREAM_OPEN, .peer = r->peer,
                           .stream_id = stream_id, .route = r->route,
                           .traffic = r->traffic, .bytes = frame,
                           .len = frame_len};
    rc = p2p_outbox_push(&n->outbox, &a);
    if (rc != 0)
        goto fail_close_record;
    n->next_stream_id++;
    *stream_out = index;
    return 0;

fail_close_record:
    close_record(n, index, NULL);
fail_free_frame:
    p2p_mem_free(n->mem, P2P_MEM_OUTBOX, frame);
    return rc;
}

void p2p__stream_abort(struct p2p_node *n, uint32_t index)
{
    struct p2p_stream *s = stream_at(n, index);
    P2P_ASSERT(s->used && !s->inbound);
    push_reset(n, s->peer, s->stream_id, false);
    close_record(n, index, NULL);
}

int p2p__stream_respond(struct p2p_node *n, p2p_node_id peer,
                        uint64_t stream_id, enum p2p_traffic traffic,
                        uint32_t status,
                        const uint8_t *body, size_t len)
{
    uint8_t *frame;
    size_t frame_len;
    int rc = p2p_frame_encode_response(n->mem, P2P_MEM_OUTBOX, status, body,
                                       len, &frame, &frame_len);
    if (rc != 0)
        return rc;
    struct p2p_action a = {.type = P2P_ACT_STREAM_RESPOND, .peer = peer,
                           .stream_id = stream_id, .status = status,
                           .traffic = traffic, .bytes = frame,
                           .len = frame_len};
    rc = p2p_outbox_push(&n->outbox, &a);
    if (rc != 0)
        p2p_mem_free(n->mem, P2P_MEM_OUTBOX, frame);
    return rc;
}

/* Hands an outbound stream's outcome to whoever waits for it. */
static void deliver_to_owner(struct p2p_node *n, p2p_time now,
                             p2p_node_id peer, enum stream_owner owner,
                             uint32_t owner_index, uint32_t owner_gen, int err,
                             const struct p2p_frame *f)
{
    switch (owner) {
    case OWNER_STATE_SYNC:
        p2p__state_on_response(n, now, peer, owner_index, owner_gen, err, f);
        break;
    case OWNER_SENDER:
        p2p__sender_on_response(n, now, owner_index, owner_gen, err, f);
        break;
    case OWNER_DOWNLOADER:
        p2p__downloader_on_response(n, now, owner_index, owner_gen, err, f);
        break;
    case OWNER_NONE:
        break;
    }
}

/* Closes an outbound stream and tells its owner it failed with err. */
static void fail_outbound(struct p2p_node *n, p2p_time now, uint32_t index,
                          int err, bool reset)
{
    struct p2p_stream s = *stream_at(n, index);
    if (reset)
        push_reset(n, s.peer, s.stream_id, false);
    close_record(n, index, NULL);
    deliver_to_owner(n, now, s.peer, s.owner, s.owner_index, s.owner_gen, err, NULL);
}

/* Bytes no honest peer sends: a malformed or over-limit frame. */
static bool malformed(int err)
{
    return err == P2P_ERR_DECODE || err == P2P_ERR_OVERSIZE ||
           err == P2P_ERR_NO_ROUTE || err == P2P_ERR_TRUNCATED;
}

static void fail_inbound(struct p2p_node *n, p2p_time now, uint32_t index,
                         int err)
{
    struct p2p_stream *s = stream_at(n, index);
    n->metrics.stream_errors++;
    if (malformed(err))
        p2p__penalise(n, now, s->peer, P2P_PENALTY_BAD_FRAME);
    p2p_outbox_event(&n->outbox, P2P_EV_STREAM_ERROR, s->peer, NULL, err);
    push_reset(n, s->peer, s->stream_id, true);
    close_record(n, index, NULL);
}

static int inbound_data(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        uint64_t stream_id, const uint8_t *data, size_t len,
                        bool fin)
{
    uint32_t index;
    struct p2p_peer *p = &n->peers[peer];
    if (!find(n, true, peer, stream_id, &index)) {
        /* One peer may not take the whole stream table. */
        int rc = p->streams_in >= n->cfg.streams_in_per_peer_max
                     ? P2P_ERR_LIMIT
                     : open_record(n, true, peer, stream_id, &index);
        if (rc != 0) {
            n->metrics.streams_refused++;
            push_reset(n, peer, stream_id, true);
            return rc;
        }
        p->streams_in++;
        struct p2p_stream *s = stream_at(n, index);
        p2p_frame_reader_init(&s->reader, n->mem, P2P_FRAME_REQUEST,
                              &n->cfg.routes, 0);
        /* No stream stays open without its read deadline. */
        s->deadline_ns = now + n->cfg.stream_read_timeout_ns;
        rc = p2p__timer(n, s->deadline_ns, TIMER_STREAM_DEADLINE, index,
                        s->gen);
        if (rc != 0) {
            close_record(n, index, NULL);
            push_reset(n, peer, stream_id, true);
            return rc;
        }
    }
    /* Nor buffer more than its share of bytes across its streams. */
    int rc = len > n->cfg.stream_bytes_in_per_peer_max - p->bytes_in
                 ? P2P_ERR_LIMIT
                 : p2p_frame_reader_feed(&stream_at(n, index)->reader, data,
                                         len);
    if (rc != 0) {
        fail_inbound(n, now, index, rc);
        return rc;
    }
    stream_at(n, index)->bytes_in += len;
    p->bytes_in += len;
    if (!fin)
        return 0;
    struct p2p_frame f;
    rc = p2p_frame_reader_finish(&stream_at(n, index)->reader, &f);
    if (rc != 0) {
        fail_inbound(n, now, index, rc);
        return rc;
    }
    struct p2p_frame_reader reader;
    close_record(n, index, &reader);
    rc = p2p__receiver_on_request(n, now, peer, stream_id, &f);
    p2p_frame_reader_fini(&reader);
    return rc;
}

/* The peer answered (bytes or a reset) a request we made at opened_ns. */
static void answered(struct p2p_node *n, p2p_node_id peer, p2p_time opened_ns)
{
    struct p2p_peer *p = &n->peers[peer];
    if (opened_ns > p->answered_ns)
        p->answered_ns = opened_ns;
}

bool p2p__peer_silent(const struct p2p_node *n, p2p_time now,
                      p2p_node_id peer, p2p_time since)
{
    if (peer >= n->peers_capacity || now < since ||
        now - since < P2P_SILENCE_NS)
        return false;
    return n->peers[peer].answered_ns < since;
}

static int outbound_data(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                         uint64_t stream_id, const uint8_t *data, size_t len,
                         bool fin)
{
    uint32_t index;
    /* A response to a stream we already abandoned is normal: ignore it. */
    if (!find(n, false, peer, stream_id, &index))
        return P2P_ERR_NOT_FOUND;
    answered(n, peer, stream_at(n, index)->opened_ns);
    int rc = p2p_frame_reader_feed(&stream_at(n, index)->reader, data, len);
    if (rc != 0) {
        n->metrics.stream_errors++;
        if (malformed(rc))
            p2p__penalise(n, now, peer, P2P_PENALTY_BAD_FRAME);
        fail_outbound(n, now, index, rc, true);
        return rc;
    }
    if (!fin)
        return 0;
    struct p2p_frame f;
    rc = p2p_frame_reader_finish(&stream_at(n, index)->reader, &f);
    if (rc != 0) {
        n->metrics.stream_errors++;
        if (malformed(rc))
            p2p__penalise(n, now, peer, P2P_PENALTY_BAD_FRAME);
        fail_outbound(n, now, index, rc, false);
        return rc;
    }
    struct p2p_stream s = *stream_at(n, index);
    struct p2p_frame_reader reader;
    close_record(n, index, &reader);
    deliver_to_owner(n, now, s.peer, s.owner, s.owner_index, s.owner_gen, 0, &f);
    p2p_frame_reader_fini(&reader);
    return 0;
}

int p2p__stream_on_data(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                        uint64_t stream_id, bool inbound, const uint8_t *data,
                        size_t len, bool fin)
{
    if (inbound)
        return inbound_data(n, now, peer, stream_id, data, len, fin);
    return outbound_data(n, now, peer, stream_id, data, len, fin);
}

int p2p__stream_on_reset(struct p2p_node *n, p2p_time now, p2p_node_id peer,
                         uint64_t stream_id, bool inbound)
{
    uint32_t index;
    if (!find(n, inbound, peer, stream_id, &index))
        return P2P_ERR_NOT_FOUND;
    if (inbound) {
        close_record(n, index, NULL);
    } else {
        answered(n, peer, stream_at(n, index)->opened_ns);
        fail_outbound(n, now, index, P2P_ERR_READ, false);
    }
    return 0;
}

void p2p__stream_on_deadline(struct p2p_node *n, p2p_time now, uint32_t index,
                             uint32_t gen, bool blame_peer)
{
    if (index >= n->streams.capacity)
        return;
    struct p2p_stream *s = stream_at(n, index);
    if (!s->used || s->gen != gen || now < s->deadline_ns)
        return; /* the deadline moved since this timer was armed */
    if (s->inbound) {
        /* A request still arriving: slow, not wrong (the stream is
         * closed, which bounds what a slow peer holds). */
        fail_inbound(n, now, index, P2P_ERR_TIMEOUT);
        return;
    }
    /* A busy peer with nothing better to ask: the owner may wait on. */
    p2p_time more = s->owner == OWNER_DOWNLOADER
                        ? p2p__downloader_more_time(n, now, s->owner_index,
                                                    s->owner_gen, s->opened_ns)
                        : 0;
    if (more > 0 && p2p__timer(n, now + more, TIMER_STREAM_DEADLINE, index,
                               s->gen) == 0) {
        s->deadline_ns = now + more;
        return;
    }
    /* Slowness costs the peer this request, not points: only a peer that
     * has answered nothing we asked since this request, for
     * P2P_SILENCE_NS, is penalised. */
    if (blame_peer && p2p__peer_silent(n, now, s->peer, s->opened_ns))
        p2p__penalise(n, now, s->peer, P2P_PENALTY_SILENT);
    fail_outbound(n, now, index, P2P_ERR_TIMEOUT, true);
}

void p2p__streams_peer_down(struct p2p_node *n, p2p_time now, p2p_node_id peer)
{
    for (uint32_t i = 0; i < n->streams.capacity; i++) {
        struct p2p_stream *s = stream_at(n, i);
        if (!s->used || s->peer != peer)
            continue;
        if (s->inbound)
            close_record(n, i, NULL);
        else
            fail_outbound(n, now, i, P2P_ERR_CONN_LOST, false);
    }
}
