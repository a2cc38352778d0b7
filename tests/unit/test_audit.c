/*
 * test_audit.c: the audit log: RFC 9162 tree hashes and proofs against the
 * Certificate Transparency test vectors, C2SP signed notes against the Go
 * sumdb/note reference vector, the entry parser, appends (threads, group
 * commit), checkpoints, tamper detection that names the entry, and the
 * replay of log.wal after a (simulated) kernel crash: lost page cache,
 * zero-filled tails, torn records, repairs that must stay repaired.
 */
#include "st_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <sealtrain/sealtrain.h>

#include "audit/audit_internal.h"

/* The 8 leaves of the CT merkle tree tests and the roots of their
 * prefixes (certificate-transparency, merkle_tree_test). */
static const char *const ct_leaves[8] = {"",
                                         "00",
                                         "10",
                                         "2021",
                                         "3031",
                                         "40414243",
                                         "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f"};
static const char *const ct_roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

static void hex32(const char *h, uint8_t out[32])
{
    assert_int_equal(st_hex_decode(h, out, 32, NULL), ST_OK);
}

static void ct_leaf_hashes(uint8_t leaves[8][32])
{
    for (int i = 0; i < 8; i++) {
        uint8_t raw[16];
        size_t n = strlen(ct_leaves[i]) / 2;
        if (n)
            assert_int_equal(st_hex_decode(ct_leaves[i], raw, n, NULL), ST_OK);
        st_audit_leaf_hash(raw, n, leaves[i]);
    }
}

static void test_tree_root_matches_ct_vectors(void **state)
{
    (void)state;
    uint8_t leaves[8][32], root[32], want[32];
    ct_leaf_hashes(leaves);
    st_audit_hasher *h = st_audit_hasher_new();
    st_audit_frontier fr;
    memset(&fr, 0, sizeof(fr));
    for (int n = 1; n <= 8; n++) {
        hex32(ct_roots[n - 1], want);
        st_audit_tree_root((const uint8_t(*)[32])leaves, (uint64_t)n, root);
        assert_memory_equal(root, want, 32);
        st_audit_frontier_push(&fr, h, leaves[n - 1]);
        st_audit_frontier_root(&fr, h, root);
        assert_memory_equal(root, want, 32);
    }
    st_audit_tree_root(NULL, 0, root);
    hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
          want);
    assert_memory_equal(root, want, 32);
    st_audit_hasher_free(h);
}

static void test_consistency_proof_matches_ct_vector(void **state)
{
    (void)state;
    uint8_t leaves[8][32], r2[32], r5[32], p[2][32];
    ct_leaf_hashes(leaves);
    hex32(ct_roots[1], r2);
    hex32(ct_roots[4], r5);
    hex32("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          p[0]);
    hex32("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
          p[1]);
    assert_int_equal(st_audit_verify_consistency(
                         2, 5, r2, r5, (const uint8_t(*)[32])p, 2, NULL),
                     ST_OK);
    uint8_t(*mine)[32];
    size_t n;
    assert_int_equal(st_audit_consistency_proof((const uint8_t(*)[32])leaves, 5,
                                                2, &mine, &n, NULL),
                     ST_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(mine, p, 64);
    free(mine);
    p[1][0] ^= 1;
    assert_int_equal(st_audit_verify_consistency(
                         2, 5, r2, r5, (const uint8_t(*)[32])p, 2, NULL),
                     ST_E_DENIED);
}

static void test_every_proof_verifies_and_every_altered_one_fails(void **state)
{
    (void)state;
    enum { N = 37 };
    uint8_t leaves[N][32], roots[N + 1][32];
    for (int i = 0; i < N; i++) {
        char b[16];
        snprintf(b, sizeof(b), "leaf %d", i);
        st_audit_leaf_hash(b, strlen(b), leaves[i]);
    }
    for (int n = 0; n <= N; n++)
        st_audit_tree_root((const uint8_t(*)[32])leaves, (uint64_t)n, roots[n]);
    for (int n = 1; n <= N; n++) {
        for (int m = 0; m < n; m++) {
            uint8_t(*p)[32];
            size_t len;
            assert_int_equal(st_audit_inclusion_proof(
                                 (const uint8_t(*)[32])leaves, (uint64_t)n,
                                 (uint64_t)m, &p, &len, NULL),
                             ST_OK);
            assert_int_equal(st_audit_verify_inclusion(
                                 (uint64_t)m, (uint64_t)n, leaves[m],
                                 (const uint8_t(*)[32])p, len, roots[n], NULL),
                             ST_OK);
            /* another index, a shortened proof, a flipped bit: all fail */
            if (n > 1)
                assert_int_equal(
                    st_audit_verify_inclusion(
                        (uint64_t)(m + 1) % (uint64_t)n, (uint64_t)n, leaves[m],
                        (const uint8_t(*)[32])p, len, roots[n], NULL),
                    ST_E_DENIED);
            if (len) {
                assert_int_equal(st_audit_verify_inclusion(
                                     (uint64_t)m, (uint64_t)n, leaves[m],
                                     (const uint8_t(*)[32])p, len - 1, roots[n],
                                     NULL),
                                 ST_E_DENIED);
                p[len - 1][5] ^= 0x20;
                assert_int_equal(st_audit_verify_inclusion(
                                     (uint64_t)m, (uint64_t)n, leaves[m],
                                     (const uint8_t(*)[32])p, len, roots[n],
                                     NULL),
                                 ST_E_DENIED);
            }
            free(p);
        }
        for (int m = 0; m <= n; m++) {
            uint8_t(*p)[32];
            size_t len;
            assert_int_equal(st_audit_consistency_proof(
                                 (const uint8_t(*)[32])leaves, (uint64_t)n,
                                 (uint64_t)m, &p, &len, NULL),
                             ST_OK);
            assert_int_equal(st_audit_verify_consistency(
                                 (uint64_t)m, (uint64_t)n, roots[m], roots[n],
                                 (const uint8_t(*)[32])p, len, NULL),
                             ST_OK);
            if (len) {
                p[0][0] ^= 1;
                assert_int_equal(st_audit_verify_consistency(
                                     (uint64_t)m, (uint64_t)n, roots[m],
                                     roots[n], (const uint8_t(*)[32])p, len,
                                     NULL),
                                 ST_E_DENIED);
            }
            free(p);
        }
    }
}

#define PETER_VKEY                                                             \
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define PETER_SKEY_B64 "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define PETER_TEXT                                                             \
    "If you think cryptography is the answer to your problem,\n"               \
    "then you don't know what your problem is.\n"
#define PETER_NOTE                                                             \
    PETER_TEXT "\n\xe2\x80\x94 PeterNeumann "                                  \
               "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2"    \
               "pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

static void test_signed_note_matches_go_sumdb_note_vector(void **state)
{
    (void)state;
    uint8_t *raw;
    size_t n;
    assert_int_equal(st_base64_decode(PETER_SKEY_B64, strlen(PETER_SKEY_B64), 1,
                                      &raw, &n, NULL),
                     ST_OK);
    assert_int_equal(n, 33);
    assert_int_equal(raw[0], 1);
    uint8_t pub[32];
    assert_int_equal(st_ed25519_public(raw + 1, pub, NULL), ST_OK);
    char *vkey = st_audit_note_vkey("PeterNeumann", pub);
    assert_string_equal(vkey, PETER_VKEY);
    char *note;
    assert_int_equal(
        st_audit_note_sign("PeterNeumann", raw + 1, PETER_TEXT, &note, NULL),
        ST_OK);
    assert_string_equal(note, PETER_NOTE);
    size_t tlen;
    assert_int_equal(st_audit_note_open(PETER_NOTE, strlen(PETER_NOTE),
                                        PETER_VKEY, &tlen, NULL),
                     ST_OK);
    assert_int_equal(tlen, strlen(PETER_TEXT));
    /* one changed character of the text breaks the signature */
    note[3] = 'X';
    st_err e;
    assert_int_equal(
        st_audit_note_open(note, strlen(note), PETER_VKEY, &tlen, &e),
        ST_E_DENIED);
    /* a mangled verifier key is refused */
    assert_int_not_equal(
        st_audit_note_vkey_parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhK"
                                 "qiBfsVkmqq/LDE4izWy10TW",
                                 NULL, pub, &e),
        ST_OK);
    free(note);
    free(vkey);
    free(raw);
}

static void test_checkpoint_parser_rejects_malformed_bodies(void **state)
{
    (void)state;
    st_audit_checkpoint_body b;
    const char *good = "example.com/log\n5\n"
                       "TjvFuHtHjc/nH7YxYxUZo7yhLJrvyhYSv85MEz"
                       "hiZNQ=\ntime 1700000000\n";
    assert_int_equal(st_audit_checkpoint_parse(good, strlen(good), &b, NULL),
                     ST_OK);
    assert_string_equal(b.origin, "example.com/log");
    assert_int_equal(b.size, 5);
    assert_int_equal(b.time, 1700000000);
    const char *bad[] = {
        "o\n05\nTjvFuHtHjc/nH7YxYxUZo7yhLJrvyhYSv85MEzhiZNQ=\n", "o\n5\nTjvF\n",
        "o\n5\n", "o\n-1\nAA==\n",
        "o\n5\nTjvFuHtHjc/nH7YxYxUZo7yhLJrvyhYSv85MEzhiZNQ=\n\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(
            st_audit_checkpoint_parse(bad[i], strlen(bad[i]), &b, NULL),
            ST_E_INPUT);
}

#define ENTRY_OK                                                               \
    "{\"action\":\"data.import\",\"actor\":\"alice\",\"category\":"            \
    "\"operation\",\"details\":{\"n\":[1,2.5,true,null,\"\\u00e9\"]},"         \
    "\"outcome\":\"success\",\"prev\":\"00000000000000000000000000000000"      \
    "00000000000000000000000000000000\",\"resource\":\"dataset:d\","           \
    "\"seq\":7,\"time\":\"2026-01-02T03:04:05.123Z\",\"v\":1}"

static void test_entry_parser_accepts_entries_and_rejects_bad_ones(void **state)
{
    (void)state;
    st_audit_entry e;
    st_err err;
    assert_int_equal(st_audit_entry_parse(ENTRY_OK, strlen(ENTRY_OK), &e, &err),
                     ST_OK);
    assert_int_equal(e.seq, 7);
    assert_int_equal(e.actor.len, 5);
    assert_memory_equal(e.actor.p, "alice", 5);
    struct {
        const char *from, *to;
    } muts[] = {{"\"v\":1", "\"v\":2"},
                {"\"seq\":7", "\"seq\":07"},
                {"\"seq\":7", "\"seq\":-7"},
                {"operation", "gossip"},
                {"success", "maybe"},
                {"2026-01-02T", "2026-13-02T"},
                {"\"actor\":\"alice\"", "\"actor\":\"\""},
                {"\"actor\":\"alice\",", ""},
                {"\"v\":1}", "\"v\":1,\"v\":1}"},
                {"\"v\":1}", "\"v\":1,\"x\":1}"},
                {"\\u00e9", "\\ud800"},
                {"2.5", "2."},
                {"00000000\",", "0000000G\","},
                {"\"v\":1}", "\"v\":1} x"},
                {"{\"n\"", "[\"n\""}};
    for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
        char buf[1024];
        const char *at = strstr(ENTRY_OK, muts[i].from);
        assert_non_null(at);
        snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - ENTRY_OK), ENTRY_OK,
                 muts[i].to, at + strlen(muts[i].from));
        if (st_audit_entry_parse(buf, strlen(buf), &e, &err) != ST_E_INPUT)
            fail_msg("mutation %zu accepted: %s", i, buf);
    }
    /* invalid UTF-8 inside a string */
    char raw[] = ENTRY_OK;
    char *a = strstr(raw, "alice");
    a[1] = (char)0xc0;
    assert_int_equal(st_audit_entry_parse(raw, strlen(raw), &e, &err),
                     ST_E_INPUT);
}

static st_audit_event ev(const char *action, const char *resource)
{
    st_audit_event e = {"operation", "alice", action, resource,
                        "success",   NULL,    NULL};
    return e;
}

static char *new_log_dir(void)
{
    char *base = st_test_tmpdir("audit");
    char *dir = malloc(strlen(base) + 8);
    sprintf(dir, "%s/audit", base);
    free(base);
    return dir;
}

static void rm_log_dir(char *dir)
{
    char *slash = strrchr(dir, '/');
    *slash = 0;
    st_test_rmtree(dir);
    free(dir);
}

static void test_appends_verify_and_checkpoint_signatures_check(void **state)
{
    (void)state;
    char *dir = new_log_dir();
    st_audit_log *log;
    st_err err;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    json_t *d = json_pack("{s:s}", "sha256", "ab");
    for (int i = 0; i < 10; i++) {
        st_audit_event e = ev("data.import", "dataset:digits");
        e.details = i == 3 ? d : NULL;
        e.reason = i == 4 ? "line\nbreak \"quoted\"" : NULL;
        uint64_t idx;
        assert_st_ok(st_audit_log_append(log, &e, &idx, &err), &err);
        assert_int_equal(idx, (uint64_t)i);
        if (i == 4 || i == 9) {
            char *note;
            assert_st_ok(st_audit_checkpoint(log, &note, &err), &err);
            free(note);
        }
    }
    json_decref(d);
    st_audit_report rep;
    assert_st_ok(st_audit_verify(dir, NULL, &rep, &err), &err);
    assert_int_equal(rep.entries, 10);
    assert_int_equal(rep.checkpoints, 2);
    uint64_t size;
    uint8_t root[32];
    assert_st_ok(st_audit_log_head(log, &size, root, &err), &err);
    assert_int_equal(size, 10);
    assert_memory_equal(root, rep.root, 32);
    /* invalid events are refused before anything is written */
    st_audit_event bad = ev("x", "y");
    bad.category = "gossip";
    assert_int_equal(st_audit_log_append(log, &bad, NULL, &err), ST_E_USAGE);
    /* a note signed by another key does not verify as ours */
    uint8_t pub[32] = {9};
    char *other = st_audit_note_vkey("sealtrain/audit/other", pub);
    assert_int_equal(st_audit_verify(dir, other, &rep, &err), ST_E_DENIED);
    free(other);
    st_audit_log_close(log);
    rm_log_dir(dir);
}

/* A decision's entries (verdicts, then the release) go in one batch: in
 * their order, with consecutive indexes, and none of them when one is
 * invalid. */
static void test_batch_appends_in_order_or_not_at_all(void **state)
{
    (void)state;
    char *dir = new_log_dir();
    st_audit_log *log;
    st_err err;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    st_audit_event one = ev("data.import", "dataset:a");
    assert_st_ok(st_audit_log_append(log, &one, NULL, &err), &err);
    st_audit_event evs[3] = {ev("attest.verify", "dataset:a"),
                             ev("attest.verify", "job:x"),
                             ev("key.release", "dataset:a")};
    uint64_t idx = 0;
    assert_st_ok(st_audit_log_append_all(log, evs, 3, &idx, &err), &err);
    assert_int_equal(idx, 1);
    st_audit_event bad[2] = {ev("attest.verify", "dataset:b"), ev("x", "y")};
    bad[1].category = "gossip";
    assert_int_equal(st_audit_log_append_all(log, bad, 2, NULL, &err),
                     ST_E_USAGE);
    uint64_t size;
    uint8_t root[32];
    assert_st_ok(st_audit_log_head(log, &size, root, &err), &err);
    assert_int_equal(size, 4);
    st_audit_report rep;
    assert_st_ok(st_audit_verify(dir, NULL, &rep, &err), &err);
    assert_int_equal(rep.entries, 4);
    /* in the order given */
    char path[4200];
    snprintf(path, sizeof(path), "%s/log.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    const char *want[] = {"data.import", "attest.verify", "attest.verify",
                          "key.release"};
    for (int i = 0; i < 4; i++) {
        assert_non_null(fgets(line, sizeof(line), f));
        char tag[64];
        snprintf(tag, sizeof(tag), "\"action\":\"%s\"", want[i]);
        assert_non_null(strstr(line, tag));
    }
    assert_null(fgets(line, sizeof(line), f));
    fclose(f);
    st_audit_log_close(log);
    rm_log_dir(dir);
}

typedef struct thread_arg {
    st_audit_log *log;
    int n;
} thread_arg;

static void *appender(void *p)
{
    thread_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        st_audit_event e = ev("job.run", "job:x");
        if (st_audit_log_append(a->log, &e, NULL, NULL) != ST_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_appenders_all_land_in_one_valid_tree(void **state)
{
    (void)state;
    char *dir = new_log_dir();
    st_audit_log *log, *again;
    st_err err;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    /* a second open shares the handle (and so the group commit) */
    assert_st_ok(st_audit_log_open(dir, &again, &err), &err);
    assert_ptr_equal(log, again);
    st_audit_log_close(again);
    pthread_t t[8];
    thread_arg a = {log, 40};
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, appender, &a), 0);
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    st_audit_report rep;
    assert_st_ok(st_audit_verify(dir, NULL, &rep, &err), &err);
    assert_int_equal(rep.entries, 320);
    st_audit_log_close(log);
    rm_log_dir(dir);
}

/* Rewrites the log file with line `idx` replaced by `with` (NULL: removed)
 * or swapped with the next line (swap = 1). */
static void tamper(const char *dir, int idx, const char *with, int swap)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/log.jsonl", dir);
    unsigned char *b;
    size_t len;
    assert_int_equal(st_fs_read_all(path, 1 << 24, &b, &len, NULL), ST_OK);
    char *lines[64];
    int n = 0;
    for (char *s = strtok((char *)b, "\n"); s; s = strtok(NULL, "\n"))
        lines[n++] = s;
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) {
        if (swap && i == idx) {
            fprintf(f, "%s\n%s\n", lines[i + 1], lines[i]);
            i++;
        } else if (i == idx) {
            if (with)
                fprintf(f, "%s\n", with);
        } else {
            fprintf(f, "%s\n", lines[i]);
        }
    }
    fclose(f);
    free(b);
}

static char *build_log(st_audit_log **log, int n)
{
    char *dir = new_log_dir();
    st_err err;
    assert_st_ok(st_audit_log_open(dir, log, &err), &err);
    for (int i = 0; i < n; i++) {
        char res[32];
        snprintf(res, sizeof(res), "dataset:d%d", i);
        st_audit_event e = ev("data.import", res);
        assert_st_ok(st_audit_log_append(*log, &e, NULL, &err), &err);
    }
    char *note;
    assert_st_ok(st_audit_checkpoint(*log, &note, &err), &err);
    free(note);
    st_audit_log_close(*log);
    return dir;
}

static void expect_problem(const char *dir, const char *kind, uint64_t index)
{
    st_audit_report rep;
    st_err err;
    assert_int_equal(st_audit_verify(dir, NULL, &rep, &err), ST_E_DENIED);
    for (size_t i = 0; i < rep.nproblems && i < 16; i++)
        if (strcmp(rep.problems[i].kind, kind) == 0 &&
            rep.problems[i].index == index)
            return;
    fail_msg("no %s problem at %llu; first: %s", kind,
             (unsigned long long)index, rep.problems[0].msg);
}

static void
test_verify_names_edited_removed_reordered_truncated_entry(void **state)
{
    (void)state;
    st_audit_log *log;
    char *dir = build_log(&log, 8);
    char path[4096];
    snprintf(path, sizeof(path), "%s/log.jsonl", dir);
    unsigned char *orig;
    size_t olen;
    assert_int_equal(st_fs_read_all(path, 1 << 24, &orig, &olen, NULL), ST_OK);

    /* edited: dataset:d3 -> dataset:x3 in entry 3 */
    char *p = strstr((char *)orig, "dataset:d3");
    p[8] = 'x';
    assert_int_equal(st_fs_write_atomic(path, orig, olen, 0600, NULL), ST_OK);
    expect_problem(dir, "modified", 3);
    p[8] = 'd';
    assert_int_equal(st_fs_write_atomic(path, orig, olen, 0600, NULL), ST_OK);
    st_audit_report rep;
    assert_int_equal(st_audit_verify(dir, NULL, &rep, NULL), ST_OK);

    tamper(dir, 5, NULL, 0);
    expect_problem(dir, "removed", 5);
    assert_int_equal(st_fs_write_atomic(path, orig, olen, 0600, NULL), ST_OK);

    tamper(dir, 2, NULL, 1);
    expect_problem(dir, "reordered", 2);
    assert_int_equal(st_fs_write_atomic(path, orig, olen, 0600, NULL), ST_OK);

    /* the last entry edited: only the checkpoint can tell */
    p = strstr((char *)orig, "dataset:d7");
    p[8] = 'x';
    assert_int_equal(st_fs_write_atomic(path, orig, olen, 0600, NULL), ST_OK);
    expect_problem(dir, "checkpoint", 7);
    p[8] = 'd';

    /* truncated: the last two entries gone */
    tamper(dir, 7, NULL, 0);
    tamper(dir, 6, NULL, 0);
    expect_problem(dir, "truncated", 6);
    assert_int_equal(st_fs_write_atomic(path, orig, olen, 0600, NULL), ST_OK);

    /* torn tail: reported by verify, cut (and recorded) by repair */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(write(fd, "{\"action\":\"da", 13) == 13);
    close(fd);
    expect_problem(dir, "torn", 8);
    st_err err;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    size_t cut;
    assert_st_ok(st_audit_log_repair(log, &cut, &err), &err);
    assert_int_equal(cut, 13);
    assert_st_ok(st_audit_verify(dir, NULL, &rep, &err), &err);
    assert_int_equal(rep.entries, 9);
    st_audit_log_close(log);
    free(orig);
    rm_log_dir(dir);
}

static void test_stale_state_cache_is_rebuilt_from_the_log(void **state)
{
    (void)state;
    st_audit_log *log;
    char *dir = build_log(&log, 5);
    char path[4096];
    snprintf(path, sizeof(path), "%s/tree.state", dir);
    /* corrupt the cache: appends must still produce a valid tree */
    int fd = open(path, O_WRONLY);
    assert_true(pwrite(fd, "garbage", 7, 40) == 7);
    close(fd);
    st_err err;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    st_audit_event e = ev("key.rotate", "kek:k");
    assert_st_ok(st_audit_log_append(log, &e, NULL, &err), &err);
    st_audit_log_close(log);
    st_audit_report rep;
    assert_st_ok(st_audit_verify(dir, NULL, &rep, &err), &err);
    assert_int_equal(rep.entries, 6);
    rm_log_dir(dir);
}

static void test_workspace_append_lands_in_the_audit_dir(void **state)
{
    (void)state;
    char *root = st_test_tmpdir("auditws");
    char dir[4096], adir[4200];
    st_err e;
    st_protect p;
    snprintf(dir, sizeof(dir), "%s/ws", root);
    assert_st_ok(st_protect_parse("file:/nonexistent/key", &p, &e), &e);
    st_workspace *ws = NULL;
    assert_st_ok(st_workspace_create_begin(dir, &p, &ws, &e), &e);
    assert_st_ok(st_workspace_create_commit(ws, &e), &e);
    st_audit_event ev1 = ev("init", "workspace");
    assert_st_ok(st_audit_append(ws, &ev1, &e), &e);
    assert_st_ok(st_audit_append(ws, &ev1, &e), &e);
    snprintf(adir, sizeof(adir), "%s/audit", dir);
    st_audit_report rep;
    assert_st_ok(st_audit_verify(adir, NULL, &rep, &e), &e);
    assert_int_equal(rep.entries, 2);
    st_workspace_close(ws);
    st_test_rmtree(root);
    free(root);
}

struct find {
    uint64_t (*acked)[2];
    size_t n, found;
    int iter;
};

static int find_acked(void *ctx, uint64_t index, const char *line, size_t len)
{
    struct find *f = ctx;
    for (size_t a = 0; a < f->n; a++) {
        if (f->acked[a][0] != index)
            continue;
        char want[64];
        snprintf(want, sizeof(want), "\"r:%d:%d:%d\"", f->iter,
                 (int)(f->acked[a][1] >> 32),
                 (int)(f->acked[a][1] & 0xffffffff));
        if (memmem(line, len, want, strlen(want)))
            f->found++;
    }
    return 0;
}

/* Children append as fast as they can, reporting each acknowledged index
 * on a pipe; the parent kills them with SIGKILL at a random moment. After
 * every kill the log verifies (after the explicit repair of a torn tail, if
 * any) and holds every acknowledged entry unchanged. */
static void test_kill9_loses_only_unacknowledged_entries(void **state)
{
    (void)state;
    char *dir = new_log_dir();
    st_audit_log *log;
    st_err err;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    st_audit_log_close(log);
    srand(1234);
    uint64_t total_acked = 0;
    for (int iter = 0; iter < 60; iter++) {
        int nproc = 1 + iter % 2, fds[2];
        pid_t pids[2];
        assert_int_equal(pipe(fds), 0);
        for (int k = 0; k < nproc; k++) {
            pids[k] = fork();
            assert_true(pids[k] >= 0);
            if (pids[k] == 0) {
                close(fds[0]);
                st_audit_log *l;
                if (st_audit_log_open(dir, &l, NULL) != ST_OK)
                    _exit(2);
                for (int i = 0;; i++) {
                    char res[64];
                    snprintf(res, sizeof(res), "r:%d:%d:%d", iter, k, i);
                    st_audit_event e = ev("job.run", res);
                    uint64_t idx;
                    if (st_audit_log_append(l, &e, &idx, NULL) != ST_OK)
                        _exit(3);
                    if (i % 50 == 7 && st_audit_checkpoint(l, NULL, NULL))
                        _exit(4);
                    uint64_t rec[2] = {idx, (uint64_t)k << 32 | (uint64_t)i};
                    if (write(fds[1], rec, sizeof(rec)) != sizeof(rec))
                        _exit(5);
                }
            }
        }
        close(fds[1]);
        uint64_t rec[2];
        uint64_t acked[4096][2];
        size_t nacked = 0;
        /* a count, not a time: the kill lands after a few acknowledged
         * appends (however slow the machine or the sanitizer), at a random
         * moment within the next ones */
        size_t want = 2 + (size_t)(rand() % 4);
        while (nacked < want && read(fds[0], rec, sizeof(rec)) == sizeof(rec)) {
            acked[nacked][0] = rec[0];
            acked[nacked][1] = rec[1];
            nacked++;
        }
        usleep((useconds_t)(rand() % 3000));
        for (int k = 0; k < nproc; k++)
            kill(pids[k], SIGKILL);
        for (int k = 0; k < nproc; k++) {
            int st;
            waitpid(pids[k], &st, 0);
            assert_true(WIFSIGNALED(st));
        }
        while (read(fds[0], rec, sizeof(rec)) == sizeof(rec))
            if (nacked < 4096) {
                acked[nacked][0] = rec[0];
                acked[nacked][1] = rec[1];
                nacked++;
            }
        close(fds[0]);
        assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
        size_t cut;
        assert_st_ok(st_audit_log_repair(log, &cut, &err), &err);
        st_audit_log_close(log);
        st_audit_report rep;
        assert_st_ok(st_audit_verify(dir, NULL, &rep, &err), &err);
        /* every acknowledged entry is at its index with its content */
        uint8_t(*leaves)[32];
        uint64_t n;
        assert_st_ok(st_audit_leaf_hashes(dir, &leaves, &n, &err), &err);
        free(leaves);
        for (size_t a = 0; a < nacked; a++) {
            assert_true(acked[a][0] < n);
            total_acked++;
        }
        struct find f = {acked, nacked, 0, iter};
        assert_st_ok(st_audit_read(dir, find_acked, &f, &err), &err);
        assert_int_equal(f.found, nacked);
    }
    print_message("%llu acknowledged appends across 60 kills\n",
                  (unsigned long long)total_acked);
    assert_true(total_acked > 100);
    rm_log_dir(dir);
}

/* ---- log.wal: replay after a kernel crash ---- */

static void file_path(char *out, size_t cap, const char *dir, const char *f)
{
    snprintf(out, cap, "%s/%s", dir, f);
}

/* not inlined: GCC 12 at -O3 takes the returned buffer for the address of
 * the local `b` (a false -Wdangling-pointer) */
__attribute__((noinline)) static unsigned char *
read_file(const char *dir, const char *f, size_t *len)
{
    char path[4200];
    unsigned char *b;
    file_path(path, sizeof(path), dir, f);
    assert_int_equal(st_fs_read_all(path, 1 << 26, &b, len, NULL), ST_OK);
    return b;
}

/* What a kernel crash leaves when the page cache of log.jsonl was lost
 * from `keep` on: the size may have reached the disk, the data not, so
 * the bytes after `keep` read as zeros up to `zeros_to` (<= keep: the file
 * simply ends at keep). log.wal's header gets another boot id. */
static void simulate_kernel_crash(const char *dir, uint64_t keep,
                                  uint64_t zeros_to)
{
    char path[4200];
    file_path(path, sizeof(path), dir, ST_AUDIT_WAL_FILE);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    st_audit_wal_header h;
    assert_true(st_audit_wal_header_read(fd, &h));
    memset(h.boot, 0xee, sizeof(h.boot));
    st_audit_wal_header_seal(&h);
    assert_true(pwrite(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
    close(fd);
    file_path(path, sizeof(path), dir, ST_AUDIT_LOG_FILE);
    assert_int_equal(truncate(path, (off_t)keep), 0);
    if (zeros_to > keep)
        assert_int_equal(truncate(path, (off_t)zeros_to), 0);
}

static uint64_t wal_base(const char *dir)
{
    char path[4200];
    file_path(path, sizeof(path), dir, ST_AUDIT_WAL_FILE);
    int fd = open(path, O_RDONLY);
    st_audit_wal_header h;
    assert_true(st_audit_wal_header_read(fd, &h));
    close(fd);
    return h.base;
}

static void append_n(const char *dir, int from, int n)
{
    st_audit_log *log;
    st_err err;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    for (int i = from; i < from + n; i++) {
        char res[32];
        snprintf(res, sizeof(res), "dataset:d%d", i);
        st_audit_event e = ev("data.import", res);
        assert_st_ok(st_audit_log_append(log, &e, NULL, &err), &err);
    }
    st_audit_log_close(log);
}

/* Opens the log (a writer's open replays log.wal when it must) and
 * checks that it then verifies with `entries` entries. */
static void reopen_verifies(const char *dir, uint64_t entries)
{
    st_audit_log *log;
    st_err err;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    st_audit_log_close(log);
    st_audit_report rep;
    assert_st_ok(st_audit_verify(dir, NULL, &rep, &err), &err);
    assert_int_equal(rep.entries, entries);
}

/* After reopening: the log verifies, starts with `orig` byte for byte and
 * holds `entries` entries, the last one an audit.recover record. */
static void expect_recovered(const char *dir, const unsigned char *orig,
                             size_t olen, uint64_t entries)
{
    reopen_verifies(dir, entries);
    size_t len;
    unsigned char *now = read_file(dir, ST_AUDIT_LOG_FILE, &len);
    assert_true(len > olen);
    assert_memory_equal(now, orig, olen);
    assert_non_null(memmem(now + olen, len - olen, "\"audit.recover\"", 15));
    assert_non_null(memmem(now + olen, len - olen, "\"security\"", 10));
    free(now);
}

static void test_kernel_crash_replays_acknowledged_entries_from_wal(void **s)
{
    (void)s;
    char *dir = new_log_dir();
    append_n(dir, 0, 40);
    size_t olen;
    unsigned char *orig = read_file(dir, ST_AUDIT_LOG_FILE, &olen);
    uint64_t base = wal_base(dir);
    assert_true(base < olen);

    /* the page cache from the cycle's start on was lost: the file ends
     * there, or its last blocks read as zeros (zero-filled tail) */
    simulate_kernel_crash(dir, base, 0);
    /* read-only verify before any writer opened the log says why */
    expect_problem(dir, "unreplayed", 0);
    expect_recovered(dir, orig, olen, 41);
    free(orig);
    /* again, with a torn tail of zeros past the end of the file as it was */
    size_t len;
    free(read_file(dir, ST_AUDIT_LOG_FILE, &len));
    append_n(dir, 100, 5);
    simulate_kernel_crash(dir, wal_base(dir) + 7, len + 4096 + 100);
    /* 41 + 5 appended, + 1 record of the second recovery */
    reopen_verifies(dir, 47);
    unsigned char *now = read_file(dir, ST_AUDIT_LOG_FILE, &len);
    assert_null(memchr(now, 0, len));
    assert_non_null(memmem(now, len, "\"dataset:d104\"", 14));
    free(now);
    rm_log_dir(dir);
}

static void test_zero_tail_beyond_the_wal_is_cut_and_recorded(void **s)
{
    (void)s;
    char *dir = new_log_dir();
    append_n(dir, 0, 10);
    size_t olen;
    unsigned char *orig = read_file(dir, ST_AUDIT_LOG_FILE, &olen);
    /* nothing lost, but blocks past the last record read as zeros (an
     * unacknowledged write whose size reached the disk, its data not) */
    simulate_kernel_crash(dir, olen, olen + 5000);
    expect_recovered(dir, orig, olen, 11);
    size_t len;
    unsigned char *now = read_file(dir, ST_AUDIT_LOG_FILE, &len);
    assert_non_null(memmem(now + olen, len - olen, "\"cut_bytes\":5000", 16));
    assert_null(memchr(now, 0, len));
    free(now);
    free(orig);
    rm_log_dir(dir);
}

/* Offset in log.wal of the last record of the current cycle. */
static uint64_t last_record(const char *dir)
{
    size_t len;
    unsigned char *w = read_file(dir, ST_AUDIT_WAL_FILE, &len);
    st_audit_wal_header h;
    memcpy(&h, w, sizeof(h));
    uint64_t pos = ST_AUDIT_WAL_DATA, last = 0, off = h.base;
    for (;;) {
        uint64_t f[3];
        if (pos + 64 > len || memcmp(w + pos, "STWALREC", 8) != 0)
            break;
        memcpy(f, w + pos + 8, sizeof(f));
        if (f[0] != h.gen || f[1] != off)
            break;
        last = pos;
        off += f[2];
        pos += (64 + f[2] + 511) / 512 * 512; /* records are sector-aligned */
    }
    free(w);
    assert_true(last > 0);
    return last;
}

static void test_torn_wal_record_is_never_replayed(void **s)
{
    (void)s;
    char *dir = new_log_dir();
    append_n(dir, 0, 12);
    size_t olen;
    unsigned char *orig = read_file(dir, ST_AUDIT_LOG_FILE, &olen);
    /* the last batch's record is torn (never acknowledged): one byte of it
     * did not reach the disk */
    char path[4200];
    file_path(path, sizeof(path), dir, ST_AUDIT_WAL_FILE);
    int fd = open(path, O_RDWR);
    uint64_t pos = last_record(dir);
    unsigned char c;
    assert_true(pread(fd, &c, 1, (off_t)pos + 40) == 1);
    c ^= 0x20;
    assert_true(pwrite(fd, &c, 1, (off_t)pos + 40) == 1);
    close(fd);
    simulate_kernel_crash(dir, wal_base(dir), 0);
    /* 11 entries come back; the 12th was only in the torn record */
    const unsigned char *end = orig + olen - 1;
    while (end > orig && end[-1] != '\n')
        end--;
    expect_recovered(dir, orig, (size_t)(end - orig), 12);
    free(orig);
    rm_log_dir(dir);
}

static void test_cut_torn_line_is_not_brought_back_by_a_replay(void **s)
{
    (void)s;
    char *dir = new_log_dir();
    append_n(dir, 0, 6);
    size_t olen;
    unsigned char *orig = read_file(dir, ST_AUDIT_LOG_FILE, &olen);
    /* a write killed half-way (same kernel): the last line is torn while
     * log.wal holds its whole record */
    char path[4200];
    file_path(path, sizeof(path), dir, ST_AUDIT_LOG_FILE);
    assert_int_equal(truncate(path, (off_t)olen - 30), 0);
    st_audit_log *log;
    st_err err;
    size_t cut;
    assert_st_ok(st_audit_log_open(dir, &log, &err), &err);
    assert_st_ok(st_audit_log_repair(log, &cut, &err), &err);
    assert_true(cut > 0);
    st_audit_log_close(log);
    size_t rlen;
    unsigned char *repaired = read_file(dir, ST_AUDIT_LOG_FILE, &rlen);
    /* then the kernel crashes: the replay must keep the repair */
    simulate_kernel_crash(dir, rlen, 0);
    reopen_verifies(dir, 6);
    size_t len;
    unsigned char *now = read_file(dir, ST_AUDIT_LOG_FILE, &len);
    assert_int_equal(len, rlen);
    assert_memory_equal(now, repaired, rlen);
    free(now);
    free(repaired);
    free(orig);
    rm_log_dir(dir);
}

static void test_two_processes_share_one_wal_cycle(void **s)
{
    (void)s;
    char *dir = new_log_dir();
    append_n(dir, 0, 1);
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            st_audit_log *log;
            if (st_audit_log_open(dir, &log, NULL) != ST_OK)
                _exit(2);
            for (int i = 0; i < 150; i++) {
                st_audit_event e = ev("job.run", k ? "job:b" : "job:a");
                if (st_audit_log_append(log, &e, NULL, NULL) != ST_OK)
                    _exit(3);
            }
            st_audit_log_close(log);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int st;
        waitpid(pids[k], &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    size_t olen;
    unsigned char *orig = read_file(dir, ST_AUDIT_LOG_FILE, &olen);
    /* whatever each process appended since the cycle began comes back */
    simulate_kernel_crash(dir, wal_base(dir), 0);
    expect_recovered(dir, orig, olen, 302);
    free(orig);
    rm_log_dir(dir);
}

static void test_same_kernel_reopen_does_not_hide_an_edit(void **s)
{
    (void)s;
    st_audit_log *log;
    char *dir = build_log(&log, 6);
    size_t len;
    unsigned char *b = read_file(dir, ST_AUDIT_LOG_FILE, &len);
    char *p = strstr((char *)b, "dataset:d2");
    p[8] = 'x';
    char path[4200];
    file_path(path, sizeof(path), dir, ST_AUDIT_LOG_FILE);
    int fd = open(path, O_WRONLY);
    assert_true(pwrite(fd, b, len, 0) == (ssize_t)len);
    close(fd);
    free(b);
    /* log.wal still holds the original, but no kernel crash happened: the
     * edit stays for verify to find */
    append_n(dir, 50, 1);
    expect_problem(dir, "modified", 2);
    rm_log_dir(dir);
}

/* ---- proofs against the auditor's own checkpoint ---- */

/* A signed checkpoint note of `size` leaves of `leaves`, with `origin`. */
static char *signed_checkpoint(const char *origin, const uint8_t seed[32],
                               const char *keyname, const uint8_t (*leaves)[32],
                               uint64_t size)
{
    uint8_t root[32];
    st_audit_tree_root(leaves, size, root);
    char *b64 = st_base64_encode(root, 32, 1);
    char text[512];
    snprintf(text, sizeof(text), "%s\n%llu\n%s\n", origin,
             (unsigned long long)size, b64);
    free(b64);
    char *note = NULL;
    assert_int_equal(st_audit_note_sign(keyname, seed, text, &note, NULL),
                     ST_OK);
    return note;
}

static json_t *b64_hash(const uint8_t h[32])
{
    char *b = st_base64_encode(h, 32, 1);
    json_t *s = json_string(b);
    free(b);
    return s;
}

/* The document `audit consistency --from from` prints for `leaves`. */
static char *consistency_doc(const uint8_t (*leaves)[32], uint64_t from,
                             uint64_t to, const char *note)
{
    uint8_t r1[32], r2[32], (*p)[32] = NULL;
    size_t n = 0;
    st_audit_tree_root(leaves, from, r1);
    st_audit_tree_root(leaves, to, r2);
    assert_int_equal(st_audit_consistency_proof(leaves, to, from, &p, &n, NULL),
                     ST_OK);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, b64_hash(p[i]));
    free(p);
    json_t *d = json_pack("{s:s,s:I,s:I,s:o,s:o,s:o,s:s}", "type",
                          "consistency", "size1", (json_int_t)from, "size2",
                          (json_int_t)to, "root1", b64_hash(r1), "root2",
                          b64_hash(r2), "proof", arr, "checkpoint", note);
    char *t = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    return t;
}

/* The operator keeps the log's key and rewrites history: entry 1 of the
 * first 5 changes, the tree grows to 8 and is checkpointed again. The
 * proof from 5 to 8 is internally sound and signed; only the auditor's
 * saved checkpoint of size 5 shows the fork. */
static void test_consistency_proof_of_a_forked_log_is_refused(void **state)
{
    (void)state;
    const char *name = "sealtrain/audit/test";
    uint8_t seed[32], pub[32];
    assert_int_equal(st_random(seed, 32, NULL), ST_OK);
    assert_int_equal(st_ed25519_public(seed, pub, NULL), ST_OK);
    char *vkey = st_audit_note_vkey(name, pub);
    uint8_t honest[8][32], forked[8][32];
    for (int i = 0; i < 8; i++) {
        char e[32];
        snprintf(e, sizeof(e), "entry %d", i);
        st_audit_leaf_hash(e, strlen(e), honest[i]);
        snprintf(e, sizeof(e), i == 1 ? "rewritten %d" : "entry %d", i);
        st_audit_leaf_hash(e, strlen(e), forked[i]);
    }
    const uint8_t(*h)[32] = (const uint8_t(*)[32])honest;
    const uint8_t(*f)[32] = (const uint8_t(*)[32])forked;
    char *saved = signed_checkpoint(name, seed, name, h, 5);
    char *cp8 = signed_checkpoint(name, seed, name, f, 8);
    char *doc = consistency_doc(f, 5, 8, cp8);
    char what[1024];
    st_err err;
    /* alone, the proof checks out, and says the old root was not checked */
    assert_int_equal(st_audit_proof_check(doc, strlen(doc), vkey, NULL, what,
                                          sizeof(what), &err),
                     ST_OK);
    assert_non_null(strstr(what, "not checked"));
    /* against the auditor's checkpoint it is refused, both roots named */
    assert_int_equal(st_audit_proof_check(doc, strlen(doc), vkey, saved, what,
                                          sizeof(what), &err),
                     ST_E_DENIED);
    assert_non_null(strstr(err.msg, "fork"));
    free(doc);
    /* the honest log's proof passes against it, printing both roots */
    char *hcp8 = signed_checkpoint(name, seed, name, h, 8);
    doc = consistency_doc(h, 5, 8, hcp8);
    assert_int_equal(st_audit_proof_check(doc, strlen(doc), vkey, saved, what,
                                          sizeof(what), &err),
                     ST_OK);
    char *b64 = NULL;
    uint8_t r5[32];
    st_audit_tree_root(h, 5, r5);
    b64 = st_base64_encode(r5, 32, 1);
    assert_non_null(strstr(what, b64));
    free(b64);
    free(doc);
    free(hcp8);
    free(cp8);
    free(saved);
    free(vkey);
}

/* A checkpoint signed by the right key but for another origin (another
 * log under the same key) does not vouch for this log. */
static void test_proof_checkpoint_of_another_origin_is_refused(void **state)
{
    (void)state;
    const char *name = "sealtrain/audit/test";
    uint8_t seed[32], pub[32];
    assert_int_equal(st_random(seed, 32, NULL), ST_OK);
    assert_int_equal(st_ed25519_public(seed, pub, NULL), ST_OK);
    char *vkey = st_audit_note_vkey(name, pub);
    uint8_t leaves[8][32];
    for (int i = 0; i < 8; i++)
        st_audit_leaf_hash(&i, sizeof(i), leaves[i]);
    const uint8_t(*l)[32] = (const uint8_t(*)[32])leaves;
    char *cp = signed_checkpoint("example.com/other-log", seed, name, l, 8);
    char *doc = consistency_doc(l, 5, 8, cp);
    char what[1024];
    st_err err;
    assert_int_equal(st_audit_proof_check(doc, strlen(doc), vkey, NULL, what,
                                          sizeof(what), &err),
                     ST_E_DENIED);
    assert_non_null(strstr(err.msg, "origin"));
    free(doc);
    free(cp);
    free(vkey);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_root_matches_ct_vectors),
        cmocka_unit_test(test_consistency_proof_matches_ct_vector),
        cmocka_unit_test(test_consistency_proof_of_a_forked_log_is_refused),
        cmocka_unit_test(test_proof_checkpoint_of_another_origin_is_refused),
        cmocka_unit_test(test_every_proof_verifies_and_every_altered_one_fails),
        cmocka_unit_test(test_signed_note_matches_go_sumdb_note_vector),
        cmocka_unit_test(test_checkpoint_parser_rejects_malformed_bodies),
        cmocka_unit_test(
            test_entry_parser_accepts_entries_and_rejects_bad_ones),
        cmocka_unit_test(test_appends_verify_and_checkpoint_signatures_check),
        cmocka_unit_test(test_batch_appends_in_order_or_not_at_all),
        cmocka_unit_test(test_concurrent_appenders_all_land_in_one_valid_tree),
        cmocka_unit_test(
            test_verify_names_edited_removed_reordered_truncated_entry),
        cmocka_unit_test(test_stale_state_cache_is_rebuilt_from_the_log),
        cmocka_unit_test(test_kill9_loses_only_unacknowledged_entries),
        cmocka_unit_test(test_workspace_append_lands_in_the_audit_dir),
        cmocka_unit_test(
            test_kernel_crash_replays_acknowledged_entries_from_wal),
        cmocka_unit_test(test_zero_tail_beyond_the_wal_is_cut_and_recorded),
        cmocka_unit_test(test_torn_wal_record_is_never_replayed),
        cmocka_unit_test(test_cut_torn_line_is_not_brought_back_by_a_replay),
        cmocka_unit_test(test_two_processes_share_one_wal_cycle),
        cmocka_unit_test(test_same_kernel_reopen_does_not_hide_an_edit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
