/*
 * test_server.c: the workspace CA (src/server/ca.c) and the identity the
 * server derives from a client certificate: issued certificates carry the
 * principal's registered key and name and chain to the CA; only Ed25519
 * certificates with a valid principal name yield a principal; the key must
 * equal the registered one (st_access_authenticate_key).
 */
#include "st_test.h"
#include "st_test_x509.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "sealtrain/access.h"
#include "sealtrain/crypto.h"
#include "sealtrain/server.h"
#include "sealtrain/workspace.h"

typedef struct fixture {
    char *root;
    st_workspace *ws;
    uint8_t seed[2][32], pub[2][32];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    st_err e;
    st_protect p;
    char dir[4096];
    f->root = st_test_tmpdir("server");
    snprintf(dir, sizeof(dir), "%s/ws", f->root);
    assert_st_ok(st_protect_parse("file:/nonexistent/key", &p, &e), &e);
    assert_st_ok(st_workspace_create_begin(dir, &p, &f->ws, &e), &e);
    assert_st_ok(st_workspace_create_commit(f->ws, &e), &e);
    const char *names[2] = {"root", "alice"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(st_random(f->seed[i], 32, NULL), ST_OK);
        assert_int_equal(st_ed25519_public(f->seed[i], f->pub[i], NULL), ST_OK);
        char *pem = st_ed25519_public_pem(f->pub[i], NULL);
        assert_st_ok(st_access_principal_add(
                         f->ws, i ? "root" : NULL, names[i],
                         i ? ST_ROLE_DATA_OWNER : ST_ROLE_ADMIN, pem, NULL, &e),
                     &e);
        free(pem);
        if (i == 0) {
            st_access_session s;
            assert_st_ok(
                st_access_authenticate(f->ws, "root", f->seed[0], &s, &e), &e);
        }
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    st_workspace_close(f->ws);
    st_test_rmtree(f->root);
    free(f->root);
    free(f);
    return 0;
}

static X509 *load(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    return x;
}

static size_t der_of(X509 *x, uint8_t **out)
{
    int n = i2d_X509(x, out);
    assert_true(n > 0);
    return (size_t)n;
}

static void issued_cert_carries_registered_key_and_chains(void **state)
{
    fixture *f = *state;
    st_err e;
    char out[4200], path[4300];
    snprintf(out, sizeof(out), "%s/certs", f->root);
    assert_int_equal(mkdir(out, 0700), 0);
    assert_st_ok(st_server_cert_issue(f->ws, "alice", out, 30, &e), &e);
    snprintf(path, sizeof(path), "%s/alice.crt", out);
    X509 *x = load(path);
    snprintf(path, sizeof(path), "%s/ca.crt", out);
    X509 *ca = load(path);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, x, NULL);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);

    uint8_t *der = NULL, pub[32];
    size_t n = der_of(x, &der);
    char name[64];
    assert_st_ok(st_server_cert_principal(der, n, name, pub, &e), &e);
    assert_string_equal(name, "alice");
    assert_memory_equal(pub, f->pub[1], 32);
    st_access_session s;
    assert_st_ok(st_access_authenticate_key(f->ws, name, pub, &s, &e), &e);
    assert_string_equal(s.name, "alice");
    assert_st_ok(st_access_check(f->ws, "alice", "data.import", NULL, &e), &e);
    /* the same key under another name is not that principal */
    assert_int_equal(st_access_authenticate_key(f->ws, "root", pub, &s, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "not the signing key registered for root"));
    OPENSSL_free(der);
    X509_free(x);
    X509_free(ca);
}

static void disabled_principal_gets_no_cert_and_no_session(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(st_access_principal_disable(f->ws, "root", "alice", 1, &e),
                 &e);
    assert_int_equal(st_server_cert_issue(f->ws, "alice", f->root, 30, &e),
                     ST_E_DENIED);
    st_access_session s;
    assert_int_equal(
        st_access_authenticate_key(f->ws, "alice", f->pub[1], &s, &e),
        ST_E_DENIED);
    assert_non_null(strstr(e.msg, "disabled"));
    assert_int_equal(st_server_cert_issue(f->ws, "nobody", f->root, 30, &e),
                     ST_E_NOTFOUND);
}

/* A self-made certificate with key `k` and CN `cn`, DER. */
static size_t make(EVP_PKEY *k, const char *cn, uint8_t **der)
{
    X509 *x = st_test_self_signed(k, cn);
    size_t n = der_of(x, der);
    X509_free(x);
    return n;
}

static void
only_ed25519_certs_with_principal_names_yield_a_principal(void **state)
{
    (void)state;
    st_err e;
    char name[64];
    uint8_t pub[32], *der = NULL;
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    size_t n = make(ec, "alice", &der);
    assert_int_equal(st_server_cert_principal(der, n, name, pub, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "not Ed25519"));
    OPENSSL_free(der);
    der = NULL;
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    n = make(ed, "Bad Name", &der);
    assert_int_equal(st_server_cert_principal(der, n, name, pub, &e),
                     ST_E_DENIED);
    assert_non_null(strstr(e.msg, "not a principal name"));
    OPENSSL_free(der);
    uint8_t junk[8] = {0x30, 0x82, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(
        st_server_cert_principal(junk, sizeof(junk), name, pub, &e),
        ST_E_INPUT);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
}

static void ca_key_is_private_and_reused(void **state)
{
    fixture *f = *state;
    st_err e;
    char key[4200], crt[4200];
    assert_st_ok(st_server_ca_ensure(f->ws, &e), &e);
    assert_st_ok(st_server_tls_path(f->ws, "ca.key", key, sizeof(key), &e), &e);
    assert_st_ok(st_server_tls_path(f->ws, "ca.crt", crt, sizeof(crt), &e), &e);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    X509 *a = load(crt);
    assert_st_ok(st_server_ca_ensure(f->ws, &e), &e);
    assert_st_ok(st_server_cert_ensure(f->ws, "192.0.2.7", &e), &e);
    X509 *b = load(crt);
    assert_int_equal(X509_cmp(a, b), 0); /* not re-created */
    X509_free(a);
    X509_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            issued_cert_carries_registered_key_and_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(
            disabled_principal_gets_no_cert_and_no_session, setup, teardown),
        cmocka_unit_test_setup_teardown(
            only_ed25519_certs_with_principal_names_yield_a_principal, setup,
            teardown),
        cmocka_unit_test_setup_teardown(ca_key_is_private_and_reused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
