/*
 * gate_db.c: the gate's rows in the catalog, and the only SQL of
 * src/broker: signed release policies and the one nonce store that both
 * transports (the local job's socketpair, `serve --broker`'s HTTPS) use.
 *
 * Tables: release_policies(dataset, policy, digest, set_by, set_at,
 * envelope) in the catalog (module "broker"; created by module "job"
 * before the gate had its own, hence IF NOT EXISTS), and
 * nonces(nonce, job_id, issued, used, principal, submitter, scope,
 * spec_digest, hello, envelope, issued_s) in gate-nonces.db beside it, and
 * attest_collateral(digest, signer, imported_by, imported_at, documents,
 * stale_at, stale_doc): the offline collateral bundles (collateral.c).
 *
 * A nonce row binds everything the EVIDENCE that answers it is judged on:
 * who asked, for which job and signed spec, which datasets' keys, and the
 * runtime's keys from its HELLO. Consuming it is one UPDATE (unknown,
 * another principal's, used or stale all change nothing).
 *
 * The nonce store is a database file of its own beside the catalog, for
 * two reasons. Every key release writes it twice; in catalog.db those
 * writes made every other connection drop its page cache (SQLite does so
 * when the database changed) and read the principals, grants, manifests
 * and policies from disk again, and they queued on the catalog's one
 * write lock. And its writes need not wait for fsync (synchronous=NORMAL):
 * a nonce that a power loss forgets was issued is refused as unknown, and
 * one whose use it forgets is at most 60 s old; its keys would only ever
 * be wrapped to the runtime key the nonce was bound to. Policies, like
 * the rest of the catalog, commit durably. The rows live minutes: the
 * file holds nothing a backup needs, and a missing one is created empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "broker/gate_internal.h"
#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/workspace.h"
#include "store/catalog.h"

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
    /* the nonces moved to gate-nonces.db (see the top of the file); the
     * rows left here were at most minutes old */
    "DROP TABLE IF EXISTS broker_nonces;",
    /* offline collateral bundles (collateral.c); the signed envelope is
     * the file, the row what was imported, by whom */
    "CREATE TABLE attest_collateral ("
    " digest TEXT PRIMARY KEY,"
    " signer TEXT NOT NULL,"
    " imported_by TEXT NOT NULL,"
    " imported_at TEXT NOT NULL,"
    " documents INTEGER NOT NULL,"
    " stale_at INTEGER NOT NULL,"
    " stale_doc TEXT NOT NULL);",
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
    if (st_catalog_prepare(ws,
                           "SELECT policy, envelope FROM release_policies "
                           "WHERE dataset=?",
                           &st) != SQLITE_OK)
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
    st_catalog_finish(ws, st);
    return rc;
}

/* ---- offline collateral bundles ---- */

st_code st_gate_db_collateral_put(st_workspace *ws,
                                  const st_collateral_entry *e, st_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "INSERT INTO attest_collateral(digest,signer,"
                           "imported_by,imported_at,documents,stale_at,"
                           "stale_doc) VALUES(?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "recording a collateral bundle", err);
    sqlite3_bind_text(st, 1, e->digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->signer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->imported_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->imported_at, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, e->documents);
    sqlite3_bind_int64(st, 6, e->stale_at);
    sqlite3_bind_text(st, 7, e->stale_doc, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step == SQLITE_CONSTRAINT)
        return st_err_set(err, ST_E_EXISTS,
                          "collateral bundle sha256:%s is already imported",
                          e->digest);
    return step == SQLITE_DONE
               ? ST_OK
               : st_catalog_fail(ws, "recording a collateral bundle", err);
}

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? t : "");
}

st_code st_gate_db_collateral_list(st_workspace *ws, const char *prefix,
                                   st_collateral_entry **out, size_t *n,
                                   st_err *err)
{
    *out = NULL;
    *n = 0;
    st_code rc = st_gate_db_migrate(ws, err);
    if (rc != ST_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (st_catalog_prepare(ws,
                           "SELECT digest,signer,imported_by,imported_at,"
                           "documents,stale_at,stale_doc FROM "
                           "attest_collateral WHERE substr(digest,1,"
                           "length(?1))=?1 ORDER BY imported_at, digest",
                           &st) != SQLITE_OK)
        return st_catalog_fail(ws, "listing collateral bundles", err);
    sqlite3_bind_text(st, 1, prefix ? prefix : "", -1, SQLITE_STATIC);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 8;
            st_collateral_entry *m = realloc(*out, nc * sizeof(**out));
            if (!m) {
                rc = st_err_set(err, ST_E_IO, "out of memory");
                break;
            }
            *out = m;
            cap = nc;
        }
        st_collateral_entry *e = &(*out)[(*n)++];
        memset(e, 0, sizeof(*e));
        copy_col(st, 0, e->digest, sizeof(e->digest));
        copy_col(st, 1, e->signer, sizeof(e->signer));
        copy_col(st, 2, e->imported_by, sizeof(e->imported_by));
        copy_col(st, 3, e->imported_at, sizeof(e->imported_at));
        e->documents = sqlite3_column_int64(st, 4);
        e->stale_at = sqlite3_column_int64(st, 5);
        copy_col(st, 6, e->stale_doc, sizeof(e->stale_doc));
    }
    if (rc == ST_OK && step != SQLITE_DONE)
        rc = st_catalog_fail(ws, "listing collateral bundles", err);
    st_catalog_finish(ws, st);
    if (rc != ST_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

st_code st_gate_db_collateral_rm(st_workspace *ws, const char *digest,
                                 st_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "DELETE FROM attest_collateral WHERE digest=?", -1,
                           &st, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "removing a collateral bundle", err);
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return st_catalog_fail(ws, "removing a collateral bundle", err);
    if (sqlite3_changes(st_workspace_db(ws)) == 0)
        return st_err_set(err, ST_E_NOTFOUND,
                          "collateral bundle sha256:%s is not imported",
                          digest);
    return ST_OK;
}

/* ---- the nonce store ---- */

/* One connection to each workspace's gate-nonces.db per process, used
 * under nonce_lock by every thread: the store's pages stay in its cache
 * (a connection of its own per thread lost them at every other thread's
 * write), and in-process writers wait on the mutex, not in SQLite's busy
 * handler. Another process (a local `job run`) has its own connection
 * and meets SQLite's locking and busy timeout as usual. */
#define NONCE_STORES 8
/* The store's statements, prepared once per connection (parsing them per
 * release cost about as much as running them). */
enum { NONCE_PUT, NONCE_TAKE, NONCE_WHY, NONCE_SWEEP, NONCE_NSQL };
static const char *const nonce_sql[NONCE_NSQL] = {
    [NONCE_PUT] = "INSERT INTO nonces(nonce,job_id,issued,principal,"
                  "submitter,scope,spec_digest,hello,envelope,issued_s) "
                  "VALUES(?,?,?,?,?,?,?,?,?,?)",
    [NONCE_TAKE] = "UPDATE nonces SET used=? WHERE nonce=? AND "
                   "principal=? AND used='' AND issued_s>=? "
                   "RETURNING job_id,submitter,scope,spec_digest,"
                   "hello,envelope,issued_s",
    [NONCE_WHY] = "SELECT used, principal FROM nonces WHERE nonce=?",
    [NONCE_SWEEP] = "DELETE FROM nonces WHERE issued_s<?",
};
static pthread_mutex_t nonce_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nonce_store {
    char path[PATH_MAX];
    sqlite3 *db;
    sqlite3_stmt *sql[NONCE_NSQL]; /* prepared on first use */
    unsigned long used;            /* for replacing the least recently used */
    time_t swept;                  /* its last sweep of old rows */
} stores[NONCE_STORES];
static unsigned long nonce_clock;

static st_code nonce_fail(sqlite3 *db, const char *what, st_err *err)
{
    return st_err_set(err, ST_E_IO, "nonce store: %s: %s", what,
                      db ? sqlite3_errmsg(db) : "out of memory");
}

/* The workspace's nonce store; nonce_lock held. */
static st_code nonce_db(st_workspace *ws, struct nonce_store **out, st_err *err)
{
    char path[PATH_MAX];
    st_code rc =
        st_workspace_path(ws, NULL, "gate-nonces.db", path, sizeof(path), err);
    if (rc != ST_OK)
        return rc;
    struct nonce_store *s = &stores[0];
    for (size_t i = 0; i < NONCE_STORES; i++) {
        if (stores[i].db && !strcmp(stores[i].path, path)) {
            stores[i].used = ++nonce_clock;
            *out = &stores[i];
            return ST_OK;
        }
        if (!stores[i].db || stores[i].used < s->used)
            s = &stores[i];
    }
    for (size_t i = 0; i < NONCE_NSQL; i++)
        sqlite3_finalize(s->sql[i]);
    if (s->db)
        sqlite3_close_v2(s->db);
    memset(s, 0, sizeof(*s));
    /* SQLite would create it 0644, and its -wal and -shm files after it */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "create %s", path);
    close(fd);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = nonce_fail(db, "opening", err);
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL;"
                     "PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS nonces ("
                     " nonce TEXT PRIMARY KEY,"
                     " job_id TEXT NOT NULL,"
                     " issued TEXT NOT NULL,"
                     " used TEXT NOT NULL DEFAULT '',"
                     " principal TEXT NOT NULL,"
                     " submitter TEXT NOT NULL,"
                     " scope TEXT NOT NULL,"
                     " spec_digest TEXT NOT NULL,"
                     " hello TEXT NOT NULL,"
                     " envelope TEXT NOT NULL,"
                     " issued_s INTEGER NOT NULL);"
                     "CREATE INDEX IF NOT EXISTS nonces_issued "
                     " ON nonces(issued_s);",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = nonce_fail(db, "creating", err);
        sqlite3_close(db);
        return rc;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->db = db;
    s->used = ++nonce_clock;
    *out = s;
    return ST_OK;
}

/* The store's statement `which`, ready to bind; nonce_lock held, and
 * nonce_done after use. */
static int nonce_prepare(struct nonce_store *s, int which, sqlite3_stmt **st)
{
    int rc = SQLITE_OK;
    if (!s->sql[which])
        rc = sqlite3_prepare_v3(s->db, nonce_sql[which], -1,
                                SQLITE_PREPARE_PERSISTENT, &s->sql[which],
                                NULL);
    *st = s->sql[which];
    return rc;
}

/* Resets a statement of the store for its next use (its bindings point
 * into the caller's buffers). */
static void nonce_done(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

st_code st_gate_db_nonce_put(st_workspace *ws, const st_gate_nonce *n,
                             st_err *err)
{
    char hex[65], sd[65], hello[129], t[ST_TIME_LEN];
    st_hex_encode(n->nonce, 32, hex);
    st_hex_encode(n->spec_digest, 32, sd);
    st_hex_encode(n->hello.x25519, 32, hello);
    st_hex_encode(n->hello.ed25519, 32, hello + 64);
    st_time_format(n->issued, t);
    pthread_mutex_lock(&nonce_lock);
    struct nonce_store *ns = NULL;
    sqlite3_stmt *st = NULL;
    st_code rc = nonce_db(ws, &ns, err);
    sqlite3 *db = ns ? ns->db : NULL;
    /* old rows go as new ones come (about once a minute per store): the
     * table holds minutes, not history */
    if (rc == ST_OK && n->issued - ns->swept >= 60 &&
        nonce_prepare(ns, NONCE_SWEEP, &st) == SQLITE_OK) {
        ns->swept = n->issued;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)n->issued - 3600);
        (void)sqlite3_step(st); /* a failed sweep is retried next minute */
        nonce_done(st);
    }
    if (rc == ST_OK && nonce_prepare(ns, NONCE_PUT, &st) != SQLITE_OK)
        rc = nonce_fail(db, "issuing a nonce", err);
    if (rc == ST_OK) {
        sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, n->job_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, t, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, n->principal, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, n->submitter, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, n->scope, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, sd, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, hello, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, n->envelope ? n->envelope : "", -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)n->issued);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = nonce_fail(db, "issuing a nonce", err);
        nonce_done(st);
    }
    pthread_mutex_unlock(&nonce_lock);
    return rc;
}

/* Why the nonce was not taken (for the audit log); nonce_lock held. */
static const char *nonce_why(struct nonce_store *ns, const char *hex,
                             const char *principal)
{
    const char *why = "unknown to this broker";
    sqlite3_stmt *st = NULL;
    if (nonce_prepare(ns, NONCE_WHY, &st) != SQLITE_OK)
        return why;
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
    nonce_done(st);
    return why;
}

st_code st_gate_db_nonce_take(st_workspace *ws, const uint8_t nonce[32],
                              const char *principal, long max_age_s,
                              st_gate_nonce *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    char hex[65], t[ST_TIME_LEN];
    st_hex_encode(nonce, 32, hex);
    time_t now = time(NULL);
    st_time_format(now, t);
    pthread_mutex_lock(&nonce_lock);
    struct nonce_store *ns = NULL;
    sqlite3_stmt *st = NULL;
    st_code rc = nonce_db(ws, &ns, err);
    sqlite3 *db = ns ? ns->db : NULL;
    if (rc == ST_OK && nonce_prepare(ns, NONCE_TAKE, &st) != SQLITE_OK)
        rc = nonce_fail(db, "using a nonce", err);
    if (rc != ST_OK) {
        pthread_mutex_unlock(&nonce_lock);
        return rc;
    }
    sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, principal, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)(now - max_age_s));
    /* the UPDATE commits when the statement halts, after its row */
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
    if (rc == ST_OK && step != SQLITE_DONE)
        rc = nonce_fail(db, "using a nonce", err);
    nonce_done(st);
    const char *why =
        rc == ST_OK && !out->envelope ? nonce_why(ns, hex, principal) : NULL;
    pthread_mutex_unlock(&nonce_lock);
    if (rc != ST_OK) {
        st_gate_nonce_clear(out);
        return rc;
    }
    if (why)
        return st_err_set(err, ST_E_DENIED, "nonce %s", why);
    return ST_OK;
}

void st_gate_nonce_clear(st_gate_nonce *n)
{
    free(n->envelope);
    memset(n, 0, sizeof(*n));
}
