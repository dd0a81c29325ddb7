/* Node certificates as the IC checks them, and node ids: Ed25519 keys,
 * self-signed X.509 certificates (GnuTLS). Pure functions: the caller
 * owns the clock (validity is judged at a time it passes) and the files
 * (prod/identity.h reads them).
 *
 * A node's id is the SHA-256 of its public key's SubjectPublicKeyInfo (DER),
 * the value gnutls_x509_crt_get_key_id(..., GNUTLS_KEYID_USE_SHA256) and
 * certtool's "Public Key ID: sha256:" give; written as 64 lowercase hex
 * digits. */
#ifndef P2P_QUIC_CERT_H
#define P2P_QUIC_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/x509.h>

#define QUIC_KEY_ID_BYTES 32
#define QUIC_KEY_ID_HEX_LEN (2 * QUIC_KEY_ID_BYTES) /* without the NUL */

/* The node id of a parsed certificate (borrowed). Returns 0 or
 * P2P_ERR_DECODE. */
int quic_cert_key_id(gnutls_x509_crt_t crt, uint8_t key_id[QUIC_KEY_ID_BYTES]);

/* The node id of a raw SubjectPublicKeyInfo in DER (e.g. a TLS raw public
 * key): its SHA-256. Returns 0 or P2P_ERR_INVALID_ARG (empty input). */
int quic_cert_spki_key_id(const uint8_t *spki_der, size_t len,
                          uint8_t key_id[QUIC_KEY_ID_BYTES]);

/* What is wrong with a node's certificate (quic_cert_check). */
enum quic_cert_problem {
    QUIC_CERT_OK,
    QUIC_CERT_UNREADABLE,      /* a field GnuTLS cannot read */
    QUIC_CERT_NOT_V3,          /* not an X.509 version 3 certificate */
    QUIC_CERT_NOT_ED25519,     /* its key or its signature is not Ed25519 */
    QUIC_CERT_NOT_SELF_ISSUED, /* its issuer is not its subject */
    QUIC_CERT_BAD_SIGNATURE,   /* the signature does not verify with the
                                  certificate's own key */
    QUIC_CERT_NOT_YET_VALID,   /* now is before notBefore */
    QUIC_CERT_EXPIRED,         /* now is after notAfter */
};

/* notAfter 99991231235959Z (RFC 5280 4.1.2.5: "no well-defined expiration
 * date"), as GnuTLS reads it: a certificate with it never expires. */
#define QUIC_CERT_NO_EXPIRY_S 253402300799LL

/* A short name for a problem, for logs ("expired", ...). */
const char *quic_cert_problem_name(enum quic_cert_problem p);

/* Checks crt (borrowed) as the IC checks a node's certificate: X.509 v3,
 * an Ed25519 key, self-signed (issuer = subject, and the signature
 * verifies with the certificate's own public key) and valid at now_s:
 * notBefore <= now_s <= notAfter, where a notAfter of 99991231235959Z
 * never passes. now_s is wall-clock seconds since the epoch, taken as an
 * argument so the caller owns the clock (the transport passes time(NULL);
 * tests pass the boundaries). The key id is not checked here. Returns 0
 * (*problem = QUIC_CERT_OK) or P2P_ERR_REFUSED with *problem saying why. */
int quic_cert_check(gnutls_x509_crt_t crt, int64_t now_s,
                    enum quic_cert_problem *problem);

/* What a node certificate says besides its key (quic_cert_build). */
struct quic_cert_fields {
    const uint8_t *serial; /* a positive DER INTEGER's bytes, minimal */
    size_t serial_len;
    const char *common_name; /* the subject's (and issuer's) CN */
    int64_t not_before_s;    /* seconds since the epoch */
    int64_t not_after_s;     /* or -1: 99991231235959Z, no expiry */
};

/* Fills crt (initialised, empty) as a node certificate that passes
 * quic_cert_check: X.509 v3, the fields f names, key's public key, not a
 * CA, digital signature only, for TLS servers and clients; then signs it
 * with key (self-signed: the issuer is its own subject). Signing adds no
 * key identifiers and no time, so the same inputs give the same bytes.
 * Returns 0 or P2P_ERR_INTERNAL (a GnuTLS call failed). */
int quic_cert_build(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                    const struct quic_cert_fields *f);

/* Writes key_id as 64 lowercase hex digits and a NUL. */
void quic_cert_hex(const uint8_t key_id[QUIC_KEY_ID_BYTES],
                   char out[QUIC_KEY_ID_HEX_LEN + 1]);

/* Parses exactly 64 hex digits (either case, nothing before or after).
 * Returns 0 or P2P_ERR_DECODE (key_id then unchanged). */
int quic_cert_parse_hex(const char *hex, uint8_t key_id[QUIC_KEY_ID_BYTES]);

#endif
