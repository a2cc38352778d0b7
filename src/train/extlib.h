/*
 * extlib.h: the external libraries of training, loaded at first use
 * instead of linked: XGBoost (gradient-boosted trees, gbdt.c) and OpenBLAS
 * (the dense work of the MLP engine, trainer.c).
 *
 * Only a job's runtime, a model's predictions and evaluations and the
 * unit tests and benchmarks of the engines call them. Linked into every
 * process, they cost each CLI command at start: libxgboost with libdmlc,
 * libstdc++ and libgomp ~8,000 symbol relocations and their static
 * constructors (~10 ms), libopenblas ~16,000 relocations and a thread
 * pool started by its constructor. So each is opened with dlopen(3) the
 * first time it is needed, by the absolute path of the soname that the
 * build found (ST_XGBOOST_LIBRARY, ST_OPENBLAS_LIBRARY, set by
 * CMakeLists.txt), and the functions called are resolved once into a
 * table. The prototypes come from the headers the build compiled against:
 * a member's type is its function's.
 *
 * The sandboxed runtime cannot read the libraries' files (Landlock): the
 * job
 * controller loads what the job needs before the sandbox is entered
 * (src/job/run.c), and the runtime inherits the loaded libraries through
 * fork. The libraries' own start (OpenMP's and OpenBLAS's thread counts,
 * read from the CPUs and the environment when they load) thus happens in
 * the controller, as it did at its start when they were linked.
 *
 * Never: load a library named by the environment or by input; unload one.
 */
#ifndef ST_TRAIN_EXTLIB_H
#define ST_TRAIN_EXTLIB_H

#include <cblas.h>
#include <xgboost/c_api.h>

#include "sealtrain/err.h"

/* The functions gbdt.c calls. */
#define ST_XGB_FUNCTIONS(X)                                                    \
    X(XGBGetLastError)                                                         \
    X(XGBRegisterLogCallback)                                                  \
    X(XGBSetGlobalConfig)                                                      \
    X(XGDMatrixCreateFromMat_omp)                                              \
    X(XGDMatrixSetFloatInfo)                                                   \
    X(XGDMatrixFree)                                                           \
    X(XGBoosterCreate)                                                         \
    X(XGBoosterFree)                                                           \
    X(XGBoosterSetParam)                                                       \
    X(XGBoosterUpdateOneIter)                                                  \
    X(XGBoosterEvalOneIter)                                                    \
    X(XGBoosterPredictFromDMatrix)                                             \
    X(XGBoosterPredictFromDense)                                               \
    X(XGBoosterSlice)                                                          \
    X(XGBoosterFeatureScore)                                                   \
    X(XGBoosterSaveModelToBuffer)                                              \
    X(XGBoosterLoadModelFromBuffer)                                            \
    X(XGBoosterGetNumFeature)                                                  \
    X(XGBoosterBoostedRounds)

/* The functions trainer.c calls. */
#define ST_BLAS_FUNCTIONS(X)                                                   \
    X(cblas_sgemm)                                                             \
    X(openblas_set_num_threads)

/* Each member has its function's type and name. */
#define ST_EXTLIB_MEMBER(name) __typeof__(name) *name;
typedef struct st_xgb_api {
    ST_XGB_FUNCTIONS(ST_EXTLIB_MEMBER)
} st_xgb_api;
typedef struct st_blas_api {
    ST_BLAS_FUNCTIONS(ST_EXTLIB_MEMBER)
} st_blas_api;
#undef ST_EXTLIB_MEMBER

/* Load the library and resolve its table, once per process (any thread;
 * later calls return the first one's result). ST_E_IO (exit 5) naming
 * the library's path and dlerror()'s reason when it cannot be loaded or
 * lacks a function. */
ST_MUST_CHECK st_code st_xgb_load(st_err *err);
ST_MUST_CHECK st_code st_blas_load(st_err *err);

/* The tables, after the load returned ST_OK in this process (or in the
 * process it was forked from); NULL before. Valid until the process
 * ends. */
const st_xgb_api *st_xgb(void);
const st_blas_api *st_blas(void);

#endif
