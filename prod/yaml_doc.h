/* libyaml document helpers shared by the replica's two loaders (the config
 * file, prod/config.c, and the registry file, prod/registry.c).
 *
 * A file is read with a size cap, checked with libyaml's event API (node
 * count, nesting depth, no aliases, one document) and then loaded with the
 * document API. The getters below check a node's type, parse it and range
 * check it; every failure writes one line into the caller's buffer:
 *
 *     FILE:LINE: KEY: message        (LINE 1-based, from the node's start)
 *     FILE: message                  (whole-file problems: unreadable, empty)
 *
 * KEY ("what" below) is the dotted path of the value: "limits.pool_bytes",
 * "members[2].cert". Functions return 0 or a negative P2P_ERR_* (core/err.h):
 * P2P_ERR_DECODE for a malformed or out-of-range value, P2P_ERR_LIMIT for too
 * many nodes or entries, P2P_ERR_OVERSIZE for a file over its cap,
 * P2P_ERR_READ for a file that cannot be read, P2P_ERR_NOMEM.
 *
 * Nothing here keeps global state; a struct prod_yaml_doc is used by one
 * thread at a time. */
#ifndef P2P_PROD_YAML_DOC_H
#define P2P_PROD_YAML_DOC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <yaml.h>

/* The largest config or registry file. */
#define PROD_YAML_FILE_BYTES_MAX (1u << 20)
/* Values, lists and mappings in one file: a full registry (1024 members of
 * 4 keys) needs about 10,000. Checked before the document is built, so a
 * hostile file cannot make libyaml allocate millions of nodes. */
#define PROD_YAML_NODES_MAX (1u << 16)
/* Lists and mappings nested; the schemas need 3. libyaml's scanner slows
 * down with the square of the depth, so keep it small. */
#define PROD_YAML_DEPTH_MAX 8u
/* Keys one mapping of a schema may have (the config's top level: 12). */
#define PROD_YAML_MAP_KEYS_MAX 16u
/* A dotted key path in messages: "members[1023].cert". */
#define PROD_YAML_WHAT_BYTES 64u
/* "host:port" text: "[" 45-character IPv6 "]:65535" fits, with a scope. */
#define PROD_YAML_ADDR_TEXT_BYTES 64u

/* One loaded document and where its errors go. */
struct prod_yaml_doc {
    yaml_document_t doc; /* owned between a successful load and fini */
    bool loaded;
    const char *name;    /* borrowed: the file name in messages */
    char *err;           /* borrowed: the caller's message buffer */
    size_t err_len;
};

/* Reads a whole file into a new buffer (*out, freed by the caller with
 * free(); one spare byte holds a NUL). Only regular files are read (a FIFO
 * would block), at most bytes_max bytes. Messages name the file as
 * "PATH: ...". Errors: P2P_ERR_READ (cannot open, not a regular file, read
 * error), P2P_ERR_OVERSIZE (larger than bytes_max), P2P_ERR_NOMEM. */
int prod_yaml_read_file(const char *path, size_t bytes_max, uint8_t **out,
                        size_t *out_len, char *err, size_t err_len);

/* Parses data[0..len) (borrowed; need not be NUL-terminated) into d. name
 * (borrowed, must outlive d) names the file in messages; err[0..err_len) is
 * the caller's buffer, also borrowed for d's lifetime. On success d must be
 * released with prod_yaml_fini(); on error nothing needs releasing (fini is
 * still safe). Errors: P2P_ERR_OVERSIZE (len > PROD_YAML_FILE_BYTES_MAX),
 * P2P_ERR_DECODE (a syntax error, an alias, a second document),
 * P2P_ERR_LIMIT (more than PROD_YAML_NODES_MAX nodes or deeper than
 * PROD_YAML_DEPTH_MAX), P2P_ERR_NOMEM. */
int prod_yaml_load(struct prod_yaml_doc *d, const uint8_t *data, size_t len,
                   const char *name, char *err, size_t err_len);

/* Releases what prod_yaml_load built; safe on a failed or zeroed d. */
void prod_yaml_fini(struct prod_yaml_doc *d);

/* The root node, checked to be a mapping; `expected` describes the keys
 * for the message when the file is empty ("key, cert, listen, ...").
 * NULL with the message written (P2P_ERR_DECODE) otherwise. */
yaml_node_t *prod_yaml_root_map(struct prod_yaml_doc *d, const char *expected);

/* Writes "NAME:LINE: WHAT: message" (LINE from at->start_mark; no LINE
 * when at is NULL; no "WHAT: " when what is NULL or "") into the error
 * buffer and returns code (< 0). */
#ifdef __GNUC__
__attribute__((format(printf, 5, 6)))
#endif
int prod_yaml_fail(const struct prod_yaml_doc *d, const yaml_node_t *at,
                   int code, const char *what, const char *fmt, ...);

/* The 1-based line where node n starts. */
int prod_yaml_line(const yaml_node_t *n);

/* Writes "PREFIX.KEY" (or "KEY" when prefix is "") into buf[0..len) and
 * returns buf; a name cut to fit only shortens a message. */
const char *prod_yaml_what(char *buf, size_t len, const char *prefix,
                           const char *key);

/* True for a plain scalar that YAML reads as null ("", "~", "null"). */
bool prod_yaml_is_null(const yaml_node_t *n);

/* Checks that map is a mapping whose keys are all in keys[] (at most
 * PROD_YAML_MAP_KEYS_MAX) and each appears once, and sets vals[i] to the
 * value of keys[i], NULL when absent. `where` is the mapping's key path
 * ("" for the top level, "limits", "members[2]"). Errors name the
 * offending key: "limits.colour: unknown key (expected ...)". */
int prod_yaml_map(const struct prod_yaml_doc *d, const yaml_node_t *map,
                  const char *where, const char *const *keys,
                  size_t keys_count, yaml_node_t **vals);

/* "WHERE.KEY: missing (required)" at map's line. */
int prod_yaml_missing(const struct prod_yaml_doc *d, const yaml_node_t *map,
                      const char *where, const char *key);

/* Checks that n is a list of 1..max entries and sets *count. P2P_ERR_LIMIT
 * when it has more than max. */
int prod_yaml_seq(const struct prod_yaml_doc *d, const yaml_node_t *n,
                  const char *what, size_t max, size_t *count);

/* Entry i (< the count prod_yaml_seq gave) of list n. */
yaml_node_t *prod_yaml_seq_item(const struct prod_yaml_doc *d,
                                const yaml_node_t *n, size_t i);

/* ---- scalar getters: each writes *out only on success ---- */

/* A non-empty scalar without NUL bytes, shorter than len, into buf. */
int prod_yaml_string(const struct prod_yaml_doc *d, const yaml_node_t *n,
                     const char *what, char *buf, size_t len);

/* A plain decimal number in min..max. */
int prod_yaml_u64(const struct prod_yaml_doc *d, const yaml_node_t *n,
                  const char *what, uint64_t min, uint64_t max,
                  uint64_t *out);

/* A size (sim/units.h: "64MiB", "1GB", "0") in min..max bytes. */
int prod_yaml_size(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, uint64_t min, uint64_t max,
                   uint64_t *out);

/* A duration (sim/units.h: "5s", "250ms") in min..max nanoseconds. */
int prod_yaml_duration(const struct prod_yaml_doc *d, const yaml_node_t *n,
                       const char *what, uint64_t min, uint64_t max,
                       uint64_t *out);

/* true or false (also True/TRUE, False/FALSE). */
int prod_yaml_bool(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, bool *out);

/* One of words[0..count); *index gets its position. */
int prod_yaml_word(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *const *words, size_t count,
                   size_t *index);

/* 64 hex digits (either case) -> 32 bytes, and the lowercase text into
 * hex[65]. */
int prod_yaml_hex32(const struct prod_yaml_doc *d, const yaml_node_t *n,
                    const char *what, uint8_t out[32], char hex[65]);

/* A path, made relative to base_dir (borrowed; "" for the working
 * directory) unless absolute, into out[0..len). */
int prod_yaml_path(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, const char *base_dir, char *out,
                   size_t len);

/* "host:port" (see prod_yaml_parse_addr) into *addr and *addr_len, and the text
 * as written into text[PROD_YAML_ADDR_TEXT_BYTES]. */
int prod_yaml_addr(const struct prod_yaml_doc *d, const yaml_node_t *n,
                   const char *what, uint16_t port_min,
                   struct sockaddr_storage *addr, socklen_t *addr_len,
                   char text[PROD_YAML_ADDR_TEXT_BYTES]);

/* ---- helpers without a document ---- */

/* Parses "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT" (127.0.0.1) with
 * PORT in port_min..65535 (decimal, no sign). Host names other than
 * localhost are refused: the replica never resolves names. On -1 writes a
 * reason into msg[0..msg_len) ("expected host:port, e.g. 127.0.0.1:4100").
 * Returns 0 or -1. */
int prod_yaml_parse_addr(const char *text, uint16_t port_min,
                         struct sockaddr_storage *addr, socklen_t *addr_len,
                         char *msg, size_t msg_len);

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool prod_yaml_addr_is_loopback(const struct sockaddr_storage *addr);

/* The folder of path ("dir/x.yaml" -> "dir", "/x.yaml" -> "/", "x.yaml" ->
 * "") into out[0..len). -1 when it does not fit. */
int prod_yaml_dir_of(const char *path, char *out, size_t len);

#endif
