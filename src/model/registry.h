/*
 * registry.h (src/model): registering a sealed model, which only a job's
 * hand-over (src/job/register.c) does; its change commits with the job's
 * move to succeeded through the audit outbox (audit/txn.h).
 */
#ifndef SEALTRAIN_MODEL_REGISTRY_H
#define SEALTRAIN_MODEL_REGISTRY_H

#include <stdint.h>

#include "audit/txn.h"
#include "sealtrain/err.h"
#include "sealtrain/model.h"

/* Registers a sealed model. Required in `in`: name, job_id, path,
 * provenance_path; `job` is job in->job_id's record. Everything else is
 * derived and checked here: the provenance must parse, name this job and
 * have the file's digest as its subject; datasets, spec digest, metrics
 * and recipients come from the statement; classification and retention
 * from the datasets' manifests; claims from the job's recorded
 * attestation verdict; owner from the job. The new version goes to
 * *version. Audited ("model.register").
 * `also` (may be NULL) is the caller's change that commits in the same
 * transaction (a job's move to succeeded): its change runs after the
 * model's rows, with *version set, and its entry (read after the change)
 * is recorded with model.register's; either both land or neither.
 * *unknown (when not NULL) is 1 after a failed COMMIT: SQLite may still
 * hold it in its WAL, so the model may be registered after the next open,
 * and the caller must not remove its files. */
typedef struct st_model_also {
    st_audit_change change;
    void *arg;
    const st_audit_event *ev;
} st_model_also;
ST_MUST_CHECK st_code st_model_register(
    st_workspace *ws, const st_model_record *in, const st_model_job *job,
    const st_model_also *also, uint32_t *version, int *unknown, st_err *err);

#endif
