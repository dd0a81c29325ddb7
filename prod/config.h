/* The replica's config file (YAML, docs/replica.md "Config file") into
 * struct prod_config.
 *
 * Required keys: key, cert, listen, registry, data_dir, admin. Optional:
 * node_id, registry_poll, log, admin_public, limits {...}, timeouts {...}.
 * Relative paths are made relative to the config file's folder. Every error
 * is one line naming the file, the line and the key:
 *
 *     node0.yaml:7: limits.pool_bytes: expected a size such as 64MiB (...)
 *
 * Addresses are "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT"; port 0 is
 * allowed for listen and admin and means "any free port" (tests use it).
 * The admin address must be a loopback address unless admin_public: true. */
#ifndef P2P_PROD_CONFIG_H
#define P2P_PROD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct p2p_config;

/* Longest path (with its folder, NUL included). */
#define PROD_PATH_BYTES_MAX 4096
/* Upper bounds of the limits that core does not bound itself. */
#define PROD_CONFIG_BYTES_MAX (1ULL << 40) /* pool, state, admin body: 1 TiB */
#define PROD_CONFIG_DURATION_MAX_NS (86400ULL * 1000000000ULL) /* one day */

enum prod_log_level {
    PROD_LOG_ERROR = 0,
    PROD_LOG_WARN = 1,
    PROD_LOG_INFO = 2,
    PROD_LOG_DEBUG = 3,
};

struct prod_config {
    char node_id_hex[65];                /* lowercase; "" when absent */
    char key_path[PROD_PATH_BYTES_MAX];  /* Ed25519 key, PKCS#8 PEM */
    char cert_path[PROD_PATH_BYTES_MAX]; /* its self-signed certificate */
    char registry_path[PROD_PATH_BYTES_MAX];
    char data_dir[PROD_PATH_BYTES_MAX];
    struct sockaddr_storage listen; /* QUIC over UDP */
    socklen_t listen_len;
    char listen_text[64];          /* as written */
    struct sockaddr_storage admin; /* HTTP admin API */
    socklen_t admin_len;
    char admin_text[64];
    int admin_public;          /* 1: admin may be a non-loopback address */
    uint64_t registry_poll_ns; /* default 1 s */
    int log_level;             /* enum prod_log_level; default info */
    /* limits: */
    uint64_t artifact_bytes_max;       /* 1..P2P_ARTIFACT_BYTES_MAX (default) */
    uint64_t pool_bytes_max;           /* validated pool; core's default */
    uint64_t pool_artifacts_max;       /* validated pool; core's default */
    uint64_t state_chunk_bytes;        /* 1..P2P_STATE_CHUNK_BYTES_MAX; 1 MiB */
    uint64_t state_bytes_max;          /* largest state POSTed; 1 GiB */
    uint64_t admin_body_bytes_max;     /* largest admin request body; 128 MiB */
    uint64_t admin_buffered_bytes_max; /* admin bodies and answers buffered
                                      at once, all connections; 256 MiB,
                                      at least admin_body_bytes_max */
    uint32_t streams_max;              /* 1..P2P_CONFIG_TABLE_MAX; core's */
    uint32_t streams_per_peer_max;     /* inbound per peer; core's */
    /* timeouts (ns, > 0, at most PROD_CONFIG_DURATION_MAX_NS; core's
     * defaults; keepalive < idle): */
    uint64_t keepalive_ns, idle_timeout_ns, dial_timeout_ns,
        stream_read_timeout_ns;
};

/* Fills *c with every default: paths and addresses empty (they are
 * required in a file), node_id absent, the limits and timeouts from
 * p2p_config_default(). */
void prod_config_default(struct prod_config *c);

/* Loads the file at path (borrowed) into *out. On error writes one line
 * into err[0..err_len) (always NUL-terminated when err_len > 0) and leaves
 * *out holding the defaults. Errors: P2P_ERR_READ (cannot read),
 * P2P_ERR_OVERSIZE (over PROD_YAML_FILE_BYTES_MAX), P2P_ERR_DECODE
 * (syntax, unknown or missing key, bad or out-of-range value),
 * P2P_ERR_LIMIT (too many YAML nodes or too deep), P2P_ERR_NOMEM. */
int prod_config_load(const char *path, struct prod_config *out, char *err,
                     size_t err_len);

/* Like prod_config_load on the bytes data[0..len) (borrowed); name stands
 * for the file: it appears in messages and its folder anchors relative
 * paths. */
int prod_config_load_mem(const uint8_t *data, size_t len, const char *name,
                         struct prod_config *out, char *err, size_t err_len);

/* Copies the limits and timeouts into a core config filled by
 * p2p_config_default(): streams, inbound streams per peer, the validated
 * pool's count and bytes, keepalive, idle, dial and stream-read timeouts,
 * and artifact_bytes as the envelope limit of pushed updates and fetch
 * responses (plus the envelope's overhead). */
void prod_config_apply(const struct prod_config *c, struct p2p_config *core);

#endif
