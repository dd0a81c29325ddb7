/* The state-sync part of the summary: the `state_synced` expectation, one
 * line per sync, and the efficiency figure (docs/state-sync.md). */
#include <string.h>

#include "sim/report.h"

/* Seconds a sync would take at the bottleneck of its path: the bytes it
 * fetched as they crossed the wire (zstd frames or raw) over min(sum of
 * the serving peers' uplinks, the node's downlink). */
static double ideal_s(const struct sim_sync_record *r)
{
    return r->ideal_bps ? (double)r->wire_fetched * 8.0 / (double)r->ideal_bps
                        : 0.0;
}

/* The chunks' bytes over their bytes on the wire, over every completed
 * sync (0 when none fetched anything). */
bool sim_report_state_compression(const struct sim_world *w, double *out)
{
    uint64_t bytes = 0, wire = 0;
    for (size_t i = 0; i < w->syncs_count; i++) {
        const struct sim_sync_record *r = &w->syncs[i];
        if (!r->completed)
            continue;
        bytes += r->bytes_fetched;
        wire += r->wire_fetched;
    }
    *out = wire > 0 ? (double)bytes / (double)wire : 0.0;
    return wire > 0;
}

static double took_s(const struct sim_sync_record *r)
{
    return (double)(r->ended - r->started) / 1e9;
}

static bool counts(const struct sim_sync_record *r)
{
    return r->completed && r->wire_fetched > 0 && r->ideal_bps > 0;
}

bool sim_report_state_efficiency(const struct sim_world *w, double *out)
{
    double took = 0, ideal = 0;
    for (size_t i = 0; i < w->syncs_count; i++) {
        const struct sim_sync_record *r = &w->syncs[i];
        if (!counts(r))
            continue;
        took += took_s(r);
        ideal += ideal_s(r);
    }
    *out = ideal > 0 ? took / ideal : 0.0;
    return ideal > 0;
}

void sim_report_state_judge_synced(const struct sim_world *w,
                                   const struct sim_expect *e,
                                   struct sim_expect_result *res)
{
    uint32_t late = 0;
    int at = 0;
    res->detail[0] = '\0';
    for (size_t k = 0; k < e->nodes_count; k++) {
        uint32_t id = e->nodes[k];
        const struct sim_node *sn = &w->nodes[id];
        bool ok = id < w->nodes_count && sn->running &&
                  sn->caught_up_at != P2P_TIME_NEVER &&
                  sn->caught_up_at - sn->live_since <= e->within_ns;
        late += !ok;
        size_t room = sizeof(res->detail) - (size_t)at;
        int n;
        if (!sn->running)
            n = snprintf(res->detail + at, room, "%snode %u not running",
                         k ? "; " : "", id);
        else if (sn->caught_up_at == P2P_TIME_NEVER)
            n = snprintf(res->detail + at, room,
                         "%snode %u never caught up (holds height %llu of "
                         "%llu)",
                         k ? "; " : "", id,
                         (unsigned long long)sn->store.held_height,
                         (unsigned long long)w->state_height);
        else
            n = snprintf(res->detail + at, room,
                         "%snode %u caught up %.2f s after it started",
                         k ? "; " : "", id,
                         (double)(sn->caught_up_at - sn->live_since) / 1e9);
        if (n > 0 && (size_t)n < room)
            at += n;
    }
    res->ok = late == 0;
    snprintf(res->name, sizeof(res->name), "state_synced within %.1fs",
             (double)e->within_ns / 1e9);
}

#define TEXT_SYNCS_MAX 16u /* sync lines in the text summary */

void sim_report_state_text(const struct sim_world *w, FILE *out)
{
    if (!w->states_on)
        return;
    size_t shown = 0, done = 0;
    for (size_t i = 0; i < w->syncs_count; i++) {
        const struct sim_sync_record *r = &w->syncs[i];
        done += r->completed;
        if (!r->completed || shown == TEXT_SYNCS_MAX)
            continue;
        shown++;
        fprintf(out,
                "  state sync: node %u height %llu: %u chunks (%u reused), "
                "%.1f MiB (%.1f MiB on the wire) in %.2f s from %u peers",
                r->node, (unsigned long long)r->height, r->chunks_total,
                r->chunks_reused, (double)r->bytes_fetched / 1048576.0,
                (double)r->wire_fetched / 1048576.0, took_s(r), r->peers);
        if (counts(r))
            fprintf(out, " = %.2fx ideal (%.2f s)", took_s(r) / ideal_s(r),
                    ideal_s(r));
        fputc('\n', out);
    }
    double eff;
    fprintf(out,
            "  state: height %llu, %zu syncs (%zu completed), %.1f MiB "
            "of state traffic",
            (unsigned long long)w->state_height, w->syncs_count, done,
            (double)w->stats.bytes_by_traffic[P2P_TRAFFIC_STATE] / 1048576.0);
    if (sim_report_state_efficiency(w, &eff))
        fprintf(out, ", state_sync_efficiency %.3fx ideal", eff);
    double ratio;
    if (sim_report_state_compression(w, &ratio))
        fprintf(out, ", chunk compression %.2fx", ratio);
    fputc('\n', out);
}

void sim_report_state_json(const struct sim_world *w, FILE *out)
{
    double eff;
    bool has = sim_report_state_efficiency(w, &eff);
    fprintf(out,
            ", \"bytes_state\": %llu, \"state_height\": %llu, "
            "\"state_sync_efficiency\": ",
            (unsigned long long)w->stats.bytes_by_traffic[P2P_TRAFFIC_STATE],
            (unsigned long long)w->state_height);
    if (has)
        fprintf(out, "%.4f", eff);
    else
        fprintf(out, "null");
    double ratio;
    fprintf(out, ", \"state_compression_ratio\": ");
    if (sim_report_state_compression(w, &ratio))
        fprintf(out, "%.4f", ratio);
    else
        fprintf(out, "null");
    fprintf(out, ", \"state_syncs\": [");
    for (size_t i = 0; i < w->syncs_count; i++) {
        const struct sim_sync_record *r = &w->syncs[i];
        fprintf(out,
                "%s{\"node\": %u, \"height\": %llu, \"completed\": %s, "
                "\"chunks\": %u, \"chunks_reused\": %u, \"bytes\": %llu, "
                "\"wire_bytes\": %llu, \"peers\": %u, \"started_s\": %.3f, "
                "\"duration_s\": ",
                i ? ", " : "", r->node, (unsigned long long)r->height,
                r->completed ? "true" : "false", r->chunks_total,
                r->chunks_reused, (unsigned long long)r->bytes_fetched,
                (unsigned long long)r->wire_fetched, r->peers,
                (double)r->started / 1e9);
        if (r->ended != P2P_TIME_NEVER)
            fprintf(out, "%.3f", took_s(r));
        else
            fprintf(out, "null");
        fprintf(out, ", \"ideal_s\": %.3f}", ideal_s(r));
    }
    fputc(']', out);
}
