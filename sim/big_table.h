/* Zeroed arrays for the simulator's big per-pair tables (the link matrix,
 * the connection triangle): from 2 MiB up they are aligned to 2 MiB and
 * marked for transparent huge pages, so that walking them at random costs
 * fewer TLB misses in large subnets. Bodies and core's memory are not
 * allocated here: pool bodies on huge pages measured slower. */
#ifndef P2P_SIM_BIG_TABLE_H
#define P2P_SIM_BIG_TABLE_H

#include <stddef.h>

/* Below this many bytes an array is an ordinary calloc. */
#define SIM_BIG_TABLE_HUGE_BYTES ((size_t)2 << 20)

/* count * size zeroed bytes, or NULL (out of memory, or the product
 * overflows). Freed with free(). */
void *sim_big_table_new(size_t count, size_t size);

#endif
