/*
 * verify.c: the one verifier. Dispatches evidence to its TEE verifier (the
 * table below), then compares the report data with the caller's, applies
 * the policy and sets the verdict from the trace.
 *
 * Order of the trace: "collateral.*" (documents taken from offline
 * bundles, collateral.c), the TEE's own checks (signature, chain, TCB
 * binding, ...), then "report_data", then "policy.*". The first failing entry
 * is the verdict's reason; a trace that lost entries (out of memory) never
 * passes.
 *
 * Never: read the clock (the time is a parameter), pass a verdict whose
 * trace has a failure or is empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/ear.h"
#include "attest/trace.h"
#include "attest_internal.h"

struct backend {
    st_tee tee;
    st_attest_verify_fn verify;
    st_attest_show_fn show;
};

/* One line per TEE verifier. */
static const struct backend backends[] = {
    {ST_TEE_SIM, st_attest_sim_verify, st_attest_sim_show},
    {ST_TEE_TPM, st_attest_tpm_verify, st_attest_tpm_show},
    {ST_TEE_SNP, st_attest_snp_verify, st_attest_snp_show},
    {ST_TEE_AZ_SNP_VTPM, st_attest_az_verify, st_attest_az_show},
    {ST_TEE_AZ_TDX_VTPM, st_attest_az_tdx_verify, st_attest_az_tdx_show},
    /* tdx, sgx: src/attest/dcap*.c */
    {ST_TEE_TDX, st_attest_tdx_verify, st_attest_tdx_show},
    {ST_TEE_SGX, st_attest_sgx_verify, st_attest_sgx_show},
};

static const struct backend *find_backend(st_tee tee)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (backends[i].tee == tee)
            return &backends[i];
    return NULL;
}

const char *st_attest_data_dir(void)
{
    /* The pinned vendor certificates (data/): $SEALTRAIN_DATA_DIR, else the
     * source tree this binary was built from (builds and tests run there),
     * else the installed copy. The root fingerprints are compiled in, so
     * a wrong directory fails closed. */
    const char *env = getenv("SEALTRAIN_DATA_DIR");
    if (env && *env)
        return env;
    if (access(ST_SOURCE_DIR "/data/amd", R_OK) == 0)
        return ST_SOURCE_DIR "/data";
    return ST_DATA_INSTALL_DIR;
}

static void set_reason(st_verdict *v)
{
    const st_trace_entry *f = st_trace_first_failure(&v->trace);
    if (f)
        snprintf(v->reason, sizeof(v->reason), "%s: expected %s, got %s",
                 f->claim, f->expected, f->actual);
    else if (v->trace.oom)
        snprintf(v->reason, sizeof(v->reason),
                 "trace: entries lost (out of memory)");
    else if (v->trace.n == 0)
        snprintf(v->reason, sizeof(v->reason), "trace: no checks ran");
    else
        snprintf(v->reason, sizeof(v->reason), "pass");
    v->pass = !f && !v->trace.oom && v->trace.n > 0;
}

st_code st_attest_verify(const st_evidence *ev, const uint8_t *report_data,
                         const st_attest_refs *refs,
                         const st_attest_policy *policy, int64_t now,
                         st_verdict *out, st_err *err)
{
    static const st_attest_refs no_refs = {0};
    out->pass = 0;
    snprintf(out->reason, sizeof(out->reason), "not verified");
    if (!ev)
        return st_err_set(err, ST_E_USAGE, "attestation: no evidence");
    st_tee tee = st_evidence_tee(ev);
    out->claims.tee = tee;
    const struct backend *b = find_backend(tee);
    if (!b)
        return st_err_set(err, ST_E_INPUT,
                          "%s evidence: no verifier for this TEE in this "
                          "build",
                          st_tee_name(tee));
    if (!refs)
        refs = &no_refs;
    st_attest_ctx ctx = {
        .ev = ev,
        .report_data = report_data,
        .refs = refs,
        .data_dir = refs->data_dir ? refs->data_dir : st_attest_data_dir(),
        .now = now,
        .trace = &out->trace,
        .claims = &out->claims,
    };
    /* documents the evidence lacks, from the offline bundles: each then
     * checked by the TEE's verifier as if the evidence had carried it */
    st_evidence *filled = NULL;
    st_code rc = st_attest_collateral_fill(&ctx, &filled, err);
    if (rc == ST_OK && filled) {
        uint8_t d[32];
        char hex[65];
        ctx.ev = filled;
        if (st_evidence_collateral_digest(filled, d)) {
            st_hex_encode(d, 32, hex);
            snprintf(out->collateral_digest, sizeof(out->collateral_digest),
                     "sha-256:%s", hex);
        }
    }
    if (rc == ST_OK)
        rc = b->verify(&ctx, err);
    st_evidence_free(filled);
    if (rc != ST_OK) {
        snprintf(out->reason, sizeof(out->reason), "%s",
                 err ? err->msg : "malformed evidence");
        return rc;
    }
    out->claims.tee = tee;
    if (report_data) {
        if (out->claims.has_report_data)
            st_trace_hex(&out->trace, "report_data", report_data,
                         out->claims.report_data, ST_REPORT_DATA_LEN);
        else
            st_trace_add(&out->trace, "report_data", 0,
                         "report data bound by the evidence",
                         "evidence carries no report data");
    }
    st_attest_policy_apply(policy, &out->claims, report_data != NULL, now,
                           &out->trace);
    set_reason(out);
    return ST_OK;
}

st_code st_attest_show(const st_evidence *ev, json_t **out, st_err *err)
{
    *out = NULL;
    const struct backend *b = find_backend(st_evidence_tee(ev));
    if (!b || !b->show)
        return st_err_set(err, ST_E_INPUT,
                          "%s evidence: no parser for this TEE in this build",
                          st_tee_name(st_evidence_tee(ev)));
    json_t *o = json_object();
    if (!o)
        return st_err_set(err, ST_E_IO, "out of memory");
    json_object_set_new(o, "tee",
                        json_string(st_tee_name(st_evidence_tee(ev))));
    st_code rc = b->show(ev, o, err);
    if (rc != ST_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return ST_OK;
}
