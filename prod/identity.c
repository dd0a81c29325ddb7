/* Node identities: Ed25519 keys, self-signed certificates, node ids (SHA-256
 * of the SPKI), atomic PEM files, and `p2p-replica keygen`. */
#include "prod/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "conf/errmsg.h"
#include "conf/hex.h"
#include "core/err.h"

#define SERIAL_BYTES 16
#define SECONDS_PER_YEAR (365LL * 24 * 3600 + 6 * 3600) /* Julian year */

/* ---- files ---------------------------------------------------------- */

static int fsync_parent_dir(const char *path)
{
    char copy[PATH_MAX];
    if (strlen(path) >= sizeof(copy))
        return P2P_ERR_INVALID_ARG;
    strcpy(copy, path);
    /* dirname() may modify its argument: it gets our copy. */
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return P2P_ERR_WRITE;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? 0 : P2P_ERR_WRITE;
}

int prod_identity_write_atomic(const char *path, const void *data, size_t len,
                               mode_t mode, char *err, size_t err_len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        conf_errmsg_set(err, err_len, "%s: path too long", path);
        return P2P_ERR_WRITE;
    }
    int saved;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        conf_errmsg_set(err, err_len, "%s: %s", tmp, strerror(errno));
        return P2P_ERR_WRITE;
    }
    /* An old tmp file may have had other permissions; umask may have
     * narrowed ours, which fchmod undoes (only ever to `mode`). */
    if (fchmod(fd, mode) != 0)
        goto fail_close;
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            goto fail_close;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail_close;
    if (close(fd) != 0)
        goto fail_unlink;
    if (rename(tmp, path) != 0)
        goto fail_unlink;
    if (fsync_parent_dir(path) != 0) {
        conf_errmsg_set(err, err_len, "%s: fsync of its folder: %s", path,
                        strerror(errno));
        return P2P_ERR_WRITE;
    }
    return 0;

fail_close:
    saved = errno;
    close(fd);
    errno = saved;
fail_unlink:
    saved = errno;
    unlink(tmp);
    conf_errmsg_set(err, err_len, "%s: %s", tmp, strerror(saved));
    return P2P_ERR_WRITE;
}

/* Reads a small file into a gnutls datum (caller frees data with
 * gnutls_free). Bounded by PROD_IDENTITY_PEM_BYTES_MAX before allocating. */
static int read_pem(const char *path, gnutls_datum_t *out, char *err,
                    size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        conf_errmsg_set(err, err_len, "%s: %s", path, strerror(errno));
        return P2P_ERR_READ;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        conf_errmsg_set(err, err_len, "%s: not a regular file", path);
        close(fd);
        return P2P_ERR_READ;
    }
    if (st.st_size > PROD_IDENTITY_PEM_BYTES_MAX) {
        conf_errmsg_set(err, err_len, "%s: larger than %d bytes", path,
                        PROD_IDENTITY_PEM_BYTES_MAX);
        close(fd);
        return P2P_ERR_READ;
    }
    /* Read up to the limit + 1 whatever fstat said (the file may grow). */
    uint8_t *buf = gnutls_malloc(PROD_IDENTITY_PEM_BYTES_MAX + 1);
    if (buf == NULL) {
        close(fd);
        conf_errmsg_set(err, err_len, "%s: out of memory", path);
        return P2P_ERR_NOMEM;
    }
    size_t have = 0;
    while (have <= PROD_IDENTITY_PEM_BYTES_MAX) {
        ssize_t n =
            read(fd, buf + have, PROD_IDENTITY_PEM_BYTES_MAX + 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            conf_errmsg_set(err, err_len, "%s: %s", path, strerror(errno));
            gnutls_free(buf);
            close(fd);
            return P2P_ERR_READ;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    close(fd);
    if (have > PROD_IDENTITY_PEM_BYTES_MAX) {
        conf_errmsg_set(err, err_len, "%s: larger than %d bytes", path,
                        PROD_IDENTITY_PEM_BYTES_MAX);
        gnutls_free(buf);
        return P2P_ERR_READ;
    }
    out->data = buf;
    out->size = (unsigned)have;
    return 0;
}

/* ---- ids ------------------------------------------------------------ */

int prod_identity_crt_key_id(gnutls_x509_crt_t crt,
                             uint8_t key_id[PROD_KEY_ID_BYTES])
{
    uint8_t buf[64];
    size_t size = sizeof(buf);
    if (crt == NULL ||
        gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, buf, &size) <
            0 ||
        size != PROD_KEY_ID_BYTES)
        return P2P_ERR_DECODE;
    memcpy(key_id, buf, PROD_KEY_ID_BYTES);
    return 0;
}

int prod_identity_spki_key_id(const uint8_t *spki_der, size_t len,
                              uint8_t key_id[PROD_KEY_ID_BYTES])
{
    if (spki_der == NULL || len == 0)
        return P2P_ERR_INVALID_ARG;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki_der, len, key_id) < 0)
        return P2P_ERR_INTERNAL;
    return 0;
}

/* Loads a PEM certificate file into *crt (caller deinits). */
static int load_crt(const char *path, gnutls_x509_crt_t *crt, char *err,
                    size_t err_len)
{
    gnutls_datum_t pem;
    int rc = read_pem(path, &pem, err, err_len);
    if (rc != 0)
        return rc;
    if (gnutls_x509_crt_init(crt) < 0) {
        gnutls_free(pem.data);
        conf_errmsg_set(err, err_len, "%s: out of memory", path);
        return P2P_ERR_NOMEM;
    }
    int g = gnutls_x509_crt_import(*crt, &pem, GNUTLS_X509_FMT_PEM);
    gnutls_free(pem.data);
    if (g < 0) {
        gnutls_x509_crt_deinit(*crt);
        conf_errmsg_set(err, err_len, "%s: not a PEM certificate: %s", path,
                        gnutls_strerror(g));
        return P2P_ERR_DECODE;
    }
    return 0;
}

int prod_identity_cert_file_key_id(const char *cert_path,
                                   uint8_t key_id[PROD_KEY_ID_BYTES], char *err,
                                   size_t err_len)
{
    gnutls_x509_crt_t crt;
    int rc = load_crt(cert_path, &crt, err, err_len);
    if (rc != 0)
        return rc;
    rc = prod_identity_crt_key_id(crt, key_id);
    gnutls_x509_crt_deinit(crt);
    if (rc != 0)
        conf_errmsg_set(err, err_len, "%s: cannot compute the key id",
                        cert_path);
    return rc;
}

int prod_identity_check_pair(const char *key_path, const char *cert_path,
                             uint8_t key_id[PROD_KEY_ID_BYTES], char *err,
                             size_t err_len)
{
    uint8_t cert_id[PROD_KEY_ID_BYTES];
    int rc = prod_identity_cert_file_key_id(cert_path, cert_id, err, err_len);
    if (rc != 0)
        return rc;

    gnutls_datum_t pem;
    rc = read_pem(key_path, &pem, err, err_len);
    if (rc != 0)
        return rc;
    gnutls_x509_privkey_t key;
    if (gnutls_x509_privkey_init(&key) < 0) {
        gnutls_free(pem.data);
        conf_errmsg_set(err, err_len, "%s: out of memory", key_path);
        return P2P_ERR_NOMEM;
    }
    /* import2 reads PKCS#8 (what we write) as well as the legacy forms. */
    int g =
        gnutls_x509_privkey_import2(key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_memset(pem.data, 0, pem.size);
    gnutls_free(pem.data);
    if (g < 0) {
        conf_errmsg_set(err, err_len, "%s: not a PEM private key: %s", key_path,
                        gnutls_strerror(g));
        rc = P2P_ERR_DECODE;
        goto out_key;
    }
    if (gnutls_x509_privkey_get_pk_algorithm(key) != GNUTLS_PK_EDDSA_ED25519) {
        conf_errmsg_set(err, err_len, "%s: not an Ed25519 key", key_path);
        rc = P2P_ERR_DECODE;
        goto out_key;
    }
    uint8_t buf[64];
    size_t size = sizeof(buf);
    if (gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, buf,
                                       &size) < 0 ||
        size != PROD_KEY_ID_BYTES) {
        conf_errmsg_set(err, err_len, "%s: cannot compute the key id",
                        key_path);
        rc = P2P_ERR_DECODE;
        goto out_key;
    }
    if (memcmp(buf, cert_id, PROD_KEY_ID_BYTES) != 0) {
        conf_errmsg_set(err, err_len, "%s is not the key of %s", key_path,
                        cert_path);
        rc = P2P_ERR_ID_MISMATCH;
        goto out_key;
    }
    memcpy(key_id, cert_id, PROD_KEY_ID_BYTES);
    rc = 0;
out_key:
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* ---- checking a peer's certificate ---------------------------------- */

const char *prod_identity_cert_problem_name(enum prod_cert_problem p)
{
    switch (p) {
    case PROD_CERT_OK: return "ok";
    case PROD_CERT_UNREADABLE: return "unreadable";
    case PROD_CERT_NOT_V3: return "not X.509 v3";
    case PROD_CERT_NOT_ED25519: return "not Ed25519";
    case PROD_CERT_NOT_SELF_ISSUED: return "issuer is not the subject";
    case PROD_CERT_BAD_SIGNATURE: return "self-signature does not verify";
    case PROD_CERT_NOT_YET_VALID: return "not yet valid";
    case PROD_CERT_EXPIRED: return "expired";
    }
    return "unknown";
}

/* Whether crt's signature verifies with crt's own public key. GnuTLS
 * takes a certificate found in the trusted list as trusted without
 * checking its signature: DO_NOT_ALLOW_SAME makes it verify crt as issued
 * by the anchor crt. Our certificates are not CAs (DISABLE_CA_SIGN), and
 * the validity period is checked against the caller's clock, not
 * GnuTLS's. */
static bool self_signature_verifies(gnutls_x509_crt_t crt)
{
    unsigned status = 0;
    unsigned flags = GNUTLS_VERIFY_DO_NOT_ALLOW_SAME |
                     GNUTLS_VERIFY_DISABLE_CA_SIGN |
                     GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                     GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS;
    return gnutls_x509_crt_verify(crt, &crt, 1, flags, &status) == 0 &&
           status == 0;
}

static enum prod_cert_problem cert_problem(gnutls_x509_crt_t crt,
                                           int64_t now_s)
{
    if (crt == NULL)
        return PROD_CERT_UNREADABLE;
    if (gnutls_x509_crt_get_version(crt) != 3)
        return PROD_CERT_NOT_V3;
    if (gnutls_x509_crt_get_pk_algorithm(crt, NULL) !=
            GNUTLS_PK_EDDSA_ED25519 ||
        gnutls_x509_crt_get_signature_algorithm(crt) !=
            GNUTLS_SIGN_EDDSA_ED25519)
        return PROD_CERT_NOT_ED25519;
    if (gnutls_x509_crt_check_issuer(crt, crt) != 1)
        return PROD_CERT_NOT_SELF_ISSUED;
    if (!self_signature_verifies(crt))
        return PROD_CERT_BAD_SIGNATURE;
    time_t not_before = gnutls_x509_crt_get_activation_time(crt);
    time_t not_after = gnutls_x509_crt_get_expiration_time(crt);
    if (not_before == (time_t)-1 || not_after == (time_t)-1)
        return PROD_CERT_UNREADABLE;
    if (now_s < (int64_t)not_before)
        return PROD_CERT_NOT_YET_VALID;
    if ((int64_t)not_after != PROD_CERT_NO_EXPIRY_S &&
        now_s > (int64_t)not_after)
        return PROD_CERT_EXPIRED;
    return PROD_CERT_OK;
}

int prod_identity_check_cert(gnutls_x509_crt_t crt, int64_t now_s,
                             enum prod_cert_problem *problem)
{
    *problem = cert_problem(crt, now_s);
    return *problem == PROD_CERT_OK ? 0 : P2P_ERR_REFUSED;
}

/* ---- generation ----------------------------------------------------- */

/* Fills crt's fields and signs it with key (self-signed). */
static int build_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    uint8_t serial[SERIAL_BYTES];
    if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
        return P2P_ERR_INTERNAL;
    /* Positive, and a nonzero top byte so the DER INTEGER is minimal. */
    serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
    time_t now = time(NULL);
    const char *cn = PROD_IDENTITY_CN;
    if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, now) < 0 ||
        gnutls_x509_crt_set_expiration_time(
            crt, now + (time_t)(PROD_IDENTITY_VALID_YEARS * SECONDS_PER_YEAR)) <
            0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_key(crt, key) < 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
        gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) <
            0 ||
        gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0) <
            0)
        return P2P_ERR_INTERNAL;
    /* Ed25519 fixes its own hash: GNUTLS_DIG_UNKNOWN lets GnuTLS choose. */
    if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_UNKNOWN, 0) < 0)
        return P2P_ERR_INTERNAL;
    return 0;
}

int prod_identity_generate(const char *key_path, const char *cert_path,
                           uint8_t key_id[PROD_KEY_ID_BYTES], char *err,
                           size_t err_len)
{
    int rc = P2P_ERR_INTERNAL;
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t key_pem = {NULL, 0}, cert_pem = {NULL, 0};

    if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0)
        goto fail_gnutls;
    if (gnutls_x509_privkey_generate(
            key, GNUTLS_PK_EDDSA_ED25519,
            GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519), 0) < 0)
        goto fail_gnutls;
    if (build_cert(crt, key) != 0)
        goto fail_gnutls;
    /* Ed25519 keys must be exported as PKCS#8: GnuTLS cannot read back the
     * legacy form export2 would write. */
    if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                          GNUTLS_PKCS_PLAIN, &key_pem) < 0 ||
        gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem) < 0)
        goto fail_gnutls;
    if (prod_identity_crt_key_id(crt, key_id) != 0)
        goto fail_gnutls;

    rc = prod_identity_write_atomic(key_path, key_pem.data, key_pem.size, 0600,
                                    err, err_len);
    if (rc == 0)
        rc = prod_identity_write_atomic(cert_path, cert_pem.data, cert_pem.size,
                                        0644, err, err_len);
    goto out;

fail_gnutls:
    conf_errmsg_set(err, err_len,
                    "GnuTLS could not make an Ed25519 key and certificate");
    rc = P2P_ERR_INTERNAL;
out:
    if (key_pem.data != NULL) {
        gnutls_memset(key_pem.data, 0, key_pem.size);
        gnutls_free(key_pem.data);
    }
    gnutls_free(cert_pem.data);
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    if (key != NULL)
        gnutls_x509_privkey_deinit(key);
    return rc;
}

/* ---- hex ------------------------------------------------------------ */

void prod_identity_hex(const uint8_t key_id[PROD_KEY_ID_BYTES],
                       char out[PROD_KEY_ID_HEX_LEN + 1])
{
    conf_hex_encode(key_id, PROD_KEY_ID_BYTES, out, PROD_KEY_ID_HEX_LEN + 1);
}

int prod_identity_parse_hex(const char *hex, uint8_t key_id[PROD_KEY_ID_BYTES])
{
    if (hex == NULL)
        return P2P_ERR_DECODE;
    return conf_hex_decode(hex, strnlen(hex, PROD_KEY_ID_HEX_LEN + 1), key_id,
                           PROD_KEY_ID_BYTES, NULL);
}

/* ---- keygen --------------------------------------------------------- */

static void keygen_usage(FILE *f)
{
    fprintf(
        f,
        "usage: p2p-replica keygen --key KEY.pem --cert CERT.pem\n"
        "  Makes an Ed25519 key (PKCS#8 PEM, mode 0600) and a self-signed\n"
        "  certificate for it, and prints the node id (SHA-256 of the\n"
        "  public key, 64 hex digits). Refuses to replace an existing key.\n");
}

/* Takes the value of a `--name VALUE` or `--name=VALUE` flag at argv[*i].
 * Returns 1 matched (value set, *i advanced past it), 0 not this flag,
 * P2P_ERR_DECODE matched but the value is missing. */
static int flag_value(int argc, char **argv, int *i, const char *name,
                      const char **value)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return P2P_ERR_DECODE;
    *value = argv[++*i];
    return 1;
}

int prod_identity_keygen_cmd(int argc, char **argv)
{
    const char *key = NULL, *cert = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            keygen_usage(stdout);
            return 0;
        }
        int m = flag_value(argc, argv, &i, "--key", &key);
        if (m == 0)
            m = flag_value(argc, argv, &i, "--cert", &cert);
        if (m <= 0) {
            fprintf(stderr, "p2p-replica keygen: %s: %s\n", argv[i],
                    m < 0 ? "needs a value" : "unknown argument");
            keygen_usage(stderr);
            return 2;
        }
    }
    if (key == NULL || cert == NULL || key[0] == '\0' || cert[0] == '\0') {
        fprintf(stderr, "p2p-replica keygen: --key and --cert are required\n");
        keygen_usage(stderr);
        return 2;
    }
    if (strcmp(key, cert) == 0) {
        fprintf(stderr,
                "p2p-replica keygen: --key and --cert name the same file\n");
        return 2;
    }
    struct stat st;
    if (stat(key, &st) == 0) {
        fprintf(stderr,
                "p2p-replica keygen: %s exists; remove it first to make a new "
                "identity\n",
                key);
        return 1;
    }
    uint8_t id[PROD_KEY_ID_BYTES];
    char err[PATH_MAX + 128];
    if (prod_identity_generate(key, cert, id, err, sizeof(err)) != 0) {
        fprintf(stderr, "p2p-replica keygen: %s\n", err);
        return 1;
    }
    char hex[PROD_KEY_ID_HEX_LEN + 1];
    prod_identity_hex(id, hex);
    printf("%s\n", hex);
    return 0;
}
