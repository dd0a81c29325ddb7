/* p2p-sim swarm: a random scenario per seed (sim/swarm_gen.c), each run
 * with the invariant checker and judged; failing seeds are printed with
 * their replay command and written as scenario files.
 *
 * J worker processes take the seeds i (0-based within the range) with
 * i % J == k; each runs every seed in a child of its own, so a crash or a
 * hang is a result, and sends one fixed-size record per seed through a
 * pipe. The parent prints the records in seed order. Seed ranges are
 * independent, so a fleet shards them with --from/--seeds (docs/swarm.md). */
#include "sim/swarm.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/cli.h"
#include "conf/units.h"
#include "core/assert.h"
#include "core/err.h"
#include "sim/report.h"
#include "sim/swarm_gen.h"
#include "sim/world.h"

#define JOBS_MAX 256u
#define PATH_BYTES 1024u
#define PROGRESS_EVERY_S 10.0
#define SIGNATURE_WORDS 4 /* of an invariant violation */

enum exit_code { EXIT_OK = 0, EXIT_FAILURES = 1, EXIT_BAD_INPUT = 2 };

/* ---- one run ----------------------------------------------------------- */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sim_swarm_check(const struct sim_scenario *sc, FILE *err)
{
    P2P_ASSERT(sc != NULL && err != NULL);
    uint32_t ids =
        sc->node_ids_count > sc->nodes ? sc->node_ids_count : sc->nodes;
    if (ids > SIM_CONN_NODE_IDS_MAX) {
        fprintf(err,
                "%s: %u node ids; the simulator's connection model "
                "supports at most %u\n",
                sc->path ? sc->path : "", ids, SIM_CONN_NODE_IDS_MAX);
        return P2P_ERR_LIMIT;
    }
    char msg[256];
    if (sim_scenario_check_model(sc, msg, sizeof msg) != 0) {
        fprintf(err, "%s: %s\n", sc->path ? sc->path : "", msg);
        return P2P_ERR_INVALID_ARG;
    }
    return sim_faults_check(sc, err);
}

/* "invariants: " and the violation's first words, every word with a digit
 * in it (ids, times, counts) masked, so the signature names the kind of
 * violation and not where it struck. */
static void violation_signature(const char *violation, char *out, size_t len)
{
    size_t used = (size_t)snprintf(out, len, "invariants:");
    const char *p = violation;
    for (int words = 0; words < SIGNATURE_WORDS && *p != '\0' && used < len;
         words++) {
        while (*p == ' ')
            p++;
        const char *end = p;
        bool digit = false;
        while (*end != '\0' && *end != ' ') {
            digit = digit || (*end >= '0' && *end <= '9');
            end++;
        }
        if (end == p)
            break;
        int n = digit ? snprintf(out + used, len - used, " #")
                      : snprintf(out + used, len - used, " %.*s",
                                 (int)(end - p), p);
        used += n > 0 ? (size_t)n : 0;
        p = end;
    }
}

void sim_swarm_run(const struct sim_scenario *sc, const uint64_t *seed,
                   struct sim_swarm_outcome *out)
{
    P2P_ASSERT(sc != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    struct sim_options opt;
    memset(&opt, 0, sizeof opt);
    opt.invariants = true;
    opt.quiet = true;
    opt.has_seed = seed != NULL;
    opt.seed = seed != NULL ? *seed : 0;
    out->seed = seed != NULL ? *seed : sc->seed;
    struct sim_world w;
    double t0 = wall_now();
    int rc = sim_run_world(&w, sc, &opt);
    out->wall_s = wall_now() - t0;
    out->events = w.stats.events;
    if (rc != 0) {
        out->status = SIM_SWARM_ERROR;
        snprintf(out->signature, sizeof out->signature, "error");
        snprintf(out->detail, sizeof out->detail,
                 "the simulator could not run the scenario");
        sim_run_fini(&w);
        return;
    }
    struct sim_report *r = malloc(sizeof *r); /* large: off the stack */
    if (r == NULL) {
        out->status = SIM_SWARM_ERROR;
        snprintf(out->signature, sizeof out->signature, "error");
        snprintf(out->detail, sizeof out->detail, "out of memory");
        sim_run_fini(&w);
        return;
    }
    sim_report_build(&w, out->wall_s, r);
    out->status = r->ok ? SIM_SWARM_OK : SIM_SWARM_FAILED;
    for (size_t i = 0; !r->ok && i < r->expects_count; i++) {
        const struct sim_expect_result *e = &r->expects[i];
        if (e->ok)
            continue;
        if (strcmp(e->name, "invariants") == 0)
            violation_signature(e->detail, out->signature,
                                sizeof out->signature);
        else
            snprintf(out->signature, sizeof out->signature, "%s", e->name);
        /* Bounded so it always fits: a name, then the detail's start. */
        snprintf(out->detail, sizeof out->detail, "%.95s: %.500s", e->name,
                 e->detail);
        break;
    }
    free(r);
    sim_run_fini(&w);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return P2P_ERR_WRITE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes; the number read (less at end of file). */
static size_t read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

int sim_swarm_run_isolated(const struct sim_scenario *sc, const uint64_t *seed,
                           unsigned timeout_s, struct sim_swarm_outcome *out)
{
    P2P_ASSERT(sc != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    out->seed = seed != NULL ? *seed : sc->seed;
    int fds[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) {
        out->status = SIM_SWARM_ERROR;
        snprintf(out->detail, sizeof out->detail, "pipe: %s", strerror(errno));
        return P2P_ERR_LIMIT;
    }
    double t0 = wall_now();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        out->status = SIM_SWARM_ERROR;
        snprintf(out->detail, sizeof out->detail, "fork: %s", strerror(errno));
        return P2P_ERR_LIMIT;
    }
    if (pid == 0) {
        close(fds[0]);
        signal(SIGALRM, SIG_DFL);
        alarm(timeout_s);
        sim_swarm_run(sc, seed, out);
        _exit(write_all(fds[1], out, sizeof *out) == 0 ? 0 : 1);
    }
    close(fds[1]);
    size_t got = read_all(fds[0], out, sizeof *out);
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (got == sizeof *out && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    out->seed = seed != NULL ? *seed : sc->seed;
    out->wall_s = wall_now() - t0;
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
        out->status = SIM_SWARM_TIMEOUT;
        snprintf(out->signature, sizeof out->signature, "timeout");
        snprintf(out->detail, sizeof out->detail,
                 "timeout: still running after %u s of wall time", timeout_s);
    } else if (WIFSIGNALED(st)) {
        out->status = SIM_SWARM_CRASHED;
        snprintf(out->signature, sizeof out->signature, "crashed: %s",
                 strsignal(WTERMSIG(st)));
        snprintf(out->detail, sizeof out->detail,
                 "crashed: signal %d (%s); run the replay command to see "
                 "where",
                 WTERMSIG(st), strsignal(WTERMSIG(st)));
    } else {
        out->status = SIM_SWARM_ERROR;
        snprintf(out->signature, sizeof out->signature, "error");
        snprintf(out->detail, sizeof out->detail,
                 "the run ended without a result (exit status %d)",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    return 0;
}

/* ---- the swarm --------------------------------------------------------- */

struct swarm_args {
    uint64_t seeds, from;
    unsigned jobs, timeout_s;
    const char *out_dir;
    bool stop_after_fail, quiet, verbose, print;
    enum sim_net_model model; /* --model, default message */
};

/* One seed's result, as a worker sends it: one write, so that records
 * from a worker never interleave with its others'. */
struct seed_record {
    struct sim_swarm_outcome o;
    uint32_t nodes;
    uint32_t faults;
};
_Static_assert(sizeof(struct seed_record) <= PIPE_BUF,
               "a record must be written atomically");

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: p2p-sim swarm --seeds N [--from S] [--jobs J] [options]\n"
        "\n"
        "Generates a random scenario for each seed S..S+N-1 (subnet, links,\n"
        "workload, protocol knobs, every fault kind, then a fault-free\n"
        "liveness phase), runs it with the invariant checker and judges it.\n"
        "Prints one line per failing seed with its replay command and writes\n"
        "the scenario to DIR/swarm-SEED.yaml. Exit status: 0 every seed\n"
        "passed, 1 some failed, 2 bad flags. See docs/swarm.md.\n"
        "\n"
        "options:\n"
        "  --seeds N           how many seeds to run (required, >= 1)\n"
        "  --from S            first seed (default 1)\n"
        "  --model M           network model of every scenario: message\n"
        "                      (default) or quic, which adds packet\n"
        "                      reordering, duplication and corruption and\n"
        "                      blackhole and nat_rebind faults\n"
        "  --jobs J            worker processes (default 1, at most %u);\n"
        "                      worker k runs the seeds S+i with i %% J = k\n"
        "  --out DIR           where failing scenarios go (default\n"
        "                      ./swarm-failures, made at the first failure)\n"
        "  --stop-after-fail   stop at the first failing seed (in seed order)\n"
        "  --timeout SECONDS   wall-clock limit per seed (default %u)\n"
        "  --print             print the generated scenarios, run nothing\n"
        "  --verbose           one line for every seed, not only failures\n"
        "  --quiet             no progress lines on stderr\n"
        "  -h, --help          this text\n",
        JOBS_MAX, SIM_SWARM_TIMEOUT_DEFAULT_S);
}

static int bad_flag(const char *flag, const char *value, const char *why)
{
    fprintf(stderr, "p2p-sim swarm: %s: '%s' %s\n", flag, value, why);
    return EXIT_BAD_INPUT;
}

static int parse_args(int argc, char **argv, struct swarm_args *a)
{
    static const struct option longopts[] = {
        {"seeds", required_argument, NULL, 'n'},
        {"from", required_argument, NULL, 'f'},
        {"model", required_argument, NULL, 'm'},
        {"jobs", required_argument, NULL, 'j'},
        {"out", required_argument, NULL, 'o'},
        {"stop-after-fail", no_argument, NULL, 's'},
        {"keep-going", no_argument, NULL, 'k'},
        {"timeout", required_argument, NULL, 't'},
        {"print", no_argument, NULL, 'p'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool have_seeds = false;
    uint64_t v;
    memset(a, 0, sizeof *a);
    a->from = 1;
    a->jobs = 1;
    a->timeout_s = SIM_SWARM_TIMEOUT_DEFAULT_S;
    a->out_dir = "swarm-failures";
    a->model = SIM_MODEL_MESSAGE;
    conf_cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (conf_units_parse_u64(optarg, &a->seeds) != 0 || a->seeds == 0)
                return bad_flag("--seeds", optarg, "is not a positive integer");
            have_seeds = true;
            break;
        case 'f':
            if (conf_units_parse_u64(optarg, &a->from) != 0)
                return bad_flag("--from", optarg,
                                "is not a non-negative integer");
            break;
        case 'm':
            if (sim_scenario_model_parse(optarg, &a->model) != 0)
                return bad_flag("--model", optarg, "is not message or quic");
            break;
        case 'j':
            if (conf_units_parse_u64(optarg, &v) != 0 || v == 0 || v > JOBS_MAX)
                return bad_flag("--jobs", optarg, "is not in 1..256");
            a->jobs = (unsigned)v;
            break;
        case 't':
            if (conf_units_parse_u64(optarg, &v) != 0 || v == 0 || v > 86400)
                return bad_flag("--timeout", optarg, "is not in 1..86400");
            a->timeout_s = (unsigned)v;
            break;
        case 'o':
            a->out_dir = optarg;
            break;
        case 's':
            a->stop_after_fail = true;
            break;
        case 'k':
            a->stop_after_fail = false;
            break;
        case 'p':
            a->print = true;
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        default:
            conf_cli_bad_flag(stderr, "p2p-sim swarm", c, argv, longopts);
            usage(stderr);
            return EXIT_BAD_INPUT;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "p2p-sim swarm: unexpected argument '%s'\n",
                argv[optind]);
        return EXIT_BAD_INPUT;
    }
    if (!have_seeds) {
        fprintf(stderr, "p2p-sim swarm: --seeds N is required\n");
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (a->seeds - 1 > UINT64_MAX - a->from) {
        fprintf(stderr,
                "p2p-sim swarm: --from %" PRIu64 " --seeds %" PRIu64
                " runs past the last seed (2^64-1)\n",
                a->from, a->seeds);
        return EXIT_BAD_INPUT;
    }
    if (a->jobs > a->seeds)
        a->jobs = (unsigned)a->seeds;
    return EXIT_OK;
}

static void failure_path(const struct swarm_args *a, uint64_t seed, char *buf,
                         size_t len)
{
    snprintf(buf, len, "%s/swarm-%" PRIu64 ".yaml", a->out_dir, seed);
}

/* Writes the failing seed's scenario, with what failed on top. */
static void write_failure(const struct swarm_args *a, const char *text,
                          const struct sim_swarm_outcome *o)
{
    char path[PATH_BYTES], msg[512];
    if (sim_metrics_out_mkdir(a->out_dir, msg, sizeof msg) != 0) {
        fprintf(stderr, "p2p-sim swarm: --out: %s\n", msg);
        return;
    }
    failure_path(a, o->seed, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "p2p-sim swarm: cannot write %s: %s\n", path,
                strerror(errno));
        return;
    }
    fprintf(f, "# FAILED: ");
    for (const char *p = o->detail; *p; p++)
        fputc(*p == '\n' ? ' ' : *p, f);
    fprintf(f, "\n# replay: p2p-sim run %s\n", path);
    fputs(text, f);
    if (fclose(f) != 0)
        fprintf(stderr, "p2p-sim swarm: writing %s failed\n", path);
}

/* Newlines (from messages printed for a file) become spaces; trailing
 * ones go. */
static void one_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    for (char *p = text; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

/* Generates, checks and runs one seed. */
static void run_seed(const struct swarm_args *a, uint64_t seed,
                     struct seed_record *rec)
{
    char *text = NULL, path[PATH_BYTES];
    size_t len = 0;
    struct sim_scenario sc;
    struct sim_scenario_error err;
    memset(rec, 0, sizeof *rec);
    rec->o.seed = seed;
    failure_path(a, seed, path, sizeof path);
    if (sim_swarm_gen_scenario(seed, a->model, &text, &len) != 0) {
        rec->o.status = SIM_SWARM_ERROR;
        snprintf(rec->o.detail, sizeof rec->o.detail, "out of memory");
        return;
    }
    if (sim_scenario_load_string(text, len, path, &sc, &err) != 0) {
        rec->o.status = SIM_SWARM_REFUSED;
        sim_scenario_error_format(&err, path, rec->o.detail,
                                  sizeof rec->o.detail);
    } else {
        rec->nodes = sc.nodes;
        rec->faults = (uint32_t)sc.faults_count;
        char *msg = NULL;
        size_t msg_len = 0;
        FILE *m = open_memstream(&msg, &msg_len);
        int check = m != NULL ? sim_swarm_check(&sc, m) : P2P_ERR_NOMEM;
        if (m != NULL)
            fclose(m);
        if (check != 0) {
            rec->o.status = SIM_SWARM_REFUSED;
            snprintf(rec->o.detail, sizeof rec->o.detail,
                     "refused (a generator bug): %s", msg ? msg : "");
        } else {
            sim_swarm_run_isolated(&sc, NULL, a->timeout_s, &rec->o);
        }
        free(msg);
        sim_scenario_fini(&sc);
    }
    if (rec->o.status == SIM_SWARM_REFUSED)
        snprintf(rec->o.signature, sizeof rec->o.signature, "refused");
    one_line(rec->o.detail);
    if (rec->o.status != SIM_SWARM_OK)
        write_failure(a, text, &rec->o);
    free(text);
}

static void worker(const struct swarm_args *a, unsigned k, int fd)
{
    for (uint64_t i = k; i < a->seeds; i += a->jobs) {
        struct seed_record rec;
        run_seed(a, a->from + i, &rec);
        if (write_all(fd, &rec, sizeof rec) != 0)
            break; /* the parent stopped listening */
    }
}

static int print_scenarios(const struct swarm_args *a)
{
    for (uint64_t i = 0; i < a->seeds; i++) {
        char *text = NULL;
        size_t len = 0;
        if (sim_swarm_gen_scenario(a->from + i, a->model, &text, &len) != 0) {
            fprintf(stderr, "p2p-sim swarm: out of memory\n");
            return EXIT_BAD_INPUT;
        }
        fwrite(text, 1, len, stdout);
        if (i + 1 < a->seeds)
            fputs("---\n", stdout);
        free(text);
    }
    return EXIT_OK;
}

struct swarm_state {
    const struct swarm_args *a;
    struct seed_record *recs; /* owned; one per seed */
    bool *have;               /* owned */
    uint64_t next;            /* first seed index not yet printed */
    uint64_t done, failed;
    double run_s; /* the seeds' own wall time, summed */
    bool stop;    /* --stop-after-fail hit */
};

/* Prints every record that is next in seed order; with `flush`, past the
 * seeds that gave no result too (a worker died). */
static void print_ready(struct swarm_state *s, bool flush)
{
    const struct swarm_args *a = s->a;
    while (!s->stop && s->next < a->seeds && (s->have[s->next] || flush)) {
        if (!s->have[s->next]) {
            s->next++;
            continue;
        }
        const struct seed_record *r = &s->recs[s->next++];
        char path[PATH_BYTES];
        s->done++;
        s->run_s += r->o.wall_s;
        if (r->o.status == SIM_SWARM_OK) {
            if (a->verbose)
                printf("ok   seed=%" PRIu64 " nodes=%u faults=%u %.2fs\n",
                       r->o.seed, r->nodes, r->faults, r->o.wall_s);
            continue;
        }
        s->failed++;
        failure_path(a, r->o.seed, path, sizeof path);
        printf("FAIL seed=%" PRIu64 " %s replay: p2p-sim run %s\n", r->o.seed,
               r->o.detail, path);
        fflush(stdout);
        s->stop = a->stop_after_fail;
    }
}

/* Reads the workers' records until every pipe is closed (or, after a
 * failure with --stop-after-fail, stops them). */
static void gather(struct swarm_state *s, const int *fds, const pid_t *pids)
{
    const struct swarm_args *a = s->a;
    struct pollfd p[JOBS_MAX];
    unsigned open = a->jobs;
    for (unsigned k = 0; k < a->jobs; k++)
        p[k] = (struct pollfd){.fd = fds[k], .events = POLLIN};
    double t0 = wall_now(), last = t0;
    while (open > 0 && !s->stop) {
        int n = poll(p, a->jobs, 1000);
        if (n < 0 && errno != EINTR)
            break;
        for (unsigned k = 0; n > 0 && k < a->jobs; k++) {
            if (p[k].fd < 0 || p[k].revents == 0)
                continue;
            struct seed_record rec;
            if (read_all(p[k].fd, &rec, sizeof rec) != sizeof rec) {
                close(p[k].fd);
                p[k].fd = -1;
                open--;
                continue;
            }
            uint64_t i = rec.o.seed - a->from;
            if (i < a->seeds) {
                s->recs[i] = rec;
                s->have[i] = true;
            }
        }
        print_ready(s, false);
        double now = wall_now();
        if (!a->quiet && now - last >= PROGRESS_EVERY_S) {
            last = now;
            fprintf(stderr,
                    "swarm: %" PRIu64 " of %" PRIu64 " seeds done, %" PRIu64
                    " failed, %.0f s\n",
                    s->done, a->seeds, s->failed, now - t0);
        }
    }
    for (unsigned k = 0; k < a->jobs; k++) {
        if (p[k].fd >= 0) {
            kill(-pids[k], SIGTERM); /* the worker's group: it and its run */
            close(p[k].fd);
        }
    }
    print_ready(s, true);
}

/* Forks a.jobs workers, each in a process group of its own (so that it
 * and its current run can be stopped together), reading end of its pipe
 * in fds[k]. Returns how many started. */
static unsigned start_workers(const struct swarm_args *a, int *fds, pid_t *pids)
{
    unsigned started = 0;
    fflush(stdout);
    fflush(stderr);
    for (; started < a->jobs; started++) {
        int pfd[2];
        if (pipe(pfd) != 0)
            break;
        pid_t pid = fork();
        if (pid < 0) {
            close(pfd[0]);
            close(pfd[1]);
            break;
        }
        if (pid == 0) {
            setpgid(0, 0);
            signal(SIGPIPE, SIG_IGN);
            for (unsigned k = 0; k < started; k++)
                close(fds[k]);
            close(pfd[0]);
            worker(a, started, pfd[1]);
            close(pfd[1]);
            _exit(0);
        }
        setpgid(pid, pid);
        close(pfd[1]);
        fds[started] = pfd[0];
        pids[started] = pid;
    }
    return started;
}

static void print_summary(const struct swarm_state *s, double wall)
{
    const struct swarm_args *a = s->a;
    if (s->done < a->seeds && !s->stop)
        fprintf(stderr,
                "p2p-sim swarm: %" PRIu64 " seeds gave no result "
                "(a worker died)\n",
                a->seeds - s->done);
    printf("swarm: %" PRIu64 " of %" PRIu64 " seeds run (%" PRIu64 "..%" PRIu64
           "), %" PRIu64 " failed; %.1f s wall with %u job%s: %.1f "
           "seeds/minute, %.2f s per seed on one core\n",
           s->done, a->seeds, a->from, a->from + a->seeds - 1, s->failed, wall,
           a->jobs, a->jobs == 1 ? "" : "s",
           wall > 0 ? (double)s->done * 60.0 / wall : 0,
           s->done ? s->run_s / (double)s->done : 0.0);
}

int sim_swarm_main(int argc, char **argv)
{
    struct swarm_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    if (a.print)
        return print_scenarios(&a);
    struct swarm_state s = {.a = &a};
    s.recs = calloc(a.seeds, sizeof *s.recs);
    s.have = calloc(a.seeds, sizeof *s.have);
    int fds[JOBS_MAX];
    pid_t pids[JOBS_MAX];
    double t0 = wall_now();
    unsigned started = 0;
    if (s.recs == NULL || s.have == NULL) {
        fprintf(stderr,
                "p2p-sim swarm: out of memory for %" PRIu64
                " seeds (run fewer per call)\n",
                a.seeds);
        rc = EXIT_BAD_INPUT;
        goto fail_free_state;
    }
    started = start_workers(&a, fds, pids);
    if (started < a.jobs) {
        fprintf(stderr,
                "p2p-sim swarm: could only start %u of %u workers: "
                "%s\n",
                started, a.jobs, strerror(errno));
        for (unsigned k = 0; k < started; k++) {
            kill(-pids[k], SIGTERM);
            close(fds[k]);
            waitpid(pids[k], NULL, 0);
        }
        rc = EXIT_BAD_INPUT;
        goto fail_free_state;
    }
    gather(&s, fds, pids);
    for (unsigned k = 0; k < a.jobs; k++)
        while (waitpid(pids[k], NULL, 0) < 0 && errno == EINTR)
            ;
    print_summary(&s, wall_now() - t0);
    rc = s.failed == 0 && s.done == a.seeds ? EXIT_OK : EXIT_FAILURES;
fail_free_state:
    free(s.recs);
    free(s.have);
    return rc;
}
