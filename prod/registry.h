/* The registry file (YAML, docs/replica.md "Registry file") into struct
 * prod_registry: a version and the subnet's members, each with core's node
 * index, its node id (SHA-256 of its SubjectPublicKeyInfo) and its UDP
 * address. The replica re-reads the file every registry_poll and adopts a
 * higher version.
 *
 *     version: 3
 *     members:
 *       - {index: 0, id: <64 hex>, addr: 127.0.0.1:4100, cert: n0/cert.pem}
 *
 * A member's optional cert (relative to the registry file's folder) is read
 * and its key id checked against id. Errors are one line naming the file,
 * the line and the key ("registry.yaml:9: members[1].index: ..."). */
#ifndef P2P_PROD_REGISTRY_H
#define P2P_PROD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROD_REGISTRY_MEMBERS_MAX 1024u
/* Member indexes are below this (core's default node_ids_max). */
#define PROD_REGISTRY_INDEX_MAX 4096u
/* The largest member certificate file read. */
#define PROD_REGISTRY_CERT_BYTES_MAX (64u << 10)

struct prod_member {
    uint32_t index;     /* core's node id, < PROD_REGISTRY_INDEX_MAX */
    uint8_t key_id[32]; /* SHA-256 of the SPKI */
    char id_hex[65];    /* the same, 64 lowercase hex digits */
    char addr_text[64]; /* "host:port" as written */
    struct sockaddr_storage addr; /* UDP; port 1..65535 */
    socklen_t addr_len;
};

/* About 300 KiB: callers allocate it on the heap. */
struct prod_registry {
    uint64_t version; /* >= 1 */
    uint32_t count;   /* 1..PROD_REGISTRY_MEMBERS_MAX */
    /* members[0..count), sorted by index; indexes and ids are unique. */
    struct prod_member members[PROD_REGISTRY_MEMBERS_MAX];
};

/* Loads the file at path (borrowed) into *out. On error writes one line
 * into err[0..err_len) (NUL-terminated when err_len > 0) and leaves *out
 * zeroed (count 0). Errors: P2P_ERR_READ (the file or a member's cert
 * cannot be read), P2P_ERR_OVERSIZE (file over PROD_YAML_FILE_BYTES_MAX),
 * P2P_ERR_DECODE (syntax, unknown or missing key, bad value, duplicate
 * index or id, a cert that is not a PEM X.509 certificate),
 * P2P_ERR_ID_MISMATCH (a cert whose key id is not the member's id),
 * P2P_ERR_LIMIT (more than PROD_REGISTRY_MEMBERS_MAX members, too many YAML
 * nodes), P2P_ERR_NOMEM. */
int prod_registry_load(const char *path, struct prod_registry *out, char *err,
                       size_t err_len);

/* Like prod_registry_load on data[0..len) (borrowed); name stands for the
 * file: it appears in messages and its folder anchors relative cert
 * paths. */
int prod_registry_load_mem(const uint8_t *data, size_t len, const char *name,
                           struct prod_registry *out, char *err,
                           size_t err_len);

/* The member whose node id is key_id, or NULL. Borrowed from r. O(count). */
const struct prod_member *prod_registry_by_key(const struct prod_registry *r,
                                               const uint8_t key_id[32]);

/* The member with that index, or NULL. Borrowed from r. O(log count). */
const struct prod_member *prod_registry_by_index(const struct prod_registry *r,
                                                 uint32_t index);

#endif
