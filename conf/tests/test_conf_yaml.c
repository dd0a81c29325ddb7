/* Unit tests for conf/yaml: line and column of every error, the YAML type
 * each getter takes and the one it names when refusing another, every
 * range on both sides, the pre-pass limits at the limit and one past it,
 * aliases and second documents under both options, file reads (missing,
 * not regular, at the cap and one byte past), and a caller's own words. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/yaml.h"
#include "core/err.h"

static struct conf_yaml_doc doc;
static char err[256];

/* Loads text as "t.yaml" with opts (NULL: the library's defaults). */
static int load(const char *text, const struct conf_yaml_opts *opts)
{
    memset(err, 0, sizeof err);
    return conf_yaml_load(&doc, (const uint8_t *)text, strlen(text), "t.yaml",
                          opts, err, sizeof err);
}

/* The value of key in the root mapping; fails the test when absent. */
static yaml_node_t *value_of(const char *key)
{
    yaml_node_t *root = conf_yaml_root(&doc);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(root->type, YAML_MAPPING_NODE);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc.doc, p->key);
        if (conf_yaml_scalar_is(k, key))
            return yaml_document_get_node(&doc.doc, p->value);
    }
    ck_abort_msg("no key %s", key);
    return NULL;
}

static void teardown(void) { conf_yaml_fini(&doc); }

/* ---- getters: good values, types, messages with lines ---------------- */

static const char good_text[] = "# a comment\n"
                                "name: node-1\n"            /* 2 */
                                "count: 42\n"               /* 3 */
                                "size: 64MiB\n"             /* 4 */
                                "wait: 1500ms\n"            /* 5 */
                                "on: True\n"                /* 6 */
                                "level: warn\n"             /* 7 */
                                "id: " /* 8 */
                                "00112233445566778899AABBCCDDEEFF"
                                "00112233445566778899aabbccddeeff\n"
                                "items: [a, b, c]\n"        /* 9 */
                                "path: sub/x.pem\n"         /* 10 */
                                "loss: 0.5%\n"              /* 11 */
                                "skew: -2s\n"               /* 12 */
                                "drift: -50ppm\n"           /* 13 */
                                "rate: 4/s\n"               /* 14 */
                                "bw: 10Mbit\n";             /* 15 */

START_TEST(test_getters_good)
{
    static const char *const levels[] = {"error", "warn", "info"};
    static const struct conf_yaml_quantity any = {NULL, 0, UINT64_MAX};
    char buf[32], hex[65], path[64];
    uint64_t u;
    bool b;
    size_t idx, count;
    uint8_t id[32];
    uint32_t ppm;
    int64_t s;
    ck_assert_int_eq(load(good_text, NULL), 0);
    ck_assert_int_eq(conf_yaml_string(&doc, value_of("name"), "name", buf,
                                      sizeof buf),
                     0);
    ck_assert_str_eq(buf, "node-1");
    ck_assert_int_eq(conf_yaml_u64(&doc, value_of("count"), "count", 42, 42,
                                   &u),
                     0);
    ck_assert_uint_eq(u, 42);
    ck_assert_int_eq(conf_yaml_size(&doc, value_of("size"), "size", &any, &u),
                     0);
    ck_assert_uint_eq(u, 64u << 20);
    ck_assert_int_eq(
        conf_yaml_duration(&doc, value_of("wait"), "wait", &any, &u), 0);
    ck_assert_uint_eq(u, 1500000000ULL);
    ck_assert_int_eq(conf_yaml_bool(&doc, value_of("on"), "on", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(conf_yaml_word(&doc, value_of("level"), "level", levels,
                                    3, NULL, &idx),
                     0);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(conf_yaml_hex(&doc, value_of("id"), "id", "an id", id, 32,
                                   hex),
                     0);
    ck_assert_str_eq(hex, "00112233445566778899aabbccddeeff"
                          "00112233445566778899aabbccddeeff");
    ck_assert_uint_eq(id[15], 0xff);
    ck_assert_int_eq(conf_yaml_seq(&doc, value_of("items"), "items",
                                   CONF_YAML_SEQ_NOT_EMPTY, 3, &count),
                     0);
    ck_assert_uint_eq(count, 3);
    yaml_node_t *item;
    ck_assert_int_eq(conf_yaml_seq_item(&doc, value_of("items"), 2, &item), 0);
    ck_assert(conf_yaml_scalar_is(item, "c"));
    ck_assert_int_eq(conf_yaml_line(item), 9);
    ck_assert_int_eq(conf_yaml_column(item), 15);
    ck_assert_int_eq(conf_yaml_path(&doc, value_of("path"), "path", "/etc/p2p",
                                    path, sizeof path),
                     0);
    ck_assert_str_eq(path, "/etc/p2p/sub/x.pem");
    ck_assert_int_eq(conf_yaml_percent(&doc, value_of("loss"), "loss", NULL,
                                       &ppm),
                     0);
    ck_assert_uint_eq(ppm, 5000);
    ck_assert_int_eq(conf_yaml_offset(&doc, value_of("skew"), "skew", NULL, &s),
                     0);
    ck_assert_int_eq(s, -2000000000LL);
    ck_assert_int_eq(conf_yaml_ppm(&doc, value_of("drift"), "drift", NULL, &s),
                     0);
    ck_assert_int_eq(s, -50);
    ck_assert_int_eq(conf_yaml_rate(&doc, value_of("rate"), "rate", &any, &u),
                     0);
    ck_assert_uint_eq(u, 250000000ULL);
    ck_assert_int_eq(
        conf_yaml_bandwidth(&doc, value_of("bw"), "bw", &any, &u), 0);
    ck_assert_uint_eq(u, 10000000ULL);
    ck_assert_str_eq(err, "");
}
END_TEST

/* One getter call on `key` of `text` and the message it must give. */
enum getter {
    G_STRING, G_U64, G_SIZE, G_DURATION, G_BOOL, G_WORD, G_HEX, G_LIST,
    G_PERCENT, G_PATH
};

struct bad_value {
    const char *text; /* "k: ..." on line 2 after a comment line */
    enum getter g;
    uint64_t min, max;
    int rc;
    const char *msg;  /* the whole message, line 2 */
};

static const struct bad_value bad_values[] = {
    /* Types: each getter names what it expected and what it got. */
    {"k: [1]", G_STRING, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a value, got a list"},
    {"k: {a: 1}", G_U64, 0, 9, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a whole number, got a mapping"},
    {"k:", G_U64, 0, 9, P2P_ERR_DECODE,
     "t.yaml:2: k: missing value (expected a whole number)"},
    {"k: ~", G_SIZE, 0, 9, P2P_ERR_DECODE,
     "t.yaml:2: k: missing value (expected a size such as 64MiB)"},
    {"k: ''", G_STRING, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: missing value (expected a value)"},
    {"k: 1", G_LIST, 0, 3, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a list, got a single value"},
    {"k: ", G_LIST, 0, 3, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a list, got nothing"},
    {"k: [a, b]", G_WORD, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected one of red, green, got a list"},
    /* Whole numbers: both sides of the range, junk, overflow. */
    {"k: 4", G_U64, 5, 9, P2P_ERR_DECODE,
     "t.yaml:2: k: 4 is out of range (5..9)"},
    {"k: 10", G_U64, 5, 9, P2P_ERR_DECODE,
     "t.yaml:2: k: 10 is out of range (5..9)"},
    {"k: 0010", G_U64, 5, 9, P2P_ERR_DECODE,
     "t.yaml:2: k: 10 is out of range (5..9)"},
    {"k: 4k", G_U64, 0, 9, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a whole number, got '4k'"},
    {"k: -1", G_U64, 0, 9, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a whole number, got '-1'"},
    {"k: 18446744073709551616", G_U64, 0, UINT64_MAX, P2P_ERR_DECODE,
     "t.yaml:2: k: 18446744073709551616 is too large"},
    /* Units: the parser's reason, and the range in units. */
    {"k: 64MB8", G_SIZE, 0, UINT64_MAX, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a size such as 64MiB (unknown unit 'MB8' in "
     "'64MB8' (expected one of B, KiB, MiB, GiB, KB, MB, GB))"},
    {"k: 1023B", G_SIZE, 1024, 2048, P2P_ERR_DECODE,
     "t.yaml:2: k: 1023B is out of range (1KiB..2KiB)"},
    {"k: 2049B", G_SIZE, 1024, 2048, P2P_ERR_DECODE,
     "t.yaml:2: k: 2049B is out of range (1KiB..2KiB)"},
    {"k: 999ms", G_DURATION, 1000000000, 2000000000, P2P_ERR_DECODE,
     "t.yaml:2: k: 999ms is out of range (1s..2s)"},
    {"k: 2000000001ns", G_DURATION, 1000000000, 2000000000, P2P_ERR_DECODE,
     "t.yaml:2: k: 2000000001ns is out of range (1s..2s)"},
    {"k: 5 parsecs", G_DURATION, 0, UINT64_MAX, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a duration such as 5s (unknown unit 'parsecs' "
     "in '5 parsecs' (expected one of ns, us, ms, s, m, h))"},
    {"k: 101%", G_PERCENT, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected a percentage such as 0.5% (percentage '101%' is "
     "more than 100%)"},
    /* Booleans and words. */
    {"k: yes", G_BOOL, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected true or false"},
    {"k: blue", G_WORD, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected one of red, green, got 'blue'"},
    {"k: \"bl\\tue\"", G_WORD, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected one of red, green, got 'bl?ue'"},
    /* Hex: exact length, odd length, the first bad character. */
    {"k: abc", G_HEX, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected 4 hex digits, got 3 characters"},
    {"k: abcdef", G_HEX, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected 4 hex digits, got 6 characters"},
    {"k: abzz", G_HEX, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected 4 hex digits; character 3 is not one"},
    {"k: g000", G_HEX, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: expected 4 hex digits; character 1 is not one"},
    /* Strings: the length limit (15 bytes here) and NUL bytes. */
    {"k: 0123456789abcdef", G_STRING, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: too long (at most 15 bytes)"},
    {"k: \"a\\0b\"", G_STRING, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: contains a NUL character"},
    {"k: 0123456789", G_PATH, 0, 0, P2P_ERR_DECODE,
     "t.yaml:2: k: too long with its folder (at most 15 bytes)"},
    /* Lists: empty, and the limit + 1. */
    {"k: []", G_LIST, 0, 3, P2P_ERR_DECODE, "t.yaml:2: k: the list is empty"},
    {"k: [1, 2, 3, 4]", G_LIST, 0, 3, P2P_ERR_LIMIT,
     "t.yaml:2: k: 4 entries, more than the limit of 3"},
};

START_TEST(test_bad_values)
{
    static const char *const colours[] = {"red", "green"};
    const struct bad_value *c = &bad_values[_i];
    char text[128], buf[16];
    uint64_t u;
    uint32_t u32;
    bool b;
    size_t idx;
    uint8_t bytes[2];
    snprintf(text, sizeof text, "# comment\n%s\n", c->text);
    ck_assert_int_eq(load(text, NULL), 0);
    yaml_node_t *n = value_of("k");
    struct conf_yaml_quantity q = {NULL, c->min, c->max};
    int rc = 0;
    switch (c->g) {
    case G_STRING:
        rc = conf_yaml_string(&doc, n, "k", buf, sizeof buf);
        break;
    case G_U64:
        rc = conf_yaml_u64(&doc, n, "k", c->min, c->max, &u);
        break;
    case G_SIZE:
        rc = conf_yaml_size(&doc, n, "k", &q, &u);
        break;
    case G_DURATION:
        rc = conf_yaml_duration(&doc, n, "k", &q, &u);
        break;
    case G_BOOL:
        rc = conf_yaml_bool(&doc, n, "k", &b);
        break;
    case G_WORD:
        rc = conf_yaml_word(&doc, n, "k", colours, 2, NULL, &idx);
        break;
    case G_HEX:
        rc = conf_yaml_hex(&doc, n, "k", "4 hex digits", bytes, 2, NULL);
        break;
    case G_LIST:
        rc = conf_yaml_seq(&doc, n, "k", CONF_YAML_SEQ_NOT_EMPTY,
                           (size_t)c->max, &idx);
        break;
    case G_PERCENT:
        rc = conf_yaml_percent(&doc, n, "k", NULL, &u32);
        break;
    case G_PATH:
        rc = conf_yaml_path(&doc, n, "k", "dir/sub", buf, sizeof buf);
        break;
    }
    ck_assert_msg(rc == c->rc, "'%s': rc %d, want %d (%s)", c->text, rc,
                  c->rc, err);
    ck_assert_str_eq(err, c->msg);
    ck_assert_int_eq(doc.err_line, 2);
    ck_assert_int_eq(doc.err_column, conf_yaml_column(n));
}
END_TEST

/* ---- mappings -------------------------------------------------------- */

struct map_case {
    const char *text;
    int rc;
    int line;
    const char *msg;
};

static const struct map_case map_cases[] = {
    {"a: 1\nb: 2\n", 0, 0, ""},
    {"a: 1\ncolour: red\n", P2P_ERR_DECODE, 2,
     "t.yaml:2: sec.colour: unknown key (expected a, b, c)"},
    {"a: 1\nb: 2\na: 3\n", P2P_ERR_DECODE, 3,
     "t.yaml:3: sec.a: given twice (first at line 1)"},
    {"? [x]\n: 1\n", P2P_ERR_DECODE, 1,
     "t.yaml:1: sec: a key must be a word, got a list"},
    {"- a\n", P2P_ERR_DECODE, 1,
     "t.yaml:1: sec: expected a mapping, got a list"},
    {"\"a\\nb\": 1\n", P2P_ERR_DECODE, 1,
     "t.yaml:1: sec.a?b: unknown key (expected a, b, c)"},
};

START_TEST(test_map)
{
    static const char *const keys[] = {"a", "b", "c"};
    const struct map_case *c = &map_cases[_i];
    yaml_node_t *vals[3];
    ck_assert_int_eq(load(c->text, NULL), 0);
    int rc = conf_yaml_map(&doc, conf_yaml_root(&doc), "sec", keys, 3, vals);
    ck_assert_int_eq(rc, c->rc);
    ck_assert_str_eq(err, c->msg);
    ck_assert_int_eq(doc.err_line, c->line);
    if (rc == 0) {
        ck_assert(conf_yaml_scalar_is(vals[0], "1"));
        ck_assert(conf_yaml_scalar_is(vals[1], "2"));
        ck_assert_ptr_null(vals[2]);
        ck_assert_int_eq(conf_yaml_missing(&doc, conf_yaml_root(&doc), "sec",
                                           "c"),
                         P2P_ERR_DECODE);
        ck_assert_str_eq(err, "t.yaml:1: sec.c: missing (required)");
    }
}
END_TEST

START_TEST(test_root_map)
{
    ck_assert_int_eq(load("# nothing\n", NULL), 0);
    ck_assert_ptr_null(conf_yaml_root_map(&doc, "a, b"));
    ck_assert_str_eq(err,
                     "t.yaml: the file is empty (expected a mapping: a, b)");
    ck_assert_int_eq(doc.err_line, 0);
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("\n- 1\n", NULL), 0);
    ck_assert_ptr_null(conf_yaml_root_map(&doc, "a, b"));
    ck_assert_str_eq(err, "t.yaml:2: expected a mapping (a, b), got a list");
}
END_TEST

/* A null list is empty with CONF_YAML_SEQ_NULL_EMPTY, refused without. */
START_TEST(test_seq_null)
{
    size_t count = 99;
    ck_assert_int_eq(load("k: ~\n", NULL), 0);
    ck_assert_int_eq(conf_yaml_seq(&doc, value_of("k"), "k",
                                   CONF_YAML_SEQ_NULL_EMPTY, 3, &count),
                     0);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(conf_yaml_seq(&doc, value_of("k"), "k", 0, 3, &count),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(err, "t.yaml:1: k: expected a list, got nothing");
    ck_assert_int_eq(conf_yaml_seq(&doc, value_of("k"), "k",
                                   CONF_YAML_SEQ_NULL_EMPTY |
                                       CONF_YAML_SEQ_NOT_EMPTY,
                                   3, &count),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(err, "t.yaml:1: k: the list is empty");
    /* The limit itself is fine. */
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("k: [1, 2, 3]\n", NULL), 0);
    ck_assert_int_eq(conf_yaml_seq(&doc, value_of("k"), "k", 0, 3, &count), 0);
    ck_assert_uint_eq(count, 3);
}
END_TEST

/* ---- the pre-pass ---------------------------------------------------- */

/* `depth` nested flow lists: "[[[1]]]". */
static char *nested(size_t depth)
{
    char *t = malloc(2 * depth + 3);
    ck_assert_ptr_nonnull(t);
    memset(t, '[', depth);
    t[depth] = '1';
    memset(t + depth + 1, ']', depth);
    strcpy(t + 2 * depth + 1, "\n");
    return t;
}

START_TEST(test_depth_limit)
{
    struct conf_yaml_opts o = {
        .bytes_max = 1024, .nodes_max = 100, .depth_max = 4};
    char *t = nested(4);
    ck_assert_int_eq(load(t, &o), 0);
    free(t);
    conf_yaml_fini(&doc);
    t = nested(5);
    ck_assert_int_eq(load(t, &o), P2P_ERR_LIMIT);
    free(t);
    ck_assert_str_eq(err, "lists and mappings nested more than 4 deep");
    ck_assert_int_eq(doc.err_line, 1);
    ck_assert_int_eq(doc.err_column, 5);
}
END_TEST

START_TEST(test_nodes_limit)
{
    /* A list of 4 values is 5 nodes. */
    struct conf_yaml_opts o = {.bytes_max = 1024, .nodes_max = 5,
                               .depth_max = 4, .located = true};
    ck_assert_int_eq(load("[1, 2, 3, 4]\n", &o), 0);
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("[1, 2,\n 3, 4, 5]\n", &o), P2P_ERR_LIMIT);
    ck_assert_str_eq(err, "t.yaml:2: more than the limit of 5 YAML values, "
                          "lists and mappings");
}
END_TEST

START_TEST(test_syntax_errors)
{
    ck_assert_int_eq(load("a: 1\nb: [1, 2\n", NULL), P2P_ERR_DECODE);
    ck_assert_msg(strncmp(err, "t.yaml:3: YAML syntax error: ", 29) == 0, "%s",
                  err);
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("a: 1\nb: \xff\n", NULL), P2P_ERR_DECODE);
    ck_assert_msg(strncmp(err, "t.yaml:2: invalid text: ", 24) == 0, "%s", err);
    ck_assert_int_eq(doc.err_column, 4);
}
END_TEST

/* Aliases: refused at the alias by the pre-pass, or, with
 * aliases_at_walk, where the walk reaches the node a second time. */
START_TEST(test_aliases)
{
    static const char *const keys[] = {"a", "b"};
    static const char text[] = "a: &x [1]\nb: *x\n";
    struct conf_yaml_opts walk = {.bytes_max = 1024, .nodes_max = 100,
                                  .depth_max = 4, .aliases_at_walk = true};
    yaml_node_t *vals[2];
    ck_assert_int_eq(load(text, NULL), P2P_ERR_DECODE);
    ck_assert_str_eq(err, "t.yaml:2: aliases (*name) are not supported");
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load(text, &walk), 0);
    ck_assert_int_eq(conf_yaml_map(&doc, conf_yaml_root(&doc), "", keys, 2,
                                   vals),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(err, "aliases are not supported (this reuses the node "
                          "at line 1)");
    ck_assert_int_eq(doc.err_line, 2);
    /* Without aliases the walk takes every node once. */
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("a: [1]\nb: [2]\n", &walk), 0);
    ck_assert_int_eq(conf_yaml_map(&doc, conf_yaml_root(&doc), "", keys, 2,
                                   vals),
                     0);
}
END_TEST

START_TEST(test_second_document)
{
    struct conf_yaml_opts at_node = {.bytes_max = 1024,
                                     .nodes_max = 100,
                                     .depth_max = 4,
                                     .second_document_at_node = true};
    ck_assert_int_eq(load("a: 1\n---\nb: 2\n", NULL), P2P_ERR_DECODE);
    ck_assert_str_eq(err,
                     "t.yaml:2: a second YAML document (a file holds one)");
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("a: 1\n---\nb: 2\n", &at_node), P2P_ERR_DECODE);
    ck_assert_int_eq(doc.err_line, 3);
    ck_assert_int_eq(doc.err_column, 1);
    /* An explicit empty document has a node too: a null. */
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("a: 1\n---\n", &at_node), P2P_ERR_DECODE);
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("a: 1\n---\n", NULL), P2P_ERR_DECODE);
    /* A document end marker alone starts no second document. */
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("a: 1\n...\n", &at_node), 0);
}
END_TEST

/* ---- a caller's own words and options ---------------------------------- */

static int words_called;

static void my_words(const struct conf_yaml_problem *p, char *buf, size_t len)
{
    words_called++;
    if (p->kind == CONF_YAML_KEY_UNKNOWN)
        snprintf(buf, len, "unknown key '%.*s' in %s", (int)p->key_len, p->key,
                 p->what);
    else
        conf_yaml_words_default(p, buf, len);
}

static const char *my_type(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE ? "a sequence" : "something";
}

START_TEST(test_own_words)
{
    static const char *const keys[] = {"a"};
    struct conf_yaml_opts o = {.bytes_max = 1024,
                               .nodes_max = 100,
                               .depth_max = 4,
                               .words = my_words,
                               .type_name = my_type,
                               .empty_is_value = true};
    yaml_node_t *vals[1];
    char buf[8];
    uint64_t u;
    ck_assert_int_eq(load("\"x\\ty\": 1\n", &o), 0);
    ck_assert_int_eq(conf_yaml_map(&doc, conf_yaml_root(&doc), "top", keys, 1,
                                   vals),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(words_called, 1);
    /* Not located and not made one line: the key as written. */
    ck_assert_str_eq(err, "unknown key 'x\ty' in top");
    ck_assert_int_eq(doc.err_line, 1);
    conf_yaml_fini(&doc);
    ck_assert_int_eq(load("a: [1]\nb: ''\n", &o), 0);
    ck_assert_int_eq(conf_yaml_u64(&doc, value_of("a"), "a", 0, 9, &u),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(err, "a: expected a whole number, got a sequence");
    /* An empty value is a value: a string may be empty, a number not. */
    ck_assert_int_eq(
        conf_yaml_string(&doc, value_of("b"), "b", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(conf_yaml_u64(&doc, value_of("b"), "b", 0, 9, &u),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(err, "b: missing value (expected a whole number)");
    /* conf_yaml_fail: "WHAT: " only when there is a what. */
    ck_assert_int_eq(conf_yaml_fail(&doc, NULL, P2P_ERR_LIMIT, NULL, "x%d", 1),
                     P2P_ERR_LIMIT);
    ck_assert_str_eq(err, "x1");
    ck_assert_int_eq(doc.err_line, 0);
}
END_TEST

/* A message longer than the buffer is cut, never overrun. */
START_TEST(test_short_buffer)
{
    char small[12];
    memset(small, 'z', sizeof small);
    ck_assert_int_eq(conf_yaml_load(&doc, (const uint8_t *)"a: [", 4,
                                    "long-name.yaml", NULL, small, 10),
                     P2P_ERR_DECODE);
    ck_assert_str_eq(small, "long-name");
    ck_assert_int_eq(small[10], 'z');
    /* No buffer at all. */
    ck_assert_int_eq(
        conf_yaml_load(&doc, (const uint8_t *)"a: [", 4, NULL, NULL, NULL, 0),
        P2P_ERR_DECODE);
    ck_assert_int_gt(doc.err_line, 0);
}
END_TEST

/* ---- files ----------------------------------------------------------- */

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_conf_yaml.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void write_bytes(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++)
        fputc('#', f);
    fclose(f);
}

START_TEST(test_read_file)
{
    struct conf_yaml_opts regular = {.bytes_max = 100, .located = true};
    char path[128], msg[256];
    uint8_t *data = NULL;
    size_t len = 0;
    make_dir();
    snprintf(path, sizeof path, "%s/none.yaml", dir);
    ck_assert_int_eq(
        conf_yaml_read_file(path, &regular, &data, &len, msg, sizeof msg),
        P2P_ERR_READ);
    ck_assert_msg(strstr(msg, "none.yaml: cannot open: No such file") != NULL,
                  "%s", msg);
    /* At the cap, and one byte past it. */
    snprintf(path, sizeof path, "%s/f.yaml", dir);
    write_bytes(path, 100);
    ck_assert_int_eq(
        conf_yaml_read_file(path, &regular, &data, &len, msg, sizeof msg), 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(data[100], 0);
    free(data);
    regular.bytes_max = 99;
    ck_assert_int_eq(
        conf_yaml_read_file(path, &regular, &data, &len, msg, sizeof msg),
        P2P_ERR_OVERSIZE);
    ck_assert_msg(strstr(msg, "f.yaml: the file is 100 bytes, more than the "
                              "limit of 99") != NULL,
                  "%s", msg);
    /* A large file read in several steps. */
    write_bytes(path, 300000);
    regular.bytes_max = 300000;
    ck_assert_int_eq(
        conf_yaml_read_file(path, &regular, &data, &len, msg, sizeof msg), 0);
    ck_assert_uint_eq(len, 300000);
    free(data);
    unlink(path);
    /* A FIFO is refused without blocking; a folder cannot be read. */
    snprintf(path, sizeof path, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(
        conf_yaml_read_file(path, &regular, &data, &len, msg, sizeof msg),
        P2P_ERR_READ);
    ck_assert_msg(strstr(msg, "fifo: not a regular file") != NULL, "%s", msg);
    unlink(path);
    const struct conf_yaml_opts any = {.bytes_max = 100, .any_file = true};
    ck_assert_int_eq(
        conf_yaml_read_file(dir, &any, &data, &len, msg, sizeof msg),
        P2P_ERR_READ);
    ck_assert_msg(strstr(msg, "cannot read: Is a directory") == msg, "%s", msg);
    rmdir(dir);
}
END_TEST

START_TEST(test_dir_of)
{
    char out[8];
    ck_assert_int_eq(conf_yaml_dir_of("dir/x.yaml", out, sizeof out), 0);
    ck_assert_str_eq(out, "dir");
    ck_assert_int_eq(conf_yaml_dir_of("/x.yaml", out, sizeof out), 0);
    ck_assert_str_eq(out, "/");
    ck_assert_int_eq(conf_yaml_dir_of("x.yaml", out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    /* The folder and its NUL in 8 bytes: 7 fit, 8 do not. */
    ck_assert_int_eq(conf_yaml_dir_of("12345678/x", out, sizeof out),
                     P2P_ERR_OVERSIZE);
    ck_assert_int_eq(conf_yaml_dir_of("1234567/x", out, sizeof out), 0);
    ck_assert_str_eq(out, "1234567");
}
END_TEST

START_TEST(test_load_oversize)
{
    struct conf_yaml_opts o = {
        .bytes_max = 4, .nodes_max = 8, .depth_max = 2, .located = true};
    ck_assert_int_eq(conf_yaml_load(&doc, (const uint8_t *)"a: 1\n", 5,
                                    "t.yaml", &o, err, sizeof err),
                     P2P_ERR_OVERSIZE);
    ck_assert_str_eq(err, "t.yaml: the file is 5 bytes, more than the limit "
                          "of 4");
    o.bytes_max = 5;
    ck_assert_int_eq(conf_yaml_load(&doc, (const uint8_t *)"a: 1\n", 5,
                                    "t.yaml", &o, err, sizeof err),
                     0);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *yaml_suite(void)
{
    Suite *s = suite_create("conf_yaml");
    TCase *tc = tcase_create("yaml");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_getters_good);
    tcase_add_loop_test(tc, test_bad_values, 0, COUNT(bad_values));
    tcase_add_loop_test(tc, test_map, 0, COUNT(map_cases));
    tcase_add_test(tc, test_root_map);
    tcase_add_test(tc, test_seq_null);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_nodes_limit);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_aliases);
    tcase_add_test(tc, test_second_document);
    tcase_add_test(tc, test_own_words);
    tcase_add_test(tc, test_short_buffer);
    tcase_add_test(tc, test_read_file);
    tcase_add_test(tc, test_dir_of);
    tcase_add_test(tc, test_load_oversize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(yaml_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
