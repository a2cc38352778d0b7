/*
 * dynlib.c: opens a library at first use and resolves a table of its
 * functions (dynlib.h). One pthread_once per library: the first caller
 * loads, every other waits for it and gets the same result.
 *
 * Never: load anything but the path the user fixed at build time; close a
 * library.
 */
#include "core/dynlib.h"

#include <dlfcn.h>
#include <stdio.h>

void st_dynlib_open(st_dynlib *l, const char *const *names, void **const *slots,
                    size_t n)
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

st_code st_dynlib_load(st_dynlib *l, void (*open)(void), st_err *err)
{
    pthread_once(&l->once, open);
    if (l->loaded)
        return ST_OK;
    return st_err_set(err, ST_E_IO, "%s, which cannot be loaded (%s): %s",
                      l->needed_by, l->package, l->why);
}
