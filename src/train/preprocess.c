/*
 * preprocess.c: feature scaling fitted inside the trainer.
 *
 * The job spec's "preprocessing" section (hparams.c) says how each feature
 * is scaled; the statistics come from the training rows only (the seeded
 * split's training part, never the held-out rows or a validation set), so
 * that validation figures are honest. They are computed once, by the
 * first st_trainer_fit, in double precision and in row order (the result
 * does not depend on thread counts), and kept as one shift and one scale
 * per feature: x' = (x - shift) * scale, the form StandardScaler and
 * MinMaxScaler of scikit-learn reduce to. A feature without spread (std or
 * range 0) keeps scale 1, as they do.
 *
 * The two vectors are statistics of private data: they live in secure
 * memory with the weights, travel in checkpoints and in the sealed model
 * (tensors preprocessing.shift / preprocessing.scale), and never reach a
 * log. This file must not allocate or do I/O.
 */
#include <math.h>
#include <string.h>

#include "train/train_internal.h"

static st_train_scale scale_of(const st_train_config *c, size_t j)
{
    for (size_t i = 0; i < c->npp_columns; i++)
        if (c->pp_column[i] == j)
            return c->pp_column_scale[i];
    return c->scale;
}

void st_pp_fit_columns(const st_train_config *c, const float *x,
                       size_t features, const size_t *idx, size_t n,
                       float *shift_out, float *scale_out)
{
    for (size_t j = 0; j < features; j++) {
        st_train_scale how = scale_of(c, j);
        double shift = 0.0, scale = 1.0;
        if (how == ST_SCALE_STANDARDIZE && n > 0) {
            double sum = 0.0, sq = 0.0;
            for (size_t i = 0; i < n; i++)
                sum += x[(idx ? idx[i] : i) * features + j];
            double mean = sum / (double)n;
            for (size_t i = 0; i < n; i++) {
                double d = x[(idx ? idx[i] : i) * features + j] - mean;
                sq += d * d;
            }
            double sd = sqrt(sq / (double)n);
            shift = mean;
            scale = sd > 0.0 ? 1.0 / sd : 1.0;
        } else if (how == ST_SCALE_MINMAX && n > 0) {
            double lo = INFINITY, hi = -INFINITY;
            for (size_t i = 0; i < n; i++) {
                double v = x[(idx ? idx[i] : i) * features + j];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            shift = lo;
            scale = hi > lo ? 1.0 / (hi - lo) : 1.0;
        }
        shift_out[j] = (float)shift;
        scale_out[j] = (float)scale;
    }
}

void st_pp_fit(st_trainer *t, const float *x, size_t features,
               const size_t *idx, size_t n)
{
    st_pp_fit_columns(&t->cfg, x, features, idx, n, t->pp_shift, t->pp_scale);
    t->pp_fitted = 1;
}

void st_pp_apply(const st_trainer *t, float *x, size_t rows)
{
    size_t f = t->cfg.inputs;
    for (size_t i = 0; i < rows; i++) {
        float *r = x + i * f;
        for (size_t j = 0; j < f; j++)
            r[j] = (r[j] - t->pp_shift[j]) * t->pp_scale[j];
    }
}
