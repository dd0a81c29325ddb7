/* The admin API's door (see admin_gate.h): accept, admission, request
 * heads checked before libmicrohttpd sees them, refusals that linger. */
#include "prod/admin_gate.h"

#include <errno.h>
#include <ev.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/err.h"

/* epoll_event.data.u64: the kind of slot above, its index below. */
#define TAG_WAITING (1ull << 32)
#define TAG_LINGERING (2ull << 32)
#define TAG_INDEX_MASK 0xffffffffull
/* Events taken from the gate's epoll set per wakeup. */
#define EVENTS_BATCH 64

/* A socket the gate holds: waiting for its head, or lingering. */
struct slot {
    int fd;                       /* owned; -1 when the slot is free */
    ev_tstamp deadline;           /* loop time */
    size_t drained;               /* lingering: bytes read and dropped */
    struct sockaddr_storage addr; /* waiting: the client's address */
    socklen_t addr_len;
};

struct prod_admin_gate {
    struct ev_loop *loop;    /* borrowed */
    int listen_fd;           /* owned */
    int epoll_fd;            /* owned: waiting and lingering sockets */
    ev_io accept_io;         /* listen_fd readable */
    ev_io events_io;         /* epoll_fd readable */
    ev_timer timer;          /* the earliest deadline */
    bool accept_paused;      /* accept failed for want of resources */
    ev_tstamp accept_resume; /* loop time */
    struct prod_admin_gate_opts opts;
    struct prod_admin_gate_ops ops;
    struct slot *waiting; /* owned; opts.connections_max slots */
    size_t waiting_count;
    struct slot lingering[PROD_ADMIN_GATE_LINGER_MAX];
    size_t lingering_count;
    struct prod_admin_gate_stats stats;
    char *scratch; /* owned; opts.head.head_bytes_max bytes */
};

/* ---- request heads (pure) ---- */

/* What a head has shown so far. */
struct head_scan {
    const struct prod_admin_head_limits *lim;
    size_t fields;
    unsigned minor;
    bool host, content_length, transfer_encoding;
};

static bool decide(struct prod_admin_head_verdict *v, unsigned status,
                   const char *message)
{
    v->status = status;
    v->message = message;
    return true;
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t count_byte(const char *p, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

/* METHOD SP TARGET SP HTTP/d.d; false with *v when it is not acceptable. */
static bool request_line(struct head_scan *s, const char *p, size_t n,
                         struct prod_admin_head_verdict *v)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ' ')
        return !decide(v, MHD_HTTP_BAD_REQUEST, "malformed request line");
    size_t target = ++i;
    while (i < n && p[i] > ' ' && p[i] < 0x7f)
        i++;
    if (i == target || i == n || p[i] != ' ')
        return !decide(v, MHD_HTTP_BAD_REQUEST, "malformed request line");
    const char *query = memchr(p + target, '?', i - target);
    if (query != NULL) /* libmicrohttpd keeps each argument */
        s->fields += 1 + count_byte(query, (size_t)(p + i - query), '&');
    const char *ver = p + i + 1;
    if (n - i - 1 != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' ||
        ver[5] > '9' || ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
        return !decide(v, MHD_HTTP_BAD_REQUEST, "malformed request line");
    if (ver[5] != '1')
        return !decide(v, MHD_HTTP_HTTP_VERSION_NOT_SUPPORTED,
                       "HTTP version not supported");
    s->minor = (unsigned)(ver[7] - '0');
    if (s->fields > s->lim->fields_max)
        return !decide(v, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                       "too many header fields");
    return true;
}

static bool name_is(const char *p, size_t n, const char *name)
{
    return n == strlen(name) && strncasecmp(p, name, n) == 0;
}

/* A Content-Length value: digits only, at most body_bytes_max. */
static bool content_length(struct head_scan *s, const char *p, size_t n,
                           struct prod_admin_head_verdict *v)
{
    if (s->content_length)
        return !decide(v, MHD_HTTP_BAD_REQUEST, "more than one Content-Length");
    s->content_length = true;
    if (n == 0)
        return !decide(v, MHD_HTTP_BAD_REQUEST, "bad Content-Length");
    uint64_t len = 0;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return !decide(v, MHD_HTTP_BAD_REQUEST, "bad Content-Length");
        unsigned d = (unsigned)(p[i] - '0');
        if (len > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            len = len * 10 + d;
    }
    /* 2^64 - 1 is libmicrohttpd's "size unknown": too large as well. */
    if (overflow || len == UINT64_MAX || len > s->lim->body_bytes_max)
        return !decide(v, MHD_HTTP_CONTENT_TOO_LARGE, "too large");
    return true;
}

/* name: value, with a token name and no control bytes in the value. */
static bool header_line(struct head_scan *s, const char *p, size_t n,
                        struct prod_admin_head_verdict *v)
{
    if (p[0] == ' ' || p[0] == '\t')
        return !decide(v, MHD_HTTP_BAD_REQUEST,
                       "folded header lines are not accepted");
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ':')
        return !decide(v, MHD_HTTP_BAD_REQUEST, "malformed header line");
    size_t name_len = i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    const char *val = p + i;
    size_t val_len = n - i;
    for (size_t k = 0; k < val_len; k++) {
        unsigned char c = (unsigned char)val[k];
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return !decide(v, MHD_HTTP_BAD_REQUEST,
                           "control character in a header");
    }
    s->fields++;
    if (name_is(p, name_len, "Cookie")) /* MHD keeps each cookie */
        s->fields += count_byte(val, val_len, ';');
    if (s->fields > s->lim->fields_max)
        return !decide(v, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                       "too many header fields");
    if (name_is(p, name_len, "Host"))
        s->host = true;
    else if (name_is(p, name_len, "Content-Length"))
        return content_length(s, val, val_len, v);
    else if (name_is(p, name_len, "Transfer-Encoding")) {
        if (s->transfer_encoding)
            return !decide(v, MHD_HTTP_BAD_REQUEST,
                           "more than one Transfer-Encoding");
        s->transfer_encoding = true;
        if (!name_is(val, val_len, "chunked"))
            return !decide(v, MHD_HTTP_NOT_IMPLEMENTED,
                           "only chunked Transfer-Encoding is supported");
    }
    return true;
}

/* The empty line: what the whole head must have. */
static bool head_end(const struct head_scan *s,
                     struct prod_admin_head_verdict *v)
{
    if (s->minor >= 1 && !s->host)
        return decide(v, MHD_HTTP_BAD_REQUEST, "Host header missing");
    if (s->content_length && s->transfer_encoding)
        return decide(v, MHD_HTTP_BAD_REQUEST,
                      "both Content-Length and Transfer-Encoding");
    return decide(v, 0, NULL);
}

bool prod_admin_gate_head_check(const char *buf, size_t len,
                                const struct prod_admin_head_limits *lim,
                                struct prod_admin_head_verdict *v)
{
    P2P_ASSERT(buf != NULL || len == 0);
    P2P_ASSERT(lim != NULL && v != NULL && lim->head_bytes_max > 0);
    struct head_scan s = {.lim = lim};
    size_t n = len < lim->head_bytes_max ? len : lim->head_bytes_max;
    size_t pos = 0;
    for (size_t line = 0;; line++) {
        const char *lf = memchr(buf + pos, '\n', n - pos);
        if (lf == NULL) {
            if (n < lim->head_bytes_max)
                return false;
            return line == 0
                       ? decide(v, MHD_HTTP_URI_TOO_LONG,
                                "request line too long")
                       : decide(v, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                                "request head too large");
        }
        size_t end = (size_t)(lf - buf);
        size_t line_len = end - pos;
        if (line_len > 0 && buf[end - 1] == '\r')
            line_len--;
        const char *p = buf + pos;
        pos = end + 1;
        if (line_len == 0) {
            if (line == 0)
                return decide(v, MHD_HTTP_BAD_REQUEST,
                              "malformed request line");
            return head_end(&s, v);
        }
        bool ok = line == 0 ? request_line(&s, p, line_len, v)
                            : header_line(&s, p, line_len, v);
        if (!ok)
            return true;
    }
}

size_t prod_admin_gate_answer(unsigned status, const char *message, char *buf,
                              size_t cap)
{
    P2P_ASSERT(message != NULL && strpbrk(message, "\"\\") == NULL);
    const char *reason = MHD_get_reason_phrase_for(status);
    char body[PROD_ADMIN_GATE_ANSWER_BYTES_MAX / 2];
    int body_len = snprintf(body, sizeof(body), "{\"error\": \"%s\"}", message);
    if (body_len < 0 || (size_t)body_len >= sizeof(body))
        return 0;
    int n = snprintf(
        buf, cap,
        "HTTP/1.1 %u %s\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: %d\r\n"
        "Connection: close\r\n"
        "%s"
        "\r\n"
        "%s",
        status, reason[0] != '\0' ? reason : "Error", body_len,
        status == MHD_HTTP_SERVICE_UNAVAILABLE ? "Retry-After: 1\r\n" : "",
        body);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

/* ---- slots ---- */

static void invariants(const struct prod_admin_gate *g)
{
#ifndef NDEBUG
    size_t w = 0, l = 0;
    for (size_t i = 0; i < g->opts.connections_max; i++)
        w += g->waiting[i].fd >= 0;
    for (size_t i = 0; i < PROD_ADMIN_GATE_LINGER_MAX; i++)
        l += g->lingering[i].fd >= 0;
    P2P_ASSERT(w == g->waiting_count && l == g->lingering_count);
    P2P_ASSERT(w <= g->opts.connections_max);
#else
    (void)g;
#endif
}

static void slot_close(struct slot *s)
{
    P2P_ASSERT(s->fd >= 0);
    close(s->fd); /* also leaves the epoll set */
    s->fd = -1;
}

static void waiting_free(struct prod_admin_gate *g, size_t i)
{
    slot_close(&g->waiting[i]);
    g->waiting_count--;
}

static void lingering_free(struct prod_admin_gate *g, size_t i)
{
    slot_close(&g->lingering[i]);
    g->lingering_count--;
}

/* Reads and drops what the client sent; closes at its end, on an error,
 * or past PROD_ADMIN_GATE_LINGER_BYTES_MAX. */
static void drain(struct prod_admin_gate *g, size_t i)
{
    struct slot *s = &g->lingering[i];
    while (s->fd >= 0) {
        ssize_t n = recv(s->fd, g->scratch, g->opts.head.head_bytes_max, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 ||
            (s->drained += (size_t)n) > PROD_ADMIN_GATE_LINGER_BYTES_MAX)
            lingering_free(g, i);
    }
}

/* A free lingering slot; when there is none, the oldest is closed. */
static size_t lingering_slot(struct prod_admin_gate *g)
{
    size_t oldest = 0;
    for (size_t i = 0; i < PROD_ADMIN_GATE_LINGER_MAX; i++) {
        if (g->lingering[i].fd < 0)
            return i;
        if (g->lingering[i].deadline < g->lingering[oldest].deadline)
            oldest = i;
    }
    lingering_free(g, oldest);
    return oldest;
}

/* Answers fd with status and message, half-closes it and lets it linger
 * (fd is owned from here). */
static void refuse(struct prod_admin_gate *g, int fd, unsigned status,
                   const char *message)
{
    char answer[PROD_ADMIN_GATE_ANSWER_BYTES_MAX];
    size_t len =
        prod_admin_gate_answer(status, message, answer, sizeof(answer));
    P2P_ASSERT(len > 0);
    /* A fresh socket's send buffer takes a few hundred bytes at once;
     * if not, the client gets no answer, only the close. */
    (void)send(fd, answer, len, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    size_t i = lingering_slot(g);
    struct slot *s = &g->lingering[i];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                             .data.u64 = TAG_LINGERING | i};
    if (epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return;
    }
    s->fd = fd;
    s->deadline = ev_now(g->loop) + PROD_ADMIN_GATE_LINGER_MS / 1e3;
    s->drained = 0;
    g->lingering_count++;
    drain(g, i);
}

/* Looks at what waiting slot i has sent: hands a complete good head to
 * the admin, refuses a bad one, closes a connection that ended early. */
static void check_head(struct prod_admin_gate *g, size_t i, bool hung_up)
{
    struct slot *s = &g->waiting[i];
    ssize_t n;
    do
        n = recv(s->fd, g->scratch, g->opts.head.head_bytes_max, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !hung_up)
        return;
    if (n <= 0) { /* gone before its head was complete */
        waiting_free(g, i);
        return;
    }
    struct prod_admin_head_verdict v;
    if (!prod_admin_gate_head_check(g->scratch, (size_t)n, &g->opts.head, &v)) {
        if (hung_up)
            waiting_free(g, i);
        return;
    }
    int fd = s->fd;
    epoll_ctl(g->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    s->fd = -1;
    g->waiting_count--;
    if (v.status != 0) {
        g->stats.refused_head_total++;
        refuse(g, fd, v.status, v.message);
        return;
    }
    g->stats.admitted_total++;
    g->ops.admit(g->ops.ctx, fd, (const struct sockaddr *)&s->addr,
                 s->addr_len);
}

/* An admitted connection: it waits here for its head. */
static void wait_head(struct prod_admin_gate *g, int fd,
                      const struct sockaddr_storage *addr, socklen_t len)
{
    size_t i = 0;
    while (g->waiting[i].fd >= 0)
        i++;
    P2P_ASSERT(i < g->opts.connections_max);
    struct slot *s = &g->waiting[i];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                             .data.u64 = TAG_WAITING | i};
    if (epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return;
    }
    s->fd = fd;
    s->deadline = ev_now(g->loop) + g->opts.head_timeout_ms / 1e3;
    s->addr = *addr;
    s->addr_len = len;
    g->waiting_count++;
    check_head(g, i, false);
}

/* ---- the loop ---- */

/* Arms the timer at the earliest deadline (none: stopped). */
static void rearm(struct prod_admin_gate *g)
{
    invariants(g);
    ev_tstamp at = 0;
    bool any = false;
    for (size_t i = 0; i < g->opts.connections_max; i++) {
        if (g->waiting[i].fd >= 0 && (!any || g->waiting[i].deadline < at)) {
            at = g->waiting[i].deadline;
            any = true;
        }
    }
    for (size_t i = 0; i < PROD_ADMIN_GATE_LINGER_MAX; i++) {
        if (g->lingering[i].fd >= 0 &&
            (!any || g->lingering[i].deadline < at)) {
            at = g->lingering[i].deadline;
            any = true;
        }
    }
    if (g->accept_paused && (!any || g->accept_resume < at)) {
        at = g->accept_resume;
        any = true;
    }
    ev_timer_stop(g->loop, &g->timer);
    if (!any)
        return;
    ev_tstamp in = at - ev_now(g->loop);
    ev_timer_set(&g->timer, in > 0 ? in : 0, 0.0);
    ev_timer_start(g->loop, &g->timer);
}

static void pause_accept(struct prod_admin_gate *g)
{
    ev_io_stop(g->loop, &g->accept_io);
    g->accept_paused = true;
    g->accept_resume = ev_now(g->loop) + PROD_ADMIN_GATE_ACCEPT_PAUSE_MS / 1e3;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct prod_admin_gate *g = w->data;
    for (unsigned k = 0; k < PROD_ADMIN_GATE_ACCEPT_BATCH; k++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        int fd = accept4(g->listen_fd, (struct sockaddr *)&addr, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
                errno == EPERM)
                continue;    /* that client only */
            pause_accept(g); /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
            break;
        }
        if (g->waiting_count + g->ops.serving(g->ops.ctx) >=
            g->opts.connections_max) {
            g->stats.refused_busy_total++;
            refuse(g, fd, MHD_HTTP_SERVICE_UNAVAILABLE, "too many connections");
            continue;
        }
        wait_head(g, fd, &addr, len);
    }
    rearm(g);
}

static void on_events(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct prod_admin_gate *g = w->data;
    struct epoll_event evs[EVENTS_BATCH];
    int n = epoll_wait(g->epoll_fd, evs, EVENTS_BATCH, 0);
    for (int k = 0; k < n; k++) {
        uint64_t tag = evs[k].data.u64 & ~TAG_INDEX_MASK;
        size_t i = (size_t)(evs[k].data.u64 & TAG_INDEX_MASK);
        bool hung_up =
            (evs[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
        /* A slot freed by an earlier event of this batch is skipped. */
        if (tag == TAG_WAITING && i < g->opts.connections_max &&
            g->waiting[i].fd >= 0)
            check_head(g, i, hung_up);
        else if (tag == TAG_LINGERING && i < PROD_ADMIN_GATE_LINGER_MAX &&
                 g->lingering[i].fd >= 0)
            drain(g, i);
    }
    rearm(g);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct prod_admin_gate *g = w->data;
    ev_tstamp now = ev_now(loop);
    for (size_t i = 0; i < g->opts.connections_max; i++) {
        struct slot *s = &g->waiting[i];
        if (s->fd < 0 || s->deadline > now)
            continue;
        /* A head that came in time but whose event is still pending in
         * this turn of the loop (a busy loop) is not late. */
        check_head(g, i, false);
        if (s->fd < 0)
            continue;
        int fd = s->fd;
        epoll_ctl(g->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        s->fd = -1;
        g->waiting_count--;
        g->stats.timed_out_total++;
        refuse(g, fd, MHD_HTTP_REQUEST_TIMEOUT,
               "request head not received in time");
    }
    for (size_t i = 0; i < PROD_ADMIN_GATE_LINGER_MAX; i++)
        if (g->lingering[i].fd >= 0 && g->lingering[i].deadline <= now)
            lingering_free(g, i);
    if (g->accept_paused && g->accept_resume <= now) {
        g->accept_paused = false;
        ev_io_start(loop, &g->accept_io);
    }
    rearm(g);
}

/* ---- start and stop ---- */

int prod_admin_gate_start(struct ev_loop *loop, int listen_fd,
                          const struct prod_admin_gate_opts *opts,
                          const struct prod_admin_gate_ops *ops,
                          struct prod_admin_gate **out)
{
    P2P_ASSERT(loop != NULL && listen_fd >= 0 && out != NULL);
    *out = NULL;
    if (opts == NULL || ops == NULL || ops->serving == NULL ||
        ops->admit == NULL || opts->connections_max == 0 ||
        opts->connections_max > TAG_INDEX_MASK ||
        opts->head.head_bytes_max == 0 || opts->head_timeout_ms == 0) {
        close(listen_fd);
        return P2P_ERR_INVALID_ARG;
    }
    struct prod_admin_gate *g = calloc(1, sizeof(*g));
    if (g == NULL)
        goto fail_close_listen;
    g->waiting = calloc(opts->connections_max, sizeof(*g->waiting));
    g->scratch = malloc(opts->head.head_bytes_max);
    if (g->waiting == NULL || g->scratch == NULL)
        goto fail_free_gate;
    g->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (g->epoll_fd < 0) {
        free(g->scratch);
        free(g->waiting);
        free(g);
        close(listen_fd);
        return P2P_ERR_INTERNAL;
    }
    g->loop = loop;
    g->listen_fd = listen_fd;
    g->opts = *opts;
    g->ops = *ops;
    for (size_t i = 0; i < opts->connections_max; i++)
        g->waiting[i].fd = -1;
    for (size_t i = 0; i < PROD_ADMIN_GATE_LINGER_MAX; i++)
        g->lingering[i].fd = -1;
    ev_io_init(&g->accept_io, on_accept, listen_fd, EV_READ);
    g->accept_io.data = g;
    ev_io_init(&g->events_io, on_events, g->epoll_fd, EV_READ);
    g->events_io.data = g;
    ev_init(&g->timer, on_timer);
    g->timer.data = g;
    ev_io_start(loop, &g->accept_io);
    ev_io_start(loop, &g->events_io);
    *out = g;
    return 0;

fail_free_gate:
    if (g != NULL) {
        free(g->scratch);
        free(g->waiting);
        free(g);
    }
fail_close_listen:
    close(listen_fd);
    return P2P_ERR_NOMEM;
}

void prod_admin_gate_get_stats(const struct prod_admin_gate *g,
                               struct prod_admin_gate_stats *out)
{
    P2P_ASSERT(g != NULL && out != NULL);
    *out = g->stats;
    out->waiting = g->waiting_count;
    out->lingering = g->lingering_count;
}

void prod_admin_gate_stop(struct prod_admin_gate *g)
{
    if (g == NULL)
        return;
    ev_io_stop(g->loop, &g->accept_io);
    ev_io_stop(g->loop, &g->events_io);
    ev_timer_stop(g->loop, &g->timer);
    for (size_t i = 0; i < g->opts.connections_max; i++)
        if (g->waiting[i].fd >= 0)
            waiting_free(g, i);
    for (size_t i = 0; i < PROD_ADMIN_GATE_LINGER_MAX; i++)
        if (g->lingering[i].fd >= 0)
            lingering_free(g, i);
    close(g->epoll_fd);
    close(g->listen_fd);
    free(g->scratch);
    free(g->waiting);
    free(g);
}
