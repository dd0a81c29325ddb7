/* The registry file: YAML -> struct prod_registry (docs/replica.md), with
 * the helpers of conf/yaml.h (prod/yaml_doc.h); member certificates are
 * checked with GnuTLS. */
#include "prod/registry.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>

#include "conf/hex.h"
#include "core/assert.h"
#include "core/err.h"
#include "prod/yaml_doc.h"

enum root_key { K_VERSION, K_MEMBERS, K_COUNT };
static const char *const root_keys[K_COUNT] = {"version", "members"};

enum member_key { M_INDEX, M_ID, M_ADDR, M_CERT, M_COUNT };
static const char *const member_keys[M_COUNT] = {"index", "id", "addr", "cert"};

/* Where each member was in the file, for duplicate messages. */
struct member_pos {
    int index_line;
    int id_line;
};

struct loader {
    struct conf_yaml_doc *d; /* borrowed */
    const char *base_dir;    /* borrowed: the registry's folder */
    char *cert_path;         /* owned: PROD_PATH_BYTES scratch */
    struct member_pos *pos;  /* owned: one per member */
    /* Position + 1 of the member holding each index (0: none). */
    uint16_t by_index[PROD_REGISTRY_INDEX_MAX];
};

#define PATH_BYTES 4096u

/* Reads the PEM certificate at ld->cert_path and checks that its key id is
 * m's. `at` is the cert value's node. */
static int check_cert(struct loader *ld, const yaml_node_t *at,
                      const char *what, const struct prod_member *m)
{
    char msg[256];
    uint8_t *pem = NULL;
    size_t pem_len = 0;
    gnutls_x509_crt_t crt = NULL;
    uint8_t key_id[64];
    size_t key_id_len = sizeof key_id;
    int rc;
    /* The reader names the file; our message names the key first. */
    rc = prod_yaml_doc_read_file(ld->cert_path, PROD_REGISTRY_CERT_BYTES_MAX,
                                 &pem, &pem_len, msg, sizeof msg);
    if (rc != 0)
        return conf_yaml_fail(ld->d, at, rc, what, "%s", msg);
    if (gnutls_x509_crt_init(&crt) < 0) {
        rc = conf_yaml_fail(ld->d, at, P2P_ERR_NOMEM, what, "out of memory");
        goto done;
    }
    gnutls_datum_t datum = {pem, (unsigned)pem_len};
    int grc = gnutls_x509_crt_import(crt, &datum, GNUTLS_X509_FMT_PEM);
    if (grc < 0) {
        rc = conf_yaml_fail(ld->d, at, P2P_ERR_DECODE, what,
                            "%s is not a PEM X.509 certificate (%s)",
                            ld->cert_path, gnutls_strerror(grc));
        goto done;
    }
    grc = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, key_id,
                                     &key_id_len);
    if (grc < 0 || key_id_len != 32) {
        rc = conf_yaml_fail(ld->d, at, P2P_ERR_DECODE, what,
                            "cannot compute the key id of %s (%s)",
                            ld->cert_path,
                            grc < 0 ? gnutls_strerror(grc) : "not SHA-256");
        goto done;
    }
    if (memcmp(key_id, m->key_id, 32) != 0) {
        char hex[65];
        conf_hex_encode(key_id, 32, hex, sizeof hex);
        rc = conf_yaml_fail(ld->d, at, P2P_ERR_ID_MISMATCH, what,
                            "the certificate's key id is %s, not the "
                            "member's id %s",
                            hex, m->id_hex);
        goto done;
    }
    rc = 0;
done:
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    free(pem);
    return rc;
}

/* Parses entry i of members into out->members[i]; duplicates of the
 * entries before it are errors. */
static int parse_member(struct loader *ld, const yaml_node_t *n, size_t i,
                        struct prod_registry *out)
{
    struct conf_yaml_doc *d = ld->d;
    char where[PROD_YAML_WHAT_BYTES], what[PROD_YAML_WHAT_BYTES];
    yaml_node_t *v[M_COUNT];
    struct prod_member *m = &out->members[i];
    uint64_t index;
    int rc;
    snprintf(where, sizeof where, "members[%zu]", i);
    if ((rc = conf_yaml_map(d, n, where, member_keys, M_COUNT, v)) != 0)
        return rc;
    for (size_t k = 0; k < M_CERT; k++) /* cert is optional */
        if (v[k] == NULL)
            return conf_yaml_missing(d, n, where, member_keys[k]);

    conf_yaml_what(what, sizeof what, where, "index");
    if ((rc = conf_yaml_u64(d, v[M_INDEX], what, 0, PROD_REGISTRY_INDEX_MAX - 1,
                            &index)) != 0)
        return rc;
    if (ld->by_index[index] != 0) {
        size_t first = ld->by_index[index] - 1u;
        return conf_yaml_fail(d, v[M_INDEX], P2P_ERR_DECODE, what,
                              "%llu is also the index of members[%zu] "
                              "(line %d)",
                              (unsigned long long)index, first,
                              ld->pos[first].index_line);
    }
    ld->by_index[index] = (uint16_t)(i + 1);
    m->index = (uint32_t)index;
    ld->pos[i].index_line = conf_yaml_line(v[M_INDEX]);

    conf_yaml_what(what, sizeof what, where, "id");
    if ((rc = prod_yaml_doc_node_id(d, v[M_ID], what, m->key_id, m->id_hex)) !=
        0)
        return rc;
    /* Quadratic, but at most 1024^2 / 2 comparisons of 32 bytes. */
    for (size_t j = 0; j < i; j++)
        if (memcmp(out->members[j].key_id, m->key_id, 32) == 0)
            return conf_yaml_fail(d, v[M_ID], P2P_ERR_DECODE, what,
                                  "the same id as members[%zu] (line %d)", j,
                                  ld->pos[j].id_line);
    ld->pos[i].id_line = conf_yaml_line(v[M_ID]);

    conf_yaml_what(what, sizeof what, where, "addr");
    if ((rc = prod_yaml_doc_addr(d, v[M_ADDR], what, 1, &m->addr, &m->addr_len,
                                 m->addr_text)) != 0)
        return rc;

    if (v[M_CERT] != NULL) {
        conf_yaml_what(what, sizeof what, where, "cert");
        if ((rc = conf_yaml_path(d, v[M_CERT], what, ld->base_dir,
                                 ld->cert_path, PATH_BYTES)) != 0)
            return rc;
        if ((rc = check_cert(ld, v[M_CERT], what, m)) != 0)
            return rc;
    }
    return 0;
}

static int by_index_cmp(const void *a, const void *b)
{
    const struct prod_member *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

static int parse_root(struct loader *ld, const yaml_node_t *root,
                      struct prod_registry *out)
{
    struct conf_yaml_doc *d = ld->d;
    yaml_node_t *v[K_COUNT];
    size_t count;
    int rc = conf_yaml_map(d, root, "", root_keys, K_COUNT, v);
    if (rc != 0)
        return rc;
    for (size_t k = 0; k < K_COUNT; k++)
        if (v[k] == NULL)
            return conf_yaml_missing(d, root, "", root_keys[k]);
    if ((rc = conf_yaml_u64(d, v[K_VERSION], "version", 1, UINT64_MAX,
                            &out->version)) != 0)
        return rc;
    if ((rc = conf_yaml_seq(d, v[K_MEMBERS], "members", CONF_YAML_SEQ_NOT_EMPTY,
                            PROD_REGISTRY_MEMBERS_MAX, &count)) != 0)
        return rc;
    ld->pos = calloc(count, sizeof *ld->pos);
    if (ld->pos == NULL)
        return conf_yaml_fail(d, NULL, P2P_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item;
        if ((rc = conf_yaml_seq_item(d, v[K_MEMBERS], i, &item)) != 0 ||
            (rc = parse_member(ld, item, i, out)) != 0)
            return rc;
    }
    out->count = (uint32_t)count;
    qsort(out->members, count, sizeof out->members[0], by_index_cmp);
    return 0;
}

int prod_registry_load_mem(const uint8_t *data, size_t len, const char *name,
                           struct prod_registry *out, char *err, size_t err_len)
{
    struct conf_yaml_doc d;
    char base_dir[PATH_BYTES];
    struct loader *ld = NULL;
    P2P_ASSERT(out != NULL && name != NULL);
    memset(out, 0, sizeof *out);
    int rc = prod_yaml_doc_load(&d, data, len, name, err, err_len);
    if (rc != 0)
        return rc;
    if (conf_yaml_dir_of(name, base_dir, sizeof base_dir) != 0) {
        rc = conf_yaml_fail(&d, NULL, P2P_ERR_DECODE, NULL,
                            "the file's path is too long");
        goto done;
    }
    yaml_node_t *root = conf_yaml_root_map(&d, "version, members");
    if (root == NULL) {
        rc = P2P_ERR_DECODE;
        goto done;
    }
    /* The loader holds an 8 KiB index table: heap, not stack. */
    ld = calloc(1, sizeof *ld);
    char *cert_path = malloc(PATH_BYTES);
    if (ld == NULL || cert_path == NULL) {
        free(cert_path);
        rc = conf_yaml_fail(&d, NULL, P2P_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    ld->d = &d;
    ld->base_dir = base_dir;
    ld->cert_path = cert_path;
    rc = parse_root(ld, root, out);
    free(ld->pos);
    free(ld->cert_path);
done:
    free(ld);
    conf_yaml_fini(&d);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    P2P_ASSERT(out->version >= 1);
    P2P_ASSERT(out->count >= 1 && out->count <= PROD_REGISTRY_MEMBERS_MAX);
    for (uint32_t i = 1; i < out->count; i++)
        P2P_ASSERT(out->members[i - 1].index < out->members[i].index);
    return 0;
}

int prod_registry_load(const char *path, struct prod_registry *out, char *err,
                       size_t err_len)
{
    uint8_t *data;
    size_t len;
    P2P_ASSERT(path != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    int rc = prod_yaml_doc_read_file(path, PROD_YAML_FILE_BYTES_MAX, &data,
                                     &len, err, err_len);
    if (rc != 0)
        return rc;
    rc = prod_registry_load_mem(data, len, path, out, err, err_len);
    free(data);
    return rc;
}

const struct prod_member *prod_registry_by_key(const struct prod_registry *r,
                                               const uint8_t key_id[32])
{
    P2P_ASSERT(r->count <= PROD_REGISTRY_MEMBERS_MAX);
    for (uint32_t i = 0; i < r->count; i++)
        if (memcmp(r->members[i].key_id, key_id, 32) == 0)
            return &r->members[i];
    return NULL;
}

const struct prod_member *prod_registry_by_index(const struct prod_registry *r,
                                                 uint32_t index)
{
    uint32_t lo = 0, hi = r->count;
    P2P_ASSERT(r->count <= PROD_REGISTRY_MEMBERS_MAX);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->members[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->count && r->members[lo].index == index ? &r->members[lo]
                                                          : NULL;
}

/* ---- the registry versions in use ---- */

void prod_registry_history_init(struct prod_registry_history *h)
{
    memset(h, 0, sizeof(*h));
    p2p_mem_init(&h->mem);
    p2p_topology_init(&h->topo);
}

void prod_registry_history_fini(struct prod_registry_history *h)
{
    for (uint32_t i = 0; i < h->count; i++)
        free(h->versions[i].members);
    p2p_topology_fini(&h->topo, &h->mem);
    memset(h, 0, sizeof(*h));
}

/* Drops the kept versions the topology no longer holds (the others stay,
 * in order). */
static void prune(struct prod_registry_history *h)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        bool in_use = false;
        for (uint32_t k = 0; k < h->topo.versions_count && !in_use; k++)
            in_use = h->topo.versions[k].version == h->versions[i].version;
        if (in_use)
            h->versions[kept++] = h->versions[i];
        else
            free(h->versions[i].members);
    }
    h->count = kept;
}

int prod_registry_history_add(struct prod_registry_history *h,
                              const struct prod_registry *r, uint64_t earliest)
{
    P2P_ASSERT(r->count <= PROD_REGISTRY_MEMBERS_MAX);
    size_t n = r->count ? r->count : 1;
    struct prod_member *copy = malloc(n * sizeof(*copy));
    struct p2p_member *m = calloc(n, sizeof(*m));
    if (copy == NULL || m == NULL) {
        free(copy);
        free(m);
        return P2P_ERR_NOMEM;
    }
    memcpy(copy, r->members, r->count * sizeof(*copy));
    for (uint32_t i = 0; i < r->count; i++) {
        m[i].id = r->members[i].index;
        snprintf(m[i].addr, sizeof(m[i].addr), "%s", r->members[i].addr_text);
    }
    struct p2p_topology_update u = {.version = r->version,
                                    .earliest_version = earliest,
                                    .members = m,
                                    .count = r->count};
    int rc = p2p_topology_set(&h->topo, &h->mem, &u, PROD_REGISTRY_INDEX_MAX);
    free(m);
    if (rc != 0) {
        free(copy);
        return rc;
    }
    /* The topology keeps at most P2P_TOPOLOGY_VERSIONS_MAX, the new one
     * among them: once the dropped ones are gone there is room for it. */
    prune(h);
    P2P_ASSERT(h->count < P2P_TOPOLOGY_VERSIONS_MAX);
    h->versions[h->count++] = (struct prod_registry_version){
        .version = r->version, .count = r->count, .members = copy};
    P2P_ASSERT(h->count == h->topo.versions_count);
    return 0;
}

int prod_registry_history_set_earliest(struct prod_registry_history *h,
                                       uint64_t earliest)
{
    int rc = p2p_topology_set_earliest(&h->topo, &h->mem, earliest);
    if (rc == 0)
        prune(h);
    P2P_ASSERT(h->count == h->topo.versions_count);
    return rc;
}

static const struct prod_member *find_index(
    const struct prod_registry_version *v, uint32_t index)
{
    uint32_t lo = 0, hi = v->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v->members[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->count && v->members[lo].index == index ? &v->members[lo]
                                                          : NULL;
}

const struct prod_member *prod_registry_history_by_index(
    const struct prod_registry_history *h, uint32_t index)
{
    for (uint32_t k = h->count; k-- > 0;) {
        const struct prod_member *m = find_index(&h->versions[k], index);
        if (m != NULL)
            return m;
    }
    return NULL;
}

const struct prod_member *prod_registry_history_by_key(
    const struct prod_registry_history *h, const uint8_t key_id[32])
{
    for (uint32_t k = h->count; k-- > 0;) {
        const struct prod_registry_version *v = &h->versions[k];
        for (uint32_t i = 0; i < v->count; i++) {
            if (memcmp(v->members[i].key_id, key_id, 32) != 0)
                continue;
            /* Its index's newest record must be this key. */
            const struct prod_member *newest =
                prod_registry_history_by_index(h, v->members[i].index);
            return newest != NULL && memcmp(newest->key_id, key_id, 32) == 0
                       ? newest
                       : NULL;
        }
    }
    return NULL;
}
