/*
 * test_job_envelope.c: opening a job spec signed elsewhere (POST /v1/jobs,
 * st_job_envelope_open): it opens only under the signer's key, its digest
 * is over exactly the signed bytes (whatever their layout), and anything
 * but a signed, valid spec is refused with the right code.
 */
#include "st_test.h"

#include "crypto/dsse.h"
#include <sealtrain/sealtrain.h>

#define EXAMPLE "examples/jobs/digits-mlp.json"

static char *envelope_of(const void *payload, size_t len, const char *type,
                         const uint8_t seed[32])
{
    st_err e;
    json_t *env = st_dsse_sign(type, payload, len, seed, &e);
    assert_non_null(env);
    char *text = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    assert_non_null(text);
    return text;
}

static void test_envelope_opens_only_under_the_signers_key(void **state)
{
    (void)state;
    uint8_t a[32], b[32], pub_a[32], pub_b[32];
    memset(a, 1, 32);
    memset(b, 2, 32);
    st_err e;
    assert_st_ok(st_ed25519_public(a, pub_a, &e), &e);
    assert_st_ok(st_ed25519_public(b, pub_b, &e), &e);
    unsigned char *spec = NULL;
    size_t len = 0;
    assert_st_ok(st_fs_read_all(EXAMPLE, 1 << 20, &spec, &len, &e), &e);
    /* the file as written (indented, unsorted): not the canonical form */
    char *text = envelope_of(spec, len, ST_DSSE_TYPE_JOBSPEC, a);
    st_job_spec s;
    uint8_t digest[32], want[32];
    json_t *env = NULL;
    assert_st_ok(st_job_envelope_open(text, strlen(text), "t", pub_a, &s,
                                      digest, &env, &e),
                 &e);
    st_sha256(spec, len, want);
    assert_memory_equal(digest, want, 32);
    assert_string_equal(s.name, "digits-mlp");
    assert_non_null(env);
    json_decref(env);
    st_job_spec_free(&s);
    assert_int_equal(st_job_envelope_open(text, strlen(text), "t", pub_b, &s,
                                          digest, NULL, &e),
                     ST_E_DENIED);
    assert_null(s.root);
    free(text);
    free(spec);
}

static void test_envelope_refuses_what_is_not_a_signed_spec(void **state)
{
    (void)state;
    uint8_t a[32], pub[32], digest[32];
    memset(a, 3, 32);
    st_err e;
    st_job_spec s;
    assert_st_ok(st_ed25519_public(a, pub, &e), &e);
    /* a signed payload that is not a valid spec: the key is named */
    char *text = envelope_of("{\"version\":1}", 13, ST_DSSE_TYPE_JOBSPEC, a);
    assert_int_equal(st_job_envelope_open(text, strlen(text), "t", pub, &s,
                                          digest, NULL, &e),
                     ST_E_INPUT);
    free(text);
    /* another payload type (a dataset manifest signature) */
    text = envelope_of("{}", 2, ST_DSSE_TYPE_MANIFEST, a);
    assert_int_equal(st_job_envelope_open(text, strlen(text), "t", pub, &s,
                                          digest, NULL, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "payload type"));
    free(text);
    /* not JSON, no signature, an extra key */
    static const char *const bad[] = {
        "{",
        "{\"payload\":\"e30=\",\"payloadType\":\"" ST_DSSE_TYPE_JOBSPEC
        "\",\"signatures\":[]}",
        "{\"payload\":\"e30=\",\"payloadType\":\"" ST_DSSE_TYPE_JOBSPEC
        "\",\"signatures\":[],\"x\":1}"};
    static const st_code want[] = {ST_E_INPUT, ST_E_DENIED, ST_E_INPUT};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(st_job_envelope_open(bad[i], strlen(bad[i]), "t", pub,
                                              &s, digest, NULL, &e),
                         want[i]);
        assert_null(s.root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_opens_only_under_the_signers_key),
        cmocka_unit_test(test_envelope_refuses_what_is_not_a_signed_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
