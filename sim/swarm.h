/* p2p-sim swarm and p2p-sim shrink (docs/swarm.md), and what both use to
 * run one scenario and name how it failed.
 *
 * A run is judged as `p2p-sim run --invariants` judges it. Its failure
 * signature is what the shrinker keeps fixed: the name of the first failed
 * expectation ("delivered all within 40s"), or for an invariant violation
 * "invariants: " and the violation's first words with numbers masked
 * ("invariants: node # broke a"), or how the process died. */
#ifndef P2P_SIM_SWARM_H
#define P2P_SIM_SWARM_H

#include <stdint.h>
#include <stdio.h>

#include "sim/scenario.h"

enum sim_swarm_status {
    SIM_SWARM_OK = 0,  /* every expectation held */
    SIM_SWARM_FAILED,  /* an expectation or an invariant failed */
    SIM_SWARM_REFUSED, /* refused before running (as `run` exits 2) */
    SIM_SWARM_CRASHED, /* the run died of a signal (an assertion) */
    SIM_SWARM_TIMEOUT, /* it ran past its wall-clock limit */
    SIM_SWARM_ERROR    /* the simulator could not run it */
};

#define SIM_SWARM_SIGNATURE_BYTES 128u
#define SIM_SWARM_DETAIL_BYTES 640u
#define SIM_SWARM_TIMEOUT_DEFAULT_S 300u /* a seed takes about a second */

/* The outcome of one run. Plain bytes, so that it crosses a pipe in one
 * write (smaller than PIPE_BUF). */
struct sim_swarm_outcome {
    int32_t status; /* enum sim_swarm_status */
    uint64_t seed;  /* the seed the run used */
    double wall_s;
    uint64_t events;
    char signature[SIM_SWARM_SIGNATURE_BYTES]; /* "" when OK */
    char detail[SIM_SWARM_DETAIL_BYTES];       /* "name: detail" of the first
                                             failure; "" when OK */
};

/* What `p2p-sim run` refuses before running (exit 2): more node ids than
 * the connection model holds, a fault or byzantine behaviour its network
 * model lacks (sim_scenario_check_model, on sc->net.model as the command
 * line left it), or a fault timeline that cannot happen
 * (sim_faults_check). Prints the reason to err (borrowed) and returns
 * P2P_ERR_LIMIT (too many ids), P2P_ERR_INVALID_ARG (the model) or
 * P2P_ERR_DECODE (the timeline); 0 when sc (borrowed) can run. */
int sim_swarm_check(const struct sim_scenario *sc, FILE *err);

/* Runs sc (borrowed, checked) in this process with the invariant checker
 * and no output, with its own seed or *seed when seed is not NULL, and
 * fills *out. Frees everything the run allocated. */
void sim_swarm_run(const struct sim_scenario *sc, const uint64_t *seed,
                   struct sim_swarm_outcome *out);

/* The same in a forked child, so that an assertion failure or a hang
 * (longer than timeout_s of wall time; 0: no limit) is an outcome too
 * (SIM_SWARM_CRASHED, SIM_SWARM_TIMEOUT) rather than the caller's end.
 * Returns 0, or P2P_ERR_LIMIT when no child could be made (no pipe or no
 * process: out->status is then SIM_SWARM_ERROR). */
int sim_swarm_run_isolated(const struct sim_scenario *sc, const uint64_t *seed,
                           unsigned timeout_s, struct sim_swarm_outcome *out);

/* `p2p-sim swarm --seeds N [--from S] [--jobs J] [--out DIR] ...`; argv[0]
 * is the command's name. Returns the exit status: 0 every seed passed,
 * 1 some failed, 2 bad flags. */
int sim_swarm_main(int argc, char **argv);

/* `p2p-sim shrink FILE [--out FILE2] [--seed N] ...`; argv[0] is the
 * command's name. Returns 0 when the smallest failing scenario found was
 * written, 1 when FILE does not fail, 2 on bad input. */
int sim_shrink_main(int argc, char **argv);

#endif
