/*
 * ear.c: verdicts as EAT Attestation Results (EAR, draft-ietf-rats-ear,
 * JSON claims in a JWT, RFC 7519) signed EdDSA (Ed25519, RFC 8037) with
 * the workspace's verifier key, so relying parties that speak EAR (Veraison,
 * Trustee, nvtrust) can consume sealtrain's verdicts without our trace
 * format.
 *
 * The claims (draft-ietf-rats-ear section 3, AR4SI section 2.3):
 *   eat_profile      "tag:github.com,2023:veraison/ear"
 *   iat              issuance time (the caller's clock: the verifier has
 *                    none)
 *   ear.verifier-id  {"developer": "sealtrain", "build": "sealtrain X.Y"}
 *   eat_nonce        the nonce the verdict was bound to, base64url, when
 *                    EAT's JSON bounds allow it (RFC 9711 section 4.1: a
 *                    text string of 10-74 characters, so 8-55 bytes); the
 *                    full report data is always in the claims below
 *   submods          one appraisal per evidence part: the first component
 *                    of the trace's claim names ("snp", "tpm", "az",
 *                    "tdx", "sgx", "sim"), each with
 *       ear.status                  affirming | contraindicated
 *       ear.trustworthiness-vector  AR4SI claims (zero ones left out)
 *       ear.appraisal-policy-id     "sha-256:<hex>" of the policy (its
 *                                   canonical JSON), or
 *                                   "sealtrain:default-policy" for none
 *   sealtrain.verdict  {"pass", "reason", "collateral_digest" ("sha-256:
 *                      <hex>" over the evidence's collateral parts, when it
 *                      has any), "claims" (the normalised claims)}
 *
 * Status: a submodule is affirming only when the whole verdict passed; a
 * failing verdict makes every submodule contraindicated, so no relying
 * party can read a partly good result as a pass. The vector says which
 * aspect failed.
 *
 * Never: put a secret in a claim (the claims are the verifier's output,
 * public by design); sign with a key outside secure memory; accept a token
 * whose header names another algorithm than EdDSA.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest/ear.h"
#include "attest_internal.h"
#include "crypto/primitives.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"
#include "sealtrain/version.h"

#define EAR_PROFILE "tag:github.com,2023:veraison/ear"

/* AR4SI trustworthiness claim values (draft-ietf-rats-ar4si section 2.3):
 * 2 is the affirming tier's first value, 32 the warning tier's, 96 the
 * contraindicated tier's. */
enum {
    TV_NONE = 0,
    TV_AFFIRMING = 2,
    TV_WARNING = 32,
    TV_UNRECOGNIZED = 33,
    TV_CONTRAINDICATED = 96
};

static char *b64url(const uint8_t *b, size_t n)
{
    char *s = st_base64_encode(b, n, 0);
    for (char *p = s; p && *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return s;
}

static st_code b64url_decode(const char *s, size_t n, uint8_t **out,
                             size_t *len, st_err *err)
{
    char *t = malloc(n + 1);
    if (!t)
        return st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+' || s[i] == '/' || s[i] == '=') {
            free(t);
            return st_err_set(err, ST_E_INPUT,
                              "not base64url (RFC 4648 section 5, no "
                              "padding) at byte %zu",
                              i);
        }
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    }
    t[n] = 0;
    st_code rc = st_base64_decode(t, n, 0, out, len, err);
    free(t);
    return rc;
}

void st_ear_key_id(const uint8_t pub[32], char out[44])
{
    /* RFC 7638 thumbprint: SHA-256 of the required members in order */
    char *x = b64url(pub, 32), json[128];
    uint8_t d[32];
    snprintf(json, sizeof(json),
             "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x ? x : "");
    st_sha256(json, strlen(json), d);
    char *k = b64url(d, 32);
    snprintf(out, 44, "%s", k ? k : "");
    free(x);
    free(k);
}

char *st_ear_key_jwk(const uint8_t pub[32], st_err *err)
{
    char kid[44], *x = b64url(pub, 32);
    st_ear_key_id(pub, kid);
    json_t *o = x ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP",
                              "crv", "Ed25519", "x", x, "kid", kid, "alg",
                              "EdDSA", "use", "sig")
                  : NULL;
    char *s = o ? st_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    free(x);
    if (!s)
        st_err_set(err, ST_E_IO, "ear key: out of memory");
    return s;
}

st_code st_ear_key_load(const char *path, int create, uint8_t seed[32],
                        uint8_t pub[32], st_err *err)
{
    /* the same file form as the sim platform key: PKCS#8 PEM, 0600 */
    return st_attest_key_file(path, create, "EAR verifier key", seed, pub, err);
}

void st_attest_policy_id(const st_attest_policy *p, char out[80])
{
    uint8_t d[32];
    char hex[65];
    if (!st_attest_policy_digest(p, d)) {
        snprintf(out, 80, "sealtrain:default-policy");
        return;
    }
    st_hex_encode(d, 32, hex);
    snprintf(out, 80, "sha-256:%s", hex);
}

/* The evidence parts that are collateral rather than evidence proper: what
 * the verdict's trust in the hardware rests on besides the pinned roots. */
static int is_collateral_part(const char *name)
{
    static const char *const names[] = {
        "tcb_info", "qe_identity", "tcb_chain", "collateral", "chain", "ask",
        "ark",      "asvk",        "vcek",      "vlek",       "cert",  NULL};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(name, names[i]))
            return 1;
    return !strncmp(name, "crl.", 4);
}

int st_evidence_collateral_digest(const st_evidence *ev, uint8_t out[32])
{
    /* SHA-256 over (name NUL, 8-byte big-endian length, bytes) of each
     * collateral part in the bundle's order (sorted by name) */
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int n = 0;
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return 0;
    }
    for (size_t i = 0; i < st_evidence_count(ev); i++) {
        const char *name = st_evidence_name(ev, i);
        if (!is_collateral_part(name))
            continue;
        size_t len;
        const uint8_t *d = st_evidence_get(ev, name, &len);
        uint8_t be[8];
        for (int k = 0; k < 8; k++)
            be[k] = (uint8_t)((uint64_t)len >> (56 - 8 * k));
        EVP_DigestUpdate(c, name, strlen(name) + 1);
        EVP_DigestUpdate(c, be, 8);
        EVP_DigestUpdate(c, d, len);
        n++;
    }
    unsigned int dl = 0;
    int ok = n > 0 && EVP_DigestFinal_ex(c, out, &dl) == 1 && dl == 32;
    EVP_MD_CTX_free(c);
    return ok;
}

/* ---- the appraisal ---------------------------------------------------- */

static int prefix_is(const char *claim, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(claim, prefix, n) && (claim[n] == '.' || !claim[n]);
}

/* The worst value of `claims` entries under `prefix` ("policy.debug"):
 * TV_NONE when none ran, else affirming or `bad`. */
static int tier(const st_trace *t, const char *const *names, int bad)
{
    int v = TV_NONE;
    for (size_t i = 0; i < t->n; i++) {
        for (size_t k = 0; names[k]; k++) {
            if (!prefix_is(t->entries[i].claim, names[k]))
                continue;
            if (!t->entries[i].ok)
                return bad;
            v = TV_AFFIRMING;
        }
    }
    return v;
}

static void vec_set(json_t *o, const char *k, int v)
{
    if (v != TV_NONE)
        json_object_set_new(o, k, json_integer(v));
}

/* One submodule: the checks named "<sub>.*" and the verdict's global
 * ones (report data, policy). */
static json_t *appraisal(const st_verdict *v, const char *sub,
                         const char *policy_id)
{
    const st_trace *t = &v->trace;
    const char *own[] = {sub, NULL};
    const char *ident[] = {"report_data", "policy.report_data", NULL};
    const char *exe[] = {"policy.measurement", NULL};
    const char *conf[] = {"policy.debug",      "policy.fields",
                          "policy.min_tcb",    "policy.min_fields",
                          "policy.tcb_status", "policy.tcb_advisories",
                          "policy.max_age",    NULL};
    const char *tee[] = {"policy.tee", "policy.insecure", NULL};
    int hw = tier(t, own, TV_CONTRAINDICATED);
    if (hw == TV_AFFIRMING && v->claims.tcb_status[0] &&
        strcmp(v->claims.tcb_status, "UpToDate") != 0)
        hw = TV_WARNING; /* accepted by the policy, but not up to date */
    if (tier(t, tee, TV_CONTRAINDICATED) == TV_CONTRAINDICATED)
        hw = TV_CONTRAINDICATED;
    json_t *vec = json_object();
    vec_set(vec, "instance-identity", tier(t, ident, TV_CONTRAINDICATED));
    vec_set(vec, "configuration", tier(t, conf, TV_CONTRAINDICATED));
    vec_set(vec, "executables", tier(t, exe, TV_UNRECOGNIZED));
    vec_set(vec, "hardware", hw);
    /* memory encrypted from the host: a hardware TEE without debug */
    if (v->claims.insecure || v->claims.debug)
        vec_set(vec, "runtime-opaque", TV_CONTRAINDICATED);
    else if (v->claims.tee != ST_TEE_TPM)
        vec_set(vec, "runtime-opaque", TV_AFFIRMING);
    return json_pack("{s:s, s:o, s:s}", "ear.status",
                     v->pass ? "affirming" : "contraindicated",
                     "ear.trustworthiness-vector", vec,
                     "ear.appraisal-policy-id", policy_id);
}

/* The evidence parts: first components of the trace's claim names, in
 * order, without the framework's own ("report_data", "policy"). */
static json_t *submods(const st_verdict *v, const char *policy_id)
{
    json_t *s = json_object();
    for (size_t i = 0; s && i < v->trace.n; i++) {
        char name[32];
        const char *c = v->trace.entries[i].claim;
        size_t n = strcspn(c, ".");
        if (n == 0 || n >= sizeof(name))
            continue;
        memcpy(name, c, n);
        name[n] = 0;
        if (!strcmp(name, "report_data") || !strcmp(name, "policy") ||
            json_object_get(s, name))
            continue;
        json_object_set_new(s, name, appraisal(v, name, policy_id));
    }
    /* a verdict with no TEE checks still says what it is about */
    if (s && json_object_size(s) == 0)
        json_object_set_new(
            s, st_tee_name(v->claims.tee),
            appraisal(v, st_tee_name(v->claims.tee), policy_id));
    return s;
}

json_t *st_ear_claims(const st_verdict *v, const st_ear_inputs *in)
{
    char pid[80], build[64], cd[80] = "";
    uint8_t d[32];
    snprintf(pid, sizeof(pid), "%s",
             in->policy_id ? in->policy_id : "sealtrain:default-policy");
    snprintf(build, sizeof(build), "sealtrain %s", st_version());
    if (v->collateral_digest[0])
        snprintf(cd, sizeof(cd), "%s", v->collateral_digest);
    else if (in->ev && st_evidence_collateral_digest(in->ev, d)) {
        char hex[65];
        st_hex_encode(d, 32, hex);
        snprintf(cd, sizeof(cd), "sha-256:%s", hex);
    }
    json_t *verdict =
        json_pack("{s:b, s:s, s:o}", "pass", v->pass, "reason", v->reason,
                  "claims", st_claims_to_json(&v->claims));
    if (verdict && cd[0])
        json_object_set_new(verdict, "collateral_digest", json_string(cd));
    json_t *o =
        json_pack("{s:s, s:I, s:{s:s, s:s}, s:o, s:o}", "eat_profile",
                  EAR_PROFILE, "iat", (json_int_t)in->iat, "ear.verifier-id",
                  "developer", "sealtrain", "build", build, "submods",
                  submods(v, pid), "sealtrain.verdict", verdict);
    if (o && in->nonce && in->nonce_len >= 8 && in->nonce_len <= 55) {
        char *n = b64url(in->nonce, in->nonce_len);
        json_object_set_new(o, "eat_nonce", json_string(n ? n : ""));
        free(n);
    }
    return o;
}

st_code st_ear_signer_init(st_ear_signer *s, const uint8_t *seed, st_err *err)
{
    memset(s, 0, sizeof(*s));
    /* The key is expanded once (hash, clamp, public point): signing with a
     * raw seed would redo that scalar multiplication per verdict. OpenSSL
     * keeps the private half in its secure heap when one is set up and
     * wipes it on free (st_ear_signer_free). */
    EVP_PKEY *k =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    size_t pl = 32;
    if (!k || EVP_PKEY_get_raw_public_key(k, s->pub, &pl) != 1 || pl != 32) {
        EVP_PKEY_free(k);
        return st_err_openssl(err, ST_E_INTERNAL, "EAR verifier key");
    }
    s->key = k;
    st_ear_key_id(s->pub, s->kid);
    return ST_OK;
}

void st_ear_signer_free(st_ear_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    s->key = NULL;
}

st_code st_ear_encode(const st_verdict *v, const st_ear_inputs *in,
                      const uint8_t seed[32], char **out, st_err *err)
{
    st_ear_signer s;
    *out = NULL;
    st_code rc = st_ear_signer_init(&s, seed, err);
    if (rc == ST_OK)
        rc = st_ear_sign(&s, v, in, out, err);
    st_ear_signer_free(&s);
    return rc;
}

static st_code sign_raw(const st_ear_signer *s, const void *msg, size_t len,
                        uint8_t sig[64], st_err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t sl = 64;
    int ok =
        md &&
        EVP_DigestSignInit(md, NULL, NULL, NULL, (EVP_PKEY *)s->key) == 1 &&
        EVP_DigestSign(md, sig, &sl, msg, len) == 1 && sl == 64;
    EVP_MD_CTX_free(md);
    return ok ? ST_OK : st_err_openssl(err, ST_E_INTERNAL, "EAR signing");
}

st_code st_ear_sign(const st_ear_signer *s, const st_verdict *v,
                    const st_ear_inputs *in, char **out, st_err *err)
{
    *out = NULL;
    uint8_t sig[64];
    st_code rc = ST_OK;
    json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "typ", "JWT",
                            "kid", s->kid);
    json_t *claims = st_ear_claims(v, in);
    /* insertion order: a JWT needs no canonical form (the signature covers
     * the exact bytes) */
    char *h = hdr ? st_json_dumps(hdr, JSON_COMPACT) : NULL;
    char *p = claims ? st_json_dumps(claims, JSON_COMPACT) : NULL;
    char *hb = h ? b64url((const uint8_t *)h, strlen(h)) : NULL;
    char *pb = p ? b64url((const uint8_t *)p, strlen(p)) : NULL;
    json_decref(hdr);
    json_decref(claims);
    free(h);
    free(p);
    st_buf b;
    st_buf_init(&b);
    if (!hb || !pb) {
        rc = st_err_set(err, ST_E_IO, "EAR: out of memory");
        goto out;
    }
    /* JWS signing input: ASCII(b64url(header) "." b64url(payload)) */
    if ((rc = st_buf_append(&b, hb, strlen(hb), err)) != ST_OK ||
        (rc = st_buf_append(&b, ".", 1, err)) != ST_OK ||
        (rc = st_buf_append(&b, pb, strlen(pb), err)) != ST_OK ||
        (rc = sign_raw(s, b.data, b.len, sig, err)) != ST_OK)
        goto out;
    char *sb = b64url(sig, 64);
    if (!sb || (rc = st_buf_append(&b, ".", 1, err)) != ST_OK ||
        (rc = st_buf_append(&b, sb, strlen(sb), err)) != ST_OK) {
        free(sb);
        rc = rc ? rc : st_err_set(err, ST_E_IO, "EAR: out of memory");
        goto out;
    }
    free(sb);
    *out = strndup((const char *)b.data, b.len);
    if (!*out)
        rc = st_err_set(err, ST_E_IO, "EAR: out of memory");
out:
    st_buf_free(&b);
    free(hb);
    free(pb);
    return rc;
}

st_code st_ear_verify(const char *jwt, size_t len, const uint8_t pub[32],
                      json_t **claims, st_err *err)
{
    *claims = NULL;
    const char *d1 = memchr(jwt, '.', len);
    const char *d2 =
        d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)))
        return st_err_set(err, ST_E_INPUT,
                          "EAR: not a compact JWS (three base64url parts "
                          "separated by dots)");
    uint8_t *h = NULL, *p = NULL, *s = NULL;
    size_t hl, pl, sl;
    json_t *hdr = NULL;
    st_code rc = b64url_decode(jwt, (size_t)(d1 - jwt), &h, &hl, err);
    if (rc != ST_OK) {
        st_err_prefix(err, "EAR header");
        goto out;
    }
    if (!(hdr = st_json_parse((const char *)h, hl, "EAR header", err))) {
        rc = ST_E_INPUT;
        goto out;
    }
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, "EdDSA") != 0) {
        rc = st_err_set(err, ST_E_INPUT,
                        "EAR header: alg \"%.20s\" is not EdDSA",
                        alg ? alg : "(absent)");
        goto out;
    }
    if ((rc = b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), &s, &sl,
                            err)) != ST_OK ||
        sl != 64) {
        rc = rc ? rc
                : st_err_set(err, ST_E_INPUT,
                             "EAR signature: %zu bytes, Ed25519 has 64", sl);
        goto out;
    }
    if ((rc = st_ed25519_verify(pub, jwt, (size_t)(d2 - jwt), s, err)) !=
        ST_OK) {
        rc = st_err_set(err, ST_E_DENIED,
                        "EAR: the signature does not verify with the "
                        "verifier key");
        goto out;
    }
    if ((rc = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &p, &pl, err)) !=
        ST_OK) {
        st_err_prefix(err, "EAR payload");
        goto out;
    }
    if (!(*claims = st_json_parse((const char *)p, pl, "EAR payload", err)))
        rc = ST_E_INPUT;
out:
    json_decref(hdr);
    free(h);
    free(p);
    free(s);
    return rc;
}
