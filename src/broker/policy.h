/*
 * policy.h (src/broker): the gate's side of release policies
 * (include/sealtrain/release.h has the format and what clients call):
 * parsing, opening a signed envelope, storing it, and what a policy says
 * of a job. Every reader of a policy (the gate, `check`, the server's
 * routes, the model's uses) goes through these.
 */
#ifndef SEALTRAIN_BROKER_POLICY_H
#define SEALTRAIN_BROKER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"
#include "sealtrain/jobspec.h"
#include "sealtrain/release.h"
#include "sealtrain/workspace.h"

/* Strict: a policy document as an owner writes it (unknown keys, wrong
 * types, bad recipients, an invalid attestation section are ST_E_INPUT
 * naming `origin` and the key). The dataset fields stay empty. */
ST_MUST_CHECK st_code st_release_policy_parse(const char *text, size_t len,
                                              const char *origin,
                                              st_release_policy **out,
                                              st_err *err);

/* The checks of st_release_policy_put without a workspace: `envelope`
 * must verify under `pub` (the key of the dataset's owner `owner`; else
 * ST_E_DENIED), its statement name `dataset` and `dataset_id` (else
 * ST_E_DENIED) and hold a valid policy (ST_E_INPUT), returned in *out. */
ST_MUST_CHECK st_code st_release_policy_open(
    const char *envelope, size_t len, const char *dataset,
    const char *dataset_id, const char *owner, const uint8_t pub[32],
    st_release_policy **out, st_err *err);

/* Stores a signed policy (local `data policy set` and PUT
 * /v1/datasets/NAME/policy alike): the envelope must verify under the
 * dataset owner's registered key (else ST_E_DENIED), name this dataset by
 * name and id (ST_E_DENIED) and hold a valid policy (ST_E_INPUT); then the
 * row and its "data.policy" entry (`actor`) commit in one transaction.
 * The caller checks data.policy on dataset:NAME first. */
ST_MUST_CHECK st_code st_release_policy_put(st_workspace *ws, const char *actor,
                                            const char *dataset,
                                            const char *envelope, size_t len,
                                            st_err *err);

int st_release_policy_allows_principal(const st_release_policy *p,
                                       const char *principal);
int st_release_policy_allows_recipient(const st_release_policy *p,
                                       const char *recipient);

/* What the policy says of a job: `dataset` is one of the spec's datasets,
 * `principal` (the submitter) is among its principals (for a training
 * spec) or among those its "uses" names for the spec's kind (evaluate,
 * predict), every recipient of the spec is allowed, and the spec asks
 * for at least the protections it requires. ST_E_DENIED naming the first
 * that fails. */
ST_MUST_CHECK st_code st_release_policy_check_job(const st_release_policy *p,
                                                  const char *dataset,
                                                  const st_job_spec *spec,
                                                  const char *principal,
                                                  st_err *err);

#endif
