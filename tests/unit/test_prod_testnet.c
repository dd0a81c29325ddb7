/* `p2p-replica testnet` without a replica binary: the files it generates
 * (registry and configs read back with libyaml, identities reused across
 * runs), testnet.json written and read strictly, --stop on stand-in
 * processes (`sleep` named p2p-replica), the flags, and the launch paths
 * that fail (a replica that exits, one that never becomes healthy). */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <yaml.h>

#include "core/err.h"
#include "prod/config.h"
#include "prod/identity.h"
#include "prod/registry.h"
#include "prod/testnet.h"

/* The suite's QUIC ports are test_base_port.. and its admin ports 1000
 * above. They stay in 9300..10999: away from the default testnet (4100,
 * 5100), below the blocks tests/e2e picks (12000 + k * 2000, admin 1000
 * above) and below the kernel's ephemeral range (32768..), where any
 * outgoing connection or auto-bound socket on the machine could hold
 * them. Each run takes a slot by its pid (pick_base_port), so suites of
 * several build dirs running at once (ctest in two builds) use different
 * ports. */
#define TEST_PORT_FIRST 9300
#define TEST_PORT_SLOTS 350 /* of 2 nodes: QUIC 9300..9999, admin ..10999 */
#define TEST_PORT_NODES 2   /* the most nodes a test here launches */

/* Set once in main, before any test (forked tests inherit it). */
static unsigned test_base_port;

/* Whether a plain bind of 127.0.0.1:port (type SOCK_DGRAM or SOCK_STREAM)
 * works now; anything already there, even a TIME_WAIT, makes it busy. */
static bool port_bindable(int type, unsigned port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* The slot of this run: the one its pid names, or the next whose ports
 * are all free (another run, or a testnet someone started, holds them). */
static unsigned pick_base_port(void)
{
    unsigned first = (unsigned)getpid() % TEST_PORT_SLOTS;
    for (unsigned t = 0; t < TEST_PORT_SLOTS; t++) {
        unsigned base =
            TEST_PORT_FIRST + TEST_PORT_NODES * ((first + t) % TEST_PORT_SLOTS);
        bool all_free = true;
        for (unsigned i = 0; i < TEST_PORT_NODES && all_free; i++)
            all_free = port_bindable(SOCK_DGRAM, base + i) &&
                    port_bindable(SOCK_STREAM, base + 1000 + i);
        if (all_free)
            return base;
    }
    /* All busy: the pid's slot, and the tests will say which port. */
    return TEST_PORT_FIRST + TEST_PORT_NODES * first;
}

static char tmp_dir[64];
static char work_dir[128]; /* where path_of points: tmp_dir or below it */
static struct prod_testnet_node nodes[PROD_TESTNET_NODES_MAX];

static void setup(void)
{
    strcpy(tmp_dir, "/tmp/p2p-testnet-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    strcpy(work_dir, tmp_dir);
    memset(nodes, 0, sizeof(nodes));
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path_of(const char *name)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    ck_assert_int_lt(snprintf(b, PATH_MAX, "%s/%s", work_dir, name), PATH_MAX);
    return b;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static size_t read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* ---- a tiny YAML reader for the generated files --------------------- */

struct yfile {
    yaml_document_t doc;
    yaml_node_t *root;
};

static void y_load(struct yfile *y, const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    yaml_parser_t p;
    ck_assert(yaml_parser_initialize(&p));
    yaml_parser_set_input_file(&p, f);
    ck_assert_msg(yaml_parser_load(&p, &y->doc), "%s: not YAML", path);
    yaml_parser_delete(&p);
    fclose(f);
    y->root = yaml_document_get_root_node(&y->doc);
    ck_assert_ptr_nonnull(y->root);
}

static size_t y_len(yaml_node_t *map)
{
    ck_assert_int_eq(map->type, YAML_MAPPING_NODE);
    return (size_t)(map->data.mapping.pairs.top -
                    map->data.mapping.pairs.start);
}

/* The value of key in a mapping (NULL if absent). */
static yaml_node_t *y_get(struct yfile *y, yaml_node_t *map, const char *key)
{
    ck_assert_int_eq(map->type, YAML_MAPPING_NODE);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
        if (k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&y->doc, p->value);
    }
    return NULL;
}

static const char *y_str(struct yfile *y, yaml_node_t *map, const char *key)
{
    yaml_node_t *v = y_get(y, map, key);
    ck_assert_msg(v != NULL, "missing key %s", key);
    ck_assert_int_eq(v->type, YAML_SCALAR_NODE);
    return (const char *)v->data.scalar.value;
}

/* ---- generation ----------------------------------------------------- */

static void check_config(unsigned i, const struct prod_testnet_node *n)
{
    char rel[64], text[128];
    snprintf(rel, sizeof(rel), "node%u/config.yaml", i);
    ck_assert_str_eq(n->config, path_of(rel));
    struct yfile y;
    y_load(&y, n->config);
    ck_assert_uint_eq(y_len(y.root), 7);
    char hex[QUIC_KEY_ID_HEX_LEN + 1];
    quic_cert_hex(n->id, hex);
    ck_assert_str_eq(y_str(&y, y.root, "node_id"), hex);
    ck_assert_str_eq(y_str(&y, y.root, "key"), "key.pem");
    ck_assert_str_eq(y_str(&y, y.root, "cert"), "cert.pem");
    snprintf(text, sizeof(text), "127.0.0.1:%u", test_base_port + i);
    ck_assert_str_eq(y_str(&y, y.root, "listen"), text);
    ck_assert_str_eq(y_str(&y, y.root, "registry"), "../registry.yaml");
    ck_assert_str_eq(y_str(&y, y.root, "data_dir"), "data");
    snprintf(text, sizeof(text), "127.0.0.1:%u", test_base_port + 1000 + i);
    ck_assert_str_eq(y_str(&y, y.root, "admin"), text);
    yaml_document_delete(&y.doc);

    snprintf(text, sizeof(text), "http://127.0.0.1:%u",
             test_base_port + 1000 + i);
    ck_assert_str_eq(n->admin_url, text);
    ck_assert_uint_eq(n->port, test_base_port + i);
    ck_assert_uint_eq(n->admin_port, test_base_port + 1000 + i);
    ck_assert_int_eq(n->pid, 0);

    /* The key and certificate are a pair with the node's id; the key is
     * private; the data folder exists. */
    char key[64], cert[64], data[64];
    snprintf(key, sizeof(key), "node%u/key.pem", i);
    snprintf(cert, sizeof(cert), "node%u/cert.pem", i);
    snprintf(data, sizeof(data), "node%u/data", i);
    uint8_t id[QUIC_KEY_ID_BYTES];
    char err[512];
    ck_assert_int_eq(prod_identity_check_pair(path_of(key), path_of(cert), id,
                                              err, sizeof(err)),
                     0);
    ck_assert_mem_eq(id, n->id, sizeof(id));
    struct stat st;
    ck_assert_int_eq(stat(path_of(key), &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(path_of(data), &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
}

static void check_registry(unsigned count)
{
    struct yfile y;
    y_load(&y, path_of("registry.yaml"));
    ck_assert_uint_eq(y_len(y.root), 2);
    ck_assert_str_eq(y_str(&y, y.root, "version"), "1");
    yaml_node_t *members = y_get(&y, y.root, "members");
    ck_assert_ptr_nonnull(members);
    ck_assert_int_eq(members->type, YAML_SEQUENCE_NODE);
    ck_assert_int_eq(members->data.sequence.items.top -
                         members->data.sequence.items.start,
                     count);
    for (unsigned i = 0; i < count; i++) {
        yaml_node_t *m = yaml_document_get_node(
            &y.doc, members->data.sequence.items.start[i]);
        ck_assert_uint_eq(y_len(m), 4);
        char text[64], hex[QUIC_KEY_ID_HEX_LEN + 1];
        snprintf(text, sizeof(text), "%u", i);
        ck_assert_str_eq(y_str(&y, m, "index"), text);
        quic_cert_hex(nodes[i].id, hex);
        ck_assert_str_eq(y_str(&y, m, "id"), hex);
        snprintf(text, sizeof(text), "127.0.0.1:%u", test_base_port + i);
        ck_assert_str_eq(y_str(&y, m, "addr"), text);
        snprintf(text, sizeof(text), "node%u/cert.pem", i);
        ck_assert_str_eq(y_str(&y, m, "cert"), text);
        /* The registry's cert path, relative to its folder, has that id. */
        uint8_t id[QUIC_KEY_ID_BYTES];
        char err[256];
        ck_assert_int_eq(
            prod_identity_cert_file_key_id(path_of(text), id, err, sizeof(err)),
            0);
        ck_assert_mem_eq(id, nodes[i].id, sizeof(id));
    }
    yaml_document_delete(&y.doc);
}

START_TEST(generate_writes_registry_configs_and_identities)
{
    char err[512];
    /* DIR and a missing parent are created. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/a/net", tmp_dir);
    ck_assert_int_eq(
        prod_testnet_generate(dir, 3, test_base_port, nodes, err, sizeof(err)),
        0);
    ck_assert_int_lt(snprintf(work_dir, sizeof(work_dir), "%s", dir),
                     (int)sizeof(work_dir));
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_uint_eq(nodes[i].index, i);
        check_config(i, &nodes[i]);
    }
    ck_assert_mem_ne(nodes[0].id, nodes[1].id, QUIC_KEY_ID_BYTES);
    ck_assert_mem_ne(nodes[1].id, nodes[2].id, QUIC_KEY_ID_BYTES);
    check_registry(3);
    ck_assert_int_ne(access(path_of("node3"), F_OK), 0);
    ck_assert_int_ne(access(path_of("registry.yaml.tmp"), F_OK), 0);
}
END_TEST

/* What the replica itself makes of the files: its own loaders accept them
 * and see the same paths, addresses and ids. */
START_TEST(generated_files_load_in_the_replica)
{
    char err[1024];
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 3, test_base_port, nodes,
                                           err, sizeof(err)),
                     0);
    struct prod_registry *reg = calloc(1, sizeof(*reg));
    struct prod_config *cfg = calloc(1, sizeof(*cfg));
    ck_assert_ptr_nonnull(reg);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_msg(prod_registry_load(path_of("registry.yaml"), reg, err,
                                     sizeof(err)) == 0,
                  "%s", err);
    ck_assert_uint_eq(reg->version, 1);
    ck_assert_uint_eq(reg->count, 3);
    for (unsigned i = 0; i < 3; i++) {
        const struct prod_member *m = prod_registry_by_key(reg, nodes[i].id);
        ck_assert_ptr_nonnull(m);
        ck_assert_uint_eq(m->index, i);

        ck_assert_msg(
            prod_config_load(nodes[i].config, cfg, err, sizeof(err)) == 0, "%s",
            err);
        char want[PATH_MAX], hex[QUIC_KEY_ID_HEX_LEN + 1], rel[64];
        quic_cert_hex(nodes[i].id, hex);
        ck_assert_str_eq(cfg->node_id_hex, hex);
        snprintf(rel, sizeof(rel), "node%u/key.pem", i);
        ck_assert_str_eq(cfg->key_path, path_of(rel));
        snprintf(rel, sizeof(rel), "node%u/cert.pem", i);
        ck_assert_str_eq(cfg->cert_path, path_of(rel));
        snprintf(rel, sizeof(rel), "node%u/data", i);
        ck_assert_str_eq(cfg->data_dir, path_of(rel));
        /* The registry path may be written node<i>/../registry.yaml. */
        ck_assert_ptr_nonnull(realpath(cfg->registry_path, want));
        ck_assert_str_eq(want, path_of("registry.yaml"));
        ck_assert_str_eq(cfg->listen_text, m->addr_text);
        /* The key and certificate the config names are a pair. */
        uint8_t id[QUIC_KEY_ID_BYTES];
        ck_assert_int_eq(prod_identity_check_pair(cfg->key_path, cfg->cert_path,
                                                  id, err, sizeof(err)),
                         0);
        ck_assert_mem_eq(id, m->key_id, sizeof(id));
    }
    free(cfg);
    free(reg);
}
END_TEST

START_TEST(generate_reuses_identities)
{
    char err[512];
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 2, test_base_port, nodes,
                                           err, sizeof(err)),
                     0);
    uint8_t first[2][QUIC_KEY_ID_BYTES];
    memcpy(first[0], nodes[0].id, QUIC_KEY_ID_BYTES);
    memcpy(first[1], nodes[1].id, QUIC_KEY_ID_BYTES);
    char key0[4096], key0_again[4096];
    read_text(path_of("node0/key.pem"), key0, sizeof(key0));

    /* A bigger testnet in the same folder keeps the first two. */
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 3, test_base_port, nodes,
                                           err, sizeof(err)),
                     0);
    ck_assert_mem_eq(nodes[0].id, first[0], QUIC_KEY_ID_BYTES);
    ck_assert_mem_eq(nodes[1].id, first[1], QUIC_KEY_ID_BYTES);
    ck_assert_mem_ne(nodes[2].id, first[0], QUIC_KEY_ID_BYTES);
    read_text(path_of("node0/key.pem"), key0_again, sizeof(key0_again));
    ck_assert_str_eq(key0, key0_again);
    check_registry(3);
    for (unsigned i = 0; i < 3; i++)
        check_config(i, &nodes[i]);

    /* A lone key (crash before its certificate) is replaced by a new pair. */
    ck_assert_int_eq(unlink(path_of("node2/cert.pem")), 0);
    uint8_t old2[QUIC_KEY_ID_BYTES];
    memcpy(old2, nodes[2].id, sizeof(old2));
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 3, test_base_port, nodes,
                                           err, sizeof(err)),
                     0);
    ck_assert_mem_ne(nodes[2].id, old2, QUIC_KEY_ID_BYTES);
    check_config(2, &nodes[2]);
}
END_TEST

START_TEST(generate_refuses_a_broken_pair)
{
    char err[PATH_MAX * 2 + 128];
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 2, test_base_port, nodes,
                                           err, sizeof(err)),
                     0);
    char cert1[4096], cert0_after[4096], key0[4096], key0_after[4096];
    read_text(path_of("node1/cert.pem"), cert1, sizeof(cert1));
    read_text(path_of("node0/key.pem"), key0, sizeof(key0));
    write_text(path_of("node0/cert.pem"), cert1);
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 2, test_base_port, nodes,
                                           err, sizeof(err)),
                     P2P_ERR_ID_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err, "node0/key.pem is not the key of"));
    ck_assert_ptr_nonnull(strstr(err, "remove both files"));
    /* Nothing replaced. */
    read_text(path_of("node0/cert.pem"), cert0_after, sizeof(cert0_after));
    ck_assert_str_eq(cert0_after, cert1);
    read_text(path_of("node0/key.pem"), key0_after, sizeof(key0_after));
    ck_assert_str_eq(key0_after, key0);
}
END_TEST

START_TEST(generate_bounds)
{
    char err[256];
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 0, test_base_port, nodes,
                                           err, sizeof(err)),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, PROD_TESTNET_NODES_MAX + 1,
                                           test_base_port, nodes, err,
                                           sizeof(err)),
                     P2P_ERR_INVALID_ARG);
    /* The last admin port is 65535 (fits), then 65536 (does not). */
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 2, 65535 - 1000 - 1 + 1,
                                           nodes, err, sizeof(err)),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(prod_testnet_generate(tmp_dir, 2, 65535 - 1000 - 1, nodes,
                                           err, sizeof(err)),
                     0);
    ck_assert_uint_eq(nodes[1].admin_port, 65535);
    ck_assert_uint_eq(nodes[1].port, 65535 - 1000);
    ck_assert_int_eq(
        prod_testnet_generate(tmp_dir, 1, 0, nodes, err, sizeof(err)),
        P2P_ERR_INVALID_ARG);
    /* A file where DIR should be. */
    write_text(path_of("file"), "x");
    ck_assert_int_ne(prod_testnet_generate(path_of("file"), 1, test_base_port,
                                           nodes, err, sizeof(err)),
                     0);
}
END_TEST

/* ---- testnet.json --------------------------------------------------- */

START_TEST(json_round_trip)
{
    struct prod_testnet_node out[3], back[PROD_TESTNET_NODES_MAX];
    memset(out, 0, sizeof(out));
    const char *configs[3] = {"/tmp/plain/node0/config.yaml",
                              "/tmp/q\"uote and \\back slash/config.yaml",
                              "/tmp/caf\xc3\xa9 tab\there/config.yaml"};
    for (unsigned i = 0; i < 3; i++) {
        out[i].index = 2 - i;
        for (unsigned b = 0; b < QUIC_KEY_ID_BYTES; b++)
            out[i].id[b] = (uint8_t)(i * 31 + b);
        out[i].pid = (pid_t)(1000 + i);
        snprintf(out[i].admin_url, sizeof(out[i].admin_url),
                 "http://127.0.0.1:%u", 5100 + i);
        snprintf(out[i].config, sizeof(out[i].config), "%s", configs[i]);
    }
    char err[256];
    ck_assert_int_eq(prod_testnet_write_json(tmp_dir, out, 3, err, sizeof(err)),
                     0);
    char text[4096];
    read_text(path_of("testnet.json"), text, sizeof(text));
    ck_assert_ptr_eq(strstr(text, "{\"nodes\": ["), text);
    ck_assert_ptr_nonnull(strstr(text, "\"pid\": 1001"));
    ck_assert_ptr_nonnull(strstr(text, "q\\\"uote and \\\\back"));
    ck_assert_ptr_nonnull(strstr(text, "tab\\u0009here"));

    unsigned n = 0;
    ck_assert_int_eq(prod_testnet_read_json(path_of("testnet.json"), back,
                                            PROD_TESTNET_NODES_MAX, &n, err,
                                            sizeof(err)),
                     0);
    ck_assert_uint_eq(n, 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_uint_eq(back[i].index, out[i].index);
        ck_assert_mem_eq(back[i].id, out[i].id, QUIC_KEY_ID_BYTES);
        ck_assert_int_eq(back[i].pid, out[i].pid);
        ck_assert_str_eq(back[i].admin_url, out[i].admin_url);
        ck_assert_str_eq(back[i].config, out[i].config);
    }
    /* max bounds the count: 3 nodes into room for 2 is an error. */
    ck_assert_int_eq(prod_testnet_read_json(path_of("testnet.json"), back, 2,
                                            &n, err, sizeof(err)),
                     P2P_ERR_DECODE);
    ck_assert_ptr_nonnull(strstr(err, "more than 2 nodes"));
    /* An empty testnet. */
    ck_assert_int_eq(prod_testnet_write_json(tmp_dir, out, 0, err, sizeof(err)),
                     0);
    ck_assert_int_eq(prod_testnet_read_json(path_of("testnet.json"), back,
                                            PROD_TESTNET_NODES_MAX, &n, err,
                                            sizeof(err)),
                     0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NODE_OK(idx, pid)                                                      \
    "{\"id\": \"" HEX64 "\", \"index\": " idx ", \"admin\": "                  \
    "\"http://127.0.0.1:5100\", \"pid\": " pid ", \"config\": \"/c.yaml\"}"

START_TEST(json_reader_is_strict)
{
    static const struct {
        const char *text;
        int rc;
        const char *msg; /* part of the error, or NULL */
    } cases[] = {
        {"{\"nodes\": [" NODE_OK("0", "1234") "]}", 0, NULL},
        {"{\"nodes\": [" NODE_OK("63", "2") "]}", 0, NULL},
        {"", P2P_ERR_DECODE, NULL},
        {"{\"nodes\": [", P2P_ERR_DECODE, NULL},
        {"[]", P2P_ERR_DECODE, "expected {\"nodes\""},
        {"{\"nodes\": {}}", P2P_ERR_DECODE, "expected {\"nodes\""},
        {"{\"nodes\": [], \"x\": 1}", P2P_ERR_DECODE, "expected {\"nodes\""},
        {"{\"nodes\": [1]}", P2P_ERR_DECODE, "must be an object"},
        {"{\"nodes\": [" NODE_OK("64", "1234") "]}", P2P_ERR_DECODE,
         "\"index\""},
        {"{\"nodes\": [" NODE_OK("-1", "1234") "]}", P2P_ERR_DECODE,
         "\"index\""},
        {"{\"nodes\": [" NODE_OK("\"0\"", "1234") "]}", P2P_ERR_DECODE,
         "\"index\""},
        /* pid 0, 1 and negative would signal a group or init. */
        {"{\"nodes\": [" NODE_OK("0", "0") "]}", P2P_ERR_DECODE, "\"pid\""},
        {"{\"nodes\": [" NODE_OK("0", "1") "]}", P2P_ERR_DECODE, "\"pid\""},
        {"{\"nodes\": [" NODE_OK("0", "-5") "]}", P2P_ERR_DECODE, "\"pid\""},
        {"{\"nodes\": [" NODE_OK("0", "99999999999") "]}", P2P_ERR_DECODE,
         "\"pid\""},
        {"{\"nodes\": [" NODE_OK("0", "12a") "]}", P2P_ERR_DECODE, "\"pid\""},
        {"{\"nodes\": [" NODE_OK("0", "\"12\"") "]}", P2P_ERR_DECODE,
         "\"pid\""},
        {"{\"nodes\": [" NODE_OK("0", "12") ", " NODE_OK("0", "13") "]}",
         P2P_ERR_DECODE, "index 0 twice"},
        {"{\"nodes\": [{\"id\": \"" HEX64 "\", \"index\": 0, \"pid\": 5, "
         "\"config\": \"/c\"}]}",
         P2P_ERR_DECODE, "lacks \"admin\""},
        {"{\"nodes\": [{\"id\": \"" HEX64 "\", \"index\": 0, \"pid\": 5, "
         "\"admin\": \"a\", \"config\": \"/c\", \"extra\": 1}]}",
         P2P_ERR_DECODE, "unknown key \"extra\""},
        {"{\"nodes\": [{\"id\": \"" HEX64 "\", \"index\": 0, \"pid\": 5, "
         "\"pid\": 6, \"admin\": \"a\", \"config\": \"/c\"}]}",
         P2P_ERR_DECODE, "repeated key \"pid\""},
        {"{\"nodes\": [{\"id\": \"00\", \"index\": 0, \"pid\": 5, "
         "\"admin\": \"a\", \"config\": \"/c\"}]}",
         P2P_ERR_DECODE, "\"id\""},
        {"{\"nodes\": [{\"id\": \"" HEX64 "\", \"index\": 0, \"pid\": 5, "
         "\"admin\": \"a\", \"config\": \"\"}]}",
         P2P_ERR_DECODE, "\"config\""},
        {"{\"nodes\": [{\"id\": \"" HEX64 "\", \"index\": 0, \"pid\": 5, "
         "\"admin\": [1], \"config\": \"/c\"}]}",
         P2P_ERR_DECODE, NULL},
    };
    struct prod_testnet_node back[PROD_TESTNET_NODES_MAX];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        write_text(path_of("t.json"), cases[c].text);
        unsigned n = 99;
        char err[512] = "";
        int rc = prod_testnet_read_json(path_of("t.json"), back,
                                        PROD_TESTNET_NODES_MAX, &n, err,
                                        sizeof(err));
        ck_assert_msg(rc == cases[c].rc, "case %zu: rc %d, want %d (%s)", c, rc,
                      cases[c].rc, err);
        if (cases[c].msg != NULL)
            ck_assert_msg(strstr(err, cases[c].msg) != NULL,
                          "case %zu: error \"%s\" lacks \"%s\"", c, err,
                          cases[c].msg);
        if (rc == 0)
            ck_assert_uint_eq(n, 1);
    }
    unsigned n;
    char err[512];
    ck_assert_int_eq(prod_testnet_read_json(path_of("none.json"), back,
                                            PROD_TESTNET_NODES_MAX, &n, err,
                                            sizeof(err)),
                     P2P_ERR_NOT_FOUND);
    /* One byte over the size limit: refused before reading. */
    FILE *f = fopen(path_of("big.json"), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ftruncate(fileno(f), PROD_TESTNET_JSON_BYTES_MAX + 1), 0);
    fclose(f);
    ck_assert_int_eq(prod_testnet_read_json(path_of("big.json"), back,
                                            PROD_TESTNET_NODES_MAX, &n, err,
                                            sizeof(err)),
                     P2P_ERR_OVERSIZE);
}
END_TEST

/* ---- processes ------------------------------------------------------ */

static int reap_status(pid_t pid)
{
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* A stand-in replica: sleep, with argv[0] "p2p-replica"; optionally
 * ignoring SIGTERM (ignored signals survive exec). */
static pid_t spawn_fake(bool ignore_term)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (ignore_term)
            signal(SIGTERM, SIG_IGN);
        char *argv[] = {"p2p-replica", "100", NULL};
        execv("/bin/sleep", argv);
        _exit(127);
    }
    /* Wait until it has exec'd (its command line is sleep's). */
    for (int i = 0; i < 400 && !prod_testnet_pid_alive(pid, NULL); i++)
        usleep(5000);
    ck_assert(prod_testnet_pid_alive(pid, NULL));
    return pid;
}

/* A stand-in replica under a wrapper: a shell with the config path among
 * its arguments, exiting on SIGTERM. Returns once its trap is set: the
 * shell says so on fd 3 (a pipe). Waiting only for its command line is
 * not enough: under load a SIGTERM could come before the trap and kill
 * it, and a test expecting "exit 0" would fail. */
static pid_t spawn_wrapped(const char *config)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(ready[0]);
        if (ready[1] != 3) {
            dup2(ready[1], 3);
            close(ready[1]);
        }
        char *argv[] = {"sh",
                        "-c",
                        "trap 'exit 0' TERM; echo >&3; exec 3>&-; "
                        "while :; do sleep 0.05; done",
                        "sh",
                        (char *)config,
                        NULL};
        execv("/bin/sh", argv);
        _exit(127);
    }
    close(ready[1]);
    char byte;
    ssize_t got;
    do
        got = read(ready[0], &byte, 1);
    while (got < 0 && errno == EINTR);
    close(ready[0]);
    ck_assert_msg(got == 1, "the wrapper shell did not start");
    ck_assert(prod_testnet_pid_alive(pid, config));
    return pid;
}

START_TEST(pid_alive_means_a_live_replica)
{
    ck_assert(!prod_testnet_pid_alive(0, NULL));
    ck_assert(!prod_testnet_pid_alive(1, NULL)); /* never, whatever init is */
    ck_assert(!prod_testnet_pid_alive(-1, NULL));
    /* Alive, but neither named p2p-replica nor running that config. */
    ck_assert(!prod_testnet_pid_alive(getpid(), NULL));
    ck_assert(!prod_testnet_pid_alive(getpid(), "/no/such/config.yaml"));
    pid_t pid = spawn_fake(false);
    ck_assert(prod_testnet_pid_alive(pid, NULL));
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    /* A zombie is not alive... */
    for (int i = 0; i < 400 && prod_testnet_pid_alive(pid, NULL); i++)
        usleep(5000);
    ck_assert(!prod_testnet_pid_alive(pid, NULL));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    /* ...nor is a reaped process. */
    ck_assert(!prod_testnet_pid_alive(pid, NULL));

    /* Known by its config path when argv[0] is another program's. */
    const char *config = path_of("node0/config.yaml");
    pid = spawn_wrapped(config);
    ck_assert(prod_testnet_pid_alive(pid, config));
    ck_assert(!prod_testnet_pid_alive(pid, path_of("node1/config.yaml")));
    ck_assert(!prod_testnet_pid_alive(pid, NULL));
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    reap_status(pid);
}
END_TEST

static void write_fake_testnet(const pid_t *pids, unsigned count)
{
    struct prod_testnet_node n[8];
    memset(n, 0, sizeof(n));
    for (unsigned i = 0; i < count; i++) {
        n[i].index = i;
        n[i].pid = pids[i];
        snprintf(n[i].admin_url, sizeof(n[i].admin_url), "http://127.0.0.1:%u",
                 5100 + i);
        snprintf(n[i].config, sizeof(n[i].config), "%s/node%u/config.yaml",
                 tmp_dir, i);
    }
    char err[256];
    ck_assert_int_eq(
        prod_testnet_write_json(tmp_dir, n, count, err, sizeof(err)), 0);
}

START_TEST(stop_terminates_listed_replicas)
{
    pid_t a = spawn_fake(false), b = spawn_fake(false);
    /* A third entry whose process has gone (and been reaped). */
    pid_t gone = spawn_fake(false);
    kill(gone, SIGKILL);
    reap_status(gone);
    /* Node 3 runs under a wrapper, known by its config path. */
    pid_t w = spawn_wrapped(path_of("node3/config.yaml"));
    pid_t pids[4] = {a, gone, b, w};
    write_fake_testnet(pids, 4);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    char err[256];
    ck_assert_int_eq(prod_testnet_stop(tmp_dir, out, err, sizeof(err)), 0);
    fclose(out);
    int sa = reap_status(a), sb = reap_status(b);
    ck_assert(WIFSIGNALED(sa) && WTERMSIG(sa) == SIGTERM);
    ck_assert(WIFSIGNALED(sb) && WTERMSIG(sb) == SIGTERM);
    int sw = reap_status(w);
    ck_assert(WIFEXITED(sw) && WEXITSTATUS(sw) == 0); /* its trap ran */
    char line[128];
    snprintf(line, sizeof(line), "node 0 (pid %ld) stopped", (long)a);
    ck_assert_msg(strstr(text, line) != NULL, "%s", text);
    snprintf(line, sizeof(line), "node 1 (pid %ld) was not running",
             (long)gone);
    ck_assert_msg(strstr(text, line) != NULL, "%s", text);
    snprintf(line, sizeof(line), "node 2 (pid %ld) stopped", (long)b);
    ck_assert_msg(strstr(text, line) != NULL, "%s", text);
    snprintf(line, sizeof(line), "node 3 (pid %ld) stopped", (long)w);
    ck_assert_msg(strstr(text, line) != NULL, "%s", text);
    free(text);
    ck_assert_int_ne(access(path_of("testnet.json"), F_OK), 0);

    /* Again: nothing to stop, still success. */
    text = NULL;
    out = open_memstream(&text, &len);
    ck_assert_int_eq(prod_testnet_stop(tmp_dir, out, err, sizeof(err)), 0);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "no testnet is running"));
    free(text);

    /* A broken testnet.json is an error, and is left in place. */
    write_text(path_of("testnet.json"), "{\"nodes\": [{\"pid\": 1}]}");
    ck_assert_int_eq(prod_testnet_stop(tmp_dir, stderr, err, sizeof(err)),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(access(path_of("testnet.json"), F_OK), 0);
}
END_TEST

START_TEST(stop_kills_a_replica_that_ignores_sigterm)
{
    pid_t stubborn = spawn_fake(true);
    write_fake_testnet(&stubborn, 1);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    char err[256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(prod_testnet_stop(tmp_dir, out, err, sizeof(err)), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fclose(out);
    int s = reap_status(stubborn);
    ck_assert(WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL);
    ck_assert_msg(strstr(text, "killed") != NULL, "%s", text);
    free(text);
    /* SIGKILL came after the 10 s grace, not before. */
    double waited = (double)(t1.tv_sec - t0.tv_sec) +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert(waited >= PROD_TESTNET_STOP_WAIT_MS / 1000.0);
    ck_assert(waited < PROD_TESTNET_STOP_WAIT_MS / 1000.0 + 2);
}
END_TEST

/* ---- the command ---------------------------------------------------- */

/* Runs prod_testnet_cmd with stdout and stderr captured into out. */
static int run_cmd(const char *self_exe, char *out, size_t out_len,
                   const char *const *args)
{
    char *argv[16] = {"testnet"};
    int argc = 1;
    while (args[argc - 1] != NULL && argc < 15) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    const char *cap = path_of("cmd.out");
    ck_assert(freopen(cap, "w", stdout) != NULL);
    ck_assert_int_eq(dup2(fileno(stdout), 2), 2);
    int rc = prod_testnet_cmd(argc, argv, self_exe);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    read_text(cap, out, out_len);
    unlink(cap);
    return rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(command_flags)
{
    char out[8192];
    const char *d = tmp_dir;
    ck_assert_int_eq(run_cmd(NULL, out, sizeof(out), ARGS("--help")), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: p2p-replica testnet"));
    const char *const *bad[] = {
        ARGS("--nodes", "3"), /* no --dir */
        ARGS("--dir"),        /* no value */
        ARGS("--dir", "x", "--nodes", "0"),
        ARGS("--dir", "x", "--nodes", "65"),
        ARGS("--dir", "x", "--nodes", "4x"),
        ARGS("--dir", "x", "--nodes", "-1"),
        ARGS("--dir", "x", "--nodes"),
        ARGS("--dir", "x", "--base-port", "0"),
        ARGS("--dir", "x", "--base-port", "65536"),
        ARGS("--dir", "x", "--nodes", "1", "--base-port", "64536"),
        ARGS("--dir", "x", "--timeout", "0"),
        ARGS("--dir", "x", "--timeout", "3601"),
        ARGS("--dir", "x", "--bogus"),
        ARGS("--dir", "x", "extra"),
        ARGS("--stop", "--dir", "x", "--nodes", "3"),
        ARGS("--stop", "--dir", "x", "--detach"),
        ARGS("--stop"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = run_cmd(NULL, out, sizeof(out), bad[i]);
        ck_assert_msg(rc == 2, "case %zu: exit %d", i, rc);
        ck_assert_msg(strstr(out, "usage:") != NULL, "case %zu: %s", i, out);
    }
    ck_assert_int_ne(access("x", F_OK), 0); /* nothing made */
    /* --stop with nothing running: a message, exit 0. */
    ck_assert_int_eq(
        run_cmd(NULL, out, sizeof(out), ARGS("--stop", "--dir", d)), 0);
    ck_assert_ptr_nonnull(strstr(out, "no testnet is running"));
}
END_TEST

START_TEST(command_refuses_a_running_testnet_then_stops_it)
{
    char out[8192];
    pid_t fake = spawn_fake(false);
    write_fake_testnet(&fake, 1);
    ck_assert_int_eq(run_cmd("/bin/false", out, sizeof(out),
                             ARGS("--dir", tmp_dir, "--nodes", "1")),
                     1);
    ck_assert_msg(strstr(out, "already runs a testnet") != NULL, "%s", out);
    ck_assert_int_ne(access(path_of("registry.yaml"), F_OK), 0);
    ck_assert(prod_testnet_pid_alive(fake, NULL));

    ck_assert_int_eq(
        run_cmd(NULL, out, sizeof(out), ARGS("--stop", "--dir", tmp_dir)), 0);
    ck_assert_msg(strstr(out, "stopped") != NULL, "%s", out);
    int s = reap_status(fake);
    ck_assert(WIFSIGNALED(s) && WTERMSIG(s) == SIGTERM);
    ck_assert_int_ne(access(path_of("testnet.json"), F_OK), 0);
}
END_TEST

/* A socket of ours on 127.0.0.1:port (type SOCK_DGRAM or SOCK_STREAM). */
static int hold_port(int type, unsigned port)
{
    int fd = socket(AF_INET, type, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (type == SOCK_STREAM)
        ck_assert_int_eq(listen(fd, 1), 0);
    return fd;
}

START_TEST(command_refuses_ports_in_use)
{
    char out[8192], port[16], want[128];
    snprintf(port, sizeof(port), "%u", test_base_port);
    /* Node 1's admin port is taken (an older testnet's replica, say). */
    int fd = hold_port(SOCK_STREAM, test_base_port + 1000 + 1);
    ck_assert_int_eq(run_cmd("/bin/false", out, sizeof(out),
                             ARGS("--dir", tmp_dir, "--nodes", "2",
                                  "--base-port", port)),
                     1);
    snprintf(want, sizeof(want), "127.0.0.1:%u (node 1, admin TCP) is in use",
             test_base_port + 1000 + 1);
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    close(fd);
    /* Node 0's QUIC port. */
    fd = hold_port(SOCK_DGRAM, test_base_port);
    ck_assert_int_eq(run_cmd("/bin/false", out, sizeof(out),
                             ARGS("--dir", tmp_dir, "--nodes", "2",
                                  "--base-port", port)),
                     1);
    snprintf(want, sizeof(want), "127.0.0.1:%u (node 0, QUIC UDP) is in use",
             test_base_port);
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    close(fd);
    /* Nothing was made or started. */
    ck_assert_int_ne(access(path_of("registry.yaml"), F_OK), 0);
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST

START_TEST(command_reports_a_replica_that_exits)
{
    char out[16384], port[16];
    snprintf(port, sizeof(port), "%u", test_base_port);
    /* A testnet.json of dead replicas is stale: it does not block a start. */
    pid_t gone = spawn_fake(false);
    kill(gone, SIGKILL);
    reap_status(gone);
    write_fake_testnet(&gone, 1);

    ck_assert_int_eq(run_cmd("/bin/false", out, sizeof(out),
                             ARGS("--dir", tmp_dir, "--nodes", "2",
                                  "--base-port", port, "--timeout", "20")),
                     1);
    ck_assert_msg(strstr(out, "exited with status 1") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "replica.log") != NULL, "%s", out);
    /* Generated, launched, logged; no testnet.json left. */
    ck_assert_int_eq(access(path_of("registry.yaml"), F_OK), 0);
    char log[2048];
    read_text(path_of("node0/replica.log"), log, sizeof(log));
    ck_assert_ptr_nonnull(strstr(log, "--- p2p-replica testnet: node 0"));
    ck_assert_int_ne(access(path_of("testnet.json"), F_OK), 0);

    /* A binary that does not exist: exit 127, said in the log. */
    ck_assert_int_eq(
        run_cmd("/nonexistent/p2p-replica", out, sizeof(out),
                ARGS("--dir", tmp_dir, "--nodes", "1", "--base-port", port)),
        1);
    ck_assert_msg(strstr(out, "exited with status 127") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "cannot run /nonexistent/p2p-replica") != NULL,
                  "%s", out);
}
END_TEST

START_TEST(command_times_out_and_stops_its_replicas)
{
    /* Replicas that run but never answer /health. */
    char script[PATH_MAX], out[16384], port[16];
    snprintf(script, sizeof(script), "%s", path_of("fake-replica"));
    write_text(script, "#!/bin/sh\necho fake replica \"$@\"\nexec sleep 100\n");
    ck_assert_int_eq(chmod(script, 0755), 0);
    snprintf(port, sizeof(port), "%u", test_base_port);
    ck_assert_int_eq(run_cmd(script, out, sizeof(out),
                             ARGS("--dir", tmp_dir, "--nodes", "2",
                                  "--base-port", port, "--timeout", "1")),
                     1);
    ck_assert_msg(strstr(out, "2 of 2 replicas not healthy after 1 s") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "waiting for 2 replicas: 0 healthy") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "/health): ") != NULL, "%s", out);
    /* The log tail shows the replica's own words, with its arguments. */
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "| fake replica run --config %s",
             path_of("node1/config.yaml"));
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    ck_assert_msg(strstr(out, "stopping 2 replicas") != NULL, "%s", out);
    ck_assert_int_ne(access(path_of("testnet.json"), F_OK), 0);
    /* Both were reaped by the command: no child of ours is left. */
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST

int main(void)
{
    test_base_port = pick_base_port();
    Suite *s = suite_create("prod_testnet");
    TCase *gen = tcase_create("generate");
    tcase_add_checked_fixture(gen, setup, teardown);
    tcase_add_test(gen, generate_writes_registry_configs_and_identities);
    tcase_add_test(gen, generated_files_load_in_the_replica);
    tcase_add_test(gen, generate_reuses_identities);
    tcase_add_test(gen, generate_refuses_a_broken_pair);
    tcase_add_test(gen, generate_bounds);
    tcase_add_test(gen, json_round_trip);
    tcase_add_test(gen, json_reader_is_strict);
    suite_add_tcase(s, gen);
    TCase *proc = tcase_create("processes");
    tcase_add_checked_fixture(proc, setup, teardown);
    tcase_set_timeout(proc, 60);
    tcase_add_test(proc, pid_alive_means_a_live_replica);
    tcase_add_test(proc, stop_terminates_listed_replicas);
    tcase_add_test(proc, stop_kills_a_replica_that_ignores_sigterm);
    tcase_add_test(proc, command_flags);
    tcase_add_test(proc, command_refuses_a_running_testnet_then_stops_it);
    tcase_add_test(proc, command_refuses_ports_in_use);
    tcase_add_test(proc, command_reports_a_replica_that_exits);
    tcase_add_test(proc, command_times_out_and_stops_its_replicas);
    suite_add_tcase(s, proc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
