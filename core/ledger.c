/* The penalty ledger (core/ledger.h). */
#include "core/ledger.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/table.h"

void p2p__ledger_init(struct p2p_ledger *l, const struct p2p_config *cfg,
                      struct p2p_mem *mem, struct p2p_metrics *metrics)
{
    memset(l, 0, sizeof(*l));
    l->cfg = cfg;
    l->mem = mem;
    l->metrics = metrics;
}

void p2p__ledger_fini(struct p2p_ledger *l)
{
    p2p_mem_free(l->mem, P2P_MEM_OTHER, l->peers);
    l->peers = NULL;
    l->peers_capacity = 0;
}

int p2p__ledger_fit(struct p2p_ledger *l, p2p_node_id peer)
{
    return p2p__table_array_fit(l->mem, P2P_MEM_OTHER, (void **)&l->peers,
                                &l->peers_capacity, sizeof(*l->peers), peer,
                                l->cfg->node_ids_max);
}

static void decay(const struct p2p_ledger *l, struct p2p_ledger_peer *p,
                  p2p_time now)
{
    if (now > p->penalty_at) {
        uint64_t gone =
            (now - p->penalty_at) / P2P_NS_PER_S * l->cfg->penalty_decay_per_s;
        p->penalty = gone >= p->penalty ? 0 : p->penalty - (uint32_t)gone;
        /* Keep the sub-second remainder so frequent calls still decay. */
        p->penalty_at = now - (now - p->penalty_at) % P2P_NS_PER_S;
    }
}

void p2p__ledger_penalise(struct p2p_ledger *l, p2p_time now, p2p_node_id peer,
                          uint32_t points)
{
    if (points == 0 || peer >= l->peers_capacity)
        return;
    struct p2p_ledger_peer *p = &l->peers[peer];
    decay(l, p, now);
    p->penalty =
        points > UINT32_MAX - p->penalty ? UINT32_MAX : p->penalty + points;
    p->penalty_total += points;
    l->metrics->penalties++;
    if (p->penalty >= l->cfg->penalty_ban_points && !p->ban_pending) {
        p->ban_pending = true;
        l->pending++;
    }
}

bool p2p__ledger_take_ban(struct p2p_ledger *l, p2p_time now, p2p_node_id *from)
{
    for (p2p_node_id id = *from; l->pending > 0 && id < l->peers_capacity;
         id++) {
        struct p2p_ledger_peer *p = &l->peers[id];
        if (!p->ban_pending)
            continue;
        p->ban_pending = false;
        l->pending--;
        p->penalty = 0;
        p->bans++;
        p->banned_until = now + l->cfg->ban_ns;
        l->metrics->peers_banned++;
        *from = id;
        return true;
    }
    return false;
}

bool p2p__ledger_banned(const struct p2p_ledger *l, p2p_node_id peer,
                        p2p_time now)
{
    return peer < l->peers_capacity && l->peers[peer].banned_until > now;
}

const struct p2p_ledger_peer *p2p__ledger_peer(const struct p2p_ledger *l,
                                               p2p_node_id peer)
{
    return peer < l->peers_capacity ? &l->peers[peer] : NULL;
}

int p2p__ledger_check(const struct p2p_ledger *l)
{
    uint32_t pending = 0;
    for (uint32_t id = 0; id < l->peers_capacity; id++)
        pending += l->peers[id].ban_pending;
    return pending == l->pending ? 0 : P2P_ERR_INTERNAL;
}
