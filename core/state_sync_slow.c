/* Slow chunk requests (docs/state-sync.md, "Slow peers").
 *
 * The IC waits out a chunk request's 10 s timeout. A peer that advertises
 * a state and never answers (or answers at a trickle) then holds its 10
 * requests for 10 s, and the sync's tail waits for them: a 1 GiB sync that
 * needs 8.6 s at line rate takes 10.2 s. Here the sync keeps the latency
 * (issue to arrival) of its last P2P_STATE_LAT_SAMPLES chunks, and a
 * request that has waited longer than SLOW_FACTOR x their median (and at
 * least SLOW_MIN_NS) is failed early as a timeout: the chunk goes to
 * another peer at once and the slow peer backs off. A request waits from
 * its issue or from its peer's last answer, whichever is later (the
 * scheduler's deadline less its timeout): a peer serves its requests in
 * turn, so one behind others that keep arriving is not slow, however deep
 * the queue toward this node. Every peer of a sync shares the node's
 * downlink, so an honest peer's chunks take about the median; only a peer
 * far slower than the rest is cut short. No failure for time is
 * penalised (a slow peer may be honest and busy). */
#include "core/err.h"
#include "core/node.h"

#define SLOW_FACTOR 4u
#define SLOW_MIN_NS (1 * P2P_NS_PER_S)
#define SLOW_SAMPLES_MIN 8u   /* no judgement before this many chunks */
#define SLOW_CHECK_EVERY_NS (250 * P2P_NS_PER_MS)

void p2p__state_slow_sample(struct p2p_node *n, p2p_time now,
                            p2p_node_id peer, uint32_t index)
{
    struct p2p_state_sync *st = &n->state;
    p2p_time issued;
    if (st->sched == NULL ||
        !p2p_chunk_scheduler_request_issued(st->sched, peer, index, &issued))
        return;
    st->lat[st->lat_next] = now > issued ? now - issued : 0;
    st->lat_next = (st->lat_next + 1) % P2P_STATE_LAT_SAMPLES;
    if (st->lat_count < P2P_STATE_LAT_SAMPLES)
        st->lat_count++;
}

/* The median of the samples (insertion sort of at most 32 values). */
static p2p_time median(const struct p2p_state_sync *st)
{
    p2p_time v[P2P_STATE_LAT_SAMPLES];
    uint32_t count = st->lat_count;
    for (uint32_t i = 0; i < count; i++) {
        p2p_time x = st->lat[i];
        uint32_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return v[count / 2];
}

static void arm(struct p2p_node *n, p2p_time now)
{
    (void)p2p__timer(n, now + SLOW_CHECK_EVERY_NS, P2P_TIMER_STATE_SLOW, 0,
                     n->state.gen);
}

void p2p__state_slow_start(struct p2p_node *n, p2p_time now)
{
    n->state.lat_count = 0;
    n->state.lat_next = 0;
    arm(n, now);
}

void p2p__state_slow_on_timer(struct p2p_node *n, p2p_time now, uint32_t gen)
{
    struct p2p_state_sync *st = &n->state;
    if (!st->active || gen != st->gen || st->sched == NULL)
        return;
    if (st->lat_count >= SLOW_SAMPLES_MIN) {
        p2p_time limit = median(st) * SLOW_FACTOR;
        if (limit < SLOW_MIN_NS)
            limit = SLOW_MIN_NS;
        size_t count = p2p_chunk_scheduler_inflight(st->sched, NULL, 0);
        struct p2p_chunk_request *req =
            count ? p2p_mem_alloc(n->mem, P2P_MEM_STATE_SYNC,
                                  count * sizeof(*req))
                  : NULL;
        if (req != NULL) {
            count = p2p_chunk_scheduler_inflight(st->sched, req, count);
            for (size_t i = 0; i < count; i++) {
                /* Waiting since its issue or its peer's last answer. */
                p2p_time since =
                    req[i].deadline - n->cfg.state_chunk_timeout_ns;
                if (now < since + limit)
                    continue;
                if (p2p_chunk_scheduler_on_chunk_failed(
                        st->sched, now, req[i].peer, req[i].index,
                        P2P_ERR_TIMEOUT) != 0)
                    continue;
                p2p__state_abort_request(n, req[i].peer, req[i].index);
                n->metrics.state_chunks_slow++;
            }
            p2p_mem_free(n->mem, P2P_MEM_STATE_SYNC, req);
        }
    }
    arm(n, now);
    p2p__state_pump(n, now);
}
