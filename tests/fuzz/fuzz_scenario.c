/* libFuzzer harness for the scenario loader (sim/scenario.h).
 *
 * The input is the YAML text. On success the loaded scenario must satisfy
 * the documented schema (docs/scenario-format.md): ids in range, faults
 * sorted by time, values within their limits. On failure the error has a
 * sane position, a NUL-terminated message and *out is left zeroed. Leaks
 * are caught by LeakSanitizer. Any failed check aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/scenario.h"
#include "fuzz_check.h"

#define NAME_FOR_ERRORS "fuzz.yaml"

/* Ids in one list: each below count, all distinct. */
static void check_ids(const uint32_t *ids, size_t n, uint32_t count)
{
    FUZZ_CHECK(n == 0 || ids != NULL);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(ids[i] < count);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(ids[i] != ids[j]);
    }
}

static bool has_nodes(enum sim_fault_kind k)
{
    return k == SIM_FAULT_CRASH || k == SIM_FAULT_RESTART ||
           k == SIM_FAULT_LEAVE || k == SIM_FAULT_JOIN ||
           k == SIM_FAULT_BYZANTINE || k == SIM_FAULT_SKEW;
}

static void check_fault(const struct sim_scenario *s, const struct sim_fault *f)
{
    FUZZ_CHECK((unsigned)f->kind < SIM_FAULT_KINDS_COUNT);
    FUZZ_CHECK(f->at_ns <= s->duration_ns);
    FUZZ_CHECK(f->line >= 1);
    if (has_nodes(f->kind)) {
        FUZZ_CHECK(f->nodes_count >= 1);
        check_ids(f->nodes, f->nodes_count, s->node_ids_count);
    }
    if (f->kind == SIM_FAULT_JOIN)
        for (size_t i = 0; i < f->nodes_count; i++)
            FUZZ_CHECK(f->nodes[i] < s->nodes + SIM_SCENARIO_JOIN_IDS_MAX);
    if (f->kind == SIM_FAULT_PARTITION) {
        FUZZ_CHECK(f->groups_count >= 1);
        FUZZ_CHECK(f->groups != NULL && f->group_sizes != NULL);
        /* Non-empty and disjoint: all ids of all groups are distinct. */
        size_t total = 0;
        for (size_t g = 0; g < f->groups_count; g++) {
            FUZZ_CHECK(f->group_sizes[g] >= 1);
            total += f->group_sizes[g];
        }
        uint32_t *all = malloc(total * sizeof(*all));
        FUZZ_CHECK(all != NULL);
        size_t k = 0;
        for (size_t g = 0; g < f->groups_count; g++)
            for (size_t i = 0; i < f->group_sizes[g]; i++)
                all[k++] = f->groups[g][i];
        check_ids(all, total, s->node_ids_count);
        free(all);
    }
    if (f->kind == SIM_FAULT_BYZANTINE)
        FUZZ_CHECK((unsigned)f->behaviour < SIM_BYZ_COUNT);
    if (f->kind == SIM_FAULT_SKEW) {
        FUZZ_CHECK(f->drift_ppm >= -SIM_SCENARIO_DRIFT_PPM_MAX &&
                   f->drift_ppm <= SIM_SCENARIO_DRIFT_PPM_MAX);
        FUZZ_CHECK(f->skew_offset_ns >= -(int64_t)SIM_SCENARIO_TIME_MAX_NS &&
                   f->skew_offset_ns <= (int64_t)SIM_SCENARIO_TIME_MAX_NS);
    }
    if (f->kind == SIM_FAULT_REGISTRY_EARLIEST)
        FUZZ_CHECK(f->nodes_count == 0 && f->nodes == NULL); /* 0: latest */
    if (f->kind == SIM_FAULT_LOSS) {
        FUZZ_CHECK(f->loss_all_links);
        FUZZ_CHECK(f->loss_ppm < 1000000);
        FUZZ_CHECK(f->for_ns > 0 && f->for_ns <= SIM_SCENARIO_TIME_MAX_NS);
    }
}

static void check_loaded(const struct sim_scenario *s)
{
    FUZZ_CHECK(s->name != NULL);
    size_t name_len = strlen(s->name);
    FUZZ_CHECK(name_len >= 1 && name_len <= SIM_SCENARIO_NAME_BYTES_MAX);
    for (size_t i = 0; i < name_len; i++)
        FUZZ_CHECK((unsigned char)s->name[i] >= 0x20 && s->name[i] != 0x7f);
    FUZZ_CHECK(s->path != NULL && strcmp(s->path, NAME_FOR_ERRORS) == 0);
    FUZZ_CHECK(s->has_seed || s->seed == SIM_SCENARIO_DEFAULT_SEED);
    FUZZ_CHECK(s->duration_ns > 0 && s->duration_ns <= SIM_SCENARIO_TIME_MAX_NS);
    FUZZ_CHECK(s->nodes >= 1 && s->nodes <= SIM_SCENARIO_NODES_MAX);
    FUZZ_CHECK(s->node_ids_count >= s->nodes &&
               s->node_ids_count <= s->nodes + SIM_SCENARIO_JOIN_IDS_MAX);

    const struct sim_network *net = &s->net;
    FUZZ_CHECK(net->latency_ns <= SIM_SCENARIO_TIME_MAX_NS);
    FUZZ_CHECK(net->jitter_ns <= SIM_SCENARIO_TIME_MAX_NS);
    FUZZ_CHECK(net->bandwidth_bps > 0);
    FUZZ_CHECK(net->loss_ppm < 1000000);
    FUZZ_CHECK(net->links_count <= SIM_SCENARIO_LINKS_MAX);
    FUZZ_CHECK(net->links_count == 0 || net->links != NULL);
    for (size_t i = 0; i < net->links_count; i++) {
        const struct sim_link_override *l = &net->links[i];
        FUZZ_CHECK(l->from != l->to);
        FUZZ_CHECK(l->from < s->node_ids_count && l->to < s->node_ids_count);
        FUZZ_CHECK(l->has_latency || l->has_jitter || l->has_bandwidth ||
                   l->has_loss);
        FUZZ_CHECK(!l->has_latency || l->latency_ns <= SIM_SCENARIO_TIME_MAX_NS);
        FUZZ_CHECK(!l->has_jitter || l->jitter_ns <= SIM_SCENARIO_TIME_MAX_NS);
        FUZZ_CHECK(!l->has_bandwidth || l->bandwidth_bps > 0);
        FUZZ_CHECK(!l->has_loss || l->loss_ppm < 1000000);
    }

    FUZZ_CHECK(s->workload_count <= SIM_SCENARIO_WORKLOAD_MAX);
    FUZZ_CHECK(s->workload_count == 0 || s->workload != NULL);
    for (size_t i = 0; i < s->workload_count; i++) {
        const struct sim_workload_item *w = &s->workload[i];
        FUZZ_CHECK((unsigned)w->kind < P2P_KINDS_COUNT);
        FUZZ_CHECK(w->interval_ns >= 1);
        FUZZ_CHECK(w->size_bytes >= SIM_SCENARIO_ARTIFACT_BYTES_MIN &&
                   w->size_bytes <= SIM_SCENARIO_ARTIFACT_BYTES_MAX);
        FUZZ_CHECK(w->size_max_bytes >= w->size_bytes &&
                   w->size_max_bytes <= SIM_SCENARIO_ARTIFACT_BYTES_MAX);
        FUZZ_CHECK((unsigned)w->from <= SIM_FROM_NODE);
        FUZZ_CHECK(w->from != SIM_FROM_NODE || w->from_node < s->node_ids_count);
        FUZZ_CHECK(w->start_ns < w->stop_ns && w->stop_ns <= s->duration_ns);
    }

    if (s->state.present) {
        FUZZ_CHECK(s->state.size_bytes > 0);
        FUZZ_CHECK(s->state.chunk_bytes >= 1 &&
                   s->state.chunk_bytes <= s->state.size_bytes);
        uint64_t chunks = s->state.size_bytes / s->state.chunk_bytes +
                          (s->state.size_bytes % s->state.chunk_bytes != 0);
        FUZZ_CHECK(chunks <= SIM_SCENARIO_STATE_CHUNKS_MAX);
        FUZZ_CHECK(s->state.checkpoint_every_ns > 0);
        FUZZ_CHECK(s->state.churn_ppm <= 1000000);
    }

    FUZZ_CHECK(s->faults_count <= SIM_SCENARIO_FAULTS_MAX);
    FUZZ_CHECK(s->faults_count == 0 || s->faults != NULL);
    for (size_t i = 0; i < s->faults_count; i++) {
        check_fault(s, &s->faults[i]);
        if (i > 0) {
            const struct sim_fault *a = &s->faults[i - 1], *b = &s->faults[i];
            FUZZ_CHECK(a->at_ns <= b->at_ns); /* sorted */
            FUZZ_CHECK(a->at_ns < b->at_ns || a->line <= b->line); /* stable */
        }
    }

    FUZZ_CHECK(s->expects_count <= SIM_SCENARIO_EXPECTS_MAX);
    FUZZ_CHECK(s->expects_count == 0 || s->expects != NULL);
    for (size_t i = 0; i < s->expects_count; i++) {
        const struct sim_expect *e = &s->expects[i];
        switch (e->kind) {
        case SIM_EXPECT_DELIVERED:
            FUZZ_CHECK(e->within_ns > 0);
            break;
        case SIM_EXPECT_STATE_SYNCED:
            FUZZ_CHECK(e->within_ns > 0);
            FUZZ_CHECK(s->state.present);
            FUZZ_CHECK(e->nodes_count >= 1);
            check_ids(e->nodes, e->nodes_count, s->node_ids_count);
            break;
        case SIM_EXPECT_MAX_MEMORY:
            FUZZ_CHECK(e->bytes > 0 && e->within_ns == 0);
            break;
        case SIM_EXPECT_PENALISED:
            FUZZ_CHECK(e->within_ns == 0 && e->nodes_count == 0);
            break;
        case SIM_EXPECT_SERVED_AFTER_LEAVE:
            FUZZ_CHECK(e->within_ns == 0 && e->nodes_count >= 1);
            check_ids(e->nodes, e->nodes_count, s->node_ids_count);
            break;
        case SIM_EXPECT_SLOTS_CLEARED:
            FUZZ_CHECK(e->within_ns > 0 && e->nodes_count == 0);
            break;
        case SIM_EXPECT_HEIGHTS_PURGED:
            FUZZ_CHECK(e->within_ns > 0 && e->nodes_count == 0 &&
                       s->protocol.has_heights);
            break;
        default:
            FUZZ_CHECK(!"bad expect kind");
        }
    }
    FUZZ_CHECK(!s->protocol.has_artifact_ttl || s->protocol.artifact_ttl_ns > 0);
    FUZZ_CHECK(!s->protocol.has_heights ||
               (s->protocol.height_every_ns > 0 && s->protocol.height_keep >= 1 &&
                s->protocol.height_keep <= SIM_SCENARIO_HEIGHT_KEEP_MAX));
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_scenario s;
    struct sim_scenario_error err;
    memset(&s, 0x5a, sizeof(s));
    memset(&err, 0x5a, sizeof(err));
    int rc = sim_scenario_load_string((const char *)data, size,
                                      NAME_FOR_ERRORS, &s, &err);
    if (rc == 0) {
        check_loaded(&s);
        sim_scenario_fini(&s);
        FUZZ_CHECK(all_zero(&s, sizeof(s)));
        sim_scenario_fini(&s); /* safe twice */
        return 0;
    }
    FUZZ_CHECK(rc == P2P_ERR_DECODE || rc == P2P_ERR_LIMIT ||
               rc == P2P_ERR_OVERSIZE);
    FUZZ_CHECK(err.line >= 0 && err.column >= 0);
    FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
    FUZZ_CHECK(err.message[0] != '\0');
    FUZZ_CHECK(all_zero(&s, sizeof(s)));
    sim_scenario_fini(&s); /* safe on a zeroed struct */
    char buf[512];
    sim_scenario_error_format(&err, NAME_FOR_ERRORS, buf, sizeof(buf));
    FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)) != NULL);
    return 0;
}
