/*
 * fuzz_dcap_quote.c: libFuzzer harness for the Intel DCAP quote parser
 * (SGX v3, TDX v4/v5: dcap_quote.c), its JSON rendering for `attest show`,
 * and the PCK certificate SGX extension DER parser (dcap_pck.c). Quotes
 * arrive from untrusted guests; seeds are the real quotes of the vectors.
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/dcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_dcap_quote q;
    st_err err;
    if (st_dcap_quote_parse(data, size, &q, &err) == ST_OK) {
        json_t *j = st_dcap_quote_to_json(&q);
        json_decref(j);
    }
    st_dcap_pck_ext ext;
    st_dcap_pck_ext_parse(data, size, &ext, &err);
    return 0;
}
