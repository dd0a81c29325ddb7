/* The replica's YAML files, the config (prod/config.c) and the registry
 * (prod/registry.c): their limits and how their errors read, on top of the
 * shared helpers of conf/yaml.h.
 *
 * Messages read "FILE:LINE: KEY: message" (LINE 1-based, from the node's
 * start) or "FILE: message" for whole-file problems, on one line; only
 * regular files are read; aliases and second documents are refused by the
 * pre-pass. Functions return 0 or a negative P2P_ERR_* as conf/yaml.h
 * says. No state. */
#ifndef P2P_PROD_YAML_DOC_H
#define P2P_PROD_YAML_DOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/yaml.h"
#include "prod/addr.h"

/* The largest config or registry file. */
#define PROD_YAML_FILE_BYTES_MAX (1u << 20)
/* Values, lists and mappings in one file: a full registry (1024 members of
 * 4 keys) needs about 10,000. Checked before the document is built, so a
 * hostile file cannot make libyaml allocate millions of nodes. */
#define PROD_YAML_NODES_MAX (1u << 16)
/* Lists and mappings nested; the schemas need 3. libyaml's scanner slows
 * down with the square of the depth, so keep it small. */
#define PROD_YAML_DEPTH_MAX 8u
/* A dotted key path in messages: "members[1023].cert". */
#define PROD_YAML_WHAT_BYTES CONF_YAML_WHAT_BYTES

/* Reads a whole file (conf_yaml_read_file) of at most bytes_max bytes,
 * "PATH: ..." messages. */
int prod_yaml_doc_read_file(const char *path, size_t bytes_max, uint8_t **out,
                            size_t *out_len, char *err, size_t err_len);

/* conf_yaml_load with the replica's limits and messages; name, err borrowed
 * for d's lifetime. */
int prod_yaml_doc_load(struct conf_yaml_doc *d, const uint8_t *data, size_t len,
                       const char *name, char *err, size_t err_len);

/* A node id: 64 hex digits (either case) -> 32 bytes, and the lowercase
 * text into hex[65]. */
int prod_yaml_doc_node_id(struct conf_yaml_doc *d, const yaml_node_t *n,
                          const char *what, uint8_t out[32], char hex[65]);

/* "host:port" (prod_addr_parse) into *addr and *addr_len, and the text as
 * written into text[PROD_ADDR_TEXT_BYTES]. */
int prod_yaml_doc_addr(struct conf_yaml_doc *d, const yaml_node_t *n,
                       const char *what, uint16_t port_min,
                       struct sockaddr_storage *addr, socklen_t *addr_len,
                       char text[PROD_ADDR_TEXT_BYTES]);

#endif
