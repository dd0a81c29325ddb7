/* The replica's UDP socket on loopback: round trips with the right local and
 * remote addresses (bound, wildcard, IPv6, dual-stack), GSO batches split
 * back into packets by GRO, the 64-packet bound, partial sends (EAGAIN, by
 * the test hook: loopback never fills a send buffer), the GSO fallback,
 * ICMP errors not surfacing, and address parsing. Real sockets: these
 * tests test the glue with the kernel. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "prod/udp.h"

#define PKTS_MAX 160
#define PKT_BYTES_MAX 1500
#define WAIT_MS 2000

/* What a receiver saw. */
struct seen {
    size_t count;
    size_t lens[PKTS_MAX];
    uint8_t data[PKTS_MAX][PKT_BYTES_MAX];
    struct sockaddr_storage local, remote; /* of the last packet */
    socklen_t local_len, remote_len;
};

static void on_pkt(void *ctx, const struct sockaddr *local,
                   socklen_t local_len, const struct sockaddr *remote,
                   socklen_t remote_len, const uint8_t *pkt, size_t len)
{
    struct seen *s = ctx;
    ck_assert_uint_lt(s->count, PKTS_MAX);
    ck_assert_uint_le(len, PKT_BYTES_MAX);
    ck_assert_uint_le(local_len, sizeof(s->local));
    ck_assert_uint_le(remote_len, sizeof(s->remote));
    memcpy(s->data[s->count], pkt, len);
    s->lens[s->count++] = len;
    memcpy(&s->local, local, local_len);
    s->local_len = local_len;
    memcpy(&s->remote, remote, remote_len);
    s->remote_len = remote_len;
}

/* Reads until want packets arrived (or WAIT_MS without progress). */
static void recv_until(struct prod_udp *u, struct seen *s, size_t want)
{
    while (s->count < want) {
        struct pollfd p = {.fd = prod_udp_fd(u), .events = POLLIN};
        int r = poll(&p, 1, WAIT_MS);
        ck_assert_msg(r == 1, "timed out with %zu of %zu packets", s->count,
                      want);
        ck_assert_int_ge(prod_udp_recv(u, on_pkt, s, 64, NULL), 0);
    }
    ck_assert_uint_eq(s->count, want);
}

static struct sockaddr_storage addr_of(const char *s, socklen_t *len)
{
    struct sockaddr_storage ss;
    ck_assert_int_eq(prod_udp_parse_addr(s, &ss, len), 0);
    return ss;
}

/* Opens a socket on s ("127.0.0.1:0"); NULL when the address is not
 * available here (IPv6 disabled). */
static struct prod_udp *open_at(const char *s)
{
    socklen_t len;
    struct sockaddr_storage ss = addr_of(s, &len);
    struct prod_udp *u = NULL;
    char err[256] = "";
    int rc = prod_udp_open((struct sockaddr *)&ss, len, &u, err, sizeof(err));
    if (rc != 0) {
        ck_assert_int_eq(rc, P2P_ERR_CONNECT);
        ck_assert_ptr_null(u);
        fprintf(stderr, "  (skipping %s: %s)\n", s, err);
        return NULL;
    }
    return u;
}

static struct prod_udp *must_open(const char *s)
{
    struct prod_udp *u = open_at(s);
    ck_assert_ptr_nonnull(u);
    return u;
}

static bool addr_eq(const struct sockaddr_storage *a, socklen_t a_len,
                    const struct sockaddr_storage *b, socklen_t b_len)
{
    if (a_len != b_len || a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* The address s with the port of u's bound address. */
static struct sockaddr_storage at_port_of(const char *host_port,
                                          const struct prod_udp *u,
                                          socklen_t *len)
{
    struct sockaddr_storage bound, ss = addr_of(host_port, len);
    socklen_t blen;
    prod_udp_local(u, &bound, &blen);
    in_port_t port = bound.ss_family == AF_INET
                         ? ((struct sockaddr_in *)&bound)->sin_port
                         : ((struct sockaddr_in6 *)&bound)->sin6_port;
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = port;
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = port;
    return ss;
}

/* Packets of seg bytes (last one last_len) carrying their sequence number
 * in the first 4 bytes and (seq * 7 + i) & 0xff after. */
static size_t fill_pkts(uint8_t *buf, size_t pkts, size_t seg, size_t last_len)
{
    size_t off = 0;
    for (size_t p = 0; p < pkts; p++) {
        size_t n = p + 1 == pkts ? last_len : seg;
        for (size_t i = 0; i < n; i++)
            buf[off + i] = (uint8_t)((p * 7 + i) & 0xff);
        uint32_t seq = (uint32_t)p;
        memcpy(buf + off, &seq, sizeof(seq));
        off += n;
    }
    return off;
}

static void check_pkts(const struct seen *s, size_t pkts, size_t seg,
                       size_t last_len)
{
    ck_assert_uint_eq(s->count, pkts);
    for (size_t p = 0; p < pkts; p++) {
        ck_assert_uint_eq(s->lens[p], p + 1 == pkts ? last_len : seg);
        uint32_t seq;
        memcpy(&seq, s->data[p], sizeof(seq));
        ck_assert_uint_eq(seq, p); /* in order, each once */
        size_t bad = 0; /* one assertion per packet: bytes are many */
        for (size_t i = sizeof(seq); i < s->lens[p]; i++)
            bad += s->data[p][i] != ((p * 7 + i) & 0xff);
        ck_assert_msg(bad == 0, "packet %zu: %zu bytes differ", p, bad);
    }
}

/* Room for 64 packets and for two of the largest datagrams. */
static uint8_t big[2 * PROD_UDP_PAYLOAD_BYTES_MAX];

static ssize_t send_to(struct prod_udp *from, const struct prod_udp *to,
                       const uint8_t *buf, size_t len, size_t seg)
{
    struct sockaddr_storage dst;
    socklen_t dst_len;
    prod_udp_local(to, &dst, &dst_len);
    const struct prod_udp_path p = {NULL, 0, (struct sockaddr *)&dst, dst_len};
    return prod_udp_send(from, &p, buf, len, seg);
}

START_TEST(round_trip_reports_local_and_remote)
{
    struct prod_udp *a = must_open("127.0.0.1:0");
    struct prod_udp *b = must_open("127.0.0.1:0");
    struct sockaddr_storage la, lb;
    socklen_t la_len, lb_len;
    prod_udp_local(a, &la, &la_len);
    prod_udp_local(b, &lb, &lb_len);
    ck_assert_uint_ne(((struct sockaddr_in *)&la)->sin_port, 0);

    static struct seen s;
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(prod_udp_recv(b, on_pkt, &s, 8, NULL), 0); /* empty */
    ck_assert_int_eq(send_to(a, b, (const uint8_t *)"hello", 5, 1200), 5);
    uint64_t bytes_in = 0;
    struct pollfd p = {.fd = prod_udp_fd(b), .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
    ck_assert_int_eq(prod_udp_recv(b, on_pkt, &s, 8, &bytes_in), 1);
    ck_assert_uint_eq(bytes_in, 5);
    ck_assert_uint_eq(s.lens[0], 5);
    ck_assert_mem_eq(s.data[0], "hello", 5);
    ck_assert(addr_eq(&s.local, s.local_len, &lb, lb_len));
    ck_assert(addr_eq(&s.remote, s.remote_len, &la, la_len));

    /* Reply to what was reported, from the reported local address. */
    static struct seen r;
    memset(&r, 0, sizeof(r));
    /* Back along the path it came: from its local to its remote. */
    const struct prod_udp_path back = {(struct sockaddr *)&s.local, s.local_len,
                                       (struct sockaddr *)&s.remote,
                                       s.remote_len};
    ck_assert_int_eq(prod_udp_send(b, &back, (const uint8_t *)"ok", 2, 1200),
                     2);
    recv_until(a, &r, 1);
    ck_assert_mem_eq(r.data[0], "ok", 2);
    ck_assert(addr_eq(&r.remote, r.remote_len, &lb, lb_len));
    ck_assert(addr_eq(&r.local, r.local_len, &la, la_len));
    ck_assert_int_eq(send_to(a, b, big, 0, 1200), 0); /* nothing to send */
    prod_udp_close(a);
    prod_udp_close(b);
}
END_TEST

START_TEST(wildcard_bind_reports_and_uses_packet_addresses)
{
    struct prod_udp *w = must_open("0.0.0.0:0"), *a = must_open("127.0.0.1:0");
    struct sockaddr_storage la;
    socklen_t la_len, to_len;
    prod_udp_local(a, &la, &la_len);
    /* Sent to 127.0.0.3: the wildcard socket names that, not 0.0.0.0. */
    struct sockaddr_storage to = at_port_of("127.0.0.3:0", w, &to_len);
    const struct prod_udp_path to_w = {NULL, 0, (struct sockaddr *)&to, to_len};
    ck_assert_int_eq(prod_udp_send(a, &to_w, (const uint8_t *)"x", 1, 1200), 1);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    recv_until(w, &s, 1);
    ck_assert(addr_eq(&s.local, s.local_len, &to, to_len));
    ck_assert(addr_eq(&s.remote, s.remote_len, &la, la_len));

    /* The reply leaves from the given source address (IP_PKTINFO). */
    socklen_t src_len;
    struct sockaddr_storage src = at_port_of("127.0.0.2:0", w, &src_len);
    const struct prod_udp_path to_a = {(struct sockaddr *)&src, src_len,
                                       (struct sockaddr *)&la, la_len};
    ck_assert_int_eq(prod_udp_send(w, &to_a, (const uint8_t *)"y", 1, 1200), 1);
    static struct seen r;
    memset(&r, 0, sizeof(r));
    recv_until(a, &r, 1);
    ck_assert(addr_eq(&r.remote, r.remote_len, &src, src_len));
    prod_udp_close(w);
    prod_udp_close(a);
}
END_TEST

START_TEST(gso_batch_of_41_arrives_as_41_packets_in_order)
{
    struct prod_udp *a = must_open("127.0.0.1:0");
    struct prod_udp *b = must_open("127.0.0.1:0");
    fprintf(stderr, "  gso=%d gro=%d\n", prod_udp_has_gso(a),
            prod_udp_has_gro(b));
    size_t len = fill_pkts(big, 41, 1200, 500);
    ck_assert_uint_eq(len, 40 * 1200 + 500);
    ck_assert_int_eq(send_to(a, b, big, len, 1200), (ssize_t)len);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    if (prod_udp_has_gso(a) && prod_udp_has_gro(b)) {
        /* Loopback hands the GSO batch to a GRO socket whole: one read
         * gives every packet, split here. */
        struct pollfd p = {.fd = prod_udp_fd(b), .events = POLLIN};
        ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
        uint64_t bytes_in = 0;
        ck_assert_int_eq(prod_udp_recv(b, on_pkt, &s, 1, &bytes_in), 41);
        ck_assert_uint_eq(bytes_in, len);
    }
    recv_until(b, &s, 41);
    check_pkts(&s, 41, 1200, 500);
    prod_udp_close(a);
    prod_udp_close(b);
}
END_TEST

/* 64 x 1200 bytes exceed one datagram's 65507: two GSO sends (54 + 10). */
START_TEST(sixty_four_segments_and_the_bound)
{
    struct prod_udp *a = must_open("127.0.0.1:0");
    struct prod_udp *b = must_open("127.0.0.1:0");
    for (int gso = 1; gso >= 0; gso--) {
        prod_udp__set_gso(a, gso);
        size_t len = fill_pkts(big, 64, 1200, 1200);
        ck_assert_int_eq(send_to(a, b, big, len, 1200), (ssize_t)len);
        static struct seen s;
        memset(&s, 0, sizeof(s));
        recv_until(b, &s, 64);
        check_pkts(&s, 64, 1200, 1200);
    }
    /* 65 packets (one byte over 64 full ones) is the caller's bug. */
    size_t len = 64 * 1200 + 1;
    ck_assert_int_eq(send_to(a, b, big, len, 1200), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(send_to(a, b, big, 10, 0), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(send_to(a, b, big, 10, PROD_UDP_PAYLOAD_BYTES_MAX + 1),
                     P2P_ERR_INVALID_ARG);
    /* Largest packets: one per datagram, GSO or not. */
    prod_udp__set_gso(a, true);
    memset(big, 0x5a, 2 * PROD_UDP_PAYLOAD_BYTES_MAX);
    ck_assert_int_eq(send_to(a, b, big, 2 * PROD_UDP_PAYLOAD_BYTES_MAX,
                             PROD_UDP_PAYLOAD_BYTES_MAX),
                     2 * PROD_UDP_PAYLOAD_BYTES_MAX);
    prod_udp_close(a);
    prod_udp_close(b);
}
END_TEST

/* A full send buffer part-way: whole packets taken, the rest resent. */
START_TEST(partial_send_is_whole_packets_and_rest_follows)
{
    struct prod_udp *a = must_open("127.0.0.1:0");
    struct prod_udp *b = must_open("127.0.0.1:0");
    struct {
        bool gso;
        int32_t budget;
        ssize_t want; /* bytes taken by the first call */
    } cases[] = {
        /* GSO: 54 go in the first sendmsg, the next 10 do not fit in 6. */
        {true, 60, 54 * 1200},
        {true, 54, 54 * 1200},
        {true, 53, 0},
        {true, 0, 0},
        {false, 5, 5 * 1200},
        {false, 63, 63 * 1200},
        {false, 0, 0},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        if (cases[c].gso && !prod_udp_has_gso(a))
            continue;
        prod_udp__set_gso(a, cases[c].gso);
        struct prod_udp__test_hooks h = {.send_budget_packets =
                                             cases[c].budget};
        prod_udp__set_test_hooks(a, &h);
        size_t len = fill_pkts(big, 64, 1200, 1000);
        ssize_t r = send_to(a, b, big, len, 1200);
        ck_assert_int_eq(r, cases[c].want);
        ck_assert_int_eq(r % 1200, 0);
        /* Still full: nothing more goes. */
        h.send_budget_packets = 0;
        prod_udp__set_test_hooks(a, &h);
        ck_assert_int_eq(send_to(a, b, big + r, len - (size_t)r, 1200), 0);
        /* Writable again: the rest. */
        h.send_budget_packets = -1;
        prod_udp__set_test_hooks(a, &h);
        ck_assert_int_eq(send_to(a, b, big + r, len - (size_t)r, 1200),
                         (ssize_t)len - r);
        static struct seen s;
        memset(&s, 0, sizeof(s));
        recv_until(b, &s, 64);
        check_pkts(&s, 64, 1200, 1000);
    }
    prod_udp_close(a);
    prod_udp_close(b);
}
END_TEST

START_TEST(gso_refused_by_device_falls_back_to_single_packets)
{
    struct prod_udp *a = must_open("127.0.0.1:0");
    struct prod_udp *b = must_open("127.0.0.1:0");
    if (!prod_udp_has_gso(a)) {
        fprintf(stderr, "  (no GSO in this kernel: fallback not tested)\n");
        goto out;
    }
    int errs[] = {EIO, EINVAL};
    for (size_t e = 0; e < 2; e++) {
        prod_udp__set_gso(a, true);
        struct prod_udp__test_hooks h = {.send_budget_packets = -1,
                                         .gso_errno = errs[e]};
        prod_udp__set_test_hooks(a, &h);
        size_t len = fill_pkts(big, 10, 1200, 700);
        ck_assert_int_eq(send_to(a, b, big, len, 1200), (ssize_t)len);
        ck_assert(!prod_udp_has_gso(a)); /* off for this socket */
        static struct seen s;
        memset(&s, 0, sizeof(s));
        recv_until(b, &s, 10);
        check_pkts(&s, 10, 1200, 700);
    }
    /* EINVAL for a bad send (here a source address that is not ours):
     * single packets fail too, the error is the caller's, GSO stays on. */
    struct prod_udp *w = must_open("0.0.0.0:0");
    struct prod_udp__test_hooks inval = {.send_budget_packets = -1,
                                         .gso_errno = EINVAL};
    prod_udp__set_test_hooks(w, &inval);
    socklen_t src_len, dst_len;
    struct sockaddr_storage src = addr_of("192.0.2.1:1", &src_len);
    struct sockaddr_storage dst = at_port_of("127.0.0.1:0", b, &dst_len);
    const struct prod_udp_path p = {(struct sockaddr *)&src, src_len,
                                    (struct sockaddr *)&dst, dst_len};
    if (prod_udp_has_gso(w))
        ck_assert_int_eq(prod_udp_send(w, &p, big, 2400, 1200), P2P_ERR_WRITE);
    ck_assert(prod_udp_has_gso(w));
    prod_udp_close(w);
    /* Any other GSO failure is the caller's to see. */
    prod_udp__set_gso(a, true);
    struct prod_udp__test_hooks h = {.send_budget_packets = -1,
                                     .gso_errno = EPERM};
    prod_udp__set_test_hooks(a, &h);
    ck_assert_int_eq(send_to(a, b, big, 2400, 1200), P2P_ERR_WRITE);
    ck_assert(prod_udp_has_gso(a));
out:
    prod_udp_close(a);
    prod_udp_close(b);
}
END_TEST

START_TEST(closed_port_does_not_break_recv)
{
    struct prod_udp *a = must_open("127.0.0.1:0");
    struct prod_udp *b = must_open("127.0.0.1:0");
    struct prod_udp *gone = must_open("127.0.0.1:0");
    struct sockaddr_storage dead;
    socklen_t dead_len;
    prod_udp_local(gone, &dead, &dead_len);
    prod_udp_close(gone);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 3; i++) {
        /* Port unreachable comes back as ICMP; unconnected: never seen. */
        const struct prod_udp_path p = {NULL, 0, (struct sockaddr *)&dead,
                                        dead_len};
        ck_assert_int_eq(prod_udp_send(a, &p, (const uint8_t *)"zz", 2, 1200),
                         2);
        ck_assert_int_eq(prod_udp_recv(a, on_pkt, &s, 8, NULL), 0);
    }
    ck_assert_int_eq(send_to(b, a, (const uint8_t *)"live", 4, 1200), 4);
    recv_until(a, &s, 1);
    ck_assert_mem_eq(s.data[0], "live", 4);
    prod_udp_close(a);
    prod_udp_close(b);
}
END_TEST

/* A real socket error (here: the descriptor is no longer a socket) is
 * an error value on both sides, not a crash or a silent 0. */
START_TEST(socket_errors_are_reported)
{
    struct prod_udp *a = must_open("127.0.0.1:0");
    struct prod_udp *b = must_open("127.0.0.1:0");
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(null_fd, 0);
    ck_assert_int_eq(dup2(null_fd, prod_udp_fd(a)), prod_udp_fd(a));
    close(null_fd);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(prod_udp_recv(a, on_pkt, &s, 8, NULL), P2P_ERR_READ);
    ck_assert_int_eq(send_to(a, b, big, 10, 1200), P2P_ERR_WRITE);
    ck_assert_int_eq(send_to(a, b, big, 2400, 1200), P2P_ERR_WRITE);
    ck_assert_uint_eq(s.count, 0);
    prod_udp_close(a);
    prod_udp_close(b);
}
END_TEST

START_TEST(ipv6_loopback_round_trip)
{
    struct prod_udp *a = open_at("[::1]:0");
    if (a == NULL)
        return; /* IPv6 disabled here */
    struct prod_udp *b = must_open("[::1]:0");
    struct sockaddr_storage la, lb;
    socklen_t la_len, lb_len;
    prod_udp_local(a, &la, &la_len);
    prod_udp_local(b, &lb, &lb_len);
    size_t len = fill_pkts(big, 5, 1200, 3);
    ck_assert_int_eq(send_to(a, b, big, len, 1200), (ssize_t)len);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    recv_until(b, &s, 5);
    check_pkts(&s, 5, 1200, 3);
    ck_assert_int_eq(s.local.ss_family, AF_INET6);
    ck_assert(addr_eq(&s.local, s.local_len, &lb, lb_len));
    ck_assert(addr_eq(&s.remote, s.remote_len, &la, la_len));
    /* An IPv6 remote on an IPv4 socket is refused, not sent. */
    struct prod_udp *v4 = must_open("127.0.0.1:0");
    ck_assert_int_eq(send_to(v4, b, big, 10, 1200), P2P_ERR_INVALID_ARG);
    prod_udp_close(v4);
    prod_udp_close(a);
    prod_udp_close(b);
}
END_TEST

/* [::] takes IPv4 too, and shows IPv4 peers as AF_INET both ways. */
START_TEST(dual_stack_reports_ipv4_as_ipv4)
{
    struct prod_udp *w = open_at("[::]:0");
    if (w == NULL)
        return;
    struct prod_udp *a = must_open("127.0.0.1:0");
    struct sockaddr_storage la;
    socklen_t la_len, to_len;
    prod_udp_local(a, &la, &la_len);
    struct sockaddr_storage to = at_port_of("127.0.0.1:0", w, &to_len);
    const struct prod_udp_path to_w = {NULL, 0, (struct sockaddr *)&to, to_len};
    ck_assert_int_eq(prod_udp_send(a, &to_w, (const uint8_t *)"v4", 2, 1200),
                     2);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    recv_until(w, &s, 1);
    ck_assert_int_eq(s.remote.ss_family, AF_INET);
    ck_assert(addr_eq(&s.remote, s.remote_len, &la, la_len));
    ck_assert(addr_eq(&s.local, s.local_len, &to, to_len));
    /* The reply, AF_INET addresses on an AF_INET6 socket, a GSO batch. */
    size_t len = fill_pkts(big, 3, 1200, 1200);
    const struct prod_udp_path back = {(struct sockaddr *)&s.local, s.local_len,
                                       (struct sockaddr *)&s.remote,
                                       s.remote_len};
    ck_assert_int_eq(prod_udp_send(w, &back, big, len, 1200), (ssize_t)len);
    static struct seen r;
    memset(&r, 0, sizeof(r));
    recv_until(a, &r, 3);
    check_pkts(&r, 3, 1200, 1200);
    ck_assert(addr_eq(&r.remote, r.remote_len, &to, to_len));
    prod_udp_close(w);
    prod_udp_close(a);
}
END_TEST

START_TEST(open_errors)
{
    struct prod_udp *a = must_open("127.0.0.1:0"), *u = NULL;
    struct sockaddr_storage la;
    socklen_t la_len;
    prod_udp_local(a, &la, &la_len);
    char err[256] = "";
    ck_assert_int_eq(
        prod_udp_open((struct sockaddr *)&la, la_len, &u, err, sizeof(err)),
        P2P_ERR_CONNECT);
    ck_assert_ptr_null(u);
    ck_assert_ptr_nonnull(strstr(err, "bind"));
    ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:"));
    ck_assert_int_eq(prod_udp_open((struct sockaddr *)&la, 4, &u, NULL, 0),
                     P2P_ERR_INVALID_ARG);
    struct sockaddr bad = {.sa_family = AF_UNIX};
    ck_assert_int_eq(
        prod_udp_open(&bad, sizeof(bad), &u, err, sizeof(err)),
        P2P_ERR_INVALID_ARG);
    ck_assert_ptr_null(u);
    prod_udp_close(a);
    prod_udp_close(NULL);
}
END_TEST

START_TEST(parse_addr_cases)
{
    static const struct {
        const char *in;
        int family; /* 0: must fail */
        const char *host;
        unsigned port;
    } cases[] = {
        {"127.0.0.1:4100", AF_INET, "127.0.0.1", 4100},
        {"0.0.0.0:0", AF_INET, "0.0.0.0", 0},
        {"10.1.2.3:65535", AF_INET, "10.1.2.3", 65535},
        {"localhost:4100", AF_INET, "127.0.0.1", 4100},
        {"[::1]:4100", AF_INET6, "::1", 4100},
        {"[::]:1", AF_INET6, "::", 1},
        {"[2001:db8::7]:443", AF_INET6, "2001:db8::7", 443},
        {"[::ffff:1.2.3.4]:9", AF_INET6, "::ffff:1.2.3.4", 9},
        {"127.0.0.1:04100", AF_INET, "127.0.0.1", 4100},
        {"127.0.0.1", 0, NULL, 0},           /* missing port */
        {"127.0.0.1:", 0, NULL, 0},          /* empty port */
        {"host:", 0, NULL, 0},
        {"127.0.0.1:70000", 0, NULL, 0},     /* port out of range */
        {"127.0.0.1:65536", 0, NULL, 0},
        {"127.0.0.1:100000", 0, NULL, 0},
        {"127.0.0.1:-1", 0, NULL, 0},
        {"127.0.0.1:+80", 0, NULL, 0},
        {"127.0.0.1:80 ", 0, NULL, 0},
        {"127.0.0.1:8x", 0, NULL, 0},
        {":4100", 0, NULL, 0},               /* empty host */
        {"example.com:4100", 0, NULL, 0},    /* no DNS */
        {"256.0.0.1:1", 0, NULL, 0},
        {"1.2.3:1", 0, NULL, 0},
        {"::1:4100", 0, NULL, 0},            /* IPv6 needs brackets */
        {"[::1]", 0, NULL, 0},
        {"[::1]4100", 0, NULL, 0},
        {"[::1:4100", 0, NULL, 0},
        {"[127.0.0.1]:1", 0, NULL, 0},
        {"[fe80::1%eth0]:1", 0, NULL, 0},    /* no zone ids */
        {"", 0, NULL, 0},
        {"garbage", 0, NULL, 0},
        {"\xff\xfe:1", 0, NULL, 0},
        {"[1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa]:1", 0, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        memset(&ss, 0xee, sizeof(ss));
        socklen_t len = 12345;
        int rc = prod_udp_parse_addr(cases[i].in, &ss, &len);
        if (cases[i].family == 0) {
            ck_assert_msg(rc == P2P_ERR_INVALID_ARG, "accepted '%s'",
                          cases[i].in);
            ck_assert_uint_eq(len, 12345); /* untouched */
            continue;
        }
        ck_assert_msg(rc == 0, "refused '%s'", cases[i].in);
        ck_assert_int_eq(ss.ss_family, cases[i].family);
        char host[INET6_ADDRSTRLEN];
        unsigned port;
        if (cases[i].family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            ck_assert_uint_eq(len, sizeof(*in));
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
            port = ntohs(in->sin_port);
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            ck_assert_uint_eq(len, sizeof(*in6));
            ck_assert_uint_eq(in6->sin6_scope_id, 0);
            ck_assert_uint_eq(in6->sin6_flowinfo, 0);
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            port = ntohs(in6->sin6_port);
        }
        ck_assert_str_eq(host, cases[i].host);
        ck_assert_uint_eq(port, cases[i].port);
    }
    /* Longest accepted form, and one character more. */
    char longest[80] = "[1111:2222:3333:4444:5555:6666:123.123.123.123]:65535";
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(prod_udp_parse_addr(longest, &ss, &len), 0);
    strcat(longest, "0");
    ck_assert_int_eq(prod_udp_parse_addr(longest, &ss, &len),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(prod_udp_parse_addr(NULL, &ss, &len),
                     P2P_ERR_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prod_udp");
    TCase *tc = tcase_create("udp");
    tcase_add_test(tc, round_trip_reports_local_and_remote);
    tcase_add_test(tc, wildcard_bind_reports_and_uses_packet_addresses);
    tcase_add_test(tc, gso_batch_of_41_arrives_as_41_packets_in_order);
    tcase_add_test(tc, sixty_four_segments_and_the_bound);
    tcase_add_test(tc, partial_send_is_whole_packets_and_rest_follows);
    tcase_add_test(tc, gso_refused_by_device_falls_back_to_single_packets);
    tcase_add_test(tc, closed_port_does_not_break_recv);
    tcase_add_test(tc, socket_errors_are_reported);
    tcase_add_test(tc, ipv6_loopback_round_trip);
    tcase_add_test(tc, dual_stack_reports_ipv4_as_ipv4);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, parse_addr_cases);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
