/*
 * bytes.c: bounds-checked reader, growable buffer (with the one HTML/XML
 * escape), hex and base64.
 */
#include "sealtrain/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void st_reader_init(st_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->off = 0;
    r->failed = 0;
}

size_t st_reader_left(const st_reader *r)
{
    return r->failed ? 0 : r->len - r->off;
}

const uint8_t *st_read_view(st_reader *r, size_t n)
{
    if (r->failed || n > r->len - r->off) {
        r->failed = 1;
        return NULL;
    }
    const uint8_t *p = r->data + r->off;
    r->off += n;
    return p;
}

void st_read_bytes(st_reader *r, void *out, size_t n)
{
    const uint8_t *p = st_read_view(r, n);
    if (p)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}

void st_read_skip(st_reader *r, size_t n)
{
    (void)st_read_view(r, n);
}

uint8_t st_read_u8(st_reader *r)
{
    const uint8_t *p = st_read_view(r, 1);
    return p ? p[0] : 0;
}

#define READ_LE(bits)                                                          \
    uint##bits##_t st_read_u##bits##le(st_reader *r)                           \
    {                                                                          \
        const uint8_t *p = st_read_view(r, bits / 8);                          \
        uint##bits##_t v = 0;                                                  \
        if (p)                                                                 \
            for (int i = bits / 8 - 1; i >= 0; i--)                            \
                v = (uint##bits##_t)((v << 8) | p[i]);                         \
        return v;                                                              \
    }
#define READ_BE(bits)                                                          \
    uint##bits##_t st_read_u##bits##be(st_reader *r)                           \
    {                                                                          \
        const uint8_t *p = st_read_view(r, bits / 8);                          \
        uint##bits##_t v = 0;                                                  \
        if (p)                                                                 \
            for (int i = 0; i < bits / 8; i++)                                 \
                v = (uint##bits##_t)((v << 8) | p[i]);                         \
        return v;                                                              \
    }
READ_LE(16)
READ_LE(32)
READ_LE(64)
READ_BE(16)
READ_BE(32)
READ_BE(64)

void st_buf_init(st_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

st_code st_buf_reserve(st_buf *b, size_t extra, st_err *err)
{
    if (extra > SIZE_MAX - b->len - 1)
        return st_err_set(err, ST_E_INPUT, "buffer size overflow");
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return ST_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return st_err_set(err, ST_E_IO, "out of memory (%zu bytes)", cap);
    b->data = d;
    b->cap = cap;
    return ST_OK;
}

st_code st_buf_append(st_buf *b, const void *data, size_t n, st_err *err)
{
    if (st_buf_reserve(b, n, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
    return ST_OK;
}

st_code st_buf_printf(st_buf *b, st_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return st_err_set(err, ST_E_INTERNAL, "format error");
    if (st_buf_reserve(b, (size_t)n, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return ST_OK;
}

/* The length of the well-formed UTF-8 sequence at s (1 to 4 bytes) that
 * encodes a character XML 1.0 allows, or 0 (RFC 3629 section 4; XML 1.0
 * section 2.2: no C0 controls but tab, LF and CR; no surrogates). */
static size_t xml_char_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return c >= 0x20 || c == '\t' || c == '\n' || c == '\r' ? 1 : 0;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4)
        return 0;
    uint32_t cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
        cp == 0xfffe || cp == 0xffff)
        return 0;
    return n;
}

st_code st_buf_append_html(st_buf *b, const char *text, st_err *err)
{
    const unsigned char *s = (const unsigned char *)text;
    st_code rc = ST_OK;
    while (*s && rc == ST_OK) {
        size_t n = xml_char_len(s);
        switch (n ? *s : 0) {
        case '<': rc = st_buf_append(b, "&lt;", 4, err); break;
        case '>': rc = st_buf_append(b, "&gt;", 4, err); break;
        case '&': rc = st_buf_append(b, "&amp;", 5, err); break;
        case '"': rc = st_buf_append(b, "&quot;", 6, err); break;
        case '\'': rc = st_buf_append(b, "&#39;", 5, err); break;
        case 0: /* not a character XML allows: U+FFFD, one byte consumed */
            rc = st_buf_append(b, "\xef\xbf\xbd", 3, err);
            n = 1;
            break;
        default: rc = st_buf_append(b, s, n, err);
        }
        s += n;
    }
    return rc;
}

void st_buf_free(st_buf *b)
{
    free(b->data);
    st_buf_init(b);
}

void st_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int st_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

st_code st_hex_decode(const char *hex, uint8_t *out, size_t n, st_err *err)
{
    size_t len = strlen(hex);
    if (len != 2 * n)
        return st_err_set(err, ST_E_INPUT,
                          "expected %zu hex digits (%zu bytes), got %zu", 2 * n,
                          n, len);
    for (size_t i = 0; i < n; i++) {
        int hi = st_hex_digit(hex[2 * i]), lo = st_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return st_err_set(err, ST_E_INPUT,
                              "not a hex digit at position %zu",
                              hi < 0 ? 2 * i + 1 : 2 * i + 2);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return ST_OK;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *st_base64_encode(const uint8_t *in, size_t n, int pad)
{
    size_t cap = (n + 2) / 3 * 4 + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

size_t st_base64_decoded_len(size_t inlen)
{
    return inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

st_code st_base64_decode(const char *in, size_t inlen, int pad, uint8_t **out,
                         size_t *outlen, st_err *err)
{
    *out = NULL;
    *outlen = 0;
    size_t n = inlen;
    if (pad) {
        if (n % 4 != 0)
            return st_err_set(err, ST_E_INPUT,
                              "base64: length %zu is not a multiple of 4", n);
        if (n && in[n - 1] == '=')
            n--;
        if (n && in[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1)
        return st_err_set(err, ST_E_INPUT, "base64: impossible length %zu",
                          inlen);
    size_t dlen = st_base64_decoded_len(n);
    uint8_t *d = malloc(dlen + 1);
    if (!d)
        return st_err_set(err, ST_E_IO, "out of memory");
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(in[i]);
        if (v < 0) {
            free(d);
            return st_err_set(err, ST_E_INPUT,
                              "base64: invalid character at offset %zu", i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* canonical: the unused low bits must be zero */
    if (bits && (acc & ((1u << bits) - 1))) {
        free(d);
        return st_err_set(err, ST_E_INPUT, "base64: non-canonical encoding");
    }
    d[o] = 0;
    *out = d;
    *outlen = o;
    return ST_OK;
}
