/*
 * tdx_backend.c: the request path of the `tdx` evidence backend: a TDX
 * quote for 64 bytes of report data through configfs-tsm.
 *
 * The configfs-tsm protocol itself (entry, inblob, provider, generation,
 * outblob) is shared with the snp backend: st_tsm_request in tsm.c.
 *
 * The report directory is a parameter so that unit tests drive this code
 * against a plain directory holding recorded quote bytes. configfs
 * attributes are written in place (they are not files that could be
 * replaced atomically). This file never parses or verifies the quote:
 * dcap_quote.c / dcap_verify.c do.
 */
#include "attest/dcap.h"

#include <string.h>

#include "attest/attest_internal.h"

#define TSM_MAX_QUOTE (64u << 10)

st_code st_tdx_tsm_entry_quote(const char *entry, const uint8_t report_data[64],
                               uint8_t **out, size_t *outlen, st_err *err)
{
    st_tsm_blobs b;
    st_code rc = st_tsm_entry_request(entry, "tdx_guest", report_data,
                                      TSM_MAX_QUOTE, 0, &b, err);
    *out = b.out;
    *outlen = b.outlen;
    return rc;
}

st_code st_tdx_quote_request(const char *root, const uint8_t report_data[64],
                             uint8_t **out, size_t *outlen, st_err *err)
{
    st_tsm_blobs b;
    st_code rc = st_tsm_request(root, "tdx_guest", report_data, TSM_MAX_QUOTE,
                                0, &b, err);
    *out = b.out;
    *outlen = b.outlen;
    return rc;
}
