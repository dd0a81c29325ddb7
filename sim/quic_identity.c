/* Simulated nodes' TLS identities from the seed (sim/quic_identity.h):
 * the private key hashed from (seed, node), its public key by nettle, the
 * certificate built and signed by GnuTLS with fixed fields only. */
#include "sim/quic_identity.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nettle/eddsa.h>
#include <nettle/sha2.h>

#include "conf/errmsg.h"
#include "core/err.h"
#include "quic/cert.h"

_Static_assert(sizeof(SIM_QUIC_IDENTITY_LABEL) - 1 ==
                   SIM_QUIC_IDENTITY_LABEL_BYTES,
               "the label is hashed without its NUL");
_Static_assert(ED25519_KEY_SIZE == 32 && SHA256_DIGEST_SIZE == 32,
               "an Ed25519 private key is one SHA-256 digest");
_Static_assert(SIM_QUIC_IDENTITY_KEY_ID_BYTES == SHA256_DIGEST_SIZE,
               "a node id is a SHA-256 digest");

/* Longest "sim-node-4294967295" and its NUL. */
#define CN_BYTES_MAX 24
/* A positive DER INTEGER of a uint64_t: up to 8 bytes and a leading 0. */
#define SERIAL_BYTES_MAX 9

/* The private key: SHA-256(label || seed LE64 || node LE32). */
static void derive_private(uint64_t seed, uint32_t node,
                           uint8_t priv[ED25519_KEY_SIZE])
{
    uint8_t msg[SIM_QUIC_IDENTITY_LABEL_BYTES + 8 + 4];
    memcpy(msg, SIM_QUIC_IDENTITY_LABEL, SIM_QUIC_IDENTITY_LABEL_BYTES);
    for (unsigned i = 0; i < 8; i++)
        msg[SIM_QUIC_IDENTITY_LABEL_BYTES + i] = (uint8_t)(seed >> (8 * i));
    for (unsigned i = 0; i < 4; i++)
        msg[SIM_QUIC_IDENTITY_LABEL_BYTES + 8 + i] = (uint8_t)(node >> (8 * i));
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, sizeof(msg), msg);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, priv);
}

/* v as the content of a positive DER INTEGER in its fewest bytes (a
 * leading 0 only when the top bit would be set); returns the length. */
static size_t serial_der(uint64_t v, uint8_t out[SERIAL_BYTES_MAX])
{
    uint8_t be[SERIAL_BYTES_MAX];
    be[0] = 0;
    for (unsigned i = 0; i < 8; i++)
        be[1 + i] = (uint8_t)(v >> (8 * (7 - i)));
    size_t skip = 0;
    while (skip < SERIAL_BYTES_MAX - 1 && be[skip] == 0 &&
           (be[skip + 1] & 0x80) == 0)
        skip++;
    memcpy(out, be + skip, SERIAL_BYTES_MAX - skip);
    return SERIAL_BYTES_MAX - skip;
}

/* Fills crt's fixed fields for node and signs it with key (self-signed). */
static int build_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                      uint32_t node)
{
    uint8_t serial[SERIAL_BYTES_MAX];
    char cn[CN_BYTES_MAX];
    int cn_len = snprintf(cn, sizeof(cn), "sim-node-%u", (unsigned)node);
    if (cn_len <= 0 || (size_t)cn_len >= sizeof(cn))
        return P2P_ERR_INTERNAL;
    const struct quic_cert_fields f = {
        .serial = serial,
        .serial_len = serial_der((uint64_t)node + 1, serial),
        .common_name = cn,
        .not_before_s = SIM_QUIC_IDENTITY_NOT_BEFORE_S,
        .not_after_s = -1,
    };
    return quic_cert_build(crt, key, &f);
}

/* Copies a PEM datum into dst (SIM_QUIC_IDENTITY_PEM_BYTES_MAX bytes) with
 * a NUL; false when it does not fit. */
static bool copy_pem(const gnutls_datum_t *pem, char *dst, size_t *len)
{
    if (pem->size >= SIM_QUIC_IDENTITY_PEM_BYTES_MAX)
        return false;
    memcpy(dst, pem->data, pem->size);
    dst[pem->size] = '\0';
    *len = pem->size;
    return true;
}

/* The key and certificate into out; 0 or P2P_ERR_INTERNAL with a message. */
static int make(const uint8_t priv[ED25519_KEY_SIZE], uint32_t node,
                struct sim_quic_identity *out, char *err, size_t err_len)
{
    int rc = P2P_ERR_INTERNAL;
    uint8_t pub[ED25519_KEY_SIZE];
    ed25519_sha512_public_key(pub, priv);
    const gnutls_datum_t x = {pub, ED25519_KEY_SIZE};
    const gnutls_datum_t k = {(unsigned char *)priv, ED25519_KEY_SIZE};
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t key_pem = {NULL, 0}, cert_pem = {NULL, 0};
    size_t id_len = sizeof(out->key_id);

    if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
        gnutls_x509_privkey_import_ecc_raw(key, GNUTLS_ECC_CURVE_ED25519, &x,
                                           NULL, &k) < 0) {
        conf_errmsg_set(err, err_len,
                        "node %u: GnuTLS could not take its Ed25519 key",
                        (unsigned)node);
        goto out_free;
    }
    if (build_cert(crt, key, node) != 0 ||
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                          GNUTLS_PKCS_PLAIN, &key_pem) < 0 ||
        gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem) < 0 ||
        gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, out->key_id,
                                   &id_len) < 0 ||
        id_len != sizeof(out->key_id)) {
        conf_errmsg_set(err, err_len,
                        "node %u: GnuTLS could not make its certificate",
                        (unsigned)node);
        goto out_free;
    }
    if (!copy_pem(&key_pem, out->key_pem, &out->key_pem_len) ||
        !copy_pem(&cert_pem, out->cert_pem, &out->cert_pem_len)) {
        conf_errmsg_set(err, err_len,
                        "node %u: a PEM is over %u bytes (key %u, "
                        "certificate %u)",
                        (unsigned)node, SIM_QUIC_IDENTITY_PEM_BYTES_MAX - 1,
                        key_pem.size, cert_pem.size);
        goto out_free;
    }
    rc = 0;
out_free:
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

int sim_quic_identity_make(uint64_t seed, uint32_t node,
                           struct sim_quic_identity *out, char *err,
                           size_t err_len)
{
    if (out == NULL) {
        conf_errmsg_set(err, err_len, "node %u: no identity to fill",
                        (unsigned)node);
        return P2P_ERR_INTERNAL;
    }
    memset(out, 0, sizeof(*out));
    uint8_t priv[ED25519_KEY_SIZE];
    derive_private(seed, node, priv);
    int rc = make(priv, node, out, err, err_len);
    gnutls_memset(priv, 0, sizeof(priv));
    if (rc != 0)
        gnutls_memset(out, 0, sizeof(*out));
    return rc;
}
