/* The command-line conventions both programs follow (p2p-sim,
 * p2p-replica and p2p-replica-tools): flags are parsed by getopt_long, so
 * `--flag VALUE` and `--flag=VALUE` are the same, a unique prefix of a
 * long flag stands for it, and `-h`/`--help` prints the usage on stdout
 * (exit 0). A bad flag is one line on stderr naming it as typed, then the
 * usage, exit 2:
 *
 *   PROG: --bogus: unknown option
 *   PROG: --dir needs a value
 *   PROG: --detach takes no value
 *   PROG: --n: ambiguous option
 *   PROG: extra: unexpected argument
 *
 * Each parser starts with conf_cli_begin() and passes an option string
 * that begins with ':' (after a '+' when it stops at the first
 * non-option), so getopt_long reports a missing value as ':' rather
 * than '?' and prints nothing itself. */
#ifndef P2P_CONF_CLI_H
#define P2P_CONF_CLI_H

#include <getopt.h>
#include <stdio.h>

/* The exit status of a command given bad flags or arguments. */
#define CONF_CLI_EXIT_USAGE 2

/* Prepares getopt_long for a new parse: optind = 0 (glibc then reads the
 * option string afresh, so a '+' of an earlier parse does not carry over)
 * and opterr = 0 (the messages are conf_cli_bad_flag's). */
void conf_cli_begin(void);

/* After getopt_long returned '?' or ':' for argv (borrowed, as parsed)
 * with the options opts (borrowed, ending in a zero entry): prints one
 * line on f, "PROG: ..." naming the flag as typed (the part before any
 * '='), and says why: unknown, ambiguous, needs a value, takes no value.
 * Reads optind and optopt, changes nothing. */
void conf_cli_bad_flag(FILE *f, const char *prog, int ch, char *const argv[],
                       const struct option *opts);

/* For a command that takes no positional arguments: when optind < argc,
 * prints "PROG: ARG: unexpected argument" on f for the first one and
 * returns CONF_CLI_EXIT_USAGE; otherwise returns 0. */
int conf_cli_no_operands(FILE *f, const char *prog, int argc,
                         char *const argv[]);

#endif
