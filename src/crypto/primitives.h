/*
 * primitives.h (src/crypto): the primitives the library's modules use
 * besides those of sealtrain/crypto.h (whose rules hold here too: keys
 * are byte arrays the caller keeps in secure memory, nothing is logged,
 * OpenSSL objects made from keys are freed before return).
 */
#ifndef SEALTRAIN_CRYPTO_PRIMITIVES_H
#define SEALTRAIN_CRYPTO_PRIMITIVES_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/crypto.h"
#include "sealtrain/err.h"

/* Incremental SHA-256 in a context the caller owns (on the stack, or in
 * a struct): init, update and final allocate nothing and cannot fail.
 * st_sha256_new is the same context from the heap: NULL (errno ENOMEM)
 * when memory for it cannot be had, which callers report as out of
 * memory (ST_E_IO); st_sha256_free frees it. */
typedef struct st_sha256_ctx {
    unsigned long long state[16]; /* OpenSSL's SHA256_CTX */
} st_sha256_ctx;
void st_sha256_init(st_sha256_ctx *c);
void st_sha256_update(st_sha256_ctx *c, const void *data, size_t len);
void st_sha256_final(st_sha256_ctx *c, uint8_t out[ST_SHA256_LEN]);
ST_MUST_CHECK st_sha256_ctx *st_sha256_new(void);
void st_sha256_free(st_sha256_ctx *c);
ST_MUST_CHECK st_code st_hmac_sha256(const void *key, size_t klen,
                                     const void *data, size_t len,
                                     uint8_t out[ST_SHA256_LEN], st_err *err);
ST_MUST_CHECK st_code st_hkdf_sha256(const void *ikm, size_t ikmlen,
                                     const void *salt, size_t saltlen,
                                     const void *info, size_t infolen,
                                     void *out, size_t outlen, st_err *err);
/* scrypt (RFC 7914) with N = 2^log2n. */
ST_MUST_CHECK st_code st_scrypt(const void *pass, size_t passlen,
                                const void *salt, size_t saltlen,
                                unsigned log2n, unsigned r, unsigned p,
                                void *out, size_t outlen, st_err *err);

/* X25519 (RFC 7748). st_x25519 fails on an all-zero shared secret. */
ST_MUST_CHECK st_code st_x25519_public(const uint8_t priv[ST_X25519_LEN],
                                       uint8_t pub[ST_X25519_LEN], st_err *err);
ST_MUST_CHECK st_code st_x25519(const uint8_t priv[ST_X25519_LEN],
                                const uint8_t peer[ST_X25519_LEN],
                                uint8_t shared[ST_X25519_LEN], st_err *err);
/* st_x25519 that also returns priv's public key (as st_x25519_public)
 * from the same key import: one scalar multiplication fewer than the two
 * calls. */
ST_MUST_CHECK st_code st_x25519_pair(const uint8_t priv[ST_X25519_LEN],
                                     const uint8_t peer[ST_X25519_LEN],
                                     uint8_t pub[ST_X25519_LEN],
                                     uint8_t shared[ST_X25519_LEN],
                                     st_err *err);

/* Ed25519 (RFC 8032) signatures; keys as in sealtrain/crypto.h. */
ST_MUST_CHECK st_code st_ed25519_sign(const uint8_t seed[ST_ED25519_SEED_LEN],
                                      const void *msg, size_t len,
                                      uint8_t sig[ST_ED25519_SIG_LEN],
                                      st_err *err);
/* ST_OK if valid, ST_E_DENIED if not. */
ST_MUST_CHECK st_code st_ed25519_verify(const uint8_t pub[ST_ED25519_PUB_LEN],
                                        const void *msg, size_t len,
                                        const uint8_t sig[ST_ED25519_SIG_LEN],
                                        st_err *err);

/* The private key as PEM (PKCS#8) text, malloc'ed. */
char *st_ed25519_private_pem(const uint8_t seed[ST_ED25519_SEED_LEN],
                             st_err *err);
/* Parses PEM text of a public key (as stored in a catalog). */
ST_MUST_CHECK st_code st_ed25519_parse_public_pem(
    const char *pem, size_t len, uint8_t pub[ST_ED25519_PUB_LEN], st_err *err);

/* ChaCha20-Poly1305 (RFC 8439). seal writes len bytes of ciphertext and
 * then the 16-byte tag to `out` (len + 16 bytes). open checks the tag in
 * constant time and writes nothing useful on failure (ST_E_DENIED). */
ST_MUST_CHECK st_code st_aead_seal(const uint8_t key[ST_AEAD_KEY_LEN],
                                   const uint8_t nonce[ST_AEAD_NONCE_LEN],
                                   const void *aad, size_t aadlen,
                                   const void *in, size_t len, uint8_t *out,
                                   st_err *err);
ST_MUST_CHECK st_code st_aead_open(const uint8_t key[ST_AEAD_KEY_LEN],
                                   const uint8_t nonce[ST_AEAD_NONCE_LEN],
                                   const void *aad, size_t aadlen,
                                   const uint8_t *in, size_t len_with_tag,
                                   uint8_t *out, st_err *err);

/* A ChaCha20-Poly1305 context kept for many messages under one key (one
 * per thread): the key schedule and the OpenSSL context are set up once,
 * each message only sets its nonce. No AAD. in == out is allowed. seal
 * writes len bytes and the 16-byte tag; open returns ST_E_DENIED (output
 * wiped) when the tag does not match. */
typedef struct st_aead_ctx st_aead_ctx;
st_aead_ctx *st_aead_ctx_new(const uint8_t key[ST_AEAD_KEY_LEN], st_err *err);
ST_MUST_CHECK st_code st_aead_ctx_seal(st_aead_ctx *c,
                                       const uint8_t nonce[ST_AEAD_NONCE_LEN],
                                       const uint8_t *in, size_t len,
                                       uint8_t *out, st_err *err);
ST_MUST_CHECK st_code st_aead_ctx_open(st_aead_ctx *c,
                                       const uint8_t nonce[ST_AEAD_NONCE_LEN],
                                       const uint8_t *in, size_t len_with_tag,
                                       uint8_t *out, st_err *err);
void st_aead_ctx_free(st_aead_ctx *c);

#endif
