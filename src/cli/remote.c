/*
 * remote.c: the HTTPS client of `sealtrain --server URL ...` (remote.h):
 * one request with the principal's client certificate over TLS 1.3,
 * the server verified against SEALTRAIN_CACERT; bodies collected in
 * memory (bounded) or streamed to a file as they arrive; error replies
 * mapped to the CLI's exit statuses; upload chunks carry Content-Range.
 *
 * The client key is --key / SEALTRAIN_KEY (the principal's signing key,
 * which its certificate from `principal cert` carries), the certificate
 * SEALTRAIN_CERT and the CA SEALTRAIN_CACERT; --server may also name a
 * client configuration file (st_client_config) giving the URL and those
 * three paths, used where the flag and the variables are not set. Only
 * https:// URLs; no redirects; nothing here decrypts or encrypts
 * anything. libcurl is loaded by the first request (sealtrain/curl.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sealtrain/curl.h>
#include <sealtrain/sealtrain.h>

#include "remote.h"

#define MAX_REPLY (64u << 20)
#define REQUEST_TIMEOUT_S 60L

int st_remote_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sealtrain: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return code;
}

json_t *st_remote_json(const char *data, int *oom)
{
    st_err e;
    json_t *j = st_json_parse(data ? data : "", data ? strlen(data) : 0,
                              "the server's answer", &e);
    if (oom)
        *oom = !j && e.code == ST_E_IO;
    if (!j)
        st_remote_fail(5, "%s", e.msg);
    return j;
}

/* What --server resolved to (one command per process). */
static st_client_config config;
static const char *cert_path, *ca_path;

int st_remote_setup(st_cli *cli)
{
    cert_path = getenv("SEALTRAIN_CERT");
    ca_path = getenv("SEALTRAIN_CACERT");
    if (!strncmp(cli->server, "https://", 8))
        return 0;
    st_err err;
    if (st_client_config_load(cli->server, &config, &err) != ST_OK)
        return st_remote_fail(2,
                              "--server %s: not an https:// URL; as a client "
                              "configuration file: %s",
                              cli->server, err.msg);
    cli->server = config.server;
    if (!cli->key && config.key[0])
        cli->key = config.key;
    if (!cert_path && config.cert[0])
        cert_path = config.cert;
    if (!ca_path && config.cacert[0])
        ca_path = config.cacert;
    return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    st_remote_reply *r = arg;
    size_t add = size * n;
    if (r->len + add > MAX_REPLY) {
        r->too_big = 1;
        return 0;
    }
    char *d = realloc(r->data, r->len + add + 1);
    if (!d)
        return 0;
    memcpy(d + r->len, p, add);
    r->data = d;
    r->len += add;
    r->data[r->len] = 0;
    return add;
}

struct sink {
    const st_curl_api *cu;
    CURL *c;
    FILE *stream;
    st_remote_reply *out;
};

/* A stream's 2xx body goes straight to the file (flushed per chunk, so a
 * follower sees each line when it arrives); anything else is collected
 * for the error message. */
static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    long code = 0;
    s->cu->easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299)
        return on_data(p, size, n, s->out);
    size_t w = fwrite(p, size, n, s->stream);
    fflush(s->stream);
    return w * size;
}

int st_remote_request(st_cli *cli, const st_remote_req *rq, long *status,
                      st_remote_reply *out)
{
    return st_remote_request_range(cli, rq, NULL, status, out);
}

int st_remote_request_range(st_cli *cli, const st_remote_req *rq,
                            const char *content_range, long *status,
                            st_remote_reply *out)
{
    const char *cert = cert_path, *ca = ca_path;
    if (!cli->key || !cert || !ca)
        return st_remote_fail(2, "--server needs the principal's key (--key "
                                 "or SEALTRAIN_KEY), SEALTRAIN_CERT (its "
                                 "certificate from `principal cert`) and "
                                 "SEALTRAIN_CACERT, or a client configuration "
                                 "file naming them (--server FILE)");
    /* once per process: a mismatch is named here, not as a handshake
     * failure */
    static int pair_checked;
    if (!pair_checked) {
        st_err err;
        st_err_clear(&err);
        if (st_server_cert_check_key(cert, cli->key, &err) != ST_OK)
            return st_remote_fail(3, "%s", err.msg);
        pair_checked = 1;
    }
    char url[4096];
    size_t bl = strlen(cli->server);
    while (bl && cli->server[bl - 1] == '/')
        bl--;
    if (snprintf(url, sizeof(url), "%.*s%s", (int)bl, cli->server, rq->path) >=
        (int)sizeof(url))
        return st_remote_fail(2, "--server URL too long");
    if (strncmp(url, "https://", 8) != 0)
        return st_remote_fail(2, "--server %s: only https:// URLs",
                              cli->server);
    const st_curl_api *cu;
    st_err err;
    st_err_clear(&err);
    if (st_curl_load(&cu, &err) != ST_OK)
        return st_remote_fail(st_code_exit_status(err.code), "%s", err.msg);
    CURL *c = cu->easy_init();
    if (!c)
        return st_remote_fail(5, "libcurl initialisation failed");
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    struct sink sink = {cu, c, rq->stream, out};
    cu->easy_setopt(c, CURLOPT_URL, url);
    cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    cu->easy_setopt(
        c, CURLOPT_SSLVERSION,
        (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_DEFAULT));
    cu->easy_setopt(c, CURLOPT_CAINFO, ca);
    cu->easy_setopt(c, CURLOPT_SSLCERT, cert);
    cu->easy_setopt(c, CURLOPT_SSLKEY, cli->key);
    cu->easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    cu->easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    /* a log stream lasts as long as its job; the server ends it */
    if (!rq->stream)
        cu->easy_setopt(c, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    cu->easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (rq->stream) {
        cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
        cu->easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    } else {
        cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        cu->easy_setopt(c, CURLOPT_WRITEDATA, out);
    }
    if (strcmp(rq->method, "GET") != 0) {
        cu->easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
        cu->easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        cu->easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                        (curl_off_t)(rq->body ? rq->body_len : 0));
        char ct[128];
        snprintf(ct, sizeof(ct), "Content-Type: %s",
                 rq->ctype ? rq->ctype : "application/json");
        hdrs = cu->slist_append(hdrs, ct);
        if (content_range) {
            snprintf(ct, sizeof(ct), "Content-Range: %s", content_range);
            hdrs = cu->slist_append(hdrs, ct);
        }
        /* no "Expect: 100-continue" round trip before a large body */
        hdrs = cu->slist_append(hdrs, "Expect:");
        cu->easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    CURLcode rc = cu->easy_perform(c);
    cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    cu->easy_cleanup(c);
    cu->slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        int denied = rc == CURLE_SSL_CONNECT_ERROR ||
                     rc == CURLE_PEER_FAILED_VERIFICATION ||
                     rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_RECV_ERROR;
        return st_remote_fail(denied ? 4 : 5, "%s: %s", url,
                              errbuf[0] ? errbuf : cu->easy_strerror(rc));
    }
    if (out->too_big)
        return st_remote_fail(5, "%s: reply larger than the limit", url);
    return 0;
}

int st_remote_http_fail(long status, const st_remote_reply *r)
{
    /* an error page that is not JSON says nothing more */
    json_t *j = r->data ? st_json_parse(r->data, strlen(r->data),
                                        "the server's answer", NULL)
                        : NULL;
    const char *msg = json_string_value(json_object_get(j, "error"));
    st_remote_fail(1, "server: %s (HTTP %ld)", msg ? msg : "error", status);
    json_decref(j);
    /* 409 (exists, out of place) and 413 (too large) are the input's */
    return status == 403 ? 4
           : (status == 400 || status == 404 || status == 409 || status == 413)
               ? 3
               : 5;
}

int st_remote_valid_arg(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789._-",
                    s[i]))
            return 0;
    return 1;
}
