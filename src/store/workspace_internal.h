/*
 * workspace_internal.h (private to src/store): the workspace object.
 */
#ifndef SEALTRAIN_STORE_WORKSPACE_INTERNAL_H
#define SEALTRAIN_STORE_WORKSPACE_INTERNAL_H

#include <limits.h>
#include <stdint.h>

#include "store/config.h"

#define ST_CATALOG_STMTS 48
#define ST_CATALOG_MODULES 24

struct st_workspace {
    char dir[PATH_MAX];   /* where it is now (staging during creation) */
    char final[PATH_MAX]; /* where it goes at commit */
    int staging;          /* created but not committed */
    struct sqlite3 *db;
    st_ws_config cfg;
    /* st_catalog_prepare's statements, keyed by their SQL's address */
    struct {
        const char *sql;
        struct sqlite3_stmt *st;
        int busy;
    } stmts[ST_CATALOG_STMTS];
    /* modules this connection found at their current schema version
     * (versions only grow, so that stays true) */
    struct {
        const char *module;
        size_t nsteps;
    } current[ST_CATALOG_MODULES];
    uint64_t snapshot; /* st_catalog_snapshot_begin's id, or 0 */
    /* what st_catalog_epoch_observe last saw on this connection: SQLite's
     * data_version and this connection's own row changes (seen: 0 before
     * the first look) */
    int epoch_seen;
    int64_t epoch_dv, epoch_changes;
};

#endif
