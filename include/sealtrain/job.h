/*
 * sealtrain/job.h: training jobs: their signed submission, the persisted
 * states, and running a job end to end (broker + sandboxed enclave
 * runtime). The job spec and the names of the states are the jobspec
 * module's (sealtrain/jobspec.h), which the gate and the runtime share.
 *
 * States (each transition persisted and audited):
 *   queued -> attesting -> keyed -> loading -> training -> sealing ->
 *   succeeded; any non-terminal state -> failed | cancelled.
 */
#ifndef SEALTRAIN_JOB_H
#define SEALTRAIN_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/age.h"
#include "sealtrain/broker.h"
#include "sealtrain/err.h"
#include "sealtrain/jobspec.h"
#include "sealtrain/workspace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the catalog ---- */

/* Creates the job tables (idempotent). */
ST_MUST_CHECK st_code st_job_migrate(st_workspace *ws, st_err *err);

typedef struct st_job_record {
    char id[ST_JOB_ID_LEN + 1];
    char name[ST_JOB_NAME_MAX + 1];
    char submitter[ST_JOB_NAME_MAX + 1];
    st_job_state state;
    char reason[512];
    char created[32], updated[32];
    char spec_digest[65];
    json_t *envelope; /* the signed spec (DSSE) */
    json_t *status;   /* sandbox, attestation, progress, resources, result
                         (an object; may be empty) */
    int cancel_requested;
    long runtime_pid, controller_pid; /* 0 when none */
    char heartbeat[32];               /* last heartbeat, "" when none */
    char runner[ST_JOB_NAME_MAX + 1]; /* who ran or resumed it last, "" */
} st_job_record;

void st_job_record_free(st_job_record *r);

/* Signs the spec with `seed` (the submitter's Ed25519 key) and stores the
 * job as queued; the new id goes to `id`. Audited. */
ST_MUST_CHECK st_code st_job_submit(st_workspace *ws, const char *submitter,
                                    const st_job_spec *spec,
                                    const uint8_t seed[32],
                                    char id[ST_JOB_ID_LEN + 1], st_err *err);
/* Stores a spec signed elsewhere (a remote submitter's envelope, text):
 * the signature must verify under `submitter`'s registered signing key
 * (st_job_envelope_open) and the submitter needs job.submit on the
 * spec's training dataset (st_access_check, ST_E_DENIED); queued and
 * audited like st_job_submit. *spec receives the parsed spec
 * (st_job_spec_free). */
ST_MUST_CHECK st_code st_job_submit_envelope(st_workspace *ws,
                                             const char *submitter,
                                             const char *text, size_t len,
                                             char id[ST_JOB_ID_LEN + 1],
                                             st_job_spec *spec, st_err *err);
ST_MUST_CHECK st_code st_job_get(st_workspace *ws, const char *id,
                                 st_job_record *out, st_err *err);
/* Every job, newest first; *out malloc'ed (free each, then the array). */
ST_MUST_CHECK st_code st_job_list(st_workspace *ws, st_job_record **out,
                                  size_t *n, st_err *err);
/* The jobs `principal` may read (job.read on job:ID: its own, or every
 * job for admins, trainers and auditors), newest first; as st_job_list. */
ST_MUST_CHECK st_code st_job_list_readable(st_workspace *ws,
                                           const char *principal,
                                           st_job_record **out, size_t *n,
                                           st_err *err);
/* Moves a job to `state` (refusing a move out of a terminal state), with a
 * reason; persisted, logged in the job's log and audited. */
ST_MUST_CHECK st_code st_job_transition(st_workspace *ws, const char *id,
                                        st_job_state state, const char *reason,
                                        st_err *err);
/* The same, with `patch` (may be NULL) merged into the job's status in
 * the same transaction: one durable commit for a stage's state and the
 * status it produced. */
ST_MUST_CHECK st_code st_job_transition_status(st_workspace *ws, const char *id,
                                               st_job_state state,
                                               const char *reason,
                                               const json_t *patch,
                                               st_err *err);
/* Merges `patch` into the job's status object (key by key). */
ST_MUST_CHECK st_code st_job_status_update(st_workspace *ws, const char *id,
                                           const json_t *patch, st_err *err);
/* `principal` may do `action` (job.cancel, job.run for resume, job.read
 * for status and logs) on job `id`: st_access_check on "job:ID", whose
 * owner is the job's submitter (recorded now for jobs from before job
 * owners). ST_E_NOTFOUND for an unknown job, ST_E_DENIED (audited). */
ST_MUST_CHECK st_code st_job_authorize(st_workspace *ws, const char *principal,
                                       const char *action, const char *id,
                                       st_err *err);
/* Marks a job for cancellation: a queued job is cancelled at once; a
 * running one is stopped by its controller within a second. Audited
 * ("job.cancel", `actor` as actor) before it takes effect; the
 * transition to cancelled it makes names `actor` too. Authorize first
 * (st_job_authorize). */
ST_MUST_CHECK st_code st_job_cancel(st_workspace *ws, const char *actor,
                                    const char *id, st_err *err);
/* Records `runner` as the principal running a queued job (the actor of
 * its transitions); ST_E_USAGE when the job is not queued. */
ST_MUST_CHECK st_code st_job_start(st_workspace *ws, const char *runner,
                                   const char *id, st_err *err);
/* Moves a failed or cancelled job back to queued for `runner` (clearing
 * its cancel request), conditionally on its state, so that two resumes
 * cannot both win; ST_E_USAGE naming the state otherwise. Logged and
 * audited ("job.resume", `runner` as actor). */
ST_MUST_CHECK st_code st_job_resume(st_workspace *ws, const char *runner,
                                    const char *id, st_err *err);
/* st_job_resume for a job that someone else runs next (POST
 * /v1/jobs/ID/resume: the server's runner, or an operator's `job run`):
 * requeues it with `actor` as the audited actor and marks it so that
 * that run continues from the job's checkpoint, as `job resume` does.
 * Authorize first (st_job_authorize, job.run). */
ST_MUST_CHECK st_code st_job_resume_later(st_workspace *ws, const char *actor,
                                          const char *id, st_err *err);
/* Appends a line to the job's log (<workspace>/logs/<id>.log). Never
 * pass data or secrets. */
void st_job_log(st_workspace *ws, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Path of the job's log. */
ST_MUST_CHECK st_code st_job_log_path(st_workspace *ws, const char *id,
                                      char *out, size_t cap, st_err *err);

/* ---- running ---- */

/* What a running job reports, for displays: kind is "state" {state,
 * reason}, "sandbox" (the measures), "attestation" {tee, pass, reason},
 * "progress" (one epoch's metrics), "heartbeat" (resource use), "result"
 * {model_path, provenance_path, metrics}. `data` is borrowed. */
typedef void (*st_job_observer)(void *ctx, const char *kind,
                                const json_t *data);

typedef struct st_job_run_opts {
    st_job_observer observe; /* may be NULL */
    void *ctx;
    int resume; /* continue a failed/cancelled job from its checkpoint */
    const char *runner; /* the principal who runs it (the actor of its
                           audit entries); NULL or "": the submitter */
    /* a model-use job (evaluate, predict): the requester's age
     * identities, which must open the sealed model (its file key is
     * offered to the gate), and for predict the path the sealed
     * predictions are written to (atomically) */
    const st_age_identity *identities;
    size_t nidentities;
    const char *predictions_out;
} st_job_run_opts;

/* Runs a queued job in the foreground to its end (see src/job/run.c):
 * ST_OK when it succeeded; otherwise the job is failed or cancelled with
 * the returned error as its reason (ST_E_DENIED for attestation or policy
 * refusals, ST_E_CANCELLED for cancellation). SIGINT/SIGTERM stop the
 * runtime at an epoch boundary after a checkpoint: cancelled, with a
 * reason that says `job resume` continues it. */
ST_MUST_CHECK st_code st_job_run(st_workspace *ws, const char *id,
                                 const st_job_run_opts *o, st_err *err);

/* ---- using a registered model (src/job/use.c, docs/predict.md) ---- */

/* In the job's directory: the sealed predictions of a predict job whose
 * requester wrapped the model key (a job run for `sealtrain serve`). */
#define ST_JOB_PREDICTIONS_FILE "predictions.age"

typedef struct st_job_use {
    st_job_kind kind;      /* ST_JOB_KIND_EVALUATE or ST_JOB_KIND_PREDICT */
    const char *model;     /* NAME */
    uint32_t version;      /* 0: the latest now (pinned in the spec) */
    const char *dataset;   /* the input rows */
    const char *recipient; /* predict: who the predictions are sealed to */
    const char *output;    /* predict: where they are written */
    const char *tee;       /* NULL: "sim" */
    const char *sandbox;   /* NULL: "strict" */
    const char *submitter; /* the requester, who signs the spec */
    const uint8_t *seed;   /* the requester's Ed25519 key */
    const char *runner;    /* who runs it (NULL: the submitter) */
    const st_age_identity *identities; /* must open the sealed model */
    size_t nidentities;
    st_job_observer observe; /* may be NULL */
    void *ctx;
} st_job_use;

/* Submits a model-use job (a signed spec with a "use" section; the same
 * checks as any submission) and runs it to its end. On success *result
 * is the job's status "result": {"evaluation": {...}, "metrics_sha256"}
 * or {"predictions": {"path", "sha256", "rows"}}; `id` names the job
 * either way once it was submitted. */
ST_MUST_CHECK st_code st_job_use_model(st_workspace *ws, const st_job_use *u,
                                       char id[ST_JOB_ID_LEN + 1],
                                       json_t **result, st_err *err);

/* The spec of a model use as compact JSON with sorted keys (malloc'ed
 * into *text), the model version pinned: what st_job_use_model submits.
 * With `nonce` (64 hex digits, fresh per request) the spec asks for the
 * model key from the requester ("use": {"key": "requester"}): what a
 * client of `sealtrain serve` signs (docs/predict.md). */
ST_MUST_CHECK st_code st_job_use_spec(const st_job_use *u, uint32_t version,
                                      const char *nonce, char **text,
                                      st_err *err);

/* The model file key a requester wrapped to a job's attested runtime
 * (st_broker_wrap_key, named "model:NAME@VERSION"), as the JSON of POST
 * /v1/jobs/ID/model-key: {"name", "epk" (hex), "ct" (base64)}. The
 * parser takes untrusted bytes and names what is wrong (`where` first). */
json_t *st_job_model_key_json(const st_broker_key *k);
ST_MUST_CHECK st_code st_job_model_key_parse(const char *text, size_t len,
                                             const char *where,
                                             st_broker_key *out, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
