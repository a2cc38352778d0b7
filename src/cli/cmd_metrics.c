/*
 * cmd_metrics.c: `sealtrain metrics`: Prometheus text exposition of the
 * workspace (include/sealtrain/metrics.h). Needs audit.read: the figures
 * come from the audit log.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

int st_cli_metrics(st_cli *cli, int argc, char **argv)
{
    if (st_cli_wants_help(argc, argv)) {
        printf("usage: sealtrain metrics\n\n"
               "Prints the workspace's metrics in the Prometheus text "
               "format: jobs by\nstate, attestation results by TEE and "
               "outcome, key releases and denials,\naccess denials by "
               "principal, audit log size and last checkpoint age,\nKEK "
               "ages (when the keyring opens without a prompt), principals, "
               "datasets,\ntraining throughput of running jobs. Needs the "
               "audit.read permission.\n");
        return 0;
    }
    if (argc != 1)
        return st_cli_usage("metrics", "no arguments expected");
    st_workspace *ws;
    st_access_session s;
    int rc = st_cli_open_checked(cli, "audit.read", "metrics", &ws, &s);
    if (rc)
        return rc;
    st_err err;
    st_err_clear(&err);
    st_buf b;
    st_buf_init(&b);
    st_keyring *kr = st_cli_keyring_if_unattended(ws);
    if (st_metrics_collect(ws, kr, time(NULL), &b, &err) == ST_OK) {
        fwrite(b.data, 1, b.len, stdout);
        err.code = ST_OK;
    }
    st_keyring_close(kr);
    st_buf_free(&b);
    rc = err.code ? st_cli_fail(&err) : 0;
    st_workspace_close(ws);
    return rc;
}
