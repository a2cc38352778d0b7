/*
 * access_db.c: principals, owners and grants in the catalog (module
 * "access", its own migrations), see include/sealtrain/access.h: all of
 * the access module's SQL (access.c decides, from what this file reads).
 *
 * Tables (owned by this module only):
 *   principals(name, signing_key PEM, recipient, disabled, created,
 *              last_active)
 *   principal_roles(name, role)
 *   resource_owners(resource, owner)
 *   grants(grantee, resource, permission, grantor, created)
 *
 * Every change is committed with its audit entry ("access" category) in
 * one transaction (st_audit_txn_run, src/audit/outbox.c).
 * Inputs are validated before they reach SQL (which only ever sees bound
 * parameters): names, the Ed25519 PEM, the age recipient's bech32.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/access_internal.h"
#include "audit/txn.h"
#include "crypto/bech32.h"
#include "crypto/primitives.h"
#include "sealtrain/audit.h"
#include "sealtrain/clock.h"
#include "sealtrain/crypto.h"
#include "sealtrain/workspace.h"
#include "store/catalog.h"

static const char *const migrations[] = {
    "CREATE TABLE principals("
    " name TEXT PRIMARY KEY,"
    " signing_key TEXT NOT NULL,"
    " recipient TEXT,"
    " disabled INTEGER NOT NULL DEFAULT 0 CHECK(disabled IN (0, 1)),"
    " created TEXT NOT NULL,"
    " last_active TEXT);"
    "CREATE TABLE principal_roles("
    " name TEXT NOT NULL REFERENCES principals(name) ON DELETE CASCADE,"
    " role TEXT NOT NULL CHECK(role IN ('admin', 'data-owner',"
    "  'model-owner', 'trainer', 'auditor')),"
    " PRIMARY KEY(name, role));"
    "CREATE TABLE resource_owners("
    " resource TEXT PRIMARY KEY,"
    " owner TEXT NOT NULL REFERENCES principals(name));"
    "CREATE TABLE grants("
    " grantee TEXT NOT NULL REFERENCES principals(name),"
    " resource TEXT NOT NULL,"
    " permission TEXT NOT NULL,"
    " grantor TEXT NOT NULL,"
    " created TEXT NOT NULL,"
    " PRIMARY KEY(grantee, resource, permission));",
};

/* Migrating takes the catalog's write lock, and every access check needs
 * the tables: remember the catalogs (handle and directory) this process
 * has migrated already. */
static pthread_mutex_t migrated_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const void *db;
    char dir[PATH_MAX];
} migrated[8];
static size_t nmigrated;

st_code st_access_migrate(st_workspace *ws, st_err *err)
{
    const void *db = st_workspace_db(ws);
    const char *dir = st_workspace_dir(ws);
    pthread_mutex_lock(&migrated_mu);
    for (size_t i = 0; i < nmigrated; i++)
        if (migrated[i].db == db && !strcmp(migrated[i].dir, dir)) {
            pthread_mutex_unlock(&migrated_mu);
            return ST_OK;
        }
    pthread_mutex_unlock(&migrated_mu);
    st_code rc =
        st_catalog_migrate(ws, "access", migrations,
                           sizeof(migrations) / sizeof(migrations[0]), err);
    if (rc == ST_OK) {
        pthread_mutex_lock(&migrated_mu);
        size_t i = nmigrated < 8 ? nmigrated++ : 7;
        migrated[i].db = db;
        snprintf(migrated[i].dir, sizeof(migrated[i].dir), "%s", dir);
        pthread_mutex_unlock(&migrated_mu);
    }
    return rc;
}

st_code st_access_db_err(st_workspace *ws, st_err *err, const char *what)
{
    return st_catalog_fail(ws, what, err);
}

void st_access_now(char out[32])
{
    char t[ST_TIME_LEN];
    st_time_format(time(NULL), t);
    snprintf(out, 32, "%s", t);
}

int st_access_name_valid(const char *n)
{
    if (!n || !*n || strlen(n) >= ST_PRINCIPAL_NAME_MAX)
        return 0;
    for (const char *p = n; *p; p++) {
        int alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
        if (!alnum && (p == n || !strchr("._-", *p)))
            return 0;
    }
    return 1;
}

void st_principal_free(st_principal *p)
{
    if (!p)
        return;
    free(p->signing_key);
    free(p->recipient);
    p->signing_key = p->recipient = NULL;
}

/*
 * Rows read earlier in the same catalog snapshot (st_catalog_snapshot):
 * a key release reads the submitter, the runner and each dataset's owner
 * a dozen times inside one read transaction, where the catalog cannot
 * change. Outside a snapshot nothing is remembered. Fixed-size buffers,
 * per thread, so nothing outlives its thread; a principal whose strings
 * do not fit is simply read again.
 */
#define MEMO_PRINCIPALS 6
static _Thread_local struct {
    uint64_t snapshot;
    int64_t count; /* -1: not read */
    size_t n;
    struct {
        st_principal p; /* its string pointers are NULL: see below */
        char signing_key[512], recipient[128];
        int has_signing_key, has_recipient;
    } row[MEMO_PRINCIPALS];
} memo;

static int memo_valid(st_workspace *ws)
{
    uint64_t id = st_catalog_snapshot(ws);
    if (!id)
        return 0;
    if (memo.snapshot != id) {
        memo.snapshot = id;
        memo.count = -1;
        memo.n = 0;
    }
    return 1;
}

static int memo_get(st_workspace *ws, const char *name, st_principal *out)
{
    if (!memo_valid(ws))
        return 0;
    for (size_t i = 0; i < memo.n; i++) {
        if (strcmp(memo.row[i].p.name, name))
            continue;
        *out = memo.row[i].p;
        out->signing_key = memo.row[i].has_signing_key
                               ? strdup(memo.row[i].signing_key)
                               : NULL;
        out->recipient =
            memo.row[i].has_recipient ? strdup(memo.row[i].recipient) : NULL;
        if ((memo.row[i].has_signing_key && !out->signing_key) ||
            (memo.row[i].has_recipient && !out->recipient)) {
            st_principal_free(out);
            memset(out, 0, sizeof(*out));
            return 0;
        }
        return 1;
    }
    return 0;
}

static void memo_put(st_workspace *ws, const st_principal *p)
{
    if (!memo_valid(ws) || memo.n == MEMO_PRINCIPALS ||
        (p->signing_key &&
         strlen(p->signing_key) >= sizeof(memo.row[0].signing_key)) ||
        (p->recipient && strlen(p->recipient) >= sizeof(memo.row[0].recipient)))
        return;
    size_t i = memo.n++;
    memo.row[i].p = *p;
    memo.row[i].p.signing_key = memo.row[i].p.recipient = NULL;
    memo.row[i].has_signing_key = p->signing_key != NULL;
    snprintf(memo.row[i].signing_key, sizeof(memo.row[i].signing_key), "%s",
             p->signing_key ? p->signing_key : "");
    memo.row[i].has_recipient = p->recipient != NULL;
    snprintf(memo.row[i].recipient, sizeof(memo.row[i].recipient), "%s",
             p->recipient ? p->recipient : "");
}

st_code st_access_principal_count(st_workspace *ws, int64_t *n, st_err *err)
{
    if (memo_valid(ws) && memo.count >= 0) {
        *n = memo.count;
        return ST_OK;
    }
    if (st_access_migrate(ws, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    sqlite3_stmt *st;
    if (st_catalog_prepare(ws, "SELECT count(*) FROM principals", &st) !=
        SQLITE_OK)
        return st_access_db_err(ws, err, "counting principals");
    st_code rc = ST_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        rc = st_access_db_err(ws, err, "counting principals");
    st_catalog_finish(ws, st);
    if (rc == ST_OK && memo_valid(ws))
        memo.count = *n;
    return rc;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static ST_MUST_CHECK st_code load_roles(st_workspace *ws, st_principal *p,
                                        st_err *err)
{
    sqlite3_stmt *st;
    if (st_catalog_prepare(ws,
                           "SELECT role FROM principal_roles WHERE name = ?1",
                           &st) != SQLITE_OK)
        return st_access_db_err(ws, err, "reading roles");
    sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    p->roles = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        p->roles |=
            st_access_role_parse((const char *)sqlite3_column_text(st, 0));
    st_catalog_finish(ws, st);
    return r == SQLITE_DONE ? ST_OK
                            : st_access_db_err(ws, err, "reading roles");
}

#define PRINCIPAL_COLS                                                         \
    "name, signing_key, recipient, disabled, created, "                        \
    "coalesce(last_active, '')"

static void row_to_principal(sqlite3_stmt *st, st_principal *p)
{
    memset(p, 0, sizeof(*p));
    col_copy(st, 0, p->name, sizeof(p->name));
    p->signing_key = col_dup(st, 1);
    p->recipient = col_dup(st, 2);
    p->disabled = sqlite3_column_int(st, 3);
    col_copy(st, 4, p->created, sizeof(p->created));
    col_copy(st, 5, p->last_active, sizeof(p->last_active));
}

st_code st_access_principal_get(st_workspace *ws, const char *name,
                                st_principal *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    if (memo_get(ws, name, out))
        return ST_OK;
    if (st_access_migrate(ws, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    sqlite3_stmt *st;
    if (st_catalog_prepare(
            ws, "SELECT " PRINCIPAL_COLS " FROM principals WHERE name = ?1",
            &st) != SQLITE_OK)
        return st_access_db_err(ws, err, "reading a principal");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    st_code rc = ST_OK;
    if (r == SQLITE_ROW)
        row_to_principal(st, out);
    else if (r == SQLITE_DONE)
        rc = st_err_set(err, ST_E_NOTFOUND, "no principal named \"%s\"", name);
    else
        rc = st_access_db_err(ws, err, "reading a principal");
    st_catalog_finish(ws, st);
    if (rc == ST_OK)
        rc = load_roles(ws, out, err);
    if (rc != ST_OK)
        st_principal_free(out);
    else
        memo_put(ws, out);
    return rc;
}

st_code st_access_principal_list(st_workspace *ws, st_principal **out,
                                 size_t *n, st_err *err)
{
    *out = NULL;
    *n = 0;
    if (st_access_migrate(ws, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT " PRINCIPAL_COLS
                           " FROM principals ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return st_access_db_err(ws, err, "listing principals");
    size_t cap = 0;
    int r;
    st_code rc = ST_OK;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            st_principal *p2 = realloc(*out, cap * sizeof(st_principal));
            if (!p2) {
                rc = st_err_set(err, ST_E_IO, "out of memory");
                break;
            }
            *out = p2;
        }
        row_to_principal(st, &(*out)[(*n)++]);
    }
    if (rc == ST_OK && r != SQLITE_DONE)
        rc = st_access_db_err(ws, err, "listing principals");
    sqlite3_finalize(st);
    for (size_t i = 0; rc == ST_OK && i < *n; i++)
        rc = load_roles(ws, &(*out)[i], err);
    if (rc != ST_OK) {
        for (size_t i = 0; i < *n; i++)
            st_principal_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static ST_MUST_CHECK st_code exec_bound(st_workspace *ws, const char *sql,
                                        const char *const *args, int nargs,
                                        int *changes, const char *what,
                                        st_err *err)
{
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return st_access_db_err(ws, err, what);
    for (int i = 0; i < nargs; i++)
        sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        if (r == SQLITE_CONSTRAINT)
            return st_err_set(err, ST_E_EXISTS, "%s: %s", what,
                              sqlite3_errmsg(db));
        return st_access_db_err(ws, err, what);
    }
    if (changes)
        *changes = sqlite3_changes(db);
    return ST_OK;
}

static void audit_change(st_workspace *ws, const char *actor,
                         const char *action, const char *resource,
                         const char *reason, json_t *details)
{
    st_audit_event ev = {"access",  actor && *actor ? actor : "bootstrap",
                         action,    resource,
                         "success", reason,
                         details};
    st_err e;
    if (st_audit_append(ws, &ev, &e) != ST_OK)
        st_error("access.audit", "could not audit %s on %s: %s", action,
                 resource, e.msg);
}

static ST_MUST_CHECK st_code recipient_ok(const char *r, st_err *err)
{
    char hrp[16];
    uint8_t data[64];
    size_t n;
    if (strncmp(r, "age1", 4) != 0 ||
        st_bech32_decode(r, hrp, sizeof(hrp), data, sizeof(data), &n, err) !=
            ST_OK ||
        strcmp(hrp, "age") != 0 || n != 32)
        return st_err_set(err, ST_E_INPUT,
                          "recipient \"%s\" is not an age X25519 recipient "
                          "(age1...)",
                          r);
    return ST_OK;
}

struct add_arg {
    const char *name, *pem, *recipient, *now;
    unsigned roles;
};

static ST_MUST_CHECK st_code add_rows(st_workspace *ws, void *varg, st_err *err)
{
    struct add_arg *a = varg;
    const char *args[] = {a->name, a->pem, a->recipient, a->now};
    st_code rc = exec_bound(ws,
                            "INSERT INTO principals(name, signing_key, "
                            "recipient, created) VALUES(?1, ?2, ?3, ?4)",
                            args, 4, NULL, "adding a principal", err);
    if (rc == ST_E_EXISTS)
        rc = st_err_set(err, ST_E_EXISTS, "principal \"%s\" already exists",
                        a->name);
    for (unsigned i = 0; rc == ST_OK && i < ST_ROLE_COUNT; i++) {
        if (!(a->roles & (1u << i)))
            continue;
        const char *ra[] = {a->name, st_access_role_name(i)};
        rc = exec_bound(ws,
                        "INSERT INTO principal_roles(name, role) "
                        "VALUES(?1, ?2)",
                        ra, 2, NULL, "adding a role", err);
    }
    return rc;
}

/* One statement, bound to `args`, as a change of st_audit_txn_run;
 * `none` (if not NULL) is the error when it changes no row. */
struct stmt_arg {
    const char *sql, *what;
    const char *const *args;
    int nargs;
    const char *none;
};

static ST_MUST_CHECK st_code one_stmt(st_workspace *ws, void *varg, st_err *err)
{
    struct stmt_arg *a = varg;
    int changes = 0;
    st_code rc =
        exec_bound(ws, a->sql, a->args, a->nargs, &changes, a->what, err);
    if (rc == ST_OK && changes == 0 && a->none)
        rc = st_err_set(err, ST_E_NOTFOUND, "%s", a->none);
    return rc;
}

st_code st_access_principal_add(st_workspace *ws, const char *actor,
                                const char *name, unsigned roles,
                                const char *pem, const char *recipient,
                                st_err *err)
{
    if (!st_access_name_valid(name))
        return st_err_set(err, ST_E_INPUT,
                          "principal name \"%s\": use 1-63 of a-z 0-9 . _ - "
                          "starting with a letter or digit",
                          name ? name : "");
    if (!roles || roles >= 1u << ST_ROLE_COUNT)
        return st_err_set(err, ST_E_USAGE,
                          "principal %s: at least one role is needed", name);
    uint8_t pub[32];
    if (!pem ||
        st_ed25519_parse_public_pem(pem, strlen(pem), pub, err) != ST_OK)
        return st_err_prefix(err, "principal %s: signing key", name);
    if (recipient && recipient_ok(recipient, err) != ST_OK)
        return st_err_prefix(err, "principal %s", name);
    int64_t count;
    if (st_access_principal_count(ws, &count, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    char res[128];
    snprintf(res, sizeof(res), "principal:%s", name);
    if (count == 0) {
        if (!(roles & ST_ROLE_ADMIN))
            return st_err_set(err, ST_E_DENIED,
                              "the first principal of a workspace must hold "
                              "the admin role (add --role admin)");
        actor = NULL;
    } else if (st_access_check(ws, actor, "principal.admin", res, err) !=
               ST_OK) {
        return err ? err->code : ST_E_DENIED;
    }
    char rolestr[128];
    st_access_roles_string(roles, rolestr, sizeof(rolestr));
    uint8_t kid[32];
    char kidhex[65];
    st_sha256(pub, 32, kid);
    st_hex_encode(kid, 32, kidhex);
    json_t *d =
        json_pack("{s:s,s:s}", "roles", rolestr, "signing_key_sha256", kidhex);
    if (!d)
        return st_err_errno(err, ST_E_IO, ENOMEM, "principal %s", name);
    char now[32];
    st_access_now(now);
    struct add_arg a = {name, pem, recipient, now, roles};
    st_audit_event ev = {"access",
                         actor && *actor ? actor : "bootstrap",
                         "principal.add",
                         res,
                         "success",
                         count == 0 ? "first principal (bootstrap admin)"
                                    : NULL,
                         d};
    /* one transaction: a principal never exists without its roles, nor
     * without its entry */
    st_code rc = st_audit_txn_run(ws, add_rows, &a, &ev, err);
    json_decref(d);
    return rc;
}

st_code st_access_principal_disable(st_workspace *ws, const char *actor,
                                    const char *name, int disabled, st_err *err)
{
    char res[128];
    snprintf(res, sizeof(res), "principal:%s", name);
    if (st_access_check(ws, actor, "principal.admin", res, err) != ST_OK)
        return err ? err->code : ST_E_DENIED;
    st_principal p;
    if (st_access_principal_get(ws, name, &p, err) != ST_OK)
        return err ? err->code : ST_E_NOTFOUND;
    int was_admin = (p.roles & ST_ROLE_ADMIN) && !p.disabled;
    st_principal_free(&p);
    if (disabled && was_admin) {
        sqlite3_stmt *st;
        int64_t admins = 0;
        if (sqlite3_prepare_v2(st_workspace_db(ws),
                               "SELECT count(*) FROM principals p JOIN "
                               "principal_roles r ON r.name = p.name WHERE "
                               "r.role = 'admin' AND p.disabled = 0",
                               -1, &st, NULL) != SQLITE_OK)
            return st_access_db_err(ws, err, "counting admins");
        if (sqlite3_step(st) == SQLITE_ROW)
            admins = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (admins <= 1)
            return st_err_set(err, ST_E_DENIED,
                              "principal %s is the last enabled admin: add "
                              "another admin first",
                              name);
    }
    const char *args[] = {disabled ? "1" : "0", name};
    struct stmt_arg a = {"UPDATE principals SET disabled = ?1 WHERE name = ?2",
                         "disabling a principal", args, 2, NULL};
    st_audit_event ev = {"access",
                         actor && *actor ? actor : "bootstrap",
                         disabled ? "principal.disable" : "principal.enable",
                         res,
                         "success",
                         NULL,
                         NULL};
    return st_audit_txn_run(ws, one_stmt, &a, &ev, err);
}

st_code st_access_touch(st_workspace *ws, const char *name, st_err *err)
{
    char now[32];
    st_access_now(now);
    const char *args[] = {now, name};
    return exec_bound(ws,
                      "UPDATE principals SET last_active = ?1 WHERE name = "
                      "?2",
                      args, 2, NULL, "recording activity", err);
}

/* ---- owners and grants ---- */

st_code st_access_get_owner(st_workspace *ws, const char *resource, char *out,
                            size_t cap, st_err *err)
{
    if (st_access_migrate(ws, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    sqlite3_stmt *st;
    if (st_catalog_prepare(ws,
                           "SELECT owner FROM resource_owners WHERE "
                           "resource = ?1",
                           &st) != SQLITE_OK)
        return st_access_db_err(ws, err, "reading an owner");
    sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    st_code rc = ST_OK;
    if (r == SQLITE_ROW)
        col_copy(st, 0, out, cap);
    else if (r == SQLITE_DONE)
        rc = st_err_set(err, ST_E_NOTFOUND, "%s has no owner", resource);
    else
        rc = st_access_db_err(ws, err, "reading an owner");
    st_catalog_finish(ws, st);
    return rc;
}

st_code st_access_set_owner(st_workspace *ws, const char *resource,
                            const char *owner, st_err *err)
{
    char cur[ST_PRINCIPAL_NAME_MAX];
    st_err e2;
    st_code rc = st_access_get_owner(ws, resource, cur, sizeof(cur), &e2);
    if (rc == ST_OK)
        return strcmp(cur, owner) == 0
                   ? ST_OK
                   : st_err_set(err, ST_E_EXISTS, "%s is owned by %s", resource,
                                cur);
    if (rc != ST_E_NOTFOUND) {
        if (err)
            *err = e2;
        return rc;
    }
    const char *args[] = {resource, owner};
    rc = exec_bound(ws,
                    "INSERT INTO resource_owners(resource, owner) VALUES(?1, "
                    "?2)",
                    args, 2, NULL, "recording an owner", err);
    if (rc != ST_OK)
        return rc;
    if (st_audit_txn_open(ws)) {
        /* part of another change: its entry commits with it */
        st_audit_event ev = {
            "access", owner, "resource.own", resource, "success", NULL, NULL};
        int64_t id;
        return st_audit_txn_event(ws, &ev, &id, err);
    }
    audit_change(ws, owner, "resource.own", resource, NULL, NULL);
    return ST_OK;
}

st_code st_access_forget_resource(st_workspace *ws, const char *resource,
                                  st_err *err)
{
    if (st_access_migrate(ws, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    const char *args[] = {resource};
    if (exec_bound(ws, "DELETE FROM grants WHERE resource = ?1", args, 1, NULL,
                   "forgetting grants", err) ||
        exec_bound(ws, "DELETE FROM resource_owners WHERE resource = ?1", args,
                   1, NULL, "forgetting an owner", err))
        return err ? err->code : ST_E_IO;
    return ST_OK;
}

static const char *const grant_perms[] = {"use", "read", "decrypt", "share",
                                          NULL};

static ST_MUST_CHECK st_code grant_common(st_workspace *ws, const char *actor,
                                          const char *grantee,
                                          const char *resource,
                                          const char *permission, st_err *err)
{
    int known = st_access_action_valid(permission);
    for (size_t i = 0; grant_perms[i]; i++)
        known |= strcmp(grant_perms[i], permission) == 0;
    if (!known)
        return st_err_set(err, ST_E_INPUT,
                          "unknown permission \"%s\" (use, read, decrypt, "
                          "share or an action name)",
                          permission);
    if (!resource || !strchr(resource, ':') || strlen(resource) >= 256)
        return st_err_set(err, ST_E_INPUT,
                          "resource \"%s\" must look like kind:name (e.g. "
                          "dataset:digits)",
                          resource ? resource : "");
    st_principal g;
    if (st_access_principal_get(ws, grantee, &g, err) != ST_OK)
        return err ? err->code : ST_E_NOTFOUND;
    st_principal_free(&g);
    /* the owner decides; an unowned resource is the admins' */
    char owner[ST_PRINCIPAL_NAME_MAX];
    st_err e2;
    st_code rc = st_access_get_owner(ws, resource, owner, sizeof(owner), &e2);
    if (rc == ST_E_NOTFOUND)
        return st_access_check(ws, actor, "principal.admin", resource, err);
    if (rc != ST_OK) {
        if (err)
            *err = e2;
        return rc;
    }
    if (!actor || strcmp(actor, owner) != 0) {
        st_err_set(err, ST_E_DENIED,
                   "%s may not grant or revoke on %s: only its owner %s may",
                   actor && *actor ? actor : "(nobody)", resource, owner);
        st_access_audit_denial(ws, actor, "access.grant", resource, err->msg);
        return ST_E_DENIED;
    }
    /* the owner must still be an authenticated, enabled principal */
    return st_access_check_identity(ws, actor, "access.grant", resource, err);
}

/* A grant's change and its entry, in one transaction. */
static ST_MUST_CHECK st_code grant_txn(st_workspace *ws, const char *actor,
                                       const char *action, const char *grantee,
                                       const char *resource,
                                       const char *permission,
                                       struct stmt_arg *a, st_err *err)
{
    json_t *d =
        json_pack("{s:s,s:s}", "grantee", grantee, "permission", permission);
    if (!d)
        return st_err_errno(err, ST_E_IO, ENOMEM, "%s", action);
    st_audit_event ev = {"access",  actor && *actor ? actor : "bootstrap",
                         action,    resource,
                         "success", NULL,
                         d};
    st_code rc = st_audit_txn_run(ws, one_stmt, a, &ev, err);
    json_decref(d);
    return rc;
}

st_code st_access_grant(st_workspace *ws, const char *actor,
                        const char *grantee, const char *resource,
                        const char *permission, st_err *err)
{
    if (grant_common(ws, actor, grantee, resource, permission, err) != ST_OK)
        return err ? err->code : ST_E_DENIED;
    char now[32];
    st_access_now(now);
    const char *args[] = {grantee, resource, permission, actor, now};
    struct stmt_arg a = {"INSERT INTO grants(grantee, resource, permission, "
                         "grantor, created) VALUES(?1, ?2, ?3, ?4, ?5) ON "
                         "CONFLICT DO NOTHING",
                         "granting", args, 5, NULL};
    return grant_txn(ws, actor, "access.grant", grantee, resource, permission,
                     &a, err);
}

st_code st_access_revoke(st_workspace *ws, const char *actor,
                         const char *grantee, const char *resource,
                         const char *permission, st_err *err)
{
    if (grant_common(ws, actor, grantee, resource, permission, err) != ST_OK)
        return err ? err->code : ST_E_DENIED;
    const char *args[] = {grantee, resource, permission};
    char none[512];
    snprintf(none, sizeof(none), "%s holds no grant \"%s\" on %s", grantee,
             permission, resource);
    struct stmt_arg a = {"DELETE FROM grants WHERE grantee = ?1 AND "
                         "resource = ?2 AND permission = ?3",
                         "revoking", args, 3, none};
    return grant_txn(ws, actor, "access.revoke", grantee, resource, permission,
                     &a, err);
}

st_code st_access_grants(st_workspace *ws, const char *grantee, st_grant **out,
                         size_t *n, st_err *err)
{
    *out = NULL;
    *n = 0;
    if (st_access_migrate(ws, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT grantor, grantee, resource, permission, "
                           "created FROM grants WHERE ?1 IS NULL OR grantee "
                           "= ?1 ORDER BY grantee, resource, permission",
                           -1, &st, NULL) != SQLITE_OK)
        return st_access_db_err(ws, err, "listing grants");
    if (grantee)
        sqlite3_bind_text(st, 1, grantee, -1, SQLITE_STATIC);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            st_grant *g2 = realloc(*out, cap * sizeof(st_grant));
            if (!g2) {
                sqlite3_finalize(st);
                free(*out);
                *out = NULL;
                *n = 0;
                return st_err_set(err, ST_E_IO, "out of memory");
            }
            *out = g2;
        }
        st_grant *g = &(*out)[(*n)++];
        col_copy(st, 0, g->grantor, sizeof(g->grantor));
        col_copy(st, 1, g->grantee, sizeof(g->grantee));
        col_copy(st, 2, g->resource, sizeof(g->resource));
        col_copy(st, 3, g->permission, sizeof(g->permission));
        col_copy(st, 4, g->created, sizeof(g->created));
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return st_access_db_err(ws, err, "listing grants");
    }
    return ST_OK;
}

int st_access_has_grant(st_workspace *ws, const char *grantee,
                        const char *resource, const char *perm1,
                        const char *perm2)
{
    sqlite3_stmt *st;
    if (st_catalog_prepare(ws,
                           "SELECT 1 FROM grants WHERE grantee = ?1 AND "
                           "resource = ?2 AND (permission = ?3 OR "
                           "permission = ?4)",
                           &st) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, grantee, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, resource, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, perm1, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, perm2 ? perm2 : perm1, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    st_catalog_finish(ws, st);
    return found;
}

json_t *st_principal_json(const st_principal *p, int with_grants,
                          const st_grant *grants, size_t ngrants)
{
    json_t *roles = json_array();
    for (unsigned i = 0; i < ST_ROLE_COUNT; i++)
        if (p->roles & (1u << i))
            json_array_append_new(roles, json_string(st_access_role_name(i)));
    json_t *j =
        json_pack("{s:s,s:o,s:s,s:s?,s:b,s:s,s:s?}", "name", p->name, "roles",
                  roles, "signing_key", p->signing_key, "recipient",
                  p->recipient, "disabled", p->disabled, "created", p->created,
                  "last_active", p->last_active[0] ? p->last_active : NULL);
    if (j && with_grants) {
        json_t *ga = json_array();
        for (size_t i = 0; i < ngrants; i++)
            json_array_append_new(
                ga,
                json_pack("{s:s,s:s,s:s,s:s}", "resource", grants[i].resource,
                          "permission", grants[i].permission, "grantor",
                          grants[i].grantor, "created", grants[i].created));
        json_object_set_new(j, "grants", ga);
    }
    return j;
}
