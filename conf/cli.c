/* getopt_long's errors in the commands' words (conf/cli.h). */
#include "conf/cli.h"

#include <string.h>

#include "core/assert.h"

void conf_cli_begin(void)
{
    optind = 0;
    opterr = 0;
}

/* How many of opts a long flag's name (len bytes, no "--") stands for,
 * as getopt_long reads it: 1 when one is named exactly, 2 for "more than
 * one". */
static int matches(const struct option *opts, const char *name, size_t len)
{
    int n = 0;
    for (const struct option *o = opts; o->name != NULL; o++) {
        if (strncmp(o->name, name, len) != 0)
            continue;
        if (o->name[len] == '\0')
            return 1;
        n++;
    }
    return n > 1 ? 2 : n;
}

void conf_cli_bad_flag(FILE *f, const char *prog, int ch, char *const argv[],
                       const struct option *opts)
{
    P2P_ASSERT(prog != NULL && opts != NULL);
    P2P_ASSERT(ch == '?' || ch == ':');
    const char *arg = optind > 0 ? argv[optind - 1] : NULL;
    if (arg == NULL || arg[0] != '-' || arg[1] != '-') {
        /* A short flag, maybe inside a group ("-xh"): optopt is the one. */
        fprintf(f, "%s: -%c%s\n", prog, optopt != 0 ? optopt : '?',
                ch == ':' ? " needs a value" : ": unknown option");
        return;
    }
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    const char *why = ": unknown option";
    int n = matches(opts, name, len);
    if (ch == ':')
        why = " needs a value";
    else if (n == 2)
        why = ": ambiguous option";
    else if (n == 1 && name[len] == '=')
        why = " takes no value";
    fprintf(f, "%s: --%.*s%s\n", prog, (int)len, name, why);
}

int conf_cli_no_operands(FILE *f, const char *prog, int argc,
                         char *const argv[])
{
    P2P_ASSERT(prog != NULL && optind >= 0);
    if (optind >= argc)
        return 0;
    fprintf(f, "%s: %s: unexpected argument\n", prog, argv[optind]);
    return CONF_CLI_EXIT_USAGE;
}
