/*
 * err.c: the st_err type (see include/sealtrain/err.h).
 *
 * Messages are truncated, never overflowed: every write goes through
 * vsnprintf into the fixed buffers of st_err.
 */
#include "sealtrain/err.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void st_err_clear(st_err *err)
{
    if (!err)
        return;
    err->code = ST_OK;
    err->msg[0] = '\0';
    err->where[0] = '\0';
}

__attribute__((format(printf, 3, 0))) static void
set_va(st_err *err, st_code code, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

st_code st_err_set(st_err *err, st_code code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    set_va(err, code, fmt, ap);
    va_end(ap);
    err->where[0] = '\0';
    return code;
}

st_code st_err_at(st_err *err, st_code code, const char *file, long line,
                  long col, const char *fmt, ...)
{
    if (!err)
        return code;
    char why[ST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);

    const char *f = file ? file : "<input>";
    if (line > 0 && col > 0)
        snprintf(err->where, sizeof(err->where), "%s:%ld:%ld", f, line, col);
    else if (line > 0)
        snprintf(err->where, sizeof(err->where), "%s:%ld", f, line);
    else
        snprintf(err->where, sizeof(err->where), "%s", f);
    err->code = code;
    snprintf(err->msg, sizeof(err->msg), "%s: %s", err->where, why);
    return code;
}

st_code st_err_errno(st_err *err, st_code code, int errnum, const char *fmt,
                     ...)
{
    if (!err)
        return code;
    char what[ST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    err->code = code;
    err->where[0] = '\0';
    snprintf(err->msg, sizeof(err->msg), "%s: %s", what, strerror(errnum));
    return code;
}

/* Failed allocations of OpenSSL in this thread. OpenSSL 3 records an
 * allocation failure on its error queue in some places only: a fetch or
 * a decoder that runs out of memory reports "unsupported", "fetch failed"
 * or nothing at all, which read as a bad key or an unknown algorithm. So
 * OpenSSL allocates through this, which counts (as jansson does, see
 * json.c). */
static _Thread_local unsigned long ossl_alloc_failures;
/* the count the previous st_err_openssl of this thread saw */
static _Thread_local unsigned long ossl_alloc_seen;

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    void *p = malloc(n);
    if (!p && n)
        ossl_alloc_failures++;
    return p;
}

static void *ossl_realloc(void *q, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    void *p = realloc(q, n);
    if (!p && n)
        ossl_alloc_failures++;
    return p;
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

/* before main, before OpenSSL allocated anything (it refuses the change
 * afterwards: then nothing is counted, and errors read as before) */
__attribute__((constructor)) static void ossl_alloc_install(void)
{
    (void)CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
}

unsigned long st_openssl_alloc_failures(void)
{
    return ossl_alloc_failures;
}

int st_openssl_out_of_memory(void)
{
    unsigned long e = ERR_peek_last_error();
    return (e && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE) ||
           ossl_alloc_failures != ossl_alloc_seen;
}

st_code st_err_openssl(st_err *err, st_code code, const char *fmt, ...)
{
    int oom = st_openssl_out_of_memory();
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "no reason given by OpenSSL";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    ossl_alloc_seen = ossl_alloc_failures;
    if (oom)
        code = ST_E_IO;
    if (!err)
        return code;
    char what[ST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    err->code = code;
    err->where[0] = '\0';
    if (oom)
        snprintf(err->msg, sizeof(err->msg), "%s: out of memory (%s)", what,
                 reason);
    else
        snprintf(err->msg, sizeof(err->msg), "%s (%s)", what, reason);
    return code;
}

st_code st_err_prefix(st_err *err, const char *fmt, ...)
{
    if (!err)
        return ST_E_INTERNAL;
    char ctx[ST_ERR_MSG_MAX];
    char old[ST_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old);
    return err->code;
}

const char *st_code_name(st_code code)
{
    switch (code) {
    case ST_OK: return "ok";
    case ST_E_USAGE: return "usage";
    case ST_E_INPUT: return "input";
    case ST_E_DENIED: return "denied";
    case ST_E_NOTFOUND: return "not-found";
    case ST_E_EXISTS: return "exists";
    case ST_E_IO: return "io";
    case ST_E_INTERNAL: return "internal";
    case ST_E_CANCELLED: return "cancelled";
    }
    return "unknown";
}

int st_code_exit_status(st_code code)
{
    switch (code) {
    case ST_OK: return 0;
    case ST_E_USAGE: return 2;
    case ST_E_INPUT:
    case ST_E_NOTFOUND:
    case ST_E_EXISTS: return 3;
    case ST_E_DENIED: return 4;
    case ST_E_IO:
    case ST_E_INTERNAL: return 5;
    case ST_E_CANCELLED: return 6;
    }
    return 5;
}
