/*
 * collateral.c: offline collateral bundles. A bundle holds the documents
 * that AMD KDS and Intel PCS serve (VCEK/VLEK certificates per chip and
 * TCB, ASK/ASVK/ARK, CRLs; TCB Info early and standard, QE Identity, the
 * TCB signing chain, the PCK and root CA CRLs), so that evidence which
 * carries none of them can be verified where those services are
 * unreachable. Format (docs/attestation.md, "Offline collateral"):
 *
 *   {"type": "sealtrain-collateral", "version": 1,
 *    "documents": [{"kind": "amd.vcek", "data": "<base64 DER or PEM>"},
 *                  {"kind": "intel.tcb_info", "update": "standard",
 *                   "data": "<base64 of the PCS JSON, byte for byte>"}]}
 *
 * The parser indexes each document (what it is for: chip id and TCB,
 * FMSPC and TEE, issuer; its dates) and checks no signature. The verifier
 * (verify.c) calls st_attest_collateral_fill before the TEE's own checks:
 * for each collateral part the evidence lacks, the matching document is
 * added to a copy of the evidence, with a "collateral.<part>" trace entry
 * that names the bundle and the document. The TEE verifier then checks it
 * exactly as if the evidence had carried it: signatures up to the pinned
 * roots, validity and nextUpdate at the verification time.
 *
 * Never: trust a document because it is in a bundle (a bundle is a cache,
 * never a trust anchor); replace a part the evidence carries; read the
 * clock.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/dcap.h"
#include "attest/snp.h"
#include "attest/trace.h"
#include "attest_internal.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"

#define MAX_DOC (1u << 20)
#define MAX_DCAP_CRLS 16

enum kind {
    K_VCEK,
    K_VLEK,
    K_ASK,
    K_ASVK,
    K_ARK,
    K_AMD_CRL,
    K_TCB_INFO,
    K_QE_IDENTITY,
    K_TCB_CHAIN,
    K_ROOT_CRL,
    K_PCK_CRL,
    K_COUNT
};

static const char *const kind_names[K_COUNT] = {
    "amd.vcek",          "amd.vlek",          "amd.ask",
    "amd.asvk",          "amd.ark",           "amd.crl",
    "intel.tcb_info",    "intel.qe_identity", "intel.tcb_chain",
    "intel.root_ca_crl", "intel.pck_crl"};

typedef struct doc {
    enum kind kind;
    uint8_t *data;
    size_t len;
    char *pem; /* AMD CA certificates as PEM, for the "chain" part */
    char name[200];
    int64_t issued, stale;  /* 0 when the document states none */
    st_snp_cert_info snp;   /* amd.vcek, amd.vlek */
    st_snp_product product; /* AMD CA certificates */
    char id[16];            /* TCB Info "TDX"/"SGX", QE Identity id */
    uint8_t fmspc[6];
    int early;
    char issuer[128]; /* CRLs */
} doc;

struct st_collateral_bundle {
    doc *docs;
    size_t n;
    char digest[65];
    char origin[128];
};

void st_collateral_bundle_free(st_collateral_bundle *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->docs[i].data);
        free(b->docs[i].pem);
    }
    free(b->docs);
    free(b);
}

const char *st_collateral_bundle_digest(const st_collateral_bundle *b)
{
    return b->digest;
}

void st_collateral_bundle_set_origin(st_collateral_bundle *b,
                                     const char *origin)
{
    snprintf(b->origin, sizeof(b->origin), "%s", origin ? origin : "");
}

size_t st_collateral_bundle_count(const st_collateral_bundle *b)
{
    return b->n;
}

static void cn_of(const X509_NAME *n, char *out, size_t cap)
{
    out[0] = 0;
    if (!n || X509_NAME_get_text_by_NID((X509_NAME *)n, NID_commonName, out,
                                        (int)cap) < 0)
        snprintf(out, cap, "?");
}

static void cert_dates(doc *d, X509 *x)
{
    d->issued = st_attest_asn1_unix(X509_get0_notBefore(x));
    d->stale = st_attest_asn1_unix(X509_get0_notAfter(x));
}

/* The one certificate of a VCEK/VLEK/ASK/ASVK/ARK document. */
static X509 *one_cert(const doc *d, const char *where, st_err *err)
{
    STACK_OF(X509) *sk = st_attest_x509_parse_all(d->data, d->len, where, err);
    if (!sk)
        return NULL;
    if (sk_X509_num(sk) != 1) {
        st_err_set(err, ST_E_INPUT,
                   "%s: holds %d certificates; a %s document is one "
                   "certificate",
                   where, sk_X509_num(sk), kind_names[d->kind]);
        sk_X509_pop_free(sk, X509_free);
        return NULL;
    }
    X509 *x = sk_X509_shift(sk);
    sk_X509_free(sk);
    return x;
}

static ST_MUST_CHECK st_code index_vek(doc *d, const char *where, st_err *err)
{
    X509 *x = one_cert(d, where, err);
    if (!x)
        return ST_E_INPUT;
    int ok = st_snp_cert_index(x, &d->snp);
    cert_dates(d, x);
    X509_free(x);
    if (!ok || d->snp.vlek != (d->kind == K_VLEK))
        return st_err_set(err, ST_E_INPUT,
                          "%s: not a%s certificate (its issuer is no "
                          "SEV-%sPRODUCT CA)",
                          where, d->kind == K_VLEK ? " VLEK" : " VCEK",
                          d->kind == K_VLEK ? "VLEK-" : "");
    if (d->kind == K_VCEK && !d->snp.has_hwid)
        return st_err_set(err, ST_E_INPUT,
                          "%s: the VCEK has no hwID extension "
                          "(1.3.6.1.4.1.3704.1.4): it names no chip",
                          where);
    char hw[17] = "";
    st_attest_hex(d->snp.hwid, d->snp.has_hwid ? 8 : 0, hw);
    snprintf(d->name, sizeof(d->name),
             "%s %s%s%s TCB bl=%d tee=%d snp=%d ucode=%d%s",
             st_snp_product_name(d->snp.product),
             d->kind == K_VLEK ? "VLEK" : "VCEK", hw[0] ? " chip " : "",
             hw[0] ? hw : "", d->snp.tcb[0], d->snp.tcb[1], d->snp.tcb[2],
             d->snp.tcb[3], d->snp.product == ST_SNP_TURIN ? " fmc=.." : "");
    return ST_OK;
}

/* ASK "SEV-Milan", ASVK "SEV-VLEK-Milan", ARK "ARK-Milan". */
static ST_MUST_CHECK st_code index_amd_ca(doc *d, const char *where,
                                          st_err *err)
{
    static const char *const prefix[] = {"SEV-", "SEV-VLEK-", "ARK-"};
    const char *want = prefix[d->kind - K_ASK];
    X509 *x = one_cert(d, where, err);
    if (!x)
        return ST_E_INPUT;
    char cn[128];
    cn_of(X509_get_subject_name(x), cn, sizeof(cn));
    cert_dates(d, x);
    const char *p =
        strncmp(cn, want, strlen(want)) == 0 ? cn + strlen(want) : "";
    d->product = !strcmp(p, "Milan")   ? ST_SNP_MILAN
                 : !strcmp(p, "Genoa") ? ST_SNP_GENOA
                 : !strcmp(p, "Turin") ? ST_SNP_TURIN
                                       : ST_SNP_UNKNOWN;
    BIO *bio = d->product != ST_SNP_UNKNOWN ? BIO_new(BIO_s_mem()) : NULL;
    char *mem = NULL;
    long n = 0;
    if (bio && PEM_write_bio_X509(bio, x) == 1)
        n = BIO_get_mem_data(bio, &mem);
    if (n > 0 && (d->pem = malloc((size_t)n + 1)) != NULL) {
        memcpy(d->pem, mem, (size_t)n);
        d->pem[n] = 0;
    }
    BIO_free(bio);
    X509_free(x);
    if (d->product == ST_SNP_UNKNOWN)
        return st_err_set(err, ST_E_INPUT,
                          "%s: subject \"%s\" is not an %s certificate "
                          "(\"%sMilan\", \"%sGenoa\" or \"%sTurin\")",
                          where, cn, kind_names[d->kind], want, want, want);
    if (!d->pem)
        return st_err_set(err, ST_E_IO, "out of memory");
    snprintf(d->name, sizeof(d->name), "%s", cn);
    return ST_OK;
}

static ST_MUST_CHECK st_code index_crl(doc *d, const char *where, st_err *err)
{
    X509_CRL *crl = st_attest_crl_parse(d->data, d->len);
    if (!crl)
        return st_err_set(err, ST_E_INPUT, "%s: not a CRL (DER or PEM)", where);
    cn_of(X509_CRL_get_issuer(crl), d->issuer, sizeof(d->issuer));
    d->issued = st_attest_asn1_unix(X509_CRL_get0_lastUpdate(crl));
    d->stale = st_attest_asn1_unix(X509_CRL_get0_nextUpdate(crl));
    X509_CRL_free(crl);
    snprintf(d->name, sizeof(d->name), "CRL of \"%s\"", d->issuer);
    return ST_OK;
}

static ST_MUST_CHECK st_code index_tcb_chain(doc *d, const char *where,
                                             st_err *err)
{
    STACK_OF(X509) *sk = st_attest_x509_parse_all(d->data, d->len, where, err);
    if (!sk)
        return ST_E_INPUT;
    char cn[128];
    cn_of(X509_get_subject_name(sk_X509_value(sk, 0)), cn, sizeof(cn));
    cert_dates(d, sk_X509_value(sk, 0));
    for (int i = 1; i < sk_X509_num(sk); i++) {
        int64_t na =
            st_attest_asn1_unix(X509_get0_notAfter(sk_X509_value(sk, i)));
        if (na > 0 && na < d->stale)
            d->stale = na;
    }
    sk_X509_pop_free(sk, X509_free);
    snprintf(d->name, sizeof(d->name), "TCB signing chain (%s)", cn);
    return ST_OK;
}

static ST_MUST_CHECK st_code index_intel_json(doc *d, const char *where,
                                              st_err *err)
{
    char fm[13];
    if (d->kind == K_TCB_INFO) {
        st_dcap_tcb_info *t = NULL;
        if (st_dcap_tcb_info_parse((const char *)d->data, d->len, where, &t,
                                   err) != ST_OK)
            return ST_E_INPUT;
        snprintf(d->id, sizeof(d->id), "%s", t->id[0] ? t->id : "SGX");
        memcpy(d->fmspc, t->fmspc, 6);
        d->issued = t->issue_date;
        d->stale = t->next_update;
        st_attest_hex(d->fmspc, 6, fm);
        snprintf(d->name, sizeof(d->name),
                 "%s TCB Info fmspc %s %s (evaluation data number %lld)", d->id,
                 fm, d->early ? "early" : "standard", t->eval_number);
        st_dcap_tcb_info_free(t);
        return ST_OK;
    }
    st_dcap_qe_identity *q = NULL;
    if (st_dcap_qe_identity_parse((const char *)d->data, d->len, where, &q,
                                  err) != ST_OK)
        return ST_E_INPUT;
    snprintf(d->id, sizeof(d->id), "%s", q->id);
    d->issued = q->issue_date;
    d->stale = q->next_update;
    st_dcap_qe_identity_free(q);
    snprintf(d->name, sizeof(d->name), "%s Identity", d->id);
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_doc(const json_t *o, size_t i, doc *d,
                                       const char *origin, st_err *err)
{
    static const char *const keys[] = {"kind", "data", "update", NULL};
    char where[300];
    snprintf(where, sizeof(where), "%s: documents[%zu]", origin, i);
    if (!json_is_object(o))
        return st_err_set(err, ST_E_INPUT, "%s: must be an object", where);
    const char *kind = NULL, *data = NULL, *update = NULL;
    st_code rc = st_json_check_keys(o, keys, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(o, "kind", 1, &kind, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(o, "data", 1, &data, where, err);
    if (rc == ST_OK)
        rc = st_json_get_string(o, "update", 0, &update, where, err);
    if (rc != ST_OK)
        return rc;
    int k = 0;
    while (k < K_COUNT && strcmp(kind_names[k], kind))
        k++;
    if (k == K_COUNT)
        return st_err_set(err, ST_E_INPUT,
                          "%s: unknown kind \"%s\" (amd.vcek, amd.vlek, "
                          "amd.ask, amd.asvk, amd.ark, amd.crl, "
                          "intel.tcb_info, intel.qe_identity, "
                          "intel.tcb_chain, intel.root_ca_crl, "
                          "intel.pck_crl)",
                          where, kind);
    d->kind = (enum kind)k;
    snprintf(where + strlen(where), sizeof(where) - strlen(where), " (%s)",
             kind);
    if (update && d->kind != K_TCB_INFO)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"update\" belongs to intel.tcb_info only",
                          where);
    if (update && strcmp(update, "standard") && strcmp(update, "early"))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"update\" must be \"standard\" or \"early\", "
                          "not \"%s\"",
                          where, update);
    d->early = update && !strcmp(update, "early");
    size_t dl = strlen(data);
    if (dl == 0 || dl > (MAX_DOC / 3) * 4)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"data\" must be non-empty base64 of at most "
                          "%u bytes",
                          where, MAX_DOC);
    if (st_base64_decode(data, dl, 1, &d->data, &d->len, err) != ST_OK)
        return st_err_prefix(err, "%s: \"data\"", where);
    switch (d->kind) {
    case K_VCEK:
    case K_VLEK: return index_vek(d, where, err);
    case K_ASK:
    case K_ASVK:
    case K_ARK: return index_amd_ca(d, where, err);
    case K_AMD_CRL:
    case K_ROOT_CRL:
    case K_PCK_CRL: return index_crl(d, where, err);
    case K_TCB_CHAIN: return index_tcb_chain(d, where, err);
    case K_TCB_INFO:
    case K_QE_IDENTITY: return index_intel_json(d, where, err);
    case K_COUNT: break;
    }
    return st_err_set(err, ST_E_INTERNAL, "%s: kind", where);
}

st_code st_collateral_bundle_parse(const char *text, size_t len,
                                   const char *origin,
                                   st_collateral_bundle **out, st_err *err)
{
    static const char *const keys[] = {"type", "version", "documents", NULL};
    *out = NULL;
    json_t *j = st_json_parse(text, len, origin, err);
    if (!j)
        return err ? err->code : ST_E_INPUT;
    const char *type = NULL;
    long long version = 0;
    json_t *docs = json_object_get(j, "documents");
    st_code rc =
        json_is_object(j)
            ? st_json_check_keys(j, keys, origin, err)
            : st_err_set(err, ST_E_INPUT,
                         "%s: a collateral bundle is a JSON object", origin);
    if (rc == ST_OK)
        rc = st_json_get_string(j, "type", 1, &type, origin, err);
    if (rc == ST_OK && strcmp(type, "sealtrain-collateral"))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"type\" must be \"sealtrain-collateral\", not "
                        "\"%s\"",
                        origin, type);
    if (rc == ST_OK)
        rc = st_json_get_int(j, "version", 1, 1, 1LL << 30, &version, origin,
                             err);
    if (rc == ST_OK && version != ST_COLLATERAL_VERSION)
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: bundle version %lld; this build reads version "
                        "%d",
                        origin, version, ST_COLLATERAL_VERSION);
    if (rc == ST_OK && (!json_is_array(docs) || json_array_size(docs) == 0 ||
                        json_array_size(docs) > ST_COLLATERAL_MAX_DOCS))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"documents\" must be an array of 1 to %d "
                        "documents",
                        origin, ST_COLLATERAL_MAX_DOCS);
    st_collateral_bundle *b = rc == ST_OK ? calloc(1, sizeof(*b)) : NULL;
    if (rc == ST_OK &&
        (!b || !(b->docs = calloc(json_array_size(docs), sizeof(doc)))))
        rc = st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < json_array_size(docs); i++) {
        b->n = i + 1;
        rc = parse_doc(json_array_get(docs, i), i, &b->docs[i], origin, err);
    }
    size_t clen = 0;
    char *canon = rc == ST_OK ? st_json_canonical(j, &clen, err) : NULL;
    if (rc == ST_OK && !canon)
        rc = err ? err->code : ST_E_IO;
    if (rc == ST_OK) {
        uint8_t d[32];
        st_sha256(canon, clen, d);
        st_hex_encode(d, 32, b->digest);
        *out = b;
    } else {
        st_collateral_bundle_free(b);
    }
    free(canon);
    json_decref(j);
    return rc;
}

json_t *st_collateral_bundle_describe(const st_collateral_bundle *b)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < b->n; i++) {
        const doc *d = &b->docs[i];
        json_t *o =
            json_pack("{s:I,s:s,s:s,s:I,s:I}", "index", (json_int_t)i, "kind",
                      kind_names[d->kind], "name", d->name, "issued",
                      (json_int_t)(d->issued > 0 ? d->issued : 0),
                      "next_update", (json_int_t)(d->stale > 0 ? d->stale : 0));
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int64_t st_collateral_bundle_stale_at(const st_collateral_bundle *b, char *name,
                                      size_t cap)
{
    int64_t first = 0;
    for (size_t i = 0; i < b->n; i++) {
        const doc *d = &b->docs[i];
        if (d->stale > 0 && (first == 0 || d->stale < first)) {
            first = d->stale;
            snprintf(name, cap, "documents[%zu] (%s: %s)", i,
                     kind_names[d->kind], d->name);
        }
    }
    return first;
}

/* ---- filling the evidence ---- */

typedef struct pick {
    const st_collateral_bundle *b;
    const doc *d;
} pick;

/* "bundle sha256:0123456789ab (imported by root) documents[3]: NAME" */
static void pick_text(const pick *p, char *out, size_t cap)
{
    snprintf(out, cap, "bundle sha256:%.12s%s%s%s documents[%zu]: %s",
             p->b->digest, p->b->origin[0] ? " (" : "", p->b->origin,
             p->b->origin[0] ? ")" : "", (size_t)(p->d - p->b->docs),
             p->d->name);
}

static ST_MUST_CHECK st_code add_pick(st_attest_ctx *ctx, st_evidence *ev,
                                      const char *part, const pick *p,
                                      const void *data, size_t len, st_err *err)
{
    char claim[64], text[400];
    snprintf(claim, sizeof(claim), "collateral.%s", part);
    pick_text(p, text, sizeof(text));
    st_trace_add(ctx->trace, claim, 1,
                 "from the evidence, else an imported collateral bundle", text);
    return st_evidence_set(ev, part, data, len, err);
}

/* 1 when `d` is a better choice than `best` at `now`: one current then
 * (issued <= now <= stale) beats one that is not, then the later issued.
 * A document that is not current is still picked when nothing else fits,
 * and the verifier then names it as stale. */
static int better(const doc *d, const doc *best, int64_t now)
{
    if (!best)
        return 1;
    int cd = d->issued <= now && (d->stale <= 0 || now <= d->stale);
    int cb = best->issued <= now && (best->stale <= 0 || now <= best->stale);
    return cd != cb ? cd : d->issued > best->issued;
}

/* The best document of `kind` for which `want` holds. */
typedef int (*doc_test)(const doc *d, const void *arg);
static pick find(const st_attest_ctx *ctx, enum kind kind, doc_test want,
                 const void *arg)
{
    pick best = {0};
    for (size_t i = 0; i < ctx->refs->nbundles; i++) {
        const st_collateral_bundle *b = ctx->refs->bundles[i];
        for (size_t k = 0; b && k < b->n; k++) {
            const doc *d = &b->docs[k];
            if (d->kind != kind || (want && !want(d, arg)))
                continue;
            if (better(d, best.d, ctx->now))
                best = (pick){b, d};
        }
    }
    return best;
}

/* -- SEV-SNP: the VCEK/VLEK for the report's chip and TCB, its CA chain */

static int vek_fits(const doc *d, const void *arg)
{
    const st_snp_report *r = arg;
    if (r->product != ST_SNP_UNKNOWN && d->snp.product != r->product)
        return 0;
    if (d->kind == K_VCEK &&
        memcmp(d->snp.hwid, r->chip_id, d->snp.hwid_len) != 0)
        return 0;
    return st_snp_cert_tcb_matches(r, d->snp.product, d->snp.tcb);
}

static int ca_fits(const doc *d, const void *arg)
{
    return d->product == *(const st_snp_product *)arg;
}

static ST_MUST_CHECK st_code fill_snp(st_attest_ctx *ctx, st_evidence *ev,
                                      int *added, st_err *err)
{
    const uint8_t *rd;
    size_t rn = ST_SNP_REPORT_LEN;
    st_snp_report r;
    /* bare SNP evidence, or the report inside an Azure HCL report */
    st_code prc = st_evidence_tee(ctx->ev) == ST_TEE_AZ_SNP_VTPM
                      ? st_attest_az_snp_report(ctx->ev, &rd, err)
                      : st_attest_need_part(ctx->ev, "report", &rd, &rn, err);
    if (prc != ST_OK || st_snp_parse(rd, rn, &r, err) != ST_OK)
        return ST_E_INPUT;
    int vlek = ((r.flags >> 2) & 7) == 1;
    const char *vpart = vlek ? "vlek" : "vcek";
    st_snp_product prod = r.product;
    st_code rc = ST_OK;
    if (!st_evidence_get(ev, vpart, NULL) &&
        !st_evidence_get(ev, "cert", NULL)) {
        pick p = find(ctx, vlek ? K_VLEK : K_VCEK, vek_fits, &r);
        char chip[17], tcb[160];
        st_attest_hex(r.chip_id, 8, chip);
        st_snp_tcb_string(&r.reported_tcb, tcb, sizeof(tcb));
        if (!p.d)
            return st_err_set(err, ST_E_INPUT,
                              "%s evidence: no %s certificate: none in the "
                              "evidence (part \"%s\" or \"cert\"), and none "
                              "for chip %s... at TCB %s in the %zu collateral "
                              "bundle(s)",
                              st_tee_name(st_evidence_tee(ctx->ev)),
                              vlek ? "VLEK" : "VCEK", vpart, chip, tcb,
                              ctx->refs->nbundles);
        rc = add_pick(ctx, ev, vpart, &p, p.d->data, p.d->len, err);
        prod = p.d->snp.product;
        *added = 1;
    }
    static const char *const chain_parts[] = {"chain", "ask", "asvk", "ark"};
    for (size_t i = 0; i < 4; i++)
        if (st_evidence_get(ev, chain_parts[i], NULL))
            return rc;
    if (rc != ST_OK || prod == ST_SNP_UNKNOWN)
        return rc;
    /* the intermediate and the root, as part "chain" (PEM): the verifier
     * still requires the root to be the pinned ARK */
    pick ica = find(ctx, vlek ? K_ASVK : K_ASK, ca_fits, &prod);
    pick ark = find(ctx, K_ARK, ca_fits, &prod);
    st_buf pem;
    st_buf_init(&pem);
    const pick *both[] = {&ica, &ark};
    for (size_t i = 0; rc == ST_OK && i < 2; i++)
        if (both[i]->d)
            rc = st_buf_append(&pem, both[i]->d->pem, strlen(both[i]->d->pem),
                               err);
    if (rc == ST_OK && pem.len) {
        char claim[64], text[400];
        for (size_t i = 0; i < 2; i++) {
            if (!both[i]->d)
                continue;
            snprintf(claim, sizeof(claim), "collateral.chain.%s",
                     i      ? "ark"
                     : vlek ? "asvk"
                            : "ask");
            pick_text(both[i], text, sizeof(text));
            st_trace_add(ctx->trace, claim, 1,
                         "from the evidence, else an imported collateral "
                         "bundle, else data/amd",
                         text);
        }
        rc = st_evidence_set(ev, "chain", pem.data, pem.len, err);
        *added = 1;
    }
    st_buf_free(&pem);
    return rc;
}

/* -- Intel DCAP: TCB Info and QE Identity for the quote, the TCB signing
 *    chain, and the CRLs of the issuers */

typedef struct dcap_want {
    const char *tee_id, *qe_id;
    uint8_t fmspc[6];
    int early;
} dcap_want;

static int tcb_info_fits(const doc *d, const void *arg)
{
    const dcap_want *w = arg;
    return !strcmp(d->id, w->tee_id) && !memcmp(d->fmspc, w->fmspc, 6) &&
           d->early == w->early;
}

static int qe_fits(const doc *d, const void *arg)
{
    return !strcmp(d->id, ((const dcap_want *)arg)->qe_id);
}

/* The FMSPC of the PCK certificate the quote carries, found without
 * decoding the certificate (an X.509 decode cost a tenth of a whole TDX
 * verification): the DER of the first PEM block is scanned for the FMSPC
 * OID (1.2.840.113741.1.13.1.4) followed by an OCTET STRING of 6 bytes.
 * It only chooses which TCB Info to supply: the verifier decodes the
 * certificate and checks the TCB Info's FMSPC against it
 * ("<tee>.tcb_info.fmspc"), so a misleading certificate gains nothing. */
static int quote_fmspc(const st_dcap_quote *q, uint8_t fmspc[6])
{
    static const uint8_t oid[] = {0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8,
                                  0x4d, 0x01, 0x0d, 0x01, 0x04, 0x04, 0x06};
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    const char *pem = q->pck_pem, *end = pem ? pem + q->pck_pem_len : NULL;
    const char *p =
        pem ? memmem(pem, q->pck_pem_len, begin, sizeof(begin) - 1) : NULL;
    if (!p)
        return 0;
    p += sizeof(begin) - 1;
    char *b64 = malloc((size_t)(end - p) + 1);
    size_t n = 0;
    for (; b64 && p < end && *p != '-'; p++)
        if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
            b64[n++] = *p;
    uint8_t *der = NULL;
    size_t dl = 0;
    int ok = b64 && st_base64_decode(b64, n, 1, &der, &dl, NULL) == ST_OK;
    free(b64);
    const uint8_t *hit = ok ? memmem(der, dl, oid, sizeof(oid)) : NULL;
    ok = hit && (size_t)(hit - der) + sizeof(oid) + 6 <= dl;
    if (ok)
        memcpy(fmspc, hit + sizeof(oid), 6);
    free(der);
    return ok;
}

static ST_MUST_CHECK st_code fill_dcap_crls(st_attest_ctx *ctx, st_evidence *ev,
                                            int *added, st_err *err)
{
    /* one CRL per issuer, the best at the time (better()): another one of
     * the same CA would be checked too */
    pick picks[MAX_DCAP_CRLS];
    size_t n = 0;
    for (size_t i = 0; i < ctx->refs->nbundles; i++) {
        const st_collateral_bundle *b = ctx->refs->bundles[i];
        for (size_t k = 0; b && k < b->n; k++) {
            const doc *d = &b->docs[k];
            if (d->kind != K_ROOT_CRL && d->kind != K_PCK_CRL)
                continue;
            size_t j = 0;
            while (j < n && strcmp(picks[j].d->issuer, d->issuer))
                j++;
            if (j < n && !better(d, picks[j].d, ctx->now))
                continue;
            if (j == n && n == MAX_DCAP_CRLS)
                continue;
            picks[j] = (pick){b, d};
            if (j == n)
                n++;
        }
    }
    st_code rc = ST_OK;
    for (size_t j = 0; rc == ST_OK && j < n; j++) {
        char part[16];
        snprintf(part, sizeof(part), "crl.%zu", j);
        rc = add_pick(ctx, ev, part, &picks[j], picks[j].d->data,
                      picks[j].d->len, err);
        *added = 1;
    }
    return rc;
}

static ST_MUST_CHECK st_code fill_dcap(st_attest_ctx *ctx, st_evidence *ev,
                                       const char *qpart, int *added,
                                       st_err *err)
{
    if (st_evidence_get(ev, "collateral", NULL))
        return ST_OK;
    const uint8_t *qd;
    size_t qn;
    st_dcap_quote q;
    if (st_attest_need_part(ctx->ev, qpart, &qd, &qn, err) != ST_OK)
        return ST_E_INPUT;
    /* a malformed quote is the verifier's to report, with its offsets */
    if (st_dcap_quote_parse(qd, qn, &q, NULL) != ST_OK)
        return ST_OK;
    dcap_want w = {q.is_tdx ? "TDX" : "SGX", q.is_tdx ? "TD_QE" : "QE", {0}, 0};
    st_code rc = ST_OK;
    int has_tcb = st_evidence_get(ev, "tcb_info", NULL) ||
                  st_evidence_get(ev, "qe_identity", NULL) ||
                  st_evidence_get(ev, "tcb_chain", NULL);
    int has_crl = 0;
    for (size_t i = 0; i < MAX_DCAP_CRLS && !has_crl; i++) {
        char part[16];
        snprintf(part, sizeof(part), "crl.%zu", i);
        has_crl = st_evidence_get(ev, part, NULL) != NULL;
    }
    if (!has_tcb) {
        char fm[13] = "?";
        int have_fmspc = quote_fmspc(&q, w.fmspc);
        if (have_fmspc)
            st_attest_hex(w.fmspc, 6, fm);
        /* standard first: early updates are opt-in at Intel too */
        pick ti = {0};
        for (w.early = 0; have_fmspc && !ti.d && w.early < 2; w.early++)
            ti = find(ctx, K_TCB_INFO, tcb_info_fits, &w);
        pick qe = find(ctx, K_QE_IDENTITY, qe_fits, &w);
        pick ch = find(ctx, K_TCB_CHAIN, NULL, NULL);
        if (!ti.d || !qe.d || !ch.d) {
            char exp[160];
            snprintf(exp, sizeof(exp),
                     "a %s TCB Info for FMSPC %s, a %s Identity and a TCB "
                     "signing chain in the evidence or a collateral bundle",
                     w.tee_id, fm, w.qe_id);
            st_trace_addf(ctx->trace, "collateral.bundle", 0, exp,
                          "%s%s%s missing from the %zu bundle(s)",
                          ti.d ? "" : "TCB Info ", qe.d ? "" : "QE Identity ",
                          ch.d ? "" : "signing chain ", ctx->refs->nbundles);
            return ST_OK;
        }
        rc = add_pick(ctx, ev, "tcb_info", &ti, ti.d->data, ti.d->len, err);
        if (rc == ST_OK)
            rc = add_pick(ctx, ev, "qe_identity", &qe, qe.d->data, qe.d->len,
                          err);
        if (rc == ST_OK)
            rc =
                add_pick(ctx, ev, "tcb_chain", &ch, ch.d->data, ch.d->len, err);
        *added = 1;
    }
    if (rc == ST_OK && !has_crl)
        rc = fill_dcap_crls(ctx, ev, added, err);
    return rc;
}

static st_evidence *copy_evidence(const st_evidence *src, st_err *err)
{
    st_evidence *ev = st_evidence_new(st_evidence_tee(src), err);
    for (size_t i = 0; ev && i < st_evidence_count(src); i++) {
        size_t n;
        const char *name = st_evidence_name(src, i);
        const uint8_t *d = st_evidence_get(src, name, &n);
        if (st_evidence_set(ev, name, d, n, err) != ST_OK) {
            st_evidence_free(ev);
            return NULL;
        }
    }
    if (ev)
        st_evidence_set_created(ev, st_evidence_created(src));
    return ev;
}

st_code st_attest_collateral_fill(st_attest_ctx *ctx, st_evidence **out,
                                  st_err *err)
{
    *out = NULL;
    st_tee tee = st_evidence_tee(ctx->ev);
    int snp = tee == ST_TEE_SNP || tee == ST_TEE_AZ_SNP_VTPM;
    if (ctx->refs->nbundles == 0 ||
        (!snp && tee != ST_TEE_TDX && tee != ST_TEE_SGX &&
         tee != ST_TEE_AZ_TDX_VTPM))
        return ST_OK;
    st_evidence *ev = copy_evidence(ctx->ev, err);
    if (!ev)
        return err ? err->code : ST_E_IO;
    int added = 0;
    st_code rc =
        snp ? fill_snp(ctx, ev, &added, err)
            : fill_dcap(ctx, ev,
                        tee == ST_TEE_AZ_TDX_VTPM ? "td_quote" : "quote",
                        &added, err);
    if (rc != ST_OK || !added) {
        st_evidence_free(ev);
        return rc;
    }
    *out = ev;
    return ST_OK;
}
