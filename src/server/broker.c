/*
 * broker.c: the remote key broker of `sealtrain serve --broker`: the
 * attestation-gated release of this workspace's dataset keys over mutual
 * TLS, carrying the frames of include/sealtrain/broker.h as HTTP bodies
 * (application/x-sealtrain-broker), docs/api.md "Remote key broker":
 *
 *   POST /v1/broker/datasets/NAME/hello?job=ID&spec_digest=HEX
 *        body HELLO frame || signed job spec (DSSE envelope, JSON)
 *                                  -> NONCE frame (one use, 60 s)
 *                                   | DENIED frame (403)
 *   POST /v1/broker/datasets/NAME/evidence?nonce=HEX
 *        body EVIDENCE frame       -> KEYS frame (200) | DENIED frame (403)
 *
 * The report data is st_broker_report_data(runtime keys, nonce, spec
 * digest), as on the local socketpair; the evidence must pass the
 * dataset's release policy ("attestation") and the asking principal must
 * hold job.run and be one of the policy's "principals" (or "*"). The
 * signed spec must verify under the signing key registered here for that
 * principal (the TLS client is the submitter), hash to spec_digest (which
 * the evidence binds), use the dataset and name only model recipients the
 * policy allows (st_release_policy_check_job, at HELLO and again at
 * EVIDENCE). Every decision is audited in *this* workspace's log.
 *
 * Every release is one durable audit entry (category key-release: the
 * verdict and the decision together), written through the log handle the
 * broker keeps open, before the KEYS frame is handed to the loop thread;
 * concurrent workers' entries share one fdatasync (group commit).
 *
 * Per thread (each worker has its own catalog connection) the broker
 * keeps what a release reads from the catalog, the keyring and the
 * dataset file: the release policy, its parsed attestation section and
 * the file key that st_dataset_file_key unwrapped after verifying the
 * signed manifest and the file's header (the key in an st_secret), and
 * the principals st_access_check allowed job.run on the dataset. The
 * cache is dropped whenever the catalog changed (SQLite data_version:
 * another connection or process committed: a policy, principal, grant,
 * dataset or keyring change), keyring.json or the encrypted file changed
 * (stat), and at least every CACHE_TTL_S seconds. The evidence itself,
 * the nonce and the policy's principals are checked on every request;
 * roles, grants and disabled principals live in the catalog, so a change
 * to any of them drops the cached permission with the rest.
 *
 * It never releases a key without a fresh nonce issued to the same
 * principal, never sends a key unwrapped (only st_broker_wrap_key to the
 * runtime's X25519 key, bound to the job id and dataset), and holds a
 * file key only in secure memory, at most CACHE_TTL_S seconds after the
 * catalog last confirmed it (the worker's keyring can re-derive it at any
 * time anyway).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/buffer.h>

#include "sealtrain/access.h"
#include "sealtrain/attest.h"
#include "sealtrain/audit.h"
#include "sealtrain/broker.h"
#include "sealtrain/broker_remote.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/job.h"
#include "sealtrain/keyring.h"
#include "sealtrain/log.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"
#include "server/server_int.h"

#define MAX_PENDING 1024
#define NONCE_TTL_S 60
#define FRAME_TYPE "application/x-sealtrain-broker"

typedef struct pending {
    int used;
    uint8_t nonce[32];
    st_broker_hello hello;
    uint8_t spec_digest[32];
    /* what the release policy is checked against again at EVIDENCE: the
     * verified spec's datasets and recipients (no JSON: root is NULL) */
    st_job_spec spec;
    char job[ST_JOB_ID_LEN + 1];
    char dataset[ST_JOB_NAME_MAX + 1];
    char principal[ST_PRINCIPAL_NAME_MAX];
    time_t issued;
} pending;

struct st_srv_broker {
    pending p[MAX_PENDING];
    uint8_t sim_pub[32];
    int have_sim;
    uint64_t released, denied;
    st_audit_log *log;   /* this workspace's, open for the server's life */
    char data_dir[4096]; /* st_attest_data_dir(), looked up once */
};

/* ---- the per-thread cache (see the top of the file) ---- */

#define CACHE_SLOTS 8
#define CACHE_TTL_S 5.0

typedef struct ds_entry {
    char name[ST_JOB_NAME_MAX + 1]; /* "" when free */
    json_t *policy;                 /* the release policy */
    st_attest_policy *ap;           /* its "attestation", parsed on demand */
    st_secret *file_key;            /* NULL until a release needed it */
    /* principals that passed st_access_check(job.run, dataset:NAME) */
    char allowed[4][ST_PRINCIPAL_NAME_MAX];
    char file[4200];     /* the encrypted file, and its stat */
    struct stat file_st; /* when the key was unwrapped */
    double used;
} ds_entry;

struct st_srv_cache {
    st_workspace *ws; /* the thread's own catalog connection */
    char keyring[4200];
    int64_t data_version;
    struct stat keyring_st;
    double since; /* monotonic time of the last flush */
    ds_entry e[CACHE_SLOTS];
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void entry_clear(ds_entry *e)
{
    json_decref(e->policy);
    st_attest_policy_free(e->ap);
    st_secret_free(e->file_key);
    memset(e, 0, sizeof(*e));
}

static void cache_flush(st_srv_cache *c)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        entry_clear(&c->e[i]);
}

st_srv_cache *st_srv_cache_new(st_workspace *ws)
{
    st_srv_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ws = ws;
    c->data_version = -1;
    if (st_workspace_path(ws, "keys", "keyring.json", c->keyring,
                          sizeof(c->keyring), NULL) != ST_OK)
        c->keyring[0] = 0;
    return c;
}

void st_srv_cache_free(st_srv_cache *c)
{
    if (!c)
        return;
    cache_flush(c);
    free(c);
}

/* Drops everything when the catalog, the keyring file or the clock say
 * it may be stale; 0 when the cache may not be used at all. */
static int cache_check(st_srv_cache *c)
{
    if (!c)
        return 0;
    int64_t dv;
    struct stat ks;
    memset(&ks, 0, sizeof(ks));
    double now = mono();
    int ok = st_catalog_data_version(c->ws, &dv, NULL) == ST_OK &&
             c->keyring[0] && stat(c->keyring, &ks) == 0;
    if (!ok || dv != c->data_version || !same_file(&ks, &c->keyring_st) ||
        now - c->since > CACHE_TTL_S) {
        cache_flush(c);
        c->data_version = ok ? dv : -1;
        c->keyring_st = ks;
        c->since = now;
    }
    return ok;
}

/* The entry for `dataset` (a fresh one when it is not cached). */
static ds_entry *cache_entry(st_srv_cache *c, const char *dataset)
{
    ds_entry *lru = &c->e[0];
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        ds_entry *e = &c->e[i];
        if (e->name[0] && !strcmp(e->name, dataset)) {
            e->used = mono();
            return e;
        }
        if (!e->name[0] || e->used < lru->used)
            lru = e;
    }
    entry_clear(lru);
    snprintf(lru->name, sizeof(lru->name), "%s", dataset);
    lru->used = mono();
    return lru;
}

st_code st_srv_broker_new(st_workspace *ws, st_srv_broker **out, st_err *err)
{
    st_srv_broker *b = calloc(1, sizeof(*b));
    if (!b)
        return st_err_set(err, ST_E_IO, "out of memory");
    /* one handle for the server's life: each append no longer opens,
     * locks and reads the log's files again */
    char dir[4200];
    st_code rc = st_workspace_subdir(ws, "audit", dir, sizeof(dir), err);
    if (rc == ST_OK)
        rc = st_audit_log_open(dir, &b->log, err);
    if (rc != ST_OK) {
        free(b);
        return st_err_prefix(err, "audit log");
    }
    snprintf(b->data_dir, sizeof(b->data_dir), "%s", st_attest_data_dir());
    /* sim evidence is accepted only under the sim platform key of this
     * machine (the one `job run` uses); it never leaves the workspace */
    char path[4200];
    uint8_t *seed = st_secmem_alloc(32, err);
    if (seed &&
        st_workspace_path(ws, "keys", "sim-platform.pem", path, sizeof(path),
                          NULL) == ST_OK &&
        st_attest_sim_key(path, 1, seed, b->sim_pub, NULL) == ST_OK)
        b->have_sim = 1;
    st_secmem_free(seed);
    *out = b;
    return ST_OK;
}

void st_srv_broker_free(st_srv_broker *b)
{
    if (!b)
        return;
    st_audit_log_close(b->log);
    st_wipe(b, sizeof(*b));
    free(b);
}

static void count(st_req *r, uint64_t *counter)
{
    st_srv_lock(r->s);
    (*counter)++;
    st_srv_unlock(r->s);
}

static void reply_frame(st_req *r, int code, int type, const void *payload,
                        size_t len)
{
    st_buf buf;
    st_buf_init(&buf);
    st_err err;
    if (st_broker_frame_encode(type, payload, len, &buf, &err) != ST_OK)
        st_srv_reply_err(r, NULL, &err);
    else
        st_srv_reply_text(r, code, FRAME_TYPE, buf.data, buf.len);
    st_wipe(buf.data, buf.len);
    st_buf_free(&buf);
}

static void reply_denied(st_req *r, const char *reason, json_t *verdict)
{
    json_t *d = json_pack("{s:s}", "reason", reason);
    if (verdict)
        json_object_set_new(d, "verdict", verdict);
    char *text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    if (text && strlen(text) <= st_broker_max_len(ST_MSG_DENIED))
        reply_frame(r, 403, ST_MSG_DENIED, text, strlen(text));
    else
        st_srv_reply_msg(r, 403, "%s", reason);
    free(text);
}

static void audit(st_req *r, const char *category, const char *action,
                  const char *resource, const char *outcome, const char *reason,
                  json_t *details)
{
    st_audit_event ev = {category, r->principal, action, resource,
                         outcome,  reason,       details};
    st_err err;
    st_srv_broker *b = st_srv_get_broker(r->s);
    if (st_audit_log_append(b->log, &ev, NULL, &err) != ST_OK) {
        st_err_prefix(&err, "audit log");
        st_srv_reply_err(r, NULL, &err); /* no release without its record */
    }
    json_decref(details);
}

/* The request body as one frame of `type`, or NULL after replying. */
static int read_frame(st_req *r, int type, st_broker_msg *m)
{
    size_t len;
    char *body =
        st_srv_body(r, ST_BROKER_HEADER_LEN + ST_BROKER_MAX_FRAME, &len);
    if (!body)
        return -1;
    st_err err;
    size_t used = 0;
    st_code rc =
        st_broker_frame_parse((const uint8_t *)body, len, m, &used, &err);
    free(body);
    if (rc == ST_OK && (used != len || m->type != type)) {
        st_broker_msg_free(m);
        rc = st_err_set(&err, ST_E_INPUT, "expected one %s frame",
                        st_broker_type_name(type));
    }
    if (rc != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return -1;
    }
    return 0;
}

/* The cache entry of this request's dataset, or `tmp` (cleared by the
 * caller with entry_clear) when the cache may not be used. */
static ds_entry *entry_for(st_req *r, const char *dataset, ds_entry *tmp)
{
    memset(tmp, 0, sizeof(*tmp));
    if (strlen(dataset) > ST_DATASET_NAME_MAX || !cache_check(r->cache))
        return tmp;
    return cache_entry(r->cache, dataset);
}

/* The dataset's release policy (into e->policy) and whether the principal
 * may ask for its key; 0 after replying. */
static int policy_allows(st_req *r, const char *dataset, ds_entry *e)
{
    char res[160];
    snprintf(res, sizeof(res), "dataset:%s", dataset);
    size_t k;
    for (k = 0; k < 4 && e->allowed[k][0]; k++)
        if (!strcmp(e->allowed[k], r->principal))
            break;
    if (k == 4 || !e->allowed[k][0]) {
        if (st_srv_check(r, "job.run", res))
            return 0;
        if (k < 4 && strlen(r->principal) < sizeof(e->allowed[k]))
            snprintf(e->allowed[k], sizeof(e->allowed[k]), "%s", r->principal);
    }
    st_err err;
    if (!e->policy &&
        st_release_policy_get(r->ws, dataset, &e->policy, &err) != ST_OK) {
        if (err.code == ST_E_NOTFOUND)
            st_srv_reply_msg(r, 403,
                             "dataset %s has no release policy: its "
                             "key is never released",
                             dataset);
        else
            st_srv_reply_err(r, NULL, &err);
        return 0;
    }
    if (st_release_policy_allows_principal(e->policy, r->principal))
        return 1;
    st_audit_event ev = {
        "access", r->principal, "key.release",
        res,      "denied",     "not among the release policy's principals",
        NULL};
    /* the refusal stands either way; a lost entry is logged loudly */
    if (st_audit_log_append(st_srv_get_broker(r->s)->log, &ev, NULL, &err) !=
        ST_OK)
        st_error("broker", "recording a key.release denial: %s", err.msg);
    st_srv_reply_json(r, 403,
                      json_pack("{s:s,s:s}", "error",
                                "permission denied: not among the dataset's "
                                "release policy principals",
                                "permission", "key.release"));
    return 0;
}

/* The parsed attestation section of e->policy (into e->ap). */
static ST_MUST_CHECK st_code entry_attest_policy(ds_entry *e, const char *res,
                                                 st_err *err)
{
    if (e->ap)
        return ST_OK;
    const json_t *a = json_object_get(e->policy, "attestation");
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    st_code rc =
        text ? st_attest_policy_parse(text, strlen(text), res, &e->ap, err)
             : st_err_set(err, ST_E_DENIED,
                          "%s: the release policy has no "
                          "attestation policy",
                          res);
    free(text);
    return rc;
}

/* The dataset's file key (into e->file_key): the cached one while the
 * encrypted file is unchanged, else st_dataset_file_key (manifest
 * signature, file size, header digest, KEK unwrap). */
static ST_MUST_CHECK st_code entry_file_key(st_req *r, ds_entry *e,
                                            const char *dataset, st_err *err)
{
    struct stat st;
    if (e->file_key && e->file[0] && stat(e->file, &st) == 0 &&
        same_file(&st, &e->file_st))
        return ST_OK;
    st_secret_free(e->file_key);
    e->file_key = NULL;
    e->file[0] = 0;
    st_dataset_manifest m;
    memset(&m, 0, sizeof(m));
    st_code rc =
        st_dataset_file_key(r->ws, r->kr, dataset, &e->file_key, &m, err);
    if (rc != ST_OK)
        return rc;
    /* the file it was read from; a key whose file cannot be checked
     * again is used for this request only */
    char file[128];
    snprintf(file, sizeof(file), "%s-g%lld.age", m.id, m.generation);
    st_dataset_manifest_free(&m);
    if (st_workspace_path(r->ws, "datasets", file, e->file, sizeof(e->file),
                          NULL) != ST_OK ||
        stat(e->file, &e->file_st) != 0)
        e->file[0] = 0;
    return ST_OK;
}

/* The details of a key-release entry: the job and one digest (the
 * evidence's, or the spec's at HELLO). */
static json_t *details(const char *job, const char *what, const char *hex)
{
    return json_pack("{s:s,s:s,s:s}", "job", job, what, hex, "broker",
                     "remote");
}

/* One audited denial of the release (the single entry for it); takes
 * `details` and `verdict` (either may be NULL). */
static void deny(st_req *r, const char *res, json_t *det, const char *reason,
                 json_t *verdict)
{
    count(r, &st_srv_get_broker(r->s)->denied);
    audit(r, "key-release", "key.release", res, "denied", reason, det);
    if (!r->replied)
        reply_denied(r, reason, verdict);
    else
        json_decref(verdict);
}

/* The signed spec that came with HELLO (docs/api.md "Remote key
 * broker"): it must verify under the signing key registered here for the
 * TLS client principal (who is then its submitter: nobody can present
 * another principal's spec), its digest must be the spec_digest the
 * evidence will bind, and the release policy must allow it (the dataset
 * is one of its datasets, every recipient is allowed). Fills `spec`
 * (datasets and recipients only); 0 after the audited denial. */
static int spec_allows(st_req *r, const json_t *policy, const char *job,
                       const uint8_t want[32], const char *env, size_t len,
                       st_job_spec *spec)
{
    char res[160], sd[65];
    snprintf(res, sizeof(res), "dataset:%s", r->arg[0]);
    st_hex_encode(want, 32, sd);
    st_err err;
    st_principal p;
    uint8_t pub[32], got[32];
    st_job_spec full;
    memset(&full, 0, sizeof(full));
    st_code rc = st_access_principal_get(r->ws, r->principal, &p, &err);
    if (rc == ST_OK) {
        if (!p.signing_key)
            rc = st_err_set(&err, ST_E_DENIED,
                            "principal \"%s\" has no registered signing "
                            "key here",
                            r->principal);
        else
            rc = st_ed25519_parse_public_pem(p.signing_key,
                                             strlen(p.signing_key), pub, &err);
        st_principal_free(&p);
    }
    if (rc == ST_OK &&
        (rc = st_job_envelope_open(env, len, "job spec", pub, &full, got, NULL,
                                   &err)) != ST_OK)
        st_err_prefix(&err,
                      "not a job spec signed by the key registered "
                      "for \"%s\"",
                      r->principal);
    if (rc == ST_OK && memcmp(got, want, 32) != 0) {
        char gh[65];
        st_hex_encode(got, 32, gh);
        rc = st_err_set(&err, ST_E_DENIED,
                        "the signed job spec's digest sha256:%s is not the "
                        "job's spec_digest sha256:%s",
                        gh, sd);
    }
    if (rc == ST_OK)
        rc = st_release_policy_check_job(policy, r->arg[0], &full, r->principal,
                                         &err);
    if (rc == ST_OK) {
        *spec = full;
        /* only the flat fields travel with the nonce */
        spec->root = spec->model = spec->training = spec->attestation = NULL;
    }
    st_job_spec_free(&full);
    if (rc != ST_OK)
        deny(r, res, details(job, "spec_sha256", sd), err.msg, NULL);
    return rc == ST_OK;
}

static void hello(st_req *r)
{
    st_srv_broker *b = st_srv_get_broker(r->s);
    const char *job = evhttp_find_header(&r->query, "job");
    const char *sd = evhttp_find_header(&r->query, "spec_digest");
    st_err err;
    uint8_t digest[32];
    if (!job || strlen(job) != ST_JOB_ID_LEN || !sd || strlen(sd) != 64 ||
        st_hex_decode(sd, digest, 32, &err) != ST_OK) {
        st_srv_reply_msg(r, 400,
                         "query parameters job (a job id) and "
                         "spec_digest (64 hex) are required");
        return;
    }
    for (const char *p = job; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z'))) {
            st_srv_reply_msg(r, 400, "job: not a job id");
            return;
        }
    pending fresh;
    memset(&fresh, 0, sizeof(fresh));
    ds_entry tmp, *e = entry_for(r, r->arg[0], &tmp);
    size_t len = 0, envlen = 0;
    const char *env = NULL;
    char *body = NULL;
    if (!policy_allows(r, r->arg[0], e))
        goto out;
    body = st_srv_body(r, ST_BROKER_HEADER_LEN + 65 + ST_BROKER_SPEC_MAX, &len);
    if (!body)
        goto out;
    if (st_broker_hello_body_parse((const uint8_t *)body, len, &fresh.hello,
                                   &env, &envlen, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        goto out;
    }
    if (!spec_allows(r, e->policy, job, digest, env, envlen, &fresh.spec))
        goto out;
    if (st_random(fresh.nonce, 32, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        goto out;
    }
    time_t now = time(NULL);
    fresh.used = 1;
    memcpy(fresh.spec_digest, digest, 32);
    snprintf(fresh.job, sizeof(fresh.job), "%s", job);
    snprintf(fresh.dataset, sizeof(fresh.dataset), "%s", r->arg[0]);
    snprintf(fresh.principal, sizeof(fresh.principal), "%s", r->principal);
    fresh.issued = now;
    /* a free slot, or an expired one; the table is shared by workers */
    pending *slot = NULL;
    st_srv_lock(r->s);
    for (size_t i = 0; i < MAX_PENDING && !slot; i++)
        if (!b->p[i].used || now - b->p[i].issued > NONCE_TTL_S)
            slot = &b->p[i];
    if (slot)
        *slot = fresh;
    st_srv_unlock(r->s);
    if (!slot)
        st_srv_reply_msg(r, 429, "too many key releases pending");
    else
        reply_frame(r, 200, ST_MSG_NONCE, fresh.nonce, 32);
out:
    if (body)
        st_wipe(body, len);
    free(body);
    if (e == &tmp)
        entry_clear(&tmp);
    st_wipe(&fresh, sizeof(fresh));
}

/* Takes the pending release for `nonce` (one use); 1 when found. */
static int take_pending(st_req *r, const uint8_t nonce[32], pending *out)
{
    st_srv_broker *b = st_srv_get_broker(r->s);
    int found = 0;
    st_srv_lock(r->s);
    for (size_t i = 0; i < MAX_PENDING && !found; i++) {
        pending *p = &b->p[i];
        if (p->used && st_ct_equal(p->nonce, nonce, 32) &&
            !strcmp(p->dataset, r->arg[0]) &&
            !strcmp(p->principal, r->principal)) {
            *out = *p;
            memset(p, 0, sizeof(*p)); /* one use */
            found = 1;
        }
    }
    st_srv_unlock(r->s);
    return found;
}

/* Verifies the evidence against the nonce's report data and the policy;
 * 1 when it passes, else 0 after the audited denial. */
static int verify(st_req *r, ds_entry *e, const pending *s, const char *res,
                  const st_broker_msg *m, const char *ev_hex)
{
    st_err err;
    st_evidence *ev = NULL;
    st_code rc = st_evidence_from_json((const char *)m->data, m->len,
                                       "EVIDENCE", &ev, &err);
    if (rc == ST_OK)
        rc = entry_attest_policy(e, res, &err);
    if (rc != ST_OK) {
        st_evidence_free(ev);
        deny(r, res, details(s->job, "evidence_sha256", ev_hex), err.msg, NULL);
        return 0;
    }
    uint8_t rd[64];
    st_broker_report_data(s->hello.x25519, s->hello.ed25519, s->nonce,
                          s->spec_digest, rd);
    st_attest_refs refs = {0};
    st_srv_broker *b = st_srv_get_broker(r->s);
    refs.sim_platform_key = b->have_sim ? b->sim_pub : NULL;
    refs.data_dir = b->data_dir;
    st_verdict v;
    st_verdict_init(&v);
    rc = st_attest_verify(ev, rd, &refs, e->ap, (int64_t)time(NULL), &v, &err);
    st_evidence_free(ev);
    if (rc == ST_OK && v.pass) {
        st_verdict_free(&v);
        return 1;
    }
    json_t *vj = rc == ST_OK ? st_verdict_to_json(&v) : NULL;
    char reason[600];
    snprintf(reason, sizeof(reason), "%s: %s", res,
             rc != ST_OK ? err.msg : v.reason);
    st_verdict_free(&v);
    deny(r, res, details(s->job, "evidence_sha256", ev_hex), reason, vj);
    return 0;
}

static void evidence(st_req *r)
{
    const char *nh = evhttp_find_header(&r->query, "nonce");
    uint8_t nonce[32];
    st_err err;
    if (!nh || strlen(nh) != 64 || st_hex_decode(nh, nonce, 32, &err)) {
        st_srv_reply_msg(r, 400, "query parameter nonce (64 hex) is required");
        return;
    }
    pending s;
    int found = take_pending(r, nonce, &s);
    char res[160];
    snprintf(res, sizeof(res), "dataset:%s", r->arg[0]);
    if (!found || time(NULL) - s.issued > NONCE_TTL_S) {
        deny(r, res, NULL, found ? "stale nonce" : "unknown or used nonce",
             NULL);
        st_wipe(&s, sizeof(s));
        return;
    }
    ds_entry tmp, *e = entry_for(r, r->arg[0], &tmp);
    st_broker_msg m;
    memset(&m, 0, sizeof(m));
    if (!policy_allows(r, r->arg[0], e))
        goto out;
    /* the policy may have changed since HELLO: its recipients again */
    if (st_release_policy_check_job(e->policy, s.dataset, &s.spec, r->principal,
                                    &err) != ST_OK) {
        char sd[65];
        st_hex_encode(s.spec_digest, 32, sd);
        deny(r, res, details(s.job, "spec_sha256", sd), err.msg, NULL);
        goto out;
    }
    if (read_frame(r, ST_MSG_EVIDENCE, &m))
        goto out;
    uint8_t evd[32];
    char ev_hex[65];
    st_sha256(m.data, m.len, evd);
    st_hex_encode(evd, 32, ev_hex);
    int pass = verify(r, e, &s, res, &m, ev_hex);
    st_broker_msg_free(&m);
    if (!pass)
        goto out;
    if (!r->kr) {
        st_srv_reply_msg(r, 503, "the keyring is not open on this server");
        goto out;
    }
    st_broker_keys *keys = calloc(1, sizeof(*keys));
    st_code rc = keys ? entry_file_key(r, e, s.dataset, &err)
                      : st_err_set(&err, ST_E_IO, "out of memory");
    if (rc == ST_OK)
        rc = st_broker_wrap_key(
            s.hello.x25519, s.job, res, st_secret_cbytes(e->file_key),
            st_secret_len(e->file_key), &keys->k[keys->n++], &err);
    st_buf out;
    st_buf_init(&out);
    if (rc == ST_OK)
        rc = st_broker_keys_encode(keys, &out, &err);
    if (keys)
        st_wipe(keys, sizeof(*keys));
    free(keys);
    /* the record first: a key that was not audited is not sent. One
     * entry holds the verdict and the release. */
    audit(r, "key-release", "key.release", res,
          rc == ST_OK ? "success" : "failure",
          rc == ST_OK ? "evidence verified against the release policy"
                      : err.msg,
          json_pack("{s:s,s:s,s:s,s:s}", "job", s.job, "evidence_sha256",
                    ev_hex, "broker", "remote", "verdict", "pass"));
    if (r->replied) {
        /* the audit append failed and replied */
    } else if (rc != ST_OK) {
        count(r, &st_srv_get_broker(r->s)->denied);
        st_srv_reply_err(r, NULL, &err);
    } else {
        count(r, &st_srv_get_broker(r->s)->released);
        reply_frame(r, 200, ST_MSG_KEYS, out.data, out.len);
    }
    st_wipe(out.data, out.len);
    st_buf_free(&out);
out:
    if (e == &tmp)
        entry_clear(&tmp);
    st_wipe(&s, sizeof(s));
}

const st_route st_srv_broker_routes[] = {
    {EVHTTP_REQ_POST, "/v1/broker/datasets/*/hello", hello, 1, 1},
    {EVHTTP_REQ_POST, "/v1/broker/datasets/*/evidence", evidence, 1, 1},
    {0, NULL, NULL, 0, 0}};
