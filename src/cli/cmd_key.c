/*
 * cmd_key.c: `sealtrain key create|list|show|rotate|retire|revoke`: the
 * KEKs of the workspace keyring (docs/keys.md). Every change is recorded
 * in the audit log, refusals and failures included.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void key_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain key create NAME [--rotation-days N]\n"
            "       sealtrain key list [--json]\n"
            "       sealtrain key show NAME [--json]\n"
            "       sealtrain key rotate NAME\n"
            "       sealtrain key retire NAME --version V\n"
            "       sealtrain key revoke NAME --version V\n\n"
            "Key encryption keys (KEKs) wrap data keys; they never leave the "
            "keyring.\n"
            "  create  a new key (version 1), rotation period N days "
            "(default 90)\n"
            "  list    all keys; OVERDUE marks keys past their rotation "
            "period\n"
            "  show    one key and its versions\n"
            "  rotate  add a new version and make it current; older "
            "versions still\n"
            "          unwrap until retired or revoked\n"
            "  retire  stop a (non-current) version from wrapping; it still "
            "unwraps\n"
            "  revoke  destroy a version: it never wraps or unwraps again\n"
            "The root key is unlocked as chosen at init "
            "(SEALTRAIN_PASSPHRASE_FILE,\nSEALTRAIN_TPM_TCTI, or the key "
            "file).\n");
}

/* Records a refused or failed key change (a change that succeeds is
 * committed with its entry by the keyring itself); access denials are
 * audited by st_access_check itself. `version` (0: none) is the version the
 * change made or touched: `sealtrain check` compares the revocations recorded
 * here with the keyring, which catches a keyring rolled back past one. */
static void audit(st_workspace *ws, const char *principal, const char *action,
                  const char *name, uint32_t version, st_code rc,
                  const st_err *why)
{
    json_t *details =
        version ? json_pack("{s:I}", "version", (json_int_t)version) : NULL;
    char resource[128];
    snprintf(resource, sizeof(resource), "key:%s", name);
    st_audit_event ev = {
        .category = "operation",
        .actor = principal && *principal ? principal : "system",
        .action = action,
        .resource = resource,
        .outcome = rc == ST_OK         ? "success"
                   : rc == ST_E_DENIED ? "denied"
                                       : "failure",
        .reason = rc == ST_OK ? NULL : why->msg,
        .details = details,
    };
    st_err e;
    if (st_audit_append(ws, &ev, &e) != ST_OK)
        fprintf(stderr, "sealtrain: warning: audit log: %s\n", e.msg);
    json_decref(details);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v > UINT32_MAX || s[0] == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static void print_info(const st_kek_info *k)
{
    printf("key %s\n  current version: ", k->name);
    if (k->current)
        printf("%u\n", k->current);
    else
        printf("none (revoked; rotate the key)\n");
    char due[ST_TIME_LEN];
    st_time_format(k->rotation_due, due);
    printf("  created: %s\n  rotation: every %u days, last %s, due %s%s\n",
           k->created, k->rotation_days, k->rotated, due,
           k->overdue ? " (OVERDUE)" : "");
    for (size_t i = 0; i < k->nversions; i++) {
        const st_kek_version_info *v = &k->versions[i];
        printf("  version %u: %s, created %s", v->version,
               st_kek_state_name(v->state), v->created);
        if (v->changed[0])
            printf(", %s %s", st_kek_state_name(v->state), v->changed);
        printf("%s\n", v->version == k->current ? " (current)" : "");
    }
}

static int print_json(json_t *j)
{
    if (!j) {
        fprintf(stderr, "sealtrain: out of memory\n");
        return 5;
    }
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!s)
        return 5;
    printf("%s\n", s);
    free(s);
    return 0;
}

int st_cli_key(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || st_cli_wants_help(argc, argv)) {
        key_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"version", required_argument, NULL, 'v'},
        {"rotation-days", required_argument, NULL, 'r'},
        {"workspace", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0}};
    int json = cli->json, have_version = 0, c;
    uint32_t version = 0, days = 0;
    const char *dir_opt = cli->workspace;
    /* parse from the subcommand on: it plays argv[0]; optind 0 makes
     * glibc re-initialise (and permute options after NAME) */
    argc--;
    argv++;
    optind = 0;
    while ((c = getopt_long(argc, argv, "jv:r:w:", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'w': dir_opt = optarg; break;
        case 'v':
            if (parse_u32(optarg, &version) || version == 0)
                return st_cli_usage("key", "--version must be a positive "
                                           "number");
            have_version = 1;
            break;
        case 'r':
            if (parse_u32(optarg, &days) || days == 0 || days > 36500)
                return st_cli_usage("key", "--rotation-days must be 1 to "
                                           "36500");
            break;
        default: return st_cli_usage("key", "unknown option");
        }
    }
    const char *name = optind < argc ? argv[optind] : NULL;
    if (optind + 1 < argc)
        return st_cli_usage("key", "unexpected argument \"%s\"",
                            argv[optind + 1]);
    int is_list = !strcmp(sub, "list");
    if (!is_list && strcmp(sub, "create") && strcmp(sub, "show") &&
        strcmp(sub, "rotate") && strcmp(sub, "retire") && strcmp(sub, "revoke"))
        return st_cli_usage("key", "unknown subcommand \"%s\"", sub);
    if (is_list ? name != NULL : name == NULL)
        return st_cli_usage(
            "key", is_list ? "list takes no NAME" : "%s needs a key NAME", sub);
    int needs_version = !strcmp(sub, "retire") || !strcmp(sub, "revoke");
    if (needs_version != have_version)
        return st_cli_usage("key",
                            needs_version ? "%s needs --version V"
                                          : "%s takes no --version",
                            sub);

    st_err err;
    st_err_clear(&err);
    cli->workspace = dir_opt;
    st_workspace *ws = NULL;
    st_keyring *kr = NULL;
    st_access_session session;
    int open_rc = st_cli_open(cli, &ws, &session);
    if (open_rc)
        return open_rc;
    const char *principal = st_cli_principal(&session);
    char action[32], resource[96];
    snprintf(action, sizeof(action), "key.%s",
             is_list || !strcmp(sub, "show") ? "read" : sub);
    snprintf(resource, sizeof(resource), "key:%s", name ? name : "*");
    /* a change of a key needs its ownership (src/keys/kek_owner.c): a
     * data owner's keys are theirs, keys without owner the admins' */
    int change = !strcmp(sub, "rotate") || !strcmp(sub, "retire") ||
                 !strcmp(sub, "revoke");
    if ((change ? st_kek_authorize(ws, principal, action, name, &err)
                : st_access_check(ws, principal, action, resource, &err)) ||
        st_keyring_open(ws, &kr, &err)) {
        if (strcmp(action, "key.read") && err.code != ST_E_DENIED)
            audit(ws, principal, action, name, 0, err.code, &err);
        st_workspace_close(ws);
        return st_cli_fail(&err);
    }
    st_code rc = ST_OK;
    int status = 0;
    time_t now = time(NULL);
    if (is_list) {
        st_kek_info *infos = NULL;
        size_t n = 0;
        rc = st_kek_list(kr, now, &infos, &n, &err);
        if (!rc && json) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, st_kek_info_json(&infos[i]));
            status = print_json(arr);
        } else if (!rc) {
            if (n == 0 && !cli->quiet)
                printf("no keys (create one with `sealtrain key create "
                       "NAME`)\n");
            if (n)
                printf("%-24s %7s %-9s %-20s %s\n", "NAME", "CURRENT",
                       "VERSIONS", "ROTATION DUE", "STATUS");
            for (size_t i = 0; i < n; i++) {
                char due[ST_TIME_LEN];
                st_time_format(infos[i].rotation_due, due);
                printf("%-24s %7u %-9zu %-20s %s\n", infos[i].name,
                       infos[i].current, infos[i].nversions, due,
                       infos[i].overdue ? "OVERDUE" : "ok");
            }
        }
        st_kek_info_free(infos, n);
    } else if (!strcmp(sub, "show")) {
        st_kek_info *info = NULL;
        char owner[ST_PRINCIPAL_NAME_MAX] = "";
        rc = st_kek_show(kr, name, now, &info, &err);
        if (!rc)
            rc = st_kek_owner(ws, name, owner, sizeof(owner), &err);
        if (!rc && json) {
            json_t *j = st_kek_info_json(info);
            if (j)
                json_object_set_new(
                    j, "owner", owner[0] ? json_string(owner) : json_null());
            status = print_json(j);
        } else if (!rc) {
            print_info(info);
            printf("  owner: %s\n",
                   owner[0] ? owner : "none (the admins' key)");
        }
        st_kek_info_free(info, 1);
    } else {
        uint32_t v = 0;
        if (!strcmp(sub, "create"))
            rc = st_kek_create_as(kr, principal, name, days, &err);
        else if (!strcmp(sub, "rotate"))
            rc = st_kek_rotate(kr, principal, name, &v, &err);
        else if (!strcmp(sub, "retire"))
            rc = st_kek_retire(kr, principal, name, version, &err);
        else
            rc = st_kek_revoke(kr, principal, name, version, &err);
        /* a success is committed with its entry (src/keys/keyring.c) */
        if (rc)
            audit(ws, principal, action, name,
                  !strcmp(sub, "create")   ? 1
                  : !strcmp(sub, "rotate") ? v
                                           : version,
                  rc, &err);
        if (!rc && !cli->quiet) {
            if (!strcmp(sub, "create"))
                printf("created key %s (version 1)\n", name);
            else if (!strcmp(sub, "rotate"))
                printf("rotated key %s: version %u is current\n", name, v);
            else
                printf("%s key %s version %u\n",
                       !strcmp(sub, "retire") ? "retired" : "revoked", name,
                       version);
        }
    }
    st_keyring_close(kr);
    st_workspace_close(ws);
    if (rc)
        return st_cli_fail(&err);
    return status;
}
