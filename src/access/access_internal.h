/*
 * access_internal.h: internals shared by the files of src/access (not public).
 */
#ifndef ST_ACCESS_INTERNAL_H
#define ST_ACCESS_INTERNAL_H

#include "sealtrain/access.h"
#include "sealtrain/log.h"

ST_MUST_CHECK st_code st_access_migrate(st_workspace *ws, st_err *err);
ST_MUST_CHECK st_code st_access_db_err(st_workspace *ws, st_err *err,
                                       const char *what);
void st_access_now(char out[32]);
/* "admin, trainer" */
void st_access_roles_string(unsigned roles, char *out, size_t cap);
/* Records the principal's last activity (for `check`). */
ST_MUST_CHECK st_code st_access_touch(st_workspace *ws, const char *name,
                                      st_err *err);
/* 1 if `grantee` holds perm1 (or perm2, may be NULL) on resource. */
int st_access_has_grant(st_workspace *ws, const char *grantee,
                        const char *resource, const char *perm1,
                        const char *perm2);
/* The identity part of the check: known, enabled, authenticated in this
 * process. Denials are audited. */
ST_MUST_CHECK st_code st_access_check_identity(st_workspace *ws,
                                               const char *principal,
                                               const char *action,
                                               const char *resource,
                                               st_err *err);

#endif
