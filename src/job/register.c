/*
 * register.c: a finished job's model goes to the model registry with the
 * job's record: the registry (src/model/) takes what it needs of the job
 * from here and never calls back into src/job/.
 *
 * Never: hand the registry a record other than the one of the job named
 * by the model, as the catalog holds it when the model is registered.
 */
#include "job/job_internal.h"
#include "sealtrain/job.h"

st_code st_job_register_model(st_workspace *ws, const st_model_record *in,
                              uint32_t *version, int *unknown, st_err *err)
{
    if (unknown)
        *unknown = 0;
    st_job_record jr;
    st_code rc = st_job_get(ws, in->job_id, &jr, err);
    if (rc != ST_OK)
        return st_err_prefix(err, "registering model \"%s\"", in->name);
    st_model_job job = {.submitter = jr.submitter,
                        .spec_digest = jr.spec_digest,
                        .status = jr.status};
    rc = st_model_register(ws, in, &job, version, unknown, err);
    st_job_record_free(&jr);
    return rc;
}
