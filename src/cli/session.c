/*
 * session.c: how every command gets its workspace and its acting
 * principal: open the workspace (--workspace / SEALTRAIN_WORKSPACE /
 * ~/.sealtrain), then authenticate --as NAME with --key FILE (or
 * SEALTRAIN_AS / SEALTRAIN_KEY) by signing a fresh challenge
 * (st_access_login). Commands then call st_access_check with
 * st_cli_principal(&session) before acting.
 */
#include <stdio.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

int st_cli_open(st_cli *cli, st_workspace **ws, st_access_session *session)
{
    st_err err;
    char dir[4096];
    st_err_clear(&err);
    *ws = NULL;
    if (st_workspace_default_dir(cli->workspace, dir, sizeof(dir), &err) ||
        st_workspace_open(dir, ws, &err))
        return st_cli_fail(&err);
    if (st_access_login(*ws, cli->as, cli->key, session, &err)) {
        st_workspace_close(*ws);
        *ws = NULL;
        return st_cli_fail(&err);
    }
    return 0;
}

const char *st_cli_principal(const st_access_session *session)
{
    return session->bootstrap ? NULL : session->name;
}
