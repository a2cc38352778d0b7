/*
 * train_internal.h: the trainer's private state, shared by the files of
 * src/train/ (trainer.c runs the loop, kernels.c the fused elementwise
 * passes, checkpoint.c and safetensors.c serialise). Nothing outside
 * src/train/ includes this.
 */
#ifndef ST_TRAIN_INTERNAL_H
#define ST_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "train/train.h"

/* xoshiro256** (Blackman & Vigna, 2018): small state that a checkpoint can
 * hold, fast, and the same sequence on every platform. */
typedef struct st_rng {
    uint64_t s[4];
} st_rng;

/* The validation split's stream: the seed XOR this (trainer.c); tests
 * recompute the split with it. */
#define SPLIT_STREAM 0x5EA17EA1D5B117ull

void st_rng_seed(st_rng *r, uint64_t seed);
uint64_t st_rng_next(st_rng *r);
/* uniform in [0, bound) without modulo bias */
uint64_t st_rng_below(st_rng *r, uint64_t bound);
/* uniform in [0, 1) with 53 bits */
double st_rng_uniform(st_rng *r);
/* standard normal (Box-Muller; consumes two draws) */
double st_rng_normal(st_rng *r);
void st_rng_shuffle(st_rng *r, size_t *v, size_t n);

/* One dense layer y = act(x W^T + b) and its batch buffers (rows = the
 * batch size the buffers were made for). */
typedef struct st_layer {
    size_t in, out;
    int hidden;     /* activation + dropout follow */
    float *w, *b;   /* in the parameter block */
    float *dw, *db; /* in the gradient block */
    float *z;       /* pre-activation (GELU only), else NULL */
    float *h;       /* activation output, or logits for the last layer */
    float *d;       /* after dropout; == h without dropout */
    uint8_t *mask;  /* dropout keep mask, or NULL */
    float *g;       /* dLoss/d(output) then, in place, dLoss/dz */
} st_layer;

/* Running sums for the metrics of one pass. */
typedef struct st_metric_acc {
    double loss_sum, weight_sum;
    uint64_t rows, correct;
    uint64_t *confusion; /* classes x classes, or NULL */
    double *reg;         /* per target: sum y, sum y^2, sum sq err, sum abs
                            err (4 x targets), or NULL */
} st_metric_acc;

struct st_trainer {
    st_train_config cfg;
    size_t nlayers;
    st_layer layers[ST_TRAIN_MAX_HIDDEN + 1];
    size_t nparams, nmoments;
    float *params, *grads, *m1, *m2, *best; /* secure: the state block */
    void *state_mem;
    void *work_mem;      /* secure: batch buffers */
    size_t batch;        /* rows the batch buffers hold */
    float *xb, *yb, *wb; /* gathered batch inputs, targets, sample weights */
    size_t secure_bytes;
    /* progress (all of it goes into a checkpoint) */
    unsigned epoch;
    uint64_t step;
    st_rng rng;
    double best_metric;
    unsigned best_epoch, bad_epochs;
    int has_best, stopped;
    /* preprocessing: x' = (x - pp_shift) * pp_scale per feature, fitted on
     * the training rows by the first fit (secure: statistics of private
     * data); NULL when the configuration scales nothing */
    float *pp_shift, *pp_scale;
    int pp_fitted;
    /* metric scratch (aggregates, not secret) */
    uint64_t *confusion;
    double *reg;
};

/* Fused kernels (kernels.c). */
void st_kern_bias_act(float *z, float *h, const float *b, size_t rows, size_t n,
                      st_train_activation act);
void st_kern_bias(float *h, const float *b, size_t rows, size_t n);
void st_kern_dropout(const float *h, float *d, uint8_t *mask, size_t count,
                     double drop, st_rng *rng);
void st_kern_act_backward(float *g, const float *z, const float *h,
                          const uint8_t *mask, double drop, float *db,
                          size_t rows, size_t n, st_train_activation act);
/* Loss over a batch of logits: writes dLoss/dlogits into g, the bias
 * gradient into db, and adds to the metric sums. `w` holds per-row
 * weights (NULL = 1). Returns the batch's weighted loss sum. */
double st_kern_loss(st_train_loss loss, const float *logits, const float *y,
                    const float *w, size_t rows, size_t outputs, float *g,
                    float *db, st_metric_acc *acc);
void st_kern_output(st_train_loss loss, const float *logits, size_t rows,
                    size_t outputs, float *out);

/* Configuration text for checkpoints and safetensors metadata. */
char *st_train_config_dump(const st_train_config *cfg);
/* Builds the layer table and buffers of a trainer for cfg (no weights
 * initialised). */
ST_MUST_CHECK st_code st_trainer_alloc(const st_train_config *cfg,
                                       st_trainer **out, st_err *err);
/* One forward (training mode) + loss + backward pass over `rows`
 * contiguous rows (rows <= the batch size): gradients land in t->grads and
 * dropout masks in the layers. Returns the weighted mean loss. For tests
 * and the optimiser loop. */
double st_trainer_batch_grad(st_trainer *t, const float *x, const float *y,
                             const float *w, size_t rows, st_metric_acc *acc);
/* Learning rate at optimiser step `step` (0-based) of a run with
 * `steps_per_epoch` steps per epoch. */
double st_train_schedule_lr(const st_train_config *c, uint64_t step,
                            uint64_t steps_per_epoch);
/* Applies one optimiser update from t->grads at the current schedule
 * step and advances the step; returns the learning rate used. */
double st_trainer_optimizer_step(st_trainer *t, uint64_t steps_per_epoch);
void st_metric_finish(const st_trainer *t, const st_metric_acc *acc,
                      st_train_metrics *m);
/* Fits the preprocessing statistics on the rows idx[0..n) of x (features
 * columns) in double precision (preprocess.c). */
void st_pp_fit(st_trainer *t, const float *x, size_t features,
               const size_t *idx, size_t n);
/* The same statistics for any caller (the gbdt engine): rows idx[0..n)
 * of x (all of the first n rows when idx is NULL), into shift/scale. */
void st_pp_fit_columns(const st_train_config *c, const float *x,
                       size_t features, const size_t *idx, size_t n,
                       float *shift, float *scale);
/* Applies the fitted preprocessing to `rows` rows in place. */
void st_pp_apply(const st_trainer *t, float *x, size_t rows);

#endif
