/* The replica's config file: YAML -> struct prod_config, following the
 * schema of docs/replica.md, with the helpers of conf/yaml.h as
 * prod/yaml_doc.h sets them up. */
#include "prod/config.h"

#include <stdlib.h>
#include <string.h>

#include "conf/units.h"
#include "core/assert.h"
#include "core/err.h"
#include "core/shim.h"
#include "core/state_manifest.h"
#include "prod/yaml_doc.h"

/* Bytes an envelope adds around an artifact (P2P_ARTIFACT_BYTES_MAX leaves
 * this much of a message for it). */
#define ENVELOPE_BYTES (P2P_FRAME_MESSAGE_BYTES_MAX - P2P_ARTIFACT_BYTES_MAX)

enum root_key {
    K_NODE_ID,
    K_KEY,
    K_CERT,
    K_LISTEN,
    K_REGISTRY,
    K_REGISTRY_POLL,
    K_DATA_DIR,
    K_ADMIN,
    K_ADMIN_PUBLIC,
    K_LOG,
    K_LIMITS,
    K_TIMEOUTS,
    K_COUNT
};
static const char *const root_keys[K_COUNT] = {
    "node_id",  "key",   "cert",         "listen", "registry", "registry_poll",
    "data_dir", "admin", "admin_public", "log",    "limits",   "timeouts",
};
static const char root_expected[] = "key, cert, listen, registry, data_dir, "
                                    "admin, ...";

static const char *const log_words[] = {"error", "warn", "info", "debug"};

/* One numeric key of limits or timeouts. */
enum field_kind { F_SIZE, F_COUNT, F_DURATION };
struct field {
    const char *key;
    enum field_kind kind;
    size_t offset; /* into struct prod_config */
    uint8_t width; /* 4 or 8 bytes */
    uint64_t min, max;
};

#define U64_FIELD(name) offsetof(struct prod_config, name), 8
#define U32_FIELD(name) offsetof(struct prod_config, name), 4

static const struct field limit_fields[] = {
    {"artifact_bytes", F_SIZE, U64_FIELD(artifact_bytes_max), 1,
     P2P_ARTIFACT_BYTES_MAX},
    {"pool_bytes", F_SIZE, U64_FIELD(pool_bytes_max), 1, PROD_CONFIG_BYTES_MAX},
    {"pool_artifacts", F_COUNT, U64_FIELD(pool_artifacts_max), 1,
     P2P_CONFIG_TABLE_MAX},
    {"streams", F_COUNT, U32_FIELD(streams_max), 1, P2P_CONFIG_TABLE_MAX},
    {"streams_per_peer", F_COUNT, U32_FIELD(streams_per_peer_max), 1,
     P2P_CONFIG_TABLE_MAX},
    {"state_chunk", F_SIZE, U64_FIELD(state_chunk_bytes), 1,
     P2P_STATE_CHUNK_BYTES_MAX},
    {"state_bytes", F_SIZE, U64_FIELD(state_bytes_max), 1,
     PROD_CONFIG_BYTES_MAX},
    {"admin_body", F_SIZE, U64_FIELD(admin_body_bytes_max), 1,
     PROD_CONFIG_BYTES_MAX},
    {"admin_buffer", F_SIZE, U64_FIELD(admin_buffered_bytes_max), 1,
     PROD_CONFIG_BYTES_MAX},
};
enum {
    LIMIT_STATE_CHUNK = 5,
    LIMIT_STATE_BYTES = 6,
    LIMIT_ADMIN_BODY = 7,
    LIMIT_ADMIN_BUFFER = 8
};

static const struct field timeout_fields[] = {
    {"keepalive", F_DURATION, U64_FIELD(keepalive_ns), 1,
     PROD_CONFIG_DURATION_MAX_NS},
    {"idle", F_DURATION, U64_FIELD(idle_timeout_ns), 1,
     PROD_CONFIG_DURATION_MAX_NS},
    {"dial", F_DURATION, U64_FIELD(dial_timeout_ns), 1,
     PROD_CONFIG_DURATION_MAX_NS},
    {"stream_read", F_DURATION, U64_FIELD(stream_read_timeout_ns), 1,
     PROD_CONFIG_DURATION_MAX_NS},
};
enum { TIMEOUT_KEEPALIVE = 0, TIMEOUT_IDLE = 1 };

#define FIELDS_MAX 16
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

void prod_config_default(struct prod_config *c)
{
    struct p2p_config core;
    P2P_ASSERT(c != NULL);
    p2p_config_default(&core, 0, 0);
    memset(c, 0, sizeof *c);
    c->registry_poll_ns = P2P_NS_PER_S;
    c->log_level = PROD_LOG_INFO;
    c->artifact_bytes_max = P2P_ARTIFACT_BYTES_MAX;
    c->pool_bytes_max = core.pool.bytes_max[P2P_POOL_VALIDATED];
    c->pool_artifacts_max = core.pool.count_max[P2P_POOL_VALIDATED];
    c->state_chunk_bytes = P2P_STATE_CHUNK_BYTES_DEFAULT;
    c->state_bytes_max = 1ULL << 30;
    c->admin_body_bytes_max = 128ULL << 20;
    c->admin_buffered_bytes_max = 256ULL << 20;
    c->streams_max = core.streams_max;
    c->streams_per_peer_max = core.streams_in_per_peer_max;
    c->keepalive_ns = core.keepalive_ns;
    c->idle_timeout_ns = core.idle_timeout_ns;
    c->dial_timeout_ns = core.dial_timeout_ns;
    c->stream_read_timeout_ns = core.stream_read_timeout_ns;
}

/* Parses the numeric keys of one section (limits or timeouts); vals[i]
 * (may be NULL) is the value of fields[i]. */
static int parse_fields(struct conf_yaml_doc *d, const char *section,
                        const struct field *fields, size_t count,
                        yaml_node_t *const *vals, struct prod_config *out)
{
    char what[PROD_YAML_WHAT_BYTES];
    for (size_t i = 0; i < count; i++) {
        const struct field *f = &fields[i];
        uint64_t v = 0;
        int rc;
        if (vals[i] == NULL)
            continue;
        conf_yaml_what(what, sizeof what, section, f->key);
        const struct conf_yaml_quantity q = {NULL, f->min, f->max};
        if (f->kind == F_SIZE)
            rc = conf_yaml_size(d, vals[i], what, &q, &v);
        else if (f->kind == F_COUNT)
            rc = conf_yaml_u64(d, vals[i], what, f->min, f->max, &v);
        else
            rc = conf_yaml_duration(d, vals[i], what, &q, &v);
        if (rc != 0)
            return rc;
        uint8_t *p = (uint8_t *)out + f->offset;
        if (f->width == 4) {
            P2P_ASSERT(v <= UINT32_MAX);
            uint32_t v32 = (uint32_t)v;
            memcpy(p, &v32, sizeof v32);
        } else {
            memcpy(p, &v, sizeof v);
        }
    }
    return 0;
}

/* An optional section: NULL or null means absent (all defaults). */
static int parse_section(struct conf_yaml_doc *d, const yaml_node_t *n,
                         const char *section, const struct field *fields,
                         size_t count, yaml_node_t **vals,
                         struct prod_config *out)
{
    const char *keys[FIELDS_MAX];
    P2P_ASSERT(count <= FIELDS_MAX);
    for (size_t i = 0; i < count; i++)
        vals[i] = NULL;
    if (n == NULL || conf_yaml_is_null(n))
        return 0;
    for (size_t i = 0; i < count; i++)
        keys[i] = fields[i].key;
    int rc = conf_yaml_map(d, n, section, keys, count, vals);
    if (rc != 0)
        return rc;
    return parse_fields(d, section, fields, count, vals, out);
}

/* The first present node of a and b, and its key path; the root when
 * neither is in the file. */
static const yaml_node_t *pick(const yaml_node_t *root, const yaml_node_t *a,
                               const char *a_what, const yaml_node_t *b,
                               const char *b_what, const char **what)
{
    *what = a != NULL || b == NULL ? a_what : b_what;
    return a != NULL ? a : b != NULL ? b : root;
}

/* Checks that involve two keys; the error points at the first of the pair
 * that the file sets. */
static int check_cross(struct conf_yaml_doc *d, const yaml_node_t *root,
                       yaml_node_t *const *limits, yaml_node_t *const *timeouts,
                       const struct prod_config *c)
{
    const char *what;
    const yaml_node_t *at;
    /* Core refuses a keepalive that is not shorter than the idle timeout. */
    if (c->keepalive_ns >= c->idle_timeout_ns) {
        at = pick(root, timeouts[TIMEOUT_KEEPALIVE], "timeouts.keepalive",
                  timeouts[TIMEOUT_IDLE], "timeouts.idle", &what);
        char ka[32], idle[32];
        conf_units_format_duration(c->keepalive_ns, ka, sizeof ka);
        conf_units_format_duration(c->idle_timeout_ns, idle, sizeof idle);
        return conf_yaml_fail(d, at, P2P_ERR_DECODE, what,
                              "the keepalive (%s) must be shorter than the "
                              "idle timeout (%s)",
                              ka, idle);
    }
    /* A state made here must fit in one manifest. */
    uint64_t chunks = c->state_bytes_max / c->state_chunk_bytes +
                      (c->state_bytes_max % c->state_chunk_bytes != 0);
    if (chunks > P2P_STATE_CHUNKS_MAX) {
        at = pick(root, limits[LIMIT_STATE_BYTES], "limits.state_bytes",
                  limits[LIMIT_STATE_CHUNK], "limits.state_chunk", &what);
        return conf_yaml_fail(d, at, P2P_ERR_DECODE, what,
                              "%llu chunks of state, more than the limit of "
                              "%u (raise state_chunk or lower state_bytes)",
                              (unsigned long long)chunks, P2P_STATE_CHUNKS_MAX);
    }
    /* The admin's budget must hold one body of the largest size. */
    if (c->admin_buffered_bytes_max < c->admin_body_bytes_max) {
        at = pick(root, limits[LIMIT_ADMIN_BUFFER], "limits.admin_buffer",
                  limits[LIMIT_ADMIN_BODY], "limits.admin_body", &what);
        return conf_yaml_fail(d, at, P2P_ERR_DECODE, what,
                              "admin_buffer (%llu bytes) must be at least "
                              "admin_body (%llu bytes)",
                              (unsigned long long)c->admin_buffered_bytes_max,
                              (unsigned long long)c->admin_body_bytes_max);
    }
    return 0;
}

static int parse_root(struct conf_yaml_doc *d, const yaml_node_t *root,
                      const char *base_dir, struct prod_config *out)
{
    static const enum root_key required[] = {K_KEY,      K_CERT,     K_LISTEN,
                                             K_REGISTRY, K_DATA_DIR, K_ADMIN};
    static const struct conf_yaml_quantity poll_range = {
        NULL, P2P_NS_PER_MS, PROD_CONFIG_DURATION_MAX_NS};
    yaml_node_t *v[K_COUNT], *limits[FIELDS_MAX], *timeouts[FIELDS_MAX];
    bool admin_public = false;
    int rc = conf_yaml_map(d, root, "", root_keys, K_COUNT, v);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < COUNT(required); i++)
        if (v[required[i]] == NULL)
            return conf_yaml_missing(d, root, "", root_keys[required[i]]);

    uint8_t id[32];
    if (v[K_NODE_ID] != NULL &&
        (rc = prod_yaml_doc_node_id(d, v[K_NODE_ID], "node_id", id,
                                    out->node_id_hex)) != 0)
        return rc;
    static const struct {
        enum root_key key;
        size_t offset;
    } paths[] = {
        {K_KEY, offsetof(struct prod_config, key_path)},
        {K_CERT, offsetof(struct prod_config, cert_path)},
        {K_REGISTRY, offsetof(struct prod_config, registry_path)},
        {K_DATA_DIR, offsetof(struct prod_config, data_dir)},
    };
    for (size_t i = 0; i < COUNT(paths); i++) {
        char *dst = (char *)out + paths[i].offset;
        rc = conf_yaml_path(d, v[paths[i].key], root_keys[paths[i].key],
                            base_dir, dst, PROD_PATH_BYTES_MAX);
        if (rc != 0)
            return rc;
    }
    if ((rc = prod_yaml_doc_addr(d, v[K_LISTEN], "listen", 0, &out->listen,
                                 &out->listen_len, out->listen_text)) != 0)
        return rc;
    if ((rc = prod_yaml_doc_addr(d, v[K_ADMIN], "admin", 0, &out->admin,
                                 &out->admin_len, out->admin_text)) != 0)
        return rc;
    if (v[K_ADMIN_PUBLIC] != NULL &&
        (rc = conf_yaml_bool(d, v[K_ADMIN_PUBLIC], "admin_public",
                             &admin_public)) != 0)
        return rc;
    out->admin_public = admin_public;
    if (!admin_public && !prod_addr_is_loopback(&out->admin))
        return conf_yaml_fail(d, v[K_ADMIN], P2P_ERR_DECODE, "admin",
                              "%s is not a loopback address; the admin API "
                              "has no authentication (set admin_public: "
                              "true to allow it)",
                              out->admin_text);
    if (v[K_REGISTRY_POLL] != NULL &&
        (rc = conf_yaml_duration(d, v[K_REGISTRY_POLL], "registry_poll",
                                 &poll_range, &out->registry_poll_ns)) != 0)
        return rc;
    if (v[K_LOG] != NULL) {
        size_t level;
        if ((rc = conf_yaml_word(d, v[K_LOG], "log", log_words,
                                 COUNT(log_words), NULL, &level)) != 0)
            return rc;
        out->log_level = (int)level;
    }
    if ((rc = parse_section(d, v[K_LIMITS], "limits", limit_fields,
                            COUNT(limit_fields), limits, out)) != 0)
        return rc;
    if ((rc = parse_section(d, v[K_TIMEOUTS], "timeouts", timeout_fields,
                            COUNT(timeout_fields), timeouts, out)) != 0)
        return rc;
    return check_cross(d, root, limits, timeouts, out);
}

int prod_config_load_mem(const uint8_t *data, size_t len, const char *name,
                         struct prod_config *out, char *err, size_t err_len)
{
    struct conf_yaml_doc d;
    char base_dir[PROD_PATH_BYTES_MAX];
    P2P_ASSERT(out != NULL && name != NULL);
    prod_config_default(out);
    int rc = prod_yaml_doc_load(&d, data, len, name, err, err_len);
    if (rc != 0)
        return rc;
    if (conf_yaml_dir_of(name, base_dir, sizeof base_dir) != 0) {
        rc = conf_yaml_fail(&d, NULL, P2P_ERR_DECODE, NULL,
                            "the file's path is too long");
        goto done;
    }
    yaml_node_t *root = conf_yaml_root_map(&d, root_expected);
    rc = root == NULL ? P2P_ERR_DECODE : parse_root(&d, root, base_dir, out);
done:
    conf_yaml_fini(&d);
    if (rc != 0) {
        prod_config_default(out);
        return rc;
    }
    P2P_ASSERT(out->key_path[0] != '\0' && out->data_dir[0] != '\0');
    P2P_ASSERT(out->listen_len > 0 && out->admin_len > 0);
    P2P_ASSERT(out->keepalive_ns < out->idle_timeout_ns);
    return 0;
}

int prod_config_load(const char *path, struct prod_config *out, char *err,
                     size_t err_len)
{
    uint8_t *data;
    size_t len;
    P2P_ASSERT(path != NULL && out != NULL);
    prod_config_default(out);
    int rc = prod_yaml_doc_read_file(path, PROD_YAML_FILE_BYTES_MAX, &data,
                                     &len, err, err_len);
    if (rc != 0)
        return rc;
    rc = prod_config_load_mem(data, len, path, out, err, err_len);
    free(data);
    return rc;
}

void prod_config_apply(const struct prod_config *c, struct p2p_config *core)
{
    P2P_ASSERT(c != NULL && core != NULL);
    P2P_ASSERT(c->artifact_bytes_max <= P2P_ARTIFACT_BYTES_MAX);
    core->streams_max = c->streams_max;
    core->streams_in_per_peer_max = c->streams_per_peer_max;
    core->pool.count_max[P2P_POOL_VALIDATED] = (size_t)c->pool_artifacts_max;
    core->pool.bytes_max[P2P_POOL_VALIDATED] = c->pool_bytes_max;
    core->keepalive_ns = c->keepalive_ns;
    core->idle_timeout_ns = c->idle_timeout_ns;
    core->dial_timeout_ns = c->dial_timeout_ns;
    core->stream_read_timeout_ns = c->stream_read_timeout_ns;
    /* A push carries the artifact in its update request, a fetch in its
     * response: refuse larger ones as they arrive. */
    size_t envelope_max = (size_t)c->artifact_bytes_max + ENVELOPE_BYTES;
    core->routes.request_bytes_max[P2P_ROUTE_ARTIFACT_UPDATE] = envelope_max;
    core->routes.response_bytes_max[P2P_ROUTE_ARTIFACT_RPC] = envelope_max;
}
