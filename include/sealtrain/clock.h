/*
 * sealtrain/clock.h: wall-clock times as RFC 3339 UTC text
 * ("2026-11-25T13:02:06Z"), the one form sealtrain writes into files,
 * catalogs and JSON output.
 */
#ifndef SEALTRAIN_CLOCK_H
#define SEALTRAIN_CLOCK_H

#include <time.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_TIME_LEN 21 /* "YYYY-MM-DDTHH:MM:SSZ" + NUL */

/* Formats `t` as RFC 3339 UTC with second precision. */
void st_time_format(time_t t, char out[ST_TIME_LEN]);
/* Parses exactly the form st_time_format writes (ST_E_INPUT otherwise). */
ST_MUST_CHECK st_code st_time_parse(const char *text, time_t *out, st_err *err);
/* Parses any RFC 3339 date-time (section 5.6): "T" or "t", an optional
 * fraction (dropped: whole seconds), "Z"/"z" or a +HH:MM/-HH:MM offset.
 * ST_E_INPUT naming what is wrong otherwise. For times people type. */
ST_MUST_CHECK st_code st_time_parse_rfc3339(const char *text, time_t *out, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
