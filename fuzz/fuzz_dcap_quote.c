/*
 * fuzz_dcap_quote.c: libFuzzer harness for the Intel DCAP quote parser
 * (SGX v3, TDX v4/v5: dcap_quote.c), its JSON rendering for `attest show`,
 * the PCK certificate SGX extension DER parser (dcap_pck.c), and, for
 * inputs that parse, the whole verification (dcap_verify.c: the embedded
 * PEM chain, extensions, signatures, TCB matching) against the go-tdx-guest
 * collateral when the vectors are reachable (fuzz/run.sh runs from the
 * project root). Quotes arrive from untrusted guests; seeds are the real
 * quotes of the vectors.
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/dcap.h"

#define GTG "../shared/testvectors/attestation/tdx/gtg-spr-e4-v4"

static st_dcap_collateral *collateral(void)
{
    static st_dcap_collateral *c;
    static int tried;
    if (!tried) {
        static const char *const crls[] = {GTG "/root_crl.der",
                                           GTG "/pck_platform_crl.der"};
        st_dcap_collateral_files f = {
            .tcb_info = GTG "/tcbinfo_fmspc_50806f000000.json",
            .qe_identity = GTG "/qe_identity_td_qe.json",
            .tcb_chain = GTG "/tcb_signing_chain_2018-2025.pem",
            .crls = crls,
            .ncrls = 2};
        st_err err;
        tried = 1;
        if (st_dcap_collateral_load(&f, &c, &err) != ST_OK)
            c = NULL;
    }
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_dcap_quote q;
    st_err err;
    if (st_dcap_quote_parse(data, size, &q, &err) == ST_OK) {
        json_t *j = st_dcap_quote_to_json(&q);
        json_decref(j);
        st_dcap_collateral *c = collateral();
        if (c) {
            st_dcap_result res;
            st_dcap_options o = {.at = 1688173200 /* 2023-07-01T01:00Z */};
            st_discard(st_dcap_verify(&q, c, &o, &res, &err));
        }
    }
    st_dcap_pck_ext ext;
    st_discard(st_dcap_pck_ext_parse(data, size, &ext, &err));
    return 0;
}
