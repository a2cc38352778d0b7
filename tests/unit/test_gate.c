/*
 * test_gate.c: the key-release decision (src/broker/gate.c) driven
 * directly, without processes or sockets: one release that passes, and
 * one test per reason the gate refuses, each checking that no key came
 * back and that the refusal is in the audit log. Release policies (signed
 * by the dataset's owner, verified on every read) and the nonce store are
 * tested here too.
 */
#include "attest/ear.h"
#include "crypto/primitives.h"
#include "st_test.h"
#include "st_test_ws.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/gate_internal.h"
#include "crypto/dsse.h"
#include "store/catalog.h"
#include <sealtrain/sealtrain.h>

#define EXAMPLE "examples/jobs/digits-mlp.json"
#define RCPT "age15j0vjxaxyakrwwyw088cytm0ahcalxvyp78nk0ew4sk2q6yr0fwsu2az4a"
#define OTHER "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
#define JOB "j0123456789abcde"

enum { ADMIN, DANA, MO, TR, EVE, NPRINCIPALS };
static const char *const names[NPRINCIPALS] = {"admin", "dana", "mo", "tr",
                                               "eve"};
static const unsigned roles[NPRINCIPALS] = {
    ST_ROLE_ADMIN, ST_ROLE_DATA_OWNER, ST_ROLE_MODEL_OWNER, ST_ROLE_TRAINER,
    ST_ROLE_MODEL_OWNER | ST_ROLE_TRAINER};

typedef struct fixture {
    char *root;
    st_workspace *ws;
    st_keyring *kr;
    uint8_t seeds[NPRINCIPALS][32];
    uint8_t runtime_priv[32];
    st_broker_hello hello;
    st_job_spec spec;
    char *envelope; /* the spec, signed by mo */
} fixture;

static void set_policy(fixture *f, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"version\":1,\"attestation\":{\"version\":1,\"tee\":[\"sim\"]},"
             "\"principals\":[\"mo\"],\"recipients\":[\"" RCPT "\"]%s}",
             extra ? extra : "");
    st_err e;
    assert_st_ok(st_release_policy_set(f->ws, "dana", "digits", text,
                                       strlen(text), "policy.json",
                                       f->seeds[DANA], &e),
                 &e);
}

/* Changes one field of the spec as written (section.key = value). */
static void spec_set(fixture *f, const char *section, const char *key,
                     json_t *value)
{
    json_t *sec = json_object_get(f->spec.root, section);
    assert_non_null(sec);
    json_object_set_new(sec, key, value);
}

/* Signs the fixture's spec as `who` (mo unless a test plays someone). */
static void sign_spec(fixture *f, int who)
{
    st_err e;
    free(f->envelope);
    json_t *env = st_job_spec_sign(&f->spec, f->seeds[who], &e);
    assert_non_null(env);
    f->envelope = json_dumps(env, JSON_COMPACT);
    json_decref(env);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    st_err e;
    char dir[4200];
    f->root = st_test_tmpdir("gate");
    snprintf(dir, sizeof(dir), "%s/ws", f->root);
    st_test_workspace(f->root, dir, &f->ws, &f->kr);
    for (int i = 0; i < NPRINCIPALS; i++) {
        memset(f->seeds[i], 0x11 * (i + 1), 32);
        uint8_t pub[32];
        assert_st_ok(st_ed25519_public(f->seeds[i], pub, &e), &e);
        char *pem = st_ed25519_public_pem(pub, &e);
        assert_st_ok(st_access_principal_add(f->ws, i ? "admin" : NULL,
                                             names[i], roles[i], pem, NULL, &e),
                     &e);
        free(pem);
        st_access_session s;
        assert_st_ok(
            st_access_authenticate(f->ws, names[i], f->seeds[i], &s, &e), &e);
    }
    st_dataset_import_opts o;
    memset(&o, 0, sizeof(o));
    o.input.format = ST_DATA_CSV;
    o.input.path = "examples/data/digits.csv";
    o.input.label = "label";
    o.name = "digits";
    o.owner = "dana";
    o.classification = "confidential";
    o.retention_days = -1;
    o.signing_seed = f->seeds[DANA];
    assert_st_ok(st_dataset_import(f->ws, f->kr, &o, NULL, &e), &e);
    assert_st_ok(
        st_access_grant(f->ws, "dana", "mo", "dataset:digits", "use", &e), &e);
    set_policy(f, NULL);
    assert_st_ok(st_job_spec_load(EXAMPLE, &f->spec, &e), &e);
    spec_set(f, "outputs", "recipients", json_pack("[s]", RCPT));
    sign_spec(f, MO);
    assert_st_ok(st_random(f->runtime_priv, 32, &e), &e);
    assert_st_ok(st_x25519_public(f->runtime_priv, f->hello.x25519, &e), &e);
    memset(f->hello.ed25519, 0x42, 32);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    st_job_spec_free(&f->spec);
    free(f->envelope);
    st_keyring_close(f->kr);
    st_workspace_close(f->ws);
    st_test_rmtree(f->root);
    free(f->root);
    free(f);
    return 0;
}

static st_gate_ask ask_of(fixture *f, const char *runner)
{
    st_gate_ask a;
    memset(&a, 0, sizeof(a));
    a.principal = runner;
    a.submitter = "mo";
    a.job_id = JOB;
    a.envelope = f->envelope;
    a.envelope_len = strlen(f->envelope);
    a.hello = f->hello;
    a.datasets[a.ndatasets++] = "digits";
    return a;
}

/* Sim evidence from this workspace's platform key, bound to the nonce,
 * the runtime's keys and the spec digest (or to `rd` when not NULL). */
static char *evidence(fixture *f, const uint8_t nonce[32], const uint8_t *rd)
{
    st_err e;
    char path[4200];
    uint8_t seed[32], pub[32], digest[32], bound[64];
    assert_st_ok(st_workspace_path(f->ws, "keys", "sim-platform.pem", path,
                                   sizeof(path), &e),
                 &e);
    assert_st_ok(st_attest_sim_key(path, 1, seed, pub, &e), &e);
    /* the digest is SHA-256 of the signed payload */
    json_t *env = json_loads(f->envelope, 0, NULL);
    uint8_t *payload;
    size_t plen;
    assert_st_ok(st_dsse_payload(env, &payload, &plen, &e), &e);
    st_sha256(payload, plen, digest);
    free(payload);
    json_decref(env);
    st_broker_report_data(f->hello.x25519, f->hello.ed25519, nonce, digest,
                          bound);
    st_evidence *ev = NULL;
    assert_st_ok(st_attest_sim_evidence(seed, rd ? rd : bound, NULL,
                                        (int64_t)time(NULL), &ev, &e),
                 &e);
    size_t len;
    char *text = st_evidence_to_json(ev, &len, &e);
    st_evidence_free(ev);
    assert_non_null(text);
    return text;
}

static int audited(fixture *f, const char *needle1, const char *needle2)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/audit/log.jsonl", st_workspace_dir(f->ws));
    unsigned char *text;
    size_t len;
    st_err e;
    assert_st_ok(st_fs_read_all(path, 1 << 24, &text, &len, &e), &e);
    int n = 0;
    for (char *line = strtok((char *)text, "\n"); line;
         line = strtok(NULL, "\n"))
        n += strstr(line, needle1) && (!needle2 || strstr(line, needle2));
    free(text);
    return n;
}

/* The whole exchange; returns the code of the release and leaves the
 * reason in *r. */
static st_code exchange(fixture *f, const char *runner, st_broker_keys *keys,
                        st_gate_result *r, st_err *e)
{
    st_gate *g = NULL;
    st_gate_opts o = {NULL, 1, 1, NULL, 0};
    assert_st_ok(st_gate_open(f->ws, f->kr, &o, &g, e), e);
    st_gate_ask a = ask_of(f, runner);
    uint8_t nonce[32];
    st_code rc = st_gate_hello(g, &a, nonce, e);
    if (rc == ST_OK) {
        char *ev = evidence(f, nonce, NULL);
        rc = st_gate_release(g, runner, nonce, NULL, (const uint8_t *)ev,
                             strlen(ev), keys, r, e);
        free(ev);
    }
    st_gate_close(g);
    return rc;
}

static void expect_refused(fixture *f, const char *runner, const char *why)
{
    st_broker_keys keys;
    keys.n = 0;
    st_gate_result r;
    memset(&r, 0, sizeof(r));
    st_err e;
    st_code got = exchange(f, runner, &keys, &r, &e);
    if (got != ST_E_DENIED)
        fail_msg("expected a refusal, got %d: %s", (int)got, e.msg);
    if (!strstr(e.msg, why))
        fail_msg("refusal \"%s\" does not say \"%s\"", e.msg, why);
    assert_int_equal(keys.n, 0);
    assert_false(r.pass);
    st_gate_result_clear(&r);
    assert_true(audited(f, "\"outcome\":\"denied\"", "key.release") > 0);
    assert_int_equal(audited(f, "key.release", "\"outcome\":\"success\""), 0);
}

static void test_release_wraps_the_file_key_to_the_runtime(void **state)
{
    fixture *f = *state;
    st_broker_keys keys;
    st_gate_result r;
    st_err e;
    assert_st_ok(exchange(f, "tr", &keys, &r, &e), &e);
    assert_true(r.pass);
    assert_int_equal(keys.n, 1);
    assert_string_equal(keys.k[0].name, "dataset:digits");
    st_secret *got = NULL, *want = NULL;
    assert_st_ok(
        st_broker_unwrap_key(f->runtime_priv, JOB, &keys.k[0], &got, &e), &e);
    assert_st_ok(st_dataset_file_key(f->ws, f->kr, "digits", &want, NULL, &e),
                 &e);
    assert_int_equal(st_secret_len(got), st_secret_len(want));
    assert_memory_equal(st_secret_bytes(got), st_secret_bytes(want),
                        st_secret_len(want));
    st_secret_free(got);
    st_secret_free(want);
    /* each verdict as an EAR signed with the workspace's verifier key,
     * its digest in the release's entry */
    char path[4300];
    uint8_t seed[32], pub[32];
    assert_st_ok(st_workspace_path(f->ws, "keys", "ear-verifier.pem", path,
                                   sizeof(path), &e),
                 &e);
    assert_st_ok(st_ear_key_load(path, 0, seed, pub, &e), &e);
    st_wipe(seed, sizeof(seed));
    assert_true(json_array_size(r.ears) > 0);
    assert_int_equal(json_array_size(r.ears), json_array_size(r.verdicts));
    size_t i;
    json_t *ear;
    json_array_foreach(r.ears, i, ear)
    {
        const char *jwt = json_string_value(json_object_get(ear, "ear"));
        json_t *claims = NULL;
        assert_non_null(jwt);
        assert_st_ok(st_ear_verify(jwt, strlen(jwt), pub, &claims, &e), &e);
        assert_non_null(json_object_get(claims, "eat_nonce"));
        json_decref(claims);
        assert_int_equal(
            audited(f, "key.release",
                    json_string_value(json_object_get(ear, "sha256"))),
            1);
    }
    st_gate_result_clear(&r);
    /* one durable entry for the release, naming submitter and runner */
    assert_int_equal(audited(f, "key.release", "\"runner\":\"tr\""), 1);
    assert_int_equal(audited(f, "key.release", "\"submitter\":\"mo\""), 1);
}

/* One exchange taken apart: HELLO as "tr" on a gate opened with `o`,
 * evidence for its nonce (bound to `rd`, NULL: the right binding); the
 * test then calls round_release as whom and for what it likes. */
typedef struct round {
    st_gate *g;
    uint8_t nonce[32];
    char *ev;
} round;

static void round_begin(fixture *f, round *x, st_keyring *kr,
                        const st_gate_opts *o, const uint8_t *rd)
{
    st_err e;
    x->g = NULL;
    assert_st_ok(st_gate_open(f->ws, kr, o, &x->g, &e), &e);
    st_gate_ask a = ask_of(f, "tr");
    assert_st_ok(st_gate_hello(x->g, &a, x->nonce, &e), &e);
    x->ev = evidence(f, x->nonce, rd);
}

/* EVIDENCE for the round's nonce: `want`, saying `why` (when not NULL);
 * a refused or failed release hands back no key */
static void round_release(round *x, const char *principal, const char *only,
                          st_code want, const char *why)
{
    st_broker_keys keys;
    st_gate_result r;
    st_err e;
    st_code got =
        st_gate_release(x->g, principal, x->nonce, only, (const uint8_t *)x->ev,
                        strlen(x->ev), &keys, &r, &e);
    if (got != want)
        fail_msg("release: expected %d, got %d: %s", (int)want, (int)got,
                 e.msg);
    if (why && !strstr(e.msg, why) && !strstr(r.reason, why))
        fail_msg("\"%s\" does not say \"%s\"", e.msg, why);
    if (want != ST_OK) {
        assert_int_equal(keys.n, 0);
        assert_false(r.pass);
    }
    st_gate_result_clear(&r);
}

static void round_end(round *x)
{
    free(x->ev);
    st_gate_close(x->g);
}

static const st_gate_opts with_verdicts = {NULL, 1, 1, NULL, 0};

static void test_replayed_nonce_is_refused(void **state)
{
    round x;
    round_begin(*state, &x, ((fixture *)*state)->kr, &with_verdicts, NULL);
    round_release(&x, "tr", NULL, ST_OK, NULL);
    round_release(&x, "tr", NULL, ST_E_DENIED, "replay");
    round_end(&x);
}

static void test_nonce_of_another_principal_is_refused(void **state)
{
    round x;
    round_begin(*state, &x, ((fixture *)*state)->kr, &with_verdicts, NULL);
    round_release(&x, "eve", NULL, ST_E_DENIED, "another principal");
    round_end(&x);
}

static void test_nonce_for_another_dataset_is_refused(void **state)
{
    round x;
    round_begin(*state, &x, ((fixture *)*state)->kr, &with_verdicts, NULL);
    round_release(&x, "tr", "other", ST_E_DENIED, "issued for dataset");
    round_end(&x);
}

static void test_evidence_bound_to_other_data_is_refused(void **state)
{
    round x;
    uint8_t other[64] = {1};
    round_begin(*state, &x, ((fixture *)*state)->kr, &with_verdicts, other);
    round_release(&x, "tr", NULL, ST_E_DENIED, "dataset:digits");
    round_end(&x);
}

/* An EVIDENCE takes its HELLO's consent when the catalog did not change
 * in between (gate.c, "the HELLO's consent"). The connection looks at the
 * catalog once first: its very first look counts as a change. */
static void test_unchanged_catalog_reuses_the_hellos_consent(void **state)
{
    fixture *f = *state;
    round x;
    assert_true(st_catalog_epoch_observe(f->ws) != 0);
    unsigned long before = st_gate_consent_reused();
    round_begin(f, &x, f->kr, &with_verdicts, NULL);
    round_release(&x, "tr", NULL, ST_OK, NULL);
    round_end(&x);
    assert_int_equal(st_gate_consent_reused(), before + 1);
    assert_int_equal(audited(f, "key.release", "\"outcome\":\"success\""), 1);
}

/* A change between HELLO and EVIDENCE, made by `change`, must stop the
 * release, saying `why`, with the HELLO's consent not taken. */
static void changed_between(fixture *f, void (*change)(fixture *),
                            const char *why)
{
    round x;
    assert_true(st_catalog_epoch_observe(f->ws) != 0);
    unsigned long before = st_gate_consent_reused();
    round_begin(f, &x, f->kr, &with_verdicts, NULL);
    change(f);
    round_release(&x, "tr", NULL, ST_E_DENIED, why);
    round_end(&x);
    assert_int_equal(st_gate_consent_reused(), before);
    assert_int_equal(audited(f, "key.release", "\"outcome\":\"success\""), 0);
}

/* on the gate's own connection */
static void revoke_use(fixture *f)
{
    st_err e;
    assert_st_ok(
        st_access_revoke(f->ws, "dana", "mo", "dataset:digits", "use", &e), &e);
}

static void test_grant_revoked_between_hello_and_evidence(void **state)
{
    changed_between(*state, revoke_use, "use");
}

/* on another connection (another worker's, or the CLI's) */
static void revoke_use_elsewhere(fixture *f)
{
    st_workspace *ws2 = NULL;
    st_err e;
    assert_st_ok(st_workspace_open(st_workspace_dir(f->ws), &ws2, &e), &e);
    assert_st_ok(
        st_access_revoke(ws2, "dana", "mo", "dataset:digits", "use", &e), &e);
    st_workspace_close(ws2);
}

static void
test_grant_revoked_elsewhere_between_hello_and_evidence(void **state)
{
    changed_between(*state, revoke_use_elsewhere, "use");
}

static void disable_submitter(fixture *f)
{
    st_err e;
    assert_st_ok(st_access_principal_disable(f->ws, "admin", "mo", 1, &e), &e);
}

static void test_submitter_disabled_between_hello_and_evidence(void **state)
{
    changed_between(*state, disable_submitter, "disabled");
}

/* a raw UPDATE of the policy's row, by a connection of its own */
static void edit_policy_row(fixture *f)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/catalog.db", st_workspace_dir(f->ws));
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE release_policies SET policy="
                                  "replace(policy,'\"mo\"','\"*\"')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

static void test_policy_row_edited_between_hello_and_evidence(void **state)
{
    changed_between(*state, edit_policy_row, "edited");
}

/* One exchange that must release the key (as "tr"). */
static void expect_released(fixture *f)
{
    st_broker_keys keys;
    st_gate_result r;
    st_err e;
    assert_st_ok(exchange(f, "tr", &keys, &r, &e), &e);
    assert_true(r.pass);
    assert_int_equal(keys.n, 1);
    st_gate_result_clear(&r);
}

/* One exchange that must not release the key, saying `why`. */
static void release_refused(fixture *f, const char *why)
{
    st_broker_keys keys;
    st_gate_result r;
    memset(&r, 0, sizeof(r));
    keys.n = 0;
    st_err e;
    st_code rc = exchange(f, "tr", &keys, &r, &e);
    if (rc == ST_OK)
        fail_msg("released; expected a refusal saying \"%s\"", why);
    assert_int_equal(keys.n, 0);
    assert_false(r.pass);
    if (!strstr(e.msg, why) && !strstr(r.reason, why))
        fail_msg("\"%s\" does not say \"%s\"", e.msg, why);
    st_gate_result_clear(&r);
}

/* Two releases of one job with nothing changed in between: the second
 * takes what the first read, as the counter `reused` counts. */
static void second_release_reuses(fixture *f, unsigned long (*reused)(void))
{
    assert_true(st_catalog_epoch_observe(f->ws) != 0);
    unsigned long before = reused();
    expect_released(f);
    expect_released(f);
    assert_int_equal(reused(), before + 1);
}

/* Two HELLOs of one job on a catalog that did not change in between: the
 * second takes the first's checks (spec signature, consent). */
static void test_unchanged_catalog_reuses_a_hellos_checks(void **state)
{
    second_release_reuses(*state, st_gate_hello_reused);
}

/* A change between two HELLOs of one job, made by `change`, must refuse
 * the second HELLO, saying `why`, with the first's checks not taken. */
static void changed_between_hellos(fixture *f, void (*change)(fixture *),
                                   const char *why)
{
    assert_true(st_catalog_epoch_observe(f->ws) != 0);
    expect_released(f);
    unsigned long before = st_gate_hello_reused();
    change(f);
    release_refused(f, why);
    assert_int_equal(st_gate_hello_reused(), before);
}

static void test_grant_revoked_between_two_hellos(void **state)
{
    changed_between_hellos(*state, revoke_use, "use");
}

static void test_grant_revoked_elsewhere_between_two_hellos(void **state)
{
    changed_between_hellos(*state, revoke_use_elsewhere, "use");
}

static void test_submitter_disabled_between_two_hellos(void **state)
{
    changed_between_hellos(*state, disable_submitter, "disabled");
}

static void test_policy_row_edited_between_two_hellos(void **state)
{
    changed_between_hellos(*state, edit_policy_row, "edited");
}

/* Another runner, or a spec signed again (other bytes), is not the HELLO
 * whose checks were kept: each is checked in full. */
static void test_other_runner_or_spec_is_checked_again(void **state)
{
    fixture *f = *state;
    expect_released(f);
    expect_released(f); /* the checks are kept now */
    unsigned long before = st_gate_hello_reused();
    /* the same job asked by admin, who may not run jobs */
    st_broker_keys keys;
    keys.n = 0;
    st_gate_result r;
    memset(&r, 0, sizeof(r));
    st_err e;
    assert_int_equal(exchange(f, "admin", &keys, &r, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, "job.run"));
    assert_int_equal(keys.n, 0);
    st_gate_result_clear(&r);
    /* the same spec signed by another key: other bytes */
    sign_spec(f, EVE);
    release_refused(f, "not a job spec signed by the key");
    assert_int_equal(st_gate_hello_reused(), before);
}

/* A file key read for one release is handed out again while nothing it
 * depends on changed: the catalog, the dataset file, the keyring file. */
static void test_file_key_is_kept_while_nothing_changed(void **state)
{
    fixture *f = *state;
    second_release_reuses(f, st_gate_keys_reused);
    unsigned long before = st_gate_keys_reused() - 1;
    /* the dataset file touched (same bytes, new times): read again */
    st_dataset_record d;
    st_err e;
    assert_st_ok(st_dataset_get(f->ws, "digits", &d, &e), &e);
    assert_int_equal(utimensat(AT_FDCWD, d.path, NULL, 0), 0);
    st_dataset_record_free(&d);
    expect_released(f);
    assert_int_equal(st_gate_keys_reused(), before + 1);
    expect_released(f);
    assert_int_equal(st_gate_keys_reused(), before + 2);
}

/* The KEK version revoked after a release: the next release is refused
 * (the keyring file changed: the kept key is not used). */
static void test_file_key_kept_is_dropped_when_its_kek_is_revoked(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_true(st_catalog_epoch_observe(f->ws) != 0);
    expect_released(f);
    expect_released(f);
    unsigned long before = st_gate_keys_reused();
    assert_st_ok(st_kek_revoke(f->kr, "dana", "owner.dana", 1, &e), &e);
    release_refused(f, "revoked");
    assert_int_equal(st_gate_keys_reused(), before);
}

/* The keyring file changed (here only its times, so that the catalog
 * stays as it was and the keyring still opens the key): read again. */
static void
test_file_key_kept_is_read_again_when_the_keyring_changes(void **state)
{
    fixture *f = *state;
    char path[4300];
    snprintf(path, sizeof(path), "%s/keys/keyring.json",
             st_workspace_dir(f->ws));
    assert_true(st_catalog_epoch_observe(f->ws) != 0);
    expect_released(f);
    expect_released(f);
    unsigned long before = st_gate_keys_reused();
    assert_int_equal(utimensat(AT_FDCWD, path, NULL, 0), 0);
    expect_released(f);
    assert_int_equal(st_gate_keys_reused(), before);
    expect_released(f);
    assert_int_equal(st_gate_keys_reused(), before + 1);
}

/* No key leaves unless its key.release entry is durable: with the audit
 * log unwritable after HELLO (its file replaced by a directory, which
 * stops root too), the release fails and hands back nothing. */
static void test_unaudited_release_hands_back_nothing(void **state)
{
    fixture *f = *state;
    const st_gate_opts decision_only = {NULL, 1, 0, NULL, 0};
    round x;
    round_begin(f, &x, f->kr, &decision_only, NULL);
    char log[4300], aside[4310];
    snprintf(log, sizeof(log), "%s/audit/log.jsonl", st_workspace_dir(f->ws));
    snprintf(aside, sizeof(aside), "%s.aside", log);
    assert_int_equal(rename(log, aside), 0);
    assert_int_equal(mkdir(log, 0700), 0);
    round_release(&x, "tr", NULL, ST_E_IO, "audit");
    assert_int_equal(rmdir(log), 0);
    assert_int_equal(rename(aside, log), 0);
    assert_int_equal(audited(f, "key.release", "\"outcome\":\"success\""), 0);
    round_end(&x);
}

static void test_disabled_submitter_is_refused(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(st_access_principal_disable(f->ws, "admin", "mo", 1, &e), &e);
    expect_refused(f, "tr", "disabled");
}

static void test_runner_without_job_run_is_refused(void **state)
{
    fixture *f = *state;
    expect_refused(f, "dana", "job.run");
}

static void test_spec_signed_by_another_key_is_refused(void **state)
{
    fixture *f = *state;
    sign_spec(f, EVE);
    expect_refused(f, "tr", "not a job spec signed by the key registered");
}

static void test_dataset_not_in_the_spec_is_refused(void **state)
{
    fixture *f = *state;
    spec_set(f, "datasets", "train", json_string("other"));
    sign_spec(f, MO);
    expect_refused(f, "tr", "not among the job spec's datasets");
}

static void test_validation_dataset_needs_consent_too(void **state)
{
    fixture *f = *state;
    st_err e;
    /* a second dataset of dana's, open to anyone by its policy, but mo
     * holds no grant on it */
    st_dataset_import_opts o;
    memset(&o, 0, sizeof(o));
    o.input.format = ST_DATA_CSV;
    o.input.path = "examples/data/digits.csv";
    o.input.label = "label";
    o.name = "ed";
    o.owner = "dana";
    o.classification = "confidential";
    o.retention_days = -1;
    o.signing_seed = f->seeds[DANA];
    assert_st_ok(st_dataset_import(f->ws, f->kr, &o, NULL, &e), &e);
    const char *open =
        "{\"version\":1,\"attestation\":{\"version\":1,\"tee\":"
        "[\"sim\"]},\"principals\":[\"*\"],\"recipients\":[\"" RCPT "\"]}";
    assert_st_ok(st_release_policy_set(f->ws, "dana", "ed", open, strlen(open),
                                       "p", f->seeds[DANA], &e),
                 &e);
    snprintf(f->spec.valid_dataset, sizeof(f->spec.valid_dataset), "ed");
    assert_int_equal(st_gate_consent(f->ws, "mo", "tr", &f->spec, NULL, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "dataset:ed"));
}

static void test_edited_policy_row_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(sqlite3_exec(st_workspace_db(f->ws),
                                  "UPDATE release_policies SET policy="
                                  "replace(policy,'\"mo\"','\"*\"')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    expect_refused(f, "tr", "edited");
}

static void test_unsigned_policy_row_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(sqlite3_exec(st_workspace_db(f->ws),
                                  "UPDATE release_policies SET envelope=''",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    expect_refused(f, "tr", "not signed");
}

static void test_policy_signed_by_another_key_is_refused(void **state)
{
    fixture *f = *state;
    const char *p =
        "{\"version\":1,\"attestation\":{\"version\":1,\"tee\":"
        "[\"sim\"]},\"principals\":[\"*\"],\"recipients\":[\"" RCPT "\"]}";
    st_err e;
    /* eve cannot sign dana's policy ... */
    assert_int_equal(st_release_policy_set(f->ws, "eve", "digits", p, strlen(p),
                                           "p", f->seeds[EVE], &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "owner"));
    /* ... nor slip in her envelope for it */
    json_t *stmt = json_pack("{s:s,s:s,s:{}}", "dataset", "digits",
                             "dataset_id", "x", "policy");
    char *payload = json_dumps(stmt, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *env =
        st_dsse_sign(ST_DSSE_TYPE_RELEASE_POLICY, (const uint8_t *)payload,
                     strlen(payload), f->seeds[EVE], &e);
    char *text = json_dumps(env, JSON_COMPACT);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(st_workspace_db(f->ws),
                                        "UPDATE release_policies SET "
                                        "envelope=?",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    free(text);
    json_decref(env);
    free(payload);
    json_decref(stmt);
    expect_refused(f, "tr", "not signed by its owner");
}

static void test_recipient_outside_the_policy_is_refused(void **state)
{
    fixture *f = *state;
    spec_set(f, "outputs", "recipients", json_pack("[s,s]", RCPT, OTHER));
    sign_spec(f, MO);
    expect_refused(f, "tr", OTHER);
}

static void test_policy_requires_secret_memory(void **state)
{
    fixture *f = *state;
    set_policy(f, ",\"requires\":{\"sandbox\":\"strict\",\"memory\":"
                  "\"secret\"}");
    spec_set(f, "security", "memory", json_string("locked"));
    sign_spec(f, MO);
    expect_refused(f, "tr", "requires \"secret\" memory");
}

static void test_policy_requires_strict_sandbox(void **state)
{
    fixture *f = *state;
    set_policy(f, ",\"requires\":{\"sandbox\":\"strict\"}");
    spec_set(f, "security", "sandbox", json_string("relaxed"));
    sign_spec(f, MO);
    expect_refused(f, "tr", "strict sandbox");
}

static void test_no_policy_is_never_released(void **state)
{
    fixture *f = *state;
    assert_int_equal(sqlite3_exec(st_workspace_db(f->ws),
                                  "DELETE FROM release_policies", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    expect_refused(f, "tr", "has no release policy");
}

static void test_policy_parser_names_the_bad_key(void **state)
{
    (void)state;
    st_release_policy *p = NULL;
    st_err e;
    const char *bad =
        "{\"version\":1,\"attestation\":{\"version\":1,\"tee\":"
        "[\"sim\"]},\"principals\":[\"a\"],\"recipients\":[\"" RCPT
        "\"],\"requires\":{\"memory\":\"paged\"}}";
    assert_int_equal(
        st_release_policy_parse(bad, strlen(bad), "p.json", &p, &e),
        ST_E_INPUT);
    assert_non_null(strstr(e.msg, "requires.memory"));
    const char *colour =
        "{\"version\":1,\"attestation\":{\"version\":1,"
        "\"tee\":[\"sim\"],\"colour\":1},\"principals\":[\"a\"],"
        "\"recipients\":[\"" RCPT "\"]}";
    assert_int_equal(
        st_release_policy_parse(colour, strlen(colour), "p.json", &p, &e),
        ST_E_INPUT);
    assert_non_null(strstr(e.msg, "colour"));
    assert_null(p);
}

/* A model-use spec (evaluate digits with model m@1), signed by mo, and
 * a policy that lets mo evaluate; `model_owner` owns model:m. */
static void use_spec_keyed(fixture *f, const char *model_owner,
                           int by_requester)
{
    st_err e;
    const char *text =
        by_requester
            ? "{\"version\":1,\"name\":\"evaluate-m\",\"use\":{\"model\":"
              "\"m\",\"version\":1,\"mode\":\"evaluate\",\"key\":"
              "\"requester\"},\"datasets\":{\"input\":\"digits\"}}"
            : "{\"version\":1,\"name\":\"evaluate-m\",\"use\":{\"model\":"
              "\"m\",\"version\":1,\"mode\":\"evaluate\"},\"datasets\":{"
              "\"input\":\"digits\"}}";
    st_job_spec_free(&f->spec);
    assert_st_ok(st_job_spec_parse(text, strlen(text), "t", &f->spec, &e), &e);
    sign_spec(f, MO);
    set_policy(f, ",\"uses\":{\"evaluate\":[\"mo\"]}");
    assert_st_ok(st_access_set_owner(f->ws, "model:m", model_owner, &e), &e);
}

static void use_spec(fixture *f, const char *model_owner)
{
    use_spec_keyed(f, model_owner, 0);
}

/* The exchange with a model key offered (or not: NULL), by a controller
 * that lets the requester wrap it (by_requester) or not; tr runs it. */
static st_code exchange_model_as(fixture *f, const st_secret *mk,
                                 int by_requester, st_broker_keys *keys,
                                 st_gate_result *r, st_err *e)
{
    st_gate *g = NULL;
    st_gate_opts o = {NULL, 1, 1, mk, by_requester};
    assert_st_ok(st_gate_open(f->ws, f->kr, &o, &g, e), e);
    st_gate_ask a = ask_of(f, "tr");
    uint8_t nonce[32];
    st_code rc = st_gate_hello(g, &a, nonce, e);
    if (rc == ST_OK) {
        char *ev = evidence(f, nonce, NULL);
        rc = st_gate_release(g, "tr", nonce, NULL, (const uint8_t *)ev,
                             strlen(ev), keys, r, e);
        free(ev);
    }
    st_gate_close(g);
    return rc;
}

static st_code exchange_model(fixture *f, const st_secret *mk,
                              st_broker_keys *keys, st_gate_result *r,
                              st_err *e)
{
    return exchange_model_as(f, mk, 0, keys, r, e);
}

/* A spec that asks its requester to wrap the model key: only the local
 * controller's gate may let the datasets' keys go without it (a remote
 * owner's broker refuses, as for any model use), and only for such a
 * spec; the decision is recorded on the model as for an offered key. */
static void
test_requester_wrapped_model_key_needs_spec_and_controller(void **state)
{
    fixture *f = *state;
    st_err e;
    st_broker_keys keys;
    keys.n = 0;
    st_gate_result r;
    memset(&r, 0, sizeof(r));
    /* a spec that did not ask: the controller may not skip the key */
    use_spec_keyed(f, "mo", 0);
    assert_int_equal(exchange_model_as(f, NULL, 1, &keys, &r, &e), ST_E_DENIED);
    assert_int_equal(keys.n, 0);
    st_gate_result_clear(&r);
    /* a spec that asked, at a gate that is not the controller's */
    use_spec_keyed(f, "mo", 1);
    assert_int_equal(exchange_model_as(f, NULL, 0, &keys, &r, &e), ST_E_DENIED);
    if (!strstr(e.msg, "no key for model:m@1 was offered"))
        fail_msg("%s", e.msg);
    assert_int_equal(keys.n, 0);
    st_gate_result_clear(&r);
    /* both: the dataset's key only, the model's use recorded */
    assert_st_ok(exchange_model_as(f, NULL, 1, &keys, &r, &e), &e);
    assert_int_equal(keys.n, 1);
    assert_non_null(st_broker_keys_find(&keys, "dataset:digits"));
    assert_null(st_broker_keys_find(&keys, "model:m@1"));
    st_gate_result_clear(&r);
    assert_int_equal(audited(f, "\"resource\":\"model:m@1\"",
                             "\"wrapped_by\":\"requester\""),
                     1);
}

static void test_model_key_leaves_only_with_the_datasets(void **state)
{
    fixture *f = *state;
    use_spec(f, "mo");
    st_err e;
    st_secret *mk = st_secret_new(16, &e);
    memset(st_secret_bytes(mk), 0x5a, 16);
    st_broker_keys keys;
    keys.n = 0;
    st_gate_result r;
    memset(&r, 0, sizeof(r));
    /* no key offered: nothing leaves */
    assert_int_equal(exchange_model(f, NULL, &keys, &r, &e), ST_E_DENIED);
    if (!strstr(e.msg, "no key for model:m@1 was offered"))
        fail_msg("%s", e.msg);
    assert_int_equal(keys.n, 0);
    st_gate_result_clear(&r);
    /* offered: both keys, the model's under its versioned name, audited */
    assert_st_ok(exchange_model(f, mk, &keys, &r, &e), &e);
    assert_int_equal(keys.n, 2);
    const st_broker_key *k = st_broker_keys_find(&keys, "model:m@1");
    assert_non_null(k);
    assert_non_null(st_broker_keys_find(&keys, "dataset:digits"));
    st_secret *got = NULL;
    assert_st_ok(st_broker_unwrap_key(f->runtime_priv, JOB, k, &got, &e), &e);
    assert_memory_equal(st_secret_cbytes(got), st_secret_cbytes(mk), 16);
    st_secret_free(got);
    st_gate_result_clear(&r);
    assert_int_equal(
        audited(f, "\"resource\":\"model:m@1\"", "\"outcome\":\"success\""), 1);
    st_secret_free(mk);
}

static void test_model_the_submitter_may_not_use_is_refused(void **state)
{
    fixture *f = *state;
    use_spec(f, "dana"); /* not mo's model, and no grant on it */
    st_err e;
    st_secret *mk = st_secret_new(16, &e);
    memset(st_secret_bytes(mk), 0x5a, 16);
    st_broker_keys keys;
    keys.n = 0;
    st_gate_result r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(exchange_model(f, mk, &keys, &r, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, "model.decrypt"));
    assert_int_equal(keys.n, 0);
    st_gate_result_clear(&r);
    assert_int_equal(audited(f, "key.release", "\"outcome\":\"success\""), 0);
    assert_true(audited(f, "key.release", "\"outcome\":\"denied\"") > 0);
    st_secret_free(mk);
}

/* "uses": each use for its own principals, "*" for any; left out, or an
 * unknown use, neither. */
static void test_policy_uses_allow_each_use_apart(void **state)
{
    (void)state;
    st_release_policy *p = NULL;
    st_err e;
    const char *head = "{\"version\":1,\"attestation\":{\"version\":1,"
                       "\"tee\":[\"sim\"]},\"principals\":[\"a\"],"
                       "\"recipients\":[\"" RCPT "\"]";
    char text[1024];
    st_job_spec spec;
    memset(&spec, 0, sizeof(spec));
    snprintf(spec.train_dataset, sizeof(spec.train_dataset), "d");
    snprintf(text, sizeof(text),
             "%s,\"uses\":{\"evaluate\":[\"*\"],\"predict\":[\"b\"]}}", head);
    assert_st_ok(st_release_policy_parse(text, strlen(text), "p", &p, &e), &e);
    spec.kind = ST_JOB_KIND_EVALUATE;
    assert_st_ok(st_release_policy_check_job(p, "d", &spec, "z", &e), &e);
    spec.kind = ST_JOB_KIND_PREDICT;
    assert_st_ok(st_release_policy_check_job(p, "d", &spec, "b", &e), &e);
    assert_int_equal(st_release_policy_check_job(p, "d", &spec, "a", &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "does not allow `predict` for \"a\""));
    /* training is still the principals' */
    spec.kind = ST_JOB_KIND_TRAIN;
    assert_int_equal(st_release_policy_check_job(p, "d", &spec, "b", &e),
                     ST_E_DENIED);
    st_release_policy_free(p);
    /* left out: neither */
    snprintf(text, sizeof(text), "%s}", head);
    assert_st_ok(st_release_policy_parse(text, strlen(text), "p", &p, &e), &e);
    spec.kind = ST_JOB_KIND_EVALUATE;
    assert_int_equal(st_release_policy_check_job(p, "d", &spec, "a", &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "leaves it out"));
    st_release_policy_free(p);
    /* strict: an unknown use, an empty list */
    snprintf(text, sizeof(text), "%s,\"uses\":{\"train\":[\"a\"]}}", head);
    assert_int_equal(st_release_policy_parse(text, strlen(text), "p", &p, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "train"));
    snprintf(text, sizeof(text), "%s,\"uses\":{\"predict\":[]}}", head);
    assert_int_equal(st_release_policy_parse(text, strlen(text), "p", &p, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "uses.predict"));
    assert_null(p);
}

static void test_closed_keyring_releases_nothing(void **state)
{
    round x;
    round_begin(*state, &x, NULL, &with_verdicts, NULL);
    round_release(&x, "tr", NULL, ST_E_IO, "keyring");
    round_end(&x);
}

/* gate-nonces.db opened beside the store, as another process would. */
static sqlite3 *nonce_file(fixture *f)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/ws/gate-nonces.db", f->root);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The rows of `table` in gate-nonces.db, once the nonces this process
 * issued are written. */
static long nonce_count(fixture *f, const char *table)
{
    st_err e;
    assert_st_ok(st_gate_db_nonce_write(f->ws, &e), &e);
    char sql[80];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    sqlite3 *db = nonce_file(f);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void nonce_row(st_gate_nonce *n, time_t issued)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->job_id, sizeof(n->job_id), "j0123456789abcdef");
    snprintf(n->principal, sizeof(n->principal), "tr");
    snprintf(n->submitter, sizeof(n->submitter), "mo");
    snprintf(n->scope, sizeof(n->scope), "digits");
    memset(n->spec_digest, 0x5d, 32);
    memset(n->hello.x25519, 0x11, 32);
    memset(n->hello.ed25519, 0x22, 32);
    n->issued = issued;
}

/* Issues the nonce of row `n` for the spec text `spec`. */
static st_code nonce_put(fixture *f, st_gate_nonce *n, const char *spec,
                         st_err *e)
{
    st_sha256(spec, strlen(spec), n->envelope_digest);
    return st_gate_db_nonce_put(f->ws, n, spec, strlen(spec), e);
}

/* Nonces are kept for minutes, not as history: a new one sweeps away the
 * rows issued over an hour before it, and the signed specs that only
 * they named. */
static void test_old_nonces_are_swept(void **state)
{
    fixture *f = *state;
    st_err e;
    time_t now = time(NULL);
    st_gate_nonce n;
    const char *specs[] = {"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"};
    for (int i = 0; i < 3; i++) {
        nonce_row(&n, now - 7200 + i); /* two hours old */
        assert_st_ok(nonce_put(f, &n, specs[i], &e), &e);
    }
    assert_int_equal(nonce_count(f, "nonces"), 3);
    assert_int_equal(nonce_count(f, "envelopes"), 3);
    /* within the minute of the last sweep: nothing is swept yet */
    nonce_row(&n, now - 7200 + 30);
    assert_st_ok(nonce_put(f, &n, specs[0], &e), &e);
    assert_int_equal(nonce_count(f, "nonces"), 4);
    assert_int_equal(nonce_count(f, "envelopes"), 3);
    /* now: the four old rows go, the new one stays; of the specs, the one
     * it names */
    nonce_row(&n, now);
    assert_st_ok(nonce_put(f, &n, specs[2], &e), &e);
    assert_int_equal(nonce_count(f, "nonces"), 1);
    assert_int_equal(nonce_count(f, "envelopes"), 1);
    st_gate_nonce t;
    assert_st_ok(st_gate_db_nonce_take(f->ws, n.nonce, "tr", 60, &t, &e), &e);
    assert_st_ok(st_gate_db_nonce_envelope(f->ws, &t, &e), &e);
    assert_string_equal(t.envelope, specs[2]);
    st_gate_nonce_clear(&t);
}

/* The store's rules, each on its own row: a nonce is taken once, by the
 * principal it was issued to, within its age; a taken row gives back all
 * it was issued with. */
static void test_nonce_store_rules(void **state)
{
    fixture *f = *state;
    st_err e;
    time_t now = time(NULL);
    st_gate_nonce n, t, old, other;
    nonce_row(&n, now);
    assert_st_ok(nonce_put(f, &n, "{\"spec\":1}", &e), &e);
    nonce_row(&other, now);
    assert_st_ok(nonce_put(f, &other, "{\"spec\":1}", &e),
                 &e);
    assert_memory_not_equal(n.nonce, other.nonce, 32);
    nonce_row(&old, now - 61);
    assert_st_ok(nonce_put(f, &old, "{\"spec\":1}", &e),
                 &e);
    /* the issue time leads the nonce: the store orders and ages by it */
    assert_true(memcmp(old.nonce, n.nonce, 8) < 0);

    assert_st_ok(st_gate_db_nonce_take(f->ws, n.nonce, "tr", 60, &t, &e), &e);
    assert_string_equal(t.job_id, n.job_id);
    assert_string_equal(t.submitter, "mo");
    assert_string_equal(t.scope, "digits");
    assert_memory_equal(t.spec_digest, n.spec_digest, 32);
    assert_memory_equal(t.hello.x25519, n.hello.x25519, 32);
    assert_memory_equal(t.hello.ed25519, n.hello.ed25519, 32);
    assert_memory_equal(t.envelope_digest, n.envelope_digest, 32);
    assert_int_equal(t.issued, now);
    assert_null(t.envelope);
    st_gate_nonce_clear(&t);

    assert_int_equal(st_gate_db_nonce_take(f->ws, n.nonce, "tr", 60, &t, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "already used (replay)"));
    assert_int_equal(
        st_gate_db_nonce_take(f->ws, other.nonce, "mallory", 60, &t, &e),
        ST_E_DENIED);
    assert_non_null(strstr(e.msg, "issued to another principal"));
    assert_int_equal(st_gate_db_nonce_take(f->ws, old.nonce, "tr", 60, &t, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "stale"));
    uint8_t unknown[32];
    memcpy(unknown, other.nonce, 32);
    unknown[31] ^= 1;
    assert_int_equal(st_gate_db_nonce_take(f->ws, unknown, "tr", 60, &t, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "unknown"));
    /* the refusals used nothing up; the spec of a nonce issued just after
     * another with the same spec (its row not written again) is there */
    assert_st_ok(st_gate_db_nonce_take(f->ws, other.nonce, "tr", 60, &t, &e),
                 &e);
    assert_st_ok(st_gate_db_nonce_envelope(f->ws, &t, &e), &e);
    assert_string_equal(t.envelope, "{\"spec\":1}");
    st_gate_nonce_clear(&t);
    assert_int_equal(nonce_count(f, "envelopes"), 1);
}

/* A nonce whose signed spec is no longer in the store (the file edited:
 * the sweep keeps a spec an hour past its last nonce) gives no spec: an
 * error naming it, never another spec or an empty one. */
static void test_nonce_without_its_spec_is_an_error(void **state)
{
    fixture *f = *state;
    st_err e;
    st_gate_nonce n, t;
    nonce_row(&n, time(NULL));
    assert_st_ok(nonce_put(f, &n, "{\"spec\":1}", &e), &e);
    sqlite3 *db = nonce_file(f);
    assert_int_equal(
        sqlite3_exec(db, "DELETE FROM envelopes", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_st_ok(st_gate_db_nonce_take(f->ws, n.nonce, "tr", 60, &t, &e), &e);
    assert_int_equal(st_gate_db_nonce_envelope(f->ws, &t, &e), ST_E_IO);
    assert_non_null(strstr(e.msg, "signed spec is not kept"));
    assert_null(t.envelope);
    st_gate_nonce_clear(&t);
}

/* The store's WAL is checkpointed as it grows (by the store's writer
 * thread, on a second connection, instead of inside a commit; and by the
 * committing thread itself at NONCE_CKPT_BACKSTOP frames, when the
 * writer cannot get the store's mutex from a thread that keeps taking
 * it, as this loop does): thousands of nonces issued, each written at
 * once, and used leave it at most about 1,500 pages long, and every one
 * of them was taken once. */
static void test_nonce_store_wal_stays_bounded(void **state)
{
    fixture *f = *state;
    st_err e;
    time_t now = time(NULL);
    for (int i = 0; i < 3000; i++) {
        st_gate_nonce n, t;
        nonce_row(&n, now);
        assert_st_ok(nonce_put(f, &n, "{\"spec\":1}", &e),
                     &e);
        assert_st_ok(st_gate_db_nonce_write(f->ws, &e), &e);
        assert_st_ok(st_gate_db_nonce_take(f->ws, n.nonce, "tr", 60, &t, &e),
                     &e);
        st_gate_nonce_clear(&t);
    }
    char path[4300];
    snprintf(path, sizeof(path), "%s/ws/gate-nonces.db-wal", f->root);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* two commits per nonce, a page or two each: 6,000 frames or more (24
     * MB of 4 KiB pages) without checkpoints */
    if (st.st_size > 8L * 1024 * 1024)
        fail_msg("gate-nonces.db-wal is %lld bytes after 3,000 nonces",
                 (long long)st.st_size);
    assert_int_equal(nonce_count(f, "nonces"), 3000);
}

/* In a child process (another process of the workspace): 0 when taking
 * `nonce` as "tr" gives `want`, else 1. */
static int child_take(fixture *f, const uint8_t nonce[32], st_code want)
{
    st_gate_nonce t;
    st_err e;
    st_code rc = st_gate_db_nonce_take(f->ws, nonce, "tr", 60, &t, &e);
    st_gate_nonce_clear(&t);
    if (rc != want)
        fprintf(stderr, "child: take gave %d (%s), not %d\n", (int)rc,
                rc ? e.msg : "ok", (int)want);
    return rc != want;
}

static int child_status(pid_t pid)
{
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A nonce waits in the process that issued it until the store's writer
 * writes it. Taken there first, it is written as used: another process
 * refuses it as a replay. Written first, another process may take it,
 * once: then the first refuses it. One that a process issued and took,
 * and died before writing, is refused everywhere. And a child of fork
 * does nothing with the nonces its parent had waiting. */
static void test_nonce_in_another_process(void **state)
{
    fixture *f = *state;
    st_err e;
    time_t now = time(NULL);
    st_gate_nonce a, b, t;
    nonce_row(&a, now);
    assert_st_ok(nonce_put(f, &a, "{\"spec\":1}", &e), &e);
    assert_st_ok(st_gate_db_nonce_take(f->ws, a.nonce, "tr", 60, &t, &e), &e);
    st_gate_nonce_clear(&t);
    nonce_row(&b, now);
    assert_st_ok(nonce_put(f, &b, "{\"spec\":1}", &e), &e);
    assert_st_ok(st_gate_db_nonce_write(f->ws, &e), &e);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_take(f, a.nonce, ST_E_DENIED) |
              child_take(f, b.nonce, ST_OK) << 1);
    assert_int_equal(child_status(pid), 0);
    assert_int_equal(st_gate_db_nonce_take(f->ws, b.nonce, "tr", 60, &t, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "already used (replay)"));

    /* a process that issued and took a nonce, and died before its writer
     * wrote it (exit at once: the writer waits NONCE_PENDING_MS) */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        st_gate_nonce c, u;
        nonce_row(&c, time(NULL));
        int bad = nonce_put(f, &c, "{\"spec\":1}", &e) != ST_OK ||
                  st_gate_db_nonce_take(f->ws, c.nonce, "tr", 60, &u, &e) !=
                      ST_OK ||
                  write(fd[1], c.nonce, 32) != 32;
        _exit(bad);
    }
    close(fd[1]);
    uint8_t c[32];
    assert_int_equal(read(fd[0], c, 32), 32);
    close(fd[0]);
    assert_int_equal(child_status(pid), 0);
    assert_int_equal(st_gate_db_nonce_take(f->ws, c, "tr", 60, &t, &e),
                     ST_E_DENIED);
    assert_int_equal(nonce_count(f, "nonces"), 2);

    /* a child of fork inherits a copy of the nonces waiting here: it
     * neither takes one nor writes one (written as unused, another
     * process could take it too) */
    st_gate_nonce d;
    nonce_row(&d, time(NULL));
    assert_st_ok(nonce_put(f, &d, "{\"spec\":1}", &e), &e);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_take(f, d.nonce, ST_E_DENIED) |
              (st_gate_db_nonce_write(f->ws, &e) != ST_OK) << 1 |
              child_take(f, d.nonce, ST_E_DENIED) << 2);
    assert_int_equal(child_status(pid), 0);
    assert_st_ok(st_gate_db_nonce_take(f->ws, d.nonce, "tr", 60, &t, &e), &e);
    st_gate_nonce_clear(&t);
    assert_int_equal(nonce_count(f, "nonces"), 3);
    assert_int_equal(nonce_count(f, "nonces WHERE used = 0"), 0);
}

/* A write of the waiting nonces that fails (here: a row with the same
 * nonce planted in the file, so the insert breaks its key) writes none
 * and keeps them all: a nonce taken here stays taken, and the write is
 * whole once it can be made. */
static void test_nonce_write_that_fails_keeps_them(void **state)
{
    fixture *f = *state;
    st_err e;
    st_gate_nonce n, t;
    nonce_row(&n, time(NULL));
    assert_st_ok(nonce_put(f, &n, "{\"spec\":1}", &e), &e);
    assert_st_ok(st_gate_db_nonce_take(f->ws, n.nonce, "tr", 60, &t, &e), &e);
    st_gate_nonce_clear(&t);
    sqlite3 *db = nonce_file(f);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "INSERT INTO nonces(nonce,principal,job_id,"
                           "submitter,scope,spec_digest,hello,envelope,used) "
                           "VALUES(?1,'tr','j','mo','digits',x'00',x'00',"
                           "x'00',0)",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, n.nonce, 32, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    assert_int_equal(st_gate_db_nonce_write(f->ws, &e), ST_E_IO);
    assert_non_null(strstr(e.msg, "writing nonces"));
    assert_int_equal(st_gate_db_nonce_take(f->ws, n.nonce, "tr", 60, &t, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "already used (replay)"));

    assert_int_equal(
        sqlite3_exec(db, "DELETE FROM nonces", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_st_ok(st_gate_db_nonce_write(f->ws, &e), &e);
    assert_int_equal(nonce_count(f, "nonces WHERE used != 0"), 1);
    assert_int_equal(nonce_count(f, "nonces"), 1);
}

/* A store of the first schema (text keys, the envelope in each row) is
 * replaced, not misread: it held nothing but minutes-old nonces. */
static void test_nonce_store_of_schema_1_is_replaced(void **state)
{
    fixture *f = *state;
    sqlite3 *db = nonce_file(f);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE nonces (nonce TEXT PRIMARY KEY, job_id TEXT,"
                     " issued TEXT, used TEXT, principal TEXT, submitter TEXT,"
                     " scope TEXT, spec_digest TEXT, hello TEXT, envelope "
                     "TEXT, issued_s INTEGER);"
                     "INSERT INTO nonces VALUES('00','j','t','','tr','mo',"
                     "'digits','','','{}',0);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    st_err e;
    st_gate_nonce n, t;
    nonce_row(&n, time(NULL));
    assert_st_ok(nonce_put(f, &n, "{}", &e), &e);
    assert_int_equal(nonce_count(f, "nonces"), 1);
    assert_st_ok(st_gate_db_nonce_take(f->ws, n.nonce, "tr", 60, &t, &e), &e);
    st_gate_nonce_clear(&t);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_release_wraps_the_file_key_to_the_runtime),
        cmocka_unit_test(test_policy_uses_allow_each_use_apart),
        T(test_requester_wrapped_model_key_needs_spec_and_controller),
        T(test_model_key_leaves_only_with_the_datasets),
        T(test_model_the_submitter_may_not_use_is_refused),
        T(test_replayed_nonce_is_refused),
        T(test_nonce_store_rules),
        T(test_nonce_in_another_process),
        T(test_nonce_write_that_fails_keeps_them),
        T(test_nonce_store_of_schema_1_is_replaced),
        T(test_nonce_store_wal_stays_bounded),
        T(test_nonce_without_its_spec_is_an_error),
        T(test_nonce_of_another_principal_is_refused),
        T(test_nonce_for_another_dataset_is_refused),
        T(test_evidence_bound_to_other_data_is_refused),
        T(test_unchanged_catalog_reuses_the_hellos_consent),
        T(test_unchanged_catalog_reuses_a_hellos_checks),
        T(test_grant_revoked_between_two_hellos),
        T(test_grant_revoked_elsewhere_between_two_hellos),
        T(test_submitter_disabled_between_two_hellos),
        T(test_policy_row_edited_between_two_hellos),
        T(test_other_runner_or_spec_is_checked_again),
        T(test_grant_revoked_between_hello_and_evidence),
        T(test_grant_revoked_elsewhere_between_hello_and_evidence),
        T(test_submitter_disabled_between_hello_and_evidence),
        T(test_policy_row_edited_between_hello_and_evidence),
        T(test_file_key_is_kept_while_nothing_changed),
        T(test_file_key_kept_is_dropped_when_its_kek_is_revoked),
        T(test_file_key_kept_is_read_again_when_the_keyring_changes),
        T(test_disabled_submitter_is_refused),
        T(test_runner_without_job_run_is_refused),
        T(test_spec_signed_by_another_key_is_refused),
        T(test_dataset_not_in_the_spec_is_refused),
        T(test_validation_dataset_needs_consent_too),
        T(test_edited_policy_row_is_refused),
        T(test_unsigned_policy_row_is_refused),
        T(test_policy_signed_by_another_key_is_refused),
        T(test_recipient_outside_the_policy_is_refused),
        T(test_policy_requires_secret_memory),
        T(test_policy_requires_strict_sandbox),
        T(test_no_policy_is_never_released),
        T(test_policy_parser_names_the_bad_key),
        T(test_closed_keyring_releases_nothing),
        T(test_unaudited_release_hands_back_nothing),
        T(test_old_nonces_are_swept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
