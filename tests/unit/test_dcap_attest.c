/*
 * test_dcap_attest.c: the tdx and sgx verifiers through the one entry point
 * st_attest_verify: evidence parts in, verdict, trace and normalised claims
 * out; and the tdx backend's configfs-tsm request path against a directory
 * tree holding the real quote bytes of a vector.
 */
#include "attest/trace.h"
#include "st_test.h"

#include "attest/dcap.h"
#include "sealtrain/attest.h"
#include "sealtrain/bytes.h"
#include "sealtrain/fs.h"

#define ATT ST_VECTORS "/attestation"
#define GTG ATT "/tdx/gtg-spr-e4-v4"
#define TRU ATT "/tdx/trustee-tdx-quotes"
#define PHALA ATT "/sgx/phala-sgx-v3"

static void add_file(st_evidence *ev, const char *part, const char *path)
{
    unsigned char *buf;
    size_t len;
    st_err err;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &buf, &len, &err), &err);
    assert_st_ok(st_evidence_set(ev, part, buf, len, &err), &err);
    free(buf);
}

static int64_t at(const char *s)
{
    int64_t t;
    st_err err;
    assert_st_ok(st_dcap_time_parse(s, &t, &err), &err);
    return t;
}

static st_evidence *tdx4_evidence(void)
{
    st_err err;
    st_evidence *ev = st_evidence_new(ST_TEE_TDX, &err);
    assert_non_null(ev);
    add_file(ev, "quote", TRU "/tdx_quote_4.dat");
    add_file(ev, "tcb_info", GTG "/tcbinfo_fmspc_50806f000000.json");
    add_file(ev, "qe_identity", GTG "/qe_identity_td_qe.json");
    add_file(ev, "tcb_chain", GTG "/tcb_signing_chain_2018-2025.pem");
    add_file(ev, "crl.0", GTG "/root_crl.der");
    add_file(ev, "crl.1", GTG "/pck_platform_crl.der");
    return ev;
}

static const char allow_debug[] =
    "{\"version\": 1, \"tee\": [\"tdx\"], \"allow_debug\": true}";

static void test_tdx_evidence_passes_with_claims(void **state)
{
    (void)state;
    st_evidence *ev = tdx4_evidence();
    st_attest_policy *pol;
    st_err err;
    /* tdx_quote_4 is a debug TD: the default policy forbids debug */
    assert_st_ok(st_attest_policy_parse(allow_debug, strlen(allow_debug),
                                        "policy", &pol, &err),
                 &err);
    uint8_t rd[64];
    assert_st_ok(
        st_hex_decode("7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94f"
                      "c1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3b"
                      "db38342bf96671501429",
                      rd, 64, &err),
        &err);
    st_verdict v;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, pol, at("2023-07-01T01:00:00Z"),
                                  &v, &err),
                 &err);
    if (!v.pass)
        fail_msg("verdict failed: %s", v.reason);
    assert_string_equal(v.claims.measurement,
                        "705ee9381b8633a9fbe532b52345e8433343d2868959f578"
                        "89d84ca377c395b689cac1599ccea1b7d420483a9ce5f031");
    assert_string_equal(v.claims.tcb_status, "UpToDate");
    assert_true(v.claims.debug);
    assert_string_equal(
        json_string_value(json_object_get(v.claims.fields, "fmspc")),
        "50806f000000");
    assert_int_equal(
        json_integer_value(json_object_get(v.claims.tcb_fields, "pcesvn")), 11);
    int saw = 0;
    for (size_t i = 0; i < v.trace.n; i++)
        saw |= !strcmp(v.trace.entries[i].claim, "tdx.quote.signature");
    assert_true(saw);
    st_verdict_free(&v);
    /* the default policy refuses the debug TD, naming the claim */
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, NULL,
                                  at("2023-07-01T01:00:00Z"), &v, &err),
                 &err);
    assert_false(v.pass);
    assert_non_null(strstr(st_trace_first_failure(&v.trace)->claim, "debug"));
    st_verdict_free(&v);
    st_attest_policy_free(pol);
    st_evidence_free(ev);
}

static void
test_tdx_flipped_body_byte_fails_verdict_naming_quote_signature(void **state)
{
    (void)state;
    st_evidence *ev = tdx4_evidence();
    size_t len;
    const uint8_t *q = st_evidence_get(ev, "quote", &len);
    uint8_t *copy = malloc(len);
    memcpy(copy, q, len);
    copy[48 + 200] ^= 0x04;
    st_err err;
    assert_st_ok(st_evidence_set(ev, "quote", copy, len, &err), &err);
    free(copy);
    st_verdict v;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, NULL, NULL, NULL,
                                  at("2023-07-01T01:00:00Z"), &v, &err),
                 &err);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "tdx.quote.signature");
    st_verdict_free(&v);
    st_evidence_free(ev);
}

static st_attest_policy *policy(const char *text)
{
    st_attest_policy *p;
    st_err err;
    assert_st_ok(st_attest_policy_parse(text, strlen(text), "policy", &p, &err),
                 &err);
    return p;
}

static const char sgx_accepts_hardening[] =
    "{\"version\": 1, \"tee\": [\"sgx\"], \"tcb_status\": "
    "[\"UpToDate\", \"ConfigurationAndSWHardeningNeeded\"]}";

static void test_sgx_evidence_with_collateral_json_and_report_data(void **state)
{
    (void)state;
    st_err err;
    st_evidence *ev = st_evidence_new(ST_TEE_SGX, &err);
    add_file(ev, "quote", PHALA "/sgx_quote_v3.bin");
    add_file(ev, "collateral", PHALA "/sgx_quote_collateral.json");
    uint8_t rd[64] = "Hello, world!";
    st_attest_policy *pol = policy(sgx_accepts_hardening);
    st_verdict v;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, pol, at("2025-07-19T10:01:17Z"),
                                  &v, &err),
                 &err);
    if (!v.pass)
        fail_msg("verdict failed: %s", v.reason);
    assert_string_equal(v.claims.tcb_status,
                        "ConfigurationAndSWHardeningNeeded");
    assert_int_equal(json_array_size(v.claims.advisories), 2);
    assert_string_equal(
        json_string_value(json_array_get(v.claims.advisories, 0)),
        "INTEL-SA-00289");
    st_verdict_free(&v);
    /* a different report data fails the framework's report_data claim */
    rd[0] ^= 1;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, pol, at("2025-07-19T10:01:17Z"),
                                  &v, &err),
                 &err);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim, "report_data");
    st_verdict_free(&v);
    st_attest_policy_free(pol);
    /* a policy that wants UpToDate refuses it */
    pol = policy("{\"version\": 1, \"tee\": [\"sgx\"], \"tcb_status\": "
                 "[\"UpToDate\"]}");
    rd[0] ^= 1;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, pol, at("2025-07-19T10:01:17Z"),
                                  &v, &err),
                 &err);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "policy.tcb_status");
    st_verdict_free(&v);
    st_attest_policy_free(pol);
    st_evidence_free(ev);
}

/* A platform that needs configuration and software hardening is not
 * accepted by a policy that does not say so: neither the built-in default
 * nor a policy without a "tcb_status" rule. */
static void test_default_policy_accepts_only_up_to_date_tcb(void **state)
{
    (void)state;
    st_err err;
    st_evidence *ev = st_evidence_new(ST_TEE_SGX, &err);
    add_file(ev, "quote", PHALA "/sgx_quote_v3.bin");
    add_file(ev, "collateral", PHALA "/sgx_quote_collateral.json");
    uint8_t rd[64] = "Hello, world!";
    st_attest_policy *silent = policy("{\"version\": 1, \"tee\": [\"sgx\"]}");
    const st_attest_policy *pols[] = {NULL, silent};
    for (size_t i = 0; i < 2; i++) {
        st_verdict v;
        st_verdict_init(&v);
        assert_st_ok(st_attest_verify(ev, rd, NULL, pols[i],
                                      at("2025-07-19T10:01:17Z"), &v, &err),
                     &err);
        assert_false(v.pass);
        const st_trace_entry *f = st_trace_first_failure(&v.trace);
        assert_string_equal(f->claim, "policy.tcb_status");
        assert_string_equal(f->actual, "ConfigurationAndSWHardeningNeeded");
        st_verdict_free(&v);
    }
    st_attest_policy_free(silent);
    st_evidence_free(ev);
}

/* An explicit rule may list the advisories it accepts; one the TCB level
 * carries that is not listed fails policy.tcb_advisories. */
static void test_tcb_advisories_rule_names_the_unlisted_one(void **state)
{
    (void)state;
    st_err err;
    st_evidence *ev = st_evidence_new(ST_TEE_SGX, &err);
    add_file(ev, "quote", PHALA "/sgx_quote_v3.bin");
    add_file(ev, "collateral", PHALA "/sgx_quote_collateral.json");
    uint8_t rd[64] = "Hello, world!";
    st_attest_policy *one =
        policy("{\"version\": 1, \"tee\": [\"sgx\"], \"tcb_status\": "
               "[\"ConfigurationAndSWHardeningNeeded\"], \"tcb_advisories\": "
               "[\"INTEL-SA-00289\"]}");
    st_attest_policy *both =
        policy("{\"version\": 1, \"tee\": [\"sgx\"], \"tcb_status\": "
               "[\"ConfigurationAndSWHardeningNeeded\"], \"tcb_advisories\": "
               "[\"INTEL-SA-00289\", \"INTEL-SA-00615\"]}");
    st_verdict v;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, one, at("2025-07-19T10:01:17Z"),
                                  &v, &err),
                 &err);
    assert_false(v.pass);
    const st_trace_entry *f = st_trace_first_failure(&v.trace);
    assert_string_equal(f->claim, "policy.tcb_advisories");
    assert_non_null(strstr(f->actual, "INTEL-SA-00615"));
    st_verdict_free(&v);
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, rd, NULL, both,
                                  at("2025-07-19T10:01:17Z"), &v, &err),
                 &err);
    if (!v.pass)
        fail_msg("verdict failed: %s", v.reason);
    st_verdict_free(&v);
    st_attest_policy_free(one);
    st_attest_policy_free(both);
    st_evidence_free(ev);
}

/* "UpTodate" used to parse and then fail every verdict in silence. */
static void test_misspelt_tcb_status_is_refused_at_parse(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"version\": 1, \"tee\": [\"tdx\"], \"tcb_status\": "
        "[\"UpTodate\"]}",
        "{\"version\": 1, \"tee\": [\"tdx\"], \"tcb_status\": "
        "[\"UpToDate\", \"Revoked\"]}",
        "{\"version\": 1, \"tee\": [\"tdx\"], \"tcb_status\": [3]}",
        "{\"version\": 1, \"tee\": [\"tdx\"], \"tcb_advisories\": "
        "[\"sa 1\"]}"};
    static const char *const named[] = {"\"UpTodate\"", "[1]", "[0]",
                                        "tcb_advisories"};
    for (size_t i = 0; i < 4; i++) {
        st_attest_policy *p = NULL;
        st_err err;
        assert_int_equal(
            st_attest_policy_parse(bad[i], strlen(bad[i]), "p.json", &p, &err),
            ST_E_INPUT);
        assert_null(p);
        if (!strstr(err.msg, named[i]) || !strstr(err.msg, "p.json"))
            fail_msg("case %zu: %s", i, err.msg);
    }
    st_attest_policy *p = policy(sgx_accepts_hardening);
    assert_false(st_attest_policy_accepts_out_of_date(p));
    st_attest_policy_free(p);
    p = policy("{\"version\": 1, \"tee\": [\"tdx\"], \"tcb_status\": "
               "[\"UpToDate\", \"OutOfDate\"]}");
    assert_true(st_attest_policy_accepts_out_of_date(p));
    st_attest_policy_free(p);
}

static void test_quote_without_collateral_fails_collateral_claim(void **state)
{
    (void)state;
    st_err err;
    st_evidence *ev = st_evidence_new(ST_TEE_TDX, &err);
    add_file(ev, "quote", TRU "/tdx_quote_6.dat");
    st_verdict v;
    st_verdict_init(&v);
    assert_st_ok(st_attest_verify(ev, NULL, NULL, NULL,
                                  at("2025-11-01T00:00:00Z"), &v, &err),
                 &err);
    assert_false(v.pass);
    assert_string_equal(st_trace_first_failure(&v.trace)->claim,
                        "tdx.collateral");
    /* the quote's own checks still ran and held */
    for (size_t i = 0; i < v.trace.n; i++)
        if (!strcmp(v.trace.entries[i].claim, "tdx.pck.chain") ||
            !strcmp(v.trace.entries[i].claim, "tdx.quote.signature"))
            assert_true(v.trace.entries[i].ok);
    st_verdict_free(&v);
    st_evidence_free(ev);
}

static void test_sgx_quote_in_tdx_evidence_is_malformed(void **state)
{
    (void)state;
    st_err err;
    st_evidence *ev = st_evidence_new(ST_TEE_TDX, &err);
    add_file(ev, "quote", PHALA "/sgx_quote_v3.bin");
    st_verdict v;
    st_verdict_init(&v);
    assert_int_equal(st_attest_verify(ev, NULL, NULL, NULL, 0, &v, &err),
                     ST_E_INPUT);
    assert_non_null(strstr(err.msg, "SGX quote"));
    assert_false(v.pass);
    st_verdict_free(&v);
    st_evidence_free(ev);
}

static void test_show_lists_every_quote_field(void **state)
{
    (void)state;
    st_err err;
    st_evidence *ev = st_evidence_new(ST_TEE_TDX, &err);
    add_file(ev, "quote", TRU "/tdx_quote_5.dat");
    json_t *out = NULL;
    assert_st_ok(st_attest_show(ev, &out, &err), &err);
    json_t *body = json_object_get(out, "body");
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "mrservicetd")),
                        "383c87d3bbb047b2d171eaca95312ede99f258088dc788f6"
                        "ae2ccf8b6dd848fe8d47629e08b3f6cbd4a00dd47a5a033d");
    assert_int_equal(json_integer_value(json_object_get(out, "body_type")), 3);
    json_decref(out);
    st_evidence_free(ev);
}

/* ---- configfs-tsm request path ---- */

static void write_file(const char *dir, const char *name, const void *data,
                       size_t len)
{
    char path[4200];
    st_err err;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_st_ok(st_fs_write_atomic(path, data, len, 0600, &err), &err);
}

static void test_tsm_entry_writes_report_data_and_reads_the_quote(void **state)
{
    (void)state;
    char *dir = st_test_tmpdir("tsm");
    unsigned char *quote;
    size_t qlen;
    st_err err;
    assert_st_ok(st_fs_read_all(GTG "/tdx_prod_quote_SPR_E4.dat", 1 << 20,
                                &quote, &qlen, &err),
                 &err);
    /* what the kernel's entry holds: a real quote from the vectors */
    write_file(dir, "inblob", "", 0);
    write_file(dir, "outblob", quote, qlen);
    write_file(dir, "provider", "tdx_guest\n", 10);
    write_file(dir, "generation", "1\n", 2);
    uint8_t rd[64];
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)i;
    uint8_t *out;
    size_t outlen;
    assert_st_ok(st_tdx_tsm_entry_quote(dir, rd, &out, &outlen, &err), &err);
    assert_int_equal(outlen, qlen);
    assert_memory_equal(out, quote, qlen);
    /* the report data went to inblob */
    char path[4200];
    unsigned char *in;
    size_t inlen;
    snprintf(path, sizeof(path), "%s/inblob", dir);
    assert_st_ok(st_fs_read_all(path, 1024, &in, &inlen, &err), &err);
    assert_int_equal(inlen, 64);
    assert_memory_equal(in, rd, 64);
    free(in);
    /* and the bytes parse as the vector's quote */
    st_dcap_quote q;
    assert_st_ok(st_dcap_quote_parse(out, outlen, &q, &err), &err);
    assert_int_equal(q.header.version, 4);
    free(out);
    /* a provider other than tdx_guest is refused */
    write_file(dir, "provider", "sev_guest\n", 10);
    assert_int_equal(st_tdx_tsm_entry_quote(dir, rd, &out, &outlen, &err),
                     ST_E_IO);
    assert_non_null(strstr(err.msg, "sev_guest"));
    assert_null(out);
    free(quote);
    st_test_rmtree(dir);
    free(dir);
}

static void test_tsm_request_cleans_up_and_names_missing_root(void **state)
{
    (void)state;
    char *dir = st_test_tmpdir("tsm");
    uint8_t rd[64] = {0}, *out;
    size_t outlen;
    st_err err;
    char missing[4200];
    snprintf(missing, sizeof(missing), "%s/absent", dir);
    assert_int_equal(st_tdx_quote_request(missing, rd, &out, &outlen, &err),
                     ST_E_IO);
    assert_non_null(strstr(err.msg, "not available"));
    /* a plain directory: the entry is created, has no inblob, and is
     * removed again */
    assert_int_equal(st_tdx_quote_request(dir, rd, &out, &outlen, &err),
                     ST_E_IO);
    assert_non_null(strstr(err.msg, "inblob"));
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
    assert_int_equal(system(cmd), 0);
    st_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tdx_evidence_passes_with_claims),
        cmocka_unit_test(
            test_tdx_flipped_body_byte_fails_verdict_naming_quote_signature),
        cmocka_unit_test(
            test_sgx_evidence_with_collateral_json_and_report_data),
        cmocka_unit_test(test_default_policy_accepts_only_up_to_date_tcb),
        cmocka_unit_test(test_tcb_advisories_rule_names_the_unlisted_one),
        cmocka_unit_test(test_misspelt_tcb_status_is_refused_at_parse),
        cmocka_unit_test(test_quote_without_collateral_fails_collateral_claim),
        cmocka_unit_test(test_sgx_quote_in_tdx_evidence_is_malformed),
        cmocka_unit_test(test_show_lists_every_quote_field),
        cmocka_unit_test(test_tsm_entry_writes_report_data_and_reads_the_quote),
        cmocka_unit_test(test_tsm_request_cleans_up_and_names_missing_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
