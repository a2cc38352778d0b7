/*
 * tpm.h: TPM 2.0 quote structures shared by the TPM verifier
 * (tpm_verify.c), the Azure vTPM verifier (az.c) and the TPM backend
 * (tpm.c). Private to src/attest. Spec references in tpm_verify.c.
 */
#ifndef ST_ATTEST_TPM_H
#define ST_ATTEST_TPM_H

#include "attest_internal.h"

#define ST_TPM_GENERATED 0xff544347u
#define ST_TPM_ST_ATTEST_QUOTE 0x8018
#define ST_TPM_ALG_SHA1 0x0004
#define ST_TPM_ALG_SHA256 0x000B
#define ST_TPM_ALG_SHA384 0x000C
#define ST_TPM_ALG_SHA512 0x000D
#define ST_TPM_ALG_RSASSA 0x0014
#define ST_TPM_ALG_RSAPSS 0x0016
#define ST_TPM_ALG_ECDSA 0x0018
#define ST_TPM_MAX_BANKS 4
#define ST_TPM_MAX_PCRS 24

typedef struct st_tpm_pcr_bank {
    uint16_t hash;
    uint8_t size_of_select;
    uint8_t select[4]; /* bitmap: PCR i is bit (i % 8) of byte i / 8 */
} st_tpm_pcr_bank;

typedef struct st_tpms_attest {
    const uint8_t *raw; /* the signed bytes (borrowed) */
    size_t raw_len;
    uint32_t magic;
    uint16_t type;
    uint8_t signer[68];
    size_t signer_len;
    uint8_t extra[64];
    size_t extra_len;
    uint64_t clock;
    uint32_t reset_count, restart_count;
    uint8_t safe;
    uint64_t firmware;
    st_tpm_pcr_bank banks[ST_TPM_MAX_BANKS];
    uint32_t nbanks;
    uint8_t pcr_digest[64];
    size_t pcr_digest_len;
} st_tpms_attest;

/* TPMT_SIGNATURE (or a raw signature, see st_tpm_sig_verify). */
typedef struct st_tpmt_signature {
    uint16_t alg, hash;
    uint8_t sig[512]; /* RSA signature, or r */
    size_t sig_len;
    uint8_t s[72]; /* ECDSA s */
    size_t s_len;
} st_tpmt_signature;

/* PCR values of one quote: values[bank][pcr] with `have` flags. */
typedef struct st_tpm_pcrs {
    uint16_t bank_hash[ST_TPM_MAX_BANKS];
    uint8_t value[ST_TPM_MAX_BANKS][ST_TPM_MAX_PCRS][64];
    uint8_t have[ST_TPM_MAX_BANKS][ST_TPM_MAX_PCRS];
    int nbanks;
} st_tpm_pcrs;

/* Parses a TPMS_ATTEST of type quote; every byte must be consumed. */
ST_MUST_CHECK st_code st_tpms_attest_parse(const uint8_t *d, size_t n,
                                           st_tpms_attest *a, st_err *err);
/* Parses a TPMT_SIGNATURE; ST_E_INPUT if `d` is not exactly one. */
ST_MUST_CHECK st_code st_tpmt_signature_parse(const uint8_t *d, size_t n,
                                              st_tpmt_signature *s,
                                              st_err *err);
/* An AK from PEM/DER SubjectPublicKeyInfo or TPM2B_PUBLIC. */
EVP_PKEY *st_tpm_ak_parse(const uint8_t *d, size_t n, st_err *err);
/* TPM2B_PUBLIC (RSA or ECC) to an OpenSSL key. */
EVP_PKEY *st_tpm2b_public_to_pkey(const uint8_t *d, size_t n, st_err *err);
/* Verifies `sig` (a TPMT_SIGNATURE, or a raw RSASSA-SHA256 signature of
 * the key's size, or a DER ECDSA-SHA256 signature) over `a->raw`. Writes a
 * description of what was checked to `what`. */
int st_tpm_sig_verify(const st_tpms_attest *a, const uint8_t *sig,
                      size_t siglen, EVP_PKEY *key, char *what, size_t cap);
/* PCR values from text ("[bank:]INDEX HEX" lines, bank default sha256) or
 * from tpm2_quote's binary "values" output in the quote's selection order. */
ST_MUST_CHECK st_code st_tpm_pcrs_parse(const uint8_t *d, size_t n,
                                        const st_tpms_attest *a,
                                        st_tpm_pcrs *out, st_err *err);
/* Hash name and size for a TPM hash algorithm (NULL/0 if unsupported). */
const char *st_tpm_hash_name(uint16_t alg, size_t *size);
/* Recomputes the composite digest over the selected PCRs (hash of the
 * concatenated values, in the quote's hash alg = pcrDigest size); 0 when a
 * selected value is missing (`missing` names it). */
int st_tpm_pcr_composite(const st_tpms_attest *a, const st_tpm_pcrs *p,
                         uint8_t out[64], size_t *outlen, char *missing,
                         size_t cap);
/* Trace entries "<prefix>.quote.*", "<prefix>.signature",
 * "<prefix>.pcr_digest" for a quote verified with `key`; fields into
 * claims->fields. `pcrs` may be NULL (no values supplied). */
void st_tpm_check_quote(st_attest_ctx *ctx, const char *prefix,
                        const st_tpms_attest *a, const uint8_t *sig,
                        size_t siglen, EVP_PKEY *key, const st_tpm_pcrs *pcrs);
/* Every field of the quote into `o`. */
void st_tpm_attest_fields(const st_tpms_attest *a, json_t *o);

#endif
