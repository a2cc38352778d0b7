/*
 * sealtrain/metrics.h: `sealtrain metrics`: the workspace's state in the
 * Prometheus text exposition format (version 0.0.4), derived from the
 * catalog (jobs, datasets, principals), the keyring (KEK ages, when it
 * can be opened without a prompt) and the audit log (attestation results,
 * key releases, access denials, log size, last checkpoint).
 *
 * It only reads. Label values are escaped as the format requires; every
 * metric has HELP and TYPE lines, counters end in _total
 * (`promtool check metrics` passes).
 */
#ifndef SEALTRAIN_METRICS_H
#define SEALTRAIN_METRICS_H

#include <time.h>

#include "sealtrain/bytes.h"
#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_workspace st_workspace;
typedef struct st_keyring st_keyring;

/* Appends the exposition to `out`. `kr` may be NULL (then KEK metrics are
 * reported as unavailable: sealtrain_keyring_open 0). `now`: time(NULL). */
ST_MUST_CHECK st_code st_metrics_collect(st_workspace *ws, st_keyring *kr,
                                         time_t now, st_buf *out, st_err *err);

/* Appends a label value, escaped (backslash, double quote, newline); fails
 * only when `out` cannot grow. */
ST_MUST_CHECK st_code st_metrics_label(st_buf *out, const char *value,
                                       size_t len, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
