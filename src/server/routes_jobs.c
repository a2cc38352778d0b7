/*
 * routes_jobs.c: the job and model endpoints of `sealtrain serve` that go
 * beyond reading the catalog (docs/api.md, issue 9):
 *
 *   POST /v1/jobs                 a job spec DSSE-signed by the client
 *                                 principal's own key; verified against
 *                                 its registered key, validated, queued
 *   GET  /v1/jobs/ID/logs         the job's log; ?follow=1 streams it
 *                                 (chunked) until the job ends
 *   POST /v1/jobs/ID/model-key    the model key a model use's requester
 *                                 wrapped to the job's attested runtime
 *                                 (only the job's submitter; docs/predict.md)
 *   GET  /v1/jobs/ID/predictions  its sealed predictions (the submitter)
 *   GET|POST /v1/models/NAME/verify[?version=N]
 *                                 the verifier's verdict with its trace
 *                                 (POST body: an attestation policy)
 *
 * Every handler runs st_access_check for the certificate's principal
 * before it reads anything (job.submit, job.read, model.read; denials are
 * 403 naming the permission and audited by the check). A submission is
 * audited by the job module like a local `job submit`.
 *
 * A log stream is owned here once st_srv_stream_begin hands the request
 * over: a 250 ms timer reads what the job's log gained since the last
 * tick and sends it as one chunk, never queueing more than
 * STREAM_MAX_PENDING bytes for a client (a slow reader is simply read
 * for less often: the offset in the file is the backlog). It ends when
 * the job is finished and its log read to the end, when the client
 * leaves (the request loses its connection), or when the server shuts
 * down. Never: send anything but the job's log (states, epochs, reasons:
 * st_job_log holds no data and no key).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "sealtrain/attest.h"
#include "sealtrain/audit.h"
#include "sealtrain/bytes.h"
#include "sealtrain/fs.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/model.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"
#include "server/server_internal.h"

#define MAX_ENVELOPE (1u << 20)  /* a signed spec: a few KiB in practice */
#define MAX_POLICY (1u << 20)    /* an attestation policy */
#define MAX_LOG (16u << 20)      /* GET .../logs without follow */
#define STREAM_CHUNK (64u << 10) /* read per tick and stream */
#define STREAM_MAX_PENDING (256u << 10) /* queued for one client at most */
#define STREAM_TICK_US 250000
#define STREAM_END_TICKS 2 /* ticks with the job finished and no new lines */

/* ---- POST /v1/jobs ---- */

static void job_submit(st_req *r)
{
    /* the role first, before the body is even read; the dataset-scoped
     * right is checked on the parsed spec (st_job_submit_envelope) */
    if (st_srv_check(r, "job.submit", NULL))
        return;
    size_t len = 0;
    char *body = st_srv_body(r, MAX_ENVELOPE, &len);
    if (!body)
        return;
    st_job_spec spec;
    char id[ST_JOB_ID_LEN + 1];
    st_err err;
    st_err_clear(&err);
    st_code rc =
        st_job_submit_envelope(r->ws, r->principal, body, len, id, &spec, &err);
    free(body);
    if (rc != ST_OK) {
        st_srv_reply_err(r, "job.submit", &err);
        return;
    }
    /* the stored digest: SHA-256 of the signed payload */
    st_job_record rec;
    char hex[65] = "";
    if (st_job_get(r->ws, id, &rec, NULL) == ST_OK) {
        snprintf(hex, sizeof(hex), "%s", rec.spec_digest);
        st_job_record_free(&rec);
    }
    json_t *out =
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "name", spec.name, "state",
                  "queued", "submitter", r->principal, "spec_digest", hex);
    st_job_spec_free(&spec);
    st_srv_jobs_kick(st_srv_get_jobs(r->s));
    st_srv_reply_json(r, 201, out);
}

/* ---- GET /v1/jobs/ID/logs[?follow=1] ---- */

struct st_srv_stream {
    st_srv_stream *next;
    st_srv_jobs *jobs;
    struct st_srv *s;
    struct evhttp_request *req;
    struct event *tick;
    char id[ST_JOB_ID_LEN + 1];
    char path[4096];
    int fd;
    off_t off;
    unsigned quiet_ticks; /* consecutive ticks: job finished, nothing new */
    int held;             /* the last pump left data for a slow client */
};

st_srv_stream **st_srv_stream_next(st_srv_stream *st)
{
    return &st->next;
}

static void stream_free(st_srv_stream *st)
{
    st_srv_stream **p = st_srv_jobs_streams(st->jobs);
    while (*p && *p != st)
        p = &(*p)->next;
    if (*p)
        *p = st->next;
    if (st->tick)
        event_free(st->tick);
    if (st->fd >= 0)
        close(st->fd);
    free(st);
}

/* Ends the reply (frees the request: at once when the client left, else
 * after the last chunk is written) and the stream. */
static void stream_end(st_srv_stream *st)
{
    evhttp_send_reply_end(st->req);
    stream_free(st);
}

/* Sends what the log gained (bytes; 0 at its end or when the client is
 * behind, st->held says which); -1 on a read error. */
static ssize_t stream_pump(st_srv_stream *st)
{
    st->held = 0;
    if (st->fd < 0) {
        st->fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (st->fd < 0)
            return errno == ENOENT ? 0 : -1; /* no line logged yet */
    }
    size_t pending = st_srv_stream_pending(st->req);
    if (pending >= STREAM_MAX_PENDING) {
        st->held = 1; /* the client reads slowly: the rest stays in the file */
        return 0;
    }
    size_t room = STREAM_MAX_PENDING - pending;
    size_t want = room < STREAM_CHUNK ? room : STREAM_CHUNK;
    char buf[STREAM_CHUNK];
    ssize_t n = pread(st->fd, buf, want, st->off);
    if (n <= 0)
        return n < 0 && errno != EINTR ? -1 : 0;
    st->off += n;
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return -1;
    evbuffer_add(b, buf, (size_t)n);
    evhttp_send_reply_chunk(st->req, b);
    evbuffer_free(b);
    return n;
}

static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    st_srv_stream *st = arg;
    if (!evhttp_request_get_connection(st->req)) {
        stream_end(st); /* the client left */
        return;
    }
    if (st_srv_stopping(st->s)) {
        /* what is there, a last line saying why it ends here, the end */
        stream_pump(st);
        static const char bye[] = "server: shutting down: the log stream "
                                  "ends before the job\n";
        struct evbuffer *b = evbuffer_new();
        if (b && evbuffer_add(b, bye, sizeof(bye) - 1) == 0)
            evhttp_send_reply_chunk(st->req, b);
        evbuffer_free(b);
        stream_end(st);
        return;
    }
    /* the state first: lines logged before it turned final are read
     * below or on the next tick */
    st_job_record rec;
    int done = 1;
    if (st_job_get(st_srv_workspace(st->s), st->id, &rec, NULL) == ST_OK) {
        done = st_job_state_terminal(rec.state);
        st_job_record_free(&rec);
    }
    ssize_t n = stream_pump(st);
    if (n < 0) {
        stream_end(st);
        return;
    }
    st->quiet_ticks = done && n == 0 && !st->held ? st->quiet_ticks + 1 : 0;
    if (st->quiet_ticks >= STREAM_END_TICKS)
        stream_end(st);
}

static void follow_logs(st_req *r, const char *path)
{
    st_srv_jobs *j = st_srv_get_jobs(r->s);
    st_srv_stream *st = j ? calloc(1, sizeof(*st)) : NULL;
    if (!st) {
        st_srv_reply_msg(r, 503, "log streaming is not available");
        return;
    }
    st->jobs = j;
    st->s = r->s;
    st->fd = -1;
    snprintf(st->id, sizeof(st->id), "%s", r->arg[0]);
    snprintf(st->path, sizeof(st->path), "%s", path);
    st->tick = event_new(st_srv_base(r->s), -1, EV_PERSIST, stream_tick, st);
    struct timeval tv = {0, STREAM_TICK_US};
    if (!st->tick || event_add(st->tick, &tv) != 0) {
        if (st->tick)
            event_free(st->tick);
        free(st);
        st_srv_reply_msg(r, 500, "log stream: timer");
        return;
    }
    st->req = st_srv_stream_begin(r, "text/plain; charset=utf-8");
    if (!st->req) {
        event_free(st->tick);
        free(st);
        return;
    }
    st_srv_stream **head = st_srv_jobs_streams(j);
    st->next = *head;
    *head = st;
    /* the log so far goes out at once, not after the first tick */
    if (stream_pump(st) < 0)
        stream_end(st);
}

void st_srv_log_streams_free(st_srv_jobs *j)
{
    /* at teardown the requests belong to evhttp_free; only our state goes */
    st_srv_stream **head = st_srv_jobs_streams(j);
    while (*head)
        stream_free(*head);
}

static void job_logs(st_req *r)
{
    st_err aerr;
    /* the job's submitter, or a role that reads every job */
    if (st_job_authorize(r->ws, r->principal, "job.read", r->arg[0], &aerr) !=
        ST_OK) {
        st_srv_reply_err(r, "job.read", &aerr);
        return;
    }
    uint64_t follow = 0;
    if (st_srv_query_range(r, "follow", 0, 1, 0, &follow))
        return;
    st_job_record j;
    st_err err;
    char path[4096];
    if (st_job_get(r->ws, r->arg[0], &j, &err) != ST_OK ||
        st_job_log_path(r->ws, r->arg[0], path, sizeof(path), &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    st_job_record_free(&j);
    if (follow) {
        follow_logs(r, path);
        return;
    }
    unsigned char *text = NULL;
    size_t len = 0;
    if (!st_fs_exists(path)) {
        st_srv_reply_text(r, 200, "text/plain; charset=utf-8", "", 0);
        return;
    }
    if (st_fs_read_all(path, MAX_LOG, &text, &len, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    st_srv_reply_text(r, 200, "text/plain; charset=utf-8", text, len);
    free(text);
}

/* ---- GET|POST /v1/models/NAME/verify[?version=N] ---- */

static void model_verify(st_req *r)
{
    char res[160];
    uint64_t version = 0;
    snprintf(res, sizeof(res), "model:%s", r->arg[0]);
    if (st_srv_check(r, "model.read", res) ||
        st_srv_query_range(r, "version", 1, UINT32_MAX, 0, &version))
        return;
    size_t plen = 0;
    char *policy = NULL;
    if (r->method == EVHTTP_REQ_POST && r->body_len) {
        if (!(policy = st_srv_body(r, MAX_POLICY, &plen)))
            return;
    }
    st_model_record m;
    st_err err;
    st_err_clear(&err);
    if (st_model_get(r->ws, r->arg[0], (uint32_t)version, &m, &err) != ST_OK) {
        free(policy);
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    unsigned char *ptext = NULL;
    size_t len = 0;
    json_t *env = NULL;
    st_code rc =
        st_fs_read_all(m.provenance_path, 16u << 20, &ptext, &len, &err);
    if (rc == ST_OK) {
        env = st_json_parse((const char *)ptext, len, "provenance", &err);
        rc = env ? ST_OK : err.code;
    }
    free(ptext);
    st_model_refs refs;
    st_model_refs_load(r->ws, NULL, &refs);
    st_verdict v;
    st_verdict_init(&v);
    if (rc == ST_OK) {
        st_model_verify_opts vo = {policy, plen, &refs.refs, r->ws,
                                   (int64_t)time(NULL)};
        rc = st_model_verify(m.path, env, &m, &vo, &v, &err);
    }
    if (rc != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
    } else {
        json_t *out = st_verdict_to_json(&v);
        char ref[ST_MODEL_NAME_MAX + 16];
        snprintf(ref, sizeof(ref), "%s@%u", m.name, m.version);
        json_object_set_new(out, "model", json_string(ref));
        json_object_set_new(out, "file_sha256", json_string(m.file_sha256));
        /* the very text `model verify` prints, for remote clients */
        st_buf text;
        st_buf_init(&text);
        if (st_verdict_render_text(&v, &text, NULL) == ST_OK)
            json_object_set_new(
                out, "text", json_stringn((const char *)text.data, text.len));
        st_buf_free(&text);
        st_srv_reply_json(r, 200, out);
    }
    st_verdict_free(&v);
    st_model_refs_free(&refs);
    json_decref(env);
    st_model_record_free(&m);
    free(policy);
}

/* ---- the requester's side of a model use (docs/predict.md) ---- */

#define MAX_MODEL_KEY (4u << 10)
#define MAX_PREDICTIONS (1u << 30)

/* The job, when the request's principal is its submitter (the model
 * use's requester); otherwise 403, audited as `action` denied on the job.
 * Non-zero after replying. */
static int requester_job(st_req *r, const char *action, st_job_record *j)
{
    st_err err;
    memset(j, 0, sizeof(*j));
    if (st_job_get(r->ws, r->arg[0], j, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return 1;
    }
    if (!strcmp(j->submitter, r->principal))
        return 0;
    char res[64];
    snprintf(res, sizeof(res), "job:%s", j->id);
    st_err_set(&err, ST_E_DENIED,
               "%s: only the job's requester (%s) may do this for job %s",
               action, j->submitter, j->id);
    st_audit_event ev = {"operation", r->principal, action, res,
                         "denied",    err.msg,      NULL};
    st_err aerr;
    if (st_audit_append(r->ws, &ev, &aerr) != ST_OK)
        err = aerr;
    st_job_record_free(j);
    st_srv_reply_err(r, action, &err);
    return 1;
}

/* POST /v1/jobs/ID/model-key: the model file key the requester wrapped
 * to the job's attested runtime after verifying its evidence itself
 * (st_job_model_key_json). Only the job's submitter, only while its
 * controller waits for it (status "model_key_request", state attesting),
 * only once, and only for the key the request names. It is stored in the
 * job's status for the controller, which cannot open it either. */
static void model_key(st_req *r)
{
    st_job_record j;
    if (requester_job(r, "model.key", &j))
        return;
    size_t len = 0;
    char *body = st_srv_body(r, MAX_MODEL_KEY, &len);
    st_broker_key k;
    st_err err;
    st_err_clear(&err);
    st_code rc = body ? st_job_model_key_parse(body, len, "model key", &k, &err)
                      : ST_E_INPUT;
    free(body);
    if (!body) {
        st_job_record_free(&j);
        return;
    }
    const json_t *want = json_object_get(j.status, "model_key_request");
    const char *name = json_string_value(json_object_get(want, "key"));
    if (rc == ST_OK && (!name || j.state != ST_JOB_ATTESTING))
        rc = st_err_set(&err, ST_E_USAGE,
                        "job %s is %s and waits for no model key", j.id,
                        st_job_state_name(j.state));
    else if (rc == ST_OK && json_object_get(j.status, "model_key"))
        rc = st_err_set(&err, ST_E_USAGE,
                        "job %s: its model key was already given", j.id);
    else if (rc == ST_OK && strcmp(k.name, name))
        rc = st_err_set(&err, ST_E_INPUT,
                        "model key: job %s waits for %s, not %s", j.id, name,
                        k.name);
    json_t *patch =
        rc == ST_OK ? json_pack("{s:o}", "model_key", st_job_model_key_json(&k))
                    : NULL;
    if (rc == ST_OK)
        rc = patch ? st_job_status_update(r->ws, j.id, patch, &err)
                   : st_err_set(&err, ST_E_IO, "out of memory");
    json_decref(patch);
    char res[64];
    snprintf(res, sizeof(res), "job:%s", j.id);
    char epk[65];
    st_hex_encode(k.epk, 32, epk);
    st_audit_event ev = {"key-release",
                         r->principal,
                         "model.key",
                         res,
                         rc == ST_OK ? "success" : "failure",
                         rc == ST_OK ? "wrapped by the requester to the "
                                       "job's attested runtime"
                                     : err.msg,
                         json_pack("{s:s,s:s}", "key", name ? name : "", "epk",
                                   rc == ST_OK ? epk : "")};
    st_err aerr;
    st_code arc = st_audit_append(r->ws, &ev, &aerr);
    json_decref(ev.details);
    st_wipe(&k, sizeof(k));
    st_job_record_free(&j);
    if (rc == ST_OK && arc != ST_OK) {
        rc = arc;
        err = aerr;
    }
    if (rc != ST_OK) {
        st_srv_reply_err(r, "model.key", &err);
        return;
    }
    st_srv_reply_json(r, 202,
                      json_pack("{s:s,s:b}", "id", r->arg[0], "model_key", 1));
}

/* GET /v1/jobs/ID/predictions: the sealed predictions of a predict job
 * run for a requester (age, to the spec's recipients), for its
 * requester only. */
static void predictions(st_req *r)
{
    st_job_record j;
    if (requester_job(r, "job.read", &j))
        return;
    char dir[4096], path[4200];
    st_err err;
    st_code rc =
        j.state == ST_JOB_SUCCEEDED
            ? st_workspace_path(r->ws, "jobs", j.id, dir, sizeof(dir), &err)
            : st_err_set(&err, ST_E_NOTFOUND, "job %s is %s: no predictions",
                         j.id, st_job_state_name(j.state));
    if (rc == ST_OK)
        rc = st_fs_join(path, sizeof(path), dir, ST_JOB_PREDICTIONS_FILE, &err);
    unsigned char *data = NULL;
    size_t len = 0;
    if (rc == ST_OK && !st_fs_exists(path))
        rc = st_err_set(&err, ST_E_NOTFOUND,
                        "job %s has no sealed predictions here", j.id);
    if (rc == ST_OK)
        rc = st_fs_read_all(path, MAX_PREDICTIONS, &data, &len, &err);
    st_job_record_free(&j);
    if (rc != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    st_srv_reply_text(r, 200, "application/octet-stream", data, len);
    free(data);
}

const st_route st_srv_job_routes[] = {
    {EVHTTP_REQ_POST, "/v1/jobs", job_submit, 0, 0},
    {EVHTTP_REQ_GET, "/v1/jobs/*/logs", job_logs, 0, 0},
    {EVHTTP_REQ_POST, "/v1/jobs/*/model-key", model_key, 0, 0},
    {EVHTTP_REQ_GET, "/v1/jobs/*/predictions", predictions, 0, 0},
    {EVHTTP_REQ_GET, "/v1/models/*/verify", model_verify, 0, 0},
    {EVHTTP_REQ_POST, "/v1/models/*/verify", model_verify, 0, 0},
    {0, NULL, NULL, 0, 0}};
