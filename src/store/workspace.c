/*
 * workspace.c: the workspace directory, its creation (staged, then renamed
 * into place), opening with permission checks, and the SQLite catalog
 * (connection settings and per-module migrations). See
 * include/sealtrain/workspace.h.
 *
 * Must never: loosen or "fix" permissions, follow a symlinked workspace,
 * leave a half-created workspace at the final path, or store anything
 * secret in the catalog (key material lives in keys/, wrapped).
 */
#include "sealtrain/workspace.h"
#include "audit/txn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sealtrain/audit.h"
#include "sealtrain/fs.h"
#include "sealtrain/log.h"
#include "store/catalog.h"
#include "store/config.h"
#include "store/workspace_internal.h"

static const char *const subdirs[] = {"blobs", "datasets", "jobs", "models",
                                      "audit", "logs",     "keys", "tmp"};
#define NSUBDIRS (sizeof(subdirs) / sizeof(subdirs[0]))

#define CONFIG_MAX (64 * 1024)

st_code st_workspace_default_dir(const char *explicit_dir, char *out,
                                 size_t cap, st_err *err)
{
    const char *d = explicit_dir;
    if (!d || !*d)
        d = getenv("SEALTRAIN_WORKSPACE");
    int n;
    if (d && *d) {
        n = snprintf(out, cap, "%s", d);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return st_err_set(err, ST_E_USAGE,
                              "no workspace: give --workspace DIR or set "
                              "SEALTRAIN_WORKSPACE (HOME is not set)");
        n = snprintf(out, cap, "%s/.sealtrain", home);
    }
    if (n < 0 || (size_t)n >= cap)
        return st_err_set(err, ST_E_USAGE, "workspace path too long");
    /* "ws/" and "ws" are the same workspace; the staging name needs the
     * last component */
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = '\0';
    return ST_OK;
}

const char *st_workspace_dir(const st_workspace *ws)
{
    return ws->dir;
}

struct sqlite3 *st_workspace_db(st_workspace *ws)
{
    return ws->db;
}

const st_protect *st_workspace_protect(const st_workspace *ws)
{
    return &ws->cfg.protect;
}

const char *st_workspace_created(const st_workspace *ws)
{
    return ws->cfg.created;
}

st_code st_workspace_subdir(const st_workspace *ws, const char *name, char *out,
                            size_t cap, st_err *err)
{
    for (size_t i = 0; i < NSUBDIRS; i++)
        if (strcmp(subdirs[i], name) == 0)
            return st_fs_join(out, cap, ws->dir, name, err);
    return st_err_set(err, ST_E_USAGE, "no workspace subdirectory \"%s\"",
                      name);
}

st_code st_workspace_path(const st_workspace *ws, const char *sub,
                          const char *file, char *out, size_t cap, st_err *err)
{
    int n = sub ? snprintf(out, cap, "%s/%s/%s", ws->dir, sub, file)
                : snprintf(out, cap, "%s/%s", ws->dir, file);
    if (n < 0 || (size_t)n >= cap)
        return st_err_set(err, ST_E_USAGE, "path too long under %s", ws->dir);
    return ST_OK;
}

/* --- the SQLite catalog ------------------------------------------------ */

static ST_MUST_CHECK st_code db_err(st_workspace *ws, st_err *err,
                                    const char *what)
{
    int code = sqlite3_extended_errcode(ws->db);
    st_code c =
        (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB
            ? ST_E_INPUT
            : ST_E_IO;
    return st_err_set(err, c, "catalog %s/catalog.db: %s: %s", ws->dir, what,
                      sqlite3_errmsg(ws->db));
}

static ST_MUST_CHECK st_code db_exec(st_workspace *ws, const char *sql,
                                     const char *what, st_err *err)
{
    if (sqlite3_exec(ws->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_err(ws, err, what);
    return ST_OK;
}

static ST_MUST_CHECK st_code catalog_open(st_workspace *ws, int create,
                                          st_err *err)
{
    char path[PATH_MAX];
    st_code rc =
        st_workspace_path(ws, NULL, "catalog.db", path, sizeof(path), err);
    if (rc)
        return rc;
    if (create) {
        /* SQLite creates files 0644 and gives the -wal/-shm files the mode
         * of the database file: create it 0600 ourselves first */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return st_err_errno(err, ST_E_IO, errno, "create %s", path);
        close(fd);
    }
    if (sqlite3_open_v2(path, &ws->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = st_err_set(err, ST_E_IO, "cannot open catalog %s: %s", path,
                        ws->db ? sqlite3_errmsg(ws->db) : "out of memory");
        sqlite3_close(ws->db);
        ws->db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(ws->db, 10000);
    sqlite3_db_config(ws->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(ws->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    /* synchronous=FULL: a commit is durable when it returns, which the
     * audit log and key state rely on */
    if ((rc = db_exec(ws, "PRAGMA foreign_keys=ON", "enable foreign keys",
                      err)) ||
        (rc = db_exec(ws, "PRAGMA synchronous=FULL", "set synchronous", err)))
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ws->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(ws, err, "set WAL mode");
    int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
             strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!ok)
        return db_err(ws, err, "switch to WAL mode");
    return db_exec(ws,
                   "CREATE TABLE IF NOT EXISTS schema_versions("
                   "module TEXT PRIMARY KEY, version INTEGER NOT NULL)",
                   "create schema_versions", err);
}

int st_catalog_prepare(st_workspace *ws, const char *sql, sqlite3_stmt **st)
{
    size_t i, free_slot = ST_CATALOG_STMTS;
    for (i = 0; i < ST_CATALOG_STMTS; i++) {
        if (ws->stmts[i].sql == sql)
            break;
        if (!ws->stmts[i].sql && free_slot == ST_CATALOG_STMTS)
            free_slot = i;
    }
    if (i < ST_CATALOG_STMTS && !ws->stmts[i].busy) {
        ws->stmts[i].busy = 1;
        *st = ws->stmts[i].st;
        return SQLITE_OK;
    }
    if (i == ST_CATALOG_STMTS && free_slot < ST_CATALOG_STMTS) {
        int r = sqlite3_prepare_v3(ws->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                   st, NULL);
        if (r == SQLITE_OK) {
            ws->stmts[free_slot].sql = sql;
            ws->stmts[free_slot].st = *st;
            ws->stmts[free_slot].busy = 1;
        }
        return r;
    }
    /* in use further up the stack, or no room: one of its own */
    return sqlite3_prepare_v2(ws->db, sql, -1, st, NULL);
}

void st_catalog_finish(st_workspace *ws, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < ST_CATALOG_STMTS; i++)
        if (ws->stmts[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            ws->stmts[i].busy = 0;
            return;
        }
    sqlite3_finalize(st);
}

uint64_t st_catalog_snapshot_begin(st_workspace *ws)
{
    static uint64_t ids;
    if (!sqlite3_get_autocommit(ws->db) ||
        sqlite3_exec(ws->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return 0;
    ws->snapshot = __atomic_add_fetch(&ids, 1, __ATOMIC_RELAXED);
    return ws->snapshot;
}

void st_catalog_snapshot_end(st_workspace *ws, uint64_t id)
{
    if (!id || id != ws->snapshot)
        return;
    ws->snapshot = 0;
    /* nothing was written: COMMIT only ends the read */
    if (sqlite3_exec(ws->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        sqlite3_exec(ws->db, "ROLLBACK", NULL, NULL, NULL);
}

uint64_t st_catalog_snapshot(const st_workspace *ws)
{
    /* a transaction that ended under it (a failed statement can roll it
     * back) is no snapshot any more */
    return ws->snapshot && !sqlite3_get_autocommit(ws->db) ? ws->snapshot : 0;
}

static uint64_t catalog_epoch = 1;

uint64_t st_catalog_epoch(void)
{
    return __atomic_load_n(&catalog_epoch, __ATOMIC_SEQ_CST);
}

uint64_t st_catalog_epoch_observe(st_workspace *ws)
{
    sqlite3_stmt *st = NULL;
    if (st_catalog_prepare(ws, "PRAGMA data_version", &st) != SQLITE_OK)
        return 0;
    int r = sqlite3_step(st);
    int64_t dv = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    st_catalog_finish(ws, st);
    if (r != SQLITE_ROW)
        return 0;
    int64_t changes = sqlite3_total_changes64(ws->db);
    if (!ws->epoch_seen || dv != ws->epoch_dv || changes != ws->epoch_changes) {
        __atomic_add_fetch(&catalog_epoch, 1, __ATOMIC_SEQ_CST);
        ws->epoch_seen = 1;
        ws->epoch_dv = dv;
        ws->epoch_changes = changes;
    }
    return st_catalog_epoch();
}

static void catalog_close(st_workspace *ws)
{
    for (size_t i = 0; i < ST_CATALOG_STMTS; i++)
        sqlite3_finalize(ws->stmts[i].st);
    memset(ws->stmts, 0, sizeof(ws->stmts));
    memset(ws->current, 0, sizeof(ws->current));
    ws->epoch_seen = 0;
    if (ws->db) {
        sqlite3_close_v2(ws->db);
        ws->db = NULL;
    }
}

static ST_MUST_CHECK st_code read_version(st_workspace *ws, const char *module,
                                          int64_t *version, st_err *err)
{
    sqlite3_stmt *st = NULL;
    if (st_catalog_prepare(ws,
                           "SELECT version FROM schema_versions "
                           "WHERE module = ?1",
                           &st) != SQLITE_OK)
        return db_err(ws, err, "read schema version");
    sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    *version = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    st_catalog_finish(ws, st);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return db_err(ws, err, "read schema version");
    return ST_OK;
}

st_code st_catalog_version(st_workspace *ws, const char *module,
                           int64_t *version, st_err *err)
{
    return read_version(ws, module, version, err);
}

st_code st_catalog_fail(st_workspace *ws, const char *what, st_err *err)
{
    return st_err_set(err, ST_E_IO, "catalog: %s: %s", what,
                      sqlite3_errmsg(st_workspace_db(ws)));
}

st_code st_catalog_data_version(st_workspace *ws, int64_t *version, st_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ws->db, "PRAGMA data_version", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(ws, err, "read data_version");
    int r = sqlite3_step(st);
    *version = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (r != SQLITE_ROW)
        return db_err(ws, err, "read data_version");
    return ST_OK;
}

st_code st_catalog_migrate(st_workspace *ws, const char *module,
                           const char *const *steps, size_t nsteps, st_err *err)
{
    /* Every call after the first finds the schema current. A plain read
     * takes no write lock, so concurrent connections (the server's
     * workers, other processes) no longer queue behind each other's BEGIN
     * IMMEDIATE and the busy handler's sleeps on every catalog access.
     * Versions only grow, so "current" read here cannot go stale. */
    int64_t current;
    size_t m;
    for (m = 0; m < ST_CATALOG_MODULES && ws->current[m].module; m++)
        if (!strcmp(ws->current[m].module, module)) {
            if (ws->current[m].nsteps == nsteps)
                return ST_OK;
            ws->current[m].nsteps = 0; /* another list: look again */
            break;
        }
    if (read_version(ws, module, &current, NULL) == ST_OK &&
        current == (int64_t)nsteps) {
        if (m < ST_CATALOG_MODULES) {
            ws->current[m].module = module;
            ws->current[m].nsteps = nsteps;
        }
        return ST_OK;
    }
    /* inside a caller's transaction (a decision's one snapshot, say) the
     * steps run in a savepoint of it */
    int nested = !sqlite3_get_autocommit(ws->db);
    const char *begin = nested ? "SAVEPOINT st_migrate" : "BEGIN IMMEDIATE";
    const char *commit = nested ? "RELEASE st_migrate" : "COMMIT";
    const char *undo =
        nested ? "ROLLBACK TO st_migrate; RELEASE st_migrate" : "ROLLBACK";
    for (;;) {
        st_code rc;
        /* IMMEDIATE: two processes migrating at once serialise here and
         * the second sees the first one's version */
        if ((rc = db_exec(ws, begin, "begin migration", err)))
            return rc;
        int64_t v;
        if ((rc = read_version(ws, module, &v, err)))
            goto rollback;
        if (v < 0 || (uint64_t)v > nsteps) {
            rc = st_err_set(err, ST_E_INPUT,
                            "catalog %s/catalog.db: module \"%s\" is at "
                            "schema version %lld, newer than this sealtrain "
                            "knows (%zu)",
                            ws->dir, module, (long long)v, nsteps);
            goto rollback;
        }
        if ((uint64_t)v == nsteps)
            return db_exec(ws, commit, "commit migration", err);
        if (sqlite3_exec(ws->db, steps[v], NULL, NULL, NULL) != SQLITE_OK) {
            char what[160];
            snprintf(what, sizeof(what), "migration %s step %lld", module,
                     (long long)v + 1);
            rc = db_err(ws, err, what);
            goto rollback;
        }
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(ws->db,
                               "INSERT INTO schema_versions(module, version) "
                               "VALUES(?1, ?2) ON CONFLICT(module) DO "
                               "UPDATE SET version = excluded.version",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = db_err(ws, err, "record schema version");
            goto rollback;
        }
        sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, v + 1);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE) {
            rc = db_err(ws, err, "record schema version");
            goto rollback;
        }
        if ((rc = db_exec(ws, commit, "commit migration", err)))
            goto rollback;
        st_debug("catalog.migrate", "%s: schema version %lld", module,
                 (long long)v + 1);
        continue;
    rollback:
        sqlite3_exec(ws->db, undo, NULL, NULL, NULL);
        return rc;
    }
}

/* --- creation ---------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void split_path(const char *path, char *parent, char *base, size_t cap)
{
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof(a), "%s", path);
    snprintf(b, sizeof(b), "%s", path);
    snprintf(parent, cap, "%s", dirname(a));
    snprintf(base, cap, "%s", basename(b));
}

/* Removes staging directories of earlier, interrupted inits of the same
 * workspace (".<base>.init.XXXXXX" in the parent, owned by us). */
static void sweep_staging(const char *parent, const char *base)
{
    char prefix[NAME_MAX + 16];
    snprintf(prefix, sizeof(prefix), ".%s.init.", base);
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
            strlen(de->d_name) != strlen(prefix) + 6)
            continue;
        struct stat st;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", parent, de->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
            st.st_uid == geteuid()) {
            st_info("workspace.init",
                    "removing %s left by an interrupted "
                    "init",
                    p);
            rm_tree(p);
        }
    }
    closedir(d);
}

static ST_MUST_CHECK st_code write_config(st_workspace *ws, st_err *err)
{
    size_t len;
    char *text = st_ws_config_serialize(&ws->cfg, &len, err);
    if (!text)
        return err ? err->code : ST_E_INTERNAL;
    char path[PATH_MAX];
    st_code rc =
        st_workspace_path(ws, NULL, "config.json", path, sizeof(path), err);
    if (!rc)
        rc = st_fs_write_atomic(path, text, len, 0600, err);
    free(text);
    return rc;
}

st_code st_workspace_create_begin(const char *dir, const st_protect *protect,
                                  st_workspace **out, st_err *err)
{
    *out = NULL;
    char parent[PATH_MAX], base[PATH_MAX];
    split_path(dir, parent, base, sizeof(parent));
    if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0 ||
        strcmp(base, "..") == 0)
        return st_err_set(err, ST_E_USAGE, "cannot create a workspace at %s",
                          dir);
    struct stat st;
    if (lstat(dir, &st) == 0)
        return st_err_set(err, ST_E_EXISTS,
                          "cannot create workspace %s: it already exists", dir);
    if (lstat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        return st_err_set(err, ST_E_NOTFOUND,
                          "cannot create workspace %s: parent directory %s "
                          "does not exist",
                          dir, parent);
    sweep_staging(parent, base);

    st_workspace *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return st_err_set(err, ST_E_IO, "out of memory");
    if ((size_t)snprintf(ws->final, sizeof(ws->final), "%s", dir) >=
            sizeof(ws->final) ||
        (size_t)snprintf(ws->dir, sizeof(ws->dir), "%s/.%s.init.XXXXXX", parent,
                         base) >= sizeof(ws->dir)) {
        free(ws);
        return st_err_set(err, ST_E_USAGE, "workspace path too long");
    }
    if (!mkdtemp(ws->dir)) { /* mkdtemp makes it 0700 */
        st_code rc = st_err_errno(err, ST_E_IO, errno,
                                  "cannot create workspace %s: staging "
                                  "directory in %s",
                                  dir, parent);
        free(ws);
        return rc;
    }
    ws->staging = 1;
    ws->cfg.version = ST_WORKSPACE_VERSION;
    ws->cfg.protect = *protect;
    st_time_format(time(NULL), ws->cfg.created);

    st_code rc = ST_OK;
    for (size_t i = 0; i < NSUBDIRS && !rc; i++) {
        char p[PATH_MAX];
        rc = st_fs_join(p, sizeof(p), ws->dir, subdirs[i], err);
        if (!rc)
            rc = st_fs_mkdir_private(p, err);
    }
    if (!rc)
        rc = write_config(ws, err);
    if (!rc)
        rc = catalog_open(ws, 1, err);
    if (rc) {
        st_err_prefix(err, "cannot create workspace %s", dir);
        st_workspace_close(ws);
        return rc;
    }
    *out = ws;
    return ST_OK;
}

st_code st_workspace_create_commit(st_workspace *ws, st_err *err)
{
    if (!ws->staging)
        return st_err_set(err, ST_E_USAGE,
                          "workspace %s is not being "
                          "created",
                          ws->dir);
    /* close the catalog so that its -wal/-shm are settled before the
     * directory moves; checkpoint so the new workspace starts compact */
    sqlite3_wal_checkpoint_v2(ws->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                              NULL);
    catalog_close(ws);
    char parent[PATH_MAX], base[PATH_MAX];
    split_path(ws->final, parent, base, sizeof(parent));
    st_code rc = st_fs_fsync_dir(ws->dir, err);
    if (rc)
        return rc;
    /* RENAME_NOREPLACE: never replace what appeared meanwhile (even an
     * empty directory, which plain rename(2) would replace) */
    if (renameat2(AT_FDCWD, ws->dir, AT_FDCWD, ws->final, RENAME_NOREPLACE) !=
        0) {
        int e = errno;
        return st_err_errno(err, e == EEXIST ? ST_E_EXISTS : ST_E_IO, e,
                            "cannot create workspace %s", ws->final);
    }
    ws->staging = 0;
    snprintf(ws->dir, sizeof(ws->dir), "%s", ws->final);
    if ((rc = st_fs_fsync_dir(parent, err)))
        return rc;
    return catalog_open(ws, 0, err);
}

/* --- opening ----------------------------------------------------------- */

/* Removes ".*.tmp.*" files left by a crashed writer. Only old ones: a
 * fresh one may belong to another process writing right now, whose
 * rename would then fail. */
#define TEMP_MAX_AGE_SECONDS 600
static void sweep_old_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] != '.' || !strstr(de->d_name, ".tmp.") ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || now - st.st_mtime < TEMP_MAX_AGE_SECONDS)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            st_info("workspace.sweep", "removed %s/%s left by a crash", dir,
                    de->d_name);
    }
    closedir(d);
}

/* Every regular file in `dir` must be private too. */
static ST_MUST_CHECK st_code check_files_private(const char *dir, st_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return st_err_errno(err, ST_E_IO, errno, "open directory %s", dir);
    struct dirent *de;
    st_code rc = ST_OK;
    while (!rc && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[PATH_MAX];
        rc = st_fs_join(p, sizeof(p), dir, de->d_name, err);
        if (!rc)
            rc = st_fs_check_private(p, err);
    }
    closedir(d);
    return rc;
}

st_code st_workspace_open(const char *dir, st_workspace **out, st_err *err)
{
    *out = NULL;
    st_workspace *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return st_err_set(err, ST_E_IO, "out of memory");
    st_code rc;
    if ((size_t)snprintf(ws->dir, sizeof(ws->dir), "%s", dir) >=
        sizeof(ws->dir)) {
        rc = st_err_set(err, ST_E_USAGE, "workspace path too long");
        goto fail;
    }
    struct stat st;
    if (lstat(dir, &st) != 0) {
        rc = errno == ENOENT
                 ? st_err_set(err, ST_E_NOTFOUND,
                              "no workspace at %s (create one with "
                              "`sealtrain init`)",
                              dir)
                 : st_err_errno(err, ST_E_IO, errno, "workspace %s", dir);
        goto fail;
    }
    if ((rc = st_fs_check_private(dir, err)))
        goto fail;
    char p[PATH_MAX];
    for (size_t i = 0; i < NSUBDIRS; i++) {
        if ((rc = st_fs_join(p, sizeof(p), dir, subdirs[i], err)) ||
            (rc = st_fs_check_private(p, err)))
            goto fail;
    }
    /* the top level and keys/ hold the files whose exposure matters most:
     * config, catalog (+wal/shm), wrapped keys */
    if ((rc = check_files_private(dir, err)))
        goto fail;
    if ((rc = st_fs_join(p, sizeof(p), dir, "keys", err)) ||
        (rc = check_files_private(p, err)))
        goto fail;

    if ((rc = st_workspace_path(ws, NULL, "config.json", p, sizeof(p), err)))
        goto fail;
    unsigned char *text = NULL;
    size_t len = 0;
    if ((rc = st_fs_read_all(p, CONFIG_MAX, &text, &len, err)))
        goto fail;
    rc = st_ws_config_parse((const char *)text, len, p, &ws->cfg, err);
    free(text);
    if (rc)
        goto fail;
    if ((rc = catalog_open(ws, 0, err)))
        goto fail;
    /* before anything reads the catalog: every committed change gets its
     * audit entry (src/audit/outbox.c) */
    if ((rc = st_audit_txn_recover(ws, err)))
        goto fail;
    static const char *const swept[] = {"keys", "tmp", "blobs"};
    sweep_old_temps(ws->dir);
    for (size_t i = 0; i < sizeof(swept) / sizeof(swept[0]); i++)
        if (st_fs_join(p, sizeof(p), dir, swept[i], NULL) == ST_OK)
            sweep_old_temps(p);
    *out = ws;
    return ST_OK;
fail:
    st_workspace_close(ws);
    return rc;
}

void st_workspace_close(st_workspace *ws)
{
    if (!ws)
        return;
    catalog_close(ws);
    if (ws->staging)
        rm_tree(ws->dir);
    free(ws);
}
