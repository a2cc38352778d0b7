/*
 * attest_x509.c: the X.509 and public-key helpers the TEE verifiers share
 * (OpenSSL 3): parsing DER or PEM, checking one signature against an
 * issuer key (RSA-PSS included), validity at a given time, fingerprints.
 *
 * Chains are built by the callers step by step (so each step is a trace
 * entry), never by OpenSSL's store, whose failures cannot say which link
 * broke and which reads the clock.
 *
 * Never: read the clock; accept trailing garbage after a DER object.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attest/trace.h"
#include "attest_internal.h"

static int is_pem(const uint8_t *d, size_t n)
{
    static const char tag[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof(tag) - 1 <= n && i < 64; i++)
        if (memcmp(d + i, tag, sizeof(tag) - 1) == 0)
            return 1;
    return 0;
}

X509 *st_attest_x509_parse(const uint8_t *data, size_t len, const char *what,
                           st_err *err)
{
    X509 *x = NULL;
    if (len > INT32_MAX) {
        st_err_set(err, ST_E_INPUT, "%s: certificate too large", what);
        return NULL;
    }
    if (is_pem(data, len)) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        if (b)
            x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        x = d2i_X509(NULL, &p, (long)len);
        if (x && p != data + len) {
            X509_free(x);
            ERR_clear_error();
            st_err_set(err, ST_E_INPUT,
                       "%s: %zu bytes after the DER certificate", what,
                       (size_t)(data + len - p));
            return NULL;
        }
    }
    if (!x)
        st_err_openssl(err, ST_E_INPUT, "%s: not an X.509 certificate", what);
    return x;
}

STACK_OF(X509) * st_attest_x509_parse_all(const uint8_t *data, size_t len,
                                          const char *what, st_err *err)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (!sk) {
        st_err_set(err, ST_E_IO, "out of memory");
        return NULL;
    }
    if (!is_pem(data, len)) {
        X509 *x = st_attest_x509_parse(data, len, what, err);
        if (!x || !sk_X509_push(sk, x)) {
            X509_free(x);
            sk_X509_free(sk);
            return NULL;
        }
        return sk;
    }
    BIO *b = BIO_new_mem_buf(data, (int)len);
    X509 *x;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    }
    BIO_free(b);
    ERR_clear_error(); /* the end of the PEM stream reads as an error */
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        st_err_set(err, ST_E_INPUT, "%s: no PEM certificate", what);
        return NULL;
    }
    return sk;
}

EVP_PKEY *st_attest_pubkey_parse(const uint8_t *data, size_t len,
                                 const char *what, st_err *err)
{
    EVP_PKEY *k = NULL;
    if (len > INT32_MAX) {
        st_err_set(err, ST_E_INPUT, "%s: key too large", what);
        return NULL;
    }
    if (is_pem(data, len)) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        if (b)
            k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        k = d2i_PUBKEY(NULL, &p, (long)len);
        if (k && p != data + len) {
            EVP_PKEY_free(k);
            ERR_clear_error();
            st_err_set(err, ST_E_INPUT, "%s: bytes after the DER key", what);
            return NULL;
        }
    }
    if (!k)
        st_err_openssl(err, ST_E_INPUT,
                       "%s: not a SubjectPublicKeyInfo public key", what);
    return k;
}

int st_attest_x509_signed_by(X509 *cert, EVP_PKEY *issuer_key)
{
    int ok = X509_verify(cert, issuer_key) == 1;
    ERR_clear_error();
    return ok;
}

int64_t st_attest_asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return INT64_MIN;
    return (int64_t)timegm(&tm);
}

int st_attest_x509_valid_at(X509 *cert, int64_t now, char *win, size_t cap)
{
    int64_t nb = st_attest_asn1_unix(X509_get0_notBefore(cert));
    int64_t na = st_attest_asn1_unix(X509_get0_notAfter(cert));
    char a[32], b[32];
    st_attest_time_str(nb, a);
    st_attest_time_str(na, b);
    if (win)
        snprintf(win, cap, "from %s to %s", a, b);
    return nb != INT64_MIN && na != INT64_MIN && nb <= now && now <= na;
}

int st_attest_trace_validity(st_trace *t, const char *claim, X509 *cert,
                             int64_t now)
{
    char win[80], at[32], exp[48];
    int ok = st_attest_x509_valid_at(cert, now, win, sizeof(win));
    st_attest_time_str(now, at);
    snprintf(exp, sizeof(exp), "valid at %s", at);
    /* a failure reads as one sentence an operator can act on: which time,
     * and the window the certificate actually has */
    return st_trace_addf(t, claim, ok, exp, "%s at %s: valid %s",
                         ok ? "valid" : "not valid", at, win);
}

void st_attest_x509_fingerprint(X509 *cert, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        snprintf(out, 65, "?");
        return;
    }
    st_hex_encode(md, 32, out);
}

void st_attest_x509_cn(X509 *cert, char *out, size_t cap)
{
    out[0] = 0;
    X509_NAME *n = X509_get_subject_name(cert);
    if (n)
        X509_NAME_get_text_by_NID(n, NID_commonName, out, (int)cap);
}

X509_CRL *st_attest_crl_parse(const uint8_t *data, size_t len)
{
    X509_CRL *crl = NULL;
    if (len > INT32_MAX)
        return NULL;
    if (len > 10 && !memcmp(data, "-----BEGIN", 10)) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio)
            crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
        if (crl && p != data + len) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    ERR_clear_error();
    return crl;
}
