/*
 * test_attest.c: the attestation framework: evidence bundles, the trace,
 * the policy language and the sim backend end to end through the one
 * verifier.
 */
#include "attest/trace.h"
#include "st_test.h"

#include <sealtrain/sealtrain.h>

static const int64_t NOW = 1767225600; /* 2026-01-01T00:00:00Z */

static void rd_fill(uint8_t rd[64], uint8_t v)
{
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)(v + i);
}

static st_attest_policy *policy(const char *text)
{
    st_attest_policy *p = NULL;
    st_err e;
    assert_st_ok(st_attest_policy_parse(text, strlen(text), "test", &p, &e),
                 &e);
    return p;
}

static void test_evidence_bundle_round_trips_canonically(void **state)
{
    (void)state;
    st_err e;
    st_evidence *ev = st_evidence_new(ST_TEE_SNP, &e);
    assert_non_null(ev);
    assert_st_ok(st_evidence_set(ev, "report", "\x01\x02\x03", 3, &e), &e);
    assert_st_ok(st_evidence_set(ev, "vcek", "", 0, &e), &e);
    st_evidence_set_created(ev, 42);
    size_t len;
    char *js = st_evidence_to_json(ev, &len, &e);
    assert_non_null(js);
    assert_string_equal(js, "{\"created\":42,\"parts\":{\"report\":\"AQID\","
                            "\"vcek\":\"\"},\"tee\":\"snp\",\"type\":"
                            "\"sealtrain-evidence\",\"version\":1}");
    st_evidence *back = NULL;
    assert_st_ok(st_evidence_from_json(js, len, "mem", &back, &e), &e);
    size_t n;
    const uint8_t *d = st_evidence_get(back, "report", &n);
    assert_int_equal(n, 3);
    assert_memory_equal(d, "\x01\x02\x03", 3);
    assert_int_equal(st_evidence_tee(back), ST_TEE_SNP);
    assert_int_equal(st_evidence_created(back), 42);
    free(js);
    st_evidence_free(back);
    st_evidence_free(ev);
}

static void test_evidence_bundle_rejects_unknown_keys_and_bad_base64(void **s)
{
    (void)s;
    st_err e;
    st_evidence *ev = NULL;
    const char *extra = "{\"type\":\"sealtrain-evidence\",\"version\":1,"
                        "\"tee\":\"snp\",\"parts\":{},\"x\":1}";
    assert_int_equal(
        st_evidence_from_json(extra, strlen(extra), "b.json", &ev, &e),
        ST_E_INPUT);
    assert_non_null(strstr(e.msg, "\"x\""));
    const char *b64 = "{\"type\":\"sealtrain-evidence\",\"version\":1,"
                      "\"tee\":\"snp\",\"parts\":{\"report\":\"A===\"}}";
    assert_int_equal(st_evidence_from_json(b64, strlen(b64), "b.json", &ev, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "report"));
    const char *tee = "{\"type\":\"sealtrain-evidence\",\"version\":1,"
                      "\"tee\":\"sev\",\"parts\":{}}";
    assert_int_equal(st_evidence_from_json(tee, strlen(tee), "b.json", &ev, &e),
                     ST_E_INPUT);
    assert_null(ev);
}

static void test_trace_first_failure_is_the_reason(void **state)
{
    (void)state;
    st_trace t;
    st_trace_init(&t);
    assert_true(st_trace_add(&t, "a", 1, "x", "x"));
    assert_false(st_trace_add(&t, "b", 0, "1", "2"));
    assert_false(st_trace_add(&t, "c", 0, "3", "4"));
    const st_trace_entry *f = st_trace_first_failure(&t);
    assert_string_equal(f->claim, "b");
    st_buf out;
    st_buf_init(&out);
    st_err e;
    assert_st_ok(st_trace_render_text(&t, &out, &e), &e);
    assert_non_null(strstr((char *)out.data, "FAIL  b: expected 1, got 2"));
    json_t *j = st_trace_to_json(&t);
    assert_int_equal(json_array_size(j), 3);
    json_decref(j);
    st_buf_free(&out);
    st_trace_free(&t);
}

static void test_policy_rejects_unknown_keys_with_path(void **state)
{
    (void)state;
    st_err e;
    st_attest_policy *p = NULL;
    const char *bad = "{\"version\":1,\"tee\":[\"snp\"],\"snp\":{\"mesurements"
                      "\":[\"00\"]}}";
    assert_int_equal(st_attest_policy_parse(bad, strlen(bad), "p.json", &p, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "mesurements"));
    const char *notee = "{\"version\":1,\"tee\":[\"sev\"]}";
    assert_int_equal(
        st_attest_policy_parse(notee, strlen(notee), "p.json", &p, &e),
        ST_E_INPUT);
    const char *hex = "{\"version\":1,\"tee\":[\"snp\"],\"snp\":{"
                      "\"measurements\":[\"zz\"]}}";
    assert_int_equal(st_attest_policy_parse(hex, strlen(hex), "p.json", &p, &e),
                     ST_E_INPUT);
    assert_null(p);
}

struct sim_fixture {
    uint8_t seed[32], pub[32], rd[64], meas[32];
    st_evidence *ev;
};

static void sim_make(struct sim_fixture *f)
{
    st_err e;
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < 32; i++) {
        f->seed[i] = (uint8_t)(7 * i + 1);
        f->meas[i] = (uint8_t)(0xA0 + i);
    }
    assert_st_ok(st_ed25519_public(f->seed, f->pub, &e), &e);
    rd_fill(f->rd, 3);
    assert_st_ok(
        st_attest_sim_evidence(f->seed, f->rd, f->meas, NOW - 10, &f->ev, &e),
        &e);
}

static void verify(const st_evidence *ev, const uint8_t *rd, const uint8_t *pub,
                   const st_attest_policy *p, st_verdict *v)
{
    st_err e;
    st_attest_refs refs = {.sim_platform_key = pub};
    st_verdict_init(v);
    assert_st_ok(st_attest_verify(ev, rd, &refs, p, NOW, v, &e), &e);
}

static void test_sim_passes_only_when_policy_allows_sim(void **state)
{
    (void)state;
    struct sim_fixture f;
    sim_make(&f);
    st_verdict v;
    /* the default policy never accepts sim */
    verify(f.ev, f.rd, f.pub, NULL, &v);
    assert_false(v.pass);
    assert_non_null(strstr(v.reason, "policy.tee"));
    st_verdict_free(&v);
    st_attest_policy *snp_only = policy("{\"version\":1,\"tee\":[\"snp\"]}");
    verify(f.ev, f.rd, f.pub, snp_only, &v);
    assert_false(v.pass);
    assert_true(v.claims.insecure);
    st_verdict_free(&v);
    st_attest_policy_free(snp_only);
    st_attest_policy *sim = policy(
        "{\"version\":1,\"tee\":[\"sim\"],\"max_age_seconds\":60,\"sim\":{"
        "\"measurements\":[\"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8"
        "b9babbbcbdbebf\"]}}");
    verify(f.ev, f.rd, f.pub, sim, &v);
    if (!v.pass)
        fail_msg("%s", v.reason);
    assert_true(v.claims.insecure);
    json_t *j = st_verdict_to_json(&v);
    assert_true(json_is_true(json_object_get(j, "pass")));
    json_decref(j);
    st_verdict_free(&v);
    st_attest_policy_free(sim);
    st_evidence_free(f.ev);
}

static void test_sim_fails_on_wrong_report_data_key_or_tamper(void **state)
{
    (void)state;
    struct sim_fixture f;
    sim_make(&f);
    st_attest_policy *sim = policy("{\"version\":1,\"tee\":[\"sim\"]}");
    st_verdict v;
    uint8_t other[64];
    rd_fill(other, 4);
    verify(f.ev, other, f.pub, sim, &v);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim, "report_data");
    st_verdict_free(&v);
    /* required report data: verifying without it fails the policy */
    verify(f.ev, NULL, f.pub, sim, &v);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "policy.report_data");
    st_verdict_free(&v);
    uint8_t wrong[32] = {1};
    verify(f.ev, f.rd, wrong, sim, &v);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "sim.platform_key");
    st_verdict_free(&v);
    /* flip one byte of the signed report (a hex digit stays hex) */
    size_t n;
    const uint8_t *rep = st_evidence_get(f.ev, "report", &n);
    uint8_t *copy = malloc(n);
    memcpy(copy, rep, n);
    char *m = strstr((char *)copy, "\"measurement\":\"a0");
    assert_non_null(m);
    m[16] = 'b';
    st_err e;
    assert_st_ok(st_evidence_set(f.ev, "report", copy, n, &e), &e);
    free(copy);
    verify(f.ev, f.rd, f.pub, sim, &v);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "sim.signature");
    st_verdict_free(&v);
    st_attest_policy_free(sim);
    st_evidence_free(f.ev);
}

static void test_sim_max_age_uses_the_callers_time(void **state)
{
    (void)state;
    struct sim_fixture f;
    sim_make(&f);
    st_attest_policy *p =
        policy("{\"version\":1,\"tee\":[\"sim\"],\"max_age_seconds\":5}");
    st_verdict v;
    verify(f.ev, f.rd, f.pub, p, &v);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "policy.max_age");
    st_verdict_free(&v);
    st_attest_policy_free(p);
    st_evidence_free(f.ev);
}

static void test_sim_malformed_evidence_is_an_input_error(void **state)
{
    (void)state;
    st_err e;
    st_evidence *ev = st_evidence_new(ST_TEE_SIM, &e);
    assert_st_ok(st_evidence_set(ev, "report", "{}", 2, &e), &e);
    st_verdict v;
    st_verdict_init(&v);
    assert_int_equal(st_attest_verify(ev, NULL, NULL, NULL, NOW, &v, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "signature"));
    assert_false(v.pass);
    st_verdict_free(&v);
    st_evidence_free(ev);
}

/* `attest verify --at` takes what people paste: any RFC 3339 date-time
 * (section 5.6), offsets and fractions included; nothing is normalised. */
static void test_rfc3339_times_with_offsets_and_fractions(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        time_t want;
    } good[] = {
        {"2026-01-01T00:00:00Z", 1767225600},
        {"2026-01-01t00:00:00z", 1767225600},
        {"2026-01-01T01:30:00+01:30", 1767225600},
        {"2025-12-31T19:00:00-05:00", 1767225600},
        {"2026-01-01T00:00:00.999999Z", 1767225600},
        {"2026-01-01T00:00:00.5+00:00", 1767225600},
        {"2024-02-29T00:00:00Z", 1709164800},
        {"2016-12-31T23:59:60Z", 1483228800}, /* leap second: next second */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        time_t t = 0;
        st_err err;
        assert_st_ok(st_time_parse_rfc3339(good[i].text, &t, &err), &err);
        if (t != good[i].want)
            fail_msg("%s: %lld, want %lld", good[i].text, (long long)t,
                     (long long)good[i].want);
    }
    static const char *const bad[] = {"2026-01-01T00:00:00",
                                      "2026-01-01 00:00:00Z",
                                      "2026-01-01T00:00Z",
                                      "2026-1-01T00:00:00Z",
                                      "2026-02-29T00:00:00Z",
                                      "2026-04-31T00:00:00Z",
                                      "2026-01-01T24:00:00Z",
                                      "2026-01-01T00:00:61Z",
                                      "2026-01-01T00:00:00.Z",
                                      "2026-01-01T00:00:00+0100",
                                      "2026-01-01T00:00:00+24:00",
                                      "2026-01-01T00:00:00Zjunk",
                                      "",
                                      "2026-13-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        time_t t = 0;
        st_err err;
        assert_int_equal(st_time_parse_rfc3339(bad[i], &t, &err), ST_E_INPUT);
        if (!strstr(err.msg, "invalid RFC 3339 time"))
            fail_msg("%s: %s", bad[i], err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evidence_bundle_round_trips_canonically),
        cmocka_unit_test(
            test_evidence_bundle_rejects_unknown_keys_and_bad_base64),
        cmocka_unit_test(test_trace_first_failure_is_the_reason),
        cmocka_unit_test(test_policy_rejects_unknown_keys_with_path),
        cmocka_unit_test(test_sim_passes_only_when_policy_allows_sim),
        cmocka_unit_test(test_sim_fails_on_wrong_report_data_key_or_tamper),
        cmocka_unit_test(test_sim_max_age_uses_the_callers_time),
        cmocka_unit_test(test_sim_malformed_evidence_is_an_input_error),
        cmocka_unit_test(test_rfc3339_times_with_offsets_and_fractions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
