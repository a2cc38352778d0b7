/*
 * broker.c: the remote key broker of `sealtrain serve --broker`: the
 * attestation-gated release of this workspace's dataset keys over mutual
 * TLS, carrying the frames of include/sealtrain/broker.h as HTTP bodies
 * (application/x-sealtrain-broker), docs/api.md "Remote key broker":
 *
 *   POST /v1/broker/datasets/NAME/hello?job=ID&spec_digest=HEX
 *        body HELLO frame          -> NONCE frame (one use, 60 s)
 *   POST /v1/broker/datasets/NAME/evidence?nonce=HEX
 *        body EVIDENCE frame       -> KEYS frame (200) | DENIED frame (403)
 *
 * The report data is st_broker_report_data(runtime keys, nonce, spec
 * digest), as on the local socketpair; the evidence must pass the
 * dataset's release policy ("attestation") and the asking principal must
 * hold job.run and be one of the policy's "principals" (or "*"). Every
 * decision is audited in *this* workspace's log.
 *
 * It never releases a key without a fresh nonce issued to the same
 * principal, never sends a key unwrapped (only st_broker_wrap_key to the
 * runtime's X25519 key, bound to the job id and dataset), and keeps no
 * key after the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "sealtrain/access.h"
#include "sealtrain/attest.h"
#include "sealtrain/audit.h"
#include "sealtrain/broker.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/job.h"
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
};

st_code st_srv_broker_new(st_workspace *ws, st_srv_broker **out, st_err *err)
{
    st_srv_broker *b = calloc(1, sizeof(*b));
    if (!b)
        return st_err_set(err, ST_E_IO, "out of memory");
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
    if (b)
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
    uint8_t *buf = malloc(ST_BROKER_HEADER_LEN + len);
    if (!buf) {
        st_srv_reply_msg(r, 500, "out of memory");
        return;
    }
    /* the frame layout of broker.h: type || u32 big-endian length */
    buf[0] = (uint8_t)type;
    buf[1] = (uint8_t)(len >> 24);
    buf[2] = (uint8_t)(len >> 16);
    buf[3] = (uint8_t)(len >> 8);
    buf[4] = (uint8_t)len;
    if (len)
        memcpy(buf + ST_BROKER_HEADER_LEN, payload, len);
    st_srv_reply_text(r, code, FRAME_TYPE, buf, ST_BROKER_HEADER_LEN + len);
    st_wipe(buf, ST_BROKER_HEADER_LEN + len);
    free(buf);
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
    if (st_audit_append(r->ws, &ev, &err) != ST_OK)
        st_srv_reply_err(r, NULL, &err); /* no release without its record */
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

/* Loads the dataset's release policy and checks that the principal may
 * ask for its key. */
static int policy_allows(st_req *r, const char *dataset, json_t **pol)
{
    char res[160];
    snprintf(res, sizeof(res), "dataset:%s", dataset);
    if (st_srv_check(r, "job.run", res))
        return 0;
    st_err err;
    if (st_release_policy_get(r->ws, dataset, pol, &err) != ST_OK) {
        if (err.code == ST_E_NOTFOUND)
            st_srv_reply_msg(r, 403,
                             "dataset %s has no release policy: its "
                             "key is never released",
                             dataset);
        else
            st_srv_reply_err(r, NULL, &err);
        return 0;
    }
    const json_t *who = json_object_get(*pol, "principals");
    size_t i;
    const json_t *v;
    json_array_foreach(who, i, v)
    {
        const char *s = json_string_value(v);
        if (s && (!strcmp(s, "*") || !strcmp(s, r->principal)))
            return 1;
    }
    st_audit_event ev = {
        "access", r->principal, "key.release",
        res,      "denied",     "not among the release policy's principals",
        NULL};
    st_audit_append(r->ws, &ev, &err);
    st_srv_reply_json(r, 403,
                      json_pack("{s:s,s:s}", "error",
                                "permission denied: not among the dataset's "
                                "release policy principals",
                                "permission", "key.release"));
    json_decref(*pol);
    *pol = NULL;
    return 0;
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
    json_t *pol = NULL;
    if (!policy_allows(r, r->arg[0], &pol))
        return;
    json_decref(pol);
    st_broker_msg m;
    if (read_frame(r, ST_MSG_HELLO, &m))
        return;
    st_broker_hello h;
    st_code rc = st_broker_hello_parse(&m, &h, &err);
    st_broker_msg_free(&m);
    if (rc != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    pending fresh;
    memset(&fresh, 0, sizeof(fresh));
    if (st_random(fresh.nonce, 32, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    time_t now = time(NULL);
    fresh.used = 1;
    fresh.hello = h;
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
    if (!slot) {
        st_srv_reply_msg(r, 429, "too many key releases pending");
        return;
    }
    reply_frame(r, 200, ST_MSG_NONCE, fresh.nonce, 32);
    st_wipe(&fresh, sizeof(fresh));
}

static void evidence(st_req *r)
{
    st_srv_broker *b = st_srv_get_broker(r->s);
    const char *nh = evhttp_find_header(&r->query, "nonce");
    uint8_t nonce[32];
    st_err err;
    if (!nh || strlen(nh) != 64 || st_hex_decode(nh, nonce, 32, &err)) {
        st_srv_reply_msg(r, 400, "query parameter nonce (64 hex) is required");
        return;
    }
    pending s;
    int found = 0;
    st_srv_lock(r->s);
    for (size_t i = 0; i < MAX_PENDING && !found; i++) {
        pending *p = &b->p[i];
        if (p->used && st_ct_equal(p->nonce, nonce, 32) &&
            !strcmp(p->dataset, r->arg[0]) &&
            !strcmp(p->principal, r->principal)) {
            s = *p;
            memset(p, 0, sizeof(*p)); /* one use */
            found = 1;
        }
    }
    st_srv_unlock(r->s);
    char res[160];
    snprintf(res, sizeof(res), "dataset:%s", r->arg[0]);
    if (!found || time(NULL) - s.issued > NONCE_TTL_S) {
        count(r, &b->denied);
        audit(r, "key-release", "key.release", res, "denied",
              found ? "stale nonce" : "unknown or used nonce", NULL);
        if (!r->replied)
            reply_denied(r, found ? "stale nonce" : "unknown or used nonce",
                         NULL);
        return;
    }
    json_t *pol = NULL;
    if (!policy_allows(r, r->arg[0], &pol))
        return;
    st_broker_msg m;
    if (read_frame(r, ST_MSG_EVIDENCE, &m)) {
        json_decref(pol);
        return;
    }
    uint8_t evd[32];
    char ev_hex[65];
    st_sha256(m.data, m.len, evd);
    st_hex_encode(evd, 32, ev_hex);
    st_evidence *ev = NULL;
    st_code rc = st_evidence_from_json((const char *)m.data, m.len, "EVIDENCE",
                                       &ev, &err);
    st_broker_msg_free(&m);
    st_attest_policy *ap = NULL;
    char *ptext = NULL;
    if (rc == ST_OK) {
        const json_t *a = json_object_get(pol, "attestation");
        ptext = a ? json_dumps(a, JSON_COMPACT) : NULL;
        rc = ptext
                 ? st_attest_policy_parse(ptext, strlen(ptext), res, &ap, &err)
                 : st_err_set(&err, ST_E_DENIED,
                              "%s: the release policy has no attestation "
                              "policy",
                              res);
    }
    free(ptext);
    json_decref(pol);
    if (rc != ST_OK) {
        st_evidence_free(ev);
        count(r, &b->denied);
        audit(r, "key-release", "key.release", res, "denied", err.msg, NULL);
        if (!r->replied)
            reply_denied(r, err.msg, NULL);
        return;
    }
    uint8_t rd[64];
    st_broker_report_data(s.hello.x25519, s.hello.ed25519, s.nonce,
                          s.spec_digest, rd);
    st_attest_refs refs = {0};
    refs.sim_platform_key = b->have_sim ? b->sim_pub : NULL;
    st_verdict v;
    st_verdict_init(&v);
    rc = st_attest_verify(ev, rd, &refs, ap, (int64_t)time(NULL), &v, &err);
    st_attest_policy_free(ap);
    st_evidence_free(ev);
    int pass = rc == ST_OK && v.pass;
    const char *why = rc != ST_OK ? err.msg : v.reason;
    audit(r, "attestation", "attest.verify", res, pass ? "success" : "denied",
          pass ? NULL : why,
          json_pack("{s:s,s:s,s:s}", "job", s.job, "evidence_sha256", ev_hex,
                    "broker", "remote"));
    if (!pass) {
        count(r, &b->denied);
        json_t *vj = rc == ST_OK ? st_verdict_to_json(&v) : NULL;
        char reason[600];
        snprintf(reason, sizeof(reason), "%s: %s", res, why);
        st_verdict_free(&v);
        audit(r, "key-release", "key.release", res, "denied", reason,
              json_pack("{s:s,s:s}", "job", s.job, "evidence_sha256", ev_hex));
        if (!r->replied)
            reply_denied(r, reason, vj);
        else
            json_decref(vj);
        return;
    }
    st_verdict_free(&v);
    if (!r->kr) {
        st_srv_reply_msg(r, 503, "the keyring is not open on this server");
        return;
    }
    st_secret *fk = NULL;
    st_broker_keys *keys = calloc(1, sizeof(*keys));
    rc = keys ? st_dataset_file_key(r->ws, r->kr, s.dataset, &fk, NULL, &err)
              : st_err_set(&err, ST_E_IO, "out of memory");
    if (rc == ST_OK)
        rc = st_broker_wrap_key(s.hello.x25519, s.job, res, st_secret_bytes(fk),
                                st_secret_len(fk), &keys->k[keys->n++], &err);
    st_secret_free(fk);
    st_buf out;
    st_buf_init(&out);
    if (rc == ST_OK)
        rc = st_broker_keys_encode(keys, &out, &err);
    if (keys)
        st_wipe(keys, sizeof(*keys));
    free(keys);
    /* the record first: a key that was not audited is not sent */
    audit(r, "key-release", "key.release", res,
          rc == ST_OK ? "success" : "failure",
          rc == ST_OK ? "evidence verified against the release policy"
                      : err.msg,
          json_pack("{s:s,s:s,s:s}", "job", s.job, "evidence_sha256", ev_hex,
                    "broker", "remote"));
    if (r->replied) {
        st_buf_free(&out);
        return;
    }
    if (rc != ST_OK) {
        count(r, &b->denied);
        st_srv_reply_err(r, NULL, &err);
    } else {
        count(r, &b->released);
        reply_frame(r, 200, ST_MSG_KEYS, out.data, out.len);
    }
    st_wipe(out.data, out.len);
    st_buf_free(&out);
}

const st_route st_srv_broker_routes[] = {
    {EVHTTP_REQ_POST, "/v1/broker/datasets/*/hello", hello, 1, 1},
    {EVHTTP_REQ_POST, "/v1/broker/datasets/*/evidence", evidence, 1, 1},
    {0, NULL, NULL, 0, 0}};
