/*
 * fuzz_json_dump.c: st_json_dumps (src/core/json.c, sealtrain's compact
 * writer) against jansson's json_dumps on arbitrary documents: the same
 * bytes, or both failing, for every flag set. Bytes that do not parse are
 * taken as one string, unchecked (text that is not UTF-8).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/json.h"

static const size_t flags[] = {
    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY,
    JSON_COMPACT | JSON_SORT_KEYS,
    JSON_COMPACT | JSON_ENCODE_ANY,
    JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *v = json_loadb((const char *)data, size,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        v = json_stringn_nocheck((const char *)data, size);
    for (size_t f = 0; v && f < sizeof(flags) / sizeof(flags[0]); f++) {
        char *ours = st_json_dumps(v, flags[f]);
        char *theirs = json_dumps(v, flags[f]);
        if ((!ours) != (!theirs) || (ours && strcmp(ours, theirs) != 0)) {
            fprintf(stderr, "flags %#zx:\n  ours    %s\n  jansson %s\n",
                    flags[f], ours ? ours : "(failed)",
                    theirs ? theirs : "(failed)");
            abort();
        }
        free(ours);
        free(theirs);
    }
    json_decref(v);
    return 0;
}
