/* p2p-sim trace: keeps the lines of a trace that match a filter, one line at
 * a time through fixed buffers (see sim/trace_filter.h). */
#include "sim/trace_filter.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include "conf/errmsg.h"
#include "conf/units.h"
#include "core/assert.h"
#include "core/err.h"
#include "core/outbox.h"
#include "core/types.h"

/* The exit statuses of p2p-sim (sim/main.c). */
enum exit_code { EXIT_OK = 0, EXIT_BAD_INPUT = 2 };

/* Longest piece of a bad value quoted back in a message. */
#define QUOTE_MAX 40

/* Part of a line or of an argument; borrowed. */
struct span {
    const char *s;
    size_t len;
};

/* What the filter reads of one trace line; spans point into the line. */
struct fields {
    uint64_t time_ns;
    uint32_t node;
    struct span kind;
    bool has_peer;
    int64_t peer;   /* -1: the event has no peer */
    struct span id; /* len 0: no id= */
};

/* For "%.*s": how much of a span to quote. */
static int quoted_len(struct span v)
{
    return (int)(v.len < QUOTE_MAX ? v.len : QUOTE_MAX);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static bool span_is(struct span v, const char *word)
{
    return v.len == strlen(word) && memcmp(v.s, word, v.len) == 0;
}

/* v as 1..digits_max decimal digits (digits_max <= 19, so no overflow). */
static bool parse_digits(struct span v, size_t digits_max, uint64_t *out)
{
    uint64_t n = 0;
    P2P_ASSERT(digits_max <= 19);
    if (v.len == 0 || v.len > digits_max)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        if (!is_digit(v.s[i]))
            return false;
        n = n * 10 + (uint64_t)(v.s[i] - '0');
    }
    *out = n;
    return true;
}

/* A node id as the trace prints it ("3"); a leading 'n' ("n3") is accepted
 * when allow_n. */
static bool parse_node(struct span v, bool allow_n, uint32_t *out)
{
    uint64_t n;
    if (allow_n && v.len > 0 && v.s[0] == 'n') {
        v.s++;
        v.len--;
    }
    if (!parse_digits(v, 10, &n) || n > UINT32_MAX)
        return false;
    *out = (uint32_t)n;
    return true;
}

/* peer=: a node id, or -1 for "no peer". */
static bool parse_peer(struct span v, bool allow_n, int64_t *out)
{
    uint32_t node;
    if (span_is(v, "-1")) {
        *out = -1;
        return true;
    }
    if (!parse_node(v, allow_n, &node))
        return false;
    *out = node;
    return true;
}

/* "<seconds>.<9 digits>" -> ns; false when malformed or beyond UINT64_MAX. */
static bool parse_time(struct span v, uint64_t *out_ns)
{
    const char *dot = memchr(v.s, '.', v.len);
    uint64_t sec, frac;
    if (dot == NULL)
        return false;
    struct span whole = {v.s, (size_t)(dot - v.s)};
    struct span part = {dot + 1, v.len - whole.len - 1};
    if (part.len != 9 || !parse_digits(part, 9, &frac) ||
        !parse_digits(whole, 19, &sec))
        return false;
    if (sec > (UINT64_MAX - frac) / P2P_NS_PER_S)
        return false;
    *out_ns = sec * P2P_NS_PER_S + frac;
    return true;
}

/* ---- one line --------------------------------------------------------- */

/* Every byte printable ASCII; fields separated by exactly one space. */
static int check_bytes(const char *line, size_t len, char *msg, size_t msg_len)
{
    if (len == 0) {
        conf_errmsg_set(msg, msg_len, "empty line");
        return P2P_ERR_DECODE;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c > 0x7e) {
            conf_errmsg_set(msg, msg_len,
                            "byte 0x%02x at column %zu is not printable "
                            "ASCII%s",
                            c, i + 1, c == '\r' ? " (CRLF line ends?)" : "");
            return P2P_ERR_DECODE;
        }
        if (c == ' ' && (i == 0 || i == len - 1 || line[i - 1] == ' ')) {
            conf_errmsg_set(msg, msg_len,
                            "empty field at column %zu (fields are "
                            "separated by one space)",
                            i + 1);
            return P2P_ERR_DECODE;
        }
    }
    return 0;
}

/* The field starting at *pos; moves *pos past it and its separator. */
static struct span next_field(const char *line, size_t len, size_t *pos)
{
    const char *start = line + *pos;
    const char *space = memchr(start, ' ', len - *pos);
    struct span v = {start, space ? (size_t)(space - start) : len - *pos};
    *pos += v.len + (space != NULL);
    return v;
}

/* One field after the kind: "key=value", or a bare word (a traffic class,
 * an artifact kind, "idle timeout"). Only peer= and id= are read; other
 * keys are left alone so that new keys do not break the filter. */
static int parse_pair(struct span v, struct fields *out, char *msg,
                      size_t msg_len)
{
    const char *eq = memchr(v.s, '=', v.len);
    if (eq == NULL)
        return 0;
    struct span key = {v.s, (size_t)(eq - v.s)};
    struct span val = {eq + 1, v.len - key.len - 1};
    if (key.len == 0 || val.len == 0) {
        conf_errmsg_set(msg, msg_len, "'%.*s' is not key=value", quoted_len(v),
                        v.s);
        return P2P_ERR_DECODE;
    }
    if (span_is(key, "peer")) {
        if (out->has_peer) {
            conf_errmsg_set(msg, msg_len, "peer= given twice");
            return P2P_ERR_DECODE;
        }
        if (!parse_peer(val, false, &out->peer)) {
            conf_errmsg_set(msg, msg_len, "peer '%.*s' is not a node id or -1",
                            quoted_len(val), val.s);
            return P2P_ERR_DECODE;
        }
        out->has_peer = true;
    } else if (span_is(key, "id")) {
        bool hex = val.len <= SIM_TRACE_FILTER_ID_HEX_MAX;
        for (size_t i = 0; hex && i < val.len; i++)
            hex = is_hex(val.s[i]);
        if (out->id.len > 0) {
            conf_errmsg_set(msg, msg_len, "id= given twice");
            return P2P_ERR_DECODE;
        }
        if (!hex) {
            conf_errmsg_set(msg, msg_len, "id '%.*s' is not 1 to %u hex digits",
                            quoted_len(val), val.s,
                            SIM_TRACE_FILTER_ID_HEX_MAX);
            return P2P_ERR_DECODE;
        }
        out->id = val;
    }
    return 0;
}

/* "<time> n<node> <kind> [field ...]" -> *out. */
static int parse_line(const char *line, size_t len, struct fields *out,
                      char *msg, size_t msg_len)
{
    size_t pos = 0;
    if (check_bytes(line, len, msg, msg_len) != 0)
        return P2P_ERR_DECODE;
    memset(out, 0, sizeof(*out));
    struct span v = next_field(line, len, &pos);
    if (!parse_time(v, &out->time_ns)) {
        conf_errmsg_set(msg, msg_len,
                        "'%.*s' is not a virtual time (<seconds>.<9 "
                        "digits>)",
                        quoted_len(v), v.s);
        return P2P_ERR_DECODE;
    }
    v = next_field(line, len, &pos);
    if (v.len == 0) {
        conf_errmsg_set(msg, msg_len, "missing the node after the time");
        return P2P_ERR_DECODE;
    }
    if (v.s[0] != 'n' || !parse_node(v, true, &out->node)) {
        conf_errmsg_set(msg, msg_len, "'%.*s' is not a node (n<id>)",
                        quoted_len(v), v.s);
        return P2P_ERR_DECODE;
    }
    v = next_field(line, len, &pos);
    if (v.len == 0 || memchr(v.s, '=', v.len) != NULL) {
        conf_errmsg_set(
            msg, msg_len, "missing the event kind after the node%s%.*s%s",
            v.len ? " (found '" : "", quoted_len(v), v.s, v.len ? "')" : "");
        return P2P_ERR_DECODE;
    }
    out->kind = v;
    while (pos < len) {
        if (parse_pair(next_field(line, len, &pos), out, msg, msg_len) != 0)
            return P2P_ERR_DECODE;
    }
    P2P_ASSERT(pos == len);
    return 0;
}

/* The shorter of prefix and id is a prefix of the other, over at least
 * ID_HEX_MIN digits. prefix is lower case; id may not be. */
static bool id_matches(const char *prefix, struct span id)
{
    size_t plen = strlen(prefix);
    size_t n = plen < id.len ? plen : id.len;
    if (n < SIM_TRACE_FILTER_ID_HEX_MIN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (prefix[i] != lower(id.s[i]))
            return false;
    return true;
}

static bool keeps(const struct sim_trace_filter *f, const struct fields *l)
{
    bool any;
    if (l->time_ns < f->from_ns || (f->has_to && l->time_ns >= f->to_ns))
        return false;
    any = f->nodes_count == 0;
    for (size_t i = 0; !any && i < f->nodes_count; i++)
        any = f->nodes[i] == l->node;
    if (!any)
        return false;
    any = f->kinds_count == 0;
    for (size_t i = 0; !any && i < f->kinds_count; i++)
        any = span_is(l->kind, f->kinds[i]);
    if (!any)
        return false;
    any = f->peers_count == 0;
    for (size_t i = 0; !any && l->has_peer && i < f->peers_count; i++)
        any = f->peers[i] == l->peer;
    if (!any)
        return false;
    any = f->artifacts_count == 0;
    for (size_t i = 0; !any && l->id.len > 0 && i < f->artifacts_count; i++)
        any = id_matches(f->artifacts[i], l->id);
    return any;
}

static void invariants(const struct sim_trace_filter *f)
{
    P2P_ASSERT(f->nodes_count <= SIM_TRACE_FILTER_VALUES_MAX);
    P2P_ASSERT(f->peers_count <= SIM_TRACE_FILTER_VALUES_MAX);
    P2P_ASSERT(f->kinds_count <= SIM_TRACE_FILTER_VALUES_MAX);
    P2P_ASSERT(f->artifacts_count <= SIM_TRACE_FILTER_VALUES_MAX);
    P2P_ASSERT(!f->has_to || f->to_ns > f->from_ns);
    P2P_ASSERT(f->has_from || f->from_ns == 0);
    for (size_t i = 0; i < f->artifacts_count; i++) {
        size_t n = strnlen(f->artifacts[i], SIM_TRACE_FILTER_ID_HEX_MAX + 1);
        P2P_ASSERT(n >= SIM_TRACE_FILTER_ID_HEX_MIN &&
                   n <= SIM_TRACE_FILTER_ID_HEX_MAX);
    }
}

void sim_trace_filter_init(struct sim_trace_filter *f)
{
    P2P_ASSERT(f != NULL);
    memset(f, 0, sizeof(*f));
    invariants(f);
}

int sim_trace_filter_match_line(const struct sim_trace_filter *f,
                                const char *line, size_t len, bool *out_match,
                                char *msg, size_t msg_len)
{
    struct fields l;
    P2P_ASSERT(f != NULL && out_match != NULL && (line != NULL || len == 0));
    if (len > 0 && line[0] == '#') {
        *out_match = true;
        return 0;
    }
    if (parse_line(line, len, &l, msg, msg_len) != 0)
        return P2P_ERR_DECODE;
    *out_match = keeps(f, &l);
    return 0;
}

/* ---- the stream ------------------------------------------------------- */

struct reader {
    FILE *in;        /* borrowed */
    size_t pos, end; /* unread bytes: buf[pos..end) */
    bool eof;
    char buf[SIM_TRACE_FILTER_READ_BYTES];
};

enum read_result { READ_LINE, READ_END, READ_TOO_LONG, READ_ERROR };

/* The next line into line[0..*len) (room for LINE_BYTES_MAX bytes), without
 * its newline; *newline says whether one ended it. */
static enum read_result read_line(struct reader *r, char *line, size_t *len,
                                  bool *newline)
{
    size_t n = 0;
    for (;;) {
        if (r->pos == r->end) {
            if (r->eof)
                break;
            r->pos = 0;
            r->end = fread(r->buf, 1, sizeof(r->buf), r->in);
            if (r->end == 0) {
                if (ferror(r->in))
                    return READ_ERROR;
                r->eof = true;
                break;
            }
        }
        const char *start = r->buf + r->pos;
        const char *nl = memchr(start, '\n', r->end - r->pos);
        size_t take = nl != NULL ? (size_t)(nl - start) : r->end - r->pos;
        if (take > SIM_TRACE_FILTER_LINE_BYTES_MAX - n)
            return READ_TOO_LONG;
        memcpy(line + n, start, take);
        n += take;
        r->pos += take + (nl != NULL);
        if (nl != NULL) {
            *len = n;
            *newline = true;
            return READ_LINE;
        }
    }
    if (n == 0)
        return READ_END;
    *len = n;
    *newline = false;
    return READ_LINE;
}

/* Filters one line already read; 0 or -1 with "NAME:LINE: reason". */
static int filter_line(const struct sim_trace_filter *f, const char *line,
                       size_t len, bool newline, FILE *out,
                       struct sim_trace_filter_stats *st, const char *name,
                       char *msg, size_t msg_len)
{
    char reason[160];
    bool match;
    if (sim_trace_filter_match_line(f, line, len, &match, reason,
                                    sizeof(reason)) != 0) {
        conf_errmsg_set(msg, msg_len, "%s:%llu: %s", name,
                        (unsigned long long)st->lines, reason);
        return P2P_ERR_DECODE;
    }
    if (!match)
        return 0;
    st->matched++;
    if (fwrite(line, 1, len, out) != len ||
        (newline && fputc('\n', out) == EOF)) {
        conf_errmsg_set(msg, msg_len, "writing the output failed: %s",
                        strerror(errno));
        return P2P_ERR_WRITE;
    }
    return 0;
}

int sim_trace_filter_stream(const struct sim_trace_filter *f, FILE *in,
                            const char *name, FILE *out,
                            struct sim_trace_filter_stats *stats, char *msg,
                            size_t msg_len)
{
    struct reader r;
    struct sim_trace_filter_stats st = {0, 0};
    char line[SIM_TRACE_FILTER_LINE_BYTES_MAX];
    size_t len = 0;
    bool newline = false;
    enum read_result res = READ_END;
    int rc = 0;
    P2P_ASSERT(f != NULL && in != NULL && name != NULL && out != NULL);
    invariants(f);
    r.in = in;
    r.pos = r.end = 0;
    r.eof = false;
    while (rc == 0 &&
           (res = read_line(&r, line, &len, &newline)) == READ_LINE) {
        st.lines++;
        rc = filter_line(f, line, len, newline, out, &st, name, msg, msg_len);
    }
    if (rc == 0 && res == READ_TOO_LONG) {
        conf_errmsg_set(msg, msg_len,
                        "%s:%llu: line longer than %u bytes (not a trace?)",
                        name, (unsigned long long)st.lines + 1,
                        SIM_TRACE_FILTER_LINE_BYTES_MAX);
        rc = P2P_ERR_OVERSIZE;
    } else if (rc == 0 && res == READ_ERROR) {
        conf_errmsg_set(msg, msg_len, "%s: read failed: %s", name,
                        strerror(errno));
        rc = P2P_ERR_READ;
    }
    if (fflush(out) != 0 && rc == 0) {
        conf_errmsg_set(msg, msg_len, "writing the output failed: %s",
                        strerror(errno));
        rc = P2P_ERR_WRITE;
    }
    if (stats != NULL)
        *stats = st;
    P2P_ASSERT(st.matched <= st.lines);
    return rc;
}

/* ---- the command line ------------------------------------------------- */

/* Adds one value of a list flag; 0, or P2P_ERR_DECODE (P2P_ERR_LIMIT for
 * one value too many) with "FLAG: reason". */
typedef int (*add_value_fn)(struct sim_trace_filter *f, const char *flag,
                            struct span v, char *msg, size_t msg_len);

static bool full(const char *flag, size_t count, char *msg, size_t msg_len)
{
    if (count < SIM_TRACE_FILTER_VALUES_MAX)
        return false;
    conf_errmsg_set(msg, msg_len, "%s: more than %u values", flag,
                    SIM_TRACE_FILTER_VALUES_MAX);
    return true;
}

static int add_node(struct sim_trace_filter *f, const char *flag, struct span v,
                    char *msg, size_t msg_len)
{
    if (full(flag, f->nodes_count, msg, msg_len))
        return P2P_ERR_LIMIT;
    if (!parse_node(v, true, &f->nodes[f->nodes_count])) {
        conf_errmsg_set(msg, msg_len, "%s: '%.*s' is not a node id (3 or n3)",
                        flag, quoted_len(v), v.s);
        return P2P_ERR_DECODE;
    }
    f->nodes_count++;
    return 0;
}

static int add_peer(struct sim_trace_filter *f, const char *flag, struct span v,
                    char *msg, size_t msg_len)
{
    if (full(flag, f->peers_count, msg, msg_len))
        return P2P_ERR_LIMIT;
    if (!parse_peer(v, true, &f->peers[f->peers_count])) {
        conf_errmsg_set(msg, msg_len,
                        "%s: '%.*s' is not a node id (3 or n3) or -1", flag,
                        quoted_len(v), v.s);
        return P2P_ERR_DECODE;
    }
    f->peers_count++;
    return 0;
}

/* ---- event kinds -------------------------------------------------------- */

/* The simulator's own event kinds (docs/trace-format.md's table, in its
 * order), then those of the quic network model (sim/quic_model.c and its
 * faults); core's protocol events (--events) follow, by p2p_event_name. */
static const char *const sim_kinds[] = {
    "create",
    "send",
    "recv",
    "reset",
    "recv_reset",
    "deliver",
    "validate",
    "withdrawn",
    "expire",
    "loss_start",
    "loss_end",
    "dial",
    "conn_up",
    "dial_refused",
    "dial_timeout",
    "conn_close",
    "conn_lost",
    "conn_down",
    "partition",
    "heal",
    "crash",
    "restart",
    "join",
    "registry",
    "registry_earliest",
    "byzantine",
    "checkpoint",
    "height",
    "skew",
    "dgram",
    "dgram_drop",
    "dial_failed",
    "blackhole",
    "blackhole_end",
    "nat_rebind",
};
#define SIM_KINDS_COUNT (sizeof(sim_kinds) / sizeof(sim_kinds[0]))
/* Core's events are numbered from 0 up; p2p_event_name says "?" past the
 * last. This bounds the walk. */
#define CORE_EVENTS_MAX 64u

size_t sim_trace_filter_kinds(const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < SIM_KINDS_COUNT; i++, n++)
        if (n < cap)
            out[n] = sim_kinds[i];
    for (unsigned e = 0; e < CORE_EVENTS_MAX; e++, n++) {
        const char *name = p2p_event_name((enum p2p_event)e);
        if (strcmp(name, "?") == 0)
            break;
        if (n < cap)
            out[n] = name;
    }
    return n;
}

/* Edit distance (insert, delete, substitute: 1 each) between v and word,
 * both at most SIM_TRACE_FILTER_KIND_BYTES_MAX long. */
static size_t edit_distance(struct span v, const char *word)
{
    size_t m = strlen(word);
    size_t row[SIM_TRACE_FILTER_KIND_BYTES_MAX + 1];
    P2P_ASSERT(v.len <= SIM_TRACE_FILTER_KIND_BYTES_MAX &&
               m <= SIM_TRACE_FILTER_KIND_BYTES_MAX);
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= v.len; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (lower(v.s[i - 1]) != word[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

/* The known kind nearest to v: one that v begins (v is a cut-short kind)
 * first, then the fewest edits; ties go to the earlier kind. */
static const char *nearest_kind(struct span v)
{
    const char *kinds[SIM_KINDS_COUNT + CORE_EVENTS_MAX];
    size_t n = sim_trace_filter_kinds(kinds, sizeof(kinds) / sizeof(kinds[0]));
    const char *best = kinds[0];
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        bool prefix = v.len > 0 && v.len < strlen(kinds[i]) &&
                      memcmp(kinds[i], v.s, v.len) == 0;
        /* A prefix counts as one edit: it beats any typo but an exact
         * match, which never gets here. */
        size_t d = prefix ? 1 : edit_distance(v, kinds[i]) + 1;
        if (d < best_d) {
            best_d = d;
            best = kinds[i];
        }
    }
    return best;
}

static bool known_kind(struct span v)
{
    const char *kinds[SIM_KINDS_COUNT + CORE_EVENTS_MAX];
    size_t n = sim_trace_filter_kinds(kinds, sizeof(kinds) / sizeof(kinds[0]));
    for (size_t i = 0; i < n; i++)
        if (span_is(v, kinds[i]))
            return true;
    return false;
}

static int add_kind(struct sim_trace_filter *f, const char *flag, struct span v,
                    char *msg, size_t msg_len)
{
    if (full(flag, f->kinds_count, msg, msg_len))
        return P2P_ERR_LIMIT;
    if (v.len > SIM_TRACE_FILTER_KIND_BYTES_MAX ||
        memchr(v.s, '=', v.len) != NULL || memchr(v.s, ' ', v.len) != NULL) {
        conf_errmsg_set(msg, msg_len,
                        "%s: '%.*s' is not an event kind (a word of at "
                        "most %u characters, such as deliver)",
                        flag, quoted_len(v), v.s,
                        SIM_TRACE_FILTER_KIND_BYTES_MAX);
        return P2P_ERR_DECODE;
    }
    if (!known_kind(v)) {
        conf_errmsg_set(msg, msg_len,
                        "%s: '%.*s' is not an event kind; did you mean "
                        "'%s'?",
                        flag, quoted_len(v), v.s, nearest_kind(v));
        return P2P_ERR_DECODE;
    }
    memcpy(f->kinds[f->kinds_count], v.s, v.len);
    f->kinds[f->kinds_count][v.len] = '\0';
    f->kinds_count++;
    return 0;
}

static int add_artifact(struct sim_trace_filter *f, const char *flag,
                        struct span v, char *msg, size_t msg_len)
{
    bool hex = v.len >= SIM_TRACE_FILTER_ID_HEX_MIN &&
               v.len <= SIM_TRACE_FILTER_ID_HEX_MAX;
    for (size_t i = 0; hex && i < v.len; i++)
        hex = is_hex(v.s[i]);
    if (full(flag, f->artifacts_count, msg, msg_len))
        return P2P_ERR_LIMIT;
    if (!hex) {
        conf_errmsg_set(msg, msg_len,
                        "%s: '%.*s' is not an artifact id prefix (%u to %u "
                        "hex digits)",
                        flag, quoted_len(v), v.s, SIM_TRACE_FILTER_ID_HEX_MIN,
                        SIM_TRACE_FILTER_ID_HEX_MAX);
        return P2P_ERR_DECODE;
    }
    char *dst = f->artifacts[f->artifacts_count++];
    for (size_t i = 0; i < v.len; i++)
        dst[i] = lower(v.s[i]);
    dst[v.len] = '\0';
    return 0;
}

/* arg is a comma list ("1,2,n5"); each element goes through add. */
static int add_list(struct sim_trace_filter *f, const char *flag,
                    const char *arg, add_value_fn add, char *msg,
                    size_t msg_len)
{
    size_t len = strlen(arg), pos = 0;
    for (;;) {
        const char *comma = memchr(arg + pos, ',', len - pos);
        struct span v = {arg + pos,
                         comma ? (size_t)(comma - arg) - pos : len - pos};
        if (v.len == 0) {
            conf_errmsg_set(msg, msg_len, "%s: empty value in '%.*s'", flag,
                            (int)(len < QUOTE_MAX ? len : QUOTE_MAX), arg);
            return P2P_ERR_DECODE;
        }
        int rc = add(f, flag, v, msg, msg_len);
        if (rc != 0)
            return rc;
        if (comma == NULL)
            return 0;
        pos += v.len + 1;
    }
}

static int set_time(const char *flag, const char *arg, bool *has,
                    uint64_t *out_ns, char *msg, size_t msg_len)
{
    char reason[128];
    if (*has) {
        conf_errmsg_set(msg, msg_len, "%s given twice", flag);
        return P2P_ERR_DECODE;
    }
    if (conf_units_parse_duration(arg, out_ns, reason, sizeof(reason)) != 0) {
        conf_errmsg_set(msg, msg_len, "%s: %s", flag, reason);
        return P2P_ERR_DECODE;
    }
    *has = true;
    return 0;
}

/* The flag getopt just refused, for messages. */
static const char *bad_flag(int argc, char **argv)
{
    static char short_flag[3] = "-?";
    if (optind >= 1 && optind <= argc &&
        strncmp(argv[optind - 1], "--", 2) == 0)
        return argv[optind - 1];
    short_flag[1] = optopt > 0 ? (char)optopt : '?';
    return short_flag;
}

/* One option getopt returned; 0 or a P2P_ERR_* with a message. */
static int take_option(int c, int argc, char **argv,
                       struct sim_trace_filter_args *a, char *msg,
                       size_t msg_len)
{
    struct sim_trace_filter *f = &a->filter;
    switch (c) {
    case 'n':
        return add_list(f, "--node", optarg, add_node, msg, msg_len);
    case 'p':
        return add_list(f, "--peer", optarg, add_peer, msg, msg_len);
    case 'k':
        return add_list(f, "--kind", optarg, add_kind, msg, msg_len);
    case 'a':
        return add_list(f, "--artifact", optarg, add_artifact, msg, msg_len);
    case 'f':
        return set_time("--from", optarg, &f->has_from, &f->from_ns, msg,
                        msg_len);
    case 't':
        return set_time("--to", optarg, &f->has_to, &f->to_ns, msg, msg_len);
    case 'h':
        a->help = true;
        return 0;
    case ':':
        conf_errmsg_set(msg, msg_len, "option '%s' needs a value",
                        bad_flag(argc, argv));
        return P2P_ERR_DECODE;
    default:
        conf_errmsg_set(msg, msg_len, "unknown option '%s'",
                        bad_flag(argc, argv));
        return P2P_ERR_DECODE;
    }
}

int sim_trace_filter_parse_args(int argc, char **argv,
                                struct sim_trace_filter_args *out, char *msg,
                                size_t msg_len)
{
    static const struct option longopts[] = {
        {"node", required_argument, NULL, 'n'},
        {"peer", required_argument, NULL, 'p'},
        {"artifact", required_argument, NULL, 'a'},
        {"kind", required_argument, NULL, 'k'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sim_trace_filter_args a;
    P2P_ASSERT(argc >= 1 && argv != NULL && out != NULL);
    memset(&a, 0, sizeof(a));
    sim_trace_filter_init(&a.filter);
    optind = 0; /* reinitialises getopt (glibc, musl) */
    opterr = 0; /* the messages are ours */
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int rc = take_option(c, argc, argv, &a, msg, msg_len);
        if (rc != 0)
            return rc;
        if (a.help) {
            *out = a;
            return 0;
        }
    }
    if (optind != argc - 1) {
        conf_errmsg_set(msg, msg_len,
                        "expected one trace FILE ('-' for standard input), "
                        "got %d",
                        argc - optind);
        return P2P_ERR_DECODE;
    }
    a.path = argv[optind];
    if (a.filter.has_to && a.filter.to_ns <= a.filter.from_ns) {
        char from[32], to[32];
        conf_units_format_duration(a.filter.from_ns, from, sizeof(from));
        conf_units_format_duration(a.filter.to_ns, to, sizeof(to));
        conf_errmsg_set(msg, msg_len,
                        "--to %s is not after --from %s (the window is "
                        "from <= t < to)",
                        to, from);
        return P2P_ERR_DECODE;
    }
    invariants(&a.filter);
    *out = a;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: p2p-sim trace FILE [options]\n"
        "\n"
        "Prints the lines of a trace written by 'p2p-sim run --trace' (format "
        "in\n"
        "docs/trace-format.md) that match every given filter, unchanged and "
        "in\n"
        "order. FILE '-' reads standard input. A filter given several values\n"
        "(repeated, or as a comma list) keeps a line matching any of them.\n"
        "Lines starting with '#' always pass. Exit status: 0 done (also when "
        "no\n"
        "line matched), 2 bad option, unreadable FILE or malformed line "
        "(named\n"
        "as FILE:LINE).\n"
        "\n"
        "options:\n"
        "  --node N[,N...]        events at node N (3 or n3)\n"
        "  --peer N[,N...]        events whose peer= is N (-1: events without "
        "one)\n"
        "  --artifact ID[,ID...]  events whose id= starts with ID (%u to %u "
        "hex\n"
        "                         digits)\n"
        "  --kind K[,K...]        events of kind K (send, recv, deliver, ...)\n"
        "  --from T               events at virtual time T or later (0, 10s, "
        "250ms)\n"
        "  --to T                 events before virtual time T\n"
        "  -h, --help             this text\n",
        SIM_TRACE_FILTER_ID_HEX_MIN, SIM_TRACE_FILTER_ID_HEX_MAX);
    const char *kinds[SIM_KINDS_COUNT + CORE_EVENTS_MAX];
    size_t n = sim_trace_filter_kinds(kinds, sizeof(kinds) / sizeof(kinds[0]));
    fprintf(out, "\nevent kinds (the last %zu with 'p2p-sim run --events'):",
            n - SIM_KINDS_COUNT);
    for (size_t i = 0, col = 80; i < n; i++) {
        size_t w = strlen(kinds[i]) + 1;
        if (col + w > 78) {
            fputs("\n ", out);
            col = 1;
        }
        fprintf(out, " %s", kinds[i]);
        col += w;
    }
    fputc('\n', out);
}

int sim_trace_filter_main(int argc, char **argv)
{
    struct sim_trace_filter_args a;
    char msg[512];
    if (sim_trace_filter_parse_args(argc, argv, &a, msg, sizeof(msg)) != 0) {
        fprintf(stderr,
                "p2p-sim trace: %s\n"
                "(p2p-sim trace --help lists the options and the event "
                "kinds)\n",
                msg);
        return EXIT_BAD_INPUT;
    }
    if (a.help) {
        usage(stdout);
        return EXIT_OK;
    }
    bool is_stdin = strcmp(a.path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : a.path;
    FILE *in = is_stdin ? stdin : fopen(a.path, "r");
    if (in == NULL) {
        fprintf(stderr, "p2p-sim trace: cannot read %s: %s\n", a.path,
                strerror(errno));
        return EXIT_BAD_INPUT;
    }
    int rc = sim_trace_filter_stream(&a.filter, in, name, stdout, NULL, msg,
                                     sizeof(msg));
    if (!is_stdin)
        fclose(in);
    if (rc != 0) {
        fprintf(stderr, "p2p-sim trace: %s\n", msg);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}
