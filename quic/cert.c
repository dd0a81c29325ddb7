/* Node certificates and ids (see quic/cert.h). */
#include "quic/cert.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "conf/hex.h"
#include "core/err.h"

/* ---- building ------------------------------------------------------- */

int quic_cert_build(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                    const struct quic_cert_fields *f)
{
    const char *cn = f->common_name;
    /* (time_t)-1 is GnuTLS's "no well-defined expiration". */
    time_t not_after = f->not_after_s < 0 ? (time_t)-1 : (time_t)f->not_after_s;
    if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(crt, f->serial, f->serial_len) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, (time_t)f->not_before_s) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, not_after) < 0 ||
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
    /* Signing copies crt's own subject into the issuer field and adds
     * nothing else. Ed25519 fixes its own hash: GNUTLS_DIG_UNKNOWN lets
     * GnuTLS choose. */
    if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_UNKNOWN, 0) < 0)
        return P2P_ERR_INTERNAL;
    return 0;
}

/* ---- ids ------------------------------------------------------------ */

int quic_cert_key_id(gnutls_x509_crt_t crt, uint8_t key_id[QUIC_KEY_ID_BYTES])
{
    uint8_t buf[64];
    size_t size = sizeof(buf);
    if (crt == NULL ||
        gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, buf, &size) <
            0 ||
        size != QUIC_KEY_ID_BYTES)
        return P2P_ERR_DECODE;
    memcpy(key_id, buf, QUIC_KEY_ID_BYTES);
    return 0;
}

int quic_cert_spki_key_id(const uint8_t *spki_der, size_t len,
                          uint8_t key_id[QUIC_KEY_ID_BYTES])
{
    if (spki_der == NULL || len == 0)
        return P2P_ERR_INVALID_ARG;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki_der, len, key_id) < 0)
        return P2P_ERR_INTERNAL;
    return 0;
}

/* ---- checking a peer's certificate ---------------------------------- */

const char *quic_cert_problem_name(enum quic_cert_problem p)
{
    switch (p) {
    case QUIC_CERT_OK:
        return "ok";
    case QUIC_CERT_UNREADABLE:
        return "unreadable";
    case QUIC_CERT_NOT_V3:
        return "not X.509 v3";
    case QUIC_CERT_NOT_ED25519:
        return "not Ed25519";
    case QUIC_CERT_NOT_SELF_ISSUED:
        return "issuer is not the subject";
    case QUIC_CERT_BAD_SIGNATURE:
        return "self-signature does not verify";
    case QUIC_CERT_NOT_YET_VALID:
        return "not yet valid";
    case QUIC_CERT_EXPIRED:
        return "expired";
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

static enum quic_cert_problem cert_problem(gnutls_x509_crt_t crt, int64_t now_s)
{
    if (crt == NULL)
        return QUIC_CERT_UNREADABLE;
    if (gnutls_x509_crt_get_version(crt) != 3)
        return QUIC_CERT_NOT_V3;
    if (gnutls_x509_crt_get_pk_algorithm(crt, NULL) !=
            GNUTLS_PK_EDDSA_ED25519 ||
        gnutls_x509_crt_get_signature_algorithm(crt) !=
            GNUTLS_SIGN_EDDSA_ED25519)
        return QUIC_CERT_NOT_ED25519;
    if (gnutls_x509_crt_check_issuer(crt, crt) != 1)
        return QUIC_CERT_NOT_SELF_ISSUED;
    if (!self_signature_verifies(crt))
        return QUIC_CERT_BAD_SIGNATURE;
    time_t not_before = gnutls_x509_crt_get_activation_time(crt);
    time_t not_after = gnutls_x509_crt_get_expiration_time(crt);
    if (not_before == (time_t)-1 || not_after == (time_t)-1)
        return QUIC_CERT_UNREADABLE;
    if (now_s < (int64_t)not_before)
        return QUIC_CERT_NOT_YET_VALID;
    if ((int64_t)not_after != QUIC_CERT_NO_EXPIRY_S &&
        now_s > (int64_t)not_after)
        return QUIC_CERT_EXPIRED;
    return QUIC_CERT_OK;
}

int quic_cert_check(gnutls_x509_crt_t crt, int64_t now_s,
                    enum quic_cert_problem *problem)
{
    *problem = cert_problem(crt, now_s);
    return *problem == QUIC_CERT_OK ? 0 : P2P_ERR_REFUSED;
}

/* ---- hex ------------------------------------------------------------ */

void quic_cert_hex(const uint8_t key_id[QUIC_KEY_ID_BYTES],
                   char out[QUIC_KEY_ID_HEX_LEN + 1])
{
    conf_hex_encode(key_id, QUIC_KEY_ID_BYTES, out, QUIC_KEY_ID_HEX_LEN + 1);
}

int quic_cert_parse_hex(const char *hex, uint8_t key_id[QUIC_KEY_ID_BYTES])
{
    if (hex == NULL)
        return P2P_ERR_DECODE;
    return conf_hex_decode(hex, strnlen(hex, QUIC_KEY_ID_HEX_LEN + 1), key_id,
                           QUIC_KEY_ID_BYTES, NULL);
}
