/*
 * trace.c: the claim-by-claim trace, the normalised claims and the verdict,
 * with their text and JSON renderings.
 *
 * The trace is append-only; a failed allocation marks it `oom`, and a trace
 * marked so can never yield a passing verdict (fail closed). The first entry
 * with ok == 0 is the verdict's reason.
 *
 * Never: drop an entry silently, or render a failing trace as passing.
 */
#include "attest/trace.h"
#include "sealtrain/attest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest_internal.h"

void st_trace_init(st_trace *t)
{
    memset(t, 0, sizeof(*t));
}

void st_trace_free(st_trace *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->entries[i].claim);
        free(t->entries[i].expected);
        free(t->entries[i].actual);
    }
    free(t->entries);
    memset(t, 0, sizeof(*t));
}

int st_trace_add(st_trace *t, const char *claim, int ok, const char *expected,
                 const char *actual)
{
    ok = ok ? 1 : 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 32;
        st_trace_entry *e = realloc(t->entries, cap * sizeof(*e));
        if (!e) {
            t->oom = 1;
            return ok;
        }
        t->entries = e;
        t->cap = cap;
    }
    st_trace_entry *e = &t->entries[t->n];
    e->claim = strdup(claim ? claim : "");
    e->expected = strdup(expected ? expected : "");
    e->actual = strdup(actual ? actual : "");
    e->ok = ok;
    if (!e->claim || !e->expected || !e->actual) {
        free(e->claim);
        free(e->expected);
        free(e->actual);
        t->oom = 1;
        return ok;
    }
    t->n++;
    return ok;
}

int st_trace_addf(st_trace *t, const char *claim, int ok, const char *expected,
                  const char *actual_fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, actual_fmt);
    vsnprintf(buf, sizeof(buf), actual_fmt, ap);
    va_end(ap);
    return st_trace_add(t, claim, ok, expected, buf);
}

int st_trace_hex(st_trace *t, const char *claim, const uint8_t *expected,
                 const uint8_t *actual, size_t n)
{
    char *a = malloc(2 * n + 1), *b = malloc(2 * n + 1);
    if (!a || !b) {
        free(a);
        free(b);
        t->oom = 1;
        return 0;
    }
    st_hex_encode(expected, n, a);
    st_hex_encode(actual, n, b);
    int ok = memcmp(expected, actual, n) == 0;
    st_trace_add(t, claim, ok, a, b);
    free(a);
    free(b);
    return ok;
}

const st_trace_entry *st_trace_first_failure(const st_trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (!t->entries[i].ok)
            return &t->entries[i];
    return NULL;
}

st_code st_trace_render_text(const st_trace *t, st_buf *out, st_err *err)
{
    for (size_t i = 0; i < t->n; i++) {
        const st_trace_entry *e = &t->entries[i];
        st_code rc;
        if (e->ok)
            rc = st_buf_printf(out, err, "  ok    %s: %s\n", e->claim,
                               e->actual);
        else
            rc = st_buf_printf(out, err, "  FAIL  %s: expected %s, got %s\n",
                               e->claim, e->expected, e->actual);
        if (rc != ST_OK)
            return rc;
    }
    if (t->oom)
        return st_buf_printf(out, err,
                             "  FAIL  trace: entries lost (out of memory)\n");
    return ST_OK;
}

json_t *st_trace_to_json(const st_trace *t)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        const st_trace_entry *e = &t->entries[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:b}", "claim",
                                           e->claim, "expected", e->expected,
                                           "actual", e->actual, "ok", e->ok));
    }
    return a;
}

void st_claims_init(st_claims *c)
{
    memset(c, 0, sizeof(*c));
    c->fields = json_object();
    c->tcb_fields = json_object();
}

void st_claims_free(st_claims *c)
{
    if (!c)
        return;
    json_decref(c->fields);
    json_decref(c->tcb_fields);
    json_decref(c->advisories);
    json_decref(c->collateral);
    memset(c, 0, sizeof(*c));
}

/* A new reference to `v`, or an empty object/array when v is NULL. */
static json_t *borrow_or(json_t *v, int array)
{
    if (v)
        return json_incref(v);
    return array ? json_array() : json_object();
}

json_t *st_claims_to_json(const st_claims *c)
{
    char rd[2 * ST_REPORT_DATA_LEN + 1] = "";
    if (c->has_report_data)
        st_hex_encode(c->report_data, ST_REPORT_DATA_LEN, rd);
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "tee", json_string(st_tee_name(c->tee)));
    json_object_set_new(o, "measurement", json_string(c->measurement));
    json_object_set_new(o, "platform_id", json_string(c->platform_id));
    json_object_set_new(o, "tcb", json_string(c->tcb));
    json_object_set_new(o, "tcb_fields", borrow_or(c->tcb_fields, 0));
    json_object_set_new(o, "tcb_status", json_string(c->tcb_status));
    json_object_set_new(o, "advisories", borrow_or(c->advisories, 1));
    json_object_set_new(o, "report_data",
                        c->has_report_data ? json_string(rd) : json_null());
    json_object_set_new(o, "debug", json_boolean(c->debug));
    json_object_set_new(o, "insecure", json_boolean(c->insecure));
    json_object_set_new(o, "time", json_integer(c->time));
    json_object_set_new(o, "fields", borrow_or(c->fields, 0));
    if (c->collateral)
        json_object_set_new(o, "collateral", json_incref(c->collateral));
    return o;
}

void st_verdict_init(st_verdict *v)
{
    memset(v, 0, sizeof(*v));
    st_trace_init(&v->trace);
    st_claims_init(&v->claims);
}

void st_verdict_free(st_verdict *v)
{
    if (!v)
        return;
    st_trace_free(&v->trace);
    st_claims_free(&v->claims);
}

json_t *st_verdict_to_json(const st_verdict *v)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "pass", json_boolean(v->pass));
    json_object_set_new(o, "reason", json_string(v->reason));
    json_object_set_new(o, "trace", st_trace_to_json(&v->trace));
    json_object_set_new(o, "claims", st_claims_to_json(&v->claims));
    return o;
}

st_code st_verdict_render_text(const st_verdict *v, st_buf *out, st_err *err)
{
    const st_claims *c = &v->claims;
    st_code rc =
        st_buf_printf(out, err, "verdict: %s\n", v->pass ? "PASS" : "FAIL");
    if (rc == ST_OK && !v->pass)
        rc = st_buf_printf(out, err, "reason: %s\n", v->reason);
    if (rc == ST_OK)
        rc = st_buf_printf(out, err, "trace:\n");
    if (rc == ST_OK)
        rc = st_trace_render_text(&v->trace, out, err);
    if (rc == ST_OK)
        rc = st_buf_printf(out, err,
                           "claims:\n  tee: %s\n  measurement: %s\n"
                           "  platform_id: %s\n  tcb: %s%s%s%s\n"
                           "  debug: %s\n  insecure: %s\n",
                           st_tee_name(c->tee), c->measurement, c->platform_id,
                           c->tcb, c->tcb_status[0] ? " (" : "", c->tcb_status,
                           c->tcb_status[0] ? ")" : "", c->debug ? "yes" : "no",
                           c->insecure ? "yes" : "no");
    if (rc == ST_OK && c->has_report_data) {
        char rd[129];
        st_hex_encode(c->report_data, 64, rd);
        rc = st_buf_printf(out, err, "  report_data: %s\n", rd);
    }
    return rc;
}

/* ---- helpers shared by the verifiers ------------------------------ */

void st_attest_hex(const uint8_t *in, size_t n, char *out)
{
    st_hex_encode(in, n, out);
}

void st_attest_json_hex(json_t *obj, const char *key, const uint8_t *b,
                        size_t n)
{
    char *h = malloc(2 * n + 1);
    if (!h)
        return;
    st_hex_encode(b, n, h);
    json_object_set_new(obj, key, json_string(h));
    free(h);
}

void st_attest_json_u64(json_t *obj, const char *key, uint64_t v)
{
    /* jansson integers are signed 64-bit: values above INT64_MAX (never
     * seen in the fields we expose) are shown as hex strings */
    if (v > (uint64_t)INT64_MAX) {
        char s[24];
        snprintf(s, sizeof(s), "0x%016llx", (unsigned long long)v);
        json_object_set_new(obj, key, json_string(s));
    } else {
        json_object_set_new(obj, key, json_integer((json_int_t)v));
    }
}

void st_attest_claim_report_data(st_claims *c, const uint8_t rd[64])
{
    memcpy(c->report_data, rd, 64);
    c->has_report_data = 1;
}

void st_attest_time_str(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(out, 32, "@%lld", (long long)t);
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

st_code st_attest_need_part(const st_evidence *ev, const char *name,
                            const uint8_t **data, size_t *len, st_err *err)
{
    *data = st_evidence_get(ev, name, len);
    if (!*data)
        return st_err_set(err, ST_E_INPUT, "%s evidence: missing part \"%s\"",
                          st_tee_name(st_evidence_tee(ev)), name);
    return ST_OK;
}
