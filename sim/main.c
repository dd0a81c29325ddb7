/* p2p-sim: the simulator's command line. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/cli.h"
#include "p2p_version.h"

#include "sim/report.h"
#include "sim/report_html.h"
#include "sim/swarm.h"
#include "sim/trace_filter.h"
#include "sim/scenario.h"
#include "conf/units.h"
#include "sim/world.h"

enum exit_code {
    EXIT_OK = 0,
    EXIT_EXPECTATION = 1,
    EXIT_BAD_INPUT = 2,
    EXIT_INTERRUPTED = 128 + SIGINT, /* as a shell reports a SIGINT death */
};

#define REPLAY_BYTES 4096u /* the replay command line, quoted */

struct run_args {
    const char *path;
    struct sim_options opt;
    const char *trace_path;
    bool json;
    bool check_determinism;
    const char *metrics_every;  /* --metrics-every, as given */
    const char *metrics_format; /* --metrics-format, as given */
    const char *report_path;    /* --report FILE.html */
    bool has_model;             /* --model given: overrides network.model */
    enum sim_net_model model;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: p2p-sim run FILE.yaml [options]\n"
        "       p2p-sim trace FILE [filters]     (p2p-sim trace --help)\n"
        "       p2p-sim swarm --seeds N [...]    (p2p-sim swarm --help)\n"
        "       p2p-sim shrink FILE [...]        (p2p-sim shrink --help)\n"
        "       p2p-sim --version\n"
        "\n"
        "Runs a scenario in the deterministic network simulator and judges "
        "its\n"
        "expectations. Exit status: 0 all expectations hold, 1 one failed "
        "(the\n"
        "seed and the replay command are printed), 2 bad input (output paths\n"
        "are checked before the run), 130 interrupted by SIGINT (the summary\n"
        "so far is printed and the report marked incomplete).\n"
        "\n"
        "options:\n"
        "  --seed N              override the scenario's seed\n"
        "  --model M             run on network model M, message or quic\n"
        "                        (overrides network.model): whole messages\n"
        "                        over links, or the replica's QUIC and TLS\n"
        "                        over a simulated packet network\n"
        "  --trace FILE          write the trace, one event a line\n"
        "                        (docs/trace-format.md); '-' for stdout\n"
        "  --events              include core protocol events in the trace\n"
        "  --json                print the summary as one JSON object\n"
        "  --metrics DIR         write each node's final metrics "
        "(DIR/node-<id>.prom,\n"
        "                        Prometheus text format) and a time series\n"
        "                        (DIR/timeseries.csv); DIR is created if "
        "missing.\n"
        "                        Changes nothing else: same seed, same trace.\n"
        "                        Formats: docs/metrics.md\n"
        "  --metrics-every T     time-series sampling period in virtual time\n"
        "                        (default 1s; units ns us ms s m h)\n"
        "  --metrics-format F    prometheus (default: the files above) or\n"
        "                        openmetrics: also DIR/metrics.om, every "
        "sample\n"
        "                        of every node (label node, timestamps from\n"
        "                        2024-01-01T00:00:00Z at virtual time 0) for\n"
        "                        promtool tsdb create-blocks-from "
        "openmetrics;\n"
        "                        needs --metrics-every of at least 1ms\n"
        "  --report FILE.html    write a self-contained HTML report with "
        "plots\n"
        "                        (latency CDF per kind, bytes sent and "
        "received\n"
        "                        per node as the links carried them, a node x\n"
        "                        time heatmap of link use, delivery progress\n"
        "                        and the fault timeline, state-sync progress,\n"
        "                        expectations); needs gnuplot\n"
        "  --check-determinism   run twice in this process and compare every\n"
        "                        event; names the first divergence\n"
        "  --invariants          check every node's invariants after every "
        "event\n"
        "  --acks-as-events      make every acknowledgement's arrival an "
        "event\n"
        "                        (by default its node takes it just before "
        "it\n"
        "                        next acts: same results, half the events);\n"
        "                        traces then have its 'recv' line\n"
        "  --quiet               no progress lines on stderr\n"
        "  -h, --help            this text\n");
}

/* Whether a new or existing file at path can be written: an existing one
 * must be a writable non-folder, a new one needs a writable folder. Checks
 * without creating anything; false with the reason in msg. */
static bool writable_file(const char *path, char *msg, size_t len)
{
    struct stat st;
    if (path[0] == '\0') {
        snprintf(msg, len, "empty path");
        return false;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(msg, len, "%s is a folder", path);
            return false;
        }
        if (access(path, W_OK) != 0) {
            snprintf(msg, len, "cannot write %s: %s", path, strerror(errno));
            return false;
        }
        return true;
    }
    if (errno != ENOENT) {
        snprintf(msg, len, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    /* A new file: its folder must exist and take it. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(msg, len, "cannot write %s: no folder %s", path, dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(msg, len, "cannot write %s: folder %s: %s", path, dir,
                 strerror(errno));
        return false;
    }
    return true;
}

/* Whether an executable named name is in PATH. */
static bool in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");
        char file[4096];
        snprintf(file, sizeof(file), "%.*s/%s", (int)(n ? n : 1),
                 n ? path : ".", name);
        if (access(file, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

/* Every output the run will write (--report, --metrics, --trace) is
 * checked before it starts, so a typo costs no run: 0, or EXIT_BAD_INPUT
 * with a message. Nothing is created here (--metrics DIR was made while
 * parsing). */
static int check_outputs(const struct run_args *a)
{
    char msg[4400];
    if (a->report_path != NULL) {
        if (!writable_file(a->report_path, msg, sizeof(msg))) {
            fprintf(stderr, "p2p-sim run: --report: %s\n", msg);
            return EXIT_BAD_INPUT;
        }
        if (!in_path("gnuplot")) {
            fprintf(stderr, "p2p-sim run: --report draws its plots with "
                            "gnuplot, which is not in PATH (Debian package "
                            "gnuplot-nox)\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (a->opt.metrics_dir != NULL &&
        access(a->opt.metrics_dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "p2p-sim run: --metrics: cannot write in %s: %s\n",
                a->opt.metrics_dir, strerror(errno));
        return EXIT_BAD_INPUT;
    }
    if (a->trace_path != NULL && strcmp(a->trace_path, "-") != 0 &&
        !writable_file(a->trace_path, msg, sizeof(msg))) {
        fprintf(stderr, "p2p-sim run: --trace: %s\n", msg);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

/* --metrics DIR [--metrics-every T]: the period is checked and DIR made
 * before the run, so a bad flag costs nothing. */
static int parse_metrics_args(struct run_args *a)
{
    a->opt.metrics_every_ns = SIM_METRICS_EVERY_DEFAULT_NS;
    if (a->metrics_every != NULL) {
        char msg[128];
        if (a->opt.metrics_dir == NULL) {
            fprintf(stderr,
                    "p2p-sim run: --metrics-every needs --metrics DIR\n");
            return EXIT_BAD_INPUT;
        }
        if (conf_units_parse_duration(a->metrics_every,
                                      &a->opt.metrics_every_ns, msg,
                                      sizeof(msg)) != 0) {
            fprintf(stderr, "p2p-sim run: --metrics-every: '%s': %s\n",
                    a->metrics_every, msg);
            return EXIT_BAD_INPUT;
        }
        if (a->opt.metrics_every_ns == 0) {
            fprintf(stderr, "p2p-sim run: --metrics-every: must be more "
                            "than 0\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (a->metrics_format != NULL) {
        if (a->opt.metrics_dir == NULL) {
            fprintf(stderr, "p2p-sim run: --metrics-format needs --metrics "
                            "DIR\n");
            return EXIT_BAD_INPUT;
        }
        if (strcmp(a->metrics_format, "openmetrics") == 0) {
            a->opt.metrics_openmetrics = true;
        } else if (strcmp(a->metrics_format, "prometheus") != 0) {
            fprintf(stderr,
                    "p2p-sim run: --metrics-format: '%s': not "
                    "prometheus or openmetrics\n",
                    a->metrics_format);
            return EXIT_BAD_INPUT;
        }
        /* Prometheus keeps milliseconds: two samples of one series in the
         * same millisecond would collide. */
        if (a->opt.metrics_openmetrics &&
            a->opt.metrics_every_ns < SIM_METRICS_OM_EVERY_MIN_NS) {
            fprintf(stderr, "p2p-sim run: --metrics-format openmetrics: "
                            "--metrics-every must be at least 1ms\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (a->opt.metrics_dir != NULL) {
        char msg[512];
        if (sim_metrics_out_mkdir(a->opt.metrics_dir, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "p2p-sim run: --metrics: %s\n", msg);
            return EXIT_BAD_INPUT;
        }
    }
    return EXIT_OK;
}

static int parse_run_args(int argc, char **argv, struct run_args *a)
{
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},
        {"model", required_argument, NULL, 'N'},
        {"trace", required_argument, NULL, 't'},
        {"events", no_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {"check-determinism", no_argument, NULL, 'd'},
        {"invariants", no_argument, NULL, 'i'},
        {"acks-as-events", no_argument, NULL, 'A'},
        {"quiet", no_argument, NULL, 'q'},
        {"metrics", required_argument, NULL, 'm'},
        {"metrics-every", required_argument, NULL, 'M'},
        {"metrics-format", required_argument, NULL, 'F'},
        {"report", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    conf_cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (conf_units_parse_u64(optarg, &a->opt.seed) != 0) {
                fprintf(stderr,
                        "p2p-sim: --seed: '%s' is not a non-negative integer\n",
                        optarg);
                return EXIT_BAD_INPUT;
            }
            a->opt.has_seed = true;
            break;
        case 'N':
            if (sim_scenario_model_parse(optarg, &a->model) != 0) {
                fprintf(stderr,
                        "p2p-sim run: --model: '%s' is not message or quic\n",
                        optarg);
                return EXIT_BAD_INPUT;
            }
            a->has_model = true;
            break;
        case 't':
            a->trace_path = optarg;
            break;
        case 'e':
            a->opt.events = true;
            break;
        case 'j':
            a->json = true;
            break;
        case 'd':
            a->check_determinism = true;
            break;
        case 'i':
            a->opt.invariants = true;
            break;
        case 'A':
            a->opt.acks_as_events = true;
            break;
        case 'q':
            a->opt.quiet = true;
            break;
        case 'm':
            a->opt.metrics_dir = optarg;
            break;
        case 'M':
            a->metrics_every = optarg;
            break;
        case 'F':
            a->metrics_format = optarg;
            break;
        case 'r':
            a->report_path = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        default:
            conf_cli_bad_flag(stderr, "p2p-sim run", c, argv, longopts);
            usage(stderr);
            return EXIT_BAD_INPUT;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "p2p-sim run: expected exactly one scenario file\n");
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    a->path = argv[optind];
    int rc = parse_metrics_args(a);
    return rc == EXIT_OK ? check_outputs(a) : rc;
}

/* Scenario features whose simulation later issues add are refused, and
 * so are a fault timeline that cannot happen and a fault or behaviour the
 * network model lacks (the swarm refuses the same). */
static int check_supported(const struct sim_scenario *sc)
{
    return sim_swarm_check(sc, stderr);
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How this program was invoked (argv[0]): a path when it has a slash, a
 * name found in PATH otherwise, so the replay command runs as printed in
 * the directory the user ran it from. */
static const char *prog_name = "p2p-sim";

/* Puts c at buf[*at] when there is room (one byte is kept for the NUL). */
static void put(char *buf, size_t len, size_t *at, char c)
{
    if (*at + 1 < len)
        buf[*at] = c;
    (*at)++;
}

/* Appends word to buf[0..len) at *at, after a space unless first, in single
 * quotes unless every byte is one a POSIX shell takes literally. A command
 * longer than len is cut (the caller's buffer holds any sane path). */
static void append_word(char *buf, size_t len, size_t *at, const char *word)
{
    static const char plain[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        "0123456789_-./=:,+@%";
    bool quote = word[0] == '\0' || strspn(word, plain) != strlen(word);
    if (*at > 0)
        put(buf, len, at, ' ');
    if (quote)
        put(buf, len, at, '\'');
    for (const char *c = word; *c != '\0'; c++) {
        if (*c == '\'') { /* close the quotes, an escaped quote, reopen */
            put(buf, len, at, '\'');
            put(buf, len, at, '\\');
            put(buf, len, at, '\'');
        }
        put(buf, len, at, *c);
    }
    if (quote)
        put(buf, len, at, '\'');
    buf[*at < len ? *at : len - 1] = '\0';
}

/* The command line that replays the run: the program as invoked, the
 * scenario as given, the seed, and --model (another network), --invariants
 * (it can stop a run) and --acks-as-events (another event order) when
 * given. Quoted for a POSIX shell. */
static void replay_command(const struct run_args *a, uint64_t seed, char *buf,
                           size_t len)
{
    size_t at = 0;
    char seed_text[24];
    snprintf(seed_text, sizeof(seed_text), "%" PRIu64, seed);
    buf[0] = '\0';
    append_word(buf, len, &at, prog_name);
    append_word(buf, len, &at, "run");
    append_word(buf, len, &at, a->path);
    append_word(buf, len, &at, "--seed");
    append_word(buf, len, &at, seed_text);
    if (a->has_model) {
        append_word(buf, len, &at, "--model");
        append_word(buf, len, &at, sim_scenario_model_name(a->model));
    }
    if (a->opt.invariants)
        append_word(buf, len, &at, "--invariants");
    if (a->opt.acks_as_events)
        append_word(buf, len, &at, "--acks-as-events");
}

static void print_replay(const struct run_args *a, uint64_t seed, FILE *out)
{
    char cmd[REPLAY_BYTES];
    replay_command(a, seed, cmd, sizeof(cmd));
    fprintf(out, "replay: %s\n", cmd);
}

/* Runs the scenario again to recover the text of trace line `line`. */
static void capture_line(const struct sim_scenario *sc,
                         const struct run_args *a, uint64_t line, char *buf,
                         size_t len)
{
    struct sim_options opt = a->opt;
    opt.quiet = true;
    opt.trace_file = NULL;
    opt.record_hashes = true;
    opt.capture_line = line;
    opt.metrics_dir = NULL;
    struct sim_world w;
    buf[0] = '\0';
    if (sim_run_world(&w, sc, &opt) == 0)
        snprintf(buf, len, "%s",
                 w.trace.found_line[0] ? w.trace.found_line
                                       : "(no such event)");
    sim_run_fini(&w);
}

/* With --metrics, the first run writes them and the second does not, so
 * the check also shows that metrics change nothing. */
static int check_determinism(const struct sim_scenario *sc,
                             const struct run_args *a)
{
    struct sim_world w1, w2;
    struct sim_options opt = a->opt;
    opt.record_hashes = true;
    opt.quiet = true;
    opt.trace_file = NULL;
    struct sim_options opt2 = opt;
    opt2.metrics_dir = NULL;
    int rc1 = sim_run_world(&w1, sc, &opt);
    int rc2 = rc1 == 0 ? sim_run_world(&w2, sc, &opt2) : -1;
    if (rc1 != 0 || rc2 != 0) {
        sim_run_fini(&w1);
        if (rc1 == 0)
            sim_run_fini(&w2);
        return EXIT_BAD_INPUT;
    }
    size_t n = w1.trace.hashes_count < w2.trace.hashes_count
                   ? w1.trace.hashes_count
                   : w2.trace.hashes_count;
    size_t i = 0;
    while (i < n && w1.trace.hashes[i] == w2.trace.hashes[i])
        i++;
    int rc = EXIT_OK;
    if (i == n && w1.trace.hashes_count == w2.trace.hashes_count) {
        printf("deterministic: %zu events, trace hash %016" PRIx64 " in both "
               "runs%s\n",
               n, w1.trace.hash,
               opt.metrics_dir != NULL ? " (the first with --metrics)" : "");
    } else {
        char first[512], second[512];
        capture_line(sc, a, i + 1, first, sizeof(first));
        capture_line(sc, a, i + 1, second, sizeof(second));
        printf("NOT deterministic: runs diverge at event %zu (of %zu and %zu)\n"
               "  run 1: %s\n  run 2: %s\n",
               i + 1, w1.trace.hashes_count, w2.trace.hashes_count, first,
               second);
        print_replay(a, w1.seed, stdout);
        rc = EXIT_EXPECTATION;
    }
    sim_run_fini(&w1);
    sim_run_fini(&w2);
    return rc;
}

/* Set by SIGINT during a run; the run's loop polls it (sim_options). */
static volatile sig_atomic_t sigint_seen;

static void on_sigint(int sig)
{
    (void)sig;
    sigint_seen = 1;
}

/* The first SIGINT stops the run at its next event (the summary and the
 * report follow, marked incomplete); the handler resets, so a second one
 * ends the process at once. */
static void catch_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    (void)sigaction(SIGINT, &sa, NULL);
}

static int cmd_run(int argc, char **argv)
{
    struct run_args a;
    int rc = parse_run_args(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    struct sim_scenario sc;
    struct sim_scenario_error err;
    if (sim_scenario_load_file(a.path, &sc, &err) != 0) {
        char msg[512];
        sim_scenario_error_format(&err, a.path, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        sim_scenario_fini(&sc);
        return EXIT_BAD_INPUT;
    }
    if (a.has_model)
        sc.net.model = a.model; /* before the checks: they depend on it */
    if (check_supported(&sc) != 0) {
        sim_scenario_fini(&sc);
        return EXIT_BAD_INPUT;
    }
    uint64_t seed = a.opt.has_seed ? a.opt.seed : sc.seed;
    fprintf(stderr, "p2p-sim: scenario %s, seed %" PRIu64 "; ", a.path, seed);
    print_replay(&a, seed, stderr);
    if (a.check_determinism) {
        rc = check_determinism(&sc, &a);
        sim_scenario_fini(&sc);
        return rc;
    }
    FILE *trace = NULL;
    if (a.trace_path != NULL) {
        trace =
            strcmp(a.trace_path, "-") == 0 ? stdout : fopen(a.trace_path, "w");
        if (trace == NULL) {
            fprintf(stderr, "p2p-sim: cannot write trace %s: %s\n",
                    a.trace_path, strerror(errno));
            sim_scenario_fini(&sc);
            return EXIT_BAD_INPUT;
        }
    }
    a.opt.trace_file = trace;
    a.opt.series = a.report_path != NULL;
    a.opt.interrupt = &sigint_seen;
    catch_sigint();
    struct sim_world w;
    double t0 = wall_now();
    rc = sim_run_world(&w, &sc, &a.opt);
    double wall = wall_now() - t0;
    if (trace != NULL && trace != stdout && fclose(trace) != 0) {
        fprintf(stderr, "p2p-sim: writing trace %s failed\n", a.trace_path);
        rc = -1;
    }
    if (rc != 0) {
        sim_run_fini(&w);
        sim_scenario_fini(&sc);
        return EXIT_BAD_INPUT;
    }
    struct sim_report_html_data html;
    if (a.report_path != NULL && sim_report_html_prepare(&w, &html) != 0) {
        fprintf(stderr, "p2p-sim: out of memory preparing the report\n");
        a.report_path = NULL;
        rc = -1;
    }
    struct sim_report r;
    sim_report_build(&w, wall, &r);
    /* With the trace on stdout, the summary goes to stderr so the trace
     * can be piped (into `p2p-sim trace -`, say). */
    sim_report_print(&w, &r, a.json, trace == stdout ? stderr : stdout);
    if (a.report_path != NULL) {
        char replay[REPLAY_BYTES];
        replay_command(&a, w.seed, replay, sizeof(replay));
        if (sim_report_html_write(&w, &r, &w.series, &html, a.report_path,
                                  replay, stderr) != 0)
            rc = -1;
        sim_report_html_data_fini(&html);
    }
    if (r.interrupted) {
        fprintf(stderr, "p2p-sim: interrupted at %.1f s of %.1f s; ",
                (double)w.now / 1e9, (double)w.end / 1e9);
        print_replay(&a, w.seed, stderr);
    } else if (!r.ok) {
        fprintf(stderr, "p2p-sim: FAILED with seed %" PRIu64 "; ", w.seed);
        print_replay(&a, w.seed, stderr);
    }
    sim_run_fini(&w);
    sim_scenario_fini(&sc);
    if (rc != 0)
        return EXIT_BAD_INPUT; /* the report could not be written */
    if (r.interrupted)
        return EXIT_INTERRUPTED;
    return r.ok ? EXIT_OK : EXIT_EXPECTATION;
}

/* The simulator allocates and frees the same message and body sizes
 * millions of times. glibc's defaults hand freed heap back to the kernel and
 * mmap every block from 128 KiB up afresh, so each reuse page-faults and
 * the kernel zeroes the pages again (43 % of a 600-node run's time).
 * Keeping that memory in the process removes the churn; it changes nothing
 * the simulation computes. */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
}

int main(int argc, char **argv)
{
    tune_malloc();
    if (argc < 2) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("p2p-sim %s (commit %s)\n", P2P_VERSION, P2P_COMMIT);
        return EXIT_OK;
    }
    prog_name = argv[0] != NULL && argv[0][0] != '\0' ? argv[0] : "p2p-sim";
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "trace") == 0)
        return sim_trace_filter_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "swarm") == 0)
        return sim_swarm_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "shrink") == 0)
        return sim_shrink_main(argc - 1, argv + 1);
    fprintf(stderr, "p2p-sim: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_BAD_INPUT;
}
