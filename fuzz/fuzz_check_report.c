/*
 * fuzz_check_report.c: libFuzzer harness for the checklist a server
 * answers to `sealtrain check --server` (GET /v1/check), which the client
 * reads back into items (st_check_from_json) before printing or writing
 * its HTML report. Property: no crash or leak; an accepted report prints
 * back through st_check_json with the same number of items.
 */
#include <stdint.h>
#include <stdlib.h>

#include <sealtrain/sealtrain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    st_check_item *items = NULL;
    size_t n = 0;
    if (j && st_check_from_json(j, &items, &n, NULL) == ST_OK) {
        json_t *back = st_check_json(items, n);
        if (json_array_size(json_object_get(back, "items")) != n)
            abort();
        json_decref(back);
    }
    free(items);
    json_decref(j);
    return 0;
}
