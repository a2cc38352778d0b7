/*
 * gate_internal.h: the gate (src/broker/gate.c), the one place that decides
 * whether a dataset's key leaves this workspace. Internal to libsealtrain:
 * its transports (src/job/run.c over the runtime's socketpair,
 * src/server/routes_broker.c over HTTPS) and job submission (src/job/job_db.c)
 * call it; the CLI never does.
 *
 * Which checks run when, and why each suffices (docs/architecture.md
 * "The key-release path"):
 *   submit   st_gate_consent: the submitter may use every dataset the
 *            spec names, in any role, and every policy consents
 *   run,     st_gate_consent again, with the runner's job.run: a grant
 *   resume   revoked or a principal disabled since submit stops the job
 *            before a runtime exists
 *   HELLO    st_gate_hello: the signed spec verifies under the
 *            submitter's registered key; consent again; a nonce bound to
 *            all of it
 *   EVIDENCE st_gate_release: the nonce (one use, 60 s, same principal);
 *            the spec and consent once more (nothing read at HELLO is
 *            trusted now: the HELLO's result is taken only when the
 *            catalog's epoch says no commit came in between, which is
 *            what a second check would read); the evidence against every
 * dataset's policy and the job's own; then one durable audit entry per key
 *            before any key is wrapped to the runtime
 */
#ifndef ST_BROKER_GATE_INTERNAL_H
#define ST_BROKER_GATE_INTERNAL_H

#include <jansson.h>
#include <time.h>

#include "attest/ear.h"
#include "broker/msg.h"
#include "broker/policy.h"
#include "sealtrain/attest.h"
#include "sealtrain/audit.h"
#include "sealtrain/collateral.h"
#include "sealtrain/jobspec.h"
#include "sealtrain/keyring.h"
#include "sealtrain/workspace.h"

#define ST_GATE_MAX_DATASETS 8
#define ST_GATE_NONCE_TTL_S 60

/* ---- the decision ---- */

typedef struct st_gate st_gate;

typedef struct st_gate_opts {
    /* the log handle entries go through (the server keeps one open for
     * group commit); NULL: st_audit_append on the workspace */
    st_audit_log *log;
    /* also verify the evidence against the job's own attestation policy
     * (the local controller; a remote owner's broker judges by its own
     * policy only) */
    int job_policy;
    /* each verdict is also its own attest.verify entry (the local
     * controller, whose log `check` and metrics read verdicts from); a
     * remote broker keeps the verdict inside the key.release entry: one
     * durable append per release */
    int verdict_entries;
    /* a model-use job (evaluate, predict; sealtrain/jobspec.h): the file
     * key of the model version its signed spec names, which the local
     * controller unwrapped with the requester's own age identity.
     * st_gate_release wraps it to the runtime as "model:NAME@VERSION"
     * only together with the datasets' keys, after the same decision,
     * with a key.release entry of its own; a model-use spec without it
     * is refused. Borrowed; NULL for training jobs. */
    const st_secret *model_key;
    /* the local controller of a model-use job whose signed spec says
     * "key": "requester": no model key is offered; the decision is made
     * and recorded as for an offered one, and the requester wraps the key
     * to the runtime after verifying its evidence (docs/predict.md). A
     * remote owner's broker never sets it: it refuses model uses. */
    int model_key_by_requester;
} st_gate_opts;

/* Loads the trust anchors (trust.c) for `ws`; `kr` (may be NULL: no key
 * can then be released) stays the caller's. */
ST_MUST_CHECK st_code st_gate_open(st_workspace *ws, st_keyring *kr,
                                   const st_gate_opts *o, st_gate **out,
                                   st_err *err);
void st_gate_close(st_gate *g);

/* One request for keys, as a transport received it. */
typedef struct st_gate_ask {
    const char *principal; /* who asks: the runner, or the TLS client */
    const char *submitter; /* whose registered key signed the spec */
    const char *job_id;
    const char *envelope; /* the signed spec (DSSE JSON text) */
    size_t envelope_len;
    const uint8_t *spec_digest; /* NULL, or the digest the caller was told */
    st_broker_hello hello;      /* the runtime's keys */
    size_t ndatasets;           /* the datasets whose keys are asked for */
    const char *datasets[ST_GATE_MAX_DATASETS];
} st_gate_ask;

/* HELLO: checks the request (signed spec, consent for each dataset) and
 * issues a nonce bound to it. A refusal is ST_E_DENIED, audited. */
ST_MUST_CHECK st_code st_gate_hello(st_gate *g, const st_gate_ask *a,
                                    uint8_t nonce[32], st_err *err);

typedef struct st_gate_result {
    int pass;               /* keys were released */
    int attestation_failed; /* refused on a verdict (not on consent) */
    char reason[600];       /* why not */
    char evidence_sha256[65];
    st_tee tee;
    json_t *verdicts; /* one per policy judged (owned; may be NULL) */
    /* each verdict as an EAR (draft-ietf-rats-ear), signed with the
     * workspace's verifier key: [{"policy_of", "ear" (JWT), "sha256"}]
     * (owned; may be NULL); key.release entries carry the digests */
    json_t *ears;
} st_gate_result;
void st_gate_result_clear(st_gate_result *r);

/* EVIDENCE: the decision. On release fills `keys` (wrapped to the
 * runtime) and returns ST_OK with res->pass; a refusal is ST_E_DENIED
 * with res->reason, audited; other codes are the system failing. `only`
 * (may be NULL): the one dataset the transport's request named, which
 * must be what the nonce was issued for. */
ST_MUST_CHECK st_code st_gate_release(st_gate *g, const char *principal,
                                      const uint8_t nonce[32], const char *only,
                                      const uint8_t *evidence,
                                      size_t evidence_len, st_broker_keys *keys,
                                      st_gate_result *res, st_err *err);

/* How many EVIDENCEs took their HELLO's consent because the catalog had
 * not changed in between (gate.c, "the HELLO's consent"), in this
 * process: for tests, which check that the reuse happens and when not. */
unsigned long st_gate_consent_reused(void);
/* How many HELLOs took the checks of an earlier HELLO of the same job
 * (same signed spec, principals, datasets) because the catalog had not
 * changed since (gate.c, "a HELLO's checks"). */
unsigned long st_gate_hello_reused(void);
/* How many releases took a dataset's file key kept from an earlier one
 * because nothing it depends on changed (gate.c, "file keys"). */
unsigned long st_gate_keys_reused(void);

/* Consent: `submitter` may use each of the spec's datasets (its owner's
 * `use` grant, the principal enabled), each dataset's signed release
 * policy consents to the job (principals or, for a model-use spec, its
 * "uses"; recipients, protections), for a model-use spec the submitter
 * may use the model (model.decrypt on model:NAME: its owner or a
 * `decrypt` grant) and,
 * when `runner` is not NULL, the runner may run jobs. `only` (NULL: all
 * of the spec's datasets) limits it to one dataset. A dataset whose key
 * another owner's broker releases (its manifest names the broker) is
 * judged there; a local policy for it, if one is set, applies as well.
 * ST_E_DENIED names what failed. */
ST_MUST_CHECK st_code st_gate_consent(st_workspace *ws, const char *submitter,
                                      const char *runner,
                                      const st_job_spec *spec, const char *only,
                                      st_err *err);

/* ---- trust anchors (trust.c): one loader for every transport ---- */

typedef struct st_gate_anchors {
    uint8_t sim_pub[32];
    int have_sim;
    unsigned char *tpm_ak; /* enrolled TPM attestation key, or NULL */
    size_t tpm_ak_len;
    char data_dir[4096];
    /* signs each verdict as an EAR (keys/ear-verifier.pem, made 0600 on
     * first use, as `attest verify --ear` does) */
    st_ear_signer ear;
    int have_ear;
    /* the workspace's offline collateral bundles, verified at load */
    st_collateral_bundle **bundles;
    size_t nbundles;
} st_gate_anchors;

ST_MUST_CHECK st_code st_gate_anchors_load(st_workspace *ws, st_gate_anchors *a,
                                           st_err *err);
void st_gate_anchors_free(st_gate_anchors *a);
void st_gate_anchors_refs(const st_gate_anchors *a, st_attest_refs *refs);

/* ---- catalog rows (gate_db.c) ---- */

typedef struct st_gate_nonce {
    uint8_t nonce[32];
    char job_id[ST_JOB_ID_LEN + 1];
    char principal[ST_JOB_NAME_MAX + 1];
    char submitter[ST_JOB_NAME_MAX + 1];
    char scope[ST_GATE_MAX_DATASETS * (ST_JOB_NAME_MAX + 1) + 1]; /* a,b */
    uint8_t spec_digest[32];
    st_broker_hello hello;
    uint8_t envelope_digest[32]; /* SHA-256 of the signed spec's text */
    char *envelope; /* NULL until st_gate_db_nonce_envelope; malloc'ed */
    time_t issued;  /* also the nonce's first 8 bytes */
} st_gate_nonce;

ST_MUST_CHECK st_code st_gate_db_migrate(st_workspace *ws, st_err *err);
ST_MUST_CHECK st_code st_gate_db_policy_put(
    st_workspace *ws, const char *dataset, const char *policy,
    const char *digest, const char *envelope, const char *actor, st_err *err);
ST_MUST_CHECK st_code st_gate_db_policy_get(st_workspace *ws,
                                            const char *dataset, char **policy,
                                            char **envelope, st_err *err);
/* Offline collateral bundles (collateral.c): a row (inside the caller's
 * audit transaction), the rows whose digest starts with `prefix` ("" for
 * all; not verified), and removing one (ST_E_NOTFOUND when absent). */
ST_MUST_CHECK st_code st_gate_db_collateral_put(st_workspace *ws,
                                                const st_collateral_entry *e,
                                                st_err *err);
ST_MUST_CHECK st_code st_gate_db_collateral_list(st_workspace *ws,
                                                 const char *prefix,
                                                 st_collateral_entry **out,
                                                 size_t *n, st_err *err);
ST_MUST_CHECK st_code st_gate_db_collateral_rm(st_workspace *ws,
                                               const char *digest, st_err *err);
/* Issues a nonce for the row `n` (all but its nonce filled, its
 * envelope_digest the SHA-256 of `envelope`, which the HELLO computed
 * already): fills n->nonce (n->issued, big-endian, then 24 random bytes)
 * and keeps `envelope` (the signed spec's text) by that digest. */
ST_MUST_CHECK st_code st_gate_db_nonce_put(st_workspace *ws, st_gate_nonce *n,
                                           const char *envelope,
                                           size_t envelope_len, st_err *err);
/* Writes the nonces this process issued and has not written yet (the
 * store's writer does it NONCE_PENDING_MS after each HELLO; tests, to
 * read the file). */
ST_MUST_CHECK st_code st_gate_db_nonce_write(st_workspace *ws, st_err *err);
/* Marks the nonce used and returns its row (envelope still NULL);
 * ST_E_DENIED saying why when it is unknown, another principal's, used or
 * older than max_age_s. */
ST_MUST_CHECK st_code st_gate_db_nonce_take(st_workspace *ws,
                                            const uint8_t nonce[32],
                                            const char *principal,
                                            long max_age_s, st_gate_nonce *out,
                                            st_err *err);
/* Reads the signed spec a taken nonce names into n->envelope. */
ST_MUST_CHECK st_code st_gate_db_nonce_envelope(st_workspace *ws,
                                                st_gate_nonce *n, st_err *err);
void st_gate_nonce_clear(st_gate_nonce *n);

#endif
