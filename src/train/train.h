/*
 * train/train.h (the library's, not public): the training engine.
 *
 * Trains linear regression, logistic/softmax regression and multilayer
 * perceptrons on float32 arrays that the caller hands over (inside the
 * enclave runtime: decrypted datasets in secure memory). The engine does no
 * I/O of its own: weights, checkpoints and safetensors files come out as
 * buffers in secure memory (st_secret) that the caller encrypts and stores.
 *
 * Weights, gradients, optimiser moments and batch activations live in
 * st_secmem_alloc memory (locked, guarded, wiped on free): a model before
 * sealing is a secret. Locking needs RLIMIT_MEMLOCK >= the trainer's state
 * (st_trainer_secure_bytes(); a 784-256-128-10 MLP with Adam needs ~5 MiB);
 * root (CAP_IPC_LOCK) is not limited. See docs/training.md.
 *
 * Determinism: the same configuration (seed included), the same data and the
 * same OpenBLAS thread count give bit-identical weights. A checkpoint holds
 * the complete state (configuration, weights, optimiser moments, RNG, epoch,
 * schedule step, early-stopping state), and a trainer restored from it
 * continues bit-identically to a run that was never interrupted.
 */
#ifndef SEALTRAIN_TRAIN_H
#define SEALTRAIN_TRAIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"
#include "sealtrain/secmem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_TRAIN_MAX_HIDDEN 16    /* hidden layers */
#define ST_TRAIN_MAX_WIDTH 65536  /* units per layer, inputs, outputs */
#define ST_TRAIN_MAX_CLASSES 1024 /* classes (softmax outputs) */

typedef enum st_train_model {
    ST_MODEL_LINEAR,   /* no hidden layer, MSE: linear regression */
    ST_MODEL_LOGISTIC, /* no hidden layer, softmax CE or BCE */
    ST_MODEL_MLP       /* one or more hidden layers */
} st_train_model;

typedef enum st_train_activation {
    ST_ACT_RELU,
    ST_ACT_TANH,
    ST_ACT_GELU, /* exact (erf) form, as torch.nn.GELU() */
    ST_ACT_SIGMOID
} st_train_activation;

typedef enum st_train_loss {
    ST_LOSS_SOFTMAX_CE, /* outputs = classes; y holds the class index */
    ST_LOSS_BCE,        /* one output (a logit); y holds 0 or 1 */
    ST_LOSS_MSE         /* outputs = targets; y holds the values */
} st_train_loss;

typedef enum st_train_init {
    ST_INIT_AUTO,  /* He for ReLU/GELU layers, Xavier otherwise */
    ST_INIT_HE,    /* normal(0, sqrt(2 / fan_in)) */
    ST_INIT_XAVIER /* uniform(+-sqrt(6 / (fan_in + fan_out))) */
} st_train_init;

typedef enum st_train_optimizer {
    ST_OPT_SGD,  /* momentum, Nesterov, L2 weight decay (as torch.optim.SGD) */
    ST_OPT_ADAM, /* L2 weight decay added to the gradient (torch Adam) */
    ST_OPT_ADAMW /* decoupled weight decay (torch AdamW) */
} st_train_optimizer;

typedef enum st_train_schedule {
    ST_SCHED_CONSTANT,
    ST_SCHED_STEP,  /* lr * gamma^floor(epoch / step_epochs) */
    ST_SCHED_COSINE /* from lr down to min_learning_rate over the run */
} st_train_schedule;

/* Metrics early stopping can watch; all on the validation set. */
typedef enum st_train_metric {
    ST_METRIC_LOSS,     /* minimised */
    ST_METRIC_ACCURACY, /* maximised */
    ST_METRIC_F1,       /* macro-F1, maximised */
    ST_METRIC_MSE,      /* minimised */
    ST_METRIC_MAE,      /* minimised */
    ST_METRIC_R2        /* maximised */
} st_train_metric;

/* Feature scaling, fitted on the training rows only (docs/training.md,
 * "Preprocessing"): x' = (x - shift) * scale per feature. */
typedef enum st_train_scale {
    ST_SCALE_NONE,        /* shift 0, scale 1 */
    ST_SCALE_STANDARDIZE, /* shift = mean, scale = 1 / population std */
    ST_SCALE_MINMAX       /* shift = min, scale = 1 / (max - min) */
} st_train_scale;

#define ST_TRAIN_MAX_PP_COLUMNS 256 /* per-column preprocessing entries */

/* The whole configuration: the job spec's "model" and "training" sections.
 * Plain data; st_train_config_default gives the documented defaults. */
typedef struct st_train_config {
    /* model */
    st_train_model model;
    size_t inputs;  /* features; 0 = take from the data */
    size_t outputs; /* classes / 1 / targets; 0 = take from the data */
    size_t nhidden;
    size_t hidden[ST_TRAIN_MAX_HIDDEN];
    st_train_activation activation;
    double dropout; /* drop probability after each hidden layer, [0, 0.95] */
    st_train_loss loss;
    st_train_init init;
    /* optimiser */
    st_train_optimizer optimizer;
    double learning_rate;
    double momentum; /* SGD */
    int nesterov;    /* SGD */
    double weight_decay;
    double beta1, beta2, epsilon; /* Adam, AdamW */
    double clip_norm;             /* global gradient norm bound; 0 = off */
    /* schedule (epochs may be fractional: the rate changes every step) */
    st_train_schedule schedule;
    double warmup_epochs;     /* linear warm-up from lr/steps to lr */
    unsigned step_epochs;     /* ST_SCHED_STEP */
    double gamma;             /* ST_SCHED_STEP */
    double min_learning_rate; /* ST_SCHED_COSINE */
    /* loop */
    size_t batch_size;
    unsigned epochs;
    uint64_t seed;
    double validation_split; /* fraction held out when no validation set
                                is given; 0 = none */
    /* early stopping: off when patience == 0 */
    st_train_metric early_stop_metric;
    unsigned patience;
    double min_delta;
    int restore_best; /* put back the best epoch's weights when stopping */
    /* class weights: per-sample weight by label (softmax CE: one per class;
       BCE: [weight of 0, weight of 1]); nclass_weights == 0: all 1 */
    size_t nclass_weights;
    float class_weights[ST_TRAIN_MAX_CLASSES];
    int threads; /* OpenBLAS threads; 0 = leave the current setting */
    /* preprocessing (the job spec's "preprocessing" section): the scaling
     * of every feature, then per-column exceptions by 0-based index */
    st_train_scale scale;
    size_t npp_columns;
    uint32_t pp_column[ST_TRAIN_MAX_PP_COLUMNS];
    st_train_scale pp_column_scale[ST_TRAIN_MAX_PP_COLUMNS];
} st_train_config;

/* A dataset as the engine sees it: row-major float32, borrowed. */
typedef struct st_train_data {
    const float *x; /* rows x features */
    const float *y; /* rows x targets: class index (softmax CE), 0/1 (BCE),
                       values (MSE) */
    size_t rows, features, targets;
    size_t classes; /* number of classes; 0 for regression */
} st_train_data;

/* Metrics after one epoch (or from st_trainer_evaluate). The "evaluation"
 * block is measured on the validation set when there is one, otherwise on
 * the training batches of the epoch as they were seen (dropout active). */
typedef struct st_train_metrics {
    unsigned epoch;        /* 1-based; epochs completed so far */
    unsigned epochs;       /* configured */
    double learning_rate;  /* of the last step */
    double train_loss;     /* mean over the epoch's samples */
    double train_accuracy; /* classification; NaN for regression */
    int has_validation;
    /* evaluation block */
    double loss;
    double accuracy, macro_f1; /* classification; NaN otherwise */
    size_t classes;
    const uint64_t *confusion; /* classes x classes, row = true label,
                                  column = prediction; valid until the
                                  trainer is used again */
    double mse, mae, r2;       /* regression; NaN otherwise */
    double samples_per_second; /* training throughput of the epoch */
    double seconds;            /* wall time of the epoch */
    /* early stopping */
    int improved;
    unsigned best_epoch;
    double best_metric;
    int stopped; /* early stopping ended the run after this epoch */
} st_train_metrics;

/* Called after every epoch. Return 0 to go on, nonzero to stop: fit then
 * returns ST_E_CANCELLED with the trainer at a clean epoch boundary (a
 * checkpoint taken now resumes exactly). */
typedef int (*st_train_callback)(const st_train_metrics *m, void *user);

/* The metrics as a JSON object for progress streams and logs: "epoch",
 * "epochs", "learning_rate", "train_loss", "train_accuracy", "loss",
 * "accuracy", "macro_f1", "confusion" (array of rows), "mse", "mae", "r2",
 * "samples_per_second", "seconds", "best_epoch", "best_metric",
 * "improved", "stopped", "validation". Values that do not apply (NaN) are
 * left out. Aggregates only: no weights, no rows. NULL if out of memory. */
json_t *st_train_metrics_to_json(const st_train_metrics *m);

/* ---- configuration ---- */

/* The documented defaults (docs/training.md). */
void st_train_config_default(st_train_config *cfg);

/* Fills *cfg from the job spec's "model" and "training" objects (either
 * may be NULL: defaults). Strict: unknown keys, wrong types and values out
 * of range fail with ST_E_INPUT naming the key path ("training.batch_size",
 * "model.hidden[1]"). */
ST_MUST_CHECK st_code st_train_config_from_json(const json_t *model,
                                                const json_t *training,
                                                st_train_config *cfg,
                                                st_err *err);

/* Adds the job spec's "preprocessing" object (NULL: none) to *cfg.
 * Strict as above ("preprocessing.columns.3.scale"). Scaling is fitted
 * inside the trainer on the training rows; "missing" and "categorical"
 * accept only "error", which is what import does with empty fields and
 * text in feature columns. */
ST_MUST_CHECK st_code st_train_config_preprocessing(const json_t *pp,
                                                    st_train_config *cfg,
                                                    st_err *err);
/* 1 when the configuration scales any feature. */
int st_train_config_has_preprocessing(const st_train_config *cfg);

/* The configuration as a JSON object {"model": {...}, "training": {...}}
 * (and "preprocessing" when it scales anything) that
 * st_train_config_from_json plus st_train_config_preprocessing read back
 * to the same values. */
json_t *st_train_config_to_json(const st_train_config *cfg);

/* Fills inputs/outputs left at 0 from the data and checks that the model
 * fits it: sizes, labels in range, class weights per class. Errors name the
 * key ("model.inputs: 63 does not match the data's 64 features"). */
ST_MUST_CHECK st_code st_train_config_resolve(st_train_config *cfg,
                                              const st_train_data *data,
                                              st_err *err);
/* The same on the data's sizes alone (rows, features, targets, classes;
 * x and y are not read): what `job submit` checks against the datasets'
 * signed manifests before anything runs. */
ST_MUST_CHECK st_code st_train_config_resolve_shape(st_train_config *cfg,
                                                    const st_train_data *data,
                                                    st_err *err);

/* Everything the engine will require of a job's datasets that their sizes
 * tell: the job spec's engine sections ("model", "training",
 * "preprocessing"; the MLP or the gbdt engine, as st_gbdt_spec_is_gbdt
 * says) resolved against `train` (st_train_config_resolve_shape, or the
 * gbdt engine's same checks), and `valid` (NULL: none) with the training
 * data's features, targets and classes, as the engines check the rows
 * later. x and y are not read. Errors name the key ("model.outputs: ...",
 * "training.class_weights: ..."); the caller names the dataset. */
ST_MUST_CHECK st_code st_train_spec_check_shape(
    const json_t *model, const json_t *training, const json_t *preprocessing,
    const st_train_data *train, const st_train_data *valid, st_err *err);

/* ---- trainer ---- */

typedef struct st_trainer st_trainer;

/* A new trainer with freshly initialised weights (from cfg->seed). The
 * configuration must be resolved (inputs and outputs known) and is checked
 * by the same rules as a job spec (ST_E_INPUT naming the key). All state
 * and batch buffers are allocated here, in secure memory. */
ST_MUST_CHECK st_code st_trainer_new(const st_train_config *cfg,
                                     st_trainer **out, st_err *err);
/* Wipes and frees. Accepts NULL. */
void st_trainer_free(st_trainer *t);

/* Trains from the current epoch up to cfg->epochs (or an early stop).
 * `valid` may be NULL: then cfg->validation_split of `train` is held out
 * (a seeded split, the same on every resume). Rows are checked first
 * (labels in range, finite values). Returns ST_E_CANCELLED when the
 * callback asks to stop. Training that already finished returns ST_OK at
 * once. */
ST_MUST_CHECK st_code st_trainer_fit(st_trainer *t, const st_train_data *train,
                                     const st_train_data *valid,
                                     st_train_callback cb, void *user,
                                     st_err *err);

/* Evaluation block (loss, accuracy, F1, confusion, MSE/MAE/R^2) on `data`
 * with the current weights, dropout off. */
ST_MUST_CHECK st_code st_trainer_evaluate(st_trainer *t,
                                          const st_train_data *data,
                                          st_train_metrics *out, st_err *err);

/* Outputs for `rows` rows of `x`: class probabilities (softmax CE), the
 * probability of class 1 (BCE) or the predicted values (MSE); `out` holds
 * rows x outputs floats. */
ST_MUST_CHECK st_code st_trainer_predict(st_trainer *t, const float *x,
                                         size_t rows, float *out, st_err *err);

const st_train_config *st_trainer_config(const st_trainer *t);
unsigned st_trainer_epoch(const st_trainer *t); /* epochs completed */
int st_trainer_finished(const st_trainer *t);   /* all epochs or stopped */
/* All weights and biases, layer by layer (W then b, W row-major
 * outputs x inputs as torch.nn.Linear.weight). Borrowed, secure memory. */
const float *st_trainer_params(const st_trainer *t, size_t *count);
/* Bytes of secure memory this trainer holds (state + batch buffers). */
size_t st_trainer_secure_bytes(const st_trainer *t);

/* ---- checkpoints (format "STCKPT", version 1, docs/training.md) ---- */

/* The complete training state as one buffer in secure memory. */
ST_MUST_CHECK st_code st_trainer_checkpoint(const st_trainer *t,
                                            st_secret **out, st_err *err);
/* A trainer from a checkpoint; the buffer is checked completely (version,
 * lengths, SHA-256 trailer, embedded configuration). */
ST_MUST_CHECK st_code st_trainer_restore(const uint8_t *buf, size_t len,
                                         st_trainer **out, st_err *err);
/* Resuming a job: a trainer built from `cfg` (the signed spec's resolved
 * configuration) with only the state (weights, moments, counters, RNG)
 * taken from the checkpoint, after the same checks as st_trainer_restore
 * and a check that the checkpoint's configuration equals `cfg` field by
 * field: ST_E_DENIED naming the first that differs ("checkpoint:
 * model.hidden is [16], the signed spec says [8]"). */
ST_MUST_CHECK st_code st_trainer_resume(const st_train_config *cfg,
                                        const uint8_t *buf, size_t len,
                                        st_trainer **out, st_err *err);

/* ---- safetensors ---- */

typedef enum st_dtype {
    ST_DTYPE_BOOL,
    ST_DTYPE_U8,
    ST_DTYPE_I8,
    ST_DTYPE_F8_E5M2,
    ST_DTYPE_F8_E4M3,
    ST_DTYPE_I16,
    ST_DTYPE_U16,
    ST_DTYPE_F16,
    ST_DTYPE_BF16,
    ST_DTYPE_I32,
    ST_DTYPE_U32,
    ST_DTYPE_F32,
    ST_DTYPE_F64,
    ST_DTYPE_I64,
    ST_DTYPE_U64
} st_dtype;

#define ST_SAFETENSORS_MAX_DIMS 8
#define ST_SAFETENSORS_MAX_HEADER (100u << 20) /* as the reference reader */

typedef struct st_safetensor {
    char *name;
    st_dtype dtype;
    size_t ndim;
    uint64_t shape[ST_SAFETENSORS_MAX_DIMS];
    uint64_t nbytes;
    const uint8_t *data; /* points into the parsed buffer */
} st_safetensor;

typedef struct st_safetensors {
    size_t count;
    st_safetensor *tensors; /* in data-offset order */
    json_t *metadata;       /* "__metadata__" (string values) or NULL */
} st_safetensors;

/* Strict parse of an untrusted safetensors buffer: header length bounds,
 * JSON header, known dtypes, shapes, offsets inside the buffer, sizes that
 * match shape x dtype, no overlaps or holes, metadata strings only. The
 * result borrows `buf`. */
ST_MUST_CHECK st_code st_safetensors_parse(const uint8_t *buf, size_t len,
                                           st_safetensors **out, st_err *err);
void st_safetensors_free(st_safetensors *st);
const st_safetensor *st_safetensors_find(const st_safetensors *st,
                                         const char *name);
const char *st_dtype_name(st_dtype d);

/* The model's weights as safetensors ("layers.N.weight" [out, in] and
 * "layers.N.bias" [out], F32), with `metadata` (an object of strings, may
 * be NULL) plus "format": "pt" and the configuration under
 * "sealtrain.config". */
ST_MUST_CHECK st_code st_trainer_save_safetensors(const st_trainer *t,
                                                  const json_t *metadata,
                                                  st_secret **out, st_err *err);
/* Loads weights into a trainer of the same architecture; every tensor must
 * be there with the right dtype and shape, and nothing else. */
ST_MUST_CHECK st_code st_trainer_load_safetensors(st_trainer *t,
                                                  const uint8_t *buf,
                                                  size_t len, st_err *err);

/* ---- a sealed model's weights, put back to work (predictor.c) ---- */

/* Either engine's model (linear/logistic/MLP, or gbdt trees) loaded from
 * its safetensors, with its fitted preprocessing and its original labels:
 * what evaluate, predict and local scoring use. */
typedef struct st_predictor st_predictor;
/* Strict: the layout each engine saves (sealtrain.config and its
 * tensors); labels, when the metadata has them, one per class (target).
 * `buf` may be freed after the call. */
ST_MUST_CHECK st_code st_predictor_load(const uint8_t *buf, size_t len,
                                        st_predictor **out, st_err *err);
void st_predictor_free(st_predictor *p); /* NULL ok */
size_t st_predictor_features(const st_predictor *p);
/* Classes (2 for binary tasks); 0 for regression. */
size_t st_predictor_classes(const st_predictor *p);
/* Floats per row of st_predictor_predict: classes (multi-class), 1
 * (binary: P(class 1); regression with one target), targets. */
size_t st_predictor_outputs(const st_predictor *p);
/* Label i as the training data named it (class or target), or NULL
 * when the model carries no names. */
const char *st_predictor_label(const st_predictor *p, size_t i);
/* Raw rows in (the preprocessing is applied here), outputs out (rows x
 * st_predictor_outputs). */
ST_MUST_CHECK st_code st_predictor_predict(st_predictor *p, const float *x,
                                           size_t rows, float *out,
                                           st_err *err);
/* The predicted class of one row of outputs. */
size_t st_predictor_class_of(const st_predictor *p, const float *row);
/* The evaluation block on `d` (labels are class indices of the model's
 * classes, or target values), and ROC AUC for a binary task (NaN
 * otherwise, or when one class is absent). m->confusion stays valid
 * until p is used again. */
/* Outputs as CSV (RFC 4180) in secure memory (st_secmem_free), NUL
 * terminated: classification "prediction,p_LABEL..." (the original
 * label, then each class's probability), regression one column per
 * target (its name, or "prediction"). */
ST_MUST_CHECK st_code st_predictor_csv(const st_predictor *p, const float *outs,
                                       size_t rows, char **text, size_t *len,
                                       st_err *err);
ST_MUST_CHECK st_code st_predictor_evaluate(st_predictor *p,
                                            const st_train_data *d,
                                            st_train_metrics *m, double *auc,
                                            st_err *err);

#ifdef __cplusplus
}
#endif
#endif
