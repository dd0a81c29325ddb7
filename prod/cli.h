/* The replica's two binaries (docs/replica.md, "Commands"). Their flags
 * follow conf/cli.h, as p2p-sim's do. */
#ifndef P2P_PROD_CLI_H
#define P2P_PROD_CLI_H

#include <stddef.h>

#include "conf/cli.h"

/* The two binaries, installed side by side: the replica, and the tools
 * (testnet, probe, keygen) it hands those commands to. */
#define PROD_CLI_REPLICA_NAME "p2p-replica"
#define PROD_CLI_TOOLS_NAME "p2p-replica-tools"

/* The path of the binary called name in the folder of the running one
 * (/proc/self/exe, symbolic links resolved) into out[0..len). Does not
 * check that it exists. Returns 0, P2P_ERR_NOT_FOUND (/proc/self/exe
 * unreadable) or P2P_ERR_INVALID_ARG (the path does not fit). */
int prod_cli_sibling(const char *name, char *out, size_t len);

#endif
