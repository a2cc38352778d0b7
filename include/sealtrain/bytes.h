/*
 * sealtrain/bytes.h: the one bounds-checked reader for untrusted binary
 * input, a growable byte buffer, and hex / base64 codecs.
 *
 * st_reader: every read checks the remaining length; the first failure
 * makes the reader "failed" (sticky) and later reads return zeros, so a
 * parser can read a whole structure and check once. Parsers reject, they
 * do not repair.
 */
#ifndef SEALTRAIN_BYTES_H
#define SEALTRAIN_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_reader {
    const uint8_t *data;
    size_t len;
    size_t off;
    int failed;
} st_reader;

void st_reader_init(st_reader *r, const void *data, size_t len);
size_t st_reader_left(const st_reader *r);
uint8_t st_read_u8(st_reader *r);
uint16_t st_read_u16le(st_reader *r);
uint32_t st_read_u32le(st_reader *r);
uint64_t st_read_u64le(st_reader *r);
uint16_t st_read_u16be(st_reader *r);
uint32_t st_read_u32be(st_reader *r);
uint64_t st_read_u64be(st_reader *r);
/* Copies n bytes into out (zero-fills out on failure). */
void st_read_bytes(st_reader *r, void *out, size_t n);
/* Returns a pointer to the next n bytes and advances, or NULL. */
const uint8_t *st_read_view(st_reader *r, size_t n);
void st_read_skip(st_reader *r, size_t n);

/* A growable byte buffer (ordinary heap: not for secrets). */
typedef struct st_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} st_buf;

void st_buf_init(st_buf *b);
ST_MUST_CHECK st_code st_buf_append(st_buf *b, const void *data, size_t n,
                                    st_err *err);
ST_MUST_CHECK st_code st_buf_printf(st_buf *b, st_err *err, const char *fmt,
                                    ...) __attribute__((format(printf, 3, 4)));
ST_MUST_CHECK st_code st_buf_reserve(st_buf *b, size_t extra, st_err *err);
/* Appends NUL-terminated `text` escaped for HTML and XML text and quoted
 * attribute values (& < > " ' as entities). Bytes that are not well-formed
 * UTF-8, and control characters XML 1.0 does not allow, become U+FFFD, so
 * that the output is well-formed whatever the input. */
ST_MUST_CHECK st_code st_buf_append_html(st_buf *b, const char *text,
                                         st_err *err);
void st_buf_free(st_buf *b);

/* The value of one hex digit (either case), or -1. */
int st_hex_digit(int c);

/* Lowercase hex. `out` must hold 2*n+1 bytes. */
void st_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly `n` bytes from a 2n-character string; ST_E_INPUT on
 * wrong length or non-hex characters. */
ST_MUST_CHECK st_code st_hex_decode(const char *hex, uint8_t *out, size_t n,
                                    st_err *err);

/* Standard base64 (RFC 4648 section 4). `pad` selects '=' padding.
 * Returns a malloc'ed NUL-terminated string. */
char *st_base64_encode(const uint8_t *in, size_t n, int pad);
/* Strict decoding: canonical encodings only (unused bits zero), padding as
 * `pad` says. *out is malloc'ed. */
ST_MUST_CHECK st_code st_base64_decode(const char *in, size_t inlen, int pad,
                                       uint8_t **out, size_t *outlen,
                                       st_err *err);
/* Decoded size for an input of `inlen` characters without padding. */
size_t st_base64_decoded_len(size_t inlen);

#ifdef __cplusplus
}
#endif
#endif
