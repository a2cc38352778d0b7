#include "attest/ear.h"
/*
#include "attest/ear.h"
 * bench_attest.c: attestation cost on one core: verification per evidence
#include "attest/ear.h"
 * type (SEV-SNP with the VCEK -> ASK -> ARK chain, TPM quote with PCR
#include "attest/ear.h"
 * values, Azure SNP + vTPM) through st_attest_verify end to end, the EAR
#include "attest/ear.h"
 * signing of a verdict (st_ear_encode), and evidence generation (sim; tpm on
#include "attest/ear.h"
 * swtpm when SEALTRAIN_TPM_TCTI is set), and verification with collateral
#include "attest/ear.h"
 * from an offline bundle against the same collateral in the evidence
#include "attest/ear.h"
 * (SNP VCEK; TDX TCB Info, QE Identity, chain, CRLs). Prints "<name>_ms <mean>"
#include "attest/ear.h"
 * lines for bench/attest.sh. The AMD roots are parsed once per process
#include "attest/ear.h"
 * (cached), as in a long-running broker; the first verification (cold, roots
#include "attest/ear.h"
 * loaded and checked) is reported apart.
#include "attest/ear.h"
 */
#include "attest/ear.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/ear.h"
#include <sealtrain/sealtrain.h>

#include "attest/ear.h"
#define V "../shared/testvectors/attestation/"
#include "attest/ear.h"

#include "attest/ear.h"
/* CPU time of this process: the cost on one core, which the other
#include "attest/ear.h"
 * builds sharing the machine do not inflate the way they inflate wall
#include "attest/ear.h"
 * time (bench/attest.sh pins the process to one core as well). */
#include "attest/ear.h"
/* A set-up step that fails makes every figure after it meaningless: stop
#include "attest/ear.h"
 * and say which step. */
#include "attest/ear.h"
static void need(st_code rc, const char *what)
#include "attest/ear.h"
{
#include "attest/ear.h"
    if (rc != ST_OK) {
#include "attest/ear.h"
        fprintf(stderr, "bench: %s failed (%s)\n", what, st_code_name(rc));
#include "attest/ear.h"
        exit(1);
#include "attest/ear.h"
    }
#include "attest/ear.h"
}
#include "attest/ear.h"

#include "attest/ear.h"
static double now_ms(void)
#include "attest/ear.h"
{
#include "attest/ear.h"
    struct timespec ts;
#include "attest/ear.h"
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
#include "attest/ear.h"
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
#include "attest/ear.h"
}
#include "attest/ear.h"

#include "attest/ear.h"
static double wall_ms(void)
#include "attest/ear.h"
{
#include "attest/ear.h"
    struct timespec ts;
#include "attest/ear.h"
    clock_gettime(CLOCK_MONOTONIC, &ts);
#include "attest/ear.h"
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
#include "attest/ear.h"
}
#include "attest/ear.h"

#include "attest/ear.h"
static void add(st_evidence *ev, const char *part, const char *path)
#include "attest/ear.h"
{
#include "attest/ear.h"
    unsigned char *b;
#include "attest/ear.h"
    size_t n;
#include "attest/ear.h"
    st_err e;
#include "attest/ear.h"
    if (st_fs_read_all(path, 1 << 20, &b, &n, &e) != ST_OK ||
#include "attest/ear.h"
        st_evidence_set(ev, part, b, n, &e) != ST_OK) {
#include "attest/ear.h"
        fprintf(stderr, "bench_attest: %s\n", e.msg);
#include "attest/ear.h"
        exit(1);
#include "attest/ear.h"
    }
#include "attest/ear.h"
    free(b);
#include "attest/ear.h"
}
#include "attest/ear.h"

#include "attest/ear.h"
static double bench_verify(const char *name, const st_evidence *ev,
#include "attest/ear.h"
                           const uint8_t *rd, const st_attest_refs *refs,
#include "attest/ear.h"
                           int64_t t, int iters)
#include "attest/ear.h"
{
#include "attest/ear.h"
    st_err e;
#include "attest/ear.h"
    double t0 = now_ms(), w0 = wall_ms();
#include "attest/ear.h"
    for (int i = 0; i <= iters; i++) {
#include "attest/ear.h"
        if (i == 1) {
#include "attest/ear.h"
            t0 = now_ms();
#include "attest/ear.h"
            w0 = wall_ms();
#include "attest/ear.h"
        }
#include "attest/ear.h"
        st_verdict v;
#include "attest/ear.h"
        st_verdict_init(&v);
#include "attest/ear.h"
        if (st_attest_verify(ev, rd, refs, NULL, t, &v, &e) != ST_OK ||
#include "attest/ear.h"
            !v.pass) {
#include "attest/ear.h"
            fprintf(stderr, "bench_attest: %s: %s\n", name,
#include "attest/ear.h"
                    v.pass ? e.msg : v.reason);
#include "attest/ear.h"
            exit(1);
#include "attest/ear.h"
        }
#include "attest/ear.h"
        st_verdict_free(&v);
#include "attest/ear.h"
        if (i == 0)
#include "attest/ear.h"
            printf("%s.cold_ms %.3f\n", name, now_ms() - t0);
#include "attest/ear.h"
    }
#include "attest/ear.h"
    double ms = (now_ms() - t0) / iters;
#include "attest/ear.h"
    printf("%s_ms %.3f\n", name, ms);
#include "attest/ear.h"
    printf("%s.wall_ms %.3f\n", name, (wall_ms() - w0) / iters);
#include "attest/ear.h"
    return ms;
#include "attest/ear.h"
}
#include "attest/ear.h"

#include "attest/ear.h"
/* A bundle of {kind, path} documents, parsed as the verifier gets it. */
#include "attest/ear.h"
static st_collateral_bundle *bundle_of(const char *const (*docs)[2], size_t n)
#include "attest/ear.h"
{
#include "attest/ear.h"
    st_err e;
#include "attest/ear.h"
    json_t *arr = json_array();
#include "attest/ear.h"
    for (size_t i = 0; i < n; i++) {
#include "attest/ear.h"
        unsigned char *b;
#include "attest/ear.h"
        size_t len;
#include "attest/ear.h"
        need(st_fs_read_all(docs[i][1], 1 << 20, &b, &len, &e), docs[i][1]);
#include "attest/ear.h"
        char *b64 = st_base64_encode(b, len, 1);
#include "attest/ear.h"
        json_array_append_new(
#include "attest/ear.h"
            arr, json_pack("{s:s,s:s}", "kind", docs[i][0], "data", b64));
#include "attest/ear.h"
        free(b64);
#include "attest/ear.h"
        free(b);
#include "attest/ear.h"
    }
#include "attest/ear.h"
    json_t *o = json_pack("{s:s,s:i,s:o}", "type", "sealtrain-collateral",
#include "attest/ear.h"
                          "version", 1, "documents", arr);
#include "attest/ear.h"
    char *text = json_dumps(o, JSON_COMPACT);
#include "attest/ear.h"
    st_collateral_bundle *out = NULL;
#include "attest/ear.h"
    need(st_collateral_bundle_parse(text, strlen(text), "bench", &out, &e),
#include "attest/ear.h"
         "bundle");
#include "attest/ear.h"
    free(text);
#include "attest/ear.h"
    json_decref(o);
#include "attest/ear.h"
    return out;
#include "attest/ear.h"
}
#include "attest/ear.h"

#include "attest/ear.h"
/* The same evidence verified with its collateral in the evidence and,
#include "attest/ear.h"
 * without it, from a bundle: interleaved in one loop so that both meet
#include "attest/ear.h"
 * the same machine load; prints both and their ratio. */
#include "attest/ear.h"
static void bench_collateral(const char *name, const st_evidence *with,
#include "attest/ear.h"
                             const st_evidence *bare,
#include "attest/ear.h"
                             const st_collateral_bundle *b, const uint8_t *rd,
#include "attest/ear.h"
                             const st_attest_policy *pol, int64_t t, int iters)
#include "attest/ear.h"
{
#include "attest/ear.h"
    const st_collateral_bundle *const bundles[] = {b};
#include "attest/ear.h"
    st_attest_refs none = {0}, refs = {.bundles = bundles, .nbundles = 1};
#include "attest/ear.h"
    double sum[2] = {0, 0};
#include "attest/ear.h"
    st_err e;
#include "attest/ear.h"
    for (int i = 0; i <= iters; i++) {
#include "attest/ear.h"
        for (int k = 0; k < 2; k++) {
#include "attest/ear.h"
            st_verdict v;
#include "attest/ear.h"
            st_verdict_init(&v);
#include "attest/ear.h"
            double t0 = now_ms();
#include "attest/ear.h"
            if (st_attest_verify(k ? bare : with, rd, k ? &refs : &none, pol, t,
#include "attest/ear.h"
                                 &v, &e) != ST_OK ||
#include "attest/ear.h"
                !v.pass) {
#include "attest/ear.h"
                fprintf(stderr, "bench_attest: %s (%s): %s\n", name,
#include "attest/ear.h"
                        k ? "bundle" : "evidence", v.pass ? e.msg : v.reason);
#include "attest/ear.h"
                exit(1);
#include "attest/ear.h"
            }
#include "attest/ear.h"
            if (i > 0)
#include "attest/ear.h"
                sum[k] += now_ms() - t0;
#include "attest/ear.h"
            st_verdict_free(&v);
#include "attest/ear.h"
        }
#include "attest/ear.h"
    }
#include "attest/ear.h"
    printf("%s.evidence_ms %.3f\n", name, sum[0] / iters);
#include "attest/ear.h"
    printf("%s.bundle_ms %.3f\n", name, sum[1] / iters);
#include "attest/ear.h"
    printf("%s.ratio %.3f\n", name, sum[1] / sum[0]);
#include "attest/ear.h"
}
#include "attest/ear.h"

#include "attest/ear.h"
static void bench_bundles(void)
#include "attest/ear.h"
{
#include "attest/ear.h"
    st_err e;
#include "attest/ear.h"
    /* SEV-SNP: the VCEK in the evidence, or from a bundle */
#include "attest/ear.h"
    st_evidence *with = st_evidence_new(ST_TEE_SNP, &e),
#include "attest/ear.h"
                *bare = st_evidence_new(ST_TEE_SNP, &e);
#include "attest/ear.h"
    add(with, "report", V "snp/trustee-milan-vcek-v2/test-report.bin");
#include "attest/ear.h"
    add(with, "vcek", V "snp/trustee-milan-vcek-v2/test-vcek.der");
#include "attest/ear.h"
    add(bare, "report", V "snp/trustee-milan-vcek-v2/test-report.bin");
#include "attest/ear.h"
    const char *const snp_docs[][2] = {
#include "attest/ear.h"
        {"amd.vcek", V "snp/gsg-milan-vcek-v2/vcek.der"},
#include "attest/ear.h"
        {"amd.vcek", V "snp/trustee-milan-vcek-v2/test-vcek.der"}};
#include "attest/ear.h"
    st_collateral_bundle *b = bundle_of(snp_docs, 2);
#include "attest/ear.h"
    bench_collateral("collateral.snp", with, bare, b, NULL, NULL, 1735689600,
#include "attest/ear.h"
                     300);
#include "attest/ear.h"
    st_collateral_bundle_free(b);
#include "attest/ear.h"
    st_evidence_free(with);
#include "attest/ear.h"
    st_evidence_free(bare);
#include "attest/ear.h"

#include "attest/ear.h"
    /* TDX v4: TCB Info, QE Identity, signing chain and two CRLs */
#include "attest/ear.h"
#define X V "tdx/gtg-spr-e4-v4/"
#include "attest/ear.h"
    const char *const tdx_docs[][2] = {
#include "attest/ear.h"
        {"intel.tcb_info", X "tcbinfo_fmspc_50806f000000.json"},
#include "attest/ear.h"
        {"intel.qe_identity", X "qe_identity_td_qe.json"},
#include "attest/ear.h"
        {"intel.tcb_chain", X "tcb_signing_chain_2018-2025.pem"},
#include "attest/ear.h"
        {"intel.root_ca_crl", X "root_crl.der"},
#include "attest/ear.h"
        {"intel.pck_crl", X "pck_platform_crl.der"}};
#include "attest/ear.h"
    with = st_evidence_new(ST_TEE_TDX, &e);
#include "attest/ear.h"
    bare = st_evidence_new(ST_TEE_TDX, &e);
#include "attest/ear.h"
    add(with, "quote", V "tdx/trustee-tdx-quotes/tdx_quote_4.dat");
#include "attest/ear.h"
    add(bare, "quote", V "tdx/trustee-tdx-quotes/tdx_quote_4.dat");
#include "attest/ear.h"
    add(with, "tcb_info", tdx_docs[0][1]);
#include "attest/ear.h"
    add(with, "qe_identity", tdx_docs[1][1]);
#include "attest/ear.h"
    add(with, "tcb_chain", tdx_docs[2][1]);
#include "attest/ear.h"
    add(with, "crl.0", tdx_docs[3][1]);
#include "attest/ear.h"
    add(with, "crl.1", tdx_docs[4][1]);
#include "attest/ear.h"
#undef X
#include "attest/ear.h"
    b = bundle_of(tdx_docs, 5);
#include "attest/ear.h"
    static const char pol_text[] =
#include "attest/ear.h"
        "{\"version\": 1, \"tee\": [\"tdx\"], \"allow_debug\": true}";
#include "attest/ear.h"
    st_attest_policy *pol = NULL;
#include "attest/ear.h"
    need(st_attest_policy_parse(pol_text, strlen(pol_text), "bench", &pol, &e),
#include "attest/ear.h"
         "policy");
#include "attest/ear.h"
    uint8_t rd[64];
#include "attest/ear.h"
    need(st_hex_decode("7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94f"
#include "attest/ear.h"
                       "c1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3b"
#include "attest/ear.h"
                       "db38342bf96671501429",
#include "attest/ear.h"
                       rd, 64, &e),
#include "attest/ear.h"
         "set-up");
#include "attest/ear.h"
    bench_collateral("collateral.tdx", with, bare, b, rd, pol, 1688173200, 200);
#include "attest/ear.h"
    st_attest_policy_free(pol);
#include "attest/ear.h"
    st_collateral_bundle_free(b);
#include "attest/ear.h"
    st_evidence_free(with);
#include "attest/ear.h"
    st_evidence_free(bare);
#include "attest/ear.h"
}
#include "attest/ear.h"

#include "attest/ear.h"
int main(void)
#include "attest/ear.h"
{
#include "attest/ear.h"
    st_err e;
#include "attest/ear.h"
    /* SEV-SNP: trustee Milan report, VCEK, ASK from data/amd */
#include "attest/ear.h"
    st_evidence *snp = st_evidence_new(ST_TEE_SNP, &e);
#include "attest/ear.h"
    add(snp, "report", V "snp/trustee-milan-vcek-v2/test-report.bin");
#include "attest/ear.h"
    add(snp, "cert", V "snp/trustee-milan-vcek-v2/test-vcek.der");
#include "attest/ear.h"
    bench_verify("snp.verify", snp, NULL, NULL, 1735689600, 400);
#include "attest/ear.h"
    /* the same with the ASK/ARK chain carried in the evidence */
#include "attest/ear.h"
    add(snp, "chain", V "snp/trustee-milan-vcek-v2/milan_ask_ark_asvk.pem");
#include "attest/ear.h"
    bench_verify("snp.verify_chain", snp, NULL, NULL, 1735689600, 200);
#include "attest/ear.h"

#include "attest/ear.h"
    /* TPM: trustee swtpm quote, RSA AK, 24 PCR values */
#include "attest/ear.h"
    st_evidence *tpm = st_evidence_new(ST_TEE_TPM, &e);
#include "attest/ear.h"
    add(tpm, "quote", V "tpm/trustee-tpm-evidence-swtpm/tpm_quote_attest.bin");
#include "attest/ear.h"
    add(tpm, "signature",
#include "attest/ear.h"
        V "tpm/trustee-tpm-evidence-swtpm/tpmt_signature.bin");
#include "attest/ear.h"
    json_t *j = st_json_load_file(V "tpm/trustee-tpm-evidence-swtpm/"
#include "attest/ear.h"
                                    "tpm_evidence.json",
#include "attest/ear.h"
                                  1 << 20, &e);
#include "attest/ear.h"
    json_t *pcrs = json_object_get(json_object_get(j, "tpm_quote"), "pcrs");
#include "attest/ear.h"
    st_buf b;
#include "attest/ear.h"
    st_buf_init(&b);
#include "attest/ear.h"
    for (size_t i = 0; i < json_array_size(pcrs); i++)
#include "attest/ear.h"
        need(st_buf_printf(&b, &e, "%zu %s\n", i,
#include "attest/ear.h"
                           json_string_value(json_array_get(pcrs, i))),
#include "attest/ear.h"
             "set-up");
#include "attest/ear.h"
    need(st_evidence_set(tpm, "pcrs", b.data, b.len, &e), "set-up");
#include "attest/ear.h"
    const char *x = json_string_value(
#include "attest/ear.h"
        json_object_get(json_object_get(j, "tpm_quote"), "message"));
#include "attest/ear.h"
    (void)x;
#include "attest/ear.h"
    st_buf_free(&b);
#include "attest/ear.h"
    json_decref(j);
#include "attest/ear.h"
    unsigned char *ak;
#include "attest/ear.h"
    size_t akl;
#include "attest/ear.h"
    need(st_fs_read_all(V "tpm/trustee-tpm-evidence-swtpm/ak_pub.der", 1 << 16,
#include "attest/ear.h"
                        &ak, &akl, &e),
#include "attest/ear.h"
         "set-up");
#include "attest/ear.h"
    st_attest_refs refs = {.tpm_ak = ak, .tpm_ak_len = akl};
#include "attest/ear.h"
    uint8_t rd[64] = {0};
#include "attest/ear.h"
    need(st_hex_decode(
#include "attest/ear.h"
             "a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537"
#include "attest/ear.h"
             "bea393ef0e41a18b3569ab678f1497fbc5c1200000000000000000000000"
#include "attest/ear.h"
             "0000000000",
#include "attest/ear.h"
             rd, 64, &e),
#include "attest/ear.h"
         "set-up");
#include "attest/ear.h"
    bench_verify("tpm.verify", tpm, rd, &refs, 1735689600, 1000);
#include "attest/ear.h"

#include "attest/ear.h"
    /* Azure: SNP report + VCEK + vTPM quote by the HCL AK */
#include "attest/ear.h"
    st_evidence *az = st_evidence_new(ST_TEE_AZ_SNP_VTPM, &e);
#include "attest/ear.h"
    add(az, "hcl_report",
#include "attest/ear.h"
        V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/"
#include "attest/ear.h"
          "hcl_report.bin");
#include "attest/ear.h"
    add(az, "vcek", V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/vcek.pem");
#include "attest/ear.h"
    add(az, "quote",
#include "attest/ear.h"
        V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/"
#include "attest/ear.h"
          "tpm_quote_attest.bin");
#include "attest/ear.h"
    add(az, "signature",
#include "attest/ear.h"
        V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/"
#include "attest/ear.h"
          "tpm_quote_sig.bin");
#include "attest/ear.h"
    add(az, "pcrs",
#include "attest/ear.h"
        V "tpm/azure-snp-vtpm-milan-v3-evidence-v0/"
#include "attest/ear.h"
          "tpm_pcrs_sha256.txt");
#include "attest/ear.h"
    uint8_t nonce[64] = "challenge";
#include "attest/ear.h"
    bench_verify("az.verify", az, nonce, NULL, 1748736000, 200);
#include "attest/ear.h"
    bench_bundles();
#include "attest/ear.h"

#include "attest/ear.h"
    /* EAR: one Ed25519 signature over the claims per verdict, on top of
#include "attest/ear.h"
     * the verification (the SNP verdict above) */
#include "attest/ear.h"
    {
#include "attest/ear.h"
        st_verdict v;
#include "attest/ear.h"
        st_verdict_init(&v);
#include "attest/ear.h"
        if (st_attest_verify(snp, NULL, NULL, NULL, 1735689600, &v, &e) !=
#include "attest/ear.h"
            ST_OK) {
#include "attest/ear.h"
            fprintf(stderr, "bench_attest: verify: %s\n", e.msg);
#include "attest/ear.h"
            return 1;
#include "attest/ear.h"
        }
#include "attest/ear.h"
        uint8_t ear_seed[32] = {7};
#include "attest/ear.h"
        st_ear_inputs in = {.iat = 1767225600, .ev = snp};
#include "attest/ear.h"
        /* a broker derives the key id once */
#include "attest/ear.h"
        st_ear_signer signer;
#include "attest/ear.h"
        if (st_ear_signer_init(&signer, ear_seed, &e) != ST_OK) {
#include "attest/ear.h"
            fprintf(stderr, "bench_attest: ear key: %s\n", e.msg);
#include "attest/ear.h"
            return 1;
#include "attest/ear.h"
        }
#include "attest/ear.h"
        int n = 2000;
#include "attest/ear.h"
        double e0 = now_ms();
#include "attest/ear.h"
        for (int i = 0; i < n; i++) {
#include "attest/ear.h"
            char *jwt = NULL;
#include "attest/ear.h"
            if (st_ear_sign(&signer, &v, &in, &jwt, &e) != ST_OK) {
#include "attest/ear.h"
                fprintf(stderr, "bench_attest: ear: %s\n", e.msg);
#include "attest/ear.h"
                return 1;
#include "attest/ear.h"
            }
#include "attest/ear.h"
            free(jwt);
#include "attest/ear.h"
        }
#include "attest/ear.h"
        printf("ear.sign_ms %.4f\n", (now_ms() - e0) / n);
#include "attest/ear.h"
        st_ear_signer_free(&signer);
#include "attest/ear.h"
        st_verdict_free(&v);
#include "attest/ear.h"
    }
#include "attest/ear.h"

#include "attest/ear.h"
    /* generation: sim */
#include "attest/ear.h"
    uint8_t seed[32] = {1}, meas[32] = {2};
#include "attest/ear.h"
    int iters = 2000;
#include "attest/ear.h"
    double t0 = now_ms();
#include "attest/ear.h"
    for (int i = 0; i < iters; i++) {
#include "attest/ear.h"
        st_evidence *ev = NULL;
#include "attest/ear.h"
        need(st_attest_sim_evidence(seed, rd, meas, 1, &ev, &e), "set-up");
#include "attest/ear.h"
        st_evidence_free(ev);
#include "attest/ear.h"
    }
#include "attest/ear.h"
    printf("sim.generate_ms %.3f\n", (now_ms() - t0) / iters);
#include "attest/ear.h"

#include "attest/ear.h"
    /* generation: tpm on swtpm (PCR reset + 3 extends, CreatePrimary ECC,
#include "attest/ear.h"
     * PCR_Read, Quote, FlushContext) */
#include "attest/ear.h"
    const char *tcti = getenv("SEALTRAIN_TPM_TCTI");
#include "attest/ear.h"
    if (tcti) {
#include "attest/ear.h"
        st_measure_item items[3] = {{"runtime", "bench", {1}},
#include "attest/ear.h"
                                    {"job", "bench", {2}},
#include "attest/ear.h"
                                    {"dataset", "bench", {3}}};
#include "attest/ear.h"
        iters = 20;
#include "attest/ear.h"
        t0 = wall_ms();
#include "attest/ear.h"
        for (int i = 0; i < iters; i++) {
#include "attest/ear.h"
            st_evidence *ev = NULL;
#include "attest/ear.h"
            if (st_attest_tpm_evidence(tcti, rd, items, 3, &ev, &e) != ST_OK) {
#include "attest/ear.h"
                fprintf(stderr, "bench_attest: tpm: %s\n", e.msg);
#include "attest/ear.h"
                return 1;
#include "attest/ear.h"
            }
#include "attest/ear.h"
            st_evidence_free(ev);
#include "attest/ear.h"
        }
#include "attest/ear.h"
        printf("tpm.generate_ms %.3f\n", (wall_ms() - t0) / iters);
#include "attest/ear.h"
    }
#include "attest/ear.h"
    st_evidence_free(snp);
#include "attest/ear.h"
    st_evidence_free(tpm);
#include "attest/ear.h"
    st_evidence_free(az);
#include "attest/ear.h"
    free(ak);
#include "attest/ear.h"
    return 0;
#include "attest/ear.h"
}
