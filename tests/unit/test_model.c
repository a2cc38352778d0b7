/*
 * test_model.c: verifying a sealed model against its provenance, on models
 * built here from the real pieces (training engine, age, sim evidence,
 * DSSE) the way the enclave runtime builds them. Proves: an honest model
 * passes; a statement re-signed by a key the evidence does not bind, a
 * changed nonce, missing evidence, an unpinned platform key or a changed
 * file each fail on the claim that names the problem; a malformed
 * envelope is an input error; model references parse strictly.
 */
#include "attest/trace.h"
#include "crypto/age_stream.h"
#include "crypto/primitives.h"
#include "st_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/dsse.h"
#include <sealtrain/sealtrain.h>

#include "train/train.h"

static const char policy[] = "{\"version\":1,\"tee\":[\"sim\"]}";

typedef struct sealed {
    char dir[64], model[128];
    uint8_t x_priv[32], x_pub[32], ed_seed[32], ed_pub[32];
    uint8_t nonce[32], spec[32];
    uint8_t sim_seed[32], sim_pub[32];
    uint8_t measurement[32]; /* of the runtime, as the evidence reports it */
    char *spec_text;         /* the signed job spec (payload) */
    json_t *evidence;        /* bundle object */
} sealed;

/* A trained model sealed with age to a fresh recipient. */
static void seal(sealed *s)
{
    st_err err;
    snprintf(s->dir, sizeof(s->dir), "/tmp/st-model.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->model, sizeof(s->model), "%s/m.age", s->dir);
    float x[64 * 4], y[64];
    for (int i = 0; i < 64; i++) {
        y[i] = (float)(i % 2);
        for (int j = 0; j < 4; j++)
            x[i * 4 + j] = (float)((i * 7 + j * 3) % 11) / 11.0f + y[i];
    }
    st_train_config cfg;
    json_t *m = json_pack("{s:s}", "type", "logistic");
    json_t *t = json_pack("{s:i}", "epochs", 2);
    assert_int_equal(st_train_config_from_json(m, t, &cfg, &err), ST_OK);
    st_train_data d = {x, y, 64, 4, 1, 2};
    assert_int_equal(st_train_config_resolve(&cfg, &d, &err), ST_OK);
    st_trainer *tr = NULL;
    assert_int_equal(st_trainer_new(&cfg, &tr, &err), ST_OK);
    assert_int_equal(st_trainer_fit(tr, &d, NULL, NULL, NULL, &err), ST_OK);
    st_secret *sf = NULL;
    assert_int_equal(st_trainer_save_safetensors(tr, NULL, &sf, &err), ST_OK);
    st_secret *id = NULL;
    char rcpt[ST_AGE_RECIPIENT_STRLEN];
    assert_int_equal(st_age_keygen(&id, rcpt, &err), ST_OK);
    st_age_recipient r;
    assert_int_equal(st_age_x25519_recipient(rcpt, &r, &err), ST_OK);
    st_age_writer *w = NULL;
    assert_int_equal(st_age_writer_new_file(s->model, 0600, &r, 1,
                                            ST_AGE_ARMOR_NO, &w, &err),
                     ST_OK);
    assert_int_equal(
        st_age_writer_write(w, st_secret_bytes(sf), st_secret_len(sf), &err),
        ST_OK);
    assert_int_equal(st_age_writer_finish(w, &err), ST_OK);
    st_age_recipient_clear(&r);
    st_secret_free(id);
    /* the signed spec the runtime ran: trains on "digits" */
    json_t *spec = json_pack(
        "{s:i,s:s,s:{s:s},s:{s:i},s:{s:s},s:{s:s},s:{s:s,s:[s]}}", "version", 1,
        "name", "m", "model", "type", "logistic", "training", "epochs", 2,
        "datasets", "train", "digits", "security", "tee", "sim", "outputs",
        "model", "m", "recipients", rcpt);
    s->spec_text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(spec);
    assert_non_null(s->spec_text);
    st_secret_free(sf);
    st_trainer_free(tr);
    json_decref(m);
    json_decref(t);

    /* the runtime's keys, the broker's nonce, sim evidence binding them */
    assert_int_equal(st_random(s->x_priv, 32, &err), ST_OK);
    assert_int_equal(st_random(s->ed_seed, 32, &err), ST_OK);
    assert_int_equal(st_random(s->nonce, 32, &err), ST_OK);
    st_sha256(s->spec_text, strlen(s->spec_text), s->spec);
    assert_int_equal(st_random(s->sim_seed, 32, &err), ST_OK);
    assert_int_equal(st_random(s->measurement, 32, &err), ST_OK);
    assert_int_equal(st_x25519_public(s->x_priv, s->x_pub, &err), ST_OK);
    assert_int_equal(st_ed25519_public(s->ed_seed, s->ed_pub, &err), ST_OK);
    assert_int_equal(st_ed25519_public(s->sim_seed, s->sim_pub, &err), ST_OK);
    uint8_t rd[64];
    st_broker_report_data(s->x_pub, s->ed_pub, s->nonce, s->spec, rd);
    st_evidence *ev = NULL;
    assert_int_equal(st_attest_sim_evidence(s->sim_seed, rd, s->measurement,
                                            1700000000, &ev, &err),
                     ST_OK);
    size_t len;
    char *bundle = st_evidence_to_json(ev, &len, &err);
    assert_non_null(bundle);
    s->evidence = json_loadb(bundle, len, 0, NULL);
    free(bundle);
    st_evidence_free(ev);
}

static void hex(const uint8_t *b, char out[65])
{
    st_hex_encode(b, 32, out);
}

/* The statement as the runtime writes it, signed by `signer` and naming
 * `named` as its runtime key and `measurement` as the runtime's;
 * `with_attestation` 0 leaves the evidence out. */
static json_t *provenance_full(const sealed *s, const uint8_t signer[32],
                               const uint8_t named[32], const uint8_t nonce[32],
                               const uint8_t measurement[32],
                               const char *dataset, int with_attestation)
{
    st_err err;
    uint8_t d[32];
    char fh[65], sh[65], xh[65], eh[65], nh[65], mh[65];
    assert_int_equal(st_sha256_file(s->model, d, &err), ST_OK);
    hex(d, fh);
    hex(s->spec, sh);
    hex(s->x_pub, xh);
    hex(named, eh);
    hex(nonce, nh);
    hex(measurement, mh);
    json_t *stmt = json_pack(
        "{s:s,s:[{s:s,s:{s:s}}],s:s,s:{s:s,s:{s:s,s:s},s:[{s:s,s:s,s:{s:s}}],"
        "s:{s:s,s:{s:s},s:s,s:s}}}",
        "_type", "https://in-toto.io/Statement/v1", "subject", "name", "m.age",
        "digest", "sha256", fh, "predicateType", ST_MODEL_PREDICATE,
        "predicate", "job_id", "j0123456789abcde", "job_spec", "sha256", sh,
        "payload", s->spec_text, "datasets", "name", dataset, "role", "train",
        "digest", "sha256", fh, "runtime", "tee", "sim", "measurement",
        "sha256", mh, "x25519", xh, "ed25519", eh);
    if (with_attestation)
        json_object_set_new(
            json_object_get(stmt, "predicate"), "attestation",
            json_pack("{s:s,s:O}", "nonce", nh, "evidence", s->evidence));
    char *text = json_dumps(stmt, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *env = st_dsse_sign(ST_DSSE_TYPE_INTOTO, (const uint8_t *)text,
                               strlen(text), signer, &err);
    assert_non_null(env);
    free(text);
    json_decref(stmt);
    return env;
}

static json_t *provenance_measured(const sealed *s, const uint8_t signer[32],
                                   const uint8_t named[32],
                                   const uint8_t nonce[32],
                                   const uint8_t measurement[32],
                                   int with_attestation)
{
    return provenance_full(s, signer, named, nonce, measurement, "digits",
                           with_attestation);
}

static json_t *provenance(const sealed *s, const uint8_t signer[32],
                          const uint8_t named[32], const uint8_t nonce[32],
                          int with_attestation)
{
    return provenance_measured(s, signer, named, nonce, s->measurement,
                               with_attestation);
}

static void unseal(sealed *s)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
    assert_int_equal(system(cmd), 0);
    json_decref(s->evidence);
    free(s->spec_text);
}

/* Runs the verifier; returns the first failing claim ("" on pass). */
static const char *verify(const sealed *s, const json_t *env,
                          const uint8_t *sim_pub, st_verdict *v)
{
    st_err err;
    st_attest_refs refs = {0};
    refs.sim_platform_key = sim_pub;
    st_model_verify_opts o = {policy, strlen(policy), &refs, NULL, 1700000000};
    st_verdict_init(v);
    assert_int_equal(st_model_verify(s->model, env, NULL, &o, v, &err), ST_OK);
    const st_trace_entry *f = st_trace_first_failure(&v->trace);
    return f ? f->claim : "";
}

static int trace_failed(const st_verdict *v, const char *claim)
{
    for (size_t i = 0; i < v->trace.n; i++)
        if (!strcmp(v->trace.entries[i].claim, claim))
            return !v->trace.entries[i].ok;
    return 0;
}

static void test_verify_honest_model_passes(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    json_t *env = provenance(&s, s.ed_seed, s.ed_pub, s.nonce, 1);
    st_verdict v;
    assert_string_equal(verify(&s, env, s.sim_pub, &v), "");
    assert_true(v.pass);
    assert_int_equal(v.claims.tee, ST_TEE_SIM);
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

static void test_verify_refuses_key_not_bound_in_evidence(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    /* someone with another key re-signs and names their own key: the
     * signature checks out, the evidence does not bind that key */
    uint8_t other[32], other_pub[32];
    st_err err;
    assert_int_equal(st_random(other, 32, &err), ST_OK);
    assert_int_equal(st_ed25519_public(other, other_pub, &err), ST_OK);
    json_t *env = provenance(&s, other, other_pub, s.nonce, 1);
    st_verdict v;
    verify(&s, env, s.sim_pub, &v);
    assert_false(v.pass);
    assert_false(trace_failed(&v, "provenance.signature"));
    assert_true(trace_failed(&v, "provenance.key_binding"));
    assert_true(trace_failed(&v, "report_data"));
    st_verdict_free(&v);
    json_decref(env);
    /* signed by the runtime key but naming another key: signature fails */
    env = provenance(&s, s.ed_seed, other_pub, s.nonce, 1);
    verify(&s, env, s.sim_pub, &v);
    assert_false(v.pass);
    assert_true(trace_failed(&v, "provenance.signature"));
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

static void test_verify_refuses_changed_nonce(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    uint8_t nonce[32];
    memcpy(nonce, s.nonce, 32);
    nonce[0] ^= 1;
    json_t *env = provenance(&s, s.ed_seed, s.ed_pub, nonce, 1);
    st_verdict v;
    assert_string_equal(verify(&s, env, s.sim_pub, &v), "report_data");
    assert_true(trace_failed(&v, "provenance.key_binding"));
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

static void test_verify_refuses_missing_evidence(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    json_t *env = provenance(&s, s.ed_seed, s.ed_pub, s.nonce, 0);
    st_verdict v;
    assert_string_equal(verify(&s, env, s.sim_pub, &v), "provenance.evidence");
    assert_false(v.pass);
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

static void test_verify_refuses_unpinned_platform_key(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    json_t *env = provenance(&s, s.ed_seed, s.ed_pub, s.nonce, 1);
    uint8_t wrong[32];
    memcpy(wrong, s.sim_pub, 32);
    wrong[5] ^= 0x40;
    st_verdict v;
    verify(&s, env, wrong, &v);
    assert_false(v.pass);
    st_verdict_free(&v);
    verify(&s, env, NULL, &v); /* no platform key at all: sim refused */
    assert_false(v.pass);
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

static void test_verify_refuses_changed_file(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    json_t *env = provenance(&s, s.ed_seed, s.ed_pub, s.nonce, 1);
    FILE *f = fopen(s.model, "r+b");
    assert_non_null(f);
    fseek(f, -3, SEEK_END);
    fputc('Z', f);
    fclose(f);
    st_verdict v;
    assert_string_equal(verify(&s, env, s.sim_pub, &v), "model.digest");
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

/* The runtime once wrote the model file's digest where its own
 * measurement belongs (issue 13): a statement whose runtime measurement
 * is not the one the evidence attests must fail, whoever signed it. */
static void test_verify_refuses_measurement_not_in_evidence(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    uint8_t file_digest[32];
    st_err err;
    assert_int_equal(st_sha256_file(s.model, file_digest, &err), ST_OK);
    json_t *env =
        provenance_measured(&s, s.ed_seed, s.ed_pub, s.nonce, file_digest, 1);
    st_verdict v;
    assert_string_equal(verify(&s, env, s.sim_pub, &v),
                        "provenance.measurement");
    assert_false(v.pass);
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

/* A runtime handed a dataset its spec does not name (issue 17) signed a
 * statement naming it: the statement's datasets must be the spec's. */
static void test_verify_refuses_datasets_unlike_the_spec(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    json_t *env = provenance_full(&s, s.ed_seed, s.ed_pub, s.nonce,
                                  s.measurement, "other", 1);
    st_verdict v;
    assert_string_equal(verify(&s, env, s.sim_pub, &v), "provenance.datasets");
    assert_false(v.pass);
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

static void test_verify_malformed_envelope_is_input_error(void **state)
{
    (void)state;
    sealed s;
    seal(&s);
    st_err err;
    st_verdict v;
    st_verdict_init(&v);
    json_t *env =
        json_pack("{s:s,s:s,s:[]}", "payloadType", ST_DSSE_TYPE_INTOTO,
                  "payload", "!!notbase64", "signatures");
    assert_int_equal(st_model_verify(s.model, env, NULL, NULL, &v, &err),
                     ST_E_INPUT);
    st_verdict_free(&v);
    json_decref(env);
    unseal(&s);
}

static void test_model_refs_parse_strictly(void **state)
{
    (void)state;
    char name[ST_MODEL_NAME_MAX + 1];
    uint32_t v;
    st_err err;
    assert_int_equal(st_model_ref_parse("digits-mlp", name, &v, &err), ST_OK);
    assert_string_equal(name, "digits-mlp");
    assert_int_equal(v, 0);
    assert_int_equal(st_model_ref_parse("digits-mlp@12", name, &v, &err),
                     ST_OK);
    assert_int_equal(v, 12);
    const char *bad[] = {"",         "@1",   "a@",           "a@0",
                         "a@-1",     "a@x",  "a@1x",         "a@ 1",
                         "a/../b@1", "a@+1", "a@99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(st_model_ref_parse(bad[i], name, &v, &err), ST_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_honest_model_passes),
        cmocka_unit_test(test_verify_refuses_key_not_bound_in_evidence),
        cmocka_unit_test(test_verify_refuses_changed_nonce),
        cmocka_unit_test(test_verify_refuses_missing_evidence),
        cmocka_unit_test(test_verify_refuses_unpinned_platform_key),
        cmocka_unit_test(test_verify_refuses_changed_file),
        cmocka_unit_test(test_verify_refuses_measurement_not_in_evidence),
        cmocka_unit_test(test_verify_refuses_datasets_unlike_the_spec),
        cmocka_unit_test(test_verify_malformed_envelope_is_input_error),
        cmocka_unit_test(test_model_refs_parse_strictly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
