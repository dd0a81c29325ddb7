/* FUZZ_CHECK for every harness: a property that must hold whatever the
 * input; a failure names the file, line and condition and aborts, which
 * libFuzzer reports as a crash with the input that caused it. */
#ifndef P2P_TESTS_FUZZ_CHECK_H
#define P2P_TESTS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
