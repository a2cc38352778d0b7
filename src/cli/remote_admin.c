/*
 * remote_admin.c: the governance commands with `--server URL` (docs/api.md
 * "Client side"; issue 14):
 *
 *   data policy set NAME FILE      signed here with --key, PUT
 * /v1/datasets/NAME/policy principal list|show NAME       GET
 * /v1/principals[/NAME] principal add NAME --role R... --signing-key PEM
 * [--recipient age1...] POST /v1/principals principal disable|enable NAME  POST
 * /v1/principals/NAME/disable|enable principal grant|revoke GRANTEE RESOURCE
 * PERMISSION POST /v1/principals/GRANTEE/grant|revoke key list|show NAME GET
 * /v1/keys[/NAME] key rotate NAME                POST /v1/keys/NAME/rotate job
 * resume ID                  POST /v1/jobs/ID/resume
 *
 * The server makes every decision with the library's checks; this file
 * only signs what the owner must sign (a release policy: the private key
 * never leaves this process, and is held in secure memory) and prints the
 * answers as the local commands print theirs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sealtrain/sealtrain.h>

#include "remote.h"

/* One request with a JSON body (or none); *out the parsed 2xx answer (one
 * that is not JSON, or cannot be parsed for memory, is an error: exit 5,
 * saying where). Returns 0 or the exit status after printing the error. */
static int call(st_cli *cli, const char *method, const char *path,
                const char *ctype, const char *body, json_t **out)
{
    st_remote_req rq = {method, path, ctype, body, body ? strlen(body) : 0,
                        NULL};
    st_remote_reply r = {0};
    long status = 0;
    int rc = st_remote_request(cli, &rq, &status, &r);
    if (rc == 0 && (status < 200 || status > 299))
        rc = st_remote_http_fail(status, &r);
    if (rc == 0 && out && !(*out = st_remote_json(r.data, NULL)))
        rc = 5;
    free(r.data);
    return rc;
}

static int post_json(st_cli *cli, const char *path, json_t *body, json_t **out)
{
    char *text = body ? st_json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return st_remote_fail(5, "out of memory");
    int rc = call(cli, "POST", path, NULL, text, out);
    free(text);
    return rc;
}

/* `data policy set NAME FILE`: the dataset's id from the server, the
 * statement signed here with the owner's key, the envelope sent. */
static int policy_set(st_cli *cli, const char *name, const char *file)
{
    char path[256];
    json_t *ds = NULL;
    snprintf(path, sizeof(path), "/v1/datasets/%s", name);
    int rc = call(cli, "GET", path, NULL, NULL, &ds);
    const char *id = json_string_value(json_object_get(ds, "id"));
    if (rc == 0 && !id)
        rc = st_remote_fail(5, "server: the dataset's answer names no id");
    st_err err;
    st_err_clear(&err);
    unsigned char *text = NULL;
    size_t len = 0;
    char *env = NULL;
    uint8_t *seed = NULL;
    if (rc == 0 && (st_fs_read_all(file, 1 << 20, &text, &len, &err) ||
                    !(seed = st_secmem_alloc(32, &err)) ||
                    st_ed25519_load_private_pem(cli->key, seed, &err) ||
                    st_release_policy_sign(name, id, (const char *)text, len,
                                           file, seed, &env, &err)))
        rc = st_cli_fail(&err);
    st_secmem_free(seed);
    free(text);
    json_decref(ds);
    snprintf(path, sizeof(path), "/v1/datasets/%s/policy", name);
    if (rc == 0)
        rc = call(cli, "PUT", path, NULL, env, NULL);
    free(env);
    if (rc == 0 && !cli->quiet)
        printf("release policy of dataset %s set\n", name);
    return rc;
}

static int principal_add(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'},
        {"signing-key", required_argument, NULL, 's'},
        {"recipient", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0}};
    json_t *roles = json_array();
    const char *keyfile = NULL, *rcpt = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "r:s:R:", opts, NULL)) != -1) {
        switch (c) {
        case 'r': {
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", optarg);
            for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
                json_array_append_new(roles, json_string(t));
            break;
        }
        case 's': keyfile = optarg; break;
        case 'R': rcpt = optarg; break;
        default:
            json_decref(roles);
            return st_cli_usage("principal", "unknown option");
        }
    }
    if (optind + 1 != argc || !json_array_size(roles) || !keyfile) {
        json_decref(roles);
        return st_cli_usage("principal", "add NAME --role ROLE... "
                                         "--signing-key PEM [--recipient "
                                         "age1...]");
    }
    unsigned char *pem = NULL;
    size_t len = 0;
    st_err err;
    if (st_fs_read_all(keyfile, 64 * 1024, &pem, &len, &err) != ST_OK) {
        json_decref(roles);
        return st_cli_fail(&err);
    }
    const char *name = argv[optind];
    json_t *body = json_pack("{s:s,s:o,s:s%}", "name", name, "roles", roles,
                             "signing_key", (const char *)pem, len);
    if (body && rcpt)
        json_object_set_new(body, "recipient", json_string(rcpt));
    free(pem);
    json_t *out = NULL;
    int rc = post_json(cli, "/v1/principals", body, &out);
    if (rc == 0 && !cli->quiet) {
        printf("added principal %s (", name);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(out, "roles"), i, v)
            printf("%s%s", i ? "," : "", json_string_value(v));
        printf(")\n");
    }
    json_decref(out);
    return rc;
}

static int principal(st_cli *cli, int argc, char **argv, int json)
{
    const char *sub = argc > 1 ? argv[1] : "";
    char path[256];
    int n = 0; /* positional arguments after the subcommand */
    for (int i = 2; i < argc; i++)
        n += argv[i][0] != '-';
    /* names go into the path: check them here (grant's RESOURCE and
     * PERMISSION travel in the body) */
    if (strcmp(sub, "add") && argc > 2 && argv[2][0] != '-' &&
        !st_remote_valid_arg(argv[2]))
        return st_cli_usage("principal", "\"%s\" is not a name", argv[2]);
    if (!strcmp(sub, "add"))
        return principal_add(cli, argc - 1, argv + 1);
    if (!strcmp(sub, "list") || (!strcmp(sub, "show") && n == 1)) {
        int show = !strcmp(sub, "show");
        json_t *out = NULL;
        if (show)
            snprintf(path, sizeof(path), "/v1/principals/%s", argv[2]);
        int rc =
            call(cli, "GET", show ? path : "/v1/principals", NULL, NULL, &out);
        if (rc == 0)
            st_cli_principal_print(
                show ? out : json_object_get(out, "principals"), show, json);
        json_decref(out);
        return rc;
    }
    if ((!strcmp(sub, "disable") || !strcmp(sub, "enable")) && argc == 3) {
        snprintf(path, sizeof(path), "/v1/principals/%s/%s", argv[2], sub);
        int rc = call(cli, "POST", path, NULL, NULL, NULL);
        if (rc == 0 && !cli->quiet)
            printf("%sd principal %s\n", sub, argv[2]);
        return rc;
    }
    if ((!strcmp(sub, "grant") || !strcmp(sub, "revoke")) && argc == 5) {
        snprintf(path, sizeof(path), "/v1/principals/%s/%s", argv[2], sub);
        int rc = post_json(
            cli, path,
            json_pack("{s:s,s:s}", "resource", argv[3], "permission", argv[4]),
            NULL);
        if (rc == 0 && !cli->quiet)
            printf("%s %s: %s on %s\n",
                   !strcmp(sub, "grant") ? "granted" : "revoked", argv[2],
                   argv[4], argv[3]);
        return rc;
    }
    return -1;
}

static int key(st_cli *cli, int argc, char **argv, int json)
{
    const char *sub = argc > 1 ? argv[1] : "";
    const char *name = NULL;
    for (int i = 2; i < argc; i++)
        if (argv[i][0] != '-') {
            if (name)
                return st_cli_usage("key", "unexpected argument \"%s\"",
                                    argv[i]);
            name = argv[i];
        }
    if (name && !st_remote_valid_arg(name))
        return st_cli_usage("key", "\"%s\" is not a key name", name);
    char path[256];
    json_t *out = NULL;
    int rc;
    if (!strcmp(sub, "list") && !name) {
        rc = call(cli, "GET", "/v1/keys", NULL, NULL, &out);
        if (rc == 0)
            rc = st_cli_key_print(json_object_get(out, "keys"), 0, json,
                                  cli->quiet);
    } else if (!strcmp(sub, "show") && name) {
        snprintf(path, sizeof(path), "/v1/keys/%s", name);
        rc = call(cli, "GET", path, NULL, NULL, &out);
        if (rc == 0)
            rc = st_cli_key_print(out, 1, json, cli->quiet);
    } else if (!strcmp(sub, "rotate") && name) {
        snprintf(path, sizeof(path), "/v1/keys/%s/rotate", name);
        rc = call(cli, "POST", path, NULL, NULL, &out);
        if (rc == 0 && !cli->quiet)
            printf(
                "rotated key %s: version %lld is current\n", name,
                (long long)json_integer_value(json_object_get(out, "current")));
    } else {
        return -1;
    }
    json_decref(out);
    return rc;
}

int st_remote_admin(st_cli *cli, int argc, char **argv, int json)
{
    const char *group = argv[0], *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(group, "data") && !strcmp(sub, "policy") && argc == 5 &&
        !strcmp(argv[2], "set")) {
        if (!st_remote_valid_arg(argv[3]))
            return st_cli_usage("data", "\"%s\" is not a name", argv[3]);
        if (!cli->key)
            return st_cli_usage("data", "data policy set: --key (or "
                                        "SEALTRAIN_KEY) is required: the "
                                        "dataset's owner signs its release "
                                        "policy");
        return policy_set(cli, argv[3], argv[4]);
    }
    if (!strcmp(group, "principal"))
        return principal(cli, argc, argv, json);
    if (!strcmp(group, "key"))
        return key(cli, argc, argv, json);
    if (!strcmp(group, "job") && !strcmp(sub, "resume") && argc == 3) {
        if (!st_remote_valid_arg(argv[2]))
            return st_cli_usage("job", "\"%s\" is not a job id", argv[2]);
        char path[256];
        json_t *out = NULL;
        snprintf(path, sizeof(path), "/v1/jobs/%s/resume", argv[2]);
        int rc = call(cli, "POST", path, NULL, NULL, &out);
        if (rc == 0 && !cli->quiet)
            printf("job %s %s: it continues from its checkpoint when it "
                   "runs next\n",
                   argv[2], json_string_value(json_object_get(out, "state")));
        json_decref(out);
        return rc;
    }
    return -1;
}
