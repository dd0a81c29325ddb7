/* One simulated node's local clock: an offset from global virtual time plus
 * a rate error (drift), so each node's core runs on its own time.
 *
 * Between two calls to sim_clock_skew the clock is a line through
 * (base_global, base_local) with slope (1e6 + drift_ppm) / 1e6:
 *
 *     raw(t) = base_local + floor((t - base_global) * (1e6 + drift_ppm) / 1e6)
 *
 * and the value handed out is max(raw(t), last_local), so the local time core
 * sees never goes backwards (core requires it to be monotonic non-decreasing):
 * after a backwards step the clock holds still until raw catches up.
 *
 * Integer arithmetic only (a 128-bit product, no floating point), so a trace
 * is byte-identical on every platform. Local times saturate at
 * SIM_CLOCK_LOCAL_MAX; P2P_TIME_NEVER is never handed out as a local time.
 *
 * Time semantics: the global times passed to sim_clock_local and
 * sim_clock_skew must be non-decreasing across calls on one clock; passing
 * an earlier one is a programmer error (asserted). */
#ifndef P2P_SIM_CLOCK_H
#define P2P_SIM_CLOCK_H

#include <stdint.h>

#include "core/types.h"

/* Largest |drift_ppm| accepted: the clock runs at between 0.5x and 1.5x. */
#define SIM_CLOCK_DRIFT_PPM_MAX 500000
/* Largest local time handed out; later readings saturate here. */
#define SIM_CLOCK_LOCAL_MAX (P2P_TIME_NEVER - 1)

/* Plain value, caller storage; copying it copies the clock. */
struct sim_clock {
    /* raw(t) = base_local + (t - base_global) * (1e6 + drift_ppm) / 1e6 */
    p2p_time base_global, base_local;
    int64_t drift_ppm;   /* |drift_ppm| <= SIM_CLOCK_DRIFT_PPM_MAX */
    p2p_time last_local; /* the largest local time handed out (0 at first) */
};

/* Sets c to the identity clock: local == global, no drift. Needs no _fini. */
void sim_clock_init(struct sim_clock *c);

/* The local time at global time `global` (>= every global time passed to c
 * before, and >= base_global): max(raw(global), last_local), which is then
 * remembered as last_local. Never less than any value returned before;
 * saturates at SIM_CLOCK_LOCAL_MAX. */
p2p_time sim_clock_local(struct sim_clock *c, p2p_time global);

/* Converts a local deadline to global time: the earliest global time
 * g >= global_now at which sim_clock_local would return >= local, that is
 * local(g) >= local and, when g > global_now, local(g - 1) < local. Returns
 * global_now when the clock already reads >= local then, and P2P_TIME_NEVER
 * when local is P2P_TIME_NEVER or g would not fit below P2P_TIME_NEVER.
 * global_now must be >= base_global. Pure: c is not modified, so the answer
 * holds as long as c is not skewed again. */
p2p_time sim_clock_global(const struct sim_clock *c, p2p_time global_now,
                          p2p_time local);

/* From global time now on (>= every global time passed to c before), the
 * clock reads what it would have read at now (max(raw(now), last_local))
 * plus offset_ns, and runs at drift_ppm. A negative offset never underflows
 * (the new base is clamped at 0) and does not move the clock back: it holds
 * still until the new line catches up with last_local. A positive offset
 * saturates at SIM_CLOCK_LOCAL_MAX. last_local is not changed.
 *
 * Returns 0, or P2P_ERR_INVALID_ARG when |drift_ppm| >
 * SIM_CLOCK_DRIFT_PPM_MAX (c is then unchanged). */
int sim_clock_skew(struct sim_clock *c, p2p_time now, int64_t offset_ns,
                   int64_t drift_ppm);

#endif
