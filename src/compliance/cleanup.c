/*
 * cleanup.c: retention, stale jobs, temporary files and empty cgroups (see
 * include/sealtrain/cleanup.h).
 *
 * Every step either acts and records the action in the audit log, or (dry
 * run) only reports it. Destruction of data is crypto-shredding through
 * the owning module (st_dataset_rm destroys the shred key, then the file),
 * never a plain unlink. A process is only signalled when /proc says it is a
 * sealtrain process, so a recycled pid is never hit. The audit directory
 * is never touched.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/upload.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/cleanup.h"
#include "sealtrain/clock.h"
#include "sealtrain/dataset.h"
#include "sealtrain/fs.h"
#include "sealtrain/job.h"
#include "sealtrain/model.h"
#include "sealtrain/workspace.h"

#define MAX_HANDLERS 16
static struct {
    char name[32];
    st_cleanup_fn fn;
} handlers[MAX_HANDLERS];
static size_t nhandlers;

st_code st_cleanup_register(const char *name, st_cleanup_fn fn, st_err *err)
{
    for (size_t i = 0; i < nhandlers; i++)
        if (!strcmp(handlers[i].name, name))
            return st_err_set(err, ST_E_EXISTS,
                              "cleanup handler \"%s\" is registered already",
                              name);
    if (nhandlers == MAX_HANDLERS)
        return st_err_set(err, ST_E_USAGE, "too many cleanup handlers");
    snprintf(handlers[nhandlers].name, sizeof(handlers[0].name), "%s", name);
    handlers[nhandlers++].fn = fn;
    return ST_OK;
}

void st_cleanup_note(st_cleanup_report *rep, const char *fmt, ...)
{
    if (rep->nnotes >= sizeof(rep->notes) / sizeof(rep->notes[0]))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->notes[rep->nnotes++], sizeof(rep->notes[0]), fmt, ap);
    va_end(ap);
}

st_code st_cleanup_add(st_workspace *ws, const st_cleanup_opts *opts,
                       st_cleanup_report *rep, const char *handler,
                       const char *resource, const char *what, int done,
                       const char *error)
{
    if (rep->n == rep->cap) {
        size_t cap = rep->cap ? rep->cap * 2 : 16;
        st_cleanup_action *a = realloc(rep->actions, cap * sizeof(*a));
        if (!a)
            return ST_E_IO;
        rep->actions = a;
        rep->cap = cap;
    }
    st_cleanup_action *a = &rep->actions[rep->n++];
    memset(a, 0, sizeof(*a));
    snprintf(a->handler, sizeof(a->handler), "%s", handler);
    snprintf(a->resource, sizeof(a->resource), "%s", resource);
    snprintf(a->what, sizeof(a->what), "%s", what);
    snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
    a->done = done;
    if (opts->dry_run)
        return ST_OK;
    char action[64], reason[600];
    snprintf(action, sizeof(action), "cleanup.%s", handler);
    snprintf(reason, sizeof(reason), "%s%s%s", what, error ? ": " : "",
             error ? error : "");
    st_audit_event ev = {
        "compliance", opts->actor ? opts->actor : "system", action,
        resource,     done ? "success" : "failure",         reason,
        NULL};
    st_err e;
    return st_audit_append(ws, &ev, &e);
}

/* st_cleanup_add for a handler: an action whose audit entry did not land
 * stops the sweep with an error, so cleanup never acts unaudited twice. */
static ST_MUST_CHECK st_code record(st_workspace *ws, const st_cleanup_opts *o,
                                    st_cleanup_report *rep, const char *handler,
                                    const char *resource, const char *what,
                                    int done, const char *error, st_err *err)
{
    if (st_cleanup_add(ws, o, rep, handler, resource, what, done, error) ==
        ST_OK)
        return ST_OK;
    return st_err_set(err, ST_E_IO,
                      "cleanup %s: %s: recording the action (report or "
                      "audit entry) failed",
                      handler, resource);
}

/* ---- retention ---- */

static ST_MUST_CHECK st_code retention(st_workspace *ws,
                                       const st_cleanup_opts *o,
                                       st_cleanup_report *rep, st_err *err)
{
    st_dataset_record *recs = NULL;
    size_t n = 0;
    st_code rc = ST_OK;
    if (st_dataset_list(ws, &recs, &n, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    for (size_t i = 0; i < n; i++) {
        const st_dataset_manifest *m = &recs[i].m;
        if (m->retention_days < 0)
            continue;
        char created[ST_TIME_LEN];
        time_t t;
        snprintf(created, sizeof(created), "%.19sZ", m->created);
        if (st_time_parse(created, &t, NULL) != ST_OK) {
            st_cleanup_note(rep, "dataset %s: unreadable creation time %s",
                            m->name, m->created);
            continue;
        }
        time_t due = t + (time_t)m->retention_days * 86400;
        if (due > o->now)
            continue;
        char res[128], what[256], due_s[ST_TIME_LEN];
        st_time_format(due, due_s);
        snprintf(res, sizeof(res), "dataset:%s", m->name);
        snprintf(what, sizeof(what),
                 "crypto-shred: retention of %lld days ended %s (%s data "
                 "of %s)",
                 m->retention_days, due_s, m->classification, m->owner);
        st_err e;
        int done = 0;
        if (!o->dry_run) {
            done = st_dataset_rm(ws, m->name, o->actor ? o->actor : "system",
                                 &e) == ST_OK;
            if (done && st_access_forget_resource(ws, res, &e) != ST_OK) {
                st_err_prefix(&e, "removed, but its grants remain");
                done = 0;
            }
        }
        rc = record(ws, o, rep, "retention", res, what, done,
                    o->dry_run || done ? NULL : e.msg, err);
        if (rc != ST_OK)
            break;
    }
    st_dataset_records_free(recs, n);
    return rc;
}

/* ---- stale jobs ---- */

/* 1 if `pid` is alive and its command line names sealtrain. */
static int sealtrain_process(long pid)
{
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        return 0;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (!buf[i])
            buf[i] = ' ';
    buf[n] = 0;
    return strstr(buf, "sealtrain") != NULL;
}

static ST_MUST_CHECK st_code stale_jobs(st_workspace *ws,
                                        const st_cleanup_opts *o,
                                        st_cleanup_report *rep, st_err *err)
{
    st_job_record *jobs = NULL;
    size_t n = 0;
    st_code rc = ST_OK;
    if (st_job_list(ws, &jobs, &n, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    for (size_t i = 0; i < n; i++) {
        st_job_record *j = &jobs[i];
        if (st_job_state_terminal(j->state) || j->state == ST_JOB_QUEUED)
            continue;
        char why[200] = "";
        time_t hb = 0;
        if (j->heartbeat[0]) {
            char h[ST_TIME_LEN];
            snprintf(h, sizeof(h), "%.19sZ", j->heartbeat);
            /* an unreadable heartbeat counts as none */
            if (st_time_parse(h, &hb, NULL) != ST_OK)
                hb = 0;
        }
        int controller_alive = sealtrain_process(j->controller_pid);
        if (j->controller_pid > 0 && !controller_alive)
            snprintf(why, sizeof(why), "its controller (pid %ld) is gone",
                     j->controller_pid);
        else if (hb && o->now - hb > o->stale_job_seconds)
            snprintf(why, sizeof(why), "no heartbeat for %lld s",
                     (long long)(o->now - hb));
        else if (!j->controller_pid && !hb)
            snprintf(why, sizeof(why), "it is %s with no controller",
                     st_job_state_name(j->state));
        if (!why[0])
            continue;
        char res[64], what[300];
        snprintf(res, sizeof(res), "job:%s", j->id);
        snprintf(what, sizeof(what), "terminate stale job (%s, %s)",
                 st_job_state_name(j->state), why);
        int done = 0;
        st_err e;
        st_err_clear(&e);
        if (!o->dry_run) {
            if (sealtrain_process(j->runtime_pid))
                kill((pid_t)j->runtime_pid, SIGKILL);
            if (controller_alive)
                kill((pid_t)j->controller_pid, SIGTERM);
            char reason[256];
            snprintf(reason, sizeof(reason), "stale: %s (sealtrain cleanup)",
                     why);
            done = st_job_transition(ws, j->id, ST_JOB_FAILED, reason, &e) ==
                   ST_OK;
        }
        rc = record(ws, o, rep, "stale-jobs", res, what, done,
                    o->dry_run || done ? NULL : e.msg, err);
        if (rc != ST_OK)
            break;
    }
    for (size_t i = 0; i < n; i++)
        st_job_record_free(&jobs[i]);
    free(jobs);
    return rc;
}

/* ---- temporary files ---- */

static int is_temp_name(const char *n)
{
    return n[0] == '.' && strstr(n, ".tmp.") != NULL;
}

static ST_MUST_CHECK st_code sweep_dir(st_workspace *ws,
                                       const st_cleanup_opts *o,
                                       st_cleanup_report *rep, const char *dir,
                                       int all, st_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return ST_OK;
    struct dirent *e;
    st_code rc = ST_OK;
    while (rc == ST_OK && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (!all && !is_temp_name(e->d_name))
            continue;
        char path[PATH_MAX];
        struct stat st;
        if (st_fs_join(path, sizeof(path), dir, e->d_name, NULL) != ST_OK ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        /* a young temporary file may be a write in progress */
        if (o->now - st.st_mtime < o->temp_max_age_seconds)
            continue;
        char what[128];
        snprintf(what, sizeof(what),
                 "remove temporary file (%lld bytes, %lld s "
                 "old)",
                 (long long)st.st_size, (long long)(o->now - st.st_mtime));
        st_err er;
        int done = !o->dry_run && st_fs_shred(path, &er) == ST_OK;
        rc = record(ws, o, rep, "temp-files", path, what, done,
                    o->dry_run || done ? NULL : er.msg, err);
    }
    closedir(d);
    return rc;
}

static ST_MUST_CHECK st_code temp_files(st_workspace *ws,
                                        const st_cleanup_opts *o,
                                        st_cleanup_report *rep, st_err *err)
{
    static const char *const subs[] = {"blobs", "datasets", "jobs", "models",
                                       "logs",  "keys",     NULL};
    char dir[PATH_MAX];
    st_code rc = sweep_dir(ws, o, rep, st_workspace_dir(ws), 0, err);
    for (size_t i = 0; subs[i] && rc == ST_OK; i++)
        if (st_workspace_subdir(ws, subs[i], dir, sizeof(dir), NULL) == ST_OK)
            rc = sweep_dir(ws, o, rep, dir, 0, err);
    if (rc != ST_OK)
        return rc;
    if (st_workspace_subdir(ws, "tmp", dir, sizeof(dir), err) != ST_OK)
        return err ? err->code : ST_E_IO;
    return sweep_dir(ws, o, rep, dir, 1, err);
}

/* ---- model files that no model names ---- */

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The job that wrote a file of models/: "NAME-JOBID.age" or
 * "NAME-JOBID.provenance.json" (st_job_model_file_name and the
 * registration in src/job/run.c); 0 for any other name (a shared copy,
 * "NAME-vN-shared-HEX.age", is the model module's). */
static int model_file_job(const char *n, char id[ST_JOB_ID_LEN + 1])
{
    size_t len = strlen(n), sl;
    if (len > 4 && !strcmp(n + len - 4, ".age"))
        sl = 4;
    else if (len > 16 && !strcmp(n + len - 16, ".provenance.json"))
        sl = 16;
    else
        return 0;
    if (len < sl + ST_JOB_ID_LEN + 2 || n[len - sl - ST_JOB_ID_LEN - 1] != '-')
        return 0;
    memcpy(id, n + len - sl - ST_JOB_ID_LEN, ST_JOB_ID_LEN);
    id[ST_JOB_ID_LEN] = 0;
    return 1;
}

/* A training job moves its sealed model and provenance into models/, then
 * registers them in the transaction that moves it to succeeded. When that
 * COMMIT fails and nothing can commit afterwards (a disk that stays full),
 * the files stay: the registration's outcome is unknown in that process.
 * Here, in a later one, it is known. The order of the reads is what makes
 * the removal safe against a job running now: the directory first, then
 * the jobs, then the models. Every file listed was written by a job that
 * existed then; a job that was not at rest (queued to sealing: a sealing
 * job has written its files before it registers them) keeps them; a job
 * at rest had its registration committed before it got there, so the
 * models read afterwards name its files if they are registered. A job
 * whose controller died is failed by stale-jobs first, so its files go in
 * the same run. */
static ST_MUST_CHECK st_code model_files(st_workspace *ws,
                                         const st_cleanup_opts *o,
                                         st_cleanup_report *rep, st_err *err)
{
    char dir[PATH_MAX];
    if (st_workspace_subdir(ws, "models", dir, sizeof(dir), err) != ST_OK)
        return err ? err->code : ST_E_IO;
    char **names = NULL;
    size_t nn = 0, cap = 0;
    st_code rc = ST_OK;
    DIR *d = opendir(dir);
    if (!d)
        return st_err_errno(err, ST_E_IO, errno, "open %s", dir);
    struct dirent *de;
    char id[ST_JOB_ID_LEN + 1];
    while (rc == ST_OK && (de = readdir(d))) {
        if (!model_file_job(de->d_name, id))
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 16;
            char **g = realloc(names, cap * sizeof(*g));
            if (!g)
                rc = st_err_errno(err, ST_E_IO, ENOMEM, "listing %s", dir);
            else
                names = g;
        }
        if (rc == ST_OK && !(names[nn++] = strdup(de->d_name))) {
            nn--;
            rc = st_err_errno(err, ST_E_IO, ENOMEM, "listing %s", dir);
        }
    }
    closedir(d);
    st_job_record *jobs = NULL;
    size_t nj = 0, nm = 0;
    st_model_record *models = NULL;
    if (rc == ST_OK && nn)
        rc = st_job_list(ws, &jobs, &nj, err);
    if (rc == ST_OK && nn)
        rc = st_model_list(ws, &models, &nm, err);
    for (size_t i = 0; rc == ST_OK && i < nn; i++) {
        (void)model_file_job(names[i], id);
        const st_job_record *j = NULL;
        for (size_t k = 0; k < nj && !j; k++)
            if (!strcmp(jobs[k].id, id))
                j = &jobs[k];
        /* no such job: not a file a job wrote, left alone */
        if (!j || !st_job_state_terminal(j->state))
            continue;
        char path[PATH_MAX];
        if (st_fs_join(path, sizeof(path), dir, names[i], NULL) != ST_OK)
            continue;
        /* by the file's name: the rows hold absolute paths, which a
         * workspace moved elsewhere no longer matches */
        int named = 0;
        for (size_t k = 0; k < nm && !named; k++)
            named = !strcmp(base_name(models[k].path), names[i]) ||
                    !strcmp(base_name(models[k].provenance_path), names[i]);
        if (named)
            continue;
        char what[200];
        snprintf(what, sizeof(what),
                 "remove a model file that no model names (job %s is %s)", id,
                 st_job_state_name(j->state));
        st_err er;
        st_err_clear(&er);
        /* a disk that fails writes cannot overwrite it: its name still
         * goes (the content is sealed to the model's recipients) */
        int done = !o->dry_run && (st_fs_shred(path, &er) == ST_OK ||
                                   unlink(path) == 0 || errno == ENOENT);
        rc = record(ws, o, rep, "model-files", path, what, done,
                    o->dry_run || done ? NULL : er.msg, err);
    }
    for (size_t k = 0; k < nm; k++)
        st_model_record_free(&models[k]);
    free(models);
    for (size_t k = 0; k < nj; k++)
        st_job_record_free(&jobs[k]);
    free(jobs);
    for (size_t k = 0; k < nn; k++)
        free(names[k]);
    free(names);
    return rc;
}

/* ---- dataset uploads nobody finished (upload.h) ---- */

static ST_MUST_CHECK st_code expired_uploads(st_workspace *ws,
                                             const st_cleanup_opts *o,
                                             st_cleanup_report *rep,
                                             st_err *err)
{
    size_t n = 0;
    st_code rc = st_upload_sweep(ws, o->now, o->dry_run, &n, err);
    if (!rc && n) {
        char what[128];
        snprintf(what, sizeof(what),
                 "remove %zu dataset upload(s) idle past their expiry "
                 "(catalog row with its shred key, part file)",
                 n);
        rc = record(ws, o, rep, "expired-uploads", "tmp/uploads", what,
                    !o->dry_run, NULL, err);
    }
    return rc;
}

/* ---- cgroups ---- */

static ST_MUST_CHECK st_code cgroups(st_workspace *ws, const st_cleanup_opts *o,
                                     st_cleanup_report *rep, st_err *err)
{
    (void)err;
    /* sealtrain's sandbox names its groups "sealtrain*"; an empty one is
     * removable (rmdir fails with EBUSY while tasks remain) */
    static const char *const roots[] = {
        "/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/cpu", NULL};
    int found = 0;
    for (size_t r = 0; roots[r]; r++) {
        DIR *d = opendir(roots[r]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strncmp(e->d_name, "sealtrain", 9) != 0)
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", roots[r], e->d_name);
            found++;
            int done = !o->dry_run && rmdir(path) == 0;
            if (!o->dry_run && !done && errno == EBUSY)
                continue; /* still in use: not ours to remove */
            if (record(ws, o, rep, "cgroups", path,
                       "remove empty sealtrain cgroup", done,
                       o->dry_run || done ? NULL : strerror(errno),
                       err) != ST_OK) {
                closedir(d);
                return err ? err->code : ST_E_IO;
            }
        }
        closedir(d);
    }
    if (!found)
        st_cleanup_note(rep, "cgroups: no sealtrain cgroup exists (the "
                             "sandbox falls back to rlimits where cgroup v2 "
                             "is not writable)");
    return ST_OK;
}

st_code st_cleanup_run(st_workspace *ws, const st_cleanup_opts *in,
                       st_cleanup_report *rep, st_err *err)
{
    st_cleanup_opts o = *in;
    memset(rep, 0, sizeof(*rep));
    if (!o.now)
        o.now = time(NULL);
    if (!o.stale_job_seconds)
        o.stale_job_seconds = 600;
    if (!o.temp_max_age_seconds)
        o.temp_max_age_seconds = 3600;
    static const struct {
        const char *name;
        st_cleanup_fn fn;
    } builtin[] = {{"retention", retention},
                   {"stale-jobs", stale_jobs},
                   {"temp-files", temp_files},
                   {"model-files", model_files},
                   {"expired-uploads", expired_uploads},
                   {"cgroups", cgroups}};
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        st_err e;
        if (builtin[i].fn(ws, &o, rep, &e) != ST_OK)
            st_cleanup_note(rep, "%s: %s", builtin[i].name, e.msg);
    }
    for (size_t i = 0; i < nhandlers; i++) {
        st_err e;
        if (handlers[i].fn(ws, &o, rep, &e) != ST_OK)
            st_cleanup_note(rep, "%s: %s", handlers[i].name, e.msg);
    }
    if (!o.dry_run) {
        char reason[128];
        snprintf(reason, sizeof(reason), "%zu actions", rep->n);
        st_audit_event ev = {"compliance", o.actor ? o.actor : "system",
                             "cleanup",    "workspace",
                             "success",    reason,
                             NULL};
        return st_audit_append(ws, &ev, err);
    }
    return ST_OK;
}

void st_cleanup_report_free(st_cleanup_report *rep)
{
    if (!rep)
        return;
    free(rep->actions);
    memset(rep, 0, sizeof(*rep));
}
