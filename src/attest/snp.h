/*
 * snp.h: the SEV-SNP report parser and checks, shared by snp.c (bare SNP
 * evidence), az.c (Azure HCL reports embed an SNP report) and the request
 * path (tsm.c). Private to src/attest. Layout and spec references in snp.c.
 */
#ifndef ST_ATTEST_SNP_H
#define ST_ATTEST_SNP_H

#include "attest_internal.h"

#define ST_SNP_REPORT_LEN 1184
#define ST_SNP_SIGNED_LEN 0x2A0

typedef enum st_snp_product {
    ST_SNP_UNKNOWN = 0,
    ST_SNP_MILAN,
    ST_SNP_GENOA,
    ST_SNP_TURIN
} st_snp_product;

typedef struct st_snp_tcb {
    uint64_t raw;
    unsigned bl, tee, snp, ucode, fmc;
    int has_fmc; /* Turin */
} st_snp_tcb;

typedef struct st_snp_report {
    const uint8_t *raw; /* the 1184 bytes (borrowed) */
    uint32_t version, guest_svn;
    uint64_t policy;
    uint8_t family_id[16], image_id[16];
    uint32_t vmpl, signature_algo;
    uint64_t current_tcb_raw, platform_info;
    uint32_t flags;
    uint8_t report_data[64], measurement[48], host_data[32];
    uint8_t id_key_digest[48], author_key_digest[48];
    uint8_t report_id[32], report_id_ma[32];
    uint64_t reported_tcb_raw;
    uint8_t cpuid_fam, cpuid_mod, cpuid_step;
    uint8_t chip_id[64];
    uint64_t committed_tcb_raw;
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    uint64_t launch_tcb_raw, launch_mit_vector, current_mit_vector;
    uint8_t sig_r[72], sig_s[72];
    st_snp_product product; /* from CPUID (v3+) or, later, the chain */
    st_snp_tcb current_tcb, reported_tcb, committed_tcb, launch_tcb;
} st_snp_report;

/* Parses exactly 1184 bytes; ST_E_INPUT on a wrong length or version. */
ST_MUST_CHECK st_code st_snp_parse(const uint8_t *data, size_t len,
                                   st_snp_report *r, st_err *err);
st_snp_product st_snp_product_from_cpuid(uint8_t fam, uint8_t mod);
const char *st_snp_product_name(st_snp_product p);
void st_snp_decode_tcbs(st_snp_report *r, st_snp_product prod);
void st_snp_tcb_string(const st_snp_tcb *t, char *out, size_t cap);
/* Every field into a JSON object. */
void st_snp_fields(const st_snp_report *r, json_t *o);
/* 1 if the report's signature verifies with `key` (P-384). */
int st_snp_signature_ok(const st_snp_report *r, EVP_PKEY *key);
/* The chain and TCB/chip-id binding of `vek`, trace entries "<prefix>.*". */
ST_MUST_CHECK st_code st_snp_check_chain(st_attest_ctx *ctx, const char *prefix,
                                         st_snp_report *r, X509 *vek,
                                         EVP_PKEY **key_out, st_err *err);
/* The csp_id extension of a VLEK (OID 1.3.6.1.4.1.3704.1.5, IA5String: the
 * cloud provider holding the key) into `out`; 0 when absent, malformed or
 * not printable ASCII shorter than `cap`. */
int st_snp_cert_csp_id(X509 *x, char *out, size_t cap);
/* A VCEK/VLEK's identifying extensions (collateral.c). */
typedef struct st_snp_cert_info {
    st_snp_product product;
    int vlek;
    int has_hwid;
    uint8_t hwid[64];
    size_t hwid_len; /* 64, or 8 on Turin */
    int tcb[5];      /* bl, tee, snp, ucode, fmc; -1 when absent */
} st_snp_cert_info;
/* 0 when the issuer names no SEV product (not a VCEK/VLEK). */
int st_snp_cert_index(X509 *x, st_snp_cert_info *out);
int st_snp_cert_tcb_matches(const st_snp_report *r, st_snp_product prod,
                            const int tcb[5]);
/* Chain + report signature with the evidence's VCEK/VLEK part. */
ST_MUST_CHECK st_code st_snp_verify_report(st_attest_ctx *ctx,
                                           const char *prefix, st_snp_report *r,
                                           st_err *err);
/* measurement, chip id, TCB, debug, fields into the claims. */
void st_snp_claims(const st_snp_report *r, st_claims *c);
/* Splits an extended report's certificate table into evidence parts
 * "vcek", "vlek", "ask", "ark". */
ST_MUST_CHECK st_code st_snp_cert_table_parse(const uint8_t *buf, size_t len,
                                              st_evidence *ev, st_err *err);

/* The SNP request through one configfs-tsm entry directory (tsm.c): adds
 * "report" and the certificate table's parts to `ev`. */
ST_MUST_CHECK st_code st_snp_tsm_entry_report(const char *entry,
                                              const uint8_t report_data[64],
                                              st_evidence *ev, st_err *err);

#endif
