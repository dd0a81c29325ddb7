/* The replica's UDP socket: GSO batches on send, GRO aggregates split on
 * receive, per-packet local addresses, large buffers (prod/udp.h). */
#include "prod/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/errmsg.h"
#include "core/assert.h"
#include "core/err.h"

/* Room for every cmsg the socket is asked to deliver (UDP_GRO and one
 * packet info) with margin, so MSG_CTRUNC means something unexpected. */
#define RECV_CMSG_BYTES 256
/* The longest "host:port" prod_udp_parse_addr accepts: "[" + the longest
 * IPv6 text (INET6_ADDRSTRLEN counts a NUL) + "]:65535". */
#define PARSE_ADDR_CHARS_MAX (1 + (INET6_ADDRSTRLEN - 1) + 2 + 5)

struct prod_udp {
    int fd;
    int family;                    /* AF_INET or AF_INET6 */
    bool wildcard;                 /* bound to 0.0.0.0 or :: */
    bool gso_kernel;               /* the kernel knows UDP_SEGMENT */
    bool gso;                      /* sends use UDP_SEGMENT */
    bool gro;                      /* UDP_GRO accepted */
    struct sockaddr_storage local; /* bound address, port resolved */
    socklen_t local_len;
    struct prod_udp__test_hooks hooks;
    uint8_t rbuf[PROD_UDP_RECV_BYTES];
};

/* Control buffer for one send: UDP_SEGMENT plus one packet info. */
union send_cmsg {
    struct cmsghdr align;
    uint8_t buf[CMSG_SPACE(sizeof(uint16_t)) +
                CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

union recv_cmsg {
    struct cmsghdr align;
    uint8_t buf[RECV_CMSG_BYTES];
};

/* "udp <addr>: <step>: <reason>" into err (may be NULL). */
static void set_err(char *err, size_t err_len, const char *where,
                    const char *step, const char *reason)
{
    conf_errmsg_set(err, err_len, "udp %s: %s: %s", where, step, reason);
}

static void addr_str(const struct sockaddr *a, char *out, size_t out_len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, out_len, "%s:%u", host, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, out_len, "[%s]:%u", host, port);
    }
}

/* A v4-mapped IPv6 address becomes the AF_INET one (same port). */
static void unmap_v4(struct sockaddr_storage *ss, socklen_t *len)
{
    if (ss->ss_family != AF_INET6)
        return;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
        return;
    struct sockaddr_in in;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = in6->sin6_port;
    memcpy(&in.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &in, sizeof(in));
    *len = sizeof(in);
}

/* Copies a (caller-supplied) address into the socket's family: AF_INET
 * becomes v4-mapped on an IPv6 socket and v4-mapped becomes AF_INET on an
 * IPv4 one. Returns 0 or P2P_ERR_INVALID_ARG. */
static int to_socket_family(int family, const struct sockaddr *a,
                            socklen_t a_len, struct sockaddr_storage *out,
                            socklen_t *out_len)
{
    memset(out, 0, sizeof(*out));
    if (a == NULL)
        return P2P_ERR_INVALID_ARG;
    if (a->sa_family == AF_INET && a_len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        if (family == AF_INET) {
            memcpy(out, in, sizeof(*in));
            *out_len = sizeof(*in);
            return 0;
        }
        struct sockaddr_in6 *m = (struct sockaddr_in6 *)out;
        m->sin6_family = AF_INET6;
        m->sin6_port = in->sin_port;
        m->sin6_addr.s6_addr[10] = 0xff;
        m->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&m->sin6_addr.s6_addr[12], &in->sin_addr, 4);
        *out_len = sizeof(*m);
        return 0;
    }
    if (a->sa_family == AF_INET6 && a_len >= sizeof(struct sockaddr_in6)) {
        memcpy(out, a, sizeof(struct sockaddr_in6));
        *out_len = sizeof(struct sockaddr_in6);
        if (family == AF_INET6)
            return 0;
        unmap_v4(out, out_len);
        return out->ss_family == AF_INET ? 0 : P2P_ERR_INVALID_ARG;
    }
    return P2P_ERR_INVALID_ARG;
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
               htonl(INADDR_ANY);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    return IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
}

static void set_int_opt_quiet(int fd, int level, int name, int val)
{
    (void)setsockopt(fd, level, name, &val, sizeof(val));
}

/* SO_*BUFFORCE ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN. */
static void raise_bufs(int fd)
{
    int bytes = (int)PROD_UDP_SOCKBUF_BYTES;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
        set_int_opt_quiet(fd, SOL_SOCKET, SO_RCVBUF, bytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)))
        set_int_opt_quiet(fd, SOL_SOCKET, SO_SNDBUF, bytes);
}

/* Options set before bind. Packet info is required (without it a wildcard
 * bind cannot name its paths); the rest are best effort. */
static int set_options(int fd, int family)
{
    int one = 1;
    raise_bufs(fd);
    if (family == AF_INET6) {
        /* Dual-stack regardless of net.ipv6.bindv6only. */
        set_int_opt_quiet(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
        set_int_opt_quiet(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER,
                          IPV6_PMTUDISC_PROBE);
        /* For the IPv4 packets of a dual-stack socket. */
        set_int_opt_quiet(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
        return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
                          sizeof(one));
    }
    set_int_opt_quiet(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
    return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
}

int prod_udp_open(const struct sockaddr *addr, socklen_t addr_len,
                  struct prod_udp **out, char *err, size_t err_len)
{
    P2P_ASSERT(out != NULL);
    if (addr == NULL || !((addr->sa_family == AF_INET &&
                           addr_len >= sizeof(struct sockaddr_in)) ||
                          (addr->sa_family == AF_INET6 &&
                           addr_len >= sizeof(struct sockaddr_in6)))) {
        set_err(err, err_len, "?", "address", "not an IPv4/IPv6 address");
        return P2P_ERR_INVALID_ARG;
    }
    char where[INET6_ADDRSTRLEN + 16];
    addr_str(addr, where, sizeof(where));

    struct prod_udp *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        set_err(err, err_len, where, "alloc", strerror(ENOMEM));
        return P2P_ERR_NOMEM;
    }
    u->family = addr->sa_family;
    u->hooks.send_budget_packets = -1;
    u->fd = socket(u->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   IPPROTO_UDP);
    if (u->fd < 0) {
        set_err(err, err_len, where, "socket", strerror(errno));
        goto fail_free;
    }
    if (set_options(u->fd, u->family) != 0) {
        set_err(err, err_len, where, "packet info", strerror(errno));
        goto fail_close;
    }
    if (bind(u->fd, addr, addr_len) != 0) {
        set_err(err, err_len, where, "bind", strerror(errno));
        goto fail_close;
    }
    u->local_len = sizeof(u->local);
    if (getsockname(u->fd, (struct sockaddr *)&u->local, &u->local_len)) {
        set_err(err, err_len, where, "getsockname", strerror(errno));
        goto fail_close;
    }
    u->wildcard = is_wildcard(&u->local);
    /* Setting gso_size 0 is a no-op that only kernels with GSO accept;
     * the device's support shows at the first send (EIO, see send). */
    int zero = 0, one = 1;
    u->gso_kernel =
        setsockopt(u->fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == 0;
    u->gso = u->gso_kernel;
    u->gro = setsockopt(u->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
    *out = u;
    return 0;

fail_close:
    close(u->fd);
fail_free:
    free(u);
    return P2P_ERR_CONNECT;
}

void prod_udp_close(struct prod_udp *u)
{
    if (u == NULL)
        return;
    close(u->fd);
    free(u);
}

int prod_udp_fd(const struct prod_udp *u)
{
    return u->fd;
}

void prod_udp_local(const struct prod_udp *u, struct sockaddr_storage *addr,
                    socklen_t *len)
{
    *addr = u->local;
    *len = u->local_len;
}

bool prod_udp_has_gso(const struct prod_udp *u)
{
    return u->gso;
}

bool prod_udp_has_gro(const struct prod_udp *u)
{
    return u->gro;
}

void prod_udp__set_test_hooks(struct prod_udp *u,
                              const struct prod_udp__test_hooks *hooks)
{
    u->hooks = *hooks;
}

void prod_udp__set_gso(struct prod_udp *u, bool on)
{
    u->gso = on && u->gso_kernel;
}

/* ---- receive ---------------------------------------------------------- */

/* ICMP errors a socket may report (only connected ones or IP_RECVERR do on
 * Linux, but a stray one must never stop the reader). */
static bool is_icmp_errno(int e)
{
    return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH ||
           e == EHOSTDOWN || e == ENETDOWN || e == EPROTO || e == ETIMEDOUT ||
           e == EMSGSIZE;
}

/* The packet's local address: the header's destination from packet info
 * and the bound port, or the bound address when the kernel gave none. */
static void local_from_cmsg(const struct prod_udp *u, struct msghdr *m,
                            struct sockaddr_storage *local,
                            socklen_t *local_len, int *gro_seg)
{
    *local = u->local;
    *local_len = u->local_len;
    *gro_seg = 0;
    in_port_t port = u->family == AF_INET
                         ? ((const struct sockaddr_in *)&u->local)->sin_port
                         : ((const struct sockaddr_in6 *)&u->local)->sin6_port;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            memcpy(gro_seg, CMSG_DATA(c), sizeof(int));
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
                   c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo)) &&
                   u->family == AF_INET) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            struct sockaddr_in *in = (struct sockaddr_in *)local;
            memset(local, 0, sizeof(*local));
            in->sin_family = AF_INET;
            in->sin_port = port;
            in->sin_addr = pi.ipi_addr;
            *local_len = sizeof(*in);
        } else if (c->cmsg_level == IPPROTO_IPV6 &&
                   c->cmsg_type == IPV6_PKTINFO &&
                   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo)) &&
                   u->family == AF_INET6) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)local;
            memset(local, 0, sizeof(*local));
            in6->sin6_family = AF_INET6;
            in6->sin6_port = port;
            in6->sin6_addr = pi.ipi6_addr;
            /* A link-local address only means something with its link. */
            if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
                in6->sin6_scope_id = pi.ipi6_ifindex;
            *local_len = sizeof(*in6);
        }
    }
    unmap_v4(local, local_len);
}

/* Splits one datagram (a GRO aggregate when gro_seg > 0) into packets. */
static int deliver(struct prod_udp *u, size_t n, int gro_seg,
                   const struct sockaddr_storage *local, socklen_t local_len,
                   const struct sockaddr_storage *remote, socklen_t remote_len,
                   prod_udp_recv_fn fn, void *ctx, uint64_t *bytes_in)
{
    size_t seg = gro_seg > 0 && (size_t)gro_seg < n ? (size_t)gro_seg : n;
    int count = 0;
    for (size_t off = 0; off < n; off += seg) {
        size_t plen = n - off < seg ? n - off : seg;
        fn(ctx, (const struct sockaddr *)local, local_len,
           (const struct sockaddr *)remote, remote_len, u->rbuf + off, plen);
        count++;
        if (bytes_in != NULL)
            *bytes_in += plen;
    }
    return count;
}

int prod_udp_recv(struct prod_udp *u, prod_udp_recv_fn fn, void *ctx,
                  uint32_t max_reads, uint64_t *bytes_in)
{
    P2P_ASSERT(u != NULL && fn != NULL);
    int delivered = 0;
    for (uint32_t reads = 0; reads < max_reads; reads++) {
        struct sockaddr_storage remote;
        union recv_cmsg cbuf;
        struct iovec iov = {.iov_base = u->rbuf, .iov_len = sizeof(u->rbuf)};
        struct msghdr m = {
            .msg_name = &remote,
            .msg_namelen = sizeof(remote),
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = cbuf.buf,
            .msg_controllen = sizeof(cbuf.buf),
        };
        ssize_t n = recvmsg(u->fd, &m, MSG_DONTWAIT);
        if (n < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK || e == ENOMEM || e == ENOBUFS)
                break; /* empty, or the kernel is short: next readiness */
            if (e == EINTR || is_icmp_errno(e))
                continue;
            return P2P_ERR_READ;
        }
        /* A truncated datagram or lost GRO size cannot be split right. */
        if (n == 0 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
            m.msg_namelen > sizeof(remote))
            continue;
        socklen_t remote_len = m.msg_namelen;
        unmap_v4(&remote, &remote_len);
        struct sockaddr_storage local;
        socklen_t local_len;
        int gro_seg;
        local_from_cmsg(u, &m, &local, &local_len, &gro_seg);
        delivered += deliver(u, (size_t)n, gro_seg, &local, local_len, &remote,
                             remote_len, fn, ctx, bytes_in);
    }
    return delivered;
}

/* ---- send ------------------------------------------------------------- */

/* Appends the source-address cmsg for local (wildcard sockets only).
 * Returns the control bytes used. */
static size_t put_pktinfo(const struct prod_udp *u, const struct sockaddr *l,
                          socklen_t l_len, uint8_t *ctrl)
{
    struct sockaddr_storage src;
    socklen_t src_len;
    if (!u->wildcard || l == NULL ||
        to_socket_family(u->family, l, l_len, &src, &src_len) != 0 ||
        is_wildcard(&src))
        return 0;
    struct cmsghdr *c = (struct cmsghdr *)ctrl;
    if (u->family == AF_INET) {
        struct in_pktinfo pi;
        memset(&pi, 0, sizeof(pi));
        pi.ipi_spec_dst = ((const struct sockaddr_in *)&src)->sin_addr;
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
        return CMSG_SPACE(sizeof(pi));
    }
    /* v4-mapped sources are accepted here by the kernel (ip_cmsg_send). */
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&src;
    struct in6_pktinfo pi;
    memset(&pi, 0, sizeof(pi));
    pi.ipi6_addr = in6->sin6_addr;
    pi.ipi6_ifindex = in6->sin6_scope_id;
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    return CMSG_SPACE(sizeof(pi));
}

/* One GSO sendmsg of pkts packets (all or nothing). Returns 0 or errno. */
static int send_gso(struct prod_udp *u, struct msghdr *m, uint8_t *ctrl,
                    size_t ctrl_used, size_t seg_size, size_t pkts)
{
    struct cmsghdr *c = (struct cmsghdr *)(ctrl + ctrl_used);
    uint16_t seg = (uint16_t)seg_size;
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(seg));
    memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    m->msg_control = ctrl;
    m->msg_controllen = ctrl_used + CMSG_SPACE(sizeof(seg));
    if (u->hooks.gso_errno != 0)
        return u->hooks.gso_errno;
    if (u->hooks.send_budget_packets >= 0) {
        if ((size_t)u->hooks.send_budget_packets < pkts)
            return EAGAIN;
        u->hooks.send_budget_packets -= (int32_t)pkts;
    }
    for (;;) {
        if (sendmsg(u->fd, m, 0) >= 0)
            return 0;
        if (errno != EINTR)
            return errno;
    }
}

/* Sends packets one per message (sendmmsg batches). Sets *sent to the
 * packets that left or were dropped (EMSGSIZE, ENOBUFS). Returns 0 when all
 * did, else the errno that stopped it (EAGAIN: buffer full). */
static int send_each(struct prod_udp *u, const struct sockaddr_storage *dst,
                     socklen_t dst_len, uint8_t *ctrl, size_t ctrl_used,
                     const uint8_t *buf, size_t len, size_t seg_size,
                     size_t *sent)
{
    struct mmsghdr msgs[PROD_UDP_GSO_SEGMENTS_MAX];
    struct iovec iovs[PROD_UDP_GSO_SEGMENTS_MAX];
    size_t pkts = (len + seg_size - 1) / seg_size;
    P2P_ASSERT(pkts <= PROD_UDP_GSO_SEGMENTS_MAX);
    memset(msgs, 0, sizeof(msgs[0]) * pkts);
    for (size_t i = 0; i < pkts; i++) {
        size_t off = i * seg_size;
        iovs[i].iov_base = (void *)(buf + off);
        iovs[i].iov_len = len - off < seg_size ? len - off : seg_size;
        msgs[i].msg_hdr.msg_name = (void *)dst;
        msgs[i].msg_hdr.msg_namelen = dst_len;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        /* The kernel only reads the control data: one copy serves all. */
        msgs[i].msg_hdr.msg_control = ctrl_used ? ctrl : NULL;
        msgs[i].msg_hdr.msg_controllen = ctrl_used;
    }
    size_t i = 0;
    while (i < pkts) {
        unsigned want = (unsigned)(pkts - i);
        if (u->hooks.send_budget_packets >= 0) {
            if (u->hooks.send_budget_packets == 0) {
                *sent = i;
                return EAGAIN;
            }
            if ((unsigned)u->hooks.send_budget_packets < want)
                want = (unsigned)u->hooks.send_budget_packets;
        }
        int n = sendmmsg(u->fd, msgs + i, want, 0);
        if (n > 0) {
            i += (size_t)n;
            if (u->hooks.send_budget_packets >= 0)
                u->hooks.send_budget_packets -= n;
            continue;
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EMSGSIZE || e == ENOBUFS) {
            i++; /* this packet is lost, as if on the wire */
            continue;
        }
        *sent = i;
        return e;
    }
    *sent = pkts;
    return 0;
}

ssize_t prod_udp_send(struct prod_udp *u, const struct prod_udp_path *path,
                      const uint8_t *buf, size_t len, size_t seg_size)
{
    P2P_ASSERT(u != NULL && path != NULL && (buf != NULL || len == 0));
    const struct sockaddr *local = path->local, *remote = path->remote;
    socklen_t local_len = path->local_len, remote_len = path->remote_len;
    if (seg_size == 0 || seg_size > PROD_UDP_PAYLOAD_BYTES_MAX ||
        (len + seg_size - 1) / seg_size > PROD_UDP_GSO_SEGMENTS_MAX)
        return P2P_ERR_INVALID_ARG;
    struct sockaddr_storage dst;
    socklen_t dst_len;
    if (to_socket_family(u->family, remote, remote_len, &dst, &dst_len))
        return P2P_ERR_INVALID_ARG;
    if (len == 0)
        return 0;
    union send_cmsg ctrl;
    memset(&ctrl, 0, sizeof(ctrl));
    size_t ctrl_used = put_pktinfo(u, local, local_len, ctrl.buf);

    size_t gso_pkts_max = PROD_UDP_PAYLOAD_BYTES_MAX / seg_size;
    bool gso_here = gso_pkts_max >= 2; /* off for the rest of this call */
    /* A GSO send failed with EIO or EINVAL: the device cannot segment, or
     * the send is bad anyway (e.g. a source address that is not ours).
     * Single packets tell which; only the first turns GSO off. */
    bool gso_suspect = false;
    size_t off = 0;
    while (off < len) {
        size_t left = len - off;
        if (u->gso && gso_here && left > seg_size) {
            size_t pkts = (left + seg_size - 1) / seg_size;
            if (pkts > gso_pkts_max)
                pkts = gso_pkts_max;
            size_t chunk = pkts * seg_size < left ? pkts * seg_size : left;
            struct iovec iov = {.iov_base = (void *)(buf + off),
                                .iov_len = chunk};
            struct msghdr m = {.msg_name = &dst,
                               .msg_namelen = dst_len,
                               .msg_iov = &iov,
                               .msg_iovlen = 1};
            int e = send_gso(u, &m, ctrl.buf, ctrl_used, seg_size, pkts);
            if (e == 0) {
                off += chunk;
            } else if (e == EAGAIN || e == EWOULDBLOCK) {
                return (ssize_t)off;
            } else if (e == EIO || e == EINVAL) {
                gso_here = false;
                gso_suspect = true;
            } else if (e == EMSGSIZE || e == ENOBUFS) {
                gso_here = false; /* retry packet by packet: drops one */
            } else {
                return P2P_ERR_WRITE;
            }
            continue;
        }
        /* Without GSO: the rest, one packet per message. */
        size_t sent_pkts = 0;
        int e = send_each(u, &dst, dst_len, ctrl.buf, ctrl_used, buf + off,
                          left, seg_size, &sent_pkts);
        size_t sent = sent_pkts * seg_size;
        if (sent > left)
            sent = left; /* the last packet was short */
        off += sent;
        if (gso_suspect && (e == 0 || sent_pkts > 0))
            u->gso = false; /* this device or route cannot segment */
        if (e == 0)
            break;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return (ssize_t)off;
        return P2P_ERR_WRITE;
    }
    P2P_ASSERT(off == len);
    return (ssize_t)off;
}

/* ---- addresses ---------------------------------------------------------- */

/* Decimal 0..65535, digits only. */
static int parse_port(const char *s, in_port_t *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return P2P_ERR_INVALID_ARG;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return P2P_ERR_INVALID_ARG;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return P2P_ERR_INVALID_ARG;
    *port = htons((in_port_t)v);
    return 0;
}

int prod_udp_parse_addr(const char *host_port, struct sockaddr_storage *out,
                        socklen_t *len)
{
    if (host_port == NULL ||
        strnlen(host_port, PARSE_ADDR_CHARS_MAX + 1) > PARSE_ADDR_CHARS_MAX)
        return P2P_ERR_INVALID_ARG;
    char host[PARSE_ADDR_CHARS_MAX + 1];
    const char *port_str;
    bool v6 = host_port[0] == '[';
    if (v6) {
        const char *close_br = strchr(host_port, ']');
        if (close_br == NULL || close_br[1] != ':')
            return P2P_ERR_INVALID_ARG;
        size_t hlen = (size_t)(close_br - host_port - 1);
        memcpy(host, host_port + 1, hlen);
        host[hlen] = '\0';
        port_str = close_br + 2;
    } else {
        const char *colon = strrchr(host_port, ':');
        if (colon == NULL)
            return P2P_ERR_INVALID_ARG;
        size_t hlen = (size_t)(colon - host_port);
        memcpy(host, host_port, hlen);
        host[hlen] = '\0';
        if (strchr(host, ':') != NULL) /* IPv6 needs brackets */
            return P2P_ERR_INVALID_ARG;
        port_str = colon + 1;
    }
    in_port_t port;
    if (parse_port(port_str, &port) != 0)
        return P2P_ERR_INVALID_ARG;

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (v6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            return P2P_ERR_INVALID_ARG;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = port;
        *len = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        if (strcmp(host, "localhost") == 0)
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return P2P_ERR_INVALID_ARG;
        in->sin_family = AF_INET;
        in->sin_port = port;
        *len = sizeof(*in);
    }
    *out = ss;
    return 0;
}
