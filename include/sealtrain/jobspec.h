/*
 * sealtrain/jobspec.h: the job spec (docs/jobs.md) and the names of a
 * job's states: the format that the job controller, the gate and the enclave
 * runtime share. It sits below all three (src/jobspec/), so none of them
 * needs another's header for it.
 *
 * A job spec is strict JSON. It is signed by the submitting principal as
 * a DSSE envelope (ST_DSSE_TYPE_JOBSPEC) and stored in the catalog; its
 * digest is SHA-256 of the signed payload, and that digest is bound into
 * the runtime's attestation evidence.
 *
 * The protections a spec may ask for are words of the format too: the
 * sandbox level ("strict", "relaxed"; the sandbox applies it,
 * src/enclave/sandbox.h) and the TEE (sealtrain/attest.h).
 */
#ifndef SEALTRAIN_JOBSPEC_H
#define SEALTRAIN_JOBSPEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/attest.h"
#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the sandbox level a spec asks for ---- */

typedef enum st_sandbox_level {
    ST_SANDBOX_STRICT = 0, /* refuse to run unless every measure applies */
    ST_SANDBOX_RELAXED     /* run and report what is missing */
} st_sandbox_level;

/* "strict" / "relaxed" */
const char *st_sandbox_level_name(st_sandbox_level level);
ST_MUST_CHECK st_code st_sandbox_level_parse(const char *s,
                                             st_sandbox_level *out,
                                             st_err *err);

/* ---- the spec ---- */

#define ST_JOB_NAME_MAX 64
#define ST_JOB_ID_LEN 16 /* "j" + 15 hex characters */
#define ST_JOB_MAX_RECIPIENTS 16
#define ST_JOB_RECIPIENT_MAX 128

/* What a job does with its dataset: train a model (the default), or use
 * a registered model on it ("use" section, docs/predict.md): evaluate
 * (metrics only leave) or predict (row outputs leave, sealed to the
 * spec's recipients). A dataset's release policy allows each use apart. */
typedef enum st_job_kind {
    ST_JOB_KIND_TRAIN = 0,
    ST_JOB_KIND_EVALUATE,
    ST_JOB_KIND_PREDICT
} st_job_kind;

/* "train" / "evaluate" / "predict" */
const char *st_job_kind_name(st_job_kind kind);

typedef struct st_job_spec {
    json_t *root; /* the whole spec (owned) */
    st_job_kind kind;
    /* evaluate / predict: the registered model version it uses (the
     * version is pinned in the signed spec) */
    char use_model[ST_JOB_NAME_MAX + 1];
    uint32_t use_version;
    /* "use": {"key": "requester"}: the requester wraps the model's key to
     * the attested runtime itself (over the API); the controller holds
     * none */
    int use_key_by_requester;
    char name[ST_JOB_NAME_MAX + 1];
    json_t *model; /* borrowed from root: the engine's sections */
    json_t *training;
    json_t *preprocessing; /* borrowed: the engine's feature scaling, or
                              NULL */
    char train_dataset[ST_JOB_NAME_MAX + 1];
    char valid_dataset[ST_JOB_NAME_MAX + 1]; /* "" when none */
    unsigned cpus;                           /* 0: all */
    uint64_t memory_bytes;                   /* runtime memory limit */
    uint64_t time_limit_s;                   /* wall time */
    st_tee tee;                              /* ST_TEE_SIM or ST_TEE_TPM here */
    st_sandbox_level sandbox;                /* default strict */
    int memory_secret;   /* "memory": "secret" (default: memfd_secret) or
                            "locked" (mlock: bulk data faults in faster) */
    json_t *attestation; /* the verifier policy the job asks for, or
                            NULL (borrowed) */
    char model_name[ST_JOB_NAME_MAX + 1];
    size_t nrecipients;
    char recipients[ST_JOB_MAX_RECIPIENTS][ST_JOB_RECIPIENT_MAX];
    unsigned checkpoint_every; /* epochs; 0 = never */
} st_job_spec;

/* Strict: unknown keys, wrong types, out-of-range values are ST_E_INPUT
 * naming the key path and `origin`. */
ST_MUST_CHECK st_code st_job_spec_parse(const char *text, size_t len,
                                        const char *origin, st_job_spec *out,
                                        st_err *err);
ST_MUST_CHECK st_code st_job_spec_load(const char *path, st_job_spec *out,
                                       st_err *err);
void st_job_spec_free(st_job_spec *spec);
/* ST_OK when each of the n `recipients` is one of the spec's
 * outputs.recipients, else ST_E_DENIED naming the first that is not: the
 * runtime seals only to recipients of the signed spec (which the evidence
 * binds), whatever its controller passes it. */
ST_MUST_CHECK st_code st_job_spec_check_recipients(
    const st_job_spec *spec, const char (*recipients)[ST_JOB_RECIPIENT_MAX],
    size_t n, st_err *err);
/* The spec's signed form: JSON with sorted keys, compact (malloc'ed). */
char *st_job_spec_serialise(const st_job_spec *spec, st_err *err);
/* SHA-256 of st_job_spec_serialise(): the digest bound into evidence. */
ST_MUST_CHECK st_code st_job_spec_digest(const st_job_spec *spec,
                                         uint8_t out[32], st_err *err);

/* The spec signed by `seed` as a DSSE envelope (ST_DSSE_TYPE_JOBSPEC)
 * over st_job_spec_serialise(): what `job submit` stores and what a
 * remote client sends to POST /v1/jobs. */
json_t *st_job_spec_sign(const st_job_spec *spec, const uint8_t seed[32],
                         st_err *err);
/* Opens a submitted envelope (untrusted text): strict JSON, payload type
 * ST_DSSE_TYPE_JOBSPEC, a valid signature by `pub`, a payload that is a
 * valid spec (any JSON layout: the spec digest is SHA-256 of the signed
 * payload bytes, as `job run` computes it). Fills *spec
 * (st_job_spec_free), `digest` and, when env_out is not NULL, the parsed
 * envelope. ST_E_INPUT when malformed, ST_E_DENIED when no signature
 * verifies; errors name `origin`. */
ST_MUST_CHECK st_code st_job_envelope_open(
    const char *text, size_t len, const char *origin, const uint8_t pub[32],
    st_job_spec *spec, uint8_t digest[32], json_t **env_out, st_err *err);

/* ---- the states of a job (persisted by src/job/) ---- */

typedef enum st_job_state {
    ST_JOB_QUEUED = 0,
    ST_JOB_ATTESTING,
    ST_JOB_KEYED,
    ST_JOB_LOADING,
    ST_JOB_TRAINING,
    ST_JOB_SEALING,
    ST_JOB_SUCCEEDED,
    ST_JOB_FAILED,
    ST_JOB_CANCELLED
} st_job_state;

/* The name of a job's sealed model file in the workspace's models/,
 * "<model_name>-<job id>.age": the file the registry keeps and the
 * subject name of the runtime's in-toto statement (one name for both). */
void st_job_model_file_name(const st_job_spec *spec, const char *job_id,
                            char *out, size_t cap);

const char *st_job_state_name(st_job_state s);
ST_MUST_CHECK st_code st_job_state_parse(const char *name, st_job_state *out,
                                         st_err *err);
int st_job_state_terminal(st_job_state s);

#ifdef __cplusplus
}
#endif
#endif
