/*
 * test_core.c: errors, secure memory, atomic files, JSON, bytes, DSSE and
 * the crypto wrappers against published test vectors.
 */
#include "crypto/primitives.h"
#include "st_test.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/dynlib.h"
#include "crypto/dsse.h"
#include <sealtrain/sealtrain.h>

static void test_err_prefix_builds_what_failed_why(void **state)
{
    (void)state;
    st_err e;
    st_err_clear(&e);
    assert_int_equal(st_err_set(&e, ST_E_INPUT, "bad number"), ST_E_INPUT);
    st_err_prefix(&e, "reading %s", "x.csv");
    assert_string_equal(e.msg, "reading x.csv: bad number");
    st_err_at(&e, ST_E_INPUT, "x.csv", 12, 3, "expected %s", "a number");
    assert_string_equal(e.msg, "x.csv:12:3: expected a number");
    assert_string_equal(e.where, "x.csv:12:3");
    assert_int_equal(st_code_exit_status(ST_E_DENIED), 4);
    assert_int_equal(st_code_exit_status(ST_E_USAGE), 2);
}

static void test_secmem_is_locked_wiped_and_hardens_process(void **state)
{
    (void)state;
    st_err e;
    st_secret *s = st_secret_new(100, &e);
    assert_non_null(s);
    assert_int_equal(st_secret_len(s), 100);
    memset(st_secret_bytes(s), 0xAB, 100);
    assert_true(st_secmem_in_use() >= 100);
    st_secmem_mode m = st_secmem_current_mode();
    assert_true(m == ST_SECMEM_MEMFD_SECRET || m == ST_SECMEM_MLOCK);
    /* the process is hardened once it holds secrets */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_int_equal(rl.rlim_cur, 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE), 0);
    st_secret_free(s);
    st_secret_free(NULL);
}

static void test_secmem_guard_page_stops_overflow(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* cmocka catches it otherwise */
        unsigned char *p = st_secmem_alloc(16, NULL);
        size_t ps = (size_t)sysconf(_SC_PAGESIZE);
        /* walk past the end of the body: the guard page must fault */
        for (size_t i = 0; i < 2 * ps; i++)
            ((volatile unsigned char *)p)[i] = 1;
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
}

static void test_secmem_reused_page_is_wiped_and_guarded(void **state)
{
    (void)state;
    /* a freed one-page allocation is kept for reuse: wiped, guards kept */
    unsigned char *p = st_secmem_alloc(16, NULL);
    assert_non_null(p);
    memset(p, 0xAB, 16);
    st_secmem_free(p);
    unsigned char *q = st_secmem_alloc(16, NULL);
    assert_non_null(q);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(q[i], 0);
    st_secmem_free(q);
    /* the parent's pooled pages are not mapped in a child (MADV_DONTFORK):
     * the child must get fresh ones it can use */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 2; i++) {
            unsigned char *c = st_secmem_alloc(16, NULL);
            if (!c)
                _exit(3);
            memset(c, 1, 16);
            st_secmem_free(c);
        }
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* and a reused page is still guarded */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        unsigned char *c = st_secmem_alloc(16, NULL);
        st_secmem_free(c);
        c = st_secmem_alloc(16, NULL);
        size_t ps = (size_t)sysconf(_SC_PAGESIZE);
        for (size_t i = 0; i < 2 * ps; i++)
            ((volatile unsigned char *)c)[i] = 1;
        _exit(0);
    }
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
}

static void test_atomic_write_replaces_whole_or_nothing(void **state)
{
    (void)state;
    st_err e;
    char *dir = st_test_tmpdir("core");
    char path[4200];
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_st_ok(st_fs_write_atomic(path, "old", 3, 0600, &e), &e);
    st_atomic_file *f = st_atomic_open(path, 0600, &e);
    assert_non_null(f);
    assert_st_ok(st_atomic_write(f, "new-partial", 11, &e), &e);
    st_atomic_abort(f);
    unsigned char *buf;
    size_t len;
    assert_st_ok(st_fs_read_all(path, 100, &buf, &len, &e), &e);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "old", 3);
    free(buf);
    assert_int_equal(st_fs_sweep_temps(dir), 0);
    assert_st_ok(st_fs_write_atomic(path, "new", 3, 0600, &e), &e);
    assert_st_ok(st_fs_read_all(path, 100, &buf, &len, &e), &e);
    assert_memory_equal(buf, "new", 3);
    free(buf);
    /* too large a file is an input error, not a truncation */
    assert_int_equal(st_fs_read_all(path, 2, &buf, &len, &e), ST_E_INPUT);
    st_test_rmtree(dir);
    free(dir);
}

static void test_check_private_names_loosened_path(void **state)
{
    (void)state;
    st_err e;
    char *dir = st_test_tmpdir("core");
    assert_st_ok(st_fs_check_private(dir, &e), &e);
    chmod(dir, 0750);
    assert_int_equal(st_fs_check_private(dir, &e), ST_E_DENIED);
    assert_non_null(strstr(e.msg, dir));
    assert_non_null(strstr(e.msg, "0750"));
    st_test_rmtree(dir);
    free(dir);
}

static void test_canonical_json_sorts_keys_without_spaces(void **state)
{
    (void)state;
    st_err e;
    const char *text = "{\"b\": 1, \"a\": [true, \"x\"]}";
    json_t *v = st_json_parse(text, strlen(text), "t", &e);
    assert_non_null(v);
    size_t len;
    char *s = st_json_canonical(v, &len, &e);
    assert_string_equal(s, "{\"a\":[true,\"x\"],\"b\":1}");
    free(s);
    json_decref(v);
    v = st_json_parse("{\"a\": 1.5}", 10, "t", &e);
    assert_null(st_json_canonical(v, &len, &e));
    json_decref(v);
    assert_null(st_json_parse("{\"a\":1,\n\"a\":2}", 14, "spec.json", &e));
    assert_non_null(strstr(e.msg, "spec.json:2"));
}

/* st_json_dumps against json_dumps: the same bytes (or both NULL) for
 * every flag set, on values picked for the edges and on random ones */
static const size_t dump_flags[] = {
    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY,
    JSON_COMPACT | JSON_SORT_KEYS,
    JSON_COMPACT,
    JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(5),
    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII,
    JSON_COMPACT | JSON_ESCAPE_SLASH | JSON_ENCODE_ANY,
    JSON_INDENT(2) | JSON_SORT_KEYS,
    JSON_ENCODE_ANY,
};

static void assert_dumps_as_jansson(const json_t *v)
{
    for (size_t f = 0; f < sizeof(dump_flags) / sizeof(dump_flags[0]); f++) {
        char *ours = st_json_dumps(v, dump_flags[f]);
        char *theirs = json_dumps(v, dump_flags[f]);
        if (!ours || !theirs) {
            if (ours || theirs)
                fail_msg("flags %#zx: %s", dump_flags[f],
                         ours ? "jansson failed, we did not"
                              : "we failed, jansson did not");
        } else if (strcmp(ours, theirs) != 0)
            fail_msg("flags %#zx:\n  ours    %s\n  jansson %s", dump_flags[f],
                     ours, theirs);
        free(ours);
        free(theirs);
    }
}

static uint64_t dump_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* a random value: text from an alphabet with the characters that are
 * escaped, NUL, '/', DEL and UTF-8, keys that share prefixes */
static json_t *dump_random(uint64_t *s, int depth)
{
    /* clang-format off */
    static const char *const bits[] = {
        /* escaped */ "\"", "\\", "\n", "\t", "\b", "\f", "\r", "\x01", "\x1f",
        /* as they are */ "a", "b", "ab", "/", "\x7f", " ", "0", "sha256",
        /* UTF-8 */ "\xc3\xa9", "\xf0\x9f\x94\x91"};
    /* clang-format on */
    static const size_t nbits = sizeof(bits) / sizeof(bits[0]);
    char text[64];
    size_t len = 0;
    switch (dump_rng(s) % (depth > 5 ? 5 : 7)) {
    case 0: return json_integer((json_int_t)dump_rng(s) >> (dump_rng(s) % 64));
    case 1:
        return dump_rng(s) % 2 ? json_true()
                               : (dump_rng(s) % 2 ? json_false() : json_null());
    case 2:
        if (dump_rng(s) % 4 == 0)
            return json_real((double)(int64_t)dump_rng(s) / 1e3);
        /* fall through */
    case 3:
    case 4:
        for (unsigned n = (unsigned)(dump_rng(s) % 6); n--;) {
            const char *b = bits[dump_rng(s) % nbits];
            size_t bl = strlen(b);
            if (len + bl + 1 < sizeof(text)) {
                memcpy(text + len, b, bl);
                len += bl;
            }
        }
        if (dump_rng(s) % 8 == 0)
            text[len++] = '\0';
        return json_stringn(text, len);
    case 5: {
        json_t *a = json_array();
        for (unsigned n = (unsigned)(dump_rng(s) % 5); n--;)
            json_array_append_new(a, dump_random(s, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (unsigned n = (unsigned)(dump_rng(s) % 7); n--;) {
            len = 0;
            for (unsigned k = 1 + (unsigned)(dump_rng(s) % 3); k--;) {
                const char *b = bits[dump_rng(s) % nbits];
                memcpy(text + len, b, strlen(b));
                len += strlen(b);
            }
            if (dump_rng(s) % 10 == 0)
                text[len++] = '\0';
            json_object_setn_new(o, text, len, dump_random(s, depth + 1));
        }
        return o;
    }
    }
}

static void test_json_dumps_writes_what_jansson_writes(void **state)
{
    (void)state;
    /* the edges, one by one */
    json_t *edge[] = {
        json_integer(0),
        json_integer(-1),
        json_integer(INT64_MIN),
        json_integer(INT64_MAX),
        json_real(1.5),
        json_stringn("\0\x01\x1f\x7f\"\\/\b\f\n\r\t", 12),
        json_string("caf\xc3\xa9 \xf0\x9f\x94\x91"),
        json_string(""),
        json_array(),
        json_object(),
        json_pack("{s:[],s:{},s:[{}],s:n}", "b", "a", "ab", "a\x7f"),
        json_pack("{s:s,s:i,s:s}", "z", "1", "\xc3\xa9", 2, "a", "x"),
        json_null(),
        /* not UTF-8: jansson fails it */
        json_stringn_nocheck("a\xff", 2),
        json_pack("[o]", json_string_nocheck("\xc3(")),
    };
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        assert_non_null(edge[i]);
        assert_dumps_as_jansson(edge[i]);
        json_decref(edge[i]);
    }
    /* keys that differ only after a NUL, or in length */
    json_t *o = json_object();
    json_object_setn_new(o, "a\0b", 3, json_integer(1));
    json_object_setn_new(o, "a", 1, json_integer(2));
    json_object_setn_new(o, "a\0", 2, json_integer(3));
    json_object_setn_new(o, "", 0, json_integer(4));
    assert_dumps_as_jansson(o);
    /* more members than the writer sorts on its stack (16) */
    json_t *wide = json_object();
    for (int i = 40; i > 0; i--) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(wide, k, json_integer(i));
    }
    assert_dumps_as_jansson(wide);
    json_decref(wide);
    /* a key that is not UTF-8 (jansson writes what it could of it) */
    json_t *bad = json_object();
    json_object_setn_new_nocheck(bad, "k\xfe", 2, json_integer(5));
    assert_dumps_as_jansson(bad);
    json_decref(bad);
    /* nesting past what our writer takes (jansson's then), and a cycle
     * (both fail) */
    json_t *deep = json_array(), *in = deep;
    for (int i = 0; i < 300; i++) {
        json_t *next = json_array();
        json_array_append_new(in, next);
        in = next;
    }
    assert_dumps_as_jansson(deep);
    json_array_append(in, o);
    json_object_set(o, "loop", deep);
    assert_dumps_as_jansson(deep);
    json_object_del(o, "loop");
    json_decref(deep);
    json_decref(o);
    /* and random values */
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 3000; i++) {
        json_t *v = dump_random(&s, 0);
        assert_dumps_as_jansson(v);
        json_decref(v);
    }
    /* and the real documents of others */
    static const char *const docs[] = {
        "../shared/testvectors/attestation/tpm/azure-snp-vtpm-milan-v3-"
        "evidence-v0/evidence-v1.json",
        "../shared/testvectors/attestation/tdx/trustee-tdx-quotes/"
        "tcbInfo.json",
        "../shared/testvectors/attestation/sgx/phala-sgx-v3/"
        "sgx_quote_collateral.json",
        "../shared/testvectors/ed25519/ed25519vectors.json",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_error_t je;
        json_t *v = json_load_file(docs[i], JSON_DECODE_ANY, &je);
        if (!v)
            fail_msg("%s: %s", docs[i], je.text);
        assert_dumps_as_jansson(v);
        json_decref(v);
    }
}

static void test_json_unknown_key_is_named(void **state)
{
    (void)state;
    st_err e;
    json_t *v = json_pack("{s:i, s:i}", "epochs", 3, "epoch", 4);
    static const char *const allowed[] = {"epochs", "lr", NULL};
    assert_int_equal(st_json_check_keys(v, allowed, "model", &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "unknown key \"epoch\""));
    long long x;
    assert_int_equal(st_json_get_int(v, "epochs", 1, 5, 10, &x, "model", &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "outside [5, 10]"));
    json_decref(v);
}

static void test_reader_fails_sticky_on_overrun(void **state)
{
    (void)state;
    uint8_t data[6] = {1, 0, 2, 0, 0, 0};
    st_reader r;
    st_reader_init(&r, data, sizeof(data));
    assert_int_equal(st_read_u16le(&r), 1);
    assert_int_equal(st_read_u32le(&r), 2);
    assert_false(r.failed);
    assert_int_equal(st_read_u8(&r), 0);
    assert_true(r.failed);
    assert_null(st_read_view(&r, 0));
}

static void test_base64_and_hex_are_strict(void **state)
{
    (void)state;
    st_err e;
    uint8_t *out;
    size_t n;
    char *s = st_base64_encode((const uint8_t *)"hello", 5, 0);
    assert_string_equal(s, "aGVsbG8");
    assert_st_ok(st_base64_decode(s, strlen(s), 0, &out, &n, &e), &e);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    free(out);
    free(s);
    /* non-canonical trailing bits */
    assert_int_equal(st_base64_decode("aGVsbG9", 7, 0, &out, &n, &e),
                     ST_E_INPUT);
    uint8_t b[2];
    assert_st_ok(st_hex_decode("00fF", b, 2, &e), &e);
    assert_int_equal(b[1], 0xff);
    assert_int_equal(st_hex_decode("0g00", b, 2, &e), ST_E_INPUT);
}

/* RFC 8032 section 7.1, TEST 1 */
static void test_ed25519_rfc8032_vector(void **state)
{
    (void)state;
    st_err e;
    uint8_t seed[32], pub[32], want_pub[32], sig[64], want_sig[64];
    assert_st_ok(
        st_hex_decode(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            seed, 32, &e),
        &e);
    assert_st_ok(
        st_hex_decode(
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            want_pub, 32, &e),
        &e);
    assert_st_ok(
        st_hex_decode(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522"
            "490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e"
            "7a100b",
            want_sig, 64, &e),
        &e);
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    assert_memory_equal(pub, want_pub, 32);
    assert_st_ok(st_ed25519_sign(seed, "", 0, sig, &e), &e);
    assert_memory_equal(sig, want_sig, 64);
    assert_st_ok(st_ed25519_verify(pub, "", 0, sig, &e), &e);
    sig[0] ^= 1;
    assert_int_equal(st_ed25519_verify(pub, "", 0, sig, &e), ST_E_DENIED);
}

/* A valid signature is remembered (primitives.c); nothing that differs
 * from it in key, message or signature may pass on its account, before
 * or after, from any thread's earlier success. */
static void test_ed25519_remembered_valid_only(void **state)
{
    (void)state;
    st_err e;
    uint8_t seed[32], pub[32], pub2[32], sig[64], bad[64];
    char msg[] = "remembered: the first valid signature";
    memset(seed, 7, sizeof(seed));
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    seed[0] ^= 1;
    assert_st_ok(st_ed25519_public(seed, pub2, &e), &e);
    seed[0] ^= 1;
    assert_st_ok(st_ed25519_sign(seed, msg, strlen(msg), sig, &e), &e);
    for (int round = 0; round < 3; round++) {
        assert_st_ok(st_ed25519_verify(pub, msg, strlen(msg), sig, &e), &e);
        msg[0] ^= 0x20; /* another message, same key and signature */
        assert_int_equal(st_ed25519_verify(pub, msg, strlen(msg), sig, &e),
                         ST_E_DENIED);
        msg[0] ^= 0x20;
        assert_int_equal(st_ed25519_verify(pub, msg, strlen(msg) - 1, sig, &e),
                         ST_E_DENIED);
        assert_int_equal(st_ed25519_verify(pub2, msg, strlen(msg), sig, &e),
                         ST_E_DENIED);
        for (size_t i = 0; i < 64; i += 21) {
            memcpy(bad, sig, 64);
            bad[i] ^= 0x80;
            assert_int_equal(st_ed25519_verify(pub, msg, strlen(msg), bad, &e),
                             ST_E_DENIED);
        }
    }
    /* more valid signatures than the memory holds: each still verifies */
    for (int i = 0; i < 600; i++) {
        char m[32];
        snprintf(m, sizeof(m), "message %d", i);
        assert_st_ok(st_ed25519_sign(seed, m, strlen(m), bad, &e), &e);
        assert_st_ok(st_ed25519_verify(pub, m, strlen(m), bad, &e), &e);
        bad[63] ^= 1;
        assert_int_equal(st_ed25519_verify(pub, m, strlen(m), bad, &e),
                         ST_E_DENIED);
    }
}

/* RFC 7748 section 6.1 */
static void test_x25519_rfc7748_vector(void **state)
{
    (void)state;
    st_err e;
    uint8_t a[32], bpub[32], shared[32], want[32], apub[32], want_apub[32];
    assert_st_ok(
        st_hex_decode(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
            a, 32, &e),
        &e);
    assert_st_ok(
        st_hex_decode(
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
            bpub, 32, &e),
        &e);
    assert_st_ok(
        st_hex_decode(
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
            want, 32, &e),
        &e);
    assert_st_ok(
        st_hex_decode(
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
            want_apub, 32, &e),
        &e);
    assert_st_ok(st_x25519_public(a, apub, &e), &e);
    assert_memory_equal(apub, want_apub, 32);
    assert_st_ok(st_x25519(a, bpub, shared, &e), &e);
    assert_memory_equal(shared, want, 32);
    uint8_t zero[32] = {0};
    assert_int_equal(st_x25519(a, zero, shared, &e), ST_E_DENIED);
}

/* RFC 8439 section 2.8.2 */
static void test_aead_rfc8439_vector_and_tamper(void **state)
{
    (void)state;
    st_err e;
    uint8_t key[32], nonce[12], aad[12];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0x80 + i);
    assert_st_ok(st_hex_decode("070000004041424344454647", nonce, 12, &e), &e);
    assert_st_ok(st_hex_decode("50515253c0c1c2c3c4c5c6c7", aad, 12, &e), &e);
    const char *pt = "Ladies and Gentlemen of the class of '99: If I could "
                     "offer you only one tip for the future, sunscreen would "
                     "be it.";
    size_t n = strlen(pt);
    uint8_t ct[256], back[256], tag[16];
    assert_st_ok(st_aead_seal(key, nonce, aad, 12, pt, n, ct, &e), &e);
    assert_st_ok(st_hex_decode("1ae10b594f09e26a7e902ecbd0600691", tag, 16, &e),
                 &e);
    assert_memory_equal(ct + n, tag, 16);
    assert_st_ok(st_aead_open(key, nonce, aad, 12, ct, n + 16, back, &e), &e);
    assert_memory_equal(back, pt, n);
    ct[5] ^= 1;
    assert_int_equal(st_aead_open(key, nonce, aad, 12, ct, n + 16, back, &e),
                     ST_E_DENIED);
}

/* RFC 5869 A.1 */
static void test_hkdf_rfc5869_vector(void **state)
{
    (void)state;
    st_err e;
    uint8_t ikm[22], salt[13], info[10], okm[42], want[42];
    memset(ikm, 0x0b, 22);
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++)
        info[i] = (uint8_t)(0xf0 + i);
    assert_st_ok(
        st_hex_decode(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4"
            "c5bf34007208d5b887185865",
            want, 42, &e),
        &e);
    assert_st_ok(st_hkdf_sha256(ikm, 22, salt, 13, info, 10, okm, 42, &e), &e);
    assert_memory_equal(okm, want, 42);
}

static void test_dsse_sign_verify_and_tamper(void **state)
{
    (void)state;
    st_err e;
    uint8_t seed[32], pub[32], other[32];
    assert_st_ok(st_random(seed, 32, &e), &e);
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    assert_st_ok(st_random(other, 32, &e), &e);
    assert_st_ok(st_ed25519_public(other, other, &e), &e);
    const char *body = "{\"name\":\"digits\"}";
    json_t *env = st_dsse_sign(ST_DSSE_TYPE_MANIFEST, (const uint8_t *)body,
                               strlen(body), seed, &e);
    assert_non_null(env);
    uint8_t *payload;
    size_t len, which = 9;
    uint8_t keys[2][32];
    memcpy(keys[0], other, 32);
    memcpy(keys[1], pub, 32);
    assert_st_ok(st_dsse_verify(env, ST_DSSE_TYPE_MANIFEST,
                                (const uint8_t(*)[32])keys, 2, &payload, &len,
                                &which, &e),
                 &e);
    assert_int_equal(which, 1);
    assert_string_equal((char *)payload, body);
    free(payload);
    /* wrong key */
    assert_int_equal(st_dsse_verify(env, NULL, (const uint8_t(*)[32])keys, 1,
                                    &payload, &len, NULL, &e),
                     ST_E_DENIED);
    /* wrong type */
    assert_int_equal(st_dsse_verify(env, ST_DSSE_TYPE_JOBSPEC,
                                    (const uint8_t(*)[32])keys, 2, &payload,
                                    &len, NULL, &e),
                     ST_E_INPUT);
    /* payload swapped: the signature no longer verifies */
    char *other64 = st_base64_encode((const uint8_t *)"{}", 2, 1);
    json_object_set_new(env, "payload", json_string(other64));
    free(other64);
    assert_int_equal(st_dsse_verify(env, NULL, (const uint8_t(*)[32])keys, 2,
                                    &payload, &len, NULL, &e),
                     ST_E_DENIED);
    json_decref(env);
}

static void test_ed25519_pem_round_trip(void **state)
{
    (void)state;
    st_err e;
    uint8_t seed[32], pub[32], pub2[32], seed2[32];
    assert_st_ok(st_random(seed, 32, &e), &e);
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    char *dir = st_test_tmpdir("core");
    char path[4200];
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    char *pem = st_ed25519_private_pem(seed, &e);
    assert_non_null(pem);
    assert_st_ok(st_fs_write_atomic(path, pem, strlen(pem), 0600, &e), &e);
    st_wipe(pem, strlen(pem));
    free(pem);
    assert_st_ok(st_ed25519_load_private_pem(path, seed2, &e), &e);
    assert_memory_equal(seed, seed2, 32);
    assert_st_ok(st_ed25519_load_public_pem(path, pub2, &e), &e);
    assert_memory_equal(pub, pub2, 32);
    char *ppem = st_ed25519_public_pem(pub, &e);
    assert_st_ok(st_ed25519_parse_public_pem(ppem, strlen(ppem), pub2, &e), &e);
    assert_memory_equal(pub, pub2, 32);
    free(ppem);
    st_test_rmtree(dir);
    free(dir);
}

/* The parser's short path (the fixed RFC 8410 layout) and OpenSSL's
 * agree: the same key from a PEM folded differently, and a key of
 * another algorithm is still refused. */
static void test_ed25519_public_pem_any_layout_same_key(void **state)
{
    (void)state;
    st_err e;
    uint8_t seed[32], pub[32], got[32];
    assert_st_ok(st_random(seed, 32, &e), &e);
    assert_st_ok(st_ed25519_public(seed, pub, &e), &e);
    char *ppem = st_ed25519_public_pem(pub, &e);
    assert_non_null(ppem);
    /* folded at 40 characters, CRLF line ends, text around it */
    const char *b64 = strchr(ppem, '\n') + 1;
    char folded[512];
    snprintf(folded, sizeof(folded),
             "comment\r\n-----BEGIN PUBLIC KEY-----\r\n%.40s\r\n%.20s\r\n"
             "-----END PUBLIC KEY-----\r\ntrailer\n",
             b64, b64 + 40);
    assert_st_ok(st_ed25519_parse_public_pem(folded, strlen(folded), got, &e),
                 &e);
    assert_memory_equal(pub, got, 32);
    /* 64-character lines (OpenSSL's own folding of a longer body) */
    snprintf(folded, sizeof(folded),
             "-----BEGIN PUBLIC KEY-----\n%.60s\n-----END PUBLIC KEY-----\n",
             b64);
    assert_st_ok(st_ed25519_parse_public_pem(folded, strlen(folded), got, &e),
                 &e);
    assert_memory_equal(pub, got, 32);
    free(ppem);
    /* an X25519 key has the same length and a different OID: refused */
    const char *x25519 = "-----BEGIN PUBLIC KEY-----\n"
                         "MCowBQYDK2VuAyEAHAuWI5GyXRnkrSOnfVF5rWX9BhnIaPjBUPYt"
                         "L4c5uWA=\n-----END PUBLIC KEY-----\n";
    assert_int_equal(
        st_ed25519_parse_public_pem(x25519, strlen(x25519), got, &e),
        ST_E_INPUT);
    /* a body one byte short: refused */
    const char *short_key =
        "-----BEGIN PUBLIC KEY-----\n"
        "MCkwBQYDK2VwAyAA5mWqJLgkRQhfpN9y1Kk+jUVT9eJ9trjmQpDa"
        "0ivdqQ==\n-----END PUBLIC KEY-----\n";
    assert_true(st_ed25519_parse_public_pem(short_key, strlen(short_key), got,
                                            &e) != ST_OK);
}

/* A library that cannot be loaded is an error naming what needs it, the
 * package, the path and why, exit 5; the same answer on every later call
 * (a library missing now does not appear later in the process). */
static double (*missing_fn)(double);
static st_dynlib missing_lib = {.path = "/nonexistent/libsealtrain-test.so.1",
                                .needed_by = "the test needs a library",
                                .package = "libsealtrain-test1",
                                .once = PTHREAD_ONCE_INIT};
static int missing_opens;

static void missing_open(void)
{
    static const char *const names[] = {"cbrt"};
    void **const slots[] = {(void **)&missing_fn};
    missing_opens++;
    st_dynlib_open(&missing_lib, names, slots, 1);
}

static void test_dynlib_missing_library_is_named(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        st_err e;
        st_err_clear(&e);
        assert_int_equal(st_dynlib_load(&missing_lib, missing_open, &e),
                         ST_E_IO);
        assert_non_null(strstr(e.msg, "the test needs a library"));
        assert_non_null(strstr(e.msg, "libsealtrain-test1"));
        assert_non_null(strstr(e.msg, "/nonexistent/libsealtrain-test.so.1"));
    }
    assert_int_equal(missing_opens, 1);
    assert_null(missing_fn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_prefix_builds_what_failed_why),
        cmocka_unit_test(test_dynlib_missing_library_is_named),
        cmocka_unit_test(test_ed25519_public_pem_any_layout_same_key),
        cmocka_unit_test(test_secmem_is_locked_wiped_and_hardens_process),
        cmocka_unit_test(test_secmem_guard_page_stops_overflow),
        cmocka_unit_test(test_secmem_reused_page_is_wiped_and_guarded),
        cmocka_unit_test(test_atomic_write_replaces_whole_or_nothing),
        cmocka_unit_test(test_check_private_names_loosened_path),
        cmocka_unit_test(test_canonical_json_sorts_keys_without_spaces),
        cmocka_unit_test(test_json_dumps_writes_what_jansson_writes),
        cmocka_unit_test(test_json_unknown_key_is_named),
        cmocka_unit_test(test_reader_fails_sticky_on_overrun),
        cmocka_unit_test(test_base64_and_hex_are_strict),
        cmocka_unit_test(test_ed25519_rfc8032_vector),
        cmocka_unit_test(test_ed25519_remembered_valid_only),
        cmocka_unit_test(test_x25519_rfc7748_vector),
        cmocka_unit_test(test_aead_rfc8439_vector_and_tamper),
        cmocka_unit_test(test_hkdf_rfc5869_vector),
        cmocka_unit_test(test_dsse_sign_verify_and_tamper),
        cmocka_unit_test(test_ed25519_pem_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
