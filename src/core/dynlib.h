/*
 * dynlib.h: a library opened at first use by a path fixed at build time,
 * its functions resolved once into a table (the loader that
 * train/extlib.c for XGBoost and OpenBLAS and core/curl.c for libcurl
 * share; each says why its library is not linked).
 *
 * A user declares one st_dynlib (path, what needs it, Debian's package,
 * PTHREAD_ONCE_INIT) and a table whose members have their functions'
 * types, and an open routine without arguments that calls
 * st_dynlib_open with the table's names and slots; st_dynlib_load runs
 * that routine once per process (any thread; the others wait for it) and
 * returns its result, a failure included (a library missing now does not
 * appear later in the process).
 *
 * Never: load a library named by the environment or by input; close one
 * (they keep global state and threads).
 */
#ifndef ST_CORE_DYNLIB_H
#define ST_CORE_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

#include "sealtrain/err.h"

typedef struct st_dynlib {
    const char *path;      /* absolute, the soname's (CMakeLists.txt) */
    const char *needed_by; /* for the error: "X needs Y" */
    const char *package;   /* Debian's */
    pthread_once_t once;
    int loaded;    /* set by st_dynlib_open; an open routine may clear it */
    char why[400]; /* and say why here */
} st_dynlib;

/* For an open routine: opens l->path and resolves names[i] into *slots[i]
 * (n of them); sets l->loaded, or l->why. */
void st_dynlib_open(st_dynlib *l, const char *const *names, void **const *slots,
                    size_t n);

/* The library loaded by `open` (once per process), or ST_E_IO (exit 5)
 * naming what needs it, the package, the path and dlerror()'s reason. */
ST_MUST_CHECK st_code st_dynlib_load(st_dynlib *l, void (*open)(void),
                                     st_err *err);

/* For the names and slots of a table from a list of X(name): the caller
 * defines TABLE as the table's variable. */
#define ST_DYNLIB_NAME(name) #name,
#define ST_DYNLIB_SLOT(name) (void **)&TABLE.name,

#endif
