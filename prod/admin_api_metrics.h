/* The admin API's own Prometheus families for /metrics: connections by
 * state (waiting for their request head, served, refused and lingering),
 * bytes buffered against limits.admin_buffer, and connections refused by
 * reason. Every name starts with p2p_replica_admin_. */
#ifndef P2P_PROD_ADMIN_API_METRICS_H
#define P2P_PROD_ADMIN_API_METRICS_H

#include "core/metrics_registry.h"
#include "prod/admin.h"

/* Appends the families of *s (borrowed; prod_admin_get_stats) to t, in a
 * fixed order with HELP and TYPE lines, every label value present (zeroes
 * included). A too-small buffer only makes p2p_metrics_text_finish report
 * the size needed. */
void prod_admin_api_metrics_write(struct p2p_metrics_text *t,
                                  const struct prod_admin_stats *s);

#endif
