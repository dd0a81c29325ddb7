/* libyaml document helpers: bounded file reads, a pre-pass over the event
 * stream that bounds the work libyaml's document API will do, and checked
 * getters whose problems are worded by the caller's words function. */
#include "conf/yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/errmsg.h"
#include "conf/hex.h"
#include "conf/units.h"
#include "core/assert.h"
#include "core/err.h"

/* A reason from conf/units.h. */
#define REASON_BYTES_MAX 160u
/* First buffer for a file of unknown size; it doubles up to the cap. */
#define READ_CHUNK_BYTES (64u * 1024u)

static const struct conf_yaml_opts DEFAULT_OPTS = {
    .bytes_max = 1u << 20,
    .nodes_max = 1u << 16,
    .depth_max = 8u,
    .located = true,
    .one_line = true,
};

static const struct conf_yaml_opts *opts_of(const struct conf_yaml_doc *d)
{
    return d->opts != NULL ? d->opts : &DEFAULT_OPTS;
}

/* ---- messages -------------------------------------------------------- */

static int mark_line(size_t zero_based)
{
    return zero_based >= (size_t)INT32_MAX ? INT32_MAX : (int)zero_based + 1;
}

int conf_yaml_line(const yaml_node_t *n)
{
    return mark_line(n->start_mark.line);
}

int conf_yaml_column(const yaml_node_t *n)
{
    return mark_line(n->start_mark.column);
}

const char *conf_yaml_what(char *buf, size_t len, const char *prefix,
                           const char *key)
{
    int n = prefix == NULL || prefix[0] == '\0'
                ? snprintf(buf, len, "%s", key)
                : snprintf(buf, len, "%s.%s", prefix, key);
    if (n < 0 && len > 0)
        buf[0] = '\0';
    return buf;
}

/* Copies up to CONF_YAML_QUOTE_BYTES - 1 bytes of text into buf, replacing
 * control bytes, so that file text in a message stays on one line. */
static const char *quote(char buf[CONF_YAML_QUOTE_BYTES], const void *text,
                         size_t len)
{
    const unsigned char *s = text;
    size_t n =
        len < CONF_YAML_QUOTE_BYTES - 1 ? len : CONF_YAML_QUOTE_BYTES - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
    buf[n] = '\0';
    return buf;
}

/* Starts the message: records the place and writes "FILE:LINE: " (or
 * "FILE: " for line 0) when located; returns the bytes written. */
static size_t begin(struct conf_yaml_doc *d, int line, int column)
{
    d->err_line = line;
    d->err_column = column;
    if (d->err == NULL || d->err_len == 0)
        return 0;
    d->err[0] = '\0';
    if (!opts_of(d)->located)
        return 0;
    const char *name = d->name ? d->name : "(input)";
    if (line > 0)
        conf_errmsg_set(d->err, d->err_len, "%s:%d: ", name, line);
    else
        conf_errmsg_set(d->err, d->err_len, "%s: ", name);
    return strnlen(d->err, d->err_len);
}

static void finish(struct conf_yaml_doc *d)
{
    if (opts_of(d)->one_line)
        conf_errmsg_one_line(d->err_len > 0 ? d->err : NULL);
}

/* Reports problem p at (line, column) through the options' words. */
static int report_at(struct conf_yaml_doc *d, int line, int column, int code,
                     struct conf_yaml_problem *p)
{
    P2P_ASSERT(code < 0);
    size_t used = begin(d, line, column);
    if (p->what == NULL)
        p->what = "";
    if (used < d->err_len) {
        conf_yaml_words_fn *words = opts_of(d)->words;
        (words ? words : conf_yaml_words_default)(p, d->err + used,
                                                  d->err_len - used);
    }
    finish(d);
    return code;
}

static const char *type_of(const struct conf_yaml_doc *d, const yaml_node_t *n)
{
    conf_yaml_type_fn *f = opts_of(d)->type_name;
    return n == NULL ? NULL : f ? f(n) : conf_yaml_type_name(n);
}

/* Reports problem p at node n (the whole file when NULL). */
static int report(struct conf_yaml_doc *d, const yaml_node_t *n, int code,
                  struct conf_yaml_problem *p)
{
    if (p->got == NULL)
        p->got = type_of(d, n);
    return report_at(d, n ? conf_yaml_line(n) : 0, n ? conf_yaml_column(n) : 0,
                     code, p);
}

int conf_yaml_vfail(struct conf_yaml_doc *d, const yaml_node_t *at, int code,
                    const char *what, const char *fmt, va_list ap)
{
    P2P_ASSERT(code < 0);
    size_t used = at ? begin(d, conf_yaml_line(at), conf_yaml_column(at))
                     : begin(d, 0, 0);
    if (used < d->err_len && what != NULL && what[0] != '\0') {
        conf_errmsg_append(d->err, d->err_len, "%s: ", what);
        used = strnlen(d->err, d->err_len);
    }
    if (used < d->err_len)
        conf_errmsg_vset(d->err + used, d->err_len - used, fmt, ap);
    finish(d);
    return code;
}

int conf_yaml_fail(struct conf_yaml_doc *d, const yaml_node_t *at, int code,
                   const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conf_yaml_vfail(d, at, code, what, fmt, ap);
    va_end(ap);
    return code;
}

bool conf_yaml_is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (n->data.scalar.length == strlen(nulls[i]) &&
            memcmp(n->data.scalar.value, nulls[i], n->data.scalar.length) == 0)
            return true;
    return false;
}

bool conf_yaml_scalar_is(const yaml_node_t *n, const char *word)
{
    return n->type == YAML_SCALAR_NODE &&
           n->data.scalar.length == strlen(word) &&
           memcmp(n->data.scalar.value, word, n->data.scalar.length) == 0;
}

const char *conf_yaml_type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return conf_yaml_is_null(n) ? "nothing" : "a single value";
    default:
        return "nothing";
    }
}

/* "WHAT: " when there is a what. */
static void say_what(char *buf, size_t len, const char *what)
{
    if (what != NULL && what[0] != '\0')
        conf_errmsg_set(buf, len, "%s: ", what);
    else if (len > 0)
        buf[0] = '\0';
}

void conf_yaml_words_default(const struct conf_yaml_problem *p, char *buf,
                             size_t len)
{
    char q[CONF_YAML_QUOTE_BYTES], what[CONF_YAML_WHAT_BYTES];
    const char *w = p->what;
    unsigned long long count = p->count, limit = p->limit;
    /* Problems of a key name the key in the path: "limits.colour: ". */
    if (p->kind == CONF_YAML_KEY_UNKNOWN || p->kind == CONF_YAML_KEY_TWICE ||
        p->kind == CONF_YAML_KEY_MISSING)
        w = conf_yaml_what(what, sizeof what, p->what,
                           quote(q, p->key, p->key_len));
    say_what(buf, len, w);
    switch (p->kind) {
    case CONF_YAML_OPEN:
        conf_errmsg_append(buf, len, "cannot open: %s", strerror(p->sys_errno));
        break;
    case CONF_YAML_STAT:
        conf_errmsg_append(buf, len, "cannot stat: %s", strerror(p->sys_errno));
        break;
    case CONF_YAML_NOT_REGULAR:
        conf_errmsg_append(buf, len, "not a regular file");
        break;
    case CONF_YAML_READ:
        conf_errmsg_append(buf, len, "cannot read: %s", strerror(p->sys_errno));
        break;
    case CONF_YAML_FILE_SIZE:
        if (count > 0)
            conf_errmsg_append(buf, len,
                               "the file is %llu bytes, more than the limit "
                               "of %llu",
                               count, limit);
        else
            conf_errmsg_append(buf, len,
                               "the file is more than the limit of %llu bytes",
                               limit);
        break;
    case CONF_YAML_NOMEM:
        conf_errmsg_append(buf, len, "out of memory");
        break;
    case CONF_YAML_TEXT:
        conf_errmsg_append(buf, len, "invalid text: %s", p->text);
        break;
    case CONF_YAML_SYNTAX:
        if (p->expected != NULL)
            conf_errmsg_append(buf, len,
                               "YAML syntax error: %s (%s started at line "
                               "%llu)",
                               p->text, p->expected, count);
        else
            conf_errmsg_append(buf, len, "YAML syntax error: %s", p->text);
        break;
    case CONF_YAML_DEPTH:
        conf_errmsg_append(
            buf, len, "lists and mappings nested more than %llu deep", limit);
        break;
    case CONF_YAML_NODES:
        conf_errmsg_append(buf, len,
                           "more than the limit of %llu YAML values, lists "
                           "and mappings",
                           limit);
        break;
    case CONF_YAML_ALIAS:
        if (count > 0)
            conf_errmsg_append(buf, len,
                               "aliases are not supported (this reuses the "
                               "node at line %llu)",
                               count);
        else
            conf_errmsg_append(buf, len, "aliases (*name) are not supported");
        break;
    case CONF_YAML_SECOND_DOCUMENT:
        conf_errmsg_append(buf, len,
                           "a second YAML document (a file holds one)");
        break;
    case CONF_YAML_EMPTY_FILE:
        conf_errmsg_append(buf, len,
                           "the file is empty (expected a mapping: %s)",
                           p->expected);
        break;
    case CONF_YAML_NOT_MAPPING:
        if (p->expected != NULL)
            conf_errmsg_append(buf, len, "expected a mapping (%s), got %s",
                               p->expected, p->got);
        else
            conf_errmsg_append(buf, len, "expected a mapping, got %s", p->got);
        break;
    case CONF_YAML_KEY_NOT_WORD:
        conf_errmsg_append(buf, len, "a key must be a word, got %s", p->got);
        break;
    case CONF_YAML_KEY_UNKNOWN:
        conf_errmsg_append(buf, len, "unknown key (expected %s)", p->expected);
        break;
    case CONF_YAML_KEY_TWICE:
        conf_errmsg_append(buf, len, "given twice (first at line %llu)", count);
        break;
    case CONF_YAML_KEY_MISSING:
        conf_errmsg_append(buf, len, "missing (required)");
        break;
    case CONF_YAML_NOT_LIST:
        conf_errmsg_append(buf, len, "expected a list, got %s", p->got);
        break;
    case CONF_YAML_LIST_EMPTY:
        conf_errmsg_append(buf, len, "the list is empty");
        break;
    case CONF_YAML_LIST_LONG:
        conf_errmsg_append(buf, len,
                           "%llu entries, more than the limit of %llu", count,
                           limit);
        break;
    case CONF_YAML_NOT_SCALAR:
        conf_errmsg_append(buf, len, "expected %s, got %s", p->expected,
                           p->got);
        break;
    case CONF_YAML_VALUE_MISSING:
        conf_errmsg_append(buf, len, "missing value (expected %s)",
                           p->expected);
        break;
    case CONF_YAML_VALUE_LONG:
        conf_errmsg_append(buf, len, "too long (at most %llu bytes)", limit);
        break;
    case CONF_YAML_VALUE_NUL:
        conf_errmsg_append(buf, len, "contains a NUL character");
        break;
    case CONF_YAML_NOT_NUMBER:
        conf_errmsg_append(buf, len, "expected a whole number, got '%s'",
                           quote(q, p->text, strlen(p->text)));
        break;
    case CONF_YAML_NUMBER_LARGE:
        conf_errmsg_append(buf, len, "%s is too large", p->text);
        break;
    case CONF_YAML_RANGE:
        conf_errmsg_append(buf, len, "%s is out of range (%s..%s)", p->text,
                           p->lo, p->hi);
        break;
    case CONF_YAML_NOT_BOOL:
        conf_errmsg_append(buf, len, "expected true or false");
        break;
    case CONF_YAML_NOT_WORD:
        conf_errmsg_append(buf, len, "expected one of %s, got '%s'",
                           p->expected, quote(q, p->text, strlen(p->text)));
        break;
    case CONF_YAML_BAD_UNITS:
        conf_errmsg_append(buf, len, "expected %s (%s)", p->expected, p->text);
        break;
    case CONF_YAML_HEX_LENGTH:
        conf_errmsg_append(buf, len, "expected %s, got %llu characters",
                           p->expected, count);
        break;
    case CONF_YAML_HEX_DIGIT:
        conf_errmsg_append(buf, len, "expected %s; character %llu is not one",
                           p->expected, count);
        break;
    case CONF_YAML_PATH_LONG:
        conf_errmsg_append(
            buf, len, "too long with its folder (at most %llu bytes)", limit);
        break;
    }
}

/* ---- reading --------------------------------------------------------- */

/* Reads fd to its end into a buffer that grows up to bytes_max + 1 (one
 * byte past the cap tells a file that is too large, or grew). */
static int read_all(struct conf_yaml_doc *d, int fd, size_t size_hint,
                    size_t bytes_max, uint8_t **out, size_t *out_len)
{
    struct conf_yaml_problem p = {.kind = CONF_YAML_NOMEM};
    size_t cap = size_hint < bytes_max ? size_hint + 1 : bytes_max + 1;
    size_t len = 0;
    if (cap < READ_CHUNK_BYTES)
        cap =
            READ_CHUNK_BYTES < bytes_max + 1 ? READ_CHUNK_BYTES : bytes_max + 1;
    uint8_t *buf = malloc(cap + 1);
    if (buf == NULL)
        return report(d, NULL, P2P_ERR_NOMEM, &p);
    for (;;) {
        if (len == cap) {
            if (cap > bytes_max)
                break; /* one byte past the cap: too large */
            size_t next = cap > bytes_max / 2 ? bytes_max + 1 : cap * 2;
            uint8_t *grown = realloc(buf, next + 1);
            if (grown == NULL) {
                free(buf);
                return report(d, NULL, P2P_ERR_NOMEM, &p);
            }
            buf = grown;
            cap = next;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            p = (struct conf_yaml_problem){.kind = CONF_YAML_READ,
                                           .sys_errno = errno};
            free(buf);
            return report(d, NULL, P2P_ERR_READ, &p);
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len > bytes_max) {
        free(buf);
        p = (struct conf_yaml_problem){.kind = CONF_YAML_FILE_SIZE,
                                       .limit = bytes_max};
        return report(d, NULL, P2P_ERR_OVERSIZE, &p);
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    return 0;
}

int conf_yaml_read_file(const char *path, const struct conf_yaml_opts *opts,
                        uint8_t **out, size_t *out_len, char *err,
                        size_t err_len)
{
    struct conf_yaml_doc d = {
        .opts = opts, .name = path, .err = err, .err_len = err_len};
    struct conf_yaml_problem p = {.kind = CONF_YAML_OPEN};
    size_t bytes_max = opts_of(&d)->bytes_max;
    struct stat st;
    int rc;
    P2P_ASSERT(path != NULL && out != NULL && out_len != NULL);
    P2P_ASSERT(bytes_max < SIZE_MAX - 2);
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    /* O_NONBLOCK unless other files are read too: opening a FIFO must not
     * wait for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC |
                            (opts_of(&d)->any_file ? 0 : O_NONBLOCK));
    if (fd < 0) {
        p.sys_errno = errno;
        return report(&d, NULL, P2P_ERR_READ, &p);
    }
    if (fstat(fd, &st) != 0) {
        p = (struct conf_yaml_problem){.kind = CONF_YAML_STAT,
                                       .sys_errno = errno};
        rc = report(&d, NULL, P2P_ERR_READ, &p);
        goto fail_close;
    }
    if (!S_ISREG(st.st_mode) && !opts_of(&d)->any_file) {
        p = (struct conf_yaml_problem){.kind = CONF_YAML_NOT_REGULAR};
        rc = report(&d, NULL, P2P_ERR_READ, &p);
        goto fail_close;
    }
    size_t hint = 0;
    if (S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > bytes_max) {
            p = (struct conf_yaml_problem){.kind = CONF_YAML_FILE_SIZE,
                                           .count = (uint64_t)st.st_size,
                                           .limit = bytes_max};
            rc = report(&d, NULL, P2P_ERR_OVERSIZE, &p);
            goto fail_close;
        }
        hint = (size_t)st.st_size;
    }
    rc = read_all(&d, fd, hint, bytes_max, out, out_len);
fail_close:
    close(fd);
    return rc;
}

/* ---- the pre-pass and loading ---------------------------------------- */

static int syntax_error(struct conf_yaml_doc *d, const yaml_parser_t *p,
                        const uint8_t *data, size_t len)
{
    struct conf_yaml_problem pr = {.kind = CONF_YAML_NOMEM};
    if (p->error == YAML_MEMORY_ERROR)
        return report(d, NULL, P2P_ERR_NOMEM, &pr);
    if (p->error == YAML_READER_ERROR) {
        size_t line = 0, column = 0;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            column = data[i] == '\n' ? 0 : column + 1;
            line += data[i] == '\n';
        }
        pr = (struct conf_yaml_problem){
            .kind = CONF_YAML_TEXT,
            .text = p->problem ? p->problem : "unreadable input"};
        return report_at(d, mark_line(line), mark_line(column), P2P_ERR_DECODE,
                         &pr);
    }
    pr = (struct conf_yaml_problem){
        .kind = CONF_YAML_SYNTAX,
        .text = p->problem ? p->problem : "malformed YAML",
        .expected = p->context,
        .count = (uint64_t)mark_line(p->context_mark.line)};
    return report_at(d, mark_line(p->problem_mark.line),
                     mark_line(p->problem_mark.column), P2P_ERR_DECODE, &pr);
}

/* What the pre-pass has seen so far. */
struct scan {
    size_t nodes, depth, documents;
};

/* Checks one event; 0, or the error reported. */
static int scan_event(struct conf_yaml_doc *d, struct scan *s,
                      const yaml_event_t *e)
{
    const struct conf_yaml_opts *o = opts_of(d);
    struct conf_yaml_problem p = {.kind = CONF_YAML_SECOND_DOCUMENT};
    int line = mark_line(e->start_mark.line);
    int column = mark_line(e->start_mark.column);
    yaml_event_type_t type = e->type;
    bool node = type == YAML_SCALAR_EVENT ||
                type == YAML_SEQUENCE_START_EVENT ||
                type == YAML_MAPPING_START_EVENT || type == YAML_ALIAS_EVENT;
    if (type == YAML_DOCUMENT_START_EVENT && ++s->documents > 1 &&
        !o->second_document_at_node)
        return report_at(d, line, column, P2P_ERR_DECODE, &p);
    if (node && s->documents > 1)
        return report_at(d, line, column, P2P_ERR_DECODE, &p);
    if (type == YAML_ALIAS_EVENT && !o->aliases_at_walk) {
        p = (struct conf_yaml_problem){.kind = CONF_YAML_ALIAS};
        return report_at(d, line, column, P2P_ERR_DECODE, &p);
    }
    s->nodes += node;
    if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
        s->depth++;
    if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
        s->depth--;
    if (s->depth > o->depth_max) {
        p = (struct conf_yaml_problem){.kind = CONF_YAML_DEPTH,
                                       .limit = o->depth_max};
        return report_at(d, line, column, P2P_ERR_LIMIT, &p);
    }
    if (s->nodes > o->nodes_max) {
        p = (struct conf_yaml_problem){.kind = CONF_YAML_NODES,
                                       .limit = o->nodes_max};
        return report_at(d, line, column, P2P_ERR_LIMIT, &p);
    }
    return 0;
}

/* Walks the event stream once, before the document API builds anything:
 * counts nodes and depth (libyaml's scanner slows down with the square of
 * the depth), refuses aliases (a node reached twice would let a small file
 * expand into a huge walk) unless the walk refuses them, and a second
 * document (which yaml_parser_load would silently leave unread). */
static int scan_events(struct conf_yaml_doc *d, const uint8_t *data, size_t len)
{
    struct conf_yaml_problem p = {.kind = CONF_YAML_NOMEM};
    struct scan s = {0};
    yaml_parser_t parser;
    yaml_event_t event;
    int rc = 0;
    if (!yaml_parser_initialize(&parser))
        return report(d, NULL, P2P_ERR_NOMEM, &p);
    yaml_parser_set_input_string(&parser, data, len);
    for (;;) {
        if (!yaml_parser_parse(&parser, &event)) {
            rc = syntax_error(d, &parser, data, len);
            break;
        }
        bool end = event.type == YAML_STREAM_END_EVENT;
        rc = end ? 0 : scan_event(d, &s, &event);
        yaml_event_delete(&event);
        if (end || rc != 0)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

int conf_yaml_load(struct conf_yaml_doc *d, const uint8_t *data, size_t len,
                   const char *name, const struct conf_yaml_opts *opts,
                   char *err, size_t err_len)
{
    yaml_parser_t parser;
    int rc;
    P2P_ASSERT(d != NULL && (data != NULL || len == 0));
    memset(d, 0, sizeof *d);
    d->opts = opts;
    d->name = name;
    d->err = err;
    d->err_len = err_len;
    struct conf_yaml_problem p = {.kind = CONF_YAML_FILE_SIZE,
                                  .count = len,
                                  .limit = opts_of(d)->bytes_max};
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (len > p.limit)
        return report(d, NULL, P2P_ERR_OVERSIZE, &p);
    if (data == NULL)
        data = (const uint8_t *)"";
    if ((rc = scan_events(d, data, len)) != 0)
        return rc;
    p = (struct conf_yaml_problem){.kind = CONF_YAML_NOMEM};
    if (!yaml_parser_initialize(&parser))
        return report(d, NULL, P2P_ERR_NOMEM, &p);
    yaml_parser_set_input_string(&parser, data, len);
    if (!yaml_parser_load(&parser, &d->doc)) {
        rc = syntax_error(d, &parser, data, len);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_parser_delete(&parser);
    d->loaded = true;
    d->nodes_count = (size_t)(d->doc.nodes.top - d->doc.nodes.start);
    if (opts_of(d)->aliases_at_walk) {
        d->taken = calloc(d->nodes_count ? d->nodes_count : 1, 1);
        if (d->taken == NULL) {
            conf_yaml_fini(d);
            return report(d, NULL, P2P_ERR_NOMEM, &p);
        }
    }
    return 0;
}

void conf_yaml_fini(struct conf_yaml_doc *d)
{
    if (d == NULL)
        return;
    free(d->taken);
    d->taken = NULL;
    if (d->loaded)
        yaml_document_delete(&d->doc);
    d->loaded = false;
}

/* Returns node `index` of the document; when the walk refuses aliases,
 * marks it, and refuses one reached before (reported at `from`). */
static int take(struct conf_yaml_doc *d, int index, const yaml_node_t *from,
                yaml_node_t **out)
{
    yaml_node_t *n = yaml_document_get_node(&d->doc, index);
    P2P_ASSERT(n != NULL);
    if (d->taken != NULL) {
        size_t i = (size_t)(n - d->doc.nodes.start);
        P2P_ASSERT(i < d->nodes_count);
        if (d->taken[i]) {
            struct conf_yaml_problem p = {.kind = CONF_YAML_ALIAS,
                                          .count = (uint64_t)conf_yaml_line(n)};
            return report(d, from, P2P_ERR_DECODE, &p);
        }
        d->taken[i] = 1;
    }
    *out = n;
    return 0;
}

yaml_node_t *conf_yaml_root(struct conf_yaml_doc *d)
{
    P2P_ASSERT(d->loaded);
    yaml_node_t *root = yaml_document_get_root_node(&d->doc);
    if (root != NULL && d->taken != NULL)
        d->taken[root - d->doc.nodes.start] = 1;
    return root;
}

yaml_node_t *conf_yaml_root_map(struct conf_yaml_doc *d, const char *expected)
{
    struct conf_yaml_problem p = {.kind = CONF_YAML_EMPTY_FILE,
                                  .expected = expected};
    yaml_node_t *root = conf_yaml_root(d);
    if (root == NULL || conf_yaml_is_null(root)) {
        report(d, NULL, P2P_ERR_DECODE, &p);
        return NULL;
    }
    if (root->type != YAML_MAPPING_NODE) {
        p.kind = CONF_YAML_NOT_MAPPING;
        report(d, root, P2P_ERR_DECODE, &p);
        return NULL;
    }
    return root;
}

/* ---- structure ------------------------------------------------------- */

/* "a, b, c" into buf[0..len), cut to fit. */
static const char *word_list(char *buf, size_t len, const char *const *words,
                             size_t count)
{
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++)
        conf_errmsg_append(buf, len, "%s%s", i ? ", " : "", words[i]);
    return buf;
}

int conf_yaml_map(struct conf_yaml_doc *d, const yaml_node_t *map,
                  const char *where, const char *const *keys, size_t keys_count,
                  yaml_node_t **vals)
{
    const yaml_node_t *key_nodes[CONF_YAML_MAP_KEYS_MAX] = {0};
    struct conf_yaml_problem p = {.kind = CONF_YAML_NOT_MAPPING, .what = where};
    char expected[256];
    int rc;
    P2P_ASSERT(keys_count <= CONF_YAML_MAP_KEYS_MAX);
    for (size_t i = 0; i < keys_count; i++)
        vals[i] = NULL;
    if (map->type != YAML_MAPPING_NODE)
        return report(d, map, P2P_ERR_DECODE, &p);
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k, *v;
        if ((rc = take(d, pair->key, map, &k)) != 0 ||
            (rc = take(d, pair->value, k, &v)) != 0)
            return rc;
        if (k->type != YAML_SCALAR_NODE) {
            p.kind = CONF_YAML_KEY_NOT_WORD;
            return report(d, k, P2P_ERR_DECODE, &p);
        }
        p.key = (const char *)k->data.scalar.value;
        p.key_len = k->data.scalar.length;
        size_t i = 0;
        while (i < keys_count && !conf_yaml_scalar_is(k, keys[i]))
            i++;
        if (i == keys_count) {
            p.kind = CONF_YAML_KEY_UNKNOWN;
            p.expected = word_list(expected, sizeof expected, keys, keys_count);
            return report(d, k, P2P_ERR_DECODE, &p);
        }
        if (key_nodes[i] != NULL) {
            p.kind = CONF_YAML_KEY_TWICE;
            p.count = (uint64_t)conf_yaml_line(key_nodes[i]);
            return report(d, k, P2P_ERR_DECODE, &p);
        }
        key_nodes[i] = k;
        vals[i] = v;
    }
    return 0;
}

int conf_yaml_missing(struct conf_yaml_doc *d, const yaml_node_t *map,
                      const char *where, const char *key)
{
    struct conf_yaml_problem p = {.kind = CONF_YAML_KEY_MISSING,
                                  .what = where,
                                  .key = key,
                                  .key_len = strlen(key)};
    p.got = type_of(d, map);
    return report(d, map, P2P_ERR_DECODE, &p);
}

int conf_yaml_seq(struct conf_yaml_doc *d, const yaml_node_t *n,
                  const char *what, unsigned flags, size_t max, size_t *count)
{
    struct conf_yaml_problem p = {.kind = CONF_YAML_NOT_LIST, .what = what};
    if ((flags & CONF_YAML_SEQ_NULL_EMPTY) && conf_yaml_is_null(n)) {
        if (flags & CONF_YAML_SEQ_NOT_EMPTY) {
            p.kind = CONF_YAML_LIST_EMPTY;
            return report(d, n, P2P_ERR_DECODE, &p);
        }
        *count = 0;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return report(d, n, P2P_ERR_DECODE, &p);
    size_t c =
        (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (c == 0 && (flags & CONF_YAML_SEQ_NOT_EMPTY)) {
        p.kind = CONF_YAML_LIST_EMPTY;
        return report(d, n, P2P_ERR_DECODE, &p);
    }
    if (c > max) {
        p.kind = CONF_YAML_LIST_LONG;
        p.count = c;
        p.limit = max;
        return report(d, n, P2P_ERR_LIMIT, &p);
    }
    *count = c;
    return 0;
}

int conf_yaml_seq_item(struct conf_yaml_doc *d, const yaml_node_t *n, size_t i,
                       yaml_node_t **out)
{
    P2P_ASSERT(n->type == YAML_SEQUENCE_NODE);
    P2P_ASSERT(i < (size_t)(n->data.sequence.items.top -
                            n->data.sequence.items.start));
    return take(d, n->data.sequence.items.start[i], n, out);
}

/* ---- scalars --------------------------------------------------------- */

/* Copies scalar n into buf as a C string; `noun` says what was expected. */
static int scalar_text(struct conf_yaml_doc *d, const yaml_node_t *n,
                       const char *what, const char *noun, char *buf,
                       size_t len)
{
    struct conf_yaml_problem p = {
        .kind = CONF_YAML_NOT_SCALAR, .what = what, .expected = noun};
    if (n->type != YAML_SCALAR_NODE)
        return report(d, n, P2P_ERR_DECODE, &p);
    size_t l = n->data.scalar.length;
    /* "key:", "key: ~", "key: ''" */
    if (!opts_of(d)->empty_is_value && (l == 0 || conf_yaml_is_null(n))) {
        p.kind = CONF_YAML_VALUE_MISSING;
        return report(d, n, P2P_ERR_DECODE, &p);
    }
    if (l >= len) {
        p.kind = CONF_YAML_VALUE_LONG;
        p.limit = len - 1;
        return report(d, n, P2P_ERR_DECODE, &p);
    }
    if (memchr(n->data.scalar.value, '\0', l) != NULL) {
        p.kind = CONF_YAML_VALUE_NUL;
        return report(d, n, P2P_ERR_DECODE, &p);
    }
    memcpy(buf, n->data.scalar.value, l);
    buf[l] = '\0';
    return 0;
}

int conf_yaml_text(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *noun, char *buf, size_t len)
{
    return scalar_text(d, n, what, noun, buf, len);
}

int conf_yaml_string(struct conf_yaml_doc *d, const yaml_node_t *n,
                     const char *what, char *buf, size_t len)
{
    return scalar_text(d, n, what, "a value", buf, len);
}

int conf_yaml_u64(struct conf_yaml_doc *d, const yaml_node_t *n,
                  const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
    static const char noun[] = "a whole number";
    struct conf_yaml_problem p = {
        .kind = CONF_YAML_VALUE_MISSING, .what = what, .expected = noun};
    char buf[CONF_YAML_VALUE_BYTES_MAX], lo[24], hi[24];
    uint64_t v = 0;
    int rc = scalar_text(d, n, what, noun, buf, sizeof buf);
    if (rc != 0)
        return rc;
    if (buf[0] == '\0')
        return report(d, n, P2P_ERR_DECODE, &p);
    p.text = buf;
    for (const char *c = buf; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') {
            p.kind = CONF_YAML_NOT_NUMBER;
            return report(d, n, P2P_ERR_DECODE, &p);
        }
        uint64_t digit = (uint64_t)(*c - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            p.kind = CONF_YAML_NUMBER_LARGE;
            return report(d, n, P2P_ERR_DECODE, &p);
        }
        v = v * 10 + digit;
    }
    if (v < min || v > max) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        snprintf(lo, sizeof lo, "%llu", (unsigned long long)min);
        snprintf(hi, sizeof hi, "%llu", (unsigned long long)max);
        p.kind = CONF_YAML_RANGE;
        p.lo = lo;
        p.hi = hi;
        return report(d, n, P2P_ERR_DECODE, &p);
    }
    *out = v;
    return 0;
}

int conf_yaml_bool(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    struct conf_yaml_problem p = {.kind = CONF_YAML_NOT_BOOL, .what = what};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (conf_yaml_scalar_is(n, yes[i]) || conf_yaml_scalar_is(n, no[i])) {
            *out = conf_yaml_scalar_is(n, yes[i]);
            return 0;
        }
    }
    return report(d, n, P2P_ERR_DECODE, &p);
}

int conf_yaml_word(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *const *words, size_t count,
                   const char *expected, size_t *index)
{
    char list[128], one_of[136];
    struct conf_yaml_problem p = {.kind = CONF_YAML_NOT_WORD, .what = what};
    for (size_t i = 0; i < count; i++) {
        if (conf_yaml_scalar_is(n, words[i])) {
            *index = i;
            return 0;
        }
    }
    if (expected == NULL)
        expected = word_list(list, sizeof list, words, count);
    if (n->type != YAML_SCALAR_NODE) {
        /* "expected one of a, b, got a list" */
        snprintf(one_of, sizeof one_of, "%s%s",
                 expected == list ? "one of " : "", expected);
        p.kind = CONF_YAML_NOT_SCALAR;
        p.expected = one_of;
        return report(d, n, P2P_ERR_DECODE, &p);
    }
    /* The value as written, cut to fit; a NUL byte would end it early. */
    char text[CONF_YAML_VALUE_BYTES_MAX];
    size_t l = n->data.scalar.length < sizeof text - 1 ? n->data.scalar.length
                                                       : sizeof text - 1;
    for (size_t i = 0; i < l; i++)
        text[i] =
            n->data.scalar.value[i] == 0 ? '?' : (char)n->data.scalar.value[i];
    text[l] = '\0';
    p.text = text;
    p.expected = expected;
    return report(d, n, P2P_ERR_DECODE, &p);
}

/* ---- quantities with units ------------------------------------------- */

/* One family of conf/units.h: its parser, printer and default noun. */
struct unit_kind {
    const char *noun;
    int (*parse)(const char *s, uint64_t *out, char *msg, size_t msg_len);
    void (*format)(uint64_t v, char *buf, size_t len);
};

static const struct unit_kind SIZE_UNITS = {
    "a size such as 64MiB", conf_units_parse_size, conf_units_format_size};
static const struct unit_kind DURATION_UNITS = {"a duration such as 5s",
                                                conf_units_parse_duration,
                                                conf_units_format_duration};
static const struct unit_kind BANDWIDTH_UNITS = {
    "a bandwidth such as 1Gbit", conf_units_parse_bandwidth, NULL};
static const struct unit_kind RATE_UNITS = {"a rate such as 100/s",
                                            conf_units_parse_rate, NULL};

/* Reads scalar n as text for a quantity: its text in buf, or an error. */
static int units_text(struct conf_yaml_doc *d, const yaml_node_t *n,
                      const char *what, const char *noun,
                      char buf[CONF_YAML_VALUE_BYTES_MAX])
{
    return scalar_text(d, n, what, noun, buf, CONF_YAML_VALUE_BYTES_MAX);
}

static int bad_units(struct conf_yaml_doc *d, const yaml_node_t *n,
                     const char *what, const char *noun, const char *reason)
{
    struct conf_yaml_problem p = {.kind = CONF_YAML_BAD_UNITS,
                                  .what = what,
                                  .expected = noun,
                                  .text = reason};
    return report(d, n, P2P_ERR_DECODE, &p);
}

static int with_units(struct conf_yaml_doc *d, const yaml_node_t *n,
                      const char *what, const struct unit_kind *k,
                      const struct conf_yaml_quantity *q, uint64_t *out)
{
    char buf[CONF_YAML_VALUE_BYTES_MAX], reason[REASON_BYTES_MAX];
    char lo[32], hi[32], got[32];
    const char *noun = q->noun != NULL ? q->noun : k->noun;
    uint64_t v;
    int rc = units_text(d, n, what, noun, buf);
    if (rc != 0)
        return rc;
    if (k->parse(buf, &v, reason, sizeof reason) != 0)
        return bad_units(d, n, what, noun, reason);
    if (v < q->min || v > q->max) {
        struct conf_yaml_problem p = {.kind = CONF_YAML_RANGE,
                                      .what = what,
                                      .text = got,
                                      .lo = lo,
                                      .hi = hi};
        if (k->format != NULL) {
            k->format(v, got, sizeof got);
            k->format(q->min, lo, sizeof lo);
            k->format(q->max, hi, sizeof hi);
        } else {
            snprintf(got, sizeof got, "%llu", (unsigned long long)v);
            snprintf(lo, sizeof lo, "%llu", (unsigned long long)q->min);
            snprintf(hi, sizeof hi, "%llu", (unsigned long long)q->max);
        }
        return report(d, n, P2P_ERR_DECODE, &p);
    }
    *out = v;
    return 0;
}

int conf_yaml_size(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const struct conf_yaml_quantity *q,
                   uint64_t *out)
{
    return with_units(d, n, what, &SIZE_UNITS, q, out);
}

int conf_yaml_duration(struct conf_yaml_doc *d, const yaml_node_t *n,
                       const char *what, const struct conf_yaml_quantity *q,
                       uint64_t *out)
{
    return with_units(d, n, what, &DURATION_UNITS, q, out);
}

int conf_yaml_bandwidth(struct conf_yaml_doc *d, const yaml_node_t *n,
                        const char *what, const struct conf_yaml_quantity *q,
                        uint64_t *out)
{
    return with_units(d, n, what, &BANDWIDTH_UNITS, q, out);
}

int conf_yaml_rate(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const struct conf_yaml_quantity *q,
                   uint64_t *out)
{
    return with_units(d, n, what, &RATE_UNITS, q, out);
}

int conf_yaml_percent(struct conf_yaml_doc *d, const yaml_node_t *n,
                      const char *what, const char *noun, uint32_t *out)
{
    char buf[CONF_YAML_VALUE_BYTES_MAX], reason[REASON_BYTES_MAX];
    noun = noun != NULL ? noun : "a percentage such as 0.5%";
    int rc = units_text(d, n, what, noun, buf);
    if (rc == 0 && conf_units_parse_percent(buf, out, reason, sizeof reason))
        rc = bad_units(d, n, what, noun, reason);
    return rc;
}

/* A signed quantity: parse is conf_units_parse_offset or _ppm. */
static int signed_units(struct conf_yaml_doc *d, const yaml_node_t *n,
                        const char *what, const char *noun,
                        int (*parse)(const char *, int64_t *, char *, size_t),
                        int64_t *out)
{
    char buf[CONF_YAML_VALUE_BYTES_MAX], reason[REASON_BYTES_MAX];
    int rc = units_text(d, n, what, noun, buf);
    if (rc == 0 && parse(buf, out, reason, sizeof reason) != 0)
        rc = bad_units(d, n, what, noun, reason);
    return rc;
}

int conf_yaml_offset(struct conf_yaml_doc *d, const yaml_node_t *n,
                     const char *what, const char *noun, int64_t *out)
{
    return signed_units(d, n, what, noun ? noun : "a duration such as -2s",
                        conf_units_parse_offset, out);
}

int conf_yaml_ppm(struct conf_yaml_doc *d, const yaml_node_t *n,
                  const char *what, const char *noun, int64_t *out)
{
    return signed_units(d, n, what, noun ? noun : "a ppm value such as 100ppm",
                        conf_units_parse_ppm, out);
}

/* ---- hex, paths ------------------------------------------------------ */

int conf_yaml_hex(struct conf_yaml_doc *d, const yaml_node_t *n,
                  const char *what, const char *noun, uint8_t *out,
                  size_t out_len, char *hex)
{
    char buf[2 * CONF_YAML_VALUE_BYTES_MAX + 1];
    uint8_t bytes[CONF_YAML_VALUE_BYTES_MAX];
    struct conf_yaml_problem p = {
        .kind = CONF_YAML_HEX_LENGTH, .what = what, .expected = noun};
    size_t bad_at;
    P2P_ASSERT(out_len <= CONF_YAML_VALUE_BYTES_MAX);
    /* Room to say how long a wrong one is. */
    int rc = scalar_text(d, n, what, noun, buf, 2 * CONF_YAML_VALUE_BYTES_MAX);
    if (rc != 0)
        return rc;
    size_t len = strlen(buf);
    if (conf_hex_decode(buf, len, bytes, out_len, &bad_at) != 0) {
        if (len == 2 * out_len) {
            p.kind = CONF_YAML_HEX_DIGIT;
            p.count = bad_at + 1;
        } else {
            p.count = len;
        }
        return report(d, n, P2P_ERR_DECODE, &p);
    }
    memcpy(out, bytes, out_len);
    if (hex != NULL)
        conf_hex_encode(bytes, out_len, hex, 2 * out_len + 1);
    return 0;
}

int conf_yaml_path(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *base_dir, char *out,
                   size_t len)
{
    struct conf_yaml_problem p = {.kind = CONF_YAML_NOMEM, .what = what};
    char *buf = malloc(len);
    if (buf == NULL)
        return report(d, n, P2P_ERR_NOMEM, &p);
    int rc = scalar_text(d, n, what, "a path", buf, len);
    if (rc == 0) {
        int w = buf[0] == '/' || base_dir[0] == '\0'
                    ? snprintf(out, len, "%s", buf)
                : strcmp(base_dir, "/") == 0
                    ? snprintf(out, len, "/%s", buf)
                    : snprintf(out, len, "%s/%s", base_dir, buf);
        if (w < 0 || (size_t)w >= len) {
            p.kind = CONF_YAML_PATH_LONG;
            p.limit = len - 1;
            rc = report(d, n, P2P_ERR_DECODE, &p);
        }
    }
    free(buf);
    return rc;
}

int conf_yaml_dir_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= len)
        return P2P_ERR_OVERSIZE;
    memcpy(out, path, n);
    out[n] = '\0';
    return 0;
}
