/* TLS for the QUIC transport: GnuTLS sessions set up for ngtcp2's crypto
 * helper, TLS 1.3 only, ALPN carrying the protocol version, a certificate
 * on both sides (docs/replica.md, "Transport").
 *
 * Whether a peer is acceptable is the transport's call: it installs a
 * verify hook that runs inside the handshake, reads and checks the peer's
 * certificate with quic_tls_peer_identity and refuses anything not in the
 * registry before a single protocol byte is read. TLS 1.3 checks the
 * CertificateVerify signature itself (proof that the peer holds the key);
 * the certificate itself must be a valid self-signed Ed25519 one, as the
 * IC requires (quic_cert_check): no CA chain. */
#ifndef P2P_QUIC_TLS_H
#define P2P_QUIC_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "quic/cert.h"

/* A node id: SHA-256 of the node's SubjectPublicKeyInfo. */
#define QUIC_KEY_ID_LEN 32
/* The protocol version, negotiated by ALPN: a peer speaking another one is
 * refused in the handshake (alert no_application_protocol). */
#define QUIC_ALPN "ic-p2p/2"
/* Bytes of the static secret derived from the node's private key. */
#define QUIC_TLS_SECRET_LEN 32

struct quic_tls;

/* This node's credentials from its key (PKCS#8 PEM) and certificate (PEM),
 * both in memory (borrowed; prod/identity.h reads them from files, the
 * simulator makes them). Fills the node's own key id, and derives the
 * node's static secret (quic_tls_reset_secret). name is what err calls
 * them ("key.pem / cert.pem"). Returns 0, or P2P_ERR_NOMEM /
 * P2P_ERR_INVALID_ARG (not a pair, no Ed25519 key to derive the secret
 * from) / P2P_ERR_INTERNAL, with a message in err. */
int quic_tls_new(const uint8_t *key_pem, size_t key_len,
                 const uint8_t *cert_pem, size_t cert_len, const char *name,
                 struct quic_tls **out, uint8_t self_key_id[QUIC_KEY_ID_LEN],
                 char *err, size_t err_len);
void quic_tls_del(struct quic_tls *tls);

/* A session for one connection: server (accepting; a client certificate is
 * required) or client. conn_ref is ngtcp2's ngtcp2_crypto_conn_ref (the
 * session's pointer slot belongs to ngtcp2); verify runs when the peer's
 * certificate arrives and refuses it by returning non-zero. */
int quic_tls_session_new(struct quic_tls *tls, bool server, void *conn_ref,
                         int (*verify)(gnutls_session_t),
                         gnutls_session_t *out);

/* A secret only this node's key gives: HMAC-SHA256 keyed with the Ed25519
 * private key, of a fixed label. The same after a restart (the transport
 * derives its stateless reset tokens from it, so a restarted process can
 * reset the connections of the one before it) and the same for two
 * processes sharing a key. */
void quic_tls_reset_secret(const struct quic_tls *tls,
                           uint8_t out[QUIC_TLS_SECRET_LEN]);

/* The peer's identity, inside the verify hook: the key id of the X.509
 * certificate it presented, checked with quic_cert_check at
 * now_s (wall-clock seconds). Returns 0 (key_id set, *problem =
 * QUIC_CERT_OK); P2P_ERR_DECODE when there is no X.509 certificate or it
 * cannot be parsed; P2P_ERR_REFUSED when the certificate fails a check
 * (*problem says which; key_id is set). */
int quic_tls_peer_identity(gnutls_session_t s, int64_t now_s,
                           uint8_t key_id[QUIC_KEY_ID_LEN],
                           enum quic_cert_problem *problem);

#endif
