/*
 * dcap_quote.c: parser for Intel DCAP ECDSA quotes: SGX quote v3, TDX quote
 * v4 and v5 (header, enclave or TD report body, signature data with the QE
 * report certification data and the PCK chain).
 *
 * Owns the byte layout only; it never verifies anything (dcap_verify.c
 * does) and never repairs input: every length field is checked against the
 * bytes present and any mismatch is rejected naming the field and offset.
 * Bytes after the signature data are tolerated because real quote buffers
 * carry zero padding (the length fields say where the quote ends).
 *
 * Specs: Intel SGX ECDSA Quote Library API, A.4 (quote v3); Intel TDX DCAP
 * Quoting Library API, A.3 (v4) and A.4 (v5 with body type and size).
 */
#include "attest/dcap.h"

#include <stdlib.h>
#include <string.h>

#include "sealtrain/bytes.h"

static ST_MUST_CHECK st_code bad(st_err *err, const st_reader *r,
                                 const char *what)
{
    return st_err_set(err, ST_E_INPUT, "DCAP quote: %s at byte %zu", what,
                      r->off);
}

static void read_enclave_report(st_reader *r, st_dcap_enclave_report *e)
{
    st_read_bytes(r, e->cpusvn, 16);
    e->miscselect = st_read_u32le(r);
    st_read_skip(r, 12);
    st_read_bytes(r, e->isvextprodid, 16);
    st_read_bytes(r, e->attributes, 16);
    st_read_bytes(r, e->mrenclave, 32);
    st_read_skip(r, 32);
    st_read_bytes(r, e->mrsigner, 32);
    st_read_skip(r, 32);
    st_read_bytes(r, e->configid, 64);
    e->isvprodid = st_read_u16le(r);
    e->isvsvn = st_read_u16le(r);
    e->configsvn = st_read_u16le(r);
    st_read_skip(r, 42);
    st_read_bytes(r, e->isvfamilyid, 16);
    st_read_bytes(r, e->report_data, 64);
}

static void read_td_report(st_reader *r, st_dcap_td_report *t, int td15)
{
    st_read_bytes(r, t->tee_tcb_svn, 16);
    st_read_bytes(r, t->mrseam, 48);
    st_read_bytes(r, t->mrsignerseam, 48);
    st_read_bytes(r, t->seam_attributes, 8);
    st_read_bytes(r, t->td_attributes, 8);
    st_read_bytes(r, t->xfam, 8);
    st_read_bytes(r, t->mrtd, 48);
    st_read_bytes(r, t->mrconfigid, 48);
    st_read_bytes(r, t->mrowner, 48);
    st_read_bytes(r, t->mrownerconfig, 48);
    for (int i = 0; i < 4; i++)
        st_read_bytes(r, t->rtmr[i], 48);
    st_read_bytes(r, t->report_data, 64);
    t->is_td15 = td15;
    if (td15) {
        st_read_bytes(r, t->tee_tcb_svn2, 16);
        st_read_bytes(r, t->mrservicetd, 48);
    }
}

/* The QE report certification data (type 6): QE report, its signature, QE
 * authentication data and the nested certification data (type 5). */
static ST_MUST_CHECK st_code read_qe_cert_data(st_reader *r, st_dcap_quote *q,
                                               st_err *err)
{
    q->qe_report_raw = st_read_view(r, ST_DCAP_SGX_REPORT_LEN);
    if (!q->qe_report_raw)
        return bad(err, r, "truncated QE report");
    st_reader qr;
    st_reader_init(&qr, q->qe_report_raw, ST_DCAP_SGX_REPORT_LEN);
    read_enclave_report(&qr, &q->qe_report);
    q->qe_report_sig = st_read_view(r, 64);
    q->qe_auth_len = st_read_u16le(r);
    if (r->failed)
        return bad(err, r, "truncated QE report signature");
    q->qe_auth = st_read_view(r, q->qe_auth_len);
    if (!q->qe_auth && q->qe_auth_len)
        return bad(err, r, "QE authentication data longer than the quote");
    q->cert_type = st_read_u16le(r);
    q->pck_pem_len = st_read_u32le(r);
    if (r->failed)
        return bad(err, r, "truncated certification data header");
    if (q->cert_type != ST_DCAP_CERT_PCK_CHAIN)
        return st_err_set(err, ST_E_INPUT,
                          "DCAP quote: certification data type %u is not "
                          "supported (want 5, PCK chain PEM) at byte %zu",
                          q->cert_type, r->off - 6);
    q->pck_pem = (const char *)st_read_view(r, q->pck_pem_len);
    if (!q->pck_pem)
        return bad(err, r, "PCK chain longer than the quote");
    return ST_OK;
}

st_code st_dcap_quote_parse(const uint8_t *buf, size_t len, st_dcap_quote *q,
                            st_err *err)
{
    st_reader r;
    memset(q, 0, sizeof(*q));
    st_reader_init(&r, buf, len);
    st_dcap_header *h = &q->header;
    h->version = st_read_u16le(&r);
    h->att_key_type = st_read_u16le(&r);
    h->tee_type = st_read_u32le(&r);
    h->qe_svn = st_read_u16le(&r);
    h->pce_svn = st_read_u16le(&r);
    st_read_bytes(&r, h->qe_vendor_id, 16);
    st_read_bytes(&r, h->user_data, 20);
    if (r.failed)
        return bad(err, &r, "truncated header");
    if (h->version < 3 || h->version > 5)
        return st_err_set(err, ST_E_INPUT,
                          "DCAP quote: version %u is not supported (3, 4 or "
                          "5) at byte 0",
                          h->version);
    if (h->att_key_type != ST_DCAP_ATT_KEY_ECDSA_P256)
        return st_err_set(err, ST_E_INPUT,
                          "DCAP quote: attestation key type %u is not "
                          "supported (want 2, ECDSA-256-with-P-256) at byte 2",
                          h->att_key_type);
    if (h->tee_type != ST_DCAP_TEE_SGX && h->tee_type != ST_DCAP_TEE_TDX)
        return st_err_set(err, ST_E_INPUT,
                          "DCAP quote: TEE type 0x%08x is neither SGX (0x0) "
                          "nor TDX (0x81) at byte 4",
                          h->tee_type);
    if (h->version == 3 && h->tee_type != ST_DCAP_TEE_SGX)
        return st_err_set(err, ST_E_INPUT,
                          "DCAP quote: version 3 quotes are SGX only, TEE "
                          "type is 0x%08x at byte 4",
                          h->tee_type);

    size_t body_len;
    int td15 = 0;
    if (h->version == 5) {
        q->body_type = st_read_u16le(&r);
        q->body_size = st_read_u32le(&r);
        if (r.failed)
            return bad(err, &r, "truncated body descriptor");
        static const uint32_t sizes[4] = {0, ST_DCAP_SGX_REPORT_LEN,
                                          ST_DCAP_TD10_REPORT_LEN,
                                          ST_DCAP_TD15_REPORT_LEN};
        if (q->body_type < 1 || q->body_type > 3)
            return st_err_set(err, ST_E_INPUT,
                              "DCAP quote: body type %u is not 1, 2 or 3 at "
                              "byte 48",
                              q->body_type);
        if (q->body_size != sizes[q->body_type])
            return st_err_set(err, ST_E_INPUT,
                              "DCAP quote: body size %u does not match body "
                              "type %u (want %u) at byte 50",
                              q->body_size, q->body_type, sizes[q->body_type]);
        q->is_tdx = q->body_type != 1;
        td15 = q->body_type == 3;
        body_len = q->body_size;
    } else {
        q->is_tdx = h->tee_type == ST_DCAP_TEE_TDX;
        body_len = q->is_tdx ? ST_DCAP_TD10_REPORT_LEN : ST_DCAP_SGX_REPORT_LEN;
    }
    if ((h->tee_type == ST_DCAP_TEE_TDX) != q->is_tdx)
        return st_err_set(err, ST_E_INPUT,
                          "DCAP quote: body type %u does not match TEE type "
                          "0x%08x",
                          q->body_type, h->tee_type);
    if (st_reader_left(&r) < body_len)
        return bad(err, &r, "truncated report body");
    if (q->is_tdx)
        read_td_report(&r, &q->td, td15);
    else
        read_enclave_report(&r, &q->enclave);
    q->signed_data = buf;
    q->signed_len = r.off;

    q->sig_data_len = st_read_u32le(&r);
    if (r.failed)
        return bad(err, &r, "truncated signature data length");
    if (q->sig_data_len > st_reader_left(&r))
        return st_err_set(err, ST_E_INPUT,
                          "DCAP quote: signature data length %u exceeds the "
                          "%zu bytes left at byte %zu",
                          q->sig_data_len, st_reader_left(&r), r.off - 4);
    /* From here on read only inside the declared signature data. */
    st_reader s;
    st_reader_init(&s, buf + r.off, q->sig_data_len);
    q->trailing = st_reader_left(&r) - q->sig_data_len;
    q->signature = st_read_view(&s, 64);
    q->att_key = st_read_view(&s, 64);
    if (s.failed) {
        s.off += r.off;
        return bad(err, &s, "truncated quote signature or attestation key");
    }
    st_code rc;
    if (h->version == 3) {
        rc = read_qe_cert_data(&s, q, err);
    } else {
        uint16_t type = st_read_u16le(&s);
        uint32_t size = st_read_u32le(&s);
        if (s.failed)
            rc = bad(err, &s, "truncated certification data header");
        else if (type != ST_DCAP_CERT_QE_REPORT)
            rc = st_err_set(err, ST_E_INPUT,
                            "DCAP quote: certification data type %u is not "
                            "6 (QE report certification data)",
                            type);
        else if (size != st_reader_left(&s))
            rc = st_err_set(err, ST_E_INPUT,
                            "DCAP quote: certification data size %u does not "
                            "match the %zu bytes of signature data left",
                            size, st_reader_left(&s));
        else
            rc = read_qe_cert_data(&s, q, err);
    }
    if (rc != ST_OK)
        return rc;
    if (st_reader_left(&s) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "DCAP quote: %zu unexplained bytes at the end of "
                          "the signature data",
                          st_reader_left(&s));
    return ST_OK;
}

static void put_hex(json_t *o, const char *key, const uint8_t *b, size_t n)
{
    char buf[2 * 128 + 1];
    if (n > 128)
        n = 128;
    st_hex_encode(b, n, buf);
    json_object_set_new(o, key, json_string(buf));
}

static json_t *enclave_to_json(const st_dcap_enclave_report *e)
{
    json_t *o = json_object();
    put_hex(o, "cpusvn", e->cpusvn, 16);
    json_object_set_new(o, "miscselect", json_integer(e->miscselect));
    put_hex(o, "isvextprodid", e->isvextprodid, 16);
    put_hex(o, "attributes", e->attributes, 16);
    put_hex(o, "mrenclave", e->mrenclave, 32);
    put_hex(o, "mrsigner", e->mrsigner, 32);
    put_hex(o, "configid", e->configid, 64);
    json_object_set_new(o, "isvprodid", json_integer(e->isvprodid));
    json_object_set_new(o, "isvsvn", json_integer(e->isvsvn));
    json_object_set_new(o, "configsvn", json_integer(e->configsvn));
    put_hex(o, "isvfamilyid", e->isvfamilyid, 16);
    put_hex(o, "report_data", e->report_data, 64);
    return o;
}

static json_t *td_to_json(const st_dcap_td_report *t)
{
    json_t *o = json_object();
    put_hex(o, "tee_tcb_svn", t->tee_tcb_svn, 16);
    put_hex(o, "mrseam", t->mrseam, 48);
    put_hex(o, "mrsignerseam", t->mrsignerseam, 48);
    put_hex(o, "seam_attributes", t->seam_attributes, 8);
    put_hex(o, "td_attributes", t->td_attributes, 8);
    put_hex(o, "xfam", t->xfam, 8);
    put_hex(o, "mrtd", t->mrtd, 48);
    put_hex(o, "mrconfigid", t->mrconfigid, 48);
    put_hex(o, "mrowner", t->mrowner, 48);
    put_hex(o, "mrownerconfig", t->mrownerconfig, 48);
    static const char *const names[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
    for (int i = 0; i < 4; i++)
        put_hex(o, names[i], t->rtmr[i], 48);
    put_hex(o, "report_data", t->report_data, 64);
    if (t->is_td15) {
        put_hex(o, "tee_tcb_svn2", t->tee_tcb_svn2, 16);
        put_hex(o, "mrservicetd", t->mrservicetd, 48);
    }
    return o;
}

json_t *st_dcap_quote_to_json(const st_dcap_quote *q)
{
    json_t *o = json_object();
    json_t *h = json_object();
    json_object_set_new(h, "version", json_integer(q->header.version));
    json_object_set_new(h, "att_key_type",
                        json_integer(q->header.att_key_type));
    json_object_set_new(h, "tee_type", json_integer(q->header.tee_type));
    json_object_set_new(h, "qe_svn", json_integer(q->header.qe_svn));
    json_object_set_new(h, "pce_svn", json_integer(q->header.pce_svn));
    put_hex(h, "qe_vendor_id", q->header.qe_vendor_id, 16);
    put_hex(h, "user_data", q->header.user_data, 20);
    json_object_set_new(o, "tee", json_string(q->is_tdx ? "tdx" : "sgx"));
    json_object_set_new(o, "header", h);
    if (q->header.version == 5) {
        json_object_set_new(o, "body_type", json_integer(q->body_type));
        json_object_set_new(o, "body_size", json_integer(q->body_size));
    }
    json_object_set_new(o, "body",
                        q->is_tdx ? td_to_json(&q->td)
                                  : enclave_to_json(&q->enclave));
    json_object_set_new(o, "signature_data_len", json_integer(q->sig_data_len));
    json_object_set_new(o, "trailing_bytes",
                        json_integer((json_int_t)q->trailing));
    put_hex(o, "signature", q->signature, 64);
    put_hex(o, "attestation_key", q->att_key, 64);
    json_object_set_new(o, "qe_report", enclave_to_json(&q->qe_report));
    put_hex(o, "qe_report_signature", q->qe_report_sig, 64);
    char *hex = malloc(2 * (size_t)q->qe_auth_len + 1);
    if (hex) {
        st_hex_encode(q->qe_auth, q->qe_auth_len, hex);
        json_object_set_new(o, "qe_auth_data", json_string(hex));
        free(hex);
    }
    json_object_set_new(o, "certification_data_type",
                        json_integer(q->cert_type));
    json_object_set_new(o, "pck_chain_pem",
                        json_stringn(q->pck_pem, q->pck_pem_len));
    return o;
}
