/* The admin API's gate (prod/admin_gate.c): the request-head checks, table
 * driven, every limit on both sides; the answers it writes; and the gate
 * itself on a libev loop over loopback sockets: admission up to
 * connections_max and 503 past it, a good head handed over unread, a bad
 * one answered with JSON, a late one with 408, a client that leaves, and
 * the lingering of refused sockets (bounded, oldest closed first). Client
 * and gate share one thread; nothing sleeps. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "prod/admin_gate.h"

/* ---- prod_admin_gate_head_check ---- */

static const struct prod_admin_head_limits LIM = {
    .head_bytes_max = 256, .fields_max = 4, .body_bytes_max = 1000};

struct head_case {
    const char *head;
    int status; /* -1: not decided (more bytes needed) */
    const char *message; /* NULL: any */
};

static void check_head_case(const struct head_case *c)
{
    struct prod_admin_head_verdict v = {.status = 999};
    bool decided =
        prod_admin_gate_head_check(c->head, strlen(c->head), &LIM, &v);
    if (c->status < 0) {
        ck_assert_msg(!decided, "decided %u on: %s", v.status, c->head);
        return;
    }
    ck_assert_msg(decided, "undecided: %s", c->head);
    ck_assert_msg(v.status == (unsigned)c->status, "status %u, want %d: %s",
                  v.status, c->status, c->head);
    if (c->status == 0)
        ck_assert_ptr_null(v.message);
    else
        ck_assert_ptr_nonnull(v.message);
    if (c->message != NULL)
        ck_assert_str_eq(v.message, c->message);
}

START_TEST(head_good)
{
    static const struct head_case cases[] = {
        {"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL},
        {"GET /health HTTP/1.0\r\n\r\n", 0, NULL},        /* 1.0: no Host */
        {"GET /health HTTP/1.1\nHost: x\n\n", 0, NULL},   /* bare LF */
        {"GET /health HTTP/1.9\r\nHost: x\r\n\r\n", 0, NULL},
        {"HEAD /metrics HTTP/1.1\r\nhost:x\r\n\r\n", 0, NULL},
        {"POST /artifacts HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
         0, NULL},                                        /* the limit */
        {"POST /artifacts HTTP/1.1\r\nHost: x\r\ncontent-length:0\r\n\r\n", 0,
         NULL},
        {"POST /state HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n",
         0, NULL},
        {"GET /a?b=1&c=2 HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL}, /* 3 fields */
        {"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: \t2\r\nC: \x80\r\n\r\n", 0,
         NULL},                                           /* 4 fields */
        {"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; b=2; c=3\r\n\r\n", 0,
         NULL},                                           /* 4 fields */
        {"PATCH /x HTTP/1.1\r\nHost: x\r\n\r\nbody after the head", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_head_case(&cases[i]);
}
END_TEST

START_TEST(head_incomplete)
{
    static const struct head_case cases[] = {
        {"", -1, NULL},
        {"GET /health HTT", -1, NULL},
        {"GET /health HTTP/1.1\r\n", -1, NULL},
        {"GET /health HTTP/1.1\r\nHost: x\r\n", -1, NULL},
        {"GET /health HTTP/1.1\r\nHost: x\r\n\r", -1, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_head_case(&cases[i]);
}
END_TEST

START_TEST(head_bad)
{
    static const struct head_case cases[] = {
        {"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400,
         "malformed request line"},
        {"GET /health\r\n\r\n", 400, "malformed request line"}, /* 0.9 */
        {"GET  /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
        {"GET /health  HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
        {"GET /health HTTP/1.1 \r\nHost: x\r\n\r\n", 400, NULL},
        {"G(T /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
        {"GET /he\x01th HTTP/1.1\r\nHost: x\r\n\r\n", 400, NULL},
        {"GET /health HTTP/1.1\rX\r\nHost: x\r\n\r\n", 400, NULL},
        {"GET /health HTTX/1.1\r\nHost: x\r\n\r\n", 400, NULL},
        {"GET /health HTTP/11\r\nHost: x\r\n\r\n", 400, NULL},
        {"GET /health HTTP/1.1\r\n", -1, NULL},           /* not yet */
        {"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505,
         "HTTP version not supported"},
        {"GET /health HTTP/0.9\r\n\r\n", 505, NULL},
        {"GET /health HTTP/1.1\r\n\r\n", 400, "Host header missing"},
        {"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "malformed header line"},
        {"GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", 400, NULL},
        {"GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400, NULL},
        {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400,
         "folded header lines are not accepted"},
        {"GET / HTTP/1.1\r\nHost: x\x7f\r\n\r\n", 400,
         "control character in a header"},
        {"GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", 400, NULL}, /* bare CR */
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413,
         "too large"},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615"
         "\r\n\r\n",
         413, "too large"},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999"
         "9\r\n\r\n",
         413, "too large"},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400,
         "bad Content-Length"},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
         NULL},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 \r\n\r\n", 400,
         NULL},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400, NULL},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
         "Content-Length: 1\r\n\r\n",
         400, "more than one Content-Length"},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
         NULL},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         400, NULL},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         "Content-Length: 1\r\n\r\n",
         400, "both Content-Length and Transfer-Encoding"},
        /* 5 fields: one past fields_max, by each way of counting. */
        {"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
         431, "too many header fields"},
        {"GET /a?1&2&3&4&5 HTTP/1.1\r\nHost: x\r\n\r\n", 431, NULL},
        {"GET / HTTP/1.1\r\nHost: x\r\nCookie: a; b; c; d\r\n\r\n", 431, NULL},
        /* A bad line decides before the head ends. */
        {"GET / HTTP/1.1\r\nno colon\r\n", 400, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_head_case(&cases[i]);
}
END_TEST

/* head_bytes_max: a head of exactly that size passes, one byte more is
 * 431, a request line that long is 414. */
START_TEST(head_size_limit)
{
    char buf[512];
    const char *start = "GET / HTTP/1.1\r\nHost: ";
    size_t fixed = strlen(start) + 4; /* "\r\n\r\n" */
    size_t pad = LIM.head_bytes_max - fixed;
    snprintf(buf, sizeof(buf), "%s%.*s\r\n\r\n", start, (int)pad,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ck_assert_uint_eq(strlen(buf), LIM.head_bytes_max);
    struct prod_admin_head_verdict v;
    ck_assert(prod_admin_gate_head_check(buf, strlen(buf), &LIM, &v));
    ck_assert_uint_eq(v.status, 0);
    /* One byte more in the Host value: the head no longer fits. */
    char longer[600];
    snprintf(longer, sizeof(longer), "%sx%s", start, buf + strlen(start));
    ck_assert(
        !prod_admin_gate_head_check(longer, LIM.head_bytes_max - 1, &LIM, &v));
    ck_assert(prod_admin_gate_head_check(longer, strlen(longer), &LIM, &v));
    ck_assert_uint_eq(v.status, 431);
    ck_assert_str_eq(v.message, "request head too large");
    /* No end of the request line within the limit: 414. */
    char line[300];
    memset(line, 'a', sizeof(line));
    memcpy(line, "GET /", 5);
    ck_assert(prod_admin_gate_head_check(line, sizeof(line), &LIM, &v));
    ck_assert_uint_eq(v.status, 414);
    ck_assert(
        !prod_admin_gate_head_check(line, LIM.head_bytes_max - 1, &LIM, &v));
}
END_TEST

/* ---- prod_admin_gate_answer ---- */

START_TEST(answer_format)
{
    char buf[PROD_ADMIN_GATE_ANSWER_BYTES_MAX];
    size_t n = prod_admin_gate_answer(503, "too many connections", buf,
                                      sizeof(buf));
    ck_assert_uint_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "HTTP/1.1 503 Service Unavailable\r\n"
                          "Content-Type: application/json\r\n"
                          "Content-Length: 33\r\n"
                          "Connection: close\r\n"
                          "Retry-After: 1\r\n"
                          "\r\n"
                          "{\"error\": \"too many connections\"}");
    n = prod_admin_gate_answer(414, "request line too long", buf,
                               sizeof(buf));
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 414 URI Too Long\r\n"));
    ck_assert_ptr_null(strstr(buf, "Retry-After"));
    /* Too small a buffer: nothing. */
    ck_assert_uint_eq(prod_admin_gate_answer(400, "x", buf, 20), 0);
}
END_TEST

/* ---- the gate on a loop ---- */

#define CONNS_MAX 3u
#define WAIT_S 10 /* wall-clock bound on any wait below */

static struct ev_loop *loop;
static struct prod_admin_gate *gate;
static uint16_t port;
static size_t serving;      /* what the fake admin serves */
static int admitted[16];    /* descriptors handed over */
static size_t admitted_count;

static size_t fake_serving(void *ctx)
{
    (void)ctx;
    return serving;
}

static void fake_admit(void *ctx, int fd, const struct sockaddr *addr,
                       socklen_t addr_len)
{
    (void)ctx;
    ck_assert_uint_eq(addr->sa_family, AF_INET);
    ck_assert_uint_eq(addr_len, sizeof(struct sockaddr_in));
    ck_assert_uint_lt(admitted_count, 16);
    admitted[admitted_count++] = fd;
    serving++;
}

static void start_gate(uint32_t head_timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 256), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    port = ntohs(sin.sin_port);
    struct prod_admin_gate_opts opts = {
        .head = {.head_bytes_max = 1024, .fields_max = 16,
                 .body_bytes_max = 100},
        .connections_max = CONNS_MAX,
        .head_timeout_ms = head_timeout_ms};
    struct prod_admin_gate_ops ops = {.serving = fake_serving,
                                      .admit = fake_admit};
    ck_assert_int_eq(prod_admin_gate_start(loop, fd, &opts, &ops, &gate), 0);
}

static void setup(void)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    serving = 0;
    admitted_count = 0;
    start_gate(60000);
}

static void teardown(void)
{
    prod_admin_gate_stop(gate);
    for (size_t i = 0; i < admitted_count; i++)
        close(admitted[i]);
    ev_loop_destroy(loop);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A client connected to the gate (the kernel completes it at once). */
static int client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    ck_assert_int_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Turns the loop until done() holds (or fails after WAIT_S). */
static void turn_until(bool (*done)(void *), void *arg, const char *what)
{
    double deadline = now_s() + WAIT_S;
    while (!done(arg)) {
        ck_assert_msg(now_s() < deadline, "timed out waiting for %s", what);
        ev_run(loop, EVRUN_NOWAIT);
        poll(NULL, 0, 1);
    }
}

/* Reads fd to its end while turning the loop: the whole answer. */
struct answer {
    int fd;
    char buf[4096];
    size_t len;
    bool ended;
};

static bool answer_ended(void *arg)
{
    struct answer *a = arg;
    for (;;) {
        ssize_t n = recv(a->fd, a->buf + a->len, sizeof(a->buf) - 1 - a->len,
                         0);
        if (n > 0) {
            a->len += (size_t)n;
            a->buf[a->len] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            a->ended = true;
        return a->ended;
    }
}

static struct answer *read_answer(int fd)
{
    static struct answer a;
    memset(&a, 0, sizeof(a));
    a.fd = fd;
    turn_until(answer_ended, &a, "an answer");
    return &a;
}

/* The answer is status with a JSON error body. */
static void assert_json_error(const struct answer *a, unsigned status)
{
    char line[64];
    snprintf(line, sizeof(line), "HTTP/1.1 %u ", status);
    ck_assert_msg(strncmp(a->buf, line, strlen(line)) == 0, "answer: %s",
                  a->buf);
    ck_assert_ptr_nonnull(strstr(a->buf, "Content-Type: application/json\r\n"));
    ck_assert_ptr_nonnull(strstr(a->buf, "Connection: close\r\n"));
    const char *body = strstr(a->buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    ck_assert_msg(strncmp(body + 4, "{\"error\": \"", 11) == 0, "body: %s",
                  body + 4);
    ck_assert_int_eq(a->buf[a->len - 1], '}');
}

static bool admitted_at_least(void *arg)
{
    return admitted_count >= *(size_t *)arg;
}

static bool waiting_is(void *arg)
{
    struct prod_admin_gate_stats st;
    prod_admin_gate_get_stats(gate, &st);
    return st.waiting == *(size_t *)arg;
}

static bool lingering_is(void *arg)
{
    struct prod_admin_gate_stats st;
    prod_admin_gate_get_stats(gate, &st);
    return st.lingering == *(size_t *)arg;
}

/* A good head is handed over with its bytes still unread. */
START_TEST(good_head_is_handed_over_unread)
{
    int c = client();
    const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    /* In two pieces: the first does not decide. */
    send_str(c, "GET /health HTTP/1.1\r\n");
    size_t one = 1, zero = 0;
    turn_until(waiting_is, &one, "one waiting");
    ck_assert_uint_eq(admitted_count, 0);
    send_str(c, "Host: x\r\n\r\n");
    turn_until(admitted_at_least, &one, "the admission");
    char buf[128];
    ssize_t n = recv(admitted[0], buf, sizeof(buf), 0);
    ck_assert_int_eq(n, (ssize_t)strlen(req));
    ck_assert_mem_eq(buf, req, strlen(req));
    ck_assert(waiting_is(&zero));
    struct prod_admin_gate_stats st;
    prod_admin_gate_get_stats(gate, &st);
    ck_assert_uint_eq(st.admitted_total, 1);
    close(c);
}
END_TEST

/* connections_max counts waiting ones and served ones: the next is 503;
 * once one closes, a new one is admitted. */
START_TEST(busy_is_503_until_one_leaves)
{
    serving = 1; /* the admin serves one already */
    int w[CONNS_MAX - 1];
    size_t waiting = CONNS_MAX - 1;
    for (size_t i = 0; i < CONNS_MAX - 1; i++)
        w[i] = client();
    turn_until(waiting_is, &waiting, "two waiting");
    int over = client();
    struct answer *a = read_answer(over);
    assert_json_error(a, 503);
    ck_assert_ptr_nonnull(strstr(a->buf, "Retry-After: 1\r\n"));
    ck_assert_ptr_nonnull(strstr(a->buf, "too many connections"));
    close(over);
    struct prod_admin_gate_stats st;
    prod_admin_gate_get_stats(gate, &st);
    ck_assert_uint_eq(st.refused_busy_total, 1);
    /* A waiting client leaves: its slot is free again. */
    close(w[0]);
    waiting = CONNS_MAX - 2;
    turn_until(waiting_is, &waiting, "one left");
    int next = client();
    send_str(next, "GET / HTTP/1.0\r\n\r\n");
    size_t one = 1;
    turn_until(admitted_at_least, &one, "the admission");
    /* The served connection ends too: room for one more. */
    serving = 0;
    int more = client();
    send_str(more, "GET / HTTP/1.0\r\n\r\n");
    size_t two = 2;
    turn_until(admitted_at_least, &two, "the second admission");
    prod_admin_gate_get_stats(gate, &st);
    ck_assert_uint_eq(st.refused_busy_total, 1);
    close(w[1]);
    close(next);
    close(more);
}
END_TEST

/* Bad heads get the JSON of their status, and the connection ends. */
START_TEST(bad_heads_are_answered_json)
{
    static const struct {
        const char *req;
        unsigned status;
    } cases[] = {
        {"BAD\r\n\r\n", 400},
        {"GET / HTTP/3.0\r\n\r\n", 505},
        {"POST / HTTP/1.1\r\nHost: x\r\n"
         "Content-Length: 18446744073709551615\r\n\r\n",
         413},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int c = client();
        send_str(c, cases[i].req);
        assert_json_error(read_answer(c), cases[i].status);
        close(c);
    }
    /* 414 and 431: past head_bytes_max (1024 here). */
    char big[1100];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "GET /", 5);
    int c = client();
    send_str(c, big);
    assert_json_error(read_answer(c), 414);
    close(c);
    memcpy(big, "GET / HTTP/1.1\r\nHost: ", 22);
    c = client();
    send_str(c, big);
    assert_json_error(read_answer(c), 431);
    close(c);
    ck_assert_uint_eq(admitted_count, 0);
    struct prod_admin_gate_stats st;
    prod_admin_gate_get_stats(gate, &st);
    ck_assert_uint_eq(st.refused_head_total, 6);
}
END_TEST

/* A head not complete in time: 408. */
START_TEST(late_head_is_408)
{
    prod_admin_gate_stop(gate);
    start_gate(50);
    int c = client();
    send_str(c, "GET /health HTTP/1.1\r\n");
    struct answer *a = read_answer(c);
    assert_json_error(a, 408);
    close(c);
    struct prod_admin_gate_stats st;
    prod_admin_gate_get_stats(gate, &st);
    ck_assert_uint_eq(st.timed_out_total, 1);
    ck_assert_uint_eq(st.waiting, 0);
    /* An idle client too. */
    c = client();
    assert_json_error(read_answer(c), 408);
    close(c);
}
END_TEST

/* A client gone before its head ends frees its slot; one that half-closes
 * after a whole head is still handed over. */
START_TEST(client_leaves)
{
    int c = client();
    send_str(c, "GET /health HT");
    size_t one = 1, zero = 0;
    turn_until(waiting_is, &one, "one waiting");
    close(c);
    turn_until(waiting_is, &zero, "none waiting");
    c = client();
    send_str(c, "GET / HTTP/1.0\r\n\r\n");
    shutdown(c, SHUT_WR);
    turn_until(admitted_at_least, &one, "the admission");
    close(c);
    ck_assert(waiting_is(&zero));
}
END_TEST

/* Refused sockets linger until their client closes, at most
 * PROD_ADMIN_GATE_LINGER_MAX of them: past that the oldest is closed. */
START_TEST(refusals_linger_bounded)
{
    serving = CONNS_MAX; /* everything is refused */
    enum { N = PROD_ADMIN_GATE_LINGER_MAX + 2 };
    static int c[N];
    for (size_t i = 0; i < N; i++) {
        c[i] = client();
        assert_json_error(read_answer(c[i]), 503);
    }
    size_t max = PROD_ADMIN_GATE_LINGER_MAX;
    ck_assert(lingering_is(&max));
    /* The two oldest were closed (their end came with the answer) and
     * the newest still lingers: its client may still send. */
    send_str(c[N - 1], "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    for (size_t i = 0; i < N; i++)
        close(c[i]);
    size_t zero = 0;
    turn_until(lingering_is, &zero, "no lingering socket");
    struct prod_admin_gate_stats st;
    prod_admin_gate_get_stats(gate, &st);
    ck_assert_uint_eq(st.refused_busy_total, N);
}
END_TEST

START_TEST(start_rejects_bad_options)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct prod_admin_gate_opts opts = {
        .head = {.head_bytes_max = 1024, .fields_max = 1},
        .connections_max = 0, .head_timeout_ms = 1};
    struct prod_admin_gate_ops ops = {.serving = fake_serving,
                                      .admit = fake_admit};
    struct prod_admin_gate *g = (struct prod_admin_gate *)&opts;
    /* fd is closed by the call, as its ownership passed. */
    ck_assert_int_eq(prod_admin_gate_start(loop, fd, &opts, &ops, &g),
                     P2P_ERR_INVALID_ARG);
    ck_assert_ptr_null(g);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    prod_admin_gate_stop(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prod_admin_gate");
    TCase *heads = tcase_create("heads");
    tcase_add_test(heads, head_good);
    tcase_add_test(heads, head_incomplete);
    tcase_add_test(heads, head_bad);
    tcase_add_test(heads, head_size_limit);
    tcase_add_test(heads, answer_format);
    suite_add_tcase(s, heads);
    TCase *gates = tcase_create("gate");
    tcase_add_checked_fixture(gates, setup, teardown);
    tcase_set_timeout(gates, 60);
    tcase_add_test(gates, good_head_is_handed_over_unread);
    tcase_add_test(gates, busy_is_503_until_one_leaves);
    tcase_add_test(gates, bad_heads_are_answered_json);
    tcase_add_test(gates, late_head_is_408);
    tcase_add_test(gates, client_leaves);
    tcase_add_test(gates, refusals_linger_bounded);
    tcase_add_test(gates, start_rejects_bad_options);
    suite_add_tcase(s, gates);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
