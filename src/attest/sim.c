/*
 * sim.c: the simulated TEE. Evidence is a small canonical-JSON report
 *   {"created":T,"format":"sealtrain-sim-report/1","measurement":hex32,
 *    "platform_key":hex32,"report_data":hex64}
 * signed with Ed25519 by the platform key kept in the workspace, over
 * "sealtrain-sim-report/1\n" || report (domain separated from every other
 * signature the project makes).
 *
 * There is no hardware root of trust: the claims are always marked
 * insecure and the policy refuses them unless it names "sim". The verifier
 * only accepts the platform key pinned in the reference values.
 *
 * Never: mark sim evidence as secure; trust the key the report names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/trace.h"
#include "attest_internal.h"
#include "crypto/primitives.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/secmem.h"

#define SIM_FORMAT "sealtrain-sim-report/1"
#define SIM_DOMAIN SIM_FORMAT "\n"

static ST_MUST_CHECK st_code sim_message(const uint8_t *report, size_t len,
                                         st_buf *msg, st_err *err)
{
    st_code rc = st_buf_append(msg, SIM_DOMAIN, strlen(SIM_DOMAIN), err);
    if (rc == ST_OK)
        rc = st_buf_append(msg, report, len, err);
    return rc;
}

st_code st_attest_sim_evidence(const uint8_t seed[32],
                               const uint8_t report_data[ST_REPORT_DATA_LEN],
                               const uint8_t *measurement, int64_t created,
                               st_evidence **out, st_err *err)
{
    static const uint8_t zero[32];
    uint8_t pub[32], sig[64];
    char rd[129], ms[65], pk[65];
    *out = NULL;
    st_code rc = st_ed25519_public(seed, pub, err);
    if (rc != ST_OK)
        return rc;
    st_hex_encode(report_data, 64, rd);
    st_hex_encode(measurement ? measurement : zero, 32, ms);
    st_hex_encode(pub, 32, pk);
    json_t *r = json_pack(
        "{s:I, s:s, s:s, s:s, s:s}", "created", (json_int_t)created, "format",
        SIM_FORMAT, "measurement", ms, "platform_key", pk, "report_data", rd);
    if (!r)
        return st_err_set(err, ST_E_IO, "sim evidence: out of memory");
    size_t len;
    char *report = st_json_canonical(r, &len, err);
    json_decref(r);
    if (!report)
        return err ? err->code : ST_E_INTERNAL;
    st_buf msg;
    st_buf_init(&msg);
    rc = sim_message((const uint8_t *)report, len, &msg, err);
    if (rc == ST_OK)
        rc = st_ed25519_sign(seed, msg.data, msg.len, sig, err);
    st_buf_free(&msg);
    st_evidence *ev = NULL;
    if (rc == ST_OK && !(ev = st_evidence_new(ST_TEE_SIM, err)))
        rc = ST_E_IO;
    if (rc == ST_OK)
        rc = st_evidence_set(ev, "report", report, len, err);
    if (rc == ST_OK)
        rc = st_evidence_set(ev, "signature", sig, sizeof(sig), err);
    free(report);
    if (rc != ST_OK) {
        st_evidence_free(ev);
        return rc;
    }
    st_evidence_set_created(ev, created);
    *out = ev;
    return ST_OK;
}

st_code st_attest_key_file(const char *path, int create, const char *what,
                           uint8_t seed[32], uint8_t pub[32], st_err *err)
{
    st_code rc;
    if (st_fs_exists(path)) {
        if ((rc = st_fs_check_private(path, err)) != ST_OK)
            return rc;
        rc = st_ed25519_load_private_pem(path, seed, err);
    } else if (!create) {
        return st_err_set(err, ST_E_NOTFOUND, "%s %s: does not exist", what,
                          path);
    } else {
        if ((rc = st_random(seed, 32, err)) != ST_OK)
            return rc;
        char *pem = st_ed25519_private_pem(seed, err);
        if (!pem)
            return err ? err->code : ST_E_INTERNAL;
        rc = st_fs_write_atomic(path, pem, strlen(pem), 0600, err);
        st_wipe(pem, strlen(pem));
        free(pem);
    }
    if (rc == ST_OK)
        rc = st_ed25519_public(seed, pub, err);
    if (rc != ST_OK)
        st_err_prefix(err, "%s %s", what, path);
    return rc;
}

st_code st_attest_sim_key(const char *path, int create, uint8_t seed[32],
                          uint8_t pub[32], st_err *err)
{
    return st_attest_key_file(path, create, "sim platform key", seed, pub, err);
}

/* The parsed report. */
struct sim_report {
    json_t *root;
    uint8_t report_data[64], measurement[32], platform_key[32];
    long long created;
};

static ST_MUST_CHECK st_code sim_parse(const st_evidence *ev,
                                       struct sim_report *s,
                                       const uint8_t **sig, st_err *err)
{
    static const char *const keys[] = {"created",     "format",
                                       "measurement", "platform_key",
                                       "report_data", NULL};
    const char *where = "sim evidence: part \"report\"";
    const uint8_t *rep;
    size_t len, siglen;
    memset(s, 0, sizeof(*s));
    st_code rc = st_attest_need_part(ev, "report", &rep, &len, err);
    if (rc == ST_OK)
        rc = st_attest_need_part(ev, "signature", sig, &siglen, err);
    if (rc == ST_OK && siglen != 64)
        rc = st_err_set(err, ST_E_INPUT,
                        "sim evidence: part \"signature\" is %zu bytes, not "
                        "64",
                        siglen);
    if (rc != ST_OK)
        return rc;
    s->root = st_json_parse((const char *)rep, len, "sim report", err);
    if (!s->root)
        return ST_E_INPUT;
    const char *fmt, *rd, *ms, *pk;
    rc = st_json_check_keys(s->root, keys, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(s->root, "format", 1, &fmt, where, err);
    if (rc == ST_OK && strcmp(fmt, SIM_FORMAT) != 0)
        rc = st_err_set(err, ST_E_INPUT, "%s: format \"%s\" is not %s", where,
                        fmt, SIM_FORMAT);
    if (rc == ST_OK)
        rc = st_json_get_int(s->root, "created", 1, 0, INT64_MAX, &s->created,
                             where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(s->root, "report_data", 1, &rd, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(s->root, "measurement", 1, &ms, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(s->root, "platform_key", 1, &pk, where, err);
    if (rc == ST_OK)
        rc = st_hex_decode(rd, s->report_data, 64, err);
    if (rc == ST_OK)
        rc = st_hex_decode(ms, s->measurement, 32, err);
    if (rc == ST_OK)
        rc = st_hex_decode(pk, s->platform_key, 32, err);
    if (rc != ST_OK) {
        st_err_prefix(err, "%s", where);
        json_decref(s->root);
        s->root = NULL;
    }
    return rc;
}

st_code st_attest_sim_verify(st_attest_ctx *ctx, st_err *err)
{
    struct sim_report s;
    const uint8_t *sig;
    st_code rc = sim_parse(ctx->ev, &s, &sig, err);
    if (rc != ST_OK)
        return rc;
    st_trace *t = ctx->trace;
    st_claims *c = ctx->claims;
    char pk[65];
    st_hex_encode(s.platform_key, 32, pk);
    if (ctx->refs->sim_platform_key)
        st_trace_hex(t, "sim.platform_key", ctx->refs->sim_platform_key,
                     s.platform_key, 32);
    else
        st_trace_add(t, "sim.platform_key", 0, "a pinned platform key", pk);
    /* the signature is checked with the report's key; it only counts when
     * that key is the pinned one (the entry above) */
    size_t len;
    const uint8_t *rep = st_evidence_get(ctx->ev, "report", &len);
    st_buf msg;
    st_buf_init(&msg);
    rc = sim_message(rep, len, &msg, err);
    if (rc == ST_OK) {
        st_err e2;
        int ok = st_ed25519_verify(s.platform_key, msg.data, msg.len, sig,
                                   &e2) == ST_OK;
        st_trace_add(t, "sim.signature", ok, "valid Ed25519 signature",
                     ok ? "valid" : "invalid");
    }
    st_buf_free(&msg);
    if (rc == ST_OK) {
        c->insecure = 1;
        c->debug = 0;
        c->time = s.created;
        st_hex_encode(s.measurement, 32, c->measurement);
        snprintf(c->platform_id, sizeof(c->platform_id), "%s", pk);
        snprintf(c->tcb, sizeof(c->tcb), "sim");
        st_attest_claim_report_data(c, s.report_data);
        json_object_set_new(c->fields, "created", json_integer(s.created));
        json_object_set_new(c->fields, "platform_key", json_string(pk));
    }
    json_decref(s.root);
    return rc;
}

st_code st_attest_sim_show(const st_evidence *ev, json_t *out, st_err *err)
{
    struct sim_report s;
    const uint8_t *sig;
    st_code rc = sim_parse(ev, &s, &sig, err);
    if (rc != ST_OK)
        return rc;
    json_object_set(out, "report", s.root);
    st_attest_json_hex(out, "signature", sig, 64);
    json_object_set_new(out, "insecure", json_true());
    json_decref(s.root);
    return ST_OK;
}
