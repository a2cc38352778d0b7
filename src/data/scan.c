/*
 * scan.c: the two passes that turn an input file into a tensor.
 *
 * Pass 1 (st_data_scan) validates every row and learns the schema: rows,
 * feature columns (LIBSVM: the largest index), and the set of label texts.
 * It produces no output, so invalid input writes nothing anywhere.
 * Classes: if every label is a canonical non-negative integer ("0", "7";
 * not "07", "+1", "1.0") below ST_DATA_MAX_CLASSES, the integer is the
 * class index and K = largest + 1. Otherwise the distinct labels are
 * sorted (numerically when all are numbers, else bytewise) and numbered
 * 0..K-1; two different texts of the same number ("1" and "1.0") are
 * rejected as ambiguous. Label texts are data: they stay in secure memory
 * and travel only inside the tensor's names section.
 * Regression: the labels are numbers (one label column, or several CSV
 * columns as targets) kept as float32, and the names section holds the
 * targets' column names. When the input leaves the task out, choose_task
 * picks it from what the labels looked like and the schema says so.
 *
 * Pass 2 (st_data_convert) reads the input again and streams the tensor
 * layout (rows.h, docs/formats.md) into a sink, computing its SHA-256.
 * Features go out row by row; labels (a float32 class index per row, the
 * form the training engine takes) are held in secure
 * memory until the features are done. Any difference from pass 1 (rows,
 * a label not seen, an index out of range) fails: the file changed.
 */
#include "data/rows.h"
#include "data_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/primitives.h"
#include "sealtrain/crypto.h"
#include "sealtrain/secmem.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the tensor layout is little-endian; add byte swapping for this host"
#endif

struct label_entry {
    uint32_t off, len, hash, cls;
};

struct st_label_set {
    char *arena; /* secure: the label texts */
    size_t arena_len, arena_cap;
    struct label_entry *slots; /* open addressing; len 0 = empty slot */
    size_t nslots, count;
    int all_int;        /* every label canonical integer < MAX_CLASSES */
    int all_num;        /* every label a finite number */
    int all_f32;        /* every label a number within float32 */
    int all_integral;   /* every label a number with an integer value */
    int overflow;       /* more distinct labels than classes may have */
    uint32_t max_int;   /* largest integer label */
    uint32_t *by_class; /* mapped: class -> slot index */
};

static uint32_t hash_label(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* Canonical non-negative integer below the class limit, or -1. */
static long canonical_int(const char *s, size_t n)
{
    if (n == 0 || n > 6 || (s[0] == '0' && n > 1))
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < (long)ST_DATA_MAX_CLASSES ? v : -1;
}

static void label_set_free(struct st_label_set *ls)
{
    if (!ls)
        return;
    st_secmem_free(ls->arena);
    free(ls->slots);
    free(ls->by_class);
    free(ls);
}

static struct label_entry *find_slot(struct st_label_set *ls, const char *s,
                                     size_t n, uint32_t h)
{
    size_t mask = ls->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct label_entry *e = &ls->slots[i];
        if (e->len == 0)
            return e;
        if (e->hash == h && e->len == n && !memcmp(ls->arena + e->off, s, n))
            return e;
    }
}

/* Adds a label text to the set. With `cap_is_error` 0 (the task is
 * still to be chosen), more than ST_DATA_MAX_CLASSES distinct labels only
 * set `overflow`: they may be regression targets. */
static ST_MUST_CHECK st_code label_add(struct st_label_set *ls, const char *s,
                                       size_t n, int cap_is_error,
                                       const char *origin, long line,
                                       st_err *err)
{
    uint32_t h = hash_label(s, n);
    struct label_entry *e = find_slot(ls, s, n, h);
    if (e->len)
        return ST_OK;
    double d;
    float f;
    if (st_data_parse_double(s, n, &d) != ST_NUM_OK) {
        ls->all_num = ls->all_f32 = ls->all_integral = 0;
    } else {
        if (st_data_parse_float(s, n, &f) != ST_NUM_OK)
            ls->all_f32 = 0;
        if (d != (double)(long long)d)
            ls->all_integral = 0;
    }
    if (ls->count + 1 > ST_DATA_MAX_CLASSES) {
        if (!cap_is_error) {
            ls->overflow = 1;
            return ST_OK;
        }
        return st_err_at(err, ST_E_INPUT, origin, line, 0,
                         "more than %u distinct labels: expected class "
                         "labels (is the label column a continuous value? "
                         "--task regression)",
                         ST_DATA_MAX_CLASSES);
    }
    if (ls->arena_len + n > ls->arena_cap) {
        size_t ncap = ls->arena_cap * 2;
        while (ncap < ls->arena_len + n)
            ncap *= 2;
        char *na = st_secmem_alloc(ncap, err);
        if (!na)
            return err ? err->code : ST_E_IO;
        memcpy(na, ls->arena, ls->arena_len);
        st_secmem_free(ls->arena);
        ls->arena = na;
        ls->arena_cap = ncap;
    }
    memcpy(ls->arena + ls->arena_len, s, n);
    e->off = (uint32_t)ls->arena_len;
    e->len = (uint32_t)n;
    e->hash = h;
    ls->arena_len += n;
    ls->count++;
    long iv = canonical_int(s, n);
    if (iv < 0)
        ls->all_int = 0;
    else if ((uint32_t)iv > ls->max_int)
        ls->max_int = (uint32_t)iv;
    if (ls->count * 2 > ls->nslots) {
        /* grow: rehash into twice the slots */
        struct label_entry *old = ls->slots;
        size_t oldn = ls->nslots;
        ls->nslots *= 2;
        ls->slots = calloc(ls->nslots, sizeof(*ls->slots));
        if (!ls->slots) {
            ls->slots = old;
            ls->nslots = oldn;
            return st_err_set(err, ST_E_IO, "out of memory");
        }
        for (size_t i = 0; i < oldn; i++)
            if (old[i].len)
                *find_slot(ls, ls->arena + old[i].off, old[i].len,
                           old[i].hash) = old[i];
        free(old);
    }
    return ST_OK;
}

struct sort_ctx {
    struct st_label_set *ls;
    double *num; /* per slot, when all_num */
};

static int cmp_slots(const void *a, const void *b, void *arg)
{
    const struct sort_ctx *c = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (c->num) {
        if (c->num[x] < c->num[y])
            return -1;
        if (c->num[x] > c->num[y])
            return 1;
    }
    const struct label_entry *ex = &c->ls->slots[x], *ey = &c->ls->slots[y];
    size_t n = ex->len < ey->len ? ex->len : ey->len;
    int r = memcmp(c->ls->arena + ex->off, c->ls->arena + ey->off, n);
    if (r)
        return r;
    return ex->len < ey->len ? -1 : ex->len > ey->len;
}

/* Numbers the classes (see the header comment). */
static ST_MUST_CHECK st_code label_finish(struct st_label_set *ls,
                                          st_data_schema *sc,
                                          const char *origin, st_err *err)
{
    if (ls->all_int) {
        sc->classes = ls->max_int + 1;
        sc->labels_mapped = 0;
        return ST_OK;
    }
    sc->labels_mapped = 1;
    sc->classes = (uint32_t)ls->count;
    ls->by_class = malloc(ls->count * sizeof(uint32_t));
    double *num = ls->all_num ? calloc(ls->nslots, sizeof(double)) : NULL;
    if (!ls->by_class || (ls->all_num && !num)) {
        free(num);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < ls->nslots; i++) {
        if (!ls->slots[i].len)
            continue;
        ls->by_class[k++] = (uint32_t)i;
        if (num)
            st_data_parse_double(ls->arena + ls->slots[i].off, ls->slots[i].len,
                                 &num[i]);
    }
    struct sort_ctx c = {ls, num};
    qsort_r(ls->by_class, ls->count, sizeof(uint32_t), cmp_slots, &c);
    st_code rc = ST_OK;
    for (size_t i = 0; i < ls->count; i++) {
        ls->slots[ls->by_class[i]].cls = (uint32_t)i;
        if (num && i > 0 && num[ls->by_class[i]] == num[ls->by_class[i - 1]]) {
            const struct label_entry *a = &ls->slots[ls->by_class[i - 1]];
            const struct label_entry *b = &ls->slots[ls->by_class[i]];
            char qa[64], qb[64];
            st_data_quote(ls->arena + a->off, a->len, qa, sizeof(qa));
            st_data_quote(ls->arena + b->off, b->len, qb, sizeof(qb));
            rc = st_err_at(err, ST_E_INPUT, origin, 0, 0,
                           "labels %s and %s are the same number: expected "
                           "one spelling per class",
                           qa, qb);
            break;
        }
    }
    free(num);
    return rc;
}

static ST_MUST_CHECK st_code label_lookup(const st_data_schema *sc,
                                          const char *s, size_t n,
                                          uint32_t *cls)
{
    const struct st_label_set *ls = sc->labels;
    if (!sc->labels_mapped) {
        long v = canonical_int(s, n);
        if (v < 0 || (uint32_t)v >= sc->classes)
            return ST_E_INPUT;
        *cls = (uint32_t)v;
        return ST_OK;
    }
    struct label_entry *e =
        find_slot((struct st_label_set *)ls, s, n, hash_label(s, n));
    if (!e->len)
        return ST_E_INPUT;
    *cls = e->cls;
    return ST_OK;
}

/* Class names the input itself gives (scikit-learn's layout, where the
 * labels are already class indices below their count, csv.c): K is their
 * count, and they name the classes in the tensor. */
static ST_MUST_CHECK st_code class_names_take(const st_rows *r,
                                              st_data_schema *sc, st_err *err)
{
    const char *const *names;
    size_t n = st_rows_class_names(r, &names);
    if (n == 0)
        return ST_OK;
    if (sc->labels_mapped || sc->classes > n)
        return st_err_set(err, ST_E_INTERNAL,
                          "class names for labels that are not their "
                          "indices");
    sc->class_names = calloc(n, sizeof(char *));
    if (!sc->class_names)
        return st_err_set(err, ST_E_IO, "out of memory");
    sc->classes = (uint32_t)n;
    for (size_t k = 0; k < n; k++)
        if (!(sc->class_names[k] = strdup(names[k])))
            return st_err_set(err, ST_E_IO, "out of memory");
    return ST_OK;
}

void st_data_schema_free(st_data_schema *sc)
{
    if (!sc)
        return;
    if (sc->class_names) {
        for (uint32_t k = 0; k < sc->classes; k++)
            free(sc->class_names[k]);
        free(sc->class_names);
    }
    if (sc->feature_names) {
        for (uint32_t i = 0; i < sc->cols; i++)
            free(sc->feature_names[i]);
        free(sc->feature_names);
    }
    free(sc->label_name);
    if (sc->target_names) {
        for (uint32_t i = 0; i < sc->targets; i++)
            free(sc->target_names[i]);
        free(sc->target_names);
    }
    label_set_free(sc->labels);
    memset(sc, 0, sizeof(*sc));
}

struct progress {
    st_data_progress fn;
    void *ctx;
    uint64_t base, total, next;
};

static void progress_tick(struct progress *p, const st_rows *r, int force)
{
    if (!p->fn)
        return;
    uint64_t done, total;
    st_rows_progress(r, &done, &total);
    if (!force && done < p->next)
        return;
    p->next = done + (4u << 20);
    p->fn(p->ctx, p->base + done, p->total);
}

/* A regression target given as the label's text: a number within float32,
 * as a feature. */
static ST_MUST_CHECK st_code check_target(const st_rows *r,
                                          const st_data_input *in,
                                          const st_row *row, st_err *err)
{
    float f;
    st_num_status ns = st_data_parse_float(row->label, row->label_len, &f);
    if (ns == ST_NUM_OK)
        return ST_OK;
    char q[64], qn[64] = "label";
    st_data_quote(row->label, row->label_len, q, sizeof(q));
    if (st_rows_label_name(r)) {
        char t[64];
        const char *n = st_rows_label_name(r);
        st_data_quote(n, strlen(n), t, sizeof(t));
        snprintf(qn, sizeof(qn), "column %s", t);
    }
    return st_err_at(err, ST_E_INPUT, in->path, row->line, 0,
                     "%s: %s as a regression target, found %s", qn,
                     st_data_num_why(ns), q);
}

/* The task when the input did not say. Text labels are classes. Numbers
 * are regression targets when one is not a whole number, or when there are
 * so many distinct values that they cannot be classes: more than
 * ST_DATA_AUTO_CLASSES and more than one per ten rows (diabetes' disease
 * progression: 214 values in 442 rows). Whole numbers with few distinct
 * values (digit classes, -1/+1) are classes. The caller says which was
 * chosen and how to change it. */
#define ST_DATA_AUTO_CLASSES 100u
static st_data_task choose_task(const struct st_label_set *ls, uint64_t rows)
{
    if (!ls->all_num || !ls->all_f32)
        return ST_TASK_CLASSIFICATION;
    if (ls->overflow || !ls->all_integral)
        return ST_TASK_REGRESSION;
    if (ls->count > ST_DATA_AUTO_CLASSES && ls->count * 10 > rows)
        return ST_TASK_REGRESSION;
    return ST_TASK_CLASSIFICATION;
}

/* Regression: no classes; the targets' names come from the CSV header. */
static ST_MUST_CHECK st_code targets_finish(const st_rows *r,
                                            st_data_schema *sc, st_err *err)
{
    sc->classes = 0;
    sc->labels_mapped = 0;
    sc->targets = (uint32_t)st_rows_label_columns(r);
    sc->target_names = calloc(sc->targets, sizeof(char *));
    if (!sc->target_names)
        return st_err_set(err, ST_E_IO, "out of memory");
    for (uint32_t i = 0; i < sc->targets; i++) {
        const char *n = st_rows_target_name(r, i);
        if (n && strlen(n) > ST_DATA_MAX_LABEL)
            return st_err_set(err, ST_E_INPUT,
                              "the name of target column %u is longer "
                              "than %u bytes",
                              i + 1, ST_DATA_MAX_LABEL);
        if (!(sc->target_names[i] = strdup(n ? n : "target")))
            return st_err_set(err, ST_E_IO, "out of memory");
    }
    return ST_OK;
}

st_code st_data_scan(const st_data_input *in, st_data_schema *sc,
                     st_data_progress progress, void *pctx, st_err *err)
{
    memset(sc, 0, sizeof(*sc));
    sc->format = in->format;
    st_rows *r = NULL;
    st_code rc = st_rows_open(in, &r, err);
    if (rc)
        return rc;
    struct st_label_set *ls = calloc(1, sizeof(*ls));
    if (!ls) {
        st_rows_close(r);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    sc->labels = ls;
    sc->task = in->task;
    ls->all_int = ls->all_num = ls->all_f32 = ls->all_integral = 1;
    ls->nslots = 64;
    ls->slots = calloc(ls->nslots, sizeof(*ls->slots));
    ls->arena_cap = 4096;
    ls->arena = st_secmem_alloc(ls->arena_cap, err);
    if (!ls->slots || !ls->arena) {
        rc = ls->arena ? st_err_set(err, ST_E_IO, "out of memory")
                       : (err ? err->code : ST_E_IO);
        goto out;
    }
    uint64_t size = 0, d0;
    st_rows_progress(r, &d0, &size);
    struct progress pr = {progress, pctx, 0, 2 * size, 0};
    size_t cols = st_rows_columns(r);
    uint32_t max_index = 0;
    for (;;) {
        st_row row;
        int done;
        rc = st_rows_next(r, &row, &done, err);
        if (rc)
            goto out;
        if (done)
            break;
        if (row.index && row.n > 0 && row.index[row.n - 1] + 1 > max_index)
            max_index = row.index[row.n - 1] + 1;
        if (row.ntargets > 0 && sc->task == ST_TASK_CLASSIFICATION) {
            rc = st_err_at(err, ST_E_INPUT, in->path, 0, 0,
                           "%zu label columns are regression targets: "
                           "expected one label column for classification "
                           "(or --task regression)",
                           row.ntargets);
            goto out;
        }
        if (row.ntargets > 0)
            sc->task = ST_TASK_REGRESSION;
        else if (sc->task == ST_TASK_REGRESSION)
            rc = check_target(r, in, &row, err);
        else
            rc = label_add(ls, row.label, row.label_len,
                           sc->task == ST_TASK_CLASSIFICATION, in->path,
                           row.line, err);
        if (rc)
            goto out;
        sc->rows++;
        progress_tick(&pr, r, 0);
    }
    if (sc->rows == 0) {
        rc = st_err_at(err, ST_E_INPUT, in->path, 0, 0,
                       "no data rows: expected at least one example");
        goto out;
    }
    if (in->format == ST_DATA_LIBSVM)
        cols = max_index;
    if (cols == 0) {
        rc = st_err_at(err, ST_E_INPUT, in->path, 0, 0,
                       "no features: expected at least one feature column");
        goto out;
    }
    sc->cols = (uint32_t)cols;
    if (in->format == ST_DATA_CSV) {
        sc->feature_names = calloc(cols, sizeof(char *));
        sc->label_name = strdup(st_rows_label_name(r));
        if (!sc->feature_names || !sc->label_name) {
            rc = st_err_set(err, ST_E_IO, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < cols; i++)
            if (!(sc->feature_names[i] = strdup(st_rows_feature_name(r, i)))) {
                rc = st_err_set(err, ST_E_IO, "out of memory");
                goto out;
            }
    }
    /* the training engine holds the whole tensor in locked memory: a
     * sparse LIBSVM file with a huge index would expand beyond any RAM */
    if (sc->rows > ST_DATA_MAX_TENSOR / 4 / sc->cols) {
        rc = st_err_at(err, ST_E_INPUT, in->path, 0, 0,
                       "%llu rows of %u features make a dense tensor of "
                       "more than %llu GiB",
                       (unsigned long long)sc->rows, sc->cols,
                       (unsigned long long)(ST_DATA_MAX_TENSOR >> 30));
        goto out;
    }
    sc->task_chosen = in->task == ST_TASK_AUTO;
    if (sc->task == ST_TASK_AUTO)
        sc->task = choose_task(ls, sc->rows);
    sc->distinct = ls->count;
    if (sc->task == ST_TASK_REGRESSION)
        rc = targets_finish(r, sc, err);
    else if (ls->overflow)
        rc = st_err_at(err, ST_E_INPUT, in->path, 0, 0,
                       "more than %u distinct labels: expected class "
                       "labels (is the label column a continuous value? "
                       "--task regression)",
                       ST_DATA_MAX_CLASSES);
    else if (!(rc = label_finish(ls, sc, in->path, err))) {
        sc->targets = 1;
        rc = class_names_take(r, sc, err);
    }
    if (!rc)
        progress_tick(&pr, r, 1);
out:
    st_rows_close(r);
    if (rc)
        st_data_schema_free(sc);
    return rc;
}

/* Buffers tensor bytes (secure memory) and hands them to the sink. */
struct writer {
    st_data_sink sink;
    void *ctx;
    uint8_t *buf;
    size_t len, cap;
    uint64_t total;
    st_sha256_ctx *sha;
};

static ST_MUST_CHECK st_code w_flush(struct writer *w, st_err *err)
{
    if (w->len == 0)
        return ST_OK;
    st_sha256_update(w->sha, w->buf, w->len);
    st_code rc = w->sink(w->ctx, w->buf, w->len, err);
    w->total += w->len;
    st_wipe(w->buf, w->len);
    w->len = 0;
    return rc;
}

static ST_MUST_CHECK st_code w_put(struct writer *w, const void *data, size_t n,
                                   st_err *err)
{
    const uint8_t *p = data;
    while (n > 0) {
        size_t k = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p += k;
        n -= k;
        if (w->len == w->cap) {
            st_code rc = w_flush(w, err);
            if (rc)
                return rc;
        }
    }
    return ST_OK;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* little-endian host (checked above) */
}

static void put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

st_code st_data_convert(const st_data_input *in, const st_data_schema *sc,
                        st_data_sink sink, void *sctx,
                        st_data_progress progress, void *pctx, uint64_t *size,
                        uint8_t plain_sha256[32], st_err *err)
{
    st_rows *r = NULL;
    float *labels = NULL; /* class indices as float32 (exact below 2^24),
                             or the regression targets */
    float *dense = NULL;
    struct writer w = {sink, sctx, NULL, 0, 256u << 10, 0, st_sha256_new()};
    st_code rc = ST_OK;
    if (!w.sha)
        return st_err_errno(err, ST_E_IO, ENOMEM, "the plaintext's digest");
    int reg = sc->task == ST_TASK_REGRESSION;
    if (sc->rows == 0 || sc->cols == 0 || !sc->labels || sc->targets == 0 ||
        (reg && !sc->target_names)) {
        rc = st_err_set(err, ST_E_USAGE, "convert needs a scanned schema");
        goto out;
    }
    rc = st_rows_open(in, &r, err);
    if (rc)
        goto out;
    uint64_t fsize, d0;
    st_rows_progress(r, &d0, &fsize);
    struct progress pr = {progress, pctx, fsize, 2 * fsize, 0};
    w.buf = st_secmem_alloc(w.cap, err);
    uint64_t label_bytes = sc->rows * sc->targets * 4;
    labels = st_secmem_alloc((size_t)label_bytes, err);
    dense = st_secmem_alloc((size_t)sc->cols * sizeof(float), err);
    if (!w.buf || !labels || !dense) {
        rc = err ? err->code : ST_E_IO;
        goto out;
    }
    if (in->format != ST_DATA_LIBSVM && st_rows_columns(r) != sc->cols) {
        rc = st_err_at(err, ST_E_INPUT, in->path, 0, 0,
                       "the file changed during import: %zu columns, "
                       "expected %u",
                       st_rows_columns(r), sc->cols);
        goto out;
    }

    uint64_t feat_bytes = sc->rows * sc->cols * 4;
    uint8_t hdr[ST_TENSOR_HEADER_SIZE] = {0};
    memcpy(hdr, ST_TENSOR_MAGIC, 8);
    put_u32(hdr + 8, ST_TENSOR_VERSION);
    put_u32(hdr + 12, ST_TENSOR_HEADER_SIZE);
    put_u64(hdr + 16, sc->rows);
    put_u32(hdr + 24, sc->cols);
    put_u32(hdr + 28, reg ? ST_TENSOR_LABEL_VALUE : ST_TENSOR_LABEL_CLASS);
    put_u32(hdr + 32, sc->classes);
    put_u32(hdr + 36, reg ? sc->targets : 0);
    put_u64(hdr + 40, ST_TENSOR_HEADER_SIZE);
    put_u64(hdr + 48, ST_TENSOR_HEADER_SIZE + feat_bytes);
    put_u64(hdr + 56, ST_TENSOR_HEADER_SIZE + feat_bytes + label_bytes);
    rc = w_put(&w, hdr, sizeof(hdr), err);

    uint64_t nrows = 0;
    while (!rc) {
        st_row row;
        int done;
        rc = st_rows_next(r, &row, &done, err);
        if (rc || done)
            break;
        if (nrows == sc->rows) {
            rc = st_err_at(err, ST_E_INPUT, in->path, row.line, 0,
                           "the file changed during import: more than "
                           "%llu rows",
                           (unsigned long long)sc->rows);
            break;
        }
        uint32_t cls = 0;
        float *y = labels + nrows * sc->targets;
        if (row.ntargets != (reg && sc->targets > 1 ? sc->targets : 0) ||
            (reg && !row.ntargets &&
             st_data_parse_float(row.label, row.label_len, y) != ST_NUM_OK) ||
            (!reg && label_lookup(sc, row.label, row.label_len, &cls))) {
            rc = st_err_at(err, ST_E_INPUT, in->path, row.line, 0,
                           "the file changed during import: a label not "
                           "seen before");
            break;
        }
        if (row.ntargets)
            memcpy(y, row.target, row.ntargets * sizeof(float));
        else if (!reg)
            *y = (float)cls;
        if (!row.index) {
            rc = w_put(&w, row.value, row.n * sizeof(float), err);
        } else {
            for (size_t i = 0; i < row.n; i++) {
                if (row.index[i] >= sc->cols) {
                    rc = st_err_at(err, ST_E_INPUT, in->path, row.line, 0,
                                   "the file changed during import: index "
                                   "%u beyond %u columns",
                                   row.index[i] + 1, sc->cols);
                    break;
                }
                dense[row.index[i]] = row.value[i];
            }
            if (!rc)
                rc = w_put(&w, dense, sc->cols * sizeof(float), err);
            for (size_t i = 0; i < row.n; i++)
                if (row.index[i] < sc->cols)
                    dense[row.index[i]] = 0.0f;
        }
        nrows++;
        progress_tick(&pr, r, 0);
    }
    if (!rc && nrows != sc->rows)
        rc = st_err_at(err, ST_E_INPUT, in->path, 0, 0,
                       "the file changed during import: %llu rows, "
                       "expected %llu",
                       (unsigned long long)nrows, (unsigned long long)sc->rows);
    if (!rc)
        rc = w_put(&w, labels, (size_t)label_bytes, err);
    /* the names section: class k's label text, or target k's name */
    uint32_t nnames = reg ? sc->targets : sc->classes;
    for (uint32_t k = 0; !rc && k < nnames; k++) {
        char num[16];
        const char *name = num;
        uint32_t len;
        if (reg) {
            name = sc->target_names[k];
            len = (uint32_t)strlen(name);
        } else if (sc->class_names) {
            name = sc->class_names[k];
            len = (uint32_t)strlen(name);
        } else if (sc->labels_mapped) {
            const struct label_entry *e =
                &sc->labels->slots[sc->labels->by_class[k]];
            name = sc->labels->arena + e->off;
            len = e->len;
        } else {
            len = (uint32_t)snprintf(num, sizeof(num), "%u", k);
        }
        uint8_t l4[4];
        put_u32(l4, len);
        rc = w_put(&w, l4, 4, err);
        if (!rc)
            rc = w_put(&w, name, len, err);
    }
    if (!rc)
        rc = w_flush(&w, err);
    if (!rc) {
        progress_tick(&pr, r, 1);
        *size = w.total;
        st_sha256_final(w.sha, plain_sha256);
    }
out:
    st_rows_close(r);
    st_secmem_free(w.buf);
    st_secmem_free(labels);
    st_secmem_free(dense);
    st_sha256_free(w.sha);
    return rc;
}
