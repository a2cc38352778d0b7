/*
 * fuzz_json_config.c: the workspace config loader (config.json,
 * src/store/config.c) on arbitrary bytes; what parses must round-trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_err e;
    st_ws_config c, c2;
    if (st_ws_config_parse((const char *)data, size, "fuzz", &c, &e) != ST_OK)
        return 0;
    size_t len;
    char *text = st_ws_config_serialize(&c, &len, &e);
    if (!text || st_ws_config_parse(text, len, "again", &c2, &e) != ST_OK ||
        c2.protect.kind != c.protect.kind ||
        strcmp(c2.protect.path, c.protect.path) != 0 ||
        strcmp(c2.created, c.created) != 0)
        abort();
    free(text);
    return 0;
}
