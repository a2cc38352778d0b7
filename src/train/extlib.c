/*
 * extlib.c: opens XGBoost and OpenBLAS at first use and resolves the
 * functions training calls (extlib.h says why), through core/dynlib.h
 * (once per process and library; a failure is kept too).
 *
 * Never: load anything but the paths fixed at build time; close a library
 * (both keep global state and threads).
 */
#include "train/extlib.h"

#include "core/dynlib.h"

#if !defined(ST_XGBOOST_LIBRARY) || !defined(ST_OPENBLAS_LIBRARY)
#error "ST_XGBOOST_LIBRARY, ST_OPENBLAS_LIBRARY: the paths (CMakeLists.txt)"
#endif

static st_xgb_api xgb_table;
static st_dynlib xgb_lib = {.path = ST_XGBOOST_LIBRARY,
                            .needed_by = "gradient-boosted trees need XGBoost",
                            .package = "libxgboost0",
                            .once = PTHREAD_ONCE_INIT};

static void xgb_open(void)
{
#define TABLE xgb_table
    static const char *const names[] = {ST_XGB_FUNCTIONS(ST_DYNLIB_NAME)};
    void **const slots[] = {ST_XGB_FUNCTIONS(ST_DYNLIB_SLOT)};
#undef TABLE
    st_dynlib_open(&xgb_lib, names, slots, sizeof(names) / sizeof(*names));
}

st_code st_xgb_load(st_err *err)
{
    return st_dynlib_load(&xgb_lib, xgb_open, err);
}

const st_xgb_api *st_xgb(void)
{
    return xgb_lib.loaded ? &xgb_table : NULL;
}

static st_blas_api blas_table;
static st_dynlib blas_lib = {.path = ST_OPENBLAS_LIBRARY,
                             .needed_by = "the training engine needs OpenBLAS",
                             .package = "libopenblas0-pthread",
                             .once = PTHREAD_ONCE_INIT};

static void blas_open(void)
{
#define TABLE blas_table
    static const char *const names[] = {ST_BLAS_FUNCTIONS(ST_DYNLIB_NAME)};
    void **const slots[] = {ST_BLAS_FUNCTIONS(ST_DYNLIB_SLOT)};
#undef TABLE
    st_dynlib_open(&blas_lib, names, slots, sizeof(names) / sizeof(*names));
}

st_code st_blas_load(st_err *err)
{
    return st_dynlib_load(&blas_lib, blas_open, err);
}

const st_blas_api *st_blas(void)
{
    return blas_lib.loaded ? &blas_table : NULL;
}
