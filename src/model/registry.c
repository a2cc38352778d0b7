/*
 * registry.c: the model registry: every sealed model a job produced, with
 * its version and lineage (job, datasets with digests, job spec digest,
 * attestation claims, metrics), its classification and retention (the
 * strictest of its datasets'), its recipients and the sealed file's digest.
 *
 * Its rows and all of its SQL are model_db.c's.
 *
 * Registration trusts nothing it is handed but the job id and that job's
 * record (st_model_job: its submitter, spec digest and status, which the
 * job controller reads from the catalog and passes, so that the registry
 * never calls into src/job/): the lineage comes from the provenance
 * statement (which the controller verified against the attested key
 * before calling), checked against the file's digest and the job;
 * classification and retention from the datasets' manifests; the claims
 * from the broker's recorded verdict.
 *
 * Never: store a secret; register a file whose digest is not the
 * provenance subject.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto/dsse.h"
#include "model/registry.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/clock.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/log.h"
#include "sealtrain/model.h"

#include "model/model_internal.h"

void st_model_record_free(st_model_record *r)
{
    if (!r)
        return;
    json_decref(r->datasets);
    json_decref(r->claims);
    json_decref(r->metrics);
    json_decref(r->recipients);
    r->datasets = r->claims = r->metrics = r->recipients = NULL;
}

void st_model_audit(st_workspace *ws, const char *actor, const char *action,
                    const st_model_record *r, const char *outcome,
                    const char *reason, json_t *details)
{
    char resource[ST_MODEL_NAME_MAX + 32];
    snprintf(resource, sizeof(resource), "model:%s@%u", r->name, r->version);
    st_audit_event ev = {"operation", actor && *actor ? actor : "system",
                         action,      resource,
                         outcome,     reason,
                         details};
    st_err e;
    if (st_audit_append(ws, &ev, &e) != ST_OK)
        st_error("model.audit", "audit append failed: %s", e.msg);
    json_decref(details);
}

st_code st_model_ref_parse(const char *ref, char name[ST_MODEL_NAME_MAX + 1],
                           uint32_t *version, st_err *err)
{
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n == 0 || n > ST_MODEL_NAME_MAX)
        return st_err_set(err, ST_E_USAGE,
                          "model \"%s\": expected NAME or NAME@VERSION", ref);
    memcpy(name, ref, n);
    name[n] = 0;
    st_code rc = st_dataset_check_name("model", name, err);
    if (rc != ST_OK)
        return rc;
    *version = 0;
    if (at) {
        char *end = NULL;
        unsigned long v = strtoul(at + 1, &end, 10);
        if (!at[1] || *end || v == 0 || v > UINT32_MAX || at[1] == '+' ||
            at[1] == '-' || at[1] == ' ')
            return st_err_set(err, ST_E_USAGE,
                              "model \"%s\": the version must be a positive "
                              "integer",
                              ref);
        *version = (uint32_t)v;
    }
    return ST_OK;
}

/* ---- registration ---- */

/* The statement of a provenance envelope, unverified: the controller has
 * verified the signature before registering; `model verify` re-checks. */
static ST_MUST_CHECK st_code statement_of(const char *prov_path,
                                          json_t **env_out, json_t **stmt_out,
                                          st_err *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    st_code rc = st_fs_read_all(prov_path, 16u << 20, &text, &len, err);
    if (rc != ST_OK)
        return rc;
    json_t *env = st_json_parse((const char *)text, len, prov_path, err);
    free(text);
    if (!env)
        return err->code;
    uint8_t *payload = NULL;
    size_t plen = 0;
    rc = st_dsse_payload(env, &payload, &plen, err);
    json_t *stmt = rc == ST_OK ? st_json_parse((const char *)payload, plen,
                                               "provenance statement", err)
                               : NULL;
    free(payload);
    if (!stmt) {
        json_decref(env);
        return err->code ? err->code : ST_E_INPUT;
    }
    *env_out = env;
    *stmt_out = stmt;
    return ST_OK;
}

/* Lineage of each dataset: the statement's plaintext digest, with the
 * catalog's file digest, classification and retention. */
static ST_MUST_CHECK st_code datasets_of(st_workspace *ws, const json_t *pred,
                                         json_t **out, char cls[16],
                                         long long *retention, st_err *err)
{
    const json_t *arr = json_object_get(pred, "datasets");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return st_err_set(err, ST_E_INPUT,
                          "provenance: predicate.datasets: expected a "
                          "non-empty array");
    json_t *res = json_array();
    int rank = -1;
    *retention = -1;
    snprintf(cls, 16, "public");
    size_t i;
    const json_t *d;
    json_array_foreach(arr, i, d)
    {
        const char *name = st_json_path_string(d, "name", NULL);
        const char *sha = st_json_path_string(d, "digest", "sha256");
        if (!name || !sha) {
            json_decref(res);
            return st_err_set(err, ST_E_INPUT,
                              "provenance: predicate.datasets[%zu]: name and "
                              "digest.sha256 are required",
                              i);
        }
        st_dataset_record dr;
        st_code rc = st_dataset_get(ws, name, &dr, err);
        if (rc != ST_OK) {
            json_decref(res);
            return st_err_prefix(err, "model lineage");
        }
        char plain[65], file[65];
        st_hex_encode(dr.m.plain_sha256, 32, plain);
        st_hex_encode(dr.m.file_sha256, 32, file);
        if (strcmp(plain, sha) != 0) {
            st_dataset_record_free(&dr);
            json_decref(res);
            return st_err_set(err, ST_E_DENIED,
                              "model lineage: dataset \"%s\" in the catalog "
                              "is not the one the job trained on (digest %s, "
                              "provenance says %s)",
                              name, plain, sha);
        }
        int r = st_dataset_classification_rank(dr.m.classification);
        if (r > rank) {
            rank = r;
            snprintf(cls, 16, "%s", dr.m.classification);
        }
        if (dr.m.retention_days >= 0 &&
            (*retention < 0 || dr.m.retention_days < *retention))
            *retention = dr.m.retention_days;
        json_array_append_new(
            res, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "name", name, "sha256",
                           sha, "file_sha256", file, "classification",
                           dr.m.classification, "retention_days",
                           (json_int_t)dr.m.retention_days, "generation",
                           (json_int_t)dr.m.generation));
        st_dataset_record_free(&dr);
    }
    *out = res;
    return ST_OK;
}

/* The claims of the broker's first passing verdict for the job whose
 * status is `status`. */
static json_t *claims_of(const json_t *status)
{
    json_t *att = json_object_get(status, "attestation");
    json_t *verdicts = json_object_get(att, "verdicts");
    const json_t *src = json_object_get(json_array_get(verdicts, 0), "claims");
    json_t *claims = json_is_object(src) ? json_deep_copy(src) : json_object();
    /* the digest of the evidence the broker released keys for: `model
     * verify` matches it against the evidence in the provenance */
    if (json_is_string(json_object_get(att, "evidence_sha256")))
        json_object_set(claims, "evidence_sha256",
                        json_object_get(att, "evidence_sha256"));
    return claims;
}

static st_code check_name_owner(st_workspace *ws, const st_model_record *r,
                                st_err *err)
{
    char resource[ST_MODEL_NAME_MAX + 8], owner[ST_PRINCIPAL_NAME_MAX] = "";
    snprintf(resource, sizeof(resource), "model:%s", r->name);
    st_err e2;
    st_code rc = st_access_get_owner(ws, resource, owner, sizeof(owner), &e2);
    if (rc != ST_OK && rc != ST_E_NOTFOUND) {
        if (err)
            *err = e2;
        return rc;
    }
    /* names registered before models had owners: the first version's */
    if (rc == ST_E_NOTFOUND &&
        (rc = st_model_db_first_owner(ws, r->name, owner, sizeof(owner),
                                      err)) != ST_OK)
        return rc;
    if (!owner[0] || !strcmp(owner, r->owner))
        return ST_OK;
    return st_err_set(err, ST_E_DENIED,
                      "registering model \"%s\": the name belongs to %s, "
                      "and job %s of %s may publish only to a new model "
                      "name or one of its own",
                      r->name, owner, r->job_id, r->owner);
}

st_code st_model_register(st_workspace *ws, const st_model_record *in,
                          const st_model_job *job, const st_model_also *also,
                          uint32_t *version, int *unknown, st_err *err)
{
    if (unknown)
        *unknown = 0;
    st_code rc = st_model_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    if ((rc = st_dataset_check_name("model", in->name, err)))
        return rc;
    st_model_record r;
    memset(&r, 0, sizeof(r));
    snprintf(r.name, sizeof(r.name), "%s", in->name);
    snprintf(r.job_id, sizeof(r.job_id), "%s", in->job_id);
    snprintf(r.path, sizeof(r.path), "%s", in->path);
    snprintf(r.provenance_path, sizeof(r.provenance_path), "%s",
             in->provenance_path);

    snprintf(r.owner, sizeof(r.owner), "%s", job->submitter);
    snprintf(r.spec_sha256, sizeof(r.spec_sha256), "%s", job->spec_digest);

    json_t *env = NULL, *stmt = NULL;
    if ((rc = statement_of(in->provenance_path, &env, &stmt, err)))
        return st_err_prefix(err, "registering model \"%s\"", in->name);
    json_decref(env);
    const json_t *pred = json_object_get(stmt, "predicate");
    const char *subject =
        st_json_path_string(json_array_get(json_object_get(stmt, "subject"), 0),
                            "digest", "sha256");
    const char *pjob = st_json_path_string(pred, "job_id", NULL);
    const char *pspec = st_json_path_string(pred, "job_spec", "sha256");
    uint8_t d[32];
    struct stat sb;
    if ((rc = st_sha256_file(in->path, d, err)) == ST_OK) {
        st_hex_encode(d, 32, r.file_sha256);
        if (stat(in->path, &sb) == 0)
            r.file_size = (uint64_t)sb.st_size;
    }
    if (rc == ST_OK && (!subject || strcmp(subject, r.file_sha256) != 0))
        rc = st_err_set(err, ST_E_DENIED,
                        "registering model \"%s\": the file's digest %s is "
                        "not the provenance subject",
                        in->name, r.file_sha256);
    if (rc == ST_OK && (!pjob || strcmp(pjob, r.job_id) != 0))
        rc = st_err_set(err, ST_E_DENIED,
                        "registering model \"%s\": the provenance names job "
                        "%s, not %s",
                        in->name, pjob ? pjob : "(none)", r.job_id);
    if (rc == ST_OK && (!pspec || strcmp(pspec, r.spec_sha256) != 0))
        rc = st_err_set(err, ST_E_DENIED,
                        "registering model \"%s\": the provenance's job spec "
                        "digest is not the job's",
                        in->name);
    if (rc == ST_OK)
        rc = datasets_of(ws, pred, &r.datasets, r.classification,
                         &r.retention_days, err);
    if (rc == ST_OK) {
        r.metrics = json_incref(json_object_get(pred, "metrics"));
        if (!r.metrics)
            r.metrics = json_object();
        r.recipients = json_incref(json_object_get(pred, "recipients"));
        if (!json_is_array(r.recipients)) {
            json_decref(r.recipients);
            r.recipients = json_array();
        }
        r.claims = claims_of(job->status);
    }
    json_decref(stmt);
    if (rc != ST_OK) {
        st_model_record_free(&r);
        return rc;
    }

    char t[ST_TIME_LEN];
    st_time_format(time(NULL), t);
    snprintf(r.created, sizeof(r.created), "%s", t);
    int64_t entry = 0;
    /* the row, its owner, the model.register entry and the caller's change
     * (the job's move to succeeded) commit together or not at all */
    if ((rc = st_audit_txn_begin(ws, err)) != ST_OK)
        goto out;
    /* a name is its first registrant's: another model owner's job does
     * not become the owner's "latest" version (checked at submit too;
     * here, inside the transaction, two first registrations race and
     * one wins) */
    if ((rc = check_name_owner(ws, &r, err)) != ST_OK)
        goto rollback;
    if ((rc = st_model_db_insert(ws, &r, err)) != ST_OK)
        goto rollback;
    /* the model owner owns the name: decrypt/share/rm are theirs or their
     * grantees' (its resource.own entry commits with this transaction) */
    char resource[ST_MODEL_NAME_MAX + 32];
    snprintf(resource, sizeof(resource), "model:%s", r.name);
    char cur[ST_MODEL_NAME_MAX + 1];
    if (st_access_get_owner(ws, resource, cur, sizeof(cur), NULL) != ST_OK &&
        (rc = st_access_set_owner(ws, resource, r.owner, err)) != ST_OK)
        goto rollback;
    snprintf(resource, sizeof(resource), "model:%s@%u", r.name, r.version);
    json_t *details = json_pack("{s:s,s:s,s:s,s:s}", "job", r.job_id, "sha256",
                                r.file_sha256, "classification",
                                r.classification, "spec_sha256", r.spec_sha256);
    st_audit_event ev = {"operation", r.owner, "model.register", resource,
                         "success",   NULL,    details};
    rc = details ? st_audit_txn_event(ws, &ev, &entry, err)
                 : st_err_errno(err, ST_E_IO, ENOMEM,
                                "the model.register "
                                "entry");
    json_decref(details);
    if (rc != ST_OK)
        goto rollback;
    *version = r.version;
    if (also && also->change && (rc = also->change(ws, also->arg, err)))
        goto rollback;
    if (also && also->ev &&
        (rc = st_audit_txn_event(ws, also->ev, &entry, err)))
        goto rollback;
    int maybe = 0;
    if ((rc = st_audit_txn_commit(ws, &maybe, err)) != ST_OK) {
        if (unknown)
            *unknown = maybe;
        goto out;
    }
    st_audit_txn_deliver(ws, entry);
    goto out;
rollback:
    st_audit_txn_rollback(ws);
    if (rc == ST_E_DENIED)
        st_model_audit(ws, r.owner, "model.register", &r, "denied",
                       err ? err->msg : NULL,
                       json_pack("{s:s}", "job", r.job_id));
out:
    st_model_record_free(&r);
    return rc;
}

json_t *st_model_record_json(const st_model_record *r)
{
    json_t *v = json_pack(
        "{s:s,s:i,s:s,s:s,s:s,s:{s:s,s:{s:s},s:O,s:O},s:O,s:s,s:I,s:O,s:{s:s,"
        "s:I,s:s,s:s}}",
        "name", r->name, "version", (int)r->version, "job", r->job_id, "owner",
        r->owner, "created", r->created, "lineage", "job", r->job_id,
        "job_spec", "sha256", r->spec_sha256, "datasets",
        r->datasets ? r->datasets : json_null(), "attestation",
        r->claims ? r->claims : json_null(), "metrics",
        r->metrics ? r->metrics : json_null(), "classification",
        r->classification, "retention_days", (json_int_t)r->retention_days,
        "recipients", r->recipients ? r->recipients : json_null(), "file",
        "path", r->path, "size", (json_int_t)r->file_size, "sha256",
        r->file_sha256, "provenance", r->provenance_path);
    /* retention runs from registration: the date after which the model
     * should be shredded, like its datasets */
    time_t created;
    char expires[ST_TIME_LEN];
    if (v && r->retention_days >= 0 &&
        st_time_parse(r->created, &created, NULL) == ST_OK) {
        st_time_format(created + (time_t)r->retention_days * 86400, expires);
        json_object_set_new(v, "expires", json_string(expires));
    } else if (v)
        json_object_set_new(v, "expires", json_null());
    return v;
}
