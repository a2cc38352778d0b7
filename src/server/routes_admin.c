/*
 * routes_admin.c: the /v1 endpoints that change the workspace's
 * governance (docs/api.md; issue 14, "Everything works remotely"):
 *
 *   PUT  /v1/datasets/NAME/policy        a release policy the owner signed
 *   GET  /v1/principals[/NAME]           principal list / show
 *   POST /v1/principals                  principal add (admin)
 *   POST /v1/principals/NAME/disable     principal disable / enable (admin)
 *   POST /v1/principals/NAME/enable
 *   POST /v1/principals/NAME/grant       grant / revoke (the owner)
 *   POST /v1/principals/NAME/revoke
 *   GET  /v1/keys[/NAME]                 key list / show
 *   POST /v1/keys/NAME/rotate            key rotate (the key's owner)
 *   POST /v1/jobs/ID/resume              job resume (job.run)
 *
 * Each handler calls the library function the local command calls, with
 * the certificate's principal as the actor: the access checks, the
 * signature checks and the audit entry (committed with the change) are
 * that function's, never a copy here. The server signs nothing for a
 * client: a release policy arrives signed by the owner's key and is
 * verified exactly as `data policy set` verifies its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/policy.h"
#include "sealtrain/access.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "server/server_internal.h"

#define MAX_DOC (1u << 20)

st_keyring *st_srv_keyring(st_req *r, st_keyring **owned)
{
    *owned = NULL;
    if (r->kr)
        return r->kr;
    st_err err;
    if (st_keyring_open(r->ws, owned, &err) != ST_OK) {
        st_srv_reply_msg(r, 503,
                         "the server cannot open the workspace keyring (%s): "
                         "start `sealtrain serve` with its protection "
                         "available (e.g. SEALTRAIN_PASSPHRASE_FILE)",
                         err.msg);
        return NULL;
    }
    return *owned;
}

/* The request body as a JSON object with only `keys`; NULL after
 * replying 400. */
static json_t *body_object(st_req *r, const char *const *keys)
{
    st_err err;
    json_t *j = r->body_len > MAX_DOC
                    ? NULL
                    : st_json_parse(r->body ? r->body : "", r->body_len,
                                    "request body", &err);
    if (r->body_len > MAX_DOC) {
        st_srv_reply_msg(r, 413, "a body of %zu bytes", r->body_len);
        return NULL;
    }
    if (j && st_json_check_keys(j, keys, "request body", &err) != ST_OK) {
        json_decref(j);
        j = NULL;
    }
    if (!j)
        st_srv_reply_err(r, NULL, &err);
    return j;
}

/* ---- release policy ---- */

static void policy_put(st_req *r)
{
    char res[160];
    snprintf(res, sizeof(res), "dataset:%s", r->arg[0]);
    if (st_srv_check(r, "data.policy", res))
        return;
    if (r->body_len > MAX_DOC) {
        st_srv_reply_msg(r, 413, "a policy envelope of %zu bytes", r->body_len);
        return;
    }
    st_err err;
    st_release_policy *p = NULL;
    if (st_release_policy_put(r->ws, r->principal, r->arg[0],
                              r->body ? r->body : "", r->body_len,
                              &err) != ST_OK ||
        st_release_policy_get(r->ws, r->arg[0], &p, &err) != ST_OK) {
        st_srv_reply_err(r, "data.policy", &err);
        return;
    }
    st_srv_reply_json(r, 200,
                      json_pack("{s:s,s:s,s:s,s:O}", "dataset", p->dataset,
                                "signer", p->signer, "policy_sha256", p->digest,
                                "policy", p->json));
    st_release_policy_free(p);
}

/* ---- principals ---- */

static void principals(st_req *r)
{
    if (st_srv_check(r, "principal.read", NULL))
        return;
    st_principal *all = NULL;
    size_t n = 0;
    st_err err;
    if (st_access_principal_list(r->ws, &all, &n, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, st_principal_json(&all[i], 0, NULL, 0));
        st_principal_free(&all[i]);
    }
    free(all);
    st_srv_reply_json(r, 200, json_pack("{s:o}", "principals", arr));
}

static void principal_show(st_req *r)
{
    if (st_srv_check(r, "principal.read", r->arg[0]))
        return;
    st_principal p;
    st_grant *g = NULL;
    size_t n = 0;
    st_err err;
    if (st_access_principal_get(r->ws, r->arg[0], &p, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    if (st_access_grants(r->ws, r->arg[0], &g, &n, &err) != ST_OK) {
        st_principal_free(&p);
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    json_t *j = st_principal_json(&p, 1, g, n);
    st_principal_free(&p);
    free(g);
    st_srv_reply_json(r, 200, j);
}

static void principal_add(st_req *r)
{
    static const char *const keys[] = {"name", "roles", "signing_key",
                                       "recipient", NULL};
    /* who may not add anyone learns nothing about their body's faults */
    if (st_srv_check(r, "principal.admin", NULL))
        return;
    json_t *b = body_object(r, keys);
    if (!b)
        return;
    const char *name = NULL, *pem = NULL, *rcpt = NULL;
    unsigned roles = 0;
    st_err err;
    st_code rc = st_json_get_string(b, "name", 1, &name, "request body", &err);
    if (rc == ST_OK)
        rc =
            st_json_get_string(b, "signing_key", 1, &pem, "request body", &err);
    if (rc == ST_OK)
        rc = st_json_get_string(b, "recipient", 0, &rcpt, "request body", &err);
    json_t *ra = json_object_get(b, "roles"), *v;
    size_t i;
    if (rc == ST_OK && (!json_is_array(ra) || !json_array_size(ra)))
        rc = st_err_set(&err, ST_E_INPUT,
                        "request body: \"roles\" must be a non-empty array of "
                        "role names");
    json_array_foreach(ra, i, v)
    {
        unsigned bit = st_access_role_parse(json_string_value(v));
        if (rc == ST_OK && !bit)
            rc = st_err_set(&err, ST_E_INPUT,
                            "request body: roles[%zu]: not a role (admin, "
                            "data-owner, model-owner, trainer, auditor)",
                            i);
        roles |= bit;
    }
    if (rc == ST_OK)
        rc = st_access_principal_add(r->ws, r->principal, name, roles, pem,
                                     rcpt, &err);
    if (rc != ST_OK)
        st_srv_reply_err(r, "principal.admin", &err);
    else
        st_srv_reply_json(r, 201,
                          json_pack("{s:s,s:O}", "name", name, "roles", ra));
    json_decref(b);
}

static void principal_able(st_req *r, int disable)
{
    st_err err;
    if (st_access_principal_disable(r->ws, r->principal, r->arg[0], disable,
                                    &err) != ST_OK)
        st_srv_reply_err(r, "principal.admin", &err);
    else
        st_srv_reply_json(
            r, 200,
            json_pack("{s:s,s:b}", "name", r->arg[0], "disabled", disable));
}

static void principal_disable(st_req *r)
{
    principal_able(r, 1);
}

static void principal_enable(st_req *r)
{
    principal_able(r, 0);
}

static void grant_or_revoke(st_req *r, int grant)
{
    static const char *const keys[] = {"resource", "permission", NULL};
    json_t *b = body_object(r, keys);
    if (!b)
        return;
    const char *res = NULL, *perm = NULL;
    st_err err;
    st_code rc =
        st_json_get_string(b, "resource", 1, &res, "request body", &err);
    if (rc == ST_OK)
        rc =
            st_json_get_string(b, "permission", 1, &perm, "request body", &err);
    if (rc == ST_OK)
        rc = grant ? st_access_grant(r->ws, r->principal, r->arg[0], res, perm,
                                     &err)
                   : st_access_revoke(r->ws, r->principal, r->arg[0], res, perm,
                                      &err);
    if (rc != ST_OK)
        st_srv_reply_err(r, "access.grant", &err);
    else
        st_srv_reply_json(r, 200,
                          json_pack("{s:s,s:s,s:s,s:s}", "grantee", r->arg[0],
                                    "resource", res, "permission", perm,
                                    grant ? "granted_by" : "revoked_by",
                                    r->principal));
    json_decref(b);
}

static void grant(st_req *r)
{
    grant_or_revoke(r, 1);
}

static void revoke(st_req *r)
{
    grant_or_revoke(r, 0);
}

/* ---- keys ---- */

static void keys_list(st_req *r, const char *name)
{
    char res[160];
    snprintf(res, sizeof(res), "key:%s", name ? name : "*");
    if (st_srv_check(r, "key.read", res))
        return;
    st_keyring *owned, *kr = st_srv_keyring(r, &owned);
    if (!kr)
        return;
    st_kek_info *infos = NULL;
    size_t n = 0;
    char owner[ST_PRINCIPAL_NAME_MAX] = "";
    st_err err;
    st_code rc = name ? st_kek_show(kr, name, time(NULL), &infos, &err)
                      : st_kek_list(kr, time(NULL), &infos, &n, &err);
    if (rc == ST_OK && name) {
        n = 1;
        rc = st_kek_owner(r->ws, name, owner, sizeof(owner), &err);
    }
    json_t *out = rc == ST_OK ? json_array() : NULL;
    for (size_t i = 0; out && i < n; i++)
        json_array_append_new(out, st_kek_info_json(&infos[i]));
    st_kek_info_free(infos, n);
    st_keyring_close(owned);
    if (rc != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
    } else if (name) {
        json_t *one = json_incref(json_array_get(out, 0));
        json_decref(out);
        json_object_set_new(one, "owner",
                            owner[0] ? json_string(owner) : json_null());
        st_srv_reply_json(r, 200, one);
    } else {
        st_srv_reply_json(r, 200, json_pack("{s:o}", "keys", out));
    }
}

static void keys(st_req *r)
{
    keys_list(r, NULL);
}

static void key_show(st_req *r)
{
    keys_list(r, r->arg[0]);
}

static void key_rotate(st_req *r)
{
    st_err err;
    /* the key's owner (a data owner's own keys, admins the unowned) */
    if (st_kek_authorize(r->ws, r->principal, "key.rotate", r->arg[0], &err) !=
        ST_OK) {
        st_srv_reply_err(r, "key.rotate", &err);
        return;
    }
    st_keyring *owned, *kr = st_srv_keyring(r, &owned);
    if (!kr)
        return;
    uint32_t v = 0;
    st_code rc = st_kek_rotate(kr, r->principal, r->arg[0], &v, &err);
    st_keyring_close(owned);
    if (rc != ST_OK) {
        /* a success is committed with its entry by the keyring */
        st_kek_audit_failure(r->ws, r->principal, "key.rotate", r->arg[0], v,
                             &err);
        st_srv_reply_err(r, "key.rotate", &err);
        return;
    }
    st_srv_reply_json(
        r, 200,
        json_pack("{s:s,s:I}", "name", r->arg[0], "current", (json_int_t)v));
}

/* ---- jobs ---- */

static void job_resume(st_req *r)
{
    st_err err;
    st_job_record j;
    /* who may resume locally may resume here: job.run on job:ID */
    if (st_job_authorize(r->ws, r->principal, "job.run", r->arg[0], &err) !=
            ST_OK ||
        st_job_resume_later(r->ws, r->principal, r->arg[0], &err) != ST_OK) {
        st_srv_reply_err(r, "job.run", &err);
        return;
    }
    st_srv_jobs_kick(st_srv_get_jobs(r->s));
    if (st_job_get(r->ws, r->arg[0], &j, &err) != ST_OK) {
        st_srv_reply_err(r, NULL, &err);
        return;
    }
    st_srv_reply_json(r, 202,
                      json_pack("{s:s,s:s,s:b}", "id", j.id, "state",
                                st_job_state_name(j.state),
                                "resume_from_checkpoint", 1));
    st_job_record_free(&j);
}

const st_route st_srv_admin_routes[] = {
    {EVHTTP_REQ_PUT, "/v1/datasets/*/policy", policy_put, 0, 0},
    {EVHTTP_REQ_GET, "/v1/principals", principals, 0, 0},
    {EVHTTP_REQ_POST, "/v1/principals", principal_add, 0, 0},
    {EVHTTP_REQ_GET, "/v1/principals/*", principal_show, 0, 0},
    {EVHTTP_REQ_POST, "/v1/principals/*/disable", principal_disable, 0, 0},
    {EVHTTP_REQ_POST, "/v1/principals/*/enable", principal_enable, 0, 0},
    {EVHTTP_REQ_POST, "/v1/principals/*/grant", grant, 0, 0},
    {EVHTTP_REQ_POST, "/v1/principals/*/revoke", revoke, 0, 0},
    {EVHTTP_REQ_GET, "/v1/keys", keys, 0, 0},
    {EVHTTP_REQ_GET, "/v1/keys/*", key_show, 0, 0},
    {EVHTTP_REQ_POST, "/v1/keys/*/rotate", key_rotate, 0, 0},
    {EVHTTP_REQ_POST, "/v1/jobs/*/resume", job_resume, 0, 0},
    {0, NULL, NULL, 0, 0}};
