/*
 * server_internal.h: internals shared by the files of src/server (not public):
 * the server state, one request's context and the reply helpers.
 */
#ifndef ST_SERVER_INTERNAL_H
#define ST_SERVER_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "sealtrain/server.h"

struct st_srv;

#define ST_SRV_MAX_ARGS 2

typedef struct st_req st_req;
typedef void (*st_route_fn)(st_req *r);
/* The broker's per-thread cache of release material (routes_broker.c). */
typedef struct st_srv_cache st_srv_cache;

struct st_req {
    struct evhttp_request *req;
    struct st_srv *s;
    st_workspace *ws;
    st_keyring *kr;
    st_srv_cache *cache;   /* the running thread's, for ws; may be NULL */
    const char *principal; /* authenticated by the client certificate */
    const char *ip;
    int method; /* EVHTTP_REQ_GET ... */
    char path[512];
    char arg[ST_SRV_MAX_ARGS][128]; /* '*' segments of the route */
    struct evkeyvalq query;
    int replied;
    /* copied on the loop thread, so that a worker never touches libevent */
    char ipbuf[64];
    char principal_buf[64];
    char *body;
    size_t body_len;
    /* a worker's reply, sent by the loop thread (deferred requests) */
    int deferred;
    int out_code;
    char out_type[64];
    char *out_data;
    size_t out_len;
    /* one more response header (st_srv_reply_header), or NULL */
    const char *out_hname;
    char *out_hvalue;
    st_route_fn fn;
    st_req *next; /* the work queue */
    double t0;    /* when the request arrived (the request log's ms) */
};

typedef struct st_route {
    int method;
    const char *pattern; /* "/v1/datasets/ *" without the space */
    st_route_fn fn;
    int broker_only; /* served by --broker too (which serves only these) */
    int defer;       /* runs on a worker thread (slow: crypto + fsync) */
} st_route;

/* NULL-terminated route tables. */
extern const st_route st_srv_api_routes[];
extern const st_route st_srv_job_routes[]; /* routes_jobs.c */
extern const st_route st_srv_broker_routes[];
extern const st_route st_srv_data_routes[];  /* routes_data.c */
extern const st_route st_srv_admin_routes[]; /* routes_admin.c */

/* The keyring the server opened (--uploads, --broker), else one opened
 * for this request into *owned (close it after use); NULL after replying
 * 503 when it cannot be opened. */
typedef struct st_keyring st_keyring;
st_keyring *st_srv_keyring(st_req *r, st_keyring **owned);

/* Replies; `body` is stolen. Each also counts the status for /metrics. */
void st_srv_reply_json(st_req *r, int code, json_t *body);
void st_srv_reply_text(st_req *r, int code, const char *ctype, const void *data,
                       size_t len);
/* Adds the response header `name` (a string literal) with a copy of
 * `value` to the reply still to come, from the loop or a worker. */
void st_srv_reply_header(st_req *r, const char *name, const char *value);
/* {"error": msg, "permission": action?} with the status for err->code. */
void st_srv_reply_err(st_req *r, const char *permission, const st_err *err);
void st_srv_reply_msg(st_req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* st_access_check for the request's principal; on denial replies 403
 * naming the permission and returns non-zero. */
int st_srv_check(st_req *r, const char *action, const char *resource);

/* The request body (NUL-terminated copy, malloc'ed) or NULL after
 * replying 400/413. */
char *st_srv_body(st_req *r, size_t max, size_t *len);
/* An unsigned query parameter in 0..2^63-1, `def` when absent; -1 after
 * replying 400 (not a number, or out of range). */
int st_srv_query_u64(st_req *r, const char *key, uint64_t def, uint64_t *out);
/* The same in lo..hi: a value given outside it is 400 naming the range,
 * never taken as the default. */
int st_srv_query_range(st_req *r, const char *key, uint64_t lo, uint64_t hi,
                       uint64_t def, uint64_t *out);

/* Appends the server's own counters (Prometheus text) to `out`. */
struct st_buf;
/* Append the server's own metrics; fail only when `out` cannot grow. */
ST_MUST_CHECK st_code st_srv_metrics(struct st_srv *s, struct st_buf *out,
                                     st_err *err);

/* Serialises the broker's shared state between worker threads. */
void st_srv_lock(struct st_srv *s);
void st_srv_unlock(struct st_srv *s);

/* The broker endpoints' state (routes_broker.c). */
typedef struct st_srv_broker st_srv_broker;
ST_MUST_CHECK st_code st_srv_broker_new(st_workspace *ws, st_srv_broker **out,
                                        st_err *err);
void st_srv_broker_free(st_srv_broker *b);
st_srv_broker *st_srv_get_broker(struct st_srv *s);
/* One per thread that runs broker routes, bound to that thread's own
 * workspace handle; NULL when out of memory (then nothing is cached). */
st_srv_cache *st_srv_cache_new(st_workspace *ws);
void st_srv_cache_free(st_srv_cache *c);

/* ---- accessors for the files beside server.c ---- */

struct event_base *st_srv_base(struct st_srv *s);
st_workspace *st_srv_workspace(struct st_srv *s); /* the loop thread's */
const st_server_opts *st_srv_opts(struct st_srv *s);
/* 0 while serving; after SIGTERM/SIGINT the monotonic time (seconds) at
 * which the drain ends. */
double st_srv_stopping(struct st_srv *s);
/* CLOCK_MONOTONIC in seconds (the clock of st_srv_stopping). */
double st_srv_now(void);

/* Starts a streamed 200 reply (chunked) on the loop thread: no
 * per-request deadline or read timeout for it, Connection: close. The
 * caller owns the returned request until evhttp_send_reply_end; when the
 * client leaves, evhttp_request_get_connection() of it turns NULL. */
struct evhttp_request *st_srv_stream_begin(st_req *r, const char *ctype);
/* Bytes queued for the client and not yet sent (0 when it left). */
size_t st_srv_stream_pending(struct evhttp_request *req);

/* ---- the job runner and log streams (jobs.c, routes_jobs.c) ---- */

typedef struct st_srv_jobs st_srv_jobs;
ST_MUST_CHECK st_code st_srv_jobs_start(struct st_srv *s, st_srv_jobs **out,
                                        st_err *err);
/* 1 while the shutdown must wait: jobs still running (finishing within
 * the drain time, then checkpointing on SIGTERM). */
int st_srv_jobs_busy(st_srv_jobs *j);
/* Frees the state; never touches evhttp requests (evhttp_free does). */
void st_srv_jobs_free(st_srv_jobs *j); /* NULL ok */
st_srv_jobs *st_srv_get_jobs(struct st_srv *s);
/* Looks for queued jobs at the next tick (after a submission). */
void st_srv_jobs_kick(st_srv_jobs *j); /* NULL ok */
/* The open log streams (routes_jobs.c keeps them in this list). */
typedef struct st_srv_stream st_srv_stream;
st_srv_stream **st_srv_jobs_streams(st_srv_jobs *j);
st_srv_stream **st_srv_stream_next(st_srv_stream *st);
/* Appends the runner's and streams' gauges (Prometheus text). */
ST_MUST_CHECK st_code st_srv_jobs_metrics(st_srv_jobs *j, struct st_buf *out,
                                          st_err *err); /* j NULL ok */
/* Frees every stream's state at teardown (routes_jobs.c). */
void st_srv_log_streams_free(st_srv_jobs *j);

#endif
