/* A node's configuration: defaults and range checks (core/config.h). */
#include "core/config.h"

#include <string.h>

#include "core/chunk_scheduler.h"
#include "core/err.h"
#include "core/framing.h"

void p2p_config_default(struct p2p_config *c, p2p_node_id self, uint64_t seed)
{
    memset(c, 0, sizeof(*c));
    c->self = self;
    c->seed = seed;
    c->node_ids_max = 4096;
    c->slots_max = 50000;          /* <= what a peer accepts of us */
    c->slots_per_peer_max = 50000; /* the IC's ingress slot limit */
    c->downloads_max = 65536;
    c->downloads_per_peer_max = 16384;
    c->fetches_per_peer_max = 64;
    c->fetch_bytes_per_peer_max = 2ull * P2P_FRAME_MESSAGE_BYTES_MAX;
    c->streams_max = 65536;
    c->streams_in_per_peer_max =
        1000; /* the IC's bidi streams per connection */
    c->stream_bytes_in_per_peer_max = 2ull * P2P_FRAME_MESSAGE_BYTES_MAX;
    c->outbox_actions_max = 1u << 20;
    c->timers_max = 1u << 22;
    c->pool.count_max[P2P_POOL_UNVALIDATED] = 100000;
    c->pool.count_max[P2P_POOL_VALIDATED] = 100000;
    c->pool.bytes_max[P2P_POOL_UNVALIDATED] = 1ULL << 30;
    c->pool.bytes_max[P2P_POOL_VALIDATED] = 2ULL << 30;
    p2p_route_limits_default(&c->routes);
    c->push_threshold_bytes = 1024;
    c->relay_advert = false;
    c->update_backoff =
        (struct p2p_backoff){250 * P2P_NS_PER_MS, 60 * P2P_NS_PER_S, 2000, 50};
    c->update_timeout_ns = 30 * P2P_NS_PER_S;
    c->slot_deletion_hold_ns = 200 * P2P_NS_PER_MS;
    c->fetch_backoff =
        (struct p2p_backoff){5 * P2P_NS_PER_S, 120 * P2P_NS_PER_S, 1500, 50};
    c->fetch_bytes_per_s_min = 1000000;
    c->stream_read_timeout_ns = 60 * P2P_NS_PER_S;
    c->bouncer_refresh_ns = 1 * P2P_NS_PER_S;
    /* The IC's transport: keepalive 1 s < idle 5 s <= connect 10 s; redial
     * 5 s after a failure, here growing x2 to 10 s with +-20 % jitter. */
    c->keepalive_ns = 1 * P2P_NS_PER_S;
    c->idle_timeout_ns = 5 * P2P_NS_PER_S;
    c->dial_timeout_ns = 10 * P2P_NS_PER_S;
    c->redial_backoff =
        (struct p2p_backoff){5 * P2P_NS_PER_S, 10 * P2P_NS_PER_S, 2000, 20};
    /* The IC's state sync manager: adverts every 5 s with a 3 s timeout; chunks
     * 10 s, 10 in flight per peer. */
    c->state_advert_every_ns = 5 * P2P_NS_PER_S;
    c->state_advert_timeout_ns = 3 * P2P_NS_PER_S;
    c->state_chunk_timeout_ns = 10 * P2P_NS_PER_S;
    c->state_chunks_per_peer = 10;
    c->state_sync_quorum = 0;
    c->penalty_ban_points = 100;
    c->penalty_decay_per_s = 1;
    c->ban_ns = 60 * P2P_NS_PER_S;
    c->events = false;
}

int p2p_config_check(const struct p2p_config *c)
{
    /* Tables grow by doubling: keep every bound far from 2^32. */
    if (c->node_ids_max > P2P_CONFIG_TABLE_MAX ||
        c->slots_max > P2P_CONFIG_TABLE_MAX ||
        c->slots_per_peer_max > P2P_CONFIG_TABLE_MAX ||
        c->downloads_max > P2P_CONFIG_TABLE_MAX ||
        c->streams_max > P2P_CONFIG_TABLE_MAX)
        return P2P_ERR_INVALID_ARG;
    /* A sender must never use a slot id its (identically configured)
     * peers refuse. */
    if (c->slots_max > c->slots_per_peer_max)
        return P2P_ERR_INVALID_ARG;
    if (c->self >= c->node_ids_max || c->node_ids_max == 0 ||
        c->slots_max == 0 || c->slots_per_peer_max == 0 ||
        c->downloads_max == 0 || c->fetches_per_peer_max == 0 ||
        c->fetch_bytes_per_peer_max == 0 || c->downloads_per_peer_max == 0 ||
        c->streams_max == 0 || c->outbox_actions_max == 0 ||
        c->streams_in_per_peer_max == 0 ||
        c->stream_bytes_in_per_peer_max < P2P_FRAME_MESSAGE_BYTES_MAX ||
        c->timers_max == 0)
        return P2P_ERR_INVALID_ARG;
    if (c->update_backoff.factor_permille < 1000 ||
        c->fetch_backoff.factor_permille < 1000 ||
        c->update_backoff.jitter_pct > 100 ||
        c->fetch_backoff.jitter_pct > 100 ||
        c->update_backoff.initial_ns == 0 || c->fetch_backoff.initial_ns == 0)
        return P2P_ERR_INVALID_ARG;
    if (c->update_timeout_ns == 0 || c->stream_read_timeout_ns == 0 ||
        c->bouncer_refresh_ns == 0 ||
        c->slot_deletion_hold_ns > P2P_CONFIG_DELETION_HOLD_MAX_NS)
        return P2P_ERR_INVALID_ARG;
    if (c->state_advert_every_ns == 0 || c->state_advert_timeout_ns == 0 ||
        c->state_chunk_timeout_ns == 0 || c->state_chunks_per_peer == 0 ||
        c->state_chunks_per_peer > P2P_CHUNK_SCHED_PER_PEER_MAX ||
        c->state_sync_quorum > c->node_ids_max)
        return P2P_ERR_INVALID_ARG;
#ifndef P2P_BUGGIFY
    if (c->buggify)
        return P2P_ERR_INVALID_ARG; /* not compiled in: never in production */
#endif
    /* The IC's ordering: a keepalive comes well before the idle timeout. */
    if (c->keepalive_ns == 0 || c->keepalive_ns >= c->idle_timeout_ns ||
        c->dial_timeout_ns == 0 || c->redial_backoff.initial_ns == 0 ||
        c->redial_backoff.factor_permille < 1000 ||
        c->redial_backoff.jitter_pct > 100 || c->penalty_ban_points == 0)
        return P2P_ERR_INVALID_ARG;
    return 0;
}
