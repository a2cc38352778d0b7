/*
 * test_attest_snp.c: the SEV-SNP verifier on the real reports in
 * ../shared/testvectors/attestation/snp: each verifies at the time its
 * PROVENANCE.md gives with the facts PROVENANCE.md lists, and each kind of
 * tampering fails with the trace naming the failing claim.
 */
#include "attest/trace.h"
#include "st_test.h"

#include <sealtrain/sealtrain.h>

#include "attest/snp.h"
#include "st_test_x509.h"

#define SNP ST_VECTORS "/attestation/snp"

static const int64_t T_GSG = 1663981200;     /* 2022-09-24T01:00:00Z */
static const int64_t T_TRUSTEE = 1735689600; /* 2025-01-01T00:00:00Z */

static uint8_t *slurp(const char *path, size_t *len)
{
    unsigned char *b;
    st_err e;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &b, len, &e), &e);
    return b;
}

static st_evidence *snp_evidence(const char *report, const char *cert,
                                 const char *chain)
{
    st_err e;
    st_evidence *ev = st_evidence_new(ST_TEE_SNP, &e);
    size_t n;
    uint8_t *b = slurp(report, &n);
    assert_st_ok(st_evidence_set(ev, "report", b, n, &e), &e);
    free(b);
    b = slurp(cert, &n);
    assert_st_ok(st_evidence_set(ev, "cert", b, n, &e), &e);
    free(b);
    if (chain) {
        b = slurp(chain, &n);
        assert_st_ok(st_evidence_set(ev, "chain", b, n, &e), &e);
        free(b);
    }
    return ev;
}

static const char *field_str(const st_verdict *v, const char *k)
{
    json_t *x = json_object_get(v->claims.fields, k);
    assert_non_null(x);
    return json_string_value(x);
}

static long long field_int(const st_verdict *v, const char *k)
{
    json_t *x = json_object_get(v->claims.fields, k);
    assert_true(json_is_integer(x));
    return json_integer_value(x);
}

static st_attest_policy *allow_debug;

static void run(const st_evidence *ev, const uint8_t *rd, int64_t t,
                st_verdict *v)
{
    st_err e;
    st_verdict_init(v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, allow_debug, t, v, &e), &e);
}

static void expect_fail(const st_evidence *ev, const uint8_t *rd, int64_t t,
                        const char *claim)
{
    st_verdict v;
    run(ev, rd, t, &v);
    assert_false(v.pass);
    const st_trace_entry *f = st_trace_first_failure(&v.trace);
    assert_non_null(f);
    if (strcmp(f->claim, claim) != 0)
        fail_msg("first failure %s (%s), wanted %s", f->claim, v.reason, claim);
    st_verdict_free(&v);
}

static void test_gsg_milan_report_verifies_with_provenance_facts(void **s)
{
    (void)s;
    st_evidence *ev = snp_evidence(SNP "/gsg-milan-vcek-v2/attestation.bin",
                                   SNP "/gsg-milan-vcek-v2/vcek.der",
                                   SNP "/gsg-milan-vcek-v2/ask_ark_milan.pem");
    st_verdict v;
    /* policy 0xb0000 has bit 19 set: this VM was launched debuggable, and
     * the default policy refuses it */
    run(ev, NULL, T_GSG, &v);
    assert_false(v.pass);
    assert_true(v.claims.debug);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "policy.debug");
    st_verdict_free(&v);
    st_err e;
    const char *dbg = "{\"version\":1,\"tee\":[\"snp\"],\"allow_debug\":"
                      "true,\"report_data\":\"optional\"}";
    assert_st_ok(
        st_attest_policy_parse(dbg, strlen(dbg), "t", &allow_debug, &e), &e);
    run(ev, NULL, T_GSG, &v);
    if (!v.pass)
        fail_msg("%s", v.reason);
    assert_string_equal(v.claims.measurement,
                        "b07af9620f3b839b47996422ddec6058338951d984e312115131"
                        "ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01");
    assert_string_equal(v.claims.platform_id,
                        "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bd"
                        "d3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40"
                        "c05f63c9b610c5068b006b5d");
    assert_string_equal(v.claims.tcb, "bl=2 tee=0 snp=5 ucode=68");
    assert_string_equal(field_str(&v, "policy"), "0xb0000");
    assert_string_equal(field_str(&v, "report_id"),
                        "8edc638e1857c555d21f6b11bda3c8b1b5a09dba4852b4c8ee7a"
                        "a2f16f22cc0a");
    assert_string_equal(field_str(&v, "product"), "Milan");
    assert_string_equal(field_str(&v, "current_version"), "1.49.3");
    assert_int_equal(field_int(&v, "version"), 2);
    assert_int_equal(field_int(&v, "guest_svn"), 0);
    assert_int_equal(field_int(&v, "vmpl"), 0);
    assert_true(v.claims.debug);
    uint8_t rd[64] = {1, 2, 3, 4, 5};
    assert_memory_equal(v.claims.report_data, rd, 64);
    st_verdict_free(&v);
    /* bound to the caller's report data */
    run(ev, rd, T_GSG, &v);
    assert_true(v.pass);
    st_verdict_free(&v);
    st_attest_policy_free(allow_debug);
    allow_debug = NULL;
    st_evidence_free(ev);
}

static void test_trustee_milan_report_uses_reported_not_current_tcb(void **s)
{
    (void)s;
    /* no chain part: the ASK comes from the shipped data/amd */
    st_evidence *ev =
        snp_evidence(SNP "/trustee-milan-vcek-v2/test-report.bin",
                     SNP "/trustee-milan-vcek-v2/test-vcek.der", NULL);
    st_verdict v;
    run(ev, NULL, T_TRUSTEE, &v);
    if (!v.pass)
        fail_msg("%s", v.reason);
    assert_string_equal(v.claims.tcb, "bl=3 tee=0 snp=8 ucode=115");
    assert_string_equal(field_str(&v, "policy"), "0x3001f");
    assert_int_equal(field_int(&v, "guest_svn"), 4);
    assert_string_equal(field_str(&v, "id_key_digest"),
                        "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ff"
                        "de7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3");
    json_t *cur = json_object_get(v.claims.fields, "current_tcb");
    assert_int_equal(json_integer_value(json_object_get(cur, "ucode")), 206);
    assert_string_equal(field_str(&v, "current_version"), "1.52.4");
    st_verdict_free(&v);
    st_evidence_free(ev);
}

static void test_flipped_byte_in_signed_region_fails_signature(void **s)
{
    (void)s;
    st_evidence *ev =
        snp_evidence(SNP "/trustee-milan-vcek-v2/test-report.bin",
                     SNP "/trustee-milan-vcek-v2/test-vcek.der", NULL);
    size_t n;
    const uint8_t *r = st_evidence_get(ev, "report", &n);
    uint8_t *copy = malloc(n);
    memcpy(copy, r, n);
    st_err e;
    /* byte 42 (in image_id), as trustee's own test; then measurement and
     * report data and the signature itself */
    static const size_t offsets[] = {42, 0x90, 0x50, 0x2A0};
    for (size_t i = 0; i < 4; i++) {
        copy[offsets[i]] ^= 0x01;
        assert_st_ok(st_evidence_set(ev, "report", copy, n, &e), &e);
        expect_fail(ev, NULL, T_TRUSTEE, "snp.report.signature");
        copy[offsets[i]] ^= 0x01;
    }
    /* reported TCB flipped: the VCEK binding fails first */
    copy[0x180] ^= 0x01;
    assert_st_ok(st_evidence_set(ev, "report", copy, n, &e), &e);
    expect_fail(ev, NULL, T_TRUSTEE, "snp.vcek.tcb.bl");
    copy[0x180] ^= 0x01;
    /* chip id: the hwID binding */
    copy[0x1A0] ^= 0x80;
    assert_st_ok(st_evidence_set(ev, "report", copy, n, &e), &e);
    expect_fail(ev, NULL, T_TRUSTEE, "snp.vcek.hwid");
    free(copy);
    st_evidence_free(ev);
}

static void test_wrong_chain_time_report_data_and_vcek_fail(void **s)
{
    (void)s;
    /* a Genoa chain for a Milan VCEK: no ASK for its issuer */
    st_evidence *ev = snp_evidence(SNP "/gsg-milan-vcek-v2/attestation.bin",
                                   SNP "/gsg-milan-vcek-v2/vcek.der",
                                   SNP "/amd-roots/gsg_ask_ark_genoa.pem");
    expect_fail(ev, NULL, T_GSG, "snp.chain.ark");
    st_evidence_free(ev);
    /* the other report's VCEK: TCB and chip id differ, signature fails */
    ev = snp_evidence(SNP "/gsg-milan-vcek-v2/attestation.bin",
                      SNP "/trustee-milan-vcek-v2/test-vcek.der", NULL);
    expect_fail(ev, NULL, T_TRUSTEE, "snp.vcek.tcb.bl");
    st_evidence_free(ev);
    ev = snp_evidence(SNP "/gsg-milan-vcek-v2/attestation.bin",
                      SNP "/gsg-milan-vcek-v2/vcek.der", NULL);
    /* before the VCEK was issued, and after it expired */
    expect_fail(ev, NULL, T_GSG - 86400, "snp.vcek.validity");
    expect_fail(ev, NULL, 1900000000, "snp.vcek.validity");
    uint8_t rd[64] = {1, 2, 3, 4, 6};
    expect_fail(ev, rd, T_GSG, "report_data");
    st_evidence_free(ev);
}

static void test_both_hwid_encodings_parse(void **s)
{
    (void)s;
    /* trustee's VCEK variants carry hwID raw and wrapped in an OCTET
     * STRING; both must be read (they are not the signer, so the verdict
     * fails on the certificate signature) */
    static const char *const certs[] = {
        SNP "/trustee-milan-vcek-v2/test-vcek-invalid-legacy.der",
        SNP "/trustee-milan-vcek-v2/test-vcek-invalid-new.der"};
    for (int i = 0; i < 2; i++) {
        st_evidence *ev = snp_evidence(
            SNP "/trustee-milan-vcek-v2/test-report.bin", certs[i], NULL);
        st_verdict v;
        run(ev, NULL, T_TRUSTEE, &v);
        assert_false(v.pass);
        assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                            "snp.vcek.signature");
        int seen = 0;
        for (size_t k = 0; k < v.trace.n; k++) {
            if (strcmp(v.trace.entries[k].claim, "snp.vcek.hwid") == 0) {
                seen = 1;
                assert_true(strncmp(v.trace.entries[k].actual, "000102030405",
                                    12) == 0);
            }
        }
        assert_true(seen);
        st_verdict_free(&v);
        st_evidence_free(ev);
    }
}

static void test_policy_rules_on_snp_claims(void **s)
{
    (void)s;
    st_evidence *ev =
        snp_evidence(SNP "/trustee-milan-vcek-v2/test-report.bin",
                     SNP "/trustee-milan-vcek-v2/test-vcek.der", NULL);
    const char *pass = "{\"version\":1,\"tee\":[\"snp\"],\"report_data\":"
                       "\"optional\",\"snp\":{\"measurements\":[\"A1F3930413"
                       "247BB38CFC171579EA3C12D5FE4901F0C792F63FD75D98F1EF827"
                       "C23500644E0E692E6BE917F9050D3D38C\"],\"min_tcb\":{"
                       "\"bl\":3,\"snp\":8,\"ucode\":115},\"fields\":{\"vmpl\":"
                       "[0],\"policy_debug\":[false]},\"min_fields\":{"
                       "\"guest_svn\":4}}}";
    const char *tcb = "{\"version\":1,\"tee\":[\"snp\"],\"report_data\":"
                      "\"optional\",\"snp\":{\"min_tcb\":{\"ucode\":116}}}";
    const char *meas = "{\"version\":1,\"tee\":[\"snp\"],\"report_data\":"
                       "\"optional\",\"snp\":{\"measurements\":[\"00\"]}}";
    const char *svn = "{\"version\":1,\"tee\":[\"snp\"],\"report_data\":"
                      "\"optional\",\"snp\":{\"min_fields\":{\"guest_svn\":5}"
                      "}}";
    const char *texts[] = {pass, tcb, meas, svn};
    const char *fails[] = {NULL, "policy.min_tcb.ucode", "policy.measurement",
                           "policy.min_fields.guest_svn"};
    for (int i = 0; i < 4; i++) {
        st_err e;
        st_attest_policy *p;
        assert_st_ok(
            st_attest_policy_parse(texts[i], strlen(texts[i]), "t", &p, &e),
            &e);
        st_verdict v;
        st_verdict_init(&v);
        assert_st_ok(st_attest_verify(ev, NULL, NULL, p, T_TRUSTEE, &v, &e),
                     &e);
        if (!fails[i]) {
            if (!v.pass)
                fail_msg("%s", v.reason);
        } else {
            assert_false(v.pass);
            assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                                fails[i]);
        }
        st_verdict_free(&v);
        st_attest_policy_free(p);
    }
    st_evidence_free(ev);
}

static void test_malformed_report_is_input_error_with_offset(void **s)
{
    (void)s;
    st_evidence *ev =
        snp_evidence(SNP "/trustee-milan-vcek-v2/test-report.bin",
                     SNP "/trustee-milan-vcek-v2/test-vcek.der", NULL);
    size_t n;
    const uint8_t *r = st_evidence_get(ev, "report", &n);
    uint8_t *copy = malloc(n);
    memcpy(copy, r, n);
    st_err e;
    assert_st_ok(st_evidence_set(ev, "report", copy, n - 1, &e), &e);
    st_verdict v;
    st_verdict_init(&v);
    assert_int_equal(st_attest_verify(ev, NULL, NULL, NULL, T_TRUSTEE, &v, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "1183 bytes"));
    copy[0] = 9;
    assert_st_ok(st_evidence_set(ev, "report", copy, n, &e), &e);
    assert_int_equal(st_attest_verify(ev, NULL, NULL, NULL, T_TRUSTEE, &v, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "offset 0x00"));
    st_verdict_free(&v);
    free(copy);
    st_evidence_free(ev);
}

static void test_turin_vcek_chains_to_pinned_turin_ark(void **s)
{
    (void)s;
    /* no Turin report is published with this VCEK; the chain part alone is
     * checked through the same code (product from the issuer) */
    size_t n;
    uint8_t *der = slurp(SNP "/amd-roots/virtee_turin_vcek_only.der", &n);
    st_err e;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    assert_non_null(x);
    st_snp_report r;
    memset(&r, 0, sizeof(r));
    r.product = ST_SNP_TURIN;
    st_snp_decode_tcbs(&r, ST_SNP_TURIN);
    st_trace t;
    st_trace_init(&t);
    st_claims c;
    st_claims_init(&c);
    st_evidence *ev = st_evidence_new(ST_TEE_SNP, &e);
    st_attest_refs refs = {0};
    st_attest_ctx ctx = {.ev = ev,
                         .refs = &refs,
                         .data_dir = st_attest_data_dir(),
                         .now = 1767225600,
                         .trace = &t,
                         .claims = &c};
    EVP_PKEY *k = NULL;
    assert_st_ok(st_snp_check_chain(&ctx, "snp", &r, x, &k, &e), &e);
    int sig_ok = 0, ark_ok = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (!strcmp(t.entries[i].claim, "snp.vcek.signature"))
            sig_ok = t.entries[i].ok;
        if (!strcmp(t.entries[i].claim, "snp.ark.pinned"))
            ark_ok = t.entries[i].ok;
    }
    assert_true(sig_ok);
    assert_true(ark_ok);
    /* the zero TCB of this synthetic report does not match the VCEK's
     * (Turin layout includes fmc) */
    int fmc_seen = 0;
    for (size_t i = 0; i < t.n; i++)
        if (!strcmp(t.entries[i].claim, "snp.vcek.tcb.fmc"))
            fmc_seen = 1;
    assert_true(fmc_seen);
    st_trace_free(&t);
    st_claims_free(&c);
    st_evidence_free(ev);
    X509_free(x);
    free(der);
}

/* A validity failure reads as one: the time asked about and the window
 * the certificate has ("not valid at T: valid from A to B"), not two
 * timestamps side by side. */
static void test_validity_failure_reads_as_one(void **s)
{
    (void)s;
    st_evidence *ev = snp_evidence(SNP "/gsg-milan-vcek-v2/attestation.bin",
                                   SNP "/gsg-milan-vcek-v2/vcek.der", NULL);
    st_verdict v;
    run(ev, NULL, T_GSG - 86400, &v);
    const st_trace_entry *f = st_trace_first_failure(&v.trace);
    assert_string_equal(f->claim, "snp.vcek.validity");
    assert_string_equal(f->expected, "valid at 2022-09-23T01:00:00Z");
    if (strncmp(f->actual, "not valid at 2022-09-23T01:00:00Z: valid from ",
                46) != 0 ||
        !strstr(f->actual, " to "))
        fail_msg("actual: %s", f->actual);
    assert_non_null(strstr(v.reason, "not valid at 2022-09-23T01:00:00Z"));
    st_verdict_free(&v);
    run(ev, NULL, T_GSG, &v);
    for (size_t i = 0; i < v.trace.n; i++)
        if (!strcmp(v.trace.entries[i].claim, "snp.vcek.validity"))
            assert_non_null(
                strstr(v.trace.entries[i].actual,
                       "valid at 2022-09-24T01:00:00Z: valid from"));
    st_verdict_free(&v);
    st_evidence_free(ev);
}

/* The VLEK's csp_id extension (IA5String under 1.3.6.1.4.1.3704.1.5) is
 * read as the claim a policy can require; a missing, empty or
 * non-printable one is no claim at all. */
static void test_vlek_csp_id_extension_is_read(void **s)
{
    (void)s;
    EVP_PKEY *k = EVP_EC_gen("P-384");
    assert_non_null(k);
    static const struct {
        const char *value;
        int ok;
    } cases[] = {{"Microsoft Azure", 1}, {"", 0}, {"bad\001", 0}, {NULL, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = st_test_self_signed(k, "SEV-VLEK");
        if (cases[i].value) {
            ASN1_IA5STRING *str = ASN1_IA5STRING_new();
            ASN1_STRING_set(str, cases[i].value, -1);
            unsigned char *der = NULL;
            int n = i2d_ASN1_IA5STRING(str, &der);
            assert_true(n > 0);
            ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
            ASN1_OCTET_STRING_set(os, der, n);
            ASN1_OBJECT *o = OBJ_txt2obj("1.3.6.1.4.1.3704.1.5", 1);
            X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, os);
            assert_non_null(e);
            assert_int_equal(X509_add_ext(x, e, -1), 1);
            X509_EXTENSION_free(e);
            ASN1_OBJECT_free(o);
            ASN1_OCTET_STRING_free(os);
            OPENSSL_free(der);
            ASN1_IA5STRING_free(str);
        }
        char csp[64] = "x";
        assert_int_equal(st_snp_cert_csp_id(x, csp, sizeof(csp)), cases[i].ok);
        assert_string_equal(csp, cases[i].ok ? cases[i].value : "");
        X509_free(x);
    }
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gsg_milan_report_verifies_with_provenance_facts),
        cmocka_unit_test(
            test_trustee_milan_report_uses_reported_not_current_tcb),
        cmocka_unit_test(test_flipped_byte_in_signed_region_fails_signature),
        cmocka_unit_test(test_wrong_chain_time_report_data_and_vcek_fail),
        cmocka_unit_test(test_both_hwid_encodings_parse),
        cmocka_unit_test(test_policy_rules_on_snp_claims),
        cmocka_unit_test(test_malformed_report_is_input_error_with_offset),
        cmocka_unit_test(test_turin_vcek_chains_to_pinned_turin_ark),
        cmocka_unit_test(test_validity_failure_reads_as_one),
        cmocka_unit_test(test_vlek_csp_id_extension_is_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
