/*
 * use.c: using a registered model on a dataset (`model evaluate`, `model
 * predict`; docs/predict.md) as a job like any other: a signed spec with
 * a "use" section, submitted (the same checks as a training job: the
 * dataset's `job.submit`, the gate's consent) and run by the controller
 * (run.c), so that the runtime attests, the gate releases the dataset's
 * key and the model's key in one decision, and only metrics or sealed
 * predictions leave the sandbox.
 *
 * What this file adds is the spec: the model version is pinned (NAME
 * alone means the latest version now, written into the signed spec), and
 * the protections are the documented defaults unless asked otherwise.
 *
 * Never: decide anything itself; the gate and the access module do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/model.h"

/* The spec's name: "<mode>-<model>", cut to the name limit. */
static void use_name(const st_job_use *u, char out[ST_JOB_NAME_MAX + 1])
{
    snprintf(out, ST_JOB_NAME_MAX + 1, "%s-%s", st_job_kind_name(u->kind),
             u->model);
}

st_code st_job_use_model(st_workspace *ws, const st_job_use *u,
                         char id[ST_JOB_ID_LEN + 1], json_t **result,
                         st_err *err)
{
    *result = NULL;
    if (u->kind == ST_JOB_KIND_TRAIN)
        return st_err_set(err, ST_E_USAGE,
                          "a model use is evaluate or "
                          "predict");
    if (u->kind == ST_JOB_KIND_PREDICT && (!u->recipient || !u->output))
        return st_err_set(err, ST_E_USAGE,
                          "predict: a recipient and an output path are "
                          "needed");
    st_model_record r;
    memset(&r, 0, sizeof(r));
    st_code rc = st_model_migrate(ws, err);
    if (rc == ST_OK)
        rc = st_model_get(ws, u->model, u->version, &r, err);
    uint32_t version = r.version;
    st_model_record_free(&r);
    if (rc != ST_OK)
        return rc;
    char name[ST_JOB_NAME_MAX + 1];
    use_name(u, name);
    json_t *spec = json_pack(
        "{s:i,s:s,s:{s:s,s:i,s:s},s:{s:s},s:{s:s,s:s}}", "version", 1, "name",
        name, "use", "model", u->model, "version", (int)version, "mode",
        st_job_kind_name(u->kind), "datasets", "input", u->dataset, "security",
        "tee", u->tee ? u->tee : "sim", "sandbox",
        u->sandbox ? u->sandbox : "strict");
    if (spec && u->kind == ST_JOB_KIND_PREDICT)
        json_object_set_new(spec, "outputs",
                            json_pack("{s:[s]}", "recipients", u->recipient));
    char *text = spec ? json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(spec);
    if (!text)
        return st_err_set(err, ST_E_IO, "out of memory");
    st_job_spec s;
    rc = st_job_spec_parse(text, strlen(text), "model use", &s, err);
    free(text);
    if (rc != ST_OK)
        return rc;
    rc = st_job_submit(ws, u->submitter, &s, u->seed, id, err);
    st_job_spec_free(&s);
    if (rc != ST_OK)
        return rc;
    st_job_run_opts o = {.observe = u->observe,
                         .ctx = u->ctx,
                         .runner = u->runner,
                         .identities = u->identities,
                         .nidentities = u->nidentities,
                         .predictions_out = u->output};
    rc = st_job_run(ws, id, &o, err);
    if (rc != ST_OK)
        return rc;
    st_job_record jr;
    if ((rc = st_job_get(ws, id, &jr, err)) != ST_OK)
        return rc;
    *result = json_incref(json_object_get(jr.status, "result"));
    st_job_record_free(&jr);
    return *result ? ST_OK
                   : st_err_set(err, ST_E_INTERNAL,
                                "job %s succeeded without a result", id);
}
