/* libyaml document helpers for the loaders of configuration files: the
 * replica's config and registry (prod/config.c, prod/registry.c) and the
 * simulator's scenarios (sim/scenario.c).
 *
 * A file is read with a size cap (conf_yaml_read_file), checked with
 * libyaml's event API (node count, nesting depth, aliases, one document)
 * and only then loaded with the document API, so a hostile file cannot make
 * libyaml build millions of nodes. The getters below check a node's type,
 * parse it and range check it; each writes *out only on success.
 *
 * Every failure records where it is (err_line, err_column: 1-based, 0 for
 * the whole file) and writes one line into the caller's message buffer:
 * "WHAT: message", where WHAT is the dotted key path of the value
 * ("limits.pool_bytes", "members[2].cert", "faults[0].at"), preceded by
 * "FILE:LINE: " (or "FILE: ") when the options say `located`. The loaders
 * word some problems differently (their messages are known to users and
 * pinned by tests): the library describes each problem it finds as a
 * struct conf_yaml_problem and a words function writes the message,
 * conf_yaml_words_default unless the options name another.
 *
 * Functions return 0 or a negative P2P_ERR_* (core/err.h): P2P_ERR_DECODE
 * for a syntax error or a malformed or out-of-range value, P2P_ERR_LIMIT
 * for too many nodes, too deep a nesting or too long a list,
 * P2P_ERR_OVERSIZE for a file over its cap, P2P_ERR_READ for a file that
 * cannot be read, P2P_ERR_NOMEM.
 *
 * Nothing here keeps global state; a struct conf_yaml_doc is used by one
 * thread at a time. */
#ifndef P2P_CONF_YAML_H
#define P2P_CONF_YAML_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

/* Longest scalar a number, quantity with units or word may have. */
#define CONF_YAML_VALUE_BYTES_MAX 64u
/* Keys one mapping of a schema may have. */
#define CONF_YAML_MAP_KEYS_MAX 16u
/* A dotted key path built by the library for a message. */
#define CONF_YAML_WHAT_BYTES 64u
/* Most of a value or key quoted in a message (the rest is cut). */
#define CONF_YAML_QUOTE_BYTES 48u

/* What the library found wrong; which fields of struct conf_yaml_problem
 * are set is said for each. `what` and `got` are set whenever there is a
 * value or mapping at fault. */
enum conf_yaml_problem_kind {
    CONF_YAML_OPEN,        /* sys_errno: the file cannot be opened */
    CONF_YAML_STAT,        /* sys_errno: fstat failed */
    CONF_YAML_NOT_REGULAR, /* not a regular file (options refuse others) */
    CONF_YAML_READ,        /* sys_errno: read failed */
    CONF_YAML_FILE_SIZE,   /* count: its size in bytes, or 0 when it is
                              only known to exceed limit */
    CONF_YAML_NOMEM,       /* out of memory */
    CONF_YAML_TEXT,        /* text: libyaml's reason (not UTF-8 text) */
    CONF_YAML_SYNTAX,      /* text: libyaml's problem; expected: the
                              construct it started in (or NULL), count:
                              the line that construct started at */
    CONF_YAML_DEPTH,       /* limit: the most nesting allowed */
    CONF_YAML_NODES,       /* limit: the most nodes allowed */
    CONF_YAML_ALIAS,       /* count: the line of the node an alias reuses,
                              or 0 when the pre-pass refused it */
    CONF_YAML_SECOND_DOCUMENT,
    CONF_YAML_EMPTY_FILE,   /* expected: the keys a file should have */
    CONF_YAML_NOT_MAPPING,  /* expected: keys to mention, or NULL */
    CONF_YAML_KEY_NOT_WORD, /* what: the mapping; got: the key's type */
    CONF_YAML_KEY_UNKNOWN,  /* what: the mapping; key; expected: the keys */
    CONF_YAML_KEY_TWICE,    /* what: the mapping; key; count: first line */
    CONF_YAML_KEY_MISSING,  /* what: the mapping; key */
    CONF_YAML_NOT_LIST,
    CONF_YAML_LIST_EMPTY,
    CONF_YAML_LIST_LONG,     /* count: entries; limit: the most allowed */
    CONF_YAML_NOT_SCALAR,    /* expected: a noun ("a whole number") */
    CONF_YAML_VALUE_MISSING, /* expected: a noun */
    CONF_YAML_VALUE_LONG,    /* limit: the most bytes allowed */
    CONF_YAML_VALUE_NUL,     /* the value holds a NUL byte */
    CONF_YAML_NOT_NUMBER,    /* text: the value */
    CONF_YAML_NUMBER_LARGE,  /* text: the value (more than 2^64 - 1) */
    CONF_YAML_RANGE,         /* text: the value; lo, hi: the bounds */
    CONF_YAML_NOT_BOOL,
    CONF_YAML_NOT_WORD,   /* text: the value (as written, may hold control
                             bytes); expected: the words */
    CONF_YAML_BAD_UNITS,  /* expected: a noun; text: conf/units.h's reason */
    CONF_YAML_HEX_LENGTH, /* expected: a noun; count: characters given */
    CONF_YAML_HEX_DIGIT,  /* expected: a noun; count: the 1-based position
                             of the first character that is not a digit */
    CONF_YAML_PATH_LONG,  /* limit: the most bytes a path may have */
};

/* One problem, for the words that describe it. Pointers are borrowed for
 * the call to the words function only. */
struct conf_yaml_problem {
    enum conf_yaml_problem_kind kind;
    const char *what; /* key path of the value or mapping ("": none) */
    const char *got;  /* the YAML type found, as the options name it */
    const char *text; /* NUL-terminated; see the kind */
    const char *key;  /* KEY_*: the key as written, key_len bytes, not
                         NUL-terminated; may hold control bytes */
    size_t key_len;
    const char *expected; /* see the kind */
    const char *lo, *hi;  /* RANGE: the bounds, as text */
    uint64_t count;       /* see the kind */
    uint64_t limit;       /* see the kind */
    int sys_errno;        /* OPEN, STAT, READ */
};

/* Writes the message for problem p (without "FILE:LINE: ") into
 * buf[0..len), NUL-terminated, cut to fit. */
typedef void conf_yaml_words_fn(const struct conf_yaml_problem *p, char *buf,
                                size_t len);

/* How a message names the YAML type of node n ("a list", "a mapping"). */
typedef const char *conf_yaml_type_fn(const yaml_node_t *n);

/* How one family of files is read and how its errors read. */
struct conf_yaml_opts {
    size_t bytes_max; /* the largest file (conf_yaml_read_file, _load) */
    size_t nodes_max; /* values, lists and mappings (and aliases) */
    size_t depth_max; /* lists and mappings nested */
    /* true: files that are not regular (a FIFO, a process substitution)
     * are read too (blocking); false: refused (CONF_YAML_NOT_REGULAR), and
     * opening never blocks. */
    bool any_file;
    /* false: the pre-pass refuses every alias at the alias; true: aliases
     * count as nodes in the pre-pass, and a node reached a second time by
     * the walk (conf_yaml_map, conf_yaml_seq_item) is refused, at the node
     * that reaches it. */
    bool aliases_at_walk;
    /* false: a second document is refused at its start ("---"); true: at
     * its first node (an explicit empty document has one: a null). */
    bool second_document_at_node;
    /* false: an empty or null scalar ("", "~", "null") is a missing value
     * (CONF_YAML_VALUE_MISSING); true: it is a value like any other, given
     * to the parsers (which may refuse it). */
    bool empty_is_value;
    bool located;  /* messages start with "FILE:LINE: " or "FILE: " */
    bool one_line; /* control bytes in messages become '?' */
    conf_yaml_type_fn *type_name; /* NULL: conf_yaml_type_name */
    conf_yaml_words_fn *words;    /* NULL: conf_yaml_words_default */
};

/* One loaded document and where its errors go. Zero it before use; the
 * fields are the library's, except that callers may read the document
 * (doc), the file name and the place of the last error. */
struct conf_yaml_doc {
    yaml_document_t doc; /* owned between a successful load and fini */
    bool loaded;
    const struct conf_yaml_opts *opts; /* borrowed */
    const char *name;                  /* borrowed: the file name in messages */
    char *err; /* borrowed: the caller's message buffer */
    size_t err_len;
    int err_line; /* of the last error, 1-based; 0: the whole file */
    int err_column;
    uint8_t *taken; /* owned when aliases_at_walk: per node, reached */
    size_t nodes_count;
};

/* ---- reading and loading ---- */

/* Reads the whole file at path into a new buffer (*out, freed by the
 * caller with free(); a NUL follows the last byte), at most
 * opts->bytes_max bytes. Messages name the file ("PATH: ..." when located;
 * opts borrowed for the call). err[0..err_len) is the caller's buffer (may
 * be NULL). Errors: P2P_ERR_READ (cannot open, not a regular file when
 * refused, read error), P2P_ERR_OVERSIZE (more than bytes_max),
 * P2P_ERR_NOMEM. */
int conf_yaml_read_file(const char *path, const struct conf_yaml_opts *opts,
                        uint8_t **out, size_t *out_len, char *err,
                        size_t err_len);

/* Parses data[0..len) (borrowed; need not be NUL-terminated) into d.
 * name (may be NULL: "(input)"), opts (NULL: the library's, 1 MiB and the
 * replica's messages) and err[0..err_len) are borrowed for d's lifetime.
 * On success d must be released with conf_yaml_fini(); on error nothing
 * needs releasing (fini is still safe). Errors: P2P_ERR_OVERSIZE (len >
 * bytes_max), P2P_ERR_DECODE (syntax, an alias refused by the pre-pass, a
 * second document), P2P_ERR_LIMIT (more than nodes_max nodes, deeper than
 * depth_max), P2P_ERR_NOMEM. */
int conf_yaml_load(struct conf_yaml_doc *d, const uint8_t *data, size_t len,
                   const char *name, const struct conf_yaml_opts *opts,
                   char *err, size_t err_len);

/* Releases what conf_yaml_load built; safe on a failed or zeroed d. */
void conf_yaml_fini(struct conf_yaml_doc *d);

/* The root node, or NULL when the document is empty (no message). */
yaml_node_t *conf_yaml_root(struct conf_yaml_doc *d);

/* The root node, checked to be a mapping; `expected` lists the keys for
 * the message when the file is empty or the root is not a mapping
 * ("key, cert, listen, ..."). NULL with the message written
 * (P2P_ERR_DECODE) otherwise. */
yaml_node_t *conf_yaml_root_map(struct conf_yaml_doc *d, const char *expected);

/* ---- messages ---- */

/* Records at's place (none when at is NULL) and writes "WHAT: message"
 * (no "WHAT: " when what is NULL or "") into the error buffer, after
 * "FILE:LINE: " when located; returns code (< 0). For the schema's own
 * checks; the getters word their problems through the options' words. */
#ifdef __GNUC__
__attribute__((format(printf, 5, 6)))
#endif
int conf_yaml_fail(struct conf_yaml_doc *d, const yaml_node_t *at, int code,
                   const char *what, const char *fmt, ...);

/* conf_yaml_fail with a va_list (ap is consumed). */
#ifdef __GNUC__
__attribute__((format(printf, 5, 0)))
#endif
int conf_yaml_vfail(struct conf_yaml_doc *d, const yaml_node_t *at, int code,
                    const char *what, const char *fmt, va_list ap);

/* The 1-based line and column where node n starts. */
int conf_yaml_line(const yaml_node_t *n);
int conf_yaml_column(const yaml_node_t *n);

/* Writes "PREFIX.KEY" (or "KEY" when prefix is "") into buf[0..len) and
 * returns buf; a name cut to fit only shortens a message. */
const char *conf_yaml_what(char *buf, size_t len, const char *prefix,
                           const char *key);

/* True for a plain scalar that YAML reads as null ("", "~", "null"). */
bool conf_yaml_is_null(const yaml_node_t *n);

/* True when n is a scalar that is exactly word. */
bool conf_yaml_scalar_is(const yaml_node_t *n, const char *word);

/* The library's names of YAML types: "a mapping", "a list", "a single
 * value", "nothing" (a null). */
const char *conf_yaml_type_name(const yaml_node_t *n);

/* The library's words for every problem (the replica's messages). */
void conf_yaml_words_default(const struct conf_yaml_problem *p, char *buf,
                             size_t len);

/* ---- structure ---- */

/* Checks that map is a mapping whose keys are all in keys[] (at most
 * CONF_YAML_MAP_KEYS_MAX) and each appears once, and sets vals[i] to the
 * value of keys[i], NULL when absent. `where` is the mapping's key path
 * ("" for the top level, "limits", "members[2]"). */
int conf_yaml_map(struct conf_yaml_doc *d, const yaml_node_t *map,
                  const char *where, const char *const *keys, size_t keys_count,
                  yaml_node_t **vals);

/* Reports key `key` of the mapping at `where` as missing, at map's line. */
int conf_yaml_missing(struct conf_yaml_doc *d, const yaml_node_t *map,
                      const char *where, const char *key);

/* conf_yaml_seq flags. */
#define CONF_YAML_SEQ_NOT_EMPTY 1u  /* an empty list is an error */
#define CONF_YAML_SEQ_NULL_EMPTY 2u /* a null value is an empty list */

/* Checks that n is a list of at most max entries (P2P_ERR_LIMIT beyond)
 * and sets *count. */
int conf_yaml_seq(struct conf_yaml_doc *d, const yaml_node_t *n,
                  const char *what, unsigned flags, size_t max, size_t *count);

/* Entry i (< the count conf_yaml_seq gave) of list n into *out. Fails only
 * when aliases_at_walk and the entry was reached before (P2P_ERR_DECODE). */
int conf_yaml_seq_item(struct conf_yaml_doc *d, const yaml_node_t *n, size_t i,
                       yaml_node_t **out);

/* ---- scalar getters: each writes *out only on success ---- */

/* A scalar without NUL bytes, shorter than len, into buf; not empty unless
 * empty_is_value. noun names what is expected in messages ("a path"). */
int conf_yaml_text(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *noun, char *buf, size_t len);

/* conf_yaml_text with the noun "a value". */
int conf_yaml_string(struct conf_yaml_doc *d, const yaml_node_t *n,
                     const char *what, char *buf, size_t len);

/* A plain decimal number in min..max. */
int conf_yaml_u64(struct conf_yaml_doc *d, const yaml_node_t *n,
                  const char *what, uint64_t min, uint64_t max, uint64_t *out);

/* true or false (also True/TRUE, False/FALSE). */
int conf_yaml_bool(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, bool *out);

/* One of words[0..count); *index gets its position. `expected` says what
 * is expected in messages; NULL: the words, comma-separated. */
int conf_yaml_word(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *const *words, size_t count,
                   const char *expected, size_t *index);

/* A quantity with units (conf/units.h): the noun that names it in
 * messages (NULL: the library's, e.g. "a size such as 64MiB") and the
 * range it must be in. */
struct conf_yaml_quantity {
    const char *noun;
    uint64_t min, max;
};

/* A size ("64MiB", "1GB", "0") in q's range of bytes. */
int conf_yaml_size(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const struct conf_yaml_quantity *q,
                   uint64_t *out);

/* A duration ("5s", "250ms") in q's range of nanoseconds. */
int conf_yaml_duration(struct conf_yaml_doc *d, const yaml_node_t *n,
                       const char *what, const struct conf_yaml_quantity *q,
                       uint64_t *out);

/* The same for bandwidths (bits per second) and rates (the interval in
 * nanoseconds, conf_units_parse_rate). */
int conf_yaml_bandwidth(struct conf_yaml_doc *d, const yaml_node_t *n,
                        const char *what, const struct conf_yaml_quantity *q,
                        uint64_t *out);
int conf_yaml_rate(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const struct conf_yaml_quantity *q,
                   uint64_t *out);

/* Quantities without a range check; noun as above. A percentage ->
 * ppm (0..1,000,000), a signed duration -> ns, signed ppm. */
int conf_yaml_percent(struct conf_yaml_doc *d, const yaml_node_t *n,
                      const char *what, const char *noun, uint32_t *out);
int conf_yaml_offset(struct conf_yaml_doc *d, const yaml_node_t *n,
                     const char *what, const char *noun, int64_t *out);
int conf_yaml_ppm(struct conf_yaml_doc *d, const yaml_node_t *n,
                  const char *what, const char *noun, int64_t *out);

/* Exactly 2 * out_len hex digits (either case; conf/hex.h) into
 * out[0..out_len), and the lowercase text into hex[0..2 * out_len]
 * (NUL-terminated; hex may be NULL). noun names it in messages ("64 hex
 * digits (a SHA-256 node id)"). out_len at most CONF_YAML_VALUE_BYTES_MAX. */
int conf_yaml_hex(struct conf_yaml_doc *d, const yaml_node_t *n,
                  const char *what, const char *noun, uint8_t *out,
                  size_t out_len, char *hex);

/* A path, made relative to base_dir (borrowed; "" for the working
 * directory) unless absolute, into out[0..len). */
int conf_yaml_path(struct conf_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *base_dir, char *out,
                   size_t len);

/* The folder of path ("dir/x.yaml" -> "dir", "/x.yaml" -> "/", "x.yaml" ->
 * ""), the base of the paths a file names, into out[0..len). 0, or
 * P2P_ERR_OVERSIZE when it does not fit. */
int conf_yaml_dir_of(const char *path, char *out, size_t len);

#endif
