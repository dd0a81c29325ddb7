/* The QUIC endpoint: connections, packets in and out, timers and the
 * public calls (see quic/endpoint.h; callbacks and streams are in
 * quic/endpoint_stream.c). */
#include "quic/endpoint_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "core/err.h"

/* Application error codes in CONNECTION_CLOSE: 0 = orderly, else
 * 0x100 + |P2P_ERR_*| so a peer's log tells why. */
#define QUIC_ENDPOINT_APP_ERR_BASE 0x100u
/* The first bit of a QUIC packet: 1 for a long header (RFC 9000 17.2). */
#define QUIC_ENDPOINT_LONG_HEADER_BIT 0x80u

void quic_endpoint_limits_default(struct quic_endpoint_limits *l)
{
    *l = (struct quic_endpoint_limits){
        .streams_per_peer = 1000,
        .idle_timeout_ns = 30ull * 1000000000ull,
        .keepalive_ns = 5ull * 1000000000ull,
        .dial_timeout_ns = 5ull * 1000000000ull,
        .stream_window_bytes = 16ull << 20,
        .conn_window_bytes = 64ull << 20,
        .timer_tick_ns = 1000000ull,
    };
}

/* ---- addresses, warnings, reset tokens ---- */

bool quic_endpoint_addr_eq(const struct sockaddr_storage *a,
                           const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

void quic_endpoint_addr_text(const struct sockaddr_storage *addr, char *out,
                             size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
        return;
    }
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, cap, "[%s]:%u", host, port);
}

void quic_endpoint_warn(struct quic_endpoint *t, uint64_t now, const char *fmt,
                        ...)
{
    if (t->warned_ns != 0 &&
        now < t->warned_ns + QUIC_ENDPOINT_WARN_INTERVAL_NS) {
        t->warns_unlogged++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(msg) && t->warns_unlogged > 0)
        snprintf(msg + n, sizeof(msg) - (size_t)n,
                 " (%llu more warnings not logged)",
                 (unsigned long long)t->warns_unlogged);
    t->warned_ns = now;
    t->warns_unlogged = 0;
    if (t->cbs.warn != NULL)
        t->cbs.warn(t->cbs.ctx, msg);
}

void quic_endpoint_rand(const struct quic_endpoint *t, uint8_t *out, size_t n)
{
    t->env.rand(t->env.ctx, out, n);
}

int quic_endpoint_reset_token(const struct quic_endpoint *t, const uint8_t *cid,
                              size_t len,
                              uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN])
{
    if (len > NGTCP2_MAX_CIDLEN)
        return -1;
    ngtcp2_cid id;
    ngtcp2_cid_init(&id, cid, len);
    return ngtcp2_crypto_generate_stateless_reset_token(
        token, t->reset_secret, sizeof(t->reset_secret), &id);
}

/* ---- connection ids ---- */

static uint32_t cid_hash(const uint8_t *d, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ d[i]) * 16777619u;
    return h;
}

static struct quic_endpoint_cid_slot *cid_find(struct quic_endpoint *t,
                                               const uint8_t *d, size_t len)
{
    uint32_t i = cid_hash(d, len) & (QUIC_ENDPOINT_CID_SLOTS - 1);
    for (uint32_t probes = 0; probes < QUIC_ENDPOINT_CID_SLOTS; probes++) {
        struct quic_endpoint_cid_slot *s = &t->cids[i];
        if (s->len == 0 && !s->tomb)
            return NULL;
        if (s->len == len && memcmp(s->data, d, len) == 0)
            return s;
        i = (i + 1) & (QUIC_ENDPOINT_CID_SLOTS - 1);
    }
    return NULL;
}

void quic_endpoint_cid_add(struct quic_endpoint *t, const uint8_t *d,
                           size_t len, struct quic_endpoint_conn *c)
{
    if (len == 0 || len > NGTCP2_MAX_CIDLEN || cid_find(t, d, len) != NULL)
        return;
    uint32_t i = cid_hash(d, len) & (QUIC_ENDPOINT_CID_SLOTS - 1);
    for (uint32_t probes = 0; probes < QUIC_ENDPOINT_CID_SLOTS; probes++) {
        struct quic_endpoint_cid_slot *s = &t->cids[i];
        if (s->len == 0) {
            if (s->tomb && t->cid_tombs > 0)
                t->cid_tombs--;
            s->len = (uint8_t)len;
            s->tomb = false;
            memcpy(s->data, d, len);
            s->conn = c;
            return;
        }
        i = (i + 1) & (QUIC_ENDPOINT_CID_SLOTS - 1);
    }
}

/* Lookups stop at a never-used slot, so tombstones slow every miss:
 * past a quarter of the table they are cleared by re-inserting every live
 * id (an Initial flood cannot make each packet scan the whole table). */
static void cid_tomb(struct quic_endpoint *t, struct quic_endpoint_cid_slot *s)
{
    s->len = 0;
    s->tomb = true;
    s->conn = NULL;
    if (++t->cid_tombs <= QUIC_ENDPOINT_CID_SLOTS / 4)
        return;
    struct quic_endpoint_cid_slot *live = malloc(sizeof(t->cids));
    if (live == NULL)
        return; /* slower lookups until the next try */
    uint32_t n = 0;
    for (uint32_t i = 0; i < QUIC_ENDPOINT_CID_SLOTS; i++)
        if (t->cids[i].len != 0)
            live[n++] = t->cids[i];
    memset(t->cids, 0, sizeof(t->cids));
    t->cid_tombs = 0;
    for (uint32_t i = 0; i < n; i++)
        quic_endpoint_cid_add(t, live[i].data, live[i].len, live[i].conn);
    free(live);
}

void quic_endpoint_cid_remove(struct quic_endpoint *t, const uint8_t *d,
                              size_t len)
{
    struct quic_endpoint_cid_slot *s = cid_find(t, d, len);
    if (s != NULL)
        cid_tomb(t, s);
}

static void cid_remove_conn(struct quic_endpoint *t,
                            struct quic_endpoint_conn *c)
{
    for (uint32_t i = 0; i < QUIC_ENDPOINT_CID_SLOTS; i++)
        if (t->cids[i].len != 0 && t->cids[i].conn == c)
            cid_tomb(t, &t->cids[i]);
}

/* ---- connections ---- */

void quic_endpoint_mark_dirty(struct quic_endpoint_conn *c)
{
    c->dirty = true;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    return ((struct quic_endpoint_conn *)ref->user_data)->qc;
}

static struct quic_endpoint_conn *conn_alloc(struct quic_endpoint *t,
                                             bool server)
{
    if (t->conns_count >= QUIC_ENDPOINT_CONNS_MAX)
        return NULL;
    struct quic_endpoint_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    uint32_t slot = 0;
    while (t->conns[slot] != NULL)
        slot++;
    t->conns[slot] = c;
    t->conns_count++;
    c->slot = slot;
    c->t = t;
    c->server = server;
    c->peer = QUIC_ENDPOINT_PEER_NONE;
    c->conn_ref.get_conn = get_conn;
    c->conn_ref.user_data = c;
    c->drop = QUIC_DROP_BAD_INITIAL;
    c->expiry = UINT64_MAX;
    c->stalled_since = UINT64_MAX;
    return c;
}

static void conn_free(struct quic_endpoint_conn *c)
{
    struct quic_endpoint *t = c->t;
    cid_remove_conn(t, c);
    while (c->streams != NULL)
        quic_endpoint_stream_free(c->streams);
    if (c->qc != NULL)
        ngtcp2_conn_del(c->qc);
    if (c->tls != NULL)
        gnutls_deinit(c->tls);
    if (c->peer != QUIC_ENDPOINT_PEER_NONE && t->by_peer[c->peer] == c)
        t->by_peer[c->peer] = NULL;
    if (c->state == QUIC_ENDPOINT_UP && t->tot.conns_up > 0)
        t->tot.conns_up--;
    /* An inbound handshake that ends neither accepted nor refused. */
    if (c->server && !c->completed && !c->refused)
        t->tot.initials_dropped[c->drop]++;
    t->conns[c->slot] = NULL;
    t->conns_count--;
    t->tot.conns_closed++;
    free(c->pend);
    free(c);
}

/* Forgets c; tells the owner when it mattered (an up connection is down,
 * a dial failed). */
static void conn_drop(struct quic_endpoint_conn *c, int reason, bool notify)
{
    struct quic_endpoint *t = c->t;
    uint32_t peer = c->peer;
    bool was_up = c->state == QUIC_ENDPOINT_UP;
    bool owned = peer != QUIC_ENDPOINT_PEER_NONE && t->by_peer[peer] == c;
    bool dialling = !c->server && !was_up && owned;
    if (owned)
        t->by_peer[peer] = NULL;
    conn_free(c);
    if (!notify)
        return;
    if (was_up && owned)
        t->cbs.peer_down(t->cbs.ctx, peer, reason);
    else if (dialling)
        t->cbs.dial_failed(t->cbs.ctx, peer, reason);
}

/* Whether path is c's current one. */
static bool path_is(const struct quic_endpoint_conn *c, const ngtcp2_path *path)
{
    return path->remote.addrlen == c->remote_len &&
           path->local.addrlen == c->local_len &&
           memcmp(path->remote.addr, &c->remote, c->remote_len) == 0 &&
           memcmp(path->local.addr, &c->local, c->local_len) == 0;
}

/* c's packets go along path from now on. */
static void set_path(struct quic_endpoint_conn *c, const ngtcp2_path *path)
{
    if (path->remote.addrlen > sizeof(c->remote) ||
        path->local.addrlen > sizeof(c->local) || path->remote.addrlen == 0)
        return;
    memcpy(&c->remote, path->remote.addr, path->remote.addrlen);
    c->remote_len = (socklen_t)path->remote.addrlen;
    memcpy(&c->local, path->local.addr, path->local.addrlen);
    c->local_len = (socklen_t)path->local.addrlen;
}

/* The path c's packets take. */
static struct quic_path path_of(const struct quic_endpoint_conn *c)
{
    return (struct quic_path){(const struct sockaddr *)&c->local, c->local_len,
                              (const struct sockaddr *)&c->remote,
                              c->remote_len};
}

static void send_raw(struct quic_endpoint_conn *c, const uint8_t *buf,
                     size_t len, size_t seg)
{
    const struct quic_path path = path_of(c);
    ssize_t n = c->t->env.send(c->t->env.ctx, &path, buf, len, seg);
    if (n >= 0) {
        c->t->tot.udp_bytes_out += (uint64_t)n;
        c->t->tot.udp_datagrams_out += ((uint64_t)n + seg - 1) / seg;
    }
}

/* Sends a CONNECTION_CLOSE (best effort) and forgets c. */
static void conn_close_now(struct quic_endpoint_conn *c,
                           ngtcp2_connection_close_error *e, int reason,
                           bool notify)
{
    if (c->qc != NULL && !ngtcp2_conn_is_in_closing_period(c->qc) &&
        !ngtcp2_conn_is_in_draining_period(c->qc)) {
        uint8_t buf[QUIC_ENDPOINT_PKT_BYTES];
        ngtcp2_path_storage ps;
        ngtcp2_path_storage_zero(&ps);
        ngtcp2_pkt_info pi = {0};
        ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
            c->qc, &ps.path, &pi, buf, sizeof(buf), e, c->t->now);
        if (n > 0) {
            if (!path_is(c, &ps.path))
                set_path(c, &ps.path);
            send_raw(c, buf, (size_t)n, (size_t)n);
        }
    }
    conn_drop(c, reason, notify);
}

static void conn_close_app(struct quic_endpoint_conn *c, int reason,
                           bool notify)
{
    ngtcp2_connection_close_error e;
    ngtcp2_connection_close_error_default(&e);
    uint64_t code =
        reason == 0 ? 0 : QUIC_ENDPOINT_APP_ERR_BASE + (uint64_t)(-reason);
    const char *phrase = c->close_phrase;
    ngtcp2_connection_close_error_set_application_error(
        &e, code, (const uint8_t *)phrase, phrase != NULL ? strlen(phrase) : 0);
    conn_close_now(c, &e, reason, notify);
}

static void fill_settings(struct quic_endpoint *t, ngtcp2_settings *s,
                          ngtcp2_transport_params *p)
{
    ngtcp2_settings_default(s);
    s->initial_ts = t->now;
    s->rand_ctx.native_handle = t;
    s->handshake_timeout = t->limits.dial_timeout_ns;
    /* BBR, not cubic: with random loss on a long path (the simulator's
     * quic model, 80 ms RTT and 0.5 % loss) cubic's window collapses and
     * a 4 MiB artifact took 10-16 s, against 2 s with BBR; on loopback
     * both move bulk data at the same rate. (BBR2 of ngtcp2 0.12 was
     * slower on loopback.) */
    s->cc_algo = NGTCP2_CC_ALGO_BBR;
    s->max_window = t->limits.conn_window_bytes * 4;
    s->max_stream_window = t->limits.stream_window_bytes * 4;
    ngtcp2_transport_params_default(p);
    p->initial_max_data = t->limits.conn_window_bytes;
    p->initial_max_stream_data_bidi_local = t->limits.stream_window_bytes;
    p->initial_max_stream_data_bidi_remote = t->limits.stream_window_bytes;
    p->initial_max_stream_data_uni = 0;
    p->initial_max_streams_bidi = t->limits.streams_per_peer;
    p->initial_max_streams_uni = 0;
    p->max_idle_timeout = t->limits.idle_timeout_ns;
}

static int conn_start_tls(struct quic_endpoint_conn *c)
{
    if (quic_tls_session_new(c->t->tls, c->server, &c->conn_ref,
                             quic_endpoint_stream_verify_peer, &c->tls) != 0)
        return P2P_ERR_INTERNAL;
    ngtcp2_conn_set_tls_native_handle(c->qc, c->tls);
    if (c->t->limits.keepalive_ns > 0)
        ngtcp2_conn_set_keep_alive_timeout(c->qc, c->t->limits.keepalive_ns);
    return 0;
}

/* ---- writing ---- */

/* Whether c is stalled: data waits to be sent, the congestion window is
 * full and ngtcp2 has no loss-detection timer, so nothing of ours will
 * ever retransmit or probe; only an ACK from the peer could move it.
 * ngtcp2 0.12 gets there after a server's peer changes address (a NAT
 * rebinding) while the server's packets are being lost: it validates the
 * new path with a new path's congestion window, smaller than the lost
 * packets it still counts in flight, and the timer it cancelled at the
 * new path's anti-amplification limit is re-armed only by sending an
 * ack-eliciting packet, which the full window forbids. The connection
 * still looks alive (the peer's packets arrive and are acknowledged)
 * while every message to the peer waits until it times out. */
static bool conn_stalled(struct quic_endpoint_conn *c)
{
    if (c->state != QUIC_ENDPOINT_UP ||
        (c->small.head == NULL && c->large.head == NULL) ||
        ngtcp2_conn_get_cwnd_left(c->qc) > 0)
        return false;
    ngtcp2_conn_stat st;
    ngtcp2_conn_get_conn_stat(c->qc, &st);
    return st.loss_detection_timer == UINT64_MAX;
}

static void rearm(struct quic_endpoint_conn *c)
{
    ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(c->qc);
    if (!c->server && c->state != QUIC_ENDPOINT_UP && c->dial_deadline < expiry)
        expiry = c->dial_deadline;
    if (!conn_stalled(c)) {
        c->stalled_since = UINT64_MAX;
    } else {
        if (c->stalled_since == UINT64_MAX)
            c->stalled_since = c->t->now;
        if (c->stalled_since + QUIC_ENDPOINT_STALL_NS < expiry)
            expiry = c->stalled_since + QUIC_ENDPOINT_STALL_NS;
    }
    c->expiry = expiry;
}

/* Sends the packets the socket refused earlier; false while it still
 * refuses. */
static bool flush_pending(struct quic_endpoint_conn *c)
{
    if (c->pend_len == 0)
        return true;
    const struct quic_path path = path_of(c);
    ssize_t n =
        c->t->env.send(c->t->env.ctx, &path, c->pend, c->pend_len, c->pend_seg);
    if (n < 0) {
        c->pend_len = 0; /* a real socket error: QUIC retransmits */
        return true;
    }
    c->t->tot.udp_bytes_out += (uint64_t)n;
    memmove(c->pend, c->pend + n, c->pend_len - (size_t)n);
    c->pend_len -= (size_t)n;
    if (c->pend_len == 0)
        return true;
    c->t->blocked = true;
    return false;
}

/* Sends buf[0..len) (packets of seg bytes); keeps what the socket
 * refuses. */
static bool send_batch(struct quic_endpoint_conn *c, const uint8_t *buf,
                       size_t len, size_t seg)
{
    const struct quic_path path = path_of(c);
    ssize_t n = c->t->env.send(c->t->env.ctx, &path, buf, len, seg);
    if (n < 0)
        return true; /* dropped: QUIC's loss recovery resends */
    c->t->tot.udp_bytes_out += (uint64_t)n;
    c->t->tot.udp_datagrams_out += ((uint64_t)n + seg - 1) / seg;
    if ((size_t)n == len)
        return true;
    size_t rest = len - (size_t)n;
    uint8_t *p = realloc(c->pend, rest);
    if (p == NULL)
        return true;
    memcpy(p, buf + n, rest);
    c->pend = p;
    c->pend_len = rest;
    c->pend_seg = seg;
    c->t->blocked = true;
    return false;
}

static void handle_fatal(struct quic_endpoint_conn *c, int rv);

/* What s has not yet sent, as up to two pieces: the rest of its head and
 * of its body. Returns how many. */
static size_t unsent(const struct quic_endpoint_stream *s, ngtcp2_vec *vec)
{
    size_t body_len = s->body != NULL ? s->body->len : 0;
    size_t head_len = s->len - body_len, n = 0;
    if (s->sent < head_len)
        vec[n++] =
            (ngtcp2_vec){.base = s->buf + s->sent, .len = head_len - s->sent};
    size_t body_sent = s->sent > head_len ? s->sent - head_len : 0;
    if (body_sent < body_len)
        vec[n++] = (ngtcp2_vec){.base = s->body->bytes + body_sent,
                                .len = body_len - body_sent};
    return n;
}

/* Whether pacing lets c send its next burst within the loop's timer
 * resolution, after update_pkt_tx_time at ts: waiting for a timer would
 * round a shorter gap up to a whole tick and leave the congestion window
 * unused (and a window never used never grows). */
static bool next_burst_due(struct quic_endpoint_conn *c, uint64_t ts)
{
    ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
    uint64_t next = ngtcp2_conn_get_expiry(c->qc);
    return next <= ts + c->t->limits.timer_tick_ns;
}

/* Writes what c has to send: bursts of the send quantum, as GSO batches of
 * equal-sized packets, back to back while pacing allows the next within a
 * timer tick (at most QUIC_ENDPOINT_BURSTS_PER_WRITE). */
static void conn_write(struct quic_endpoint_conn *c)
{
    struct quic_endpoint *t = c->t;
    c->dirty = false;
    if (!flush_pending(c))
        return;
    quic_endpoint_stream_prepare(c);
    uint64_t ts = t->now;
    size_t maxpl = ngtcp2_conn_get_max_tx_udp_payload_size(c->qc);
    if (maxpl > QUIC_ENDPOINT_PKT_BYTES)
        maxpl = QUIC_ENDPOINT_PKT_BYTES;
    size_t burst = ngtcp2_conn_get_send_quantum(c->qc) / maxpl;
    if (burst < 1)
        burst = 1;
    size_t off = 0, seg = 0, in_batch = 0, sent = 0;
    unsigned bursts = 1;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    for (;;) {
        struct quic_endpoint_stream *s =
            c->small.head != NULL ? c->small.head : c->large.head;
        ngtcp2_vec vec[2];
        size_t nvec = 0;
        int64_t sid = -1;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        if (s != NULL) {
            sid = s->sid;
            nvec = unsent(s, vec);
            flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize ndata = -1;
        ngtcp2_pkt_info pi = {0};
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(
            c->qc, &ps.path, &pi, t->txbuf + off, maxpl, &ndata, flags, sid,
            nvec ? vec : NULL, nvec, ts);
        if (s != NULL && ndata >= 0) {
            s->sent += (size_t)ndata;
            if (c->peer != QUIC_ENDPOINT_PEER_NONE) {
                t->peers[c->peer].bytes_sent += (uint64_t)ndata;
                t->tot.bytes_sent[s->tx_traffic] += (uint64_t)ndata;
            }
            if (s->sent == s->len) {
                /* With FIN: everything of this stream is written. */
                s->fin_sent = true;
                quic_endpoint_stream_dequeue_head(s);
            }
        }
        if (n == NGTCP2_ERR_WRITE_MORE)
            continue;
        if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED ||
            n == NGTCP2_ERR_STREAM_SHUT_WR ||
            n == NGTCP2_ERR_STREAM_NOT_FOUND) {
            /* Off the queue until credit returns (or for good). */
            quic_endpoint_stream_dequeue_head(s);
            s->blocked = n == NGTCP2_ERR_STREAM_DATA_BLOCKED;
            if (n != NGTCP2_ERR_STREAM_DATA_BLOCKED && s->core_open &&
                c->state == QUIC_ENDPOINT_UP) {
                /* The peer asked us to stop sending (STOP_SENDING): core
                 * hears of it as a reset. */
                s->core_open = false;
                t->peers[c->peer].streams_reset_received++;
                t->cbs.stream_reset(t->cbs.ctx, c->peer, s->core_id,
                                    s->inbound);
            }
            continue;
        }
        if (n < 0) {
            handle_fatal(c, (int)n);
            return;
        }
        if (n == 0)
            break;
        /* Round robin among small streams (see struct quic_endpoint_queue). */
        if (s != NULL && s->queued)
            quic_endpoint_stream_rotate(s);
        size_t plen = (size_t)n;
        /* ngtcp2 names each packet's path: after the peer's address
         * changed (a NAT rebinding it validated) it is the new one, and
         * path validation probes go where they probe. */
        if (!path_is(c, &ps.path)) {
            if (in_batch > 0) {
                if (!send_batch(c, t->txbuf, off, seg))
                    goto out;
                memmove(t->txbuf, t->txbuf + off, plen);
                off = 0;
                in_batch = 0;
            }
            set_path(c, &ps.path);
        }
        if (in_batch == 0) {
            seg = plen;
        } else if (plen > seg) {
            /* GSO needs equal sizes but a shorter last one: send what we
             * have, restart the batch with this packet. */
            if (!send_batch(c, t->txbuf, off, seg))
                goto out;
            memmove(t->txbuf, t->txbuf + off, plen);
            off = 0;
            in_batch = 0;
            seg = plen;
        }
        off += plen;
        in_batch++;
        sent++;
        if (plen < seg || in_batch == QUIC_ENDPOINT_SEND_SEGMENTS_MAX ||
            sent >= burst) {
            if (!send_batch(c, t->txbuf, off, seg))
                goto out;
            off = 0;
            in_batch = 0;
        }
        if (sent >= burst) {
            bool handshake = ngtcp2_conn_get_handshake_completed(c->qc);
            if (!handshake || bursts == QUIC_ENDPOINT_BURSTS_PER_WRITE ||
                !next_burst_due(c, ts))
                break;
            bursts++;
            sent = 0;
        }
    }
    if (in_batch > 0)
        (void)send_batch(c, t->txbuf, off, seg);
out:
    /* Pacing only once the handshake is done: before, a pacing gap
     * computed from the initial RTT stalls the handshake for a PTO. The
     * expiry includes the pacing time, so the timer sends the next
     * burst. */
    if (ngtcp2_conn_get_handshake_completed(c->qc))
        ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
    rearm(c);
}

/* What the peer said as it closed c (its CONNECTION_CLOSE): the reason
 * phrase goes to the peer's stats (p2p-replica probe reports it), and the
 * reason for our owner: P2P_ERR_REFUSED for a refused handshake (a TLS
 * alert), the peer's own reason for an application close, else
 * P2P_ERR_CONN_LOST. */
static int remote_close(struct quic_endpoint_conn *c)
{
    ngtcp2_connection_close_error e;
    ngtcp2_conn_get_connection_close_error(c->qc, &e);
    int reason = P2P_ERR_CONN_LOST;
    if (e.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT &&
        (e.error_code & ~(uint64_t)0xff) == NGTCP2_CRYPTO_ERROR)
        reason = P2P_ERR_REFUSED;
    else if (e.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION &&
             e.error_code > QUIC_ENDPOINT_APP_ERR_BASE &&
             e.error_code <
                 QUIC_ENDPOINT_APP_ERR_BASE - (uint64_t)P2P_ERR_FATAL)
        reason = -(int)(e.error_code - QUIC_ENDPOINT_APP_ERR_BASE);
    if (c->peer < QUIC_ENDPOINT_PEERS_MAX) {
        char *out = c->t->peers[c->peer].remote_close;
        size_t n = 0;
        for (size_t i = 0; e.reason != NULL && i < e.reasonlen &&
                           n + 1 < QUIC_REMOTE_CLOSE_BYTES;
             i++)
            if (e.reason[i] >= 0x20 && e.reason[i] < 0x7f)
                out[n++] = (char)e.reason[i];
        out[n] = '\0';
    }
    return reason;
}

static void handle_fatal(struct quic_endpoint_conn *c, int rv)
{
    struct quic_endpoint *t = c->t;
    if ((rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) &&
        c->drop != QUIC_DROP_BAD_INITIAL)
        c->drop = QUIC_DROP_TIMEOUT;
    if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_DROP_CONN ||
        rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
        conn_drop(c,
                  rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT ? P2P_ERR_TIMEOUT
                  : rv == NGTCP2_ERR_DRAINING        ? remote_close(c)
                                                     : P2P_ERR_CONN_LOST,
                  true);
        return;
    }
    ngtcp2_connection_close_error e;
    ngtcp2_connection_close_error_default(&e);
    if (rv == NGTCP2_ERR_CRYPTO) {
        uint8_t alert = ngtcp2_conn_get_tls_alert(c->qc);
        if (!c->refused) { /* refusals by the verify hook are counted */
            t->tot.refusals[QUIC_REFUSE_TLS]++;
            c->refused = true;
            c->refusal = QUIC_REFUSE_TLS;
        }
        /* The refusal's name as the reason phrase: the refused side can
         * tell "not a member" from "duplicate identity" (probe). */
        const char *why = quic_peer_stats_refusal_name(c->refusal);
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &e, alert, (const uint8_t *)why, strlen(why));
    } else {
        ngtcp2_connection_close_error_set_transport_error_liberr(&e, rv, NULL,
                                                                 0);
    }
    conn_close_now(
        c, &e, rv == NGTCP2_ERR_CRYPTO ? P2P_ERR_REFUSED : P2P_ERR_CONN_LOST,
        true);
}

static void conn_on_expiry(struct quic_endpoint_conn *c, uint64_t now)
{
    if (!c->server && c->state != QUIC_ENDPOINT_UP && now >= c->dial_deadline) {
        /* Not accepted in time (ngtcp2's own handshake timeout stops at
         * our side's completion, before the server has judged us). */
        conn_close_app(c, P2P_ERR_TIMEOUT, true);
        return;
    }
    if (c->stalled_since != UINT64_MAX &&
        now >= c->stalled_since + QUIC_ENDPOINT_STALL_NS && conn_stalled(c)) {
        /* Closing is the only way out (see conn_stalled): core dials
         * again and sends what failed on a fresh connection. */
        c->t->tot.conns_stalled++;
        quic_endpoint_warn(c->t, now,
                           "connection to peer %" PRIu32
                           " stalled (window full, no loss timer): closed",
                           c->peer);
        c->close_phrase = "stalled";
        conn_close_app(c, P2P_ERR_CONN_LOST, true);
        return;
    }
    int rv = ngtcp2_conn_handle_expiry(c->qc, now);
    if (rv != 0) {
        handle_fatal(c, rv);
        return;
    }
    conn_write(c);
}

/* Writes every dirty connection, closes those asked to close: everything
 * queued in callbacks goes out at once. True when some are still dirty. */
bool quic_endpoint_flush(struct quic_endpoint *t, uint64_t now)
{
    t->now = now;
    /* Callbacks during a pass can dirty connections already passed (a
     * peer down makes core dial another): a few passes settle it. */
    for (int pass = 0; pass < QUIC_ENDPOINT_FLUSH_PASSES; pass++) {
        bool again = false;
        /* Round robin from where the owner last said "full": the
         * connections after it write first, so that a thin uplink is
         * shared and no peer is starved into its idle timeout. */
        for (uint32_t k = 0; k < QUIC_ENDPOINT_CONNS_MAX && !t->blocked; k++) {
            uint32_t i = (t->flush_from + k) % QUIC_ENDPOINT_CONNS_MAX;
            struct quic_endpoint_conn *c = t->conns[i];
            if (c == NULL)
                continue;
            if (c->close_pending) {
                conn_close_app(c, c->close_reason, false);
                again = true;
            } else if (c->dirty) {
                conn_write(c);
                again = true;
                if (t->blocked)
                    t->flush_from = (i + 1) % QUIC_ENDPOINT_CONNS_MAX;
            }
        }
        if (!again || t->blocked)
            return false;
    }
    return true;
}

uint64_t quic_endpoint_next_expiry(const struct quic_endpoint *t)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0, seen = 0;
         i < QUIC_ENDPOINT_CONNS_MAX && seen < t->conns_count; i++) {
        const struct quic_endpoint_conn *c = t->conns[i];
        if (c == NULL)
            continue;
        seen++;
        /* A connection whose packets the owner refused waits for
         * quic_endpoint_writable, not for its timers: they would find it
         * unable to write, again and again (a busy loop). */
        if (c->pend_len == 0 && c->expiry < next)
            next = c->expiry;
    }
    return next;
}

void quic_endpoint_on_expiry(struct quic_endpoint *t, uint64_t now)
{
    t->now = now;
    for (uint32_t i = 0; i < QUIC_ENDPOINT_CONNS_MAX; i++) {
        struct quic_endpoint_conn *c = t->conns[i];
        if (c != NULL && c->pend_len == 0 && c->expiry <= now)
            conn_on_expiry(c, now); /* may free c */
    }
}

void quic_endpoint_writable(struct quic_endpoint *t)
{
    t->blocked = false;
    for (uint32_t i = 0; i < QUIC_ENDPOINT_CONNS_MAX; i++)
        if (t->conns[i] != NULL && t->conns[i]->pend_len > 0)
            t->conns[i]->dirty = true;
}

bool quic_endpoint_blocked(const struct quic_endpoint *t)
{
    return t->blocked;
}

/* ---- reading ---- */

static struct quic_endpoint_conn *accept_conn(struct quic_endpoint *t,
                                              const struct sockaddr *local,
                                              socklen_t local_len,
                                              const struct sockaddr *remote,
                                              socklen_t remote_len,
                                              const uint8_t *pkt, size_t len)
{
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, pkt, len) != 0) {
        t->tot.initials_dropped[QUIC_DROP_NOT_INITIAL]++;
        return NULL;
    }
    struct quic_endpoint_conn *c = conn_alloc(t, true);
    if (c == NULL) {
        t->tot.refusals[QUIC_REFUSE_LIMIT]++;
        return NULL;
    }
    memcpy(&c->local, local, local_len);
    c->local_len = local_len;
    memcpy(&c->remote, remote, remote_len);
    c->remote_len = remote_len;
    ngtcp2_settings s;
    ngtcp2_transport_params p;
    fill_settings(t, &s, &p);
    p.original_dcid = hd.dcid;
    p.stateless_reset_token_present = 1;
    ngtcp2_cid scid;
    scid.datalen = QUIC_ENDPOINT_CID_LEN;
    quic_endpoint_rand(t, scid.data, QUIC_ENDPOINT_CID_LEN);
    ngtcp2_path path = {
        .local = {(ngtcp2_sockaddr *)&c->local, c->local_len},
        .remote = {(ngtcp2_sockaddr *)&c->remote, c->remote_len},
    };
    /* The token of our first id, derived like every other one. */
    if (quic_endpoint_reset_token(t, scid.data, scid.datalen,
                                  p.stateless_reset_token) != 0 ||
        ngtcp2_conn_server_new(&c->qc, &hd.scid, &scid, &path, hd.version,
                               &t->server_cb, &s, &p, NULL, c) != 0 ||
        conn_start_tls(c) != 0) {
        conn_free(c);
        return NULL;
    }
    quic_endpoint_cid_add(t, scid.data, scid.datalen, c);
    quic_endpoint_cid_add(t, hd.dcid.data, hd.dcid.datalen, c);
    return c;
}

/* Whether one of c's peer-given reset tokens ends pkt. */
static bool conn_has_reset_token(struct quic_endpoint_conn *c,
                                 const uint8_t *pkt, size_t len)
{
    const uint8_t *token = pkt + len - NGTCP2_STATELESS_RESET_TOKENLEN;
    size_t n = ngtcp2_conn_get_num_active_dcid(c->qc);
    if (n == 0)
        return false; /* handshake not done: ngtcp2 takes no reset */
    if (n > QUIC_ENDPOINT_DCID_TOKENS_MAX)
        return true; /* let ngtcp2 judge */
    ngtcp2_cid_token ids[QUIC_ENDPOINT_DCID_TOKENS_MAX];
    n = ngtcp2_conn_get_active_dcid(c->qc, ids);
    for (size_t i = 0; i < n && i < QUIC_ENDPOINT_DCID_TOKENS_MAX; i++)
        if (ids[i].token_present &&
            memcmp(ids[i].token, token, NGTCP2_STATELESS_RESET_TOKENLEN) == 0)
            return true;
    return false;
}

/* A short packet for no id of ours may be a stateless reset from a peer
 * that lost one of our connections (it restarted): hands it to the
 * connection with that peer whose token it carries, and ngtcp2 drops the
 * connection (NGTCP2_ERR_DRAINING). True when some connection took it. */
static bool take_reset(struct quic_endpoint *t, const ngtcp2_path *path,
                       const struct sockaddr_storage *remote,
                       const uint8_t *pkt, size_t len, uint64_t now)
{
    if (len <
        NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN)
        return false;
    for (uint32_t i = 0; i < QUIC_ENDPOINT_CONNS_MAX; i++) {
        struct quic_endpoint_conn *c = t->conns[i];
        if (c == NULL || c->qc == NULL ||
            !quic_endpoint_addr_eq(&c->remote, remote) ||
            !conn_has_reset_token(c, pkt, len))
            continue;
        ngtcp2_pkt_info pi = {0};
        int rv = ngtcp2_conn_read_pkt(c->qc, path, &pi, pkt, len, now);
        if (rv != 0)
            handle_fatal(c, rv);
        return true;
    }
    return false;
}

/* Takes one reset from the budget (QUIC_ENDPOINT_RESETS_PER_S, refilled
 * continuously). */
static bool reset_budget_take(struct quic_endpoint *t, uint64_t now)
{
    const uint64_t every_ns = 1000000000ull / QUIC_ENDPOINT_RESETS_PER_S;
    if (now > t->reset_refill_ns) {
        uint64_t grown = (now - t->reset_refill_ns) / every_ns;
        if (t->reset_budget + grown >= QUIC_ENDPOINT_RESETS_PER_S) {
            t->reset_budget = QUIC_ENDPOINT_RESETS_PER_S;
            t->reset_refill_ns = now;
        } else {
            t->reset_budget += (uint32_t)grown;
            t->reset_refill_ns += grown * every_ns;
        }
    }
    if (t->reset_budget == 0)
        return false;
    t->reset_budget--;
    return true;
}

/* Answers a short packet for an unknown id with a stateless reset: one
 * byte shorter than it (at most QUIC_ENDPOINT_SR_BYTES_MAX), within the
 * budget. */
static void send_reset(struct quic_endpoint *t, const struct sockaddr *local,
                       socklen_t local_len, const struct sockaddr *remote,
                       socklen_t remote_len, const uint8_t *dcid,
                       size_t dcid_len, size_t trigger_len, uint64_t now)
{
    if (trigger_len <= QUIC_ENDPOINT_SR_BYTES_MIN) {
        t->tot.resets_unsent[QUIC_RESET_UNSENT_SMALL]++;
        return;
    }
    if (!reset_budget_take(t, now)) {
        t->tot.resets_unsent[QUIC_RESET_UNSENT_RATE]++;
        return;
    }
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
    if (quic_endpoint_reset_token(t, dcid, dcid_len, token) != 0)
        return;
    size_t n = trigger_len - 1 < QUIC_ENDPOINT_SR_BYTES_MAX
                   ? trigger_len - 1
                   : QUIC_ENDPOINT_SR_BYTES_MAX;
    uint8_t rnd[QUIC_ENDPOINT_SR_BYTES_MAX], buf[QUIC_ENDPOINT_SR_BYTES_MAX];
    size_t rnd_len = n - NGTCP2_STATELESS_RESET_TOKENLEN;
    quic_endpoint_rand(t, rnd, rnd_len);
    ngtcp2_ssize w =
        ngtcp2_pkt_write_stateless_reset(buf, n, token, rnd, rnd_len);
    if (w <= 0)
        return;
    const struct quic_path path = {local, local_len, remote, remote_len};
    ssize_t sent = t->env.send(t->env.ctx, &path, buf, (size_t)w, (size_t)w);
    if (sent > 0) {
        t->tot.resets_sent++;
        t->tot.udp_datagrams_out++;
        t->tot.udp_bytes_out += (uint64_t)sent;
    }
}

void quic_endpoint_recv(struct quic_endpoint *t, uint64_t now,
                        const struct quic_path *p, const uint8_t *pkt,
                        size_t len)
{
    const struct sockaddr *local = p->local, *remote = p->remote;
    socklen_t local_len = p->local_len, remote_len = p->remote_len;
    t->now = now;
    t->tot.udp_datagrams_in++;
    t->tot.udp_bytes_in += len;
    /* An empty datagram is legal UDP, and ngtcp2 asserts a non-empty
     * packet. */
    if (len == 0) {
        t->tot.initials_dropped[QUIC_DROP_MALFORMED]++;
        return;
    }
    ngtcp2_version_cid vc;
    int rv =
        ngtcp2_pkt_decode_version_cid(&vc, pkt, len, QUIC_ENDPOINT_CID_LEN);
    if (rv != 0) {
        t->tot.initials_dropped[rv == NGTCP2_ERR_VERSION_NEGOTIATION
                                    ? QUIC_DROP_VERSION
                                    : QUIC_DROP_MALFORMED]++;
        return;
    }
    ngtcp2_path path = {
        .local = {(ngtcp2_sockaddr *)local, local_len},
        .remote = {(ngtcp2_sockaddr *)remote, remote_len},
    };
    struct quic_endpoint_cid_slot *slot = cid_find(t, vc.dcid, vc.dcidlen);
    struct quic_endpoint_conn *c = slot != NULL ? slot->conn : NULL;
    if (c == NULL && (pkt[0] & QUIC_ENDPOINT_LONG_HEADER_BIT) == 0) {
        struct sockaddr_storage from;
        memcpy(&from, remote, remote_len);
        if (!take_reset(t, &path, &from, pkt, len, now))
            send_reset(t, local, local_len, remote, remote_len, vc.dcid,
                       vc.dcidlen, len, now);
        return;
    }
    if (c == NULL) {
        c = accept_conn(t, local, local_len, remote, remote_len, pkt, len);
        if (c == NULL)
            return;
    }
    ngtcp2_pkt_info pi = {0};
    rv = ngtcp2_conn_read_pkt(c->qc, &path, &pi, pkt, len, now);
    if (rv != 0) {
        handle_fatal(c, rv);
        return;
    }
    c->last_rx_ns = now;
    if (c->drop == QUIC_DROP_BAD_INITIAL)
        c->drop = QUIC_DROP_ABORTED; /* its first packet was good */
    c->dirty = true;
}

/* ---- the public calls ---- */

int quic_endpoint_new(const struct quic_endpoint_limits *limits,
                      struct quic_tls *tls, const struct quic_endpoint_cbs *cbs,
                      const struct quic_endpoint_env *env, uint64_t now,
                      struct quic_endpoint **out, char *err, size_t err_len)
{
    struct quic_endpoint *t = calloc(1, sizeof(*t));
    if (t != NULL)
        t->txbuf = malloc((size_t)QUIC_ENDPOINT_SEND_SEGMENTS_MAX *
                          QUIC_ENDPOINT_PKT_BYTES);
    if (t == NULL || t->txbuf == NULL) {
        free(t);
        snprintf(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    t->now = now;
    t->tls = tls;
    t->cbs = *cbs;
    t->env = *env;
    t->limits = *limits;
    quic_tls_reset_secret(tls, t->reset_secret);
    t->reset_budget = QUIC_ENDPOINT_RESETS_PER_S;
    t->reset_refill_ns = now;
    quic_endpoint_stream_callbacks(&t->client_cb, &t->server_cb);
    for (uint32_t i = 0; i < QUIC_ENDPOINT_PEERS_MAX; i++) {
        t->peers[i].index = i;
        t->peers[i].conn_state = "idle";
    }
    *out = t;
    return 0;
}

void quic_endpoint_del(struct quic_endpoint *t, uint64_t now)
{
    if (t == NULL)
        return;
    t->now = now;
    for (uint32_t i = 0; i < QUIC_ENDPOINT_CONNS_MAX; i++)
        if (t->conns[i] != NULL)
            conn_close_app(t->conns[i], 0, false);
    free(t->txbuf);
    gnutls_memset(t->reset_secret, 0, sizeof(t->reset_secret));
    free(t);
}

int quic_endpoint_dial(struct quic_endpoint *t, uint64_t now, uint32_t peer,
                       const struct quic_path *path,
                       const uint8_t key_id[QUIC_KEY_ID_LEN])
{
    t->now = now;
    if (path->remote_len > sizeof(struct sockaddr_storage) ||
        path->local_len > sizeof(struct sockaddr_storage))
        return P2P_ERR_INVALID_ARG;
    if (peer >= QUIC_ENDPOINT_PEERS_MAX)
        return P2P_ERR_INVALID_ARG;
    if (t->by_peer[peer] != NULL)
        return P2P_ERR_EXISTS;
    struct quic_endpoint_conn *c = conn_alloc(t, false);
    if (c == NULL)
        return P2P_ERR_LIMIT;
    c->peer = peer;
    c->dial_deadline = now + t->limits.dial_timeout_ns;
    memcpy(c->expect_key, key_id, QUIC_KEY_ID_LEN);
    memcpy(&c->remote, path->remote, path->remote_len);
    c->remote_len = path->remote_len;
    memcpy(&c->local, path->local, path->local_len);
    c->local_len = path->local_len;
    ngtcp2_settings s;
    ngtcp2_transport_params p;
    fill_settings(t, &s, &p);
    ngtcp2_cid dcid, scid;
    dcid.datalen = QUIC_ENDPOINT_CID_LEN;
    quic_endpoint_rand(t, dcid.data, QUIC_ENDPOINT_CID_LEN);
    scid.datalen = QUIC_ENDPOINT_CID_LEN;
    quic_endpoint_rand(t, scid.data, QUIC_ENDPOINT_CID_LEN);
    ngtcp2_path qpath = {
        .local = {(ngtcp2_sockaddr *)&c->local, c->local_len},
        .remote = {(ngtcp2_sockaddr *)&c->remote, c->remote_len},
    };
    if (ngtcp2_conn_client_new(&c->qc, &dcid, &scid, &qpath,
                               NGTCP2_PROTO_VER_V1, &t->client_cb, &s, &p, NULL,
                               c) != 0 ||
        conn_start_tls(c) != 0) {
        c->peer = QUIC_ENDPOINT_PEER_NONE;
        conn_free(c);
        return P2P_ERR_INTERNAL;
    }
    quic_endpoint_cid_add(t, scid.data, scid.datalen, c);
    t->by_peer[peer] = c;
    t->tot.conns_dialled++;
    c->dirty = true;
    return 0;
}

void quic_endpoint_close(struct quic_endpoint *t, uint32_t peer, int reason)
{
    if (peer >= QUIC_ENDPOINT_PEERS_MAX || t->by_peer[peer] == NULL)
        return;
    struct quic_endpoint_conn *c = t->by_peer[peer];
    /* No callback for it from now on; the close itself waits for the
     * flush (we may be inside one of its callbacks). */
    t->by_peer[peer] = NULL;
    if (c->state == QUIC_ENDPOINT_UP && t->tot.conns_up > 0)
        t->tot.conns_up--;
    c->state = QUIC_ENDPOINT_HANDSHAKE;
    c->peer = QUIC_ENDPOINT_PEER_NONE;
    for (struct quic_endpoint_stream *s = c->streams; s != NULL; s = s->next)
        s->core_open = false;
    c->close_pending = true;
    c->close_reason = reason;
}

static struct quic_endpoint_conn *up_conn(struct quic_endpoint *t,
                                          uint32_t peer)
{
    if (peer >= QUIC_ENDPOINT_PEERS_MAX)
        return NULL;
    struct quic_endpoint_conn *c = t->by_peer[peer];
    return c != NULL && c->state == QUIC_ENDPOINT_UP && !c->close_pending
               ? c
               : NULL;
}

static int queue_send(struct quic_endpoint_conn *c,
                      struct quic_endpoint_stream *s, const uint8_t *bytes,
                      size_t len, struct p2p_body *body)
{
    size_t total = len + (body != NULL ? body->len : 0);
    if (total > QUIC_ENDPOINT_SEND_BYTES_MAX - c->send_bytes)
        return P2P_ERR_LIMIT;
    s->buf = malloc(len > 0 ? len : 1);
    if (s->buf == NULL)
        return P2P_ERR_NOMEM;
    if (len > 0) /* bytes may be NULL then: a message that is all body */
        memcpy(s->buf, bytes, len);
    if (body != NULL)
        (void)p2p_body_hold(body, NULL, P2P_MEM_OUTBOX); /* uncharged */
    s->body = body;
    s->len = total;
    c->send_bytes += total;
    quic_endpoint_stream_set_tx(s, bytes, len);
    return 0;
}

int quic_endpoint_open(struct quic_endpoint *t, uint32_t peer,
                       uint64_t stream_id, const uint8_t *bytes, size_t len,
                       struct p2p_body *body)
{
    struct quic_endpoint_conn *c = up_conn(t, peer);
    if (c == NULL)
        return P2P_ERR_NOT_FOUND;
    struct quic_endpoint_stream *s =
        quic_endpoint_stream_new(c, false, stream_id);
    if (s == NULL)
        return P2P_ERR_NOMEM;
    int rc = queue_send(c, s, bytes, len, body);
    if (rc != 0) {
        s->core_open = false;
        quic_endpoint_stream_free(s);
        return rc;
    }
    s->waiting_id = true;
    c->opens_pending++;
    t->peers[peer].messages_sent++;
    t->tot.messages_sent++;
    quic_endpoint_mark_dirty(c);
    return 0;
}

int quic_endpoint_respond(struct quic_endpoint *t, uint32_t peer,
                          uint64_t stream_id, const uint8_t *bytes, size_t len,
                          struct p2p_body *body)
{
    struct quic_endpoint_conn *c = up_conn(t, peer);
    if (c == NULL)
        return P2P_ERR_NOT_FOUND;
    struct quic_endpoint_stream *s =
        quic_endpoint_stream_find(c, true, stream_id);
    if (s == NULL || s->buf != NULL || s->fin_sent)
        return P2P_ERR_NOT_FOUND;
    int rc = queue_send(c, s, bytes, len, body);
    if (rc != 0)
        return rc;
    /* Core is done with it once it answers; what the peer still sends on
     * it would only be dropped: stop it. */
    s->core_open = false;
    if (!s->fin_received)
        s->stop_read_pending = true;
    t->peers[peer].messages_sent++;
    t->tot.messages_sent++;
    quic_endpoint_stream_enqueue(s);
    return 0;
}

void quic_endpoint_reset(struct quic_endpoint *t, uint32_t peer,
                         uint64_t stream_id, bool inbound)
{
    struct quic_endpoint_conn *c = up_conn(t, peer);
    if (c == NULL)
        return;
    struct quic_endpoint_stream *s =
        quic_endpoint_stream_find(c, inbound, stream_id);
    if (s == NULL)
        return;
    if (!s->reset_pending)
        t->peers[peer].streams_reset_sent++;
    s->core_open = false;
    s->reset_pending = true;
    quic_endpoint_mark_dirty(c);
}

void quic_endpoint_totals(const struct quic_endpoint *t,
                          struct quic_endpoint_totals *tot)
{
    *tot = t->tot;
}

bool quic_endpoint_peer_stats(const struct quic_endpoint *t, uint32_t peer,
                              struct quic_peer_stats *out)
{
    if (peer >= QUIC_ENDPOINT_PEERS_MAX)
        return false;
    *out = t->peers[peer];
    const struct quic_endpoint_conn *c = t->by_peer[peer];
    out->conn_state = c == NULL                      ? "idle"
                      : c->state == QUIC_ENDPOINT_UP ? "up"
                                                     : "dialing";
    out->rtt_us = 0;
    if (c != NULL && c->state == QUIC_ENDPOINT_UP) {
        ngtcp2_conn_stat st;
        ngtcp2_conn_get_conn_stat(c->qc, &st);
        out->rtt_us = st.smoothed_rtt / 1000u;
    }
    return true;
}
