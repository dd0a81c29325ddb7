/* Unit tests for prod/config (and the prod/yaml_doc helpers under it): a
 * full file field by field, defaults and prod_config_apply, relative paths,
 * each required key missing, a table of bad files each with the exact
 * "file:line: key: message" it must fail with, addresses (IPv6, localhost,
 * port 0, loopback rule), the size cap on both sides. */
#include <check.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/shim.h"
#include "core/state_manifest.h"
#include "prod/config.h"
#include "prod/yaml_doc.h"

#define SEC P2P_NS_PER_S
#define MS P2P_NS_PER_MS
#define ERR_BYTES 512
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char tmp_dir[64];
static char cfg_path[128];           /* tmp_dir/node0.yaml */
static struct prod_config *cfg;      /* 16 KiB: heap */
static char err[ERR_BYTES];

static void setup(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/p2p-test-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(cfg_path, sizeof cfg_path, "%s/node0.yaml", tmp_dir);
    cfg = malloc(sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    err[0] = '\0';
}

static void teardown(void)
{
    char cmd[128];
    free(cfg);
    cfg = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
    ck_assert_int_eq(fclose(fp), 0);
}

/* Writes text to cfg_path and loads it. */
static int load(const char *text)
{
    write_file(cfg_path, text, strlen(text));
    memset(err, 0x5a, sizeof err);
    int rc = prod_config_load(cfg_path, cfg, err, sizeof err);
    ck_assert_ptr_nonnull(memchr(err, '\0', sizeof err));
    return rc;
}

/* Matches text against pattern, where '*' stands for any run of
 * characters. */
static bool glob_match(const char *pattern, const char *text)
{
    if (*pattern == '\0')
        return *text == '\0';
    if (*pattern == '*') {
        for (const char *t = text;; t++) {
            if (glob_match(pattern + 1, t))
                return true;
            if (*t == '\0')
                return false;
        }
    }
    return *text == *pattern && glob_match(pattern + 1, text + 1);
}

/* err must match "<cfg_path><want>" (want starts with ":LINE: " or ": ";
 * '*' in want matches anything). */
static void check_err(const char *want)
{
    char full[ERR_BYTES];
    snprintf(full, sizeof full, "%s%s", cfg_path, want);
    ck_assert_msg(glob_match(full, err), "got '%s', want '%s'", err, full);
}

static void check_defaults_kept(void)
{
    struct prod_config def;
    prod_config_default(&def);
    ck_assert(memcmp(&def, cfg, sizeof def) == 0);
}

#define BASE_KEYS                                                             \
    "key: node0/key.pem\n"                                                    \
    "cert: node0/cert.pem\n"                                                  \
    "listen: 127.0.0.1:4100\n"                                                \
    "registry: registry.yaml\n"                                               \
    "data_dir: node0/data\n"                                                  \
    "admin: 127.0.0.1:8100\n"

static const char full_file[] =
    "# a full config\n"
    "node_id: 9F0C" "0000000000000000000000000000" "0000000000000000000000000000AbE1\n"
    "key: node0/key.pem\n"
    "cert: /etc/p2p/cert.pem\n"
    "listen: 0.0.0.0:4100\n"
    "registry: ../registry.yaml\n"
    "registry_poll: 250ms\n"
    "data_dir: node0/data\n"
    "admin: localhost:8100\n"
    "log: debug\n"
    "limits:\n"
    "  artifact_bytes: 64MiB\n"
    "  pool_bytes: 1GiB\n"
    "  pool_artifacts: 5000\n"
    "  streams: 4096\n"
    "  streams_per_peer: 100\n"
    "  state_chunk: 2MiB\n"
    "  state_bytes: 3GiB\n"
    "  admin_body: 200MB\n"
    "timeouts:\n"
    "  keepalive: 2s\n"
    "  idle: 30s\n"
    "  dial: 1.5s\n"
    "  stream_read: 1m\n";

START_TEST(test_full_file)
{
    char want[256];
    ck_assert_msg(load(full_file) == 0, "%s", err);
    ck_assert_str_eq(cfg->node_id_hex, "9f0c" "0000000000000000000000000000"
                                       "0000000000000000000000000000abe1");
    snprintf(want, sizeof want, "%s/node0/key.pem", tmp_dir);
    ck_assert_str_eq(cfg->key_path, want);
    ck_assert_str_eq(cfg->cert_path, "/etc/p2p/cert.pem");
    snprintf(want, sizeof want, "%s/../registry.yaml", tmp_dir);
    ck_assert_str_eq(cfg->registry_path, want);
    snprintf(want, sizeof want, "%s/node0/data", tmp_dir);
    ck_assert_str_eq(cfg->data_dir, want);

    const struct sockaddr_in *l = (const struct sockaddr_in *)&cfg->listen;
    ck_assert_int_eq(l->sin_family, AF_INET);
    ck_assert_uint_eq(cfg->listen_len, sizeof(struct sockaddr_in));
    ck_assert_uint_eq(ntohs(l->sin_port), 4100);
    ck_assert_uint_eq(l->sin_addr.s_addr, htonl(INADDR_ANY));
    ck_assert_str_eq(cfg->listen_text, "0.0.0.0:4100");
    const struct sockaddr_in *a = (const struct sockaddr_in *)&cfg->admin;
    ck_assert_int_eq(a->sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(a->sin_port), 8100);
    ck_assert_uint_eq(a->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    ck_assert_str_eq(cfg->admin_text, "localhost:8100");
    ck_assert_int_eq(cfg->admin_public, 0);

    ck_assert_uint_eq(cfg->registry_poll_ns, 250 * MS);
    ck_assert_int_eq(cfg->log_level, PROD_LOG_DEBUG);
    ck_assert_uint_eq(cfg->artifact_bytes_max, 64ULL << 20);
    ck_assert_uint_eq(cfg->pool_bytes_max, 1ULL << 30);
    ck_assert_uint_eq(cfg->pool_artifacts_max, 5000);
    ck_assert_uint_eq(cfg->streams_max, 4096);
    ck_assert_uint_eq(cfg->streams_per_peer_max, 100);
    ck_assert_uint_eq(cfg->state_chunk_bytes, 2ULL << 20);
    ck_assert_uint_eq(cfg->state_bytes_max, 3ULL << 30);
    ck_assert_uint_eq(cfg->admin_body_bytes_max, 200000000ULL);
    ck_assert_uint_eq(cfg->keepalive_ns, 2 * SEC);
    ck_assert_uint_eq(cfg->idle_timeout_ns, 30 * SEC);
    ck_assert_uint_eq(cfg->dial_timeout_ns, 1500 * MS);
    ck_assert_uint_eq(cfg->stream_read_timeout_ns, 60 * SEC);

    /* Applied to core, the result passes core's own check. */
    struct p2p_config core;
    p2p_config_default(&core, 3, 42);
    prod_config_apply(cfg, &core);
    ck_assert_int_eq(p2p_config_check(&core), 0);
    ck_assert_uint_eq(core.streams_max, 4096);
    ck_assert_uint_eq(core.streams_in_per_peer_max, 100);
    ck_assert_uint_eq(core.pool.count_max[P2P_POOL_VALIDATED], 5000);
    ck_assert_uint_eq(core.pool.bytes_max[P2P_POOL_VALIDATED], 1ULL << 30);
    ck_assert_uint_eq(core.keepalive_ns, 2 * SEC);
    ck_assert_uint_eq(core.idle_timeout_ns, 30 * SEC);
    ck_assert_uint_eq(core.dial_timeout_ns, 1500 * MS);
    ck_assert_uint_eq(core.stream_read_timeout_ns, 60 * SEC);
    /* The envelope limits follow artifact_bytes, with the same overhead
     * that P2P_ARTIFACT_BYTES_MAX leaves. */
    size_t overhead = P2P_FRAME_MESSAGE_BYTES_MAX - P2P_ARTIFACT_BYTES_MAX;
    ck_assert_uint_eq(core.routes.request_bytes_max[P2P_ROUTE_ARTIFACT_UPDATE],
                      (64u << 20) + overhead);
    ck_assert_uint_eq(core.routes.response_bytes_max[P2P_ROUTE_ARTIFACT_RPC],
                      (64u << 20) + overhead);
    ck_assert_uint_eq(core.self, 3); /* untouched */
}
END_TEST

START_TEST(test_defaults)
{
    struct p2p_config core, core_default;
    p2p_config_default(&core_default, 0, 0);
    ck_assert_int_eq(load(BASE_KEYS), 0);
    ck_assert_str_eq(cfg->node_id_hex, "");
    ck_assert_uint_eq(cfg->registry_poll_ns, SEC);
    ck_assert_int_eq(cfg->log_level, PROD_LOG_INFO);
    ck_assert_uint_eq(cfg->artifact_bytes_max, P2P_ARTIFACT_BYTES_MAX);
    ck_assert_uint_eq(cfg->pool_bytes_max,
                      core_default.pool.bytes_max[P2P_POOL_VALIDATED]);
    ck_assert_uint_eq(cfg->pool_artifacts_max,
                      core_default.pool.count_max[P2P_POOL_VALIDATED]);
    ck_assert_uint_eq(cfg->streams_max, core_default.streams_max);
    ck_assert_uint_eq(cfg->streams_per_peer_max,
                      core_default.streams_in_per_peer_max);
    ck_assert_uint_eq(cfg->state_chunk_bytes, 1u << 20);
    ck_assert_uint_eq(cfg->state_bytes_max, 1ULL << 30);
    ck_assert_uint_eq(cfg->admin_body_bytes_max, 128u << 20);
    ck_assert_uint_eq(cfg->keepalive_ns, core_default.keepalive_ns);
    ck_assert_uint_eq(cfg->idle_timeout_ns, core_default.idle_timeout_ns);
    ck_assert_uint_eq(cfg->dial_timeout_ns, core_default.dial_timeout_ns);
    ck_assert_uint_eq(cfg->stream_read_timeout_ns,
                      core_default.stream_read_timeout_ns);

    /* Defaults applied change nothing in core's config. */
    p2p_config_default(&core, 0, 0);
    prod_config_apply(cfg, &core);
    ck_assert(memcmp(&core, &core_default, sizeof core) == 0);

    /* Empty (null) sections mean "all defaults" too. */
    ck_assert_int_eq(load(BASE_KEYS "limits:\ntimeouts: ~\n"), 0);
    ck_assert_uint_eq(cfg->streams_max, core_default.streams_max);
}
END_TEST

START_TEST(test_relative_paths)
{
    char sub[128], path[160], want[256];
    static const char text[] = "key: keys/k.pem\ncert: /abs/c.pem\n"
                               "listen: 127.0.0.1:1\nregistry: ./r.yaml\n"
                               "data_dir: data\nadmin: 127.0.0.1:2\n";
    snprintf(sub, sizeof sub, "%s/etc", tmp_dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/node.yaml", sub);
    write_file(path, text, strlen(text));
    ck_assert_int_eq(prod_config_load(path, cfg, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/keys/k.pem", sub);
    ck_assert_str_eq(cfg->key_path, want);
    ck_assert_str_eq(cfg->cert_path, "/abs/c.pem");
    snprintf(want, sizeof want, "%s/./r.yaml", sub);
    ck_assert_str_eq(cfg->registry_path, want);
    snprintf(want, sizeof want, "%s/data", sub);
    ck_assert_str_eq(cfg->data_dir, want);

    /* A file named without a folder: paths stay relative to the working
     * directory, which is its folder. */
    const uint8_t *bytes = (const uint8_t *)text;
    ck_assert_int_eq(prod_config_load_mem(bytes, strlen(text), "node.yaml", cfg,
                                          err, sizeof err), 0);
    ck_assert_str_eq(cfg->key_path, "keys/k.pem");
    ck_assert_int_eq(prod_config_load_mem(bytes, strlen(text), "conf/node.yaml",
                                          cfg, err, sizeof err), 0);
    ck_assert_str_eq(cfg->key_path, "conf/keys/k.pem");
    ck_assert_int_eq(prod_config_load_mem(bytes, strlen(text), "/node.yaml",
                                          cfg, err, sizeof err), 0);
    ck_assert_str_eq(cfg->key_path, "/keys/k.pem");
}
END_TEST

/* Each required key in turn left out: the message names it, at the line
 * where the mapping starts (line 2 after a comment). */
static const char *const required_keys[] = {"key", "cert", "listen",
                                            "registry", "data_dir", "admin"};

START_TEST(test_required_missing)
{
    char text[512] = "# node 0\n", want[128];
    const char *skip = required_keys[_i];
    const char *line = BASE_KEYS;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t klen = strlen(skip);
        if (!(strncmp(line, skip, klen) == 0 && line[klen] == ':'))
            strncat(text, line, (size_t)(end - line) + 1);
        line = end + 1;
    }
    ck_assert_int_eq(load(text), P2P_ERR_DECODE);
    snprintf(want, sizeof want, ":2: %s: missing (required)", skip);
    check_err(want);
    check_defaults_kept();
}
END_TEST

/* 60 and 64 hex digits. */
#define HEX60 "9f0c000000000000000000000000000000000000000000000000000000e1"
#define HEX64 HEX60 "abcd"

struct bad_case {
    const char *listen;  /* NULL: 127.0.0.1:4100 (line 3) */
    const char *admin;   /* NULL: 127.0.0.1:8100 (line 6) */
    const char *extra;   /* lines from 7 on */
    int rc;
    const char *want;    /* after the file name; '*' ends a prefix */
};

static const struct bad_case bad_cases[] = {
    {NULL, NULL, "colour: red\n", P2P_ERR_DECODE,
     ":7: colour: unknown key (expected node_id, key, cert, listen, registry, "
     "registry_poll, data_dir, admin, admin_public, log, limits, timeouts)"},
    {NULL, NULL, "limits:\n  artifact_bytes: 1MiB\n  pool_byte: 1GiB\n",
     P2P_ERR_DECODE, ":9: limits.pool_byte: unknown key (expected*"},
    {NULL, NULL, "limits:\n  pool_bytes: 64MB8\n", P2P_ERR_DECODE,
     ":8: limits.pool_bytes: expected a size such as 64MiB (*"},
    {NULL, NULL, "limits:\n  pool_bytes: 64\n", P2P_ERR_DECODE,
     ":8: limits.pool_bytes: expected a size such as 64MiB (*"},
    {NULL, NULL, "limits:\n  pool_bytes: [1, 2]\n", P2P_ERR_DECODE,
     ":8: limits.pool_bytes: expected a size such as 64MiB, got a list"},
    {NULL, NULL, "limits:\n  pool_bytes:\n", P2P_ERR_DECODE,
     ":8: limits.pool_bytes: missing value (expected a size such as 64MiB)"},
    {NULL, NULL, "limits:\n  artifact_bytes: 128MiB\n", P2P_ERR_DECODE,
     ":8: limits.artifact_bytes: 128MiB is out of range (1B..131071KiB)"},
    {NULL, NULL, "limits:\n  artifact_bytes: 0\n", P2P_ERR_DECODE,
     ":8: limits.artifact_bytes: 0B is out of range (1B..131071KiB)"},
    {NULL, NULL, "limits:\n  streams: 0\n", P2P_ERR_DECODE,
     ":8: limits.streams: 0 is out of range (1..268435456)"},
    {NULL, NULL, "limits:\n  streams: 268435457\n", P2P_ERR_DECODE,
     ":8: limits.streams: 268435457 is out of range (1..268435456)"},
    {NULL, NULL, "limits:\n  streams: 4k\n", P2P_ERR_DECODE,
     ":8: limits.streams: expected a whole number, got '4k'"},
    {NULL, NULL, "limits:\n  streams: 99999999999999999999\n", P2P_ERR_DECODE,
     ":8: limits.streams: 99999999999999999999 is too large"},
    {NULL, NULL, "limits:\n  state_chunk: 8388609B\n", P2P_ERR_DECODE,
     ":8: limits.state_chunk: 8388609B is out of range (1B..8MiB)"},
    {NULL, NULL, "limits:\n  state_chunk: 1000B\n", P2P_ERR_DECODE,
     ":8: limits.state_chunk: 1073742 chunks of state, more than the limit of "
     "1048576 (raise state_chunk or lower state_bytes)"},
    {NULL, NULL, "limits:\n  state_chunk: 1KiB\n  state_bytes: 2GiB\n",
     P2P_ERR_DECODE, ":9: limits.state_bytes: 2097152 chunks of state*"},
    {NULL, NULL, "limits: 5\n", P2P_ERR_DECODE,
     ":7: limits: expected a mapping, got a single value"},
    {NULL, NULL, "timeouts:\n  idle: 0s\n", P2P_ERR_DECODE,
     ":8: timeouts.idle: 0s is out of range (1ns..24h)"},
    {NULL, NULL, "timeouts:\n  dial: 25h\n", P2P_ERR_DECODE,
     ":8: timeouts.dial: 25h is out of range (1ns..24h)"},
    {NULL, NULL, "timeouts:\n  dial: 5 parsecs\n", P2P_ERR_DECODE,
     ":8: timeouts.dial: expected a duration such as 5s (*"},
    {NULL, NULL, "timeouts:\n  keepalive: 5s\n", P2P_ERR_DECODE,
     ":8: timeouts.keepalive: the keepalive (5s) must be shorter than the "
     "idle timeout (5s)"},
    {NULL, NULL, "timeouts:\n  dial: 1s\n  idle: 1s\n", P2P_ERR_DECODE,
     ":9: timeouts.idle: the keepalive (1s) must be shorter than the idle "
     "timeout (1s)"},
    {NULL, NULL, "registry_poll: 0s\n", P2P_ERR_DECODE,
     ":7: registry_poll: 0s is out of range (1ms..24h)"},
    {NULL, NULL, "log: verbose\n", P2P_ERR_DECODE,
     ":7: log: expected one of error, warn, info, debug, got 'verbose'"},
    {NULL, NULL, "node_id: abc\n", P2P_ERR_DECODE,
     ":7: node_id: expected 64 hex digits (a SHA-256 node id), got 3 "
     "characters"},
    {NULL, NULL, "node_id: " HEX64 "0\n", P2P_ERR_DECODE,
     ":7: node_id: expected 64 hex digits*got 65 characters"},
    {NULL, NULL, "node_id: " HEX60 "00ge\n",
     P2P_ERR_DECODE,
     ":7: node_id: expected 64 hex digits (a SHA-256 node id); character 63 "
     "is not one"},
    {NULL, NULL, "admin_public: yes\n", P2P_ERR_DECODE,
     ":7: admin_public: expected true or false"},
    {NULL, NULL, "key: again.pem\n", P2P_ERR_DECODE,
     ":7: key: given twice (first at line 1)"},
    {NULL, NULL, "data: &a [1]\nother: *a\n", P2P_ERR_DECODE,
     ":8: aliases (*name) are not supported"},
    {NULL, NULL, "limits: {streams: 1\n", P2P_ERR_DECODE, ":8: YAML syntax error*"},
    {NULL, NULL, "---\nkey: x\n", P2P_ERR_DECODE,
     ":7: a second YAML document (a file holds one)"},
    {NULL, NULL, "? [a, b]\n: c\n", P2P_ERR_DECODE,
     ":7: a key must be a word, got a list"},
    {NULL, NULL, "limits: {a: {b: {c: {d: {e: {f: {g: {h: 1}}}}}}}}\n",
     P2P_ERR_LIMIT, ":7: lists and mappings nested more than 8 deep"},
    {"127.0.0.1", NULL, "", P2P_ERR_DECODE,
     ":3: listen: expected host:port such as 127.0.0.1:4100 or [::1]:4100 (no "
     "port)"},
    {"127.0.0.1:65536", NULL, "", P2P_ERR_DECODE,
     ":3: listen: the port must be a number in 0..65535"},
    {"127.0.0.1:-1", NULL, "", P2P_ERR_DECODE,
     ":3: listen: the port must be a number in 0..65535"},
    {"example.com:4100", NULL, "", P2P_ERR_DECODE,
     ":3: listen: expected host:port such as 127.0.0.1:4100 or [::1]:4100 (the "
     "host must be an IPv4 or IPv6 address or localhost; names are not "
     "resolved)"},
    {"127.1:4100", NULL, "", P2P_ERR_DECODE, ":3: listen: expected host:port*"},
    {"::1:4100", NULL, "", P2P_ERR_DECODE,
     ":3: listen: an IPv6 address needs brackets, e.g. [::1]:4100"},
    {"'[::1:4100'", NULL, "", P2P_ERR_DECODE, ":3: listen: expected host:port*"},
    {"'[1.2.3.4]:4100'", NULL, "", P2P_ERR_DECODE,
     ":3: listen: expected host:port*(not an IPv6 address in the brackets)"},
    {"'[]:4100'", NULL, "", P2P_ERR_DECODE, ":3: listen: expected host:port*"},
    {NULL, "10.0.0.1:8100", "", P2P_ERR_DECODE,
     ":6: admin: 10.0.0.1:8100 is not a loopback address; the admin API has no "
     "authentication (set admin_public: true to allow it)"},
    {NULL, "'[2001:db8::1]:8100'", "", P2P_ERR_DECODE,
     ":6: admin: [2001:db8::1]:8100 is not a loopback address*"},
    {NULL, "0.0.0.0:8100", "admin_public: false\n", P2P_ERR_DECODE,
     ":6: admin: 0.0.0.0:8100 is not a loopback address*"},
};

START_TEST(test_bad_files)
{
    const struct bad_case *c = &bad_cases[_i];
    char text[1024];
    snprintf(text, sizeof text,
             "key: node0/key.pem\ncert: node0/cert.pem\nlisten: %s\n"
             "registry: registry.yaml\ndata_dir: node0/data\nadmin: %s\n%s",
             c->listen ? c->listen : "127.0.0.1:4100",
             c->admin ? c->admin : "127.0.0.1:8100", c->extra);
    ck_assert_int_eq(load(text), c->rc);
    check_err(c->want);
    check_defaults_kept();
}
END_TEST

/* Boundaries on the accepted side of the table's limits. */
START_TEST(test_edges_accepted)
{
    ck_assert_int_eq(load(BASE_KEYS "limits:\n  artifact_bytes: 131071KiB\n"
                                    "  streams: 268435456\n"
                                    "  streams_per_peer: 1\n"
                                    "  state_chunk: 8MiB\n"
                                    "  state_bytes: 1GiB\n"
                                    "timeouts:\n  keepalive: 1ns\n"
                                    "  idle: 2ns\n  dial: 24h\n"
                                    "registry_poll: 1ms\n"),
                     0);
    ck_assert_uint_eq(cfg->artifact_bytes_max, P2P_ARTIFACT_BYTES_MAX);
    ck_assert_uint_eq(cfg->streams_max, P2P_CONFIG_TABLE_MAX);
    ck_assert_uint_eq(cfg->state_chunk_bytes, P2P_STATE_CHUNK_BYTES_MAX);
    ck_assert_uint_eq(cfg->keepalive_ns, 1);
    ck_assert_uint_eq(cfg->idle_timeout_ns, 2);
    ck_assert_uint_eq(cfg->dial_timeout_ns, 86400 * SEC);
    ck_assert_uint_eq(cfg->registry_poll_ns, MS);
    /* Exactly P2P_STATE_CHUNKS_MAX chunks. */
    ck_assert_int_eq(load(BASE_KEYS "limits:\n  state_chunk: 1KiB\n"
                                    "  state_bytes: 1GiB\n"),
                     0);
    ck_assert_uint_eq(cfg->state_bytes_max / cfg->state_chunk_bytes,
                      P2P_STATE_CHUNKS_MAX);
    /* Every log level. */
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        char text[512];
        snprintf(text, sizeof text, BASE_KEYS "log: %s\n", levels[i]);
        ck_assert_int_eq(load(text), 0);
        ck_assert_int_eq(cfg->log_level, i);
    }
}
END_TEST

START_TEST(test_addresses)
{
    /* IPv6 with brackets, port 0 (any free port) for both. */
    ck_assert_int_eq(load("key: k\ncert: c\nlisten: '[::1]:4100'\nregistry: r\n"
                          "data_dir: d\nadmin: '[::1]:0'\n"),
                     0);
    const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&cfg->listen;
    ck_assert_int_eq(l6->sin6_family, AF_INET6);
    ck_assert_uint_eq(cfg->listen_len, sizeof(struct sockaddr_in6));
    ck_assert_uint_eq(ntohs(l6->sin6_port), 4100);
    ck_assert(IN6_IS_ADDR_LOOPBACK(&l6->sin6_addr));
    ck_assert_str_eq(cfg->listen_text, "[::1]:4100");
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&cfg->admin;
    ck_assert_int_eq(a6->sin6_family, AF_INET6);
    ck_assert_uint_eq(ntohs(a6->sin6_port), 0);

    /* Unquoted, YAML reads "[::]:4100" as the start of a flow list. */
    ck_assert_int_eq(load("key: k\ncert: c\nlisten: [::]:4100\nregistry: r\n"
                          "data_dir: d\nadmin: 127.0.0.1:0\n"),
                     P2P_ERR_DECODE);
    check_err(":3: YAML syntax error: *");
    ck_assert_int_eq(load("key: k\ncert: c\nlisten: [a]\nregistry: r\n"
                          "data_dir: d\nadmin: 127.0.0.1:0\n"),
                     P2P_ERR_DECODE);
    check_err(":3: listen: expected host:port such as 127.0.0.1:4100, got a "
              "list");

    /* Non-loopback admin with admin_public. */
    ck_assert_int_eq(load(BASE_KEYS "admin_public: true\n"), 0);
    ck_assert_int_eq(cfg->admin_public, 1);
    ck_assert_int_eq(load("key: k\ncert: c\nlisten: 127.0.0.1:1\nregistry: r\n"
                          "data_dir: d\nadmin: 0.0.0.0:8100\nadmin_public: true\n"),
                     0);
    ck_assert_int_eq(cfg->admin_public, 1);
    ck_assert_str_eq(cfg->admin_text, "0.0.0.0:8100");
    /* Loopback forms: 127/8, ::1, v4-mapped 127/8. */
    static const char *const loop[] = {"127.0.0.1:1", "127.255.0.3:1",
                                       "'[::1]:1'", "'[::ffff:127.0.0.1]:1'",
                                       "localhost:65535"};
    for (int i = 0; i < COUNT(loop); i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "key: k\ncert: c\nlisten: 127.0.0.1:1\nregistry: r\n"
                 "data_dir: d\nadmin: %s\n",
                 loop[i]);
        ck_assert_msg(load(text) == 0, "%s: %s", loop[i], err);
    }
    static const char *const not_loop[] = {"128.0.0.1:1", "'[::2]:1'",
                                           "'[::ffff:10.0.0.1]:1'",
                                           "126.255.255.255:1"};
    for (int i = 0; i < COUNT(not_loop); i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "key: k\ncert: c\nlisten: 127.0.0.1:1\nregistry: r\n"
                 "data_dir: d\nadmin: %s\n",
                 not_loop[i]);
        ck_assert_int_eq(load(text), P2P_ERR_DECODE);
        ck_assert_ptr_nonnull(strstr(err, "is not a loopback address"));
    }
}
END_TEST

START_TEST(test_not_a_mapping)
{
    ck_assert_int_eq(load("- key\n- cert\n"), P2P_ERR_DECODE);
    check_err(":1: expected a mapping (key, cert, listen, registry, data_dir, "
              "admin, ...), got a list");
    ck_assert_int_eq(load("# comment only\n\n"), P2P_ERR_DECODE);
    check_err(": the file is empty (expected a mapping: key, cert, listen, "
              "registry, data_dir, admin, ...)");
    ck_assert_int_eq(load(""), P2P_ERR_DECODE);
    check_err(": the file is empty*");
    ck_assert_int_eq(load("just words\n"), P2P_ERR_DECODE);
    check_err(":1: expected a mapping*got a single value");
    ck_assert_int_eq(load("key: \xff\xfe\n"), P2P_ERR_DECODE);
    check_err(":1: invalid text: *");
    check_defaults_kept();
}
END_TEST

/* A file of exactly PROD_YAML_FILE_BYTES_MAX bytes loads; one byte more
 * is refused before it is parsed. */
START_TEST(test_file_size_cap)
{
    size_t cap = PROD_YAML_FILE_BYTES_MAX;
    char *text = malloc(cap + 2);
    ck_assert_ptr_nonnull(text);
    size_t base = strlen(BASE_KEYS);
    memcpy(text, BASE_KEYS, base);
    memset(text + base, ' ', cap - base);
    text[base] = '#';
    text[cap - 1] = '\n';
    write_file(cfg_path, text, cap);
    ck_assert_int_eq(prod_config_load(cfg_path, cfg, err, sizeof err), 0);
    text[cap] = '\n';
    write_file(cfg_path, text, cap + 1);
    ck_assert_int_eq(prod_config_load(cfg_path, cfg, err, sizeof err),
                     P2P_ERR_OVERSIZE);
    check_err(": the file is 1048577 bytes, more than the limit of 1048576");
    ck_assert_int_eq(prod_config_load_mem((const uint8_t *)text, cap + 1,
                                          cfg_path, cfg, err, sizeof err),
                     P2P_ERR_OVERSIZE);
    check_err(": the file is 1048577 bytes, more than the limit of 1048576");
    free(text);
    check_defaults_kept();
}
END_TEST

START_TEST(test_unreadable)
{
    char path[160];
    snprintf(path, sizeof path, "%s/absent.yaml", tmp_dir);
    ck_assert_int_eq(prod_config_load(path, cfg, err, sizeof err),
                     P2P_ERR_READ);
    ck_assert_ptr_nonnull(strstr(err, "absent.yaml: cannot open: "));
    ck_assert_int_eq(prod_config_load(tmp_dir, cfg, err, sizeof err),
                     P2P_ERR_READ);
    ck_assert_ptr_nonnull(strstr(err, ": not a regular file"));
    /* A tiny error buffer is still NUL-terminated, a NULL one is fine. */
    char small[8];
    ck_assert_int_eq(prod_config_load(path, cfg, small, sizeof small),
                     P2P_ERR_READ);
    ck_assert_uint_eq(strlen(small), 7);
    ck_assert_int_eq(load("colour: red\n"), P2P_ERR_DECODE);
    ck_assert_int_eq(prod_config_load(cfg_path, cfg, NULL, 0), P2P_ERR_DECODE);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("prod_config");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_full_file);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_relative_paths);
    tcase_add_loop_test(tc, test_required_missing, 0, COUNT(required_keys));
    tcase_add_loop_test(tc, test_bad_files, 0, COUNT(bad_cases));
    tcase_add_test(tc, test_edges_accepted);
    tcase_add_test(tc, test_addresses);
    tcase_add_test(tc, test_not_a_mapping);
    tcase_add_test(tc, test_file_size_cap);
    tcase_add_test(tc, test_unreadable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
