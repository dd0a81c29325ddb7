/* The replica's transport families for /metrics: the ones the simulator
 * writes too (p2p_transport_*: bytes by traffic class, messages; same
 * names, labels and meaning, docs/metrics.md "Shared vocabulary"), then
 * the replica's own, all p2p_replica_: per-peer connection state, bytes,
 * messages, resets and RTT, handshake refusals by reason, connection and
 * UDP totals. Written after core's families (p2p_node_metrics_write) into
 * the same text; no concept gets a second name (connections up and dials
 * are core's p2p_connections{state="up"} and
 * p2p_connections_dialed_total). */
#ifndef P2P_PROD_ADMIN_METRICS_H
#define P2P_PROD_ADMIN_METRICS_H

#include <stdint.h>

#include "core/metrics_registry.h"
#include "quic/peer_stats.h"

/* The peer states p2p_replica_peer_state always lists (one sample each,
 * 1 for the peer's current state, 0 for the others); a conn_state outside
 * this list gets a sample of its own with value 1. */
#define PROD_ADMIN_PEER_STATES_COUNT 3

/* Appends the replica's families to t: peers[0..count) (borrowed; peers
 * may be NULL when count is 0) and the transport's totals *tot (borrowed).
 * Families come in a fixed order with HELP and TYPE lines even when count
 * is 0; each peer is labelled peer="<index>". Label values are escaped.
 * Like every p2p_metrics_text writer, a too-small buffer only makes
 * p2p_metrics_text_finish report the size needed. */
void prod_admin_metrics_write(struct p2p_metrics_text *t,
                              const struct quic_peer_stats *peers,
                              uint32_t count,
                              const struct quic_endpoint_totals *tot);

#endif
