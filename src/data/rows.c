/*
 * rows.c: the streaming row reader shared by the CSV, LIBSVM and IDX
 * parsers: input sources (file or memory), the input window, the row
 * buffers, and the dispatch of st_rows_* to the format.
 *
 * Memory stays bounded: one window (1 MiB, grown only when a single record
 * is longer, up to ST_DATA_MAX_RECORD) and one row. Both hold plaintext
 * and so live in secure memory (locked, never swapped, wiped on free).
 * This file never interprets the bytes; the format files do.
 */
#include "data/rows.h"
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "sealtrain/secmem.h"

#define WINDOW_INITIAL (1u << 20)
#define GZIP_INPUT (64u << 10) /* compressed bytes read at a time */

const char *st_data_format_name(st_data_format f)
{
    switch (f) {
    case ST_DATA_CSV: return "csv";
    case ST_DATA_LIBSVM: return "libsvm";
    case ST_DATA_IDX: return "idx";
    }
    return "unknown";
}

const char *st_data_task_name(st_data_task t)
{
    switch (t) {
    case ST_TASK_CLASSIFICATION: return "classification";
    case ST_TASK_REGRESSION: return "regression";
    case ST_TASK_AUTO: break;
    }
    return "auto";
}

st_code st_data_task_parse(const char *s, st_data_task *out, st_err *err)
{
    if (!strcmp(s, "classification"))
        *out = ST_TASK_CLASSIFICATION;
    else if (!strcmp(s, "regression"))
        *out = ST_TASK_REGRESSION;
    else if (!strcmp(s, "auto"))
        *out = ST_TASK_AUTO;
    else
        return st_err_set(err, ST_E_USAGE,
                          "unknown task \"%s\": expected classification, "
                          "regression or auto",
                          s);
    return ST_OK;
}

st_code st_data_format_parse(const char *s, st_data_format *out, st_err *err)
{
    if (!strcmp(s, "csv"))
        *out = ST_DATA_CSV;
    else if (!strcmp(s, "libsvm") || !strcmp(s, "svmlight"))
        *out = ST_DATA_LIBSVM;
    else if (!strcmp(s, "idx"))
        *out = ST_DATA_IDX;
    else
        return st_err_set(err, ST_E_USAGE,
                          "unknown format \"%s\": expected csv, libsvm or idx",
                          s);
    return ST_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

st_code st_data_format_guess(const char *path, st_data_format *out, st_err *err)
{
    /* a compressed file is named for what it holds: digits.csv.gz */
    char base[4096];
    snprintf(base, sizeof(base), "%s", path);
    if (ends_with(base, ".gz"))
        base[strlen(base) - 3] = 0;
    path = base;
    if (ends_with(path, ".csv"))
        *out = ST_DATA_CSV;
    else if (ends_with(path, ".svm") || ends_with(path, ".libsvm") ||
             ends_with(path, ".svmlight"))
        *out = ST_DATA_LIBSVM;
    else if (ends_with(path, ".idx") || ends_with(path, "-ubyte") ||
             strstr(path, ".idx"))
        *out = ST_DATA_IDX;
    else
        return st_err_set(err, ST_E_USAGE,
                          "cannot tell the format of %s from its name: "
                          "give --format csv|libsvm|idx",
                          path);
    return ST_OK;
}

/* zlib's state and window hold plaintext: secure memory. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size && items > SIZE_MAX / size)
        return NULL;
    return st_secmem_alloc((size_t)items * size, NULL);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    st_secmem_free(p);
}

/* Starts inflating when the source begins with gzip's magic (1f 8b). */
static ST_MUST_CHECK st_code src_gzip_detect(st_src *s, const char *path,
                                             st_err *err)
{
    uint8_t magic[2];
    size_t have = 0;
    if (s->fd < 0) {
        have = s->mem_len < 2 ? s->mem_len : 2;
        memcpy(magic, s->mem, have);
    } else {
        ssize_t k;
        while ((k = pread(s->fd, magic, 2, 0)) < 0 && errno == EINTR)
            ;
        if (k < 0)
            return st_err_errno(err, ST_E_IO, errno, "reading %s", path);
        have = (size_t)k;
    }
    if (have < 2 || magic[0] != 0x1f || magic[1] != 0x8b)
        return ST_OK;
    s->z = calloc(1, sizeof(*s->z));
    s->zin = st_secmem_alloc(GZIP_INPUT, err);
    if (!s->z || !s->zin)
        return s->z ? (err ? err->code : ST_E_IO)
                    : st_err_set(err, ST_E_IO, "out of memory");
    s->z->zalloc = z_alloc;
    s->z->zfree = z_free;
    /* 15 + 16: a 32 KiB window, gzip's wrapper only */
    if (inflateInit2(s->z, 15 + 16) != Z_OK) {
        free(s->z);
        s->z = NULL;
        return st_err_set(err, ST_E_IO, "%s: cannot start zlib's inflater",
                          path);
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code src_open(st_src *s, const char *path,
                                      const void *mem, size_t mem_len,
                                      st_err *err)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    if (mem) {
        s->mem = mem;
        s->mem_len = mem_len;
        s->size = mem_len;
        return src_gzip_detect(s, path, err);
    }
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "cannot open %s", path);
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return st_err_errno(err, ST_E_IO, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return st_err_set(err, ST_E_USAGE,
                          "%s is not a regular file (it is read twice: once "
                          "to validate, once to convert)",
                          path);
    s->size = (uint64_t)st.st_size;
    return src_gzip_detect(s, path, err);
}

static void src_close(st_src *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->z) {
        inflateEnd(s->z);
        free(s->z);
        s->z = NULL;
    }
    st_secmem_free(s->zin);
    s->zin = NULL;
}

static ST_MUST_CHECK st_code src_read_raw(st_src *s, const char *origin,
                                          void *dst, size_t n, size_t *got,
                                          st_err *err);

/* Up to n decompressed bytes; *got < n only at the end of the input. A
 * member cut short, bytes after a member that are not another member, a
 * bad CRC or length: errors naming the file. */
static ST_MUST_CHECK st_code src_read_gzip(st_src *s, const char *origin,
                                           uint8_t *dst, size_t n, size_t *got,
                                           st_err *err)
{
    z_stream *z = s->z;
    z->next_out = dst;
    z->avail_out = (uInt)(n > UINT_MAX ? UINT_MAX : n);
    uInt want = z->avail_out;
    while (z->avail_out > 0) {
        if (z->avail_in == 0) {
            size_t k;
            st_code rc = src_read_raw(s, origin, s->zin, GZIP_INPUT, &k, err);
            if (rc)
                return rc;
            if (k == 0) {
                if (!s->z_member_done)
                    return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                                     "truncated gzip data: the compressed "
                                     "stream ends early");
                break;
            }
            z->next_in = s->zin;
            z->avail_in = (uInt)k;
        }
        if (s->z_member_done) { /* another member follows */
            if (inflateReset(z) != Z_OK)
                return st_err_set(err, ST_E_IO, "%s: inflateReset", origin);
            s->z_member_done = 0;
        }
        int zr = inflate(z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END)
            s->z_member_done = 1;
        else if (zr == Z_MEM_ERROR)
            return st_err_set(err, ST_E_IO, "%s: out of secure memory for gzip",
                              origin);
        else if (zr != Z_OK && !(zr == Z_BUF_ERROR && z->avail_in == 0))
            return st_err_at(err, ST_E_INPUT, origin, 0, 0,
                             "not valid gzip data (at compressed byte %llu): "
                             "%s",
                             (unsigned long long)(s->done - z->avail_in),
                             z->msg ? z->msg : "inflate failed");
    }
    *got = want - z->avail_out;
    return ST_OK;
}

st_code st_rows_src_read(st_rows *r, st_src *s, void *dst, size_t n,
                         size_t *got, st_err *err)
{
    const char *origin = s == &r->lab ? r->labels_origin : r->origin;
    if (s->z)
        return src_read_gzip(s, origin, dst, n, got, err);
    return src_read_raw(s, origin, dst, n, got, err);
}

static st_code src_read_raw(st_src *s, const char *origin, void *dst, size_t n,
                            size_t *got, st_err *err)
{
    size_t total = 0;
    uint8_t *p = dst;
    if (s->fd < 0) {
        size_t left = s->mem_len - s->mem_pos;
        total = n < left ? n : left;
        memcpy(p, s->mem + s->mem_pos, total);
        s->mem_pos += total;
    } else {
        while (total < n) {
            ssize_t k = read(s->fd, p + total, n - total);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                return st_err_errno(err, ST_E_IO, errno, "reading %s", origin);
            }
            if (k == 0)
                break;
            total += (size_t)k;
        }
    }
    s->done += total;
    *got = total;
    return ST_OK;
}

st_code st_rows_fill(st_rows *r, st_err *err)
{
    if (r->eof)
        return ST_OK;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->len == r->cap) {
        if (r->cap >= ST_DATA_MAX_RECORD)
            return st_err_at(err, ST_E_INPUT, r->origin, r->line, 0,
                             "a record longer than %u MiB",
                             ST_DATA_MAX_RECORD >> 20);
        size_t ncap = r->cap * 2;
        uint8_t *nb = st_secmem_alloc(ncap, err);
        if (!nb)
            return err ? err->code : ST_E_IO;
        memcpy(nb, r->buf, r->len);
        st_secmem_free(r->buf);
        r->buf = nb;
        r->cap = ncap;
    }
    size_t got;
    st_code rc = st_rows_src_read(r, &r->in, r->buf + r->len, r->cap - r->len,
                                  &got, err);
    if (rc)
        return rc;
    if (got == 0)
        r->eof = 1;
    r->len += got;
    return ST_OK;
}

st_code st_rows_reserve_values(st_rows *r, size_t n, int sparse, st_err *err)
{
    if (n <= r->vcap && (!sparse || r->index))
        return ST_OK;
    size_t ncap = r->vcap ? r->vcap : 64;
    while (ncap < n)
        ncap *= 2;
    float *nv = st_secmem_alloc(ncap * sizeof(float), err);
    if (!nv)
        return err ? err->code : ST_E_IO;
    uint32_t *ni = NULL;
    if (sparse) {
        ni = st_secmem_alloc(ncap * sizeof(uint32_t), err);
        if (!ni) {
            st_secmem_free(nv);
            return err ? err->code : ST_E_IO;
        }
    }
    /* the row is rebuilt by the caller: nothing to copy */
    st_secmem_free(r->values);
    st_secmem_free(r->index);
    r->values = nv;
    r->index = ni;
    r->vcap = ncap;
    return ST_OK;
}

st_code st_rows_reserve_label(st_rows *r, size_t n, st_err *err)
{
    if (n + 1 <= r->label_cap)
        return ST_OK;
    size_t ncap = r->label_cap ? r->label_cap : 64;
    while (ncap < n + 1)
        ncap *= 2;
    char *nl = st_secmem_alloc(ncap, err);
    if (!nl)
        return err ? err->code : ST_E_IO;
    st_secmem_free(r->label);
    r->label = nl;
    r->label_cap = ncap;
    return ST_OK;
}

st_code st_rows_open(const st_data_input *in, st_rows **out, st_err *err)
{
    *out = NULL;
    if (!in->path)
        return st_err_set(err, ST_E_USAGE, "no input file");
    st_rows *r = calloc(1, sizeof(*r));
    if (!r)
        return st_err_set(err, ST_E_IO, "out of memory");
    r->in.fd = r->lab.fd = -1;
    r->format = in->format;
    r->line = 1;
    snprintf(r->origin, sizeof(r->origin), "%s", in->path);
    st_code rc = src_open(&r->in, in->path, in->data, in->data_len, err);
    if (rc)
        goto fail;
    r->cap = WINDOW_INITIAL;
    /* bytes in memory (tests, fuzzers): a window the size of the input,
     * or of 64 KiB when it inflates to more; it grows as files' do */
    size_t least = r->in.z ? 65536 : 4096;
    if (in->data && in->data_len < r->cap)
        r->cap = in->data_len < least ? least : in->data_len;
    r->buf = st_secmem_alloc(r->cap, err);
    if (!r->buf) {
        rc = err ? err->code : ST_E_IO;
        goto fail;
    }
    switch (in->format) {
    case ST_DATA_CSV:
        if ((!in->label || !*in->label) && !in->no_label) {
            rc = st_err_set(err, ST_E_USAGE,
                            "CSV needs the label column (--label NAME or a "
                            "0-based index)");
            goto fail;
        }
        rc = st_csv_open(r, in->no_label ? NULL : in->label, err);
        break;
    case ST_DATA_LIBSVM:
        if (in->label && *in->label && strcmp(in->label, "0") != 0) {
            rc = st_err_set(err, ST_E_USAGE,
                            "LIBSVM labels are always the first token: "
                            "omit --label (or give 0)");
            goto fail;
        }
        break;
    case ST_DATA_IDX:
        if (!in->label || !*in->label) {
            rc = st_err_set(err, ST_E_USAGE,
                            "IDX needs the labels file: --label "
                            "LABELS.idx");
            goto fail;
        }
        snprintf(r->labels_origin, sizeof(r->labels_origin), "%s", in->label);
        rc = src_open(&r->lab, in->label, in->labels,
                      in->labels ? in->labels_len : 0, err);
        if (!rc && in->data && !in->labels)
            rc = st_err_set(err, ST_E_USAGE,
                            "IDX in memory needs the labels in memory");
        if (!rc)
            rc = st_idx_open(r, err);
        break;
    default:
        rc = st_err_set(err, ST_E_USAGE, "unknown data format %d",
                        (int)in->format);
    }
    if (rc)
        goto fail;
    *out = r;
    return ST_OK;
fail:
    st_rows_close(r);
    return rc;
}

st_code st_rows_next(st_rows *r, st_row *row, int *done, st_err *err)
{
    *done = 0;
    row->target = NULL; /* only CSV with several label columns sets these */
    row->ntargets = 0;
    switch (r->format) {
    case ST_DATA_CSV: return st_csv_next(r, row, done, err);
    case ST_DATA_LIBSVM: return st_libsvm_next(r, row, done, err);
    case ST_DATA_IDX: return st_idx_next(r, row, done, err);
    }
    return st_err_set(err, ST_E_INTERNAL, "unknown data format");
}

size_t st_rows_columns(const st_rows *r)
{
    switch (r->format) {
    case ST_DATA_CSV: return r->ncols - r->nlabels;
    case ST_DATA_IDX: return r->idx_cols;
    default: return 0;
    }
}

const char *st_rows_feature_name(const st_rows *r, size_t i)
{
    if (r->format != ST_DATA_CSV || i + r->nlabels >= r->ncols)
        return NULL;
    return r->names[r->feature_cols[i]];
}

size_t st_rows_label_columns(const st_rows *r)
{
    return r->format == ST_DATA_CSV ? r->nlabels : 1;
}

const char *st_rows_target_name(const st_rows *r, size_t i)
{
    if (r->format != ST_DATA_CSV || i >= r->nlabels)
        return NULL;
    return r->names[r->label_cols[i]];
}

const char *st_rows_label_name(const st_rows *r)
{
    return r->format == ST_DATA_CSV && r->nlabels ? r->names[r->label_col]
                                                  : NULL;
}

void st_rows_progress(const st_rows *r, uint64_t *done, uint64_t *total)
{
    *done = r->in.done + r->lab.done;
    *total = r->in.size + r->lab.size;
}

void st_rows_close(st_rows *r)
{
    if (!r)
        return;
    src_close(&r->in);
    src_close(&r->lab);
    st_secmem_free(r->buf);
    st_secmem_free(r->values);
    st_secmem_free(r->index);
    st_secmem_free(r->label);
    st_secmem_free(r->targets);
    free(r->label_cols);
    free(r->feature_cols);
    free(r->is_label);
    free(r->fields);
    for (size_t i = 0; i < r->sk_nclasses; i++)
        free(r->sk_classes[i]);
    free(r->sk_classes);
    if (r->names) {
        for (size_t i = 0; i < r->ncols; i++)
            free(r->names[i]);
        free(r->names);
    }
    free(r);
}
