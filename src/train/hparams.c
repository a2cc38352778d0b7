/*
 * hparams.c: the "model" and "training" sections of a job spec, strictly.
 *
 * Owns the mapping between JSON and st_train_config, and the checks that a
 * configuration is meaningful on its own (ranges, combinations) and for a
 * given dataset (st_train_config_resolve). Every error names the key path,
 * e.g. "training.schedule.gamma" or "model.hidden[2]". Unknown keys are
 * errors: a typo must not silently train something else. The section is
 * documented in docs/training.md; keep both in step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/json.h"
#include "train/gbdt.h"
#include "train/train_internal.h"

void st_train_config_default(st_train_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->model = ST_MODEL_LOGISTIC;
    cfg->activation = ST_ACT_RELU;
    cfg->loss = ST_LOSS_SOFTMAX_CE;
    cfg->init = ST_INIT_AUTO;
    cfg->optimizer = ST_OPT_ADAM;
    cfg->learning_rate = 1e-3;
    cfg->momentum = 0.0;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->epsilon = 1e-8;
    cfg->schedule = ST_SCHED_CONSTANT;
    cfg->step_epochs = 10;
    cfg->gamma = 0.1;
    cfg->batch_size = 64;
    cfg->epochs = 10;
    cfg->early_stop_metric = ST_METRIC_LOSS;
    cfg->restore_best = 1;
}

/* Name tables: index = enum value. */
static const char *const model_names[] = {"linear", "logistic", "mlp", NULL};
static const char *const act_names[] = {"relu", "tanh", "gelu", "sigmoid",
                                        NULL};
static const char *const loss_names[] = {"softmax_cross_entropy",
                                         "binary_cross_entropy", "mse", NULL};
static const char *const init_names[] = {"auto", "he", "xavier", NULL};
static const char *const opt_names[] = {"sgd", "adam", "adamw", NULL};
static const char *const sched_names[] = {"constant", "step", "cosine", NULL};
static const char *const metric_names[] = {
    "val_loss", "val_accuracy", "val_f1", "val_mse", "val_mae", "val_r2", NULL};
static const char *const scale_names[] = {"none", "standardize", "minmax",
                                          NULL};

static ST_MUST_CHECK st_code get_enum(const json_t *obj, const char *key,
                                      const char *const *names, int *out,
                                      const char *where, st_err *err)
{
    const char *s = NULL;
    st_code rc = st_json_get_string(obj, key, 0, &s, where, err);
    if (rc != ST_OK || !s)
        return rc;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return ST_OK;
        }
    char list[256] = "";
    for (int i = 0; names[i]; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
    }
    return st_err_set(err, ST_E_INPUT,
                      "%s.%s: unknown value \"%s\" (one of %s)", where, key, s,
                      list);
}

static ST_MUST_CHECK st_code get_size(const json_t *obj, const char *key,
                                      long long min, long long max, size_t *out,
                                      const char *where, st_err *err)
{
    long long v = (long long)*out;
    st_code rc = st_json_get_int(obj, key, 0, min, max, &v, where, err);
    if (rc == ST_OK)
        *out = (size_t)v;
    return rc;
}

static ST_MUST_CHECK st_code get_unsigned(const json_t *obj, const char *key,
                                          long long min, long long max,
                                          unsigned *out, const char *where,
                                          st_err *err)
{
    long long v = (long long)*out;
    st_code rc = st_json_get_int(obj, key, 0, min, max, &v, where, err);
    if (rc == ST_OK)
        *out = (unsigned)v;
    return rc;
}

static ST_MUST_CHECK st_code parse_model(const json_t *m, st_train_config *c,
                                         int *loss_set, st_err *err)
{
    static const char *const keys[] = {"type",   "inputs",     "outputs",
                                       "hidden", "activation", "dropout",
                                       "loss",   "init",       NULL};
    st_code rc;
    int v;
    if ((rc = st_json_check_keys(m, keys, "model", err)))
        return rc;
    v = (int)c->model;
    if ((rc = get_enum(m, "type", model_names, &v, "model", err)))
        return rc;
    c->model = (st_train_model)v;
    if ((rc = get_size(m, "inputs", 1, ST_TRAIN_MAX_WIDTH, &c->inputs, "model",
                       err)) ||
        (rc = get_size(m, "outputs", 1, ST_TRAIN_MAX_WIDTH, &c->outputs,
                       "model", err)))
        return rc;
    const json_t *hidden = json_object_get(m, "hidden");
    if (hidden) {
        if (!json_is_array(hidden))
            return st_err_set(err, ST_E_INPUT,
                              "model.hidden: must be an array of layer sizes");
        if (json_array_size(hidden) > ST_TRAIN_MAX_HIDDEN)
            return st_err_set(err, ST_E_INPUT,
                              "model.hidden: %zu layers, at most %d",
                              json_array_size(hidden), ST_TRAIN_MAX_HIDDEN);
        c->nhidden = json_array_size(hidden);
        for (size_t i = 0; i < c->nhidden; i++) {
            const json_t *e = json_array_get(hidden, i);
            if (!json_is_integer(e) || json_integer_value(e) < 1 ||
                json_integer_value(e) > ST_TRAIN_MAX_WIDTH)
                return st_err_set(err, ST_E_INPUT,
                                  "model.hidden[%zu]: must be an integer in "
                                  "[1, %d]",
                                  i, ST_TRAIN_MAX_WIDTH);
            c->hidden[i] = (size_t)json_integer_value(e);
        }
    }
    v = (int)c->activation;
    if ((rc = get_enum(m, "activation", act_names, &v, "model", err)))
        return rc;
    c->activation = (st_train_activation)v;
    if ((rc = st_json_get_number(m, "dropout", 0, 0.0, 0.95, &c->dropout,
                                 "model", err)))
        return rc;
    v = (int)c->loss;
    *loss_set = json_object_get(m, "loss") != NULL;
    if ((rc = get_enum(m, "loss", loss_names, &v, "model", err)))
        return rc;
    c->loss = (st_train_loss)v;
    v = (int)c->init;
    if ((rc = get_enum(m, "init", init_names, &v, "model", err)))
        return rc;
    c->init = (st_train_init)v;
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_schedule(const json_t *s, st_train_config *c,
                                            st_err *err)
{
    static const char *const keys[] = {
        "type",  "warmup_epochs",     "step_epochs",
        "gamma", "min_learning_rate", NULL};
    const char *w = "training.schedule";
    st_code rc;
    int v = (int)c->schedule;
    if ((rc = st_json_check_keys(s, keys, w, err)) ||
        (rc = get_enum(s, "type", sched_names, &v, w, err)))
        return rc;
    c->schedule = (st_train_schedule)v;
    if ((rc = st_json_get_number(s, "warmup_epochs", 0, 0.0, 1e6,
                                 &c->warmup_epochs, w, err)) ||
        (rc = get_unsigned(s, "step_epochs", 1, 1000000, &c->step_epochs, w,
                           err)) ||
        (rc =
             st_json_get_number(s, "gamma", 0, 1e-9, 1.0, &c->gamma, w, err)) ||
        (rc = st_json_get_number(s, "min_learning_rate", 0, 0.0, 10.0,
                                 &c->min_learning_rate, w, err)))
        return rc;
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_early_stopping(const json_t *s,
                                                  st_train_config *c,
                                                  st_err *err)
{
    static const char *const keys[] = {"metric", "patience", "min_delta",
                                       "restore_best", NULL};
    const char *w = "training.early_stopping";
    st_code rc;
    int v = (int)c->early_stop_metric;
    if ((rc = st_json_check_keys(s, keys, w, err)) ||
        (rc = get_enum(s, "metric", metric_names, &v, w, err)))
        return rc;
    c->early_stop_metric = (st_train_metric)v;
    if ((rc = get_unsigned(s, "patience", 1, 1000000, &c->patience, w, err)) ||
        (rc = st_json_get_number(s, "min_delta", 0, 0.0, 1e9, &c->min_delta, w,
                                 err)) ||
        (rc = st_json_get_bool(s, "restore_best", 0, &c->restore_best, w, err)))
        return rc;
    if (c->patience == 0)
        return st_err_set(err, ST_E_INPUT,
                          "%s: missing required key \"patience\"", w);
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_training(const json_t *t, st_train_config *c,
                                            st_err *err)
{
    static const char *const keys[] = {
        "optimizer",     "learning_rate",    "momentum",
        "nesterov",      "weight_decay",     "beta1",
        "beta2",         "epsilon",          "clip_norm",
        "schedule",      "batch_size",       "epochs",
        "seed",          "validation_split", "early_stopping",
        "class_weights", "threads",          NULL};
    const char *w = "training";
    st_code rc;
    int v = (int)c->optimizer;
    if ((rc = st_json_check_keys(t, keys, w, err)) ||
        (rc = get_enum(t, "optimizer", opt_names, &v, w, err)))
        return rc;
    c->optimizer = (st_train_optimizer)v;
    long long seed = (long long)c->seed, threads = c->threads;
    if ((rc = st_json_get_number(t, "learning_rate", 0, 1e-12, 10.0,
                                 &c->learning_rate, w, err)) ||
        (rc = st_json_get_number(t, "momentum", 0, 0.0, 0.999, &c->momentum, w,
                                 err)) ||
        (rc = st_json_get_bool(t, "nesterov", 0, &c->nesterov, w, err)) ||
        (rc = st_json_get_number(t, "weight_decay", 0, 0.0, 1.0,
                                 &c->weight_decay, w, err)) ||
        (rc = st_json_get_number(t, "beta1", 0, 0.0, 0.9999, &c->beta1, w,
                                 err)) ||
        (rc = st_json_get_number(t, "beta2", 0, 0.0, 0.999999, &c->beta2, w,
                                 err)) ||
        (rc = st_json_get_number(t, "epsilon", 0, 1e-30, 1.0, &c->epsilon, w,
                                 err)) ||
        (rc = st_json_get_number(t, "clip_norm", 0, 0.0, 1e9, &c->clip_norm, w,
                                 err)) ||
        (rc = get_size(t, "batch_size", 1, 1 << 20, &c->batch_size, w, err)) ||
        (rc = get_unsigned(t, "epochs", 1, 1000000, &c->epochs, w, err)) ||
        (rc = st_json_get_int(t, "seed", 0, 0, INT64_MAX, &seed, w, err)) ||
        (rc = st_json_get_number(t, "validation_split", 0, 0.0, 0.9,
                                 &c->validation_split, w, err)) ||
        (rc = st_json_get_int(t, "threads", 0, 0, 1024, &threads, w, err)))
        return rc;
    c->seed = (uint64_t)seed;
    c->threads = (int)threads;
    const json_t *s = json_object_get(t, "schedule");
    if (s && (rc = parse_schedule(s, c, err)))
        return rc;
    const json_t *es = json_object_get(t, "early_stopping");
    if (es && (rc = parse_early_stopping(es, c, err)))
        return rc;
    const json_t *cw = json_object_get(t, "class_weights");
    if (cw) {
        if (!json_is_array(cw) || json_array_size(cw) == 0 ||
            json_array_size(cw) > ST_TRAIN_MAX_CLASSES)
            return st_err_set(err, ST_E_INPUT,
                              "training.class_weights: must be an array of 1 "
                              "to %d numbers",
                              ST_TRAIN_MAX_CLASSES);
        c->nclass_weights = json_array_size(cw);
        for (size_t i = 0; i < c->nclass_weights; i++) {
            const json_t *e = json_array_get(cw, i);
            double x = json_is_number(e) ? json_number_value(e) : -1.0;
            if (!(x > 0.0 && x <= 1e6))
                return st_err_set(err, ST_E_INPUT,
                                  "training.class_weights[%zu]: must be a "
                                  "number in (0, 1e6]",
                                  i);
            c->class_weights[i] = (float)x;
        }
    }
    return ST_OK;
}

/* Combinations that no single key's range can catch. */
static ST_MUST_CHECK st_code check_combinations(st_train_config *c,
                                                int loss_set, st_err *err)
{
    if (!loss_set)
        c->loss =
            c->model == ST_MODEL_LINEAR ? ST_LOSS_MSE : ST_LOSS_SOFTMAX_CE;
    if (c->model == ST_MODEL_MLP && c->nhidden == 0)
        return st_err_set(err, ST_E_INPUT,
                          "model.hidden: an mlp needs at least one hidden "
                          "layer");
    if (c->model != ST_MODEL_MLP && c->nhidden > 0)
        return st_err_set(err, ST_E_INPUT,
                          "model.hidden: a %s model has no hidden layers",
                          model_names[c->model]);
    if (c->model != ST_MODEL_MLP && c->dropout > 0.0)
        return st_err_set(err, ST_E_INPUT,
                          "model.dropout: only an mlp has hidden layers to "
                          "drop");
    if (c->model == ST_MODEL_LINEAR && c->loss != ST_LOSS_MSE)
        return st_err_set(err, ST_E_INPUT,
                          "model.loss: a linear model is trained with mse");
    if (c->model == ST_MODEL_LOGISTIC && c->loss == ST_LOSS_MSE)
        return st_err_set(err, ST_E_INPUT,
                          "model.loss: a logistic model needs a "
                          "cross-entropy loss");
    if (c->loss == ST_LOSS_BCE && c->outputs > 1)
        return st_err_set(err, ST_E_INPUT,
                          "model.outputs: binary_cross_entropy has one "
                          "output, not %zu",
                          c->outputs);
    if (c->loss == ST_LOSS_MSE && c->nclass_weights)
        return st_err_set(err, ST_E_INPUT,
                          "training.class_weights: only for classification "
                          "losses");
    if (c->loss == ST_LOSS_BCE && c->nclass_weights && c->nclass_weights != 2)
        return st_err_set(err, ST_E_INPUT,
                          "training.class_weights: binary_cross_entropy "
                          "takes 2 weights (class 0, class 1), not %zu",
                          c->nclass_weights);
    if (c->nesterov && (c->optimizer != ST_OPT_SGD || c->momentum <= 0.0))
        return st_err_set(err, ST_E_INPUT,
                          "training.nesterov: needs optimizer \"sgd\" and "
                          "momentum > 0");
    if (c->min_learning_rate > c->learning_rate)
        return st_err_set(err, ST_E_INPUT,
                          "training.schedule.min_learning_rate: %g is above "
                          "learning_rate %g",
                          c->min_learning_rate, c->learning_rate);
    if (c->warmup_epochs >= (double)c->epochs)
        return st_err_set(err, ST_E_INPUT,
                          "training.schedule.warmup_epochs: %g, must be "
                          "below epochs (%u)",
                          c->warmup_epochs, c->epochs);
    if (c->patience && c->loss != ST_LOSS_MSE &&
        c->early_stop_metric >= ST_METRIC_MSE)
        return st_err_set(err, ST_E_INPUT,
                          "training.early_stopping.metric: %s is a "
                          "regression metric",
                          metric_names[c->early_stop_metric]);
    if (c->patience && c->loss == ST_LOSS_MSE &&
        (c->early_stop_metric == ST_METRIC_ACCURACY ||
         c->early_stop_metric == ST_METRIC_F1))
        return st_err_set(err, ST_E_INPUT,
                          "training.early_stopping.metric: %s is a "
                          "classification metric",
                          metric_names[c->early_stop_metric]);
    return ST_OK;
}

st_code st_train_config_from_json(const json_t *model, const json_t *training,
                                  st_train_config *cfg, st_err *err)
{
    st_train_config c;
    st_train_config_default(&c);
    int loss_set = 0;
    st_code rc;
    if (model && (rc = parse_model(model, &c, &loss_set, err)))
        return rc;
    if (training && (rc = parse_training(training, &c, err)))
        return rc;
    if ((rc = check_combinations(&c, loss_set, err)))
        return rc;
    *cfg = c;
    return ST_OK;
}

json_t *st_train_config_to_json(const st_train_config *c)
{
    json_t *hidden = json_array();
    for (size_t i = 0; i < c->nhidden; i++)
        json_array_append_new(hidden, json_integer((json_int_t)c->hidden[i]));
    json_t *model =
        json_pack("{s:s, s:I, s:I, s:o, s:s, s:f, s:s, s:s}", "type",
                  model_names[c->model], "inputs", (json_int_t)c->inputs,
                  "outputs", (json_int_t)c->outputs, "hidden", hidden,
                  "activation", act_names[c->activation], "dropout", c->dropout,
                  "loss", loss_names[c->loss], "init", init_names[c->init]);
    /* 0 means "from the data" and is not a valid explicit value */
    if (model && c->inputs == 0)
        json_object_del(model, "inputs");
    if (model && c->outputs == 0)
        json_object_del(model, "outputs");
    json_t *sched =
        json_pack("{s:s, s:f, s:I, s:f, s:f}", "type", sched_names[c->schedule],
                  "warmup_epochs", c->warmup_epochs, "step_epochs",
                  (json_int_t)c->step_epochs, "gamma", c->gamma,
                  "min_learning_rate", c->min_learning_rate);
    json_t *training = json_pack(
        "{s:s, s:f, s:f, s:b, s:f, s:f, s:f, s:f, s:f, s:o, s:I, s:I, s:I, "
        "s:f, s:I}",
        "optimizer", opt_names[c->optimizer], "learning_rate", c->learning_rate,
        "momentum", c->momentum, "nesterov", c->nesterov, "weight_decay",
        c->weight_decay, "beta1", c->beta1, "beta2", c->beta2, "epsilon",
        c->epsilon, "clip_norm", c->clip_norm, "schedule", sched, "batch_size",
        (json_int_t)c->batch_size, "epochs", (json_int_t)c->epochs, "seed",
        (json_int_t)c->seed, "validation_split", c->validation_split, "threads",
        (json_int_t)c->threads);
    if (training && c->patience)
        json_object_set_new(training, "early_stopping",
                            json_pack("{s:s, s:I, s:f, s:b}", "metric",
                                      metric_names[c->early_stop_metric],
                                      "patience", (json_int_t)c->patience,
                                      "min_delta", c->min_delta, "restore_best",
                                      c->restore_best));
    if (training && c->nclass_weights) {
        json_t *cw = json_array();
        for (size_t i = 0; i < c->nclass_weights; i++)
            json_array_append_new(cw, json_real(c->class_weights[i]));
        json_object_set_new(training, "class_weights", cw);
    }
    if (!model || !training) {
        json_decref(model);
        json_decref(training);
        return NULL;
    }
    json_t *o = json_pack("{s:o, s:o}", "model", model, "training", training);
    if (o && st_train_config_has_preprocessing(c)) {
        json_t *cols = json_object();
        for (size_t i = 0; i < c->npp_columns; i++) {
            char k[16];
            snprintf(k, sizeof(k), "%u", c->pp_column[i]);
            json_object_set_new(cols, k,
                                json_pack("{s:s}", "scale",
                                          scale_names[c->pp_column_scale[i]]));
        }
        json_object_set_new(o, "preprocessing",
                            json_pack("{s:s, s:o}", "scale",
                                      scale_names[c->scale], "columns", cols));
    }
    return o;
}

int st_train_config_has_preprocessing(const st_train_config *c)
{
    if (c->scale != ST_SCALE_NONE)
        return 1;
    for (size_t i = 0; i < c->npp_columns; i++)
        if (c->pp_column_scale[i] != ST_SCALE_NONE)
            return 1;
    return 0;
}

/* "missing" and "categorical": the readers already refuse empty fields
 * and text in feature columns at import, so "error" is the only choice a
 * dataset can meet; the other documented values are refused by name. */
static ST_MUST_CHECK st_code pp_refusal(const json_t *o, const char *key,
                                        const char *where, st_err *err)
{
    const char *s = NULL;
    st_code rc = st_json_get_string(o, key, 0, &s, where, err);
    if (rc != ST_OK || !s || !strcmp(s, "error"))
        return rc;
    return st_err_set(err, ST_E_INPUT,
                      "%s.%s: \"%s\" is not supported: datasets hold no "
                      "missing values or text features (import refuses "
                      "them), so only \"error\" applies",
                      where, key, s);
}

static ST_MUST_CHECK st_code pp_entry(const json_t *o, const char *where,
                                      st_train_scale *scale, st_err *err)
{
    static const char *const keys[] = {"scale", "missing", "categorical", NULL};
    int v = (int)*scale;
    st_code rc;
    if (!json_is_object(o))
        return st_err_set(err, ST_E_INPUT, "%s: expected an object", where);
    if ((rc = st_json_check_keys(o, keys, where, err)) ||
        (rc = get_enum(o, "scale", scale_names, &v, where, err)) ||
        (rc = pp_refusal(o, "missing", where, err)) ||
        (rc = pp_refusal(o, "categorical", where, err)))
        return rc;
    *scale = (st_train_scale)v;
    return ST_OK;
}

st_code st_train_config_preprocessing(const json_t *pp, st_train_config *cfg,
                                      st_err *err)
{
    static const char *const keys[] = {"scale", "missing", "categorical",
                                       "columns", NULL};
    const char *W = "preprocessing";
    st_train_config c = *cfg;
    c.scale = ST_SCALE_NONE;
    c.npp_columns = 0;
    if (!pp || json_is_null(pp)) {
        *cfg = c;
        return ST_OK;
    }
    json_t *all = json_deep_copy(pp);
    if (!all)
        return st_err_set(err, ST_E_IO, "out of memory");
    if (json_is_object(all))
        json_object_del(all, "columns");
    st_code rc = json_is_object(pp)
                     ? st_json_check_keys(pp, keys, W, err)
                     : st_err_set(err, ST_E_INPUT, "%s: expected an object", W);
    if (!rc)
        rc = pp_entry(all, W, &c.scale, err);
    json_decref(all);
    if (rc)
        return rc;
    const json_t *cols = json_object_get(pp, "columns");
    if (cols && !json_is_object(cols))
        return st_err_set(err, ST_E_INPUT,
                          "preprocessing.columns: expected an object of "
                          "0-based feature indices");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cols, k, v)
    {
        char where[64];
        snprintf(where, sizeof(where), "preprocessing.columns.%.20s", k);
        char *end;
        unsigned long idx = strtoul(k, &end, 10);
        if (k[0] < '0' || k[0] > '9' || *end || (k[0] == '0' && k[1]) ||
            idx >= ST_TRAIN_MAX_WIDTH)
            return st_err_set(err, ST_E_INPUT,
                              "%s: expected a 0-based feature index below "
                              "%d (the runtime does not see column names)",
                              where, ST_TRAIN_MAX_WIDTH);
        if (c.npp_columns == ST_TRAIN_MAX_PP_COLUMNS)
            return st_err_set(err, ST_E_INPUT,
                              "preprocessing.columns: more than %d entries",
                              ST_TRAIN_MAX_PP_COLUMNS);
        st_train_scale sc = c.scale;
        if ((rc = pp_entry(v, where, &sc, err)))
            return rc;
        c.pp_column[c.npp_columns] = (uint32_t)idx;
        c.pp_column_scale[c.npp_columns++] = sc;
    }
    *cfg = c;
    return ST_OK;
}

char *st_train_config_dump(const st_train_config *cfg)
{
    json_t *j = st_train_config_to_json(cfg);
    if (!j)
        return NULL;
    /* 17 significant digits: every double reads back to the same bits */
    char *s = st_json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS |
                                   JSON_REAL_PRECISION(17));
    json_decref(j);
    return s;
}

static const char *task_noun(st_train_loss loss)
{
    return loss == ST_LOSS_SOFTMAX_CE ? "classes"
           : loss == ST_LOSS_BCE      ? "outputs"
                                      : "targets";
}

st_code st_train_config_resolve(st_train_config *cfg, const st_train_data *data,
                                st_err *err)
{
    if (!data || !data->x || !data->y || data->rows == 0)
        return st_err_set(err, ST_E_USAGE, "training data: no rows");
    return st_train_config_resolve_shape(cfg, data, err);
}

st_code st_train_config_resolve_shape(st_train_config *cfg,
                                      const st_train_data *data, st_err *err)
{
    if (data->features == 0 || data->features > ST_TRAIN_MAX_WIDTH)
        return st_err_set(err, ST_E_INPUT,
                          "training data: %zu features, must be 1 to %d",
                          data->features, ST_TRAIN_MAX_WIDTH);
    if (cfg->inputs && cfg->inputs != data->features)
        return st_err_set(err, ST_E_INPUT,
                          "model.inputs: %zu does not match the data's %zu "
                          "features",
                          cfg->inputs, data->features);
    for (size_t i = 0; i < cfg->npp_columns; i++)
        if (cfg->pp_column[i] >= data->features)
            return st_err_set(err, ST_E_INPUT,
                              "preprocessing.columns.%u: the data has %zu "
                              "features (0-based indices 0 to %zu)",
                              cfg->pp_column[i], data->features,
                              data->features - 1);
    size_t want;
    switch (cfg->loss) {
    case ST_LOSS_SOFTMAX_CE:
        if (data->targets != 1 || data->classes < 2 ||
            data->classes > ST_TRAIN_MAX_CLASSES)
            return st_err_set(err, ST_E_INPUT,
                              "model.loss: softmax_cross_entropy needs one "
                              "label column and 2 to %d classes (the data "
                              "has %zu columns, %zu classes)",
                              ST_TRAIN_MAX_CLASSES, data->targets,
                              data->classes);
        want = data->classes;
        break;
    case ST_LOSS_BCE:
        if (data->targets != 1 || data->classes != 2)
            return st_err_set(err, ST_E_INPUT,
                              "model.loss: binary_cross_entropy needs one "
                              "0/1 label column and 2 classes (the data has "
                              "%zu columns, %zu classes)",
                              data->targets, data->classes);
        want = 1;
        break;
    default:
        if (data->targets == 0 || data->targets > ST_TRAIN_MAX_WIDTH ||
            data->classes != 0)
            return st_err_set(err, ST_E_INPUT,
                              "model.loss: mse needs 1 to %d regression "
                              "targets and no classes (the data has %zu "
                              "targets, %zu classes)",
                              ST_TRAIN_MAX_WIDTH, data->targets, data->classes);
        want = data->targets;
        break;
    }
    if (cfg->outputs && cfg->outputs != want)
        return st_err_set(err, ST_E_INPUT,
                          "model.outputs: %zu does not match the data's %zu "
                          "%s",
                          cfg->outputs, want, task_noun(cfg->loss));
    if (cfg->loss == ST_LOSS_SOFTMAX_CE && cfg->nclass_weights &&
        cfg->nclass_weights != data->classes)
        return st_err_set(err, ST_E_INPUT,
                          "training.class_weights: %zu weights for %zu "
                          "classes",
                          cfg->nclass_weights, data->classes);
    cfg->inputs = data->features;
    cfg->outputs = want;
    return ST_OK;
}

st_code st_train_spec_check_shape(const json_t *model, const json_t *training,
                                  const json_t *preprocessing,
                                  const st_train_data *train,
                                  const st_train_data *valid, st_err *err)
{
    st_code rc;
    int compare_classes = 1;
    if (st_gbdt_spec_is_gbdt(model)) {
        st_gbdt_config g;
        rc = st_gbdt_config_from_json(model, training, preprocessing, &g, err);
        if (rc == ST_OK)
            rc = st_gbdt_config_resolve_shape(&g, train, err);
    } else {
        st_train_config c;
        rc = st_train_config_from_json(model, training, &c, err);
        if (rc == ST_OK)
            rc = st_train_config_preprocessing(preprocessing, &c, err);
        if (rc == ST_OK)
            rc = st_train_config_resolve_shape(&c, train, err);
        /* the trainer compares the validation rows' classes only for
         * classifiers (src/train/trainer.c, check_data) */
        compare_classes = c.loss != ST_LOSS_MSE;
    }
    if (rc != ST_OK || !valid)
        return rc;
    if (valid->features != train->features)
        return st_err_set(err, ST_E_INPUT,
                          "the validation data has %zu features, the "
                          "training data %zu",
                          valid->features, train->features);
    if (valid->targets != train->targets)
        return st_err_set(err, ST_E_INPUT,
                          "the validation data has %zu target columns, the "
                          "training data %zu",
                          valid->targets, train->targets);
    if (compare_classes && valid->classes != train->classes)
        return st_err_set(err, ST_E_INPUT,
                          "the validation data has %zu classes, the training "
                          "data %zu",
                          valid->classes, train->classes);
    return ST_OK;
}
