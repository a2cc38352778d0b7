/*
 * gbdt.c: gradient-boosted trees, grown by XGBoost 1.7 through its C API.
 *
 * Owns the "gbdt" model section of a job spec (strict, every error names
 * its key), the training loop (one XGBoosterUpdateOneIter per round, the
 * round's figures from XGBoosterEvalOneIter, early stopping on the
 * validation set with the rule of XGBoost's own EarlyStopping callback),
 * predictions, metrics, feature importances and the sealed layout: a
 * safetensors buffer with XGBoost's JSON model as one U8 tensor
 * ("xgboost.model") and the fitted preprocessing as F32 tensors beside it
 * (docs/models.md, "Gradient-boosted trees in the model").
 *
 * Memory: rows that this file scales or gathers, the preprocessing
 * statistics and the model bytes it hands back are secure memory
 * (st_secmem_alloc / st_secret). XGBoost's DMatrix (a copy of the rows),
 * its histogram index, gradients and trees are its own ordinary memory;
 * they are freed as soon as they are no longer needed, not wiped. XGBoost
 * is told to be silent (verbosity 0, a log callback that drops
 * everything), so nothing it prints can carry data into a log. The
 * library is not linked: it is loaded at first use (extlib.h), and
 * every call goes through its table, st_xgb().
 *
 * Never: do I/O, or put a row, a label or a tree into an error message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sealtrain/json.h"
#include "train/extlib.h"
#include "train/gbdt.h"
#include "train/train_internal.h"

struct st_gbdt {
    st_gbdt_config cfg; /* inputs and outputs resolved */
    size_t classes;     /* 2 (binary), k (multi), 0 (regression) */
    unsigned rounds;    /* kept in the booster */
    BoosterHandle h;
    float *pp_shift, *pp_scale; /* secure memory, or NULL */
    uint64_t *confusion;        /* classes x classes of the last evaluate */
    st_train_metrics final;     /* st_gbdt_fit's final evaluation */
    uint64_t *final_confusion;  /* its confusion matrix */
};

static const char *const objective_names[] = {
    "binary:logistic", "multi:softprob", "reg:squarederror", NULL};
/* XGBoost's evaluation metrics per objective; the last is the one early
 * stopping watches, as XGBoost's EarlyStopping does */
static const char *const eval_metrics[][2] = {
    {"error", "logloss"}, {"merror", "mlogloss"}, {"mae", "rmse"}};

const char *st_gbdt_objective_name(st_gbdt_objective o)
{
    return objective_names[o];
}

/* ---- configuration ---- */

int st_gbdt_spec_is_gbdt(const json_t *model)
{
    const char *t = json_string_value(json_object_get(model, "type"));
    return json_is_object(model) && t && strcmp(t, "gbdt") == 0;
}

static void gbdt_default(st_gbdt_config *c)
{
    memset(c, 0, sizeof(*c));
    c->objective = ST_GBDT_BINARY;
    c->rounds = 100;
    c->max_depth = 6;
    c->eta = 0.3;
    c->subsample = 1.0;
    c->colsample = 1.0;
    c->lambda = 1.0;
    c->alpha = 0.0;
    c->min_child_weight = 1.0;
    st_train_config_default(&c->pp);
}

static ST_MUST_CHECK st_code get_uint(const json_t *o, const char *key,
                                      long long min, long long max,
                                      unsigned *out, st_err *err)
{
    long long v = *out;
    st_code rc = st_json_get_int(o, key, 0, min, max, &v, "model", err);
    if (rc == ST_OK)
        *out = (unsigned)v;
    return rc;
}

st_code st_gbdt_config_from_json(const json_t *model, const json_t *training,
                                 const json_t *preprocessing,
                                 st_gbdt_config *cfg, st_err *err)
{
    static const char *const keys[] = {
        "type",  "objective",        "rounds",      "max_depth",
        "eta",   "subsample",        "colsample",   "lambda",
        "alpha", "min_child_weight", "tree_method", "early_stopping_rounds",
        "seed",  "nthread",          "inputs",      "outputs",
        NULL};
    static const char *const tkeys[] = {"validation_split", NULL};
    st_gbdt_config c;
    gbdt_default(&c);
    st_code rc;
    if (!st_gbdt_spec_is_gbdt(model))
        return st_err_set(err, ST_E_INPUT, "model.type: expected \"gbdt\"");
    if ((rc = st_json_check_keys(model, keys, "model", err)))
        return rc;
    const char *s = NULL;
    if ((rc = st_json_get_string(model, "objective", 1, &s, "model", err)))
        return rc;
    int found = 0;
    for (int i = 0; objective_names[i]; i++)
        if (strcmp(s, objective_names[i]) == 0) {
            c.objective = (st_gbdt_objective)i;
            found = 1;
        }
    if (!found)
        return st_err_set(err, ST_E_INPUT,
                          "model.objective: unknown value \"%s\" (one of "
                          "binary:logistic, multi:softprob, "
                          "reg:squarederror)",
                          s);
    s = NULL;
    if ((rc = st_json_get_string(model, "tree_method", 0, &s, "model", err)))
        return rc;
    if (s && strcmp(s, "hist") != 0)
        return st_err_set(err, ST_E_INPUT,
                          "model.tree_method: unknown value \"%s\" (only "
                          "\"hist\")",
                          s);
    long long seed = 0, nthread = 0;
    size_t inputs = 0, outputs = 0;
    long long in = 0, outn = 0;
    if ((rc = get_uint(model, "rounds", 1, ST_GBDT_MAX_ROUNDS, &c.rounds,
                       err)) ||
        (rc = get_uint(model, "max_depth", 1, ST_GBDT_MAX_DEPTH, &c.max_depth,
                       err)) ||
        (rc = st_json_get_number(model, "eta", 0, 1e-6, 1.0, &c.eta, "model",
                                 err)) ||
        (rc = st_json_get_number(model, "subsample", 0, 1e-6, 1.0, &c.subsample,
                                 "model", err)) ||
        (rc = st_json_get_number(model, "colsample", 0, 1e-6, 1.0, &c.colsample,
                                 "model", err)) ||
        (rc = st_json_get_number(model, "lambda", 0, 0.0, 1e6, &c.lambda,
                                 "model", err)) ||
        (rc = st_json_get_number(model, "alpha", 0, 0.0, 1e6, &c.alpha, "model",
                                 err)) ||
        (rc = st_json_get_number(model, "min_child_weight", 0, 0.0, 1e9,
                                 &c.min_child_weight, "model", err)) ||
        (rc = get_uint(model, "early_stopping_rounds", 0, ST_GBDT_MAX_ROUNDS,
                       &c.early_stopping_rounds, err)) ||
        (rc = st_json_get_int(model, "seed", 0, 0, 2147483647LL, &seed, "model",
                              err)) ||
        (rc = st_json_get_int(model, "nthread", 0, 0, 1024, &nthread, "model",
                              err)) ||
        (rc = st_json_get_int(model, "inputs", 0, 1, ST_TRAIN_MAX_WIDTH, &in,
                              "model", err)) ||
        (rc = st_json_get_int(model, "outputs", 0, 1, ST_TRAIN_MAX_CLASSES,
                              &outn, "model", err)))
        return rc;
    inputs = (size_t)in;
    outputs = (size_t)outn;
    c.seed = (uint64_t)seed;
    c.nthread = (int)nthread;
    c.inputs = inputs;
    c.outputs = outputs;
    if (c.objective != ST_GBDT_MULTI && outputs > 1)
        return st_err_set(err, ST_E_INPUT,
                          "model.outputs: %s has one output, not %zu",
                          objective_names[c.objective], outputs);
    if (training && !json_is_object(training))
        return st_err_set(err, ST_E_INPUT, "training: expected an object");
    if (training &&
        ((rc = st_json_check_keys(training, tkeys, "training (gbdt)", err)) ||
         (rc = st_json_get_number(training, "validation_split", 0, 0.0, 0.9,
                                  &c.validation_split, "training", err))))
        return rc;
    if ((rc = st_train_config_preprocessing(preprocessing, &c.pp, err)))
        return rc;
    *cfg = c;
    return ST_OK;
}

json_t *st_gbdt_config_to_json(const st_gbdt_config *c)
{
    json_t *model = json_pack(
        "{s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:s, s:I, s:I, "
        "s:I}",
        "type", "gbdt", "objective", objective_names[c->objective], "rounds",
        (json_int_t)c->rounds, "max_depth", (json_int_t)c->max_depth, "eta",
        c->eta, "subsample", c->subsample, "colsample", c->colsample, "lambda",
        c->lambda, "alpha", c->alpha, "min_child_weight", c->min_child_weight,
        "tree_method", "hist", "early_stopping_rounds",
        (json_int_t)c->early_stopping_rounds, "seed", (json_int_t)c->seed,
        "nthread", (json_int_t)c->nthread);
    if (model && c->inputs)
        json_object_set_new(model, "inputs",
                            json_integer((json_int_t)c->inputs));
    if (model && c->outputs)
        json_object_set_new(model, "outputs",
                            json_integer((json_int_t)c->outputs));
    json_t *o = model ? json_pack("{s:o, s:{s:f}}", "model", model, "training",
                                  "validation_split", c->validation_split)
                      : NULL;
    if (o && st_train_config_has_preprocessing(&c->pp)) {
        json_t *all = st_train_config_to_json(&c->pp);
        json_t *pp = json_object_get(all, "preprocessing");
        if (pp)
            json_object_set(o, "preprocessing", pp);
        json_decref(all);
        if (!pp) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static char *config_dump(const st_gbdt_config *c)
{
    json_t *j = st_gbdt_config_to_json(c);
    char *s = j ? st_json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS |
                                       JSON_REAL_PRECISION(17))
                : NULL;
    json_decref(j);
    return s;
}

uint64_t st_gbdt_secure_bytes(const st_gbdt_config *c, uint64_t rows,
                              uint64_t cols, uint64_t classes,
                              uint64_t valid_rows, uint64_t fixed)
{
    uint64_t per = c->objective == ST_GBDT_MULTI && classes ? classes : 1;
    uint64_t need = fixed;
    /* scaled or gathered copies of the training and validation rows
     * (with their labels) live until XGBoost has copied them */
    if (st_train_config_has_preprocessing(&c->pp) || c->validation_split > 0)
        need += 4 * (rows + valid_rows) * (cols + 1);
    /* the final evaluation's predictions */
    need += 4 * (valid_rows ? valid_rows : rows) * per;
    /* the sealed model twice (the safetensors buffer and the age
     * writer's input), at most ~160 bytes of JSON per node */
    uint64_t depth = c->max_depth < 20 ? c->max_depth : 20;
    need += 2 * (uint64_t)c->rounds * per * ((2ull << depth) - 1) * 160;
    return need;
}

/* ---- XGBoost plumbing ---- */

static void xgb_quiet(const char *msg)
{
    (void)msg; /* XGBoost's messages never reach a log */
}

static ST_MUST_CHECK st_code xgb_fail(st_err *err, const char *what)
{
    const char *why = st_xgb()->XGBGetLastError();
    /* XGBoost's reason names parameters and sizes, never values: we check
     * labels and shapes before it can complain about them */
    return st_err_set(err, ST_E_INTERNAL, "xgboost: %s: %.300s", what,
                      why && *why ? why : "failed");
}

#define XGB(call, what)                                                        \
    do {                                                                       \
        if ((call) != 0)                                                       \
            return xgb_fail(err, what);                                        \
    } while (0)

/* XGBoost loaded (extlib.h) and silenced: the two ways in, st_gbdt_fit
 * and st_gbdt_load_safetensors, call it first; every other function takes
 * the st_gbdt that one of them made. */
static ST_MUST_CHECK st_code xgb_setup(st_err *err)
{
    st_code rc = st_xgb_load(err);
    if (rc != ST_OK)
        return rc;
    /* idempotent; both calls only set process-wide logging */
    st_xgb()->XGBRegisterLogCallback(xgb_quiet);
    st_xgb()->XGBSetGlobalConfig("{\"verbosity\": 0}");
    return ST_OK;
}

static ST_MUST_CHECK st_code dmatrix(const float *x, const float *y,
                                     size_t rows, size_t features, int nthread,
                                     DMatrixHandle *out, st_err *err)
{
    *out = NULL;
    XGB(st_xgb()->XGDMatrixCreateFromMat_omp(
            x, (bst_ulong)rows, (bst_ulong)features, NAN, out, nthread),
        "creating the matrix");
    if (y && st_xgb()->XGDMatrixSetFloatInfo(*out, "label", y,
                                             (bst_ulong)rows) != 0) {
        st_code rc = xgb_fail(err, "setting the labels");
        st_xgb()->XGDMatrixFree(*out);
        *out = NULL;
        return rc;
    }
    return ST_OK;
}

/* A real parameter with every digit (XGBoost reads it as float, as it
 * reads Python's str() of the same double), or an integer one. */
static ST_MUST_CHECK st_code set_param(BoosterHandle h, const char *name,
                                       int integer, double v, st_err *err)
{
    char text[64];
    if (integer)
        snprintf(text, sizeof(text), "%lld", (long long)v);
    else
        snprintf(text, sizeof(text), "%.17g", v);
    XGB(st_xgb()->XGBoosterSetParam(h, name, text), name);
    return ST_OK;
}

/* The parameters, always in this order (it is part of the model bytes). */
static ST_MUST_CHECK st_code set_params(BoosterHandle h, const st_gbdt *g,
                                        st_err *err)
{
    const st_gbdt_config *c = &g->cfg;
    st_code rc;
    XGB(st_xgb()->XGBoosterSetParam(h, "verbosity", "0"), "verbosity");
    XGB(st_xgb()->XGBoosterSetParam(h, "objective",
                                    objective_names[c->objective]),
        "objective");
    if (c->objective == ST_GBDT_MULTI &&
        (rc = set_param(h, "num_class", 1, (double)g->classes, err)))
        return rc;
    XGB(st_xgb()->XGBoosterSetParam(h, "tree_method", "hist"), "tree_method");
    if ((rc = set_param(h, "max_depth", 1, c->max_depth, err)) ||
        (rc = set_param(h, "eta", 0, c->eta, err)) ||
        (rc = set_param(h, "subsample", 0, c->subsample, err)) ||
        (rc = set_param(h, "colsample_bytree", 0, c->colsample, err)) ||
        (rc = set_param(h, "lambda", 0, c->lambda, err)) ||
        (rc = set_param(h, "alpha", 0, c->alpha, err)) ||
        (rc = set_param(h, "min_child_weight", 0, c->min_child_weight, err)) ||
        (rc = set_param(h, "seed", 1, (double)c->seed, err)))
        return rc;
    if (c->nthread > 0 && (rc = set_param(h, "nthread", 1, c->nthread, err)))
        return rc;
    for (int i = 0; i < 2; i++)
        XGB(st_xgb()->XGBoosterSetParam(h, "eval_metric",
                                        eval_metrics[c->objective][i]),
            "eval_metric");
    return ST_OK;
}

/* "NAME-METRIC:VALUE" out of an XGBoosterEvalOneIter line. */
static int eval_value(const char *line, const char *set, const char *metric,
                      double *out)
{
    char key[64];
    snprintf(key, sizeof(key), "\t%s-%s:", set, metric);
    const char *p = strstr(line, key);
    if (!p)
        return 0;
    char *end;
    *out = strtod(p + strlen(key), &end);
    return end != p + strlen(key);
}

/* ---- data ---- */

/* Checks the data's sizes against the objective and fills the configured
 * sizes (x and y are not read). */
st_code st_gbdt_config_resolve_shape(st_gbdt_config *c, const st_train_data *d,
                                     st_err *err)
{
    if (d->features == 0 || d->features > ST_TRAIN_MAX_WIDTH)
        return st_err_set(err, ST_E_INPUT,
                          "training data: %zu features, must be 1 to %d",
                          d->features, ST_TRAIN_MAX_WIDTH);
    if (c->inputs && c->inputs != d->features)
        return st_err_set(err, ST_E_INPUT,
                          "model.inputs: %zu does not match the data's %zu "
                          "features",
                          c->inputs, d->features);
    for (size_t i = 0; i < c->pp.npp_columns; i++)
        if (c->pp.pp_column[i] >= d->features)
            return st_err_set(err, ST_E_INPUT,
                              "preprocessing.columns.%u: the data has %zu "
                              "features",
                              c->pp.pp_column[i], d->features);
    size_t want = 1;
    switch (c->objective) {
    case ST_GBDT_BINARY:
        if (d->targets != 1 || d->classes != 2)
            return st_err_set(err, ST_E_INPUT,
                              "model.objective: binary:logistic needs one "
                              "label column and 2 classes (the data has %zu "
                              "columns, %zu classes)",
                              d->targets, d->classes);
        break;
    case ST_GBDT_MULTI:
        if (d->targets != 1 || d->classes < 2 ||
            d->classes > ST_TRAIN_MAX_CLASSES)
            return st_err_set(err, ST_E_INPUT,
                              "model.objective: multi:softprob needs one "
                              "label column and 2 to %d classes (the data "
                              "has %zu columns, %zu classes)",
                              ST_TRAIN_MAX_CLASSES, d->targets, d->classes);
        want = d->classes;
        break;
    default:
        if (d->targets != 1 || d->classes != 0)
            return st_err_set(err, ST_E_INPUT,
                              "model.objective: reg:squarederror needs one "
                              "regression target and no classes (the data "
                              "has %zu targets, %zu classes)",
                              d->targets, d->classes);
        break;
    }
    if (c->outputs && c->outputs != want)
        return st_err_set(err, ST_E_INPUT,
                          "model.outputs: %zu does not match the data's %zu",
                          c->outputs, want);
    c->inputs = d->features;
    c->outputs = want;
    return ST_OK;
}

/* Checks the data against the objective and fills g->classes and the
 * configured sizes. */
static ST_MUST_CHECK st_code resolve(st_gbdt *g, const st_train_data *d,
                                     st_err *err)
{
    if (!d || !d->x || !d->y || d->rows == 0)
        return st_err_set(err, ST_E_USAGE, "training data: no rows");
    st_code rc = st_gbdt_config_resolve_shape(&g->cfg, d, err);
    if (rc == ST_OK)
        g->classes = g->cfg.objective == ST_GBDT_REGRESSION ? 0 : d->classes;
    return rc;
}

/* Labels in range, features and targets finite. No value is named. */
static ST_MUST_CHECK st_code check_rows(const st_gbdt *g,
                                        const st_train_data *d,
                                        const char *what, st_err *err)
{
    if (d->features != g->cfg.inputs || d->targets != 1 ||
        d->classes != g->classes)
        return st_err_set(err, ST_E_INPUT,
                          "%s: %zu features, %zu classes; the training data "
                          "has %zu, %zu",
                          what, d->features, d->classes, g->cfg.inputs,
                          g->classes);
    for (size_t i = 0; i < d->rows; i++) {
        float y = d->y[i];
        if (!isfinite(y) ||
            (g->classes && (y < 0 || y >= (float)g->classes || y != floorf(y))))
            return st_err_set(err, ST_E_INPUT,
                              "%s: row %zu, the label is not %s", what, i,
                              g->classes ? "a class index" : "finite");
    }
    for (size_t i = 0; i < d->rows * d->features; i++)
        if (!isfinite(d->x[i]))
            return st_err_set(err, ST_E_INPUT,
                              "%s: row %zu has a value that is not finite",
                              what, i / d->features);
    return ST_OK;
}

/* Rows idx[0..n) (or the first n) of d, scaled when g has preprocessing,
 * into secure memory; *x is d->x itself when nothing changes. */
static ST_MUST_CHECK st_code gather(const st_gbdt *g, const st_train_data *d,
                                    const size_t *idx, size_t n,
                                    const float **x, float **xs, float **ys,
                                    st_err *err)
{
    size_t f = d->features;
    *xs = *ys = NULL;
    if (!idx && !g->pp_shift) {
        *x = d->x;
        return ST_OK;
    }
    *xs = st_secmem_alloc(n * f * sizeof(float), err);
    *ys = idx ? st_secmem_alloc(n * sizeof(float), err) : NULL;
    if (!*xs || (idx && !*ys)) {
        st_secmem_free(*xs);
        st_secmem_free(*ys);
        *xs = *ys = NULL;
        return st_err_prefix(err, "gbdt rows");
    }
    for (size_t i = 0; i < n; i++) {
        size_t r = idx ? idx[i] : i;
        float *o = *xs + i * f;
        const float *in = d->x + r * f;
        for (size_t j = 0; j < f; j++)
            o[j] =
                g->pp_shift ? (in[j] - g->pp_shift[j]) * g->pp_scale[j] : in[j];
        if (idx)
            (*ys)[i] = d->y[r];
    }
    *x = *xs;
    return ST_OK;
}

static void free_rows(float *xs, float *ys)
{
    st_secmem_free(xs);
    st_secmem_free(ys);
}

/* ---- metrics ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void metrics_clear(st_train_metrics *m)
{
    memset(m, 0, sizeof(*m));
    m->train_loss = m->train_accuracy = NAN;
    m->loss = m->accuracy = m->macro_f1 = NAN;
    m->mse = m->mae = m->r2 = NAN;
    m->samples_per_second = m->seconds = NAN;
    m->best_metric = NAN;
}

/* The figures of `pred` (st_gbdt_predict's layout) against d's labels. */
static ST_MUST_CHECK st_code score(st_gbdt *g, const st_train_data *d,
                                   const float *pred, st_train_metrics *m,
                                   st_err *err)
{
    size_t k = g->classes, n = d->rows;
    metrics_clear(m);
    m->classes = k;
    if (!k) {
        double sum = 0, sq = 0, sse = 0, sae = 0;
        for (size_t i = 0; i < n; i++) {
            double y = d->y[i], e = (double)pred[i] - y;
            sum += y;
            sq += y * y;
            sse += e * e;
            sae += fabs(e);
        }
        double sst = sq - sum * sum / (double)n;
        m->mse = m->loss = sse / (double)n;
        m->mae = sae / (double)n;
        m->r2 = sst > 0.0 ? 1.0 - sse / sst : (sse == 0.0 ? 1.0 : 0.0);
        return ST_OK;
    }
    if (!g->confusion) {
        g->confusion = calloc(k * k, sizeof(uint64_t));
        if (!g->confusion)
            return st_err_set(err, ST_E_IO, "out of memory");
    }
    memset(g->confusion, 0, k * k * sizeof(uint64_t));
    const double eps = 1e-16; /* as XGBoost's logloss */
    double loss = 0;
    uint64_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t y = (size_t)d->y[i], p;
        double py;
        if (g->cfg.objective == ST_GBDT_BINARY) {
            double q = pred[i];
            p = q > 0.5 ? 1 : 0; /* XGBoost's "error" threshold */
            py = y ? q : 1.0 - q;
        } else {
            const float *r = pred + i * k;
            p = 0;
            for (size_t j = 1; j < k; j++)
                if (r[j] > r[p])
                    p = j;
            py = r[y];
        }
        loss -= log(py < eps ? eps : py > 1.0 - eps ? 1.0 - eps : py);
        correct += p == y;
        g->confusion[y * k + p]++;
    }
    m->loss = loss / (double)n;
    m->accuracy = (double)correct / (double)n;
    double f1 = 0.0;
    for (size_t i = 0; i < k; i++) {
        uint64_t tp = g->confusion[i * k + i], fp = 0, fn = 0;
        for (size_t j = 0; j < k; j++)
            if (j != i) {
                fp += g->confusion[j * k + i];
                fn += g->confusion[i * k + j];
            }
        uint64_t den = 2 * tp + fp + fn; /* none seen nor predicted: 0 */
        f1 += den ? 2.0 * (double)tp / (double)den : 0.0;
    }
    m->macro_f1 = f1 / (double)k;
    m->confusion = g->confusion;
    return ST_OK;
}

/* One round's figures from XGBoost's own evaluation line. */
static void round_metrics(const st_gbdt *g, const char *line, int has_valid,
                          st_train_metrics *m)
{
    const char *const *em = eval_metrics[g->cfg.objective];
    const char *set = has_valid ? "valid" : "train";
    double a, b;
    m->has_validation = has_valid;
    m->classes = g->classes;
    if (g->cfg.objective == ST_GBDT_REGRESSION) {
        if (eval_value(line, "train", "rmse", &b))
            m->train_loss = b * b;
        if (eval_value(line, set, "rmse", &b))
            m->loss = m->mse = b * b;
        if (eval_value(line, set, "mae", &a))
            m->mae = a;
        return;
    }
    if (eval_value(line, "train", em[1], &b))
        m->train_loss = b;
    if (eval_value(line, "train", em[0], &a))
        m->train_accuracy = 1.0 - a;
    if (eval_value(line, set, em[1], &b))
        m->loss = b;
    if (eval_value(line, set, em[0], &a))
        m->accuracy = 1.0 - a;
}

/* ---- training ---- */

static ST_MUST_CHECK st_code predict_dmatrix(st_gbdt *g, DMatrixHandle dm,
                                             size_t rows, float *out,
                                             st_err *err)
{
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    static const char conf[] =
        "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
        "\"iteration_end\": 0, \"strict_shape\": false}";
    XGB(st_xgb()->XGBoosterPredictFromDMatrix(g->h, dm, conf, &shape, &dim,
                                              &res),
        "predicting");
    size_t per = g->cfg.objective == ST_GBDT_MULTI ? g->classes : 1;
    bst_ulong total = 1;
    for (bst_ulong i = 0; i < dim; i++)
        total *= shape[i];
    if (total != rows * per)
        return st_err_set(err, ST_E_INTERNAL,
                          "xgboost: %llu outputs for %zu rows of %zu",
                          (unsigned long long)total, rows, per);
    memcpy(out, res, rows * per * sizeof(float));
    return ST_OK;
}

/* g->final from the predictions on `dm` (n rows, labels y). */
static ST_MUST_CHECK st_code final_evaluation(st_gbdt *g, DMatrixHandle dm,
                                              const float *y, size_t n,
                                              st_err *err)
{
    size_t per = g->cfg.objective == ST_GBDT_MULTI ? g->classes : 1;
    float *pred = st_secmem_alloc(n * per * sizeof(float), err);
    if (!pred)
        return st_err_prefix(err, "predictions");
    st_train_data d = {NULL, y, n, g->cfg.inputs, 1, g->classes};
    st_code rc = predict_dmatrix(g, dm, n, pred, err);
    if (rc == ST_OK)
        rc = score(g, &d, pred, &g->final, err);
    st_secmem_free(pred);
    if (rc == ST_OK) {
        /* its own confusion buffer: st_gbdt_evaluate reuses g->confusion */
        g->final_confusion = g->confusion;
        g->confusion = NULL;
        g->final.confusion = g->final_confusion;
        g->final.epoch = g->final.epochs = g->rounds;
        g->final.has_validation = 1;
    }
    return rc;
}

static ST_MUST_CHECK st_code fit_pp(st_gbdt *g, const st_train_data *d,
                                    const size_t *idx, size_t n, st_err *err)
{
    if (!st_train_config_has_preprocessing(&g->cfg.pp))
        return ST_OK;
    size_t f = g->cfg.inputs;
    g->pp_shift = st_secmem_alloc(f * sizeof(float), err);
    g->pp_scale = st_secmem_alloc(f * sizeof(float), err);
    if (!g->pp_shift || !g->pp_scale)
        return st_err_prefix(err, "preprocessing");
    st_pp_fit_columns(&g->cfg.pp, d->x, f, idx, n, g->pp_shift, g->pp_scale);
    return ST_OK;
}

/* The held-out split of a training set without a validation dataset:
 * a seeded permutation, the first n - nval rows train, the rest hold
 * out. *idx NULL: no split. */
static ST_MUST_CHECK st_code make_split(const st_gbdt *g, size_t n,
                                        size_t **idx, size_t *nval, st_err *err)
{
    *idx = NULL;
    *nval = 0;
    if (g->cfg.validation_split <= 0.0)
        return ST_OK;
    size_t v = (size_t)floor(g->cfg.validation_split * (double)n);
    if (v == 0 || v >= n)
        return st_err_set(err, ST_E_INPUT,
                          "training.validation_split: %g of %zu rows leaves "
                          "no %s rows",
                          g->cfg.validation_split, n,
                          v == 0 ? "validation" : "training");
    size_t *p = malloc(n * sizeof(size_t)); /* row numbers, not rows */
    if (!p)
        return st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; i < n; i++)
        p[i] = i;
    st_rng r;
    st_rng_seed(&r, g->cfg.seed ^ SPLIT_STREAM);
    st_rng_shuffle(&r, p, n);
    *idx = p;
    *nval = v;
    return ST_OK;
}

struct fit_state {
    DMatrixHandle dm[2];
    const char *names[2];
    size_t nsets;
};

/* XGBoost's evaluation line of the sets [from, from + n) for round i,
 * appended to out (cap bytes). */
static ST_MUST_CHECK st_code eval_sets(const st_gbdt *g, struct fit_state *fs,
                                       unsigned i, size_t from, size_t n,
                                       char *out, size_t cap, st_err *err)
{
    const char *line = NULL;
    XGB(st_xgb()->XGBoosterEvalOneIter(g->h, (int)i, fs->dm + from,
                                       fs->names + from, (bst_ulong)n, &line),
        "evaluation");
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s", line ? line : "");
    return ST_OK;
}

/* Rounds between two evaluations of the training rows: ~10 per run. On
 * 1,000,000 rows XGBoost's evaluation costs ~7% of a round's CPU, so
 * every round would cost the run as much; the validation set (early
 * stopping's) is evaluated every round. */
static unsigned train_eval_every(unsigned rounds)
{
    return rounds > 10 ? (rounds + 9) / 10 : 1;
}

static ST_MUST_CHECK st_code rounds_loop(st_gbdt *g, struct fit_state *fs,
                                         size_t ntrain, st_train_callback cb,
                                         void *user, st_err *err)
{
    const st_gbdt_config *c = &g->cfg;
    int has_valid = fs->nsets > 1;
    double best = INFINITY;
    unsigned best_round = 0, bad = 0, done = 0;
    unsigned every = train_eval_every(c->rounds);
    int stopped = 0;
    st_code rc;
    for (unsigned i = 0; i < c->rounds && !stopped; i++) {
        double t0 = now_s();
        XGB(st_xgb()->XGBoosterUpdateOneIter(g->h, (int)i, fs->dm[0]),
            "training");
        char line[512] = "";
        if (has_valid &&
            (rc = eval_sets(g, fs, i, 1, 1, line, sizeof(line), err)))
            return rc;
        done = i + 1;
        st_train_metrics m;
        metrics_clear(&m);
        m.epoch = i + 1;
        m.epochs = c->rounds;
        m.learning_rate = c->eta;
        if (c->early_stopping_rounds && has_valid) {
            /* XGBoost's EarlyStopping: the last metric on the last set,
             * improved only when strictly lower, stop after `rounds`
             * rounds without improvement */
            double v;
            if (!eval_value(line, "valid", eval_metrics[c->objective][1], &v))
                return st_err_set(err, ST_E_INTERNAL,
                                  "xgboost: no validation metric in round "
                                  "%u",
                                  i + 1);
            if (i == 0 || best > v) {
                best = v;
                best_round = i;
                bad = 0;
                m.improved = 1;
            } else if (++bad >= c->early_stopping_rounds)
                stopped = 1;
            m.best_epoch = best_round + 1;
            m.best_metric = best;
            m.stopped = stopped;
        }
        /* the training rows: every `every` rounds, the first and the
         * last (without a validation set they are the evaluation block) */
        if ((i == 0 || (i + 1) % every == 0 || stopped || i + 1 == c->rounds) &&
            (rc = eval_sets(g, fs, i, 0, 1, line, sizeof(line), err)))
            return rc;
        round_metrics(g, line, has_valid, &m);
        m.seconds = now_s() - t0;
        m.samples_per_second = m.seconds > 0 ? (double)ntrain / m.seconds : NAN;
        if (cb && cb(&m, user))
            return st_err_set(err, ST_E_CANCELLED, "cancelled");
    }
    g->rounds = done;
    if (c->early_stopping_rounds && has_valid && best_round + 1 < done) {
        /* keep the best round's trees, as EarlyStopping(save_best=True) */
        BoosterHandle kept = NULL;
        XGB(st_xgb()->XGBoosterSlice(g->h, 0, (int)best_round + 1, 1, &kept),
            "keeping the best round");
        st_xgb()->XGBoosterFree(g->h);
        g->h = kept;
        g->rounds = best_round + 1;
    }
    return ST_OK;
}

st_code st_gbdt_fit(const st_gbdt_config *cfg, const st_train_data *train,
                    const st_train_data *valid, st_train_callback cb,
                    void *user, st_gbdt **out, st_err *err)
{
    *out = NULL;
    st_code rc = xgb_setup(err);
    if (rc != ST_OK)
        return rc;
    st_gbdt *g = calloc(1, sizeof(*g));
    if (!g)
        return st_err_set(err, ST_E_IO, "out of memory");
    g->cfg = *cfg;
    struct fit_state fs = {{NULL, NULL}, {"train", "valid"}, 1};
    size_t *idx = NULL, nval = 0;
    float *xs[2] = {NULL, NULL}, *ys[2] = {NULL, NULL};
    rc = resolve(g, train, err);
    if (rc == ST_OK)
        rc = check_rows(g, train, "training data", err);
    if (rc == ST_OK && valid)
        rc = check_rows(g, valid, "validation data", err);
    if (rc == ST_OK && !valid)
        rc = make_split(g, train->rows, &idx, &nval, err);
    if (rc == ST_OK && cfg->early_stopping_rounds && !valid && !nval)
        rc = st_err_set(err, ST_E_INPUT,
                        "model.early_stopping_rounds: needs a validation "
                        "set (datasets.validation or "
                        "training.validation_split)");
    size_t ntrain = train->rows - nval;
    if (rc == ST_OK)
        rc = fit_pp(g, train, idx, ntrain, err);
    const float *x = NULL;
    if (rc == ST_OK)
        rc = gather(g, train, idx, ntrain, &x, &xs[0], &ys[0], err);
    if (rc == ST_OK)
        rc = dmatrix(x, ys[0] ? ys[0] : train->y, ntrain, g->cfg.inputs,
                     cfg->nthread, &fs.dm[0], err);
    free_rows(xs[0], NULL); /* XGBoost holds its own copy now */
    xs[0] = NULL;
    const st_train_data *vd = valid ? valid : nval ? train : NULL;
    if (rc == ST_OK && vd) {
        size_t vn = valid ? valid->rows : nval;
        rc = gather(g, vd, idx ? idx + ntrain : NULL, vn, &x, &xs[1], &ys[1],
                    err);
        if (rc == ST_OK)
            rc = dmatrix(x, ys[1] ? ys[1] : vd->y, vn, g->cfg.inputs,
                         cfg->nthread, &fs.dm[1], err);
        free_rows(xs[1], NULL);
        xs[1] = NULL;
        fs.nsets = 2;
    }
    free(idx);
    if (rc == ST_OK && st_xgb()->XGBoosterCreate(fs.dm, fs.nsets, &g->h) != 0)
        rc = xgb_fail(err, "creating the booster");
    if (rc == ST_OK)
        rc = set_params(g->h, g, err);
    if (rc == ST_OK)
        rc = rounds_loop(g, &fs, ntrain, cb, user, err);
    if (rc == ST_OK) {
        /* the final evaluation on the matrices XGBoost has: its
         * prediction cache makes this nearly free unless early stopping
         * cut trees off */
        int v = fs.nsets > 1;
        const float *y =
            v ? (ys[1] ? ys[1] : vd->y) : (ys[0] ? ys[0] : train->y);
        size_t n = v ? (valid ? valid->rows : nval) : ntrain;
        rc = final_evaluation(g, fs.dm[v], y, n, err);
    }
    free_rows(ys[0], ys[1]);
    for (size_t i = 0; i < 2; i++)
        if (fs.dm[i])
            st_xgb()->XGDMatrixFree(fs.dm[i]);
    if (rc != ST_OK) {
        st_gbdt_free(g);
        return rc;
    }
    *out = g;
    return ST_OK;
}

void st_gbdt_free(st_gbdt *g)
{
    if (!g)
        return;
    if (g->h)
        st_xgb()->XGBoosterFree(g->h);
    st_secmem_free(g->pp_shift);
    st_secmem_free(g->pp_scale);
    free(g->confusion);
    free(g->final_confusion);
    free(g);
}

unsigned st_gbdt_rounds(const st_gbdt *g)
{
    return g->rounds;
}

size_t st_gbdt_features(const st_gbdt *g)
{
    return g->cfg.inputs;
}

size_t st_gbdt_classes(const st_gbdt *g)
{
    return g->classes;
}

/* ---- predictions ---- */

/* In-place prediction (XGBoosterPredictFromDense): XGBoost reads the
 * rows where they are, in secure memory, through an __array_interface__,
 * instead of copying them into a DMatrix of its own (ordinary memory):
 * faster, and one copy of the data fewer outside secure memory. */
st_code st_gbdt_predict(st_gbdt *g, const float *x, size_t rows, float *out,
                        st_err *err)
{
    if (rows == 0)
        return ST_OK;
    st_train_data d = {x, NULL, rows, g->cfg.inputs, 1, g->classes};
    const float *in = NULL;
    float *xs = NULL, *ys = NULL;
    st_code rc = gather(g, &d, NULL, rows, &in, &xs, &ys, err);
    if (rc != ST_OK)
        return rc;
    char ai[256];
    snprintf(ai, sizeof(ai),
             "{\"data\": [%llu, true], \"shape\": [%zu, %zu], "
             "\"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)in, rows, g->cfg.inputs);
    static const char conf[] =
        "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
        "\"iteration_end\": 0, \"strict_shape\": false, \"cache_id\": 0, "
        "\"missing\": NaN}";
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    if (st_xgb()->XGBoosterPredictFromDense(g->h, ai, conf, NULL, &shape, &dim,
                                            &res))
        rc = xgb_fail(err, "predicting");
    size_t per = g->cfg.objective == ST_GBDT_MULTI ? g->classes : 1;
    bst_ulong total = 1;
    for (bst_ulong i = 0; rc == ST_OK && i < dim; i++)
        total *= shape[i];
    if (rc == ST_OK && total != rows * per)
        rc = st_err_set(err, ST_E_INTERNAL,
                        "xgboost: %llu outputs for %zu rows of %zu",
                        (unsigned long long)total, rows, per);
    if (rc == ST_OK)
        memcpy(out, res, rows * per * sizeof(float));
    free_rows(xs, ys);
    return rc;
}

st_code st_gbdt_evaluate(st_gbdt *g, const st_train_data *d,
                         st_train_metrics *m, st_err *err)
{
    st_code rc = check_rows(g, d, "evaluation data", err);
    if (rc != ST_OK)
        return rc;
    size_t per = g->cfg.objective == ST_GBDT_MULTI ? g->classes : 1;
    float *pred = st_secmem_alloc(d->rows * per * sizeof(float), err);
    if (!pred)
        return st_err_prefix(err, "predictions");
    rc = st_gbdt_predict(g, d->x, d->rows, pred, err);
    if (rc == ST_OK)
        rc = score(g, d, pred, m, err);
    st_secmem_free(pred);
    if (rc == ST_OK) {
        m->epoch = m->epochs = g->rounds;
        m->has_validation = 1;
    }
    return rc;
}

const st_train_metrics *st_gbdt_final(const st_gbdt *g)
{
    return &g->final;
}

st_code st_gbdt_evaluate_holdout(st_gbdt *g, const st_train_data *train,
                                 st_train_metrics *m, st_err *err)
{
    size_t *idx = NULL, nval = 0;
    st_code rc = make_split(g, train->rows, &idx, &nval, err);
    if (rc != ST_OK)
        return rc;
    if (!idx)
        return st_err_set(err, ST_E_USAGE, "no held-out split configured");
    size_t f = train->features, ntrain = train->rows - nval;
    float *xs = st_secmem_alloc(nval * f * sizeof(float), err);
    float *ys = st_secmem_alloc(nval * sizeof(float), err);
    if (!xs || !ys)
        rc = st_err_prefix(err, "held-out rows");
    for (size_t i = 0; rc == ST_OK && i < nval; i++) {
        memcpy(xs + i * f, train->x + idx[ntrain + i] * f, f * sizeof(float));
        ys[i] = train->y[idx[ntrain + i]];
    }
    free(idx);
    st_train_data d = {xs, ys, nval, f, 1, train->classes};
    if (rc == ST_OK)
        rc = st_gbdt_evaluate(g, &d, m, err);
    free_rows(xs, ys);
    return rc;
}

/* {"type": "gain", "values": [one per feature]} */
static json_t *all_values(const double *v, const st_gbdt *g)
{
    json_t *a = json_array();
    for (size_t j = 0; a && j < g->cfg.inputs; j++)
        json_array_append_new(a, json_real(v[j]));
    return a ? json_pack("{s:s, s:o}", "type", "gain", "values", a) : NULL;
}

/* {"type": "gain", "features": F, "top": [[index, gain], ...]}: the
 * ST_GBDT_IMPORTANCE_TOP largest, so that the job's result stays small
 * whatever the width of the data. */
static json_t *top_values(const double *v, const st_gbdt *g)
{
    size_t k = 0, keep[ST_GBDT_IMPORTANCE_TOP];
    for (size_t j = 0; j < g->cfg.inputs; j++) {
        size_t at;
        if (!(v[j] > 0))
            continue;
        if (k < ST_GBDT_IMPORTANCE_TOP)
            at = k++;
        else if (v[j] > v[keep[k - 1]])
            at = k - 1; /* the smallest kept one goes */
        else
            continue;
        /* insertion into the kept list, largest first */
        while (at > 0 && v[keep[at - 1]] < v[j]) {
            keep[at] = keep[at - 1];
            at--;
        }
        keep[at] = j;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < k; i++)
        json_array_append_new(
            a, json_pack("[I, f]", (json_int_t)keep[i], v[keep[i]]));
    return a ? json_pack("{s:s, s:I, s:o}", "type", "gain", "features",
                         (json_int_t)g->cfg.inputs, "top", a)
             : NULL;
}

json_t *st_gbdt_importance(st_gbdt *g, st_err *err)
{
    bst_ulong n = 0, dim = 0;
    const char **names = NULL;
    const bst_ulong *shape = NULL;
    const float *scores = NULL;
    if (st_xgb()->XGBoosterFeatureScore(g->h, "{\"importance_type\": \"gain\"}",
                                        &n, &names, &dim, &shape,
                                        &scores) != 0) {
        st_discard(xgb_fail(err, "feature importance"));
        return NULL;
    }
    double *v = calloc(g->cfg.inputs, sizeof(double));
    if (!v) {
        st_err_set(err, ST_E_IO, "out of memory");
        return NULL;
    }
    for (bst_ulong i = 0; i < n; i++) {
        /* without feature names XGBoost calls feature j "fj" */
        char *end;
        unsigned long j = names[i][0] == 'f' ? strtoul(names[i] + 1, &end, 10)
                                             : g->cfg.inputs;
        if (j < g->cfg.inputs)
            v[j] = scores[i];
    }
    json_t *o = g->cfg.inputs <= ST_GBDT_IMPORTANCE_ALL ? all_values(v, g)
                                                        : top_values(v, g);
    free(v);
    if (!o)
        st_err_set(err, ST_E_IO, "out of memory");
    return o;
}

/* ---- the sealed layout ---- */

st_code st_gbdt_save_safetensors(const st_gbdt *g, const json_t *metadata,
                                 st_secret **out, st_err *err)
{
    *out = NULL;
    bst_ulong mlen = 0;
    const char *model = NULL;
    XGB(st_xgb()->XGBoosterSaveModelToBuffer(g->h, "{\"format\": \"json\"}",
                                             &mlen, &model),
        "saving the model");
    json_t *hdr = json_object(), *meta = json_object();
    char *cfg = config_dump(&g->cfg), *text = NULL;
    st_code rc = ST_OK;
    if (!hdr || !meta || !cfg) {
        rc = st_err_set(err, ST_E_IO, "safetensors: out of memory");
        goto done;
    }
    if (metadata)
        json_object_update(meta, (json_t *)metadata);
    json_object_set_new(meta, "format", json_string("xgboost"));
    json_object_set_new(meta, "sealtrain.model_type", json_string("gbdt"));
    json_object_set_new(meta, "sealtrain.config", json_string(cfg));
    json_object_set(hdr, "__metadata__", meta);
    /* the F32 tensors first, so that they are 4-byte aligned */
    uint64_t at = 0, fb = g->cfg.inputs * sizeof(float);
    int pp = g->pp_shift != NULL;
    for (int i = 0; pp && i < 2; i++, at += fb)
        json_object_set_new(
            hdr, i ? "preprocessing.scale" : "preprocessing.shift",
            json_pack("{s:s, s:[I], s:[I, I]}", "dtype", "F32", "shape",
                      (json_int_t)g->cfg.inputs, "data_offsets", (json_int_t)at,
                      (json_int_t)(at + fb)));
    json_object_set_new(hdr, "xgboost.model",
                        json_pack("{s:s, s:[I], s:[I, I]}", "dtype", "U8",
                                  "shape", (json_int_t)mlen, "data_offsets",
                                  (json_int_t)at, (json_int_t)(at + mlen)));
    text = st_json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        rc = st_err_set(err, ST_E_IO, "safetensors: out of memory");
        goto done;
    }
    size_t hl = strlen(text), padded = (hl + 7) / 8 * 8;
    st_secret *s = st_secret_new(8 + padded + at + mlen, err);
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
    if (pp) {
        memcpy(p, g->pp_shift, fb);
        memcpy(p + fb, g->pp_scale, fb);
        p += 2 * fb;
    }
    memcpy(p, model, mlen);
    *out = s;
done:
    free(text);
    free(cfg);
    json_decref(meta);
    json_decref(hdr);
    return rc;
}

static ST_MUST_CHECK st_code load_pp(st_gbdt *g, const st_safetensors *sf,
                                     st_err *err)
{
    const st_safetensor *sh = st_safetensors_find(sf, "preprocessing.shift");
    const st_safetensor *sc = st_safetensors_find(sf, "preprocessing.scale");
    int want = st_train_config_has_preprocessing(&g->cfg.pp);
    size_t f = g->cfg.inputs;
    if (!want && !sh && !sc)
        return sf->count == 1 ? ST_OK
                              : st_err_set(err, ST_E_INPUT,
                                           "gbdt model: unexpected tensors");
    if (!want || !sh || !sc || sf->count != 3)
        return st_err_set(err, ST_E_INPUT,
                          "gbdt model: the preprocessing tensors do not "
                          "match the configuration");
    const st_safetensor *t[2] = {sh, sc};
    for (int i = 0; i < 2; i++)
        if (t[i]->dtype != ST_DTYPE_F32 || t[i]->ndim != 1 ||
            t[i]->shape[0] != f)
            return st_err_set(err, ST_E_INPUT,
                              "gbdt model: %s is not F32 [%zu]", t[i]->name, f);
    g->pp_shift = st_secmem_alloc(f * sizeof(float), err);
    g->pp_scale = st_secmem_alloc(f * sizeof(float), err);
    if (!g->pp_shift || !g->pp_scale)
        return st_err_prefix(err, "preprocessing");
    memcpy(g->pp_shift, sh->data, f * sizeof(float));
    memcpy(g->pp_scale, sc->data, f * sizeof(float));
    return ST_OK;
}

st_code st_gbdt_load_safetensors(const uint8_t *buf, size_t len, st_gbdt **out,
                                 st_err *err)
{
    *out = NULL;
    st_code rc = xgb_setup(err);
    if (rc != ST_OK)
        return rc;
    st_safetensors *sf = NULL;
    rc = st_safetensors_parse(buf, len, &sf, err);
    if (rc != ST_OK)
        return st_err_prefix(err, "gbdt model");
    st_gbdt *g = calloc(1, sizeof(*g));
    const char *type = json_string_value(
        json_object_get(sf->metadata, "sealtrain.model_type"));
    const char *text =
        json_string_value(json_object_get(sf->metadata, "sealtrain.config"));
    json_t *cj = NULL;
    if (!g)
        rc = st_err_set(err, ST_E_IO, "out of memory");
    else if (!type || strcmp(type, "gbdt") != 0 || !text)
        rc = st_err_set(err, ST_E_INPUT,
                        "gbdt model: the metadata does not say "
                        "sealtrain.model_type gbdt with its configuration");
    else if (!(cj = st_json_parse(text, strlen(text), "sealtrain.config", err)))
        rc = err ? err->code : ST_E_INPUT;
    if (rc == ST_OK)
        rc = st_gbdt_config_from_json(
            json_object_get(cj, "model"), json_object_get(cj, "training"),
            json_object_get(cj, "preprocessing"), &g->cfg, err);
    json_decref(cj);
    if (rc == ST_OK && (!g->cfg.inputs || !g->cfg.outputs))
        rc = st_err_set(err, ST_E_INPUT,
                        "gbdt model: the configuration does not say the "
                        "input and output sizes");
    const st_safetensor *m =
        rc == ST_OK ? st_safetensors_find(sf, "xgboost.model") : NULL;
    if (rc == ST_OK && (!m || m->dtype != ST_DTYPE_U8 || m->ndim != 1))
        rc = st_err_set(err, ST_E_INPUT,
                        "gbdt model: no U8 tensor \"xgboost.model\"");
    if (rc == ST_OK)
        rc = load_pp(g, sf, err);
    if (rc == ST_OK) {
        g->classes = g->cfg.objective == ST_GBDT_MULTI    ? g->cfg.outputs
                     : g->cfg.objective == ST_GBDT_BINARY ? 2
                                                          : 0;
        if (st_xgb()->XGBoosterCreate(NULL, 0, &g->h) != 0)
            rc = xgb_fail(err, "creating the booster");
        else if (st_xgb()->XGBoosterLoadModelFromBuffer(
                     g->h, m->data, (bst_ulong)m->nbytes) != 0)
            rc = xgb_fail(err, "loading the model");
    }
    bst_ulong nf = 0;
    if (rc == ST_OK && st_xgb()->XGBoosterGetNumFeature(g->h, &nf) != 0)
        rc = xgb_fail(err, "reading the model");
    if (rc == ST_OK && nf != g->cfg.inputs)
        rc = st_err_set(err, ST_E_INPUT,
                        "gbdt model: %llu features, the configuration says "
                        "%zu",
                        (unsigned long long)nf, g->cfg.inputs);
    int rounds = 0;
    if (rc == ST_OK && st_xgb()->XGBoosterBoostedRounds(g->h, &rounds) != 0)
        rc = xgb_fail(err, "reading the model");
    if (rc == ST_OK)
        g->rounds = (unsigned)rounds;
    st_safetensors_free(sf);
    if (rc != ST_OK) {
        st_gbdt_free(g);
        return rc;
    }
    *out = g;
    return ST_OK;
}
