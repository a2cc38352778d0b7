/*
 * policy.c: the attestation policy language (strict JSON, no Rego) and its
 * evaluation against normalised claims.
 *
 *   {
 *     "version": 1,
 *     "tee": ["snp", "tdx"],          TEE types accepted; "sim" only if named
 *     "allow_debug": false,           debug-enabled TEEs (default false)
 *     "report_data": "required",      "required" (default) | "optional"
 *     "max_age_seconds": 300,         needs a signed evidence time
 *     "max_collateral_age": 2592000,  seconds: every dated collateral
 *                                     document (TCB Info, QE Identity, CRLs)
 *                                     issued at most this long ago
 *     "tcb_status": ["UpToDate"],     for TEEs that report a TCB status;
 *                                     absent: UpToDate only
 *     "tcb_advisories": ["INTEL-SA-00289"],  when present, every advisory
 *                                     the TCB carries must be listed
 *     "snp": {                        per-TEE rules (any TEE name)
 *       "measurements": ["hex", ...], allow-list
 *       "min_tcb": {"bl": 3, "snp": 8, "ucode": 115},
 *       "fields": {"vmpl": [0], "policy_smt": [false]},   allowed values
 *       "min_fields": {"guest_svn": 4}                     numeric minimums
 *     }
 *   }
 * Unknown keys anywhere are rejected with their path. docs/attestation.md
 * documents the fields each TEE exposes.
 *
 * Never: let a missing claim pass a rule that names it; accept sim unless
 * the policy lists it; accept a TCB status other than UpToDate unless the
 * policy names it (a misspelt status is a parse error, not a rule that
 * silently fails every verdict).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attest/trace.h"
#include "attest_internal.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"

#define NTEE (ST_TEE_AZ_TDX_VTPM + 1)

struct tee_rules {
    json_t *measurements; /* array of lowercase hex strings, or NULL */
    json_t *min_tcb;      /* object name -> integer, or NULL */
    json_t *fields;       /* object name -> array of JSON values, or NULL */
    json_t *min_fields;   /* object name -> integer, or NULL */
};

struct st_attest_policy {
    json_t *root;     /* owns every json_t below */
    unsigned allowed; /* bit per st_tee */
    int allow_debug;
    int report_data_required;
    long long max_age;            /* -1: no limit */
    long long max_collateral_age; /* seconds, -1: no limit */
    json_t *tcb_status;           /* array of known status names, or NULL */
    json_t *advisories; /* array of advisory IDs, or NULL (no limit) */
    struct tee_rules rules[NTEE];
};

static ST_MUST_CHECK st_code parse_hex_list(json_t *arr, const char *where,
                                            st_err *err)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return st_err_set(err, ST_E_INPUT,
                          "%s: must be a non-empty array of hex strings",
                          where);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;
        if (!s || n == 0 || n % 2 || n > 128)
            return st_err_set(err, ST_E_INPUT,
                              "%s[%zu]: must be hex of 1-64 bytes", where, i);
        char low[129];
        for (size_t k = 0; k < n; k++) {
            char c = s[k];
            if (c >= 'A' && c <= 'F')
                c = (char)(c - 'A' + 'a');
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                return st_err_set(err, ST_E_INPUT, "%s[%zu]: \"%s\" is not hex",
                                  where, i, s);
            low[k] = c;
        }
        low[n] = 0;
        json_string_set(v, low);
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_int_map(json_t *obj, const char *where,
                                           st_err *err)
{
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return st_err_set(err, ST_E_INPUT,
                          "%s: must be a non-empty object of integers", where);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return st_err_set(err, ST_E_INPUT,
                              "%s.%s: must be a non-negative integer", where,
                              k);
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_rules(json_t *obj, const char *tee,
                                         struct tee_rules *r,
                                         const char *origin, st_err *err)
{
    static const char *const keys[] = {"measurements", "min_tcb", "fields",
                                       "min_fields", NULL};
    char where[400];
    snprintf(where, sizeof(where), "policy %s: \"%s\"", origin, tee);
    st_code rc = st_json_check_keys(obj, keys, where, err);
    if (rc != ST_OK)
        return rc;
    char sub[480];
    if ((r->measurements = json_object_get(obj, "measurements"))) {
        snprintf(sub, sizeof(sub), "%s.measurements", where);
        if ((rc = parse_hex_list(r->measurements, sub, err)) != ST_OK)
            return rc;
    }
    if ((r->min_tcb = json_object_get(obj, "min_tcb"))) {
        snprintf(sub, sizeof(sub), "%s.min_tcb", where);
        if ((rc = parse_int_map(r->min_tcb, sub, err)) != ST_OK)
            return rc;
    }
    if ((r->min_fields = json_object_get(obj, "min_fields"))) {
        snprintf(sub, sizeof(sub), "%s.min_fields", where);
        if ((rc = parse_int_map(r->min_fields, sub, err)) != ST_OK)
            return rc;
    }
    if ((r->fields = json_object_get(obj, "fields"))) {
        if (!json_is_object(r->fields) || json_object_size(r->fields) == 0)
            return st_err_set(err, ST_E_INPUT,
                              "%s.fields: must be a non-empty object", where);
        const char *k;
        json_t *v;
        json_object_foreach(r->fields, k, v)
        {
            if (!json_is_array(v) || json_array_size(v) == 0)
                return st_err_set(err, ST_E_INPUT,
                                  "%s.fields.%s: must be a non-empty array of "
                                  "allowed values",
                                  where, k);
        }
    }
    return ST_OK;
}

/* The TCB statuses Intel's TCB Info and QE Identity define that a policy
 * may accept (Intel PCS API v4, "tcbStatus"). Revoked and TcbNotSupported
 * are absent on purpose: the verifier fails them before the policy runs. */
static const char *const known_tcb_status[] = {
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
    NULL};

static st_code parse_tcb_status(json_t *arr, const char *where, st_err *err)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"tcb_status\" must be a non-empty array",
                          where);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"tcb_status\"[%zu] must be a string", where,
                              i);
        int known = 0;
        for (size_t k = 0; known_tcb_status[k]; k++)
            known |= strcmp(s, known_tcb_status[k]) == 0;
        if (!known)
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"tcb_status\"[%zu]: unknown TCB status "
                              "\"%.60s\" (one of UpToDate, "
                              "SWHardeningNeeded, ConfigurationNeeded, "
                              "ConfigurationAndSWHardeningNeeded, OutOfDate, "
                              "OutOfDateConfigurationNeeded, "
                              "TDRelaunchAdvised, "
                              "TDRelaunchAdvisedConfigurationNeeded; case "
                              "matters)",
                              where, i, s);
    }
    return ST_OK;
}

static st_code parse_advisories(json_t *arr, const char *where, st_err *err)
{
    if (!json_is_array(arr))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"tcb_advisories\" must be an array of "
                          "advisory IDs",
                          where);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;
        int ok = n > 0 && n <= 64;
        for (size_t k = 0; ok && k < n; k++)
            ok = (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9') ||
                 s[k] == '-';
        if (!ok)
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"tcb_advisories\"[%zu] must be an "
                              "advisory ID such as \"INTEL-SA-00289\"",
                              where, i);
    }
    return ST_OK;
}

int st_attest_policy_digest(const st_attest_policy *p, uint8_t out[32])
{
    if (!p)
        return 0;
    /* canonical JSON after parsing (hex lists already lowercased), so two
     * spellings of one policy have one digest */
    size_t n = 0;
    char *c = st_json_canonical(p->root, &n, NULL);
    if (!c) {
        /* a real among "fields" values has no canonical text: fall back
         * to jansson's sorted compact form rather than to no digest */
        c = st_json_dumps(p->root, JSON_COMPACT | JSON_SORT_KEYS);
        n = c ? strlen(c) : 0;
    }
    if (!c)
        return 0;
    st_sha256(c, n, out);
    free(c);
    return 1;
}

int st_attest_policy_accepts_out_of_date(const st_attest_policy *p)
{
    size_t i;
    json_t *v;
    if (!p || !p->tcb_status)
        return 0;
    json_array_foreach(p->tcb_status, i, v)
    {
        if (strncmp(json_string_value(v), "OutOfDate", 9) == 0)
            return 1;
    }
    return 0;
}

st_code st_attest_policy_parse(const char *text, size_t len, const char *origin,
                               st_attest_policy **out, st_err *err)
{
    static const char *const keys[] = {"version",
                                       "tee",
                                       "allow_debug",
                                       "report_data",
                                       "max_age_seconds",
                                       "max_collateral_age",
                                       "tcb_status",
                                       "tcb_advisories",
                                       "sim",
                                       "tpm",
                                       "snp",
                                       "tdx",
                                       "sgx",
                                       "az-snp-vtpm",
                                       "az-tdx-vtpm",
                                       NULL};
    *out = NULL;
    if (!origin)
        origin = "<policy>";
    char where[300];
    snprintf(where, sizeof(where), "policy %s", origin);
    json_t *root = st_json_parse(text, len, origin, err);
    if (!root)
        return err ? err->code : ST_E_INPUT;
    st_attest_policy *p = calloc(1, sizeof(*p));
    if (!p) {
        json_decref(root);
        return st_err_set(err, ST_E_IO, "policy: out of memory");
    }
    p->root = root;
    p->max_age = -1;
    p->max_collateral_age = -1;
    p->report_data_required = 1;
    long long version = 0;
    st_code rc = st_json_check_keys(root, keys, where, err);
    if (rc == ST_OK)
        rc = st_json_get_int(root, "version", 1, 1, 1, &version, where, err);
    if (rc == ST_OK)
        rc = st_json_get_bool(root, "allow_debug", 0, &p->allow_debug, where,
                              err);
    if (rc == ST_OK)
        rc = st_json_get_int(root, "max_age_seconds", 0, 0, 366LL * 86400,
                             &p->max_age, where, err);
    /* seconds, 1 s to 10 years: 0 would refuse all collateral */
    if (rc == ST_OK)
        rc = st_json_get_int(root, "max_collateral_age", 0, 1, 3660LL * 86400,
                             &p->max_collateral_age, where, err);
    const char *rd = NULL;
    if (rc == ST_OK)
        rc = st_json_get_string(root, "report_data", 0, &rd, where, err);
    if (rc == ST_OK && rd) {
        if (strcmp(rd, "required") == 0)
            p->report_data_required = 1;
        else if (strcmp(rd, "optional") == 0)
            p->report_data_required = 0;
        else
            rc = st_err_set(err, ST_E_INPUT,
                            "%s: \"report_data\" must be \"required\" or "
                            "\"optional\"",
                            where);
    }
    json_t *tees = json_object_get(root, "tee");
    if (rc == ST_OK && (!json_is_array(tees) || json_array_size(tees) == 0))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"tee\" must be a non-empty array of TEE names",
                        where);
    if (rc == ST_OK) {
        size_t i;
        json_t *v;
        json_array_foreach(tees, i, v)
        {
            st_tee t;
            if ((rc = st_tee_parse(json_string_value(v), &t, err)) != ST_OK) {
                st_err_prefix(err, "%s: \"tee\"[%zu]", where, i);
                break;
            }
            p->allowed |= 1u << t;
        }
    }
    if (rc == ST_OK && (p->tcb_status = json_object_get(root, "tcb_status")))
        rc = parse_tcb_status(p->tcb_status, where, err);
    if (rc == ST_OK &&
        (p->advisories = json_object_get(root, "tcb_advisories")))
        rc = parse_advisories(p->advisories, where, err);
    for (int t = ST_TEE_SIM; rc == ST_OK && t < NTEE; t++) {
        json_t *o = json_object_get(root, st_tee_name((st_tee)t));
        if (o)
            rc = parse_rules(o, st_tee_name((st_tee)t), &p->rules[t], origin,
                             err);
    }
    if (rc != ST_OK) {
        st_attest_policy_free(p);
        return rc;
    }
    *out = p;
    return ST_OK;
}

st_code st_attest_policy_load(const char *path, st_attest_policy **out,
                              st_err *err)
{
    unsigned char *buf;
    size_t len;
    st_code rc = st_fs_read_all(path, 1 << 20, &buf, &len, err);
    if (rc != ST_OK)
        return rc;
    rc = st_attest_policy_parse((const char *)buf, len, path, out, err);
    free(buf);
    return rc;
}

void st_attest_policy_free(st_attest_policy *p)
{
    if (!p)
        return;
    json_decref(p->root);
    free(p);
}

/* ---- evaluation ---------------------------------------------------- */

static void json_text(const json_t *v, char *out, size_t cap)
{
    if (!v) {
        snprintf(out, cap, "(absent)");
        return;
    }
    char *s = st_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, cap, "%s", s ? s : "?");
    free(s);
}

/* "<prefix>.<name>": the claim `name` of `actual` is an integer of at
 * least the rule's value. */
static void check_minimums(const json_t *rules, const json_t *actual,
                           const char *prefix, st_trace *t)
{
    const char *k;
    json_t *v;
    char claim[200], exp[64], act[600];
    json_object_foreach((json_t *)rules, k, v)
    {
        json_t *a = json_object_get(actual, k);
        snprintf(claim, sizeof(claim), "%s.%s", prefix, k);
        snprintf(exp, sizeof(exp), ">= %lld", (long long)json_integer_value(v));
        json_text(a, act, sizeof(act));
        st_trace_add(t, claim,
                     json_is_integer(a) &&
                         json_integer_value(a) >= json_integer_value(v),
                     exp, act);
    }
}

static void check_rules(const struct tee_rules *r, const st_claims *c,
                        st_trace *t)
{
    char claim[200], exp[600], act[600];
    if (r->measurements) {
        int ok = 0;
        size_t i;
        json_t *v;
        json_array_foreach(r->measurements, i, v)
        {
            if (strcasecmp(json_string_value(v), c->measurement) == 0)
                ok = 1;
        }
        json_text(r->measurements, exp, sizeof(exp));
        snprintf(claim, sizeof(claim), "policy.measurement");
        char e2[640];
        snprintf(e2, sizeof(e2), "one of %s", exp);
        st_trace_add(t, claim, ok, e2, c->measurement);
    }
    const char *k;
    json_t *v;
    check_minimums(r->min_tcb, c->tcb_fields, "policy.min_tcb", t);
    check_minimums(r->min_fields, c->fields, "policy.min_fields", t);
    if (r->fields) {
        json_object_foreach(r->fields, k, v)
        {
            json_t *a = json_object_get(c->fields, k);
            int ok = 0;
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x)
            {
                if (a && json_equal(a, x))
                    ok = 1;
                /* hex strings compare without regard to case */
                if (a && json_is_string(a) && json_is_string(x) &&
                    strcasecmp(json_string_value(a), json_string_value(x)) == 0)
                    ok = 1;
            }
            snprintf(claim, sizeof(claim), "policy.fields.%s", k);
            char list[560];
            json_text(v, list, sizeof(list));
            snprintf(exp, sizeof(exp), "one of %s", list);
            json_text(a, act, sizeof(act));
            st_trace_add(t, claim, ok, exp, act);
        }
    }
}

/* policy.tcb_status: a TEE that reports a TCB status (TDX, SGX) must
 * report one the policy lists, UpToDate alone when it lists none: an
 * out-of-date platform is accepted only by a rule that says so.
 * policy.tcb_advisories: when the policy lists advisories, every one the
 * TCB level carries must be among them. */
static void check_tcb_status(const st_attest_policy *p, const st_claims *c,
                             st_trace *t)
{
    char list[300] = "[\"UpToDate\"] (the default)", e[320];
    if (p->tcb_status)
        json_text(p->tcb_status, list, sizeof(list));
    snprintf(e, sizeof(e), "one of %s", list);
    if (!c->tcb_status[0]) {
        st_trace_addf(t, "policy.tcb_status", 1, e,
                      "(%s reports no TCB status)", st_tee_name(c->tee));
        return;
    }
    int ok = 0;
    size_t i;
    json_t *v;
    if (!p->tcb_status)
        ok = strcmp(c->tcb_status, "UpToDate") == 0;
    json_array_foreach(p->tcb_status, i, v)
    {
        if (strcmp(json_string_value(v), c->tcb_status) == 0)
            ok = 1;
    }
    st_trace_add(t, "policy.tcb_status", ok, e, c->tcb_status);
    if (!p->advisories)
        return;
    json_text(p->advisories, list, sizeof(list));
    snprintf(e, sizeof(e), "advisories among %s", list);
    size_t j;
    json_t *a;
    json_array_foreach(c->advisories, j, a)
    {
        int listed = 0;
        json_array_foreach(p->advisories, i, v)
        {
            if (json_is_string(a) &&
                strcmp(json_string_value(a), json_string_value(v)) == 0)
                listed = 1;
        }
        if (!listed) {
            st_trace_addf(t, "policy.tcb_advisories", 0, e, "%s not listed",
                          json_is_string(a) ? json_string_value(a) : "?");
            return;
        }
    }
    st_trace_addf(t, "policy.tcb_advisories", 1, e,
                  "%zu advisories, all listed", json_array_size(c->advisories));
}

/* Every dated collateral document the verdict rests on was issued at
 * most `max` seconds before `now`; the oldest one is named. Evidence with
 * no dated collateral (SNP, TPM, sim: certificates only) fails the rule:
 * the policy asked for fresh collateral, and there is none to judge. */
static void check_collateral_age(long long max, const st_claims *c, int64_t now,
                                 st_trace *t)
{
    char e[120], when[32], at_now[32];
    st_attest_time_str(now, at_now);
    snprintf(e, sizeof(e), "collateral issued within %llds before %s", max,
             at_now);
    size_t i, n = json_array_size(c->collateral);
    json_t *d, *oldest = NULL;
    json_array_foreach(c->collateral, i, d)
    {
        json_int_t at = json_integer_value(json_object_get(d, "issued"));
        if (!oldest ||
            at < json_integer_value(json_object_get(oldest, "issued")))
            oldest = d;
    }
    if (!oldest) {
        st_trace_add(t, "policy.max_collateral_age", 0, e,
                     "no dated collateral (TCB Info, QE Identity, CRL) in "
                     "the evidence");
        return;
    }
    int64_t at = json_integer_value(json_object_get(oldest, "issued"));
    st_attest_time_str(at, when);
    st_trace_addf(t, "policy.max_collateral_age", at > 0 && now - at <= max, e,
                  "%s issued %s, %llds before (oldest of %zu documents)",
                  json_string_value(json_object_get(oldest, "document")), when,
                  (long long)(now - at), n);
}

/* The built-in policy used when the caller passes none. */
static const st_attest_policy default_policy = {
    .allowed = (1u << ST_TEE_TPM) | (1u << ST_TEE_SNP) | (1u << ST_TEE_TDX) |
               (1u << ST_TEE_SGX) | (1u << ST_TEE_AZ_SNP_VTPM) |
               (1u << ST_TEE_AZ_TDX_VTPM),
    .allow_debug = 0,
    .report_data_required = 0,
    .max_age = -1,
    .max_collateral_age = -1,
};

void st_attest_policy_apply(const st_attest_policy *p, const st_claims *c,
                            int report_data_given, int64_t now, st_trace *t)
{
    if (!p)
        p = &default_policy;
    char allowed[200] = "";
    for (int i = ST_TEE_SIM; i < NTEE; i++) {
        if (p->allowed & (1u << i)) {
            size_t n = strlen(allowed);
            snprintf(allowed + n, sizeof(allowed) - n, "%s%s", n ? "," : "",
                     st_tee_name((st_tee)i));
        }
    }
    char exp[260];
    snprintf(exp, sizeof(exp), "one of [%s]", allowed);
    st_trace_add(t, "policy.tee", (p->allowed >> c->tee) & 1u, exp,
                 st_tee_name(c->tee));
    if (c->insecure)
        st_trace_add(t, "policy.insecure", (p->allowed >> ST_TEE_SIM) & 1u,
                     "hardware root of trust (or \"sim\" allowed explicitly)",
                     "insecure simulation");
    st_trace_add(t, "policy.debug", p->allow_debug || !c->debug,
                 p->allow_debug ? "debug allowed" : "debug disabled",
                 c->debug ? "debug enabled" : "debug disabled");
    if (p->report_data_required)
        st_trace_add(t, "policy.report_data", report_data_given,
                     "bound to the verifier's report data",
                     report_data_given ? "bound" : "no report data supplied");
    if (p->max_age >= 0) {
        char e[80];
        snprintf(e, sizeof(e), "signed time within %llds before %lld",
                 p->max_age, (long long)now);
        if (c->time == 0)
            st_trace_add(t, "policy.max_age", 0, e,
                         "evidence carries no signed time");
        else
            st_trace_addf(t, "policy.max_age",
                          c->time <= now + 60 && now - c->time <= p->max_age, e,
                          "age %llds", (long long)(now - c->time));
    }
    if (p->max_collateral_age >= 0)
        check_collateral_age(p->max_collateral_age, c, now, t);
    check_tcb_status(p, c, t);
    if ((unsigned)c->tee < NTEE)
        check_rules(&p->rules[c->tee], c, t);
}
