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
 * az-tdx-vtpm (Azure TDX CVMs) has the same HCL layout with report type 4:
 * the hardware area holds a TDREPORT (1024 bytes, zero padded), which is
 * MAC'ed for the platform only, so what vouches for the runtime data is the
 * TD quote made from it (part "td_quote", verified by the DCAP verifier
 * with the tdx collateral parts). The links, each one trace entry:
 *   tdx.*                 the TD quote, its PCK chain, QE report and
 *                         collateral (a missing collateral fails
 *                         tdx.collateral alone; the other links still run)
 *   az.runtime_data.hash  H(var data) = the TD quote's report_data[0..hash)
 *   az.ak                 HCLAkPub from the runtime data
 *   tpm.*                 the vTPM quote's signature, nonce, PCR digest
 *
 * Never: use the AK before the hardware report that vouches for it has been
 * checked (a verdict with any failing link fails); accept an HCL report of
 * another type than the TEE named (SNP for az-snp-vtpm, TDX for
 * az-tdx-vtpm).
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/trace.h"
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

#define HCL_TYPE_SNP 2
#define HCL_TYPE_TDX 4

/* `type` is the report type the TEE expects (HCL_TYPE_*). */
static ST_MUST_CHECK st_code st_hcl_parse(const uint8_t *d, size_t n,
                                          uint32_t type, st_hcl_report *h,
                                          st_err *err)
{
    const char *w = type == HCL_TYPE_SNP
                        ? "az-snp-vtpm evidence: part \"hcl_report\""
                        : "az-tdx-vtpm evidence: part \"hcl_report\"";
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
    if (h->report_type != type)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset 0x%x: report type %u is not %s (%u)", w,
                          HCL_RT_OFF + 8, h->report_type,
                          type == HCL_TYPE_SNP ? "SNP" : "TDX", type);
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

/* The evidence's "hcl_report" part, parsed for report type `type`. */
static ST_MUST_CHECK st_code hcl_of(const st_evidence *ev, uint32_t type,
                                    st_hcl_report *h, st_err *err)
{
    const uint8_t *hd;
    size_t hn;
    st_code rc = st_attest_need_part(ev, "hcl_report", &hd, &hn, err);
    return rc == ST_OK ? st_hcl_parse(hd, hn, type, h, err) : rc;
}

st_code st_attest_az_snp_report(const st_evidence *ev, const uint8_t **hw,
                                st_err *err)
{
    st_hcl_report h;
    st_code rc = hcl_of(ev, HCL_TYPE_SNP, &h, err);
    *hw = rc == ST_OK ? h.hw : NULL;
    return rc;
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

/* The parts both Azure TEEs share, parsed: the HCL report of `type`, the
 * vTPM quote and signature, the runtime data JSON and the optional PCR
 * values. */
typedef struct az_parts {
    st_hcl_report h;
    st_tpms_attest a;
    const uint8_t *sig;
    size_t sl;
    json_t *var;
    st_tpm_pcrs *pcrs;
} az_parts;

static void az_parts_free(az_parts *p)
{
    json_decref(p->var);
    free(p->pcrs);
}

static st_code az_parts_parse(const st_evidence *ev, uint32_t type, az_parts *p,
                              st_err *err)
{
    const char *tee = st_tee_name(st_evidence_tee(ev));
    const uint8_t *hd, *q;
    size_t hn, ql;
    memset(p, 0, sizeof(*p));
    st_code rc = st_attest_need_part(ev, "hcl_report", &hd, &hn, err);
    if (rc == ST_OK)
        rc = st_attest_need_part(ev, "quote", &q, &ql, err);
    if (rc == ST_OK)
        rc = st_attest_need_part(ev, "signature", &p->sig, &p->sl, err);
    if (rc == ST_OK)
        rc = st_hcl_parse(hd, hn, type, &p->h, err);
    if (rc == ST_OK && (rc = st_tpms_attest_parse(q, ql, &p->a, err)))
        st_err_prefix(err, "%s evidence: part \"quote\"", tee);
    if (rc != ST_OK)
        return rc;
    p->var = st_json_parse((const char *)p->h.var, p->h.var_size,
                           "HCL runtime data", err);
    if (!p->var)
        return ST_E_INPUT;
    size_t pl;
    const uint8_t *pd = st_evidence_get(ev, "pcrs", &pl);
    if (!pd)
        return ST_OK;
    if (!(p->pcrs = malloc(sizeof(*p->pcrs))))
        return st_err_set(err, ST_E_IO, "out of memory");
    if ((rc = st_tpm_pcrs_parse(pd, pl, &p->a, p->pcrs, err)) != ST_OK)
        st_err_prefix(err, "%s evidence: part \"pcrs\"", tee);
    return rc;
}

/* The links after the hardware report: the runtime data is what the
 * hardware's report data (`hw_rd`) vouches for, it holds the vTPM AK, and
 * the AK signed the quote. Then the Azure claims, with the vTPM nonce as
 * the report data (that is what the verifier's challenge lands in). */
static st_code az_check_vtpm(st_attest_ctx *ctx, az_parts *p,
                             const uint8_t *hw_rd, st_err *err)
{
    st_trace *t = ctx->trace;
    static const char *const hn_[] = {"", "SHA256", "SHA384", "SHA512"};
    static const size_t hl_[] = {0, 32, 48, 64};
    uint8_t dig[64];
    unsigned int dl = 0;
    EVP_Digest(p->h.var, p->h.var_size, dig, &dl,
               EVP_get_digestbyname(hn_[p->h.hash_type]), NULL);
    st_trace_hex(t, "az.runtime_data.hash", dig, hw_rd, hl_[p->h.hash_type]);
    json_t *jwk = find_key(p->var, "HCLAkPub");
    EVP_PKEY *ak = NULL;
    if (!jwk) {
        st_trace_add(t, "az.ak", 0, "HCLAkPub in the runtime data", "absent");
    } else if (!(ak = jwk_rsa(jwk, err))) {
        return ST_E_INPUT;
    } else {
        st_trace_add(t, "az.ak", 1, "HCLAkPub in the runtime data",
                     "RSA key present");
        st_tpm_check_quote(ctx, "tpm", &p->a, p->sig, p->sl, ak, p->pcrs);
        EVP_PKEY_free(ak);
    }
    st_claims *c = ctx->claims;
    json_t *tq = json_object();
    st_tpm_attest_fields(&p->a, tq);
    json_object_set_new(c->fields, "tpm_quote", tq);
    json_t *vm = json_object_get(p->var, "vm-configuration");
    if (vm)
        json_object_set(c->fields, "vm_configuration", vm);
    json_t *ud = json_object_get(p->var, "user-data");
    if (ud)
        json_object_set(c->fields, "user_data", ud);
    uint8_t padded[64] = {0};
    memcpy(padded, p->a.extra, p->a.extra_len);
    st_attest_claim_report_data(c, padded);
    return ST_OK;
}

st_code st_attest_az_verify(st_attest_ctx *ctx, st_err *err)
{
    az_parts p;
    st_snp_report r;
    st_code rc = az_parts_parse(ctx->ev, HCL_TYPE_SNP, &p, err);
    if (rc == ST_OK && (rc = st_snp_parse(p.h.hw, ST_SNP_REPORT_LEN, &r, err)))
        st_err_prefix(err, "az-snp-vtpm evidence: HCL hardware report");
    /* 1. the hardware report and its chain */
    if (rc == ST_OK)
        rc = st_snp_verify_report(ctx, "snp", &r, err);
    /* claims: the hardware's first; az_check_vtpm adds the vTPM's */
    if (rc == ST_OK) {
        st_snp_claims(&r, ctx->claims);
        rc = az_check_vtpm(ctx, &p, r.report_data, err);
    }
    az_parts_free(&p);
    return rc;
}

st_code st_attest_az_tdx_verify(st_attest_ctx *ctx, st_err *err)
{
    az_parts p;
    st_code rc = az_parts_parse(ctx->ev, HCL_TYPE_TDX, &p, err);
    /* 1. the TD quote with its collateral: fills the TDX claims, among
     * them the quote's report data, which must vouch for the runtime data */
    if (rc == ST_OK)
        rc = st_attest_dcap_verify_part(ctx, ST_TEE_TDX, "td_quote", err);
    if (rc == ST_OK) {
        uint8_t rd[64];
        memcpy(rd, ctx->claims->report_data, 64);
        if (!ctx->claims->has_report_data)
            memset(rd, 0, sizeof(rd));
        rc = az_check_vtpm(ctx, &p, rd, err);
    }
    az_parts_free(&p);
    return rc;
}

st_code st_attest_az_show(const st_evidence *ev, json_t *out, st_err *err)
{
    st_hcl_report h;
    st_snp_report r;
    st_code rc = hcl_of(ev, HCL_TYPE_SNP, &h, err);
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

st_code st_attest_az_tdx_show(const st_evidence *ev, json_t *out, st_err *err)
{
    st_hcl_report h;
    st_code rc = hcl_of(ev, HCL_TYPE_TDX, &h, err);
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
    /* the TDREPORT's REPORTMACSTRUCT.reportdata (offset 128): unsigned
     * off the platform, shown for comparison with the TD quote's */
    if (hcl)
        st_attest_json_hex(hcl, "td_report_data", h.hw + 128, 64);
    json_object_set_new(out, "hcl", hcl);
    if (st_evidence_get(ev, "td_quote", NULL)) {
        json_t *tq = json_object();
        if (tq && st_attest_dcap_show_part(ev, ST_TEE_TDX, "td_quote", tq,
                                           NULL) == ST_OK)
            json_object_set_new(out, "td_quote", tq);
        else
            json_decref(tq);
    }
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
