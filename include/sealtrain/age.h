/*
 * sealtrain/age.h: age v1 encrypted files (C2SP age-encryption.org/v1).
 *
 * An age file is a text header (version line, one stanza per recipient
 * wrapping the 16-byte file key, an HMAC over the header) followed by a
 * 16-byte nonce and the payload in ChaCha20-Poly1305 STREAM chunks of
 * 64 KiB. This module reads and writes it, byte-compatible with the `age`
 * tool: X25519 and scrypt recipients, bech32 keys as age-keygen writes
 * them, ASCII armor, plus sealtrain's own `sealtrain-kek` stanza (the file
 * key wrapped under a keyring KEK; stock age clients skip it).
 *
 * Recipients and identities are stanza-level callbacks (type + function +
 * context), so other modules can add stanza types without touching the
 * format code. Decryption never releases plaintext that was not
 * authenticated: the sinks below see chunk after chunk only once each has
 * passed its tag check, and a file written to a path appears only when the
 * whole payload authenticated (atomic rename). Failures are classified
 * (st_age_fail) as the age spec's test suite does: armor, header, no
 * matching identity, header MAC, payload.
 */
#ifndef SEALTRAIN_AGE_H
#define SEALTRAIN_AGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sealtrain/bytes.h"
#include "sealtrain/err.h"
#include "sealtrain/secmem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_AGE_FILE_KEY_LEN 16
#define ST_AGE_CHUNK_LEN 65536         /* plaintext bytes per STREAM chunk */
#define ST_AGE_MAX_HEADER (4u << 20)   /* we refuse larger headers */
#define ST_AGE_SCRYPT_MAX_LOG2N 22     /* as age: higher is a header failure */
#define ST_AGE_SCRYPT_DEFAULT_LOG2N 18 /* as age -p */
/* "age1" + 58 characters, NUL included. */
#define ST_AGE_RECIPIENT_STRLEN 63
/* "AGE-SECRET-KEY-1" + 58 characters, NUL included. */
#define ST_AGE_IDENTITY_STRLEN 75

/* sealtrain's stanza: "-> sealtrain-kek NAME VERSION" whose body is the
 * file key wrapped by the keyring (st_kek_wrap) under KEK NAME at VERSION,
 * with st_age_kek_aad() bound. See docs/formats.md. */
#define ST_AGE_STANZA_SEALTRAIN_KEK "sealtrain-kek"
#define ST_AGE_STANZA_X25519 "X25519"
#define ST_AGE_STANZA_SCRYPT "scrypt"

/* Why a decryption failed: the classes of the C2SP CCTV age suite. */
typedef enum st_age_fail {
    ST_AGE_FAIL_NONE = 0,
    ST_AGE_FAIL_ARMOR,    /* the ASCII armor is malformed */
    ST_AGE_FAIL_HEADER,   /* the header (or a stanza, or the nonce) is bad */
    ST_AGE_FAIL_NO_MATCH, /* no identity unwrapped the file key */
    ST_AGE_FAIL_HMAC,     /* the header MAC does not match */
    ST_AGE_FAIL_PAYLOAD,  /* a payload chunk failed, or truncation */
    ST_AGE_FAIL_IO        /* reading or writing failed (not the file's fault) */
} st_age_fail;
const char *st_age_fail_name(st_age_fail f);

typedef enum st_age_armor {
    ST_AGE_ARMOR_AUTO = 0, /* decrypt: detect; encrypt: binary */
    ST_AGE_ARMOR_NO,
    ST_AGE_ARMOR_YES
} st_age_armor;

/* One stanza: args[0] is its type; all fields malloc'ed. */
typedef struct st_age_stanza {
    char **args;
    size_t nargs; /* >= 1 */
    uint8_t *body;
    size_t body_len;
} st_age_stanza;

/* Fills *s with copies of args and body (validates: every argument
 * non-empty, printable ASCII without spaces). */
ST_MUST_CHECK st_code st_age_stanza_set(st_age_stanza *s,
                                        const char *const *args, size_t nargs,
                                        const uint8_t *body, size_t body_len,
                                        st_err *err);
void st_age_stanza_clear(st_age_stanza *s);

/* A recipient: wraps the file key into one stanza. `type` is the stanza
 * type it writes ("scrypt" must be the only recipient of a file). The
 * struct is the caller's; st_age_recipient_clear() calls free_ctx. */
typedef st_code (*st_age_wrap_fn)(void *ctx,
                                  const uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                                  st_age_stanza *out, st_err *err);
typedef struct st_age_recipient {
    const char *type;
    st_age_wrap_fn wrap;
    void (*free_ctx)(void *ctx);
    void *ctx;
} st_age_recipient;
void st_age_recipient_clear(st_age_recipient *r);

/* An identity: tries one stanza. Returns ST_OK with the file key when the
 * stanza is its own and opens; ST_E_NOTFOUND when the stanza is not for it
 * (other type, or its wrapping does not authenticate); ST_E_INPUT when a
 * stanza of its type is malformed (a header failure); any other code
 * aborts the decryption with that error. */
typedef st_code (*st_age_unwrap_fn)(void *ctx, const st_age_stanza *s,
                                    uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                                    st_err *err);
typedef struct st_age_identity {
    st_age_unwrap_fn unwrap;
    void (*free_ctx)(void *ctx);
    void *ctx;
} st_age_identity;
void st_age_identity_clear(st_age_identity *id);

/* --- built-in recipients and identities ------------------------------ */

/* "age1..." (bech32, as age-keygen prints). */
ST_MUST_CHECK st_code st_age_x25519_recipient(const char *age1,
                                              st_age_recipient *out,
                                              st_err *err);
/* "AGE-SECRET-KEY-1..." (the key is kept in secure memory). */
ST_MUST_CHECK st_code st_age_x25519_identity(const char *secret,
                                             st_age_identity *out, st_err *err);
/* A new X25519 identity: its secret string (secure memory, NUL-terminated)
 * and its recipient string. */
ST_MUST_CHECK st_code st_age_keygen(st_secret **secret,
                                    char recipient[ST_AGE_RECIPIENT_STRLEN],
                                    st_err *err);
/* The recipient string of a secret identity string. */
ST_MUST_CHECK st_code st_age_identity_to_recipient(
    const char *secret, char recipient[ST_AGE_RECIPIENT_STRLEN], st_err *err);
/* Passphrase recipient/identity (scrypt, r = 8, p = 1). The passphrase is
 * copied into secure memory. The identity refuses work factors above
 * max_log2n (0: ST_AGE_SCRYPT_MAX_LOG2N) as a header failure. */
ST_MUST_CHECK st_code st_age_scrypt_recipient(const char *pass, size_t len,
                                              unsigned log2n,
                                              st_age_recipient *out,
                                              st_err *err);
ST_MUST_CHECK st_code st_age_scrypt_identity(const char *pass, size_t len,
                                             unsigned max_log2n,
                                             st_age_identity *out, st_err *err);

/* sealtrain-kek (its recipient and identity: src/crypto/age_keys.h):
 * the wrap/unwrap functions have the shape of st_kek_wrap /
 * st_kek_unwrap (keyring.h) with the keyring as ctx. The stanza names the
 * KEK and the version actually used; the AAD is st_age_kek_aad(name). */
typedef st_code (*st_age_kek_wrap_fn)(void *ctx, const char *name,
                                      uint32_t version, const uint8_t *secret,
                                      size_t len, const uint8_t *aad,
                                      size_t aadlen, st_buf *out,
                                      uint32_t *used, st_err *err);
typedef st_code (*st_age_kek_unwrap_fn)(void *ctx, const char *name,
                                        uint32_t version,
                                        const uint8_t *wrapped, size_t len,
                                        const uint8_t *aad, size_t aadlen,
                                        st_secret **out, st_err *err);
/* "age-encryption.org/v1/sealtrain-kek " + name: the AAD of the wrap. */
ST_MUST_CHECK st_code st_age_kek_aad(const char *name, st_buf *out,
                                     st_err *err);
/* Identity files as age-keygen writes them ('#' comments, blank lines,
 * AGE-SECRET-KEY-1 lines). *ids is an array of *n identities. */
ST_MUST_CHECK st_code st_age_identities_load(const char *path,
                                             st_age_identity **ids, size_t *n,
                                             st_err *err);
void st_age_identities_free(st_age_identity *ids, size_t n);
/* Recipients files (age -R): age1 lines, '#' comments, blank lines. */
ST_MUST_CHECK st_code st_age_recipients_load(const char *path,
                                             st_age_recipient **rcpts,
                                             size_t *n, st_err *err);
void st_age_recipients_free(st_age_recipient *rcpts, size_t n);

/* --- header ---------------------------------------------------------- */

typedef struct st_age_header {
    st_age_stanza *stanzas;
    size_t nstanzas;
    uint8_t mac[32];
    size_t mac_off; /* length of the MAC input: through "---" */
    size_t len;     /* bytes of the header, through the MAC line's '\n' */
} st_age_header;

/* Parses a header at the start of data (strict: every rule of the spec's
 * header section). ST_E_INPUT with line:column on malformed input;
 * *incomplete (may be NULL) is set when data ends inside the header. */
ST_MUST_CHECK st_code st_age_header_parse(const uint8_t *data, size_t len,
                                          st_age_header *out, int *incomplete,
                                          st_err *err);
void st_age_header_clear(st_age_header *h);
/* Reads and parses the header of a file (armored or not): lists stanzas
 * without any key. */
ST_MUST_CHECK st_code st_age_inspect_file(const char *path, st_age_header *out,
                                          st_err *err);

/* --- encryption ------------------------------------------------------ */

/* in_fd to out_fd. */
ST_MUST_CHECK st_code st_age_encrypt_fd(int in_fd, int out_fd,
                                        const st_age_recipient *rcpts,
                                        size_t nrcpts, st_age_armor armor,
                                        st_err *err);
/* Streaming writers and readers, file-to-file and in-memory variants,
 * and rewrap: src/crypto/age_stream.h. */

/* --- decryption ------------------------------------------------------ */

typedef struct st_age_decrypt_opts {
    const st_age_identity *identities;
    size_t nidentities;
    st_age_armor armor; /* AUTO: armored when it starts with the BEGIN line */
    unsigned threads;   /* 0: every online core; 1: one */
    const char *name;   /* input name put in front of the errors of
                           reader_open, decrypt_fd and decrypt_file (NULL:
                           none; decrypt_file then uses its path) */
} st_age_decrypt_opts;

typedef struct st_age_result {
    st_age_fail fail;  /* ST_AGE_FAIL_NONE on success */
    uint64_t released; /* plaintext bytes handed to the output */
} st_age_result;

/* in_fd to out_fd with bounded memory. With a regular, unarmored input
 * and threads != 1, chunks are decrypted in parallel (and still written
 * in order, only once authenticated). */
ST_MUST_CHECK st_code st_age_decrypt_fd(int in_fd, int out_fd,
                                        const st_age_decrypt_opts *o,
                                        st_age_result *res, st_err *err);
/* The whole plaintext into secure memory (st_secmem_free it), decrypted on
 * o->threads cores. Nothing is returned unless everything authenticated.
 * *plain is NULL for an empty payload. */
ST_MUST_CHECK st_code st_age_decrypt_secmem(const char *path,
                                            const st_age_decrypt_opts *o,
                                            void **plain, size_t *len,
                                            st_age_result *res, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
