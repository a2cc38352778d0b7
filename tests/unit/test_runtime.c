/*
 * test_runtime.c: the enclave runtime against a controller that
 * misbehaves. The test is the controller: it forks the real runtime
 * (st_runtime_main, without the sandbox, which test_sandbox.c covers),
 * speaks the broker protocol to it over a socketpair, and releases real
 * dataset keys from a real workspace. Then it cheats the way an operator
 * holding that workspace could, and checks that the runtime refuses.
 *
 * Proves: a cancel without checkpoint_every ends the job without writing
 * a checkpoint; a checkpoint key the controller sends is ignored, so the
 * controller cannot open the checkpoints with it; a resumed runtime
 * derives the same key by itself and continues.
 */
#include "broker/msg.h"
#include "crypto/primitives.h"
#include "st_test.h"
#include "st_test_ws.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <sealtrain/sealtrain.h>

#include "enclave/runtime.h"
#include "train/train.h"

#define JOB_ID "j0123456789abcde"

typedef struct fixture {
    char *dir;
    char ws_dir[4200], out_dir[4200];
    st_workspace *ws;
    st_keyring *kr;
    uint8_t seed[32];
    st_secret *age_secret;
    char recipient[ST_AGE_RECIPIENT_STRLEN];
    uint8_t sim_seed[32];
} fixture;

static void import(fixture *f, const char *name)
{
    const char *rcpts[1] = {f->recipient};
    st_dataset_import_opts o;
    st_err e;
    memset(&o, 0, sizeof(o));
    o.input.format = ST_DATA_CSV;
    o.input.path = "examples/data/digits.csv";
    o.input.label = "label";
    o.name = name;
    o.owner = "alice";
    o.classification = "confidential";
    o.retention_days = 30;
    o.recipients = rcpts;
    o.nrecipients = 1;
    o.signing_seed = f->seed;
    assert_st_ok(st_dataset_import(f->ws, f->kr, &o, NULL, &e), &e);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    st_err e;
    f->dir = st_test_tmpdir("runtime");
    snprintf(f->ws_dir, sizeof(f->ws_dir), "%s/ws", f->dir);
    snprintf(f->out_dir, sizeof(f->out_dir), "%s/out", f->dir);
    assert_int_equal(mkdir(f->out_dir, 0700), 0);
    st_test_workspace(f->dir, f->ws_dir, &f->ws, &f->kr);
    assert_st_ok(st_random(f->seed, 32, &e), &e);
    assert_st_ok(st_random(f->sim_seed, 32, &e), &e);
    assert_st_ok(st_age_keygen(&f->age_secret, f->recipient, &e), &e);
    import(f, "digits");
    import(f, "other");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    st_keyring_close(f->kr);
    st_workspace_close(f->ws);
    st_secret_free(f->age_secret);
    st_test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* A signed-spec payload: a small logistic model on `train` (and
 * `valid`, or NULL) for `epochs`, checkpoints every `every` epochs. */
static char *spec_text(const fixture *f, const char *train, const char *valid,
                       int epochs, int every, int hidden)
{
    json_t *ds = json_pack("{s:s}", "train", train);
    if (valid)
        json_object_set_new(ds, "validation", json_string(valid));
    json_t *s = json_pack(
        "{s:i,s:s,s:{s:s,s:[i],s:s},s:{s:s,s:f,s:i,s:i,s:i},s:o,s:{s:s,s:s},"
        "s:{s:s,s:[s]},s:i}",
        "version", 1, "name", "rt-test", "model", "type", "mlp", "hidden",
        hidden, "activation", "relu", "training", "optimizer", "adam",
        "learning_rate", 0.01, "batch_size", 256, "epochs", epochs, "seed", 3,
        "datasets", ds, "security", "tee", "sim", "sandbox", "strict",
        "outputs", "model", "rt-test", "recipients", f->recipient,
        "checkpoint_every", every);
    assert_non_null(s);
    char *t = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(s);
    return t;
}

/* What the cheating controller does besides the protocol. */
typedef struct controller {
    const char *handed[ST_RUNTIME_MAX_DATASETS]; /* datasets it hands over */
    size_t nhanded;
    int resume;
    int cancel_at_epoch;     /* send CANCEL after this epoch's PROGRESS */
    const uint8_t *ckpt_key; /* a checkpoint key of its own, or NULL */
    /* results */
    int final_type; /* ST_MSG_RESULT or ST_MSG_ERROR */
    char error[600];
    int exit_status;
} controller;

/* Forks the runtime on `spec` and plays the controller `c`. */
static void run(fixture *f, const char *spec, controller *c)
{
    st_err e;
    static st_runtime_args a; /* large; the child gets a copy */
    memset(&a, 0, sizeof(a));
    snprintf(a.job_id, sizeof(a.job_id), "%s", JOB_ID);
    a.spec = spec;
    a.spec_len = strlen(spec);
    a.tee = ST_TEE_SIM;
    a.sim_seed = f->sim_seed;
    a.agent_fd = -1;
    memset(a.measurement, 0x5a, 32);
    a.resume = c->resume;
    for (size_t i = 0; i < c->nhanded; i++) {
        st_dataset_record rec;
        assert_st_ok(st_dataset_get(f->ws, c->handed[i], &rec, &e), &e);
        snprintf(a.ds[i].name, sizeof(a.ds[i].name), "%s", c->handed[i]);
        memcpy(a.ds[i].plain_sha256, rec.m.plain_sha256, 32);
        a.ds[i].fd = open(rec.path, O_RDONLY | O_CLOEXEC);
        assert_true(a.ds[i].fd >= 0);
        st_dataset_record_free(&rec);
    }
    a.ndatasets = c->nhanded;
    a.outdir_fd = open(f->out_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(a.outdir_fd >= 0);
    a.nrecipients = 1;
    snprintf(a.recipients[0], sizeof(a.recipients[0]), "%s", f->recipient);

    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sp[0]);
        _exit(st_runtime_main(&a, sp[1]));
    }
    close(sp[1]);
    for (size_t i = 0; i < a.ndatasets; i++)
        close(a.ds[i].fd);
    close(a.outdir_fd);
    int sock = sp[0];

    st_broker_msg m;
    st_broker_hello h;
    assert_st_ok(st_broker_recv(sock, 10000, &m, &e), &e);
    c->final_type = 0;
    c->error[0] = 0;
    if (m.type == ST_MSG_ERROR) {
        /* refused before asking for keys */
        json_t *j = NULL;
        assert_st_ok(st_broker_json_parse(&m, &j, &e), &e);
        const char *msg = json_string_value(json_object_get(j, "message"));
        snprintf(c->error, sizeof(c->error), "%s", msg ? msg : "");
        json_decref(j);
        st_broker_msg_free(&m);
        c->final_type = ST_MSG_ERROR;
        close(sock);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        c->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return;
    }
    assert_st_ok(st_broker_hello_parse(&m, &h, &e), &e);
    st_broker_msg_free(&m);
    uint8_t nonce[32];
    assert_st_ok(st_random(nonce, 32, &e), &e);
    assert_st_ok(st_broker_send(sock, ST_MSG_NONCE, nonce, 32, &e), &e);
    assert_st_ok(st_broker_recv(sock, 30000, &m, &e), &e);
    assert_int_equal(m.type, ST_MSG_EVIDENCE);
    st_broker_msg_free(&m);

    /* every handed dataset's real key, wrapped to the runtime */
    st_broker_keys *keys = calloc(1, sizeof(*keys));
    assert_non_null(keys);
    for (size_t i = 0; i < c->nhanded; i++) {
        st_secret *fk = NULL;
        char name[ST_BROKER_KEY_NAME_MAX + 1];
        snprintf(name, sizeof(name), "dataset:%s", c->handed[i]);
        assert_st_ok(
            st_dataset_file_key(f->ws, f->kr, c->handed[i], &fk, NULL, &e), &e);
        assert_st_ok(st_broker_wrap_key(h.x25519, JOB_ID, name,
                                        st_secret_bytes(fk), st_secret_len(fk),
                                        &keys->k[keys->n++], &e),
                     &e);
        st_secret_free(fk);
    }
    if (c->ckpt_key)
        assert_st_ok(st_broker_wrap_key(h.x25519, JOB_ID,
                                        ST_RUNTIME_CHECKPOINT_KEY, c->ckpt_key,
                                        32, &keys->k[keys->n++], &e),
                     &e);
    st_buf b;
    st_buf_init(&b);
    assert_st_ok(st_broker_keys_encode(keys, &b, &e), &e);
    assert_st_ok(st_broker_send(sock, ST_MSG_KEYS, b.data, b.len, &e), &e);
    st_buf_free(&b);
    free(keys);

    int cancelled = 0;
    for (;;) {
        if (st_broker_recv(sock, 120000, &m, &e) != ST_OK)
            break;
        json_t *j = NULL;
        if (m.type == ST_MSG_PROGRESS && !cancelled && c->cancel_at_epoch &&
            st_broker_json_parse(&m, &j, NULL) == ST_OK &&
            json_integer_value(json_object_get(j, "epoch")) >=
                c->cancel_at_epoch) {
            assert_st_ok(st_broker_send(sock, ST_MSG_CANCEL, NULL, 0, &e), &e);
            cancelled = 1;
        } else if (m.type == ST_MSG_ERROR &&
                   st_broker_json_parse(&m, &j, NULL) == ST_OK) {
            const char *msg = json_string_value(json_object_get(j, "message"));
            snprintf(c->error, sizeof(c->error), "%s", msg ? msg : "");
        }
        json_decref(j);
        int t = m.type;
        st_broker_msg_free(&m);
        if (t == ST_MSG_RESULT || t == ST_MSG_ERROR) {
            c->final_type = t;
            break;
        }
    }
    close(sock);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    c->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int out_exists(const fixture *f, const char *name)
{
    char p[4400];
    snprintf(p, sizeof(p), "%s/%s", f->out_dir, name);
    return access(p, F_OK) == 0;
}

static void out_remove(const fixture *f, const char *name)
{
    char p[4400];
    snprintf(p, sizeof(p), "%s/%s", f->out_dir, name);
    unlink(p);
}

/* Whether the checkpoint opens under `key`, with the AAD the runtime
 * wrote before checkpoints were bound to the spec ("sealtrain-checkpoint-
 * v1" 0 job id) or those since (v2, and v3 that adds the history to the
 * plaintext: "...-vN" 0 job id 0 spec digest). */
static int checkpoint_opens_with(const fixture *f, const uint8_t key[32],
                                 const char *spec)
{
    char p[4400];
    unsigned char *in = NULL;
    size_t len = 0;
    st_err e;
    snprintf(p, sizeof(p), "%s/%s", f->out_dir, ST_RUNTIME_CHECKPOINT_FILE);
    assert_st_ok(st_fs_read_all(p, 1u << 30, &in, &len, &e), &e);
    assert_true(len > 8 + ST_AEAD_NONCE_LEN + ST_AEAD_TAG_LEN);
    size_t n = len - 8 - ST_AEAD_NONCE_LEN - ST_AEAD_TAG_LEN;
    uint8_t *plain = malloc(n), digest[32];
    st_sha256(spec, strlen(spec), digest);
    int ok = 0;
    for (int v = 1; v <= 3; v++) {
        st_buf aad;
        st_buf_init(&aad);
        char label[24];
        snprintf(label, sizeof(label), "sealtrain-checkpoint-v%d", v);
        assert_st_ok(st_buf_append(&aad, label, 24, &e), &e);
        assert_st_ok(st_buf_append(&aad, JOB_ID, strlen(JOB_ID) + (v > 1), &e),
                     &e);
        if (v > 1)
            assert_st_ok(st_buf_append(&aad, digest, 32, &e), &e);
        ok |= st_aead_open(key, in + 8, aad.data, aad.len,
                           in + 8 + ST_AEAD_NONCE_LEN,
                           len - 8 - ST_AEAD_NONCE_LEN, plain, &e) == ST_OK;
        st_buf_free(&aad);
    }
    free(plain);
    free(in);
    return ok;
}

/* The checkpoint key as docs/formats.md defines it, computed from the
 * workspace's own keyring: what whoever holds every KEK of a local job
 * can do (docs/security.md, "the local case"). */
static void derive_checkpoint_key(fixture *f, const char *spec,
                                  const char *dataset, uint8_t key[32])
{
    st_err e;
    st_secret *fk = NULL;
    assert_st_ok(st_dataset_file_key(f->ws, f->kr, dataset, &fk, NULL, &e), &e);
    uint8_t ikm[512], salt[32];
    size_t nl = strlen(dataset), kl = st_secret_len(fk), n = 0;
    assert_true(8 + nl + kl <= sizeof(ikm));
    ikm[n++] = 0, ikm[n++] = 0, ikm[n++] = (uint8_t)(nl >> 8),
    ikm[n++] = (uint8_t)nl;
    memcpy(ikm + n, dataset, nl);
    n += nl;
    ikm[n++] = 0, ikm[n++] = 0, ikm[n++] = (uint8_t)(kl >> 8),
    ikm[n++] = (uint8_t)kl;
    memcpy(ikm + n, st_secret_cbytes(fk), kl);
    n += kl;
    st_secret_free(fk);
    st_sha256(spec, strlen(spec), salt);
    char info[64];
    int il = snprintf(info, sizeof(info), "sealtrain-checkpoint-key-v1%c%s", 0,
                      JOB_ID);
    assert_st_ok(
        st_hkdf_sha256(ikm, n, salt, 32, info, (size_t)il, key, 32, &e), &e);
    st_wipe(ikm, sizeof(ikm));
}

/* Writes checkpoint.enc holding a fresh trainer for `forged_spec`'s
 * configuration, sealed as the runtime sealed checkpoints (version 2,
 * which it still resumes) of the job whose signed spec is `spec`. */
static void forge_checkpoint(fixture *f, const char *spec,
                             const char *forged_spec)
{
    st_err e;
    json_t *j = json_loads(forged_spec, 0, NULL);
    assert_non_null(j);
    st_train_config cfg;
    assert_st_ok(st_train_config_from_json(json_object_get(j, "model"),
                                           json_object_get(j, "training"), &cfg,
                                           &e),
                 &e);
    json_decref(j);
    /* the digits' shape: 64 features, 10 classes */
    float x[20 * 64], y[20];
    for (int i = 0; i < 20; i++) {
        y[i] = (float)(i % 10);
        for (int k = 0; k < 64; k++)
            x[i * 64 + k] = (float)((i + k) % 17);
    }
    st_train_data d = {x, y, 20, 64, 1, 10};
    assert_st_ok(st_train_config_resolve(&cfg, &d, &e), &e);
    st_trainer *t = NULL;
    assert_st_ok(st_trainer_new(&cfg, &t, &e), &e);
    st_secret *state = NULL;
    assert_st_ok(st_trainer_checkpoint(t, &state, &e), &e);
    st_trainer_free(t);

    uint8_t key[32], digest[32];
    derive_checkpoint_key(f, spec, "digits", key);
    st_sha256(spec, strlen(spec), digest);
    st_buf aad;
    st_buf_init(&aad);
    assert_st_ok(st_buf_append(&aad, "sealtrain-checkpoint-v2", 24, &e), &e);
    assert_st_ok(st_buf_append(&aad, JOB_ID, strlen(JOB_ID) + 1, &e), &e);
    assert_st_ok(st_buf_append(&aad, digest, 32, &e), &e);
    size_t n = st_secret_len(state);
    size_t total = 8 + ST_AEAD_NONCE_LEN + n + ST_AEAD_TAG_LEN;
    uint8_t *out = malloc(total);
    memcpy(out, ST_CHECKPOINT_MAGIC_V2, 8);
    assert_st_ok(st_random(out + 8, ST_AEAD_NONCE_LEN, &e), &e);
    assert_st_ok(st_aead_seal(key, out + 8, aad.data, aad.len,
                              st_secret_bytes(state), n,
                              out + 8 + ST_AEAD_NONCE_LEN, &e),
                 &e);
    char p[4400];
    snprintf(p, sizeof(p), "%s/%s", f->out_dir, ST_RUNTIME_CHECKPOINT_FILE);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(out, 1, total, fp), total);
    fclose(fp);
    st_secret_free(state);
    st_buf_free(&aad);
    st_wipe(key, 32);
    free(out);
}

static void test_cancel_without_checkpoint_every_writes_none(void **state)
{
    fixture *f = *state;
    /* today's controller also sends a checkpoint key: offer one */
    uint8_t key[32];
    st_err e;
    assert_st_ok(st_random(key, 32, &e), &e);
    char *spec = spec_text(f, "digits", NULL, 400, 0, 8);
    controller c = {.handed = {"digits"},
                    .nhanded = 1,
                    .cancel_at_epoch = 1,
                    .ckpt_key = key};
    run(f, spec, &c);
    assert_int_equal(c.final_type, ST_MSG_ERROR);
    assert_int_equal(c.exit_status, ST_RUNTIME_EXIT_CANCEL);
    assert_false(out_exists(f, ST_RUNTIME_CHECKPOINT_FILE));
    assert_false(out_exists(f, ST_RUNTIME_MODEL_FILE));
    free(spec);
}

static void test_controller_cannot_open_checkpoints(void **state)
{
    fixture *f = *state;
    /* the controller offers a key of its own choosing */
    uint8_t mine[32];
    st_err e;
    assert_st_ok(st_random(mine, 32, &e), &e);
    char *spec = spec_text(f, "digits", NULL, 400, 1, 8);
    controller c = {.handed = {"digits"},
                    .nhanded = 1,
                    .cancel_at_epoch = 2,
                    .ckpt_key = mine};
    run(f, spec, &c);
    assert_int_equal(c.exit_status, ST_RUNTIME_EXIT_CANCEL);
    assert_true(out_exists(f, ST_RUNTIME_CHECKPOINT_FILE));
    assert_false(checkpoint_opens_with(f, mine, spec));
    /* the runtime itself resumes from it, with no key from anyone */
    controller r = {
        .handed = {"digits"}, .nhanded = 1, .resume = 1, .cancel_at_epoch = 1};
    run(f, spec, &r);
    assert_int_equal(r.exit_status, ST_RUNTIME_EXIT_CANCEL);
    assert_string_not_equal(r.error, "");
    out_remove(f, ST_RUNTIME_CHECKPOINT_FILE);
    free(spec);
}

/* A checkpoint whose configuration was edited and re-sealed under the
 * job's own key: the runtime builds the trainer from the signed spec and
 * refuses a checkpoint that does not match it, naming the field. */
static void test_resume_refuses_checkpoint_unlike_the_spec(void **state)
{
    fixture *f = *state;
    char *spec = spec_text(f, "digits", NULL, 400, 1, 8);
    struct {
        const char *forged, *field;
    } cases[] = {
        {spec_text(f, "digits", NULL, 400, 1, 16), "model.hidden"},
        {spec_text(f, "digits", NULL, 615, 1, 8), "training.epochs"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        forge_checkpoint(f, spec, cases[i].forged);
        controller r = {.handed = {"digits"},
                        .nhanded = 1,
                        .resume = 1,
                        .cancel_at_epoch = 1};
        run(f, spec, &r);
        if (!strstr(r.error, cases[i].field))
            fail_msg("case %zu: exit %d, error \"%s\" does not name %s", i,
                     r.exit_status, r.error, cases[i].field);
        assert_non_null(strstr(r.error, "the signed spec says"));
        assert_int_equal(r.exit_status, ST_RUNTIME_EXIT_DENIED);
        assert_false(out_exists(f, ST_RUNTIME_MODEL_FILE));
        free((char *)cases[i].forged);
    }
    /* the same forgery with the spec's own configuration resumes */
    forge_checkpoint(f, spec, spec);
    controller ok = {
        .handed = {"digits"}, .nhanded = 1, .resume = 1, .cancel_at_epoch = 1};
    run(f, spec, &ok);
    assert_int_equal(ok.exit_status, ST_RUNTIME_EXIT_CANCEL);
    out_remove(f, ST_RUNTIME_CHECKPOINT_FILE);
    free(spec);
}

/* Datasets the signed spec does not name, or in another role, or one
 * missing or one too many: the runtime refuses before decrypting. */
static void test_runtime_refuses_datasets_unlike_the_spec(void **state)
{
    fixture *f = *state;
    struct {
        const char *train, *valid; /* the spec's */
        const char *handed[ST_RUNTIME_MAX_DATASETS];
        size_t n;
        const char *says;
    } cases[] = {
        {"digits", NULL, {"other"}, 1, "\"other\""},
        {"digits", "other", {"other", "digits"}, 2, "\"other\""},
        {"digits", "other", {"digits"}, 1, "validation"},
        {"digits", NULL, {"digits", "other"}, 2, "\"other\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *spec = spec_text(f, cases[i].train, cases[i].valid, 3, 0, 8);
        controller c = {.nhanded = cases[i].n};
        for (size_t k = 0; k < cases[i].n; k++)
            c.handed[k] = cases[i].handed[k];
        run(f, spec, &c);
        if (c.exit_status != ST_RUNTIME_EXIT_DENIED ||
            !strstr(c.error, cases[i].says))
            fail_msg("case %zu: exit %d, error \"%s\" (wanted a refusal "
                     "naming %s)",
                     i, c.exit_status, c.error, cases[i].says);
        assert_false(out_exists(f, ST_RUNTIME_MODEL_FILE));
        free(spec);
    }
    /* handed as the spec says, the job runs */
    char *spec = spec_text(f, "digits", "other", 3, 0, 8);
    controller ok = {.handed = {"digits", "other"}, .nhanded = 2};
    run(f, spec, &ok);
    assert_int_equal(ok.final_type, ST_MSG_RESULT);
    out_remove(f, ST_RUNTIME_MODEL_FILE);
    free(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_without_checkpoint_every_writes_none),
        cmocka_unit_test(test_controller_cannot_open_checkpoints),
        cmocka_unit_test(test_resume_refuses_checkpoint_unlike_the_spec),
        cmocka_unit_test(test_runtime_refuses_datasets_unlike_the_spec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
