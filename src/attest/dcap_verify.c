/*
 * dcap_verify.c: verification of an Intel DCAP quote (SGX v3, TDX v4/v5)
 * against collateral, claim by claim.
 *
 * Steps (Intel SGX/TDX DCAP Quote Verification Library, "Quote
 * Verification" 4.1.2.4): the quote signature by the attestation key; the
 * PCK chain from the quote to the pinned Intel SGX Root CA at the given
 * time, with CRLs; the QE report signature by the PCK key; the binding of
 * the attestation key into the QE report (report_data[0..32] = SHA-256(
 * attestation key || QE authentication data)); TCB Info and QE Identity
 * signed by the TCB-signing chain and current at the given time; FMSPC and
 * PCE ID of the PCK certificate against the TCB Info; QE identity (MRSIGNER,
 * ISVPRODID, masked MISCSELECT and ATTRIBUTES, ISVSVN level); the TCB level
 * from the PCK TCB (and the TEE TCB SVN for TDX), converged with the QE and
 * TDX module statuses; the caller's report data.
 *
 * Every check reports one trace entry (claim, expected, actual, ok), so a
 * denial names the claim that failed. Checks go on after a failure where
 * they still mean something, so one run shows every problem.
 *
 * Never reads the clock: the time is opts->at. Never trusts a root from
 * input: only st_dcap_intel_root_pem anchors chains.
 */
#include "attest/dcap.h"
#include "attest_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/primitives.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/secmem.h"

#define MAX_COLLATERAL (1u << 20)

struct st_dcap_collateral {
    st_dcap_tcb_info *tcb;
    st_dcap_qe_identity *qe;
    STACK_OF(X509) * tcb_chain; /* signer first; untrusted */
    STACK_OF(X509_CRL) * crls;
    X509 *root;        /* pinned */
    X509_STORE *store; /* holding only the pinned root */
    EVP_PKEY *tcb_key; /* public key of the TCB signing certificate */
};

/* ---- small OpenSSL helpers ---- */

static STACK_OF(X509) * pem_chain(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    if (!bio || !sk || len > INT32_MAX) {
        BIO_free(bio);
        sk_X509_free(sk);
        return NULL;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(bio);
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return NULL;
    }
    return sk;
}

/* A P-256 public key from the 64-byte x||y of a quote. */
static EVP_PKEY *p256_raw_key(const uint8_t xy[64])
{
    uint8_t pt[65];
    EVP_PKEY *pkey = NULL;
    pt[0] = 0x04;
    memcpy(pt + 1, xy, 64);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (bld && ctx &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                         sizeof(pt)) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
        EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    /* fromdata does not check that the point is on the curve */
    if (pkey) {
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!chk || EVP_PKEY_public_check(chk) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(chk);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return pkey;
}

/* 1 if the 64-byte r||s signature over msg (SHA-256) verifies under a
 * P-256 key, else 0. */
static int ecdsa_p256_verify(EVP_PKEY *key, const uint8_t *msg, size_t len,
                             const uint8_t rs[64])
{
    int ok = 0;
    unsigned char *der = NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!sig || !r || !s || !md || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        goto done;
    }
    int dlen = i2d_ECDSA_SIG(sig, &der);
    if (dlen <= 0)
        goto done;
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestVerify(md, der, (size_t)dlen, msg, len) == 1)
        ok = 1;
done:
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

static int is_p256(EVP_PKEY *key)
{
    char group[32];
    size_t glen;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return 0;
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                        sizeof(group), &glen))
        return 0;
    return !strcmp(group, "prime256v1");
}

static void cert_cn(X509 *x, char *out, size_t cap)
{
    out[0] = 0;
    if (!x || X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                        NID_commonName, out, (int)cap) < 0)
        snprintf(out, cap, "?");
}

static void name_cn(const X509_NAME *n, char *out, size_t cap)
{
    out[0] = 0;
    if (X509_NAME_get_text_by_NID((X509_NAME *)n, NID_commonName, out,
                                  (int)cap) < 0)
        snprintf(out, cap, "?");
}

static void asn1_text(const ASN1_TIME *t, char out[32])
{
    struct tm tm;
    if (t && ASN1_TIME_to_tm(t, &tm) == 1)
        st_dcap_time_format((int64_t)timegm(&tm), out);
    else
        snprintf(out, 32, "none");
}

/* ---- collateral ---- */

void st_dcap_collateral_free(st_dcap_collateral *c)
{
    if (!c)
        return;
    st_dcap_tcb_info_free(c->tcb);
    st_dcap_qe_identity_free(c->qe);
    sk_X509_pop_free(c->tcb_chain, X509_free);
    sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
    X509_free(c->root);
    X509_STORE_free(c->store);
    EVP_PKEY_free(c->tcb_key);
    free(c);
}

static void add_date(json_t *arr, const char *doc, int64_t issued, int64_t next)
{
    /* 0: the document states no such time */
    json_t *o = json_pack("{s:s,s:I,s:I}", "document", doc, "issued",
                          (json_int_t)(issued < 0 ? 0 : issued), "next_update",
                          (json_int_t)(next < 0 ? 0 : next));
    if (o)
        json_array_append_new(arr, o);
}

void st_dcap_collateral_dates(const st_dcap_collateral *c, const char *prefix,
                              json_t *arr)
{
    char doc[192], cn[128];
    if (!c || !arr)
        return;
    if (c->tcb) {
        snprintf(doc, sizeof(doc), "%s.tcb_info", prefix);
        add_date(arr, doc, c->tcb->issue_date, c->tcb->next_update);
    }
    if (c->qe) {
        snprintf(doc, sizeof(doc), "%s.qe_identity", prefix);
        add_date(arr, doc, c->qe->issue_date, c->qe->next_update);
    }
    for (int k = 0; k < sk_X509_CRL_num(c->crls); k++) {
        X509_CRL *crl = sk_X509_CRL_value(c->crls, k);
        name_cn(X509_CRL_get_issuer(crl), cn, sizeof(cn));
        snprintf(doc, sizeof(doc), "%s.crl (%s)", prefix, cn);
        add_date(arr, doc, st_attest_asn1_unix(X509_CRL_get0_lastUpdate(crl)),
                 st_attest_asn1_unix(X509_CRL_get0_nextUpdate(crl)));
    }
}

static ST_MUST_CHECK st_code set_chain(st_dcap_collateral *c, const char *pem,
                                       size_t len, const char *origin,
                                       st_err *err)
{
    c->tcb_chain = pem_chain(pem, len);
    if (!c->tcb_chain)
        return st_err_set(err, ST_E_INPUT,
                          "%s: no PEM certificate in the TCB signing chain",
                          origin);
    c->tcb_key = X509_get_pubkey(sk_X509_value(c->tcb_chain, 0));
    if (!is_p256(c->tcb_key))
        return st_err_set(err, ST_E_INPUT,
                          "%s: the TCB signing certificate has no P-256 key",
                          origin);
    return ST_OK;
}

static ST_MUST_CHECK st_code add_crl(st_dcap_collateral *c, const uint8_t *data,
                                     size_t len, const char *origin,
                                     st_err *err)
{
    X509_CRL *crl = st_attest_crl_parse(data, len);
    if (!crl)
        return st_err_set(err, ST_E_INPUT, "%s: not a CRL (DER or PEM)",
                          origin);
    if (!sk_X509_CRL_push(c->crls, crl)) {
        X509_CRL_free(crl);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    return ST_OK;
}

/* dcap-qvl's QuoteCollateralV3 JSON: tcb_info and qe_identity are the
 * exact signed strings, signatures and CRLs hex, chains PEM. */
static ST_MUST_CHECK st_code load_qvl(st_dcap_collateral *c,
                                      const st_dcap_blob *b, st_err *err)
{
    static const char *const allowed[] = {"pck_crl_issuer_chain",
                                          "root_ca_crl",
                                          "pck_crl",
                                          "tcb_info_issuer_chain",
                                          "tcb_info",
                                          "tcb_info_signature",
                                          "qe_identity_issuer_chain",
                                          "qe_identity",
                                          "qe_identity_signature",
                                          NULL};
    const char *path = b->origin;
    st_code rc = ST_E_INPUT;
    json_t *j = st_json_parse((const char *)b->data, b->len, path, err);
    st_buf doc;
    st_buf_init(&doc);
    if (!j)
        return ST_E_INPUT;
    const char *chain, *tcb, *tsig, *qe, *qsig, *crl_hex[2];
    if (!json_is_object(j) ||
        st_json_check_keys(j, allowed, path, err) != ST_OK ||
        st_json_get_string(j, "tcb_info_issuer_chain", 1, &chain, path, err) !=
            ST_OK ||
        st_json_get_string(j, "tcb_info", 1, &tcb, path, err) != ST_OK ||
        st_json_get_string(j, "tcb_info_signature", 1, &tsig, path, err) !=
            ST_OK ||
        st_json_get_string(j, "qe_identity", 1, &qe, path, err) != ST_OK ||
        st_json_get_string(j, "qe_identity_signature", 1, &qsig, path, err) !=
            ST_OK ||
        st_json_get_string(j, "root_ca_crl", 1, &crl_hex[0], path, err) !=
            ST_OK ||
        st_json_get_string(j, "pck_crl", 1, &crl_hex[1], path, err) != ST_OK)
        goto done;
    if (set_chain(c, chain, strlen(chain), path, err) != ST_OK)
        goto done;
    /* Rebuild the PCS documents around the exact signed strings, so that
     * one parser (and one signature span finder) serves both formats. */
    char origin[300];
    if (st_buf_printf(&doc, err, "{\"tcbInfo\":%s,\"signature\":\"%s\"}", tcb,
                      tsig) != ST_OK)
        goto done;
    snprintf(origin, sizeof(origin), "%s: tcb_info", path);
    if (st_dcap_tcb_info_parse((const char *)doc.data, doc.len, origin, &c->tcb,
                               err) != ST_OK)
        goto done;
    doc.len = 0;
    if (st_buf_printf(&doc, err,
                      "{\"enclaveIdentity\":%s,\"signature\":\"%s\"}", qe,
                      qsig) != ST_OK)
        goto done;
    snprintf(origin, sizeof(origin), "%s: qe_identity", path);
    if (st_dcap_qe_identity_parse((const char *)doc.data, doc.len, origin,
                                  &c->qe, err) != ST_OK)
        goto done;
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(crl_hex[i]) / 2;
        uint8_t *der = malloc(n ? n : 1);
        if (!der) {
            st_err_set(err, ST_E_IO, "out of memory");
            goto done;
        }
        st_code r2 = st_hex_decode(crl_hex[i], der, n, err);
        if (r2 == ST_OK)
            r2 = add_crl(c, der, n, path, err);
        free(der);
        if (r2 != ST_OK) {
            st_err_prefix(err, "%s: %s", path, i ? "pck_crl" : "root_ca_crl");
            goto done;
        }
    }
    rc = ST_OK;
done:
    st_buf_free(&doc);
    json_decref(j);
    return rc;
}

st_code st_dcap_collateral_parse(const st_dcap_collateral_parts *p,
                                 st_dcap_collateral **out, st_err *err)
{
    st_dcap_collateral *c = calloc(1, sizeof(*c));
    st_code rc = ST_E_INPUT;
    *out = NULL;
    if (!c)
        return st_err_set(err, ST_E_IO, "out of memory");
    c->crls = sk_X509_CRL_new_null();
    BIO *bio = BIO_new_mem_buf(st_dcap_intel_root_pem, -1);
    c->root = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    c->store = X509_STORE_new();
    if (!c->crls || !c->root || !c->store ||
        X509_STORE_add_cert(c->store, c->root) != 1) {
        rc = st_err_openssl(err, ST_E_INTERNAL,
                            "loading the pinned Intel SGX Root CA");
        goto fail;
    }
    int pcs = p->tcb_info.data || p->qe_identity.data;
    if (p->qvl.data && pcs) {
        rc = st_err_set(err, ST_E_USAGE,
                        "DCAP collateral: give either a collateral JSON or "
                        "TCB Info and QE Identity, not both");
        goto fail;
    }
    if (p->qvl.data && (rc = load_qvl(c, &p->qvl, err)) != ST_OK)
        goto fail;
    if (pcs) {
        if (!p->tcb_info.data || !p->qe_identity.data || !p->tcb_chain.data) {
            rc = st_err_set(err, ST_E_USAGE,
                            "DCAP collateral: TCB Info, QE Identity and the "
                            "TCB signing chain are all required");
            goto fail;
        }
        if ((rc = st_dcap_tcb_info_parse((const char *)p->tcb_info.data,
                                         p->tcb_info.len, p->tcb_info.origin,
                                         &c->tcb, err)) != ST_OK ||
            (rc = st_dcap_qe_identity_parse(
                 (const char *)p->qe_identity.data, p->qe_identity.len,
                 p->qe_identity.origin, &c->qe, err)) != ST_OK)
            goto fail;
    }
    if (p->tcb_chain.data) {
        /* an explicit chain replaces the one in a collateral JSON */
        sk_X509_pop_free(c->tcb_chain, X509_free);
        c->tcb_chain = NULL;
        EVP_PKEY_free(c->tcb_key);
        c->tcb_key = NULL;
        if ((rc = set_chain(c, (const char *)p->tcb_chain.data,
                            p->tcb_chain.len, p->tcb_chain.origin, err)) !=
            ST_OK)
            goto fail;
    }
    for (size_t i = 0; i < p->ncrls; i++)
        if ((rc = add_crl(c, p->crls[i].data, p->crls[i].len, p->crls[i].origin,
                          err)) != ST_OK)
            goto fail;
    *out = c;
    return ST_OK;
fail:
    st_dcap_collateral_free(c);
    return rc == ST_OK ? ST_E_INTERNAL : rc;
}

static ST_MUST_CHECK st_code read_blob(const char *path, st_dcap_blob *b,
                                       st_err *err)
{
    unsigned char *buf;
    b->origin = path;
    if (!path)
        return ST_OK;
    st_code rc = st_fs_read_all(path, MAX_COLLATERAL, &buf, &b->len, err);
    b->data = rc == ST_OK ? buf : NULL;
    return rc;
}

st_code st_dcap_collateral_load(const st_dcap_collateral_files *f,
                                st_dcap_collateral **out, st_err *err)
{
    st_dcap_collateral_parts p = {0};
    st_dcap_blob crls[16] = {{0}};
    st_code rc = ST_OK;
    *out = NULL;
    if (f->ncrls > sizeof(crls) / sizeof(crls[0]))
        return st_err_set(err, ST_E_USAGE, "DCAP collateral: at most %zu CRLs",
                          sizeof(crls) / sizeof(crls[0]));
    if ((rc = read_blob(f->tcb_info, &p.tcb_info, err)) != ST_OK ||
        (rc = read_blob(f->qe_identity, &p.qe_identity, err)) != ST_OK ||
        (rc = read_blob(f->tcb_chain, &p.tcb_chain, err)) != ST_OK ||
        (rc = read_blob(f->qvl, &p.qvl, err)) != ST_OK)
        goto done;
    for (size_t i = 0; i < f->ncrls; i++)
        if ((rc = read_blob(f->crls[i], &crls[i], err)) != ST_OK)
            goto done;
    p.crls = crls;
    p.ncrls = f->ncrls;
    rc = st_dcap_collateral_parse(&p, out, err);
done:
    free((void *)p.tcb_info.data);
    free((void *)p.qe_identity.data);
    free((void *)p.tcb_chain.data);
    free((void *)p.qvl.data);
    for (size_t i = 0; i < f->ncrls; i++)
        free((void *)crls[i].data);
    return rc;
}

/* ---- verification ---- */

typedef struct vctx {
    const st_dcap_options *o;
    st_dcap_result *res;
    char at_text[32];
} vctx;

/* Reports one claim; `actual` is printf-formatted. Returns ok. */
__attribute__((format(printf, 5, 6))) static int claim(vctx *v,
                                                       const char *name, int ok,
                                                       const char *expected,
                                                       const char *fmt, ...)
{
    char actual[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(actual, sizeof(actual), fmt, ap);
    va_end(ap);
    if (!ok) {
        if (v->res->failed++ == 0)
            snprintf(v->res->first_failed, sizeof(v->res->first_failed), "%s",
                     name);
    }
    if (v->o->trace)
        v->o->trace(v->o->trace_ctx, name, expected, actual, ok);
    return ok;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    st_hex_encode(b, n, out);
}

/* Verifies `leaf` with `untrusted` intermediates to the pinned root at
 * v->o->at; on success *chain_out holds the verified chain (leaf first). */
static int verify_chain(vctx *v, const st_dcap_collateral *c, X509 *leaf,
                        STACK_OF(X509) * untrusted, const char *claim_name,
                        STACK_OF(X509) * *chain_out)
{
    char expected[200], cn[128];
    snprintf(expected, sizeof(expected),
             "chain to the pinned Intel SGX Root CA (sha256 44a0196b...), "
             "every certificate valid at %s",
             v->at_text);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;
    *chain_out = NULL;
    if (!ctx || X509_STORE_CTX_init(ctx, c->store, leaf, untrusted) != 1) {
        X509_STORE_CTX_free(ctx);
        return claim(v, claim_name, 0, expected,
                     "could not set up chain verification");
    }
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(p, (time_t)v->o->at);
    if (X509_verify_cert(ctx) == 1) {
        *chain_out = X509_STORE_CTX_get1_chain(ctx);
        cert_cn(leaf, cn, sizeof(cn));
        ok = claim(v, claim_name, 1, expected,
                   "\"%s\" verified through %d certificates to the pinned "
                   "root",
                   cn, sk_X509_num(*chain_out));
    } else {
        int e = X509_STORE_CTX_get_error(ctx);
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
        cert_cn(cur, cn, sizeof(cn));
        if (cur && (e == X509_V_ERR_CERT_HAS_EXPIRED ||
                    e == X509_V_ERR_CERT_NOT_YET_VALID)) {
            char a[32], b[32];
            asn1_text(X509_get0_notBefore(cur), a);
            asn1_text(X509_get0_notAfter(cur), b);
            claim(v, claim_name, 0, expected,
                  "\"%s\" (depth %d) not valid at %s: valid from %s to %s", cn,
                  depth, v->at_text, a, b);
        } else {
            claim(v, claim_name, 0, expected, "%s (depth %d, \"%s\")",
                  X509_verify_cert_error_string(e), depth, cn);
        }
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* Checks every certificate of a verified chain (except the self-signed
 * root) against the CRL of its issuer when one was supplied. */
static int check_crls(vctx *v, const st_dcap_collateral *c,
                      STACK_OF(X509) * chain, const char *claim_name)
{
    char expected[160], done[600] = "", cn[128], icn[128];
    size_t used = 0;
    int covered = 0, total = 0;
    snprintf(expected, sizeof(expected),
             "no certificate revoked; each CRL signed by its issuer and "
             "current at %s%s",
             v->at_text,
             v->o->require_crls ? "; every certificate covered" : "");
    if (!chain)
        return claim(v, claim_name, 0, expected, "no verified chain");
    for (int i = 0; i + 1 < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i),
             *issuer = sk_X509_value(chain, i + 1);
        total++;
        cert_cn(x, cn, sizeof(cn));
        for (int k = 0; k < sk_X509_CRL_num(c->crls); k++) {
            X509_CRL *crl = sk_X509_CRL_value(c->crls, k);
            if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
                              X509_get_subject_name(issuer)) != 0)
                continue;
            name_cn(X509_CRL_get_issuer(crl), icn, sizeof(icn));
            EVP_PKEY *ik = X509_get0_pubkey(issuer);
            if (!ik || X509_CRL_verify(crl, ik) != 1) {
                ERR_clear_error();
                return claim(v, claim_name, 0, expected,
                             "the CRL of \"%s\" is not signed by it", icn);
            }
            time_t t = (time_t)v->o->at;
            const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(crl);
            if (X509_cmp_time(X509_CRL_get0_lastUpdate(crl), &t) > 0 ||
                (nu && X509_cmp_time(nu, &t) < 0)) {
                char a[32], b[32];
                asn1_text(X509_CRL_get0_lastUpdate(crl), a);
                asn1_text(nu, b);
                return claim(v, claim_name, 0, expected,
                             "the CRL of \"%s\" is not valid at %s: valid "
                             "from %s (thisUpdate) to %s (nextUpdate)",
                             icn, v->at_text, a, b);
            }
            X509_REVOKED *rev = NULL;
            if (X509_CRL_get0_by_cert(crl, &rev, x) == 1) {
                ASN1_INTEGER *sn = X509_get_serialNumber(x);
                BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
                char *snhex = bn ? BN_bn2hex(bn) : NULL;
                claim(v, claim_name, 0, expected,
                      "\"%s\" (serial %s) is revoked by the CRL of \"%s\"", cn,
                      snhex ? snhex : "?", icn);
                OPENSSL_free(snhex);
                BN_free(bn);
                return 0;
            }
            covered++;
            used += (size_t)snprintf(done + used, sizeof(done) - used,
                                     "%s\"%s\" not revoked by the CRL of "
                                     "\"%s\"",
                                     used ? "; " : "", cn, icn);
            if (used >= sizeof(done))
                used = sizeof(done) - 1;
            break;
        }
    }
    if (covered < total && v->o->require_crls)
        return claim(v, claim_name, 0, expected,
                     "only %d of %d certificates covered by a supplied CRL",
                     covered, total);
    if (covered == 0)
        return claim(v, claim_name, 1, expected,
                     "not checked: no supplied CRL covers this chain");
    return claim(v, claim_name, 1, expected, "%s%s", done,
                 covered < total ? " (others not covered)" : "");
}

static int in_window(int64_t at, int64_t from, int64_t to)
{
    return at >= from && at <= to;
}

/* SGX component SVNs and PCESVN of the PCK certificate >= the level's. */
static int sgx_level_met(const st_dcap_pck_ext *pck, const st_dcap_tcb_level *l)
{
    for (int i = 0; i < 16; i++)
        if (pck->comp_svn[i] < l->sgx_svn[i])
            return 0;
    return pck->pcesvn >= l->pcesvn;
}

/* TDX: TEE TCB SVN >= the level's TDX components; from TDX module 1.5 on
 * (tee_tcb_svn[1] > 0) the first two bytes are judged by the TDX module
 * identity instead. */
static int tdx_level_met(const uint8_t svn[16], const st_dcap_tcb_level *l)
{
    for (int i = svn[1] > 0 ? 2 : 0; i < 16; i++)
        if (svn[i] < l->tdx_svn[i])
            return 0;
    return 1;
}

static st_dcap_tcb_status converge(st_dcap_tcb_status level,
                                   st_dcap_tcb_status other)
{
    if (other == ST_DCAP_TCB_OUT_OF_DATE) {
        if (level == ST_DCAP_TCB_UP_TO_DATE ||
            level == ST_DCAP_TCB_SW_HARDENING_NEEDED)
            return ST_DCAP_TCB_OUT_OF_DATE;
        if (level == ST_DCAP_TCB_CONFIGURATION_NEEDED ||
            level == ST_DCAP_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            return ST_DCAP_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    if (other == ST_DCAP_TCB_REVOKED)
        return ST_DCAP_TCB_REVOKED;
    if (other == ST_DCAP_TCB_NOT_SUPPORTED)
        return ST_DCAP_TCB_NOT_SUPPORTED;
    return level;
}

static int configuration_needed(st_dcap_tcb_status s)
{
    return s == ST_DCAP_TCB_CONFIGURATION_NEEDED ||
           s == ST_DCAP_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           s == ST_DCAP_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
           s == ST_DCAP_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

st_dcap_tcb_status
st_dcap_td_relaunch(const st_dcap_tcb_info *ti, const uint8_t svn2[16],
                    st_dcap_tcb_status sgx, st_dcap_tcb_status tdx,
                    st_dcap_tcb_status module, st_dcap_tcb_status qe)
{
    /* only an otherwise sound platform whose TD is out of date because of
     * its TDX module qualifies */
    if (qe == ST_DCAP_TCB_OUT_OF_DATE || qe == ST_DCAP_TCB_REVOKED ||
        qe == ST_DCAP_TCB_NOT_SUPPORTED)
        return tdx;
    if (sgx > ST_DCAP_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
        return tdx;
    if (tdx != ST_DCAP_TCB_OUT_OF_DATE &&
        tdx != ST_DCAP_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED)
        return tdx;
    if (module != ST_DCAP_TCB_OUT_OF_DATE)
        return tdx;
    if (ti->n_levels == 0)
        return ST_DCAP_TCB_NOT_SUPPORTED;
    const st_dcap_tcb_level *latest = &ti->levels[0];
    unsigned need_module = latest->tdx_svn[0];
    if (svn2[1] != 0) {
        char id[16];
        const st_dcap_module_identity *mi = NULL;
        snprintf(id, sizeof(id), "TDX_%02X", svn2[1]);
        for (size_t i = 0; i < ti->n_modules; i++)
            if (!strcasecmp(ti->modules[i].id, id))
                mi = &ti->modules[i];
        if (!mi || mi->n_levels == 0)
            return ST_DCAP_TCB_NOT_SUPPORTED;
        need_module = mi->level_isvsvn[0];
    }
    if (svn2[0] < need_module || svn2[2] < latest->tdx_svn[2])
        return tdx;
    return configuration_needed(sgx) || configuration_needed(tdx)
               ? ST_DCAP_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
               : ST_DCAP_TCB_TD_RELAUNCH_ADVISED;
}

static void add_advisories(st_dcap_result *res, char *const *list, size_t first,
                           size_t n)
{
    for (size_t i = first; i < first + n; i++) {
        const char *a = list[i];
        size_t alen = strlen(a);
        /* skip duplicates (exact, comma-delimited) */
        const char *p = res->advisories;
        int dup = 0;
        while ((p = strstr(p, a)) != NULL) {
            if ((p == res->advisories || p[-1] == ',') &&
                (p[alen] == 0 || p[alen] == ',')) {
                dup = 1;
                break;
            }
            p += alen;
        }
        size_t used = strlen(res->advisories);
        if (!dup && used + alen + 2 < sizeof(res->advisories))
            snprintf(res->advisories + used, sizeof(res->advisories) - used,
                     "%s%s", used ? "," : "", a);
    }
}

static void allowed_text(unsigned mask, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    for (unsigned s = 0; s <= ST_DCAP_TCB_NOT_SUPPORTED; s++)
        if (mask & (1u << s)) {
            int n = snprintf(out + used, cap - used, "%s%s", used ? ", " : "",
                             st_dcap_tcb_status_name((st_dcap_tcb_status)s));
            if (n < 0 || (size_t)n >= cap - used)
                break;
            used += (size_t)n;
        }
}

/* Signed collateral: signature by the TCB signing key, chain of the
 * signing certificate at the time (with CRLs), issue window. */
static int check_signed_doc(vctx *v, const st_dcap_collateral *c,
                            const st_dcap_signed_json *d, const char *what,
                            int64_t issue, int64_t next)
{
    char name[64], exp[200], a[32], b[32];
    const uint8_t *body = (const uint8_t *)d->text + d->body_off;
    int ok = 1;
    snprintf(name, sizeof(name), "%s.signature", what);
    char cn[128];
    cert_cn(sk_X509_value(c->tcb_chain, 0), cn, sizeof(cn));
    snprintf(exp, sizeof(exp),
             "ECDSA P-256 signature over the exact %zu signed bytes by \"%s\"",
             d->body_len, cn);
    int sig_ok = ecdsa_p256_verify(c->tcb_key, body, d->body_len, d->signature);
    ok &= claim(v, name, sig_ok, exp, "%s",
                sig_ok ? "signature valid" : "signature does not verify");
    snprintf(name, sizeof(name), "%s.validity", what);
    st_dcap_time_format(issue, a);
    st_dcap_time_format(next, b);
    snprintf(exp, sizeof(exp), "valid at %s (issueDate to nextUpdate)",
             v->at_text);
    int in = in_window(v->o->at, issue, next);
    ok &= claim(v, name, in, exp, "%s at %s: valid from %s to %s",
                in ? "valid" : "not valid", v->at_text, a, b);
    return ok;
}

/* Steps 6-10: everything that needs the TCB Info and QE Identity. */
static void check_collateral(vctx *vp, const st_dcap_quote *q,
                             const st_dcap_collateral *c, st_dcap_result *res)
{
    vctx v = *vp; /* res is shared through the pointer */
    const st_dcap_options *opts = v.o;
    const st_dcap_tcb_info *ti = c->tcb;
    const st_dcap_qe_identity *qi = c->qe;
    char e[256], h1[257], h2[257];
    STACK_OF(X509) *tcb_verified = NULL;
    /* 6. TCB signing chain and the signed collateral. */
    {
        STACK_OF(X509) *untrusted = c->tcb_chain;
        verify_chain(&v, c, sk_X509_value(c->tcb_chain, 0), untrusted,
                     "tcb_signing.chain", &tcb_verified);
        check_crls(&v, c, tcb_verified, "tcb_signing.revocation");
        check_signed_doc(&v, c, &ti->doc, "tcb_info", ti->issue_date,
                         ti->next_update);
        check_signed_doc(&v, c, &qi->doc, "qe_identity", qi->issue_date,
                         qi->next_update);
    }

    /* 7. The TCB Info is for this platform. */
    if (res->have_pck) {
        hex(ti->fmspc, 6, h1);
        hex(res->pck.fmspc, 6, h2);
        snprintf(e, sizeof(e), "FMSPC of the TCB Info (%s)", h1);
        claim(&v, "tcb_info.fmspc", !memcmp(ti->fmspc, res->pck.fmspc, 6), e,
              "PCK certificate FMSPC %s", h2);
        hex(ti->pce_id, 2, h1);
        hex(res->pck.pce_id, 2, h2);
        snprintf(e, sizeof(e), "PCE ID of the TCB Info (%s)", h1);
        claim(&v, "tcb_info.pce_id", !memcmp(ti->pce_id, res->pck.pce_id, 2), e,
              "PCK certificate PCE ID %s", h2);
    }

    /* 8. QE identity. */
    const st_dcap_enclave_report *qr = &q->qe_report;
    hex(qi->mrsigner, 32, h1);
    hex(qr->mrsigner, 32, h2);
    snprintf(e, sizeof(e), "%s", h1);
    claim(&v, "qe_identity.mrsigner", !memcmp(qi->mrsigner, qr->mrsigner, 32),
          e, "%s", h2);
    snprintf(e, sizeof(e), "%u", qi->isvprodid);
    claim(&v, "qe_identity.isvprodid", qi->isvprodid == qr->isvprodid, e, "%u",
          qr->isvprodid);
    snprintf(e, sizeof(e), "MISCSELECT & %08x = %08x", qi->miscselect_mask,
             qi->miscselect);
    claim(&v, "qe_identity.miscselect",
          (qr->miscselect & qi->miscselect_mask) == qi->miscselect, e,
          "MISCSELECT %08x", qr->miscselect);
    {
        int aok = 1;
        for (int i = 0; i < 16; i++)
            if ((qr->attributes[i] & qi->attributes_mask[i]) !=
                qi->attributes[i])
                aok = 0;
        hex(qi->attributes, 16, h1);
        hex(qr->attributes, 16, h2);
        snprintf(e, sizeof(e), "ATTRIBUTES under mask = %s", h1);
        claim(&v, "qe_identity.attributes", aok, e, "ATTRIBUTES %s", h2);
    }
    {
        size_t i;
        for (i = 0; i < qi->n_levels; i++)
            if (qr->isvsvn >= qi->level_isvsvn[i])
                break;
        if (i == qi->n_levels) {
            res->qe_status = ST_DCAP_TCB_NOT_SUPPORTED;
        } else {
            res->qe_status = qi->level_status[i];
            add_advisories(res, qi->advisory, qi->level_first_advisory[i],
                           qi->level_n_advisories[i]);
        }
        snprintf(e, sizeof(e),
                 "ISVSVN at a QE Identity level that is not "
                 "Revoked");
        claim(&v, "qe_identity.tcb",
              res->qe_status != ST_DCAP_TCB_NOT_SUPPORTED &&
                  res->qe_status != ST_DCAP_TCB_REVOKED,
              e, "ISVSVN %u: %s", qr->isvsvn,
              st_dcap_tcb_status_name(res->qe_status));
    }

    /* 9. TDX module (SEAM) identity and status. */
    st_dcap_tcb_status module = ST_DCAP_TCB_UP_TO_DATE;
    if (q->is_tdx) {
        const uint8_t *svn = q->td.tee_tcb_svn;
        const uint8_t *msig = ti->tdx_mrsigner, *mattr = ti->tdx_attributes,
                      *mmask = ti->tdx_attributes_mask;
        const st_dcap_module_identity *mi = NULL;
        char mid[16];
        snprintf(mid, sizeof(mid), "TDX_%02X", svn[1]);
        if (svn[1] > 0) {
            for (size_t i = 0; i < ti->n_modules; i++)
                if (!strcasecmp(ti->modules[i].id, mid))
                    mi = &ti->modules[i];
            if (mi) {
                msig = mi->mrsigner;
                mattr = mi->attributes;
                mmask = mi->attributes_mask;
            }
        }
        if (svn[1] > 0 && !mi) {
            snprintf(e, sizeof(e), "a TDX module identity %s in the TCB Info",
                     mid);
            claim(&v, "tdx_module.identity", 0, e, "none");
            module = ST_DCAP_TCB_NOT_SUPPORTED;
        } else if (!ti->has_tdx_module && !mi) {
            claim(&v, "tdx_module.identity", 0,
                  "a tdxModule section in the TCB Info", "none");
            module = ST_DCAP_TCB_NOT_SUPPORTED;
        } else {
            int mok = !memcmp(msig, q->td.mrsignerseam, 48);
            for (int i = 0; i < 8; i++)
                if ((q->td.seam_attributes[i] & mmask[i]) != mattr[i])
                    mok = 0;
            hex(msig, 48, h1);
            hex(q->td.mrsignerseam, 48, h2);
            snprintf(e, sizeof(e),
                     "MRSIGNERSEAM %.24s... and masked SEAM "
                     "attributes of %s",
                     h1, mi ? mi->id : "tdxModule");
            claim(&v, "tdx_module.identity", mok, e, "MRSIGNERSEAM %.24s...",
                  h2);
            if (mi) {
                size_t i;
                for (i = 0; i < mi->n_levels; i++)
                    if (svn[0] >= mi->level_isvsvn[i])
                        break;
                module = i == mi->n_levels ? ST_DCAP_TCB_NOT_SUPPORTED
                                           : mi->level_status[i];
            }
        }
        res->module_status = module;
    }

    /* 10. TCB level. */
    if (res->have_pck) {
        const st_dcap_tcb_level *sgx = NULL, *tdx = NULL;
        for (size_t i = 0; i < ti->n_levels; i++) {
            const st_dcap_tcb_level *l = &ti->levels[i];
            if (!sgx_level_met(&res->pck, l))
                continue;
            if (!sgx)
                sgx = l;
            if (!q->is_tdx)
                break;
            if (tdx_level_met(q->td.tee_tcb_svn, l)) {
                tdx = l;
                break;
            }
        }
        const st_dcap_tcb_level *lv = q->is_tdx ? tdx : sgx;
        st_dcap_tcb_status st;
        if (!lv) {
            st = ST_DCAP_TCB_NOT_SUPPORTED;
        } else {
            res->platform_status = lv->status;
            snprintf(res->tcb_date, sizeof(res->tcb_date), "%s", lv->date);
            add_advisories(res, ti->advisory, lv->first_advisory,
                           lv->n_advisories);
            st = lv->status;
            if (q->is_tdx)
                st = converge(st, module);
            if (q->is_tdx && q->td.is_td15 && st != ST_DCAP_TCB_REVOKED &&
                st != ST_DCAP_TCB_NOT_SUPPORTED)
                st = st_dcap_td_relaunch(ti, q->td.tee_tcb_svn2, sgx->status,
                                         st, module, res->qe_status);
            st = converge(st, res->qe_status);
        }
        res->tcb_status = st;
        unsigned allowed =
            opts->allowed_tcb ? opts->allowed_tcb : ST_DCAP_TCB_DEFAULT_ALLOWED;
        char al[200];
        allowed_text(allowed, al, sizeof(al));
        snprintf(e, sizeof(e), "one of %s", al);
        hex(res->pck.comp_svn, 16, h1);
        if (q->is_tdx)
            hex(q->td.tee_tcb_svn, 16, h2);
        else
            h2[0] = 0;
        claim(&v, "tcb.status", (allowed >> st) & 1, e,
              "%s%s%s (PCK TCB %s pcesvn %u%s%s%s%s)",
              st_dcap_tcb_status_name(st), res->advisories[0] ? ", " : "",
              res->advisories, h1, res->pck.pcesvn,
              q->is_tdx ? ", TEE TCB SVN " : "", h2,
              lv ? ", level of " : ", no TCB level met", lv ? lv->date : "");
    }

    sk_X509_pop_free(tcb_verified, X509_free);
}

st_code st_dcap_verify(const st_dcap_quote *q, const st_dcap_collateral *c,
                       const st_dcap_options *opts, st_dcap_result *res,
                       st_err *err)
{
    vctx v = {.o = opts, .res = res};
    char e[256], h1[257], h2[257];
    STACK_OF(X509) *pck = NULL, *pck_verified = NULL;
    EVP_PKEY *att = NULL;
    X509 *leaf = NULL;
    memset(res, 0, sizeof(*res));
    res->tcb_status = res->platform_status = res->qe_status =
        res->module_status = ST_DCAP_TCB_UNKNOWN;
    res->is_tdx = q->is_tdx;
    st_dcap_time_format(opts->at, v.at_text);
    const st_dcap_tcb_info *ti = c->tcb;
    const st_dcap_qe_identity *qi = c->qe;

    /* The collateral must be present and for this kind of TEE. */
    const char *want_tcb = q->is_tdx ? "TDX" : "SGX";
    const char *want_qe = q->is_tdx ? "TD_QE" : "QE";
    int have = ti && qi && c->tcb_chain;
    snprintf(e, sizeof(e),
             "TCB Info for %s, QE Identity %s, TCB signing "
             "chain",
             want_tcb, want_qe);
    if (!have)
        claim(&v, "collateral", 0, e, "missing:%s%s%s", ti ? "" : " TCB Info",
              qi ? "" : " QE Identity", c->tcb_chain ? "" : " signing chain");
    else
        claim(&v, "collateral",
              !strcmp(ti->id, want_tcb) && !strcmp(qi->id, want_qe), e,
              "TCB Info for %s, QE Identity %s", ti->id, qi->id);

    /* 1. Quote signature over header and body by the attestation key. */
    att = p256_raw_key(q->att_key);
    int ok = att && ecdsa_p256_verify(att, q->signed_data, q->signed_len,
                                      q->signature);
    snprintf(e, sizeof(e),
             "ECDSA P-256 signature over header and body (%zu bytes) by the "
             "attestation key",
             q->signed_len);
    claim(&v, "quote.signature", ok, e, "%s",
          !att ? "the attestation key is not a P-256 point"
          : ok ? "signature valid"
               : "signature does not verify");

    /* 2. PCK chain to the pinned root, then its CRLs. */
    pck = pem_chain(q->pck_pem, q->pck_pem_len);
    if (!pck) {
        claim(&v, "pck.chain", 0, "a PEM PCK certificate chain in the quote",
              "no parseable certificate");
    } else {
        leaf = sk_X509_value(pck, 0);
        verify_chain(&v, c, leaf, pck, "pck.chain", &pck_verified);
        check_crls(&v, c, pck_verified, "pck.revocation");
    }

    /* 3. SGX extensions of the PCK certificate. */
    if (leaf) {
        int loc = -1;
        ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
        if (oid)
            loc = X509_get_ext_by_OBJ(leaf, oid, -1);
        ASN1_OBJECT_free(oid);
        st_err perr;
        st_err_clear(&perr);
        X509_EXTENSION *ext = loc >= 0 ? X509_get_ext(leaf, loc) : NULL;
        ASN1_OCTET_STRING *os = ext ? X509_EXTENSION_get_data(ext) : NULL;
        if (os && st_dcap_pck_ext_parse(ASN1_STRING_get0_data(os),
                                        (size_t)ASN1_STRING_length(os),
                                        &res->pck, &perr) == ST_OK)
            res->have_pck = 1;
        claim(&v, "pck.sgx_extensions", res->have_pck,
              "SGX extensions (1.2.840.113741.1.13.1) with TCB, PCE ID and "
              "FMSPC",
              "%s",
              res->have_pck ? "present"
              : os          ? perr.msg
                            : "extension absent");
    }

    /* 4. QE report signed by the PCK key. */
    if (leaf) {
        EVP_PKEY *pk = X509_get0_pubkey(leaf);
        ok = is_p256(pk) &&
             ecdsa_p256_verify(pk, q->qe_report_raw, ST_DCAP_SGX_REPORT_LEN,
                               q->qe_report_sig);
        claim(&v, "qe.report_signature", ok,
              "ECDSA P-256 signature over the QE report by the PCK "
              "certificate key",
              "%s", ok ? "signature valid" : "signature does not verify");
    }

    /* 5. Attestation key bound into the QE report. */
    {
        uint8_t want[64] = {0};
        st_sha256_ctx s;
        st_sha256_init(&s);
        st_sha256_update(&s, q->att_key, 64);
        st_sha256_update(&s, q->qe_auth, q->qe_auth_len);
        st_sha256_final(&s, want);
        hex(want, 32, h1);
        hex(q->qe_report.report_data, 32, h2);
        ok = st_ct_equal(want, q->qe_report.report_data, 64);
        snprintf(e, sizeof(e),
                 "QE report_data = SHA-256(attestation key || QE auth "
                 "data) %.16s... followed by 32 zero bytes",
                 h1);
        claim(&v, "qe.attestation_key_binding", ok, e, "report_data %.16s...%s",
              h2,
              ok ? ""
              : memcmp(want, q->qe_report.report_data, 32)
                  ? " (hash differs)"
                  : " (upper 32 bytes not zero)");
    }

    if (have)
        check_collateral(&v, q, c, res);

    /* 11. Report data chosen by the relying party. */
    const uint8_t *rd = q->is_tdx ? q->td.report_data : q->enclave.report_data;
    if (opts->report_data) {
        hex(opts->report_data, 64, h1);
        hex(rd, 64, h2);
        claim(&v, "report_data", st_ct_equal(opts->report_data, rd, 64), h1,
              "%s", h2);
    }
    res->debug = q->is_tdx ? (q->td.td_attributes[0] & 1)
                           : (q->enclave.attributes[0] & 2) != 0;

    sk_X509_pop_free(pck, X509_free);
    sk_X509_pop_free(pck_verified, X509_free);
    EVP_PKEY_free(att);
    if (res->failed)
        return st_err_set(err, ST_E_DENIED,
                          "DCAP %s quote: claim \"%s\" failed%s",
                          q->is_tdx ? "TDX" : "SGX", res->first_failed,
                          res->failed > 1 ? " (and others)" : "");
    return ST_OK;
}
