/*
 * test_dcap.c: Intel DCAP quote parsing and verification on the real
 * vectors in ../shared/testvectors/attestation (tdx/gtg-spr-e4-v4,
 * tdx/trustee-tdx-quotes, sgx/phala-sgx-v3), each at the time its
 * PROVENANCE.md gives, and the negative cases: each single change makes
 * the named claim fail in the trace.
 */
#include "st_test.h"

#include "attest/dcap.h"
#include "sealtrain/bytes.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"

#define ATT ST_VECTORS "/attestation"
#define GTG ATT "/tdx/gtg-spr-e4-v4"
#define TRU ATT "/tdx/trustee-tdx-quotes"
#define PHALA ATT "/sgx/phala-sgx-v3"
#define ROOTS ATT "/intel-roots"

/* ---- trace capture ---- */

typedef struct entry {
    char claim[64];
    char expected[256];
    char actual[768];
    int ok;
} entry;

typedef struct trace {
    entry e[64];
    size_t n;
} trace;

static void on_claim(void *ctx, const char *claim, const char *expected,
                     const char *actual, int ok)
{
    trace *t = ctx;
    if (getenv("ST_DCAP_TRACE"))
        fprintf(stderr, "  %-28s %s\n    expected: %s\n    actual:   %s\n",
                claim, ok ? "ok" : "FAIL", expected, actual);
    if (t->n < 64) {
        entry *e = &t->e[t->n++];
        snprintf(e->claim, sizeof(e->claim), "%s", claim);
        snprintf(e->expected, sizeof(e->expected), "%s", expected);
        snprintf(e->actual, sizeof(e->actual), "%s", actual);
        e->ok = ok;
    }
}

static const entry *find(const trace *t, const char *claim)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].claim, claim))
            return &t->e[i];
    fail_msg("no trace entry for claim %s", claim);
    return NULL;
}

/* Exactly the listed claims failed (NULL-terminated). */
static void assert_failed_exactly(const trace *t, const char *const *names)
{
    for (size_t i = 0; i < t->n; i++) {
        int listed = 0;
        for (const char *const *p = names; *p; p++)
            listed |= !strcmp(*p, t->e[i].claim);
        if (listed && t->e[i].ok)
            fail_msg("claim %s passed; expected it to fail", t->e[i].claim);
        if (!listed && !t->e[i].ok)
            fail_msg("claim %s failed: expected %s, actual %s", t->e[i].claim,
                     t->e[i].expected, t->e[i].actual);
    }
    for (const char *const *p = names; *p; p++)
        find(t, *p);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    unsigned char *buf;
    st_err err;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &buf, len, &err), &err);
    return buf;
}

static int64_t at(const char *s)
{
    int64_t t;
    st_err err;
    assert_st_ok(st_dcap_time_parse(s, &t, &err), &err);
    return t;
}

static void hexeq(const uint8_t *b, size_t n, const char *want)
{
    char buf[2 * 128 + 1];
    st_hex_encode(b, n, buf);
    assert_string_equal(buf, want);
}

static st_dcap_collateral *gtg_collateral(void)
{
    static const char *const crls[] = {GTG "/root_crl.der",
                                       GTG "/pck_platform_crl.der"};
    st_dcap_collateral_files f = {
        .tcb_info = GTG "/tcbinfo_fmspc_50806f000000.json",
        .qe_identity = GTG "/qe_identity_td_qe.json",
        .tcb_chain = GTG "/tcb_signing_chain_2018-2025.pem",
        .crls = crls,
        .ncrls = 2};
    st_dcap_collateral *c;
    st_err err;
    assert_st_ok(st_dcap_collateral_load(&f, &c, &err), &err);
    return c;
}

static st_dcap_collateral *trustee_collateral(void)
{
    static const char *const crls[] = {ROOTS "/Intel_SGX_Root_CA_crl.der"};
    st_dcap_collateral_files f = {.tcb_info = TRU "/tcbInfo.json",
                                  .qe_identity = TRU "/enclaveIdentity.json",
                                  .tcb_chain =
                                      TRU "/tcb_signing_chain_2025-2032.pem",
                                  .crls = crls,
                                  .ncrls = 0};
    st_dcap_collateral *c;
    st_err err;
    assert_st_ok(st_dcap_collateral_load(&f, &c, &err), &err);
    return c;
}

static st_dcap_collateral *phala_collateral(void)
{
    st_dcap_collateral_files f = {.qvl = PHALA "/sgx_quote_collateral.json"};
    st_dcap_collateral *c;
    st_err err;
    assert_st_ok(st_dcap_collateral_load(&f, &c, &err), &err);
    return c;
}

/* Verifies `buf` and returns the st_code; trace and result filled. */
static ST_MUST_CHECK st_code run(const uint8_t *buf, size_t len,
                                 st_dcap_collateral *c, int64_t when,
                                 const uint8_t *rd, trace *t,
                                 st_dcap_result *res, st_err *err)
{
    st_dcap_quote q;
    memset(t, 0, sizeof(*t));
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, err), err);
    st_dcap_options o = {
        .at = when, .report_data = rd, .trace = on_claim, .trace_ctx = t};
    return st_dcap_verify(&q, c, &o, res, err);
}

#define GTG_AT "2023-07-01T01:00:00Z"
#define TRU_AT "2025-11-01T00:00:00Z"
/* dcap-qvl's now_from_collateral: min(nextUpdate) - 1 s = the QE identity's
 * 2025-07-19T10:01:18Z - 1 s. */
#define PHALA_AT "2025-07-19T10:01:17Z"

static void test_gtg_quote_parses_to_provenance_facts(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(GTG "/tdx_prod_quote_SPR_E4.dat", &len);
    st_dcap_quote q;
    st_err err;
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    assert_int_equal(q.header.version, 4);
    assert_int_equal(q.header.att_key_type, 2);
    assert_int_equal(q.header.tee_type, 0x81);
    assert_int_equal(q.header.qe_svn, 0);
    assert_int_equal(q.header.pce_svn, 0);
    assert_true(q.is_tdx);
    hexeq(q.header.qe_vendor_id, 16, "939a7233f79c4ca9940a0db3957f0607");
    hexeq(q.td.tee_tcb_svn, 16, "03000400000000000000000000000000");
    hexeq(q.td.mrseam, 48,
          "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9"
          "a89b4869a9fab60fbe9d0c5a5363c656");
    hexeq(q.td.td_attributes, 8, "0000004000000000");
    hexeq(q.td.xfam, 8, "e71a060000000000");
    hexeq(q.td.mrtd, 48,
          "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f"
          "22fc00b8dcd404bc10d5e119d7215cbb");
    hexeq(q.td.rtmr[0], 48,
          "2927da70461cd63266f43230cc1849c03ef25ebe490062a801d8fcc80af42976"
          "823adf08f833c1e50b51779c6593f32a");
    hexeq(q.td.rtmr[1], 48,
          "2c700b8ba9b85783f8be9fb9443647bdc0bb3c50747f06297cc6538c25a5f589"
          "c4b56d035c59107c6bc5800db2cacb61");
    hexeq(q.td.rtmr[2], 48,
          "8652f0caaba7e215ea442dc36a4499d8fec3362f3a0b2ca151cbe4b3e6466fe5"
          "9c7368b3c2287fc7c3bf5c924eb4424e");
    hexeq(q.td.report_data, 64,
          "6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545"
          "eb7406a38d1eed313b987a467dacead6f0c87a6d766c66f6f29f8acb281f1113");
    assert_int_equal(q.sig_data_len, 4299);
    assert_int_equal(q.trailing, 39);
    assert_int_equal(q.cert_type, 5);
    hexeq(q.qe_report.mrenclave, 32,
          "853e298f3b7cde28b06493d06fb2ad6f9566a97fea6d3de66236b2af1a35150f");
    hexeq(q.qe_report.mrsigner, 32,
          "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5");
    assert_int_equal(q.qe_report.isvprodid, 2);
    assert_int_equal(q.qe_report.isvsvn, 4);
    free(buf);
}

static void test_gtg_quote_verifies_with_collateral_at_stated_time(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(GTG "/tdx_prod_quote_SPR_E4.dat", &len);
    st_dcap_collateral *c = gtg_collateral();
    trace t;
    st_dcap_result res;
    st_err err;
    st_code rc = run(buf, len, c, at(GTG_AT), NULL, &t, &res, &err);
    (void)rc;
    /* Every signature, chain, CRL and identity claim holds. The platform
     * runs TDX late microcode SVN 4 while this TCB Info (evaluation 15)
     * lists 5 at every level, so no TCB level is met: Intel's rule gives
     * TcbNotSupported, which the default policy rejects. */
    static const char *const failed[] = {"tcb.status", NULL};
    assert_failed_exactly(&t, failed);
    assert_int_equal(res.tcb_status, ST_DCAP_TCB_NOT_SUPPORTED);
    assert_int_equal(rc, ST_E_DENIED);
    assert_true(res.have_pck);
    hexeq(res.pck.fmspc, 6, "50806f000000");
    assert_true(strstr(find(&t, "pck.revocation")->actual,
                       "Intel SGX PCK Certificate") != NULL);
    /* accepting TcbNotSupported (a policy choice) makes the verdict pass */
    st_dcap_quote q;
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    st_dcap_options o = {.at = at(GTG_AT),
                         .allowed_tcb = 1u << ST_DCAP_TCB_NOT_SUPPORTED,
                         .require_crls = 1};
    assert_st_ok(st_dcap_verify(&q, c, &o, &res, &err), &err);
    st_dcap_collateral_free(c);
    free(buf);
}

static void test_sgx_quote_parses_to_golden_snapshot(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(PHALA "/sgx_quote_v3.bin", &len);
    st_dcap_quote q;
    st_err err;
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    assert_int_equal(q.header.version, 3);
    assert_int_equal(q.header.tee_type, 0);
    assert_int_equal(q.header.qe_svn, 10);
    assert_int_equal(q.header.pce_svn, 15);
    assert_false(q.is_tdx);
    hexeq(q.header.qe_vendor_id, 16, "939a7233f79c4ca9940a0db3957f0607");
    /* golden snapshot user_data: 57, 135, 98, 46, 230, 150, 138, 84, ... */
    hexeq(q.header.user_data, 20, "3987622ee6968a54977c8626ef47123500000000");
    hexeq(q.enclave.cpusvn, 16, "0b0b1a18ffff04000000000000000000");
    assert_int_equal(q.enclave.miscselect, 0);
    hexeq(q.enclave.attributes, 16, "0500000000000000e700000000000000");
    hexeq(q.enclave.mrenclave, 32,
          "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb");
    hexeq(q.enclave.mrsigner, 32,
          "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6");
    assert_int_equal(q.enclave.isvprodid, 0);
    assert_int_equal(q.enclave.isvsvn, 0);
    assert_memory_equal(q.enclave.report_data, "Hello, world!\0\0", 15);
    assert_int_equal(q.sig_data_len, 4164);
    assert_int_equal(q.trailing, 0);
    hexeq(q.qe_report.mrenclave, 32,
          "96b347a64e5a045e27369c26e6dcda51fd7c850e9b3a3a79e718f43261dee1e4");
    assert_int_equal(q.qe_report.isvprodid, 1);
    assert_int_equal(q.qe_report.isvsvn, 10);
    free(buf);
}

static void
test_sgx_quote_verifies_configuration_and_sw_hardening_needed(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(PHALA "/sgx_quote_v3.bin", &len);
    st_dcap_collateral *c = phala_collateral();
    uint8_t rd[64] = "Hello, world!";
    trace t;
    st_dcap_result res;
    st_err err;
    assert_st_ok(run(buf, len, c, at(PHALA_AT), rd, &t, &res, &err), &err);
    assert_int_equal(res.tcb_status,
                     ST_DCAP_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    assert_string_equal(res.advisories, "INTEL-SA-00289,INTEL-SA-00615");
    assert_int_equal(res.qe_status, ST_DCAP_TCB_UP_TO_DATE);
    hexeq(res.pck.fmspc, 6, "00a067110000");
    assert_true(find(&t, "pck.revocation")->ok);
    assert_false(res.debug);
    st_dcap_collateral_free(c);
    free(buf);
}

static void test_trustee_quotes_parse_to_provenance_facts(void **state)
{
    (void)state;
    size_t len;
    st_dcap_quote q;
    st_err err;
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    assert_int_equal(q.header.version, 4);
    hexeq(q.td.tee_tcb_svn, 16, "03000500000000000000000000000000");
    hexeq(q.td.td_attributes, 8, "0100001000000000");
    hexeq(q.td.mrtd, 48,
          "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b6"
          "89cac1599ccea1b7d420483a9ce5f031");
    assert_int_equal(q.sig_data_len, 4300);
    assert_int_equal(q.trailing, 0);
    free(buf);
    buf = slurp(TRU "/tdx_quote_5.dat", &len);
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    assert_int_equal(q.header.version, 5);
    assert_int_equal(q.body_type, 3);
    assert_int_equal(q.body_size, 648);
    assert_true(q.td.is_td15);
    hexeq(q.td.tee_tcb_svn2, 16, "05010200000000000000000000000000");
    hexeq(q.td.mrservicetd, 48,
          "383c87d3bbb047b2d171eaca95312ede99f258088dc788f6ae2ccf8b6dd848fe"
          "8d47629e08b3f6cbd4a00dd47a5a033d");
    hexeq(q.td.mrtd, 48,
          "dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8"
          "a1e9de86e7c9638bfcba422f3886400a");
    hexeq(q.qe_report.mrenclave, 32,
          "e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca");
    free(buf);
    buf = slurp(TRU "/tdx_quote_6.dat", &len);
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    assert_int_equal(q.trailing, 70);
    hexeq(q.td.tee_tcb_svn, 16, "05030200000000000000000000000000");
    hexeq(q.td.mrconfigid, 48,
          "889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca931"
          "52bf847bd2440328e90adb18b150ed67");
    assert_int_equal(q.qe_report.isvsvn, 7);
    free(buf);
}

static void test_trustee_quote6_verifies_out_of_date_by_pcesvn(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(TRU "/tdx_quote_6.dat", &len);
    st_dcap_collateral *c = trustee_collateral();
    trace t;
    st_dcap_result res;
    st_err err;
    /* PCK PCESVN 11 is below the UpToDate level's 13: Intel's matching
     * selects the 2018-01-04 OutOfDate level; the TDX module (TDX_03,
     * ISVSVN 5) is UpToDate. Everything else holds. */
    assert_int_equal(run(buf, len, c, at(TRU_AT), NULL, &t, &res, &err),
                     ST_E_DENIED);
    static const char *const failed[] = {"tcb.status", NULL};
    assert_failed_exactly(&t, failed);
    assert_int_equal(res.tcb_status, ST_DCAP_TCB_OUT_OF_DATE);
    assert_int_equal(res.module_status, ST_DCAP_TCB_UP_TO_DATE);
    assert_string_equal(res.tcb_date, "2018-01-04T00:00:00Z");
    assert_int_equal(res.pck.pcesvn, 11);
    hexeq(res.pck.fmspc, 6, "00a06d080000");
    st_dcap_quote q;
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    st_dcap_options o = {.at = at(TRU_AT),
                         .allowed_tcb = 1u << ST_DCAP_TCB_OUT_OF_DATE};
    assert_st_ok(st_dcap_verify(&q, c, &o, &res, &err), &err);
    st_dcap_collateral_free(c);
    free(buf);
}

/* tdx_quote_4 has FMSPC 50806f000000 like the go-tdx-guest collateral,
 * and its PCK certificate is valid at that collateral's time. */
static void
test_trustee_quote4_verifies_up_to_date_with_gtg_collateral(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    st_dcap_collateral *c = gtg_collateral();
    trace t;
    st_dcap_result res;
    st_err err;
    assert_st_ok(run(buf, len, c, at(GTG_AT), NULL, &t, &res, &err), &err);
    static const char *const failed[] = {NULL};
    assert_failed_exactly(&t, failed);
    assert_int_equal(res.tcb_status, ST_DCAP_TCB_UP_TO_DATE);
    assert_string_equal(res.tcb_date, "2023-02-15T00:00:00Z");
    assert_string_equal(res.advisories, "");
    assert_true(strstr(find(&t, "pck.revocation")->actual,
                       "not revoked by the CRL of \"Intel SGX PCK Platform "
                       "CA\"") != NULL);
    /* TD_ATTRIBUTES 01...: bit 0 (DEBUG) is set: a debug TD */
    assert_true(res.debug);
    st_dcap_collateral_free(c);
    free(buf);
}

/* ---- negative cases: each single change fails the named claim ---- */

/* tdx_quote_4 with the go-tdx-guest collateral passes every claim (above);
 * these flip one thing and check exactly which claims fail. */
static void verify_q4(uint8_t *buf, size_t len, const char *when,
                      const uint8_t *rd, st_dcap_collateral *c, trace *t)
{
    st_dcap_result res;
    st_err err;
    st_code rc = run(buf, len, c, at(when), rd, t, &res, &err);
    assert_int_equal(rc, ST_E_DENIED);
    assert_true(strstr(err.msg, "failed") != NULL);
}

static void
test_byte_flipped_in_signed_header_or_body_fails_quote_signature(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    st_dcap_collateral *c = gtg_collateral();
    static const char *const failed[] = {"quote.signature", NULL};
    /* header user data, TD body MRTD, last byte of report data */
    static const size_t offs[] = {30, 48 + 184, 48 + 584 - 1};
    trace t;
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        buf[offs[i]] ^= 0x01;
        verify_q4(buf, len, GTG_AT, NULL, c, &t);
        assert_failed_exactly(&t, failed);
        buf[offs[i]] ^= 0x01;
    }
    st_dcap_collateral_free(c);
    free(buf);
}

static void
test_byte_flipped_in_qe_report_fails_qe_report_signature(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    st_dcap_collateral *c = gtg_collateral();
    st_dcap_quote q;
    st_err err;
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    size_t qe = (size_t)(q.qe_report_raw - buf);
    trace t;
    /* CPUSVN byte of the QE report: only its signature breaks */
    static const char *const sig_only[] = {"qe.report_signature", NULL};
    buf[qe] ^= 0x01;
    verify_q4(buf, len, GTG_AT, NULL, c, &t);
    assert_failed_exactly(&t, sig_only);
    buf[qe] ^= 0x01;
    /* its report data: the signature and the key binding break */
    static const char *const binding[] = {"qe.report_signature",
                                          "qe.attestation_key_binding", NULL};
    buf[qe + 320] ^= 0x80;
    verify_q4(buf, len, GTG_AT, NULL, c, &t);
    assert_failed_exactly(&t, binding);
    buf[qe + 320] ^= 0x80;
    /* QE authentication data is bound only through the hash */
    static const char *const auth[] = {"qe.attestation_key_binding", NULL};
    size_t qa = (size_t)(q.qe_auth - buf);
    assert_true(q.qe_auth_len > 0);
    buf[qa] ^= 0x01;
    verify_q4(buf, len, GTG_AT, NULL, c, &t);
    assert_failed_exactly(&t, auth);
    buf[qa] ^= 0x01;
    st_dcap_collateral_free(c);
    free(buf);
}

static void
test_wrong_tcb_signing_chain_fails_collateral_signatures(void **state)
{
    (void)state;
    static const char *const crls[] = {GTG "/root_crl.der",
                                       GTG "/pck_platform_crl.der"};
    /* a genuine Intel chain, but the PCK Platform CA does not sign TCB
     * Info */
    st_dcap_collateral_files f = {
        .tcb_info = GTG "/tcbinfo_fmspc_50806f000000.json",
        .qe_identity = GTG "/qe_identity_td_qe.json",
        .tcb_chain = ROOTS "/pck_platform_ca_chain.pem",
        .crls = crls,
        .ncrls = 2};
    st_dcap_collateral *c;
    st_err err;
    assert_st_ok(st_dcap_collateral_load(&f, &c, &err), &err);
    size_t len;
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    trace t;
    verify_q4(buf, len, GTG_AT, NULL, c, &t);
    static const char *const failed[] = {"tcb_info.signature",
                                         "qe_identity.signature", NULL};
    assert_failed_exactly(&t, failed);
    st_dcap_collateral_free(c);
    /* an AMD chain is not even a P-256 signer */
    f.tcb_chain = ATT "/snp/amd-roots/gsg_ask_ark_milan.pem";
    assert_int_equal(st_dcap_collateral_load(&f, &c, &err), ST_E_INPUT);
    assert_non_null(strstr(err.msg, "P-256"));
    free(buf);
}

static void test_pck_chain_not_to_pinned_root_fails_pck_chain(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    st_dcap_collateral *c = gtg_collateral();
    st_dcap_quote q;
    st_err err;
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    /* Corrupt the signature of the PCK leaf inside the embedded PEM: a
     * base64 character near the end of the first certificate. */
    const char *end = memmem(q.pck_pem, q.pck_pem_len, "-----END", 8);
    assert_non_null(end);
    size_t off = (size_t)(end - (const char *)buf) - 10;
    buf[off] = buf[off] == 'A' ? 'B' : 'A';
    trace t;
    verify_q4(buf, len, GTG_AT, NULL, c, &t);
    const entry *e = find(&t, "pck.chain");
    assert_false(e->ok);
    assert_non_null(strstr(e->actual, "signature"));
    st_dcap_collateral_free(c);
    free(buf);
}

static void test_time_outside_validity_fails_named_claims(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    st_dcap_collateral *c = gtg_collateral();
    trace t;
    /* after the collateral window: TCB Info / QE Identity stale, CRLs
     * stale (the TCB signing certificate expired 2025-05-21, later) */
    verify_q4(buf, len, "2023-08-01T00:00:00Z", NULL, c, &t);
    static const char *const stale[] = {"pck.revocation", "tcb_info.validity",
                                        "qe_identity.validity", NULL};
    assert_failed_exactly(&t, stale);
    /* after the TCB signing certificate expired */
    verify_q4(buf, len, "2025-06-01T00:00:00Z", NULL, c, &t);
    assert_false(find(&t, "tcb_signing.chain")->ok);
    /* a validity failure reads as one: the time and the window */
    assert_non_null(strstr(find(&t, "tcb_signing.chain")->actual,
                           "not valid at 2025-06-01T00:00:00Z: valid from "));
    /* before the PCK certificate existed (2023-02-07) */
    verify_q4(buf, len, "2023-01-01T00:00:00Z", NULL, c, &t);
    assert_false(find(&t, "pck.chain")->ok);
    assert_non_null(strstr(find(&t, "pck.chain")->actual,
                           "not valid at 2023-01-01T00:00:00Z: valid from "));
    st_dcap_collateral_free(c);
    free(buf);
}

static void test_wrong_report_data_fails_report_data(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(PHALA "/sgx_quote_v3.bin", &len);
    st_dcap_collateral *c = phala_collateral();
    uint8_t rd[64] = "Hello, world?";
    trace t;
    st_dcap_result res;
    st_err err;
    assert_int_equal(run(buf, len, c, at(PHALA_AT), rd, &t, &res, &err),
                     ST_E_DENIED);
    static const char *const failed[] = {"report_data", NULL};
    assert_failed_exactly(&t, failed);
    assert_non_null(strstr(err.msg, "\"report_data\""));
    st_dcap_collateral_free(c);
    free(buf);
}

static void test_tcb_info_for_another_fmspc_fails_tcb_info_fmspc(void **state)
{
    (void)state;
    size_t len;
    /* quote v5 (FMSPC 90c06f000000) against TCB Info for 00A06D080000 */
    uint8_t *buf = slurp(TRU "/tdx_quote_5.dat", &len);
    st_dcap_collateral *c = trustee_collateral();
    trace t;
    st_dcap_result res;
    st_err err;
    assert_int_equal(run(buf, len, c, at(TRU_AT), NULL, &t, &res, &err),
                     ST_E_DENIED);
    const entry *e = find(&t, "tcb_info.fmspc");
    assert_false(e->ok);
    assert_non_null(strstr(e->expected, "00a06d080000"));
    assert_non_null(strstr(e->actual, "90c06f000000"));
    /* the quote itself is sound */
    assert_true(find(&t, "quote.signature")->ok);
    assert_true(find(&t, "pck.chain")->ok);
    assert_true(find(&t, "qe.report_signature")->ok);
    assert_true(find(&t, "qe.attestation_key_binding")->ok);
    st_dcap_collateral_free(c);
    free(buf);
}

/* Writes `text` to a temporary file and loads it as TCB Info. */
static void test_tcb_info_edited_after_signing_fails_signature(void **state)
{
    (void)state;
    size_t len;
    char *text = (char *)slurp(GTG "/tcbinfo_fmspc_50806f000000.json", &len);
    static const char key[] = "\"tcbEvaluationDataNumber\":15";
    const char *p = memmem(text, len, key, sizeof(key) - 1);
    assert_non_null(p);
    text[(size_t)(p - text) + sizeof(key) - 2] = '6';
    char *dir = st_test_tmpdir("dcap");
    char path[4200];
    snprintf(path, sizeof(path), "%s/tcbinfo.json", dir);
    st_err err;
    assert_st_ok(st_fs_write_atomic(path, text, len, 0600, &err), &err);
    static const char *const crls[] = {GTG "/root_crl.der",
                                       GTG "/pck_platform_crl.der"};
    st_dcap_collateral_files f = {.tcb_info = path,
                                  .qe_identity = GTG "/qe_identity_td_qe.json",
                                  .tcb_chain =
                                      GTG "/tcb_signing_chain_2018-2025.pem",
                                  .crls = crls,
                                  .ncrls = 2};
    st_dcap_collateral *c;
    assert_st_ok(st_dcap_collateral_load(&f, &c, &err), &err);
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    trace t;
    verify_q4(buf, len, GTG_AT, NULL, c, &t);
    static const char *const failed[] = {"tcb_info.signature", NULL};
    assert_failed_exactly(&t, failed);
    st_dcap_collateral_free(c);
    st_test_rmtree(dir);
    free(dir);
    free(buf);
    free(text);
}

static void test_truncated_or_inflated_quotes_are_rejected(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(GTG "/tdx_prod_quote_SPR_E4.dat", &len);
    st_dcap_quote q;
    st_err err;
    /* every prefix up to the end of the signature data is malformed */
    size_t end = len - 39;
    for (size_t n = 0; n < end; n++)
        assert_int_equal(st_dcap_quote_parse(buf, n, &q, &err), ST_E_INPUT);
    assert_st_ok(st_dcap_quote_parse(buf, end, &q, &err), &err);
    /* signature data length beyond the buffer */
    uint8_t *copy = malloc(len);
    memcpy(copy, buf, len);
    copy[632] = 0xff;
    copy[633] = 0xff;
    assert_int_equal(st_dcap_quote_parse(copy, len, &q, &err), ST_E_INPUT);
    assert_non_null(strstr(err.msg, "signature data length"));
    /* unsupported version and key type name the field */
    memcpy(copy, buf, len);
    copy[0] = 2;
    assert_int_equal(st_dcap_quote_parse(copy, len, &q, &err), ST_E_INPUT);
    assert_non_null(strstr(err.msg, "version 2"));
    memcpy(copy, buf, len);
    copy[2] = 3;
    assert_int_equal(st_dcap_quote_parse(copy, len, &q, &err), ST_E_INPUT);
    assert_non_null(strstr(err.msg, "attestation key type 3"));
    free(copy);
    free(buf);
}

static void test_pinned_root_matches_shipped_file_and_fingerprint(void **state)
{
    (void)state;
    size_t len;
    uint8_t *pem = slurp("data/intel/Intel_SGX_Root_CA.pem", &len);
    assert_int_equal(len, strlen(st_dcap_intel_root_pem));
    assert_memory_equal(pem, st_dcap_intel_root_pem, len);
    free(pem);
    size_t vlen;
    uint8_t *v = slurp(ROOTS "/Intel_SGX_Root_CA.pem", &vlen);
    assert_int_equal(vlen, len);
    assert_memory_equal(v, st_dcap_intel_root_pem, len);
    free(v);
    hexeq(st_dcap_intel_root_sha256, 32,
          "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
}

static void
test_pck_extension_parses_tcb_fmspc_and_rejects_truncation(void **state)
{
    (void)state;
    size_t len;
    uint8_t *der = slurp("fuzz/corpus/fuzz_dcap_quote/pck_sgx_ext.der", &len);
    st_dcap_pck_ext ext;
    st_err err;
    assert_st_ok(st_dcap_pck_ext_parse(der, len, &ext, &err), &err);
    hexeq(ext.fmspc, 6, "00a067110000");
    hexeq(ext.pce_id, 2, "0000");
    hexeq(ext.comp_svn, 16, "0b0b0202ff0100000000000000000000");
    assert_int_equal(ext.pcesvn, 13);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(st_dcap_pck_ext_parse(der, n, &ext, &err), ST_E_INPUT);
    free(der);
}

static void
test_collateral_with_unknown_key_or_bad_time_is_rejected(void **state)
{
    (void)state;
    st_dcap_tcb_info *t;
    st_dcap_qe_identity *q;
    st_err err;
    static const char extra[] =
        "{\"tcbInfo\":{\"version\":3,\"id\":\"TDX\",\"surprise\":1},"
        "\"signature\":\"" /* 128 hex digits */
        "0000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000\"}";
    assert_int_equal(
        st_dcap_tcb_info_parse(extra, strlen(extra), "x.json", &t, &err),
        ST_E_INPUT);
    assert_non_null(strstr(err.msg, "surprise"));
    static const char dup[] = "{\"enclaveIdentity\":{},\"enclaveIdentity\":{},"
                              "\"signature\":\"00\"}";
    assert_int_equal(
        st_dcap_qe_identity_parse(dup, strlen(dup), "qe.json", &q, &err),
        ST_E_INPUT);
    int64_t when;
    assert_int_equal(st_dcap_time_parse("2023-07-01 01:00:00Z", &when, &err),
                     ST_E_INPUT);
    assert_int_equal(
        st_dcap_time_parse("2023-07-01T01:00:00+02:00", &when, &err),
        ST_E_INPUT);
    assert_st_ok(st_dcap_time_parse("2023-07-01T01:00:00.5Z", &when, &err),
                 &err);
    assert_int_equal(when, 1688173200);
}

/* TCB Info v2 (SGX, flat "sgxtcbcompNNsvn" keys) parses to the same levels
 * as the v3 document it is derived from. No v2 document is among the
 * vectors, so the v2 text is made from the Phala v3 TCB Info. */
static void test_tcb_info_v2_parses_like_its_v3_equivalent(void **state)
{
    (void)state;
    st_err err;
    json_t *coll =
        st_json_load_file(PHALA "/sgx_quote_collateral.json", 1 << 20, &err);
    assert_non_null(coll);
    const char *v3text = json_string_value(json_object_get(coll, "tcb_info"));
    json_t *v3 = st_json_parse(v3text, strlen(v3text), "v3", &err);
    assert_non_null(v3);
    json_t *v2 = json_deep_copy(v3);
    json_object_del(v2, "id");
    json_object_set_new(v2, "version", json_integer(2));
    size_t i;
    json_t *lv;
    json_array_foreach(json_object_get(v2, "tcbLevels"), i, lv)
    {
        json_t *tcb = json_object_get(lv, "tcb");
        json_t *comps = json_object_get(tcb, "sgxtcbcomponents");
        for (size_t k = 0; k < 16; k++) {
            char key[24];
            snprintf(key, sizeof(key), "sgxtcbcomp%02zusvn", k + 1);
            json_object_set(tcb, key,
                            json_object_get(json_array_get(comps, k), "svn"));
        }
        json_object_del(tcb, "sgxtcbcomponents");
    }
    json_t *doc = json_pack(
        "{s:O,s:s}", "tcbInfo", v2, "signature",
        json_string_value(json_object_get(coll, "tcb_info_signature")));
    char *text = json_dumps(doc, JSON_COMPACT);
    st_dcap_tcb_info *a, *b;
    assert_st_ok(st_dcap_tcb_info_parse(text, strlen(text), "v2", &a, &err),
                 &err);
    char *v3doc = NULL;
    assert_true(asprintf(&v3doc, "{\"tcbInfo\":%s,\"signature\":\"%s\"}",
                         v3text,
                         json_string_value(
                             json_object_get(coll, "tcb_info_signature"))) > 0);
    assert_st_ok(st_dcap_tcb_info_parse(v3doc, strlen(v3doc), "v3", &b, &err),
                 &err);
    assert_int_equal(a->version, 2);
    assert_string_equal(a->id, "SGX");
    assert_int_equal(a->n_levels, b->n_levels);
    for (size_t k = 0; k < a->n_levels; k++) {
        assert_memory_equal(a->levels[k].sgx_svn, b->levels[k].sgx_svn, 16);
        assert_int_equal(a->levels[k].pcesvn, b->levels[k].pcesvn);
        assert_int_equal(a->levels[k].status, b->levels[k].status);
    }
    /* the signed span is the "tcbInfo" value exactly */
    assert_int_equal(b->doc.body_len, strlen(v3text));
    assert_memory_equal(b->doc.text + b->doc.body_off, v3text, strlen(v3text));
    st_dcap_tcb_info_free(a);
    st_dcap_tcb_info_free(b);
    free(v3doc);
    free(text);
    json_decref(doc);
    json_decref(v2);
    json_decref(v3);
    json_decref(coll);
}

/* Intel's TD relaunch rule on the trustee TCB Info (latest level TDX
 * components 5,0,2; module identities TDX_03 from ISVSVN 3, TDX_01 from 4).
 * No TD 1.5 quote among the vectors has collateral, so the rule is checked
 * on its own. */
static void
test_td_relaunch_advised_only_when_latest_module_is_loaded(void **state)
{
    (void)state;
    size_t len;
    char *text = (char *)slurp(TRU "/tcbInfo.json", &len);
    st_dcap_tcb_info *ti;
    st_err err;
    assert_st_ok(st_dcap_tcb_info_parse(text, len, "tcbInfo.json", &ti, &err),
                 &err);
    const st_dcap_tcb_status U = ST_DCAP_TCB_UP_TO_DATE,
                             O = ST_DCAP_TCB_OUT_OF_DATE,
                             C = ST_DCAP_TCB_CONFIGURATION_NEEDED;
    uint8_t svn2[16] = {5, 3, 2};
    assert_int_equal(st_dcap_td_relaunch(ti, svn2, U, O, O, U),
                     ST_DCAP_TCB_TD_RELAUNCH_ADVISED);
    assert_int_equal(st_dcap_td_relaunch(ti, svn2, C, O, O, U),
                     ST_DCAP_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED);
    /* not when the QE or the module are not the reason, or SGX is stale */
    assert_int_equal(st_dcap_td_relaunch(ti, svn2, U, O, O, O), O);
    assert_int_equal(st_dcap_td_relaunch(ti, svn2, U, O, U, U), O);
    assert_int_equal(st_dcap_td_relaunch(ti, svn2, O, O, O, U), O);
    assert_int_equal(st_dcap_td_relaunch(ti, svn2, U, U, O, U), U);
    /* the platform's microcode (index 2) below the latest level */
    svn2[2] = 1;
    assert_int_equal(st_dcap_td_relaunch(ti, svn2, U, O, O, U), O);
    /* an unknown module series */
    svn2[1] = 9;
    svn2[2] = 2;
    assert_int_equal(st_dcap_td_relaunch(ti, svn2, U, O, O, U),
                     ST_DCAP_TCB_NOT_SUPPORTED);
    /* TDX 1.0 module (index 1 zero): judged by the latest level's SVN 5 */
    uint8_t old[16] = {4, 0, 2}, cur[16] = {5, 0, 2};
    assert_int_equal(st_dcap_td_relaunch(ti, old, U, O, O, U), O);
    assert_int_equal(st_dcap_td_relaunch(ti, cur, U, O, O, U),
                     ST_DCAP_TCB_TD_RELAUNCH_ADVISED);
    assert_string_equal(
        st_dcap_tcb_status_name(ST_DCAP_TCB_TD_RELAUNCH_ADVISED),
        "TDRelaunchAdvised");
    st_dcap_tcb_info_free(ti);
    free(text);
}

static void test_crl_not_current_or_missing_fails_pck_revocation(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp(TRU "/tdx_quote_4.dat", &len);
    st_err err;
    /* the Root CA CRL of 2025 (from the dcap-qvl collateral) is not yet
     * issued at the 2023 verification time */
    json_t *coll =
        st_json_load_file(PHALA "/sgx_quote_collateral.json", 1 << 20, &err);
    assert_non_null(coll);
    const char *hex = json_string_value(json_object_get(coll, "root_ca_crl"));
    size_t n = strlen(hex) / 2;
    uint8_t *der = malloc(n);
    assert_st_ok(st_hex_decode(hex, der, n, &err), &err);
    char *dir = st_test_tmpdir("dcap");
    char path[4200];
    snprintf(path, sizeof(path), "%s/root2025.crl", dir);
    assert_st_ok(st_fs_write_atomic(path, der, n, 0600, &err), &err);
    const char *crls[] = {path, GTG "/pck_platform_crl.der"};
    st_dcap_collateral_files f = {
        .tcb_info = GTG "/tcbinfo_fmspc_50806f000000.json",
        .qe_identity = GTG "/qe_identity_td_qe.json",
        .tcb_chain = GTG "/tcb_signing_chain_2018-2025.pem",
        .crls = crls,
        .ncrls = 2};
    st_dcap_collateral *c;
    assert_st_ok(st_dcap_collateral_load(&f, &c, &err), &err);
    trace t;
    verify_q4(buf, len, GTG_AT, NULL, c, &t);
    static const char *const stale[] = {"pck.revocation",
                                        "tcb_signing.revocation", NULL};
    assert_failed_exactly(&t, stale);
    assert_non_null(strstr(find(&t, "pck.revocation")->actual,
                           "not valid at 2023-07-01T01:00:00Z: valid from "
                           "2025-03-20"));
    st_dcap_collateral_free(c);
    /* only the PCK CRL, but every certificate must be covered */
    f.crls = crls + 1;
    f.ncrls = 1;
    assert_st_ok(st_dcap_collateral_load(&f, &c, &err), &err);
    st_dcap_quote q;
    assert_st_ok(st_dcap_quote_parse(buf, len, &q, &err), &err);
    memset(&t, 0, sizeof(t));
    st_dcap_result res;
    st_dcap_options o = {.at = at(GTG_AT),
                         .require_crls = 1,
                         .trace = on_claim,
                         .trace_ctx = &t};
    assert_int_equal(st_dcap_verify(&q, c, &o, &res, &err), ST_E_DENIED);
    assert_false(find(&t, "pck.revocation")->ok);
    assert_non_null(strstr(find(&t, "pck.revocation")->actual, "only 1 of 2"));
    st_dcap_collateral_free(c);
    st_test_rmtree(dir);
    free(dir);
    free(der);
    json_decref(coll);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gtg_quote_parses_to_provenance_facts),
        cmocka_unit_test(
            test_gtg_quote_verifies_with_collateral_at_stated_time),
        cmocka_unit_test(test_sgx_quote_parses_to_golden_snapshot),
        cmocka_unit_test(
            test_sgx_quote_verifies_configuration_and_sw_hardening_needed),
        cmocka_unit_test(test_trustee_quotes_parse_to_provenance_facts),
        cmocka_unit_test(test_trustee_quote6_verifies_out_of_date_by_pcesvn),
        cmocka_unit_test(
            test_trustee_quote4_verifies_up_to_date_with_gtg_collateral),
        cmocka_unit_test(
            test_byte_flipped_in_signed_header_or_body_fails_quote_signature),
        cmocka_unit_test(
            test_byte_flipped_in_qe_report_fails_qe_report_signature),
        cmocka_unit_test(
            test_wrong_tcb_signing_chain_fails_collateral_signatures),
        cmocka_unit_test(test_pck_chain_not_to_pinned_root_fails_pck_chain),
        cmocka_unit_test(test_time_outside_validity_fails_named_claims),
        cmocka_unit_test(test_wrong_report_data_fails_report_data),
        cmocka_unit_test(test_tcb_info_for_another_fmspc_fails_tcb_info_fmspc),
        cmocka_unit_test(test_tcb_info_edited_after_signing_fails_signature),
        cmocka_unit_test(test_truncated_or_inflated_quotes_are_rejected),
        cmocka_unit_test(test_pinned_root_matches_shipped_file_and_fingerprint),
        cmocka_unit_test(
            test_pck_extension_parses_tcb_fmspc_and_rejects_truncation),
        cmocka_unit_test(
            test_collateral_with_unknown_key_or_bad_time_is_rejected),
        cmocka_unit_test(test_tcb_info_v2_parses_like_its_v3_equivalent),
        cmocka_unit_test(
            test_td_relaunch_advised_only_when_latest_module_is_loaded),
        cmocka_unit_test(test_crl_not_current_or_missing_fails_pck_revocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
