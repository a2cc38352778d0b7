/*
 * test_upload.c: uploads of client-encrypted datasets (upload.h and the
 * st_dataset_encrypt / st_dataset_register pair): the strict request and
 * Content-Range parsers, a round trip that registers a dataset that
 * verifies deeply, the commit's refusals (another signer, changed bytes),
 * the write limits (offset, size, in-flight) and the expiry sweep. The
 * "server" runs in the test process against a real workspace, keyring
 * and catalog on disk.
 */
#include "st_test.h"
#include "st_test_ws.h"
#include "data/upload.h"

#include <sealtrain/sealtrain.h>

typedef struct fixture {
    char *dir;
    char ws_dir[4200];
    st_workspace *ws;
    st_keyring *kr;
    uint8_t seed[32];
    st_secret *intake_secret;
    char intake[ST_AGE_RECIPIENT_STRLEN];
    st_age_identity intake_id;
    st_upload_limits lim;
    /* filled by the wrap callback */
    st_upload_info info;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    st_err e;
    f->dir = st_test_tmpdir("upload");
    snprintf(f->ws_dir, sizeof(f->ws_dir), "%s/ws", f->dir);
    st_test_workspace(f->dir, f->ws_dir, &f->ws, &f->kr);
    /* an admin, and alice the data owner with her registered key */
    uint8_t admin_seed[32], pub[32];
    assert_st_ok(st_random(admin_seed, 32, &e), &e);
    assert_st_ok(st_random(f->seed, 32, &e), &e);
    assert_st_ok(st_ed25519_public(admin_seed, pub, &e), &e);
    char *pem = st_ed25519_public_pem(pub, &e);
    assert_st_ok(st_access_principal_add(f->ws, NULL, "root", ST_ROLE_ADMIN,
                                         pem, NULL, &e),
                 &e);
    free(pem);
    st_access_session s;
    assert_st_ok(st_access_authenticate(f->ws, "root", admin_seed, &s, &e), &e);
    assert_st_ok(st_ed25519_public(f->seed, pub, &e), &e);
    pem = st_ed25519_public_pem(pub, &e);
    assert_st_ok(st_access_principal_add(f->ws, "root", "alice",
                                         ST_ROLE_DATA_OWNER, pem, NULL, &e),
                 &e);
    free(pem);
    /* the server authenticated alice by her client certificate */
    assert_st_ok(st_access_authenticate(f->ws, "alice", f->seed, &s, &e), &e);
    assert_st_ok(st_age_keygen(&f->intake_secret, f->intake, &e), &e);
    assert_st_ok(
        st_age_x25519_identity((const char *)st_secret_cbytes(f->intake_secret),
                               &f->intake_id, &e),
        &e);
    f->lim.max_size = 1u << 24;
    f->lim.max_inflight = 1u << 25;
    f->lim.ttl_s = 3600;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    st_age_identity_clear(&f->intake_id);
    st_secret_free(f->intake_secret);
    st_keyring_close(f->kr);
    st_workspace_close(f->ws);
    st_test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* The client's wrap: the file key to the intake key, then the "server"
 * opens the upload and answers the sealtrain-kek stanza body. */
static ST_MUST_CHECK st_code wrap_via_upload(void *ctx, const char *kek,
                                             uint32_t version,
                                             const uint8_t *secret, size_t len,
                                             const uint8_t *aad, size_t aadlen,
                                             st_buf *out, uint32_t *used,
                                             st_err *err)
{
    (void)version, (void)aad, (void)aadlen, (void)len;
    fixture *f = ctx;
    st_upload_request req;
    memset(&req, 0, sizeof(req));
    snprintf(req.name, sizeof(req.name), "digits");
    snprintf(req.intake, sizeof(req.intake), "%s", f->intake);
    st_age_recipient r;
    st_code rc = st_age_x25519_recipient(f->intake, &r, err);
    if (!rc)
        rc = r.wrap(r.ctx, secret, &req.key, err);
    st_age_recipient_clear(&r);
    if (!rc)
        rc = st_upload_create(f->ws, f->kr, "alice", &req, &f->intake_id,
                              &f->lim, &f->info, out, err);
    st_upload_request_clear(&req);
    if (!rc && strcmp(f->info.kek, kek))
        rc = st_err_set(err, ST_E_INPUT, "server KEK %s", f->info.kek);
    *used = f->info.kek_version;
    return rc;
}

/* Encrypts digits.csv as alice would on her machine; *env is the signed
 * manifest (signed with `seed`). */
static void encrypt_digits(fixture *f, const char *out_path,
                           const uint8_t *seed, char **env,
                           st_dataset_manifest *m)
{
    st_err e;
    st_dataset_encrypt_opts o;
    memset(&o, 0, sizeof(o));
    o.input.format = ST_DATA_CSV;
    o.input.path = "examples/data/digits.csv";
    o.input.label = "label";
    o.name = "digits";
    o.owner = "alice";
    o.classification = "confidential";
    o.retention_days = -1;
    o.kek = "owner.alice";
    o.wrap = wrap_via_upload;
    o.wrap_ctx = f;
    o.id = f->info.dataset_id;
    o.out_path = out_path;
    assert_st_ok(st_dataset_encrypt(&o, m, &e), &e);
    assert_st_ok(st_dataset_manifest_sign(m, seed, env, &e), &e);
}

/* Sends the file in two chunks. */
static void send_file(fixture *f, const char *path)
{
    unsigned char *data;
    size_t len;
    st_err e;
    st_upload_info u;
    st_upload_refusal why;
    assert_st_ok(st_fs_read_all(path, 1u << 24, &data, &len, &e), &e);
    size_t half = len / 2;
    assert_st_ok(st_upload_write(f->ws, "alice", f->info.id, 0, len, data, half,
                                 &f->lim, &u, &why, &e),
                 &e);
    assert_int_equal(u.received, half);
    assert_st_ok(st_upload_write(f->ws, "alice", f->info.id, half, len,
                                 data + half, len - half, &f->lim, &u, &why,
                                 &e),
                 &e);
    assert_int_equal(u.received, len);
    free(data);
}

static void test_content_range_accepts_only_canonical_ranges(void **state)
{
    (void)state;
    uint64_t a, b, t;
    st_err e;
    assert_st_ok(st_upload_content_range_parse("bytes 0-9/10", &a, &b, &t, &e),
                 &e);
    assert_true(a == 0 && b == 9 && t == 10);
    static const char *bad[] = {"bytes 0-10/10",
                                "bytes 5-4/10",
                                "bytes 00-9/10",
                                "bytes +0-9/10",
                                "bytes 0-9/10 ",
                                "bytes  0-9/10",
                                "bytes 0-9/*",
                                "bytes */10",
                                "items 0-9/10",
                                "bytes 0-9",
                                "",
                                "bytes -1-9/10",
                                "bytes 0-9/99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(st_upload_content_range_parse(bad[i], &a, &b, &t, &e),
                         ST_E_INPUT);
}

static void test_upload_request_rejects_unknown_keys_and_bad_names(void **state)
{
    fixture *f = *state;
    st_upload_request r;
    st_err e;
    char ok[512], extra[600], badname[512];
    snprintf(ok, sizeof(ok),
             "{\"name\":\"d1\",\"intake\":\"%s\",\"file_key\":{\"args\":"
             "[\"X25519\",\"abc\"],\"body\":\"AAAA\"}}",
             f->intake);
    assert_st_ok(st_upload_request_parse(ok, strlen(ok), &r, &e), &e);
    assert_string_equal(r.name, "d1");
    assert_int_equal(r.key.nargs, 2);
    st_upload_request_clear(&r);
    snprintf(extra, sizeof(extra), "%.*s,\"x\":1}", (int)strlen(ok) - 1, ok);
    assert_int_equal(st_upload_request_parse(extra, strlen(extra), &r, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "x"));
    snprintf(badname, sizeof(badname), "{\"name\":\"../x\",%s",
             strchr(ok, ',') + 1);
    assert_int_equal(st_upload_request_parse(badname, strlen(badname), &r, &e),
                     ST_E_INPUT);
}

static void test_uploaded_dataset_registers_and_verifies_deeply(void **state)
{
    fixture *f = *state;
    st_err e;
    char path[4300], *env = NULL;
    snprintf(path, sizeof(path), "%s/digits.age", f->dir);
    st_dataset_manifest m, got;
    encrypt_digits(f, path, f->seed, &env, &m);
    send_file(f, path);
    assert_st_ok(st_upload_commit(f->ws, f->kr, "alice", f->info.id, env,
                                  strlen(env), &got, &e),
                 &e);
    assert_int_equal(got.rows, 1797);
    assert_string_equal(got.kek_name, "owner.alice");
    assert_memory_equal(got.file_sha256, m.file_sha256, 32);
    st_dataset_check chk;
    assert_st_ok(st_dataset_verify(f->ws, f->kr, "digits", 1, &chk, &e), &e);
    assert_int_equal(chk.plaintext, 1);
    /* the upload is gone once registered */
    st_upload_info u;
    assert_int_equal(st_upload_get(f->ws, "alice", f->info.id, &u, &e),
                     ST_E_NOTFOUND);
    st_dataset_manifest_free(&m);
    st_dataset_manifest_free(&got);
    free(env);
}

static void test_commit_refuses_another_signer_and_changed_bytes(void **state)
{
    fixture *f = *state;
    st_err e;
    char path[4300], *env = NULL, *forged = NULL;
    snprintf(path, sizeof(path), "%s/digits.age", f->dir);
    st_dataset_manifest m;
    encrypt_digits(f, path, f->seed, &env, &m);
    uint8_t other[32];
    assert_st_ok(st_random(other, 32, &e), &e);
    assert_st_ok(st_dataset_manifest_sign(&m, other, &forged, &e), &e);
    /* flip one payload byte before sending */
    unsigned char *data;
    size_t len;
    assert_st_ok(st_fs_read_all(path, 1u << 24, &data, &len, &e), &e);
    data[len - 1] ^= 1;
    assert_st_ok(st_fs_write_atomic(path, data, len, 0600, &e), &e);
    send_file(f, path);
    assert_int_equal(st_upload_commit(f->ws, f->kr, "alice", f->info.id, forged,
                                      strlen(forged), NULL, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "signature does not verify"));
    assert_int_equal(st_upload_commit(f->ws, f->kr, "alice", f->info.id, env,
                                      strlen(env), NULL, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "does not match the size and digests"));
    /* another principal cannot commit (or see) alice's upload */
    assert_int_equal(st_upload_commit(f->ws, f->kr, "root", f->info.id, env,
                                      strlen(env), NULL, &e),
                     ST_E_NOTFOUND);
    st_dataset_record rec;
    assert_int_equal(st_dataset_get(f->ws, "digits", &rec, &e), ST_E_NOTFOUND);
    assert_st_ok(st_upload_abort(f->ws, "alice", f->info.id, &e), &e);
    free(data);
    free(env);
    free(forged);
    st_dataset_manifest_free(&m);
}

static void test_write_enforces_offset_size_and_inflight(void **state)
{
    fixture *f = *state;
    st_err e;
    char path[4300], *env = NULL;
    snprintf(path, sizeof(path), "%s/digits.age", f->dir);
    st_dataset_manifest m;
    encrypt_digits(f, path, f->seed, &env, &m);
    st_upload_info u;
    st_upload_refusal why;
    uint8_t chunk[100] = {0};
    f->lim.max_size = 1000;
    assert_int_equal(st_upload_write(f->ws, "alice", f->info.id, 0, 1001, chunk,
                                     100, &f->lim, &u, &why, &e),
                     ST_E_INPUT);
    assert_int_equal(why, ST_UPLOAD_TOO_LARGE);
    f->lim.max_inflight = 999;
    assert_int_equal(st_upload_write(f->ws, "alice", f->info.id, 0, 1000, chunk,
                                     100, &f->lim, &u, &why, &e),
                     ST_E_INPUT);
    assert_int_equal(why, ST_UPLOAD_BUSY);
    f->lim.max_inflight = 1000;
    assert_st_ok(st_upload_write(f->ws, "alice", f->info.id, 0, 1000, chunk,
                                 100, &f->lim, &u, &why, &e),
                 &e);
    assert_int_equal(st_upload_write(f->ws, "alice", f->info.id, 50, 1000,
                                     chunk, 100, &f->lim, &u, &why, &e),
                     ST_E_INPUT);
    assert_int_equal(why, ST_UPLOAD_OFFSET);
    assert_int_equal(u.received, 100);
    assert_int_equal(st_upload_write(f->ws, "alice", f->info.id, 100, 2000,
                                     chunk, 100, &f->lim, &u, &why, &e),
                     ST_E_INPUT); /* the declared total cannot change */
    /* expiry: the sweep removes it, with its part file */
    size_t removed = 0;
    assert_st_ok(st_upload_sweep(f->ws, time(NULL) + 7200, 1, &removed, &e),
                 &e);
    assert_int_equal(removed, 1); /* dry run: counted, still there */
    assert_st_ok(st_upload_get(f->ws, "alice", f->info.id, &u, &e), &e);
    removed = 0;
    assert_st_ok(st_upload_sweep(f->ws, time(NULL) + 7200, 0, &removed, &e),
                 &e);
    assert_int_equal(removed, 1);
    assert_int_equal(st_upload_get(f->ws, "alice", f->info.id, &u, &e),
                     ST_E_NOTFOUND);
    char part[4300];
    snprintf(part, sizeof(part), "%s/tmp/uploads/%s.part", f->ws_dir,
             f->info.id);
    assert_false(st_fs_exists(part));
    free(env);
    st_dataset_manifest_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_range_accepts_only_canonical_ranges),
        cmocka_unit_test_setup_teardown(
            test_upload_request_rejects_unknown_keys_and_bad_names, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_uploaded_dataset_registers_and_verifies_deeply, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_commit_refuses_another_signer_and_changed_bytes, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_write_enforces_offset_size_and_inflight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
