/*
 * tpm_verify.c: the TPM 2.0 quote verifier: TPMS_ATTEST and TPMT_SIGNATURE
 * parsing (through st_reader), RSASSA/RSAPSS/ECDSA attestation-key
 * signatures (OpenSSL), the PCR composite digest against supplied PCR
 * values, the replay of sealtrain's measurement log against the
 * application PCR, and the qualifying data.
 *
 * Spec: TCG TPM 2.0 Library Part 2 (Structures): 10.12.8 TPMS_ATTEST,
 * 10.12.1 TPMS_CLOCK_INFO, 10.12.4 TPMS_QUOTE_INFO, 10.6.2
 * TPML_PCR_SELECTION, 11.3.4 TPMT_SIGNATURE, 12.2.4 TPMT_PUBLIC; Part 3
 * 18.4 TPM2_Quote (the composite digest is H(PCR values in selection
 * order)). All integers are big endian.
 *
 * Evidence parts (tee "tpm"): "quote" (TPMS_ATTEST), "signature"
 * (TPMT_SIGNATURE or raw), optional "ak" (the key, only compared with the
 * pinned one), "pcrs" (values), "log" (measurement log JSON, see
 * docs/attestation.md), "report_data" (the 64 bytes whose SHA-256 is the
 * qualifying data).
 *
 * Never: accept a quote signed by a key that is not pinned; accept PCR
 * values or a log that the signed digest does not cover.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/trace.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"
#include "tpm.h"

static ST_MUST_CHECK st_code tpm2b(st_reader *r, uint8_t *out, size_t cap,
                                   size_t *len, const char *what, st_err *err)
{
    size_t at = r->off;
    uint16_t n = st_read_u16be(r);
    if (r->failed)
        return st_err_set(err, ST_E_INPUT, "%s: truncated at offset %zu", what,
                          at);
    if (n > cap)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset %zu: size %u exceeds %zu", what, at, n,
                          cap);
    st_read_bytes(r, out, n);
    if (r->failed)
        return st_err_set(err, ST_E_INPUT, "%s: offset %zu: truncated", what,
                          at);
    *len = n;
    return ST_OK;
}

st_code st_tpms_attest_parse(const uint8_t *d, size_t n, st_tpms_attest *a,
                             st_err *err)
{
    const char *w = "TPMS_ATTEST";
    st_reader r;
    st_code rc;
    memset(a, 0, sizeof(*a));
    a->raw = d;
    a->raw_len = n;
    st_reader_init(&r, d, n);
    a->magic = st_read_u32be(&r);
    a->type = st_read_u16be(&r);
    if (r.failed)
        return st_err_set(err, ST_E_INPUT, "%s: truncated header", w);
    if (a->magic != ST_TPM_GENERATED)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset 0: magic 0x%08x is not "
                          "TPM_GENERATED_VALUE 0xff544347",
                          w, a->magic);
    if (a->type != ST_TPM_ST_ATTEST_QUOTE)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset 4: type 0x%04x is not "
                          "TPM_ST_ATTEST_QUOTE 0x8018",
                          w, a->type);
    if ((rc = tpm2b(&r, a->signer, sizeof(a->signer), &a->signer_len,
                    "TPMS_ATTEST qualifiedSigner", err)) != ST_OK)
        return rc;
    if ((rc = tpm2b(&r, a->extra, sizeof(a->extra), &a->extra_len,
                    "TPMS_ATTEST extraData", err)) != ST_OK)
        return rc;
    a->clock = st_read_u64be(&r);
    a->reset_count = st_read_u32be(&r);
    a->restart_count = st_read_u32be(&r);
    a->safe = st_read_u8(&r);
    a->firmware = st_read_u64be(&r);
    size_t at = r.off;
    a->nbanks = st_read_u32be(&r);
    if (r.failed)
        return st_err_set(err, ST_E_INPUT, "%s: truncated clock info", w);
    if (a->safe > 1)
        return st_err_set(err, ST_E_INPUT,
                          "%s: clockInfo.safe is %u, not a boolean", w,
                          a->safe);
    if (a->nbanks == 0 || a->nbanks > ST_TPM_MAX_BANKS)
        return st_err_set(err, ST_E_INPUT,
                          "%s: offset %zu: %u PCR banks selected (1-%d)", w, at,
                          a->nbanks, ST_TPM_MAX_BANKS);
    for (uint32_t i = 0; i < a->nbanks; i++) {
        st_tpm_pcr_bank *b = &a->banks[i];
        at = r.off;
        b->hash = st_read_u16be(&r);
        b->size_of_select = st_read_u8(&r);
        if (r.failed || b->size_of_select > 4 || b->size_of_select < 3)
            return st_err_set(err, ST_E_INPUT,
                              "%s: offset %zu: PCR selection of %u bytes "
                              "(3-4)",
                              w, at, b->size_of_select);
        st_read_bytes(&r, b->select, b->size_of_select);
        size_t hs;
        if (!st_tpm_hash_name(b->hash, &hs))
            return st_err_set(err, ST_E_INPUT,
                              "%s: offset %zu: unsupported PCR bank 0x%04x", w,
                              at, b->hash);
    }
    if ((rc = tpm2b(&r, a->pcr_digest, sizeof(a->pcr_digest),
                    &a->pcr_digest_len, "TPMS_ATTEST pcrDigest", err)) != ST_OK)
        return rc;
    if (st_reader_left(&r) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "%s: %zu bytes after the structure (offset %zu)", w,
                          st_reader_left(&r), r.off);
    return ST_OK;
}

st_code st_tpmt_signature_parse(const uint8_t *d, size_t n,
                                st_tpmt_signature *s, st_err *err)
{
    st_reader r;
    st_code rc;
    memset(s, 0, sizeof(*s));
    st_reader_init(&r, d, n);
    s->alg = st_read_u16be(&r);
    s->hash = st_read_u16be(&r);
    if (r.failed)
        return st_err_set(err, ST_E_INPUT, "TPMT_SIGNATURE: truncated");
    if (s->alg == ST_TPM_ALG_RSASSA || s->alg == ST_TPM_ALG_RSAPSS) {
        rc = tpm2b(&r, s->sig, sizeof(s->sig), &s->sig_len,
                   "TPMT_SIGNATURE signature", err);
    } else if (s->alg == ST_TPM_ALG_ECDSA) {
        rc = tpm2b(&r, s->sig, 72, &s->sig_len, "TPMT_SIGNATURE r", err);
        if (rc == ST_OK)
            rc = tpm2b(&r, s->s, sizeof(s->s), &s->s_len, "TPMT_SIGNATURE s",
                       err);
    } else {
        return st_err_set(err, ST_E_INPUT,
                          "TPMT_SIGNATURE: offset 0: algorithm 0x%04x is not "
                          "RSASSA, RSAPSS or ECDSA",
                          s->alg);
    }
    if (rc != ST_OK)
        return rc;
    if (st_reader_left(&r) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "TPMT_SIGNATURE: %zu bytes after the structure",
                          st_reader_left(&r));
    return ST_OK;
}

const char *st_tpm_hash_name(uint16_t alg, size_t *size)
{
    switch (alg) {
    case ST_TPM_ALG_SHA1: *size = 20; return "SHA1";
    case ST_TPM_ALG_SHA256: *size = 32; return "SHA256";
    case ST_TPM_ALG_SHA384: *size = 48; return "SHA384";
    case ST_TPM_ALG_SHA512: *size = 64; return "SHA512";
    default: *size = 0; return NULL;
    }
}

static const char *bank_label(uint16_t alg)
{
    switch (alg) {
    case ST_TPM_ALG_SHA1: return "sha1";
    case ST_TPM_ALG_SHA256: return "sha256";
    case ST_TPM_ALG_SHA384: return "sha384";
    case ST_TPM_ALG_SHA512: return "sha512";
    default: return "unknown";
    }
}

/* ---- keys ----------------------------------------------------------- */

static EVP_PKEY *pkey_rsa(const uint8_t *n, size_t nlen, uint32_t e,
                          st_err *err)
{
    EVP_PKEY *k = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_new();
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *p = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bn && be && b && c && BN_set_word(be, e ? e : 65537) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) &&
        (p = OSSL_PARAM_BLD_to_param(b)) && EVP_PKEY_fromdata_init(c) == 1)
        EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p);
    if (!k)
        st_err_openssl(err, ST_E_INPUT, "TPM2B_PUBLIC: unusable RSA key");
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(c);
    BN_free(bn);
    BN_free(be);
    return k;
}

static EVP_PKEY *pkey_ec(uint16_t curve, const uint8_t *x, size_t xl,
                         const uint8_t *y, size_t yl, st_err *err)
{
    const char *grp = curve == 0x0003   ? "prime256v1"
                      : curve == 0x0004 ? "secp384r1"
                      : curve == 0x0005 ? "secp521r1"
                                        : NULL;
    size_t fl = curve == 0x0003 ? 32 : curve == 0x0004 ? 48 : 66;
    if (!grp || xl > fl || yl > fl) {
        st_err_set(err, ST_E_INPUT,
                   "TPM2B_PUBLIC: unsupported ECC curve 0x%04x", curve);
        return NULL;
    }
    uint8_t pt[1 + 2 * 66] = {0x04};
    memcpy(pt + 1 + fl - xl, x, xl);
    memcpy(pt + 1 + 2 * fl - yl, y, yl);
    EVP_PKEY *k = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)grp, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * fl),
        OSSL_PARAM_END};
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (c && EVP_PKEY_fromdata_init(c) == 1)
        EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(c);
    if (!k)
        st_err_openssl(err, ST_E_INPUT, "TPM2B_PUBLIC: ECC point not on curve");
    return k;
}

static void read_scheme(st_reader *r)
{
    /* TPMT_*_SCHEME / TPMT_KDF_SCHEME: scheme, then a hash unless NULL */
    if (st_read_u16be(r) != 0x0010)
        st_read_u16be(r);
}

EVP_PKEY *st_tpm2b_public_to_pkey(const uint8_t *d, size_t n, st_err *err)
{
    st_reader r;
    st_reader_init(&r, d, n);
    uint16_t size = st_read_u16be(&r);
    if (r.failed || size != n - 2) {
        st_err_set(err, ST_E_INPUT,
                   "TPM2B_PUBLIC: size field %u does not match %zu bytes", size,
                   n);
        return NULL;
    }
    uint16_t type = st_read_u16be(&r);
    st_read_u16be(&r); /* nameAlg */
    st_read_u32be(&r); /* objectAttributes */
    uint16_t pol = st_read_u16be(&r);
    st_read_skip(&r, pol);
    uint16_t sym = st_read_u16be(&r);
    if (sym != 0x0010) {
        st_read_u16be(&r); /* keyBits */
        st_read_u16be(&r); /* mode */
    }
    EVP_PKEY *k = NULL;
    int tried = 0;
    if (type == 0x0001) {
        read_scheme(&r);
        st_read_u16be(&r); /* keyBits */
        uint32_t e = st_read_u32be(&r);
        uint16_t ml = st_read_u16be(&r);
        const uint8_t *m = st_read_view(&r, ml);
        if (!r.failed && st_reader_left(&r) == 0 && m && ml >= 128) {
            tried = 1;
            k = pkey_rsa(m, ml, e, err);
        }
    } else if (type == 0x0023) {
        read_scheme(&r);
        uint16_t curve = st_read_u16be(&r);
        read_scheme(&r);
        uint16_t xl = st_read_u16be(&r);
        const uint8_t *x = st_read_view(&r, xl);
        uint16_t yl = st_read_u16be(&r);
        const uint8_t *y = st_read_view(&r, yl);
        if (!r.failed && st_reader_left(&r) == 0 && x && y) {
            tried = 1;
            k = pkey_ec(curve, x, xl, y, yl, err);
        }
    }
    if (!k && !tried)
        st_err_set(err, ST_E_INPUT,
                   "TPM2B_PUBLIC: not a well-formed RSA or ECC public area");
    return k;
}

EVP_PKEY *st_tpm_ak_parse(const uint8_t *d, size_t n, st_err *err)
{
    if (n >= 2 && (size_t)((d[0] << 8) | d[1]) == n - 2)
        return st_tpm2b_public_to_pkey(d, n, err);
    return st_attest_pubkey_parse(d, n, "TPM attestation key", err);
}

static const EVP_MD *md_for(uint16_t alg)
{
    switch (alg) {
    case ST_TPM_ALG_SHA1: return EVP_sha1();
    case ST_TPM_ALG_SHA256: return EVP_sha256();
    case ST_TPM_ALG_SHA384: return EVP_sha384();
    case ST_TPM_ALG_SHA512: return EVP_sha512();
    default: return NULL;
    }
}

static int verify_der(EVP_PKEY *key, const EVP_MD *md, int pad,
                      const uint8_t *sig, size_t siglen, const uint8_t *msg,
                      size_t len)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    int ok = c && EVP_DigestVerifyInit(c, &pc, md, NULL, key) == 1;
    if (ok && pad == RSA_PKCS1_PSS_PADDING)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, pad) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_AUTO) == 1;
    else if (ok && pad)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, pad) == 1;
    ok = ok && EVP_DigestVerify(c, sig, siglen, msg, len) == 1;
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return ok;
}

static int verify_ecdsa_rs(EVP_PKEY *key, const EVP_MD *md, const uint8_t *r,
                           size_t rl, const uint8_t *s, size_t sl,
                           const uint8_t *msg, size_t len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, (int)rl, NULL), *bs = BN_bin2bn(s, (int)sl, NULL);
    unsigned char *der = NULL;
    int ok = 0;
    if (sig && br && bs && ECDSA_SIG_set0(sig, br, bs) == 1) {
        br = bs = NULL;
        int dl = i2d_ECDSA_SIG(sig, &der);
        if (dl > 0)
            ok = verify_der(key, md, 0, der, (size_t)dl, msg, len);
    }
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    OPENSSL_free(der);
    return ok;
}

int st_tpm_sig_verify(const st_tpms_attest *a, const uint8_t *sig,
                      size_t siglen, EVP_PKEY *key, char *what, size_t cap)
{
    st_tpmt_signature s;
    int is_rsa = EVP_PKEY_base_id(key) == EVP_PKEY_RSA;
    if (st_tpmt_signature_parse(sig, siglen, &s, NULL) == ST_OK) {
        size_t hs;
        const char *hn = st_tpm_hash_name(s.hash, &hs);
        const EVP_MD *md = md_for(s.hash);
        const char *an = s.alg == ST_TPM_ALG_RSASSA   ? "RSASSA"
                         : s.alg == ST_TPM_ALG_RSAPSS ? "RSAPSS"
                                                      : "ECDSA";
        snprintf(what, cap, "%s-%s (TPMT_SIGNATURE)", an, hn ? hn : "?");
        if (!md)
            return 0;
        if (s.alg == ST_TPM_ALG_ECDSA)
            return !is_rsa && verify_ecdsa_rs(key, md, s.sig, s.sig_len, s.s,
                                              s.s_len, a->raw, a->raw_len);
        return is_rsa &&
               verify_der(key, md,
                          s.alg == ST_TPM_ALG_RSAPSS ? RSA_PKCS1_PSS_PADDING
                                                     : RSA_PKCS1_PADDING,
                          s.sig, s.sig_len, a->raw, a->raw_len);
    }
    /* raw signatures (Azure vTPM evidence, OpenSSL output) */
    if (is_rsa) {
        snprintf(what, cap, "RSASSA-SHA256 (raw)");
        return (size_t)EVP_PKEY_get_size(key) == siglen &&
               verify_der(key, EVP_sha256(), RSA_PKCS1_PADDING, sig, siglen,
                          a->raw, a->raw_len);
    }
    snprintf(what, cap, "ECDSA-SHA256 (DER)");
    return verify_der(key, EVP_sha256(), 0, sig, siglen, a->raw, a->raw_len);
}

/* ---- PCR values ----------------------------------------------------- */

static int bank_index(st_tpm_pcrs *p, uint16_t hash)
{
    for (int i = 0; i < p->nbanks; i++)
        if (p->bank_hash[i] == hash)
            return i;
    if (p->nbanks == ST_TPM_MAX_BANKS)
        return -1;
    p->bank_hash[p->nbanks] = hash;
    return p->nbanks++;
}

static int selected(const st_tpm_pcr_bank *b, int pcr)
{
    return pcr / 8 < b->size_of_select && (b->select[pcr / 8] >> (pcr % 8) & 1);
}

st_code st_tpm_pcrs_parse(const uint8_t *d, size_t n, const st_tpms_attest *a,
                          st_tpm_pcrs *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    int text = n > 0;
    for (size_t i = 0; i < n; i++)
        if (d[i] != '\n' && d[i] != '\r' && d[i] != ' ' && d[i] != '\t' &&
            d[i] != ':' && !(d[i] >= '0' && d[i] <= '9') &&
            !(d[i] >= 'a' && d[i] <= 'z') && !(d[i] >= 'A' && d[i] <= 'Z'))
            text = 0;
    if (!text) {
        /* tpm2_quote -o: the selected values, bank by bank, ascending */
        size_t off = 0;
        for (uint32_t b = 0; b < a->nbanks; b++) {
            size_t hs;
            st_tpm_hash_name(a->banks[b].hash, &hs);
            int bi = bank_index(out, a->banks[b].hash);
            for (int pcr = 0; pcr < ST_TPM_MAX_PCRS; pcr++) {
                if (!selected(&a->banks[b], pcr))
                    continue;
                if (bi < 0 || off + hs > n)
                    return st_err_set(err, ST_E_INPUT,
                                      "PCR values: %zu bytes are too few for "
                                      "the quote's selection",
                                      n);
                memcpy(out->value[bi][pcr], d + off, hs);
                out->have[bi][pcr] = 1;
                off += hs;
            }
        }
        if (off != n)
            return st_err_set(err, ST_E_INPUT,
                              "PCR values: %zu bytes, the quote's selection "
                              "needs %zu",
                              n, off);
        return ST_OK;
    }
    char *s = strndup((const char *)d, n);
    if (!s)
        return st_err_set(err, ST_E_IO, "out of memory");
    st_code rc = ST_OK;
    char *save = NULL;
    int line = 0;
    for (char *l = strtok_r(s, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        char bank[16] = "sha256", hex[200];
        int idx;
        char *colon = strchr(l, ':');
        char *rest = l;
        if (colon && colon - l < (long)sizeof(bank) && colon[1] != ' ') {
            snprintf(bank, sizeof(bank), "%.*s", (int)(colon - l), l);
            rest = colon + 1;
        }
        if (sscanf(rest, "%d %199s", &idx, hex) != 2 || idx < 0 ||
            idx >= ST_TPM_MAX_PCRS) {
            rc = st_err_at(err, ST_E_INPUT, "PCR values", line, 1,
                           "expected \"[bank:]INDEX HEX\"");
            break;
        }
        uint16_t h = !strcmp(bank, "sha1")     ? ST_TPM_ALG_SHA1
                     : !strcmp(bank, "sha256") ? ST_TPM_ALG_SHA256
                     : !strcmp(bank, "sha384") ? ST_TPM_ALG_SHA384
                     : !strcmp(bank, "sha512") ? ST_TPM_ALG_SHA512
                                               : 0;
        size_t hs = 0;
        if (!h || !st_tpm_hash_name(h, &hs) || strlen(hex) != 2 * hs) {
            rc = st_err_at(err, ST_E_INPUT, "PCR values", line, 1,
                           "bank \"%s\" or value length is wrong", bank);
            break;
        }
        int bi = bank_index(out, h);
        if (bi < 0 ||
            st_hex_decode(hex, out->value[bi][idx], hs, err) != ST_OK) {
            rc = st_err_at(err, ST_E_INPUT, "PCR values", line, 1,
                           "value is not hex");
            break;
        }
        out->have[bi][idx] = 1;
    }
    free(s);
    return rc;
}

int st_tpm_pcr_composite(const st_tpms_attest *a, const st_tpm_pcrs *p,
                         uint8_t out[64], size_t *outlen, char *missing,
                         size_t cap)
{
    /* the composite uses the AK's signing hash, whose size is pcrDigest's */
    const EVP_MD *md = a->pcr_digest_len == 20   ? EVP_sha1()
                       : a->pcr_digest_len == 32 ? EVP_sha256()
                       : a->pcr_digest_len == 48 ? EVP_sha384()
                       : a->pcr_digest_len == 64 ? EVP_sha512()
                                                 : NULL;
    if (!md) {
        snprintf(missing, cap, "pcrDigest of %zu bytes", a->pcr_digest_len);
        return 0;
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, md, NULL) != 1) {
        EVP_MD_CTX_free(c);
        snprintf(missing, cap, "digest unavailable");
        return 0;
    }
    for (uint32_t b = 0; b < a->nbanks; b++) {
        size_t hs;
        st_tpm_hash_name(a->banks[b].hash, &hs);
        int bi = -1;
        for (int i = 0; i < p->nbanks; i++)
            if (p->bank_hash[i] == a->banks[b].hash)
                bi = i;
        for (int pcr = 0; pcr < ST_TPM_MAX_PCRS; pcr++) {
            if (!selected(&a->banks[b], pcr))
                continue;
            if (bi < 0 || !p->have[bi][pcr]) {
                snprintf(missing, cap, "no value for %s PCR %d",
                         bank_label(a->banks[b].hash), pcr);
                EVP_MD_CTX_free(c);
                return 0;
            }
            EVP_DigestUpdate(c, p->value[bi][pcr], hs);
        }
    }
    unsigned int ol = 0;
    EVP_DigestFinal_ex(c, out, &ol);
    EVP_MD_CTX_free(c);
    *outlen = ol;
    return 1;
}

void st_tpm_attest_fields(const st_tpms_attest *a, json_t *o)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "0x%08x", a->magic);
    json_object_set_new(o, "magic", json_string(buf));
    snprintf(buf, sizeof(buf), "0x%04x", a->type);
    json_object_set_new(o, "type", json_string(buf));
    st_attest_json_hex(o, "qualified_signer", a->signer, a->signer_len);
    st_attest_json_hex(o, "extra_data", a->extra, a->extra_len);
    st_attest_json_u64(o, "clock", a->clock);
    json_object_set_new(o, "reset_count", json_integer(a->reset_count));
    json_object_set_new(o, "restart_count", json_integer(a->restart_count));
    json_object_set_new(o, "safe", json_boolean(a->safe));
    snprintf(buf, sizeof(buf), "0x%016llx", (unsigned long long)a->firmware);
    json_object_set_new(o, "firmware_version", json_string(buf));
    json_t *sel = json_array();
    for (uint32_t b = 0; b < a->nbanks; b++) {
        json_t *pcrs = json_array();
        for (int i = 0; i < ST_TPM_MAX_PCRS; i++)
            if (selected(&a->banks[b], i))
                json_array_append_new(pcrs, json_integer(i));
        json_array_append_new(sel, json_pack("{s:s, s:o}", "bank",
                                             bank_label(a->banks[b].hash),
                                             "pcrs", pcrs));
    }
    json_object_set_new(o, "pcr_select", sel);
    st_attest_json_hex(o, "pcr_digest", a->pcr_digest, a->pcr_digest_len);
}

void st_tpm_check_quote(st_attest_ctx *ctx, const char *prefix,
                        const st_tpms_attest *a, const uint8_t *sig,
                        size_t siglen, EVP_PKEY *key, const st_tpm_pcrs *pcrs)
{
    st_trace *t = ctx->trace;
    char claim[96], what[80];
    int ok = st_tpm_sig_verify(a, sig, siglen, key, what, sizeof(what));
    snprintf(claim, sizeof(claim), "%s.signature", prefix);
    st_trace_addf(t, claim, ok, "valid signature by the attestation key",
                  "%s %s", what, ok ? "valid" : "invalid");
    snprintf(claim, sizeof(claim), "%s.pcr_digest", prefix);
    char exp[140];
    st_hex_encode(a->pcr_digest, a->pcr_digest_len, exp);
    if (!pcrs) {
        /* the signed digest still identifies the PCR state: it becomes the
         * measurement a policy can allow-list */
        st_trace_add(t, claim, 1, exp,
                     "signed; no PCR values supplied (the digest is the "
                     "measurement)");
        return;
    }
    uint8_t got[64];
    size_t gl = 0;
    char missing[80];
    if (!st_tpm_pcr_composite(a, pcrs, got, &gl, missing, sizeof(missing))) {
        st_trace_add(t, claim, 0, exp, missing);
        return;
    }
    if (gl == a->pcr_digest_len)
        st_trace_hex(t, claim, a->pcr_digest, got, gl);
    else
        st_trace_add(t, claim, 0, exp, "digest of another size");
    /* the values are covered by the signed digest: expose them */
    for (int b = 0; b < pcrs->nbanks; b++) {
        size_t hs;
        st_tpm_hash_name(pcrs->bank_hash[b], &hs);
        for (int i = 0; i < ST_TPM_MAX_PCRS; i++) {
            if (!pcrs->have[b][i])
                continue;
            char k[32];
            snprintf(k, sizeof(k), "pcr.%s.%d", bank_label(pcrs->bank_hash[b]),
                     i);
            st_attest_json_hex(ctx->claims->fields, k, pcrs->value[b][i], hs);
        }
    }
}

/* ---- the measurement log -------------------------------------------- */

/* {"bank":"sha256","pcr":23,"entries":[{"type","name","sha256"}...]}:
 * replays into *out; entries go into claims fields "log". */
static ST_MUST_CHECK st_code log_replay(const uint8_t *d, size_t n,
                                        long long *pcr, uint8_t out[32],
                                        json_t **entries_out,
                                        uint8_t runtime[32], int *has_runtime,
                                        st_err *err)
{
    static const char *const keys[] = {"bank", "pcr", "entries", NULL};
    static const char *const ekeys[] = {"type", "name", "sha256", NULL};
    const char *w = "tpm evidence: part \"log\"";
    json_t *root =
        st_json_parse((const char *)d, n, "tpm measurement log", err);
    if (!root)
        return ST_E_INPUT;
    const char *bank;
    st_code rc = st_json_check_keys(root, keys, w, err);
    if (rc == ST_OK)
        rc = st_json_get_string(root, "bank", 1, &bank, w, err);
    if (rc == ST_OK && strcmp(bank, "sha256") != 0)
        rc = st_err_set(err, ST_E_INPUT, "%s: bank must be \"sha256\"", w);
    if (rc == ST_OK)
        rc = st_json_get_int(root, "pcr", 1, 0, 23, pcr, w, err);
    json_t *entries = json_object_get(root, "entries");
    if (rc == ST_OK && !json_is_array(entries))
        rc = st_err_set(err, ST_E_INPUT, "%s: \"entries\" must be an array", w);
    memset(out, 0, 32);
    *has_runtime = 0;
    size_t i;
    json_t *e;
    if (rc == ST_OK) {
        json_array_foreach(entries, i, e)
        {
            char ew[120];
            snprintf(ew, sizeof(ew), "%s: entries[%zu]", w, i);
            const char *type, *name, *hex;
            uint8_t dig[32], buf[64];
            if ((rc = st_json_check_keys(e, ekeys, ew, err)) != ST_OK ||
                (rc = st_json_get_string(e, "type", 1, &type, ew, err)) !=
                    ST_OK ||
                (rc = st_json_get_string(e, "name", 1, &name, ew, err)) !=
                    ST_OK ||
                (rc = st_json_get_string(e, "sha256", 1, &hex, ew, err)) !=
                    ST_OK)
                break;
            if ((rc = st_hex_decode(hex, dig, 32, err)) != ST_OK) {
                st_err_prefix(err, "%s: sha256", ew);
                break;
            }
            memcpy(buf, out, 32);
            memcpy(buf + 32, dig, 32);
            st_sha256(buf, 64, out);
            if (strcmp(type, "runtime") == 0 && !*has_runtime) {
                memcpy(runtime, dig, 32);
                *has_runtime = 1;
            }
        }
    }
    if (rc == ST_OK)
        *entries_out = json_incref(entries);
    json_decref(root);
    return rc;
}

/* The AK to check against: the pinned one (refs), compared with the
 * evidence's copy when both exist. */
static ST_MUST_CHECK st_code pinned_ak(st_attest_ctx *ctx, const char *prefix,
                                       EVP_PKEY **out, st_err *err)
{
    size_t n;
    const uint8_t *d = st_evidence_get(ctx->ev, "ak", &n);
    char claim[64];
    snprintf(claim, sizeof(claim), "%s.ak.pinned", prefix);
    *out = NULL;
    EVP_PKEY *ev_key = NULL;
    if (d && !(ev_key = st_tpm_ak_parse(d, n, err))) {
        st_err_prefix(err, "tpm evidence: part \"ak\"");
        return ST_E_INPUT;
    }
    if (!ctx->refs->tpm_ak) {
        st_trace_add(
            ctx->trace, claim, 0, "an attestation key pinned by the verifier",
            ev_key ? "only the evidence's own key (not pinned)" : "none");
        *out = ev_key; /* still check the rest, the verdict fails anyway */
        return ST_OK;
    }
    EVP_PKEY *pin =
        st_tpm_ak_parse(ctx->refs->tpm_ak, ctx->refs->tpm_ak_len, err);
    if (!pin) {
        EVP_PKEY_free(ev_key);
        st_err_prefix(err, "pinned TPM attestation key");
        return ST_E_INPUT;
    }
    if (ev_key) {
        int same = EVP_PKEY_eq(pin, ev_key) == 1;
        st_trace_add(ctx->trace, claim, same, "the pinned key",
                     same ? "the pinned key" : "another key");
        EVP_PKEY_free(ev_key);
    } else {
        st_trace_add(ctx->trace, claim, 1, "the pinned key", "the pinned key");
    }
    *out = pin;
    return ST_OK;
}

st_code st_attest_tpm_verify(st_attest_ctx *ctx, st_err *err)
{
    const uint8_t *q, *sig;
    size_t ql, sl;
    st_tpms_attest a;
    st_code rc = st_attest_need_part(ctx->ev, "quote", &q, &ql, err);
    if (rc == ST_OK)
        rc = st_attest_need_part(ctx->ev, "signature", &sig, &sl, err);
    if (rc == ST_OK && (rc = st_tpms_attest_parse(q, ql, &a, err)) != ST_OK)
        st_err_prefix(err, "tpm evidence: part \"quote\"");
    if (rc != ST_OK)
        return rc;
    st_tpm_pcrs *pcrs = NULL;
    size_t pl;
    const uint8_t *pd = st_evidence_get(ctx->ev, "pcrs", &pl);
    if (pd) {
        pcrs = malloc(sizeof(*pcrs));
        if (!pcrs)
            return st_err_set(err, ST_E_IO, "out of memory");
        if ((rc = st_tpm_pcrs_parse(pd, pl, &a, pcrs, err)) != ST_OK) {
            st_err_prefix(err, "tpm evidence: part \"pcrs\"");
            free(pcrs);
            return rc;
        }
    }
    EVP_PKEY *key = NULL;
    rc = pinned_ak(ctx, "tpm", &key, err);
    if (rc != ST_OK) {
        free(pcrs);
        return rc;
    }
    st_claims *c = ctx->claims;
    st_trace *t = ctx->trace;
    if (key)
        st_tpm_check_quote(ctx, "tpm", &a, sig, sl, key, pcrs);
    else
        st_trace_add(t, "tpm.signature", 0,
                     "valid signature by the attestation key", "no key");
    EVP_PKEY_free(key);
    st_tpm_attest_fields(&a, c->fields);

    /* qualifying data: SHA-256 of the report data when the evidence brings
     * it (our backend), else the raw extraData (a nonce) */
    size_t rl;
    const uint8_t *rd = st_evidence_get(ctx->ev, "report_data", &rl);
    if (rd) {
        if (rl != 64) {
            free(pcrs);
            return st_err_set(err, ST_E_INPUT,
                              "tpm evidence: part \"report_data\" is %zu "
                              "bytes, not 64",
                              rl);
        }
        uint8_t h[32];
        st_sha256(rd, 64, h);
        if (a.extra_len == 32)
            st_trace_hex(t, "tpm.qualifying_data", h, a.extra, 32);
        else
            st_trace_addf(t, "tpm.qualifying_data", 0,
                          "SHA-256 of the report data", "%zu bytes",
                          a.extra_len);
        st_attest_claim_report_data(c, rd);
    } else {
        uint8_t padded[64] = {0};
        memcpy(padded, a.extra, a.extra_len);
        st_attest_claim_report_data(c, padded);
    }

    /* the measurement log, replayed against the quoted application PCR */
    size_t ll;
    const uint8_t *ld = st_evidence_get(ctx->ev, "log", &ll);
    st_hex_encode(a.pcr_digest, a.pcr_digest_len, c->measurement);
    if (ld) {
        long long pcr = 0;
        uint8_t replay[32], runtime[32];
        int has_rt = 0;
        json_t *entries = NULL;
        rc = log_replay(ld, ll, &pcr, replay, &entries, runtime, &has_rt, err);
        if (rc != ST_OK) {
            free(pcrs);
            return rc;
        }
        int bi = -1;
        for (int i = 0; pcrs && i < pcrs->nbanks; i++)
            if (pcrs->bank_hash[i] == ST_TPM_ALG_SHA256)
                bi = i;
        char claim[48];
        snprintf(claim, sizeof(claim), "tpm.log.replay");
        if (bi < 0 || !pcrs->have[bi][pcr])
            st_trace_addf(t, claim, 0, "the quoted PCR value",
                          "no sha256 PCR %lld value in the quote", pcr);
        else
            st_trace_hex(t, claim, pcrs->value[bi][pcr], replay, 32);
        int covered = 0;
        for (uint32_t b = 0; b < a.nbanks; b++)
            if (a.banks[b].hash == ST_TPM_ALG_SHA256 &&
                selected(&a.banks[b], (int)pcr))
                covered = 1;
        st_trace_addf(t, "tpm.log.pcr_selected", covered,
                      "the log's PCR in the quote's selection",
                      "sha256 PCR %lld %s", pcr,
                      covered ? "selected" : "not selected");
        json_object_set_new(c->fields, "log", entries);
        json_object_set_new(c->fields, "log_pcr", json_integer(pcr));
        if (has_rt)
            st_hex_encode(runtime, 32, c->measurement);
        st_trace_add(t, "tpm.log.runtime", has_rt,
                     "a \"runtime\" entry (the measurement)",
                     has_rt ? c->measurement : "absent");
    }
    free(pcrs);
    st_hex_encode(a.signer, a.signer_len, c->platform_id);
    snprintf(c->tcb, sizeof(c->tcb), "firmware 0x%016llx",
             (unsigned long long)a.firmware);
    c->debug = 0;
    return ST_OK;
}

st_code st_attest_tpm_show(const st_evidence *ev, json_t *out, st_err *err)
{
    const uint8_t *q;
    size_t ql;
    st_tpms_attest a;
    st_code rc = st_attest_need_part(ev, "quote", &q, &ql, err);
    if (rc == ST_OK && (rc = st_tpms_attest_parse(q, ql, &a, err)) != ST_OK)
        st_err_prefix(err, "tpm evidence: part \"quote\"");
    if (rc != ST_OK)
        return rc;
    json_t *o = json_object();
    st_tpm_attest_fields(&a, o);
    json_object_set_new(out, "quote", o);
    size_t sl;
    const uint8_t *sig = st_evidence_get(ev, "signature", &sl);
    st_tpmt_signature s;
    if (sig && st_tpmt_signature_parse(sig, sl, &s, NULL) == ST_OK) {
        size_t hs;
        const char *hn = st_tpm_hash_name(s.hash, &hs);
        json_object_set_new(
            out, "signature",
            json_pack("{s:i, s:s}", "alg", s.alg, "hash", hn ? hn : "?"));
    }
    size_t ll;
    const uint8_t *ld = st_evidence_get(ev, "log", &ll);
    if (ld) {
        json_t *l = st_json_parse((const char *)ld, ll, "log", NULL);
        if (l)
            json_object_set_new(out, "log", l);
    }
    return ST_OK;
}
