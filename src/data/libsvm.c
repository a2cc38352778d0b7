/*
 * libsvm.c: the LIBSVM / svmlight reader.
 *
 * One example per line:  LABEL INDEX:VALUE INDEX:VALUE ... [# comment]
 * separated by spaces or tabs, LF or CRLF line ends. The label is a
 * finite number (mapped to a class later, see scan.c). Indices are
 * decimal, 1-based and strictly increasing; values are finite float32
 * numbers (number.c). Lines that start with '#' are comments. Rejected
 * with line:column and what was expected: empty lines, index 0, repeated
 * or decreasing indices, "qid:" (svmlight ranking groups: sealtrain trains
 * classifiers and does not know what a query group would mean), anything
 * that is not INDEX:VALUE. Never repairs.
 */
#include "data/rows.h"
#include "data_internal.h"

#include <string.h>

#define MAX_INDEX ST_DATA_MAX_COLUMNS

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Finds the next complete line: [*s, *e) without its line end. */
static ST_MUST_CHECK st_code next_line(st_rows *r, size_t *s, size_t *e,
                                       int *end, st_err *err)
{
    *end = 0;
    for (;;) {
        const uint8_t *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
        if (nl || (r->eof && r->pos < r->len)) {
            *s = r->pos;
            *e = nl ? (size_t)(nl - r->buf) : r->len;
            r->pos = nl ? *e + 1 : *e;
            if (*e > *s && r->buf[*e - 1] == '\r')
                (*e)--;
            return ST_OK;
        }
        if (r->eof) {
            *end = 1;
            return ST_OK;
        }
        st_code rc = st_rows_fill(r, err);
        if (rc)
            return rc;
    }
}

st_code st_libsvm_next(st_rows *r, st_row *row, int *done, st_err *err)
{
    for (;;) {
        size_t s, e;
        int end;
        st_code rc = next_line(r, &s, &e, &end, err);
        if (rc)
            return rc;
        if (end) {
            if (r->line == 1)
                return st_err_at(err, ST_E_INPUT, r->origin, 0, 0,
                                 "empty file: expected LIBSVM lines "
                                 "\"label index:value ...\"");
            *done = 1;
            return ST_OK;
        }
        long line = r->line++;
        const char *b = (const char *)r->buf;
        if (e > s && b[s] == '#')
            continue; /* a comment line */
        const char *hash = memchr(b + s, '#', e - s);
        if (hash)
            e = (size_t)(hash - b);
        if (memchr(b + s, '\r', e - s))
            return st_err_at(
                err, ST_E_INPUT, r->origin, line,
                (long)((const char *)memchr(b + s, '\r', e - s) - (b + s)) + 1,
                "a carriage return inside a line");
        size_t p = s;
        while (p < e && is_space((uint8_t)b[p]))
            p++;
        if (p == e)
            return st_err_at(err, ST_E_INPUT, r->origin, line, 1,
                             "empty line: expected \"label index:value "
                             "...\"");
        /* the label */
        size_t ls = p;
        while (p < e && !is_space((uint8_t)b[p]))
            p++;
        double lv;
        st_num_status ns = st_data_parse_double(b + ls, p - ls, &lv);
        if (ns != ST_NUM_OK || p - ls > ST_DATA_MAX_LABEL) {
            char q[64];
            st_data_quote(b + ls, p - ls, q, sizeof(q));
            return st_err_at(err, ST_E_INPUT, r->origin, line,
                             (long)(ls - s) + 1, "label: %s, found %s",
                             ns == ST_NUM_OK ? "too long" : st_data_num_why(ns),
                             q);
        }
        rc = st_rows_reserve_label(r, p - ls, err);
        if (rc)
            return rc;
        memcpy(r->label, b + ls, p - ls);
        r->label[p - ls] = '\0';
        row->label = r->label;
        row->label_len = p - ls;
        /* the features: at most one per two bytes of the line */
        rc = st_rows_reserve_values(r, (e - p) / 2 + 1, 1, err);
        if (rc)
            return rc;
        size_t n = 0;
        uint32_t last = 0;
        for (;;) {
            while (p < e && is_space((uint8_t)b[p]))
                p++;
            if (p == e)
                break;
            size_t ts = p;
            long col = (long)(ts - s) + 1;
            while (p < e && !is_space((uint8_t)b[p]))
                p++;
            const char *colon = memchr(b + ts, ':', p - ts);
            char q[64];
            st_data_quote(b + ts, p - ts, q, sizeof(q));
            if (!colon)
                return st_err_at(err, ST_E_INPUT, r->origin, line, col,
                                 "expected index:value, found %s", q);
            if ((size_t)(colon - (b + ts)) == 3 &&
                memcmp(b + ts, "qid", 3) == 0)
                return st_err_at(err, ST_E_INPUT, r->origin, line, col,
                                 "qid (svmlight ranking groups) is not "
                                 "supported: remove the qid:N tokens");
            uint64_t idx = 0;
            const char *c = b + ts;
            if (c == colon)
                return st_err_at(err, ST_E_INPUT, r->origin, line, col,
                                 "expected an index before ':', found %s", q);
            for (; c < colon; c++) {
                if (*c < '0' || *c > '9')
                    return st_err_at(err, ST_E_INPUT, r->origin, line, col,
                                     "expected a decimal index, found %s", q);
                idx = idx * 10 + (uint64_t)(*c - '0');
                if (idx > MAX_INDEX)
                    return st_err_at(err, ST_E_INPUT, r->origin, line, col,
                                     "index beyond the limit of %u "
                                     "columns, found %s",
                                     MAX_INDEX, q);
            }
            if (idx == 0)
                return st_err_at(err, ST_E_INPUT, r->origin, line, col,
                                 "indices are 1-based, found %s", q);
            if (idx <= last)
                return st_err_at(err, ST_E_INPUT, r->origin, line, col,
                                 "indices must be strictly increasing: "
                                 "%llu after %u",
                                 (unsigned long long)idx, last);
            const char *v = colon + 1;
            ns = st_data_parse_float(v, (size_t)((b + p) - v), &r->values[n]);
            if (ns != ST_NUM_OK)
                return st_err_at(err, ST_E_INPUT, r->origin, line,
                                 (long)(v - (b + s)) + 1, "value: %s, in %s",
                                 st_data_num_why(ns), q);
            r->index[n++] = (uint32_t)idx - 1;
            last = (uint32_t)idx;
        }
        row->line = line;
        row->n = n;
        row->index = r->index;
        row->value = r->values;
        return ST_OK;
    }
}
