/*
 * enclave/sandbox.h: the sandbox of the enclave runtime.
 *
 * st_sandbox_spawn() starts a child process confined by every measure the
 * machine offers: new user, network, mount, PID, IPC and UTS namespaces; an
 * unprivileged uid with no capabilities; no_new_privs; not dumpable;
 * RLIMIT_CORE 0; CPU and memory limits (cgroup v2 when writable, else
 * rlimits); Landlock (read-only inputs, one writable output directory); a
 * seccomp allowlist that kills the process on any other system call. The
 * child then runs the caller's function with one end of a socketpair; that
 * socket is its only channel to the world.
 *
 * Each measure's status (applied, or unavailable and why) is recorded in
 * an st_sandbox_report. Under ST_SANDBOX_STRICT the spawn fails when any
 * measure could not be applied; under ST_SANDBOX_RELAXED the child runs and
 * the report says what is missing.
 *
 * The child is made by fork(), not exec: it must be spawned before the
 * caller holds keys it must never see (secure memory is also excluded from
 * children with MADV_DONTFORK).
 *
 * Not public: the CLI uses none of it; the modules of src/ that need it
 * include it as "enclave/sandbox.h".
 */
#ifndef ST_ENCLAVE_SANDBOX_H
#define ST_ENCLAVE_SANDBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sealtrain/err.h"
#include "sealtrain/jobspec.h" /* st_sandbox_level */

#ifdef __cplusplus
extern "C" {
#endif

#define ST_SANDBOX_MAX_INPUTS 64

typedef struct st_sandbox_config {
    st_sandbox_level level;
    /* Read-only inputs, opened by the caller: they stay open in the child
     * (at the same numbers) and Landlock allows reading only them. */
    const int *input_fds;
    size_t ninputs;
    /* The one directory the child may write (created by the caller). When
     * the caller is root it is handed to the child's unprivileged uid;
     * st_sandbox_reclaim() gives it back. May be NULL: nothing writable. */
    const char *output_dir;
    /* That directory opened by the caller (O_PATH is enough): the child
     * writes through openat() on it, since it cannot walk the path. -1 when
     * output_dir is NULL. */
    int output_dirfd;
    /* Other descriptors the child keeps (e.g. a socket to the platform's
     * attestation agent); not files, so Landlock has nothing to say. */
    const int *keep_fds;
    size_t nkeep;
    unsigned cpus;          /* CPUs the child may use; 0 = all */
    uint64_t memory_bytes;  /* memory limit; 0 = none */
    uint64_t cpu_seconds;   /* CPU-time limit; 0 = none */
    uint64_t memlock_bytes; /* locked (secure) memory the child may hold */
    /* 1: that memory is memfd_secret (off the kernel's direct map) when it
     * must be prepared before privileges go; 0: mlock'ed (faster to
     * fault in: bulk data) */
    int memlock_secret;
} st_sandbox_config;

#define ST_SANDBOX_MAX_MEASURES 20

typedef struct st_sandbox_measure {
    char name[32];    /* "seccomp", "landlock", "network-namespace", ... */
    int applied;      /* 1 applied, 0 unavailable */
    char detail[200]; /* how it was applied, or why it was not */
} st_sandbox_measure;

typedef struct st_sandbox_report {
    size_t n;
    st_sandbox_measure m[ST_SANDBOX_MAX_MEASURES];
} st_sandbox_report;

/* {"level": ..., "measures": [{"name","status","detail"}...]} */
json_t *st_sandbox_report_json(const st_sandbox_report *r,
                               st_sandbox_level level);
/* Number of measures not applied; their names, comma-separated, in out. */
size_t st_sandbox_report_missing(const st_sandbox_report *r, char *out,
                                 size_t cap);

/* The child's main: `sock` is its end of the socketpair. The return value
 * becomes its exit status (the child never returns into the caller). */
typedef int (*st_sandbox_main)(void *arg, int sock);

typedef struct st_sandbox_child {
    pid_t pid;                /* in the caller's PID namespace */
    int sock;                 /* the caller's end of the socketpair */
    st_sandbox_report report; /* measures in force */
    char cgroup[256];         /* cgroup v2 directory, "" when none */
} st_sandbox_child;

/* Starts `fn(arg, sock)` in a sandboxed child. On success the child runs
 * and *child holds its pid, the caller's socket end and the report. Under
 * ST_SANDBOX_STRICT a missing measure is ST_E_DENIED naming it (the child
 * is killed and reaped first). */
ST_MUST_CHECK st_code st_sandbox_spawn(const st_sandbox_config *cfg,
                                       st_sandbox_main fn, void *arg,
                                       st_sandbox_child *child, st_err *err);

/* Waits for the child (blocking when `block`, else polling): returns 1 and
 * the wait status in *status once it exited, 0 while it runs. Closes the
 * socket and removes the cgroup once it has exited. */
int st_sandbox_wait(st_sandbox_child *child, int block, int *status);
/* The same, waiting at most `timeout_ms` for the exit (woken by the exit
 * itself through a pidfd, not by polling). */
int st_sandbox_wait_for(st_sandbox_child *child, int timeout_ms, int *status);

/* SIGKILL to the child (the whole PID namespace dies with it). */
void st_sandbox_kill(st_sandbox_child *child);

/* Gives the files the child wrote in `dir` (one level) and `dir` itself
 * back to the caller's uid. */
ST_MUST_CHECK st_code st_sandbox_reclaim(const char *dir, st_err *err);

/* "exited with status 3", "killed by SIGSYS (forbidden system call)" */
void st_sandbox_describe_status(int status, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
