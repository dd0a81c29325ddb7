/* The simulator's seeded TLS identities (sim/quic_identity.c): the same
 * (seed, node) gives the same bytes, any other seed or node another id;
 * the key and certificate belong together; the certificate passes every
 * check the replica makes of a peer's (X.509 v3, Ed25519, self-issued, its
 * self-signature verifies, a flipped signature bit does not, fixed
 * validity, node id = SHA-256 of the SPKI), carries only fixed fields
 * (serial, CN, three extensions, no key identifiers); golden values for
 * (seed 1, node 0) pin the derivation across machines and compilers. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/err.h"
#include "sim/quic_identity.h"

/* 99991231235959Z as GnuTLS reads it. */
#define NO_EXPIRY_S 253402300799LL

/* Golden values for seed 1, node 0, computed once by this module on
 * Debian 12 (GnuTLS 3.7.9, nettle 3.8.1); the key id agrees with OpenSSL's
 * for the same private key. If the key id changes, the derivation
 * changed; if only the certificate's SHA-256 (of its DER) does, its
 * encoding did, and every node's certificate bytes with it. */
static const char GOLDEN_KEY_ID_HEX[] =
    "47763856e636099f73bdf57d3c856cb173d6508b6f3904d89fbab4f05e9b61d4";
static const char GOLDEN_CERT_SHA256_HEX[] =
    "c25980e2363e7b1578f36b6c3a2f26210b7e841b1ce4fc984b3a0415838a228b";

/* Identities on the heap: each is over 8 KiB. */
static struct sim_quic_identity *ids_new(size_t n)
{
    struct sim_quic_identity *ids = calloc(n, sizeof(*ids));
    ck_assert_ptr_nonnull(ids);
    return ids;
}

static void make(uint64_t seed, uint32_t node, struct sim_quic_identity *id)
{
    char err[256] = "";
    ck_assert_msg(sim_quic_identity_make(seed, node, id, err, sizeof(err)) == 0,
                  "seed %llu node %u: %s", (unsigned long long)seed,
                  (unsigned)node, err);
    ck_assert_uint_gt(id->key_pem_len, 0);
    ck_assert_uint_lt(id->key_pem_len, SIM_QUIC_IDENTITY_PEM_BYTES_MAX);
    ck_assert_uint_eq(strlen(id->key_pem), id->key_pem_len);
    ck_assert_uint_gt(id->cert_pem_len, 0);
    ck_assert_uint_lt(id->cert_pem_len, SIM_QUIC_IDENTITY_PEM_BYTES_MAX);
    ck_assert_uint_eq(strlen(id->cert_pem), id->cert_pem_len);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static gnutls_x509_crt_t crt_of(const struct sim_quic_identity *id)
{
    gnutls_x509_crt_t crt;
    ck_assert_int_ge(gnutls_x509_crt_init(&crt), 0);
    const gnutls_datum_t pem = {(unsigned char *)id->cert_pem,
                                (unsigned)id->cert_pem_len};
    ck_assert_int_ge(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM), 0);
    return crt;
}

/* As prod/identity.c's self_signature_verifies: crt verified as issued by
 * itself, not taken as trusted because it is in the list. */
static bool self_signed(gnutls_x509_crt_t crt)
{
    unsigned status = 0;
    unsigned flags = GNUTLS_VERIFY_DO_NOT_ALLOW_SAME |
                     GNUTLS_VERIFY_DISABLE_CA_SIGN |
                     GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                     GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS;
    return gnutls_x509_crt_verify(crt, &crt, 1, flags, &status) == 0 &&
           status == 0;
}

/* Every check prod_identity_check_cert makes, and the node id. */
static void check_cert(const struct sim_quic_identity *id, uint32_t node)
{
    gnutls_x509_crt_t crt = crt_of(id);
    ck_assert_int_eq(gnutls_x509_crt_get_version(crt), 3);
    ck_assert_int_eq(gnutls_x509_crt_get_pk_algorithm(crt, NULL),
                     GNUTLS_PK_EDDSA_ED25519);
    ck_assert_int_eq(gnutls_x509_crt_get_signature_algorithm(crt),
                     GNUTLS_SIGN_EDDSA_ED25519);
    ck_assert_int_eq(gnutls_x509_crt_check_issuer(crt, crt), 1);
    ck_assert(self_signed(crt));
    ck_assert_int_eq((long long)gnutls_x509_crt_get_activation_time(crt),
                     SIM_QUIC_IDENTITY_NOT_BEFORE_S);
    ck_assert_int_eq((long long)gnutls_x509_crt_get_expiration_time(crt),
                     NO_EXPIRY_S);
    uint8_t kid[64];
    size_t kid_len = sizeof(kid);
    ck_assert_int_ge(
        gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, kid, &kid_len),
        0);
    ck_assert_uint_eq(kid_len, 32);
    ck_assert_mem_eq(kid, id->key_id, 32);

    char want[32], dn[128];
    snprintf(want, sizeof(want), "CN=sim-node-%u", (unsigned)node);
    size_t dn_len = sizeof(dn);
    ck_assert_int_ge(gnutls_x509_crt_get_dn(crt, dn, &dn_len), 0);
    ck_assert_str_eq(dn, want);
    dn_len = sizeof(dn);
    ck_assert_int_ge(gnutls_x509_crt_get_issuer_dn(crt, dn, &dn_len), 0);
    ck_assert_str_eq(dn, want);
    gnutls_x509_crt_deinit(crt);
}

START_TEST(same_seed_and_node_same_bytes)
{
    struct sim_quic_identity *ids = ids_new(2);
    for (uint32_t node = 0; node < 4; node++) {
        make(77, node, &ids[0]);
        make(77, node, &ids[1]);
        ck_assert_uint_eq(ids[0].key_pem_len, ids[1].key_pem_len);
        ck_assert_mem_eq(ids[0].key_pem, ids[1].key_pem, ids[0].key_pem_len);
        ck_assert_uint_eq(ids[0].cert_pem_len, ids[1].cert_pem_len);
        ck_assert_mem_eq(ids[0].cert_pem, ids[1].cert_pem, ids[0].cert_pem_len);
        ck_assert_mem_eq(ids[0].key_id, ids[1].key_id, 32);
        /* The whole structs, padding and unused tails included. */
        ck_assert_int_eq(memcmp(&ids[0], &ids[1], sizeof(ids[0])), 0);
    }
    free(ids);
}
END_TEST

/* Each byte of the seed and of the node enters the key. */
static const struct {
    uint64_t seed;
    uint32_t node;
} inputs[] = {
    {1, 0},
    {1, 1},
    {2, 0},
    {0, 0},
    {1, 0x100},
    {1, 0x80000000u},
    {1, UINT32_MAX},
    {1ull << 32 | 1, 0},
    {1ull << 63 | 1, 0},
    {UINT64_MAX, UINT32_MAX},
    /* The 12 hashed bytes shifted: seed 1 node 0 != seed 0 node 1. */
    {0, 1},
};
#define INPUTS_COUNT (sizeof(inputs) / sizeof(inputs[0]))

START_TEST(other_seed_or_node_other_id)
{
    struct sim_quic_identity *ids = ids_new(INPUTS_COUNT);
    for (size_t i = 0; i < INPUTS_COUNT; i++) {
        make(inputs[i].seed, inputs[i].node, &ids[i]);
        check_cert(&ids[i], inputs[i].node);
    }
    for (size_t i = 0; i < INPUTS_COUNT; i++)
        for (size_t j = i + 1; j < INPUTS_COUNT; j++) {
            ck_assert_msg(memcmp(ids[i].key_id, ids[j].key_id, 32) != 0,
                          "inputs %zu and %zu share a key id", i, j);
            ck_assert(strcmp(ids[i].key_pem, ids[j].key_pem) != 0);
            ck_assert(strcmp(ids[i].cert_pem, ids[j].cert_pem) != 0);
        }
    free(ids);
}
END_TEST

/* Whether the key of key_pem signs what the key of cert_pem verifies. */
static bool keys_match(const char *key_pem, size_t key_len,
                       const char *cert_pem, size_t cert_len)
{
    static const char msg[] = "sim quic identity";
    const gnutls_datum_t data = {(unsigned char *)msg, sizeof(msg) - 1};
    const gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)key_len};
    const gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)cert_len};
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
    gnutls_datum_t sig = {NULL, 0};
    ck_assert_int_ge(gnutls_privkey_init(&priv), 0);
    ck_assert_int_ge(gnutls_pubkey_init(&pub), 0);
    ck_assert_int_ge(
        gnutls_privkey_import_x509_raw(priv, &kd, GNUTLS_X509_FMT_PEM, NULL, 0),
        0);
    ck_assert_int_ge(
        gnutls_pubkey_import_x509_raw(pub, &cd, GNUTLS_X509_FMT_PEM, 0), 0);
    ck_assert_int_ge(gnutls_privkey_sign_data2(priv, GNUTLS_SIGN_EDDSA_ED25519,
                                               0, &data, &sig),
                     0);
    bool ok = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_EDDSA_ED25519, 0,
                                         &data, &sig) >= 0;
    gnutls_free(sig.data);
    gnutls_pubkey_deinit(pub);
    gnutls_privkey_deinit(priv);
    return ok;
}

/* The pair loads as TLS credentials, and the key is the certificate's:
 * it signs what the certificate's key verifies, another node's does not.
 * (GnuTLS 3.7's own match check in set_x509_key_mem2 signs with SHA-256,
 * which Ed25519 refuses, and then lets any Ed25519 pair pass: it cannot
 * tell a mixed pair, so this test makes its own check.) */
START_TEST(pair_loads_and_matches)
{
    struct sim_quic_identity *ids = ids_new(2);
    make(5, 0, &ids[0]);
    make(5, 1, &ids[1]);
    gnutls_certificate_credentials_t cred;
    ck_assert_int_ge(gnutls_certificate_allocate_credentials(&cred), 0);
    const gnutls_datum_t cert = {(unsigned char *)ids[0].cert_pem,
                                 (unsigned)ids[0].cert_pem_len};
    const gnutls_datum_t key = {(unsigned char *)ids[0].key_pem,
                                (unsigned)ids[0].key_pem_len};
    ck_assert_int_ge(gnutls_certificate_set_x509_key_mem2(
                         cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0),
                     0);
    gnutls_certificate_free_credentials(cred);
    ck_assert(keys_match(ids[0].key_pem, ids[0].key_pem_len, ids[0].cert_pem,
                         ids[0].cert_pem_len));
    ck_assert(keys_match(ids[1].key_pem, ids[1].key_pem_len, ids[1].cert_pem,
                         ids[1].cert_pem_len));
    ck_assert(!keys_match(ids[1].key_pem, ids[1].key_pem_len, ids[0].cert_pem,
                          ids[0].cert_pem_len));

    /* The key alone: unencrypted PKCS#8 Ed25519, the same node id. */
    ck_assert_ptr_nonnull(strstr(ids[0].key_pem, "BEGIN PRIVATE KEY"));
    gnutls_x509_privkey_t k;
    ck_assert_int_ge(gnutls_x509_privkey_init(&k), 0);
    const gnutls_datum_t pem = {(unsigned char *)ids[0].key_pem,
                                (unsigned)ids[0].key_pem_len};
    ck_assert_int_ge(gnutls_x509_privkey_import_pkcs8(
                         k, &pem, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN),
                     0);
    ck_assert_int_eq(gnutls_x509_privkey_get_pk_algorithm(k),
                     GNUTLS_PK_EDDSA_ED25519);
    uint8_t kid[64];
    size_t kid_len = sizeof(kid);
    ck_assert_int_ge(gnutls_x509_privkey_get_key_id(k, GNUTLS_KEYID_USE_SHA256,
                                                    kid, &kid_len),
                     0);
    ck_assert_uint_eq(kid_len, 32);
    ck_assert_mem_eq(kid, ids[0].key_id, 32);
    gnutls_x509_privkey_deinit(k);
    free(ids);
}
END_TEST

START_TEST(certificate_passes_the_replica_checks)
{
    struct sim_quic_identity *id = ids_new(1);
    make(1, 0, id);
    check_cert(id, 0);
    free(id);
}
END_TEST

/* The self-signature check is real: one flipped bit of the signature (the
 * DER's last byte) and it fails. */
START_TEST(flipped_signature_bit_fails_to_verify)
{
    struct sim_quic_identity *id = ids_new(1);
    make(1, 0, id);
    gnutls_x509_crt_t crt = crt_of(id);
    gnutls_datum_t der = {NULL, 0};
    ck_assert_int_ge(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der),
                     0);
    gnutls_x509_crt_deinit(crt);
    ck_assert_uint_gt(der.size, 64);
    der.data[der.size - 1] ^= 0x01;
    ck_assert_int_ge(gnutls_x509_crt_init(&crt), 0);
    ck_assert_int_ge(gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER), 0);
    ck_assert(!self_signed(crt));
    gnutls_x509_crt_deinit(crt);
    gnutls_free(der.data);
    free(id);
}
END_TEST

/* Exactly the three fixed extensions: no subject or authority key
 * identifier (GnuTLS adds none when signing), nothing with time. */
START_TEST(only_fixed_extensions)
{
    static const char *const want[] = {"2.5.29.19", "2.5.29.15", "2.5.29.37"};
    struct sim_quic_identity *id = ids_new(1);
    make(9, 3, id);
    gnutls_x509_crt_t crt = crt_of(id);
    unsigned i;
    for (i = 0;; i++) {
        char oid[128];
        size_t oid_len = sizeof(oid);
        unsigned critical;
        int rc = gnutls_x509_crt_get_extension_info(crt, i, oid, &oid_len,
                                                    &critical);
        if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        ck_assert_int_ge(rc, 0);
        ck_assert_uint_lt(i, 3);
        ck_assert_str_eq(oid, want[i]);
    }
    ck_assert_uint_eq(i, 3);
    uint8_t skid[64];
    size_t skid_len = sizeof(skid);
    unsigned critical;
    ck_assert_int_eq(
        gnutls_x509_crt_get_subject_key_id(crt, skid, &skid_len, &critical),
        GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
    gnutls_x509_crt_deinit(crt);
    free(id);
}
END_TEST

/* The serial is node + 1 as a minimal positive DER INTEGER: both sides of
 * each byte boundary and of the sign bit. */
static const struct {
    uint32_t node;
    uint8_t serial[5];
    size_t len;
} serials[] = {
    {0, {0x01}, 1},
    {126, {0x7f}, 1},
    {127, {0x00, 0x80}, 2},
    {254, {0x00, 0xff}, 2},
    {255, {0x01, 0x00}, 2},
    {UINT32_MAX - 1, {0x00, 0xff, 0xff, 0xff, 0xff}, 5},
    {UINT32_MAX, {0x01, 0x00, 0x00, 0x00, 0x00}, 5},
};

START_TEST(serial_is_node_plus_one)
{
    struct sim_quic_identity *id = ids_new(1);
    make(1, serials[_i].node, id);
    gnutls_x509_crt_t crt = crt_of(id);
    uint8_t got[16];
    size_t got_len = sizeof(got);
    ck_assert_int_ge(gnutls_x509_crt_get_serial(crt, got, &got_len), 0);
    ck_assert_uint_eq(got_len, serials[_i].len);
    ck_assert_mem_eq(got, serials[_i].serial, got_len);
    gnutls_x509_crt_deinit(crt);
    free(id);
}
END_TEST

START_TEST(golden_seed_1_node_0)
{
    struct sim_quic_identity *id = ids_new(1);
    make(1, 0, id);
    char got[65];
    hex(id->key_id, 32, got);
    ck_assert_str_eq(got, GOLDEN_KEY_ID_HEX);

    gnutls_x509_crt_t crt = crt_of(id);
    gnutls_datum_t der = {NULL, 0};
    ck_assert_int_ge(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der),
                     0);
    uint8_t digest[32];
    ck_assert_int_ge(
        gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest), 0);
    hex(digest, 32, got);
    ck_assert_str_eq(got, GOLDEN_CERT_SHA256_HEX);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    free(id);
}
END_TEST

/* A subnet's worth: 13 nodes, every one checked, all ids distinct. */
START_TEST(thirteen_nodes)
{
    enum { NODES = 13 };
    struct sim_quic_identity *ids = ids_new(NODES);
    for (uint32_t n = 0; n < NODES; n++) {
        make(42, n, &ids[n]);
        check_cert(&ids[n], n);
        for (uint32_t m = 0; m < n; m++)
            ck_assert(memcmp(ids[m].key_id, ids[n].key_id, 32) != 0);
    }
    free(ids);
}
END_TEST

START_TEST(no_identity_to_fill_is_an_error)
{
    char err[128] = "";
    ck_assert_int_eq(sim_quic_identity_make(1, 7, NULL, err, sizeof(err)),
                     P2P_ERR_INTERNAL);
    ck_assert_str_eq(err, "node 7: no identity to fill");
    /* No room for a message is allowed. */
    ck_assert_int_eq(sim_quic_identity_make(1, 7, NULL, NULL, 0),
                     P2P_ERR_INTERNAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_quic_identity");
    TCase *tc = tcase_create("identity");
    tcase_add_test(tc, same_seed_and_node_same_bytes);
    tcase_add_test(tc, other_seed_or_node_other_id);
    tcase_add_test(tc, pair_loads_and_matches);
    tcase_add_test(tc, certificate_passes_the_replica_checks);
    tcase_add_test(tc, flipped_signature_bit_fails_to_verify);
    tcase_add_test(tc, only_fixed_extensions);
    tcase_add_loop_test(tc, serial_is_node_plus_one, 0,
                        (int)(sizeof(serials) / sizeof(serials[0])));
    tcase_add_test(tc, golden_seed_1_node_0);
    tcase_add_test(tc, thirteen_nodes);
    tcase_add_test(tc, no_identity_to_fill_is_an_error);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
