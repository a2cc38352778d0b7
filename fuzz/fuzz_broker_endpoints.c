/*
 * fuzz_broker_endpoints.c: the job controller's remote key broker
 * configuration (src/broker/remote.h, src/broker/remote.c) on arbitrary
 * bytes. What it accepts has https:// URLs without a trailing slash,
 * non-empty paths under the base directory and bounded timeouts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_err e;
    st_broker_endpoint *eps = NULL;
    size_t n = 0;
    if (st_broker_endpoints_parse((const char *)data, size, "fuzz", "/base",
                                  &eps, &n, &e) != ST_OK)
        return 0;
    if (n == 0 || n > ST_BROKER_MAX_ENDPOINTS)
        abort();
    for (size_t i = 0; i < n; i++) {
        size_t ul = strlen(eps[i].url);
        if (strncmp(eps[i].url, "https://", 8) != 0 ||
            (ul > 8 && eps[i].url[ul - 1] == '/') || !eps[i].cert[0] ||
            !eps[i].key[0] || eps[i].connect_timeout_ms < 1000 ||
            eps[i].connect_timeout_ms > 30000 || eps[i].timeout_ms < 1000 ||
            eps[i].timeout_ms > 40000)
            abort();
        for (size_t j = 0; j < i; j++)
            if (!strcmp(eps[i].url, eps[j].url))
                abort();
    }
    free(eps);
    return 0;
}
