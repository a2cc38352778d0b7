/*
 * attest_internal.h: the plug-in interface between the verifier framework
 * (verify.c) and the per-TEE verifiers (sim.c, tpm_verify.c, snp.c, az.c,
 * dcap*.c). Private to src/attest.
 *
 * A TEE verifier checks the cryptography of one piece of evidence and fills
 * the normalised claims; it appends one trace entry per check. It returns
 *   ST_OK       the evidence was parsed (checks may have failed: the trace
 *               says so and the framework turns that into a failing verdict)
 *   ST_E_INPUT  the evidence is malformed (err names the part and offset)
 *   other       a system failure
 * The framework then compares report data, applies the policy and sets the
 * verdict. A verifier must never read the clock: use ctx->now.
 */
#ifndef ST_ATTEST_INTERNAL_H
#define ST_ATTEST_INTERNAL_H

#include "sealtrain/attest.h"
#include "sealtrain/bytes.h"
#include "sealtrain/err.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct st_attest_ctx {
    const st_evidence *ev;
    const uint8_t *report_data; /* expected, or NULL */
    const st_attest_refs *refs; /* never NULL (defaults filled in) */
    const char *data_dir;       /* refs->data_dir or the built-in one */
    int64_t now;
    st_trace *trace;
    st_claims *claims;
} st_attest_ctx;

typedef st_code (*st_attest_verify_fn)(st_attest_ctx *ctx, st_err *err);
typedef st_code (*st_attest_show_fn)(const st_evidence *ev, json_t *out,
                                     st_err *err);

/* Per-TEE verifiers (one line each in verify.c's table). */
ST_MUST_CHECK st_code st_attest_sim_verify(st_attest_ctx *ctx, st_err *err);
ST_MUST_CHECK st_code st_attest_sim_show(const st_evidence *ev, json_t *out,
                                         st_err *err);
ST_MUST_CHECK st_code st_attest_tpm_verify(st_attest_ctx *ctx, st_err *err);
ST_MUST_CHECK st_code st_attest_tpm_show(const st_evidence *ev, json_t *out,
                                         st_err *err);
ST_MUST_CHECK st_code st_attest_snp_verify(st_attest_ctx *ctx, st_err *err);
ST_MUST_CHECK st_code st_attest_snp_show(const st_evidence *ev, json_t *out,
                                         st_err *err);
ST_MUST_CHECK st_code st_attest_az_verify(st_attest_ctx *ctx, st_err *err);
ST_MUST_CHECK st_code st_attest_az_show(const st_evidence *ev, json_t *out,
                                        st_err *err);
ST_MUST_CHECK st_code st_attest_tdx_verify(st_attest_ctx *ctx, st_err *err);
ST_MUST_CHECK st_code st_attest_tdx_show(const st_evidence *ev, json_t *out,
                                         st_err *err);
ST_MUST_CHECK st_code st_attest_sgx_verify(st_attest_ctx *ctx, st_err *err);
ST_MUST_CHECK st_code st_attest_sgx_show(const st_evidence *ev, json_t *out,
                                         st_err *err);

ST_MUST_CHECK st_code st_attest_az_tdx_verify(st_attest_ctx *ctx, st_err *err);
ST_MUST_CHECK st_code st_attest_az_tdx_show(const st_evidence *ev, json_t *out,
                                            st_err *err);

/* The SNP report (ST_SNP_REPORT_LEN bytes, inside the evidence's part)
 * of az-snp-vtpm evidence's HCL report (az.c). */
ST_MUST_CHECK st_code st_attest_az_snp_report(const st_evidence *ev,
                                              const uint8_t **hw, st_err *err);

/* The DCAP quote in part `qpart` verified as `tee` (ST_TEE_TDX/SGX) with the
 * evidence's collateral parts, trace entries "<tee>.*", claims filled from
 * the quote (dcap_attest.c); az-tdx-vtpm passes its "td_quote". */
ST_MUST_CHECK st_code st_attest_dcap_verify_part(st_attest_ctx *ctx, st_tee tee,
                                                 const char *qpart,
                                                 st_err *err);
ST_MUST_CHECK st_code st_attest_dcap_show_part(const st_evidence *ev,
                                               st_tee tee, const char *qpart,
                                               json_t *out, st_err *err);

/* Offline collateral (collateral.c): when ctx->refs holds bundles and the
 * evidence lacks collateral parts, *out is a copy of the evidence with the
 * matching bundle documents added (a "collateral.<part>" trace entry
 * naming each), else NULL. ST_E_INPUT when SNP evidence has no VCEK/VLEK
 * and no bundle has one for its chip and TCB. */
ST_MUST_CHECK st_code st_attest_collateral_fill(st_attest_ctx *ctx,
                                                st_evidence **out, st_err *err);

/* Applies the policy (NULL: the built-in default) to the claims (policy.c). */
void st_attest_policy_apply(const st_attest_policy *p, const st_claims *c,
                            int report_data_given, int64_t now, st_trace *t);

/* A required evidence part, or ST_E_INPUT "<tee> evidence: missing part
 * \"name\"". */
ST_MUST_CHECK st_code st_attest_need_part(const st_evidence *ev,
                                          const char *name,
                                          const uint8_t **data, size_t *len,
                                          st_err *err);

/* Helpers shared by the verifiers. */
void st_attest_hex(const uint8_t *in, size_t n, char *out); /* 2n+1 */
/* json object helpers that ignore allocation failure (claims are
 * best-effort display; the trace is the source of truth) */
void st_attest_json_hex(json_t *obj, const char *key, const uint8_t *b,
                        size_t n);
void st_attest_json_u64(json_t *obj, const char *key, uint64_t v);
/* Sets claims->report_data from 64 bytes. */
void st_attest_claim_report_data(st_claims *c, const uint8_t rd[64]);

/* X.509 / keys (attest_x509.c) */
X509 *st_attest_x509_parse(const uint8_t *der_or_pem, size_t len,
                           const char *what, st_err *err);
/* All certificates of a PEM bundle (or one DER cert) in order. */
STACK_OF(X509) * st_attest_x509_parse_all(const uint8_t *data, size_t len,
                                          const char *what, st_err *err);
EVP_PKEY *st_attest_pubkey_parse(const uint8_t *data, size_t len,
                                 const char *what, st_err *err);
/* 1 if `cert` was signed by `issuer_key` (any algorithm incl. RSA-PSS). */
int st_attest_x509_signed_by(X509 *cert, EVP_PKEY *issuer_key);
/* ok when not_before <= now <= not_after; writes "from A to B" to `win`. */
int st_attest_x509_valid_at(X509 *cert, int64_t now, char *win, size_t cap);
/* One trace entry for a certificate's validity at `now`: "valid at T:
 * valid from A to B" or "not valid at T: valid from A to B". Returns ok. */
int st_attest_trace_validity(st_trace *t, const char *claim, X509 *cert,
                             int64_t now);
/* SHA-256 of the DER, hex. */
void st_attest_x509_fingerprint(X509 *cert, char out[65]);
/* The CN of the subject, or "" */
void st_attest_x509_cn(X509 *cert, char *out, size_t cap);
/* A CRL, DER or PEM (nothing after the DER); NULL when it is not one. */
X509_CRL *st_attest_crl_parse(const uint8_t *data, size_t len);
/* Unix seconds of an ASN.1 time; INT64_MIN for NULL or unreadable. */
int64_t st_attest_asn1_unix(const ASN1_TIME *t);
/* ISO 8601 UTC for a unix time. */
void st_attest_time_str(int64_t t, char out[32]);

/* ---- configfs-tsm (Linux Documentation/ABI/testing/configfs-tsm), tsm.c ----
 * One report request inside an existing entry directory: write the 64
 * bytes of report data to "inblob", check "provider", read "outblob" (at
 * most max_out bytes; empty is an error) and, when want_aux, "auxblob" if
 * present, between two reads of "generation" (a change means a concurrent
 * writer and the blobs may not be ours). Blobs are malloc'ed. */
typedef struct st_tsm_blobs {
    uint8_t *out;
    size_t outlen;
    uint8_t *aux;
    size_t auxlen;
} st_tsm_blobs;
ST_MUST_CHECK st_code st_tsm_entry_request(const char *entry,
                                           const char *provider,
                                           const uint8_t report_data[64],
                                           size_t max_out, int want_aux,
                                           st_tsm_blobs *b, st_err *err);
/* The same under `root`: creates a unique entry, requests, removes it. */
ST_MUST_CHECK st_code st_tsm_request(const char *root, const char *provider,
                                     const uint8_t report_data[64],
                                     size_t max_out, int want_aux,
                                     st_tsm_blobs *b, st_err *err);
void st_tsm_blobs_free(st_tsm_blobs *b);

/* An Ed25519 private key kept as a PKCS#8 PEM file (0600), created when
 * missing and `create`; errors are prefixed with `what` and the path. */
ST_MUST_CHECK st_code st_attest_key_file(const char *path, int create,
                                         const char *what, uint8_t seed[32],
                                         uint8_t pub[32], st_err *err);

#endif
