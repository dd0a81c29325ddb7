/* Test certificates built with GnuTLS, good and bad in one way each, for
 * the certificate checks (test_prod_identity.c) and the handshakes that
 * must refuse them (test_prod_transport.c). Header-only: static helpers
 * of the including suite. */
#ifndef P2P_TESTS_CERT_HARNESS_H
#define P2P_TESTS_CERT_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* 2000-01-01T00:00:00Z and 2001-01-01T00:00:00Z. */
#define CERT_2000_S 946684800LL
#define CERT_2001_S 978307200LL

/* How to make a certificate; zero fields are the good defaults. */
struct cert_opts {
    int64_t not_before, not_after; /* seconds since the epoch */
    bool no_expiry;          /* notAfter 99991231235959Z */
    int version;             /* 0 = 3 */
    bool ecdsa;              /* an ECDSA P-256 key instead of Ed25519 */
    bool other_signer;       /* signed by another key (same names) */
    bool other_issuer;       /* issuer name differs from the subject */
    bool flip_signature;     /* one bit of the signature flipped */
};

static gnutls_x509_privkey_t cert_new_key(bool ecdsa)
{
    gnutls_x509_privkey_t k;
    ck_assert_int_ge(gnutls_x509_privkey_init(&k), 0);
    if (ecdsa)
        ck_assert_int_ge(
            gnutls_x509_privkey_generate(
                k, GNUTLS_PK_ECDSA,
                GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
            0);
    else
        ck_assert_int_ge(
            gnutls_x509_privkey_generate(
                k, GNUTLS_PK_EDDSA_ED25519,
                GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519), 0),
            0);
    return k;
}

static void cert_set_cn(gnutls_x509_crt_t crt, const char *cn, bool issuer)
{
    if (issuer)
        ck_assert_int_ge(gnutls_x509_crt_set_issuer_dn_by_oid(
                             crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                             (unsigned)strlen(cn)),
                         0);
    else
        ck_assert_int_ge(gnutls_x509_crt_set_dn_by_oid(
                             crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                             (unsigned)strlen(cn)),
                         0);
}

/* A certificate of key (borrowed) as o says; the caller deinits it. */
static gnutls_x509_crt_t cert_make(gnutls_x509_privkey_t key,
                                   const struct cert_opts *o)
{
    gnutls_x509_crt_t crt;
    ck_assert_int_ge(gnutls_x509_crt_init(&crt), 0);
    ck_assert_int_ge(
        gnutls_x509_crt_set_version(crt, o->version ? (unsigned)o->version : 3),
        0);
    ck_assert_int_ge(gnutls_x509_crt_set_serial(crt, "\x42\x01", 2), 0);
    ck_assert_int_ge(
        gnutls_x509_crt_set_activation_time(crt, (time_t)o->not_before), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(
                         crt, o->no_expiry ? (time_t)-1
                                           : (time_t)o->not_after),
                     0);
    cert_set_cn(crt, "p2p-replica", false);
    ck_assert_int_ge(gnutls_x509_crt_set_key(crt, key), 0);
    if (o->version == 0 || o->version == 3)
        ck_assert_int_ge(gnutls_x509_crt_set_key_usage(
                             crt, GNUTLS_KEY_DIGITAL_SIGNATURE),
                         0);
    gnutls_x509_privkey_t signer = key;
    if (o->other_signer)
        signer = cert_new_key(o->ecdsa);
    gnutls_x509_crt_t issuer = crt;
    if (o->other_issuer) {
        /* An issuer certificate of the same key under another name. */
        ck_assert_int_ge(gnutls_x509_crt_init(&issuer), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_version(issuer, 3), 0);
        ck_assert_int_ge(gnutls_x509_crt_set_serial(issuer, "\x07", 1), 0);
        cert_set_cn(issuer, "someone-else", false);
        ck_assert_int_ge(gnutls_x509_crt_set_key(issuer, key), 0);
    }
    ck_assert_int_ge(gnutls_x509_crt_sign2(crt, issuer, signer,
                                           o->ecdsa ? GNUTLS_DIG_SHA256
                                                    : GNUTLS_DIG_UNKNOWN,
                                           0),
                     0);
    if (o->other_issuer)
        gnutls_x509_crt_deinit(issuer);
    if (signer != key)
        gnutls_x509_privkey_deinit(signer);
    /* Through DER, as a peer's certificate arrives (GnuTLS reads some
     * fields of a certificate it signed from its own cache); the
     * signature is the DER's last bytes. */
    gnutls_datum_t der;
    ck_assert_int_ge(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der),
                     0);
    if (o->flip_signature)
        der.data[der.size - 5] ^= 0x01;
    gnutls_x509_crt_deinit(crt);
    ck_assert_int_ge(gnutls_x509_crt_init(&crt), 0);
    ck_assert_int_ge(gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER),
                     0);
    gnutls_free(der.data);
    return crt;
}

#endif
