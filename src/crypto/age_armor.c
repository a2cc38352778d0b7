/*
 * age_armor.c: the ASCII armor of age v1 (C2SP age-encryption.org/v1,
 * section "ASCII armor"): "-----BEGIN AGE ENCRYPTED FILE-----", canonical
 * padded base64 in lines of exactly 64 columns except the last (LF or
 * CRLF), "-----END AGE ENCRYPTED FILE-----"; whitespace (at most 1024
 * bytes) may precede and follow the armor, nothing else.
 *
 * The decoder streams: it holds one raw buffer and one decoded line. It
 * checks the END line as soon as a short line is read, so no bytes of a
 * badly terminated armor reach the age parser. Must never accept
 * non-canonical base64, headers inside the armor, or long/short lines.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "age_internal.h"
#include "sealtrain/fs.h"

#define RAW_CAP 8192
#define MAX_WHITESPACE 1024

struct age_armor_dec {
    int fd;
    uint8_t raw[RAW_CAP];
    size_t rpos, rlen;
    int reof;
    int started, ended;
    uint8_t line[AGE_LINE_BYTES];
    size_t lpos, llen;
    long lineno;
};

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static ST_MUST_CHECK st_code armor_err(age_armor_dec *d, st_err *err,
                                       const char *what)
{
    return st_err_at(err, ST_E_INPUT, "age armor", d->lineno, 0, "%s", what);
}

static ST_MUST_CHECK st_code fill(age_armor_dec *d, st_err *err)
{
    if (d->rpos > 0) {
        memmove(d->raw, d->raw + d->rpos, d->rlen - d->rpos);
        d->rlen -= d->rpos;
        d->rpos = 0;
    }
    while (d->rlen < RAW_CAP) {
        ssize_t r = read(d->fd, d->raw + d->rlen, RAW_CAP - d->rlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return st_err_errno(err, ST_E_IO, errno, "reading armored input");
        if (r == 0)
            d->reof = 1;
        d->rlen += (size_t)r;
        return ST_OK;
    }
    return ST_OK;
}

/* The next line without its LF or CRLF. */
static ST_MUST_CHECK st_code get_line(age_armor_dec *d, const uint8_t **line,
                                      size_t *len, st_err *err)
{
    for (;;) {
        uint8_t *p = d->raw + d->rpos;
        size_t left = d->rlen - d->rpos;
        uint8_t *nl = memchr(p, '\n', left);
        if (nl || (d->reof && left > 0)) {
            size_t n = nl ? (size_t)(nl - p) : left;
            d->rpos += nl ? n + 1 : n;
            d->lineno++;
            if (n && p[n - 1] == '\r')
                n--;
            *line = p;
            *len = n;
            return ST_OK;
        }
        if (d->reof)
            return armor_err(d, err, "the armored file ends unexpectedly");
        if (d->rpos == 0 && d->rlen == RAW_CAP)
            return armor_err(d, err, "line too long");
        st_code rc = fill(d, err);
        if (rc != ST_OK)
            return rc;
    }
}

static int line_is(const uint8_t *l, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(l, s, n) == 0;
}

/* After the END line: only whitespace, at most 1024 bytes of it. */
static ST_MUST_CHECK st_code drain_trailing(age_armor_dec *d, st_err *err)
{
    size_t seen = 0;
    for (;;) {
        for (; d->rpos < d->rlen; d->rpos++, seen++) {
            if (seen >= MAX_WHITESPACE)
                return armor_err(d, err, "too much whitespace after the armor");
            if (!is_space(d->raw[d->rpos]))
                return armor_err(d, err, "data after the armor's END line");
        }
        if (d->reof)
            break;
        st_code rc = fill(d, err);
        if (rc != ST_OK)
            return rc;
    }
    d->ended = 1;
    return ST_OK;
}

static ST_MUST_CHECK st_code next_line(age_armor_dec *d, st_err *err)
{
    const uint8_t *l;
    size_t n;
    st_code rc;
    size_t removed = 0;
    while (!d->started) {
        if ((rc = get_line(d, &l, &n, err)) != ST_OK)
            return rc;
        size_t k = 0;
        while (k < n && is_space(l[k]))
            k++;
        if (k == n) {
            removed += n + 1;
            if (removed > MAX_WHITESPACE)
                return armor_err(d, err,
                                 "too much whitespace before the armor");
            continue;
        }
        if (!line_is(l, n, AGE_ARMOR_BEGIN))
            return armor_err(d, err,
                             "the first line is not \"" AGE_ARMOR_BEGIN "\"");
        d->started = 1;
    }
    if ((rc = get_line(d, &l, &n, err)) != ST_OK)
        return rc;
    if (line_is(l, n, AGE_ARMOR_END))
        return drain_trailing(d, err);
    if (n > AGE_COLUMNS)
        return armor_err(d, err, "line longer than 64 columns");
    if (n == 0)
        return armor_err(d, err, "empty line inside the armor");
    uint8_t *dec = NULL;
    size_t dlen = 0;
    st_err e2;
    if (st_base64_decode((const char *)l, n, 1, &dec, &dlen, &e2) != ST_OK)
        return st_err_at(err, ST_E_INPUT, "age armor", d->lineno, 0,
                         "not canonical padded base64 (%s)", e2.msg);
    memcpy(d->line, dec, dlen);
    free(dec);
    d->lpos = 0;
    d->llen = dlen;
    if (dlen < AGE_LINE_BYTES) {
        /* a short line is the last: the END line must follow now */
        if ((rc = get_line(d, &l, &n, err)) != ST_OK)
            return rc;
        if (!line_is(l, n, AGE_ARMOR_END))
            return armor_err(
                d, err, "expected \"" AGE_ARMOR_END "\" after a short line");
        return drain_trailing(d, err);
    }
    return ST_OK;
}

age_armor_dec *age_armor_dec_new(int fd, const uint8_t *pre, size_t prelen,
                                 st_err *err)
{
    age_armor_dec *d = calloc(1, sizeof(*d));
    if (!d || prelen > RAW_CAP) {
        free(d);
        st_err_set(err, ST_E_IO, "out of memory");
        return NULL;
    }
    d->fd = fd;
    if (prelen)
        memcpy(d->raw, pre, prelen);
    d->rlen = prelen;
    return d;
}

st_code age_armor_dec_read(age_armor_dec *d, uint8_t *out, size_t n,
                           size_t *got, st_err *err)
{
    *got = 0;
    while (*got < n) {
        if (d->lpos < d->llen) {
            size_t take = d->llen - d->lpos;
            if (take > n - *got)
                take = n - *got;
            memcpy(out + *got, d->line + d->lpos, take);
            d->lpos += take;
            *got += take;
            continue;
        }
        if (d->ended)
            break;
        st_code rc = next_line(d, err);
        if (rc != ST_OK)
            return rc;
    }
    return ST_OK;
}

void age_armor_dec_free(age_armor_dec *d)
{
    if (d)
        st_wipe(d->line, sizeof(d->line));
    free(d);
}

int age_armor_detect(const uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len && is_space(data[i]))
        i++;
    size_t want = strlen(AGE_ARMOR_BEGIN);
    return len - i >= want && memcmp(data + i, AGE_ARMOR_BEGIN, want) == 0;
}

/* --- encoder ------------------------------------------------------------ */

#define ENC_OUT 65536

struct age_armor_enc {
    int fd;
    uint8_t part[AGE_LINE_BYTES];
    size_t plen;
    char out[ENC_OUT + AGE_COLUMNS + 2];
    size_t olen;
};

static ST_MUST_CHECK st_code enc_flush(age_armor_enc *e, st_err *err)
{
    st_code rc = st_fs_write_fd(e->fd, e->out, e->olen, "armored output", err);
    e->olen = 0;
    return rc;
}

static ST_MUST_CHECK st_code enc_line(age_armor_enc *e, st_err *err)
{
    char *b64 = st_base64_encode(e->part, e->plen, 1);
    if (!b64)
        return st_err_set(err, ST_E_IO, "out of memory");
    size_t n = strlen(b64);
    memcpy(e->out + e->olen, b64, n);
    e->out[e->olen + n] = '\n';
    e->olen += n + 1;
    free(b64);
    e->plen = 0;
    return e->olen >= ENC_OUT ? enc_flush(e, err) : ST_OK;
}

age_armor_enc *age_armor_enc_new(int fd, st_err *err)
{
    age_armor_enc *e = calloc(1, sizeof(*e));
    if (!e) {
        st_err_set(err, ST_E_IO, "out of memory");
        return NULL;
    }
    e->fd = fd;
    memcpy(e->out, AGE_ARMOR_BEGIN "\n", sizeof(AGE_ARMOR_BEGIN));
    e->olen = sizeof(AGE_ARMOR_BEGIN);
    return e;
}

st_code age_armor_enc_write(age_armor_enc *e, const uint8_t *data, size_t n,
                            st_err *err)
{
    while (n) {
        size_t take = AGE_LINE_BYTES - e->plen;
        if (take > n)
            take = n;
        memcpy(e->part + e->plen, data, take);
        e->plen += take;
        data += take;
        n -= take;
        if (e->plen == AGE_LINE_BYTES) {
            st_code rc = enc_line(e, err);
            if (rc != ST_OK)
                return rc;
        }
    }
    return ST_OK;
}

st_code age_armor_enc_finish(age_armor_enc *e, st_err *err)
{
    st_code rc = e->plen ? enc_line(e, err) : ST_OK;
    if (rc == ST_OK) {
        memcpy(e->out + e->olen, AGE_ARMOR_END "\n", sizeof(AGE_ARMOR_END));
        e->olen += sizeof(AGE_ARMOR_END);
        rc = enc_flush(e, err);
    }
    age_armor_enc_free(e);
    return rc;
}

void age_armor_enc_free(age_armor_enc *e)
{
    if (e)
        st_wipe(e, sizeof(*e));
    free(e);
}
