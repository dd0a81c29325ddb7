/* Unit tests for conf/errmsg: a NULL or empty buffer, cutting to fit,
 * appending to a full buffer, and control bytes made one line. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf/errmsg.h"

START_TEST(test_errmsg_set)
{
    char buf[8];
    conf_errmsg_set(NULL, 0, "%s", "nothing");
    conf_errmsg_set(NULL, 8, "%s", "nothing");
    memset(buf, 'x', sizeof buf);
    conf_errmsg_set(buf, 0, "%s", "nothing");
    ck_assert_int_eq(buf[0], 'x');
    conf_errmsg_set(buf, sizeof buf, "%d: %s", 7, "ok");
    ck_assert_str_eq(buf, "7: ok");
    /* Cut to fit: 7 characters and the NUL. */
    conf_errmsg_set(buf, sizeof buf, "%s", "0123456789");
    ck_assert_str_eq(buf, "0123456");
    conf_errmsg_set(buf, 1, "%s", "abc");
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_errmsg_append)
{
    char buf[8] = "ab";
    conf_errmsg_append(buf, sizeof buf, "%s", "cd");
    ck_assert_str_eq(buf, "abcd");
    conf_errmsg_append(buf, sizeof buf, "%s", "efghij");
    ck_assert_str_eq(buf, "abcdefg");
    /* Full: nothing more. */
    conf_errmsg_append(buf, sizeof buf, "%s", "z");
    ck_assert_str_eq(buf, "abcdefg");
    conf_errmsg_append(NULL, 8, "%s", "z");
    conf_errmsg_append(buf, 0, "%s", "z");
    ck_assert_str_eq(buf, "abcdefg");
}
END_TEST

START_TEST(test_errmsg_one_line)
{
    char buf[16] = "a\nb\tc\x7f" "d\x01";
    conf_errmsg_one_line(buf);
    ck_assert_str_eq(buf, "a?b?c?d?");
    conf_errmsg_one_line(NULL);
    char utf8[] = "caf\xc3\xa9";
    conf_errmsg_one_line(utf8);
    ck_assert_str_eq(utf8, "caf\xc3\xa9"); /* bytes >= 0x80 are kept */
}
END_TEST

static Suite *errmsg_suite(void)
{
    Suite *s = suite_create("conf_errmsg");
    TCase *tc = tcase_create("errmsg");
    tcase_add_test(tc, test_errmsg_set);
    tcase_add_test(tc, test_errmsg_append);
    tcase_add_test(tc, test_errmsg_one_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(errmsg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
