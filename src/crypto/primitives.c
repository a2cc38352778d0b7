/*
 * primitives.c: SHA-256, HMAC, HKDF, scrypt, X25519, Ed25519 and
 * ChaCha20-Poly1305 on OpenSSL 3's EVP interfaces (see crypto.h).
 *
 * Must never log or keep key material: every EVP_PKEY / context made from
 * a key is freed before return (OpenSSL wipes key data on free).
 */
#include "crypto/primitives.h"
#include "sealtrain/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sealtrain/bytes.h"
#include "sealtrain/secmem.h"

st_code st_random(void *out, size_t n, st_err *err)
{
    if (n > INT32_MAX || RAND_bytes(out, (int)n) != 1)
        return st_err_openssl(err, ST_E_INTERNAL, "random number generator");
    return ST_OK;
}

st_code st_hmac_sha256(const void *key, size_t klen, const void *data,
                       size_t len, uint8_t out[ST_SHA256_LEN], st_err *err)
{
    size_t outlen = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, klen, data, len,
                   out, ST_SHA256_LEN, &outlen))
        return st_err_openssl(err, ST_E_INTERNAL, "HMAC-SHA256");
    return ST_OK;
}

st_code st_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt,
                       size_t saltlen, const void *info, size_t infolen,
                       void *out, size_t outlen, st_err *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!ctx)
        return st_err_openssl(err, ST_E_INTERNAL, "HKDF unavailable");
    static const uint8_t empty[1];
    OSSL_PARAM params[5], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
                                             ikmlen);
    *p++ = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, saltlen ? (void *)salt : (void *)empty, saltlen);
    *p++ = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, infolen ? (void *)info : (void *)empty, infolen);
    *p = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(ctx, out, outlen, params);
    EVP_KDF_CTX_free(ctx);
    if (ok != 1)
        return st_err_openssl(err, ST_E_INTERNAL, "HKDF-SHA256");
    return ST_OK;
}

st_code st_scrypt(const void *pass, size_t passlen, const void *salt,
                  size_t saltlen, unsigned log2n, unsigned r, unsigned p,
                  void *out, size_t outlen, st_err *err)
{
    if (log2n == 0 || log2n > 30)
        return st_err_set(err, ST_E_INPUT, "scrypt work factor %u out of range",
                          log2n);
    uint64_t n = (uint64_t)1 << log2n;
    /* OpenSSL's default memory cap (32 MiB) is too low for strong
     * parameters: allow what N and r need, plus slack. */
    uint64_t maxmem = 128ull * r * (n + p + 2) + (1u << 20);
    if (EVP_PBE_scrypt(pass, passlen, salt, saltlen, n, r, p, maxmem, out,
                       outlen) != 1)
        return st_err_openssl(err, ST_E_INTERNAL, "scrypt");
    return ST_OK;
}

static EVP_PKEY *raw_private(int type, const uint8_t *k, st_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(type, NULL, k, 32);
    if (!pk)
        st_err_openssl(err, ST_E_INPUT, "invalid private key");
    return pk;
}

static EVP_PKEY *raw_public(int type, const uint8_t *k, st_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(type, NULL, k, 32);
    if (!pk)
        st_err_openssl(err, ST_E_INPUT, "invalid public key");
    return pk;
}

static ST_MUST_CHECK st_code public_of(int type, const uint8_t *priv,
                                       uint8_t *pub, st_err *err)
{
    EVP_PKEY *pk = raw_private(type, priv, err);
    if (!pk)
        return err ? err->code : ST_E_INPUT;
    size_t len = 32;
    int ok = EVP_PKEY_get_raw_public_key(pk, pub, &len);
    EVP_PKEY_free(pk);
    if (ok != 1 || len != 32)
        return st_err_openssl(err, ST_E_INTERNAL, "derive public key");
    return ST_OK;
}

st_code st_x25519_public(const uint8_t priv[32], uint8_t pub[32], st_err *err)
{
    return public_of(EVP_PKEY_X25519, priv, pub, err);
}

st_code st_x25519(const uint8_t priv[32], const uint8_t peer[32],
                  uint8_t shared[32], st_err *err)
{
    return st_x25519_pair(priv, peer, NULL, shared, err);
}

st_code st_x25519_pair(const uint8_t priv[32], const uint8_t peer[32],
                       uint8_t pub[32], uint8_t shared[32], st_err *err)
{
    st_code rc = ST_OK;
    EVP_PKEY *a = raw_private(EVP_PKEY_X25519, priv, err);
    size_t plen = 32;
    /* the import computed the public key already (a scalar multiplication
     * as costly as the agreement): hand it out instead of a second import */
    if (a && pub &&
        (EVP_PKEY_get_raw_public_key(a, pub, &plen) != 1 || plen != 32)) {
        EVP_PKEY_free(a);
        return st_err_openssl(err, ST_E_INTERNAL, "derive public key");
    }
    EVP_PKEY *b = a ? raw_public(EVP_PKEY_X25519, peer, err) : NULL;
    EVP_PKEY_CTX *ctx = b ? EVP_PKEY_CTX_new(a, NULL) : NULL;
    size_t len = 32;
    if (!a || !b)
        rc = err ? err->code : ST_E_INPUT;
    else if (!ctx || EVP_PKEY_derive_init(ctx) != 1 ||
             EVP_PKEY_derive_set_peer(ctx, b) != 1 ||
             EVP_PKEY_derive(ctx, shared, &len) != 1 || len != 32)
        /* OpenSSL refuses an all-zero result (low-order point) here */
        rc = st_err_openssl(err, ST_E_DENIED,
                            "X25519 with this public key failed "
                            "(low-order point?)");
    else {
        static const uint8_t zero[32];
        if (st_ct_equal(shared, zero, 32))
            rc = st_err_set(err, ST_E_DENIED,
                            "X25519 shared secret is all zero");
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    return rc;
}

st_code st_ed25519_public(const uint8_t seed[32], uint8_t pub[32], st_err *err)
{
    return public_of(EVP_PKEY_ED25519, seed, pub, err);
}

st_code st_ed25519_sign(const uint8_t seed[32], const void *msg, size_t len,
                        uint8_t sig[64], st_err *err)
{
    EVP_PKEY *pk = raw_private(EVP_PKEY_ED25519, seed, err);
    if (!pk)
        return err ? err->code : ST_E_INPUT;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t siglen = 64;
    int ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestSign(md, sig, &siglen, msg, len) == 1 && siglen == 64;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    if (!ok)
        return st_err_openssl(err, ST_E_INTERNAL, "Ed25519 signing");
    return ST_OK;
}

/*
 * Signatures already found valid. Ed25519 verification is a pure function
 * of (key, message, signature), and the same signed documents (a job spec,
 * a release policy, a manifest) are verified again at every use: each key
 * release verified about six signatures, five of them seen before. A
 * signature found valid is remembered by the SHA-256 of key, signature and
 * the message's SHA-256; only valid ones are, so a forgery is checked in
 * full every time, and who may sign (the registered key) is still decided
 * by the caller at each use. Direct-mapped, a fixed size, one lock.
 */
#define VERIFIED_SLOTS 256
static struct {
    pthread_mutex_t lock;
    uint8_t seen[VERIFIED_SLOTS][32];
    uint8_t used[VERIFIED_SLOTS];
} verified = {.lock = PTHREAD_MUTEX_INITIALIZER};

static unsigned verified_key(const uint8_t pub[32], const void *msg, size_t len,
                             const uint8_t sig[64], uint8_t key[32])
{
    uint8_t buf[32 + 64 + 32];
    memcpy(buf, pub, 32);
    memcpy(buf + 32, sig, 64);
    st_sha256(msg, len, buf + 96);
    st_sha256(buf, sizeof(buf), key);
    return ((unsigned)key[0] << 8 | key[1]) % VERIFIED_SLOTS;
}

static int verified_has(unsigned slot, const uint8_t key[32])
{
    pthread_mutex_lock(&verified.lock);
    int hit = verified.used[slot] && !memcmp(verified.seen[slot], key, 32);
    pthread_mutex_unlock(&verified.lock);
    return hit;
}

static void verified_put(unsigned slot, const uint8_t key[32])
{
    pthread_mutex_lock(&verified.lock);
    memcpy(verified.seen[slot], key, 32);
    verified.used[slot] = 1;
    pthread_mutex_unlock(&verified.lock);
}

/*
 * Public keys already imported. The same few keys verify again and again
 * (the sim platform's key on every piece of evidence, the owners' and
 * submitters' keys), and importing one into OpenSSL cost as much as a
 * fifth of the verification itself. A key is looked up by its 32 bytes
 * (compared in full); each user holds its own reference.
 */
#define PUBKEY_SLOTS 16
static struct {
    pthread_mutex_t lock;
    uint8_t pub[PUBKEY_SLOTS][32];
    EVP_PKEY *pk[PUBKEY_SLOTS];
} pubkeys = {.lock = PTHREAD_MUTEX_INITIALIZER};

static EVP_PKEY *ed25519_public(const uint8_t pub[32], st_err *err)
{
    unsigned slot = ((unsigned)pub[0] << 8 | pub[1]) % PUBKEY_SLOTS;
    EVP_PKEY *pk = NULL;
    pthread_mutex_lock(&pubkeys.lock);
    if (pubkeys.pk[slot] && !memcmp(pubkeys.pub[slot], pub, 32) &&
        EVP_PKEY_up_ref(pubkeys.pk[slot]) == 1)
        pk = pubkeys.pk[slot];
    pthread_mutex_unlock(&pubkeys.lock);
    if (pk)
        return pk;
    if (!(pk = raw_public(EVP_PKEY_ED25519, pub, err)))
        return NULL;
    if (EVP_PKEY_up_ref(pk) == 1) {
        pthread_mutex_lock(&pubkeys.lock);
        EVP_PKEY_free(pubkeys.pk[slot]);
        memcpy(pubkeys.pub[slot], pub, 32);
        pubkeys.pk[slot] = pk;
        pthread_mutex_unlock(&pubkeys.lock);
    }
    return pk;
}

st_code st_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len,
                          const uint8_t sig[64], st_err *err)
{
    uint8_t key[32];
    unsigned slot = verified_key(pub, msg, len, sig, key);
    if (verified_has(slot, key))
        return ST_OK;
    EVP_PKEY *pk = ed25519_public(pub, err);
    if (!pk)
        return err ? err->code : ST_E_INPUT;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(md, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    if (!ok)
        return st_err_set(err, ST_E_DENIED, "Ed25519 signature is not valid");
    verified_put(slot, key);
    return ST_OK;
}

static ST_MUST_CHECK st_code pkey_ed25519(EVP_PKEY *pk, const char *what,
                                          st_err *err)
{
    if (!pk && st_openssl_out_of_memory())
        return st_err_openssl(err, ST_E_IO, "%s: reading the PEM key", what);
    if (!pk)
        return st_err_openssl(err, ST_E_INPUT, "%s: not a PEM key", what);
    if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pk);
        return st_err_set(err, ST_E_INPUT, "%s: not an Ed25519 key (type %s)",
                          what, OBJ_nid2sn(EVP_PKEY_get_id(pk)));
    }
    return ST_OK;
}

st_code st_ed25519_load_private_pem(const char *path, uint8_t seed[32],
                                    st_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "cannot open signing key %s", path);
    EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (pkey_ed25519(pk, path, err) != ST_OK)
        return err ? err->code : ST_E_INPUT;
    size_t len = 32;
    int ok = EVP_PKEY_get_raw_private_key(pk, seed, &len);
    EVP_PKEY_free(pk);
    if (ok != 1 || len != 32)
        return st_err_openssl(err, ST_E_INPUT, "%s: unreadable Ed25519 key",
                              path);
    return ST_OK;
}

static ST_MUST_CHECK st_code pub_from_pkey(EVP_PKEY *pk, uint8_t pub[32],
                                           const char *what, st_err *err)
{
    if (pkey_ed25519(pk, what, err) != ST_OK)
        return err ? err->code : ST_E_INPUT;
    size_t len = 32;
    int ok = EVP_PKEY_get_raw_public_key(pk, pub, &len);
    EVP_PKEY_free(pk);
    if (ok != 1 || len != 32)
        return st_err_openssl(err, ST_E_INPUT, "%s: unreadable Ed25519 key",
                              what);
    return ST_OK;
}

st_code st_ed25519_load_public_pem(const char *path, uint8_t pub[32],
                                   st_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "cannot open public key %s", path);
    /* A private key file is accepted too: its public half is used. */
    EVP_PKEY *pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!pk) {
        ERR_clear_error();
        rewind(f);
        pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    }
    fclose(f);
    return pub_from_pkey(pk, pub, path, err);
}

/* The common case without OpenSSL's decoder framework, which costs
 * ~100 us per key (a broker checks a job spec's signer on every HELLO):
 * an Ed25519 SubjectPublicKeyInfo is always these 12 DER bytes followed
 * by the key (RFC 8410 section 4), 60 base64 characters between the PEM
 * markers. Anything else (other text layout, other algorithm) returns 0
 * and goes to OpenSSL, which also names what is wrong. */
static int ed25519_pem_fast(const char *pem, size_t len, uint8_t pub[32])
{
    static const char begin[] = "-----BEGIN PUBLIC KEY-----";
    static const char end[] = "-----END PUBLIC KEY-----";
    static const uint8_t spki[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                     0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    const char *b = memmem(pem, len, begin, sizeof(begin) - 1);
    if (!b)
        return 0;
    b += sizeof(begin) - 1;
    const char *e = memmem(b, len - (size_t)(b - pem), end, sizeof(end) - 1);
    if (!e)
        return 0;
    char body[64];
    size_t n = 0;
    for (const char *c = b; c < e; c++) {
        if (*c == '\n' || *c == '\r')
            continue;
        if (n == sizeof(body))
            return 0;
        body[n++] = *c;
    }
    uint8_t *der = NULL;
    size_t dlen = 0;
    int ok = n == 60 &&
             st_base64_decode(body, n, 1, &der, &dlen, NULL) == ST_OK &&
             dlen == 44 && memcmp(der, spki, 12) == 0;
    if (ok)
        memcpy(pub, der + 12, 32);
    free(der);
    return ok;
}

st_code st_ed25519_parse_public_pem(const char *pem, size_t len,
                                    uint8_t pub[32], st_err *err)
{
    if (ed25519_pem_fast(pem, len, pub))
        return ST_OK;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return pub_from_pkey(pk, pub, "public key", err);
}

static char *bio_text(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    if (s) {
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
    }
    return s;
}

char *st_ed25519_private_pem(const uint8_t seed[32], st_err *err)
{
    EVP_PKEY *pk = raw_private(EVP_PKEY_ED25519, seed, err);
    if (!pk)
        return NULL;
    /* A memory BIO holds the PEM briefly; the caller writes it to a 0600
     * file. The text is a secret: callers wipe it before free. */
    BIO *b = BIO_new(BIO_s_secmem());
    if (!b)
        b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b && PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) == 1)
        s = bio_text(b);
    else
        st_err_openssl(err, ST_E_INTERNAL, "cannot encode the private key");
    BIO_free(b);
    EVP_PKEY_free(pk);
    return s;
}

char *st_ed25519_public_pem(const uint8_t pub[32], st_err *err)
{
    EVP_PKEY *pk = raw_public(EVP_PKEY_ED25519, pub, err);
    if (!pk)
        return NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b && PEM_write_bio_PUBKEY(b, pk) == 1)
        s = bio_text(b);
    else
        st_err_openssl(err, ST_E_INTERNAL, "cannot encode the public key");
    BIO_free(b);
    EVP_PKEY_free(pk);
    return s;
}

static ST_MUST_CHECK st_code aead(int enc, const uint8_t key[32],
                                  const uint8_t nonce[12], const void *aad,
                                  size_t aadlen, const uint8_t *in, size_t len,
                                  uint8_t *out, uint8_t *tag, st_err *err)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = c != NULL;
    ok = ok && EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL,
                                 enc) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1;
    ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1;
    if (ok && aadlen)
        ok = EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) == 1;
    if (ok && len)
        ok = EVP_CipherUpdate(c, out, &n, in, (int)len) == 1;
    int fin = ok && EVP_CipherFinal_ex(c, out + len, &n) == 1;
    if (fin && enc)
        fin = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        return st_err_openssl(err, ST_E_INTERNAL, "ChaCha20-Poly1305");
    if (!fin) {
        ERR_clear_error();
        if (!enc) {
            st_wipe(out, len);
            return st_err_set(err, ST_E_DENIED,
                              "authentication tag does not match (data "
                              "altered or wrong key)");
        }
        return st_err_set(err, ST_E_INTERNAL, "ChaCha20-Poly1305 final");
    }
    return ST_OK;
}

st_code st_aead_seal(const uint8_t key[32], const uint8_t nonce[12],
                     const void *aad, size_t aadlen, const void *in, size_t len,
                     uint8_t *out, st_err *err)
{
    if (len > INT32_MAX || aadlen > INT32_MAX)
        return st_err_set(err, ST_E_INTERNAL, "AEAD input too long");
    return aead(1, key, nonce, aad, aadlen, in, len, out, out + len, err);
}

st_code st_aead_open(const uint8_t key[32], const uint8_t nonce[12],
                     const void *aad, size_t aadlen, const uint8_t *in,
                     size_t len_with_tag, uint8_t *out, st_err *err)
{
    if (len_with_tag < 16)
        return st_err_set(err, ST_E_INPUT, "ciphertext shorter than its tag");
    if (len_with_tag > INT32_MAX || aadlen > INT32_MAX)
        return st_err_set(err, ST_E_INTERNAL, "AEAD input too long");
    size_t len = len_with_tag - 16;
    uint8_t tag[16];
    memcpy(tag, in + len, 16);
    return aead(0, key, nonce, aad, aadlen, in, len, out, tag, err);
}
