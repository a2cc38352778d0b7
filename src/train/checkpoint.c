/*
 * checkpoint.c: the complete training state as one versioned buffer.
 *
 * Format "STCKPT" version 1 (all integers little-endian; docs/training.md):
 *
 *   magic "STCKPT\0\0" | u32 version | u32 L | configuration JSON (L bytes)
 *   u64 nparams | u32 nmoments | u32 epoch | u64 step | u64 rng[4]
 *   f64 best_metric | u32 best_epoch | u32 bad_epochs
 *   u8 has_best | u8 stopped | u8 has_best_weights | u8 has_preprocessing
 *   f32 params[nparams] | f32 moments[nmoments * nparams]
 *   f32 best[nparams] (if has_best_weights)
 *   f32 shift[inputs] | f32 scale[inputs] (if has_preprocessing: the fitted
 *   statistics, preprocess.c) | SHA-256 of all of the above
 *
 * has_preprocessing was a zero byte before preprocessing existed, so older
 * checkpoints read as "nothing fitted".
 *
 * The buffer holds weights, so it is built in secure memory and the caller
 * encrypts it before it leaves the enclave. Restoring checks every
 * field and the trailer digest, and rebuilds the trainer through the same
 * strict configuration parser as a job spec. Resuming a job
 * (st_trainer_resume) goes further: the trainer is built from the
 * configuration of the signed spec, the checkpoint's own must equal it
 * field by field, and only the state (weights, moments, counters, RNG)
 * is taken from the buffer. Checkpoints are taken between
 * epochs only, which is where fit's callback runs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"
#include "train/train_internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoints and safetensors are written as little-endian memory"
#endif

#define CKPT_MAGIC "STCKPT\0\0"
#define CKPT_VERSION 1u
#define CKPT_MAX_CONFIG (1u << 20)

typedef struct cursor {
    uint8_t *p;
} cursor;

static void put(cursor *c, const void *v, size_t n)
{
    memcpy(c->p, v, n);
    c->p += n;
}

static void put_u8(cursor *c, uint8_t v)
{
    put(c, &v, 1);
}

static void put_u32(cursor *c, uint32_t v)
{
    put(c, &v, 4);
}

static void put_u64(cursor *c, uint64_t v)
{
    put(c, &v, 8);
}

st_code st_trainer_checkpoint(const st_trainer *t, st_secret **out, st_err *err)
{
    char *cfg = st_train_config_dump(&t->cfg);
    if (!cfg)
        return st_err_set(err, ST_E_INTERNAL,
                          "checkpoint: cannot serialise the configuration");
    size_t cl = strlen(cfg);
    size_t nb = t->best ? 1 : 0;
    size_t npp = t->pp_shift && t->pp_fitted ? 2 * t->cfg.inputs : 0;
    size_t len = 8 + 4 + 4 + cl + 8 + 4 + 4 + 8 + 32 + 8 + 4 + 4 + 4 +
                 (1 + t->nmoments + nb) * t->nparams * sizeof(float) +
                 npp * sizeof(float) + ST_SHA256_LEN;
    st_secret *s = st_secret_new(len, err);
    if (!s) {
        free(cfg);
        return st_err_prefix(err, "checkpoint");
    }
    cursor c = {st_secret_bytes(s)};
    put(&c, CKPT_MAGIC, 8);
    put_u32(&c, CKPT_VERSION);
    put_u32(&c, (uint32_t)cl);
    put(&c, cfg, cl);
    free(cfg);
    put_u64(&c, t->nparams);
    put_u32(&c, (uint32_t)t->nmoments);
    put_u32(&c, t->epoch);
    put_u64(&c, t->step);
    for (int i = 0; i < 4; i++)
        put_u64(&c, t->rng.s[i]);
    put(&c, &t->best_metric, 8);
    put_u32(&c, t->best_epoch);
    put_u32(&c, t->bad_epochs);
    put_u8(&c, (uint8_t)t->has_best);
    put_u8(&c, (uint8_t)t->stopped);
    put_u8(&c, (uint8_t)nb);
    put_u8(&c, npp ? 1 : 0);
    size_t pb = t->nparams * sizeof(float);
    put(&c, t->params, pb);
    if (t->nmoments >= 1)
        put(&c, t->m1, pb);
    if (t->nmoments >= 2)
        put(&c, t->m2, pb);
    if (nb)
        put(&c, t->best, pb);
    if (npp) {
        put(&c, t->pp_shift, t->cfg.inputs * sizeof(float));
        put(&c, t->pp_scale, t->cfg.inputs * sizeof(float));
    }
    st_sha256(st_secret_bytes(s), len - ST_SHA256_LEN, c.p);
    *out = s;
    return ST_OK;
}

static ST_MUST_CHECK st_code bad(st_err *err, const char *why)
{
    return st_err_set(err, ST_E_INPUT, "checkpoint: %s", why);
}

static ST_MUST_CHECK st_code parse_config(const uint8_t *text, size_t len,
                                          st_train_config *cfg, st_err *err)
{
    json_t *j =
        st_json_parse((const char *)text, len, "checkpoint config", err);
    if (!j)
        return st_err_prefix(err, "checkpoint");
    static const char *const keys[] = {"model", "training", "preprocessing",
                                       NULL};
    st_code rc = st_json_check_keys(j, keys, "checkpoint config", err);
    const json_t *m = json_object_get(j, "model");
    const json_t *t = json_object_get(j, "training");
    if (!rc && (!json_is_object(m) || !json_is_object(t)))
        rc = bad(err, "configuration lacks \"model\" or \"training\"");
    if (!rc)
        rc = st_train_config_from_json(m, t, cfg, err);
    if (!rc)
        rc = st_train_config_preprocessing(json_object_get(j, "preprocessing"),
                                           cfg, err);
    json_decref(j);
    if (!rc && (cfg->inputs == 0 || cfg->outputs == 0))
        rc = bad(err, "configuration has no input/output sizes");
    return rc ? st_err_prefix(err, "checkpoint") : ST_OK;
}

/* The first key path at which two configuration objects differ
 * ("model.hidden", "training.schedule.gamma"), into `path`; 0 when they
 * are equal. */
static int first_difference(const json_t *a, const json_t *b, const char *at,
                            char *path, size_t cap)
{
    const char *key;
    const json_t *v;
    const json_t *sides[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        json_object_foreach((json_t *)sides[s], key, v)
        {
            const json_t *x = json_object_get(a, key);
            const json_t *y = json_object_get(b, key);
            char here[256];
            snprintf(here, sizeof(here), "%s%s%s", at, *at ? "." : "", key);
            if (json_is_object(x) && json_is_object(y)) {
                if (first_difference(x, y, here, path, cap))
                    return 1;
            } else if (!x || !y || !json_equal((json_t *)x, (json_t *)y)) {
                snprintf(path, cap, "%s", here);
                return 1;
            }
        }
    }
    return 0;
}

/* ST_E_DENIED naming the first field where the checkpoint's configuration
 * differs from the expected one, with both values. */
static ST_MUST_CHECK st_code config_matches(const st_train_config *ckpt,
                                            const st_train_config *want,
                                            st_err *err)
{
    json_t *a = st_train_config_to_json(ckpt);
    json_t *b = st_train_config_to_json(want);
    st_code rc = ST_OK;
    char path[256];
    if (!a || !b)
        rc = st_err_set(err, ST_E_INTERNAL,
                        "checkpoint: cannot compare configurations");
    else if (first_difference(a, b, "", path, sizeof(path))) {
        /* the path's last component, looked up from the top */
        const json_t *x = a, *y = b;
        char tmp[256], *save = NULL;
        snprintf(tmp, sizeof(tmp), "%s", path);
        for (char *k = strtok_r(tmp, ".", &save); k;
             k = strtok_r(NULL, ".", &save)) {
            x = json_object_get(x, k);
            y = json_object_get(y, k);
        }
        char *xs = x ? st_json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        char *ys = y ? st_json_dumps(y, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        rc = st_err_set(err, ST_E_DENIED,
                        "checkpoint: %s is %s, the signed spec says %s", path,
                        xs ? xs : "(absent)", ys ? ys : "(absent)");
        free(xs);
        free(ys);
    }
    json_decref(a);
    json_decref(b);
    return rc;
}

static ST_MUST_CHECK st_code restore(const uint8_t *buf, size_t len,
                                     const st_train_config *want,
                                     st_trainer **out, st_err *err)
{
    if (!buf || len < 16 + ST_SHA256_LEN)
        return bad(err, "truncated");
    if (memcmp(buf, CKPT_MAGIC, 8) != 0)
        return bad(err, "not a sealtrain checkpoint (bad magic)");
    uint8_t digest[ST_SHA256_LEN];
    st_sha256(buf, len - ST_SHA256_LEN, digest);
    if (!st_ct_equal(digest, buf + len - ST_SHA256_LEN, ST_SHA256_LEN))
        return bad(err, "digest mismatch (corrupted or truncated)");
    st_reader r;
    st_reader_init(&r, buf + 8, len - 8 - ST_SHA256_LEN);
    uint32_t version = st_read_u32le(&r);
    if (version != CKPT_VERSION)
        return st_err_set(err, ST_E_INPUT,
                          "checkpoint: version %u, this build reads %u",
                          version, CKPT_VERSION);
    uint32_t cl = st_read_u32le(&r);
    if (r.failed || cl > CKPT_MAX_CONFIG)
        return bad(err, "configuration length out of bounds");
    const uint8_t *ctext = st_read_view(&r, cl);
    if (!ctext)
        return bad(err, "truncated configuration");
    st_train_config cfg;
    st_code rc = parse_config(ctext, cl, &cfg, err);
    if (rc)
        return rc;
    /* resuming a job: the trainer is the signed spec's; the checkpoint
     * only supplies state, and only for exactly that configuration */
    if (want) {
        if ((rc = config_matches(&cfg, want, err)))
            return rc;
        cfg = *want;
    }
    /* the fixed-size state first, and the tensor bytes it announces
       checked against what is left, before allocating anything */
    uint64_t nparams = st_read_u64le(&r);
    uint32_t nmoments = st_read_u32le(&r);
    uint32_t epoch = st_read_u32le(&r);
    uint64_t step = st_read_u64le(&r);
    st_rng rng;
    for (int i = 0; i < 4; i++)
        rng.s[i] = st_read_u64le(&r);
    double best_metric;
    st_read_bytes(&r, &best_metric, 8);
    uint32_t best_epoch = st_read_u32le(&r);
    uint32_t bad_epochs = st_read_u32le(&r);
    uint8_t has_best = st_read_u8(&r), stopped = st_read_u8(&r);
    uint8_t nb = st_read_u8(&r), has_pp = st_read_u8(&r);
    if (r.failed)
        return bad(err, "truncated state");
    uint64_t npp = has_pp == 1 ? 2 * (uint64_t)cfg.inputs : 0;
    if (nmoments > 2 || nb > 1 || nparams > st_reader_left(&r) / 4 ||
        npp > st_reader_left(&r) / 4 ||
        st_reader_left(&r) != (1 + nmoments + nb) * nparams * 4 + npp * 4)
        return bad(err, "tensor sizes do not match the buffer");
    st_trainer *t;
    if ((rc = st_trainer_alloc(&cfg, &t, err)))
        return st_err_prefix(err, "checkpoint");
    t->epoch = epoch;
    t->step = step;
    t->rng = rng;
    t->best_metric = best_metric;
    t->best_epoch = best_epoch;
    t->bad_epochs = bad_epochs;
    const char *why = NULL;
    if (nparams != t->nparams || nmoments != t->nmoments)
        why = "parameter or moment count does not match the configuration";
    else if (has_best > 1 || stopped > 1 || has_pp > 1 ||
             nb != (t->best != NULL) || (has_pp && !t->pp_shift) ||
             (t->pp_shift && !has_pp && epoch > 0))
        why = "invalid flags";
    else if (t->epoch > cfg.epochs || t->best_epoch > t->epoch ||
             (t->rng.s[0] | t->rng.s[1] | t->rng.s[2] | t->rng.s[3]) == 0)
        why = "inconsistent progress fields";
    size_t pb = t->nparams * sizeof(float);
    if (!why) {
        st_read_bytes(&r, t->params, pb);
        if (t->nmoments >= 1)
            st_read_bytes(&r, t->m1, pb);
        if (t->nmoments >= 2)
            st_read_bytes(&r, t->m2, pb);
        if (nb)
            st_read_bytes(&r, t->best, pb);
        if (has_pp) {
            st_read_bytes(&r, t->pp_shift, cfg.inputs * sizeof(float));
            st_read_bytes(&r, t->pp_scale, cfg.inputs * sizeof(float));
            t->pp_fitted = 1;
            for (size_t i = 0; i < cfg.inputs; i++)
                if (!isfinite(t->pp_shift[i]) || !isfinite(t->pp_scale[i]) ||
                    t->pp_scale[i] <= 0.0f)
                    why = "preprocessing statistics are not finite and "
                          "positive";
        }
        if (r.failed)
            why = "truncated tensors";
        else if (st_reader_left(&r) != 0)
            why = "trailing bytes";
    }
    if (why) {
        st_trainer_free(t);
        return bad(err, why);
    }
    t->has_best = has_best;
    t->stopped = stopped;
    *out = t;
    return ST_OK;
}

st_code st_trainer_restore(const uint8_t *buf, size_t len, st_trainer **out,
                           st_err *err)
{
    return restore(buf, len, NULL, out, err);
}

st_code st_trainer_resume(const st_train_config *cfg, const uint8_t *buf,
                          size_t len, st_trainer **out, st_err *err)
{
    if (!cfg)
        return st_err_set(err, ST_E_USAGE, "resume: no configuration");
    return restore(buf, len, cfg, out, err);
}
