/* Helpers for the connection-manager and topology suites, on top of
 * harness.h: nodes with any id, topologies from id lists, actions counted
 * per peer, garbage on inbound streams, and two real nodes exchanging
 * their outboxes by hand. Header-only, like harness.h. */
#ifndef P2P_TESTS_CONN_HARNESS_H
#define P2P_TESTS_CONN_HARNESS_H

#include <stdio.h>

#include "harness.h"

#define CH_COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* The most members ch_topology builds on its stack. */
#define CH_MEMBERS_MAX 64u

/* Default config for node `self` (seed 42). */
static inline void ch_config(struct p2p_config *c, p2p_node_id self)
{
    p2p_config_default(c, self, 42);
}

/* A node with config *c, no peer up and no topology (version 0). */
static inline void ch_init_cfg(struct harness *h, const struct p2p_config *c)
{
    h_init_cfg(h, c, 0);
}

static inline void ch_init(struct harness *h, p2p_node_id self)
{
    struct p2p_config c;
    ch_config(&c, self);
    ch_init_cfg(h, &c);
}

/* Fills out[0..count) from ids, each with the address "10.0.<id>:4100"
 * so that a test can check an address travels with its id. */
static inline void ch_members(struct p2p_member *out, const p2p_node_id *ids,
                              uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].id = ids[i];
        snprintf(out[i].addr, sizeof(out[i].addr), "10.0.%u:4100",
                 (unsigned)ids[i]);
    }
}

/* Installs registry version `version` (earliest = version) with members
 * ids[0..count) on the node; returns p2p_node_on_topology's code. */
static inline int ch_topology(struct harness *h, uint64_t version,
                              const p2p_node_id *ids, uint32_t count)
{
    struct p2p_member members[CH_MEMBERS_MAX];
    ck_assert_uint_le(count, CH_MEMBERS_MAX);
    ch_members(members, ids, count);
    return p2p_node_on_topology(
        h->node, h->now,
        &(struct p2p_topology_update){.version = version,
                                      .earliest_version = version,
                                      .members = members,
                                      .count = count});
}

/* Actions of a type addressed to peer. */
static inline size_t ch_count_to(struct harness *h, enum p2p_action_type type,
                                 p2p_node_id peer)
{
    size_t n = 0;
    for (size_t i = 0; i < p2p_outbox_count(h_out(h)); i++) {
        const struct p2p_action *a = p2p_outbox_at(h_out(h), i);
        n += a->type == type && a->peer == peer;
    }
    return n;
}

/* The first action of a type addressed to peer, or NULL. */
static inline const struct p2p_action *
ch_find_to(struct harness *h, enum p2p_action_type type, p2p_node_id peer)
{
    for (size_t i = 0; i < p2p_outbox_count(h_out(h)); i++) {
        const struct p2p_action *a = p2p_outbox_at(h_out(h), i);
        if (a->type == type && a->peer == peer)
            return a;
    }
    return NULL;
}

/* Actions addressed to peer, of any type. */
static inline size_t ch_count_any_to(struct harness *h, p2p_node_id peer)
{
    size_t n = 0;
    for (size_t i = 0; i < p2p_outbox_count(h_out(h)); i++)
        n += p2p_outbox_at(h_out(h), i)->peer == peer;
    return n;
}

static inline struct p2p_peer_info ch_info(struct harness *h, p2p_node_id peer)
{
    struct p2p_peer_info info;
    ck_assert_int_eq(p2p_node_peer_info(h->node, peer, &info), 0);
    return info;
}

static inline void ch_up(struct harness *h, p2p_node_id peer)
{
    ck_assert_int_eq(p2p_node_on_peer_up(h->node, h->now, peer), 0);
}

/* Sets the node's clock without firing timers (for deadlines the test
 * checks by hand, e.g. p2p_node_accepts_peer at t-1 and t). */
static inline void ch_set_time(struct harness *h, p2p_time now)
{
    ck_assert_uint_ge(now, h->now);
    h->now = now;
}

/* Advances to `at` and fires what is due. */
static inline void ch_advance_to(struct harness *h, p2p_time at)
{
    ck_assert_uint_ge(at, h->now);
    h_advance(h, at - h->now);
}

/* peer opens a fresh inbound stream and sends bytes that no request
 * starts with (field 1 as a varint, not the path): the node's reader
 * refuses them at once with P2P_ERR_DECODE, a bad frame. Returns the
 * node's code. */
static inline int ch_garbage(struct harness *h, p2p_node_id peer)
{
    static const uint8_t garbage[] = {0x08, 0x01};
    return p2p_node_on_stream_data(
        h->node, h->now,
        &(struct p2p_stream_bytes){.peer = peer,
                                   .stream_id = h->next_peer_stream++,
                                   .inbound = true,
                                   .data = garbage,
                                   .len = sizeof(garbage),
                                   .fin = false});
}

/* Carries `from`'s stream actions addressed to `to` (requests as inbound
 * streams, responses on `to`'s outbound streams) into `to`, then clears
 * `from`'s outbox; everything else in it (dials, deliveries) is dropped.
 * Returns the number of messages carried. */
static inline size_t ch_deliver(struct harness *from, struct harness *to)
{
    size_t carried = 0;
    struct p2p_outbox *o = h_out(from);
    for (size_t i = 0; i < p2p_outbox_count(o); i++) {
        const struct p2p_action *a = p2p_outbox_at(o, i);
        if (a->peer != to->cfg.self || (a->type != P2P_ACT_STREAM_OPEN &&
                                        a->type != P2P_ACT_STREAM_RESPOND))
            continue;
        /* A response to a stream the receiver abandoned is NOT_FOUND;
         * suites check the outcome through metrics. */
        (void)p2p_node_on_stream_data(
            to->node, to->now,
            &(struct p2p_stream_bytes){.peer = from->cfg.self,
                                       .stream_id = a->stream_id,
                                       .inbound =
                                           a->type == P2P_ACT_STREAM_OPEN,
                                       .data = a->bytes,
                                       .len = a->len,
                                       .fin = true});
        carried++;
    }
    h_clear(from);
    return carried;
}

/* Exchanges messages between a and b until neither has any left. */
static inline void ch_pump(struct harness *a, struct harness *b)
{
    for (int round = 0; round < 32; round++)
        if (ch_deliver(a, b) + ch_deliver(b, a) == 0)
            return;
    ck_abort_msg("the two nodes still exchange messages after 32 rounds");
}

/* Brings the connection up on both sides. */
static inline void ch_connect(struct harness *a, struct harness *b)
{
    ch_up(a, b->cfg.self);
    ch_up(b, a->cfg.self);
}

#endif
