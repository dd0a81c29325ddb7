/* The replica: core's p2p_node behind the production shim (docs/replica.md).
 *
 * One libev loop drives everything: the QUIC transport's events become
 * core inputs, core's outbox becomes transport calls, received artifacts
 * are validated (every well-formed artifact is accepted: the replica has
 * no application of its own) and written to the data directory, the
 * registry file is polled, and the admin API reads and feeds the pools.
 * A node whose key is not in the registry yet starts anyway and waits for
 * a version that lists it. */
#ifndef P2P_PROD_REPLICA_H
#define P2P_PROD_REPLICA_H

/* `p2p-replica run --config FILE`: runs until SIGINT or SIGTERM. Returns
 * the process exit code (0 after a clean stop, 1 on a runtime failure, 2
 * on bad configuration). */
int prod_replica_run(const char *config_path);

#endif
