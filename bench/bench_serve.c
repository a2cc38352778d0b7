/*
 * bench_serve.c: a loopback load generator for `sealtrain serve` with a
 * client certificate (wrk cannot present one): N keep-alive TLS 1.3
 * connections, one thread each, for S seconds, reporting requests/s and
 * p50/p99/max latency.
 *
 *   bench_serve healthz PORT CA CRT KEY CONNS SECONDS
 *   bench_serve release PORT CA CRT KEY CONNS SECONDS SIMKEY DATASET SPEC
 *   bench_serve mixed   PORT CA CRT KEY CONNS SECONDS SIMKEY DATASET SPEC
 *
 * `release` performs the whole remote key release per operation (HELLO
 * with the job's signed spec -> NONCE, fresh sim evidence bound to it,
 * EVIDENCE -> KEYS) and opens the
 * wrapped key with the runtime's X25519 key, so a figure counts only
 * releases that really delivered the key. `mixed` (the soak) cycles ten
 * operations per connection: seven releases, one release followed by a
 * replay of its nonce (which must be refused: 403 with a DENIED frame),
 * two /v1/healthz; and every 500 operations it closes the connection and
 * dials again, so that leaks per connection show up too.
 *
 * Connections are kept alive like a real client's; the TLS handshakes
 * (one per dialled connection) are counted and reported, not timed.
 * Its HTTP handling is the minimum for this server's replies
 * (Content-Length bodies); it is a benchmark tool, not a client library.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "broker/remote.h"
#include "crypto/primitives.h"
#include "sealtrain/attest.h"
#include "sealtrain/broker.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/job.h"
#include "sealtrain/secmem.h"

static const char *mode, *ca, *crt, *key, *simkey, *dataset;
static int port, seconds;
static uint8_t sim_seed[32];
/* the job spec in SPEC, signed by KEY (the client's principal, as `job
 * run` signs it); every HELLO carries it, the broker checks it */
static char *envelope;
static uint8_t spec_digest[32];
static double t_end;

typedef struct worker {
    pthread_t th;
    double *lat;
    size_t n, cap;
    unsigned long errors, refused, handshakes, releases, replays, healthz;
    char first_error[256];
} worker;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static SSL *dial(SSL_CTX *ctx)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    return ssl;
}

static void hangup(SSL *ssl)
{
    if (!ssl)
        return;
    int fd = SSL_get_fd(ssl);
    SSL_free(ssl);
    close(fd);
}

/* One request; the status goes to *status, the body to body (cap). */
static int roundtrip(SSL *ssl, const char *method, const char *path,
                     const void *payload, size_t plen, int *status,
                     uint8_t *body, size_t cap, size_t *blen)
{
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Type: application/x-sealtrain-broker\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, plen);
    if (SSL_write(ssl, head, hl) != hl ||
        (plen && SSL_write(ssl, payload, (int)plen) != (int)plen))
        return -1;
    static __thread char buf[1 << 16];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        int r = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
        if (!end && have >= sizeof(buf) - 1)
            return -1;
    }
    if (sscanf(buf, "HTTP/1.1 %d", status) != 1)
        return -1;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
    size_t got = have - (size_t)(end + 4 - buf);
    if (want > cap)
        return -1;
    memcpy(body, end + 4, got < want ? got : want);
    while (got < want) {
        int r = SSL_read(ssl, body + got, (int)(want - got));
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    *blen = want;
    return 0;
}

/* One full key release; 0 when the key was delivered and opens. With
 * `replay`, the EVIDENCE is then sent again with the same nonce and must
 * be refused (403, DENIED frame). */
static int release(SSL *ssl, worker *w, int *status, int replay)
{
    static __thread uint8_t body[1 << 16];
    size_t blen;
    uint8_t xpriv[32], nonce[32], rd[64];
    st_broker_hello hello;
    char job[17], path[256], hex[65];
    uint8_t jr[8];
    if (st_random(xpriv, 32, NULL) != ST_OK ||
        st_x25519_public(xpriv, hello.x25519, NULL) != ST_OK ||
        st_random(hello.ed25519, 32, NULL) != ST_OK ||
        st_random(jr, 8, NULL) != ST_OK)
        return -1;
    st_hex_encode(jr, 8, hex);
    snprintf(job, sizeof(job), "j%.15s", hex);
    st_hex_encode(spec_digest, 32, hex);
    snprintf(path, sizeof(path),
             "/v1/broker/datasets/%s/hello?job=%s&spec_digest=%s", dataset, job,
             hex);
    st_buf b;
    st_buf_init(&b);
    if (st_broker_hello_body_encode(&hello, envelope, strlen(envelope), &b,
                                    NULL) != ST_OK) {
        st_buf_free(&b);
        return -1;
    }
    int rc = roundtrip(ssl, "POST", path, b.data, b.len, status, body,
                       sizeof(body), &blen);
    st_buf_free(&b);
    if (rc || *status != 200 || blen != 37 || body[0] != ST_MSG_NONCE)
        return -1;
    memcpy(nonce, body + 5, 32);
    st_broker_report_data(hello.x25519, hello.ed25519, nonce, spec_digest, rd);
    st_evidence *ev = NULL;
    size_t evlen = 0;
    char *evj = NULL;
    if (st_attest_sim_evidence(sim_seed, rd, NULL, (int64_t)time(NULL), &ev,
                               NULL) != ST_OK ||
        !(evj = st_evidence_to_json(ev, &evlen, NULL))) {
        st_evidence_free(ev);
        return -1;
    }
    st_evidence_free(ev);
    st_buf_init(&b);
    st_code frc = st_broker_frame_encode(ST_MSG_EVIDENCE, evj, evlen, &b, NULL);
    free(evj);
    if (frc != ST_OK) {
        st_buf_free(&b);
        return -1;
    }
    st_hex_encode(nonce, 32, hex);
    snprintf(path, sizeof(path), "/v1/broker/datasets/%s/evidence?nonce=%s",
             dataset, hex);
    rc = roundtrip(ssl, "POST", path, b.data, b.len, status, body, sizeof(body),
                   &blen);
    if (rc || *status != 200) {
        st_buf_free(&b);
        return -1;
    }
    if (replay) {
        static __thread uint8_t again[1 << 12];
        size_t alen;
        int st2 = 0;
        rc = roundtrip(ssl, "POST", path, b.data, b.len, &st2, again,
                       sizeof(again), &alen);
        if (rc || st2 != 403 || alen < 5 || again[0] != ST_MSG_DENIED) {
            st_buf_free(&b);
            snprintf(w->first_error, sizeof(w->first_error),
                     "a replayed nonce was not refused (status %d)", st2);
            *status = st2 == 200 ? 500 : st2;
            return -1;
        }
        w->replays++;
    }
    st_buf_free(&b);
    st_broker_msg m = {0};
    size_t used;
    st_broker_keys keys;
    char name[160];
    snprintf(name, sizeof(name), "dataset:%s", dataset);
    st_err err;
    if (st_broker_frame_parse(body, blen, &m, &used, &err) != ST_OK ||
        st_broker_keys_parse(&m, &keys, &err) != ST_OK) {
        st_broker_msg_free(&m);
        snprintf(w->first_error, sizeof(w->first_error), "%s", err.msg);
        return -1;
    }
    st_broker_msg_free(&m);
    const st_broker_key *k = st_broker_keys_find(&keys, name);
    st_secret *s = NULL;
    if (!k || st_broker_unwrap_key(xpriv, job, k, &s, &err) != ST_OK) {
        snprintf(w->first_error, sizeof(w->first_error), "unwrap: %s",
                 k ? err.msg : "no key");
        return -1;
    }
    st_secret_free(s);
    st_wipe(xpriv, 32);
    return 0;
}

static void *run(void *arg)
{
    worker *w = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_load_verify_locations(ctx, ca, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_use_certificate_file(ctx, crt, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(w->first_error, sizeof(w->first_error), "client cert/key");
        w->errors++;
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL *ssl = NULL;
    static __thread uint8_t body[1 << 16];
    int mixed = !strcmp(mode, "mixed");
    unsigned long op = 0, on_conn = 0;
    while (now() < t_end) {
        if (ssl && mixed && on_conn >= 500) {
            hangup(ssl); /* a fresh connection: per-connection leaks */
            ssl = NULL;
        }
        if (!ssl) {
            if (!(ssl = dial(ctx))) {
                w->errors++;
                if (!w->first_error[0])
                    snprintf(w->first_error, sizeof(w->first_error),
                             "connect/handshake failed");
                usleep(10000);
                continue;
            }
            w->handshakes++;
            on_conn = 0;
        }
        double t0 = now();
        int status = 0, rc;
        size_t blen;
        int kind = !strcmp(mode, "healthz") ? 0 : 1; /* 0 healthz 1 release */
        if (mixed && (op % 10 == 3 || op % 10 == 8))
            kind = 0;
        op++;
        on_conn++;
        if (kind == 0)
            rc = roundtrip(ssl, "GET", "/v1/healthz", NULL, 0, &status, body,
                           sizeof(body), &blen);
        else
            rc = release(ssl, w, &status, mixed && op % 10 == 5);
        double dt = now() - t0;
        if (rc == 0 && status == 200) {
            if (kind == 0)
                w->healthz++;
            else
                w->releases++;
            /* mixed: only the releases' latency is recorded */
            if (kind == 1 || !mixed) {
                if (w->n == w->cap) {
                    w->cap = w->cap ? w->cap * 2 : 4096;
                    w->lat = realloc(w->lat, w->cap * sizeof(double));
                }
                w->lat[w->n++] = dt;
            }
        } else {
            if (status == 429)
                w->refused++;
            else
                w->errors++;
            if (!w->first_error[0])
                snprintf(w->first_error, sizeof(w->first_error), "status %d",
                         status);
            hangup(ssl);
            ssl = NULL;
        }
    }
    hangup(ssl);
    SSL_CTX_free(ctx);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 8 ||
        (strcmp(argv[1], "healthz") && strcmp(argv[1], "release") &&
         strcmp(argv[1], "mixed")) ||
        (strcmp(argv[1], "healthz") && argc < 11)) {
        fprintf(stderr, "usage: bench_serve healthz|release|mixed PORT CA CRT "
                        "KEY CONNS SECONDS [SIMKEY DATASET SPEC]\n");
        return 2;
    }
    mode = argv[1];
    port = atoi(argv[2]);
    ca = argv[3];
    crt = argv[4];
    key = argv[5];
    int conns = atoi(argv[6]);
    seconds = atoi(argv[7]);
    if (argc >= 11) {
        simkey = argv[8];
        dataset = argv[9];
        uint8_t pub[32], seed[32];
        st_err err;
        st_job_spec spec;
        json_t *env = NULL;
        if (st_attest_sim_key(simkey, 0, sim_seed, pub, &err) != ST_OK ||
            st_ed25519_load_private_pem(key, seed, &err) != ST_OK ||
            st_job_spec_load(argv[10], &spec, &err) != ST_OK) {
            fprintf(stderr, "bench_serve: %s\n", err.msg);
            return 1;
        }
        if (!(env = st_job_spec_sign(&spec, seed, &err)) ||
            st_job_spec_digest(&spec, spec_digest, &err) != ST_OK ||
            !(envelope = json_dumps(env, JSON_COMPACT))) {
            fprintf(stderr, "bench_serve: signing %s: %s\n", argv[10], err.msg);
            return 1;
        }
        st_wipe(seed, sizeof(seed));
        json_decref(env);
        st_job_spec_free(&spec);
    }
    if (conns < 1 || conns > 256 || seconds < 1)
        return 2;
    /* the runtime's way: its secrets (X25519 keys, unwrapped file keys)
     * come from one secure arena prepared up front, not a memfd_secret
     * mapping per key; exact-size blocks are reused after a wipe */
    st_err aerr;
    if (strcmp(mode, "healthz") &&
        st_secmem_arena_prepare((size_t)conns << 18, 1, &aerr) != ST_OK)
        fprintf(stderr,
                "bench_serve: no secure arena (%s): one mapping per "
                "secret\n",
                aerr.msg);
    worker *w = calloc((size_t)conns, sizeof(*w));
    double t0 = now();
    t_end = t0 + seconds;
    for (int i = 0; i < conns; i++)
        pthread_create(&w[i].th, NULL, run, &w[i]);
    size_t total = 0;
    unsigned long errors = 0, refused = 0, handshakes = 0, releases = 0,
                  replays = 0, healthz = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(w[i].th, NULL);
        total += w[i].n;
        errors += w[i].errors;
        refused += w[i].refused;
        handshakes += w[i].handshakes;
        releases += w[i].releases;
        replays += w[i].replays;
        healthz += w[i].healthz;
    }
    double elapsed = now() - t0;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
        k += w[i].n;
        if (w[i].first_error[0] && errors)
            fprintf(stderr, "bench_serve: first error: %s\n", w[i].first_error);
        free(w[i].lat);
    }
    qsort(all, total, sizeof(double), cmp);
    double p50 = total ? all[total / 2] : 0;
    double p99 = total ? all[(size_t)((double)total * 0.99)] : 0;
    double mx = total ? all[total - 1] : 0;
    /* the figures a script reads: "mode ok rps p50 p99 max" (ms) */
    printf("%-8s conns=%-3d ok=%-7zu %8.1f req/s  p50 %6.2f ms  p99 %6.2f ms  "
           "max %7.2f ms  errors=%lu 429=%lu handshakes=%lu\n",
           mode, conns, total, (double)total / elapsed, p50 * 1e3, p99 * 1e3,
           mx * 1e3, errors, refused, handshakes);
    if (!strcmp(mode, "mixed"))
        printf("mixed: %lu releases, %lu replayed nonces refused, %lu "
               "healthz\n",
               releases, replays, healthz);
    printf("RESULT %s %zu %.1f %.3f %.3f %.3f %lu\n", mode, total,
           (double)total / elapsed, p50 * 1e3, p99 * 1e3, mx * 1e3, errors);
    free(all);
    free(w);
    st_wipe(sim_seed, 32);
    return errors ? 1 : 0;
}
