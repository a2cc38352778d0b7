/*
 * fuzz_tpms_attest.c: libFuzzer harness for the TPM structures the
 * verifier parses (tpm_verify.c): TPMS_ATTEST, TPMT_SIGNATURE,
 * TPM2B_PUBLIC, PCR value files, and the whole TPM verifier on a fuzzed
 * quote with a pinned AK.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "attest/tpm.h"
#include "sealtrain/fs.h"

#define TV "../shared/testvectors/attestation/tpm/trustee-tpm-evidence-swtpm/"

static unsigned char *ak, *sig;
static size_t ak_len, sig_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    st_discard(st_fs_read_all(TV "ak_pub.der", 1 << 16, &ak, &ak_len, NULL));
    st_discard(
        st_fs_read_all(TV "tpmt_signature.bin", 1 << 16, &sig, &sig_len, NULL));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_tpms_attest a;
    st_tpmt_signature s;
    st_discard(st_tpmt_signature_parse(data, size, &s, NULL));
    EVP_PKEY *k = st_tpm2b_public_to_pkey(data, size, NULL);
    EVP_PKEY_free(k);
    if (st_tpms_attest_parse(data, size, &a, NULL) == ST_OK) {
        st_tpm_pcrs *p = malloc(sizeof(*p));
        if (p)
            st_discard(st_tpm_pcrs_parse(data, size, &a, p, NULL));
        free(p);
    }
    st_evidence *ev = st_evidence_new(ST_TEE_TPM, NULL);
    if (ev && st_evidence_set(ev, "quote", data, size, NULL) == ST_OK && sig &&
        st_evidence_set(ev, "signature", sig, sig_len, NULL) == ST_OK &&
        st_evidence_set(ev, "pcrs", data, size, NULL) == ST_OK &&
        st_evidence_set(ev, "log", data, size, NULL) == ST_OK) {
        st_attest_refs refs = {.tpm_ak = ak, .tpm_ak_len = ak_len};
        st_verdict v;
        st_verdict_init(&v);
        st_discard(
            st_attest_verify(ev, NULL, &refs, NULL, 1735689600, &v, NULL));
        st_verdict_free(&v);
    }
    st_evidence_free(ev);
    return 0;
}
