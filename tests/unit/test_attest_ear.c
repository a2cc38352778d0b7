/*
 * test_attest_ear.c: verdicts as EAR attestation results (ear.c): the JWT
 * round trip with the verifier key, refusal of a changed token, another
 * key or another algorithm, and the appraisal each submodule gets.
 */
#include "attest/ear.h"
#include "attest/trace.h"
#include "st_test.h"

#include <sealtrain/sealtrain.h>

static void verdict(st_verdict *v, int sig_ok, int measurement_ok)
{
    st_verdict_init(v);
    v->claims.tee = ST_TEE_AZ_SNP_VTPM;
    st_trace_add(&v->trace, "snp.report.signature", sig_ok, "valid", "x");
    st_trace_add(&v->trace, "az.runtime_data.hash", 1, "h", "h");
    st_trace_add(&v->trace, "tpm.signature", 1, "valid", "valid");
    st_trace_add(&v->trace, "report_data", 1, "r", "r");
    st_trace_add(&v->trace, "policy.tee", 1, "az-snp-vtpm", "az-snp-vtpm");
    st_trace_add(&v->trace, "policy.measurement", measurement_ok, "one of",
                 "m");
    v->pass = sig_ok && measurement_ok;
    snprintf(v->reason, sizeof(v->reason), "%s", v->pass ? "pass" : "fail");
}

static char *encode(const st_verdict *v, const uint8_t seed[32])
{
    static const uint8_t nonce[9] = "challenge";
    st_ear_inputs in = {.iat = 1767225600,
                        .nonce = nonce,
                        .nonce_len = sizeof(nonce),
                        .policy_id = "sha-256:00"};
    char *jwt = NULL;
    st_err e;
    assert_st_ok(st_ear_encode(v, &in, seed, &jwt, &e), &e);
    return jwt;
}

static void test_ear_round_trip_and_submodules(void **state)
{
    (void)state;
    uint8_t seed[32], pub[32];
    st_err e;
    assert_st_ok(st_random(seed, 32, &e), &e);
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    st_verdict v;
    verdict(&v, 1, 1);
    char *jwt = encode(&v, seed);
    json_t *c = NULL;
    assert_st_ok(st_ear_verify(jwt, strlen(jwt), pub, &c, &e), &e);
    assert_string_equal(json_string_value(json_object_get(c, "eat_profile")),
                        "tag:github.com,2023:veraison/ear");
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), 1767225600);
    assert_string_equal(json_string_value(json_object_get(c, "eat_nonce")),
                        "Y2hhbGxlbmdl");
    json_t *subs = json_object_get(c, "submods");
    /* one per evidence part, none for the framework's own checks */
    assert_int_equal(json_object_size(subs), 3);
    static const char *const parts[] = {"snp", "az", "tpm"};
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_object_get(subs, parts[i]);
        assert_non_null(s);
        assert_string_equal(json_string_value(json_object_get(s, "ear.status")),
                            "affirming");
        json_t *tv = json_object_get(s, "ear.trustworthiness-vector");
        assert_int_equal(json_integer_value(json_object_get(tv, "hardware")),
                         2);
        assert_int_equal(json_integer_value(json_object_get(tv, "executables")),
                         2);
    }
    json_decref(c);
    st_verdict_free(&v);
    free(jwt);

    /* a failing check makes every submodule contraindicated; the vector
     * names the aspect */
    verdict(&v, 1, 0);
    jwt = encode(&v, seed);
    assert_st_ok(st_ear_verify(jwt, strlen(jwt), pub, &c, &e), &e);
    json_t *snp = json_object_get(json_object_get(c, "submods"), "snp");
    assert_string_equal(json_string_value(json_object_get(snp, "ear.status")),
                        "contraindicated");
    json_t *tv = json_object_get(snp, "ear.trustworthiness-vector");
    assert_int_equal(json_integer_value(json_object_get(tv, "executables")),
                     33);
    assert_int_equal(json_integer_value(json_object_get(tv, "hardware")), 2);
    json_decref(c);
    st_verdict_free(&v);
    free(jwt);

    verdict(&v, 0, 1);
    jwt = encode(&v, seed);
    assert_st_ok(st_ear_verify(jwt, strlen(jwt), pub, &c, &e), &e);
    snp = json_object_get(json_object_get(c, "submods"), "snp");
    tv = json_object_get(snp, "ear.trustworthiness-vector");
    assert_int_equal(json_integer_value(json_object_get(tv, "hardware")), 96);
    json_t *tpm = json_object_get(json_object_get(c, "submods"), "tpm");
    assert_string_equal(json_string_value(json_object_get(tpm, "ear.status")),
                        "contraindicated");
    json_decref(c);
    st_verdict_free(&v);
    free(jwt);
}

static void test_ear_refuses_changed_token_other_key_and_alg(void **state)
{
    (void)state;
    uint8_t seed[32], pub[32], other[32];
    st_err e;
    assert_st_ok(st_random(seed, 32, &e), &e);
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    assert_st_ok(st_random(other, 32, &e), &e);
    assert_st_ok(st_ed25519_public(other, other, &e), &e);
    st_verdict v;
    verdict(&v, 1, 1);
    char *jwt = encode(&v, seed);
    json_t *c = NULL;
    assert_int_equal(st_ear_verify(jwt, strlen(jwt), other, &c, &e),
                     ST_E_DENIED);
    assert_null(c);
    /* one payload character changed */
    size_t hl = strcspn(jwt, "."); /* the header's length */
    assert_int_equal(jwt[hl], '.');
    jwt[hl + 5] = jwt[hl + 5] == 'A' ? 'B' : 'A';
    assert_int_equal(st_ear_verify(jwt, strlen(jwt), pub, &c, &e), ST_E_DENIED);
    jwt[hl + 5] = jwt[hl + 5] == 'A' ? 'B' : 'A';
    /* {"alg":"none"} in place of the header */
    char *none = NULL;
    assert_true(asprintf(&none, "eyJhbGciOiJub25lIn0%s", jwt + hl) > 0);
    assert_int_equal(st_ear_verify(none, strlen(none), pub, &c, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "not EdDSA"));
    free(none);
    assert_int_equal(st_ear_verify("a.b", 3, pub, &c, &e), ST_E_INPUT);
    assert_int_equal(st_ear_verify("a.b.c.d", 7, pub, &c, &e), ST_E_INPUT);
    st_verdict_free(&v);
    free(jwt);
}

static void test_ear_key_id_is_the_rfc7638_thumbprint(void **state)
{
    (void)state;
    /* RFC 8037 appendix A.3: the thumbprint of its Ed25519 example key */
    uint8_t pub[32];
    st_err e;
    assert_st_ok(st_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa6"
                               "2325af021a68f707511a",
                               pub, 32, &e),
                 &e);
    char kid[44];
    st_ear_key_id(pub, kid);
    assert_string_equal(kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    char *jwk = st_ear_key_jwk(pub, &e);
    assert_non_null(
        strstr(jwk, "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\""));
    free(jwk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ear_round_trip_and_submodules),
        cmocka_unit_test(test_ear_refuses_changed_token_other_key_and_alg),
        cmocka_unit_test(test_ear_key_id_is_the_rfc7638_thumbprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
