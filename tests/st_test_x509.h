/*
 * st_test_x509.h: a self-signed certificate for unit tests that need one
 * (a peer's TLS certificate, a client certificate to identify).
 */
#ifndef ST_TEST_X509_H
#define ST_TEST_X509_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "st_test.h"

/* Version 3, serial 1, valid for an hour from now, subject and issuer
 * CN=`cn`, key `k`, signed by `k` (SHA-256 unless Ed25519, which has its
 * own digest). X509_free it. */
static inline X509 *st_test_self_signed(EVP_PKEY *k, const char *cn)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, k,
                          EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519
                              ? NULL
                              : EVP_sha256()) > 0);
    return x;
}

#endif
