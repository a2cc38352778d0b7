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

static const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* One key as `key show` prints it, from st_kek_info_json (+ "owner"). */
static void print_info(const json_t *k)
{
    printf("key %s\n  current version: ", jstr(k, "name"));
    if (jint(k, "current"))
        printf("%lld\n", jint(k, "current"));
    else
        printf("none (revoked; rotate the key)\n");
    printf("  created: %s\n  rotation: every %lld days, last %s, due %s%s\n",
           jstr(k, "created"), jint(k, "rotation_days"), jstr(k, "rotated"),
           jstr(k, "rotation_due"),
           json_is_true(json_object_get(k, "overdue")) ? " (OVERDUE)" : "");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(k, "versions"), i, v)
    {
        printf("  version %lld: %s, created %s", jint(v, "version"),
               jstr(v, "state"), jstr(v, "created"));
        if (json_object_get(v, "changed"))
            printf(", %s %s", jstr(v, "state"), jstr(v, "changed"));
        printf("%s\n",
               jint(v, "version") == jint(k, "current") ? " (current)" : "");
    }
    const char *owner = json_string_value(json_object_get(k, "owner"));
    printf("  owner: %s\n", owner ? owner : "none (the admins' key)");
}

int st_cli_key_print(const json_t *out, int show, int json, int quiet)
{
    if (!out) {
        fprintf(stderr, "sealtrain: out of memory\n");
        return 5;
    }
    if (json) {
        char *s = st_json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!s)
            return 5;
        printf("%s\n", s);
        free(s);
        return 0;
    }
    if (show) {
        print_info(out);
        return 0;
    }
    if (json_array_size(out) == 0 && !quiet)
        printf("no keys (create one with `sealtrain key create NAME`)\n");
    if (json_array_size(out))
        printf("%-24s %7s %-9s %-20s %s\n", "NAME", "CURRENT", "VERSIONS",
               "ROTATION DUE", "STATUS");
    size_t i;
    json_t *k;
    json_array_foreach(out, i, k) printf(
        "%-24s %7lld %-9zu %-20s %s\n", jstr(k, "name"), jint(k, "current"),
        json_array_size(json_object_get(k, "versions")),
        jstr(k, "rotation_due"),
        json_is_true(json_object_get(k, "overdue")) ? "OVERDUE" : "ok");
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
            st_kek_audit_failure(ws, principal, action, name, 0, &err);
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
        json_t *arr = rc ? NULL : json_array();
        for (size_t i = 0; arr && i < n; i++)
            json_array_append_new(arr, st_kek_info_json(&infos[i]));
        if (!rc)
            status = st_cli_key_print(arr, 0, json, cli->quiet);
        json_decref(arr);
        st_kek_info_free(infos, n);
    } else if (!strcmp(sub, "show")) {
        st_kek_info *info = NULL;
        char owner[ST_PRINCIPAL_NAME_MAX] = "";
        rc = st_kek_show(kr, name, now, &info, &err);
        if (!rc)
            rc = st_kek_owner(ws, name, owner, sizeof(owner), &err);
        json_t *j = rc ? NULL : st_kek_info_json(info);
        if (j)
            json_object_set_new(j, "owner",
                                owner[0] ? json_string(owner) : json_null());
        if (!rc)
            status = st_cli_key_print(j, 1, json, cli->quiet);
        json_decref(j);
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
            st_kek_audit_failure(ws, principal, action, name,
                                 !strcmp(sub, "create")   ? 1
                                 : !strcmp(sub, "rotate") ? v
                                                          : version,
                                 &err);
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
