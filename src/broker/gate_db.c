/*
 * gate_db.c: the gate's rows in the catalog, and the only SQL of
 * src/broker: signed release policies and the one nonce store that both
 * transports (the local job's socketpair, `serve --broker`'s HTTPS) use.
 *
 * Tables (module "broker"; the first two were created by module "job"
 * before the gate had its own, hence IF NOT EXISTS):
 *   release_policies(dataset, policy, digest, set_by, set_at, envelope)
 *   broker_nonces(nonce, job_id, issued, used, principal, submitter,
 *                 scope, spec_digest, hello, envelope, issued_s)
 *
 * A nonce row binds everything the EVIDENCE that answers it is judged on:
 * who asked, for which job and signed spec, which datasets' keys, and the
 * runtime's keys from its HELLO. Consuming it is one UPDATE (unknown,
 * another principal's, used or stale all change nothing).
 *
 * Nonce writes do not wait for fsync (synchronous=NORMAL for those
 * statements only): a nonce that a power loss forgets was issued is
 * refused as unknown, and one whose use it forgets is at most 60 s old;
 * its keys would only ever be wrapped to the runtime key the nonce was
 * bound to. Policies, like the rest of the catalog, commit durably.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "broker/gate_int.h"
#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/workspace.h"

static const char *const migrations[] = {
    "CREATE TABLE IF NOT EXISTS release_policies ("
    " dataset TEXT PRIMARY KEY,"
    " policy TEXT NOT NULL,"
    " digest TEXT NOT NULL,"
    " set_by TEXT NOT NULL,"
    " set_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS broker_nonces ("
    " nonce TEXT PRIMARY KEY,"
    " job_id TEXT NOT NULL,"
    " issued TEXT NOT NULL,"
    " used TEXT NOT NULL DEFAULT '');"
    "ALTER TABLE release_policies ADD COLUMN envelope TEXT NOT NULL "
    " DEFAULT '';"
    "ALTER TABLE broker_nonces ADD COLUMN principal TEXT NOT NULL "
    " DEFAULT '';"
    "ALTER TABLE broker_nonces ADD COLUMN submitter TEXT NOT NULL "
    " DEFAULT '';"
    "ALTER TABLE broker_nonces ADD COLUMN scope TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE broker_nonces ADD COLUMN spec_digest TEXT NOT NULL "
    " DEFAULT '';"
    "ALTER TABLE broker_nonces ADD COLUMN hello TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE broker_nonces ADD COLUMN envelope TEXT NOT NULL "
    " DEFAULT '';"
    "ALTER TABLE broker_nonces ADD COLUMN issued_s INTEGER NOT NULL "
    " DEFAULT 0;"
    "CREATE INDEX broker_nonces_issued ON broker_nonces(issued_s);",
};

st_code st_gate_db_migrate(st_workspace *ws, st_err *err)
{
    return st_catalog_migrate(ws, "broker", migrations,
                              sizeof(migrations) / sizeof(migrations[0]), err);
}

static char *column(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return strdup(t ? t : "");
}

st_code st_gate_db_policy_put(st_workspace *ws, const char *dataset,
                              const char *policy, const char *digest,
                              const char *envelope, const char *actor,
                              st_err *err)
{
    st_code rc = st_gate_db_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    char t[ST_TIME_LEN];
    st_time_format(time(NULL), t);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "INSERT OR REPLACE INTO release_policies"
                           "(dataset,policy,digest,set_by,set_at,envelope) "
                           "VALUES(?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "storing a release policy", err);
    sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, policy, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, actor ? actor : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, envelope, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE
               ? ST_OK
               : st_catalog_fail(ws, "storing a release policy", err);
}

st_code st_gate_db_policy_get(st_workspace *ws, const char *dataset,
                              char **policy, char **envelope, st_err *err)
{
    *policy = *envelope = NULL;
    st_code rc = st_gate_db_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT policy, envelope FROM release_policies "
                           "WHERE dataset=?",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "reading a release policy", err);
    sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *policy = column(st, 0);
        *envelope = column(st, 1);
        if (!*policy || !*envelope) {
            free(*policy);
            free(*envelope);
            *policy = *envelope = NULL;
            rc = st_err_set(err, ST_E_IO, "out of memory");
        }
    } else if (step == SQLITE_DONE)
        rc = st_err_set(err, ST_E_NOTFOUND,
                        "dataset \"%s\" has no release policy: it is never "
                        "released (set one with `sealtrain data policy set`)",
                        dataset);
    else
        rc = st_catalog_fail(ws, "reading a release policy", err);
    sqlite3_finalize(st);
    return rc;
}

/* Runs `st` with synchronous=NORMAL (see the top of the file). */
static int step_unsynced(st_workspace *ws, sqlite3_stmt *st)
{
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    int step = sqlite3_step(st);
    sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    return step;
}

st_code st_gate_db_nonce_put(st_workspace *ws, const st_gate_nonce *n,
                             st_err *err)
{
    st_code rc = st_gate_db_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    char hex[65], sd[65], hello[129], t[ST_TIME_LEN];
    st_hex_encode(n->nonce, 32, hex);
    st_hex_encode(n->spec_digest, 32, sd);
    st_hex_encode(n->hello.x25519, 32, hello);
    st_hex_encode(n->hello.ed25519, 32, hello + 64);
    st_time_format(n->issued, t);
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *st = NULL;
    /* old rows go as new ones come (about once a minute per thread): the
     * table holds minutes, not history */
    static _Thread_local time_t last_sweep;
    if (n->issued - last_sweep >= 60 &&
        sqlite3_prepare_v2(db, "DELETE FROM broker_nonces WHERE issued_s<?", -1,
                           &st, NULL) == SQLITE_OK) {
        last_sweep = n->issued;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)n->issued - 3600);
        step_unsynced(ws, st);
        sqlite3_finalize(st);
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO broker_nonces(nonce,job_id,issued,"
                           "principal,submitter,scope,spec_digest,hello,"
                           "envelope,issued_s) VALUES(?,?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "issuing a nonce", err);
    sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, n->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, n->principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, n->submitter, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, n->scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, sd, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, hello, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, n->envelope ? n->envelope : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)n->issued);
    int step = step_unsynced(ws, st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? ST_OK
                               : st_catalog_fail(ws, "issuing a nonce", err);
}

st_code st_gate_db_nonce_take(st_workspace *ws, const uint8_t nonce[32],
                              const char *principal, long max_age_s,
                              st_gate_nonce *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    st_code rc = st_gate_db_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    char hex[65], t[ST_TIME_LEN];
    st_hex_encode(nonce, 32, hex);
    time_t now = time(NULL);
    st_time_format(now, t);
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "UPDATE broker_nonces SET used=? WHERE nonce=? AND "
                           "principal=? AND used='' AND issued_s>=? "
                           "RETURNING job_id,submitter,scope,spec_digest,"
                           "hello,envelope,issued_s",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "using a nonce", err);
    sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, principal, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)(now - max_age_s));
    /* the UPDATE commits when the statement halts, after its row */
    sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        char *sd = column(st, 3), *hello = column(st, 4);
        snprintf(out->job_id, sizeof(out->job_id), "%s",
                 (const char *)sqlite3_column_text(st, 0));
        snprintf(out->submitter, sizeof(out->submitter), "%s",
                 (const char *)sqlite3_column_text(st, 1));
        snprintf(out->scope, sizeof(out->scope), "%s",
                 (const char *)sqlite3_column_text(st, 2));
        snprintf(out->principal, sizeof(out->principal), "%s", principal);
        out->envelope = column(st, 5);
        out->issued = (time_t)sqlite3_column_int64(st, 6);
        memcpy(out->nonce, nonce, 32);
        char x[65] = "", ed[65] = "";
        if (hello && strlen(hello) == 128) {
            memcpy(x, hello, 64);
            memcpy(ed, hello + 64, 64);
        }
        if (!sd || !hello || !out->envelope ||
            st_hex_decode(sd, out->spec_digest, 32, NULL) != ST_OK ||
            st_hex_decode(x, out->hello.x25519, 32, NULL) != ST_OK ||
            st_hex_decode(ed, out->hello.ed25519, 32, NULL) != ST_OK)
            rc = st_err_set(err, ST_E_IO, "reading a nonce: %s",
                            sd && hello && out->envelope ? "malformed row"
                                                         : "out of memory");
        free(sd);
        free(hello);
        step = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    if (rc != ST_OK)
        return rc;
    if (step != SQLITE_DONE)
        return st_catalog_fail(ws, "using a nonce", err);
    if (out->envelope)
        return ST_OK;
    /* say which: the reason goes into the audit log */
    const char *why = "unknown to this broker";
    if (sqlite3_prepare_v2(db,
                           "SELECT used, principal FROM broker_nonces WHERE "
                           "nonce=?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *used = (const char *)sqlite3_column_text(st, 0);
            const char *who = (const char *)sqlite3_column_text(st, 1);
            if (who && strcmp(who, principal))
                why = "issued to another principal";
            else if (used && *used)
                why = "already used (replay)";
            else
                why = "stale";
        }
        sqlite3_finalize(st);
    }
    return st_err_set(err, ST_E_DENIED, "nonce %s", why);
}

void st_gate_nonce_clear(st_gate_nonce *n)
{
    free(n->envelope);
    memset(n, 0, sizeof(*n));
}
