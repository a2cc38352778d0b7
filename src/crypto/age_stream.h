/*
 * age_stream.h (src/crypto): age encryption as the library's modules use it
 * (age_stream.c; the format and what the CLI calls are sealtrain/age.h):
 * streaming writers and readers, file to file, in secure memory from a
 * descriptor with the plaintext's digest, and rewrap.
 */
#ifndef SEALTRAIN_CRYPTO_AGE_STREAM_H
#define SEALTRAIN_CRYPTO_AGE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sealtrain/age.h"
#include "sealtrain/err.h"

/* A streaming writer: header now, then chunks as data arrives. Memory is
 * one chunk. */
typedef struct st_age_writer st_age_writer;
/* Writes to `fd` (not closed). */
ST_MUST_CHECK st_code st_age_writer_new_fd(int fd,
                                           const st_age_recipient *rcpts,
                                           size_t nrcpts, st_age_armor armor,
                                           st_age_writer **out, st_err *err);
/* Writes `path` atomically with `mode`: it appears at finish only. */
ST_MUST_CHECK st_code st_age_writer_new_file(const char *path, mode_t mode,
                                             const st_age_recipient *rcpts,
                                             size_t nrcpts, st_age_armor armor,
                                             st_age_writer **out, st_err *err);
ST_MUST_CHECK st_code st_age_writer_write(st_age_writer *w, const void *data,
                                          size_t len, st_err *err);
/* Seals the final chunk, commits; frees w in all cases. */
ST_MUST_CHECK st_code st_age_writer_finish(st_age_writer *w, st_err *err);
/* Frees w; a file being written is removed. Accepts NULL. */
void st_age_writer_abort(st_age_writer *w);

/* File to file; out written atomically with mode 0600. */
ST_MUST_CHECK st_code st_age_encrypt_file(const char *in_path,
                                          const char *out_path,
                                          const st_age_recipient *rcpts,
                                          size_t nrcpts, st_age_armor armor,
                                          st_err *err);

/* A streaming reader (single thread, one chunk of secure memory). */
typedef struct st_age_reader st_age_reader;
/* Reads and checks the header (identities, MAC) from `fd`. */
ST_MUST_CHECK st_code st_age_reader_open(int fd, const st_age_decrypt_opts *o,
                                         st_age_reader **out,
                                         st_age_result *res, st_err *err);
/* Up to cap authenticated bytes; *got == 0 at the end of the payload. */
ST_MUST_CHECK st_code st_age_reader_read(st_age_reader *r, void *buf,
                                         size_t cap, size_t *got,
                                         st_age_result *res, st_err *err);
void st_age_reader_free(st_age_reader *r);

/* File to file; out (mode 0600) appears only if everything authenticated. */
ST_MUST_CHECK st_code st_age_decrypt_file(const char *in_path,
                                          const char *out_path,
                                          const st_age_decrypt_opts *o,
                                          st_age_result *res, st_err *err);
/* st_age_decrypt_secmem from an open descriptor positioned at the start of the
 * age data (not closed), for a process that cannot open paths: the sandboxed
 * enclave runtime. Pipes and armored input are decrypted on one core.
 * `name` names the input in errors. */
ST_MUST_CHECK st_code st_age_decrypt_secmem_fd(int fd, const char *name,
                                               const st_age_decrypt_opts *o,
                                               void **plain, size_t *len,
                                               st_age_result *res, st_err *err);

/* st_age_decrypt_secmem_fd (fd >= 0) or st_age_decrypt_secmem (fd < 0:
 * opens `name`) that also gives the SHA-256 of the plaintext, hashed in
 * order by the decryption workers while they decrypt instead of in a
 * second pass after them. `sha256` is filled only on success (NULL: no
 * digest). */
ST_MUST_CHECK st_code st_age_decrypt_secmem_sha256(
    int fd, const char *name, const st_age_decrypt_opts *o, void **plain,
    size_t *len, uint8_t sha256[32], st_age_result *res, st_err *err);

/* Replaces stanzas without touching the payload: the file key is
 * recovered with `identities` (and the MAC checked), the stanzas for which
 * keep() returns 1 are kept (keep NULL: none), one stanza per recipient in
 * `add` is appended, and the MAC is recomputed. The payload bytes (nonce
 * and chunks) are copied as they are. out_path may equal in_path; it is
 * replaced atomically. Armored files are refused. */
typedef struct st_age_rewrap {
    const st_age_identity *identities;
    size_t nidentities;
    int (*keep)(void *ctx, const st_age_stanza *s);
    void *keep_ctx;
    const st_age_recipient *add;
    size_t nadd;
} st_age_rewrap;
ST_MUST_CHECK st_code st_age_rewrap_file(const char *in_path,
                                         const char *out_path,
                                         const st_age_rewrap *rw,
                                         st_age_result *res, st_err *err);

#endif
