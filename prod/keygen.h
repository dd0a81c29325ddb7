/* Making node identities (prod/identity.h reads and checks them): an
 * Ed25519 key and a self-signed X.509 certificate, written atomically;
 * and `p2p-replica keygen`. Part of the tools' library (p2p_prodtools):
 * testnet and probe make identities, the replica never does.
 * docs/replica.md, "Node identity". */
#ifndef P2P_PROD_KEYGEN_H
#define P2P_PROD_KEYGEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "prod/identity.h"

/* Subject and issuer CN of the certificates made here. */
#define PROD_KEYGEN_CN "p2p-replica"
#define PROD_KEYGEN_VALID_YEARS 10

/* Generates an Ed25519 key and a self-signed X.509 v3 certificate for it
 * (CN = "p2p-replica", valid from now for 10 years, random positive serial,
 * usable for TLS client and server authentication), writes key_path (PKCS#8
 * PEM, mode 0600) and then cert_path (PEM, mode 0644), each atomically
 * (prod_keygen_write_atomic), and sets key_id to the node id. Existing
 * files are replaced. Returns 0, or P2P_ERR_INTERNAL (GnuTLS failed) /
 * P2P_ERR_WRITE (a file could not be written), with a message in err. */
int prod_keygen_generate(const char *key_path, const char *cert_path,
                         uint8_t key_id[QUIC_KEY_ID_BYTES], char *err,
                         size_t err_len);

/* Writes len bytes to path atomically: path.tmp is written with the given
 * mode, fsynced and renamed over path, then path's folder is fsynced, so a
 * crash leaves either the old file or the new one. Shared with testnet.c.
 * Returns 0 or P2P_ERR_WRITE with a message naming the file in err. */
int prod_keygen_write_atomic(const char *path, const void *data, size_t len,
                             mode_t mode, char *err, size_t err_len);

/* `p2p-replica keygen --key K --cert C` (argv[0] = "keygen"; flags as
 * prod/cli.h says): makes a new identity, printing its node id on stdout;
 * refuses to replace an existing key file. -h/--help prints usage.
 * Returns the exit status: 0 done, 1 failed, 2 bad flags (a line naming
 * the flag and the usage on stderr). */
int prod_keygen_cmd(int argc, char **argv);

#endif
