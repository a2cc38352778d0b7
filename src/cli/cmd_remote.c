/*
 * cmd_remote.c: `sealtrain --server URL COMMAND ...`: the commands that
 * can run against `sealtrain serve` instead of a local workspace, over
 * HTTPS with the principal's client certificate (libcurl with OpenSSL;
 * docs/api.md):
 *
 *   data list [--json]        GET  /v1/datasets
 *   data show NAME [--json]   GET  /v1/datasets/NAME
 *   job list [--json]         GET  /v1/jobs
 *   job status ID [--json]    GET  /v1/jobs/ID
 *   job logs ID               GET  /v1/jobs/ID/logs
 *   job cancel ID             POST /v1/jobs/ID/cancel
 *   audit checkpoint          POST /v1/audit/checkpoint
 *   model list|show NAME      GET  /v1/models[/NAME]
 *
 * The client key is --key / SEALTRAIN_KEY (the principal's signing key),
 * the certificate SEALTRAIN_CERT (from `principal cert`) and the CA
 * SEALTRAIN_CACERT. TLS 1.3 only, the server verified against that CA.
 * Nothing is decrypted or encrypted here; the server's answers are only
 * displayed. Exit codes follow the CLI's: 403 -> 4, 400/404 -> 3, other
 * failures -> 5.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

#define MAX_REPLY (64u << 20)

typedef struct reply {
    char *data;
    size_t len;
    int too_big;
} reply;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    reply *r = arg;
    size_t add = size * n;
    if (r->len + add > MAX_REPLY) {
        r->too_big = 1;
        return 0;
    }
    char *d = realloc(r->data, r->len + add + 1);
    if (!d)
        return 0;
    memcpy(d + r->len, p, add);
    r->data = d;
    r->len += add;
    r->data[r->len] = 0;
    return add;
}

static int fail_msg(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail_msg(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sealtrain: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return code;
}

/* One request; *status the HTTP status, body in *out. Returns 0, or the
 * exit status after printing the error. */
static int request(st_cli *cli, const char *method, const char *path,
                   long *status, reply *out)
{
    const char *cert = getenv("SEALTRAIN_CERT");
    const char *ca = getenv("SEALTRAIN_CACERT");
    if (!cli->key || !cert || !ca)
        return fail_msg(2,
                        "--server needs the principal's key (--key or "
                        "SEALTRAIN_KEY), SEALTRAIN_CERT (its certificate from "
                        "`principal cert`) and SEALTRAIN_CACERT%s%s",
                        "", "");
    char url[4096];
    size_t bl = strlen(cli->server);
    while (bl && cli->server[bl - 1] == '/')
        bl--;
    if (snprintf(url, sizeof(url), "%.*s%s", (int)bl, cli->server, path) >=
        (int)sizeof(url))
        return fail_msg(2, "--server URL too long");
    if (strncmp(url, "https://", 8) != 0)
        return fail_msg(2, "--server %s: only https:// URLs", cli->server);
    CURL *c = curl_easy_init();
    if (!c)
        return fail_msg(5, "libcurl initialisation failed");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(
        c, CURLOPT_SSLVERSION,
        (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_DEFAULT));
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, cli->key);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        int denied = rc == CURLE_SSL_CONNECT_ERROR ||
                     rc == CURLE_PEER_FAILED_VERIFICATION ||
                     rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_RECV_ERROR;
        return fail_msg(denied ? 4 : 5, "%s: %s", url,
                        errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    if (out->too_big)
        return fail_msg(5, "%s: reply larger than the limit", url);
    return 0;
}

/* Maps an error reply to the exit status, printing its message. */
static int http_fail(long status, const reply *r)
{
    json_error_t je;
    json_t *j = r->data ? json_loads(r->data, 0, &je) : NULL;
    const char *msg = json_string_value(json_object_get(j, "error"));
    fail_msg(1, "server: %s (HTTP %ld)", msg ? msg : "error", status);
    json_decref(j);
    return status == 403 ? 4 : (status == 400 || status == 404) ? 3 : 5;
}

static int want_json(st_cli *cli, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--json"))
            return 1;
    return cli->json;
}

static void print_json(const reply *r)
{
    json_error_t je;
    json_t *j = json_loads(r->data, 0, &je);
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    printf("%s\n", s ? s : r->data);
    free(s);
    json_decref(j);
}

static void print_text(const char *what, const reply *r)
{
    json_error_t je;
    json_t *j = json_loads(r->data, 0, &je);
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
        json_array_foreach(json_object_get(j, "jobs"), i, v) printf(
            "%s  %-10s %-20s %s\n", json_string_value(json_object_get(v, "id")),
            json_string_value(json_object_get(v, "state")),
            json_string_value(json_object_get(v, "name")),
            json_string_value(json_object_get(v, "submitter")));
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
}

static int valid_arg(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789._-",
                    s[i]))
            return 0;
    return 1;
}

int st_cli_remote(st_cli *cli, int argc, char **argv)
{
    const char *group = argv[0];
    const char *sub = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 && argv[2][0] != '-' ? argv[2] : NULL;
    char path[512];
    const char *method = "GET", *kind = "raw";
    if (arg && !valid_arg(arg))
        return st_cli_usage(group, "\"%s\" is not a name or id", arg);
    if (!strcmp(group, "data") && !strcmp(sub, "list")) {
        snprintf(path, sizeof(path), "/v1/datasets");
        kind = "datasets";
    } else if (!strcmp(group, "data") && !strcmp(sub, "show") && arg) {
        snprintf(path, sizeof(path), "/v1/datasets/%s", arg);
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
    } else if (!strcmp(group, "model") && !strcmp(sub, "show") && arg) {
        snprintf(path, sizeof(path), "/v1/models/%s", arg);
    } else if (!strcmp(group, "audit") && !strcmp(sub, "checkpoint")) {
        snprintf(path, sizeof(path), "/v1/audit/checkpoint");
        method = "POST";
        kind = "text";
    } else {
        return st_cli_usage(group,
                            "\"%s %s\" is not available with --server (remote: "
                            "data list|show, job list|status|logs|cancel, "
                            "model list|show, audit checkpoint)",
                            group, sub);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return fail_msg(5, "libcurl initialisation failed");
    reply r = {0};
    long status = 0;
    int rc = request(cli, method, path, &status, &r);
    if (rc == 0 && (status < 200 || status > 299))
        rc = http_fail(status, &r);
    else if (rc == 0 && !strcmp(kind, "text"))
        fwrite(r.data ? r.data : "", 1, r.len, stdout);
    else if (rc == 0 && want_json(cli, argc, argv))
        print_json(&r);
    else if (rc == 0)
        print_text(kind, &r);
    free(r.data);
    curl_global_cleanup();
    return rc;
}
