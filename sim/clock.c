/* A node's local clock: offset plus drift, monotonic, integer arithmetic. */
#include "sim/clock.h"

#include "core/assert.h"
#include "core/err.h"

/* 30 days at 1.5x is ~2^72: the product of an elapsed time and a rate needs
 * more than 64 bits. The extension keyword keeps -std=c11 builds quiet. */
__extension__ typedef unsigned __int128 u128;

#define PPM_ONE 1000000u

static uint64_t rate_ppm(const struct sim_clock *c)
{
    return (uint64_t)((int64_t)PPM_ONE + c->drift_ppm); /* in [0.5e6, 1.5e6] */
}

static void invariants(const struct sim_clock *c)
{
    P2P_ASSERT(c->drift_ppm >= -SIM_CLOCK_DRIFT_PPM_MAX &&
               c->drift_ppm <= SIM_CLOCK_DRIFT_PPM_MAX);
    P2P_ASSERT(c->base_local <= SIM_CLOCK_LOCAL_MAX);
    P2P_ASSERT(c->last_local <= SIM_CLOCK_LOCAL_MAX);
}

/* The line's reading at t >= base_global, saturated at SIM_CLOCK_LOCAL_MAX.
 * Additions only: no reading below base_local can underflow. */
static p2p_time raw_local(const struct sim_clock *c, p2p_time t)
{
    P2P_ASSERT(t >= c->base_global);
    u128 elapsed = (u128)(t - c->base_global) * rate_ppm(c) / PPM_ONE;
    u128 v = (u128)c->base_local + elapsed;
    return v > SIM_CLOCK_LOCAL_MAX ? SIM_CLOCK_LOCAL_MAX : (p2p_time)v;
}

/* What sim_clock_local would return at t, without remembering it. */
static p2p_time reading(const struct sim_clock *c, p2p_time t)
{
    p2p_time r = raw_local(c, t);
    return r < c->last_local ? c->last_local : r;
}

void sim_clock_init(struct sim_clock *c)
{
    c->base_global = 0;
    c->base_local = 0;
    c->drift_ppm = 0;
    c->last_local = 0;
    invariants(c);
}

p2p_time sim_clock_local(struct sim_clock *c, p2p_time global)
{
    p2p_time before = c->last_local;
    p2p_time r = reading(c, global);
    c->last_local = r;
    P2P_ASSERT(r >= before);
    invariants(c);
    return r;
}

p2p_time sim_clock_global(const struct sim_clock *c, p2p_time global_now,
                          p2p_time local)
{
    P2P_ASSERT(global_now >= c->base_global);
    if (local == P2P_TIME_NEVER)
        return P2P_TIME_NEVER;
    if (local <= c->last_local || local <= c->base_local)
        return global_now; /* held at last_local, or the line starts there */
    /* floor(d * rate / 1e6) >= need  <=>  d * rate >= need * 1e6
     * <=>  d >= ceil(need * 1e6 / rate). need < 2^64, so need * 1e6 < 2^84. */
    uint64_t rate = rate_ppm(c);
    u128 need = local - c->base_local;
    u128 d = (need * PPM_ONE + rate - 1) / rate;
    u128 g = (u128)c->base_global + d;
    if (g >= P2P_TIME_NEVER)
        return P2P_TIME_NEVER;
    P2P_DASSERT(raw_local(c, (p2p_time)g) >= local);
    P2P_DASSERT(raw_local(c, (p2p_time)g - 1) < local);
    return (p2p_time)g > global_now ? (p2p_time)g : global_now;
}

/* base + offset, clamped to [0, SIM_CLOCK_LOCAL_MAX]. */
static p2p_time add_offset(p2p_time base, int64_t offset_ns)
{
    if (offset_ns >= 0) {
        u128 v = (u128)base + (uint64_t)offset_ns;
        return v > SIM_CLOCK_LOCAL_MAX ? SIM_CLOCK_LOCAL_MAX : (p2p_time)v;
    }
    /* -(offset + 1) + 1 is |offset| without overflowing at INT64_MIN. */
    uint64_t back = (uint64_t)(-(offset_ns + 1)) + 1;
    return back >= base ? 0 : base - back;
}

int sim_clock_skew(struct sim_clock *c, p2p_time now, int64_t offset_ns,
                   int64_t drift_ppm)
{
    if (drift_ppm < -SIM_CLOCK_DRIFT_PPM_MAX ||
        drift_ppm > SIM_CLOCK_DRIFT_PPM_MAX)
        return P2P_ERR_INVALID_ARG;
    P2P_ASSERT(now >= c->base_global);
    p2p_time last_before = c->last_local;
    c->base_local = add_offset(reading(c, now), offset_ns);
    c->base_global = now;
    c->drift_ppm = drift_ppm;
    P2P_ASSERT(c->last_local == last_before);
    invariants(c);
    return 0;
}
