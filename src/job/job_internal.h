/*
 * job_internal.h: what the files of src/job/ share (not public).
 */
#ifndef ST_JOB_INTERNAL_H
#define ST_JOB_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "audit/txn.h"
#include "sealtrain/audit.h"
#include "sealtrain/err.h"
#include "sealtrain/job.h"
#include "sealtrain/model.h"
#include "sealtrain/workspace.h"

/* A job's state change (with a status patch) as a change of
 * st_audit_txn_run: st_job_move_rows moves the job and fills in `ev`, its
 * job.state entry (actor `by`; NULL: the runner, else the submitter). */
typedef struct st_job_move {
    const char *id, *reason;
    st_job_state state;
    const json_t *patch;
    const char *by;
    st_job_state from;
    char actor[ST_JOB_NAME_MAX + 1];
    char resource[64];
    json_t *details; /* the job.state entry's, filled in by the change */
    st_audit_event ev;
} st_job_move;
void st_job_move_init(st_job_move *a, const char *id, st_job_state state,
                      const char *reason, const json_t *patch, const char *by);
ST_MUST_CHECK st_code st_job_move_rows(st_workspace *ws, void *move,
                                       st_err *err);
/* Frees what the change made; logs the new state when rc is ST_OK. */
void st_job_move_done(st_workspace *ws, st_job_move *a, st_code rc);

/* Registers the sealed model `in` of job in->job_id with the model
 * registry (st_model_register, whose *unknown this passes on), handing it
 * the job's record as the catalog holds it now, and moves the job to
 * succeeded in the same transaction: its status gains `patch` and
 * "model" (name and version), and `seal` (the model.seal entry) is
 * recorded with model.register and job.state. Errors name the model. */
ST_MUST_CHECK st_code st_job_register_model(
    st_workspace *ws, const st_model_record *in, json_t *patch,
    const st_audit_event *seal, uint32_t *version, int *unknown, st_err *err);
#endif
