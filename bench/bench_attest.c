/*
 * bench_attest.c: attestation cost on one core: verification per evidence
 * type (SEV-SNP with the VCEK -> ASK -> ARK chain, TPM quote with PCR
 * values, Azure SNP + vTPM) through st_attest_verify end to end, the EAR
 * signing of a verdict (st_ear_encode), and evidence generation (sim; tpm on
 * swtpm when SEALTRAIN_TPM_TCTI is set), and verification with collateral
 * from an offline bundle against the same collateral in the evidence
 * (SNP VCEK; TDX TCB Info, QE Identity, chain, CRLs). Prints "<name>_ms <mean>"
 * lines for bench/attest.sh. The AMD roots are parsed once per process
 * (cached), as in a long-running broker; the first verification (cold, roots
 * loaded and checked) is reported apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sealtrain/sealtrain.h>

#define V "../shared/testvectors/attestation/"

/* CPU time of this process: the cost on one core, which the other
 * builds sharing the machine do not inflate the way they inflate wall
 * time (bench/attest.sh pins the process to one core as well). */
/* A set-up step that fails makes every figure after it meaningless: stop
 * and say which step. */
static void need(st_code rc, const char *what)
{
    if (rc != ST_OK) {
        fprintf(stderr, "bench: %s failed (%s)\n", what, st_code_name(rc));
        exit(1);
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void add(st_evidence *ev, const char *part, const char *path)
{
    unsigned char *b;
    size_t n;
    st_err e;
    if (st_fs_read_all(path, 1 << 20, &b, &n, &e) != ST_OK ||
        st_evidence_set(ev, part, b, n, &e) != ST_OK) {
        fprintf(stderr, "bench_attest: %s\n", e.msg);
        exit(1);
    }
    free(b);
}

static double bench_verify(const char *name, const st_evidence *ev,
                           const uint8_t *rd, const st_attest_refs *refs,
                           int64_t t, int iters)
{
    st_err e;
    double t0 = now_ms(), w0 = wall_ms();
    for (int i = 0; i <= iters; i++) {
        if (i == 1) {
            t0 = now_ms();
            w0 = wall_ms();
        }
        st_verdict v;
        st_verdict_init(&v);
        if (st_attest_verify(ev, rd, refs, NULL, t, &v, &e) != ST_OK ||
            !v.pass) {
            fprintf(stderr, "bench_attest: %s: %s\n", name,
                    v.pass ? e.msg : v.reason);
            exit(1);
        }
        st_verdict_free(&v);
        if (i == 0)
            printf("%s.cold_ms %.3f\n", name, now_ms() - t0);
    }
    double ms = (now_ms() - t0) / iters;
    printf("%s_ms %.3f\n", name, ms);
    printf("%s.wall_ms %.3f\n", name, (wall_ms() - w0) / iters);
    return ms;
}

/* A bundle of {kind, path} documents, parsed as the verifier gets it. */
static st_collateral_bundle *bundle_of(const char *const (*docs)[2], size_t n)
{
    st_err e;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        unsigned char *b;
        size_t len;
        need(st_fs_read_all(docs[i][1], 1 << 20, &b, &len, &e), docs[i][1]);
        char *b64 = st_base64_encode(b, len, 1);
        json_array_append_new(
            arr, json_pack("{s:s,s:s}", "kind", docs[i][0], "data", b64));
        free(b64);
        free(b);
    }
    json_t *o = json_pack("{s:s,s:i,s:o}", "type", "sealtrain-collateral",
                          "version", 1, "documents", arr);
    char *text = json_dumps(o, JSON_COMPACT);
    st_collateral_bundle *out = NULL;
    need(st_collateral_bundle_parse(text, strlen(text), "bench", &out, &e),
         "bundle");
    free(text);
    json_decref(o);
    return out;
}

/* The same evidence verified with its collateral in the evidence and,
 * without it, from a bundle: interleaved in one loop so that both meet
 * the same machine load; prints both and their ratio. */
static void bench_collateral(const char *name, const st_evidence *with,
                             const st_evidence *bare,
                             const st_collateral_bundle *b, const uint8_t *rd,
                             const st_attest_policy *pol, int64_t t, int iters)
{
    const st_collateral_bundle *const bundles[] = {b};
    st_attest_refs none = {0}, refs = {.bundles = bundles, .nbundles = 1};
    double sum[2] = {0, 0};
    st_err e;
    for (int i = 0; i <= iters; i++) {
        for (int k = 0; k < 2; k++) {
            st_verdict v;
            st_verdict_init(&v);
            double t0 = now_ms();
            if (st_attest_verify(k ? bare : with, rd, k ? &refs : &none, pol, t,
                                 &v, &e) != ST_OK ||
                !v.pass) {
                fprintf(stderr, "bench_attest: %s (%s): %s\n", name,
                        k ? "bundle" : "evidence", v.pass ? e.msg : v.reason);
                exit(1);
            }
            if (i > 0)
                sum[k] += now_ms() - t0;
            st_verdict_free(&v);
        }
    }
    printf("%s.evidence_ms %.3f\n", name, sum[0] / iters);
    printf("%s.bundle_ms %.3f\n", name, sum[1] / iters);
    printf("%s.ratio %.3f\n", name, sum[1] / sum[0]);
}

static void bench_bundles(void)
{
    st_err e;
    /* SEV-SNP: the VCEK in the evidence, or from a bundle */
    st_evidence *with = st_evidence_new(ST_TEE_SNP, &e),
                *bare = st_evidence_new(ST_TEE_SNP, &e);
    add(with, "report", V "snp/trustee-milan-vcek-v2/test-report.bin");
    add(with, "vcek", V "snp/trustee-milan-vcek-v2/test-vcek.der");
    add(bare, "report", V "snp/trustee-milan-vcek-v2/test-report.bin");
    const char *const snp_docs[][2] = {
        {"amd.vcek", V "snp/gsg-milan-vcek-v2/vcek.der"},
        {"amd.vcek", V "snp/trustee-milan-vcek-v2/test-vcek.der"}};
    st_collateral_bundle *b = bundle_of(snp_docs, 2);
    bench_collateral("collateral.snp", with, bare, b, NULL, NULL, 1735689600,
                     300);
    st_collateral_bundle_free(b);
    st_evidence_free(with);
    st_evidence_free(bare);

    /* TDX v4: TCB Info, QE Identity, signing chain and two CRLs */
#define X V "tdx/gtg-spr-e4-v4/"
    const char *const tdx_docs[][2] = {
        {"intel.tcb_info", X "tcbinfo_fmspc_50806f000000.json"},
        {"intel.qe_identity", X "qe_identity_td_qe.json"},
        {"intel.tcb_chain", X "tcb_signing_chain_2018-2025.pem"},
        {"intel.root_ca_crl", X "root_crl.der"},
        {"intel.pck_crl", X "pck_platform_crl.der"}};
    with = st_evidence_new(ST_TEE_TDX, &e);
    bare = st_evidence_new(ST_TEE_TDX, &e);
    add(with, "quote", V "tdx/trustee-tdx-quotes/tdx_quote_4.dat");
    add(bare, "quote", V "tdx/trustee-tdx-quotes/tdx_quote_4.dat");
    add(with, "tcb_info", tdx_docs[0][1]);
    add(with, "qe_identity", tdx_docs[1][1]);
    add(with, "tcb_chain", tdx_docs[2][1]);
    add(with, "crl.0", tdx_docs[3][1]);
    add(with, "crl.1", tdx_docs[4][1]);
#undef X
    b = bundle_of(tdx_docs, 5);
    static const char pol_text[] =
        "{\"version\": 1, \"tee\": [\"tdx\"], \"allow_debug\": true}";
    st_attest_policy *pol = NULL;
    need(st_attest_policy_parse(pol_text, strlen(pol_text), "bench", &pol, &e),
         "policy");
    uint8_t rd[64];
    need(st_hex_decode("7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94f"
                       "c1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3b"
                       "db38342bf96671501429",
                       rd, 64, &e),
         "set-up");
    bench_collateral("collateral.tdx", with, bare, b, rd, pol, 1688173200, 200);
    st_attest_policy_free(pol);
    st_collateral_bundle_free(b);
    st_evidence_free(with);
    st_evidence_free(bare);
}

int main(void)
{
    st_err e;
    /* SEV-SNP: trustee Milan report, VCEK, ASK from data/amd */
    st_evidence *snp = st_evidence_new(ST_TEE_SNP, &e);
    add(snp, "report", V "snp/trustee-milan-vcek-v2/test-report.bin");
    add(snp, "cert", V "snp/trustee-milan-vcek-v2/test-vcek.der");
    bench_verify("snp.verify", snp, NULL, NULL, 1735689600, 400);
    /* the same with the ASK/ARK chain carried in the evidence */
    add(snp, "chain", V "snp/trustee-milan-vcek-v2/milan_ask_ark_asvk.pem");
    bench_verify("snp.verify_chain", snp, NULL, NULL, 1735689600, 200);

    /* TPM: trustee swtpm quote, RSA AK, 24 PCR values */
    st_evidence *tpm = st_evidence_new(ST_TEE_TPM, &e);
    add(tpm, "quote", V "tpm/trustee-tpm-evidence-swtpm/tpm_quote_attest.bin");
    add(tpm, "signature",
        V "tpm/trustee-tpm-evidence-swtpm/tpmt_signature.bin");
    json_t *j = st_json_load_file(V "tpm/trustee-tpm-evidence-swtpm/"
                                    "tpm_evidence.json",
                                  1 << 20, &e);
    json_t *pcrs = json_object_get(json_object_get(j, "tpm_quote"), "pcrs");
    st_buf b;
    st_buf_init(&b);
    for (size_t i = 0; i < json_array_size(pcrs); i++)
        need(st_buf_printf(&b, &e, "%zu %s\n", i,
                           json_string_value(json_array_get(pcrs, i))),
             "set-up");
    need(st_evidence_set(tpm, "pcrs", b.data, b.len, &e), "set-up");
    const char *x = json_string_value(
        json_object_get(json_object_get(j, "tpm_quote"), "message"));
    (void)x;
    st_buf_free(&b);
    json_decref(j);
    unsigned char *ak;
    size_t akl;
    need(st_fs_read_all(V "tpm/trustee-tpm-evidence-swtpm/ak_pub.der", 1 << 16,
                        &ak, &akl, &e),
         "set-up");
    st_attest_refs refs = {.tpm_ak = ak, .tpm_ak_len = akl};
    uint8_t rd[64] = {0};
    need(st_hex_decode(
             "a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537"
             "bea393ef0e41a18b3569ab678f1497fbc5c1200000000000000000000000"
             "0000000000",
             rd, 64, &e),
         "set-up");
    bench_verify("tpm.verify", tpm, rd, &refs, 1735689600, 1000);

    /* Azure: SNP report + VCEK + vTPM quote by the HCL AK */
    st_evidence *az = st_evidence_new(ST_TEE_AZ_SNP_VTPM, &e);
    add(az, "hcl_report",
        V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/"
          "hcl_report.bin");
    add(az, "vcek", V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/vcek.pem");
    add(az, "quote",
        V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/"
          "tpm_quote_attest.bin");
    add(az, "signature",
        V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/"
          "tpm_quote_sig.bin");
    add(az, "pcrs",
        V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/"
          "tpm_pcrs_sha256.txt");
    uint8_t nonce[64] = "challenge";
    bench_verify("az.verify", az, nonce, NULL, 1748736000, 200);
    bench_bundles();

    /* EAR: one Ed25519 signature over the claims per verdict, on top of
     * the verification (the SNP verdict above) */
    {
        st_verdict v;
        st_verdict_init(&v);
        if (st_attest_verify(snp, NULL, NULL, NULL, 1735689600, &v, &e) !=
            ST_OK) {
            fprintf(stderr, "bench_attest: verify: %s\n", e.msg);
            return 1;
        }
        uint8_t ear_seed[32] = {7};
        st_ear_inputs in = {.iat = 1767225600, .ev = snp};
        /* a broker derives the key id once */
        st_ear_signer signer;
        if (st_ear_signer_init(&signer, ear_seed, &e) != ST_OK) {
            fprintf(stderr, "bench_attest: ear key: %s\n", e.msg);
            return 1;
        }
        int n = 2000;
        double e0 = now_ms();
        for (int i = 0; i < n; i++) {
            char *jwt = NULL;
            if (st_ear_sign(&signer, &v, &in, &jwt, &e) != ST_OK) {
                fprintf(stderr, "bench_attest: ear: %s\n", e.msg);
                return 1;
            }
            free(jwt);
        }
        printf("ear.sign_ms %.4f\n", (now_ms() - e0) / n);
        st_ear_signer_free(&signer);
        st_verdict_free(&v);
    }

    /* generation: sim */
    uint8_t seed[32] = {1}, meas[32] = {2};
    int iters = 2000;
    double t0 = now_ms();
    for (int i = 0; i < iters; i++) {
        st_evidence *ev = NULL;
        need(st_attest_sim_evidence(seed, rd, meas, 1, &ev, &e), "set-up");
        st_evidence_free(ev);
    }
    printf("sim.generate_ms %.3f\n", (now_ms() - t0) / iters);

    /* generation: tpm on swtpm (PCR reset + 3 extends, CreatePrimary ECC,
     * PCR_Read, Quote, FlushContext) */
    const char *tcti = getenv("SEALTRAIN_TPM_TCTI");
    if (tcti) {
        st_measure_item items[3] = {{"runtime", "bench", {1}},
                                    {"job", "bench", {2}},
                                    {"dataset", "bench", {3}}};
        iters = 20;
        t0 = wall_ms();
        for (int i = 0; i < iters; i++) {
            st_evidence *ev = NULL;
            if (st_attest_tpm_evidence(tcti, rd, items, 3, &ev, &e) != ST_OK) {
                fprintf(stderr, "bench_attest: tpm: %s\n", e.msg);
                return 1;
            }
            st_evidence_free(ev);
        }
        printf("tpm.generate_ms %.3f\n", (wall_ms() - t0) / iters);
    }
    st_evidence_free(snp);
    st_evidence_free(tpm);
    st_evidence_free(az);
    free(ak);
    return 0;
}
