/*
 * test_workspace.c: workspace creation and opening, permission checks,
 * the config parser, catalog settings and migrations, the blob store.
 */
#include "st_test.h"

#include <sqlite3.h>
#include <sys/wait.h>

#include <sealtrain/sealtrain.h>

#include "store/catalog.h"
#include "store/config.h"

static st_workspace *make_ws(const char *root, char *dir, size_t cap)
{
    st_err e;
    st_protect p;
    snprintf(dir, cap, "%s/ws", root);
    assert_st_ok(st_protect_parse("file:/nonexistent/key", &p, &e), &e);
    st_workspace *ws = NULL;
    assert_st_ok(st_workspace_create_begin(dir, &p, &ws, &e), &e);
    assert_st_ok(st_workspace_create_commit(ws, &e), &e);
    return ws;
}

static int mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return (int)(st.st_mode & 07777);
}

static void test_created_workspace_is_private_and_complete(void **state)
{
    (void)state;
    char *root = st_test_tmpdir("ws");
    char dir[4096], p[4200];
    st_workspace *ws = make_ws(root, dir, sizeof(dir));
    assert_string_equal(st_workspace_dir(ws), dir);
    assert_int_equal(mode_of(dir), 0700);
    const char *subs[] = {"blobs", "datasets", "jobs", "models",
                          "audit", "logs",     "keys", "tmp"};
    for (size_t i = 0; i < 8; i++) {
        st_err e;
        assert_st_ok(st_workspace_subdir(ws, subs[i], p, sizeof(p), &e), &e);
        assert_int_equal(mode_of(p), 0700);
    }
    snprintf(p, sizeof(p), "%s/config.json", dir);
    assert_int_equal(mode_of(p), 0600);
    snprintf(p, sizeof(p), "%s/catalog.db", dir);
    assert_int_equal(mode_of(p), 0600);
    st_workspace_close(ws);

    st_err e;
    assert_st_ok(st_workspace_open(dir, &ws, &e), &e);
    assert_int_equal(st_workspace_protect(ws)->kind, ST_PROTECT_FILE);
    assert_string_equal(st_workspace_protect(ws)->path, "/nonexistent/key");
    st_workspace_close(ws);
    st_test_rmtree(root);
    free(root);
}

static void test_create_on_existing_path_is_refused(void **state)
{
    (void)state;
    char *root = st_test_tmpdir("ws");
    char dir[4096];
    st_workspace *ws = make_ws(root, dir, sizeof(dir));
    st_workspace_close(ws);
    st_err e;
    st_protect p = {.kind = ST_PROTECT_PASSPHRASE};
    assert_int_equal(st_workspace_create_begin(dir, &p, &ws, &e), ST_E_EXISTS);
    assert_non_null(strstr(e.msg, "already exists"));
    /* even an empty directory is not replaced */
    char empty[4200];
    snprintf(empty, sizeof(empty), "%s/empty", root);
    assert_int_equal(mkdir(empty, 0700), 0);
    assert_int_equal(st_workspace_create_begin(empty, &p, &ws, &e),
                     ST_E_EXISTS);
    st_test_rmtree(root);
    free(root);
}

static void test_uncommitted_creation_leaves_no_workspace(void **state)
{
    (void)state;
    char *root = st_test_tmpdir("ws");
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/ws", root);
    st_err e;
    st_protect p = {.kind = ST_PROTECT_PASSPHRASE};
    st_workspace *ws = NULL;
    assert_st_ok(st_workspace_create_begin(dir, &p, &ws, &e), &e);
    assert_false(st_fs_exists(dir));
    /* a crash here leaves only the staging directory: simulate by
     * forking a child that dies before the commit */
    pid_t pid = fork();
    if (pid == 0) {
        st_workspace *w2 = NULL;
        snprintf(dir, sizeof(dir), "%s/ws2", root);
        if (st_workspace_create_begin(dir, &p, &w2, NULL) != ST_OK)
            _exit(1);
        _exit(0); /* no close, no commit */
    }
    assert_true(pid > 0);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(dir, sizeof(dir), "%s/ws2", root);
    assert_false(st_fs_exists(dir));
    st_workspace *none = NULL;
    assert_int_equal(st_workspace_open(dir, &none, &e), ST_E_NOTFOUND);
    /* the next init sweeps the leftover and succeeds */
    st_workspace *w3 = NULL;
    assert_st_ok(st_workspace_create_begin(dir, &p, &w3, &e), &e);
    assert_st_ok(st_workspace_create_commit(w3, &e), &e);
    st_workspace_close(w3);
    st_workspace_close(ws); /* removes its staging directory */
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -q init", root);
    assert_int_not_equal(system(cmd), 0); /* no staging dirs remain */
    st_test_rmtree(root);
    free(root);
}

static void expect_denied_naming(const char *dir, const char *path)
{
    st_err e;
    st_workspace *ws = NULL;
    assert_int_equal(st_workspace_open(dir, &ws, &e), ST_E_DENIED);
    assert_null(ws);
    if (!strstr(e.msg, path))
        fail_msg("error does not name %s: %s", path, e.msg);
}

static void test_open_refuses_loosened_permissions_naming_path(void **state)
{
    (void)state;
    char *root = st_test_tmpdir("ws");
    char dir[4096], p[4200];
    st_workspace *ws = make_ws(root, dir, sizeof(dir));
    st_workspace_close(ws);

    assert_int_equal(chmod(dir, 0755), 0);
    expect_denied_naming(dir, dir);
    assert_int_equal(chmod(dir, 0700), 0);

    snprintf(p, sizeof(p), "%s/keys", dir);
    assert_int_equal(chmod(p, 0710), 0);
    expect_denied_naming(dir, p);
    assert_int_equal(chmod(p, 0700), 0);

    snprintf(p, sizeof(p), "%s/config.json", dir);
    assert_int_equal(chmod(p, 0644), 0);
    expect_denied_naming(dir, p);
    assert_int_equal(chmod(p, 0600), 0);

    snprintf(p, sizeof(p), "%s/keys/keyring.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{}", f);
    fclose(f);
    assert_int_equal(chmod(p, 0640), 0);
    expect_denied_naming(dir, p);
    unlink(p);

    st_err e;
    assert_st_ok(st_workspace_open(dir, &ws, &e), &e);
    st_workspace_close(ws);
    st_test_rmtree(root);
    free(root);
}

static void test_config_parser_rejects_with_location(void **state)
{
    (void)state;
    st_ws_config c;
    st_err e;
    const char good[] = "{\"format\":\"sealtrain-workspace\",\"version\":1,"
                        "\"created\":\"2026-01-02T03:04:05Z\","
                        "\"protection\":{\"type\":\"tpm\"}}";
    assert_st_ok(st_ws_config_parse(good, strlen(good), "c.json", &c, &e), &e);
    assert_int_equal(c.protect.kind, ST_PROTECT_TPM);
    const char *bad[] = {
        "{\"format\":\"sealtrain-workspace\",\"version\":1,"
        "\"created\":\"2026-01-02T03:04:05Z\",\"protection\":{\"type\":"
        "\"tpm\"},\"extra\":1}",
        "{\"format\":\"sealtrain-workspace\",\"version\":2,"
        "\"created\":\"2026-01-02T03:04:05Z\",\"protection\":{\"type\":"
        "\"tpm\"}}",
        "{\"format\":\"sealtrain-workspace\",\"version\":1,"
        "\"created\":\"2026-02-31T03:04:05Z\",\"protection\":{\"type\":"
        "\"tpm\"}}",
        "{\"format\":\"sealtrain-workspace\",\"version\":1,"
        "\"created\":\"2026-01-02T03:04:05Z\",\"protection\":{\"type\":"
        "\"file\",\"path\":\"rel/key\"}}",
        "{\"format\":\"sealtrain-workspace\",\"version\":1,"
        "\"created\":\"2026-01-02T03:04:05Z\",\"protection\":{\"type\":"
        "\"tpm\",\"path\":\"/k\"}}",
        "{\"format\":\"x\"}",
        "[1]",
        "{\"format\":\"sealtrain-workspace\",\n\"format\":\"y\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st_err_clear(&e);
        assert_int_equal(
            st_ws_config_parse(bad[i], strlen(bad[i]), "c.json", &c, &e),
            ST_E_INPUT);
        if (!strstr(e.msg, "c.json"))
            fail_msg("case %zu: error lacks the file name: %s", i, e.msg);
    }
    /* round trip */
    assert_st_ok(st_ws_config_parse(good, strlen(good), "c.json", &c, &e), &e);
    c.protect.kind = ST_PROTECT_FILE;
    snprintf(c.protect.path, sizeof(c.protect.path), "/k/f");
    size_t n;
    char *text = st_ws_config_serialize(&c, &n, &e);
    assert_non_null(text);
    st_ws_config c2;
    assert_st_ok(st_ws_config_parse(text, n, "rt", &c2, &e), &e);
    assert_string_equal(c2.protect.path, "/k/f");
    free(text);
}

static void test_catalog_uses_wal_and_foreign_keys(void **state)
{
    (void)state;
    char *root = st_test_tmpdir("ws");
    char dir[4096];
    st_workspace *ws = make_ws(root, dir, sizeof(dir));
    sqlite3_stmt *st;
    sqlite3 *db = st_workspace_db(ws);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    st_workspace_close(ws);
    st_test_rmtree(root);
    free(root);
}

static void test_migrations_apply_once_in_order(void **state)
{
    (void)state;
    char *root = st_test_tmpdir("ws");
    char dir[4096];
    st_workspace *ws = make_ws(root, dir, sizeof(dir));
    st_err e;
    static const char *const v1[] = {
        "CREATE TABLE parent(id INTEGER PRIMARY KEY)",
    };
    static const char *const v2[] = {
        "CREATE TABLE parent(id INTEGER PRIMARY KEY)",
        "CREATE TABLE child(p INTEGER NOT NULL REFERENCES parent(id))",
    };
    int64_t v;
    assert_st_ok(st_catalog_migrate(ws, "t", v1, 1, &e), &e);
    assert_st_ok(st_catalog_version(ws, "t", &v, &e), &e);
    assert_int_equal(v, 1);
    /* re-running is a no-op; adding a step applies only that step */
    assert_st_ok(st_catalog_migrate(ws, "t", v1, 1, &e), &e);
    assert_st_ok(st_catalog_migrate(ws, "t", v2, 2, &e), &e);
    assert_st_ok(st_catalog_version(ws, "t", &v, &e), &e);
    assert_int_equal(v, 2);
    /* foreign keys are enforced */
    assert_int_not_equal(sqlite3_exec(st_workspace_db(ws),
                                      "INSERT INTO child(p) VALUES(42)", NULL,
                                      NULL, NULL),
                         SQLITE_OK);
    /* an older binary refuses a newer catalog */
    assert_int_equal(st_catalog_migrate(ws, "t", v1, 1, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "newer"));
    /* a failing step leaves the version where it was */
    static const char *const broken[] = {
        "CREATE TABLE parent(id INTEGER PRIMARY KEY)",
        "CREATE TABLE child(p INTEGER NOT NULL REFERENCES parent(id))",
        "CREATE TABLE x(a); THIS IS NOT SQL",
    };
    assert_int_not_equal(st_catalog_migrate(ws, "t", broken, 3, &e), ST_OK);
    assert_st_ok(st_catalog_version(ws, "t", &v, &e), &e);
    assert_int_equal(v, 2);
    assert_int_not_equal(
        sqlite3_exec(st_workspace_db(ws), "SELECT * FROM x", NULL, NULL, NULL),
        SQLITE_OK);
    st_workspace_close(ws);
    st_test_rmtree(root);
    free(root);
}

static void test_blobs_are_content_addressed_and_verified(void **state)
{
    (void)state;
    char *root = st_test_tmpdir("ws");
    char dir[4096], id[ST_BLOB_ID_LEN + 1], id2[ST_BLOB_ID_LEN + 1];
    char path[4200];
    st_workspace *ws = make_ws(root, dir, sizeof(dir));
    st_err e;
    assert_st_ok(st_blob_put(ws, "abc", 3, id, &e), &e);
    assert_string_equal(
        id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unsigned char *data;
    size_t len;
    assert_st_ok(st_blob_get(ws, id, 100, &data, &len, &e), &e);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "abc", 3);
    free(data);
    /* the same content from a file gets the same id */
    snprintf(path, sizeof(path), "%s/in", root);
    FILE *f = fopen(path, "w");
    fputs("abc", f);
    fclose(f);
    assert_st_ok(st_blob_put_file(ws, path, id2, &e), &e);
    assert_string_equal(id, id2);
    /* a changed blob is detected */
    assert_st_ok(st_blob_path(ws, id, path, sizeof(path), &e), &e);
    f = fopen(path, "w");
    fputs("abd", f);
    fclose(f);
    assert_int_equal(st_blob_verify(ws, id, &e), ST_E_DENIED);
    assert_int_equal(st_blob_get(ws, id, 100, &data, &len, &e), ST_E_DENIED);
    /* ids are checked before they become paths */
    assert_int_equal(
        st_blob_path(ws, "../../etc/passwd", path, sizeof(path), &e),
        ST_E_INPUT);
    st_workspace_close(ws);
    st_test_rmtree(root);
    free(root);
}

static void test_time_parse_is_strict(void **state)
{
    (void)state;
    time_t t;
    st_err e;
    assert_st_ok(st_time_parse("2026-11-25T13:02:06Z", &t, &e), &e);
    char back[ST_TIME_LEN];
    st_time_format(t, back);
    assert_string_equal(back, "2026-11-25T13:02:06Z");
    assert_int_equal(st_time_parse("2026-11-25T13:02:06+01:00", &t, &e),
                     ST_E_INPUT);
    assert_int_equal(st_time_parse("2026-02-30T00:00:00Z", &t, &e), ST_E_INPUT);
    assert_int_equal(st_time_parse("", &t, &e), ST_E_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_created_workspace_is_private_and_complete),
        cmocka_unit_test(test_create_on_existing_path_is_refused),
        cmocka_unit_test(test_uncommitted_creation_leaves_no_workspace),
        cmocka_unit_test(test_open_refuses_loosened_permissions_naming_path),
        cmocka_unit_test(test_config_parser_rejects_with_location),
        cmocka_unit_test(test_catalog_uses_wal_and_foreign_keys),
        cmocka_unit_test(test_migrations_apply_once_in_order),
        cmocka_unit_test(test_blobs_are_content_addressed_and_verified),
        cmocka_unit_test(test_time_parse_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
