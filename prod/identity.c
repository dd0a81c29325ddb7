/* Node identities: reading and checking Ed25519 keys and self-signed
 * certificates, node ids (SHA-256 of the SPKI). Making them is
 * prod/keygen.c's, in the tools' library. */
#include "prod/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* ---- files ---------------------------------------------------------- */

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
                                   uint8_t key_id[QUIC_KEY_ID_BYTES], char *err,
                                   size_t err_len)
{
    gnutls_x509_crt_t crt;
    int rc = load_crt(cert_path, &crt, err, err_len);
    if (rc != 0)
        return rc;
    rc = quic_cert_key_id(crt, key_id);
    gnutls_x509_crt_deinit(crt);
    if (rc != 0)
        conf_errmsg_set(err, err_len, "%s: cannot compute the key id",
                        cert_path);
    return rc;
}

int prod_identity_check_pair(const char *key_path, const char *cert_path,
                             uint8_t key_id[QUIC_KEY_ID_BYTES], char *err,
                             size_t err_len)
{
    uint8_t cert_id[QUIC_KEY_ID_BYTES];
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
        size != QUIC_KEY_ID_BYTES) {
        conf_errmsg_set(err, err_len, "%s: cannot compute the key id",
                        key_path);
        rc = P2P_ERR_DECODE;
        goto out_key;
    }
    if (memcmp(buf, cert_id, QUIC_KEY_ID_BYTES) != 0) {
        conf_errmsg_set(err, err_len, "%s is not the key of %s", key_path,
                        cert_path);
        rc = P2P_ERR_ID_MISMATCH;
        goto out_key;
    }
    memcpy(key_id, cert_id, QUIC_KEY_ID_BYTES);
    rc = 0;
out_key:
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* ---- TLS credentials ------------------------------------------------ */

int prod_identity_tls_new(const char *key_path, const char *cert_path,
                          struct quic_tls **out,
                          uint8_t self_key_id[QUIC_KEY_ID_LEN], char *err,
                          size_t err_len)
{
    gnutls_datum_t key = {NULL, 0}, cert = {NULL, 0};
    int rc = read_pem(key_path, &key, err, err_len);
    if (rc == 0)
        rc = read_pem(cert_path, &cert, err, err_len);
    if (rc == 0) {
        char name[512];
        snprintf(name, sizeof(name), "%s / %s", cert_path, key_path);
        rc = quic_tls_new(key.data, key.size, cert.data, cert.size, name, out,
                          self_key_id, err, err_len);
    }
    if (key.data != NULL) {
        gnutls_memset(key.data, 0, key.size);
        gnutls_free(key.data);
    }
    gnutls_free(cert.data);
    return rc;
}
