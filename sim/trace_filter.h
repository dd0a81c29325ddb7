/* `p2p-sim trace FILE [filters]`: prints the lines of a trace (sim/trace.h,
 * docs/trace-format.md) that match every given filter, unchanged and in
 * input order.
 *
 * Streaming: one line at a time through fixed buffers, so memory does not
 * grow with the trace. Every line is checked against the line format, whether
 * or not a filter looks at it, so a file that is not a trace (or was cut or
 * edited badly) is reported at its first bad line as FILE:LINE instead of
 * filtering to nothing. Lines starting with '#' are a header: they pass
 * through unchecked.
 *
 * A filter given several values (repeated, or as a comma list) matches any
 * of them; different filters must all match. Times are virtual (the trace's
 * first column) and the window is half-open: --from T keeps t >= T, --to T
 * keeps t < T, so consecutive windows never share a line.
 *
 * Functions that can fail return 0 or a negative P2P_ERR_* (core/err.h)
 * and then write a one-line reason (without a "p2p-sim trace:" prefix) to
 * msg[0..msg_len) when msg is not NULL. */
#ifndef P2P_SIM_TRACE_FILTER_H
#define P2P_SIM_TRACE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest line accepted, in bytes without its newline; a longer line is an
 * error naming FILE:LINE. The writer (sim/trace.c) cuts its lines at 511
 * bytes, so this leaves room for hand-made headers. */
#define SIM_TRACE_FILTER_LINE_BYTES_MAX 1024u
/* Bytes read from the input at a time. */
#define SIM_TRACE_FILTER_READ_BYTES (64u * 1024u)
/* Values one filter (--node, --peer, --kind, --artifact) may hold, summed
 * over its repeats and comma lists; one more is an error. */
#define SIM_TRACE_FILTER_VALUES_MAX 64u
/* Longest --kind value (event kinds are short words such as "deliver"). */
#define SIM_TRACE_FILTER_KIND_BYTES_MAX 32u
/* --artifact takes a hex prefix of the id: at least this many digits, so a
 * typo does not match a large share of all ids ... */
#define SIM_TRACE_FILTER_ID_HEX_MIN 4u
/* ... and at most a whole SHA-256. The trace prints 16 digits; a longer ID
 * is compared on the trace's digits (see sim_trace_filter_match_line). */
#define SIM_TRACE_FILTER_ID_HEX_MAX 64u

/* What to keep. Plain data on caller storage; sim_trace_filter_init gives
 * a filter that keeps every line. Each *_count is <= VALUES_MAX. */
struct sim_trace_filter {
    uint32_t nodes[SIM_TRACE_FILTER_VALUES_MAX]; /* the line's n<node> */
    size_t nodes_count;                          /* 0: any node */
    int64_t peers[SIM_TRACE_FILTER_VALUES_MAX];  /* peer=; -1 is "none" */
    size_t peers_count;                          /* 0: any line */
    char kinds[SIM_TRACE_FILTER_VALUES_MAX]
              [SIM_TRACE_FILTER_KIND_BYTES_MAX + 1];
    size_t kinds_count; /* 0: any kind */
    /* Lower-case hex prefixes of id=, each ID_HEX_MIN..ID_HEX_MAX digits. */
    char artifacts[SIM_TRACE_FILTER_VALUES_MAX]
                  [SIM_TRACE_FILTER_ID_HEX_MAX + 1];
    size_t artifacts_count; /* 0: any line */
    uint64_t from_ns;       /* keep t >= from_ns (0: from the start) */
    uint64_t to_ns; /* keep t < to_ns, when has_to; then to_ns > from_ns */
    bool has_from, has_to;
};

/* The command line once parsed. path is borrowed from argv. */
struct sim_trace_filter_args {
    struct sim_trace_filter filter;
    const char *path; /* the trace; "-" is standard input */
    bool help;        /* --help was given: print usage, nothing else */
};

/* Counts of one sim_trace_filter_stream call. */
struct sim_trace_filter_stats {
    uint64_t lines;   /* lines read, including headers */
    uint64_t matched; /* lines written, including headers */
};

/* Makes f keep every line. */
void sim_trace_filter_init(struct sim_trace_filter *f);

/* Parses `trace [options] FILE` (argv[0] is the command's name and is not
 * read; argv is borrowed and may be permuted by getopt). On success fills
 * *out; with --help, out->help is set and path may be NULL. Returns
 * P2P_ERR_DECODE for an unknown option, a missing or bad value (the message
 * names the flag and the value), --from or --to given twice, --to not after
 * --from, or not exactly one FILE; P2P_ERR_LIMIT for a filter given more
 * than VALUES_MAX values. Resets
 * getopt's state, so it may be called again, and sets opterr to 0 (the
 * messages are its own). */
int sim_trace_filter_parse_args(int argc, char **argv,
                                struct sim_trace_filter_args *out, char *msg,
                                size_t msg_len);

/* Checks one line (line[0..len), borrowed, without its newline; it need
 * not be NUL-terminated) against the trace's line format and, when it is
 * well formed, sets *out_match to whether f keeps it. A line starting with
 * '#' is kept and not checked. An --artifact value matches an id= value
 * when the shorter of the two is a prefix of the longer and they share at
 * least ID_HEX_MIN digits. Returns P2P_ERR_DECODE, with *out_match
 * untouched, when the line is malformed: the message says which field is
 * wrong and how. */
int sim_trace_filter_match_line(const struct sim_trace_filter *f,
                                const char *line, size_t len, bool *out_match,
                                char *msg, size_t msg_len);

/* Copies the lines of `in` that f keeps to `out`, byte for byte (a last
 * line without a newline is written without one). Both streams are
 * borrowed and left open; `out` is flushed. `name` (borrowed) is how errors
 * name the input. Stops at the first error and returns P2P_ERR_DECODE
 * (malformed) or P2P_ERR_OVERSIZE (too long) with "NAME:LINE: reason", or
 * P2P_ERR_READ or P2P_ERR_WRITE with "NAME: reason"; the lines before it
 * have been written. *stats,
 * when not NULL, is filled in either case. */
int sim_trace_filter_stream(const struct sim_trace_filter *f, FILE *in,
                            const char *name, FILE *out,
                            struct sim_trace_filter_stats *stats, char *msg,
                            size_t msg_len);

/* The event kinds a trace may hold: the simulator's own (the table in
 * docs/trace-format.md) and then core's protocol events (--events). Stores
 * up to cap static names in out (borrowed; out may be NULL when cap is 0)
 * and returns how many there are, so a cap below it truncates. --kind
 * takes only these; an unknown value is refused naming the nearest. */
size_t sim_trace_filter_kinds(const char **out, size_t cap);

/* The `p2p-sim trace` command: argv[0] is "trace". Writes matching lines to
 * stdout, usage (for --help) to stdout, errors to stderr. Returns the
 * process's exit status: 0 done (also when no line matched), 2 bad flag,
 * unreadable FILE, malformed or too long line (named FILE:LINE), or a write
 * error. */
int sim_trace_filter_main(int argc, char **argv);

#endif
