/*
 * trace.h (src/attest): recording a verification as a trace of claims, what was
 * expected and what was found (the st_trace of a verdict,
 * sealtrain/attest.h): every check of the verifier and the gate writes
 * one entry, and the first failure is the verdict's reason.
 */
#ifndef SEALTRAIN_ATTEST_TRACE_H
#define SEALTRAIN_ATTEST_TRACE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/attest.h"
#include "sealtrain/bytes.h"
#include "sealtrain/err.h"

void st_trace_init(st_trace *t);
void st_trace_free(st_trace *t);
/* Appends an entry (strings copied; NULL reads as ""). Returns `ok`, so a
 * check reads `if (!st_trace_add(t, "x", a == b, "..", "..")) ...`. */
int st_trace_add(st_trace *t, const char *claim, int ok, const char *expected,
                 const char *actual);
/* Same with printf-style `actual`. */
int st_trace_addf(st_trace *t, const char *claim, int ok, const char *expected,
                  const char *actual_fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Compares two byte strings in hex: ok when equal. */
int st_trace_hex(st_trace *t, const char *claim, const uint8_t *expected,
                 const uint8_t *actual, size_t n);
/* The first entry with ok == 0, or NULL. */
const st_trace_entry *st_trace_first_failure(const st_trace *t);
/* One line per entry: "ok   claim: actual" / "FAIL claim: expected X,
 * got Y". */
ST_MUST_CHECK st_code st_trace_render_text(const st_trace *t, st_buf *out,
                                           st_err *err);
/* [{"claim":..,"expected":..,"actual":..,"ok":true}, ...] */
json_t *st_trace_to_json(const st_trace *t);

#endif
