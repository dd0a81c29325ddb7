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

#include "quic/cert.h"
#include "quic/tls.h"

/* Largest key or certificate PEM file read; ours are under 1 KiB. */
#define PROD_IDENTITY_PEM_BYTES_MAX (64 * 1024)

/* The node id of the certificate in a PEM file. Returns 0,
 * P2P_ERR_READ (cannot read, or larger than PROD_IDENTITY_PEM_BYTES_MAX) or
 * P2P_ERR_DECODE (not a PEM certificate), with a message in err. */
int prod_identity_cert_file_key_id(const char *cert_path,
                                   uint8_t key_id[QUIC_KEY_ID_BYTES], char *err,
                                   size_t err_len);

/* Checks that key_path holds an Ed25519 private key (PEM, PKCS#8 or the
 * older forms GnuTLS reads) whose public part is the key of the certificate
 * in cert_path; on success sets key_id to the node id. Returns 0,
 * P2P_ERR_READ, P2P_ERR_DECODE (a file is not a key / certificate, or the key
 * is not Ed25519) or P2P_ERR_ID_MISMATCH (the two do not belong together),
 * with a message naming the file in err. */
int prod_identity_check_pair(const char *key_path, const char *cert_path,
                             uint8_t key_id[QUIC_KEY_ID_BYTES], char *err,
                             size_t err_len);

/* The node's TLS credentials from its key and certificate files (PEM):
 * quic_tls_new over the files' bytes. Returns 0, P2P_ERR_READ (a file
 * cannot be read, or is larger than PROD_IDENTITY_PEM_BYTES_MAX) or
 * quic_tls_new's errors, with a message naming the files in err. */
int prod_identity_tls_new(const char *key_path, const char *cert_path,
                          struct quic_tls **out,
                          uint8_t self_key_id[QUIC_KEY_ID_LEN], char *err,
                          size_t err_len);

#endif
