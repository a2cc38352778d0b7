/*
 * tcbinfo.c: Intel PCS collateral documents: TCB Info (v2 SGX, v3 SGX and
 * TDX) and Enclave Identity v2 (QE, TD_QE), parsed strictly, plus the exact
 * byte span of the signed value.
 *
 * The signature in these documents covers the bytes of the "tcbInfo" /
 * "enclaveIdentity" value exactly as they appear in the file, so after
 * jansson has checked the whole document (duplicate keys rejected) we find
 * that span with a small scanner over the same text; a document whose
 * signed value cannot be located byte for byte is rejected rather than
 * re-serialised (re-serialising would verify something Intel did not
 * sign). Unknown keys are rejected: collateral is not a place to guess.
 *
 * This file parses only; dcap_verify.c checks signatures and times.
 *
 * Spec: Intel PCS API v4, "TCB Info" (V2, V3) and "Enclave Identity" (V2)
 * JSON schemas.
 */
#include "attest/dcap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sealtrain/bytes.h"
#include "sealtrain/json.h"

static const char *const status_names[] = {
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
    "Revoked",
    "TcbNotSupported",
    "Unknown",
};

const char *st_dcap_tcb_status_name(st_dcap_tcb_status s)
{
    if ((unsigned)s > ST_DCAP_TCB_UNKNOWN)
        return "Unknown";
    return status_names[s];
}

st_code st_dcap_tcb_status_parse(const char *name, st_dcap_tcb_status *out,
                                 st_err *err)
{
    for (unsigned i = 0; i <= ST_DCAP_TCB_REVOKED; i++)
        if (!strcmp(name, status_names[i])) {
            *out = (st_dcap_tcb_status)i;
            return ST_OK;
        }
    return st_err_set(err, ST_E_INPUT, "unknown TCB status \"%s\"", name);
}

st_code st_dcap_time_parse(const char *s, int64_t *out, st_err *err)
{
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 19)
        goto bad;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            goto bad;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strcmp(p, "Z") != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        goto bad;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm);
    return ST_OK;
bad:
    return st_err_set(err, ST_E_INPUT,
                      "\"%.40s\" is not an RFC 3339 UTC time "
                      "(YYYY-MM-DDTHH:MM:SSZ)",
                      s);
}

void st_dcap_time_format(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "@%lld", (long long)t);
}

/* ---- locating the signed value ---- */

static size_t skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len &&
           (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

/* t[i] is '"'; returns the index after the closing quote, or 0. */
static size_t skip_string(const char *t, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Skips one JSON value (text already validated by jansson); 0 on error. */
static size_t skip_value(const char *t, size_t len, size_t i)
{
    int depth = 0;
    do {
        if (i >= len)
            return 0;
        char c = t[i];
        if (c == '"') {
            i = skip_string(t, len, i);
            if (!i)
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        else if (depth == 0) {
            /* scalar at top level: up to a delimiter */
            while (i < len && t[i] != ',' && t[i] != '}' && t[i] != ']' &&
                   t[i] != ' ' && t[i] != '\n' && t[i] != '\r' && t[i] != '\t')
                i++;
            return i;
        }
        i++;
    } while (depth > 0);
    return i;
}

/* Finds the span of the value of top-level key `key` (spelled without
 * escapes) in the object `t`. */
static int find_member(const char *t, size_t len, const char *key, size_t *off,
                       size_t *vlen)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(t, len, 0);
    if (i >= len || t[i] != '{')
        return 0;
    i++;
    for (;;) {
        i = skip_ws(t, len, i);
        if (i >= len || t[i] != '"')
            return 0;
        size_t ks = i + 1;
        size_t ke = skip_string(t, len, i);
        if (!ke)
            return 0;
        i = skip_ws(t, len, ke);
        if (i >= len || t[i] != ':')
            return 0;
        i = skip_ws(t, len, i + 1);
        size_t vs = i;
        size_t ve = skip_value(t, len, i);
        if (!ve)
            return 0;
        if (ke - 1 - ks == klen && !memcmp(t + ks, key, klen)) {
            *off = vs;
            *vlen = ve - vs;
            return 1;
        }
        i = skip_ws(t, len, ve);
        if (i >= len || t[i] != ',')
            return 0;
        i++;
    }
}

static ST_MUST_CHECK st_code load_signed(const char *text, size_t len,
                                         const char *origin, const char *key,
                                         st_dcap_signed_json *d, json_t **body,
                                         json_t **root, st_err *err)
{
    static const char *const allowed_tcb[] = {"tcbInfo", "signature", NULL};
    static const char *const allowed_qe[] = {"enclaveIdentity", "signature",
                                             NULL};
    snprintf(d->origin, sizeof(d->origin), "%s", origin);
    *root = st_json_parse(text, len, origin, err);
    if (!*root)
        return err ? err->code : ST_E_INPUT;
    if (!json_is_object(*root))
        return st_err_set(err, ST_E_INPUT, "%s: not a JSON object", origin);
    if (st_json_check_keys(*root,
                           !strcmp(key, "tcbInfo") ? allowed_tcb : allowed_qe,
                           origin, err) != ST_OK)
        return ST_E_INPUT;
    *body = json_object_get(*root, key);
    if (!json_is_object(*body))
        return st_err_set(err, ST_E_INPUT, "%s: \"%s\" must be an object",
                          origin, key);
    const char *sig;
    if (st_json_get_string(*root, "signature", 1, &sig, origin, err) != ST_OK)
        return ST_E_INPUT;
    if (st_hex_decode(sig, d->signature, 64, err) != ST_OK)
        return st_err_prefix(err, "%s: \"signature\" (64-byte r||s)", origin);
    d->text = malloc(len + 1);
    if (!d->text)
        return st_err_set(err, ST_E_IO, "out of memory");
    memcpy(d->text, text, len);
    d->text[len] = 0;
    d->len = len;
    if (!find_member(d->text, len, key, &d->body_off, &d->body_len))
        return st_err_set(err, ST_E_INPUT,
                          "%s: cannot locate the signed \"%s\" value byte "
                          "for byte",
                          origin, key);
    return ST_OK;
}

/* Helpers with "<origin>: <path>" in messages. */
typedef struct ctx {
    const char *origin;
    char where[160];
    st_err *err;
} ctx;

static ST_MUST_CHECK st_code get_hex(ctx *c, const json_t *o, const char *key,
                                     uint8_t *out, size_t n)
{
    const char *s;
    if (st_json_get_string(o, key, 1, &s, c->where, c->err) != ST_OK)
        return ST_E_INPUT;
    if (st_hex_decode(s, out, n, c->err) != ST_OK)
        return st_err_prefix(c->err, "%s: \"%s\"", c->where, key);
    return ST_OK;
}

static ST_MUST_CHECK st_code get_time(ctx *c, const json_t *o, const char *key,
                                      int64_t *out)
{
    const char *s;
    if (st_json_get_string(o, key, 1, &s, c->where, c->err) != ST_OK)
        return ST_E_INPUT;
    if (st_dcap_time_parse(s, out, c->err) != ST_OK)
        return st_err_prefix(c->err, "%s: \"%s\"", c->where, key);
    return ST_OK;
}

static ST_MUST_CHECK st_code get_status(ctx *c, const json_t *o,
                                        st_dcap_tcb_status *out)
{
    const char *s;
    if (st_json_get_string(o, "tcbStatus", 1, &s, c->where, c->err) != ST_OK)
        return ST_E_INPUT;
    if (st_dcap_tcb_status_parse(s, out, c->err) != ST_OK)
        return st_err_prefix(c->err, "%s", c->where);
    return ST_OK;
}

static ST_MUST_CHECK st_code get_advisories(ctx *c, const json_t *o,
                                            char **list, size_t cap, size_t *n,
                                            size_t *first, size_t *count)
{
    json_t *a = json_object_get(o, "advisoryIDs");
    *first = *n;
    *count = 0;
    if (!a)
        return ST_OK;
    if (!json_is_array(a))
        return st_err_set(c->err, ST_E_INPUT,
                          "%s: \"advisoryIDs\" must be an array", c->where);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            return st_err_set(c->err, ST_E_INPUT,
                              "%s: advisoryIDs[%zu] must be a string", c->where,
                              i);
        if (*n >= cap)
            return st_err_set(c->err, ST_E_INPUT,
                              "%s: more than %zu advisory IDs", c->where, cap);
        list[*n] = strdup(json_string_value(v));
        if (!list[*n])
            return st_err_set(c->err, ST_E_IO, "out of memory");
        (*n)++;
        (*count)++;
    }
    return ST_OK;
}

/* "sgxtcbcomponents" / "tdxtcbcomponents": exactly 16 {"svn": n, ...}. */
static ST_MUST_CHECK st_code get_components(ctx *c, const json_t *tcb,
                                            const char *key, uint8_t out[16])
{
    static const char *const allowed[] = {"svn", "category", "type", NULL};
    json_t *a = json_object_get(tcb, key);
    if (!json_is_array(a) || json_array_size(a) != 16)
        return st_err_set(c->err, ST_E_INPUT,
                          "%s: \"%s\" must be an array of 16 components",
                          c->where, key);
    for (size_t i = 0; i < 16; i++) {
        json_t *e = json_array_get(a, i);
        long long v;
        char w[200];
        snprintf(w, sizeof(w), "%s.%s[%zu]", c->where, key, i);
        if (!json_is_object(e) ||
            st_json_check_keys(e, allowed, w, c->err) != ST_OK ||
            st_json_get_int(e, "svn", 1, 0, 255, &v, w, c->err) != ST_OK)
            return ST_E_INPUT;
        out[i] = (uint8_t)v;
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_tcb_level(ctx *c, st_dcap_tcb_info *t,
                                             const json_t *l,
                                             st_dcap_tcb_level *lv)
{
    static const char *const allowed[] = {"tcb", "tcbDate", "tcbStatus",
                                          "advisoryIDs", NULL};
    if (!json_is_object(l) ||
        st_json_check_keys(l, allowed, c->where, c->err) != ST_OK)
        return st_err_set(c->err, ST_E_INPUT, "%s: not a TCB level object",
                          c->where);
    json_t *tcb = json_object_get(l, "tcb");
    if (!json_is_object(tcb))
        return st_err_set(c->err, ST_E_INPUT, "%s: \"tcb\" must be an object",
                          c->where);
    long long v;
    if (st_json_get_int(tcb, "pcesvn", 1, 0, 65535, &v, c->where, c->err) !=
        ST_OK)
        return ST_E_INPUT;
    lv->pcesvn = (uint16_t)v;
    if (t->version >= 3) {
        static const char *const tk[] = {"sgxtcbcomponents", "pcesvn",
                                         "tdxtcbcomponents", NULL};
        if (st_json_check_keys(tcb, tk, c->where, c->err) != ST_OK ||
            get_components(c, tcb, "sgxtcbcomponents", lv->sgx_svn) != ST_OK)
            return ST_E_INPUT;
        if (json_object_get(tcb, "tdxtcbcomponents")) {
            if (get_components(c, tcb, "tdxtcbcomponents", lv->tdx_svn) !=
                ST_OK)
                return ST_E_INPUT;
            lv->has_tdx = 1;
        }
    } else {
        if (json_object_size(tcb) != 17)
            return st_err_set(c->err, ST_E_INPUT,
                              "%s: a v2 \"tcb\" has sgxtcbcomp01svn.."
                              "sgxtcbcomp16svn and pcesvn only",
                              c->where);
        for (int i = 0; i < 16; i++) {
            char key[24];
            snprintf(key, sizeof(key), "sgxtcbcomp%02dsvn", i + 1);
            if (st_json_get_int(tcb, key, 1, 0, 255, &v, c->where, c->err) !=
                ST_OK)
                return ST_E_INPUT;
            lv->sgx_svn[i] = (uint8_t)v;
        }
    }
    const char *date;
    if (st_json_get_string(l, "tcbDate", 1, &date, c->where, c->err) != ST_OK)
        return ST_E_INPUT;
    snprintf(lv->date, sizeof(lv->date), "%s", date);
    if (get_status(c, l, &lv->status) != ST_OK)
        return ST_E_INPUT;
    return get_advisories(
        c, l, t->advisory, sizeof(t->advisory) / sizeof(t->advisory[0]),
        &t->n_advisories, &lv->first_advisory, &lv->n_advisories);
}

static ST_MUST_CHECK st_code parse_module_identity(ctx *c, const json_t *m,
                                                   st_dcap_module_identity *mi)
{
    static const char *const allowed[] = {
        "id", "mrsigner", "attributes", "attributesMask", "tcbLevels", NULL};
    const char *id;
    if (!json_is_object(m) ||
        st_json_check_keys(m, allowed, c->where, c->err) != ST_OK ||
        st_json_get_string(m, "id", 1, &id, c->where, c->err) != ST_OK)
        return ST_E_INPUT;
    if (strlen(id) >= sizeof(mi->id))
        return st_err_set(c->err, ST_E_INPUT, "%s: \"id\" too long", c->where);
    snprintf(mi->id, sizeof(mi->id), "%s", id);
    if (get_hex(c, m, "mrsigner", mi->mrsigner, 48) != ST_OK ||
        get_hex(c, m, "attributes", mi->attributes, 8) != ST_OK ||
        get_hex(c, m, "attributesMask", mi->attributes_mask, 8) != ST_OK)
        return ST_E_INPUT;
    json_t *levels = json_object_get(m, "tcbLevels");
    if (!json_is_array(levels) || json_array_size(levels) == 0 ||
        json_array_size(levels) > 8)
        return st_err_set(c->err, ST_E_INPUT,
                          "%s: \"tcbLevels\" must be an array of 1..8 levels",
                          c->where);
    size_t i;
    json_t *l;
    json_array_foreach(levels, i, l)
    {
        static const char *const lk[] = {"tcb", "tcbDate", "tcbStatus",
                                         "advisoryIDs", NULL};
        long long v;
        json_t *tcb = json_object_get(l, "tcb");
        if (!json_is_object(l) ||
            st_json_check_keys(l, lk, c->where, c->err) != ST_OK ||
            !json_is_object(tcb) ||
            st_json_get_int(tcb, "isvsvn", 1, 0, 255, &v, c->where, c->err) !=
                ST_OK ||
            get_status(c, l, &mi->level_status[i]) != ST_OK)
            return st_err_set(c->err, ST_E_INPUT,
                              "%s: malformed tcbLevels[%zu]", c->where, i);
        mi->level_isvsvn[i] = (uint8_t)v;
    }
    mi->n_levels = json_array_size(levels);
    return ST_OK;
}

void st_dcap_tcb_info_free(st_dcap_tcb_info *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_advisories; i++)
        free(t->advisory[i]);
    free(t->doc.text);
    free(t);
}

st_code st_dcap_tcb_info_parse(const char *text, size_t len, const char *origin,
                               st_dcap_tcb_info **out, st_err *err)
{
    static const char *const allowed[] = {
        "id",        "version",
        "issueDate", "nextUpdate",
        "fmspc",     "pceId",
        "tcbType",   "tcbEvaluationDataNumber",
        "tdxModule", "tdxModuleIdentities",
        "tcbLevels", NULL};
    json_t *root = NULL, *b;
    st_dcap_tcb_info *t = calloc(1, sizeof(*t));
    ctx c = {.origin = origin, .err = err};
    st_code rc = ST_E_INPUT;
    *out = NULL;
    if (err)
        st_err_clear(err);
    if (!t)
        return st_err_set(err, ST_E_IO, "out of memory");
    if (load_signed(text, len, origin, "tcbInfo", &t->doc, &b, &root, err) !=
        ST_OK)
        goto done;
    snprintf(c.where, sizeof(c.where), "%s: tcbInfo", origin);
    long long v;
    if (st_json_check_keys(b, allowed, c.where, err) != ST_OK ||
        st_json_get_int(b, "version", 1, 2, 3, &v, c.where, err) != ST_OK)
        goto done;
    t->version = (int)v;
    if (t->version == 3) {
        const char *id;
        if (st_json_get_string(b, "id", 1, &id, c.where, err) != ST_OK)
            goto done;
        if (strcmp(id, "SGX") && strcmp(id, "TDX")) {
            st_err_set(err, ST_E_INPUT,
                       "%s: \"id\" is \"%s\", not \"SGX\" or \"TDX\"", c.where,
                       id);
            goto done;
        }
        snprintf(t->id, sizeof(t->id), "%s", id);
    } else if (json_object_get(b, "id") || json_object_get(b, "tdxModule")) {
        st_err_set(err, ST_E_INPUT,
                   "%s: version 2 has no \"id\" or \"tdxModule\"", c.where);
        goto done;
    } else {
        snprintf(t->id, sizeof(t->id), "SGX");
    }
    if (get_time(&c, b, "issueDate", &t->issue_date) != ST_OK ||
        get_time(&c, b, "nextUpdate", &t->next_update) != ST_OK ||
        get_hex(&c, b, "fmspc", t->fmspc, 6) != ST_OK ||
        get_hex(&c, b, "pceId", t->pce_id, 2) != ST_OK ||
        st_json_get_int(b, "tcbType", 1, 0, 0, &v, c.where, err) != ST_OK ||
        st_json_get_int(b, "tcbEvaluationDataNumber", 1, 0, 1LL << 31,
                        &t->eval_number, c.where, err) != ST_OK)
        goto done;
    json_t *m = json_object_get(b, "tdxModule");
    if (m) {
        static const char *const mk[] = {"mrsigner", "attributes",
                                         "attributesMask", NULL};
        snprintf(c.where, sizeof(c.where), "%s: tcbInfo.tdxModule", origin);
        if (!json_is_object(m) ||
            st_json_check_keys(m, mk, c.where, err) != ST_OK ||
            get_hex(&c, m, "mrsigner", t->tdx_mrsigner, 48) != ST_OK ||
            get_hex(&c, m, "attributes", t->tdx_attributes, 8) != ST_OK ||
            get_hex(&c, m, "attributesMask", t->tdx_attributes_mask, 8) !=
                ST_OK) {
            st_err_set(err, ST_E_INPUT, "%s: malformed", c.where);
            goto done;
        }
        t->has_tdx_module = 1;
    }
    json_t *mods = json_object_get(b, "tdxModuleIdentities");
    if (mods) {
        size_t n = json_array_size(mods);
        if (!json_is_array(mods) ||
            n > sizeof(t->modules) / sizeof(t->modules[0])) {
            st_err_set(err, ST_E_INPUT,
                       "%s: tcbInfo.tdxModuleIdentities must be an array of "
                       "at most %zu",
                       origin, sizeof(t->modules) / sizeof(t->modules[0]));
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            snprintf(c.where, sizeof(c.where),
                     "%s: tcbInfo.tdxModuleIdentities[%zu]", origin, i);
            if (parse_module_identity(&c, json_array_get(mods, i),
                                      &t->modules[i]) != ST_OK)
                goto done;
        }
        t->n_modules = n;
    }
    json_t *levels = json_object_get(b, "tcbLevels");
    size_t n = json_array_size(levels);
    if (!json_is_array(levels) || n == 0 || n > ST_DCAP_MAX_LEVELS) {
        st_err_set(err, ST_E_INPUT,
                   "%s: tcbInfo.tcbLevels must be an array of 1..%d levels",
                   origin, ST_DCAP_MAX_LEVELS);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(c.where, sizeof(c.where), "%s: tcbInfo.tcbLevels[%zu]", origin,
                 i);
        if (parse_tcb_level(&c, t, json_array_get(levels, i), &t->levels[i]) !=
            ST_OK)
            goto done;
        if (!strcmp(t->id, "TDX") && !t->levels[i].has_tdx) {
            st_err_set(err, ST_E_INPUT,
                       "%s: a TDX level needs "
                       "\"tdxtcbcomponents\"",
                       c.where);
            goto done;
        }
    }
    t->n_levels = n;
    rc = ST_OK;
done:
    json_decref(root);
    if (rc != ST_OK) {
        if (err && err->code == ST_OK)
            st_err_set(err, ST_E_INPUT, "%s: invalid TCB Info", origin);
        st_dcap_tcb_info_free(t);
        return err ? err->code : rc;
    }
    *out = t;
    return ST_OK;
}

void st_dcap_qe_identity_free(st_dcap_qe_identity *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_advisories; i++)
        free(q->advisory[i]);
    free(q->doc.text);
    free(q);
}

st_code st_dcap_qe_identity_parse(const char *text, size_t len,
                                  const char *origin, st_dcap_qe_identity **out,
                                  st_err *err)
{
    static const char *const allowed[] = {"id",
                                          "version",
                                          "issueDate",
                                          "nextUpdate",
                                          "tcbEvaluationDataNumber",
                                          "miscselect",
                                          "miscselectMask",
                                          "attributes",
                                          "attributesMask",
                                          "mrsigner",
                                          "isvprodid",
                                          "tcbLevels",
                                          NULL};
    json_t *root = NULL, *b;
    st_dcap_qe_identity *q = calloc(1, sizeof(*q));
    ctx c = {.origin = origin, .err = err};
    st_code rc = ST_E_INPUT;
    *out = NULL;
    if (err)
        st_err_clear(err);
    if (!q)
        return st_err_set(err, ST_E_IO, "out of memory");
    if (load_signed(text, len, origin, "enclaveIdentity", &q->doc, &b, &root,
                    err) != ST_OK)
        goto done;
    snprintf(c.where, sizeof(c.where), "%s: enclaveIdentity", origin);
    long long v;
    const char *id;
    uint8_t m4[4];
    if (st_json_check_keys(b, allowed, c.where, err) != ST_OK ||
        st_json_get_int(b, "version", 1, 2, 2, &v, c.where, err) != ST_OK ||
        st_json_get_string(b, "id", 1, &id, c.where, err) != ST_OK)
        goto done;
    if (strcmp(id, "QE") && strcmp(id, "TD_QE") && strcmp(id, "QVE")) {
        st_err_set(err, ST_E_INPUT,
                   "%s: \"id\" is \"%s\", not QE, TD_QE or QVE", c.where, id);
        goto done;
    }
    snprintf(q->id, sizeof(q->id), "%s", id);
    q->version = (int)v;
    if (get_time(&c, b, "issueDate", &q->issue_date) != ST_OK ||
        get_time(&c, b, "nextUpdate", &q->next_update) != ST_OK ||
        st_json_get_int(b, "tcbEvaluationDataNumber", 1, 0, 1LL << 31, &v,
                        c.where, err) != ST_OK ||
        get_hex(&c, b, "miscselect", m4, 4) != ST_OK)
        goto done;
    /* Hex of the little-endian MISCSELECT bytes as they sit in the report. */
    q->miscselect = (uint32_t)m4[0] | (uint32_t)m4[1] << 8 |
                    (uint32_t)m4[2] << 16 | (uint32_t)m4[3] << 24;
    if (get_hex(&c, b, "miscselectMask", m4, 4) != ST_OK)
        goto done;
    q->miscselect_mask = (uint32_t)m4[0] | (uint32_t)m4[1] << 8 |
                         (uint32_t)m4[2] << 16 | (uint32_t)m4[3] << 24;
    if (get_hex(&c, b, "attributes", q->attributes, 16) != ST_OK ||
        get_hex(&c, b, "attributesMask", q->attributes_mask, 16) != ST_OK ||
        get_hex(&c, b, "mrsigner", q->mrsigner, 32) != ST_OK ||
        st_json_get_int(b, "isvprodid", 1, 0, 65535, &v, c.where, err) != ST_OK)
        goto done;
    q->isvprodid = (uint16_t)v;
    json_t *levels = json_object_get(b, "tcbLevels");
    size_t n = json_array_size(levels);
    if (!json_is_array(levels) || n == 0 || n > ST_DCAP_MAX_LEVELS) {
        st_err_set(err, ST_E_INPUT,
                   "%s: enclaveIdentity.tcbLevels must be an array of 1..%d "
                   "levels",
                   origin, ST_DCAP_MAX_LEVELS);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        static const char *const lk[] = {"tcb", "tcbDate", "tcbStatus",
                                         "advisoryIDs", NULL};
        json_t *l = json_array_get(levels, i);
        json_t *tcb = json_object_get(l, "tcb");
        snprintf(c.where, sizeof(c.where), "%s: enclaveIdentity.tcbLevels[%zu]",
                 origin, i);
        if (!json_is_object(l) ||
            st_json_check_keys(l, lk, c.where, err) != ST_OK ||
            !json_is_object(tcb) || json_object_size(tcb) != 1 ||
            st_json_get_int(tcb, "isvsvn", 1, 0, 65535, &v, c.where, err) !=
                ST_OK ||
            get_status(&c, l, &q->level_status[i]) != ST_OK ||
            get_advisories(&c, l, q->advisory,
                           sizeof(q->advisory) / sizeof(q->advisory[0]),
                           &q->n_advisories, &q->level_first_advisory[i],
                           &q->level_n_advisories[i]) != ST_OK) {
            if (err && err->code == ST_OK)
                st_err_set(err, ST_E_INPUT, "%s: malformed level", c.where);
            goto done;
        }
        q->level_isvsvn[i] = (uint16_t)v;
    }
    q->n_levels = n;
    rc = ST_OK;
done:
    json_decref(root);
    if (rc != ST_OK) {
        if (err && err->code == ST_OK)
            st_err_set(err, ST_E_INPUT, "%s: invalid QE Identity", origin);
        st_dcap_qe_identity_free(q);
        return err ? err->code : rc;
    }
    *out = q;
    return ST_OK;
}
