/* Subnet topology: the members of one registry version, as the peer
 * manager publishes it (docs/architecture.md).
 *
 * A topology is a sorted set of node ids, each with an opaque address the
 * backend dials (sim: unused; prod: "host:port" from the registry file),
 * plus the registry versions in use: the latest, which defines membership,
 * and the earliest still referenced by the node's clients. */
#ifndef P2P_CORE_TOPOLOGY_H
#define P2P_CORE_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/types.h"

#define P2P_TOPOLOGY_MEMBERS_MAX 100000u /* members of one version */
#define P2P_ADDR_BYTES_MAX 128u          /* an address, with its NUL */

struct p2p_member {
    p2p_node_id id;
    char addr[P2P_ADDR_BYTES_MAX]; /* NUL-terminated; may be empty */
};

struct p2p_topology {
    uint64_t version;           /* latest registry version; 0 = none yet */
    uint64_t earliest_version;  /* <= version */
    struct p2p_member *members; /* owned; sorted by id, unique */
    uint32_t count;
};

void p2p_topology_init(struct p2p_topology *t);
void p2p_topology_fini(struct p2p_topology *t, struct p2p_mem *mem);

/* One registry version (p2p_topology_set's and p2p_node_on_topology's
 * options). */
struct p2p_topology_update {
    uint64_t version;          /* the latest registry version */
    uint64_t earliest_version; /* the earliest still in use, <= version */
    const struct p2p_member *members; /* borrowed for the call (copied);
                                         NULL when count is 0 */
    uint32_t count;
};

/* Replaces *t with registry version u->version holding u->members (copied,
 * sorted). Errors, leaving *t unchanged: P2P_ERR_INVALID_ARG (count above
 * P2P_TOPOLOGY_MEMBERS_MAX, an id >= ids_max, an address without its NUL,
 * earliest > version, a duplicate id), P2P_ERR_STATE (version not newer
 * than t's), P2P_ERR_NOMEM. */
int p2p_topology_set(struct p2p_topology *t, struct p2p_mem *mem,
                     const struct p2p_topology_update *u, uint32_t ids_max);

/* Binary search; O(log count). */
const struct p2p_member *p2p_topology_find(const struct p2p_topology *t,
                                           p2p_node_id id);

static inline bool p2p_topology_is_member(const struct p2p_topology *t,
                                          p2p_node_id id)
{
    return p2p_topology_find(t, id) != NULL;
}

#endif
