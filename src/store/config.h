/*
 * config.h (private to src/store): the workspace config file, config.json.
 *
 *   {"format": "sealtrain-workspace", "version": 1,
 *    "created": "2026-11-25T13:02:06Z",
 *    "protection": {"type": "passphrase" | "tpm" | "file",
 *                   "path": "/abs/key"}}        (path only for "file")
 *
 * The parser is strict (unknown keys, wrong types, a relative key path,
 * a path on a non-file protection are errors naming the place) and is
 * fuzzed by fuzz/fuzz_json_config.c. It never repairs a config.
 */
#ifndef SEALTRAIN_STORE_CONFIG_H
#define SEALTRAIN_STORE_CONFIG_H

#include "sealtrain/clock.h"
#include "sealtrain/workspace.h"

typedef struct st_ws_config {
    long long version;
    char created[ST_TIME_LEN];
    st_protect protect;
} st_ws_config;

ST_MUST_CHECK st_code st_ws_config_parse(const char *text, size_t len,
                                         const char *origin, st_ws_config *out,
                                         st_err *err);
/* Canonical JSON text plus a newline; malloc'ed. */
char *st_ws_config_serialize(const st_ws_config *cfg, size_t *len, st_err *err);

#endif
