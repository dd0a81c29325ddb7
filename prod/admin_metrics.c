/* The replica's Prometheus families (see admin_metrics.h). Single-label
 * samples go through core's writer; the few samples core's writer cannot
 * express (two labels, fractional seconds) are written with core's raw
 * writers (p2p_metrics_text_put_*), which keep the same contract: nothing
 * past cap, len counts what is needed. */
#include "prod/admin_metrics.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"

/* A peer index as a label value: at most 10 digits. */
#define INDEX_LABEL_BYTES 12

/* The states a transport reports (prod_peer_stats.conn_state). "idle"
 * (no QUIC connection: waiting to redial, or for the peer to dial us) is
 * not core's "waiting" (p2p_connections), which counts only peers this
 * node redials. */
static const char *const peer_states[PROD_ADMIN_PEER_STATES_COUNT] = {
    "up",
    "dialing",
    "idle",
};

/* ---- two-label samples, through core's raw writers ---- */

/* `name{l1="v1",l2="v2"} value` (value already formatted). */
static void sample2(struct p2p_metrics_text *t, const char *name,
                    const char *l1, const char *v1, const char *l2,
                    const char *v2, const char *value)
{
    p2p_metrics_text_put_str(t, name);
    p2p_metrics_text_put_str(t, "{");
    p2p_metrics_text_put_str(t, l1);
    p2p_metrics_text_put_str(t, "=\"");
    p2p_metrics_text_put_label_value(t, v1);
    p2p_metrics_text_put_str(t, "\",");
    p2p_metrics_text_put_str(t, l2);
    p2p_metrics_text_put_str(t, "=\"");
    p2p_metrics_text_put_label_value(t, v2);
    p2p_metrics_text_put_str(t, "\"} ");
    p2p_metrics_text_put_str(t, value);
    p2p_metrics_text_put_str(t, "\n");
}

/* Microseconds as decimal seconds without trailing zeros: 1500 ->
 * "0.0015", 2000000 -> "2". */
static void format_us_as_seconds(uint64_t us, char *out, size_t cap)
{
    uint64_t frac = us % 1000000u;
    int n = snprintf(out, cap, "%" PRIu64, us / 1000000u);
    P2P_ASSERT(n > 0 && (size_t)n < cap);
    if (frac == 0)
        return;
    int m = snprintf(out + n, cap - (size_t)n, ".%06" PRIu64, frac);
    P2P_ASSERT(m == 7 && (size_t)(n + m) < cap);
    size_t end = (size_t)(n + m);
    while (out[end - 1] == '0')
        end--;
    out[end] = '\0';
}

/* ---- the families ---- */

static void index_label(uint32_t index, char out[INDEX_LABEL_BYTES])
{
    snprintf(out, INDEX_LABEL_BYTES, "%" PRIu32, index);
}

/* A counter or gauge family with one sample per peer, labelled peer=. */
struct peer_field {
    const char *name;
    enum p2p_metric_type type;
    const char *help;
    size_t offset; /* of a uint64_t in struct quic_peer_stats */
};

static const struct peer_field peer_fields[] = {
    {"p2p_replica_peer_bytes_sent_total", P2P_METRIC_COUNTER,
     "Stream payload bytes sent to the peer.",
     offsetof(struct quic_peer_stats, bytes_sent)},
    {"p2p_replica_peer_bytes_received_total", P2P_METRIC_COUNTER,
     "Stream payload bytes received from the peer.",
     offsetof(struct quic_peer_stats, bytes_received)},
    {"p2p_replica_peer_messages_sent_total", P2P_METRIC_COUNTER,
     "Messages (streams, one RPC each) sent to the peer.",
     offsetof(struct quic_peer_stats, messages_sent)},
    {"p2p_replica_peer_messages_received_total", P2P_METRIC_COUNTER,
     "Messages (streams, one RPC each) received from the peer.",
     offsetof(struct quic_peer_stats, messages_received)},
    {"p2p_replica_peer_handshakes_total", P2P_METRIC_COUNTER,
     "Completed QUIC handshakes with the peer, either direction.",
     offsetof(struct quic_peer_stats, handshakes)},
    {"p2p_replica_duplicate_identity_total", P2P_METRIC_COUNTER,
     "Handshakes refused because the peer's key already had a live "
     "connection from another address (two processes, one identity).",
     offsetof(struct quic_peer_stats, duplicates)},
};

static uint64_t peer_value(const struct quic_peer_stats *p, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)p + offset, sizeof(v));
    return v;
}

/* Streams reset per peer, by who reset them. */
static void write_peer_resets(struct p2p_metrics_text *t,
                              const struct quic_peer_stats *peers,
                              uint32_t count)
{
    static const char *const name = "p2p_replica_peer_streams_reset_total";
    char idx[INDEX_LABEL_BYTES], v[24];
    p2p_metrics_text_family(t, name, P2P_METRIC_COUNTER,
                            "Streams with the peer ended by a reset while "
                            "open: sent (this replica abandoned them) or "
                            "received (the peer did).");
    for (uint32_t i = 0; i < count; i++) {
        index_label(peers[i].index, idx);
        snprintf(v, sizeof(v), "%" PRIu64, peers[i].streams_reset_sent);
        sample2(t, name, "peer", idx, "direction", "sent", v);
        snprintf(v, sizeof(v), "%" PRIu64, peers[i].streams_reset_received);
        sample2(t, name, "peer", idx, "direction", "received", v);
    }
}

static bool is_up(const struct quic_peer_stats *p)
{
    return p->conn_state != NULL && strcmp(p->conn_state, "up") == 0;
}

static void write_peer_identity(struct p2p_metrics_text *t,
                                const struct quic_peer_stats *peers,
                                uint32_t count)
{
    char idx[INDEX_LABEL_BYTES];
    p2p_metrics_text_family(t, "p2p_replica_peer_info", P2P_METRIC_GAUGE,
                            "Registry members: index and node id (always 1).");
    for (uint32_t i = 0; i < count; i++) {
        index_label(peers[i].index, idx);
        char id[sizeof(peers[i].id_hex)];
        /* The id may come unterminated from a careless writer. */
        memcpy(id, peers[i].id_hex, sizeof(id));
        id[sizeof(id) - 1] = '\0';
        sample2(t, "p2p_replica_peer_info", "peer", idx, "id", id, "1");
    }
}

static void write_peer_states(struct p2p_metrics_text *t,
                              const struct quic_peer_stats *peers,
                              uint32_t count)
{
    char idx[INDEX_LABEL_BYTES];
    p2p_metrics_text_family(t, "p2p_replica_peer_state", P2P_METRIC_GAUGE,
                            "Connection state of each peer: 1 for the "
                            "current state, 0 for the others.");
    for (uint32_t i = 0; i < count; i++) {
        const char *cur =
            peers[i].conn_state != NULL ? peers[i].conn_state : "unknown";
        bool known = false;
        index_label(peers[i].index, idx);
        for (int s = 0; s < PROD_ADMIN_PEER_STATES_COUNT; s++) {
            bool match = strcmp(cur, peer_states[s]) == 0;
            known = known || match;
            sample2(t, "p2p_replica_peer_state", "peer", idx, "state",
                    peer_states[s], match ? "1" : "0");
        }
        if (!known)
            sample2(t, "p2p_replica_peer_state", "peer", idx, "state", cur,
                    "1");
    }
}

static void write_peer_counters(struct p2p_metrics_text *t,
                                const struct quic_peer_stats *peers,
                                uint32_t count)
{
    char idx[INDEX_LABEL_BYTES];
    for (size_t f = 0; f < sizeof(peer_fields) / sizeof(peer_fields[0]); f++) {
        const struct peer_field *pf = &peer_fields[f];
        p2p_metrics_text_family(t, pf->name, pf->type, pf->help);
        for (uint32_t i = 0; i < count; i++) {
            index_label(peers[i].index, idx);
            p2p_metrics_text_sample(t, pf->name, "peer", idx,
                                    peer_value(&peers[i], pf->offset));
        }
    }
}

/* Only connected peers have an RTT: an absent sample means none. */
static void write_peer_rtt(struct p2p_metrics_text *t,
                           const struct quic_peer_stats *peers, uint32_t count)
{
    char idx[INDEX_LABEL_BYTES];
    char secs[32];
    p2p_metrics_text_family(t, "p2p_replica_peer_rtt_seconds", P2P_METRIC_GAUGE,
                            "Smoothed RTT of the connection to the peer.");
    for (uint32_t i = 0; i < count; i++) {
        if (!is_up(&peers[i]))
            continue;
        index_label(peers[i].index, idx);
        format_us_as_seconds(peers[i].rtt_us, secs, sizeof(secs));
        p2p_metrics_text_put_str(t, "p2p_replica_peer_rtt_seconds{peer=\"");
        p2p_metrics_text_put_str(t, idx);
        p2p_metrics_text_put_str(t, "\"} ");
        p2p_metrics_text_put_str(t, secs);
        p2p_metrics_text_put_str(t, "\n");
    }
}

static void single(struct p2p_metrics_text *t, const char *name,
                   enum p2p_metric_type type, const char *help, uint64_t value)
{
    p2p_metrics_text_family(t, name, type, help);
    p2p_metrics_text_sample(t, name, NULL, NULL, value);
}

/* The families the simulator writes too (docs/metrics.md, "Shared
 * vocabulary"): same names, labels and meaning. */
static void write_shared(struct p2p_metrics_text *t,
                         const struct quic_endpoint_totals *tot)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } bytes[] = {
        {"p2p_transport_bytes_sent_total",
         "Stream payload bytes this node sent, by what they carry.",
         offsetof(struct quic_endpoint_totals, bytes_sent)},
        {"p2p_transport_bytes_received_total",
         "Stream payload bytes that reached this node, by what they carry.",
         offsetof(struct quic_endpoint_totals, bytes_received)},
    };
    for (size_t b = 0; b < sizeof(bytes) / sizeof(bytes[0]); b++) {
        const uint64_t *v =
            (const uint64_t *)((const char *)tot + bytes[b].offset);
        p2p_metrics_text_family(t, bytes[b].name, P2P_METRIC_COUNTER,
                                bytes[b].help);
        for (int k = 0; k < P2P_TRAFFIC_COUNT; k++)
            p2p_metrics_text_sample(t, bytes[b].name, "traffic",
                                    p2p_traffic_name((enum p2p_traffic)k),
                                    v[k]);
    }
    single(t, "p2p_transport_messages_sent_total", P2P_METRIC_COUNTER,
           "Stream messages (requests and responses) this node sent.",
           tot->messages_sent);
    single(t, "p2p_transport_messages_received_total", P2P_METRIC_COUNTER,
           "Stream messages (requests and responses) that reached this "
           "node.",
           tot->messages_received);
}

static void write_totals(struct p2p_metrics_text *t,
                         const struct quic_endpoint_totals *tot)
{
    const enum p2p_metric_type C = P2P_METRIC_COUNTER;
    p2p_metrics_text_family(t, "p2p_replica_handshake_refusals_total", C,
                            "Handshakes refused before any protocol "
                            "message, by reason.");
    for (int r = 0; r < QUIC_REFUSE_COUNT; r++)
        p2p_metrics_text_sample(t, "p2p_replica_handshake_refusals_total",
                                "reason", quic_peer_stats_refusal_name(r),
                                tot->refusals[r]);
    p2p_metrics_text_family(t, "p2p_replica_initials_dropped_total", C,
                            "Packets of unknown connections that made no "
                            "accepted connection (refusals apart), by "
                            "reason.");
    for (int d = 0; d < QUIC_DROP_COUNT; d++)
        p2p_metrics_text_sample(t, "p2p_replica_initials_dropped_total",
                                "reason", quic_peer_stats_initial_drop_name(d),
                                tot->initials_dropped[d]);
    single(t, "p2p_replica_stateless_resets_sent_total", C,
           "Stateless resets sent for packets of unknown connections.",
           tot->resets_sent);
    single(t, "p2p_replica_stateless_resets_received_total", C,
           "Connections ended by a stateless reset from the peer.",
           tot->resets_received);
    p2p_metrics_text_family(t, "p2p_replica_stateless_resets_unsent_total", C,
                            "Short packets of unknown connections not "
                            "answered with a stateless reset, by reason.");
    for (int u = 0; u < QUIC_RESET_UNSENT_COUNT; u++)
        p2p_metrics_text_sample(t, "p2p_replica_stateless_resets_unsent_total",
                                "reason", quic_peer_stats_reset_unsent_name(u),
                                tot->resets_unsent[u]);
    single(t, "p2p_replica_connections_accepted_total", C,
           "Inbound QUIC connections whose handshake completed.",
           tot->conns_accepted);
    single(t, "p2p_replica_connections_closed_total", C,
           "QUIC connections ended, for any reason, handshakes that never "
           "completed included (core's p2p_connections_closed_total counts "
           "only the closes core decided).",
           tot->conns_closed);
    single(t, "p2p_replica_connections_stalled_total", C,
           "QUIC connections closed because they stalled: data waiting, "
           "congestion window full and no loss-detection timer (core dials "
           "again).",
           tot->conns_stalled);
    single(t, "p2p_replica_udp_datagrams_in_total", C,
           "UDP datagrams received.", tot->udp_datagrams_in);
    single(t, "p2p_replica_udp_datagrams_out_total", C, "UDP datagrams sent.",
           tot->udp_datagrams_out);
    single(t, "p2p_replica_udp_bytes_in_total", C,
           "UDP payload bytes received.", tot->udp_bytes_in);
    single(t, "p2p_replica_udp_bytes_out_total", C, "UDP payload bytes sent.",
           tot->udp_bytes_out);
}

void prod_admin_metrics_write(struct p2p_metrics_text *t,
                              const struct quic_peer_stats *peers,
                              uint32_t count,
                              const struct quic_endpoint_totals *tot)
{
    P2P_ASSERT(t != NULL && tot != NULL);
    P2P_ASSERT(peers != NULL || count == 0);
    size_t before = t->len;
    write_peer_identity(t, peers, count);
    write_peer_states(t, peers, count);
    write_peer_counters(t, peers, count);
    write_peer_resets(t, peers, count);
    write_peer_rtt(t, peers, count);
    write_shared(t, tot);
    write_totals(t, tot);
    P2P_ASSERT(t->len > before);
}
