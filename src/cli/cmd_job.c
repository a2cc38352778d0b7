/*
 * cmd_job.c: `sealtrain job`: submit, run, list, status, logs, cancel,
 * resume, report (docs/jobs.md).
 *
 * `job run` runs the job in the foreground: this process is the key broker
 * and the sandboxed enclave runtime is its child. On a terminal it draws a
 * progress bar per epoch (loss, accuracy, samples/s, ETA); with --json it
 * streams one JSON object per event. Errors print once, with the exit
 * status of their code (4 denied, 6 cancelled, ...).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void job_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain job COMMAND ...\n\n"
            "  submit SPEC            sign the job spec with --key and queue "
            "it; prints the id\n"
            "  run SPEC|ID [--json]   run a job in the foreground (a SPEC "
            "file is submitted first)\n"
            "  list [--json]          every job, newest first\n"
            "  status ID [--json]     state, sandbox measures, attestation, "
            "resources, heartbeat\n"
            "  logs ID [--follow]     the job's log (states, epochs, "
            "reasons)\n"
            "  cancel ID              stop a queued or running job\n"
            "  resume ID [--json]     run a failed or cancelled job again "
            "from its last\n"
            "                         encrypted checkpoint\n"
            "  report ID [--html FILE] [--svg DIR]\n"
            "                         the training report: one self-contained "
            "HTML page,\n"
            "                         and/or its charts as .svg files\n\n"
            "The spec format is in docs/jobs.md (example: "
            "examples/jobs/digits-mlp.json).\n"
            "Exit status: 0 succeeded, 3 bad input, 4 denied (attestation, "
            "policy,\npermission), 5 system failure, 6 cancelled.\n");
}

struct session {
    st_workspace *ws;
    st_access_session who;
    const char *name; /* acting principal, or "local" in bootstrap mode */
};

static int open_session(st_cli *cli, struct session *s, st_err *err)
{
    memset(s, 0, sizeof(*s));
    if (st_workspace_open(cli->workspace, &s->ws, err) != ST_OK)
        return -1;
    if (st_job_migrate(s->ws, err) != ST_OK ||
        st_access_login(s->ws, cli->as, cli->key, &s->who, err) != ST_OK) {
        st_workspace_close(s->ws);
        s->ws = NULL;
        return -1;
    }
    s->name = s->who.bootstrap ? (cli->as ? cli->as : "local") : s->who.name;
    return 0;
}

static const char *principal(const struct session *s)
{
    return s->who.bootstrap ? NULL : s->who.name;
}

static ST_MUST_CHECK st_code submit(st_cli *cli, struct session *s,
                                    const char *path,
                                    char id[ST_JOB_ID_LEN + 1], st_err *err)
{
    if (!cli->key)
        return st_err_set(err, ST_E_USAGE,
                          "job submit: --key (or SEALTRAIN_KEY) is required: "
                          "the job spec is signed by its submitter");
    st_job_spec spec;
    st_code rc = st_job_spec_load(path, &spec, err);
    if (rc != ST_OK)
        return rc;
    /* job.submit on each dataset, and the owners' consent, are checked by
     * st_job_submit before anything is stored */
    uint8_t *seed = st_secmem_alloc(32, err);
    if (rc == ST_OK && !seed)
        rc = err->code;
    if (rc == ST_OK)
        rc = st_ed25519_load_private_pem(cli->key, seed, err);
    if (rc == ST_OK)
        rc = st_job_submit(s->ws, s->name, &spec, seed, id, err);
    st_secmem_free(seed);
    st_job_spec_free(&spec);
    return rc;
}

/* ---- the progress display ---- */

struct display {
    int json;
    int tty;
    int quiet;
    time_t started;
    int bar_open; /* a \r line is on screen */
};

static void end_bar(struct display *d)
{
    if (d->bar_open) {
        fputc('\n', stdout);
        d->bar_open = 0;
    }
}

static void show(void *ctx, const char *kind, const json_t *data)
{
    struct display *d = ctx;
    if (d->json) {
        json_t *line = json_deep_copy(data);
        json_object_set_new(line, "event", json_string(kind));
        json_dumpf(line, stdout, JSON_COMPACT | JSON_SORT_KEYS);
        fputc('\n', stdout);
        fflush(stdout);
        json_decref(line);
        return;
    }
    if (d->quiet)
        return;
    if (!strcmp(kind, "state")) {
        end_bar(d);
        const char *reason = json_string_value(json_object_get(data, "reason"));
        printf("[%s]%s%s\n", json_string_value(json_object_get(data, "state")),
               reason && *reason ? " " : "", reason ? reason : "");
    } else if (!strcmp(kind, "sandbox")) {
        json_t *m = json_object_get(data, "measures");
        size_t i, applied = 0;
        json_t *v;
        json_array_foreach(m, i, v) applied +=
            !strcmp(json_string_value(json_object_get(v, "status")), "applied");
        printf("  sandbox (%s): %zu of %zu measures applied\n",
               json_string_value(json_object_get(data, "level")), applied,
               json_array_size(m));
    } else if (!strcmp(kind, "attestation")) {
        printf("  attestation (%s): %s\n",
               json_string_value(json_object_get(data, "tee")),
               json_is_true(json_object_get(data, "pass"))
                   ? "verified, keys released"
                   : json_string_value(json_object_get(data, "reason")));
    } else if (!strcmp(kind, "progress")) {
        long long e = json_integer_value(json_object_get(data, "epoch"));
        long long n = json_integer_value(json_object_get(data, "epochs"));
        json_t *loss = json_object_get(data, "loss");
        json_t *acc = json_object_get(data, "accuracy");
        double sps =
            json_number_value(json_object_get(data, "samples_per_second"));
        double el = difftime(time(NULL), d->started);
        double eta = e > 0 ? el / (double)e * (double)(n - e) : 0;
        char bar[31];
        int fill = n > 0 ? (int)(30 * e / n) : 0;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        char accs[32] = "", losss[32] = "";
        if (acc)
            snprintf(accs, sizeof(accs), " acc %5.2f%%",
                     100 * json_number_value(acc));
        /* a gbdt round without an evaluation has no loss to show */
        if (loss)
            snprintf(losss, sizeof(losss), " loss %.4f",
                     json_number_value(loss));
        printf("%sepoch %3lld/%-3lld [%s]%s%s %7.0f samples/s ETA "
               "%d:%02d%s",
               d->tty ? "\r" : "", e, n, bar, losss, accs, sps, (int)eta / 60,
               (int)eta % 60, d->tty ? "" : "\n");
        d->bar_open = d->tty;
        fflush(stdout);
    } else if (!strcmp(kind, "result") &&
               !json_object_get(data, "model_path")) {
        end_bar(d); /* a model use: its command prints the result */
    } else if (!strcmp(kind, "result")) {
        end_bar(d);
        json_t *fe = json_object_get(json_object_get(data, "metrics"),
                                     "final_evaluation");
        json_t *acc = json_object_get(fe, "accuracy");
        printf("  sealed model: %s\n  provenance:   %s\n",
               json_string_value(json_object_get(data, "model_path")),
               json_string_value(json_object_get(data, "provenance_path")));
        if (acc)
            printf("  final accuracy (%s): %.2f%%\n",
                   json_string_value(json_object_get(fe, "evaluated_on")),
                   100 * json_number_value(acc));
    }
}

static int run_job(st_cli *cli, struct session *s, const char *id, int json,
                   int resume)
{
    st_err err;
    st_err_clear(&err);
    if (st_job_authorize(s->ws, principal(s), "job.run", id, &err) != ST_OK)
        return st_cli_fail(&err);
    struct display d = {json, isatty(1), cli->quiet, time(NULL), 0};
    if (!json && !cli->quiet)
        printf("job %s\n", id);
    /* the runner, not the submitter, is the actor of what the run does */
    st_job_run_opts o = {
        .observe = show, .ctx = &d, .resume = resume, .runner = principal(s)};
    st_code rc = st_job_run(s->ws, id, &o, &err);
    end_bar(&d);
    if (rc != ST_OK) {
        if (json) {
            json_t *v = json_pack("{s:s,s:s,s:s}", "event", "error", "code",
                                  st_code_name(rc), "message", err.msg);
            json_dumpf(v, stdout, JSON_COMPACT | JSON_SORT_KEYS);
            fputc('\n', stdout);
            json_decref(v);
        }
        return st_cli_fail(&err);
    }
    if (!json && !cli->quiet)
        printf("job %s succeeded\n", id);
    return 0;
}

/* ---- status ---- */

static void print_status(const st_job_record *r)
{
    printf("job %s (%s)\n  state:      %s%s%s\n  submitter:  %s\n"
           "  created:    %s\n  updated:    %s\n  spec:       sha256:%s\n",
           r->id, r->name, st_job_state_name(r->state),
           r->reason[0] ? ": " : "", r->reason, r->submitter, r->created,
           r->updated, r->spec_digest);
    json_t *sb = json_object_get(r->status, "sandbox");
    if (sb) {
        printf("  sandbox:    %s\n",
               json_string_value(json_object_get(sb, "level")));
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(sb, "measures"), i, m)
            printf("    %-19s %-11s %s\n",
                   json_string_value(json_object_get(m, "name")),
                   json_string_value(json_object_get(m, "status")),
                   json_string_value(json_object_get(m, "detail")));
    }
    json_t *at = json_object_get(r->status, "attestation");
    if (at)
        printf("  attestation: %s, %s (evidence sha256:%s)\n",
               json_string_value(json_object_get(at, "tee")),
               json_is_true(json_object_get(at, "pass"))
                   ? "verified"
                   : json_string_value(json_object_get(at, "reason")),
               json_string_value(json_object_get(at, "evidence_sha256")));
    json_t *res = json_object_get(r->status, "resources");
    if (res)
        printf("  resources:  cpu %.1f s, elapsed %.1f s, rss %lld KiB "
               "(peak %lld KiB), threads %lld\n",
               json_number_value(json_object_get(res, "cpu_seconds")),
               json_number_value(json_object_get(res, "elapsed_seconds")),
               json_integer_value(json_object_get(res, "rss_kib")),
               json_integer_value(json_object_get(res, "peak_rss_kib")),
               json_integer_value(json_object_get(res, "threads")));
    if (r->heartbeat[0])
        printf("  heartbeat:  %s%s\n", r->heartbeat,
               st_job_state_terminal(r->state) ? " (runtime ended)" : "");
    if (!st_job_state_terminal(r->state) && r->controller_pid > 0 &&
        kill((pid_t)r->controller_pid, 0) != 0 && errno == ESRCH)
        printf("  controller: pid %ld is gone: the job is not running "
               "(`job cancel`, then `job resume`)\n",
               r->controller_pid);
    json_t *p = json_object_get(r->status, "progress");
    if (p) {
        json_t *acc = json_object_get(p, "accuracy");
        printf("  progress:   epoch %lld/%lld, loss %.4f",
               json_integer_value(json_object_get(p, "epoch")),
               json_integer_value(json_object_get(p, "epochs")),
               json_number_value(json_object_get(p, "loss")));
        if (acc)
            printf(", accuracy %.2f%%", 100 * json_number_value(acc));
        printf("\n");
    }
    json_t *result = json_object_get(r->status, "result");
    json_t *ev = json_object_get(result, "evaluation");
    json_t *pr = json_object_get(result, "predictions");
    if (json_object_get(result, "model_path"))
        printf("  model:      %s\n  provenance: %s\n",
               json_string_value(json_object_get(result, "model_path")),
               json_string_value(json_object_get(result, "provenance_path")));
    else if (ev) /* a model use (docs/predict.md) */
        printf("  evaluation: %s, metrics sha256:%s\n",
               json_string_value(json_object_get(ev, "evaluated_on")),
               json_string_value(json_object_get(result, "metrics_sha256")));
    else if (pr)
        printf("  predictions: %s (%lld rows, sha256:%s)\n",
               json_string_value(json_object_get(pr, "path")),
               json_integer_value(json_object_get(pr, "rows")),
               json_string_value(json_object_get(pr, "sha256")));
}

static json_t *record_json(const st_job_record *r)
{
    json_t *v = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:O}", "id", r->id, "name",
        r->name, "submitter", r->submitter, "state",
        st_job_state_name(r->state), "reason", r->reason, "created", r->created,
        "updated", r->updated, "spec_sha256", r->spec_digest,
        "cancel_requested", r->cancel_requested, "status", r->status);
    json_object_set_new(v, "runtime_pid", json_integer(r->runtime_pid));
    json_object_set_new(v, "runner",
                        r->runner[0] ? json_string(r->runner) : json_null());
    json_object_set_new(v, "heartbeat",
                        r->heartbeat[0] ? json_string(r->heartbeat)
                                        : json_null());
    return v;
}

/* ---- report ---- */

/* The report of job `id` (readable by whoever may read its status) as
 * one HTML file and/or one .svg file per chart in `svg_dir`, each
 * written atomically. */
static ST_MUST_CHECK st_code write_report(struct session *s, const char *id,
                                          const char *html, const char *svg_dir,
                                          int quiet, st_err *err)
{
    json_t *doc = NULL;
    st_code rc = st_report_collect(s->ws, principal(s), id, &doc, err);
    if (rc == ST_OK && html) {
        st_buf b;
        st_buf_init(&b);
        rc = st_report_html(doc, &b, err);
        if (rc == ST_OK)
            rc = st_fs_write_atomic(html, b.data, b.len, 0644, err);
        st_buf_free(&b);
        if (rc == ST_OK && !quiet)
            printf("report of job %s: %s\n", id, html);
    }
    st_report_chart *c = NULL;
    size_t n = 0;
    if (rc == ST_OK && svg_dir) {
        rc = st_report_charts(doc, &c, &n, err);
        if (rc == ST_OK && mkdir(svg_dir, 0755) != 0 && errno != EEXIST)
            rc = st_err_errno(err, ST_E_IO, errno, "creating %s", svg_dir);
    }
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        char path[4200];
        rc = st_fs_join(path, sizeof(path), svg_dir, c[i].name, err);
        if (rc == ST_OK)
            rc = st_fs_write_atomic(path, c[i].svg.data, c[i].svg.len, 0644,
                                    err);
        if (rc == ST_OK && !quiet)
            printf("%s: %s\n", c[i].title, path);
    }
    if (rc == ST_OK && svg_dir && !n && !quiet)
        printf("job %s has no chart yet (no metrics)\n", id);
    st_report_charts_free(c, n);
    json_decref(doc);
    return rc;
}

static int follow_log(st_workspace *ws, const char *id, int follow)
{
    st_err err;
    char path[4200];
    if (st_job_log_path(ws, id, path, sizeof(path), &err) != ST_OK)
        return st_cli_fail(&err);
    FILE *f = fopen(path, "r");
    if (!f) {
        st_err_errno(&err, ST_E_NOTFOUND, errno, "job %s: log %s", id, path);
        return st_cli_fail(&err);
    }
    char line[4096];
    for (;;) {
        while (fgets(line, sizeof(line), f))
            fputs(line, stdout);
        fflush(stdout);
        if (!follow)
            break;
        st_job_record r;
        if (st_job_get(ws, id, &r, &err) != ST_OK)
            break;
        int done = st_job_state_terminal(r.state);
        st_job_record_free(&r);
        if (done) {
            while (fgets(line, sizeof(line), f))
                fputs(line, stdout);
            break;
        }
        clearerr(f);
        usleep(300000);
    }
    fclose(f);
    return 0;
}

int st_cli_job(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        job_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"html", required_argument, NULL, 'H'},
                                         {"svg", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = cli->json, follow = 0, c;
    const char *html = NULL, *svg = NULL;
    optind = 0; /* glibc: full re-initialisation */
    while ((c = getopt_long(argc - 1, argv + 1, "jfh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'f': follow = 1; break;
        case 'H': html = optarg; break;
        case 'S': svg = optarg; break;
        case 'h': job_usage(stdout); return 0;
        default: return st_cli_usage("job", "unknown option");
        }
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    int need = strcmp(sub, "list") ? 1 : 0;
    if (nargs != need)
        return st_cli_usage("job", "%s takes %s", sub,
                            need ? "one argument" : "no argument");
    if (follow && strcmp(sub, "logs"))
        return st_cli_usage("job", "--follow is for `job logs`");
    if ((html || svg) && strcmp(sub, "report"))
        return st_cli_usage("job", "--html and --svg are for `job report`");
    if (!strcmp(sub, "report") && !html && !svg)
        return st_cli_usage("job", "report: give --html FILE, --svg DIR or "
                                   "both");
    if (json && !strcmp(sub, "report"))
        return st_cli_usage("job", "--json does not apply to `job report` "
                                   "(use `job status --json`)");
    if (json && !strcmp(sub, "logs"))
        return st_cli_usage("job", "--json does not apply to `job logs`: the "
                                   "log is text (use `job status --json`)");

    st_err err;
    st_err_clear(&err);
    struct session s;
    if (open_session(cli, &s, &err) != 0)
        return st_cli_fail(&err);
    int status = 0;
    st_code rc = ST_OK;
    if (!strcmp(sub, "submit")) {
        char id[ST_JOB_ID_LEN + 1];
        rc = submit(cli, &s, args[0], id, &err);
        if (rc == ST_OK && json)
            printf("{\"id\": \"%s\"}\n", id);
        else if (rc == ST_OK)
            printf("%s\n", id);
    } else if (!strcmp(sub, "run") || !strcmp(sub, "resume")) {
        char id[ST_JOB_ID_LEN + 1];
        struct stat st;
        int resume = !strcmp(sub, "resume");
        if (!resume && stat(args[0], &st) == 0 && S_ISREG(st.st_mode)) {
            /* refused before anything is queued: a run that may not
             * happen must not leave a submitted job behind */
            rc = st_access_check(s.ws, principal(&s), "job.run", NULL, &err);
            if (rc == ST_OK)
                rc = submit(cli, &s, args[0], id, &err);
        } else
            snprintf(id, sizeof(id), "%s", args[0]);
        if (rc == ST_OK)
            status = run_job(cli, &s, id, json, resume);
    } else if (!strcmp(sub, "list")) {
        st_job_record *all = NULL;
        size_t n = 0;
        rc = st_access_check(s.ws, principal(&s), "job.read", NULL, &err);
        if (rc == ST_OK)
            rc = st_job_list_readable(s.ws, principal(&s), &all, &n, &err);
        json_t *arr = json ? json_array() : NULL;
        if (rc == ST_OK && !json && n)
            printf("%-17s %-20s %-10s %-21s %s\n", "ID", "NAME", "STATE",
                   "UPDATED", "REASON");
        for (size_t i = 0; i < n; i++) {
            if (json)
                json_array_append_new(arr, record_json(&all[i]));
            else
                printf("%-17s %-20s %-10s %-21s %s\n", all[i].id, all[i].name,
                       st_job_state_name(all[i].state), all[i].updated,
                       all[i].reason);
            st_job_record_free(&all[i]);
        }
        free(all);
        if (json && rc == ST_OK) {
            json_dumpf(arr, stdout, JSON_INDENT(2));
            printf("\n");
        }
        json_decref(arr);
    } else if (!strcmp(sub, "status")) {
        st_job_record r;
        rc = st_job_authorize(s.ws, principal(&s), "job.read", args[0], &err);
        if (rc == ST_OK)
            rc = st_job_get(s.ws, args[0], &r, &err);
        if (rc == ST_OK) {
            if (json) {
                json_t *v = record_json(&r);
                json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
                printf("\n");
                json_decref(v);
            } else
                print_status(&r);
            st_job_record_free(&r);
        }
    } else if (!strcmp(sub, "logs")) {
        rc = st_job_authorize(s.ws, principal(&s), "job.read", args[0], &err);
        if (rc == ST_OK)
            status = follow_log(s.ws, args[0], follow);
    } else if (!strcmp(sub, "report")) {
        rc = write_report(&s, args[0], html, svg, cli->quiet, &err);
    } else if (!strcmp(sub, "cancel")) {
        rc = st_job_authorize(s.ws, principal(&s), "job.cancel", args[0], &err);
        if (rc == ST_OK)
            rc = st_job_cancel(s.ws, principal(&s), args[0], &err);
        if (rc == ST_OK && json)
            printf("{\"id\": \"%s\", \"cancel_requested\": true}\n", args[0]);
        else if (rc == ST_OK && !cli->quiet)
            printf("cancel requested for job %s\n", args[0]);
    } else {
        st_workspace_close(s.ws);
        return st_cli_usage("job", "unknown command \"%s\"", sub);
    }
    st_workspace_close(s.ws);
    if (rc != ST_OK)
        return st_cli_fail(&err);
    return status;
}
