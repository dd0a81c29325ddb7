/* Transitional: the unit parsers moved to conf/units.h (conf_units_*).
 * These names remain only for sim/metrics_out.c and sim/main.c's --metrics
 * option until they include conf/units.h; new code uses conf/units.h. */
#ifndef P2P_SIM_UNITS_H
#define P2P_SIM_UNITS_H

#include "conf/units.h"

static inline int sim_units_parse_duration(const char *s, uint64_t *out_ns,
                                           char *msg, size_t msg_len)
{
    return conf_units_parse_duration(s, out_ns, msg, msg_len);
}

static inline void sim_units_format_duration(uint64_t ns, char *buf,
                                             size_t len)
{
    conf_units_format_duration(ns, buf, len);
}

#endif
