/*
 * test_age.c: age v1 against the C2SP CCTV suite (every vector's expected
 * outcome and the SHA-256 of all plaintext released, through the
 * sequential, the parallel and the secure-memory decryptors), round trips
 * across chunk boundaries, tampering (each kind of damage gives its own
 * error), header rewrap that keeps the payload bytes, and the
 * sealtrain-kek stanza.
 */
#include "crypto/age_keys.h"
#include "crypto/age_stream.h"
#include "crypto/primitives.h"
#include "st_test.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <zlib.h>

#include <sealtrain/sealtrain.h>

#define CCTV ST_VECTORS "/age"

/* --- helpers ------------------------------------------------------------ */

static char *tmpdir;

static int setup(void **state)
{
    (void)state;
    tmpdir = st_test_tmpdir("age");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    st_test_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    st_err e;
    assert_st_ok(st_fs_write_atomic(path, data, len, 0600, &e), &e);
}

__attribute__((noinline)) static uint8_t *read_file(const char *path,
                                                    size_t *len)
{
    unsigned char *d;
    st_err e;
    assert_st_ok(st_fs_read_all(path, 1u << 30, &d, len, &e), &e);
    return d;
}

/* SHA-256 hex of everything written to a memfd. */
static void memfd_sha256(int fd, char hex[65])
{
    off_t n = lseek(fd, 0, SEEK_END);
    uint8_t *buf = malloc(n ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
    uint8_t d[32];
    st_sha256(buf, (size_t)n, d);
    st_hex_encode(d, 32, hex);
    free(buf);
}

static uint8_t *inflate_all(const uint8_t *in, size_t len, size_t *outlen)
{
    z_stream z = {0};
    assert_int_equal(inflateInit(&z), Z_OK);
    size_t cap = 1 << 20, n = 0;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    int rc;
    do {
        if (cap - n < 65536) {
            cap *= 2;
            out = realloc(out, cap);
        }
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
    } while (rc != Z_STREAM_END);
    inflateEnd(&z);
    *outlen = n;
    return out;
}

/* --- CCTV suite ----------------------------------------------------------- */

typedef struct vector {
    char expect[64];
    char payload[65];
    int armored, compressed, hybrid;
    st_age_identity ids[8];
    size_t nids;
    uint8_t *file;
    size_t len;
} vector;

static st_age_fail expect_class(const char *s)
{
    if (!strcmp(s, "success"))
        return ST_AGE_FAIL_NONE;
    if (!strcmp(s, "no match"))
        return ST_AGE_FAIL_NO_MATCH;
    if (!strcmp(s, "HMAC failure"))
        return ST_AGE_FAIL_HMAC;
    if (!strcmp(s, "header failure"))
        return ST_AGE_FAIL_HEADER;
    if (!strcmp(s, "payload failure"))
        return ST_AGE_FAIL_PAYLOAD;
    if (!strcmp(s, "armor failure"))
        return ST_AGE_FAIL_ARMOR;
    fail_msg("unknown expect \"%s\"", s);
    return ST_AGE_FAIL_IO;
}

static void load_vector(const char *path, vector *v)
{
    memset(v, 0, sizeof(*v));
    size_t len;
    uint8_t *d = read_file(path, &len);
    size_t off = 0;
    for (;;) {
        uint8_t *nl = memchr(d + off, '\n', len - off);
        assert_non_null(nl);
        size_t n = (size_t)(nl - (d + off));
        char line[256];
        assert_true(n < sizeof(line));
        memcpy(line, d + off, n);
        line[n] = '\0';
        off += n + 1;
        if (n == 0)
            break;
        st_err e;
        if (!strncmp(line, "expect: ", 8))
            snprintf(v->expect, sizeof(v->expect), "%s", line + 8);
        else if (!strncmp(line, "payload: ", 9))
            snprintf(v->payload, sizeof(v->payload), "%s", line + 9);
        else if (!strcmp(line, "armored: yes"))
            v->armored = 1;
        else if (!strcmp(line, "compressed: zlib"))
            v->compressed = 1;
        else if (!strncmp(line, "identity: AGE-SECRET-KEY-PQ-", 28))
            v->hybrid = 1;
        else if (!strncmp(line, "identity: ", 10)) {
            assert_st_ok(
                st_age_x25519_identity(line + 10, &v->ids[v->nids++], &e), &e);
        } else if (!strncmp(line, "passphrase: ", 12)) {
            assert_st_ok(st_age_scrypt_identity(line + 12, strlen(line + 12), 0,
                                                &v->ids[v->nids++], &e),
                         &e);
        }
    }
    if (v->compressed) {
        v->file = inflate_all(d + off, len - off, &v->len);
    } else {
        v->len = len - off;
        v->file = malloc(v->len + 1);
        memcpy(v->file, d + off, v->len);
    }
    free(d);
}

static void free_vector(vector *v)
{
    for (size_t i = 0; i < v->nids; i++)
        st_age_identity_clear(&v->ids[i]);
    free(v->file);
}

/* Runs one decryptor; returns 0 when outcome and released hash match. */
static int check_one(const char *name, const char *how, const vector *v,
                     const char *file, unsigned threads)
{
    st_age_decrypt_opts o = {.identities = v->ids,
                             .nidentities = v->nids,
                             .armor = v->armored ? ST_AGE_ARMOR_YES
                                                 : ST_AGE_ARMOR_NO,
                             .threads = threads};
    st_age_fail want = expect_class(v->expect);
    st_age_result res = {0};
    st_err e;
    st_err_clear(&e);
    char hex[65] = "";
    st_code rc;
    if (!strncmp(how, "secmem", 6)) {
        void *plain = NULL;
        size_t plen = 0;
        /* secmem-sha256: the workers' in-order digest, which must be the
         * digest of what they return */
        uint8_t wd[32];
        rc = strcmp(how, "secmem")
                 ? st_age_decrypt_secmem_sha256(-1, file, &o, &plain, &plen, wd,
                                                &res, &e)
                 : st_age_decrypt_secmem(file, &o, &plain, &plen, &res, &e);
        if (rc == ST_OK) {
            uint8_t d[32];
            st_sha256(plain, plen, d);
            st_hex_encode(d, 32, hex);
            if (strcmp(how, "secmem") && memcmp(d, wd, 32) != 0) {
                print_message("%s [%s]: the workers' digest differs\n", name,
                              how);
                st_secmem_free(plain);
                return 1;
            }
        }
        st_secmem_free(plain);
        /* this path releases nothing unless all of it authenticated */
        if (want != ST_AGE_FAIL_NONE && res.released != 0) {
            print_message("%s [%s]: released bytes on failure\n", name, how);
            return 1;
        }
    } else if (!strcmp(how, "sequential")) {
        /* the streaming reader, in odd-sized reads */
        int in = open(file, O_RDONLY);
        int out = memfd_create("plain", 0);
        assert_true(in >= 0 && out >= 0);
        st_age_reader *r = NULL;
        rc = st_age_reader_open(in, &o, &r, &res, &e);
        uint8_t buf[10007];
        size_t got = 0;
        while (rc == ST_OK &&
               (rc = st_age_reader_read(r, buf, sizeof(buf), &got, &res, &e)) ==
                   ST_OK &&
               got)
            assert_int_equal(write(out, buf, got), (ssize_t)got);
        st_age_reader_free(r);
        memfd_sha256(out, hex);
        close(in);
        close(out);
    } else {
        int in = open(file, O_RDONLY);
        int out = memfd_create("plain", 0);
        assert_true(in >= 0 && out >= 0);
        rc = st_age_decrypt_fd(in, out, &o, &res, &e);
        memfd_sha256(out, hex);
        close(in);
        close(out);
    }
    if ((rc == ST_OK) != (want == ST_AGE_FAIL_NONE) || res.fail != want) {
        print_message("%s [%s]: expected %s, got %s (%s)\n", name, how,
                      v->expect, st_age_fail_name(res.fail), rc ? e.msg : "ok");
        return 1;
    }
    int check_hash = v->payload[0] &&
                     (strncmp(how, "secmem", 6) || want == ST_AGE_FAIL_NONE);
    if (check_hash && strcmp(hex, v->payload) != 0) {
        print_message("%s [%s]: released plaintext hash %s, expected %s "
                      "(%s)\n",
                      name, how, hex, v->payload, rc ? e.msg : "ok");
        return 1;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_cctv_suite_outcomes_and_released_plaintext(void **state)
{
    (void)state;
    DIR *dir = opendir(CCTV);
    assert_non_null(dir);
    char *names[512];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && nn < 512)
        if (de->d_name[0] != '.' && strcmp(de->d_name, "README.md") != 0)
            names[nn++] = strdup(de->d_name);
    closedir(dir);
    qsort(names, nn, sizeof(char *), cmp_names);
    int ran = 0, skipped = 0, failures = 0;
    for (size_t i = 0; i < nn; i++) {
        char path[4096], file[4096];
        snprintf(path, sizeof(path), "%s/%s", CCTV, names[i]);
        vector v;
        load_vector(path, &v);
        if (v.hybrid) {
            skipped++;
            free_vector(&v);
            free(names[i]);
            continue;
        }
        path_in_tmp(file, sizeof(file), "vector.age");
        write_file(file, v.file, v.len);
        failures += check_one(names[i], "sequential", &v, file, 1);
        failures += check_one(names[i], "mapped-1", &v, file, 1);
        failures += check_one(names[i], "mapped-2", &v, file, 2);
        failures += check_one(names[i], "secmem", &v, file, 2);
        failures += check_one(names[i], "secmem-sha256", &v, file, 2);
        ran++;
        free_vector(&v);
        free(names[i]);
    }
    print_message("CCTV age: %d vectors ran (x5 decryptors), %d skipped "
                  "(hybrid ML-KEM recipients, not implemented), %d "
                  "mismatches\n",
                  ran, skipped, failures);
    assert_true(ran >= 120);
    assert_int_equal(failures, 0);
}

/* --- round trips and tampering ------------------------------------------ */

typedef struct keys {
    st_secret *secret;
    char recipient[ST_AGE_RECIPIENT_STRLEN];
    st_age_identity id;
    st_age_recipient rcpt;
} keys;

static void keys_new(keys *k)
{
    st_err e;
    assert_st_ok(st_age_keygen(&k->secret, k->recipient, &e), &e);
    assert_st_ok(st_age_x25519_identity(
                     (const char *)st_secret_bytes(k->secret), &k->id, &e),
                 &e);
    assert_st_ok(st_age_x25519_recipient(k->recipient, &k->rcpt, &e), &e);
}

static void keys_free(keys *k)
{
    st_secret_free(k->secret);
    st_age_identity_clear(&k->id);
    st_age_recipient_clear(&k->rcpt);
}

static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 2654435761u >> 13);
    return p;
}

static void test_round_trip_across_chunk_boundaries(void **state)
{
    (void)state;
    keys k;
    keys_new(&k);
    /* up to 49 chunks: three batches of 16 and a short one for the
     * parallel decryption into secure memory */
    const size_t sizes[] = {
        0,          1,          65535,         65536,
        65537,      3 * 65536,  8 * 65536,     8 * 65536 + 5,
        16 * 65536, 20 * 65536, 49 * 65536 - 7};
    char in[4096], enc[4096], out[4096];
    path_in_tmp(in, sizeof(in), "plain");
    path_in_tmp(enc, sizeof(enc), "plain.age");
    path_in_tmp(out, sizeof(out), "plain.out");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (int armor = 0; armor < 2; armor++) {
            uint8_t *p = pattern(sizes[s]);
            write_file(in, p, sizes[s]);
            st_err e;
            assert_st_ok(st_age_encrypt_file(
                             in, enc, &k.rcpt, 1,
                             armor ? ST_AGE_ARMOR_YES : ST_AGE_ARMOR_NO, &e),
                         &e);
            size_t elen;
            uint8_t *ed = read_file(enc, &elen);
            if (!armor) {
                size_t chunks = sizes[s] ? (sizes[s] + 65535) / 65536 : 1;
                st_age_header h;
                assert_st_ok(st_age_header_parse(ed, elen, &h, NULL, &e), &e);
                assert_int_equal(elen, h.len + 16 + sizes[s] + 16 * chunks);
                st_age_header_clear(&h);
            }
            free(ed);
            for (unsigned t = 1; t <= 7; t += t == 2 ? 5 : 1) {
                st_age_decrypt_opts o = {
                    .identities = &k.id, .nidentities = 1, .threads = t};
                st_age_result res;
                assert_st_ok(st_age_decrypt_file(enc, out, &o, &res, &e), &e);
                size_t olen;
                uint8_t *od = read_file(out, &olen);
                assert_int_equal(olen, sizes[s]);
                assert_memory_equal(od, p, sizes[s]);
                assert_int_equal(res.released, sizes[s]);
                free(od);
                void *plain;
                size_t plen;
                assert_st_ok(
                    st_age_decrypt_secmem(enc, &o, &plain, &plen, &res, &e),
                    &e);
                assert_int_equal(plen, sizes[s]);
                if (plen)
                    assert_memory_equal(plain, p, plen);
                st_secmem_free(plain);
                /* the digest hashed in order by the workers is the
                 * digest of the plaintext */
                uint8_t want[32], got[32];
                st_sha256(p, sizes[s], want);
                assert_st_ok(st_age_decrypt_secmem_sha256(-1, enc, &o, &plain,
                                                          &plen, got, &res, &e),
                             &e);
                assert_int_equal(plen, sizes[s]);
                assert_memory_equal(got, want, 32);
                st_secmem_free(plain);
            }
            free(p);
        }
    }
    keys_free(&k);
}

static void test_writer_streams_small_writes(void **state)
{
    (void)state;
    keys k;
    keys_new(&k);
    char enc[4096];
    path_in_tmp(enc, sizeof(enc), "stream.age");
    st_err e;
    st_age_writer *w;
    assert_st_ok(
        st_age_writer_new_file(enc, 0600, &k.rcpt, 1, ST_AGE_ARMOR_NO, &w, &e),
        &e);
    uint8_t *p = pattern(200000);
    for (size_t off = 0; off < 200000; off += 777) {
        size_t n = 200000 - off < 777 ? 200000 - off : 777;
        assert_st_ok(st_age_writer_write(w, p + off, n, &e), &e);
    }
    assert_false(st_fs_exists(enc)); /* appears only when finished */
    assert_st_ok(st_age_writer_finish(w, &e), &e);
    int fd = open(enc, O_RDONLY);
    st_age_decrypt_opts o = {.identities = &k.id, .nidentities = 1};
    st_age_reader *r;
    assert_st_ok(st_age_reader_open(fd, &o, &r, NULL, &e), &e);
    uint8_t *got = malloc(200001);
    size_t total = 0, n;
    do {
        assert_st_ok(st_age_reader_read(r, got + total, 1000, &n, NULL, &e),
                     &e);
        total += n;
    } while (n);
    assert_int_equal(total, 200000);
    assert_memory_equal(got, p, 200000);
    st_age_reader_free(r);
    close(fd);
    /* into secure memory from a pipe (no size known up front) */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        size_t elen;
        uint8_t *ed = read_file(enc, &elen);
        _exit(write(pfd[1], ed, elen) == (ssize_t)elen ? 0 : 1);
    }
    close(pfd[1]);
    void *plain;
    size_t plen;
    assert_st_ok(
        st_age_decrypt_secmem_fd(pfd[0], "pipe", &o, &plain, &plen, NULL, &e),
        &e);
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    assert_int_equal(plen, 200000);
    assert_memory_equal(plain, p, 200000);
    st_secmem_free(plain);
    free(got);
    free(p);
    keys_free(&k);
}

/* Decrypts a damaged file: must fail, with no output file, and return
 * the message. */
static void expect_damage(const char *enc, const keys *k, st_age_fail want,
                          const char *needle, char *msg, size_t cap)
{
    char out[4096];
    path_in_tmp(out, sizeof(out), "damaged.out");
    for (unsigned t = 1; t <= 2; t++) {
        st_age_decrypt_opts o = {
            .identities = &k->id, .nidentities = 1, .threads = t};
        st_age_result res;
        st_err e;
        st_code rc = st_age_decrypt_file(enc, out, &o, &res, &e);
        assert_int_not_equal(rc, ST_OK);
        assert_false(st_fs_exists(out));
        if (res.fail != want || !strstr(e.msg, needle))
            fail_msg("expected %s with \"%s\", got %s: %s",
                     st_age_fail_name(want), needle, st_age_fail_name(res.fail),
                     e.msg);
        snprintf(msg, cap, "%s", e.msg);
    }
}

static void test_tampering_each_kind_fails_with_its_own_error(void **state)
{
    (void)state;
    keys k;
    keys_new(&k);
    char in[4096], enc[4096], bad[4096];
    path_in_tmp(in, sizeof(in), "t.plain");
    path_in_tmp(enc, sizeof(enc), "t.age");
    path_in_tmp(bad, sizeof(bad), "t.bad.age");
    const size_t size = 5 * 65536 + 1000; /* 6 chunks */
    uint8_t *p = pattern(size);
    write_file(in, p, size);
    st_err e;
    assert_st_ok(st_age_encrypt_file(in, enc, &k.rcpt, 1, ST_AGE_ARMOR_NO, &e),
                 &e);
    size_t len;
    uint8_t *d = read_file(enc, &len);
    st_age_header h;
    assert_st_ok(st_age_header_parse(d, len, &h, NULL, &e), &e);
    size_t hl = h.len, c0 = hl + 16;
    const size_t C = 65536 + 16;
    st_age_header_clear(&h);
    uint8_t *m = malloc(len);
    char msgs[7][ST_ERR_MSG_MAX];

    /* header: a byte of the version line -> header failure */
    memcpy(m, d, len);
    m[3] ^= 1;
    write_file(bad, m, len);
    expect_damage(bad, &k, ST_AGE_FAIL_HEADER, "age header", msgs[0],
                  sizeof(msgs[0]));
    /* stanza body (wrapped file key) -> no identity opens it */
    memcpy(m, d, len);
    size_t body = (size_t)(strchr((char *)d + 22, '\n') - (char *)d) + 5;
    m[body] = m[body] == 'A' ? 'B' : 'A';
    write_file(bad, m, len);
    expect_damage(bad, &k, ST_AGE_FAIL_NO_MATCH, "no matching recipient",
                  msgs[1], sizeof(msgs[1]));
    /* the MAC itself -> HMAC failure */
    memcpy(m, d, len);
    m[hl - 5] = m[hl - 5] == 'A' ? 'B' : 'A';
    write_file(bad, m, len);
    expect_damage(bad, &k, ST_AGE_FAIL_HMAC, "MAC", msgs[2], sizeof(msgs[2]));
    /* a middle chunk */
    memcpy(m, d, len);
    m[c0 + 2 * C + 100] ^= 0x80;
    write_file(bad, m, len);
    expect_damage(bad, &k, ST_AGE_FAIL_PAYLOAD, "chunk 2 failed", msgs[3],
                  sizeof(msgs[3]));
    /* the last chunk */
    memcpy(m, d, len);
    m[len - 1] ^= 1;
    write_file(bad, m, len);
    expect_damage(bad, &k, ST_AGE_FAIL_PAYLOAD, "final chunk 5", msgs[4],
                  sizeof(msgs[4]));
    /* truncated at a chunk boundary */
    write_file(bad, d, c0 + 3 * C);
    expect_damage(bad, &k, ST_AGE_FAIL_PAYLOAD, "truncated", msgs[5],
                  sizeof(msgs[5]));
    /* two chunks swapped */
    memcpy(m, d, len);
    memcpy(m + c0 + 1 * C, d + c0 + 3 * C, C);
    memcpy(m + c0 + 3 * C, d + c0 + 1 * C, C);
    write_file(bad, m, len);
    expect_damage(bad, &k, ST_AGE_FAIL_PAYLOAD, "out of place", msgs[6],
                  sizeof(msgs[6]));
    for (int i = 0; i < 7; i++)
        for (int j = i + 1; j < 7; j++)
            assert_string_not_equal(msgs[i], msgs[j]);

    /* streaming to an fd: only the chunks before the damage come out */
    memcpy(m, d, len);
    m[c0 + 2 * C + 100] ^= 0x80;
    write_file(bad, m, len);
    for (unsigned t = 1; t <= 2; t++) {
        int fd = open(bad, O_RDONLY);
        int out = memfd_create("out", 0);
        st_age_decrypt_opts o = {
            .identities = &k.id, .nidentities = 1, .threads = t};
        st_age_result res;
        assert_int_equal(st_age_decrypt_fd(fd, out, &o, &res, &e), ST_E_DENIED);
        assert_int_equal(lseek(out, 0, SEEK_END), 2 * 65536);
        assert_int_equal(res.released, 2 * 65536);
        close(fd);
        close(out);
    }
    free(m);
    free(d);
    free(p);
    keys_free(&k);
}

/* --- rewrap, inspect, sealtrain-kek --------------------------------------- */

/* A stand-in KEK for this module's own tests of the stanza format (the
 * keyring module's tests exercise st_kek_wrap itself): ChaCha20-Poly1305
 * under a fixed key per version, AAD bound. */
static uint8_t test_kek[2][32];

static ST_MUST_CHECK st_code test_wrap(void *ctx, const char *name,
                                       uint32_t version, const uint8_t *secret,
                                       size_t len, const uint8_t *aad,
                                       size_t aadlen, st_buf *out,
                                       uint32_t *used, st_err *err)
{
    (void)ctx;
    (void)name;
    uint32_t v = version ? version : 2;
    uint8_t nonce[12] = {0};
    assert_st_ok(st_buf_reserve(out, len + 16, err), err);
    st_code rc = st_aead_seal(test_kek[v - 1], nonce, aad, aadlen, secret, len,
                              out->data, err);
    out->len = len + 16;
    *used = v;
    return rc;
}

static ST_MUST_CHECK st_code test_unwrap(void *ctx, const char *name,
                                         uint32_t version,
                                         const uint8_t *wrapped, size_t len,
                                         const uint8_t *aad, size_t aadlen,
                                         st_secret **out, st_err *err)
{
    (void)ctx;
    (void)name;
    if (version < 1 || version > 2 || len < 16)
        return st_err_set(err, ST_E_NOTFOUND, "no such KEK version");
    *out = st_secret_new(len - 16, err);
    uint8_t nonce[12] = {0};
    st_code rc = st_aead_open(test_kek[version - 1], nonce, aad, aadlen,
                              wrapped, len, st_secret_bytes(*out), err);
    if (rc != ST_OK) {
        st_secret_free(*out);
        *out = NULL;
    }
    return rc;
}

static int keep_not_kek(void *ctx, const st_age_stanza *s)
{
    (void)ctx;
    return strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK) != 0;
}

static void
test_rewrap_replaces_kek_stanza_and_keeps_payload_bytes(void **state)
{
    (void)state;
    memset(test_kek[0], 1, 32);
    memset(test_kek[1], 2, 32);
    keys k;
    keys_new(&k);
    st_err e;
    st_age_recipient r[2];
    r[0] = k.rcpt;
    assert_st_ok(
        st_age_kek_recipient("owner-kek", 1, test_wrap, NULL, &r[1], &e), &e);
    char in[4096], enc[4096], out[4096];
    path_in_tmp(in, sizeof(in), "rw.plain");
    path_in_tmp(enc, sizeof(enc), "rw.age");
    path_in_tmp(out, sizeof(out), "rw.out");
    uint8_t *p = pattern(300000);
    write_file(in, p, 300000);
    assert_st_ok(st_age_encrypt_file(in, enc, r, 2, ST_AGE_ARMOR_NO, &e), &e);
    st_age_header h;
    assert_st_ok(st_age_inspect_file(enc, &h, &e), &e);
    assert_int_equal(h.nstanzas, 2);
    assert_string_equal(h.stanzas[1].args[0], "sealtrain-kek");
    assert_string_equal(h.stanzas[1].args[1], "owner-kek");
    assert_string_equal(h.stanzas[1].args[2], "1");
    size_t old_hl = h.len;
    st_age_header_clear(&h);
    size_t olen;
    uint8_t *old = read_file(enc, &olen);

    /* decrypt with the KEK alone */
    st_age_identity kid;
    assert_st_ok(st_age_kek_identity("owner-kek", test_unwrap, NULL, &kid, &e),
                 &e);
    st_age_decrypt_opts o = {.identities = &kid, .nidentities = 1};
    assert_st_ok(st_age_decrypt_file(enc, out, &o, NULL, &e), &e);

    /* rewrap to version 2 (current), in place */
    st_age_recipient v2;
    assert_st_ok(st_age_kek_recipient("owner-kek", 0, test_wrap, NULL, &v2, &e),
                 &e);
    st_age_rewrap rw = {.identities = &kid,
                        .nidentities = 1,
                        .keep = keep_not_kek,
                        .add = &v2,
                        .nadd = 1};
    assert_st_ok(st_age_rewrap_file(enc, enc, &rw, NULL, &e), &e);
    assert_st_ok(st_age_inspect_file(enc, &h, &e), &e);
    assert_int_equal(h.nstanzas, 2);
    assert_string_equal(h.stanzas[0].args[0], "X25519");
    assert_string_equal(h.stanzas[1].args[2], "2");
    size_t nlen;
    uint8_t *now = read_file(enc, &nlen);
    /* payload (nonce and every chunk) byte for byte the same */
    assert_int_equal(olen - old_hl, nlen - h.len);
    assert_memory_equal(old + old_hl, now + h.len, olen - old_hl);
    st_age_header_clear(&h);
    /* both the X25519 identity and the KEK still open it */
    assert_st_ok(st_age_decrypt_file(enc, out, &o, NULL, &e), &e);
    o.identities = &k.id;
    assert_st_ok(st_age_decrypt_file(enc, out, &o, NULL, &e), &e);
    size_t dl;
    uint8_t *dd = read_file(out, &dl);
    assert_int_equal(dl, 300000);
    assert_memory_equal(dd, p, 300000);
    /* a malformed KEK stanza is a header failure, not a silent skip */
    st_age_stanza s;
    const char *args[] = {"sealtrain-kek", "owner-kek", "01"};
    assert_st_ok(st_age_stanza_set(&s, args, 3, NULL, 0, &e), &e);
    uint8_t fk[16];
    assert_int_equal(kid.unwrap(kid.ctx, &s, fk, &e), ST_E_INPUT);
    st_age_stanza_clear(&s);
    free(dd);
    free(now);
    free(old);
    free(p);
    st_age_identity_clear(&kid);
    st_age_recipient_clear(&v2);
    st_age_recipient_clear(&r[1]);
    keys_free(&k);
}

static void
test_scrypt_round_trip_and_wrong_passphrase_is_no_match(void **state)
{
    (void)state;
    st_err e;
    st_age_recipient r;
    st_age_identity good, wrong;
    assert_st_ok(st_age_scrypt_recipient("hunter2", 7, 10, &r, &e), &e);
    assert_st_ok(st_age_scrypt_identity("hunter2", 7, 0, &good, &e), &e);
    assert_st_ok(st_age_scrypt_identity("hunter3", 7, 0, &wrong, &e), &e);
    char in[4096], enc[4096], out[4096];
    path_in_tmp(in, sizeof(in), "s.plain");
    path_in_tmp(enc, sizeof(enc), "s.age");
    path_in_tmp(out, sizeof(out), "s.out");
    write_file(in, "secret", 6);
    assert_st_ok(st_age_encrypt_file(in, enc, &r, 1, ST_AGE_ARMOR_YES, &e), &e);
    st_age_decrypt_opts o = {.identities = &good, .nidentities = 1};
    assert_st_ok(st_age_decrypt_file(enc, out, &o, NULL, &e), &e);
    st_age_result res;
    o.identities = &wrong;
    assert_int_equal(st_age_decrypt_file(enc, out, &o, &res, &e), ST_E_DENIED);
    assert_int_equal(res.fail, ST_AGE_FAIL_NO_MATCH);
    /* scrypt must be alone */
    st_age_recipient two[2] = {r, r};
    assert_int_equal(st_age_encrypt_file(in, enc, two, 2, ST_AGE_ARMOR_NO, &e),
                     ST_E_USAGE);
    st_age_recipient_clear(&r);
    st_age_identity_clear(&good);
    st_age_identity_clear(&wrong);
}

static void test_keys_parse_like_age_keygen(void **state)
{
    (void)state;
    st_err e;
    char rcpt[ST_AGE_RECIPIENT_STRLEN];
    /* the CCTV suite's identity and the recipient age-keygen -y prints */
    assert_st_ok(st_age_identity_to_recipient(
                     "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWY"
                     "KLMGR48UAWX40Q2P2LM0",
                     rcpt, &e),
                 &e);
    assert_int_equal(strncmp(rcpt, "age1", 4), 0);
    assert_int_equal(strlen(rcpt), 62);
    st_age_recipient r;
    assert_st_ok(st_age_x25519_recipient(rcpt, &r, &e), &e);
    st_age_recipient_clear(&r);
    /* lowercase identities and uppercase recipients are refused, as by age */
    st_age_identity id;
    assert_int_equal(st_age_x25519_identity("age-secret-key-1egtzvffv20835nwy"
                                            "v6270lxyvk2vknx2mmdkwyklmgr48uaw"
                                            "x40q2p2lm0",
                                            &id, &e),
                     ST_E_INPUT);
    assert_null(strstr(e.msg, "egtzvff")); /* never echoes a secret */
    for (char *c = rcpt; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    assert_int_equal(st_age_x25519_recipient(rcpt, &r, &e), ST_E_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cctv_suite_outcomes_and_released_plaintext),
        cmocka_unit_test(test_round_trip_across_chunk_boundaries),
        cmocka_unit_test(test_writer_streams_small_writes),
        cmocka_unit_test(test_tampering_each_kind_fails_with_its_own_error),
        cmocka_unit_test(
            test_rewrap_replaces_kek_stanza_and_keeps_payload_bytes),
        cmocka_unit_test(
            test_scrypt_round_trip_and_wrong_passphrase_is_no_match),
        cmocka_unit_test(test_keys_parse_like_age_keygen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
