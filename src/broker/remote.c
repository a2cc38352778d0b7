/*
 * remote.c: the job controller's client of a remote key broker
 * (remote.h; the server side is src/server/routes_broker.c, docs/api.md
 * "Remote key broker"). Each call is one HTTPS POST whose body and reply
 * are broker.h frames; libcurl over OpenSSL, TLS 1.3 only.
 *
 * Trust: the broker's certificate is accepted if and only if the SHA-256
 * of its SubjectPublicKeyInfo equals the pin of the dataset's signed
 * manifest. The check replaces OpenSSL's chain verification entirely
 * (SSL_CTX_set_cert_verify_callback), so no CA file and no system trust
 * store can vouch for a broker, and TLS session resumption is off so that
 * every connection is checked. The host name is not checked: the pin is
 * the identity the owner signed. We authenticate with the client
 * certificate the broker's workspace issued.
 *
 * This file never sees a data key: KEYS come back wrapped to the
 * runtime's X25519 key and are only parsed and passed on. It never falls
 * back to anything when the pin does not match: that is a denial naming
 * both fingerprints.
 */
#include "broker/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/curl.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/secmem.h"

#define MAX_REPLY (ST_BROKER_HEADER_LEN + (512u << 10))
#define MAX_CONFIG (1u << 20)
#define FRAME_TYPE "Content-Type: application/x-sealtrain-broker"

/* ---- configuration ---- */

static ST_MUST_CHECK st_code endpoint_path(const char *base_dir, const char *p,
                                           char *out, size_t cap,
                                           const char *where, st_err *err)
{
    int n = p[0] == '/' || !base_dir ? snprintf(out, cap, "%s", p)
                                     : snprintf(out, cap, "%s/%s", base_dir, p);
    if (n < 0 || (size_t)n >= cap)
        return st_err_set(err, ST_E_INPUT, "%s: path too long", where);
    return ST_OK;
}

static void url_trim(char *u)
{
    size_t n = strlen(u);
    while (n > 8 && u[n - 1] == '/')
        u[--n] = 0;
}

static ST_MUST_CHECK st_code endpoint_parse(const json_t *o,
                                            const char *base_dir,
                                            const char *where,
                                            st_broker_endpoint *e, st_err *err)
{
    static const char *const keys[] = {
        "url", "cert", "key", "connect_timeout_seconds", "timeout_seconds",
        NULL};
    const char *url, *cert, *key;
    long long ct = 5, to = 30;
    st_code rc;
    if (!json_is_object(o))
        return st_err_set(err, ST_E_INPUT, "%s: expected an object", where);
    if ((rc = st_json_check_keys(o, keys, where, err)) ||
        (rc = st_json_get_string(o, "url", 1, &url, where, err)) ||
        (rc = st_json_get_string(o, "cert", 1, &cert, where, err)) ||
        (rc = st_json_get_string(o, "key", 1, &key, where, err)) ||
        (rc = st_json_get_int(o, "connect_timeout_seconds", 0, 1, 30, &ct,
                              where, err)) ||
        (rc = st_json_get_int(o, "timeout_seconds", 0, 1, 40, &to, where, err)))
        return rc;
    if (strncmp(url, "https://", 8) != 0 || strlen(url) > ST_BROKER_URL_MAX ||
        strlen(url) != json_string_length(json_object_get(o, "url")))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"url\" must be an https:// URL of at most %d "
                          "characters",
                          where, ST_BROKER_URL_MAX);
    if (!cert[0] || !key[0] ||
        strlen(cert) != json_string_length(json_object_get(o, "cert")) ||
        strlen(key) != json_string_length(json_object_get(o, "key")))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"cert\" and \"key\" must be non-empty paths",
                          where);
    memset(e, 0, sizeof(*e));
    snprintf(e->url, sizeof(e->url), "%s", url);
    url_trim(e->url);
    e->connect_timeout_ms = (long)ct * 1000;
    e->timeout_ms = (long)to * 1000;
    if ((rc = endpoint_path(base_dir, cert, e->cert, sizeof(e->cert), where,
                            err)))
        return rc;
    return endpoint_path(base_dir, key, e->key, sizeof(e->key), where, err);
}

st_code st_broker_endpoints_parse(const char *text, size_t len,
                                  const char *origin, const char *base_dir,
                                  st_broker_endpoint **out, size_t *n,
                                  st_err *err)
{
    static const char *const top[] = {"version", "brokers", NULL};
    *out = NULL;
    *n = 0;
    json_t *o = st_json_parse(text, len, origin, err);
    if (!o)
        return err ? err->code : ST_E_INPUT;
    long long version = 0;
    st_code rc =
        json_is_object(o)
            ? ST_OK
            : st_err_set(err, ST_E_INPUT, "%s: expected an object", origin);
    if (rc == ST_OK && !(rc = st_json_check_keys(o, top, origin, err)))
        rc = st_json_get_int(o, "version", 1, 1, 1, &version, origin, err);
    const json_t *list = json_object_get(o, "brokers");
    if (rc == ST_OK && (!json_is_array(list) || json_array_size(list) == 0 ||
                        json_array_size(list) > ST_BROKER_MAX_ENDPOINTS))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"brokers\" must be an array of 1-%d entries",
                        origin, ST_BROKER_MAX_ENDPOINTS);
    st_broker_endpoint *eps = NULL;
    size_t k = rc == ST_OK ? json_array_size(list) : 0;
    if (rc == ST_OK && !(eps = calloc(k, sizeof(*eps))))
        rc = st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < k; i++) {
        char where[96];
        snprintf(where, sizeof(where), "%.60s: brokers[%zu]", origin, i);
        rc = endpoint_parse(json_array_get(list, i), base_dir, where, &eps[i],
                            err);
        for (size_t j = 0; rc == ST_OK && j < i; j++)
            if (!strcmp(eps[j].url, eps[i].url))
                rc = st_err_set(err, ST_E_INPUT, "%s: URL %s listed twice",
                                where, eps[i].url);
    }
    json_decref(o);
    if (rc != ST_OK) {
        free(eps);
        return rc;
    }
    *out = eps;
    *n = k;
    return ST_OK;
}

st_code st_broker_endpoint_load(const char *path, const char *url,
                                st_broker_endpoint *out, st_err *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    st_code rc = st_fs_read_all(path, MAX_CONFIG, &text, &len, err);
    if (rc != ST_OK)
        return st_err_prefix(err, "broker configuration");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    st_broker_endpoint *eps = NULL;
    size_t n = 0;
    rc = st_broker_endpoints_parse((const char *)text, len, path,
                                   slash ? dir : NULL, &eps, &n, err);
    free(text);
    if (rc != ST_OK)
        return rc;
    char want[ST_BROKER_URL_MAX + 1];
    snprintf(want, sizeof(want), "%s", url);
    url_trim(want);
    rc = st_err_set(err, ST_E_NOTFOUND,
                    "%s names no client certificate for key broker %s", path,
                    want);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(eps[i].url, want)) {
            *out = eps[i];
            st_err_clear(err);
            rc = ST_OK;
        }
    free(eps);
    return rc;
}

/* ---- pins ---- */

static ST_MUST_CHECK st_code spki_sha256(X509 *x, uint8_t out[32])
{
    unsigned char *der = NULL;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    if (n <= 0)
        return ST_E_INPUT;
    st_sha256(der, (size_t)n, out);
    OPENSSL_free(der);
    return ST_OK;
}

st_code st_broker_pin_from_cert(const char *pem_path, uint8_t pin[32],
                                st_err *err)
{
    unsigned char *pem = NULL;
    size_t len = 0;
    st_code rc = st_fs_read_all(pem_path, 1 << 20, &pem, &len, err);
    if (rc != ST_OK)
        return rc;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (!x || spki_sha256(x, pin) != ST_OK)
        rc = st_err_set(err, ST_E_INPUT, "%s: not a PEM certificate", pem_path);
    X509_free(x);
    BIO_free(bio);
    free(pem);
    return rc;
}

/* ---- requests ---- */

struct st_broker_remote {
    st_broker_endpoint ep;
    uint8_t pin[32];
    uint8_t seen[32]; /* the key the broker presented */
    int have_seen, mismatch;
    const st_curl_api *cu; /* libcurl, loaded by the first open */
    CURL *curl;
    char *ear; /* the last reply's Sealtrain-EAR, or NULL */
};

typedef struct reply {
    st_buf body;
    int too_big;
} reply;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    reply *r = arg;
    if (r->body.len + size * n > MAX_REPLY) {
        r->too_big = 1;
        return 0;
    }
    return st_buf_append(&r->body, p, size * n, NULL) == ST_OK ? size * n : 0;
}

/* The whole of OpenSSL's certificate verification: the pin. */
static int pin_verify(X509_STORE_CTX *x, void *arg)
{
    st_broker_remote *b = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(x);
    if (!leaf || spki_sha256(leaf, b->seen) != ST_OK) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    b->have_seen = 1;
    if (!st_ct_equal(b->seen, b->pin, 32)) {
        b->mismatch = 1;
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

static CURLcode on_ssl_ctx(CURL *c, void *ssl_ctx, void *arg)
{
    (void)c;
    SSL_CTX *ctx = ssl_ctx;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, pin_verify, arg);
    return CURLE_OK;
}

st_code st_broker_remote_open(const st_broker_endpoint *ep,
                              const uint8_t pin[32], st_broker_remote **out,
                              st_err *err)
{
    *out = NULL;
    const st_curl_api *cu;
    if (st_curl_load(&cu, err) != ST_OK)
        return st_err_prefix(err, "key broker %s", ep->url);
    st_broker_remote *b = calloc(1, sizeof(*b));
    if (!b)
        return st_err_set(err, ST_E_IO, "out of memory");
    b->cu = cu;
    b->ep = *ep;
    memcpy(b->pin, pin, 32);
    if (!(b->curl = cu->easy_init())) {
        free(b);
        return st_err_set(err, ST_E_IO, "libcurl initialisation failed");
    }
    CURL *c = b->curl;
    cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(
        c, CURLOPT_SSLVERSION,
        (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_DEFAULT));
    /* the pin callback decides; no CA file or directory is loaded */
    cu->easy_setopt(c, CURLOPT_CAINFO, NULL);
    cu->easy_setopt(c, CURLOPT_CAPATH, NULL);
    cu->easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    cu->easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    cu->easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    cu->easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    cu->easy_setopt(c, CURLOPT_SSL_CTX_DATA, b);
    cu->easy_setopt(c, CURLOPT_SSLCERT, b->ep.cert);
    cu->easy_setopt(c, CURLOPT_SSLKEY, b->ep.key);
    cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, b->ep.connect_timeout_ms);
    cu->easy_setopt(c, CURLOPT_TIMEOUT_MS, b->ep.timeout_ms);
    cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    *out = b;
    return ST_OK;
}

void st_broker_remote_close(st_broker_remote *b)
{
    if (!b)
        return;
    if (b->curl)
        b->cu->easy_cleanup(b->curl);
    free(b->ear);
    st_wipe(b, sizeof(*b));
    free(b);
}

static void pin_hex(const uint8_t p[32], char out[65])
{
    st_hex_encode(p, 32, out);
}

/* One POST of a body of frames; the reply must be one frame (the
 * caller checks its type) or the server's JSON error. Returns the reply
 * frame in *m. */
static ST_MUST_CHECK st_code post(st_broker_remote *b, const char *dataset,
                                  const char *path, const st_buf *frame,
                                  st_broker_msg *m, st_err *err)
{
    memset(m, 0, sizeof(*m));
    const st_curl_api *cu = b->cu;
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", b->ep.url, path);
    reply r = {{NULL, 0, 0}, 0};
    st_buf_init(&r.body);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = cu->slist_append(NULL, FRAME_TYPE);
    hdr = cu->slist_append(hdr, "Expect:");
    CURL *c = b->curl;
    cu->easy_setopt(c, CURLOPT_URL, url);
    cu->easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    cu->easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)frame->data);
    cu->easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)frame->len);
    cu->easy_setopt(c, CURLOPT_WRITEDATA, &r);
    cu->easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    b->mismatch = 0;
    CURLcode cc = cu->easy_perform(c);
    long status = 0;
    cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* the broker's verdicts as EARs (its `attest ear-key` verifies them) */
    struct curl_header *eh = NULL;
    free(b->ear);
    b->ear = NULL;
    if (cc == CURLE_OK &&
        cu->easy_header(c, "Sealtrain-EAR", 0, CURLH_HEADER, -1, &eh) ==
            CURLHE_OK &&
        eh && eh->value)
        b->ear = strdup(eh->value); /* out of memory: left out */
    cu->easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    cu->easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    cu->slist_free_all(hdr);
    st_code rc = ST_OK;
    const char *B = b->ep.url;
    if (cc != CURLE_OK && b->mismatch) {
        char want[65], got[65];
        pin_hex(b->pin, want);
        pin_hex(b->seen, got);
        rc = st_err_set(err, ST_E_DENIED,
                        "key broker %s (dataset \"%s\"): TLS key pin mismatch: "
                        "the manifest pins sha256:%s, the broker presented "
                        "sha256:%s",
                        B, dataset, want, got);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT ||
               cc == CURLE_COULDNT_RESOLVE_HOST)
        rc = st_err_set(err, ST_E_IO,
                        "key broker %s (dataset \"%s\") is unreachable: %s", B,
                        dataset, errbuf[0] ? errbuf : cu->easy_strerror(cc));
    else if (cc != CURLE_OK)
        rc = st_err_set(err, ST_E_IO, "key broker %s (dataset \"%s\"): %s", B,
                        dataset, errbuf[0] ? errbuf : cu->easy_strerror(cc));
    else if (r.too_big)
        rc = st_err_set(err, ST_E_INPUT,
                        "key broker %s (dataset \"%s\"): reply too large", B,
                        dataset);
    size_t used = 0;
    const uint8_t *body = r.body.data;
    size_t blen = r.body.len;
    if (rc == ST_OK && blen >= ST_BROKER_HEADER_LEN &&
        st_broker_frame_parse(body, blen, m, &used, NULL) == ST_OK &&
        used == blen) {
        /* a frame: the caller checks its type */
    } else if (rc == ST_OK) {
        st_broker_msg_free(m);
        /* the server's JSON error, or nothing we understand */
        json_t *j =
            body ? st_json_parse((const char *)body, blen, "broker reply", NULL)
                 : NULL;
        const char *why = json_string_value(json_object_get(j, "error"));
        char reason[400];
        snprintf(reason, sizeof(reason), "%s", why ? why : "no reason given");
        json_decref(j);
        rc = st_err_set(err,
                        status == 403                    ? ST_E_DENIED
                        : status == 400 || status == 404 ? ST_E_INPUT
                                                         : ST_E_IO,
                        "key broker %s (dataset \"%s\"): HTTP %ld: %s", B,
                        dataset, status, reason);
    }
    if (body)
        st_wipe(r.body.data, blen);
    st_buf_free(&r.body);
    return rc;
}

st_code st_broker_hello_body_encode(const st_broker_hello *h,
                                    const char *envelope, size_t len,
                                    st_buf *out, st_err *err)
{
    if (len == 0 || len > ST_BROKER_SPEC_MAX)
        return st_err_set(err, ST_E_USAGE,
                          "the signed job spec must be 1 to %u bytes",
                          ST_BROKER_SPEC_MAX);
    uint8_t hello[65];
    /* a fixed-size copy: it cannot fail */
    st_discard(st_broker_hello_encode(h, hello));
    st_code rc =
        st_broker_frame_encode(ST_MSG_HELLO, hello, sizeof(hello), out, err);
    return rc == ST_OK ? st_buf_append(out, envelope, len, err) : rc;
}

st_code st_broker_hello_body_parse(const uint8_t *body, size_t len,
                                   st_broker_hello *h, const char **envelope,
                                   size_t *envelope_len, st_err *err)
{
    *envelope = NULL;
    *envelope_len = 0;
    st_broker_msg m;
    size_t used = 0;
    st_code rc = st_broker_frame_parse(body, len, &m, &used, err);
    if (rc == ST_OK) {
        rc = st_broker_hello_parse(&m, h, err);
        st_broker_msg_free(&m);
    }
    if (rc != ST_OK) {
        st_err_prefix(err, "hello body");
        return rc;
    }
    size_t rest = len - used;
    if (rest == 0)
        return st_err_set(err, ST_E_INPUT,
                          "hello body: the signed job spec (a DSSE envelope "
                          "after the HELLO frame) is missing");
    if (rest > ST_BROKER_SPEC_MAX)
        return st_err_set(err, ST_E_INPUT,
                          "hello body: the signed job spec is %zu bytes, "
                          "more than %u",
                          rest, ST_BROKER_SPEC_MAX);
    *envelope = (const char *)body + used;
    *envelope_len = rest;
    return ST_OK;
}

/* A DENIED frame as the caller's error, naming the broker and dataset. */
static ST_MUST_CHECK st_code denied(const st_broker_remote *b,
                                    const char *dataset, const st_broker_msg *m,
                                    st_err *err)
{
    json_t *d = NULL;
    /* an unreadable DENIED body still is a denial: it is reported as one,
     * with "no reason given" */
    if (st_broker_json_parse(m, &d, NULL) != ST_OK)
        d = NULL;
    const char *why = json_string_value(json_object_get(d, "reason"));
    st_code rc = st_err_set(err, ST_E_DENIED,
                            "key broker %s (dataset \"%s\") denied the "
                            "release: %s",
                            b->ep.url, dataset, why ? why : "no reason given");
    json_decref(d);
    return rc;
}

/* One request: POSTs `body` (freed here), then a DENIED reply becomes
 * the broker's refusal and any other is handed to `parse` (a frame of the
 * expected type into `out`); errors name the broker and the dataset. */
static ST_MUST_CHECK st_code exchange(
    st_broker_remote *b, const char *dataset, const char *path, st_code rc,
    st_buf *body, st_code (*parse)(const st_broker_msg *, void *, st_err *),
    void *out, st_err *err)
{
    st_broker_msg m;
    if (rc == ST_OK)
        rc = post(b, dataset, path, body, &m, err);
    st_buf_free(body);
    if (rc != ST_OK)
        return rc;
    if (m.type == ST_MSG_DENIED)
        rc = denied(b, dataset, &m, err);
    else if (parse(&m, out, err) != ST_OK)
        rc = st_err_prefix(err, "key broker %s (dataset \"%s\")", b->ep.url,
                           dataset);
    st_broker_msg_free(&m);
    return rc;
}

static ST_MUST_CHECK st_code parse_nonce(const st_broker_msg *m, void *out,
                                         st_err *err)
{
    return st_broker_nonce_parse(m, out, err);
}

static ST_MUST_CHECK st_code parse_keys(const st_broker_msg *m, void *out,
                                        st_err *err)
{
    return st_broker_keys_parse(m, out, err);
}

st_code st_broker_remote_hello(st_broker_remote *b, const char *dataset,
                               const char *job_id,
                               const uint8_t spec_digest[32],
                               const char *envelope, size_t envelope_len,
                               const st_broker_hello *h, uint8_t nonce[32],
                               st_err *err)
{
    char sd[65], path[512];
    st_hex_encode(spec_digest, 32, sd);
    snprintf(path, sizeof(path),
             "/v1/broker/datasets/%s/hello?job=%s&spec_digest=%s", dataset,
             job_id, sd);
    st_buf body;
    st_buf_init(&body);
    st_code rc =
        st_broker_hello_body_encode(h, envelope, envelope_len, &body, err);
    return exchange(b, dataset, path, rc, &body, parse_nonce, nonce, err);
}

st_code st_broker_remote_evidence(st_broker_remote *b, const char *dataset,
                                  const uint8_t nonce[32], const void *evidence,
                                  size_t len, st_broker_keys *keys, st_err *err)
{
    char nh[65], path[512];
    st_hex_encode(nonce, 32, nh);
    snprintf(path, sizeof(path), "/v1/broker/datasets/%s/evidence?nonce=%s",
             dataset, nh);
    st_buf body;
    st_buf_init(&body);
    st_code rc =
        st_broker_frame_encode(ST_MSG_EVIDENCE, evidence, len, &body, err);
    return exchange(b, dataset, path, rc, &body, parse_keys, keys, err);
}

const char *st_broker_remote_ear(const st_broker_remote *b)
{
    return b ? b->ear : NULL;
}
