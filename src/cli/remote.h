/*
 * remote.h: the HTTPS client every `sealtrain --server URL ...` command
 * shares (remote.c; libcurl over OpenSSL, TLS 1.3 only, the principal's
 * client certificate, the server verified against SEALTRAIN_CACERT).
 * Commands (cmd_remote.c and the command groups' remote parts) build on
 * these so that TLS settings, limits and error mapping live once.
 */
#ifndef SEALTRAIN_CLI_REMOTE_H
#define SEALTRAIN_CLI_REMOTE_H

#include <stddef.h>
#include <stdio.h>

#include "cli.h"

/* A reply body collected in memory (NUL-terminated, at most 64 MiB). */
typedef struct st_remote_reply {
    char *data;
    size_t len;
    int too_big;
} st_remote_reply;

typedef struct st_remote_req {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    const char *path;   /* "/v1/..." (query included) */
    const char *ctype;  /* of the body; NULL: application/json */
    const void *body;   /* may be NULL */
    size_t body_len;
    FILE *stream; /* not NULL: a 2xx body is written here as it
                     arrives, with no overall time limit (log
                     streams); other bodies are still collected */
} st_remote_req;

/* Resolves --server once per process: a URL as is, or a client
 * configuration file (st_client_config_load) whose server, cert, cacert
 * and key fill what --key, SEALTRAIN_CERT and SEALTRAIN_CACERT leave
 * unset. Returns 0, or the exit status after printing the error. */
int st_remote_setup(st_cli *cli);

/* One request (after st_remote_setup); *status gets the HTTP status and *out
 * the body (free out->data). Returns 0, or the exit status after printing the
 * error (2 usage/config, 4 TLS refused, 5 transport). */
int st_remote_request(st_cli *cli, const st_remote_req *rq, long *status,
                      st_remote_reply *out);
/* The same with a Content-Range header: one chunk of an upload. */
int st_remote_request_range(st_cli *cli, const st_remote_req *rq,
                            const char *content_range, long *status,
                            st_remote_reply *out);
/* Maps a non-2xx reply to the CLI's exit status, printing the server's
 * {"error"} message: 403 -> 4, 400/404 -> 3, others 5. */
int st_remote_http_fail(long status, const st_remote_reply *r);
/* Prints "sealtrain: <message>" and returns `code`. */
int st_remote_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The server's answer `data` (NULL: none) as JSON; NULL after saying why
 * (stderr): where it is not JSON, or out of memory (*oom set, if given). */
json_t *st_remote_json(const char *data, int *oom);
/* 1 if `s` is a name or id the server's paths accept ([A-Za-z0-9._-],
 * 1..64 characters). */
int st_remote_valid_arg(const char *s);

/* st_remote_request, a non-2xx status mapped to the exit status
 * (st_remote_http_fail); the 2xx body in *r (free r->data either way). */
int st_remote_call(st_cli *cli, const st_remote_req *rq, st_remote_reply *r);
/* One request on model NAME[@V] (`suffix`: "", "/download", "/verify");
 * a POST when `body` is given. */
int st_remote_model_call(st_cli *cli, const char *ref, const char *suffix,
                         const void *body, size_t len, st_remote_reply *r);
/* `model evaluate|predict NAME[@V] --data D --server` (remote_use.c):
 * the requester verifies the runtime's evidence and wraps the model key
 * to it itself; argv[0] is "model". Returns the exit status. */
int st_remote_model_use(st_cli *cli, int argc, char **argv);

/* `job ...` and `model ...` with --server (remote_jobs.c); argv[0] is the
 * group. Return the exit status; -1 when the subcommand is not theirs. */
int st_remote_job(st_cli *cli, int argc, char **argv);
int st_remote_model(st_cli *cli, int argc, char **argv);
/* data policy set, principal ..., key list|show|rotate and job resume
 * with --server (remote_admin.c); argv[0] is the group. The exit status,
 * or -1 when the command is not theirs. */
int st_remote_admin(st_cli *cli, int argc, char **argv, int json);
/* `data import FILE ...` with --server: encrypt here, upload in chunks
 * (cmd_data_remote.c); argv[0] is "import". */
int st_remote_data_import(st_cli *cli, int argc, char **argv);

#endif
