/*
 * model_internal.h: helpers shared by the files of src/model/ (not public).
 */
#ifndef SEALTRAIN_MODEL_INTERNAL_H
#define SEALTRAIN_MODEL_INTERNAL_H

#include <jansson.h>

#include "sealtrain/model.h"

/* ST_E_IO naming the registry step and SQLite's message. */
ST_MUST_CHECK st_code st_model_db_err(st_workspace *ws, const char *what,
                                      st_err *err);
/* An "operation" audit entry for resource "model:NAME@VERSION"; takes
 * `details` (may be NULL). Failure to append is logged (st_error). */
void st_model_audit(st_workspace *ws, const char *actor, const char *action,
                    const st_model_record *r, const char *outcome,
                    const char *reason, json_t *details);

#endif
