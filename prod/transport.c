/* The QUIC transport: connections, packets in and out, timers and the
 * public calls (see prod/transport.h; callbacks and streams are in
 * prod/transport_stream.c). */
#include "prod/transport_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "core/err.h"

/* Application error codes in CONNECTION_CLOSE: 0 = orderly, else
 * 0x100 + |P2P_ERR_*| so a peer's log tells why. */
#define PROD_TRANSPORT_APP_ERR_BASE 0x100u
/* The first bit of a QUIC packet: 1 for a long header (RFC 9000 17.2). */
#define PROD_TRANSPORT_LONG_HEADER_BIT 0x80u

uint64_t prod_transport_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void prod_transport_limits_default(struct prod_transport_limits *l)
{
    *l = (struct prod_transport_limits){
        .streams_per_peer = 1000,
        .idle_timeout_ns = 30ull * 1000000000ull,
        .keepalive_ns = 5ull * 1000000000ull,
        .dial_timeout_ns = 5ull * 1000000000ull,
        .stream_window_bytes = 16ull << 20,
        .conn_window_bytes = 64ull << 20,
    };
}

/* ---- addresses, warnings, reset tokens ---- */

bool prod_transport_addr_eq(const struct sockaddr_storage *a,
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

void prod_transport_addr_text(const struct sockaddr_storage *addr, char *out,
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

void prod_transport_warn(struct prod_transport *t, uint64_t now,
                         const char *fmt, ...)
{
    if (t->warned_ns != 0 &&
        now < t->warned_ns + PROD_TRANSPORT_WARN_INTERVAL_NS) {
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
    if (t->cbs.warn != NULL) {
        t->cbs.warn(t->cbs.ctx, msg);
        return;
    }
    char when[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ p2p-replica[transport] warn: %s\n", when,
            ts.tv_nsec / 1000000, msg);
}

int prod_transport_reset_token(const struct prod_transport *t,
                               const uint8_t *cid, size_t len,
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

static struct prod_transport_cid_slot *cid_find(struct prod_transport *t,
                                                const uint8_t *d, size_t len)
{
    uint32_t i = cid_hash(d, len) & (PROD_TRANSPORT_CID_SLOTS - 1);
    for (uint32_t probes = 0; probes < PROD_TRANSPORT_CID_SLOTS; probes++) {
        struct prod_transport_cid_slot *s = &t->cids[i];
        if (s->len == 0 && !s->tomb)
            return NULL;
        if (s->len == len && memcmp(s->data, d, len) == 0)
            return s;
        i = (i + 1) & (PROD_TRANSPORT_CID_SLOTS - 1);
    }
    return NULL;
}

void prod_transport_cid_add(struct prod_transport *t, const uint8_t *d,
                            size_t len, struct prod_transport_conn *c)
{
    if (len == 0 || len > NGTCP2_MAX_CIDLEN || cid_find(t, d, len) != NULL)
        return;
    uint32_t i = cid_hash(d, len) & (PROD_TRANSPORT_CID_SLOTS - 1);
    for (uint32_t probes = 0; probes < PROD_TRANSPORT_CID_SLOTS; probes++) {
        struct prod_transport_cid_slot *s = &t->cids[i];
        if (s->len == 0) {
            if (s->tomb && t->cid_tombs > 0)
                t->cid_tombs--;
            s->len = (uint8_t)len;
            s->tomb = false;
            memcpy(s->data, d, len);
            s->conn = c;
            return;
        }
        i = (i + 1) & (PROD_TRANSPORT_CID_SLOTS - 1);
    }
}

/* Lookups stop at a never-used slot, so tombstones slow every miss:
 * past a quarter of the table they are cleared by re-inserting every live
 * id (an Initial flood cannot make each packet scan the whole table). */
static void cid_tomb(struct prod_transport *t,
                     struct prod_transport_cid_slot *s)
{
    s->len = 0;
    s->tomb = true;
    s->conn = NULL;
    if (++t->cid_tombs <= PROD_TRANSPORT_CID_SLOTS / 4)
        return;
    struct prod_transport_cid_slot *live = malloc(sizeof(t->cids));
    if (live == NULL)
        return; /* slower lookups until the next try */
    uint32_t n = 0;
    for (uint32_t i = 0; i < PROD_TRANSPORT_CID_SLOTS; i++)
        if (t->cids[i].len != 0)
            live[n++] = t->cids[i];
    memset(t->cids, 0, sizeof(t->cids));
    t->cid_tombs = 0;
    for (uint32_t i = 0; i < n; i++)
        prod_transport_cid_add(t, live[i].data, live[i].len, live[i].conn);
    free(live);
}

void prod_transport_cid_remove(struct prod_transport *t, const uint8_t *d,
                               size_t len)
{
    struct prod_transport_cid_slot *s = cid_find(t, d, len);
    if (s != NULL)
        cid_tomb(t, s);
}

static void cid_remove_conn(struct prod_transport *t,
                            struct prod_transport_conn *c)
{
    for (uint32_t i = 0; i < PROD_TRANSPORT_CID_SLOTS; i++)
        if (t->cids[i].len != 0 && t->cids[i].conn == c)
            cid_tomb(t, &t->cids[i]);
}

/* ---- connections ---- */

void prod_transport_mark_dirty(struct prod_transport_conn *c)
{
    c->dirty = true;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    return ((struct prod_transport_conn *)ref->user_data)->qc;
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static struct prod_transport_conn *conn_alloc(struct prod_transport *t,
                                              bool server)
{
    if (t->conns_count >= PROD_TRANSPORT_CONNS_MAX)
        return NULL;
    struct prod_transport_conn *c = calloc(1, sizeof(*c));
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
    c->peer = PROD_TRANSPORT_PEER_NONE;
    c->conn_ref.get_conn = get_conn;
    c->conn_ref.user_data = c;
    c->drop = PROD_DROP_BAD_INITIAL;
    ev_init(&c->timer, conn_timer_cb);
    c->timer.data = c;
    return c;
}

static void conn_free(struct prod_transport_conn *c)
{
    struct prod_transport *t = c->t;
    ev_timer_stop(t->loop, &c->timer);
    cid_remove_conn(t, c);
    while (c->streams != NULL)
        prod_transport_stream_free(c->streams);
    if (c->qc != NULL)
        ngtcp2_conn_del(c->qc);
    if (c->tls != NULL)
        gnutls_deinit(c->tls);
    if (c->peer != PROD_TRANSPORT_PEER_NONE && t->by_peer[c->peer] == c)
        t->by_peer[c->peer] = NULL;
    if (c->state == PROD_TRANSPORT_UP && t->tot.conns_up > 0)
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
static void conn_drop(struct prod_transport_conn *c, int reason, bool notify)
{
    struct prod_transport *t = c->t;
    uint32_t peer = c->peer;
    bool was_up = c->state == PROD_TRANSPORT_UP;
    bool owned = peer != PROD_TRANSPORT_PEER_NONE && t->by_peer[peer] == c;
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

/* The path c's packets take. */
static struct prod_udp_path path_of(const struct prod_transport_conn *c)
{
    return (struct prod_udp_path){
        (const struct sockaddr *)&c->local, c->local_len,
        (const struct sockaddr *)&c->remote, c->remote_len};
}

static void send_raw(struct prod_transport_conn *c, const uint8_t *buf,
                     size_t len, size_t seg)
{
    const struct prod_udp_path path = path_of(c);
    ssize_t n = prod_udp_send(c->t->udp, &path, buf, len, seg);
    if (n >= 0) {
        c->t->tot.udp_bytes_out += (uint64_t)n;
        c->t->tot.udp_datagrams_out += ((uint64_t)n + seg - 1) / seg;
    }
}

/* Sends a CONNECTION_CLOSE (best effort) and forgets c. */
static void conn_close_now(struct prod_transport_conn *c,
                           ngtcp2_connection_close_error *e, int reason,
                           bool notify)
{
    if (c->qc != NULL && !ngtcp2_conn_is_in_closing_period(c->qc) &&
        !ngtcp2_conn_is_in_draining_period(c->qc)) {
        uint8_t buf[PROD_TRANSPORT_PKT_BYTES];
        ngtcp2_path_storage ps;
        ngtcp2_path_storage_zero(&ps);
        ngtcp2_pkt_info pi = {0};
        ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
            c->qc, &ps.path, &pi, buf, sizeof(buf), e, prod_transport_now());
        if (n > 0)
            send_raw(c, buf, (size_t)n, (size_t)n);
    }
    conn_drop(c, reason, notify);
}

static void conn_close_app(struct prod_transport_conn *c, int reason,
                           bool notify)
{
    ngtcp2_connection_close_error e;
    ngtcp2_connection_close_error_default(&e);
    uint64_t code =
        reason == 0 ? 0 : PROD_TRANSPORT_APP_ERR_BASE + (uint64_t)(-reason);
    const char *phrase = c->close_phrase;
    ngtcp2_connection_close_error_set_application_error(
        &e, code, (const uint8_t *)phrase, phrase != NULL ? strlen(phrase) : 0);
    conn_close_now(c, &e, reason, notify);
}

static void fill_settings(struct prod_transport *t, ngtcp2_settings *s,
                          ngtcp2_transport_params *p)
{
    ngtcp2_settings_default(s);
    s->initial_ts = prod_transport_now();
    s->handshake_timeout = t->limits.dial_timeout_ns;
    s->cc_algo = NGTCP2_CC_ALGO_CUBIC;
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

static int conn_start_tls(struct prod_transport_conn *c)
{
    if (prod_tls_session_new(c->t->tls, c->server, &c->conn_ref,
                             prod_transport_stream_verify_peer, &c->tls) != 0)
        return P2P_ERR_INTERNAL;
    ngtcp2_conn_set_tls_native_handle(c->qc, c->tls);
    if (c->t->limits.keepalive_ns > 0)
        ngtcp2_conn_set_keep_alive_timeout(c->qc, c->t->limits.keepalive_ns);
    return 0;
}

static void rand_bytes(uint8_t *d, size_t n)
{
    (void)gnutls_rnd(GNUTLS_RND_RANDOM, d, n);
}

/* The local address packets to remote leave from: the bound one, or, on a
 * wildcard bind, what the kernel's routing picks (so that ngtcp2's path
 * matches the one packets arrive on). */
static void local_for(struct prod_transport *t, const struct sockaddr *remote,
                      socklen_t remote_len, struct sockaddr_storage *out,
                      socklen_t *out_len)
{
    memcpy(out, &t->local, t->local_len);
    *out_len = t->local_len;
    if (!t->wildcard)
        return;
    int fd = socket(remote->sa_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (connect(fd, remote, remote_len) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        /* Keep our port, take the routed address. */
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_port =
                ((struct sockaddr_in *)&t->local)->sin_port;
        else
            ((struct sockaddr_in6 *)&ss)->sin6_port =
                ((struct sockaddr_in6 *)&t->local)->sin6_port;
        memcpy(out, &ss, len);
        *out_len = len;
    }
    close(fd);
}

/* ---- writing ---- */

static void rearm(struct prod_transport_conn *c)
{
    ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(c->qc);
    if (!c->server && c->state != PROD_TRANSPORT_UP &&
        c->dial_deadline < expiry)
        expiry = c->dial_deadline;
    ev_timer_stop(c->t->loop, &c->timer);
    if (expiry == UINT64_MAX)
        return;
    uint64_t now = prod_transport_now();
    double after = expiry <= now ? 0.0 : (double)(expiry - now) / 1e9;
    ev_timer_set(&c->timer, after, 0.0);
    ev_timer_start(c->t->loop, &c->timer);
}

/* Sends the packets the socket refused earlier; false while it still
 * refuses. */
static bool flush_pending(struct prod_transport_conn *c)
{
    if (c->pend_len == 0)
        return true;
    const struct prod_udp_path path = path_of(c);
    ssize_t n =
        prod_udp_send(c->t->udp, &path, c->pend, c->pend_len, c->pend_seg);
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
    ev_io_start(c->t->loop, &c->t->wio);
    return false;
}

/* Sends buf[0..len) (packets of seg bytes); keeps what the socket
 * refuses. */
static bool send_batch(struct prod_transport_conn *c, const uint8_t *buf,
                       size_t len, size_t seg)
{
    const struct prod_udp_path path = path_of(c);
    ssize_t n = prod_udp_send(c->t->udp, &path, buf, len, seg);
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
    ev_io_start(c->t->loop, &c->t->wio);
    return false;
}

static void handle_fatal(struct prod_transport_conn *c, int rv);

/* What s has not yet sent, as up to two pieces: the rest of its head and
 * of its body. Returns how many. */
static size_t unsent(const struct prod_transport_stream *s, ngtcp2_vec *vec)
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
static bool next_burst_due(struct prod_transport_conn *c, uint64_t ts)
{
    ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
    uint64_t next = ngtcp2_conn_get_expiry(c->qc);
    return next <= ts + PROD_TRANSPORT_TIMER_TICK_NS;
}

/* Writes what c has to send: bursts of the send quantum, as GSO batches of
 * equal-sized packets, back to back while pacing allows the next within a
 * timer tick (at most PROD_TRANSPORT_BURSTS_PER_WRITE). */
static void conn_write(struct prod_transport_conn *c)
{
    struct prod_transport *t = c->t;
    c->dirty = false;
    if (!flush_pending(c))
        return;
    prod_transport_stream_prepare(c);
    uint64_t ts = prod_transport_now();
    size_t maxpl = ngtcp2_conn_get_max_tx_udp_payload_size(c->qc);
    if (maxpl > PROD_TRANSPORT_PKT_BYTES)
        maxpl = PROD_TRANSPORT_PKT_BYTES;
    size_t burst = ngtcp2_conn_get_send_quantum(c->qc) / maxpl;
    if (burst < 1)
        burst = 1;
    size_t off = 0, seg = 0, in_batch = 0, sent = 0;
    unsigned bursts = 1;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    for (;;) {
        struct prod_transport_stream *s =
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
            if (c->peer != PROD_TRANSPORT_PEER_NONE) {
                t->peers[c->peer].bytes_sent += (uint64_t)ndata;
                t->tot.bytes_sent[s->tx_traffic] += (uint64_t)ndata;
            }
            if (s->sent == s->len) {
                /* With FIN: everything of this stream is written. */
                s->fin_sent = true;
                prod_transport_stream_dequeue_head(s);
            }
        }
        if (n == NGTCP2_ERR_WRITE_MORE)
            continue;
        if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED ||
            n == NGTCP2_ERR_STREAM_SHUT_WR ||
            n == NGTCP2_ERR_STREAM_NOT_FOUND) {
            /* Off the queue until credit returns (or for good). */
            prod_transport_stream_dequeue_head(s);
            s->blocked = n == NGTCP2_ERR_STREAM_DATA_BLOCKED;
            if (n != NGTCP2_ERR_STREAM_DATA_BLOCKED && s->core_open &&
                c->state == PROD_TRANSPORT_UP) {
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
        /* Round robin among small streams (see struct prod_transport_queue). */
        if (s != NULL && s->queued)
            prod_transport_stream_rotate(s);
        size_t plen = (size_t)n;
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
        if (plen < seg || in_batch == PROD_UDP_GSO_SEGMENTS_MAX ||
            sent >= burst) {
            if (!send_batch(c, t->txbuf, off, seg))
                goto out;
            off = 0;
            in_batch = 0;
        }
        if (sent >= burst) {
            bool handshake = ngtcp2_conn_get_handshake_completed(c->qc);
            if (!handshake || bursts == PROD_TRANSPORT_BURSTS_PER_WRITE ||
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
static int remote_close(struct prod_transport_conn *c)
{
    ngtcp2_connection_close_error e;
    ngtcp2_conn_get_connection_close_error(c->qc, &e);
    int reason = P2P_ERR_CONN_LOST;
    if (e.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT &&
        (e.error_code & ~(uint64_t)0xff) == NGTCP2_CRYPTO_ERROR)
        reason = P2P_ERR_REFUSED;
    else if (e.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION &&
             e.error_code > PROD_TRANSPORT_APP_ERR_BASE &&
             e.error_code <
                 PROD_TRANSPORT_APP_ERR_BASE - (uint64_t)P2P_ERR_FATAL)
        reason = -(int)(e.error_code - PROD_TRANSPORT_APP_ERR_BASE);
    if (c->peer < PROD_TRANSPORT_PEERS_MAX) {
        char *out = c->t->peers[c->peer].remote_close;
        size_t n = 0;
        for (size_t i = 0; e.reason != NULL && i < e.reasonlen &&
                           n + 1 < PROD_REMOTE_CLOSE_BYTES;
             i++)
            if (e.reason[i] >= 0x20 && e.reason[i] < 0x7f)
                out[n++] = (char)e.reason[i];
        out[n] = '\0';
    }
    return reason;
}

static void handle_fatal(struct prod_transport_conn *c, int rv)
{
    struct prod_transport *t = c->t;
    if ((rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) &&
        c->drop != PROD_DROP_BAD_INITIAL)
        c->drop = PROD_DROP_TIMEOUT;
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
            t->tot.refusals[PROD_REFUSE_TLS]++;
            c->refused = true;
            c->refusal = PROD_REFUSE_TLS;
        }
        /* The refusal's name as the reason phrase: the refused side can
         * tell "not a member" from "duplicate identity" (probe). */
        const char *why = prod_peer_stats_refusal_name(c->refusal);
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

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct prod_transport_conn *c = w->data;
    uint64_t now = prod_transport_now();
    if (!c->server && c->state != PROD_TRANSPORT_UP &&
        now >= c->dial_deadline) {
        /* Not accepted in time (ngtcp2's own handshake timeout stops at
         * our side's completion, before the server has judged us). */
        conn_close_app(c, P2P_ERR_TIMEOUT, true);
        return;
    }
    int rv = ngtcp2_conn_handle_expiry(c->qc, now);
    if (rv != 0) {
        handle_fatal(c, rv);
        return;
    }
    conn_write(c);
}

/* Writes every dirty connection, closes those asked to close. Runs before
 * the loop waits, so everything queued in callbacks goes out at once. */
static void flush_all(struct prod_transport *t)
{
    /* Callbacks during a pass can dirty connections already passed (a
     * peer down makes core dial another): a few passes settle it. */
    for (int pass = 0; pass < PROD_TRANSPORT_FLUSH_PASSES; pass++) {
        bool again = false;
        for (uint32_t i = 0; i < PROD_TRANSPORT_CONNS_MAX && !t->blocked; i++) {
            struct prod_transport_conn *c = t->conns[i];
            if (c == NULL)
                continue;
            if (c->close_pending) {
                conn_close_app(c, c->close_reason, false);
                again = true;
            } else if (c->dirty) {
                conn_write(c);
                again = true;
            }
        }
        if (!again || t->blocked)
            return;
    }
    /* Still dirty: do not let the loop sleep before the next pass. */
    ev_idle_start(t->loop, &t->idle);
}

static void idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    ev_idle_stop(loop, w); /* the prepare watcher runs the next pass */
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    flush_all(w->data);
}

static void writable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct prod_transport *t = w->data;
    ev_io_stop(loop, w);
    t->blocked = false;
    for (uint32_t i = 0; i < PROD_TRANSPORT_CONNS_MAX; i++)
        if (t->conns[i] != NULL && t->conns[i]->pend_len > 0)
            t->conns[i]->dirty = true;
}

/* ---- reading ---- */

static struct prod_transport_conn *accept_conn(struct prod_transport *t,
                                               const struct sockaddr *local,
                                               socklen_t local_len,
                                               const struct sockaddr *remote,
                                               socklen_t remote_len,
                                               const uint8_t *pkt, size_t len)
{
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, pkt, len) != 0) {
        t->tot.initials_dropped[PROD_DROP_NOT_INITIAL]++;
        return NULL;
    }
    struct prod_transport_conn *c = conn_alloc(t, true);
    if (c == NULL) {
        t->tot.refusals[PROD_REFUSE_LIMIT]++;
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
    scid.datalen = PROD_TRANSPORT_CID_LEN;
    rand_bytes(scid.data, PROD_TRANSPORT_CID_LEN);
    ngtcp2_path path = {
        .local = {(ngtcp2_sockaddr *)&c->local, c->local_len},
        .remote = {(ngtcp2_sockaddr *)&c->remote, c->remote_len},
    };
    /* The token of our first id, derived like every other one. */
    if (prod_transport_reset_token(t, scid.data, scid.datalen,
                                   p.stateless_reset_token) != 0 ||
        ngtcp2_conn_server_new(&c->qc, &hd.scid, &scid, &path, hd.version,
                               &t->server_cb, &s, &p, NULL, c) != 0 ||
        conn_start_tls(c) != 0) {
        conn_free(c);
        return NULL;
    }
    prod_transport_cid_add(t, scid.data, scid.datalen, c);
    prod_transport_cid_add(t, hd.dcid.data, hd.dcid.datalen, c);
    return c;
}

/* Whether one of c's peer-given reset tokens ends pkt. */
static bool conn_has_reset_token(struct prod_transport_conn *c,
                                 const uint8_t *pkt, size_t len)
{
    const uint8_t *token = pkt + len - NGTCP2_STATELESS_RESET_TOKENLEN;
    size_t n = ngtcp2_conn_get_num_active_dcid(c->qc);
    if (n == 0)
        return false; /* handshake not done: ngtcp2 takes no reset */
    if (n > PROD_TRANSPORT_DCID_TOKENS_MAX)
        return true; /* let ngtcp2 judge */
    ngtcp2_cid_token ids[PROD_TRANSPORT_DCID_TOKENS_MAX];
    n = ngtcp2_conn_get_active_dcid(c->qc, ids);
    for (size_t i = 0; i < n && i < PROD_TRANSPORT_DCID_TOKENS_MAX; i++)
        if (ids[i].token_present &&
            memcmp(ids[i].token, token, NGTCP2_STATELESS_RESET_TOKENLEN) == 0)
            return true;
    return false;
}

/* A short packet for no id of ours may be a stateless reset from a peer
 * that lost one of our connections (it restarted): hands it to the
 * connection with that peer whose token it carries, and ngtcp2 drops the
 * connection (NGTCP2_ERR_DRAINING). True when some connection took it. */
static bool take_reset(struct prod_transport *t, const ngtcp2_path *path,
                       const struct sockaddr_storage *remote,
                       const uint8_t *pkt, size_t len, uint64_t now)
{
    if (len <
        NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN)
        return false;
    for (uint32_t i = 0; i < PROD_TRANSPORT_CONNS_MAX; i++) {
        struct prod_transport_conn *c = t->conns[i];
        if (c == NULL || c->qc == NULL ||
            !prod_transport_addr_eq(&c->remote, remote) ||
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

/* Takes one reset from the budget (PROD_TRANSPORT_RESETS_PER_S, refilled
 * continuously). */
static bool reset_budget_take(struct prod_transport *t, uint64_t now)
{
    const uint64_t every_ns = 1000000000ull / PROD_TRANSPORT_RESETS_PER_S;
    if (now > t->reset_refill_ns) {
        uint64_t grown = (now - t->reset_refill_ns) / every_ns;
        if (t->reset_budget + grown >= PROD_TRANSPORT_RESETS_PER_S) {
            t->reset_budget = PROD_TRANSPORT_RESETS_PER_S;
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
 * byte shorter than it (at most PROD_TRANSPORT_SR_BYTES_MAX), within the
 * budget. */
static void send_reset(struct prod_transport *t, const struct sockaddr *local,
                       socklen_t local_len, const struct sockaddr *remote,
                       socklen_t remote_len, const uint8_t *dcid,
                       size_t dcid_len, size_t trigger_len, uint64_t now)
{
    if (trigger_len <= PROD_TRANSPORT_SR_BYTES_MIN) {
        t->tot.resets_unsent[PROD_RESET_UNSENT_SMALL]++;
        return;
    }
    if (!reset_budget_take(t, now)) {
        t->tot.resets_unsent[PROD_RESET_UNSENT_RATE]++;
        return;
    }
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
    if (prod_transport_reset_token(t, dcid, dcid_len, token) != 0)
        return;
    size_t n = trigger_len - 1 < PROD_TRANSPORT_SR_BYTES_MAX
                   ? trigger_len - 1
                   : PROD_TRANSPORT_SR_BYTES_MAX;
    uint8_t rnd[PROD_TRANSPORT_SR_BYTES_MAX], buf[PROD_TRANSPORT_SR_BYTES_MAX];
    size_t rnd_len = n - NGTCP2_STATELESS_RESET_TOKENLEN;
    rand_bytes(rnd, rnd_len);
    ngtcp2_ssize w =
        ngtcp2_pkt_write_stateless_reset(buf, n, token, rnd, rnd_len);
    if (w <= 0)
        return;
    const struct prod_udp_path path = {local, local_len, remote, remote_len};
    ssize_t sent = prod_udp_send(t->udp, &path, buf, (size_t)w, (size_t)w);
    if (sent > 0) {
        t->tot.resets_sent++;
        t->tot.udp_datagrams_out++;
        t->tot.udp_bytes_out += (uint64_t)sent;
    }
}

static void on_packet(void *ctx, const struct sockaddr *local,
                      socklen_t local_len, const struct sockaddr *remote,
                      socklen_t remote_len, const uint8_t *pkt, size_t len)
{
    struct prod_transport *t = ctx;
    t->tot.udp_datagrams_in++;
    uint64_t now = prod_transport_now();
    ngtcp2_version_cid vc;
    int rv =
        ngtcp2_pkt_decode_version_cid(&vc, pkt, len, PROD_TRANSPORT_CID_LEN);
    if (rv != 0) {
        t->tot.initials_dropped[rv == NGTCP2_ERR_VERSION_NEGOTIATION
                                    ? PROD_DROP_VERSION
                                    : PROD_DROP_MALFORMED]++;
        return;
    }
    ngtcp2_path path = {
        .local = {(ngtcp2_sockaddr *)local, local_len},
        .remote = {(ngtcp2_sockaddr *)remote, remote_len},
    };
    struct prod_transport_cid_slot *slot = cid_find(t, vc.dcid, vc.dcidlen);
    struct prod_transport_conn *c = slot != NULL ? slot->conn : NULL;
    if (c == NULL && (pkt[0] & PROD_TRANSPORT_LONG_HEADER_BIT) == 0) {
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
    if (c->drop == PROD_DROP_BAD_INITIAL)
        c->drop = PROD_DROP_ABORTED; /* its first packet was good */
    c->dirty = true;
}

static void readable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct prod_transport *t = w->data;
    uint64_t bytes = 0;
    (void)prod_udp_recv(t->udp, on_packet, t, 64, &bytes);
    t->tot.udp_bytes_in += bytes;
}

/* ---- the public calls ---- */

int prod_transport_new(struct ev_loop *loop, const struct sockaddr *addr,
                       socklen_t addr_len,
                       const struct prod_transport_limits *limits,
                       struct prod_tls *tls,
                       const struct prod_transport_cbs *cbs,
                       struct prod_transport **out, char *err, size_t err_len)
{
    struct prod_transport *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    t->txbuf =
        malloc((size_t)PROD_UDP_GSO_SEGMENTS_MAX * PROD_TRANSPORT_PKT_BYTES);
    if (t->txbuf == NULL) {
        free(t);
        snprintf(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    int rc = prod_udp_open(addr, addr_len, &t->udp, err, err_len);
    if (rc != 0) {
        free(t->txbuf);
        free(t);
        return rc;
    }
    prod_udp_local(t->udp, &t->local, &t->local_len);
    if (t->local.ss_family == AF_INET)
        t->wildcard = ((struct sockaddr_in *)&t->local)->sin_addr.s_addr ==
                      htonl(INADDR_ANY);
    else
        t->wildcard = memcmp(&((struct sockaddr_in6 *)&t->local)->sin6_addr,
                             &in6addr_any, sizeof(in6addr_any)) == 0;
    t->loop = loop;
    t->tls = tls;
    t->cbs = *cbs;
    t->limits = *limits;
    prod_tls_reset_secret(tls, t->reset_secret);
    t->reset_budget = PROD_TRANSPORT_RESETS_PER_S;
    t->reset_refill_ns = prod_transport_now();
    prod_transport_stream_callbacks(&t->client_cb, &t->server_cb);
    for (uint32_t i = 0; i < PROD_TRANSPORT_PEERS_MAX; i++) {
        t->peers[i].index = i;
        t->peers[i].conn_state = "idle";
    }
    ev_io_init(&t->rio, readable_cb, prod_udp_fd(t->udp), EV_READ);
    t->rio.data = t;
    ev_io_start(loop, &t->rio);
    ev_io_init(&t->wio, writable_cb, prod_udp_fd(t->udp), EV_WRITE);
    t->wio.data = t;
    ev_prepare_init(&t->prep, prepare_cb);
    t->prep.data = t;
    ev_prepare_start(loop, &t->prep);
    ev_idle_init(&t->idle, idle_cb);
    t->idle.data = t;
    *out = t;
    return 0;
}

void prod_transport_del(struct prod_transport *t)
{
    if (t == NULL)
        return;
    for (uint32_t i = 0; i < PROD_TRANSPORT_CONNS_MAX; i++)
        if (t->conns[i] != NULL)
            conn_close_app(t->conns[i], 0, false);
    ev_io_stop(t->loop, &t->rio);
    ev_io_stop(t->loop, &t->wio);
    ev_prepare_stop(t->loop, &t->prep);
    ev_idle_stop(t->loop, &t->idle);
    prod_udp_close(t->udp);
    free(t->txbuf);
    gnutls_memset(t->reset_secret, 0, sizeof(t->reset_secret));
    free(t);
}

void prod_transport_local(const struct prod_transport *t,
                          struct sockaddr_storage *addr, socklen_t *len)
{
    memcpy(addr, &t->local, t->local_len);
    *len = t->local_len;
}

int prod_transport_dial(struct prod_transport *t, uint32_t peer,
                        const struct sockaddr *addr, socklen_t addr_len,
                        const uint8_t key_id[PROD_KEY_ID_LEN])
{
    if (peer >= PROD_TRANSPORT_PEERS_MAX)
        return P2P_ERR_INVALID_ARG;
    if (t->by_peer[peer] != NULL)
        return P2P_ERR_EXISTS;
    struct prod_transport_conn *c = conn_alloc(t, false);
    if (c == NULL)
        return P2P_ERR_LIMIT;
    c->peer = peer;
    c->dial_deadline = prod_transport_now() + t->limits.dial_timeout_ns;
    memcpy(c->expect_key, key_id, PROD_KEY_ID_LEN);
    memcpy(&c->remote, addr, addr_len);
    c->remote_len = addr_len;
    local_for(t, addr, addr_len, &c->local, &c->local_len);
    ngtcp2_settings s;
    ngtcp2_transport_params p;
    fill_settings(t, &s, &p);
    ngtcp2_cid dcid, scid;
    dcid.datalen = PROD_TRANSPORT_CID_LEN;
    rand_bytes(dcid.data, PROD_TRANSPORT_CID_LEN);
    scid.datalen = PROD_TRANSPORT_CID_LEN;
    rand_bytes(scid.data, PROD_TRANSPORT_CID_LEN);
    ngtcp2_path path = {
        .local = {(ngtcp2_sockaddr *)&c->local, c->local_len},
        .remote = {(ngtcp2_sockaddr *)&c->remote, c->remote_len},
    };
    if (ngtcp2_conn_client_new(&c->qc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1,
                               &t->client_cb, &s, &p, NULL, c) != 0 ||
        conn_start_tls(c) != 0) {
        c->peer = PROD_TRANSPORT_PEER_NONE;
        conn_free(c);
        return P2P_ERR_INTERNAL;
    }
    prod_transport_cid_add(t, scid.data, scid.datalen, c);
    t->by_peer[peer] = c;
    t->tot.conns_dialled++;
    c->dirty = true;
    return 0;
}

void prod_transport_close(struct prod_transport *t, uint32_t peer, int reason)
{
    if (peer >= PROD_TRANSPORT_PEERS_MAX || t->by_peer[peer] == NULL)
        return;
    struct prod_transport_conn *c = t->by_peer[peer];
    /* No callback for it from now on; the close itself waits for the
     * flush (we may be inside one of its callbacks). */
    t->by_peer[peer] = NULL;
    if (c->state == PROD_TRANSPORT_UP && t->tot.conns_up > 0)
        t->tot.conns_up--;
    c->state = PROD_TRANSPORT_HANDSHAKE;
    c->peer = PROD_TRANSPORT_PEER_NONE;
    for (struct prod_transport_stream *s = c->streams; s != NULL; s = s->next)
        s->core_open = false;
    c->close_pending = true;
    c->close_reason = reason;
}

static struct prod_transport_conn *up_conn(struct prod_transport *t,
                                           uint32_t peer)
{
    if (peer >= PROD_TRANSPORT_PEERS_MAX)
        return NULL;
    struct prod_transport_conn *c = t->by_peer[peer];
    return c != NULL && c->state == PROD_TRANSPORT_UP && !c->close_pending
               ? c
               : NULL;
}

static int queue_send(struct prod_transport_conn *c,
                      struct prod_transport_stream *s, const uint8_t *bytes,
                      size_t len, struct p2p_body *body)
{
    size_t total = len + (body != NULL ? body->len : 0);
    if (total > PROD_TRANSPORT_SEND_BYTES_MAX - c->send_bytes)
        return P2P_ERR_LIMIT;
    s->buf = malloc(len > 0 ? len : 1);
    if (s->buf == NULL)
        return P2P_ERR_NOMEM;
    memcpy(s->buf, bytes, len);
    if (body != NULL)
        (void)p2p_body_hold(body, NULL, P2P_MEM_OUTBOX); /* uncharged */
    s->body = body;
    s->len = total;
    c->send_bytes += total;
    prod_transport_stream_set_tx(s, bytes, len);
    return 0;
}

int prod_transport_open(struct prod_transport *t, uint32_t peer,
                        uint64_t stream_id, const uint8_t *bytes, size_t len,
                        struct p2p_body *body)
{
    struct prod_transport_conn *c = up_conn(t, peer);
    if (c == NULL)
        return P2P_ERR_NOT_FOUND;
    struct prod_transport_stream *s =
        prod_transport_stream_new(c, false, stream_id);
    if (s == NULL)
        return P2P_ERR_NOMEM;
    int rc = queue_send(c, s, bytes, len, body);
    if (rc != 0) {
        s->core_open = false;
        prod_transport_stream_free(s);
        return rc;
    }
    s->waiting_id = true;
    c->opens_pending++;
    t->peers[peer].messages_sent++;
    t->tot.messages_sent++;
    prod_transport_mark_dirty(c);
    return 0;
}

int prod_transport_respond(struct prod_transport *t, uint32_t peer,
                           uint64_t stream_id, const uint8_t *bytes, size_t len,
                           struct p2p_body *body)
{
    struct prod_transport_conn *c = up_conn(t, peer);
    if (c == NULL)
        return P2P_ERR_NOT_FOUND;
    struct prod_transport_stream *s =
        prod_transport_stream_find(c, true, stream_id);
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
    prod_transport_stream_enqueue(s);
    return 0;
}

void prod_transport_reset(struct prod_transport *t, uint32_t peer,
                          uint64_t stream_id, bool inbound)
{
    struct prod_transport_conn *c = up_conn(t, peer);
    if (c == NULL)
        return;
    struct prod_transport_stream *s =
        prod_transport_stream_find(c, inbound, stream_id);
    if (s == NULL)
        return;
    if (!s->reset_pending)
        t->peers[peer].streams_reset_sent++;
    s->core_open = false;
    s->reset_pending = true;
    prod_transport_mark_dirty(c);
}

void prod_transport_totals(const struct prod_transport *t,
                           struct prod_transport_totals *tot)
{
    *tot = t->tot;
}

bool prod_transport_peer_stats(const struct prod_transport *t, uint32_t peer,
                               struct prod_peer_stats *out)
{
    if (peer >= PROD_TRANSPORT_PEERS_MAX)
        return false;
    *out = t->peers[peer];
    const struct prod_transport_conn *c = t->by_peer[peer];
    out->conn_state = c == NULL                       ? "idle"
                      : c->state == PROD_TRANSPORT_UP ? "up"
                                                      : "dialing";
    out->rtt_us = 0;
    if (c != NULL && c->state == PROD_TRANSPORT_UP) {
        ngtcp2_conn_stat st;
        ngtcp2_conn_get_conn_stat(c->qc, &st);
        out->rtt_us = st.smoothed_rtt / 1000u;
    }
    return true;
}
