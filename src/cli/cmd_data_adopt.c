/*
 * cmd_data_adopt.c: `sealtrain data import-encrypted FILE --manifest
 * ENVELOPE`: adds to this workspace a dataset another owner encrypted and
 * signed in their own workspace, whose key only that owner's key broker
 * (`serve --broker`) releases (the manifest's "broker" section; docs/jobs.md
 * "Several owners"). Nothing is decrypted and no key is involved here.
 *
 * Reached from `sealtrain data` (cmd_data.c): argv[0] is
 * "import-encrypted".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void adopt_usage(FILE *out)
{
    fprintf(
        out,
        "usage: sealtrain data import-encrypted FILE --manifest ENVELOPE\n\n"
        "Adds an encrypted dataset of another owner: FILE is its age "
        "file, ENVELOPE\nits signed manifest (the DSSE envelope, e.g. "
        "\"envelope\" of `data show NAME\n--json` in the owner's "
        "workspace). The manifest must name the owner's key\nbroker and "
        "be signed by the owner's key registered here; FILE must match "
        "its\ndigests. Jobs get its key from that broker (docs/jobs.md).\n");
}

int st_cli_data_import_encrypted(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"manifest", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *manifest = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': manifest = optarg; break;
        case 'h': adopt_usage(stdout); return 0;
        default: return st_cli_usage("data", "unknown option");
        }
    }
    if (optind + 1 != argc || !manifest)
        return st_cli_usage("data",
                            "import-encrypted needs FILE and --manifest");
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_access_session sess;
    int status = st_cli_open_checked(cli, "data.import", NULL, &ws, &sess);
    if (status)
        return status;
    unsigned char *env = NULL;
    size_t len = 0;
    st_dataset_manifest m;
    memset(&m, 0, sizeof(m));
    st_code rc = st_fs_read_all(manifest, 1 << 20, &env, &len, &err);
    if (rc == ST_OK)
        rc = st_dataset_adopt(ws, argv[optind], (const char *)env, len,
                              st_cli_principal(&sess), &m, &err);
    free(env);
    if (rc == ST_OK && !cli->quiet)
        printf("added dataset %s of owner %s: %llu rows, %u features, %u "
               "classes; its key is released by %s\n",
               m.name, m.owner, (unsigned long long)m.rows, m.cols, m.classes,
               m.broker_url);
    st_dataset_manifest_free(&m);
    st_workspace_close(ws);
    return rc == ST_OK ? 0 : st_cli_fail(&err);
}
