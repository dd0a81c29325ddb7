/* `p2p-replica probe`: one handshake (and optionally one bad stream)
 * against a registry member, for operators and end-to-end tests. */
#ifndef P2P_PROD_PROBE_H
#define P2P_PROD_PROBE_H

/* argv[0] is "probe". Returns the exit code (0 accepted, 3 refused, 4 no
 * answer, 2 bad input, 1 failure). */
int prod_probe_cmd(int argc, char **argv);

#endif
