/*
 * age_keys.c: the recipient and identity types of age v1 (C2SP
 * age-encryption.org/v1, sections "X25519 recipient stanza", "scrypt
 * recipient stanza", "Encoding of X25519 keys") and sealtrain's own
 * sealtrain-kek stanza, plus key generation and key files as age-keygen
 * and `age -R` use them.
 *
 * Must never keep a private key, passphrase or file key outside secure
 * memory, never print one (error messages name the file and line, never
 * the content of a secret line), and never accept a malformed stanza of
 * its own type as "not mine": that is a header failure, as the spec's test
 * suite demands.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "age_internal.h"
#include "crypto/age_keys.h"
#include "crypto/bech32.h"
#include "crypto/primitives.h"
#include "sealtrain/fs.h"

#define X25519_LABEL "age-encryption.org/v1/X25519"
#define SCRYPT_LABEL "age-encryption.org/v1/scrypt"
#define KEK_LABEL "age-encryption.org/v1/sealtrain-kek "
#define SECRET_HRP "age-secret-key-"
#define KEYFILE_MAX (1u << 20)

static const uint8_t zero_nonce[12];

void st_age_recipient_clear(st_age_recipient *r)
{
    if (r && r->free_ctx)
        r->free_ctx(r->ctx);
    if (r)
        memset(r, 0, sizeof(*r));
}

void st_age_identity_clear(st_age_identity *id)
{
    if (id && id->free_ctx)
        id->free_ctx(id->ctx);
    if (id)
        memset(id, 0, sizeof(*id));
}

/* Seals the 16-byte file key under `key` with the all-zero nonce (the
 * spec's stanza body: 32 bytes). */
static ST_MUST_CHECK st_code
seal_file_key(const uint8_t key[32], const uint8_t fk[ST_AGE_FILE_KEY_LEN],
              const char *type, const char *const *args, size_t nargs,
              st_age_stanza *out, st_err *err)
{
    uint8_t body[ST_AGE_FILE_KEY_LEN + 16];
    st_code rc = st_aead_seal(key, zero_nonce, NULL, 0, fk, ST_AGE_FILE_KEY_LEN,
                              body, err);
    (void)type;
    if (rc == ST_OK)
        rc = st_age_stanza_set(out, args, nargs, body, sizeof(body), err);
    return rc;
}

/* Opens a stanza body: ST_E_INPUT if it is not exactly 32 bytes (checked
 * before any decryption), ST_E_NOTFOUND if it does not authenticate. */
static ST_MUST_CHECK st_code open_file_key(const uint8_t key[32],
                                           const st_age_stanza *s,
                                           uint8_t fk[ST_AGE_FILE_KEY_LEN],
                                           st_err *err)
{
    if (s->body_len != ST_AGE_FILE_KEY_LEN + 16)
        return st_err_set(err, ST_E_INPUT,
                          "%s stanza: the wrapped file key is %zu bytes, "
                          "not %d",
                          s->args[0], s->body_len, ST_AGE_FILE_KEY_LEN + 16);
    if (st_aead_open(key, zero_nonce, NULL, 0, s->body, s->body_len, fk,
                     NULL) != ST_OK)
        return st_err_set(err, ST_E_NOTFOUND, "%s stanza is not for this key",
                          s->args[0]);
    return ST_OK;
}

/* --- X25519 -------------------------------------------------------------- */

typedef struct x25519_key {
    uint8_t priv[32]; /* unused for recipients */
    uint8_t pub[32];
} x25519_key;

static ST_MUST_CHECK st_code x25519_wrap_key(const uint8_t shared[32],
                                             const uint8_t share[32],
                                             const uint8_t pub[32],
                                             uint8_t key[32], st_err *err)
{
    uint8_t salt[64];
    memcpy(salt, share, 32);
    memcpy(salt + 32, pub, 32);
    return st_hkdf_sha256(shared, 32, salt, 64, X25519_LABEL,
                          strlen(X25519_LABEL), key, 32, err);
}

static ST_MUST_CHECK st_code x25519_wrap(void *ctx,
                                         const uint8_t fk[ST_AGE_FILE_KEY_LEN],
                                         st_age_stanza *out, st_err *err)
{
    const x25519_key *k = ctx;
    /* eph, shared, key: secure memory, wiped on free */
    uint8_t *m = st_secmem_alloc(96, err);
    if (!m)
        return err ? err->code : ST_E_IO;
    uint8_t *eph = m, *shared = m + 32, *key = m + 64;
    uint8_t share[32];
    st_code rc = st_random(eph, 32, err);
    if (rc == ST_OK)
        rc = st_x25519_public(eph, share, err);
    if (rc == ST_OK)
        rc = st_x25519(eph, k->pub, shared, err);
    if (rc == ST_OK)
        rc = x25519_wrap_key(shared, share, k->pub, key, err);
    if (rc == ST_OK) {
        char *b64 = st_base64_encode(share, 32, 0);
        const char *args[] = {ST_AGE_STANZA_X25519, b64};
        rc = b64 ? seal_file_key(key, fk, ST_AGE_STANZA_X25519, args, 2, out,
                                 err)
                 : st_err_set(err, ST_E_IO, "out of memory");
        free(b64);
    }
    st_secmem_free(m);
    return rc;
}

static ST_MUST_CHECK st_code x25519_unwrap(void *ctx, const st_age_stanza *s,
                                           uint8_t fk[ST_AGE_FILE_KEY_LEN],
                                           st_err *err)
{
    const x25519_key *k = ctx;
    if (strcmp(s->args[0], ST_AGE_STANZA_X25519) != 0)
        return ST_E_NOTFOUND;
    if (s->nargs != 2)
        return st_err_set(err, ST_E_INPUT,
                          "X25519 stanza: %zu arguments, expected 1",
                          s->nargs - 1);
    uint8_t *share = NULL;
    size_t len = 0;
    st_err e2;
    if (age_b64_exact(s->args[1], strlen(s->args[1]), 32, &share, &len, &e2) !=
        ST_OK)
        return st_err_set(err, ST_E_INPUT,
                          "X25519 stanza: the ephemeral share is not 32 "
                          "bytes of canonical base64 (%s)",
                          e2.msg);
    uint8_t *m = st_secmem_alloc(64, err);
    st_code rc = m ? ST_OK : (err ? err->code : ST_E_IO);
    if (rc == ST_OK && st_x25519(k->priv, share, m, &e2) != ST_OK)
        rc = st_err_set(err, ST_E_INPUT,
                        "X25519 stanza: the ephemeral share is a low-order "
                        "point (all-zero shared secret)");
    if (rc == ST_OK)
        rc = x25519_wrap_key(m, share, k->pub, m + 32, err);
    if (rc == ST_OK)
        rc = open_file_key(m + 32, s, fk, err);
    st_secmem_free(m);
    free(share);
    return rc;
}

static void secmem_ctx_free(void *ctx)
{
    st_secmem_free(ctx);
}

st_code st_age_x25519_recipient(const char *age1, st_age_recipient *out,
                                st_err *err)
{
    memset(out, 0, sizeof(*out));
    char hrp[16];
    uint8_t pub[40];
    size_t len = 0;
    st_err e2;
    if (strncmp(age1, "age1", 4) != 0 ||
        st_bech32_decode(age1, hrp, sizeof(hrp), pub, sizeof(pub), &len, &e2) !=
            ST_OK ||
        strcmp(hrp, "age") != 0 || len != 32)
        return st_err_set(err, ST_E_INPUT,
                          "\"%.80s\" is not an age X25519 recipient "
                          "(age1... as age-keygen prints)",
                          age1);
    x25519_key *k = calloc(1, sizeof(*k));
    if (!k)
        return st_err_set(err, ST_E_IO, "out of memory");
    memcpy(k->pub, pub, 32);
    out->type = ST_AGE_STANZA_X25519;
    out->wrap = x25519_wrap;
    out->free_ctx = free;
    out->ctx = k;
    return ST_OK;
}

/* Decodes an identity string into k (secure memory). */
static ST_MUST_CHECK st_code decode_identity(const char *secret, x25519_key *k,
                                             st_err *err)
{
    char hrp[32];
    uint8_t *buf = st_secmem_alloc(64, err);
    if (!buf)
        return err ? err->code : ST_E_IO;
    size_t len = 0;
    st_code rc = ST_OK;
    /* never echo the string: it is a private key */
    if (strncmp(secret, "AGE-SECRET-KEY-1", 16) != 0 ||
        st_bech32_decode(secret, hrp, sizeof(hrp), buf, 64, &len, NULL) !=
            ST_OK ||
        strcmp(hrp, SECRET_HRP) != 0 || len != 32)
        rc = st_err_set(err, ST_E_INPUT,
                        "not an age X25519 identity (AGE-SECRET-KEY-1... "
                        "as age-keygen writes it)");
    if (rc == ST_OK) {
        memcpy(k->priv, buf, 32);
        rc = st_x25519_public(k->priv, k->pub, err);
    }
    st_secmem_free(buf);
    return rc;
}

st_code st_age_x25519_identity(const char *secret, st_age_identity *out,
                               st_err *err)
{
    memset(out, 0, sizeof(*out));
    x25519_key *k = st_secmem_alloc(sizeof(*k), err);
    if (!k)
        return err ? err->code : ST_E_IO;
    st_code rc = decode_identity(secret, k, err);
    if (rc != ST_OK) {
        st_secmem_free(k);
        return rc;
    }
    out->unwrap = x25519_unwrap;
    out->free_ctx = secmem_ctx_free;
    out->ctx = k;
    return ST_OK;
}

static ST_MUST_CHECK st_code recipient_string(
    const uint8_t pub[32], char recipient[ST_AGE_RECIPIENT_STRLEN], st_err *err)
{
    return st_bech32_encode("age", pub, 32, 0, recipient,
                            ST_AGE_RECIPIENT_STRLEN, err);
}

st_code st_age_identity_to_recipient(const char *secret,
                                     char recipient[ST_AGE_RECIPIENT_STRLEN],
                                     st_err *err)
{
    x25519_key *k = st_secmem_alloc(sizeof(*k), err);
    if (!k)
        return err ? err->code : ST_E_IO;
    st_code rc = decode_identity(secret, k, err);
    if (rc == ST_OK)
        rc = recipient_string(k->pub, recipient, err);
    st_secmem_free(k);
    return rc;
}

st_code st_age_keygen(st_secret **secret,
                      char recipient[ST_AGE_RECIPIENT_STRLEN], st_err *err)
{
    *secret = NULL;
    x25519_key *k = st_secmem_alloc(sizeof(*k), err);
    st_secret *s = k ? st_secret_new(ST_AGE_IDENTITY_STRLEN, err) : NULL;
    st_code rc = s ? ST_OK : (err ? err->code : ST_E_IO);
    if (rc == ST_OK)
        rc = st_random(k->priv, 32, err);
    if (rc == ST_OK)
        rc = st_x25519_public(k->priv, k->pub, err);
    if (rc == ST_OK)
        rc = st_bech32_encode(SECRET_HRP, k->priv, 32, 1,
                              (char *)st_secret_bytes(s),
                              ST_AGE_IDENTITY_STRLEN, err);
    if (rc == ST_OK)
        rc = recipient_string(k->pub, recipient, err);
    st_secmem_free(k);
    if (rc != ST_OK) {
        st_secret_free(s);
        return rc;
    }
    *secret = s;
    return ST_OK;
}

/* --- scrypt -------------------------------------------------------------- */

typedef struct scrypt_key {
    unsigned log2n; /* recipient: work factor; identity: the maximum */
    size_t len;
    char pass[]; /* secure memory */
} scrypt_key;

static ST_MUST_CHECK st_code scrypt_derive(const scrypt_key *k,
                                           const uint8_t salt[16],
                                           unsigned log2n, uint8_t key[32],
                                           st_err *err)
{
    uint8_t full[sizeof(SCRYPT_LABEL) - 1 + 16];
    memcpy(full, SCRYPT_LABEL, sizeof(SCRYPT_LABEL) - 1);
    memcpy(full + sizeof(SCRYPT_LABEL) - 1, salt, 16);
    return st_scrypt(k->pass, k->len, full, sizeof(full), log2n, 8, 1, key, 32,
                     err);
}

static ST_MUST_CHECK st_code scrypt_wrap(void *ctx,
                                         const uint8_t fk[ST_AGE_FILE_KEY_LEN],
                                         st_age_stanza *out, st_err *err)
{
    const scrypt_key *k = ctx;
    uint8_t salt[16];
    uint8_t *key = st_secmem_alloc(32, err);
    if (!key)
        return err ? err->code : ST_E_IO;
    st_code rc = st_random(salt, sizeof(salt), err);
    if (rc == ST_OK)
        rc = scrypt_derive(k, salt, k->log2n, key, err);
    if (rc == ST_OK) {
        char *b64 = st_base64_encode(salt, sizeof(salt), 0);
        char wf[16];
        snprintf(wf, sizeof(wf), "%u", k->log2n);
        const char *args[] = {ST_AGE_STANZA_SCRYPT, b64, wf};
        rc = b64 ? seal_file_key(key, fk, ST_AGE_STANZA_SCRYPT, args, 3, out,
                                 err)
                 : st_err_set(err, ST_E_IO, "out of memory");
        free(b64);
    }
    st_secmem_free(key);
    return rc;
}

/* A decimal without sign, leading zeros or other characters, <= max. */
static int parse_decimal(const char *s, uint64_t max, uint64_t *v)
{
    size_t n = strlen(s);
    if (n == 0 || n > 10 || s[0] == '0')
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > max)
        return 0;
    *v = x;
    return 1;
}

static ST_MUST_CHECK st_code scrypt_unwrap(void *ctx, const st_age_stanza *s,
                                           uint8_t fk[ST_AGE_FILE_KEY_LEN],
                                           st_err *err)
{
    const scrypt_key *k = ctx;
    if (strcmp(s->args[0], ST_AGE_STANZA_SCRYPT) != 0)
        return ST_E_NOTFOUND;
    if (s->nargs != 3)
        return st_err_set(err, ST_E_INPUT,
                          "scrypt stanza: %zu arguments, expected 2",
                          s->nargs - 1);
    uint8_t *salt = NULL;
    size_t len = 0;
    st_err e2;
    if (age_b64_exact(s->args[1], strlen(s->args[1]), 16, &salt, &len, &e2) !=
        ST_OK)
        return st_err_set(err, ST_E_INPUT,
                          "scrypt stanza: the salt is not 16 bytes of "
                          "canonical base64 (%s)",
                          e2.msg);
    uint64_t wf = 0;
    if (!parse_decimal(s->args[2], 64, &wf)) {
        free(salt);
        return st_err_set(err, ST_E_INPUT,
                          "scrypt stanza: the work factor is not a decimal "
                          "number without leading zeros");
    }
    if (wf > k->log2n) {
        free(salt);
        return st_err_set(err, ST_E_INPUT,
                          "scrypt stanza: work factor 2^%llu is above the "
                          "allowed 2^%u",
                          (unsigned long long)wf, k->log2n);
    }
    if (s->body_len != ST_AGE_FILE_KEY_LEN + 16) {
        free(salt);
        return st_err_set(err, ST_E_INPUT,
                          "scrypt stanza: the wrapped file key is %zu bytes, "
                          "not 32",
                          s->body_len);
    }
    uint8_t *key = st_secmem_alloc(32, err);
    st_code rc = key ? scrypt_derive(k, salt, (unsigned)wf, key, err)
                     : (err ? err->code : ST_E_IO);
    if (rc == ST_OK)
        rc = open_file_key(key, s, fk, err);
    st_secmem_free(key);
    free(salt);
    return rc;
}

static ST_MUST_CHECK st_code scrypt_new(const char *pass, size_t len,
                                        unsigned log2n, scrypt_key **out,
                                        st_err *err)
{
    if (len == 0)
        return st_err_set(err, ST_E_USAGE, "age: empty passphrase");
    scrypt_key *k = st_secmem_alloc(sizeof(*k) + len, err);
    if (!k)
        return err ? err->code : ST_E_IO;
    k->log2n = log2n;
    k->len = len;
    memcpy(k->pass, pass, len);
    *out = k;
    return ST_OK;
}

st_code st_age_scrypt_recipient(const char *pass, size_t len, unsigned log2n,
                                st_age_recipient *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    if (log2n == 0)
        log2n = ST_AGE_SCRYPT_DEFAULT_LOG2N;
    if (log2n > ST_AGE_SCRYPT_MAX_LOG2N)
        return st_err_set(err, ST_E_USAGE,
                          "age: scrypt work factor 2^%u is above 2^%d", log2n,
                          ST_AGE_SCRYPT_MAX_LOG2N);
    scrypt_key *k = NULL;
    st_code rc = scrypt_new(pass, len, log2n, &k, err);
    if (rc != ST_OK)
        return rc;
    out->type = ST_AGE_STANZA_SCRYPT;
    out->wrap = scrypt_wrap;
    out->free_ctx = secmem_ctx_free;
    out->ctx = k;
    return ST_OK;
}

st_code st_age_scrypt_identity(const char *pass, size_t len, unsigned max_log2n,
                               st_age_identity *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    scrypt_key *k = NULL;
    st_code rc = scrypt_new(
        pass, len, max_log2n ? max_log2n : ST_AGE_SCRYPT_MAX_LOG2N, &k, err);
    if (rc != ST_OK)
        return rc;
    out->unwrap = scrypt_unwrap;
    out->free_ctx = secmem_ctx_free;
    out->ctx = k;
    return ST_OK;
}

/* --- sealtrain-kek ----------------------------------------------------------
 */

typedef struct kek_ctx {
    char *name; /* NULL: any (identities) */
    uint32_t version;
    st_age_kek_wrap_fn wrap;
    st_age_kek_unwrap_fn unwrap;
    void *ctx;
} kek_ctx;

static int valid_kek_name(const char *name)
{
    if (!*name)
        return 0;
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 33 || (unsigned char)*c > 126)
            return 0;
    return 1;
}

static void kek_ctx_free(void *p)
{
    kek_ctx *k = p;
    if (k)
        free(k->name);
    free(k);
}

st_code st_age_kek_aad(const char *name, st_buf *out, st_err *err)
{
    st_buf_init(out);
    return st_buf_printf(out, err, "%s%s", KEK_LABEL, name);
}

st_code st_age_kek_stanza_parse(const st_age_stanza *s, const char **name,
                                uint32_t *version, st_err *err)
{
    uint64_t v = 0;
    if (strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK) != 0)
        return st_err_set(err, ST_E_NOTFOUND, "not a sealtrain-kek stanza");
    if (s->nargs != 3)
        return st_err_set(err, ST_E_INPUT,
                          "sealtrain-kek stanza: %zu arguments, expected 2 "
                          "(NAME VERSION)",
                          s->nargs - 1);
    if (!parse_decimal(s->args[2], UINT32_MAX, &v))
        return st_err_set(err, ST_E_INPUT,
                          "sealtrain-kek stanza: version \"%.20s\" is not a "
                          "decimal number from 1",
                          s->args[2]);
    *name = s->args[1];
    *version = (uint32_t)v;
    return ST_OK;
}

static ST_MUST_CHECK st_code kek_wrap(void *ctx,
                                      const uint8_t fk[ST_AGE_FILE_KEY_LEN],
                                      st_age_stanza *out, st_err *err)
{
    kek_ctx *k = ctx;
    st_buf aad, wrapped;
    st_buf_init(&wrapped);
    uint32_t used = 0;
    st_code rc = st_age_kek_aad(k->name, &aad, err);
    if (rc == ST_OK)
        rc = k->wrap(k->ctx, k->name, k->version, fk, ST_AGE_FILE_KEY_LEN,
                     aad.data, aad.len, &wrapped, &used, err);
    if (rc == ST_OK && used == 0)
        rc = st_err_set(err, ST_E_INTERNAL,
                        "sealtrain-kek: the keyring reported version 0");
    if (rc == ST_OK) {
        char ver[16];
        snprintf(ver, sizeof(ver), "%u", used);
        const char *args[] = {ST_AGE_STANZA_SEALTRAIN_KEK, k->name, ver};
        rc = st_age_stanza_set(out, args, 3, wrapped.data, wrapped.len, err);
    }
    st_buf_free(&aad);
    st_buf_free(&wrapped);
    return rc;
}

static ST_MUST_CHECK st_code kek_unwrap(void *ctx, const st_age_stanza *s,
                                        uint8_t fk[ST_AGE_FILE_KEY_LEN],
                                        st_err *err)
{
    kek_ctx *k = ctx;
    const char *name;
    uint32_t version;
    if (strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK) != 0)
        return ST_E_NOTFOUND;
    st_code rc = st_age_kek_stanza_parse(s, &name, &version, err);
    if (rc != ST_OK)
        return rc;
    if (k->name && strcmp(k->name, name) != 0)
        return ST_E_NOTFOUND;
    st_buf aad;
    st_secret *sec = NULL;
    rc = st_age_kek_aad(name, &aad, err);
    if (rc == ST_OK)
        rc = k->unwrap(k->ctx, name, version, s->body, s->body_len, aad.data,
                       aad.len, &sec, err);
    st_buf_free(&aad);
    if (rc == ST_OK && st_secret_len(sec) != ST_AGE_FILE_KEY_LEN)
        rc = st_err_set(err, ST_E_INPUT,
                        "sealtrain-kek stanza: the unwrapped file key is "
                        "%zu bytes, not 16",
                        st_secret_len(sec));
    if (rc == ST_OK)
        memcpy(fk, st_secret_cbytes(sec), ST_AGE_FILE_KEY_LEN);
    st_secret_free(sec);
    return rc;
}

st_code st_age_kek_recipient(const char *name, uint32_t version,
                             st_age_kek_wrap_fn wrap, void *ctx,
                             st_age_recipient *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!name || !valid_kek_name(name))
        return st_err_set(err, ST_E_USAGE,
                          "sealtrain-kek: key name must be non-empty "
                          "printable ASCII without spaces");
    kek_ctx *k = calloc(1, sizeof(*k));
    if (!k || !(k->name = strdup(name))) {
        free(k);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    k->version = version;
    k->wrap = wrap;
    k->ctx = ctx;
    out->type = ST_AGE_STANZA_SEALTRAIN_KEK;
    out->wrap = kek_wrap;
    out->free_ctx = kek_ctx_free;
    out->ctx = k;
    return ST_OK;
}

st_code st_age_kek_identity(const char *name, st_age_kek_unwrap_fn unwrap,
                            void *ctx, st_age_identity *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    kek_ctx *k = calloc(1, sizeof(*k));
    if (!k || (name && !(k->name = strdup(name)))) {
        free(k);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    k->unwrap = unwrap;
    k->ctx = ctx;
    out->unwrap = kek_unwrap;
    out->free_ctx = kek_ctx_free;
    out->ctx = k;
    return ST_OK;
}

/* --- key files ---------------------------------------------------------------
 */

/* Reads a key file into secure memory (it may hold private keys). */
static ST_MUST_CHECK st_code read_keyfile(const char *path, char **out,
                                          size_t *len, st_err *err)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    if (fd < 0)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "cannot open %s", path);
    char *buf = st_secmem_alloc(KEYFILE_MAX + 1, err);
    size_t n = 0;
    st_code rc = buf ? ST_OK : (err ? err->code : ST_E_IO);
    while (rc == ST_OK) {
        ssize_t r = read(fd, buf + n, KEYFILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = st_err_errno(err, ST_E_IO, errno, "reading %s", path);
        else if (r == 0)
            break;
        else if ((n += (size_t)r) > KEYFILE_MAX)
            rc = st_err_set(err, ST_E_INPUT, "%s: larger than %u bytes", path,
                            KEYFILE_MAX);
    }
    if (fd != 0)
        close(fd);
    if (rc != ST_OK) {
        st_secmem_free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ST_OK;
}

/* Calls fn on each line that is not blank or a '#' comment. */
static ST_MUST_CHECK st_code
each_key_line(const char *path, char *buf, size_t len,
              st_code (*fn)(void *ctx, const char *line, st_err *err),
              void *ctx, size_t *count, st_err *err)
{
    long lineno = 0;
    *count = 0;
    for (size_t off = 0; off < len;) {
        char *line = buf + off;
        char *nl = memchr(line, '\n', len - off);
        size_t n = nl ? (size_t)(nl - line) : len - off;
        off += n + 1;
        lineno++;
        if (n == 0 || line[0] == '#')
            continue;
        line[n] = '\0';
        if (strlen(line) != n)
            return st_err_at(err, ST_E_INPUT, path, lineno, 0,
                             "NUL byte in a key line");
        st_err e2;
        st_code rc = fn(ctx, line, &e2);
        if (rc != ST_OK)
            return st_err_at(err, rc, path, lineno, 1, "%s", e2.msg);
        ++*count;
    }
    if (*count == 0)
        return st_err_set(err, ST_E_INPUT, "%s: no keys in the file", path);
    return ST_OK;
}

typedef struct id_list {
    st_age_identity *ids;
    size_t n;
} id_list;

static ST_MUST_CHECK st_code add_identity(void *ctx, const char *line,
                                          st_err *err)
{
    id_list *l = ctx;
    st_age_identity *g = realloc(l->ids, (l->n + 1) * sizeof(*g));
    if (!g)
        return st_err_set(err, ST_E_IO, "out of memory");
    l->ids = g;
    if (!strncmp(line, "AGE-PLUGIN-", 11))
        return st_err_set(err, ST_E_INPUT, "age plugins are not supported");
    st_code rc = st_age_x25519_identity(line, &l->ids[l->n], err);
    if (rc == ST_OK)
        l->n++;
    return rc;
}

void st_age_identities_free(st_age_identity *ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        st_age_identity_clear(&ids[i]);
    free(ids);
}

st_code st_age_identities_load(const char *path, st_age_identity **ids,
                               size_t *n, st_err *err)
{
    *ids = NULL;
    *n = 0;
    char *buf;
    size_t len, count;
    st_code rc = read_keyfile(path, &buf, &len, err);
    if (rc != ST_OK)
        return rc;
    id_list l = {0};
    rc = each_key_line(path, buf, len, add_identity, &l, &count, err);
    st_secmem_free(buf);
    if (rc != ST_OK) {
        st_age_identities_free(l.ids, l.n);
        return rc;
    }
    *ids = l.ids;
    *n = l.n;
    return ST_OK;
}

typedef struct rcpt_list {
    st_age_recipient *r;
    size_t n;
} rcpt_list;

static ST_MUST_CHECK st_code add_recipient(void *ctx, const char *line,
                                           st_err *err)
{
    rcpt_list *l = ctx;
    st_age_recipient *g = realloc(l->r, (l->n + 1) * sizeof(*g));
    if (!g)
        return st_err_set(err, ST_E_IO, "out of memory");
    l->r = g;
    st_code rc = st_age_x25519_recipient(line, &l->r[l->n], err);
    if (rc == ST_OK)
        l->n++;
    return rc;
}

void st_age_recipients_free(st_age_recipient *rcpts, size_t n)
{
    for (size_t i = 0; rcpts && i < n; i++)
        st_age_recipient_clear(&rcpts[i]);
    free(rcpts);
}

st_code st_age_recipients_load(const char *path, st_age_recipient **rcpts,
                               size_t *n, st_err *err)
{
    *rcpts = NULL;
    *n = 0;
    char *buf;
    size_t len, count;
    st_code rc = read_keyfile(path, &buf, &len, err);
    if (rc != ST_OK)
        return rc;
    rcpt_list l = {0};
    rc = each_key_line(path, buf, len, add_recipient, &l, &count, err);
    st_secmem_free(buf);
    if (rc != ST_OK) {
        st_age_recipients_free(l.r, l.n);
        return rc;
    }
    *rcpts = l.r;
    *n = l.n;
    return ST_OK;
}
