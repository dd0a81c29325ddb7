/* libFuzzer harness for the replica's config loader (prod/config.h).
 *
 * The input is the YAML text, loaded as "fuzzdir/node.yaml". On success
 * the config must satisfy the documented ranges (paths set and anchored at
 * the file's folder, addresses that parse back to the same socket address,
 * the admin address loopback unless admin_public, limits in range,
 * keepalive < idle) and, applied to core's defaults, pass
 * p2p_config_check(). On failure the message is one NUL-terminated line
 * starting with the file name and *out holds the defaults. Any failed
 * check aborts; leaks are caught by LeakSanitizer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/shim.h"
#include "core/state_manifest.h"
#include "prod/config.h"
#include "prod/yaml_doc.h"
#include "fuzz_check.h"

#define NAME "fuzzdir/node.yaml"
#define ERR_BYTES 512

static void check_path(const char *p)
{
    size_t len = strnlen(p, PROD_PATH_BYTES_MAX);
    FUZZ_CHECK(len >= 1 && len < PROD_PATH_BYTES_MAX);
    /* Absolute, or anchored at the config file's folder. */
    FUZZ_CHECK(p[0] == '/' || strncmp(p, "fuzzdir/", 8) == 0);
}

static void check_addr(const struct sockaddr_storage *ss, socklen_t len,
                       const char *text)
{
    struct sockaddr_storage again;
    socklen_t again_len;
    char msg[160];
    FUZZ_CHECK(strnlen(text, 64) < 64);
    FUZZ_CHECK(ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
    FUZZ_CHECK(len > 0 && len <= sizeof *ss);
    FUZZ_CHECK(prod_addr_parse(text, 0, &again, &again_len, msg,
                               sizeof msg) == 0);
    FUZZ_CHECK(again_len == len && memcmp(&again, ss, len) == 0);
}

static void check_loaded(const struct prod_config *c)
{
    size_t id_len = strnlen(c->node_id_hex, sizeof c->node_id_hex);
    FUZZ_CHECK(id_len == 0 || id_len == 64);
    for (size_t i = 0; i < id_len; i++)
        FUZZ_CHECK((c->node_id_hex[i] >= '0' && c->node_id_hex[i] <= '9') ||
                   (c->node_id_hex[i] >= 'a' && c->node_id_hex[i] <= 'f'));
    check_path(c->key_path);
    check_path(c->cert_path);
    check_path(c->registry_path);
    check_path(c->data_dir);
    check_addr(&c->listen, c->listen_len, c->listen_text);
    check_addr(&c->admin, c->admin_len, c->admin_text);
    FUZZ_CHECK(c->admin_public == 0 || c->admin_public == 1);
    FUZZ_CHECK(c->admin_public || prod_addr_is_loopback(&c->admin));
    FUZZ_CHECK(c->registry_poll_ns >= P2P_NS_PER_MS &&
               c->registry_poll_ns <= PROD_CONFIG_DURATION_MAX_NS);
    FUZZ_CHECK(c->log_level >= PROD_LOG_ERROR && c->log_level <= PROD_LOG_DEBUG);
    FUZZ_CHECK(c->artifact_bytes_max >= 1 &&
               c->artifact_bytes_max <= P2P_ARTIFACT_BYTES_MAX);
    FUZZ_CHECK(c->pool_bytes_max >= 1 && c->pool_bytes_max <= PROD_CONFIG_BYTES_MAX);
    FUZZ_CHECK(c->pool_artifacts_max >= 1 &&
               c->pool_artifacts_max <= P2P_CONFIG_TABLE_MAX);
    FUZZ_CHECK(c->streams_max >= 1 && c->streams_max <= P2P_CONFIG_TABLE_MAX);
    FUZZ_CHECK(c->streams_per_peer_max >= 1 &&
               c->streams_per_peer_max <= P2P_CONFIG_TABLE_MAX);
    FUZZ_CHECK(c->state_chunk_bytes >= 1 &&
               c->state_chunk_bytes <= P2P_STATE_CHUNK_BYTES_MAX);
    FUZZ_CHECK(c->state_bytes_max >= 1 &&
               c->state_bytes_max <= PROD_CONFIG_BYTES_MAX);
    FUZZ_CHECK((c->state_bytes_max + c->state_chunk_bytes - 1) /
                   c->state_chunk_bytes <= P2P_STATE_CHUNKS_MAX);
    FUZZ_CHECK(c->admin_body_bytes_max >= 1 &&
               c->admin_body_bytes_max <= PROD_CONFIG_BYTES_MAX);
    const uint64_t timeouts[] = {c->keepalive_ns, c->idle_timeout_ns,
                                 c->dial_timeout_ns, c->stream_read_timeout_ns};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
        FUZZ_CHECK(timeouts[i] >= 1 && timeouts[i] <= PROD_CONFIG_DURATION_MAX_NS);
    FUZZ_CHECK(c->keepalive_ns < c->idle_timeout_ns);

    struct p2p_config core;
    p2p_config_default(&core, 0, 1);
    prod_config_apply(c, &core);
    FUZZ_CHECK(p2p_config_check(&core) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct prod_config cfg, def;
    char err[ERR_BYTES];
    memset(&cfg, 0x5a, sizeof cfg);
    memset(err, 0x5a, sizeof err);
    int rc = prod_config_load_mem(data, size, NAME, &cfg, err, sizeof err);
    FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
    if (rc == 0) {
        FUZZ_CHECK(err[0] == '\0');
        check_loaded(&cfg);
        return 0;
    }
    FUZZ_CHECK(rc == P2P_ERR_DECODE || rc == P2P_ERR_LIMIT ||
               rc == P2P_ERR_OVERSIZE);
    FUZZ_CHECK(strncmp(err, NAME ":", strlen(NAME) + 1) == 0);
    FUZZ_CHECK(strchr(err, '\n') == NULL);
    prod_config_default(&def);
    FUZZ_CHECK(memcmp(&cfg, &def, sizeof cfg) == 0);
    return 0;
}
