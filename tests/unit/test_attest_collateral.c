/*
 * test_attest_collateral.c: offline collateral bundles (src/attest/
 * collateral.c) through the public API: strict parsing that names the
 * document, indexing, the verifier taking a VCEK from a bundle only when
 * the evidence has none, and a bundle never outranking the pinned roots.
 */
#include "st_test.h"

#include <sealtrain/sealtrain.h>

#define V "../shared/testvectors/attestation/"

static char *doc_json(const char *kind, const char *path)
{
    unsigned char *b = NULL;
    size_t n = 0;
    st_err e;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &b, &n, &e), &e);
    char *b64 = st_base64_encode(b, n, 1);
    char *out = malloc(strlen(b64) + 64);
    assert_non_null(out);
    sprintf(out, "{\"kind\":\"%s\",\"data\":\"%s\"}", kind, b64);
    free(b64);
    free(b);
    return out;
}

static st_code parse(const char *docs, st_collateral_bundle **b, st_err *e)
{
    char *t = malloc(strlen(docs) + 100);
    assert_non_null(t);
    sprintf(t,
            "{\"type\":\"sealtrain-collateral\",\"version\":1,"
            "\"documents\":[%s]}",
            docs);
    st_code rc = st_collateral_bundle_parse(t, strlen(t), "b.json", b, e);
    free(t);
    return rc;
}

static void test_bundle_parse_refuses_naming_the_document(void **state)
{
    (void)state;
    st_collateral_bundle *b = NULL;
    st_err e;
    static const struct {
        const char *docs, *want;
    } bad[] = {
        {"{\"kind\":\"amd.vcekk\",\"data\":\"AAAA\"}", "unknown kind"},
        {"{\"kind\":\"amd.crl\",\"data\":\"AAA\"}", "documents[0]"},
        {"{\"kind\":\"amd.crl\",\"data\":\"AAAA\"}", "not a CRL"},
        {"{\"kind\":\"amd.crl\",\"data\":\"AAAA\",\"update\":\"early\"}",
         "\"update\" belongs to intel.tcb_info"},
        {"{\"kind\":\"amd.crl\",\"data\":\"AAAA\",\"x\":1}", "x"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i].docs, &b, &e), ST_E_INPUT);
        assert_null(b);
        assert_non_null(strstr(e.msg, bad[i].want));
    }
    const char *v2 = "{\"type\":\"sealtrain-collateral\",\"version\":2,"
                     "\"documents\":[]}";
    assert_int_equal(
        st_collateral_bundle_parse(v2, strlen(v2), "b.json", &b, &e),
        ST_E_INPUT);
    assert_non_null(strstr(e.msg, "version 2"));
    /* an ASK given as a VCEK */
    char *ask = doc_json("amd.vcek", "data/amd/ask_milan.pem");
    assert_int_equal(parse(ask, &b, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "documents[0] (amd.vcek)"));
    free(ask);
}

static st_evidence *snp_report(void)
{
    st_err e;
    unsigned char *b = NULL;
    size_t n = 0;
    st_evidence *ev = st_evidence_new(ST_TEE_SNP, &e);
    assert_non_null(ev);
    assert_st_ok(st_fs_read_all(V "snp/trustee-milan-vcek-v2/test-report.bin",
                                1 << 20, &b, &n, &e),
                 &e);
    assert_st_ok(st_evidence_set(ev, "report", b, n, &e), &e);
    free(b);
    return ev;
}

static void
test_verifier_takes_the_vcek_for_the_chip_from_a_bundle(void **state)
{
    (void)state;
    char *d1 = doc_json("amd.vcek", V "snp/gsg-milan-vcek-v2/vcek.der");
    char *d2 =
        doc_json("amd.vcek", V "snp/trustee-milan-vcek-v2/test-vcek.der");
    char *docs = malloc(strlen(d1) + strlen(d2) + 2);
    sprintf(docs, "%s,%s", d1, d2);
    st_collateral_bundle *b = NULL;
    st_err e;
    assert_st_ok(parse(docs, &b, &e), &e);
    assert_int_equal(st_collateral_bundle_count(b), 2);
    assert_int_equal(strlen(st_collateral_bundle_digest(b)), 64);
    char stale[320];
    assert_true(st_collateral_bundle_stale_at(b, stale, sizeof(stale)) > 0);
    assert_non_null(strstr(stale, "amd.vcek"));
    st_collateral_bundle_set_origin(b, "signed by root");
    const st_collateral_bundle *const set[] = {b};
    st_attest_refs refs = {.bundles = set, .nbundles = 1};
    st_evidence *ev = snp_report();
    st_verdict v;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, NULL, &refs, NULL, 1735689600, &v, &e),
                 &e);
    assert_true(v.pass);
    assert_string_equal(v.trace.entries[0].claim, "collateral.vcek");
    assert_non_null(strstr(v.trace.entries[0].actual, "documents[1]"));
    assert_non_null(strstr(v.trace.entries[0].actual, "signed by root"));
    st_verdict_free(&v);
    /* without the bundle the same evidence is malformed (no VCEK) */
    st_verdict_init(&v);
    assert_int_equal(st_attest_verify(ev, NULL, NULL, NULL, 1735689600, &v, &e),
                     ST_E_INPUT);
    st_verdict_free(&v);
    /* the evidence's own VCEK wins: nothing is taken from the bundle */
    unsigned char *c = NULL;
    size_t cn = 0;
    assert_st_ok(st_fs_read_all(V "snp/trustee-milan-vcek-v2/test-vcek.der",
                                1 << 20, &c, &cn, &e),
                 &e);
    assert_st_ok(st_evidence_set(ev, "cert", c, cn, &e), &e);
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, NULL, &refs, NULL, 1735689600, &v, &e),
                 &e);
    assert_true(v.pass);
    for (size_t i = 0; i < v.trace.n; i++)
        assert_null(strstr(v.trace.entries[i].claim, "collateral."));
    st_verdict_free(&v);
    free(c);
    st_evidence_free(ev);
    st_collateral_bundle_free(b);
    free(docs);
    free(d1);
    free(d2);
}

static void
test_max_collateral_age_is_validated_and_fails_without_dates(void **state)
{
    (void)state;
    st_attest_policy *p = NULL;
    st_err e;
    const char *zero = "{\"version\":1,\"tee\":[\"snp\"],"
                       "\"max_collateral_age\":0}";
    assert_int_equal(st_attest_policy_parse(zero, strlen(zero), "p", &p, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "max_collateral_age"));
    const char *ok = "{\"version\":1,\"tee\":[\"snp\"],\"allow_debug\":true,"
                     "\"report_data\":\"optional\",\"max_collateral_age\":60}";
    assert_st_ok(st_attest_policy_parse(ok, strlen(ok), "p", &p, &e), &e);
    /* SNP evidence has certificates only: the rule fails, not passes */
    st_evidence *ev = snp_report();
    unsigned char *c = NULL;
    size_t cn = 0;
    assert_st_ok(st_fs_read_all(V "snp/trustee-milan-vcek-v2/test-vcek.der",
                                1 << 20, &c, &cn, &e),
                 &e);
    assert_st_ok(st_evidence_set(ev, "cert", c, cn, &e), &e);
    st_verdict v;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, NULL, NULL, p, 1735689600, &v, &e), &e);
    assert_false(v.pass);
    assert_non_null(strstr(v.reason, "policy.max_collateral_age"));
    assert_non_null(strstr(v.reason, "no dated collateral"));
    st_verdict_free(&v);
    st_evidence_free(ev);
    st_attest_policy_free(p);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundle_parse_refuses_naming_the_document),
        cmocka_unit_test(
            test_verifier_takes_the_vcek_for_the_chip_from_a_bundle),
        cmocka_unit_test(
            test_max_collateral_age_is_validated_and_fails_without_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
