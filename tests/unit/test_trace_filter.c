/* Unit tests for sim/trace_filter: which lines each option keeps (table of
 * arguments, line, verdict), bad options and malformed lines each with the
 * message they must fail with, and the stream: byte-exact output, FILE:LINE
 * in errors, and every limit tested at the limit and one past it. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/trace_filter.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ARGS_MAX 16

/* A command line split at spaces into argv (the strings are copies, since
 * getopt may permute them). */
struct args {
    char text[512];
    char *argv[ARGS_MAX];
    int argc;
};

static void args_split(struct args *a, const char *cmd)
{
    ck_assert_uint_lt(strlen(cmd), sizeof(a->text));
    strcpy(a->text, cmd);
    a->argc = 0;
    for (char *tok = strtok(a->text, " "); tok; tok = strtok(NULL, " ")) {
        ck_assert_int_lt(a->argc, ARGS_MAX);
        a->argv[a->argc++] = tok;
    }
}

static int parse(const char *cmd, struct sim_trace_filter_args *out,
                 char *msg, size_t msg_len)
{
    /* Static: the parsed args point into these strings, and callers read
     * them after we return (until the next parse). */
    static struct args a;
    args_split(&a, cmd);
    return sim_trace_filter_parse_args(a.argc, a.argv, out, msg, msg_len);
}

/* ---- which lines each option keeps ------------------------------------- */

struct keep_case {
    const char *cmd;  /* "trace ... F" */
    const char *line; /* a well-formed trace line */
    bool keep;
};

#define SEND "10.000000000 n3 send peer=5 stream=7 advert bytes=61"
#define DELIVER "10.250000000 n4 deliver peer=3 id=6a667fa59823574f bytes=1024 latency_us=7"
#define BACKOFF "2.000000001 n7 download_backoff peer=-1 id=f8fb8bd40d076df9 value=6"
#define LOSS "50.000000000 n0 loss_start rate_ppm=300000"

static const struct keep_case keep_cases[] = {
    {"trace F", SEND, true},
    {"trace F", "# any header text", true},
    {"trace --node 4 F", "# headers pass every filter", true},
    /* --node: "3" or "n3", repeated or a comma list */
    {"trace --node 3 F", SEND, true},
    {"trace --node n3 F", SEND, true},
    {"trace --node 4 F", SEND, false},
    {"trace --node 1,3 F", SEND, true},
    {"trace --node 1 --node 3 F", SEND, true},
    {"trace --node 33 F", SEND, false},
    /* --peer: lines without peer= never match; -1 matches "no peer" */
    {"trace --peer 5 F", SEND, true},
    {"trace --peer n5 F", SEND, true},
    {"trace --peer 3 F", SEND, false},
    {"trace --peer 0 F", LOSS, false},
    {"trace --peer -1 F", BACKOFF, true},
    {"trace --peer=-1 F", SEND, false},
    /* --kind: whole words only (a cut-short word is refused: test_bad_args) */
    {"trace --kind send F", SEND, true},
    {"trace --kind download_wait F", BACKOFF, false},
    {"trace --kind recv,send F", SEND, true},
    {"trace --kind deliver F", SEND, false},
    /* --artifact: a prefix of id=, any case; no id= never matches */
    {"trace --artifact 6a66 F", DELIVER, true},
    {"trace --artifact 6A667FA5 F", DELIVER, true},
    {"trace --artifact 6a667fa59823574f F", DELIVER, true},
    {"trace --artifact 6a67 F", DELIVER, false},
    {"trace --artifact 6a66 F", SEND, false},
    {"trace --artifact 0000,f8fb F", BACKOFF, true},
    /* a whole SHA-256 is compared on the trace's 16 digits */
    {"trace --artifact 6a667fa59823574f0123456789abcdef0123456789abcdef0123456789abcdef F",
     DELIVER, true},
    {"trace --artifact 6a667fa59823574e0123456789abcdef F", DELIVER, false},
    {"trace --artifact 6a66 F", "1.000000000 n0 x id=6A667FA59823574F", true},
    {"trace --artifact 6a66 F", "1.000000000 n0 x id=6a6", false},
    /* --from T keeps t >= T; --to T keeps t < T (both sides of each) */
    {"trace --from 10s F", SEND, true},
    {"trace --from 10000000001ns F", SEND, false},
    {"trace --from 9999999999ns F", SEND, true},
    {"trace --to 10s F", SEND, false},
    {"trace --to 10000000001ns F", SEND, true},
    {"trace --from 2s --to 2.000000002s F", BACKOFF, true},
    {"trace --from 2.000000002s --to 3s F", BACKOFF, false},
    {"trace --from 0 F", "0.000000000 n0 dial peer=1", true},
    {"trace --from 10.25s --to 10251ms F", DELIVER, true},
    {"trace --to 1h F", LOSS, true},
    /* filters combine with AND */
    {"trace --node 4 --peer 3 --artifact 6a66 --kind deliver --from 10s F",
     DELIVER, true},
    {"trace --node 4 --peer 3 --artifact 6a66 --kind deliver --to 10s F",
     DELIVER, false},
    {"trace --node 4 --peer 5 F", DELIVER, false},
    /* options after FILE (getopt permutes) and abbreviations */
    {"trace F --node 3", SEND, true},
    {"trace F --art 6a66", DELIVER, true},
    /* bare words and unknown keys do not disturb the line */
    {"trace --peer 6 F", "15.000000000 n0 conn_lost peer=6 idle timeout", true},
    {"trace --node 1 F", "5.000000000 n1 skew offset_ns=-3000000000", true},
    {"trace --node 1 F", "1.000000000 n1 new_kind a=1 b==2 c", true},
    {"trace --node 1 F", "18446744073.709551615 n1 end", true},
    {"trace --node 4294967295 F", "1.000000000 n4294967295 x", true},
};

START_TEST(test_keep)
{
    const struct keep_case *c = &keep_cases[_i];
    struct sim_trace_filter_args a;
    char msg[256] = "";
    bool keep = !c->keep;
    ck_assert_msg(parse(c->cmd, &a, msg, sizeof(msg)) == 0, "%s: %s", c->cmd,
                  msg);
    ck_assert_str_eq(a.path, "F");
    ck_assert(!a.help);
    ck_assert_msg(sim_trace_filter_match_line(&a.filter, c->line,
                                              strlen(c->line), &keep, msg,
                                              sizeof(msg)) == 0,
                  "%s: %s", c->line, msg);
    ck_assert_msg(keep == c->keep, "'%s' on '%s': kept %d", c->cmd, c->line,
                  keep);
}
END_TEST

START_TEST(test_help)
{
    struct sim_trace_filter_args a;
    char msg[256];
    ck_assert_int_eq(parse("trace --help", &a, msg, sizeof(msg)), 0);
    ck_assert(a.help);
    ck_assert_int_eq(parse("trace F --node 3 -h", &a, msg, sizeof(msg)), 0);
    ck_assert(a.help);
}
END_TEST

/* ---- bad options ------------------------------------------------------- */

struct bad_case {
    const char *in;  /* a command line, or a trace line */
    const char *msg; /* substring of the error message */
};

static const struct bad_case bad_args[] = {
    {"trace", "expected one trace FILE"},
    {"trace F G", "got 2"},
    {"trace F --bogus", "unknown option '--bogus'"},
    {"trace F -x", "unknown option '-x'"},
    {"trace F --node", "option '--node' needs a value"},
    {"trace F --node x", "--node: 'x' is not a node id"},
    {"trace F --node -1", "--node: '-1' is not a node id"},
    {"trace F --node 4294967296", "--node: '4294967296' is not a node id"},
    {"trace F --node 3,", "--node: empty value in '3,'"},
    {"trace F --node ,3", "--node: empty value"},
    {"trace F --peer -2", "--peer: '-2' is not a node id"},
    {"trace F --kind a=b", "--kind: 'a=b' is not an event kind"},
    {"trace F --kind 012345678901234567890123456789012", "is not an event kind"},
    /* an unknown kind names the nearest known one */
    {"trace F --kind sen", "--kind: 'sen' is not an event kind; did you mean 'send'?"},
    {"trace F --kind delivr", "did you mean 'deliver'?"},
    {"trace F --kind send,conn_lots", "'conn_lots' is not an event kind; did you mean 'conn_lost'?"},
    {"trace F --kind downlaod_backof", "did you mean 'download_backoff'?"},
    {"trace F --kind Crash", "did you mean 'crash'?"},
    {"trace F --kind state_sync", "did you mean 'state_sync_start'?"},
    {"trace F --artifact 6a6", "--artifact: '6a6' is not an artifact id prefix"},
    {"trace F --artifact 6a6g", "is not an artifact id prefix"},
    {"trace F --artifact "
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
     "is not an artifact id prefix (4 to 64 hex digits)"},
    {"trace F --from 10", "--from: missing unit in '10'"},
    {"trace F --from -1s", "--from: negative duration"},
    {"trace F --to 1.5ns", "--to: '1.5ns' is not a whole number"},
    {"trace F --from 1s --from 2s", "--from given twice"},
    {"trace F --to 1s --to 2s", "--to given twice"},
    {"trace F --from 10s --to 5s", "--to 5s is not after --from 10s"},
    {"trace F --from 10s --to 10s", "--to 10s is not after --from 10s"},
    {"trace F --to 0", "--to 0s is not after --from 0s"},
};

START_TEST(test_bad_args)
{
    const struct bad_case *c = &bad_args[_i];
    struct sim_trace_filter_args a;
    char msg[256] = "";
    ck_assert_msg(parse(c->in, &a, msg, sizeof(msg)) == P2P_ERR_DECODE,
                  "%s: accepted", c->in);
    ck_assert_msg(strstr(msg, c->msg) != NULL, "%s: said '%s', want '%s'",
                  c->in, msg, c->msg);
}
END_TEST

/* SIM_TRACE_FILTER_VALUES_MAX values are fine, one more is an error. */
START_TEST(test_values_limit)
{
    char cmd[512] = "trace F --node 0";
    struct sim_trace_filter_args a;
    char msg[256] = "";
    for (unsigned i = 1; i < SIM_TRACE_FILTER_VALUES_MAX; i++)
        snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), ",%u", i);
    ck_assert_int_eq(parse(cmd, &a, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(a.filter.nodes_count, SIM_TRACE_FILTER_VALUES_MAX);
    strcat(cmd, " --node 99");
    ck_assert_int_eq(parse(cmd, &a, msg, sizeof(msg)), P2P_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(msg, "--node: more than 64 values"));
}
END_TEST

/* The kinds --kind takes: the simulator's and then core's, each once; a
 * small cap truncates but still counts them all. */
START_TEST(test_kinds)
{
    const char *kinds[128];
    size_t n = sim_trace_filter_kinds(kinds, 128);
    ck_assert_uint_gt(n, 26);
    ck_assert_uint_le(n, 128);
    ck_assert_str_eq(kinds[0], "create");
    ck_assert_str_eq(kinds[n - 1], "download_wait");
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_le(strlen(kinds[i]), SIM_TRACE_FILTER_KIND_BYTES_MAX);
        for (size_t j = i + 1; j < n; j++)
            ck_assert_str_ne(kinds[i], kinds[j]);
        /* each is accepted */
        char cmd[96];
        struct sim_trace_filter_args a;
        char msg[256] = "";
        snprintf(cmd, sizeof(cmd), "trace F --kind %s", kinds[i]);
        ck_assert_msg(parse(cmd, &a, msg, sizeof(msg)) == 0, "%s: %s", cmd, msg);
    }
    ck_assert_uint_eq(sim_trace_filter_kinds(NULL, 0), n);
    const char *two[2];
    ck_assert_uint_eq(sim_trace_filter_kinds(two, 2), n);
    ck_assert_str_eq(two[1], "send");
}
END_TEST

/* ---- malformed lines --------------------------------------------------- */

static const struct bad_case bad_lines[] = {
    {"", "empty line"},
    {"hello", "'hello' is not a virtual time"},
    {"10 n0 x", "'10' is not a virtual time"},
    {"10.00000000 n0 x", "'10.00000000' is not a virtual time"},
    {"10.0000000000 n0 x", "is not a virtual time"},
    {".000000000 n0 x", "is not a virtual time"},
    {"-1.000000000 n0 x", "is not a virtual time"},
    {"18446744073.709551616 n0 x", "is not a virtual time"},
    {"1.000000000", "missing the node after the time"},
    {"1.000000000 0 x", "'0' is not a node (n<id>)"},
    {"1.000000000 n x", "'n' is not a node"},
    {"1.000000000 n-1 x", "'n-1' is not a node"},
    {"1.000000000 n4294967296 x", "'n4294967296' is not a node"},
    {"1.000000000 n0", "missing the event kind"},
    {"1.000000000 n0 peer=3", "missing the event kind after the node (found 'peer=3')"},
    {" 1.000000000 n0 x", "empty field at column 1"},
    {"1.000000000  n0 x", "empty field at column 13"},
    {"1.000000000 n0 x ", "empty field at column 17"},
    {"1.000000000\tn0 x", "byte 0x09 at column 12"},
    {"1.000000000 n0 x\r", "(CRLF line ends?)"},
    {"1.000000000 n0 x \xc3\xa9", "byte 0xc3"},
    {"1.000000000 n0 x =1", "'=1' is not key=value"},
    {"1.000000000 n0 x a=", "'a=' is not key=value"},
    {"1.000000000 n0 x peer=", "'peer=' is not key=value"},
    {"1.000000000 n0 x peer=n3", "peer 'n3' is not a node id or -1"},
    {"1.000000000 n0 x peer=-2", "peer '-2'"},
    {"1.000000000 n0 x peer=1 peer=2", "peer= given twice"},
    {"1.000000000 n0 x id=6a66x", "id '6a66x' is not 1 to 64 hex digits"},
    {"1.000000000 n0 x id=1 id=2", "id= given twice"},
};

START_TEST(test_bad_lines)
{
    const struct bad_case *c = &bad_lines[_i];
    struct sim_trace_filter f;
    char msg[256] = "";
    bool keep = true;
    sim_trace_filter_init(&f);
    ck_assert_msg(sim_trace_filter_match_line(&f, c->in, strlen(c->in), &keep,
                                              msg, sizeof(msg)) ==
                      P2P_ERR_DECODE,
                  "'%s': accepted", c->in);
    ck_assert_msg(strstr(msg, c->msg) != NULL, "'%s': said '%s', want '%s'",
                  c->in, msg, c->msg);
}
END_TEST

/* ---- the stream -------------------------------------------------------- */

struct stream_case {
    const char *cmd;
    const char *in;
    size_t in_len; /* 0: strlen(in) */
    const char *out;
    const char *err; /* NULL: success; else substring of the message */
    uint64_t lines, matched;
};

#define L1 "0.000000000 n0 dial peer=1\n"
#define L2 "0.080000000 n1 conn_up peer=0\n"
#define L3 "1.000000000 n0 create id=d69c4cad619d3b5b advert bytes=1024 rc=0\n"

static const struct stream_case stream_cases[] = {
    {"trace F", "", 0, "", NULL, 0, 0},
    {"trace F", L1 L2 L3, 0, L1 L2 L3, NULL, 3, 3},
    {"trace F --node 0", L1 L2 L3, 0, L1 L3, NULL, 3, 2},
    {"trace F --node 9", L1 L2 L3, 0, "", NULL, 3, 0},
    {"trace F --artifact d69c", "# seed 1\n" L1 L2 L3, 0, "# seed 1\n" L3,
     NULL, 4, 2},
    /* a last line without a newline is written without one */
    {"trace F", L1 "0.1 n0", 0, NULL, "T:2: '0.1' is not a virtual time", 2, 1},
    {"trace F", L1 "1.000000000 n0 x", 0, L1 "1.000000000 n0 x", NULL, 2, 2},
    /* the lines before an error are written */
    {"trace F", L1 L2 "\n" L3, 0, L1 L2, "T:3: empty line", 3, 2},
    {"trace F --node 5", L1 L2 "bad\n", 0, "", "T:3: 'bad' is not", 3, 0},
    /* a NUL byte is a malformed line, not the end of one */
    {"trace F", L1 "1.000000000 n0 x\0y\n", sizeof(L1 "1.000000000 n0 x\0y\n") - 1,
     L1, "T:2: byte 0x00 at column 17", 2, 1},
};

START_TEST(test_stream)
{
    const struct stream_case *c = &stream_cases[_i];
    struct sim_trace_filter_args a;
    struct sim_trace_filter_stats st;
    char msg[256] = "", out_buf[1024];
    size_t in_len = c->in_len ? c->in_len : strlen(c->in);
    ck_assert_int_eq(parse(c->cmd, &a, msg, sizeof(msg)), 0);
    /* fmemopen refuses a zero-length buffer on some libcs: use a file. */
    FILE *in = tmpfile(), *out = tmpfile();
    ck_assert(in != NULL && out != NULL);
    ck_assert_uint_eq(fwrite(c->in, 1, in_len, in), in_len);
    rewind(in);
    int rc = sim_trace_filter_stream(&a.filter, in, "T", out, &st, msg,
                                     sizeof(msg));
    if (c->err == NULL) {
        ck_assert_msg(rc == 0, "case %d: %s", _i, msg);
    } else {
        ck_assert_int_eq(rc, P2P_ERR_DECODE);
        ck_assert_msg(strstr(msg, c->err) != NULL, "case %d: said '%s'", _i,
                      msg);
    }
    ck_assert_uint_eq(st.lines, c->lines);
    ck_assert_uint_eq(st.matched, c->matched);
    if (c->out != NULL) {
        rewind(out);
        size_t n = fread(out_buf, 1, sizeof(out_buf), out);
        ck_assert_uint_eq(n, strlen(c->out));
        ck_assert(memcmp(out_buf, c->out, n) == 0);
    }
    fclose(in);
    fclose(out);
}
END_TEST

/* A line of exactly `len` bytes plus its newline. */
static FILE *line_of(size_t len)
{
    static const char head[] = "1.000000000 n0 x ";
    FILE *in = tmpfile();
    ck_assert_ptr_nonnull(in);
    ck_assert_uint_gt(len, sizeof(head));
    fputs(head, in);
    for (size_t i = sizeof(head) - 1; i < len; i++)
        fputc('w', in);
    fputc('\n', in);
    rewind(in);
    return in;
}

/* LINE_BYTES_MAX bytes pass; one more is an error naming the line. */
START_TEST(test_line_limit)
{
    struct sim_trace_filter f;
    struct sim_trace_filter_stats st;
    char msg[256] = "";
    FILE *out = tmpfile();
    sim_trace_filter_init(&f);
    FILE *in = line_of(SIM_TRACE_FILTER_LINE_BYTES_MAX);
    ck_assert_int_eq(sim_trace_filter_stream(&f, in, "T", out, &st, msg,
                                             sizeof(msg)), 0);
    ck_assert_uint_eq(st.matched, 1);
    ck_assert_int_eq(ftell(out), SIM_TRACE_FILTER_LINE_BYTES_MAX + 1);
    fclose(in);
    in = line_of(SIM_TRACE_FILTER_LINE_BYTES_MAX + 1);
    ck_assert_int_eq(sim_trace_filter_stream(&f, in, "T", out, &st, msg,
                                             sizeof(msg)), P2P_ERR_OVERSIZE);
    ck_assert_str_eq(msg, "T:1: line longer than 1024 bytes (not a trace?)");
    ck_assert_uint_eq(st.matched, 0);
    fclose(in);
    fclose(out);
}
END_TEST

/* Lines longer than the read buffer's remainder are joined across reads. */
START_TEST(test_many_lines)
{
    struct sim_trace_filter_args a;
    struct sim_trace_filter_stats st;
    char msg[256] = "";
    FILE *in = tmpfile(), *out = tmpfile();
    const unsigned lines = 20000; /* about 700 KB: many read buffers */
    ck_assert_int_eq(parse("trace F --node 7 --from 5s --to 15s", &a, msg,
                           sizeof(msg)), 0);
    for (unsigned i = 0; i < lines; i++)
        fprintf(in, "%u.%09u n%u send peer=%u stream=%u advert bytes=61\n",
                i / 1000, (i % 1000) * 1000000, i % 13, (i + 1) % 13, i);
    rewind(in);
    ck_assert_int_eq(sim_trace_filter_stream(&a.filter, in, "T", out, &st,
                                             msg, sizeof(msg)), 0);
    unsigned want = 0;
    for (unsigned i = 5000; i < 15000; i++)
        want += i % 13 == 7;
    ck_assert_uint_eq(st.lines, lines);
    ck_assert_uint_eq(st.matched, want);
    fclose(in);
    fclose(out);
}
END_TEST

static Suite *trace_filter_suite(void)
{
    Suite *s = suite_create("trace_filter");
    TCase *args = tcase_create("args");
    tcase_add_loop_test(args, test_keep, 0, COUNT(keep_cases));
    tcase_add_test(args, test_help);
    tcase_add_loop_test(args, test_bad_args, 0, COUNT(bad_args));
    tcase_add_test(args, test_values_limit);
    tcase_add_test(args, test_kinds);
    suite_add_tcase(s, args);

    TCase *lines = tcase_create("lines");
    tcase_add_loop_test(lines, test_bad_lines, 0, COUNT(bad_lines));
    tcase_add_loop_test(lines, test_stream, 0, COUNT(stream_cases));
    tcase_add_test(lines, test_line_limit);
    tcase_add_test(lines, test_many_lines);
    suite_add_tcase(s, lines);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(trace_filter_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
