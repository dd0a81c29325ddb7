/* Internal: the node's state, private to node.c, the router that
 * composes the protocol modules behind the shim's entry points. Each
 * module owns its state behind its own header and borrows what it needs
 * from the node's environment (core/env.h); no module includes this
 * header but node.c and the metrics writer (core/metrics_registry.c).
 * Backends use core/shim.h only. */
#ifndef P2P_CORE_NODE_H
#define P2P_CORE_NODE_H

#include "core/buggify.h"
#include "core/conn_manager.h"
#include "core/downloader.h"
#include "core/env.h"
#include "core/gossip_receiver.h"
#include "core/gossip_sender.h"
#include "core/ledger.h"
#include "core/rng.h"
#include "core/shim.h"
#include "core/state_sync.h"
#include "core/streams.h"
#include "core/timers.h"

struct p2p_node {
    struct p2p_config cfg;
    struct p2p_mem *mem; /* borrowed */
    struct p2p_env env;  /* what the modules borrow: pointers to the
                                  fields below, and the bouncer */
    struct p2p_rng rng;  /* the protocol's draws */
    struct p2p_outbox outbox;
    struct p2p_timers timers;
    struct p2p_buggify bug;
    struct p2p_ledger ledger;
    struct p2p_pool pool;
    struct p2p_metrics metrics;
    struct p2p_histogram hists[P2P_HISTS_COUNT]; /* core/histogram.h */
    /* The modules, lowest layer first. */
    struct p2p_streams streams;
    struct p2p_conn_manager conns;
    struct p2p_downloader dl;
    struct p2p_gossip_sender sender;
    struct p2p_gossip_receiver receiver;
    struct p2p_state_sync state;
};

#endif
