#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "sim/big_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *sim_big_table_new(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    size_t bytes = count * size;
    if (bytes < SIM_BIG_TABLE_HUGE_BYTES)
        return calloc(count ? count : 1, size ? size : 1);
    size_t rounded = (bytes + SIM_BIG_TABLE_HUGE_BYTES - 1) &
                     ~(SIM_BIG_TABLE_HUGE_BYTES - 1);
    void *p = aligned_alloc(SIM_BIG_TABLE_HUGE_BYTES, rounded);
    if (p == NULL)
        return NULL;
    /* Advice only: without transparent huge pages it changes nothing. */
    (void)madvise(p, rounded, MADV_HUGEPAGE);
    memset(p, 0, rounded);
    return p;
}
