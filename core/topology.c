/* Subnet topology: the registry versions in use, each sorted for lookup,
 * and their union (core/topology.h). */
#include "core/topology.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

void p2p_topology_init(struct p2p_topology *t)
{
    memset(t, 0, sizeof(*t));
}

static bool union_owned(const struct p2p_topology *t)
{
    return t->versions_count > 1;
}

void p2p_topology_fini(struct p2p_topology *t, struct p2p_mem *mem)
{
    if (union_owned(t))
        p2p_mem_free(mem, P2P_MEM_OTHER, t->members);
    for (uint32_t i = 0; i < t->versions_count; i++)
        p2p_mem_free(mem, P2P_MEM_OTHER, t->versions[i].members);
    p2p_topology_init(t);
}

static int by_id(const void *a, const void *b)
{
    p2p_node_id x = ((const struct p2p_member *)a)->id;
    p2p_node_id y = ((const struct p2p_member *)b)->id;
    return (x > y) - (x < y);
}

/* The versions to keep, oldest first: those of `old` still in use at
 * *earliest, then `added` (when not NULL), at most
 * P2P_TOPOLOGY_VERSIONS_MAX; past that the oldest go and *earliest rises
 * to the oldest kept. Returns how many, into out[]. */
static uint32_t versions_in_use(const struct p2p_topology *old,
                                const struct p2p_topology_version *added,
                                uint64_t *earliest,
                                struct p2p_topology_version *out)
{
    struct p2p_topology_version all[P2P_TOPOLOGY_VERSIONS_MAX + 1];
    uint32_t n = old->versions_count;
    memcpy(all, old->versions, n * sizeof(all[0]));
    if (added != NULL)
        all[n++] = *added;
    /* A version is still in use while the next one is above the
     * earliest: it is the registry as it stood at the earliest. */
    uint32_t first = 0;
    while (first + 1 < n && all[first + 1].version <= *earliest)
        first++;
    if (n - first > P2P_TOPOLOGY_VERSIONS_MAX) {
        first = n - P2P_TOPOLOGY_VERSIONS_MAX;
        if (*earliest < all[first].version)
            *earliest = all[first].version;
    }
    memcpy(out, all + first, (n - first) * sizeof(out[0]));
    return n - first;
}

/* The smallest id at the heads of v[0..n) past pos[], or false when every
 * version is done; *newest is the newest version holding it. */
static bool next_id(const struct p2p_topology_version *v, uint32_t n,
                    const uint32_t *pos, p2p_node_id *id, uint32_t *newest)
{
    bool found = false;
    for (uint32_t k = 0; k < n; k++) {
        if (pos[k] == v[k].count)
            continue;
        p2p_node_id x = v[k].members[pos[k]].id;
        /* Later versions are newer: ties go to the later. */
        if (!found || x <= *id) {
            *id = x;
            *newest = k;
            found = true;
        }
    }
    return found;
}

/* Merges the sorted versions v[0..n): counts the union when out is NULL,
 * else writes it (newest address for each id). Returns its size. */
static uint32_t merge(const struct p2p_topology_version *v, uint32_t n,
                      struct p2p_member *out)
{
    uint32_t pos[P2P_TOPOLOGY_VERSIONS_MAX] = {0};
    uint32_t count = 0;
    p2p_node_id id = 0;
    uint32_t newest = 0;
    P2P_ASSERT(n <= P2P_TOPOLOGY_VERSIONS_MAX);
    while (next_id(v, n, pos, &id, &newest)) {
        if (out != NULL)
            out[count] = v[newest].members[pos[newest]];
        count++;
        for (uint32_t k = 0; k < n; k++)
            if (pos[k] < v[k].count && v[k].members[pos[k]].id == id)
                pos[k]++;
    }
    return count;
}

/* The union of v[0..n) into *out: v[0]'s array when n is 1 (borrowed),
 * else a new one. Errors: P2P_ERR_NOMEM (nothing held). */
static int build_union(const struct p2p_topology_version *v, uint32_t n,
                       struct p2p_mem *mem, struct p2p_member **out,
                       uint32_t *count)
{
    *out = NULL;
    *count = 0;
    if (n == 1) {
        *out = v[0].members;
        *count = v[0].count;
        return 0;
    }
    uint32_t size = merge(v, n, NULL);
    if (size == 0)
        return 0;
    *out = p2p_mem_alloc_raw(mem, P2P_MEM_OTHER, (size_t)size * sizeof(**out));
    if (*out == NULL)
        return P2P_ERR_NOMEM;
    *count = merge(v, n, *out);
    P2P_ASSERT(*count == size);
    return 0;
}

/* Replaces t's versions with keep[0..n) (at earliest) and its membership
 * with the union built from them; frees what no longer is. */
static void commit(struct p2p_topology *t, struct p2p_mem *mem,
                   const struct p2p_topology_version *keep, uint32_t n,
                   uint64_t earliest, struct p2p_member *members,
                   uint32_t count)
{
    if (union_owned(t))
        p2p_mem_free(mem, P2P_MEM_OTHER, t->members);
    /* Free the versions not kept (keep[] is a tail of t's, plus maybe a
     * new one). */
    for (uint32_t i = 0; i < t->versions_count; i++) {
        bool kept = false;
        for (uint32_t k = 0; k < n && !kept; k++)
            kept = keep[k].version == t->versions[i].version;
        if (!kept)
            p2p_mem_free(mem, P2P_MEM_OTHER, t->versions[i].members);
    }
    memcpy(t->versions, keep, n * sizeof(keep[0]));
    t->versions_count = n;
    t->version = keep[n - 1].version;
    t->earliest_version = earliest;
    t->members = members;
    t->count = count;
}

/* Keeps `added` (when not NULL) and what is in use at earliest: the new
 * versions and their union, or P2P_ERR_NOMEM with t unchanged. */
static int apply(struct p2p_topology *t, struct p2p_mem *mem,
                 const struct p2p_topology_version *added, uint64_t earliest)
{
    struct p2p_topology_version keep[P2P_TOPOLOGY_VERSIONS_MAX];
    uint32_t n = versions_in_use(t, added, &earliest, keep);
    struct p2p_member *members;
    uint32_t count;
    int rc = build_union(keep, n, mem, &members, &count);
    if (rc != 0)
        return rc;
    commit(t, mem, keep, n, earliest, members, count);
    P2P_DASSERT(p2p_topology_check(t) == 0);
    return 0;
}

/* A sorted copy of u's members into *out (NULL when empty). Errors:
 * P2P_ERR_INVALID_ARG (a duplicate id), P2P_ERR_NOMEM. */
static int copy_sorted(struct p2p_mem *mem, const struct p2p_topology_update *u,
                       struct p2p_member **out)
{
    *out = NULL;
    if (u->count == 0)
        return 0;
    struct p2p_member *copy =
        p2p_mem_alloc_raw(mem, P2P_MEM_OTHER, (size_t)u->count * sizeof(*copy));
    if (copy == NULL)
        return P2P_ERR_NOMEM;
    memcpy(copy, u->members, (size_t)u->count * sizeof(*copy));
    /* ids are unique, so the order qsort leaves is fully determined. */
    qsort(copy, u->count, sizeof(*copy), by_id);
    for (uint32_t i = 1; i < u->count; i++) {
        if (copy[i].id == copy[i - 1].id) {
            p2p_mem_free(mem, P2P_MEM_OTHER, copy);
            return P2P_ERR_INVALID_ARG;
        }
    }
    *out = copy;
    return 0;
}

int p2p_topology_set(struct p2p_topology *t, struct p2p_mem *mem,
                     const struct p2p_topology_update *u, uint32_t ids_max)
{
    const struct p2p_member *members = u->members;
    uint32_t count = u->count;
    if (count > P2P_TOPOLOGY_MEMBERS_MAX || (members == NULL && count > 0) ||
        u->earliest_version > u->version)
        return P2P_ERR_INVALID_ARG;
    if (u->version <= t->version || u->earliest_version < t->earliest_version)
        return P2P_ERR_STATE;
    for (uint32_t i = 0; i < count; i++)
        if (members[i].id >= ids_max ||
            memchr(members[i].addr, '\0', P2P_ADDR_BYTES_MAX) == NULL)
            return P2P_ERR_INVALID_ARG;
    struct p2p_topology_version added = {.version = u->version, .count = count};
    int rc = copy_sorted(mem, u, &added.members);
    if (rc != 0)
        return rc;
    rc = apply(t, mem, &added, u->earliest_version);
    if (rc != 0)
        p2p_mem_free(mem, P2P_MEM_OTHER, added.members);
    return rc;
}

int p2p_topology_set_earliest(struct p2p_topology *t, struct p2p_mem *mem,
                              uint64_t earliest)
{
    if (t->version == 0 || earliest < t->earliest_version)
        return P2P_ERR_STATE;
    if (earliest > t->version)
        return P2P_ERR_INVALID_ARG;
    if (earliest == t->earliest_version)
        return 0;
    return apply(t, mem, NULL, earliest);
}

/* The member id of members[0..count), sorted by id, or NULL. */
static const struct p2p_member *find_sorted(const struct p2p_member *members,
                                            uint32_t count, p2p_node_id id)
{
    uint32_t lo = 0, hi = count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (members[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < count && members[lo].id == id ? &members[lo] : NULL;
}

const struct p2p_member *p2p_topology_find(const struct p2p_topology *t,
                                           p2p_node_id id)
{
    return find_sorted(t->members, t->count, id);
}

const struct p2p_topology_version *p2p_topology_latest(
    const struct p2p_topology *t)
{
    return t->versions_count > 0 ? &t->versions[t->versions_count - 1] : NULL;
}

static const struct p2p_member *find_in(const struct p2p_topology_version *v,
                                        p2p_node_id id)
{
    return find_sorted(v->members, v->count, id);
}

static bool sorted_unique(const struct p2p_member *m, uint32_t count)
{
    for (uint32_t i = 1; i < count; i++)
        if (m[i - 1].id >= m[i].id)
            return false;
    return count == 0 || m != NULL;
}

int p2p_topology_check(const struct p2p_topology *t)
{
    uint32_t n = t->versions_count;
    if (n > P2P_TOPOLOGY_VERSIONS_MAX || (n == 0) != (t->version == 0) ||
        t->earliest_version > t->version ||
        (n > 0 && t->versions[n - 1].version != t->version))
        return P2P_ERR_INTERNAL;
    for (uint32_t k = 0; k < n; k++) {
        const struct p2p_topology_version *v = &t->versions[k];
        if ((k > 0 && v->version <= t->earliest_version) ||
            (k > 0 && v->version <= t->versions[k - 1].version) ||
            !sorted_unique(v->members, v->count))
            return P2P_ERR_INTERNAL;
    }
    if (!sorted_unique(t->members, t->count) ||
        (n == 1 && t->members != t->versions[0].members))
        return P2P_ERR_INTERNAL;
    /* Every member of a version is in the union ... */
    uint64_t listed = 0;
    for (uint32_t k = 0; k < n; k++) {
        for (uint32_t i = 0; i < t->versions[k].count; i++)
            if (p2p_topology_find(t, t->versions[k].members[i].id) == NULL)
                return P2P_ERR_INTERNAL;
        listed += t->versions[k].count;
    }
    /* ... and every union member has its newest version's address. */
    for (uint32_t i = 0; i < t->count; i++) {
        const struct p2p_member *newest = NULL;
        for (uint32_t k = n; k-- > 0 && newest == NULL;)
            newest = find_in(&t->versions[k], t->members[i].id);
        if (newest == NULL ||
            strncmp(newest->addr, t->members[i].addr, P2P_ADDR_BYTES_MAX) != 0)
            return P2P_ERR_INTERNAL;
    }
    return t->count <= listed ? 0 : P2P_ERR_INTERNAL;
}
