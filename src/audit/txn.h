/*
 * txn.h (src/audit): a catalog change and its audit entry in one
 * transaction, the outbox (outbox.c; docs/audit.md "A change and its
 * entry commit together"). Every module that changes the catalog calls it;
 * the CLI never does (it calls the modules).
 */
#ifndef SEALTRAIN_AUDIT_TXN_H
#define SEALTRAIN_AUDIT_TXN_H

#include <stdint.h>

#include "sealtrain/audit.h"
#include "sealtrain/err.h"

/* begin; the change (statements on st_workspace_db); event; commit;
 * deliver. The entry is a catalog row committed with the change, appended
 * to the log by deliver, or by the recovery of the next open if this
 * process cannot. Between begin and commit, a failure calls rollback. */
ST_MUST_CHECK st_code st_audit_txn_begin(st_workspace *ws, st_err *err);
/* Records the success entry of the change (inside the transaction); *id
 * names it for deliver. `ev->details` gains "txn", a random id. */
ST_MUST_CHECK st_code st_audit_txn_event(st_workspace *ws,
                                         const st_audit_event *ev, int64_t *id,
                                         st_err *err);
/* COMMIT. On failure *unknown is 1: SQLite may still hold the commit in
 * its WAL, so the outcome is decided by the next open; the caller must not
 * remove anything the change names (or the state before it). */
ST_MUST_CHECK st_code st_audit_txn_commit(st_workspace *ws, int *unknown,
                                          st_err *err);
void st_audit_txn_rollback(st_workspace *ws);
/* 1 while a transaction is open on the workspace's catalog connection:
 * a change made inside another's records its entry with
 * st_audit_txn_event, and the outer deliver appends it too. */
int st_audit_txn_open(st_workspace *ws);
/* After a commit: appends the entry (and the others this thread's
 * transaction recorded) and clears their rows. The change and its entry
 * are durable already, so this cannot fail: an entry it cannot append
 * stays in the catalog, a warning says so, and the next open appends it. */
void st_audit_txn_deliver(st_workspace *ws, int64_t id);
/* The whole sequence for a change made of catalog statements: begin,
 * change(ws, arg), event `ev` (read after the change, which may fill it
 * in), commit, deliver. ST_OK when the change and its entry are
 * durable (the entry in the log, or in the catalog for the next open to
 * append); otherwise nothing is in force, or (a failed COMMIT) the next
 * open decides, as err says. */
typedef st_code (*st_audit_change)(st_workspace *ws, void *arg, st_err *err);
ST_MUST_CHECK st_code st_audit_txn_run(st_workspace *ws, st_audit_change change,
                                       void *arg, const st_audit_event *ev,
                                       st_err *err);
/* The same, telling the caller (*unknown 1) when COMMIT failed with its
 * outcome unknown: a caller that made files for the change must then keep
 * them (the next open decides). */
ST_MUST_CHECK st_code st_audit_txn_apply(st_workspace *ws,
                                         st_audit_change change, void *arg,
                                         const st_audit_event *ev, int *unknown,
                                         st_err *err);
/* Run by st_workspace_open before anything else: appends the entries that
 * interrupted or failed deliveries left (never one already in the log). */
ST_MUST_CHECK st_code st_audit_txn_recover(st_workspace *ws, st_err *err);

#endif
