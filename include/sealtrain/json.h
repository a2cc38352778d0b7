/*
 * sealtrain/json.h: JSON through jansson, and canonical JSON.
 *
 * Canonical JSON (for everything that is hashed or signed): object keys
 * sorted bytewise, no insignificant whitespace, UTF-8 as is, integers only
 * (st_json_canonical rejects reals, whose text form is not canonical).
 */
#ifndef SEALTRAIN_JSON_H
#define SEALTRAIN_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parses `len` bytes; errors name `origin` (a file name or "<stdin>"),
 * line and column. Duplicate object keys are rejected. */
json_t *st_json_parse(const char *text, size_t len, const char *origin,
                      st_err *err);
/* Reads and parses a file of at most `max` bytes. */
json_t *st_json_load_file(const char *path, size_t max, st_err *err);

/* How many of jansson's allocations failed in this thread so far: taken
 * before and after building a document, a difference means the document
 * is not what was asked for (jansson reports some failures as something
 * else, and ignores others). */
unsigned long st_json_alloc_failures(void);

/* What json_dumps writes, byte for byte, malloc'ed (free it), faster for
 * compact output (flags JSON_COMPACT, with or without JSON_SORT_KEYS and
 * JSON_ENCODE_ANY: sealtrain's own writer; other flags, reals and text
 * outside ASCII go to jansson's). NULL (errno ENOMEM) when an allocation
 * failed on the way: jansson's dumper does not always stop then (a failed
 * key drops a byte: "outcome:"success""), so what it returned is not the
 * document. */
char *st_json_dumps(const json_t *v, size_t flags);

/* Canonical serialisation; malloc'ed, NUL-terminated; *len excludes NUL. */
char *st_json_canonical(const json_t *v, size_t *len, st_err *err);

/* Checks that every key of `obj` is in the NULL-terminated `allowed` list;
 * the error names `where` and the unknown key. */
ST_MUST_CHECK st_code st_json_check_keys(const json_t *obj,
                                         const char *const *allowed,
                                         const char *where, st_err *err);

/* Typed getters with clear errors ("<where>: \"key\" must be a string").
 * `required` == 0 leaves *out unchanged when the key is absent. */
ST_MUST_CHECK st_code st_json_get_string(const json_t *obj, const char *key,
                                         int required, const char **out,
                                         const char *where, st_err *err);
ST_MUST_CHECK st_code st_json_get_int(const json_t *obj, const char *key,
                                      int required, long long min,
                                      long long max, long long *out,
                                      const char *where, st_err *err);
ST_MUST_CHECK st_code st_json_get_number(const json_t *obj, const char *key,
                                         int required, double min, double max,
                                         double *out, const char *where,
                                         st_err *err);
ST_MUST_CHECK st_code st_json_get_bool(const json_t *obj, const char *key,
                                       int required, int *out,
                                       const char *where, st_err *err);

/* 1 if `arr` is an array holding the string `s`. */
int st_json_array_has_string(const json_t *arr, const char *s);
/* The string at obj[a] (or obj[a][b] when b is not NULL), or NULL when
 * absent or not a string. */
const char *st_json_path_string(const json_t *obj, const char *a,
                                const char *b);

#ifdef __cplusplus
}
#endif
#endif
