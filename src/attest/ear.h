/*
 * ear.h (src/attest): the gate's side of EAR attestation results (ear.c,
 * draft-ietf-rats-ear): a verdict's claims, a signer kept for many
 * verdicts, verification and the key's id. What a client calls
 * (st_ear_encode, the verifier key) is in sealtrain/attest.h.
 */
#ifndef SEALTRAIN_ATTEST_EAR_H
#define SEALTRAIN_ATTEST_EAR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/attest.h"
#include "sealtrain/bytes.h"
#include "sealtrain/err.h"

/* The EAR claims of a verdict (see ear.c for the names). */
json_t *st_ear_claims(const st_verdict *v, const st_ear_inputs *in);
/* st_ear_encode for many verdicts (a broker): the key is expanded once (an
 * OpenSSL key, wiped by st_ear_signer_free), its kid derived once. */
typedef struct st_ear_signer {
    void *key; /* EVP_PKEY */
    uint8_t pub[32];
    char kid[44];
} st_ear_signer;
ST_MUST_CHECK st_code st_ear_signer_init(st_ear_signer *s, const uint8_t *seed,
                                         st_err *err);
void st_ear_signer_free(st_ear_signer *s); /* accepts NULL */
ST_MUST_CHECK st_code st_ear_sign(const st_ear_signer *s, const st_verdict *v,
                                  const st_ear_inputs *in, char **out,
                                  st_err *err);
/* Checks an EAR's signature with `pub` (EdDSA only) and returns its claims.
 * ST_E_DENIED for a bad signature, ST_E_INPUT for a malformed token. */
ST_MUST_CHECK st_code st_ear_verify(const char *jwt, size_t len,
                                    const uint8_t pub[32], json_t **claims,
                                    st_err *err);
/* RFC 7638 thumbprint of the public key, base64url (43 chars + NUL). */
void st_ear_key_id(const uint8_t pub[32], char out[44]);
/* SHA-256 over the evidence's collateral parts (certificates, chains, TCB
 * Info, QE Identity, CRLs): 0 when it carries none. */
int st_evidence_collateral_digest(const st_evidence *ev, uint8_t out[32]);

#endif
