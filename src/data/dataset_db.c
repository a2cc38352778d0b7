/*
 * dataset_db.c: the catalog table `datasets`: its migrations and the
 * statements that read, list, insert, switch and delete a dataset's row:
 * every statement on `datasets` of the dataset module (dataset.c says
 * what the module owns).
 *
 * Never: store a file key (only the shred key, which alone opens
 * nothing), or switch a row whose generation moved under it.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "store/catalog.h"

static const char *const migrations[] = {
    "CREATE TABLE datasets ("
    " name TEXT PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " owner TEXT NOT NULL,"
    " generation INTEGER NOT NULL,"
    " file TEXT NOT NULL,"
    " kek_name TEXT NOT NULL,"
    " kek_version INTEGER NOT NULL,"
    " shred_key BLOB NOT NULL,"
    " signer_keyid TEXT NOT NULL,"
    " signer_pub BLOB NOT NULL,"
    " manifest TEXT NOT NULL,"
    " created TEXT NOT NULL,"
    " updated TEXT NOT NULL)",
};

ST_MUST_CHECK st_code dataset_migrate(st_workspace *ws, st_err *err)
{
    return st_catalog_migrate(ws, "data", migrations,
                              sizeof(migrations) / sizeof(migrations[0]), err);
}

ST_MUST_CHECK st_code dataset_db_exec(st_workspace *ws, const char *sql,
                                      st_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st_workspace_db(ws), sql, NULL, NULL, &msg) != SQLITE_OK) {
        st_err_set(err, ST_E_IO, "catalog: %s: %s", sql, msg ? msg : "error");
        sqlite3_free(msg);
        return ST_E_IO;
    }
    return ST_OK;
}

/* ---- catalog rows ---------------------------------------------------- */

void dataset_drow_free(drow *r)
{
    st_secret_free(r->shred);
    free(r->manifest);
    memset(r, 0, sizeof(*r));
}

static void copy_col(sqlite3_stmt *q, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

#define ROW_COLS_SQL                                                           \
    "name, id, owner, generation, file, kek_name, kek_version, shred_key, "    \
    "signer_keyid, signer_pub, manifest, created, updated"

static ST_MUST_CHECK st_code row_read(sqlite3_stmt *q, drow *r, st_err *err)
{
    memset(r, 0, sizeof(*r));
    copy_col(q, 0, r->name, sizeof(r->name));
    copy_col(q, 1, r->id, sizeof(r->id));
    copy_col(q, 2, r->owner, sizeof(r->owner));
    r->generation = sqlite3_column_int64(q, 3);
    copy_col(q, 4, r->file, sizeof(r->file));
    copy_col(q, 5, r->kek_name, sizeof(r->kek_name));
    r->kek_version = (uint32_t)sqlite3_column_int64(q, 6);
    copy_col(q, 8, r->signer_keyid, sizeof(r->signer_keyid));
    copy_col(q, 11, r->created, sizeof(r->created));
    copy_col(q, 12, r->updated, sizeof(r->updated));
    if (sqlite3_column_bytes(q, 7) != SHRED_LEN ||
        sqlite3_column_bytes(q, 9) != 32)
        return st_err_set(err, ST_E_INPUT,
                          "catalog: dataset \"%s\" has a malformed key "
                          "record",
                          r->name);
    r->shred = st_secret_from(sqlite3_column_blob(q, 7), SHRED_LEN, err);
    if (!r->shred)
        return err ? err->code : ST_E_IO;
    memcpy(r->signer_pub, sqlite3_column_blob(q, 9), 32);
    const unsigned char *m = sqlite3_column_text(q, 10);
    r->manifest = strdup(m ? (const char *)m : "");
    if (!r->manifest)
        return st_err_set(err, ST_E_IO, "out of memory");
    return ST_OK;
}

ST_MUST_CHECK st_code dataset_row_get(st_workspace *ws, const char *name,
                                      drow *r, st_err *err)
{
    memset(r, 0, sizeof(*r));
    sqlite3_stmt *q;
    if (st_catalog_prepare(
            ws, "SELECT " ROW_COLS_SQL " FROM datasets WHERE name = ?", &q) !=
        SQLITE_OK)
        return st_catalog_fail(ws, "select dataset", err);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    st_code rc;
    if (s == SQLITE_ROW)
        rc = row_read(q, r, err);
    else if (s == SQLITE_DONE)
        rc = st_err_set(err, ST_E_NOTFOUND, "no dataset named \"%s\"", name);
    else
        rc = st_catalog_fail(ws, "select dataset", err);
    st_catalog_finish(ws, q);
    if (rc)
        dataset_drow_free(r);
    return rc;
}

ST_MUST_CHECK st_code dataset_insert_row(st_workspace *ws, const drow *r,
                                         const char *env, st_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(
            st_workspace_db(ws),
            "INSERT INTO datasets (name, id, owner, generation, file, "
            "kek_name, kek_version, shred_key, signer_keyid, signer_pub, "
            "manifest, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "insert dataset", err);
    sqlite3_bind_text(q, 1, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, r->owner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, r->generation);
    sqlite3_bind_text(q, 5, r->file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, r->kek_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 7, r->kek_version);
    sqlite3_bind_blob(q, 8, st_secret_cbytes(r->shred), SHRED_LEN,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 9, r->signer_keyid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(q, 10, r->signer_pub, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 11, env, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 12, r->created, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 13, r->updated, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    if (s == SQLITE_CONSTRAINT)
        return st_err_set(err, ST_E_EXISTS, "a dataset named \"%s\" exists",
                          r->name);
    if (s != SQLITE_DONE)
        return st_catalog_fail(ws, "insert dataset", err);
    return ST_OK;
}

/* Switches a row to a new generation, only if it is still at `old_gen`. */
ST_MUST_CHECK st_code dataset_update_row(st_workspace *ws, const drow *r,
                                         long long old_gen, const char *env,
                                         st_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(
            st_workspace_db(ws),
            "UPDATE datasets SET generation = ?, file = ?, kek_version = ?, "
            "shred_key = ?, manifest = ?, updated = ? "
            "WHERE name = ? AND generation = ?",
            -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "update dataset", err);
    sqlite3_bind_int64(q, 1, r->generation);
    sqlite3_bind_text(q, 2, r->file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, r->kek_version);
    sqlite3_bind_blob(q, 4, st_secret_cbytes(r->shred), SHRED_LEN,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, env, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, r->updated, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 7, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 8, old_gen);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    if (s != SQLITE_DONE)
        return st_catalog_fail(ws, "update dataset", err);
    if (sqlite3_changes(st_workspace_db(ws)) != 1)
        return st_err_set(err, ST_E_IO,
                          "dataset \"%s\" changed while being updated",
                          r->name);
    return ST_OK;
}

st_code dataset_db_names_file(st_workspace *ws, const char *file, int *named,
                              st_err *err)
{
    *named = 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT 1 FROM datasets WHERE file = ?", -1, &q,
                           NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "looking up a dataset file", err);
    sqlite3_bind_text(q, 1, file, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    *named = s == SQLITE_ROW;
    return s == SQLITE_ROW || s == SQLITE_DONE
               ? ST_OK
               : st_catalog_fail(ws, "looking up a dataset file", err);
}

st_code dataset_db_each_name(st_workspace *ws, dataset_name_fn fn, void *ctx,
                             st_err *err)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT name FROM datasets ORDER BY name", -1, &q,
                           NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "list datasets", err);
    st_code rc = ST_OK;
    int s;
    while (!rc && (s = sqlite3_step(q)) == SQLITE_ROW)
        rc = fn(ctx, (const char *)sqlite3_column_text(q, 0), err);
    if (!rc && s != SQLITE_DONE)
        rc = st_catalog_fail(ws, "list datasets", err);
    sqlite3_finalize(q);
    return rc;
}

st_code dataset_db_delete(st_workspace *ws, const char *name, st_err *err)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "DELETE FROM datasets WHERE name = ?", -1, &q,
                           NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "delete dataset", err);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    return s == SQLITE_DONE ? ST_OK
                            : st_catalog_fail(ws, "delete dataset", err);
}
