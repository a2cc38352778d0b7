/*
 * sealtrain/err.h: the one error type of libsealtrain.
 *
 * Every fallible function takes a `st_err *err` as its last argument and
 * returns an st_code (ST_OK == 0 on success). On failure it fills *err with a
 * code, a message that reads "<what failed>: <why>" and, when the failure is
 * about a piece of input, the input location (file:line:column of the user's
 * file, never of our source). Callers add context on the way up with
 * st_err_prefix(); the CLI prints the message once. `err` may be NULL when
 * the caller does not care about the text.
 */
#ifndef SEALTRAIN_ERR_H
#define SEALTRAIN_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Codes. Each maps to one documented exit status of the CLI (docs/cli.md). */
typedef enum st_code {
    ST_OK = 0,
    ST_E_USAGE,  /* wrong use of a command or an API: exit 2 */
    ST_E_INPUT,  /* malformed or invalid input (files, evidence, specs): exit 3
                  */
    ST_E_DENIED, /* security denial: authentication, integrity, attestation,
                    policy, permissions: exit 4 */
    ST_E_NOTFOUND, /* a named thing does not exist: exit 3 */
    ST_E_EXISTS,   /* a named thing already exists: exit 3 */
    ST_E_IO, /* the system failed us: I/O, memory locking, devices: exit 5 */
    ST_E_INTERNAL, /* a bug or an unexpected library failure: exit 5 */
    ST_E_CANCELLED /* stopped on request: exit 6 */
} st_code;

/* Marks a function whose st_code result must be looked at: a failure that
 * nobody reads is a change that silently did not happen (or half happened).
 * Every function returning st_code carries it, except the st_err_* setters
 * below, whose return value is only a convenience for `return st_err_set()`.
 * Discarding a result on purpose is written `st_discard(f(...))` next to a
 * comment saying why that is safe (GCC does not accept a `(void)` cast as a
 * discard). */
#if defined(__GNUC__) || defined(__clang__)
#define ST_MUST_CHECK __attribute__((warn_unused_result))
#else
#define ST_MUST_CHECK
#endif

/* Explicitly drops a result that cannot matter here (say why at the call). */
static inline void st_discard(st_code code)
{
    (void)code;
}

#define ST_ERR_MSG_MAX 1024
#define ST_ERR_WHERE_MAX 512

typedef struct st_err {
    st_code code;
    char msg[ST_ERR_MSG_MAX];     /* "<what failed>: <why>" */
    char where[ST_ERR_WHERE_MAX]; /* "file:line:col" of the input, or "" */
} st_err;

/* Initialises *err to "no error". */
void st_err_clear(st_err *err);

/* Sets the error and returns `code`, so that `return st_err_set(...)` reads
 * naturally. */
st_code st_err_set(st_err *err, st_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets an error that points into the input: `file` (may be NULL), `line`
 * and `col` (0 when unknown). The location is also kept in err->where. */
st_code st_err_at(st_err *err, st_code code, const char *file, long line,
                  long col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Sets the error from `errno` (strerror appended after the message). */
st_code st_err_errno(st_err *err, st_code code, int errnum, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/* Sets the error and appends the first reason found on OpenSSL's error
 * queue (which is then cleared). When OpenSSL could not allocate memory
 * on the way (its queue says so, or one of its allocations failed in
 * this thread since the previous call: OpenSSL 3 often records none, a
 * failed fetch then reads "unsupported" or "fetch failed"), the error is
 * ST_E_IO "<message>: out of memory" whatever `code` was: the system
 * failed us, the input or a signature did not. */
st_code st_err_openssl(st_err *err, st_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* How many of OpenSSL's allocations failed in this thread so far (OpenSSL
 * allocates through a counting malloc installed before main): taken
 * before and after a call, a difference means it failed for memory. */
unsigned long st_openssl_alloc_failures(void);
/* 1 when st_err_openssl would now report out of memory: for a message
 * that must not name the input then ("not a PEM key"). */
int st_openssl_out_of_memory(void);

/* Adds context in front of the message: "<context>: <old message>". Returns
 * the existing code. */
st_code st_err_prefix(st_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "usage", "input", ... : a stable name for JSON output. */
const char *st_code_name(st_code code);

/* The CLI exit status for a code (0 for ST_OK). */
int st_code_exit_status(st_code code);

#ifdef __cplusplus
}
#endif
#endif
