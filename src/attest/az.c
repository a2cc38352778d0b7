/*
 * az.c: Azure confidential VM evidence (tee "az-snp-vtpm"): the HCL report
 * with its SEV-SNP hardware report, the runtime data (JSON holding the
 * vTPM attestation key as a JWK), and a vTPM quote signed by that key.
 *
 * HCL report layout (Azure "IGVM_REQUEST_DATA" / HCL attestation report):
 *   0x000 header: "HCLA", version u32, report_size u32, request_type u32,
 *         status u32, reserved[3] (32 bytes)
 *   0x020 hardware report (1184 bytes; an SNP ATTESTATION_REPORT)
 *   0x4C0 runtime data header: data_size u32, version u32, report_type u32
 *         (2 = SNP, 4 = TDX), hash_type u32 (1 SHA-256, 2 SHA-384, 3
 *         SHA-512), var_size u32
 *   0x4D4 var data (var_size bytes of JSON)
 * Little endian. The chain of trust: VCEK -> SNP report; SNP report_data
 * [0..hash) = H(var data); var data "keys" -> HCLAkPub (RSA JWK); the vTPM
 * quote verified with HCLAkPub; its extraData is the verifier's nonce.
 *
 * Evidence parts: "hcl_report", "vcek" (PEM or DER; "chain" optional),
 * "quote" (TPMS_ATTEST), "signature", "pcrs" (optional).
 *
 * Never: use the AK before the SNP report that vouches for it has passed;
 * accept a report type other than SNP here.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/crypto.h"
#include "sealtrain/json.h"
#include "snp.h"
#include "tpm.h"

#define HCL_HW_OFF 0x20
#define HCL_RT_OFF (HCL_HW_OFF + ST_SNP_REPORT_LEN)
#define HCL_VAR_OFF (HCL_RT_OFF + 20)

typedef struct st_hcl_report {
    uint32_t version, report_size, request_type, status;
    uint32_t data_size, rt_version, report_type, hash_type, var_size;
    const uint8_t *hw; /* 1184 bytes */
    const uint8_t *var;
} st_hcl_report;

static ST_MUST_CHECK st_code st_hcl_parse(const uint8_t *d, size_t n,
                                          st_hcl_report *h, st_err *err)
{
    const char *w = "az-snp-vtpm evidence: part \"hcl_report\"";
    st_reader r;
    memset(h, 0, sizeof(*h));
    st_reader_init(&r, d, n);
    const uint8_t *magic = st_read_view(&r, 4);
    if (!magic || memcmp(magic, "HCLA", 4) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset 0: signature is not \"HCLA\"", w);
    h->version = st_read_u32le(&r);
    h->report_size = st_read_u32le(&r);
    h->request_type = st_read_u32le(&r);
    h->status = st_read_u32le(&r);
    st_read_skip(&r, 12);
    h->hw = st_read_view(&r, ST_SNP_REPORT_LEN);
    h->data_size = st_read_u32le(&r);
    h->rt_version = st_read_u32le(&r);
    h->report_type = st_read_u32le(&r);
    h->hash_type = st_read_u32le(&r);
    h->var_size = st_read_u32le(&r);
    if (r.failed)
        return st_err_set(err, ST_E_INPUT, "%s: truncated (%zu bytes)", w, n);
    if (h->report_type != 2)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset 0x%x: report type %u is not SNP (2)", w,
                          HCL_RT_OFF + 8, h->report_type);
    if (h->hash_type < 1 || h->hash_type > 3)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset 0x%x: hash type %u unknown", w,
                          HCL_RT_OFF + 12, h->hash_type);
    if (h->data_size != 20 + (uint64_t)h->var_size)
        return st_err_set(err, ST_E_INPUT,
                          "%s: runtime data size %u does not match var size "
                          "%u",
                          w, h->data_size, h->var_size);
    h->var = st_read_view(&r, h->var_size);
    if (!h->var)
        return st_err_set(err, ST_E_INPUT,
                          "%s: var data of %u bytes runs past the end", w,
                          h->var_size);
    if (h->report_size != HCL_VAR_OFF + h->var_size)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset 8: report size %u, layout gives %u", w,
                          h->report_size, HCL_VAR_OFF + h->var_size);
    return ST_OK;
}

/* base64url (RFC 7515 appendix C: no padding) through the strict decoder */
static ST_MUST_CHECK st_code b64url(const char *s, uint8_t **out, size_t *len,
                                    st_err *err)
{
    size_t n = strlen(s);
    char *t = malloc(n + 1);
    if (!t)
        return st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; i <= n; i++)
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    st_code rc = st_base64_decode(t, n, 0, out, len, err);
    free(t);
    return rc;
}

static EVP_PKEY *jwk_rsa(const json_t *k, st_err *err)
{
    const char *n = json_string_value(json_object_get(k, "n"));
    const char *e = json_string_value(json_object_get(k, "e"));
    const char *kty = json_string_value(json_object_get(k, "kty"));
    if (!n || !e || !kty || strcmp(kty, "RSA") != 0) {
        st_err_set(err, ST_E_INPUT,
                   "HCL runtime data: HCLAkPub is not an RSA JWK with n, e");
        return NULL;
    }
    uint8_t *nb = NULL, *eb = NULL;
    size_t nl, el;
    EVP_PKEY *key = NULL;
    if (b64url(n, &nb, &nl, err) != ST_OK ||
        b64url(e, &eb, &el, err) != ST_OK || nl < 128 || el > 8) {
        st_err_set(err, ST_E_INPUT, "HCL runtime data: HCLAkPub n/e invalid");
        goto out;
    }
    BIGNUM *bn = BN_bin2bn(nb, (int)nl, NULL),
           *be = BN_bin2bn(eb, (int)el, NULL);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *p = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bn && be && b && c &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) &&
        (p = OSSL_PARAM_BLD_to_param(b)) && EVP_PKEY_fromdata_init(c) == 1)
        EVP_PKEY_fromdata(c, &key, EVP_PKEY_PUBLIC_KEY, p);
    if (!key)
        st_err_openssl(err, ST_E_INPUT, "HCL runtime data: HCLAkPub unusable");
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(c);
    BN_free(bn);
    BN_free(be);
out:
    free(nb);
    free(eb);
    return key;
}

static json_t *find_key(json_t *var, const char *kid)
{
    json_t *keys = json_object_get(var, "keys");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *id = json_string_value(json_object_get(k, "kid"));
        if (id && strcmp(id, kid) == 0)
            return k;
    }
    return NULL;
}

st_code st_attest_az_verify(st_attest_ctx *ctx, st_err *err)
{
    const uint8_t *hd, *q, *sig;
    size_t hn, ql, sl;
    st_hcl_report h;
    st_snp_report r;
    st_tpms_attest a;
    st_code rc = st_attest_need_part(ctx->ev, "hcl_report", &hd, &hn, err);
    if (rc == ST_OK)
        rc = st_attest_need_part(ctx->ev, "quote", &q, &ql, err);
    if (rc == ST_OK)
        rc = st_attest_need_part(ctx->ev, "signature", &sig, &sl, err);
    if (rc == ST_OK)
        rc = st_hcl_parse(hd, hn, &h, err);
    if (rc == ST_OK && (rc = st_snp_parse(h.hw, ST_SNP_REPORT_LEN, &r, err)))
        st_err_prefix(err, "az-snp-vtpm evidence: HCL hardware report");
    if (rc == ST_OK && (rc = st_tpms_attest_parse(q, ql, &a, err)))
        st_err_prefix(err, "az-snp-vtpm evidence: part \"quote\"");
    if (rc != ST_OK)
        return rc;
    json_t *var =
        st_json_parse((const char *)h.var, h.var_size, "HCL runtime data", err);
    if (!var)
        return ST_E_INPUT;
    st_tpm_pcrs *pcrs = NULL;
    size_t pl;
    const uint8_t *pd = st_evidence_get(ctx->ev, "pcrs", &pl);
    if (pd) {
        if (!(pcrs = malloc(sizeof(*pcrs)))) {
            json_decref(var);
            return st_err_set(err, ST_E_IO, "out of memory");
        }
        if ((rc = st_tpm_pcrs_parse(pd, pl, &a, pcrs, err)) != ST_OK) {
            st_err_prefix(err, "az-snp-vtpm evidence: part \"pcrs\"");
            goto out;
        }
    }
    st_trace *t = ctx->trace;
    /* 1. the hardware report and its chain */
    rc = st_snp_verify_report(ctx, "snp", &r, err);
    if (rc != ST_OK)
        goto out;
    /* 2. the runtime data is what the report vouches for */
    static const char *const hn_[] = {"", "SHA256", "SHA384", "SHA512"};
    static const size_t hl_[] = {0, 32, 48, 64};
    uint8_t dig[64];
    unsigned int dl = 0;
    EVP_Digest(h.var, h.var_size, dig, &dl,
               EVP_get_digestbyname(hn_[h.hash_type]), NULL);
    st_trace_hex(t, "az.runtime_data.hash", dig, r.report_data,
                 hl_[h.hash_type]);
    /* 3. the vTPM quote by HCLAkPub */
    json_t *jwk = find_key(var, "HCLAkPub");
    EVP_PKEY *ak = NULL;
    if (!jwk) {
        st_trace_add(t, "az.ak", 0, "HCLAkPub in the runtime data", "absent");
    } else if (!(ak = jwk_rsa(jwk, err))) {
        rc = ST_E_INPUT;
        goto out;
    } else {
        st_trace_add(t, "az.ak", 1, "HCLAkPub in the runtime data",
                     "RSA key present");
        st_tpm_check_quote(ctx, "tpm", &a, sig, sl, ak, pcrs);
        EVP_PKEY_free(ak);
    }
    /* claims: the hardware's, with the vTPM nonce as report data */
    st_claims *c = ctx->claims;
    st_snp_claims(&r, c);
    json_t *tq = json_object();
    st_tpm_attest_fields(&a, tq);
    json_object_set_new(c->fields, "tpm_quote", tq);
    json_t *vm = json_object_get(var, "vm-configuration");
    if (vm)
        json_object_set(c->fields, "vm_configuration", vm);
    json_t *ud = json_object_get(var, "user-data");
    if (ud)
        json_object_set(c->fields, "user_data", ud);
    uint8_t padded[64] = {0};
    memcpy(padded, a.extra, a.extra_len);
    st_attest_claim_report_data(c, padded);
out:
    free(pcrs);
    json_decref(var);
    return rc;
}

st_code st_attest_az_show(const st_evidence *ev, json_t *out, st_err *err)
{
    const uint8_t *hd;
    size_t hn;
    st_hcl_report h;
    st_snp_report r;
    st_code rc = st_attest_need_part(ev, "hcl_report", &hd, &hn, err);
    if (rc == ST_OK)
        rc = st_hcl_parse(hd, hn, &h, err);
    if (rc == ST_OK)
        rc = st_snp_parse(h.hw, ST_SNP_REPORT_LEN, &r, err);
    if (rc != ST_OK)
        return rc;
    json_t *hcl =
        json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "version",
                  h.version, "report_size", h.report_size, "request_type",
                  h.request_type, "runtime_data_size", h.data_size,
                  "runtime_version", h.rt_version, "report_type", h.report_type,
                  "hash_type", h.hash_type, "var_size", h.var_size);
    json_t *var = st_json_parse((const char *)h.var, h.var_size, "var", NULL);
    if (hcl && var)
        json_object_set_new(hcl, "runtime_data", var);
    else
        json_decref(var);
    json_object_set_new(out, "hcl", hcl);
    json_t *f = json_object();
    st_snp_fields(&r, f);
    json_object_set_new(out, "snp_report", f);
    size_t ql;
    const uint8_t *q = st_evidence_get(ev, "quote", &ql);
    st_tpms_attest a;
    if (q && st_tpms_attest_parse(q, ql, &a, NULL) == ST_OK) {
        json_t *o = json_object();
        st_tpm_attest_fields(&a, o);
        json_object_set_new(out, "tpm_quote", o);
    }
    return ST_OK;
}
