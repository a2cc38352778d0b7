/*
 * test_job_spec.c: the job spec parser (strict, errors name the key), the
 * signed submission, persisted states and their audit trail, cancellation
 * in a real workspace (SQLite on disk). Release policies and the
 * decision: test_gate.c.
 */
#include "broker/msg.h"
#include "crypto/primitives.h"
#include "st_test.h"
#include "st_test_ws.h"

#include "crypto/dsse.h"
#include <sealtrain/sealtrain.h>

#define EXAMPLE "examples/jobs/digits-mlp.json"
#define RCPT "age15j0vjxaxyakrwwyw088cytm0ahcalxvyp78nk0ew4sk2q6yr0fwsu2az4a"
#define OTHER "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
#define PUBHEX                                                                 \
    "0b7f3c1e9a5d2468ace013579bdf02468ace013579bdf02468ace013579bdf01"

static void test_example_spec_parses_with_documented_defaults(void **state)
{
    (void)state;
    st_err e;
    st_job_spec s;
    assert_st_ok(st_job_spec_load(EXAMPLE, &s, &e), &e);
    assert_string_equal(s.name, "digits-mlp");
    assert_string_equal(s.train_dataset, "digits");
    assert_string_equal(s.valid_dataset, "");
    assert_int_equal(s.tee, ST_TEE_SIM);
    assert_int_equal(s.sandbox, ST_SANDBOX_STRICT);
    assert_int_equal(s.memory_bytes, 1024ull << 20);
    assert_int_equal(s.nrecipients, 1);
    assert_int_equal(s.checkpoint_every, 10);
    uint8_t d1[32], d2[32];
    assert_st_ok(st_job_spec_digest(&s, d1, &e), &e);
    st_job_spec_free(&s);
    assert_st_ok(st_job_spec_load(EXAMPLE, &s, &e), &e);
    assert_st_ok(st_job_spec_digest(&s, d2, &e), &e);
    assert_memory_equal(d1, d2, 32);
    st_job_spec_free(&s);
}

static ST_MUST_CHECK st_code parse(const char *text, st_err *e)
{
    st_job_spec s;
    st_code rc = st_job_spec_parse(text, strlen(text), "spec.json", &s, e);
    st_job_spec_free(&s);
    return rc;
}

static void test_spec_errors_name_the_key(void **state)
{
    (void)state;
    st_err e;
    const char *base_tail =
        "\"datasets\":{\"train\":\"d\"},\"outputs\":{\"model\":\"m\","
        "\"recipients\":[\"" RCPT "\"]}";
    char buf[2048];
    snprintf(buf, sizeof(buf), "{\"version\":1,\"name\":\"j\",%s}", base_tail);
    assert_st_ok(parse(buf, &e), &e);

    snprintf(buf, sizeof(buf), "{\"version\":1,\"name\":\"j\",\"colour\":1,%s}",
             base_tail);
    assert_int_equal(parse(buf, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "colour"));

    snprintf(buf, sizeof(buf),
             "{\"version\":1,\"name\":\"j\",\"training\":{\"batch_size\":0},"
             "%s}",
             base_tail);
    assert_int_equal(parse(buf, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "batch_size"));

    snprintf(buf, sizeof(buf),
             "{\"version\":1,\"name\":\"j\",\"security\":{\"tee\":\"snp\"},"
             "%s}",
             base_tail);
    assert_int_equal(parse(buf, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "tee"));

    snprintf(buf, sizeof(buf),
             "{\"version\":1,\"name\":\"j\",\"security\":{\"sandbox\":"
             "\"loose\"},%s}",
             base_tail);
    assert_int_equal(parse(buf, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "strict or relaxed"));

    const char *bad_rcpt =
        "{\"version\":1,\"name\":\"j\",\"datasets\":{\"train\":\"d\"},"
        "\"outputs\":{\"model\":\"m\",\"recipients\":[\"age1nope\"]}}";
    assert_int_equal(parse(bad_rcpt, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "recipients[0]"));

    const char *no_train =
        "{\"version\":1,\"name\":\"j\",\"datasets\":{},"
        "\"outputs\":{\"model\":\"m\",\"recipients\":[\"" RCPT "\"]}}";
    assert_int_equal(parse(no_train, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "train"));
}

/* A model-use spec: "use" instead of the engine's sections, one input
 * dataset, recipients for predict only; everything else refused with
 * the key. */
#define NONCE "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
static void test_use_spec_is_strict(void **state)
{
    (void)state;
    st_err e;
    st_job_spec s;
    const char *ev = "{\"version\":1,\"name\":\"j\",\"use\":{\"model\":"
                     "\"m\",\"version\":3,\"mode\":\"evaluate\"},"
                     "\"datasets\":{\"input\":\"d\"}}";
    assert_st_ok(st_job_spec_parse(ev, strlen(ev), "t", &s, &e), &e);
    assert_int_equal(s.kind, ST_JOB_KIND_EVALUATE);
    assert_string_equal(s.use_model, "m");
    assert_int_equal(s.use_version, 3);
    assert_string_equal(s.train_dataset, "d");
    assert_int_equal(s.nrecipients, 0);
    assert_int_equal(s.use_key_by_requester, 0);
    st_job_spec_free(&s);
    /* the requester wraps the model key itself (over the API) */
    const char *rq = "{\"version\":1,\"name\":\"j\",\"use\":{\"model\":"
                     "\"m\",\"version\":3,\"mode\":\"evaluate\",\"key\":"
                     "\"requester\",\"nonce\":\"" NONCE "\"},"
                     "\"datasets\":{\"input\":\"d\"}}";
    assert_st_ok(st_job_spec_parse(rq, strlen(rq), "t", &s, &e), &e);
    assert_int_equal(s.use_key_by_requester, 1);
    st_job_spec_free(&s);
    const char *pr = "{\"version\":1,\"name\":\"j\",\"use\":{\"model\":"
                     "\"m\",\"version\":1,\"mode\":\"predict\"},"
                     "\"datasets\":{\"input\":\"d\"},\"outputs\":{"
                     "\"recipients\":[\"" RCPT "\"]}}";
    assert_st_ok(st_job_spec_parse(pr, strlen(pr), "t", &s, &e), &e);
    assert_int_equal(s.kind, ST_JOB_KIND_PREDICT);
    assert_int_equal(s.nrecipients, 1);
    st_job_spec_free(&s);
    static const struct {
        const char *text, *why;
    } bad[] = {
        /* the version is pinned */
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"mode\":\"evaluate\"},\"datasets\":{\"input\":\"d\"}}",
         "version"},
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"version\":1,\"mode\":\"train\"},\"datasets\":{\"input\":"
         "\"d\"}}",
         "\"evaluate\" or \"predict\""},
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"version\":1,\"mode\":\"evaluate\"},\"training\":{},"
         "\"datasets\":{\"input\":\"d\"}}",
         "\"training\" is for training"},
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"version\":1,\"mode\":\"evaluate\"},\"datasets\":{\"train\":"
         "\"d\"}}",
         "train"},
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"version\":1,\"mode\":\"evaluate\"},\"datasets\":{\"input\":"
         "\"d\"},\"outputs\":{\"recipients\":[\"" RCPT "\"]}}",
         "no outputs"},
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"version\":1,\"mode\":\"predict\"},\"datasets\":{\"input\":"
         "\"d\"}}",
         "recipients"},
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"version\":1,\"mode\":\"predict\"},\"datasets\":{\"input\":"
         "\"d\"},\"outputs\":{\"model\":\"x\",\"recipients\":[\"" RCPT "\"]}}",
         "model"},
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"version\":1,\"mode\":\"evaluate\",\"key\":\"server\"},"
         "\"datasets\":{\"input\":\"d\"}}",
         "\"key\" must be \"controller\" or \"requester\", not \"server\""},
        {"{\"version\":1,\"name\":\"j\",\"use\":{\"model\":\"m\","
         "\"version\":1,\"mode\":\"evaluate\",\"key\":\"requester\","
         "\"nonce\":\"abc\"},\"datasets\":{\"input\":\"d\"}}",
         "\"nonce\" must be 64 hex digits"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            st_job_spec_parse(bad[i].text, strlen(bad[i].text), "t", &s, &e),
            ST_E_INPUT);
        if (!strstr(e.msg, bad[i].why))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, bad[i].why);
    }
}

/* A workspace without principals holding the bundled digits, imported
 * by dana, with her signed release policy open to any submitter under
 * sim: what a job can be submitted against. */
static st_workspace *make_workspace(char **dir)
{
    st_err e;
    *dir = st_test_tmpdir("jobws");
    char ws_dir[4200];
    snprintf(ws_dir, sizeof(ws_dir), "%s/ws", *dir);
    st_workspace *ws = NULL;
    st_keyring *kr = NULL;
    st_test_workspace(*dir, ws_dir, &ws, &kr);
    uint8_t dana[32] = {7};
    st_dataset_import_opts o;
    memset(&o, 0, sizeof(o));
    o.input.format = ST_DATA_CSV;
    o.input.path = "examples/data/digits.csv";
    o.input.label = "label";
    o.name = "digits";
    o.owner = "dana";
    o.classification = "confidential";
    o.retention_days = -1;
    o.signing_seed = dana;
    assert_st_ok(st_dataset_import(ws, kr, &o, NULL, &e), &e);
    st_keyring_close(kr);
    const char *policy = "{\"version\":1,\"attestation\":{\"version\":1,"
                         "\"tee\":[\"sim\"]},\"principals\":[\"*\"],"
                         "\"recipients\":[\"" RCPT "\"]}";
    assert_st_ok(st_release_policy_set(ws, "dana", "digits", policy,
                                       strlen(policy), "policy.json", dana, &e),
                 &e);
    return ws;
}

static void test_submitted_job_is_signed_queued_and_audited(void **state)
{
    (void)state;
    st_err e;
    char *dir;
    st_workspace *ws = make_workspace(&dir);
    st_job_spec s;
    assert_st_ok(st_job_spec_load(EXAMPLE, &s, &e), &e);
    uint8_t seed[32] = {9}, pub[32];
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    char id[ST_JOB_ID_LEN + 1];
    assert_st_ok(st_job_submit(ws, "alice", &s, seed, id, &e), &e);
    assert_int_equal(strlen(id), ST_JOB_ID_LEN);

    st_job_record r;
    assert_st_ok(st_job_get(ws, id, &r, &e), &e);
    assert_int_equal(r.state, ST_JOB_QUEUED);
    assert_string_equal(r.submitter, "alice");
    /* the envelope verifies under the submitter's key and carries the spec
     * whose digest is recorded */
    uint8_t *payload;
    size_t plen;
    assert_st_ok(st_dsse_verify(r.envelope, ST_DSSE_TYPE_JOBSPEC,
                                (const uint8_t(*)[32])pub, 1, &payload, &plen,
                                NULL, &e),
                 &e);
    uint8_t d[32];
    char hex[65];
    st_sha256(payload, plen, d);
    st_hex_encode(d, 32, hex);
    assert_string_equal(hex, r.spec_digest);
    free(payload);
    st_job_record_free(&r);

    assert_st_ok(st_job_transition(ws, id, ST_JOB_ATTESTING, NULL, &e), &e);
    assert_st_ok(
        st_job_transition(ws, id, ST_JOB_FAILED, "evidence rejected", &e), &e);
    /* a job ends once */
    assert_int_equal(st_job_transition(ws, id, ST_JOB_SUCCEEDED, NULL, &e),
                     ST_E_USAGE);
    assert_st_ok(st_job_get(ws, id, &r, &e), &e);
    assert_int_equal(r.state, ST_JOB_FAILED);
    assert_string_equal(r.reason, "evidence rejected");
    st_job_record_free(&r);

    /* the log and the audit log saw every step */
    char path[4300];
    assert_st_ok(st_job_log_path(ws, id, path, sizeof(path), &e), &e);
    unsigned char *log;
    size_t len;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &log, &len, &e), &e);
    assert_non_null(strstr((char *)log, "queued"));
    assert_non_null(strstr((char *)log, "failed: evidence rejected"));
    free(log);
    char audit[4300];
    snprintf(audit, sizeof(audit), "%s/audit/log.jsonl", st_workspace_dir(ws));
    assert_st_ok(st_fs_read_all(audit, 1 << 20, &log, &len, &e), &e);
    assert_non_null(strstr((char *)log, "job.submit"));
    assert_non_null(strstr((char *)log, "\"to\":\"failed\""));
    free(log);

    /* a queued job cancels at once */
    char id2[ST_JOB_ID_LEN + 1];
    assert_st_ok(st_job_submit(ws, "alice", &s, seed, id2, &e), &e);
    assert_st_ok(st_job_cancel(ws, "alice", id2, &e), &e);
    assert_st_ok(st_job_get(ws, id2, &r, &e), &e);
    assert_int_equal(r.state, ST_JOB_CANCELLED);
    st_job_record_free(&r);
    st_job_record *all;
    size_t n;
    assert_st_ok(st_job_list(ws, &all, &n, &e), &e);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        st_job_record_free(&all[i]);
    free(all);
    st_job_spec_free(&s);
    st_workspace_close(ws);
    st_test_rmtree(dir);
    free(dir);
}

/* The runtime's own check: it seals only to recipients of the signed
 * spec, so a controller that passes it another is refused by name. */
static void test_runtime_recipients_must_be_in_the_signed_spec(void **state)
{
    (void)state;
    st_err e;
    st_job_spec s;
    assert_st_ok(st_job_spec_load(EXAMPLE, &s, &e), &e);
    char r[2][ST_JOB_RECIPIENT_MAX];
    snprintf(r[0], sizeof(r[0]), "%s", RCPT);
    snprintf(r[1], sizeof(r[1]), "%s", OTHER);
    assert_st_ok(st_job_spec_check_recipients(&s, r, 1, &e), &e);
    assert_st_ok(st_job_spec_check_recipients(&s, r, 0, &e), &e);
    assert_int_equal(st_job_spec_check_recipients(&s, r, 2, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, OTHER));
    assert_non_null(strstr(e.msg, "not in the signed job spec"));
    st_job_spec_free(&s);
}

/* The model key a requester posts (POST /v1/jobs/ID/model-key): a key
 * wrapped here opens for the runtime after a round trip through its JSON;
 * malformed bodies are refused naming the field. */
static void test_model_key_json_round_trips_and_names_errors(void **state)
{
    (void)state;
    st_err e;
    uint8_t priv[32], pub[32], fk[16];
    memset(priv, 7, sizeof(priv));
    memset(fk, 0x5a, sizeof(fk));
    assert_st_ok(st_x25519_public(priv, pub, &e), &e);
    st_broker_key k, back;
    assert_st_ok(st_broker_wrap_key(pub, "j0123456789abcde", "model:m@1", fk,
                                    16, &k, &e),
                 &e);
    json_t *j = st_job_model_key_json(&k);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_st_ok(st_job_model_key_parse(text, strlen(text), "key", &back, &e),
                 &e);
    free(text);
    st_secret *got = NULL;
    assert_st_ok(
        st_broker_unwrap_key(priv, "j0123456789abcde", &back, &got, &e), &e);
    assert_memory_equal(st_secret_cbytes(got), fk, 16);
    st_secret_free(got);
    /* bound to the job: another job's runtime does not open it */
    assert_int_equal(
        st_broker_unwrap_key(priv, "j0123456789abcdf", &back, &got, &e),
        ST_E_DENIED);
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"[]", "not a JSON object"},
        {"{\"name\":\"dataset:d\",\"epk\":\"00\",\"ct\":\"AA==\"}",
         "\"model:NAME@VERSION\""},
        {"{\"name\":\"model:m@1\",\"epk\":\"zz\",\"ct\":\"AA==\"}",
         "\"epk\" must be 64 hex digits"},
        {"{\"name\":\"model:m@1\",\"epk\":\"" PUBHEX "\",\"ct\":\"AA==\"}",
         "\"ct\" holds 1 bytes"},
        {"{\"name\":\"model:m@1\",\"epk\":\"" PUBHEX "\",\"ct\":\"!\"}",
         "\"ct\" is not base64"},
        {"{\"name\":\"model:m@1\",\"epk\":\"" PUBHEX
         "\",\"ct\":\"AA==\",\"x\":1}",
         "x"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(st_job_model_key_parse(bad[i].text,
                                                strlen(bad[i].text), "key",
                                                &back, &e),
                         ST_E_INPUT);
        if (!strstr(e.msg, bad[i].why))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, bad[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_spec_parses_with_documented_defaults),
        cmocka_unit_test(test_spec_errors_name_the_key),
        cmocka_unit_test(test_use_spec_is_strict),
        cmocka_unit_test(test_submitted_job_is_signed_queued_and_audited),
        cmocka_unit_test(test_runtime_recipients_must_be_in_the_signed_spec),
        cmocka_unit_test(test_model_key_json_round_trips_and_names_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
