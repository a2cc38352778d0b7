/*
 * sealtrain/check.h: `sealtrain check`: the security checklist of a
 * workspace. Each item is pass, warn, fail or not applicable, with the
 * evidence it was decided on (paths and modes, key names and dates,
 * dataset names, counts). Items whose module or data is missing say so
 * ("not applicable: ...") instead of passing.
 *
 * Items: workspace-permissions, key-files, kek-rotation, retired-keys
 * (retired or revoked KEK versions still wrapping datasets),
 * release-policies (datasets without one), policies-allow-sim,
 * stale-attestation, audit-log (verifies, checkpointed recently),
 * retention, inactive-admins, repeated-denials.
 *
 * It only reads, except that the run itself is recorded in the audit log
 * by the CLI.
 */
#ifndef SEALTRAIN_CHECK_H
#define SEALTRAIN_CHECK_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_workspace st_workspace;
typedef struct st_keyring st_keyring;

typedef enum st_check_level {
    ST_CHECK_PASS = 0,
    ST_CHECK_WARN,
    ST_CHECK_FAIL,
    ST_CHECK_NA
} st_check_level;

const char *st_check_level_name(st_check_level s); /* pass warn fail n/a */

typedef struct st_check_item {
    char id[32];
    char title[96];
    st_check_level status;
    char evidence[1536];
} st_check_item;

typedef struct st_check_opts {
    time_t now;                  /* 0: time(NULL) */
    int denial_threshold;        /* denials by one principal in the
                                    window that fail the check (0: 5) */
    long denial_window_seconds;  /* 0: 86400 */
    long checkpoint_max_age;     /* seconds (0: 86400) */
    long admin_inactive_seconds; /* 0: 90 days */
} st_check_opts;

/* Runs every item; `kr` may be NULL (key items are then "not applicable:
 * keyring locked"). *items malloc'ed. */
ST_MUST_CHECK st_code st_check_run(st_workspace *ws, st_keyring *kr,
                                   const st_check_opts *opts,
                                   st_check_item **items, size_t *n,
                                   st_err *err);
/* st_check_run, then the run's "check" entry (category compliance,
 * `actor`, outcome failure when an item fails), as `sealtrain check` and
 * GET /v1/check record it; a run that cannot be recorded fails. */
ST_MUST_CHECK st_code st_check_run_audited(st_workspace *ws, st_keyring *kr,
                                           const st_check_opts *opts,
                                           const char *actor,
                                           st_check_item **items, size_t *n,
                                           st_err *err);
/* The items back from st_check_json's object (the --server client);
 * ST_E_INPUT naming the first malformed item. *items malloc'ed. */
ST_MUST_CHECK st_code st_check_from_json(const json_t *j, st_check_item **items,
                                         size_t *n, st_err *err);
/* The worst status (n/a counts as pass). */
st_check_level st_check_worst(const st_check_item *items, size_t n);
json_t *st_check_json(const st_check_item *items, size_t n);
/* One self-contained HTML file (inline CSS, no scripts, no external
 * references), written atomically. */
ST_MUST_CHECK st_code st_check_html(const st_check_item *items, size_t n,
                                    const char *workspace, time_t now,
                                    const char *path, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
