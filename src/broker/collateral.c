/*
 * collateral.c: the workspace's offline collateral bundles
 * (include/sealtrain/collateral.h): importing one signed by an admin,
 * listing, reading back verified, removing. The bundle format and its use
 * by the verifier are src/attest/collateral.c's; the rows are gate_db.c's.
 *
 * Import: the bundle is parsed (strictly), signed by the acting admin (or
 * its DSSE envelope verified under a registered principal's key), the
 * signer checked (enabled, allowed "attest.collateral"), the envelope
 * written to collateral/<sha256>.dsse.json (temporary, fsync, rename),
 * then the row and its audit entry committed in one transaction. A crash
 * before the commit leaves at most an unlisted file, which a later import
 * of the same bundle replaces.
 *
 * Reading: the envelope is verified again under the signer's key as it is
 * registered now, and the signer must still be enabled and allowed:
 * disabling an admin withdraws the bundles it signed.
 *
 * Never: use a bundle whose signature or signer does not hold; keep the
 * signing key beyond the call; trust a bundle's contents (the verifier
 * checks every document up to the pinned roots).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/txn.h"
#include "broker/gate_internal.h"
#include "crypto/dsse.h"
#include "crypto/primitives.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/clock.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"

#define MAX_BUNDLE (32u << 20)

static ST_MUST_CHECK st_code bundle_path(st_workspace *ws, const char *digest,
                                         int create, char *out, size_t cap,
                                         st_err *err)
{
    char dir[4096];
    st_code rc =
        st_workspace_path(ws, NULL, "collateral", dir, sizeof(dir), err);
    if (rc == ST_OK && create && mkdir(dir, 0700) != 0 && errno != EEXIST)
        rc = st_err_errno(err, ST_E_IO, errno, "%s", dir);
    if (rc == ST_OK &&
        snprintf(out, cap, "%s/%s.dsse.json", dir, digest) >= (int)cap)
        rc = st_err_set(err, ST_E_IO, "%s: path too long", dir);
    return rc;
}

/* The registered Ed25519 key of `name`. */
static ST_MUST_CHECK st_code principal_key(st_workspace *ws, const char *name,
                                           uint8_t pub[32], st_err *err)
{
    st_principal p;
    memset(&p, 0, sizeof(p));
    st_code rc = st_access_principal_get(ws, name, &p, err);
    if (rc == ST_OK)
        rc = p.signing_key
                 ? st_ed25519_parse_public_pem(p.signing_key,
                                               strlen(p.signing_key), pub, err)
                 : st_err_set(err, ST_E_DENIED,
                              "principal \"%s\" has no signing key", name);
    st_principal_free(&p);
    return rc;
}

/* Which registered principal's key verifies `env`: *signer, *payload. */
static ST_MUST_CHECK st_code find_signer(st_workspace *ws, const json_t *env,
                                         const char *origin, char *signer,
                                         size_t cap, uint8_t **payload,
                                         size_t *plen, st_err *err)
{
    st_principal *all = NULL;
    size_t n = 0, which = 0, k = 0;
    st_code rc = st_access_principal_list(ws, &all, &n, err);
    uint8_t(*pubs)[32] = rc == ST_OK ? calloc(n ? n : 1, 32) : NULL;
    size_t *idx = rc == ST_OK ? calloc(n ? n : 1, sizeof(size_t)) : NULL;
    if (rc == ST_OK && (!pubs || !idx))
        rc = st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        if (!all[i].signing_key ||
            st_ed25519_parse_public_pem(all[i].signing_key,
                                        strlen(all[i].signing_key), pubs[k],
                                        NULL) != ST_OK)
            continue;
        idx[k++] = i;
    }
    st_err why;
    st_err_clear(&why);
    if (rc == ST_OK &&
        st_dsse_verify(env, ST_COLLATERAL_DSSE_TYPE, (const uint8_t(*)[32])pubs,
                       k, payload, plen, &which, &why) != ST_OK)
        rc = st_err_set(err, why.code == ST_E_INPUT ? ST_E_INPUT : ST_E_DENIED,
                        "%s: not a collateral bundle signed by a registered "
                        "principal (%s)",
                        origin, why.msg);
    if (rc == ST_OK)
        snprintf(signer, cap, "%s", all[idx[which]].name);
    for (size_t i = 0; i < n; i++)
        st_principal_free(&all[i]);
    free(all);
    free(pubs);
    free(idx);
    return rc;
}

/* The signer still holds: enabled, allowed to import collateral. */
static ST_MUST_CHECK st_code signer_allowed(st_workspace *ws,
                                            const char *signer,
                                            const char *what, st_err *err)
{
    st_err why;
    st_err_clear(&why);
    if (st_access_permits(ws, signer, "attest.collateral", NULL, &why) == ST_OK)
        return ST_OK;
    return st_err_set(err, ST_E_DENIED,
                      "%s: signed by \"%s\", who may not vouch for "
                      "collateral (%s)",
                      what, signer, why.msg);
}

struct put_arg {
    const st_collateral_entry *e;
};

static ST_MUST_CHECK st_code put_row(st_workspace *ws, void *arg, st_err *err)
{
    return st_gate_db_collateral_put(ws, ((struct put_arg *)arg)->e, err);
}

static void fill_entry(st_collateral_entry *e, const st_collateral_bundle *b,
                       const char *signer, const char *actor)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->digest, sizeof(e->digest), "%s",
             st_collateral_bundle_digest(b));
    snprintf(e->signer, sizeof(e->signer), "%s", signer);
    snprintf(e->imported_by, sizeof(e->imported_by), "%s", actor);
    char t[ST_TIME_LEN];
    st_time_format(time(NULL), t);
    snprintf(e->imported_at, sizeof(e->imported_at), "%s", t);
    e->documents = (int64_t)st_collateral_bundle_count(b);
    e->stale_at =
        st_collateral_bundle_stale_at(b, e->stale_doc, sizeof(e->stale_doc));
}

st_code st_collateral_import(st_workspace *ws, const char *actor,
                             const char *text, size_t len, const char *origin,
                             const uint8_t *seed, st_collateral_entry *out,
                             st_err *err)
{
    int64_t np = 0;
    st_code rc = st_access_principal_count(ws, &np, err);
    if (rc == ST_OK && np == 0)
        return st_err_set(err, ST_E_DENIED,
                          "collateral import: the importing admin signs the "
                          "bundle, and this workspace has no principals yet "
                          "(add an admin with `sealtrain principal add`)");
    json_t *j = rc == ST_OK ? st_json_parse(text, len, origin, err) : NULL;
    if (rc == ST_OK && !j)
        rc = err ? err->code : ST_E_INPUT;
    int enveloped = json_object_get(j, "payloadType") != NULL;
    char signer[ST_PRINCIPAL_NAME_MAX] = "";
    uint8_t *payload = NULL;
    size_t plen = 0;
    char *canon = NULL, *envtext = NULL;
    json_t *env = NULL;
    st_collateral_bundle *b = NULL;
    if (rc == ST_OK && enveloped) {
        rc = find_signer(ws, j, origin, signer, sizeof(signer), &payload, &plen,
                         err);
        if (rc == ST_OK)
            rc = st_collateral_bundle_parse((const char *)payload, plen, origin,
                                            &b, err);
        if (rc == ST_OK && !(envtext = st_json_canonical(j, NULL, err)))
            rc = err ? err->code : ST_E_IO;
    } else if (rc == ST_OK) {
        uint8_t pub[32], have[32];
        if (!seed)
            rc = st_err_set(err, ST_E_USAGE,
                            "collateral import: the importing admin signs the "
                            "bundle: give the signing key (--key)");
        if (rc == ST_OK)
            rc = st_collateral_bundle_parse(text, len, origin, &b, err);
        /* the signer is the acting principal: its key, no other */
        if (rc == ST_OK && (rc = principal_key(ws, actor, pub, err)) == ST_OK &&
            (rc = st_ed25519_public(seed, have, err)) == ST_OK &&
            !st_ct_equal(pub, have, 32))
            rc = st_err_set(err, ST_E_DENIED,
                            "collateral import: the given key is not the one "
                            "registered for \"%s\"",
                            actor);
        snprintf(signer, sizeof(signer), "%s", actor ? actor : "");
        size_t clen = 0;
        if (rc == ST_OK && !(canon = st_json_canonical(j, &clen, err)))
            rc = err ? err->code : ST_E_IO;
        if (rc == ST_OK &&
            !(env = st_dsse_sign(ST_COLLATERAL_DSSE_TYPE,
                                 (const uint8_t *)canon, clen, seed, err)))
            rc = err ? err->code : ST_E_IO;
        if (rc == ST_OK && !(envtext = st_json_canonical(env, NULL, err)))
            rc = err ? err->code : ST_E_IO;
    }
    if (rc == ST_OK)
        rc = signer_allowed(ws, signer, origin, err);
    st_collateral_entry e;
    if (rc == ST_OK)
        fill_entry(&e, b, signer, actor);
    /* the schema first: a migration is a transaction of its own */
    if (rc == ST_OK)
        rc = st_gate_db_migrate(ws, err);
    st_collateral_entry *dup = NULL;
    size_t ndup = 0;
    if (rc == ST_OK &&
        (rc = st_gate_db_collateral_list(ws, e.digest, &dup, &ndup, err)) ==
            ST_OK &&
        ndup)
        rc = st_err_set(err, ST_E_EXISTS,
                        "collateral bundle sha256:%s is already imported",
                        e.digest);
    free(dup);
    char path[4200];
    if (rc == ST_OK)
        rc = bundle_path(ws, e.digest, 1, path, sizeof(path), err);
    if (rc == ST_OK)
        rc = st_fs_write_atomic(path, envtext, strlen(envtext), 0600, err);
    json_t *details = NULL;
    if (rc == ST_OK &&
        !(details =
              json_pack("{s:s,s:s,s:I,s:I}", "bundle_sha256", e.digest,
                        "signer", signer, "documents", (json_int_t)e.documents,
                        "stale_at", (json_int_t)e.stale_at)))
        rc = st_err_errno(err, ST_E_IO, ENOMEM, "audit entry");
    if (rc == ST_OK) {
        char resource[96];
        snprintf(resource, sizeof(resource), "collateral:%s", e.digest);
        st_audit_event ev = {"operation", actor,     "attest.collateral.import",
                             resource,    "success", NULL,
                             details};
        struct put_arg a = {&e};
        rc = st_audit_txn_run(ws, put_row, &a, &ev, err);
    }
    if (rc == ST_OK && out)
        *out = e;
    json_decref(details);
    json_decref(env);
    json_decref(j);
    free(payload);
    free(canon);
    free(envtext);
    st_collateral_bundle_free(b);
    return rc;
}

st_code st_collateral_list(st_workspace *ws, st_collateral_entry **out,
                           size_t *n, st_err *err)
{
    return st_gate_db_collateral_list(ws, "", out, n, err);
}

/* The bundle of row `e`, verified under its signer's current key. */
static ST_MUST_CHECK st_code load_one(st_workspace *ws,
                                      const st_collateral_entry *e,
                                      st_collateral_bundle **out, st_err *err)
{
    *out = NULL;
    char path[4200], what[120];
    snprintf(what, sizeof(what), "collateral bundle sha256:%.16s", e->digest);
    unsigned char *text = NULL;
    size_t len = 0;
    uint8_t pub[32], *payload = NULL;
    size_t plen = 0;
    json_t *env = NULL;
    st_code rc = bundle_path(ws, e->digest, 0, path, sizeof(path), err);
    if (rc == ST_OK)
        rc = st_fs_read_all(path, MAX_BUNDLE, &text, &len, err);
    if (rc == ST_OK)
        rc = signer_allowed(ws, e->signer, what, err);
    if (rc == ST_OK && (rc = principal_key(ws, e->signer, pub, err)) != ST_OK)
        st_err_prefix(err, "%s", what);
    if (rc == ST_OK &&
        !(env = st_json_parse((const char *)text, len, path, err)))
        rc = err ? err->code : ST_E_INPUT;
    st_err why;
    st_err_clear(&why);
    if (rc == ST_OK &&
        st_dsse_verify(env, ST_COLLATERAL_DSSE_TYPE, (const uint8_t(*)[32])pub,
                       1, &payload, &plen, NULL, &why) != ST_OK)
        rc = st_err_set(err, ST_E_DENIED,
                        "%s (%s): not signed by \"%s\" (%s): re-import it or "
                        "remove it",
                        what, path, e->signer, why.msg);
    if (rc == ST_OK)
        rc = st_collateral_bundle_parse((const char *)payload, plen, path, out,
                                        err);
    if (rc == ST_OK && strcmp(st_collateral_bundle_digest(*out), e->digest)) {
        rc = st_err_set(err, ST_E_DENIED,
                        "%s (%s): holds another bundle (sha256:%.16s)", what,
                        path, st_collateral_bundle_digest(*out));
        st_collateral_bundle_free(*out);
        *out = NULL;
    }
    if (rc == ST_OK) {
        char origin[128];
        snprintf(origin, sizeof(origin), "signed by %s", e->signer);
        st_collateral_bundle_set_origin(*out, origin);
    }
    json_decref(env);
    free(payload);
    free(text);
    return rc;
}

st_code st_collateral_get(st_workspace *ws, const char *digest,
                          st_collateral_entry *meta, st_collateral_bundle **out,
                          st_err *err)
{
    *out = NULL;
    size_t dl = strlen(digest);
    if (!strncmp(digest, "sha256:", 7)) {
        digest += 7;
        dl -= 7;
    }
    int hex = dl >= 8 && dl <= 64;
    for (size_t i = 0; hex && i < dl; i++)
        hex = (digest[i] >= '0' && digest[i] <= '9') ||
              (digest[i] >= 'a' && digest[i] <= 'f');
    if (!hex)
        return st_err_set(err, ST_E_USAGE,
                          "collateral: \"%s\" is not a bundle digest (8 to 64 "
                          "lowercase hex digits)",
                          digest);
    st_collateral_entry *rows = NULL;
    size_t n = 0;
    st_code rc = st_gate_db_collateral_list(ws, digest, &rows, &n, err);
    if (rc == ST_OK && n > 1)
        rc = st_err_set(err, ST_E_USAGE,
                        "collateral: %zu bundles start with %s: give more "
                        "digits",
                        n, digest);
    if (rc == ST_OK && n == 0)
        rc = st_err_set(err, ST_E_NOTFOUND,
                        "collateral: no bundle sha256:%s is imported", digest);
    if (rc == ST_OK)
        rc = load_one(ws, &rows[0], out, err);
    if (rc == ST_OK && meta)
        *meta = rows[0];
    free(rows);
    return rc;
}

void st_collateral_free_all(st_collateral_bundle **b, size_t n)
{
    for (size_t i = 0; b && i < n; i++)
        st_collateral_bundle_free(b[i]);
    free(b);
}

st_code st_collateral_load_all(st_workspace *ws, st_collateral_bundle ***out,
                               size_t *n, st_err *err)
{
    *out = NULL;
    *n = 0;
    st_collateral_entry *rows = NULL;
    size_t nr = 0;
    st_code rc = st_gate_db_collateral_list(ws, "", &rows, &nr, err);
    st_collateral_bundle **b =
        rc == ST_OK && nr ? calloc(nr, sizeof(*b)) : NULL;
    if (rc == ST_OK && nr && !b)
        rc = st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < nr; i++)
        rc = load_one(ws, &rows[i], &b[i], err);
    free(rows);
    if (rc != ST_OK) {
        st_collateral_free_all(b, nr);
        return rc;
    }
    *out = b;
    *n = nr;
    return ST_OK;
}

struct rm_arg {
    const char *digest;
};

static ST_MUST_CHECK st_code rm_row(st_workspace *ws, void *arg, st_err *err)
{
    return st_gate_db_collateral_rm(ws, ((struct rm_arg *)arg)->digest, err);
}

st_code st_collateral_rm(st_workspace *ws, const char *actor,
                         const char *digest, st_err *err)
{
    st_collateral_entry *rows = NULL;
    size_t n = 0;
    if (!strncmp(digest, "sha256:", 7))
        digest += 7;
    st_code rc = strlen(digest) >= 8
                     ? st_gate_db_collateral_list(ws, digest, &rows, &n, err)
                     : st_err_set(err, ST_E_USAGE,
                                  "collateral rm: give at least 8 hex digits "
                                  "of the bundle's digest");
    if (rc == ST_OK && n != 1)
        rc = st_err_set(err, n ? ST_E_USAGE : ST_E_NOTFOUND,
                        n ? "collateral rm: several bundles start with %s"
                          : "collateral rm: no bundle sha256:%s is imported",
                        digest);
    char full[65] = "", path[4200];
    if (rc == ST_OK)
        snprintf(full, sizeof(full), "%s", rows[0].digest);
    free(rows);
    json_t *details =
        rc == ST_OK ? json_pack("{s:s}", "bundle_sha256", full) : NULL;
    if (rc == ST_OK && !details)
        rc = st_err_errno(err, ST_E_IO, ENOMEM, "audit entry");
    if (rc == ST_OK) {
        char resource[96];
        snprintf(resource, sizeof(resource), "collateral:%s", full);
        st_audit_event ev = {"operation", actor,     "attest.collateral.rm",
                             resource,    "success", NULL,
                             details};
        struct rm_arg a = {full};
        rc = st_audit_txn_run(ws, rm_row, &a, &ev, err);
    }
    json_decref(details);
    /* the row is gone: the file is unlisted now, and removing it can wait
     * for a later rm if this one fails */
    if (rc == ST_OK &&
        bundle_path(ws, full, 0, path, sizeof(path), NULL) == ST_OK)
        unlink(path);
    return rc;
}
