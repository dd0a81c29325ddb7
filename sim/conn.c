/* The connection model: one connection per node pair, as QUIC gives the
 * real replica (core/conn_manager.c decides who dials).
 *
 * A dial completes after a round trip if the path is open, or as soon as
 * it opens again (a heal, a restart) while the dial is younger than the
 * dialler's dial timeout; the acceptor's core may refuse it. A connection
 * whose path is cut (partition, crashed end) survives for the idle
 * timeout, holding its messages, which are delivered after a heal as
 * QUIC's retransmissions would; past the idle timeout both ends are told
 * it is lost and its messages are dropped. A close by one end reaches the
 * other after the one-way latency. Before a pair's connection changes,
 * both ends take their waiting acknowledgements (sim/inbox.c): whether
 * one is accepted is decided as of its arrival. */
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "sim/big_table.h"
#include "sim/world.h"

#define HELD_MAX (4u << 20) /* messages waiting for a heal */

int sim_conn_init(struct sim_world *w)
{
    size_t n = w->nodes_count, pairs = n * (n - 1) / 2;
    w->conns = sim_big_table_new(pairs, sizeof(*w->conns));
    if (w->conns == NULL)
        return P2P_ERR_NOMEM;
    for (size_t i = 0; i < pairs; i++)
        w->conns[i].cut_since = P2P_TIME_NEVER;
    return 0;
}

/* Pair (lo, hi), lo < hi, is at hi * (hi - 1) / 2 + lo: row hi holds the
 * hi pairs with a lower node. */
static size_t pair_index(uint32_t lo, uint32_t hi)
{
    return (size_t)hi * (hi - 1) / 2 + lo;
}

struct sim_conn *sim_conn_of(struct sim_world *w, uint32_t a, uint32_t b)
{
    P2P_ASSERT(a != b);
    uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
    return &w->conns[pair_index(lo, hi)];
}

bool sim_conn_path_cut(const struct sim_world *w, uint32_t a, uint32_t b)
{
    return !w->nodes[a].running || !w->nodes[b].running ||
           w->nodes[a].group != w->nodes[b].group;
}

static p2p_time one_way(const struct sim_world *w, uint32_t a, uint32_t b)
{
    return w->net.links[(size_t)a * w->net.nodes + b].latency_ns;
}

/* A running node's connection settings. */
static const struct p2p_config *cfg(const struct sim_world *w, uint32_t node)
{
    return p2p_node_config(w->nodes[node].core);
}

static void trace_conn(struct sim_world *w, uint32_t node, const char *what,
                       uint32_t peer, const char *detail)
{
    if (SIM_TRACING(w))
        sim_trace_line(&w->trace, w->now, node, what, "peer=%u%s%s", peer,
                       detail[0] ? " " : "", detail);
}

void sim_conn_dial(struct sim_world *w, uint32_t from, uint32_t to)
{
    sim_inbox_take_pair(w, from, to);
    struct sim_conn *c = sim_conn_of(w, from, to);
    /* A dial replaces whatever the pair had: the acceptor treats the new
     * connection as replacing an older one. */
    c->gen++;
    c->state = SIM_CONN_DIALING;
    c->dialer = from;
    trace_conn(w, from, "dial", to, "");
    struct sim_event e = {.time = w->now + cfg(w, from)->dial_timeout_ns,
                          .type = SIM_EV_DIAL_TIMEOUT,
                          .node = from,
                          .arg = SIM_CONN_ARG(to, c->gen)};
    sim_world_push_event(w, &e);
    /* The handshake's round trip, unless the path is cut. */
    e.time = w->now + one_way(w, from, to) + one_way(w, to, from);
    e.type = SIM_EV_CONN_ESTABLISH;
    if (!sim_conn_path_cut(w, from, to))
        sim_world_push_event(w, &e);
}

static void tell_down(struct sim_world *w, uint32_t node, uint32_t peer)
{
    if (!w->nodes[node].running)
        return;
    if (p2p_node_on_peer_down(w->nodes[node].core, sim_world_local_now(w, node),
                              peer) == 0)
        trace_conn(w, node, "conn_down", peer, "");
    sim_world_mark(w, node);
}

void sim_conn_close(struct sim_world *w, uint32_t from, uint32_t to)
{
    sim_inbox_take_pair(w, from, to);
    struct sim_conn *c = sim_conn_of(w, from, to);
    if (c->state == SIM_CONN_NONE)
        return;
    bool was_up = c->state == SIM_CONN_UP;
    c->gen++;
    c->state = SIM_CONN_NONE;
    trace_conn(w, from, "conn_close", to, "");
    /* The other end hears of it one latency later (a dial being abandoned
     * never reached it as a connection). */
    if (was_up)
        sim_world_push_event(
            w, &(struct sim_event){.time = w->now + one_way(w, from, to),
                                   .type = SIM_EV_CONN_CLOSED,
                                   .node = to,
                                   .arg = SIM_CONN_ARG(from, c->gen)});
}

/* The dial ends without a connection; the dialler's core hears of it. */
static void fail_dial(struct sim_world *w, uint32_t dialer, uint32_t peer,
                      const char *what)
{
    sim_inbox_take_pair(w, dialer, peer);
    struct sim_conn *c = sim_conn_of(w, dialer, peer);
    c->gen++;
    c->state = SIM_CONN_NONE;
    w->stats.dials_failed++;
    trace_conn(w, dialer, what, peer, "");
    (void)p2p_node_on_dial_failed(w->nodes[dialer].core,
                                  sim_world_local_now(w, dialer), peer);
    sim_world_mark(w, dialer);
}

static void establish(struct sim_world *w, uint32_t dialer, uint32_t peer)
{
    sim_inbox_take_pair(w, dialer, peer);
    struct sim_conn *c = sim_conn_of(w, dialer, peer);
    struct p2p_node *acceptor = w->nodes[peer].core;
    if (!p2p_node_accepts_peer(acceptor, sim_world_local_now(w, peer),
                               dialer)) {
        fail_dial(w, dialer, peer, "dial_refused");
        return;
    }
    c->gen++;
    c->state = SIM_CONN_UP;
    c->cut_since = P2P_TIME_NEVER;
    int rc =
        p2p_node_on_peer_up(acceptor, sim_world_local_now(w, peer), dialer);
    /* What the acceptor does now (it may close the connection at once) is
     * carried out before the dialler hears of it. */
    sim_world_mark(w, peer);
    sim_world_settle(w);
    if (rc != 0 || c->state != SIM_CONN_UP) {
        /* Refused after all: the dialler learns it as a failed dial. */
        fail_dial(w, dialer, peer, "dial_refused");
        return;
    }
    w->stats.conns_established++;
    trace_conn(w, dialer, "conn_up", peer, "");
    (void)p2p_node_on_peer_up(w->nodes[dialer].core,
                              sim_world_local_now(w, dialer), peer);
    sim_world_mark(w, dialer);
}

/* Both ends lose the connection (idle timeout on a cut path). */
static void break_conn(struct sim_world *w, uint32_t a, uint32_t b)
{
    sim_inbox_take_pair(w, a, b);
    struct sim_conn *c = sim_conn_of(w, a, b);
    c->gen++;
    c->state = SIM_CONN_NONE;
    c->cut_since = P2P_TIME_NEVER;
    w->stats.conns_broken++;
    trace_conn(w, a, "conn_lost", b, "idle timeout");
    /* One end reacts (and its trace lines follow) before the other hears. */
    tell_down(w, a, b);
    sim_world_settle(w);
    tell_down(w, b, a);
}

/* The idle timeout of the end that notices first. */
static p2p_time idle_timeout(const struct sim_world *w, uint32_t a, uint32_t b)
{
    p2p_time t = P2P_TIME_NEVER;
    if (w->nodes[a].running)
        t = cfg(w, a)->idle_timeout_ns;
    if (w->nodes[b].running && cfg(w, b)->idle_timeout_ns < t)
        t = cfg(w, b)->idle_timeout_ns;
    return t;
}

void sim_conn_on_event(struct sim_world *w, uint32_t type, uint32_t node,
                       uint64_t arg)
{
    uint32_t peer = SIM_CONN_ARG_PEER(arg);
    struct sim_conn *c = sim_conn_of(w, node, peer);
    if (type == SIM_EV_CONN_CLOSED) {
        /* Unless a newer connection already replaced it at both ends (a
         * close leaves the pair NONE, so UP here is always newer). */
        if (c->state != SIM_CONN_UP)
            tell_down(w, node, peer);
        return;
    }
    if (c->gen != SIM_CONN_ARG_GEN(arg))
        return; /* the connection changed since */
    switch (type) {
    case SIM_EV_CONN_ESTABLISH:
        if (c->state == SIM_CONN_DIALING && w->nodes[node].running &&
            !sim_conn_path_cut(w, node, peer))
            establish(w, node, peer);
        break;
    case SIM_EV_DIAL_TIMEOUT:
        if (c->state == SIM_CONN_DIALING && w->nodes[node].running)
            fail_dial(w, node, peer, "dial_timeout");
        break;
    case SIM_EV_CONN_IDLE:
        /* Only a cut that has lasted the whole idle timeout (an event left
         * from an earlier cut that healed does not count). */
        if (c->state == SIM_CONN_UP && c->cut_since != P2P_TIME_NEVER &&
            sim_conn_path_cut(w, node, peer) &&
            w->now - c->cut_since >= idle_timeout(w, node, peer))
            break_conn(w, node, peer);
        break;
    default:
        break;
    }
}

static void release_held(struct sim_world *w)
{
    size_t kept = 0;
    for (size_t i = 0; i < w->held_count; i++) {
        struct sim_msg *m = w->held[i];
        struct sim_conn *c = sim_conn_of(w, m->from, m->to);
        if (c->gen != m->conn_gen || c->state != SIM_CONN_UP) {
            w->stats.messages_dropped++;
            sim_world_msg_free(w, m);
        } else if (!sim_conn_path_cut(w, m->from, m->to)) {
            sim_inbox_push(w, w->now + one_way(w, m->from, m->to), m);
        } else {
            w->held[kept++] = m;
        }
    }
    w->held_count = kept;
}

void sim_conn_paths_changed(struct sim_world *w)
{
    uint32_t n = w->nodes_count;
    for (uint32_t a = 0; a < n; a++) {
        for (uint32_t b = a + 1; b < n; b++) {
            struct sim_conn *c = &w->conns[pair_index(a, b)];
            if (c->state == SIM_CONN_NONE)
                continue;
            bool cut = sim_conn_path_cut(w, a, b);
            if (c->state == SIM_CONN_UP) {
                if (cut && c->cut_since == P2P_TIME_NEVER) {
                    c->cut_since = w->now;
                    p2p_time idle = idle_timeout(w, a, b);
                    struct sim_event e = {.time = w->now + idle,
                                          .type = SIM_EV_CONN_IDLE,
                                          .node = a,
                                          .arg = SIM_CONN_ARG(b, c->gen)};
                    if (idle != P2P_TIME_NEVER)
                        sim_world_push_event(w, &e);
                } else if (!cut) {
                    c->cut_since = P2P_TIME_NEVER;
                }
            } else if (!cut && w->nodes[c->dialer].running) {
                /* A dial in progress gets through once the path opens. */
                uint32_t d = c->dialer, p = d == a ? b : a;
                struct sim_event e = {.time = w->now + one_way(w, d, p) +
                                              one_way(w, p, d),
                                      .type = SIM_EV_CONN_ESTABLISH,
                                      .node = d,
                                      .arg = SIM_CONN_ARG(p, c->gen)};
                sim_world_push_event(w, &e);
            }
        }
    }
    release_held(w);
}

void sim_conn_node_restarted(struct sim_world *w, uint32_t node)
{
    for (uint32_t p = 0; p < w->nodes_count; p++) {
        if (p == node)
            continue;
        struct sim_conn *c = sim_conn_of(w, node, p);
        /* A dial by the other end goes on: it reaches the new incarnation
         * once the path is open (sim_conn_paths_changed). */
        if (c->state == SIM_CONN_NONE ||
            (c->state == SIM_CONN_DIALING && c->dialer != node))
            continue;
        bool was_up = c->state == SIM_CONN_UP;
        c->gen++;
        c->state = SIM_CONN_NONE;
        c->cut_since = P2P_TIME_NEVER;
        if (was_up)
            sim_world_push_event(
                w, &(struct sim_event){.time = w->now + one_way(w, node, p),
                                       .type = SIM_EV_CONN_CLOSED,
                                       .node = p,
                                       .arg = SIM_CONN_ARG(node, c->gen)});
    }
}

bool sim_conn_accept_msg(struct sim_world *w, struct sim_msg *m)
{
    struct sim_conn *c = sim_conn_of(w, m->from, m->to);
    if (c->gen != m->conn_gen || c->state != SIM_CONN_UP ||
        !w->nodes[m->to].running) {
        w->stats.messages_dropped++;
        sim_world_msg_free(w, m);
        return false;
    }
    if (!sim_conn_path_cut(w, m->from, m->to))
        return true;
    if (w->held_count == w->held_capacity) {
        size_t cap = w->held_capacity ? w->held_capacity * 2 : 256;
        struct sim_msg **h =
            cap > HELD_MAX ? NULL : realloc(w->held, cap * sizeof(*h));
        if (h == NULL) {
            sim_world_violation(w, "more than %u messages held by partitions",
                                HELD_MAX);
            sim_world_msg_free(w, m);
            return false;
        }
        w->held = h;
        w->held_capacity = cap;
    }
    w->held[w->held_count++] = m;
    return false;
}
