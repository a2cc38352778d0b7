/*
 * safetensors.c: model weights in the safetensors format
 * (https://github.com/huggingface/safetensors, "Format" section of its
 * README): an unsigned little-endian 64-bit header length N, N bytes of
 * JSON header {"<name>": {"dtype": "F32", "shape": [..], "data_offsets":
 * [begin, end]}, ..., "__metadata__": {"k": "v"}}, then the byte buffer
 * that the offsets index (relative to its start).
 *
 * The parser treats the file as hostile: header length bounded by the
 * buffer and by 100 MiB (as the reference implementation), strict JSON
 * (duplicate keys rejected), only the three known tensor keys, known
 * dtypes, shape x dtype size equal to end - begin without overflow, and
 * tensors that tile the byte buffer exactly (no overlap, no hole, nothing
 * after the last one), which is the rule the reference reader enforces.
 * It rejects, it never repairs. Weights come out in secure memory.
 */
#include <stdlib.h>
#include <string.h>

#include "sealtrain/bytes.h"
#include "sealtrain/json.h"
#include "train/train_internal.h"

#define MAX_NAME 1024

static const struct {
    const char *name;
    unsigned size;
} dtypes[] = {
    [ST_DTYPE_BOOL] = {"BOOL", 1},       [ST_DTYPE_U8] = {"U8", 1},
    [ST_DTYPE_I8] = {"I8", 1},           [ST_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    [ST_DTYPE_F8_E4M3] = {"F8_E4M3", 1}, [ST_DTYPE_I16] = {"I16", 2},
    [ST_DTYPE_U16] = {"U16", 2},         [ST_DTYPE_F16] = {"F16", 2},
    [ST_DTYPE_BF16] = {"BF16", 2},       [ST_DTYPE_I32] = {"I32", 4},
    [ST_DTYPE_U32] = {"U32", 4},         [ST_DTYPE_F32] = {"F32", 4},
    [ST_DTYPE_F64] = {"F64", 8},         [ST_DTYPE_I64] = {"I64", 8},
    [ST_DTYPE_U64] = {"U64", 8},
};
#define NDTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

const char *st_dtype_name(st_dtype d)
{
    return (size_t)d < NDTYPES ? dtypes[d].name : "?";
}

void st_safetensors_free(st_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->count; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    json_decref(st->metadata);
    free(st);
}

const st_safetensor *st_safetensors_find(const st_safetensors *st,
                                         const char *name)
{
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

typedef struct entry {
    st_safetensor t;
    uint64_t begin, end;
} entry;

static int by_offset(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->t.name, y->t.name);
}

static ST_MUST_CHECK st_code parse_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ST_E_INPUT;
    *out = (uint64_t)json_integer_value(v);
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_tensor(const char *name, const json_t *v,
                                          uint64_t datalen, entry *e,
                                          st_err *err)
{
    static const char *const keys[] = {"dtype", "shape", "data_offsets", NULL};
    char where[MAX_NAME + 64];
    snprintf(where, sizeof(where), "safetensors header: tensor \"%s\"", name);
    st_code rc = st_json_check_keys(v, keys, where, err);
    if (rc)
        return rc;
    const char *dt = NULL;
    if ((rc = st_json_get_string(v, "dtype", 1, &dt, where, err)))
        return rc;
    size_t d = 0;
    while (d < NDTYPES && strcmp(dtypes[d].name, dt) != 0)
        d++;
    if (d == NDTYPES)
        return st_err_set(err, ST_E_INPUT, "%s: unknown dtype \"%s\"", where,
                          dt);
    e->t.dtype = (st_dtype)d;
    const json_t *shape = json_object_get(v, "shape");
    if (!json_is_array(shape) ||
        json_array_size(shape) > ST_SAFETENSORS_MAX_DIMS)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"shape\" must be an array of at most %d "
                          "sizes",
                          where, ST_SAFETENSORS_MAX_DIMS);
    e->t.ndim = json_array_size(shape);
    uint64_t count = 1;
    for (size_t i = 0; i < e->t.ndim; i++) {
        uint64_t s;
        if (parse_u64(json_array_get(shape, i), &s))
            return st_err_set(err, ST_E_INPUT,
                              "%s: shape[%zu] must be a non-negative "
                              "integer",
                              where, i);
        e->t.shape[i] = s;
        if (s && count > UINT64_MAX / s)
            return st_err_set(err, ST_E_INPUT, "%s: shape overflows", where);
        count *= s;
    }
    if (count > UINT64_MAX / dtypes[d].size)
        return st_err_set(err, ST_E_INPUT, "%s: shape overflows", where);
    e->t.nbytes = count * dtypes[d].size;
    const json_t *off = json_object_get(v, "data_offsets");
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        parse_u64(json_array_get(off, 0), &e->begin) ||
        parse_u64(json_array_get(off, 1), &e->end))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"data_offsets\" must be [begin, end] "
                          "(non-negative integers)",
                          where);
    if (e->begin > e->end || e->end > datalen)
        return st_err_set(err, ST_E_INPUT,
                          "%s: data_offsets [%llu, %llu] outside the %llu "
                          "data bytes",
                          where, (unsigned long long)e->begin,
                          (unsigned long long)e->end,
                          (unsigned long long)datalen);
    if (e->end - e->begin != e->t.nbytes)
        return st_err_set(err, ST_E_INPUT,
                          "%s: %llu bytes at data_offsets, shape x %s needs "
                          "%llu",
                          where, (unsigned long long)(e->end - e->begin), dt,
                          (unsigned long long)e->t.nbytes);
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_metadata(const json_t *v, st_err *err)
{
    if (!json_is_object(v))
        return st_err_set(err, ST_E_INPUT,
                          "safetensors header: \"__metadata__\" must be an "
                          "object");
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        if (!json_is_string(x))
            return st_err_set(err, ST_E_INPUT,
                              "safetensors header: __metadata__.%s must be "
                              "a string",
                              k);
    }
    return ST_OK;
}

st_code st_safetensors_parse(const uint8_t *buf, size_t len,
                             st_safetensors **out, st_err *err)
{
    st_reader r;
    st_reader_init(&r, buf, len);
    uint64_t n = st_read_u64le(&r);
    if (r.failed)
        return st_err_set(err, ST_E_INPUT,
                          "safetensors: %zu bytes, too short for a header "
                          "length",
                          len);
    if (n < 2 || n > ST_SAFETENSORS_MAX_HEADER || n > st_reader_left(&r))
        return st_err_set(err, ST_E_INPUT,
                          "safetensors: header length %llu out of bounds "
                          "(2 to %zu here)",
                          (unsigned long long)n,
                          st_reader_left(&r) < ST_SAFETENSORS_MAX_HEADER
                              ? st_reader_left(&r)
                              : (size_t)ST_SAFETENSORS_MAX_HEADER);
    const uint8_t *hdr = st_read_view(&r, (size_t)n);
    uint64_t datalen = st_reader_left(&r);
    const uint8_t *data = hdr + n;
    if (hdr[0] != '{')
        return st_err_set(err, ST_E_INPUT,
                          "safetensors: header does not start with '{'");
    json_t *j =
        st_json_parse((const char *)hdr, (size_t)n, "safetensors header", err);
    if (!j)
        return ST_E_INPUT;
    st_code rc = ST_OK;
    st_safetensors *st = calloc(1, sizeof(*st));
    size_t cap = json_object_size(j);
    entry *es = calloc(cap ? cap : 1, sizeof(entry));
    size_t ne = 0;
    if (!st || !es) {
        rc = st_err_set(err, ST_E_IO, "safetensors: out of memory");
        goto done;
    }
    if (!json_is_object(j)) {
        rc = st_err_set(err, ST_E_INPUT,
                        "safetensors: header must be a JSON object");
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "__metadata__") == 0) {
            if ((rc = parse_metadata(v, err)))
                goto done;
            st->metadata = json_incref(v);
            continue;
        }
        size_t kl = strlen(k);
        if (kl == 0 || kl > MAX_NAME) {
            rc = st_err_set(err, ST_E_INPUT,
                            "safetensors header: tensor names must be 1 to "
                            "%d bytes",
                            MAX_NAME);
            goto done;
        }
        if ((rc = parse_tensor(k, v, datalen, &es[ne], err)))
            goto done;
        es[ne].t.name = strdup(k);
        if (!es[ne].t.name) {
            rc = st_err_set(err, ST_E_IO, "safetensors: out of memory");
            goto done;
        }
        ne++;
    }
    qsort(es, ne, sizeof(entry), by_offset);
    uint64_t at = 0;
    for (size_t i = 0; i < ne; i++) {
        if (es[i].begin != at) {
            rc = st_err_set(err, ST_E_INPUT,
                            "safetensors: tensor \"%s\" starts at %llu, "
                            "expected %llu (%s)",
                            es[i].t.name, (unsigned long long)es[i].begin,
                            (unsigned long long)at,
                            es[i].begin < at ? "overlap" : "hole");
            goto done;
        }
        at = es[i].end;
    }
    if (at != datalen) {
        rc = st_err_set(err, ST_E_INPUT,
                        "safetensors: tensors cover %llu of %llu data bytes",
                        (unsigned long long)at, (unsigned long long)datalen);
        goto done;
    }
    st->tensors = calloc(ne ? ne : 1, sizeof(st_safetensor));
    if (!st->tensors) {
        rc = st_err_set(err, ST_E_IO, "safetensors: out of memory");
        goto done;
    }
    for (size_t i = 0; i < ne; i++) {
        st->tensors[i] = es[i].t;
        st->tensors[i].data = data + es[i].begin;
        es[i].t.name = NULL; /* moved */
    }
    st->count = ne;
done:
    for (size_t i = 0; es && i < ne; i++)
        free(es[i].t.name);
    free(es);
    json_decref(j);
    if (rc) {
        st_safetensors_free(st);
        return rc;
    }
    *out = st;
    return ST_OK;
}

/* ---- the trainer's weights ---- */

static void tensor_name(char *out, size_t cap, size_t layer, int bias)
{
    snprintf(out, cap, "layers.%zu.%s", layer, bias ? "bias" : "weight");
}

st_code st_trainer_save_safetensors(const st_trainer *t, const json_t *metadata,
                                    st_secret **out, st_err *err)
{
    if (metadata && parse_metadata(metadata, err))
        return st_err_set(err, ST_E_USAGE,
                          "safetensors: metadata must be an object of "
                          "strings");
    json_t *hdr = json_object(), *meta = json_object();
    char *cfg = st_train_config_dump(&t->cfg);
    char *text = NULL;
    st_code rc = ST_OK;
    if (!hdr || !meta || !cfg) {
        rc = st_err_set(err, ST_E_IO, "safetensors: out of memory");
        goto done;
    }
    if (metadata)
        json_object_update(meta, (json_t *)metadata);
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(meta, "sealtrain.config", json_string(cfg));
    json_object_set(hdr, "__metadata__", meta);
    uint64_t at = 0;
    for (size_t l = 0; l < t->nlayers; l++) {
        const st_layer *L = &t->layers[l];
        for (int bias = 0; bias < 2; bias++) {
            char name[64];
            tensor_name(name, sizeof(name), l, bias);
            uint64_t nb = (bias ? L->out : L->out * L->in) * sizeof(float);
            json_t *shape = bias ? json_pack("[I]", (json_int_t)L->out)
                                 : json_pack("[I, I]", (json_int_t)L->out,
                                             (json_int_t)L->in);
            json_object_set_new(hdr, name,
                                json_pack("{s:s, s:o, s:[I, I]}", "dtype",
                                          "F32", "shape", shape, "data_offsets",
                                          (json_int_t)at,
                                          (json_int_t)(at + nb)));
            at += nb;
        }
    }
    /* the fitted preprocessing travels with the weights it was trained
     * for (docs/models.md, "Preprocessing in the model") */
    int pp = t->pp_shift && t->pp_fitted;
    for (int i = 0; pp && i < 2; i++) {
        uint64_t nb = t->cfg.inputs * sizeof(float);
        json_object_set_new(
            hdr, i ? "preprocessing.scale" : "preprocessing.shift",
            json_pack("{s:s, s:[I], s:[I, I]}", "dtype", "F32", "shape",
                      (json_int_t)t->cfg.inputs, "data_offsets", (json_int_t)at,
                      (json_int_t)(at + nb)));
        at += nb;
    }
    text = st_json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        rc = st_err_set(err, ST_E_IO, "safetensors: out of memory");
        goto done;
    }
    /* pad with spaces so that the data starts 8-byte aligned */
    size_t hl = strlen(text), padded = (hl + 7) / 8 * 8;
    st_secret *s = st_secret_new(8 + padded + at, err);
    if (!s) {
        rc = st_err_prefix(err, "safetensors");
        goto done;
    }
    uint8_t *p = st_secret_bytes(s);
    uint64_t n64 = padded;
    memcpy(p, &n64, 8);
    memcpy(p + 8, text, hl);
    memset(p + 8 + hl, ' ', padded - hl);
    p += 8 + padded;
    for (size_t l = 0; l < t->nlayers; l++) {
        const st_layer *L = &t->layers[l];
        memcpy(p, L->w, L->out * L->in * sizeof(float));
        p += L->out * L->in * sizeof(float);
        memcpy(p, L->b, L->out * sizeof(float));
        p += L->out * sizeof(float);
    }
    if (pp) {
        memcpy(p, t->pp_shift, t->cfg.inputs * sizeof(float));
        p += t->cfg.inputs * sizeof(float);
        memcpy(p, t->pp_scale, t->cfg.inputs * sizeof(float));
    }
    *out = s;
done:
    free(text);
    free(cfg);
    json_decref(meta);
    json_decref(hdr);
    return rc;
}

st_code st_trainer_load_safetensors(st_trainer *t, const uint8_t *buf,
                                    size_t len, st_err *err)
{
    st_safetensors *st;
    st_code rc = st_safetensors_parse(buf, len, &st, err);
    if (rc)
        return rc;
    size_t ntensors = 2 * t->nlayers + (t->pp_shift ? 2 : 0);
    if (st->count != ntensors) {
        rc = st_err_set(err, ST_E_INPUT,
                        "safetensors: %zu tensors, the model has %zu",
                        st->count, ntensors);
        goto done;
    }
    const st_safetensor *pp[2] = {NULL, NULL};
    for (int i = 0; t->pp_shift && i < 2; i++) {
        const char *name = i ? "preprocessing.scale" : "preprocessing.shift";
        pp[i] = st_safetensors_find(st, name);
        if (!pp[i] || pp[i]->dtype != ST_DTYPE_F32 || pp[i]->ndim != 1 ||
            pp[i]->shape[0] != t->cfg.inputs) {
            rc = st_err_set(err, ST_E_INPUT,
                            "safetensors: tensor \"%s\" must be F32 [%zu]",
                            name, t->cfg.inputs);
            goto done;
        }
    }
    /* check everything before copying anything */
    for (int pass = 0; pass < 2; pass++)
        for (size_t l = 0; l < t->nlayers; l++) {
            st_layer *L = &t->layers[l];
            for (int bias = 0; bias < 2; bias++) {
                char name[64];
                tensor_name(name, sizeof(name), l, bias);
                const st_safetensor *x = st_safetensors_find(st, name);
                uint64_t d0 = L->out, d1 = L->in;
                if (!x) {
                    rc = st_err_set(err, ST_E_INPUT,
                                    "safetensors: no tensor \"%s\"", name);
                    goto done;
                }
                if (x->dtype != ST_DTYPE_F32 || x->ndim != (bias ? 1u : 2u) ||
                    x->shape[0] != d0 || (!bias && x->shape[1] != d1)) {
                    char want[64];
                    if (bias)
                        snprintf(want, sizeof(want), "[%llu]",
                                 (unsigned long long)d0);
                    else
                        snprintf(want, sizeof(want), "[%llu, %llu]",
                                 (unsigned long long)d0,
                                 (unsigned long long)d1);
                    rc = st_err_set(err, ST_E_INPUT,
                                    "safetensors: tensor \"%s\" must be "
                                    "F32 %s",
                                    name, want);
                    goto done;
                }
                if (pass == 1)
                    memcpy(bias ? L->b : L->w, x->data, x->nbytes);
            }
        }
    if (pp[0]) {
        memcpy(t->pp_shift, pp[0]->data, pp[0]->nbytes);
        memcpy(t->pp_scale, pp[1]->data, pp[1]->nbytes);
        t->pp_fitted = 1;
    }
done:
    st_safetensors_free(st);
    return rc;
}
