/* Judging a finished run against its expectations and printing the summary
 * (human text, or one JSON object as DESIGN.md section 7 specifies). */
#ifndef P2P_SIM_REPORT_H
#define P2P_SIM_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "sim/world.h"

#define SIM_REPORT_EXPECTS_MAX SIM_SCENARIO_EXPECTS_MAX

struct sim_expect_result {
    char name[96];
    bool ok;
    char detail[640];
};

struct sim_report {
    bool ok;
    uint64_t artifacts;
    uint64_t deliveries_expected, deliveries;
    uint64_t p50_ns, p90_ns, p99_ns, max_ns;
    struct sim_expect_result expects[SIM_REPORT_EXPECTS_MAX];
    size_t expects_count;
    double wall_s;
};

/* Judges the run, then sorts the world's latency array in place (for the
 * percentiles); call once. */
void sim_report_build(struct sim_world *w, double wall_s, struct sim_report *r);

/* Prints the summary to out, as text or as one JSON object. */
void sim_report_print(const struct sim_world *w, const struct sim_report *r,
                      bool json, FILE *out);

#endif
