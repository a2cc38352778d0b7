/*
 * train/gbdt.h (the library's, not public): gradient-boosted trees
 * through XGBoost's C API.
 *
 * The job spec's "model" section with "type": "gbdt" (docs/training.md,
 * "Gradient-boosted trees") selects this engine instead of st_trainer:
 * XGBoost 1.7 (Debian's libxgboost-dev) grows the trees with tree_method
 * "hist", on float32 rows the caller hands over (inside the enclave
 * runtime: decrypted datasets in secure memory). The engine does no I/O:
 * the model leaves as a safetensors buffer in secure memory holding
 * XGBoost's JSON model and the fitted preprocessing beside it
 * (docs/models.md, "Gradient-boosted trees in the model"), which the
 * caller seals.
 *
 * XGBoost copies the rows into its own DMatrix and histogram index and
 * keeps the trees in its own buffers: ordinary memory, neither locked nor
 * wiped (docs/security.md, "Limits"). What this engine allocates itself
 * (scaled copies of the rows, the model bytes it returns) is secure
 * memory. XGBoost's log output is dropped: nothing it says reaches a log.
 *
 * Determinism: the same configuration (seed and nthread included) and the
 * same data give the same model bytes.
 */
#ifndef SEALTRAIN_GBDT_H
#define SEALTRAIN_GBDT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"
#include "sealtrain/secmem.h"
#include "train/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_GBDT_MAX_ROUNDS 100000
#define ST_GBDT_MAX_DEPTH 64

typedef enum st_gbdt_objective {
    ST_GBDT_BINARY,    /* "binary:logistic": P(class 1) */
    ST_GBDT_MULTI,     /* "multi:softprob": one probability per class */
    ST_GBDT_REGRESSION /* "reg:squarederror": one target */
} st_gbdt_objective;

/* The "model" section of a gbdt job spec, plus the "training" section's
 * validation_split and the "preprocessing" section (in pp: only its
 * scale and per-column fields are used). Plain data. */
typedef struct st_gbdt_config {
    st_gbdt_objective objective;
    unsigned rounds;                /* boosting rounds, 1..100000 (100) */
    unsigned max_depth;             /* 1..64 (6) */
    double eta;                     /* (0, 1] (0.3) */
    double subsample;               /* (0, 1] (1) */
    double colsample;               /* colsample_bytree, (0, 1] (1) */
    double lambda;                  /* L2, [0, 1e6] (1) */
    double alpha;                   /* L1, [0, 1e6] (0) */
    double min_child_weight;        /* [0, 1e9] (1) */
    unsigned early_stopping_rounds; /* 0 = off */
    uint64_t seed;                  /* 0..2^31-1 (0) */
    int nthread;                    /* 0..1024 (0: OpenMP's default) */
    double validation_split;        /* training.validation_split (0) */
    size_t inputs;                  /* features; 0 = from the data */
    size_t outputs;                 /* classes (multi), else 1; 0 = from data */
    st_train_config pp;             /* preprocessing (scale, columns) */
} st_gbdt_config;

/* 1 when a job spec's "model" section asks for gradient-boosted trees. */
int st_gbdt_spec_is_gbdt(const json_t *model);

/* Fills *cfg from the job spec's "model" (type "gbdt"), "training" (may be
 * NULL; only "validation_split") and "preprocessing" (may be NULL)
 * sections. Strict: unknown keys, wrong types and values out of range
 * fail with ST_E_INPUT naming the key ("model.eta: 0 is outside ..."). */
ST_MUST_CHECK st_code st_gbdt_config_from_json(const json_t *model,
                                               const json_t *training,
                                               const json_t *preprocessing,
                                               st_gbdt_config *cfg,
                                               st_err *err);
/* Fills inputs/outputs left at 0 from the data's sizes (x and y are not
 * read) and checks them against the objective, as training will: errors
 * name the key ("model.objective: binary:logistic needs ..."). */
ST_MUST_CHECK st_code st_gbdt_config_resolve_shape(st_gbdt_config *cfg,
                                                   const st_train_data *data,
                                                   st_err *err);
/* {"model": {...}, "training": {...}, "preprocessing"?: {...}} that
 * st_gbdt_config_from_json reads back to the same values. */
json_t *st_gbdt_config_to_json(const st_gbdt_config *cfg);
/* The name of an objective ("binary:logistic", ...). */
const char *st_gbdt_objective_name(st_gbdt_objective o);

/* Secure memory a gbdt job needs beside its decrypted datasets, for a
 * training set of rows x cols with `classes` (0: regression) and a
 * validation set of valid_rows (0: none): scaled or split copies of the
 * rows, the final predictions and the sealed model (bounded by its
 * rounds and depth), plus `fixed`. For the controller's arena. */
uint64_t st_gbdt_secure_bytes(const st_gbdt_config *cfg, uint64_t rows,
                              uint64_t cols, uint64_t classes,
                              uint64_t valid_rows, uint64_t fixed);

typedef struct st_gbdt st_gbdt;

/* Trains. `valid` may be NULL: then cfg->validation_split of `train` is
 * held out (a seeded split). With early_stopping_rounds the validation
 * set's first metric (logloss, mlogloss, rmse) is watched and the model
 * keeps the trees of the best round, as XGBoost's EarlyStopping with
 * save_best. `cb` receives each round's figures (epoch = round): the
 * validation set's every round; the training rows' (train_loss,
 * train_accuracy, and the evaluation block when there is no validation
 * set) in the first, the last and every ceil(rounds / 10)-th round only,
 * NaN in the others (XGBoost's evaluation of 10^6 rows costs ~7% of a
 * round). Nonzero from cb stops with ST_E_CANCELLED. */
ST_MUST_CHECK st_code st_gbdt_fit(const st_gbdt_config *cfg,
                                  const st_train_data *train,
                                  const st_train_data *valid,
                                  st_train_callback cb, void *user,
                                  st_gbdt **out, st_err *err);
/* Wipes what it can and frees. Accepts NULL. */
void st_gbdt_free(st_gbdt *g);

/* Rounds kept in the model (the best round + 1 after early stopping). */
unsigned st_gbdt_rounds(const st_gbdt *g);
/* Features the model was trained on. */
size_t st_gbdt_features(const st_gbdt *g);
/* Classes it predicts (2 for binary); 0 for regression. */
size_t st_gbdt_classes(const st_gbdt *g);

/* Outputs for `rows` raw rows (the preprocessing is applied here):
 * P(class 1) (binary), rows x classes probabilities (multi), the value
 * (regression). */
ST_MUST_CHECK st_code st_gbdt_predict(st_gbdt *g, const float *x, size_t rows,
                                      float *out, st_err *err);
/* Evaluation block (loss, accuracy, macro-F1, confusion; MSE, MAE, R^2)
 * on `data`. The confusion matrix stays valid until g is used again. */
ST_MUST_CHECK st_code st_gbdt_evaluate(st_gbdt *g, const st_train_data *data,
                                       st_train_metrics *out, st_err *err);
/* The evaluation st_gbdt_fit made at its end with the kept trees: on the
 * validation set (the validation data or the held-out split), else on the
 * training rows. From XGBoost's prediction cache: nearly free unless
 * early stopping cut trees off. Valid while g lives. */
const st_train_metrics *st_gbdt_final(const st_gbdt *g);
/* The same on the rows st_gbdt_fit held out of `train` (the seeded
 * split of cfg.validation_split; the same rows on every call). */
ST_MUST_CHECK st_code st_gbdt_evaluate_holdout(st_gbdt *g,
                                               const st_train_data *train,
                                               st_train_metrics *out,
                                               st_err *err);
/* Feature importances: {"type": "gain", "values": [one per feature]}
 * (XGBoost's "gain": the mean loss reduction of the splits on the
 * feature; 0 for a feature never split on); for more than
 * ST_GBDT_IMPORTANCE_ALL features {"type": "gain", "features": F, "top":
 * [[index, gain], ...]}, the ST_GBDT_IMPORTANCE_TOP largest. NULL if out
 * of memory. */
#define ST_GBDT_IMPORTANCE_ALL 2048
#define ST_GBDT_IMPORTANCE_TOP 256
json_t *st_gbdt_importance(st_gbdt *g, st_err *err);

/* The model as safetensors in secure memory: tensors
 * "preprocessing.shift" / "preprocessing.scale" (F32 [features], when the
 * configuration scales anything) and "xgboost.model" (U8, XGBoost's JSON
 * model); metadata: `metadata` (strings) plus "format": "xgboost",
 * "sealtrain.model_type": "gbdt" and the configuration under
 * "sealtrain.config". */
ST_MUST_CHECK st_code st_gbdt_save_safetensors(const st_gbdt *g,
                                               const json_t *metadata,
                                               st_secret **out, st_err *err);
/* A model back from such a buffer (strict: the tensors above and nothing
 * else, the configuration re-read by st_gbdt_config_from_json). */
ST_MUST_CHECK st_code st_gbdt_load_safetensors(const uint8_t *buf, size_t len,
                                               st_gbdt **out, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
