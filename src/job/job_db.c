/*
 * job_db.c: jobs in the catalog: signed submission, states and their
 * transitions, the status object `job status` shows, cancellation, the
 * per-job log.
 *
 * Tables (module "job", migrations below):
 *   jobs(id, name, submitter, envelope, spec_digest, state, reason,
 *        created, updated, status, cancel_requested, runtime_pid,
 *        controller_pid, heartbeat, runner)
 *   (release_policies and broker_nonces, created here first, belong to
 *   the gate now: src/broker/gate_db.c)
 *
 * Every transition is persisted before it is reported, written to the
 * job's log and appended to the audit log; a transition out of a terminal
 * state is refused, so a job ends once. The actor of a transition is the
 * principal who caused it: the canceller for a cancel, else the job's
 * current runner (the principal who ran or resumed it, column `runner`),
 * else its submitter. A job is owned by its submitter (resource
 * "job:ID"): st_job_authorize is the check of cancel, resume and reading
 * one job (docs/access.md, "Jobs, per cell"). The log holds states, progress
 * and reasons: never data, weights or keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/txn.h"
#include "broker/gate_internal.h"
#include "crypto/bech32.h"
#include "crypto/dsse.h"
#include "crypto/primitives.h"
#include "job/job_internal.h"
#include "sealtrain/access.h"
#include "sealtrain/attest.h"
#include "sealtrain/audit.h"
#include "sealtrain/clock.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/fs.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/log.h"
#include "store/catalog.h"
#include "train/train.h"

static const char *const migrations[] = {
    "CREATE TABLE jobs ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " submitter TEXT NOT NULL,"
    " envelope TEXT NOT NULL,"
    " spec_digest TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '',"
    " created TEXT NOT NULL,"
    " updated TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT '{}',"
    " cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " runtime_pid INTEGER NOT NULL DEFAULT 0,"
    " controller_pid INTEGER NOT NULL DEFAULT 0,"
    " heartbeat TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS release_policies ("
    " dataset TEXT PRIMARY KEY,"
    " policy TEXT NOT NULL,"
    " digest TEXT NOT NULL,"
    " set_by TEXT NOT NULL,"
    " set_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS broker_nonces ("
    " nonce TEXT PRIMARY KEY,"
    " job_id TEXT NOT NULL,"
    " issued TEXT NOT NULL,"
    " used TEXT NOT NULL DEFAULT '');",
    /* 2: who runs the job now (the actor of its transitions) */
    "ALTER TABLE jobs ADD COLUMN runner TEXT NOT NULL DEFAULT '';",
};

st_code st_job_migrate(st_workspace *ws, st_err *err)
{
    return st_catalog_migrate(ws, "job", migrations,
                              sizeof(migrations) / sizeof(migrations[0]), err);
}

static void now_text(char out[ST_TIME_LEN])
{
    st_time_format(time(NULL), out);
}

/* ---- the job's log ---- */

st_code st_job_log_path(st_workspace *ws, const char *id, char *out, size_t cap,
                        st_err *err)
{
    char file[64];
    snprintf(file, sizeof(file), "job-%s.log", id);
    return st_workspace_path(ws, "logs", file, out, cap, err);
}

void st_job_log(st_workspace *ws, const char *id, const char *fmt, ...)
{
    char path[4200], line[2048], t[ST_TIME_LEN];
    if (st_job_log_path(ws, id, path, sizeof(path), NULL) != ST_OK)
        return;
    now_text(t);
    int n = snprintf(line, sizeof(line), "%s ", t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    /* appends: the log grows line by line, each written whole; 0600 like
     * the rest of the workspace (a log names datasets and principals) */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return;
    }
    fputs(line, f);
    fclose(f);
}

/* ---- submission ---- */

/* What submission checks, before anything is stored: the submitter's
 * job.submit on every dataset the spec names, in any role (acting in this
 * process: its role and its owners' grants, audited when refused), then
 * the gate's consent (the same check a run, a resume and the key release
 * repeat): signed policies that let this submitter, these recipients and
 * these protections have the data. */
static st_code submit_allowed(st_workspace *ws, const char *submitter,
                              const st_job_spec *spec, st_err *err)
{
    int64_t n = 0;
    st_code rc = st_access_principal_count(ws, &n, err);
    const char *names[2] = {spec->train_dataset, spec->valid_dataset};
    for (size_t i = 0; rc == ST_OK && i < 2; i++) {
        if (!names[i][0])
            continue;
        char resource[ST_JOB_NAME_MAX + 16];
        snprintf(resource, sizeof(resource), "dataset:%s", names[i]);
        rc = st_access_check(ws, n ? submitter : NULL, "job.submit", resource,
                             err);
    }
    /* a model use: the requester's right on the model, audited when
     * refused (the gate asks it again, unaudited, at every step) */
    if (rc == ST_OK && n && spec->kind != ST_JOB_KIND_TRAIN) {
        char resource[ST_JOB_NAME_MAX + 8];
        snprintf(resource, sizeof(resource), "model:%s", spec->use_model);
        rc = st_access_check(ws, submitter, "model.decrypt", resource, err);
    }
    if (rc != ST_OK)
        return rc;
    /* the owners' consent: a refusal is audited as the access check's
     * are, naming the training dataset (the reason names the dataset and
     * the rule that refused) */
    if ((rc = st_gate_consent(ws, submitter, NULL, spec, NULL, err)) ==
        ST_E_DENIED) {
        char resource[ST_JOB_NAME_MAX + 16];
        snprintf(resource, sizeof(resource), "dataset:%s",
                 spec->train_dataset[0] ? spec->train_dataset
                                        : spec->valid_dataset);
        st_access_audit_denial(ws, submitter, "job.submit", resource,
                               err ? err->msg : "the owners' consent");
    }
    return rc;
}

/* The dataset's sizes as its manifest states them (for the engine's
 * checks: x and y stay NULL). */
static void manifest_shape(const st_dataset_manifest *m, st_train_data *out)
{
    memset(out, 0, sizeof(*out));
    out->rows = (size_t)m->rows;
    out->features = m->cols;
    out->classes = m->classes;
    out->targets = m->regression ? m->targets : 1;
}

/* What the engine will ask of the data, checked at submit against the
 * datasets' manifests instead of after the keys were released: the
 * training dataset fits the model (inputs, outputs, classes and class
 * weights, the engine's limits on classes and features), the validation
 * dataset is another dataset and has the training dataset's shape. Called
 * after consent, so both datasets exist and the submitter may use them.
 * The manifests are read as the catalog holds them: their signatures are
 * verified where their keys are read, and the runtime checks the
 * decrypted data again; this check only refuses early what would fail. */
static st_code check_data_fit(st_workspace *ws, const st_job_spec *spec,
                              st_err *err)
{
    const char *train = spec->train_dataset, *valid = spec->valid_dataset;
    if (valid[0] && !strcmp(valid, train))
        return st_err_set(err, ST_E_INPUT,
                          "job spec \"%s\": datasets.validation: \"%s\" is "
                          "also datasets.train: a model is not validated on "
                          "the rows it trains on (leave datasets.validation "
                          "out and set training.validation_split, or name "
                          "another dataset)",
                          spec->name, valid);
    st_dataset_record d[2];
    memset(d, 0, sizeof(d));
    st_train_data shape[2];
    size_t n = valid[0] ? 2 : 1;
    st_code rc = ST_OK;
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        rc = st_dataset_get(ws, i ? valid : train, &d[i], err);
        if (rc == ST_OK)
            manifest_shape(&d[i].m, &shape[i]);
    }
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        rc = st_train_spec_check_shape(spec->model, spec->training,
                                       spec->preprocessing, &shape[0],
                                       i ? &shape[1] : NULL, err);
        if (rc != ST_OK)
            rc = st_err_prefix(err,
                               "job spec \"%s\": datasets.%s \"%s\" (%zu "
                               "features, %zu %s)",
                               spec->name, i ? "validation" : "train",
                               i ? valid : train, shape[i].features,
                               d[i].m.regression ? (size_t)d[i].m.targets
                                                 : (size_t)d[i].m.classes,
                               d[i].m.regression ? "regression targets"
                                                 : "classes");
    }
    for (size_t i = 0; i < n; i++)
        st_dataset_record_free(&d[i]);
    return rc;
}

/* Records `submitter` as the owner of "job:ID" when it is a registered
 * principal (in bootstrap mode nobody is, and access control is off). */
static st_code own_job(st_workspace *ws, const char *id, const char *submitter,
                       st_err *err)
{
    char resource[64];
    snprintf(resource, sizeof(resource), "job:%s", id);
    st_principal p;
    st_err e2;
    st_code rc = st_access_principal_get(ws, submitter, &p, &e2);
    if (rc == ST_E_NOTFOUND)
        return ST_OK;
    if (rc != ST_OK) {
        if (err)
            *err = e2;
        return rc;
    }
    st_principal_free(&p);
    return st_access_set_owner(ws, resource, submitter, err);
}

/* A job publishes only to a model name that is new or its submitter's:
 * the first registrant owns "model:NAME" (src/model/registry.c records
 * it, and checks this again when the model is registered). A refusal is
 * ST_E_DENIED and an audited access denial. */
static st_code check_model_name(st_workspace *ws, const char *submitter,
                                const st_job_spec *spec, st_err *err)
{
    if (!submitter || !*submitter || !spec->model_name[0])
        return ST_OK; /* bootstrap: no principals, nobody owns a name */
    char resource[ST_JOB_NAME_MAX + 8], owner[ST_PRINCIPAL_NAME_MAX];
    snprintf(resource, sizeof(resource), "model:%s", spec->model_name);
    st_err e2;
    st_code rc = st_access_get_owner(ws, resource, owner, sizeof(owner), &e2);
    if (rc == ST_E_NOTFOUND || (rc == ST_OK && !strcmp(owner, submitter)))
        return ST_OK;
    if (rc != ST_OK) {
        if (err)
            *err = e2;
        return rc;
    }
    st_err_set(err, ST_E_DENIED,
               "permission denied: model name \"%s\" belongs to %s: a job "
               "of %s may publish only to a new model name or one of its "
               "own (choose another outputs.model)",
               spec->model_name, owner, submitter);
    st_access_audit_denial(ws, submitter, "job.submit", resource,
                           err ? err->msg : "model name taken");
    return ST_E_DENIED;
}

struct insert_arg {
    const char *id, *name, *submitter, *envtext, *hex, *now;
};

/* The new job's row and its owner (a change of st_audit_txn_run). */
static ST_MUST_CHECK st_code insert_job(st_workspace *ws, void *varg,
                                        st_err *err)
{
    struct insert_arg *a = varg;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "INSERT INTO jobs(id,name,submitter,envelope,"
                           "spec_digest,state,created,updated) "
                           "VALUES(?,?,?,?,?,'queued',?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "storing the job", err);
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, a->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, a->submitter, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, a->envtext, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, a->hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, a->now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, a->now, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return st_catalog_fail(ws, "storing the job", err);
    return own_job(ws, a->id, a->submitter, err);
}

/* Stores a signed spec as a queued job (the envelope has been checked or
 * made by the caller; `digest` is SHA-256 of its payload). */
static ST_MUST_CHECK st_code store_job(st_workspace *ws, const char *submitter,
                                       const st_job_spec *spec,
                                       const json_t *env,
                                       const uint8_t digest[32],
                                       char id[ST_JOB_ID_LEN + 1], st_err *err)
{
    st_code rc = st_job_migrate(ws, err);
    if (rc == ST_OK)
        rc = submit_allowed(ws, submitter, spec, err);
    if (rc == ST_OK)
        rc = check_data_fit(ws, spec, err);
    if (rc == ST_OK)
        rc = check_model_name(ws, submitter, spec, err);
    if (rc != ST_OK)
        return rc;
    char hex[65];
    st_hex_encode(digest, 32, hex);
    char *envtext = st_json_dumps(env, JSON_COMPACT);
    if (!envtext)
        return st_err_set(err, ST_E_INTERNAL, "serialising the envelope");
    uint8_t rnd[8];
    if ((rc = st_random(rnd, sizeof(rnd), err)) != ST_OK) {
        free(envtext);
        return rc;
    }
    char rhex[17];
    st_hex_encode(rnd, sizeof(rnd), rhex);
    snprintf(id, ST_JOB_ID_LEN + 1, "j%.15s", rhex);
    char t[ST_TIME_LEN];
    now_text(t);
    json_t *details = json_pack(
        "{s:s,s:s,s:s,s:s}", "name", spec->name, "spec_sha256", hex,
        "train_dataset", spec->train_dataset, "tee", st_tee_name(spec->tee));
    if (!details) {
        free(envtext);
        return st_err_errno(err, ST_E_IO, ENOMEM, "the job.submit entry");
    }
    char resource[64];
    snprintf(resource, sizeof(resource), "job:%s", id);
    st_audit_event ev = {"operation", submitter, "job.submit", resource,
                         "success",   NULL,      details};
    struct insert_arg a = {id, spec->name, submitter, envtext, hex, t};
    /* the queued job, its owner and its job.submit entry: one
     * transaction (src/audit/outbox.c) */
    rc = st_audit_txn_run(ws, insert_job, &a, &ev, err);
    json_decref(details);
    free(envtext);
    if (rc == ST_OK)
        st_job_log(ws, id,
                   "queued: job \"%s\" submitted by %s (spec sha256 %s)",
                   spec->name, submitter, hex);
    return rc;
}

st_code st_job_submit(st_workspace *ws, const char *submitter,
                      const st_job_spec *spec, const uint8_t seed[32],
                      char id[ST_JOB_ID_LEN + 1], st_err *err)
{
    uint8_t digest[32];
    st_code rc = st_job_spec_digest(spec, digest, err);
    if (rc != ST_OK)
        return rc;
    json_t *env = st_job_spec_sign(spec, seed, err);
    if (!env)
        return err ? err->code : ST_E_INTERNAL;
    rc = store_job(ws, submitter, spec, env, digest, id, err);
    json_decref(env);
    return rc;
}

st_code st_job_submit_envelope(st_workspace *ws, const char *submitter,
                               const char *text, size_t len,
                               char id[ST_JOB_ID_LEN + 1], st_job_spec *spec,
                               st_err *err)
{
    /* the signature must be by the submitter's key registered now (the
     * same check `job run` repeats before anything is released) */
    st_principal p;
    uint8_t pub[32], digest[32];
    memset(spec, 0, sizeof(*spec));
    st_code rc = st_access_principal_get(ws, submitter, &p, err);
    if (rc != ST_OK)
        return rc;
    if (!p.signing_key)
        rc = st_err_set(err, ST_E_DENIED,
                        "principal \"%s\" has no registered signing key",
                        submitter);
    else
        rc = st_ed25519_parse_public_pem(p.signing_key, strlen(p.signing_key),
                                         pub, err);
    st_principal_free(&p);
    json_t *env = NULL;
    if (rc == ST_OK)
        rc = st_job_envelope_open(text, len, "submitted job spec", pub, spec,
                                  digest, &env, err);
    if (rc == ST_OK)
        rc = store_job(ws, submitter, spec, env, digest, id, err);
    json_decref(env);
    if (rc != ST_OK)
        st_job_spec_free(spec);
    return rc;
}

/* ---- reading ---- */

#define JOB_COLUMNS                                                            \
    "id,name,submitter,envelope,spec_digest,state,reason,created,updated,"     \
    "status,cancel_requested,runtime_pid,controller_pid,heartbeat,runner"

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(out, cap, "%s", s ? (const char *)s : "");
}

static ST_MUST_CHECK st_code row_to_record(sqlite3_stmt *st, st_job_record *r,
                                           st_err *err)
{
    memset(r, 0, sizeof(*r));
    copy_col(st, 0, r->id, sizeof(r->id));
    copy_col(st, 1, r->name, sizeof(r->name));
    copy_col(st, 2, r->submitter, sizeof(r->submitter));
    const char *env = (const char *)sqlite3_column_text(st, 3);
    char state[32];
    copy_col(st, 4, r->spec_digest, sizeof(r->spec_digest));
    copy_col(st, 5, state, sizeof(state));
    copy_col(st, 6, r->reason, sizeof(r->reason));
    copy_col(st, 7, r->created, sizeof(r->created));
    copy_col(st, 8, r->updated, sizeof(r->updated));
    const char *status = (const char *)sqlite3_column_text(st, 9);
    r->cancel_requested = sqlite3_column_int(st, 10);
    r->runtime_pid = (long)sqlite3_column_int64(st, 11);
    r->controller_pid = (long)sqlite3_column_int64(st, 12);
    copy_col(st, 13, r->heartbeat, sizeof(r->heartbeat));
    copy_col(st, 14, r->runner, sizeof(r->runner));
    st_code rc = st_job_state_parse(state, &r->state, err);
    if (rc != ST_OK)
        return rc;
    /* out of memory while parsing is the system failing, not a damaged
     * row (st_json_parse tells them apart) */
    st_err e2;
    st_err_clear(&e2);
    st_code prc = ST_OK;
    r->envelope =
        env ? st_json_parse(env, strlen(env), "job envelope", &e2) : NULL;
    if (env && !r->envelope)
        prc = e2.code;
    if (prc != ST_E_IO && status &&
        !(r->status = st_json_parse(status, strlen(status), "job status", &e2)))
        prc = e2.code;
    if (!r->envelope || !json_is_object(r->status)) {
        st_job_record_free(r);
        if (prc != ST_E_IO)
            return st_err_set(err, ST_E_INPUT, "catalog: job %s is damaged",
                              r->id);
        if (err)
            *err = e2;
        return st_err_prefix(err, "catalog: job %s", r->id);
    }
    return ST_OK;
}

void st_job_record_free(st_job_record *r)
{
    if (!r)
        return;
    json_decref(r->envelope);
    json_decref(r->status);
    r->envelope = r->status = NULL;
}

st_code st_job_get(st_workspace *ws, const char *id, st_job_record *out,
                   st_err *err)
{
    memset(out, 0, sizeof(*out));
    st_code rc = st_job_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT " JOB_COLUMNS " FROM jobs WHERE id=?", -1,
                           &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "reading a job", err);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = row_to_record(st, out, err);
    else if (step == SQLITE_DONE)
        rc = st_err_set(err, ST_E_NOTFOUND, "no job \"%s\"", id);
    else
        rc = st_catalog_fail(ws, "reading a job", err);
    sqlite3_finalize(st);
    return rc;
}

st_code st_job_list(st_workspace *ws, st_job_record **out, size_t *n,
                    st_err *err)
{
    *out = NULL;
    *n = 0;
    st_code rc = st_job_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT " JOB_COLUMNS
                           " FROM jobs ORDER BY created DESC, rowid DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "listing jobs", err);
    size_t cap = 0;
    st_job_record *arr = NULL;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            st_job_record *bigger = realloc(arr, cap * sizeof(*arr));
            if (!bigger) {
                rc = st_err_set(err, ST_E_IO, "out of memory");
                break;
            }
            arr = bigger;
        }
        if ((rc = row_to_record(st, &arr[*n], err)) != ST_OK)
            break;
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc == ST_OK && step != SQLITE_DONE)
        rc = st_catalog_fail(ws, "listing jobs", err);
    if (rc != ST_OK) {
        for (size_t i = 0; i < *n; i++)
            st_job_record_free(&arr[i]);
        free(arr);
        *n = 0;
        return rc;
    }
    *out = arr;
    return ST_OK;
}

/* ---- transitions ---- */

/* Writes `status` merged with `patch`; the heartbeat and pid columns
 * follow the patch's "heartbeat", "runtime_pid" and "controller_pid". */
static ST_MUST_CHECK st_code status_write(st_workspace *ws, const char *id,
                                          json_t *status, const json_t *patch,
                                          st_err *err)
{
    json_object_update(status, (json_t *)patch);
    char *text = st_json_dumps(status, JSON_COMPACT);
    if (!text)
        return st_err_set(err, ST_E_INTERNAL, "serialising job status");
    char t[ST_TIME_LEN];
    now_text(t);
    sqlite3_stmt *st = NULL;
    const json_t *hb = json_object_get(patch, "heartbeat");
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "UPDATE jobs SET status=?, heartbeat=CASE WHEN ? "
                           "THEN ? ELSE heartbeat END, runtime_pid=COALESCE(?,"
                           "runtime_pid), controller_pid=COALESCE(?,"
                           "controller_pid) WHERE id=?",
                           -1, &st, NULL) != SQLITE_OK) {
        free(text);
        return st_catalog_fail(ws, "updating job status", err);
    }
    sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, hb != NULL);
    sqlite3_bind_text(st, 3, t, -1, SQLITE_TRANSIENT);
    const json_t *rp = json_object_get(patch, "runtime_pid");
    const json_t *cp = json_object_get(patch, "controller_pid");
    if (json_is_integer(rp))
        sqlite3_bind_int64(st, 4, json_integer_value(rp));
    if (json_is_integer(cp))
        sqlite3_bind_int64(st, 5, json_integer_value(cp));
    sqlite3_bind_text(st, 6, id, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    free(text);
    return step == SQLITE_DONE
               ? ST_OK
               : st_catalog_fail(ws, "updating job status", err);
}

static st_code transition(st_workspace *ws, const char *id, st_job_state state,
                          const char *reason, const json_t *patch,
                          const char *by, st_err *err);

st_code st_job_transition(st_workspace *ws, const char *id, st_job_state state,
                          const char *reason, st_err *err)
{
    return transition(ws, id, state, reason, NULL, NULL, err);
}

st_code st_job_transition_status(st_workspace *ws, const char *id,
                                 st_job_state state, const char *reason,
                                 const json_t *patch, st_err *err)
{
    return transition(ws, id, state, reason, patch, NULL, err);
}

/* The state change (and status patch) of a transition: a change of
 * st_audit_txn_run, which fills in its job.state entry. */
st_code st_job_move_rows(st_workspace *ws, void *varg, st_err *err)
{
    st_job_move *a = varg;
    sqlite3 *db = st_workspace_db(ws);
    st_job_record r;
    /* read inside the transaction: the update below is conditional on it */
    st_code rc = st_job_get(ws, a->id, &r, err);
    if (rc != ST_OK)
        return rc;
    st_job_state from = r.state;
    snprintf(a->actor, sizeof(a->actor), "%s",
             a->by && *a->by ? a->by
             : r.runner[0]   ? r.runner
                             : r.submitter);
    if (st_job_state_terminal(from))
        rc = st_err_set(err, ST_E_USAGE,
                        "job %s already ended (%s): cannot move to %s", a->id,
                        st_job_state_name(from), st_job_state_name(a->state));
    char t[ST_TIME_LEN];
    now_text(t);
    sqlite3_stmt *st = NULL;
    if (rc == ST_OK &&
        sqlite3_prepare_v2(db,
                           "UPDATE jobs SET state=?, reason=?, updated=? "
                           "WHERE id=? AND state=?",
                           -1, &st, NULL) != SQLITE_OK)
        rc = st_catalog_fail(ws, "updating a job", err);
    if (rc == ST_OK) {
        sqlite3_bind_text(st, 1, st_job_state_name(a->state), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->reason ? a->reason : "", -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, t, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, a->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, st_job_state_name(from), -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        sqlite3_finalize(st);
        if (step != SQLITE_DONE)
            rc = st_catalog_fail(ws, "updating a job", err);
        else if (sqlite3_changes(db) != 1)
            rc = st_err_set(err, ST_E_USAGE,
                            "job %s changed state concurrently", a->id);
    }
    if (rc == ST_OK && a->patch && json_object_size(a->patch) > 0)
        rc = status_write(ws, a->id, r.status, a->patch, err);
    st_job_record_free(&r);
    if (rc != ST_OK)
        return rc;
    a->from = from;
    a->details = json_pack("{s:s,s:s}", "from", st_job_state_name(from), "to",
                           st_job_state_name(a->state));
    if (!a->details)
        return st_err_errno(err, ST_E_IO, ENOMEM, "the job.state entry");
    a->ev.actor = a->actor;
    a->ev.details = a->details;
    return ST_OK;
}

/* The transition and its job.state entry (actor `by`; NULL: the runner,
 * else the submitter), with the status patch: one transaction, one
 * flush of the catalog (src/audit/outbox.c). */
void st_job_move_init(st_job_move *a, const char *id, st_job_state state,
                      const char *reason, const json_t *patch, const char *by)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->resource, sizeof(a->resource), "job:%s", id);
    a->id = id;
    a->reason = reason;
    a->state = state;
    a->patch = patch;
    a->by = by;
    a->ev.category = "enclave";
    a->ev.action = "job.state";
    a->ev.resource = a->resource;
    a->ev.outcome = state == ST_JOB_FAILED || state == ST_JOB_CANCELLED
                        ? "failure"
                        : "success";
    a->ev.reason = reason && *reason ? reason : NULL;
}

void st_job_move_done(st_workspace *ws, st_job_move *a, st_code rc)
{
    json_decref(a->details);
    a->details = NULL;
    if (rc == ST_OK)
        st_job_log(ws, a->id, "%s%s%s", st_job_state_name(a->state),
                   a->reason && *a->reason ? ": " : "",
                   a->reason ? a->reason : "");
}

static st_code transition(st_workspace *ws, const char *id, st_job_state state,
                          const char *reason, const json_t *patch,
                          const char *by, st_err *err)
{
    st_job_move a;
    st_job_move_init(&a, id, state, reason, patch, by);
    st_code rc = st_job_migrate(ws, err);
    if (rc == ST_OK)
        rc = st_audit_txn_run(ws, st_job_move_rows, &a, &a.ev, err);
    st_job_move_done(ws, &a, rc);
    return rc;
}

st_code st_job_status_update(st_workspace *ws, const char *id,
                             const json_t *patch, st_err *err)
{
    st_job_record r;
    st_code rc = st_job_get(ws, id, &r, err);
    if (rc != ST_OK)
        return rc;
    rc = status_write(ws, id, r.status, patch, err);
    st_job_record_free(&r);
    return rc;
}

/* The job.cancel / job.resume / job.run entry of `actor` on the job. */
static st_code audit_act(st_workspace *ws, const char *actor,
                         const char *action, const char *id, st_code rc,
                         const st_err *why, json_t *details, st_err *err)
{
    char resource[64];
    snprintf(resource, sizeof(resource), "job:%s", id);
    st_audit_event ev = {"operation",
                         actor && *actor ? actor : "system",
                         action,
                         resource,
                         rc == ST_OK ? "success" : "failure",
                         rc == ST_OK || !why ? NULL : why->msg,
                         details};
    st_code arc = st_audit_append(ws, &ev, err);
    json_decref(details);
    return arc;
}

/* `change` committed with the job.cancel / job.resume entry of `actor`
 * (details: taken) in one transaction. */
static st_code act_txn(st_workspace *ws, const char *actor, const char *action,
                       const char *id, json_t *details, st_audit_change change,
                       void *arg, st_err *err)
{
    char resource[64];
    snprintf(resource, sizeof(resource), "job:%s", id);
    st_audit_event ev = {"operation", actor && *actor ? actor : "system",
                         action,      resource,
                         "success",   NULL,
                         details};
    st_code rc =
        details ? st_audit_txn_run(ws, change, arg, &ev, err)
                : st_err_errno(err, ST_E_IO, ENOMEM, "the %s entry", action);
    json_decref(details);
    return rc;
}

st_code st_job_authorize(st_workspace *ws, const char *principal,
                         const char *action, const char *id, st_err *err)
{
    st_job_record r;
    st_code rc = st_job_get(ws, id, &r, err);
    if (rc != ST_OK)
        return rc;
    /* jobs submitted before jobs had owners get theirs now */
    rc = own_job(ws, id, r.submitter, err);
    st_job_record_free(&r);
    if (rc != ST_OK)
        return rc;
    char resource[64];
    snprintf(resource, sizeof(resource), "job:%s", id);
    return st_access_check(ws, principal, action, resource, err);
}

st_code st_job_list_readable(st_workspace *ws, const char *principal,
                             st_job_record **out, size_t *n, st_err *err)
{
    st_code rc = st_job_list(ws, out, n, err);
    if (rc != ST_OK)
        return rc;
    size_t keep = 0;
    for (size_t i = 0; i < *n; i++) {
        char resource[64];
        snprintf(resource, sizeof(resource), "job:%s", (*out)[i].id);
        st_err e2;
        if (own_job(ws, (*out)[i].id, (*out)[i].submitter, &e2) == ST_OK &&
            st_access_allows(ws, principal, "job.read", resource))
            (*out)[keep++] = (*out)[i];
        else
            st_job_record_free(&(*out)[i]);
    }
    *n = keep;
    return ST_OK;
}

struct cancel_arg {
    const char *id;
    int end; /* the job ends here: mv is its move to cancelled */
    st_job_move mv;
};

/* The cancel request and, when nobody else will end the job, its move to
 * cancelled (whose job.state entry is recorded with job.cancel). */
static ST_MUST_CHECK st_code cancel_rows(st_workspace *ws, void *varg,
                                         st_err *err)
{
    struct cancel_arg *a = varg;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "UPDATE jobs SET cancel_requested=1 WHERE id=?", -1,
                           &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "cancelling a job", err);
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return st_catalog_fail(ws, "cancelling a job", err);
    if (!a->end)
        return ST_OK;
    st_code rc = st_job_move_rows(ws, &a->mv, err);
    int64_t id;
    return rc == ST_OK ? st_audit_txn_event(ws, &a->mv.ev, &id, err) : rc;
}

st_code st_job_cancel(st_workspace *ws, const char *actor, const char *id,
                      st_err *err)
{
    st_job_record r;
    st_code rc = st_job_get(ws, id, &r, err);
    if (rc != ST_OK)
        return rc;
    st_job_state state = r.state;
    long controller = r.controller_pid;
    st_job_record_free(&r);
    if (st_job_state_terminal(state)) {
        rc = st_err_set(err, ST_E_USAGE, "job %s already ended (%s)", id,
                        st_job_state_name(state));
        st_err e2;
        audit_act(ws, actor, "job.cancel", id, rc, err, NULL, &e2);
        return rc;
    }
    /* a running job whose controller died (killed, machine rebooted) has
     * nobody to stop it: it ends here */
    int orphan = state != ST_JOB_QUEUED && controller > 0 &&
                 kill((pid_t)controller, 0) != 0 && errno == ESRCH;
    struct cancel_arg a = {.id = id};
    if (state == ST_JOB_QUEUED || orphan)
        st_job_move_init(&a.mv, id, ST_JOB_CANCELLED,
                         orphan ? "cancelled: its controller was gone"
                                : "cancelled before it started",
                         NULL, actor);
    a.end = state == ST_JOB_QUEUED || orphan;
    /* the request, its job.cancel entry and (when nobody else will end the
     * job) its end: one transaction; a running job's controller ends it */
    rc = act_txn(ws, actor, "job.cancel", id,
                 json_pack("{s:s}", "state", st_job_state_name(state)),
                 cancel_rows, &a, err);
    if (a.end)
        st_job_move_done(ws, &a.mv, rc);
    if (rc == ST_OK)
        st_job_log(ws, id, "cancel requested by %s",
                   actor && *actor ? actor : "system");
    return rc;
}

/* Sets the runner of a queued job, or (`requeue`) of a failed or
 * cancelled one, moving it back to queued; ST_E_USAGE when the job is not
 * in such a state (it changed meanwhile). */
static st_code set_runner(st_workspace *ws, const char *id, const char *runner,
                          int requeue, st_err *err)
{
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *st = NULL;
    const char *sql =
        requeue ? "UPDATE jobs SET state='queued', cancel_requested=0, "
                  "runner=?1, updated=?3 WHERE id=?2 AND state IN "
                  "('failed','cancelled')"
                : "UPDATE jobs SET runner=?1 WHERE id=?2 AND state='queued'";
    char t[ST_TIME_LEN];
    now_text(t);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "recording a job's runner", err);
    sqlite3_bind_text(st, 1, runner ? runner : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    if (requeue)
        sqlite3_bind_text(st, 3, t, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return st_catalog_fail(ws, "recording a job's runner", err);
    if (sqlite3_changes(db) != 1)
        return st_err_set(err, ST_E_USAGE,
                          requeue ? "job %s is not failed or cancelled: only "
                                    "a failed or cancelled job resumes"
                                  : "job %s is not queued: only a queued job "
                                    "runs",
                          id);
    return ST_OK;
}

st_code st_job_start(st_workspace *ws, const char *runner, const char *id,
                     st_err *err)
{
    return set_runner(ws, id, runner, 0, err);
}

struct resume_arg {
    const char *id, *runner;
};

static ST_MUST_CHECK st_code resume_rows(st_workspace *ws, void *varg,
                                         st_err *err)
{
    struct resume_arg *a = varg;
    return set_runner(ws, a->id, a->runner, 1, err);
}

st_code st_job_resume(st_workspace *ws, const char *runner, const char *id,
                      st_err *err)
{
    st_job_record r;
    st_code rc = st_job_get(ws, id, &r, err);
    if (rc != ST_OK)
        return rc;
    st_job_state from = r.state;
    st_job_record_free(&r);
    if (from != ST_JOB_FAILED && from != ST_JOB_CANCELLED)
        return st_err_set(err, ST_E_USAGE,
                          "job %s is %s: only a failed or cancelled job "
                          "resumes",
                          id, st_job_state_name(from));
    /* conditional on the state read above: two resumes race, one wins;
     * the requeue commits with its job.resume entry */
    struct resume_arg a = {id, runner};
    rc = act_txn(
        ws, runner, "job.resume", id,
        json_pack("{s:s,s:s}", "from", st_job_state_name(from), "to", "queued"),
        resume_rows, &a, err);
    if (rc == ST_OK)
        st_job_log(ws, id, "resumed from the last checkpoint by %s",
                   runner && *runner ? runner : "system");
    return rc;
}

st_code st_job_resume_later(st_workspace *ws, const char *actor, const char *id,
                            st_err *err)
{
    st_code rc = st_job_resume(ws, actor, id, err);
    json_t *patch =
        rc == ST_OK ? json_pack("{s:b}", "resume_from_checkpoint", 1) : NULL;
    if (rc == ST_OK)
        rc = patch ? st_job_status_update(ws, id, patch, err)
                   : st_err_set(err, ST_E_IO, "out of memory");
    json_decref(patch);
    return rc;
}
