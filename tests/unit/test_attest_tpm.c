/*
 * test_attest_tpm.c: the TPM quote verifier and the Azure vTPM verifier on
 * the real evidence in ../shared/testvectors/attestation/tpm (facts as in
 * PROVENANCE.md), and the SNP configfs-tsm request path against a recorded
 * response in a fake configfs entry.
 */
#include "attest/trace.h"
#include "st_test.h"

#include <sealtrain/sealtrain.h>

#include "attest/snp.h"
#include "attest/tpm.h"

#define TV ST_VECTORS "/attestation/tpm/trustee-tpm-evidence-swtpm"
#define AZ ST_VECTORS "/attestation/tpm/azure-snp-vtpm-milan-v3-evidence-v0"
#define SNPV ST_VECTORS "/attestation/snp/trustee-milan-vcek-v2"

static uint8_t *slurp(const char *path, size_t *len)
{
    unsigned char *b;
    st_err e;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &b, len, &e), &e);
    return b;
}

static void set_file(st_evidence *ev, const char *part, const char *path)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    st_err e;
    assert_st_ok(st_evidence_set(ev, part, b, n, &e), &e);
    free(b);
}

/* the 24 PCR values of tpm_evidence.json as "INDEX HEX" text */
static char *trustee_pcrs(void)
{
    st_err e;
    json_t *j = st_json_load_file(TV "/tpm_evidence.json", 1 << 20, &e);
    assert_non_null(j);
    json_t *pcrs = json_object_get(json_object_get(j, "tpm_quote"), "pcrs");
    st_buf b;
    st_buf_init(&b);
    size_t i;
    json_t *v;
    json_array_foreach(pcrs, i, v)
    {
        assert_st_ok(st_buf_printf(&b, &e, "%zu %s\n", i, json_string_value(v)),
                     &e);
    }
    assert_st_ok(st_buf_append(&b, "", 1, &e), &e);
    json_decref(j);
    return (char *)b.data;
}

static st_evidence *trustee_evidence(void)
{
    st_err e;
    st_evidence *ev = st_evidence_new(ST_TEE_TPM, &e);
    set_file(ev, "quote", TV "/tpm_quote_attest.bin");
    set_file(ev, "signature", TV "/tpmt_signature.bin");
    char *p = trustee_pcrs();
    assert_st_ok(st_evidence_set(ev, "pcrs", p, strlen(p), &e), &e);
    free(p);
    return ev;
}

static const char *NONCE = "a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98a"
                           "dcaa537bea393ef0e41a18b3569ab678f1497fbc5c120000000"
                           "00000000000000000000000000";

static void verify_tpm(const st_evidence *ev, const char *nonce_hex,
                       st_verdict *v)
{
    size_t akl;
    uint8_t *ak = slurp(TV "/ak_pub.der", &akl);
    st_attest_refs refs = {.tpm_ak = ak, .tpm_ak_len = akl};
    uint8_t rd[64] = {0};
    st_err e;
    size_t n = strlen(nonce_hex) / 2;
    assert_st_ok(st_hex_decode(nonce_hex, rd, n, &e), &e);
    st_verdict_init(v);
    assert_st_ok(st_attest_verify(ev, rd, &refs, NULL, 1767225600, v, &e), &e);
    free(ak);
}

static void test_trustee_tpm_quote_facts_and_verdict(void **s)
{
    (void)s;
    st_evidence *ev = trustee_evidence();
    st_verdict v;
    verify_tpm(ev, NONCE, &v);
    if (!v.pass)
        fail_msg("%s", v.reason);
    json_t *f = v.claims.fields;
    assert_string_equal(json_string_value(json_object_get(f, "magic")),
                        "0xff544347");
    assert_string_equal(json_string_value(json_object_get(f, "type")),
                        "0x8018");
    assert_string_equal(
        json_string_value(json_object_get(f, "qualified_signer")),
        "000b3081a4cbbe307f3de1456f9875a3c2632528a70d91fcf578ccf092465e4e8e"
        "09");
    assert_int_equal(json_integer_value(json_object_get(f, "clock")),
                     1913548331);
    assert_int_equal(json_integer_value(json_object_get(f, "reset_count")), 2);
    assert_true(json_is_true(json_object_get(f, "safe")));
    assert_string_equal(
        json_string_value(json_object_get(f, "firmware_version")),
        "0x2019102300163636");
    assert_string_equal(v.claims.measurement,
                        "019de64c9318655e422c3d03831169896e31f02a1d74e4d8fef5"
                        "75bf4e0d75fa");
    st_verdict_free(&v);
    st_evidence_free(ev);
}

static void test_tpm_tampering_names_the_failing_claim(void **s)
{
    (void)s;
    st_evidence *ev = trustee_evidence();
    st_err e;
    st_verdict v;
    /* another nonce */
    verify_tpm(ev, "00", &v);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim, "report_data");
    st_verdict_free(&v);
    /* one PCR value changed: the digest no longer matches */
    char *p = trustee_pcrs();
    p[2] = p[2] == '0' ? '1' : '0';
    assert_st_ok(st_evidence_set(ev, "pcrs", p, strlen(p), &e), &e);
    free(p);
    verify_tpm(ev, NONCE, &v);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "tpm.pcr_digest");
    st_verdict_free(&v);
    /* a byte of the signed quote (the clock) */
    size_t n;
    const uint8_t *q = st_evidence_get(ev, "quote", &n);
    uint8_t *c = malloc(n);
    memcpy(c, q, n);
    c[110] ^= 1; /* clock: magic 4, type 2, signer 2+34, extra 2+64 */
    assert_st_ok(st_evidence_set(ev, "quote", c, n, &e), &e);
    free(c);
    verify_tpm(ev, NONCE, &v);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "tpm.signature");
    st_verdict_free(&v);
    st_evidence_free(ev);
}

static void test_malformed_tpms_attest_is_input_error(void **s)
{
    (void)s;
    size_t n;
    uint8_t *q = slurp(TV "/tpm_quote_attest.bin", &n);
    st_tpms_attest a;
    st_err e;
    assert_st_ok(st_tpms_attest_parse(q, n, &a, &e), &e);
    assert_int_equal(a.nbanks, 1);
    assert_int_equal(a.extra_len, 64);
    assert_int_equal(st_tpms_attest_parse(q, n - 1, &a, &e), ST_E_INPUT);
    q[0] ^= 1;
    assert_int_equal(st_tpms_attest_parse(q, n, &a, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "magic"));
    q[0] ^= 1;
    q[5] = 0x17; /* TPM_ST_ATTEST_CERTIFY */
    assert_int_equal(st_tpms_attest_parse(q, n, &a, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "offset 4"));
    free(q);
}

static st_evidence *azure_evidence(void)
{
    st_err e;
    st_evidence *ev = st_evidence_new(ST_TEE_AZ_SNP_VTPM, &e);
    set_file(ev, "hcl_report", AZ "/hcl_report.bin");
    set_file(ev, "vcek", AZ "/vcek.pem");
    set_file(ev, "quote", AZ "/tpm_quote_attest.bin");
    set_file(ev, "signature", AZ "/tpm_quote_sig.bin");
    set_file(ev, "pcrs", AZ "/tpm_pcrs_sha256.txt");
    return ev;
}

static void test_azure_vtpm_evidence_matches_provenance(void **s)
{
    (void)s;
    st_evidence *ev = azure_evidence();
    uint8_t rd[64] = "challenge";
    st_verdict v;
    st_verdict_init(&v);
    st_err e;
    assert_st_ok(st_attest_verify(ev, rd, NULL, NULL,
                                  1748736000 /* 2025-06-01 */, &v, &e),
                 &e);
    if (!v.pass)
        fail_msg("%s", v.reason);
    json_t *f = v.claims.fields;
    assert_string_equal(json_string_value(json_object_get(f, "pcr.sha256.0")),
                        "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8"
                        "b7664f48dced");
    assert_int_equal(json_integer_value(json_object_get(f, "version")), 3);
    assert_int_equal(json_integer_value(json_object_get(f, "guest_svn")), 10);
    assert_string_equal(json_string_value(json_object_get(f, "platform_info")),
                        "0x25");
    assert_int_equal(json_integer_value(json_object_get(f, "cpuid_fam_id")),
                     25);
    assert_string_equal(json_string_value(json_object_get(f, "product")),
                        "Milan");
    assert_string_equal(v.claims.tcb, "bl=4 tee=0 snp=24 ucode=219");
    assert_string_equal(
        json_string_value(json_object_get(f, "current_version")), "1.55.29");
    st_verdict_free(&v);
    /* the VCEK expires in 2032 */
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, NULL, 2000000000, &v, &e), &e);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "snp.vcek.validity");
    st_verdict_free(&v);
    st_evidence_free(ev);
}

static void write_file(const char *dir, const char *name, const void *d,
                       size_t n)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

static void test_snp_configfs_request_path_on_recorded_response(void **s)
{
    (void)s;
    char *dir = st_test_tmpdir("tsm");
    size_t rl, vl;
    uint8_t *rep = slurp(SNPV "/test-report.bin", &rl);
    uint8_t *vcek = slurp(SNPV "/test-vcek.der", &vl);
    /* the host's certificate table: one VCEK entry (GUID 63da758d-...),
     * the zero terminator, then the certificate */
    static const uint8_t guid[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64,
                                     0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9,
                                     0x3b, 0xe8, 0xac, 0xcd};
    uint8_t *aux = calloc(1, 48 + vl);
    memcpy(aux, guid, 16);
    uint32_t off = 48, len = (uint32_t)vl;
    memcpy(aux + 16, &off, 4);
    memcpy(aux + 20, &len, 4);
    memcpy(aux + 48, vcek, vl);
    write_file(dir, "inblob", "", 0);
    write_file(dir, "provider", "sev_guest\n", 10);
    write_file(dir, "generation", "1\n", 2);
    write_file(dir, "outblob", rep, rl);
    write_file(dir, "auxblob", aux, 48 + vl);
    uint8_t rd[64];
    memset(rd, 0x42, 64);
    st_err e;
    st_evidence *ev = st_evidence_new(ST_TEE_SNP, &e);
    assert_st_ok(st_snp_tsm_entry_report(dir, rd, ev, &e), &e);
    char p[4096];
    snprintf(p, sizeof(p), "%s/inblob", dir);
    size_t il;
    uint8_t *in = slurp(p, &il);
    assert_int_equal(il, 64);
    assert_memory_equal(in, rd, 64);
    free(in);
    size_t n;
    assert_non_null(st_evidence_get(ev, "report", &n));
    assert_int_equal(n, 1184);
    assert_non_null(st_evidence_get(ev, "vcek", &n));
    assert_int_equal(n, vl);
    /* the recorded response verifies (its report data is not ours) */
    st_verdict v;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, NULL, NULL, NULL, 1735689600, &v, &e),
                 &e);
    if (!v.pass)
        fail_msg("%s", v.reason);
    st_verdict_free(&v);
    st_evidence_free(ev);
    /* another provider is refused */
    write_file(dir, "provider", "tdx_guest\n", 10);
    ev = st_evidence_new(ST_TEE_SNP, &e);
    assert_int_equal(st_snp_tsm_entry_report(dir, rd, ev, &e), ST_E_IO);
    assert_non_null(strstr(e.msg, "tdx_guest"));
    st_evidence_free(ev);
    /* a truncated certificate table is malformed */
    write_file(dir, "provider", "sev_guest\n", 10);
    write_file(dir, "auxblob", aux, 30);
    ev = st_evidence_new(ST_TEE_SNP, &e);
    assert_int_equal(st_snp_tsm_entry_report(dir, rd, ev, &e), ST_E_INPUT);
    st_evidence_free(ev);
    free(aux);
    free(rep);
    free(vcek);
    st_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trustee_tpm_quote_facts_and_verdict),
        cmocka_unit_test(test_tpm_tampering_names_the_failing_claim),
        cmocka_unit_test(test_malformed_tpms_attest_is_input_error),
        cmocka_unit_test(test_azure_vtpm_evidence_matches_provenance),
        cmocka_unit_test(test_snp_configfs_request_path_on_recorded_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
