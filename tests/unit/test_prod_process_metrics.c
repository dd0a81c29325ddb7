/* Unit tests for prod/process_metrics and prod/build_info: /proc/PID/stat
 * parsing (command names with spaces and parentheses, every malformed
 * shape), the exact text of p2p_build_info and the process_* families
 * (seconds at their decimal boundaries, escaped labels, a too-small
 * buffer), the configured limits, this process's values against what the kernel says by other
 * means (opened descriptors counted, RLIMIT_NOFILE, boot time, RSS), and
 * promtool's verdict on the text (skipped with a notice when promtool is
 * not installed). */
#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "p2p_version.h"
#include "prod/build_info.h"
#include "prod/process_metrics.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- /proc/PID/stat ---- */

/* A real line (Linux 6.1), fields 1-52. */
#define STAT_TAIL                                                             \
    " S 1 4242 4242 0 -1 4194560 2405 0 0 0 171 42 0 0 20 0 3 0 "         \
    "98765 1234567168 3210 18446744073709551615 1 1 0 0 0 0 0 4096 "        \
    "0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

START_TEST(stat_parse_fields)
{
    static const char *const lines[] = {
        "4242 (p2p-replica)" STAT_TAIL,
        /* A command name may hold anything: count from its last ')'. */
        "4242 (a) b (c) d)" STAT_TAIL,
        "4242 ( )" STAT_TAIL,
    };
    for (int i = 0; i < COUNT(lines); i++) {
        struct prod_proc_stat st;
        ck_assert_int_eq(
            prod_process_metrics_stat_parse(lines[i], strlen(lines[i]), &st),
            0);
        ck_assert_uint_eq(st.utime_ticks, 171);
        ck_assert_uint_eq(st.stime_ticks, 42);
        ck_assert_uint_eq(st.start_ticks, 98765);
        ck_assert_uint_eq(st.vsize_bytes, 1234567168u);
        ck_assert_uint_eq(st.rss_pages, 3210);
    }
}
END_TEST

/* The text ends right after rss (field 24): enough; one field less is
 * not. No NUL is needed after the text. */
START_TEST(stat_parse_ends_at_rss)
{
    const char *full = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 "
                       "9 100 5 18446744073709551615";
    size_t cut = strlen(full) - strlen(" 18446744073709551615");
    struct prod_proc_stat st;
    ck_assert_int_eq(prod_process_metrics_stat_parse(full, cut, &st), 0);
    ck_assert_uint_eq(st.rss_pages, 5);
    ck_assert_uint_eq(st.utime_ticks + st.stime_ticks, 15);
    /* Without rss: the text ends after vsize's space, or at vsize. */
    ck_assert_int_eq(prod_process_metrics_stat_parse(full, cut - 1, &st),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(prod_process_metrics_stat_parse(full, cut - 2, &st),
                     P2P_ERR_DECODE);
}
END_TEST

static const char *const bad_stats[] = {
    "",
    "4242",
    "4242 (p2p-replica",                        /* no ')' */
    "4242 (p2p-replica)",                       /* nothing after it */
    "4242 (p2p-replica)S 1 2",                  /* no space after it */
    "4242 (x) S 1 2 3",                         /* too few fields */
    "4242 (x) S 1 4242 4242 0 -1 4194560 2405 0 0 0 1x1 42 0 0 20 0 3 0 "
    "98765 1 2\n",                              /* utime not a number */
    "4242 (x) S 1 4242 4242 0 -1 4194560 2405 0 0 0 171 42 0 0 20 0 3 0 "
    "99999999999999999999 1 2\n",               /* start overflows */
    "4242 (x) S 1 4242 4242 0 -1 4194560 2405 0 0 0  171 42 0 0 20 0 3 0 "
    "98765 1 2\n",                              /* an empty field */
};

START_TEST(stat_parse_refuses)
{
    struct prod_proc_stat st;
    const char *s = bad_stats[_i];
    ck_assert_msg(prod_process_metrics_stat_parse(s, strlen(s), &st) ==
                      P2P_ERR_DECODE,
                  "accepted: %s", s);
}
END_TEST

/* ---- the text ---- */

static const struct prod_build_info INFO = {
    .version = "0.6.0", .commit = "0123456789ab", .ngtcp2 = "0.12.1",
    .gnutls = "3.7.9", .microhttpd = "0.9.75", .libev = "4.33"};

static char *write_text(const struct prod_build_info *b,
                        const struct prod_process_stats *s, size_t cap,
                        size_t *len, int *rc)
{
    char *buf = malloc(cap ? cap : 1);
    ck_assert_ptr_nonnull(buf);
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, cap ? buf : NULL, cap);
    prod_process_metrics_write(&t, b, s);
    *rc = p2p_metrics_text_finish(&t, len);
    return buf;
}

START_TEST(text_exact)
{
    struct prod_process_stats s = {
        .cpu_ms = 1230, .resident_bytes = 13148160, .virtual_bytes = 1234567168,
        .start_time_ms = 1700000000120, .open_fds = 17, .max_fds = 65536};
    size_t len;
    int rc;
    char *text = write_text(&INFO, &s, 4096, &len, &rc);
    ck_assert_int_eq(rc, 0);
    const char *want =
        "# HELP p2p_build_info Always 1: the replica's version, the git "
        "commit it was built from, and the versions of ngtcp2 and GnuTLS it "
        "runs with.\n"
        "# TYPE p2p_build_info gauge\n"
        "p2p_build_info{version=\"0.6.0\",commit=\"0123456789ab\","
        "ngtcp2=\"0.12.1\",gnutls=\"3.7.9\"} 1\n"
        "# HELP process_cpu_seconds_total Total user and system CPU time "
        "spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 1.23\n"
        "# HELP process_open_fds Number of open file descriptors.\n"
        "# TYPE process_open_fds gauge\n"
        "process_open_fds 17\n"
        "# HELP process_max_fds Maximum number of open file descriptors.\n"
        "# TYPE process_max_fds gauge\n"
        "process_max_fds 65536\n"
        "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
        "# TYPE process_virtual_memory_bytes gauge\n"
        "process_virtual_memory_bytes 1234567168\n"
        "# HELP process_resident_memory_bytes Resident memory size in "
        "bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes 13148160\n"
        "# HELP process_start_time_seconds Start time of the process since "
        "unix epoch in seconds.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 1700000000.12\n";
    ck_assert_str_eq(text, want);
    ck_assert_uint_eq(len, strlen(want));
    free(text);
}
END_TEST

/* Milliseconds as seconds: no trailing zeros, no point for whole ones. */
static const struct {
    uint64_t ms;
    const char *text;
} SECONDS[] = {
    {0, "0"}, {1, "0.001"}, {10, "0.01"}, {100, "0.1"}, {999, "0.999"},
    {1000, "1"}, {1001, "1.001"}, {1010, "1.01"}, {1500, "1.5"},
    {UINT64_MAX, "18446744073709551.615"},
};

START_TEST(text_seconds)
{
    struct prod_process_stats s = {.cpu_ms = SECONDS[_i].ms};
    size_t len;
    int rc;
    char *text = write_text(&INFO, &s, 4096, &len, &rc);
    ck_assert_int_eq(rc, 0);
    char want[64];
    snprintf(want, sizeof(want), "\nprocess_cpu_seconds_total %s\n",
             SECONDS[_i].text);
    ck_assert_msg(strstr(text, want) != NULL, "want %s in %s", want, text);
    free(text);
}
END_TEST

/* Labels are escaped; without process values only p2p_build_info;
 * without build info only the process values. */
START_TEST(text_escaped_no_process)
{
    struct prod_build_info b = INFO;
    b.commit = "a\"b\\c\nd";
    size_t len;
    int rc;
    char *text = write_text(&b, NULL, 4096, &len, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(text, ",commit=\"a\\\"b\\\\c\\nd\","));
    ck_assert_ptr_null(strstr(text, "process_"));
    free(text);
    struct prod_process_stats ps = {.open_fds = 3};
    text = write_text(NULL, &ps, 4096, &len, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_null(strstr(text, "p2p_build_info"));
    ck_assert_ptr_nonnull(strstr(text, "\nprocess_open_fds 3\n"));
    free(text);
}
END_TEST

/* A buffer one byte short reports the size needed; that size (plus the
 * NUL) gives the whole text. */
START_TEST(text_too_small)
{
    struct prod_process_stats s = {.cpu_ms = 5, .max_fds = 1024};
    size_t need, len;
    int rc;
    free(write_text(&INFO, &s, 0, &need, &rc));
    ck_assert_int_eq(rc, P2P_ERR_LIMIT);
    free(write_text(&INFO, &s, need - 1, &len, &rc));
    ck_assert_int_eq(rc, P2P_ERR_LIMIT);
    ck_assert_uint_eq(len, need);
    char *text = write_text(&INFO, &s, need, &len, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(len, need);
    free(text);
    text = write_text(&INFO, &s, need + 1, &len, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(strlen(text), need);
    free(text);
}
END_TEST

/* ---- this process ---- */

/* The boot's wall-clock time from /proc/stat (btime), in seconds. */
static uint64_t boot_time_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    unsigned long long btime = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    ck_assert_uint_gt(btime, 0);
    return btime;
}

START_TEST(self_values)
{
    struct prod_process_stats a, b;
    ck_assert_int_eq(prod_process_metrics_stats_read(&a), 0);
    /* Descriptors: exactly the ones opened in between are counted. */
    int fds[5];
    for (int i = 0; i < COUNT(fds); i++) {
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fds[i], 0);
    }
    ck_assert_int_eq(prod_process_metrics_stats_read(&b), 0);
    ck_assert_uint_eq(b.open_fds, a.open_fds + COUNT(fds));
    for (int i = 0; i < COUNT(fds); i++)
        close(fds[i]);
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_eq(b.max_fds, (uint64_t)rl.rlim_cur);
    ck_assert_uint_le(b.open_fds, b.max_fds);
    /* Memory: some resident, no more than mapped. */
    ck_assert_uint_gt(b.resident_bytes, 0);
    ck_assert_uint_ge(b.virtual_bytes, b.resident_bytes);
    /* CPU time never goes back. */
    ck_assert_uint_ge(b.cpu_ms, a.cpu_ms);
    /* Started after the boot (btime: whole seconds) and not after now;
     * the same start both times, to the tick. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    ck_assert_uint_ge(b.start_time_ms + 1000, boot_time_s() * 1000);
    ck_assert_uint_le(b.start_time_ms, now_ms);
    uint64_t d = a.start_time_ms > b.start_time_ms
                     ? a.start_time_ms - b.start_time_ms
                     : b.start_time_ms - a.start_time_ms;
    ck_assert_uint_le(d, 10);
}
END_TEST

/* build info: the generated header's version and commit, libraries that
 * name themselves. */
START_TEST(build_info_values)
{
    struct prod_build_info b;
    prod_build_info_get(&b);
    ck_assert_str_eq(b.version, P2P_VERSION);
    ck_assert_str_eq(b.commit, P2P_COMMIT);
    ck_assert_str_ne(b.ngtcp2, "unknown");
    ck_assert_str_ne(b.gnutls, "unknown");
    ck_assert_str_ne(b.microhttpd, "unknown");
    ck_assert_uint_ge(strlen(b.libev), 3);
    /* The version is major.minor.patch, as CMake's project() has it. */
    unsigned maj, min, pat;
    char end;
    ck_assert_int_eq(sscanf(b.version, "%u.%u.%u%c", &maj, &min, &pat, &end),
                     3);
}
END_TEST

/* ---- promtool ---- */

static bool have_promtool(void)
{
    return system("command -v promtool >/dev/null 2>&1") == 0;
}

/* promtool check metrics: exit 0 means parseable and lint-clean. */
static void assert_promtool_clean(const char *text, size_t len)
{
    char in[] = "/tmp/test_prod_process_metrics_XXXXXX";
    int fd = mkstemp(in);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    char cmd[256], out[4096] = "";
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", in);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    unlink(in);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promtool: %s", out);
}

/* Every limit, in the config's order, with the config's values. */
START_TEST(limits_text)
{
    struct prod_config *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    prod_config_default(c);
    c->pool_bytes_max = 1u << 30;
    c->pool_artifacts_max = 0; /* zeroes are written too */
    char buf[2048];
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, buf, sizeof(buf));
    prod_process_metrics_write_limits(&t, c);
    size_t len;
    ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
    const char *samples = strstr(buf, "\np2p_replica_limit{");
    ck_assert_ptr_nonnull(samples);
    char want[1024];
    snprintf(want, sizeof(want),
             "\np2p_replica_limit{limit=\"artifact_bytes\"} %llu\n"
             "p2p_replica_limit{limit=\"pool_bytes\"} 1073741824\n"
             "p2p_replica_limit{limit=\"pool_artifacts\"} 0\n"
             "p2p_replica_limit{limit=\"streams\"} %u\n"
             "p2p_replica_limit{limit=\"streams_per_peer\"} %u\n"
             "p2p_replica_limit{limit=\"state_bytes\"} %llu\n"
             "p2p_replica_limit{limit=\"admin_body\"} %llu\n"
             "p2p_replica_limit{limit=\"admin_buffer\"} %llu\n",
             (unsigned long long)c->artifact_bytes_max, c->streams_max,
             c->streams_per_peer_max, (unsigned long long)c->state_bytes_max,
             (unsigned long long)c->admin_body_bytes_max,
             (unsigned long long)c->admin_buffered_bytes_max);
    ck_assert_str_eq(samples, want);
    free(c);
}
END_TEST

START_TEST(self_text_promtool)
{
    size_t cap = 8192, len;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    struct prod_config *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    prod_config_default(c);
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, buf, cap);
    prod_process_metrics_write_self(&t, c);
    free(c);
    ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
    char want[128];
    snprintf(want, sizeof(want), "p2p_build_info{version=\"%s\",commit=\"%s\",",
             P2P_VERSION, P2P_COMMIT);
    ck_assert_ptr_nonnull(strstr(buf, want));
    ck_assert_ptr_nonnull(strstr(buf, "\nprocess_start_time_seconds "));
    ck_assert_ptr_nonnull(strstr(buf, "\np2p_replica_limit{limit=\"pool_bytes\"} "));
    if (!have_promtool())
        printf("NOTICE: promtool not found (Debian package prometheus); "
               "text not checked by it\n");
    else
        assert_promtool_clean(buf, len);
    free(buf);
}
END_TEST

static Suite *process_metrics_suite(void)
{
    Suite *s = suite_create("prod_process_metrics");
    TCase *tc = tcase_create("process_metrics");
    tcase_add_test(tc, stat_parse_fields);
    tcase_add_test(tc, stat_parse_ends_at_rss);
    tcase_add_loop_test(tc, stat_parse_refuses, 0, COUNT(bad_stats));
    tcase_add_test(tc, text_exact);
    tcase_add_loop_test(tc, text_seconds, 0, COUNT(SECONDS));
    tcase_add_test(tc, text_escaped_no_process);
    tcase_add_test(tc, text_too_small);
    tcase_add_test(tc, self_values);
    tcase_add_test(tc, build_info_values);
    tcase_add_test(tc, limits_text);
    tcase_add_test(tc, self_text_promtool);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(process_metrics_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
