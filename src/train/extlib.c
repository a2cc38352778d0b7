/*
 * extlib.c: opens XGBoost and OpenBLAS at first use and resolves the
 * functions training calls (extlib.h says why). One pthread_once per
 * library: the first caller loads, every other waits for it and gets the
 * same result; a failure is kept too (a library missing now does not
 * appear later in the process).
 *
 * Never: load anything but the paths fixed at build time; close a library
 * (both keep global state and threads).
 */
#include "train/extlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#if !defined(ST_XGBOOST_LIBRARY) || !defined(ST_OPENBLAS_LIBRARY)
#error "ST_XGBOOST_LIBRARY, ST_OPENBLAS_LIBRARY: the paths (CMakeLists.txt)"
#endif

/* One library: where it is, what needs it, and how its load went. */
struct extlib {
    const char *path;
    const char *needed_by; /* for the error */
    const char *package;   /* Debian's */
    pthread_once_t once;
    int loaded;
    char why[400];
};

/* Opens l->path and resolves names[i] into *slots[i] (n of them); sets
 * l->loaded, or l->why. */
static void extlib_open(struct extlib *l, const char *const *names,
                        void **const *slots, size_t n)
{
    void *lib = dlopen(l->path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(l->why, sizeof(l->why), "%s", e ? e : l->path);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        dlerror();
        /* POSIX: a function's address through void * (dlsym(3)) */
        *slots[i] = dlsym(lib, names[i]);
        if (!*slots[i]) {
            const char *e = dlerror();
            snprintf(l->why, sizeof(l->why), "%s: no function %s: %s", l->path,
                     names[i], e ? e : "not found");
            return;
        }
    }
    l->loaded = 1;
}

/* The library loaded by `open` (once), or why not. */
static st_code extlib_load(struct extlib *l, void (*open)(void), st_err *err)
{
    pthread_once(&l->once, open);
    if (l->loaded)
        return ST_OK;
    return st_err_set(err, ST_E_IO, "%s, which cannot be loaded (%s): %s",
                      l->needed_by, l->package, l->why);
}

#define ST_EXTLIB_NAME(name) #name,
#define ST_EXTLIB_SLOT(name) (void **)&TABLE.name,

static st_xgb_api xgb_table;
static struct extlib xgb_lib = {.path = ST_XGBOOST_LIBRARY,
                                .needed_by =
                                    "gradient-boosted trees need XGBoost",
                                .package = "libxgboost0",
                                .once = PTHREAD_ONCE_INIT};

static void xgb_open(void)
{
#define TABLE xgb_table
    static const char *const names[] = {ST_XGB_FUNCTIONS(ST_EXTLIB_NAME)};
    void **const slots[] = {ST_XGB_FUNCTIONS(ST_EXTLIB_SLOT)};
#undef TABLE
    extlib_open(&xgb_lib, names, slots, sizeof(names) / sizeof(*names));
}

st_code st_xgb_load(st_err *err)
{
    return extlib_load(&xgb_lib, xgb_open, err);
}

const st_xgb_api *st_xgb(void)
{
    return xgb_lib.loaded ? &xgb_table : NULL;
}

static st_blas_api blas_table;
static struct extlib blas_lib = {.path = ST_OPENBLAS_LIBRARY,
                                 .needed_by =
                                     "the training engine needs OpenBLAS",
                                 .package = "libopenblas0-pthread",
                                 .once = PTHREAD_ONCE_INIT};

static void blas_open(void)
{
#define TABLE blas_table
    static const char *const names[] = {ST_BLAS_FUNCTIONS(ST_EXTLIB_NAME)};
    void **const slots[] = {ST_BLAS_FUNCTIONS(ST_EXTLIB_SLOT)};
#undef TABLE
    extlib_open(&blas_lib, names, slots, sizeof(names) / sizeof(*names));
}

st_code st_blas_load(st_err *err)
{
    return extlib_load(&blas_lib, blas_open, err);
}

const st_blas_api *st_blas(void)
{
    return blas_lib.loaded ? &blas_table : NULL;
}
