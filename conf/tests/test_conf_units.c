/* Unit tests for conf/units: every unit of every family, both sides of
 * the largest value each unit can hold, decimals, signs and junk, the
 * messages, and formatting that parses back. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/units.h"
#include "core/err.h"
#include "core/types.h"

#define MS P2P_NS_PER_MS
#define SEC P2P_NS_PER_S


enum unit_kind {
    U_DURATION, U_OFFSET, U_SIZE, U_BANDWIDTH, U_PERCENT, U_PPM, U_RATE
};

struct unit_good {
    enum unit_kind kind;
    const char *in;
    int64_t want_signed;   /* for U_OFFSET, U_PPM */
    uint64_t want;         /* for the others */
};

struct unit_bad {
    enum unit_kind kind;
    const char *in;
    const char *msg; /* substring of the error message */
};

static const struct unit_good unit_goods[] = {
    {U_DURATION, "0", 0, 0},
    {U_DURATION, "0s", 0, 0},
    {U_DURATION, "0.0ms", 0, 0},
    {U_DURATION, "1ns", 0, 1},
    {U_DURATION, "1us", 0, 1000},
    {U_DURATION, "1ms", 0, MS},
    {U_DURATION, "1s", 0, SEC},
    {U_DURATION, "1m", 0, 60 * SEC},
    {U_DURATION, "1h", 0, 3600 * SEC},
    {U_DURATION, "1.5s", 0, 1500 * MS},
    {U_DURATION, "2.50s", 0, 2500 * MS},
    {U_DURATION, "0.5ms", 0, 500000},
    {U_DURATION, "0.000000001s", 0, 1},
    {U_DURATION, "1.000000001s", 0, SEC + 1},
    {U_DURATION, "0.25h", 0, 900 * SEC},
    {U_DURATION, "10 ms", 0, 10 * MS},
    {U_DURATION, "007ms", 0, 7 * MS},
    {U_DURATION, "18446744073709551615ns", 0, UINT64_MAX},
    {U_DURATION, "18446744073.709551615s", 0, UINT64_MAX},
    {U_DURATION, "5124095h", 0, 5124095ULL * 3600 * SEC},
    {U_OFFSET, "-2s", -2 * (int64_t)SEC, 0},
    {U_OFFSET, "2s", 2 * (int64_t)SEC, 0},
    {U_OFFSET, "-0s", 0, 0},
    {U_OFFSET, "0", 0, 0},
    {U_OFFSET, "-1.5ms", -1500000, 0},
    {U_OFFSET, "9223372036854775807ns", INT64_MAX, 0},
    {U_OFFSET, "-9223372036854775807ns", -INT64_MAX, 0},
    {U_SIZE, "0", 0, 0},
    {U_SIZE, "1B", 0, 1},
    {U_SIZE, "1KiB", 0, 1024},
    {U_SIZE, "1MiB", 0, 1048576},
    {U_SIZE, "1GiB", 0, 1073741824},
    {U_SIZE, "1KB", 0, 1000},
    {U_SIZE, "1MB", 0, 1000000},
    {U_SIZE, "1GB", 0, 1000000000},
    {U_SIZE, "1.5KiB", 0, 1536},
    {U_SIZE, "0.5MB", 0, 500000},
    {U_SIZE, "2 KiB", 0, 2048},
    {U_SIZE, "17179869183GiB", 0, 17179869183ULL << 30},
    {U_BANDWIDTH, "1bit", 0, 1},
    {U_BANDWIDTH, "1kbit", 0, 1000},
    {U_BANDWIDTH, "1Kbit", 0, 1000},
    {U_BANDWIDTH, "1Mbit", 0, 1000000},
    {U_BANDWIDTH, "1Gbit", 0, 1000000000},
    {U_BANDWIDTH, "2.5Gbit", 0, 2500000000ULL},
    {U_BANDWIDTH, "18446744073Gbit", 0, 18446744073000000000ULL},
    {U_PERCENT, "0", 0, 0},
    {U_PERCENT, "0%", 0, 0},
    {U_PERCENT, "0.5%", 0, 5000},
    {U_PERCENT, "5%", 0, 50000},
    {U_PERCENT, "5 %", 0, 50000},
    {U_PERCENT, "0.0001%", 0, 1},
    {U_PERCENT, "99.9999%", 0, 999999},
    {U_PERCENT, "100%", 0, 1000000},
    {U_PPM, "100ppm", 100, 0},
    {U_PPM, "-50ppm", -50, 0},
    {U_PPM, "0", 0, 0},
    {U_PPM, "9223372036854775807ppm", INT64_MAX, 0},
    {U_RATE, "100/s", 0, 10 * MS},
    {U_RATE, "1/s", 0, SEC},
    {U_RATE, "1/m", 0, 60 * SEC},
    {U_RATE, "0.5/s", 0, 2 * SEC},
    {U_RATE, "3/s", 0, 333333333},
    {U_RATE, "100 /s", 0, 10 * MS},
    {U_RATE, "1000000000/s", 0, 1},
    {U_RATE, "60000000000/m", 0, 1},
    {U_RATE, "0.000000001/s", 0, 1000000000ULL * SEC},
    /* Every unit at the largest value that fits in 64 bits. */
    {U_DURATION, "18446744073709551us", 0, 18446744073709551000ULL},
    {U_DURATION, "18446744073709ms", 0, 18446744073709ULL * MS},
    {U_DURATION, "18446744073s", 0, 18446744073ULL * SEC},
    {U_DURATION, "307445734m", 0, 307445734ULL * 60 * SEC},
    {U_SIZE, "18446744073709551615B", 0, UINT64_MAX},
    {U_SIZE, "18014398509481983KiB", 0, 18014398509481983ULL << 10},
    {U_SIZE, "17592186044415MiB", 0, 17592186044415ULL << 20},
    {U_SIZE, "18446744073709551KB", 0, 18446744073709551000ULL},
    {U_SIZE, "18446744073709MB", 0, 18446744073709000000ULL},
    {U_SIZE, "18446744073GB", 0, 18446744073000000000ULL},
    {U_BANDWIDTH, "18446744073709551615bit", 0, UINT64_MAX},
    {U_BANDWIDTH, "18446744073709551kbit", 0, 18446744073709551000ULL},
    {U_BANDWIDTH, "18446744073709Mbit", 0, 18446744073709000000ULL},
    {U_PPM, "-9223372036854775807ppm", -INT64_MAX, 0},
    /* Nine decimal places, and trailing zeros that do not count. */
    {U_DURATION, "1.123456789s", 0, 1123456789},
    {U_DURATION, "1.5000000000000s", 0, 1500 * MS},
    {U_SIZE, "1.000000000KiB", 0, 1024},
};

static const struct unit_bad unit_bads[] = {
    {U_DURATION, "", "empty duration"},
    {U_DURATION, "1", "missing unit in '1'"},
    {U_DURATION, "1x",
     "unknown unit 'x' in '1x' (expected one of ns, us, ms, s, m, h)"},
    {U_DURATION, "40mss", "unknown unit 'mss'"},
    {U_DURATION, "1S", "unknown unit 'S'"},
    {U_DURATION, "1s x", "unknown unit 's x'"},
    {U_DURATION, "1e3s", "unknown unit 'e3s'"},
    {U_DURATION, "0x10s", "unknown unit 'x10s'"},
    {U_DURATION, "-1s", "negative duration"},
    {U_DURATION, "+1s", "not a duration"},
    {U_DURATION, ".5s", "not a duration"},
    {U_DURATION, "s", "not a duration"},
    {U_DURATION, " 1s", "not a duration"},
    {U_DURATION, "1.s", "expected digits after '.'"},
    {U_DURATION, "1.5ns", "not a whole number of nanoseconds"},
    {U_DURATION, "1.0000000001s", "more than 9 decimal places"},
    {U_DURATION, "18446744073709551616ns", "too large"},
    {U_DURATION, "18446744073.709551616s", "too large"},
    {U_DURATION, "5124096h", "too large"},
    {U_DURATION, "99999999999999999999999s", "too large"},
    {U_OFFSET, "9223372036854775808ns", "too large"},
    {U_OFFSET, "-9223372036854775808ns", "too large"},
    {U_OFFSET, "--2s", "not a duration"},
    {U_OFFSET, "-", "not a duration"},
    {U_SIZE, "1", "missing unit"},
    {U_SIZE, "1kib", "unknown unit 'kib'"},
    {U_SIZE, "1TiB", "unknown unit 'TiB'"},
    {U_SIZE, "1.5B", "not a whole number of bytes"},
    {U_SIZE, "0.1KiB", "not a whole number of bytes"},
    {U_SIZE, "-1B", "negative size"},
    {U_SIZE, "17179869184GiB", "too large"},
    {U_BANDWIDTH, "1Gbps", "unknown unit 'Gbps'"},
    {U_BANDWIDTH, "1GB", "unknown unit 'GB'"},
    {U_BANDWIDTH, "1.5bit", "not a whole number of bits per second"},
    {U_BANDWIDTH, "18446744074Gbit", "too large"},
    {U_PERCENT, "5", "missing unit"},
    {U_PERCENT, "100.0001%", "more than 100%"},
    {U_PERCENT, "101%", "more than 100%"},
    {U_PERCENT, "0.00001%", "not a whole number of ppm"},
    {U_PERCENT, "-1%", "negative percentage"},
    {U_PERCENT, "5ppm", "unknown unit 'ppm'"},
    {U_PPM, "9223372036854775808ppm", "too large"},
    {U_PPM, "1.5ppm", "not a whole number of ppm"},
    {U_PPM, "5%", "unknown unit '%'"},
    {U_PPM, "100", "missing unit"},
    {U_RATE, "0/s", "must be greater than 0"},
    {U_RATE, "0", "missing unit"},
    {U_RATE, "100", "missing unit"},
    {U_RATE, "100/h", "unknown unit '/h'"},
    {U_RATE, "100/s/s", "unknown unit '/s/s'"},
    {U_RATE, "-1/s", "negative rate"},
    {U_RATE, "1000000001/s", "too high"},
    {U_RATE, "18446744073709551615/s", "too high"},
    {U_RATE, "18446744073709551615.5/s", "too large"},
    {U_RATE, "0.000000001/m", "too many decimal places"},
    /* One past the largest value of every unit. */
    {U_DURATION, "18446744073709552us", "too large"},
    {U_DURATION, "18446744073710ms", "too large"},
    {U_DURATION, "18446744074s", "too large"},
    {U_DURATION, "307445735m", "too large"},
    {U_SIZE, "18446744073709551616B", "too large"},
    {U_SIZE, "18014398509481984KiB", "too large"},
    {U_SIZE, "17592186044416MiB", "too large"},
    {U_SIZE, "18446744073709552KB", "too large"},
    {U_SIZE, "18446744073710MB", "too large"},
    {U_SIZE, "18446744074GB", "too large"},
    {U_BANDWIDTH, "18446744073709551616bit", "too large"},
    {U_BANDWIDTH, "18446744073709552kbit", "too large"},
    {U_BANDWIDTH, "18446744073710Mbit", "too large"},
    {U_PPM, "-9223372036854775808ppm", "too large"},
    /* Ten decimal places; signs and junk. */
    {U_DURATION, "1.1234567891s", "more than 9 decimal places"},
    {U_SIZE, "+1B", "not a size"},
    {U_SIZE, "1B ", "unknown unit 'B '"},
    {U_SIZE, "", "empty size"},
    {U_BANDWIDTH, "bit", "not a bandwidth"},
    {U_PERCENT, "", "empty percentage"},
    {U_RATE, "", "empty rate"},
    {U_RATE, "/s", "not a rate"},
};

static int parse_unit(enum unit_kind kind, const char *in, uint64_t *u,
                      int64_t *s, char *msg, size_t len)
{
    uint32_t u32 = 0;
    int rc;
    switch (kind) {
    case U_DURATION:
        return conf_units_parse_duration(in, u, msg, len);
    case U_OFFSET:
        return conf_units_parse_offset(in, s, msg, len);
    case U_SIZE:
        return conf_units_parse_size(in, u, msg, len);
    case U_BANDWIDTH:
        return conf_units_parse_bandwidth(in, u, msg, len);
    case U_PERCENT:
        rc = conf_units_parse_percent(in, &u32, msg, len);
        if (rc == 0)
            *u = u32;
        return rc;
    case U_PPM:
        return conf_units_parse_ppm(in, s, msg, len);
    case U_RATE:
        return conf_units_parse_rate(in, u, msg, len);
    }
    return -2;
}

START_TEST(test_units_good)
{
    const struct unit_good *c = &unit_goods[_i];
    uint64_t u = 12345;
    int64_t s = 12345;
    char msg[160] = "";
    int rc = parse_unit(c->kind, c->in, &u, &s, msg, sizeof msg);
    ck_assert_msg(rc == 0, "'%s' failed: %s", c->in, msg);
    if (c->kind == U_OFFSET || c->kind == U_PPM)
        ck_assert_msg(s == c->want_signed, "'%s' -> %lld, want %lld", c->in,
                      (long long)s, (long long)c->want_signed);
    else
        ck_assert_msg(u == c->want, "'%s' -> %llu, want %llu", c->in,
                      (unsigned long long)u, (unsigned long long)c->want);
}
END_TEST

START_TEST(test_units_bad)
{
    const struct unit_bad *c = &unit_bads[_i];
    uint64_t u = 12345;
    int64_t s = 12345;
    char msg[160] = "";
    int rc = parse_unit(c->kind, c->in, &u, &s, msg, sizeof msg);
    ck_assert_msg(rc == P2P_ERR_DECODE, "'%s' parsed (rc %d)", c->in, rc);
    ck_assert_msg(strstr(msg, c->msg) != NULL, "'%s': message '%s' lacks '%s'",
                  c->in, msg, c->msg);
    /* The output is written only on success. */
    ck_assert_uint_eq(u, 12345);
    ck_assert_int_eq(s, 12345);
    /* A NULL message buffer is allowed. */
    ck_assert_int_eq(parse_unit(c->kind, c->in, &u, &s, NULL, 0),
                     P2P_ERR_DECODE);
}
END_TEST

struct format_case {
    bool size;
    uint64_t v;
    const char *want;
};

static const struct format_case format_cases[] = {
    {false, 0, "0s"},
    {false, 1, "1ns"},
    {false, 1500 * MS, "1500ms"},
    {false, 60 * SEC, "1m"},
    {false, 90 * SEC, "90s"},
    {false, 7200 * SEC, "2h"},
    {false, 2500, "2500ns"},
    {false, UINT64_MAX, "18446744073709551615ns"},
    {true, 0, "0B"},
    {true, 1536, "1536B"},
    {true, 4 << 20, "4MiB"},
    {true, 1ULL << 30, "1GiB"},
    {true, 1000000000, "1000000000B"},
};

START_TEST(test_units_format)
{
    const struct format_case *c = &format_cases[_i];
    char buf[64];
    uint64_t back = 0;
    if (c->size) {
        conf_units_format_size(c->v, buf, sizeof buf);
        ck_assert_int_eq(conf_units_parse_size(buf, &back, NULL, 0), 0);
    } else {
        conf_units_format_duration(c->v, buf, sizeof buf);
        ck_assert_int_eq(conf_units_parse_duration(buf, &back, NULL, 0), 0);
    }
    ck_assert_str_eq(buf, c->want);
    ck_assert_uint_eq(back, c->v);
}
END_TEST

/* Plain decimal counts (seeds, --jobs). */
struct u64_case {
    const char *in;
    bool ok;
    uint64_t want;
};

static const struct u64_case u64_cases[] = {
    {"0", true, 0},
    {"1", true, 1},
    {"007", true, 7},
    {"18446744073709551615", true, UINT64_MAX},
    {"18446744073709551616", false, 0},
    {"99999999999999999999999", false, 0},
    {"", false, 0},
    {"-1", false, 0},
    {"+1", false, 0},
    {" 1", false, 0},
    {"1 ", false, 0},
    {"1x", false, 0},
    {"0x10", false, 0},
};

START_TEST(test_units_u64)
{
    const struct u64_case *c = &u64_cases[_i];
    uint64_t v = 12345;
    int rc = conf_units_parse_u64(c->in, &v);
    if (c->ok) {
        ck_assert_msg(rc == 0, "'%s' refused", c->in);
        ck_assert_uint_eq(v, c->want);
    } else {
        ck_assert_msg(rc == P2P_ERR_DECODE, "'%s' -> rc %d", c->in, rc);
        ck_assert_uint_eq(v, 12345);
    }
}
END_TEST

/* A message buffer too small for the reason is cut, never overrun. */
START_TEST(test_units_short_message)
{
    char msg[8];
    uint64_t v;
    memset(msg, 'x', sizeof msg);
    ck_assert_int_eq(conf_units_parse_duration("5 parsecs", &v, msg, 5),
                     P2P_ERR_DECODE);
    ck_assert_uint_eq(strlen(msg), 4);
    ck_assert_int_eq(msg[5], 'x');
    ck_assert_int_eq(conf_units_parse_duration("5 parsecs", &v, msg, 1),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(msg, "");
}
END_TEST

/* The exact messages the scenario files and the replica's config show. */
START_TEST(test_units_messages)
{
    char msg[160];
    uint64_t v;
    ck_assert_int_eq(conf_units_parse_size("64MB8", &v, msg, sizeof msg),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(msg, "unknown unit 'MB8' in '64MB8' (expected one of B, "
                          "KiB, MiB, GiB, KB, MB, GB)");
    ck_assert_int_eq(conf_units_parse_bandwidth("1", &v, msg, sizeof msg),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(msg, "missing unit in '1' (expected one of bit, kbit, "
                          "Mbit, Gbit)");
    uint32_t ppm;
    ck_assert_int_eq(conf_units_parse_percent("150%", &ppm, msg, sizeof msg),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(msg, "percentage '150%' is more than 100%");
}
END_TEST

/* A formatted duration or size cut to fit its buffer stays terminated. */
START_TEST(test_units_format_short)
{
    char buf[4];
    conf_units_format_duration(1500 * MS, buf, sizeof buf);
    ck_assert_str_eq(buf, "150");
    conf_units_format_size(4 << 20, buf, 2);
    ck_assert_str_eq(buf, "4");
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *units_suite(void)
{
    Suite *s = suite_create("conf_units");
    TCase *tc = tcase_create("units");
    tcase_add_loop_test(tc, test_units_good, 0, COUNT(unit_goods));
    tcase_add_loop_test(tc, test_units_bad, 0, COUNT(unit_bads));
    tcase_add_loop_test(tc, test_units_format, 0, COUNT(format_cases));
    tcase_add_loop_test(tc, test_units_u64, 0, COUNT(u64_cases));
    tcase_add_test(tc, test_units_short_message);
    tcase_add_test(tc, test_units_messages);
    tcase_add_test(tc, test_units_format_short);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(units_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
