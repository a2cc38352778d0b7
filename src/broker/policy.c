/*
 * policy.c: release policies (include/sealtrain/release.h): the strict
 * parser of the owner's document, signing it as the dataset's owner, and
 * reading it back verified. The rows live in the catalog (gate_db.c);
 * nothing here trusts a row it did not verify: the decision (gate.c) only
 * ever sees an st_release_policy that came out of st_release_policy_get.
 *
 * It never holds a signing key beyond st_release_policy_set's call, and
 * never reads dataset contents.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/txn.h"
#include "broker/gate_internal.h"
#include "broker/policy.h"
#include "crypto/bech32.h"
#include "crypto/dsse.h"
#include "sealtrain/audit.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/jobspec.h"
#include "sealtrain/json.h"

void st_release_policy_free(st_release_policy *p)
{
    if (!p)
        return;
    st_attest_policy_free(p->attestation);
    json_decref(p->json);
    free(p);
}

static st_code names(const json_t *p, const char *key, size_t max, size_t width,
                     char *out, size_t *n, const char *origin, st_err *err)
{
    json_t *arr = json_object_get(p, key);
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" must be a non-empty array of strings",
                          origin, key);
    if (json_array_size(arr) > max)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" has more than %zu entries", origin, key,
                          max);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *s = json_string_value(e);
        if (!s || !*s || strlen(s) >= width)
            return st_err_set(err, ST_E_INPUT,
                              "%s: %s[%zu] must be a non-empty string of at "
                              "most %zu characters",
                              origin, key, i, width - 1);
        snprintf(out + i * width, width, "%s", s);
    }
    *n = json_array_size(arr);
    return ST_OK;
}

static st_code parse_requires(const json_t *req, st_release_policy *p,
                              const char *origin, st_err *err)
{
    static const char *const keys[] = {"sandbox", "memory", NULL};
    if (!json_is_object(req))
        return st_err_set(err, ST_E_INPUT, "%s: \"requires\" must be an object",
                          origin);
    st_code rc = st_json_check_keys(req, keys, origin, err);
    if (rc != ST_OK)
        return rc;
    const char *sb = NULL, *mem = NULL;
    if ((rc = st_json_get_string(req, "sandbox", 0, &sb, origin, err)) ||
        (rc = st_json_get_string(req, "memory", 0, &mem, origin, err)))
        return rc;
    if (sb && strcmp(sb, "strict") && strcmp(sb, "relaxed"))
        return st_err_set(err, ST_E_INPUT,
                          "%s: requires.sandbox must be \"strict\" or "
                          "\"relaxed\", not \"%s\"",
                          origin, sb);
    if (mem && strcmp(mem, "secret") && strcmp(mem, "locked"))
        return st_err_set(err, ST_E_INPUT,
                          "%s: requires.memory must be \"secret\" or "
                          "\"locked\", not \"%s\"",
                          origin, mem);
    p->require_strict = sb && !strcmp(sb, "strict");
    p->require_secret = mem && !strcmp(mem, "secret");
    return ST_OK;
}

/* "uses": {"evaluate": [...], "predict": [...]}, each optional. */
static st_code parse_uses(const json_t *uses, st_release_policy *p,
                          const char *origin, st_err *err)
{
    static const char *const keys[] = {"evaluate", "predict", NULL};
    if (!json_is_object(uses))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"uses\" must be an object with "
                          "\"evaluate\" and/or \"predict\"",
                          origin);
    st_code rc = st_json_check_keys(uses, keys, origin, err);
    st_release_use *u[2] = {&p->evaluate, &p->predict};
    for (size_t k = 0; rc == ST_OK && k < 2; k++) {
        if (!json_object_get(uses, keys[k]))
            continue;
        char where[64];
        snprintf(where, sizeof(where), "uses.%s", keys[k]);
        json_t *wrap =
            json_pack("{s:O}", where, json_object_get(uses, keys[k]));
        rc = wrap ? names(wrap, where, ST_RELEASE_MAX_PRINCIPALS,
                          sizeof(u[k]->principals[0]), &u[k]->principals[0][0],
                          &u[k]->n, origin, err)
                  : st_err_set(err, ST_E_IO, "out of memory");
        json_decref(wrap);
        for (size_t i = 0; rc == ST_OK && i < u[k]->n; i++)
            u[k]->any |= !strcmp(u[k]->principals[i], "*");
    }
    return rc;
}

/* Takes a reference to `j` on success. */
static st_code from_json(json_t *j, const char *origin, st_release_policy **out,
                         st_err *err)
{
    static const char *const keys[] = {
        "version",  "attestation", "principals", "recipients",
        "requires", "uses",        NULL};
    *out = NULL;
    long long v;
    st_code rc;
    if (!json_is_object(j))
        return st_err_set(err, ST_E_INPUT,
                          "%s: a release policy is a JSON object", origin);
    if ((rc = st_json_check_keys(j, keys, origin, err)) ||
        (rc = st_json_get_int(j, "version", 1, 1, 1, &v, origin, err)))
        return rc;
    st_release_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return st_err_set(err, ST_E_IO, "out of memory");
    json_t *att = json_object_get(j, "attestation");
    char *text = json_is_object(att) ? st_json_dumps(att, JSON_COMPACT) : NULL;
    if (!json_is_object(att))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"attestation\" (an attestation policy object) "
                        "is required",
                        origin);
    else if (!text)
        rc = st_err_set(err, ST_E_IO, "out of memory");
    else
        rc = st_attest_policy_parse(text, strlen(text), origin, &p->attestation,
                                    err);
    free(text);
    if (rc == ST_OK)
        rc = names(j, "principals", ST_RELEASE_MAX_PRINCIPALS,
                   sizeof(p->principals[0]), &p->principals[0][0],
                   &p->nprincipals, origin, err);
    if (rc == ST_OK)
        rc = names(j, "recipients", ST_RELEASE_MAX_RECIPIENTS,
                   sizeof(p->recipients[0]), &p->recipients[0][0],
                   &p->nrecipients, origin, err);
    for (size_t i = 0; rc == ST_OK && i < p->nprincipals; i++)
        if (!strcmp(p->principals[i], "*"))
            p->any_principal = 1;
    for (size_t i = 0; rc == ST_OK && i < p->nrecipients; i++) {
        char hrp[8];
        uint8_t key[40];
        size_t klen = 0;
        if (st_bech32_decode(p->recipients[i], hrp, sizeof(hrp), key,
                             sizeof(key), &klen, NULL) != ST_OK ||
            strcmp(hrp, "age") || klen != 32)
            rc = st_err_set(err, ST_E_INPUT,
                            "%s: recipients[%zu]: not an age X25519 "
                            "recipient (age1...)",
                            origin, i);
    }
    json_t *req = json_object_get(j, "requires");
    if (rc == ST_OK && req)
        rc = parse_requires(req, p, origin, err);
    json_t *uses = json_object_get(j, "uses");
    if (rc == ST_OK && uses)
        rc = parse_uses(uses, p, origin, err);
    if (rc != ST_OK) {
        st_release_policy_free(p);
        return rc;
    }
    p->json = json_incref(j);
    *out = p;
    return ST_OK;
}

st_code st_release_policy_parse(const char *text, size_t len,
                                const char *origin, st_release_policy **out,
                                st_err *err)
{
    *out = NULL;
    json_t *j = st_json_parse(text, len, origin, err);
    if (!j)
        return err ? err->code : ST_E_INPUT;
    st_code rc = from_json(j, origin, out, err);
    json_decref(j);
    return rc;
}

/* The signed statement: the policy bound to one dataset (by name and id). */
static json_t *statement(const char *dataset, const char *id,
                         const json_t *policy)
{
    return json_pack("{s:s,s:s,s:O}", "dataset", dataset, "dataset_id", id,
                     "policy", policy);
}

struct put_arg {
    const char *dataset, *canon, *hex, *envtext, *actor;
};

static ST_MUST_CHECK st_code put_policy(st_workspace *ws, void *varg,
                                        st_err *err)
{
    struct put_arg *a = varg;
    return st_gate_db_policy_put(ws, a->dataset, a->canon, a->hex, a->envtext,
                                 a->actor, err);
}

st_code st_release_policy_sign(const char *dataset, const char *dataset_id,
                               const char *text, size_t len, const char *origin,
                               const uint8_t seed[32], char **envelope,
                               st_err *err)
{
    *envelope = NULL;
    if (!seed)
        return st_err_set(err, ST_E_USAGE,
                          "a release policy is signed by the dataset's "
                          "owner: give the owner's signing key (--key)");
    st_release_policy *p = NULL;
    st_code rc = st_release_policy_parse(text, len, origin, &p, err);
    if (rc != ST_OK)
        return rc;
    json_t *stmt = statement(dataset, dataset_id, p->json);
    size_t plen = 0;
    char *payload = stmt ? st_json_canonical(stmt, &plen, err) : NULL;
    json_t *env = payload
                      ? st_dsse_sign(ST_DSSE_TYPE_RELEASE_POLICY,
                                     (const uint8_t *)payload, plen, seed, err)
                      : NULL;
    *envelope = env ? st_json_canonical(env, NULL, err) : NULL;
    if (!*envelope)
        rc = stmt ? (err ? err->code : ST_E_IO)
                  : st_err_set(err, ST_E_IO, "out of memory");
    json_decref(env);
    json_decref(stmt);
    free(payload);
    st_release_policy_free(p);
    return rc;
}

st_code st_release_policy_open(const char *envelope, size_t len,
                               const char *dataset, const char *dataset_id,
                               const char *owner, const uint8_t pub[32],
                               st_release_policy **out, st_err *err)
{
    *out = NULL;
    json_t *env = st_json_parse(envelope, len, "release policy envelope", err);
    if (!env)
        return err ? err->code : ST_E_INPUT;
    uint8_t *payload = NULL;
    size_t plen = 0;
    st_err why;
    st_code rc = ST_OK;
    /* the owner's registered key, as every reader checks it */
    if (st_dsse_verify(env, ST_DSSE_TYPE_RELEASE_POLICY,
                       (const uint8_t(*)[32])pub, 1, &payload, &plen, NULL,
                       &why) != ST_OK)
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": its release policy must be signed "
                        "by its owner %s, and this one is not (%s)",
                        dataset, owner, why.msg);
    json_decref(env);
    json_t *stmt = rc == ST_OK ? st_json_parse((const char *)payload, plen,
                                               "signed release policy", err)
                               : NULL;
    free(payload);
    if (rc == ST_OK && !stmt)
        rc = err ? err->code : ST_E_INPUT;
    static const char *const keys[] = {"dataset", "dataset_id", "policy", NULL};
    if (rc == ST_OK && !json_is_object(stmt))
        rc = st_err_set(err, ST_E_INPUT,
                        "signed release policy: not a JSON object");
    if (rc == ST_OK)
        rc = st_json_check_keys(stmt, keys, "signed release policy", err);
    const char *sd = json_string_value(json_object_get(stmt, "dataset"));
    const char *sid = json_string_value(json_object_get(stmt, "dataset_id"));
    if (rc == ST_OK &&
        (!sd || !sid || strcmp(sd, dataset) || strcmp(sid, dataset_id)))
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\" (id %s): the release policy was "
                        "signed for another dataset (%s, id %s)",
                        dataset, dataset_id, sd ? sd : "?", sid ? sid : "?");
    if (rc == ST_OK)
        rc = from_json(json_object_get(stmt, "policy"), "signed release policy",
                       out, err);
    json_decref(stmt);
    return rc;
}

st_code st_release_policy_put(st_workspace *ws, const char *actor,
                              const char *dataset, const char *envelope,
                              size_t len, st_err *err)
{
    char owner[ST_DATASET_NAME_MAX + 1], id[33];
    uint8_t pub[32];
    st_release_policy *p = NULL;
    st_code rc = st_dataset_owner_key(ws, dataset, owner, id, pub, err);
    if (rc == ST_OK)
        rc = st_release_policy_open(envelope, len, dataset, id, owner, pub, &p,
                                    err);
    if (rc != ST_OK)
        return rc;
    /* stored as the owner signed it (re-serialised canonically: the
     * signature covers the payload, not the envelope's spacing) */
    json_t *env = st_json_parse(envelope, len, "release policy envelope", err);
    char *canon = env ? st_json_canonical(p->json, NULL, err) : NULL;
    char *envtext = canon ? st_json_canonical(env, NULL, err) : NULL;
    json_decref(env);
    if (!envtext)
        rc = err ? err->code : ST_E_IO;
    char hex[65] = "";
    json_t *details = NULL;
    if (rc == ST_OK) {
        uint8_t d[32];
        st_sha256(canon, strlen(canon), d);
        st_hex_encode(d, 32, hex);
        details = json_pack("{s:s,s:s}", "policy_sha256", hex, "signer", owner);
        if (!details)
            rc = st_err_errno(err, ST_E_IO, ENOMEM, "audit entry");
    }
    if (rc == ST_OK) {
        /* the policy and its entry: one transaction (src/audit/outbox.c) */
        char resource[128];
        snprintf(resource, sizeof(resource), "dataset:%s", dataset);
        st_audit_event ev = {"operation", actor, "data.policy", resource,
                             "success",   NULL,  details};
        struct put_arg a = {dataset, canon, hex, envtext, actor};
        /* the schema first: a migration is a transaction of its own */
        rc = st_gate_db_migrate(ws, err);
        if (rc == ST_OK)
            rc = st_audit_txn_run(ws, put_policy, &a, &ev, err);
    }
    json_decref(details);
    st_release_policy_free(p);
    free(canon);
    free(envtext);
    return rc;
}

st_code st_release_policy_set(st_workspace *ws, const char *actor,
                              const char *dataset, const char *text, size_t len,
                              const char *origin, const uint8_t seed[32],
                              st_err *err)
{
    if (!seed)
        return st_err_set(err, ST_E_USAGE,
                          "a release policy is signed by the dataset's "
                          "owner: give the owner's signing key (--key)");
    char owner[ST_DATASET_NAME_MAX + 1], id[33];
    uint8_t want[32], have[32];
    st_code rc = st_dataset_owner_key(ws, dataset, owner, id, want, err);
    if (rc == ST_OK && (rc = st_ed25519_public(seed, have, err)) == ST_OK &&
        !st_ct_equal(want, have, 32))
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": its release policy must be signed "
                        "by its owner %s, and the given key is not %s's",
                        dataset, owner, owner);
    char *env = NULL;
    if (rc == ST_OK)
        rc = st_release_policy_sign(dataset, id, text, len, origin, seed, &env,
                                    err);
    /* the one path that stores a policy, local or over the API */
    if (rc == ST_OK)
        rc = st_release_policy_put(ws, actor, dataset, env, strlen(env), err);
    free(env);
    return rc;
}

st_code st_release_policy_get(st_workspace *ws, const char *dataset,
                              st_release_policy **out, st_err *err)
{
    *out = NULL;
    char *plain = NULL, *envtext = NULL;
    st_code rc = st_gate_db_policy_get(ws, dataset, &plain, &envtext, err);
    if (rc != ST_OK)
        return rc;
    char owner[ST_DATASET_NAME_MAX + 1], id[33];
    uint8_t pub[32];
    json_t *env = NULL, *stmt = NULL;
    uint8_t *payload = NULL;
    size_t plen = 0;
    if (!*envtext)
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": its release policy is not signed "
                        "(set before policies were signed): its owner must "
                        "set it again with `sealtrain data policy set`",
                        dataset);
    if (rc == ST_OK)
        rc = st_dataset_owner_key(ws, dataset, owner, id, pub, err);
    const uint8_t(*pubs)[32] = (const uint8_t(*)[32])pub;
    size_t elen = strlen(envtext);
    int known = rc == ST_OK &&
                st_dsse_remembered(envtext, elen, ST_DSSE_TYPE_RELEASE_POLICY,
                                   pubs, 1, &payload, &plen, NULL);
    if (rc == ST_OK && !known &&
        !(env = st_json_parse(envtext, elen, "release policy", err)))
        rc = err ? err->code : ST_E_INPUT;
    if (rc == ST_OK && !known) {
        st_err why;
        if (st_dsse_verify(env, ST_DSSE_TYPE_RELEASE_POLICY, pubs, 1, &payload,
                           &plen, NULL, &why) != ST_OK)
            rc = st_err_set(err, ST_E_DENIED,
                            "dataset \"%s\": its release policy is not signed "
                            "by its owner %s (%s)",
                            dataset, owner, why.msg);
        else
            st_dsse_remember(envtext, elen, ST_DSSE_TYPE_RELEASE_POLICY, pubs,
                             1, payload, plen, 0);
    }
    if (rc == ST_OK && !(stmt = st_json_parse((const char *)payload, plen,
                                              "signed release policy", err)))
        rc = err ? err->code : ST_E_INPUT;
    const char *sd = json_string_value(json_object_get(stmt, "dataset"));
    const char *sid = json_string_value(json_object_get(stmt, "dataset_id"));
    json_t *pj = json_object_get(stmt, "policy");
    if (rc == ST_OK && (!sd || !sid || strcmp(sd, dataset) || strcmp(sid, id)))
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": its release policy was signed for "
                        "another dataset (%s, id %s)",
                        dataset, sd ? sd : "?", sid ? sid : "?");
    /* the plain copy `data policy show` and older readers see must be the
     * signed one: an edited row is named, not silently ignored */
    char *canon = rc == ST_OK ? st_json_canonical(pj, NULL, err) : NULL;
    if (rc == ST_OK && !canon)
        rc = err ? err->code : ST_E_INPUT;
    if (rc == ST_OK && strcmp(canon, plain) != 0)
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": the catalog's release policy row "
                        "differs from the policy its owner signed (edited)",
                        dataset);
    st_release_policy *p = NULL;
    if (rc == ST_OK)
        rc = from_json(pj, "signed release policy", &p, err);
    if (rc == ST_OK) {
        snprintf(p->dataset, sizeof(p->dataset), "%s", dataset);
        snprintf(p->dataset_id, sizeof(p->dataset_id), "%s", id);
        snprintf(p->signer, sizeof(p->signer), "%s", owner);
        uint8_t d[32];
        st_sha256(canon, strlen(canon), d);
        st_hex_encode(d, 32, p->digest);
        *out = p;
    }
    free(canon);
    free(payload);
    json_decref(stmt);
    json_decref(env);
    free(plain);
    free(envtext);
    return rc;
}

int st_release_policy_allows_principal(const st_release_policy *p,
                                       const char *principal)
{
    if (p->any_principal)
        return 1;
    for (size_t i = 0; principal && i < p->nprincipals; i++)
        if (!strcmp(p->principals[i], principal))
            return 1;
    return 0;
}

static int use_allows(const st_release_use *u, const char *principal)
{
    if (u->any)
        return 1;
    for (size_t i = 0; principal && i < u->n; i++)
        if (!strcmp(u->principals[i], principal))
            return 1;
    return 0;
}

int st_release_policy_allows_recipient(const st_release_policy *p,
                                       const char *recipient)
{
    for (size_t i = 0; recipient && i < p->nrecipients; i++)
        if (!strcmp(p->recipients[i], recipient))
            return 1;
    return 0;
}

st_code st_release_policy_check_job(const st_release_policy *p,
                                    const char *dataset,
                                    const st_job_spec *spec,
                                    const char *principal, st_err *err)
{
    if (strcmp(dataset, spec->train_dataset) != 0 &&
        strcmp(dataset, spec->valid_dataset) != 0)
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\" is not among the job spec's "
                          "datasets",
                          dataset);
    const char *who = principal ? principal : "(nobody)";
    if (spec->kind == ST_JOB_KIND_TRAIN &&
        !st_release_policy_allows_principal(p, principal))
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\": its release policy does not let "
                          "\"%s\" train on it",
                          dataset, who);
    /* a model used on the dataset: "uses" says which use, for whom (left
     * out: none) */
    const st_release_use *u =
        spec->kind == ST_JOB_KIND_EVALUATE ? &p->evaluate : &p->predict;
    if (spec->kind != ST_JOB_KIND_TRAIN && !use_allows(u, principal))
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\": its release policy does not "
                          "allow `%s` for \"%s\" (its \"uses\" %s)",
                          dataset, st_job_kind_name(spec->kind), who,
                          u->n ? "names others" : "leaves it out");
    /* all of them: the runtime seals to every recipient of the signed
     * spec (the model, or the predictions) */
    for (size_t i = 0; i < spec->nrecipients; i++)
        if (!st_release_policy_allows_recipient(p, spec->recipients[i]))
            return st_err_set(err, ST_E_DENIED,
                              "dataset \"%s\": its release policy does not "
                              "allow model recipient %s",
                              dataset, spec->recipients[i]);
    if (p->require_strict && spec->sandbox != ST_SANDBOX_STRICT)
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\": its release policy requires the "
                          "strict sandbox, and the job asks for \"%s\"",
                          dataset, st_sandbox_level_name(spec->sandbox));
    if (p->require_secret && !spec->memory_secret)
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\": its release policy requires "
                          "\"secret\" memory (memfd_secret), and the job "
                          "asks for \"locked\"",
                          dataset);
    return ST_OK;
}
