/*
 * routes_data.c: the dataset upload endpoints of `sealtrain serve`
 * (docs/api.md "Uploading a dataset"; issue 9), hooked into the dispatch
 * by server.c's route-table list:
 *
 *   GET    /v1/uploads/recipient   the intake key (age X25519 recipient)
 *   POST   /v1/uploads             open: wraps the client's file key
 *   GET    /v1/uploads/ID          how many bytes arrived (resume)
 *   PUT    /v1/uploads/ID          one chunk, Content-Range bytes S-E/T
 *   POST   /v1/uploads/ID/commit   the signed manifest: check, register
 *   DELETE /v1/uploads/ID          abandon
 *
 * Every handler runs st_access_check(data.import) for the certificate's
 * principal first; an upload is visible only to the principal who opened
 * it. The protocol and its state live in the data module (upload.h); this
 * file maps HTTP onto it.
 *
 * The intake key is made at the first request after start, kept in secure
 * memory for the life of the process and never written anywhere: a file
 * key wrapped to it opens only in this process. It must never be logged
 * or returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "data/upload.h"
#include "sealtrain/age.h"
#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/dataset.h"
#include "sealtrain/log.h"
#include "server/server_internal.h"

#define MAX_MANIFEST (1u << 20)

/* the event loop thread only (these routes are not deferred) */
static st_age_identity intake_id;
static char intake_rcpt[ST_AGE_RECIPIENT_STRLEN];
static int intake_ready;

static void limits_of(st_req *r, st_upload_limits *l)
{
    const st_server_opts *o = st_srv_opts(r->s);
    l->max_size = o->max_upload ? o->max_upload : (uint64_t)4 << 30;
    l->max_inflight =
        o->max_upload_inflight ? o->max_upload_inflight : (uint64_t)16 << 30;
    l->ttl_s = o->upload_ttl_s ? o->upload_ttl_s : 86400;
}

/* The access check, and that this server takes uploads; non-zero after
 * replying. */
static int gate(st_req *r)
{
    if (st_srv_check(r, "data.import", NULL))
        return -1;
    if (!st_srv_opts(r->s)->uploads || !r->kr) {
        st_srv_reply_msg(r, 503,
                         "this server does not take uploads (start it with "
                         "`sealtrain serve --uploads`)");
        return -1;
    }
    if (!intake_ready) {
        st_secret *sec = NULL;
        st_err err;
        if (st_age_keygen(&sec, intake_rcpt, &err) ||
            st_age_x25519_identity((const char *)st_secret_cbytes(sec),
                                   &intake_id, &err)) {
            st_secret_free(sec);
            st_srv_reply_err(r, NULL, &err);
            return -1;
        }
        st_secret_free(sec);
        intake_ready = 1;
    }
    return 0;
}

static json_t *info_json(const st_upload_info *u)
{
    char exp[ST_TIME_LEN];
    st_time_format(u->expires, exp);
    return json_pack("{s:s,s:s,s:I,s:o,s:s}", "id", u->id, "name", u->name,
                     "received", (json_int_t)u->received, "size",
                     u->size < 0 ? json_null() : json_integer(u->size),
                     "expires", exp);
}

static void recipient(st_req *r)
{
    if (gate(r))
        return;
    st_srv_reply_json(r, 200, json_pack("{s:s}", "recipient", intake_rcpt));
}

static void create(st_req *r)
{
    if (gate(r))
        return;
    st_upload_request req;
    st_upload_limits lim;
    st_upload_info u;
    st_buf body;
    st_err err;
    st_buf_init(&body);
    limits_of(r, &lim);
    if (st_upload_request_parse(r->body, r->body_len, &req, &err)) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    st_code rc = strcmp(req.intake, intake_rcpt)
                     ? st_err_set(&err, ST_E_INPUT,
                                  "the file key is wrapped to %s, not to "
                                  "this server's intake key (it changes "
                                  "when the server restarts: GET "
                                  "/v1/uploads/recipient again)",
                                  req.intake)
                     : st_upload_create(r->ws, r->kr, r->principal, &req,
                                        &intake_id, &lim, &u, &body, &err);
    st_upload_request_clear(&req);
    if (rc) {
        st_srv_reply_err(r, NULL, &err);
        st_buf_free(&body);
        return;
    }
    char *stanza = st_base64_encode(body.data, body.len, 1);
    st_buf_free(&body);
    json_t *j = info_json(&u);
    json_object_set_new(j, "dataset_id", json_string(u.dataset_id));
    json_object_set_new(j, "kek", json_string(u.kek));
    json_object_set_new(j, "kek_version", json_integer(u.kek_version));
    json_object_set_new(j, "stanza", json_string(stanza ? stanza : ""));
    json_object_set_new(j, "max_chunk",
                        json_integer((json_int_t)st_srv_opts(r->s)->max_body));
    json_object_set_new(j, "max_size", json_integer((json_int_t)lim.max_size));
    free(stanza);
    st_srv_reply_json(r, 201, j);
}

static void status(st_req *r)
{
    if (gate(r))
        return;
    st_upload_info u;
    st_err err;
    if (st_upload_get(r->ws, r->principal, r->arg[0], &u, &err)) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *j = info_json(&u);
    json_object_set_new(j, "max_chunk",
                        json_integer((json_int_t)st_srv_opts(r->s)->max_body));
    st_srv_reply_json(r, 200, j);
}

static void put(st_req *r)
{
    if (gate(r))
        return;
    const char *cr = evhttp_find_header(
        evhttp_request_get_input_headers(r->req), "Content-Range");
    uint64_t start, end, total;
    st_upload_limits lim;
    st_upload_info u;
    st_upload_refusal why;
    st_err err;
    limits_of(r, &lim);
    if (!cr) {
        st_srv_reply_msg(r, 400,
                         "a chunk needs Content-Range: bytes START-END/TOTAL");
        return;
    }
    if (st_upload_content_range_parse(cr, &start, &end, &total, &err)) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    if (end - start + 1 != r->body_len) {
        st_srv_reply_msg(r, 400,
                         "Content-Range names %llu bytes, the body holds %zu",
                         (unsigned long long)(end - start + 1), r->body_len);
        return;
    }
    if (!st_upload_write(r->ws, r->principal, r->arg[0], start, total, r->body,
                         r->body_len, &lim, &u, &why, &err)) {
        st_srv_reply_json(r, 200, info_json(&u));
        return;
    }
    json_t *j = json_pack("{s:s}", "error", err.msg);
    switch (why) {
    case ST_UPLOAD_TOO_LARGE: st_srv_reply_json(r, 413, j); return;
    case ST_UPLOAD_BUSY:
        evhttp_add_header(evhttp_request_get_output_headers(r->req),
                          "Retry-After", "60");
        st_srv_reply_json(r, 429, j);
        return;
    case ST_UPLOAD_OFFSET:
        /* the client resumes from here */
        json_object_set_new(j, "received",
                            json_integer((json_int_t)u.received));
        st_srv_reply_json(r, 409, j);
        return;
    case ST_UPLOAD_OK: break;
    }
    json_decref(j);
    st_srv_reply_err(r, NULL, &err);
}

static void commit(st_req *r)
{
    if (gate(r))
        return;
    if (r->body_len > MAX_MANIFEST) {
        st_srv_reply_msg(r, 413, "a manifest envelope of %zu bytes",
                         r->body_len);
        return;
    }
    st_dataset_manifest m;
    st_err err;
    if (st_upload_commit(r->ws, r->kr, r->principal, r->arg[0], r->body,
                         r->body_len, &m, &err)) {
        st_srv_reply_err(r, "data.import", &err);
        return;
    }
    char hex[65];
    st_hex_encode(m.file_sha256, 32, hex);
    json_t *j = json_pack(
        "{s:s,s:s,s:I,s:i,s:i,s:s,s:I,s:s,s:i,s:s}", "name", m.name, "owner",
        m.owner, "rows", (json_int_t)m.rows, "cols", (int)m.cols, "classes",
        (int)m.classes, "file_sha256", hex, "file_size",
        (json_int_t)m.file_size, "kek", m.kek_name, "kek_version",
        (int)m.kek_version, "classification", m.classification);
    st_info("serve", "%s uploaded dataset %s (%llu bytes)", r->principal,
            m.name, (unsigned long long)m.file_size);
    st_dataset_manifest_free(&m);
    st_srv_reply_json(r, 201, j);
}

static void abandon(st_req *r)
{
    if (gate(r))
        return;
    st_err err;
    if (st_upload_abort(r->ws, r->principal, r->arg[0], &err))
        st_srv_reply_err(r, NULL, &err);
    else
        st_srv_reply_json(
            r, 200, json_pack("{s:s,s:b}", "id", r->arg[0], "abandoned", 1));
}

const st_route st_srv_data_routes[] = {
    {EVHTTP_REQ_GET, "/v1/uploads/recipient", recipient, 0, 0},
    {EVHTTP_REQ_POST, "/v1/uploads", create, 0, 0},
    {EVHTTP_REQ_GET, "/v1/uploads/*", status, 0, 0},
    {EVHTTP_REQ_PUT, "/v1/uploads/*", put, 0, 0},
    {EVHTTP_REQ_DELETE, "/v1/uploads/*", abandon, 0, 0},
    {EVHTTP_REQ_POST, "/v1/uploads/*/commit", commit, 0, 0},
    {0, NULL, NULL, 0, 0}};
