/* Unit tests for conf/hex: every character's value, exact lengths (0, 1,
 * 2n - 1, 2n, 2n + 1), the first bad character at each end, either case,
 * the output untouched on error, encoding and round trips. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/hex.h"
#include "core/err.h"

START_TEST(test_hex_digit_table)
{
    for (int c = 0; c < 256; c++) {
        int want = -1;
        if (c >= '0' && c <= '9')
            want = c - '0';
        else if (c >= 'a' && c <= 'f')
            want = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            want = c - 'A' + 10;
        ck_assert_int_eq(conf_hex_digit((char)c), want);
    }
}
END_TEST

struct decode_case {
    const char *text;
    size_t out_len;
    int rc;
    size_t bad_at;     /* when rc != 0 */
    const char *want;  /* when rc == 0: the bytes */
};

static const struct decode_case decode_cases[] = {
    {"", 0, 0, 0, ""},
    {"00", 1, 0, 0, "\x00"},
    {"ff", 1, 0, 0, "\xff"},
    {"FF", 1, 0, 0, "\xff"},
    {"0a1B", 2, 0, 0, "\x0a\x1b"},
    {"deadBEEF", 4, 0, 0, "\xde\xad\xbe\xef"},
    /* Lengths: odd, one pair short or long, text for nothing. */
    {"0", 1, P2P_ERR_DECODE, 1, NULL},
    {"abc", 2, P2P_ERR_DECODE, 3, NULL},
    {"abcde", 2, P2P_ERR_DECODE, 5, NULL},
    {"ab", 2, P2P_ERR_DECODE, 2, NULL},
    {"abcdef", 2, P2P_ERR_DECODE, 6, NULL},
    {"ab", 0, P2P_ERR_DECODE, 2, NULL},
    {"", 1, P2P_ERR_DECODE, 0, NULL},
    /* Bad characters: first, last, in the middle of a pair. */
    {"g0", 1, P2P_ERR_DECODE, 0, NULL},
    {"0g", 1, P2P_ERR_DECODE, 1, NULL},
    {"00zz", 2, P2P_ERR_DECODE, 2, NULL},
    {"000 ", 2, P2P_ERR_DECODE, 3, NULL},
    {"0x00", 2, P2P_ERR_DECODE, 1, NULL},
    {"-1", 1, P2P_ERR_DECODE, 0, NULL},
};

START_TEST(test_hex_decode)
{
    const struct decode_case *c = &decode_cases[_i];
    uint8_t out[8];
    size_t bad_at = 999;
    memset(out, 0x5a, sizeof out);
    int rc = conf_hex_decode(c->text, strlen(c->text), out, c->out_len,
                             &bad_at);
    ck_assert_msg(rc == c->rc, "'%s': rc %d, want %d", c->text, rc, c->rc);
    if (rc == 0) {
        ck_assert_mem_eq(out, c->want, c->out_len);
        ck_assert_uint_eq(bad_at, 999); /* untouched on success */
    } else {
        ck_assert_msg(bad_at == c->bad_at, "'%s': bad at %zu, want %zu",
                      c->text, bad_at, c->bad_at);
        for (size_t i = 0; i < sizeof out; i++)
            ck_assert_uint_eq(out[i], 0x5a);
        /* bad_at may be NULL. */
        ck_assert_int_eq(conf_hex_decode(c->text, strlen(c->text), out,
                                         c->out_len, NULL),
                         c->rc);
    }
}
END_TEST

/* Text need not be NUL-terminated: only text_len bytes are read. */
START_TEST(test_hex_decode_unterminated)
{
    const char text[4] = {'a', 'b', 'c', 'd'};
    uint8_t out[2];
    ck_assert_int_eq(conf_hex_decode(text, 4, out, 2, NULL), 0);
    ck_assert_uint_eq(out[0], 0xab);
    ck_assert_uint_eq(out[1], 0xcd);
}
END_TEST

/* File names: lowercase only, the same lengths. */
START_TEST(test_hex_decode_canonical)
{
    uint8_t out[2] = {0x5a, 0x5a};
    ck_assert_int_eq(conf_hex_decode_canonical("abcd", 4, out, 2), 0);
    ck_assert_uint_eq(out[0], 0xab);
    ck_assert_uint_eq(out[1], 0xcd);
    out[0] = out[1] = 0x5a;
    ck_assert_int_eq(conf_hex_decode_canonical("abcD", 4, out, 2),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(conf_hex_decode_canonical("Abcd", 4, out, 2),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(conf_hex_decode_canonical("abc", 3, out, 2),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(conf_hex_decode_canonical("abcdef", 6, out, 2),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(conf_hex_decode_canonical("abcg", 4, out, 2),
                     P2P_ERR_DECODE);
    ck_assert_uint_eq(out[0], 0x5a);
    ck_assert_uint_eq(out[1], 0x5a);
}
END_TEST

START_TEST(test_hex_encode)
{
    const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof bytes + 1];
    memset(out, 'x', sizeof out);
    conf_hex_encode(bytes, sizeof bytes, out, sizeof out);
    ck_assert_str_eq(out, "00017f80abff");
    conf_hex_encode(bytes, 0, out, 1);
    ck_assert_str_eq(out, "");
}
END_TEST

/* Every byte value, encoded and decoded back, in 32-byte ids. */
START_TEST(test_hex_round_trip)
{
    uint8_t id[32], back[32];
    char text[65];
    for (int start = 0; start < 256; start += 32) {
        for (int i = 0; i < 32; i++)
            id[i] = (uint8_t)(start + i);
        conf_hex_encode(id, sizeof id, text, sizeof text);
        ck_assert_uint_eq(strlen(text), 64);
        ck_assert_int_eq(conf_hex_decode(text, 64, back, 32, NULL), 0);
        ck_assert_mem_eq(back, id, 32);
    }
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *hex_suite(void)
{
    Suite *s = suite_create("conf_hex");
    TCase *tc = tcase_create("hex");
    tcase_add_test(tc, test_hex_digit_table);
    tcase_add_loop_test(tc, test_hex_decode, 0, COUNT(decode_cases));
    tcase_add_test(tc, test_hex_decode_unterminated);
    tcase_add_test(tc, test_hex_decode_canonical);
    tcase_add_test(tc, test_hex_encode);
    tcase_add_test(tc, test_hex_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hex_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
