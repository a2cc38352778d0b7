/*
 * test_broker_remote.c: the client side of a remote key broker: its
 * configuration file, the TLS pin a manifest carries, the manifest's
 * broker section, and what an unreachable broker reports.
 */
#include "broker/remote.h"
#include "st_test.h"
#include "st_test_x509.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sealtrain/sealtrain.h>

static void
test_config_resolves_paths_and_rejects_what_it_does_not_know(void **state)
{
    (void)state;
    st_err e;
    st_broker_endpoint *eps = NULL;
    size_t n = 0;
    const char *ok = "{\"version\":1,\"brokers\":[{\"url\":\"https://a:1/\","
                     "\"cert\":\"c.crt\",\"key\":\"/abs/k.pem\","
                     "\"timeout_seconds\":7}]}";
    assert_st_ok(
        st_broker_endpoints_parse(ok, strlen(ok), "t", "/base", &eps, &n, &e),
        &e);
    assert_int_equal(n, 1);
    assert_string_equal(eps[0].url, "https://a:1");
    assert_string_equal(eps[0].cert, "/base/c.crt");
    assert_string_equal(eps[0].key, "/abs/k.pem");
    assert_int_equal(eps[0].timeout_ms, 7000);
    assert_int_equal(eps[0].connect_timeout_ms, 5000);
    free(eps);

    const char *bad[] = {
        "{\"version\":1,\"brokers\":[{\"url\":\"http://a\",\"cert\":\"c\","
        "\"key\":\"k\"}]}",
        "{\"version\":1,\"brokers\":[{\"url\":\"https://a\",\"cert\":\"c\","
        "\"key\":\"k\",\"ca\":\"x\"}]}",
        "{\"version\":1,\"brokers\":[{\"url\":\"https://a\",\"cert\":\"c\","
        "\"key\":\"k\"},{\"url\":\"https://a/"
        "\",\"cert\":\"c\",\"key\":\"k\"}]}",
        "{\"version\":1,\"brokers\":[{\"url\":\"https://a\",\"cert\":\"c\","
        "\"key\":\"k\",\"timeout_seconds\":3600}]}",
        "{\"version\":2,\"brokers\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(st_broker_endpoints_parse(bad[i], strlen(bad[i]), "t",
                                                   NULL, &eps, &n, &e),
                         ST_E_INPUT);
        assert_null(eps);
    }
    /* the unknown key is named */
    assert_int_equal(st_broker_endpoints_parse(bad[1], strlen(bad[1]), "t",
                                               NULL, &eps, &n, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "\"ca\""));
}

static char *write_cert(const char *dir, uint8_t spki_sha256[32])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    X509 *x = st_test_self_signed(k, "t");
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    st_sha256(der, (size_t)n, spki_sha256);
    OPENSSL_free(der);
    static char path[4200];
    snprintf(path, sizeof(path), "%s/c.crt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    char kpath[4200];
    snprintf(kpath, sizeof(kpath), "%s/k.pem", dir);
    f = fopen(kpath, "w");
    assert_non_null(f);
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    return path;
}

static void test_pin_is_the_sha256_of_the_certificates_spki(void **state)
{
    (void)state;
    char *dir = st_test_tmpdir("pin");
    uint8_t want[32], got[32];
    char *path = write_cert(dir, want);
    st_err e;
    assert_st_ok(st_broker_pin_from_cert(path, got, &e), &e);
    assert_memory_equal(got, want, 32);
    FILE *f = fopen(path, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    assert_int_equal(st_broker_pin_from_cert(path, got, &e), ST_E_INPUT);
    st_test_rmtree(dir);
    free(dir);
}

#define MANIFEST                                                               \
    "{\"_type\":\"https://sealtrain.dev/dataset-manifest/v1\","                \
    "\"classification\":\"internal\",\"created\":\"2026-11-25T13:02:06Z\","    \
    "\"encrypted\":{\"chunk_size\":65536,\"file_sha256\":\"%s\","              \
    "\"header_sha256\":\"%s\",\"payload_sha256\":\"%s\",\"size\":400},"        \
    "\"generation\":2,\"id\":\"0123456789abcdef0123456789abcdef\","            \
    "\"kek\":{\"name\":\"owner.alice\",\"version\":1},\"name\":\"digits\","    \
    "\"owner\":\"alice\",\"plaintext\":{\"sha256\":\"%s\",\"size\":110},"      \
    "\"recipients\":[],\"retention_days\":null,\"schema\":{\"classes\":2,"     \
    "\"features\":2,\"label_kind\":\"class\",\"labels_mapped\":false,"         \
    "\"layout\":\"sealtrain-tensor/v1\",\"rows\":3},\"source\":{\"file\":"     \
    "\"d.csv\",\"format\":\"csv\"},\"updated\":\"2026-11-25T13:05:00Z\"%s}"

#define PIN "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static ST_MUST_CHECK st_code parse_with(const char *broker,
                                        st_dataset_manifest *m, st_err *e)
{
    char h[65], text[4096];
    memset(h, 'a', 64);
    h[64] = 0;
    snprintf(text, sizeof(text), MANIFEST, h, h, h, h, broker);
    return st_dataset_manifest_parse(text, strlen(text), m, e);
}

static void
test_manifest_broker_section_round_trips_and_is_checked(void **state)
{
    (void)state;
    st_err e;
    st_dataset_manifest m, m2;
    char section[512];
    /* without the section the manifest has no broker */
    assert_st_ok(parse_with("", &m, &e), &e);
    assert_int_equal(m.broker_url[0], 0);
    size_t n;
    char *text = st_dataset_manifest_encode(&m, &n, &e);
    assert_null(strstr(text, "broker"));
    free(text);
    st_dataset_manifest_free(&m);

    snprintf(section, sizeof(section),
             ",\"broker\":{\"tls_spki_sha256\":\"" PIN "\",\"url\":"
             "\"https://alice.example:8443\"}");
    assert_st_ok(parse_with(section, &m, &e), &e);
    assert_string_equal(m.broker_url, "https://alice.example:8443");
    assert_int_equal(m.broker_spki_sha256[0], 0xbb);
    text = st_dataset_manifest_encode(&m, &n, &e);
    assert_st_ok(st_dataset_manifest_parse(text, n, &m2, &e), &e);
    assert_string_equal(m2.broker_url, m.broker_url);
    assert_memory_equal(m2.broker_spki_sha256, m.broker_spki_sha256, 32);
    free(text);
    st_dataset_manifest_free(&m);
    st_dataset_manifest_free(&m2);

    const char *bad[] = {
        ",\"broker\":{\"tls_spki_sha256\":\"" PIN "\",\"url\":\"http://a\"}",
        ",\"broker\":{\"tls_spki_sha256\":\"" PIN "\",\"url\":\"https://u@a\"}",
        ",\"broker\":{\"tls_spki_sha256\":\"" PIN "\",\"url\":\"https://a?q\"}",
        ",\"broker\":{\"tls_spki_sha256\":\"bbbb\",\"url\":\"https://a\"}",
        ",\"broker\":{\"tls_spki_sha256\":\"" PIN "\",\"url\":\"https://a\","
        "\"ca\":1}",
        ",\"broker\":{\"url\":\"https://a\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_with(bad[i], &m, &e), ST_E_INPUT);
        assert_non_null(strstr(e.msg, "broker"));
    }
}

/* A loopback socket: listening (the kernel completes TCP handshakes that
 * nobody answers) or closed (nothing listens on its port). */
static int loopback_port(int listening, int *fd)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, al), 0);
    if (listening)
        assert_int_equal(listen(s, 4), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    if (!listening)
        close(s);
    *fd = listening ? s : -1;
    return ntohs(a.sin_port);
}

/* HELLO to https://127.0.0.1:port with a real client certificate: the
 * error code, message in *e. */
static ST_MUST_CHECK st_code hello_to(int port, st_err *e)
{
    char *dir = st_test_tmpdir("remote");
    uint8_t spki[32], pin[32] = {0}, nonce[32], digest[32] = {0};
    st_broker_endpoint ep;
    memset(&ep, 0, sizeof(ep));
    snprintf(ep.url, sizeof(ep.url), "https://127.0.0.1:%d", port);
    snprintf(ep.cert, sizeof(ep.cert), "%s", write_cert(dir, spki));
    snprintf(ep.key, sizeof(ep.key), "%s/k.pem", dir);
    ep.connect_timeout_ms = 1000;
    ep.timeout_ms = 1000;
    st_broker_remote *b = NULL;
    assert_st_ok(st_broker_remote_open(&ep, pin, &b, e), e);
    st_broker_hello h;
    memset(&h, 7, sizeof(h));
    st_code rc = st_broker_remote_hello(b, "digits", "j0123456789abcde", digest,
                                        "{}", 2, &h, nonce, e);
    assert_non_null(strstr(e->msg, ep.url));
    assert_non_null(strstr(e->msg, "(dataset \"digits\")"));
    st_broker_remote_close(b);
    st_test_rmtree(dir);
    free(dir);
    return rc;
}

static void test_unreachable_broker_fails_naming_url_and_dataset(void **state)
{
    (void)state;
    int fd;
    st_err e;
    assert_int_equal(hello_to(loopback_port(0, &fd), &e), ST_E_IO);
    assert_non_null(strstr(e.msg, "unreachable"));
}

static void test_silent_broker_times_out_naming_url(void **state)
{
    (void)state;
    int fd;
    st_err e;
    assert_int_equal(hello_to(loopback_port(1, &fd), &e), ST_E_IO);
    assert_non_null(strstr(e.msg, "unreachable"));
    close(fd);
}

/* The HELLO request's body: the runtime's HELLO frame, then the signed
 * spec; nothing else is accepted. */
static void
test_hello_body_is_one_hello_frame_then_the_signed_spec(void **state)
{
    (void)state;
    st_err e;
    st_broker_hello h, got;
    memset(&h, 0, sizeof(h));
    for (size_t i = 0; i < 32; i++) {
        h.x25519[i] = (uint8_t)i;
        h.ed25519[i] = (uint8_t)(100 + i);
    }
    const char *env = "{\"payloadType\":\"x\"}";
    st_buf b;
    st_buf_init(&b);
    assert_st_ok(st_broker_hello_body_encode(&h, env, strlen(env), &b, &e), &e);
    const char *text = NULL;
    size_t tlen = 0;
    assert_st_ok(
        st_broker_hello_body_parse(b.data, b.len, &got, &text, &tlen, &e), &e);
    assert_memory_equal(&got, &h, sizeof(h));
    assert_int_equal(tlen, strlen(env));
    assert_memory_equal(text, env, tlen);

    /* the HELLO alone: the spec is missing, and said so */
    assert_int_equal(st_broker_hello_body_parse(b.data,
                                                ST_BROKER_HEADER_LEN + 65, &got,
                                                &text, &tlen, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "signed job spec"));
    assert_null(text);
    /* a truncated frame, another frame type first */
    assert_int_equal(
        st_broker_hello_body_parse(b.data, 40, &got, &text, &tlen, &e),
        ST_E_INPUT);
    b.data[0] = ST_MSG_EVIDENCE;
    assert_int_equal(
        st_broker_hello_body_parse(b.data, b.len, &got, &text, &tlen, &e),
        ST_E_INPUT);
    assert_non_null(strstr(e.msg, "hello body"));
    st_buf_free(&b);

    /* a client never sends an empty spec */
    st_buf_init(&b);
    assert_int_equal(st_broker_hello_body_encode(&h, env, 0, &b, &e),
                     ST_E_USAGE);
    st_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_config_resolves_paths_and_rejects_what_it_does_not_know),
        cmocka_unit_test(test_pin_is_the_sha256_of_the_certificates_spki),
        cmocka_unit_test(
            test_manifest_broker_section_round_trips_and_is_checked),
        cmocka_unit_test(test_unreachable_broker_fails_naming_url_and_dataset),
        cmocka_unit_test(test_silent_broker_times_out_naming_url),
        cmocka_unit_test(
            test_hello_body_is_one_hello_frame_then_the_signed_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
