/*
 * cmd_cleanup.c: `sealtrain cleanup [--dry-run]` (include/sealtrain/
 * cleanup.h): crypto-shreds datasets past retention, ends stale jobs,
 * removes old temporary files and empty sealtrain cgroups; every action is
 * printed and recorded in the audit log. Needs the cleanup permission.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

int st_cli_cleanup(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"stale-after", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    st_cleanup_opts o;
    memset(&o, 0, sizeof(o));
    int json = cli->json, c;
    while ((c = getopt_long(argc, argv, "ns:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': o.dry_run = 1; break;
        case 's':
            o.stale_job_seconds = strtol(optarg, NULL, 10);
            if (o.stale_job_seconds <= 0)
                return st_cli_usage("cleanup",
                                    "--stale-after takes seconds (> 0)");
            break;
        case 'j': json = 1; break;
        case 'h':
            printf("usage: sealtrain cleanup [--dry-run] [--stale-after "
                   "SECONDS] [--json]\n\n"
                   "Crypto-shreds datasets past their retention, moves "
                   "stale jobs (controller\ngone, or no heartbeat for "
                   "--stale-after seconds, default 600) to failed,\nremoves "
                   "temporary files older than an hour, model files of "
                   "finished jobs\nthat no model names and empty sealtrain "
                   "cgroups.\nEvery action is recorded in the audit log; "
                   "--dry-run only lists them.\nThe audit log itself is "
                   "never cleaned.\n");
            return 0;
        default: return st_cli_usage("cleanup", "unknown option");
        }
    }
    if (optind != argc)
        return st_cli_usage("cleanup", "no arguments expected");
    st_workspace *ws;
    st_access_session s;
    int rc = st_cli_open_checked(cli, "cleanup", "workspace", &ws, &s);
    if (rc)
        return rc;
    st_err err;
    st_err_clear(&err);
    st_cleanup_report rep;
    memset(&rep, 0, sizeof(rep));
    o.actor = s.bootstrap ? "bootstrap" : s.name;
    if (st_cleanup_run(ws, &o, &rep, &err)) {
        rc = st_cli_fail(&err);
        st_cleanup_report_free(&rep);
        st_workspace_close(ws);
        return rc;
    }
    int failed = 0;
    if (json) {
        json_t *a = json_array(), *notes = json_array();
        for (size_t i = 0; i < rep.n; i++)
            json_array_append_new(
                a, json_pack("{s:s,s:s,s:s,s:b,s:s}", "handler",
                             rep.actions[i].handler, "resource",
                             rep.actions[i].resource, "what",
                             rep.actions[i].what, "done", rep.actions[i].done,
                             "error", rep.actions[i].error));
        for (size_t i = 0; i < rep.nnotes; i++)
            json_array_append_new(notes, json_string(rep.notes[i]));
        json_t *j = json_pack("{s:b,s:o,s:o}", "dry_run", o.dry_run, "actions",
                              a, "notes", notes);
        char *t = st_json_dumps(j, JSON_INDENT(2));
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
    }
    for (size_t i = 0; i < rep.n; i++) {
        const st_cleanup_action *a = &rep.actions[i];
        failed |= !o.dry_run && !a->done;
        if (!json)
            printf("%-8s %-11s %s: %s%s%s\n",
                   o.dry_run ? "would"
                   : a->done ? "done"
                             : "FAILED",
                   a->handler, a->resource, a->what, a->error[0] ? ": " : "",
                   a->error);
    }
    if (!json) {
        for (size_t i = 0; i < rep.nnotes; i++)
            printf("note     %s\n", rep.notes[i]);
        printf("%zu action%s%s\n", rep.n, rep.n == 1 ? "" : "s",
               o.dry_run ? " (dry run: nothing changed)" : "");
    }
    st_cleanup_report_free(&rep);
    st_workspace_close(ws);
    return failed ? 5 : 0;
}
