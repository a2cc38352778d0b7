/*
 * routes.c: the /v1 JSON API of `sealtrain serve` (docs/api.md): health,
 * metrics, identity, audit checkpoint/entries/proofs, datasets (+ release
 * policy), jobs (status, cancel; submission and logs: routes_jobs.c).
 *
 * Every handler except /v1/healthz goes through st_access_check with the
 * principal of the connection's client certificate before it reads
 * anything; a denial is a 403 naming the permission (and an audit entry,
 * written by the check). Handlers only call the library's public API; they
 * never return a key, a plaintext or a private path of the workspace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/bytes.h"
#include "sealtrain/check.h"
#include "sealtrain/dataset.h"
#include "sealtrain/fs.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "sealtrain/model.h"
#include "sealtrain/release.h"
#include "sealtrain/workspace.h"
#include "server/server_internal.h"

#if __has_include("sealtrain/metrics.h")
#include "sealtrain/metrics.h"
#define HAVE_WS_METRICS 1
#endif

#define MAX_ENTRIES 1000

static void healthz(st_req *r)
{
    st_srv_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void whoami(st_req *r)
{
    st_principal p;
    st_err err;
    if (st_access_principal_get(r->ws, r->principal, &p, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *roles = json_array();
    for (unsigned i = 0; i < ST_ROLE_COUNT; i++)
        if (p.roles & (1u << i))
            json_array_append_new(roles, json_string(st_access_role_name(i)));
    st_principal_free(&p);
    st_srv_reply_json(
        r, 200,
        json_pack("{s:s,s:o}", "principal", r->principal, "roles", roles));
}

static void metrics(st_req *r)
{
    /* the same permission as `sealtrain metrics` */
    if (st_srv_check(r, "audit.read", NULL))
        return;
    st_buf b;
    st_buf_init(&b);
    st_err err;
    st_err_clear(&err);
#ifdef HAVE_WS_METRICS
    if (st_metrics_collect(r->ws, r->kr, time(NULL), &b, &err) != ST_OK) {
        st_buf_free(&b);
        st_srv_reply_err(r, NULL, &err);
        return;
    }
#endif
    if (st_srv_metrics(r->s, &b, &err) != ST_OK) {
        st_buf_free(&b);
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    st_srv_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                      b.data, b.len);
    st_buf_free(&b);
}

/* GET /v1/check: the security checklist of `sealtrain check`, as JSON
 * ({"result", "items"}); recorded in the audit log like the CLI's run. */
static void check(st_req *r)
{
    if (st_srv_check(r, "check", "workspace"))
        return;
    st_check_opts o;
    memset(&o, 0, sizeof(o));
    o.now = time(NULL);
    uint64_t thr, window, age, inactive;
    /* the options of `sealtrain check`, in its units */
    if (st_srv_query_range(r, "denial_threshold", 1, INT32_MAX, 0, &thr) ||
        st_srv_query_range(r, "denial_window", 1, 1u << 20, 0, &window) ||
        st_srv_query_range(r, "checkpoint_max_age", 1, 1u << 20, 0, &age) ||
        st_srv_query_range(r, "admin_inactive_days", 1, 1u << 16, 0, &inactive))
        return;
    o.denial_threshold = (int)thr;
    o.denial_window_seconds = (long)window * 3600;
    o.checkpoint_max_age = (long)age * 3600;
    o.admin_inactive_seconds = (long)inactive * 86400;
    st_check_item *items = NULL;
    size_t n = 0;
    st_err err;
    if (st_check_run_audited(r->ws, r->kr, &o, r->principal, &items, &n,
                             &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *j = st_check_json(items, n);
    free(items);
    st_srv_reply_json(r, 200, j);
}

/* ---- audit ---- */

static int audit_dir(st_req *r, char *dir, size_t cap)
{
    st_err err;
    if (st_workspace_subdir(r->ws, "audit", dir, cap, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return -1;
    }
    return 0;
}

static void checkpoint_get(st_req *r)
{
    char dir[4096];
    if (st_srv_check(r, "audit.read", "audit:log") || audit_dir(r, dir, 4096))
        return;
    char *note = NULL;
    uint64_t size = 0;
    st_err err;
    if (st_audit_latest_checkpoint(dir, &note, &size, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    if (!note)
        st_srv_reply_msg(r, 404,
                         "no checkpoint yet (POST "
                         "/v1/audit/checkpoint makes one)");
    else
        st_srv_reply_text(r, 200, "text/plain; charset=utf-8", note,
                          strlen(note));
    free(note);
}

static void checkpoint_post(st_req *r)
{
    char dir[4096];
    if (st_srv_check(r, "audit.checkpoint", "audit:log") ||
        audit_dir(r, dir, 4096))
        return;
    /* as `audit checkpoint`: the log key sealed under the keyring, and
     * the checkpoint recorded in the log with the caller as actor */
    st_keyring *owned, *kr = st_srv_keyring(r, &owned);
    if (!kr)
        return;
    char *note = NULL;
    st_err err;
    st_audit_sealer kek = st_keyring_audit_sealer(kr);
    st_code rc =
        st_audit_checkpoint_sealed(r->ws, &kek, r->principal, &note, &err);
    st_keyring_close(owned);
    if (rc != ST_OK)
        st_srv_reply_err(r, NULL, &err);
    else
        st_srv_reply_text(r, 201, "text/plain; charset=utf-8", note,
                          strlen(note));
    free(note);
}

typedef struct entries_ctx {
    uint64_t from, limit;
    json_t *out;
    int bad;
    st_err err; /* why an entry could not be read (bad: malformed) */
} entries_ctx;

static int visit_entry(void *ctx, uint64_t index, const char *line, size_t len)
{
    entries_ctx *c = ctx;
    if (index < c->from)
        return 0;
    if (json_array_size(c->out) >= c->limit)
        return 1;
    json_t *j = st_json_parse(line, len, "audit entry", &c->err);
    if (!j) {
        c->bad = c->err.code != ST_E_IO;
        if (!c->bad)
            st_err_prefix(&c->err, "audit entry %llu",
                          (unsigned long long)index);
        return 1;
    }
    if (json_array_append_new(c->out, j) != 0) {
        st_err_errno(&c->err, ST_E_IO, ENOMEM, "audit entries");
        return 1;
    }
    return 0;
}

static void entries(st_req *r)
{
    char dir[4096];
    entries_ctx c = {0};
    if (st_srv_check(r, "audit.read", "audit:log") || audit_dir(r, dir, 4096) ||
        st_srv_query_u64(r, "from", 0, &c.from) ||
        st_srv_query_range(r, "limit", 1, MAX_ENTRIES, 100, &c.limit))
        return;
    c.out = json_array();
    st_err err;
    if (st_audit_read(dir, visit_entry, &c, &err) != ST_OK) {
        json_decref(c.out);
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    if (c.bad) {
        json_decref(c.out);
        st_srv_reply_msg(r, 500,
                         "the audit log holds a malformed entry (run "
                         "`sealtrain audit verify`)");
        return;
    }
    if (c.err.code) {
        json_decref(c.out);
        st_srv_reply_err(r, NULL, &c.err);
        return;
    }
    st_srv_reply_json(
        r, 200,
        json_pack("{s:I,s:o}", "from", (json_int_t)c.from, "entries", c.out));
}

/* GET /v1/audit/consistency?from=M and GET /v1/audit/inclusion?index=I:
 * the proof documents `sealtrain audit consistency` / `audit prove`
 * print, against the latest signed checkpoint (embedded), so that an
 * auditor checks them offline with `audit check-proof --vkey VKEY`, a
 * consistency proof against a checkpoint they saved (`--old`): the
 * server's word is never needed. */
static void proof_document(st_req *r, int consistency)
{
    char dir[4096];
    uint64_t n;
    const char *param = consistency ? "from" : "index";
    if (st_srv_check(r, "audit.read", "audit:log") || audit_dir(r, dir, 4096) ||
        st_srv_query_u64(r, param, UINT64_MAX, &n))
        return;
    if (n == UINT64_MAX) {
        st_srv_reply_msg(r, 400, "query parameter %s is required", param);
        return;
    }
    char *doc = NULL;
    st_err err;
    st_code rc = consistency ? st_audit_prove_consistency(dir, n, &doc, &err)
                             : st_audit_prove_inclusion(dir, n, &doc, &err);
    if (rc != ST_OK)
        st_srv_reply_err(r, NULL, &err);
    else
        st_srv_reply_text(r, 200, "application/json", doc, strlen(doc));
    free(doc);
}

typedef struct raw_ctx {
    uint64_t from;
    st_buf *b;
    int nomem;
} raw_ctx;

static int visit_raw(void *ctx, uint64_t index, const char *line, size_t len)
{
    raw_ctx *c = ctx;
    if (index < c->from)
        return 0;
    c->nomem = st_buf_append(c->b, line, len, NULL) != ST_OK ||
               st_buf_append(c->b, "\n", 1, NULL) != ST_OK;
    return c->nomem;
}

/* GET /v1/audit/log[?from=N]: the entries exactly as stored (JSON lines),
 * which a client rehashes: `audit verify` and `audit export` over
 * --server. */
static void log_raw(st_req *r)
{
    char dir[4096];
    st_buf b;
    raw_ctx c = {0, &b, 0};
    if (st_srv_check(r, "audit.read", "audit:log") || audit_dir(r, dir, 4096) ||
        st_srv_query_u64(r, "from", 0, &c.from))
        return;
    st_buf_init(&b);
    st_err err;
    if (st_audit_read(dir, visit_raw, &c, &err) != ST_OK || c.nomem) {
        if (c.nomem)
            st_srv_reply_msg(r, 500, "out of memory");
        else
            st_srv_reply_err(r, NULL, &err);
    } else {
        st_srv_reply_text(r, 200, "application/jsonl",
                          b.data ? (const void *)b.data : "", b.len);
    }
    st_buf_free(&b);
}

/* GET /v1/audit/vkey: the log's signed-note verifier key (`audit vkey`). */
static void vkey_get(st_req *r)
{
    char dir[4096], *vkey = NULL;
    if (st_srv_check(r, "audit.verify", "audit:log") || audit_dir(r, dir, 4096))
        return;
    st_err err;
    if (st_audit_verifier_key(dir, &vkey, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    st_srv_reply_text(r, 200, "text/plain; charset=utf-8", vkey, strlen(vkey));
    free(vkey);
}

/* GET /v1/audit/proof?index=I[&size=N]: the inclusion document as well
 * (it was a bare hex proof against the live tree, the server's word); a
 * size, if given, must be the latest checkpoint's, which the proof is
 * against. */
static void proof(st_req *r)
{
    uint64_t size;
    if (st_srv_query_range(r, "size", 1, INT64_MAX, 0, &size))
        return;
    if (!size) {
        proof_document(r, 0);
        return;
    }
    char dir[4096], *note = NULL;
    uint64_t have = 0;
    st_err err;
    if (st_srv_check(r, "audit.read", "audit:log") || audit_dir(r, dir, 4096))
        return;
    if (st_audit_latest_checkpoint(dir, &note, &have, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    free(note);
    if (size != have) {
        st_srv_reply_msg(r, 400,
                         "size %llu: proofs are against the latest signed "
                         "checkpoint (size %llu); omit size",
                         (unsigned long long)size, (unsigned long long)have);
        return;
    }
    proof_document(r, 0);
}

static void consistency_get(st_req *r)
{
    proof_document(r, 1);
}

static void inclusion_get(st_req *r)
{
    proof_document(r, 0);
}

/* ---- datasets ---- */

static json_t *dataset_json(const st_dataset_record *d, int full)
{
    char hex[65];
    st_hex_encode(d->m.file_sha256, 32, hex);
    json_t *j = json_pack(
        "{s:s,s:s,s:I,s:s,s:I,s:i,s:i,s:s,s:I,s:s,s:i}", "name", d->m.name,
        "owner", d->m.owner, "generation", (json_int_t)d->m.generation,
        "classification", d->m.classification, "rows", (json_int_t)d->m.rows,
        "cols", (int)d->m.cols, "classes", (int)d->m.classes, "file_sha256",
        hex, "file_size", (json_int_t)d->m.file_size, "kek", d->m.kek_name,
        "kek_version", (int)d->m.kek_version);
    json_object_set_new(j, "id", json_string(d->m.id));
    if (full && d->envelope) {
        /* the signed manifest the catalog holds; one that does not
         * parse is left out (`data verify` names it), but out of memory
         * is no answer (NULL) */
        st_err pe;
        json_t *env = st_json_parse(d->envelope, strlen(d->envelope),
                                    "manifest envelope", &pe);
        if ((!env && pe.code == ST_E_IO) ||
            (env && json_object_set_new(j, "manifest_envelope", env) != 0)) {
            json_decref(j);
            return NULL;
        }
        json_object_set_new(j, "signer_keyid", json_string(d->signer_keyid));
    }
    return j;
}

static void datasets(st_req *r)
{
    if (st_srv_check(r, "data.read", NULL))
        return;
    st_dataset_record *recs = NULL;
    size_t n = 0;
    st_err err;
    if (st_dataset_list(r->ws, &recs, &n, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, dataset_json(&recs[i], 0)) != 0) {
            json_decref(
                arr); /* out of memory: no list rather than a short one */
            arr = NULL;
        }
    st_dataset_records_free(recs, n);
    st_srv_reply_json(r, 200, json_pack("{s:o}", "datasets", arr));
}

static void dataset_show(st_req *r)
{
    char res[160];
    snprintf(res, sizeof(res), "dataset:%s", r->arg[0]);
    if (st_srv_check(r, "data.read", res))
        return;
    st_dataset_record d;
    st_err err;
    if (st_dataset_get(r->ws, r->arg[0], &d, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *j = dataset_json(&d, 1);
    st_dataset_record_free(&d);
    st_release_policy *pol = NULL;
    if (st_release_policy_get(r->ws, r->arg[0], &pol, &err) == ST_OK)
        json_object_set(j, "release_policy", pol->json);
    else
        json_object_set_new(j, "release_policy", json_null());
    st_release_policy_free(pol);
    st_srv_reply_json(r, 200, j);
}

static void dataset_policy(st_req *r)
{
    char res[160];
    snprintf(res, sizeof(res), "dataset:%s", r->arg[0]);
    if (st_srv_check(r, "data.read", res))
        return;
    st_release_policy *pol = NULL;
    st_err err;
    if (st_release_policy_get(r->ws, r->arg[0], &pol, &err) != ST_OK)
        st_srv_reply_err(r, NULL, &err);
    else
        st_srv_reply_json(r, 200, json_incref(pol->json));
    st_release_policy_free(pol);
}

/* ---- jobs ---- */

static json_t *job_json(const st_job_record *j, int full)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "id", j->id,
                          "name", j->name, "submitter", j->submitter, "state",
                          st_job_state_name(j->state), "created", j->created,
                          "updated", j->updated, "spec_digest", j->spec_digest,
                          "cancel_requested", j->cancel_requested);
    if (j->reason[0])
        json_object_set_new(o, "reason", json_string(j->reason));
    if (full && j->status) {
        /* the wrapped checkpoint key stays in the workspace */
        json_t *st = json_deep_copy(j->status);
        json_object_del(st, "checkpoint_key");
        json_object_set_new(o, "status", st);
    }
    return o;
}

static void jobs(st_req *r)
{
    if (st_srv_check(r, "job.read", NULL))
        return;
    st_job_record *recs = NULL;
    size_t n = 0;
    st_err err;
    if (st_job_list_readable(r->ws, r->principal, &recs, &n, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, job_json(&recs[i], 0));
        st_job_record_free(&recs[i]);
    }
    free(recs);
    st_srv_reply_json(r, 200, json_pack("{s:o}", "jobs", arr));
}

static void job_show(st_req *r)
{
    st_job_record j;
    st_err err;
    if (st_job_authorize(r->ws, r->principal, "job.read", r->arg[0], &err) !=
        ST_OK) {
        st_srv_reply_err(r, "job.read", &err);
        return;
    }
    if (st_job_get(r->ws, r->arg[0], &j, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *o = job_json(&j, 1);
    st_job_record_free(&j);
    st_srv_reply_json(r, 200, o);
}

static void job_cancel(st_req *r)
{
    st_err err;
    /* the job's submitter, or a role that cancels every job */
    if (st_job_authorize(r->ws, r->principal, "job.cancel", r->arg[0], &err) !=
        ST_OK) {
        st_srv_reply_err(r, "job.cancel", &err);
        return;
    }
    if (st_job_cancel(r->ws, r->principal, r->arg[0], &err) != ST_OK) {
        st_srv_reply_err(r, "job.cancel", &err);
        return;
    }
    st_srv_reply_json(
        r, 202, json_pack("{s:s,s:b}", "id", r->arg[0], "cancel_requested", 1));
}

/* ---- models (ciphertext and provenance only) ---- */

#define MAX_MODEL_FILE (256u << 20)

/* The record without the workspace's file paths. */
static json_t *model_json(const st_model_record *m)
{
    json_t *j = st_model_record_json(m);
    json_t *file = json_object_get(j, "file");
    json_object_del(file, "path");
    json_object_del(file, "provenance");
    return j;
}

static void models(st_req *r)
{
    if (st_srv_check(r, "model.read", NULL))
        return;
    st_model_record *recs = NULL;
    size_t n = 0;
    st_err err;
    if (st_model_list(r->ws, &recs, &n, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, model_json(&recs[i]));
        st_model_record_free(&recs[i]);
    }
    free(recs);
    st_srv_reply_json(r, 200, json_pack("{s:o}", "models", arr));
}

/* The model named by the path (and ?version=N, default latest), after
 * the model.read check on model:NAME; non-zero after replying. */
static int model_of(st_req *r, st_model_record *m)
{
    char res[160];
    uint64_t version;
    snprintf(res, sizeof(res), "model:%s", r->arg[0]);
    if (st_srv_check(r, "model.read", res) ||
        st_srv_query_range(r, "version", 1, UINT32_MAX, 0, &version))
        return -1;
    st_err err;
    if (st_model_get(r->ws, r->arg[0], (uint32_t)version, m, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return -1;
    }
    return 0;
}

static void model_show(st_req *r)
{
    st_model_record m;
    if (model_of(r, &m))
        return;
    json_t *j = model_json(&m);
    st_model_record_free(&m);
    st_srv_reply_json(r, 200, j);
}

static void send_file(st_req *r, const char *path, const char *ctype)
{
    unsigned char *data = NULL;
    size_t len = 0;
    st_err err;
    if (st_fs_read_all(path, MAX_MODEL_FILE, &data, &len, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    st_srv_reply_text(r, 200, ctype, data, len);
    free(data);
}

/* The sealed (age-encrypted) model file: only its recipients can open it. */
static void model_download(st_req *r)
{
    st_model_record m;
    if (model_of(r, &m))
        return;
    send_file(r, m.path, "application/octet-stream");
    st_model_record_free(&m);
}

/* POST /v1/models/NAME/decrypt[?version=N][&purpose=export]: the sealed
 * file for `model decrypt|export --server`, which decrypts it on the
 * client with the caller's identity (the server never holds one). The
 * same permission as locally (model.decrypt on model:NAME: its owner or
 * a grant), and the release to the client is audited (model.decrypt or
 * model.export, "where": "client") with the caller as actor. */
static void model_decrypt(st_req *r)
{
    char res[160];
    uint64_t version;
    const char *purpose = evhttp_find_header(&r->query, "purpose");
    int export = purpose && !strcmp(purpose, "export");
    snprintf(res, sizeof(res), "model:%s", r->arg[0]);
    if (purpose && !export) {
        st_srv_reply_msg(r, 400, "purpose must be export (or absent)");
        return;
    }
    if (st_srv_check(r, "model.decrypt", res) ||
        st_srv_query_range(r, "version", 1, UINT32_MAX, 0, &version))
        return;
    st_model_record m;
    st_err err;
    if (st_model_get(r->ws, r->arg[0], (uint32_t)version, &m, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *d = json_pack("{s:s,s:I,s:s}", "where", "client", "version",
                          (json_int_t)m.version, "sha256", m.file_sha256);
    st_audit_event ev = {"operation",
                         r->principal,
                         export ? "model.export" : "model.decrypt",
                         res,
                         "success",
                         NULL,
                         d};
    st_code rc = st_audit_append(r->ws, &ev, &err);
    json_decref(d);
    if (rc != ST_OK)
        st_srv_reply_err(r, NULL, &err);
    else
        send_file(r, m.path, "application/octet-stream");
    st_model_record_free(&m);
}

static void model_provenance(st_req *r)
{
    st_model_record m;
    if (model_of(r, &m))
        return;
    send_file(r, m.provenance_path, "application/json");
    st_model_record_free(&m);
}

const st_route st_srv_api_routes[] = {
    {EVHTTP_REQ_GET, "/v1/healthz", healthz, 1, 0},
    {EVHTTP_REQ_GET, "/v1/whoami", whoami, 1, 0},
    {EVHTTP_REQ_GET, "/v1/metrics", metrics, 1, 0},
    {EVHTTP_REQ_GET, "/v1/check", check, 0, 0},
    {EVHTTP_REQ_GET, "/v1/audit/checkpoint", checkpoint_get, 0, 0},
    {EVHTTP_REQ_GET, "/v1/audit/consistency", consistency_get, 0, 0},
    {EVHTTP_REQ_GET, "/v1/audit/inclusion", inclusion_get, 0, 0},
    {EVHTTP_REQ_POST, "/v1/audit/checkpoint", checkpoint_post, 0, 0},
    {EVHTTP_REQ_GET, "/v1/audit/entries", entries, 0, 0},
    {EVHTTP_REQ_GET, "/v1/audit/log", log_raw, 0, 0},
    {EVHTTP_REQ_GET, "/v1/audit/vkey", vkey_get, 0, 0},
    {EVHTTP_REQ_GET, "/v1/audit/proof", proof, 0, 0},
    {EVHTTP_REQ_GET, "/v1/datasets", datasets, 0, 0},
    {EVHTTP_REQ_GET, "/v1/datasets/*", dataset_show, 0, 0},
    {EVHTTP_REQ_GET, "/v1/datasets/*/policy", dataset_policy, 0, 0},
    {EVHTTP_REQ_GET, "/v1/jobs", jobs, 0, 0},
    {EVHTTP_REQ_GET, "/v1/jobs/*", job_show, 0, 0},
    {EVHTTP_REQ_POST, "/v1/jobs/*/cancel", job_cancel, 0, 0},
    {EVHTTP_REQ_GET, "/v1/models", models, 0, 0},
    {EVHTTP_REQ_GET, "/v1/models/*", model_show, 0, 0},
    {EVHTTP_REQ_GET, "/v1/models/*/download", model_download, 0, 0},
    {EVHTTP_REQ_GET, "/v1/models/*/provenance", model_provenance, 0, 0},
    {EVHTTP_REQ_POST, "/v1/models/*/decrypt", model_decrypt, 0, 0},
    {0, NULL, NULL, 0, 0}};
