/* The run's trace: one event a line, byte-identical for the same scenario
 * and seed. Every event is also folded into a running hash (FNV-1a 64 over
 * the line), so two runs can be compared without writing files.
 *
 * Line format (documented in docs/trace-format.md):
 *   <seconds>.<nanoseconds 9 digits> n<node> <kind> [key=value ...]
 */
#ifndef P2P_SIM_TRACE_H
#define P2P_SIM_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/types.h"

struct sim_trace {
    FILE *file; /* NULL: hash only */
    uint64_t hash;
    uint64_t lines;
    uint64_t *hashes; /* when recording: hash after each line */
    size_t hashes_count, hashes_capacity;
    bool record;
    uint64_t stop_at_line; /* when > 0: copy that line into found_line */
    char found_line[512];
};

void sim_trace_init(struct sim_trace *t, FILE *file, bool record);
void sim_trace_fini(struct sim_trace *t);

/* Appends one line: time, node, kind, then the printf-formatted rest. */
void sim_trace_line(struct sim_trace *t, p2p_time now, uint32_t node,
                    const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
