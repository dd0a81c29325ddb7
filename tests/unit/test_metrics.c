/* The metrics registry (core/metrics_registry.c): names and types, counter
 * offsets, histogram bucket edges, gauges from node state, the exact text
 * exposition of a small node, P2P_ERR_LIMIT on a small buffer, and that
 * formatting allocates nothing. */
#include <stdio.h>

#include "conn_harness.h"
#include "core/metrics_registry.h"

static const uint8_t small_body[100] = {1, 2, 3};
static uint8_t big_body[4096] = {7};

#define TEXT_CAP (1u << 16)

static bool name_chars_ok(const char *s)
{
    if (*s == '\0' || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Every counter is a distinct p2p_metrics field with a conventional
 * name; every histogram has increasing bounds and a _seconds name. */
START_TEST(registry_names_follow_conventions)
{
    ck_assert_uint_eq(P2P_COUNTERS_COUNT * sizeof(uint64_t),
                      sizeof(struct p2p_metrics));
    bool seen[P2P_COUNTERS_COUNT] = {false};
    for (uint32_t i = 0; i < P2P_COUNTERS_COUNT; i++) {
        const struct p2p_counter_spec *c = p2p_counter_spec(i);
        ck_assert_msg(name_chars_ok(c->name), "bad name %s", c->name);
        ck_assert_msg(strncmp(c->name, "p2p_", 4) == 0, "%s", c->name);
        ck_assert_msg(ends_with(c->name, "_total"), "%s", c->name);
        ck_assert(c->help != NULL && c->help[0] != '\0');
        ck_assert_uint_eq(c->offset % sizeof(uint64_t), 0);
        size_t field = c->offset / sizeof(uint64_t);
        ck_assert_uint_lt(field, P2P_COUNTERS_COUNT);
        ck_assert_msg(!seen[field], "%s names a field twice", c->name);
        seen[field] = true;
        for (uint32_t j = 0; j < i; j++)
            ck_assert_str_ne(p2p_counter_spec(j)->name, c->name);
    }
    for (int h = 0; h < P2P_HISTS_COUNT; h++) {
        const struct p2p_hist_spec *s = p2p_hist_spec((enum p2p_hist)h);
        ck_assert(name_chars_ok(s->name) && ends_with(s->name, "_seconds"));
        ck_assert(s->bounds_count > 0 && s->bounds_count <= P2P_HIST_BOUNDS_MAX);
        for (uint32_t b = 1; b < s->bounds_count; b++)
            ck_assert_uint_gt(s->bounds_ns[b], s->bounds_ns[b - 1]);
    }
    ck_assert_str_eq(p2p_hist_spec(P2P_HIST_DOWNLOAD)->name,
                     "p2p_download_duration_seconds");
    ck_assert_str_eq(p2p_hist_spec(P2P_HIST_UPDATE_ACK)->name,
                     "p2p_update_ack_seconds");
    ck_assert_str_eq(p2p_metric_type_name(P2P_METRIC_COUNTER), "counter");
    ck_assert_str_eq(p2p_metric_type_name(P2P_METRIC_GAUGE), "gauge");
    ck_assert_str_eq(p2p_metric_type_name(P2P_METRIC_HISTOGRAM), "histogram");
}
END_TEST

START_TEST(counter_values_read_their_fields)
{
    struct p2p_metrics m;
    for (size_t k = 0; k < P2P_COUNTERS_COUNT; k++) {
        uint64_t v = 1000 + 3 * k;
        memcpy((char *)&m + k * sizeof(v), &v, sizeof(v));
    }
    for (uint32_t i = 0; i < P2P_COUNTERS_COUNT; i++)
        ck_assert_uint_eq(p2p_counter_value(&m, i),
                          1000 + 3 * (p2p_counter_spec(i)->offset / 8));
    m.artifacts_received = 77;
    bool found = false;
    for (uint32_t i = 0; i < P2P_COUNTERS_COUNT; i++)
        if (strcmp(p2p_counter_spec(i)->name,
                   "p2p_artifacts_delivered_total") == 0) {
            ck_assert_uint_eq(p2p_counter_value(&m, i), 77);
            found = true;
        }
    ck_assert(found);
}
END_TEST

static uint32_t bucket_of(enum p2p_hist which, uint64_t value_ns)
{
    struct p2p_histogram h;
    memset(&h, 0, sizeof(h));
    p2p_histogram_observe(&h, which, value_ns);
    ck_assert_uint_eq(h.count, 1);
    ck_assert_uint_eq(h.sum_ns, value_ns);
    for (uint32_t b = 0; b <= P2P_HIST_BOUNDS_MAX; b++)
        if (h.buckets[b] == 1)
            return b;
    ck_abort_msg("no bucket counted %llu", (unsigned long long)value_ns);
    return 0;
}

/* le is inclusive: a value equal to a bound is in that bound's bucket,
 * one nanosecond more is in the next; above the last bound is +Inf. */
START_TEST(histogram_bucket_edges)
{
    for (int which = 0; which < P2P_HISTS_COUNT; which++) {
        const struct p2p_hist_spec *s = p2p_hist_spec((enum p2p_hist)which);
        ck_assert_uint_eq(bucket_of((enum p2p_hist)which, 0), 0);
        for (uint32_t b = 0; b < s->bounds_count; b++) {
            uint64_t bound = s->bounds_ns[b];
            ck_assert_uint_eq(bucket_of((enum p2p_hist)which, bound - 1), b);
            ck_assert_uint_eq(bucket_of((enum p2p_hist)which, bound), b);
            ck_assert_uint_eq(bucket_of((enum p2p_hist)which, bound + 1), b + 1);
        }
        ck_assert_uint_eq(bucket_of((enum p2p_hist)which, UINT64_MAX),
                          s->bounds_count);
    }
    /* The sum saturates rather than wraps. */
    struct p2p_histogram h;
    memset(&h, 0, sizeof(h));
    p2p_histogram_observe(&h, P2P_HIST_DOWNLOAD, UINT64_MAX - 5);
    p2p_histogram_observe(&h, P2P_HIST_DOWNLOAD, 5);
    ck_assert_uint_eq(h.sum_ns, UINT64_MAX);
    p2p_histogram_observe(&h, P2P_HIST_DOWNLOAD, 1);
    ck_assert_uint_eq(h.sum_ns, UINT64_MAX);
    ck_assert_uint_eq(h.count, 3);
}
END_TEST

/* Seconds without trailing zeros, cumulative buckets, escaping. */
START_TEST(writer_formats_and_escapes)
{
    static const struct p2p_hist_spec spec = {
        "t_seconds", "a\\b\nc", 4,
        {1, P2P_NS_PER_S, 1500 * P2P_NS_PER_MS, 123456789012ull}};
    struct p2p_histogram hist;
    memset(&hist, 0, sizeof(hist));
    hist.buckets[0] = 1;
    hist.buckets[2] = 2;
    hist.buckets[4] = 1;
    hist.count = 4;
    hist.sum_ns = 2 * P2P_NS_PER_S + 1;
    char buf[1024];
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, buf, sizeof(buf));
    p2p_metrics_text_comment(&t, "hello");
    p2p_metrics_text_histogram(&t, &spec, &hist);
    p2p_metrics_text_family(&t, "x_total", P2P_METRIC_COUNTER, "plain");
    p2p_metrics_text_sample(&t, "x_total", "l", "q\"b\\n\n", UINT64_MAX);
    p2p_metrics_text_sample(&t, "x_total", NULL, NULL, 0);
    size_t len;
    ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
    static const char want[] =
        "# hello\n"
        "# HELP t_seconds a\\\\b\\nc\n"
        "# TYPE t_seconds histogram\n"
        "t_seconds_bucket{le=\"0.000000001\"} 1\n"
        "t_seconds_bucket{le=\"1\"} 1\n"
        "t_seconds_bucket{le=\"1.5\"} 3\n"
        "t_seconds_bucket{le=\"123.456789012\"} 3\n"
        "t_seconds_bucket{le=\"+Inf\"} 4\n"
        "t_seconds_sum 2.000000001\n"
        "t_seconds_count 4\n"
        "# HELP x_total plain\n"
        "# TYPE x_total counter\n"
        "x_total{l=\"q\\\"b\\\\n\\n\"} 18446744073709551615\n"
        "x_total 0\n";
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_str_eq(buf, want);
}
END_TEST

/* A node that pushed one artifact (acked after 30 ms), fetched an
 * advertised one (served after 120 ms), validated it and is relaying it. */
static void small_node(struct harness *h)
{
    h_init(h, 1);
    ck_assert_int_eq(p2p_node_insert(h->node, h->now, P2P_KIND_PUSH,
                                     small_body, sizeof(small_body), NULL), 0);
    uint64_t stream = h_find(h, P2P_ACT_STREAM_OPEN, -1, 0)->stream_id;
    h_clear(h);
    h_advance(h, 30 * P2P_NS_PER_MS);
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    ck_assert_int_eq(h_respond(h, 1, stream, 200, &ack.base), 0);
    struct p2p_artifact_id id;
    p2p_id_of(big_body, sizeof(big_body), &id);
    ck_assert_int_eq(h_advert(h, 1, 0, 1, &id, sizeof(big_body)), 0);
    struct p2p_action fetch =
        *h_find(h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
    h_clear(h);
    h_advance(h, 120 * P2P_NS_PER_MS);
    ck_assert_int_eq(h_serve(h, &fetch, big_body, sizeof(big_body)), 0);
    h_clear(h);
    ck_assert_int_eq(p2p_node_validate(h->node, h->now, &id, true), 0);
    h_clear(h);
}

/* The exposition of small_node(), byte for byte; only the allocator's
 * byte counts (which follow struct layouts) are filled in from p2p_mem. */
static const char small_node_text[] =
    "# HELP p2p_artifacts_delivered_total Artifacts from peers that entered the unvalidated pool (delivered to the client).\n"
    "# TYPE p2p_artifacts_delivered_total counter\n"
    "p2p_artifacts_delivered_total 1\n"
    "# HELP p2p_artifacts_validated_total Unvalidated artifacts the client accepted into the validated pool.\n"
    "# TYPE p2p_artifacts_validated_total counter\n"
    "p2p_artifacts_validated_total 1\n"
    "# HELP p2p_artifacts_rejected_total Unvalidated artifacts the client rejected.\n"
    "# TYPE p2p_artifacts_rejected_total counter\n"
    "p2p_artifacts_rejected_total 0\n"
    "# HELP p2p_artifacts_removed_total Artifacts purged from the pools by the client.\n"
    "# TYPE p2p_artifacts_removed_total counter\n"
    "p2p_artifacts_removed_total 0\n"
    "# HELP p2p_artifacts_withdrawn_total Unvalidated artifacts dropped before the client took them: every peer that advertised them withdrew them.\n"
    "# TYPE p2p_artifacts_withdrawn_total counter\n"
    "p2p_artifacts_withdrawn_total 0\n"
    "# HELP p2p_artifacts_purged_total Artifacts purged from the pools for a height below the purge height.\n"
    "# TYPE p2p_artifacts_purged_total counter\n"
    "p2p_artifacts_purged_total 0\n"
    "# HELP p2p_pool_full_total Artifacts refused because the unvalidated pool was at its bound.\n"
    "# TYPE p2p_pool_full_total counter\n"
    "p2p_pool_full_total 0\n"
    "# HELP p2p_slot_updates_sent_total Slot updates sent to peers, retransmissions included.\n"
    "# TYPE p2p_slot_updates_sent_total counter\n"
    "p2p_slot_updates_sent_total 2\n"
    "# HELP p2p_slot_updates_acked_total Slot updates a peer acknowledged.\n"
    "# TYPE p2p_slot_updates_acked_total counter\n"
    "p2p_slot_updates_acked_total 1\n"
    "# HELP p2p_slot_updates_retried_total Slot updates scheduled for retransmission after a failure or an error answer.\n"
    "# TYPE p2p_slot_updates_retried_total counter\n"
    "p2p_slot_updates_retried_total 0\n"
    "# HELP p2p_slot_deletions_sent_total Slot deletions sent to peers, retransmissions included (also counted as slot updates sent).\n"
    "# TYPE p2p_slot_deletions_sent_total counter\n"
    "p2p_slot_deletions_sent_total 0\n"
    "# HELP p2p_slot_deletions_superseded_total Slot deletions never sent: a new artifact took the slot while the deletion was held.\n"
    "# TYPE p2p_slot_deletions_superseded_total counter\n"
    "p2p_slot_deletions_superseded_total 0\n"
    "# HELP p2p_slot_updates_received_total Slot updates received from peers.\n"
    "# TYPE p2p_slot_updates_received_total counter\n"
    "p2p_slot_updates_received_total 1\n"
    "# HELP p2p_slot_updates_stale_total Received slot updates older than the one held (acknowledged, ignored).\n"
    "# TYPE p2p_slot_updates_stale_total counter\n"
    "p2p_slot_updates_stale_total 0\n"
    "# HELP p2p_slot_updates_rejected_total Received slot updates with a bad slot id or body (answered 400).\n"
    "# TYPE p2p_slot_updates_rejected_total counter\n"
    "p2p_slot_updates_rejected_total 0\n"
    "# HELP p2p_pushes_received_total Received slot updates that carried an artifact body.\n"
    "# TYPE p2p_pushes_received_total counter\n"
    "p2p_pushes_received_total 0\n"
    "# HELP p2p_adverts_received_total Received slot updates that carried only an artifact id.\n"
    "# TYPE p2p_adverts_received_total counter\n"
    "p2p_adverts_received_total 1\n"
    "# HELP p2p_slot_deletions_received_total Received slot updates that deleted a slot.\n"
    "# TYPE p2p_slot_deletions_received_total counter\n"
    "p2p_slot_deletions_received_total 0\n"
    "# HELP p2p_fetches_started_total Fetch requests sent to an advertiser.\n"
    "# TYPE p2p_fetches_started_total counter\n"
    "p2p_fetches_started_total 1\n"
    "# HELP p2p_fetches_succeeded_total Fetches answered with bytes that match the requested id.\n"
    "# TYPE p2p_fetches_succeeded_total counter\n"
    "p2p_fetches_succeeded_total 1\n"
    "# HELP p2p_fetches_failed_total Fetches that failed (error, timeout, 204, undecodable or wrong bytes).\n"
    "# TYPE p2p_fetches_failed_total counter\n"
    "p2p_fetches_failed_total 0\n"
    "# HELP p2p_id_mismatches_total Fetch answers whose bytes did not hash to the requested id.\n"
    "# TYPE p2p_id_mismatches_total counter\n"
    "p2p_id_mismatches_total 0\n"
    "# HELP p2p_downloads_dropped_total Downloads abandoned: unwanted, no advertiser left, or no room.\n"
    "# TYPE p2p_downloads_dropped_total counter\n"
    "p2p_downloads_dropped_total 0\n"
    "# HELP p2p_downloads_refused_total Adverts for which no download could be made (table or the peer's quota full).\n"
    "# TYPE p2p_downloads_refused_total counter\n"
    "p2p_downloads_refused_total 0\n"
    "# HELP p2p_fetches_served_total Fetch requests answered with an artifact from the validated pool.\n"
    "# TYPE p2p_fetches_served_total counter\n"
    "p2p_fetches_served_total 0\n"
    "# HELP p2p_fetches_not_found_total Fetch requests answered 204 (artifact not held).\n"
    "# TYPE p2p_fetches_not_found_total counter\n"
    "p2p_fetches_not_found_total 0\n"
    "# HELP p2p_streams_refused_total Inbound streams refused: the stream table or the peer's share of it was full.\n"
    "# TYPE p2p_streams_refused_total counter\n"
    "p2p_streams_refused_total 0\n"
    "# HELP p2p_stream_errors_total Streams failed: a bad or oversized frame (either direction), a peer's buffered bytes over its limit, or an inbound read deadline.\n"
    "# TYPE p2p_stream_errors_total counter\n"
    "p2p_stream_errors_total 0\n"
    "# HELP p2p_timers_refused_total Timers refused (timer table full or out of memory).\n"
    "# TYPE p2p_timers_refused_total counter\n"
    "p2p_timers_refused_total 0\n"
    "# HELP p2p_outbox_refused_total Actions that did not fit in the outbox.\n"
    "# TYPE p2p_outbox_refused_total counter\n"
    "p2p_outbox_refused_total 0\n"
    "# HELP p2p_topology_changes_total Registry versions applied.\n"
    "# TYPE p2p_topology_changes_total counter\n"
    "p2p_topology_changes_total 0\n"
    "# HELP p2p_connections_dialed_total Connection dials emitted.\n"
    "# TYPE p2p_connections_dialed_total counter\n"
    "p2p_connections_dialed_total 0\n"
    "# HELP p2p_connections_dial_failed_total Dials the backend reported as failed.\n"
    "# TYPE p2p_connections_dial_failed_total counter\n"
    "p2p_connections_dial_failed_total 0\n"
    "# HELP p2p_connections_established_total Connections established, dialled or accepted.\n"
    "# TYPE p2p_connections_established_total counter\n"
    "p2p_connections_established_total 1\n"
    "# HELP p2p_connections_replaced_total Connections replaced by a newer one to the same peer.\n"
    "# TYPE p2p_connections_replaced_total counter\n"
    "p2p_connections_replaced_total 0\n"
    "# HELP p2p_connections_lost_total Connections the backend reported gone.\n"
    "# TYPE p2p_connections_lost_total counter\n"
    "p2p_connections_lost_total 0\n"
    "# HELP p2p_connections_closed_total Connections closed by this node (peer not a member, or banned).\n"
    "# TYPE p2p_connections_closed_total counter\n"
    "p2p_connections_closed_total 0\n"
    "# HELP p2p_connections_refused_total Connections refused from non-members or banned peers.\n"
    "# TYPE p2p_connections_refused_total counter\n"
    "p2p_connections_refused_total 0\n"
    "# HELP p2p_penalties_total Misbehaviour penalties given to peers.\n"
    "# TYPE p2p_penalties_total counter\n"
    "p2p_penalties_total 0\n"
    "# HELP p2p_peer_bans_total Peers disconnected and banned for misbehaviour.\n"
    "# TYPE p2p_peer_bans_total counter\n"
    "p2p_peer_bans_total 0\n"
    "# HELP p2p_state_adverts_sent_total State adverts (height and root hash of the newest state held) sent to peers.\n"
    "# TYPE p2p_state_adverts_sent_total counter\n"
    "p2p_state_adverts_sent_total 0\n"
    "# HELP p2p_state_adverts_received_total Well-formed state adverts received from peers.\n"
    "# TYPE p2p_state_adverts_received_total counter\n"
    "p2p_state_adverts_received_total 0\n"
    "# HELP p2p_state_syncs_started_total State syncs started: a state newer than the one held was advertised by enough peers.\n"
    "# TYPE p2p_state_syncs_started_total counter\n"
    "p2p_state_syncs_started_total 0\n"
    "# HELP p2p_state_syncs_completed_total State syncs that fetched every chunk and handed the state to the store.\n"
    "# TYPE p2p_state_syncs_completed_total counter\n"
    "p2p_state_syncs_completed_total 0\n"
    "# HELP p2p_state_syncs_cancelled_total State syncs abandoned: no longer needed, or a newer state was advertised.\n"
    "# TYPE p2p_state_syncs_cancelled_total counter\n"
    "p2p_state_syncs_cancelled_total 0\n"
    "# HELP p2p_state_manifests_fetched_total Manifests fetched that matched the advertised root hash.\n"
    "# TYPE p2p_state_manifests_fetched_total counter\n"
    "p2p_state_manifests_fetched_total 0\n"
    "# HELP p2p_state_chunks_requested_total Chunk requests sent.\n"
    "# TYPE p2p_state_chunks_requested_total counter\n"
    "p2p_state_chunks_requested_total 0\n"
    "# HELP p2p_state_chunks_received_total Chunks that matched the manifest and were handed to the store.\n"
    "# TYPE p2p_state_chunks_received_total counter\n"
    "p2p_state_chunks_received_total 0\n"
    "# HELP p2p_state_chunk_bytes_received_total Bytes of the chunks counted by p2p_state_chunks_received_total.\n"
    "# TYPE p2p_state_chunk_bytes_received_total counter\n"
    "p2p_state_chunk_bytes_received_total 0\n"
    "# HELP p2p_state_chunk_wire_bytes_received_total Bytes of the same chunks as they arrived: zstd frames, or the bytes themselves when sent raw.\n"
    "# TYPE p2p_state_chunk_wire_bytes_received_total counter\n"
    "p2p_state_chunk_wire_bytes_received_total 0\n"
    "# HELP p2p_state_chunks_reused_total Chunks the store already held when a sync started (resume after a restart, or unchanged since an older state).\n"
    "# TYPE p2p_state_chunks_reused_total counter\n"
    "p2p_state_chunks_reused_total 0\n"
    "# HELP p2p_state_chunks_failed_total Chunk requests that failed: error, timeout or 204.\n"
    "# TYPE p2p_state_chunks_failed_total counter\n"
    "p2p_state_chunks_failed_total 0\n"
    "# HELP p2p_state_chunks_slow_total Chunk requests failed early because they took far longer than the sync's recent chunks (asked again elsewhere).\n"
    "# TYPE p2p_state_chunks_slow_total counter\n"
    "p2p_state_chunks_slow_total 0\n"
    "# HELP p2p_state_bad_data_total Manifests or chunks whose bytes did not match the root hash or the manifest.\n"
    "# TYPE p2p_state_bad_data_total counter\n"
    "p2p_state_bad_data_total 0\n"
    "# HELP p2p_state_chunks_served_total Chunk and manifest requests answered with the bytes.\n"
    "# TYPE p2p_state_chunks_served_total counter\n"
    "p2p_state_chunks_served_total 0\n"
    "# HELP p2p_state_chunks_served_compressed_total Of those, answers sent as a zstd frame (the others went raw: compression would have saved under 1/32 of the chunk).\n"
    "# TYPE p2p_state_chunks_served_compressed_total counter\n"
    "p2p_state_chunks_served_compressed_total 0\n"
    "# HELP p2p_state_chunks_not_served_total Chunk and manifest requests answered 204 (state not held).\n"
    "# TYPE p2p_state_chunks_not_served_total counter\n"
    "p2p_state_chunks_not_served_total 0\n"
    "# HELP p2p_requests_refused_nomem_total Peer messages this node could not unpack for lack of its own memory (a request reset, a fetch answer dropped); never blamed on the peer.\n"
    "# TYPE p2p_requests_refused_nomem_total counter\n"
    "p2p_requests_refused_nomem_total 0\n"
    "# HELP p2p_pool_artifacts Artifacts in each pool section.\n"
    "# TYPE p2p_pool_artifacts gauge\n"
    "p2p_pool_artifacts{section=\"unvalidated\"} 0\n"
    "p2p_pool_artifacts{section=\"validated\"} 2\n"
    "# HELP p2p_pool_bytes Artifact body bytes in each pool section.\n"
    "# TYPE p2p_pool_bytes gauge\n"
    "p2p_pool_bytes{section=\"unvalidated\"} 0\n"
    "p2p_pool_bytes{section=\"validated\"} 4196\n"
    "# HELP p2p_connections Peer connections by state: up, dialing, waiting to redial.\n"
    "# TYPE p2p_connections gauge\n"
    "p2p_connections{state=\"up\"} 1\n"
    "p2p_connections{state=\"dialing\"} 0\n"
    "p2p_connections{state=\"waiting\"} 0\n"
    "# HELP p2p_banned_peers Peers banned for misbehaviour right now.\n"
    "# TYPE p2p_banned_peers gauge\n"
    "p2p_banned_peers 0\n"
    "# HELP p2p_streams_open Open streams, both directions.\n"
    "# TYPE p2p_streams_open gauge\n"
    "p2p_streams_open 1\n"
    "# HELP p2p_downloads_pending Downloads in progress (waiting, fetching or backing off).\n"
    "# TYPE p2p_downloads_pending gauge\n"
    "p2p_downloads_pending 0\n"
    "# HELP p2p_fetches_inflight Fetch requests awaiting an answer.\n"
    "# TYPE p2p_fetches_inflight gauge\n"
    "p2p_fetches_inflight 0\n"
    "# HELP p2p_slots_active Sender slots in use (artifacts being broadcast).\n"
    "# TYPE p2p_slots_active gauge\n"
    "p2p_slots_active 2\n"
    "# HELP p2p_slot_transmissions Slot updates in flight or awaiting a retry, over every peer.\n"
    "# TYPE p2p_slot_transmissions gauge\n"
    "p2p_slot_transmissions 1\n"
    "# HELP p2p_topology_version Latest registry version applied.\n"
    "# TYPE p2p_topology_version gauge\n"
    "p2p_topology_version 0\n"
    "# HELP p2p_topology_members Members of the latest registry version.\n"
    "# TYPE p2p_topology_members gauge\n"
    "p2p_topology_members 0\n"
    "# HELP p2p_topology_earliest_version Earliest registry version in use (the node's clients still reference it).\n"
    "# TYPE p2p_topology_earliest_version gauge\n"
    "p2p_topology_earliest_version 0\n"
    "# HELP p2p_topology_members_in_use Members of any registry version in use: those connected to.\n"
    "# TYPE p2p_topology_members_in_use gauge\n"
    "p2p_topology_members_in_use 0\n"
    "# HELP p2p_state_sync_height Height of the state being synced; 0 when no sync runs.\n"
    "# TYPE p2p_state_sync_height gauge\n"
    "p2p_state_sync_height 0\n"
    "# HELP p2p_state_sync_chunks Chunks of the state being synced (0 until its manifest is held).\n"
    "# TYPE p2p_state_sync_chunks gauge\n"
    "p2p_state_sync_chunks 0\n"
    "# HELP p2p_state_sync_chunks_held Chunks of the state being synced already held (fetched or reused).\n"
    "# TYPE p2p_state_sync_chunks_held gauge\n"
    "p2p_state_sync_chunks_held 0\n"
    "# HELP p2p_state_sync_bytes Bytes of the state being synced.\n"
    "# TYPE p2p_state_sync_bytes gauge\n"
    "p2p_state_sync_bytes 0\n"
    "# HELP p2p_state_sync_bytes_held Bytes of the state being synced already held.\n"
    "# TYPE p2p_state_sync_bytes_held gauge\n"
    "p2p_state_sync_bytes_held 0\n"
    "# HELP p2p_core_memory_bytes Live bytes core holds, by module (p2p_mem).\n"
    "# TYPE p2p_core_memory_bytes gauge\n"
    "p2p_core_memory_bytes{module=\"pool\"} %zu\n"
    "p2p_core_memory_bytes{module=\"sender\"} %zu\n"
    "p2p_core_memory_bytes{module=\"receiver\"} %zu\n"
    "p2p_core_memory_bytes{module=\"downloader\"} %zu\n"
    "p2p_core_memory_bytes{module=\"streams\"} %zu\n"
    "p2p_core_memory_bytes{module=\"outbox\"} %zu\n"
    "p2p_core_memory_bytes{module=\"wire\"} %zu\n"
    "p2p_core_memory_bytes{module=\"state_sync\"} %zu\n"
    "p2p_core_memory_bytes{module=\"other\"} %zu\n"
    "# HELP p2p_core_memory_peak_bytes Highest live core bytes seen since the node started.\n"
    "# TYPE p2p_core_memory_peak_bytes gauge\n"
    "p2p_core_memory_peak_bytes %zu\n"
    "# HELP p2p_state_chunk_compression_ratio State chunks received: their bytes over their bytes on the wire (1 when every chunk came raw; 0 before the first).\n"
    "# TYPE p2p_state_chunk_compression_ratio gauge\n"
    "p2p_state_chunk_compression_ratio 0.000\n"
    "# HELP p2p_download_duration_seconds Time from a download's creation (first advert) to its fetched artifact entering the unvalidated pool.\n"
    "# TYPE p2p_download_duration_seconds histogram\n"
    "p2p_download_duration_seconds_bucket{le=\"0.005\"} 0\n"
    "p2p_download_duration_seconds_bucket{le=\"0.01\"} 0\n"
    "p2p_download_duration_seconds_bucket{le=\"0.025\"} 0\n"
    "p2p_download_duration_seconds_bucket{le=\"0.05\"} 0\n"
    "p2p_download_duration_seconds_bucket{le=\"0.1\"} 0\n"
    "p2p_download_duration_seconds_bucket{le=\"0.25\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"0.5\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"1\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"2.5\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"5\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"10\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"30\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"60\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"120\"} 1\n"
    "p2p_download_duration_seconds_bucket{le=\"+Inf\"} 1\n"
    "p2p_download_duration_seconds_sum 0.12\n"
    "p2p_download_duration_seconds_count 1\n"
    "# HELP p2p_update_ack_seconds Time from a slot update's first transmission to a peer until that peer acknowledged it, retransmissions included.\n"
    "# TYPE p2p_update_ack_seconds histogram\n"
    "p2p_update_ack_seconds_bucket{le=\"0.005\"} 0\n"
    "p2p_update_ack_seconds_bucket{le=\"0.01\"} 0\n"
    "p2p_update_ack_seconds_bucket{le=\"0.025\"} 0\n"
    "p2p_update_ack_seconds_bucket{le=\"0.05\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"0.1\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"0.25\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"0.5\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"1\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"2.5\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"5\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"10\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"30\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"60\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"120\"} 1\n"
    "p2p_update_ack_seconds_bucket{le=\"+Inf\"} 1\n"
    "p2p_update_ack_seconds_sum 0.03\n"
    "p2p_update_ack_seconds_count 1\n";

START_TEST(small_node_exposition_is_exact)
{
    struct harness h;
    small_node(&h);
    static char got[TEXT_CAP], want[TEXT_CAP];
    size_t len;
    ck_assert_int_eq(p2p_node_metrics_format(h.node, h.now, got, sizeof(got),
                                             &len), 0);
    ck_assert_uint_eq(strlen(got), len);
    const size_t *mb = h.mem.module_bytes;
    int n = snprintf(want, sizeof(want), small_node_text, mb[0], mb[1], mb[2],
                     mb[3], mb[4], mb[5], mb[6], mb[7], mb[8],
                     h.mem.bytes_peak);
    ck_assert_int_gt(n, 0);
    size_t at = 0;
    while (got[at] != '\0' && got[at] == want[at])
        at++;
    size_t line = at;
    while (line > 0 && got[line - 1] != '\n')
        line--;
    ck_assert_msg(got[at] == want[at], "exposition differs at byte %zu:\n"
                  "got:  %.80s\nwant: %.80s", at, got + line, want + line);
    ck_assert_uint_eq(len, (size_t)n);
    h_fini(&h);
}
END_TEST

/* Below the size the text needs: P2P_ERR_LIMIT, the size needed, and not
 * one byte written past cap. At the size: the text, without a NUL; one
 * more: with it. */
START_TEST(small_buffer_is_refused)
{
    struct harness h;
    small_node(&h);
    size_t need;
    ck_assert_int_eq(p2p_node_metrics_format(h.node, h.now, NULL, 0, &need),
                     P2P_ERR_LIMIT);
    ck_assert_uint_gt(need, 1000);
    static char full[TEXT_CAP], buf[TEXT_CAP];
    size_t len;
    ck_assert_int_eq(p2p_node_metrics_format(h.node, h.now, full, sizeof(full),
                                             &len), 0);
    ck_assert_uint_eq(len, need);
    const size_t caps[] = {1, 2, need / 2, need - 1, need, need + 1};
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        size_t cap = caps[k];
        memset(buf, 0xAA, sizeof(buf));
        int rc = p2p_node_metrics_format(h.node, h.now, buf, cap, &len);
        ck_assert_uint_eq(len, need);
        ck_assert_int_eq(rc, cap < need ? P2P_ERR_LIMIT : 0);
        size_t written = cap < need ? cap : need;
        ck_assert_int_eq(memcmp(buf, full, written), 0);
        if (cap == need + 1)
            ck_assert_int_eq(buf[need], '\0');
        for (size_t i = cap == need + 1 ? cap : written; i < cap + 64; i++)
            ck_assert_int_eq((unsigned char)buf[i], 0xAA);
    }
    h_fini(&h);
}
END_TEST

/* Formatting and gauges allocate nothing, even when every allocation
 * would fail; the node still frees everything (h_fini checks). */
START_TEST(formatting_allocates_nothing)
{
    struct harness h;
    small_node(&h);
    uint64_t allocs = h.mem.allocs;
    size_t bytes = h.mem.bytes;
    h.mem.fail_at = allocs + 1;
    static char buf[TEXT_CAP];
    size_t len;
    ck_assert_int_eq(p2p_node_metrics_format(h.node, h.now, buf, sizeof(buf),
                                             &len), 0);
    ck_assert_int_eq(p2p_node_metrics_format(h.node, h.now, buf, 10, &len),
                     P2P_ERR_LIMIT);
    struct p2p_gauges g;
    p2p_node_gauges(h.node, h.now, &g);
    ck_assert_uint_eq(h.mem.allocs, allocs);
    ck_assert_uint_eq(h.mem.bytes, bytes);
    ck_assert_uint_eq(g.mem_bytes_total, bytes);
    h.mem.fail_at = 0;
    h_fini(&h);
}
END_TEST

/* Download durations run from the download's creation (the first advert)
 * to the fetched artifact entering the unvalidated pool. */
START_TEST(download_duration_is_observed)
{
    static const struct {
        p2p_time delay_ns;
        uint32_t bucket;
    } cases[] = {
        {0, 0},
        {100 * P2P_NS_PER_MS, 4},      /* le 0.1, inclusive */
        {100 * P2P_NS_PER_MS + 1, 5},  /* le 0.25 */
        {3 * P2P_NS_PER_S, 9},         /* le 5 */
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct harness h;
        h_init(&h, 1);
        struct p2p_artifact_id id;
        p2p_id_of(big_body, sizeof(big_body), &id);
        ck_assert_int_eq(h_advert(&h, 1, 0, 1, &id, sizeof(big_body)), 0);
        struct p2p_action fetch =
            *h_find(&h, P2P_ACT_STREAM_OPEN, P2P_ROUTE_ARTIFACT_RPC, 0);
        h_clear(&h);
        h.now += cases[k].delay_ns; /* no timer is due before 5 s */
        ck_assert_int_eq(h_serve(&h, &fetch, big_body, sizeof(big_body)), 0);
        const struct p2p_histogram *d =
            p2p_node_histogram(h.node, P2P_HIST_DOWNLOAD);
        ck_assert_uint_eq(d->count, 1);
        ck_assert_uint_eq(d->sum_ns, cases[k].delay_ns);
        ck_assert_uint_eq(d->buckets[cases[k].bucket], 1);
        ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_received, 1);
        h_clear(&h);
        h_fini(&h);
    }
    /* A pushed artifact involves no download. */
    struct harness h;
    h_init(&h, 1);
    ck_assert_int_eq(h_push(&h, 1, 0, 1, small_body, sizeof(small_body)), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->artifacts_received, 1);
    ck_assert_uint_eq(p2p_node_histogram(h.node, P2P_HIST_DOWNLOAD)->count, 0);
    h_clear(&h);
    h_fini(&h);
}
END_TEST

/* Ack times run from the update's first transmission to the peer, so a
 * retry's backoff is part of them. */
START_TEST(update_ack_is_observed_from_first_send)
{
    struct p2p_config c;
    p2p_config_default(&c, 0, 42);
    c.update_backoff.jitter_pct = 0;
    struct harness h;
    h_init_cfg(&h, &c, 2);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), NULL), 0);
    uint64_t s1 = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->stream_id;
    uint64_t s2 = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 1)->stream_id;
    p2p_node_id p1 = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0)->peer;
    p2p_node_id p2 = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 1)->peer;
    h_clear(&h);
    P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
    /* Peer p1 acks at exactly 5 ms: the first bucket (le 0.005). */
    h.now += 5 * P2P_NS_PER_MS;
    ck_assert_int_eq(h_respond(&h, p1, s1, 200, &ack.base), 0);
    const struct p2p_histogram *u =
        p2p_node_histogram(h.node, P2P_HIST_UPDATE_ACK);
    ck_assert_uint_eq(u->count, 1);
    ck_assert_uint_eq(u->buckets[0], 1);
    /* Peer p2 refuses at 10 ms, the retry goes at 260 ms, the ack comes
     * 5 ms later: 265 ms since the first send (le 0.5). */
    h.now += 5 * P2P_NS_PER_MS;
    ck_assert_int_eq(h_respond(&h, p2, s2, 400, NULL), 0);
    h_advance(&h, 250 * P2P_NS_PER_MS);
    const struct p2p_action *retry = h_find(&h, P2P_ACT_STREAM_OPEN, -1, 0);
    ck_assert_ptr_nonnull(retry);
    uint64_t s3 = retry->stream_id;
    h_clear(&h);
    h.now += 5 * P2P_NS_PER_MS;
    ck_assert_int_eq(h_respond(&h, p2, s3, 200, &ack.base), 0);
    ck_assert_uint_eq(u->count, 2);
    ck_assert_uint_eq(u->buckets[6], 1);
    ck_assert_uint_eq(u->sum_ns, 5 * P2P_NS_PER_MS + 265 * P2P_NS_PER_MS);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->updates_acked, 2);
    h_fini(&h);
}
END_TEST

/* Gauges follow the node's state: pools, slots, transmissions, streams,
 * connections by state, bans (ending exactly at banned_until), memory. */
START_TEST(gauges_follow_node_state)
{
    struct harness h;
    ch_init(&h, 0);
    static const p2p_node_id ids[] = {0, 1, 2, 3};
    ck_assert_int_eq(ch_topology(&h, 1, ids, 4), 0);
    h_clear(&h);
    struct p2p_gauges g;
    p2p_node_gauges(h.node, h.now, &g);
    ck_assert_uint_eq(g.conns_dialing, 3);
    ck_assert_uint_eq(g.conns_up + g.conns_waiting, 0);
    ck_assert_uint_eq(g.topology_version, 1);
    ck_assert_uint_eq(g.topology_members, 4);
    ch_up(&h, 1);
    ch_up(&h, 3);
    ck_assert_int_eq(p2p_node_on_dial_failed(h.node, h.now, 2), 0);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, small_body,
                                     sizeof(small_body), NULL), 0);
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_ADVERT, big_body,
                                     sizeof(big_body), NULL), 0);
    h_clear(&h);
    p2p_node_gauges(h.node, h.now, &g);
    ck_assert_uint_eq(g.conns_up, 2);
    ck_assert_uint_eq(g.conns_dialing, 0);
    ck_assert_uint_eq(g.conns_waiting, 1);
    ck_assert_uint_eq(g.pool_artifacts[P2P_POOL_VALIDATED], 2);
    ck_assert_uint_eq(g.pool_bytes[P2P_POOL_VALIDATED],
                      sizeof(small_body) + sizeof(big_body));
    ck_assert_uint_eq(g.pool_artifacts[P2P_POOL_UNVALIDATED], 0);
    ck_assert_uint_eq(g.slots_active, 2);
    ck_assert_uint_eq(g.transmissions, 4);
    ck_assert_uint_eq(g.streams_open, 4);
    ck_assert_uint_eq(g.downloads_pending, 0);
    ck_assert_uint_eq(g.peers_banned, 0);
    ck_assert_uint_eq(g.mem_bytes_total, h.mem.bytes);
    ck_assert_uint_eq(g.mem_peak_bytes, h.mem.bytes_peak);
    /* Peer 3 sends bad frames until it is banned. */
    for (int k = 0; k < 4; k++)
        (void)ch_garbage(&h, 3);
    h_clear(&h);
    struct p2p_peer_info info = ch_info(&h, 3);
    ck_assert_uint_eq(info.bans, 1);
    p2p_node_gauges(h.node, h.now, &g);
    ck_assert_uint_eq(g.peers_banned, 1);
    ck_assert_uint_eq(g.conns_up, 1);
    ck_assert_uint_eq(g.conns_waiting, 2); /* 2 backs off, 3 waits its ban */
    ck_assert_uint_eq(g.transmissions, 2);
    p2p_node_gauges(h.node, info.banned_until - 1, &g);
    ck_assert_uint_eq(g.peers_banned, 1);
    p2p_node_gauges(h.node, info.banned_until, &g);
    ck_assert_uint_eq(g.peers_banned, 0);
    h_fini(&h);
}
END_TEST

/* The compression ratio gauge: bytes received over bytes on the wire, in
 * thousandths rounded to nearest, printed with three decimals; 0 before
 * any chunk. */
static const struct {
    uint64_t bytes, wire;
    const char *text;
} ratios[] = {
    {0, 0, "p2p_state_chunk_compression_ratio 0.000\n"},
    {4096, 4096, "p2p_state_chunk_compression_ratio 1.000\n"},
    {2097152, 1000000, "p2p_state_chunk_compression_ratio 2.097\n"},
    {1000, 3, "p2p_state_chunk_compression_ratio 333.333\n"},
    {2000, 3, "p2p_state_chunk_compression_ratio 666.667\n"},
    {1, 2000, "p2p_state_chunk_compression_ratio 0.001\n"},
    {1, 2001, "p2p_state_chunk_compression_ratio 0.000\n"},
};

START_TEST(compression_ratio_has_three_decimals)
{
    struct p2p_metrics m;
    memset(&m, 0, sizeof(m));
    m.state_chunk_bytes_received = ratios[_i].bytes;
    m.state_chunk_wire_bytes_received = ratios[_i].wire;
    struct p2p_gauges g;
    memset(&g, 0, sizeof(g));
    struct p2p_histogram hists[P2P_HISTS_COUNT];
    memset(hists, 0, sizeof(hists));
    static char buf[TEXT_CAP];
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, buf, sizeof(buf));
    p2p_metrics_write_node(&t, &m, &g, hists);
    size_t len;
    ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
    ck_assert_msg(strstr(buf, ratios[_i].text) != NULL, "no \"%s\" in:\n%s",
                  ratios[_i].text, buf);
    ck_assert_uint_eq(
        p2p_metrics_ratio_milli(ratios[_i].bytes, ratios[_i].wire),
        ratios[_i].wire
            ? (ratios[_i].bytes * 1000 + ratios[_i].wire / 2) / ratios[_i].wire
            : 0);
}
END_TEST

/* Structure of the whole exposition: a family's # HELP and # TYPE come
 * once, before its samples; every sample belongs to the family declared
 * last (histograms through _bucket, _sum, _count). */
START_TEST(exposition_is_well_formed)
{
    struct harness h;
    small_node(&h);
    static char buf[TEXT_CAP];
    size_t len;
    ck_assert_int_eq(p2p_node_metrics_format(h.node, h.now, buf, sizeof(buf),
                                             &len), 0);
    ck_assert_int_eq(buf[len - 1], '\n');
    char family[128] = "", type[16] = "";
    char seen[128][128];
    size_t families = 0, samples = 0;
    for (char *line = strtok(buf, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        char name[128];
        if (sscanf(line, "# HELP %127s", name) == 1) {
            for (size_t k = 0; k < families; k++)
                ck_assert_str_ne(seen[k], name);
            ck_assert_uint_lt(families, 128);
            strcpy(seen[families++], name);
            strcpy(family, name);
            type[0] = '\0';
            continue;
        }
        if (sscanf(line, "# TYPE %127s %15s", name, type) == 2) {
            ck_assert_str_eq(name, family);
            continue;
        }
        ck_assert_msg(line[0] != '#', "stray comment: %s", line);
        ck_assert_msg(type[0] != '\0', "sample before TYPE: %s", line);
        size_t n = strlen(family);
        ck_assert_msg(strncmp(line, family, n) == 0, "%s outside %s", line,
                      family);
        const char *rest = line + n;
        if (strcmp(type, "histogram") == 0)
            ck_assert(strncmp(rest, "_bucket{le=\"", 12) == 0 ||
                      strncmp(rest, "_sum ", 5) == 0 ||
                      strncmp(rest, "_count ", 7) == 0);
        else
            ck_assert(rest[0] == ' ' || rest[0] == '{');
        samples++;
    }
    ck_assert_uint_eq(families, P2P_COUNTERS_COUNT + 21 + P2P_HISTS_COUNT);
    ck_assert_uint_gt(samples, families);
    h_fini(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, registry_names_follow_conventions);
    tcase_add_test(tc, counter_values_read_their_fields);
    tcase_add_test(tc, histogram_bucket_edges);
    tcase_add_test(tc, writer_formats_and_escapes);
    tcase_add_test(tc, small_node_exposition_is_exact);
    tcase_add_test(tc, small_buffer_is_refused);
    tcase_add_test(tc, formatting_allocates_nothing);
    tcase_add_test(tc, download_duration_is_observed);
    tcase_add_test(tc, update_ack_is_observed_from_first_send);
    tcase_add_test(tc, gauges_follow_node_state);
    tcase_add_test(tc, exposition_is_well_formed);
    tcase_add_loop_test(tc, compression_ratio_has_three_decimals, 0,
                        (int)(sizeof(ratios) / sizeof(ratios[0])));
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
