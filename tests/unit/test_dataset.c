/*
 * test_dataset.c: encrypted datasets in a real workspace (SQLite catalog
 * on disk, a keyring with a key-file root key): import, verify, rewrap,
 * re-encryption, crypto-shred, the broker/runtime calls, and what
 * tampering with the file or the manifest does.
 */
#include "crypto/age_keys.h"
#include "crypto/age_stream.h"
#include "st_test.h"
#include "st_test_ws.h"

#include <fcntl.h>
#include <sqlite3.h>

#include "crypto/dsse.h"
#include <sealtrain/age.h>
#include <sealtrain/keyring.h>
#include <sealtrain/sealtrain.h>

typedef struct fixture {
    char *dir;
    char ws_dir[4200];
    st_workspace *ws;
    st_keyring *kr;
    uint8_t seed[32];
    st_secret *age_secret;
    char recipient[ST_AGE_RECIPIENT_STRLEN];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    st_err e;
    f->dir = st_test_tmpdir("dataset");
    snprintf(f->ws_dir, sizeof(f->ws_dir), "%s/ws", f->dir);
    st_test_workspace(f->dir, f->ws_dir, &f->ws, &f->kr);
    assert_st_ok(st_random(f->seed, 32, &e), &e);
    assert_st_ok(st_age_keygen(&f->age_secret, f->recipient, &e), &e);
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

static ST_MUST_CHECK st_code import_csv(fixture *f, const char *name,
                                        const char *path,
                                        st_dataset_manifest *m, st_err *e)
{
    const char *rcpts[1] = {f->recipient};
    st_dataset_import_opts o;
    memset(&o, 0, sizeof(o));
    o.input.format = ST_DATA_CSV;
    o.input.path = path;
    o.input.label = "label";
    o.name = name;
    o.owner = "alice";
    o.classification = "confidential";
    o.retention_days = 30;
    o.recipients = rcpts;
    o.nrecipients = 1;
    o.signing_seed = f->seed;
    return st_dataset_import(f->ws, f->kr, &o, m, e);
}

static void read_file(const char *path, unsigned char **data, size_t *len)
{
    st_err e;
    assert_st_ok(st_fs_read_all(path, 64u << 20, data, len, &e), &e);
}

static size_t header_len(const char *path)
{
    st_age_header h;
    st_err e;
    memset(&h, 0, sizeof(h));
    assert_st_ok(st_age_inspect_file(path, &h, &e), &e);
    size_t n = h.len;
    st_age_header_clear(&h);
    return n;
}

static void
test_import_verifies_and_decrypts_to_the_converted_tensor(void **state)
{
    fixture *f = *state;
    st_err e;
    st_dataset_manifest m;
    assert_st_ok(import_csv(f, "digits", "examples/data/digits.csv", &m, &e),
                 &e);
    assert_int_equal(m.rows, 1797);
    assert_int_equal(m.cols, 64);
    assert_int_equal(m.classes, 10);
    assert_string_equal(m.kek_name, "owner.alice");
    assert_int_equal(m.kek_version, 1);
    assert_int_equal(m.retention_days, 30);
    assert_int_equal(m.nrecipients, 1);
    /* a second import under the same name is refused */
    st_dataset_manifest m2;
    assert_int_equal(
        import_csv(f, "digits", "examples/data/digits.csv", &m2, &e),
        ST_E_EXISTS);

    st_dataset_check chk;
    assert_st_ok(st_dataset_verify(f->ws, NULL, "digits", 0, &chk, &e), &e);
    assert_int_equal(chk.signature, 1);
    assert_int_equal(chk.file_digest, 1);
    assert_int_equal(chk.decrypt, -1);
    assert_st_ok(st_dataset_verify(f->ws, f->kr, "digits", 1, &chk, &e), &e);
    assert_int_equal(chk.plaintext, 1);
    assert_int_equal(chk.schema, 1);

    /* broker: file key; runtime: decrypt with it */
    st_secret *fk;
    st_dataset_manifest bm;
    assert_st_ok(st_dataset_file_key(f->ws, f->kr, "digits", &fk, &bm, &e), &e);
    st_dataset_record rec;
    assert_st_ok(st_dataset_get(f->ws, "digits", &rec, &e), &e);
    void *plain;
    size_t len;
    st_tensor_view v;
    assert_st_ok(
        st_dataset_decrypt(rec.path, fk, bm.plain_sha256, &plain, &len, &v, &e),
        &e);
    assert_int_equal(v.rows, 1797);
    assert_true(v.features[2] == 5.0f);
    assert_true(v.labels[1] == 1.0f);
    assert_int_equal(len, bm.plain_size);
    st_secmem_free(plain);
    /* a wrong file key opens nothing */
    st_secret_bytes(fk)[0] ^= 1;
    assert_int_equal(
        st_dataset_decrypt(rec.path, fk, bm.plain_sha256, &plain, &len, &v, &e),
        ST_E_DENIED);
    assert_non_null(strstr(e.msg, "HMAC"));
    st_secret_free(fk);
    st_dataset_manifest_free(&bm);
    st_dataset_record_free(&rec);
    st_dataset_manifest_free(&m);

    st_dataset_record *all;
    size_t n;
    assert_st_ok(st_dataset_list(f->ws, &all, &n, &e), &e);
    assert_int_equal(n, 1);
    assert_string_equal(all[0].m.name, "digits");
    st_dataset_records_free(all, n);
}

static void test_invalid_input_writes_nothing(void **state)
{
    fixture *f = *state;
    st_err e;
    char bad[4300];
    snprintf(bad, sizeof(bad), "%s/bad.csv", f->dir);
    assert_st_ok(st_fs_write_atomic(bad, "a,label\n1,0\nx,1\n", 16, 0600, &e),
                 &e);
    assert_int_equal(import_csv(f, "bad", bad, NULL, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "bad.csv:3:1"));
    st_dataset_record rec;
    assert_int_equal(st_dataset_get(f->ws, "bad", &rec, &e), ST_E_NOTFOUND);
    char dir[4300], cmd[4500];
    snprintf(dir, sizeof(dir), "%s/datasets", f->ws_dir);
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s' | grep -v '^.lock$')\"",
             dir);
    assert_int_equal(system(cmd), 0);
}

static void test_rewrap_keeps_payload_bytes_identical(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(import_csv(f, "digits", "examples/data/digits.csv", NULL, &e),
                 &e);
    st_dataset_record a, b;
    assert_st_ok(st_dataset_get(f->ws, "digits", &a, &e), &e);
    int changed = 1;
    assert_st_ok(st_dataset_rewrap(f->ws, f->kr, "digits", f->seed, "alice",
                                   &changed, &e),
                 &e);
    assert_int_equal(changed, 0); /* already current */
    uint32_t v;
    assert_st_ok(st_kek_rotate(f->kr, NULL, "owner.alice", &v, &e), &e);
    assert_int_equal(v, 2);
    unsigned char *old, *nw;
    size_t oldlen, nwlen;
    read_file(a.path, &old, &oldlen);
    size_t oldh = header_len(a.path);
    assert_st_ok(st_dataset_rewrap(f->ws, f->kr, "digits", f->seed, "alice",
                                   &changed, &e),
                 &e);
    assert_int_equal(changed, 1);
    assert_st_ok(st_dataset_get(f->ws, "digits", &b, &e), &e);
    assert_int_equal(b.m.kek_version, 2);
    assert_int_equal(b.m.generation, 2);
    assert_string_not_equal(a.path, b.path);
    assert_false(st_fs_exists(a.path)); /* the old generation is gone */
    read_file(b.path, &nw, &nwlen);
    size_t nwh = header_len(b.path);
    /* the payload (nonce and every chunk) is byte-for-byte the same */
    assert_int_equal(oldlen - oldh, nwlen - nwh);
    assert_memory_equal(old + oldh, nw + nwh, oldlen - oldh);
    assert_memory_equal(a.m.payload_sha256, b.m.payload_sha256, 32);
    assert_memory_not_equal(a.m.header_sha256, b.m.header_sha256, 32);
    assert_non_null(strstr((char *)nw, "sealtrain-kek owner.alice 2"));
    st_dataset_check chk;
    assert_st_ok(st_dataset_verify(f->ws, f->kr, "digits", 1, &chk, &e), &e);
    /* only the owner's key re-signs */
    uint8_t other[32];
    assert_st_ok(st_random(other, 32, &e), &e);
    assert_st_ok(st_kek_rotate(f->kr, NULL, "owner.alice", &v, &e), &e);
    assert_int_equal(
        st_dataset_rewrap(f->ws, f->kr, "digits", other, "alice", &changed, &e),
        ST_E_DENIED);
    free(old);
    free(nw);
    st_dataset_record_free(&a);
    st_dataset_record_free(&b);
}

static void
test_reencrypt_changes_every_byte_but_not_the_plaintext(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(import_csv(f, "digits", "examples/data/digits.csv", NULL, &e),
                 &e);
    st_dataset_record a, b;
    assert_st_ok(st_dataset_get(f->ws, "digits", &a, &e), &e);
    assert_st_ok(
        st_dataset_reencrypt(f->ws, f->kr, "digits", f->seed, "alice", &e), &e);
    assert_st_ok(st_dataset_get(f->ws, "digits", &b, &e), &e);
    assert_memory_equal(a.m.plain_sha256, b.m.plain_sha256, 32);
    assert_memory_not_equal(a.m.payload_sha256, b.m.payload_sha256, 32);
    assert_int_equal(b.m.generation, 2);
    assert_false(st_fs_exists(a.path));
    st_dataset_check chk;
    assert_st_ok(st_dataset_verify(f->ws, f->kr, "digits", 1, &chk, &e), &e);
    st_dataset_record_free(&a);
    st_dataset_record_free(&b);
}

/* The shred key of a dataset, read straight from the catalog file. */
static void catalog_shred_key(fixture *f, const char *name, uint8_t out[16])
{
    char db[4300];
    snprintf(db, sizeof(db), "%s/catalog.db", f->ws_dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT shred_key FROM datasets "
                                        "WHERE name = ?",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(q, 0), 16);
    memcpy(out, sqlite3_column_blob(q, 0), 16);
    sqlite3_finalize(q);
    sqlite3_close(h);
}

/* The keyring as a plain sealtrain-kek unwrapper (what anyone holding the
 * keyring could do with a stolen copy of the file). */
static ST_MUST_CHECK st_code keyring_unwrap(void *ctx, const char *name,
                                            uint32_t version,
                                            const uint8_t *wrapped, size_t len,
                                            const uint8_t *aad, size_t aadlen,
                                            st_secret **out, st_err *err)
{
    return st_kek_unwrap(ctx, name, version, wrapped, len, aad, aadlen, out,
                         err);
}

/* An identity that knows the file key (the enclave runtime's position). */
static ST_MUST_CHECK st_code known_key(void *ctx, const st_age_stanza *s,
                                       uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                                       st_err *err)
{
    (void)err;
    if (strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK) != 0)
        return ST_E_NOTFOUND;
    memcpy(file_key, st_secret_cbytes(ctx), ST_AGE_FILE_KEY_LEN);
    return ST_OK;
}

static int file_contains(const char *path, const uint8_t *needle, size_t n)
{
    unsigned char *d;
    size_t len;
    st_err e;
    if (st_fs_read_all(path, 256u << 20, &d, &len, &e) != ST_OK)
        return 0;
    int found = memmem(d, len, needle, n) != NULL;
    free(d);
    return found;
}

static void test_rm_crypto_shreds_even_a_backup_copy(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(import_csv(f, "digits", "examples/data/digits.csv", NULL, &e),
                 &e);
    st_dataset_record rec;
    assert_st_ok(st_dataset_get(f->ws, "digits", &rec, &e), &e);
    char backup[4300];
    snprintf(backup, sizeof(backup), "%s/backup.age", f->dir);
    unsigned char *d;
    size_t len;
    read_file(rec.path, &d, &len);
    assert_st_ok(st_fs_write_atomic(backup, d, len, 0600, &e), &e);
    free(d);
    uint8_t shred[16];
    catalog_shred_key(f, "digits", shred);
    /* before rm, the keyring opens the backup (with the shred key) */
    st_secret *fk;
    assert_st_ok(st_dataset_file_key(f->ws, f->kr, "digits", &fk, NULL, &e),
                 &e);
    st_secret_free(fk);

    assert_st_ok(st_dataset_rm(f->ws, "digits", "alice", &e), &e);
    assert_false(st_fs_exists(rec.path));
    st_dataset_record gone;
    assert_int_equal(st_dataset_get(f->ws, "digits", &gone, &e), ST_E_NOTFOUND);
    assert_int_equal(st_dataset_rm(f->ws, "digits", "alice", &e),
                     ST_E_NOTFOUND);
    /* the shred key is nowhere in the catalog's files */
    char db[4300], wal[4300];
    snprintf(db, sizeof(db), "%s/catalog.db", f->ws_dir);
    snprintf(wal, sizeof(wal), "%s/catalog.db-wal", f->ws_dir);
    assert_false(file_contains(db, shred, 16));
    assert_false(file_contains(wal, shred, 16));
    /* the keyring still has the KEK, and unwraps the backup's stanza: but
     * that is file_key ^ shred_key, which does not open the file */
    st_age_identity id;
    assert_st_ok(st_age_kek_identity(NULL, keyring_unwrap, f->kr, &id, &e), &e);
    st_age_decrypt_opts o = {&id, 1, ST_AGE_ARMOR_NO, 1, backup};
    st_age_result res = {0};
    void *plain = NULL;
    size_t plen;
    assert_int_not_equal(
        st_age_decrypt_secmem(backup, &o, &plain, &plen, &res, &e), ST_OK);
    assert_int_equal(res.fail, ST_AGE_FAIL_HMAC);
    assert_int_equal(res.released, 0);
    assert_null(plain);
    st_age_identity_clear(&id);
    st_dataset_record_free(&rec);
}

/* Decrypts `path` chunk by chunk with the file key; returns how many
 * plaintext bytes were released before the failure it must meet. */
static uint64_t streamed(const char *path, st_secret *fk)
{
    st_err e;
    int fd = open(path, O_RDONLY);
    st_age_identity id = {known_key, NULL, fk};
    st_age_decrypt_opts o = {&id, 1, ST_AGE_ARMOR_NO, 1, path};
    st_age_result res = {0};
    st_age_reader *rd = NULL;
    uint64_t released = 0;
    if (st_age_reader_open(fd, &o, &rd, &res, &e) == ST_OK) {
        unsigned char *buf = st_secmem_alloc(65536, &e);
        size_t got;
        while (st_age_reader_read(rd, buf, 65536, &got, &res, &e) == ST_OK &&
               got > 0)
            released += got;
        st_secmem_free(buf);
        st_age_reader_free(rd);
    }
    assert_int_not_equal(res.fail, ST_AGE_FAIL_NONE);
    close(fd);
    return released;
}

/* Copies the dataset file to `out` after applying `mutate`. */
static void mutated_copy(const char *src, const char *out,
                         void (*mutate)(unsigned char *, size_t *, size_t),
                         size_t hlen)
{
    unsigned char *d;
    size_t len;
    st_err e;
    read_file(src, &d, &len);
    mutate(d, &len, hlen);
    assert_st_ok(st_fs_write_atomic(out, d, len, 0600, &e), &e);
    free(d);
}

#define CHUNK (65536 + 16)
static void flip_header(unsigned char *d, size_t *n, size_t h)
{
    (void)n;
    d[h / 2] ^= 0x01; /* inside a stanza body line */
}
static void flip_mac(unsigned char *d, size_t *n, size_t h)
{
    (void)n;
    d[h - 5] = d[h - 5] == 'A' ? 'B' : 'A'; /* still base64: a wrong MAC */
}
static void flip_chunk1(unsigned char *d, size_t *n, size_t h)
{
    (void)n;
    d[h + 16 + CHUNK + 100] ^= 0x80;
}
static void flip_last(unsigned char *d, size_t *n, size_t h)
{
    (void)h;
    d[*n - 3] ^= 0x01;
}
static void truncate_chunk(unsigned char *d, size_t *n, size_t h)
{
    (void)d;
    *n = h + 16 + 3 * CHUNK; /* drops the final chunk */
}
static void swap_chunks(unsigned char *d, size_t *n, size_t h)
{
    (void)n;
    unsigned char *tmp = malloc(CHUNK);
    unsigned char *a = d + h + 16, *b = d + h + 16 + CHUNK;
    memcpy(tmp, a, CHUNK);
    memcpy(a, b, CHUNK);
    memcpy(b, tmp, CHUNK);
    free(tmp);
}

static void
test_tampering_fails_with_distinct_errors_and_no_plaintext(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(import_csv(f, "digits", "examples/data/digits.csv", NULL, &e),
                 &e);
    st_secret *fk;
    st_dataset_manifest m;
    assert_st_ok(st_dataset_file_key(f->ws, f->kr, "digits", &fk, &m, &e), &e);
    st_dataset_record rec;
    assert_st_ok(st_dataset_get(f->ws, "digits", &rec, &e), &e);
    size_t h = header_len(rec.path);
    assert_true(m.file_size > h + 16 + 4 * CHUNK); /* at least 5 chunks */
    struct {
        void (*mutate)(unsigned char *, size_t *, size_t);
        const char *want;
    } cases[] = {
        {flip_header, "failure"}, /* header or HMAC, depending on the byte */
        {flip_mac, "HMAC failure"},       {flip_chunk1, "payload failure"},
        {flip_last, "payload failure"},   {truncate_chunk, "payload failure"},
        {swap_chunks, "payload failure"},
    };
    char copy[4300];
    snprintf(copy, sizeof(copy), "%s/copy.age", f->dir);
    unsigned char *orig;
    size_t origlen;
    read_file(rec.path, &orig, &origlen);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mutated_copy(rec.path, copy, cases[i].mutate, h);
        void *plain = (void *)1;
        size_t len;
        st_tensor_view v;
        st_code rc =
            st_dataset_decrypt(copy, fk, m.plain_sha256, &plain, &len, &v, &e);
        assert_int_equal(rc, ST_E_DENIED);
        assert_null(plain);
        print_message("  tamper case %zu: %s\n", i, e.msg);
        if (!strstr(e.msg, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].want);
        /* streaming: only whole authenticated chunks come out, and none
         * past the damage */
        uint64_t released = streamed(copy, fk);
        assert_int_equal(released % 65536, 0);
        assert_true(released < m.plain_size);
        print_message("  streaming released %llu bytes\n",
                      (unsigned long long)released);
        if (cases[i].mutate == flip_chunk1)
            assert_int_equal(released, 65536); /* chunk 0 only */
        if (cases[i].mutate == swap_chunks)
            assert_int_equal(released, 0);
        /* the catalog's verify sees the changed file without a key */
        unsigned char *d;
        size_t dl;
        read_file(copy, &d, &dl);
        assert_st_ok(st_fs_write_atomic(rec.path, d, dl, 0600, &e), &e);
        free(d);
        st_dataset_check chk;
        assert_int_equal(st_dataset_verify(f->ws, NULL, "digits", 0, &chk, &e),
                         ST_E_DENIED);
        assert_int_equal(chk.file_digest, 0);
        assert_st_ok(st_fs_write_atomic(rec.path, orig, origlen, 0600, &e), &e);
    }
    assert_st_ok(st_dataset_verify(f->ws, NULL, "digits", 0, NULL, &e), &e);

    /* a flipped byte in the nonce or in any chunk: a payload failure at
     * that chunk, with exactly the chunks before it released */
    size_t nchunks = (origlen - h - 16 + CHUNK - 1) / CHUNK;
    for (size_t k = 0; k <= nchunks; k++) {
        /* k == nchunks stands for the nonce */
        size_t at = k == nchunks ? h + 3 : h + 16 + k * CHUNK + 7;
        orig[at] ^= 0x10;
        assert_st_ok(st_fs_write_atomic(copy, orig, origlen, 0600, &e), &e);
        orig[at] ^= 0x10;
        void *plain = NULL;
        size_t len;
        st_tensor_view v;
        assert_int_equal(
            st_dataset_decrypt(copy, fk, m.plain_sha256, &plain, &len, &v, &e),
            ST_E_DENIED);
        assert_null(plain);
        assert_non_null(strstr(e.msg, "payload failure"));
        char want[32];
        snprintf(want, sizeof(want), "chunk %zu", k == nchunks ? 0 : k);
        if (!strstr(e.msg, want))
            fail_msg("chunk %zu: \"%s\" lacks \"%s\"", k, e.msg, want);
        assert_int_equal(streamed(copy, fk), k == nchunks ? 0 : k * 65536);
    }
    free(orig);
    st_secret_free(fk);
    st_dataset_manifest_free(&m);
    st_dataset_record_free(&rec);
}

static void test_edited_manifest_fails_signature(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(import_csv(f, "digits", "examples/data/digits.csv", NULL, &e),
                 &e);
    st_dataset_record rec;
    assert_st_ok(st_dataset_get(f->ws, "digits", &rec, &e), &e);
    /* rewrite the payload: 1797 rows become 1796, signature unchanged */
    json_t *env = json_loads(rec.envelope, 0, NULL);
    uint8_t *payload;
    size_t plen;
    assert_st_ok(st_dsse_payload(env, &payload, &plen, &e), &e);
    char *p = strstr((char *)payload, "\"rows\":1797");
    assert_non_null(p);
    p[10] = '6';
    char *b64 = st_base64_encode(payload, plen, 1);
    json_object_set_new(env, "payload", json_string(b64));
    char *text = json_dumps(env, JSON_COMPACT);
    char db[4300];
    snprintf(db, sizeof(db), "%s/catalog.db", f->ws_dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(h, "UPDATE datasets SET manifest = ? WHERE name = ?", -1,
                       &q, NULL);
    sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, "digits", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    sqlite3_close(h);
    st_dataset_check chk;
    assert_int_equal(st_dataset_verify(f->ws, NULL, "digits", 0, &chk, &e),
                     ST_E_DENIED);
    assert_int_equal(chk.signature, 0);
    assert_non_null(strstr(e.msg, "manifest signature does not verify"));
    st_secret *fk;
    assert_int_equal(st_dataset_file_key(f->ws, f->kr, "digits", &fk, NULL, &e),
                     ST_E_DENIED);
    free(text);
    free(b64);
    free(payload);
    json_decref(env);
    st_dataset_record_free(&rec);
}

static void test_revoked_kek_version_opens_nothing(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(import_csv(f, "digits", "examples/data/digits.csv", NULL, &e),
                 &e);
    uint32_t v;
    assert_st_ok(st_kek_rotate(f->kr, NULL, "owner.alice", &v, &e), &e);
    assert_st_ok(st_kek_revoke(f->kr, NULL, "owner.alice", 1, &e), &e);
    st_dataset_check chk;
    assert_int_equal(st_dataset_verify(f->ws, f->kr, "digits", 1, &chk, &e),
                     ST_E_DENIED);
    assert_int_equal(chk.file_digest, 1); /* the file is intact... */
    assert_int_equal(chk.decrypt, 0);     /* ...but its key is gone */
    st_secret *fk = NULL;
    assert_int_equal(st_dataset_file_key(f->ws, f->kr, "digits", &fk, NULL, &e),
                     ST_E_DENIED);
    assert_null(fk);
    int changed;
    assert_int_equal(st_dataset_rewrap(f->ws, f->kr, "digits", f->seed, "alice",
                                       &changed, &e),
                     ST_E_DENIED);
    assert_st_ok(st_dataset_verify(f->ws, NULL, "digits", 0, &chk, &e), &e);
}

static void test_manifest_of_another_dataset_is_refused(void **state)
{
    fixture *f = *state;
    st_err e;
    assert_st_ok(import_csv(f, "a", "examples/data/digits.csv", NULL, &e), &e);
    assert_st_ok(import_csv(f, "b", "examples/data/digits.csv", NULL, &e), &e);
    /* b's row gets a's (validly signed) manifest: a replay */
    char db[4300];
    snprintf(db, sizeof(db), "%s/catalog.db", f->ws_dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h,
                     "UPDATE datasets SET manifest = (SELECT manifest FROM "
                     "datasets WHERE name = 'a') WHERE name = 'b'",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    st_dataset_check chk;
    assert_int_equal(st_dataset_verify(f->ws, NULL, "b", 0, &chk, &e),
                     ST_E_DENIED);
    assert_int_equal(chk.signature, 1);
    assert_int_equal(chk.manifest, 0);
    assert_non_null(strstr(e.msg, "does not match the catalog record"));
    assert_st_ok(st_dataset_verify(f->ws, NULL, "a", 0, &chk, &e), &e);
}

static void test_manifest_parse_is_strict_and_round_trips(void **state)
{
    (void)state;
    unsigned char *text;
    size_t len;
    st_err e;
    read_file("fuzz/corpus/fuzz_manifest/full.json", &text, &len);
    st_dataset_manifest m;
    assert_st_ok(st_dataset_manifest_parse((char *)text, len, &m, &e), &e);
    assert_string_equal(m.name, "digits");
    assert_int_equal(m.retention_days, 365);
    size_t n;
    char *again = st_dataset_manifest_encode(&m, &n, &e);
    assert_int_equal(n, len);
    assert_memory_equal(again, text, len); /* canonical: byte-identical */
    free(again);
    st_dataset_manifest_free(&m);
    struct {
        const char *from, *to, *want;
    } cases[] = {
        {"\"owner\":", "\"extra\":1,\"owner\":", "unknown key \"extra\""},
        {"\"classification\":\"internal\"", "\"classification\":\"secret\"",
         "classification"},
        {"\"rows\":3", "\"rows\":0", "\"rows\" is 0"},
        {"\"sha256\":\"00", "\"sha256\":\"0G", "64 lowercase hex"},
        {"\"version\":1", "\"version\":\"1\"", "must be an integer"},
        {"\"name\":\"digits\"", "\"name\":\"../x\"", "invalid"},
        {"\"size\":110", "\"size\":20", "plaintext size"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *p = strstr((char *)text, cases[i].from);
        assert_non_null(p);
        char *bad = malloc(len + 64);
        size_t pre = (size_t)(p - (char *)text);
        snprintf(bad, len + 64, "%.*s%s%s", (int)pre, (char *)text, cases[i].to,
                 p + strlen(cases[i].from));
        assert_int_equal(st_dataset_manifest_parse(bad, strlen(bad), &m, &e),
                         ST_E_INPUT);
        if (!strstr(e.msg, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].want);
        free(bad);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_import_verifies_and_decrypts_to_the_converted_tensor, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_invalid_input_writes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_rewrap_keeps_payload_bytes_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_reencrypt_changes_every_byte_but_not_the_plaintext, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_rm_crypto_shreds_even_a_backup_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_tampering_fails_with_distinct_errors_and_no_plaintext, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_edited_manifest_fails_signature,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_kek_version_opens_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_manifest_of_another_dataset_is_refused, setup, teardown),
        cmocka_unit_test(test_manifest_parse_is_strict_and_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
