/*
 * workspace_internal.h (private to src/store): the workspace object.
 */
#ifndef SEALTRAIN_STORE_WORKSPACE_INTERNAL_H
#define SEALTRAIN_STORE_WORKSPACE_INTERNAL_H

#include <limits.h>

#include "store/config.h"

struct st_workspace {
    char dir[PATH_MAX];   /* where it is now (staging during creation) */
    char final[PATH_MAX]; /* where it goes at commit */
    int staging;          /* created but not committed */
    struct sqlite3 *db;
    st_ws_config cfg;
};

#endif
