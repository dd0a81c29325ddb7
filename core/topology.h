/* Subnet topology: the membership over a range of registry versions, as
 * the peer manager publishes it (docs/architecture.md).
 *
 * The node's clients reference every registry version from an earliest
 * one up to the latest; a node listed in any of them is a member (the
 * union), with the address of the newest version that lists it. A node
 * removed in the latest version therefore stays a member until the
 * earliest version in use moves past the last version listing it.
 *
 * A topology keeps the versions it needs for that: the latest, and the
 * older ones still in use (the newest version at or below the earliest,
 * which is the registry as it stood at the earliest, and every one above
 * it), at most P2P_TOPOLOGY_VERSIONS_MAX of them. Each member has an
 * opaque address the backend dials (sim: unused; prod: "host:port" from
 * the registry file). */
#ifndef P2P_CORE_TOPOLOGY_H
#define P2P_CORE_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/types.h"

#define P2P_TOPOLOGY_MEMBERS_MAX 100000u /* members of one version */
/* Registry versions kept at once. One more (the earliest in use lagging
 * that far behind) drops the oldest: its members stop counting and the
 * earliest version in use becomes the oldest one kept. */
#define P2P_TOPOLOGY_VERSIONS_MAX 16u
#define P2P_ADDR_BYTES_MAX 128u /* an address, with its NUL */

struct p2p_member {
    p2p_node_id id;
    char addr[P2P_ADDR_BYTES_MAX]; /* NUL-terminated; may be empty */
};

/* One registry version's members. */
struct p2p_topology_version {
    uint64_t version;
    struct p2p_member *members; /* owned; sorted by id, unique; NULL when
                                   count is 0 */
    uint32_t count;
};

struct p2p_topology {
    uint64_t version;          /* latest registry version; 0 = none yet */
    uint64_t earliest_version; /* the earliest in use, <= version; never
                                  moves back */
    /* The membership: the union of the kept versions' members, sorted by
     * id, unique, each with the newest kept version's address. Owned while
     * two versions or more are kept; with one, it is that version's array
     * (borrowed from it); NULL when empty. */
    struct p2p_member *members;
    uint32_t count;
    /* The kept versions, oldest first; the last is `version`. Each but
     * the oldest is above earliest_version. */
    struct p2p_topology_version versions[P2P_TOPOLOGY_VERSIONS_MAX];
    uint32_t versions_count; /* 0 before the first version */
};

void p2p_topology_init(struct p2p_topology *t);
void p2p_topology_fini(struct p2p_topology *t, struct p2p_mem *mem);

/* One registry version (p2p_topology_set's and p2p_node_on_topology's
 * options). */
struct p2p_topology_update {
    uint64_t version;                 /* the latest registry version */
    uint64_t earliest_version;        /* the earliest in use, <= version; at or
                                  above the topology's (equal to version:
                                  only this version counts) */
    const struct p2p_member *members; /* borrowed for the call (copied);
                                         NULL when count is 0 */
    uint32_t count;
};

/* Adds registry version u->version holding u->members (copied, sorted) as
 * the latest, moves the earliest version in use to u->earliest_version,
 * drops the versions no longer in use (and the oldest past
 * P2P_TOPOLOGY_VERSIONS_MAX), and recomputes the membership. Errors,
 * leaving *t unchanged: P2P_ERR_INVALID_ARG (count above
 * P2P_TOPOLOGY_MEMBERS_MAX, an id >= ids_max, an address without its NUL,
 * earliest > version, a duplicate id), P2P_ERR_STATE (version not newer
 * than t's, or earliest older than t's), P2P_ERR_NOMEM. O(versions x
 * members) plus the sort. */
int p2p_topology_set(struct p2p_topology *t, struct p2p_mem *mem,
                     const struct p2p_topology_update *u, uint32_t ids_max);

/* Moves the earliest version in use to `earliest` without a new version:
 * the versions it leaves behind are dropped and the membership
 * recomputed. The same earliest again changes nothing. Errors, leaving *t
 * unchanged: P2P_ERR_STATE (no version yet, or earliest older than t's),
 * P2P_ERR_INVALID_ARG (earliest past the latest version), P2P_ERR_NOMEM.
 */
int p2p_topology_set_earliest(struct p2p_topology *t, struct p2p_mem *mem,
                              uint64_t earliest);

/* Binary search of the membership; O(log count). */
const struct p2p_member *p2p_topology_find(const struct p2p_topology *t,
                                           p2p_node_id id);

static inline bool p2p_topology_is_member(const struct p2p_topology *t,
                                          p2p_node_id id)
{
    return p2p_topology_find(t, id) != NULL;
}

/* The latest version (borrowed from t), or NULL before the first. */
const struct p2p_topology_version *p2p_topology_latest(
    const struct p2p_topology *t);

/* 0, or P2P_ERR_INTERNAL when t breaks its invariants (versions out of
 * order or kept past their use, the membership not their union with the
 * newest addresses). O(versions x count x log count). */
int p2p_topology_check(const struct p2p_topology *t);

#endif
