/*
 * test_access.c: principals, bootstrap, authentication by challenge
 * signature, the whole role x action matrix (against the table documented
 * in docs/access.md, written out here independently of the code), owner
 * scoping with grants, and that every denial is audited.
 */
#include "st_test.h"

#include "crypto/bech32.h"
#include <sealtrain/sealtrain.h>

/* docs/access.md, row by row: the roles allowed each action, as letters
 * A admin, D data-owner, M model-owner, T trainer, U auditor. */
static const struct {
    const char *action, *roles;
} documented[] = {{"init", "A"},
                  {"key.create", "AD"},
                  {"key.rotate", "AD"},
                  {"key.retire", "AD"},
                  {"key.revoke", "AD"},
                  {"key.read", "ADU"},
                  {"data.import", "D"},
                  {"data.read", "D"},
                  {"data.policy", "D"},
                  {"data.rm", "D"},
                  {"data.rewrap", "AD"},
                  {"job.submit", "M"},
                  {"job.run", "T"},
                  {"job.cancel", "AMT"},
                  {"job.read", "AMTU"},
                  {"model.decrypt", "M"},
                  {"model.share", "M"},
                  {"model.rm", "M"},
                  {"model.read", "MU"},
                  {"audit.read", "ADU"},
                  {"audit.verify", "ADMTU"},
                  {"audit.checkpoint", "AU"},
                  {"check", "AU"},
                  {"cleanup", "A"},
                  {"principal.admin", "A"},
                  {"principal.read", "ADMTU"},
                  {"audit.repair", "A"},
                  {"attest.collateral", "A"},
                  {"attest.collateral.read", "ADMTU"}};

static const char *const names[5] = {"root", "alice", "bob", "tom", "ursula"};
static const char *const roles[5] = {"admin", "data-owner", "model-owner",
                                     "trainer", "auditor"};
static const char letters[5] = {'A', 'D', 'M', 'T', 'U'};

typedef struct fixture {
    char *root;
    st_workspace *ws;
    uint8_t seeds[6][32];
    char *pems[6];
} fixture;

static char *recipient(void)
{
    uint8_t k[32];
    char *out = malloc(128);
    assert_int_equal(st_random(k, 32, NULL), ST_OK);
    assert_int_equal(st_bech32_encode("age", k, 32, 0, out, 128, NULL), ST_OK);
    return out;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    st_err e;
    st_protect p;
    char dir[4096];
    f->root = st_test_tmpdir("access");
    snprintf(dir, sizeof(dir), "%s/ws", f->root);
    assert_st_ok(st_protect_parse("file:/nonexistent/key", &p, &e), &e);
    assert_st_ok(st_workspace_create_begin(dir, &p, &f->ws, &e), &e);
    assert_st_ok(st_workspace_create_commit(f->ws, &e), &e);
    for (int i = 0; i < 6; i++) {
        uint8_t pub[32];
        assert_int_equal(st_random(f->seeds[i], 32, NULL), ST_OK);
        assert_int_equal(st_ed25519_public(f->seeds[i], pub, NULL), ST_OK);
        f->pems[i] = st_ed25519_public_pem(pub, NULL);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    st_workspace_close(f->ws);
    st_test_rmtree(f->root);
    for (int i = 0; i < 6; i++)
        free(f->pems[i]);
    free(f->root);
    free(f);
    return 0;
}

/* Adds the five principals (root first, as bootstrap admin) and logs all
 * of them in. */
static void add_all(fixture *f)
{
    st_err e;
    st_access_session s;
    for (int i = 0; i < 5; i++) {
        char *r = recipient();
        assert_st_ok(st_access_principal_add(f->ws, i ? "root" : NULL, names[i],
                                             st_access_role_parse(roles[i]),
                                             f->pems[i], r, &e),
                     &e);
        free(r);
        if (i == 0)
            assert_st_ok(
                st_access_authenticate(f->ws, "root", f->seeds[0], &s, &e), &e);
    }
    for (int i = 1; i < 5; i++)
        assert_st_ok(
            st_access_authenticate(f->ws, names[i], f->seeds[i], &s, &e), &e);
}

static int count_denied(void *ctx, uint64_t i, const char *l, size_t n)
{
    (void)i;
    if (memmem(l, n, "\"outcome\":\"denied\"", 18))
        (*(int *)ctx)++;
    return 0;
}

/* The number of "denied" entries in the workspace's audit log. */
static int count_denials(fixture *f)
{
    char dir[4200];
    int n = 0;
    st_err e;
    snprintf(dir, sizeof(dir), "%s/audit", st_workspace_dir(f->ws));
    assert_st_ok(st_audit_read(dir, count_denied, &n, &e), &e);
    return n;
}

static void test_first_principal_must_be_admin(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_int_equal(st_access_principal_add(f->ws, NULL, "alice",
                                             ST_ROLE_DATA_OWNER, f->pems[1],
                                             NULL, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "admin"));
    /* bootstrap: with no principal, checks pass without a principal */
    assert_st_ok(st_access_check(f->ws, NULL, "data.import", "dataset:x", &e),
                 &e);
    assert_st_ok(st_access_principal_add(f->ws, NULL, "root", ST_ROLE_ADMIN,
                                         f->pems[0], NULL, &e),
                 &e);
    /* from now on, anonymous actions are refused */
    assert_int_equal(
        st_access_check(f->ws, NULL, "data.import", "dataset:x", &e),
        ST_E_DENIED);
    assert_non_null(strstr(e.msg, "--as"));
    /* a second principal needs an authenticated admin */
    assert_int_equal(st_access_principal_add(f->ws, NULL, "alice",
                                             ST_ROLE_DATA_OWNER, f->pems[1],
                                             NULL, &e),
                     ST_E_DENIED);
    assert_int_equal(st_access_principal_add(f->ws, "root", "alice",
                                             ST_ROLE_DATA_OWNER, f->pems[1],
                                             NULL, &e),
                     ST_E_DENIED); /* root has not authenticated yet */
    st_access_session s;
    assert_st_ok(st_access_authenticate(f->ws, "root", f->seeds[0], &s, &e),
                 &e);
    assert_string_equal(s.name, "root");
    assert_st_ok(st_access_principal_add(f->ws, "root", "alice",
                                         ST_ROLE_DATA_OWNER, f->pems[1], NULL,
                                         &e),
                 &e);
    assert_int_equal(st_access_principal_add(f->ws, "root", "alice",
                                             ST_ROLE_DATA_OWNER, f->pems[1],
                                             NULL, &e),
                     ST_E_EXISTS);
    assert_int_equal(st_access_principal_add(f->ws, "root", "Bad Name",
                                             ST_ROLE_TRAINER, f->pems[2], NULL,
                                             &e),
                     ST_E_INPUT);
    assert_int_equal(st_access_principal_add(f->ws, "root", "carl",
                                             ST_ROLE_TRAINER, f->pems[2],
                                             "age1notarecipient", &e),
                     ST_E_INPUT);
}

static void test_authentication_needs_the_registered_key(void **state)
{
    fixture *f = *state;
    add_all(f);
    st_err e;
    st_access_session s;
    int before = count_denials(f);
    assert_int_equal(
        st_access_authenticate(f->ws, "alice", f->seeds[5], &s, &e),
        ST_E_DENIED);
    assert_non_null(strstr(e.msg, "does not match"));
    assert_int_equal(
        st_access_authenticate(f->ws, "nobody", f->seeds[5], &s, &e),
        ST_E_DENIED);
    assert_int_equal(count_denials(f), before + 2);
    st_principal p;
    assert_st_ok(st_access_principal_get(f->ws, "alice", &p, &e), &e);
    assert_true(p.last_active[0] != 0);
    assert_int_equal(p.roles, ST_ROLE_DATA_OWNER);
    st_principal_free(&p);
}

static void test_role_action_matrix_matches_documentation(void **state)
{
    fixture *f = *state;
    add_all(f);
    size_t nactions = 0;
    while (st_access_actions[nactions])
        nactions++;
    assert_int_equal(nactions, sizeof(documented) / sizeof(documented[0]));
    int denials = count_denials(f), expected_denials = denials;
    for (size_t a = 0; a < nactions; a++) {
        assert_string_equal(st_access_actions[a], documented[a].action);
        for (int r = 0; r < 5; r++) {
            st_err e;
            int want = strchr(documented[a].roles, letters[r]) != NULL;
            st_code rc = st_access_check(f->ws, names[r], documented[a].action,
                                         NULL, &e);
            if (want && rc != ST_OK)
                fail_msg("%s (%s) denied %s: %s", names[r], roles[r],
                         documented[a].action, e.msg);
            if (!want) {
                if (rc != ST_E_DENIED)
                    fail_msg("%s (%s) allowed %s", names[r], roles[r],
                             documented[a].action);
                /* the denial names the missing permission */
                assert_non_null(strstr(e.msg, documented[a].action));
                expected_denials++;
            }
        }
    }
    assert_int_equal(count_denials(f), expected_denials);
    st_err e;
    assert_int_equal(st_access_check(f->ws, "root", "no.such", NULL, &e),
                     ST_E_USAGE);
}

static void test_owner_grants_use_of_one_dataset(void **state)
{
    fixture *f = *state;
    add_all(f);
    st_err e;
    assert_st_ok(st_access_set_owner(f->ws, "dataset:digits", "alice", &e), &e);
    assert_st_ok(st_access_set_owner(f->ws, "dataset:iris", "alice", &e), &e);
    assert_int_equal(st_access_set_owner(f->ws, "dataset:digits", "bob", &e),
                     ST_E_EXISTS);
    /* bob may submit jobs in general, but not on alice's data */
    assert_int_equal(
        st_access_check(f->ws, "bob", "job.submit", "dataset:digits", &e),
        ST_E_DENIED);
    assert_non_null(strstr(e.msg, "\"use\" on dataset:digits"));
    /* only the owner grants */
    assert_int_equal(
        st_access_grant(f->ws, "bob", "bob", "dataset:digits", "use", &e),
        ST_E_DENIED);
    assert_int_equal(
        st_access_grant(f->ws, "root", "bob", "dataset:digits", "use", &e),
        ST_E_DENIED);
    assert_st_ok(
        st_access_grant(f->ws, "alice", "bob", "dataset:digits", "use", &e),
        &e);
    assert_st_ok(
        st_access_check(f->ws, "bob", "job.submit", "dataset:digits", &e), &e);
    /* one dataset only */
    assert_int_equal(
        st_access_check(f->ws, "bob", "job.submit", "dataset:iris", &e),
        ST_E_DENIED);
    /* "use" is not "read": the model owner never reads the data */
    assert_int_equal(
        st_access_check(f->ws, "bob", "data.read", "dataset:digits", &e),
        ST_E_DENIED);
    st_grant *g;
    size_t n;
    assert_st_ok(st_access_grants(f->ws, "bob", &g, &n, &e), &e);
    assert_int_equal(n, 1);
    assert_string_equal(g[0].grantor, "alice");
    free(g);
    assert_st_ok(
        st_access_revoke(f->ws, "alice", "bob", "dataset:digits", "use", &e),
        &e);
    assert_int_equal(
        st_access_check(f->ws, "bob", "job.submit", "dataset:digits", &e),
        ST_E_DENIED);
    assert_int_equal(
        st_access_revoke(f->ws, "alice", "bob", "dataset:digits", "use", &e),
        ST_E_NOTFOUND);
    assert_int_equal(
        st_access_grant(f->ws, "alice", "bob", "dataset:digits", "fly", &e),
        ST_E_INPUT);
    /* another data owner is not the owner */
    st_access_session s;
    char *r = recipient();
    assert_st_ok(st_access_principal_add(f->ws, "root", "dora",
                                         ST_ROLE_DATA_OWNER, f->pems[5], r, &e),
                 &e);
    free(r);
    assert_st_ok(st_access_authenticate(f->ws, "dora", f->seeds[5], &s, &e),
                 &e);
    assert_int_equal(
        st_access_check(f->ws, "dora", "data.rm", "dataset:digits", &e),
        ST_E_DENIED);
    assert_st_ok(
        st_access_check(f->ws, "alice", "data.rm", "dataset:digits", &e), &e);
}

static void test_disabled_principal_is_refused(void **state)
{
    fixture *f = *state;
    add_all(f);
    st_err e;
    assert_st_ok(st_access_check(f->ws, "tom", "job.run", "job:1", &e), &e);
    assert_int_equal(st_access_principal_disable(f->ws, "tom", "tom", 1, &e),
                     ST_E_DENIED);
    assert_st_ok(st_access_principal_disable(f->ws, "root", "tom", 1, &e), &e);
    assert_int_equal(st_access_check(f->ws, "tom", "job.run", "job:1", &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "disabled"));
    st_access_session s;
    assert_int_equal(st_access_authenticate(f->ws, "tom", f->seeds[3], &s, &e),
                     ST_E_DENIED);
    /* the last admin cannot lock everyone out */
    assert_int_equal(st_access_principal_disable(f->ws, "root", "root", 1, &e),
                     ST_E_DENIED);
    assert_st_ok(st_access_principal_disable(f->ws, "root", "tom", 0, &e), &e);
    assert_st_ok(st_access_check(f->ws, "tom", "job.run", "job:1", &e), &e);
    st_principal *all;
    size_t n;
    assert_st_ok(st_access_principal_list(f->ws, &all, &n, &e), &e);
    assert_int_equal(n, 5);
    assert_string_equal(all[0].name, "alice");
    for (size_t i = 0; i < n; i++)
        st_principal_free(&all[i]);
    free(all);
    /* the audit log still verifies after all of this */
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/audit", st_workspace_dir(f->ws));
    st_audit_report rep;
    assert_st_ok(st_audit_verify(dir, NULL, &rep, &e), &e);
}

/* Adds a sixth principal, `name` with `role`, and logs it in. */
static void add_sixth(fixture *f, const char *name, unsigned role)
{
    st_err e;
    st_access_session s;
    char *r = recipient();
    assert_st_ok(
        st_access_principal_add(f->ws, "root", name, role, f->pems[5], r, &e),
        &e);
    free(r);
    assert_st_ok(st_access_authenticate(f->ws, name, f->seeds[5], &s, &e), &e);
}

static void test_read_grant_gives_data_read(void **state)
{
    fixture *f = *state;
    add_all(f);
    add_sixth(f, "dora", ST_ROLE_DATA_OWNER);
    st_err e;
    assert_st_ok(st_access_set_owner(f->ws, "dataset:digits", "alice", &e), &e);
    /* without a grant: neither a model owner nor another data owner */
    assert_int_equal(
        st_access_check(f->ws, "bob", "data.read", "dataset:digits", &e),
        ST_E_DENIED);
    assert_int_equal(
        st_access_check(f->ws, "dora", "data.read", "dataset:digits", &e),
        ST_E_DENIED);
    assert_st_ok(
        st_access_grant(f->ws, "alice", "bob", "dataset:digits", "read", &e),
        &e);
    assert_st_ok(
        st_access_grant(f->ws, "alice", "dora", "dataset:digits", "read", &e),
        &e);
    /* docs/access.md: a `read` grant gives data.read */
    assert_st_ok(
        st_access_check(f->ws, "bob", "data.read", "dataset:digits", &e), &e);
    assert_st_ok(
        st_access_check(f->ws, "dora", "data.read", "dataset:digits", &e), &e);
    /* on that dataset only, and nothing else than reading */
    assert_st_ok(st_access_set_owner(f->ws, "dataset:iris", "alice", &e), &e);
    assert_int_equal(
        st_access_check(f->ws, "bob", "data.read", "dataset:iris", &e),
        ST_E_DENIED);
    assert_int_equal(
        st_access_check(f->ws, "bob", "data.rm", "dataset:digits", &e),
        ST_E_DENIED);
    assert_int_equal(
        st_access_check(f->ws, "bob", "data.policy", "dataset:digits", &e),
        ST_E_DENIED);
    /* revoked, it is gone */
    assert_st_ok(
        st_access_revoke(f->ws, "alice", "bob", "dataset:digits", "read", &e),
        &e);
    assert_int_equal(
        st_access_check(f->ws, "bob", "data.read", "dataset:digits", &e),
        ST_E_DENIED);
}

/* One cell per role (and per owner / other model owner) of cancel, resume
 * (job.run) and logs (job.read) on one job, job:j1 of bob. */
static void test_job_cancel_resume_logs_matrix(void **state)
{
    fixture *f = *state;
    add_all(f);
    add_sixth(f, "mallory", ST_ROLE_MODEL_OWNER);
    st_err e;
    assert_st_ok(st_access_set_owner(f->ws, "job:j1", "bob", &e), &e);
    static const struct {
        const char *who, *action;
        st_code want;
    } cells[] = {
        {"bob", "job.cancel", ST_OK},           /* its submitter */
        {"mallory", "job.cancel", ST_E_DENIED}, /* another model owner */
        {"root", "job.cancel", ST_OK},
        {"tom", "job.cancel", ST_OK},
        {"alice", "job.cancel", ST_E_DENIED},
        {"ursula", "job.cancel", ST_E_DENIED},
        {"bob", "job.read", ST_OK},
        {"mallory", "job.read", ST_E_DENIED},
        {"root", "job.read", ST_OK},
        {"tom", "job.read", ST_OK},
        {"ursula", "job.read", ST_OK},
        {"alice", "job.read", ST_E_DENIED},
        /* resume is running: the trainers' */
        {"tom", "job.run", ST_OK},
        {"bob", "job.run", ST_E_DENIED},
        {"mallory", "job.run", ST_E_DENIED},
        {"root", "job.run", ST_E_DENIED},
        {"alice", "job.run", ST_E_DENIED},
        {"ursula", "job.run", ST_E_DENIED},
    };
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
        st_code rc =
            st_access_check(f->ws, cells[i].who, cells[i].action, "job:j1", &e);
        if (rc != cells[i].want)
            fail_msg("%s %s job:j1: %s, expected %s", cells[i].who,
                     cells[i].action, st_code_name(rc),
                     st_code_name(cells[i].want));
    }
    /* asking (to filter a list) gives the same answers, and audits no
     * denial */
    int before = count_denials(f);
    assert_false(st_access_allows(f->ws, "mallory", "job.read", "job:j1"));
    assert_true(st_access_allows(f->ws, "ursula", "job.read", "job:j1"));
    assert_true(st_access_allows(f->ws, "bob", "job.read", "job:j1"));
    assert_false(st_access_allows(f->ws, "alice", "job.read", "job:j1"));
    assert_int_equal(count_denials(f), before);
    /* the submitter may let another principal cancel it */
    assert_st_ok(
        st_access_grant(f->ws, "bob", "mallory", "job:j1", "job.cancel", &e),
        &e);
    assert_st_ok(st_access_check(f->ws, "mallory", "job.cancel", "job:j1", &e),
                 &e);
}

/* KEKs have owners: a data owner changes only their own; the KEKs without
 * owner (audit.log, jobs) are the admins'. */
static void test_key_changes_need_ownership(void **state)
{
    fixture *f = *state;
    add_all(f);
    add_sixth(f, "dora", ST_ROLE_DATA_OWNER);
    st_err e;
    assert_st_ok(st_access_set_owner(f->ws, "key:owner.alice", "alice", &e),
                 &e);
    const char *const acts[] = {"key.rotate", "key.retire", "key.revoke"};
    for (size_t i = 0; i < 3; i++) {
        assert_st_ok(
            st_access_check(f->ws, "alice", acts[i], "key:owner.alice", &e),
            &e);
        assert_int_equal(
            st_access_check(f->ws, "dora", acts[i], "key:owner.alice", &e),
            ST_E_DENIED);
        assert_int_equal(
            st_access_check(f->ws, "root", acts[i], "key:owner.alice", &e),
            ST_E_DENIED);
        assert_int_equal(
            st_access_check(f->ws, "alice", acts[i], "key:audit.log", &e),
            ST_E_DENIED);
        assert_non_null(strstr(e.msg, "no owner"));
        assert_int_equal(
            st_access_check(f->ws, "dora", acts[i], "key:jobs", &e),
            ST_E_DENIED);
        assert_st_ok(st_access_check(f->ws, "root", acts[i], "key:jobs", &e),
                     &e);
    }
    /* the matrix says so */
    assert_string_equal(st_access_cell("key.rotate", ST_ROLE_ADMIN), "unowned");
    assert_string_equal(st_access_cell("key.rotate", ST_ROLE_DATA_OWNER),
                        "own");
    assert_string_equal(st_access_cell("job.cancel", ST_ROLE_TRAINER), "yes");
    assert_string_equal(st_access_cell("job.cancel", ST_ROLE_MODEL_OWNER),
                        "own");
    assert_string_equal(st_access_cell("job.cancel", ST_ROLE_AUDITOR), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_principal_must_be_admin,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_authentication_needs_the_registered_key, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_role_action_matrix_matches_documentation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_grants_use_of_one_dataset,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_principal_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_grant_gives_data_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_cancel_resume_logs_matrix,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_changes_need_ownership, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
