/* Making node identities: an Ed25519 key and its self-signed certificate,
 * written atomically, and `p2p-replica keygen` (prod/keygen.h). In the
 * tools' library: the replica only reads identities (prod/identity.c). */
#include "prod/keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "conf/errmsg.h"
#include "core/err.h"
#include "prod/cli.h"

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

int prod_keygen_write_atomic(const char *path, const void *data, size_t len,
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

/* ---- generation ----------------------------------------------------- */

/* Fills crt's fields and signs it with key (self-signed). */
static int build_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    uint8_t serial[SERIAL_BYTES];
    if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
        return P2P_ERR_INTERNAL;
    /* Positive, and a nonzero top byte so the DER INTEGER is minimal. */
    serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
    int64_t now = (int64_t)time(NULL);
    const struct quic_cert_fields f = {
        .serial = serial,
        .serial_len = sizeof(serial),
        .common_name = PROD_KEYGEN_CN,
        .not_before_s = now,
        .not_after_s = now + PROD_KEYGEN_VALID_YEARS * SECONDS_PER_YEAR,
    };
    return quic_cert_build(crt, key, &f);
}

int prod_keygen_generate(const char *key_path, const char *cert_path,
                         uint8_t key_id[QUIC_KEY_ID_BYTES], char *err,
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
    if (quic_cert_key_id(crt, key_id) != 0)
        goto fail_gnutls;

    rc = prod_keygen_write_atomic(key_path, key_pem.data, key_pem.size, 0600,
                                  err, err_len);
    if (rc == 0)
        rc = prod_keygen_write_atomic(cert_path, cert_pem.data, cert_pem.size,
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

/* ---- the command ---------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: p2p-replica keygen --key KEY.pem --cert CERT.pem\n"
        "  Makes an Ed25519 key (PKCS#8 PEM, mode 0600) and a self-signed\n"
        "  certificate for it, and prints the node id (SHA-256 of the\n"
        "  public key, 64 hex digits). Refuses to replace an existing key.\n");
}

/* Fills *key and *cert (borrowed from argv) or sets *help. Returns 0, or
 * 2 after printing what is wrong and the usage on stderr. */
static int parse_args(int argc, char **argv, const char **key,
                      const char **cert, bool *help)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"cert", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *key = *cert = NULL;
    *help = false;
    conf_cli_begin();
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            *key = optarg;
            break;
        case 'c':
            *cert = optarg;
            break;
        case 'h':
            *help = true;
            break;
        default:
            conf_cli_bad_flag(stderr, "p2p-replica keygen", ch, argv, opts);
            usage(stderr);
            return CONF_CLI_EXIT_USAGE;
        }
    }
    if (*help)
        return 0;
    if (conf_cli_no_operands(stderr, "p2p-replica keygen", argc, argv) != 0) {
        usage(stderr);
        return CONF_CLI_EXIT_USAGE;
    }
    if (*key == NULL || *cert == NULL || (*key)[0] == '\0' ||
        (*cert)[0] == '\0') {
        fprintf(stderr, "p2p-replica keygen: --key and --cert are required\n");
        usage(stderr);
        return CONF_CLI_EXIT_USAGE;
    }
    if (strcmp(*key, *cert) == 0) {
        fprintf(stderr,
                "p2p-replica keygen: --key and --cert name the same file\n");
        return CONF_CLI_EXIT_USAGE;
    }
    return 0;
}

int prod_keygen_cmd(int argc, char **argv)
{
    const char *key, *cert;
    bool help;
    int rc = parse_args(argc, argv, &key, &cert, &help);
    if (rc != 0)
        return rc;
    if (help) {
        usage(stdout);
        return 0;
    }
    struct stat st;
    if (stat(key, &st) == 0) {
        fprintf(stderr,
                "p2p-replica keygen: %s exists; remove it first to make a new "
                "identity\n",
                key);
        return 1;
    }
    uint8_t id[QUIC_KEY_ID_BYTES];
    char err[PATH_MAX + 128];
    if (prod_keygen_generate(key, cert, id, err, sizeof(err)) != 0) {
        fprintf(stderr, "p2p-replica keygen: %s\n", err);
        return 1;
    }
    char hex[QUIC_KEY_ID_HEX_LEN + 1];
    quic_cert_hex(id, hex);
    printf("%s\n", hex);
    return 0;
}
