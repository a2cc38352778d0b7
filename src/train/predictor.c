/*
 * predictor.c: a sealed model's weights put back to work: the one way
 * every consumer (the enclave runtime's evaluate and predict, a model
 * owner's local scoring, the benchmark) turns a model's safetensors into
 * outputs and metrics.
 *
 * Both families load from the layout they were saved in (safetensors.c
 * for the linear/logistic/MLP engine, gbdt.c for XGBoost trees): the
 * configuration from the metadata "sealtrain.config", the fitted
 * preprocessing from its tensors (applied by the engine's own predict),
 * and the original labels from "sealtrain.class_names" or
 * "sealtrain.target_names" (docs/models.md).
 *
 * ROC AUC (binary tasks) is computed here from the scores, as
 * scikit-learn's roc_auc_score: the Mann-Whitney statistic with ties
 * counted one half.
 *
 * Never: write anything anywhere, or keep weights or outputs outside
 * secure memory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/gbdt.h"
#include "sealtrain/json.h"
#include "sealtrain/secmem.h"
#include "train/train.h"

#define PREDICT_BATCH 256

struct st_predictor {
    st_trainer *trainer; /* one of the two */
    st_gbdt *gbdt;
    size_t features, classes, outputs;
    json_t *labels; /* class or target names, or NULL */
};

void st_predictor_free(st_predictor *p)
{
    if (!p)
        return;
    st_trainer_free(p->trainer);
    st_gbdt_free(p->gbdt);
    json_decref(p->labels);
    free(p);
}

/* The engine's model from its configuration, then its weights. */
static st_code load_trainer(st_predictor *p, const st_safetensors *sf,
                            const uint8_t *buf, size_t len, st_err *err)
{
    const char *text =
        json_string_value(json_object_get(sf->metadata, "sealtrain.config"));
    if (!text)
        return st_err_set(err, ST_E_INPUT,
                          "model: the safetensors metadata has no "
                          "sealtrain.config");
    json_t *cj = st_json_parse(text, strlen(text), "sealtrain.config", err);
    if (!cj)
        return err ? err->code : ST_E_INPUT;
    st_train_config cfg;
    st_code rc =
        st_train_config_from_json(json_object_get(cj, "model"),
                                  json_object_get(cj, "training"), &cfg, err);
    if (rc == ST_OK)
        rc = st_train_config_preprocessing(json_object_get(cj, "preprocessing"),
                                           &cfg, err);
    json_decref(cj);
    if (rc == ST_OK && (!cfg.inputs || !cfg.outputs))
        rc = st_err_set(err, ST_E_INPUT,
                        "model: the configuration does not say the input "
                        "and output sizes");
    /* rows per forward pass: predict's own, whatever the training batch
     * was (the buffers are sized by it; outputs are per row). 256 keeps
     * a pass's activations in cache: bench/predict.sh measured 64, 128,
     * 256, 512 and 1024, and 128-256 were fastest */
    cfg.batch_size = PREDICT_BATCH;
    if (rc == ST_OK)
        rc = st_trainer_new(&cfg, &p->trainer, err);
    if (rc == ST_OK)
        rc = st_trainer_load_safetensors(p->trainer, buf, len, err);
    if (rc != ST_OK)
        return rc;
    p->features = cfg.inputs;
    p->outputs = cfg.outputs;
    p->classes = cfg.loss == ST_LOSS_MSE          ? 0
                 : cfg.loss == ST_LOSS_SOFTMAX_CE ? cfg.outputs
                                                  : 2;
    return ST_OK;
}

st_code st_predictor_load(const uint8_t *buf, size_t len, st_predictor **out,
                          st_err *err)
{
    *out = NULL;
    st_safetensors *sf = NULL;
    st_code rc = st_safetensors_parse(buf, len, &sf, err);
    if (rc != ST_OK)
        return st_err_prefix(err, "model");
    st_predictor *p = calloc(1, sizeof(*p));
    if (!p) {
        st_safetensors_free(sf);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    const char *type = json_string_value(
        json_object_get(sf->metadata, "sealtrain.model_type"));
    if (type && !strcmp(type, "gbdt")) {
        rc = st_gbdt_load_safetensors(buf, len, &p->gbdt, err);
        if (rc == ST_OK) {
            p->features = st_gbdt_features(p->gbdt);
            p->classes = st_gbdt_classes(p->gbdt);
            p->outputs = p->classes > 2 ? p->classes : 1;
        }
    } else
        rc = load_trainer(p, sf, buf, len, err);
    const char *names = json_string_value(
        json_object_get(sf->metadata, "sealtrain.class_names"));
    if (!names)
        names = json_string_value(
            json_object_get(sf->metadata, "sealtrain.target_names"));
    if (rc == ST_OK && names) {
        p->labels = st_json_parse(names, strlen(names), "model labels", err);
        size_t want = p->classes ? p->classes : p->outputs;
        if (!p->labels)
            rc = err ? err->code : ST_E_INPUT;
        else if (!json_is_array(p->labels) ||
                 json_array_size(p->labels) != want)
            rc = st_err_set(err, ST_E_INPUT,
                            "model: the metadata names %zu labels, the "
                            "model has %zu",
                            json_array_size(p->labels), want);
        for (size_t i = 0; rc == ST_OK && i < want; i++)
            if (!json_is_string(json_array_get(p->labels, i)))
                rc = st_err_set(err, ST_E_INPUT,
                                "model: label %zu is not a string", i);
    }
    st_safetensors_free(sf);
    if (rc != ST_OK) {
        st_predictor_free(p);
        return rc;
    }
    *out = p;
    return ST_OK;
}

size_t st_predictor_features(const st_predictor *p)
{
    return p->features;
}

size_t st_predictor_classes(const st_predictor *p)
{
    return p->classes;
}

size_t st_predictor_outputs(const st_predictor *p)
{
    return p->outputs;
}

const char *st_predictor_label(const st_predictor *p, size_t i)
{
    return json_string_value(json_array_get(p->labels, i));
}

st_code st_predictor_predict(st_predictor *p, const float *x, size_t rows,
                             float *out, st_err *err)
{
    return p->gbdt ? st_gbdt_predict(p->gbdt, x, rows, out, err)
                   : st_trainer_predict(p->trainer, x, rows, out, err);
}

size_t st_predictor_class_of(const st_predictor *p, const float *row)
{
    if (p->outputs == 1) /* P(class 1) */
        return row[0] >= 0.5f ? 1 : 0;
    size_t best = 0;
    for (size_t k = 1; k < p->outputs; k++)
        if (row[k] > row[best])
            best = k;
    return best;
}

static int by_score(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* ROC AUC of the scores of class 1 against labels 0/1: pairs are
 * sorted as (score, label) floats, ranks averaged over ties. NaN when
 * one class is absent. */
static double roc_auc(const float *score, size_t stride, const float *y,
                      size_t n, st_err *err, st_code *rc)
{
    float *pairs = st_secmem_alloc(n * 2 * sizeof(float), err);
    if (!pairs) {
        *rc = err ? err->code : ST_E_IO;
        return NAN;
    }
    for (size_t i = 0; i < n; i++) {
        pairs[2 * i] = score[i * stride];
        pairs[2 * i + 1] = y[i];
    }
    qsort(pairs, n, 2 * sizeof(float), by_score);
    double rank_sum = 0.0, pos = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && pairs[2 * j] == pairs[2 * i])
            j++;
        double rank = (double)(i + j + 1) / 2.0; /* ranks i+1 .. j */
        for (size_t k = i; k < j; k++)
            if (pairs[2 * k + 1] > 0.5f) {
                rank_sum += rank;
                pos += 1.0;
            }
        i = j;
    }
    st_secmem_free(pairs);
    double neg = (double)n - pos;
    if (pos == 0.0 || neg == 0.0)
        return NAN;
    return (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg);
}

st_code st_predictor_evaluate(st_predictor *p, const st_train_data *d,
                              st_train_metrics *m, double *auc, st_err *err)
{
    *auc = NAN;
    if (d->features != p->features)
        return st_err_set(err, ST_E_INPUT,
                          "the data has %zu features, the model takes %zu",
                          d->features, p->features);
    st_code rc = p->gbdt ? st_gbdt_evaluate(p->gbdt, d, m, err)
                         : st_trainer_evaluate(p->trainer, d, m, err);
    if (rc != ST_OK || p->classes != 2 || !d->rows)
        return rc;
    float *out = st_secmem_alloc(d->rows * p->outputs * sizeof(float), err);
    if (!out)
        return err ? err->code : ST_E_IO;
    /* m->confusion points into the engine and stays valid: predict
     * touches neither engine's confusion buffer */
    rc = st_predictor_predict(p, d->x, d->rows, out, err);
    if (rc == ST_OK)
        *auc = roc_auc(out + (p->outputs - 1), p->outputs, d->y, d->rows, err,
                       &rc);
    st_secmem_free(out);
    return rc;
}

/* A label as a CSV field (RFC 4180: quoted when it must be). */
static size_t put_field(char *out, size_t cap, size_t at, const char *s)
{
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    size_t n = at;
    if (quote && n < cap)
        out[n] = '"';
    n += quote;
    for (const char *c = s; *c; c++) {
        if (quote && *c == '"') {
            if (n < cap)
                out[n] = '"';
            n++;
        }
        if (n < cap)
            out[n] = *c;
        n++;
    }
    if (quote && n < cap)
        out[n] = '"';
    return n + quote;
}

static size_t put_str(char *out, size_t cap, size_t at, const char *s)
{
    for (; *s; s++, at++)
        if (at < cap)
            out[at] = *s;
    return at;
}

/* A value, after a comma unless it is the first field. */
static size_t put_num(char *out, size_t cap, size_t at, int comma, double v)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s%.9g", comma ? "," : "", v);
    return put_str(out, cap, at, tmp);
}

/* One pass of the CSV into out[0, cap); returns the length it needs. */
static size_t csv_pass(const st_predictor *p, const float *outs, size_t rows,
                       char *out, size_t cap)
{
    size_t at = 0, k = p->classes, no = p->outputs;
    char name[64];
    if (k) {
        at = put_field(out, cap, at, "prediction");
        for (size_t j = 0; j < k; j++) {
            /* "p_LABEL", one field (quoted as a whole when it must be) */
            const char *l = st_predictor_label(p, j);
            snprintf(name, sizeof(name), "%zu", j);
            l = l ? l : name;
            char *col = malloc(strlen(l) + 3);
            at = put_str(out, cap, at, ",");
            if (col) {
                memcpy(col, "p_", 2);
                memcpy(col + 2, l, strlen(l) + 1);
            }
            at = put_field(out, cap, at, col ? col : "p_?");
            free(col);
        }
    } else
        for (size_t j = 0; j < no; j++) {
            const char *l = st_predictor_label(p, j);
            snprintf(name, sizeof(name), "target_%zu", j);
            if (j)
                at = put_str(out, cap, at, ",");
            at = put_field(out, cap, at, l ? l : no == 1 ? "prediction" : name);
        }
    at = put_str(out, cap, at, "\n");
    for (size_t i = 0; i < rows; i++) {
        const float *row = outs + i * no;
        if (k) {
            size_t c = st_predictor_class_of(p, row);
            const char *l = st_predictor_label(p, c);
            snprintf(name, sizeof(name), "%zu", c);
            at = put_field(out, cap, at, l ? l : name);
            for (size_t j = 0; j < k; j++) {
                double pj = no == 1 ? (j ? row[0] : 1.0 - row[0]) : row[j];
                at = put_num(out, cap, at, 1, pj);
            }
        } else
            for (size_t j = 0; j < no; j++)
                at = put_num(out, cap, at, j > 0, row[j]);
        at = put_str(out, cap, at, "\n");
    }
    return at;
}

st_code st_predictor_csv(const st_predictor *p, const float *outs, size_t rows,
                         char **text, size_t *len, st_err *err)
{
    *text = NULL;
    *len = csv_pass(p, outs, rows, NULL, 0);
    char *buf = st_secmem_alloc(*len + 1, err);
    if (!buf)
        return err ? err->code : ST_E_IO;
    csv_pass(p, outs, rows, buf, *len);
    buf[*len] = 0;
    *text = buf;
    return ST_OK;
}
