/* TLS for the QUIC transport: GnuTLS sessions set up for ngtcp2's crypto
 * helper, TLS 1.3 only, ALPN carrying the protocol version, a certificate
 * on both sides (docs/replica.md, "Transport").
 *
 * Whether a peer is acceptable is the transport's call: it installs a
 * verify hook that runs inside the handshake, reads and checks the peer's
 * certificate with prod_tls_peer_identity and refuses anything not in the
 * registry before a single protocol byte is read. TLS 1.3 checks the
 * CertificateVerify signature itself (proof that the peer holds the key);
 * the certificate itself must be a valid self-signed Ed25519 one, as the
 * IC requires (prod_identity_check_cert): no CA chain. */
#ifndef P2P_PROD_TLS_H
#define P2P_PROD_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "prod/identity.h"

/* A node id: SHA-256 of the node's SubjectPublicKeyInfo. */
#define PROD_KEY_ID_LEN 32
/* The protocol version, negotiated by ALPN: a peer speaking another one is
 * refused in the handshake (alert no_application_protocol). */
#define PROD_ALPN "ic-p2p/2"
/* Bytes of the static secret derived from the node's private key. */
#define PROD_TLS_SECRET_LEN 32

struct prod_tls;

/* Loads this node's key (PKCS#8 PEM) and certificate. Fills the node's own
 * key id, and derives the node's static secret (prod_tls_reset_secret).
 * Returns 0, or P2P_ERR_NOMEM / P2P_ERR_INVALID_ARG (files unreadable, not
 * a pair, no Ed25519 key to derive the secret from) / P2P_ERR_INTERNAL,
 * with a message in err. */
int prod_tls_new(const char *key_path, const char *cert_path,
                 struct prod_tls **out, uint8_t self_key_id[PROD_KEY_ID_LEN],
                 char *err, size_t err_len);
void prod_tls_del(struct prod_tls *tls);

/* A session for one connection: server (accepting; a client certificate is
 * required) or client. conn_ref is ngtcp2's ngtcp2_crypto_conn_ref (the
 * session's pointer slot belongs to ngtcp2); verify runs when the peer's
 * certificate arrives and refuses it by returning non-zero. */
int prod_tls_session_new(struct prod_tls *tls, bool server, void *conn_ref,
                         int (*verify)(gnutls_session_t),
                         gnutls_session_t *out);

/* A secret only this node's key gives: HMAC-SHA256 keyed with the Ed25519
 * private key, of a fixed label. The same after a restart (the transport
 * derives its stateless reset tokens from it, so a restarted process can
 * reset the connections of the one before it) and the same for two
 * processes sharing a key. */
void prod_tls_reset_secret(const struct prod_tls *tls,
                           uint8_t out[PROD_TLS_SECRET_LEN]);

/* The peer's identity, inside the verify hook: the key id of the X.509
 * certificate it presented, checked with prod_identity_check_cert at
 * now_s (wall-clock seconds). Returns 0 (key_id set, *problem =
 * PROD_CERT_OK); P2P_ERR_DECODE when there is no X.509 certificate or it
 * cannot be parsed; P2P_ERR_REFUSED when the certificate fails a check
 * (*problem says which; key_id is set). */
int prod_tls_peer_identity(gnutls_session_t s, int64_t now_s,
                           uint8_t key_id[PROD_KEY_ID_LEN],
                           enum prod_cert_problem *problem);

#endif
