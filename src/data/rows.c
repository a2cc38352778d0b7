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
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealtrain/secmem.h"

#define WINDOW_INITIAL (1u << 20)

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
        return ST_OK;
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
    return ST_OK;
}

static void src_close(st_src *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

st_code st_rows_src_read(st_rows *r, st_src *s, void *dst, size_t n,
                         size_t *got, st_err *err)
{
    const char *origin = s == &r->lab ? r->labels_origin : r->origin;
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
    if (in->data && in->data_len < r->cap)
        r->cap = in->data_len < 4096 ? 4096 : in->data_len;
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
    if (r->names) {
        for (size_t i = 0; i < r->ncols; i++)
            free(r->names[i]);
        free(r->names);
    }
    free(r);
}
