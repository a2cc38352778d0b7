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

#include "sealtrain/bytes.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/model.h"

/* The spec's name: "<mode>-<model>", cut to the name limit. */
static void use_name(const st_job_use *u, char out[ST_JOB_NAME_MAX + 1])
{
    snprintf(out, ST_JOB_NAME_MAX + 1, "%s-%s", st_job_kind_name(u->kind),
             u->model);
}

st_code st_job_use_spec(const st_job_use *u, uint32_t version,
                        const char *nonce, char **text, st_err *err)
{
    *text = NULL;
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
    if (spec && nonce) {
        json_t *use = json_object_get(spec, "use");
        json_object_set_new(use, "key", json_string("requester"));
        json_object_set_new(use, "nonce", json_string(nonce));
    }
    *text = spec ? st_json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(spec);
    return *text ? ST_OK : st_err_set(err, ST_E_IO, "out of memory");
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
    char *text = NULL;
    if ((rc = st_job_use_spec(u, version, NULL, &text, err)) != ST_OK)
        return rc;
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

/* ---- the model key a requester wraps (POST /v1/jobs/ID/model-key) ---- */

json_t *st_job_model_key_json(const st_broker_key *k)
{
    char epk[65];
    st_hex_encode(k->epk, 32, epk);
    char *ct = st_base64_encode(k->ct, k->ctlen, 1);
    json_t *j =
        ct ? json_pack("{s:s,s:s,s:s}", "name", k->name, "epk", epk, "ct", ct)
           : NULL;
    free(ct);
    return j;
}

st_code st_job_model_key_parse(const char *text, size_t len, const char *where,
                               st_broker_key *out, st_err *err)
{
    static const char *const keys[] = {"name", "epk", "ct", NULL};
    memset(out, 0, sizeof(*out));
    json_t *j = st_json_parse(text, len, where, err);
    if (!j)
        return err ? err->code : ST_E_INPUT;
    const char *name = NULL, *epk = NULL, *ct = NULL;
    st_code rc = json_is_object(j) ? ST_OK
                                   : st_err_set(err, ST_E_INPUT,
                                                "%s: not a JSON object", where);
    if (rc == ST_OK)
        rc = st_json_check_keys(j, keys, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(j, "name", 1, &name, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(j, "epk", 1, &epk, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(j, "ct", 1, &ct, where, err);
    size_t nl = name ? strlen(name) : 0;
    if (rc == ST_OK &&
        (strncmp(name, "model:", 6) || nl > ST_BROKER_KEY_NAME_MAX))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"name\" must be \"model:NAME@VERSION\" "
                        "(at most %d characters)",
                        where, ST_BROKER_KEY_NAME_MAX);
    for (size_t i = 0; rc == ST_OK && i < nl; i++)
        if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
            rc = st_err_set(err, ST_E_INPUT,
                            "%s: \"name\" holds a character that is not "
                            "printable ASCII",
                            where);
    if (rc == ST_OK &&
        (strlen(epk) != 64 || st_hex_decode(epk, out->epk, 32, NULL) != ST_OK))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"epk\" must be 64 hex digits (an X25519 "
                        "public key)",
                        where);
    uint8_t *raw = NULL;
    size_t rlen = 0;
    if (rc == ST_OK &&
        st_base64_decode(ct, strlen(ct), 1, &raw, &rlen, NULL) != ST_OK)
        rc = st_err_set(err, ST_E_INPUT, "%s: \"ct\" is not base64", where);
    if (rc == ST_OK && (rlen <= 16 || rlen > sizeof(out->ct)))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"ct\" holds %zu bytes; a wrapped key holds "
                        "17 to %zu",
                        where, rlen, sizeof(out->ct));
    if (rc == ST_OK) {
        memcpy(out->name, name, nl + 1);
        memcpy(out->ct, raw, rlen);
        out->ctlen = rlen;
    }
    free(raw);
    json_decref(j);
    if (rc != ST_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
