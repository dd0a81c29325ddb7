/* The endpoint's ngtcp2 callbacks and stream table (see
 * quic/endpoint_int.h). Callbacks run inside ngtcp2_conn_read_pkt,
 * _writev_stream or _handle_expiry: they only record what happened, call
 * the owner's callbacks, and leave every write to the next flush. */
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "core/err.h"
#include "quic/endpoint_int.h"

/* ---- streams ---- */

struct quic_endpoint_stream *quic_endpoint_stream_new(
    struct quic_endpoint_conn *c, bool inbound, uint64_t core_id)
{
    struct quic_endpoint_stream *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->conn = c;
    s->sid = -1;
    s->core_id = core_id;
    s->inbound = inbound;
    s->core_open = true;
    s->route = QUIC_TRAFFIC_ROUTE_NONE;
    s->tx_traffic = P2P_TRAFFIC_OTHER;
    s->rx_traffic = P2P_TRAFFIC_OTHER;
    s->next = c->streams;
    if (c->streams != NULL)
        c->streams->prev = s;
    c->streams = s;
    return s;
}

struct quic_endpoint_stream *quic_endpoint_stream_find(
    struct quic_endpoint_conn *c, bool inbound, uint64_t core_id)
{
    for (struct quic_endpoint_stream *s = c->streams; s != NULL; s = s->next)
        if (s->inbound == inbound && s->core_id == core_id && !s->closing)
            return s;
    return NULL;
}

static struct quic_endpoint_queue *queue_of(struct quic_endpoint_stream *s)
{
    return s->large ? &s->conn->large : &s->conn->small;
}

static void unqueue(struct quic_endpoint_stream *s)
{
    if (!s->queued)
        return;
    struct quic_endpoint_queue *q = queue_of(s);
    struct quic_endpoint_stream **p = &q->head, *prev = NULL;
    while (*p != NULL && *p != s) {
        prev = *p;
        p = &(*p)->send_next;
    }
    if (*p == s) {
        *p = s->send_next;
        if (q->tail == s)
            q->tail = prev;
    }
    s->send_next = NULL;
    s->queued = false;
}

void quic_endpoint_stream_dequeue_head(struct quic_endpoint_stream *s)
{
    struct quic_endpoint_queue *q = queue_of(s);
    if (q->head != s) {
        unqueue(s);
        return;
    }
    q->head = s->send_next;
    if (q->tail == s)
        q->tail = NULL;
    s->send_next = NULL;
    s->queued = false;
}

void quic_endpoint_stream_rotate(struct quic_endpoint_stream *s)
{
    struct quic_endpoint_queue *q = queue_of(s);
    if (s->large || q->head != s || s->send_next == NULL)
        return;
    q->head = s->send_next;
    s->send_next = NULL;
    q->tail->send_next = s;
    q->tail = s;
}

static void drop_buf(struct quic_endpoint_stream *s)
{
    if (s->buf == NULL)
        return;
    s->conn->send_bytes -= s->len;
    free(s->buf);
    s->buf = NULL;
    p2p_body_release(s->body, NULL, P2P_MEM_OUTBOX);
    s->body = NULL;
}

/* Decides the class of what s receives from its head, if it can (always
 * when complete), and counts the bytes that waited for it. */
static void rx_decide(struct quic_endpoint_stream *s, bool complete)
{
    enum p2p_traffic tr;
    bool decided;
    if (s->inbound) {
        uint8_t route;
        decided = quic_stream_traffic_of_request(s->head, s->head_len, complete,
                                                 &tr, &route);
        if (decided)
            s->route = route;
    } else {
        decided = quic_stream_traffic_of_response(s->route, s->head,
                                                  s->head_len, complete, &tr);
    }
    if (!decided)
        return;
    s->rx_known = true;
    s->rx_traffic = (uint8_t)tr;
    s->conn->t->tot.bytes_received[tr] += s->rx_pending;
    s->rx_pending = 0;
}

void quic_endpoint_stream_count_rx(struct quic_endpoint_stream *s,
                                   const uint8_t *data, size_t len, bool fin)
{
    struct quic_endpoint *t = s->conn->t;
    if (s->rx_known) {
        t->tot.bytes_received[s->rx_traffic] += len;
        return;
    }
    size_t room = sizeof(s->head) - s->head_len;
    size_t n = len < room ? len : room;
    if (n > 0)
        memcpy(s->head + s->head_len, data, n);
    s->head_len = (uint8_t)(s->head_len + n);
    s->rx_pending += len;
    rx_decide(s, fin || s->head_len == sizeof(s->head));
}

void quic_endpoint_stream_set_tx(struct quic_endpoint_stream *s,
                                 const uint8_t *bytes, size_t len)
{
    enum p2p_traffic tr;
    if (!s->inbound) {
        (void)quic_stream_traffic_of_request(bytes, len, true, &tr, &s->route);
    } else {
        /* An answer before the request's end: judge what came. */
        if (!s->rx_known)
            rx_decide(s, true);
        (void)quic_stream_traffic_of_response(s->route, bytes, len, true, &tr);
    }
    s->tx_traffic = (uint8_t)tr;
}

void quic_endpoint_stream_free(struct quic_endpoint_stream *s)
{
    struct quic_endpoint_conn *c = s->conn;
    if (!s->rx_known && s->rx_pending > 0)
        rx_decide(s, true);
    unqueue(s);
    if (s->waiting_id)
        c->opens_pending--;
    drop_buf(s);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->sid >= 0 && c->qc != NULL)
        ngtcp2_conn_set_stream_user_data(c->qc, s->sid, NULL);
    free(s);
}

void quic_endpoint_stream_enqueue(struct quic_endpoint_stream *s)
{
    if (s->queued || s->sid < 0 || s->blocked || s->closing)
        return;
    struct quic_endpoint_conn *c = s->conn;
    s->large = s->len - s->sent > QUIC_ENDPOINT_SMALL_STREAM_BYTES;
    struct quic_endpoint_queue *q = queue_of(s);
    s->send_next = NULL;
    if (q->tail != NULL)
        q->tail->send_next = s;
    else
        q->head = s;
    q->tail = s;
    s->queued = true;
    quic_endpoint_mark_dirty(c);
}

void quic_endpoint_stream_prepare(struct quic_endpoint_conn *c)
{
    struct quic_endpoint_stream *s = c->streams;
    while (s != NULL) {
        struct quic_endpoint_stream *next = s->next;
        if (s->reset_pending && s->sid < 0) {
            quic_endpoint_stream_free(s); /* never reached the wire */
        } else if (s->reset_pending) {
            /* ngtcp2 0.12 may still resend lost STREAM frames of a reset
             * stream from our buffer (fixed upstream in 1.3): the buffer
             * lives until ngtcp2 closes the stream (stream_close_cb). */
            (void)ngtcp2_conn_shutdown_stream(c->qc, s->sid, 1);
            unqueue(s);
            s->reset_pending = false;
            s->closing = true;
        } else if (s->stop_read_pending) {
            /* Answered before the request's end: read no more of it. */
            (void)ngtcp2_conn_shutdown_stream_read(c->qc, s->sid, 0);
            s->stop_read_pending = false;
        } else if (s->waiting_id) {
            int64_t sid;
            int rv = ngtcp2_conn_open_bidi_stream(c->qc, &sid, s);
            if (rv == 0) {
                s->sid = sid;
                s->waiting_id = false;
                c->opens_pending--;
                quic_endpoint_stream_enqueue(s);
            }
            /* NGTCP2_ERR_STREAM_ID_BLOCKED: wait for more credit
             * (extend_max_local_streams_bidi marks the conn dirty). */
        }
        s = next;
    }
}

/* ---- callbacks ---- */

static struct quic_endpoint_conn *conn_of(void *user_data)
{
    return user_data;
}

/* ngtcp2's draws come from the owner's randomness (settings.rand_ctx). */
static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    quic_endpoint_rand(ctx->native_handle, dest, len);
}

static int path_challenge_cb(ngtcp2_conn *qc, uint8_t *data, void *user_data)
{
    quic_endpoint_rand(((struct quic_endpoint_conn *)user_data)->t, data,
                       NGTCP2_PATH_CHALLENGE_DATALEN);
    return 0;
}

static int new_cid_cb(ngtcp2_conn *qc, ngtcp2_cid *cid, uint8_t *token,
                      size_t cidlen, void *user_data)
{
    struct quic_endpoint_conn *c = conn_of(user_data);
    /* The token is derived from the id, so a restarted process (same key)
     * can reset the connection (quic/endpoint.h). */
    if (cidlen != QUIC_ENDPOINT_CID_LEN)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    quic_endpoint_rand(c->t, cid->data, cidlen);
    if (quic_endpoint_reset_token(c->t, cid->data, cidlen, token) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    quic_endpoint_cid_add(c->t, cid->data, cid->datalen, c);
    return 0;
}

static int remove_cid_cb(ngtcp2_conn *qc, const ngtcp2_cid *cid,
                         void *user_data)
{
    quic_endpoint_cid_remove(conn_of(user_data)->t, cid->data, cid->datalen);
    return 0;
}

/* The connection is up: the peer accepted us and we accepted it. */
static int conn_up(struct quic_endpoint_conn *c)
{
    struct quic_endpoint *t = c->t;
    if (c->peer == QUIC_ENDPOINT_PEER_NONE)
        return NGTCP2_ERR_CALLBACK_FAILURE; /* verify hook never ran */
    c->state = QUIC_ENDPOINT_UP;
    struct quic_endpoint_conn *old = t->by_peer[c->peer];
    if (old != NULL && old != c) {
        /* A newer connection replaces the old one; core hears of the new
         * one only (p2p_node_on_peer_up). */
        if (old->state == QUIC_ENDPOINT_UP && t->tot.conns_up > 0)
            t->tot.conns_up--;
        old->peer = QUIC_ENDPOINT_PEER_NONE;
        old->state = QUIC_ENDPOINT_HANDSHAKE;
        old->close_pending = true;
        old->close_reason = P2P_ERR_CONN_LOST;
        old->close_phrase = QUIC_CLOSE_REPLACED;
        quic_endpoint_mark_dirty(old);
    }
    t->by_peer[c->peer] = c;
    t->peers[c->peer].handshakes++;
    t->tot.conns_up++;
    if (c->server) {
        c->completed = true;
        t->tot.conns_accepted++;
    }
    t->cbs.peer_up(t->cbs.ctx, c->peer);
    return 0;
}

/* A server has judged the client's certificate when its handshake
 * completes. A client's completes before the server has (TLS 1.3): it
 * waits for HANDSHAKE_DONE, which the server sends only after accepting
 * it, so that a refusal is a failed dial (with core's backoff), not a
 * connection that came up and went down. */
static int handshake_completed_cb(ngtcp2_conn *qc, void *user_data)
{
    struct quic_endpoint_conn *c = conn_of(user_data);
    return c->server ? conn_up(c) : 0;
}

static int handshake_confirmed_cb(ngtcp2_conn *qc, void *user_data)
{
    struct quic_endpoint_conn *c = conn_of(user_data);
    return c->server || c->state == QUIC_ENDPOINT_UP ? 0 : conn_up(c);
}

/* A server opens streams only once it has accepted us: its first stream
 * is as good a confirmation as HANDSHAKE_DONE, which may come after it
 * (lost, or overtaken). Without this the stream's first bytes were
 * dropped, and core read the rest as a malformed message and penalised
 * an honest peer (found by the simulator's quic model, with reordering). */
static int confirm_by_stream(struct quic_endpoint_conn *c)
{
    if (c->server || c->state == QUIC_ENDPOINT_UP ||
        !ngtcp2_conn_get_handshake_completed(c->qc))
        return 0;
    return conn_up(c);
}

/* The peer reset the connection (it lost its state: a restart). ngtcp2
 * is draining it now and ngtcp2_conn_read_pkt returns
 * NGTCP2_ERR_DRAINING, upon which it is dropped and core told. */
static int recv_reset_cb(ngtcp2_conn *qc, const ngtcp2_pkt_stateless_reset *sr,
                         void *user_data)
{
    conn_of(user_data)->t->tot.resets_received++;
    return 0;
}

static int stream_open_cb(ngtcp2_conn *qc, int64_t sid, void *user_data)
{
    struct quic_endpoint_conn *c = conn_of(user_data);
    if (!ngtcp2_is_bidi_stream(sid) || ngtcp2_conn_is_local_stream(qc, sid))
        return 0;
    if (confirm_by_stream(c) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    struct quic_endpoint_stream *s =
        quic_endpoint_stream_new(c, true, (uint64_t)sid);
    if (s == NULL)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    s->sid = sid;
    ngtcp2_conn_set_stream_user_data(qc, sid, s);
    return 0;
}

static int recv_stream_data_cb(ngtcp2_conn *qc, uint32_t flags, int64_t sid,
                               uint64_t offset, const uint8_t *data, size_t len,
                               void *user_data, void *sud)
{
    struct quic_endpoint_conn *c = conn_of(user_data);
    struct quic_endpoint_stream *s = sud;
    /* Core copies what it keeps (and bounds it), so the credit goes back
     * at once. */
    ngtcp2_conn_extend_max_stream_offset(qc, sid, len);
    ngtcp2_conn_extend_max_offset(qc, len);
    bool fin = (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0;
    if (s != NULL && fin)
        s->fin_received = true;
    if (s == NULL || !s->core_open || c->state != QUIC_ENDPOINT_UP)
        return 0;
    struct quic_peer_stats *ps = &c->t->peers[c->peer];
    ps->bytes_received += len;
    quic_endpoint_stream_count_rx(s, data, len, fin);
    if (fin) {
        ps->messages_received++;
        c->t->tot.messages_received++;
        /* A response is complete: core is done with the stream. */
        if (!s->inbound)
            s->core_open = false;
    }
    c->t->cbs.stream_data(c->t->cbs.ctx, c->peer, s->core_id, s->inbound, data,
                          len, fin);
    return 0;
}

static int acked_cb(ngtcp2_conn *qc, int64_t sid, uint64_t offset, uint64_t len,
                    void *user_data, void *sud)
{
    struct quic_endpoint_stream *s = sud;
    if (s != NULL && s->buf != NULL && s->fin_sent && offset + len >= s->len)
        drop_buf(s);
    return 0;
}

/* The peer abandoned the stream: core forgets it, and we stop too. */
static void peer_reset(struct quic_endpoint_stream *s)
{
    struct quic_endpoint_conn *c = s->conn;
    if (s->core_open && c->state == QUIC_ENDPOINT_UP) {
        s->core_open = false;
        c->t->peers[c->peer].streams_reset_received++;
        c->t->cbs.stream_reset(c->t->cbs.ctx, c->peer, s->core_id, s->inbound);
    }
    s->core_open = false;
    s->reset_pending = true;
    quic_endpoint_mark_dirty(c);
}

static int stream_reset_cb(ngtcp2_conn *qc, int64_t sid, uint64_t final_size,
                           uint64_t code, void *user_data, void *sud)
{
    if (sud != NULL)
        peer_reset(sud);
    return 0;
}

static int stream_close_cb(ngtcp2_conn *qc, uint32_t flags, int64_t sid,
                           uint64_t code, void *user_data, void *sud)
{
    /* ngtcp2 does not give the peer a new stream for one that closed:
     * without this, a peer can open streams_per_peer streams in the
     * connection's lifetime. (Core bounds the streams open at once.) */
    if (ngtcp2_is_bidi_stream(sid) && !ngtcp2_conn_is_local_stream(qc, sid))
        ngtcp2_conn_extend_max_streams_bidi(qc, 1);
    struct quic_endpoint_stream *s = sud;
    if (s == NULL)
        return 0;
    struct quic_endpoint_conn *c = s->conn;
    if (s->core_open && c->state == QUIC_ENDPOINT_UP) {
        s->core_open = false;
        c->t->peers[c->peer].streams_reset_received++;
        c->t->cbs.stream_reset(c->t->cbs.ctx, c->peer, s->core_id, s->inbound);
    }
    quic_endpoint_stream_free(s);
    return 0;
}

static int extend_streams_cb(ngtcp2_conn *qc, uint64_t max, void *user_data)
{
    quic_endpoint_mark_dirty(conn_of(user_data));
    return 0;
}

static int extend_data_cb(ngtcp2_conn *qc, int64_t sid, uint64_t max,
                          void *user_data, void *sud)
{
    struct quic_endpoint_stream *s = sud;
    if (s != NULL && s->blocked) {
        s->blocked = false;
        quic_endpoint_stream_enqueue(s);
    }
    return 0;
}

/* Counted here, where the decision is made: however the handshake's
 * failure surfaces afterwards. */
static int refuse(struct quic_endpoint_conn *c, enum quic_refusal why)
{
    c->refused = true;
    c->refusal = why;
    c->t->tot.refusals[why]++;
    return GNUTLS_E_CERTIFICATE_ERROR;
}

/* The live connection of peer whose place c would take, if it comes from
 * another address: then two processes hold one key (quic/endpoint.h). */
static struct quic_endpoint_conn *duplicate_of(struct quic_endpoint_conn *c,
                                               uint32_t peer, uint64_t now)
{
    struct quic_endpoint *t = c->t;
    struct quic_endpoint_conn *old = t->by_peer[peer];
    if (old == NULL || old == c || old->state != QUIC_ENDPOINT_UP ||
        old->close_pending || quic_endpoint_addr_eq(&old->remote, &c->remote))
        return NULL;
    uint64_t live_ns =
        t->limits.keepalive_ns > 0
            ? t->limits.keepalive_ns * QUIC_ENDPOINT_LIVE_KEEPALIVES
            : t->limits.idle_timeout_ns;
    return now - old->last_rx_ns <= live_ns ? old : NULL;
}

static int refuse_duplicate(struct quic_endpoint_conn *c,
                            struct quic_endpoint_conn *old, uint32_t peer,
                            const uint8_t key[QUIC_KEY_ID_LEN], uint64_t now)
{
    struct quic_endpoint *t = c->t;
    t->peers[peer].duplicates++;
    char live[64], from[64], hex[QUIC_KEY_ID_HEX_LEN + 1];
    quic_cert_hex(key, hex);
    quic_endpoint_addr_text(&old->remote, live, sizeof(live));
    quic_endpoint_addr_text(&c->remote, from, sizeof(from));
    quic_endpoint_warn(
        t, now,
        "duplicate identity: node %u (key %.16s) is connected from %s "
        "and a handshake with its key came from %s: two processes share "
        "one key? Refused the newcomer (%llu so far)",
        peer, hex, live, from, (unsigned long long)t->peers[peer].duplicates);
    return refuse(c, QUIC_REFUSE_DUPLICATE);
}

int quic_endpoint_stream_verify_peer(gnutls_session_t session)
{
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(session);
    struct quic_endpoint_conn *c = ref->user_data;
    struct quic_endpoint *t = c->t;
    uint8_t key[QUIC_KEY_ID_LEN];
    enum quic_cert_problem problem;
    /* Certificates are judged by the owner's wall clock (validity). */
    int rc = quic_tls_peer_identity(session, t->env.wall_s(t->env.ctx), key,
                                    &problem);
    if (rc == P2P_ERR_REFUSED)
        return refuse(c, QUIC_REFUSE_BAD_CERT);
    if (rc != 0)
        return refuse(c, QUIC_REFUSE_NO_CERT);
    if (!c->server) {
        /* We dialled a member: its certificate must carry its key. */
        if (memcmp(key, c->expect_key, QUIC_KEY_ID_LEN) != 0)
            return refuse(c, QUIC_REFUSE_NOT_MEMBER);
        return 0;
    }
    uint32_t peer = QUIC_ENDPOINT_PEER_NONE;
    enum quic_refusal why = QUIC_REFUSE_NOT_MEMBER;
    if (!t->cbs.accept_key(t->cbs.ctx, key, &peer, &why) ||
        peer >= QUIC_ENDPOINT_PEERS_MAX)
        return refuse(c, why);
    uint64_t now = t->now;
    struct quic_endpoint_conn *old = duplicate_of(c, peer, now);
    if (old != NULL)
        return refuse_duplicate(c, old, peer, key, now);
    c->peer = peer;
    return 0;
}

void quic_endpoint_stream_callbacks(ngtcp2_callbacks *client,
                                    ngtcp2_callbacks *server)
{
    ngtcp2_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = path_challenge_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.rand = rand_cb;
    cb.get_new_connection_id = new_cid_cb;
    cb.remove_connection_id = remove_cid_cb;
    cb.handshake_completed = handshake_completed_cb;
    cb.handshake_confirmed = handshake_confirmed_cb;
    cb.stream_open = stream_open_cb;
    cb.recv_stream_data = recv_stream_data_cb;
    cb.acked_stream_data_offset = acked_cb;
    cb.stream_reset = stream_reset_cb;
    cb.stream_close = stream_close_cb;
    cb.extend_max_local_streams_bidi = extend_streams_cb;
    cb.extend_max_stream_data = extend_data_cb;
    cb.recv_stateless_reset = recv_reset_cb;
    *client = cb;
    client->client_initial = ngtcp2_crypto_client_initial_cb;
    client->recv_retry = ngtcp2_crypto_recv_retry_cb;
    *server = cb;
    server->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
}
