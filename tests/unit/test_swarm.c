/* Unit tests for the swarm generator (sim/swarm_gen.c) and the scenario
 * writer (sim/scenario_write.c): generation is a function of the seed;
 * every generated scenario loads and passes the timeline check; the
 * writer's text loads back to the same scenario for every file in
 * scenarios/ and tests/data/ that loads, and for generated ones; a share
 * of the seeds has state sync within the generator's bounds; the
 * shrinker (sim/shrink.c) takes a state section out when the failure
 * does not need it. Run from the source tree (CTest sets the working
 * directory). */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "conf/units.h"
#include "sim/scenario.h"
#include "sim/scenario_write.h"
#include "sim/swarm.h"
#include "sim/swarm_gen.h"

#define SEEDS_CHECKED 200u
#define PATHS_MAX 512u

/* ---- helpers --------------------------------------------------------- */

static void load_text(const char *text, size_t len, const char *name,
                      struct sim_scenario *sc)
{
    struct sim_scenario_error err;
    int rc = sim_scenario_load_string(text, len, name, sc, &err);
    if (rc != 0) {
        char msg[512];
        sim_scenario_error_format(&err, name, msg, sizeof msg);
        ck_abort_msg("%s does not load: %s\n%s", name, msg, text);
    }
}

/* load(write(sc)) == sc. */
static void check_round_trip(const struct sim_scenario *sc, const char *name)
{
    char *text = NULL, why[128];
    size_t len = 0;
    ck_assert_int_eq(sim_scenario_write_string(sc, &text, &len), 0);
    ck_assert_uint_eq(strlen(text), len);
    struct sim_scenario back;
    load_text(text, len, name, &back);
    ck_assert_msg(sim_scenario_write_equal(sc, &back, why, sizeof why),
                  "%s: %s differs after write and load:\n%s", name, why, text);
    /* A second round gives the same text. */
    char *again = NULL;
    size_t again_len = 0;
    ck_assert_int_eq(sim_scenario_write_string(&back, &again, &again_len), 0);
    ck_assert_str_eq(text, again);
    free(again);
    free(text);
    sim_scenario_fini(&back);
}

/* The *.yaml files of dir that load (bad-input examples are skipped),
 * sorted; returns how many. */
static size_t scenario_files(const char *dir, char paths[][PATHS_MAX],
                             size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    ck_assert_msg(d != NULL, "cannot open %s (run from the source tree)", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        size_t l = strlen(e->d_name);
        if (l <= 5 || strcmp(e->d_name + l - 5, ".yaml") != 0)
            continue;
        int w = snprintf(paths[n], PATHS_MAX, "%s/%s", dir, e->d_name);
        if (w > 0 && w < (int)PATHS_MAX)
            n++; /* a longer path is not one of ours */
    }
    closedir(d);
    qsort(paths, n, PATHS_MAX, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* ---- the writer ------------------------------------------------------ */

static char files[2 * PATHS_MAX][PATHS_MAX];

START_TEST(test_write_round_trip_files)
{
    size_t n = scenario_files("scenarios", files, PATHS_MAX);
    n += scenario_files("tests/data", files + n, PATHS_MAX);
    ck_assert_uint_ge(n, 10);
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        struct sim_scenario sc;
        if (sim_scenario_load_file(files[i], &sc, NULL) != 0)
            continue; /* tests/data holds deliberately bad files */
        check_round_trip(&sc, files[i]);
        sim_scenario_fini(&sc);
        checked++;
    }
    ck_assert_uint_ge(checked, 10);
}
END_TEST

/* Every section and key the format has, with values that need care: rates
 * with decimals and per minute, negative offsets, links both ways, loss
 * with decimals, state, a seed given or not, a name needing quotes. */
static const char *const writer_cases[] = {
    "name: 'quote \" and \\\\ back'\nduration: 1m\nsubnet: {nodes: 3}\n",
    "seed: 18446744073709551615\nduration: 90s\nsubnet: {nodes: 4}\n"
    "network: {latency: 1500us, jitter: 0, bandwidth: 2500Mbit, loss: 0.0001%,\n"
    "  links: [{from: 0, to: 1, latency: 120ms, both: true},\n"
    "          {from: 2, to: 3, bandwidth: 1bit}, {from: 3, to: 2, loss: 99.9999%},\n"
    "          {from: 1, to: 2, jitter: 7ns}]}\n"
    "workload:\n"
    "  - {kind: push, rate: 3/s, size: 16B}\n"
    "  - {kind: advert, rate: 0.7/s, size: 1000B, size_max: 131071KiB, from: any}\n"
    "  - {kind: advert, rate: 7/m, size: 1MB, from: 5, start: 1s, stop: 80s}\n"
    "  - {kind: push, rate: 1000000000/s, size: 17B, from: round-robin}\n"
    "  - {kind: advert, every: 333ms, size: 1.5KiB}\n"
    "  - {kind: advert, rate: 0.000000001/s, size: 16B}\n"
    "state: {size: 1GiB, chunk: 3MB, checkpoint_every: 10s, churn: 12.5%}\n"
    "protocol: {push_threshold: 0, validation_delay: 0, artifact_ttl: 1ns, "
    "relay: advert, buggify: false}\n"
    "faults:\n"
    "  - {at: 5s, join: [5, 6]}\n"
    "  - {at: 1s, partition: [[0, 2], [1]]}\n"
    "  - {at: 2s, heal: all}\n"
    "  - {at: 2s, crash: [1, 3]}\n"
    "  - {at: 3s, restart: [3, 1]}\n"
    "  - {at: 4s, leave: [0]}\n"
    "  - {at: 6s, byzantine: {nodes: [6], behaviour: bad-chunks}}\n"
    "  - {at: 7s, skew: {nodes: [2], offset: -1.5s}}\n"
    "  - {at: 7s, skew: {nodes: [1], drift: -500000ppm}}\n"
    "  - {at: 8s, loss: {links: all, rate: 0.5%, for: 100ms}}\n"
    "  - {at: 9s, registry_earliest: 2}\n"
    "  - {at: 9s, registry_earliest: latest}\n"
    "expect:\n"
    "  - {delivered: all, within: 1ms}\n"
    "  - {state_synced: [5, 6], within: 30s}\n"
    "  - {max_memory_per_node: 3KB}\n"
    "  - {penalised: byzantine}\n"
    "  - {served_after_leave: [0]}\n"
    "  - {slots_cleared: purged, within: 2s}\n",
    "duration: 1s\nsubnet: {nodes: 2}\nprotocol: {buggify: True}\n",
    ("duration: 1s\nsubnet: {nodes: 1}\nnetwork:\nworkload:\nfaults:\n"
     "expect:\nprotocol:\nstate:\n"),
};

START_TEST(test_write_round_trip_cases)
{
    const char *text = writer_cases[_i];
    struct sim_scenario sc;
    load_text(text, strlen(text), "case.yaml", &sc);
    check_round_trip(&sc, "case.yaml");
    sim_scenario_fini(&sc);
}
END_TEST

/* Rates: every interval a rate text gives has a text that gives it back;
 * intervals of no rate text are refused. */
static const struct {
    const char *rate;   /* NULL: interval_ns has no text */
    uint64_t interval_ns;
} rate_cases[] = {
    {"50/s", 0},       {"3/s", 0},           {"0.7/s", 0},
    {"7/m", 0},        {"1000000000/s", 0},  {"0.000000001/s", 0},
    {"1.5/m", 0},      {"123.456789/s", 0},  {"0.001/m", 0},
    {NULL, 2600000000000000ULL + 7}, /* 30 days and 7 ns: no rate hits it */
};

START_TEST(test_format_rate)
{
    char buf[64];
    uint64_t interval = rate_cases[_i].interval_ns, back = 0;
    if (rate_cases[_i].rate == NULL) {
        ck_assert_int_eq(sim_scenario_write_rate(interval, buf, sizeof buf),
                         P2P_ERR_INVALID_ARG);
        return;
    }
    ck_assert_int_eq(conf_units_parse_rate(rate_cases[_i].rate, &interval,
                                          NULL, 0), 0);
    ck_assert_int_eq(sim_scenario_write_rate(interval, buf, sizeof buf), 0);
    ck_assert_int_eq(conf_units_parse_rate(buf, &back, NULL, 0), 0);
    ck_assert_uint_eq(back, interval);
    /* Too small a buffer is an error, not a cut text. */
    ck_assert_int_eq(sim_scenario_write_rate(interval, buf, 2),
                     P2P_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_equal_names_difference)
{
    const char *a = "duration: 10s\nsubnet: {nodes: 4}\n"
                    "faults: [{at: 1s, crash: [2]}]\n";
    const char *b = "duration: 10s\nsubnet: {nodes: 4}\n"
                    "faults: [{at: 1s, crash: [3]}]\n";
    struct sim_scenario sa, sb;
    char why[128];
    load_text(a, strlen(a), "a.yaml", &sa);
    load_text(b, strlen(b), "a.yaml", &sb);
    ck_assert(!sim_scenario_write_equal(&sa, &sb, why, sizeof why));
    ck_assert_str_eq(why, "faults[0] (sorted by at)");
    ck_assert(sim_scenario_write_equal(&sa, &sa, why, sizeof why));
    sim_scenario_fini(&sa);
    sim_scenario_fini(&sb);
}
END_TEST

/* ---- the generator --------------------------------------------------- */

START_TEST(test_generate_deterministic)
{
    for (uint64_t seed = 1; seed <= 50; seed++) {
        char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        ck_assert_int_eq(sim_swarm_gen_scenario(seed, SIM_MODEL_MESSAGE, &a, &la), 0);
        ck_assert_int_eq(sim_swarm_gen_scenario(seed, SIM_MODEL_MESSAGE, &b, &lb), 0);
        ck_assert_uint_eq(la, lb);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
    }
    /* Different seeds, different scenarios. */
    char *x = NULL, *y = NULL;
    size_t lx, ly;
    ck_assert_int_eq(sim_swarm_gen_scenario(1, SIM_MODEL_MESSAGE, &x, &lx), 0);
    ck_assert_int_eq(sim_swarm_gen_scenario(2, SIM_MODEL_MESSAGE, &y, &ly), 0);
    ck_assert_str_ne(x, y);
    free(x);
    free(y);
}
END_TEST

/* What a generated scenario promises (sim/swarm_gen.h). */
static void check_generated(uint64_t seed, const struct sim_scenario *sc,
                            uint32_t *kinds)
{
    ck_assert_uint_ge(sc->nodes, SIM_SWARM_NODES_MIN);
    ck_assert_uint_le(sc->nodes, SIM_SWARM_NODES_MAX);
    ck_assert_uint_le(sc->node_ids_count, sc->nodes + SIM_SWARM_JOIN_IDS_MAX);
    ck_assert_uint_ge(sc->duration_ns, SIM_SWARM_DURATION_MIN_MS * P2P_NS_PER_MS);
    ck_assert_uint_le(sc->duration_ns, SIM_SWARM_DURATION_MAX_MS * P2P_NS_PER_MS);
    ck_assert(sc->has_seed && sc->seed == seed);
    ck_assert_uint_ge(sc->workload_count, 1);
    uint64_t window = SIM_SWARM_LIVENESS_MIN_MS * P2P_NS_PER_MS;
    bool open = false;
    for (size_t i = 0; i < sc->faults_count; i++) {
        const struct sim_fault *f = &sc->faults[i];
        uint64_t end = f->kind == SIM_FAULT_LOSS || f->kind == SIM_FAULT_BLACKHOLE
                           ? f->at_ns + f->for_ns
                           : f->at_ns;
        ck_assert_msg(end + window <= sc->duration_ns,
                      "seed %" PRIu64 ": fault %zu ends in the liveness phase",
                      seed, i);
        /* The loader refuses bad-chunks without a state section. */
        ck_assert(sc->state.present || !(f->kind == SIM_FAULT_BYZANTINE &&
                                         f->behaviour == SIM_BYZ_BAD_CHUNKS));
        if (f->kind == SIM_FAULT_PARTITION)
            open = true;
        if (f->kind == SIM_FAULT_HEAL)
            open = false;
        kinds[f->kind]++;
    }
    ck_assert_msg(!open, "seed %" PRIu64 ": a partition is never healed", seed);
    bool delivered = false;
    for (size_t i = 0; i < sc->expects_count; i++)
        delivered = delivered ||
                    (sc->expects[i].kind == SIM_EXPECT_DELIVERED &&
                     sc->expects[i].within_ns == SIM_SWARM_WITHIN_NS);
    ck_assert(delivered);
}

START_TEST(test_generate_loads_and_checks)
{
    uint32_t kinds[SIM_FAULT_KINDS_COUNT] = {0};
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    for (uint64_t seed = 1; seed <= SEEDS_CHECKED; seed++) {
        char *text = NULL, name[64];
        size_t len = 0;
        snprintf(name, sizeof name, "swarm-%" PRIu64 ".yaml", seed);
        ck_assert_int_eq(sim_swarm_gen_scenario(seed, SIM_MODEL_MESSAGE, &text, &len), 0);
        struct sim_scenario sc;
        load_text(text, len, name, &sc);
        ck_assert_msg(sim_swarm_check(&sc, devnull) == 0,
                      "seed %" PRIu64 " is refused:\n%s", seed, text);
        check_generated(seed, &sc, kinds);
        check_round_trip(&sc, name);
        sim_scenario_fini(&sc);
        free(text);
    }
    fclose(devnull);
    /* 200 seeds use every fault kind of the message model, and none of
     * the quic model's own. */
    for (int k = 0; k < SIM_FAULT_KINDS_COUNT; k++) {
        bool quic = sim_scenario_fault_quic_only((enum sim_fault_kind)k);
        ck_assert_msg(quic ? kinds[k] == 0 : kinds[k] > 0, "%u %s faults in %u seeds",
                      kinds[k], sim_scenario_fault_kind_name((enum sim_fault_kind)k),
                      SEEDS_CHECKED);
    }
}
END_TEST

/* Whether text has line (a whole line, with its newline). */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* Whether line[0..n) is one the quic model adds to a generated scenario. */
static bool quic_line(const char *line, size_t n)
{
    char buf[512];
    ck_assert_uint_lt(n, sizeof buf);
    memcpy(buf, line, n);
    buf[n] = '\0';
    return strcmp(buf, "  model: quic\n") == 0 || strncmp(buf, "  packet: {", 11) == 0 ||
           (strncmp(buf, "  - {at: ", 9) == 0 &&
            (strstr(buf, ", blackhole: {") != NULL || strstr(buf, ", nat_rebind: [") != NULL));
}

/* A copy of text (owned by the caller) without the lines quic_line names
 * and without 'faults:' lines. */
static char *without_quic_lines(const char *text)
{
    char *left = malloc(strlen(text) + 1);
    ck_assert_ptr_nonnull(left);
    size_t used = 0;
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
        if (!quic_line(p, n) && !(n == 8 && strncmp(p, "faults:\n", 8) == 0)) {
            memcpy(left + used, p, n);
            used += n;
        }
        p += n;
    }
    left[used] = '\0';
    return left;
}

/* The quic model: every seed's scenario is its message scenario plus
 * `model: quic`, packet knobs and blackhole and nat_rebind faults (taking
 * those lines out of its text gives the message text back); each loads,
 * passes the checks, round-trips, keeps its faults in the fault phase, and
 * 200 seeds use every fault kind and every packet knob within its bounds. */
START_TEST(test_generate_quic)
{
    uint32_t kinds[SIM_FAULT_KINDS_COUNT] = {0};
    unsigned reorder = 0, duplicate = 0, corrupt = 0;
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    for (uint64_t seed = 1; seed <= SEEDS_CHECKED; seed++) {
        char *text = NULL, *msg = NULL, name[64];
        size_t len = 0, msg_len = 0;
        snprintf(name, sizeof name, "swarm-%" PRIu64 ".yaml", seed);
        ck_assert_int_eq(sim_swarm_gen_scenario(seed, SIM_MODEL_QUIC, &text, &len), 0);
        ck_assert_int_eq(sim_swarm_gen_scenario(seed, SIM_MODEL_MESSAGE, &msg, &msg_len),
                         0);
        ck_assert(has_line(text, "  model: quic"));
        ck_assert(!has_line(msg, "  model: quic"));
        /* The quic text less its own lines is the message text (but for
         * the 'faults:' line a message scenario without faults lacks),
         * except on thin links, where the quic model budgets large
         * adverts at half the creator's time (sim/swarm_gen.c). */
        char *a = without_quic_lines(text), *b = without_quic_lines(msg);
        if (strstr(msg, "# profile thin") == NULL)
            ck_assert_str_eq(a, b);
        free(a);
        free(b);
        struct sim_scenario sc;
        load_text(text, len, name, &sc);
        ck_assert_int_eq(sc.net.model, SIM_MODEL_QUIC);
        ck_assert_msg(sim_swarm_check(&sc, devnull) == 0, "seed %" PRIu64 " is refused:\n%s",
                      seed, text);
        check_generated(seed, &sc, kinds);
        check_round_trip(&sc, name);
        const struct sim_packet_cfg *p = &sc.net.packet;
        ck_assert_uint_eq(p->mtu_bytes, SIM_SCENARIO_DEFAULT_MTU_BYTES);
        ck_assert_uint_eq(p->queue_bytes, SIM_SCENARIO_DEFAULT_QUEUE_BYTES);
        ck_assert_uint_le(p->reorder_ppm, SIM_SWARM_REORDER_PERMILLE_MAX * 1000);
        ck_assert_uint_le(p->duplicate_ppm, SIM_SWARM_DUPLICATE_PERMILLE_MAX * 1000);
        ck_assert_uint_le(p->corrupt_ppm, SIM_SWARM_CORRUPT_PERMILLE_MAX * 1000);
        ck_assert_uint_le(p->reorder_ns, SIM_SWARM_REORDER_DELAY_MS_MAX * P2P_NS_PER_MS);
        reorder += p->reorder_ppm != 0;
        duplicate += p->duplicate_ppm != 0;
        corrupt += p->corrupt_ppm != 0;
        size_t own = 0;
        for (size_t i = 0; i < sc.faults_count; i++) {
            const struct sim_fault *f = &sc.faults[i];
            if (!sim_scenario_fault_quic_only(f->kind))
                continue;
            own++;
            for (size_t j = 0; j < f->nodes_count; j++)
                ck_assert_uint_lt(f->nodes[j], sc.nodes);
            if (f->kind == SIM_FAULT_BLACKHOLE)
                ck_assert_uint_le(f->for_ns, SIM_SWARM_BLACKHOLE_MS_MAX * P2P_NS_PER_MS);
        }
        ck_assert_uint_le(own, SIM_SWARM_QUIC_FAULTS_MAX);
        sim_scenario_fini(&sc);
        free(text);
        free(msg);
    }
    fclose(devnull);
    for (int k = 0; k < SIM_FAULT_KINDS_COUNT; k++)
        ck_assert_msg(kinds[k] > 0, "no %s fault in %u seeds",
                      sim_scenario_fault_kind_name((enum sim_fault_kind)k), SEEDS_CHECKED);
    ck_assert_uint_gt(reorder, 0);
    ck_assert_uint_gt(duplicate, 0);
    ck_assert_uint_gt(corrupt, 0);
}
END_TEST

/* ---- the timeline check of registry versions ------------------------- */

#define TL_HEAD "duration: 60s\nsubnet: {nodes: 4}\n"

/* Timelines the check refuses (with the line and words of its message)
 * or accepts (msg NULL). Versions: 1 at the start, one more per leave or
 * join. */
static const struct {
    const char *text;
    const char *msg;
} timeline_cases[] = {
    {TL_HEAD "faults:\n  - {at: 1s, registry_earliest: 1}\n"
             "  - {at: 2s, leave: [3]}\n  - {at: 3s, registry_earliest: 2}\n"
             "expect:\n  - {served_after_leave: [3]}\n",
     NULL},
    {TL_HEAD "faults:\n  - {at: 1s, registry_earliest: latest}\n", NULL},
    /* Version 2 exists only from the leave on (same time: file order). */
    {TL_HEAD "faults:\n  - {at: 2s, registry_earliest: 2}\n"
             "  - {at: 2s, leave: [3]}\n",
     ":4: registry_earliest fault: version 2 is past the latest registry "
     "version by then (1)"},
    {TL_HEAD "faults:\n  - {at: 2s, leave: [3]}\n"
             "  - {at: 2s, registry_earliest: 2}\n",
     NULL},
    {TL_HEAD "faults:\n  - {at: 1s, leave: [3]}\n  - {at: 2s, join: [3]}\n"
             "  - {at: 3s, registry_earliest: 3}\n"
             "  - {at: 4s, registry_earliest: 2}\n",
     ":7: registry_earliest fault: version 2 is older than the earliest "
     "version already in use (3)"},
    {TL_HEAD "faults:\n  - {at: 1s, leave: [3]}\n"
             "  - {at: 3s, registry_earliest: latest}\n"
             "  - {at: 4s, registry_earliest: 1}\n",
     ":6: registry_earliest fault: version 1 is older"},
    {TL_HEAD "expect:\n  - {served_after_leave: [2]}\n",
     ":4: served_after_leave: node 2 must leave exactly once and not join "
     "again (it leaves 0 times)"},
    {TL_HEAD "faults:\n  - {at: 1s, leave: [2]}\n  - {at: 2s, join: [2]}\n"
             "expect:\n  - {served_after_leave: [1, 2]}\n",
     ":7: served_after_leave: node 1 must leave"},
    {TL_HEAD "faults:\n  - {at: 1s, leave: [2]}\n  - {at: 2s, join: [2]}\n"
             "expect:\n  - {served_after_leave: [2]}\n",
     "(it leaves 1 times and joins again)"},
};

START_TEST(test_timeline_registry)
{
    struct sim_scenario sc;
    load_text(timeline_cases[_i].text, strlen(timeline_cases[_i].text),
              "tl.yaml", &sc);
    char *msg = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&msg, &len);
    ck_assert_ptr_nonnull(err);
    int rc = sim_swarm_check(&sc, err);
    fclose(err);
    if (timeline_cases[_i].msg == NULL) {
        ck_assert_msg(rc == 0, "case %d refused: %s", _i, msg);
    } else {
        ck_assert_int_eq(rc, P2P_ERR_DECODE);
        ck_assert_msg(strstr(msg, timeline_cases[_i].msg) != NULL,
                      "case %d said '%s', want '%s'", _i, msg,
                      timeline_cases[_i].msg);
        ck_assert(strncmp(msg, "tl.yaml:", 8) == 0);
    }
    free(msg);
    sim_scenario_fini(&sc);
}
END_TEST

/* ---- state sync in generated scenarios -------------------------------- */

/* The thinnest bandwidth of sc's network, in bits per second. */
static uint64_t thinnest_bps(const struct sim_scenario *sc)
{
    uint64_t bw = sc->net.bandwidth_bps;
    for (size_t i = 0; i < sc->net.links_count; i++)
        if (sc->net.links[i].has_bandwidth &&
            sc->net.links[i].bandwidth_bps < bw)
            bw = sc->net.links[i].bandwidth_bps;
    return bw;
}

/* Whether a join or a restart names v. */
static bool started_by_fault(const struct sim_scenario *sc, uint32_t v)
{
    for (size_t i = 0; i < sc->faults_count; i++) {
        const struct sim_fault *f = &sc->faults[i];
        if (f->kind != SIM_FAULT_JOIN && f->kind != SIM_FAULT_RESTART)
            continue;
        for (size_t j = 0; j < f->nodes_count; j++)
            if (f->nodes[j] == v)
                return true;
    }
    return false;
}

/* The bounds sim/swarm_gen.h promises for a state section, and for the
 * state_synced expectation. Returns how many nodes it lists. */
static size_t check_state(uint64_t seed, const struct sim_scenario *sc)
{
    const struct sim_state_cfg *st = &sc->state;
    uint64_t chunk = st->chunk_bytes;
    ck_assert_msg(chunk >= SIM_SWARM_STATE_CHUNK_MIN &&
                  chunk <= SIM_SWARM_STATE_CHUNK_MAX && (chunk & (chunk - 1)) == 0,
                  "seed %" PRIu64 ": chunk %" PRIu64, seed, chunk);
    ck_assert_uint_ge(st->size_bytes, (uint64_t)SIM_SWARM_STATE_MIB_MIN << 20);
    ck_assert_uint_lt(st->size_bytes,
                      ((uint64_t)SIM_SWARM_STATE_MIB_MAX << 20) + chunk);
    ck_assert_uint_ge(st->checkpoint_every_ns,
                      SIM_SWARM_STATE_EVERY_MS_MIN * P2P_NS_PER_MS);
    ck_assert_uint_le(st->checkpoint_every_ns,
                      SIM_SWARM_STATE_EVERY_MS_MAX * P2P_NS_PER_MS);
    ck_assert_uint_le(st->churn_ppm, SIM_SWARM_STATE_CHURN_PERMILLE_MAX * 1000);
    /* What a sync asks for at once crosses the thinnest link in the
     * burst time, unless the chunk is already the smallest. */
    uint64_t bps = thinnest_bps(sc);
    uint64_t asked = (uint64_t)SIM_SWARM_STATE_CHUNKS_PER_PEER *
                     (sc->node_ids_count - 1) * chunk;
    ck_assert_msg(chunk == SIM_SWARM_STATE_CHUNK_MIN ||
                  asked * 8 * 1000 <= bps * SIM_SWARM_STATE_BURST_MS,
                  "seed %" PRIu64 ": %" PRIu64 " bytes asked at once on %"
                  PRIu64 " bit/s", seed, asked, bps);
    size_t listed = 0;
    for (size_t i = 0; i < sc->expects_count; i++) {
        const struct sim_expect *e = &sc->expects[i];
        if (e->kind != SIM_EXPECT_STATE_SYNCED)
            continue;
        /* Past the fault phase and the liveness bound, at least. */
        ck_assert_uint_gt(e->within_ns, SIM_SWARM_WITHIN_NS);
        for (size_t j = 0; j < e->nodes_count; j++)
            ck_assert_msg(started_by_fault(sc, e->nodes[j]),
                          "seed %" PRIu64 ": node %" PRIu32 " never joined "
                          "nor restarted", seed, e->nodes[j]);
        listed += e->nodes_count;
    }
    return listed;
}

#define STATE_SEEDS 400u

START_TEST(test_generate_state)
{
    unsigned with_state = 0, with_synced = 0, bad_chunks = 0, short_last = 0;
    uint64_t chunk_sizes = 0; /* bit k: a chunk of 2^k bytes was seen */
    for (uint64_t seed = 1; seed <= STATE_SEEDS; seed++) {
        char *text = NULL, name[64];
        size_t len = 0;
        snprintf(name, sizeof name, "swarm-%" PRIu64 ".yaml", seed);
        ck_assert_int_eq(sim_swarm_gen_scenario(seed, SIM_MODEL_MESSAGE, &text, &len), 0);
        struct sim_scenario sc;
        load_text(text, len, name, &sc);
        bool synced = false;
        for (size_t i = 0; i < sc.expects_count; i++)
            synced = synced || sc.expects[i].kind == SIM_EXPECT_STATE_SYNCED;
        ck_assert_msg(sc.state.present || !synced,
                      "seed %" PRIu64 ": state_synced without state", seed);
        if (sc.state.present) {
            with_state++;
            with_synced += check_state(seed, &sc) > 0;
            short_last += sc.state.size_bytes % sc.state.chunk_bytes != 0;
            chunk_sizes |= sc.state.chunk_bytes;
            for (size_t i = 0; i < sc.faults_count; i++)
                bad_chunks += sc.faults[i].kind == SIM_FAULT_BYZANTINE &&
                              sc.faults[i].behaviour == SIM_BYZ_BAD_CHUNKS;
            check_round_trip(&sc, name);
        }
        sim_scenario_fini(&sc);
        free(text);
    }
    /* About SIM_SWARM_STATE_PERCENT of the seeds; most of those have a
     * node that joined or restarted, some a bad-chunks peer, some a
     * short last chunk, and chunks of several sizes. */
    ck_assert_uint_ge(with_state * 100, STATE_SEEDS * (SIM_SWARM_STATE_PERCENT - 10));
    ck_assert_uint_le(with_state * 100, STATE_SEEDS * (SIM_SWARM_STATE_PERCENT + 10));
    ck_assert_uint_ge(with_synced * 3, with_state);
    ck_assert_uint_gt(bad_chunks, 0);
    ck_assert_uint_gt(short_last, 0);
    ck_assert_uint_ge(__builtin_popcountll(chunk_sizes), 3);
}
END_TEST

/* ---- shrinking a state section away ----------------------------------- */

/* Fails through `delivered` (1 ms cannot be met), which needs no state:
 * the shrinker must take the state section out, and with it the
 * bad-chunks fault and the state_synced expectation that need it. */
static const char shrink_state_case[] =
    "name: shrink-state\n"
    "seed: 3\n"
    "duration: 3s\n"
    "subnet: {nodes: 4}\n"
    "network: {latency: 5ms, bandwidth: 1Gbit}\n"
    "workload:\n"
    "  - {kind: push, every: 200ms, size: 1KiB, from: round-robin}\n"
    "state: {size: 2MiB, chunk: 64KiB, checkpoint_every: 1s, churn: 10%}\n"
    "faults:\n"
    "  - {at: 500ms, byzantine: {nodes: [3], behaviour: bad-chunks}}\n"
    "  - {at: 1s, join: [4]}\n"
    "expect:\n"
    "  - {delivered: all, within: 1ms}\n"
    "  - {state_synced: [4], within: 10s}\n";

START_TEST(test_shrink_removes_state)
{
    char dir[] = "/tmp/p2p-test-swarm-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char in[PATHS_MAX], out[PATHS_MAX];
    snprintf(in, sizeof in, "%s/in.yaml", dir);
    snprintf(out, sizeof out, "%s/out.yaml", dir);
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(shrink_state_case, 1, sizeof shrink_state_case - 1,
                             f), sizeof shrink_state_case - 1);
    ck_assert_int_eq(fclose(f), 0);
    char *argv[] = {"shrink", in, "--out", out, "--quiet", "--runs-max", "60",
                    "--timeout", "60", NULL};
    fflush(stdout);
    ck_assert_int_eq(sim_shrink_main(9, argv), 0);
    struct sim_scenario sc;
    struct sim_scenario_error err;
    ck_assert_int_eq(sim_scenario_load_file(out, &sc, &err), 0);
    ck_assert(!sc.state.present);
    for (size_t i = 0; i < sc.faults_count; i++)
        ck_assert(!(sc.faults[i].kind == SIM_FAULT_BYZANTINE &&
                    sc.faults[i].behaviour == SIM_BYZ_BAD_CHUNKS));
    for (size_t i = 0; i < sc.expects_count; i++)
        ck_assert_int_ne(sc.expects[i].kind, SIM_EXPECT_STATE_SYNCED);
    /* Still the same failure. */
    ck_assert_uint_ge(sc.expects_count, 1);
    ck_assert_int_eq(sc.expects[0].kind, SIM_EXPECT_DELIVERED);
    struct sim_swarm_outcome o;
    sim_swarm_run(&sc, NULL, &o);
    ck_assert_int_eq(o.status, SIM_SWARM_FAILED);
    ck_assert_str_eq(o.signature, "delivered all within 0.001s");
    sim_scenario_fini(&sc);
    unlink(out);
    unlink(in);
    rmdir(dir);
}
END_TEST

/* A state_synced failure keeps its state section; the shrinker makes it
 * smaller instead (halves the size, drops churn, ...). */
static const char shrink_synced_case[] =
    "name: shrink-synced\n"
    "seed: 5\n"
    "duration: 4s\n"
    "subnet: {nodes: 4}\n"
    "network: {latency: 5ms, bandwidth: 1Gbit}\n"
    "workload:\n"
    "  - {kind: push, every: 500ms, size: 1KiB, from: round-robin}\n"
    "state: {size: 8MiB, chunk: 64KiB, checkpoint_every: 1s, churn: 10%}\n"
    "faults:\n"
    "  - {at: 1s, join: [4]}\n"
    "  - {at: 1500ms, join: [5]}\n"
    "expect:\n"
    "  - {delivered: all, within: 10s}\n"
    "  - {state_synced: [4, 5], within: 1ns}\n";

START_TEST(test_shrink_keeps_needed_state)
{
    char dir[] = "/tmp/p2p-test-swarm-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char in[PATHS_MAX], out[PATHS_MAX];
    snprintf(in, sizeof in, "%s/in.yaml", dir);
    snprintf(out, sizeof out, "%s/out.yaml", dir);
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(shrink_synced_case, 1,
                             sizeof shrink_synced_case - 1, f),
                      sizeof shrink_synced_case - 1);
    ck_assert_int_eq(fclose(f), 0);
    char *argv[] = {"shrink", in, "--out", out, "--quiet", "--runs-max", "80",
                    "--timeout", "60", NULL};
    fflush(stdout);
    ck_assert_int_eq(sim_shrink_main(9, argv), 0);
    struct sim_scenario sc;
    struct sim_scenario_error err;
    ck_assert_int_eq(sim_scenario_load_file(out, &sc, &err), 0);
    ck_assert(sc.state.present);
    ck_assert_uint_lt(sc.state.size_bytes, 8u << 20);
    ck_assert_uint_eq(sc.state.churn_ppm, 0);
    size_t synced = 0;
    for (size_t i = 0; i < sc.expects_count; i++)
        if (sc.expects[i].kind == SIM_EXPECT_STATE_SYNCED) {
            synced++;
            ck_assert_uint_eq(sc.expects[i].nodes_count, 1); /* one left */
        }
    ck_assert_uint_eq(synced, 1);
    sim_scenario_fini(&sc);
    unlink(out);
    unlink(in);
    rmdir(dir);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *swarm_suite(void)
{
    Suite *s = suite_create("swarm");
    TCase *w = tcase_create("writer");
    tcase_add_test(w, test_write_round_trip_files);
    tcase_add_loop_test(w, test_write_round_trip_cases, 0, COUNT(writer_cases));
    tcase_add_loop_test(w, test_format_rate, 0, COUNT(rate_cases));
    tcase_add_test(w, test_equal_names_difference);
    suite_add_tcase(s, w);
    TCase *g = tcase_create("generator");
    tcase_add_test(g, test_generate_deterministic);
    tcase_add_test(g, test_generate_loads_and_checks);
    tcase_add_test(g, test_generate_quic);
    tcase_add_test(g, test_generate_state);
    tcase_add_loop_test(g, test_timeline_registry, 0, COUNT(timeline_cases));
    suite_add_tcase(s, g);
    TCase *k = tcase_create("shrink");
    tcase_set_timeout(k, 120);
    tcase_add_test(k, test_shrink_removes_state);
    tcase_add_test(k, test_shrink_keeps_needed_state);
    suite_add_tcase(s, k);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(swarm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
