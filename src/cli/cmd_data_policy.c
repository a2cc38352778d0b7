/*
 * cmd_data_policy.c: `sealtrain data policy set NAME FILE` and `data
 * policy show NAME [--json]`: a dataset's release policy (docs/jobs.md),
 * which the key broker checks before it releases the dataset's key to an
 * enclave runtime. A dataset without a policy is never released.
 *
 * Reached from `sealtrain data` (cmd_data.c) as its "policy" subcommand:
 * argv[0] is "policy".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void policy_usage(FILE *out)
{
    fprintf(
        out,
        "usage: sealtrain data policy set NAME FILE\n"
        "       sealtrain data policy show NAME [--json]\n\n"
        "A release policy says to which enclave runtimes the key broker "
        "may release\nthe dataset's key:\n"
        "  {\"version\": 1,\n"
        "   \"attestation\": {\"version\": 1, \"tee\": [\"tpm\"], ...},  "
        "an attestation policy\n"
        "   \"principals\": [\"mo\"],       who may train on the "
        "dataset (\"*\": anyone)\n"
        "   \"recipients\": [\"age1...\"],  who may receive models "
        "trained on it\n"
        "   \"requires\": {\"sandbox\": \"strict\", \"memory\": \"secret\"}}\n"
        "                                 optional: the least protection a "
        "job may ask for\n"
        "The dataset's owner signs it: `set` needs the owner's --key.\n"
        "A dataset without a policy is never released. See "
        "docs/jobs.md.\n");
}

int st_cli_data_policy(st_cli *cli, int argc, char **argv)
{
    int json = cli->json;
    optind = 0;
    int status = st_cli_json_options(argc, argv, "data", "unknown option",
                                     policy_usage, &json);
    if (status >= 0)
        return status;
    int n = argc - optind;
    char **a = argv + optind;
    if (n < 2 || (strcmp(a[0], "set") && strcmp(a[0], "show")) ||
        (!strcmp(a[0], "set") && n != 3) || (!strcmp(a[0], "show") && n != 2))
        return st_cli_usage("data", "policy set NAME FILE | policy show "
                                    "NAME");
    st_err err;
    st_err_clear(&err);
    st_workspace *ws = NULL;
    st_access_session who;
    if (st_workspace_open(cli->workspace, &ws, &err) != ST_OK)
        return st_cli_fail(&err);
    char resource[128];
    snprintf(resource, sizeof(resource), "dataset:%s", a[1]);
    st_code rc = st_access_login(ws, cli->as, cli->key, &who, &err);
    const char *actor =
        who.bootstrap ? (cli->as ? cli->as : "local") : who.name;
    if (rc == ST_OK && !strcmp(a[0], "set")) {
        unsigned char *text = NULL;
        size_t len = 0;
        rc = st_access_check(ws, who.bootstrap ? NULL : who.name, "data.policy",
                             resource, &err);
        if (rc == ST_OK)
            rc = st_fs_read_all(a[2], 1 << 20, &text, &len, &err);
        /* the owner signs it: the same key that proves who acts */
        uint8_t *seed = NULL;
        if (rc == ST_OK && !cli->key)
            rc = st_err_set(&err, ST_E_USAGE,
                            "data policy set: --key (or SEALTRAIN_KEY) is "
                            "required: the dataset's owner signs its release "
                            "policy");
        if (rc == ST_OK && !(seed = st_secmem_alloc(32, &err)))
            rc = err.code;
        if (rc == ST_OK)
            rc = st_ed25519_load_private_pem(cli->key, seed, &err);
        if (rc == ST_OK)
            rc = st_release_policy_set(ws, actor, a[1], (const char *)text, len,
                                       a[2], seed, &err);
        st_secmem_free(seed);
        free(text);
        if (rc == ST_OK && !cli->quiet)
            printf("release policy of dataset %s set\n", a[1]);
    } else if (rc == ST_OK) {
        st_release_policy *p = NULL;
        rc = st_access_check(ws, who.bootstrap ? NULL : who.name, "data.read",
                             resource, &err);
        if (rc == ST_OK)
            rc = st_release_policy_get(ws, a[1], &p, &err);
        if (rc == ST_OK) {
            json_dumpf(p->json, stdout,
                       json ? JSON_COMPACT | JSON_SORT_KEYS
                            : JSON_INDENT(2) | JSON_SORT_KEYS);
            printf("\n");
            if (!json && !cli->quiet)
                printf("signed by %s, sha256:%s\n", p->signer, p->digest);
        }
        st_release_policy_free(p);
    }
    st_workspace_close(ws);
    return rc == ST_OK ? 0 : st_cli_fail(&err);
}
