/*
 * model_db.c: the model registry's SQL, all of it (registry.c decides
 * what a registration holds; ops.c shares and removes).
 *
 * Tables (module "model", migrations below):
 *   models(name, version, job_id, owner, created, spec_sha256, datasets,
 *          claims, metrics, recipients, classification, retention_days,
 *          file_sha256, file_size, path, provenance_path, removed)
 *   model_shares(name, version, recipient, path, sha256, actor, created)
 * Versions count 1, 2, ... per name, handed out inside the registration's
 * IMMEDIATE transaction; a removed version keeps its row (removed set,
 * paths cleared) so that its number is never handed out again.
 *
 * Never: store a secret; decide whether a registration is allowed.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/model_internal.h"
#include "sealtrain/clock.h"
#include "sealtrain/json.h"
#include "store/catalog.h"

static const char *const migrations[] = {
    "CREATE TABLE models ("
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL CHECK (version > 0),"
    " job_id TEXT NOT NULL,"
    " owner TEXT NOT NULL,"
    " created TEXT NOT NULL,"
    " spec_sha256 TEXT NOT NULL,"
    " datasets TEXT NOT NULL,"
    " claims TEXT NOT NULL,"
    " metrics TEXT NOT NULL,"
    " recipients TEXT NOT NULL,"
    " classification TEXT NOT NULL,"
    " retention_days INTEGER NOT NULL,"
    " file_sha256 TEXT NOT NULL,"
    " file_size INTEGER NOT NULL,"
    " path TEXT NOT NULL,"
    " provenance_path TEXT NOT NULL,"
    " removed TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (name, version))",
    "CREATE UNIQUE INDEX models_job ON models(job_id)",
    "CREATE TABLE model_shares ("
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " recipient TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " created TEXT NOT NULL,"
    " PRIMARY KEY (name, version, recipient),"
    " FOREIGN KEY (name, version) REFERENCES models(name, version)"
    "  ON DELETE CASCADE)",
};

st_code st_model_migrate(st_workspace *ws, st_err *err)
{
    return st_catalog_migrate(ws, "model", migrations,
                              sizeof(migrations) / sizeof(migrations[0]), err);
}

st_code st_model_db_err(st_workspace *ws, const char *what, st_err *err)
{
    return st_err_set(err, ST_E_IO, "model registry: %s: %s", what,
                      sqlite3_errmsg(st_workspace_db(ws)));
}

st_code st_model_db_first_owner(st_workspace *ws, const char *name, char *owner,
                                size_t cap, st_err *err)
{
    owner[0] = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT owner FROM models WHERE name = ? "
                           "ORDER BY version LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return st_model_db_err(ws, "name owner", err);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const unsigned char *o = sqlite3_column_text(st, 0);
        snprintf(owner, cap, "%s", o ? (const char *)o : "");
    }
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE
               ? ST_OK
               : st_model_db_err(ws, "name owner", err);
}

static char *dump(const json_t *v)
{
    return st_json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

/* ST_OK when model name r->name is new or r->owner's: the owner of
 * "model:NAME" if recorded, else the owner of its first version (names
 * registered before principals existed). ST_E_DENIED naming the owner. */
st_code st_model_db_insert(st_workspace *ws, st_model_record *r, st_err *err)
{
    sqlite3 *db = st_workspace_db(ws);
    char *ds = dump(r->datasets), *cl = dump(r->claims), *mt = dump(r->metrics),
         *rc_s = dump(r->recipients);
    sqlite3_stmt *st = NULL;
    st_code rc = ST_OK;
    if (!ds || !cl || !mt || !rc_s) {
        rc = st_err_errno(err, ST_E_IO, ENOMEM, "registering model \"%s\"",
                          r->name);
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT COALESCE(MAX(version), 0) + 1 FROM models "
                           "WHERE name = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = st_model_db_err(ws, "next version", err);
        goto out;
    }
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = st_model_db_err(ws, "next version", err);
        goto out;
    }
    r->version = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(
            db,
            "INSERT INTO models(name, version, job_id, owner, created, "
            "spec_sha256, datasets, claims, metrics, recipients, "
            "classification, retention_days, file_sha256, file_size, path, "
            "provenance_path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = st_model_db_err(ws, "insert", err);
        goto out;
    }
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->version);
    sqlite3_bind_text(st, 3, r->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->created, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, r->spec_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, ds, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, cl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, mt, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, rc_s, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, r->classification, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, r->retention_days);
    sqlite3_bind_text(st, 13, r->file_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 14, (sqlite3_int64)r->file_size);
    sqlite3_bind_text(st, 15, r->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, r->provenance_path, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = st_model_db_err(ws, "insert", err);
out:
    sqlite3_finalize(st);
    free(ds);
    free(cl);
    free(mt);
    free(rc_s);
    return rc;
}

/* ---- reading ---- */

/* Column i as JSON into *out; a row that does not parse is damaged, and
 * running out of memory says so (st_json_parse tells them apart). */
static ST_MUST_CHECK st_code col_json(sqlite3_stmt *st, int i, json_t **out,
                                      st_err *err)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    *out = t ? st_json_parse(t, strlen(t), "model registry row", err) : NULL;
    return !t || *out ? ST_OK : err ? err->code : ST_E_INPUT;
}

#define COLS                                                                   \
    "m.name, m.version, m.job_id, m.owner, m.created, m.spec_sha256, "         \
    "m.datasets, m.claims, m.metrics, m.recipients, m.classification, "        \
    "m.retention_days, m.file_sha256, m.file_size, m.path, "                   \
    "m.provenance_path, "                                                      \
    "(SELECT json_group_array(s.recipient) FROM model_shares s WHERE "         \
    "s.name = m.name AND s.version = m.version)"

static ST_MUST_CHECK st_code row_to_record(sqlite3_stmt *st, st_model_record *r,
                                           st_err *err)
{
    memset(r, 0, sizeof(*r));
#define TXT(i, f)                                                              \
    snprintf(f, sizeof(f), "%s",                                               \
             sqlite3_column_text(st, i)                                        \
                 ? (const char *)sqlite3_column_text(st, i)                    \
                 : "")
    TXT(0, r->name);
    r->version = (uint32_t)sqlite3_column_int64(st, 1);
    TXT(2, r->job_id);
    TXT(3, r->owner);
    TXT(4, r->created);
    TXT(5, r->spec_sha256);
    st_code rc = col_json(st, 6, &r->datasets, err);
    if (!rc)
        rc = col_json(st, 7, &r->claims, err);
    if (!rc)
        rc = col_json(st, 8, &r->metrics, err);
    if (!rc)
        rc = col_json(st, 9, &r->recipients, err);
    TXT(10, r->classification);
    r->retention_days = sqlite3_column_int64(st, 11);
    TXT(12, r->file_sha256);
    r->file_size = (uint64_t)sqlite3_column_int64(st, 13);
    TXT(14, r->path);
    TXT(15, r->provenance_path);
#undef TXT
    json_t *shared = NULL;
    if (!rc)
        rc = col_json(st, 16, &shared, err);
    if (!rc && !r->recipients && !(r->recipients = json_array()))
        rc = st_err_errno(err, ST_E_IO, ENOMEM, "model registry row");
    size_t i;
    json_t *v;
    json_array_foreach(shared, i, v)
    {
        if (!rc && json_array_append(r->recipients, v) != 0)
            rc = st_err_errno(err, ST_E_IO, ENOMEM, "model registry row");
    }
    json_decref(shared);
    if (rc) {
        st_model_record_free(r);
        st_err_prefix(err, "model %s@%u", r->name, r->version);
    }
    return rc;
}

st_code st_model_get(st_workspace *ws, const char *name, uint32_t version,
                     st_model_record *out, st_err *err)
{
    st_code rc = st_model_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *st = NULL;
    const char *sql =
        version ? "SELECT " COLS " FROM models m WHERE m.name = ? AND "
                  "m.version = ? AND m.removed = ''"
                : "SELECT " COLS " FROM models m WHERE m.name = ? AND "
                  "m.removed = '' ORDER BY m.version DESC LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return st_model_db_err(ws, "lookup", err);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (version)
        sqlite3_bind_int64(st, 2, version);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = row_to_record(st, out, err);
    else if (step == SQLITE_DONE) {
        if (version)
            rc = st_err_set(err, ST_E_NOTFOUND, "model %s@%u: no such model",
                            name, version);
        else
            rc =
                st_err_set(err, ST_E_NOTFOUND, "model %s: no such model", name);
    } else
        rc = st_model_db_err(ws, "lookup", err);
    sqlite3_finalize(st);
    return rc;
}

st_code st_model_list(st_workspace *ws, st_model_record **out, size_t *n,
                      st_err *err)
{
    *out = NULL;
    *n = 0;
    st_code rc = st_model_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT " COLS " FROM models m WHERE m.removed = '' "
                           "ORDER BY m.name, m.version",
                           -1, &st, NULL) != SQLITE_OK)
        return st_model_db_err(ws, "list", err);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 8;
            st_model_record *p = realloc(*out, nc * sizeof(**out));
            if (!p) {
                rc = st_err_set(err, ST_E_IO, "out of memory");
                break;
            }
            *out = p;
            cap = nc;
        }
        if ((rc = row_to_record(st, &(*out)[*n], err)) != ST_OK)
            break;
        (*n)++;
    }
    if (rc == ST_OK && step != SQLITE_DONE)
        rc = st_model_db_err(ws, "list", err);
    sqlite3_finalize(st);
    if (rc != ST_OK) {
        for (size_t i = 0; i < *n; i++)
            st_model_record_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

st_code st_model_db_share_put(st_workspace *ws, const st_model_record *r,
                              const char *recipient, const char *path,
                              const char *sha, const char *actor, st_err *err)
{
    char t[ST_TIME_LEN];
    st_time_format(time(NULL), t);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "INSERT INTO model_shares(name, version, recipient, "
                           "path, sha256, actor, created) VALUES "
                           "(?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return st_model_db_err(ws, "share", err);
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->version);
    sqlite3_bind_text(st, 3, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, actor ? actor : "system", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, t, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? ST_OK : st_model_db_err(ws, "share", err);
}

st_code st_model_db_share_paths(st_workspace *ws, const st_model_record *r,
                                st_model_db_path_fn fn, void *ctx, st_err *err)
{
    sqlite3_stmt *st = NULL;
    st_code rc = ST_OK;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT path FROM model_shares WHERE name = ? AND "
                           "version = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return st_model_db_err(ws, "rm", err);
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->version);
    int step;
    while (rc == ST_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = fn(ctx, (const char *)sqlite3_column_text(st, 0), err);
    if (rc == ST_OK && step != SQLITE_DONE)
        rc = st_model_db_err(ws, "rm", err);
    sqlite3_finalize(st);
    return rc;
}

st_code st_model_db_mark_removed(st_workspace *ws, const st_model_record *r,
                                 st_err *err)
{
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *st = NULL;
    char t[ST_TIME_LEN];
    st_time_format(time(NULL), t);
    st_code rc = ST_OK;
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM model_shares WHERE name = ?1 AND "
                           "version = ?2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, r->version);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = st_model_db_err(ws, "rm", err);
    } else
        rc = st_model_db_err(ws, "rm", err);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == ST_OK &&
        sqlite3_prepare_v2(db,
                           "UPDATE models SET removed = ?3, path = '', "
                           "provenance_path = '' WHERE name = ?1 AND "
                           "version = ?2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, r->version);
        sqlite3_bind_text(st, 3, t, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = st_model_db_err(ws, "rm", err);
    } else if (rc == ST_OK)
        rc = st_model_db_err(ws, "rm", err);
    sqlite3_finalize(st);
    return rc;
}
