/*
 * fuzz_az_tdx.c: libFuzzer harness for the az-tdx-vtpm verifier (az.c):
 * a fuzzed HCL report (type TDX) with the real TD quote, vTPM quote and
 * signature of tests/vectors/az-tdx-vtpm-trustee.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sealtrain/attest.h"
#include "sealtrain/fs.h"

#define AZ "tests/vectors/az-tdx-vtpm-trustee/"

static unsigned char *td, *quote, *sig;
static size_t td_len, quote_len, sig_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    st_fs_read_all(AZ "td_quote.bin", 1 << 16, &td, &td_len, NULL);
    st_fs_read_all(AZ "tpm_quote_attest.bin", 1 << 16, &quote, &quote_len,
                   NULL);
    st_fs_read_all(AZ "tpm_quote_sig.bin", 1 << 16, &sig, &sig_len, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_evidence *ev = st_evidence_new(ST_TEE_AZ_TDX_VTPM, NULL);
    if (!ev || !td || !quote || !sig)
        goto out;
    if (st_evidence_set(ev, "hcl_report", data, size, NULL) != ST_OK ||
        st_evidence_set(ev, "td_quote", td, td_len, NULL) != ST_OK ||
        st_evidence_set(ev, "quote", quote, quote_len, NULL) != ST_OK ||
        st_evidence_set(ev, "signature", sig, sig_len, NULL) != ST_OK)
        goto out;
    st_verdict v;
    st_verdict_init(&v);
    st_attest_verify(ev, NULL, NULL, NULL, 1761955200, &v, NULL);
    st_verdict_free(&v);
    json_t *o = NULL;
    if (st_attest_show(ev, &o, NULL) == ST_OK)
        json_decref(o);
out:
    st_evidence_free(ev);
    return 0;
}
