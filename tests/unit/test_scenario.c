/* Unit tests for sim/scenario: the example scenario (docs/scenario-format.md) field by
 * field, and a table of malformed scenarios each with the line and message
 * it must fail with (the unit parsers have their own suite,
 * conf/tests/test_conf_units.c). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/scenario.h"
#include "sim/scenario_write.h"

#define MS P2P_NS_PER_MS
#define SEC P2P_NS_PER_S

/* ---- the documented example ------------------------------------------ */

static const char example_yaml[] =
    "name: quickstart\n"
    "seed: 1                      # --seed overrides\n"
    "duration: 60s                # virtual time\n"
    "subnet: {nodes: 13}          # node ids 0..N-1\n"
    "network:\n"
    "  latency: 40ms              # one-way, every link, unless overridden\n"
    "  jitter: 5ms\n"
    "  bandwidth: 1Gbit           # each node's uplink and downlink\n"
    "  loss: 0.5%\n"
    "  links: [{from: 0, to: 1, latency: 120ms}]\n"
    "workload:                    # artifacts the nodes' clients create\n"
    "  - {kind: push,   every: 1s,    size: 2KiB, from: round-robin}\n"
    "  - {kind: advert, rate: 100/s,  size: 1KiB, from: any}\n"
    "  - {kind: advert, every: 10s,   size: 4MiB, from: 3}\n"
    "state:                       # replicated state, for state sync\n"
    "  size: 1GiB                 # bytes per checkpoint\n"
    "  chunk: 1MiB                # chunk size\n"
    "  checkpoint_every: 10s      # every node makes a new checkpoint (height+1)\n"
    "  churn: 5%                  # share of chunks whose content changes per height\n"
    "faults:\n"
    "  - {at: 10s, partition: [[0,1,2,3,4,5],[6,7,8,9,10,11,12]]}\n"
    "  - {at: 20s, heal: all}\n"
    "  - {at: 25s, crash: [3]}\n"
    "  - {at: 35s, restart: [3]}\n"
    "  - {at: 30s, leave: [12]}           # registry change: a new version without 12\n"
    "  - {at: 40s, join: [13]}            # a new member (must state-sync to catch up)\n"
    "  - {at: 5s,  byzantine: {nodes: [4], behaviour: garbage}}\n"
    "    # behaviours: silent, slow-reader, garbage, oversize, advert-flood,\n"
    "    # wrong-bytes, stale-commit, bad-chunks\n"
    "  - {at: 12s, skew: {nodes: [5], offset: 2s, drift: 100ppm}}\n"
    "  - {at: 50s, loss: {links: all, rate: 30%, for: 5s}}\n"
    "expect:\n"
    "  - {delivered: all, within: 5s}     # every artifact to every live honest member\n"
    "  - {state_synced: [13], within: 30s}\n"
    "  - {max_memory_per_node: 64MiB}\n";

static void load_ok(const char *text, struct sim_scenario *sc)
{
    struct sim_scenario_error err;
    int rc = sim_scenario_load_string(text, strlen(text), "test.yaml", sc, &err);
    ck_assert_msg(rc == 0, "load failed (%d): line %d: %s", rc, err.line,
                  err.message);
}

static void check_ids(const uint32_t *ids, size_t count, const uint32_t *want,
                      size_t want_count)
{
    ck_assert_uint_eq(count, want_count);
    for (size_t i = 0; i < count; i++)
        ck_assert_uint_eq(ids[i], want[i]);
}

START_TEST(test_example)
{
    struct sim_scenario sc;
    load_ok(example_yaml, &sc);
    ck_assert_str_eq(sc.name, "quickstart");
    ck_assert_str_eq(sc.path, "test.yaml");
    ck_assert(sc.has_seed);
    ck_assert_uint_eq(sc.seed, 1);
    ck_assert_uint_eq(sc.duration_ns, 60 * SEC);
    ck_assert_uint_eq(sc.nodes, 13);
    ck_assert_uint_eq(sc.node_ids_count, 14); /* join: [13] */

    ck_assert_uint_eq(sc.net.latency_ns, 40 * MS);
    ck_assert_uint_eq(sc.net.jitter_ns, 5 * MS);
    ck_assert_uint_eq(sc.net.bandwidth_bps, 1000000000ULL);
    ck_assert_uint_eq(sc.net.loss_ppm, 5000);
    ck_assert_uint_eq(sc.net.links_count, 1);
    const struct sim_link_override *l = &sc.net.links[0];
    ck_assert_uint_eq(l->from, 0);
    ck_assert_uint_eq(l->to, 1);
    ck_assert(l->has_latency && !l->has_jitter && !l->has_bandwidth && !l->has_loss);
    ck_assert_uint_eq(l->latency_ns, 120 * MS);
    ck_assert(!l->both_directions);
    ck_assert_int_eq(l->line, 10);

    ck_assert_uint_eq(sc.workload_count, 3);
    const struct sim_workload_item *w = sc.workload;
    ck_assert_int_eq(w[0].kind, P2P_KIND_PUSH);
    ck_assert_uint_eq(w[0].interval_ns, SEC);
    ck_assert(!w[0].poisson);
    ck_assert_uint_eq(w[0].size_bytes, 2048);
    ck_assert_uint_eq(w[0].size_max_bytes, 2048);
    ck_assert_int_eq(w[0].from, SIM_FROM_ROUND_ROBIN);
    ck_assert_uint_eq(w[0].start_ns, 0);
    ck_assert_uint_eq(w[0].stop_ns, 60 * SEC);
    ck_assert_int_eq(w[0].line, 12);
    ck_assert_int_eq(w[1].kind, P2P_KIND_ADVERT);
    ck_assert_uint_eq(w[1].interval_ns, 10 * MS);
    ck_assert(w[1].poisson);
    ck_assert_uint_eq(w[1].size_bytes, 1024);
    ck_assert_int_eq(w[1].from, SIM_FROM_ANY);
    ck_assert_int_eq(w[1].line, 13);
    ck_assert_int_eq(w[2].kind, P2P_KIND_ADVERT);
    ck_assert_uint_eq(w[2].interval_ns, 10 * SEC);
    ck_assert(!w[2].poisson);
    ck_assert_uint_eq(w[2].size_bytes, 4 << 20);
    ck_assert_int_eq(w[2].from, SIM_FROM_NODE);
    ck_assert_uint_eq(w[2].from_node, 3);
    ck_assert_int_eq(w[2].line, 14);

    ck_assert(sc.state.present);
    ck_assert_uint_eq(sc.state.size_bytes, 1ULL << 30);
    ck_assert_uint_eq(sc.state.chunk_bytes, 1 << 20);
    ck_assert_uint_eq(sc.state.checkpoint_every_ns, 10 * SEC);
    ck_assert_uint_eq(sc.state.churn_ppm, 50000);

    /* Sorted by time; the file order was 10 20 25 35 30 40 5 12 50 s. */
    static const struct {
        enum sim_fault_kind kind;
        uint64_t at_s;
        int line;
    } want[] = {
        {SIM_FAULT_BYZANTINE, 5, 27}, {SIM_FAULT_PARTITION, 10, 21},
        {SIM_FAULT_SKEW, 12, 30},     {SIM_FAULT_HEAL, 20, 22},
        {SIM_FAULT_CRASH, 25, 23},    {SIM_FAULT_LEAVE, 30, 25},
        {SIM_FAULT_RESTART, 35, 24},  {SIM_FAULT_JOIN, 40, 26},
        {SIM_FAULT_LOSS, 50, 31},
    };
    ck_assert_uint_eq(sc.faults_count, 9);
    for (size_t i = 0; i < 9; i++) {
        ck_assert_int_eq(sc.faults[i].kind, want[i].kind);
        ck_assert_uint_eq(sc.faults[i].at_ns, want[i].at_s * SEC);
        ck_assert_int_eq(sc.faults[i].line, want[i].line);
    }
    const struct sim_fault *f = sc.faults;
    static const uint32_t n4[] = {4}, n5[] = {5}, n3[] = {3}, n12[] = {12},
                          n13[] = {13};
    static const uint32_t g0[] = {0, 1, 2, 3, 4, 5}, g1[] = {6, 7, 8, 9, 10, 11, 12};
    check_ids(f[0].nodes, f[0].nodes_count, n4, 1);
    ck_assert_int_eq(f[0].behaviour, SIM_BYZ_GARBAGE);
    ck_assert_uint_eq(f[1].groups_count, 2);
    check_ids(f[1].groups[0], f[1].group_sizes[0], g0, 6);
    check_ids(f[1].groups[1], f[1].group_sizes[1], g1, 7);
    check_ids(f[2].nodes, f[2].nodes_count, n5, 1);
    ck_assert_int_eq(f[2].skew_offset_ns, 2 * (int64_t)SEC);
    ck_assert_int_eq(f[2].drift_ppm, 100);
    ck_assert_uint_eq(f[3].nodes_count, 0);
    check_ids(f[4].nodes, f[4].nodes_count, n3, 1);
    check_ids(f[5].nodes, f[5].nodes_count, n12, 1);
    check_ids(f[6].nodes, f[6].nodes_count, n3, 1);
    check_ids(f[7].nodes, f[7].nodes_count, n13, 1);
    ck_assert(f[8].loss_all_links);
    ck_assert_uint_eq(f[8].loss_ppm, 300000);
    ck_assert_uint_eq(f[8].for_ns, 5 * SEC);

    ck_assert_uint_eq(sc.expects_count, 3);
    ck_assert_int_eq(sc.expects[0].kind, SIM_EXPECT_DELIVERED);
    ck_assert_uint_eq(sc.expects[0].within_ns, 5 * SEC);
    ck_assert_uint_eq(sc.expects[0].nodes_count, 0);
    ck_assert_int_eq(sc.expects[0].line, 33);
    ck_assert_int_eq(sc.expects[1].kind, SIM_EXPECT_STATE_SYNCED);
    ck_assert_uint_eq(sc.expects[1].within_ns, 30 * SEC);
    check_ids(sc.expects[1].nodes, sc.expects[1].nodes_count, n13, 1);
    ck_assert_int_eq(sc.expects[2].kind, SIM_EXPECT_MAX_MEMORY);
    ck_assert_uint_eq(sc.expects[2].bytes, 64 << 20);
    ck_assert_uint_eq(sc.expects[2].within_ns, 0);

    ck_assert(!sc.protocol.has_push_threshold && !sc.protocol.has_relay &&
              !sc.protocol.has_validation_delay && !sc.protocol.has_artifact_ttl);

    sim_scenario_fini(&sc);
    ck_assert_ptr_null(sc.faults);
    sim_scenario_fini(&sc); /* twice is fine */
}
END_TEST

START_TEST(test_defaults)
{
    static const char text[] = "duration: 1s\nsubnet: {nodes: 1}\n";
    struct sim_scenario sc;
    struct sim_scenario_error err;
    ck_assert_int_eq(sim_scenario_load_string(text, strlen(text), NULL, &sc, &err), 0);
    ck_assert_str_eq(sc.name, "scenario");
    ck_assert_ptr_null(sc.path);
    ck_assert(!sc.has_seed);
    ck_assert_uint_eq(sc.seed, 1);
    ck_assert_uint_eq(sc.nodes, 1);
    ck_assert_uint_eq(sc.node_ids_count, 1);
    ck_assert_uint_eq(sc.net.latency_ns, 40 * MS);
    ck_assert_uint_eq(sc.net.jitter_ns, 0);
    ck_assert_uint_eq(sc.net.bandwidth_bps, 1000000000ULL);
    ck_assert_uint_eq(sc.net.loss_ppm, 0);
    ck_assert_uint_eq(sc.net.links_count, 0);
    ck_assert_int_eq(sc.net.model, SIM_MODEL_MESSAGE);
    ck_assert_uint_eq(sc.net.packet.mtu_bytes, 1500);
    ck_assert_uint_eq(sc.net.packet.queue_bytes, 1 << 20);
    ck_assert_uint_eq(sc.net.packet.reorder_ppm, 0);
    ck_assert_uint_eq(sc.net.packet.reorder_ns, 10 * MS);
    ck_assert_uint_eq(sc.net.packet.duplicate_ppm, 0);
    ck_assert_uint_eq(sc.net.packet.corrupt_ppm, 0);
    ck_assert_uint_eq(sc.workload_count, 0);
    ck_assert(!sc.state.present);
    ck_assert_uint_eq(sc.faults_count, 0);
    ck_assert_uint_eq(sc.expects_count, 0);
    sim_scenario_fini(&sc);

    /* The name defaults to the file's base name. */
    ck_assert_int_eq(sim_scenario_load_string(text, strlen(text),
                                              "dir/sub/my-run.yaml", &sc, &err), 0);
    ck_assert_str_eq(sc.name, "my-run");
    sim_scenario_fini(&sc);
}
END_TEST

START_TEST(test_optional_keys)
{
    static const char text[] =
        "duration: 10s\n"
        "subnet:\n  nodes: 4\n"
        "network:\n"
        "  links:\n"
        "    - {from: 1, to: 2, jitter: 1ms, bandwidth: 10Mbit, loss: 1%, both: true}\n"
        "workload:\n"
        "  - {kind: push, every: 100ms, size: 1KiB, size_max: 3KiB, from: 2,\n"
        "     start: 1s, stop: 9s}\n"
        "state: {size: 100KiB, checkpoint_every: 5s, compressible: 25%}\n"
        "faults:\n"
        "  - {at: 1s, partition: [[0]]}\n"
        "  - {at: 1s, skew: {nodes: [1, 2], offset: -2s}}\n"
        "  - {at: 0s, join: [5, 1003]}\n"
        "  - {at: 10s, crash: [1003]}\n"
        "expect:\n"
        "protocol: {push_threshold: 0, validation_delay: 2ms, artifact_ttl: 1m, relay: advert}\n";
    struct sim_scenario sc;
    load_ok(text, &sc);
    ck_assert_uint_eq(sc.node_ids_count, 1004);
    const struct sim_link_override *l = &sc.net.links[0];
    ck_assert(!l->has_latency && l->has_jitter && l->has_bandwidth && l->has_loss);
    ck_assert_uint_eq(l->jitter_ns, MS);
    ck_assert_uint_eq(l->bandwidth_bps, 10000000);
    ck_assert_uint_eq(l->loss_ppm, 10000);
    ck_assert(l->both_directions);
    const struct sim_workload_item *w = &sc.workload[0];
    ck_assert_uint_eq(w->size_bytes, 1024);
    ck_assert_uint_eq(w->size_max_bytes, 3072);
    ck_assert_uint_eq(w->from_node, 2);
    ck_assert_uint_eq(w->start_ns, SEC);
    ck_assert_uint_eq(w->stop_ns, 9 * SEC);
    ck_assert_uint_eq(sc.state.chunk_bytes, 100 * 1024); /* min(1MiB, size) */
    ck_assert_uint_eq(sc.state.churn_ppm, 0);
    ck_assert_uint_eq(sc.state.compressible_ppm, 250000);
    /* Stable: the two 1s faults keep their file order. */
    ck_assert_int_eq(sc.faults[0].kind, SIM_FAULT_JOIN);
    ck_assert_int_eq(sc.faults[1].kind, SIM_FAULT_PARTITION);
    ck_assert_uint_eq(sc.faults[1].groups_count, 1);
    ck_assert_int_eq(sc.faults[2].kind, SIM_FAULT_SKEW);
    ck_assert_int_eq(sc.faults[2].skew_offset_ns, -2 * (int64_t)SEC);
    ck_assert_int_eq(sc.faults[2].drift_ppm, 0);
    ck_assert_int_eq(sc.faults[3].kind, SIM_FAULT_CRASH);
    ck_assert_uint_eq(sc.faults[3].at_ns, 10 * SEC); /* at == duration is fine */
    ck_assert_uint_eq(sc.expects_count, 0);
    ck_assert(sc.protocol.has_push_threshold);
    ck_assert_uint_eq(sc.protocol.push_threshold_bytes, 0);
    ck_assert_uint_eq(sc.protocol.validation_delay_ns, 2 * MS);
    ck_assert_uint_eq(sc.protocol.artifact_ttl_ns, 60 * SEC);
    ck_assert(sc.protocol.has_relay && sc.protocol.relay_advert);
    sim_scenario_fini(&sc);
}
END_TEST

/* protocol.heights and the heights_purged expectation. */
START_TEST(test_heights)
{
    struct sim_scenario sc;
    load_ok("duration: 10s\nsubnet: {nodes: 4}\n"
            "protocol:\n  heights: {every: 250ms, keep: 3}\n"
            "expect:\n  - {heights_purged: all, within: 2s}\n",
            &sc);
    ck_assert(sc.protocol.has_heights);
    ck_assert_uint_eq(sc.protocol.height_every_ns, 250 * MS);
    ck_assert_uint_eq(sc.protocol.height_keep, 3);
    ck_assert_int_eq(sc.expects[0].kind, SIM_EXPECT_HEIGHTS_PURGED);
    ck_assert_uint_eq(sc.expects[0].within_ns, 2 * SEC);
    sim_scenario_fini(&sc);
    load_ok("duration: 10s\nsubnet: {nodes: 4}\n", &sc);
    ck_assert(!sc.protocol.has_heights);
    sim_scenario_fini(&sc);
    ck_assert_str_eq(sim_scenario_expect_kind_name(SIM_EXPECT_HEIGHTS_PURGED),
                     "heights_purged");
}
END_TEST

/* Many faults at equal times stay in file order after sorting. */
START_TEST(test_fault_sort_stable)
{
    size_t n = 1000, cap = n * 64 + 128, used = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    used += (size_t)snprintf(text + used, cap - used,
                             "duration: 100s\nsubnet: {nodes: 100}\nfaults:\n");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used,
                                 "  - {at: %zus, crash: [%zu]}\n", (i * 7) % 10, i % 100);
    struct sim_scenario sc;
    load_ok(text, &sc);
    ck_assert_uint_eq(sc.faults_count, n);
    for (size_t i = 1; i < n; i++) {
        const struct sim_fault *a = &sc.faults[i - 1], *b = &sc.faults[i];
        ck_assert(a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->line < b->line));
    }
    sim_scenario_fini(&sc);
    free(text);
}
END_TEST

/* ---- the quic model --------------------------------------------------- */

/* network.model and network.packet, every key set. */
START_TEST(test_packet_keys)
{
    struct sim_scenario sc;
    load_ok("duration: 10s\nsubnet: {nodes: 4}\n"
            "network:\n"
            "  model: quic\n"
            "  packet:\n"
            "    mtu: 1200\n"
            "    queue: 64KiB\n"
            "    reorder: 1.5%\n"
            "    reorder_delay: 3ms\n"
            "    duplicate: 0.25%\n"
            "    corrupt: 99.9999%\n",
            &sc);
    ck_assert_int_eq(sc.net.model, SIM_MODEL_QUIC);
    ck_assert_uint_eq(sc.net.packet.mtu_bytes, 1200);
    ck_assert_uint_eq(sc.net.packet.queue_bytes, 64 << 10);
    ck_assert_uint_eq(sc.net.packet.reorder_ppm, 15000);
    ck_assert_uint_eq(sc.net.packet.reorder_ns, 3 * MS);
    ck_assert_uint_eq(sc.net.packet.duplicate_ppm, 2500);
    ck_assert_uint_eq(sc.net.packet.corrupt_ppm, 999999);
    /* The other network keys keep their defaults. */
    ck_assert_uint_eq(sc.net.latency_ns, 40 * MS);
    ck_assert_uint_eq(sc.net.loss_ppm, 0);
    sim_scenario_fini(&sc);

    /* Keys left out keep their defaults; 'message' may be written. */
    load_ok("duration: 10s\nsubnet: {nodes: 4}\n"
            "network: {model: message, packet: {duplicate: 1%}}\n",
            &sc);
    ck_assert_int_eq(sc.net.model, SIM_MODEL_MESSAGE);
    ck_assert_uint_eq(sc.net.packet.duplicate_ppm, 10000);
    ck_assert_uint_eq(sc.net.packet.mtu_bytes, SIM_SCENARIO_DEFAULT_MTU_BYTES);
    ck_assert_uint_eq(sc.net.packet.queue_bytes, SIM_SCENARIO_DEFAULT_QUEUE_BYTES);
    ck_assert_uint_eq(sc.net.packet.reorder_ns, SIM_SCENARIO_DEFAULT_REORDER_NS);
    ck_assert_uint_eq(sc.net.packet.reorder_ppm, 0);
    ck_assert_uint_eq(sc.net.packet.corrupt_ppm, 0);
    sim_scenario_fini(&sc);

    /* An empty packet section is all defaults; a network section without
     * a packet one fills them too. */
    load_ok("duration: 10s\nsubnet: {nodes: 4}\nnetwork:\n  packet:\n", &sc);
    ck_assert_uint_eq(sc.net.packet.mtu_bytes, 1500);
    ck_assert_uint_eq(sc.net.packet.reorder_ns, 10 * MS);
    sim_scenario_fini(&sc);
    load_ok("duration: 10s\nsubnet: {nodes: 4}\nnetwork: {latency: 1ms}\n", &sc);
    ck_assert_uint_eq(sc.net.packet.queue_bytes, 1 << 20);
    ck_assert_int_eq(sc.net.model, SIM_MODEL_MESSAGE);
    sim_scenario_fini(&sc);
}
END_TEST

/* The quic model's faults and behaviours, and their names. */
START_TEST(test_quic_faults)
{
    struct sim_scenario sc;
    load_ok("duration: 10s\nsubnet: {nodes: 4}\n"
            "network: {model: quic}\n"
            "faults:\n"
            "  - {at: 2s, blackhole: {nodes: [1, 3], for: 11s}}\n"
            "  - {at: 1s, nat_rebind: [0, 2]}\n"
            "  - {at: 3s, byzantine: {nodes: [1], behaviour: garbage-datagrams}}\n"
            "  - {at: 4s, byzantine: {nodes: [2], behaviour: handshake-flood}}\n",
            &sc);
    ck_assert_uint_eq(sc.faults_count, 4);
    const struct sim_fault *f = sc.faults;
    static const uint32_t n02[] = {0, 2}, n13[] = {1, 3};
    ck_assert_int_eq(f[0].kind, SIM_FAULT_NAT_REBIND);
    ck_assert_uint_eq(f[0].at_ns, SEC);
    ck_assert_int_eq(f[0].line, 6);
    check_ids(f[0].nodes, f[0].nodes_count, n02, 2);
    ck_assert_int_eq(f[1].kind, SIM_FAULT_BLACKHOLE);
    ck_assert_uint_eq(f[1].at_ns, 2 * SEC);
    ck_assert_uint_eq(f[1].for_ns, 11 * SEC); /* may end after the duration */
    ck_assert_int_eq(f[1].line, 5);
    check_ids(f[1].nodes, f[1].nodes_count, n13, 2);
    ck_assert_int_eq(f[2].kind, SIM_FAULT_BYZANTINE);
    ck_assert_int_eq(f[2].behaviour, SIM_BYZ_GARBAGE_DATAGRAMS);
    ck_assert_int_eq(f[3].behaviour, SIM_BYZ_HANDSHAKE_FLOOD);
    char err[160];
    ck_assert_int_eq(sim_scenario_check_model(&sc, err, sizeof err), 0);
    ck_assert_str_eq(err, "");
    sim_scenario_fini(&sc);

    ck_assert_str_eq(sim_scenario_fault_kind_name(SIM_FAULT_BLACKHOLE), "blackhole");
    ck_assert_str_eq(sim_scenario_fault_kind_name(SIM_FAULT_NAT_REBIND), "nat_rebind");
    ck_assert_str_eq(sim_scenario_fault_kind_name(SIM_FAULT_KINDS_COUNT), "?");
    ck_assert_str_eq(sim_scenario_byzantine_name(SIM_BYZ_GARBAGE_DATAGRAMS),
                     "garbage-datagrams");
    ck_assert_str_eq(sim_scenario_byzantine_name(SIM_BYZ_HANDSHAKE_FLOOD),
                     "handshake-flood");
    ck_assert_str_eq(sim_scenario_byzantine_name(SIM_BYZ_COUNT), "?");
    ck_assert_str_eq(sim_scenario_model_name(SIM_MODEL_MESSAGE), "message");
    ck_assert_str_eq(sim_scenario_model_name(SIM_MODEL_QUIC), "quic");
    /* Which kinds are the quic model's alone. */
    for (int k = 0; k < SIM_FAULT_KINDS_COUNT; k++)
        ck_assert(sim_scenario_fault_quic_only((enum sim_fault_kind)k) ==
                  (k == SIM_FAULT_BLACKHOLE || k == SIM_FAULT_NAT_REBIND));
    for (int b = 0; b < SIM_BYZ_COUNT; b++)
        ck_assert(sim_scenario_byzantine_quic_only((enum sim_byzantine)b) ==
                  (b == SIM_BYZ_GARBAGE_DATAGRAMS || b == SIM_BYZ_HANDSHAKE_FLOOD));
}
END_TEST

START_TEST(test_model_parse)
{
    enum sim_net_model m = SIM_MODEL_MESSAGE;
    ck_assert_int_eq(sim_scenario_model_parse("quic", &m), 0);
    ck_assert_int_eq(m, SIM_MODEL_QUIC);
    ck_assert_int_eq(sim_scenario_model_parse("message", &m), 0);
    ck_assert_int_eq(m, SIM_MODEL_MESSAGE);
    static const char *const bad[] = {"", "QUIC", "quic ", "udp", "messages"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = SIM_MODEL_QUIC;
        ck_assert_int_eq(sim_scenario_model_parse(bad[i], &m), P2P_ERR_INVALID_ARG);
        ck_assert_int_eq(m, SIM_MODEL_QUIC); /* unchanged */
    }
}
END_TEST

/* sim_scenario_check_model: on the message model, the first quic-only
 * fault or behaviour is named with its line; on the quic model (from the
 * file, or set by the caller as --model does), all pass. */
static const struct {
    const char *text;
    const char *msg; /* NULL: passes on the message model too */
} model_cases[] = {
    {"duration: 10s\nsubnet: {nodes: 4}\nfaults:\n  - {at: 1s, crash: [1]}\n"
     "  - {at: 2s, byzantine: {nodes: [2], behaviour: garbage}}\n"
     "network: {packet: {reorder: 1%}}\n",
     NULL},
    {"duration: 10s\nsubnet: {nodes: 4}\nfaults:\n  - {at: 1s, crash: [1]}\n"
     "  - {at: 2s, blackhole: {nodes: [2], for: 1s}}\n"
     "  - {at: 0s, nat_rebind: [3]}\n",
     "line 6: fault 'nat_rebind' needs network.model: quic (or --model quic)"},
    {"duration: 10s\nsubnet: {nodes: 4}\nfaults:\n\n  - {at: 2s, blackhole: {nodes: [2], "
     "for: 1s}}\n",
     "line 5: fault 'blackhole' needs network.model: quic (or --model quic)"},
    {"duration: 10s\nsubnet: {nodes: 4}\nnetwork: {model: message}\nfaults:\n"
     "  - {at: 2s, byzantine: {nodes: [2], behaviour: garbage-datagrams}}\n",
     "line 5: byzantine behaviour 'garbage-datagrams' needs network.model: quic (or "
     "--model quic)"},
    {"duration: 10s\nsubnet: {nodes: 4}\nfaults:\n"
     "  - {at: 2s, byzantine: {nodes: [2], behaviour: silent}}\n"
     "  - {at: 3s, byzantine: {nodes: [1], behaviour: handshake-flood}}\n",
     "line 5: byzantine behaviour 'handshake-flood' needs network.model: quic"},
};

START_TEST(test_check_model)
{
    struct sim_scenario sc;
    char err[160];
    load_ok(model_cases[_i].text, &sc);
    ck_assert_int_eq(sc.net.model, SIM_MODEL_MESSAGE);
    int rc = sim_scenario_check_model(&sc, err, sizeof err);
    if (model_cases[_i].msg == NULL) {
        ck_assert_int_eq(rc, 0);
        ck_assert_str_eq(err, "");
    } else {
        ck_assert_int_eq(rc, P2P_ERR_INVALID_ARG);
        ck_assert_msg(strncmp(err, model_cases[_i].msg, strlen(model_cases[_i].msg)) == 0,
                      "case %d said '%s', want '%s'", _i, err, model_cases[_i].msg);
        /* No buffer: the same verdict. */
        ck_assert_int_eq(sim_scenario_check_model(&sc, NULL, 0), P2P_ERR_INVALID_ARG);
        /* A short buffer: cut, terminated. */
        char small[8];
        ck_assert_int_eq(sim_scenario_check_model(&sc, small, sizeof small),
                         P2P_ERR_INVALID_ARG);
        ck_assert_uint_eq(strlen(small), sizeof small - 1);
        ck_assert(strncmp(small, model_cases[_i].msg, sizeof small - 1) == 0);
    }
    /* What --model quic does: every case passes. */
    sc.net.model = SIM_MODEL_QUIC;
    ck_assert_int_eq(sim_scenario_check_model(&sc, err, sizeof err), 0);
    sim_scenario_fini(&sc);
}
END_TEST

/* The writer keeps the quic model's keys: network.model when quic,
 * network.packet when a key is not at its default (only those keys), the
 * blackhole and nat_rebind faults and the new behaviours; a message
 * scenario with default packet settings gets neither key. Loading the
 * text gives the same scenario back, and writing that the same text. */
static const struct {
    const char *text;
    const char *has[4]; /* lines the written text has */
    const char *lacks[2]; /* strings it must not have */
} write_cases[] = {
    {"duration: 10s\nsubnet: {nodes: 4}\n"
     "network:\n  model: quic\n"
     "  packet: {mtu: 9000, queue: 9000B, reorder: 0.0001%, reorder_delay: 1ns,\n"
     "           duplicate: 2.5%, corrupt: 99.9999%}\n"
     "faults:\n"
     "  - {at: 1s, blackhole: {nodes: [3, 1], for: 1500ms}}\n"
     "  - {at: 2s, nat_rebind: [0]}\n"
     "  - {at: 3s, byzantine: {nodes: [1], behaviour: garbage-datagrams}}\n"
     "  - {at: 3s, byzantine: {nodes: [2], behaviour: handshake-flood}}\n",
     {"  model: quic\n",
      "  packet: {mtu: 9000, queue: 9000B, reorder: 0.0001%, reorder_delay: 1ns, "
      "duplicate: 2.5%, corrupt: 99.9999%}\n",
      "  - {at: 1s, blackhole: {nodes: [3, 1], for: 1500ms}}\n",
      "  - {at: 2s, nat_rebind: [0]}\n"},
     {NULL, NULL}},
    {"duration: 10s\nsubnet: {nodes: 4}\nnetwork: {packet: {corrupt: 1%}}\n",
     {"  packet: {corrupt: 1%}\n", NULL, NULL, NULL},
     {"model", NULL}},
    {"duration: 10s\nsubnet: {nodes: 4}\nnetwork: {model: quic, packet: {}}\n"
     "faults: [{at: 1s, byzantine: {nodes: [0], behaviour: handshake-flood}}]\n",
     {"  model: quic\n", "behaviour: handshake-flood}}\n", NULL, NULL},
     {"packet", NULL}},
    {"duration: 10s\nsubnet: {nodes: 4}\n"
     "network: {model: message, packet: {mtu: 1500, queue: 1MiB, reorder_delay: 10ms}}\n",
     {NULL, NULL, NULL, NULL},
     {"model", "packet"}},
};

START_TEST(test_write_round_trip)
{
    struct sim_scenario sc, back;
    char *text = NULL, *again = NULL, why[128];
    size_t len = 0, again_len = 0;
    load_ok(write_cases[_i].text, &sc);
    ck_assert_int_eq(sim_scenario_write_string(&sc, &text, &len), 0);
    for (size_t k = 0; k < 4 && write_cases[_i].has[k] != NULL; k++)
        ck_assert_msg(strstr(text, write_cases[_i].has[k]) != NULL, "case %d lacks '%s':\n%s",
                      _i, write_cases[_i].has[k], text);
    for (size_t k = 0; k < 2 && write_cases[_i].lacks[k] != NULL; k++)
        ck_assert_msg(strstr(text, write_cases[_i].lacks[k]) == NULL, "case %d has '%s':\n%s",
                      _i, write_cases[_i].lacks[k], text);
    load_ok(text, &back);
    ck_assert_msg(sim_scenario_write_equal(&sc, &back, why, sizeof why),
                  "case %d: %s differs:\n%s", _i, why, text);
    ck_assert_int_eq(sim_scenario_write_string(&back, &again, &again_len), 0);
    ck_assert_str_eq(text, again);
    /* Each new field takes part in the comparison. */
    back.net.model = back.net.model == SIM_MODEL_QUIC ? SIM_MODEL_MESSAGE : SIM_MODEL_QUIC;
    ck_assert(!sim_scenario_write_equal(&sc, &back, why, sizeof why));
    ck_assert_str_eq(why, "network.model");
    back.net.model = sc.net.model;
    back.net.packet.reorder_ns++;
    ck_assert(!sim_scenario_write_equal(&sc, &back, why, sizeof why));
    ck_assert_str_eq(why, "network.packet");
    back.net.packet.reorder_ns--;
    for (size_t k = 0; k < back.faults_count; k++) {
        if (back.faults[k].kind != SIM_FAULT_BLACKHOLE)
            continue;
        back.faults[k].for_ns++;
        ck_assert(!sim_scenario_write_equal(&sc, &back, why, sizeof why));
        back.faults[k].for_ns--;
    }
    ck_assert(sim_scenario_write_equal(&sc, &back, why, sizeof why));
    free(text);
    free(again);
    sim_scenario_fini(&back);
    sim_scenario_fini(&sc);
}
END_TEST

/* On the quic model no latency or jitter may pass 1 h (its packet
 * network's bound), network-wide or on a link (named with its line); the
 * message model takes them. */
static const struct {
    const char *network;
    const char *msg; /* NULL: passes on the quic model */
} quic_delay_cases[] = {
    {"network: {latency: 1h, jitter: 1h, links: [{from: 0, to: 1, latency: 1h, jitter: 1h}]}\n",
     NULL},
    {"network: {latency: 3600000000001ns}\n",
     "network.latency: 3600000000001ns is longer than the quic model's limit of 1h"},
    {"network: {jitter: 2h}\n", "network.jitter: 2h is longer than the quic model's limit of 1h"},
    {"network:\n  links:\n    - {from: 0, to: 1, loss: 1%}\n"
     "    - {from: 1, to: 2, latency: 61m}\n",
     "line 6: network.links[1].latency: 61m is longer than the quic model's limit of 1h"},
    {"network:\n  links:\n    - {from: 0, to: 1, jitter: 90m, both: true}\n",
     "line 5: network.links[0].jitter: 90m is longer than the quic model's limit of 1h"},
};

START_TEST(test_check_quic_delays)
{
    struct sim_scenario sc;
    char text[512], err[160];
    snprintf(text, sizeof text, "duration: 10s\nsubnet: {nodes: 4}\n%s",
             quic_delay_cases[_i].network);
    load_ok(text, &sc);
    ck_assert_int_eq(sim_scenario_check_model(&sc, err, sizeof err), 0);
    sc.net.model = SIM_MODEL_QUIC;
    int rc = sim_scenario_check_model(&sc, err, sizeof err);
    if (quic_delay_cases[_i].msg == NULL) {
        ck_assert_int_eq(rc, 0);
    } else {
        ck_assert_int_eq(rc, P2P_ERR_INVALID_ARG);
        ck_assert_str_eq(err, quic_delay_cases[_i].msg);
        ck_assert_int_eq(sim_scenario_check_model(&sc, NULL, 0), P2P_ERR_INVALID_ARG);
    }
    sim_scenario_fini(&sc);
}
END_TEST

/* ---- malformed scenarios --------------------------------------------- */

#define HEAD "duration: 10s\nsubnet: {nodes: 4}\n" /* lines 1 and 2 */

struct bad_case {
    const char *name;
    const char *text;
    int line;        /* 1-based line the error must point at */
    const char *msg; /* substring of the message */
    int rc;          /* expected return code */
};

static const struct bad_case bad_cases[] = {
    {"typo key", HEAD "network:\n  latncy: 40ms\n", 4,
     "unknown key 'latncy' in network (expected latency, jitter, bandwidth, loss, links, "
     "model, packet)",
     P2P_ERR_DECODE},
    {"typo top-level key", HEAD "\n\nduratoin: 5s\n", 5,
     "unknown key 'duratoin' in the scenario (expected name, seed, duration",
     P2P_ERR_DECODE},
    {"bad unit", HEAD "network:\n  jitter: 1ms\n  latency: 40mss\n", 5,
     "network.latency: unknown unit 'mss' in '40mss' (expected one of ns, us, ms, s, m, h)",
     P2P_ERR_DECODE},
    {"bandwidth unit", HEAD "network: {bandwidth: 1GB}\n", 3,
     "network.bandwidth: unknown unit 'GB'", P2P_ERR_DECODE},
    {"list for map", HEAD "network: [40ms]\n", 3,
     "network: expected a mapping, got a list", P2P_ERR_DECODE},
    {"map for list", HEAD "faults: {at: 1s, heal: all}\n", 3,
     "faults: expected a list, got a mapping", P2P_ERR_DECODE},
    {"list for scalar", HEAD "network: {latency: [1ms]}\n", 3,
     "network.latency: expected a duration (e.g. 40ms), got a list", P2P_ERR_DECODE},
    {"scenario is a list", "- duration: 1s\n", 1,
     "a scenario must be a mapping", P2P_ERR_DECODE},
    {"node out of range", HEAD "faults:\n  - {at: 1s, crash: [1, 4]}\n", 4,
     "faults[0].crash: node 4 is out of range (the subnet has nodes 0..3",
     P2P_ERR_DECODE},
    {"node out of range in from", HEAD "workload:\n  - kind: push\n    every: 1s\n"
     "    size: 1KiB\n    from: 9\n", 7, "workload[0].from: node 9 is out of range",
     P2P_ERR_DECODE},
    {"link node out of range", HEAD "network:\n  links:\n    - {from: 0, to: 4, latency: 1ms}\n",
     5, "network.links[0].to: node 4 is out of range", P2P_ERR_DECODE},
    {"state_synced node out of range", HEAD "state: {size: 1MiB, checkpoint_every: 1s}\n"
     "expect:\n  - {state_synced: [0, 5], within: 1s}\n", 5,
     "expect[0].state_synced: node 5 is out of range", P2P_ERR_DECODE},
    {"join id at limit", HEAD "faults:\n  - {at: 1s, join: [1003, 1004]}\n", 4,
     "node 1004 is out of range (a join may name ids 0..1003)", P2P_ERR_DECODE},
    {"duplicate key", HEAD "duration: 20s\n", 3,
     "duplicate key 'duration' in the scenario (first at line 1)", P2P_ERR_DECODE},
    {"duplicate nested key", HEAD "network:\n  loss: 1%\n  loss: 2%\n", 5,
     "duplicate key 'loss' in network (first at line 4)", P2P_ERR_DECODE},
    {"syntax error", HEAD "network: {latency: 40ms\nworkload: []\n", 4,
     "YAML syntax error", P2P_ERR_DECODE},
    {"syntax error: tab indent", HEAD "network:\n\tlatency: 40ms\n", 4,
     "YAML syntax error", P2P_ERR_DECODE},
    {"bad UTF-8", HEAD "name: \xff\n", 3, "invalid text", P2P_ERR_DECODE},
    {"missing duration", "subnet: {nodes: 4}\n", 1,
     "missing required key 'duration'", P2P_ERR_DECODE},
    {"missing subnet", "# comment\nduration: 1s\n", 2,
     "missing required key 'subnet'", P2P_ERR_DECODE},
    {"missing nodes", "duration: 1s\nsubnet: {}\n", 2,
     "subnet: missing required key 'nodes'", P2P_ERR_DECODE},
    {"nodes 0", "duration: 1s\nsubnet: {nodes: 0}\n", 2,
     "subnet.nodes: 0 is out of range (1..10000)", P2P_ERR_DECODE},
    {"nodes above limit", "duration: 1s\nsubnet: {nodes: 10001}\n", 2,
     "subnet.nodes: 10001 is out of range", P2P_ERR_DECODE},
    {"nodes negative", "duration: 1s\nsubnet: {nodes: -1}\n", 2,
     "subnet.nodes: '-1' is not a whole number", P2P_ERR_DECODE},
    {"duration 0", "duration: 0s\nsubnet: {nodes: 1}\n", 1,
     "duration: must be greater than 0", P2P_ERR_DECODE},
    {"duration over 30 days", "duration: 721h\nsubnet: {nodes: 1}\n", 1,
     "duration: more than the limit of 30 days", P2P_ERR_DECODE},
    {"seed negative", HEAD "seed: -1\n", 3, "seed: '-1' is not a whole number",
     P2P_ERR_DECODE},
    {"seed too large", HEAD "seed: 18446744073709551616\n", 3, "seed: '18446744073709551616' is too large",
     P2P_ERR_DECODE},
    {"name is a list", HEAD "name: [a]\n", 3, "name: expected text, got a list",
     P2P_ERR_DECODE},
    {"loss 100%", HEAD "network: {loss: 100%}\n", 3,
     "network.loss: out of range (a loss rate must be below 100%)", P2P_ERR_DECODE},
    {"loss over 100%", HEAD "network: {loss: 150%}\n", 3,
     "network.loss: percentage '150%' is more than 100%", P2P_ERR_DECODE},
    {"bandwidth 0", HEAD "network: {bandwidth: 0Gbit}\n", 3,
     "network.bandwidth: must be greater than 0", P2P_ERR_DECODE},
    {"link to itself", HEAD "network:\n  links: [{from: 2, to: 2, latency: 1ms}]\n", 4,
     "a link needs two different nodes", P2P_ERR_DECODE},
    {"link sets nothing", HEAD "network:\n  links: [{from: 1, to: 2}]\n", 4,
     "network.links[0]: sets nothing", P2P_ERR_DECODE},
    {"link twice", HEAD "network:\n  links:\n    - {from: 1, to: 2, latency: 1ms, both: true}\n"
     "    - {from: 2, to: 1, loss: 1%}\n", 6,
     "network.links[1]: overrides link 2->1 again (already at line 5)", P2P_ERR_DECODE},
    {"link both not bool", HEAD "network:\n  links: [{from: 1, to: 2, latency: 1ms, both: yes}]\n",
     4, "network.links[0].both: expected true or false", P2P_ERR_DECODE},
    {"size 0", HEAD "workload:\n  - {kind: push, every: 1s, size: 0B}\n", 4,
     "workload[0].size: out of range (16B up to 131071KiB", P2P_ERR_DECODE},
    {"size above limit", HEAD "workload:\n  - {kind: push, every: 1s, size: 1025MiB}\n", 4,
     "workload[0].size: out of range", P2P_ERR_DECODE},
    {"size_max below size", HEAD "workload:\n  - {kind: push, every: 1s, size: 2KiB,\n"
     "     size_max: 1KiB}\n", 5, "workload[0].size_max: must be at least size",
     P2P_ERR_DECODE},
    {"start == stop", HEAD "workload:\n  - {kind: push, every: 1s, size: 1KiB,\n"
     "     start: 5s, stop: 5s}\n", 5, "workload[0]: start must be before stop",
     P2P_ERR_DECODE},
    {"stop beyond duration", HEAD "workload:\n  - {kind: push, every: 1s, size: 1KiB,\n"
     "     stop: 10001ms}\n", 5, "workload[0].stop: beyond the scenario's duration",
     P2P_ERR_DECODE},
    {"every and rate", HEAD "workload:\n  - {kind: push, every: 1s, size: 1KiB,\n"
     "     rate: 5/s}\n", 5, "workload[0]: give 'every' or 'rate', not both",
     P2P_ERR_DECODE},
    {"neither every nor rate", HEAD "\nworkload:\n  - {kind: push, size: 1KiB}\n", 5,
     "workload[0]: needs 'every' or 'rate'", P2P_ERR_DECODE},
    {"rate too high", HEAD "workload:\n  - {kind: push, rate: 2000000000/s, size: 1KiB}\n",
     4, "workload[0].rate: rate '2000000000/s' is too high", P2P_ERR_DECODE},
    {"bad kind", HEAD "workload:\n  - {kind: pull, every: 1s, size: 1KiB}\n", 4,
     "workload[0].kind: unknown value 'pull' (expected push or advert)", P2P_ERR_DECODE},
    {"missing kind", HEAD "workload:\n  - {every: 1s, size: 1KiB}\n", 4,
     "workload[0]: missing required key 'kind'", P2P_ERR_DECODE},
    {"workload item is a list", HEAD "workload:\n  - [push, 1s]\n", 4,
     "workload[0]: expected a mapping, got a list", P2P_ERR_DECODE},
    {"fault at beyond duration", HEAD "faults:\n  - {at: 10000000001ns, heal: all}\n", 4,
     "faults[0].at: 10000000001ns is beyond the scenario's duration (10s)",
     P2P_ERR_DECODE},
    {"fault without at", HEAD "faults:\n  - {heal: all}\n", 4,
     "faults[0]: missing required key 'at'", P2P_ERR_DECODE},
    {"fault with two actions", HEAD "faults:\n  - {at: 1s, crash: [1],\n     restart: [1]}\n",
     5, "faults[0]: has both 'crash' and 'restart'", P2P_ERR_DECODE},
    {"fault with no action", HEAD "faults:\n  - {at: 1s}\n", 4,
     "faults[0]: needs one of partition", P2P_ERR_DECODE},
    {"heal not all", HEAD "faults:\n  - {at: 1s, heal: [1]}\n", 4,
     "faults[0].heal: expected 'all'", P2P_ERR_DECODE},
    {"crash twice the same node", HEAD "faults:\n  - {at: 1s, crash: [1, 2, 1]}\n", 4,
     "faults[0].crash: node 1 is listed more than once", P2P_ERR_DECODE},
    {"crash empty", HEAD "faults:\n  - {at: 1s, crash: []}\n", 4,
     "faults[0].crash: the list of nodes is empty", P2P_ERR_DECODE},
    {"partition flat", HEAD "faults:\n  - {at: 1s, partition: [0, 1]}\n", 4,
     "faults[0].partition: expected a list of node groups", P2P_ERR_DECODE},
    {"partition overlap", HEAD "faults:\n  - {at: 1s, partition: [[0, 1], [1, 2]]}\n", 4,
     "faults[0].partition: node 1 is listed more than once", P2P_ERR_DECODE},
    {"byzantine behaviour", HEAD "faults:\n  - at: 1s\n    byzantine:\n      nodes: [1]\n"
     "      behaviour: evil\n", 7,
     "faults[0].byzantine.behaviour: unknown value 'evil' (expected silent, slow-reader",
     P2P_ERR_DECODE},
    {"byzantine without nodes", HEAD "faults:\n  - {at: 1s, byzantine: {behaviour: silent}}\n",
     4, "faults[0].byzantine: missing required key 'nodes'", P2P_ERR_DECODE},
    {"skew drift out of range", HEAD "faults:\n  - {at: 1s, skew: {nodes: [1], drift: 500001ppm}}\n",
     4, "faults[0].skew.drift: out of range", P2P_ERR_DECODE},
    {"skew without change", HEAD "faults:\n  - {at: 1s, skew: {nodes: [1]}}\n", 4,
     "faults[0].skew: needs 'offset' or 'drift'", P2P_ERR_DECODE},
    {"loss without for", HEAD "faults:\n  - {at: 1s, loss: {links: all, rate: 5%}}\n", 4,
     "faults[0].loss: missing required key 'for'", P2P_ERR_DECODE},
    {"loss rate 100%", HEAD "faults:\n  - {at: 1s, loss: {links: all, rate: 100%, for: 1s}}\n",
     4, "faults[0].loss.rate: out of range", P2P_ERR_DECODE},
    {"loss links not all", HEAD "faults:\n  - {at: 1s, loss: {links: [1], rate: 5%, for: 1s}}\n",
     4, "faults[0].loss.links: expected 'all'", P2P_ERR_DECODE},
    {"state without size", HEAD "state:\n  checkpoint_every: 1s\n", 4,
     "state: missing required key 'size'", P2P_ERR_DECODE},
    {"state chunk above size", HEAD "state: {size: 1MiB, chunk: 2MiB, checkpoint_every: 1s}\n",
     3, "state.chunk: out of range", P2P_ERR_DECODE},
    {"state too many chunks", HEAD "state: {size: 1GiB, chunk: 512B, checkpoint_every: 1s}\n",
     3, "state: 2097152 chunks per checkpoint, more than the limit of 1048576", P2P_ERR_DECODE},
    {"state churn over 100%", HEAD "state: {size: 1MiB, checkpoint_every: 1s, churn: 101%}\n",
     3, "state.churn: percentage '101%' is more than 100%", P2P_ERR_DECODE},
    {"state compressible over 100%", HEAD "state: {size: 1MiB, checkpoint_every: 1s, compressible: 101%}\n",
     3, "state.compressible: percentage '101%' is more than 100%", P2P_ERR_DECODE},
    {"state_synced without state", HEAD "expect:\n  - {state_synced: [1], within: 1s}\n", 4,
     "expect[0].state_synced: needs a 'state' section", P2P_ERR_DECODE},
    {"delivered without within", HEAD "expect:\n  - {delivered: all}\n", 4,
     "expect[0]: missing required key 'within'", P2P_ERR_DECODE},
    {"delivered not all", HEAD "expect:\n  - {delivered: some, within: 1s}\n", 4,
     "expect[0].delivered: expected 'all'", P2P_ERR_DECODE},
    {"slots_cleared not purged", HEAD "expect:\n  - {slots_cleared: all, within: 1s}\n", 4,
     "expect[0].slots_cleared: expected 'purged'", P2P_ERR_DECODE},
    {"heights_purged without heights", HEAD "expect:\n  - {heights_purged: all, within: 1s}\n", 4,
     "expect[0].heights_purged: needs protocol.heights", P2P_ERR_DECODE},
    {"heights_purged not all", HEAD "protocol: {heights: {every: 1s, keep: 2}}\nexpect:\n  - {heights_purged: some, within: 1s}\n", 5,
     "expect[0].heights_purged: expected 'all'", P2P_ERR_DECODE},
    {"heights_purged without within", HEAD "protocol: {heights: {every: 1s, keep: 2}}\nexpect:\n  - {heights_purged: all}\n", 5,
     "expect[0]: missing required key 'within'", P2P_ERR_DECODE},
    {"heights without keep", HEAD "protocol: {heights: {every: 1s}}\n", 3,
     "protocol.heights: missing required key 'keep'", P2P_ERR_DECODE},
    {"heights without every", HEAD "protocol: {heights: {keep: 1}}\n", 3,
     "protocol.heights: missing required key 'every'", P2P_ERR_DECODE},
    {"heights keep 0", HEAD "protocol: {heights: {every: 1s, keep: 0}}\n", 3,
     "protocol.heights.keep", P2P_ERR_DECODE},
    {"heights every 0", HEAD "protocol: {heights: {every: 0s, keep: 1}}\n", 3,
     "protocol.heights.every", P2P_ERR_DECODE},
    {"slots_cleared without within", HEAD "expect:\n  - {slots_cleared: purged}\n", 4,
     "expect[0]: missing required key 'within'", P2P_ERR_DECODE},
    {"max memory with within", HEAD "expect:\n  - {max_memory_per_node: 1MiB, within: 1s}\n",
     4, "'within' does not apply", P2P_ERR_DECODE},
    {"unknown expectation", HEAD "expect:\n  - {delivred: all, within: 1s}\n", 4,
     "unknown key 'delivred' in expect[0]", P2P_ERR_DECODE},
    {"protocol relay", HEAD "protocol: {relay: gossip}\n", 3,
     "protocol.relay: unknown value 'gossip' (expected push or advert)", P2P_ERR_DECODE},
    {"protocol unknown knob", HEAD "protocol:\n  push_treshold: 1KiB\n", 4,
     "unknown key 'push_treshold' in protocol", P2P_ERR_DECODE},
    {"alias", HEAD "faults:\n  - {at: 1s, crash: &c [1]}\n  - {at: 2s, restart: *c}\n", 5,
     "aliases are not supported (this reuses the node at line 4)", P2P_ERR_DECODE},
    {"undefined alias", HEAD "faults: *nope\n", 3, "YAML syntax error", P2P_ERR_DECODE},
    {"second document", HEAD "---\nduration: 1s\n", 4, "second YAML document",
     P2P_ERR_DECODE},
    {"empty file", "", 1, "the file is empty", P2P_ERR_DECODE},
    {"only comments", "# nothing\n", 1, "the file is empty", P2P_ERR_DECODE},
    {"non-scalar key", HEAD "? [a]\n: 1\n", 3, "a key must be a plain word",
     P2P_ERR_DECODE},
    {"registry_earliest 0", HEAD "faults:\n  - {at: 1s, registry_earliest: 0}\n", 4,
     "faults[0].registry_earliest", P2P_ERR_DECODE},
    {"registry_earliest word", HEAD "faults:\n  - {at: 1s, registry_earliest: oldest}\n",
     4, "faults[0].registry_earliest", P2P_ERR_DECODE},
    {"registry_earliest list", HEAD "faults:\n  - {at: 1s, registry_earliest: [2]}\n",
     4, "faults[0].registry_earliest: expected a registry version or 'latest'",
     P2P_ERR_DECODE},
    {"served_after_leave within", HEAD "expect:\n  - {served_after_leave: [1], within: 1s}\n",
     4, "expect[0]: 'within' does not apply to served_after_leave", P2P_ERR_DECODE},
    {"served_after_leave out of range", HEAD "expect:\n  - {served_after_leave: [4]}\n",
     4, "expect[0].served_after_leave: node 4 is out of range", P2P_ERR_DECODE},
    /* network.model and network.packet */
    {"model unknown", HEAD "network:\n  model: udp\n", 4,
     "network.model: unknown value 'udp' (expected message or quic)", P2P_ERR_DECODE},
    {"model a list", HEAD "network: {model: [quic]}\n", 3, "network.model", P2P_ERR_DECODE},
    {"packet a list", HEAD "network: {packet: [1]}\n", 3,
     "network.packet: expected a mapping, got a list", P2P_ERR_DECODE},
    {"packet typo", HEAD "network:\n  packet:\n    reorder_dealy: 1ms\n", 5,
     "unknown key 'reorder_dealy' in network.packet (expected mtu, queue, reorder, "
     "reorder_delay, duplicate, corrupt)", P2P_ERR_DECODE},
    {"mtu below", HEAD "network: {packet: {mtu: 1199}}\n", 3,
     "network.packet.mtu: 1199 is out of range (1200..65527, in bytes)", P2P_ERR_DECODE},
    {"mtu above", HEAD "network: {packet: {mtu: 65528}}\n", 3,
     "network.packet.mtu: 65528 is out of range (1200..65527, in bytes)", P2P_ERR_DECODE},
    {"mtu with a unit", HEAD "network: {packet: {mtu: 1500B}}\n", 3,
     "network.packet.mtu: '1500B' is not a whole number", P2P_ERR_DECODE},
    {"queue below", HEAD "network: {packet: {queue: 1499B}}\n", 3,
     "network.packet.queue: must be at least 1500B (one full-size packet)", P2P_ERR_DECODE},
    {"queue above", HEAD "network: {packet: {queue: 1025MiB}}\n", 3,
     "network.packet.queue: more than the limit of 1GiB", P2P_ERR_DECODE},
    {"queue below mtu", HEAD "network:\n  packet: {mtu: 9000,\n    queue: 8KiB}\n", 5,
     "network.packet.queue: 8192B is less than network.packet.mtu (9000B): a queue holds "
     "at least one full-size packet", P2P_ERR_DECODE},
    {"default queue below mtu", HEAD "network:\n  packet: {queue: 1500B, mtu: 1501}\n", 4,
     "network.packet.queue: 1500B is less than network.packet.mtu (1501B)", P2P_ERR_DECODE},
    {"queue unit", HEAD "network: {packet: {queue: 1Mbit}}\n", 3,
     "network.packet.queue: unknown unit", P2P_ERR_DECODE},
    {"reorder 100%", HEAD "network: {packet: {reorder: 100%}}\n", 3,
     "network.packet.reorder: out of range (a reorder rate must be below 100%)",
     P2P_ERR_DECODE},
    {"reorder no percent", HEAD "network: {packet: {reorder: 5}}\n", 3,
     "network.packet.reorder", P2P_ERR_DECODE},
    {"duplicate 100%", HEAD "network: {packet: {duplicate: 100%}}\n", 3,
     "network.packet.duplicate: out of range (a duplicate rate must be below 100%)",
     P2P_ERR_DECODE},
    {"corrupt 100%", HEAD "network: {packet: {corrupt: 100%}}\n", 3,
     "network.packet.corrupt: out of range (a corrupt rate must be below 100%)",
     P2P_ERR_DECODE},
    {"corrupt over 100%", HEAD "network: {packet: {corrupt: 101%}}\n", 3,
     "network.packet.corrupt: percentage '101%' is more than 100%", P2P_ERR_DECODE},
    {"reorder_delay 0", HEAD "network: {packet: {reorder_delay: 0ms}}\n", 3,
     "network.packet.reorder_delay: must be greater than 0", P2P_ERR_DECODE},
    {"reorder_delay over 30 days", HEAD "network: {packet: {reorder_delay: 721h}}\n", 3,
     "network.packet.reorder_delay: more than the limit of 30 days", P2P_ERR_DECODE},
    {"reorder_delay over 1h", HEAD "network: {packet: {reorder_delay: 61m}}\n", 3,
     "network.packet.reorder_delay: more than the limit of 1h", P2P_ERR_DECODE},
    /* blackhole and nat_rebind */
    {"blackhole without for", HEAD "faults:\n  - {at: 1s, blackhole: {nodes: [1]}}\n", 4,
     "faults[0].blackhole: missing required key 'for'", P2P_ERR_DECODE},
    {"blackhole without nodes", HEAD "faults:\n  - {at: 1s, blackhole: {for: 1s}}\n", 4,
     "faults[0].blackhole: missing required key 'nodes'", P2P_ERR_DECODE},
    {"blackhole for 0", HEAD "faults:\n  - {at: 1s, blackhole: {nodes: [1], for: 0s}}\n", 4,
     "faults[0].blackhole.for: must be greater than 0", P2P_ERR_DECODE},
    {"blackhole a list", HEAD "faults:\n  - {at: 1s, blackhole: [1]}\n", 4,
     "faults[0].blackhole: expected a mapping, got a list", P2P_ERR_DECODE},
    {"blackhole node out of range",
     HEAD "faults:\n  - {at: 1s, blackhole: {nodes: [4], for: 1s}}\n", 4,
     "faults[0].blackhole.nodes: node 4 is out of range", P2P_ERR_DECODE},
    {"blackhole unknown key",
     HEAD "faults:\n  - {at: 1s, blackhole: {nodes: [1], for: 1s, rate: 5%}}\n", 4,
     "unknown key 'rate' in faults[0].blackhole (expected nodes, for)", P2P_ERR_DECODE},
    {"nat_rebind empty", HEAD "faults:\n  - {at: 1s, nat_rebind: []}\n", 4,
     "faults[0].nat_rebind: the list of nodes is empty", P2P_ERR_DECODE},
    {"nat_rebind twice the same node", HEAD "faults:\n  - {at: 1s, nat_rebind: [2, 2]}\n",
     4, "faults[0].nat_rebind: node 2 is listed more than once", P2P_ERR_DECODE},
    {"nat_rebind and blackhole",
     HEAD "faults:\n  - {at: 1s, blackhole: {nodes: [1], for: 1s},\n     nat_rebind: [2]}\n",
     5, "faults[0]: has both 'blackhole' and 'nat_rebind'", P2P_ERR_DECODE},
    {"fault list names the new kinds", HEAD "faults:\n  - {at: 1s}\n", 4,
     "registry_earliest, blackhole, nat_rebind", P2P_ERR_DECODE},
    {"behaviour list names the new ones",
     HEAD "faults:\n  - {at: 1s, byzantine: {nodes: [1], behaviour: garbage_datagrams}}\n",
     4, "bad-chunks, garbage-datagrams or handshake-flood)", P2P_ERR_DECODE},
};

START_TEST(test_bad_scenarios)
{
    const struct bad_case *c = &bad_cases[_i];
    struct sim_scenario sc;
    struct sim_scenario_error err;
    int rc = sim_scenario_load_string(c->text, strlen(c->text), "bad.yaml", &sc, &err);
    ck_assert_msg(rc == c->rc, "%s: rc %d, want %d (line %d: %s)", c->name, rc,
                  c->rc, err.line, err.message);
    ck_assert_msg(err.line == c->line, "%s: line %d, want %d (%s)", c->name,
                  err.line, c->line, err.message);
    ck_assert_msg(strstr(err.message, c->msg) != NULL,
                  "%s: message '%s' lacks '%s'", c->name, err.message, c->msg);
    /* On failure the struct is left zeroed, and fini is still safe. */
    ck_assert_ptr_null(sc.name);
    ck_assert_ptr_null(sc.path);
    ck_assert_ptr_null(sc.faults);
    ck_assert_uint_eq(sc.faults_count, 0);
    sim_scenario_fini(&sc);
}
END_TEST

/* ---- limits: the limit passes, limit + 1 fails ----------------------- */

struct limit_case {
    const char *section; /* text before the items */
    const char *item;    /* one item; %zu is replaced by the index */
    size_t limit;
    int line; /* of the list */
    const char *msg;
};

static const struct limit_case limit_cases[] = {
    {"workload:\n", "  - {kind: push, every: 1s, size: %zuKiB}\n", SIM_SCENARIO_WORKLOAD_MAX, 4,
     "workload: 1025 entries, more than the limit of 1024"},
    {"faults:\n", "  - {at: 1s, crash: [%zu]}\n", SIM_SCENARIO_FAULTS_MAX, 4,
     "faults: 65537 entries, more than the limit of 65536"},
    {"network:\n  links:\n", "    - {from: %zu, to: 0, latency: 1ms}\n",
     SIM_SCENARIO_LINKS_MAX, 5, "network.links: 4097 entries, more than the limit of 4096"},
    {"expect:\n", "  - {max_memory_per_node: %zuGB}\n", SIM_SCENARIO_EXPECTS_MAX, 4,
     "expect: 257 entries, more than the limit of 256"},
};

static char *limit_text(const struct limit_case *c, size_t count, size_t *len)
{
    size_t cap = 128 + strlen(c->section) + count * (strlen(c->item) + 16), used = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    used += (size_t)snprintf(text, cap, "duration: 10s\nsubnet: {nodes: 10000}\n%s",
                             c->section);
    for (size_t i = 0; i < count; i++) {
        /* Keep ids and sizes valid: ids < 10000, sizes >= 1. */
        used += (size_t)snprintf(text + used, cap - used, c->item, i % 9999 + 1);
    }
    ck_assert_uint_lt(used, cap);
    *len = used;
    return text;
}

START_TEST(test_limits)
{
    const struct limit_case *c = &limit_cases[_i];
    struct sim_scenario sc;
    struct sim_scenario_error err;
    size_t len;
    char *text = limit_text(c, c->limit, &len);
    int rc = sim_scenario_load_string(text, len, NULL, &sc, &err);
    ck_assert_msg(rc == 0, "at the limit: line %d: %s", err.line, err.message);
    sim_scenario_fini(&sc);
    free(text);

    text = limit_text(c, c->limit + 1, &len);
    rc = sim_scenario_load_string(text, len, NULL, &sc, &err);
    ck_assert_int_eq(rc, P2P_ERR_LIMIT);
    ck_assert_int_eq(err.line, c->line);
    ck_assert_msg(strstr(err.message, c->msg) != NULL, "message '%s'", err.message);
    free(text);
}
END_TEST

/* Boundaries on both sides, each as (good text, bad text). */
struct edge_case {
    const char *good, *bad;
};

static const struct edge_case edge_cases[] = {
    {"duration: 1s\nsubnet: {nodes: 10000}\n", "duration: 1s\nsubnet: {nodes: 10001}\n"},
    {"duration: 1s\nsubnet: {nodes: 1}\n", "duration: 1s\nsubnet: {nodes: 0}\n"},
    {"duration: 720h\nsubnet: {nodes: 1}\n", "duration: 2592000000000001ns\nsubnet: {nodes: 1}\n"},
    {HEAD "faults: [{at: 10s, heal: all}]\n", HEAD "faults: [{at: 10000000001ns, heal: all}]\n"},
    {HEAD "faults: [{at: 1s, join: [1003]}]\n", HEAD "faults: [{at: 1s, join: [1004]}]\n"},
    {HEAD "faults: [{at: 1s, crash: [3]}]\n", HEAD "faults: [{at: 1s, crash: [4]}]\n"},
    {HEAD "network: {loss: 99.9999%}\n", HEAD "network: {loss: 100%}\n"},
    {HEAD "workload: [{kind: push, every: 1s, size: 16B}]\n",
     HEAD "workload: [{kind: push, every: 1s, size: 15B}]\n"},
    {HEAD "workload: [{kind: push, every: 1s, size: 134216704B}]\n",
     HEAD "workload: [{kind: push, every: 1s, size: 134216705B}]\n"},
    {HEAD "workload: [{kind: push, every: 1s, size: 32B, size_max: 32B}]\n",
     HEAD "workload: [{kind: push, every: 1s, size: 32B, size_max: 16B}]\n"},
    {HEAD "workload: [{kind: push, every: 1s, size: 16B, start: 9999999999ns}]\n",
     HEAD "workload: [{kind: push, every: 1s, size: 16B, start: 10s}]\n"},
    {HEAD "workload: [{kind: push, rate: 1000000000/s, size: 16B}]\n",
     HEAD "workload: [{kind: push, rate: 1000000001/s, size: 16B}]\n"},
    {HEAD "state: {size: 1GiB, chunk: 1KiB, checkpoint_every: 1s}\n" /* 2^20 chunks */,
     HEAD "state: {size: 1073741825B, chunk: 1KiB, checkpoint_every: 1s}\n"},
    {HEAD "faults: [{at: 1s, skew: {nodes: [0], drift: -500000ppm}}]\n",
     HEAD "faults: [{at: 1s, skew: {nodes: [0], drift: -500001ppm}}]\n"},
    {HEAD "network: {packet: {mtu: 1200}}\n", HEAD "network: {packet: {mtu: 1199}}\n"},
    {HEAD "network: {packet: {mtu: 65527}}\n", HEAD "network: {packet: {mtu: 65528}}\n"},
    {HEAD "network: {packet: {queue: 1500B}}\n", HEAD "network: {packet: {queue: 1499B}}\n"},
    {HEAD "network: {packet: {queue: 1GiB}}\n",
     HEAD "network: {packet: {queue: 1073741825B}}\n"},
    {HEAD "network: {packet: {mtu: 9000, queue: 9000B}}\n",
     HEAD "network: {packet: {mtu: 9000, queue: 8999B}}\n"},
    {HEAD "network: {packet: {reorder_delay: 1h}}\n",
     HEAD "network: {packet: {reorder_delay: 3600000000001ns}}\n"},
    {HEAD "network: {packet: {reorder: 99.9999%}}\n",
     HEAD "network: {packet: {reorder: 100%}}\n"},
    {HEAD "network: {packet: {reorder_delay: 1ns}}\n",
     HEAD "network: {packet: {reorder_delay: 0ns}}\n"},
    {HEAD "network: {packet: {duplicate: 99.9999%}}\n",
     HEAD "network: {packet: {duplicate: 100%}}\n"},
    {HEAD "network: {packet: {corrupt: 99.9999%}}\n",
     HEAD "network: {packet: {corrupt: 100%}}\n"},
    {HEAD "faults: [{at: 1s, blackhole: {nodes: [3], for: 1ns}}]\n",
     HEAD "faults: [{at: 1s, blackhole: {nodes: [3], for: 0ns}}]\n"},
    {HEAD "name: " "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
     HEAD "name: " "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"},
};

START_TEST(test_edges)
{
    const struct edge_case *c = &edge_cases[_i];
    struct sim_scenario sc;
    struct sim_scenario_error err;
    int rc = sim_scenario_load_string(c->good, strlen(c->good), NULL, &sc, &err);
    ck_assert_msg(rc == 0, "good case %d failed: line %d: %s", _i, err.line, err.message);
    sim_scenario_fini(&sc);
    rc = sim_scenario_load_string(c->bad, strlen(c->bad), NULL, &sc, &err);
    ck_assert_msg(rc == P2P_ERR_DECODE, "bad case %d: rc %d", _i, rc);
    ck_assert_int_gt(err.line, 0);
}
END_TEST

/* ---- files and error formatting -------------------------------------- */

START_TEST(test_file_typo)
{
    struct sim_scenario sc;
    struct sim_scenario_error err;
    char buf[512];
    int rc = sim_scenario_load_file("tests/data/bad-typo.yaml", &sc, &err);
    ck_assert_int_eq(rc, P2P_ERR_DECODE);
    ck_assert_int_eq(err.line, 7);
    ck_assert_int_eq(err.column, 3);
    sim_scenario_error_format(&err, "tests/data/bad-typo.yaml", buf, sizeof buf);
    ck_assert_str_eq(buf, "tests/data/bad-typo.yaml:7: unknown key 'latncy' in network "
                          "(expected latency, jitter, bandwidth, loss, links, model, "
                          "packet)");
}
END_TEST

START_TEST(test_file_missing)
{
    struct sim_scenario sc;
    struct sim_scenario_error err;
    char buf[512];
    int rc = sim_scenario_load_file("tests/data/does-not-exist.yaml", &sc, &err);
    ck_assert_int_eq(rc, P2P_ERR_READ);
    ck_assert_int_eq(err.line, 0);
    sim_scenario_error_format(&err, "x.yaml", buf, sizeof buf);
    ck_assert_str_eq(buf, "x.yaml: cannot open: No such file or directory");
    sim_scenario_fini(&sc);
    /* A NULL error pointer is allowed. */
    ck_assert_int_eq(sim_scenario_load_file("tests/data/does-not-exist.yaml", &sc, NULL),
                     P2P_ERR_READ);
}
END_TEST

START_TEST(test_file_ok_roundtrip)
{
    /* Write the example to a temporary file and load it from there. */
    char path[] = "/tmp/test_scenario_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *fp = fdopen(fd, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(example_yaml, 1, strlen(example_yaml), fp), strlen(example_yaml));
    fclose(fp);
    struct sim_scenario sc;
    struct sim_scenario_error err;
    int rc = sim_scenario_load_file(path, &sc, &err);
    remove(path);
    ck_assert_msg(rc == 0, "line %d: %s", err.line, err.message);
    ck_assert_str_eq(sc.name, "quickstart");
    ck_assert_str_eq(sc.path, path);
    ck_assert_uint_eq(sc.faults_count, 9);
    sim_scenario_fini(&sc);
}
END_TEST

START_TEST(test_oversize)
{
    size_t len = SIM_SCENARIO_FILE_BYTES_MAX + 1;
    char *text = malloc(len);
    ck_assert_ptr_nonnull(text);
    memset(text, ' ', len);
    struct sim_scenario sc;
    struct sim_scenario_error err;
    ck_assert_int_eq(sim_scenario_load_string(text, len, NULL, &sc, &err),
                     P2P_ERR_OVERSIZE);
    ck_assert(strstr(err.message, "16 MiB") != NULL);
    free(text);
}
END_TEST

/* 9 nodes (root, duration, subnet, nodes, faults and their values) plus one
 * per list entry: at the node limit the schema rejects the list; one more
 * and the pre-scan rejects the file before the document is built. */
static char *zeros_text(size_t entries, size_t *len)
{
    static const char head[] = "duration: 1s\nsubnet: {nodes: 1}\nfaults: [";
    size_t cap = sizeof head + entries * 2 + 8;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    memcpy(text, head, sizeof head - 1);
    size_t used = sizeof head - 1;
    for (size_t i = 0; i < entries; i++) {
        text[used++] = '0';
        text[used++] = i + 1 < entries ? ',' : ']';
    }
    text[used++] = '\n';
    *len = used;
    return text;
}

START_TEST(test_yaml_nodes_limit)
{
    struct sim_scenario sc;
    struct sim_scenario_error err;
    size_t len;
    char *text = zeros_text(SIM_SCENARIO_YAML_NODES_MAX - 9, &len);
    ck_assert_int_eq(sim_scenario_load_string(text, len, NULL, &sc, &err), P2P_ERR_LIMIT);
    ck_assert_msg(strstr(err.message, "faults: 1048567 entries") != NULL, "%s", err.message);
    free(text);
    text = zeros_text(SIM_SCENARIO_YAML_NODES_MAX - 8, &len);
    ck_assert_int_eq(sim_scenario_load_string(text, len, NULL, &sc, &err), P2P_ERR_LIMIT);
    ck_assert_msg(strstr(err.message, "more than the limit of 1048576 YAML nodes") != NULL,
                  "%s", err.message);
    ck_assert_int_eq(err.line, 3);
    free(text);
}
END_TEST

/* The root mapping is level 1, so k nested lists under 'faults' reach 1 + k. */
START_TEST(test_yaml_depth_limit)
{
    char text[256];
    struct sim_scenario sc;
    struct sim_scenario_error err;
    for (size_t k = SIM_SCENARIO_YAML_DEPTH_MAX - 1; k <= SIM_SCENARIO_YAML_DEPTH_MAX; k++) {
        int used = snprintf(text, sizeof text, "duration: 1s\nsubnet: {nodes: 1}\nfaults: ");
        for (size_t i = 0; i < k; i++)
            text[used++] = '[';
        for (size_t i = 0; i < k; i++)
            text[used++] = ']';
        text[used] = '\0';
        int rc = sim_scenario_load_string(text, (size_t)used, NULL, &sc, &err);
        ck_assert_int_eq(err.line, 3);
        if (k < SIM_SCENARIO_YAML_DEPTH_MAX) {
            ck_assert_int_eq(rc, P2P_ERR_DECODE);
            ck_assert_str_eq(err.message, "faults[0]: expected a mapping, got a list");
        } else {
            ck_assert_int_eq(rc, P2P_ERR_LIMIT);
            ck_assert_str_eq(err.message, "lists and mappings nested more than 16 deep");
        }
    }
}
END_TEST

START_TEST(test_fini_zeroed)
{
    struct sim_scenario sc;
    memset(&sc, 0, sizeof sc);
    sim_scenario_fini(&sc);
    sim_scenario_fini(NULL);
    struct sim_scenario_error err = {0, 0, "boom"};
    char buf[64];
    sim_scenario_error_format(&err, NULL, buf, sizeof buf);
    ck_assert_str_eq(buf, "<scenario>: boom");
    char small[8];
    err.line = 12;
    sim_scenario_error_format(&err, "a.yaml", small, sizeof small);
    ck_assert_str_eq(small, "a.yaml:");
    ck_assert_str_eq(sim_scenario_fault_kind_name(SIM_FAULT_LOSS), "loss");
    ck_assert_str_eq(sim_scenario_byzantine_name(SIM_BYZ_SLOW_READER),
                     "slow-reader");
    ck_assert_str_eq(sim_scenario_expect_kind_name(SIM_EXPECT_STATE_SYNCED),
                     "state_synced");
    ck_assert_str_eq(sim_scenario_expect_kind_name(SIM_EXPECT_SLOTS_CLEARED),
                     "slots_cleared");
    ck_assert_str_eq(sim_scenario_from_mode_name(SIM_FROM_ROUND_ROBIN),
                     "round-robin");
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *scenario_suite(void)
{
    Suite *s = suite_create("scenario");
    TCase *load = tcase_create("load");
    tcase_add_test(load, test_example);
    tcase_add_test(load, test_defaults);
    tcase_add_test(load, test_optional_keys);
    tcase_add_test(load, test_fault_sort_stable);
    tcase_add_test(load, test_heights);
    tcase_add_test(load, test_packet_keys);
    tcase_add_test(load, test_quic_faults);
    tcase_add_test(load, test_model_parse);
    tcase_add_loop_test(load, test_check_model, 0, COUNT(model_cases));
    tcase_add_loop_test(load, test_check_quic_delays, 0, COUNT(quic_delay_cases));
    tcase_add_loop_test(load, test_write_round_trip, 0, COUNT(write_cases));
    tcase_add_loop_test(load, test_bad_scenarios, 0, COUNT(bad_cases));
    tcase_add_loop_test(load, test_edges, 0, COUNT(edge_cases));
    tcase_add_loop_test(load, test_limits, 0, COUNT(limit_cases));
    tcase_add_test(load, test_file_typo);
    tcase_add_test(load, test_file_missing);
    tcase_add_test(load, test_file_ok_roundtrip);
    tcase_add_test(load, test_oversize);
    tcase_add_test(load, test_yaml_nodes_limit);
    tcase_add_test(load, test_yaml_depth_limit);
    tcase_add_test(load, test_fini_zeroed);
    suite_add_tcase(s, load);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(scenario_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
