/* Internal: the state of one simulation run, shared by the sim's files
 * (run.c drives it, workload.c makes artifacts, report.c judges and prints
 * the outcome). */
#ifndef P2P_SIM_WORLD_H
#define P2P_SIM_WORLD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/keymap.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/shim.h"
#include "sim/event_queue.h"
#include "sim/net.h"
#include "sim/scenario.h"
#include "sim/trace.h"

#define SIM_EVENTS_QUEUED_MAX (64u << 20)  /* pending events, all kinds */
#define SIM_ARTIFACTS_MAX (4u << 20)       /* artifacts one run may create */
#define SIM_DEEP_CHECK_EVERY 1024u         /* --invariants: deep walk period */
#define SIM_DEFAULT_VALIDATION_DELAY_NS (1 * P2P_NS_PER_MS)
#define SIM_DEFAULT_ARTIFACT_TTL_NS (120 * P2P_NS_PER_S)

enum sim_event_type {
    SIM_EV_MESSAGE,     /* ptr: struct sim_msg arriving at node */
    SIM_EV_TIMER,       /* node's core deadline */
    SIM_EV_WORKLOAD,    /* arg: workload item index */
    SIM_EV_VALIDATE,    /* arg: artifact index; node validates it */
    SIM_EV_EXPIRE,      /* arg: artifact index; every pool purges it */
    SIM_EV_LOSS_START,  /* arg: fault index */
    SIM_EV_LOSS_END,    /* arg: fault index */
};

enum sim_msg_kind { SIM_MSG_DATA, SIM_MSG_RESET };

struct sim_msg {
    enum sim_msg_kind kind;
    uint32_t from;
    uint64_t stream_id;
    bool inbound;        /* at the receiver: the sender opened the stream */
    enum p2p_traffic traffic;
    uint8_t *bytes;      /* owned */
    size_t len;
};

struct sim_node {
    struct p2p_node *core;
    struct p2p_mem mem;
    p2p_time armed;      /* deadline of the SIM_EV_TIMER in the queue */
    uint64_t events;     /* events handled, for the invariant checker */
};

struct sim_artifact {
    struct p2p_artifact_id id;
    enum p2p_artifact_kind kind;
    uint64_t size;
    uint32_t creator;
    p2p_time created;
    p2p_time expired;     /* P2P_TIME_NEVER while in the pools */
    uint32_t deliveries;  /* nodes other than the creator that received it */
    uint8_t *delivered;   /* owned bitmap over nodes */
};

struct sim_options {
    uint64_t seed;
    bool has_seed;
    FILE *trace_file;         /* borrowed; NULL: no trace file */
    bool record_hashes;       /* keep every trace line's hash */
    uint64_t capture_line;    /* > 0: keep that trace line's text */
    bool invariants;          /* check every node after every event */
    bool quiet;               /* no progress lines */
    bool events;              /* core protocol events in the trace */
};

struct sim_stats {
    uint64_t events;
    uint64_t bytes_sent;
    uint64_t bytes_by_traffic[P2P_TRAFFIC_COUNT];
    uint64_t messages_sent;
    uint64_t bytes_ideal;     /* each artifact's body once per receiver */
    uint64_t *latencies_ns;   /* owned; one per delivery */
    p2p_time *created_ns;     /* owned; the delivered artifact's creation,
                                 parallel to latencies_ns until sorted */
    size_t latencies_count, latencies_capacity;
    size_t peak_memory_bytes; /* max over nodes of the core's peak */
    uint32_t peak_memory_node;
    char violation[512];      /* first invariant violation, or "" */
};

struct sim_world {
    const struct sim_scenario *sc; /* borrowed */
    struct sim_options opt;
    uint64_t seed;
    uint32_t nodes_count;
    struct sim_node *nodes;        /* owned */
    struct sim_event_queue queue;
    struct sim_net net;
    struct p2p_rng workload_rng;   /* its own stream: see DESIGN.md 5 */
    p2p_time now;
    p2p_time end;                  /* duration + drain */
    p2p_time validation_delay_ns;
    p2p_time artifact_ttl_ns;
    p2p_time delivered_within_ns;  /* the tightest delivered bound, or 0 */
    struct sim_artifact *artifacts; /* owned */
    size_t artifacts_count, artifacts_capacity;
    struct p2p_mem index_mem;      /* the sim's own lookup table memory */
    struct p2p_keymap artifact_by_id;
    uint32_t *round_robin_next;    /* per workload item */
    struct sim_trace trace;
    struct sim_stats stats;
    bool stop;                     /* an invariant failed */
};

/* Runs one scenario to the end; 0 when the run completed (expectations are
 * judged by report.c), -1 on an internal failure (message printed). */
int sim_world_run(struct sim_world *w, const struct sim_scenario *sc,
                  const struct sim_options *opt);
void sim_world_fini(struct sim_world *w);

/* workload.c */
void sim_workload_start(struct sim_world *w);
void sim_workload_fire(struct sim_world *w, uint32_t item);
/* Looks an artifact up by id; -1 when unknown. */
int64_t sim_artifact_find(const struct sim_world *w,
                          const struct p2p_artifact_id *id);

/* run.c: after any call into a node, carry out its actions and re-arm. */
void sim_node_drain(struct sim_world *w, uint32_t node);
/* Records an invariant violation; the run stops after the current event. */
void sim_violation(struct sim_world *w, const char *fmt, ...);

#endif
