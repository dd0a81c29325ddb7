/* The judge of slow chunk requests (core/state_sync_slow.h). */
#include "core/state_sync_slow.h"

#include <string.h>

#include "core/assert.h"

#define SLOW_FACTOR 4u
#define SLOW_MIN_NS (1 * P2P_NS_PER_S)
#define SLOW_SAMPLES_MIN 8u /* no judgement before this many chunks */

void p2p__state_sync_slow_reset(struct p2p_state_slow *w)
{
    w->lat_count = 0;
    w->lat_next = 0;
}

void p2p__state_sync_slow_sample(struct p2p_state_slow *w, p2p_time latency_ns)
{
    P2P_ASSERT(w->lat_next < P2P_STATE_LAT_SAMPLES);
    w->lat[w->lat_next] = latency_ns;
    w->lat_next = (w->lat_next + 1) % P2P_STATE_LAT_SAMPLES;
    if (w->lat_count < P2P_STATE_LAT_SAMPLES)
        w->lat_count++;
}

/* The median of the samples (insertion sort of at most 32 values). */
static p2p_time median(const struct p2p_state_slow *w)
{
    p2p_time v[P2P_STATE_LAT_SAMPLES];
    uint32_t count = w->lat_count;
    P2P_ASSERT(count > 0 && count <= P2P_STATE_LAT_SAMPLES);
    for (uint32_t i = 0; i < count; i++) {
        p2p_time x = w->lat[i];
        uint32_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return v[count / 2];
}

bool p2p__state_sync_slow_limit(const struct p2p_state_slow *w,
                                p2p_time *limit_ns)
{
    if (w->lat_count < SLOW_SAMPLES_MIN)
        return false;
    p2p_time limit = median(w) * SLOW_FACTOR;
    *limit_ns = limit < SLOW_MIN_NS ? SLOW_MIN_NS : limit;
    return true;
}
