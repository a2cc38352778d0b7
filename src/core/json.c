/*
 * json.c: parsing with located errors, canonical serialisation and strict
 * field access on top of jansson.
 */
#include "sealtrain/json.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/fs.h"

/* Failed allocations of jansson in this thread. Its lexer does not
 * report every one (nor does its dumper: st_json_dumps): a failure to grow its
 * token buffer is ignored (lex_save), the token loses a character, and a
 * document without the key it held comes back ("not a sealtrain keyring"); one
 * inside a string is reported as a syntax error. Errno cannot tell either: the
 * number lexer clears it. So jansson allocates through this, which counts. */
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

/* The dumper behind st_json_dumps. jansson's own costs 6 ns a byte (it
 * checks every character as UTF-8, writes through a callback, and records
 * each object and array it enters in a hash table to find cycles): the 3 KB
 * audit entry of a key release took 40 us of the release's CPU, inside the
 * audit log's lock. This one writes what jansson 2.14's json_dumps writes,
 * byte for byte (tests/unit/test_core.c and fuzz/fuzz_json_dump.c compare
 * the two), for the flags sealtrain serialises with: compact, keys sorted
 * or in insertion order, any value at the top. Anything else it hands to
 * jansson whole: other flags, a real number, a string or key with a byte
 * outside ASCII (jansson checks it as UTF-8), nesting deeper than
 * JW_MAX_DEPTH (jansson fails a cycle, and takes any depth that is not). */
#define JW_MAX_DEPTH 256
#define JW_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

typedef struct {
    char *p;
    size_t len, cap;
    int oom;    /* an allocation failed */
    int refuse; /* jansson has to write this document */
} json_writer;

static int jw_reserve(json_writer *w, size_t n)
{
    if (w->oom || w->refuse)
        return -1;
    if (n <= w->cap - w->len)
        return 0;
    size_t cap = w->cap ? w->cap : 1024;
    while (cap - w->len < n) {
        if (cap > SIZE_MAX / 2) {
            w->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(w->p, cap);
    if (!p) {
        w->oom = 1;
        return -1;
    }
    w->p = p;
    w->cap = cap;
    return 0;
}

static void jw_put(json_writer *w, const char *s, size_t n)
{
    if (jw_reserve(w, n) == 0) {
        memcpy(w->p + w->len, s, n);
        w->len += n;
    }
}

/* A JSON string of ASCII text: '"' and '\\' escaped, control characters
 * as jansson writes them (\b \f \n \r \t, else \u00XX in capitals). */
static void jw_string(json_writer *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* at most 6 bytes for each of the n, and the quotes */
    if (n > (SIZE_MAX - 2) / 6) {
        w->oom = 1;
        return;
    }
    if (jw_reserve(w, 6 * n + 2) != 0)
        return;
    char *o = w->p + w->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (c >= 0x80) {
            w->refuse = 1;
            return;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\': *o++ = (char)c; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->p);
}

typedef struct {
    const char *key;
    size_t len;
    json_t *value;
} jw_member;

/* jansson's order: bytewise over the shorter length, then the shorter */
static int jw_member_cmp(const void *a, const void *b)
{
    const jw_member *x = a, *y = b;
    int r = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static void jw_value(json_writer *w, const json_t *v, size_t flags, int depth)
{
    if (w->oom || w->refuse)
        return;
    if (depth > JW_MAX_DEPTH) {
        w->refuse = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_NULL: jw_put(w, "null", 4); return;
    case JSON_TRUE: jw_put(w, "true", 4); return;
    case JSON_FALSE: jw_put(w, "false", 5); return;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        unsigned long long m =
            i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
        char b[24], *e = b + sizeof(b), *q = e;
        do
            *--q = (char)('0' + m % 10);
        while (m /= 10);
        if (i < 0)
            *--q = '-';
        jw_put(w, q, (size_t)(e - q));
        return;
    }
    case JSON_STRING:
        jw_string(w, json_string_value(v), json_string_length(v));
        return;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        jw_put(w, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                jw_put(w, ",", 1);
            jw_value(w, json_array_get(v, i), flags, depth + 1);
        }
        jw_put(w, "]", 1);
        return;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        jw_member few[16], *m = n <= 16 ? few : malloc(n * sizeof(*m));
        if (!m) {
            w->oom = 1;
            return;
        }
        size_t k = 0;
        for (void *it = json_object_iter((json_t *)v); it && k < n;
             it = json_object_iter_next((json_t *)v, it), k++) {
            m[k].key = json_object_iter_key(it);
            m[k].len = json_object_iter_key_len(it);
            m[k].value = json_object_iter_value(it);
        }
        if (flags & JSON_SORT_KEYS)
            qsort(m, k, sizeof(*m), jw_member_cmp);
        jw_put(w, "{", 1);
        for (size_t i = 0; i < k; i++) {
            if (i)
                jw_put(w, ",", 1);
            jw_string(w, m[i].key, m[i].len);
            jw_put(w, ":", 1);
            jw_value(w, m[i].value, flags, depth + 1);
        }
        jw_put(w, "}", 1);
        if (m != few)
            free(m);
        return;
    }
    default: /* a real: its text is jansson's */ w->refuse = 1;
    }
}

char *st_json_dumps(const json_t *v, size_t flags)
{
    if (v && (flags & JSON_COMPACT) &&
        !(flags & ~(size_t)(JW_FLAGS | JSON_REAL_PRECISION(0x1F)))) {
        if (!(flags & JSON_ENCODE_ANY) && !json_is_array(v) &&
            !json_is_object(v))
            return NULL;
        json_writer w = {0};
        jw_value(&w, v, flags, 0);
        jw_put(&w, "", 1);
        if (!w.oom && !w.refuse)
            return w.p;
        free(w.p);
        if (w.oom) {
            errno = ENOMEM;
            return NULL;
        }
    }
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
