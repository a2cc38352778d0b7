/*
 * cmd_principal.c: `sealtrain principal add|list|show|grant|revoke|disable|
 * enable|matrix`: who may do what (src/access, docs/access.md).
 *
 * Every subcommand authenticates the acting principal (--as/--key) and
 * goes through st_access_check; the one exception is adding the first
 * principal of a workspace, which must be an admin (bootstrap).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void principal_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain principal add NAME --role ROLE... "
            "--signing-key PEM [--recipient age1...]\n"
            "       sealtrain principal list [--json]\n"
            "       sealtrain principal show NAME [--json]\n"
            "       sealtrain principal grant GRANTEE RESOURCE PERMISSION\n"
            "       sealtrain principal revoke GRANTEE RESOURCE PERMISSION\n"
            "       sealtrain principal disable|enable NAME\n"
            "       sealtrain principal matrix\n"
            "       sealtrain principal cert NAME --out DIR [--days N]\n\n"
            "Roles: admin, data-owner, model-owner, trainer, auditor (repeat "
            "--role or\nseparate with commas). The first principal of a "
            "workspace must be an admin;\nafter that every command needs "
            "--as NAME --key FILE (its Ed25519 PEM key).\n"
            "Grants: the owner of a resource lets another principal act on "
            "it, e.g.\n  sealtrain --as alice --key alice.pem principal "
            "grant bob dataset:digits use\nPermissions: use (submit jobs "
            "with it), read, decrypt, share, or an action.\n"
            "`matrix` prints the role x action table (docs/access.md).\n");
}

static int fail_close(st_workspace *ws, const st_err *err)
{
    int rc = st_cli_fail(err);
    st_workspace_close(ws);
    return rc;
}

static void print_roles(unsigned roles)
{
    int first = 1;
    for (unsigned i = 0; i < ST_ROLE_COUNT; i++)
        if (roles & (1u << i)) {
            printf("%s%s", first ? "" : ",", st_access_role_name(i));
            first = 0;
        }
}

static int cmd_add(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'},
        {"signing-key", required_argument, NULL, 's'},
        {"recipient", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    unsigned roles = 0;
    const char *keyfile = NULL, *recipient = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "r:s:R:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': {
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", optarg);
            for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
                unsigned r = st_access_role_parse(t);
                if (!r)
                    return st_cli_usage("principal",
                                        "unknown role \"%s\" (admin, "
                                        "data-owner, model-owner, trainer, "
                                        "auditor)",
                                        t);
                roles |= r;
            }
            break;
        }
        case 's': keyfile = optarg; break;
        case 'R': recipient = optarg; break;
        case 'h': principal_usage(stdout); return 0;
        default: return st_cli_usage("principal", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return st_cli_usage("principal", "add takes one NAME");
    if (!roles)
        return st_cli_usage("principal", "add needs at least one --role");
    if (!keyfile)
        return st_cli_usage("principal",
                            "add needs --signing-key PEM (the principal's "
                            "Ed25519 public key)");
    const char *name = argv[optind];
    st_err err;
    st_err_clear(&err);
    unsigned char *pem;
    size_t len;
    if (st_fs_read_all(keyfile, 64 * 1024, &pem, &len, &err) != ST_OK)
        return st_cli_fail(&err);
    st_workspace *ws;
    st_access_session s;
    int rc = st_cli_open(cli, &ws, &s);
    if (rc) {
        free(pem);
        return rc;
    }
    if (st_access_principal_add(ws, st_cli_principal(&s), name, roles,
                                (const char *)pem, recipient, &err)) {
        free(pem);
        return fail_close(ws, &err);
    }
    free(pem);
    if (!cli->quiet) {
        printf("added principal %s (", name);
        print_roles(roles);
        printf(")\n");
    }
    st_workspace_close(ws);
    return 0;
}

static const char *jstr(const json_t *o, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : def;
}

static void roles_text(const json_t *p, char *out, size_t cap)
{
    size_t i;
    json_t *r;
    out[0] = 0;
    json_array_foreach(json_object_get(p, "roles"), i, r)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "",
                 json_string_value(r));
}

void st_cli_principal_print(const json_t *out, int show, int json)
{
    if (json) {
        char *txt = st_json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", txt ? txt : "null");
        free(txt);
        return;
    }
    char roles[128];
    size_t i;
    json_t *p;
    if (show) {
        roles_text(out, roles, sizeof(roles));
        printf("name:        %s\nroles:       %s\nstatus:      %s\n"
               "recipient:   %s\ncreated:     %s\nlast active: %s\n"
               "signing key:\n%s",
               jstr(out, "name", ""), roles,
               json_is_true(json_object_get(out, "disabled")) ? "disabled"
                                                              : "enabled",
               jstr(out, "recipient", "-"), jstr(out, "created", ""),
               jstr(out, "last_active", "never"), jstr(out, "signing_key", ""));
        json_array_foreach(json_object_get(out, "grants"), i, p)
            printf("grant:       %s on %s (from %s, %s)\n",
                   jstr(p, "permission", ""), jstr(p, "resource", ""),
                   jstr(p, "grantor", ""), jstr(p, "created", ""));
        return;
    }
    printf("%-20s %-36s %-9s %s\n", "NAME", "ROLES", "STATUS", "LAST ACTIVE");
    json_array_foreach(out, i, p)
    {
        roles_text(p, roles, sizeof(roles));
        printf("%-20s %-36s %-9s %s\n", jstr(p, "name", ""), roles,
               json_is_true(json_object_get(p, "disabled")) ? "disabled"
                                                            : "enabled",
               jstr(p, "last_active", "never"));
    }
}

static int cmd_list(st_cli *cli, int argc, char **argv, int show)
{
    int json = cli->json;
    int status = st_cli_json_options(argc, argv, "principal", "unknown option",
                                     principal_usage, &json);
    if (status >= 0)
        return status;
    if (show ? optind + 1 != argc : optind != argc)
        return st_cli_usage("principal", show ? "show takes one NAME"
                                              : "list takes no argument");
    st_workspace *ws;
    st_access_session s;
    int rc = st_cli_open_checked(cli, "principal.read",
                                 show ? argv[optind] : NULL, &ws, &s);
    if (rc)
        return rc;
    st_err err;
    st_err_clear(&err);
    st_principal *all = NULL, one;
    size_t n = 0;
    if (show) {
        if (st_access_principal_get(ws, argv[optind], &one, &err))
            return fail_close(ws, &err);
        all = &one;
        n = 1;
    } else if (st_access_principal_list(ws, &all, &n, &err)) {
        return fail_close(ws, &err);
    }
    st_grant *grants = NULL;
    size_t ng = 0;
    if (show &&
        st_access_grants(ws, argv[optind], &grants, &ng, &err) != ST_OK) {
        st_principal_free(&one);
        return fail_close(ws, &err);
    }
    json_t *out = NULL;
    if (show) {
        out = st_principal_json(&one, 1, grants, ng);
    } else {
        out = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(out, st_principal_json(&all[i], 0, NULL, 0));
    }
    st_cli_principal_print(out, show, json);
    json_decref(out);
    for (size_t i = 0; i < n; i++)
        st_principal_free(&all[i]);
    if (!show)
        free(all);
    free(grants);
    st_workspace_close(ws);
    return 0;
}

static int cmd_grant(st_cli *cli, int argc, char **argv, int grant)
{
    if (argc - optind != 3)
        return st_cli_usage("principal", "%s takes GRANTEE RESOURCE PERMISSION",
                            grant ? "grant" : "revoke");
    st_workspace *ws;
    st_access_session s;
    int rc = st_cli_open(cli, &ws, &s);
    if (rc)
        return rc;
    st_err err;
    st_err_clear(&err);
    const char *g = argv[optind], *res = argv[optind + 1],
               *perm = argv[optind + 2];
    st_code r =
        grant ? st_access_grant(ws, st_cli_principal(&s), g, res, perm, &err)
              : st_access_revoke(ws, st_cli_principal(&s), g, res, perm, &err);
    if (r)
        return fail_close(ws, &err);
    if (!cli->quiet)
        printf("%s %s: %s on %s\n", grant ? "granted" : "revoked", g, perm,
               res);
    st_workspace_close(ws);
    return 0;
}

static int cmd_disable(st_cli *cli, int argc, char **argv, int disable)
{
    if (argc - optind != 1)
        return st_cli_usage("principal", "%s takes one NAME",
                            disable ? "disable" : "enable");
    st_workspace *ws;
    st_access_session s;
    int rc = st_cli_open(cli, &ws, &s);
    if (rc)
        return rc;
    st_err err;
    st_err_clear(&err);
    if (st_access_principal_disable(ws, st_cli_principal(&s), argv[optind],
                                    disable, &err))
        return fail_close(ws, &err);
    if (!cli->quiet)
        printf("%s principal %s\n", disable ? "disabled" : "enabled",
               argv[optind]);
    st_workspace_close(ws);
    return 0;
}

/* The permission matrix as the Markdown table in docs/access.md, or with
 * --json as {"roles": [...], "actions": {"ACTION": [ROLE...]}}. */
static int cmd_matrix(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json"))
            return st_cli_usage("principal",
                                "matrix: unexpected argument "
                                "\"%s\"",
                                argv[i]);
        json = 1;
    }
    if (json) {
        json_t *roles = json_array(), *acts = json_object();
        for (unsigned r = 0; r < ST_ROLE_COUNT; r++)
            json_array_append_new(roles, json_string(st_access_role_name(r)));
        for (size_t a = 0; st_access_actions[a]; a++) {
            unsigned m = st_access_roles_for(st_access_actions[a]);
            json_t *who = json_array();
            for (unsigned r = 0; r < ST_ROLE_COUNT; r++)
                if (m & (1u << r))
                    json_array_append_new(who,
                                          json_string(st_access_role_name(r)));
            json_object_set_new(acts, st_access_actions[a], who);
        }
        json_t *v = json_pack("{s:o,s:o}", "roles", roles, "actions", acts);
        json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\n");
        json_decref(v);
        return 0;
    }
    printf("| action |");
    for (unsigned r = 0; r < ST_ROLE_COUNT; r++)
        printf(" %s |", st_access_role_name(r));
    printf("\n|---|");
    for (unsigned r = 0; r < ST_ROLE_COUNT; r++)
        printf(":-:|");
    printf("\n");
    for (size_t a = 0; st_access_actions[a]; a++) {
        printf("| `%s` |", st_access_actions[a]);
        for (unsigned r = 0; r < ST_ROLE_COUNT; r++)
            printf(" %s |", st_access_cell(st_access_actions[a], 1u << r));
        printf("\n");
    }
    return 0;
}

int st_cli_principal_cmd(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        principal_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    optind = 0; /* glibc: full re-initialisation of getopt */
    if (!strcmp(sub, "add"))
        return cmd_add(cli, argc, argv);
    if (!strcmp(sub, "list") || !strcmp(sub, "show"))
        return cmd_list(cli, argc, argv, !strcmp(sub, "show"));
    if (!strcmp(sub, "cert")) /* cmd_principal_cert.c */
        return st_cli_principal_cert(cli, argc, argv);
    if (st_cli_wants_help(argc, argv)) {
        principal_usage(stdout);
        return 0;
    }
    optind = 1; /* positional arguments only from here on */
    if (!strcmp(sub, "grant") || !strcmp(sub, "revoke"))
        return cmd_grant(cli, argc, argv, !strcmp(sub, "grant"));
    if (!strcmp(sub, "disable") || !strcmp(sub, "enable"))
        return cmd_disable(cli, argc, argv, !strcmp(sub, "disable"));
    if (!strcmp(sub, "matrix"))
        return cmd_matrix(argc, argv);
    return st_cli_usage("principal", "unknown subcommand \"%s\"", sub);
}
