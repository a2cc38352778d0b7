/*
 * tpm.c: the `tpm` evidence backend through tpm2-tss ESAPI.
 *
 * One call does, on the TPM named by the TCTI string:
 *   1. PCR_Reset of the application PCR (sha256 PCR 23, resettable at
 *      locality 0) and one PCR_Extend per measured item (the runtime
 *      binary, the job spec, the dataset manifests), in order; the same
 *      items form the measurement log the verifier replays;
 *   2. CreatePrimary under the endorsement hierarchy of an ECC P-256
 *      restricted signing key with ECDSA-SHA256 (the attestation key, AK).
 *      A primary is derived from the hierarchy seed and the template, so
 *      the same TPM always yields the same AK: its public key can be
 *      pinned by the verifier;
 *   3. PCR_Read of the quoted selection: sha256 PCRs 0-7 (firmware and boot
 *      state) and 23;
 *   4. Quote over that selection with SHA-256(report data) as qualifying
 *      data (TPM2B_DATA cannot hold 64 bytes on TPMs without SHA-512);
 *   5. FlushContext of the AK: without a resource manager transient
 *      objects would fill the TPM.
 * Spec: TCG TPM 2.0 Library Part 3, 22.2 PCR_Extend, 22.8 PCR_Reset, 24.1
 * CreatePrimary, 18.4 Quote; TCG ESAPI specification.
 *
 * Evidence parts: "quote" (TPMS_ATTEST), "signature" (TPMT_SIGNATURE),
 * "ak" (SPKI PEM), "ak_public" (TPM2B_PUBLIC), "pcrs" (text "INDEX HEX"),
 * "log" (JSON), "report_data" (64 bytes).
 *
 * Never: leave a transient object loaded; treat the AK as trusted (the
 * verifier pins it).
 */
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "sealtrain/crypto.h"
#include "sealtrain/json.h"
#include "tpm.h"

static const uint8_t quoted_pcrs[] = {0, 1, 2, 3, 4, 5, 6, 7, ST_TPM_APP_PCR};

static ST_MUST_CHECK st_code tss_fail(st_err *err, const char *what, TSS2_RC rc)
{
    return st_err_set(err, ST_E_IO, "tpm: %s: %s", what, Tss2_RC_Decode(rc));
}

static void selection(TPML_PCR_SELECTION *sel)
{
    memset(sel, 0, sizeof(*sel));
    sel->count = 1;
    sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel->pcrSelections[0].sizeofSelect = 3;
    for (size_t i = 0; i < sizeof(quoted_pcrs); i++)
        sel->pcrSelections[0].pcrSelect[quoted_pcrs[i] / 8] |=
            (uint8_t)(1u << (quoted_pcrs[i] % 8));
}

static ST_MUST_CHECK st_code extend(ESYS_CONTEXT *ctx,
                                    const st_measure_item *items, size_t n,
                                    st_err *err)
{
    ESYS_TR pcr = ESYS_TR_PCR0 + ST_TPM_APP_PCR;
    TSS2_RC rc =
        Esys_PCR_Reset(ctx, pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(err, "PCR_Reset of PCR 23", rc);
    for (size_t i = 0; i < n; i++) {
        TPML_DIGEST_VALUES d = {.count = 1};
        d.digests[0].hashAlg = TPM2_ALG_SHA256;
        memcpy(d.digests[0].digest.sha256, items[i].sha256, 32);
        rc = Esys_PCR_Extend(ctx, pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                             ESYS_TR_NONE, &d);
        if (rc != TSS2_RC_SUCCESS)
            return tss_fail(err, "PCR_Extend of PCR 23", rc);
    }
    return ST_OK;
}

/* Reads every PCR of the selection (the TPM returns at most 8 per call). */
static ST_MUST_CHECK st_code read_pcrs(ESYS_CONTEXT *ctx,
                                       uint8_t values[24][32], st_err *err)
{
    TPML_PCR_SELECTION want;
    selection(&want);
    for (int round = 0; round < 8; round++) {
        uint8_t *sel = want.pcrSelections[0].pcrSelect;
        if (!sel[0] && !sel[1] && !sel[2])
            return ST_OK;
        UINT32 counter;
        TPML_PCR_SELECTION *got = NULL;
        TPML_DIGEST *dig = NULL;
        TSS2_RC rc = Esys_PCR_Read(ctx, ESYS_TR_NONE, ESYS_TR_NONE,
                                   ESYS_TR_NONE, &want, &counter, &got, &dig);
        if (rc != TSS2_RC_SUCCESS)
            return tss_fail(err, "PCR_Read", rc);
        UINT32 k = 0;
        for (int pcr = 0; pcr < 24 && got->count; pcr++) {
            uint8_t *gs = got->pcrSelections[0].pcrSelect;
            if (!(gs[pcr / 8] >> (pcr % 8) & 1))
                continue;
            if (k < dig->count && dig->digests[k].size == 32)
                memcpy(values[pcr], dig->digests[k].buffer, 32);
            k++;
            sel[pcr / 8] &= (uint8_t) ~(1u << (pcr % 8));
        }
        int none = got->count == 0 || k == 0;
        Esys_Free(got);
        Esys_Free(dig);
        if (none)
            return st_err_set(err, ST_E_IO,
                              "tpm: PCR_Read returned no sha256 values (is "
                              "the sha256 bank allocated?)");
    }
    return st_err_set(err, ST_E_IO, "tpm: PCR_Read did not converge");
}

static ST_MUST_CHECK st_code create_ak(ESYS_CONTEXT *ctx, ESYS_TR *ak,
                                       TPM2B_PUBLIC **pub, st_err *err)
{
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_PUBLIC tmpl = {0};
    TPMT_PUBLIC *p = &tmpl.publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
                          TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN |
                          TPMA_OBJECT_USERWITHAUTH;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation_pcr = {0};
    TPM2B_CREATION_DATA *cd = NULL;
    TPM2B_DIGEST *ch = NULL;
    TPMT_TK_CREATION *ct = NULL;
    TSS2_RC rc =
        Esys_CreatePrimary(ctx, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
                           ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
                           &creation_pcr, ak, pub, &cd, &ch, &ct);
    Esys_Free(cd);
    Esys_Free(ch);
    Esys_Free(ct);
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(err, "CreatePrimary of the attestation key", rc);
    return ST_OK;
}

static ST_MUST_CHECK st_code ak_pem(const TPM2B_PUBLIC *pub, st_buf *raw,
                                    char **pem, st_err *err)
{
    uint8_t buf[sizeof(TPM2B_PUBLIC)];
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off);
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(err, "marshalling the AK public area", rc);
    st_code sc = st_buf_append(raw, buf, off, err);
    if (sc != ST_OK)
        return sc;
    EVP_PKEY *k = st_tpm2b_public_to_pkey(buf, off, err);
    if (!k)
        return ST_E_INTERNAL;
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    if (b && PEM_write_bio_PUBKEY(b, k) == 1)
        n = BIO_get_mem_data(b, &data);
    *pem = n > 0 ? strndup(data, (size_t)n) : NULL;
    BIO_free(b);
    EVP_PKEY_free(k);
    if (!*pem)
        return st_err_openssl(err, ST_E_INTERNAL, "tpm: AK to PEM");
    return ST_OK;
}

static char *log_json(const st_measure_item *items, size_t n, st_err *err)
{
    json_t *entries = json_array();
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        st_hex_encode(items[i].sha256, 32, hex);
        json_array_append_new(
            entries,
            json_pack("{s:s, s:s, s:s}", "type", items[i].type, "name",
                      items[i].name ? items[i].name : "", "sha256", hex));
    }
    json_t *root = json_pack("{s:s, s:i, s:o}", "bank", "sha256", "pcr",
                             ST_TPM_APP_PCR, "entries", entries);
    char *s = root ? st_json_canonical(root, NULL, err) : NULL;
    json_decref(root);
    return s;
}

st_code st_attest_tpm_evidence(const char *tcti,
                               const uint8_t report_data[ST_REPORT_DATA_LEN],
                               const st_measure_item *items, size_t nitems,
                               st_evidence **out, st_err *err)
{
    *out = NULL;
    if (!tcti)
        tcti = getenv("SEALTRAIN_TPM_TCTI");
    if (!tcti || !*tcti)
        return st_err_set(err, ST_E_USAGE,
                          "tpm: no TPM named: set SEALTRAIN_TPM_TCTI (e.g. "
                          "swtpm:host=127.0.0.1,port=2321 or device:/dev/"
                          "tpm0)");
    TSS2_TCTI_CONTEXT *tctx = NULL;
    ESYS_CONTEXT *ctx = NULL;
    ESYS_TR ak = ESYS_TR_NONE;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *sig = NULL;
    st_evidence *ev = NULL;
    char *pem = NULL, *log = NULL;
    st_buf raw, pcrtext;
    st_buf_init(&raw);
    st_buf_init(&pcrtext);
    uint8_t values[24][32];
    memset(values, 0, sizeof(values));
    st_code sc = ST_OK;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &tctx);
    if (rc != TSS2_RC_SUCCESS) {
        sc = tss_fail(err, "opening the TCTI", rc);
        st_err_prefix(err, "%s", tcti);
        goto out;
    }
    if ((rc = Esys_Initialize(&ctx, tctx, NULL)) != TSS2_RC_SUCCESS) {
        sc = tss_fail(err, "Esys_Initialize", rc);
        goto out;
    }
    /* a TPM that was not started answers TPM2_RC_INITIALIZE: start it */
    rc = Esys_Startup(ctx, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && (rc & 0xFFF) != TPM2_RC_INITIALIZE) {
        sc = tss_fail(err, "Startup", rc);
        goto out;
    }
    if ((sc = extend(ctx, items, nitems, err)) != ST_OK ||
        (sc = create_ak(ctx, &ak, &pub, err)) != ST_OK ||
        (sc = read_pcrs(ctx, values, err)) != ST_OK)
        goto out;
    TPM2B_DATA qd = {.size = 32};
    st_sha256(report_data, 64, qd.buffer);
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
    TPML_PCR_SELECTION sel;
    selection(&sel);
    rc = Esys_Quote(ctx, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd,
                    &scheme, &sel, &quoted, &sig);
    if (rc != TSS2_RC_SUCCESS) {
        sc = tss_fail(err, "Quote", rc);
        goto out;
    }
    uint8_t sbuf[sizeof(TPMT_SIGNATURE)];
    size_t soff = 0;
    if ((rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sbuf, sizeof(sbuf), &soff)) !=
        TSS2_RC_SUCCESS) {
        sc = tss_fail(err, "marshalling the signature", rc);
        goto out;
    }
    if ((sc = ak_pem(pub, &raw, &pem, err)) != ST_OK)
        goto out;
    for (size_t i = 0; i < sizeof(quoted_pcrs) && sc == ST_OK; i++) {
        char hex[65];
        st_hex_encode(values[quoted_pcrs[i]], 32, hex);
        sc = st_buf_printf(&pcrtext, err, "%u %s\n", quoted_pcrs[i], hex);
    }
    if (sc == ST_OK && !(log = log_json(items, nitems, err)))
        sc = ST_E_INTERNAL;
    if (sc == ST_OK && !(ev = st_evidence_new(ST_TEE_TPM, err)))
        sc = ST_E_IO;
    if (sc == ST_OK)
        sc = st_evidence_set(ev, "quote", quoted->attestationData, quoted->size,
                             err);
    if (sc == ST_OK)
        sc = st_evidence_set(ev, "signature", sbuf, soff, err);
    if (sc == ST_OK)
        sc = st_evidence_set(ev, "ak", pem, strlen(pem), err);
    if (sc == ST_OK)
        sc = st_evidence_set(ev, "ak_public", raw.data, raw.len, err);
    if (sc == ST_OK)
        sc = st_evidence_set(ev, "pcrs", pcrtext.data, pcrtext.len, err);
    if (sc == ST_OK)
        sc = st_evidence_set(ev, "log", log, strlen(log), err);
    if (sc == ST_OK)
        sc = st_evidence_set(ev, "report_data", report_data, 64, err);
out:
    if (ak != ESYS_TR_NONE && ctx) {
        TSS2_RC frc = Esys_FlushContext(ctx, ak);
        if (frc != TSS2_RC_SUCCESS && sc == ST_OK)
            sc = tss_fail(err, "FlushContext of the attestation key", frc);
    }
    Esys_Free(pub);
    Esys_Free(quoted);
    Esys_Free(sig);
    if (ctx)
        Esys_Finalize(&ctx);
    if (tctx)
        Tss2_TctiLdr_Finalize(&tctx);
    free(pem);
    free(log);
    st_buf_free(&raw);
    st_buf_free(&pcrtext);
    if (sc != ST_OK) {
        st_evidence_free(ev);
        return sc;
    }
    *out = ev;
    return ST_OK;
}
