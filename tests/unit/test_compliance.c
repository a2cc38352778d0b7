/*
 * test_compliance.c: cleanup and the security check on a real workspace
 * (SQLite catalog, keyring, an encrypted dataset): retention that has run
 * out is crypto-shredded (with the clock moved forward), a dry run changes
 * nothing, the check sees overdue retention, missing policies and a policy
 * that accepts sim; metrics label values are escaped.
 */
#include "audit/audit_internal.h"
#include "st_test.h"
#include "st_test_ws.h"

#include <sealtrain/sealtrain.h>

typedef struct fixture {
    char *root;
    st_workspace *ws;
    st_keyring *kr;
    uint8_t seed[32]; /* alice's signing key: she owns every dataset */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char dir[4096];
    f->root = st_test_tmpdir("compliance");
    snprintf(dir, sizeof(dir), "%s/ws", f->root);
    st_test_workspace(f->root, dir, &f->ws, &f->kr);
    assert_int_equal(st_random(f->seed, 32, NULL), ST_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    st_keyring_close(f->kr);
    st_workspace_close(f->ws);
    st_test_rmtree(f->root);
    free(f->root);
    free(f);
    return 0;
}

static void import(fixture *f, const char *name, long long days)
{
    st_dataset_import_opts o;
    memset(&o, 0, sizeof(o));
    st_err e;
    o.input.format = ST_DATA_CSV;
    o.input.path = "examples/data/digits.csv";
    o.input.label = "label";
    o.name = name;
    o.owner = "alice";
    o.classification = "confidential";
    o.retention_days = days;
    o.signing_seed = f->seed;
    assert_st_ok(st_dataset_import(f->ws, f->kr, &o, NULL, &e), &e);
}

/* Dataset `name` (imported first) with a release policy open to anyone
 * under sim, and a queued job of bob's on it. */
static void queued_job(fixture *f, const char *name, char id[ST_JOB_ID_LEN + 1])
{
    st_err e;
    const char *policy =
        "{\"version\":1,\"attestation\":{\"version\":1,\"tee\":[\"sim\"]},"
        "\"principals\":[\"*\"],\"recipients\":[\"age15j0vjxaxyakrwwyw088cytm0"
        "ahcalxvyp78nk0ew4sk2q6yr0fwsu2az4a\"]}";
    assert_st_ok(st_release_policy_set(f->ws, "alice", name, policy,
                                       strlen(policy), "policy.json", f->seed,
                                       &e),
                 &e);
    st_job_spec spec;
    uint8_t seed[32];
    assert_int_equal(st_random(seed, 32, NULL), ST_OK);
    assert_st_ok(st_job_spec_load("examples/jobs/digits-mlp.json", &spec, &e),
                 &e);
    snprintf(spec.train_dataset, sizeof(spec.train_dataset), "%s", name);
    assert_st_ok(st_job_submit(f->ws, "bob", &spec, seed, id, &e), &e);
    st_job_spec_free(&spec);
}

static const st_check_item *find(const st_check_item *it, size_t n,
                                 const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(it[i].id, id))
            return &it[i];
    fail_msg("no check item %s", id);
    return NULL;
}

static void test_retention_is_crypto_shredded_after_it_runs_out(void **state)
{
    fixture *f = *state;
    import(f, "short", 1);
    import(f, "long", 30);
    st_err e;
    st_cleanup_opts o;
    memset(&o, 0, sizeof(o));
    o.now = time(NULL) + 2 * 86400;
    o.actor = "root";

    /* the check sees it first */
    st_check_opts co;
    memset(&co, 0, sizeof(co));
    co.now = o.now;
    st_check_item *items;
    size_t n;
    assert_st_ok(st_check_run(f->ws, f->kr, &co, &items, &n, &e), &e);
    const st_check_item *ret = find(items, n, "retention");
    assert_int_equal(ret->status, ST_CHECK_WARN);
    assert_non_null(strstr(ret->evidence, "dataset short"));
    assert_null(strstr(ret->evidence, "dataset long"));
    free(items);

    st_cleanup_report rep;
    o.dry_run = 1;
    assert_st_ok(st_cleanup_run(f->ws, &o, &rep, &e), &e);
    int seen = 0;
    for (size_t i = 0; i < rep.n; i++)
        if (!strcmp(rep.actions[i].handler, "retention")) {
            assert_string_equal(rep.actions[i].resource, "dataset:short");
            assert_int_equal(rep.actions[i].done, 0);
            seen++;
        }
    assert_int_equal(seen, 1);
    st_cleanup_report_free(&rep);
    st_dataset_record r;
    assert_st_ok(st_dataset_get(f->ws, "short", &r, &e), &e);
    char path[4096];
    snprintf(path, sizeof(path), "%s", r.path);
    st_dataset_record_free(&r);
    assert_true(st_fs_exists(path));

    o.dry_run = 0;
    assert_st_ok(st_cleanup_run(f->ws, &o, &rep, &e), &e);
    seen = 0;
    for (size_t i = 0; i < rep.n; i++)
        if (!strcmp(rep.actions[i].handler, "retention")) {
            assert_int_equal(rep.actions[i].done, 1);
            seen++;
        }
    assert_int_equal(seen, 1);
    st_cleanup_report_free(&rep);
    assert_int_equal(st_dataset_get(f->ws, "short", &r, &e), ST_E_NOTFOUND);
    assert_false(st_fs_exists(path));
    assert_st_ok(st_dataset_get(f->ws, "long", &r, &e), &e);
    st_dataset_record_free(&r);

    /* recorded, and the audit log is intact */
    char adir[4200];
    snprintf(adir, sizeof(adir), "%s/audit", st_workspace_dir(f->ws));
    st_audit_report ar;
    assert_st_ok(st_audit_verify(adir, NULL, &ar, &e), &e);
    char log[4300];
    snprintf(log, sizeof(log), "%s/log.jsonl", adir);
    unsigned char *text;
    size_t len;
    assert_st_ok(st_fs_read_all(log, 1 << 24, &text, &len, &e), &e);
    assert_non_null(strstr((char *)text, "\"action\":\"cleanup.retention\""));
    assert_non_null(strstr((char *)text, "\"resource\":\"dataset:short\""));
    free(text);
}

static void test_check_flags_missing_and_sim_policies(void **state)
{
    fixture *f = *state;
    import(f, "a", -1);
    import(f, "b", -1);
    st_err e;
    const char *policy =
        "{\"version\":1,\"attestation\":{\"version\":1,\"tee\":[\"sim\"],"
        "\"max_age_seconds\":120,\"tcb_status\":[\"UpToDate\","
        "\"OutOfDate\"]},\"principals\":[\"*\"],"
        "\"recipients\":[\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5"
        "sfn9aqmcac8p\"]}";
    assert_st_ok(st_release_policy_set(f->ws, "alice", "a", policy,
                                       strlen(policy), "policy.json", f->seed,
                                       &e),
                 &e);
    st_check_opts co;
    memset(&co, 0, sizeof(co));
    st_check_item *items;
    size_t n;
    assert_st_ok(st_check_run(f->ws, f->kr, &co, &items, &n, &e), &e);
    const st_check_item *pol = find(items, n, "release-policies");
    assert_int_equal(pol->status, ST_CHECK_WARN);
    assert_non_null(strstr(pol->evidence, "dataset b"));
    assert_null(strstr(pol->evidence, "dataset a "));
    const st_check_item *sim = find(items, n, "policies-allow-sim");
    assert_int_equal(sim->status, ST_CHECK_FAIL);
    assert_non_null(strstr(sim->evidence, "dataset a"));
    /* a policy that accepts an out-of-date platform is flagged */
    const st_check_item *ood = find(items, n, "policies-accept-out-of-date");
    assert_non_null(ood);
    assert_int_equal(ood->status, ST_CHECK_WARN);
    assert_non_null(strstr(ood->evidence, "dataset a accepts an OutOfDate"));
    assert_int_equal(find(items, n, "retired-keys")->status, ST_CHECK_PASS);
    assert_int_equal(st_check_worst(items, n), ST_CHECK_FAIL);
    json_t *j = st_check_json(items, n);
    assert_string_equal(json_string_value(json_object_get(j, "result")),
                        "fail");
    json_decref(j);
    free(items);

    /* a job keyed on evidence older than the strictest policy allows */
    char id[ST_JOB_ID_LEN + 1];
    queued_job(f, "b", id);
    assert_st_ok(st_job_transition(f->ws, id, ST_JOB_ATTESTING, "t", &e), &e);
    assert_st_ok(st_job_transition(f->ws, id, ST_JOB_KEYED, "t", &e), &e);
    json_t *d = json_pack("{s:s,s:{s:s}}", "job", id, "claims", "tee", "sim");
    st_audit_event att = {
        "attestation", "bob", "attest.verify", "dataset:a", "success", NULL, d};
    assert_st_ok(st_audit_append(f->ws, &att, &e), &e);
    json_decref(d);
    co.now = time(NULL) + 300;
    assert_st_ok(st_check_run(f->ws, f->kr, &co, &items, &n, &e), &e);
    const st_check_item *stale = find(items, n, "stale-attestation");
    assert_int_equal(stale->status, ST_CHECK_WARN);
    assert_non_null(strstr(stale->evidence, id));
    assert_non_null(strstr(stale->evidence, "limit 120 s"));
    free(items);
    co.now = 0;
    /* and the metrics count the verdict by TEE */
    st_buf b;
    st_buf_init(&b);
    assert_st_ok(st_metrics_collect(f->ws, f->kr, time(NULL), &b, &e), &e);
    assert_st_ok(st_buf_append(&b, "", 1, &e), &e);
    assert_non_null(strstr((char *)b.data, "sealtrain_attestation_results_"
                                           "total{tee=\"sim\",outcome="
                                           "\"success\"} 1"));
    assert_non_null(strstr((char *)b.data, "sealtrain_jobs{state=\"keyed\"} "
                                           "1"));
    st_buf_free(&b);

    /* without the keyring, key items are not applicable, not passed */
    assert_st_ok(st_check_run(f->ws, NULL, &co, &items, &n, &e), &e);
    assert_int_equal(find(items, n, "kek-rotation")->status, ST_CHECK_NA);
    assert_non_null(
        strstr(find(items, n, "kek-rotation")->evidence, "not applicable"));
    free(items);
}

static void test_log_key_is_sealed_under_the_keyring(void **state)
{
    fixture *f = *state;
    st_err e;
    st_audit_event ev = {"operation", "alice", "data.import", "dataset:x",
                         "success",   NULL,    NULL};
    assert_st_ok(st_audit_append(f->ws, &ev, &e), &e);
    char adir[4200], plain[4300], sealed[4300];
    snprintf(adir, sizeof(adir), "%s/audit", st_workspace_dir(f->ws));
    snprintf(plain, sizeof(plain), "%s/log.key", adir);
    snprintf(sealed, sizeof(sealed), "%s/log.key.sealed", adir);
    assert_true(st_fs_exists(plain));
    assert_false(st_audit_key_sealed(f->ws));
    char *note = NULL;
    st_audit_sealer kek = st_keyring_audit_sealer(f->kr);
    assert_st_ok(st_audit_checkpoint_sealed(f->ws, &kek, "root", &note, &e),
                 &e);
    free(note);
    assert_false(st_fs_exists(plain));
    assert_true(st_fs_exists(sealed));
    assert_true(st_audit_key_sealed(f->ws));
    /* the sealed key signs again (unwrapped through the keyring) */
    assert_st_ok(st_audit_checkpoint_sealed(f->ws, &kek, "root", &note, &e),
                 &e);
    free(note);
    st_audit_report rep;
    assert_st_ok(st_audit_verify(adir, NULL, &rep, &e), &e);
    assert_int_equal(rep.checkpoints, 2);
    /* without the keyring there is no way to sign */
    st_audit_log *log;
    assert_st_ok(st_audit_log_open(adir, &log, &e), &e);
    assert_int_equal(st_audit_checkpoint(log, &note, &e), ST_E_USAGE);
    st_audit_log_close(log);
}

static void test_stale_job_is_terminated_and_recorded(void **state)
{
    fixture *f = *state;
    st_err e;
    char id[ST_JOB_ID_LEN + 1];
    import(f, "a", -1);
    queued_job(f, "a", id);
    /* a job that claims to be attesting but has no controller at all */
    assert_st_ok(st_job_transition(f->ws, id, ST_JOB_ATTESTING, "test", &e),
                 &e);
    st_cleanup_opts o;
    memset(&o, 0, sizeof(o));
    o.dry_run = 1;
    st_cleanup_report rep;
    assert_st_ok(st_cleanup_run(f->ws, &o, &rep, &e), &e);
    int seen = 0;
    for (size_t i = 0; i < rep.n; i++)
        seen += !strcmp(rep.actions[i].handler, "stale-jobs");
    assert_int_equal(seen, 1);
    st_cleanup_report_free(&rep);
    st_job_record r;
    assert_st_ok(st_job_get(f->ws, id, &r, &e), &e);
    assert_int_equal(r.state, ST_JOB_ATTESTING);
    st_job_record_free(&r);
    o.dry_run = 0;
    assert_st_ok(st_cleanup_run(f->ws, &o, &rep, &e), &e);
    st_cleanup_report_free(&rep);
    assert_st_ok(st_job_get(f->ws, id, &r, &e), &e);
    assert_int_equal(r.state, ST_JOB_FAILED);
    assert_non_null(strstr(r.reason, "stale"));
    st_job_record_free(&r);
}

/* A file of models/ that no model names (a registration whose COMMIT
 * failed and never settled) goes with `cleanup` once its job is at rest,
 * never while the job runs: a sealing job has moved its model there
 * before it registers it. */
static void touch(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("x", fp);
    fclose(fp);
}

static int exists(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_model_files_go_only_when_their_job_is_at_rest(void **state)
{
    fixture *f = *state;
    st_err e;
    char id[ST_JOB_ID_LEN + 1], dir[4096], age[128], prov[128];
    import(f, "a", -1);
    queued_job(f, "a", id);
    static const st_job_state path[] = {ST_JOB_ATTESTING, ST_JOB_KEYED,
                                        ST_JOB_TRAINING, ST_JOB_SEALING};
    for (size_t i = 0; i < 4; i++)
        assert_st_ok(st_job_transition(f->ws, id, path[i], "test", &e), &e);
    /* a live one: a heartbeat now, no controller pid to check */
    json_t *hb = json_pack("{s:b}", "heartbeat", 1);
    assert_st_ok(st_job_status_update(f->ws, id, hb, &e), &e);
    json_decref(hb);
    assert_st_ok(st_workspace_subdir(f->ws, "models", dir, sizeof(dir), &e),
                 &e);
    snprintf(age, sizeof(age), "m-%s.age", id);
    snprintf(prov, sizeof(prov), "m-%s.provenance.json", id);
    touch(dir, age);
    touch(dir, prov);
    /* a shared copy's name, and a job that does not exist: not ours */
    touch(dir, "m-v1-shared-0123456789abcdef.age");
    touch(dir, "m-j0123456789abcde.age");
    st_cleanup_opts o;
    memset(&o, 0, sizeof(o));
    st_cleanup_report rep;
    assert_st_ok(st_cleanup_run(f->ws, &o, &rep, &e), &e);
    for (size_t i = 0; i < rep.n; i++)
        assert_string_not_equal(rep.actions[i].handler, "model-files");
    st_cleanup_report_free(&rep);
    assert_true(exists(dir, age) && exists(dir, prov));
    /* at rest, and no model names them: they go, each audited */
    assert_st_ok(st_job_transition(f->ws, id, ST_JOB_FAILED, "test", &e), &e);
    assert_st_ok(st_cleanup_run(f->ws, &o, &rep, &e), &e);
    int n = 0;
    for (size_t i = 0; i < rep.n; i++)
        n += !strcmp(rep.actions[i].handler, "model-files") &&
             rep.actions[i].done;
    st_cleanup_report_free(&rep);
    assert_int_equal(n, 2);
    assert_false(exists(dir, age) || exists(dir, prov));
    assert_true(exists(dir, "m-v1-shared-0123456789abcdef.age"));
    assert_true(exists(dir, "m-j0123456789abcde.age"));
}

static void test_metrics_label_values_are_escaped(void **state)
{
    (void)state;
    st_buf b;
    st_buf_init(&b);
    const char v[] = "a\"b\\c\nd";
    st_err e;
    assert_st_ok(st_metrics_label(&b, v, strlen(v), &e), &e);
    assert_int_equal(b.len, strlen("a\\\"b\\\\c\\nd"));
    assert_memory_equal(b.data, "a\\\"b\\\\c\\nd", b.len);
    st_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_retention_is_crypto_shredded_after_it_runs_out, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_check_flags_missing_and_sim_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_log_key_is_sealed_under_the_keyring, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_stale_job_is_terminated_and_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_model_files_go_only_when_their_job_is_at_rest, setup,
            teardown),
        cmocka_unit_test(test_metrics_label_values_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
