/* Judging a finished run against its expectations and printing the summary
 * (human text, or one JSON object: README.md lists its keys). */
#ifndef P2P_SIM_REPORT_H
#define P2P_SIM_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "sim/world.h"

#define SIM_REPORT_EXPECTS_MAX                                                 \
    (SIM_SCENARIO_EXPECTS_MAX + 2) /* + invariants, bans */

struct sim_expect_result {
    char name[96];
    bool ok;
    char detail[640];
};

#define SIM_REPORT_BYZ_MAX 64 /* byzantine nodes summarised */

struct sim_byz_result {
    uint32_t node;
    enum sim_byzantine behaviour;
    uint64_t misdeeds;     /* forged or corrupted messages it sent */
    uint64_t points;       /* penalty points the honest nodes gave it */
    uint32_t penalised_by; /* honest nodes that penalised it */
    uint32_t honest;       /* live honest nodes asked */
    uint32_t bans;         /* disconnections for misbehaviour, summed */
    uint32_t banned_now;   /* honest nodes refusing it at the end */
};

struct sim_report {
    bool ok;
    uint64_t artifacts;
    uint64_t deliveries_expected, deliveries;
    uint64_t p50_ns, p90_ns, p99_ns, max_ns;
    struct sim_expect_result expects[SIM_REPORT_EXPECTS_MAX];
    size_t expects_count;
    struct sim_byz_result byz[SIM_REPORT_BYZ_MAX];
    size_t byz_count;
    uint64_t honest_bans; /* honest nodes banning honest peers */
    double wall_s;
    /* The run stopped before its end (SIGINT): the summary is what it had
     * so far, and the expectations are not judged (ok is false). */
    bool interrupted;
    p2p_time end_ns, drain_ns; /* its planned end: duration + drain */
};

/* Judges the run, then sorts the world's latency array in place (for the
 * percentiles); call once. */
void sim_report_build(struct sim_world *w, double wall_s, struct sim_report *r);

/* report_state.c: state sync. The ratio of the completed syncs' summed
 * durations to their summed ideal durations; false when none counts. */
bool sim_report_state_efficiency(const struct sim_world *w, double *out);
/* The completed syncs' chunk bytes over their bytes on the wire (zstd
 * frames or raw): false (and 0) when they fetched nothing. */
bool sim_report_state_compression(const struct sim_world *w, double *out);
void sim_report_state_judge_synced(const struct sim_world *w,
                                   const struct sim_expect *e,
                                   struct sim_expect_result *res);
/* Text lines (one per completed sync, then a total), nothing without a
 * 'state' section. */
void sim_report_state_text(const struct sim_world *w, FILE *out);
/* The JSON fields bytes_state, state_height, state_sync_efficiency,
 * state_compression_ratio and state_syncs, each after ", ". */
void sim_report_state_json(const struct sim_world *w, FILE *out);

/* The run's planned end for people: "60 s + 5 s drain", and why the run
 * stopped short of it when it did ("(interrupted)", "(nothing was left to
 * happen after 65.0 s)"). */
void sim_report_end_text(const struct sim_world *w, const struct sim_report *r,
                         char *buf, size_t len);

/* Prints the summary to out, as text or as one JSON object. */
void sim_report_print(const struct sim_world *w, const struct sim_report *r,
                      bool json, FILE *out);

#endif
