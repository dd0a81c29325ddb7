/* Scenario files, the other way: struct sim_scenario -> YAML text.
 *
 * The shrinker (sim/shrink.c) edits a loaded scenario and writes the result;
 * the writer's contract is that loading its text gives back the same
 * scenario: sim_scenario_write_equal(load(write(s)), s) for every s the loader
 * produced (line numbers and path aside). Values are written in exact units
 * (conf_units_format_*), lists in flow style, one fault or workload item a
 * line, in the loaded order (faults sorted by `at`). */
#ifndef P2P_SIM_SCENARIO_WRITE_H
#define P2P_SIM_SCENARIO_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "sim/scenario.h"

/* Writes sc (borrowed) to out (borrowed) as one YAML document. A seed is
 * written only when sc->has_seed. Returns
 *   0                    on success,
 *   P2P_ERR_INVALID_ARG  a value has no exact text form (a Poisson
 *                        interval that no "N/s" or "N/m" rate parses to,
 *                        which the loader never produces), nothing useful
 *                        written,
 *   P2P_ERR_WRITE        out reported an error. */
int sim_scenario_write(const struct sim_scenario *sc, FILE *out);

/* The same into a new NUL-terminated malloc'd buffer: *text (owned by the
 * caller, free()) and its length *len. Returns as sim_scenario_write, or
 * P2P_ERR_NOMEM; *text is NULL on any error. */
int sim_scenario_write_string(const struct sim_scenario *sc, char **text,
                              size_t *len);

/* Writes the text of a workload rate (the interval between Poisson
 * arrivals, as the loader stores it) that parses back to exactly
 * interval_ns, e.g. "50/s" or "1.5/m", into buf[0..len). Returns 0, or
 * P2P_ERR_INVALID_ARG when no such text exists or it does not fit. */
int sim_scenario_write_rate(uint64_t interval_ns, char *buf, size_t len);

/* Compares every field the file determines (not `line` nor `path`).
 * Returns true when a and b (both borrowed) are equal; otherwise false, with
 * the first difference named in why[0..why_len) when why is not NULL. */
bool sim_scenario_write_equal(const struct sim_scenario *a,
                              const struct sim_scenario *b, char *why,
                              size_t why_len);

#endif
