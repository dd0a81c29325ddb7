/* p2p-replica: the production replica's command line (docs/replica.md,
 * "Commands"). `run` is the daemon; `testnet`, `probe` and `keygen` belong
 * to p2p-replica-tools (prod/tools_main.c), installed beside this binary,
 * which this one hands them to (execv): the daemon links none of their
 * code, nor libcurl. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prod/build_info.h"
#include "prod/cli.h"
#include "prod/replica.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: p2p-replica COMMAND [options]\n"
           "       p2p-replica --version | --help\n"
           "\n"
           "The Internet Computer's subnet P2P layer as a replica: QUIC with\n"
           "mutual TLS, gossip, state sync, an admin HTTP API.\n"
           "\n"
           "commands:\n"
           "  run --config FILE      run one replica until SIGINT/SIGTERM\n"
           "  testnet --nodes N --dir DIR [--detach | --stop]\n"
           "                         make keys, a registry and configs for N\n"
           "                         replicas on 127.0.0.1 and run them\n"
           "  keygen --key K --cert C  make an identity; prints the node id\n"
           "  probe --config FILE --peer INDEX [--anonymous]\n"
           "        [--garbage B | --oversize]\n"
           "                         try a handshake with a member\n"
           "  --version              the version, the commit it was built\n"
           "                         from and the libraries' versions\n"
           "\n"
           "testnet, keygen and probe run p2p-replica-tools, installed beside\n"
           "this binary. Flags take their value as `--flag VALUE` or\n"
           "`--flag=VALUE`. `p2p-replica COMMAND --help` explains each.\n"
           "docs/replica.md has the config and registry formats and the\n"
           "admin API.\n");
}

static void run_usage(FILE *f)
{
    fprintf(f, "usage: p2p-replica run --config FILE\n\n"
               "Runs one replica until SIGINT or SIGTERM. The config\n"
               "file's format is in docs/replica.md. Exit: 0 after a\n"
               "clean stop, 1 on a runtime failure, 2 on bad input or\n"
               "when another process holds the data directory (its\n"
               "lock file DATA/lock names the holder's pid).\n");
}

/* `run`: argv[0] is "run". */
static int run_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config = NULL;
    bool help = false;
    conf_cli_begin();
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ch == 'h') {
            help = true;
        } else if (ch == 'c' && config == NULL) {
            config = optarg;
        } else if (ch == 'c') {
            fprintf(stderr, "p2p-replica run: --config given twice\n");
            run_usage(stderr);
            return CONF_CLI_EXIT_USAGE;
        } else {
            conf_cli_bad_flag(stderr, "p2p-replica run", ch, argv, opts);
            run_usage(stderr);
            return CONF_CLI_EXIT_USAGE;
        }
    }
    if (help) {
        run_usage(stdout);
        return 0;
    }
    if (conf_cli_no_operands(stderr, "p2p-replica run", argc, argv) != 0) {
        run_usage(stderr);
        return CONF_CLI_EXIT_USAGE;
    }
    if (config == NULL || config[0] == '\0') {
        fprintf(stderr, "p2p-replica run: --config FILE is required\n");
        run_usage(stderr);
        return CONF_CLI_EXIT_USAGE;
    }
    return prod_replica_run(config);
}

/* `testnet`, `probe`, `keygen`: argv[0] is the command. Runs
 * p2p-replica-tools from this binary's folder in this process (same pid,
 * signals, stdin/stdout/stderr and environment), so only a failure to
 * start it returns: 1, after saying why. */
static int hand_to_tools(int argc, char **argv)
{
    char path[PATH_MAX];
    if (prod_cli_sibling(PROD_CLI_TOOLS_NAME, path, sizeof(path)) != 0) {
        fprintf(stderr,
                "p2p-replica %s: cannot find this binary's folder "
                "(/proc/self/exe) to run " PROD_CLI_TOOLS_NAME "\n",
                argv[0]);
        return 1;
    }
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    if (args == NULL) {
        fprintf(stderr, "p2p-replica %s: out of memory\n", argv[0]);
        return 1;
    }
    args[0] = path;
    memcpy(args + 1, argv, (size_t)argc * sizeof(*args));
    execv(path, args);
    int saved = errno;
    fprintf(stderr,
            "p2p-replica %s: cannot run %s: %s (`%s` is in " PROD_CLI_TOOLS_NAME
            ", which is installed beside p2p-replica)\n",
            argv[0], path, strerror(saved), argv[0]);
    free(args);
    return 1;
}

/* Large buffers (artifacts up to 128 MiB, their envelopes, the pool's
 * copies) are allocated and freed all the time. glibc would mmap each one
 * and unmap it on free, so every byte of every artifact costs a fresh page
 * fault and a page clear; on virtual machines that is the largest cost of
 * a transfer (docs/performance.md). Keeping freed memory in the heap
 * reuses the pages instead. */
static void keep_freed_memory(void)
{
    (void)mallopt(M_MMAP_MAX, 0);
    (void)mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

static bool is_tools_command(const char *cmd)
{
    return strcmp(cmd, "testnet") == 0 || strcmp(cmd, "probe") == 0 ||
           strcmp(cmd, "keygen") == 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    keep_freed_memory();
    conf_cli_begin();
    int ch;
    /* '+': the options before the command are the program's; the rest
     * are the command's. */
    while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            prod_build_info_print(stdout);
            return 0;
        default:
            conf_cli_bad_flag(stderr, "p2p-replica", ch, argv, opts);
            usage(stderr);
            return CONF_CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CONF_CLI_EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        prod_build_info_print(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return run_cmd(argc - optind, argv + optind);
    if (is_tools_command(cmd))
        return hand_to_tools(argc - optind, argv + optind);
    fprintf(stderr, "p2p-replica: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return CONF_CLI_EXIT_USAGE;
}
