/*
 * keys_db.c: the keys module's SQL (see keys_db.h): the keyring's
 * rollback record and the read of the datasets a KEK wraps.
 *
 * Never: compute or judge an authenticator (keyring.c does); hold key
 * material (the rows hold none).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "keys/keys_db.h"
#include "sealtrain/access.h"
#include "store/catalog.h"

static const char *const migrations[] = {
    "CREATE TABLE keyring_state("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " generation INTEGER NOT NULL,"
    " mac TEXT NOT NULL)",
    /* HMAC of (generation, mac) under the keyring's MAC key: the row can
     * no longer be edited by hand to match an older keyring file */
    "ALTER TABLE keyring_state ADD COLUMN auth TEXT",
};

st_code st_keys_db_migrate(st_workspace *ws, st_err *err)
{
    return st_catalog_migrate(ws, "keys", migrations,
                              sizeof(migrations) / sizeof(migrations[0]), err);
}

st_code st_keys_db_state_put(st_workspace *ws, uint64_t gen, const char mac[65],
                             const char auth[65], st_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "INSERT INTO keyring_state(id, generation, mac, "
                           "auth) VALUES(1, ?1, ?2, ?3) ON CONFLICT(id) DO "
                           "UPDATE SET generation = excluded.generation, "
                           "mac = excluded.mac, auth = excluded.auth",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "recording the keyring state", err);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)gen);
    sqlite3_bind_text(st, 2, mac, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, auth, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE
               ? ST_OK
               : st_catalog_fail(ws, "recording the keyring state", err);
}

st_code st_keys_db_state_get(st_workspace *ws, int *have, uint64_t *gen,
                             char mac[65], char auth[65], st_err *err)
{
    sqlite3_stmt *st = NULL;
    *have = 0;
    *gen = 0;
    mac[0] = auth[0] = 0;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT generation, mac, auth FROM keyring_state "
                           "WHERE id = 1",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "reading the keyring state", err);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 1);
        const char *a = (const char *)sqlite3_column_text(st, 2);
        *have = 1;
        *gen = (uint64_t)sqlite3_column_int64(st, 0);
        snprintf(mac, 65, "%s", m ? m : "");
        snprintf(auth, 65, "%s", a ? a : "");
    }
    sqlite3_finalize(st);
    return r == SQLITE_ROW || r == SQLITE_DONE
               ? ST_OK
               : st_catalog_fail(ws, "reading the keyring state", err);
}

st_code st_keys_db_wrapped_owner(st_workspace *ws, const char *name, char *out,
                                 size_t cap, st_err *err)
{
    out[0] = 0;
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT DISTINCT owner FROM datasets WHERE "
                           "kek_name = ?1 AND owner IN (SELECT name FROM "
                           "principals) LIMIT 2",
                           -1, &st, NULL) != SQLITE_OK) {
        /* a workspace that never held a dataset (or a principal) has
         * no such table: nothing is wrapped under the key */
        if (strstr(sqlite3_errmsg(db), "no such table"))
            return ST_OK;
        return st_catalog_fail(ws, "reading the datasets of a KEK", err);
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int n = 0, r;
    char first[ST_PRINCIPAL_NAME_MAX] = "";
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *o = sqlite3_column_text(st, 0);
        if (n++ == 0)
            snprintf(first, sizeof(first), "%s", o ? (const char *)o : "");
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return st_catalog_fail(ws, "reading the datasets of a KEK", err);
    if (n == 1)
        snprintf(out, cap, "%s", first);
    return ST_OK;
}
