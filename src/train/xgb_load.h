/*
 * xgb_load.h: XGBoost's C API, loaded at first use instead of linked.
 *
 * Only a gbdt job's runtime, a gbdt model's predictions and evaluations
 * call XGBoost (gbdt.c). Linked into every process, libxgboost and what it
 * needs (libdmlc, libstdc++, libgomp: ~32,000 relocations and their static
 * constructors) cost each CLI command ~10 ms at start. So the library is
 * opened with dlopen(3) the first time it is needed, by the absolute path
 * of the soname that the build found (ST_XGBOOST_LIBRARY, set by
 * CMakeLists.txt), and the functions gbdt.c calls are resolved once into
 * a table. The prototypes come from the same <xgboost/c_api.h> the build
 * compiled against: a member's type is its function's.
 *
 * The sandboxed runtime cannot read the library's files (Landlock, and
 * seccomp has no openat for it): the job controller loads it before the
 * sandbox is entered, for a gbdt job or a model use (src/job/run.c), and
 * the runtime inherits the loaded library through fork.
 *
 * Never: load a library named by the environment or by input; unload it.
 */
#ifndef ST_TRAIN_XGB_LOAD_H
#define ST_TRAIN_XGB_LOAD_H

#include <xgboost/c_api.h>

#include "sealtrain/err.h"

/* The functions gbdt.c calls; each member has its function's type. */
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

#define ST_XGB_MEMBER(name) __typeof__(name) *name;
typedef struct st_xgb_api {
    ST_XGB_FUNCTIONS(ST_XGB_MEMBER)
} st_xgb_api;
#undef ST_XGB_MEMBER

/* Loads the library and resolves the table, once per process (any thread;
 * later calls return the first one's result). ST_E_IO (exit 5) naming the
 * library's path and dlerror()'s reason when it cannot be loaded or lacks
 * a function. */
ST_MUST_CHECK st_code st_xgb_load(st_err *err);

/* The table, after st_xgb_load returned ST_OK in this process (or in the
 * process it was forked from); NULL before. Valid until the process
 * ends. */
const st_xgb_api *st_xgb(void);

#endif
