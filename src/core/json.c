/*
 * json.c: parsing with located errors, canonical serialisation and strict
 * field access on top of jansson.
 */
#include "sealtrain/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/fs.h"

/* Failed allocations of jansson in this thread. Its lexer does not
 * report every one (nor does its dumper: st_json_dumps): a failure to grow its token buffer is ignored
 * (lex_save), the token loses a character, and a document without the key
 * it held comes back ("not a sealtrain keyring"); one inside a string is
 * reported as a syntax error. Errno cannot tell either: the number lexer
 * clears it. So jansson allocates through this, which counts. */
static _Thread_local unsigned long json_alloc_failures;

static void *json_counting_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        json_alloc_failures++;
    return p;
}

/* before main, while one thread runs: every jansson value is allocated
 * through the same malloc, so values made earlier free the same way */
__attribute__((constructor)) static void json_alloc_install(void)
{
    json_set_alloc_funcs(json_counting_malloc, free);
}

json_t *st_json_parse(const char *text, size_t len, const char *origin,
                      st_err *err)
{
    json_error_t je;
    unsigned long failures = json_alloc_failures;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    /* running out of memory is the system failing us, not bad input; and
     * what jansson returned after a failed allocation may have lost a
     * character (see above): it is not the document */
    if (json_alloc_failures != failures ||
        (!v && json_error_code(&je) == json_error_out_of_memory)) {
        json_decref(v);
        v = NULL;
        st_err_errno(err, ST_E_IO, ENOMEM, "%s: parsing JSON",
                     origin ? origin : "<json>");
    } else if (!v)
        st_err_at(err, ST_E_INPUT, origin ? origin : "<json>", je.line,
                  je.column, "invalid JSON: %s", je.text);
    return v;
}

json_t *st_json_load_file(const char *path, size_t max, st_err *err)
{
    unsigned char *buf;
    size_t len;
    if (st_fs_read_all(path, max, &buf, &len, err) != ST_OK)
        return NULL;
    json_t *v = st_json_parse((const char *)buf, len, path, err);
    free(buf);
    return v;
}

static int has_real(const json_t *v)
{
    if (json_is_real(v))
        return 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (has_real(x))
                return 1;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (has_real(x))
                return 1;
        }
    }
    return 0;
}

unsigned long st_json_alloc_failures(void)
{
    return json_alloc_failures;
}

char *st_json_dumps(const json_t *v, size_t flags)
{
    unsigned long failures = json_alloc_failures;
    char *s = json_dumps(v, flags);
    if (s && json_alloc_failures != failures) {
        free(s);
        s = NULL;
    }
    if (!s && json_alloc_failures != failures)
        errno = ENOMEM;
    return s;
}

char *st_json_canonical(const json_t *v, size_t *len, st_err *err)
{
    if (has_real(v)) {
        st_err_set(err, ST_E_INTERNAL,
                   "canonical JSON cannot hold real numbers; encode them as "
                   "strings");
        return NULL;
    }
    char *s = st_json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s) {
        /* with JSON_ENCODE_ANY and no reals, only an allocation fails */
        st_err_errno(err, ST_E_IO, ENOMEM, "serialising JSON");
        return NULL;
    }
    if (len)
        *len = strlen(s);
    return s;
}

st_code st_json_check_keys(const json_t *obj, const char *const *allowed,
                           const char *where, st_err *err)
{
    if (!json_is_object(obj))
        return st_err_set(err, ST_E_INPUT, "%s: must be a JSON object", where);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0)
                ok = 1;
        if (!ok) {
            char list[512] = "";
            size_t n = 0;
            for (const char *const *a = allowed; *a && n < sizeof(list); a++)
                n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
                                      n ? ", " : "", *a);
            return st_err_set(err, ST_E_INPUT,
                              "%s: unknown key \"%s\" (allowed: %s)", where, k,
                              list);
        }
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code missing(const char *key, int required,
                                     const char *where, st_err *err)
{
    if (required)
        return st_err_set(err, ST_E_INPUT, "%s: missing required key \"%s\"",
                          where, key);
    return ST_OK;
}

st_code st_json_get_string(const json_t *obj, const char *key, int required,
                           const char **out, const char *where, st_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return missing(key, required, where, err);
    if (!json_is_string(v))
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" must be a string", where,
                          key);
    *out = json_string_value(v);
    return ST_OK;
}

st_code st_json_get_int(const json_t *obj, const char *key, int required,
                        long long min, long long max, long long *out,
                        const char *where, st_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return missing(key, required, where, err);
    if (!json_is_integer(v))
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" must be an integer",
                          where, key);
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" is %lld, outside [%lld, %lld]", where,
                          key, x, min, max);
    *out = x;
    return ST_OK;
}

st_code st_json_get_number(const json_t *obj, const char *key, int required,
                           double min, double max, double *out,
                           const char *where, st_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return missing(key, required, where, err);
    if (!json_is_number(v))
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" must be a number", where,
                          key);
    double x = json_number_value(v);
    if (!(x >= min && x <= max))
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" is %g, outside [%g, %g]",
                          where, key, x, min, max);
    *out = x;
    return ST_OK;
}

st_code st_json_get_bool(const json_t *obj, const char *key, int required,
                         int *out, const char *where, st_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return missing(key, required, where, err);
    if (!json_is_boolean(v))
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" must be true or false",
                          where, key);
    *out = json_is_true(v);
    return ST_OK;
}

int st_json_array_has_string(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), s))
            return 1;
    }
    return 0;
}

const char *st_json_path_string(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}
