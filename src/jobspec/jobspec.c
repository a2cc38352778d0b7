/*
 * jobspec.c: the job spec (docs/jobs.md): strict parsing, its digest, its
 * signed envelope; and the names of the sandbox level a spec asks for.
 * The jobspec module sits below the job controller, the gate and the
 * enclave runtime, which all read specs (sealtrain/jobspec.h).
 *
 *   {
 *     "version": 1,
 *     "name": "digits-mlp",
 *     "model": {...},            the training engine's "model" section
 *     "training": {...},         the training engine's "training" section
 *     "datasets": {"train": "digits", "validation": "digits-test"},
 *     "resources": {"cpus": 2, "memory_mb": 2048, "time_limit_seconds": 900},
 *     "security": {"tee": "sim", "sandbox": "strict",
 *                  "attestation": {...an attestation policy...}},
 *     "outputs": {"model": "digits-mlp", "recipients": ["age1..."]},
 *     "preprocessing": {...},    feature scaling fitted by the engine
 *     "checkpoint_every": 5
 *   }
 *
 * A spec that uses a registered model instead of training one
 * (docs/predict.md) has, in place of "model", "training",
 * "preprocessing", "checkpoint_every" and "outputs.model":
 *
 *     "use": {"model": "wine-mlp", "version": 2, "mode": "evaluate"},
 *     "datasets": {"input": "wine-test"},
 *     "outputs": {"recipients": ["age1..."]}     predict only
 *
 * (the version is pinned: a signed spec never means "the latest").
 *
 * Unknown keys, wrong types and values out of range are refused with the
 * key path; nothing is repaired or defaulted silently (defaults are the
 * documented ones). The engine's sections are checked by the engine
 * itself (st_train_config_from_json) and the attestation section by the
 * attestation policy parser, so the rules live in one place each.
 *
 * Never: accept a spec that names a recipient that is not an age X25519
 * recipient, or a TEE the broker cannot verify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/bech32.h"
#include "crypto/dsse.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/jobspec.h"
#include "sealtrain/json.h"
#include "train/gbdt.h"
#include "train/train.h"

#define SPEC_MAX (1u << 20)

static int name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ST_JOB_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 (i > 0 && (c == '-' || c == '_' || c == '.'));
        if (!ok)
            return 0;
    }
    return 1;
}

static ST_MUST_CHECK st_code get_name(const json_t *obj, const char *key,
                                      int required, char *out,
                                      const char *where, st_err *err)
{
    const char *s = NULL;
    st_code rc = st_json_get_string(obj, key, required, &s, where, err);
    if (rc != ST_OK || !s)
        return rc;
    if (!name_valid(s))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"%s\" must be 1-64 of [a-z0-9._-], starting "
                          "with a letter or digit",
                          where, key);
    snprintf(out, ST_JOB_NAME_MAX + 1, "%s", s);
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_recipients(const json_t *arr,
                                              st_job_spec *out,
                                              const char *where, st_err *err)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > ST_JOB_MAX_RECIPIENTS)
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"outputs.recipients\" must be an array of 1 "
                          "to %d age recipients",
                          where, ST_JOB_MAX_RECIPIENTS);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        char hrp[16];
        uint8_t key[64];
        size_t klen = 0;
        if (!s || strlen(s) >= ST_JOB_RECIPIENT_MAX ||
            st_bech32_decode(s, hrp, sizeof(hrp), key, sizeof(key), &klen,
                             NULL) != ST_OK ||
            strcmp(hrp, "age") != 0 || klen != 32 || strncmp(s, "age1", 4))
            return st_err_set(err, ST_E_INPUT,
                              "%s: outputs.recipients[%zu]: not an age "
                              "X25519 recipient (age1...)",
                              where, i);
        for (size_t j = 0; j < out->nrecipients; j++)
            if (!strcmp(out->recipients[j], s))
                return st_err_set(err, ST_E_INPUT,
                                  "%s: outputs.recipients[%zu]: listed twice",
                                  where, i);
        snprintf(out->recipients[out->nrecipients++], ST_JOB_RECIPIENT_MAX,
                 "%s", s);
    }
    return ST_OK;
}

const char *st_job_kind_name(st_job_kind kind)
{
    switch (kind) {
    case ST_JOB_KIND_EVALUATE: return "evaluate";
    case ST_JOB_KIND_PREDICT: return "predict";
    default: return "train";
    }
}

/* The "use" section: what a model-use spec has instead of the engine's
 * sections and outputs.model. */
static ST_MUST_CHECK st_code parse_use(json_t *root, const char *where,
                                       st_job_spec *out, st_err *err)
{
    static const char *const use_keys[] = {"model", "version", "mode",
                                           "key",   "nonce",   NULL};
    static const char *const trainer_only[] = {
        "model", "training", "preprocessing", "checkpoint_every", NULL};
    json_t *use = json_object_get(root, "use");
    char w[300];
    snprintf(w, sizeof(w), "%s: use", where);
    for (size_t i = 0; trainer_only[i]; i++)
        if (json_object_get(root, trainer_only[i]))
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"%s\" is for training; a spec with "
                              "\"use\" trains nothing",
                              where, trainer_only[i]);
    if (!json_is_object(use))
        return st_err_set(err, ST_E_INPUT,
                          "%s: must be an object with \"model\", "
                          "\"version\" and \"mode\"",
                          w);
    const char *mode = NULL, *key = NULL, *nonce = NULL;
    long long v = 0;
    st_code rc;
    if ((rc = st_json_check_keys(use, use_keys, w, err)) ||
        (rc = get_name(use, "model", 1, out->use_model, w, err)) ||
        (rc = st_json_get_int(use, "version", 1, 1, UINT32_MAX, &v, w, err)) ||
        (rc = st_json_get_string(use, "mode", 1, &mode, w, err)) ||
        (rc = st_json_get_string(use, "key", 0, &key, w, err)) ||
        (rc = st_json_get_string(use, "nonce", 0, &nonce, w, err)))
        return rc;
    /* who wraps the model's key to the runtime: the local controller
     * (with the requester's identity) or the requester itself, over the
     * API, after verifying the runtime's evidence (docs/predict.md) */
    if (key && strcmp(key, "controller") && strcmp(key, "requester"))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"key\" must be \"controller\" or "
                          "\"requester\", not \"%s\"",
                          w, key);
    out->use_key_by_requester = key && !strcmp(key, "requester");
    uint8_t nb[32];
    if (nonce && (strlen(nonce) != 64 ||
                  st_hex_decode(nonce, nb, sizeof(nb), NULL) != ST_OK))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"nonce\" must be 64 hex digits", w);
    if (!strcmp(mode, "evaluate"))
        out->kind = ST_JOB_KIND_EVALUATE;
    else if (!strcmp(mode, "predict"))
        out->kind = ST_JOB_KIND_PREDICT;
    else
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"mode\" must be \"evaluate\" or "
                          "\"predict\", not \"%s\"",
                          w, mode);
    out->use_version = (uint32_t)v;
    return ST_OK;
}

static ST_MUST_CHECK st_code parse_body(json_t *root, const char *where,
                                        st_job_spec *out, st_err *err)
{
    static const char *const top[] = {
        "version",          "name",          "model",    "training",
        "datasets",         "resources",     "security", "outputs",
        "checkpoint_every", "preprocessing", "use",      NULL};
    static const char *const ds_keys[] = {"train", "validation", NULL};
    static const char *const ds_use_keys[] = {"input", NULL};
    static const char *const res_keys[] = {"cpus", "memory_mb",
                                           "time_limit_seconds", NULL};
    static const char *const sec_keys[] = {"tee", "sandbox", "attestation",
                                           "memory", NULL};
    static const char *const out_keys[] = {"model", "recipients", NULL};
    static const char *const out_use_keys[] = {"recipients", NULL};
    char w[300];
    long long v;
    st_code rc;
    if (!json_is_object(root))
        return st_err_set(err, ST_E_INPUT, "%s: a job spec is a JSON object",
                          where);
    if ((rc = st_json_check_keys(root, top, where, err)) ||
        (rc = st_json_get_int(root, "version", 1, 1, 1, &v, where, err)) ||
        (rc = get_name(root, "name", 1, out->name, where, err)))
        return rc;
    int use = json_object_get(root, "use") != NULL;
    if (use && (rc = parse_use(root, where, out, err)))
        return rc;
    out->model = json_object_get(root, "model");
    out->training = json_object_get(root, "training");
    out->preprocessing = json_object_get(root, "preprocessing");
    if ((out->model && !json_is_object(out->model)) ||
        (out->training && !json_is_object(out->training)))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"model\" and \"training\" must be objects",
                          where);
    st_train_config cfg;
    st_gbdt_config gcfg;
    if (use) {
        /* nothing of the engine's: the model brings its configuration */
    } else if (st_gbdt_spec_is_gbdt(out->model)) {
        /* gradient-boosted trees: the gbdt engine's own sections */
        if ((rc = st_gbdt_config_from_json(out->model, out->training,
                                           out->preprocessing, &gcfg, err)))
            return st_err_prefix(err, "%s", where);
    } else if ((rc = st_train_config_from_json(out->model, out->training, &cfg,
                                               err)) != ST_OK ||
               (rc = st_train_config_preprocessing(out->preprocessing, &cfg,
                                                   err)))
        return st_err_prefix(err, "%s", where);

    json_t *ds = json_object_get(root, "datasets");
    snprintf(w, sizeof(w), "%s: datasets", where);
    if (!json_is_object(ds))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"datasets\" must be an object with "
                          "\"%s\"",
                          where, use ? "input" : "train");
    /* a model-use spec's one dataset: its input rows */
    if (use && ((rc = st_json_check_keys(ds, ds_use_keys, w, err)) ||
                (rc = get_name(ds, "input", 1, out->train_dataset, w, err))))
        return rc;
    if (!use &&
        ((rc = st_json_check_keys(ds, ds_keys, w, err)) ||
         (rc = get_name(ds, "train", 1, out->train_dataset, w, err)) ||
         (rc = get_name(ds, "validation", 0, out->valid_dataset, w, err))))
        return rc;

    out->memory_bytes = 2048ull << 20;
    out->time_limit_s = 3600;
    json_t *res = json_object_get(root, "resources");
    if (res) {
        snprintf(w, sizeof(w), "%s: resources", where);
        if (!json_is_object(res))
            return st_err_set(err, ST_E_INPUT, "%s: must be an object", w);
        long long cpus = 0, mem = 2048, t = 3600;
        if ((rc = st_json_check_keys(res, res_keys, w, err)) ||
            (rc = st_json_get_int(res, "cpus", 0, 0, 1024, &cpus, w, err)) ||
            (rc = st_json_get_int(res, "memory_mb", 0, 64, 1 << 24, &mem, w,
                                  err)) ||
            (rc = st_json_get_int(res, "time_limit_seconds", 0, 1, 7 * 86400,
                                  &t, w, err)))
            return rc;
        out->cpus = (unsigned)cpus;
        out->memory_bytes = (uint64_t)mem << 20;
        out->time_limit_s = (uint64_t)t;
    }

    out->tee = ST_TEE_SIM;
    out->sandbox = ST_SANDBOX_STRICT;
    out->memory_secret = 1;
    json_t *sec = json_object_get(root, "security");
    if (sec) {
        snprintf(w, sizeof(w), "%s: security", where);
        if (!json_is_object(sec))
            return st_err_set(err, ST_E_INPUT, "%s: must be an object", w);
        const char *tee = NULL, *sb = NULL, *mem = NULL;
        if ((rc = st_json_check_keys(sec, sec_keys, w, err)) ||
            (rc = st_json_get_string(sec, "tee", 0, &tee, w, err)) ||
            (rc = st_json_get_string(sec, "sandbox", 0, &sb, w, err)) ||
            (rc = st_json_get_string(sec, "memory", 0, &mem, w, err)))
            return rc;
        if (mem && strcmp(mem, "secret") && strcmp(mem, "locked"))
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"memory\": \"%s\" must be secret or "
                              "locked",
                              w, mem);
        if (mem)
            out->memory_secret = !strcmp(mem, "secret");
        if (tee && (rc = st_tee_parse(tee, &out->tee, err)) != ST_OK)
            return st_err_prefix(err, "%s: \"tee\"", w);
        if (out->tee != ST_TEE_SIM && out->tee != ST_TEE_TPM)
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"tee\": %s runtimes cannot be started "
                              "here (sim or tpm)",
                              w, st_tee_name(out->tee));
        if (sb && (rc = st_sandbox_level_parse(sb, &out->sandbox, err)))
            return st_err_prefix(err, "%s", w);
        out->attestation = json_object_get(sec, "attestation");
        if (out->attestation) {
            char *text = st_json_dumps(out->attestation, JSON_COMPACT);
            st_attest_policy *p = NULL;
            rc = text ? st_attest_policy_parse(text, strlen(text),
                                               "security.attestation", &p, err)
                      : st_err_set(err, ST_E_INTERNAL, "serialising");
            free(text);
            st_attest_policy_free(p);
            if (rc != ST_OK)
                return st_err_prefix(err, "%s", where);
        }
    }

    json_t *outs = json_object_get(root, "outputs");
    snprintf(w, sizeof(w), "%s: outputs", where);
    if (use && out->kind == ST_JOB_KIND_EVALUATE) {
        /* metrics only: nothing is sealed, so nobody to seal to */
        if (outs)
            return st_err_set(err, ST_E_INPUT,
                              "%s: an evaluation has no outputs (its "
                              "metrics are the result)",
                              w);
        return ST_OK;
    }
    if (use) {
        if (!json_is_object(outs))
            return st_err_set(err, ST_E_INPUT,
                              "%s: \"outputs\" must be an object with "
                              "\"recipients\" (who receives the "
                              "predictions)",
                              where);
        if ((rc = st_json_check_keys(outs, out_use_keys, w, err)))
            return rc;
        return parse_recipients(json_object_get(outs, "recipients"), out, where,
                                err);
    }
    if (!json_is_object(outs))
        return st_err_set(err, ST_E_INPUT,
                          "%s: \"outputs\" must be an object with \"model\" "
                          "and \"recipients\"",
                          where);
    if ((rc = st_json_check_keys(outs, out_keys, w, err)) ||
        (rc = get_name(outs, "model", 1, out->model_name, w, err)) ||
        (rc = parse_recipients(json_object_get(outs, "recipients"), out, where,
                               err)))
        return rc;
    long long ck = 0;
    if ((rc = st_json_get_int(root, "checkpoint_every", 0, 0, 100000, &ck,
                              where, err)))
        return rc;
    out->checkpoint_every = (unsigned)ck;
    if (ck && st_gbdt_spec_is_gbdt(out->model))
        return st_err_set(err, ST_E_INPUT,
                          "%s: checkpoint_every: a gbdt model is not "
                          "checkpointed (a stopped gbdt job starts over); "
                          "leave it out or set 0",
                          where);
    return ST_OK;
}

st_code st_job_spec_parse(const char *text, size_t len, const char *origin,
                          st_job_spec *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *root = st_json_parse(text, len, origin, err);
    if (!root)
        return err ? err->code : ST_E_INPUT;
    out->root = root;
    st_code rc = parse_body(root, origin, out, err);
    if (rc != ST_OK)
        st_job_spec_free(out);
    return rc;
}

st_code st_job_spec_load(const char *path, st_job_spec *out, st_err *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    st_code rc = st_fs_read_all(path, SPEC_MAX, &text, &len, err);
    if (rc != ST_OK)
        return rc;
    rc = st_job_spec_parse((const char *)text, len, path, out, err);
    free(text);
    return rc;
}

st_code
st_job_spec_check_recipients(const st_job_spec *spec,
                             const char (*recipients)[ST_JOB_RECIPIENT_MAX],
                             size_t n, st_err *err)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < spec->nrecipients &&
               strcmp(spec->recipients[k], recipients[i]) != 0)
            k++;
        if (k == spec->nrecipients)
            return st_err_set(err, ST_E_DENIED,
                              "model recipient %s is not in the signed job "
                              "spec",
                              recipients[i]);
    }
    return ST_OK;
}

void st_job_spec_free(st_job_spec *spec)
{
    if (!spec)
        return;
    json_decref(spec->root);
    memset(spec, 0, sizeof(*spec));
}

st_code st_job_spec_digest(const st_job_spec *spec, uint8_t out[32],
                           st_err *err)
{
    char *c = st_job_spec_serialise(spec, err);
    if (!c)
        return err ? err->code : ST_E_INTERNAL;
    st_sha256(c, strlen(c), out);
    free(c);
    return ST_OK;
}

char *st_job_spec_serialise(const st_job_spec *spec, st_err *err)
{
    /* keys sorted, compact; reals in jansson's fixed "%.17g" form, so the
     * same spec always gives the same bytes */
    char *c = st_json_dumps(spec->root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!c)
        st_err_set(err, ST_E_INTERNAL, "serialising the job spec");
    return c;
}

json_t *st_job_spec_sign(const st_job_spec *spec, const uint8_t seed[32],
                         st_err *err)
{
    char *payload = st_job_spec_serialise(spec, err);
    if (!payload)
        return NULL;
    json_t *env = st_dsse_sign(ST_DSSE_TYPE_JOBSPEC, (const uint8_t *)payload,
                               strlen(payload), seed, err);
    free(payload);
    return env;
}

st_code st_job_envelope_open(const char *text, size_t len, const char *origin,
                             const uint8_t pub[32], st_job_spec *spec,
                             uint8_t digest[32], json_t **env_out, st_err *err)
{
    memset(spec, 0, sizeof(*spec));
    if (env_out)
        *env_out = NULL;
    const uint8_t(*pubs)[32] = (const uint8_t(*)[32])pub;
    uint8_t *payload = NULL;
    size_t plen = 0;
    json_t *env = NULL;
    st_code rc = ST_OK;
    /* the envelope itself is only wanted by callers that keep it */
    if (env_out || !st_dsse_remembered(text, len, ST_DSSE_TYPE_JOBSPEC, pubs, 1,
                                       &payload, &plen, NULL)) {
        if (!(env = st_json_parse(text, len, origin, err)))
            return err ? err->code : ST_E_INPUT;
        rc = st_dsse_verify(env, ST_DSSE_TYPE_JOBSPEC, pubs, 1, &payload, &plen,
                            NULL, err);
        if (rc != ST_OK) {
            json_decref(env);
            return st_err_prefix(err, "%s: the signed job spec", origin);
        }
        st_dsse_remember(text, len, ST_DSSE_TYPE_JOBSPEC, pubs, 1, payload,
                         plen, 0);
    }
    /* the digest is over the bytes that were signed, whatever their
     * layout: the same bytes `job run` verifies and parses again */
    rc = st_job_spec_parse((const char *)payload, plen, origin, spec, err);
    if (rc == ST_OK)
        st_sha256(payload, plen, digest);
    free(payload);
    if (rc != ST_OK) {
        json_decref(env);
        return rc;
    }
    if (env_out)
        *env_out = env;
    else
        json_decref(env);
    return ST_OK;
}

/* ---- the sandbox level ------------------------------------------------ */

const char *st_sandbox_level_name(st_sandbox_level level)
{
    return level == ST_SANDBOX_RELAXED ? "relaxed" : "strict";
}

st_code st_sandbox_level_parse(const char *s, st_sandbox_level *out,
                               st_err *err)
{
    if (s && strcmp(s, "strict") == 0)
        *out = ST_SANDBOX_STRICT;
    else if (s && strcmp(s, "relaxed") == 0)
        *out = ST_SANDBOX_RELAXED;
    else
        return st_err_set(err, ST_E_INPUT,
                          "sandbox level \"%s\": must be strict or relaxed",
                          s ? s : "");
    return ST_OK;
}
