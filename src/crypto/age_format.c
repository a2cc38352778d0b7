/*
 * age_format.c: the age v1 header (C2SP age-encryption.org/v1, sections
 * "Header", "Header MAC" and "Payload" key schedule).
 *
 * Owns: parsing a header strictly (version line, "-> " stanza lines whose
 * arguments are non-empty printable ASCII, bodies in canonical unpadded
 * base64 wrapped at 64 columns and ended by a short line, the "--- MAC"
 * line), writing it back canonically, the header MAC and the file-key
 * recovery loop over identities. Must never repair input: every deviation
 * from the spec is a header failure naming the line and column. Must never
 * keep the file key: callers pass secure memory.
 */
#include <stdlib.h>
#include <string.h>

#include "age_internal.h"
#include "crypto/primitives.h"
#include "sealtrain/secmem.h"

const char *st_age_fail_name(st_age_fail f)
{
    switch (f) {
    case ST_AGE_FAIL_NONE: return "success";
    case ST_AGE_FAIL_ARMOR: return "armor failure";
    case ST_AGE_FAIL_HEADER: return "header failure";
    case ST_AGE_FAIL_NO_MATCH: return "no match";
    case ST_AGE_FAIL_HMAC: return "HMAC failure";
    case ST_AGE_FAIL_PAYLOAD: return "payload failure";
    case ST_AGE_FAIL_IO: return "I/O failure";
    }
    return "unknown";
}

/* --- stanzas ---------------------------------------------------------- */

static int valid_arg(const char *a, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)a[i] < 33 || (unsigned char)a[i] > 126)
            return 0;
    return 1;
}

void st_age_stanza_clear(st_age_stanza *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nargs; i++)
        free(s->args[i]);
    free(s->args);
    free(s->body);
    memset(s, 0, sizeof(*s));
}

void age_stanzas_free(st_age_stanza *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        st_age_stanza_clear(&s[i]);
    free(s);
}

st_code st_age_stanza_set(st_age_stanza *s, const char *const *args,
                          size_t nargs, const uint8_t *body, size_t body_len,
                          st_err *err)
{
    memset(s, 0, sizeof(*s));
    if (nargs == 0)
        return st_err_set(err, ST_E_USAGE, "age stanza: no type");
    for (size_t i = 0; i < nargs; i++)
        if (!valid_arg(args[i], strlen(args[i])))
            return st_err_set(err, ST_E_USAGE,
                              "age stanza: argument %zu is empty or has a "
                              "character outside printable ASCII",
                              i);
    s->args = calloc(nargs, sizeof(char *));
    s->body = malloc(body_len ? body_len : 1);
    if (!s->args || !s->body)
        goto oom;
    for (size_t i = 0; i < nargs; i++) {
        if (!(s->args[i] = strdup(args[i])))
            goto oom;
        s->nargs = i + 1;
    }
    if (body_len)
        memcpy(s->body, body, body_len);
    s->body_len = body_len;
    return ST_OK;
oom:
    st_age_stanza_clear(s);
    return st_err_set(err, ST_E_IO, "out of memory");
}

/* --- base64 ------------------------------------------------------------ */

st_code age_b64_exact(const char *s, size_t len, size_t want, uint8_t **out,
                      size_t *outlen, st_err *err)
{
    /* st_base64_decode rejects padding, stray characters (CR, LF) and
     * non-canonical trailing bits */
    st_code rc = st_base64_decode(s, len, 0, out, outlen, err);
    if (rc != ST_OK)
        return rc;
    if (want && *outlen != want) {
        free(*out);
        *out = NULL;
        return st_err_set(err, ST_E_INPUT, "expected %zu bytes, got %zu", want,
                          *outlen);
    }
    return ST_OK;
}

/* --- parsing ----------------------------------------------------------- */

/* The next line (without '\n') or NULL when no '\n' is left. */
static const uint8_t *next_line(st_reader *r, size_t *len)
{
    size_t left = st_reader_left(r);
    const uint8_t *p = r->data + r->off;
    const uint8_t *nl = left ? memchr(p, '\n', left) : NULL;
    if (!nl)
        return NULL;
    *len = (size_t)(nl - p);
    st_read_skip(r, *len + 1);
    return p;
}

static ST_MUST_CHECK st_code hdr_err(st_err *err, long line, long col,
                                     const char *what)
{
    return st_err_at(err, ST_E_INPUT, "age header", line, col, "%s", what);
}

void st_age_header_clear(st_age_header *h)
{
    if (!h)
        return;
    age_stanzas_free(h->stanzas, h->nstanzas);
    memset(h, 0, sizeof(*h));
}

static ST_MUST_CHECK st_code parse_args(const uint8_t *l, size_t n, long lineno,
                                        st_age_stanza *s, st_err *err)
{
    /* "-> a b c": split on single spaces like the reference
     * implementation; an empty argument (two spaces, trailing space) is
     * an error, never skipped */
    size_t count = 0;
    for (size_t i = 2; i < n; i++)
        if (l[i] == ' ')
            count++;
    if (count == 0)
        return hdr_err(err, lineno, 3, "stanza line has no type");
    s->args = calloc(count, sizeof(char *));
    if (!s->args)
        return st_err_set(err, ST_E_IO, "out of memory");
    size_t start = 3;
    for (size_t k = 0; k < count; k++) {
        size_t end = start;
        while (end < n && l[end] != ' ')
            end++;
        if (!valid_arg((const char *)l + start, end - start))
            return hdr_err(err, lineno, (long)start + 1,
                           "stanza argument is empty or has a character "
                           "outside printable ASCII");
        s->args[k] = strndup((const char *)l + start, end - start);
        if (!s->args[k])
            return st_err_set(err, ST_E_IO, "out of memory");
        s->nargs = k + 1;
        start = end + 1;
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_body(st_reader *r, long *lineno,
                                        st_age_stanza *s, int *incomplete,
                                        st_err *err)
{
    st_buf body;
    st_buf_init(&body);
    for (;;) {
        size_t n;
        const uint8_t *l = next_line(r, &n);
        ++*lineno;
        if (!l) {
            st_buf_free(&body);
            *incomplete = 1;
            return hdr_err(err, *lineno, 1,
                           "the file ends inside a stanza body");
        }
        if (n > AGE_COLUMNS) {
            st_buf_free(&body);
            return hdr_err(err, *lineno, AGE_COLUMNS + 1,
                           "stanza body line is longer than 64 columns");
        }
        uint8_t *d = NULL;
        size_t dlen = 0;
        st_err e2;
        if (age_b64_exact((const char *)l, n, 0, &d, &dlen, &e2) != ST_OK) {
            st_buf_free(&body);
            return st_err_at(err, ST_E_INPUT, "age header", *lineno, 1,
                             "stanza body line is not canonical unpadded "
                             "base64 (%s)",
                             e2.msg);
        }
        st_code rc = st_buf_append(&body, d, dlen, err);
        free(d);
        if (rc != ST_OK) {
            st_buf_free(&body);
            return rc;
        }
        /* a short line (maybe empty) ends the body */
        if (dlen < AGE_LINE_BYTES)
            break;
    }
    s->body = body.data ? body.data : malloc(1);
    s->body_len = body.len;
    return s->body ? ST_OK : st_err_set(err, ST_E_IO, "out of memory");
}

st_code st_age_header_parse(const uint8_t *data, size_t len, st_age_header *out,
                            int *incomplete, st_err *err)
{
    int inc_dummy = 0;
    if (!incomplete)
        incomplete = &inc_dummy;
    *incomplete = 0;
    memset(out, 0, sizeof(*out));
    st_reader r;
    st_reader_init(&r, data, len);
    long lineno = 1;
    size_t n;
    const uint8_t *l = next_line(&r, &n);
    if (!l) {
        size_t cmp = len < sizeof(AGE_INTRO) ? len : sizeof(AGE_INTRO);
        if (memcmp(data, AGE_INTRO "\n", cmp) == 0)
            *incomplete = 1;
        return hdr_err(err, 1, 1,
                       len ? "not an age file: the first line is not "
                             "\"" AGE_INTRO "\""
                           : "the file is empty");
    }
    if (n != strlen(AGE_INTRO) || memcmp(l, AGE_INTRO, n) != 0) {
        if (n >= 19 && memcmp(l, "age-encryption.org/", 19) == 0)
            return hdr_err(err, 1, 20, "unsupported age format version");
        return hdr_err(err, 1, 1,
                       "not an age file: the first line is not "
                       "\"" AGE_INTRO "\"");
    }
    st_code rc;
    for (;;) {
        size_t line_off = r.off;
        l = next_line(&r, &n);
        lineno++;
        if (!l) {
            *incomplete = 1;
            rc = hdr_err(err, lineno, 1,
                         "the file ends before the header's \"---\" line");
            goto fail;
        }
        if (n >= 3 && memcmp(l, "---", 3) == 0) {
            if (n != 3 + 1 + 43 || l[3] != ' ') {
                rc = hdr_err(err, lineno, 4,
                             "malformed MAC line: expected \"--- \" and 43 "
                             "base64 characters");
                goto fail;
            }
            uint8_t *mac = NULL;
            size_t maclen = 0;
            st_err e2;
            if (age_b64_exact((const char *)l + 4, 43, 32, &mac, &maclen,
                              &e2) != ST_OK) {
                rc = st_err_at(err, ST_E_INPUT, "age header", lineno, 5,
                               "malformed header MAC: %s", e2.msg);
                goto fail;
            }
            memcpy(out->mac, mac, 32);
            free(mac);
            out->mac_off = line_off + 3;
            out->len = r.off;
            return ST_OK;
        }
        if (n < 2 || l[0] != '-' || l[1] != '>' || (n > 2 && l[2] != ' ')) {
            rc = hdr_err(err, lineno, 1,
                         "expected a stanza (\"-> \") or the MAC line "
                         "(\"--- \")");
            goto fail;
        }
        st_age_stanza *grown =
            realloc(out->stanzas, (out->nstanzas + 1) * sizeof(*grown));
        if (!grown) {
            rc = st_err_set(err, ST_E_IO, "out of memory");
            goto fail;
        }
        out->stanzas = grown;
        st_age_stanza *s = &out->stanzas[out->nstanzas++];
        memset(s, 0, sizeof(*s));
        if ((rc = parse_args(l, n, lineno, s, err)) != ST_OK ||
            (rc = parse_body(&r, &lineno, s, incomplete, err)) != ST_OK)
            goto fail;
    }
fail:
    st_age_header_clear(out);
    return rc;
}

/* --- writing ------------------------------------------------------------ */

st_code age_header_mac(const uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                       const uint8_t *hdr, size_t mac_off, uint8_t mac[32],
                       st_err *err)
{
    uint8_t *key = st_secmem_alloc(32, err);
    if (!key)
        return err ? err->code : ST_E_IO;
    st_code rc = st_hkdf_sha256(file_key, ST_AGE_FILE_KEY_LEN, NULL, 0,
                                "header", 6, key, 32, err);
    if (rc == ST_OK)
        rc = st_hmac_sha256(key, 32, hdr, mac_off, mac, err);
    st_secmem_free(key);
    return rc;
}

st_code age_header_encode(const st_age_stanza *stanzas, size_t n,
                          const uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                          st_buf *out, st_err *err)
{
    st_code rc = st_buf_append(out, AGE_INTRO "\n", strlen(AGE_INTRO) + 1, err);
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        const st_age_stanza *s = &stanzas[i];
        rc = st_buf_append(out, "->", 2, err);
        for (size_t a = 0; rc == ST_OK && a < s->nargs; a++) {
            if (!valid_arg(s->args[a], strlen(s->args[a])))
                return st_err_set(err, ST_E_INTERNAL,
                                  "age stanza argument is not printable "
                                  "ASCII");
            rc = st_buf_printf(out, err, " %s", s->args[a]);
        }
        if (rc == ST_OK)
            rc = st_buf_append(out, "\n", 1, err);
        char *b64 = st_base64_encode(s->body, s->body_len, 0);
        if (!b64)
            return st_err_set(err, ST_E_IO, "out of memory");
        /* wrapped at 64 columns; the last line is always short, so a
         * body of a multiple of 48 bytes ends with an empty line */
        size_t blen = strlen(b64);
        for (size_t o = 0; rc == ST_OK; o += AGE_COLUMNS) {
            size_t take = blen - o < AGE_COLUMNS ? blen - o : AGE_COLUMNS;
            rc = st_buf_append(out, b64 + o, take, err);
            if (rc == ST_OK)
                rc = st_buf_append(out, "\n", 1, err);
            if (take < AGE_COLUMNS)
                break;
        }
        free(b64);
    }
    if (rc == ST_OK)
        rc = st_buf_append(out, "---", 3, err);
    if (rc != ST_OK)
        return rc;
    uint8_t mac[32];
    if ((rc = age_header_mac(file_key, out->data, out->len, mac, err)) != ST_OK)
        return rc;
    char *m = st_base64_encode(mac, 32, 0);
    if (!m)
        return st_err_set(err, ST_E_IO, "out of memory");
    rc = st_buf_printf(out, err, " %s\n", m);
    free(m);
    return rc;
}

/* --- file key ------------------------------------------------------------ */

st_code age_wrap_all(const st_age_recipient *rcpts, size_t nrcpts,
                     const uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                     st_age_stanza **out, size_t *n, st_err *err)
{
    *out = NULL;
    *n = 0;
    if (nrcpts == 0)
        return st_err_set(err, ST_E_USAGE, "age: no recipients");
    for (size_t i = 0; i < nrcpts; i++)
        if (rcpts[i].type && !strcmp(rcpts[i].type, ST_AGE_STANZA_SCRYPT) &&
            nrcpts != 1)
            return st_err_set(err, ST_E_USAGE,
                              "age: a passphrase (scrypt) recipient must be "
                              "the only recipient");
    st_age_stanza *s = calloc(nrcpts, sizeof(*s));
    if (!s)
        return st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; i < nrcpts; i++) {
        st_code rc = rcpts[i].wrap(rcpts[i].ctx, file_key, &s[i], err);
        if (rc == ST_OK && s[i].nargs == 0)
            rc = st_err_set(err, ST_E_INTERNAL,
                            "age recipient %zu wrote no stanza", i);
        if (rc != ST_OK) {
            age_stanzas_free(s, nrcpts);
            return st_err_prefix(err, "age: wrapping the file key");
        }
    }
    *out = s;
    *n = nrcpts;
    return ST_OK;
}

st_code age_header_unwrap(const st_age_header *h, const uint8_t *raw,
                          const st_age_identity *ids, size_t nids,
                          uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                          st_age_fail *fail, st_err *err)
{
    *fail = ST_AGE_FAIL_HEADER;
    /* a passphrase file has exactly one stanza: otherwise a file that is
     * also readable by a public key could pass for passphrase-only */
    for (size_t i = 0; i < h->nstanzas; i++)
        if (!strcmp(h->stanzas[i].args[0], ST_AGE_STANZA_SCRYPT) &&
            h->nstanzas != 1)
            return st_err_set(err, ST_E_INPUT,
                              "age header: an scrypt stanza must be the only "
                              "stanza");
    if (nids == 0) {
        *fail = ST_AGE_FAIL_NO_MATCH;
        return st_err_set(err, ST_E_USAGE, "age: no identities given");
    }
    /* identity-major, like the reference implementation: the first
     * identity that opens any stanza wins */
    for (size_t i = 0; i < nids; i++) {
        for (size_t k = 0; k < h->nstanzas; k++) {
            st_err e2;
            st_err_clear(&e2);
            st_code rc =
                ids[i].unwrap(ids[i].ctx, &h->stanzas[k], file_key, &e2);
            if (rc == ST_E_NOTFOUND)
                continue;
            if (rc == ST_E_INPUT) {
                if (err)
                    *err = e2;
                return st_err_prefix(err, "age header: stanza %zu", k + 1);
            }
            if (rc != ST_OK) {
                *fail = ST_AGE_FAIL_NO_MATCH;
                if (err)
                    *err = e2;
                return st_err_prefix(err, "age: unwrapping stanza %zu", k + 1);
            }
            uint8_t mac[32];
            if ((rc = age_header_mac(file_key, raw, h->mac_off, mac, err)) !=
                ST_OK) {
                st_wipe(file_key, ST_AGE_FILE_KEY_LEN);
                *fail = ST_AGE_FAIL_IO;
                return rc;
            }
            if (!st_ct_equal(mac, h->mac, 32)) {
                st_wipe(file_key, ST_AGE_FILE_KEY_LEN);
                *fail = ST_AGE_FAIL_HMAC;
                return st_err_set(err, ST_E_DENIED,
                                  "age header MAC: does not match (the "
                                  "header was altered)");
            }
            *fail = ST_AGE_FAIL_NONE;
            return ST_OK;
        }
    }
    *fail = ST_AGE_FAIL_NO_MATCH;
    return st_err_set(err, ST_E_DENIED,
                      "age: no matching recipient: none of the %zu "
                      "identities opens any of the %zu stanzas",
                      nids, h->nstanzas);
}

st_code age_payload_key(const uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                        const uint8_t nonce[AGE_NONCE_LEN], uint8_t key[32],
                        st_err *err)
{
    return st_hkdf_sha256(file_key, ST_AGE_FILE_KEY_LEN, nonce, AGE_NONCE_LEN,
                          "payload", 7, key, 32, err);
}

void age_chunk_nonce(uint64_t counter, int last, uint8_t nonce[12])
{
    nonce[0] = nonce[1] = nonce[2] = 0;
    for (int i = 0; i < 8; i++)
        nonce[3 + i] = (uint8_t)(counter >> (56 - 8 * i));
    nonce[11] = last ? 1 : 0;
}
