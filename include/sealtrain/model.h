/*
 * sealtrain/model.h: sealed models: the registry (versions, lineage),
 * verification of a model against its provenance and attestation
 * evidence, decryption, sharing, crypto-shredding and ONNX export.
 *
 * A sealed model is an age file (safetensors inside) written by a job's
 * enclave runtime, plus its provenance: an in-toto Statement v1 in a DSSE
 * envelope signed with the runtime's attested Ed25519 key. The statement's
 * predicate carries the attestation evidence and the nonce the broker
 * issued, so anyone can check, without sealtrain's catalog, that the key
 * which signed the provenance is the key the TEE bound into its evidence
 * (docs/models.md).
 *
 * Registry tables (module "model"): models(name, version, job, ...) with
 * versions numbered 1, 2, ... per name and never reused, and
 * model_shares(name, version, recipient, path, ...).
 *
 * Never: write a plaintext model anywhere but where the caller asked
 * (decrypt/export output, written atomically); keep decrypted weights
 * outside secure memory longer than it takes to write them.
 */
#ifndef SEALTRAIN_MODEL_H
#define SEALTRAIN_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/age.h"
#include "sealtrain/attest.h"
#include "sealtrain/audit.h"
#include "sealtrain/err.h"
#include "sealtrain/workspace.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_MODEL_NAME_MAX 64
#define ST_MODEL_PREDICATE "https://sealtrain.dev/provenance/v1"
/* The statement of a model use (evaluate, predict; docs/predict.md). */
#define ST_MODEL_USE_PREDICATE "https://sealtrain.dev/use/v1"

/* One registered model version. Strings are owned copies; the json_t
 * members are owned references (NULL when absent). */
typedef struct st_model_record {
    char name[ST_MODEL_NAME_MAX + 1];
    uint32_t version;
    char job_id[32];
    char owner[ST_MODEL_NAME_MAX + 1]; /* the job's submitter */
    char created[32];
    char spec_sha256[65];
    json_t *datasets;         /* [{name, sha256 (plaintext), file_sha256,
                                 classification, retention_days}] */
    json_t *claims;           /* the attestation claims the broker verified */
    json_t *metrics;          /* the job's final metrics */
    json_t *recipients;       /* ["age1..."]: sealed-to plus shared-to */
    char classification[16];  /* strictest of the datasets' */
    long long retention_days; /* shortest of the datasets'; -1 none */
    char file_sha256[65];
    uint64_t file_size;
    char path[4096];            /* the sealed age file */
    char provenance_path[4096]; /* the DSSE envelope (JSON) */
} st_model_record;

void st_model_record_free(st_model_record *r); /* members only; NULL ok */

/* Creates the registry tables (idempotent). */
ST_MUST_CHECK st_code st_model_migrate(st_workspace *ws, st_err *err);

/* What the registry needs of the job that made a model, as the catalog
 * holds it when the model is registered (the job controller reads its
 * record and passes these; the registry does not call into src/job/). */
typedef struct st_model_job {
    const char *submitter;   /* the model's owner */
    const char *spec_digest; /* hex SHA-256 of the signed spec */
    const json_t *status;    /* the job's status: its attestation verdicts */
} st_model_job;

/* "NAME" or "NAME@VERSION" (no version: the latest). */
ST_MUST_CHECK st_code st_model_ref_parse(const char *ref,
                                         char name[ST_MODEL_NAME_MAX + 1],
                                         uint32_t *version, st_err *err);
/* The record of NAME@VERSION (0: latest); ST_E_NOTFOUND naming it. */
ST_MUST_CHECK st_code st_model_get(st_workspace *ws, const char *name,
                                   uint32_t version, st_model_record *out,
                                   st_err *err);
/* Every live model version, by name then version; free each record,
 * then the array. */
ST_MUST_CHECK st_code st_model_list(st_workspace *ws, st_model_record **out,
                                    size_t *n, st_err *err);
/* The record as JSON (lineage included). */
json_t *st_model_record_json(const st_model_record *r);

/* ---- verification ---- */

typedef struct st_model_verify_opts {
    /* the attestation policy the evidence must satisfy (JSON text), or
       NULL: with a record, each source dataset's current release policy;
       without one, the verifier's default policy */
    const char *policy_text;
    size_t policy_len;
    const st_attest_refs *refs; /* sim platform key, TPM AK; may be NULL */
    st_workspace *ws;           /* for the datasets' release policies, or
                                   NULL */
    int64_t now;                /* unix seconds */
} st_model_verify_opts;

/* Verifies a model file against its provenance envelope, claim by claim
 * into v->trace (st_verdict_init first): model.digest (file vs subject),
 * provenance.type, provenance.signature (DSSE, by the runtime key named in
 * the statement), provenance.key_binding (report data = SHA-256 of the
 * binding domain, both runtime keys, nonce and spec digest), then the
 * evidence through st_attest_verify with that report data; with `rec`
 * also provenance.job, provenance.spec and registry.digest against the
 * registry. v->claims gets the evidence's claims. ST_OK when a verdict was
 * reached (read v->pass); ST_E_INPUT when the envelope is malformed. */
ST_MUST_CHECK st_code st_model_verify(const char *model_path,
                                      const json_t *envelope,
                                      const st_model_record *rec,
                                      const st_model_verify_opts *o,
                                      st_verdict *v, st_err *err);

/* Verifies the signed statement of a model use (evaluate, predict;
 * ST_MODEL_USE_PREDICATE) against what left, `output_sha256` (hex: the
 * SHA-256 of the sealed predictions, or of the evaluation as compact
 * JSON with sorted keys), claim by claim as st_model_verify does
 * (use.output, provenance.type, provenance.signature, the evidence
 * under o->policy_text or the default policy, provenance.key_binding,
 * provenance.measurement), then use.spec (the carried spec is the
 * signed one, a use of the model version, mode and dataset the predicate
 * names), use.model and use.dataset (their digests named). */
ST_MUST_CHECK st_code st_model_verify_use(const char *output_sha256,
                                          const json_t *envelope,
                                          const st_model_verify_opts *o,
                                          st_verdict *v, st_err *err);

/* The workspace's trust anchors for st_model_verify: the sim platform's
 * public key (from `sim_key_pem` when not NULL, else keys/sim-platform.pem)
 * and the enrolled TPM attestation key (keys/tpm-ak); a missing one stays
 * NULL (that TEE's evidence is then refused). `ws` may be NULL. */
typedef struct st_model_refs {
    st_attest_refs refs;
    uint8_t sim_pub[32];
    unsigned char *ak;
} st_model_refs;
void st_model_refs_load(st_workspace *ws, const char *sim_key_pem,
                        st_model_refs *out);
void st_model_refs_free(st_model_refs *r); /* NULL ok */

/* ---- operations (access-checked by the caller; audited here) ---- */

/* Decrypts the model into `out_path` (atomically, 0600) after checking
 * that the sealed file still has its registered digest. */
ST_MUST_CHECK st_code st_model_decrypt(st_workspace *ws,
                                       const st_model_record *r,
                                       const st_age_identity *ids, size_t nids,
                                       const char *out_path, const char *actor,
                                       st_err *err);
/* Adds `recipient` (age1...) when every source dataset's release policy
 * lists it: a copy of the sealed file whose header gains one stanza (the
 * payload is copied untouched), registered in model_shares. ST_E_DENIED
 * naming the dataset whose policy refuses; audited either way. */
ST_MUST_CHECK st_code st_model_share(st_workspace *ws, const st_model_record *r,
                                     const char *recipient,
                                     const st_age_identity *ids, size_t nids,
                                     const char *actor, char *shared_path,
                                     size_t cap, st_err *err);
/* Crypto-shred: shreds the sealed file and every shared copy, then the
 * catalog rows (the version number stays used); audited. */
ST_MUST_CHECK st_code st_model_rm(st_workspace *ws, const st_model_record *r,
                                  const char *actor, st_err *err);
/* The sealed file's file key, recovered from its header with `ids` (one
 * must be a recipient's; the header MAC checked), in secure memory, and
 * the file opened after its registered digest was checked (*fd, at its
 * start; the caller closes it): what a model-use job hands the gate and
 * the runtime. ST_E_DENIED when the file is not the registered one. */
ST_MUST_CHECK st_code st_model_file_key(const st_model_record *r,
                                        const st_age_identity *ids, size_t nids,
                                        int *fd, st_secret **out, st_err *err);
/* The sealed file opened (*fd, at its start) after its registered digest
 * was checked, without its key: a model-use job whose requester wraps
 * the key to the runtime itself. ST_E_DENIED when it is not the
 * registered file. */
ST_MUST_CHECK st_code st_model_file_open(const st_model_record *r, int *fd,
                                         st_err *err);
/* The plaintext safetensors of a model in secure memory (st_secmem_free). */
ST_MUST_CHECK st_code st_model_open(const st_model_record *r,
                                    const st_age_identity *ids, size_t nids,
                                    void **plain, size_t *len, st_err *err);

/* A model owner's own, non-secret rows scored in this process (no
 * enclave): `in_path` is CSV with a header whose every column is a
 * feature, in the training order; `out_path` receives the predictions as
 * CSV (st_predictor_csv: original labels and probabilities, or values),
 * atomically, 0600. *rows gets the number scored. Audited
 * ("model.predict", "local": true); the access check is the caller's
 * (model.decrypt). */
ST_MUST_CHECK st_code st_model_score_csv(
    st_workspace *ws, const st_model_record *r, const st_age_identity *ids,
    size_t nids, const char *in_path, const char *out_path, const char *actor,
    size_t *rows, st_err *err);

/* ---- ONNX ---- */

/* An ONNX ModelProto (IR 8, opset 13) for a sealtrain safetensors file of
 * the linear/logistic/MLP family: Gemm per layer, the hidden activation
 * (Relu, Tanh, Sigmoid, or GELU as x * 0.5 * (1 + Erf(x / sqrt 2))), and
 * Softmax (softmax CE) or Sigmoid (BCE) on the output so that it yields
 * what st_trainer_predict yields. Input "input" [N, inputs] float, output
 * "output" [N, outputs]. *out is secure memory (st_secmem_free). */
ST_MUST_CHECK st_code st_model_onnx_export(const uint8_t *safetensors,
                                           size_t len, const char *graph_name,
                                           void **out, size_t *out_len,
                                           st_err *err);

#ifdef __cplusplus
}
#endif
#endif
