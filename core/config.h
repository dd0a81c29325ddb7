/* A node's configuration: every limit and timeout, their defaults and the
 * check of their ranges (p2p_node_new refuses a config that fails it). */
#ifndef P2P_CORE_CONFIG_H
#define P2P_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/backoff.h"
#include "core/pool_limits.h"
#include "core/routes.h"
#include "core/types.h"

/* Every table bound must stay at or below this. */
#define P2P_CONFIG_TABLE_MAX (1u << 28)
/* The longest hold of a slot deletion (slot_deletion_hold_ns). */
#define P2P_CONFIG_DELETION_HOLD_MAX_NS (60 * P2P_NS_PER_S)
/* The largest artifact body: a slot update or fetch response carrying it,
 * with its envelope, must fit in one message. */
#define P2P_ARTIFACT_BYTES_MAX (P2P_FRAME_MESSAGE_BYTES_MAX - 1024u)

/* Every limit and timeout of a node; p2p_config_default() fills the IC's
 * values (see docs/architecture.md for where each comes from). */
struct p2p_config {
    p2p_node_id self;
    uint64_t seed;                   /* seeds the node's PRNG */
    uint32_t node_ids_max;           /* peers must have ids below this */
    uint32_t slots_max;              /* sender: active slots (artifacts) */
    uint32_t slots_per_peer_max;     /* receiver: slot ids accepted per peer */
    uint32_t downloads_max;          /* receiver: pending downloads */
    uint32_t downloads_per_peer_max; /* downloads one peer's adverts may
                                        start; past it they wait */
    uint32_t fetches_per_peer_max;   /* receiver: concurrent fetches per peer */
    /* Receiver: advertised bytes of the fetches in flight to one peer; a
     * peer with none in flight may always be asked for one, however
     * large. Bounds what a peer's answers can make us buffer, and what we
     * make it queue for us. */
    uint64_t fetch_bytes_per_peer_max;
    uint32_t streams_max;                  /* open streams, both directions */
    uint32_t streams_in_per_peer_max;      /* streams one peer may hold open */
    uint64_t stream_bytes_in_per_peer_max; /* bytes buffered from one peer */
    uint32_t outbox_actions_max;
    uint32_t timers_max;
    struct p2p_pool_limits pool;
    struct p2p_route_limits routes;
    uint64_t push_threshold_bytes;     /* bodies below this are pushed */
    bool relay_advert;                 /* relayers advertise ids, never push */
    struct p2p_backoff update_backoff; /* slot update retransmission */
    p2p_time update_timeout_ns;        /* an unacknowledged update is retried */
    /* A freed slot's deletion waits this long before it is sent; a new
     * artifact taking the slot meanwhile replaces it (0: sent at once;
     * at most P2P_CONFIG_DELETION_HOLD_MAX_NS). Ours: the IC sends none. */
    p2p_time slot_deletion_hold_ns;
    struct p2p_backoff fetch_backoff; /* fetch attempt deadline growth */
    /* A fetch's deadline also allows size / this rate, so that a large
     * artifact from a busy uplink is not abandoned half-way (0 = off, the
     * IC's behaviour). */
    uint64_t fetch_bytes_per_s_min;
    p2p_time stream_read_timeout_ns; /* an inbound stream must end by then */
    p2p_time bouncer_refresh_ns;     /* MaybeWantsLater ids are re-asked */
    /* Connections (core/conn_manager.c); the backend enforces the first
     * three in its transport's terms. */
    p2p_time keepalive_ns;             /* a quiet connection is pinged */
    p2p_time idle_timeout_ns;          /* silence after which it is lost */
    p2p_time dial_timeout_ns;          /* a dial that has not completed fails */
    struct p2p_backoff redial_backoff; /* after a failed dial */
    uint32_t penalty_ban_points;       /* misbehaviour points that ban a peer */
    uint32_t penalty_decay_per_s;      /* points forgiven per second */
    p2p_time ban_ns;                   /* how long a banned peer is refused */
    /* State sync (core/state_sync.c; the IC's state sync manager, rs/p2p/state_sync_manager). */
    p2p_time state_advert_every_ns;   /* adverts of the newest state */
    p2p_time state_advert_timeout_ns; /* an advert's stream deadline */
    p2p_time state_chunk_timeout_ns;  /* a manifest or chunk request */
    uint32_t state_chunks_per_peer;   /* chunk requests in flight per peer */
    /* Peers that must advertise the same newer state before a sync starts;
     * 0: f + 1 of the current topology (n = 3f + 1), so that f liars
     * cannot start one. */
    uint32_t state_sync_quorum;
    /* Enables core's BUGGIFY fault points (core/buggify.h); only in builds
     * with P2P_BUGGIFY (the simulator's), refused otherwise. */
    bool buggify;
    bool events; /* emit P2P_ACT_EVENT actions */
};

/* Fills *c with defaults for node `self`. */
void p2p_config_default(struct p2p_config *c, p2p_node_id self, uint64_t seed);

/* Checks every field's range; P2P_ERR_INVALID_ARG when one is off. */
int p2p_config_check(const struct p2p_config *c);

#endif
