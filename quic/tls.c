/* GnuTLS sessions for the QUIC transport (see prod/tls.h). */
#include "quic/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "core/err.h"

/* TLS 1.3 only; AES-GCM first (ChaCha20 is 8x slower on machines with
 * AES-NI). The compatibility mode must be off for QUIC. */
static const char PRIORITY[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"
    "%DISABLE_TLS13_COMPAT_MODE";

/* The label of the static secret: changing it changes every token. */
static const char SECRET_LABEL[] = "p2p-replica stateless reset secret v1";

struct quic_tls {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t priority;
    uint8_t secret[QUIC_TLS_SECRET_LEN];
};

/* HMAC-SHA256(key = the Ed25519 private key's 32 bytes, SECRET_LABEL). */
static int derive_secret(struct quic_tls *tls)
{
    gnutls_x509_privkey_t key = NULL;
    if (gnutls_certificate_get_x509_key(tls->cred, 0, &key) < 0)
        return P2P_ERR_INVALID_ARG;
    gnutls_ecc_curve_t curve;
    gnutls_datum_t x = {NULL, 0}, y = {NULL, 0}, k = {NULL, 0};
    int rc = gnutls_x509_privkey_export_ecc_raw(key, &curve, &x, &y, &k);
    if (rc >= 0 && (curve != GNUTLS_ECC_CURVE_ED25519 || k.size == 0))
        rc = -1;
    if (rc >= 0)
        rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, k.data, k.size, SECRET_LABEL,
                              sizeof(SECRET_LABEL) - 1, tls->secret);
    if (k.data != NULL) {
        gnutls_memset(k.data, 0, k.size);
        gnutls_free(k.data);
    }
    gnutls_free(x.data);
    gnutls_free(y.data);
    gnutls_x509_privkey_deinit(key);
    return rc < 0 ? P2P_ERR_INVALID_ARG : 0;
}

int quic_tls_new(const uint8_t *key_pem, size_t key_len,
                 const uint8_t *cert_pem, size_t cert_len, const char *name,
                 struct quic_tls **out, uint8_t self_key_id[QUIC_KEY_ID_LEN],
                 char *err, size_t err_len)
{
    struct quic_tls *tls = calloc(1, sizeof(*tls));
    if (tls == NULL) {
        snprintf(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    int rc = gnutls_certificate_allocate_credentials(&tls->cred);
    const gnutls_datum_t key = {(unsigned char *)key_pem, (unsigned)key_len};
    const gnutls_datum_t cert = {(unsigned char *)cert_pem, (unsigned)cert_len};
    if (rc >= 0)
        rc = gnutls_certificate_set_x509_key_mem2(tls->cred, &cert, &key,
                                                  GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        snprintf(err, err_len, "%s: %s", name, gnutls_strerror(rc));
        quic_tls_del(tls);
        return P2P_ERR_INVALID_ARG;
    }
    gnutls_x509_crt_t *crts = NULL;
    unsigned crts_count = 0;
    rc = gnutls_certificate_get_x509_crt(tls->cred, 0, &crts, &crts_count);
    if (rc < 0 || crts_count == 0) {
        snprintf(err, err_len, "%s: no certificate: %s", name,
                 gnutls_strerror(rc));
        quic_tls_del(tls);
        return P2P_ERR_INVALID_ARG;
    }
    size_t len = QUIC_KEY_ID_LEN;
    rc = gnutls_x509_crt_get_key_id(crts[0], GNUTLS_KEYID_USE_SHA256,
                                    self_key_id, &len);
    for (unsigned i = 0; i < crts_count; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    if (rc < 0 || len != QUIC_KEY_ID_LEN) {
        snprintf(err, err_len, "%s: cannot read its key id", name);
        quic_tls_del(tls);
        return P2P_ERR_INVALID_ARG;
    }
    if (derive_secret(tls) != 0) {
        snprintf(err, err_len, "%s: not an Ed25519 key", name);
        quic_tls_del(tls);
        return P2P_ERR_INVALID_ARG;
    }
    const char *where = NULL;
    rc = gnutls_priority_init(&tls->priority, PRIORITY, &where);
    if (rc < 0) {
        snprintf(err, err_len, "TLS priority string at \"%s\": %s",
                 where ? where : "?", gnutls_strerror(rc));
        quic_tls_del(tls);
        return P2P_ERR_INTERNAL;
    }
    *out = tls;
    return 0;
}

void quic_tls_del(struct quic_tls *tls)
{
    if (tls == NULL)
        return;
    if (tls->priority != NULL)
        gnutls_priority_deinit(tls->priority);
    if (tls->cred != NULL)
        gnutls_certificate_free_credentials(tls->cred);
    gnutls_memset(tls->secret, 0, sizeof(tls->secret));
    free(tls);
}

int quic_tls_session_new(struct quic_tls *tls, bool server, void *conn_ref,
                         int (*verify)(gnutls_session_t), gnutls_session_t *out)
{
    gnutls_session_t s;
    int rc = gnutls_init(&s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
                                 GNUTLS_NO_END_OF_EARLY_DATA);
    if (rc < 0)
        return P2P_ERR_NOMEM;
    rc = server ? ngtcp2_crypto_gnutls_configure_server_session(s)
                : ngtcp2_crypto_gnutls_configure_client_session(s);
    if (rc == 0)
        rc = gnutls_priority_set(s, tls->priority);
    if (rc == 0)
        rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, tls->cred);
    gnutls_datum_t alpn = {(unsigned char *)QUIC_ALPN,
                           (unsigned)strlen(QUIC_ALPN)};
    if (rc == 0)
        rc = gnutls_alpn_set_protocols(s, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    if (rc != 0) {
        gnutls_deinit(s);
        return P2P_ERR_INTERNAL;
    }
    if (server)
        gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_function(s, verify);
    gnutls_session_set_ptr(s, conn_ref);
    *out = s;
    return 0;
}

void quic_tls_reset_secret(const struct quic_tls *tls,
                           uint8_t out[QUIC_TLS_SECRET_LEN])
{
    memcpy(out, tls->secret, QUIC_TLS_SECRET_LEN);
}

int quic_tls_peer_identity(gnutls_session_t s, int64_t now_s,
                           uint8_t key_id[QUIC_KEY_ID_LEN],
                           enum quic_cert_problem *problem)
{
    *problem = QUIC_CERT_UNREADABLE;
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    if (certs == NULL || n == 0 ||
        gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509)
        return P2P_ERR_DECODE;
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return P2P_ERR_NOMEM;
    int rc = P2P_ERR_DECODE;
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
        quic_cert_key_id(crt, key_id) == 0)
        rc = quic_cert_check(crt, now_s, problem);
    gnutls_x509_crt_deinit(crt);
    return rc;
}
