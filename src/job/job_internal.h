/*
 * job_internal.h: what the files of src/job/ share (not public).
 */
#ifndef ST_JOB_INTERNAL_H
#define ST_JOB_INTERNAL_H

#include <stdint.h>

#include "sealtrain/err.h"
#include "sealtrain/model.h"
#include "sealtrain/workspace.h"

/* Registers the sealed model `in` of job in->job_id with the model
 * registry (st_model_register, whose *unknown this passes on), handing it
 * the job's record as the catalog holds it now. Errors name the model. */
ST_MUST_CHECK st_code st_job_register_model(st_workspace *ws,
                                            const st_model_record *in,
                                            uint32_t *version, int *unknown,
                                            st_err *err);
#endif
