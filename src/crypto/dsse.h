/*
 * crypto/dsse.h: DSSE envelopes (secure-systems-lab/dsse, protocol v1)
 * signed with Ed25519.
 *
 *   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
 *
 * LEN is the ASCII decimal byte length. The envelope is JSON:
 *   {"payload": base64(body), "payloadType": type,
 *    "signatures": [{"keyid": KEYID, "sig": base64(Ed25519(PAE))}]}
 * with standard, padded base64. A key id is the lowercase hex SHA-256 of
 * the raw 32-byte Ed25519 public key.
 *
 * Not public: the CLI uses none of it; the modules of src/ that need it
 * include it as "crypto/dsse.h".
 */
#ifndef ST_CRYPTO_DSSE_H
#define ST_CRYPTO_DSSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h" /* ST_KEYID_LEN */
#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Payload types used by sealtrain. */
#define ST_DSSE_TYPE_MANIFEST "application/vnd.sealtrain.dataset-manifest+json"
#define ST_DSSE_TYPE_JOBSPEC "application/vnd.sealtrain.job-spec+json"
#define ST_DSSE_TYPE_DECISION "application/vnd.sealtrain.release-decision+json"
#define ST_DSSE_TYPE_INTOTO "application/vnd.in-toto+json"

void st_dsse_keyid(const uint8_t pub[32], char out[ST_KEYID_LEN + 1]);

/* The pre-authentication encoding, appended to `out`. */
ST_MUST_CHECK st_code st_dsse_pae(const char *type, const uint8_t *payload,
                                  size_t len, st_buf *out, st_err *err);

/* A new envelope with one signature by `seed` (its public key gives the
 * key id). */
json_t *st_dsse_sign(const char *type, const uint8_t *payload, size_t len,
                     const uint8_t seed[32], st_err *err);

/* Adds another signature to an existing envelope. */
ST_MUST_CHECK st_code st_dsse_add_signature(json_t *env, const uint8_t seed[32],
                                            st_err *err);

/* Verifies `env` (untrusted): its structure, its payload type (must equal
 * `type` when not NULL), and that at least one signature is valid under one
 * of the `n` public keys in `pubs`. On success the decoded payload is
 * returned in *payload (malloc'ed, NUL-terminated) and the index of the
 * key that verified in *which (may be NULL). A malformed envelope is
 * ST_E_INPUT; no valid signature is ST_E_DENIED. */
ST_MUST_CHECK st_code st_dsse_verify(const json_t *env, const char *type,
                                     const uint8_t (*pubs)[32], size_t n,
                                     uint8_t **payload, size_t *len,
                                     size_t *which, st_err *err);

/* Envelopes already verified, by their text. The same signed documents
 * (a manifest, a release policy, a job spec) are read from the catalog
 * and verified again at every use; parsing the envelope was most of that
 * cost. st_dsse_remember records that `text` (the envelope exactly as
 * stored) verified under `pubs` with payload type `type`, `which` being
 * the key that did; st_dsse_remembered returns 1 and a fresh copy of the
 * payload (malloc'ed, NUL-terminated) when the same text, type and keys
 * were recorded, else 0 (the caller then verifies as usual). Only
 * successes are kept, in a fixed-size table, whatever the thread. */
int st_dsse_remembered(const char *text, size_t len, const char *type,
                       const uint8_t (*pubs)[32], size_t n, uint8_t **payload,
                       size_t *plen, size_t *which);
void st_dsse_remember(const char *text, size_t len, const char *type,
                      const uint8_t (*pubs)[32], size_t n,
                      const uint8_t *payload, size_t plen, size_t which);

/* Decodes the payload without checking any signature (for display). */
ST_MUST_CHECK st_code st_dsse_payload(const json_t *env, uint8_t **payload,
                                      size_t *len, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
