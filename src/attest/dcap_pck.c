/*
 * dcap_pck.c: the SGX extensions of an Intel PCK certificate (OID
 * 1.2.840.113741.1.13.1): PPID, TCB (16 component SVNs, PCESVN, CPUSVN),
 * PCE ID, FMSPC and SGX type.
 *
 * Parses DER by hand with st_reader because the extension is a private
 * structure OpenSSL does not know; only definite-length DER is accepted and
 * every length is checked against its container. It reads; it never
 * decides trust (the certificate is verified by dcap_verify.c first).
 *
 * Spec: Intel SGX PCK Certificate and CRL Profile, section 1.5 (Intel SGX
 * PCK Certificate, SGX Extensions).
 */
#include "attest/dcap.h"

#include <string.h>

#include "sealtrain/bytes.h"

/* 1.2.840.113741.1.13.1 in DER, without tag and length. */
static const uint8_t sgx_oid[] = {0x2a, 0x86, 0x48, 0x86, 0xf8,
                                  0x4d, 0x01, 0x0d, 0x01};

typedef struct der {
    uint8_t tag;
    const uint8_t *val;
    size_t len;
} der;

/* Reads one TLV (single-byte tag, definite length up to 4 bytes). */
static int der_next(st_reader *r, der *d)
{
    d->tag = st_read_u8(r);
    uint8_t l = st_read_u8(r);
    size_t len = l;
    if (l & 0x80) {
        unsigned n = l & 0x7f;
        if (n == 0 || n > 4)
            return 0;
        len = 0;
        for (unsigned i = 0; i < n; i++)
            len = (len << 8) | st_read_u8(r);
        /* DER: minimal length encoding */
        if (len < 0x80 || (n > 1 && len < (1u << (8 * (n - 1)))))
            return 0;
    }
    if (r->failed)
        return 0;
    d->len = len;
    d->val = st_read_view(r, len);
    return !r->failed;
}

/* The arcs after the SGX prefix: 1 for ".1", 2,17 for ".2.17". */
static int oid_suffix(const der *d, uint8_t *a, uint8_t *b)
{
    size_t p = sizeof(sgx_oid);
    if (d->tag != 0x06 || d->len < p + 1 || d->len > p + 2 ||
        memcmp(d->val, sgx_oid, p) != 0)
        return 0;
    *a = d->val[p];
    *b = d->len == p + 2 ? d->val[p + 1] : 0;
    return (*a & 0x80) == 0 && (*b & 0x80) == 0;
}

static int der_uint(const der *d, uint8_t tag, unsigned max, unsigned *out)
{
    if (d->tag != tag || d->len == 0 || d->len > 3 || (d->val[0] & 0x80))
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < d->len; i++)
        v = (v << 8) | d->val[i];
    if (v > max)
        return 0;
    *out = v;
    return 1;
}

static int der_octets(const der *d, void *out, size_t n)
{
    if (d->tag != 0x04 || d->len != n)
        return 0;
    memcpy(out, d->val, n);
    return 1;
}

static ST_MUST_CHECK st_code fail(st_err *err, const char *what)
{
    return st_err_set(err, ST_E_INPUT, "PCK certificate SGX extension: %s",
                      what);
}

static ST_MUST_CHECK st_code parse_tcb(const der *seq, st_dcap_pck_ext *out,
                                       st_err *err)
{
    st_reader r;
    der item, oid, val;
    unsigned seen = 0;
    if (seq->tag != 0x30)
        return fail(err, "TCB is not a SEQUENCE");
    st_reader_init(&r, seq->val, seq->len);
    while (st_reader_left(&r)) {
        if (!der_next(&r, &item) || item.tag != 0x30)
            return fail(err, "malformed TCB component");
        st_reader ir;
        st_reader_init(&ir, item.val, item.len);
        uint8_t a, b;
        if (!der_next(&ir, &oid) || !der_next(&ir, &val) ||
            st_reader_left(&ir) || !oid_suffix(&oid, &a, &b) || a != 2 ||
            b < 1 || b > 18)
            return fail(err, "malformed TCB component");
        unsigned v;
        if (b <= 16) {
            if (!der_uint(&val, 0x02, 255, &v))
                return fail(err, "TCB component SVN is not an INTEGER 0..255");
            out->comp_svn[b - 1] = (uint8_t)v;
        } else if (b == 17) {
            if (!der_uint(&val, 0x02, 65535, &v))
                return fail(err, "PCESVN is not an INTEGER 0..65535");
            out->pcesvn = (uint16_t)v;
        } else if (!der_octets(&val, out->cpusvn, 16)) {
            return fail(err, "CPUSVN is not 16 octets");
        }
        if (seen & (1u << b))
            return fail(err, "duplicate TCB component");
        seen |= 1u << b;
    }
    if (seen != 0x7fffeu)
        return fail(err, "TCB lacks components (want 16 SVNs, PCESVN, "
                         "CPUSVN)");
    return ST_OK;
}

st_code st_dcap_pck_ext_parse(const uint8_t *der_in, size_t len,
                              st_dcap_pck_ext *out, st_err *err)
{
    st_reader top, r;
    der outer, item, oid, val;
    unsigned seen = 0;
    memset(out, 0, sizeof(*out));
    st_reader_init(&top, der_in, len);
    if (!der_next(&top, &outer) || outer.tag != 0x30 || st_reader_left(&top))
        return fail(err, "not a single DER SEQUENCE");
    st_reader_init(&r, outer.val, outer.len);
    while (st_reader_left(&r)) {
        if (!der_next(&r, &item) || item.tag != 0x30)
            return fail(err, "malformed entry");
        st_reader ir;
        st_reader_init(&ir, item.val, item.len);
        uint8_t a, b;
        if (!der_next(&ir, &oid) || !der_next(&ir, &val) ||
            !oid_suffix(&oid, &a, &b) || b != 0)
            return fail(err, "malformed entry");
        /* Platform CA certificates append entries (.6 instance id, .7
         * configuration) which we do not use; the ones we use must be
         * well formed and unique. */
        st_code rc = ST_OK;
        unsigned v = 0;
        switch (a) {
        case 1:
            if (!der_octets(&val, out->ppid, 16))
                rc = fail(err, "PPID is not 16 octets");
            break;
        case 2: rc = parse_tcb(&val, out, err); break;
        case 3:
            if (!der_octets(&val, out->pce_id, 2))
                rc = fail(err, "PCE-ID is not 2 octets");
            break;
        case 4:
            if (!der_octets(&val, out->fmspc, 6))
                rc = fail(err, "FMSPC is not 6 octets");
            break;
        case 5:
            if (!der_uint(&val, 0x0a, 2, &v))
                rc = fail(err, "SGX type is not ENUMERATED 0..2");
            out->sgx_type = (int)v;
            break;
        default: break;
        }
        if (rc != ST_OK)
            return rc;
        if (a < 16) {
            if (seen & (1u << a))
                return fail(err, "duplicate entry");
            seen |= 1u << a;
        }
    }
    if ((seen & 0x3e) != 0x3e)
        return fail(err, "missing PPID, TCB, PCE-ID, FMSPC or SGX type");
    return ST_OK;
}
