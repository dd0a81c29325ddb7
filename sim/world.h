/* Internal: the state of one simulation run, shared by the sim's files
 * (run.c drives it, workload.c makes artifacts, report.c judges and prints
 * the outcome), and the services below every handler (world.c).
 *
 * How the files depend on each other, bottom up, each calling only those
 * before it: world.c (the event queue, violations, local time, marking
 * nodes whose actions wait), conn.c (connections), uplink.c (sending),
 * byzantine.c, workload.c, state_run.c, metrics_out.c, faults.c, and
 * run.c on top (the loop, which carries out the nodes' actions). */
#ifndef P2P_SIM_WORLD_H
#define P2P_SIM_WORLD_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/keymap.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/shim.h"
#include "sim/ack_heap.h"
#include "sim/clock.h"
#include "sim/event_queue.h"
#include "sim/net.h"
#include "sim/quic_model.h"
#include "sim/report_html.h"
#include "sim/scenario.h"
#include "sim/state_store.h"
#include "sim/trace.h"

#define SIM_EVENTS_QUEUED_MAX (64u << 20) /* pending events, all kinds */
#define SIM_ARTIFACTS_MAX (4u << 20)      /* artifacts one run may create */
#define SIM_DEEP_CHECK_EVERY 1024u        /* --invariants: deep walk period */
#define SIM_CONN_NODE_IDS_MAX 4096u       /* the pair triangle stays ~200 MiB */
#define SIM_DEFAULT_VALIDATION_DELAY_NS (1 * P2P_NS_PER_MS)
#define SIM_DEFAULT_ARTIFACT_TTL_NS (120 * P2P_NS_PER_S)
#define SIM_AFTER_DRAIN_MAX 4u /* events one handler defers */
/* Message heads up to this size live inside their struct sim_msg (every
 * head core writes is smaller: bodies travel apart), and freed messages
 * are kept for reuse, at most SIM_MSG_SPARE_MAX of them: the data path
 * then allocates nothing per message. */
#define SIM_MSG_INLINE_BYTES 128u
#define SIM_MSG_SPARE_MAX 65536u
/* Acknowledgements one node may have waiting to be taken (sim/inbox.c). */
#define SIM_ACKS_WAITING_MAX (4u << 20)

enum sim_event_type {
    SIM_EV_MESSAGE,        /* ptr: struct sim_msg arriving at node */
    SIM_EV_TIMER,          /* node's core deadline */
    SIM_EV_WORKLOAD,       /* arg: workload item index */
    SIM_EV_VALIDATE,       /* arg: artifact index; node validates it */
    SIM_EV_EXPIRE,         /* arg: artifact index; every pool purges it */
    SIM_EV_LOSS_START,     /* arg: fault index */
    SIM_EV_LOSS_END,       /* arg: fault index */
    SIM_EV_FAULT,          /* arg: fault index (every kind but loss) */
    SIM_EV_CONN_ESTABLISH, /* node: dialer; arg: SIM_CONN_ARG(peer, gen) */
    SIM_EV_DIAL_TIMEOUT,   /* node: dialer; arg: SIM_CONN_ARG(peer, gen) */
    SIM_EV_CONN_IDLE,      /* node: one end; arg: SIM_CONN_ARG(other, gen) */
    SIM_EV_CONN_CLOSED,    /* node: told the peer closed; arg as above */
    SIM_EV_BYZANTINE,      /* node: a byzantine node's next misdeed */
    SIM_EV_CHECKPOINT,     /* the subnet's next state height
                              (sim/state_run.c) */
    SIM_EV_METRICS,        /* --metrics: sample every running node; seen
                              by no node, the clock, the trace or the
                              event count (sim/metrics_out.c) */
    SIM_EV_UPLINK,         /* node: its uplink may take the next large
                              message of its queue (run.c) */
    SIM_EV_HEIGHT,         /* protocol.heights: the subnet's next height,
                              every node purges below height + 1 - keep
                              (sim/workload.c) */
    SIM_EV_DATAGRAM,       /* quic model: ptr: a datagram arriving at node
                              (sim/quic_model.c) */
    SIM_EV_QUIC_TIMER,     /* quic model: node's endpoint timer */
    SIM_EV_QUIC_WRITABLE,  /* quic model: node's uplink queue has room
                              again for the datagrams it refused */
    SIM_EV_BLACKHOLE_END,  /* arg: fault index; its nodes get datagrams
                              again */
};

/* Connection events carry the other end and the connection's generation. */
#define SIM_CONN_ARG(peer, gen) (((uint64_t)(gen) << 32) | (uint32_t)(peer))
#define SIM_CONN_ARG_PEER(arg) ((uint32_t)(arg))
#define SIM_CONN_ARG_GEN(arg) ((uint32_t)((arg) >> 32))

/* One connection per node pair (sim/conn.c). */
enum sim_conn_state { SIM_CONN_NONE, SIM_CONN_DIALING, SIM_CONN_UP };

struct sim_conn {
    uint32_t gen;       /* bumped on every change: stale events and
                            messages of an older connection are dropped */
    uint8_t state;      /* enum sim_conn_state */
    uint32_t dialer;    /* while DIALING */
    p2p_time cut_since; /* P2P_TIME_NEVER while the path is open */
};

enum sim_msg_kind { SIM_MSG_DATA, SIM_MSG_RESET };

struct sim_msg {
    enum sim_msg_kind kind;
    uint32_t from;
    uint64_t stream_id;
    bool inbound; /* at the receiver: the sender opened the stream */
    uint32_t to;
    uint32_t conn_gen; /* the connection it travels on */
    enum p2p_traffic traffic;
    uint8_t *bytes;        /* owned: the message, or its head when body */
    size_t head_len;       /* bytes in `bytes` */
    struct p2p_body *body; /* a reference, or NULL: the message's last
                               bytes (core/outbox.h), never copied */
    size_t len;            /* on the wire: head_len + the body's */
    struct sim_msg *next;  /* in its sender's queue of large messages, or
                              in the world's spares */
    uint8_t inline_bytes[SIM_MSG_INLINE_BYTES]; /* `bytes` when it fits */
};

struct sim_node {
    struct p2p_node *core; /* NULL while not running */
    struct p2p_mem mem;
    p2p_time armed;  /* deadline of the SIM_EV_TIMER in the queue */
    uint64_t events; /* events handled, for the invariant checker */
    bool running;    /* started (or joined) and not crashed */
    bool member;     /* in the current registry version */
    bool in_use;     /* in a registry version in use (w->registry) */
    bool byzantine;  /* misbehaves from byzantine_at on */
    /* Its last leave, and when after it no version in use listed it any
     * more (P2P_TIME_NEVER: none, not yet). */
    p2p_time left_at;
    p2p_time dropped_at;
    enum sim_byzantine behaviour;
    uint32_t incarnation;   /* restarts so far */
    p2p_time live_since;    /* last start, join or restart: it is owed what
                            was made before only from then on */
    uint32_t group;         /* partition group; links across groups are cut */
    struct sim_clock clock; /* the node's local clock (skew, drift) */
    uint32_t *persisted;    /* owned: artifact indexes its validated pool held
                            when it crashed, re-inserted at restart */
    size_t persisted_count;
    uint64_t byz_next_stream; /* stream ids for forged requests */
    uint32_t byz_next_slot;   /* advert flood: next slot id */
    uint64_t byz_misdeeds;    /* forged or corrupted messages sent */
    bool byz_ticking;         /* a SIM_EV_BYZANTINE is queued for it */
    bool crashed;             /* crashed and not restarted */
    bool dirty;               /* in w->dirty: its actions wait */
    /* Large messages waiting for the uplink, sent one at a time (owned;
     * a reset of their stream removes them, as the replica's transport
     * drops a reset stream's unsent data). */
    struct sim_msg *bulk_head, *bulk_tail;
    bool bulk_busy; /* a SIM_EV_UPLINK is queued for it */
    /* Acknowledgements waiting to be taken, at most SIM_ACKS_WAITING_MAX
     * (their messages owned; sim/inbox.c). */
    struct sim_ack_heap acks;
    /* What the network carried for this node id over the whole run (all
     * incarnations), for --metrics: data messages, not resets. */
    uint64_t bytes_sent[P2P_TRAFFIC_COUNT];
    uint64_t bytes_received[P2P_TRAFFIC_COUNT];
    uint64_t messages_sent, messages_received;
    uint64_t deliveries; /* artifacts delivered to it (run.c) */
    /* State sync (sim/state_run.c). The store is the node's disk: it
     * survives a crash. */
    struct sim_state_store store;
    bool store_ready;          /* store initialised */
    uint32_t sync_gen;         /* the core's sync gen last seen */
    int64_t sync_record;       /* index in w->syncs of the sync under way,
                                 or -1 */
    uint64_t sync_chunks_seen; /* state_chunks_received last seen */
    p2p_time caught_up_at;     /* first time since live_since its state was
                                 the subnet's newest; NEVER until then */
};

/* One state sync a node ran, for the summary (sim/state_run.c). */
struct sim_sync_record {
    uint32_t node;
    uint64_t height;
    p2p_time started, ended; /* virtual time; ended NEVER while running */
    bool completed;          /* false: cancelled, or the node crashed */
    uint32_t chunks_total, chunks_reused, chunks_fetched;
    uint64_t bytes_total, bytes_fetched;
    uint64_t wire_fetched;   /* bytes_fetched as they arrived (zstd or raw) */
    uint64_t bytes_base;     /* the node's chunk bytes counter at start */
    uint64_t wire_base;      /* and its chunk wire bytes counter */
    uint64_t reused_base;    /* and its reused chunks counter */
    uint32_t peers;          /* peers serving it at the start */
    uint64_t ideal_bps;      /* min(sum of their uplinks, own downlink) */
    uint32_t decile_printed; /* progress lines: the last tenth printed */
};

struct sim_artifact {
    struct p2p_artifact_id id;
    enum p2p_artifact_kind kind;
    uint64_t size;
    uint32_t creator;
    p2p_time created;
    p2p_time expired;    /* P2P_TIME_NEVER while in the pools */
    uint64_t height;     /* protocol.heights: the subnet's height at its
                            creation; else 0 */
    uint32_t deliveries; /* nodes other than the creator that received it */
    uint8_t *delivered;  /* owned bitmap over nodes */
};

struct sim_delivery {
    uint32_t artifact;
    uint32_t node;
};

struct sim_options {
    uint64_t seed;
    bool has_seed;
    FILE *trace_file;          /* borrowed; NULL: no trace file */
    bool record_hashes;        /* keep every trace line's hash */
    uint64_t capture_line;     /* > 0: keep that trace line's text */
    bool invariants;           /* check every node after every event */
    bool acks_as_events;       /* every acknowledgement's arrival is an
                                  event, as before sim/inbox.c: to compare */
    bool quiet;                /* no progress lines */
    bool events;               /* core protocol events in the trace */
    bool series;               /* record bytes per node over time (--report) */
    const char *metrics_dir;   /* borrowed; NULL: no --metrics output */
    p2p_time metrics_every_ns; /* sampling period, virtual time (> 0) */
    bool metrics_openmetrics;  /* also DIR/metrics.om (--metrics-format) */
    /* Borrowed; NULL: never. The loop stops before its next event once
     * this reads non-zero (sim/main.c's SIGINT handler sets it). */
    const volatile sig_atomic_t *interrupt;
};

struct sim_stats {
    uint64_t events;
    uint64_t bytes_sent;
    uint64_t bytes_by_traffic[P2P_TRAFFIC_COUNT];
    uint64_t messages_sent;
    uint64_t bytes_ideal;      /* each artifact's body once per receiver */
    uint64_t messages_dropped; /* lost with their connection */
    uint64_t conns_established, dials_failed, conns_broken;
    uint64_t honest_bans;            /* an honest node banned an honest peer */
    uint64_t *latencies_ns;          /* owned; one per delivery */
    struct sim_delivery *deliveries; /* owned; which artifact reached which
                                 node, parallel to latencies_ns until sorted */
    size_t latencies_count, latencies_capacity;
    size_t peak_memory_bytes; /* max over nodes of the core's peak */
    uint32_t peak_memory_node;
    char violation[512]; /* first invariant violation, or "" */
};

/* An event a handler schedules for after its nodes' actions are carried
 * out (sim_world_push_after_drain). */
struct sim_after_drain {
    struct sim_event event; /* ptr NULL */
    bool droppable; /* a full queue drops it silently (else a violation) */
};

struct sim_world {
    const struct sim_scenario *sc; /* borrowed */
    struct sim_options opt;
    uint64_t seed;
    uint32_t nodes_count;   /* every id the run may use (joins too) */
    struct sim_node *nodes; /* owned */
    struct sim_conn *conns; /* owned; one per pair lo < hi (conn.c) */
    struct sim_msg **held;  /* owned: messages waiting for a heal */
    size_t held_count, held_capacity;
    struct sim_msg *spare_msgs; /* owned: freed messages for reuse */
    size_t spare_count;         /* at most SIM_MSG_SPARE_MAX */
    uint64_t registry_version;
    /* The registry versions in use by the nodes' clients, as every node
     * holds them (core/topology.h; members' addresses unused): the
     * earliest is the latest unless the scenario moves it
     * (sim_scenario_registry_pinned). Memory from registry_mem. */
    struct p2p_topology registry;
    struct p2p_mem registry_mem;
    struct p2p_rng fault_rng; /* byzantine choices: its own stream */
    struct sim_event_queue queue;
    uint64_t acks_seq; /* numbers waiting acknowledgements (sim/inbox.c) */
    struct sim_net net;
    struct p2p_rng workload_rng; /* its own stream (docs/scenario-format.md) */
    p2p_time now;
    p2p_time end; /* duration + drain */
    p2p_time validation_delay_ns;
    p2p_time artifact_ttl_ns;
    /* protocol.heights (sim/workload.c): the subnet's height (1 from the
     * start, 0 without the key), the purge height every node has, and the
     * first artifact not yet purged by height (heights only grow with
     * the artifacts' indexes). */
    uint64_t height, purge_height;
    size_t height_purge_next;
    p2p_time delivered_within_ns;   /* the tightest delivered bound, or 0 */
    struct sim_artifact *artifacts; /* owned */
    size_t artifacts_count, artifacts_capacity;
    struct p2p_mem index_mem; /* the sim's own lookup table memory */
    struct p2p_keymap artifact_by_id;
    uint32_t *round_robin_next; /* per workload item */
    struct sim_trace trace;
    struct sim_stats stats;
    struct sim_report_series series; /* --report: bytes per node over time */
    struct sim_metrics_out *metrics; /* owned; NULL without --metrics */
    /* State sync (sim/state_run.c); states_on when the scenario has a
     * 'state' section. */
    bool states_on;
    struct p2p_mem state_mem; /* the states' and stores' memory: the
                                      nodes' disks, not core memory */
    struct sim_states states;
    uint64_t state_height;         /* the subnet's newest checkpoint */
    struct sim_sync_record *syncs; /* owned */
    size_t syncs_count, syncs_capacity;
    /* Nodes whose outbox waits to be carried out, in the order they were
     * marked (owned; nodes_count), and what carries it out (run.c). */
    uint32_t *dirty;
    size_t dirty_count;
    void (*drain)(struct sim_world *w, uint32_t node);
    /* The quic model (sim/quic_model.h), NULL on the message model, and
     * what flushes its endpoints after the drains (true: it marked nodes,
     * settle again). */
    struct sim_quic_model *quic;
    bool (*flush)(struct sim_world *w);
    struct sim_after_drain after[SIM_AFTER_DRAIN_MAX];
    size_t after_count;
    bool stop;                /* an invariant failed */
    bool interrupted;         /* stopped at opt.interrupt, before end */
    p2p_time drain_ns;        /* the part of end after the run: the
                                      longest 'within' (run.c) */
    uint64_t progress_events; /* events at the last progress line */
};

struct sim_metrics_out;

/* Runs one scenario to the end; 0 when the run completed (expectations are
 * judged by report.c), else a P2P_ERR_* (P2P_ERR_NOMEM, P2P_ERR_WRITE for
 * --metrics; message printed). */
int sim_run_world(struct sim_world *w, const struct sim_scenario *sc,
                  const struct sim_options *opt);
void sim_run_fini(struct sim_world *w);

/* workload.c */
void sim_workload_start(struct sim_world *w);
void sim_workload_fire(struct sim_world *w, uint32_t item);
/* protocol.heights: height 1 and the first SIM_EV_HEIGHT; nothing
 * without the key. */
void sim_workload_heights_start(struct sim_world *w);
/* SIM_EV_HEIGHT: the next height; artifacts below the new purge height
 * are purged (the bouncer calls them Unwanted) and every running node
 * purges its pools below it. */
void sim_workload_height_tick(struct sim_world *w);
/* Looks an artifact up by id; -1 when unknown. */
int64_t sim_workload_artifact_find(const struct sim_world *w,
                                   const struct p2p_artifact_id *id);
/* Artifact `index`'s body, made again from the seed: a new shared body
 * (core/body.h, uncharged) the caller releases. */
struct p2p_body *sim_workload_artifact_body(const struct sim_world *w,
                                            size_t index);

#define SIM_TRACING(w) ((w)->trace.file != NULL || (w)->trace.record)

/* ---- world.c: services for every handler ---- */

/* Records an invariant violation (the first one is kept); the run stops
 * after the current event. */
#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
void sim_world_violation(struct sim_world *w, const char *fmt, ...);
#ifdef __GNUC__
__attribute__((format(printf, 2, 0)))
#endif
void sim_world_vviolation(struct sim_world *w, const char *fmt, va_list ap);
/* Schedules a copy of *e (borrowed) at virtual time e->time; e->ptr is
 * owned by the event from here on: a message is freed if the queue is
 * full, which is a violation. */
void sim_world_push_event(struct sim_world *w, const struct sim_event *e);
/* Schedules a copy of *e (e->ptr NULL) once the current event's nodes have
 * had their actions carried out, so it is queued after what they send
 * (the order of events at one instant). A droppable one is dropped
 * silently if the queue is full (else that is a violation). At most
 * SIM_AFTER_DRAIN_MAX per event. */
void sim_world_push_after_drain(struct sim_world *w, const struct sim_event *e,
                                bool droppable);
/* A zeroed message whose bytes hold head_len bytes (inline when they
 * fit); NULL when out of memory. */
struct sim_msg *sim_world_msg_new(struct sim_world *w, size_t head_len);
/* Frees m's bytes and body and keeps m for reuse (NULL is allowed). */
void sim_world_msg_free(struct sim_world *w, struct sim_msg *m);
/* Gives m bytes it owns, malloc'd (freeing what it had). */
void sim_world_msg_set_bytes(struct sim_msg *m, uint8_t *bytes, size_t len);
/* Frees every spare message (at the run's end). */
void sim_world_msg_spares_fini(struct sim_world *w);
/* Makes m one flat buffer (its body copied in and let go), for code that
 * reads or changes its bytes; false when out of memory (m unchanged). */
bool sim_world_msg_flatten(struct sim_msg *m);
/* The node's local time now (its clock's reading of w->now). */
p2p_time sim_world_local_now(struct sim_world *w, uint32_t node);
/* Whether artifacts are made by, and judged at, this node: running, a
 * member and honest. */
bool sim_world_live_honest(const struct sim_world *w, uint32_t node);
/* After a call into a running node's core: its actions are carried out
 * (and its timer re-armed) when the current event ends, or at the next
 * sim_world_settle; marking twice is marking once. */
void sim_world_mark(struct sim_world *w, uint32_t node);
/* Carries out the marked nodes' actions now, in the order they were
 * marked. For a handler whose next step must follow them: its trace
 * lines, or a decision that depends on what a node did. */
void sim_world_settle(struct sim_world *w);
/* The end of an event (run.c): settles, then queues the deferred events. */
void sim_world_end_event(struct sim_world *w);

/* ---- inbox.c: what reaches a node ---- */

/* m (owned by the callee from here on) arrives at m->to at global time
 * at: an event then, or, for an acknowledgement, a wait in the node's
 * inbox until the node next acts. */
void sim_inbox_push(struct sim_world *w, p2p_time at, struct sim_msg *m);
/* Hands m (owned by the callee) to its node's core as arrived at global
 * time at (<= w->now): accepted by the connection model first. */
void sim_inbox_deliver(struct sim_world *w, uint32_t node, struct sim_msg *m,
                       p2p_time at);
/* The node is about to act, or a connection of its is about to change:
 * it takes its acknowledgements that arrived by w->now, in arrival order. */
void sim_inbox_take(struct sim_world *w, uint32_t node);
void sim_inbox_take_pair(struct sim_world *w, uint32_t a, uint32_t b);
/* Every node takes them (before an event that may touch any node). */
void sim_inbox_take_all(struct sim_world *w);
/* When no event is left before end: the acknowledgements that arrive by
 * end are taken in arrival order, the clock following them. True when
 * that queued an event (the loop then goes on). */
bool sim_inbox_finish(struct sim_world *w, p2p_time end);
/* Frees what still waits. */
void sim_inbox_fini(struct sim_world *w);

/* ---- uplink.c: sending ---- */

/* Puts a message on the wire from `from` to m->to over their connection
 * (m is owned by the callee from here on): small ones at once, large ones
 * queued, one at a time. */
void sim_uplink_send(struct sim_world *w, uint32_t from, struct sim_msg *m);
/* SIM_EV_UPLINK: the node's uplink may take its next large message. */
void sim_uplink_next(struct sim_world *w, uint32_t node);
/* Drops node's queued large messages on the stream a reset names. */
void sim_uplink_cancel(struct sim_world *w, uint32_t node, uint32_t peer,
                       uint64_t stream_id, bool inbound);
/* Drops every large message node has queued (it crashed). */
void sim_uplink_drop(struct sim_world *w, uint32_t node);

/* conn.c: the connection model. */
int sim_conn_init(struct sim_world *w);
struct sim_conn *sim_conn_of(struct sim_world *w, uint32_t a, uint32_t b);
/* The path between a and b is cut (partition, or an end not running). */
bool sim_conn_path_cut(const struct sim_world *w, uint32_t a, uint32_t b);
void sim_conn_dial(struct sim_world *w, uint32_t from, uint32_t to);
void sim_conn_close(struct sim_world *w, uint32_t from, uint32_t to);
void sim_conn_on_event(struct sim_world *w, uint32_t type, uint32_t node,
                       uint64_t arg);
/* Paths changed (partition, heal, crash, restart): start idle clocks on
 * newly cut connections, complete dials and release held messages on
 * newly open ones. */
void sim_conn_paths_changed(struct sim_world *w);
/* A restarted node's old connections are refused by its new incarnation:
 * their other ends learn it at once. */
void sim_conn_node_restarted(struct sim_world *w, uint32_t node);
/* A message arrived: false when it is dropped or held (the callee owns it
 * then). */
bool sim_conn_accept_msg(struct sim_world *w, struct sim_msg *m);

/* faults.c */
void sim_faults_schedule(struct sim_world *w);
void sim_faults_fire(struct sim_world *w, uint64_t fault);
/* A blackhole fault's time is up (SIM_EV_BLACKHOLE_END). */
void sim_faults_blackhole_end(struct sim_world *w, uint64_t fault);
/* Creates and starts node i's core (at the start, a join or a restart). */
int sim_faults_node_start(struct sim_world *w, uint32_t node);
/* Registry version 1 (the members set so far) into w->registry, before
 * the first node starts. Errors: P2P_ERR_NOMEM. */
int sim_faults_registry_init(struct sim_world *w);
void sim_faults_registry_fini(struct sim_world *w);
/* Checks the fault timeline (restart only of crashed nodes, ...); prints
 * "file:line: message" and returns P2P_ERR_DECODE on the first error
 * (P2P_ERR_NOMEM when it cannot check). */
int sim_faults_check(const struct sim_scenario *sc, FILE *err);

/* byzantine.c */
void sim_byzantine_start(struct sim_world *w, uint32_t node);
void sim_byzantine_tick(struct sim_world *w, uint32_t node);
/* Filters a byzantine node's outgoing message: false drops it; it may also
 * be rewritten in place. */
bool sim_byzantine_outgoing(struct sim_world *w, uint32_t node,
                            struct sim_msg *m, const struct p2p_action *a);
/* Whether a byzantine node's core reads this incoming message. */
bool sim_byzantine_reads(const struct sim_world *w, uint32_t node);

/* state_run.c: state sync in the simulation. */
#define SIM_SYNCS_MAX 65536u /* sync records one run keeps */
/* Before the first node starts: builds height 1 when the scenario has a
 * 'state' section. 0, or the P2P_ERR_* building it gave (message printed). */
int sim_state_run_init(struct sim_world *w);
/* Schedules the checkpoints. */
void sim_state_run_schedule(struct sim_world *w);
/* A node (re)started: nodes of the initial subnet hold the newest state,
 * others start empty or with what their disk kept; the store is given to
 * the core. */
void sim_state_run_node_started(struct sim_world *w, uint32_t node);
/* The node crashed: its sync under way, if any, ends. */
void sim_state_run_node_crashed(struct sim_world *w, uint32_t node);
/* SIM_EV_CHECKPOINT. */
void sim_state_run_checkpoint(struct sim_world *w);
/* After every drain: follows the node's sync (start, progress lines,
 * completion) and whether it caught up. */
void sim_state_run_observe(struct sim_world *w, uint32_t node);
void sim_state_run_fini(struct sim_world *w);

/* metrics_out.c: --metrics DIR (formats in docs/metrics.md). */
#define SIM_METRICS_EVERY_DEFAULT_NS (1 * P2P_NS_PER_S)
/* --metrics-format openmetrics: the shortest period (Prometheus keeps
 * milliseconds), and the Unix time of virtual time 0 in DIR/metrics.om
 * (2024-01-01T00:00:00Z), so that the same run makes the same samples. */
#define SIM_METRICS_OM_EVERY_MIN_NS (P2P_NS_PER_S / 1000)
#define SIM_METRICS_OM_EPOCH_S 1704067200u
/* Creates dir (and missing parents); -1 with a reason in msg otherwise. */
int sim_metrics_out_mkdir(const char *dir, char *msg, size_t msg_len);
/* Opens DIR/timeseries.csv and schedules the first sample (t = 0); -1
 * (message printed) when the file cannot be written. */
int sim_metrics_out_start(struct sim_world *w);
/* SIM_EV_METRICS at virtual time t: one row per running node, then the
 * next sample if it falls within the run. Changes no simulation state. */
void sim_metrics_out_sample(struct sim_world *w, p2p_time t);
/* Before fault `fault` fires: keeps the exposition of each node a crash
 * is about to stop, so its file holds its last values. */
void sim_metrics_out_before_fault(struct sim_world *w, uint64_t fault);
/* At the end of the run: writes DIR/node-<id>.prom for every node that
 * ran, closes the time series and prints one line saying what was
 * written; -1 (message printed) on a write error. */
int sim_metrics_out_finish(struct sim_world *w);
/* Frees what --metrics holds (closing the series if still open). */
void sim_metrics_out_fini(struct sim_world *w);

#endif
