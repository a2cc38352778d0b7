/*
 * outbox.c: a catalog change and its audit entry in one transaction.
 *
 * The catalog (SQLite) and the audit log (log.c) are two stores, and a
 * process can die or fail between writing one and the other. So a change
 * does not append its success entry afterwards; it writes the entry into
 * the catalog table `audit_outbox`, inside the same transaction as the
 * change:
 *
 *   st_audit_txn_begin     BEGIN IMMEDIATE (and a shared hold on
 *                          audit/outbox.lock: "a delivery is under way")
 *   ... the change ...     the caller's statements on the same connection
 *   st_audit_txn_event     the entry, as a row, with a random txn id
 *   st_audit_txn_commit    COMMIT: the change and its entry land together
 *   st_audit_txn_deliver   append the entry to the log (durable), then
 *                          delete the row
 *
 * A command reports success only after the delivery. If anything fails
 * after COMMIT, or COMMIT itself fails with an I/O error (SQLite may still
 * have the commit in its WAL: the outcome is unknown until the next open),
 * the row stays, and st_audit_txn_recover, run by st_workspace_open
 * before anything else, appends it: every change found in the catalog has
 * its entry. Recovery takes outbox.lock exclusively (without waiting), so
 * it never delivers the row of a process that is still delivering it; and
 * it skips an entry whose txn id the log already holds (the row's delete
 * is not flushed on its own, so after a power loss it may come back).
 *
 * The row's delete is written with synchronous=NORMAL: the command's one
 * flush of the catalog is its COMMIT, and the next full commit flushes the
 * delete too (see above for why losing it is harmless).
 *
 * Must never: deliver an entry whose change did not commit (rows exist
 * only in committed transactions); hold a secret (entries never carry
 * one).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "audit/txn.h"
#include "sealtrain/audit.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"
#include "sealtrain/log.h"
#include "sealtrain/workspace.h"
#include "store/catalog.h"

static const char *const migrations[] = {
    "CREATE TABLE audit_outbox ("
    " id INTEGER PRIMARY KEY,"
    " txn TEXT NOT NULL UNIQUE,"
    " event TEXT NOT NULL)",
};

/* The rows this thread's open transaction recorded (more than one when a
 * change records another's entry too, e.g. a new owner's): deliver
 * appends them all, in order. A thread runs one transaction at a time. */
#define BATCH_MAX 8
static _Thread_local int64_t batch[BATCH_MAX];
static _Thread_local size_t nbatch;

/* The shared hold on outbox.lock, one per process while any of its
 * transactions is between begin and delivery. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static int hold_fd = -1;
static int hold_count;

static ST_MUST_CHECK st_code lock_path(st_workspace *ws, char *p, size_t cap,
                                       st_err *err)
{
    return st_workspace_path(ws, "audit", "outbox.lock", p, cap, err);
}

static ST_MUST_CHECK st_code hold(st_workspace *ws, st_err *err)
{
    char p[PATH_MAX];
    st_code rc = lock_path(ws, p, sizeof(p), err);
    if (rc)
        return rc;
    pthread_mutex_lock(&hold_mu);
    if (hold_count == 0) {
        hold_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (hold_fd < 0 || flock(hold_fd, LOCK_SH) != 0) {
            rc = st_err_errno(err, ST_E_IO, errno, "audit outbox lock %s", p);
            if (hold_fd >= 0)
                close(hold_fd);
            hold_fd = -1;
        }
    }
    if (!rc)
        hold_count++;
    pthread_mutex_unlock(&hold_mu);
    return rc;
}

static void release(void)
{
    pthread_mutex_lock(&hold_mu);
    if (hold_count > 0 && --hold_count == 0 && hold_fd >= 0) {
        close(hold_fd);
        hold_fd = -1;
    }
    pthread_mutex_unlock(&hold_mu);
}

static ST_MUST_CHECK st_code exec(st_workspace *ws, const char *sql,
                                  st_err *err)
{
    if (sqlite3_exec(st_workspace_db(ws), sql, NULL, NULL, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, sql, err);
    return ST_OK;
}

static ST_MUST_CHECK st_code migrate(st_workspace *ws, st_err *err)
{
    return st_catalog_migrate(ws, "audit-outbox", migrations,
                              sizeof(migrations) / sizeof(migrations[0]), err);
}

st_code st_audit_txn_begin(st_workspace *ws, st_err *err)
{
    st_code rc = migrate(ws, err);
    if (rc)
        return rc;
    if ((rc = hold(ws, err)))
        return rc;
    if ((rc = exec(ws, "BEGIN IMMEDIATE", err)))
        release();
    nbatch = 0;
    return rc;
}

int st_audit_txn_open(st_workspace *ws)
{
    return !sqlite3_get_autocommit(st_workspace_db(ws));
}

void st_audit_txn_rollback(st_workspace *ws)
{
    nbatch = 0;
    /* nothing to undo when BEGIN's transaction is already gone */
    sqlite3_exec(st_workspace_db(ws), "ROLLBACK", NULL, NULL, NULL);
    release();
}

st_code st_audit_txn_event(st_workspace *ws, const st_audit_event *ev,
                           int64_t *id, st_err *err)
{
    uint8_t rnd[16];
    char txn[33];
    st_code rc = st_random(rnd, sizeof(rnd), err);
    if (rc)
        return rc;
    st_hex_encode(rnd, sizeof(rnd), txn);
    /* a copy that lost a member to a failed allocation is not the entry */
    unsigned long failures = st_json_alloc_failures();
    json_t *details = ev->details ? json_deep_copy(ev->details) : json_object();
    json_t *j = NULL;
    if (details && json_is_object(details) &&
        json_object_set_new(details, "txn", json_string(txn)) == 0)
        j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:O}", "category",
                      ev->category, "actor", ev->actor, "action", ev->action,
                      "resource", ev->resource, "outcome", ev->outcome,
                      "reason", ev->reason, "details", details);
    json_decref(details);
    char *text = j && st_json_alloc_failures() == failures
                     ? st_json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)
                     : NULL;
    json_decref(j);
    if (!text)
        return st_err_errno(err, ST_E_IO, ENOMEM, "audit entry for %s",
                            ev->action);
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO audit_outbox (txn, event) "
                           "VALUES (?, ?)",
                           -1, &q, NULL) != SQLITE_OK) {
        free(text);
        return st_catalog_fail(ws, "recording the audit entry", err);
    }
    /* a bind that could not copy its text (out of memory) would insert
     * NULL: "NOT NULL constraint failed" named the wrong cause */
    int s = sqlite3_bind_text(q, 1, txn, -1, SQLITE_TRANSIENT);
    if (s == SQLITE_OK)
        s = sqlite3_bind_text(q, 2, text, -1, SQLITE_TRANSIENT);
    free(text);
    if (s == SQLITE_OK)
        s = sqlite3_step(q);
    /* the reason is read before finalize, which clears it */
    rc = s == SQLITE_DONE
             ? ST_OK
             : st_catalog_fail(ws, "recording the audit entry", err);
    sqlite3_finalize(q);
    if (rc)
        return rc;
    *id = sqlite3_last_insert_rowid(db);
    if (nbatch < BATCH_MAX)
        batch[nbatch++] = *id; /* any beyond: the next open's recovery */
    return ST_OK;
}

st_code st_audit_txn_commit(st_workspace *ws, int *unknown, st_err *err)
{
    *unknown = 0;
    if (sqlite3_exec(st_workspace_db(ws), "COMMIT", NULL, NULL, NULL) ==
        SQLITE_OK)
        return ST_OK;
    st_code rc = st_catalog_fail(ws, "commit", err);
    st_audit_txn_rollback(ws);
    /* the commit record may be in the WAL although COMMIT failed: the next
     * open (its recovery) decides, so nothing this transaction names may
     * be removed now */
    *unknown = 1;
    st_err_prefix(err, "the change may or may not have been committed (the "
                       "next command completes or discards it, with its "
                       "audit entry)");
    return rc;
}

/* The event of row `id` as an st_audit_event (strings point into *j). */
static ST_MUST_CHECK st_code row_event(const char *text, json_t **j,
                                       st_audit_event *ev, st_err *err)
{
    *j = st_json_parse(text, strlen(text), "audit outbox", err);
    if (!*j)
        return err ? err->code : ST_E_IO;
    memset(ev, 0, sizeof(*ev));
    ev->category = json_string_value(json_object_get(*j, "category"));
    ev->actor = json_string_value(json_object_get(*j, "actor"));
    ev->action = json_string_value(json_object_get(*j, "action"));
    ev->resource = json_string_value(json_object_get(*j, "resource"));
    ev->outcome = json_string_value(json_object_get(*j, "outcome"));
    ev->reason = json_string_value(json_object_get(*j, "reason"));
    ev->details = json_object_get(*j, "details");
    if (!ev->category || !ev->actor || !ev->action || !ev->resource ||
        !ev->outcome)
        return st_err_set(err, ST_E_INTERNAL,
                          "audit outbox: an entry lacks a member");
    return ST_OK;
}

/* Appends the entry of row `id` and deletes the row. */
static ST_MUST_CHECK st_code deliver_row(st_workspace *ws, int64_t id,
                                         st_err *err)
{
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT event FROM audit_outbox WHERE id = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "reading the audit outbox", err);
    sqlite3_bind_int64(q, 1, id);
    int s = sqlite3_step(q);
    char *text = NULL;
    if (s == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        text = t ? strdup(t) : NULL;
    }
    sqlite3_finalize(q);
    if (s == SQLITE_DONE)
        return ST_OK; /* delivered already (by recovery) */
    if (s != SQLITE_ROW)
        return st_catalog_fail(ws, "reading the audit outbox", err);
    if (!text)
        return st_err_errno(err, ST_E_IO, ENOMEM, "audit outbox");
    json_t *j = NULL;
    st_audit_event ev;
    st_code rc = row_event(text, &j, &ev, err);
    free(text);
    if (!rc)
        rc = st_audit_append(ws, &ev, err);
    json_decref(j);
    if (rc)
        return rc;
    /* not flushed on its own: see the header */
    if ((rc = exec(ws, "PRAGMA synchronous=NORMAL", err)))
        return rc;
    if (sqlite3_prepare_v2(db, "DELETE FROM audit_outbox WHERE id = ?", -1, &q,
                           NULL) != SQLITE_OK)
        rc = st_catalog_fail(ws, "clearing the audit outbox", err);
    else {
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) != SQLITE_DONE)
            rc = st_catalog_fail(ws, "clearing the audit outbox", err);
        sqlite3_finalize(q);
    }
    st_code r2 = exec(ws, "PRAGMA synchronous=FULL", rc ? NULL : err);
    /* the entry is in the log: a row left behind is skipped by txn id */
    if (rc)
        st_warn("audit.outbox", "%s", err ? err->msg : "clearing failed");
    return r2;
}

void st_audit_txn_deliver(st_workspace *ws, int64_t id)
{
    st_code rc = ST_OK;
    int seen = 0;
    st_err why;
    st_err_clear(&why);
    for (size_t i = 0; i < nbatch && !rc; i++) {
        seen |= batch[i] == id;
        rc = deliver_row(ws, batch[i], &why);
    }
    if (!rc && !seen)
        rc = deliver_row(ws, id, &why);
    nbatch = 0;
    release();
    /* the change and its entry are both durable, the entry in the
     * catalog's outbox: the command succeeded, and the next open appends
     * the entry to the log */
    if (rc)
        st_warn("audit.outbox",
                "%s: the change is committed, and its audit entry is kept in "
                "the catalog until the next open appends it",
                why.msg);
}

st_code st_audit_txn_run(st_workspace *ws, st_audit_change change, void *arg,
                         const st_audit_event *ev, st_err *err)
{
    int unknown;
    return st_audit_txn_apply(ws, change, arg, ev, &unknown, err);
}

st_code st_audit_txn_apply(st_workspace *ws, st_audit_change change, void *arg,
                           const st_audit_event *ev, int *unknown, st_err *err)
{
    int64_t id = 0;
    *unknown = 0;
    st_code rc = st_audit_txn_begin(ws, err);
    if (rc)
        return rc;
    /* ev is read only now: the change may fill it in (a new version) */
    if ((rc = change(ws, arg, err)) ||
        (rc = st_audit_txn_event(ws, ev, &id, err))) {
        st_audit_txn_rollback(ws);
        return rc;
    }
    if ((rc = st_audit_txn_commit(ws, unknown, err)))
        return rc;
    st_audit_txn_deliver(ws, id);
    return ST_OK;
}

/* ---- recovery -------------------------------------------------------- */

typedef struct seen {
    const char *txn;
    int found;
} seen;

static int find_txn(void *ctx, uint64_t index, const char *line, size_t len)
{
    (void)index;
    seen *s = ctx;
    size_t n = strlen(s->txn);
    for (size_t i = 0; i + n <= len; i++)
        if (line[i] == s->txn[0] && !memcmp(line + i, s->txn, n)) {
            s->found = 1;
            return 1;
        }
    return 0;
}

st_code st_audit_txn_recover(st_workspace *ws, st_err *err)
{
    st_code rc = migrate(ws, err);
    if (rc)
        return rc;
    sqlite3 *db = st_workspace_db(ws);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, txn FROM audit_outbox ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "reading the audit outbox", err);
    int64_t ids[64];
    char txns[64][33];
    size_t n = 0;
    while (n < 64 && sqlite3_step(q) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 1);
        ids[n] = sqlite3_column_int64(q, 0);
        snprintf(txns[n], sizeof(txns[n]), "%s", t ? t : "");
        n++;
    }
    sqlite3_finalize(q);
    if (n == 0)
        return ST_OK;
    /* a process still delivering holds the lock shared: leave its rows */
    char p[PATH_MAX], dir[PATH_MAX];
    if ((rc = lock_path(ws, p, sizeof(p), err)) ||
        (rc = st_workspace_subdir(ws, "audit", dir, sizeof(dir), err)))
        return rc;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "audit outbox lock %s", p);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return ST_OK;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        seen s = {txns[i], 0};
        if ((rc = st_audit_read(dir, find_txn, &s, err)))
            break;
        if (s.found) {
            /* in the log already: only the row is left to clear */
            rc = exec(ws, "PRAGMA synchronous=NORMAL", err);
            if (!rc && sqlite3_prepare_v2(db,
                                          "DELETE FROM audit_outbox "
                                          "WHERE id = ?",
                                          -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(q, 1, ids[i]);
                if (sqlite3_step(q) != SQLITE_DONE)
                    rc = st_catalog_fail(ws, "clearing the audit outbox", err);
                sqlite3_finalize(q);
            } else if (!rc)
                rc = st_catalog_fail(ws, "clearing the audit outbox", err);
            st_code r2 = exec(ws, "PRAGMA synchronous=FULL", rc ? NULL : err);
            if (!rc)
                rc = r2;
        } else {
            rc = deliver_row(ws, ids[i], err);
            if (!rc)
                st_info("audit.outbox", "appended the pending audit entry "
                                        "of an interrupted command");
        }
    }
    close(fd);
    if (rc)
        st_err_prefix(err, "completing an interrupted command's audit entry");
    return rc;
}
