/*
 * curl.h: libcurl, loaded at first use instead of linked. Only HTTPS
 * clients use it: the CLI's --server (src/cli/remote.c) and the job
 * controller's client of other owners' brokers (src/broker/remote.c).
 * Linked, libcurl and the ~25 libraries it needs (GnuTLS, Kerberos,
 * LDAP, SSH, ...) cost every command ~12,000 symbol relocations at start.
 * It is opened with dlopen(3) by the absolute path of the soname the
 * build found (ST_CURL_LIBRARY, CMakeLists.txt), through the loader of
 * src/core/dynlib.h, and curl_global_init runs once inside that load.
 *
 * The table's members are curl's functions without the curl_ prefix
 * (easy_setopt is curl_easy_setopt), each with its function's type from
 * <curl/curl.h>: called through the table, curl_easy_setopt and
 * curl_easy_getinfo are the variadic functions themselves, not the
 * macros of curl's typecheck-gcc.h, so pass each option the type curl
 * documents for it (long, curl_off_t, a pointer). global_init is called
 * by the load; call it no more.
 *
 * The sandboxed runtime never uses it (it has no network).
 */
#ifndef SEALTRAIN_CURL_H
#define SEALTRAIN_CURL_H

#include <curl/curl.h>

#include "sealtrain/err.h"

/* The functions called, without their curl_ prefix. */
#define ST_CURL_FUNCTIONS(X)                                                   \
    X(global_init)                                                             \
    X(easy_init)                                                               \
    X(easy_setopt)                                                             \
    X(easy_getinfo)                                                            \
    X(easy_perform)                                                            \
    X(easy_header)                                                             \
    X(easy_strerror)                                                           \
    X(easy_cleanup)                                                            \
    X(slist_append)                                                            \
    X(slist_free_all)

#define ST_CURL_MEMBER(name) __typeof__(curl_##name) *name;
typedef struct st_curl_api {
    ST_CURL_FUNCTIONS(ST_CURL_MEMBER)
} st_curl_api;
#undef ST_CURL_MEMBER

/* Load libcurl, resolve the table and run curl_global_init, once per
 * process (any thread; later calls return the first one's result).
 * ST_E_IO (exit 5) naming the library's path and dlerror()'s reason (or
 * curl_global_init's) when it cannot be loaded. On ST_OK, *api is the
 * table, valid until the process ends. */
ST_MUST_CHECK st_code st_curl_load(const st_curl_api **api, st_err *err);

#endif
