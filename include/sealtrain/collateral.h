/*
 * sealtrain/collateral.h: the workspace's offline collateral bundles
 * (`sealtrain attest collateral import|list|show|rm`, docs/attestation.md).
 *
 * A bundle (the format is st_collateral_bundle's, sealtrain/attest.h) is
 * signed by the admin who imports it (a DSSE envelope, payload type
 * ST_COLLATERAL_DSSE_TYPE, over the bundle's canonical JSON), stored under
 * <workspace>/collateral/<sha256>.dsse.json (temporary file, fsync,
 * rename) and recorded in the catalog together with its audit entry (one
 * transaction). Reading it back verifies the signature under the signer's
 * registered key and that the signer is still an enabled principal allowed
 * "attest.collateral": a bundle of a disabled admin, or an edited file, is
 * refused naming the bundle. Even then a bundle is a cache, never a trust
 * anchor: the verifier checks each of its documents up to the pinned
 * roots at every use.
 *
 * Never: import or use a bundle without a verified signature by an enabled
 * admin; hold the signing key beyond the call.
 */
#ifndef SEALTRAIN_COLLATERAL_H
#define SEALTRAIN_COLLATERAL_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/attest.h"
#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_workspace st_workspace;

#define ST_COLLATERAL_DSSE_TYPE                                                \
    "application/vnd.sealtrain.collateral-bundle+json"
/* `check` warns about bundles that go stale within this many seconds. */
#define ST_COLLATERAL_WARN_SECONDS (7 * 86400)

typedef struct st_collateral_entry {
    char digest[65];      /* sha256 of the bundle's canonical JSON */
    char signer[64];      /* the admin whose key signed it */
    char imported_by[64]; /* who imported it */
    char imported_at[32]; /* RFC 3339 */
    int64_t documents;
    int64_t stale_at;    /* earliest nextUpdate/notAfter, 0: none */
    char stale_doc[320]; /* which document that is */
} st_collateral_entry;

/* Imports `text` (from `origin`): a bundle, which `seed` (the acting
 * principal's Ed25519 key) signs, or a DSSE envelope of one already signed
 * by a principal (seed unused). The signer must be an enabled principal
 * allowed "attest.collateral" (an admin); the caller has checked that
 * `actor` may act. ST_E_DENIED for a signature that does not verify or a
 * signer that may not; ST_E_EXISTS when the same bundle is already in. */
ST_MUST_CHECK st_code st_collateral_import(st_workspace *ws, const char *actor,
                                           const char *text, size_t len,
                                           const char *origin,
                                           const uint8_t *seed,
                                           st_collateral_entry *out,
                                           st_err *err);
/* Every imported bundle (as recorded; not verified). *out malloc'ed. */
ST_MUST_CHECK st_code st_collateral_list(st_workspace *ws,
                                         st_collateral_entry **out, size_t *n,
                                         st_err *err);
/* One bundle by digest or unique digest prefix (at least 8 hex digits),
 * verified as the top of this file says. */
ST_MUST_CHECK st_code st_collateral_get(st_workspace *ws, const char *digest,
                                        st_collateral_entry *meta,
                                        st_collateral_bundle **out,
                                        st_err *err);
/* Every bundle, verified (for st_attest_refs.bundles). *out malloc'ed;
 * free with st_collateral_free_all. */
ST_MUST_CHECK st_code st_collateral_load_all(st_workspace *ws,
                                             st_collateral_bundle ***out,
                                             size_t *n, st_err *err);
void st_collateral_free_all(st_collateral_bundle **b, size_t n);
/* Removes a bundle (audited, same transaction), then its file. */
ST_MUST_CHECK st_code st_collateral_rm(st_workspace *ws, const char *actor,
                                       const char *digest, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
