/*
 * fuzz_tcb_info.c: libFuzzer harness for the Intel PCS collateral parsers
 * (tcbinfo.c): TCB Info v2/v3 and Enclave Identity v2, including the
 * scanner that locates the exact signed bytes. Seeds are the TCB Info and
 * QE Identity documents of the vectors.
 */
#include <stddef.h>
#include <stdint.h>

#include "attest/dcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_dcap_tcb_info *t = NULL;
    st_dcap_qe_identity *q = NULL;
    st_err err;
    if (st_dcap_tcb_info_parse((const char *)data, size, "fuzz", &t, &err) ==
        ST_OK)
        st_dcap_tcb_info_free(t);
    if (st_dcap_qe_identity_parse((const char *)data, size, "fuzz", &q, &err) ==
        ST_OK)
        st_dcap_qe_identity_free(q);
    return 0;
}
