/* Subnet topology: one registry version's members, sorted for lookup. */
#include "core/topology.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void p2p_topology_init(struct p2p_topology *t)
{
    memset(t, 0, sizeof(*t));
}

void p2p_topology_fini(struct p2p_topology *t, struct p2p_mem *mem)
{
    p2p_mem_free(mem, P2P_MEM_OTHER, t->members);
    p2p_topology_init(t);
}

static int by_id(const void *a, const void *b)
{
    p2p_node_id x = ((const struct p2p_member *)a)->id;
    p2p_node_id y = ((const struct p2p_member *)b)->id;
    return (x > y) - (x < y);
}

int p2p_topology_set(struct p2p_topology *t, struct p2p_mem *mem,
                     const struct p2p_topology_update *u, uint32_t ids_max)
{
    const struct p2p_member *members = u->members;
    uint32_t count = u->count;
    if (count > P2P_TOPOLOGY_MEMBERS_MAX || (members == NULL && count > 0) ||
        u->earliest_version > u->version)
        return P2P_ERR_INVALID_ARG;
    if (u->version <= t->version)
        return P2P_ERR_STATE;
    for (uint32_t i = 0; i < count; i++)
        if (members[i].id >= ids_max ||
            memchr(members[i].addr, '\0', P2P_ADDR_BYTES_MAX) == NULL)
            return P2P_ERR_INVALID_ARG;
    struct p2p_member *copy = NULL;
    if (count > 0) {
        copy = p2p_mem_alloc_raw(mem, P2P_MEM_OTHER,
                                 (size_t)count * sizeof(*copy));
        if (copy == NULL)
            return P2P_ERR_NOMEM;
        memcpy(copy, members, (size_t)count * sizeof(*copy));
        /* ids are unique, so the order qsort leaves is fully determined. */
        qsort(copy, count, sizeof(*copy), by_id);
        for (uint32_t i = 1; i < count; i++) {
            if (copy[i].id == copy[i - 1].id) {
                p2p_mem_free(mem, P2P_MEM_OTHER, copy);
                return P2P_ERR_INVALID_ARG;
            }
        }
    }
    p2p_mem_free(mem, P2P_MEM_OTHER, t->members);
    t->members = copy;
    t->count = count;
    t->version = u->version;
    t->earliest_version = u->earliest_version;
    return 0;
}

const struct p2p_member *p2p_topology_find(const struct p2p_topology *t,
                                           p2p_node_id id)
{
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->members[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->count && t->members[lo].id == id ? &t->members[lo] : NULL;
}
