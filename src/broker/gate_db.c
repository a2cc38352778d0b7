/*
 * gate_db.c: the gate's rows in the catalog, and the only SQL of
 * src/broker: signed release policies and the one nonce store that both
 * transports (the local job's socketpair, `serve --broker`'s HTTPS) use.
 *
 * Tables: release_policies(dataset, policy, digest, set_by, set_at,
 * envelope) in the catalog (module "broker"; created by module "job"
 * before the gate had its own, hence IF NOT EXISTS), and
 * nonces(nonce, used, principal, job_id, submitter, scope, spec_digest,
 * hello, envelope) and envelopes(digest, envelope, last_s) in
 * gate-nonces.db beside it (its schema: "the nonce store" below), and
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "broker/gate_internal.h"
#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/crypto.h"
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

/*
 * gate-nonces.db, schema 2 (PRAGMA user_version):
 *
 *   nonces(nonce BLOB PRIMARY KEY, used, principal, job_id, submitter,
 *          scope, spec_digest BLOB, hello BLOB, envelope BLOB) WITHOUT ROWID
 *   envelopes(digest BLOB PRIMARY KEY, envelope TEXT, last_s) WITHOUT ROWID
 *
 * A nonce's first 8 bytes are its issue time (seconds, big-endian), the
 * other 24 are random: the table is one B-tree in issue order, so a new
 * row goes at its end, staleness is a comparison of the key and the sweep
 * of rows over an hour old is a range at its start (no second index). A
 * job's signed spec is the same for every HELLO of that job, so it is kept
 * once, by its SHA-256, and a nonce row names it (250 bytes where the text
 * made each row 1.2 KB, written at HELLO and again at EVIDENCE). An
 * envelope's last_s moves when a HELLO names it and it is over a minute
 * old (a connection that kept or moved it less than a minute ago does not
 * ask again), so a nonce issued at t names one whose last_s >= t - 120;
 * the sweep takes envelopes whose last_s is over an hour and two minutes
 * old: never one a nonce that can still be used (under a minute old)
 * names. Schema 1 (text keys, the envelope in each row) is dropped:
 * the file holds nothing but nonces minutes old.
 */

/* One connection to each workspace's gate-nonces.db per process, used
 * under nonce_lock by every thread: the store's pages stay in its cache
 * (a connection of its own per thread lost them at every other thread's
 * write), and in-process writers wait on the mutex, not in SQLite's busy
 * handler. Another process (a local `job run`) has its own connection
 * and meets SQLite's locking and busy timeout as usual.
 *
 * Checkpoints (copying the WAL's pages into the database file, with two
 * flushes) run on a second connection, in a thread of their own that the
 * commit which made the WAL reach NONCE_CKPT_FRAMES more frames wakes:
 * SQLite's automatic checkpoint ran inside that commit, under the mutex,
 * and every other release waited for its flushes; run after the commit by
 * its thread, it still held that release 7 ms (bench/serve.sh: 4 a second,
 * p99 25 ms). A PASSIVE checkpoint never blocks a writer; the next writer
 * starts the WAL over once all of it is copied.
 *
 * A nonce is written NONCE_PENDING_MS after its HELLO, by the same thread,
 * in one transaction with the others due then; until then it is kept in
 * the process that issued it, which takes it there at EVIDENCE. A
 * release's two transactions (a row at HELLO, the row marked used at
 * EVIDENCE: six fcntl locks and two or more page writes each) were most of
 * the store's cost, and evidence is most often back within that time. A
 * nonce taken before it was written is written as used, never as usable:
 * no process could take it from the file, and a crash before the write
 * loses a nonce that only this process knew (one not yet taken is
 * refused at EVIDENCE as unknown, and the client asks again). What
 * another process of the workspace does not see before the write is a
 * nonce not yet taken: a HELLO here and its EVIDENCE elsewhere within
 * NONCE_PENDING_MS is refused as unknown. */
#define NONCE_STORES 8
#define NONCE_CKPT_FRAMES 1000 /* SQLite's default for its own */
/* past this, the committing thread restarts the WAL itself */
#define NONCE_CKPT_BACKSTOP (NONCE_CKPT_FRAMES * 3 / 2)
#define NONCE_SCHEMA 2
#define NONCE_KEEP_S 3600      /* rows older than this are swept */
#define NONCE_PENDING_MS 200   /* a nonce waits this long to be written */
#define NONCE_PENDING_MAX 4096 /* more waiting: the HELLO writes them */
/* The store's statements, prepared once per connection (parsing them per
 * release cost about as much as running them). */
enum {
    NONCE_PUT,
    NONCE_ENV_PUT,
    NONCE_ENV_GET,
    NONCE_TAKE,
    NONCE_ROW,
    NONCE_WHY,
    NONCE_SWEEP,
    NONCE_ENV_SWEEP,
    NONCE_BEGIN,
    NONCE_COMMIT,
    NONCE_ROLLBACK,
    NONCE_NSQL
};
static const char *const nonce_sql[NONCE_NSQL] = {
    [NONCE_PUT] = "INSERT INTO nonces(nonce,principal,job_id,submitter,"
                  "scope,spec_digest,hello,envelope,used) "
                  "VALUES(?,?,?,?,?,?,?,?,?)",
    /* a write only when the envelope is new or its last_s over a minute
     * old */
    [NONCE_ENV_PUT] = "INSERT INTO envelopes(digest,envelope,last_s) "
                      "VALUES(?1,?2,?3) ON CONFLICT(digest) DO UPDATE SET "
                      "last_s=excluded.last_s WHERE last_s<excluded.last_s-60",
    [NONCE_ENV_GET] = "SELECT envelope FROM envelopes WHERE digest=?",
    /* (no RETURNING: SQLite builds an ephemeral table for it, which cost
     * as much as the update) */
    [NONCE_TAKE] = "UPDATE nonces SET used=?1 WHERE nonce=?2 AND "
                   "principal=?3 AND used=0 AND nonce>=?4",
    [NONCE_ROW] = "SELECT job_id,submitter,scope,spec_digest,hello,envelope "
                  "FROM nonces WHERE nonce=?",
    [NONCE_WHY] = "SELECT used, principal FROM nonces WHERE nonce=?",
    [NONCE_SWEEP] = "DELETE FROM nonces WHERE nonce<?",
    [NONCE_ENV_SWEEP] = "DELETE FROM envelopes WHERE last_s<?",
    [NONCE_BEGIN] = "BEGIN IMMEDIATE",
    [NONCE_COMMIT] = "COMMIT",
    [NONCE_ROLLBACK] = "ROLLBACK",
};
static pthread_mutex_t nonce_lock = PTHREAD_MUTEX_INITIALIZER;
/* taken after nonce_lock when both are held */
static pthread_mutex_t ckpt_lock = PTHREAD_MUTEX_INITIALIZER;
/* A nonce issued by this process, not yet in the file. */
struct nonce_pending {
    st_gate_nonce n;    /* its row (envelope NULL) */
    time_t used;        /* when it was taken here; 0: not yet */
    struct timespec at; /* issued (CLOCK_MONOTONIC) */
};

static struct nonce_store {
    char path[PATH_MAX]; /* changed only with ckpt_lock held too */
    sqlite3 *db;
    sqlite3 *ckpt;  /* the checkpointing connection (ckpt_lock) */
    int frames;     /* the WAL's frames after the last commit */
    int ckpt_next;  /* checkpoint when frames reach this */
    sqlite3_stmt *sql[NONCE_NSQL]; /* prepared on first use */
    unsigned long used;            /* for replacing the least recently used */
    time_t swept;                  /* its last sweep of old rows */
    /* the envelope this connection last kept or refreshed, and when:
     * within the minute after, its row is there (the sweep takes none
     * refreshed in the last hour) and the upsert would write nothing */
    uint8_t env_digest[32];
    time_t env_s;
    /* nonces issued here and not written yet, oldest first */
    struct nonce_pending *pend;
    size_t npend, cap;
} stores[NONCE_STORES];
/* the store's writer (below): its queue, taken last, and alone by it */
static pthread_mutex_t ckq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ckq_cond = PTHREAD_COND_INITIALIZER;
static char ckq_path[NONCE_STORES][PATH_MAX]; /* due, by store; "" none */
static int ckq_write;                /* nonces wait to be written ... */
static struct timespec ckq_write_at; /* ... the first at this time */
static int ckq_running;              /* the writer runs in this process */
static int nonce_forked; /* this is a child of fork: stores[] the parent's */

static unsigned long nonce_clock;

static st_code nonce_fail(sqlite3 *db, const char *what, st_err *err)
{
    return st_err_set(err, ST_E_IO, "nonce store: %s: %s", what,
                      db ? sqlite3_errmsg(db) : "out of memory");
}

/* The key prefix of the time `t`: its 8 bytes, big-endian. */
static void time_prefix(time_t t, uint8_t out[8])
{
    uint64_t v = t > 0 ? (uint64_t)t : 0;
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static time_t prefix_time(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return (time_t)v;
}

/* Creates the tables of schema NONCE_SCHEMA, dropping an older schema's,
 * in one transaction (two processes opening the file at once: the second
 * finds the first's tables). */
static int nonce_schema(sqlite3 *db)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return 0;
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    int ok = version >= 0;
    if (ok && version < NONCE_SCHEMA) {
        char sql[900];
        snprintf(sql, sizeof(sql),
                 "DROP TABLE IF EXISTS nonces;"
                 "DROP TABLE IF EXISTS envelopes;"
                 "CREATE TABLE nonces ("
                 " nonce BLOB PRIMARY KEY,"
                 " used INTEGER NOT NULL DEFAULT 0,"
                 " principal TEXT NOT NULL,"
                 " job_id TEXT NOT NULL,"
                 " submitter TEXT NOT NULL,"
                 " scope TEXT NOT NULL,"
                 " spec_digest BLOB NOT NULL,"
                 " hello BLOB NOT NULL,"
                 " envelope BLOB NOT NULL) WITHOUT ROWID;"
                 "CREATE TABLE envelopes ("
                 " digest BLOB PRIMARY KEY,"
                 " envelope TEXT NOT NULL,"
                 " last_s INTEGER NOT NULL) WITHOUT ROWID;"
                 "PRAGMA user_version=%d;",
                 NONCE_SCHEMA);
        ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    }
    if (sqlite3_exec(db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) !=
        SQLITE_OK)
        ok = 0;
    return ok;
}

static int nonce_wal_hook(void *arg, sqlite3 *db, const char *name,
                          int frames)
{
    (void)db;
    (void)name;
    ((struct nonce_store *)arg)->frames = frames;
    return SQLITE_OK;
}

static st_code nonce_write_pending(struct nonce_store *ns, int all,
                                   st_err *err);

/* A fork waits until the writer holds none of the store's mutexes (nor,
 * then, is inside SQLite for the store): a child that found one held by a
 * thread it does not have would wait for it forever. The child has no
 * writer, and its connections and waiting nonces are its parent's: used
 * there, SQLite's locks would be shared and a nonce the parent takes
 * written as unused, so the child leaves them (nonce_db). */
static void nonce_fork_prepare(void)
{
    pthread_mutex_lock(&nonce_lock);
    pthread_mutex_lock(&ckpt_lock);
    pthread_mutex_lock(&ckq_lock);
}

static void nonce_fork_parent(void)
{
    pthread_mutex_unlock(&ckq_lock);
    pthread_mutex_unlock(&ckpt_lock);
    pthread_mutex_unlock(&nonce_lock);
}

static void nonce_fork_child(void)
{
    ckq_running = 0;
    nonce_forked = 1;
    nonce_fork_parent();
}

static void nonce_fork_register(void)
{
    (void)pthread_atfork(nonce_fork_prepare, nonce_fork_parent,
                         nonce_fork_child);
}

/* The workspace's nonce store; nonce_lock held. */
static st_code nonce_db(st_workspace *ws, struct nonce_store **out, st_err *err)
{
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&fork_once, nonce_fork_register);
    if (nonce_forked) {
        /* the parent's connections and nonces: left, not closed */
        for (size_t i = 0; i < NONCE_STORES; i++)
            free(stores[i].pend);
        memset(stores, 0, sizeof(stores));
        nonce_forked = 0;
    }
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
    /* the one replaced writes its nonces first (not written, they would be
     * lost: their EVIDENCE refused as unknown) */
    if (s->db)
        (void)nonce_write_pending(s, 1, NULL);
    free(s->pend);
    pthread_mutex_lock(&ckpt_lock);
    if (s->ckpt)
        sqlite3_close_v2(s->ckpt);
    for (size_t i = 0; i < NONCE_NSQL; i++)
        sqlite3_finalize(s->sql[i]);
    if (s->db)
        sqlite3_close_v2(s->db);
    memset(s, 0, sizeof(*s));
    pthread_mutex_unlock(&ckpt_lock);
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
                     "PRAGMA synchronous=NORMAL;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        !nonce_schema(db)) {
        rc = nonce_fail(db, "creating", err);
        sqlite3_close(db);
        return rc;
    }
    /* the WAL's size after each commit, instead of SQLite's automatic
     * checkpoint (nonce_checkpoint) */
    sqlite3_wal_hook(db, nonce_wal_hook, s);
    pthread_mutex_lock(&ckpt_lock);
    snprintf(s->path, sizeof(s->path), "%s", path);
    pthread_mutex_unlock(&ckpt_lock);
    s->db = db;
    s->used = ++nonce_clock;
    *out = s;
    return ST_OK;
}

/* Whether the commit just made calls for a checkpoint; nonce_lock held.
 * Tried again only NONCE_CKPT_FRAMES frames later when one could not
 * copy everything (a reader held an older snapshot). */
static int nonce_ckpt_due(struct nonce_store *ns)
{
    if (ns->ckpt_next == 0 || ns->frames < ns->ckpt_next - NONCE_CKPT_FRAMES)
        ns->ckpt_next = NONCE_CKPT_FRAMES; /* new, or the WAL started over */
    if (ns->frames < ns->ckpt_next)
        return 0;
    ns->ckpt_next = ns->frames + NONCE_CKPT_FRAMES;
    return 1;
}

/* A checkpoint of the store at `path` (copied while nonce_lock was
 * held), on its second connection, called without nonce_lock. First a
 * PASSIVE one, while the other threads go on: it copies the WAL's pages
 * into the database file and flushes both. It cannot empty the WAL while
 * they write (a writer starts the WAL over only once all of it is
 * copied, so without the second step it grew by gigabytes an hour), so
 * then, with nonce_lock held, a RESTART one copies the few frames
 * committed meanwhile and lets the next writer start the WAL over. It
 * does not wait for another process's readers (busy: left for the next
 * time). A failure is left for the next one: the WAL only grows
 * meanwhile. */
static sqlite3 *nonce_ckpt_conn(struct nonce_store *ns);
static void nonce_restart(struct nonce_store *ns);

static void nonce_checkpoint(struct nonce_store *ns, const char *path)
{
    pthread_mutex_lock(&ckpt_lock);
    sqlite3 *c = strcmp(ns->path, path) ? NULL /* replaced meanwhile */
                                         : nonce_ckpt_conn(ns);
    if (c)
        (void)sqlite3_wal_checkpoint_v2(c, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                        NULL, NULL);
    pthread_mutex_unlock(&ckpt_lock);
    pthread_mutex_lock(&nonce_lock);
    pthread_mutex_lock(&ckpt_lock);
    if (!strcmp(ns->path, path))
        nonce_restart(ns);
    pthread_mutex_unlock(&ckpt_lock);
    pthread_mutex_unlock(&nonce_lock);
}

/* The store's checkpointing connection, opened if it is not; NULL when it
 * cannot be (a connection that failed to open is closed, and opened again
 * next time: kept, it would never checkpoint). ckpt_lock held. */
static sqlite3 *nonce_ckpt_conn(struct nonce_store *ns)
{
    if (!ns->ckpt) {
        if (sqlite3_open_v2(ns->path, &ns->ckpt,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                            NULL) == SQLITE_OK)
            (void)sqlite3_exec(ns->ckpt, "PRAGMA synchronous=NORMAL", NULL,
                               NULL, NULL);
        else {
            sqlite3_close(ns->ckpt);
            ns->ckpt = NULL;
        }
    }
    return ns->ckpt;
}

/* A RESTART checkpoint: every frame copied, and the next writer starts the
 * WAL over. nonce_lock and ckpt_lock held. */
static void nonce_restart(struct nonce_store *ns)
{
    sqlite3 *c = nonce_ckpt_conn(ns);
    if (c && sqlite3_wal_checkpoint_v2(c, NULL, SQLITE_CHECKPOINT_RESTART,
                                       NULL, NULL) == SQLITE_OK)
        ns->frames = 0;
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

/* Runs the store's statement `which` that returns no row; nonce_lock
 * held. */
static int nonce_exec(struct nonce_store *ns, int which)
{
    sqlite3_stmt *st = NULL;
    int rc = nonce_prepare(ns, which, &st);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    nonce_done(st);
    return rc;
}

/* The store's writer: a thread that writes the nonces due and runs the
 * checkpoints the commits made due, started with the first (again in a
 * child of fork: the thread is its parent's). ckq_lock is taken last, and
 * alone by the thread. */

static long ms_since(const struct timespec *t, const struct timespec *now)
{
    return (long)(now->tv_sec - t->tv_sec) * 1000 +
           (now->tv_nsec - t->tv_nsec) / 1000000;
}

static void ms_after(const struct timespec *t, long ms, struct timespec *out)
{
    out->tv_sec = t->tv_sec + ms / 1000;
    out->tv_nsec = t->tv_nsec + (ms % 1000) * 1000000;
    if (out->tv_nsec >= 1000000000) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000;
    }
}

/* Whether a waiting nonce is written now: taken, or issued
 * NONCE_PENDING_MS before `now`. */
static int pending_due(const struct nonce_pending *p,
                       const struct timespec *now)
{
    return p->used || ms_since(&p->at, now) >= NONCE_PENDING_MS;
}

/* Writes the store's nonces that are due, or all of them, in one
 * transaction; nonce_lock held. On a failure none is written and all
 * stay (a taken one stays taken). */
static st_code nonce_write_pending(struct nonce_store *ns, int all,
                                   st_err *err)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    size_t first = 0; /* the first to write */
    while (first < ns->npend && !all && !pending_due(&ns->pend[first], &now))
        first++;
    if (first == ns->npend)
        return ST_OK;
    sqlite3_stmt *st = NULL;
    st_code rc = ST_OK;
    if (nonce_exec(ns, NONCE_BEGIN) != SQLITE_OK)
        return nonce_fail(ns->db, "writing nonces", err);
    if (nonce_prepare(ns, NONCE_PUT, &st) != SQLITE_OK)
        rc = nonce_fail(ns->db, "writing nonces", err);
    for (size_t i = 0; rc == ST_OK && i < ns->npend; i++) {
        const struct nonce_pending *p = &ns->pend[i];
        if (!all && !pending_due(p, &now))
            continue;
        uint8_t hello[64];
        memcpy(hello, p->n.hello.x25519, 32);
        memcpy(hello + 32, p->n.hello.ed25519, 32);
        sqlite3_bind_blob(st, 1, p->n.nonce, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->n.principal, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, p->n.job_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->n.submitter, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, p->n.scope, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, p->n.spec_digest, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, hello, 64, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 8, p->n.envelope_digest, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)p->used);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = nonce_fail(ns->db, "writing nonces", err);
        nonce_done(st);
    }
    if (rc == ST_OK && nonce_exec(ns, NONCE_COMMIT) != SQLITE_OK)
        rc = nonce_fail(ns->db, "writing nonces", err);
    if (rc != ST_OK) {
        (void)nonce_exec(ns, NONCE_ROLLBACK);
        return rc;
    }
    size_t kept = 0;
    for (size_t i = 0; i < ns->npend; i++)
        if (!all && !pending_due(&ns->pend[i], &now))
            ns->pend[kept++] = ns->pend[i];
    ns->npend = kept;
    return ST_OK;
}

static void *nonce_writer(void *arg);

/* Starts the writer in this process unless it runs; ckq_lock held. 0 when
 * it cannot be started. */
static int nonce_writer_running(void)
{
    if (ckq_running)
        return 1;
    /* signals stay with the threads that wait for them */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    pthread_attr_t at;
    int ok = pthread_attr_init(&at) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&th, &at, nonce_writer, NULL) == 0;
        pthread_attr_destroy(&at);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ok) {
        ckq_running = 1;
        memset(ckq_path, 0, sizeof(ckq_path));
        ckq_write = 0;
    }
    return ok;
}

/* Hands the checkpoint of `ns` (its path as of now: nonce_lock held) to
 * the writer; 0 when there is none and none can be started (the caller
 * runs it, after letting go of nonce_lock). */
static int nonce_checkpoint_later(struct nonce_store *ns)
{
    pthread_mutex_lock(&ckq_lock);
    int queued = nonce_writer_running();
    if (queued) {
        memcpy(ckq_path[ns - stores], ns->path, PATH_MAX);
        pthread_cond_signal(&ckq_cond);
    }
    pthread_mutex_unlock(&ckq_lock);
    return queued;
}

/* Asks the writer for a turn at the nonces at `at` (or earlier, if one is
 * asked for earlier already); 0 when there is no writer. */
static int nonce_write_at(struct timespec at)
{
    pthread_mutex_lock(&ckq_lock);
    int queued = nonce_writer_running();
    if (queued && (!ckq_write || at.tv_sec < ckq_write_at.tv_sec ||
                   (at.tv_sec == ckq_write_at.tv_sec &&
                    at.tv_nsec < ckq_write_at.tv_nsec))) {
        ckq_write = 1;
        ckq_write_at = at;
        pthread_cond_signal(&ckq_cond);
    }
    pthread_mutex_unlock(&ckq_lock);
    return queued;
}

/* Asks the writer to write the nonces of `ns` when the oldest is due (the
 * ones taken meanwhile with it; nonce_lock held); 0 when there is no
 * writer (the caller writes them). */
static int nonce_write_later(struct nonce_store *ns)
{
    if (!ns->npend)
        return 1;
    struct timespec at;
    ms_after(&ns->pend[0].at, NONCE_PENDING_MS, &at);
    return nonce_write_at(at);
}

/* The writer's turn at the nonces: each store's that are due, then a
 * checkpoint that their commit made due. A failure is left for the next
 * turn (the nonces stay, and a HELLO writes them itself once there are
 * NONCE_PENDING_MAX). */
static void nonce_write_due(void)
{
    pthread_mutex_lock(&nonce_lock);
    for (size_t i = 0; i < NONCE_STORES; i++) {
        struct nonce_store *ns = &stores[i];
        if (!ns->db || !ns->npend)
            continue;
        if (nonce_write_pending(ns, 0, NULL) == ST_OK)
            (void)nonce_write_later(ns);
        else {
            /* tried again a turn later, not at once (the first is
             * overdue: the writer would spin on a full disk) */
            struct timespec at;
            clock_gettime(CLOCK_MONOTONIC, &at);
            ms_after(&at, NONCE_PENDING_MS, &at);
            (void)nonce_write_at(at);
        }
        if (nonce_ckpt_due(ns))
            (void)nonce_checkpoint_later(ns);
    }
    pthread_mutex_unlock(&nonce_lock);
}

static void *nonce_writer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ckq_lock);
    for (;;) {
        size_t i = 0;
        while (i < NONCE_STORES && !ckq_path[i][0])
            i++;
        if (i < NONCE_STORES) {
            char path[PATH_MAX];
            memcpy(path, ckq_path[i], sizeof(path));
            ckq_path[i][0] = '\0';
            pthread_mutex_unlock(&ckq_lock);
            nonce_checkpoint(&stores[i], path);
            pthread_mutex_lock(&ckq_lock);
            continue;
        }
        if (!ckq_write) {
            pthread_cond_wait(&ckq_cond, &ckq_lock);
            continue;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ms_since(&ckq_write_at, &now) < 0) {
            pthread_cond_clockwait(&ckq_cond, &ckq_lock, CLOCK_MONOTONIC,
                                   &ckq_write_at);
            continue;
        }
        ckq_write = 0;
        pthread_mutex_unlock(&ckq_lock);
        nonce_write_due();
        pthread_mutex_lock(&ckq_lock);
    }
    return NULL;
}

/* Lets go of nonce_lock after a write to `ns` (NULL: none was open): a
 * checkpoint the write made due goes to the checkpointer, or is run here
 * once the mutex is free. */
static void nonce_unlock(struct nonce_store *ns)
{
    if (ns && ns->frames >= NONCE_CKPT_BACKSTOP) {
        /* the writer has fallen behind (its RESTART waits for nonce_lock,
         * which busy threads can keep from it): the WAL's bound holds
         * whatever the scheduling */
        pthread_mutex_lock(&ckpt_lock);
        nonce_restart(ns);
        pthread_mutex_unlock(&ckpt_lock);
    }
    char path[PATH_MAX];
    int here = ns && nonce_ckpt_due(ns) && !nonce_checkpoint_later(ns);
    if (here)
        snprintf(path, sizeof(path), "%s", ns->path);
    pthread_mutex_unlock(&nonce_lock);
    if (here)
        nonce_checkpoint(ns, path);
}

/* Old rows go as new ones come (about once a minute per store): the
 * tables hold minutes, not history. A failed sweep is retried next
 * minute. nonce_lock held. */
static void nonce_sweep(struct nonce_store *ns, time_t now)
{
    if (now - ns->swept < 60)
        return;
    ns->swept = now;
    uint8_t cut[8];
    time_prefix(now - NONCE_KEEP_S, cut);
    sqlite3_stmt *st = NULL;
    if (nonce_prepare(ns, NONCE_SWEEP, &st) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, cut, sizeof(cut), SQLITE_STATIC);
        (void)sqlite3_step(st);
        nonce_done(st);
    }
    /* a nonce issued at t named its envelope with last_s >= t - 120 (at
     * the top of this section) */
    if (nonce_prepare(ns, NONCE_ENV_SWEEP, &st) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(now - NONCE_KEEP_S - 120));
        (void)sqlite3_step(st);
        nonce_done(st);
    }
}

st_code st_gate_db_nonce_put(st_workspace *ws, st_gate_nonce *n,
                             const char *envelope, size_t envelope_len,
                             st_err *err)
{
    time_prefix(n->issued, n->nonce);
    st_code rc = st_random(n->nonce + 8, 24, err);
    if (rc != ST_OK)
        return rc;
    pthread_mutex_lock(&nonce_lock);
    struct nonce_store *ns = NULL;
    sqlite3_stmt *st = NULL;
    rc = nonce_db(ws, &ns, err);
    sqlite3 *db = ns ? ns->db : NULL;
    if (rc == ST_OK)
        nonce_sweep(ns, n->issued);
    /* the envelope first: a nonce row never names one that is not kept
     * (unless this connection kept or refreshed it within the minute) */
    int kept = rc == ST_OK && ns->env_s &&
               n->issued - ns->env_s >= 0 && n->issued - ns->env_s < 60 &&
               !memcmp(ns->env_digest, n->envelope_digest, 32);
    if (rc == ST_OK && !kept &&
        nonce_prepare(ns, NONCE_ENV_PUT, &st) != SQLITE_OK)
        rc = nonce_fail(db, "keeping the signed spec", err);
    if (rc == ST_OK && !kept) {
        sqlite3_bind_blob(st, 1, n->envelope_digest, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, envelope, (int)envelope_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)n->issued);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = nonce_fail(db, "keeping the signed spec", err);
        nonce_done(st);
        if (rc == ST_OK) {
            /* the row's last_s is now within a minute of n->issued */
            memcpy(ns->env_digest, n->envelope_digest, 32);
            ns->env_s = n->issued;
        }
    }
    /* the row waits here for the writer (NONCE_PENDING_MS); with too
     * many waiting, or no writer, it is written now */
    if (rc == ST_OK && ns->npend >= NONCE_PENDING_MAX)
        rc = nonce_write_pending(ns, 1, err);
    if (rc == ST_OK && ns->npend == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 64;
        struct nonce_pending *p = realloc(ns->pend, cap * sizeof(*p));
        if (p) {
            ns->pend = p;
            ns->cap = cap;
        } else
            rc = st_err_set(err, ST_E_IO, "issuing a nonce: out of memory");
    }
    if (rc == ST_OK) {
        struct nonce_pending *p = &ns->pend[ns->npend++];
        memset(p, 0, sizeof(*p));
        p->n = *n;
        p->n.envelope = NULL;
        clock_gettime(CLOCK_MONOTONIC, &p->at);
        if (!nonce_write_later(ns))
            rc = nonce_write_pending(ns, 1, err);
    }
    nonce_unlock(ns);
    return rc;
}

st_code st_gate_db_nonce_write(st_workspace *ws, st_err *err)
{
    pthread_mutex_lock(&nonce_lock);
    struct nonce_store *ns = NULL;
    st_code rc = nonce_db(ws, &ns, err);
    if (rc == ST_OK)
        rc = nonce_write_pending(ns, 1, err);
    nonce_unlock(ns);
    return rc;
}

/* Takes a nonce still waiting in this process: ST_OK with *out filled,
 * ST_E_DENIED saying why not, or ST_E_NOTFOUND when it is not here (the
 * file has it, or nobody). nonce_lock held. */
static st_code nonce_take_pending(struct nonce_store *ns,
                                  const uint8_t nonce[32],
                                  const char *principal,
                                  const uint8_t fresh[8], time_t now,
                                  st_gate_nonce *out, st_err *err)
{
    struct nonce_pending *p = NULL;
    for (size_t i = 0; !p && i < ns->npend; i++)
        if (!memcmp(ns->pend[i].n.nonce, nonce, 32))
            p = &ns->pend[i];
    if (!p)
        return ST_E_NOTFOUND;
    /* the refusals in the order of nonce_why's */
    const char *why = NULL;
    if (strcmp(p->n.principal, principal))
        why = "issued to another principal";
    else if (p->used)
        why = "already used (replay)";
    else if (memcmp(p->n.nonce, fresh, 8) < 0)
        why = "stale";
    if (why)
        return st_err_set(err, ST_E_DENIED, "nonce %s", why);
    p->used = now;
    *out = p->n;
    out->envelope = NULL;
    return ST_OK;
}

/* Why the nonce was not taken (for the audit log); nonce_lock held. */
static const char *nonce_why(struct nonce_store *ns, const uint8_t nonce[32],
                             const char *principal)
{
    const char *why = "unknown to this broker";
    sqlite3_stmt *st = NULL;
    if (nonce_prepare(ns, NONCE_WHY, &st) != SQLITE_OK)
        return why;
    sqlite3_bind_blob(st, 1, nonce, 32, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *who = (const char *)sqlite3_column_text(st, 1);
        if (who && strcmp(who, principal))
            why = "issued to another principal";
        else if (sqlite3_column_int64(st, 0))
            why = "already used (replay)";
        else
            why = "stale";
    }
    nonce_done(st);
    return why;
}

/* Copies the text column i (at most cap - 1 bytes); 0 when it is not
 * there or too long. */
static int text_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (!t || n >= cap)
        return 0;
    memcpy(out, t, n + 1);
    return 1;
}

static int blob_col(sqlite3_stmt *st, int i, uint8_t *out, size_t len)
{
    const void *b = sqlite3_column_blob(st, i);
    if (!b || (size_t)sqlite3_column_bytes(st, i) != len)
        return 0;
    memcpy(out, b, len);
    return 1;
}

/* The row of a nonce just taken, into *out; nonce_lock held, in the
 * taking transaction. */
static st_code nonce_row(struct nonce_store *ns, const uint8_t nonce[32],
                         st_gate_nonce *out, st_err *err)
{
    sqlite3_stmt *st = NULL;
    if (nonce_prepare(ns, NONCE_ROW, &st) != SQLITE_OK)
        return nonce_fail(ns->db, "using a nonce", err);
    sqlite3_bind_blob(st, 1, nonce, 32, SQLITE_STATIC);
    st_code rc = ST_OK;
    int step = sqlite3_step(st);
    uint8_t hello[64];
    if (step != SQLITE_ROW)
        rc = nonce_fail(ns->db, "using a nonce", err);
    else if (!text_col(st, 0, out->job_id, sizeof(out->job_id)) ||
             !text_col(st, 1, out->submitter, sizeof(out->submitter)) ||
             !text_col(st, 2, out->scope, sizeof(out->scope)) ||
             !blob_col(st, 3, out->spec_digest, 32) ||
             !blob_col(st, 4, hello, 64) ||
             !blob_col(st, 5, out->envelope_digest, 32))
        rc = st_err_set(err, ST_E_IO, "reading a nonce: malformed row");
    else {
        memcpy(out->hello.x25519, hello, 32);
        memcpy(out->hello.ed25519, hello + 32, 32);
        memcpy(out->nonce, nonce, 32);
        out->issued = prefix_time(nonce);
    }
    nonce_done(st);
    return rc;
}

st_code st_gate_db_nonce_take(st_workspace *ws, const uint8_t nonce[32],
                              const char *principal, long max_age_s,
                              st_gate_nonce *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    uint8_t fresh[8];
    time_t now = time(NULL);
    time_prefix(now - max_age_s, fresh);
    pthread_mutex_lock(&nonce_lock);
    struct nonce_store *ns = NULL;
    sqlite3_stmt *st = NULL;
    st_code rc = nonce_db(ws, &ns, err);
    sqlite3 *db = ns ? ns->db : NULL;
    if (rc == ST_OK) {
        /* one this process issued and has not written yet */
        st_code here = nonce_take_pending(ns, nonce, principal, fresh, now,
                                          out, err);
        if (here != ST_E_NOTFOUND) {
            pthread_mutex_unlock(&nonce_lock);
            return here;
        }
    }
    /* one transaction: the row is marked used and read, or neither */
    if (rc == ST_OK && nonce_exec(ns, NONCE_BEGIN) != SQLITE_OK)
        rc = nonce_fail(db, "using a nonce", err);
    else if (rc == ST_OK && nonce_prepare(ns, NONCE_TAKE, &st) != SQLITE_OK) {
        rc = nonce_fail(db, "using a nonce", err);
        (void)nonce_exec(ns, NONCE_ROLLBACK);
    }
    if (rc != ST_OK) {
        pthread_mutex_unlock(&nonce_lock);
        return rc;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
    sqlite3_bind_blob(st, 2, nonce, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, principal, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, fresh, sizeof(fresh), SQLITE_STATIC);
    int found = 0;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = nonce_fail(db, "using a nonce", err);
    else
        found = sqlite3_changes(db) == 1;
    nonce_done(st);
    if (rc == ST_OK && found) {
        snprintf(out->principal, sizeof(out->principal), "%s", principal);
        rc = nonce_row(ns, nonce, out, err);
    }
    const char *why = rc == ST_OK && !found ? nonce_why(ns, nonce, principal)
                                            : NULL;
    if (rc == ST_OK && nonce_exec(ns, NONCE_COMMIT) != SQLITE_OK)
        rc = nonce_fail(db, "using a nonce", err);
    if (rc != ST_OK)
        (void)nonce_exec(ns, NONCE_ROLLBACK);
    nonce_unlock(ns);
    if (rc != ST_OK) {
        st_gate_nonce_clear(out);
        return rc;
    }
    if (why)
        return st_err_set(err, ST_E_DENIED, "nonce %s", why);
    return ST_OK;
}

st_code st_gate_db_nonce_envelope(st_workspace *ws, st_gate_nonce *n,
                                  st_err *err)
{
    free(n->envelope);
    n->envelope = NULL;
    pthread_mutex_lock(&nonce_lock);
    struct nonce_store *ns = NULL;
    sqlite3_stmt *st = NULL;
    st_code rc = nonce_db(ws, &ns, err);
    sqlite3 *db = ns ? ns->db : NULL;
    if (rc == ST_OK && nonce_prepare(ns, NONCE_ENV_GET, &st) != SQLITE_OK)
        rc = nonce_fail(db, "reading the signed spec", err);
    if (rc == ST_OK) {
        sqlite3_bind_blob(st, 1, n->envelope_digest, 32, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            n->envelope = column(st, 0);
            if (!n->envelope)
                rc = st_err_set(err, ST_E_IO, "out of memory");
        } else if (step == SQLITE_DONE)
            /* the sweep keeps it an hour past the last nonce that
             * named it: not reached while the nonce is fresh, unless the
             * file was edited */
            rc = st_err_set(err, ST_E_IO,
                            "nonce store: the nonce's signed spec is not kept");
        else
            rc = nonce_fail(db, "reading the signed spec", err);
        nonce_done(st);
    }
    pthread_mutex_unlock(&nonce_lock);
    return rc;
}

void st_gate_nonce_clear(st_gate_nonce *n)
{
    free(n->envelope);
    memset(n, 0, sizeof(*n));
}
