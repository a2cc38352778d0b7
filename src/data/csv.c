/*
 * csv.c: the CSV reader (RFC 4180 with a required header row).
 *
 * Records end in LF or CRLF (the last one may lack it). Fields are
 * separated by commas; a field that starts with a double quote runs to the
 * matching closing quote, "" stands for one quote, and commas, CR and LF
 * inside are data. Rejected, with file:line:field and what was expected:
 * a quote inside an unquoted field, text after a closing quote, an
 * unterminated quote, a bare CR, an empty line, a record whose field count
 * differs from the header's, empty or duplicate header names, and feature
 * fields that are not finite float32 numbers (number.c). Never repairs.
 *
 * A record is parsed from its first byte each time: when the window ends
 * inside a record the window is refilled and the record parsed again, so
 * no parser state survives a refill (records are small next to the
 * window, so the repeated work is negligible).
 */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#include "sealtrain/secmem.h"

enum { REC_DONE = 1, REC_MORE = 0, REC_ERROR = -1, REC_END = 2 };

static ST_MUST_CHECK st_code add_field(st_rows *r, size_t *nf, size_t off,
                                       size_t len, long line, int quoted,
                                       int escaped, st_err *err)
{
    if (*nf == r->fields_cap) {
        size_t ncap = r->fields_cap ? r->fields_cap * 2 : 64;
        if (ncap > ST_DATA_MAX_COLUMNS + 1)
            ncap = ST_DATA_MAX_COLUMNS + 1;
        if (*nf >= ncap)
            return st_err_at(err, ST_E_INPUT, r->origin, line, 0,
                             "more than %u fields in a record",
                             ST_DATA_MAX_COLUMNS);
        st_csv_field *nfld = realloc(r->fields, ncap * sizeof(*nfld));
        if (!nfld)
            return st_err_set(err, ST_E_IO, "out of memory");
        r->fields = nfld;
        r->fields_cap = ncap;
    }
    st_csv_field *f = &r->fields[(*nf)++];
    f->off = off;
    f->len = len;
    f->line = line;
    f->quoted = quoted;
    f->escaped = escaped;
    return ST_OK;
}

/* Parses one record at buf[pos..len). On REC_DONE the fields are in
 * r->fields[0..*nf), r->pos is past the terminator and r->line advanced. */
static int parse_record(st_rows *r, size_t *nf, st_err *err)
{
    const uint8_t *b = r->buf;
    size_t p = r->pos, end = r->len;
    long line = r->line;
    *nf = 0;
    if (p == end)
        return r->eof ? REC_END : REC_MORE;
    if (b[p] == '\n' || (b[p] == '\r' && p + 1 < end && b[p + 1] == '\n')) {
        st_err_at(err, ST_E_INPUT, r->origin, line, 1,
                  "empty line: expected %zu fields", r->ncols ? r->ncols : 1);
        return REC_ERROR;
    }
    for (;;) {
        size_t start = p;
        long fline = line;
        if (p < end && b[p] == '"') {
            int escaped = 0;
            p++;
            for (;;) {
                const uint8_t *q = memchr(b + p, '"', end - p);
                /* count the lines the quoted text spans */
                const uint8_t *stop = q ? q : b + end;
                for (const uint8_t *c = b + p;
                     (c = memchr(c, '\n', (size_t)(stop - c))) != NULL; c++)
                    line++;
                if (!q) {
                    if (!r->eof)
                        return REC_MORE;
                    st_err_at(err, ST_E_INPUT, r->origin, fline, (long)*nf + 1,
                              "unterminated quoted field: expected a "
                              "closing '\"'");
                    return REC_ERROR;
                }
                p = (size_t)(q - b) + 1;
                if (p == end && !r->eof)
                    return REC_MORE;
                if (p < end && b[p] == '"') {
                    escaped = 1;
                    p++;
                    continue;
                }
                break;
            }
            if (add_field(r, nf, start + 1, p - 1 - (start + 1), fline, 1,
                          escaped, err))
                return REC_ERROR;
            if (p < end && b[p] != ',' && b[p] != '\n' && b[p] != '\r') {
                st_err_at(err, ST_E_INPUT, r->origin, line, (long)*nf,
                          "unexpected character after a closing quote: "
                          "expected ',' or the end of the line");
                return REC_ERROR;
            }
        } else {
            while (p < end) {
                uint8_t c = b[p];
                if (c == ',' || c == '\n' || c == '\r' || c == '"')
                    break;
                p++;
            }
            if (p < end && b[p] == '"') {
                st_err_at(err, ST_E_INPUT, r->origin, line, (long)*nf + 1,
                          "a '\"' inside an unquoted field: quote the "
                          "whole field and double the quote");
                return REC_ERROR;
            }
            if (p == end && !r->eof)
                return REC_MORE;
            if (add_field(r, nf, start, p - start, fline, 0, 0, err))
                return REC_ERROR;
        }
        /* after a field: ',', LF, CRLF or the end of the input */
        if (p == end) {
            r->pos = p;
            r->line = line + 1;
            return REC_DONE;
        }
        if (b[p] == ',') {
            p++;
            continue;
        }
        if (b[p] == '\r') {
            if (p + 1 == end && !r->eof)
                return REC_MORE;
            if (p + 1 == end || b[p + 1] != '\n') {
                st_err_at(err, ST_E_INPUT, r->origin, line, (long)*nf,
                          "a carriage return not followed by a line feed");
                return REC_ERROR;
            }
            p++;
        }
        /* b[p] == '\n' */
        r->pos = p + 1;
        r->line = line + 1;
        return REC_DONE;
    }
}

static ST_MUST_CHECK st_code next_record(st_rows *r, size_t *nf, int *end,
                                         st_err *err)
{
    *end = 0;
    for (;;) {
        int rc = parse_record(r, nf, err);
        if (rc == REC_DONE)
            return ST_OK;
        if (rc == REC_END) {
            *end = 1;
            return ST_OK;
        }
        if (rc == REC_ERROR)
            return err ? err->code : ST_E_INPUT;
        st_code fc = st_rows_fill(r, err);
        if (fc)
            return fc;
    }
}

/* Copies a field's text, turning "" into ", into dst (cap >= len + 1). */
static size_t unescape(const st_rows *r, const st_csv_field *f, char *dst)
{
    const char *s = (const char *)r->buf + f->off;
    size_t o = 0;
    for (size_t i = 0; i < f->len; i++) {
        dst[o++] = s[i];
        if (f->escaped && s[i] == '"')
            i++; /* skip the second quote of a pair */
    }
    dst[o] = '\0';
    return o;
}

/* A header name quoted for messages (names are untrusted text). */
static const char *qname(const st_rows *r, size_t i, char *buf, size_t cap)
{
    st_data_quote(r->names[i], strlen(r->names[i]), buf, cap);
    return buf;
}

static int cmp_names(const void *a, const void *b, void *arg)
{
    char **names = arg;
    return strcmp(names[*(const size_t *)a], names[*(const size_t *)b]);
}

static ST_MUST_CHECK st_code check_unique(st_rows *r, st_err *err)
{
    size_t *ord = malloc(r->ncols * sizeof(*ord));
    if (!ord)
        return st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; i < r->ncols; i++)
        ord[i] = i;
    qsort_r(ord, r->ncols, sizeof(*ord), cmp_names, r->names);
    st_code rc = ST_OK;
    for (size_t i = 1; i < r->ncols; i++) {
        if (strcmp(r->names[ord[i - 1]], r->names[ord[i]]) == 0) {
            size_t a = ord[i - 1] < ord[i] ? ord[i - 1] : ord[i];
            size_t b = ord[i - 1] < ord[i] ? ord[i] : ord[i - 1];
            char q[64];
            st_data_quote(r->names[a], strlen(r->names[a]), q, sizeof(q));
            rc = st_err_at(err, ST_E_INPUT, r->origin, 1, (long)b + 1,
                           "duplicate header name %s (also field %zu)", q,
                           a + 1);
            break;
        }
    }
    free(ord);
    return rc;
}

st_code st_csv_open(st_rows *r, const char *label, st_err *err)
{
    size_t nf;
    int end;
    st_code rc = st_rows_fill(r, err);
    if (rc)
        return rc;
    /* one UTF-8 byte order mark is part of the encoding, not of the data */
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
    if (r->len == r->pos && r->eof)
        return st_err_at(err, ST_E_INPUT, r->origin, 0, 0,
                         "empty file: expected a header row");
    rc = next_record(r, &nf, &end, err);
    if (rc)
        return rc;
    if (end)
        return st_err_at(err, ST_E_INPUT, r->origin, 0, 0,
                         "empty file: expected a header row");
    if (nf < 2)
        return st_err_at(err, ST_E_INPUT, r->origin, 1, 0,
                         "the header has %zu column: expected at least one "
                         "feature and the label",
                         nf);
    r->names = calloc(nf, sizeof(char *));
    if (!r->names)
        return st_err_set(err, ST_E_IO, "out of memory");
    r->ncols = nf;
    for (size_t i = 0; i < nf; i++) {
        const st_csv_field *f = &r->fields[i];
        if (f->len == 0)
            return st_err_at(err, ST_E_INPUT, r->origin, 1, (long)i + 1,
                             "empty header name: every column needs a "
                             "name");
        r->names[i] = malloc(f->len + 1);
        if (!r->names[i])
            return st_err_set(err, ST_E_IO, "out of memory");
        if (memchr(r->buf + f->off, '\0', f->len))
            return st_err_at(err, ST_E_INPUT, r->origin, 1, (long)i + 1,
                             "a NUL byte in a header name");
        unescape(r, f, r->names[i]);
    }
    rc = check_unique(r, err);
    if (rc)
        return rc;
    /* the label: a header name first, else a 0-based index */
    for (size_t i = 0; i < nf; i++) {
        if (strcmp(r->names[i], label) == 0) {
            r->label_col = i;
            goto found;
        }
    }
    {
        char *endp;
        unsigned long v = strtoul(label, &endp, 10);
        if (label[0] >= '0' && label[0] <= '9' && *endp == '\0' && v < nf) {
            r->label_col = v;
            goto found;
        }
        char q[64];
        st_data_quote(label, strlen(label), q, sizeof(q));
        return st_err_at(err, ST_E_INPUT, r->origin, 1, 0,
                         "no label column %s: expected a header name or "
                         "an index from 0 to %zu",
                         q, nf - 1);
    }
found:
    return st_rows_reserve_values(r, nf - 1, 0, err);
}

st_code st_csv_next(st_rows *r, st_row *row, int *done, st_err *err)
{
    size_t nf;
    int end;
    long line = r->line;
    st_code rc = next_record(r, &nf, &end, err);
    if (rc)
        return rc;
    if (end) {
        *done = 1;
        return ST_OK;
    }
    if (nf != r->ncols)
        return st_err_at(err, ST_E_INPUT, r->origin, line, 0,
                         "expected %zu fields (as in the header), found %zu",
                         r->ncols, nf);
    size_t j = 0;
    for (size_t i = 0; i < nf; i++) {
        const st_csv_field *f = &r->fields[i];
        const char *s = (const char *)r->buf + f->off;
        if (i == r->label_col) {
            char qn[64];
            if (f->len == 0)
                return st_err_at(err, ST_E_INPUT, r->origin, f->line,
                                 (long)i + 1,
                                 "column %s: expected a label, found an "
                                 "empty field",
                                 qname(r, i, qn, sizeof(qn)));
            if (f->len > ST_DATA_MAX_LABEL || memchr(s, '\0', f->len))
                return st_err_at(
                    err, ST_E_INPUT, r->origin, f->line, (long)i + 1,
                    "column %s: expected a label of at most %u "
                    "bytes without NUL",
                    qname(r, i, qn, sizeof(qn)), ST_DATA_MAX_LABEL);
            rc = st_rows_reserve_label(r, f->len, err);
            if (rc)
                return rc;
            row->label_len = unescape(r, f, r->label);
            row->label = r->label;
            continue;
        }
        st_num_status ns = f->escaped
                               ? ST_NUM_SYNTAX
                               : st_data_parse_float(s, f->len, &r->values[j]);
        if (ns != ST_NUM_OK) {
            char q[64], qn[64];
            st_data_quote(s, f->len, q, sizeof(q));
            return st_err_at(err, ST_E_INPUT, r->origin, f->line, (long)i + 1,
                             "column %s: %s, found %s",
                             qname(r, i, qn, sizeof(qn)), st_data_num_why(ns),
                             q);
        }
        j++;
    }
    row->line = line;
    row->n = j;
    row->index = NULL;
    row->value = r->values;
    return ST_OK;
}
