/* The metrics registry and the Prometheus text exposition writer
 * (core/metrics_registry.h; every name is listed in docs/metrics.md). */
#include "core/metrics_registry.h"

#include "core/histogram.h"

#include <stddef.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

#define COUNTER(field, name, help)                                             \
    {                                                                          \
        name, help, offsetof(struct p2p_metrics, field)                        \
    }

/* Exposition order. Every field of struct p2p_metrics appears once (the
 * static assertion below checks the count, the unit suite the offsets). */
static const struct p2p_counter_spec counters[] = {
    /* artifacts and pools */
    COUNTER(artifacts_received, "p2p_artifacts_delivered_total",
            "Artifacts from peers that entered the unvalidated pool (delivered "
            "to the client)."),
    COUNTER(artifacts_validated, "p2p_artifacts_validated_total",
            "Unvalidated artifacts the client accepted into the validated "
            "pool."),
    COUNTER(artifacts_rejected, "p2p_artifacts_rejected_total",
            "Unvalidated artifacts the client rejected."),
    COUNTER(artifacts_removed, "p2p_artifacts_removed_total",
            "Artifacts purged from the pools by the client."),
    COUNTER(artifacts_withdrawn, "p2p_artifacts_withdrawn_total",
            "Unvalidated artifacts dropped before the client took them: "
            "every peer that advertised them withdrew them."),
    COUNTER(artifacts_purged, "p2p_artifacts_purged_total",
            "Artifacts purged from the pools for a height below the purge "
            "height."),
    COUNTER(pool_full, "p2p_pool_full_total",
            "Artifacts refused because the unvalidated pool was at its "
            "bound."),
    /* the sender */
    COUNTER(updates_sent, "p2p_slot_updates_sent_total",
            "Slot updates sent to peers, retransmissions included."),
    COUNTER(updates_acked, "p2p_slot_updates_acked_total",
            "Slot updates a peer acknowledged."),
    COUNTER(updates_retried, "p2p_slot_updates_retried_total",
            "Slot updates scheduled for retransmission after a failure or "
            "an error answer."),
    COUNTER(deletions_sent, "p2p_slot_deletions_sent_total",
            "Slot deletions sent to peers, retransmissions included (also "
            "counted as slot updates sent)."),
    COUNTER(deletions_superseded, "p2p_slot_deletions_superseded_total",
            "Slot deletions never sent: a new artifact took the slot while "
            "the deletion was held."),
    /* the receiver */
    COUNTER(updates_received, "p2p_slot_updates_received_total",
            "Slot updates received from peers."),
    COUNTER(updates_stale, "p2p_slot_updates_stale_total",
            "Received slot updates older than the one held (acknowledged, "
            "ignored)."),
    COUNTER(updates_rejected, "p2p_slot_updates_rejected_total",
            "Received slot updates with a bad slot id or body (answered "
            "400)."),
    COUNTER(pushes_received, "p2p_pushes_received_total",
            "Received slot updates that carried an artifact body."),
    COUNTER(adverts_received, "p2p_adverts_received_total",
            "Received slot updates that carried only an artifact id."),
    COUNTER(deletions_received, "p2p_slot_deletions_received_total",
            "Received slot updates that deleted a slot."),
    /* the downloader and the fetch server */
    COUNTER(fetches_started, "p2p_fetches_started_total",
            "Fetch requests sent to an advertiser."),
    COUNTER(fetches_succeeded, "p2p_fetches_succeeded_total",
            "Fetches answered with bytes that match the requested id."),
    COUNTER(fetches_failed, "p2p_fetches_failed_total",
            "Fetches that failed (error, timeout, 204, undecodable or wrong "
            "bytes)."),
    COUNTER(id_mismatches, "p2p_id_mismatches_total",
            "Fetch answers whose bytes did not hash to the requested id."),
    COUNTER(downloads_dropped, "p2p_downloads_dropped_total",
            "Downloads abandoned: unwanted, no advertiser left, or no room."),
    COUNTER(downloads_refused, "p2p_downloads_refused_total",
            "Adverts for which no download could be made (table or the "
            "peer's quota full)."),
    COUNTER(fetches_served, "p2p_fetches_served_total",
            "Fetch requests answered with an artifact from the validated "
            "pool."),
    COUNTER(fetches_not_found, "p2p_fetches_not_found_total",
            "Fetch requests answered 204 (artifact not held)."),
    /* streams and resources */
    COUNTER(streams_refused, "p2p_streams_refused_total",
            "Inbound streams refused: the stream table or the peer's "
            "share of it was full."),
    COUNTER(stream_errors, "p2p_stream_errors_total",
            "Streams failed: a bad or oversized frame (either direction), "
            "a peer's buffered bytes over its limit, or an inbound read "
            "deadline."),
    COUNTER(timers_refused, "p2p_timers_refused_total",
            "Timers refused (timer table full or out of memory)."),
    COUNTER(outbox_refused, "p2p_outbox_refused_total",
            "Actions that did not fit in the outbox."),
    /* topology and connections */
    COUNTER(topology_changes, "p2p_topology_changes_total",
            "Registry versions applied."),
    COUNTER(conns_dialed, "p2p_connections_dialed_total",
            "Connection dials emitted."),
    COUNTER(conns_dial_failed, "p2p_connections_dial_failed_total",
            "Dials the backend reported as failed."),
    COUNTER(conns_up, "p2p_connections_established_total",
            "Connections established, dialled or accepted."),
    COUNTER(conns_replaced, "p2p_connections_replaced_total",
            "Connections replaced by a newer one to the same peer."),
    COUNTER(conns_lost, "p2p_connections_lost_total",
            "Connections the backend reported gone."),
    COUNTER(conns_closed, "p2p_connections_closed_total",
            "Connections closed by this node (peer not a member, or "
            "banned)."),
    COUNTER(conns_refused, "p2p_connections_refused_total",
            "Connections refused from non-members or banned peers."),
    /* misbehaviour */
    COUNTER(penalties, "p2p_penalties_total",
            "Misbehaviour penalties given to peers."),
    COUNTER(peers_banned, "p2p_peer_bans_total",
            "Peers disconnected and banned for misbehaviour."),
    /* state sync (core/state_sync.c) */
    COUNTER(state_adverts_sent, "p2p_state_adverts_sent_total",
            "State adverts (height and root hash of the newest state held) "
            "sent to peers."),
    COUNTER(state_adverts_received, "p2p_state_adverts_received_total",
            "Well-formed state adverts received from peers."),
    COUNTER(state_syncs_started, "p2p_state_syncs_started_total",
            "State syncs started: a state newer than the one held was "
            "advertised by enough peers."),
    COUNTER(state_syncs_completed, "p2p_state_syncs_completed_total",
            "State syncs that fetched every chunk and handed the state to the "
            "store."),
    COUNTER(state_syncs_cancelled, "p2p_state_syncs_cancelled_total",
            "State syncs abandoned: no longer needed, or a newer state was "
            "advertised."),
    COUNTER(state_manifests_fetched, "p2p_state_manifests_fetched_total",
            "Manifests fetched that matched the advertised root hash."),
    COUNTER(state_chunks_requested, "p2p_state_chunks_requested_total",
            "Chunk requests sent."),
    COUNTER(state_chunks_received, "p2p_state_chunks_received_total",
            "Chunks that matched the manifest and were handed to the store."),
    COUNTER(state_chunk_bytes_received, "p2p_state_chunk_bytes_received_total",
            "Bytes of the chunks counted by p2p_state_chunks_received_total."),
    COUNTER(state_chunk_wire_bytes_received,
            "p2p_state_chunk_wire_bytes_received_total",
            "Bytes of the same chunks as they arrived: zstd frames, or the "
            "bytes themselves when sent raw."),
    COUNTER(state_chunks_reused, "p2p_state_chunks_reused_total",
            "Chunks the store already held when a sync started (resume after "
            "a restart, or unchanged since an older state)."),
    COUNTER(state_chunks_failed, "p2p_state_chunks_failed_total",
            "Chunk requests that failed: error, timeout or 204."),
    COUNTER(state_chunks_slow, "p2p_state_chunks_slow_total",
            "Chunk requests failed early because they took far longer than "
            "the sync's recent chunks (asked again elsewhere)."),
    COUNTER(state_bad_data, "p2p_state_bad_data_total",
            "Manifests or chunks whose bytes did not match the root hash or "
            "the manifest."),
    COUNTER(state_chunks_served, "p2p_state_chunks_served_total",
            "Chunk and manifest requests answered with the bytes."),
    COUNTER(state_chunks_served_compressed,
            "p2p_state_chunks_served_compressed_total",
            "Of those, answers sent as a zstd frame (the others went raw: "
            "compression would have saved under 1/32 of the chunk)."),
    COUNTER(state_chunks_not_served, "p2p_state_chunks_not_served_total",
            "Chunk and manifest requests answered 204 (state not held)."),
    COUNTER(requests_refused_nomem, "p2p_requests_refused_nomem_total",
            "Peer messages this node could not unpack for lack of its own "
            "memory (a request reset, a fetch answer dropped); never "
            "blamed on the peer."),
};

_Static_assert(sizeof(counters) / sizeof(counters[0]) == P2P_COUNTERS_COUNT,
               "every p2p_metrics field needs a registry entry");
_Static_assert(sizeof(struct p2p_metrics) % sizeof(uint64_t) == 0,
               "p2p_metrics holds only uint64_t fields");

const char *p2p_metric_type_name(enum p2p_metric_type type)
{
    switch (type) {
    case P2P_METRIC_COUNTER:
        return "counter";
    case P2P_METRIC_GAUGE:
        return "gauge";
    case P2P_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

const struct p2p_counter_spec *p2p_counter_spec(uint32_t i)
{
    P2P_ASSERT(i < P2P_COUNTERS_COUNT);
    return &counters[i];
}

uint64_t p2p_counter_value(const struct p2p_metrics *m, uint32_t i)
{
    P2P_ASSERT(i < P2P_COUNTERS_COUNT);
    uint64_t v;
    memcpy(&v, (const char *)m + counters[i].offset, sizeof(v));
    return v;
}

/* ---- the writer ---- */

void p2p_metrics_text_init(struct p2p_metrics_text *t, char *buf, size_t cap)
{
    P2P_ASSERT(buf != NULL || cap == 0);
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
}

static void put(struct p2p_metrics_text *t, const char *s, size_t n)
{
    if (t->len < t->cap) {
        size_t room = t->cap - t->len;
        memcpy(t->buf + t->len, s, n < room ? n : room);
    }
    t->len += n;
}

static void put_str(struct p2p_metrics_text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void put_u64(struct p2p_metrics_text *t, uint64_t v)
{
    char digits[20];
    size_t i = sizeof(digits);
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    put(t, digits + i, sizeof(digits) - i);
}

/* Nanoseconds as decimal seconds without trailing zeros: 5000000 ->
 * "0.005", 2500000000 -> "2.5", 1000000000 -> "1". */
static void put_seconds(struct p2p_metrics_text *t, uint64_t ns)
{
    put_u64(t, ns / P2P_NS_PER_S);
    uint64_t frac = ns % P2P_NS_PER_S;
    if (frac == 0)
        return;
    char digits[10] = {'.'};
    int last = 0;
    for (int i = 9; i >= 1; i--) {
        digits[i] = (char)('0' + frac % 10);
        frac /= 10;
        if (last == 0 && digits[i] != '0')
            last = i;
    }
    put(t, digits, (size_t)last + 1);
}

/* Escapes for HELP (backslash, newline) or label values (and quotes). */
static void put_escaped(struct p2p_metrics_text *t, const char *s, bool quotes)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            put_str(t, "\\\\");
        else if (*s == '\n')
            put_str(t, "\\n");
        else if (quotes && *s == '"')
            put_str(t, "\\\"");
        else
            put(t, s, 1);
    }
}

void p2p_metrics_text_put(struct p2p_metrics_text *t, const char *s, size_t n)
{
    put(t, s, n);
}

void p2p_metrics_text_put_str(struct p2p_metrics_text *t, const char *s)
{
    put_str(t, s);
}

void p2p_metrics_text_put_u64(struct p2p_metrics_text *t, uint64_t v)
{
    put_u64(t, v);
}

void p2p_metrics_text_put_label_value(struct p2p_metrics_text *t, const char *s)
{
    put_escaped(t, s, true);
}

#ifdef P2P_DEBUG
/* [a-zA-Z_:][a-zA-Z0-9_:]* (label names: no colon). */
static bool valid_name(const char *s, bool colon)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || (colon && c == ':')))
            return false;
    }
    return true;
}
#endif

void p2p_metrics_text_comment(struct p2p_metrics_text *t, const char *text)
{
    P2P_DASSERT(strchr(text, '\n') == NULL);
    put_str(t, "# ");
    put_str(t, text);
    put_str(t, "\n");
}

void p2p_metrics_text_family(struct p2p_metrics_text *t, const char *name,
                             enum p2p_metric_type type, const char *help)
{
    P2P_DASSERT(valid_name(name, true));
    put_str(t, "# HELP ");
    put_str(t, name);
    put_str(t, " ");
    put_escaped(t, help, false);
    put_str(t, "\n# TYPE ");
    put_str(t, name);
    put_str(t, " ");
    put_str(t, p2p_metric_type_name(type));
    put_str(t, "\n");
}

void p2p_metrics_text_sample(struct p2p_metrics_text *t, const char *name,
                             const char *label, const char *label_value,
                             uint64_t value)
{
    P2P_DASSERT(valid_name(name, true));
    put_str(t, name);
    if (label != NULL) {
        P2P_DASSERT(valid_name(label, false) && label_value != NULL);
        put_str(t, "{");
        put_str(t, label);
        put_str(t, "=\"");
        put_escaped(t, label_value, true);
        put_str(t, "\"}");
    }
    put_str(t, " ");
    put_u64(t, value);
    put_str(t, "\n");
}

void p2p_metrics_text_histogram(struct p2p_metrics_text *t,
                                const struct p2p_hist_spec *spec,
                                const struct p2p_histogram *hist)
{
    P2P_ASSERT(spec->bounds_count <= P2P_HIST_BOUNDS_MAX);
    p2p_metrics_text_family(t, spec->name, P2P_METRIC_HISTOGRAM, spec->help);
    uint64_t cumulative = 0;
    for (uint32_t b = 0; b <= spec->bounds_count; b++) {
        cumulative += hist->buckets[b];
        put_str(t, spec->name);
        put_str(t, "_bucket{le=\"");
        if (b < spec->bounds_count)
            put_seconds(t, spec->bounds_ns[b]);
        else
            put_str(t, "+Inf");
        put_str(t, "\"} ");
        put_u64(t, cumulative);
        put_str(t, "\n");
    }
    P2P_DASSERT(cumulative == hist->count);
    put_str(t, spec->name);
    put_str(t, "_sum ");
    put_seconds(t, hist->sum_ns);
    put_str(t, "\n");
    put_str(t, spec->name);
    put_str(t, "_count ");
    put_u64(t, hist->count);
    put_str(t, "\n");
}

int p2p_metrics_text_finish(const struct p2p_metrics_text *t, size_t *len)
{
    *len = t->len;
    if (t->len > t->cap)
        return P2P_ERR_LIMIT;
    if (t->len < t->cap)
        t->buf[t->len] = '\0';
    return 0;
}

/* ---- the node's families ---- */

static void gauge(struct p2p_metrics_text *t, const char *name,
                  const char *help, uint64_t value)
{
    p2p_metrics_text_family(t, name, P2P_METRIC_GAUGE, help);
    p2p_metrics_text_sample(t, name, NULL, NULL, value);
}

static void write_gauges(struct p2p_metrics_text *t, const struct p2p_gauges *g)
{
    static const char *const sections[P2P_POOL_SECTIONS] = {
        [P2P_POOL_UNVALIDATED] = "unvalidated",
        [P2P_POOL_VALIDATED] = "validated",
    };
    p2p_metrics_text_family(t, "p2p_pool_artifacts", P2P_METRIC_GAUGE,
                            "Artifacts in each pool section.");
    for (int s = 0; s < P2P_POOL_SECTIONS; s++)
        p2p_metrics_text_sample(t, "p2p_pool_artifacts", "section", sections[s],
                                g->pool_artifacts[s]);
    p2p_metrics_text_family(t, "p2p_pool_bytes", P2P_METRIC_GAUGE,
                            "Artifact body bytes in each pool section.");
    for (int s = 0; s < P2P_POOL_SECTIONS; s++)
        p2p_metrics_text_sample(t, "p2p_pool_bytes", "section", sections[s],
                                g->pool_bytes[s]);
    p2p_metrics_text_family(t, "p2p_connections", P2P_METRIC_GAUGE,
                            "Peer connections by state: up, dialing, "
                            "waiting to redial.");
    p2p_metrics_text_sample(t, "p2p_connections", "state", "up", g->conns_up);
    p2p_metrics_text_sample(t, "p2p_connections", "state", "dialing",
                            g->conns_dialing);
    p2p_metrics_text_sample(t, "p2p_connections", "state", "waiting",
                            g->conns_waiting);
    gauge(t, "p2p_banned_peers", "Peers banned for misbehaviour right now.",
          g->peers_banned);
    gauge(t, "p2p_streams_open", "Open streams, both directions.",
          g->streams_open);
    gauge(t, "p2p_downloads_pending",
          "Downloads in progress (waiting, fetching or backing off).",
          g->downloads_pending);
    gauge(t, "p2p_fetches_inflight", "Fetch requests awaiting an answer.",
          g->fetches_inflight);
    gauge(t, "p2p_slots_active",
          "Sender slots in use (artifacts being broadcast).", g->slots_active);
    gauge(t, "p2p_slot_transmissions",
          "Slot updates in flight or awaiting a retry, over every peer.",
          g->transmissions);
    gauge(t, "p2p_topology_version", "Latest registry version applied.",
          g->topology_version);
    gauge(t, "p2p_topology_members", "Members of the latest registry version.",
          g->topology_members);
    gauge(t, "p2p_topology_earliest_version",
          "Earliest registry version in use (the node's clients still "
          "reference it).",
          g->topology_earliest_version);
    gauge(t, "p2p_topology_members_in_use",
          "Members of any registry version in use: those connected to.",
          g->topology_members_in_use);
    gauge(t, "p2p_state_sync_height",
          "Height of the state being synced; 0 when no sync runs.",
          g->state_sync_height);
    gauge(t, "p2p_state_sync_chunks",
          "Chunks of the state being synced (0 until its manifest is held).",
          g->state_sync_chunks_total);
    gauge(t, "p2p_state_sync_chunks_held",
          "Chunks of the state being synced already held (fetched or "
          "reused).",
          g->state_sync_chunks_held);
    gauge(t, "p2p_state_sync_bytes", "Bytes of the state being synced.",
          g->state_sync_bytes_total);
    gauge(t, "p2p_state_sync_bytes_held",
          "Bytes of the state being synced already held.",
          g->state_sync_bytes_held);
    p2p_metrics_text_family(t, "p2p_core_memory_bytes", P2P_METRIC_GAUGE,
                            "Live bytes core holds, by module (p2p_mem).");
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++)
        p2p_metrics_text_sample(t, "p2p_core_memory_bytes", "module",
                                p2p_mem_module_name((enum p2p_mem_module)m),
                                g->mem_bytes[m]);
    gauge(t, "p2p_core_memory_peak_bytes",
          "Highest live core bytes seen since the node started.",
          g->mem_peak_bytes);
}

/* The state chunks' compression ratio: bytes received over their bytes
 * on the wire, with three decimals by integer arithmetic (0 before the
 * first chunk). */
static void write_compression_ratio(struct p2p_metrics_text *t,
                                    const struct p2p_metrics *m)
{
    static const char name[] = "p2p_state_chunk_compression_ratio";
    p2p_metrics_text_family(
        t, name, P2P_METRIC_GAUGE,
        "State chunks received: their bytes over their bytes on the wire "
        "(1 when every chunk came raw; 0 before the first).");
    uint64_t milli = p2p_metrics_ratio_milli(
        m->state_chunk_bytes_received, m->state_chunk_wire_bytes_received);
    char frac[5] = {'.', (char)('0' + milli / 100 % 10),
                    (char)('0' + milli / 10 % 10), (char)('0' + milli % 10),
                    '\0'};
    p2p_metrics_text_put_str(t, name);
    p2p_metrics_text_put_str(t, " ");
    p2p_metrics_text_put_u64(t, milli / 1000);
    p2p_metrics_text_put_str(t, frac);
    p2p_metrics_text_put_str(t, "\n");
}

uint64_t p2p_metrics_ratio_milli(uint64_t num, uint64_t den)
{
    if (den == 0)
        return 0;
    /* num * 1000 / den, rounded, without overflow for any num < 2^54. */
    if (num > UINT64_MAX / 1000)
        return num / den * 1000;
    return (num * 1000 + den / 2) / den;
}

void p2p_metrics_write_node(struct p2p_metrics_text *t,
                            const struct p2p_metrics *m,
                            const struct p2p_gauges *g,
                            const struct p2p_histogram *hists)
{
    for (uint32_t i = 0; i < P2P_COUNTERS_COUNT; i++) {
        const struct p2p_counter_spec *c = &counters[i];
        p2p_metrics_text_family(t, c->name, P2P_METRIC_COUNTER, c->help);
        p2p_metrics_text_sample(t, c->name, NULL, NULL,
                                p2p_counter_value(m, i));
    }
    write_gauges(t, g);
    write_compression_ratio(t, m);
    for (int h = 0; h < P2P_HISTS_COUNT; h++)
        p2p_metrics_text_histogram(t, p2p_hist_spec(h), &hists[h]);
}
