/*
 * session.c: how every command gets its workspace and its acting
 * principal: open the workspace (--workspace / SEALTRAIN_WORKSPACE /
 * ~/.sealtrain), then authenticate --as NAME with --key FILE (or
 * SEALTRAIN_AS / SEALTRAIN_KEY) by signing a fresh challenge
 * (st_access_login). Commands then call st_access_check with
 * st_cli_principal(&session) before acting.
 */
#include <stdio.h>
#include <stdlib.h>

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

int st_cli_open_checked(st_cli *cli, const char *action, const char *resource,
                        st_workspace **ws, st_access_session *session)
{
    int status = st_cli_open(cli, ws, session);
    if (status)
        return status;
    st_err err;
    st_err_clear(&err);
    if (st_access_check(*ws, st_cli_principal(session), action, resource,
                        &err)) {
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

st_keyring *st_cli_keyring_if_unattended(st_workspace *ws)
{
    const st_protect *p = st_workspace_protect(ws);
    /* never prompt from a reporting command: only protections that need
     * no one at the keyboard */
    if (p->kind == ST_PROTECT_PASSPHRASE &&
        !getenv("SEALTRAIN_PASSPHRASE_FILE"))
        return NULL;
    if (p->kind == ST_PROTECT_TPM && !getenv("SEALTRAIN_TPM_TCTI"))
        return NULL;
    st_keyring *kr = NULL;
    st_err err;
    if (st_keyring_open(ws, &kr, &err) != ST_OK) {
        st_warn("cli.keyring", "keyring not opened: %s", err.msg);
        return NULL;
    }
    return kr;
}
