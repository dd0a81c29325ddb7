/* Node identities: generated keys and certificates, node ids (against the
 * SPKI, against certtool when installed), key/certificate pairs, hex, the
 * PKCS#8 reload pitfall, atomic writes, and `keygen`'s flags. */
#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "cert_harness.h"
#include "core/err.h"
#include "prod/identity.h"
#include "prod/keygen.h"

static char tmp_dir[64];

static void setup(void)
{
    strcpy(tmp_dir, "/tmp/p2p-identity-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
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

/* tmp_dir/name into a static buffer (one of four, so calls can nest). */
static const char *path_of(const char *name)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", tmp_dir, name);
    return b;
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

static gnutls_x509_crt_t load_crt(const char *path)
{
    char pem[8192];
    size_t n = read_text(path, pem, sizeof(pem));
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)n};
    gnutls_x509_crt_t crt;
    ck_assert_int_ge(gnutls_x509_crt_init(&crt), 0);
    ck_assert_int_ge(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    return crt;
}

START_TEST(generate_writes_pkcs8_key_and_cert_with_its_id)
{
    const char *key = path_of("key.pem"), *cert = path_of("cert.pem");
    uint8_t id[QUIC_KEY_ID_BYTES], file_id[QUIC_KEY_ID_BYTES];
    char err[256] = "";
    ck_assert_int_eq(prod_keygen_generate(key, cert, id, err, sizeof(err)), 0);

    ck_assert_int_eq(
        prod_identity_cert_file_key_id(cert, file_id, err, sizeof(err)), 0);
    ck_assert_mem_eq(id, file_id, QUIC_KEY_ID_BYTES);

    struct stat st;
    ck_assert_int_eq(stat(key, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(cert, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);
    ck_assert_int_ne(access(path_of("key.pem.tmp"), F_OK), 0);
    ck_assert_int_ne(access(path_of("cert.pem.tmp"), F_OK), 0);

    char text[8192];
    read_text(key, text, sizeof(text));
    ck_assert_ptr_eq(strstr(text, "-----BEGIN PRIVATE KEY-----"), text);
    read_text(cert, text, sizeof(text));
    ck_assert_ptr_eq(strstr(text, "-----BEGIN CERTIFICATE-----"), text);

    /* Two identities differ. */
    uint8_t id2[QUIC_KEY_ID_BYTES];
    ck_assert_int_eq(prod_keygen_generate(path_of("k2.pem"), path_of("c2.pem"),
                                          id2, err, sizeof(err)),
                     0);
    ck_assert_mem_ne(id, id2, QUIC_KEY_ID_BYTES);
}
END_TEST

START_TEST(certificate_fields)
{
    const char *key = path_of("key.pem"), *cert = path_of("cert.pem");
    uint8_t id[QUIC_KEY_ID_BYTES], crt_id[QUIC_KEY_ID_BYTES];
    char err[256];
    time_t before = time(NULL);
    ck_assert_int_eq(prod_keygen_generate(key, cert, id, err, sizeof(err)), 0);
    gnutls_x509_crt_t crt = load_crt(cert);

    ck_assert_int_eq(quic_cert_key_id(crt, crt_id), 0);
    ck_assert_mem_eq(id, crt_id, QUIC_KEY_ID_BYTES);
    ck_assert_int_eq(gnutls_x509_crt_get_version(crt), 3);
    ck_assert_int_eq(gnutls_x509_crt_get_pk_algorithm(crt, NULL),
                     GNUTLS_PK_EDDSA_ED25519);
    char cn[64];
    size_t cn_len = sizeof(cn);
    ck_assert_int_ge(gnutls_x509_crt_get_dn_by_oid(
                         crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len),
                     0);
    ck_assert_str_eq(cn, "p2p-replica");
    time_t act = gnutls_x509_crt_get_activation_time(crt);
    time_t exp = gnutls_x509_crt_get_expiration_time(crt);
    ck_assert_int_ge(act, before);
    ck_assert_int_le(act, time(NULL));
    /* Ten years, give or take leap days. */
    ck_assert_int_ge(exp - act, (time_t)10 * 365 * 86400);
    ck_assert_int_le(exp - act, (time_t)10 * 366 * 86400);
    /* Self-signed: issuer is subject, and the signature checks out. */
    ck_assert_int_eq(gnutls_x509_crt_check_issuer(crt, crt), 1);
    unsigned status = 0;
    ck_assert_int_ge(gnutls_x509_crt_verify(
                         crt, &crt, 1, GNUTLS_VERIFY_DISABLE_CA_SIGN, &status),
                     0);
    ck_assert_uint_eq(status, 0);
    /* The serial is positive. */
    uint8_t serial[32];
    size_t serial_len = sizeof(serial);
    ck_assert_int_ge(gnutls_x509_crt_get_serial(crt, serial, &serial_len), 0);
    ck_assert_uint_eq(serial_len, 16);
    ck_assert_uint_eq(serial[0] & 0x80, 0);

    /* The id is the SHA-256 of the SPKI DER. */
    gnutls_pubkey_t pub;
    ck_assert_int_ge(gnutls_pubkey_init(&pub), 0);
    ck_assert_int_ge(gnutls_pubkey_import_x509(pub, crt, 0), 0);
    gnutls_datum_t spki;
    ck_assert_int_ge(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki), 0);
    uint8_t spki_id[QUIC_KEY_ID_BYTES];
    ck_assert_int_eq(quic_cert_spki_key_id(spki.data, spki.size, spki_id),
                     0);
    ck_assert_mem_eq(spki_id, id, QUIC_KEY_ID_BYTES);
    ck_assert_int_eq(quic_cert_spki_key_id(spki.data, 0, spki_id),
                     P2P_ERR_INVALID_ARG);
    gnutls_free(spki.data);
    gnutls_pubkey_deinit(pub);
    gnutls_x509_crt_deinit(crt);
}
END_TEST

START_TEST(pem_reloads_into_gnutls)
{
    /* The PKCS#8 pitfall: a legacy Ed25519 PEM does not load back. Check
     * both the plain import and the credential loader tls.c will use. */
    const char *key = path_of("key.pem"), *cert = path_of("cert.pem");
    uint8_t id[QUIC_KEY_ID_BYTES];
    char err[256];
    ck_assert_int_eq(prod_keygen_generate(key, cert, id, err, sizeof(err)), 0);

    char pem[8192];
    size_t n = read_text(key, pem, sizeof(pem));
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)n};
    gnutls_x509_privkey_t k;
    ck_assert_int_ge(gnutls_x509_privkey_init(&k), 0);
    ck_assert_int_ge(gnutls_x509_privkey_import(k, &d, GNUTLS_X509_FMT_PEM), 0);
    ck_assert_int_eq(gnutls_x509_privkey_get_pk_algorithm(k),
                     GNUTLS_PK_EDDSA_ED25519);
    gnutls_x509_privkey_deinit(k);

    gnutls_certificate_credentials_t cred;
    ck_assert_int_ge(gnutls_certificate_allocate_credentials(&cred), 0);
    ck_assert_int_ge(gnutls_certificate_set_x509_key_file(cred, cert, key,
                                                          GNUTLS_X509_FMT_PEM),
                     0);
    gnutls_certificate_free_credentials(cred);
}
END_TEST

START_TEST(check_pair_accepts_own_key_and_refuses_others)
{
    uint8_t a[QUIC_KEY_ID_BYTES], b[QUIC_KEY_ID_BYTES], got[QUIC_KEY_ID_BYTES];
    char err[512];
    ck_assert_int_eq(prod_keygen_generate(path_of("ka.pem"), path_of("ca.pem"),
                                          a, err, sizeof(err)),
                     0);
    ck_assert_int_eq(prod_keygen_generate(path_of("kb.pem"), path_of("cb.pem"),
                                          b, err, sizeof(err)),
                     0);
    ck_assert_int_eq(prod_identity_check_pair(path_of("ka.pem"),
                                              path_of("ca.pem"), got, err,
                                              sizeof(err)),
                     0);
    ck_assert_mem_eq(got, a, QUIC_KEY_ID_BYTES);
    ck_assert_int_eq(prod_identity_check_pair(path_of("kb.pem"),
                                              path_of("cb.pem"), got, err,
                                              sizeof(err)),
                     0);
    ck_assert_mem_eq(got, b, QUIC_KEY_ID_BYTES);

    memset(got, 0xee, sizeof(got));
    ck_assert_int_eq(prod_identity_check_pair(path_of("ka.pem"),
                                              path_of("cb.pem"), got, err,
                                              sizeof(err)),
                     P2P_ERR_ID_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err, "ka.pem is not the key of"));
    ck_assert_uint_eq(got[0], 0xee); /* unchanged on failure */

    ck_assert_int_eq(prod_identity_check_pair(path_of("missing.pem"),
                                              path_of("ca.pem"), got, err,
                                              sizeof(err)),
                     P2P_ERR_READ);
    ck_assert_ptr_nonnull(strstr(err, "missing.pem"));
    /* A certificate where the key should be, and the other way round. */
    ck_assert_int_eq(prod_identity_check_pair(path_of("ca.pem"),
                                              path_of("ca.pem"), got, err,
                                              sizeof(err)),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(prod_identity_check_pair(path_of("ka.pem"),
                                              path_of("ka.pem"), got, err,
                                              sizeof(err)),
                     P2P_ERR_DECODE);
}
END_TEST

START_TEST(check_pair_refuses_non_ed25519_keys)
{
    /* An ECDSA key with a certificate of its own: a valid pair, but not an
     * identity of ours. */
    gnutls_x509_privkey_t k;
    gnutls_x509_crt_t crt;
    ck_assert_int_ge(gnutls_x509_privkey_init(&k), 0);
    ck_assert_int_ge(gnutls_x509_privkey_generate(
                         k, GNUTLS_PK_ECDSA,
                         GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    ck_assert_int_ge(gnutls_x509_crt_init(&crt), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_version(crt, 3), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_serial(crt, "\x01", 1), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_activation_time(crt, time(NULL)), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(crt, time(NULL) + 99),
                     0);
    ck_assert_int_ge(gnutls_x509_crt_set_key(crt, k), 0);
    ck_assert_int_ge(gnutls_x509_crt_sign2(crt, crt, k, GNUTLS_DIG_SHA256, 0),
                     0);
    gnutls_datum_t kp, cp;
    ck_assert_int_ge(gnutls_x509_privkey_export2_pkcs8(
                         k, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kp),
                     0);
    ck_assert_int_ge(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cp), 0);
    char err[256];
    ck_assert_int_eq(prod_keygen_write_atomic(path_of("ek.pem"), kp.data,
                                              kp.size, 0600, err, sizeof(err)),
                     0);
    ck_assert_int_eq(prod_keygen_write_atomic(path_of("ec.pem"), cp.data,
                                              cp.size, 0644, err, sizeof(err)),
                     0);
    gnutls_free(kp.data);
    gnutls_free(cp.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(k);

    uint8_t id[QUIC_KEY_ID_BYTES];
    ck_assert_int_eq(prod_identity_check_pair(path_of("ek.pem"),
                                              path_of("ec.pem"), id, err,
                                              sizeof(err)),
                     P2P_ERR_DECODE);
    ck_assert_ptr_nonnull(strstr(err, "not an Ed25519 key"));
}
END_TEST

START_TEST(oversized_and_garbage_files)
{
    char err[256];
    uint8_t id[QUIC_KEY_ID_BYTES];
    static char big[PROD_IDENTITY_PEM_BYTES_MAX + 1];
    memset(big, 'A', sizeof(big));
    /* At the limit: read, but not a certificate. One more byte: refused. */
    ck_assert_int_eq(prod_keygen_write_atomic(path_of("limit.pem"), big,
                                              PROD_IDENTITY_PEM_BYTES_MAX, 0644,
                                              err, sizeof(err)),
                     0);
    ck_assert_int_eq(prod_identity_cert_file_key_id(path_of("limit.pem"), id,
                                                    err, sizeof(err)),
                     P2P_ERR_DECODE);
    ck_assert_int_eq(prod_keygen_write_atomic(path_of("big.pem"), big,
                                              sizeof(big), 0644, err,
                                              sizeof(err)),
                     0);
    ck_assert_int_eq(prod_identity_cert_file_key_id(path_of("big.pem"), id, err,
                                                    sizeof(err)),
                     P2P_ERR_READ);
    ck_assert_ptr_nonnull(strstr(err, "larger than"));
    /* A folder is not a certificate file. */
    ck_assert_int_eq(
        prod_identity_cert_file_key_id(tmp_dir, id, err, sizeof(err)),
        P2P_ERR_READ);
}
END_TEST

START_TEST(hex_round_trip_and_bad_input)
{
    uint8_t id[QUIC_KEY_ID_BYTES], back[QUIC_KEY_ID_BYTES];
    for (size_t i = 0; i < sizeof(id); i++)
        id[i] = (uint8_t)(i * 37 + 5);
    char hex[QUIC_KEY_ID_HEX_LEN + 1];
    quic_cert_hex(id, hex);
    ck_assert_uint_eq(strlen(hex), 64);
    ck_assert_str_eq(hex, "052a4f74"
                          "99bee308"
                          "2d52779c"
                          "c1e60b30"
                          "557a9fc4"
                          "e90e3358"
                          "7da2c7ec"
                          "11365b80");
    ck_assert_int_eq(quic_cert_parse_hex(hex, back), 0);
    ck_assert_mem_eq(id, back, sizeof(id));

    char upper[QUIC_KEY_ID_HEX_LEN + 1];
    for (size_t i = 0; i <= QUIC_KEY_ID_HEX_LEN; i++)
        upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
    memset(back, 0, sizeof(back));
    ck_assert_int_eq(quic_cert_parse_hex(upper, back), 0);
    ck_assert_mem_eq(id, back, sizeof(id));

    char bad[80];
    memset(back, 0x5a, sizeof(back));
    snprintf(bad, sizeof(bad), "%.63s", hex); /* 63 digits */
    ck_assert_int_eq(quic_cert_parse_hex(bad, back), P2P_ERR_DECODE);
    snprintf(bad, sizeof(bad), "%s0", hex); /* 65 digits */
    ck_assert_int_eq(quic_cert_parse_hex(bad, back), P2P_ERR_DECODE);
    snprintf(bad, sizeof(bad), "%s", hex);
    bad[10] = 'g';
    ck_assert_int_eq(quic_cert_parse_hex(bad, back), P2P_ERR_DECODE);
    bad[10] = ' ';
    ck_assert_int_eq(quic_cert_parse_hex(bad, back), P2P_ERR_DECODE);
    ck_assert_int_eq(quic_cert_parse_hex("", back), P2P_ERR_DECODE);
    ck_assert_int_eq(quic_cert_parse_hex(NULL, back), P2P_ERR_DECODE);
    ck_assert_uint_eq(back[0], 0x5a); /* unchanged on failure */
    ck_assert_uint_eq(back[31], 0x5a);
}
END_TEST

START_TEST(matches_certtool_public_key_id)
{
    if (system("certtool --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "certtool not installed (gnutls-bin): check skipped\n");
        return;
    }
    const char *key = path_of("key.pem"), *cert = path_of("cert.pem");
    uint8_t id[QUIC_KEY_ID_BYTES];
    char err[256];
    ck_assert_int_eq(prod_keygen_generate(key, cert, id, err, sizeof(err)), 0);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "certtool -i --infile '%s' 2>/dev/null", cert);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512], found[128] = "";
    int in_key_id = 0;
    while (fgets(line, sizeof(line), p) != NULL) {
        if (strstr(line, "Public Key ID:") != NULL)
            in_key_id = 1;
        const char *s = strstr(line, "sha256:");
        if (in_key_id && s != NULL && found[0] == '\0')
            sscanf(s + 7, "%127[0-9a-fA-F]", found);
    }
    ck_assert_int_eq(pclose(p), 0);
    char hex[QUIC_KEY_ID_HEX_LEN + 1];
    quic_cert_hex(id, hex);
    ck_assert_str_eq(found, hex);
}
END_TEST

START_TEST(write_atomic_replaces_and_fails_cleanly)
{
    char err[512];
    const char *f = path_of("f.txt");
    ck_assert_int_eq(
        prod_keygen_write_atomic(f, "old", 3, 0600, err, sizeof(err)), 0);
    ck_assert_int_eq(
        prod_keygen_write_atomic(f, "new!", 4, 0644, err, sizeof(err)), 0);
    char text[16];
    ck_assert_uint_eq(read_text(f, text, sizeof(text)), 4);
    ck_assert_str_eq(text, "new!");
    struct stat st;
    ck_assert_int_eq(stat(f, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(prod_keygen_write_atomic(f, "", 0, 0644, err, sizeof(err)),
                     0);
    ck_assert_int_eq(stat(f, &st), 0);
    ck_assert_int_eq(st.st_size, 0);

    ck_assert_int_eq(prod_keygen_write_atomic(path_of("no/such/dir/f"), "x", 1,
                                              0644, err, sizeof(err)),
                     P2P_ERR_WRITE);
    ck_assert_ptr_nonnull(strstr(err, "no/such/dir/f.tmp"));
    /* Generation into a missing folder fails the same way. */
    uint8_t id[QUIC_KEY_ID_BYTES];
    ck_assert_int_eq(prod_keygen_generate(path_of("nope/k.pem"),
                                          path_of("nope/c.pem"), id, err,
                                          sizeof(err)),
                     P2P_ERR_WRITE);
}
END_TEST

static int run_keygen(const char *a1, const char *a2, const char *a3,
                      const char *a4)
{
    char *argv[6] = {"keygen",   (char *)a1, (char *)a2,
                     (char *)a3, (char *)a4, NULL};
    int argc = 1;
    while (argc < 5 && argv[argc] != NULL)
        argc++;
    /* Keep the suite's output clean: usage and ids go to /dev/null. */
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), errfd = dup(2);
    ck_assert(freopen("/dev/null", "w", stdout) != NULL);
    ck_assert(freopen("/dev/null", "w", stderr) != NULL);
    int rc = prod_keygen_cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(errfd, 2);
    close(out);
    close(errfd);
    return rc;
}

START_TEST(keygen_flags)
{
    char key[PATH_MAX], cert[PATH_MAX], kflag[PATH_MAX + 8];
    snprintf(key, sizeof(key), "%s", path_of("k.pem"));
    snprintf(cert, sizeof(cert), "%s", path_of("c.pem"));
    snprintf(kflag, sizeof(kflag), "--key=%s", key);

    ck_assert_int_eq(run_keygen("--help", NULL, NULL, NULL), 0);
    ck_assert_int_eq(run_keygen(NULL, NULL, NULL, NULL), 2);
    ck_assert_int_eq(run_keygen("--key", key, NULL, NULL), 2);
    ck_assert_int_eq(run_keygen("--key", key, "--cert", NULL), 2);
    ck_assert_int_eq(run_keygen("--key", key, "--bogus", cert), 2);
    ck_assert_int_eq(run_keygen("--key", key, "--cert", key), 2);
    ck_assert_int_ne(access(key, F_OK), 0);

    ck_assert_int_eq(run_keygen(kflag, "--cert", cert, NULL), 0);
    uint8_t id[QUIC_KEY_ID_BYTES];
    char err[512];
    ck_assert_int_eq(prod_identity_check_pair(key, cert, id, err, sizeof(err)),
                     0);
    /* An existing key is never replaced. */
    ck_assert_int_eq(run_keygen("--key", key, "--cert", cert), 1);
    uint8_t again[QUIC_KEY_ID_BYTES];
    ck_assert_int_eq(
        prod_identity_check_pair(key, cert, again, err, sizeof(err)), 0);
    ck_assert_mem_eq(id, again, sizeof(id));
}
END_TEST

/* ---- the IC's certificate checks: one defect per row, each boundary
 * on both sides ---- */

/* A fixed "now" (2027-01-15T08:00:00Z) and valid dates around it. */
#define NOW_S 1800000000LL
#define DAY_S 86400LL

static const struct cert_check_case {
    const char *name;
    struct cert_opts opts;
    int64_t now_s;
    enum quic_cert_problem want;
} cert_cases[] = {
    {"good", {.not_before = NOW_S - DAY_S, .not_after = NOW_S + DAY_S},
     NOW_S, QUIC_CERT_OK},
    {"bad signature (one bit)",
     {.not_before = NOW_S - DAY_S, .not_after = NOW_S + DAY_S,
      .flip_signature = true},
     NOW_S, QUIC_CERT_BAD_SIGNATURE},
    {"signed by another key",
     {.not_before = NOW_S - DAY_S, .not_after = NOW_S + DAY_S,
      .other_signer = true},
     NOW_S, QUIC_CERT_BAD_SIGNATURE},
    {"issuer is not the subject",
     {.not_before = NOW_S - DAY_S, .not_after = NOW_S + DAY_S,
      .other_issuer = true},
     NOW_S, QUIC_CERT_NOT_SELF_ISSUED},
    {"expired in 2001", {.not_before = CERT_2000_S, .not_after = CERT_2001_S},
     NOW_S, QUIC_CERT_EXPIRED},
    {"not yet valid",
     {.not_before = NOW_S + DAY_S, .not_after = NOW_S + 9 * DAY_S}, NOW_S,
     QUIC_CERT_NOT_YET_VALID},
    /* notBefore <= now: valid from its first second, not one before. */
    {"notBefore = now", {.not_before = NOW_S, .not_after = NOW_S + DAY_S},
     NOW_S, QUIC_CERT_OK},
    {"notBefore = now + 1",
     {.not_before = NOW_S + 1, .not_after = NOW_S + DAY_S}, NOW_S,
     QUIC_CERT_NOT_YET_VALID},
    /* notAfter >= now: valid through its last second, not one after. */
    {"notAfter = now", {.not_before = NOW_S - DAY_S, .not_after = NOW_S},
     NOW_S, QUIC_CERT_OK},
    {"notAfter = now - 1",
     {.not_before = NOW_S - DAY_S, .not_after = NOW_S - 1}, NOW_S,
     QUIC_CERT_EXPIRED},
    {"no expiry (99991231235959Z), now in year 9999",
     {.not_before = CERT_2000_S, .no_expiry = true},
     QUIC_CERT_NO_EXPIRY_S, QUIC_CERT_OK},
    {"no expiry, now past it", {.not_before = CERT_2000_S, .no_expiry = true},
     QUIC_CERT_NO_EXPIRY_S + 1, QUIC_CERT_OK},
    {"ECDSA key", {.not_before = NOW_S - DAY_S, .not_after = NOW_S + DAY_S,
                   .ecdsa = true},
     NOW_S, QUIC_CERT_NOT_ED25519},
    {"X.509 v1", {.not_before = NOW_S - DAY_S, .not_after = NOW_S + DAY_S,
                  .version = 1},
     NOW_S, QUIC_CERT_NOT_V3},
};

START_TEST(check_cert_as_the_ic_does)
{
    const struct cert_check_case *c = &cert_cases[_i];
    gnutls_x509_privkey_t key = cert_new_key(c->opts.ecdsa);
    gnutls_x509_crt_t crt = cert_make(key, &c->opts);
    enum quic_cert_problem got = QUIC_CERT_UNREADABLE;
    int rc = quic_cert_check(crt, c->now_s, &got);
    ck_assert_msg(got == c->want, "%s: %s, expected %s", c->name,
                  quic_cert_problem_name(got),
                  quic_cert_problem_name(c->want));
    ck_assert_int_eq(rc, c->want == QUIC_CERT_OK ? 0 : P2P_ERR_REFUSED);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}
END_TEST

/* What keygen makes passes from its first second on, for ten years. */
START_TEST(generated_certificate_passes_the_checks)
{
    uint8_t id[QUIC_KEY_ID_BYTES];
    char err[256];
    ck_assert_int_eq(prod_keygen_generate(path_of("key.pem"),
                                          path_of("cert.pem"), id, err,
                                          sizeof(err)),
                     0);
    gnutls_x509_crt_t crt = load_crt(path_of("cert.pem"));
    int64_t from = (int64_t)gnutls_x509_crt_get_activation_time(crt);
    int64_t to = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
    enum quic_cert_problem p;
    ck_assert_int_eq(quic_cert_check(crt, from, &p), 0);
    ck_assert_int_eq(quic_cert_check(crt, to, &p), 0);
    ck_assert_int_eq(quic_cert_check(crt, from - 1, &p),
                     P2P_ERR_REFUSED);
    ck_assert_int_eq(p, QUIC_CERT_NOT_YET_VALID);
    ck_assert_int_eq(quic_cert_check(crt, to + 1, &p),
                     P2P_ERR_REFUSED);
    ck_assert_int_eq(p, QUIC_CERT_EXPIRED);
    ck_assert_int_eq(quic_cert_check(NULL, from, &p),
                     P2P_ERR_REFUSED);
    ck_assert_int_eq(p, QUIC_CERT_UNREADABLE);
    gnutls_x509_crt_deinit(crt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prod_identity");
    TCase *tc = tcase_create("identity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, generate_writes_pkcs8_key_and_cert_with_its_id);
    tcase_add_test(tc, certificate_fields);
    tcase_add_test(tc, pem_reloads_into_gnutls);
    tcase_add_test(tc, check_pair_accepts_own_key_and_refuses_others);
    tcase_add_test(tc, check_pair_refuses_non_ed25519_keys);
    tcase_add_test(tc, oversized_and_garbage_files);
    tcase_add_test(tc, hex_round_trip_and_bad_input);
    tcase_add_test(tc, matches_certtool_public_key_id);
    tcase_add_test(tc, write_atomic_replaces_and_fails_cleanly);
    tcase_add_test(tc, keygen_flags);
    tcase_add_loop_test(tc, check_cert_as_the_ic_does, 0,
                        (int)(sizeof(cert_cases) / sizeof(cert_cases[0])));
    tcase_add_test(tc, generated_certificate_passes_the_checks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
