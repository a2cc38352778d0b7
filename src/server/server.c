/*
 * server.c: `sealtrain serve`: the HTTPS listener (libevent evhttp over
 * OpenSSL bufferevents), mutual TLS 1.3 against the workspace CA, the
 * principal behind each connection, rate limits, connection caps, size
 * limits, timeouts and graceful shutdown (docs/api.md, issue 9).
 *
 * One event loop thread serves every connection; handlers are short
 * catalog reads or writes. libevent parses HTTP; this file never parses
 * HTTP itself. There is no plaintext listener: every accepted socket is
 * wrapped in TLS before evhttp sees a byte.
 *
 * It never logs a certificate's key or a request body, and never answers
 * a request whose client certificate does not carry a registered, enabled
 * principal's current signing key.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sealtrain/access.h"
#include "sealtrain/bytes.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "sealtrain/log.h"
#include "sealtrain/server.h"
#include "sealtrain/workspace.h"
#include "server/server_internal.h"

/* ---- token buckets and per-IP connection counts ---- */

#define TABLE_SIZE 4096 /* open addressing; the stalest entry is evicted */

typedef struct bucket {
    char key[72]; /* "ip:1.2.3.4" or "p:alice"; "" when free */
    double tokens, last;
    unsigned conns;
} bucket;

typedef struct table {
    bucket *b;
} table;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The entry for key, created full (`burst` tokens) when new. */
static bucket *table_get(table *t, const char *key, double burst, double now)
{
    uint32_t h = fnv1a(key) % TABLE_SIZE;
    bucket *oldest = NULL;
    for (unsigned i = 0; i < 16; i++) {
        bucket *e = &t->b[(h + i) % TABLE_SIZE];
        if (!strcmp(e->key, key))
            return e;
        if (!e->key[0]) {
            oldest = e;
            break;
        }
        /* an entry with open connections is never evicted */
        if (!e->conns && (!oldest || e->last < oldest->last))
            oldest = e;
    }
    if (!oldest)
        return NULL; /* 16 probes, all holding connections: refuse */
    snprintf(oldest->key, sizeof(oldest->key), "%s", key);
    oldest->tokens = burst;
    oldest->last = now;
    oldest->conns = 0;
    return oldest;
}

/* Takes one token; 0 when the bucket is empty (*retry: seconds to wait). */
static int bucket_take(bucket *e, double rate, double burst, double now,
                       double *retry)
{
    e->tokens = fmin(burst, e->tokens + (now - e->last) * rate);
    e->last = now;
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
        return 1;
    }
    *retry = rate > 0 ? (1.0 - e->tokens) / rate : 60;
    return 0;
}

/* ---- server state ---- */

#define NCODES 12
static const int codes[NCODES] = {200, 201, 202, 400, 403, 404,
                                  405, 409, 413, 429, 500, 503};

struct st_srv {
    st_workspace *ws;
    st_keyring *kr;
    st_server_opts o;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    SSL_CTX *ctx;
    table buckets;
    unsigned nconns;
    unsigned inflight;
    int stopping;
    double stop_deadline;
    uint64_t replies[NCODES + 1]; /* the last: any other status */
    uint64_t auth_failures, rate_limited, conn_refused;
    unsigned admitted;    /* connections counted by conn_admit */
    char ca_fp[100];      /* SHA-256 of the CA certificate, AA:BB:... */
    double refuse_logged; /* when a refusal was last logged */
    st_srv_broker *broker;
    st_srv_cache *cache; /* the loop thread's (routes run there too) */
    /* workers: each has its own workspace handle (SQLite connection) and
     * keyring; the audit log handle (group commit) is shared */
    pthread_mutex_t mu; /* the queue and the broker's shared state */
    pthread_cond_t cv;
    st_req *qhead, *qtail;
    int quit;
    size_t nworkers;
    struct worker *workers;
    st_srv_jobs *jobs; /* job runner and log streams (jobs.c) */
};

typedef struct worker {
    struct st_srv *s;
    pthread_t th;
    st_workspace *ws;
    st_keyring *kr;
    st_srv_cache *cache;
    int started;
} worker;

void st_srv_lock(struct st_srv *s)
{
    pthread_mutex_lock(&s->mu);
}

void st_srv_unlock(struct st_srv *s)
{
    pthread_mutex_unlock(&s->mu);
}

st_srv_broker *st_srv_get_broker(struct st_srv *s)
{
    return s->broker;
}

st_srv_jobs *st_srv_get_jobs(struct st_srv *s)
{
    return s->jobs;
}

struct event_base *st_srv_base(struct st_srv *s)
{
    return s->base;
}

st_workspace *st_srv_workspace(struct st_srv *s)
{
    return s->ws;
}

const st_server_opts *st_srv_opts(struct st_srv *s)
{
    return &s->o;
}

double st_srv_now(void)
{
    return mono_now();
}

double st_srv_stopping(struct st_srv *s)
{
    return s->stopping ? s->stop_deadline : 0;
}

/* Per-connection facts, kept as ex_data of the connection's SSL object so
 * they live exactly as long as the connection. */
typedef struct conn {
    struct st_srv *s;
    char ip[INET6_ADDRSTRLEN + 4];
    int ip_counted;
    int authed; /* 1 ok, -1 refused */
    char principal[ST_PRINCIPAL_NAME_MAX];
    char why[256];
    /* admission at accept (conn_admit): 0 not yet, 1 counted, -1 refused */
    int admitted;
    int handshaken; /* the handshake deadline has passed it */
    struct event *admit_ev;
    /* evhttp's timeout is per read: a client dripping bytes just under it
     * would hold the connection forever. Each request must arrive whole
     * within this deadline of the previous one (or of the accept). */
    struct bufferevent *bev;
    struct event *deadline;
} conn;

static struct timeval deadline_of(const struct st_srv *s);

static int conn_idx = -1;

static void conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                      long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    conn *c = ptr;
    if (!c)
        return;
    if (c->ip_counted) {
        char key[80];
        snprintf(key, sizeof(key), "ip:%s", c->ip);
        bucket *e =
            table_get(&c->s->buckets, key, c->s->o.ip_burst, mono_now());
        if (e && e->conns)
            e->conns--;
    }
    if (c->admitted > 0)
        c->s->admitted--;
    c->s->nconns--;
    if (c->deadline)
        event_free(c->deadline);
    if (c->admit_ev)
        event_free(c->admit_ev);
    free(c);
}

/* The share of --max-conns kept for light addresses: once the others
 * hold all but this many, only an address holding fewer than
 * light_limit() connections gets in, so that a few addresses each
 * within their cap cannot fill the server between them. */
static unsigned reserve_of(const struct st_srv *s)
{
    return s->o.max_conns / 4;
}

static unsigned light_limit(const struct st_srv *s)
{
    unsigned l = s->o.max_conns_per_ip / 4;
    return l ? l : 1;
}

/* Counts the connection against its address and the server's budget, once,
 * from the socket's peer address; 0 when a cap refuses it (then the socket
 * is shut down before any TLS byte is read or written: evhttp sees the
 * end of the stream and frees the connection). Called at accept and, if
 * the ClientHello is read first, from the ClientHello callback. */
static int conn_admit(conn *c)
{
    if (c->admitted)
        return c->admitted > 0;
    struct st_srv *s = c->s;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        c->admitted = -1;
        return 0;
    }
    const void *a = ss.ss_family == AF_INET6
                        ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
    if (!inet_ntop(ss.ss_family, a, c->ip, sizeof(c->ip)))
        snprintf(c->ip, sizeof(c->ip), "?");
    char key[80];
    snprintf(key, sizeof(key), "ip:%s", c->ip);
    double now = mono_now();
    bucket *ib = table_get(&s->buckets, key, s->o.ip_burst, now);
    const char *why = NULL;
    if (!ib)
        why = "address table full";
    else if (ib->conns >= s->o.max_conns_per_ip)
        why = "per-address connection cap";
    else if (s->admitted >= s->o.max_conns)
        why = "connection cap";
    else if (s->admitted >= s->o.max_conns - reserve_of(s) &&
             ib->conns >= light_limit(s))
        why = "connection cap (the rest is kept for other addresses)";
    if (why) {
        c->admitted = -1;
        s->conn_refused++;
        /* one line a second at most: a flood must not flood the log */
        if (now - s->refuse_logged >= 1.0) {
            s->refuse_logged = now;
            st_warn("serve",
                    "refusing connections from %s (%s); %llu refused so far",
                    c->ip, why, (unsigned long long)s->conn_refused);
        }
        shutdown(fd, SHUT_RDWR);
        return 0;
    }
    ib->conns++;
    c->ip_counted = 1;
    c->admitted = 1;
    s->admitted++;
    return 1;
}

/* The first pass of the loop after accept (evhttp has set the socket). */
static void on_accepted(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_admit(arg);
}

/* OpenSSL calls this with the parsed ClientHello, before any key exchange
 * or signature: a connection that was not admitted yet is checked here,
 * and a refused one never costs the server a handshake. */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    conn *c = SSL_get_ex_data(ssl, conn_idx);
    if (c && conn_admit(c))
        return SSL_CLIENT_HELLO_SUCCESS;
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_CLIENT_HELLO_ERROR;
}

static struct timeval deadline_of(const struct st_srv *s)
{
    struct timeval tv = {(time_t)s->o.timeout_s * 3, 0};
    return tv;
}

/* A deadline passed. The first one, --timeout after the accept, ends a
 * connection whose TLS handshake is not finished (an idle socket, or a
 * client stalling the handshake); a finished one gets the rest of the
 * request deadline for its first request. Otherwise: shut the socket
 * down; evhttp sees the end of the stream and frees the connection (and
 * with it this conn). */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    if (!c->handshaken) {
        c->handshaken = 1;
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl && SSL_is_init_finished(ssl)) {
            struct timeval tv = deadline_of(c->s);
            tv.tv_sec -= c->s->o.timeout_s;
            evtimer_add(c->deadline, &tv);
            return;
        }
    }
    evutil_socket_t sock = bufferevent_getfd(c->bev);
    if (sock >= 0)
        shutdown(sock, SHUT_RDWR);
}

/* evhttp asks for each accepted connection's bufferevent: always TLS. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    struct st_srv *s = arg;
    SSL *ssl = SSL_new(s->ctx);
    conn *c = calloc(1, sizeof(*c));
    if (!ssl || !c) {
        /* Fail closed: given NULL, libevent 2.1 would wrap the socket in a
         * plain bufferevent and speak HTTP without TLS. Out of memory
         * here, the only safe answer is to stop. */
        st_error("serve", "out of memory setting up TLS: stopping");
        abort();
    }
    c->s = s;
    s->nconns++;
    SSL_set_ex_data(ssl, conn_idx, c);
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        st_error("serve", "could not create a TLS bufferevent: stopping");
        abort(); /* never NULL: see above */
    }
    c->bev = bev;
    c->deadline = evtimer_new(base, on_deadline, c);
    struct timeval tv = {(time_t)s->o.timeout_s, 0}; /* the handshake's */
    if (c->deadline)
        evtimer_add(c->deadline, &tv);
    /* evhttp sets the socket right after this returns; the admission
     * check runs on the loop's next pass, before a byte is answered */
    c->admit_ev = evtimer_new(base, on_accepted, c);
    struct timeval zero = {0, 0};
    if (c->admit_ev)
        evtimer_add(c->admit_ev, &zero);
    return bev;
}

static conn *conn_of(struct evhttp_request *req)
{
    struct evhttp_connection *ec = evhttp_request_get_connection(req);
    struct bufferevent *bev = ec ? evhttp_connection_get_bufferevent(ec) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl ? SSL_get_ex_data(ssl, conn_idx) : NULL;
}

/* ---- replies ---- */

static void count_reply(struct st_srv *s, int code)
{
    size_t i;
    for (i = 0; i < NCODES && codes[i] != code; i++)
        ;
    s->replies[i]++;
}

static const char *method_name(int m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    default: return "OTHER";
    }
}

/* One info line per answered request. The path is the client's: anything
 * outside printable ASCII is shown as '?', so a request cannot write
 * control sequences into the operator's terminal or forge log lines. */
static void log_request(const st_req *r, int code)
{
    if (st_log_get_level() > ST_LOG_INFO)
        return;
    char path[sizeof(r->path)];
    size_t i;
    for (i = 0; r->path[i] && i + 1 < sizeof(path); i++)
        path[i] = r->path[i] > 0x20 && r->path[i] < 0x7f ? r->path[i] : '?';
    path[i] = 0;
    st_info("request", "%s %s principal=%s status=%d ms=%.1f",
            method_name(r->method), path[0] ? path : "-",
            r->principal ? r->principal : "-", code,
            (mono_now() - r->t0) * 1000.0);
}

static const char *reason_of(int code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

void st_srv_reply_header(st_req *r, const char *name, const char *value)
{
    free(r->out_hvalue);
    r->out_hname = name;
    r->out_hvalue = strdup(value); /* out of memory: the header is left out */
}

void st_srv_reply_text(st_req *r, int code, const char *ctype, const void *data,
                       size_t len)
{
    if (r->replied)
        return;
    r->replied = 1;
    if (r->deferred) {
        /* a worker: keep the reply for the loop thread (send_deferred) */
        r->out_code = code;
        snprintf(r->out_type, sizeof(r->out_type), "%s", ctype);
        r->out_data = len ? malloc(len) : NULL;
        if (len && !r->out_data) {
            r->out_code = 500;
            len = 0;
        }
        if (len)
            memcpy(r->out_data, data, len);
        r->out_len = len;
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type", ctype);
    if (r->out_hname && r->out_hvalue)
        evhttp_add_header(h, r->out_hname, r->out_hvalue);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (r->s->stopping)
        evhttp_add_header(h, "Connection", "close");
    struct evbuffer *b = evbuffer_new();
    if (b && len)
        evbuffer_add(b, data, len);
    count_reply(r->s, code);
    log_request(r, code);
    evhttp_send_reply(r->req, code, reason_of(code), b);
    evbuffer_free(b);
}

void st_srv_reply_json(st_req *r, int code, json_t *body)
{
    char *text =
        body ? st_json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error\":\"internal error\"}\n";
        st_srv_reply_text(r, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2);
    if (nl) {
        text = nl;
        text[n++] = '\n';
        text[n] = 0;
    }
    st_srv_reply_text(r, code, "application/json", text, n);
    free(text);
}

void st_srv_reply_msg(st_req *r, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    st_srv_reply_json(r, code, json_pack("{s:s}", "error", msg));
}

struct evhttp_request *st_srv_stream_begin(st_req *r, const char *ctype)
{
    if (r->replied || r->deferred)
        return NULL;
    r->replied = 1;
    /* a stream outlives the per-request deadline and the idle read
     * timeout (the client sends nothing while it reads); the write
     * timeout stays, so a client that stops reading is dropped */
    conn *c = conn_of(r->req);
    if (c && c->deadline)
        evtimer_del(c->deadline);
    struct evhttp_connection *ec = evhttp_request_get_connection(r->req);
    struct bufferevent *bev = ec ? evhttp_connection_get_bufferevent(ec) : NULL;
    if (bev) {
        struct timeval wt = {(time_t)r->s->o.timeout_s, 0};
        bufferevent_set_timeouts(bev, NULL, &wt);
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    /* one stream per connection: the connection closes with it, so no
     * idle connection is left without its timeouts */
    evhttp_add_header(h, "Connection", "close");
    count_reply(r->s, 200);
    log_request(r, 200);
    evhttp_send_reply_start(r->req, 200, "OK");
    return r->req;
}

size_t st_srv_stream_pending(struct evhttp_request *req)
{
    struct evhttp_connection *ec = evhttp_request_get_connection(req);
    struct bufferevent *bev = ec ? evhttp_connection_get_bufferevent(ec) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static int status_of(st_code c)
{
    switch (c) {
    case ST_OK: return 200;
    case ST_E_USAGE:
    case ST_E_INPUT: return 400;
    case ST_E_DENIED: return 403;
    case ST_E_NOTFOUND: return 404;
    case ST_E_EXISTS: return 409;
    default: return 500;
    }
}

void st_srv_reply_err(st_req *r, const char *permission, const st_err *err)
{
    int code = status_of(err->code);
    json_t *j = json_pack("{s:s}", "error",
                          err->msg[0] ? err->msg : st_code_name(err->code));
    if (permission && code == 403)
        json_object_set_new(j, "permission", json_string(permission));
    if (code == 500)
        st_error("serve", "%s %s: %s", r->ip, r->path, err->msg);
    st_srv_reply_json(r, code, j);
}

int st_srv_check(st_req *r, const char *action, const char *resource)
{
    st_err err;
    st_err_clear(&err);
    if (st_access_check(r->ws, r->principal, action, resource, &err) == ST_OK)
        return 0;
    st_srv_reply_err(r, action, &err);
    return -1;
}

char *st_srv_body(st_req *r, size_t max, size_t *len)
{
    size_t n = r->body_len;
    if (n > max) {
        st_srv_reply_msg(r, 413, "request body of %zu bytes exceeds %zu", n,
                         max);
        return NULL;
    }
    char *p = malloc(n + 1);
    if (!p) {
        st_srv_reply_msg(r, 500, "out of memory");
        return NULL;
    }
    if (n)
        memcpy(p, r->body, n);
    p[n] = 0;
    *len = n;
    return p;
}

int st_srv_query_range(st_req *r, const char *key, uint64_t lo, uint64_t hi,
                       uint64_t def, uint64_t *out)
{
    const char *v = evhttp_find_header(&r->query, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || v[0] == '-' || v[0] == '+' || v[0] == ' ' ||
        (errno && errno != ERANGE)) {
        st_srv_reply_msg(r, 400,
                         "query parameter %s: \"%.40s\" is not an "
                         "unsigned integer",
                         key, v);
        return -1;
    }
    /* an explicit value is never read as the default: size=0 is not "the
     * whole log", version=0 not "the latest" */
    if (errno == ERANGE || x < lo || x > hi) {
        st_srv_reply_msg(r, 400,
                         "query parameter %s: %.40s is out of range (%llu..%llu"
                         "%s)",
                         key, v, (unsigned long long)lo, (unsigned long long)hi,
                         lo > 0 ? "; omit it for the default" : "");
        return -1;
    }
    *out = x;
    return 0;
}

int st_srv_query_u64(st_req *r, const char *key, uint64_t def, uint64_t *out)
{
    /* JSON carries signed 64-bit integers: past 2^63 - 1 is out of range */
    return st_srv_query_range(r, key, 0, INT64_MAX, def, out);
}

/* ---- routing ---- */

static int seg_ok(const char *p, size_t n)
{
    if (n == 0 || n >= 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return !(n <= 2 && p[0] == '.' && (n == 1 || p[1] == '.'));
}

/* 1 if path matches pattern; '*' segments are captured into r->arg. */
static int match(st_req *r, const char *pattern)
{
    const char *p = pattern, *s = r->path;
    size_t na = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++, s++;
        size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
        if (pl == 1 && *p == '*') {
            if (!seg_ok(s, sl) || na >= ST_SRV_MAX_ARGS)
                return 0;
            memcpy(r->arg[na], s, sl);
            r->arg[na++][sl] = 0;
        } else if (pl != sl || memcmp(p, s, pl)) {
            return 0;
        }
        p += pl, s += sl;
    }
    return !*p && !*s;
}

static void free_req(st_req *r)
{
    evhttp_clear_headers(&r->query);
    free(r->body);
    free(r->out_data);
    free(r->out_hvalue);
    free(r);
}

/* Loop thread: sends a worker's reply. When the client went away in the
 * meantime, evhttp has detached the request and evhttp_send_reply frees
 * it without sending (libevent 2.1 evhttp_send). */
static void send_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    st_req *r = arg;
    struct st_srv *s = r->s;
    r->deferred = 0;
    r->replied = 0;
    if (!r->out_code)
        st_srv_reply_msg(r, 500, "internal error: no reply");
    else
        st_srv_reply_text(r, r->out_code, r->out_type, r->out_data, r->out_len);
    s->inflight--;
    free_req(r);
}

static void enqueue(st_req *r, st_route_fn fn)
{
    struct st_srv *s = r->s;
    r->deferred = 1;
    r->fn = fn;
    s->inflight++;
    pthread_mutex_lock(&s->mu);
    r->next = NULL;
    if (s->qtail)
        s->qtail->next = r;
    else
        s->qhead = r;
    s->qtail = r;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *work(void *arg)
{
    worker *w = arg;
    struct st_srv *s = w->s;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->qhead && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        st_req *r = s->qhead;
        if (r) {
            s->qhead = r->next;
            if (!s->qhead)
                s->qtail = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (!r)
            return NULL; /* quit with an empty queue */
        r->ws = w->ws;
        r->kr = w->kr;
        r->cache = w->cache;
        r->fn(r);
        struct timeval now = {0, 0};
        /* thread-safe with evthread_use_pthreads: wakes the loop */
        if (event_base_once(s->base, -1, EV_TIMEOUT, send_deferred, r, &now) !=
            0)
            st_error("serve", "could not hand a reply to the event loop");
    }
}

static void dispatch(st_req *r)
{
    const st_route *tables[] = {st_srv_api_routes, st_srv_job_routes,
                                r->s->o.broker ? st_srv_broker_routes : NULL,
                                st_srv_data_routes /* routes_data.c */,
                                st_srv_admin_routes /* routes_admin.c */};
    int path_known = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const st_route *rt = tables[t]; rt && rt->pattern; rt++) {
            /* --broker serves only the key release (and health) */
            if (r->s->o.broker && !rt->broker_only)
                continue;
            if (!match(r, rt->pattern))
                continue;
            path_known = 1;
            if (rt->method == r->method) {
                if (rt->defer && r->s->nworkers) {
                    enqueue(r, rt->fn);
                    return;
                }
                rt->fn(r);
                if (!r->replied)
                    st_srv_reply_msg(r, 500, "internal error: no reply");
                return;
            }
        }
    }
    if (path_known)
        st_srv_reply_msg(r, 405, "method not allowed on %s", r->path);
    else
        st_srv_reply_msg(r, 404, "no such endpoint: %s", r->path);
}

/* Authenticates the connection's certificate once per connection. */
static void authenticate(struct st_srv *s, struct evhttp_request *req, conn *c)
{
    if (c->authed)
        return;
    struct evhttp_connection *ec = evhttp_request_get_connection(req);
    SSL *ssl =
        bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(ec));
    X509 *x = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    st_err err;
    st_err_clear(&err);
    unsigned char *der = NULL;
    int dl = x ? i2d_X509(x, &der) : -1;
    uint8_t pub[32];
    st_access_session sess;
    st_code rc =
        dl > 0
            ? st_server_cert_principal(der, (size_t)dl, c->principal, pub, &err)
            : st_err_set(&err, ST_E_DENIED, "no client certificate");
    OPENSSL_free(der);
    if (rc == ST_OK)
        rc = st_access_authenticate_key(s->ws, c->principal, pub, &sess, &err);
    if (rc == ST_OK) {
        c->authed = 1;
    } else {
        c->authed = -1;
        s->auth_failures++;
        snprintf(c->why, sizeof(c->why), "%s", err.msg);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct st_srv *s = arg;
    st_req *r = calloc(1, sizeof(*r));
    if (!r) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    r->req = req;
    r->s = s;
    r->ws = s->ws;
    r->kr = s->kr;
    r->cache = s->cache;
    r->query.tqh_first = NULL; /* TAILQ_INIT without <sys/queue.h> */
    r->query.tqh_last = &r->query.tqh_first;
    r->method = (int)evhttp_request_get_command(req);
    r->t0 = mono_now();
    conn *c = conn_of(req);
    r->ip = r->ipbuf;
    s->inflight++;

    const char *uri = evhttp_request_get_uri(req);
    struct evhttp_uri *u = uri ? evhttp_uri_parse(uri) : NULL;
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    snprintf(r->path, sizeof(r->path), "%s", path ? path : "");
    if (!c) {
        st_srv_reply_msg(r, 500, "connection without TLS state");
        goto out;
    }
    c->handshaken = 1;
    if (!conn_admit(c)) {
        /* unreachable in practice (admitted at accept or ClientHello);
         * fail closed without naming any address */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                          "close");
        st_srv_reply_msg(r, 429, "too many connections");
        goto out;
    }
    snprintf(r->ipbuf, sizeof(r->ipbuf), "%s", c->ip);
    if (c->deadline) { /* the next request has a new window */
        struct timeval tv = deadline_of(s);
        evtimer_add(c->deadline, &tv);
    }
    double now = mono_now(), retry = 0;
    if (s->stopping) {
        st_srv_reply_msg(r, 503, "shutting down");
        goto out;
    }
    char key[80];
    snprintf(key, sizeof(key), "ip:%s", c->ip);
    bucket *ib = table_get(&s->buckets, key, s->o.ip_burst, now);
    if (!ib || !bucket_take(ib, s->o.ip_rate, s->o.ip_burst, now, &retry)) {
        char ra[32];
        snprintf(ra, sizeof(ra), "%d", (int)ceil(retry));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                          ra);
        s->rate_limited++;
        st_srv_reply_msg(r, 429, "rate limit for %s exceeded", c->ip);
        goto out;
    }
    if (!u || !path || path[0] != '/' || strlen(path) >= sizeof(r->path) ||
        (q && evhttp_parse_query_str(q, &r->query) != 0)) {
        st_srv_reply_msg(r, 400, "malformed request target");
        goto out;
    }
    authenticate(s, req, c);
    if (c->authed < 0) {
        st_srv_reply_json(r, 403, json_pack("{s:s}", "error", c->why));
        goto out;
    }
    snprintf(r->principal_buf, sizeof(r->principal_buf), "%s", c->principal);
    r->principal = r->principal_buf;
    snprintf(key, sizeof(key), "p:%s", c->principal);
    bucket *pb = table_get(&s->buckets, key, s->o.principal_burst, now);
    if (!pb || !bucket_take(pb, s->o.principal_rate, s->o.principal_burst, now,
                            &retry)) {
        char ra[32];
        snprintf(ra, sizeof(ra), "%d", (int)ceil(retry));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                          ra);
        s->rate_limited++;
        st_srv_reply_msg(r, 429, "rate limit for principal %s exceeded",
                         c->principal);
        goto out;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    r->body_len = evbuffer_get_length(in);
    r->body = malloc(r->body_len + 1);
    if (!r->body) {
        st_srv_reply_msg(r, 500, "out of memory");
        goto out;
    }
    evbuffer_remove(in, r->body, r->body_len);
    dispatch(r);
    if (r->deferred) {
        /* a worker owns r now; send_deferred frees it */
        if (u)
            evhttp_uri_free(u);
        s->inflight--;
        return;
    }
out:
    if (!r->replied)
        st_srv_reply_msg(r, 500, "internal error");
    if (u)
        evhttp_uri_free(u);
    s->inflight--;
    free_req(r);
}

st_code st_srv_metrics(struct st_srv *s, st_buf *out, st_err *err)
{
    st_code rc = st_buf_printf(
        out, err,
        "# HELP sealtrain_server_connections Open TLS connections.\n"
        "# TYPE sealtrain_server_connections gauge\n"
        "sealtrain_server_connections %u\n"
        "# HELP sealtrain_server_responses_total Responses sent, by "
        "status code.\n"
        "# TYPE sealtrain_server_responses_total counter\n",
        s->nconns);
    for (size_t i = 0; i <= NCODES && rc == ST_OK; i++) {
        if (i < NCODES)
            rc = st_buf_printf(out, err,
                               "sealtrain_server_responses_total{code=\"%d\"} "
                               "%llu\n",
                               codes[i], (unsigned long long)s->replies[i]);
        else
            rc = st_buf_printf(
                out, err,
                "sealtrain_server_responses_total{code=\"other\"} "
                "%llu\n",
                (unsigned long long)s->replies[i]);
    }
    if (rc == ST_OK)
        rc = st_buf_printf(
            out, err,
            "# HELP sealtrain_server_auth_failures_total Connections "
            "whose certificate named no usable principal.\n"
            "# TYPE sealtrain_server_auth_failures_total counter\n"
            "sealtrain_server_auth_failures_total %llu\n"
            "# HELP sealtrain_server_rate_limited_total Requests "
            "refused by a rate limit.\n"
            "# TYPE sealtrain_server_rate_limited_total counter\n"
            "sealtrain_server_rate_limited_total %llu\n"
            "# HELP sealtrain_server_connections_refused_total "
            "Connections refused by a connection cap.\n"
            "# TYPE sealtrain_server_connections_refused_total counter\n"
            "sealtrain_server_connections_refused_total %llu\n",
            (unsigned long long)s->auth_failures,
            (unsigned long long)s->rate_limited,
            (unsigned long long)s->conn_refused);
    return rc == ST_OK ? st_srv_jobs_metrics(s->jobs, out, err) : rc;
}

/* ---- TLS ---- */

static ST_MUST_CHECK st_code make_ctx(struct st_srv *s, st_err *err)
{
    char ca[4096], crt[4096], key[4096];
    st_code rc = st_server_tls_path(s->ws, "ca.crt", ca, sizeof(ca), err);
    if (rc == ST_OK)
        rc = st_server_tls_path(s->ws, "server.crt", crt, sizeof(crt), err);
    if (rc == ST_OK)
        rc = st_server_tls_path(s->ws, "server.key", key, sizeof(key), err);
    if (rc == ST_OK)
        rc = st_fs_check_private(key, err);
    if (rc != ST_OK)
        return rc;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    s->ctx = ctx;
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
        return st_err_openssl(err, ST_E_INTERNAL, "TLS context");
    if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return st_err_openssl(err, ST_E_INPUT, "%s: server certificate", crt);
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        return st_err_openssl(err, ST_E_INPUT, "%s: workspace CA", ca);
    /* printed at start, in `openssl x509 -fingerprint -sha256` form, so a
     * client can compare it with the ca.crt it was given */
    FILE *f = fopen(ca, "r");
    X509 *cax = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdl = 0;
    if (!cax || X509_digest(cax, EVP_sha256(), md, &mdl) != 1 || mdl != 32) {
        X509_free(cax);
        return st_err_openssl(err, ST_E_INPUT, "%s: workspace CA", ca);
    }
    X509_free(cax);
    for (unsigned i = 0; i < mdl; i++)
        snprintf(s->ca_fp + 3 * i, sizeof(s->ca_fp) - 3 * i, "%02X%s", md[i],
                 i + 1 < mdl ? ":" : "");
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    /* a certificate is required and must chain to the workspace CA; the
     * principal behind it is checked per connection (authenticate) */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
    SSL_CTX_set_verify_depth(ctx, 2);
    /* No resumption at all: with SSL_OP_NO_TICKET alone, OpenSSL's TLS
     * 1.3 server still sends (stateful) NewSessionTicket messages; a
     * resumed session would also skip the client certificate check. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
        return st_err_openssl(err, ST_E_INTERNAL, "TLS context: tickets");
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, NULL);
    return ST_OK;
}

/* ---- shutdown ---- */

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct st_srv *s = arg;
    /* wakes the loop so that the drain condition is re-evaluated */
    if (s->stopping)
        event_base_loopexit(s->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct st_srv *s = arg;
    if (s->stopping)
        return;
    st_info("serve", "signal %d: no new connections, finishing requests",
            (int)sig);
    s->stopping = 1;
    s->stop_deadline = mono_now() + s->o.drain_s;
    if (s->sock) {
        evhttp_del_accept_socket(s->http, s->sock);
        s->sock = NULL;
    }
}

void st_server_opts_default(st_server_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->listen = "127.0.0.1:8443";
    o->max_conns = 256;
    o->max_conns_per_ip = 32;
    o->ip_rate = 200;
    o->ip_burst = 400;
    o->principal_rate = 100;
    o->principal_burst = 200;
    o->max_body = 8u << 20;
    o->max_headers = 8192;
    o->timeout_s = 10;
    o->drain_s = 10;
    o->workers = 4;
    o->jobs = 1;
}

static ST_MUST_CHECK st_code parse_listen(const char *spec, char *host,
                                          size_t cap, uint16_t *port,
                                          st_err *err)
{
    const char *colon = strrchr(spec, ':');
    const char *h = spec;
    size_t hl = colon ? (size_t)(colon - spec) : 0;
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']')
        h++, hl -= 2;
    char *end;
    unsigned long p = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || !colon[1] || *end || p > 65535 || hl == 0 || hl >= cap)
        return st_err_set(err, ST_E_USAGE,
                          "--listen \"%s\": expected HOST:PORT (e.g. "
                          "127.0.0.1:8443)",
                          spec);
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (uint16_t)p;
    return ST_OK;
}

st_code st_server_run(st_workspace *ws, st_keyring *kr, const st_server_opts *o,
                      st_err *err)
{
    struct st_srv *s = calloc(1, sizeof(*s));
    if (!s)
        return st_err_set(err, ST_E_IO, "out of memory");
    s->ws = ws;
    s->kr = kr;
    s->o = *o;
    char host[256];
    uint16_t port = 0;
    struct event *ev_term = NULL, *ev_int = NULL, *ev_drain = NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    st_code rc = parse_listen(o->listen, host, sizeof(host), &port, err);
    /* workers hand replies to the loop with event_base_once */
    if (rc == ST_OK && o->workers && evthread_use_pthreads() != 0)
        rc = st_err_set(err, ST_E_INTERNAL, "libevent threads unavailable");
    if (conn_idx < 0)
        conn_idx = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL,
                                           NULL, conn_free);
    s->buckets.b = calloc(TABLE_SIZE, sizeof(bucket));
    if (rc == ST_OK && !s->buckets.b)
        rc = st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK)
        rc = st_server_ca_ensure(ws, err);
    if (rc == ST_OK)
        rc = st_server_cert_ensure(ws, NULL, err);
    if (rc == ST_OK)
        rc = make_ctx(s, err);
    if (rc == ST_OK && o->broker) {
        rc = st_srv_broker_new(ws, &s->broker, err);
        s->cache = st_srv_cache_new(ws);
    }
    if (rc == ST_OK && !(s->base = event_base_new()))
        rc = st_err_set(err, ST_E_IO, "event_base_new failed");
    if (rc == ST_OK && !(s->http = evhttp_new(s->base)))
        rc = st_err_set(err, ST_E_IO, "evhttp_new failed");
    if (rc == ST_OK && !o->broker)
        rc = st_srv_jobs_start(s, &s->jobs, err);
    /* the workers' own handles: one SQLite connection and keyring each */
    if (rc == ST_OK && o->workers && o->broker) {
        s->workers = calloc(o->workers, sizeof(worker));
        if (!s->workers)
            rc = st_err_set(err, ST_E_IO, "out of memory");
        for (unsigned i = 0; rc == ST_OK && i < o->workers; i++) {
            worker *w = &s->workers[i];
            w->s = s;
            rc = st_workspace_open(st_workspace_dir(ws), &w->ws, err);
            if (rc == ST_OK && kr)
                rc = st_keyring_open(w->ws, &w->kr, err);
            if (rc == ST_OK)
                w->cache = st_srv_cache_new(w->ws);
            if (rc == ST_OK && pthread_create(&w->th, NULL, work, w) != 0)
                rc = st_err_set(err, ST_E_IO, "starting worker threads");
            if (rc == ST_OK) {
                w->started = 1;
                s->nworkers++;
            }
        }
    }
    if (rc == ST_OK) {
        evhttp_set_bevcb(s->http, make_bev, s);
        evhttp_set_gencb(s->http, on_request, s);
        evhttp_set_timeout(s->http, o->timeout_s);
        evhttp_set_max_body_size(s->http, (ev_ssize_t)o->max_body);
        /* a body over the limit is read and dropped after the 413, so that
         * the client reads the refusal instead of a reset (RFC 9112 9.6) */
        evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
        evhttp_set_max_headers_size(s->http, (ev_ssize_t)o->max_headers);
        evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                                EVHTTP_REQ_PUT |
                                                EVHTTP_REQ_DELETE);
        s->sock = evhttp_bind_socket_with_handle(s->http, host, port);
        if (!s->sock)
            rc =
                st_err_errno(err, ST_E_IO, errno, "listening on %s", o->listen);
    }
    if (rc == ST_OK) {
        evutil_socket_t fd = evhttp_bound_socket_get_fd(s->sock);
        /* accepted sockets inherit it: a reply is not held back by Nagle
         * waiting for the client's delayed ACK (40 ms per request) */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        unsigned bound = ss.ss_family == AF_INET6
                             ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        int v6 = strchr(host, ':') != NULL;
        st_info("serve", "listening on https://%s%s%s:%u%s", v6 ? "[" : "",
                host, v6 ? "]" : "", bound,
                o->broker ? " (with the key broker)" : "");
        st_info("serve", "workspace CA fingerprint SHA256:%s", s->ca_fp);
        if (o->ready_file) {
            char text[32];
            int n = snprintf(text, sizeof(text), "%u\n", bound);
            rc = st_fs_write_atomic(o->ready_file, text, (size_t)n, 0600, err);
        }
    }
    if (rc == ST_OK) {
        signal(SIGPIPE, SIG_IGN);
        ev_term = evsignal_new(s->base, SIGTERM, on_signal, s);
        ev_int = evsignal_new(s->base, SIGINT, on_signal, s);
        ev_drain = event_new(s->base, -1, EV_PERSIST, on_drain, s);
        struct timeval tick = {0, 100000};
        if (!ev_term || !ev_int || !ev_drain || event_add(ev_term, NULL) ||
            event_add(ev_int, NULL))
            rc = st_err_set(err, ST_E_IO, "installing signal handlers");
        else
            event_add(ev_drain, &tick);
    }
    if (rc == ST_OK) {
        /* after a signal: until every connection has flushed its last
         * response (all carry Connection: close) or drain_s passed */
        while (!s->stopping ||
               ((s->nconns > 0 || s->inflight > 0) &&
                mono_now() < s->stop_deadline) ||
               st_srv_jobs_busy(s->jobs)) {
            if (event_base_loop(s->base, EVLOOP_ONCE) < 0) {
                rc = st_err_set(err, ST_E_IO, "event loop failed");
                break;
            }
        }
        st_info("serve", "stopped");
    }
    /* workers finish what they hold; their replies are delivered (or
     * dropped with their closed connections) by one more loop pass */
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; s->workers && i < o->workers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].th, NULL);
    while (s->base && s->inflight > 0 &&
           event_base_loop(s->base, EVLOOP_NONBLOCK) == 0)
        ;
    for (size_t i = 0; s->workers && i < o->workers; i++) {
        st_srv_cache_free(s->workers[i].cache);
        st_keyring_close(s->workers[i].kr);
        st_workspace_close(s->workers[i].ws);
    }
    free(s->workers);
    if (ev_term)
        event_free(ev_term);
    if (ev_int)
        event_free(ev_int);
    if (ev_drain)
        event_free(ev_drain);
    st_srv_jobs_free(s->jobs); /* before evhttp_free frees its requests */
    if (s->http)
        evhttp_free(s->http); /* closes the remaining connections */
    if (s->base)
        event_base_free(s->base);
    SSL_CTX_free(s->ctx);
    st_srv_cache_free(s->cache);
    st_srv_broker_free(s->broker);
    free(s->buckets.b);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return rc;
}
