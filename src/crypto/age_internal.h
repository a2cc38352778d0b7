/*
 * age_internal.h: pieces shared by the age module's files (not public).
 *
 *   age_format.c  header parsing and writing, header MAC, key schedule
 *   age_keys.c    X25519, scrypt and sealtrain-kek stanzas, key files
 *   age_armor.c   ASCII armor (decoder over an fd, encoder to an fd)
 *   age_stream.c  STREAM payload: writer, reader, parallel decryption,
 *                 rewrap and inspection
 */
#ifndef SEALTRAIN_AGE_INTERNAL_H
#define SEALTRAIN_AGE_INTERNAL_H

#include "sealtrain/age.h"
#include "sealtrain/crypto.h"

#define AGE_INTRO "age-encryption.org/v1"
#define AGE_NONCE_LEN 16
#define AGE_TAG_LEN 16
#define AGE_ENC_CHUNK (ST_AGE_CHUNK_LEN + AGE_TAG_LEN)
#define AGE_COLUMNS 64 /* base64 characters per line (stanza bodies, armor) */
#define AGE_LINE_BYTES 48
#define AGE_ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----"
#define AGE_ARMOR_END "-----END AGE ENCRYPTED FILE-----"

/* Writes the header for `stanzas` with its MAC under file_key to out. */
ST_MUST_CHECK st_code age_header_encode(
    const st_age_stanza *stanzas, size_t n,
    const uint8_t file_key[ST_AGE_FILE_KEY_LEN], st_buf *out, st_err *err);
/* HMAC-SHA256 under HKDF(file key, "", "header") of hdr[0, mac_off). */
ST_MUST_CHECK st_code
age_header_mac(const uint8_t file_key[ST_AGE_FILE_KEY_LEN], const uint8_t *hdr,
               size_t mac_off, uint8_t mac[32], st_err *err);
/* Recovers the file key from a parsed header with identities and checks
 * the MAC over raw[0, h->mac_off). Sets *fail on failure. */
ST_MUST_CHECK st_code age_header_unwrap(const st_age_header *h,
                                        const uint8_t *raw,
                                        const st_age_identity *ids, size_t nids,
                                        uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                                        st_age_fail *fail, st_err *err);
/* One stanza per recipient (scrypt alone); *out has *n stanzas. */
ST_MUST_CHECK st_code age_wrap_all(const st_age_recipient *rcpts, size_t nrcpts,
                                   const uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                                   st_age_stanza **out, size_t *n, st_err *err);
void age_stanzas_free(st_age_stanza *s, size_t n);
/* HKDF(ikm = file key, salt = nonce, info = "payload"). */
ST_MUST_CHECK st_code age_payload_key(
    const uint8_t file_key[ST_AGE_FILE_KEY_LEN],
    const uint8_t nonce[AGE_NONCE_LEN], uint8_t key[32], st_err *err);
/* The 12-byte STREAM nonce: 11-byte big-endian counter, last-chunk flag. */
void age_chunk_nonce(uint64_t counter, int last, uint8_t nonce[12]);
/* Canonical unpadded base64 of exactly `want` bytes (want 0: any). */
ST_MUST_CHECK st_code age_b64_exact(const char *s, size_t len, size_t want,
                                    uint8_t **out, size_t *outlen, st_err *err);

/* ASCII armor decoder reading from an fd. Errors are armor failures. */
typedef struct age_armor_dec age_armor_dec;
/* `pre`/`prelen`: bytes already read from fd (consumed first). */
age_armor_dec *age_armor_dec_new(int fd, const uint8_t *pre, size_t prelen,
                                 st_err *err);
/* Up to n decoded bytes (fewer only at the end); *got 0 at the end. */
ST_MUST_CHECK st_code age_armor_dec_read(age_armor_dec *d, uint8_t *out,
                                         size_t n, size_t *got, st_err *err);
void age_armor_dec_free(age_armor_dec *d);
/* 1 if data (whitespace skipped) starts like the armor's first line; the
 * caller must give at least the first 1024 + 34 bytes, or all there is. */
int age_armor_detect(const uint8_t *data, size_t len);

/* ASCII armor encoder writing lines to an fd. */
typedef struct age_armor_enc age_armor_enc;
age_armor_enc *age_armor_enc_new(int fd, st_err *err);
ST_MUST_CHECK st_code age_armor_enc_write(age_armor_enc *e, const uint8_t *data,
                                          size_t n, st_err *err);
/* Writes the last line and the END line; frees e. */
ST_MUST_CHECK st_code age_armor_enc_finish(age_armor_enc *e, st_err *err);
void age_armor_enc_free(age_armor_enc *e);

#endif
