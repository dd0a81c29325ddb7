/* Assertions guard programmer errors only; bad input is an error value. */
#ifndef P2P_CORE_ASSERT_H
#define P2P_CORE_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define P2P_ASSERT(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#ifdef P2P_DEBUG
#define P2P_DASSERT(cond) P2P_ASSERT(cond)
#else
#define P2P_DASSERT(cond) ((void)0)
#endif

#define P2P_UNREACHABLE() P2P_ASSERT(!"unreachable")

#endif
