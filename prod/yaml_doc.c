/* libyaml document helpers for the replica's loaders: bounded file reads,
 * a pre-pass over the event stream that bounds the work libyaml's document
 * API will do, and checked scalar getters with "file:line: key: message"
 * errors. */
#include "prod/yaml_doc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/err.h"
#include "sim/units.h"

/* Longest scalar taken for a number, size, duration or word. */
#define VALUE_BYTES_MAX 64u
/* Longest piece of file text quoted in a message. */
#define QUOTE_BYTES_MAX 48u
/* A reason from sim/units.h or the address parser. */
#define REASON_BYTES_MAX 160u

/* ---- messages -------------------------------------------------------- */

int prod_yaml_line(const yaml_node_t *n)
{
    size_t l = n->start_mark.line;
    return l >= (size_t)INT32_MAX ? INT32_MAX : (int)l + 1;
}

static int mark_line(size_t zero_based)
{
    return zero_based >= (size_t)INT32_MAX ? INT32_MAX : (int)zero_based + 1;
}

/* Writes the message; line 0 means "no line". A message cut to fit the
 * buffer stays NUL-terminated. */
static int vfail(const struct prod_yaml_doc *d, int line, int code,
                 const char *what, const char *fmt, va_list ap)
{
    P2P_ASSERT(code < 0);
    if (d->err == NULL || d->err_len == 0)
        return code;
    const char *name = d->name ? d->name : "(input)";
    int n = line > 0 ? snprintf(d->err, d->err_len, "%s:%d: ", name, line)
                     : snprintf(d->err, d->err_len, "%s: ", name);
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used < d->err_len && what != NULL && what[0] != '\0') {
        n = snprintf(d->err + used, d->err_len - used, "%s: ", what);
        used += n < 0 ? 0 : (size_t)n;
    }
    if (used < d->err_len)
        vsnprintf(d->err + used, d->err_len - used, fmt, ap);
    /* File text (a path, a key) may carry control bytes: one line only. */
    for (char *p = d->err; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return code;
}

int prod_yaml_fail(const struct prod_yaml_doc *d, const yaml_node_t *at,
                   int code, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(d, at ? prod_yaml_line(at) : 0, code, what, fmt, ap);
    va_end(ap);
    return code;
}

#ifdef __GNUC__
__attribute__((format(printf, 5, 6)))
#endif
static int fail_line(const struct prod_yaml_doc *d, int line, int code,
                     const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(d, line, code, what, fmt, ap);
    va_end(ap);
    return code;
}

const char *prod_yaml_what(char *buf, size_t len, const char *prefix,
                           const char *key)
{
    int n = prefix[0] == '\0' ? snprintf(buf, len, "%s", key)
                              : snprintf(buf, len, "%s.%s", prefix, key);
    if (n < 0 && len > 0)
        buf[0] = '\0';
    return buf;
}

/* Copies up to QUOTE_BYTES_MAX - 1 bytes of text into buf, replacing
 * control bytes, so that file text in a message stays on one line. */
static const char *quote(char buf[QUOTE_BYTES_MAX], const void *text,
                         size_t len)
{
    const unsigned char *s = text;
    size_t n = len < QUOTE_BYTES_MAX - 1 ? len : QUOTE_BYTES_MAX - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
    buf[n] = '\0';
    return buf;
}

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return prod_yaml_is_null(n) ? "nothing" : "a single value";
    default:
        return "nothing";
    }
}

bool prod_yaml_is_null(const yaml_node_t *n)
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

static bool scalar_is(const yaml_node_t *n, const char *word)
{
    return n->type == YAML_SCALAR_NODE &&
           n->data.scalar.length == strlen(word) &&
           memcmp(n->data.scalar.value, word, n->data.scalar.length) == 0;
}

/* ---- reading and parsing --------------------------------------------- */

int prod_yaml_read_file(const char *path, size_t bytes_max, uint8_t **out,
                        size_t *out_len, char *err, size_t err_len)
{
    struct prod_yaml_doc d = {.name = path, .err = err, .err_len = err_len};
    struct stat st;
    int rc;
    P2P_ASSERT(path != NULL && out != NULL && out_len != NULL);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fail_line(&d, 0, P2P_ERR_READ, NULL, "cannot open: %s",
                         strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = fail_line(&d, 0, P2P_ERR_READ, NULL, "cannot stat: %s",
                       strerror(errno));
        goto fail_close;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail_line(&d, 0, P2P_ERR_READ, NULL, "not a regular file");
        goto fail_close;
    }
    if ((uint64_t)st.st_size > bytes_max) {
        rc = fail_line(&d, 0, P2P_ERR_OVERSIZE, NULL,
                       "the file is %llu bytes, more than the limit of %zu",
                       (unsigned long long)st.st_size, bytes_max);
        goto fail_close;
    }
    /* One byte past the cap detects a file that grew since fstat. */
    uint8_t *buf = malloc(bytes_max + 1);
    if (buf == NULL) {
        rc = fail_line(&d, 0, P2P_ERR_NOMEM, NULL, "out of memory");
        goto fail_close;
    }
    size_t len = 0;
    while (len < bytes_max + 1) {
        ssize_t got = read(fd, buf + len, bytes_max + 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = fail_line(&d, 0, P2P_ERR_READ, NULL, "cannot read: %s",
                           strerror(errno));
            goto fail_free;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len > bytes_max) {
        rc = fail_line(&d, 0, P2P_ERR_OVERSIZE, NULL,
                       "the file is more than the limit of %zu bytes",
                       bytes_max);
        goto fail_free;
    }
    close(fd);
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    return 0;

fail_free:
    free(buf);
fail_close:
    close(fd);
    return rc;
}

static int syntax_error(const struct prod_yaml_doc *d, const yaml_parser_t *p,
                        const uint8_t *data, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return fail_line(d, 0, P2P_ERR_NOMEM, NULL, "out of memory");
    if (p->error == YAML_READER_ERROR) {
        size_t line = 0;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += data[i] == '\n';
        return fail_line(d, mark_line(line), P2P_ERR_DECODE, NULL,
                         "invalid text: %s",
                         p->problem ? p->problem : "unreadable input");
    }
    if (p->context != NULL)
        return fail_line(d, mark_line(p->problem_mark.line), P2P_ERR_DECODE,
                         NULL, "YAML syntax error: %s (%s started at line %d)",
                         p->problem ? p->problem : "malformed YAML",
                         p->context, mark_line(p->context_mark.line));
    return fail_line(d, mark_line(p->problem_mark.line), P2P_ERR_DECODE, NULL,
                     "YAML syntax error: %s",
                     p->problem ? p->problem : "malformed YAML");
}

/* Walks the event stream once, before the document API builds anything:
 * counts nodes and depth, refuses aliases (a node reached twice would let a
 * small file expand into a huge walk) and a second document (which
 * yaml_parser_load would silently leave unread). */
static int scan_events(const struct prod_yaml_doc *d, const uint8_t *data,
                       size_t len)
{
    yaml_parser_t parser;
    yaml_event_t event;
    size_t nodes = 0, depth = 0, documents = 0;
    int rc = 0;
    if (!yaml_parser_initialize(&parser))
        return fail_line(d, 0, P2P_ERR_NOMEM, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, data, len);
    for (;;) {
        if (!yaml_parser_parse(&parser, &event)) {
            rc = syntax_error(d, &parser, data, len);
            break;
        }
        yaml_event_type_t type = event.type;
        int line = mark_line(event.start_mark.line);
        yaml_event_delete(&event);
        if (type == YAML_STREAM_END_EVENT)
            break;
        if (type == YAML_DOCUMENT_START_EVENT && ++documents > 1) {
            rc = fail_line(d, line, P2P_ERR_DECODE, NULL,
                           "a second YAML document (a file holds one)");
            break;
        }
        if (type == YAML_ALIAS_EVENT) {
            rc = fail_line(d, line, P2P_ERR_DECODE, NULL,
                           "aliases (*name) are not supported");
            break;
        }
        if (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT ||
            type == YAML_MAPPING_START_EVENT)
            nodes++;
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
            depth++;
        if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
            depth--;
        if (depth > PROD_YAML_DEPTH_MAX) {
            rc = fail_line(d, line, P2P_ERR_LIMIT, NULL,
                           "lists and mappings nested more than %u deep",
                           PROD_YAML_DEPTH_MAX);
            break;
        }
        if (nodes > PROD_YAML_NODES_MAX) {
            rc = fail_line(d, line, P2P_ERR_LIMIT, NULL,
                           "more than the limit of %u YAML values, lists "
                           "and mappings",
                           PROD_YAML_NODES_MAX);
            break;
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

int prod_yaml_load(struct prod_yaml_doc *d, const uint8_t *data, size_t len,
                   const char *name, char *err, size_t err_len)
{
    yaml_parser_t parser;
    int rc;
    P2P_ASSERT(d != NULL && (data != NULL || len == 0));
    memset(d, 0, sizeof *d);
    d->name = name;
    d->err = err;
    d->err_len = err_len;
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (len > PROD_YAML_FILE_BYTES_MAX)
        return fail_line(d, 0, P2P_ERR_OVERSIZE, NULL,
                         "the file is %zu bytes, more than the limit of %u",
                         len, PROD_YAML_FILE_BYTES_MAX);
    if (data == NULL)
        data = (const uint8_t *)"";
    if ((rc = scan_events(d, data, len)) != 0)
        return rc;
    if (!yaml_parser_initialize(&parser))
        return fail_line(d, 0, P2P_ERR_NOMEM, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, data, len);
    if (!yaml_parser_load(&parser, &d->doc))
        rc = syntax_error(d, &parser, data, len);
    else
        d->loaded = true;
    yaml_parser_delete(&parser);
    return rc;
}

void prod_yaml_fini(struct prod_yaml_doc *d)
{
    if (d == NULL || !d->loaded)
        return;
    yaml_document_delete(&d->doc);
    d->loaded = false;
}

yaml_node_t *prod_yaml_root_map(struct prod_yaml_doc *d, const char *expected)
{
    P2P_ASSERT(d->loaded);
    yaml_node_t *root = yaml_document_get_root_node(&d->doc);
    if (root == NULL || prod_yaml_is_null(root)) {
        fail_line(d, 0, P2P_ERR_DECODE, NULL,
                  "the file is empty (expected a mapping: %s)", expected);
        return NULL;
    }
    if (root->type != YAML_MAPPING_NODE) {
        prod_yaml_fail(d, root, P2P_ERR_DECODE, NULL,
                       "expected a mapping (%s), got %s", expected,
                       type_name(root));
        return NULL;
    }
    return root;
}

/* ---- structure ------------------------------------------------------- */

int prod_yaml_map(const struct prod_yaml_doc *d, const yaml_node_t *map,
                  const char *where, const char *const *keys,
                  size_t keys_count, yaml_node_t **vals)
{
    const yaml_node_t *key_nodes[PROD_YAML_MAP_KEYS_MAX] = {0};
    char what[PROD_YAML_WHAT_BYTES], q[QUOTE_BYTES_MAX];
    P2P_ASSERT(keys_count <= PROD_YAML_MAP_KEYS_MAX);
    for (size_t i = 0; i < keys_count; i++)
        vals[i] = NULL;
    if (map->type != YAML_MAPPING_NODE)
        return prod_yaml_fail(d, map, P2P_ERR_DECODE, where,
                              "expected a mapping, got %s", type_name(map));
    yaml_document_t *doc = (yaml_document_t *)&d->doc;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        P2P_ASSERT(k != NULL && v != NULL);
        if (k->type != YAML_SCALAR_NODE)
            return prod_yaml_fail(d, k, P2P_ERR_DECODE, where,
                                  "a key must be a word, got %s",
                                  type_name(k));
        size_t i = 0;
        while (i < keys_count && !scalar_is(k, keys[i]))
            i++;
        if (i == keys_count) {
            char expected[256] = "";
            size_t used = 0;
            for (size_t j = 0; j < keys_count && used < sizeof expected; j++) {
                int n = snprintf(expected + used, sizeof expected - used,
                                 "%s%s", j ? ", " : "", keys[j]);
                if (n < 0)
                    break;
                used += (size_t)n;
            }
            quote(q, k->data.scalar.value, k->data.scalar.length);
            return prod_yaml_fail(d, k, P2P_ERR_DECODE,
                                  prod_yaml_what(what, sizeof what, where, q),
                                  "unknown key (expected %s)", expected);
        }
        prod_yaml_what(what, sizeof what, where, keys[i]);
        if (key_nodes[i] != NULL)
            return prod_yaml_fail(d, k, P2P_ERR_DECODE, what,
                                  "given twice (first at line %d)",
                                  prod_yaml_line(key_nodes[i]));
        key_nodes[i] = k;
        vals[i] = v;
    }
    return 0;
}

int prod_yaml_missing(const struct prod_yaml_doc *d, const yaml_node_t *map,
                      const char *where, const char *key)
{
    char what[PROD_YAML_WHAT_BYTES];
    return prod_yaml_fail(d, map, P2P_ERR_DECODE,
                          prod_yaml_what(what, sizeof what, where, key),
                          "missing (required)");
}

int prod_yaml_seq(const struct prod_yaml_doc *d, const yaml_node_t *n,
                  const char *what, size_t max, size_t *count)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "expected a list, got %s", type_name(n));
    size_t c = (size_t)(n->data.sequence.items.top -
                        n->data.sequence.items.start);
    if (c == 0)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what, "the list is empty");
    if (c > max)
        return prod_yaml_fail(d, n, P2P_ERR_LIMIT, what,
                              "%zu entries, more than the limit of %zu", c,
                              max);
    *count = c;
    return 0;
}

yaml_node_t *prod_yaml_seq_item(const struct prod_yaml_doc *d,
                                const yaml_node_t *n, size_t i)
{
    P2P_ASSERT(n->type == YAML_SEQUENCE_NODE);
    P2P_ASSERT(i < (size_t)(n->data.sequence.items.top -
                            n->data.sequence.items.start));
    yaml_node_t *item = yaml_document_get_node(
        (yaml_document_t *)&d->doc, n->data.sequence.items.start[i]);
    P2P_ASSERT(item != NULL);
    return item;
}

/* ---- scalars --------------------------------------------------------- */

/* Copies scalar n into buf as a C string; `noun` says what was expected. */
static int scalar_text(const struct prod_yaml_doc *d, const yaml_node_t *n,
                       const char *what, const char *noun, char *buf,
                       size_t len)
{
    if (n->type != YAML_SCALAR_NODE)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "expected %s, got %s", noun, type_name(n));
    size_t l = n->data.scalar.length;
    if (l == 0 || prod_yaml_is_null(n)) /* "key:", "key: ~", "key: ''" */
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "missing value (expected %s)", noun);
    if (l >= len)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "too long (at most %zu bytes)", len - 1);
    if (memchr(n->data.scalar.value, '\0', l) != NULL)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "contains a NUL character");
    memcpy(buf, n->data.scalar.value, l);
    buf[l] = '\0';
    return 0;
}

int prod_yaml_string(const struct prod_yaml_doc *d, const yaml_node_t *n,
                     const char *what, char *buf, size_t len)
{
    return scalar_text(d, n, what, "a value", buf, len);
}

int prod_yaml_u64(const struct prod_yaml_doc *d, const yaml_node_t *n,
                  const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
    char buf[VALUE_BYTES_MAX], q[QUOTE_BYTES_MAX];
    uint64_t v = 0;
    int rc = scalar_text(d, n, what, "a whole number", buf, sizeof buf);
    if (rc != 0)
        return rc;
    for (const char *p = buf; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                                  "expected a whole number, got '%s'",
                                  quote(q, buf, strlen(buf)));
        uint64_t digit = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                                  "%s is too large", buf);
        v = v * 10 + digit;
    }
    if (v < min || v > max)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "%llu is out of range (%llu..%llu)",
                              (unsigned long long)v, (unsigned long long)min,
                              (unsigned long long)max);
    *out = v;
    return 0;
}

/* A quantity with units (sim/units.h): how to parse and print it, and an
 * example for messages. */
struct unit_kind {
    const char *example;
    int (*parse)(const char *s, uint64_t *out, char *msg, size_t msg_len);
    void (*format)(uint64_t v, char *buf, size_t len);
};

static const struct unit_kind SIZE_UNITS = {
    "a size such as 64MiB", sim_units_parse_size, sim_units_format_size};
static const struct unit_kind DURATION_UNITS = {
    "a duration such as 5s", sim_units_parse_duration,
    sim_units_format_duration};

static int with_units(const struct prod_yaml_doc *d, const yaml_node_t *n,
                      const char *what, const struct unit_kind *k,
                      uint64_t min, uint64_t max, uint64_t *out)
{
    char buf[VALUE_BYTES_MAX], reason[REASON_BYTES_MAX];
    char lo[32], hi[32], got[32];
    uint64_t v;
    int rc = scalar_text(d, n, what, k->example, buf, sizeof buf);
    if (rc != 0)
        return rc;
    if (k->parse(buf, &v, reason, sizeof reason) != 0)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what, "expected %s (%s)",
                              k->example, reason);
    if (v < min || v > max) {
        k->format(v, got, sizeof got);
        k->format(min, lo, sizeof lo);
        k->format(max, hi, sizeof hi);
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "%s is out of range (%s..%s)", got, lo, hi);
    }
    *out = v;
    return 0;
}

int prod_yaml_size(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
    return with_units(d, n, what, &SIZE_UNITS, min, max, out);
}

int prod_yaml_duration(const struct prod_yaml_doc *d, const yaml_node_t *n,
                       const char *what, uint64_t min, uint64_t max,
                       uint64_t *out)
{
    return with_units(d, n, what, &DURATION_UNITS, min, max, out);
}

int prod_yaml_bool(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (scalar_is(n, yes[i]) || scalar_is(n, no[i])) {
            *out = scalar_is(n, yes[i]);
            return 0;
        }
    }
    return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                          "expected true or false");
}

int prod_yaml_word(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *const *words, size_t count,
                   size_t *index)
{
    char expected[128] = "", q[QUOTE_BYTES_MAX];
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        if (scalar_is(n, words[i])) {
            *index = i;
            return 0;
        }
        int w = snprintf(expected + used, sizeof expected - used, "%s%s",
                         i ? ", " : "", words[i]);
        if (w < 0 || (size_t)w >= sizeof expected - used)
            break;
        used += (size_t)w;
    }
    if (n->type != YAML_SCALAR_NODE)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "expected one of %s, got %s", expected,
                              type_name(n));
    return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                          "expected one of %s, got '%s'", expected,
                          quote(q, n->data.scalar.value, n->data.scalar.length));
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int prod_yaml_hex32(const struct prod_yaml_doc *d, const yaml_node_t *n,
                    const char *what, uint8_t out[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    char buf[2 * VALUE_BYTES_MAX]; /* room to say how long a wrong one is */
    uint8_t bytes[32];
    const char *noun = "64 hex digits (a SHA-256 node id)";
    int rc = scalar_text(d, n, what, noun, buf, sizeof buf);
    if (rc != 0)
        return rc;
    size_t len = strlen(buf);
    if (len != 64)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                              "expected %s, got %zu characters", noun, len);
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_value(buf[2 * i]), lo = hex_value(buf[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                                  "expected %s; character %zu is not one",
                                  noun, 2 * i + (hi < 0 ? 1 : 2));
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, bytes, 32);
    for (size_t i = 0; i < 32; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

int prod_yaml_path(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *base_dir, char *out,
                   size_t len)
{
    char *buf = malloc(len);
    if (buf == NULL)
        return prod_yaml_fail(d, n, P2P_ERR_NOMEM, what, "out of memory");
    int rc = scalar_text(d, n, what, "a path", buf, len);
    if (rc == 0) {
        int w = buf[0] == '/' || base_dir[0] == '\0'
                    ? snprintf(out, len, "%s", buf)
                : strcmp(base_dir, "/") == 0
                    ? snprintf(out, len, "/%s", buf)
                    : snprintf(out, len, "%s/%s", base_dir, buf);
        if (w < 0 || (size_t)w >= len)
            rc = prod_yaml_fail(d, n, P2P_ERR_DECODE, what,
                                "too long with its folder (at most %zu bytes)",
                                len - 1);
    }
    free(buf);
    return rc;
}

int prod_yaml_addr(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, uint16_t port_min,
                   struct sockaddr_storage *addr, socklen_t *addr_len,
                   char text[PROD_YAML_ADDR_TEXT_BYTES])
{
    char buf[PROD_YAML_ADDR_TEXT_BYTES], reason[REASON_BYTES_MAX];
    struct sockaddr_storage ss;
    socklen_t ss_len;
    int rc = scalar_text(d, n, what, "host:port such as 127.0.0.1:4100", buf,
                         sizeof buf);
    if (rc != 0)
        return rc;
    if (prod_yaml_parse_addr(buf, port_min, &ss, &ss_len, reason,
                             sizeof reason) != 0)
        return prod_yaml_fail(d, n, P2P_ERR_DECODE, what, "%s", reason);
    *addr = ss;
    *addr_len = ss_len;
    memcpy(text, buf, strlen(buf) + 1);
    return 0;
}

/* ---- addresses and paths --------------------------------------------- */

/* Port "0".."65535": digits only, at most 5. */
static int parse_port(const char *s, uint16_t port_min, uint16_t *out)
{
    uint32_t v = 0;
    size_t len = strlen(s);
    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535 || v < port_min)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int prod_yaml_parse_addr(const char *text, uint16_t port_min,
                         struct sockaddr_storage *addr, socklen_t *addr_len,
                         char *msg, size_t msg_len)
{
    static const char example[] = "expected host:port such as 127.0.0.1:4100 "
                                  "or [::1]:4100";
    char host[PROD_YAML_ADDR_TEXT_BYTES];
    const char *port_text;
    size_t len = strlen(text);
    uint16_t port;
    bool v6 = text[0] == '[';
    if (len >= sizeof host) {
        snprintf(msg, msg_len, "%s (too long)", example);
        return -1;
    }
    if (v6) {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(msg, msg_len, "%s", example);
            return -1;
        }
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL) {
            snprintf(msg, msg_len, "%s (no port)", example);
            return -1;
        }
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
        if (strchr(host, ':') != NULL) {
            snprintf(msg, msg_len,
                     "an IPv6 address needs brackets, e.g. [::1]:4100");
            return -1;
        }
    }
    if (parse_port(port_text, port_min, &port) != 0) {
        snprintf(msg, msg_len, "the port must be a number in %u..65535",
                 (unsigned)port_min);
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    if (!v6) {
        /* inet_pton, not getaddrinfo: it takes only the dotted quad, not
         * inet_aton's "127.1" or "0x7f000001". */
        struct sockaddr_in *sin = (struct sockaddr_in *)addr;
        const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
        if (inet_pton(AF_INET, h, &sin->sin_addr) != 1) {
            snprintf(msg, msg_len,
                     "%s (the host must be an IPv4 or IPv6 address or "
                     "localhost; names are not resolved)",
                     example);
            return -1;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *addr_len = sizeof *sin;
        return 0;
    }
    /* getaddrinfo for IPv6: it also takes a scope ("fe80::1%eth0"). */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    char port_buf[8];
    snprintf(port_buf, sizeof port_buf, "%u", (unsigned)port);
    if (host[0] == '\0' || getaddrinfo(host, port_buf, &hints, &res) != 0 ||
        res == NULL || res->ai_addrlen > sizeof *addr) {
        if (res != NULL)
            freeaddrinfo(res);
        snprintf(msg, msg_len, "%s (not an IPv6 address in the brackets)",
                 example);
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

bool prod_yaml_addr_is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->ss_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

int prod_yaml_dir_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= len)
        return -1;
    memcpy(out, path, n);
    out[n] = '\0';
    return 0;
}
