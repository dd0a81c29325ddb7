/* The admin API's Prometheus families (prod/admin_api_metrics.h). */
#include "prod/admin_api_metrics.h"

#include <stdint.h>

void prod_admin_api_metrics_write(struct p2p_metrics_text *t,
                                  const struct prod_admin_stats *s)
{
    static const char *const conns = "p2p_replica_admin_connections";
    p2p_metrics_text_family(
        t, conns, P2P_METRIC_GAUGE,
        "Admin API connections: waiting for their request head, served by "
        "the HTTP server, refused and still draining.");
    p2p_metrics_text_sample(t, conns, "state", "waiting", s->gate.waiting);
    p2p_metrics_text_sample(t, conns, "state", "serving", s->serving);
    p2p_metrics_text_sample(t, conns, "state", "lingering", s->gate.lingering);

    static const char *const admitted =
        "p2p_replica_admin_connections_admitted_total";
    p2p_metrics_text_family(t, admitted, P2P_METRIC_COUNTER,
                            "Admin API connections whose request head was "
                            "handed to the HTTP server.");
    p2p_metrics_text_sample(t, admitted, NULL, NULL, s->gate.admitted_total);

    static const char *const refused = "p2p_replica_admin_refusals_total";
    p2p_metrics_text_family(
        t, refused, P2P_METRIC_COUNTER,
        "Admin API requests refused before they were served, by reason: "
        "connections (503, at the connection limit), bad_head (a 4xx or 5xx "
        "for a malformed or oversized request head), head_timeout (408), "
        "buffer (503, limits.admin_buffer spent).");
    p2p_metrics_text_sample(t, refused, "reason", "connections",
                            s->gate.refused_busy_total);
    p2p_metrics_text_sample(t, refused, "reason", "bad_head",
                            s->gate.refused_head_total);
    p2p_metrics_text_sample(t, refused, "reason", "head_timeout",
                            s->gate.timed_out_total);
    p2p_metrics_text_sample(t, refused, "reason", "buffer",
                            s->refused_buffer_total);

    static const char *const buffered = "p2p_replica_admin_buffered_bytes";
    p2p_metrics_text_family(t, buffered, P2P_METRIC_GAUGE,
                            "Bytes of request bodies and whole answers the "
                            "admin API holds now (limits.admin_buffer bounds "
                            "them).");
    p2p_metrics_text_sample(t, buffered, NULL, NULL, s->buffered_bytes);
}
