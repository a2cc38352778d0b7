/*
 * verify.c: a sealed model against its provenance, claim by claim.
 *
 *   model.digest           SHA-256 of the file == the statement's subject
 *   provenance.type        in-toto Statement v1, sealtrain predicate
 *   provenance.signature   DSSE (PAE over the payload) verifies under the
 *                          runtime Ed25519 key the statement names
 *   provenance.evidence    the statement carries the evidence and nonce
 *   (the verifier's own trace: signature, report data, policy ...)
 *                          st_attest_verify with report data =
 *                          st_broker_report_data(x25519, ed25519, nonce,
 *                          job spec digest) from the statement
 *   provenance.key_binding the evidence's report data is exactly that: the
 *                          TEE bound the key that signed the provenance
 *   provenance.measurement the runtime measurement the statement names is
 *                          the one the evidence reports
 *   provenance.datasets    the statement's datasets and roles are the
 *                          signed spec's (carried in the statement)
 *   with a registry record: provenance.job, provenance.spec,
 *   registry.digest, registry.evidence (the evidence the broker released
 *   keys for).
 *
 * The trace types are the attestation verifier's (st_trace, st_verdict);
 * the first failing entry becomes the verdict's reason.
 *
 * Never: trust the statement before its signature and key binding have
 * been checked (every field read before is only compared, never believed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/trace.h"
#include "sealtrain/broker.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/jobspec.h"
#include "sealtrain/json.h"
#include "sealtrain/model.h"
#include "sealtrain/release.h"
#include "sealtrain/secmem.h"

#include "crypto/dsse.h"
#include "model/model_internal.h"

/* 32 bytes from 64 hex characters; 0 when not exactly that. */
static int hex32(const char *hex, uint8_t out[32])
{
    return hex && strlen(hex) == 64 && st_hex_decode(hex, out, 32, NULL) == 0;
}

static void set_reason(st_verdict *v)
{
    const st_trace_entry *f = st_trace_first_failure(&v->trace);
    if (f)
        snprintf(v->reason, sizeof(v->reason), "%s: expected %s, got %s",
                 f->claim, f->expected, f->actual);
    else
        snprintf(v->reason, sizeof(v->reason), "pass");
    v->pass = !f && !v->trace.oom && v->trace.n > 0;
}

/* Runs the attestation verifier under one policy and copies its trace
 * into ours (claims prefixed with `prefix` when there are several). */
static ST_MUST_CHECK st_code verify_evidence(
    const st_evidence *ev, const uint8_t rd[64], const st_attest_refs *refs,
    const char *text, size_t len, const char *origin, const char *prefix,
    int64_t now, st_verdict *v, st_err *err)
{
    st_attest_policy *pol = NULL;
    st_code rc = ST_OK;
    if (text && (rc = st_attest_policy_parse(text, len, origin, &pol, err)))
        return rc;
    st_verdict ev_v;
    st_verdict_init(&ev_v);
    rc = st_attest_verify(ev, rd, refs, pol, now, &ev_v, err);
    st_attest_policy_free(pol);
    if (rc == ST_OK) {
        for (size_t i = 0; i < ev_v.trace.n; i++) {
            const st_trace_entry *e = &ev_v.trace.entries[i];
            char claim[256];
            snprintf(claim, sizeof(claim), "%s%s", prefix ? prefix : "",
                     e->claim);
            st_trace_add(&v->trace, claim, e->ok, e->expected, e->actual);
        }
        if (!ev_v.pass && !st_trace_first_failure(&ev_v.trace))
            st_trace_add(&v->trace, "evidence.verdict", 0, "pass", ev_v.reason);
        /* the claims of the first policy's run are the model's */
        if (v->claims.tee == ST_TEE_NONE) {
            st_claims_free(&v->claims);
            v->claims = ev_v.claims;
            st_claims_init(&ev_v.claims);
        }
    }
    st_verdict_free(&ev_v);
    return rc;
}

/* With a workspace: each source dataset's release policy (its
 * "attestation" part), as the broker applied them at release. */
static ST_MUST_CHECK st_code verify_with_dataset_policies(
    st_workspace *ws, const st_model_record *rec, const st_evidence *ev,
    const uint8_t rd[64], const st_attest_refs *refs, int64_t now,
    st_verdict *v, st_err *err)
{
    size_t i;
    const json_t *d;
    int ran = 0;
    json_array_foreach(rec->datasets, i, d)
    {
        const char *name = st_json_path_string(d, "name", NULL);
        st_release_policy *pol = NULL;
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "dataset:%s/", name ? name : "?");
        if (!name || st_release_policy_get(ws, name, &pol, NULL) != ST_OK) {
            st_trace_add(&v->trace, "policy.release", 0,
                         "a release policy for every source dataset",
                         name ? name : "(unnamed dataset)");
            continue;
        }
        char *text = st_json_dumps(json_object_get(pol->json, "attestation"),
                                   JSON_COMPACT | JSON_ENCODE_ANY);
        st_release_policy_free(pol);
        if (!text)
            return st_err_set(err, ST_E_IO, "out of memory");
        st_code rc = verify_evidence(ev, rd, refs, text, strlen(text), prefix,
                                     prefix, now, v, err);
        free(text);
        if (rc != ST_OK)
            return rc;
        ran = 1;
    }
    if (!ran)
        st_trace_add(&v->trace, "policy", 0, "a policy to verify against",
                     "none");
    return ST_OK;
}

/* The signed job spec a runtime's statement carries
 * (predicate.job_spec.payload), checked against its SHA-256
 * (job_spec.sha256, the digest the evidence binds) and parsed into *spec
 * (the caller frees it): 1 then; else 0, with the failure traced under
 * `claim`. */
static int statement_spec(const json_t *pred, const char *claim, st_verdict *v,
                          st_job_spec *spec)
{
    const json_t *js = json_object_get(pred, "job_spec");
    const char *payload = st_json_path_string(js, "payload", NULL);
    const char *sha = st_json_path_string(js, "sha256", NULL);
    if (!payload) {
        st_trace_add(&v->trace, claim, 0,
                     "the signed job spec in predicate.job_spec.payload",
                     "absent");
        return 0;
    }
    uint8_t d[32];
    char dh[65];
    st_sha256(payload, strlen(payload), d);
    st_hex_encode(d, 32, dh);
    if (!sha || strcmp(sha, dh) != 0) {
        st_trace_add(&v->trace, claim, 0,
                     sha ? sha : "predicate.job_spec.sha256", dh);
        return 0;
    }
    st_err e;
    st_err_clear(&e);
    if (st_job_spec_parse(payload, strlen(payload), "provenance job spec", spec,
                          &e) != ST_OK) {
        st_trace_add(&v->trace, claim, 0, "a job spec that parses", e.msg);
        return 0;
    }
    return 1;
}

/* provenance.datasets: the statement carries the signed job spec
 * (predicate.job_spec.payload, whose SHA-256 is job_spec.sha256, the
 * digest the evidence binds), and its datasets are exactly the spec's,
 * each in its role. */
static void check_datasets(const json_t *pred, st_verdict *v)
{
    st_job_spec spec;
    if (!statement_spec(pred, "provenance.datasets", v, &spec))
        return;
    char want[2 * ST_JOB_NAME_MAX + 64], got[1024] = "";
    snprintf(want, sizeof(want), "train=%s%s%s", spec.train_dataset,
             spec.valid_dataset[0] ? ", validation=" : "", spec.valid_dataset);
    st_job_spec_free(&spec);
    const json_t *arr = json_object_get(pred, "datasets");
    size_t i;
    const json_t *ds;
    json_array_foreach(arr, i, ds)
    {
        const char *role = st_json_path_string(ds, "role", NULL);
        const char *name = st_json_path_string(ds, "name", NULL);
        size_t at = strlen(got);
        snprintf(got + at, sizeof(got) - at, "%s%s=%s", i ? ", " : "",
                 role ? role : "(no role)", name ? name : "(no name)");
    }
    st_trace_add(&v->trace, "provenance.datasets", !strcmp(want, got), want,
                 json_is_array(arr) ? got : "(no datasets)");
}

/* What a statement of the runtime's (a training's provenance, a model
 * use's) must show, claim by claim: the subject's digest is `subject_hex`
 * (claim `subject_claim`), its type, the DSSE signature by the runtime
 * key it names, the evidence and nonce it carries, verified with the
 * report data that binds that key (under o->policy_text, or with `rec`
 * the source datasets' policies), and the measurement. *stmt gets the
 * parsed statement, ev_hex the evidence's digest ("" without one). */
static ST_MUST_CHECK st_code
verify_statement(const json_t *envelope, const char *subject_claim,
                 const char *subject_hex, const char *want_type,
                 const st_model_record *rec, const st_model_verify_opts *o,
                 json_t **stmt_out, char ev_hex[65], st_verdict *v, st_err *err)
{
    *stmt_out = NULL;
    ev_hex[0] = 0;
    uint8_t *payload = NULL;
    size_t plen = 0;
    st_code rc = st_dsse_payload(envelope, &payload, &plen, err);
    if (rc != ST_OK)
        return st_err_prefix(err, "provenance");
    json_t *stmt =
        st_json_parse((const char *)payload, plen, "provenance statement", err);
    free(payload);
    if (!stmt)
        return err->code ? err->code : ST_E_INPUT;
    const json_t *pred = json_object_get(stmt, "predicate");
    st_evidence *ev = NULL;

    const char *subject =
        st_json_path_string(json_array_get(json_object_get(stmt, "subject"), 0),
                            "digest", "sha256");
    st_trace_add(&v->trace, subject_claim,
                 subject && !strcmp(subject, subject_hex),
                 subject ? subject : "a subject digest", subject_hex);

    /* the statement and its signature */
    const char *type = st_json_path_string(stmt, "_type", NULL);
    const char *ptype = st_json_path_string(stmt, "predicateType", NULL);
    int type_ok = type && !strcmp(type, "https://in-toto.io/Statement/v1") &&
                  ptype && !strcmp(ptype, want_type);
    char want_text[160];
    snprintf(want_text, sizeof(want_text),
             "in-toto Statement v1 with predicate %s", want_type);
    st_trace_addf(&v->trace, "provenance.type", type_ok, want_text, "%s / %s",
                  type ? type : "(none)", ptype ? ptype : "(none)");
    uint8_t ed[32], x[32], nonce[32], spec[32];
    const char *ed_hex = st_json_path_string(pred, "runtime", "ed25519");
    const char *x_hex = st_json_path_string(pred, "runtime", "x25519");
    const char *spec_hex = st_json_path_string(pred, "job_spec", "sha256");
    const json_t *att = json_object_get(pred, "attestation");
    const char *nonce_hex = st_json_path_string(att, "nonce", NULL);
    int keys_ok = hex32(ed_hex, ed) && hex32(x_hex, x) && hex32(spec_hex, spec);
    if (!keys_ok) {
        st_trace_add(&v->trace, "provenance.runtime", 0,
                     "runtime.ed25519, runtime.x25519, job_spec.sha256 (hex)",
                     "missing or malformed");
    } else {
        uint8_t *p2 = NULL;
        size_t l2 = 0;
        st_err e2;
        st_err_clear(&e2);
        st_code vr =
            st_dsse_verify(envelope, ST_DSSE_TYPE_INTOTO,
                           (const uint8_t(*)[32])ed, 1, &p2, &l2, NULL, &e2);
        free(p2);
        if (vr == ST_E_INPUT) {
            rc = st_err_set(err, ST_E_INPUT, "provenance: %s", e2.msg);
            goto out;
        }
        st_trace_addf(&v->trace, "provenance.signature", vr == ST_OK,
                      "a DSSE signature by the runtime key",
                      vr == ST_OK ? "valid, key %.16s..." : "%s",
                      vr == ST_OK ? ed_hex : e2.msg);
    }

    /* the evidence, and the binding of the signing key into it */
    const json_t *evj = json_object_get(att, "evidence");
    int have_ev = keys_ok && hex32(nonce_hex, nonce) && json_is_object(evj);
    st_trace_add(&v->trace, "provenance.evidence", have_ev,
                 "predicate.attestation {nonce, evidence}",
                 have_ev ? "present" : "missing or malformed");
    if (have_ev) {
        size_t elen = 0;
        char *etext = st_json_canonical(evj, &elen, err);
        if (!etext) {
            rc = err->code;
            goto out;
        }
        uint8_t ed2[32];
        st_sha256(etext, elen, ed2);
        st_hex_encode(ed2, 32, ev_hex);
        rc =
            st_evidence_from_json(etext, elen, "provenance evidence", &ev, err);
        free(etext);
        if (rc != ST_OK)
            goto out;
        uint8_t rd[64];
        st_broker_report_data(x, ed, nonce, spec, rd);
        /* the evidence is judged as of when it was made: its freshness was
         * the broker's nonce at key release, and a model is verified long
         * after (certificates are checked for that moment too) */
        int64_t at = st_evidence_created(ev) ? st_evidence_created(ev) : o->now;
        if (o->policy_text || !rec || !o->ws)
            rc = verify_evidence(ev, rd, o->refs, o->policy_text, o->policy_len,
                                 "policy", NULL, at, v, err);
        else
            rc = verify_with_dataset_policies(o->ws, rec, ev, rd, o->refs, at,
                                              v, err);
        if (rc != ST_OK)
            goto out;
        char want[129], got[129] = "(none)";
        st_hex_encode(rd, 64, want);
        int bound = v->claims.has_report_data &&
                    st_ct_equal(v->claims.report_data, rd, 64);
        if (v->claims.has_report_data)
            st_hex_encode(v->claims.report_data, 64, got);
        st_trace_add(&v->trace, "provenance.key_binding", bound, want, got);
        /* the runtime the statement names is the one the TEE measured:
         * sim and tpm evidence report the runtime binary's SHA-256, which
         * the runtime writes into its statement */
        const char *meas = st_json_path_string(json_object_get(pred, "runtime"),
                                               "measurement", "sha256");
        st_trace_add(&v->trace, "provenance.measurement",
                     meas && v->claims.measurement[0] &&
                         !strcmp(meas, v->claims.measurement),
                     v->claims.measurement[0] ? v->claims.measurement
                                              : "(no measurement in evidence)",
                     meas ? meas : "(none)");
    }

    *stmt_out = stmt;
    stmt = NULL;
out:
    st_evidence_free(ev);
    json_decref(stmt);
    return rc;
}

st_code st_model_verify(const char *model_path, const json_t *envelope,
                        const st_model_record *rec,
                        const st_model_verify_opts *o, st_verdict *v,
                        st_err *err)
{
    st_model_verify_opts none = {0};
    if (!o)
        o = &none;
    /* the file */
    uint8_t fd[32];
    char fhex[65] = "", ev_hex[65] = "";
    st_code rc = st_sha256_file(model_path, fd, err);
    if (rc != ST_OK)
        return rc;
    st_hex_encode(fd, 32, fhex);
    json_t *stmt = NULL;
    rc = verify_statement(envelope, "model.digest", fhex, ST_MODEL_PREDICATE,
                          rec, o, &stmt, ev_hex, v, err);
    if (rc != ST_OK)
        return rc;
    const json_t *pred = json_object_get(stmt, "predicate");
    const char *spec_hex = st_json_path_string(pred, "job_spec", "sha256");
    int have_ev = ev_hex[0] != 0;
    check_datasets(pred, v);

    /* the registry's view of the same model */
    if (rec) {
        const char *job = st_json_path_string(pred, "job_id", NULL);
        st_trace_add(&v->trace, "provenance.job",
                     job && !strcmp(job, rec->job_id), rec->job_id,
                     job ? job : "(none)");
        st_trace_add(&v->trace, "provenance.spec",
                     spec_hex && !strcmp(spec_hex, rec->spec_sha256),
                     rec->spec_sha256, spec_hex ? spec_hex : "(none)");
        st_trace_add(&v->trace, "registry.digest",
                     !strcmp(fhex, rec->file_sha256), rec->file_sha256, fhex);
        const char *released =
            st_json_path_string(rec->claims, "evidence_sha256", NULL);
        if (released && have_ev)
            st_trace_add(&v->trace, "registry.evidence",
                         !strcmp(released, ev_hex), released, ev_hex);
    }
    set_reason(v);
    json_decref(stmt);
    return ST_OK;
}

/* use.spec: the statement carries the signed spec (whose SHA-256 the
 * evidence binds), a model-use spec whose model, version, mode and input
 * dataset are the ones the predicate names. */
static void check_use_spec(const json_t *pred, st_verdict *v)
{
    st_job_spec spec;
    if (!statement_spec(pred, "use.spec", v, &spec))
        return;
    char want[3 * ST_JOB_NAME_MAX + 64], got[3 * ST_JOB_NAME_MAX + 64];
    snprintf(want, sizeof(want), "%s %s@%u on %s", st_job_kind_name(spec.kind),
             spec.use_model, spec.use_version, spec.train_dataset);
    st_job_spec_free(&spec);
    const char *mode = st_json_path_string(pred, "mode", NULL);
    const char *model = st_json_path_string(pred, "model", "name");
    const char *data = st_json_path_string(pred, "dataset", "name");
    json_int_t ver = json_integer_value(
        json_object_get(json_object_get(pred, "model"), "version"));
    snprintf(got, sizeof(got), "%s %s@%lld on %s", mode ? mode : "?",
             model ? model : "?", (long long)ver, data ? data : "?");
    st_trace_add(&v->trace, "use.spec", !strcmp(want, got), want, got);
}

st_code st_model_verify_use(const char *output_sha256, const json_t *envelope,
                            const st_model_verify_opts *o, st_verdict *v,
                            st_err *err)
{
    st_model_verify_opts none = {0};
    char ev_hex[65];
    json_t *stmt = NULL;
    st_code rc = verify_statement(envelope, "use.output", output_sha256,
                                  ST_MODEL_USE_PREDICATE, NULL, o ? o : &none,
                                  &stmt, ev_hex, v, err);
    if (rc != ST_OK)
        return rc;
    const json_t *pred = json_object_get(stmt, "predicate");
    check_use_spec(pred, v);
    /* what the statement names, for the reader (the checks above vouch
     * for it once the verdict passes) */
    const char *msha =
        st_json_path_string(json_object_get(pred, "model"), "digest", "sha256");
    const char *dsha = st_json_path_string(json_object_get(pred, "dataset"),
                                           "manifest", "sha256");
    st_trace_add(&v->trace, "use.model", msha && strlen(msha) == 64,
                 "the model version's sealed file digest",
                 msha ? msha : "(none)");
    st_trace_add(&v->trace, "use.dataset", dsha && strlen(dsha) == 64,
                 "the dataset's signed manifest digest",
                 dsha ? dsha : "(none)");
    set_reason(v);
    json_decref(stmt);
    return ST_OK;
}
