/*
 * idx.c: the IDX reader (the MNIST file format, LeCun et al.).
 *
 * A file is: 0x00 0x00, a type byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32,
 * 0x0D f32, 0x0E f64), the number of dimensions (1..8), that many
 * big-endian u32 sizes, then the data, big-endian, row-major. A dataset is
 * a pair: images (N x d1 x ... ; each item becomes one row of d1*d2*...
 * float32 features, values as stored, not rescaled) and labels (one
 * dimension of N, an integer type). The file sizes must match the header
 * exactly (no trailing bytes); float items must be finite and fit
 * float32. Errors name the file and the item (as the "line").
 */
#include "data/rows.h"
#include "data_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static unsigned type_size(unsigned t)
{
    switch (t) {
    case 0x08:
    case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C:
    case 0x0D: return 4;
    case 0x0E: return 8;
    }
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Reads an IDX header; *items = first dimension, *per = product of the
 * others; checks the size against the file's. */
static ST_MUST_CHECK st_code read_header(st_rows *r, st_src *s,
                                         const char *origin, unsigned *type,
                                         unsigned *esize, uint64_t *items,
                                         uint64_t *per, unsigned *ndim_out,
                                         st_err *err)
{
    uint8_t hdr[4 + 4 * 8];
    size_t got;
    st_code rc = st_rows_src_read(r, s, hdr, 4, &got, err);
    if (rc)
        return rc;
    if (got == 0)
        return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                         "empty file: expected an IDX header");
    if (got < 4 || hdr[0] != 0 || hdr[1] != 0)
        return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                         "not an IDX file: expected the magic 00 00 TYPE "
                         "NDIM");
    *type = hdr[2];
    *esize = type_size(hdr[2]);
    if (!*esize)
        return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                         "unknown IDX type 0x%02x: expected 08, 09, 0B, 0C, "
                         "0D or 0E",
                         hdr[2]);
    unsigned ndim = hdr[3];
    if (ndim < 1 || ndim > 8)
        return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                         "IDX with %u dimensions: expected 1 to 8", ndim);
    rc = st_rows_src_read(r, s, hdr + 4, 4 * ndim, &got, err);
    if (rc)
        return rc;
    if (got != 4 * ndim)
        return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                         "truncated IDX header: expected %u dimension sizes",
                         ndim);
    *items = be32(hdr + 4);
    uint64_t p = 1;
    for (unsigned i = 1; i < ndim; i++) {
        uint32_t d = be32(hdr + 4 + 4 * i);
        if (d == 0)
            return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                             "IDX dimension %u is 0", i + 1);
        p *= d;
        if (p > ST_DATA_MAX_COLUMNS)
            return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                             "IDX items of more than %u values",
                             ST_DATA_MAX_COLUMNS);
    }
    *per = p;
    *ndim_out = ndim;
    uint64_t want = 4 + 4ull * ndim + *items * p * *esize;
    /* compressed: the size is known only at the end (st_idx_next) */
    if (!s->z && s->size != want)
        return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                         "IDX size mismatch: the header describes %llu "
                         "bytes, the file has %llu",
                         (unsigned long long)want, (unsigned long long)s->size);
    return ST_OK;
}

st_code st_idx_open(st_rows *r, st_err *err)
{
    uint64_t items = 0, per = 0, litems = 0, lper = 0;
    unsigned ndim = 0, lndim = 0;
    st_code rc = read_header(r, &r->in, r->origin, &r->idx_type, &r->idx_esize,
                             &items, &per, &ndim, err);
    if (rc)
        return rc;
    rc = read_header(r, &r->lab, r->labels_origin, &r->lab_type, &r->lab_esize,
                     &litems, &lper, &lndim, err);
    if (rc)
        return rc;
    if (lndim != 1 || r->lab_type == 0x0D || r->lab_type == 0x0E)
        return st_err_at(err, ST_E_INPUT, r->labels_origin, 0, 0,
                         "expected IDX labels: one dimension of an integer "
                         "type");
    if (litems != items)
        return st_err_at(err, ST_E_INPUT, r->labels_origin, 0, 0,
                         "%llu labels for %llu items in %s",
                         (unsigned long long)litems, (unsigned long long)items,
                         r->origin);
    if (items == 0)
        return st_err_at(err, ST_E_INPUT, r->origin, 0, 0,
                         "no items: expected at least one");
    r->idx_items = items;
    r->idx_cols = (size_t)per;
    if ((size_t)per * r->idx_esize > r->cap)
        return st_err_set(err, ST_E_INTERNAL,
                          "IDX item larger than the "
                          "window");
    rc = st_rows_reserve_values(r, r->idx_cols, 0, err);
    if (rc)
        return rc;
    return st_rows_reserve_label(r, 16, err);
}

static float item_value(const uint8_t *p, unsigned type, int *bad)
{
    switch (type) {
    case 0x08: return (float)p[0];
    case 0x09: return (float)(int8_t)p[0];
    case 0x0B: return (float)(int16_t)((uint16_t)p[0] << 8 | p[1]);
    case 0x0C: return (float)(int32_t)be32(p);
    case 0x0D: {
        uint32_t u = be32(p);
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f))
            *bad = 1;
        return f;
    }
    case 0x0E: {
        uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
        double d;
        memcpy(&d, &u, 8);
        float f = (float)d;
        if (!isfinite(d) || !isfinite(f))
            *bad = 1;
        return f;
    }
    }
    *bad = 1;
    return 0;
}

/* After the last item: nothing may follow in either file. The size check
 * of read_header says so for plain files; a gzip file's size is known only
 * once it is inflated. */
static ST_MUST_CHECK st_code idx_check_end(st_rows *r, st_err *err)
{
    uint8_t b;
    size_t got = r->len - r->pos;
    st_code rc = ST_OK;
    if (!got && r->in.z)
        rc = st_rows_src_read(r, &r->in, &b, 1, &got, err);
    if (rc == ST_OK && got)
        return st_err_at(err, ST_E_INPUT, r->origin, 0, 0,
                         "IDX size mismatch: bytes after the %llu items the "
                         "header describes",
                         (unsigned long long)r->idx_items);
    if (rc == ST_OK && r->lab.z &&
        (rc = st_rows_src_read(r, &r->lab, &b, 1, &got, err)) == ST_OK && got)
        return st_err_at(err, ST_E_INPUT, r->labels_origin, 0, 0,
                         "IDX size mismatch: bytes after the %llu labels the "
                         "header describes",
                         (unsigned long long)r->idx_items);
    return rc;
}

st_code st_idx_next(st_rows *r, st_row *row, int *done, st_err *err)
{
    if (r->idx_next == r->idx_items) {
        *done = 1;
        return idx_check_end(r, err);
    }
    long item = (long)r->idx_next + 1;
    size_t need = r->idx_cols * r->idx_esize, got;
    /* the window is only a read buffer here */
    if (r->pos == r->len) {
        r->pos = r->len = 0;
        size_t want = r->cap - r->cap % need;
        st_code rc = st_rows_src_read(r, &r->in, r->buf, want, &got, err);
        if (rc)
            return rc;
        r->len = got;
    }
    if (r->len - r->pos < need)
        return st_err_at(err, ST_E_INPUT, r->origin, item, 0,
                         "truncated IDX data (the file changed?)");
    const uint8_t *p = r->buf + r->pos;
    for (size_t i = 0; i < r->idx_cols; i++) {
        int bad = 0;
        r->values[i] = item_value(p + i * r->idx_esize, r->idx_type, &bad);
        if (bad)
            return st_err_at(err, ST_E_INPUT, r->origin, item, (long)i + 1,
                             "value %zu: NaN, infinity or beyond float32",
                             i + 1);
    }
    r->pos += need;
    st_code rc =
        st_rows_src_read(r, &r->lab, r->labbuf, r->lab_esize, &got, err);
    if (rc)
        return rc;
    if (got != r->lab_esize)
        return st_err_at(err, ST_E_INPUT, r->labels_origin, item, 0,
                         "truncated IDX labels (the file changed?)");
    long lv;
    const uint8_t *lb = r->labbuf;
    switch (r->lab_type) {
    case 0x08: lv = lb[0]; break;
    case 0x09: lv = (int8_t)lb[0]; break;
    case 0x0B: lv = (int16_t)((uint16_t)lb[0] << 8 | lb[1]); break;
    default: lv = (int32_t)be32(lb); break;
    }
    row->label_len = (size_t)snprintf(r->label, r->label_cap, "%ld", lv);
    row->label = r->label;
    row->line = item;
    row->n = r->idx_cols;
    row->index = NULL;
    row->value = r->values;
    r->idx_next++;
    return ST_OK;
}
