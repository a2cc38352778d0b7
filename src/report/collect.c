/*
 * collect.c: the report document of one job (include/sealtrain/report.h).
 *
 * Who may read it is decided once, here, by the check of `job status`
 * (st_job_authorize, job.read on "job:ID"): the document holds what the
 * job's status already shows (metrics, attestation verdicts and their
 * EAR digests, the model's version and digest) and, beside it, three
 * things drawn from the records the job made or used, none of them
 * secret: the hyperparameters of its signed spec (the spec's model,
 * training and preprocessing sections), the digests of its datasets
 * from the model's registry record (the provenance's datasets), and the
 * training dataset's feature names from its signed manifest, taken only
 * when that manifest's plaintext digest is the one the model was
 * trained on. It never holds weights, rows, keys or the EAR tokens
 * themselves (their digests only), and it reads no file but the catalog.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/model.h"
#include "sealtrain/report.h"

static json_t *job_part(const st_job_record *r)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", r->id,
                     "name", r->name, "state", st_job_state_name(r->state),
                     "reason", r->reason, "submitter", r->submitter, "runner",
                     r->runner, "created", r->created, "updated", r->updated,
                     "spec_sha256", r->spec_digest);
}

/* The signed spec (the envelope's payload; its signature was checked
 * when the job was submitted and is again when it runs). */
static json_t *spec_of(const st_job_record *r, st_err *err)
{
    const char *p = json_string_value(json_object_get(r->envelope, "payload"));
    uint8_t *raw = NULL;
    size_t len = 0;
    if (!p)
        return st_err_set(err, ST_E_INTERNAL, "job %s: no signed spec", r->id),
               NULL;
    if (st_base64_decode(p, strlen(p), 1, &raw, &len, err) != ST_OK)
        return NULL;
    json_t *spec = st_json_parse((const char *)raw, len, "the job's spec", err);
    free(raw);
    return spec;
}

static json_t *hyperparameters(const json_t *spec)
{
    json_t *h = json_object();
    static const char *const keys[] = {"model", "training", "preprocessing",
                                       "checkpoint_every"};
    for (size_t i = 0; h && i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(spec, keys[i]);
        if (v)
            json_object_set(h, keys[i], v);
    }
    return h;
}

/* The verdicts (without their traces) and the EARs' digests. */
static json_t *attestation(const json_t *a)
{
    json_t *out = json_pack(
        "{s:O*,s:O*,s:O*,s:O*}", "tee", json_object_get(a, "tee"), "pass",
        json_object_get(a, "pass"), "reason", json_object_get(a, "reason"),
        "evidence_sha256", json_object_get(a, "evidence_sha256"));
    json_t *verdicts = json_array(), *ears = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(a, "verdicts"), i, v)
        json_array_append_new(verdicts,
                              json_pack("{s:O*,s:O*,s:O*}", "policy_of",
                                        json_object_get(v, "policy_of"), "pass",
                                        json_object_get(v, "pass"), "reason",
                                        json_object_get(v, "reason")));
    json_array_foreach(json_object_get(a, "ears"), i, v) json_array_append_new(
        ears,
        json_pack("{s:O*,s:O*}", "policy_of", json_object_get(v, "policy_of"),
                  "sha256", json_object_get(v, "sha256")));
    json_object_set_new(out, "verdicts", verdicts);
    json_object_set_new(out, "ears", ears);
    return out;
}

/* Another owner's broker returns its verdicts as EARs, comma-separated:
 * their SHA-256 digests, as the gate records its own. */
static json_t *key_brokers(const json_t *kb)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(kb, i, v)
    {
        json_t *digests = json_array();
        const char *ears = json_string_value(json_object_get(v, "ears"));
        while (ears && *ears) {
            size_t n = strcspn(ears, ",");
            uint8_t d[32];
            char hex[65];
            st_sha256(ears, n, d);
            st_hex_encode(d, 32, hex);
            json_array_append_new(digests, json_string(hex));
            ears += n + (ears[n] == ',');
        }
        json_array_append_new(out,
                              json_pack("{s:O*,s:O*,s:O*,s:O*,s:o}", "dataset",
                                        json_object_get(v, "dataset"), "broker",
                                        json_object_get(v, "broker"), "outcome",
                                        json_object_get(v, "outcome"), "reason",
                                        json_object_get(v, "reason"),
                                        "ear_sha256", digests));
    }
    return out;
}

/* The spec's datasets with their roles and, from the model's record,
 * their digests. */
static json_t *datasets(const json_t *spec, const st_model_record *m)
{
    json_t *out = json_array();
    static const char *const roles[] = {"train", "validation"};
    for (size_t r = 0; r < 2; r++) {
        const char *name = json_string_value(
            json_object_get(json_object_get(spec, "datasets"), roles[r]));
        if (!name)
            continue;
        json_t *d = json_pack("{s:s,s:s}", "name", name, "role", roles[r]);
        size_t i;
        json_t *x;
        json_array_foreach(m ? m->datasets : NULL, i, x)
        {
            if (!strcmp(json_string_value(json_object_get(x, "name"))
                            ? json_string_value(json_object_get(x, "name"))
                            : "",
                        name)) {
                json_object_set(d, "sha256", json_object_get(x, "sha256"));
                json_object_set(d, "file_sha256",
                                json_object_get(x, "file_sha256"));
            }
        }
        json_array_append_new(out, d);
    }
    return out;
}

/* The training dataset's feature names when its manifest describes the
 * very rows the model was trained on (same plaintext digest), else
 * NULL. */
static json_t *feature_names(st_workspace *ws, const json_t *ds)
{
    const json_t *train = json_array_get(ds, 0);
    const char *name = json_string_value(json_object_get(train, "name"));
    const char *want = json_string_value(json_object_get(train, "sha256"));
    st_dataset_record rec;
    st_err e;
    if (!name || !want || st_dataset_get(ws, name, &rec, &e) != ST_OK)
        return NULL;
    char hex[65];
    st_hex_encode(rec.m.plain_sha256, 32, hex);
    json_t *out = NULL;
    if (!strcmp(hex, want) && rec.m.feature_names) {
        out = json_array();
        for (uint32_t i = 0; out && i < rec.m.cols; i++)
            json_array_append_new(out, json_string(rec.m.feature_names[i]));
    }
    st_dataset_record_free(&rec);
    return out;
}

st_code st_report_collect(st_workspace *ws, const char *principal,
                          const char *id, json_t **doc, st_err *err)
{
    *doc = NULL;
    st_code rc = st_job_authorize(ws, principal, "job.read", id, err);
    st_job_record r;
    if (rc == ST_OK)
        rc = st_job_get(ws, id, &r, err);
    if (rc != ST_OK)
        return rc;
    json_t *spec = spec_of(&r, err);
    if (!spec) {
        st_job_record_free(&r);
        return err->code;
    }
    const json_t *st = r.status;
    const json_t *result = json_object_get(st, "result");
    const json_t *model = json_object_get(st, "model");
    st_model_record mr;
    memset(&mr, 0, sizeof(mr));
    int have_model = 0;
    const char *mname = json_string_value(json_object_get(model, "name"));
    json_int_t mver = json_integer_value(json_object_get(model, "version"));
    if (mname && mver > 0 && mver <= UINT32_MAX) {
        st_err e;
        /* a model removed since (model rm) leaves the status as it was */
        have_model = st_model_get(ws, mname, (uint32_t)mver, &mr, &e) == ST_OK;
    }
    json_t *d = json_pack("{s:o,s:o,s:O*}", "job", job_part(&r),
                          "hyperparameters", hyperparameters(spec), "metrics",
                          json_object_get(result, "metrics"));
    if (d && json_object_get(st, "attestation"))
        json_object_set_new(d, "attestation",
                            attestation(json_object_get(st, "attestation")));
    if (d && json_object_get(st, "key_brokers"))
        json_object_set_new(d, "key_brokers",
                            key_brokers(json_object_get(st, "key_brokers")));
    const char *msha =
        have_model ? mr.file_sha256
                   : json_string_value(json_object_get(result, "model_sha256"));
    if (d && mname)
        json_object_set_new(d, "model",
                            json_pack("{s:s,s:I,s:s}", "name", mname, "version",
                                      mver, "sha256", msha ? msha : ""));
    json_t *ds = d ? datasets(spec, have_model ? &mr : NULL) : NULL;
    json_t *names = ds ? feature_names(ws, ds) : NULL;
    if (names)
        json_object_set_new(d, "feature_names", names);
    if (ds)
        json_object_set_new(d, "datasets", ds);
    if (have_model)
        st_model_record_free(&mr);
    json_decref(spec);
    st_job_record_free(&r);
    if (!d || !ds) {
        json_decref(d);
        return st_err_set(err, ST_E_IO, "building the report: out of memory");
    }
    *doc = d;
    return ST_OK;
}
