/*
 * store/catalog.h: the workspace's SQLite catalog, for the modules of
 * src/ that keep tables in it (not public: the CLI and the server reach
 * the catalog only through those modules' functions).
 *
 * Each module owns its tables and their migrations; it speaks SQL to the
 * catalog through this connection and nothing else, and reports a failed
 * statement with st_catalog_fail. The connection itself is opened,
 * configured (WAL, foreign_keys=ON, busy_timeout) and closed with the
 * workspace (sealtrain/workspace.h).
 */
#ifndef ST_STORE_CATALOG_H
#define ST_STORE_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"
#include "sealtrain/workspace.h"

struct sqlite3;
struct sqlite3_stmt;

/* The workspace's catalog connection (owned by the workspace). */
struct sqlite3 *st_workspace_db(st_workspace *ws);

/* Per-module versioned migrations. Each module owns its tables and a
 * static list of SQL steps (step i takes the module from version i to
 * i+1); pending steps are applied in order, each in its own IMMEDIATE
 * transaction together with the version bump, in table
 * schema_versions(module TEXT PRIMARY KEY, version INTEGER). A catalog
 * newer than `nsteps` is refused (ST_E_INPUT). */
ST_MUST_CHECK st_code st_catalog_migrate(st_workspace *ws, const char *module,
                                         const char *const *steps,
                                         size_t nsteps, st_err *err);
/* The version of `module` in the catalog (0 when never migrated). */
ST_MUST_CHECK st_code st_catalog_version(st_workspace *ws, const char *module,
                                         int64_t *version, st_err *err);
/* Sets err to "catalog: <what>: <SQLite's last error>" (ST_E_IO) and
 * returns ST_E_IO: for a failed statement on the workspace's catalog. */
ST_MUST_CHECK st_code st_catalog_fail(st_workspace *ws, const char *what,
                                      st_err *err);
/* SQLite's data_version of this connection: it changes whenever another
 * connection (of this or any process) committed to the catalog since the
 * last call, so a cache of catalog rows can tell that it is stale. */
ST_MUST_CHECK st_code st_catalog_data_version(st_workspace *ws,
                                              int64_t *version, st_err *err);

/* A prepared statement that this connection keeps for its life, for SQL
 * that a hot path runs again and again (every key release reads the
 * principals, grants, manifests and policies a dozen times). `sql` must be
 * a string literal: its address is the cache's key. Returns SQLite's
 * result code. Every statement taken must be handed back with
 * st_catalog_finish on every path, which resets it (ending its read
 * transaction, so the next read sees the catalog as it is then) and
 * clears its bindings; a statement still in use is not handed out twice
 * (a nested caller gets a fresh one, finalized at its finish). */
int st_catalog_prepare(st_workspace *ws, const char *sql,
                       struct sqlite3_stmt **st);
void st_catalog_finish(st_workspace *ws, struct sqlite3_stmt *st);

/* One read transaction around a decision's catalog reads: they all see
 * the catalog as of one moment, take its read lock once instead of once
 * per statement, and may remember a row read earlier in the same
 * snapshot (st_catalog_snapshot). Returns the snapshot's id (never 0, not
 * reused within the process), or 0 when the connection is already inside
 * its caller's transaction or BEGIN failed (each read is then its own).
 * End it with st_catalog_snapshot_end(ws, id) before anything is written
 * on this connection. */
uint64_t st_catalog_snapshot_begin(st_workspace *ws);
void st_catalog_snapshot_end(st_workspace *ws, uint64_t id);
/* The id of the snapshot open on this connection, or 0. */
uint64_t st_catalog_snapshot(const st_workspace *ws);

/*
 * The catalog's epoch: a process-wide counter that moves whenever a
 * connection of this process sees that the catalog changed since it last
 * looked, so that a result computed from catalog rows can be reused
 * exactly while nothing changed (the gate's consent from HELLO to
 * EVIDENCE), with no time-based expiry.
 *
 *   before = st_catalog_epoch();          read BEFORE the reads it covers
 *   snap = st_catalog_snapshot_begin(ws); ... reads ...
 *   later, on any connection:
 *   snap = st_catalog_snapshot_begin(ws);
 *   if (st_catalog_epoch_observe(ws) == before) the catalog this snapshot
 *       reads is the one the earlier reads saw
 *
 * Why it is exact: a commit T that the earlier reads did not see came
 * after their snapshot began, so after `before` was read. The observing
 * connection's data_version (commits of any other connection or process)
 * or its own count of changed rows differs from what it saw at its
 * previous look if T came since; then it advances the epoch now, or it
 * did so at a look that was itself after T. Either way the epoch moved
 * after `before` was read. (A change the connection rolled back also
 * moves it: one needless recomputation, never a stale reuse.)
 */
uint64_t st_catalog_epoch(void);
/* Looks (within the snapshot open on this connection, or in a read of
 * its own), advances the epoch if this connection sees a changed catalog
 * and returns the epoch as it is then; 0 (which no epoch is) when the
 * look failed: reuse nothing. */
uint64_t st_catalog_epoch_observe(st_workspace *ws);

#endif
