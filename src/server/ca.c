/*
 * ca.c: the workspace CA for `sealtrain serve` (include/sealtrain/server.h).
 *
 * Owns <workspace>/keys/tls/: ca.key + ca.crt (Ed25519, self-signed, 10
 * years), server.key + server.crt (Ed25519, SAN localhost/127.0.0.1/::1,
 * 1 year). Client certificates are issued over a principal's *registered*
 * Ed25519 signing key (never a new key), CN = SAN URI suffix = the name,
 * so mTLS proves the same key the CLI's --key proves.
 *
 * Never writes a private key anywhere but a 0600 file through an atomic
 * write; PEM of private keys passes only through OpenSSL secure-memory BIOs
 * (cleared on free). It never issues a certificate for an unknown or
 * disabled principal.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/primitives.h"
#include "sealtrain/access.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/secmem.h"
#include "sealtrain/server.h"
#include "sealtrain/workspace.h"

#define CA_DAYS 3650
#define SERVER_DAYS 365

st_code st_server_tls_path(const st_workspace *ws, const char *file, char *out,
                           size_t cap, st_err *err)
{
    char keys[4096], dir[4096];
    st_code rc = st_workspace_subdir(ws, "keys", keys, sizeof(keys), err);
    if (rc == ST_OK)
        rc = st_fs_join(dir, sizeof(dir), keys, "tls", err);
    if (rc == ST_OK)
        rc = st_fs_mkdir_private(dir, err);
    if (rc == ST_OK && file)
        rc = st_fs_join(out, cap, dir, file, err);
    else if (rc == ST_OK)
        rc = snprintf(out, cap, "%s", dir) < (int)cap
                 ? ST_OK
                 : st_err_set(err, ST_E_INTERNAL, "path too long");
    return rc;
}

/* Writes a PEM produced by `emit` into `path` atomically with `mode`. */
static ST_MUST_CHECK st_code write_pem(const char *path, mode_t mode,
                                       int secret, int (*emit)(BIO *, void *),
                                       void *obj, st_err *err)
{
    BIO *b = BIO_new(secret ? BIO_s_secmem() : BIO_s_mem());
    if (!b || !emit(b, obj)) {
        BIO_free(b);
        return st_err_openssl(err, ST_E_INTERNAL, "%s: encoding PEM", path);
    }
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    st_code rc = st_fs_write_atomic(path, data, (size_t)len, mode, err);
    BIO_free(b); /* secmem BIOs are cleared on free */
    return rc;
}

static int emit_key(BIO *b, void *k)
{
    return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static int emit_cert(BIO *b, void *x)
{
    return PEM_write_bio_X509(b, x);
}

static ST_MUST_CHECK st_code load_key(const char *path, EVP_PKEY **out,
                                      st_err *err)
{
    st_code rc = st_fs_check_private(path, err);
    if (rc != ST_OK)
        return rc;
    BIO *b = BIO_new_file(path, "r");
    *out = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return *out ? ST_OK
                : st_err_openssl(err, ST_E_INPUT, "%s: reading the key", path);
}

static ST_MUST_CHECK st_code load_cert(const char *path, X509 **out,
                                       st_err *err)
{
    BIO *b = BIO_new_file(path, "r");
    *out = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return *out ? ST_OK
                : st_err_openssl(err, ST_E_INPUT, "%s: reading the certificate",
                                 path);
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for `pub` named `cn`, signed by `ca_key` (self-signed when
 * issuer is NULL). `exts` are (nid, value) pairs ending with nid 0. */
static ST_MUST_CHECK st_code make_cert(EVP_PKEY *pub, const char *cn,
                                       X509 *issuer, EVP_PKEY *ca_key,
                                       unsigned days, const int *nids,
                                       const char *const *values, X509 **out,
                                       st_err *err)
{
    X509 *x = X509_new();
    uint8_t serial[16];
    st_code rc = st_random(serial, sizeof(serial), err);
    if (!x || rc != ST_OK) {
        X509_free(x);
        return rc != ST_OK ? rc : st_err_set(err, ST_E_INTERNAL, "X509_new");
    }
    serial[0] &= 0x7f; /* a positive INTEGER */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    X509_NAME *name = X509_get_subject_name(x);
    int ok =
        X509_set_version(x, 2) && bn &&
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
        X509_gmtime_adj(X509_getm_notBefore(x), -300) &&
        X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) &&
        X509_set_pubkey(x, pub) &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1, 0) &&
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    BN_free(bn);
    for (size_t i = 0; ok && nids[i]; i++)
        ok = add_ext(x, issuer ? issuer : x, nids[i], values[i]);
    /* Ed25519 signs the whole TBS: no digest */
    if (ok)
        ok = X509_sign(x, ca_key, NULL) > 0;
    if (!ok) {
        X509_free(x);
        return st_err_openssl(err, ST_E_INTERNAL,
                              "issuing a certificate for %s", cn);
    }
    *out = x;
    return ST_OK;
}

/* An end-entity certificate issued by the workspace CA: not a CA, signing
 * only, for `eku` (clientAuth or serverAuth), with subjectAltName `san`. */
static ST_MUST_CHECK st_code make_leaf(EVP_PKEY *pub, const char *cn, X509 *ca,
                                       EVP_PKEY *ca_key, unsigned days,
                                       const char *eku, const char *san,
                                       X509 **out, st_err *err)
{
    const int nids[] = {NID_basic_constraints,
                        NID_key_usage,
                        NID_ext_key_usage,
                        NID_subject_alt_name,
                        NID_authority_key_identifier,
                        0};
    const char *const vals[] = {"critical,CA:FALSE",
                                "critical,digitalSignature", eku, san,
                                "keyid:always"};
    return make_cert(pub, cn, ca, ca_key, days, nids, vals, out, err);
}

st_code st_server_ca_ensure(st_workspace *ws, st_err *err)
{
    char kpath[4096], cpath[4096];
    st_code rc = st_server_tls_path(ws, "ca.key", kpath, sizeof(kpath), err);
    if (rc == ST_OK)
        rc = st_server_tls_path(ws, "ca.crt", cpath, sizeof(cpath), err);
    if (rc != ST_OK)
        return rc;
    if (st_fs_exists(kpath) && st_fs_exists(cpath))
        return ST_OK;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k)
        return st_err_openssl(err, ST_E_INTERNAL, "CA key generation");
    static const int nids[] = {NID_basic_constraints, NID_key_usage,
                               NID_subject_key_identifier, 0};
    static const char *const vals[] = {"critical,CA:TRUE,pathlen:0",
                                       "critical,keyCertSign,cRLSign", "hash"};
    char cn[128];
    snprintf(cn, sizeof(cn), "sealtrain workspace CA");
    X509 *x = NULL;
    rc = make_cert(k, cn, NULL, k, CA_DAYS, nids, vals, &x, err);
    /* key first: a certificate without its key is useless, the reverse
     * is re-created */
    if (rc == ST_OK)
        rc = write_pem(kpath, 0600, 1, emit_key, k, err);
    if (rc == ST_OK)
        rc = write_pem(cpath, 0644, 0, emit_cert, x, err);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

static ST_MUST_CHECK st_code load_ca(st_workspace *ws, EVP_PKEY **key,
                                     X509 **cert, st_err *err)
{
    char kpath[4096], cpath[4096];
    st_code rc = st_server_ca_ensure(ws, err);
    if (rc == ST_OK)
        rc = st_server_tls_path(ws, "ca.key", kpath, sizeof(kpath), err);
    if (rc == ST_OK)
        rc = st_server_tls_path(ws, "ca.crt", cpath, sizeof(cpath), err);
    if (rc == ST_OK)
        rc = load_key(kpath, key, err);
    if (rc == ST_OK && (rc = load_cert(cpath, cert, err)) != ST_OK) {
        EVP_PKEY_free(*key);
        *key = NULL;
    }
    return rc;
}

st_code st_server_cert_issue(st_workspace *ws, const char *name,
                             const char *dir, unsigned days, st_err *err)
{
    st_principal p;
    st_code rc = st_access_principal_get(ws, name, &p, err);
    if (rc != ST_OK)
        return rc;
    uint8_t pub[32];
    rc = p.disabled
             ? st_err_set(err, ST_E_DENIED,
                          "principal %s is disabled: no certificate", name)
             : st_ed25519_parse_public_pem(p.signing_key, strlen(p.signing_key),
                                           pub, err);
    st_principal_free(&p);
    if (rc != ST_OK)
        return rc;
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL, *x = NULL;
    if (!pk)
        return st_err_openssl(err, ST_E_INTERNAL, "principal %s: key", name);
    if ((rc = load_ca(ws, &ca_key, &ca, err)) != ST_OK) {
        EVP_PKEY_free(pk);
        return rc;
    }
    char san[128];
    snprintf(san, sizeof(san), "URI:sealtrain:principal:%s", name);
    rc = make_leaf(pk, name, ca, ca_key, days ? days : 90, "clientAuth", san,
                   &x, err);
    char path[4096], file[128];
    snprintf(file, sizeof(file), "%s.crt", name);
    if (rc == ST_OK)
        rc = st_fs_join(path, sizeof(path), dir, file, err);
    if (rc == ST_OK)
        rc = write_pem(path, 0644, 0, emit_cert, x, err);
    if (rc == ST_OK)
        rc = st_fs_join(path, sizeof(path), dir, "ca.crt", err);
    if (rc == ST_OK)
        rc = write_pem(path, 0644, 0, emit_cert, ca, err);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(pk);
    return rc;
}

st_code st_server_cert_check_key(const char *cert_path, const char *key_path,
                                 st_err *err)
{
    X509 *x = NULL;
    st_code rc = load_cert(cert_path, &x, err);
    if (rc != ST_OK)
        return rc;
    unsigned char *der = NULL;
    int dl = i2d_X509(x, &der);
    X509_free(x);
    char name[64];
    uint8_t cert_pub[32], key_pub[32];
    rc = dl > 0 ? st_server_cert_principal(der, (size_t)dl, name, cert_pub, err)
                : st_err_openssl(err, ST_E_INPUT, "%s: certificate", cert_path);
    OPENSSL_free(der);
    if (rc != ST_OK)
        return st_err_prefix(err, "%s", cert_path);
    uint8_t *seed = st_secmem_alloc(ST_ED25519_SEED_LEN, err);
    if (!seed)
        return ST_E_IO;
    rc = st_ed25519_load_private_pem(key_path, seed, err);
    if (rc == ST_OK)
        rc = st_ed25519_public(seed, key_pub, err);
    st_secmem_free(seed);
    if (rc != ST_OK)
        return st_err_prefix(err, "the key %s", key_path);
    if (memcmp(cert_pub, key_pub, 32) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "the certificate %s is principal %s's, but the key "
                          "%s is another key: give %s's key with --key, or the "
                          "certificate issued for this key's principal "
                          "(`sealtrain principal cert`)",
                          cert_path, name, key_path, name);
    return ST_OK;
}

/* 1 if the certificate at path is valid for at least another day. */
static int cert_fresh(const char *path)
{
    X509 *x = NULL;
    if (load_cert(path, &x, NULL) != ST_OK)
        return 0;
    time_t t = time(NULL) + 86400;
    int fresh = X509_cmp_time(X509_get0_notAfter(x), &t) > 0;
    X509_free(x);
    return fresh;
}

st_code st_server_cert_ensure(st_workspace *ws, const char *host, st_err *err)
{
    char kpath[4096], cpath[4096];
    st_code rc =
        st_server_tls_path(ws, "server.key", kpath, sizeof(kpath), err);
    if (rc == ST_OK)
        rc = st_server_tls_path(ws, "server.crt", cpath, sizeof(cpath), err);
    if (rc != ST_OK)
        return rc;
    if (st_fs_exists(kpath) && cert_fresh(cpath))
        return ST_OK;
    EVP_PKEY *ca_key = NULL, *k = NULL;
    X509 *ca = NULL, *x = NULL;
    if ((rc = load_ca(ws, &ca_key, &ca, err)) != ST_OK)
        return rc;
    /* a renewal keeps the key: dataset manifests pin the broker by the
     * SHA-256 of its SubjectPublicKeyInfo (docs/api.md "Pinning") */
    if (st_fs_exists(kpath) && load_key(kpath, &k, NULL) != ST_OK)
        k = NULL;
    if (!k)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char san[512];
    int n = snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1");
    if (host && *host) {
        /* an address or a name; anything else is refused by OpenSSL */
        unsigned char a[16];
        int is_ip = inet_pton(AF_INET, host, a) == 1 ||
                    inet_pton(AF_INET6, host, a) == 1;
        snprintf(san + n, sizeof(san) - (size_t)n, ",%s:%s",
                 is_ip ? "IP" : "DNS", host);
    }
    rc = k ? make_leaf(k, "sealtrain serve", ca, ca_key, SERVER_DAYS,
                       "serverAuth", san, &x, err)
           : st_err_openssl(err, ST_E_INTERNAL, "server key generation");
    if (rc == ST_OK)
        rc = write_pem(kpath, 0600, 1, emit_key, k, err);
    if (rc == ST_OK)
        rc = write_pem(cpath, 0644, 0, emit_cert, x, err);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(k);
    EVP_PKEY_free(ca_key);
    return rc;
}

st_code st_server_cert_principal(const uint8_t *der, size_t len, char name[64],
                                 uint8_t pub[32], st_err *err)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x)
        return st_err_openssl(err, ST_E_INPUT, "client certificate: not DER");
    st_code rc = ST_OK;
    EVP_PKEY *k = X509_get0_pubkey(x);
    size_t publen = 32;
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519 ||
        !EVP_PKEY_get_raw_public_key(k, pub, &publen) || publen != 32)
        rc = st_err_set(err, ST_E_DENIED,
                        "client certificate: the key is not Ed25519 (a "
                        "principal's signing key)");
    int idx = rc == ST_OK ? X509_NAME_get_index_by_NID(X509_get_subject_name(x),
                                                       NID_commonName, -1)
                          : -1;
    if (rc == ST_OK && idx < 0)
        rc = st_err_set(err, ST_E_DENIED, "client certificate: no CN");
    if (rc == ST_OK) {
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(
            X509_NAME_get_entry(X509_get_subject_name(x), idx));
        int sl = ASN1_STRING_length(s);
        const unsigned char *sd = ASN1_STRING_get0_data(s);
        if (sl <= 0 || sl >= 64 || memchr(sd, 0, (size_t)sl)) {
            rc = st_err_set(err, ST_E_DENIED,
                            "client certificate: CN is not a principal name");
        } else {
            memcpy(name, sd, (size_t)sl);
            name[sl] = 0;
            if (!st_access_name_valid(name))
                rc = st_err_set(err, ST_E_DENIED,
                                "client certificate: CN \"%.63s\" is not a "
                                "principal name",
                                name);
        }
    }
    X509_free(x);
    return rc;
}
