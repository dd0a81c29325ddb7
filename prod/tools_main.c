/* p2p-replica-tools: the commands that make and test replicas rather than
 * run one: `testnet`, `probe`, `keygen` (docs/replica.md, "Commands").
 * Installed beside p2p-replica, which hands those commands to this binary
 * (prod/main.c), so `p2p-replica testnet ...` and `p2p-replica-tools
 * testnet ...` are the same. It links libcurl (testnet's health checks);
 * the replica does not. */
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prod/build_info.h"
#include "prod/cli.h"
#include "prod/keygen.h"
#include "prod/probe.h"
#include "prod/testnet.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: p2p-replica-tools COMMAND [options]\n"
            "       p2p-replica-tools --version | --help\n"
            "\n"
            "The replica's tools; `p2p-replica COMMAND` runs them too.\n"
            "\n"
            "commands:\n"
            "  testnet --nodes N --dir DIR [--detach | --stop]\n"
            "                         make keys, a registry and configs for N\n"
            "                         replicas on 127.0.0.1 and run them (the\n"
            "                         p2p-replica beside this binary)\n"
            "  keygen --key K --cert C  make an identity; prints the node id\n"
            "  probe --config FILE --peer INDEX [--anonymous]\n"
            "        [--garbage B | --oversize]\n"
            "                         try a handshake with a member\n"
            "  --version              the version, the commit it was built\n"
            "                         from and the libraries' versions\n"
            "\n"
            "Flags take their value as `--flag VALUE` or `--flag=VALUE`.\n"
            "`p2p-replica-tools COMMAND --help` explains each.\n");
}

static void version(FILE *f)
{
    struct prod_build_info b;
    prod_build_info_get(&b);
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    fprintf(f, PROD_CLI_TOOLS_NAME " %s (commit %s)\n", b.version, b.commit);
    fprintf(f, "ngtcp2 %s, GnuTLS %s, libcurl %s\n", b.ngtcp2, b.gnutls,
            curl != NULL && curl->version != NULL ? curl->version : "unknown");
}

/* Transparent huge pages for the heap make the remaining page faults 512x
 * fewer (bulk transfers: 63 -> 109 MB/s on a 2-vCPU VM). glibc reads the
 * tunable at start, so it is set for the replicas a testnet starts; a
 * replica run by hand or by systemd gets it from its environment (the
 * unit in dist/ sets it). */
static void huge_pages_for_children(void)
{
    const char *t = getenv("GLIBC_TUNABLES");
    if (t != NULL && strstr(t, "glibc.malloc.hugetlb") != NULL)
        return;
    char v[1024];
    int n = snprintf(v, sizeof(v), "%s%sglibc.malloc.hugetlb=1",
                     t != NULL ? t : "", t != NULL && *t ? ":" : "");
    if (n > 0 && (size_t)n < sizeof(v))
        (void)setenv("GLIBC_TUNABLES", v, 1);
}

/* `testnet`: argv[0] is "testnet". The replicas it starts are the
 * p2p-replica beside this binary. */
static int testnet_cmd(int argc, char **argv)
{
    char replica[PATH_MAX];
    if (prod_cli_sibling(PROD_CLI_REPLICA_NAME, replica, sizeof(replica)) !=
        0) {
        fprintf(stderr, "p2p-replica testnet: cannot find this binary's "
                        "folder (/proc/self/exe) to run p2p-replica\n");
        return 1;
    }
    huge_pages_for_children();
    return prod_testnet_cmd(argc, argv, replica);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    conf_cli_begin();
    int ch;
    /* '+': the options before the command are the program's. */
    while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            version(stdout);
            return 0;
        default:
            conf_cli_bad_flag(stderr, PROD_CLI_TOOLS_NAME, ch, argv, opts);
            usage(stderr);
            return CONF_CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CONF_CLI_EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    argc -= optind;
    argv += optind;
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        version(stdout);
        return 0;
    }
    if (strcmp(cmd, "testnet") == 0)
        return testnet_cmd(argc, argv);
    if (strcmp(cmd, "keygen") == 0)
        return prod_keygen_cmd(argc, argv);
    if (strcmp(cmd, "probe") == 0)
        return prod_probe_cmd(argc, argv);
    fprintf(stderr, PROD_CLI_TOOLS_NAME ": unknown command \"%s\"\n", cmd);
    usage(stderr);
    return CONF_CLI_EXIT_USAGE;
}
