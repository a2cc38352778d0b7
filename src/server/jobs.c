/*
 * jobs.c: the job runner of `sealtrain serve` (docs/api.md, "Jobs run by
 * the server"; issue 9).
 *
 * Queued jobs (submitted over POST /v1/jobs or locally) are started
 * oldest first, at most `--jobs N` at a time, each as a child process
 * running this very binary: `sealtrain --workspace W [--as R --key K] -q
 * job run ID`. That child is the job's controller and local key broker,
 * exactly as when an operator types the command, so the server holds no
 * dataset key and the sandbox and attestation path is the one every
 * other job takes. The child is started with posix_spawn (glibc: clone +
 * exec, no fork of this multi-threaded process running library code in
 * between), in its own process group, with default signal dispositions,
 * stdin/stdout on /dev/null, stderr shared with the server's log, and no
 * descriptor of the server's beyond 0-2 (closefrom).
 *
 * Every child is reaped (waitpid, WNOHANG, on the loop's 250 ms tick) and
 * its exit recorded in the job's status ("runner") and log. A job whose
 * process ended while the job was not finished is failed with that exit
 * as the reason, so that nothing stays "queued" or "training" forever and
 * no job is restarted in a loop.
 *
 * Shutdown (SIGTERM/SIGINT of the server): no new job starts; running
 * jobs get the drain time (--drain) to finish; then each child gets
 * SIGTERM, on which `job run` has the runtime checkpoint at its next
 * epoch boundary and stop: the job is "cancelled" with a reason saying
 * `job resume` continues it, and its status says the server stopped it.
 * A child still alive 20 s later is killed (the job is then failed).
 *
 * This file never reads a key file, never opens the keyring, and never
 * runs a job inside the server process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "sealtrain/access.h"
#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/job.h"
#include "sealtrain/log.h"
#include "sealtrain/workspace.h"
#include "server/server_internal.h"

extern char **environ;

#define MAX_RUNNING 64
#define TICK_US 250000
/* queued jobs are looked for at once after a POST /v1/jobs (kick), else
 * this often (jobs submitted with the local CLI) */
#define SCHEDULE_EVERY_S 2.0
#define KILL_GRACE_S 20.0

typedef struct running {
    pid_t pid;
    char id[ST_JOB_ID_LEN + 1];
    int stopped; /* SIGTERM sent at shutdown */
} running;

struct st_srv_jobs {
    struct st_srv *s;
    st_workspace *ws; /* the loop thread's handle */
    struct event *tick;
    unsigned max;
    int enabled;
    running run[MAX_RUNNING];
    size_t n;
    double last_schedule;
    double kill_at; /* after shutdown: SIGKILL what is left */
    char exe[PATH_MAX];
    char key[PATH_MAX]; /* absolute path of the runner's key file, or "" */
    char as[ST_PRINCIPAL_NAME_MAX];
    st_srv_stream *streams; /* routes_jobs.c */
};

st_srv_stream **st_srv_jobs_streams(st_srv_jobs *j)
{
    return &j->streams;
}

void st_srv_jobs_kick(st_srv_jobs *j)
{
    if (j)
        j->last_schedule = 0;
}

static void now_text(char out[ST_TIME_LEN])
{
    st_time_format(time(NULL), out);
}

/* The environment of the child: the server's, without what would point
 * it elsewhere (--server) or at another principal than the runner's. */
static char **child_env(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 1, sizeof(char *));
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "SEALTRAIN_SERVER=", 17) ||
            !strncmp(environ[i], "SEALTRAIN_AS=", 13) ||
            !strncmp(environ[i], "SEALTRAIN_KEY=", 14))
            continue;
        env[k++] = environ[i];
    }
    return env;
}

static ST_MUST_CHECK st_code spawn_job(st_srv_jobs *j, const char *id,
                                       pid_t *pid, st_err *err)
{
    const char *argv[16];
    size_t a = 0;
    argv[a++] = j->exe;
    argv[a++] = "--workspace";
    argv[a++] = st_workspace_dir(j->ws);
    if (j->as[0]) {
        argv[a++] = "--as";
        argv[a++] = j->as;
    }
    if (j->key[0]) {
        argv[a++] = "--key";
        argv[a++] = j->key;
    }
    argv[a++] = "-q";
    argv[a++] = "job";
    argv[a++] = "run";
    argv[a++] = id;
    argv[a] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    /* the server ignores SIGPIPE and handles TERM/INT itself: the child
     * starts with the defaults `job run` expects */
    int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&defaults, sigs[i]);
    char **env = child_env();
    if (!env)
        return st_err_set(err, ST_E_IO, "out of memory");
    int e = posix_spawn_file_actions_init(&fa);
    if (!e)
        e = posix_spawnattr_init(&at);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    /* no listening socket, TLS connection or catalog descriptor leaks */
    if (!e)
        e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!e)
        e = posix_spawnattr_setsigmask(&at, &none);
    if (!e)
        e = posix_spawnattr_setsigdefault(&at, &defaults);
    /* its own process group: a Ctrl-C meant for the server reaches the
     * jobs only through the server's orderly shutdown */
    if (!e)
        e = posix_spawnattr_setpgroup(&at, 0);
    if (!e)
        e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETPGROUP);
    if (!e)
        e = posix_spawn(pid, j->exe, &fa, &at, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(env);
    if (e)
        return st_err_errno(err, ST_E_IO, e, "starting `%s job run %s`", j->exe,
                            id);
    return ST_OK;
}

static void record_runner(st_srv_jobs *j, const char *id, json_t *runner)
{
    json_t *patch = json_pack("{s:o}", "runner", runner);
    st_err e;
    /* the runner record is for display: a failure is logged, not fatal */
    if (st_job_status_update(j->ws, id, patch, &e) != ST_OK)
        st_warn("serve", "job %s: recording its runner: %s", id, e.msg);
    json_decref(patch);
}

static void start_job(st_srv_jobs *j, const char *id)
{
    pid_t pid = -1;
    st_err err;
    st_err_clear(&err);
    char t[ST_TIME_LEN];
    now_text(t);
    if (spawn_job(j, id, &pid, &err) != ST_OK) {
        st_error("serve", "job %s: %s", id, err.msg);
        st_err te;
        if (st_job_transition(j->ws, id, ST_JOB_FAILED, err.msg, &te) != ST_OK)
            st_error("serve", "job %s: marking it failed: %s", id, te.msg);
        return;
    }
    running *r = &j->run[j->n++];
    memset(r, 0, sizeof(*r));
    r->pid = pid;
    snprintf(r->id, sizeof(r->id), "%s", id);
    st_job_log(j->ws, id, "server: job runner started it (pid %d)", (int)pid);
    record_runner(j, id,
                  json_pack("{s:i,s:s,s:s}", "pid", (int)pid, "started", t,
                            "as", j->as[0] ? j->as : "(bootstrap)"));
    st_info("serve", "job %s: started (pid %d)", id, (int)pid);
}

/* The exit of a child, recorded; a job left unfinished is failed. */
static void job_ended(st_srv_jobs *j, running *r, int status, int known)
{
    char how[64], t[ST_TIME_LEN];
    now_text(t);
    if (!known)
        snprintf(how, sizeof(how), "an unknown status (reaped elsewhere)");
    else if (WIFEXITED(status))
        snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof(how), "status %#x", (unsigned)status);
    st_job_record rec;
    int have = st_job_get(j->ws, r->id, &rec, NULL) == ST_OK;
    /* what start_job recorded (pid, started, as), plus the end */
    json_t *prev = have ? json_object_get(rec.status, "runner") : NULL;
    json_t *runner =
        json_is_object(prev) ? json_deep_copy(prev) : json_object();
    json_object_set_new(runner, "pid", json_integer(r->pid));
    json_object_set_new(runner, "ended", json_string(t));
    json_object_set_new(runner, "exit", json_string(how));
    if (r->stopped) {
        json_object_set_new(runner, "stopped_by",
                            json_string("server shutdown"));
        json_object_set_new(
            runner, "resumable",
            json_boolean(have && rec.state == ST_JOB_CANCELLED));
    }
    if (have && !st_job_state_terminal(rec.state)) {
        char reason[200];
        snprintf(reason, sizeof(reason),
                 "the job process (pid %d, run by the server) ended with %s "
                 "before the job finished",
                 (int)r->pid, how);
        st_err te;
        if (st_job_transition(j->ws, r->id, ST_JOB_FAILED, reason, &te) !=
            ST_OK)
            st_error("serve", "job %s: marking it failed: %s", r->id, te.msg);
    }
    record_runner(j, r->id, runner);
    st_job_log(j->ws, r->id, "server: job process %d ended (%s)%s", (int)r->pid,
               how, r->stopped ? " after the server asked it to stop" : "");
    st_info("serve", "job %s: process %d ended (%s)", r->id, (int)r->pid, how);
    if (have)
        st_job_record_free(&rec);
}

static void reap(st_srv_jobs *j)
{
    for (size_t i = 0; i < j->n;) {
        int status = 0;
        pid_t p = waitpid(j->run[i].pid, &status, WNOHANG);
        if (p == j->run[i].pid || (p < 0 && errno == ECHILD)) {
            job_ended(j, &j->run[i], status, p > 0);
            j->run[i] = j->run[--j->n];
            continue;
        }
        i++;
    }
}

static int is_running(const st_srv_jobs *j, const char *id)
{
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->run[i].id, id))
            return 1;
    return 0;
}

/* Starts the oldest queued jobs while there is room. */
static void schedule(st_srv_jobs *j)
{
    st_job_record *all = NULL;
    size_t n = 0;
    st_err err;
    if (st_job_list(j->ws, &all, &n, &err) != ST_OK) {
        st_error("serve", "job runner: %s", err.msg);
        return;
    }
    /* the list is newest first */
    for (size_t i = n; i-- > 0;) {
        if (j->n < j->max && all[i].state == ST_JOB_QUEUED &&
            !is_running(j, all[i].id))
            start_job(j, all[i].id);
        st_job_record_free(&all[i]);
    }
    free(all);
}

static void shutdown_jobs(st_srv_jobs *j, double deadline)
{
    double now = st_srv_now();
    if (now < deadline)
        return; /* the drain time: running jobs may still finish */
    for (size_t i = 0; i < j->n; i++) {
        running *r = &j->run[i];
        if (r->stopped)
            continue;
        r->stopped = 1;
        st_job_log(j->ws, r->id,
                   "server: shutting down: asked the job to checkpoint and "
                   "stop (SIGTERM)");
        st_info("serve", "job %s: drain time over, SIGTERM to pid %d", r->id,
                (int)r->pid);
        kill(r->pid, SIGTERM);
        if (!j->kill_at)
            j->kill_at = now + KILL_GRACE_S;
    }
    if (j->kill_at && now >= j->kill_at)
        for (size_t i = 0; i < j->n; i++) {
            st_warn("serve", "job %s: pid %d did not stop: SIGKILL",
                    j->run[i].id, (int)j->run[i].pid);
            kill(-j->run[i].pid, SIGKILL); /* its process group */
            kill(j->run[i].pid, SIGKILL);
        }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    st_srv_jobs *j = arg;
    reap(j);
    double deadline = st_srv_stopping(j->s);
    if (deadline) {
        shutdown_jobs(j, deadline);
        return;
    }
    double now = st_srv_now();
    if (j->enabled && j->n < j->max &&
        now - j->last_schedule >= SCHEDULE_EVERY_S) {
        j->last_schedule = now;
        schedule(j);
    }
}

/* The runner's principal must hold job.run (trainer); otherwise every job
 * would start only to be refused. Checked on its roles: the server holds
 * no session of the runner's (the child logs in with its key). */
static int runner_allowed(st_srv_jobs *j, char *why, size_t cap)
{
    int64_t count = 0;
    if (st_access_principal_count(j->ws, &count, NULL) != ST_OK)
        count = 1;
    if (count == 0)
        return 1; /* bootstrap: no access control yet */
    if (!j->as[0] || !j->key[0]) {
        snprintf(why, cap, "no runner principal (--runner-as/--runner-key)");
        return 0;
    }
    st_principal p;
    st_err err;
    if (st_access_principal_get(j->ws, j->as, &p, &err) != ST_OK) {
        snprintf(why, cap, "%s", err.msg);
        return 0;
    }
    int ok = (p.roles & ST_ROLE_TRAINER) && !p.disabled;
    st_principal_free(&p);
    if (!ok)
        snprintf(why, cap,
                 "principal %s may not run jobs (job.run needs the trainer "
                 "role, and an enabled principal)",
                 j->as);
    return ok;
}

st_code st_srv_jobs_start(struct st_srv *s, st_srv_jobs **out, st_err *err)
{
    const st_server_opts *o = st_srv_opts(s);
    st_srv_jobs *j = calloc(1, sizeof(*j));
    if (!j)
        return st_err_set(err, ST_E_IO, "out of memory");
    j->s = s;
    j->ws = st_srv_workspace(s);
    j->max = o->jobs > MAX_RUNNING ? MAX_RUNNING : o->jobs;
    ssize_t n = readlink("/proc/self/exe", j->exe, sizeof(j->exe) - 1);
    if (n <= 0) {
        free(j);
        return st_err_errno(err, ST_E_IO, errno,
                            "job runner: finding this program "
                            "(/proc/self/exe)");
    }
    j->exe[n] = 0;
    if (o->runner_as)
        snprintf(j->as, sizeof(j->as), "%s", o->runner_as);
    if (o->runner_key && !realpath(o->runner_key, j->key)) {
        st_code rc = st_err_errno(err, ST_E_INPUT, errno, "--runner-key %s",
                                  o->runner_key);
        free(j);
        return rc;
    }
    char why[256] = "";
    if (j->max && st_job_migrate(j->ws, err) != ST_OK) {
        free(j);
        return err->code;
    }
    j->enabled = j->max > 0 && runner_allowed(j, why, sizeof(why));
    if (j->max && !j->enabled)
        st_warn("serve",
                "job runner off: %s; submitted jobs stay queued (`job run` "
                "starts them)",
                why);
    else if (j->enabled)
        st_info("serve", "job runner: up to %u job(s) at a time, as %s", j->max,
                j->as[0] ? j->as : "(bootstrap)");
    j->tick = event_new(st_srv_base(s), -1, EV_PERSIST, on_tick, j);
    struct timeval tv = {0, TICK_US};
    if (!j->tick || event_add(j->tick, &tv) != 0) {
        if (j->tick)
            event_free(j->tick);
        free(j);
        return st_err_set(err, ST_E_IO, "job runner: timer");
    }
    *out = j;
    return ST_OK;
}

st_code st_srv_jobs_metrics(st_srv_jobs *j, st_buf *out, st_err *err)
{
    size_t streams = 0;
    for (st_srv_stream **p = j ? st_srv_jobs_streams(j) : NULL; p && *p;
         p = st_srv_stream_next(*p))
        streams++;
    return st_buf_printf(
        out, err,
        "# HELP sealtrain_server_jobs_running Jobs the server's "
        "runner has started and not yet reaped.\n"
        "# TYPE sealtrain_server_jobs_running gauge\n"
        "sealtrain_server_jobs_running %zu\n"
        "# HELP sealtrain_server_log_streams Open job log streams "
        "(?follow=1).\n"
        "# TYPE sealtrain_server_log_streams gauge\n"
        "sealtrain_server_log_streams %zu\n",
        j ? j->n : 0, streams);
}

int st_srv_jobs_busy(st_srv_jobs *j)
{
    return j && j->n > 0;
}

void st_srv_jobs_free(st_srv_jobs *j)
{
    if (!j)
        return;
    st_srv_log_streams_free(j);
    /* a child still running here was killed above or the loop failed:
     * it keeps running as an orphan rather than being killed mid-write */
    if (j->tick)
        event_free(j->tick);
    free(j);
}
