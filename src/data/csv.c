/*
 * csv.c: the CSV reader (RFC 4180 with a required header row).
 *
 * Records end in LF or CRLF (the last one may lack it). Fields are
 * separated by commas; a field that starts with a double quote runs to the
 * matching closing quote, "" stands for one quote, and commas, CR and LF
 * inside are data. Rejected, with file:line:field and what was expected:
 * a quote inside an unquoted field, text after a closing quote, an
 * unterminated quote, a bare CR, an empty line, a record whose field count
 * differs from the header's, empty or duplicate header names, header
 * names that are not valid UTF-8 or hold control characters, and feature
 * fields that are not finite float32 numbers (number.c). Never repairs.
 *
 * scikit-learn's bundled tables (breast_cancer.csv, iris.csv, wine_data.csv)
 * have no header row but a first line of counts: n_samples, n_features,
 * then the class names (or empty fields), and rows of n_features numbers
 * and the class index. A first line whose first two fields are positive
 * integers and whose others are not numbers is read as that layout: the
 * columns are named feature_0 .. feature_{n-1} and target (the label),
 * the row count and the class indices (below the number of class names)
 * are checked, and the class names become the classes' names in the
 * tensor (st_rows_class_names).
 *
 * A record is parsed from its first byte each time: when the window ends
 * inside a record the window is refilled and the record parsed again, so
 * no parser state survives a refill (records are small next to the
 * window, so the repeated work is negligible).
 */
#include "data/rows.h"
#include "data_internal.h"

#include <stdio.h>
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

/* 0 when s[0..n) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), else 1 + the offset of the first
 * bad byte. */
static size_t utf8_bad(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (!len || i + len > n)
            return i + 1;
        unsigned cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i + 1;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i + 1;
        i += len;
    }
    return 0;
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

/* One label column: a header name first, else a 0-based index. */
static ST_MUST_CHECK st_code find_column(st_rows *r, const char *name,
                                         size_t len, size_t *col, st_err *err)
{
    for (size_t i = 0; i < r->ncols; i++) {
        if (strlen(r->names[i]) == len && memcmp(r->names[i], name, len) == 0) {
            *col = i;
            return ST_OK;
        }
    }
    size_t v = 0, k = 0;
    while (k < len && k < 8 && name[k] >= '0' && name[k] <= '9')
        v = v * 10 + (size_t)(name[k++] - '0');
    if (k > 0 && k == len && v < r->ncols) {
        *col = v;
        return ST_OK;
    }
    char q[64];
    st_data_quote(name, len, q, sizeof(q));
    return st_err_at(err, ST_E_INPUT, r->origin, 1, 0,
                     "no label column %s: expected a header name or an "
                     "index from 0 to %zu",
                     q, r->ncols - 1);
}

/* The label columns: the whole --label text when it names a column (a
 * header may hold a comma), else a comma-separated list of names or
 * indices (several regression targets). */
static ST_MUST_CHECK st_code label_columns(st_rows *r, const char *label,
                                           st_err *err)
{
    if (!label) { /* rows to score: features only */
        r->is_label = calloc(r->ncols, sizeof(uint32_t));
        r->feature_cols = calloc(r->ncols, sizeof(size_t));
        if (!r->is_label || !r->feature_cols)
            return st_err_set(err, ST_E_IO, "out of memory");
        for (size_t i = 0; i < r->ncols; i++)
            r->feature_cols[i] = i;
        r->nlabels = 0;
        return st_rows_reserve_values(r, r->ncols, 0, err);
    }
    size_t n = 1;
    int whole = 0;
    for (size_t i = 0; i < r->ncols; i++)
        whole |= strcmp(r->names[i], label) == 0;
    if (!whole)
        for (const char *c = label; *c; c++)
            n += *c == ',';
    if (n + 1 > r->ncols)
        return st_err_at(err, ST_E_INPUT, r->origin, 1, 0,
                         "%zu label columns of %zu: expected at least one "
                         "feature column besides the labels",
                         n, r->ncols);
    if (n > ST_DATA_MAX_TARGETS)
        return st_err_at(err, ST_E_INPUT, r->origin, 1, 0,
                         "%zu label columns: at most %u", n,
                         ST_DATA_MAX_TARGETS);
    r->label_cols = calloc(n, sizeof(size_t));
    r->is_label = calloc(r->ncols, sizeof(uint32_t));
    r->feature_cols = calloc(r->ncols - n, sizeof(size_t));
    if (!r->label_cols || !r->is_label || !r->feature_cols)
        return st_err_set(err, ST_E_IO, "out of memory");
    const char *p = label;
    for (size_t k = 0; k < n; k++) {
        size_t len = whole ? strlen(p) : strcspn(p, ",");
        st_code rc = find_column(r, p, len, &r->label_cols[k], err);
        if (rc)
            return rc;
        if (r->is_label[r->label_cols[k]]) {
            char q[64];
            st_data_quote(r->names[r->label_cols[k]],
                          strlen(r->names[r->label_cols[k]]), q, sizeof(q));
            return st_err_at(err, ST_E_INPUT, r->origin, 1, 0,
                             "label column %s is named twice", q);
        }
        if (n > 1 && strlen(r->names[r->label_cols[k]]) > ST_DATA_MAX_LABEL)
            return st_err_at(err, ST_E_INPUT, r->origin, 1,
                             (long)r->label_cols[k] + 1,
                             "a target column's name is longer than %u "
                             "bytes",
                             ST_DATA_MAX_LABEL);
        r->is_label[r->label_cols[k]] = (uint32_t)k + 1;
        p += len + (p[len] == ',');
    }
    r->nlabels = n;
    r->label_col = r->label_cols[0];
    for (size_t i = 0, j = 0; i < r->ncols; i++)
        if (!r->is_label[i])
            r->feature_cols[j++] = i;
    if (n > 1 && !(r->targets = st_secmem_alloc(n * sizeof(float), err)))
        return err ? err->code : ST_E_IO;
    return st_rows_reserve_values(r, r->ncols - n, 0, err);
}

/* A canonical positive integer (no sign, no leading zero) up to 2^40. */
static uint64_t counting_number(const uint8_t *s, size_t n)
{
    if (n == 0 || n > 13 || s[0] == '0')
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v;
}

/* The first record is scikit-learn's line of counts (see the header
 * comment): columns named, class names kept. 0: it is not; 1: it is; an
 * error code otherwise. */
static int sklearn_layout(st_rows *r, size_t nf, st_err *err, st_code *rc)
{
    const st_csv_field *f = r->fields;
    uint64_t rows = counting_number(r->buf + f[0].off, f[0].len);
    uint64_t cols = counting_number(r->buf + f[1].off, f[1].len);
    if (!rows || !cols)
        return 0;
    for (size_t i = 2; i < nf; i++) {
        float v;
        if (f[i].len && st_data_parse_float((const char *)r->buf + f[i].off,
                                            f[i].len, &v) == ST_NUM_OK)
            return 0; /* a number: data, not a class name */
    }
    if (cols + 1 > ST_DATA_MAX_COLUMNS) {
        *rc = st_err_at(err, ST_E_INPUT, r->origin, 1, 2,
                        "scikit-learn layout: %llu features: at most %u",
                        (unsigned long long)cols, ST_DATA_MAX_COLUMNS - 1);
        return -1;
    }
    size_t named = 0;
    for (size_t i = 2; i < nf; i++)
        named += f[i].len > 0;
    r->sk_rows = rows;
    r->ncols = (size_t)cols + 1;
    r->names = calloc(r->ncols, sizeof(char *));
    r->sk_classes = named ? calloc(named, sizeof(char *)) : NULL;
    if (!r->names || (named && !r->sk_classes)) {
        *rc = st_err_set(err, ST_E_IO, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->ncols; i++) {
        char name[32];
        if (i + 1 < r->ncols)
            snprintf(name, sizeof(name), "feature_%zu", i);
        else
            snprintf(name, sizeof(name), "target");
        if (!(r->names[i] = strdup(name))) {
            *rc = st_err_set(err, ST_E_IO, "out of memory");
            return -1;
        }
    }
    for (size_t i = 2; i < nf; i++) {
        if (!f[i].len)
            continue;
        if (f[i].len > ST_DATA_MAX_LABEL ||
            memchr(r->buf + f[i].off, '\0', f[i].len)) {
            *rc = st_err_at(err, ST_E_INPUT, r->origin, 1, (long)i + 1,
                            "scikit-learn layout: a class name of more than "
                            "%u bytes, or with a NUL",
                            ST_DATA_MAX_LABEL);
            return -1;
        }
        char *c = malloc(f[i].len + 1);
        if (!c) {
            *rc = st_err_set(err, ST_E_IO, "out of memory");
            return -1;
        }
        c[unescape(r, &f[i], c)] = 0;
        r->sk_classes[r->sk_nclasses++] = c;
    }
    return 1;
}

size_t st_rows_class_names(const st_rows *r, const char *const **names)
{
    *names = (const char *const *)r->sk_classes;
    return r->sk_nclasses;
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
    if (nf < (label ? 2u : 1u))
        return st_err_at(err, ST_E_INPUT, r->origin, 1, 0,
                         "the header has %zu column: expected at least one "
                         "feature and the label",
                         nf);
    int sk = sklearn_layout(r, nf, err, &rc);
    if (sk < 0)
        return rc;
    if (sk) {
        rc = label_columns(r, label, err);
        return rc ? st_err_prefix(err,
                                  "%s: scikit-learn's layout (a first line "
                                  "of counts: %llu rows, %zu features, %zu "
                                  "class names), whose label column is "
                                  "\"target\" (--label target)",
                                  r->origin, (unsigned long long)r->sk_rows,
                                  r->ncols - 1, r->sk_nclasses)
                  : ST_OK;
    }
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
        size_t nl = unescape(r, f, r->names[i]);
        /* names go into the signed manifest (JSON: UTF-8 only) and onto
         * terminals: refuse here, before anything is written, rather
         * than register a dataset whose manifest cannot be read back */
        const unsigned char *u = (const unsigned char *)r->names[i];
        size_t bad = utf8_bad(u, nl);
        if (bad)
            return st_err_at(err, ST_E_INPUT, r->origin, 1, (long)i + 1,
                             "header name is not valid UTF-8 (byte %zu, "
                             "0x%02x): save the file as UTF-8",
                             bad, u[bad - 1]);
        for (size_t k = 0; k < nl; k++)
            if (u[k] < 0x20 || u[k] == 0x7f)
                return st_err_at(err, ST_E_INPUT, r->origin, 1, (long)i + 1,
                                 "a control character (0x%02x) in a header "
                                 "name",
                                 u[k]);
    }
    rc = check_unique(r, err);
    if (rc)
        return rc;
    return label_columns(r, label, err);
}

/* scikit-learn's layout with class names: the label is a class index
 * below their count. */
static ST_MUST_CHECK st_code sklearn_class_check(const st_rows *r,
                                                 const st_row *row,
                                                 const st_csv_field *f,
                                                 size_t i, st_err *err)
{
    if (!r->sk_nclasses)
        return ST_OK;
    const uint8_t *s = (const uint8_t *)row->label;
    size_t n = row->label_len;
    uint64_t v = n == 1 && s[0] == '0' ? 0 : counting_number(s, n);
    if ((v == 0 && !(n == 1 && s[0] == '0')) || v >= r->sk_nclasses) {
        char q[64];
        st_data_quote(row->label, n, q, sizeof(q));
        return st_err_at(err, ST_E_INPUT, r->origin, f->line, (long)i + 1,
                         "column \"target\": expected a class index 0 to "
                         "%zu (the first line names %zu classes), found %s",
                         r->sk_nclasses - 1, r->sk_nclasses, q);
    }
    return ST_OK;
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
        if (r->sk_rows && r->sk_seen != r->sk_rows)
            return st_err_at(err, ST_E_INPUT, r->origin, line, 0,
                             "scikit-learn layout: the first line announces "
                             "%llu rows, the file has %llu",
                             (unsigned long long)r->sk_rows,
                             (unsigned long long)r->sk_seen);
        return ST_OK;
    }
    r->sk_seen++;
    if (nf != r->ncols)
        return st_err_at(err, ST_E_INPUT, r->origin, line, 0,
                         "expected %zu fields (as in the header), found %zu",
                         r->ncols, nf);
    size_t j = 0;
    row->target = NULL;
    row->ntargets = 0;
    for (size_t i = 0; i < nf; i++) {
        const st_csv_field *f = &r->fields[i];
        const char *s = (const char *)r->buf + f->off;
        float *dst = &r->values[j];
        if (r->is_label[i] && r->nlabels > 1) {
            /* targets are numbers, as features, in --label order */
            dst = &r->targets[r->is_label[i] - 1];
        } else if (r->is_label[i]) {
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
            rc = sklearn_class_check(r, row, f, i, err);
            if (rc)
                return rc;
            continue;
        } else {
            j++;
        }
        st_num_status ns =
            f->escaped ? ST_NUM_SYNTAX : st_data_parse_float(s, f->len, dst);
        if (ns != ST_NUM_OK) {
            char q[64], qn[64];
            st_data_quote(s, f->len, q, sizeof(q));
            return st_err_at(err, ST_E_INPUT, r->origin, f->line, (long)i + 1,
                             "column %s: %s, found %s",
                             qname(r, i, qn, sizeof(qn)), st_data_num_why(ns),
                             q);
        }
    }
    if (r->nlabels == 0) { /* rows to score: no label at all */
        row->label = "";
        row->label_len = 0;
    } else if (r->nlabels > 1) {
        /* no label text: the targets are the row's label */
        row->label = "";
        row->label_len = 0;
        row->target = r->targets;
        row->ntargets = r->nlabels;
    }
    row->line = line;
    row->n = j;
    row->index = NULL;
    row->value = r->values;
    return ST_OK;
}
