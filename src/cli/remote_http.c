/*
 * remote_http.c: the HTTPS requests of `sealtrain --server URL ...`
 * (remote.h): libcurl with OpenSSL, TLS 1.3 only, the server verified
 * against SEALTRAIN_CACERT, the client authenticated by SEALTRAIN_CERT
 * (from `principal cert`) and the principal's key (--key). One easy
 * handle is kept between requests so that an upload's chunks share one
 * TLS connection.
 *
 * Never sends anything over plain HTTP; never prints a request body.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "remote.h"

#define MAX_REPLY (64u << 20)

static CURL *handle;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    st_reply *r = arg;
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

static int fail_msg(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail_msg(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sealtrain: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return code;
}

void st_remote_close(void)
{
    if (handle)
        curl_easy_cleanup(handle);
    handle = NULL;
}

int st_remote_request(st_cli *cli, const st_remote_req *rq, long *status,
                      st_reply *out)
{
    const char *cert = getenv("SEALTRAIN_CERT");
    const char *ca = getenv("SEALTRAIN_CACERT");
    *status = 0;
    if (!cli->key || !cert || !ca)
        return fail_msg(2, "--server needs the principal's key (--key or "
                           "SEALTRAIN_KEY), SEALTRAIN_CERT (its certificate "
                           "from `principal cert`) and SEALTRAIN_CACERT");
    char url[4096];
    size_t bl = strlen(cli->server);
    while (bl && cli->server[bl - 1] == '/')
        bl--;
    if (snprintf(url, sizeof(url), "%.*s%s", (int)bl, cli->server, rq->path) >=
        (int)sizeof(url))
        return fail_msg(2, "--server URL too long");
    if (strncmp(url, "https://", 8) != 0)
        return fail_msg(2, "--server %s: only https:// URLs", cli->server);
    if (!handle && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return fail_msg(5, "libcurl initialisation failed");
    if (!handle && !(handle = curl_easy_init()))
        return fail_msg(5, "libcurl initialisation failed");
    /* reset keeps the connection cache: chunks reuse the TLS session */
    curl_easy_reset(handle);
    CURL *c = handle;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    char line[256];
    if (rq->ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", rq->ctype);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (rq->content_range) {
        snprintf(line, sizeof(line), "Content-Range: %s", rq->content_range);
        hdrs = curl_slist_append(hdrs, line);
    }
    /* no "Expect: 100-continue" round trip before a chunk */
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(
        c, CURLOPT_SSLVERSION,
        (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_DEFAULT));
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, cli->key);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(rq->body ? rq->len : 0));
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        int denied = rc == CURLE_SSL_CONNECT_ERROR ||
                     rc == CURLE_PEER_FAILED_VERIFICATION ||
                     rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_RECV_ERROR;
        return fail_msg(denied ? 4 : 5, "%s: %s", url,
                        errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    if (out->too_big)
        return fail_msg(5, "%s: reply larger than the limit", url);
    return 0;
}

int st_remote_http_fail(long status, const st_reply *r)
{
    json_error_t je;
    json_t *j = r->data ? json_loads(r->data, 0, &je) : NULL;
    const char *msg = json_string_value(json_object_get(j, "error"));
    fail_msg(1, "server: %s (HTTP %ld)", msg ? msg : "error", status);
    json_decref(j);
    return status == 403 ? 4
           : (status == 400 || status == 404 || status == 409 || status == 413)
               ? 3
               : 5;
}
