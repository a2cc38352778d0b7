/*
 * attest/dcap.h: Intel DCAP quotes (SGX quote v3, TDX quote v4 and v5) and
 * their collateral (PCK chain, CRLs, TCB Info, QE Identity): parsing and
 * verification. Private to src/attest: the attestation framework
 * (sealtrain/attest.h) calls st_dcap_verify and turns its trace entries
 * into verdict claims; the CLI reaches it only through that framework.
 *
 * Specs: Intel SGX ECDSA Quote Library API (quote v3, appendix A.4),
 * Intel TDX DCAP Quoting Library API (quote v4 appendix A.3, v5 A.4),
 * Intel SGX PCK Certificate and CRL Profile (SGX extensions, section 1.5),
 * Intel PCS API v4 (TCB Info v2/v3, Enclave Identity v2 JSON).
 *
 * Ownership: a parsed quote points into the caller's buffer (views, no
 * copies), so the buffer must outlive it. Collateral objects own what they
 * hold and are freed with st_dcap_collateral_free.
 *
 * This module never reads the clock (the time of verification is always a
 * parameter) and never touches the network.
 */
#ifndef ST_ATTEST_DCAP_H
#define ST_ATTEST_DCAP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sealtrain/err.h"

#define ST_DCAP_TEE_SGX 0x00000000u
#define ST_DCAP_TEE_TDX 0x00000081u
#define ST_DCAP_ATT_KEY_ECDSA_P256 2
#define ST_DCAP_HEADER_LEN 48
#define ST_DCAP_SGX_REPORT_LEN 384
#define ST_DCAP_TD10_REPORT_LEN 584
#define ST_DCAP_TD15_REPORT_LEN 648
#define ST_DCAP_CERT_PCK_CHAIN 5
#define ST_DCAP_CERT_QE_REPORT 6

/* Quote header (48 bytes, all quote versions). For v3 `tee_type` is the
 * reserved field, zero for SGX. */
typedef struct st_dcap_header {
    uint16_t version;
    uint16_t att_key_type;
    uint32_t tee_type;
    uint16_t qe_svn;
    uint16_t pce_svn;
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
} st_dcap_header;

/* SGX enclave report body (384 bytes): the quoted enclave's report in v3
 * quotes and the QE report in every version. */
typedef struct st_dcap_enclave_report {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t isvextprodid[16];
    uint8_t attributes[16];
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint8_t configid[64];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint16_t configsvn;
    uint8_t isvfamilyid[16];
    uint8_t report_data[64];
} st_dcap_enclave_report;

/* TD report body: TDX 1.0 (584 bytes); TDX 1.5 adds tee_tcb_svn2 and
 * mrservicetd (648 bytes, quote v5 body type 3). */
typedef struct st_dcap_td_report {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[48];
    uint8_t mrsignerseam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8];
    uint8_t xfam[8];
    uint8_t mrtd[48];
    uint8_t mrconfigid[48];
    uint8_t mrowner[48];
    uint8_t mrownerconfig[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    int is_td15;
    uint8_t tee_tcb_svn2[16];
    uint8_t mrservicetd[48];
} st_dcap_td_report;

typedef struct st_dcap_quote {
    st_dcap_header header;
    /* v5 only: body type (1 SGX, 2 TD 1.0, 3 TD 1.5) and size. */
    uint16_t body_type;
    uint32_t body_size;
    int is_tdx; /* body is a TD report (else an SGX enclave report) */
    st_dcap_enclave_report enclave; /* when !is_tdx */
    st_dcap_td_report td;           /* when is_tdx */
    /* The bytes the quote signature covers: header and body. */
    const uint8_t *signed_data;
    size_t signed_len;
    uint32_t sig_data_len;
    size_t trailing;              /* bytes after the signature data (padding) */
    const uint8_t *signature;     /* 64 bytes r||s */
    const uint8_t *att_key;       /* 64 bytes x||y, P-256 */
    const uint8_t *qe_report_raw; /* 384 bytes, signed by the PCK key */
    st_dcap_enclave_report qe_report;
    const uint8_t *qe_report_sig; /* 64 bytes r||s */
    const uint8_t *qe_auth;
    uint16_t qe_auth_len;
    uint16_t cert_type;  /* of the innermost certification data (5) */
    const char *pck_pem; /* PCK chain, PEM, not NUL-terminated */
    uint32_t pck_pem_len;
} st_dcap_quote;

/* Parses a v3, v4 or v5 ECDSA-P256 quote of `len` bytes by its length
 * fields; bytes after the signature data are tolerated (counted in
 * q->trailing). ST_E_INPUT naming the field and byte offset on anything
 * malformed. */
ST_MUST_CHECK st_code st_dcap_quote_parse(const uint8_t *buf, size_t len,
                                          st_dcap_quote *q, st_err *err);

/* Every parsed field as JSON (hex for byte strings), for `attest show`. */
json_t *st_dcap_quote_to_json(const st_dcap_quote *q);

/* ---- TCB Info and QE Identity (tcbinfo.c) ---- */

#define ST_DCAP_MAX_LEVELS 64
#define ST_DCAP_MAX_ADVISORIES 64

typedef enum st_dcap_tcb_status {
    ST_DCAP_TCB_UP_TO_DATE = 0,
    ST_DCAP_TCB_SW_HARDENING_NEEDED,
    ST_DCAP_TCB_CONFIGURATION_NEEDED,
    ST_DCAP_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    ST_DCAP_TCB_OUT_OF_DATE,
    ST_DCAP_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    /* TD 1.5: the TD runs on an out-of-date module while the platform has
     * the latest one loaded: relaunching the TD brings it up to date */
    ST_DCAP_TCB_TD_RELAUNCH_ADVISED,
    ST_DCAP_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
    ST_DCAP_TCB_REVOKED,
    ST_DCAP_TCB_NOT_SUPPORTED, /* no TCB level matches */
    ST_DCAP_TCB_UNKNOWN        /* not evaluated */
} st_dcap_tcb_status;

/* The PCS / Intel QVL spelling ("UpToDate", ..., "TDRelaunchAdvised");
 * "TcbNotSupported" and "Unknown" for the last two. */
const char *st_dcap_tcb_status_name(st_dcap_tcb_status s);
/* ST_E_INPUT for a spelling not in the list above. */
ST_MUST_CHECK st_code st_dcap_tcb_status_parse(const char *name,
                                               st_dcap_tcb_status *out,
                                               st_err *err);

typedef struct st_dcap_tcb_level {
    uint8_t sgx_svn[16];
    uint16_t pcesvn;
    uint8_t tdx_svn[16];
    int has_tdx;
    st_dcap_tcb_status status;
    char date[32];
    size_t first_advisory, n_advisories; /* into st_dcap_tcb_info.advisory */
} st_dcap_tcb_level;

/* One TDX module identity (TCB Info v3 "tdxModuleIdentities"). */
typedef struct st_dcap_module_identity {
    char id[16]; /* "TDX_01" */
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    size_t n_levels;
    uint8_t level_isvsvn[8];
    st_dcap_tcb_status level_status[8];
} st_dcap_module_identity;

/* Signed JSON collateral: the object under "tcbInfo" / "enclaveIdentity"
 * plus the exact bytes of that value, which the signature covers. */
typedef struct st_dcap_signed_json {
    char *text; /* the whole document, owned */
    size_t len;
    size_t body_off, body_len; /* span of the signed value in text */
    uint8_t signature[64];     /* r||s */
    char origin[256];          /* file name for messages */
} st_dcap_signed_json;

typedef struct st_dcap_tcb_info {
    st_dcap_signed_json doc;
    char id[8]; /* "SGX" or "TDX" (v3); "" for v2 (SGX) */
    int version;
    int64_t issue_date, next_update;
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    long long eval_number;
    int has_tdx_module;
    uint8_t tdx_mrsigner[48];
    uint8_t tdx_attributes[8];
    uint8_t tdx_attributes_mask[8];
    size_t n_modules;
    st_dcap_module_identity modules[4];
    size_t n_levels;
    st_dcap_tcb_level levels[ST_DCAP_MAX_LEVELS];
    size_t n_advisories;
    char *advisory[ST_DCAP_MAX_ADVISORIES * 4];
} st_dcap_tcb_info;

typedef struct st_dcap_qe_identity {
    st_dcap_signed_json doc;
    char id[16]; /* "QE", "TD_QE", "QVE" */
    int version;
    int64_t issue_date, next_update;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t n_levels;
    uint16_t level_isvsvn[ST_DCAP_MAX_LEVELS];
    st_dcap_tcb_status level_status[ST_DCAP_MAX_LEVELS];
    size_t level_first_advisory[ST_DCAP_MAX_LEVELS];
    size_t level_n_advisories[ST_DCAP_MAX_LEVELS];
    size_t n_advisories;
    char *advisory[ST_DCAP_MAX_ADVISORIES];
} st_dcap_qe_identity;

/* Parses a PCS document {"tcbInfo": {...}, "signature": "hex"} held in
 * `text` (copied). `origin` names the input in errors. The signature is
 * not checked here (st_dcap_verify does, at the verification time). */
ST_MUST_CHECK st_code st_dcap_tcb_info_parse(const char *text, size_t len,
                                             const char *origin,
                                             st_dcap_tcb_info **out,
                                             st_err *err);
void st_dcap_tcb_info_free(st_dcap_tcb_info *t);
/* {"enclaveIdentity": {...}, "signature": "hex"} */
ST_MUST_CHECK st_code st_dcap_qe_identity_parse(const char *text, size_t len,
                                                const char *origin,
                                                st_dcap_qe_identity **out,
                                                st_err *err);
void st_dcap_qe_identity_free(st_dcap_qe_identity *q);

/* Intel's TD relaunch check for TD 1.5 quotes (QVL TDRelaunchCheck): given
 * the statuses of the SGX level, the TDX level (already converged with the
 * module), the TDX module and the QE, returns TDRelaunchAdvised[...] when
 * the TD's out-of-date module could be replaced by the latest one the
 * platform reports in TEE_TCB_SVN2, else `tdx` unchanged. */
st_dcap_tcb_status
st_dcap_td_relaunch(const st_dcap_tcb_info *ti, const uint8_t tee_tcb_svn2[16],
                    st_dcap_tcb_status sgx, st_dcap_tcb_status tdx,
                    st_dcap_tcb_status module, st_dcap_tcb_status qe);

/* RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SSZ" (fraction of seconds allowed)
 * to seconds since the epoch, and back (out holds 32 bytes). */
ST_MUST_CHECK st_code st_dcap_time_parse(const char *s, int64_t *out,
                                         st_err *err);
void st_dcap_time_format(int64_t t, char out[32]);

/* ---- PCK certificate SGX extensions (dcap_pck.c) ---- */

typedef struct st_dcap_pck_ext {
    uint8_t ppid[16];
    uint8_t comp_svn[16];
    uint16_t pcesvn;
    uint8_t cpusvn[16];
    uint8_t pce_id[2];
    uint8_t fmspc[6];
    int sgx_type; /* 0 Standard, 1 Scalable, 2 Scalable with integrity */
} st_dcap_pck_ext;

/* Parses the DER value of extension 1.2.840.113741.1.13.1. */
ST_MUST_CHECK st_code st_dcap_pck_ext_parse(const uint8_t *der, size_t len,
                                            st_dcap_pck_ext *out, st_err *err);

/* ---- Collateral and verification (dcap_verify.c) ---- */

typedef struct st_dcap_collateral st_dcap_collateral;

/* Collateral from files: the PCS TCB Info and QE Identity JSON, the
 * TCB-signing chain (PEM: signing cert then root; the root in it is not
 * trusted, only the pinned one) and any number of CRLs (DER or PEM).
 * Parses everything once so that it can verify many quotes. */
typedef struct st_dcap_collateral_files {
    const char *tcb_info;
    const char *qe_identity;
    const char *tcb_chain; /* may be NULL if `qvl` gives it */
    const char *const *crls;
    size_t ncrls;
    /* Alternatively a dcap-qvl QuoteCollateralV3 JSON file holding all of
     * the above (tcb_info given as the exact signed string). */
    const char *qvl;
} st_dcap_collateral_files;

ST_MUST_CHECK st_code
st_dcap_collateral_load(const st_dcap_collateral_files *files,
                        st_dcap_collateral **out, st_err *err);

/* The same from bytes (evidence parts). Every blob is optional: with none
 * the collateral holds only the pinned root, and st_dcap_verify checks the
 * quote, PCK chain and QE report and reports the TCB claims as missing.
 * `origin` names each blob in messages. */
typedef struct st_dcap_blob {
    const uint8_t *data;
    size_t len;
    const char *origin;
} st_dcap_blob;

typedef struct st_dcap_collateral_parts {
    st_dcap_blob tcb_info, qe_identity, tcb_chain, qvl;
    const st_dcap_blob *crls;
    size_t ncrls;
} st_dcap_collateral_parts;

ST_MUST_CHECK st_code
st_dcap_collateral_parse(const st_dcap_collateral_parts *parts,
                         st_dcap_collateral **out, st_err *err);
void st_dcap_collateral_free(st_dcap_collateral *c);
/* Appends {"document": "<prefix>.tcb_info" | ".qe_identity" | ".crl (CN)",
 * "issued", "next_update"} (Unix seconds) for each dated document the
 * collateral holds: the input of the policy's max_collateral_age. */
void st_dcap_collateral_dates(const st_dcap_collateral *c, const char *prefix,
                              json_t *arr);

/* The trace sink: called once per evaluated claim, passing or failing.
 * `expected` and `actual` are short human-readable texts. */
typedef void (*st_dcap_trace_fn)(void *ctx, const char *claim,
                                 const char *expected, const char *actual,
                                 int ok);

typedef struct st_dcap_options {
    int64_t at;                 /* verification time, seconds since epoch */
    const uint8_t *report_data; /* 64 bytes expected, or NULL: not checked */
    /* Bit (1 << st_dcap_tcb_status) set for each acceptable final TCB
     * status; 0 selects the default: UpToDate, SWHardeningNeeded,
     * ConfigurationNeeded, ConfigurationAndSWHardeningNeeded. */
    unsigned allowed_tcb;
    int require_crls; /* fail when no CRL covers the PCK chain */
    st_dcap_trace_fn trace;
    void *trace_ctx;
} st_dcap_options;

#define ST_DCAP_TCB_DEFAULT_ALLOWED                                            \
    ((1u << ST_DCAP_TCB_UP_TO_DATE) |                                          \
     (1u << ST_DCAP_TCB_SW_HARDENING_NEEDED) |                                 \
     (1u << ST_DCAP_TCB_CONFIGURATION_NEEDED) |                                \
     (1u << ST_DCAP_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED))

/* What a verification established (valid even when it failed, as far as
 * it got). */
typedef struct st_dcap_result {
    int is_tdx;
    st_dcap_tcb_status tcb_status;      /* final, converged */
    st_dcap_tcb_status platform_status; /* from the TCB level */
    st_dcap_tcb_status qe_status;
    st_dcap_tcb_status module_status; /* TDX module identity, if any */
    char tcb_date[32];
    char advisories[1024]; /* comma-separated advisory IDs */
    st_dcap_pck_ext pck;
    int have_pck;
    int debug;     /* TD_ATTRIBUTES.DEBUG / SGX ATTRIBUTES.DEBUG */
    size_t failed; /* number of failing claims */
    char first_failed[64];
} st_dcap_result;

/* Verifies a parsed quote against collateral at opts->at. Every check is
 * reported through opts->trace (claim, expected, actual, ok). Returns
 * ST_OK when every claim holds, ST_E_DENIED when one fails (err names the
 * first failing claim), ST_E_INPUT/ST_E_INTERNAL when verification could
 * not be carried out. */
ST_MUST_CHECK st_code st_dcap_verify(const st_dcap_quote *q,
                                     const st_dcap_collateral *c,
                                     const st_dcap_options *opts,
                                     st_dcap_result *res, st_err *err);

/* The pinned Intel SGX Root CA (PEM, NUL-terminated) and its SHA-256
 * fingerprint over the DER encoding. */
extern const char st_dcap_intel_root_pem[];
extern const uint8_t st_dcap_intel_root_sha256[32];

/* ---- TDX backend request path (tdx_backend.c) ---- */

/* Obtains a TDX quote for 64 bytes of report data through configfs-tsm
 * under `root` ("/sys/kernel/config/tsm/report" in production; a test
 * directory otherwise): creates an entry, writes inblob, reads outblob,
 * checks provider "tdx_guest" and generation, removes the entry. *out is
 * malloc'ed. */
ST_MUST_CHECK st_code st_tdx_quote_request(const char *root,
                                           const uint8_t report_data[64],
                                           uint8_t **out, size_t *outlen,
                                           st_err *err);
/* The same inside an existing report entry directory (the part that runs
 * between mkdir and rmdir). */
ST_MUST_CHECK st_code st_tdx_tsm_entry_quote(const char *entry,
                                             const uint8_t report_data[64],
                                             uint8_t **out, size_t *outlen,
                                             st_err *err);

#endif
