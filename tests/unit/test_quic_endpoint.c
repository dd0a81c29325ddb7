/* The sans-I/O QUIC endpoint (quic/endpoint.h) driven in memory: two or
 * three endpoints, a virtual clock, and a network of FIFOs with a fixed
 * one-way latency that carries copies of what env.send gives. Nothing but
 * the endpoints' own timers (quic_endpoint_next_expiry) and the arrival of
 * datagrams moves the clock, so every test is deterministic and none
 * waits for real time.
 *
 * Tests: a handshake is up once on each side; a request and its response,
 * each with a shared body, arrive whole and ended; a refused dial fails
 * (no peer up) and the refusal is counted; after the client's NAT rebinds
 * (its public port changes and the old one is dead) a request still gets
 * its response within 2 s; a server that restarts with the same key
 * resets the old connection, whose client sees it down at once (and can
 * dial again); a client that restarts replaces its old connection; the same seeds give the same datagrams on the wire (times,
 * sizes, header types); a connection whose datagrams are all lost is down
 * on both sides at the idle timeout, not before; empty and tiny datagrams
 * are dropped as malformed.
 *
 * Addresses: node i is 10.0.0.(i+1); servers listen on SERVER_PORT;
 * clients dial from CLIENT_PORT, which a NAT shows the world as
 * NAT_PORT_BASE + rebinds (datagrams to another port of the node are
 * dropped, as a NAT drops them after it rebinds). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/body.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/types.h"
#include "quic/endpoint.h"
#include "sim/quic_identity.h"

#define MS P2P_NS_PER_MS
#define S P2P_NS_PER_S

#define NODES_MAX 3u
#define SERVER_PORT 4100u
#define CLIENT_PORT 5000u
#define NAT_PORT_BASE 20000u
/* Datagrams in flight from one node; one datagram's bytes at most. */
#define QUEUE_MAX 8192u
#define DGRAM_BYTES_MAX 1500u
#define LATENCY_NS (5 * MS)
/* The wall clock every endpoint judges certificates by (2026-01-01). */
#define WALL_S 1767225600LL
/* The virtual clock's start. */
#define T0 (1000 * S)
/* Iterations of the event loop in one run() at most. */
#define STEPS_MAX 1000000u
/* Streams whose bytes a node keeps, and their bytes. */
#define RX_STREAMS_MAX 8u
#define RX_BYTES_MAX (4u << 20)
/* Datagrams the wire log keeps. */
#define WIRE_MAX 8192u
#define IDENTITY_SEED 7u

struct dgram {
    uint64_t at; /* arrival */
    uint32_t from;
    struct sockaddr_in src, dst;
    size_t len;
    uint8_t bytes[DGRAM_BYTES_MAX];
};

struct queue {
    struct dgram *d[QUEUE_MAX]; /* owned, a ring */
    uint32_t head, count;
};

struct rx_stream {
    bool used;
    uint32_t peer;
    uint64_t sid;
    bool inbound;
    bool fin;
    size_t len;
    uint8_t *buf; /* owned, RX_BYTES_MAX */
};

struct wire_entry {
    uint64_t at;
    size_t len;
    uint8_t kind; /* the first byte's unprotected bits */
};

struct net;

struct node {
    struct net *net;
    uint32_t idx;
    struct sim_quic_identity *id; /* owned */
    struct quic_tls *tls;         /* owned */
    struct quic_endpoint *ep;     /* owned */
    struct p2p_rng rng;
    uint32_t incarnation;
    uint32_t rebinds; /* the public client port's index */
    bool muted;       /* what it sends is lost */
    bool refuse;      /* accept_key refuses with refuse_why */
    enum quic_refusal refuse_why;
    uint32_t ups, downs, dial_fails, stream_resets;
    uint32_t up_peer, down_peer, fail_peer;
    int down_reason, fail_reason;
    uint64_t up_at, down_at, fail_at;
    uint64_t last_rx_at; /* the last datagram delivered to it */
    struct rx_stream rx[RX_STREAMS_MAX];
};

struct net {
    uint64_t now;
    uint32_t nodes_count;
    struct node nodes[NODES_MAX];
    struct queue q[NODES_MAX]; /* per sender */
    bool drop_all;             /* every datagram is lost */
    bool drop_to[NODES_MAX];   /* datagrams to the node are lost */
    uint64_t delivered, dropped_all, dropped_port, overflow;
    struct wire_entry wire[WIRE_MAX];
    uint32_t wire_count;
};

/* ---- addresses ---- */

static struct sockaddr_in addr_of(uint32_t node, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl((10u << 24) + node + 1);
    return a;
}

static uint32_t node_of(const struct sockaddr_in *a)
{
    return ntohl(a->sin_addr.s_addr) - (10u << 24) - 1;
}

static uint16_t nat_port(const struct node *nd)
{
    return (uint16_t)(NAT_PORT_BASE + nd->rebinds);
}

/* ---- the endpoint's environment ---- */

static void log_wire(struct net *n, const uint8_t *b, size_t len)
{
    if (n->wire_count >= WIRE_MAX)
        return;
    /* A long header's form and type bits, a short header's form and fixed
     * bits: header protection leaves them alone (RFC 9001 5.4.1). */
    uint8_t kind = len == 0 ? 0 : (b[0] & 0x80) ? b[0] & 0xf0 : b[0] & 0xc0;
    n->wire[n->wire_count++] = (struct wire_entry){n->now, len, kind};
}

static void send_one(struct node *nd, const struct quic_path *path,
                     const uint8_t *buf, size_t len)
{
    struct net *n = nd->net;
    ck_assert_uint_le(len, DGRAM_BYTES_MAX);
    ck_assert_int_eq(path->remote->sa_family, AF_INET);
    ck_assert_int_eq(path->local->sa_family, AF_INET);
    log_wire(n, buf, len);
    struct queue *q = &n->q[nd->idx];
    if (q->count == QUEUE_MAX) {
        n->overflow++;
        return;
    }
    struct dgram *d = malloc(sizeof(*d));
    ck_assert_ptr_nonnull(d);
    d->at = n->now + LATENCY_NS;
    d->from = nd->idx;
    memcpy(&d->src, path->local, sizeof(d->src));
    memcpy(&d->dst, path->remote, sizeof(d->dst));
    /* The NAT in front of the client port. */
    ck_assert_uint_eq(node_of(&d->src), nd->idx);
    if (ntohs(d->src.sin_port) == CLIENT_PORT)
        d->src.sin_port = htons(nat_port(nd));
    d->len = len;
    memcpy(d->bytes, buf, len);
    q->d[(q->head + q->count++) % QUEUE_MAX] = d;
}

static ssize_t env_send(void *ctx, const struct quic_path *path,
                        const uint8_t *buf, size_t len, size_t seg)
{
    struct node *nd = ctx;
    ck_assert_uint_gt(seg, 0);
    ck_assert_uint_le((len + seg - 1) / seg, QUIC_ENDPOINT_SEND_SEGMENTS_MAX);
    if (nd->muted)
        return (ssize_t)len;
    for (size_t off = 0; off < len; off += seg)
        send_one(nd, path, buf + off, len - off < seg ? len - off : seg);
    return (ssize_t)len;
}

static void env_rand(void *ctx, uint8_t *out, size_t len)
{
    struct node *nd = ctx;
    p2p_rng_fill(&nd->rng, out, len);
}

static int64_t env_wall_s(void *ctx)
{
    (void)ctx;
    return WALL_S;
}

/* ---- the endpoint's callbacks ---- */

static bool cb_accept_key(void *ctx, const uint8_t key_id[QUIC_KEY_ID_LEN],
                          uint32_t *peer, enum quic_refusal *why)
{
    struct node *nd = ctx;
    *why = QUIC_REFUSE_NOT_MEMBER;
    if (nd->refuse) {
        *why = nd->refuse_why;
        return false;
    }
    for (uint32_t i = 0; i < nd->net->nodes_count; i++)
        if (i != nd->idx && memcmp(nd->net->nodes[i].id->key_id, key_id,
                                   QUIC_KEY_ID_LEN) == 0) {
            *peer = i;
            return true;
        }
    return false;
}

static void cb_peer_up(void *ctx, uint32_t peer)
{
    struct node *nd = ctx;
    nd->ups++;
    nd->up_peer = peer;
    nd->up_at = nd->net->now;
}

static void cb_peer_down(void *ctx, uint32_t peer, int reason)
{
    struct node *nd = ctx;
    nd->downs++;
    nd->down_peer = peer;
    nd->down_reason = reason;
    nd->down_at = nd->net->now;
}

static void cb_dial_failed(void *ctx, uint32_t peer, int reason)
{
    struct node *nd = ctx;
    nd->dial_fails++;
    nd->fail_peer = peer;
    nd->fail_reason = reason;
    nd->fail_at = nd->net->now;
}

static struct rx_stream *rx_find(struct node *nd, uint32_t peer, uint64_t sid,
                                 bool inbound, bool add)
{
    for (uint32_t i = 0; i < RX_STREAMS_MAX; i++) {
        struct rx_stream *r = &nd->rx[i];
        if (r->used && r->peer == peer && r->sid == sid &&
            r->inbound == inbound)
            return r;
    }
    if (!add)
        return NULL;
    for (uint32_t i = 0; i < RX_STREAMS_MAX; i++) {
        struct rx_stream *r = &nd->rx[i];
        if (!r->used) {
            *r = (struct rx_stream){.used = true,
                                    .peer = peer,
                                    .sid = sid,
                                    .inbound = inbound,
                                    .buf = malloc(RX_BYTES_MAX)};
            ck_assert_ptr_nonnull(r->buf);
            return r;
        }
    }
    ck_abort_msg("more than %u streams", RX_STREAMS_MAX);
    return NULL;
}

static void cb_stream_data(void *ctx, uint32_t peer, uint64_t sid, bool inbound,
                           const uint8_t *data, size_t len, bool fin)
{
    struct node *nd = ctx;
    struct rx_stream *r = rx_find(nd, peer, sid, inbound, true);
    ck_assert_msg(!r->fin, "bytes after the end of stream %llu",
                  (unsigned long long)sid);
    ck_assert_uint_le(len, RX_BYTES_MAX - r->len);
    if (len > 0)
        memcpy(r->buf + r->len, data, len);
    r->len += len;
    r->fin = fin;
}

static void cb_stream_reset(void *ctx, uint32_t peer, uint64_t sid,
                            bool inbound)
{
    (void)peer;
    (void)sid;
    (void)inbound;
    ((struct node *)ctx)->stream_resets++;
}

static const struct quic_endpoint_cbs CBS = {
    .accept_key = cb_accept_key,
    .peer_up = cb_peer_up,
    .peer_down = cb_peer_down,
    .dial_failed = cb_dial_failed,
    .stream_data = cb_stream_data,
    .stream_reset = cb_stream_reset,
};

/* ---- nodes and the network ---- */

/* A fresh endpoint for nd: its identity's key, a PRNG seeded by (seed,
 * node, incarnation). */
static void node_start(struct node *nd, uint64_t seed)
{
    char err[256] = "";
    uint8_t key_id[QUIC_KEY_ID_LEN];
    ck_assert_msg(
        quic_tls_new((const uint8_t *)nd->id->key_pem, nd->id->key_pem_len,
                     (const uint8_t *)nd->id->cert_pem, nd->id->cert_pem_len,
                     "test identity", &nd->tls, key_id, err, sizeof(err)) == 0,
        "%s", err);
    ck_assert_mem_eq(key_id, nd->id->key_id, QUIC_KEY_ID_LEN);
    p2p_rng_init(&nd->rng, seed,
                 ((uint64_t)nd->incarnation << 32) | (uint64_t)nd->idx);
    struct quic_endpoint_limits lim;
    quic_endpoint_limits_default(&lim);
    struct quic_endpoint_cbs cbs = CBS;
    cbs.ctx = nd;
    const struct quic_endpoint_env env = {
        .ctx = nd, .send = env_send, .rand = env_rand, .wall_s = env_wall_s};
    ck_assert_msg(quic_endpoint_new(&lim, nd->tls, &cbs, &env, nd->net->now,
                                    &nd->ep, err, sizeof(err)) == 0,
                  "%s", err);
}

/* Deletes nd's endpoint; muted: its CONNECTION_CLOSEs are lost (a crash). */
static void node_stop(struct node *nd, bool muted)
{
    nd->muted = muted;
    quic_endpoint_del(nd->ep, nd->net->now);
    nd->muted = false;
    nd->ep = NULL;
    quic_tls_del(nd->tls);
    nd->tls = NULL;
    nd->incarnation++;
}

static struct net *net_new(uint32_t nodes, uint64_t seed)
{
    ck_assert_uint_le(nodes, NODES_MAX);
    struct net *n = calloc(1, sizeof(*n));
    ck_assert_ptr_nonnull(n);
    n->now = T0;
    n->nodes_count = nodes;
    for (uint32_t i = 0; i < nodes; i++) {
        struct node *nd = &n->nodes[i];
        nd->net = n;
        nd->idx = i;
        nd->id = calloc(1, sizeof(*nd->id));
        ck_assert_ptr_nonnull(nd->id);
        char err[256] = "";
        ck_assert_msg(sim_quic_identity_make(IDENTITY_SEED, i, nd->id, err,
                                             sizeof(err)) == 0,
                      "%s", err);
    }
    for (uint32_t i = 0; i < nodes; i++)
        node_start(&n->nodes[i], seed);
    return n;
}

static void net_del(struct net *n)
{
    for (uint32_t i = 0; i < n->nodes_count; i++) {
        struct node *nd = &n->nodes[i];
        if (nd->ep != NULL)
            node_stop(nd, true);
        for (uint32_t k = 0; k < RX_STREAMS_MAX; k++)
            free(nd->rx[k].buf);
        free(nd->id);
        struct queue *q = &n->q[i];
        for (uint32_t k = 0; k < q->count; k++)
            free(q->d[(q->head + k) % QUEUE_MAX]);
    }
    free(n);
}

/* Flushes nd's endpoint until nothing is dirty. */
static void flush(struct node *nd)
{
    if (nd->ep == NULL)
        return;
    int passes = 0;
    while (quic_endpoint_flush(nd->ep, nd->net->now))
        ck_assert_int_lt(++passes, 64);
}

/* The endpoint a datagram to dst reaches, with the local address it
 * arrived on; NULL when none (a dead NAT port, a stopped node). */
static struct node *route(struct net *n, const struct dgram *d,
                          struct sockaddr_in *local)
{
    uint32_t to = node_of(&d->dst);
    if (to >= n->nodes_count || n->nodes[to].ep == NULL)
        return NULL;
    struct node *nd = &n->nodes[to];
    uint16_t port = ntohs(d->dst.sin_port);
    if (port == SERVER_PORT)
        *local = addr_of(to, SERVER_PORT);
    else if (port == nat_port(nd))
        *local = addr_of(to, CLIENT_PORT);
    else
        return NULL;
    return nd;
}

static void deliver(struct net *n, struct dgram *d)
{
    struct sockaddr_in local;
    struct node *nd = route(n, d, &local);
    uint32_t to = node_of(&d->dst);
    if (n->drop_all || (to < NODES_MAX && n->drop_to[to])) {
        n->dropped_all++;
    } else if (nd == NULL) {
        n->dropped_port++;
    } else {
        n->delivered++;
        nd->last_rx_at = n->now;
        const struct quic_path path = {
            (const struct sockaddr *)&local, sizeof(local),
            (const struct sockaddr *)&d->src, sizeof(d->src)};
        quic_endpoint_recv(nd->ep, n->now, &path, d->bytes, d->len);
        flush(nd);
    }
    free(d);
}

/* The earliest arrival or timer, or UINT64_MAX. A timer still due after
 * on_expiry ran at this instant fires at the next nanosecond. */
static uint64_t next_event(const struct net *n)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < n->nodes_count; i++) {
        const struct queue *q = &n->q[i];
        if (q->count > 0 && q->d[q->head]->at < next)
            next = q->d[q->head]->at;
        if (n->nodes[i].ep == NULL)
            continue;
        uint64_t e = quic_endpoint_next_expiry(n->nodes[i].ep);
        if (e <= n->now)
            e = n->now + 1;
        if (e < next)
            next = e;
    }
    return next;
}

/* One instant: every datagram due (each sender's in order), then every
 * timer due. */
static void step(struct net *n)
{
    for (uint32_t i = 0; i < n->nodes_count; i++) {
        struct queue *q = &n->q[i];
        while (q->count > 0 && q->d[q->head]->at <= n->now) {
            struct dgram *d = q->d[q->head];
            q->head = (q->head + 1) % QUEUE_MAX;
            q->count--;
            deliver(n, d);
        }
    }
    for (uint32_t i = 0; i < n->nodes_count; i++) {
        struct node *nd = &n->nodes[i];
        if (nd->ep != NULL && quic_endpoint_next_expiry(nd->ep) <= n->now) {
            quic_endpoint_on_expiry(nd->ep, n->now);
            flush(nd);
        }
    }
}

typedef bool (*done_fn)(struct net *n, const void *arg);

/* Runs the network until done (checked before every instant) or the
 * clock would pass until; the clock moves only to the next arrival or
 * timer. Returns whether done. */
static bool run(struct net *n, uint64_t until, done_fn done, const void *arg)
{
    for (uint32_t steps = 0; steps < STEPS_MAX; steps++) {
        if (done != NULL && done(n, arg))
            return true;
        uint64_t next = next_event(n);
        if (next > until) {
            if (until > n->now)
                n->now = until;
            return done != NULL && done(n, arg);
        }
        n->now = next;
        step(n);
    }
    ck_abort_msg("the event loop did not end in %u steps", STEPS_MAX);
    return false;
}

/* ---- conditions ---- */

struct both {
    uint32_t a, b;
};

/* Both nodes have seen this many peer_up calls. */
struct ups {
    uint32_t a, b;
    uint32_t a_ups, b_ups;
};

static bool both_up(struct net *n, const void *arg)
{
    const struct ups *p = arg;
    return n->nodes[p->a].ups >= p->a_ups && n->nodes[p->b].ups >= p->b_ups;
}

static bool both_down(struct net *n, const void *arg)
{
    const struct both *p = arg;
    return n->nodes[p->a].downs > 0 && n->nodes[p->b].downs > 0;
}

static bool dial_ended(struct net *n, const void *arg)
{
    const struct both *p = arg;
    const struct node *a = &n->nodes[p->a];
    return a->ups > 0 || a->dial_fails > 0;
}

static bool node_down(struct net *n, const void *arg)
{
    return n->nodes[*(const uint32_t *)arg].downs > 0;
}

struct want_fin {
    uint32_t node, peer;
    uint64_t sid;
    bool inbound;
};

static bool got_fin(struct net *n, const void *arg)
{
    const struct want_fin *w = arg;
    struct rx_stream *r =
        rx_find(&n->nodes[w->node], w->peer, w->sid, w->inbound, false);
    return r != NULL && r->fin;
}

/* ---- steps the tests share ---- */

static void dial(struct net *n, uint32_t from, uint32_t to)
{
    struct sockaddr_in local = addr_of(from, CLIENT_PORT);
    struct sockaddr_in remote = addr_of(to, SERVER_PORT);
    const struct quic_path path = {
        (const struct sockaddr *)&local, sizeof(local),
        (const struct sockaddr *)&remote, sizeof(remote)};
    ck_assert_int_eq(quic_endpoint_dial(n->nodes[from].ep, n->now, to, &path,
                                        n->nodes[to].id->key_id),
                     0);
    flush(&n->nodes[from]);
}

/* from dials to; both are up within a second, once each. */
static void handshake(struct net *n, uint32_t from, uint32_t to)
{
    uint64_t start = n->now;
    struct node *a = &n->nodes[from], *b = &n->nodes[to];
    uint32_t a_ups = a->ups, b_ups = b->ups;
    dial(n, from, to);
    const struct ups want = {from, to, a_ups + 1, b_ups + 1};
    ck_assert(run(n, start + S, both_up, &want));
    ck_assert_uint_eq(a->up_peer, to);
    ck_assert_uint_eq(b->up_peer, from);
    /* Let the last handshake packets (HANDSHAKE_DONE's ack, new ids)
     * settle: still up once each. */
    ck_assert(!run(n, n->now + 200 * MS, NULL, NULL));
    ck_assert_uint_eq(a->ups, a_ups + 1);
    ck_assert_uint_eq(b->ups, b_ups + 1);
}

static struct quic_endpoint_totals totals(const struct node *nd)
{
    struct quic_endpoint_totals t;
    quic_endpoint_totals(nd->ep, &t);
    return t;
}

static void fill(uint8_t *b, size_t len, uint64_t seed)
{
    struct p2p_rng r;
    p2p_rng_init(&r, seed, 99);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)p2p_rng_u32(&r);
}

/* A request (head and body) from a to b on core's stream 1, answered by b
 * (head and body); checks both arrive whole and ended, the response by
 * deadline_ns from the open. Sizes of the bodies in bytes. */
struct exchange {
    size_t req_body, resp_body;
    uint64_t deadline_ns;
};

static void request(struct net *n, uint32_t a, uint32_t b,
                    const struct exchange *x)
{
    static const uint8_t req_head[] = "request head";
    static const uint8_t resp_head[] = "response head, a little longer";
    uint64_t start = n->now;
    uint8_t *req = malloc(x->req_body + 1);
    uint8_t *resp = malloc(x->resp_body + 1);
    ck_assert(req != NULL && resp != NULL);
    fill(req, x->req_body, 1);
    fill(resp, x->resp_body, 2);
    struct p2p_body *body =
        p2p_body_copy(NULL, P2P_MEM_OUTBOX, req, x->req_body);
    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(quic_endpoint_open(n->nodes[a].ep, b, 1, req_head,
                                        sizeof(req_head), body),
                     0);
    /* The endpoint holds its own reference. */
    p2p_body_release(body, NULL, P2P_MEM_OUTBOX);
    flush(&n->nodes[a]);
    /* The first bidirectional stream a client opens is QUIC stream 0. */
    const struct want_fin in = {b, a, 0, true};
    ck_assert(run(n, start + x->deadline_ns, got_fin, &in));
    struct rx_stream *r = rx_find(&n->nodes[b], a, 0, true, false);
    ck_assert_uint_eq(r->len, sizeof(req_head) + x->req_body);
    ck_assert_mem_eq(r->buf, req_head, sizeof(req_head));
    ck_assert_mem_eq(r->buf + sizeof(req_head), req, x->req_body);
    body = p2p_body_copy(NULL, P2P_MEM_OUTBOX, resp, x->resp_body);
    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(quic_endpoint_respond(n->nodes[b].ep, a, 0, resp_head,
                                           sizeof(resp_head), body),
                     0);
    p2p_body_release(body, NULL, P2P_MEM_OUTBOX);
    flush(&n->nodes[b]);
    const struct want_fin out = {a, b, 1, false};
    ck_assert_msg(run(n, start + x->deadline_ns, got_fin, &out),
                  "no whole response %llu ms after the request",
                  (unsigned long long)((n->now - start) / MS));
    r = rx_find(&n->nodes[a], b, 1, false, false);
    ck_assert_uint_eq(r->len, sizeof(resp_head) + x->resp_body);
    ck_assert_mem_eq(r->buf, resp_head, sizeof(resp_head));
    ck_assert_mem_eq(r->buf + sizeof(resp_head), resp, x->resp_body);
    free(req);
    free(resp);
}

/* ---- tests ---- */

START_TEST(handshake_is_up_once_on_each_side)
{
    struct net *n = net_new(2, 1);
    handshake(n, 0, 1);
    struct quic_endpoint_totals ta = totals(&n->nodes[0]);
    struct quic_endpoint_totals tb = totals(&n->nodes[1]);
    ck_assert_uint_eq(ta.conns_up, 1);
    ck_assert_uint_eq(tb.conns_up, 1);
    ck_assert_uint_eq(ta.conns_dialled, 1);
    ck_assert_uint_eq(ta.conns_accepted, 0);
    ck_assert_uint_eq(tb.conns_dialled, 0);
    ck_assert_uint_eq(tb.conns_accepted, 1);
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(n->nodes[i].downs, 0);
        ck_assert_uint_eq(n->nodes[i].dial_fails, 0);
    }
    ck_assert_uint_eq(n->overflow, 0);
    ck_assert_uint_eq(n->dropped_port, 0);
    struct quic_peer_stats ps;
    ck_assert(quic_endpoint_peer_stats(n->nodes[0].ep, 1, &ps));
    ck_assert_str_eq(ps.conn_state, "up");
    ck_assert_uint_eq(ps.handshakes, 1);
    ck_assert(quic_endpoint_peer_stats(n->nodes[1].ep, 0, &ps));
    ck_assert_str_eq(ps.conn_state, "up");
    /* A second dial to an up peer is refused by the endpoint itself. */
    struct sockaddr_in local = addr_of(0, CLIENT_PORT);
    struct sockaddr_in remote = addr_of(1, SERVER_PORT);
    const struct quic_path path = {
        (const struct sockaddr *)&local, sizeof(local),
        (const struct sockaddr *)&remote, sizeof(remote)};
    ck_assert_int_eq(quic_endpoint_dial(n->nodes[0].ep, n->now, 1, &path,
                                        n->nodes[1].id->key_id),
                     P2P_ERR_EXISTS);
    net_del(n);
}
END_TEST

START_TEST(three_endpoints_each_pair_up_once)
{
    struct net *n = net_new(3, 7);
    handshake(n, 0, 1);
    handshake(n, 0, 2);
    handshake(n, 2, 1);
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(n->nodes[i].ups, 2);
        ck_assert_uint_eq(n->nodes[i].downs, 0);
        ck_assert_uint_eq(totals(&n->nodes[i]).conns_up, 2);
    }
    ck_assert_uint_eq(totals(&n->nodes[0]).conns_dialled, 2);
    ck_assert_uint_eq(totals(&n->nodes[1]).conns_accepted, 2);
    ck_assert_uint_eq(totals(&n->nodes[2]).conns_dialled, 1);
    ck_assert_uint_eq(totals(&n->nodes[2]).conns_accepted, 1);
    /* Each request reaches the peer it names and no other. */
    const struct exchange x = {1000, 2000, S};
    request(n, 0, 2, &x);
    request(n, 2, 1, &x);
    ck_assert_ptr_null(rx_find(&n->nodes[1], 0, 0, true, false));
    ck_assert_uint_eq(totals(&n->nodes[0]).messages_received, 1);
    ck_assert_uint_eq(totals(&n->nodes[1]).messages_received, 1);
    ck_assert_uint_eq(totals(&n->nodes[2]).messages_received, 2);
    net_del(n);
}
END_TEST

START_TEST(request_and_response_arrive_whole)
{
    struct net *n = net_new(2, 2);
    handshake(n, 0, 1);
    /* Bodies past the small-stream limit (64 KiB) and the first flight. */
    const struct exchange x = {100u << 10, 300u << 10, 5 * S};
    request(n, 0, 1, &x);
    struct quic_endpoint_totals ta = totals(&n->nodes[0]);
    struct quic_endpoint_totals tb = totals(&n->nodes[1]);
    ck_assert_uint_eq(ta.messages_sent, 1);
    ck_assert_uint_eq(ta.messages_received, 1);
    ck_assert_uint_eq(tb.messages_sent, 1);
    ck_assert_uint_eq(tb.messages_received, 1);
    struct quic_peer_stats ps;
    ck_assert(quic_endpoint_peer_stats(n->nodes[1].ep, 0, &ps));
    ck_assert_uint_eq(ps.bytes_received, sizeof("request head") + x.req_body);
    ck_assert_uint_eq(n->nodes[0].stream_resets, 0);
    ck_assert_uint_eq(n->nodes[1].stream_resets, 0);
    ck_assert_uint_eq(n->overflow, 0);
    net_del(n);
}
END_TEST

START_TEST(refused_dial_fails_and_is_counted)
{
    struct net *n = net_new(2, 3);
    n->nodes[1].refuse = true;
    n->nodes[1].refuse_why = QUIC_REFUSE_NOT_MEMBER;
    uint64_t start = n->now;
    dial(n, 0, 1);
    const struct both p = {0, 1};
    /* Answered by the refusal, well before the dial's timeout (5 s). */
    ck_assert(run(n, start + S, dial_ended, &p));
    ck_assert(!run(n, n->now + 500 * MS, NULL, NULL));
    const struct node *a = &n->nodes[0], *b = &n->nodes[1];
    ck_assert_uint_eq(a->dial_fails, 1);
    ck_assert_uint_eq(a->fail_peer, 1);
    ck_assert_int_eq(a->fail_reason, P2P_ERR_REFUSED);
    ck_assert_uint_eq(a->ups, 0);
    ck_assert_uint_eq(b->ups, 0);
    struct quic_endpoint_totals ta = totals(a), tb = totals(b);
    ck_assert_uint_eq(tb.refusals[QUIC_REFUSE_NOT_MEMBER], 1);
    ck_assert_uint_eq(tb.conns_accepted, 0);
    ck_assert_uint_eq(tb.conns_up, 0);
    ck_assert_uint_eq(ta.conns_up, 0);
    for (int r = 0; r < QUIC_REFUSE_COUNT; r++)
        if (r != QUIC_REFUSE_NOT_MEMBER)
            ck_assert_uint_eq(tb.refusals[r], 0);
    /* The refused side hears why (the close's reason phrase). */
    struct quic_peer_stats ps;
    ck_assert(quic_endpoint_peer_stats(a->ep, 1, &ps));
    ck_assert_str_eq(ps.remote_close,
                     quic_peer_stats_refusal_name(QUIC_REFUSE_NOT_MEMBER));
    ck_assert_str_eq(ps.conn_state, "idle");
    net_del(n);
}
END_TEST

START_TEST(request_survives_nat_rebinding)
{
    struct net *n = net_new(2, 4);
    handshake(n, 0, 1);
    /* The client's NAT maps it to a new port; the old one is dead. */
    n->nodes[0].rebinds++;
    uint64_t before = n->dropped_port;
    /* Far below the idle timeout (30 s) and the dial timeout (5 s). */
    const struct exchange x = {20u << 10, 200u << 10, 2 * S};
    request(n, 0, 1, &x);
    ck_assert_uint_eq(n->nodes[0].downs, 0);
    ck_assert_uint_eq(n->nodes[1].downs, 0);
    /* B answers on the new path: what it sent to the dead port is at
     * most ngtcp2's probes of the old path (two PATH_CHALLENGEs). */
    ck_assert_uint_le(n->dropped_port - before, 2);
    net_del(n);
}
END_TEST

START_TEST(restarted_server_resets_the_old_connection)
{
    struct net *n = net_new(2, 5);
    handshake(n, 0, 1);
    struct node *a = &n->nodes[0], *b = &n->nodes[1];
    /* B crashes (no CONNECTION_CLOSE) and restarts with the same key. */
    node_stop(b, true);
    node_start(b, 5);
    uint64_t start = n->now;
    /* A's next packet (a request) meets the new B, which resets it. */
    struct p2p_body *body =
        p2p_body_copy(NULL, P2P_MEM_OUTBOX, (const uint8_t *)"x", 1);
    ck_assert_int_eq(
        quic_endpoint_open(a->ep, 1, 1, (const uint8_t *)"req", 3, body), 0);
    p2p_body_release(body, NULL, P2P_MEM_OUTBOX);
    flush(a);
    const uint32_t who = 0;
    /* Within a round trip or two, far below the idle timeout (30 s). */
    ck_assert(run(n, start + 100 * MS, node_down, &who));
    ck_assert_uint_le(a->down_at - start, 2 * LATENCY_NS + MS);
    ck_assert_uint_eq(a->downs, 1);
    ck_assert_uint_eq(a->down_peer, 1);
    ck_assert_int_eq(a->down_reason, P2P_ERR_CONN_LOST);
    ck_assert_uint_eq(totals(a).resets_received, 1);
    ck_assert_uint_eq(totals(a).conns_up, 0);
    ck_assert_uint_ge(totals(b).resets_sent, 1);
    ck_assert_uint_eq(totals(b).conns_accepted, 0);
    ck_assert_uint_eq(b->ups, 1); /* its first incarnation's */
    /* A dials the new B at once and is up again. */
    handshake(n, 0, 1);
    ck_assert_uint_eq(totals(a).conns_up, 1);
    ck_assert_uint_eq(totals(b).conns_up, 1);
    net_del(n);
}
END_TEST

/* The dialler crashes and restarts with the same key and address: its new
 * connection replaces the old one on the server, silently (no peer_down
 * for the old one), and a request on it is answered. */
START_TEST(restarted_client_replaces_its_connection)
{
    struct net *n = net_new(2, 9);
    handshake(n, 0, 1);
    struct node *a = &n->nodes[0], *b = &n->nodes[1];
    node_stop(a, true);
    node_start(a, 9);
    handshake(n, 0, 1);
    ck_assert_uint_eq(b->ups, 2);
    ck_assert_uint_eq(b->downs, 0);
    ck_assert_uint_eq(totals(b).conns_up, 1);
    ck_assert_uint_eq(totals(b).conns_accepted, 2);
    ck_assert_uint_eq(totals(b).refusals[QUIC_REFUSE_DUPLICATE], 0);
    const struct exchange x = {1000, 1000, S};
    request(n, 0, 1, &x);
    ck_assert_uint_eq(b->downs, 0);
    ck_assert_uint_eq(a->downs, 0);
    net_del(n);
}
END_TEST

/* The handshake and one request under seed; the wire log in out. */
static uint32_t wire_run(uint64_t seed, struct wire_entry *out)
{
    struct net *n = net_new(2, seed);
    handshake(n, 0, 1);
    const struct exchange x = {10u << 10, 150u << 10, 5 * S};
    request(n, 0, 1, &x);
    uint32_t count = n->wire_count;
    ck_assert_uint_lt(count, WIRE_MAX);
    memcpy(out, n->wire, count * sizeof(*out));
    net_del(n);
    return count;
}

START_TEST(same_seeds_same_wire)
{
    struct wire_entry *w1 = calloc(WIRE_MAX, sizeof(*w1));
    struct wire_entry *w2 = calloc(WIRE_MAX, sizeof(*w2));
    ck_assert(w1 != NULL && w2 != NULL);
    uint32_t n1 = wire_run(11, w1), n2 = wire_run(11, w2);
    ck_assert_uint_eq(n1, n2);
    /* At least the handshake's flights and the 160 KiB in full packets. */
    ck_assert_uint_gt(n1, 100);
    uint32_t initials = 0, shorts = 0;
    for (uint32_t i = 0; i < n1; i++) {
        ck_assert_msg(w1[i].at == w2[i].at && w1[i].len == w2[i].len &&
                          w1[i].kind == w2[i].kind,
                      "datagram %u: %llu ns %zu bytes kind 0x%02x against "
                      "%llu ns %zu bytes kind 0x%02x",
                      i, (unsigned long long)w1[i].at, w1[i].len, w1[i].kind,
                      (unsigned long long)w2[i].at, w2[i].len, w2[i].kind);
        /* ngtcp2 greases the fixed bit (RFC 9287): form bits only. */
        initials += (w1[i].kind & 0xb0) == 0x80;
        shorts += (w1[i].kind & 0x80) == 0;
    }
    /* The client's first datagram is an Initial, padded to 1200 bytes. */
    ck_assert_uint_eq(w1[0].kind & 0xb0, 0x80);
    ck_assert_uint_ge(w1[0].len, 1200);
    ck_assert_uint_ge(initials, 2);
    ck_assert_uint_gt(shorts, 100);
    free(w1);
    free(w2);
}
END_TEST

START_TEST(idle_connection_is_down_at_the_idle_timeout)
{
    struct net *n = net_new(2, 6);
    handshake(n, 0, 1);
    struct quic_endpoint_limits lim;
    quic_endpoint_limits_default(&lim);
    /* Every datagram from now on is lost. */
    n->drop_all = true;
    uint64_t cut = n->now;
    const struct both p = {0, 1};
    ck_assert(run(n, cut + lim.idle_timeout_ns + lim.keepalive_ns + S,
                  both_down, &p));
    for (int i = 0; i < 2; i++) {
        const struct node *nd = &n->nodes[i];
        ck_assert_uint_eq(nd->downs, 1);
        ck_assert_uint_eq(nd->down_peer, (uint32_t)(1 - i));
        ck_assert_int_eq(nd->down_reason, P2P_ERR_CONN_LOST);
        /* Not before the idle timeout has passed since its last datagram
         * in; by then plus a keepalive period (ngtcp2 restarts the idle
         * timer at the first packet it sends after one it received). */
        ck_assert_msg(
            nd->down_at >= nd->last_rx_at + lim.idle_timeout_ns,
            "node %d down %llu ms after its last datagram", i,
            (unsigned long long)((nd->down_at - nd->last_rx_at) / MS));
        ck_assert_msg(nd->down_at <=
                          cut + lim.idle_timeout_ns + lim.keepalive_ns,
                      "node %d down %llu ms after the cut", i,
                      (unsigned long long)((nd->down_at - cut) / MS));
        ck_assert_uint_eq(totals(nd).conns_up, 0);
    }
    ck_assert_uint_gt(n->dropped_all, 0);
    net_del(n);
}
END_TEST

/* A request of body_len bytes from a to b on core's stream core_id. */
static void open_body(struct net *n, uint32_t a, uint32_t b, uint64_t core_id,
                      size_t body_len)
{
    static uint8_t bytes[4096];
    ck_assert_uint_le(body_len, sizeof(bytes));
    fill(bytes, body_len, core_id);
    struct p2p_body *body =
        p2p_body_copy(NULL, P2P_MEM_OUTBOX, bytes, body_len);
    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(
        quic_endpoint_open(n->nodes[a].ep, b, core_id, NULL, 0, body), 0);
    p2p_body_release(body, NULL, P2P_MEM_OUTBOX);
    flush(&n->nodes[a]);
}

/* The wedge ngtcp2 0.12 cannot leave (see conn_stalled in endpoint.c): the
 * server's packets to the client are lost while it sends, the client's
 * NAT rebinds meanwhile and its requests reach the server from the new
 * address. After the loss ends the server still receives and
 * acknowledges, but it never sends again: its window is full of the lost
 * packets and no timer probes. The endpoint closes the connection as
 * stalled QUIC_ENDPOINT_STALL_NS after it stopped, and counts it; the
 * client hears of the close. */
START_TEST(stalled_connection_is_closed)
{
    struct net *n = net_new(2, 12);
    handshake(n, 0, 1);
    struct node *a = &n->nodes[0], *b = &n->nodes[1];
    uint64_t cut = n->now + 300 * MS, rebind = cut + 1300 * MS,
             heal = cut + 2600 * MS;
    uint64_t a_id = 1, b_id = 1;
    uint32_t tick = 0;
    /* Every 100 ms the client sends a short request, every 500 ms the
     * server a 1,400-byte one; from cut the client hears nothing, at
     * rebind its NAT rebinds, at heal the loss ends. */
    while (b->downs == 0 && n->now < heal + QUIC_ENDPOINT_STALL_NS + 5 * S) {
        if (n->now >= cut && n->now < heal)
            n->drop_to[0] = true;
        else
            n->drop_to[0] = false;
        if (n->now >= rebind && a->rebinds == 0)
            a->rebinds++;
        open_body(n, 0, 1, a_id++, 60);
        if (tick++ % 5 == 0)
            open_body(n, 1, 0, b_id++, 1400);
        (void)run(n, n->now + 100 * MS, node_down, &(uint32_t){1});
        for (uint32_t k = 0; k < 2; k++)
            for (uint32_t i = 0; i < RX_STREAMS_MAX; i++) {
                struct rx_stream *r = &n->nodes[k].rx[i];
                if (r->used && r->fin) {
                    free(r->buf);
                    *r = (struct rx_stream){0};
                }
            }
    }
    ck_assert_msg(b->downs == 1,
                  "the server is still up %llu ms after the "
                  "loss ended",
                  (unsigned long long)((n->now - heal) / MS));
    ck_assert_int_eq(b->down_reason, P2P_ERR_CONN_LOST);
    ck_assert_uint_eq(totals(b).conns_stalled, 1);
    ck_assert(run(n, n->now + 2 * S, node_down, &(uint32_t){0}));
    ck_assert_uint_eq(totals(a).conns_stalled, 0);
    net_del(n);
}
END_TEST

/* Datagrams no QUIC packet fits in, an empty one first (legal UDP; ngtcp2
 * asserts a non-empty packet): each is counted as malformed and dropped,
 * nothing is sent, and the endpoint still accepts a handshake. */
START_TEST(empty_and_tiny_datagrams_are_dropped)
{
    struct net *n = net_new(2, 8);
    struct node *b = &n->nodes[1];
    struct sockaddr_in local = addr_of(1, SERVER_PORT);
    struct sockaddr_in remote = addr_of(0, NAT_PORT_BASE);
    const struct quic_path path = {
        (const struct sockaddr *)&local, sizeof(local),
        (const struct sockaddr *)&remote, sizeof(remote)};
    static const uint8_t tiny[][4] = {{0}, {0x40}, {0xc0, 0, 0, 0}};
    static const size_t lens[] = {0, 1, 4};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        quic_endpoint_recv(b->ep, n->now, &path, tiny[i], lens[i]);
        flush(b);
    }
    struct quic_endpoint_totals tb = totals(b);
    ck_assert_uint_eq(tb.udp_datagrams_in, 3);
    ck_assert_uint_eq(tb.initials_dropped[QUIC_DROP_MALFORMED], 3);
    ck_assert_uint_eq(tb.udp_datagrams_out, 0);
    ck_assert_uint_eq(n->q[1].count, 0);
    ck_assert_uint_eq(quic_endpoint_next_expiry(b->ep), UINT64_MAX);
    handshake(n, 0, 1);
    net_del(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quic_endpoint");
    TCase *tc = tcase_create("in_memory");
    tcase_add_test(tc, handshake_is_up_once_on_each_side);
    tcase_add_test(tc, three_endpoints_each_pair_up_once);
    tcase_add_test(tc, request_and_response_arrive_whole);
    tcase_add_test(tc, refused_dial_fails_and_is_counted);
    tcase_add_test(tc, request_survives_nat_rebinding);
    tcase_add_test(tc, restarted_server_resets_the_old_connection);
    tcase_add_test(tc, restarted_client_replaces_its_connection);
    tcase_add_test(tc, same_seeds_same_wire);
    tcase_add_test(tc, idle_connection_is_down_at_the_idle_timeout);
    tcase_add_test(tc, empty_and_tiny_datagrams_are_dropped);
    tcase_add_test(tc, stalled_connection_is_closed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
