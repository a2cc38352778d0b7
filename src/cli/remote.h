/*
 * remote.h: the CLI's HTTPS client for `sealtrain --server URL ...`
 * (remote_http.c: libcurl over OpenSSL, TLS 1.3, the principal's client
 * certificate) shared by cmd_remote.c and cmd_data_remote.c.
 */
#ifndef SEALTRAIN_CLI_REMOTE_H
#define SEALTRAIN_CLI_REMOTE_H

#include <stddef.h>

#include "cli.h"

typedef struct st_reply {
    char *data; /* NUL-terminated, malloc'ed */
    size_t len;
    int too_big;
} st_reply;

typedef struct st_remote_req {
    const char *method; /* GET POST PUT DELETE */
    const char *path;   /* "/v1/..." */
    const void *body;   /* may be NULL */
    size_t len;
    const char *ctype;         /* Content-Type of the body, or NULL */
    const char *content_range; /* "bytes S-E/T", or NULL */
} st_remote_req;

/* One request; *status is the HTTP status and the body is in *out (free
 * out->data). Returns 0, or the exit status after printing the error
 * (transport failures: 5, TLS refusals: 4, missing settings: 2). */
int st_remote_request(st_cli *cli, const st_remote_req *rq, long *status,
                      st_reply *out);
/* Prints the error of a non-2xx reply; returns the exit status (403 -> 4,
 * 400/404/409/413 -> 3, others 5). */
int st_remote_http_fail(long status, const st_reply *r);
/* Frees the connection kept between requests. */
void st_remote_close(void);

/* `sealtrain --server URL data import ...` (cmd_data_remote.c). */
int st_remote_data_import(st_cli *cli, int argc, char **argv);

#endif
