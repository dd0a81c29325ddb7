/* The quic network model (see sim/quic_model.h). */
#include "sim/quic_model.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "quic/endpoint.h"
#include "sim/pnet.h"
#include "sim/quic_identity.h"
#include "sim/world.h"

/* A byzantine node's packet-level misdeeds per tick, per peer. */
#define GARBAGE_DATAGRAMS_PER_PEER 4u
#define GARBAGE_BYTES_MIN 20u
#define GARBAGE_BYTES_MAX 1200u
/* The flood's identity: a node id no scenario uses. */
#define FLOOD_IDENTITY_BASE (1u << 30)
/* The rng streams of endpoints (per node and incarnation) and garbage. */
#define RNG_STREAM_ENDPOINT 0x71756963u /* "quic" */
#define RNG_STREAM_GARBAGE 0x67617262u  /* "garb" */

enum feedback_kind { FEEDBACK_OPEN_FAILED, FEEDBACK_DIAL_FAILED };

struct feedback {
    uint8_t kind; /* enum feedback_kind */
    uint32_t peer;
    uint64_t stream_id;
};

struct qnode;

/* One endpoint and what its callbacks need. */
struct qep {
    struct sim_world *w;
    struct qnode *qn;
    bool flood; /* the handshake flood's endpoint: its callbacks do nothing */
    bool muted; /* crashing: what it sends is lost */
    struct quic_tls *tls;
    struct quic_endpoint *ep;
};

struct qnode {
    uint32_t node;
    struct sim_quic_identity id;
    struct qep main, flood;
    struct p2p_rng rng; /* the endpoints' randomness */
    /* The endpoint's clock: the node's rate (a skew's drift) but none of
     * its jumps, as the replica's transport runs on CLOCK_MONOTONIC, which
     * a wall-clock step does not move. A skew's offset is the node's
     * notion of time (core's clock, sim_world_local_now): jumping the
     * transport's clock by an hour would feed ngtcp2 an hour-long round
     * trip and stall its connections, something no running replica sees. */
    struct sim_clock clock;
    p2p_time armed;      /* the SIM_EV_QUIC_TIMER queued, or NEVER */
    uint32_t rebinds;    /* NAT: the public client port's index */
    bool touched;        /* in m->touched: flush it */
    bool writable_armed; /* a SIM_EV_QUIC_WRITABLE is queued for it */
    /* The endpoint's received stream bytes by traffic class already
     * added to the node's counters (--metrics). */
    uint64_t rx_seen[P2P_TRAFFIC_COUNT];
    uint8_t *up;               /* owned bitmap over peers: connection up */
    struct feedback *feedback; /* owned, SIM_QUIC_FEEDBACK_MAX */
    uint32_t feedback_count;
};

struct sim_quic_model {
    struct sim_pnet pnet;
    struct qnode *nodes; /* owned, w->nodes_count */
    uint32_t *touched;   /* owned: nodes whose endpoints wait for a flush */
    uint32_t touched_count;
    struct sim_quic_identity flood_id; /* shared by every flooder */
    struct p2p_rng garbage_rng;
    uint64_t in_flight;
    struct sim_quic_model_totals tot;
};

/* A datagram on its way (SIM_EV_DATAGRAM's ptr). */
struct datagram {
    uint32_t from;
    uint16_t from_port; /* the public source port */
    uint16_t to_port;   /* the destination port as sent */
    uint32_t len;
    uint8_t bytes[];
};

/* ---- addresses ---- */

static struct sockaddr_in addr_of(uint32_t node, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl((10u << 24) + node);
    return a;
}

/* The node an address names, or UINT32_MAX. */
static uint32_t node_of(const struct sockaddr *sa, uint32_t nodes)
{
    if (sa->sa_family != AF_INET)
        return UINT32_MAX;
    uint32_t ip = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    if ((ip >> 24) != 10u || (ip & 0xffffffu) >= nodes)
        return UINT32_MAX;
    return ip & 0xffffffu;
}

static uint16_t port_of(const struct sockaddr *sa)
{
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

/* A path between two simulated addresses, with its own storage. */
struct sim_path {
    struct sockaddr_in local, remote;
    struct quic_path path;
};

static const struct quic_path *path_between(struct sim_path *sp, uint32_t local,
                                            uint16_t lport, uint32_t remote,
                                            uint16_t rport)
{
    sp->local = addr_of(local, lport);
    sp->remote = addr_of(remote, rport);
    sp->path =
        (struct quic_path){(struct sockaddr *)&sp->local, sizeof(sp->local),
                           (struct sockaddr *)&sp->remote, sizeof(sp->remote)};
    return &sp->path;
}

static uint16_t nat_port(const struct qnode *qn)
{
    return (uint16_t)(SIM_QUIC_NAT_PORT_BASE +
                      qn->rebinds % SIM_QUIC_NAT_PORTS);
}

/* ---- the endpoint's clock and time ---- */

/* The endpoint's time now (see struct qnode's clock). */
static p2p_time ep_now(struct sim_world *w, struct qnode *qn)
{
    return sim_clock_local(&qn->clock, w->now);
}

/* Core's time now: the node's clock, skew offsets included. */
static p2p_time core_now(struct sim_world *w, const struct qnode *qn)
{
    return sim_world_local_now(w, qn->node);
}

static struct sim_quic_model *model(const struct sim_world *w)
{
    return w->quic;
}

static void touch(struct sim_world *w, struct qnode *qn)
{
    struct sim_quic_model *m = model(w);
    if (qn->touched)
        return;
    qn->touched = true;
    m->touched[m->touched_count++] = qn->node;
}

static void trace_dgram(struct sim_world *w, uint32_t from, uint32_t to,
                        size_t len, const uint8_t *bytes, const char *drop)
{
    if (!SIM_TRACING(w))
        return;
    /* The header's type, never its content: the long header's form and
     * type bits are not protected (RFC 9000 17.2). */
    static const char *const LONG[] = {"initial", "0rtt", "handshake", "retry"};
    const char *kind = len == 0            ? "empty"
                       : (bytes[0] & 0x80) ? LONG[(bytes[0] >> 4) & 3]
                                           : "short";
    if (drop == NULL)
        sim_trace_line(&w->trace, w->now, from, "dgram",
                       "peer=%u bytes=%zu kind=%s", to, len, kind);
    else
        sim_trace_line(&w->trace, w->now, from, "dgram_drop",
                       "peer=%u bytes=%zu kind=%s why=%s", to, len, kind, drop);
}

/* ---- sending ---- */

/* One datagram from qe's node along path: routed, carried by the packet
 * network, scheduled where it arrives. */
static void send_one(struct qep *qe, const struct quic_path *path,
                     const uint8_t *buf, size_t len)
{
    struct sim_world *w = qe->w;
    struct sim_quic_model *m = model(w);
    uint32_t from = qe->qn->node;
    uint32_t to = node_of(path->remote, w->nodes_count);
    m->tot.datagrams_sent++;
    m->tot.datagram_bytes_sent += len;
    w->stats.bytes_sent += len;
    if (to == UINT32_MAX || to == from) {
        m->tot.datagrams_dropped++;
        m->tot.dropped_network++;
        return;
    }
    if (w->nodes[from].group != w->nodes[to].group) {
        m->tot.datagrams_dropped++;
        m->tot.dropped_partition++;
        trace_dgram(w, from, to, len, buf, "partition");
        return;
    }
    struct sim_pnet_arrival arr[2];
    enum sim_pnet_drop why;
    size_t n = sim_pnet_send(&m->pnet, w->now, from, to, len, arr, &why);
    if (n == 0) {
        m->tot.datagrams_dropped++;
        m->tot.dropped_network++;
        trace_dgram(w, from, to, len, buf, sim_pnet_drop_name(why));
        return;
    }
    trace_dgram(w, from, to, len, buf, NULL);
    if (w->opt.series) /* --report: over the uplink's time for it */
        sim_report_series_add_span(&w->series, w->now,
                                   sim_pnet_uplink_free(&m->pnet, from), from,
                                   true, len);
    uint16_t src_port = port_of(path->local);
    if (src_port == SIM_QUIC_CLIENT_PORT)
        src_port = nat_port(qe->qn);
    for (size_t i = 0; i < n; i++) {
        if (m->in_flight >= SIM_QUIC_DATAGRAMS_IN_FLIGHT_MAX) {
            m->tot.datagrams_dropped++;
            m->tot.dropped_network++;
            trace_dgram(w, from, to, len, buf, "sim_limit");
            continue;
        }
        struct datagram *d = malloc(sizeof(*d) + len);
        if (d == NULL) {
            sim_world_violation(w, "out of memory carrying a datagram");
            return;
        }
        d->from = from;
        d->from_port = src_port;
        d->to_port = port_of(path->remote);
        d->len = (uint32_t)len;
        memcpy(d->bytes, buf, len);
        if (arr[i].corrupt)
            d->bytes[arr[i].bit / 8] ^= (uint8_t)(1u << (arr[i].bit % 8));
        m->in_flight++;
        sim_world_push_event(w, &(struct sim_event){.time = arr[i].at,
                                                    .type = SIM_EV_DATAGRAM,
                                                    .node = to,
                                                    .ptr = d});
    }
}

/* Takes the datagrams the node's uplink queue has room for; the endpoint
 * keeps the rest until SIM_EV_QUIC_WRITABLE. */
static ssize_t env_send(void *ctx, const struct quic_path *path,
                        const uint8_t *buf, size_t len, size_t seg)
{
    struct qep *qe = ctx;
    if (qe->muted || seg == 0)
        return (ssize_t)len;
    struct sim_world *w = qe->w;
    struct qnode *qn = qe->qn;
    for (size_t off = 0; off < len; off += seg) {
        size_t n = len - off < seg ? len - off : seg;
        p2p_time room_at;
        if (!sim_pnet_uplink_takes(&model(w)->pnet, w->now, qn->node, n,
                                   &room_at)) {
            if (!qn->writable_armed) {
                qn->writable_armed = true;
                sim_world_push_event(
                    w, &(struct sim_event){.time = room_at,
                                           .type = SIM_EV_QUIC_WRITABLE,
                                           .node = qn->node});
            }
            return (ssize_t)off;
        }
        send_one(qe, path, buf + off, n);
    }
    return (ssize_t)len;
}

static void env_rand(void *ctx, uint8_t *out, size_t n)
{
    struct qep *qe = ctx;
    p2p_rng_fill(&qe->qn->rng, out, n);
}

static int64_t env_wall_s(void *ctx)
{
    /* Certificates are judged by the wall clock, which follows the
     * node's skew (CLOCK_REALTIME in the replica). */
    struct qep *qe = ctx;
    return SIM_QUIC_WALL_EPOCH_S +
           (int64_t)(core_now(qe->w, qe->qn) / P2P_NS_PER_S);
}

/* ---- the endpoint's callbacks: core inputs ---- */

static struct p2p_node *core_of(struct qep *qe)
{
    return qe->w->nodes[qe->qn->node].core;
}

static void set_up(struct qnode *qn, uint32_t peer, bool up)
{
    if (up)
        qn->up[peer / 8] |= (uint8_t)(1u << (peer % 8));
    else
        qn->up[peer / 8] &= (uint8_t) ~(1u << (peer % 8));
}

static void trace_conn(struct sim_world *w, uint32_t node, const char *what,
                       uint32_t peer)
{
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, node, what, "peer=%u", peer);
}

static bool cb_accept_key(void *ctx, const uint8_t key_id[QUIC_KEY_ID_LEN],
                          uint32_t *peer, enum quic_refusal *why)
{
    struct qep *qe = ctx;
    struct sim_world *w = qe->w;
    struct sim_quic_model *m = model(w);
    *why = QUIC_REFUSE_NOT_MEMBER;
    if (qe->flood)
        return false;
    uint32_t self = qe->qn->node, found = UINT32_MAX;
    for (uint32_t i = 0; i < w->nodes_count; i++)
        if (memcmp(m->nodes[i].id.key_id, key_id, QUIC_KEY_ID_LEN) == 0) {
            found = i;
            break;
        }
    if (found == UINT32_MAX) {
        m->tot.refusals++;
        return false;
    }
    if (!p2p_node_accepts_peer(core_of(qe), core_now(w, qe->qn), found)) {
        *why = found == self                       ? QUIC_REFUSE_DUPLICATE
               : p2p_conn_should_dial(self, found) ? QUIC_REFUSE_OURS_TO_DIAL
                                                   : QUIC_REFUSE_BANNED;
        m->tot.refusals++;
        return false;
    }
    *peer = found;
    return true;
}

static void cb_peer_up(void *ctx, uint32_t peer)
{
    struct qep *qe = ctx;
    struct sim_world *w = qe->w;
    if (qe->flood)
        return;
    uint32_t node = qe->qn->node;
    set_up(qe->qn, peer, true);
    model(w)->tot.handshakes++;
    if (p2p_conn_should_dial(node, peer))
        w->stats.conns_established++;
    trace_conn(w, node, "conn_up", peer);
    (void)p2p_node_on_peer_up(core_of(qe), core_now(w, qe->qn), peer);
    sim_world_mark(w, node);
}

static void cb_peer_down(void *ctx, uint32_t peer, int reason)
{
    struct qep *qe = ctx;
    struct sim_world *w = qe->w;
    if (qe->flood)
        return;
    uint32_t node = qe->qn->node;
    set_up(qe->qn, peer, false);
    if (p2p_conn_should_dial(node, peer))
        w->stats.conns_broken++;
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, node, "conn_down", "peer=%u why=%s",
                       peer, p2p_strerror(reason));
    (void)p2p_node_on_peer_down(core_of(qe), core_now(w, qe->qn), peer);
    sim_world_mark(w, node);
}

static void cb_dial_failed(void *ctx, uint32_t peer, int reason)
{
    struct qep *qe = ctx;
    struct sim_world *w = qe->w;
    if (qe->flood)
        return;
    uint32_t node = qe->qn->node;
    w->stats.dials_failed++;
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, node, "dial_failed", "peer=%u why=%s",
                       peer, p2p_strerror(reason));
    (void)p2p_node_on_dial_failed(core_of(qe), core_now(w, qe->qn), peer);
    sim_world_mark(w, node);
}

static void cb_stream_data(void *ctx, uint32_t peer, uint64_t stream_id,
                           bool inbound, const uint8_t *data, size_t len,
                           bool fin)
{
    struct qep *qe = ctx;
    struct sim_world *w = qe->w;
    uint32_t node = qe->qn->node;
    if (qe->flood || !sim_byzantine_reads(w, node))
        return;
    struct sim_node *sn = &w->nodes[node];
    if (fin)
        sn->messages_received++;
    struct p2p_stream_bytes in = {.peer = peer,
                                  .stream_id = stream_id,
                                  .inbound = inbound,
                                  .data = data,
                                  .len = len,
                                  .fin = fin};
    (void)p2p_node_on_stream_data(core_of(qe), core_now(w, qe->qn), &in);
    sim_world_mark(w, node);
}

static void cb_stream_reset(void *ctx, uint32_t peer, uint64_t stream_id,
                            bool inbound)
{
    struct qep *qe = ctx;
    struct sim_world *w = qe->w;
    if (qe->flood)
        return;
    (void)p2p_node_on_stream_reset(core_of(qe), core_now(w, qe->qn), peer,
                                   stream_id, inbound);
    sim_world_mark(w, qe->qn->node);
}

static const struct quic_endpoint_cbs CBS = {
    .accept_key = cb_accept_key,
    .peer_up = cb_peer_up,
    .peer_down = cb_peer_down,
    .dial_failed = cb_dial_failed,
    .stream_data = cb_stream_data,
    .stream_reset = cb_stream_reset,
};

/* ---- endpoints ---- */

static void endpoint_del(struct sim_world *w, struct qep *qe, bool muted)
{
    if (qe->ep != NULL) {
        /* Its counts outlive it (a crash, a restart). */
        struct quic_endpoint_totals tot;
        quic_endpoint_totals(qe->ep, &tot);
        model(w)->tot.stalls += tot.conns_stalled;
        qe->muted = muted;
        quic_endpoint_del(qe->ep, ep_now(w, qe->qn));
        qe->muted = false;
        qe->ep = NULL;
    }
    quic_tls_del(qe->tls);
    qe->tls = NULL;
}

static int endpoint_new(struct sim_world *w, struct qnode *qn, struct qep *qe,
                        const struct sim_quic_identity *id, bool flood)
{
    char err[256];
    uint8_t key_id[QUIC_KEY_ID_LEN];
    qe->w = w;
    qe->qn = qn;
    qe->flood = flood;
    int rc =
        quic_tls_new((const uint8_t *)id->key_pem, id->key_pem_len,
                     (const uint8_t *)id->cert_pem, id->cert_pem_len,
                     "simulated identity", &qe->tls, key_id, err, sizeof(err));
    /* The replica's limits: its defaults, with core's connection
     * settings (as prod/replica.c sets them). */
    struct quic_endpoint_limits lim;
    quic_endpoint_limits_default(&lim);
    const struct p2p_node *core = w->nodes[qn->node].core;
    if (core != NULL) {
        const struct p2p_config *cfg = p2p_node_config(core);
        lim.streams_per_peer = cfg->streams_in_per_peer_max;
        lim.idle_timeout_ns = cfg->idle_timeout_ns;
        lim.keepalive_ns = cfg->keepalive_ns;
        lim.dial_timeout_ns = cfg->dial_timeout_ns;
    }
    const struct quic_endpoint_env env = {
        .ctx = qe, .send = env_send, .rand = env_rand, .wall_s = env_wall_s};
    struct quic_endpoint_cbs cbs = CBS;
    cbs.ctx = qe;
    if (rc == 0)
        rc = quic_endpoint_new(&lim, qe->tls, &cbs, &env, ep_now(w, qn),
                               &qe->ep, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "p2p-sim: node %u's QUIC endpoint: %s\n", qn->node,
                err);
        endpoint_del(w, qe, true);
    }
    return rc;
}

static void rearm(struct sim_world *w, struct qnode *qn)
{
    if (qn->main.ep == NULL)
        return;
    uint64_t next = quic_endpoint_next_expiry(qn->main.ep);
    if (qn->flood.ep != NULL) {
        uint64_t f = quic_endpoint_next_expiry(qn->flood.ep);
        if (f < next)
            next = f;
    }
    if (next == UINT64_MAX)
        return;
    p2p_time at = sim_clock_global(&qn->clock, w->now, next);
    /* Work due now runs at the next nanosecond: the endpoint has just
     * done what it could at this instant. */
    if (at <= w->now)
        at = w->now + 1;
    if (at >= qn->armed)
        return;
    qn->armed = at;
    sim_world_push_event(w, &(struct sim_event){.time = at,
                                                .type = SIM_EV_QUIC_TIMER,
                                                .node = qn->node});
}

/* ---- the model's calls ---- */

int sim_quic_model_new(struct sim_world *w)
{
    const struct sim_scenario *sc = w->sc;
    if (w->nodes_count > SIM_QUIC_NODES_MAX) {
        fprintf(stderr,
                "p2p-sim: the quic model runs at most %u node ids (this "
                "scenario has %u)\n",
                SIM_QUIC_NODES_MAX, w->nodes_count);
        return P2P_ERR_LIMIT;
    }
    struct sim_quic_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return P2P_ERR_NOMEM;
    w->quic = m;
    m->nodes = calloc(w->nodes_count, sizeof(*m->nodes));
    m->touched = calloc(w->nodes_count, sizeof(*m->touched));
    if (m->nodes == NULL || m->touched == NULL)
        return P2P_ERR_NOMEM;
    const struct sim_packet_cfg *pc = &sc->net.packet;
    const struct sim_pnet_params params = {
        .mtu_bytes = pc->mtu_bytes,
        .queue_bytes = pc->queue_bytes,
        .reorder_ppm = pc->reorder_ppm,
        .reorder_ns = pc->reorder_ns,
        .duplicate_ppm = pc->duplicate_ppm,
        .corrupt_ppm = pc->corrupt_ppm,
    };
    int rc = sim_pnet_init(&m->pnet, w->nodes_count, &params, w->seed);
    if (rc != 0)
        return rc;
    /* The links as the message model has them (sim/net.c built them). */
    for (uint32_t a = 0; a < w->nodes_count; a++) {
        sim_pnet_set_bandwidth(&m->pnet, a, w->net.uplink_bps[a],
                               w->net.downlink_bps[a]);
        for (uint32_t b = 0; b < w->nodes_count; b++) {
            if (a == b)
                continue;
            const struct sim_link *l =
                &w->net.links[(size_t)a * w->net.nodes + b];
            const struct sim_pnet_link pl = {l->latency_ns, l->jitter_ns,
                                             l->loss_ppm};
            sim_pnet_set_link(&m->pnet, a, b, &pl);
        }
    }
    p2p_rng_init(&m->garbage_rng, w->seed, RNG_STREAM_GARBAGE);
    char err[256];
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        struct qnode *qn = &m->nodes[i];
        qn->node = i;
        sim_clock_init(&qn->clock);
        qn->armed = P2P_TIME_NEVER;
        qn->up = calloc((w->nodes_count + 7) / 8, 1);
        qn->feedback = calloc(SIM_QUIC_FEEDBACK_MAX, sizeof(*qn->feedback));
        if (qn->up == NULL || qn->feedback == NULL)
            return P2P_ERR_NOMEM;
        if (sim_quic_identity_make(w->seed, i, &qn->id, err, sizeof(err)) !=
            0) {
            fprintf(stderr, "p2p-sim: node %u's identity: %s\n", i, err);
            return P2P_ERR_INTERNAL;
        }
    }
    if (sim_quic_identity_make(w->seed, FLOOD_IDENTITY_BASE, &m->flood_id, err,
                               sizeof(err)) != 0) {
        fprintf(stderr, "p2p-sim: the flood identity: %s\n", err);
        return P2P_ERR_INTERNAL;
    }
    return 0;
}

void sim_quic_model_del(struct sim_world *w)
{
    struct sim_quic_model *m = model(w);
    if (m == NULL)
        return;
    for (uint32_t i = 0; m->nodes != NULL && i < w->nodes_count; i++) {
        struct qnode *qn = &m->nodes[i];
        endpoint_del(w, &qn->main, true);
        endpoint_del(w, &qn->flood, true);
        free(qn->up);
        free(qn->feedback);
    }
    free(m->nodes);
    free(m->touched);
    sim_pnet_fini(&m->pnet);
    free(m);
    w->quic = NULL;
}

int sim_quic_model_node_start(struct sim_world *w, uint32_t node)
{
    struct qnode *qn = &model(w)->nodes[node];
    p2p_rng_init(&qn->rng, w->seed,
                 RNG_STREAM_ENDPOINT ^
                     ((uint64_t)w->nodes[node].incarnation << 32) ^
                     ((uint64_t)node << 40));
    memset(qn->up, 0, (w->nodes_count + 7) / 8);
    memset(qn->rx_seen, 0, sizeof(qn->rx_seen));
    qn->feedback_count = 0;
    return endpoint_new(w, qn, &qn->main, &qn->id, false);
}

void sim_quic_model_node_crash(struct sim_world *w, uint32_t node)
{
    struct qnode *qn = &model(w)->nodes[node];
    endpoint_del(w, &qn->main, true);
    endpoint_del(w, &qn->flood, true);
    memset(qn->up, 0, (w->nodes_count + 7) / 8);
    qn->feedback_count = 0;
    qn->armed = P2P_TIME_NEVER;
}

void sim_quic_model_skew(struct sim_world *w, uint32_t node, int64_t drift_ppm)
{
    struct qnode *qn = &model(w)->nodes[node];
    (void)sim_clock_skew(&qn->clock, w->now, 0, drift_ppm);
    if (qn->main.ep != NULL)
        touch(w, qn);
}

void sim_quic_model_touch(struct sim_world *w, uint32_t node)
{
    touch(w, &model(w)->nodes[node]);
}

static void owe(struct sim_world *w, struct qnode *qn, enum feedback_kind kind,
                uint32_t peer, uint64_t stream_id)
{
    if (qn->feedback_count < SIM_QUIC_FEEDBACK_MAX)
        qn->feedback[qn->feedback_count++] =
            (struct feedback){(uint8_t)kind, peer, stream_id};
    touch(w, qn);
}

void sim_quic_model_dial(struct sim_world *w, uint32_t node, uint32_t peer)
{
    struct sim_quic_model *m = model(w);
    struct qnode *qn = &m->nodes[node];
    if (peer >= w->nodes_count || qn->main.ep == NULL) {
        owe(w, qn, FEEDBACK_DIAL_FAILED, peer, 0);
        return;
    }
    trace_conn(w, node, "dial", peer);
    struct sim_path sp;
    const struct quic_path *path = path_between(&sp, node, SIM_QUIC_CLIENT_PORT,
                                                peer, SIM_QUIC_SERVER_PORT);
    int rc = quic_endpoint_dial(qn->main.ep, ep_now(w, qn), peer, path,
                                m->nodes[peer].id.key_id);
    if (rc != 0 && rc != P2P_ERR_EXISTS)
        owe(w, qn, FEEDBACK_DIAL_FAILED, peer, 0);
    touch(w, qn);
}

void sim_quic_model_close(struct sim_world *w, uint32_t node, uint32_t peer,
                          int reason)
{
    struct qnode *qn = &model(w)->nodes[node];
    if (qn->main.ep == NULL || peer >= w->nodes_count)
        return;
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, node, "conn_close", "peer=%u why=%s",
                       peer, p2p_strerror(reason));
    set_up(qn, peer, false);
    quic_endpoint_close(qn->main.ep, peer, reason);
    touch(w, qn);
}

void sim_quic_model_send_msg(struct sim_world *w, uint32_t from,
                             struct sim_msg *msg)
{
    struct qnode *qn = &model(w)->nodes[from];
    struct quic_endpoint *ep = qn->main.ep;
    if (ep == NULL || msg->to >= w->nodes_count) {
        w->stats.messages_dropped++;
        sim_world_msg_free(w, msg);
        return;
    }
    if (msg->kind == SIM_MSG_RESET) {
        /* The receiver's side of the stream is the other end of ours. */
        quic_endpoint_reset(ep, msg->to, msg->stream_id, !msg->inbound);
    } else if (msg->inbound) {
        if (quic_endpoint_open(ep, msg->to, msg->stream_id, msg->bytes,
                               msg->head_len, msg->body) != 0)
            owe(w, qn, FEEDBACK_OPEN_FAILED, msg->to, msg->stream_id);
    } else if (quic_endpoint_respond(ep, msg->to, msg->stream_id, msg->bytes,
                                     msg->head_len, msg->body) != 0) {
        /* Past the send budget: the peer sees a reset (as the replica). */
        quic_endpoint_reset(ep, msg->to, msg->stream_id, true);
    }
    if (msg->kind == SIM_MSG_DATA) {
        struct sim_node *sn = &w->nodes[from];
        sn->bytes_sent[msg->traffic] += msg->len;
        sn->messages_sent++;
        w->stats.messages_sent++;
        w->stats.bytes_by_traffic[msg->traffic] += msg->len;
    }
    sim_world_msg_free(w, msg);
    touch(w, qn);
}

/* Gives core what qn's endpoint owes it. */
static void pay_feedback(struct sim_world *w, struct qnode *qn)
{
    struct p2p_node *core = w->nodes[qn->node].core;
    uint32_t n = qn->feedback_count;
    qn->feedback_count = 0;
    if (core == NULL || n == 0)
        return;
    p2p_time now = core_now(w, qn);
    for (uint32_t i = 0; i < n; i++) {
        const struct feedback *f = &qn->feedback[i];
        if (f->kind == FEEDBACK_DIAL_FAILED)
            (void)p2p_node_on_dial_failed(core, now, f->peer);
        else
            (void)p2p_node_on_stream_reset(core, now, f->peer, f->stream_id,
                                           false);
    }
    sim_world_mark(w, qn->node);
}

/* What qn's endpoint received since the last look, into the node's
 * per-class counters (the endpoint classifies stream bytes). */
static void count_received(struct sim_world *w, struct qnode *qn)
{
    struct quic_endpoint_totals tot;
    quic_endpoint_totals(qn->main.ep, &tot);
    struct sim_node *sn = &w->nodes[qn->node];
    for (int c = 0; c < P2P_TRAFFIC_COUNT; c++) {
        sn->bytes_received[c] += tot.bytes_received[c] - qn->rx_seen[c];
        qn->rx_seen[c] = tot.bytes_received[c];
    }
}

bool sim_quic_model_flush(struct sim_world *w)
{
    struct sim_quic_model *m = model(w);
    while (m->touched_count > 0) {
        uint32_t node = m->touched[--m->touched_count];
        struct qnode *qn = &m->nodes[node];
        qn->touched = false;
        if (qn->main.ep == NULL)
            continue;
        pay_feedback(w, qn);
        p2p_time now = ep_now(w, qn);
        (void)quic_endpoint_flush(qn->main.ep, now);
        count_received(w, qn);
        if (qn->flood.ep != NULL)
            (void)quic_endpoint_flush(qn->flood.ep, now);
        rearm(w, qn);
    }
    return w->dirty_count > 0;
}

void sim_quic_model_on_datagram(struct sim_world *w, struct sim_event *e)
{
    struct sim_quic_model *m = model(w);
    struct datagram *d = e->ptr;
    e->ptr = NULL;
    m->in_flight--;
    uint32_t to = e->node;
    struct qnode *qn = &m->nodes[to];
    struct qep *qe = NULL;
    uint16_t local_port = d->to_port;
    if (d->to_port == SIM_QUIC_SERVER_PORT) {
        qe = &qn->main;
    } else if (d->to_port == SIM_QUIC_FLOOD_PORT) {
        qe = &qn->flood;
    } else if (d->to_port == nat_port(qn)) {
        qe = &qn->main;
        local_port = SIM_QUIC_CLIENT_PORT;
    } else {
        m->tot.datagrams_dropped++;
        m->tot.dropped_nat++;
        free(d);
        return;
    }
    if (!w->nodes[to].running || qe->ep == NULL) {
        m->tot.datagrams_dropped++;
        m->tot.dropped_down++;
        free(d);
        return;
    }
    m->tot.datagrams_delivered++;
    if (w->opt.series) /* --report: over its downlink time, ending now */
        sim_report_series_received(&w->series, &w->net, w->now, to, d->len);
    struct sim_path sp;
    const struct quic_path *path =
        path_between(&sp, to, local_port, d->from, d->from_port);
    quic_endpoint_recv(qe->ep, ep_now(w, qn), path, d->bytes, d->len);
    free(d);
    touch(w, qn);
}

void sim_quic_model_on_timer(struct sim_world *w, uint32_t node, p2p_time at)
{
    struct qnode *qn = &model(w)->nodes[node];
    if (qn->armed != at || qn->main.ep == NULL)
        return; /* superseded, or crashed */
    qn->armed = P2P_TIME_NEVER;
    p2p_time now = ep_now(w, qn);
    quic_endpoint_on_expiry(qn->main.ep, now);
    if (qn->flood.ep != NULL)
        quic_endpoint_on_expiry(qn->flood.ep, now);
    touch(w, qn);
}

void sim_quic_model_on_writable(struct sim_world *w, uint32_t node)
{
    struct qnode *qn = &model(w)->nodes[node];
    qn->writable_armed = false;
    if (qn->main.ep == NULL)
        return;
    quic_endpoint_writable(qn->main.ep);
    if (qn->flood.ep != NULL)
        quic_endpoint_writable(qn->flood.ep);
    touch(w, qn);
}

void sim_quic_model_free_datagram(struct sim_world *w, void *ptr)
{
    if (ptr == NULL)
        return;
    model(w)->in_flight--;
    free(ptr);
}

bool sim_quic_model_up(const struct sim_world *w, uint32_t node, uint32_t peer)
{
    const struct qnode *qn = &model(w)->nodes[node];
    return peer < w->nodes_count && qn->main.ep != NULL &&
           (qn->up[peer / 8] & (1u << (peer % 8))) != 0;
}

void sim_quic_model_set_extra_loss(struct sim_world *w, uint32_t ppm)
{
    sim_pnet_set_extra_loss(&model(w)->pnet, ppm);
}

void sim_quic_model_blackhole(struct sim_world *w, uint32_t node, bool on)
{
    sim_pnet_set_blackhole(&model(w)->pnet, node, on);
}

void sim_quic_model_nat_rebind(struct sim_world *w, uint32_t node)
{
    model(w)->nodes[node].rebinds++;
}

void sim_quic_model_byzantine_start(struct sim_world *w, uint32_t node)
{
    /* The message model's slow reader reads at its downlink's rate. */
    sim_pnet_set_bandwidth(&model(w)->pnet, node, w->net.uplink_bps[node],
                           w->net.downlink_bps[node]);
}

static void send_garbage(struct sim_world *w, struct qnode *qn, uint32_t peer)
{
    struct sim_quic_model *m = model(w);
    uint8_t buf[GARBAGE_BYTES_MAX];
    for (uint32_t k = 0; k < GARBAGE_DATAGRAMS_PER_PEER; k++) {
        size_t len =
            GARBAGE_BYTES_MIN +
            (size_t)p2p_rng_below(&m->garbage_rng,
                                  GARBAGE_BYTES_MAX - GARBAGE_BYTES_MIN + 1);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)p2p_rng_u32(&m->garbage_rng);
        struct sim_path sp;
        const struct quic_path *path = path_between(
            &sp, qn->node, SIM_QUIC_SERVER_PORT, peer, SIM_QUIC_SERVER_PORT);
        send_one(&qn->main, path, buf, len);
    }
}

/* A handshake with a non-member key to every live peer: each is refused
 * inside the handshake (and answered by a CONNECTION_CLOSE). */
static void flood(struct sim_world *w, struct qnode *qn)
{
    struct sim_quic_model *m = model(w);
    if (qn->flood.ep == NULL &&
        endpoint_new(w, qn, &qn->flood, &m->flood_id, true) != 0)
        return;
    p2p_time now = ep_now(w, qn);
    for (uint32_t p = 0; p < w->nodes_count; p++) {
        if (p == qn->node || !w->nodes[p].running)
            continue;
        struct sim_path sp;
        const struct quic_path *path = path_between(
            &sp, qn->node, SIM_QUIC_FLOOD_PORT, p, SIM_QUIC_SERVER_PORT);
        (void)quic_endpoint_dial(qn->flood.ep, now, p, path,
                                 m->nodes[p].id.key_id);
    }
}

void sim_quic_model_byzantine_tick(struct sim_world *w, uint32_t node)
{
    struct qnode *qn = &model(w)->nodes[node];
    if (qn->main.ep == NULL)
        return;
    enum sim_byzantine b = w->nodes[node].behaviour;
    if (b == SIM_BYZ_HANDSHAKE_FLOOD) {
        flood(w, qn);
    } else if (b == SIM_BYZ_GARBAGE_DATAGRAMS) {
        for (uint32_t p = 0; p < w->nodes_count; p++)
            if (p != node && w->nodes[p].running)
                send_garbage(w, qn, p);
    }
    w->nodes[node].byz_misdeeds++;
    touch(w, qn);
}

void sim_quic_model_totals(const struct sim_world *w,
                           struct sim_quic_model_totals *out)
{
    const struct sim_quic_model *m = model(w);
    *out = m->tot;
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        const struct qep *qe = &m->nodes[i].main;
        if (qe->ep != NULL) {
            struct quic_endpoint_totals tot;
            quic_endpoint_totals(qe->ep, &tot);
            out->stalls += tot.conns_stalled;
        }
    }
}
