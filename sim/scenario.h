/* Scenario files: the YAML a simulator run is described by.
 *
 * The loader uses libyaml's document API, so every error carries the 1-based
 * line of the offending node. It checks the whole schema: unknown or
 * duplicate keys, wrong YAML types, bad units, out-of-range values and
 * exceeded limits are all errors; nothing is silently ignored. The format is
 * documented in docs/scenario-format.md. All memory comes from malloc and is
 * owned by the struct sim_scenario until sim_scenario_fini. */
#ifndef P2P_SIM_SCENARIO_H
#define P2P_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

/* Limits: a file exceeding one is rejected with an error naming the limit. */
#define SIM_SCENARIO_FILE_BYTES_MAX (16u * 1024u * 1024u)
#define SIM_SCENARIO_YAML_NODES_MAX (1u << 20) /* values, lists and mappings */
#define SIM_SCENARIO_YAML_DEPTH_MAX 16u        /* lists and mappings nested */
#define SIM_SCENARIO_NODES_MAX 10000u          /* subnet.nodes */
#define SIM_SCENARIO_JOIN_IDS_MAX 1000u        /* join ids are < nodes + this */
#define SIM_SCENARIO_WORKLOAD_MAX 1024u        /* workload items */
#define SIM_SCENARIO_FAULTS_MAX 65536u         /* fault entries */
#define SIM_SCENARIO_LINKS_MAX 4096u           /* network.links entries */
#define SIM_SCENARIO_EXPECTS_MAX 256u          /* expect entries */
#define SIM_SCENARIO_NAME_BYTES_MAX 128u       /* name length */
/* Every duration in a file (duration, latency, within, ...) is at most 30
 * days, so that sums of times can never overflow. */
#define SIM_SCENARIO_TIME_MAX_NS (30ULL * 24 * 3600 * P2P_NS_PER_S)
/* Workload sizes: at least 16 B, so that every artifact's body (which
 * starts with its sequence number) is unique; at most what core can send
 * in one message (P2P_ARTIFACT_BYTES_MAX, 128 MiB less 1 KiB). */
#define SIM_SCENARIO_ARTIFACT_BYTES_MIN 16ULL
#define SIM_SCENARIO_ARTIFACT_BYTES_MAX ((128ULL << 20) - 1024)
#define SIM_SCENARIO_STATE_CHUNKS_MAX (1ULL << 20) /* ceil(size / chunk) */
#define SIM_SCENARIO_DRIFT_PPM_MAX 500000          /* |skew drift| */
#define SIM_SCENARIO_HEIGHT_KEEP_MAX 1000000u      /* protocol.heights.keep */

/* Defaults for keys that may be left out. */
#define SIM_SCENARIO_DEFAULT_SEED 1u
#define SIM_SCENARIO_DEFAULT_LATENCY_NS (40ULL * P2P_NS_PER_MS)
#define SIM_SCENARIO_DEFAULT_BANDWIDTH_BPS 1000000000ULL /* 1Gbit */
#define SIM_SCENARIO_DEFAULT_CHUNK_BYTES (1ULL << 20)    /* state.chunk */
/* network.packet: defaults and bounds. An MTU of 1200 B is the least QUIC
 * runs on; 65527 B is the largest UDP payload (65535 less the 8-byte UDP
 * header). A queue holds at least one full-size packet (1500 B, and the
 * mtu) and at most 1 GiB. */
#define SIM_SCENARIO_DEFAULT_MTU_BYTES 1500u
#define SIM_SCENARIO_MTU_BYTES_MIN 1200u
#define SIM_SCENARIO_MTU_BYTES_MAX 65527u
#define SIM_SCENARIO_DEFAULT_QUEUE_BYTES (1ULL << 20)
#define SIM_SCENARIO_QUEUE_BYTES_MIN 1500u
#define SIM_SCENARIO_QUEUE_BYTES_MAX (1ULL << 30)
/* The quic model's packet network delays each datagram by at most this
 * much per cause: network (and link) latency, jitter, reorder_delay. */
#define SIM_SCENARIO_QUIC_DELAY_NS_MAX (3600ULL * P2P_NS_PER_S)
#define SIM_SCENARIO_DEFAULT_REORDER_NS (10ULL * P2P_NS_PER_MS)

/* Which node creates a workload item's artifacts. */
enum sim_from_mode {
    SIM_FROM_ROUND_ROBIN, /* "round-robin": live members in id order */
    SIM_FROM_ANY,         /* "any": a uniformly random live member */
    SIM_FROM_NODE         /* a node id: always from_node */
};

/* One line of the workload: a stream of artifacts. */
struct sim_workload_item {
    enum p2p_artifact_kind kind; /* 'kind: push|advert' (required) */
    uint64_t interval_ns;    /* 'every: T' (fixed) or from 'rate: N/s' (mean) */
    bool poisson;            /* true for 'rate' (exponential gaps) */
    uint64_t size_bytes;     /* 'size' (required), ARTIFACT_BYTES_MIN..MAX */
    uint64_t size_max_bytes; /* 'size_max' (>= size) or = size_bytes; sizes
                                are uniform in [size_bytes, size_max_bytes] */
    enum sim_from_mode from; /* 'from', default round-robin */
    uint32_t from_node;      /* valid when from == SIM_FROM_NODE */
    uint64_t start_ns;       /* 'start', default 0 */
    uint64_t stop_ns;        /* 'stop', default duration; start < stop */
    int line;                /* 1-based line of the item */
};

/* network.links entry: overrides some parameters of one directed link (or of
 * both directions with 'both: true'). At least one has_X is true. */
struct sim_link_override {
    uint32_t from, to; /* node ids, from != to */
    bool has_latency, has_jitter, has_bandwidth, has_loss;
    uint64_t latency_ns, jitter_ns, bandwidth_bps;
    uint32_t loss_ppm;
    bool both_directions; /* 'both: true': also the link to -> from */
    int line;
};

/* network.model: how the simulator carries the nodes' traffic. */
enum sim_net_model {
    SIM_MODEL_MESSAGE, /* 'message' (the default): whole messages over links
                          with latency, bandwidth and loss */
    SIM_MODEL_QUIC     /* 'quic': the replica's QUIC + TLS stack over a
                          simulated packet network (network.packet) */
};

/* network.packet: the quic model's packet network (ignored by the message
 * model). Every key has a default, filled even when the section is absent;
 * percentages are parts per million, each below 100%. */
struct sim_packet_cfg {
    uint32_t mtu_bytes;     /* 'mtu' (bytes, a plain number), default 1500,
                               1200..65527: the largest datagram */
    uint64_t queue_bytes;   /* 'queue' (a size), default 1 MiB, >= 1500 and
                               >= mtu, <= 1 GiB, each node's uplink and
                               downlink, drop-tail */
    uint32_t reorder_ppm;   /* 'reorder' (a percentage like loss), default 0 */
    uint64_t reorder_ns;    /* 'reorder_delay' (duration), default 10ms, > 0,
                               <= 1 h */
    uint32_t duplicate_ppm; /* 'duplicate', default 0 */
    uint32_t corrupt_ppm;   /* 'corrupt', default 0 */
};

struct sim_network {
    enum sim_net_model model; /* 'model: message|quic', default message */
    uint64_t latency_ns;      /* default 40ms, one-way */
    uint64_t jitter_ns;       /* default 0 */
    uint64_t bandwidth_bps; /* default 1Gbit; each node's uplink and downlink */
    uint32_t loss_ppm;      /* default 0; < 1,000,000 */
    struct sim_link_override *links; /* owned; links_count entries */
    size_t links_count;
    struct sim_packet_cfg packet; /* 'packet', defaults when absent */
};

/* The 'state' section: replicated state for state sync. */
struct sim_state_cfg {
    bool present;                 /* the section was given */
    uint64_t size_bytes;          /* 'size' (required), > 0 */
    uint64_t chunk_bytes;         /* 'chunk', default min(1MiB, size) */
    uint64_t checkpoint_every_ns; /* 'checkpoint_every' (required), > 0 */
    uint32_t churn_ppm;           /* 'churn', default 0%, up to 100% */
    uint32_t compressible_ppm;    /* 'compressible', default 0%, up to 100%:
                                     the zero share of each chunk */
};

enum sim_fault_kind {
    SIM_FAULT_PARTITION,
    SIM_FAULT_HEAL,
    SIM_FAULT_CRASH,
    SIM_FAULT_RESTART,
    SIM_FAULT_LEAVE,
    SIM_FAULT_JOIN,
    SIM_FAULT_BYZANTINE,
    SIM_FAULT_SKEW,
    SIM_FAULT_LOSS,
    SIM_FAULT_REGISTRY_EARLIEST, /* the clients' earliest registry version */
    SIM_FAULT_BLACKHOLE,  /* quic only: datagrams to nodes vanish for_ns */
    SIM_FAULT_NAT_REBIND, /* quic only: nodes' flows get new public ports */
    SIM_FAULT_KINDS_COUNT
};

enum sim_byzantine {
    SIM_BYZ_SILENT,
    SIM_BYZ_SLOW_READER,
    SIM_BYZ_GARBAGE,
    SIM_BYZ_OVERSIZE,
    SIM_BYZ_ADVERT_FLOOD,
    SIM_BYZ_WRONG_BYTES,
    SIM_BYZ_STALE_COMMIT,
    SIM_BYZ_BAD_CHUNKS,
    SIM_BYZ_GARBAGE_DATAGRAMS, /* quic only: random datagrams to its peers'
                                  addresses */
    SIM_BYZ_HANDSHAKE_FLOOD,   /* quic only: QUIC Initial handshakes with a
                                  key that is not a member */
    SIM_BYZ_COUNT
};

/* One entry of 'faults'. Node ids are unique within a fault. */
struct sim_fault {
    enum sim_fault_kind kind;
    uint64_t at_ns; /* 'at', <= duration */
    int line;
    /* crash/restart/leave/join/byzantine/skew/blackhole/nat_rebind: owned,
     * nodes_count >= 1 */
    uint32_t *nodes;
    size_t nodes_count;
    /* partition: groups_count >= 1 disjoint, non-empty groups (all owned);
     * nodes listed in no group form one more, implicit group. */
    uint32_t **groups;
    size_t *group_sizes;
    size_t groups_count;
    enum sim_byzantine behaviour; /* byzantine */
    int64_t skew_offset_ns;       /* skew 'offset', default 0, may be < 0 */
    int64_t drift_ppm;            /* skew 'drift', default 0, may be < 0 */
    bool loss_all_links;          /* loss 'links: all' (the only choice) */
    uint32_t loss_ppm;            /* loss 'rate', < 100% */
    uint64_t for_ns; /* loss and blackhole 'for', > 0; may end after
                        duration */
    /* registry_earliest: the version (>= 1), or 0 for 'latest' */
    uint64_t earliest_version;
};

enum sim_expect_kind {
    SIM_EXPECT_DELIVERED,    /* {delivered: all, within: T} */
    SIM_EXPECT_STATE_SYNCED, /* {state_synced: [ids], within: T} */
    SIM_EXPECT_MAX_MEMORY,   /* {max_memory_per_node: SIZE} */
    SIM_EXPECT_PENALISED,    /* {penalised: byzantine}: every byzantine node
                                is penalised by every live honest member */
    SIM_EXPECT_SERVED_AFTER_LEAVE, /* {served_after_leave: [ids]}: each
                                      receives artifacts after its leave
                                      while a version in use lists it, and
                                      none once none does */
    SIM_EXPECT_SLOTS_CLEARED,      /* {slots_cleared: purged, within: T}: no
                                 peer's slot names an artifact purged T
                                 before the end */
    SIM_EXPECT_HEIGHTS_PURGED      /* {heights_purged: all, within: T}: no live
                                 honest node holds an artifact below the
                                 purge height of T before the end */
};

struct sim_expect {
    enum sim_expect_kind kind;
    uint64_t within_ns; /* delivered, state_synced, slots_cleared,
                           heights_purged: > 0; else 0 */
    uint32_t *nodes;    /* state_synced, served_after_leave: owned ids;
                           else NULL */
    size_t nodes_count;
    uint64_t bytes; /* max_memory_per_node: > 0; else 0 */
    int line;
};

/* Optional 'protocol' knobs; each value is valid only when its has_X is. */
struct sim_protocol {
    bool has_push_threshold;
    uint64_t push_threshold_bytes; /* 'push_threshold' (size, 0 allowed) */
    bool has_validation_delay;
    uint64_t validation_delay_ns; /* 'validation_delay' (duration) */
    bool has_artifact_ttl;
    uint64_t artifact_ttl_ns; /* 'artifact_ttl' (duration, > 0) */
    bool has_relay;
    bool relay_advert; /* 'relay: advert' true, 'relay: push' false */
    bool has_buggify;
    bool buggify;             /* 'buggify': core's fault points on */
    bool has_heights;         /* 'heights: {every, keep}' */
    uint64_t height_every_ns; /* 'every' (duration, > 0) */
    uint64_t height_keep;     /* 'keep' (integer, >= 1) */
};

struct sim_scenario {
    char *name;    /* owned; 'name', default the file's base name without
                   .yaml/.yml ("scenario" for strings without a name) */
    char *path;    /* owned; the path or name_for_errors given to the loader */
    uint64_t seed; /* 'seed', default 1 */
    bool has_seed; /* the file gave a seed (--seed still overrides) */
    uint64_t duration_ns; /* 'duration' (required), > 0 */
    uint32_t nodes;       /* 'subnet.nodes' (required), 1..NODES_MAX */
    /* Every node id in the scenario is < node_ids_count: nodes, or more when
     * a join fault names new ids. */
    uint32_t node_ids_count;
    struct sim_network net;
    struct sim_workload_item *workload; /* owned; in file order */
    size_t workload_count;
    struct sim_state_cfg state;
    struct sim_fault *faults; /* owned; sorted by at_ns, stable */
    size_t faults_count;
    struct sim_expect *expects; /* owned; in file order */
    size_t expects_count;
    struct sim_protocol protocol;
};

/* Where and why loading failed. line and column are 1-based; 0 when the
 * error has no position (e.g. the file cannot be read). */
struct sim_scenario_error {
    int line;
    int column;
    char message[256];
};

/* Reads and loads the scenario file at path (borrowed). On success fills
 * *out (which the caller later passes to sim_scenario_fini) and returns 0.
 * On failure leaves *out zeroed, fills *err (when not NULL) and returns
 *   P2P_ERR_READ      the file cannot be opened or read,
 *   P2P_ERR_OVERSIZE  the file is larger than SIM_SCENARIO_FILE_BYTES_MAX,
 *   P2P_ERR_DECODE    YAML syntax error or any schema or range error,
 *   P2P_ERR_LIMIT     a list is longer than its SIM_SCENARIO_*_MAX, or the
 *                     file has more than SIM_SCENARIO_YAML_NODES_MAX nodes
 *                     or nests deeper than SIM_SCENARIO_YAML_DEPTH_MAX,
 *   P2P_ERR_NOMEM     an allocation failed (fatal). */
int sim_scenario_load_file(const char *path, struct sim_scenario *out,
                           struct sim_scenario_error *err);

/* Loads a scenario from text[0..len) (borrowed; need not be NUL-terminated).
 * name_for_errors (borrowed, may be NULL) becomes out->path and, without a
 * 'name' key, the source of out->name. Returns as sim_scenario_load_file,
 * except P2P_ERR_READ. */
int sim_scenario_load_string(const char *text, size_t len,
                             const char *name_for_errors,
                             struct sim_scenario *out,
                             struct sim_scenario_error *err);

/* Frees everything *s owns and zeroes it. Safe on a zeroed struct and on one
 * already finalized. */
void sim_scenario_fini(struct sim_scenario *s);

/* Formats "file:line: message" into buf[0..len) (or "file: message" when
 * err->line is 0); path (borrowed) may be NULL for "<scenario>". */
void sim_scenario_error_format(const struct sim_scenario_error *err,
                               const char *path, char *buf, size_t len);

/* Names as written in scenario files ("partition", "slow-reader",
 * "state_synced", "round-robin"); static strings, never NULL. */
const char *sim_scenario_fault_kind_name(enum sim_fault_kind kind);
const char *sim_scenario_byzantine_name(enum sim_byzantine behaviour);
const char *sim_scenario_expect_kind_name(enum sim_expect_kind kind);
const char *sim_scenario_from_mode_name(enum sim_from_mode from);

/* Whether the fault kind or the byzantine behaviour exists only in the quic
 * network model (the message model has no datagrams, ports or handshakes). */
bool sim_scenario_fault_quic_only(enum sim_fault_kind kind);
bool sim_scenario_byzantine_quic_only(enum sim_byzantine behaviour);

/* Names as written in scenario files and on the command line ("message",
 * "quic"); a static string, never NULL. */
const char *sim_scenario_model_name(enum sim_net_model model);

/* Parses a model name as --model takes it ("message" or "quic") into *out.
 * Returns 0, or P2P_ERR_INVALID_ARG for anything else (*out unchanged). */
int sim_scenario_model_parse(const char *name, enum sim_net_model *out);

/* Checks sc (borrowed) against its network model, sc->net.model, which the
 * caller sets first when a command line overrides it (--model): on the
 * message model, that no fault or byzantine behaviour is the quic model's
 * alone; on the quic model, that no latency or jitter (of the network or
 * of a link) is longer than SIM_SCENARIO_QUIC_DELAY_NS_MAX. Returns 0, or
 * P2P_ERR_INVALID_ARG with the first problem in err[0..err_len) (when
 * err_len > 0): "line 12: fault 'blackhole' needs network.model: quic (or
 * --model quic)", "network.latency: 2h is longer than the quic model's
 * limit of 1h". */
int sim_scenario_check_model(const struct sim_scenario *sc, char *err,
                             size_t err_len);

/* Whether the scenario moves the earliest registry version in use itself
 * (it has a registry_earliest fault): then a new version leaves the
 * earliest where it is. Otherwise the earliest is always the latest. */
bool sim_scenario_registry_pinned(const struct sim_scenario *s);

#endif
