/*
 * test_keyring.c: KEK wrap/unwrap, rotation, retire and revoke semantics,
 * tamper and rollback detection, wrong key file / passphrase errors, the
 * keyring file parsers, and the canary property (no secret that passes
 * through the keyring appears in plaintext in the workspace or logs).
 */
#include "st_test.h"

#include <dirent.h>
#include <fcntl.h>

#include <sealtrain/sealtrain.h>

#include "keys/keyring_file.h"

typedef struct fixture {
    char *root;
    char dir[4096];
    char keyfile[4096];
    st_workspace *ws;
    st_keyring *kr;
} fixture;

static void make(fixture *f, const char *protect)
{
    st_err e;
    f->root = st_test_tmpdir("kr");
    snprintf(f->dir, sizeof(f->dir), "%s/ws", f->root);
    snprintf(f->keyfile, sizeof(f->keyfile), "%s/root.key", f->root);
    char spec[4200];
    if (!protect)
        snprintf(spec, sizeof(spec), "file:%s", f->keyfile);
    else
        snprintf(spec, sizeof(spec), "%s", protect);
    st_protect p;
    assert_st_ok(st_protect_parse(spec, &p, &e), &e);
    assert_st_ok(st_workspace_create_begin(f->dir, &p, &f->ws, &e), &e);
    assert_st_ok(st_keyring_create(f->ws, &f->kr, &e), &e);
    assert_st_ok(st_workspace_create_commit(f->ws, &e), &e);
    st_keyring_close(f->kr);
    st_workspace_close(f->ws);
    assert_st_ok(st_workspace_open(f->dir, &f->ws, &e), &e);
    assert_st_ok(st_keyring_open(f->ws, &f->kr, &e), &e);
}

static void destroy(fixture *f)
{
    st_keyring_close(f->kr);
    st_workspace_close(f->ws);
    st_test_rmtree(f->root);
    free(f->root);
}

static void reopen(fixture *f)
{
    st_err e;
    st_keyring_close(f->kr);
    f->kr = NULL;
    assert_st_ok(st_keyring_open(f->ws, &f->kr, &e), &e);
}

static void wrap(fixture *f, const char *name, uint32_t version,
                 const char *secret, const char *aad, st_buf *out,
                 uint32_t *used)
{
    st_err e;
    st_buf_init(out);
    assert_st_ok(st_kek_wrap(f->kr, name, version, (const uint8_t *)secret,
                             strlen(secret), (const uint8_t *)aad, strlen(aad),
                             out, used, &e),
                 &e);
}

static ST_MUST_CHECK st_code unwrap(fixture *f, const char *name,
                                    uint32_t version, const st_buf *w,
                                    const char *aad, const char *expect,
                                    st_err *e)
{
    st_secret *s = NULL;
    st_code rc = st_kek_unwrap(f->kr, name, version, w->data, w->len,
                               (const uint8_t *)aad, strlen(aad), &s, e);
    if (rc == ST_OK) {
        assert_int_equal(st_secret_len(s), strlen(expect));
        assert_memory_equal(st_secret_bytes(s), expect, strlen(expect));
    }
    st_secret_free(s);
    return rc;
}

static void test_wrap_unwrap_round_trip_binds_aad(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    assert_st_ok(st_kek_create(f.kr, "data", 0, &e), &e);
    st_buf w;
    uint32_t used = 0;
    wrap(&f, "data", 0, "sixteen byte key", "file-1", &w, &used);
    assert_int_equal(used, 1);
    assert_int_equal(w.len, 16 + ST_KEK_WRAP_OVERHEAD);
    assert_int_equal(
        unwrap(&f, "data", 1, &w, "file-1", "sixteen byte key", &e), ST_OK);
    /* other context, other bytes: denied */
    assert_int_equal(unwrap(&f, "data", 1, &w, "file-2", "", &e), ST_E_DENIED);
    w.data[20] ^= 1;
    assert_int_equal(unwrap(&f, "data", 1, &w, "file-1", "", &e), ST_E_DENIED);
    /* survives reopening (KEK material is in the file, wrapped) */
    w.data[20] ^= 1;
    reopen(&f);
    assert_int_equal(
        unwrap(&f, "data", 1, &w, "file-1", "sixteen byte key", &e), ST_OK);
    assert_int_equal(unwrap(&f, "nokey", 1, &w, "file-1", "", &e),
                     ST_E_NOTFOUND);
    assert_int_equal(st_kek_create(f.kr, "data", 0, &e), ST_E_EXISTS);
    assert_int_equal(st_kek_create(f.kr, "Bad/Name", 0, &e), ST_E_USAGE);
    st_buf_free(&w);
    destroy(&f);
}

static void test_rotation_keeps_old_versions_unwrapping(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    assert_st_ok(st_kek_create(f.kr, "k", 0, &e), &e);
    st_buf w1, w2;
    wrap(&f, "k", 0, "secret-one", "a", &w1, NULL);
    uint32_t v = 0;
    assert_st_ok(st_kek_rotate(f.kr, NULL, "k", &v, &e), &e);
    assert_int_equal(v, 2);
    uint32_t cur = 0, used = 0;
    assert_st_ok(st_kek_current(f.kr, "k", &cur, &e), &e);
    assert_int_equal(cur, 2);
    wrap(&f, "k", 0, "secret-two", "a", &w2, &used);
    assert_int_equal(used, 2);
    assert_int_equal(unwrap(&f, "k", 1, &w1, "a", "secret-one", &e), ST_OK);
    assert_int_equal(unwrap(&f, "k", 2, &w2, "a", "secret-two", &e), ST_OK);
    /* versions are distinct keys */
    assert_int_equal(unwrap(&f, "k", 2, &w1, "a", "", &e), ST_E_DENIED);
    st_buf_free(&w1);
    st_buf_free(&w2);
    destroy(&f);
}

static void test_retired_version_unwraps_but_never_wraps(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    assert_st_ok(st_kek_create(f.kr, "k", 0, &e), &e);
    st_buf w1, w;
    wrap(&f, "k", 0, "old", "a", &w1, NULL);
    /* the current version cannot be retired */
    assert_int_equal(st_kek_retire(f.kr, NULL, "k", 1, &e), ST_E_USAGE);
    assert_non_null(strstr(e.msg, "rotate"));
    assert_st_ok(st_kek_rotate(f.kr, NULL, "k", NULL, &e), &e);
    assert_st_ok(st_kek_retire(f.kr, NULL, "k", 1, &e), &e);
    assert_int_equal(unwrap(&f, "k", 1, &w1, "a", "old", &e), ST_OK);
    st_buf_init(&w);
    assert_int_equal(st_kek_wrap(f.kr, "k", 1, (const uint8_t *)"x", 1, NULL, 0,
                                 &w, NULL, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "retired"));
    assert_int_equal(st_kek_retire(f.kr, NULL, "k", 9, &e), ST_E_NOTFOUND);
    st_buf_free(&w);
    st_buf_free(&w1);
    destroy(&f);
}

static void test_revoked_version_never_unwraps_and_names_it(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    assert_st_ok(st_kek_create(f.kr, "k", 0, &e), &e);
    st_buf w1;
    wrap(&f, "k", 0, "doomed", "a", &w1, NULL);
    assert_st_ok(st_kek_rotate(f.kr, NULL, "k", NULL, &e), &e);
    assert_st_ok(st_kek_revoke(f.kr, NULL, "k", 1, &e), &e);
    assert_int_equal(unwrap(&f, "k", 1, &w1, "a", "", &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, "key k version 1 is revoked"));
    reopen(&f);
    assert_int_equal(unwrap(&f, "k", 1, &w1, "a", "", &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, "key k version 1 is revoked"));
    /* the material is gone from the file: version 1 has no "wrapped" */
    char p[4200];
    snprintf(p, sizeof(p), "%s/keys/keyring.json", f.dir);
    unsigned char *text;
    size_t len;
    assert_st_ok(st_fs_read_all(p, 1 << 20, &text, &len, &e), &e);
    st_kr_data *d = NULL;
    assert_st_ok(st_kr_data_parse((char *)text, len, p, &d, &e), &e);
    assert_int_equal(d->keys[0].versions[0].state, ST_KEK_REVOKED);
    json_t *j = json_loads((char *)text, 0, NULL);
    json_t *v1 = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "keys"), 0),
                        "versions"),
        0);
    assert_null(json_object_get(v1, "wrapped"));
    json_decref(j);
    st_kr_data_free(d);
    free(text);
    /* revoking the current version leaves nothing to wrap with */
    assert_st_ok(st_kek_revoke(f.kr, NULL, "k", 2, &e), &e);
    uint32_t cur;
    assert_int_equal(st_kek_current(f.kr, "k", &cur, &e), ST_E_DENIED);
    assert_int_equal(st_kek_revoke(f.kr, NULL, "k", 2, &e), ST_E_USAGE);
    /* rotating makes a fresh version 3 */
    assert_st_ok(st_kek_rotate(f.kr, NULL, "k", &cur, &e), &e);
    assert_int_equal(cur, 3);
    st_buf_free(&w1);
    destroy(&f);
}

static void test_revocation_by_another_handle_takes_effect(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    assert_st_ok(st_kek_create(f.kr, "k", 0, &e), &e);
    st_buf w1;
    wrap(&f, "k", 0, "s", "a", &w1, NULL);
    st_keyring *other = NULL;
    assert_st_ok(st_keyring_open(f.ws, &other, &e), &e);
    assert_st_ok(st_kek_rotate(other, NULL, "k", NULL, &e), &e);
    assert_st_ok(st_kek_revoke(other, NULL, "k", 1, &e), &e);
    st_keyring_close(other);
    assert_int_equal(unwrap(&f, "k", 1, &w1, "a", "", &e), ST_E_DENIED);
    st_buf_free(&w1);
    destroy(&f);
}

/* A change committed in the catalog whose keyring.json.next was not yet
 * renamed into place (a crash or failed rename after COMMIT) is the
 * keyring in force: the next open takes it and moves it into place. */
static void test_committed_change_not_yet_in_place_is_in_force(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    char path[4200], next[4200];
    snprintf(path, sizeof(path), "%s/keys/keyring.json", f.dir);
    snprintf(next, sizeof(next), "%s/keys/keyring.json.next", f.dir);
    assert_st_ok(st_kek_create(f.kr, "k", 0, &e), &e);
    unsigned char *old = NULL, *new = NULL;
    size_t old_len = 0, new_len = 0;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &old, &old_len, &e), &e);
    uint32_t v = 0;
    assert_st_ok(st_kek_rotate(f.kr, NULL, "k", &v, &e), &e);
    assert_int_equal(v, 2);
    assert_st_ok(st_fs_read_all(path, 1 << 20, &new, &new_len, &e), &e);
    /* as if the process died between its COMMIT and its rename */
    assert_int_equal(rename(path, next), 0);
    assert_st_ok(st_fs_write_atomic(path, old, old_len, 0600, &e), &e);
    reopen(&f);
    assert_st_ok(st_kek_current(f.kr, "k", &v, &e), &e);
    assert_int_equal(v, 2);
    assert_false(st_fs_exists(next));
    unsigned char *now = NULL;
    size_t now_len = 0;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &now, &now_len, &e), &e);
    assert_int_equal(now_len, new_len);
    assert_memory_equal(now, new, new_len);
    free(now);
    free(old);
    free(new);
    destroy(&f);
}

/* A keyring.json.next that the catalog never recorded (its commit did not
 * land) is not in force, and the next open removes it. */
static void test_uncommitted_change_is_removed(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    char path[4200], next[4200];
    snprintf(path, sizeof(path), "%s/keys/keyring.json", f.dir);
    snprintf(next, sizeof(next), "%s/keys/keyring.json.next", f.dir);
    assert_st_ok(st_kek_create(f.kr, "k", 0, &e), &e);
    unsigned char *before = NULL;
    size_t before_len = 0;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &before, &before_len, &e), &e);
    /* a rotation written on a copy of the workspace, so never committed
     * in this one's catalog */
    char copy[4200], cmd[9000];
    snprintf(copy, sizeof(copy), "%s/copy", f.root);
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", f.dir, copy);
    assert_int_equal(system(cmd), 0);
    st_workspace *ws2 = NULL;
    st_keyring *kr2 = NULL;
    assert_st_ok(st_workspace_open(copy, &ws2, &e), &e);
    assert_st_ok(st_keyring_open(ws2, &kr2, &e), &e);
    assert_st_ok(st_kek_rotate(kr2, NULL, "k", NULL, &e), &e);
    st_keyring_close(kr2);
    st_workspace_close(ws2);
    char copied[4200];
    snprintf(copied, sizeof(copied), "%s/keys/keyring.json", copy);
    unsigned char *ahead = NULL;
    size_t ahead_len = 0;
    assert_st_ok(st_fs_read_all(copied, 1 << 20, &ahead, &ahead_len, &e), &e);
    assert_st_ok(st_fs_write_atomic(next, ahead, ahead_len, 0600, &e), &e);
    reopen(&f);
    uint32_t v = 0;
    assert_st_ok(st_kek_current(f.kr, "k", &v, &e), &e);
    assert_int_equal(v, 1);
    assert_false(st_fs_exists(next));
    unsigned char *now = NULL;
    size_t now_len = 0;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &now, &now_len, &e), &e);
    assert_int_equal(now_len, before_len);
    assert_memory_equal(now, before, before_len);
    free(now);
    free(ahead);
    free(before);
    destroy(&f);
}

static void rewrite_file(const char *path, const char *from, const char *to)
{
    st_err e;
    unsigned char *text;
    size_t len;
    assert_st_ok(st_fs_read_all(path, 1 << 20, &text, &len, &e), &e);
    char *at = strstr((char *)text, from);
    assert_non_null(at);
    size_t out_len = len - strlen(from) + strlen(to);
    char *out = malloc(out_len + 1);
    size_t pre = (size_t)(at - (char *)text);
    memcpy(out, text, pre);
    memcpy(out + pre, to, strlen(to));
    memcpy(out + pre + strlen(to), at + strlen(from), len - pre - strlen(from));
    assert_st_ok(st_fs_write_atomic(path, out, out_len, 0600, &e), &e);
    free(out);
    free(text);
}

static void test_tampered_keyring_is_refused_as_tampered(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    assert_st_ok(st_kek_create(f.kr, "k", 0, &e), &e);
    char p[4200];
    snprintf(p, sizeof(p), "%s/keys/keyring.json", f.dir);
    /* a "harmless" edit: a longer rotation period */
    rewrite_file(p, "\"rotation_days\":90", "\"rotation_days\":900");
    st_keyring_close(f.kr);
    f.kr = NULL;
    assert_int_equal(st_keyring_open(f.ws, &f.kr, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, "tampered"));
    assert_non_null(strstr(e.msg, "MAC"));
    rewrite_file(p, "\"rotation_days\":900", "\"rotation_days\":90");
    assert_st_ok(st_keyring_open(f.ws, &f.kr, &e), &e);
    destroy(&f);
}

static void test_rolled_back_keyring_is_refused(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    char p[4200], saved[4200];
    snprintf(p, sizeof(p), "%s/keys/keyring.json", f.dir);
    snprintf(saved, sizeof(saved), "%s/old.json", f.root);
    assert_st_ok(st_kek_create(f.kr, "k", 0, &e), &e);
    assert_st_ok(st_kek_rotate(f.kr, NULL, "k", NULL, &e), &e);
    char cmd[8500];
    snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", p, saved);
    assert_int_equal(system(cmd), 0);
    /* revoke, then put the old (validly MAC'd) file back */
    assert_st_ok(st_kek_revoke(f.kr, NULL, "k", 1, &e), &e);
    snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", saved, p);
    assert_int_equal(system(cmd), 0);
    st_keyring_close(f.kr);
    f.kr = NULL;
    assert_int_equal(st_keyring_open(f.ws, &f.kr, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, "rolled back"));
    destroy(&f);
}

static void test_wrong_or_loose_key_file_is_refused(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    st_keyring_close(f.kr);
    f.kr = NULL;
    assert_int_equal(chmod(f.keyfile, 0644), 0);
    assert_int_equal(st_keyring_open(f.ws, &f.kr, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, f.keyfile));
    assert_int_equal(chmod(f.keyfile, 0600), 0);
    uint8_t other[32];
    memset(other, 7, sizeof(other));
    assert_st_ok(st_fs_write_atomic(f.keyfile, other, 32, 0600, &e), &e);
    assert_int_equal(st_keyring_open(f.ws, &f.kr, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, "wrong root key file"));
    assert_st_ok(st_fs_write_atomic(f.keyfile, other, 31, 0600, &e), &e);
    assert_int_equal(st_keyring_open(f.ws, &f.kr, &e), ST_E_INPUT);
    destroy(&f);
}

static void test_overdue_follows_rotation_period(void **state)
{
    (void)state;
    fixture f;
    make(&f, NULL);
    st_err e;
    assert_st_ok(st_kek_create(f.kr, "fast", 7, &e), &e);
    assert_st_ok(st_kek_create(f.kr, "slow", 0, &e), &e);
    time_t now = time(NULL);
    st_kek_info *infos;
    size_t n;
    assert_st_ok(st_kek_list(f.kr, now, &infos, &n, &e), &e);
    assert_int_equal(n, 2);
    assert_string_equal(infos[0].name, "fast");
    assert_false(infos[0].overdue);
    assert_int_equal(infos[1].rotation_days, 90);
    st_kek_info_free(infos, n);
    assert_st_ok(st_kek_list(f.kr, now + 8 * 86400, &infos, &n, &e), &e);
    assert_true(infos[0].overdue);
    assert_false(infos[1].overdue);
    st_kek_info_free(infos, n);
    assert_st_ok(st_kek_list(f.kr, now + 91 * 86400, &infos, &n, &e), &e);
    assert_true(infos[1].overdue);
    st_kek_info_free(infos, n);
    /* rotating resets the clock */
    assert_st_ok(st_kek_rotate(f.kr, NULL, "fast", NULL, &e), &e);
    st_kek_info *one;
    assert_st_ok(st_kek_show(f.kr, "fast", now + 3 * 86400, &one, &e), &e);
    assert_false(one->overdue);
    assert_int_equal(one->nversions, 2);
    json_t *j = st_kek_info_json(one);
    assert_int_equal(json_integer_value(json_object_get(j, "current")), 2);
    json_decref(j);
    st_kek_info_free(one, 1);
    destroy(&f);
}

static void expect_parse_fails(const char *text, const char *what)
{
    st_kr_data *d = NULL;
    st_err e;
    if (st_kr_data_parse(text, strlen(text), "kr.json", &d, &e) != ST_E_INPUT)
        fail_msg("accepted: %s", what);
    assert_non_null(strstr(e.msg, "kr.json"));
}

static void test_keyring_parser_rejects_inconsistent_files(void **state)
{
    (void)state;
#define HEAD "{\"format\":\"sealtrain-keyring\",\"version\":1,\"generation\":1,"
#define MAC                                                                    \
    ",\"mac\":\""                                                              \
    "0000000000000000000000000000000000000000000000000000000000000000\"}"
#define V(n, st, extra)                                                        \
    "{\"version\":" #n ",\"state\":\"" st "\",\"created\":"                    \
    "\"2026-01-01T00:00:00Z\"" extra "}"
#define MAT                                                                    \
    ",\"nonce\":\"AAAAAAAAAAAAAAAA\",\"wrapped\":\"AAAAAAAAAAAAAAAAAAAAAAAA"   \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\""
#define KEY(cur, vs)                                                           \
    "{\"name\":\"k\",\"rotation_days\":90,\"created\":"                        \
    "\"2026-01-01T00:00:00Z\",\"current\":" #cur ",\"versions\":[" vs "]}"
    const char *good = HEAD "\"keys\":[" KEY(1, V(1, "active", MAT)) "]" MAC;
    st_kr_data *d = NULL;
    st_err e;
    assert_st_ok(st_kr_data_parse(good, strlen(good), "kr.json", &d, &e), &e);
    st_kr_data_free(d);
    expect_parse_fails(HEAD "\"keys\":[" KEY(1, V(2, "active", MAT)) "]" MAC,
                       "versions out of order");
    expect_parse_fails(
        HEAD "\"keys\":[" KEY(
            0, V(1, "revoked",
                 ",\"changed\":\"2026-01-02T00:00:00Z\"" MAT)) "]" MAC,
        "revoked version with material");
    expect_parse_fails(HEAD "\"keys\":[" KEY(1, V(1, "active", MAT) "," V(
                                                    2, "active", MAT)) "]" MAC,
                       "current is not the newest");
    expect_parse_fails(HEAD "\"keys\":[" KEY(1, V(1, "active", MAT)) "," KEY(
                           1, V(1, "active", MAT)) "]" MAC,
                       "duplicate key");
    expect_parse_fails(HEAD "\"keys\":[" KEY(1, V(1, "active", "")) "]" MAC,
                       "active version without material");
    expect_parse_fails(HEAD "\"keys\":[],\"extra\":1" MAC, "unknown field");
    expect_parse_fails(HEAD "\"keys\":[]}", "missing MAC");
}

/* 1 if `needle` occurs anywhere under `dir` (recursively). */
static int tree_contains(const char *dir, const void *needle, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[4200];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            found = tree_contains(p, needle, n);
        } else if (S_ISREG(st.st_mode)) {
            unsigned char *text;
            size_t len;
            st_err e;
            assert_st_ok(st_fs_read_all(p, 64 << 20, &text, &len, &e), &e);
            found = memmem(text, len, needle, n) != NULL;
            if (found)
                fprintf(stderr, "(bytes found in %s)\n", p);
            free(text);
        }
    }
    closedir(d);
    return found;
}

static void test_canary_never_reaches_workspace_or_logs(void **state)
{
    (void)state;
    static const char canary[] = "CANARY-7f3e9b2c-file-key-material";
    static const char pass[] = "canary-passphrase-41d8cd98f00b204e";
    char *tmp = st_test_tmpdir("canary");
    char pfile[4200], logpath[4200];
    snprintf(pfile, sizeof(pfile), "%s/pass", tmp);
    st_err e;
    assert_st_ok(st_fs_write_atomic(pfile, pass, strlen(pass), 0600, &e), &e);
    setenv("SEALTRAIN_PASSPHRASE_FILE", pfile, 1);
    fixture f;
    make(&f, "passphrase");
    /* log everything, into the workspace's own logs/ */
    snprintf(logpath, sizeof(logpath), "%s/logs/debug.log", f.dir);
    FILE *log = fopen(logpath, "w");
    assert_non_null(log);
    st_log_configure(ST_LOG_DEBUG, ST_LOG_JSON, log);
    assert_st_ok(st_kek_create(f.kr, "data", 0, &e), &e);
    st_buf w;
    wrap(&f, "data", 0, canary, "aad", &w, NULL);
    assert_int_equal(unwrap(&f, "data", 1, &w, "aad", canary, &e), ST_OK);
    /* store the wrapped form the way a dataset would */
    char id[ST_BLOB_ID_LEN + 1];
    assert_st_ok(st_blob_put(f.ws, w.data, w.len, id, &e), &e);
    assert_st_ok(st_kek_rotate(f.kr, NULL, "data", NULL, &e), &e);
    assert_st_ok(st_kek_retire(f.kr, NULL, "data", 1, &e), &e);
    assert_int_equal(unwrap(&f, "data", 1, &w, "aad", canary, &e), ST_OK);
    st_keyring_close(f.kr);
    f.kr = NULL;
    st_log_configure(ST_LOG_WARN, ST_LOG_HUMAN, NULL);
    fclose(log);
    struct stat st;
    assert_int_equal(stat(logpath, &st), 0);
    assert_true(st.st_size > 0); /* the log did record the operations */
    assert_false(tree_contains(f.dir, canary, strlen(canary)));
    assert_false(tree_contains(f.dir, pass, strlen(pass)));
    /* the wrapped canary is there, so the scan does look at blobs */
    assert_true(tree_contains(f.dir, w.data, w.len));
    unsetenv("SEALTRAIN_PASSPHRASE_FILE");
    st_buf_free(&w);
    destroy(&f);
    st_test_rmtree(tmp);
    free(tmp);
}

static void test_wrong_passphrase_is_its_own_error(void **state)
{
    (void)state;
    char *tmp = st_test_tmpdir("pass");
    char pfile[4200];
    snprintf(pfile, sizeof(pfile), "%s/pass", tmp);
    st_err e;
    assert_st_ok(st_fs_write_atomic(pfile, "right\n", 6, 0600, &e), &e);
    setenv("SEALTRAIN_PASSPHRASE_FILE", pfile, 1);
    fixture f;
    make(&f, "passphrase"); /* create + open with the right one */
    st_keyring_close(f.kr);
    f.kr = NULL;
    assert_st_ok(st_fs_write_atomic(pfile, "wrong\n", 6, 0600, &e), &e);
    assert_int_equal(st_keyring_open(f.ws, &f.kr, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, "wrong passphrase"));
    /* a passphrase file others can read is refused, naming it */
    assert_int_equal(chmod(pfile, 0644), 0);
    assert_int_equal(st_keyring_open(f.ws, &f.kr, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, pfile));
    unsetenv("SEALTRAIN_PASSPHRASE_FILE");
    destroy(&f);
    st_test_rmtree(tmp);
    free(tmp);
}

/* Registers `name` with `roles` (root, the first, as bootstrap admin) and
 * authenticates it in this process. */
static void principal(fixture *f, const char *name, unsigned roles)
{
    st_err e;
    uint8_t seed[32], pub[32];
    st_access_session s;
    assert_int_equal(st_random(seed, 32, NULL), ST_OK);
    assert_int_equal(st_ed25519_public(seed, pub, NULL), ST_OK);
    char *pem = st_ed25519_public_pem(pub, NULL);
    assert_st_ok(st_access_principal_add(f->ws,
                                         strcmp(name, "root") ? "root" : NULL,
                                         name, roles, pem, NULL, &e),
                 &e);
    free(pem);
    assert_st_ok(st_access_authenticate(f->ws, name, seed, &s, &e), &e);
}

/* The library itself refuses a data owner who rotates, retires or revokes
 * another owner's KEK or a system KEK, and an admin who changes a data
 * owner's KEK; nothing changes. */
static void test_only_the_owner_changes_a_kek(void **state)
{
    (void)state;
    fixture f;
    st_err e;
    make(&f, NULL);
    principal(&f, "root", ST_ROLE_ADMIN);
    principal(&f, "alice", ST_ROLE_DATA_OWNER);
    principal(&f, "bob", ST_ROLE_DATA_OWNER);
    assert_st_ok(st_kek_create_as(f.kr, "alice", "owner.alice", 0, &e), &e);
    assert_st_ok(st_kek_create(f.kr, "jobs", 0, &e), &e);
    uint32_t v = 0;
    assert_int_equal(st_kek_revoke(f.kr, "bob", "owner.alice", 1, &e),
                     ST_E_DENIED);
    assert_int_equal(st_kek_rotate(f.kr, "bob", "owner.alice", &v, &e),
                     ST_E_DENIED);
    assert_int_equal(st_kek_rotate(f.kr, "root", "owner.alice", &v, &e),
                     ST_E_DENIED);
    assert_int_equal(st_kek_revoke(f.kr, "alice", "jobs", 1, &e), ST_E_DENIED);
    assert_st_ok(st_kek_current(f.kr, "owner.alice", &v, &e), &e);
    assert_int_equal(v, 1);
    assert_st_ok(st_kek_current(f.kr, "jobs", &v, &e), &e);
    assert_int_equal(v, 1);
    /* names that are someone else's cannot be created first */
    assert_int_equal(st_kek_create_as(f.kr, "bob", "owner.carol", 0, &e),
                     ST_E_DENIED);
    assert_int_equal(st_kek_create_as(f.kr, "bob", "audit.log", 0, &e),
                     ST_E_DENIED);
    assert_int_equal(st_kek_current(f.kr, "audit.log", &v, NULL),
                     ST_E_NOTFOUND);
    /* the owner and the admins do what is theirs */
    assert_st_ok(st_kek_rotate(f.kr, "alice", "owner.alice", &v, &e), &e);
    assert_int_equal(v, 2);
    assert_st_ok(st_kek_revoke(f.kr, "alice", "owner.alice", 1, &e), &e);
    assert_st_ok(st_kek_rotate(f.kr, "root", "jobs", &v, &e), &e);
    char owner[64];
    assert_st_ok(st_kek_owner(f.ws, "owner.alice", owner, sizeof(owner), &e),
                 &e);
    assert_string_equal(owner, "alice");
    assert_st_ok(st_kek_owner(f.ws, "jobs", owner, sizeof(owner), &e), &e);
    assert_string_equal(owner, "");
    destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_unwrap_round_trip_binds_aad),
        cmocka_unit_test(test_only_the_owner_changes_a_kek),
        cmocka_unit_test(test_rotation_keeps_old_versions_unwrapping),
        cmocka_unit_test(test_retired_version_unwraps_but_never_wraps),
        cmocka_unit_test(test_revoked_version_never_unwraps_and_names_it),
        cmocka_unit_test(test_revocation_by_another_handle_takes_effect),
        cmocka_unit_test(test_tampered_keyring_is_refused_as_tampered),
        cmocka_unit_test(test_rolled_back_keyring_is_refused),
        cmocka_unit_test(test_wrong_or_loose_key_file_is_refused),
        cmocka_unit_test(test_overdue_follows_rotation_period),
        cmocka_unit_test(test_keyring_parser_rejects_inconsistent_files),
        cmocka_unit_test(test_canary_never_reaches_workspace_or_logs),
        cmocka_unit_test(test_wrong_passphrase_is_its_own_error),
        cmocka_unit_test(test_committed_change_not_yet_in_place_is_in_force),
        cmocka_unit_test(test_uncommitted_change_is_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
