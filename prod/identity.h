/* Node identities: Ed25519 keys and self-signed X.509 certificates (GnuTLS),
 * as the replica reads and checks them (prod/keygen.h makes them).
 *
 * A node's id is the SHA-256 of its public key's SubjectPublicKeyInfo (DER),
 * the value gnutls_x509_crt_get_key_id(..., GNUTLS_KEYID_USE_SHA256) and
 * certtool's "Public Key ID: sha256:" give; written as 64 lowercase hex
 * digits. docs/replica.md, "Node identity". */
#ifndef P2P_PROD_IDENTITY_H
#define P2P_PROD_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gnutls/x509.h>

#define PROD_KEY_ID_BYTES 32
#define PROD_KEY_ID_HEX_LEN (2 * PROD_KEY_ID_BYTES) /* without the NUL */
/* Largest key or certificate PEM file read; ours are under 1 KiB. */
#define PROD_IDENTITY_PEM_BYTES_MAX (64 * 1024)

/* The node id of the certificate in a PEM file. Returns 0,
 * P2P_ERR_READ (cannot read, or larger than PROD_IDENTITY_PEM_BYTES_MAX) or
 * P2P_ERR_DECODE (not a PEM certificate), with a message in err. */
int prod_identity_cert_file_key_id(const char *cert_path,
                                   uint8_t key_id[PROD_KEY_ID_BYTES], char *err,
                                   size_t err_len);

/* The node id of a parsed certificate (borrowed). Returns 0 or
 * P2P_ERR_DECODE. */
int prod_identity_crt_key_id(gnutls_x509_crt_t crt,
                             uint8_t key_id[PROD_KEY_ID_BYTES]);

/* The node id of a raw SubjectPublicKeyInfo in DER (e.g. a TLS raw public
 * key): its SHA-256. Returns 0 or P2P_ERR_INVALID_ARG (empty input). */
int prod_identity_spki_key_id(const uint8_t *spki_der, size_t len,
                              uint8_t key_id[PROD_KEY_ID_BYTES]);

/* What is wrong with a node's certificate (prod_identity_check_cert). */
enum prod_cert_problem {
    PROD_CERT_OK,
    PROD_CERT_UNREADABLE,      /* a field GnuTLS cannot read */
    PROD_CERT_NOT_V3,          /* not an X.509 version 3 certificate */
    PROD_CERT_NOT_ED25519,     /* its key or its signature is not Ed25519 */
    PROD_CERT_NOT_SELF_ISSUED, /* its issuer is not its subject */
    PROD_CERT_BAD_SIGNATURE,   /* the signature does not verify with the
                                  certificate's own key */
    PROD_CERT_NOT_YET_VALID,   /* now is before notBefore */
    PROD_CERT_EXPIRED,         /* now is after notAfter */
};

/* notAfter 99991231235959Z (RFC 5280 4.1.2.5: "no well-defined expiration
 * date"), as GnuTLS reads it: a certificate with it never expires. */
#define PROD_CERT_NO_EXPIRY_S 253402300799LL

/* A short name for a problem, for logs ("expired", ...). */
const char *prod_identity_cert_problem_name(enum prod_cert_problem p);

/* Checks crt (borrowed) as the IC checks a node's certificate: X.509 v3,
 * an Ed25519 key, self-signed (issuer = subject, and the signature
 * verifies with the certificate's own public key) and valid at now_s:
 * notBefore <= now_s <= notAfter, where a notAfter of 99991231235959Z
 * never passes. now_s is wall-clock seconds since the epoch, taken as an
 * argument so the caller owns the clock (the transport passes time(NULL);
 * tests pass the boundaries). The key id is not checked here. Returns 0
 * (*problem = PROD_CERT_OK) or P2P_ERR_REFUSED with *problem saying why. */
int prod_identity_check_cert(gnutls_x509_crt_t crt, int64_t now_s,
                             enum prod_cert_problem *problem);

/* Checks that key_path holds an Ed25519 private key (PEM, PKCS#8 or the
 * older forms GnuTLS reads) whose public part is the key of the certificate
 * in cert_path; on success sets key_id to the node id. Returns 0,
 * P2P_ERR_READ, P2P_ERR_DECODE (a file is not a key / certificate, or the key
 * is not Ed25519) or P2P_ERR_ID_MISMATCH (the two do not belong together),
 * with a message naming the file in err. */
int prod_identity_check_pair(const char *key_path, const char *cert_path,
                             uint8_t key_id[PROD_KEY_ID_BYTES], char *err,
                             size_t err_len);

/* Writes key_id as 64 lowercase hex digits and a NUL. */
void prod_identity_hex(const uint8_t key_id[PROD_KEY_ID_BYTES],
                       char out[PROD_KEY_ID_HEX_LEN + 1]);

/* Parses exactly 64 hex digits (either case, nothing before or after).
 * Returns 0 or P2P_ERR_DECODE (key_id then unchanged). */
int prod_identity_parse_hex(const char *hex, uint8_t key_id[PROD_KEY_ID_BYTES]);

#endif
