/*
 * register.c: a finished job's model goes to the model registry with the
 * job's record: the registry (src/model/) takes what it needs of the job
 * from here and never calls back into src/job/.
 *
 * Never: hand the registry a record other than the one of the job named
 * by the model, as the catalog holds it when the model is registered.
 */
#include <errno.h>

#include "job/job_internal.h"
#include "model/registry.h"
#include "sealtrain/job.h"

/* The job's side of the registration's transaction: its move to
 * succeeded, with the model's name and version in its status, and the
 * model.seal entry. */
struct succeed {
    st_job_move mv;
    json_t *patch;
    const char *name;
    const uint32_t *version;
    const st_audit_event *seal;
};

static ST_MUST_CHECK st_code succeed(st_workspace *ws, void *arg, st_err *err)
{
    struct succeed *g = arg;
    if (json_object_set_new(g->patch, "model",
                            json_pack("{s:s,s:i}", "name", g->name, "version",
                                      (int)*g->version)) != 0)
        return st_err_errno(err, ST_E_IO, ENOMEM, "the job's status");
    int64_t id;
    st_code rc = g->seal ? st_audit_txn_event(ws, g->seal, &id, err) : ST_OK;
    return rc == ST_OK ? st_job_move_rows(ws, &g->mv, err) : rc;
}

st_code st_job_register_model(st_workspace *ws, const st_model_record *in,
                              json_t *patch, const st_audit_event *seal,
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
    struct succeed g = {
        .patch = patch, .name = in->name, .version = version, .seal = seal};
    st_job_move_init(&g.mv, in->job_id, ST_JOB_SUCCEEDED, NULL, patch, NULL);
    st_model_also also = {succeed, &g, &g.mv.ev};
    if ((rc = st_job_migrate(ws, err)) == ST_OK)
        rc = st_model_register(ws, in, &job, &also, version, unknown, err);
    st_job_move_done(ws, &g.mv, rc);
    st_job_record_free(&jr);
    return rc;
}
