/* The replica's QUIC transport: the endpoint on a UDP socket and the libev
 * loop (see prod/transport.h). */
#include "prod/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "core/err.h"
#include "prod/udp.h"

/* recvmsg calls per readable event: other watchers get a turn. */
#define PROD_TRANSPORT_READS_PER_EVENT 64u

struct prod_transport {
    struct ev_loop *loop;
    struct prod_udp *udp;
    struct sockaddr_storage local;
    socklen_t local_len;
    bool wildcard; /* bound to 0.0.0.0 or :: */
    ev_io rio, wio;
    ev_prepare prep;
    ev_idle idle;   /* keeps the loop awake while the endpoint is dirty */
    ev_timer timer; /* at the endpoint's next expiry */
    uint64_t armed; /* the expiry the timer is set for, UINT64_MAX: none */
    struct quic_endpoint_cbs cbs;
    struct quic_endpoint *ep;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- what the endpoint asks of us ---- */

static ssize_t env_send(void *ctx, const struct quic_path *path,
                        const uint8_t *buf, size_t len, size_t seg)
{
    struct prod_transport *t = ctx;
    const struct prod_udp_path p = {path->local, path->local_len, path->remote,
                                    path->remote_len};
    return prod_udp_send(t->udp, &p, buf, len, seg);
}

static void env_rand(void *ctx, uint8_t *out, size_t n)
{
    (void)gnutls_rnd(GNUTLS_RND_RANDOM, out, n);
}

static int64_t env_wall_s(void *ctx)
{
    return (int64_t)time(NULL);
}

/* The default warning sink: stderr, with the wall-clock time. */
static void warn_stderr(void *ctx, const char *msg)
{
    char when[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ p2p-replica[transport] warn: %s\n", when,
            ts.tv_nsec / 1000000, msg);
}

/* ---- the loop ---- */

/* Arms the timer at the endpoint's next expiry. */
static void rearm(struct prod_transport *t)
{
    uint64_t next = quic_endpoint_next_expiry(t->ep);
    if (next == t->armed)
        return;
    ev_timer_stop(t->loop, &t->timer);
    t->armed = next;
    if (next == UINT64_MAX)
        return;
    uint64_t now = now_ns();
    double after = next <= now ? 0.0 : (double)(next - now) / 1e9;
    ev_timer_set(&t->timer, after, 0.0);
    ev_timer_start(t->loop, &t->timer);
}

/* Before the loop waits: everything queued since goes out, the timer
 * follows the endpoint. */
static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct prod_transport *t = w->data;
    if (quic_endpoint_flush(t->ep, now_ns()))
        ev_idle_start(loop, &t->idle); /* still dirty: no sleep */
    if (quic_endpoint_blocked(t->ep))
        ev_io_start(loop, &t->wio);
    rearm(t);
}

static void idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    ev_idle_stop(loop, w); /* the prepare watcher runs the next pass */
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct prod_transport *t = w->data;
    t->armed = UINT64_MAX;
    quic_endpoint_on_expiry(t->ep, now_ns());
}

static void writable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct prod_transport *t = w->data;
    ev_io_stop(loop, w);
    quic_endpoint_writable(t->ep);
}

static void on_packet(void *ctx, const struct sockaddr *local,
                      socklen_t local_len, const struct sockaddr *remote,
                      socklen_t remote_len, const uint8_t *pkt, size_t len)
{
    struct prod_transport *t = ctx;
    const struct quic_path path = {local, local_len, remote, remote_len};
    quic_endpoint_recv(t->ep, now_ns(), &path, pkt, len);
}

static void readable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct prod_transport *t = w->data;
    (void)prod_udp_recv(t->udp, on_packet, t, PROD_TRANSPORT_READS_PER_EVENT,
                        NULL);
}

/* The local address packets to remote leave from: the bound one, or, on a
 * wildcard bind, what the kernel's routing picks (so that ngtcp2's path
 * matches the one packets arrive on). */
static void local_for(const struct prod_transport *t,
                      const struct sockaddr *remote, socklen_t remote_len,
                      struct sockaddr_storage *out, socklen_t *out_len)
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

/* ---- the public calls ---- */

int prod_transport_new(struct ev_loop *loop, const struct sockaddr *addr,
                       socklen_t addr_len,
                       const struct quic_endpoint_limits *limits,
                       struct quic_tls *tls,
                       const struct quic_endpoint_cbs *cbs,
                       struct prod_transport **out, char *err, size_t err_len)
{
    struct prod_transport *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    t->cbs = *cbs;
    if (t->cbs.warn == NULL)
        t->cbs.warn = warn_stderr;
    const struct quic_endpoint_env env = {
        .ctx = t, .send = env_send, .rand = env_rand, .wall_s = env_wall_s};
    int rc = prod_udp_open(addr, addr_len, &t->udp, err, err_len);
    if (rc == 0)
        rc = quic_endpoint_new(limits, tls, &t->cbs, &env, now_ns(), &t->ep,
                               err, err_len);
    if (rc != 0) {
        prod_udp_close(t->udp);
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
    t->armed = UINT64_MAX;
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
    ev_init(&t->timer, timer_cb);
    t->timer.data = t;
    *out = t;
    return 0;
}

void prod_transport_del(struct prod_transport *t)
{
    if (t == NULL)
        return;
    quic_endpoint_del(t->ep, now_ns());
    ev_io_stop(t->loop, &t->rio);
    ev_io_stop(t->loop, &t->wio);
    ev_prepare_stop(t->loop, &t->prep);
    ev_idle_stop(t->loop, &t->idle);
    ev_timer_stop(t->loop, &t->timer);
    prod_udp_close(t->udp);
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
                        const uint8_t key_id[QUIC_KEY_ID_LEN])
{
    if (addr_len > sizeof(struct sockaddr_storage))
        return P2P_ERR_INVALID_ARG;
    struct sockaddr_storage local;
    socklen_t local_len;
    local_for(t, addr, addr_len, &local, &local_len);
    const struct quic_path path = {(const struct sockaddr *)&local, local_len,
                                   addr, addr_len};
    return quic_endpoint_dial(t->ep, now_ns(), peer, &path, key_id);
}

void prod_transport_close(struct prod_transport *t, uint32_t peer, int reason)
{
    quic_endpoint_close(t->ep, peer, reason);
}

int prod_transport_open(struct prod_transport *t, uint32_t peer,
                        uint64_t stream_id, const uint8_t *bytes, size_t len,
                        struct p2p_body *body)
{
    return quic_endpoint_open(t->ep, peer, stream_id, bytes, len, body);
}

int prod_transport_respond(struct prod_transport *t, uint32_t peer,
                           uint64_t stream_id, const uint8_t *bytes, size_t len,
                           struct p2p_body *body)
{
    return quic_endpoint_respond(t->ep, peer, stream_id, bytes, len, body);
}

void prod_transport_reset(struct prod_transport *t, uint32_t peer,
                          uint64_t stream_id, bool inbound)
{
    quic_endpoint_reset(t->ep, peer, stream_id, inbound);
}

void prod_transport_totals(const struct prod_transport *t,
                           struct quic_endpoint_totals *tot)
{
    quic_endpoint_totals(t->ep, tot);
}

bool prod_transport_peer_stats(const struct prod_transport *t, uint32_t peer,
                               struct quic_peer_stats *out)
{
    return quic_endpoint_peer_stats(t->ep, peer, out);
}

struct prod_udp *prod_transport__udp(struct prod_transport *t)
{
    return t->udp;
}
