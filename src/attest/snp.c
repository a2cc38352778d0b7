/*
 * snp.c: AMD SEV-SNP attestation reports: parsing, the VCEK/VLEK
 * certificate chain to the pinned AMD roots, and the report signature.
 *
 * Spec: AMD SEV Secure Nested Paging Firmware ABI Specification (56860),
 * section 7.3 "Attestation", Table 23 ATTESTATION_REPORT and Table 3
 * TCB_VERSION; AMD Versioned Chip Endorsement Key (VCEK) Certificate and KDS
 * Interface Specification (57230) for the certificate extensions.
 *
 * Report (1184 bytes, little endian): version 0x00, guest_svn 0x04, policy
 * 0x08, family_id 0x10, image_id 0x20, vmpl 0x30, signature_algo 0x34,
 * current_tcb 0x38, platform_info 0x40, flags 0x48 (author_key_en bit 0,
 * mask_chip_key bit 1, signing_key bits 2-4), report_data 0x50,
 * measurement 0x90, host_data 0xC0, id_key_digest 0xE0, author_key_digest
 * 0x110, report_id 0x140, report_id_ma 0x160, reported_tcb 0x180,
 * cpuid fam/mod/step 0x188-0x18A (v3+), chip_id 0x1A0, committed_tcb
 * 0x1E0, current build/minor/major 0x1E8, committed build/minor/major
 * 0x1EC, launch_tcb 0x1F0, launch/current mitigation vectors 0x1F8/0x200
 * (v5), signature 0x2A0 (r and s: 72 bytes little endian each). The
 * signature is ECDSA P-384 with SHA-384 over bytes 0x000..0x29F.
 *
 * TCB_VERSION: Milan/Genoa: bl byte 0, tee byte 1, snp byte 6, ucode byte
 * 7. Turin: fmc byte 0, bl byte 1, tee byte 2, snp byte 3, ucode byte 7.
 *
 * Chain: VCEK <- ASK <- ARK (VLEK <- ASVK <- ARK); AMD CA certificates are
 * RSA-4096 RSASSA-PSS. The ARK of each product is pinned here by the
 * SHA-256 of its DER; the ASK/ASVK come from the evidence ("chain" part)
 * or from the project's data/amd/ and must verify under the pinned ARK.
 * Parsed roots are cached per data directory and product.
 *
 * Never: take the product, TCB or chip id from the certificate alone (they
 * are matched against the signed report); trust an ARK that is not pinned.
 */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/trace.h"
#include "attest_internal.h"
#include "sealtrain/fs.h"
#include "snp.h"

/* ---- parsing -------------------------------------------------------- */

static void tcb_decode(uint64_t raw, st_snp_product prod, st_snp_tcb *t)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(raw >> (8 * i));
    memset(t, 0, sizeof(*t));
    t->raw = raw;
    if (prod == ST_SNP_TURIN) {
        t->fmc = b[0];
        t->has_fmc = 1;
        t->bl = b[1];
        t->tee = b[2];
        t->snp = b[3];
    } else {
        t->bl = b[0];
        t->tee = b[1];
        t->snp = b[6];
    }
    t->ucode = b[7];
}

st_code st_snp_parse(const uint8_t *data, size_t len, st_snp_report *r,
                     st_err *err)
{
    memset(r, 0, sizeof(*r));
    if (len != ST_SNP_REPORT_LEN)
        return st_err_set(err, ST_E_INPUT,
                          "snp evidence: report is %zu bytes, not %d", len,
                          ST_SNP_REPORT_LEN);
    st_reader rd;
    st_reader_init(&rd, data, len);
    r->raw = data;
    r->version = st_read_u32le(&rd);
    r->guest_svn = st_read_u32le(&rd);
    r->policy = st_read_u64le(&rd);
    st_read_bytes(&rd, r->family_id, 16);
    st_read_bytes(&rd, r->image_id, 16);
    r->vmpl = st_read_u32le(&rd);
    r->signature_algo = st_read_u32le(&rd);
    r->current_tcb_raw = st_read_u64le(&rd);
    r->platform_info = st_read_u64le(&rd);
    r->flags = st_read_u32le(&rd);
    st_read_skip(&rd, 4);
    st_read_bytes(&rd, r->report_data, 64);
    st_read_bytes(&rd, r->measurement, 48);
    st_read_bytes(&rd, r->host_data, 32);
    st_read_bytes(&rd, r->id_key_digest, 48);
    st_read_bytes(&rd, r->author_key_digest, 48);
    st_read_bytes(&rd, r->report_id, 32);
    st_read_bytes(&rd, r->report_id_ma, 32);
    r->reported_tcb_raw = st_read_u64le(&rd); /* 0x180 */
    r->cpuid_fam = st_read_u8(&rd);
    r->cpuid_mod = st_read_u8(&rd);
    r->cpuid_step = st_read_u8(&rd);
    st_read_skip(&rd, 0x1A0 - 0x18B);
    st_read_bytes(&rd, r->chip_id, 64);
    r->committed_tcb_raw = st_read_u64le(&rd); /* 0x1E0 */
    r->current_build = st_read_u8(&rd);
    r->current_minor = st_read_u8(&rd);
    r->current_major = st_read_u8(&rd);
    st_read_skip(&rd, 1);
    r->committed_build = st_read_u8(&rd);
    r->committed_minor = st_read_u8(&rd);
    r->committed_major = st_read_u8(&rd);
    st_read_skip(&rd, 1);
    r->launch_tcb_raw = st_read_u64le(&rd); /* 0x1F0 */
    r->launch_mit_vector = st_read_u64le(&rd);
    r->current_mit_vector = st_read_u64le(&rd);
    st_read_skip(&rd, 0x2A0 - 0x208);
    st_read_bytes(&rd, r->sig_r, 72);
    st_read_bytes(&rd, r->sig_s, 72);
    if (rd.failed)
        return st_err_set(err, ST_E_INPUT, "snp evidence: report truncated");
    if (r->version < 2 || r->version > 5)
        return st_err_set(err, ST_E_INPUT,
                          "snp evidence: report offset 0x00: version %u is "
                          "not a known report version (2-5)",
                          r->version);
    if (r->version < 3) {
        /* the CPUID bytes were reserved before version 3 */
        r->cpuid_fam = r->cpuid_mod = r->cpuid_step = 0;
    }
    if (r->version < 5)
        r->launch_mit_vector = r->current_mit_vector = 0;
    r->product = ST_SNP_UNKNOWN;
    if (r->version >= 3)
        r->product = st_snp_product_from_cpuid(r->cpuid_fam, r->cpuid_mod);
    st_snp_decode_tcbs(r, r->product);
    return ST_OK;
}

void st_snp_decode_tcbs(st_snp_report *r, st_snp_product prod)
{
    tcb_decode(r->current_tcb_raw, prod, &r->current_tcb);
    tcb_decode(r->reported_tcb_raw, prod, &r->reported_tcb);
    tcb_decode(r->committed_tcb_raw, prod, &r->committed_tcb);
    tcb_decode(r->launch_tcb_raw, prod, &r->launch_tcb);
}

st_snp_product st_snp_product_from_cpuid(uint8_t fam, uint8_t mod)
{
    /* family 19h: Milan models 00h-0Fh, Genoa 10h-1Fh and A0h-AFh
     * (Bergamo/Siena share Genoa's keys); family 1Ah: Turin 00h-1Fh */
    if (fam == 0x19 && mod <= 0x0F)
        return ST_SNP_MILAN;
    if (fam == 0x19 && (mod >= 0x10 && mod <= 0x1F))
        return ST_SNP_GENOA;
    if (fam == 0x19 && (mod >= 0xA0 && mod <= 0xAF))
        return ST_SNP_GENOA;
    if (fam == 0x1A && mod <= 0x1F)
        return ST_SNP_TURIN;
    return ST_SNP_UNKNOWN;
}

const char *st_snp_product_name(st_snp_product p)
{
    switch (p) {
    case ST_SNP_MILAN: return "Milan";
    case ST_SNP_GENOA: return "Genoa";
    case ST_SNP_TURIN: return "Turin";
    default: return "unknown";
    }
}

void st_snp_tcb_string(const st_snp_tcb *t, char *out, size_t cap)
{
    if (t->has_fmc)
        snprintf(out, cap, "fmc=%u bl=%u tee=%u snp=%u ucode=%u", t->fmc, t->bl,
                 t->tee, t->snp, t->ucode);
    else
        snprintf(out, cap, "bl=%u tee=%u snp=%u ucode=%u", t->bl, t->tee,
                 t->snp, t->ucode);
}

static json_t *tcb_json(const st_snp_tcb *t)
{
    char raw[24];
    snprintf(raw, sizeof(raw), "0x%016llx", (unsigned long long)t->raw);
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i}", "raw", raw, "bl", t->bl,
                          "tee", t->tee, "snp", t->snp, "ucode", t->ucode);
    if (o && t->has_fmc)
        json_object_set_new(o, "fmc", json_integer(t->fmc));
    return o;
}

static const char *signing_key_name(uint32_t flags)
{
    switch ((flags >> 2) & 7) {
    case 0: return "vcek";
    case 1: return "vlek";
    case 7: return "none";
    default: return "reserved";
    }
}

void st_snp_fields(const st_snp_report *r, json_t *o)
{
    char buf[40];
    json_object_set_new(o, "version", json_integer(r->version));
    json_object_set_new(o, "guest_svn", json_integer(r->guest_svn));
    snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)r->policy);
    json_object_set_new(o, "policy", json_string(buf));
    json_object_set_new(o, "policy_abi_minor",
                        json_integer((json_int_t)(r->policy & 0xFF)));
    json_object_set_new(o, "policy_abi_major",
                        json_integer((json_int_t)((r->policy >> 8) & 0xFF)));
    json_object_set_new(o, "policy_smt", json_boolean(r->policy >> 16 & 1));
    json_object_set_new(o, "policy_migrate_ma",
                        json_boolean(r->policy >> 18 & 1));
    json_object_set_new(o, "policy_debug", json_boolean(r->policy >> 19 & 1));
    json_object_set_new(o, "policy_single_socket",
                        json_boolean(r->policy >> 20 & 1));
    st_attest_json_hex(o, "family_id", r->family_id, 16);
    st_attest_json_hex(o, "image_id", r->image_id, 16);
    json_object_set_new(o, "vmpl", json_integer(r->vmpl));
    json_object_set_new(o, "signature_algo", json_integer(r->signature_algo));
    json_object_set_new(o, "current_tcb", tcb_json(&r->current_tcb));
    snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)r->platform_info);
    json_object_set_new(o, "platform_info", json_string(buf));
    json_object_set_new(o, "platform_smt_enabled",
                        json_boolean(r->platform_info & 1));
    json_object_set_new(o, "platform_tsme_enabled",
                        json_boolean(r->platform_info >> 1 & 1));
    json_object_set_new(o, "author_key_en", json_boolean(r->flags & 1));
    json_object_set_new(o, "mask_chip_key", json_boolean(r->flags >> 1 & 1));
    json_object_set_new(o, "signing_key",
                        json_string(signing_key_name(r->flags)));
    st_attest_json_hex(o, "report_data", r->report_data, 64);
    st_attest_json_hex(o, "measurement", r->measurement, 48);
    st_attest_json_hex(o, "host_data", r->host_data, 32);
    st_attest_json_hex(o, "id_key_digest", r->id_key_digest, 48);
    st_attest_json_hex(o, "author_key_digest", r->author_key_digest, 48);
    st_attest_json_hex(o, "report_id", r->report_id, 32);
    st_attest_json_hex(o, "report_id_ma", r->report_id_ma, 32);
    json_object_set_new(o, "reported_tcb", tcb_json(&r->reported_tcb));
    json_object_set_new(o, "cpuid_fam_id", json_integer(r->cpuid_fam));
    json_object_set_new(o, "cpuid_mod_id", json_integer(r->cpuid_mod));
    json_object_set_new(o, "cpuid_step", json_integer(r->cpuid_step));
    st_attest_json_hex(o, "chip_id", r->chip_id, 64);
    json_object_set_new(o, "committed_tcb", tcb_json(&r->committed_tcb));
    snprintf(buf, sizeof(buf), "%u.%u.%u", r->current_major, r->current_minor,
             r->current_build);
    json_object_set_new(o, "current_version", json_string(buf));
    snprintf(buf, sizeof(buf), "%u.%u.%u", r->committed_major,
             r->committed_minor, r->committed_build);
    json_object_set_new(o, "committed_version", json_string(buf));
    json_object_set_new(o, "launch_tcb", tcb_json(&r->launch_tcb));
    if (r->version >= 5) {
        st_attest_json_u64(o, "launch_mit_vector", r->launch_mit_vector);
        st_attest_json_u64(o, "current_mit_vector", r->current_mit_vector);
    }
    json_object_set_new(o, "product",
                        json_string(st_snp_product_name(r->product)));
}

/* ---- the report signature ------------------------------------------ */

int st_snp_signature_ok(const st_snp_report *r, EVP_PKEY *key)
{
    int ok = 0;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_lebin2bn(r->sig_r, 72, NULL);
    BIGNUM *bs = BN_lebin2bn(r->sig_s, 72, NULL);
    unsigned char *der = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!sig || !br || !bs || !md)
        goto out;
    if (ECDSA_SIG_set0(sig, br, bs) != 1)
        goto out;
    br = bs = NULL;
    int dlen = i2d_ECDSA_SIG(sig, &der);
    if (dlen <= 0)
        goto out;
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key) == 1 &&
        EVP_DigestVerify(md, der, (size_t)dlen, r->raw, ST_SNP_SIGNED_LEN) == 1)
        ok = 1;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return ok;
}

/* ---- certificates --------------------------------------------------- */

/* SHA-256 of the DER of each product's ARK (AMD KDS cert_chain; the same
 * bytes as ship in data/amd/ark_<product>.pem). */
static const char *const ark_pins[] = {
    [ST_SNP_MILAN] =
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    [ST_SNP_GENOA] =
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    [ST_SNP_TURIN] =
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
};

struct root_cache {
    char dir[512];
    st_snp_product prod;
    X509 *ark, *ask, *asvk;
    int ark_self_ok;
    int ask_ok, asvk_ok; /* signed by the ARK */
    struct root_cache *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct root_cache *cache_head;

static const char *lower_name(st_snp_product p)
{
    switch (p) {
    case ST_SNP_MILAN: return "milan";
    case ST_SNP_GENOA: return "genoa";
    case ST_SNP_TURIN: return "turin";
    default: return "unknown";
    }
}

static X509 *load_cert_file(const char *dir, const char *kind, st_snp_product p,
                            st_err *err)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/amd/%s_%s.pem", dir, kind, lower_name(p));
    unsigned char *buf;
    size_t len;
    if (st_fs_read_all(path, 1 << 16, &buf, &len, err) != ST_OK)
        return NULL;
    X509 *x = st_attest_x509_parse(buf, len, path, err);
    free(buf);
    return x;
}

/* The pinned roots of product `p` from data_dir (cached; never freed: the
 * set is bounded by directories x 3 products). */
static const struct root_cache *roots_get(const char *dir, st_snp_product p,
                                          st_err *err)
{
    pthread_mutex_lock(&cache_lock);
    struct root_cache *c;
    for (c = cache_head; c; c = c->next)
        if (c->prod == p && strcmp(c->dir, dir) == 0)
            break;
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c) {
            st_err_set(err, ST_E_IO, "out of memory");
            goto out;
        }
        snprintf(c->dir, sizeof(c->dir), "%s", dir);
        c->prod = p;
        c->ark = load_cert_file(dir, "ark", p, err);
        if (c->ark)
            c->ask = load_cert_file(dir, "ask", p, err);
        if (c->ask)
            c->asvk = load_cert_file(dir, "asvk", p, err);
        if (!c->ark || !c->ask || !c->asvk) {
            X509_free(c->ark);
            X509_free(c->ask);
            X509_free(c->asvk);
            free(c);
            c = NULL;
            goto out;
        }
        EVP_PKEY *ak = X509_get0_pubkey(c->ark);
        c->ark_self_ok = ak && st_attest_x509_signed_by(c->ark, ak);
        c->ask_ok = ak && st_attest_x509_signed_by(c->ask, ak);
        c->asvk_ok = ak && st_attest_x509_signed_by(c->asvk, ak);
        c->next = cache_head;
        cache_head = c;
    }
out:
    pthread_mutex_unlock(&cache_lock);
    return c;
}

/* An AMD extension: DER INTEGER SPLs, OCTET STRING (or raw) hwID. */
static int ext_find(X509 *x, const char *oid, const uint8_t **data, size_t *len)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    if (!o)
        return 0;
    int idx = X509_get_ext_by_OBJ(x, o, -1);
    ASN1_OBJECT_free(o);
    if (idx < 0)
        return 0;
    X509_EXTENSION *e = X509_get_ext(x, idx);
    ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
    *data = ASN1_STRING_get0_data(v);
    *len = (size_t)ASN1_STRING_length(v);
    return 1;
}

static int ext_int(X509 *x, const char *oid, long *out)
{
    const uint8_t *d;
    size_t n;
    if (!ext_find(x, oid, &d, &n))
        return 0;
    const unsigned char *p = d;
    ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, (long)n);
    if (!ai || p != d + n) {
        ASN1_INTEGER_free(ai);
        ERR_clear_error();
        return 0;
    }
    int ok = ASN1_INTEGER_get_int64((int64_t *)out, ai) == 1 && *out >= 0 &&
             *out <= 255;
    ASN1_INTEGER_free(ai);
    return ok;
}

static int ext_hwid(X509 *x, uint8_t out[64], size_t *n)
{
    const uint8_t *d;
    size_t len;
    if (!ext_find(x, "1.3.6.1.4.1.3704.1.4", &d, &len))
        return 0;
    /* two encodings are in the field: the raw bytes, or the bytes wrapped
     * in an OCTET STRING */
    if (len >= 2 && d[0] == 0x04 && d[1] == len - 2 && len - 2 <= 64 &&
        (len - 2 == 64 || len - 2 == 8)) {
        d += 2;
        len -= 2;
    }
    if (len != 64 && len != 8)
        return 0;
    memcpy(out, d, len);
    *n = len;
    return 1;
}

int st_snp_cert_csp_id(X509 *x, char *out, size_t cap)
{
    const uint8_t *d;
    size_t n;
    out[0] = 0;
    if (cap == 0 || !ext_find(x, "1.3.6.1.4.1.3704.1.5", &d, &n))
        return 0;
    const unsigned char *p = d;
    ASN1_IA5STRING *s = d2i_ASN1_IA5STRING(NULL, &p, (long)n);
    int ok = s && p == d + n && ASN1_STRING_length(s) > 0 &&
             (size_t)ASN1_STRING_length(s) < cap;
    const unsigned char *b = ok ? ASN1_STRING_get0_data(s) : NULL;
    /* printable ASCII only: the value reaches traces, policies and logs */
    for (int i = 0; ok && i < ASN1_STRING_length(s); i++)
        ok = b[i] >= 0x20 && b[i] < 0x7f;
    if (ok) {
        memcpy(out, b, (size_t)ASN1_STRING_length(s));
        out[ASN1_STRING_length(s)] = 0;
    }
    ASN1_IA5STRING_free(s);
    ERR_clear_error();
    return ok;
}

static st_snp_product product_from_cn(const char *cn, int *vlek)
{
    *vlek = 0;
    const char *p = cn;
    if (strncmp(p, "SEV-VLEK-", 9) == 0) {
        *vlek = 1;
        p += 9;
    } else if (strncmp(p, "SEV-", 4) == 0) {
        p += 4;
    } else {
        return ST_SNP_UNKNOWN;
    }
    if (strcmp(p, "Milan") == 0)
        return ST_SNP_MILAN;
    if (strcmp(p, "Genoa") == 0)
        return ST_SNP_GENOA;
    if (strcmp(p, "Turin") == 0)
        return ST_SNP_TURIN;
    return ST_SNP_UNKNOWN;
}

/* The CA certificates the evidence brings: part "chain" (PEM bundle, as
 * AMD KDS serves cert_chain) and parts "ask", "asvk", "ark" (DER or PEM,
 * from the extended report's certificate table). NULL when none. */
static ST_MUST_CHECK st_code gather_chain(const st_evidence *ev,
                                          STACK_OF(X509) * *out, st_err *err)
{
    static const char *const parts[] = {"chain", "ask", "asvk", "ark"};
    *out = NULL;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t n;
        const uint8_t *d = st_evidence_get(ev, parts[i], &n);
        if (!d)
            continue;
        char what[64];
        snprintf(what, sizeof(what), "snp evidence: part \"%s\"", parts[i]);
        STACK_OF(X509) *sk = st_attest_x509_parse_all(d, n, what, err);
        if (!sk) {
            sk_X509_pop_free(*out, X509_free);
            *out = NULL;
            return ST_E_INPUT;
        }
        if (!*out) {
            *out = sk;
            continue;
        }
        while (sk_X509_num(sk) > 0) {
            X509 *x = sk_X509_shift(sk);
            if (!sk_X509_push(*out, x))
                X509_free(x);
        }
        sk_X509_free(sk);
    }
    return ST_OK;
}

/* What identifies an endorsement key certificate in a collateral bundle
 * (collateral.c): its product and kind from the issuer, the hwID and the
 * TCB extensions. Nothing here is trusted: the verifier checks the
 * certificate the bundle supplies as it checks one from the evidence. */
int st_snp_cert_index(X509 *x, st_snp_cert_info *out)
{
    static const char *const oids[] = {
        "1.3.6.1.4.1.3704.1.3.1", "1.3.6.1.4.1.3704.1.3.2",
        "1.3.6.1.4.1.3704.1.3.3", "1.3.6.1.4.1.3704.1.3.8",
        "1.3.6.1.4.1.3704.1.3.9"};
    memset(out, 0, sizeof(*out));
    char cn[128] = "";
    X509_NAME *in = X509_get_issuer_name(x);
    if (in)
        X509_NAME_get_text_by_NID(in, NID_commonName, cn, sizeof(cn));
    out->product = product_from_cn(cn, &out->vlek);
    if (out->product == ST_SNP_UNKNOWN)
        return 0;
    out->has_hwid = ext_hwid(x, out->hwid, &out->hwid_len);
    for (size_t i = 0; i < 5; i++) {
        long v = -1;
        out->tcb[i] = ext_int(x, oids[i], &v) ? (int)v : -1;
    }
    return 1;
}

/* 1 when certificate TCB values (bl, tee, snp, ucode, fmc; -1 absent)
 * equal the report's reported TCB as read for `prod`. */
int st_snp_cert_tcb_matches(const st_snp_report *r, st_snp_product prod,
                            const int tcb[5])
{
    st_snp_report copy = *r;
    if (copy.product == ST_SNP_UNKNOWN)
        st_snp_decode_tcbs(&copy, prod);
    const st_snp_tcb *t = &copy.reported_tcb;
    return tcb[0] == (int)t->bl && tcb[1] == (int)t->tee &&
           tcb[2] == (int)t->snp && tcb[3] == (int)t->ucode &&
           (!t->has_fmc || tcb[4] == (int)t->fmc);
}

/* Checks the endorsement key certificate `vek` for report `r` up to the
 * pinned ARK, adding trace entries "<prefix>.*". On success *key_out is
 * the VEK public key (a reference owned by the certificate). */
st_code st_snp_check_chain(st_attest_ctx *ctx, const char *prefix,
                           st_snp_report *r, X509 *vek, EVP_PKEY **key_out,
                           st_err *err)
{
    st_trace *t = ctx->trace;
    char claim[96], exp[300];
    *key_out = NULL;
    int vlek_report = ((r->flags >> 2) & 7) == 1;
    /* the issuer names the product and whether this is a VCEK or VLEK */
    char issuer_cn[128] = "";
    X509_NAME *in = X509_get_issuer_name(vek);
    if (in)
        X509_NAME_get_text_by_NID(in, NID_commonName, issuer_cn,
                                  sizeof(issuer_cn));
    int vlek = 0;
    st_snp_product prod = product_from_cn(issuer_cn, &vlek);
    snprintf(claim, sizeof(claim), "%s.product", prefix);
    if (r->product != ST_SNP_UNKNOWN) {
        snprintf(exp, sizeof(exp), "%s (from the report's CPUID)",
                 st_snp_product_name(r->product));
        st_trace_addf(t, claim, prod == r->product, exp,
                      "%s (certificate issuer %s)", st_snp_product_name(prod),
                      issuer_cn);
    } else {
        st_trace_addf(t, claim, prod != ST_SNP_UNKNOWN, "Milan, Genoa or Turin",
                      "%s (certificate issuer %s)", st_snp_product_name(prod),
                      issuer_cn);
    }
    if (prod == ST_SNP_UNKNOWN)
        return ST_OK;
    if (r->product == ST_SNP_UNKNOWN) {
        /* v2 reports carry no CPUID: the product is the chain's; the TCB
         * layout depends on it (Turin) */
        r->product = prod;
        st_snp_decode_tcbs(r, prod);
    }
    snprintf(claim, sizeof(claim), "%s.signing_key", prefix);
    st_trace_add(t, claim, vlek == vlek_report,
                 vlek_report ? "vlek (report flags)" : "vcek (report flags)",
                 vlek ? "vlek certificate" : "vcek certificate");

    const struct root_cache *rc = roots_get(ctx->data_dir, prod, err);
    if (!rc)
        return err ? err->code : ST_E_IO;
    char fp[65];
    st_attest_x509_fingerprint(rc->ark, fp);
    snprintf(claim, sizeof(claim), "%s.ark.pinned", prefix);
    st_trace_add(t, claim, strcmp(fp, ark_pins[prod]) == 0, ark_pins[prod], fp);
    snprintf(claim, sizeof(claim), "%s.ark.self_signature", prefix);
    st_trace_add(t, claim, rc->ark_self_ok, "valid",
                 rc->ark_self_ok ? "valid" : "invalid");
    snprintf(claim, sizeof(claim), "%s.ark.validity", prefix);
    st_attest_trace_validity(t, claim, rc->ark, ctx->now);

    /* the intermediate: from the evidence when given, else the shipped
     * one */
    X509 *ica = vlek ? rc->asvk : rc->ask;
    int ica_ok = vlek ? rc->asvk_ok : rc->ask_ok;
    STACK_OF(X509) *sk = NULL;
    const char *ica_src = "data";
    st_code grc = gather_chain(ctx->ev, &sk, err);
    if (grc != ST_OK)
        return grc;
    if (sk) {
        X509 *found = NULL;
        for (int i = 0; i < sk_X509_num(sk); i++) {
            X509 *x = sk_X509_value(sk, i);
            char cn[128];
            st_attest_x509_cn(x, cn, sizeof(cn));
            int xv;
            st_snp_product xp = product_from_cn(cn, &xv);
            if (strncmp(cn, "ARK-", 4) == 0) {
                char xfp[65];
                st_attest_x509_fingerprint(x, xfp);
                snprintf(claim, sizeof(claim), "%s.chain.ark", prefix);
                st_trace_add(t, claim, strcmp(xfp, ark_pins[prod]) == 0,
                             ark_pins[prod], xfp);
            } else if (xp != ST_SNP_UNKNOWN && xv == vlek && !found) {
                found = x;
            }
        }
        snprintf(claim, sizeof(claim), "%s.chain.%s", prefix,
                 vlek ? "asvk" : "ask");
        snprintf(exp, sizeof(exp), "%s certificate for %s in the chain",
                 vlek ? "ASVK" : "ASK", issuer_cn);
        st_trace_add(t, claim, found != NULL, exp,
                     found ? "present" : "absent");
        if (found) {
            /* the shipped intermediate was checked once when cached */
            if (X509_cmp(found, ica) != 0)
                ica_ok =
                    st_attest_x509_signed_by(found, X509_get0_pubkey(rc->ark));
            ica = found;
            ica_src = "evidence";
        }
    }
    char ica_cn[128];
    st_attest_x509_cn(ica, ica_cn, sizeof(ica_cn));
    snprintf(claim, sizeof(claim), "%s.%s.signature", prefix,
             vlek ? "asvk" : "ask");
    st_trace_addf(t, claim, ica_ok, "signed by the pinned ARK",
                  "%s (%s, from %s)", ica_ok ? "valid" : "invalid", ica_cn,
                  ica_src);
    snprintf(claim, sizeof(claim), "%s.%s.subject", prefix,
             vlek ? "asvk" : "ask");
    st_trace_add(t, claim, strcmp(ica_cn, issuer_cn) == 0, issuer_cn, ica_cn);
    snprintf(claim, sizeof(claim), "%s.%s.validity", prefix,
             vlek ? "asvk" : "ask");
    st_attest_trace_validity(t, claim, ica, ctx->now);

    const char *vk = vlek ? "vlek" : "vcek";
    snprintf(claim, sizeof(claim), "%s.%s.signature", prefix, vk);
    int sok = st_attest_x509_signed_by(vek, X509_get0_pubkey(ica));
    st_trace_add(t, claim, sok, "signed by the ASK/ASVK",
                 sok ? "valid" : "invalid");
    snprintf(claim, sizeof(claim), "%s.%s.validity", prefix, vk);
    st_attest_trace_validity(t, claim, vek, ctx->now);
    sk_X509_pop_free(sk, X509_free);

    /* the certificate's TCB must be the report's reported TCB */
    static const struct {
        const char *name, *oid;
    } spl[] = {
        {"bl", "1.3.6.1.4.1.3704.1.3.1"},  {"tee", "1.3.6.1.4.1.3704.1.3.2"},
        {"snp", "1.3.6.1.4.1.3704.1.3.3"}, {"ucode", "1.3.6.1.4.1.3704.1.3.8"},
        {"fmc", "1.3.6.1.4.1.3704.1.3.9"},
    };
    const st_snp_tcb *tcb = &r->reported_tcb;
    const unsigned want[] = {tcb->bl, tcb->tee, tcb->snp, tcb->ucode, tcb->fmc};
    for (size_t i = 0; i < sizeof(spl) / sizeof(spl[0]); i++) {
        if (i == 4 && !tcb->has_fmc)
            continue;
        long got = -1;
        int have = ext_int(vek, spl[i].oid, &got);
        snprintf(claim, sizeof(claim), "%s.%s.tcb.%s", prefix, vk, spl[i].name);
        snprintf(exp, sizeof(exp), "%u (report reported_tcb)", want[i]);
        if (have)
            st_trace_addf(t, claim, (unsigned long)got == want[i], exp, "%ld",
                          got);
        else
            st_trace_add(t, claim, 0, exp, "extension absent");
    }
    if (!vlek) {
        uint8_t hw[64];
        size_t hwn = 0;
        snprintf(claim, sizeof(claim), "%s.vcek.hwid", prefix);
        if (r->flags >> 1 & 1) {
            st_trace_add(t, claim, 0, "chip id in the report",
                         "chip id masked (MASK_CHIP_KEY)");
        } else if (!ext_hwid(vek, hw, &hwn)) {
            st_trace_add(t, claim, 0, "hwID extension of 64 (or 8) bytes",
                         "absent or malformed");
        } else {
            /* Turin VCEKs carry the first 8 bytes of the chip id */
            st_trace_hex(t, claim, r->chip_id, hw, hwn);
        }
    }
    EVP_PKEY *k = X509_get0_pubkey(vek);
    snprintf(claim, sizeof(claim), "%s.%s.key", prefix, vk);
    int is_p384 = 0;
    if (k && EVP_PKEY_base_id(k) == EVP_PKEY_EC) {
        char grp[64] = "";
        size_t gl = 0;
        if (EVP_PKEY_get_utf8_string_param(k, "group", grp, sizeof(grp), &gl) ==
                1 &&
            strcmp(grp, "secp384r1") == 0)
            is_p384 = 1;
    }
    st_trace_add(t, claim, is_p384, "ECDSA P-384 public key",
                 is_p384 ? "ECDSA P-384" : "another key type");
    if (is_p384)
        *key_out = k;
    return ST_OK;
}

/* The endorsement key certificate from the evidence: the part the report
 * names ("vcek"/"vlek"), else "cert". */
static const uint8_t *vek_part(const st_evidence *ev, const st_snp_report *r,
                               size_t *len)
{
    const uint8_t *d =
        st_evidence_get(ev, ((r->flags >> 2) & 7) == 1 ? "vlek" : "vcek", len);
    if (!d)
        d = st_evidence_get(ev, "cert", len);
    return d;
}

void st_snp_claims(const st_snp_report *r, st_claims *c)
{
    st_hex_encode(r->measurement, 48, c->measurement);
    st_hex_encode(r->chip_id, 64, c->platform_id);
    st_snp_tcb_string(&r->reported_tcb, c->tcb, sizeof(c->tcb));
    json_object_set_new(c->tcb_fields, "bl", json_integer(r->reported_tcb.bl));
    json_object_set_new(c->tcb_fields, "tee",
                        json_integer(r->reported_tcb.tee));
    json_object_set_new(c->tcb_fields, "snp",
                        json_integer(r->reported_tcb.snp));
    json_object_set_new(c->tcb_fields, "ucode",
                        json_integer(r->reported_tcb.ucode));
    if (r->reported_tcb.has_fmc)
        json_object_set_new(c->tcb_fields, "fmc",
                            json_integer(r->reported_tcb.fmc));
    c->debug = (int)(r->policy >> 19 & 1);
    st_snp_fields(r, c->fields);
}

st_code st_snp_verify_report(st_attest_ctx *ctx, const char *prefix,
                             st_snp_report *r, st_err *err)
{
    st_trace *t = ctx->trace;
    char claim[96];
    size_t vlen = 0;
    const uint8_t *vd = vek_part(ctx->ev, r, &vlen);
    snprintf(claim, sizeof(claim), "%s.signature_algo", prefix);
    st_trace_addf(t, claim, r->signature_algo == 1, "1 (ECDSA P-384 SHA-384)",
                  "%u", r->signature_algo);
    if (!vd)
        return st_err_set(err, ST_E_INPUT,
                          "%s evidence: missing the endorsement key "
                          "certificate (part \"%s\" or \"cert\")",
                          st_tee_name(st_evidence_tee(ctx->ev)),
                          ((r->flags >> 2) & 7) == 1 ? "vlek" : "vcek");
    /* Only the first certificate of a PEM would be read: certificates
     * after it (an ASK and ARK pasted into the same file) would be
     * ignored without a word, and a reader of the command line would think
     * they were checked. Refuse them and say where they belong. */
    STACK_OF(X509) *all =
        st_attest_x509_parse_all(vd, vlen, "snp evidence: VCEK/VLEK", err);
    if (!all)
        return ST_E_INPUT;
    int ncerts = sk_X509_num(all);
    sk_X509_pop_free(all, X509_free);
    if (ncerts != 1)
        return st_err_set(err, ST_E_INPUT,
                          "%s evidence: the VCEK/VLEK part holds %d "
                          "certificates; it takes the endorsement key "
                          "certificate alone (the ASK/ASVK and ARK go in "
                          "part \"chain\", --chain)",
                          st_tee_name(st_evidence_tee(ctx->ev)), ncerts);
    X509 *vek = st_attest_x509_parse(vd, vlen, "snp evidence: VCEK/VLEK", err);
    if (!vek)
        return ST_E_INPUT;
    EVP_PKEY *key = NULL;
    st_code rc = st_snp_check_chain(ctx, prefix, r, vek, &key, err);
    if (rc == ST_OK) {
        snprintf(claim, sizeof(claim), "%s.report.signature", prefix);
        int ok = key && st_snp_signature_ok(r, key);
        st_trace_add(t, claim, ok,
                     "ECDSA P-384 over bytes 0x000-0x29F by the VCEK/VLEK",
                     key ? (ok ? "valid" : "invalid") : "no usable key");
        snprintf(claim, sizeof(claim), "%s.vmpl", prefix);
        st_trace_addf(t, claim, r->vmpl <= 3, "0-3", "%u", r->vmpl);
    }
    /* A VLEK is held by the cloud provider, not the chip: which provider
     * is the csp_id extension, a claim a policy can require
     * ("fields": {"csp_id": [...]}). Informational in the trace; a VLEK
     * without one fails closed only through such a rule. */
    if (rc == ST_OK && ((r->flags >> 2) & 7) == 1) {
        char csp[128];
        snprintf(claim, sizeof(claim), "%s.vlek.csp_id", prefix);
        if (st_snp_cert_csp_id(vek, csp, sizeof(csp))) {
            st_trace_add(t, claim, 1, "the VLEK's cloud provider", csp);
            json_object_set_new(ctx->claims->fields, "csp_id",
                                json_string(csp));
        } else {
            st_trace_add(t, claim, 1, "the VLEK's cloud provider",
                         "extension 1.3.6.1.4.1.3704.1.5 absent");
        }
    }
    X509_free(vek);
    return rc;
}

st_code st_attest_snp_verify(st_attest_ctx *ctx, st_err *err)
{
    const uint8_t *d;
    size_t n;
    st_snp_report r;
    st_code rc = st_attest_need_part(ctx->ev, "report", &d, &n, err);
    if (rc == ST_OK)
        rc = st_snp_parse(d, n, &r, err);
    if (rc == ST_OK)
        rc = st_snp_verify_report(ctx, "snp", &r, err);
    if (rc == ST_OK) {
        st_snp_claims(&r, ctx->claims);
        st_attest_claim_report_data(ctx->claims, r.report_data);
    }
    return rc;
}

st_code st_attest_snp_show(const st_evidence *ev, json_t *out, st_err *err)
{
    const uint8_t *d;
    size_t n;
    st_snp_report r;
    st_code rc = st_attest_need_part(ev, "report", &d, &n, err);
    if (rc == ST_OK)
        rc = st_snp_parse(d, n, &r, err);
    if (rc != ST_OK)
        return rc;
    json_t *f = json_object();
    st_snp_fields(&r, f);
    st_attest_json_hex(f, "signature_r", r.sig_r, 72);
    st_attest_json_hex(f, "signature_s", r.sig_s, 72);
    json_object_set_new(out, "report", f);
    size_t vl;
    const uint8_t *vd = vek_part(ev, &r, &vl);
    if (vd) {
        st_err e2;
        X509 *x = st_attest_x509_parse(vd, vl, "VCEK/VLEK", &e2);
        if (x) {
            char cn[128], fp[65], win[100];
            json_t *c = json_object();
            st_attest_x509_cn(x, cn, sizeof(cn));
            st_attest_x509_fingerprint(x, fp);
            st_attest_x509_valid_at(x, 0, win, sizeof(win));
            json_object_set_new(c, "subject_cn", json_string(cn));
            json_object_set_new(c, "sha256", json_string(fp));
            json_object_set_new(c, "validity", json_string(win));
            long v;
            static const char *const nm[] = {"bl", "tee", "snp", "ucode",
                                             "fmc"};
            static const char *const oid[] = {
                "1.3.6.1.4.1.3704.1.3.1", "1.3.6.1.4.1.3704.1.3.2",
                "1.3.6.1.4.1.3704.1.3.3", "1.3.6.1.4.1.3704.1.3.8",
                "1.3.6.1.4.1.3704.1.3.9"};
            for (int i = 0; i < 5; i++)
                if (ext_int(x, oid[i], &v))
                    json_object_set_new(c, nm[i], json_integer(v));
            char csp[128];
            if (st_snp_cert_csp_id(x, csp, sizeof(csp)))
                json_object_set_new(c, "csp_id", json_string(csp));
            uint8_t hw[64];
            size_t hn;
            if (ext_hwid(x, hw, &hn))
                st_attest_json_hex(c, "hwid", hw, hn);
            json_object_set_new(out, "certificate", c);
            X509_free(x);
        }
    }
    return ST_OK;
}

/* ---- the extended report's certificate table (GHCB spec, 4.1.8.1) ---- */

static const struct {
    const char *part;
    uint8_t guid[16]; /* in the textual (RFC 4122) byte order */
} cert_guids[] = {
    {"vcek",
     {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9,
      0x3b, 0xe8, 0xac, 0xcd}},
    {"vlek",
     {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0,
      0x45, 0xa0, 0xb8, 0xa1}},
    {"ask",
     {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae,
      0xf3, 0x27, 0xc7, 0x82}},
    {"ark",
     {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6,
      0x01, 0x4c, 0xd0, 0xae}},
};

/* The same GUID in the mixed-endian (EFI) layout some hosts write. */
static void guid_swap(const uint8_t in[16], uint8_t out[16])
{
    static const int map[16] = {3, 2, 1,  0,  5,  4,  7,  6,
                                8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++)
        out[i] = in[map[i]];
}

st_code st_snp_cert_table_parse(const uint8_t *buf, size_t len, st_evidence *ev,
                                st_err *err)
{
    st_reader rd;
    st_reader_init(&rd, buf, len);
    for (size_t i = 0;; i++) {
        const uint8_t *g = st_read_view(&rd, 16);
        uint32_t off = st_read_u32le(&rd), n = st_read_u32le(&rd);
        if (rd.failed)
            return st_err_set(err, ST_E_INPUT,
                              "snp certificate table: entry %zu truncated "
                              "(no terminating zero entry)",
                              i);
        static const uint8_t zero[16];
        if (memcmp(g, zero, 16) == 0 && off == 0 && n == 0)
            return ST_OK;
        if ((uint64_t)off + n > len || n == 0)
            return st_err_set(err, ST_E_INPUT,
                              "snp certificate table: entry %zu: offset %u "
                              "length %u outside the %zu-byte table",
                              i, off, n, len);
        const char *part = NULL;
        for (size_t k = 0; k < sizeof(cert_guids) / sizeof(cert_guids[0]);
             k++) {
            uint8_t sw[16];
            guid_swap(cert_guids[k].guid, sw);
            if (memcmp(g, cert_guids[k].guid, 16) == 0 ||
                memcmp(g, sw, 16) == 0)
                part = cert_guids[k].part;
        }
        if (!part) /* other certificates (CRLs, ...) are not evidence */
            continue;
        st_code rc = st_evidence_set(ev, part, buf + off, n, err);
        if (rc != ST_OK)
            return rc;
    }
}
