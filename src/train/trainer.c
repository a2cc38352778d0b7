/*
 * trainer.c: the training loop over float32 arrays in memory.
 *
 * A model is a stack of dense layers y = act(x W^T + b) (W stored
 * outputs x inputs, as torch.nn.Linear). All dense work goes through
 * cblas_sgemm (OpenBLAS, loaded at first use: extlib.h); the elementwise work
 * is fused (kernels.c); the optimiser is one pass (optim.c). Every buffer the
 * loop touches is allocated once, in st_trainer_new, sized for the configured
 * batch: nothing is allocated inside the loop. Parameters, gradients, moments
 * and batch activations live in secure memory (st_secmem_alloc).
 *
 * Order of randomness, so that a run is a pure function of (seed, data,
 * OpenBLAS thread count): weight initialisation draws from the trainer's
 * xoshiro256** stream at creation; each epoch resets the order of the
 * training rows and shuffles it from the same stream, then dropout masks
 * draw from it batch by batch. The train/validation split uses its own
 * stream derived from the seed, so it is recomputed identically on resume.
 * The stream state is part of a checkpoint, which is only taken at epoch
 * boundaries.
 *
 * This module never does I/O and never logs data or weights.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/extlib.h"
#include "train/train_internal.h"

#define ALIGN_FLOATS 16 /* 64-byte alignment for every sub-buffer */

static size_t round_up(size_t n)
{
    return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int metric_minimised(st_train_metric m)
{
    return m == ST_METRIC_LOSS || m == ST_METRIC_MSE || m == ST_METRIC_MAE;
}

static size_t ycols(const st_train_config *c)
{
    return c->loss == ST_LOSS_MSE ? c->outputs : 1;
}

static size_t nclasses(const st_train_config *c)
{
    return c->loss == ST_LOSS_SOFTMAX_CE ? c->outputs
           : c->loss == ST_LOSS_BCE      ? 2
                                         : 0;
}

st_code st_trainer_alloc(const st_train_config *cfg, st_trainer **out,
                         st_err *err)
{
    if (cfg->inputs == 0 || cfg->outputs == 0)
        return st_err_set(err, ST_E_USAGE,
                          "creating a trainer: the configuration is not "
                          "resolved against the data (inputs/outputs 0)");
    if (cfg->batch_size == 0 || cfg->epochs == 0)
        return st_err_set(err, ST_E_USAGE,
                          "creating a trainer: batch_size and epochs must "
                          "be positive");
    /* every trainer is made here: OpenBLAS, loaded at first use
     * (extlib.h), is there for all the calls through st_blas() */
    st_code lrc = st_blas_load(err);
    if (lrc != ST_OK)
        return lrc;
    st_trainer *t = calloc(1, sizeof(*t));
    if (!t)
        return st_err_set(err, ST_E_IO, "creating a trainer: out of memory");
    t->cfg = *cfg;
    const st_train_config *c = &t->cfg;
    size_t B = c->batch_size, nl = c->nhidden + 1;
    t->nlayers = nl;
    t->batch = B;
    /* layer sizes and parameter offsets */
    size_t in = c->inputs, poff = 0;
    size_t woff[ST_TRAIN_MAX_HIDDEN + 1], boff[ST_TRAIN_MAX_HIDDEN + 1];
    for (size_t l = 0; l < nl; l++) {
        st_layer *L = &t->layers[l];
        L->in = in;
        L->out = l + 1 < nl ? c->hidden[l] : c->outputs;
        L->hidden = l + 1 < nl;
        woff[l] = poff;
        poff += round_up(L->in * L->out);
        boff[l] = poff;
        poff += round_up(L->out);
        in = L->out;
    }
    t->nparams = poff; /* padding between tensors stays zero */
    t->nmoments = c->optimizer == ST_OPT_SGD ? (c->momentum > 0.0) : 2;
    int keep_best = c->patience && c->restore_best;
    size_t nblocks = 2 + t->nmoments + (size_t)keep_best;
    size_t state_bytes = nblocks * t->nparams * sizeof(float);
    /* batch buffers */
    size_t work =
        round_up(B * c->inputs) + round_up(B * ycols(c)) + round_up(B);
    size_t mask_bytes = 0;
    for (size_t l = 0; l < nl; l++) {
        st_layer *L = &t->layers[l];
        size_t cells = round_up(B * L->out);
        work += 2 * cells; /* h, g */
        if (L->hidden && c->activation == ST_ACT_GELU)
            work += cells;
        if (L->hidden && c->dropout > 0.0) {
            work += cells;
            mask_bytes += cells;
        }
    }
    if (st_train_config_has_preprocessing(c))
        work += 2 * round_up(c->inputs); /* pp_shift, pp_scale */
    size_t work_bytes = work * sizeof(float) + mask_bytes;
    t->state_mem = st_secmem_alloc(state_bytes, err);
    if (t->state_mem)
        t->work_mem = st_secmem_alloc(work_bytes, err);
    size_t nconf = nclasses(c) * nclasses(c);
    t->confusion = calloc(nconf ? nconf : 1, sizeof(uint64_t));
    t->reg = calloc(4 * ycols(c), sizeof(double));
    if (!t->state_mem || !t->work_mem || !t->confusion || !t->reg) {
        st_code rc =
            (t->state_mem && t->work_mem)
                ? st_err_set(err, ST_E_IO, "creating a trainer: out of memory")
                : st_err_prefix(err,
                                "creating a trainer (%zu bytes of "
                                "secure memory)",
                                state_bytes + work_bytes);
        st_trainer_free(t);
        return rc;
    }
    t->secure_bytes = state_bytes + work_bytes;
    float *s = t->state_mem;
    t->params = s;
    t->grads = s + t->nparams;
    float *next = s + 2 * t->nparams;
    if (t->nmoments >= 1) {
        t->m1 = next;
        next += t->nparams;
    }
    if (t->nmoments >= 2) {
        t->m2 = next;
        next += t->nparams;
    }
    if (keep_best)
        t->best = next;
    float *w = t->work_mem;
    t->xb = w;
    w += round_up(B * c->inputs);
    t->yb = w;
    w += round_up(B * ycols(c));
    t->wb = w;
    w += round_up(B);
    if (st_train_config_has_preprocessing(c)) {
        t->pp_shift = w;
        w += round_up(c->inputs);
        t->pp_scale = w;
        w += round_up(c->inputs);
    }
    for (size_t l = 0; l < nl; l++) {
        st_layer *L = &t->layers[l];
        size_t cells = round_up(B * L->out);
        L->w = t->params + woff[l];
        L->b = t->params + boff[l];
        L->dw = t->grads + woff[l];
        L->db = t->grads + boff[l];
        L->h = w;
        w += cells;
        L->g = w;
        w += cells;
        L->d = L->h;
        if (L->hidden && c->activation == ST_ACT_GELU) {
            L->z = w;
            w += cells;
        }
        if (L->hidden && c->dropout > 0.0) {
            L->d = w;
            w += cells;
        }
    }
    uint8_t *m = (uint8_t *)w;
    for (size_t l = 0; l < nl; l++) {
        st_layer *L = &t->layers[l];
        if (L->hidden && c->dropout > 0.0) {
            L->mask = m;
            m += round_up(B * L->out);
        }
    }
    t->best_metric =
        metric_minimised(c->early_stop_metric) ? INFINITY : -INFINITY;
    st_rng_seed(&t->rng, c->seed);
    *out = t;
    return ST_OK;
}

static void init_weights(st_trainer *t)
{
    const st_train_config *c = &t->cfg;
    for (size_t l = 0; l < t->nlayers; l++) {
        st_layer *L = &t->layers[l];
        int he =
            c->init == ST_INIT_HE ||
            (c->init == ST_INIT_AUTO && L->hidden &&
             (c->activation == ST_ACT_RELU || c->activation == ST_ACT_GELU));
        double sd = sqrt(2.0 / (double)L->in);
        double a = sqrt(6.0 / (double)(L->in + L->out));
        for (size_t i = 0; i < L->in * L->out; i++)
            L->w[i] = he ? (float)(sd * st_rng_normal(&t->rng))
                         : (float)(a * (2.0 * st_rng_uniform(&t->rng) - 1.0));
        memset(L->b, 0, L->out * sizeof(float));
    }
}

st_code st_trainer_new(const st_train_config *cfg, st_trainer **out,
                       st_err *err)
{
    /* A configuration built in code is held to the rules of a job spec
       (ranges, combinations), so that its checkpoints restore: it goes
       through the same JSON parser, and the trainer keeps what came back
       (entries past nhidden / nclass_weights are dropped). */
    json_t *j = st_train_config_to_json(cfg);
    st_train_config back;
    st_code rc = j ? st_train_config_from_json(json_object_get(j, "model"),
                                               json_object_get(j, "training"),
                                               &back, err)
                   : st_err_set(err, ST_E_IO,
                                "creating a trainer: out of "
                                "memory");
    if (!rc)
        rc = st_train_config_preprocessing(json_object_get(j, "preprocessing"),
                                           &back, err);
    json_decref(j);
    if (rc)
        return st_err_prefix(err, "creating a trainer");
    st_trainer *t;
    rc = st_trainer_alloc(&back, &t, err);
    if (rc)
        return rc;
    init_weights(t);
    *out = t;
    return ST_OK;
}

void st_trainer_free(st_trainer *t)
{
    if (!t)
        return;
    st_secmem_free(t->state_mem);
    st_secmem_free(t->work_mem);
    free(t->confusion);
    free(t->reg);
    st_wipe(t, sizeof(*t));
    free(t);
}

const st_train_config *st_trainer_config(const st_trainer *t)
{
    return &t->cfg;
}

unsigned st_trainer_epoch(const st_trainer *t)
{
    return t->epoch;
}

int st_trainer_finished(const st_trainer *t)
{
    return t->stopped || t->epoch >= t->cfg.epochs;
}

const float *st_trainer_params(const st_trainer *t, size_t *count)
{
    if (count)
        *count = t->nparams;
    return t->params;
}

size_t st_trainer_secure_bytes(const st_trainer *t)
{
    return t->secure_bytes;
}

/* ---- one batch ---- */

static void forward(st_trainer *t, const float *x, size_t rows, int train)
{
    const st_train_config *c = &t->cfg;
    const float *in = x;
    for (size_t l = 0; l < t->nlayers; l++) {
        st_layer *L = &t->layers[l];
        float *zt = L->z ? L->z : L->h;
        st_blas()->cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                               (int)rows, (int)L->out, (int)L->in, 1.0f, in,
                               (int)L->in, L->w, (int)L->in, 0.0f, zt,
                               (int)L->out);
        if (!L->hidden) {
            st_kern_bias(L->h, L->b, rows, L->out);
            break;
        }
        st_kern_bias_act(zt, L->h, L->b, rows, L->out, c->activation);
        if (train && L->mask) {
            st_kern_dropout(L->h, L->d, L->mask, rows * L->out, c->dropout,
                            &t->rng);
            in = L->d;
        } else {
            in = L->h;
        }
    }
}

static void backward(st_trainer *t, const float *x, size_t rows)
{
    const st_train_config *c = &t->cfg;
    for (size_t l = t->nlayers; l-- > 0;) {
        st_layer *L = &t->layers[l];
        st_layer *P = l ? &t->layers[l - 1] : NULL;
        const float *in = P ? P->d : x;
        /* dW = dZ^T X */
        st_blas()->cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                               (int)L->out, (int)L->in, (int)rows, 1.0f, L->g,
                               (int)L->out, in, (int)L->in, 0.0f, L->dw,
                               (int)L->in);
        if (!P)
            break;
        /* dX = dZ W, then through the previous activation and dropout */
        st_blas()->cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                               (int)rows, (int)L->in, (int)L->out, 1.0f, L->g,
                               (int)L->out, L->w, (int)L->in, 0.0f, P->g,
                               (int)L->in);
        st_kern_act_backward(P->g, P->z, P->h, P->mask, c->dropout, P->db, rows,
                             P->out, c->activation);
    }
}

double st_trainer_batch_grad(st_trainer *t, const float *x, const float *y,
                             const float *w, size_t rows, st_metric_acc *acc)
{
    st_layer *last = &t->layers[t->nlayers - 1];
    forward(t, x, rows, 1);
    double wsum0 = acc ? acc->weight_sum : 0.0;
    st_metric_acc local = {0};
    st_metric_acc *a = acc ? acc : &local;
    double loss = st_kern_loss(t->cfg.loss, last->h, y, w, rows, last->out,
                               last->g, last->db, a);
    backward(t, x, rows);
    double wsum = a->weight_sum - wsum0;
    return wsum > 0.0 ? loss / wsum : 0.0;
}

/* ---- data ---- */

static ST_MUST_CHECK st_code check_data(const st_trainer *t,
                                        const st_train_data *d,
                                        const char *what, st_err *err)
{
    const st_train_config *c = &t->cfg;
    if (!d->x || !d->y || d->rows == 0)
        return st_err_set(err, ST_E_INPUT, "%s: no rows", what);
    if (d->features != c->inputs)
        return st_err_set(err, ST_E_INPUT,
                          "model.inputs: %zu does not match the %s's %zu "
                          "features",
                          c->inputs, what, d->features);
    if (d->targets != ycols(c))
        return st_err_set(err, ST_E_INPUT,
                          "%s: %zu target columns, the model needs %zu", what,
                          d->targets, ycols(c));
    if (c->loss != ST_LOSS_MSE && d->classes != nclasses(c))
        return st_err_set(err, ST_E_INPUT,
                          "model.outputs: the model has %zu classes, the "
                          "%s %zu",
                          nclasses(c), what, d->classes);
    for (size_t i = 0; i < d->rows; i++) {
        const float *xr = d->x + i * d->features;
        for (size_t j = 0; j < d->features; j++)
            if (!isfinite(xr[j]))
                return st_err_set(err, ST_E_INPUT,
                                  "%s: row %zu, feature %zu is not a finite "
                                  "number",
                                  what, i, j);
        const float *yr = d->y + i * d->targets;
        for (size_t j = 0; j < d->targets; j++) {
            float v = yr[j];
            if (!isfinite(v))
                return st_err_set(err, ST_E_INPUT,
                                  "%s: row %zu, target %zu is not a finite "
                                  "number",
                                  what, i, j);
            if (c->loss != ST_LOSS_MSE &&
                (v < 0.0f || v != floorf(v) || v >= (float)nclasses(c)))
                return st_err_set(err, ST_E_INPUT,
                                  "%s: row %zu, label %g is not a class in "
                                  "0..%zu",
                                  what, i, (double)v, nclasses(c) - 1);
        }
    }
    return ST_OK;
}

/* Copies `rows` rows (by index) into the batch buffers and fills the
 * per-row class weights. Returns the weights pointer, or NULL for "all 1". */
static const float *gather(st_trainer *t, const st_train_data *d,
                           const size_t *idx, size_t rows)
{
    const st_train_config *c = &t->cfg;
    size_t f = d->features, k = d->targets;
    for (size_t i = 0; i < rows; i++) {
        memcpy(t->xb + i * f, d->x + idx[i] * f, f * sizeof(float));
        memcpy(t->yb + i * k, d->y + idx[i] * k, k * sizeof(float));
    }
    if (t->pp_shift)
        st_pp_apply(t, t->xb, rows);
    if (!c->nclass_weights)
        return NULL;
    for (size_t i = 0; i < rows; i++)
        t->wb[i] = c->class_weights[(size_t)t->yb[i]];
    return t->wb;
}

static const float *weights_of(st_trainer *t, const float *y, size_t rows)
{
    const st_train_config *c = &t->cfg;
    if (!c->nclass_weights)
        return NULL;
    for (size_t i = 0; i < rows; i++)
        t->wb[i] = c->class_weights[(size_t)y[i]];
    return t->wb;
}

static void acc_reset(st_trainer *t, st_metric_acc *a, int with_tables)
{
    memset(a, 0, sizeof(*a));
    if (!with_tables)
        return;
    size_t k = nclasses(&t->cfg);
    if (k) {
        memset(t->confusion, 0, k * k * sizeof(uint64_t));
        a->confusion = t->confusion;
    } else {
        memset(t->reg, 0, 4 * ycols(&t->cfg) * sizeof(double));
        a->reg = t->reg;
    }
}

/* Forward passes without dropout over the rows (all of `d` when idx is
 * NULL), adding to the metric sums. */
static void eval_rows(st_trainer *t, const st_train_data *d, const size_t *idx,
                      size_t n, st_metric_acc *acc)
{
    st_layer *last = &t->layers[t->nlayers - 1];
    for (size_t s = 0; s < n; s += t->batch) {
        size_t rows = n - s < t->batch ? n - s : t->batch;
        const float *x, *y, *w;
        if (idx) {
            w = gather(t, d, idx + s, rows);
            x = t->xb;
            y = t->yb;
        } else {
            x = d->x + s * d->features;
            y = d->y + s * d->targets;
            w = weights_of(t, y, rows);
            if (t->pp_shift) {
                /* the data are the caller's: scale a copy */
                memcpy(t->xb, x, rows * d->features * sizeof(float));
                st_pp_apply(t, t->xb, rows);
                x = t->xb;
            }
        }
        forward(t, x, rows, 0);
        st_kern_loss(t->cfg.loss, last->h, y, w, rows, last->out, last->g,
                     last->db, acc);
    }
}

void st_metric_finish(const st_trainer *t, const st_metric_acc *a,
                      st_train_metrics *m)
{
    const st_train_config *c = &t->cfg;
    size_t k = nclasses(c);
    m->loss = a->weight_sum > 0.0 ? a->loss_sum / a->weight_sum : NAN;
    m->accuracy = m->macro_f1 = NAN;
    m->mse = m->mae = m->r2 = NAN;
    m->classes = k;
    m->confusion = NULL;
    if (k) {
        m->accuracy = a->rows ? (double)a->correct / (double)a->rows : NAN;
        if (a->confusion) {
            double f1 = 0.0;
            for (size_t i = 0; i < k; i++) {
                uint64_t tp = a->confusion[i * k + i], fp = 0, fn = 0;
                for (size_t j = 0; j < k; j++)
                    if (j != i) {
                        fp += a->confusion[j * k + i];
                        fn += a->confusion[i * k + j];
                    }
                /* a class never seen nor predicted scores 0, as sklearn */
                uint64_t den = 2 * tp + fp + fn;
                f1 += den ? 2.0 * (double)tp / (double)den : 0.0;
            }
            m->macro_f1 = f1 / (double)k;
            m->confusion = a->confusion;
        }
    } else if (a->reg && a->rows) {
        size_t nt = ycols(c);
        double n = (double)a->rows, sse = 0.0, sae = 0.0, r2 = 0.0;
        for (size_t j = 0; j < nt; j++) {
            const double *r = a->reg + 4 * j;
            double sst = r[1] - r[0] * r[0] / n;
            sse += r[2];
            sae += r[3];
            r2 += sst > 0.0 ? 1.0 - r[2] / sst : (r[2] == 0.0 ? 1.0 : 0.0);
        }
        m->mse = sse / (n * (double)nt);
        m->mae = sae / (n * (double)nt);
        m->r2 = r2 / (double)nt;
    }
}

static double metric_value(const st_train_metrics *m, st_train_metric which)
{
    switch (which) {
    case ST_METRIC_LOSS: return m->loss;
    case ST_METRIC_ACCURACY: return m->accuracy;
    case ST_METRIC_F1: return m->macro_f1;
    case ST_METRIC_MSE: return m->mse;
    case ST_METRIC_MAE: return m->mae;
    case ST_METRIC_R2: return m->r2;
    }
    return NAN;
}

st_code st_trainer_evaluate(st_trainer *t, const st_train_data *data,
                            st_train_metrics *out, st_err *err)
{
    st_code rc = check_data(t, data, "evaluation data", err);
    if (rc)
        return rc;
    if (t->pp_shift && !t->pp_fitted)
        return st_err_set(err, ST_E_USAGE,
                          "evaluating: the preprocessing is not fitted yet "
                          "(it is fitted by training)");
    st_metric_acc a;
    acc_reset(t, &a, 1);
    eval_rows(t, data, NULL, data->rows, &a);
    memset(out, 0, sizeof(*out));
    out->epoch = t->epoch;
    out->epochs = t->cfg.epochs;
    out->has_validation = 1;
    out->train_loss = out->train_accuracy = NAN;
    st_metric_finish(t, &a, out);
    return ST_OK;
}

st_code st_trainer_predict(st_trainer *t, const float *x, size_t rows,
                           float *out, st_err *err)
{
    if (!x || !out)
        return st_err_set(err, ST_E_USAGE, "predicting: no input or output");
    st_layer *last = &t->layers[t->nlayers - 1];
    size_t f = t->cfg.inputs;
    if (t->pp_shift && !t->pp_fitted)
        return st_err_set(err, ST_E_USAGE,
                          "predicting: the preprocessing is not fitted yet");
    for (size_t s = 0; s < rows; s += t->batch) {
        size_t n = rows - s < t->batch ? rows - s : t->batch;
        const float *xs = x + s * f;
        if (t->pp_shift) {
            memcpy(t->xb, xs, n * f * sizeof(float));
            st_pp_apply(t, t->xb, n);
            xs = t->xb;
        }
        forward(t, xs, n, 0);
        st_kern_output(t->cfg.loss, last->h, n, last->out, out + s * last->out);
    }
    return ST_OK;
}

/* ---- the loop ---- */

typedef struct split {
    size_t *all;   /* the one allocation: held-out rows, then training rows */
    size_t *base;  /* training rows in their reset order */
    size_t *order; /* this epoch's shuffled order */
    size_t ntrain;
    size_t *val; /* held-out rows, or NULL */
    size_t nval;
} split;

static ST_MUST_CHECK st_code make_split(const st_trainer *t, size_t n,
                                        int has_valid, split *s, st_err *err)
{
    memset(s, 0, sizeof(*s));
    size_t nval = 0;
    if (!has_valid && t->cfg.validation_split > 0.0) {
        nval = (size_t)floor(t->cfg.validation_split * (double)n);
        if (nval == 0 || nval >= n)
            return st_err_set(err, ST_E_INPUT,
                              "training.validation_split: %g of %zu rows "
                              "leaves an empty training or validation set",
                              t->cfg.validation_split, n);
    }
    size_t *all = malloc(n * sizeof(size_t));
    s->order = malloc((n - nval) * sizeof(size_t));
    if (!all || !s->order) {
        free(all);
        free(s->order);
        return st_err_set(err, ST_E_IO, "training: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        all[i] = i;
    if (nval) {
        st_rng r;
        st_rng_seed(&r, t->cfg.seed ^ SPLIT_STREAM);
        st_rng_shuffle(&r, all, n);
    }
    s->all = all;
    s->val = nval ? all : NULL;
    s->nval = nval;
    s->base = all + nval;
    s->ntrain = n - nval;
    return ST_OK;
}

static void free_split(split *s)
{
    free(s->all);
    free(s->order);
}

static void early_stop_update(st_trainer *t, st_train_metrics *m)
{
    const st_train_config *c = &t->cfg;
    if (!c->patience)
        return;
    double v = metric_value(m, c->early_stop_metric);
    int better = metric_minimised(c->early_stop_metric)
                     ? v < t->best_metric - c->min_delta
                     : v > t->best_metric + c->min_delta;
    if (better) {
        t->best_metric = v;
        t->best_epoch = t->epoch;
        t->bad_epochs = 0;
        t->has_best = 1;
        if (t->best)
            memcpy(t->best, t->params, t->nparams * sizeof(float));
    } else if (++t->bad_epochs >= c->patience) {
        t->stopped = 1;
        if (t->best && t->has_best)
            memcpy(t->params, t->best, t->nparams * sizeof(float));
    }
    m->improved = better;
    m->best_epoch = t->best_epoch;
    m->best_metric = t->best_metric;
    m->stopped = t->stopped;
}

st_code st_trainer_fit(st_trainer *t, const st_train_data *train,
                       const st_train_data *valid, st_train_callback cb,
                       void *user, st_err *err)
{
    const st_train_config *c = &t->cfg;
    if (st_trainer_finished(t))
        return ST_OK;
    st_code rc = check_data(t, train, "training data", err);
    if (!rc && valid)
        rc = check_data(t, valid, "validation data", err);
    if (rc)
        return rc;
    if (c->patience && !valid && c->validation_split <= 0.0)
        return st_err_set(err, ST_E_INPUT,
                          "training.early_stopping: needs a validation set "
                          "(validation_split > 0 or validation data)");
    split sp;
    if ((rc = make_split(t, train->rows, valid != NULL, &sp, err)))
        return rc;
    /* the training rows only: the held-out rows stay unseen (a resumed
     * trainer brings its fitted statistics from the checkpoint) */
    if (t->pp_shift && !t->pp_fitted)
        st_pp_fit(t, train->x, train->features, sp.base, sp.ntrain);
    if (c->threads > 0)
        st_blas()->openblas_set_num_threads(c->threads);
    uint64_t spe = (sp.ntrain + t->batch - 1) / t->batch;
    st_layer *last = &t->layers[t->nlayers - 1];
    int has_val = valid || sp.nval;
    while (!st_trainer_finished(t)) {
        st_train_metrics m;
        memset(&m, 0, sizeof(m));
        st_metric_acc a;
        acc_reset(t, &a, !has_val);
        double t0 = now_seconds();
        memcpy(sp.order, sp.base, sp.ntrain * sizeof(size_t));
        st_rng_shuffle(&t->rng, sp.order, sp.ntrain);
        for (size_t s = 0; s < sp.ntrain; s += t->batch) {
            size_t rows = sp.ntrain - s < t->batch ? sp.ntrain - s : t->batch;
            const float *w = gather(t, train, sp.order + s, rows);
            forward(t, t->xb, rows, 1);
            st_kern_loss(c->loss, last->h, t->yb, w, rows, last->out, last->g,
                         last->db, &a);
            backward(t, t->xb, rows);
            m.learning_rate = st_trainer_optimizer_step(t, spe);
        }
        double t1 = now_seconds();
        m.train_loss = a.weight_sum > 0.0 ? a.loss_sum / a.weight_sum : NAN;
        m.train_accuracy =
            nclasses(c) ? (double)a.correct / (double)a.rows : NAN;
        if (has_val) {
            acc_reset(t, &a, 1);
            if (valid)
                eval_rows(t, valid, NULL, valid->rows, &a);
            else
                eval_rows(t, train, sp.val, sp.nval, &a);
        }
        st_metric_finish(t, &a, &m);
        t->epoch++;
        m.epoch = t->epoch;
        m.epochs = c->epochs;
        m.has_validation = has_val;
        m.samples_per_second = (double)sp.ntrain / (t1 - t0);
        m.seconds = now_seconds() - t0;
        m.best_epoch = t->best_epoch;
        m.best_metric = t->best_metric;
        early_stop_update(t, &m);
        if (cb && cb(&m, user)) {
            free_split(&sp);
            return st_err_set(err, ST_E_CANCELLED,
                              "training: cancelled by the caller after "
                              "epoch %u",
                              t->epoch);
        }
    }
    free_split(&sp);
    return ST_OK;
}

static void set_num(json_t *o, const char *key, double v)
{
    /* JSON has no NaN or infinity: a metric that does not apply is absent */
    if (isfinite(v))
        json_object_set_new(o, key, json_real(v));
}

json_t *st_train_metrics_to_json(const st_train_metrics *m)
{
    json_t *o = json_pack("{s:I, s:I, s:b, s:b, s:b}", "epoch",
                          (json_int_t)m->epoch, "epochs", (json_int_t)m->epochs,
                          "validation", m->has_validation, "improved",
                          m->improved, "stopped", m->stopped);
    if (!o)
        return NULL;
    if (m->best_epoch > 0) {
        json_object_set_new(o, "best_epoch", json_integer(m->best_epoch));
        set_num(o, "best_metric", m->best_metric);
    }
    set_num(o, "learning_rate", m->learning_rate);
    set_num(o, "train_loss", m->train_loss);
    set_num(o, "train_accuracy", m->train_accuracy);
    set_num(o, "loss", m->loss);
    set_num(o, "accuracy", m->accuracy);
    set_num(o, "macro_f1", m->macro_f1);
    set_num(o, "mse", m->mse);
    set_num(o, "mae", m->mae);
    set_num(o, "r2", m->r2);
    set_num(o, "samples_per_second", m->samples_per_second);
    set_num(o, "seconds", m->seconds);
    if (m->confusion && m->classes) {
        json_t *rows = json_array();
        for (size_t i = 0; rows && i < m->classes; i++) {
            json_t *row = json_array();
            for (size_t j = 0; row && j < m->classes; j++)
                json_array_append_new(
                    row,
                    json_integer((json_int_t)m->confusion[i * m->classes + j]));
            json_array_append_new(rows, row);
        }
        json_object_set_new(o, "confusion", rows);
    }
    return o;
}
