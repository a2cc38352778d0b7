/*
 * sealtrain/release.h: a dataset's release policy, the owner's signed word
 * on who may have the dataset's key released, to which runtimes, for which
 * model recipients and under which protections (docs/jobs.md "Release
 * policies").
 *
 *   {
 *     "version": 1,
 *     "attestation": {...},          an attestation policy (attest.h)
 *     "principals": ["alice"],       who may train on the dataset ("*": any
 *                                    principal the owner granted `use`)
 *     "recipients": ["age1..."],     who may receive models trained on it
 *                                    (and predictions made on it)
 *     "uses": {                      optional: what registered models may
 *       "evaluate": ["bob"],         do on it besides training: evaluate
 *       "predict": ["*"]             (metrics only leave), predict (row
 *     },                             outputs leave, sealed); for whom.
 *                                    Left out: neither (docs/predict.md)
 *     "requires": {                  optional: the least protection a job
 *       "sandbox": "strict",         must ask for in its signed spec
 *       "memory": "secret"
 *     }
 *   }
 *
 * The owner signs it: the catalog keeps a DSSE envelope
 * (ST_DSSE_TYPE_RELEASE_POLICY) over {"dataset", "dataset_id", "policy"},
 * and every reader verifies it under the dataset owner's key, checks that
 * it names this dataset (by name and id, so a policy cannot be moved to
 * another dataset or outlive the one it was written for) and that the
 * row's plain copy is the signed one. An unsigned, edited or foreign row
 * is ST_E_DENIED, never a policy.
 */
#ifndef SEALTRAIN_RELEASE_H
#define SEALTRAIN_RELEASE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/attest.h"
#include "sealtrain/err.h"
#include "sealtrain/jobspec.h"
#include "sealtrain/workspace.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ST_DSSE_TYPE_RELEASE_POLICY                                            \
    "application/vnd.sealtrain.release-policy+json"
#define ST_RELEASE_MAX_PRINCIPALS 64
#define ST_RELEASE_MAX_RECIPIENTS 64

/* Who may use a registered model on the dataset in one way. */
typedef struct st_release_use {
    int any; /* "*" */
    size_t n;
    char principals[ST_RELEASE_MAX_PRINCIPALS][ST_JOB_NAME_MAX + 1];
} st_release_use;

typedef struct st_release_policy {
    char dataset[ST_JOB_NAME_MAX + 1];
    char dataset_id[33];
    char signer[ST_JOB_NAME_MAX + 1]; /* the owner who signed it */
    char digest[65];                  /* SHA-256 (hex) of the policy */
    st_attest_policy *attestation;    /* parsed, owned */
    int any_principal;                /* "*" */
    size_t nprincipals;
    char principals[ST_RELEASE_MAX_PRINCIPALS][ST_JOB_NAME_MAX + 1];
    size_t nrecipients;
    char recipients[ST_RELEASE_MAX_RECIPIENTS][ST_JOB_RECIPIENT_MAX];
    int require_strict;               /* requires.sandbox = "strict" */
    int require_secret;               /* requires.memory = "secret" */
    st_release_use evaluate, predict; /* "uses"; empty: not allowed */
    json_t *json; /* the policy as its owner wrote it (owned) */
} st_release_policy;

void st_release_policy_free(st_release_policy *p); /* NULL ok */

/* Signs the policy with `seed`, which must be the key of the dataset's
 * owner, and stores it (replacing the previous one) through
 * the gate's st_release_policy_put (src/broker/policy.h). `actor` is audited as
 * the one who set it. */
ST_MUST_CHECK st_code st_release_policy_set(
    st_workspace *ws, const char *actor, const char *dataset, const char *text,
    size_t len, const char *origin, const uint8_t seed[32], st_err *err);

/* The client's half (no workspace): parses the policy strictly and signs
 * the statement {"dataset", "dataset_id", "policy"} with `seed` (the
 * owner's key) as a DSSE envelope; *envelope is malloc'ed JSON text. The
 * dataset's id comes from the server (GET /v1/datasets/NAME). */
ST_MUST_CHECK st_code st_release_policy_sign(
    const char *dataset, const char *dataset_id, const char *text, size_t len,
    const char *origin, const uint8_t seed[32], char **envelope, st_err *err);

/* The dataset's policy after verifying its signature and binding (see the
 * top of the file). ST_E_NOTFOUND: the dataset has none (it is never
 * released); ST_E_DENIED: the row is unsigned, edited or not the owner's. */
ST_MUST_CHECK st_code st_release_policy_get(st_workspace *ws,
                                            const char *dataset,
                                            st_release_policy **out,
                                            st_err *err);

#ifdef __cplusplus
}
#endif
#endif
