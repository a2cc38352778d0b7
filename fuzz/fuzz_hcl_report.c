/*
 * fuzz_hcl_report.c: libFuzzer harness for the Azure HCL report parser
 * and the az-snp-vtpm verifier (az.c): a fuzzed HCL report with the real
 * VCEK, vTPM quote and signature of the Azure test vector.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sealtrain/attest.h"
#include "sealtrain/fs.h"

#define AZ                                                                     \
    "../shared/testvectors/attestation/tpm/"                                   \
    "azure-snp-vtpm-milan-v3-evidence-v0/"

static unsigned char *vcek, *quote, *sig;
static size_t vcek_len, quote_len, sig_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    st_discard(st_fs_read_all(AZ "vcek.pem", 1 << 16, &vcek, &vcek_len, NULL));
    st_discard(st_fs_read_all(AZ "tpm_quote_attest.bin", 1 << 16, &quote,
                              &quote_len, NULL));
    st_discard(
        st_fs_read_all(AZ "tpm_quote_sig.bin", 1 << 16, &sig, &sig_len, NULL));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_evidence *ev = st_evidence_new(ST_TEE_AZ_SNP_VTPM, NULL);
    if (!ev || !vcek || !quote || !sig)
        goto out;
    if (st_evidence_set(ev, "hcl_report", data, size, NULL) != ST_OK ||
        st_evidence_set(ev, "vcek", vcek, vcek_len, NULL) != ST_OK ||
        st_evidence_set(ev, "quote", quote, quote_len, NULL) != ST_OK ||
        st_evidence_set(ev, "signature", sig, sig_len, NULL) != ST_OK)
        goto out;
    st_verdict v;
    st_verdict_init(&v);
    st_discard(st_attest_verify(ev, NULL, NULL, NULL, 1748736000, &v, NULL));
    st_verdict_free(&v);
    json_t *o = NULL;
    if (st_attest_show(ev, &o, NULL) == ST_OK)
        json_decref(o);
out:
    st_evidence_free(ev);
    return 0;
}
