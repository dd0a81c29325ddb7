/* Unit tests for prod/registry: a valid file (members out of order, block
 * and flow style, IPv6, a matching certificate) field by field and through
 * both lookups; a table of bad files each with the exact
 * "file:line: key: message" it must fail with (missing keys, ranges,
 * duplicate index and id, bad hex, addresses); certificates made here with
 * GnuTLS (match, mismatch, missing, not PEM, relative to the registry's
 * folder); the member count and file size caps on both sides; the
 * versions in use (the newest record of an index wins, a superseded key is
 * refused, versions dropped as the earliest moves, refusals, the bound). */
#include <check.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/err.h"
#include "prod/registry.h"
#include "prod/yaml_doc.h"

#define ERR_BYTES 512
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Three ids, 64 hex digits each. */
#define ID_A "0000000000000000000000000000000000000000000000000000000000000a0a"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"

static char tmp_dir[64];
static char reg_path[128];           /* tmp_dir/registry.yaml */
static struct prod_registry *reg;    /* 300 KiB: heap */
static char err[ERR_BYTES];

static void setup(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/p2p-test-registry-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(reg_path, sizeof reg_path, "%s/registry.yaml", tmp_dir);
    reg = malloc(sizeof *reg);
    ck_assert_ptr_nonnull(reg);
    err[0] = '\0';
}

static void teardown(void)
{
    char cmd[128];
    free(reg);
    reg = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
    ck_assert_int_eq(fclose(fp), 0);
}

static int load(const char *text)
{
    write_file(reg_path, text, strlen(text));
    memset(err, 0x5a, sizeof err);
    memset(reg, 0x5a, sizeof *reg);
    int rc = prod_registry_load(reg_path, reg, err, sizeof err);
    ck_assert_ptr_nonnull(memchr(err, '\0', sizeof err));
    return rc;
}

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

/* err must match "<reg_path><want>"; '*' in want matches anything. */
static void check_err(const char *want)
{
    char full[ERR_BYTES];
    snprintf(full, sizeof full, "%s%s", reg_path, want);
    ck_assert_msg(glob_match(full, err), "got '%s', want '%s'", err, full);
}

static void check_zeroed(void)
{
    static const struct prod_registry zero;
    ck_assert(memcmp(reg, &zero, sizeof zero) == 0);
}

static void hex_of(const uint8_t b[32], char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
}

/* Makes a fresh Ed25519 key and a self-signed certificate of it, writes
 * the certificate as PEM to path and the key's id (SHA-256 of its SPKI,
 * computed from the private key, not from the certificate) to id_hex. */
static void make_cert(const char *path, char id_hex[65])
{
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    gnutls_datum_t pem;
    uint8_t id[32];
    size_t id_len = sizeof id;
    unsigned char serial[8] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    time_t now = time(NULL);
    ck_assert_int_eq(gnutls_x509_privkey_init(&key), 0);
    ck_assert_int_eq(gnutls_x509_privkey_generate(key, GNUTLS_PK_EDDSA_ED25519,
                                                  0, 0), 0);
    ck_assert_int_eq(gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256,
                                                    id, &id_len), 0);
    ck_assert_uint_eq(id_len, 32);
    ck_assert_int_eq(gnutls_x509_crt_init(&crt), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_version(crt, 3), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_serial(crt, serial, sizeof serial), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_activation_time(crt, now - 60), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_expiration_time(crt, now + 3600), 0);
    ck_assert_int_eq(gnutls_x509_crt_set_dn_by_oid(
                         crt, GNUTLS_OID_X520_COMMON_NAME, 0, "p2p-test", 8),
                     0);
    ck_assert_int_eq(gnutls_x509_crt_set_key(crt, key), 0);
    ck_assert_int_eq(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA512, 0),
                     0);
    ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem), 0);
    write_file(path, pem.data, pem.size);
    gnutls_free(pem.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    hex_of(id, id_hex);
}

static void parse_hex(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

START_TEST(test_valid)
{
    char cert_dir[128], cert_path[160], id0[65], text[2048];
    uint8_t key[32];
    snprintf(cert_dir, sizeof cert_dir, "%s/node0", tmp_dir);
    ck_assert_int_eq(mkdir(cert_dir, 0700), 0);
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", cert_dir);
    make_cert(cert_path, id0);
    /* Uppercase in the file; the member's id is normalised to lowercase. */
    char id0_upper[65];
    for (int i = 0; i < 65; i++)
        id0_upper[i] = (char)(id0[i] >= 'a' && id0[i] <= 'f' ? id0[i] - 32
                                                             : id0[i]);
    snprintf(text, sizeof text,
             "# three members, out of order\n"
             "version: 7\n"
             "members:\n"
             "  - index: 12\n"
             "    id: " ID_B "\n"
             "    addr: '[::1]:4112'\n"
             "  - index: 0\n"
             "    id: %s\n"
             "    addr: 127.0.0.1:4100\n"
             "    cert: node0/cert.pem\n"
             "  - {index: 4095, id: " ID_C ", addr: localhost:65535}\n",
             id0_upper);
    ck_assert_msg(load(text) == 0, "%s", err);
    ck_assert_uint_eq(reg->version, 7);
    ck_assert_uint_eq(reg->count, 3);

    const struct prod_member *m = &reg->members[0];
    ck_assert_uint_eq(m->index, 0);
    ck_assert_str_eq(m->id_hex, id0);
    parse_hex(id0, key);
    ck_assert(memcmp(m->key_id, key, 32) == 0);
    ck_assert_str_eq(m->addr_text, "127.0.0.1:4100");
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&m->addr;
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(m->addr_len, sizeof *sin);
    ck_assert_uint_eq(ntohs(sin->sin_port), 4100);
    ck_assert_uint_eq(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));

    m = &reg->members[1];
    ck_assert_uint_eq(m->index, 12);
    ck_assert_str_eq(m->id_hex, ID_B);
    ck_assert_str_eq(m->addr_text, "[::1]:4112");
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&m->addr;
    ck_assert_int_eq(sin6->sin6_family, AF_INET6);
    ck_assert_uint_eq(m->addr_len, sizeof *sin6);
    ck_assert_uint_eq(ntohs(sin6->sin6_port), 4112);
    ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));

    m = &reg->members[2];
    ck_assert_uint_eq(m->index, 4095);
    ck_assert_str_eq(m->id_hex, ID_C);
    ck_assert_uint_eq(ntohs(((const struct sockaddr_in *)&m->addr)->sin_port),
                      65535);

    /* Lookups, found and not. */
    for (uint32_t i = 0; i < reg->count; i++) {
        ck_assert_ptr_eq(prod_registry_by_index(reg, reg->members[i].index),
                         &reg->members[i]);
        ck_assert_ptr_eq(prod_registry_by_key(reg, reg->members[i].key_id),
                         &reg->members[i]);
    }
    static const uint32_t absent[] = {1, 11, 13, 4094, 4096, UINT32_MAX};
    for (int i = 0; i < COUNT(absent); i++)
        ck_assert_ptr_null(prod_registry_by_index(reg, absent[i]));
    parse_hex(ID_A, key);
    ck_assert_ptr_null(prod_registry_by_key(reg, key));
}
END_TEST

START_TEST(test_one_member_mem)
{
    static const char text[] =
        "version: 18446744073709551615\n"
        "members: [{index: 3, id: " ID_A ", addr: '10.1.2.3:1'}]\n";
    ck_assert_int_eq(prod_registry_load_mem((const uint8_t *)text,
                                            strlen(text), "mem.yaml", reg, err,
                                            sizeof err),
                     0);
    ck_assert_uint_eq(reg->version, UINT64_MAX);
    ck_assert_uint_eq(reg->count, 1);
    ck_assert_uint_eq(reg->members[0].index, 3);
    ck_assert_ptr_null(prod_registry_by_index(reg, 2));
    ck_assert_ptr_null(prod_registry_by_index(reg, 4));
}
END_TEST

struct bad_case {
    const char *text;
    int rc;
    const char *want; /* after the file name; '*' matches anything */
};

#define V1 "version: 1\nmembers:\n"
#define MEMBER_A "  - {index: 0, id: " ID_A ", addr: 127.0.0.1:4100}\n"

static const struct bad_case bad_cases[] = {
    {"members:\n" MEMBER_A, P2P_ERR_DECODE, ":1: version: missing (required)"},
    {"version: 1\n", P2P_ERR_DECODE, ":1: members: missing (required)"},
    {"version: 0\nmembers:\n" MEMBER_A, P2P_ERR_DECODE,
     ":1: version: 0 is out of range (1..18446744073709551615)"},
    {"version: -1\nmembers:\n" MEMBER_A, P2P_ERR_DECODE,
     ":1: version: expected a whole number, got '-1'"},
    {"version: 18446744073709551616\nmembers:\n" MEMBER_A, P2P_ERR_DECODE,
     ":1: version: 18446744073709551616 is too large"},
    {"version: 1\nmembers: []\n", P2P_ERR_DECODE,
     ":2: members: the list is empty"},
    {"version: 1\nmembers:\n", P2P_ERR_DECODE,
     ":2: members: expected a list, got nothing"},
    {"version: 1\nmembers: {index: 0}\n", P2P_ERR_DECODE,
     ":2: members: expected a list, got a mapping"},
    {V1 MEMBER_A "  - 7\n", P2P_ERR_DECODE,
     ":4: members[1]: expected a mapping, got a single value"},
    {"version: 1\nepoch: 2\nmembers:\n" MEMBER_A, P2P_ERR_DECODE,
     ":2: epoch: unknown key (expected version, members)"},
    {V1 MEMBER_A "  - index: 1\n    id: " ID_B "\n    addr: 127.0.0.1:1\n"
                 "    weight: 3\n",
     P2P_ERR_DECODE,
     ":7: members[1].weight: unknown key (expected index, id, addr, cert)"},
    {V1 "  - id: " ID_B "\n    addr: 127.0.0.1:1\n", P2P_ERR_DECODE,
     ":3: members[0].index: missing (required)"},
    {V1 MEMBER_A "  - index: 1\n    addr: 127.0.0.1:1\n", P2P_ERR_DECODE,
     ":4: members[1].id: missing (required)"},
    {V1 MEMBER_A "  - {index: 1, id: " ID_A ", addr: 127.0.0.1:2}\n",
     P2P_ERR_DECODE, ":4: members[1].id: the same id as members[0] (line 3)"},
    {V1 MEMBER_A "  - {index: 2, id: " ID_C "}\n", P2P_ERR_DECODE,
     ":4: members[1].addr: missing (required)"},
    {V1 "  - {index: 4096, id: " ID_A ", addr: 127.0.0.1:1}\n", P2P_ERR_DECODE,
     ":3: members[0].index: 4096 is out of range (0..4095)"},
    {V1 "  - {index: x, id: " ID_A ", addr: 127.0.0.1:1}\n", P2P_ERR_DECODE,
     ":3: members[0].index: expected a whole number, got 'x'"},
    /* Duplicates name both entries, with the first one's line. */
    {V1 MEMBER_A "  - index: 1\n    id: " ID_B "\n    addr: 127.0.0.1:1\n"
                 "  - index: 0\n    id: " ID_C "\n    addr: 127.0.0.1:2\n",
     P2P_ERR_DECODE, ":7: members[2].index: 0 is also the index of members[0] "
                     "(line 3)"},
    {V1 MEMBER_A "  - index: 1\n    id: " ID_B "\n    addr: 127.0.0.1:1\n"
                 "  - index: 2\n"
                 "    id: BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
                 "BBBBBBBBBBBB\n"
                 "    addr: 127.0.0.1:2\n",
     P2P_ERR_DECODE, ":8: members[2].id: the same id as members[1] (line 5)"},
    {V1 "  - {index: 0, id: abc, addr: 127.0.0.1:1}\n", P2P_ERR_DECODE,
     ":3: members[0].id: expected 64 hex digits (a SHA-256 node id), got 3 "
     "characters"},
    {V1 "  - {index: 0, id: " ID_A "0, addr: 127.0.0.1:1}\n", P2P_ERR_DECODE,
     ":3: members[0].id: expected 64 hex digits (a SHA-256 node id), got 65 "
     "characters"},
    {V1 "  - {index: 0, id: x" ID_A ", addr: 127.0.0.1:1}\n", P2P_ERR_DECODE,
     ":3: members[0].id: expected 64 hex digits (a SHA-256 node id), got 65 "
     "characters"},
    {V1 "  - {index: 0, id: 0x00000000000000000000000000000000000000000000000000"
        "000000000000, addr: 127.0.0.1:1}\n",
     P2P_ERR_DECODE,
     ":3: members[0].id: expected 64 hex digits (a SHA-256 node id); character "
     "2 is not one"},
    {V1 "  - {index: 0, id: [1], addr: 127.0.0.1:1}\n", P2P_ERR_DECODE,
     ":3: members[0].id: expected 64 hex digits (a SHA-256 node id), got a "
     "list"},
    {V1 "  - {index: 0, id: " ID_A ", addr: 127.0.0.1:0}\n", P2P_ERR_DECODE,
     ":3: members[0].addr: the port must be a number in 1..65535"},
    {V1 "  - {index: 0, id: " ID_A ", addr: node1.example:4100}\n",
     P2P_ERR_DECODE, ":3: members[0].addr: expected host:port*names are not "
                     "resolved)"},
    {V1 "  - {index: 0, id: " ID_A ", addr: '[fe80::1%nosuchif0]:4100'}\n",
     P2P_ERR_DECODE, ":3: members[0].addr: expected host:port*"},
    {V1 "  - {index: 0, id: " ID_A ", addr: 127.0.0.1:1, cert: ''}\n",
     P2P_ERR_DECODE,
     ":3: members[0].cert: missing value (expected a path)"},
    /* File text with control bytes stays on one line in the message. */
    {V1 "  - {index: 0, id: " ID_A ", addr: 127.0.0.1:1, cert: \"x\\ny\"}\n",
     P2P_ERR_READ, ":3: members[0].cert: */x?y: cannot open: *"},
    {V1 "  - {index: 0, id: " ID_A ", addr: 127.0.0.1:1, \"\\tkey\\r\": 1}\n",
     P2P_ERR_DECODE, ":3: members[0].?key?: unknown key (expected index, id, "
                     "addr, cert)"},
    {V1 "  - &m {index: 0, id: " ID_A ", addr: 127.0.0.1:1}\n  - *m\n",
     P2P_ERR_DECODE, ":4: aliases (*name) are not supported"},
    {"- 1\n", P2P_ERR_DECODE,
     ":1: expected a mapping (version, members), got a list"},
    {"", P2P_ERR_DECODE,
     ": the file is empty (expected a mapping: version, members)"},
    {"version: 1\nmembers:\n  - {index: 0\n", P2P_ERR_DECODE,
     ":4: YAML syntax error: *"},
};

START_TEST(test_bad_files)
{
    const struct bad_case *c = &bad_cases[_i];
    ck_assert_int_eq(load(c->text), c->rc);
    check_err(c->want);
    check_zeroed();
}
END_TEST

START_TEST(test_cert_match_relative)
{
    char dir[128], path[192], id[65], text[1024];
    /* The registry in a subfolder; the cert path relative to it. */
    snprintf(dir, sizeof dir, "%s/reg", tmp_dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/certs", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/certs/n5.pem", dir);
    make_cert(path, id);
    snprintf(text, sizeof text,
             "version: 2\nmembers:\n"
             "  - {index: 5, id: %s, addr: 127.0.0.1:4105, cert: certs/n5.pem}\n",
             id);
    snprintf(path, sizeof path, "%s/registry.yaml", dir);
    write_file(path, text, strlen(text));
    ck_assert_msg(prod_registry_load(path, reg, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_str_eq(reg->members[0].id_hex, id);
    /* The same text next to the registry at the top: no such cert. */
    ck_assert_int_eq(load(text), P2P_ERR_READ);
    check_err(":3: members[0].cert: */certs/n5.pem: cannot open: No such "
              "file or directory");
    /* An absolute path works from anywhere. */
    char abs_text[1024];
    snprintf(abs_text, sizeof abs_text,
             "version: 2\nmembers:\n"
             "  - {index: 5, id: %s, addr: 127.0.0.1:4105, cert: %s/certs/n5.pem}\n",
             id, dir);
    ck_assert_msg(load(abs_text) == 0, "%s", err);
}
END_TEST

START_TEST(test_cert_mismatch)
{
    char path[160], id0[65], id1[65], id2[65], text[2048], want[256];
    snprintf(path, sizeof path, "%s/c0.pem", tmp_dir);
    make_cert(path, id0);
    snprintf(path, sizeof path, "%s/c1.pem", tmp_dir);
    make_cert(path, id1);
    snprintf(path, sizeof path, "%s/c2.pem", tmp_dir);
    make_cert(path, id2);
    ck_assert_str_ne(id1, id2);
    /* members[2] names c1's certificate with c2's id. */
    snprintf(text, sizeof text,
             "version: 1\n"
             "members:\n"
             "  - {index: 0, id: %s, addr: 127.0.0.1:1, cert: c0.pem}\n"
             "  - {index: 1, id: %s, addr: 127.0.0.1:2, cert: c1.pem}\n"
             "  - index: 2\n"
             "    id: %s\n"
             "    addr: 127.0.0.1:3\n"
             "    cert: c1.pem\n",
             id0, id1, id2);
    ck_assert_int_eq(load(text), P2P_ERR_ID_MISMATCH);
    snprintf(want, sizeof want,
             ":8: members[2].cert: the certificate's key id is %s, not the "
             "member's id %s",
             id1, id2);
    check_err(want);
    check_zeroed();
}
END_TEST

START_TEST(test_cert_bad_files)
{
    char path[160], text[1024];
    snprintf(path, sizeof path, "%s/junk.pem", tmp_dir);
    write_file(path, "-----BEGIN CERTIFICATE-----\nAAAA\n"
                     "-----END CERTIFICATE-----\n", 54);
    snprintf(text, sizeof text,
             "version: 1\nmembers:\n"
             "  - {index: 0, id: " ID_A ", addr: 127.0.0.1:1, cert: junk.pem}\n");
    ck_assert_int_eq(load(text), P2P_ERR_DECODE);
    check_err(":3: members[0].cert: */junk.pem is not a PEM X.509 certificate "
              "(*)");
    /* A folder is not a certificate file. */
    snprintf(text, sizeof text,
             "version: 1\nmembers:\n"
             "  - {index: 0, id: " ID_A ", addr: 127.0.0.1:1, cert: .}\n");
    ck_assert_int_eq(load(text), P2P_ERR_READ);
    check_err(":3: members[0].cert: */.: not a regular file");
    /* A certificate file over its cap is not read. */
    size_t big = PROD_REGISTRY_CERT_BYTES_MAX + 1;
    char *junk = calloc(1, big);
    ck_assert_ptr_nonnull(junk);
    snprintf(path, sizeof path, "%s/big.pem", tmp_dir);
    write_file(path, junk, big);
    free(junk);
    snprintf(text, sizeof text,
             "version: 1\nmembers:\n"
             "  - {index: 0, id: " ID_A ", addr: 127.0.0.1:1, cert: big.pem}\n");
    ck_assert_int_eq(load(text), P2P_ERR_OVERSIZE);
    check_err(":3: members[0].cert: */big.pem: the file is 65537 bytes, more "
              "than the limit of 65536");
}
END_TEST

/* Builds a registry of n members (index i, id = i in hex, port 1 + i). */
static char *many_members(uint32_t n)
{
    size_t cap = 64 + (size_t)n * 128;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t used = (size_t)snprintf(text, cap, "version: 1\nmembers:\n");
    for (uint32_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used,
                                 "  - {index: %u, id: %064x, addr: "
                                 "127.0.0.1:%u}\n",
                                 (n - 1 - i) * 4, i, 1 + i);
    return text;
}

START_TEST(test_members_cap)
{
    char *text = many_members(PROD_REGISTRY_MEMBERS_MAX);
    ck_assert_msg(load(text) == 0, "%s", err);
    free(text);
    ck_assert_uint_eq(reg->count, PROD_REGISTRY_MEMBERS_MAX);
    for (uint32_t i = 0; i < reg->count; i++) {
        ck_assert_uint_eq(reg->members[i].index, i * 4);
        ck_assert_ptr_eq(prod_registry_by_index(reg, i * 4), &reg->members[i]);
        ck_assert_ptr_null(prod_registry_by_index(reg, i * 4 + 1));
        ck_assert_ptr_eq(prod_registry_by_key(reg, reg->members[i].key_id),
                         &reg->members[i]);
    }
    text = many_members(PROD_REGISTRY_MEMBERS_MAX + 1);
    ck_assert_int_eq(load(text), P2P_ERR_LIMIT);
    free(text);
    check_err(":3: members: 1025 entries, more than the limit of 1024");
    check_zeroed();
}
END_TEST

START_TEST(test_file_size_cap)
{
    size_t cap = PROD_YAML_FILE_BYTES_MAX;
    char *text = malloc(cap + 1);
    ck_assert_ptr_nonnull(text);
    static const char head[] = V1 MEMBER_A "#";
    memcpy(text, head, strlen(head));
    memset(text + strlen(head), 'x', cap - strlen(head));
    text[cap - 1] = '\n';
    write_file(reg_path, text, cap);
    ck_assert_msg(prod_registry_load(reg_path, reg, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(reg->count, 1);
    text[cap] = '\n';
    write_file(reg_path, text, cap + 1);
    ck_assert_int_eq(prod_registry_load(reg_path, reg, err, sizeof err),
                     P2P_ERR_OVERSIZE);
    check_err(": the file is 1048577 bytes, more than the limit of 1048576");
    free(text);
    check_zeroed();
}
END_TEST

START_TEST(test_yaml_nodes_cap)
{
    /* 70,000 small values in a list under an unknown key would be built by
     * libyaml before the schema sees them: refused by the pre-pass. */
    size_t n = PROD_YAML_NODES_MAX + 10, cap = 64 + n * 3;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t used = (size_t)snprintf(text, cap, "version: 1\nx: [");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "1,");
    snprintf(text + used, cap - used, "]\n");
    ck_assert_int_eq(load(text), P2P_ERR_LIMIT);
    free(text);
    check_err(":2: more than the limit of 65536 YAML values, lists and "
              "mappings");
}
END_TEST

/* ---- the versions in use (struct prod_registry_history) ---- */

/* Version `version` of reg: members index[i] with key byte key[i] (all 32
 * bytes) at 127.0.0.1:(4100 + key[i]). */
static void make_version(uint64_t version, const uint32_t *index,
                         const uint8_t *key, uint32_t count)
{
    memset(reg, 0, sizeof *reg);
    reg->version = version;
    reg->count = count;
    for (uint32_t i = 0; i < count; i++) {
        struct prod_member *m = &reg->members[i];
        m->index = index[i];
        memset(m->key_id, key[i], sizeof m->key_id);
        snprintf(m->addr_text, sizeof m->addr_text, "127.0.0.1:%u",
                 4100u + key[i]);
    }
}

static uint32_t index_of_key(const struct prod_registry_history *h,
                             uint8_t key)
{
    uint8_t id[32];
    memset(id, key, sizeof id);
    const struct prod_member *m = prod_registry_history_by_key(h, id);
    return m != NULL ? m->index : UINT32_MAX;
}

/* Versions 1 {0, 1, 2} and 2 {0, 1 with a new key}: index 2 is still
 * served from version 1; index 1 has version 2's key and address, and its
 * old key is refused. Moving the earliest to 2 drops version 1. */
START_TEST(test_history_newest_wins)
{
    struct prod_registry_history h;
    prod_registry_history_init(&h);
    static const uint32_t idx1[] = {0, 1, 2}, idx2[] = {0, 1};
    static const uint8_t key1[] = {0xa0, 0xb0, 0xc0}, key2[] = {0xa0, 0xb1};
    make_version(1, idx1, key1, 3);
    ck_assert_int_eq(prod_registry_history_add(&h, reg, 1), 0);
    make_version(2, idx2, key2, 2);
    ck_assert_int_eq(prod_registry_history_add(&h, reg, 1), 0);
    memset(reg, 0x5a, sizeof *reg); /* copied: the caller's may go */
    ck_assert_uint_eq(h.count, 2);
    ck_assert_uint_eq(h.topo.count, 3);
    ck_assert_str_eq(prod_registry_history_by_index(&h, 1)->addr_text,
                     "127.0.0.1:4277");
    ck_assert_str_eq(prod_registry_history_by_index(&h, 2)->addr_text,
                     "127.0.0.1:4292");
    ck_assert_ptr_null(prod_registry_history_by_index(&h, 3));
    ck_assert_uint_eq(index_of_key(&h, 0xb1), 1);
    ck_assert_uint_eq(index_of_key(&h, 0xb0), UINT32_MAX);
    ck_assert_uint_eq(index_of_key(&h, 0xc0), 2);
    ck_assert_uint_eq(index_of_key(&h, 0xa0), 0);
    ck_assert_uint_eq(index_of_key(&h, 0xd0), UINT32_MAX);
    ck_assert_int_eq(prod_registry_history_set_earliest(&h, 2), 0);
    ck_assert_uint_eq(h.count, 1);
    ck_assert_uint_eq(h.versions[0].version, 2);
    ck_assert_ptr_null(prod_registry_history_by_index(&h, 2));
    ck_assert_uint_eq(index_of_key(&h, 0xc0), UINT32_MAX);
    ck_assert_uint_eq(index_of_key(&h, 0xb1), 1);
    prod_registry_history_fini(&h);
}
END_TEST

/* Refusals leave the versions as they were: a version not newer, an
 * earliest moving back or past the latest. */
START_TEST(test_history_refusals)
{
    struct prod_registry_history h;
    prod_registry_history_init(&h);
    static const uint32_t idx[] = {0, 1};
    static const uint8_t key[] = {1, 2};
    make_version(3, idx, key, 2);
    ck_assert_int_eq(prod_registry_history_add(&h, reg, 2), 0);
    make_version(4, idx, key, 1);
    ck_assert_int_eq(prod_registry_history_add(&h, reg, 3), 0);
    make_version(4, idx, key, 2);
    ck_assert_int_eq(prod_registry_history_add(&h, reg, 4), P2P_ERR_STATE);
    make_version(5, idx, key, 2);
    ck_assert_int_eq(prod_registry_history_add(&h, reg, 2), P2P_ERR_STATE);
    ck_assert_int_eq(prod_registry_history_add(&h, reg, 6),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(prod_registry_history_set_earliest(&h, 2),
                     P2P_ERR_STATE);
    ck_assert_int_eq(prod_registry_history_set_earliest(&h, 5),
                     P2P_ERR_INVALID_ARG);
    ck_assert_uint_eq(h.count, 2);
    ck_assert_uint_eq(h.topo.version, 4);
    ck_assert_uint_eq(h.topo.earliest_version, 3);
    ck_assert_ptr_nonnull(prod_registry_history_by_index(&h, 1));
    prod_registry_history_fini(&h);
}
END_TEST

/* With the earliest held at 1, P2P_TOPOLOGY_VERSIONS_MAX versions are
 * kept (version k lists index k alone); one more drops version 1. */
START_TEST(test_history_bound)
{
    struct prod_registry_history h;
    prod_registry_history_init(&h);
    for (uint32_t k = 1; k <= P2P_TOPOLOGY_VERSIONS_MAX + 1; k++) {
        uint8_t key = (uint8_t)k;
        make_version(k, &k, &key, 1);
        ck_assert_int_eq(prod_registry_history_add(&h, reg, 1), 0);
        uint32_t want = k < P2P_TOPOLOGY_VERSIONS_MAX
                            ? k
                            : P2P_TOPOLOGY_VERSIONS_MAX;
        ck_assert_uint_eq(h.count, want);
        ck_assert_uint_eq(h.topo.versions_count, want);
    }
    ck_assert_ptr_null(prod_registry_history_by_index(&h, 1));
    ck_assert_ptr_nonnull(prod_registry_history_by_index(&h, 2));
    ck_assert_uint_eq(h.topo.earliest_version, 2);
    ck_assert_uint_eq(h.versions[0].version, 2);
    prod_registry_history_fini(&h);
}
END_TEST

static Suite *registry_suite(void)
{
    Suite *s = suite_create("prod_registry");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_one_member_mem);
    tcase_add_loop_test(tc, test_bad_files, 0, COUNT(bad_cases));
    tcase_add_test(tc, test_cert_match_relative);
    tcase_add_test(tc, test_cert_mismatch);
    tcase_add_test(tc, test_cert_bad_files);
    tcase_add_test(tc, test_members_cap);
    tcase_add_test(tc, test_file_size_cap);
    tcase_add_test(tc, test_yaml_nodes_cap);
    suite_add_tcase(s, tc);
    tc = tcase_create("history");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_history_newest_wins);
    tcase_add_test(tc, test_history_refusals);
    tcase_add_test(tc, test_history_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(registry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
