/*
 * sealtrain/attest.h: remote attestation: evidence from TEE backends and the
 * one verifier that turns evidence into a verdict that explains itself.
 *
 * Evidence (st_evidence) is a TEE type plus named raw parts ("report",
 * "vcek", "quote", "signature", "log", ...). It is stored as a JSON
 * evidence bundle (canonical JSON, parts in base64); see docs/attestation.md
 * for the part names each TEE uses.
 *
 * The verifier (st_attest_verify) checks the evidence cryptographically,
 * extracts normalised claims (st_claims), compares report data and applies
 * a policy (st_attest_policy, a small strict JSON language). Every check
 * appends one entry to a trace (claim, expected, actual, ok); the first
 * failing entry is the verdict's reason. Malformed evidence is an error
 * (ST_E_INPUT naming what and where); well-formed evidence that fails a
 * check is a verdict with pass == 0 (the CLI maps it to ST_E_DENIED).
 *
 * The verifier never reads the clock: the caller passes the time.
 *
 * Never: trust anything in evidence that a pinned root, a pinned key or a
 * signature does not vouch for; repair malformed input.
 */
#ifndef SEALTRAIN_ATTEST_H
#define SEALTRAIN_ATTEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/bytes.h"
#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_REPORT_DATA_LEN 64

/* ---- TEE types ---------------------------------------------------- */

typedef enum st_tee {
    ST_TEE_NONE = 0,
    ST_TEE_SIM,         /* "sim": software simulation, insecure */
    ST_TEE_TPM,         /* "tpm": TPM 2.0 quote + measurement log */
    ST_TEE_SNP,         /* "snp": AMD SEV-SNP attestation report */
    ST_TEE_TDX,         /* "tdx": Intel TDX quote v4/v5 */
    ST_TEE_SGX,         /* "sgx": Intel SGX DCAP quote v3 */
    ST_TEE_AZ_SNP_VTPM, /* "az-snp-vtpm": Azure CVM HCL report + vTPM quote */
    ST_TEE_AZ_TDX_VTPM  /* "az-tdx-vtpm": Azure TDX CVM: HCL report, TD quote
                           and vTPM quote */
} st_tee;

/* "sim", "tpm", ...; "none" for ST_TEE_NONE. */
const char *st_tee_name(st_tee tee);
/* ST_E_INPUT naming the accepted names when `name` is unknown. */
ST_MUST_CHECK st_code st_tee_parse(const char *name, st_tee *out, st_err *err);

/* ---- evidence ----------------------------------------------------- */

typedef struct st_evidence st_evidence;

st_evidence *st_evidence_new(st_tee tee, st_err *err);
void st_evidence_free(st_evidence *ev); /* accepts NULL */
st_tee st_evidence_tee(const st_evidence *ev);
/* Unix seconds when the evidence was produced, 0 when unknown. Only the
 * sim backend signs it; elsewhere it is informational. */
int64_t st_evidence_created(const st_evidence *ev);
void st_evidence_set_created(st_evidence *ev, int64_t t);
/* Adds (or replaces) part `name` ([a-z0-9_.-]{1,64}) with a copy of the
 * bytes. */
ST_MUST_CHECK st_code st_evidence_set(st_evidence *ev, const char *name,
                                      const void *data, size_t len,
                                      st_err *err);
/* The bytes of part `name`, or NULL when absent (*len then 0). */
const uint8_t *st_evidence_get(const st_evidence *ev, const char *name,
                               size_t *len);
size_t st_evidence_count(const st_evidence *ev);
const char *st_evidence_name(const st_evidence *ev, size_t i);

/* The bundle: {"type":"sealtrain-evidence","version":1,"tee":..,
 * "created":..,"parts":{name: base64}} as canonical JSON (malloc'ed). */
char *st_evidence_to_json(const st_evidence *ev, size_t *len, st_err *err);
/* Strict: unknown keys, bad base64 or names are ST_E_INPUT naming `origin`. */
ST_MUST_CHECK st_code st_evidence_from_json(const char *text, size_t len,
                                            const char *origin,
                                            st_evidence **out, st_err *err);
ST_MUST_CHECK st_code st_evidence_load(const char *path, st_evidence **out,
                                       st_err *err);
ST_MUST_CHECK st_code st_evidence_save(const st_evidence *ev, const char *path,
                                       st_err *err); /* atomic, 0644 */

/* ---- trace -------------------------------------------------------- */

typedef struct st_trace_entry {
    char *claim;    /* e.g. "snp.signature", "policy.measurement" */
    char *expected; /* what the verifier required */
    char *actual;   /* what the evidence showed */
    int ok;
} st_trace_entry;

typedef struct st_trace {
    st_trace_entry *entries;
    size_t n, cap;
    int oom; /* an entry could not be recorded: the verdict fails closed */
} st_trace;
/* Its functions are the verifier's: src/attest/trace.h. */

/* ---- normalised claims -------------------------------------------- */

typedef struct st_claims {
    st_tee tee;
    char measurement[2 * 64 + 1]; /* hex; SNP/TDX 48 bytes, TPM 32 */
    char platform_id[2 * 64 + 1]; /* hex: SNP chip id, TPM AK name, ... */
    char tcb[160];                /* readable: "bl=3 tee=0 snp=8 ucode=115" */
    json_t *tcb_fields;           /* {"bl":3,...} numeric components */
    char tcb_status[40];          /* "UpToDate", ...; "" when none */
    json_t *advisories;           /* array of advisory id strings, or NULL */
    uint8_t report_data[ST_REPORT_DATA_LEN];
    int has_report_data;
    int debug;      /* the TEE allows a debugger/inspection */
    int insecure;   /* no hardware root of trust (sim) */
    int64_t time;   /* signed evidence time, 0 when the evidence has none */
    json_t *fields; /* every TEE-specific field, for policy and display */
    /* the dated collateral the verdict rests on (TCB Info, QE Identity,
     * CRLs): [{"document", "issued", "next_update"}], or NULL */
    json_t *collateral;
} st_claims;

void st_claims_init(st_claims *c);
void st_claims_free(st_claims *c);
/* {"tee","measurement","platform_id","tcb","tcb_fields","tcb_status",
 *  "advisories","report_data","debug","insecure","time","fields"} and
 *  "collateral" when the evidence had dated collateral */
json_t *st_claims_to_json(const st_claims *c);

/* ---- policy ------------------------------------------------------- */

typedef struct st_attest_policy st_attest_policy;

/* Strict parsing: unknown keys and wrong types are ST_E_INPUT naming the
 * key path. The language is described in docs/attestation.md. */
ST_MUST_CHECK st_code st_attest_policy_parse(const char *text, size_t len,
                                             const char *origin,
                                             st_attest_policy **out,
                                             st_err *err);
ST_MUST_CHECK st_code st_attest_policy_load(const char *path,
                                            st_attest_policy **out,
                                            st_err *err);
void st_attest_policy_free(st_attest_policy *p);
/* SHA-256 of the policy's canonical JSON; 0 (nothing written) for NULL,
 * the built-in default, or on allocation failure. */
int st_attest_policy_digest(const st_attest_policy *p, uint8_t out[32]);
/* "sha-256:<hex>" of that digest, or "sealtrain:default-policy". */
void st_attest_policy_id(const st_attest_policy *p, char out[80]);
/* 1 when the policy accepts an OutOfDate* TCB status (for `check`). A
 * policy without a "tcb_status" rule accepts UpToDate only. */
int st_attest_policy_accepts_out_of_date(const st_attest_policy *p);

/* ---- reference values (trust anchors and pinned keys) -------------- */

typedef struct st_attest_refs {
    /* project data (data/amd/ARK PEMs, data/intel/...); NULL = built-in
     * default (st_attest_data_dir()) */
    const char *data_dir;
    /* sim: the Ed25519 public key of the platform (32 bytes); NULL refuses
     * sim evidence */
    const uint8_t *sim_platform_key;
    /* tpm: the attestation key the quote must be signed by (PEM or DER
     * SubjectPublicKeyInfo, or a TPM2B_PUBLIC). NULL: the verdict fails on
     * "tpm.ak.pinned" (a key that only the evidence vouches for proves
     * nothing). Azure vTPM keys are vouched for by the SNP report. */
    const uint8_t *tpm_ak;
    size_t tpm_ak_len;
    /* offline collateral bundles (st_collateral_bundle, below): used for
     * what the evidence does not carry (a VCEK/VLEK and its CA chain, a
     * TCB Info, QE Identity, TCB signing chain and CRLs), each document
     * then verified exactly as if the evidence had carried it. A cache,
     * never a trust anchor. NULL/0: none. */
    const struct st_collateral_bundle *const *bundles;
    size_t nbundles;
} st_attest_refs;

/* ---- offline collateral bundles (collateral.c, docs/attestation.md) --
 *
 * {"type":"sealtrain-collateral","version":1,"documents":[{"kind":K,
 *  "data":"<base64>"[,"update":"standard"|"early"]}, ...]} with K one of
 * amd.vcek, amd.vlek, amd.ask, amd.asvk, amd.ark, amd.crl, intel.tcb_info,
 * intel.qe_identity, intel.tcb_chain, intel.root_ca_crl, intel.pck_crl.
 * Parsing is strict and indexes each document (chip id and TCB of a VCEK,
 * FMSPC of a TCB Info, dates); it checks no signature: the verifier does,
 * at each use, up to the pinned roots. */
#define ST_COLLATERAL_VERSION 1
#define ST_COLLATERAL_MAX_DOCS 256
typedef struct st_collateral_bundle st_collateral_bundle;
ST_MUST_CHECK st_code st_collateral_bundle_parse(const char *text, size_t len,
                                                 const char *origin,
                                                 st_collateral_bundle **out,
                                                 st_err *err);
void st_collateral_bundle_free(st_collateral_bundle *b); /* accepts NULL */
/* SHA-256 (hex) of the bundle's canonical JSON: its name everywhere. */
const char *st_collateral_bundle_digest(const st_collateral_bundle *b);
/* Who vouched for it ("imported by NAME"), shown in traces with the
 * digest; copied. */
void st_collateral_bundle_set_origin(st_collateral_bundle *b,
                                     const char *origin);
size_t st_collateral_bundle_count(const st_collateral_bundle *b);
/* [{"index","kind","name","issued","next_update"}, ...] where name says
 * what the document is for ("Milan VCEK chip 0123.. TCB bl=3 ...",
 * "TDX TCB Info fmspc 50806f000000 standard"). */
json_t *st_collateral_bundle_describe(const st_collateral_bundle *b);
/* The earliest time a document goes stale (nextUpdate of TCB Info, QE
 * Identity and CRLs, notAfter of certificates), and that document's
 * name in `doc`; 0 when the bundle holds nothing dated. */
int64_t st_collateral_bundle_stale_at(const st_collateral_bundle *b, char *doc,
                                      size_t cap);

/* The data directory compiled in (installed share dir, else source tree). */
const char *st_attest_data_dir(void);

/* ---- verdict ------------------------------------------------------ */

typedef struct st_verdict {
    int pass;
    char reason[512]; /* "pass", or the first failing claim and why */
    /* "sha-256:HEX" (st_evidence_collateral_digest) of the evidence as
     * verified when offline bundles supplied part of its collateral, so
     * that the EAR names what was used; "" otherwise (the EAR then digests
     * the evidence it is given) */
    char collateral_digest[80];
    st_trace trace;
    st_claims claims;
} st_verdict;

void st_verdict_init(st_verdict *v);
void st_verdict_free(st_verdict *v);
json_t *
st_verdict_to_json(const st_verdict *v); /* {pass,reason,trace,claims} */
ST_MUST_CHECK st_code st_verdict_render_text(const st_verdict *v, st_buf *out,
                                             st_err *err);

/* The one verifier.
 *   report_data: the 64 bytes the evidence must carry, or NULL (then the
 *                policy decides whether an unbound piece passes)
 *   refs:        may be NULL (defaults; sim refused, TPM AK unpinned)
 *   policy:      may be NULL: the default policy (every hardware TEE, no
 *                sim, no debug, report data required when given)
 *   now:         unix seconds for certificate validity and evidence age
 * Returns ST_OK when a verdict was reached (read out->pass), ST_E_INPUT for
 * malformed evidence, ST_E_IO/INTERNAL for system failures. `out` must be
 * initialised with st_verdict_init and is filled even on failure. */
ST_MUST_CHECK st_code st_attest_verify(const st_evidence *ev,
                                       const uint8_t *report_data,
                                       const st_attest_refs *refs,
                                       const st_attest_policy *policy,
                                       int64_t now, st_verdict *out,
                                       st_err *err);

/* Prints every parsed field of a piece of evidence (no verification). */
ST_MUST_CHECK st_code st_attest_show(const st_evidence *ev, json_t **out,
                                     st_err *err);

/* ---- EAR attestation results (draft-ietf-rats-ear), ear.c ---------- */

/* What an EAR says besides the verdict. */
typedef struct st_ear_inputs {
    int64_t iat;          /* issuance time (Unix seconds) */
    const uint8_t *nonce; /* eat_nonce (8-55 bytes, else left out), or NULL */
    size_t nonce_len;
    const char *policy_id; /* st_attest_policy_id, or NULL (default) */
    const st_evidence *ev; /* for the collateral digest, or NULL */
} st_ear_inputs;

/* The verdict as a compact JWS (JWT, header {"alg":"EdDSA","kid":..,
 * "typ":"JWT"}) signed with the Ed25519 seed (keep it in secure memory).
 * *out is malloc'ed. */
ST_MUST_CHECK st_code st_ear_encode(const st_verdict *v,
                                    const st_ear_inputs *in,
                                    const uint8_t seed[32], char **out,
                                    st_err *err);
/* The verifier key: PKCS#8 PEM at `path` (the workspace's
 * keys/ear-verifier.pem), created 0600 when `create` and absent. */
ST_MUST_CHECK st_code st_ear_key_load(const char *path, int create,
                                      uint8_t seed[32], uint8_t pub[32],
                                      st_err *err);
/* The public key as a JWK (RFC 8037: kty OKP, crv Ed25519, x, kid, alg
 * EdDSA, use sig), compact JSON, malloc'ed. */
char *st_ear_key_jwk(const uint8_t pub[32], st_err *err);
/* ---- evidence backends --------------------------------------------- */

/* sim: signs {tee,report_data,measurement,created} with the platform key
 * (32-byte Ed25519 seed; keep it in secure memory). `measurement` is 32
 * bytes (the runtime's SHA-256) or NULL for zeros. */
ST_MUST_CHECK st_code st_attest_sim_evidence(
    const uint8_t seed[32], const uint8_t report_data[ST_REPORT_DATA_LEN],
    const uint8_t *measurement, int64_t created, st_evidence **out,
    st_err *err);
/* Loads (or creates, 0600) the sim platform key at `path` (PKCS#8 PEM). */
ST_MUST_CHECK st_code st_attest_sim_key(const char *path, int create,
                                        uint8_t seed[32], uint8_t pub[32],
                                        st_err *err);

/* tpm: one item of the measurement log, extended into ST_TPM_APP_PCR. */
#define ST_TPM_APP_PCR 23
typedef struct st_measure_item {
    const char *type; /* "runtime", "job", "dataset" */
    const char *name; /* path or id, informational */
    uint8_t sha256[32];
} st_measure_item;

/* Connects to the TPM named by `tcti` (e.g. "swtpm:host=127.0.0.1,port=N";
 * NULL reads $SEALTRAIN_TPM_TCTI), resets and extends ST_TPM_APP_PCR with
 * the items, creates the ECC P-256 attestation key (a primary under the
 * endorsement hierarchy, so the same TPM always yields the same key),
 * quotes sha256 PCRs 0-7 and 23 with SHA-256(report_data) as qualifying
 * data, and flushes every transient object. */
ST_MUST_CHECK st_code st_attest_tpm_evidence(
    const char *tcti, const uint8_t report_data[ST_REPORT_DATA_LEN],
    const st_measure_item *items, size_t nitems, st_evidence **out,
    st_err *err);

/* snp, tdx: requests a report (snp) or quote (tdx) through configfs-tsm
 * under `tsm_root` (NULL: /sys/kernel/config/tsm/report); for snp with
 * tsm_root NULL and no configfs-tsm, through /dev/sev-guest. snp adds
 * "report" and, when the host supplies a certificate table, "vcek"/"vlek"/
 * "ask"/"ark"/"asvk" (DER); tdx adds "quote". */
ST_MUST_CHECK st_code
st_attest_tsm_evidence(st_tee tee, const char *tsm_root,
                       const uint8_t report_data[ST_REPORT_DATA_LEN],
                       st_evidence **out, st_err *err);

/* The SHA-256 of the running binary (/proc/self/exe). */
ST_MUST_CHECK st_code st_attest_self_measurement(uint8_t out[32], st_err *err);

#ifdef __cplusplus
}
#endif
#endif
