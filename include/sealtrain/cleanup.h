/*
 * sealtrain/cleanup.h: `sealtrain cleanup`: crypto-shred what is past its
 * retention, end stale jobs, remove temporary files; every action (and,
 * with dry_run, every action that would be taken) is reported and
 * recorded in the audit log ("compliance" category).
 *
 * Built-in handlers cover what the catalog holds today: datasets past
 * their manifest's retention (st_dataset_rm: the shred key is destroyed,
 * then the file), jobs whose controller is gone or whose heartbeat stopped
 * (moved to "failed"), leftover temporary files, model files of jobs at
 * rest that no model names (model-files). Modules with more to
 * clean register a handler with st_cleanup_register before st_cleanup_run.
 * Cleanup never removes or rewrites audit entries.
 */
#ifndef SEALTRAIN_CLEANUP_H
#define SEALTRAIN_CLEANUP_H

#include <stddef.h>
#include <time.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_workspace st_workspace;

typedef struct st_cleanup_action {
    char handler[32];   /* "retention", "stale-jobs", "temp-files", ... */
    char resource[256]; /* "dataset:digits", "job:ID", a path */
    char what[256];     /* "crypto-shredded (retention 30 days, ...)" */
    int done;           /* 0 in a dry run or when it failed */
    char error[256];    /* why it failed, or "" */
} st_cleanup_action;

typedef struct st_cleanup_report {
    st_cleanup_action *actions;
    size_t n, cap;
    char notes[8][256]; /* what could not be looked at, and why */
    size_t nnotes;
} st_cleanup_report;

typedef struct st_cleanup_opts {
    int dry_run;
    time_t now;                /* 0: time(NULL) */
    long stale_job_seconds;    /* heartbeat age that makes a job stale
                                  (0: 600) */
    long temp_max_age_seconds; /* tmp/ files older than this (0: 3600) */
    const char *actor;         /* for the audit log; NULL: "system" */
} st_cleanup_opts;

/* A handler adds actions (performing them unless opts->dry_run) with
 * st_cleanup_add. */
typedef st_code (*st_cleanup_fn)(st_workspace *ws, const st_cleanup_opts *opts,
                                 st_cleanup_report *rep, st_err *err);
/* Registers an extra handler (at most 16); ST_E_EXISTS for a name twice. */
ST_MUST_CHECK st_code st_cleanup_register(const char *name, st_cleanup_fn fn,
                                          st_err *err);

/* Runs the built-in then the registered handlers; a handler's failure is
 * a note and the others still run. */
ST_MUST_CHECK st_code st_cleanup_run(st_workspace *ws,
                                     const st_cleanup_opts *opts,
                                     st_cleanup_report *rep, st_err *err);
void st_cleanup_report_free(st_cleanup_report *rep);

/* For handlers: records one action (and audits it unless dry_run). */
ST_MUST_CHECK st_code st_cleanup_add(st_workspace *ws,
                                     const st_cleanup_opts *opts,
                                     st_cleanup_report *rep,
                                     const char *handler, const char *resource,
                                     const char *what, int done,
                                     const char *error);
void st_cleanup_note(st_cleanup_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
