/* Simulated nodes' TLS identities for the simulator's real-QUIC mode: each
 * node's Ed25519 key and self-signed X.509 certificate made from the run's
 * seed and the node's index alone, so the same (seed, node) gives
 * byte-identical PEM on every run, machine and compiler. The certificates
 * pass the replica's check (prod_identity_check_cert): X.509 v3, Ed25519,
 * self-signed, notBefore <= now <= notAfter for any now from 2020 on.
 *
 * Derivation (all integers little-endian, fixed width):
 *   private key (32 bytes) = SHA-256(label || seed || node), where
 *     label = the 32 ASCII bytes "p2p-sim quic identity v1 ed25519"
 *             (SIM_QUIC_IDENTITY_LABEL, no NUL),
 *     seed  = 8 bytes (uint64_t), node = 4 bytes (uint32_t);
 *   public key = Ed25519 public key of that private key (RFC 8032 5.1.5,
 *     nettle's ed25519_sha512_public_key).
 * Certificate: version 3; serial = node + 1 as a positive DER INTEGER in
 * its fewest bytes; subject = issuer = CN=sim-node-<node in decimal>;
 * notBefore = 2020-01-01T00:00:00Z (SIM_QUIC_IDENTITY_NOT_BEFORE_S);
 * notAfter = 99991231235959Z ("no well-defined expiration date", RFC 5280
 * 4.1.2.5; PROD_CERT_NO_EXPIRY_S); extensions as prod/keygen.c writes them
 * (basicConstraints CA:FALSE, keyUsage digitalSignature, extKeyUsage TLS
 * server and client; nothing with time or randomness); signed with the key
 * itself (Ed25519 signatures are deterministic). The key is exported as
 * unencrypted PKCS#8. Node id = SHA-256 of the SubjectPublicKeyInfo DER.
 *
 * The keys are as secret as the seed: for simulation only. */
#ifndef P2P_SIM_QUIC_IDENTITY_H
#define P2P_SIM_QUIC_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#define SIM_QUIC_IDENTITY_LABEL "p2p-sim quic identity v1 ed25519"
#define SIM_QUIC_IDENTITY_LABEL_BYTES 32u
/* 2020-01-01T00:00:00Z, the certificates' notBefore. */
#define SIM_QUIC_IDENTITY_NOT_BEFORE_S 1577836800LL
#define SIM_QUIC_IDENTITY_KEY_ID_BYTES 32u
/* Bound of each PEM text, its NUL included (ours are under 1 KiB). */
#define SIM_QUIC_IDENTITY_PEM_BYTES_MAX 4096u

/* One node's identity, caller storage (over 8 KiB). */
struct sim_quic_identity {
    /* The private key, unencrypted PKCS#8 PEM, NUL-terminated; its length
     * without the NUL. */
    char key_pem[SIM_QUIC_IDENTITY_PEM_BYTES_MAX];
    size_t key_pem_len;
    /* The certificate, X.509 PEM, NUL-terminated; its length without the
     * NUL. */
    char cert_pem[SIM_QUIC_IDENTITY_PEM_BYTES_MAX];
    size_t cert_pem_len;
    /* The node id: SHA-256 of the SubjectPublicKeyInfo DER. */
    uint8_t key_id[SIM_QUIC_IDENTITY_KEY_ID_BYTES];
};

/* Fills *out (caller storage) with node's identity under seed, as the
 * header comment derives it: a pure function of (seed, node). No clock, no
 * entropy, no global state of ours; thread-safe as GnuTLS is. On error
 * *out holds no key material. Returns 0, or P2P_ERR_INTERNAL (GnuTLS or
 * nettle failed, or a PEM would not fit SIM_QUIC_IDENTITY_PEM_BYTES_MAX)
 * with a message in err (err_len bytes, may be 0). */
int sim_quic_identity_make(uint64_t seed, uint32_t node,
                           struct sim_quic_identity *out, char *err,
                           size_t err_len);

#endif
