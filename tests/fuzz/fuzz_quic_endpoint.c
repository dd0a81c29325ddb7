/* libFuzzer harness for the QUIC endpoint's packet path (quic/endpoint.h):
 * one endpoint, B, fed datagrams from the input, in memory (no socket, a
 * virtual clock, a fixed PRNG seed, fixed identities from
 * sim/quic_identity.h).
 *
 * Input: a mode byte, then records, each a 2-byte big-endian length and
 * that many bytes: an op byte and its payload. Modes (mode % 5):
 *   0 server: B is fresh; datagrams come from a client address.
 *   1 client: B has dialled the remote first (its Initial is out), and
 *     datagrams come from that remote, the server B dialled.
 *   2 established: B has accepted a real handshake from A, a second
 *     in-memory endpoint; datagrams come from A's address, and A's and
 *     B's traffic keeps flowing between records.
 *   3 stranger: as 2, but A's key is no member: B has refused it.
 *   4 dialled: as 2, but B dialled A (so a restarted A's stateless resets
 *     reach a client, which holds the tokens to recognise them).
 * Ops (op & 3); for ops 0-2 the source port changes when op & 0x80 (a
 * NAT rebinding, or a stranger):
 *   0 raw: the payload is the datagram.
 *   1 splice: the payload's first byte, then a real connection id, then
 *     the rest: the id B uses (mode 0: the SCID of B's latest long-header
 *     packet; mode 1: B's SCID as a client; modes 2-4: the DCID of A's
 *     latest short-header packet to B), as a long header (version
 *     from the payload) when the first byte says so, else a short one.
 *     So fuzzed bytes reach a live connection's packet path, not only the
 *     lookup.
 *   2 replay (modes 2-4; raw otherwise): one of A's recent datagrams
 *     to B again, one byte xored (index, offset and mask from the
 *     payload).
 *   3 traffic: modes 2-4: A sends the payload as a request (or the
 *     dialler dials again when they are not up), B echoes it, the pair exchanges
 *     datagrams for a few milliseconds; first, with op & 0x40, A crashes
 *     and restarts instead (same key, no state: B's packets meet
 *     stateless resets), with op & 0x80 A's NAT rebinds (its public port changes
 *     for good, the old one is dead); with op & 0x20 A abandons the
 *     request at once (a stream reset). Modes 0 and 1: the clock jumps by
 *     up to 4 s and B's timers run.
 * The clock advances 1 ms per record; after each datagram B flushes and
 * runs its due timers. At the end the clock follows the timers for a
 * while (loss recovery, keepalives, idle and dial deadlines; A and B
 * still exchange datagrams) and both endpoints are deleted (leaks are
 * errors).
 *
 * Checked throughout (any failure aborts): the callbacks keep their
 * contract (peer_up only for A, in modes 0 and 3 never; peer_down and
 * stream calls only for a peer that is up; dial_failed only for a dial
 * not up; in mode 3 the refusal is counted), the totals' conns_up equals
 * the peers up, every datagram B sends fits a packet buffer and a send
 * carries at most QUIC_ENDPOINT_SEND_SEGMENTS_MAX of them, and in mode 0
 * (nothing validated, no 1-RTT connection) B never sends more than three
 * times what it received (RFC 9000 8.1), and a short-header datagram
 * from it (a stateless reset) is shorter than the one that triggered it. */
#include <stdbool.h>
#include <stddef.h>
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
#include "fuzz_check.h"

#define MS P2P_NS_PER_MS
#define T0 (1000 * P2P_NS_PER_S)
#define WALL_S 1767225600LL
#define IDENTITY_SEED 7u
#define RNG_SEED 42u
#define NODE_A 0u /* the partner (mode 2) and the fixed remote's peer id */
#define NODE_B 1u /* the endpoint under test */
#define SERVER_PORT 4100u
#define CLIENT_PORT 5000u
#define STRANGER_PORT_BASE 30000u
#define RECORDS_MAX 256u
/* One datagram's bytes at most (the endpoint's packets are 1452). */
#define DGRAM_BYTES_MAX 1500u
#define QUEUE_MAX 512u   /* datagrams between A and B in flight */
#define CAPTURED_MAX 16u /* A's recent datagrams to B, for replays */
#define PUMP_ROUNDS 8u   /* ms of A-B traffic per traffic op */
#define HANDSHAKE_ROUNDS 64u
#define END_STEPS 64u
#define TIME_JUMP_MAX_MS 4000u
#define CID_LEN 16u /* the endpoint's connection ids */
#define ECHO_BYTES_MAX 4096u

enum mode {
    MODE_SERVER,
    MODE_CLIENT,
    MODE_ESTABLISHED,
    MODE_STRANGER,
    MODE_DIALLED,
    MODE_COUNT
};
#define IDENTITY_STRANGER 2u /* a key B refuses */
enum op { OP_RAW, OP_SPLICE, OP_REPLAY, OP_TRAFFIC };

struct dgram {
    uint32_t to; /* NODE_A or NODE_B */
    struct sockaddr_in src, dst;
    size_t len;
    uint8_t bytes[DGRAM_BYTES_MAX];
};

struct fz;

struct side {
    struct fz *f;
    uint32_t idx;      /* its node: address and peer id */
    uint32_t identity; /* its key: ids[identity] */
    bool muted;        /* what it sends is lost (a crash) */
    struct quic_endpoint *ep;
    struct p2p_rng rng;
    bool up[2];
    bool dialled[2];
    uint32_t ups;
};

struct fz {
    enum mode mode;
    uint64_t now;
    struct side a, b;
    /* A <-> B, mode 2 (owned copies). */
    struct dgram *queue[QUEUE_MAX];
    uint32_t queued;
    struct dgram captured[CAPTURED_MAX]; /* A's to B, a ring */
    uint32_t captured_count;
    /* The connection id to splice (see the header), 0 bytes: none yet. */
    uint8_t cid[CID_LEN];
    bool cid_known;
    /* Mode 0: what B received and sent, and the datagram being read. */
    uint64_t bytes_in, bytes_out;
    size_t trigger_len; /* 0 outside quic_endpoint_recv */
    bool deleting;      /* the endpoints' closes at the end: not checked */
    /* The ports: A's public one (its NAT's; the datagrams' remote) and
     * its own behind the NAT, and B's. */
    uint16_t a_port, a_local_port, b_local_port;
    uint64_t streams_opened; /* by A, modes 2-4 */
    uint32_t incarnations;   /* endpoints made: their PRNG streams */
};

static struct sim_quic_identity ids[3];
static struct quic_tls *tls[3];

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

static struct quic_path path_of(const struct sockaddr_in *local,
                                const struct sockaddr_in *remote)
{
    return (struct quic_path){(const struct sockaddr *)local, sizeof(*local),
                              (const struct sockaddr *)remote, sizeof(*remote)};
}

/* ---- the environment ---- */

static void capture(struct fz *f, const struct dgram *d)
{
    f->captured[f->captured_count % CAPTURED_MAX] = *d;
    f->captured_count++;
    if (d->len > 1 + CID_LEN && (d->bytes[0] & 0x80) == 0) {
        memcpy(f->cid, d->bytes + 1, CID_LEN);
        f->cid_known = true;
    }
}

/* Mode 0: the SCID of B's long-header packets (the id its connection
 * answers to). */
static void note_server_cid(struct fz *f, const uint8_t *b, size_t len)
{
    /* form/type, version (4), dcid len, dcid, scid len, scid */
    if (len < 7 || (b[0] & 0x80) == 0 || b[5] > 20)
        return;
    size_t off = 6 + b[5];
    if (off + 1 + CID_LEN > len || b[off] != CID_LEN)
        return;
    memcpy(f->cid, b + off + 1, CID_LEN);
    f->cid_known = true;
}

static void send_one(struct side *s, const struct quic_path *path,
                     const uint8_t *buf, size_t len)
{
    struct fz *f = s->f;
    FUZZ_CHECK(len > 0 && len <= DGRAM_BYTES_MAX);
    FUZZ_CHECK(path->local->sa_family == AF_INET &&
               path->remote->sa_family == AF_INET);
    if (s->idx == NODE_B && f->mode == MODE_SERVER && !f->deleting) {
        f->bytes_out += len;
        FUZZ_CHECK(f->bytes_out <= 3 * f->bytes_in);
        if ((buf[0] & 0x80) == 0) /* only resets: nothing reached 1-RTT */
            FUZZ_CHECK(f->trigger_len > 0 && len < f->trigger_len);
        else
            note_server_cid(f, buf, len);
    }
    if (s->idx == NODE_B && f->mode == MODE_CLIENT && !f->cid_known)
        note_server_cid(f, buf, len); /* B's first Initial: its SCID */
    if (f->mode < MODE_ESTABLISHED || s->muted || f->queued == QUEUE_MAX)
        return;
    struct dgram *d = malloc(sizeof(*d));
    FUZZ_CHECK(d != NULL);
    d->to = s->idx == NODE_A ? NODE_B : NODE_A;
    memcpy(&d->src, path->local, sizeof(d->src));
    memcpy(&d->dst, path->remote, sizeof(d->dst));
    d->len = len;
    memcpy(d->bytes, buf, len);
    if (s->idx == NODE_A)
        capture(f, d);
    f->queue[f->queued++] = d;
}

static ssize_t env_send(void *ctx, const struct quic_path *path,
                        const uint8_t *buf, size_t len, size_t seg)
{
    FUZZ_CHECK(seg > 0 &&
               (len + seg - 1) / seg <= QUIC_ENDPOINT_SEND_SEGMENTS_MAX);
    for (size_t off = 0; off < len; off += seg)
        send_one(ctx, path, buf + off, len - off < seg ? len - off : seg);
    return (ssize_t)len;
}

static void env_rand(void *ctx, uint8_t *out, size_t n)
{
    struct side *s = ctx;
    p2p_rng_fill(&s->rng, out, n);
}

static int64_t env_wall_s(void *ctx)
{
    (void)ctx;
    return WALL_S;
}

/* ---- the callbacks: their contract ---- */

static bool cb_accept_key(void *ctx, const uint8_t key_id[QUIC_KEY_ID_LEN],
                          uint32_t *peer, enum quic_refusal *why)
{
    struct side *s = ctx;
    uint32_t other = 1 - s->idx;
    *why = QUIC_REFUSE_NOT_MEMBER;
    if (memcmp(key_id, ids[other].key_id, QUIC_KEY_ID_LEN) != 0)
        return false;
    *peer = other;
    return true;
}

static void cb_peer_up(void *ctx, uint32_t peer)
{
    struct side *s = ctx;
    FUZZ_CHECK(peer == 1 - s->idx);
    /* Only A's real handshakes, or B's own dial's, can complete. */
    FUZZ_CHECK(s->f->mode != MODE_SERVER && s->f->mode != MODE_STRANGER);
    s->up[peer] = true;
    s->dialled[peer] = false;
    s->ups++;
}

static void cb_peer_down(void *ctx, uint32_t peer, int reason)
{
    struct side *s = ctx;
    FUZZ_CHECK(peer < 2 && s->up[peer]);
    FUZZ_CHECK(reason < 0 && !p2p_err_is_fatal(reason));
    s->up[peer] = false;
}

static void cb_dial_failed(void *ctx, uint32_t peer, int reason)
{
    struct side *s = ctx;
    FUZZ_CHECK(peer < 2 && s->dialled[peer] && !s->up[peer]);
    FUZZ_CHECK(reason < 0 && !p2p_err_is_fatal(reason));
    s->dialled[peer] = false;
}

static void cb_stream_data(void *ctx, uint32_t peer, uint64_t sid, bool inbound,
                           const uint8_t *data, size_t len, bool fin)
{
    struct side *s = ctx;
    FUZZ_CHECK(peer < 2 && s->up[peer]);
    FUZZ_CHECK(len == 0 || data != NULL);
    /* B echoes what the end of a request brings (the head of it). */
    if (s->idx == NODE_B && inbound && fin)
        (void)quic_endpoint_respond(s->ep, peer, sid, data,
                                    len < ECHO_BYTES_MAX ? len : ECHO_BYTES_MAX,
                                    NULL);
}

static void cb_stream_reset(void *ctx, uint32_t peer, uint64_t sid,
                            bool inbound)
{
    struct side *s = ctx;
    (void)sid;
    (void)inbound;
    FUZZ_CHECK(peer < 2 && s->up[peer]);
}

static const struct quic_endpoint_cbs CBS = {
    .accept_key = cb_accept_key,
    .peer_up = cb_peer_up,
    .peer_down = cb_peer_down,
    .dial_failed = cb_dial_failed,
    .stream_data = cb_stream_data,
    .stream_reset = cb_stream_reset,
};

/* ---- driving ---- */

static void check_side(const struct side *s)
{
    if (s->ep == NULL)
        return;
    struct quic_endpoint_totals tot;
    quic_endpoint_totals(s->ep, &tot);
    FUZZ_CHECK(tot.conns_up == (uint64_t)s->up[0] + (uint64_t)s->up[1]);
}

static void flush(struct side *s)
{
    unsigned passes = 0;
    while (quic_endpoint_flush(s->ep, s->f->now))
        FUZZ_CHECK(++passes < 64);
    check_side(s);
}

static void timers(struct side *s)
{
    if (s->ep != NULL && quic_endpoint_next_expiry(s->ep) <= s->f->now) {
        quic_endpoint_on_expiry(s->ep, s->f->now);
        flush(s);
    }
}

static void recv_at(struct side *s, const struct sockaddr_in *local,
                    const struct sockaddr_in *remote, const uint8_t *pkt,
                    size_t len)
{
    struct fz *f = s->f;
    const struct quic_path p = path_of(local, remote);
    if (s->idx == NODE_B) {
        f->bytes_in += len;
        f->trigger_len = len;
    }
    quic_endpoint_recv(s->ep, f->now, &p, pkt, len);
    flush(s);
    f->trigger_len = 0;
}

/* Modes 2-4: delivers what is in flight (sent during earlier rounds), then
 * runs due timers, once per millisecond for rounds. */
static void pump(struct fz *f, unsigned rounds)
{
    for (unsigned r = 0; r < rounds; r++) {
        f->now += MS;
        uint32_t n = f->queued;
        struct dgram *batch[QUEUE_MAX];
        memcpy(batch, f->queue, n * sizeof(*batch));
        f->queued = 0;
        for (uint32_t i = 0; i < n; i++) {
            struct dgram *d = batch[i];
            /* A's NAT: its public port is a_port, the others are dead. */
            if (d->to == NODE_B) {
                d->src.sin_port = htons(f->a_port);
                recv_at(&f->b, &d->dst, &d->src, d->bytes, d->len);
            } else if (ntohs(d->dst.sin_port) == f->a_port) {
                d->dst.sin_port = htons(f->a_local_port);
                recv_at(&f->a, &d->dst, &d->src, d->bytes, d->len);
            }
            free(d);
        }
        timers(&f->a);
        timers(&f->b);
    }
}

static void side_new(struct fz *f, struct side *s, uint32_t idx,
                     uint32_t identity)
{
    memset(s, 0, sizeof(*s));
    s->f = f;
    s->idx = idx;
    s->identity = identity;
    p2p_rng_init(&s->rng, RNG_SEED, idx | (uint64_t)f->incarnations++ << 8);
    struct quic_endpoint_limits lim;
    quic_endpoint_limits_default(&lim);
    struct quic_endpoint_cbs cbs = CBS;
    cbs.ctx = s;
    const struct quic_endpoint_env env = {
        .ctx = s, .send = env_send, .rand = env_rand, .wall_s = env_wall_s};
    char err[256];
    FUZZ_CHECK(quic_endpoint_new(&lim, tls[identity], &cbs, &env, f->now,
                                 &s->ep, err, sizeof(err)) == 0);
}

/* Deletes s's endpoint; muted: its CONNECTION_CLOSEs are lost (a
 * crash). */
static void side_del(struct side *s, bool muted)
{
    s->muted = muted;
    if (s->ep != NULL)
        quic_endpoint_del(s->ep, s->f->now);
    s->ep = NULL;
    s->muted = false;
}

/* s dials peer; 0, or P2P_ERR_EXISTS while a connection is up or being
 * made. */
static int dial(struct side *s, uint32_t peer)
{
    struct fz *f = s->f;
    struct sockaddr_in local =
        addr_of(s->idx, s->idx == NODE_A ? f->a_local_port : f->b_local_port);
    struct sockaddr_in remote =
        addr_of(peer, peer == NODE_A ? f->a_port : SERVER_PORT);
    const struct quic_path p = path_of(&local, &remote);
    int rc = quic_endpoint_dial(s->ep, s->f->now, peer, &p, ids[peer].key_id);
    FUZZ_CHECK(rc == 0 || rc == P2P_ERR_EXISTS);
    if (rc == 0)
        s->dialled[peer] = true;
    flush(s);
    return rc;
}

/* The datagram of a splice: see the header. */
static size_t splice(const struct fz *f, const uint8_t *p, size_t n,
                     uint8_t *out)
{
    if (n == 0 || !f->cid_known)
        return 0;
    size_t len = 0;
    out[len++] = p[0];
    size_t rest = 1;
    if (p[0] & 0x80) {
        for (unsigned i = 0; i < 4; i++)
            out[len++] = rest < n ? p[rest++] : 0;
        out[len++] = CID_LEN;
    }
    memcpy(out + len, f->cid, CID_LEN);
    len += CID_LEN;
    size_t tail = n - rest;
    if (tail > DGRAM_BYTES_MAX * 2 - len)
        tail = DGRAM_BYTES_MAX * 2 - len;
    memcpy(out + len, p + rest, tail);
    return len + tail;
}

/* The remote B's datagrams come from, and B's local address for them. */
static void addresses(const struct fz *f, uint8_t op, struct sockaddr_in *local,
                      struct sockaddr_in *remote)
{
    *local = addr_of(NODE_B, f->b_local_port);
    uint16_t port = f->a_port;
    if (op & 0x80)
        port = (uint16_t)(STRANGER_PORT_BASE + ((op >> 2) & 0x1f));
    *remote = addr_of(NODE_A, port);
}

static void replay(struct fz *f, const uint8_t *p, size_t n,
                   const struct sockaddr_in *remote)
{
    if (f->captured_count == 0)
        return;
    uint32_t k = n > 0 ? p[0] : 0;
    uint32_t have =
        f->captured_count < CAPTURED_MAX ? f->captured_count : CAPTURED_MAX;
    struct dgram d = f->captured[k % have];
    if (n >= 4) {
        size_t off = ((size_t)p[1] << 8 | p[2]) % d.len;
        d.bytes[off] ^= p[3];
    }
    recv_at(&f->b, &d.dst, remote, d.bytes, d.len);
}

static void traffic(struct fz *f, uint8_t op, const uint8_t *p, size_t n)
{
    if (f->mode < MODE_ESTABLISHED) {
        uint32_t ms = n >= 2 ? ((uint32_t)p[0] << 8 | p[1]) : 0;
        f->now += (uint64_t)(ms % TIME_JUMP_MAX_MS) * MS;
        timers(&f->b);
        return;
    }
    if (op & 0x40) { /* A crashes and restarts (same key, new state) */
        side_del(&f->a, true);
        side_new(f, &f->a, NODE_A, f->a.identity);
    }
    if (op & 0x80) /* A's NAT rebinds */
        f->a_port = (uint16_t)(STRANGER_PORT_BASE + ((op >> 2) & 0x1f));
    if (f->a.up[NODE_B]) {
        struct p2p_body *body =
            n > 0 ? p2p_body_copy(NULL, P2P_MEM_OUTBOX, p, n) : NULL;
        uint64_t sid = ++f->streams_opened;
        int rc = quic_endpoint_open(f->a.ep, NODE_B, sid, (const uint8_t *)"rq",
                                    2, body);
        p2p_body_release(body, NULL, P2P_MEM_OUTBOX);
        flush(&f->a);
        if (rc == 0 && (op & 0x20)) { /* and abandons it */
            quic_endpoint_reset(f->a.ep, NODE_B, sid, false);
            flush(&f->a);
        }
    } else if (!(op & 0x40)) {
        struct side *dialer = f->mode == MODE_DIALLED ? &f->b : &f->a;
        if (!dialer->dialled[1 - dialer->idx])
            (void)dial(dialer, 1 - dialer->idx);
    }
    pump(f, PUMP_ROUNDS);
}

static void record(struct fz *f, const uint8_t *r, size_t n)
{
    static uint8_t buf[DGRAM_BYTES_MAX * 2 + 64];
    if (n == 0)
        return;
    uint8_t op = r[0];
    const uint8_t *p = r + 1;
    size_t pn = n - 1;
    struct sockaddr_in local, remote;
    addresses(f, op, &local, &remote);
    f->now += MS;
    switch (op & 3) {
    case OP_SPLICE: {
        size_t len = splice(f, p, pn, buf);
        if (len > 0)
            recv_at(&f->b, &local, &remote, buf, len);
        break;
    }
    case OP_REPLAY:
        if (f->mode >= MODE_ESTABLISHED) {
            replay(f, p, pn, &remote);
            break;
        }
        /* fall through */
    case OP_RAW:
        recv_at(&f->b, &local, &remote, p, pn);
        break;
    default:
        traffic(f, op, p, pn);
        return;
    }
    timers(&f->b);
    if (f->mode >= MODE_ESTABLISHED)
        pump(f, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (uint32_t i = 0; i < 3; i++) {
        char err[256] = "";
        uint8_t key_id[QUIC_KEY_ID_LEN];
        FUZZ_CHECK(sim_quic_identity_make(IDENTITY_SEED, i, &ids[i], err,
                                          sizeof(err)) == 0);
        FUZZ_CHECK(quic_tls_new((const uint8_t *)ids[i].key_pem,
                                ids[i].key_pem_len,
                                (const uint8_t *)ids[i].cert_pem,
                                ids[i].cert_pem_len, "fuzz identity", &tls[i],
                                key_id, err, sizeof(err)) == 0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct fz *f = calloc(1, sizeof(*f));
    FUZZ_CHECK(f != NULL);
    f->mode = (enum mode)(data[0] % MODE_COUNT);
    f->now = T0;
    /* B is the server but in modes 1 and 4. */
    bool b_dials = f->mode == MODE_CLIENT || f->mode == MODE_DIALLED;
    f->a_port = f->a_local_port = b_dials ? SERVER_PORT : CLIENT_PORT;
    f->b_local_port = b_dials ? CLIENT_PORT : SERVER_PORT;
    side_new(f, &f->b, NODE_B, NODE_B);
    if (f->mode == MODE_CLIENT) {
        FUZZ_CHECK(dial(&f->b, NODE_A) == 0);
    } else if (f->mode == MODE_ESTABLISHED || f->mode == MODE_DIALLED) {
        side_new(f, &f->a, NODE_A, NODE_A);
        if (f->mode == MODE_DIALLED)
            FUZZ_CHECK(dial(&f->b, NODE_A) == 0);
        else
            FUZZ_CHECK(dial(&f->a, NODE_B) == 0);
        for (unsigned r = 0;
             r < HANDSHAKE_ROUNDS &&
             !(f->a.up[NODE_B] && f->b.up[NODE_A] && f->cid_known);
             r++)
            pump(f, 1);
        FUZZ_CHECK(f->a.up[NODE_B] && f->b.up[NODE_A] && f->cid_known);
    } else if (f->mode == MODE_STRANGER) {
        side_new(f, &f->a, NODE_A, IDENTITY_STRANGER);
        FUZZ_CHECK(dial(&f->a, NODE_B) == 0);
        for (unsigned r = 0; r < HANDSHAKE_ROUNDS && f->a.dialled[NODE_B]; r++)
            pump(f, 1);
        FUZZ_CHECK(!f->a.dialled[NODE_B] && !f->a.up[NODE_B]);
        struct quic_endpoint_totals tot;
        quic_endpoint_totals(f->b.ep, &tot);
        FUZZ_CHECK(tot.refusals[QUIC_REFUSE_NOT_MEMBER] == 1);
    }
    size_t off = 1;
    for (unsigned k = 0; k < RECORDS_MAX && off + 2 <= size; k++) {
        size_t n = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (n > size - off)
            n = size - off;
        record(f, data + off, n);
        off += n;
    }
    /* The clock follows the timers (loss recovery, keepalives, idle and
     * dial deadlines) for a while; datagrams in flight are delivered. */
    for (unsigned k = 0; k < END_STEPS; k++) {
        if (f->queued == 0) {
            uint64_t next = quic_endpoint_next_expiry(f->b.ep);
            if (f->a.ep != NULL) {
                uint64_t a = quic_endpoint_next_expiry(f->a.ep);
                next = a < next ? a : next;
            }
            if (next == UINT64_MAX)
                break;
            if (next > f->now + MS)
                f->now = next - MS; /* pump's step lands on it */
        }
        pump(f, 1);
    }
    f->deleting = true;
    side_del(&f->b, false);
    side_del(&f->a, false);
    for (uint32_t i = 0; i < f->queued; i++)
        free(f->queue[i]);
    free(f);
    return 0;
}
