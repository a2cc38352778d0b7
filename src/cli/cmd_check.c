/*
 * cmd_check.c: `sealtrain check [--json] [--html FILE]`: the security
 * checklist (include/sealtrain/check.h). Exit 0 when nothing fails (warnings
 * allowed), 4 when an item fails. The run is recorded in the audit log.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"
#include "remote.h"

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain check [--json] [--html FILE] "
            "[--denial-threshold N]\n"
            "                       [--denial-window HOURS] "
            "[--checkpoint-max-age HOURS]\n"
            "                       [--admin-inactive-days N]\n\n"
            "Runs the security checklist: workspace and key file "
            "permissions, KEK\nrotation, retired or revoked keys still "
            "wrapping data, datasets without\nrelease policy, policies "
            "accepting sim, stale attestation, the audit\nlog (verifies, "
            "checkpointed recently), retention, inactive admins,\nrepeated "
            "denials from one principal (default: 5 in 24 hours).\nEach item "
            "is pass, warn, fail or n/a with its evidence. Exit 4 if any\n"
            "item fails. --html writes one self-contained report file.\n");
}

/* GET /v1/check with the options as query parameters: the items the
 * server's run found (it records the run with the caller as actor). */
static int remote_items(st_cli *cli, const st_check_opts *o,
                        st_check_item **items, size_t *n)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/check?");
    if (o->denial_threshold)
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "denial_threshold=%d&", o->denial_threshold);
    if (o->denial_window_seconds)
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "denial_window=%ld&", o->denial_window_seconds / 3600);
    if (o->checkpoint_max_age)
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "checkpoint_max_age=%ld&", o->checkpoint_max_age / 3600);
    if (o->admin_inactive_seconds)
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "admin_inactive_days=%ld&", o->admin_inactive_seconds / 86400);
    path[strlen(path) - 1] = 0; /* the last '&' or the '?' */
    st_remote_req rq = {"GET", path, NULL, NULL, 0, NULL};
    st_remote_reply r = {0};
    long status = 0;
    int rc = st_remote_setup(cli);
    if (rc == 0)
        rc = st_remote_request(cli, &rq, &status, &r);
    if (rc == 0 && (status < 200 || status > 299))
        rc = st_remote_http_fail(status, &r);
    json_t *j = rc == 0 ? st_remote_json(r.data, NULL) : NULL;
    free(r.data);
    st_err err;
    if (rc == 0 && !j)
        rc = 5;
    else if (rc == 0 && st_check_from_json(j, items, n, &err) != ST_OK)
        rc = st_cli_fail(&err);
    json_decref(j);
    return rc;
}

int st_cli_check(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"html", required_argument, NULL, 'H'},
        {"denial-threshold", required_argument, NULL, 'd'},
        {"denial-window", required_argument, NULL, 'w'},
        {"checkpoint-max-age", required_argument, NULL, 'c'},
        {"admin-inactive-days", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    st_check_opts o;
    memset(&o, 0, sizeof(o));
    const char *html = NULL;
    int json = cli->json, c;
    while ((c = getopt_long(argc, argv, "jH:d:w:c:a:h", opts, NULL)) != -1) {
        long v = optarg && c != 'H' ? strtol(optarg, NULL, 10) : 0;
        if (optarg && c != 'H' && v <= 0)
            return st_cli_usage("check", "--%s takes a positive number",
                                c == 'd'   ? "denial-threshold"
                                : c == 'w' ? "denial-window"
                                : c == 'c' ? "checkpoint-max-age"
                                           : "admin-inactive-days");
        switch (c) {
        case 'j': json = 1; break;
        case 'H': html = optarg; break;
        case 'd': o.denial_threshold = (int)v; break;
        case 'w': o.denial_window_seconds = v * 3600; break;
        case 'c': o.checkpoint_max_age = v * 3600; break;
        case 'a': o.admin_inactive_seconds = v * 86400; break;
        case 'h': check_usage(stdout); return 0;
        default: return st_cli_usage("check", "unknown option");
        }
    }
    if (optind != argc)
        return st_cli_usage("check", "no arguments expected");
    st_err err;
    st_err_clear(&err);
    o.now = time(NULL);
    st_check_item *items = NULL;
    size_t n = 0;
    st_workspace *ws = NULL;
    int rc;
    if (cli->server && cli->server[0]) {
        /* the server runs (and records) the same checklist */
        rc = remote_items(cli, &o, &items, &n);
        if (rc)
            return rc;
    } else {
        st_access_session s;
        rc = st_cli_open_checked(cli, "check", "workspace", &ws, &s);
        if (rc)
            return rc;
        st_keyring *kr = st_cli_keyring_if_unattended(ws);
        st_code r = st_check_run_audited(
            ws, kr, &o, s.bootstrap ? "bootstrap" : s.name, &items, &n, &err);
        st_keyring_close(kr);
        if (r != ST_OK) {
            rc = st_cli_fail(&err);
            st_workspace_close(ws);
            return rc;
        }
    }
    if (html && st_check_html(items, n, ws ? st_workspace_dir(ws) : cli->server,
                              o.now, html, &err) != ST_OK) {
        free(items);
        rc = st_cli_fail(&err);
        st_workspace_close(ws);
        return rc;
    }
    st_check_level worst = st_check_worst(items, n);
    if (json) {
        json_t *j = st_check_json(items, n);
        char *t = st_json_dumps(j, JSON_INDENT(2));
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%-4s  %-22s %s\n      %s\n",
                   st_check_level_name(items[i].status), items[i].id,
                   items[i].title, items[i].evidence);
        printf("result: %s\n", st_check_level_name(worst));
    }
    size_t fails = 0;
    for (size_t i = 0; i < n; i++)
        fails += items[i].status == ST_CHECK_FAIL;
    free(items);
    st_workspace_close(ws);
    if (worst == ST_CHECK_FAIL) {
        fprintf(stderr, "sealtrain: check: %zu item%s failed\n", fails,
                fails == 1 ? "" : "s");
        return 4;
    }
    return 0;
}
