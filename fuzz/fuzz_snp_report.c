/*
 * fuzz_snp_report.c: libFuzzer harness for the SEV-SNP report parser, the
 * verifier on a fuzzed report with a real VCEK, and the extended report's
 * certificate table parser (snp.c): reports and certificate tables come
 * from the untrusted host.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "attest/snp.h"
#include "sealtrain/fs.h"

static unsigned char *vcek;
static size_t vcek_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    st_discard(st_fs_read_all("../shared/testvectors/attestation/snp/"
                              "trustee-milan-vcek-v2/test-vcek.der",
                              1 << 16, &vcek, &vcek_len, NULL));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_snp_report r;
    if (st_snp_parse(data, size, &r, NULL) == ST_OK) {
        json_t *o = json_object();
        st_snp_fields(&r, o);
        json_decref(o);
        st_evidence *ev = st_evidence_new(ST_TEE_SNP, NULL);
        if (ev && st_evidence_set(ev, "report", data, size, NULL) == ST_OK &&
            (!vcek ||
             st_evidence_set(ev, "cert", vcek, vcek_len, NULL) == ST_OK)) {
            st_verdict v;
            st_verdict_init(&v);
            st_discard(
                st_attest_verify(ev, NULL, NULL, NULL, 1735689600, &v, NULL));
            st_verdict_free(&v);
        }
        st_evidence_free(ev);
    }
    st_evidence *t = st_evidence_new(ST_TEE_SNP, NULL);
    if (t)
        st_discard(st_snp_cert_table_parse(data, size, t, NULL));
    st_evidence_free(t);
    return 0;
}
