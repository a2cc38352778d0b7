/*
 * aead_ctx.c: a reusable ChaCha20-Poly1305 (RFC 8439) context for bulk
 * data (age STREAM chunks): one EVP_CIPHER_CTX per key and thread, re-keyed
 * with a fresh nonce per message, so that the per-chunk cost is the cipher
 * and not OpenSSL's context set-up.
 *
 * Must never release unauthenticated plaintext: open wipes its output when
 * the tag does not match. The key lives only inside the OpenSSL context,
 * which OpenSSL clears when it is freed.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/primitives.h"
#include "sealtrain/crypto.h"
#include "sealtrain/secmem.h"

struct st_aead_ctx {
    EVP_CIPHER_CTX *evp;
};

st_aead_ctx *st_aead_ctx_new(const uint8_t key[ST_AEAD_KEY_LEN], st_err *err)
{
    st_aead_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        st_err_set(err, ST_E_IO, "out of memory");
        return NULL;
    }
    c->evp = EVP_CIPHER_CTX_new();
    static const uint8_t zero_nonce[ST_AEAD_NONCE_LEN];
    if (!c->evp || EVP_CipherInit_ex(c->evp, EVP_chacha20_poly1305(), NULL, key,
                                     zero_nonce, 1) != 1) {
        st_err_openssl(err, ST_E_INTERNAL, "ChaCha20-Poly1305 context");
        st_aead_ctx_free(c);
        return NULL;
    }
    return c;
}

void st_aead_ctx_free(st_aead_ctx *c)
{
    if (!c)
        return;
    EVP_CIPHER_CTX_free(c->evp);
    free(c);
}

st_code st_aead_ctx_seal(st_aead_ctx *c, const uint8_t nonce[ST_AEAD_NONCE_LEN],
                         const uint8_t *in, size_t len, uint8_t *out,
                         st_err *err)
{
    int n = 0;
    if (len > INT32_MAX)
        return st_err_set(err, ST_E_INTERNAL, "AEAD message too long");
    /* key NULL: keep the key schedule, only reset nonce and MAC state */
    if (EVP_CipherInit_ex(c->evp, NULL, NULL, NULL, nonce, 1) != 1 ||
        (len && EVP_CipherUpdate(c->evp, out, &n, in, (int)len) != 1) ||
        EVP_CipherFinal_ex(c->evp, out + len, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_GET_TAG, ST_AEAD_TAG_LEN,
                            out + len) != 1)
        return st_err_openssl(err, ST_E_INTERNAL, "ChaCha20-Poly1305 seal");
    return ST_OK;
}

st_code st_aead_ctx_open(st_aead_ctx *c, const uint8_t nonce[ST_AEAD_NONCE_LEN],
                         const uint8_t *in, size_t len_with_tag, uint8_t *out,
                         st_err *err)
{
    int n = 0;
    if (len_with_tag < ST_AEAD_TAG_LEN)
        return st_err_set(err, ST_E_DENIED,
                          "ciphertext is shorter than its tag");
    size_t len = len_with_tag - ST_AEAD_TAG_LEN;
    if (len > INT32_MAX)
        return st_err_set(err, ST_E_INTERNAL, "AEAD message too long");
    /* copied first: in-place decryption must not disturb it */
    uint8_t tag[ST_AEAD_TAG_LEN];
    memcpy(tag, in + len, sizeof(tag));
    if (EVP_CipherInit_ex(c->evp, NULL, NULL, NULL, nonce, 0) != 1 ||
        EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_TAG, ST_AEAD_TAG_LEN,
                            tag) != 1 ||
        (len && EVP_CipherUpdate(c->evp, out, &n, in, (int)len) != 1))
        return st_err_openssl(err, ST_E_INTERNAL, "ChaCha20-Poly1305 open");
    if (EVP_CipherFinal_ex(c->evp, out + len, &n) != 1) {
        ERR_clear_error();
        st_wipe(out, len);
        return st_err_set(err, ST_E_DENIED,
                          "authentication tag does not match");
    }
    return ST_OK;
}
