/* `p2p-replica testnet`: an N-node subnet on 127.0.0.1. Makes (or reuses)
 * keys and certificates, writes the registry and one config per node,
 * spawns the replicas, waits until each answers GET /health with 200,
 * records them in DIR/testnet.json, and stops them (Ctrl-C, or
 * `testnet --stop --dir DIR` for a detached one). docs/replica.md,
 * "Commands".
 *
 * Layout of DIR:
 *   registry.yaml                 version 1, every node (and its cert)
 *   node<i>/key.pem, cert.pem     the node's identity (kept across runs)
 *   node<i>/config.yaml           paths relative to node<i>/
 *   node<i>/data/                 its data dir
 *   node<i>/replica.log           its stdout and stderr (appended)
 *   testnet.json                  {"nodes": [{"id", "index", "admin", "pid",
 *                                 "config"}]} while the replicas run */
#ifndef P2P_PROD_TESTNET_H
#define P2P_PROD_TESTNET_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "prod/identity.h"

#define PROD_TESTNET_NODES_MAX 64
#define PROD_TESTNET_NODES_DEFAULT 4
#define PROD_TESTNET_BASE_PORT 4100    /* QUIC (UDP) of node 0 */
#define PROD_TESTNET_ADMIN_OFFSET 1000 /* admin (TCP) port: QUIC port + this */
#define PROD_TESTNET_TIMEOUT_S 30      /* health wait, default */
#define PROD_TESTNET_TIMEOUT_S_MAX 3600
#define PROD_TESTNET_STOP_WAIT_MS 10000 /* SIGTERM to SIGKILL */
#define PROD_TESTNET_ADMIN_URL_MAX 64
/* testnet.json: every node's fields at their longest, escaped (x6). */
#define PROD_TESTNET_JSON_BYTES_MAX                                            \
    (PROD_TESTNET_NODES_MAX *                                                  \
     (6 * PATH_MAX + 6 * PROD_TESTNET_ADMIN_URL_MAX + 256))

/* One replica of the testnet. */
struct prod_testnet_node {
    uint32_t index;                /* registry index = core's id */
    uint8_t id[QUIC_KEY_ID_BYTES]; /* node id */
    uint16_t port;                 /* QUIC, UDP, 127.0.0.1 */
    uint16_t admin_port;           /* admin HTTP, TCP, 127.0.0.1 */
    /* 0 until launched; a launched child that has been reaped keeps its
     * number negated (for messages). */
    pid_t pid;
    char admin_url[PROD_TESTNET_ADMIN_URL_MAX]; /* http://127.0.0.1:PORT */
    char config[PATH_MAX];                      /* absolute path */
};

/* Makes DIR (and missing parents), then for node i in 0..nodes-1:
 * DIR/node<i>/ with key.pem and cert.pem (reused when both exist and belong
 * together; made when either is missing), data/, and config.yaml; then
 * DIR/registry.yaml. Fills out[0..nodes-1] (pid 0). nodes is
 * 1..PROD_TESTNET_NODES_MAX and base_port + PROD_TESTNET_ADMIN_OFFSET +
 * nodes - 1 must be a port. Returns 0, P2P_ERR_INVALID_ARG (counts, ports,
 * DIR's path too long), P2P_ERR_ID_MISMATCH / P2P_ERR_DECODE (an existing
 * key and certificate do not form a pair: they are never replaced),
 * P2P_ERR_WRITE, with a message in err. */
int prod_testnet_generate(const char *dir, unsigned nodes, unsigned base_port,
                          struct prod_testnet_node *out, char *err,
                          size_t err_len);

/* Writes DIR/testnet.json atomically from nodes[0..n-1] (id, index,
 * admin_url, pid, config). Returns 0 or P2P_ERR_WRITE / P2P_ERR_NOMEM. */
int prod_testnet_write_json(const char *dir,
                            const struct prod_testnet_node *nodes, unsigned n,
                            char *err, size_t err_len);

/* Reads a testnet.json written by prod_testnet_write_json: exactly the keys
 * id, index, admin, pid (> 1) and config per node, at most max nodes, no
 * index twice. Fills index, id, admin_url, pid, config (ports 0). Returns 0,
 * P2P_ERR_NOT_FOUND (no such file), P2P_ERR_READ, P2P_ERR_OVERSIZE (over
 * PROD_TESTNET_JSON_BYTES_MAX) or P2P_ERR_DECODE with a message (file and
 * line) in err. */
int prod_testnet_read_json(const char *path, struct prod_testnet_node *out,
                           unsigned max, unsigned *n, char *err,
                           size_t err_len);

/* True when pid is a live (not zombie) process that is still the replica
 * a testnet.json lists, not a reused pid: its argv[0] is "p2p-replica", or
 * config (may be NULL) is one of its arguments (a replica run under a
 * wrapper). Without /proc, any live pid counts. */
int prod_testnet_pid_alive(pid_t pid, const char *config);

/* `--stop`: sends SIGTERM to every live replica DIR/testnet.json lists,
 * waits up to PROD_TESTNET_STOP_WAIT_MS for them to exit, SIGKILLs the
 * rest, removes testnet.json and prints one line per node on out. Returns
 * 0 (also when there was no testnet.json: it says so) or a negative error
 * (unreadable testnet.json) with a message in err. */
int prod_testnet_stop(const char *dir, FILE *out, char *err, size_t err_len);

/* The command: argv[0] is "testnet"; self_exe is the p2p-replica binary the
 * nodes run (`self_exe run --config DIR/node<i>/config.yaml`; NULL means
 * /proc/self/exe). Returns the exit status: 0 (detached and healthy, or
 * stopped by SIGINT/SIGTERM/SIGHUP, or --stop done), 1 (a replica did not
 * become healthy or exited, or a file could not be made), 2 (bad flags:
 * usage on stderr). */
int prod_testnet_cmd(int argc, char **argv, const char *self_exe);

#endif
