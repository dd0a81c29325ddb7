/* The artifact pools' sections and their bounds: the types a node's
 * config names (core/config.h). The pools are in core/pool.h. */
#ifndef P2P_CORE_POOL_LIMITS_H
#define P2P_CORE_POOL_LIMITS_H

#include <stddef.h>
#include <stdint.h>

enum p2p_pool_section {
    P2P_POOL_UNVALIDATED,
    P2P_POOL_VALIDATED,
    P2P_POOL_SECTIONS
};

struct p2p_pool_limits {
    size_t count_max[P2P_POOL_SECTIONS];
    uint64_t bytes_max[P2P_POOL_SECTIONS];
};

#endif
