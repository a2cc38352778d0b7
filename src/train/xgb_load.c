/*
 * xgb_load.c: opens libxgboost at first use and resolves the functions
 * gbdt.c calls (xgb_load.h says why). One pthread_once: the first caller
 * loads, every other waits for it and gets the same result; a failure is
 * kept too (a missing library does not appear later in the process).
 *
 * Never: load anything but ST_XGBOOST_LIBRARY, fixed at build time; close
 * the library (XGBoost keeps global state and threads).
 */
#include "train/xgb_load.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#ifndef ST_XGBOOST_LIBRARY
#error "ST_XGBOOST_LIBRARY: the path of libxgboost's soname (CMakeLists.txt)"
#endif

static pthread_once_t xgb_once = PTHREAD_ONCE_INIT;
static st_xgb_api xgb_table;
static const st_xgb_api *xgb_loaded; /* &xgb_table once complete */
static char xgb_why[400];            /* the reason it is not */

/* One function by name into its member; 0 and the reason when missing. */
static int resolve(void *lib, const char *name, void **slot)
{
    dlerror();
    *slot = dlsym(lib, name);
    if (*slot)
        return 1;
    const char *e = dlerror();
    snprintf(xgb_why, sizeof(xgb_why), "%s: no function %s: %s",
             ST_XGBOOST_LIBRARY, name, e ? e : "not found");
    return 0;
}

static void xgb_open(void)
{
    void *lib = dlopen(ST_XGBOOST_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(xgb_why, sizeof(xgb_why), "%s", e ? e : ST_XGBOOST_LIBRARY);
        return;
    }
    st_xgb_api *t = &xgb_table;
    /* POSIX: a function's address through void * (dlsym(3)) */
#define ST_XGB_RESOLVE(name)                                                   \
    if (!resolve(lib, #name, (void **)&t->name))                               \
        return;
    ST_XGB_FUNCTIONS(ST_XGB_RESOLVE)
#undef ST_XGB_RESOLVE
    xgb_loaded = t;
}

st_code st_xgb_load(st_err *err)
{
    pthread_once(&xgb_once, xgb_open);
    if (xgb_loaded)
        return ST_OK;
    return st_err_set(err, ST_E_IO,
                      "gradient-boosted trees need XGBoost, which cannot be "
                      "loaded (libxgboost0): %s",
                      xgb_why);
}

const st_xgb_api *st_xgb(void)
{
    return xgb_loaded;
}
