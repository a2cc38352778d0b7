/*
 * routes_broker.c: the HTTPS transport of the key broker (`sealtrain serve
 * --broker`): it carries the frames of src/broker/msg.h as HTTP
 * bodies (application/x-sealtrain-broker) to the gate, src/broker/gate.c,
 * which decides (docs/api.md "Remote key broker"):
 *
 *   POST /v1/broker/datasets/NAME/hello?job=ID&spec_digest=HEX
 *        body HELLO frame || signed job spec (DSSE envelope, JSON)
 *                                  -> NONCE frame (one use, 60 s)
 *                                   | DENIED frame (403)
 *   POST /v1/broker/datasets/NAME/evidence?nonce=HEX
 *        body EVIDENCE frame       -> KEYS frame (200) | DENIED frame (403)
 *
 * The TLS client principal is the one who asks and the job's submitter:
 * the gate verifies the spec under the signing key registered here for
 * it. This file decides nothing: it parses the request, calls the gate and
 * writes the answer. The gate audits every decision in this workspace's
 * log through the handle the broker keeps open (appends of concurrent
 * workers share one flush), before a KEYS frame is written.
 *
 * Each worker thread keeps its own gate (its catalog connection, its
 * keyring) and opens it again every GATE_TTL_S seconds, so that a trust
 * anchor enrolled while the server runs (a TPM attestation key) is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "broker/gate_internal.h"
#include "broker/remote.h"
#include "sealtrain/broker.h"
#include "sealtrain/bytes.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/secmem.h"
#include "server/server_internal.h"

#define FRAME_TYPE "application/x-sealtrain-broker"
#define GATE_TTL_S 5.0

struct st_srv_broker {
    uint64_t released, denied;
    st_audit_log *log; /* this workspace's, open for the server's life */
};

struct st_srv_cache {
    st_workspace *ws; /* the thread's own catalog connection */
    st_gate *gate;
    st_keyring *kr; /* the keyring the gate was opened with */
    double since;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

st_srv_cache *st_srv_cache_new(st_workspace *ws)
{
    st_srv_cache *c = calloc(1, sizeof(*c));
    if (c)
        c->ws = ws;
    return c;
}

void st_srv_cache_free(st_srv_cache *c)
{
    if (!c)
        return;
    st_gate_close(c->gate);
    free(c);
}

st_code st_srv_broker_new(st_workspace *ws, st_srv_broker **out, st_err *err)
{
    st_srv_broker *b = calloc(1, sizeof(*b));
    if (!b)
        return st_err_set(err, ST_E_IO, "out of memory");
    char dir[4200];
    st_code rc = st_workspace_subdir(ws, "audit", dir, sizeof(dir), err);
    if (rc == ST_OK)
        rc = st_audit_log_open(dir, &b->log, err);
    if (rc != ST_OK) {
        free(b);
        return st_err_prefix(err, "audit log");
    }
    /* the trust anchors load now, so that a missing one (and the sim key
     * the workspace's jobs share) is there and reported at start */
    st_gate_anchors a;
    rc = st_gate_anchors_load(ws, &a, err);
    st_gate_anchors_free(&a);
    if (rc != ST_OK) {
        st_srv_broker_free(b);
        return rc;
    }
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

/* The worker's gate, or NULL after replying. */
static st_gate *gate_for(st_req *r)
{
    st_srv_cache *c = r->cache;
    if (!c) {
        st_srv_reply_msg(r, 503, "the key broker is not ready");
        return NULL;
    }
    if (c->gate && (c->kr != r->kr || mono() - c->since > GATE_TTL_S)) {
        st_gate_close(c->gate);
        c->gate = NULL;
    }
    if (!c->gate) {
        /* a remote owner's broker never releases a model key */
        st_gate_opts o = {st_srv_get_broker(r->s)->log, 0, 0, NULL, 0};
        st_err err;
        if (st_gate_open(r->ws, r->kr, &o, &c->gate, &err) != ST_OK) {
            st_srv_reply_err(r, NULL, &err);
            return NULL;
        }
        c->kr = r->kr;
        c->since = mono();
    }
    return c->gate;
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
    char *text = st_json_dumps(d, JSON_COMPACT);
    json_decref(d);
    if (text && strlen(text) <= st_broker_max_len(ST_MSG_DENIED))
        reply_frame(r, 403, ST_MSG_DENIED, text, strlen(text));
    else
        st_srv_reply_msg(r, 403, "%s", reason);
    free(text);
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

/* A refusal: counted, and the DENIED frame (the gate has audited it). */
static void refused(st_req *r, const char *reason, json_t *verdicts)
{
    count(r, &st_srv_get_broker(r->s)->denied);
    reply_denied(r, reason, verdicts);
}

static void hello(st_req *r)
{
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
    if (strlen(r->arg[0]) > ST_JOB_NAME_MAX) {
        st_srv_reply_msg(r, 400, "dataset: name too long");
        return;
    }
    st_gate *g = gate_for(r);
    if (!g)
        return;
    size_t len = 0;
    char *body =
        st_srv_body(r, ST_BROKER_HEADER_LEN + 65 + ST_BROKER_SPEC_MAX, &len);
    if (!body)
        return;
    st_gate_ask ask;
    memset(&ask, 0, sizeof(ask));
    if (st_broker_hello_body_parse((const uint8_t *)body, len, &ask.hello,
                                   &ask.envelope, &ask.envelope_len,
                                   &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        goto out;
    }
    ask.principal = ask.submitter = r->principal;
    ask.job_id = job;
    ask.spec_digest = digest;
    ask.datasets[ask.ndatasets++] = r->arg[0];
    uint8_t nonce[32];
    st_code rc = st_gate_hello(g, &ask, nonce, &err);
    if (rc == ST_E_DENIED)
        refused(r, err.msg, NULL);
    else if (rc != ST_OK)
        st_srv_reply_err(r, NULL, &err);
    else
        reply_frame(r, 200, ST_MSG_NONCE, nonce, 32);
out:
    st_wipe(body, len);
    free(body);
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
    if (!r->kr) {
        st_srv_reply_msg(r, 503, "the keyring is not open on this server");
        return;
    }
    st_gate *g = gate_for(r);
    if (!g)
        return;
    st_broker_msg m;
    memset(&m, 0, sizeof(m));
    if (read_frame(r, ST_MSG_EVIDENCE, &m))
        return;
    st_broker_keys *keys = calloc(1, sizeof(*keys));
    st_gate_result res;
    memset(&res, 0, sizeof(res));
    st_code rc = keys ? st_gate_release(g, r->principal, nonce, r->arg[0],
                                        m.data, m.len, keys, &res, &err)
                      : st_err_set(&err, ST_E_IO, "out of memory");
    st_broker_msg_free(&m);
    /* the verdicts as EARs, signed with this workspace's verifier key
     * (`sealtrain attest ear-key`): Sealtrain-EAR, comma-separated */
    st_buf ears;
    st_buf_init(&ears);
    size_t i;
    json_t *e;
    json_array_foreach(res.ears, i, e)
    {
        if (st_buf_printf(&ears, NULL, "%s%s", i ? "," : "",
                          json_string_value(json_object_get(e, "ear"))) !=
            ST_OK)
            break;
    }
    if (ears.len && st_buf_append(&ears, "", 1, NULL) == ST_OK)
        st_srv_reply_header(r, "Sealtrain-EAR", (const char *)ears.data);
    st_buf_free(&ears);
    st_buf out;
    st_buf_init(&out);
    if (rc == ST_OK)
        rc = st_broker_keys_encode(keys, &out, &err);
    if (keys)
        st_wipe(keys, sizeof(*keys));
    free(keys);
    if (rc == ST_E_DENIED) {
        /* the verdict of the policy that refused, for the caller to debug */
        json_t *v =
            json_array_get(res.verdicts, json_array_size(res.verdicts) - 1);
        refused(r, res.reason[0] ? res.reason : err.msg, json_incref(v));
    } else if (rc != ST_OK) {
        count(r, &st_srv_get_broker(r->s)->denied);
        st_srv_reply_err(r, NULL, &err);
    } else {
        count(r, &st_srv_get_broker(r->s)->released);
        reply_frame(r, 200, ST_MSG_KEYS, out.data, out.len);
    }
    st_wipe(out.data, out.len);
    st_buf_free(&out);
    st_gate_result_clear(&res);
}

const st_route st_srv_broker_routes[] = {
    {EVHTTP_REQ_POST, "/v1/broker/datasets/*/hello", hello, 1, 1},
    {EVHTTP_REQ_POST, "/v1/broker/datasets/*/evidence", evidence, 1, 1},
    {0, NULL, NULL, 0, 0}};
