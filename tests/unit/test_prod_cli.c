/* prod/cli.c: getopt_long's errors in the commands' words, one row per
 * kind of bad flag; operands; the sibling binary's path. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "prod/cli.h"

static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                     {"detach", no_argument, NULL, 'D'},
                                     {"nodes", required_argument, NULL, 'n'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};

/* Parses argv (NULL-terminated, argv[0] the command) as a command does;
 * returns the first error getopt_long reported (0: none) and what
 * conf_cli_bad_flag printed for it in out. */
static int parse(char **argv, char *out, size_t out_len)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    conf_cli_begin();
    int ch, bad = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ch == '?' || ch == ':') {
            conf_cli_bad_flag(f, "p2p-replica testnet", ch, argv, opts);
            bad = ch;
            break;
        }
    }
    if (bad == 0 &&
        conf_cli_no_operands(f, "p2p-replica testnet", argc, argv) != 0)
        bad = 'x';
    fclose(f);
    snprintf(out, out_len, "%s", text);
    free(text);
    return bad;
}

static const struct {
    const char *args[6];
    const char *want; /* "" for no message */
} cases[] = {
    {{"--dir", "d"}, ""},
    {{"--dir=d"}, ""},
    {{"--di=d", "--det"}, ""}, /* unique prefixes */
    {{"--dir=d", "-h"}, ""},
    {{"--bogus"}, "p2p-replica testnet: --bogus: unknown option\n"},
    {{"--bogus=1"}, "p2p-replica testnet: --bogus: unknown option\n"},
    {{"--dir", "d", "--dirs=e"},
     "p2p-replica testnet: --dirs: unknown option\n"},
    {{"--dir"}, "p2p-replica testnet: --dir needs a value\n"},
    {{"--nodes=2", "--dir"}, "p2p-replica testnet: --dir needs a value\n"},
    {{"--detach=yes"}, "p2p-replica testnet: --detach takes no value\n"},
    {{"--help=1"}, "p2p-replica testnet: --help takes no value\n"},
    {{"--d=x"}, "p2p-replica testnet: --d: ambiguous option\n"},
    {{"--de"}, ""}, /* --detach alone */
    {{"-x"}, "p2p-replica testnet: -x: unknown option\n"},
    {{"-hx"}, "p2p-replica testnet: -x: unknown option\n"},
    {{"--dir=d", "extra"}, "p2p-replica testnet: extra: unexpected argument\n"},
    {{"extra", "--dir=d"}, "p2p-replica testnet: extra: unexpected argument\n"},
    {{"--dir=d", "--", "--detach"},
     "p2p-replica testnet: --detach: unexpected argument\n"},
};

START_TEST(bad_flags_are_named)
{
    char *argv[8] = {"testnet"};
    int n = 1;
    for (int i = 0; i < 6 && cases[_i].args[i] != NULL; i++)
        argv[n++] = (char *)cases[_i].args[i];
    argv[n] = NULL;
    char out[256];
    int bad = parse(argv, out, sizeof(out));
    ck_assert_msg(strcmp(out, cases[_i].want) == 0, "case %d: got \"%s\"",
                  _i, out);
    ck_assert_int_eq(bad != 0, cases[_i].want[0] != '\0');
}
END_TEST

/* One parse does not leak into the next: a '+' (stop at the first
 * operand) of the program's parse leaves the command's free to take flags
 * after operands, and optind starts over. */
START_TEST(parses_start_afresh)
{
    char *top[] = {"p2p-replica", "testnet", "extra", "--dir=d", NULL};
    conf_cli_begin();
    ck_assert_int_eq(getopt_long(4, top, "+:h", opts, NULL), -1);
    ck_assert_int_eq(optind, 1);
    char out[256];
    ck_assert_int_eq(parse(top + 1, out, sizeof(out)), 'x');
    ck_assert_str_eq(out, "p2p-replica testnet: extra: unexpected argument\n");
    char *again[] = {"testnet", "--dir=d", NULL};
    ck_assert_int_eq(parse(again, out, sizeof(out)), 0);
}
END_TEST

START_TEST(sibling_is_beside_this_binary)
{
    char self[PATH_MAX], want[PATH_MAX + 32], got[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(want, sizeof(want), "%s/%s", self, PROD_CLI_TOOLS_NAME);
    ck_assert_int_eq(prod_cli_sibling(PROD_CLI_TOOLS_NAME, got, sizeof(got)),
                     0);
    ck_assert_str_eq(got, want);
    /* The buffer's limit: the path and its NUL fit exactly, one less not. */
    size_t need = strlen(want) + 1;
    ck_assert_int_eq(prod_cli_sibling(PROD_CLI_TOOLS_NAME, got, need), 0);
    ck_assert_int_eq(prod_cli_sibling(PROD_CLI_TOOLS_NAME, got, need - 1),
                     P2P_ERR_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prod_cli");
    TCase *tc = tcase_create("cli");
    tcase_add_loop_test(tc, bad_flags_are_named, 0,
                        (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, parses_start_afresh);
    tcase_add_test(tc, sibling_is_beside_this_binary);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
