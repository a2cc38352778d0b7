/*
 * cmd_init.c: `sealtrain init`: creates a workspace and its keyring.
 *
 * The workspace is staged in a hidden sibling directory and renamed into
 * place only when the keyring exists, so an interrupted init leaves no
 * workspace behind (and the next init cleans the staging directory up).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void init_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain init [--workspace DIR] "
            "[--protect passphrase|tpm|file:PATH]\n\n"
            "Creates a workspace (default: $SEALTRAIN_WORKSPACE, else "
            "~/.sealtrain):\na private directory with the SQLite catalog, "
            "the blob store, the audit\nlog location and the keyring. The "
            "keyring's root key is protected by:\n"
            "  passphrase  scrypt of a passphrase (SEALTRAIN_PASSPHRASE_FILE, "
            "else a prompt)\n"
            "  tpm         sealed to a TPM 2.0 (TCTI from "
            "SEALTRAIN_TPM_TCTI)\n"
            "  file:PATH   a 32-byte key file (mode 0600), for automation\n"
            "Default: passphrase. Fails if the workspace exists.\n");
}

int st_cli_init(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"workspace", required_argument, NULL, 'w'},
        {"protect", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir_opt = cli->workspace, *spec = "passphrase";
    int c;
    while ((c = getopt_long(argc, argv, "w:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': dir_opt = optarg; break;
        case 'p': spec = optarg; break;
        case 'h': init_usage(stdout); return 0;
        default: return st_cli_usage("init", "unknown option");
        }
    }
    if (optind < argc)
        return st_cli_usage("init", "unexpected argument \"%s\"", argv[optind]);
    st_err err;
    st_err_clear(&err);
    char dir[4096];
    st_protect protect;
    st_workspace *ws = NULL;
    st_keyring *kr = NULL;
    if (st_workspace_default_dir(dir_opt, dir, sizeof(dir), &err) ||
        st_protect_parse(spec, &protect, &err) ||
        st_workspace_create_begin(dir, &protect, &ws, &err) ||
        st_keyring_create(ws, &kr, &err) ||
        st_workspace_create_commit(ws, &err)) {
        st_keyring_close(kr);
        st_workspace_close(ws);
        return st_cli_fail(&err);
    }
    st_keyring_close(kr);
    st_audit_event ev = {.category = "operation",
                         .actor = cli->as && *cli->as ? cli->as : "system",
                         .action = "init",
                         .resource = "workspace",
                         .outcome = "success",
                         .reason = st_protect_kind_name(protect.kind)};
    if (st_audit_append(ws, &ev, &err) != ST_OK)
        fprintf(stderr, "sealtrain: warning: audit log: %s\n", err.msg);
    if (!cli->quiet)
        printf("initialised workspace %s (root key protection: %s)\n",
               st_workspace_dir(ws), st_protect_kind_name(protect.kind));
    st_workspace_close(ws);
    return 0;
}
