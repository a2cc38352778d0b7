/*
 * upload_db.c: the SQL of resumable uploads (upload.c): the catalog table
 * `uploads`, module "upload". The shred key sits in a row until the
 * upload commits or is forgotten; rows are deleted with secure_delete.
 *
 * Never: decide who may touch an upload beyond the row's principal (the
 * server's routes and upload.c do); hold a file key (rows hold none).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/upload_db.h"
#include "store/catalog.h"

static const char *const migrations[] = {
    "CREATE TABLE uploads ("
    " id TEXT PRIMARY KEY,"
    " principal TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " dataset_id TEXT NOT NULL,"
    " kek TEXT NOT NULL,"
    " kek_version INTEGER NOT NULL,"
    " shred_key BLOB NOT NULL,"
    " stanza_sha256 BLOB NOT NULL,"
    " size INTEGER,"
    " received INTEGER NOT NULL,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL)",
};

st_code upload_db_migrate(st_workspace *ws, st_err *err)
{
    return st_catalog_migrate(ws, "upload", migrations,
                              sizeof(migrations) / sizeof(migrations[0]), err);
}

st_code upload_db_get(st_workspace *ws, const char *principal, const char *id,
                      st_upload_info *out, st_secret **shred,
                      uint8_t stanza[32], st_err *err)
{
    memset(out, 0, sizeof(*out));
    st_code rc = ST_OK;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT principal, name, dataset_id, kek, "
                           "kek_version, size, received, expires, shred_key, "
                           "stanza_sha256 FROM uploads WHERE id = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "select upload", err);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    if (s == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(q, 0);
        if (principal && (!p || strcmp(p, principal)))
            s = SQLITE_DONE; /* another principal's upload: not theirs */
    }
    if (s == SQLITE_DONE)
        rc = st_err_set(err, ST_E_NOTFOUND,
                        "no open upload %s (committed, abandoned, expired "
                        "or never created)",
                        id);
    else if (s != SQLITE_ROW)
        rc = st_catalog_fail(ws, "select upload", err);
    if (!rc) {
        snprintf(out->id, sizeof(out->id), "%s", id);
#define COL(i) ((const char *)sqlite3_column_text(q, i))
        snprintf(out->principal, sizeof(out->principal), "%s", COL(0));
        snprintf(out->name, sizeof(out->name), "%s", COL(1));
        snprintf(out->dataset_id, sizeof(out->dataset_id), "%s", COL(2));
        snprintf(out->kek, sizeof(out->kek), "%s", COL(3));
#undef COL
        out->kek_version = (uint32_t)sqlite3_column_int64(q, 4);
        out->size = sqlite3_column_type(q, 5) == SQLITE_NULL
                        ? -1
                        : sqlite3_column_int64(q, 5);
        out->received = (uint64_t)sqlite3_column_int64(q, 6);
        out->expires = (time_t)sqlite3_column_int64(q, 7);
        if (sqlite3_column_bytes(q, 8) != 16 ||
            sqlite3_column_bytes(q, 9) != 32)
            rc =
                st_err_set(err, ST_E_INPUT,
                           "catalog: upload %s has a malformed key record", id);
    }
    if (!rc && shred &&
        !(*shred = st_secret_from(sqlite3_column_blob(q, 8), 16, err)))
        rc = err ? err->code : ST_E_IO;
    if (!rc && stanza)
        memcpy(stanza, sqlite3_column_blob(q, 9), 32);
    sqlite3_finalize(q);
    return rc;
}

st_code upload_db_delete(st_workspace *ws, const char *id, st_err *err)
{
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *q;
    if (sqlite3_exec(db, "PRAGMA secure_delete = ON", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM uploads WHERE id = ?", -1, &q,
                           NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "delete upload", err);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    return s == SQLITE_DONE ? ST_OK : st_catalog_fail(ws, "delete upload", err);
}

st_code upload_db_expired(st_workspace *ws, time_t now, upload_db_key **out,
                          size_t *n, st_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT id, principal, name FROM uploads WHERE "
                           "expires < ?",
                           -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "select expired uploads", err);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)now);
    st_code rc = ST_OK;
    size_t cap = 0;
    int s;
    while (!rc && (s = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            void *p = realloc(*out, cap * sizeof(**out));
            if (!p) {
                rc = st_err_errno(err, ST_E_IO, ENOMEM, "expired uploads");
                break;
            }
            *out = p;
        }
        upload_db_key *k = &(*out)[(*n)++];
        const char *c0 = (const char *)sqlite3_column_text(q, 0),
                   *c1 = (const char *)sqlite3_column_text(q, 1),
                   *c2 = (const char *)sqlite3_column_text(q, 2);
        snprintf(k->id, sizeof(k->id), "%s", c0 ? c0 : "");
        snprintf(k->principal, sizeof(k->principal), "%s", c1 ? c1 : "");
        snprintf(k->name, sizeof(k->name), "%s", c2 ? c2 : "");
    }
    if (!rc && s != SQLITE_DONE)
        rc = st_catalog_fail(ws, "select expired uploads", err);
    sqlite3_finalize(q);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

st_code upload_db_insert(st_workspace *ws, const st_upload_info *u,
                         const st_secret *shred, const uint8_t stanza[32],
                         st_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "INSERT INTO uploads (id, principal, name, "
                           "dataset_id, kek, kek_version, shred_key, "
                           "stanza_sha256, size, received, created, expires) "
                           "VALUES (?,?,?,?,?,?,?,?,NULL,0,?,?)",
                           -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "insert upload", err);
    sqlite3_bind_text(q, 1, u->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, u->principal, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, u->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, u->dataset_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, u->kek, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 6, u->kek_version);
    sqlite3_bind_blob(q, 7, st_secret_cbytes(shred), 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(q, 8, stanza, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 9, (sqlite3_int64)time(NULL));
    sqlite3_bind_int64(q, 10, (sqlite3_int64)u->expires);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    return s == SQLITE_DONE ? ST_OK : st_catalog_fail(ws, "insert upload", err);
}

st_code upload_db_inflight(st_workspace *ws, const char *except, uint64_t *out,
                           st_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT COALESCE(SUM(size), 0) FROM uploads WHERE "
                           "id != ? AND size IS NOT NULL",
                           -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "sum uploads", err);
    sqlite3_bind_text(q, 1, except, -1, SQLITE_TRANSIENT);
    st_code rc = sqlite3_step(q) == SQLITE_ROW
                     ? ST_OK
                     : st_catalog_fail(ws, "sum uploads", err);
    *out = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return rc;
}

st_code upload_db_advance(st_workspace *ws, const char *id, uint64_t from,
                          uint64_t to, uint64_t total, time_t expires,
                          st_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "UPDATE uploads SET received = ?, size = ?, "
                           "expires = ? WHERE id = ? AND received = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "update upload", err);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)to);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)total);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)expires);
    sqlite3_bind_text(q, 4, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)from);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    if (s != SQLITE_DONE)
        return st_catalog_fail(ws, "update upload", err);
    if (sqlite3_changes(st_workspace_db(ws)) != 1)
        return st_err_set(err, ST_E_IO, "upload %s changed while written", id);
    return ST_OK;
}
