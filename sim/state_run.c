/* State sync in the simulation (docs/state-sync.md; the scenario's
 * 'state' section, docs/scenario-format.md).
 *
 * The subnet's state advances one height every state.checkpoint_every: a
 * running node that holds the previous height executes to the new one
 * (its store's height moves); a node that holds an older state, or none
 * (it joined late, or was down while checkpoints passed), cannot execute
 * and has to state-sync. Nodes of the initial subnet hold height 1 at
 * time 0. Every node's store is its disk (sim/state_store.h): it keeps its
 * complete state and the chunks of an interrupted sync across a crash.
 *
 * Each sync a core runs is recorded (start, chunks, bytes, serving peers,
 * end) for progress lines, the summary and the efficiency figure:
 * duration / ideal, where ideal = the chunks' bytes on the wire (zstd
 * frames or raw) / min(sum of the serving peers' uplinks, the node's
 * downlink). */
#include <stdlib.h>
#include <string.h>

#include "core/chunk_scheduler.h"
#include "core/err.h"
#include "sim/world.h"

/* Whether node can serve the state a sync fetches: the store's own rule
 * (a checkpoint it executed through, still in the window). */
static bool can_serve(struct sim_world *w, uint32_t node, uint64_t height,
                      const struct p2p_state_hash *root)
{
    struct sim_node *sn = &w->nodes[node];
    return sn->running && sn->store_ready &&
           sim_state_store_ops.manifest(&sn->store, height, root) != NULL;
}

int sim_state_run_init(struct sim_world *w)
{
    const struct sim_state_cfg *cfg = &w->sc->state;
    if (!cfg->present)
        return 0;
    p2p_mem_init(&w->state_mem);
    const struct sim_states_cfg states = {
        .seed = w->seed,
        .size_bytes = cfg->size_bytes,
        .chunk_bytes = (uint32_t)cfg->chunk_bytes,
        .churn_ppm = cfg->churn_ppm,
        .compressible_ppm = cfg->compressible_ppm,
    };
    int rc = sim_states_init(&w->states, &w->state_mem, &states);
    const struct p2p_state_manifest *m;
    struct p2p_state_hash root;
    if (rc == 0)
        rc = sim_states_get(&w->states, 1, &m, &root);
    if (rc != 0) {
        fprintf(stderr, "p2p-sim: cannot build the state: %s\n",
                p2p_strerror(rc));
        return rc;
    }
    w->states_on = true;
    w->state_height = 1;
    return 0;
}

void sim_state_run_schedule(struct sim_world *w)
{
    if (w->states_on)
        sim_world_push_event(
            w, &(struct sim_event){.time = w->sc->state.checkpoint_every_ns,
                                   .type = SIM_EV_CHECKPOINT,
                                   .node = 0});
}

static void note_caught_up(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    /* A join of a node still running (a member again) moves live_since
     * without a restart: catching up before it does not count, or
     * state_synced would measure caught_up_at - live_since below zero. */
    if (sn->caught_up_at != P2P_TIME_NEVER && sn->caught_up_at < sn->live_since)
        sn->caught_up_at = P2P_TIME_NEVER;
    if (sn->caught_up_at == P2P_TIME_NEVER &&
        sn->store.held_height == w->state_height)
        sn->caught_up_at = w->now;
}

void sim_state_run_node_started(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    sn->sync_record = -1;
    sn->caught_up_at = P2P_TIME_NEVER;
    if (!w->states_on)
        return;
    if (!sn->store_ready) {
        if (sim_state_store_init(&sn->store, &w->states, &w->state_mem) != 0) {
            sim_world_violation(w, "node %u: no memory for its state store",
                                node);
            return;
        }
        sn->store_ready = true;
        /* The initial subnet starts with the genesis state. */
        if (w->now == 0 && node < w->sc->nodes)
            sim_state_store_set_height(&sn->store, w->state_height);
    }
    sn->store.corrupt = sn->byzantine && sn->behaviour == SIM_BYZ_BAD_CHUNKS;
    struct p2p_state_sync_info info;
    p2p_node_state_sync_info(sn->core, &info);
    sn->sync_gen = info.gen;
    sn->sync_chunks_seen = p2p_node_metrics(sn->core)->state_chunks_received;
    p2p_node_set_state_store(sn->core, sim_world_local_now(w, node),
                             &sim_state_store_ops, &sn->store);
    note_caught_up(w, node);
}

static void end_record(struct sim_world *w, uint32_t node, bool completed)
{
    struct sim_node *sn = &w->nodes[node];
    if (sn->sync_record < 0)
        return;
    struct sim_sync_record *r = &w->syncs[sn->sync_record];
    r->ended = w->now;
    r->completed = completed;
    sn->sync_record = -1;
    const struct p2p_state_manifest *m;
    struct p2p_state_hash root;
    if (completed && r->chunks_total == 0 &&
        sim_states_get(&w->states, r->height, &m, &root) == 0) {
        /* Done before its progress was seen: held entirely at its start,
         * or a state so small that its chunks came in the same step as
         * the end. The core's counter says which chunks were reused. */
        uint64_t reused =
            p2p_node_metrics(sn->core)->state_chunks_reused - r->reused_base;
        r->chunks_total = m->chunks_count;
        r->bytes_total = m->total_bytes;
        r->chunks_reused =
            reused < m->chunks_count ? (uint32_t)reused : m->chunks_count;
    }
    if (completed)
        r->chunks_fetched = r->chunks_total - r->chunks_reused;
    if (!w->opt.quiet && completed) {
        double s = (double)(r->ended - r->started) / 1e9;
        fprintf(stderr,
                "state sync: t=%.1fs node %u height %llu done: %u chunks "
                "(%u reused), %.1f MiB (%.1f MiB on the wire) in %.2f s "
                "from %u peers (%.1f MB/s)\n",
                (double)w->now / 1e9, node, (unsigned long long)r->height,
                r->chunks_total, r->chunks_reused,
                (double)r->bytes_fetched / 1048576.0,
                (double)r->wire_fetched / 1048576.0, s, r->peers,
                s > 0 ? (double)r->bytes_fetched / 1e6 / s : 0.0);
    }
}

void sim_state_run_node_crashed(struct sim_world *w, uint32_t node)
{
    if (w->states_on)
        end_record(w, node, false);
}

void sim_state_run_checkpoint(struct sim_world *w)
{
    w->state_height++;
    const struct p2p_state_manifest *m;
    struct p2p_state_hash root;
    int rc = sim_states_get(&w->states, w->state_height, &m, &root);
    if (rc != 0) {
        sim_world_violation(w, "cannot build state height %llu: %s",
                            (unsigned long long)w->state_height,
                            p2p_strerror(rc));
        return;
    }
    if (SIM_TRACING(w)) {
        char hex[17];
        struct p2p_artifact_id id;
        memcpy(id.b, root.b, sizeof(id.b));
        p2p_id_hex(&id, hex, 16);
        sim_trace_line(&w->trace, w->now, 0, "checkpoint",
                       "height=%llu root=%s",
                       (unsigned long long)w->state_height, hex);
    }
    /* Only a node holding the previous height can execute to this one. */
    for (uint32_t i = 0; i < w->nodes_count; i++) {
        struct sim_node *sn = &w->nodes[i];
        if (!sn->running || !sn->store_ready ||
            sn->store.held_height + 1 != w->state_height)
            continue;
        sim_state_store_set_height(&sn->store, w->state_height);
        p2p_node_state_changed(sn->core, sim_world_local_now(w, i));
        sim_world_mark(w, i);
    }
    /* Queued after what those nodes send now. */
    struct sim_event next = {.time = w->now + w->sc->state.checkpoint_every_ns,
                             .type = SIM_EV_CHECKPOINT};
    if (next.time <= w->sc->duration_ns)
        sim_world_push_after_drain(w, &next, false);
}

static void begin_record(struct sim_world *w, uint32_t node,
                         const struct p2p_state_sync_info *info)
{
    struct sim_node *sn = &w->nodes[node];
    if (w->syncs_count == w->syncs_capacity) {
        if (w->syncs_capacity >= SIM_SYNCS_MAX)
            return; /* recorded no more; the run goes on */
        size_t cap = w->syncs_capacity ? w->syncs_capacity * 2 : 16;
        struct sim_sync_record *s = realloc(w->syncs, cap * sizeof(*s));
        if (s == NULL) {
            sim_world_violation(w, "out of memory recording a state sync");
            return;
        }
        w->syncs = s;
        w->syncs_capacity = cap;
    }
    struct sim_sync_record *r = &w->syncs[w->syncs_count];
    memset(r, 0, sizeof(*r));
    r->node = node;
    r->height = info->height;
    r->started = w->now;
    r->ended = P2P_TIME_NEVER;
    r->bytes_base = p2p_node_metrics(sn->core)->state_chunk_bytes_received;
    r->wire_base = p2p_node_metrics(sn->core)->state_chunk_wire_bytes_received;
    r->reused_base = p2p_node_metrics(sn->core)->state_chunks_reused;
    uint64_t up = 0;
    for (uint32_t i = 0; i < w->nodes_count; i++)
        if (i != node && can_serve(w, i, info->height, &info->root)) {
            r->peers++;
            up += w->net.uplink_bps[i];
        }
    uint64_t down = w->net.downlink_bps[node];
    r->ideal_bps = up < down ? up : down;
    sn->sync_record = (int64_t)w->syncs_count++;
}

/* Called when the node's chunk count moved: the record's figures, and a
 * progress line at every tenth. */
static void update_record(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    struct p2p_chunk_progress pr;
    if (sn->sync_record < 0 || !p2p_node_state_sync_progress(sn->core, &pr))
        return;
    struct sim_sync_record *r = &w->syncs[sn->sync_record];
    r->chunks_total = pr.chunks_total;
    r->bytes_total = pr.bytes_total;
    r->chunks_reused =
        (uint32_t)(p2p_node_metrics(sn->core)->state_chunks_reused -
                   r->reused_base);
    r->chunks_fetched = pr.chunks_held - r->chunks_reused;
    if (w->opt.series)
        sim_report_series_sync(&w->series, (size_t)sn->sync_record, w->now,
                               pr.chunks_held, pr.chunks_total);
    uint32_t decile =
        pr.chunks_total ? pr.chunks_held * 10 / pr.chunks_total : 10;
    if (decile > r->decile_printed && decile < 10 && !w->opt.quiet) {
        r->decile_printed = decile;
        double s = (double)(w->now - r->started) / 1e9;
        fprintf(stderr,
                "state sync: t=%.1fs node %u height %llu: %u/%u chunks, "
                "%.1f MB/s\n",
                (double)w->now / 1e9, node, (unsigned long long)r->height,
                pr.chunks_held, pr.chunks_total,
                s > 0 ? (double)r->bytes_fetched / 1e6 / s : 0.0);
    }
}

void sim_state_run_observe(struct sim_world *w, uint32_t node)
{
    struct sim_node *sn = &w->nodes[node];
    if (!w->states_on || !sn->running || !sn->store_ready)
        return;
    const struct p2p_metrics *mt = p2p_node_metrics(sn->core);
    if (sn->sync_record >= 0 &&
        mt->state_chunks_received != sn->sync_chunks_seen) {
        struct sim_sync_record *r = &w->syncs[sn->sync_record];
        r->bytes_fetched = mt->state_chunk_bytes_received - r->bytes_base;
        r->wire_fetched = mt->state_chunk_wire_bytes_received - r->wire_base;
        update_record(w, node);
    }
    sn->sync_chunks_seen = mt->state_chunks_received;
    struct p2p_state_sync_info info;
    p2p_node_state_sync_info(sn->core, &info);
    if (info.gen != sn->sync_gen) {
        /* The sync under way ended (done or cancelled), and maybe another
         * began: a completed one shows as the store's new height. */
        if (sn->sync_record >= 0) {
            uint64_t h = w->syncs[sn->sync_record].height;
            end_record(w, node,
                       sn->store.last_complete_height == h &&
                           sn->store.held_height >= h);
        }
        sn->sync_gen = info.gen;
        if (info.active)
            begin_record(w, node, &info);
    }
    note_caught_up(w, node);
}

void sim_state_run_fini(struct sim_world *w)
{
    if (!w->states_on)
        return;
    for (uint32_t i = 0; w->nodes != NULL && i < w->nodes_count; i++)
        if (w->nodes[i].store_ready)
            sim_state_store_fini(&w->nodes[i].store);
    sim_states_fini(&w->states);
    free(w->syncs);
    w->syncs = NULL;
}
