/* TLS for the QUIC transport: GnuTLS sessions set up for ngtcp2's crypto
 * helper, TLS 1.3 only, ALPN carrying the protocol version, a certificate
 * on both sides (DESIGN.md 3, "Security"; docs/replica.md).
 *
 * Whether a peer is acceptable is the transport's call: it installs a
 * verify hook that runs inside the handshake, reads the peer's key id with
 * prod_tls_peer_key_id and refuses anything not in the registry before a
 * single protocol byte is read. TLS 1.3 checks the CertificateVerify
 * signature itself (proof that the peer holds the key), so no CA chain is
 * needed for the self-signed certificates nodes use. */
#ifndef P2P_PROD_TLS_H
#define P2P_PROD_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

/* A node id: SHA-256 of the node's SubjectPublicKeyInfo. */
#define PROD_KEY_ID_LEN 32
/* The protocol version, negotiated by ALPN: a peer speaking another one is
 * refused in the handshake (alert no_application_protocol). */
#define PROD_ALPN "ic-p2p/1"

struct prod_tls;

/* Loads this node's key (PKCS#8 PEM) and certificate. Fills the node's own
 * key id. */
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

/* The key id of the certificate (X.509 or raw public key) the peer
 * presented: 0, or P2P_ERR_DECODE when there is none or it is unreadable. */
int prod_tls_peer_key_id(gnutls_session_t s, uint8_t key_id[PROD_KEY_ID_LEN]);

#endif
