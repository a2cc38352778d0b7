/*
 * fuzz_collateral_bundle.c: libFuzzer harness for the offline collateral
 * bundle parser (src/attest/collateral.c): the strict JSON, base64
 * documents, and the per-kind indexing (X.509 certificates and their AMD
 * extensions, CRLs, Intel TCB Info and QE Identity). A parsed bundle is
 * also described and asked for its stale time. Seeds: bundles built from
 * the vectors with scripts/collateral-bundle.py (SNP, TDX) and a few
 * malformed ones.
 */
#include <stddef.h>
#include <stdint.h>

#include <sealtrain/attest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_collateral_bundle *b = NULL;
    st_err err;
    if (st_collateral_bundle_parse((const char *)data, size, "fuzz", &b,
                                   &err) == ST_OK) {
        char doc[320];
        json_decref(st_collateral_bundle_describe(b));
        (void)st_collateral_bundle_stale_at(b, doc, sizeof(doc));
        st_collateral_bundle_free(b);
    }
    return 0;
}
