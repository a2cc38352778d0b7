/*
 * test_identity_doctor.c: identity files (what they contain and how they
 * are protected) and the doctor report (complete, and never "found"
 * without evidence).
 */
#include "st_test.h"

#include "crypto/dsse.h"
#include <sealtrain/sealtrain.h>

static void test_identity_files_hold_matching_key_pairs(void **state)
{
    (void)state;
    char *dir = st_test_tmpdir("id");
    st_identity_info info;
    st_err e;
    assert_st_ok(st_identity_new("carol", dir, &info, &e), &e);
    struct stat st;
    assert_int_equal(stat(info.age_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(info.key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the age file loads as an identity and its comment names the
     * recipient it derives */
    st_age_identity *ids = NULL;
    size_t n = 0;
    assert_st_ok(st_age_identities_load(info.age_path, &ids, &n, &e), &e);
    assert_int_equal(n, 1);
    st_age_identities_free(ids, n);
    unsigned char *text;
    size_t len;
    assert_st_ok(st_fs_read_all(info.age_path, 4096, &text, &len, &e), &e);
    char *secret = strstr((char *)text, "AGE-SECRET-KEY-1");
    assert_non_null(secret);
    secret[strcspn(secret, "\n")] = '\0';
    char rcpt[ST_AGE_RECIPIENT_STRLEN];
    assert_st_ok(st_age_identity_to_recipient(secret, rcpt, &e), &e);
    assert_string_equal(rcpt, info.recipient);
    char line[200];
    snprintf(line, sizeof(line), "# public key: %s\n", info.recipient);
    assert_non_null(strstr((char *)text, line));
    st_wipe(text, len);
    free(text);
    /* the PEM private key's public half is the .pub.pem and the key id */
    uint8_t seed[32], pub[32], pub2[32];
    assert_st_ok(st_ed25519_load_private_pem(info.key_path, seed, &e), &e);
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    st_wipe(seed, sizeof(seed));
    assert_st_ok(st_ed25519_load_public_pem(info.pub_path, pub2, &e), &e);
    assert_memory_equal(pub, pub2, 32);
    char keyid[ST_KEYID_LEN + 1];
    st_dsse_keyid(pub, keyid);
    assert_string_equal(keyid, info.keyid);
    st_identity_info_clear(&info);
    /* never overwritten; bad names refused before anything is written */
    assert_int_equal(st_identity_new("carol", dir, &info, &e), ST_E_EXISTS);
    assert_int_equal(st_identity_new("../x", dir, &info, &e), ST_E_USAGE);
    assert_int_equal(st_identity_new(".hidden", dir, &info, &e), ST_E_USAGE);
    st_test_rmtree(dir);
    free(dir);
}

static const st_doctor_check *find(const st_doctor_report *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->checks[i].name, name))
            return &r->checks[i];
    fail_msg("no check %s", name);
    return NULL;
}

static void test_doctor_claims_nothing_without_evidence(void **state)
{
    (void)state;
    st_doctor_report r;
    st_doctor_run(&r);
    assert_true(r.n >= 12);
    for (size_t i = 0; i < r.n; i++) {
        assert_true(r.checks[i].detail[0] != '\0');
        assert_true(r.checks[i].meaning[0] != '\0');
    }
    if (access("/dev/tpmrm0", F_OK) && access("/dev/tpm0", F_OK))
        assert_int_not_equal(find(&r, "tpm")->status, ST_DOCTOR_FOUND);
    if (access("/dev/sev-guest", F_OK) && access("/dev/tdx_guest", F_OK)) {
        /* without a guest device, memory encryption needs cpu flags */
        FILE *f = fopen("/proc/cpuinfo", "r");
        char buf[8192];
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        if (!strstr(buf, " sev") && !strstr(buf, " tdx_guest"))
            assert_int_not_equal(find(&r, "memory-encryption")->status,
                                 ST_DOCTOR_FOUND);
    }
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK))
        assert_int_equal(find(&r, "resources.cgroup-v2")->status,
                         ST_DOCTOR_MISSING);
    const st_doctor_check *sm = find(&r, "secure-memory");
    assert_non_null(
        strstr(sm->detail, st_secmem_mode_name(st_secmem_current_mode())));
    json_t *j = st_doctor_report_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "checks")), r.n);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_files_hold_matching_key_pairs),
        cmocka_unit_test(test_doctor_claims_nothing_without_evidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
