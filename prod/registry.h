/* The registry file (YAML, docs/replica.md "Registry file") into struct
 * prod_registry: a version and the subnet's members, each with core's node
 * index, its node id (SHA-256 of its SubjectPublicKeyInfo) and its UDP
 * address. The replica re-reads the file every registry_poll and adopts a
 * higher version, keeping the older ones still in use
 * (struct prod_registry_history).
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

#include "core/mem.h"
#include "core/topology.h"

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

/* ---- the registry versions in use ----
 *
 * The replica keeps the versions it polled that the node's clients still
 * reference: from the earliest in use (moved by the admin API's
 * POST /registry/earliest, else always the latest) to the latest, as core
 * keeps them (core/topology.h: the same rule and bound, computed by a
 * p2p_topology of its own). Their members' keys and addresses are what
 * the transport dials and accepts: the newest version listing an index
 * gives its key and address. */

/* One kept version's members (copied, exact size, sorted by index). */
struct prod_registry_version {
    uint64_t version;
    uint32_t count;
    struct prod_member *members; /* owned */
};

struct prod_registry_history {
    struct p2p_mem mem;       /* the topology's */
    struct p2p_topology topo; /* versions kept, earliest, the union */
    /* Kept versions, oldest first: those of topo.versions[]. */
    struct prod_registry_version versions[P2P_TOPOLOGY_VERSIONS_MAX];
    uint32_t count;
};

void prod_registry_history_init(struct prod_registry_history *h);
void prod_registry_history_fini(struct prod_registry_history *h);

/* Adds r (borrowed; its members copied) as the latest version, with the
 * earliest version in use `earliest` (<= r->version): the versions no
 * longer in use go. Errors, h unchanged: those of p2p_topology_set
 * (P2P_ERR_STATE: not newer than the latest kept, or earliest older
 * than the one in use), P2P_ERR_NOMEM. */
int prod_registry_history_add(struct prod_registry_history *h,
                              const struct prod_registry *r, uint64_t earliest);

/* Moves the earliest version in use (at most the latest): the versions
 * it leaves behind go. Errors, h unchanged: those of
 * p2p_topology_set_earliest. */
int prod_registry_history_set_earliest(struct prod_registry_history *h,
                                       uint64_t earliest);

/* The member with that index in the newest kept version that lists it,
 * or NULL. Borrowed from h until the next change. O(versions x log). */
const struct prod_member *prod_registry_history_by_index(
    const struct prod_registry_history *h, uint32_t index);

/* The member whose node id is key_id, when the newest kept version that
 * lists its index lists it with that key; else NULL (a key an index had
 * in an older version only is not accepted). Borrowed as above.
 * O(versions x count). */
const struct prod_member *prod_registry_history_by_key(
    const struct prod_registry_history *h, const uint8_t key_id[32]);

#endif
