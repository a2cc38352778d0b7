/*
 * sealtrain/crypto.h: the primitives sealtrain's callers use, on OpenSSL 3:
 * random bytes, SHA-256, Ed25519 keys and their PEM files. The rest
 * (incremental SHA-256, HMAC, HKDF, scrypt, X25519, Ed25519 signatures,
 * ChaCha20-Poly1305) is the library's own: src/crypto/primitives.h.
 *
 * Fixed-size keys are plain byte arrays; private keys and derived secrets
 * should sit in secure memory (st_secret / st_secmem_alloc) chosen by the
 * caller. Functions never log and never keep copies of key material:
 * OpenSSL objects made from keys are freed (and so wiped) before return.
 */
#ifndef SEALTRAIN_CRYPTO_H
#define SEALTRAIN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_SHA256_LEN 32
#define ST_X25519_LEN 32
#define ST_ED25519_SEED_LEN 32
#define ST_ED25519_PUB_LEN 32
#define ST_ED25519_SIG_LEN 64
/* A key id: the hex SHA-256 of an Ed25519 public key (st_dsse_keyid). */
#define ST_KEYID_LEN 64 /* hex characters, without NUL */
#define ST_AEAD_KEY_LEN 32
#define ST_AEAD_NONCE_LEN 12
#define ST_AEAD_TAG_LEN 16

ST_MUST_CHECK st_code st_random(void *out, size_t n, st_err *err);

/* SHA-256 of a buffer. It allocates nothing and cannot fail. */
void st_sha256(const void *data, size_t len, uint8_t out[ST_SHA256_LEN]);
/* SHA-256 of a file, streamed. */
ST_MUST_CHECK st_code st_sha256_file(const char *path,
                                     uint8_t out[ST_SHA256_LEN], st_err *err);

/* Ed25519 (RFC 8032), keys as 32-byte seeds and public keys. */
ST_MUST_CHECK st_code st_ed25519_public(const uint8_t seed[ST_ED25519_SEED_LEN],
                                        uint8_t pub[ST_ED25519_PUB_LEN],
                                        st_err *err);
/* Ed25519 keys in PEM (PKCS#8 private, SubjectPublicKeyInfo public). The
 * seed goes into caller-provided (secure) memory. */
ST_MUST_CHECK st_code st_ed25519_load_private_pem(
    const char *path, uint8_t seed[ST_ED25519_SEED_LEN], st_err *err);
ST_MUST_CHECK st_code st_ed25519_load_public_pem(
    const char *path, uint8_t pub[ST_ED25519_PUB_LEN], st_err *err);
/* PEM text of a public key, malloc'ed. */
char *st_ed25519_public_pem(const uint8_t pub[ST_ED25519_PUB_LEN], st_err *err);
#ifdef __cplusplus
}
#endif
#endif
