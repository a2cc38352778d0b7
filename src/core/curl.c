/*
 * curl.c: opens libcurl at first use, resolves the functions the HTTPS
 * clients call and initialises it (include/sealtrain/curl.h says why),
 * through core/dynlib.h.
 *
 * Never: load anything but the path fixed at build time; close libcurl
 * or call curl_global_cleanup (handles may live until the process ends).
 */
#include "sealtrain/curl.h"

#include <stdio.h>

#include "core/dynlib.h"

#ifndef ST_CURL_LIBRARY
#error "ST_CURL_LIBRARY: the path (CMakeLists.txt)"
#endif

static st_curl_api curl_table;
static st_dynlib curl_lib = {.path = ST_CURL_LIBRARY,
                             .needed_by = "HTTPS (--server, remote brokers) "
                                          "needs libcurl",
                             .package = "libcurl4",
                             .once = PTHREAD_ONCE_INIT};

#define CURL_NAME(name) "curl_" #name,

static void curl_open(void)
{
#define TABLE curl_table
    static const char *const names[] = {ST_CURL_FUNCTIONS(CURL_NAME)};
    void **const slots[] = {ST_CURL_FUNCTIONS(ST_DYNLIB_SLOT)};
#undef TABLE
    st_dynlib_open(&curl_lib, names, slots, sizeof(names) / sizeof(*names));
    if (!curl_lib.loaded)
        return;
    /* here, under the once: curl_global_init is not safe to race */
    CURLcode rc = curl_table.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        curl_lib.loaded = 0;
        snprintf(curl_lib.why, sizeof(curl_lib.why), "%s: curl_global_init: %s",
                 curl_lib.path, curl_table.easy_strerror(rc));
    }
}

st_code st_curl_load(const st_curl_api **api, st_err *err)
{
    *api = NULL;
    st_code rc = st_dynlib_load(&curl_lib, curl_open, err);
    if (rc == ST_OK)
        *api = &curl_table;
    return rc;
}
