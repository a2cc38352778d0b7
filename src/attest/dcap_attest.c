/*
 * dcap_attest.c: the `tdx` and `sgx` verifiers of the attestation framework
 * (attest_internal.h): evidence parts in, DCAP verification (dcap_verify.c),
 * trace entries and normalised claims out.
 *
 * Evidence parts (docs/attestation.md): "quote" (required), and the
 * collateral either as "tcb_info" + "qe_identity" + "tcb_chain" (Intel PCS
 * JSON, PEM) or as "collateral" (dcap-qvl QuoteCollateralV3 JSON), plus
 * "crl.0" .. "crl.15" (DER or PEM). Evidence without collateral still gets
 * its quote, PCK chain and QE report checked; the missing TCB evaluation is
 * a failing "collateral" claim.
 *
 * TCB status: Revoked and TcbNotSupported always fail here (Intel treats
 * them as terminal); every other status passes this layer and is left to
 * the policy ("tcb_status"), as Intel leaves it to the relying party.
 * Report data are compared by the framework, not here.
 */
#include <stdio.h>
#include <string.h>

#include "attest/dcap.h"
#include "attest/trace.h"
#include "attest_internal.h"

#define MAX_CRLS 16

typedef struct sink {
    st_trace *trace;
    const char *prefix;
} sink;

static void to_trace(void *ctx, const char *claim, const char *expected,
                     const char *actual, int ok)
{
    sink *s = ctx;
    char name[96];
    snprintf(name, sizeof(name), "%s.%s", s->prefix, claim);
    st_trace_add(s->trace, name, ok, expected, actual);
}

/* The DCAP quote in part `qpart` of evidence for `tee` (tdx, sgx, or
 * az-tdx-vtpm whose TD quote is "td_quote"); `is_tdx` says which quote. */
static ST_MUST_CHECK st_code parse_quote(const st_evidence *ev,
                                         const char *qpart, int is_tdx,
                                         st_dcap_quote *q, st_err *err)
{
    const uint8_t *data;
    size_t len;
    const char *name = st_tee_name(st_evidence_tee(ev));
    if (st_attest_need_part(ev, qpart, &data, &len, err) != ST_OK)
        return ST_E_INPUT;
    if (st_dcap_quote_parse(data, len, q, err) != ST_OK)
        return st_err_prefix(err, "%s evidence: part \"%s\"", name, qpart);
    if (q->is_tdx != is_tdx)
        return st_err_set(err, ST_E_INPUT,
                          "%s evidence: part \"%s\" holds a%s quote", name,
                          qpart, q->is_tdx ? " TDX" : "n SGX");
    return ST_OK;
}

static void part(const st_evidence *ev, const char *name, st_dcap_blob *b)
{
    b->data = st_evidence_get(ev, name, &b->len);
    b->origin = name;
}

static void fill_claims(st_claims *cl, const st_dcap_quote *q,
                        const st_dcap_result *r)
{
    json_t *f = cl->fields;
    char buf[256];
    if (q->is_tdx) {
        const st_dcap_td_report *t = &q->td;
        st_attest_hex(t->mrtd, 48, cl->measurement);
        st_attest_json_hex(f, "tee_tcb_svn", t->tee_tcb_svn, 16);
        st_attest_json_hex(f, "mr_seam", t->mrseam, 48);
        st_attest_json_hex(f, "mr_signer_seam", t->mrsignerseam, 48);
        st_attest_json_hex(f, "seam_attributes", t->seam_attributes, 8);
        st_attest_json_hex(f, "td_attributes", t->td_attributes, 8);
        st_attest_json_hex(f, "xfam", t->xfam, 8);
        st_attest_json_hex(f, "mr_td", t->mrtd, 48);
        st_attest_json_hex(f, "mr_config_id", t->mrconfigid, 48);
        st_attest_json_hex(f, "mr_owner", t->mrowner, 48);
        st_attest_json_hex(f, "mr_owner_config", t->mrownerconfig, 48);
        for (int i = 0; i < 4; i++) {
            snprintf(buf, sizeof(buf), "rtmr%d", i);
            st_attest_json_hex(f, buf, t->rtmr[i], 48);
        }
        if (t->is_td15) {
            st_attest_json_hex(f, "tee_tcb_svn2", t->tee_tcb_svn2, 16);
            st_attest_json_hex(f, "mr_service_td", t->mrservicetd, 48);
        }
        st_attest_claim_report_data(cl, t->report_data);
    } else {
        const st_dcap_enclave_report *e = &q->enclave;
        st_attest_hex(e->mrenclave, 32, cl->measurement);
        st_attest_json_hex(f, "cpu_svn", e->cpusvn, 16);
        st_attest_json_u64(f, "misc_select", e->miscselect);
        st_attest_json_hex(f, "attributes", e->attributes, 16);
        st_attest_json_hex(f, "mr_enclave", e->mrenclave, 32);
        st_attest_json_hex(f, "mr_signer", e->mrsigner, 32);
        st_attest_json_hex(f, "config_id", e->configid, 64);
        st_attest_json_u64(f, "isv_prod_id", e->isvprodid);
        st_attest_json_u64(f, "isv_svn", e->isvsvn);
        st_attest_json_u64(f, "config_svn", e->configsvn);
        st_attest_json_hex(f, "isv_ext_prod_id", e->isvextprodid, 16);
        st_attest_json_hex(f, "isv_family_id", e->isvfamilyid, 16);
        st_attest_claim_report_data(cl, e->report_data);
    }
    st_attest_json_u64(f, "quote_version", q->header.version);
    st_attest_json_u64(f, "qe_isv_svn", q->qe_report.isvsvn);
    st_attest_json_hex(f, "qe_mr_enclave", q->qe_report.mrenclave, 32);
    cl->debug = r->debug;
    cl->insecure = 0;
    cl->time = 0;
    if (!r->have_pck)
        return;
    st_attest_hex(r->pck.ppid, 16, cl->platform_id);
    st_attest_json_hex(f, "fmspc", r->pck.fmspc, 6);
    st_attest_json_hex(f, "pce_id", r->pck.pce_id, 2);
    if (r->tcb_status != ST_DCAP_TCB_UNKNOWN)
        snprintf(cl->tcb_status, sizeof(cl->tcb_status), "%s",
                 st_dcap_tcb_status_name(r->tcb_status));
    char sgx[33], tdx[33] = "";
    st_attest_hex(r->pck.comp_svn, 16, sgx);
    if (q->is_tdx)
        st_attest_hex(q->td.tee_tcb_svn, 16, tdx);
    snprintf(cl->tcb, sizeof(cl->tcb), "pcesvn=%u sgx=%s%s%s qe=%u",
             r->pck.pcesvn, sgx, q->is_tdx ? " tdx=" : "", tdx,
             q->qe_report.isvsvn);
    if (!cl->tcb_fields)
        cl->tcb_fields = json_object();
    if (cl->tcb_fields) {
        st_attest_json_u64(cl->tcb_fields, "pcesvn", r->pck.pcesvn);
        st_attest_json_u64(cl->tcb_fields, "qe_isvsvn", q->qe_report.isvsvn);
        for (int i = 0; i < 16; i++) {
            snprintf(buf, sizeof(buf), "sgx%02d", i + 1);
            st_attest_json_u64(cl->tcb_fields, buf, r->pck.comp_svn[i]);
            if (q->is_tdx) {
                snprintf(buf, sizeof(buf), "tdx%02d", i + 1);
                st_attest_json_u64(cl->tcb_fields, buf, q->td.tee_tcb_svn[i]);
            }
        }
    }
    if (!cl->advisories)
        cl->advisories = json_array();
    if (cl->advisories && r->advisories[0]) {
        char list[sizeof(r->advisories)];
        snprintf(list, sizeof(list), "%s", r->advisories);
        for (char *save = NULL, *a = strtok_r(list, ",", &save); a;
             a = strtok_r(NULL, ",", &save))
            json_array_append_new(cl->advisories, json_string(a));
    }
}

ST_MUST_CHECK st_code st_attest_dcap_verify_part(st_attest_ctx *ctx, st_tee tee,
                                                 const char *qpart, st_err *err)
{
    st_dcap_quote q;
    st_dcap_collateral_parts parts = {0};
    st_dcap_blob crls[MAX_CRLS];
    st_dcap_collateral *coll = NULL;
    char names[MAX_CRLS][16];
    st_code rc = parse_quote(ctx->ev, qpart, tee == ST_TEE_TDX, &q, err);
    if (rc != ST_OK)
        return rc;
    part(ctx->ev, "tcb_info", &parts.tcb_info);
    part(ctx->ev, "qe_identity", &parts.qe_identity);
    part(ctx->ev, "tcb_chain", &parts.tcb_chain);
    part(ctx->ev, "collateral", &parts.qvl);
    for (size_t i = 0; i < MAX_CRLS; i++) {
        snprintf(names[i], sizeof(names[i]), "crl.%zu", i);
        part(ctx->ev, names[i], &crls[parts.ncrls]);
        if (crls[parts.ncrls].data)
            parts.ncrls++;
    }
    parts.crls = crls;
    if ((rc = st_dcap_collateral_parse(&parts, &coll, err)) != ST_OK)
        return st_err_prefix(err, "%s evidence",
                             st_tee_name(st_evidence_tee(ctx->ev)));
    sink s = {ctx->trace, st_tee_name(tee)};
    st_dcap_options o = {
        .at = ctx->now,
        .report_data = NULL, /* the framework compares */
        .allowed_tcb = ((1u << (ST_DCAP_TCB_REVOKED)) - 1),
        .trace = to_trace,
        .trace_ctx = &s,
    };
    /* the dated documents, for the policy's max_collateral_age */
    if (!ctx->claims->collateral)
        ctx->claims->collateral = json_array();
    st_dcap_collateral_dates(coll, st_tee_name(tee), ctx->claims->collateral);
    st_dcap_result res;
    st_err verr;
    st_err_clear(&verr);
    rc = st_dcap_verify(&q, coll, &o, &res, &verr);
    st_dcap_collateral_free(coll);
    fill_claims(ctx->claims, &q, &res);
    /* a denial is in the trace; only a failure to verify is an error */
    if (rc == ST_E_DENIED || rc == ST_OK)
        return ST_OK;
    if (err)
        *err = verr;
    return rc;
}

ST_MUST_CHECK st_code st_attest_dcap_show_part(const st_evidence *ev,
                                               st_tee tee, const char *qpart,
                                               json_t *out, st_err *err)
{
    st_dcap_quote q;
    st_code rc = parse_quote(ev, qpart, tee == ST_TEE_TDX, &q, err);
    if (rc != ST_OK)
        return rc;
    json_t *j = st_dcap_quote_to_json(&q);
    if (!j || json_object_update(out, j) != 0) {
        json_decref(j);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    json_decref(j);
    return ST_OK;
}

st_code st_attest_tdx_verify(st_attest_ctx *ctx, st_err *err)
{
    return st_attest_dcap_verify_part(ctx, ST_TEE_TDX, "quote", err);
}

st_code st_attest_sgx_verify(st_attest_ctx *ctx, st_err *err)
{
    return st_attest_dcap_verify_part(ctx, ST_TEE_SGX, "quote", err);
}

st_code st_attest_tdx_show(const st_evidence *ev, json_t *out, st_err *err)
{
    return st_attest_dcap_show_part(ev, ST_TEE_TDX, "quote", out, err);
}

st_code st_attest_sgx_show(const st_evidence *ev, json_t *out, st_err *err)
{
    return st_attest_dcap_show_part(ev, ST_TEE_SGX, "quote", out, err);
}
