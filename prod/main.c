/* p2p-replica: the production replica's command line (docs/replica.md). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prod/build_info.h"
#include "prod/identity.h"
#include "prod/probe.h"
#include "prod/replica.h"
#include "prod/testnet.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: p2p-replica COMMAND [options]\n"
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
            "`p2p-replica COMMAND --help` explains each. docs/replica.md has\n"
            "the config and registry formats and the admin API.\n");
}

static int run_cmd(int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: p2p-replica run --config FILE\n\n"
                   "Runs one replica until SIGINT or SIGTERM. The config\n"
                   "file's format is in docs/replica.md. Exit: 0 after a\n"
                   "clean stop, 1 on a runtime failure, 2 on bad input or\n"
                   "when another process holds the data directory (its\n"
                   "lock file DATA/lock names the holder's pid).\n");
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && config == NULL)
            config = argv[++i];
        else {
            fprintf(stderr, "p2p-replica run: unexpected \"%s\"\n", argv[i]);
            config = NULL;
            break;
        }
    }
    if (config == NULL) {
        fprintf(stderr, "usage: p2p-replica run --config FILE\n");
        return 2;
    }
    return prod_replica_run(config);
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

int main(int argc, char **argv)
{
    keep_freed_memory();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        prod_build_info_print(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return run_cmd(argc - 1, argv + 1);
    if (strcmp(cmd, "testnet") == 0) {
        /* Replicas are started from this very binary. */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0) {
            perror("p2p-replica: /proc/self/exe");
            return 1;
        }
        self[n] = '\0';
        huge_pages_for_children();
        return prod_testnet_cmd(argc - 1, argv + 1, self);
    }
    if (strcmp(cmd, "keygen") == 0)
        return prod_keygen_cmd(argc - 1, argv + 1);
    if (strcmp(cmd, "probe") == 0)
        return prod_probe_cmd(argc - 1, argv + 1);
    fprintf(stderr, "p2p-replica: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
