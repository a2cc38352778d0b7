/*
 * cmd_remote.c: `sealtrain --server URL COMMAND ...`: the commands that
 * can run against `sealtrain serve` instead of a local workspace, over
 * HTTPS with the principal's client certificate (libcurl with OpenSSL;
 * docs/api.md):
 *
 *   data list [--json]        GET  /v1/datasets
 *   data show NAME [--json]   GET  /v1/datasets/NAME
 *   data policy show NAME     GET  /v1/datasets/NAME/policy
 *   data import FILE ...      /v1/uploads (cmd_data_remote.c)
 *   job list [--json]         GET  /v1/jobs
 *   job status ID [--json]    GET  /v1/jobs/ID
 *   job logs ID               GET  /v1/jobs/ID/logs
 *   job cancel ID             POST /v1/jobs/ID/cancel
 *   model list                GET  /v1/models
 *   metrics                   GET  /v1/metrics
 *
 * and, through remote_jobs.c, job submit, job logs --follow and model
 * show/download/verify; through remote_admin.c data policy set,
 * principal, key and job resume; audit and check are their own
 * commands' (cmd_audit.c, cmd_check.c), which read the server instead of
 * the workspace. The HTTPS client itself is remote.c. Nothing is
 * decrypted or encrypted here; the server's answers are only displayed.
 * Exit codes follow the CLI's: 403 -> 4, 400/404 -> 3, other failures -> 5.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sealtrain/sealtrain.h>

#include "remote.h"

static int want_json(st_cli *cli, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--json"))
            return 1;
    return cli->json;
}

static void print_json(const st_remote_reply *r)
{
    /* not JSON (or no memory to pretty-print it): as it came */
    json_t *j = st_json_parse(r->data, strlen(r->data), "the answer", NULL);
    char *s = j ? st_json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    printf("%s\n", s ? s : r->data);
    free(s);
    json_decref(j);
}

/* 0, or 5 when the answer is not JSON or cannot be read for memory
 * (st_remote_json said which): a table must not come out empty as if the
 * server had nothing to list. */
static int print_text(const char *what, const st_remote_reply *r)
{
    json_t *j = st_remote_json(r->data, NULL);
    if (!j)
        return 5;
    size_t i;
    json_t *v;
    if (!strcmp(what, "datasets")) {
        json_array_foreach(json_object_get(j, "datasets"), i, v)
            printf("%-20s owner=%-12s rows=%-8lld %s\n",
                   json_string_value(json_object_get(v, "name")),
                   json_string_value(json_object_get(v, "owner")),
                   (long long)json_integer_value(json_object_get(v, "rows")),
                   json_string_value(json_object_get(v, "classification")));
    } else if (!strcmp(what, "jobs")) {
        /* the table `job list` prints locally */
        json_t *jobs = json_object_get(j, "jobs");
        if (json_array_size(jobs))
            printf("%-17s %-20s %-10s %-21s %s\n", "ID", "NAME", "STATE",
                   "UPDATED", "REASON");
        json_array_foreach(jobs, i, v)
        {
            const char *reason =
                json_string_value(json_object_get(v, "reason"));
            printf("%-17s %-20s %-10s %-21s %s\n",
                   json_string_value(json_object_get(v, "id")),
                   json_string_value(json_object_get(v, "name")),
                   json_string_value(json_object_get(v, "state")),
                   json_string_value(json_object_get(v, "updated")),
                   reason ? reason : "");
        }
    } else if (!strcmp(what, "models")) {
        /* the table `model list` prints locally */
        json_t *models = json_object_get(j, "models");
        if (json_array_size(models))
            printf("%-24s %-7s %-17s %-13s %-12s %s\n", "NAME", "VERSION",
                   "JOB", "CLASS", "ACCURACY", "CREATED");
        json_array_foreach(models, i, v)
        {
            json_t *acc =
                json_object_get(json_object_get(json_object_get(v, "metrics"),
                                                "final_evaluation"),
                                "accuracy");
            char a[32] = "-";
            if (json_is_number(acc))
                snprintf(a, sizeof(a), "%.4f", json_number_value(acc));
            printf("%-24s %-7lld %-17s %-13s %-12s %s\n",
                   json_string_value(json_object_get(v, "name")),
                   (long long)json_integer_value(json_object_get(v, "version")),
                   json_string_value(json_object_get(v, "job")),
                   json_string_value(json_object_get(v, "classification")), a,
                   json_string_value(json_object_get(v, "created")));
        }
    } else if (!strcmp(what, "job")) {
        const char *reason = json_string_value(json_object_get(j, "reason"));
        printf("%s  %s  %s%s%s\n", json_string_value(json_object_get(j, "id")),
               json_string_value(json_object_get(j, "state")),
               json_string_value(json_object_get(j, "name")),
               reason ? "  " : "", reason ? reason : "");
    } else {
        print_json(r);
    }
    json_decref(j);
    return 0;
}

int st_cli_remote(st_cli *cli, int argc, char **argv)
{
    const char *group = argv[0];
    const char *sub = argc > 1 ? argv[1] : "";
    int rc0 = st_remote_setup(cli);
    if (rc0)
        return rc0;
    int handled = !strcmp(group, "job")     ? st_remote_job(cli, argc, argv)
                  : !strcmp(group, "model") ? st_remote_model(cli, argc, argv)
                                            : -1;
    if (handled < 0)
        handled = st_remote_admin(cli, argc, argv, want_json(cli, argc, argv));
    if (handled >= 0)
        return handled;
    /* the audit and check commands read the server's answers themselves
     * (cmd_audit.c, cmd_check.c), so that they print as locally */
    if (!strcmp(group, "audit"))
        return st_cli_audit(cli, argc, argv);
    if (!strcmp(group, "check"))
        return st_cli_check(cli, argc, argv);
    /* encrypts here, then uploads (cmd_data_remote.c) */
    if (!strcmp(group, "data") && !strcmp(sub, "import"))
        return st_remote_data_import(cli, argc - 1, argv + 1);
    const char *arg = argc > 2 && argv[2][0] != '-' ? argv[2] : NULL;
    char path[512];
    const char *method = "GET", *kind = "raw";
    if (!strcmp(group, "data") && !strcmp(sub, "policy") && argc > 2 &&
        !strcmp(argv[2], "show")) {
        sub = "policy show";
        arg = argc > 3 ? argv[3] : NULL;
    }
    if (arg && !st_remote_valid_arg(arg))
        return st_cli_usage(group, "\"%s\" is not a name or id", arg);
    if (!strcmp(group, "data") && !strcmp(sub, "list")) {
        snprintf(path, sizeof(path), "/v1/datasets");
        kind = "datasets";
    } else if (!strcmp(group, "data") && !strcmp(sub, "show") && arg) {
        snprintf(path, sizeof(path), "/v1/datasets/%s", arg);
    } else if (!strcmp(group, "data") && !strcmp(sub, "policy show") && arg) {
        snprintf(path, sizeof(path), "/v1/datasets/%s/policy", arg);
    } else if (!strcmp(group, "job") && !strcmp(sub, "list")) {
        snprintf(path, sizeof(path), "/v1/jobs");
        kind = "jobs";
    } else if (!strcmp(group, "job") && !strcmp(sub, "status") && arg) {
        snprintf(path, sizeof(path), "/v1/jobs/%s", arg);
        kind = "job";
    } else if (!strcmp(group, "job") && !strcmp(sub, "logs") && arg) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/logs", arg);
        kind = "text";
    } else if (!strcmp(group, "job") && !strcmp(sub, "cancel") && arg) {
        snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", arg);
        method = "POST";
    } else if (!strcmp(group, "model") && !strcmp(sub, "list")) {
        snprintf(path, sizeof(path), "/v1/models");
        kind = "models";
    } else if (!strcmp(group, "metrics") && argc == 1) {
        snprintf(path, sizeof(path), "/v1/metrics");
        kind = "text";
    } else {
        return st_cli_usage(group,
                            "\"%s %s\" is not available with --server (remote: "
                            "data import|list|show|policy set|policy show, "
                            "job submit|list|status|logs|cancel|resume, model "
                            "list|show|download|verify, principal "
                            "list|show|add|disable|enable|grant|revoke, key "
                            "list|show|rotate, audit show|export|verify|"
                            "checkpoint|prove|consistency|vkey, check, "
                            "metrics)",
                            group, sub);
    }
    st_remote_req rq = {method, path, NULL, NULL, 0, NULL};
    st_remote_reply r = {0};
    long status = 0;
    int rc = st_remote_request(cli, &rq, &status, &r);
    if (rc == 0 && (status < 200 || status > 299))
        rc = st_remote_http_fail(status, &r);
    else if (rc == 0 && !strcmp(kind, "text"))
        fwrite(r.data ? r.data : "", 1, r.len, stdout);
    else if (rc == 0 && want_json(cli, argc, argv))
        print_json(&r);
    else if (rc == 0)
        rc = print_text(kind, &r);
    free(r.data);
    return rc;
}
