/*
 * append.c: st_audit_append, the entry point every module uses: the
 * workspace's log lives in <workspace>/audit (see log.c for the protocol).
 *
 * The handle is opened per call and shared while in use (st_audit_log_open
 * returns the process's one handle per directory), so threads appending at
 * the same time still share one fsync; nothing stays open between calls,
 * so a workspace can be removed and re-created at the same path safely.
 */
#include <limits.h>

#include "sealtrain/audit.h"
#include "sealtrain/workspace.h"

st_code st_audit_append(st_workspace *ws, const st_audit_event *ev, st_err *err)
{
    return st_audit_append_all(ws, ev, 1, err);
}

st_code st_audit_append_all(st_workspace *ws, const st_audit_event *evs,
                            size_t n, st_err *err)
{
    char dir[PATH_MAX];
    st_audit_log *log;
    if (st_workspace_subdir(ws, "audit", dir, sizeof(dir), err) != ST_OK ||
        st_audit_log_open(dir, &log, err) != ST_OK)
        return st_err_prefix(err, "audit log");
    st_code rc = st_audit_log_append_all(log, evs, n, NULL, err);
    st_audit_log_close(log);
    if (rc != ST_OK)
        st_err_prefix(err, "audit log");
    return rc;
}
