/*
 * dataset.c: encrypted, signed datasets in a workspace: import, catalog,
 * verification, rewrap, re-encryption, crypto-shred, and the calls the
 * broker and the enclave runtime use. See include/sealtrain/dataset.h and
 * docs/datasets.md.
 *
 * Owns: the catalog table `datasets` (module "data"), the files under
 * datasets/, the lock datasets/.lock. Must never: write plaintext to any
 * file (conversion streams into the age writer from secure memory), hold
 * a KEK (the keyring wraps and unwraps), or leave a half-made dataset (new
 * files get new names and are written atomically; the catalog row is
 * switched in one transaction, together with the change's audit entry
 * (st_audit_txn_*: the entry reaches the log even if this process does
 * not); old files go only after; files no row names are swept under the
 * lock).
 *
 * A failed COMMIT is not a rollback: SQLite may still hold it in its WAL
 * and bring it back at the next open. So after one, no file is removed,
 * neither the new generation's nor the old one's; the sweep of the next
 * change, which reads the recovered catalog, removes the one no row names.
 *
 * The sealtrain-kek stanza (age.h) of a dataset wraps file_key XOR
 * shred_key, where shred_key is 16 random bytes kept only in the catalog
 * row: removing the row (SQLite secure_delete, WAL truncated) makes every
 * copy of the ciphertext unreadable through the keyring.
 */
#include "sealtrain/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data_internal.h"
#include "sealtrain/access.h"
#include "sealtrain/age.h"
#include "sealtrain/audit.h"
#include "sealtrain/bytes.h"
#include "sealtrain/clock.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dsse.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "sealtrain/log.h"
#include "sealtrain/workspace.h"

#define SHRED_LEN 16

static const char *const migrations[] = {
    "CREATE TABLE datasets ("
    " name TEXT PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " owner TEXT NOT NULL,"
    " generation INTEGER NOT NULL,"
    " file TEXT NOT NULL,"
    " kek_name TEXT NOT NULL,"
    " kek_version INTEGER NOT NULL,"
    " shred_key BLOB NOT NULL,"
    " signer_keyid TEXT NOT NULL,"
    " signer_pub BLOB NOT NULL,"
    " manifest TEXT NOT NULL,"
    " created TEXT NOT NULL,"
    " updated TEXT NOT NULL)",
};

static ST_MUST_CHECK st_code migrate(st_workspace *ws, st_err *err)
{
    return st_catalog_migrate(ws, "data", migrations,
                              sizeof(migrations) / sizeof(migrations[0]), err);
}

static ST_MUST_CHECK st_code db_exec(st_workspace *ws, const char *sql,
                                     st_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st_workspace_db(ws), sql, NULL, NULL, &msg) != SQLITE_OK) {
        st_err_set(err, ST_E_IO, "catalog: %s: %s", sql, msg ? msg : "error");
        sqlite3_free(msg);
        return ST_E_IO;
    }
    return ST_OK;
}

/* ---- the datasets lock and the sweep ------------------------------- */

typedef struct dlock {
    int fd;
    char dir[4096];
} dlock;

/* Set when a COMMIT of this process failed: until the next open recovers
 * the catalog, this process's view of it may miss a commit that SQLite
 * will bring back, so it must neither sweep nor change datasets. */
static int commit_unknown;

/* Takes the exclusive datasets lock (held until unlock or process death),
 * migrates, and removes files that no catalog row names. */
static ST_MUST_CHECK st_code lock_and_sweep(st_workspace *ws, dlock *l,
                                            st_err *err)
{
    l->fd = -1;
    if (commit_unknown)
        return st_err_set(err, ST_E_IO,
                          "an earlier change of this command could not be "
                          "committed and its outcome is unknown: stopping "
                          "(run the command again)");
    st_code rc =
        st_workspace_subdir(ws, "datasets", l->dir, sizeof(l->dir), err);
    if (rc)
        return rc;
    char path[4200];
    snprintf(path, sizeof(path), "%s/.lock", l->dir);
    l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (l->fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "open %s", path);
    if (flock(l->fd, LOCK_EX) != 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "lock %s", path);
        close(l->fd);
        l->fd = -1;
        return rc;
    }
    if ((rc = migrate(ws, err)))
        return rc;
    DIR *d = opendir(l->dir);
    if (!d)
        return st_err_errno(err, ST_E_IO, errno, "open %s", l->dir);
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(st_workspace_db(ws),
                       "SELECT 1 FROM datasets WHERE file = ?", -1, &q, NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        int tmp = n[0] == '.' && strstr(n, ".tmp.");
        int age = n[0] != '.' && len > 4 && !strcmp(n + len - 4, ".age");
        if (!tmp && !age)
            continue;
        if (age && q) {
            sqlite3_reset(q);
            sqlite3_bind_text(q, 1, n, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(q) == SQLITE_ROW)
                continue; /* a live dataset file */
        }
        snprintf(path, sizeof(path), "%s/%s", l->dir, n);
        if (unlink(path) == 0)
            st_info("data.sweep", "removed %s (no catalog row names it)", path);
    }
    sqlite3_finalize(q);
    closedir(d);
    return ST_OK;
}

static void unlock(dlock *l)
{
    if (l->fd >= 0)
        close(l->fd); /* releases the flock */
    l->fd = -1;
}

/* ---- the sealtrain-kek stanza with the shred key --------------------- */

typedef struct kek_ctx {
    st_keyring *kr;
    const uint8_t *shred;   /* SHRED_LEN bytes, secure memory */
    uint32_t used;          /* version the wrap used */
    const st_secret *fixed; /* runtime: the file key itself */
} kek_ctx;

static ST_MUST_CHECK st_code kek_wrap(void *ctx, const char *name,
                                      uint32_t version, const uint8_t *secret,
                                      size_t len, const uint8_t *aad,
                                      size_t aadlen, st_buf *out,
                                      uint32_t *used, st_err *err)
{
    kek_ctx *k = ctx;
    if (len != SHRED_LEN)
        return st_err_set(err, ST_E_INTERNAL, "file key of %zu bytes", len);
    st_secret *masked = st_secret_new(len, err);
    if (!masked)
        return err ? err->code : ST_E_IO;
    unsigned char *m = st_secret_bytes(masked);
    for (size_t i = 0; i < len; i++)
        m[i] = secret[i] ^ k->shred[i];
    st_code rc =
        st_kek_wrap(k->kr, name, version, m, len, aad, aadlen, out, used, err);
    if (!rc && used)
        k->used = *used;
    st_secret_free(masked);
    return rc;
}

static ST_MUST_CHECK st_code kek_unwrap(void *ctx, const char *name,
                                        uint32_t version,
                                        const uint8_t *wrapped, size_t len,
                                        const uint8_t *aad, size_t aadlen,
                                        st_secret **out, st_err *err)
{
    kek_ctx *k = ctx;
    st_code rc = st_kek_unwrap(k->kr, name, version, wrapped, len, aad, aadlen,
                               out, err);
    if (rc) {
        st_err_prefix(err,
                      "the sealtrain-kek stanza (KEK %s version %u) "
                      "does not open",
                      name, version);
        return rc;
    }
    if (st_secret_len(*out) != SHRED_LEN) {
        st_secret_free(*out);
        *out = NULL;
        return st_err_set(err, ST_E_INPUT, "the sealtrain-kek stanza holds %s",
                          "no file key");
    }
    unsigned char *m = st_secret_bytes(*out);
    for (size_t i = 0; i < SHRED_LEN; i++)
        m[i] ^= k->shred[i];
    return ST_OK;
}

/* Runtime identity: the file key is known; any sealtrain-kek stanza
 * stands for it (the header MAC then proves it right or wrong). */
static ST_MUST_CHECK st_code fixed_unwrap(void *ctx, const st_age_stanza *s,
                                          uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                                          st_err *err)
{
    (void)err;
    const kek_ctx *k = ctx;
    if (strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK) != 0)
        return ST_E_NOTFOUND;
    memcpy(file_key, st_secret_cbytes(k->fixed), ST_AGE_FILE_KEY_LEN);
    return ST_OK;
}

static int keep_not_kek(void *ctx, const st_age_stanza *s)
{
    (void)ctx;
    return strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK) != 0;
}

/* ---- catalog rows ---------------------------------------------------- */

typedef struct drow {
    char name[ST_DATASET_NAME_MAX + 1];
    char id[33];
    char owner[ST_DATASET_NAME_MAX + 1];
    long long generation;
    char file[128];
    char kek_name[65];
    uint32_t kek_version;
    st_secret *shred;
    char signer_keyid[65];
    uint8_t signer_pub[32];
    char *manifest; /* the envelope JSON */
    char created[40], updated[40];
} drow;

static void drow_free(drow *r)
{
    st_secret_free(r->shred);
    free(r->manifest);
    memset(r, 0, sizeof(*r));
}

static void copy_col(sqlite3_stmt *q, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

#define ROW_COLS_SQL                                                           \
    "name, id, owner, generation, file, kek_name, kek_version, shred_key, "    \
    "signer_keyid, signer_pub, manifest, created, updated"

static ST_MUST_CHECK st_code row_read(sqlite3_stmt *q, drow *r, st_err *err)
{
    memset(r, 0, sizeof(*r));
    copy_col(q, 0, r->name, sizeof(r->name));
    copy_col(q, 1, r->id, sizeof(r->id));
    copy_col(q, 2, r->owner, sizeof(r->owner));
    r->generation = sqlite3_column_int64(q, 3);
    copy_col(q, 4, r->file, sizeof(r->file));
    copy_col(q, 5, r->kek_name, sizeof(r->kek_name));
    r->kek_version = (uint32_t)sqlite3_column_int64(q, 6);
    copy_col(q, 8, r->signer_keyid, sizeof(r->signer_keyid));
    copy_col(q, 11, r->created, sizeof(r->created));
    copy_col(q, 12, r->updated, sizeof(r->updated));
    if (sqlite3_column_bytes(q, 7) != SHRED_LEN ||
        sqlite3_column_bytes(q, 9) != 32)
        return st_err_set(err, ST_E_INPUT,
                          "catalog: dataset \"%s\" has a malformed key "
                          "record",
                          r->name);
    r->shred = st_secret_from(sqlite3_column_blob(q, 7), SHRED_LEN, err);
    if (!r->shred)
        return err ? err->code : ST_E_IO;
    memcpy(r->signer_pub, sqlite3_column_blob(q, 9), 32);
    const unsigned char *m = sqlite3_column_text(q, 10);
    r->manifest = strdup(m ? (const char *)m : "");
    if (!r->manifest)
        return st_err_set(err, ST_E_IO, "out of memory");
    return ST_OK;
}

static ST_MUST_CHECK st_code row_get(st_workspace *ws, const char *name,
                                     drow *r, st_err *err)
{
    memset(r, 0, sizeof(*r));
    sqlite3_stmt *q;
    if (st_catalog_prepare(
            ws, "SELECT " ROW_COLS_SQL " FROM datasets WHERE name = ?", &q) !=
        SQLITE_OK)
        return st_catalog_fail(ws, "select dataset", err);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    st_code rc;
    if (s == SQLITE_ROW)
        rc = row_read(q, r, err);
    else if (s == SQLITE_DONE)
        rc = st_err_set(err, ST_E_NOTFOUND, "no dataset named \"%s\"", name);
    else
        rc = st_catalog_fail(ws, "select dataset", err);
    st_catalog_finish(ws, q);
    if (rc)
        drow_free(r);
    return rc;
}

static ST_MUST_CHECK st_code file_path(st_workspace *ws, const char *file,
                                       char *out, size_t cap, st_err *err)
{
    return st_workspace_path(ws, "datasets", file, out, cap, err);
}

/* ---- digests of an encrypted file ------------------------------------ */

typedef struct digests {
    uint64_t size;
    uint8_t file[32], header[32], payload[32];
} digests;

static ST_MUST_CHECK st_code file_digests(const char *path, digests *d,
                                          st_err *err)
{
    st_age_header h;
    memset(&h, 0, sizeof(h));
    st_code rc = st_age_inspect_file(path, &h, err);
    if (rc)
        return st_err_prefix(err, "%s", path);
    size_t hlen = h.len;
    st_age_header_clear(&h);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "open %s", path);
    st_sha256_ctx *fc = st_sha256_new(), *hc = st_sha256_new(),
                  *pc = st_sha256_new();
    uint8_t *buf = malloc(1 << 20);
    uint64_t off = 0;
    rc = (fc && hc && pc && buf) ? ST_OK
                                 : st_err_set(err, ST_E_IO, "out of memory");
    while (!rc) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = st_err_errno(err, ST_E_IO, errno, "read %s", path);
            break;
        }
        if (n == 0)
            break;
        st_sha256_update(fc, buf, (size_t)n);
        size_t inh = off < hlen ? (size_t)(hlen - off) : 0;
        if (inh > (size_t)n)
            inh = (size_t)n;
        st_sha256_update(hc, buf, inh);
        st_sha256_update(pc, buf + inh, (size_t)n - inh);
        off += (uint64_t)n;
    }
    if (!rc) {
        d->size = off;
        st_sha256_final(fc, d->file);
        st_sha256_final(hc, d->header);
        st_sha256_final(pc, d->payload);
    }
    st_sha256_free(fc);
    st_sha256_free(hc);
    st_sha256_free(pc);
    free(buf);
    close(fd);
    return rc;
}

/* ---- manifests and signatures ---------------------------------------- */

/* The owner's signing key: the one registered with access control when
 * the owner is a principal (*registered = 1), else `fallback` (the key
 * recorded at import: trust on first use, for workspaces that have no
 * principals yet). */
static ST_MUST_CHECK st_code owner_key(st_workspace *ws, const char *owner,
                                       const uint8_t *fallback, uint8_t pub[32],
                                       int *registered, st_err *err)
{
    st_principal p;
    memset(&p, 0, sizeof(p));
    st_err e2;
    *registered = 0;
    st_code rc = st_access_principal_get(ws, owner, &p, &e2);
    if (rc == ST_OK) {
        rc = p.signing_key
                 ? st_ed25519_parse_public_pem(p.signing_key,
                                               strlen(p.signing_key), pub, err)
                 : st_err_set(err, ST_E_INPUT,
                              "principal %s has no signing key", owner);
        st_principal_free(&p);
        *registered = rc == ST_OK;
        return rc;
    }
    int64_t n = 0;
    if (st_access_principal_count(ws, &n, &e2) == ST_OK && n > 0)
        return st_err_set(err, ST_E_DENIED,
                          "owner \"%s\" is not a registered principal", owner);
    if (!fallback)
        return st_err_set(err, ST_E_DENIED, "owner \"%s\" has no key", owner);
    memcpy(pub, fallback, 32);
    return ST_OK;
}

static ST_MUST_CHECK st_code sign_manifest(const st_dataset_manifest *m,
                                           const uint8_t *seed, char **envelope,
                                           char keyid[65], uint8_t pub[32],
                                           st_err *err)
{
    size_t len;
    char *body = st_dataset_manifest_encode(m, &len, err);
    if (!body)
        return err ? err->code : ST_E_INTERNAL;
    json_t *env = st_dsse_sign(ST_DSSE_TYPE_MANIFEST, (const uint8_t *)body,
                               len, seed, err);
    free(body);
    if (!env)
        return err ? err->code : ST_E_INTERNAL;
    st_code rc = st_ed25519_public(seed, pub, err);
    if (!rc) {
        st_dsse_keyid(pub, keyid);
        *envelope = st_json_canonical(env, &len, err);
        if (!*envelope)
            rc = err ? err->code : ST_E_INTERNAL;
    }
    json_decref(env);
    return rc;
}

/* Verifies a row's envelope under its registered signer key and parses
 * the manifest; checks that it describes this row. */
static ST_MUST_CHECK st_code verify_manifest_at(st_workspace *ws, const drow *r,
                                                st_dataset_manifest *m,
                                                int *sig_ok, st_err *err)
{
    *sig_ok = 0;
    uint8_t key[32];
    int registered;
    st_code rc = owner_key(ws, r->owner, r->signer_pub, key, &registered, err);
    if (rc)
        return st_err_prefix(err, "dataset \"%s\"", r->name);
    uint8_t *payload = NULL;
    size_t len, mlen = strlen(r->manifest);
    const uint8_t(*pubs)[32] = (const uint8_t(*)[32])key;
    if (!st_dsse_remembered(r->manifest, mlen, ST_DSSE_TYPE_MANIFEST, pubs, 1,
                            &payload, &len, NULL)) {
        json_t *env = st_json_parse(r->manifest, mlen, "manifest", err);
        if (!env)
            return st_err_prefix(err, "dataset \"%s\": manifest envelope",
                                 r->name);
        rc = st_dsse_verify(env, ST_DSSE_TYPE_MANIFEST, pubs, 1, &payload, &len,
                            NULL, err);
        json_decref(env);
        if (rc == ST_OK)
            st_dsse_remember(r->manifest, mlen, ST_DSSE_TYPE_MANIFEST, pubs, 1,
                             payload, len, 0);
    }
    if (rc) {
        st_err_prefix(err,
                      "dataset \"%s\": the manifest signature does not "
                      "verify under the %s key of owner %s",
                      r->name, registered ? "registered" : "recorded",
                      r->owner);
        if (err)
            err->code = ST_E_DENIED;
        return ST_E_DENIED;
    }
    *sig_ok = 1;
    rc = st_dataset_manifest_parse((const char *)payload, len, m, err);
    free(payload);
    if (rc)
        return st_err_prefix(err, "dataset \"%s\"", r->name);
    char file[128];
    snprintf(file, sizeof(file), "%s-g%lld.age", m->id, m->generation);
    if (strcmp(m->name, r->name) || strcmp(m->id, r->id) ||
        strcmp(m->owner, r->owner) || m->generation != r->generation ||
        strcmp(file, r->file) || strcmp(m->kek_name, r->kek_name) ||
        m->kek_version != r->kek_version) {
        st_dataset_manifest_free(m);
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\": the signed manifest does not "
                          "match the catalog record (name, id, owner, "
                          "generation, file or KEK differ)",
                          r->name);
    }
    return ST_OK;
}

static ST_MUST_CHECK st_code verify_manifest(st_workspace *ws, const drow *r,
                                             st_dataset_manifest *m,
                                             st_err *err)
{
    int sig_ok;
    return verify_manifest_at(ws, r, m, &sig_ok, err);
}

static ST_MUST_CHECK st_code check_file(st_workspace *ws, const drow *r,
                                        const st_dataset_manifest *m,
                                        char *path, size_t cap, st_err *err)
{
    st_code rc = file_path(ws, r->file, path, cap, err);
    if (rc)
        return rc;
    digests d;
    rc = file_digests(path, &d, err);
    if (rc) {
        st_err_prefix(err, "dataset \"%s\": encrypted file", r->name);
        if (rc != ST_E_INPUT)
            return rc;
        /* a header that no longer parses is an integrity failure */
        if (err)
            err->code = ST_E_DENIED;
        return ST_E_DENIED;
    }
    if (d.size != m->file_size || !st_ct_equal(d.file, m->file_sha256, 32))
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\": the encrypted file %s does not "
                          "match the digest in its signed manifest "
                          "(modified, truncated or replaced)",
                          r->name, path);
    return ST_OK;
}

static void audit(st_workspace *ws, const char *actor, const char *action,
                  const char *name, const char *outcome, const char *reason,
                  json_t *details)
{
    char res[128];
    snprintf(res, sizeof(res), "dataset:%s", name);
    st_audit_event ev = {
        "operation", actor ? actor : "system", action, res, outcome, reason,
        details};
    st_err e;
    if (st_audit_append(ws, &ev, &e))
        st_warn("data.audit", "audit append failed: %s", e.msg);
}

/* ---- import ---------------------------------------------------------- */

typedef struct enc_sink {
    st_age_writer *w;
} enc_sink;

static ST_MUST_CHECK st_code to_age(void *ctx, const uint8_t *p, size_t n,
                                    st_err *err)
{
    return st_age_writer_write(((enc_sink *)ctx)->w, p, n, err);
}

static void now_text(char out[40])
{
    char t[ST_TIME_LEN];
    st_time_format(time(NULL), t);
    snprintf(out, 40, "%s", t);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Builds recipients: the KEK stanza (wrapped by `wrap`: the keyring here,
 * the server's keyring for a client-side encryption) and the X25519
 * recovery stanzas. */
static ST_MUST_CHECK st_code make_recipients(st_age_kek_wrap_fn wrap,
                                             void *wctx, const char *kek,
                                             char *const *age1, size_t n,
                                             st_age_recipient **out,
                                             st_err *err)
{
    st_age_recipient *rc = calloc(n + 1, sizeof(*rc));
    if (!rc)
        return st_err_set(err, ST_E_IO, "out of memory");
    st_code c = st_age_kek_recipient(kek, 0, wrap, wctx, &rc[0], err);
    for (size_t i = 0; !c && i < n; i++) {
        c = st_age_x25519_recipient(age1[i], &rc[i + 1], err);
        if (c)
            st_err_prefix(err, "recipient %zu", i + 1);
    }
    if (c) {
        for (size_t i = 0; i <= n; i++)
            st_age_recipient_clear(&rc[i]);
        free(rc);
        return c;
    }
    *out = rc;
    return ST_OK;
}

/* Pass 2 and what the manifest says about its result: converts the
 * scanned input chunk by chunk into the age file `path` (written
 * atomically) for `rcpts`, then fills the manifest's source, schema,
 * plaintext and encrypted-file fields (schema strings borrowed from sc).
 * *committed is set to 1 once the file exists. */
static ST_MUST_CHECK st_code encrypt_input(const st_data_input *in,
                                           const st_data_schema *sc,
                                           const st_age_recipient *rcpts,
                                           size_t nrcpts, const char *path,
                                           st_data_progress progress,
                                           void *pctx, st_dataset_manifest *m,
                                           int *committed, st_err *err)
{
    st_age_writer *w = NULL;
    st_code rc = st_age_writer_new_file(path, 0600, rcpts, nrcpts,
                                        ST_AGE_ARMOR_NO, &w, err);
    if (rc)
        return rc;
    enc_sink es = {w};
    uint64_t plain_size;
    rc = st_data_convert(in, sc, to_age, &es, progress, pctx, &plain_size,
                         m->plain_sha256, err);
    if (rc) {
        st_age_writer_abort(w);
        return rc;
    }
    if ((rc = st_age_writer_finish(w, err)))
        return rc;
    *committed = 1;
    digests d;
    if ((rc = file_digests(path, &d, err)))
        return rc;
    snprintf(m->source_format, sizeof(m->source_format), "%s",
             st_data_format_name(in->format));
    snprintf(m->source_file, sizeof(m->source_file), "%s", base_name(in->path));
    m->rows = sc->rows;
    m->cols = sc->cols;
    m->classes = sc->classes;
    m->labels_mapped = sc->labels_mapped;
    m->regression = sc->task == ST_TASK_REGRESSION;
    m->targets = sc->targets;
    m->label_name = sc->label_name; /* borrowed from the schema */
    m->feature_names = sc->feature_names;
    m->target_names = sc->target_names;
    m->plain_size = plain_size;
    m->file_size = d.size;
    memcpy(m->file_sha256, d.file, 32);
    memcpy(m->header_sha256, d.header, 32);
    memcpy(m->payload_sha256, d.payload, 32);
    return ST_OK;
}

static void free_recipients(st_age_recipient *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++)
        st_age_recipient_clear(&r[i]);
    free(r);
}

static ST_MUST_CHECK st_code ensure_kek(st_keyring *kr, const char *name,
                                        st_err *err)
{
    uint32_t v;
    st_err e2;
    st_code rc = st_kek_current(kr, name, &v, &e2);
    if (rc == ST_E_NOTFOUND) {
        rc = st_kek_create(kr, name, 0, err);
        if (!rc)
            st_info("data.kek", "created KEK %s for the owner", name);
        return rc;
    }
    if (rc && err)
        *err = e2;
    return rc;
}

static ST_MUST_CHECK st_code insert_row(st_workspace *ws, const drow *r,
                                        const char *env, st_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(
            st_workspace_db(ws),
            "INSERT INTO datasets (name, id, owner, generation, file, "
            "kek_name, kek_version, shred_key, signer_keyid, signer_pub, "
            "manifest, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "insert dataset", err);
    sqlite3_bind_text(q, 1, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, r->owner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, r->generation);
    sqlite3_bind_text(q, 5, r->file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, r->kek_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 7, r->kek_version);
    sqlite3_bind_blob(q, 8, st_secret_cbytes(r->shred), SHRED_LEN,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 9, r->signer_keyid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(q, 10, r->signer_pub, 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 11, env, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 12, r->created, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 13, r->updated, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    if (s == SQLITE_CONSTRAINT)
        return st_err_set(err, ST_E_EXISTS, "a dataset named \"%s\" exists",
                          r->name);
    if (s != SQLITE_DONE)
        return st_catalog_fail(ws, "insert dataset", err);
    return ST_OK;
}

/* Switches a row to a new generation, only if it is still at `old_gen`. */
static ST_MUST_CHECK st_code update_row(st_workspace *ws, const drow *r,
                                        long long old_gen, const char *env,
                                        st_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(
            st_workspace_db(ws),
            "UPDATE datasets SET generation = ?, file = ?, kek_version = ?, "
            "shred_key = ?, manifest = ?, updated = ? "
            "WHERE name = ? AND generation = ?",
            -1, &q, NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "update dataset", err);
    sqlite3_bind_int64(q, 1, r->generation);
    sqlite3_bind_text(q, 2, r->file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, r->kek_version);
    sqlite3_bind_blob(q, 4, st_secret_cbytes(r->shred), SHRED_LEN,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, env, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, r->updated, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 7, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 8, old_gen);
    int s = sqlite3_step(q);
    sqlite3_finalize(q);
    if (s != SQLITE_DONE)
        return st_catalog_fail(ws, "update dataset", err);
    if (sqlite3_changes(st_workspace_db(ws)) != 1)
        return st_err_set(err, ST_E_IO,
                          "dataset \"%s\" changed while being updated",
                          r->name);
    return ST_OK;
}

/* What every new dataset needs, whether imported here or encrypted on a
 * client for upload: valid names and a known classification. */
static ST_MUST_CHECK st_code check_identity(const char *name, const char *owner,
                                            const char *classification,
                                            st_err *err)
{
    st_code rc;
    if ((rc = st_dataset_check_name("dataset name", name, err)) ||
        (rc = st_dataset_check_name("owner", owner, err)))
        return rc;
    if (st_dataset_classification_rank(classification) < 0)
        return st_err_set(err, ST_E_USAGE,
                          "classification must be public, internal, "
                          "confidential or restricted");
    return ST_OK;
}

/* After a new dataset's row is in: records its owner with access control
 * (when `owner` is not NULL; a failure there is a warning, the dataset
 * stands), and the owner as the owner of its KEK `kek` when that has none
 * yet (docs/keys.md: a data owner's KEKs are theirs), and, when `out` is
 * not NULL, reads back its verified manifest. */
static ST_MUST_CHECK st_code just_added(st_workspace *ws, const char *name,
                                        const char *kek, const char *owner,
                                        const char *action,
                                        st_dataset_manifest *out, st_err *err)
{
    if (owner) {
        char res[128], cur[ST_PRINCIPAL_NAME_MAX];
        st_err e;
        snprintf(res, sizeof(res), "dataset:%s", name);
        if (st_access_set_owner(ws, res, owner, &e))
            st_warn(action, "recording the owner of %s: %s", res, e.msg);
        snprintf(res, sizeof(res), "key:%s", kek);
        if (!st_kek_name_is_system(kek) &&
            st_access_get_owner(ws, res, cur, sizeof(cur), NULL) ==
                ST_E_NOTFOUND &&
            st_access_set_owner(ws, res, owner, &e))
            st_warn(action, "recording the owner of %s: %s", res, e.msg);
    }
    if (!out)
        return ST_OK;
    drow chk;
    st_code rc = row_get(ws, name, &chk, err);
    if (rc == ST_OK) {
        rc = verify_manifest(ws, &chk, out, err);
        drow_free(&chk);
    }
    return rc;
}

st_code st_dataset_import(st_workspace *ws, st_keyring *kr,
                          const st_dataset_import_opts *o,
                          st_dataset_manifest *out, st_err *err)
{
    st_code rc;
    if ((rc = check_identity(o->name, o->owner, o->classification, err)))
        return rc;
    if (!o->signing_seed)
        return st_err_set(err, ST_E_USAGE,
                          "importing needs the owner's Ed25519 signing key");
    if (o->broker_url &&
        ((rc = st_dataset_check_broker_url(o->broker_url, err)) ||
         !o->broker_spki_sha256))
        return rc ? rc
                  : st_err_set(err, ST_E_USAGE,
                               "a broker URL needs the pin of its TLS key");
    char kek[65];
    if (o->kek)
        snprintf(kek, sizeof(kek), "%s", o->kek);
    else
        snprintf(kek, sizeof(kek), "owner.%s", o->owner);
    for (char *c = kek; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');

    dlock lk;
    st_data_schema sc;
    memset(&sc, 0, sizeof(sc));
    st_age_recipient *rcpts = NULL;
    drow r;
    memset(&r, 0, sizeof(r));
    st_dataset_manifest m;
    memset(&m, 0, sizeof(m));
    char path[4200] = "", *env = NULL;
    int committed_file = 0;
    int committed = 0; /* the success entry is the transaction's */

    if ((rc = lock_and_sweep(ws, &lk, err)))
        goto out;
    drow exist;
    st_err e2;
    if (row_get(ws, o->name, &exist, &e2) == ST_OK) {
        drow_free(&exist);
        rc = st_err_set(err, ST_E_EXISTS,
                        "a dataset named \"%s\" exists (remove it first "
                        "with `sealtrain data rm`)",
                        o->name);
        goto out;
    }
    int registered = 0;
    {
        uint8_t pub[32], key[32];
        if ((rc = st_ed25519_public(o->signing_seed, pub, err)) ||
            (rc = owner_key(ws, o->owner, pub, key, &registered, err)))
            goto out;
        if (!st_ct_equal(pub, key, 32)) {
            rc = st_err_set(err, ST_E_DENIED,
                            "the signing key is not the registered key of "
                            "owner %s",
                            o->owner);
            goto out;
        }
    }
    if ((rc = ensure_kek(kr, kek, err)))
        goto out;
    /* pass 1: validate everything before anything is written */
    if ((rc = st_data_scan(&o->input, &sc, o->progress, o->pctx, err)))
        goto out;

    uint8_t idb[16];
    r.shred = st_secret_new(SHRED_LEN, err);
    if (!r.shred || (rc = st_random(idb, sizeof(idb), err)) ||
        (rc = st_random(st_secret_bytes(r.shred), SHRED_LEN, err))) {
        rc = rc ? rc : (err ? err->code : ST_E_IO);
        goto out;
    }
    st_hex_encode(idb, 16, r.id);
    snprintf(r.name, sizeof(r.name), "%s", o->name);
    snprintf(r.owner, sizeof(r.owner), "%s", o->owner);
    snprintf(r.kek_name, sizeof(r.kek_name), "%s", kek);
    r.generation = 1;
    snprintf(r.file, sizeof(r.file), "%s-g1.age", r.id);
    now_text(r.created);
    memcpy(r.updated, r.created, sizeof(r.created));
    if ((rc = file_path(ws, r.file, path, sizeof(path), err)))
        goto out;

    kek_ctx k = {kr, st_secret_cbytes(r.shred), 0, NULL};
    if ((rc = make_recipients(kek_wrap, &k, kek, (char *const *)o->recipients,
                              o->nrecipients, &rcpts, err)) ||
        (rc = encrypt_input(&o->input, &sc, rcpts, o->nrecipients + 1, path,
                            o->progress, o->pctx, &m, &committed_file, err)))
        goto out;
    r.kek_version = k.used;
    snprintf(m.name, sizeof(m.name), "%s", r.name);
    snprintf(m.id, sizeof(m.id), "%s", r.id);
    m.generation = 1;
    snprintf(m.owner, sizeof(m.owner), "%s", r.owner);
    snprintf(m.created, sizeof(m.created), "%s", r.created);
    snprintf(m.updated, sizeof(m.updated), "%s", r.updated);
    snprintf(m.classification, sizeof(m.classification), "%s",
             o->classification);
    m.retention_days = o->retention_days > 0 ? o->retention_days : -1;
    snprintf(m.kek_name, sizeof(m.kek_name), "%s", kek);
    m.kek_version = r.kek_version;
    m.recipients = (char **)o->recipients;
    m.nrecipients = o->nrecipients;
    if (o->broker_url) {
        snprintf(m.broker_url, sizeof(m.broker_url), "%s", o->broker_url);
        memcpy(m.broker_spki_sha256, o->broker_spki_sha256, 32);
    }
    rc = sign_manifest(&m, o->signing_seed, &env, r.signer_keyid, r.signer_pub,
                       err);
    m.label_name = NULL;
    m.feature_names = NULL;
    m.target_names = NULL;
    m.recipients = NULL;
    m.nrecipients = 0;
    if (rc)
        goto out;
    {
        /* the row, read back and verified, and its entry: one transaction */
        char res[128];
        snprintf(res, sizeof(res), "dataset:%s", r.name);
        json_t *det = json_pack("{s:s, s:s}", "owner", o->owner,
                                "classification", o->classification);
        st_audit_event ev = {
            "operation", o->owner, "data.import", res, "success", NULL, det};
        int64_t entry = 0;
        int unknown = 0;
        if (!det)
            rc = st_err_errno(err, ST_E_IO, ENOMEM, "audit entry");
        else if (!(rc = st_audit_txn_begin(ws, err))) {
            if ((rc = insert_row(ws, &r, env, err)) ||
                (rc = just_added(ws, r.name, NULL, NULL, "data.import", out,
                                 err)) ||
                (rc = st_audit_txn_event(ws, &ev, &entry, err)))
                st_audit_txn_rollback(ws);
            else if ((rc = st_audit_txn_commit(ws, &unknown, err)) == ST_OK)
                committed = 1;
        }
        json_decref(det);
        if (rc == ST_OK || unknown)
            committed_file = 2; /* a row names it, or may after recovery */
        if (unknown)
            commit_unknown = 1;
        if (rc == ST_OK)
            rc = st_audit_txn_deliver(ws, entry, err);
    }
    /* access control knows a registered owner: record the ownership */
    if (committed)
        st_discard(just_added(ws, r.name, r.kek_name,
                              registered ? r.owner : NULL, "data.import", NULL,
                              NULL)); /* warns */
out:
    if (committed_file == 1)
        unlink(path); /* encrypted, but no row names it */
    free_recipients(rcpts, o->nrecipients + 1);
    st_data_schema_free(&sc);
    st_dataset_manifest_free(&m);
    if (!committed) {
        json_t *det = json_pack("{s:s, s:s}", "owner", o->owner,
                                "classification", o->classification);
        audit(ws, o->owner, "data.import", o->name, "failure",
              err ? err->msg : NULL, det);
        json_decref(det);
    }
    drow_free(&r);
    free(env);
    unlock(&lk);
    return rc;
}

/* ---- records and verification ---------------------------------------- */

static ST_MUST_CHECK st_code record_from_row(st_workspace *ws, drow *r,
                                             st_dataset_record *out,
                                             st_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *env =
        st_json_parse(r->manifest, strlen(r->manifest), "manifest", err);
    uint8_t *payload = NULL;
    size_t len = 0;
    st_code rc = env ? st_dsse_payload(env, &payload, &len, err)
                     : (err ? err->code : ST_E_INPUT);
    json_decref(env);
    if (!rc)
        rc =
            st_dataset_manifest_parse((const char *)payload, len, &out->m, err);
    free(payload);
    if (rc)
        return st_err_prefix(err, "dataset \"%s\"", r->name);
    out->envelope = r->manifest;
    r->manifest = NULL;
    snprintf(out->signer_keyid, sizeof(out->signer_keyid), "%s",
             r->signer_keyid);
    return file_path(ws, r->file, out->path, sizeof(out->path), err);
}

/* The row of dataset `name`, the catalog migrated first. */
static ST_MUST_CHECK st_code row_load(st_workspace *ws, const char *name,
                                      drow *r, st_err *err)
{
    st_code rc = migrate(ws, err);
    return rc ? rc : row_get(ws, name, r, err);
}

st_code st_dataset_get(st_workspace *ws, const char *name,
                       st_dataset_record *out, st_err *err)
{
    drow r;
    st_code rc = row_load(ws, name, &r, err);
    if (rc)
        return rc;
    rc = record_from_row(ws, &r, out, err);
    drow_free(&r);
    if (rc)
        st_dataset_record_free(out);
    return rc;
}

st_code st_dataset_owner_key(st_workspace *ws, const char *name,
                             char owner[ST_DATASET_NAME_MAX + 1], char id[33],
                             uint8_t pub[32], st_err *err)
{
    drow r;
    st_code rc = row_load(ws, name, &r, err);
    if (rc)
        return rc;
    int registered;
    rc = owner_key(ws, r.owner, r.signer_pub, pub, &registered, err);
    if (rc == ST_OK) {
        snprintf(owner, ST_DATASET_NAME_MAX + 1, "%s", r.owner);
        snprintf(id, 33, "%s", r.id);
    } else
        st_err_prefix(err, "dataset \"%s\"", name);
    drow_free(&r);
    return rc;
}

st_code st_dataset_manifest_verified(st_workspace *ws, const char *name,
                                     st_dataset_manifest *m, st_err *err)
{
    memset(m, 0, sizeof(*m));
    drow r;
    st_code rc = row_load(ws, name, &r, err);
    if (rc)
        return rc;
    rc = verify_manifest(ws, &r, m, err);
    drow_free(&r);
    return rc;
}

st_code st_dataset_list(st_workspace *ws, st_dataset_record **out, size_t *n,
                        st_err *err)
{
    *out = NULL;
    *n = 0;
    st_code rc = migrate(ws, err);
    if (rc)
        return rc;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st_workspace_db(ws),
                           "SELECT name FROM datasets ORDER BY name", -1, &q,
                           NULL) != SQLITE_OK)
        return st_catalog_fail(ws, "list datasets", err);
    size_t cap = 0;
    while (!rc && sqlite3_step(q) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            st_dataset_record *nr = realloc(*out, cap * sizeof(*nr));
            if (!nr) {
                rc = st_err_set(err, ST_E_IO, "out of memory");
                break;
            }
            *out = nr;
        }
        rc = st_dataset_get(ws, (const char *)sqlite3_column_text(q, 0),
                            &(*out)[*n], err);
        if (!rc)
            (*n)++;
    }
    sqlite3_finalize(q);
    if (rc) {
        st_dataset_records_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void st_dataset_record_free(st_dataset_record *r)
{
    if (!r)
        return;
    st_dataset_manifest_free(&r->m);
    free(r->envelope);
    memset(r, 0, sizeof(*r));
}

void st_dataset_records_free(st_dataset_record *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        st_dataset_record_free(&r[i]);
    free(r);
}

/* Checks the header: exactly one sealtrain-kek stanza, for the
 * manifest's KEK and version, and one X25519 stanza per recipient. */
/* The header's stanzas are the ones the signed manifest describes. */
static ST_MUST_CHECK st_code check_stanzas(const st_age_header *hp,
                                           const st_dataset_manifest *m,
                                           st_err *err)
{
    const st_age_header h = *hp;
    st_code rc = ST_OK;
    size_t nkek = 0, nx = 0;
    for (size_t i = 0; i < h.nstanzas; i++) {
        const st_age_stanza *s = &h.stanzas[i];
        if (!strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK)) {
            const char *name;
            uint32_t v;
            if (st_age_kek_stanza_parse(s, &name, &v, NULL) ||
                strcmp(name, m->kek_name) || v != m->kek_version)
                rc = st_err_set(err, ST_E_DENIED,
                                "dataset \"%s\": the sealtrain-kek stanza "
                                "does not name KEK %s version %u",
                                m->name, m->kek_name, m->kek_version);
            nkek++;
        } else if (!strcmp(s->args[0], ST_AGE_STANZA_X25519)) {
            nx++;
        }
    }
    if (!rc && (nkek != 1 || nx != m->nrecipients))
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": the header has %zu sealtrain-kek "
                        "and %zu X25519 stanzas, expected 1 and %zu",
                        m->name, nkek, nx, m->nrecipients);
    return rc;
}

static ST_MUST_CHECK st_code check_header(const char *path,
                                          const st_dataset_manifest *m,
                                          st_err *err)
{
    st_age_header h;
    memset(&h, 0, sizeof(h));
    st_code rc = st_age_inspect_file(path, &h, err);
    if (rc)
        return st_err_prefix(err, "dataset \"%s\": header", m->name);
    rc = check_stanzas(&h, m, err);
    st_age_header_clear(&h);
    return rc;
}

/* Largest header the release path reads: far beyond any recipient list a
 * manifest allows, small enough to read on every release. */
#define RELEASE_HEADER_MAX (1u << 20)

/* The key release's file check: the size and the header bytes (stanzas
 * and MAC) against the signed manifest, parsed from the very bytes that
 * were hashed, so the stanza unwrapped is the one the owner signed. The
 * payload is not re-hashed here: it is authenticated chunk by chunk
 * (ChaCha20-Poly1305 under a payload key derived from the file key and
 * the payload nonce) and the runtime checks the plaintext against the
 * manifest's plain_sha256, so a payload changed after release fails the
 * job in the runtime; `data verify` still hashes the whole file. */
static ST_MUST_CHECK st_code release_header(st_workspace *ws, const drow *r,
                                            const st_dataset_manifest *m,
                                            st_age_header *h, st_err *err)
{
    char path[4200];
    st_code rc = file_path(ws, r->file, path, sizeof(path), err);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "open %s", path);
    struct stat sb;
    if (fstat(fd, &sb)) {
        rc = st_err_errno(err, ST_E_IO, errno, "stat %s", path);
        close(fd);
        return rc;
    }
    if ((uint64_t)sb.st_size != m->file_size) {
        close(fd);
        return st_err_set(err, ST_E_DENIED,
                          "dataset \"%s\": the encrypted file %s does not "
                          "match the size in its signed manifest (modified, "
                          "truncated or replaced)",
                          r->name, path);
    }
    size_t want = m->file_size < RELEASE_HEADER_MAX ? (size_t)m->file_size
                                                    : RELEASE_HEADER_MAX;
    uint8_t *buf = malloc(want ? want : 1);
    size_t got = 0;
    rc = buf ? ST_OK : st_err_set(err, ST_E_IO, "out of memory");
    while (!rc && got < want) {
        ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = st_err_errno(err, ST_E_IO, errno, "read %s", path);
        else if (n == 0)
            break;
        else
            got += (size_t)n;
    }
    close(fd);
    uint8_t dig[32];
    if (!rc && st_age_header_parse(buf, got, h, NULL, err)) {
        st_err_prefix(err, "dataset \"%s\": header of %s", r->name, path);
        /* a header that no longer parses is an integrity failure */
        if (err)
            err->code = ST_E_DENIED;
        rc = ST_E_DENIED;
    }
    if (!rc) {
        st_sha256(buf, h->len, dig);
        if (!st_ct_equal(dig, m->header_sha256, 32))
            rc = st_err_set(err, ST_E_DENIED,
                            "dataset \"%s\": the header of %s does not "
                            "match the digest in its signed manifest "
                            "(modified or replaced)",
                            r->name, path);
    }
    if (!rc)
        rc = check_stanzas(h, m, err);
    if (rc)
        st_age_header_clear(h);
    free(buf);
    return rc;
}

/* Decrypts into secure memory with `ids`; checks hash and shape. */
static ST_MUST_CHECK st_code decrypt_check(
    int fd, const char *path, const st_age_identity *ids, size_t nids,
    const uint8_t sha[32], const st_dataset_manifest *m, void **plain,
    size_t *len, st_tensor_view *v, st_dataset_check *chk, st_err *err)
{
    st_age_decrypt_opts o = {ids, nids, ST_AGE_ARMOR_NO, 0, path};
    st_age_result res = {0};
    *plain = NULL;
    /* fd >= 0: the sandboxed runtime, which cannot open paths */
    /* the plaintext digest comes from the decryption workers, hashed in
     * order while they decrypt (no second pass over the data) */
    uint8_t got[32];
    st_code rc =
        st_age_decrypt_secmem_sha256(fd, path, &o, plain, len, got, &res, err);
    if (rc) {
        if (chk)
            chk->decrypt = 0;
        st_err_prefix(err, "decryption failed (%s)",
                      st_age_fail_name(res.fail));
        if (rc != ST_E_INPUT)
            return rc;
        if (err)
            err->code = ST_E_DENIED; /* the file's integrity failed */
        return ST_E_DENIED;
    }
    if (chk)
        chk->decrypt = 1;
    if (!st_ct_equal(got, sha, 32)) {
        if (chk)
            chk->plaintext = 0;
        rc = st_err_set(err, ST_E_DENIED,
                        "the plaintext SHA-256 does not match the manifest");
    } else {
        if (chk)
            chk->plaintext = 1;
        rc = st_tensor_parse(*plain, *len, v, err);
        if (!rc && m &&
            (v->rows != m->rows || v->cols != m->cols ||
             v->classes != m->classes || v->targets != m->targets ||
             *len != m->plain_size))
            rc = st_err_set(err, ST_E_DENIED,
                            "the tensor shape does not match the manifest");
        if (chk)
            chk->schema = rc == ST_OK;
    }
    if (rc) {
        st_secmem_free(*plain);
        *plain = NULL;
    }
    return rc;
}

st_code st_dataset_verify(st_workspace *ws, st_keyring *kr, const char *name,
                          int deep, st_dataset_check *chk, st_err *err)
{
    st_dataset_check local;
    if (!chk)
        chk = &local;
    chk->signature = chk->manifest = chk->file_digest = chk->header = -1;
    chk->decrypt = chk->plaintext = chk->schema = -1;
    drow r;
    st_dataset_manifest m;
    memset(&m, 0, sizeof(m));
    st_code rc = migrate(ws, err);
    if (!rc)
        rc = row_get(ws, name, &r, err);
    if (rc)
        return rc;
    char path[4200];
    int sig_ok;
    rc = verify_manifest_at(ws, &r, &m, &sig_ok, err);
    chk->signature = sig_ok;
    chk->manifest = rc == ST_OK ? 1 : sig_ok ? 0 : -1;
    if (rc)
        goto out;
    rc = check_file(ws, &r, &m, path, sizeof(path), err);
    chk->file_digest = rc == ST_OK;
    if (rc)
        goto out;
    rc = check_header(path, &m, err);
    chk->header = rc == ST_OK;
    if (rc || !deep)
        goto out;
    if (!kr) {
        rc = st_err_set(err, ST_E_USAGE, "a deep verify needs the keyring");
        goto out;
    }
    kek_ctx k = {kr, st_secret_cbytes(r.shred), 0, NULL};
    st_age_identity id;
    if ((rc = st_age_kek_identity(r.kek_name, kek_unwrap, &k, &id, err)))
        goto out;
    void *plain;
    size_t len;
    st_tensor_view v;
    rc = decrypt_check(-1, path, &id, 1, m.plain_sha256, &m, &plain, &len, &v,
                       chk, err);
    st_age_identity_clear(&id);
    if (!rc)
        st_secmem_free(plain);
    if (rc)
        st_err_prefix(err, "dataset \"%s\"", name);
out:
    if (rc) {
        json_t *det = json_pack("{s:b}", "deep", deep);
        audit(ws, NULL, "data.verify", name, "failure", err ? err->msg : "",
              det);
        json_decref(det);
    }
    st_dataset_manifest_free(&m);
    drow_free(&r);
    return rc;
}

/* ---- rewrap and re-encryption ----------------------------------------- */

/* Loads and verifies a dataset for a change; the signer must be the one
 * registered. */
static ST_MUST_CHECK st_code load_verified(st_workspace *ws, const char *name,
                                           const uint8_t *seed, drow *r,
                                           st_dataset_manifest *m, char *path,
                                           size_t cap, st_err *err)
{
    st_code rc = row_get(ws, name, r, err);
    if (rc)
        return rc;
    if ((rc = verify_manifest(ws, r, m, err)) ||
        (rc = check_file(ws, r, m, path, cap, err))) {
        drow_free(r);
        return rc;
    }
    uint8_t pub[32], key[32];
    int registered;
    if (!seed)
        rc = st_err_set(err, ST_E_USAGE,
                        "re-signing the manifest needs the owner's signing "
                        "key");
    else if (!(rc = st_ed25519_public(seed, pub, err)) &&
             !(rc = owner_key(ws, r->owner, r->signer_pub, key, &registered,
                              err)) &&
             !st_ct_equal(pub, key, 32))
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": the given signing key is not the "
                        "key of its owner %s",
                        name, r->owner);
    if (rc) {
        st_dataset_manifest_free(m);
        drow_free(r);
    }
    return rc;
}

/* The row's next generation and the path of its (new) file, npath. */
static ST_MUST_CHECK st_code next_generation(st_workspace *ws, drow *r,
                                             char *npath, size_t cap,
                                             st_err *err)
{
    r->generation++;
    snprintf(r->file, sizeof(r->file), "%s-g%lld.age", r->id, r->generation);
    return file_path(ws, r->file, npath, cap, err);
}

/* Signs the next generation of `m` (its file written at `path`) and
 * switches the row to it, in one transaction with the success entry of
 * `what` (the audit action) by `actor`, with `details` (borrowed, may be
 * NULL); then removes `old_path`, the file of the generation before, which
 * no row names any more. *kept: 0 nothing changed; 1 the COMMIT failed
 * and its outcome is decided at the next open; 2 committed (even when the
 * entry's delivery then failed). Unless 0, the caller keeps every file. */
static ST_MUST_CHECK st_code commit_generation(
    st_workspace *ws, drow *r, st_dataset_manifest *m, const char *path,
    const char *old_path, const uint8_t *seed, const char *what,
    const char *actor, json_t *details, int *kept, st_err *err)
{
    *kept = 0;
    int unknown = 0;
    now_text(r->updated);
    digests d;
    st_code rc = file_digests(path, &d, err);
    if (rc)
        return rc;
    m->file_size = d.size;
    memcpy(m->file_sha256, d.file, 32);
    memcpy(m->header_sha256, d.header, 32);
    memcpy(m->payload_sha256, d.payload, 32);
    m->generation = r->generation;
    m->kek_version = r->kek_version;
    snprintf(m->updated, sizeof(m->updated), "%s", r->updated);
    char *env = NULL, keyid[65];
    uint8_t pub[32];
    rc = sign_manifest(m, seed, &env, keyid, pub, err);
    char res[128];
    snprintf(res, sizeof(res), "dataset:%s", r->name);
    st_audit_event ev = {
        "operation", actor ? actor : "system", what, res, "success", NULL,
        details};
    int64_t entry = 0;
    if (!rc && !(rc = st_audit_txn_begin(ws, err))) {
        if ((rc = update_row(ws, r, r->generation - 1, env, err)) ||
            (rc = st_audit_txn_event(ws, &ev, &entry, err)))
            st_audit_txn_rollback(ws);
        else
            rc = st_audit_txn_commit(ws, &unknown, err);
    }
    free(env);
    if (rc) {
        *kept = unknown;
        if (unknown)
            commit_unknown = 1;
        return rc;
    }
    *kept = 2;
    unlink(old_path);
    st_info(what, "dataset %s: generation %lld -> %lld", r->name,
            r->generation - 1, r->generation);
    /* committed: a failed delivery leaves the entry for the next open */
    return st_audit_txn_deliver(ws, entry, err);
}

/* *changed: the row moved to a new generation (its entry is the
 * transaction's, even when the delivery failed). */
static ST_MUST_CHECK st_code rewrap_one(st_workspace *ws, st_keyring *kr,
                                        const char *name, const uint8_t *seed,
                                        const char *actor, int *changed,
                                        st_err *err)
{
    drow r;
    st_dataset_manifest m;
    char path[4200], npath[4200];
    *changed = 0;
    st_code rc = load_verified(ws, name, seed, &r, &m, path, sizeof(path), err);
    if (rc)
        return rc;
    uint32_t cur;
    int wrote = 0;
    st_age_identity id = {0};
    st_age_recipient add = {0};
    if ((rc = st_kek_current(kr, r.kek_name, &cur, err)))
        goto out;
    if (cur == r.kek_version)
        goto out; /* already current */
    kek_ctx k = {kr, st_secret_cbytes(r.shred), 0, NULL};
    uint8_t old_payload[32];
    memcpy(old_payload, m.payload_sha256, 32);
    if ((rc = next_generation(ws, &r, npath, sizeof(npath), err)) ||
        (rc = st_age_kek_identity(r.kek_name, kek_unwrap, &k, &id, err)) ||
        (rc = st_age_kek_recipient(r.kek_name, 0, kek_wrap, &k, &add, err)))
        goto out;
    st_age_rewrap rw = {&id, 1, keep_not_kek, NULL, &add, 1};
    st_age_result res = {0};
    rc = st_age_rewrap_file(path, npath, &rw, &res, err);
    if (rc)
        goto out;
    wrote = 1;
    r.kek_version = k.used;
    int kept = 0;
    rc = commit_generation(ws, &r, &m, npath, path, seed, "data.rewrap", actor,
                           NULL, &kept, err);
    if (kept == 2 && !st_ct_equal(old_payload, m.payload_sha256, 32))
        st_error("data.rewrap", "dataset %s: payload digest changed", name);
    /* committed (delivered or not), or perhaps committed: keep the file */
    if (kept)
        wrote = 0;
    if (kept == 2)
        *changed = 1;
out:
    if (wrote)
        unlink(npath);
    st_age_identity_clear(&id);
    st_age_recipient_clear(&add);
    st_dataset_manifest_free(&m);
    drow_free(&r);
    return rc;
}

st_code st_dataset_rewrap(st_workspace *ws, st_keyring *kr, const char *name,
                          const uint8_t *signing_seed, const char *actor,
                          int *changed, st_err *err)
{
    dlock lk;
    int ch = 0;
    st_code rc = lock_and_sweep(ws, &lk, err);
    if (!rc)
        rc = rewrap_one(ws, kr, name, signing_seed, actor, &ch, err);
    unlock(&lk);
    if (changed)
        *changed = ch;
    /* a change's success entry is its transaction's */
    if (rc && !ch)
        audit(ws, actor, "data.rewrap", name, "failure", err ? err->msg : NULL,
              NULL);
    return rc;
}

st_code st_dataset_reencrypt(st_workspace *ws, st_keyring *kr, const char *name,
                             const uint8_t *signing_seed, const char *actor,
                             st_err *err)
{
    dlock lk;
    drow r;
    st_dataset_manifest m;
    char path[4200], npath[4200] = "";
    st_code rc = lock_and_sweep(ws, &lk, err);
    if (rc) {
        unlock(&lk);
        return rc;
    }
    rc = load_verified(ws, name, signing_seed, &r, &m, path, sizeof(path), err);
    if (rc) {
        unlock(&lk);
        audit(ws, actor, "data.reencrypt", name, "failure",
              err ? err->msg : NULL, NULL);
        return rc;
    }
    st_secret *nshred = st_secret_new(SHRED_LEN, err);
    kek_ctx kold = {kr, st_secret_cbytes(r.shred), 0, NULL};
    kek_ctx knew = {kr, nshred ? st_secret_cbytes(nshred) : NULL, 0, NULL};
    st_age_identity id = {0};
    st_age_recipient *rcpts = NULL;
    st_age_writer *w = NULL;
    st_age_reader *rd = NULL;
    st_sha256_ctx *sha = st_sha256_new();
    uint8_t *buf = st_secmem_alloc(ST_AGE_CHUNK_LEN, err);
    int fd = -1, wrote = 0, kept = 0;
    if (!nshred || !buf || !sha) {
        rc = err && err->code ? err->code
                              : st_err_set(err, ST_E_IO, "out of memory");
        goto out;
    }
    if ((rc = st_random(st_secret_bytes(nshred), SHRED_LEN, err)))
        goto out;
    if ((rc = next_generation(ws, &r, npath, sizeof(npath), err)) ||
        (rc = st_age_kek_identity(r.kek_name, kek_unwrap, &kold, &id, err)) ||
        (rc = make_recipients(kek_wrap, &knew, r.kek_name, m.recipients,
                              m.nrecipients, &rcpts, err)))
        goto out;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "open %s", path);
        goto out;
    }
    st_age_decrypt_opts o = {&id, 1, ST_AGE_ARMOR_NO, 1, path};
    st_age_result res = {0};
    if ((rc = st_age_reader_open(fd, &o, &rd, &res, err)) ||
        (rc = st_age_writer_new_file(npath, 0600, rcpts, m.nrecipients + 1,
                                     ST_AGE_ARMOR_NO, &w, err)))
        goto out;
    for (;;) {
        size_t got;
        if ((rc = st_age_reader_read(rd, buf, ST_AGE_CHUNK_LEN, &got, &res,
                                     err)))
            goto out;
        if (got == 0)
            break;
        st_sha256_update(sha, buf, got);
        if ((rc = st_age_writer_write(w, buf, got, err)))
            goto out;
    }
    uint8_t got_sha[32];
    st_sha256_final(sha, got_sha);
    if (!st_ct_equal(got_sha, m.plain_sha256, 32)) {
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": the plaintext SHA-256 does not "
                        "match the manifest",
                        name);
        goto out;
    }
    rc = st_age_writer_finish(w, err);
    w = NULL;
    if (rc)
        goto out;
    wrote = 1;
    st_secret_free(r.shred);
    r.shred = nshred;
    nshred = NULL;
    r.kek_version = knew.used;
    rc = commit_generation(ws, &r, &m, npath, path, signing_seed,
                           "data.reencrypt", actor, NULL, &kept, err);
    if (kept)
        wrote = 0; /* a row names it, or may after recovery */
out:
    if (w)
        st_age_writer_abort(w);
    if (wrote)
        unlink(npath);
    st_age_reader_free(rd);
    if (fd >= 0)
        close(fd);
    st_age_identity_clear(&id);
    free_recipients(rcpts, m.nrecipients + 1);
    st_secret_free(nshred);
    st_secmem_free(buf);
    st_sha256_free(sha);
    st_dataset_manifest_free(&m);
    drow_free(&r);
    unlock(&lk);
    /* a change's success entry is its transaction's */
    if (rc && kept != 2)
        audit(ws, actor, "data.reencrypt", name, "failure",
              err ? err->msg : NULL, NULL);
    return rc;
}

st_code st_dataset_rm(st_workspace *ws, const char *name, const char *actor,
                      st_err *err)
{
    dlock lk;
    drow r;
    char path[4200];
    st_code rc = lock_and_sweep(ws, &lk, err);
    if (!rc)
        rc = row_get(ws, name, &r, err);
    if (rc) {
        unlock(&lk);
        return rc;
    }
    rc = file_path(ws, r.file, path, sizeof(path), err);
    /* 1. the shred key: deleted with its bytes overwritten in the
     * database file, in one transaction with the success entry */
    if (!rc)
        rc = db_exec(ws, "PRAGMA secure_delete = ON", err);
    char res[128];
    snprintf(res, sizeof(res), "dataset:%s", name);
    st_audit_event ev = {
        "operation", actor ? actor : "system", "data.rm", res, "success", NULL,
        NULL};
    int64_t entry = 0;
    int unknown = 0, committed = 0;
    if (!rc && !(rc = st_audit_txn_begin(ws, err))) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(st_workspace_db(ws),
                               "DELETE FROM datasets WHERE name = ?", -1, &q,
                               NULL) != SQLITE_OK)
            rc = st_catalog_fail(ws, "delete dataset", err);
        else {
            sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(q) != SQLITE_DONE)
                rc = st_catalog_fail(ws, "delete dataset", err);
        }
        sqlite3_finalize(q);
        if (!rc)
            rc = st_audit_txn_event(ws, &ev, &entry, err);
        if (rc)
            st_audit_txn_rollback(ws);
        else
            committed = (rc = st_audit_txn_commit(ws, &unknown, err)) == ST_OK;
        if (unknown)
            commit_unknown = 1;
    }
    if (committed) {
        /* 2. the WAL, which held a copy of the key, truncated: if that
         * fails, the next checkpoint does it (warned, not a failure: the
         * row is gone) */
        st_err e3;
        if (db_exec(ws, "PRAGMA wal_checkpoint(TRUNCATE)", &e3))
            st_warn("data.rm", "dataset %s: %s", name, e3.msg);
        /* 3. the file: zeroed, then unlinked; if that fails, the sweep of
         * the next change removes it (no row names it) */
        if (st_fs_shred(path, &e3) != ST_OK) {
            st_warn("data.rm", "dataset %s: %s (its key is destroyed)", name,
                    e3.msg);
            if (unlink(path) != 0 && errno != ENOENT)
                st_warn("data.rm", "remove %s: %s", path, strerror(errno));
        }
        rc = st_audit_txn_deliver(ws, entry, err);
        if (st_access_forget_resource(ws, res, &e3))
            st_warn("data.rm", "forgetting %s: %s", res, e3.msg);
    }
    drow_free(&r);
    unlock(&lk);
    /* a change's success entry is its transaction's */
    if (!committed)
        audit(ws, actor, "data.rm", name, "failure", err ? err->msg : NULL,
              NULL);
    return rc;
}

/* ---- broker and runtime --------------------------------------------- */

st_code st_dataset_file_key(st_workspace *ws, st_keyring *kr, const char *name,
                            st_secret **file_key, st_dataset_manifest *mout,
                            st_err *err)
{
    *file_key = NULL;
    drow r;
    st_dataset_manifest m;
    st_code rc = migrate(ws, err);
    if (!rc)
        rc = row_get(ws, name, &r, err);
    if (rc)
        return rc;
    if ((rc = verify_manifest(ws, &r, &m, err))) {
        drow_free(&r);
        return rc;
    }
    st_age_header h;
    memset(&h, 0, sizeof(h));
    if ((rc = release_header(ws, &r, &m, &h, err)))
        goto out;
    kek_ctx k = {kr, st_secret_cbytes(r.shred), 0, NULL};
    st_buf aad;
    st_buf_init(&aad);
    rc = st_age_kek_aad(r.kek_name, &aad, err);
    for (size_t i = 0; !rc && i < h.nstanzas; i++) {
        if (strcmp(h.stanzas[i].args[0], ST_AGE_STANZA_SEALTRAIN_KEK))
            continue;
        rc =
            kek_unwrap(&k, r.kek_name, r.kek_version, h.stanzas[i].body,
                       h.stanzas[i].body_len, aad.data, aad.len, file_key, err);
        break;
    }
    st_buf_free(&aad);
    st_age_header_clear(&h);
out:
    if (!rc && mout)
        *mout = m;
    else
        st_dataset_manifest_free(&m);
    drow_free(&r);
    return rc;
}

st_code st_dataset_decrypt(const char *path, const st_secret *file_key,
                           const uint8_t plain_sha256[32], void **plain,
                           size_t *len, st_tensor_view *view, st_err *err)
{
    if (!file_key || st_secret_len(file_key) != ST_AGE_FILE_KEY_LEN)
        return st_err_set(err, ST_E_USAGE, "a 16-byte file key is needed");
    kek_ctx k = {NULL, NULL, 0, file_key};
    st_age_identity id = {fixed_unwrap, NULL, &k};
    return decrypt_check(-1, path, &id, 1, plain_sha256, NULL, plain, len, view,
                         NULL, err);
}

st_code st_dataset_decrypt_fd(int fd, const char *name,
                              const st_secret *file_key,
                              const uint8_t plain_sha256[32], void **plain,
                              size_t *len, st_tensor_view *view, st_err *err)
{
    if (!file_key || st_secret_len(file_key) != ST_AGE_FILE_KEY_LEN)
        return st_err_set(err, ST_E_USAGE, "a 16-byte file key is needed");
    kek_ctx k = {NULL, NULL, 0, file_key};
    st_age_identity id = {fixed_unwrap, NULL, &k};
    return decrypt_check(fd, name, &id, 1, plain_sha256, NULL, plain, len, view,
                         NULL, err);
}

/* ---- client-side encryption, server-side registration (uploads) ------ */

st_code st_dataset_manifest_sign(const st_dataset_manifest *m,
                                 const uint8_t *seed, char **envelope,
                                 st_err *err)
{
    char keyid[65];
    uint8_t pub[32];
    *envelope = NULL;
    return sign_manifest(m, seed, envelope, keyid, pub, err);
}

/* The version in the sealtrain-kek stanza of the file at `path`. */
static ST_MUST_CHECK st_code stanza_version(const char *path, uint32_t *version,
                                            st_err *err)
{
    st_age_header h;
    memset(&h, 0, sizeof(h));
    st_code rc = st_age_inspect_file(path, &h, err);
    for (size_t i = 0; !rc && i < h.nstanzas; i++) {
        const char *name;
        if (!strcmp(h.stanzas[i].args[0], ST_AGE_STANZA_SEALTRAIN_KEK))
            rc = st_age_kek_stanza_parse(&h.stanzas[i], &name, version, err);
    }
    st_age_header_clear(&h);
    return rc;
}

st_code st_dataset_encrypt(const st_dataset_encrypt_opts *o,
                           st_dataset_manifest *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    st_code rc;
    if ((rc = check_identity(o->name, o->owner, o->classification, err)))
        return rc;
    if (!o->kek || !o->wrap || !o->out_path || !o->id)
        return st_err_set(err, ST_E_USAGE,
                          "encrypting needs a KEK name, a wrap function, an "
                          "output path and an id buffer");
    st_data_schema sc;
    memset(&sc, 0, sizeof(sc));
    st_age_recipient *rcpts = NULL;
    st_dataset_manifest m;
    memset(&m, 0, sizeof(m));
    int committed = 0;
    char *body = NULL;
    size_t len = 0;
    /* pass 1 before anything leaves this machine: the wrap callback (the
     * server) is called only for input that validated */
    if ((rc = st_data_scan(&o->input, &sc, o->progress, o->pctx, err)) ||
        (rc = make_recipients(o->wrap, o->wrap_ctx, o->kek,
                              (char *const *)o->recipients, o->nrecipients,
                              &rcpts, err)) ||
        (rc = encrypt_input(&o->input, &sc, rcpts, o->nrecipients + 1,
                            o->out_path, o->progress, o->pctx, &m, &committed,
                            err)) ||
        (rc = stanza_version(o->out_path, &m.kek_version, err)))
        goto out;
    /* the wrap callback filled the id the server assigned */
    snprintf(m.id, sizeof(m.id), "%s", o->id);
    snprintf(m.name, sizeof(m.name), "%s", o->name);
    snprintf(m.owner, sizeof(m.owner), "%s", o->owner);
    m.generation = 1;
    now_text(m.created);
    memcpy(m.updated, m.created, sizeof(m.created));
    snprintf(m.classification, sizeof(m.classification), "%s",
             o->classification);
    m.retention_days = o->retention_days > 0 ? o->retention_days : -1;
    snprintf(m.kek_name, sizeof(m.kek_name), "%s", o->kek);
    m.recipients = (char **)o->recipients;
    m.nrecipients = o->nrecipients;
    /* an owned copy, checked by the same strict parser the server uses */
    body = st_dataset_manifest_encode(&m, &len, err);
    rc = body ? st_dataset_manifest_parse(body, len, out, err)
              : (err ? err->code : ST_E_INTERNAL);
out:
    m.label_name = NULL;
    m.feature_names = NULL;
    m.target_names = NULL;
    m.recipients = NULL;
    m.nrecipients = 0;
    st_dataset_manifest_free(&m);
    free(body);
    if (rc && committed)
        unlink(o->out_path);
    free_recipients(rcpts, o->nrecipients + 1);
    st_data_schema_free(&sc);
    return rc;
}

st_code st_dataset_wrap_key(st_keyring *kr, const char *kek,
                            const st_secret *file_key, st_secret **shred,
                            st_buf *body, uint32_t *version, st_err *err)
{
    *shred = NULL;
    if (!file_key || st_secret_len(file_key) != ST_AGE_FILE_KEY_LEN)
        return st_err_set(err, ST_E_USAGE, "a 16-byte file key is needed");
    st_code rc = ensure_kek(kr, kek, err);
    if (rc)
        return rc;
    st_secret *s = st_secret_new(SHRED_LEN, err);
    if (!s)
        return err ? err->code : ST_E_IO;
    st_buf aad;
    st_buf_init(&aad);
    if (!(rc = st_random(st_secret_bytes(s), SHRED_LEN, err)) &&
        !(rc = st_age_kek_aad(kek, &aad, err))) {
        kek_ctx k = {kr, st_secret_cbytes(s), 0, NULL};
        rc = kek_wrap(&k, kek, 0, st_secret_cbytes(file_key),
                      ST_AGE_FILE_KEY_LEN, aad.data, aad.len, body, version,
                      err);
    }
    st_buf_free(&aad);
    if (rc)
        st_secret_free(s);
    else
        *shred = s;
    return rc;
}

/* The header of the uploaded file: the stanzas the manifest describes,
 * the sealtrain-kek body the server wrapped, and a MAC that the file key
 * under that stanza opens (so the dataset will release). */
static ST_MUST_CHECK st_code check_upload_header(
    const char *path, st_keyring *kr, const st_secret *shred,
    const st_dataset_manifest *m, const uint8_t stanza_sha256[32], st_err *err)
{
    st_age_header h;
    memset(&h, 0, sizeof(h));
    st_code rc = st_age_inspect_file(path, &h, err);
    if (rc) {
        st_err_prefix(err, "the uploaded file's age header");
        return rc == ST_E_IO ? rc : ST_E_INPUT;
    }
    rc = check_stanzas(&h, m, err);
    for (size_t i = 0; !rc && i < h.nstanzas; i++) {
        uint8_t d[32];
        if (strcmp(h.stanzas[i].args[0], ST_AGE_STANZA_SEALTRAIN_KEK))
            continue;
        st_sha256(h.stanzas[i].body, h.stanzas[i].body_len, d);
        if (!st_ct_equal(d, stanza_sha256, 32))
            rc = st_err_set(err, ST_E_DENIED,
                            "the sealtrain-kek stanza is not the one this "
                            "server wrapped for the upload");
    }
    st_age_header_clear(&h);
    if (rc)
        return rc;
    kek_ctx k = {kr, st_secret_cbytes(shred), 0, NULL};
    st_age_identity id;
    if ((rc = st_age_kek_identity(m->kek_name, kek_unwrap, &k, &id, err)))
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st_age_identity_clear(&id);
        return st_err_errno(err, ST_E_IO, errno, "open %s", path);
    }
    st_age_decrypt_opts o = {&id, 1, ST_AGE_ARMOR_NO, 1, "the uploaded file"};
    st_age_result res = {0};
    st_age_reader *rd = NULL;
    rc = st_age_reader_open(fd, &o, &rd, &res, err);
    st_age_reader_free(rd);
    close(fd);
    st_age_identity_clear(&id);
    if (rc && rc != ST_E_IO) {
        st_err_prefix(err, "the uploaded header does not open with the key "
                           "this server wrapped");
        if (err)
            err->code = ST_E_DENIED;
        rc = ST_E_DENIED;
    }
    return rc;
}

/* An owner's manifest envelope made elsewhere (untrusted): the manifest
 * parses, its owner is a principal registered here, and the signature
 * verifies under that principal's registered key (which goes into r's
 * signer fields). Uploads and datasets added encrypted check it so. */
static ST_MUST_CHECK st_code owner_signed_envelope(st_workspace *ws,
                                                   const json_t *env,
                                                   st_dataset_manifest *m,
                                                   drow *r, st_err *err)
{
    uint8_t *payload = NULL;
    size_t len = 0;
    int registered = 0;
    st_code rc = st_dsse_payload(env, &payload, &len, err);
    if (!rc)
        rc = st_dataset_manifest_parse((const char *)payload, len, m, err);
    free(payload);
    payload = NULL;
    if (!rc &&
        !(rc =
              owner_key(ws, m->owner, NULL, r->signer_pub, &registered, err)) &&
        !registered)
        rc = st_err_set(err, ST_E_DENIED,
                        "owner \"%s\" of dataset \"%s\" is not a principal "
                        "with a signing key in this workspace",
                        m->owner, m->name);
    if (!rc && st_dsse_verify(env, ST_DSSE_TYPE_MANIFEST,
                              (const uint8_t(*)[32])r->signer_pub, 1, &payload,
                              &len, NULL, err) != ST_OK)
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": the manifest signature does not "
                        "verify under the registered key of owner %s",
                        m->name, m->owner);
    free(payload);
    if (!rc)
        st_dsse_keyid(r->signer_pub, r->signer_keyid);
    return rc;
}

/* The file's size and three digests are the ones the manifest signs. */
static int digests_match(const digests *d, const st_dataset_manifest *m)
{
    return d->size == m->file_size &&
           st_ct_equal(d->file, m->file_sha256, 32) &&
           st_ct_equal(d->header, m->header_sha256, 32) &&
           st_ct_equal(d->payload, m->payload_sha256, 32);
}

/* Signature, signer and content of an uploaded manifest envelope. */
static ST_MUST_CHECK st_code check_upload_manifest(
    st_workspace *ws, const st_dataset_register_opts *o, st_dataset_manifest *m,
    drow *r, char **canon, st_err *err)
{
    json_t *env =
        st_json_parse(o->envelope, o->envelope_len, "manifest envelope", err);
    if (!env)
        return err ? err->code : ST_E_INPUT;
    size_t len = 0;
    st_code rc = owner_signed_envelope(ws, env, m, r, err);
    if (!rc && strcmp(m->owner, o->actor))
        rc = st_err_set(err, ST_E_DENIED,
                        "the manifest names owner %s, but %s uploaded it: "
                        "datasets are imported by their owner",
                        m->owner, o->actor);
    /* still a data owner now (the access check audits a denial) */
    if (!rc)
        rc = st_access_check(ws, m->owner, "data.import", NULL, err);
    if (!rc && m->broker_url[0])
        rc = st_err_set(err, ST_E_INPUT,
                        "the manifest names a key broker (%s), but this "
                        "upload's key is wrapped by this server",
                        m->broker_url);
    if (!rc && (strcmp(m->name, o->name) || strcmp(m->id, o->id) ||
                m->generation != 1 || strcmp(m->kek_name, o->kek) ||
                m->kek_version != o->kek_version))
        rc = st_err_set(err, ST_E_INPUT,
                        "the signed manifest does not describe this upload "
                        "(expected name %s, id %s, generation 1, KEK %s "
                        "version %u)",
                        o->name, o->id, o->kek, o->kek_version);
    if (!rc && !(*canon = st_json_canonical(env, &len, err)))
        rc = err ? err->code : ST_E_INTERNAL;
    json_decref(env);
    return rc;
}

st_code st_dataset_register(st_workspace *ws, st_keyring *kr,
                            const st_dataset_register_opts *o,
                            st_dataset_manifest *out, st_err *err)
{
    dlock lk;
    drow r, exist;
    memset(&r, 0, sizeof(r));
    st_dataset_manifest m;
    memset(&m, 0, sizeof(m));
    char *canon = NULL, path[4200] = "";
    int moved = 0;
    st_err e2;
    st_code rc = lock_and_sweep(ws, &lk, err);
    if (rc)
        goto out;
    if ((rc = check_upload_manifest(ws, o, &m, &r, &canon, err)))
        goto out;
    if (row_get(ws, m.name, &exist, &e2) == ST_OK) {
        drow_free(&exist);
        rc = st_err_set(err, ST_E_EXISTS, "a dataset named \"%s\" exists",
                        m.name);
        goto out;
    }
    digests d;
    if ((rc = file_digests(o->path, &d, err))) {
        st_err_prefix(err, "the uploaded file");
        goto out;
    }
    if (!digests_match(&d, &m)) {
        rc = st_err_set(err, ST_E_INPUT,
                        "the uploaded file (%llu bytes) does not match the "
                        "size and digests in its signed manifest (%llu "
                        "bytes)",
                        (unsigned long long)d.size,
                        (unsigned long long)m.file_size);
        goto out;
    }
    if ((rc = check_upload_header(o->path, kr, o->shred, &m, o->stanza_sha256,
                                  err)))
        goto out;
    /* the row: what import writes, with the upload's shred key */
    snprintf(r.name, sizeof(r.name), "%s", m.name);
    snprintf(r.id, sizeof(r.id), "%s", m.id);
    snprintf(r.owner, sizeof(r.owner), "%s", m.owner);
    r.generation = 1;
    snprintf(r.file, sizeof(r.file), "%s-g1.age", m.id);
    snprintf(r.kek_name, sizeof(r.kek_name), "%s", m.kek_name);
    r.kek_version = m.kek_version;
    now_text(r.created);
    memcpy(r.updated, r.created, sizeof(r.created));
    if (!(r.shred =
              st_secret_from(st_secret_cbytes(o->shred), SHRED_LEN, err))) {
        rc = err ? err->code : ST_E_IO;
        goto out;
    }
    if ((rc = file_path(ws, r.file, path, sizeof(path), err)))
        goto out;
    if (st_fs_exists(path)) {
        rc = st_err_set(err, ST_E_EXISTS, "dataset file %s exists", path);
        goto out;
    }
    /* the upload was fsynced chunk by chunk; the rename is atomic and the
     * directory synced, so the row never names a missing file */
    if (rename(o->path, path) != 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "move %s to %s", o->path, path);
        goto out;
    }
    moved = 1;
    if ((rc = st_fs_fsync_dir(lk.dir, err)) ||
        (rc = insert_row(ws, &r, canon, err)))
        goto out;
    moved = 2;
    rc = just_added(ws, r.name, r.kek_name, r.owner, "data.register", out, err);
out:
    if (moved == 1 && rename(path, o->path) != 0)
        unlink(path); /* no row names it; the sweep would remove it */
    {
        json_t *det = json_pack("{s:s, s:s}", "via", "upload", "id", o->id);
        audit(ws, o->actor, "data.import", o->name, rc ? "failure" : "success",
              rc && err ? err->msg : NULL, det);
        json_decref(det);
    }
    st_dataset_manifest_free(&m);
    drow_free(&r);
    free(canon);
    unlock(&lk);
    return rc;
}

/* ---- datasets whose key another owner's broker holds ---------------- */

/* Copies `src` to `dst` atomically (the caller holds the datasets lock,
 * so the sweep cannot take the new file before its row exists). */
static ST_MUST_CHECK st_code copy_file(const char *src, const char *dst,
                                       st_err *err)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "open %s", src);
    st_atomic_file *f = st_atomic_open(dst, 0600, err);
    uint8_t *buf = malloc(1 << 20);
    st_code rc = !f     ? (err ? err->code : ST_E_IO)
                 : !buf ? st_err_set(err, ST_E_IO, "out of memory")
                        : ST_OK;
    while (rc == ST_OK) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = st_err_errno(err, ST_E_IO, errno, "read %s", src);
        if (n <= 0)
            break;
        rc = st_atomic_write(f, buf, (size_t)n, err);
    }
    free(buf);
    close(fd);
    if (f && rc != ST_OK)
        st_atomic_abort(f);
    else if (f)
        rc = st_atomic_commit(f, err);
    return rc;
}

st_code st_dataset_adopt(st_workspace *ws, const char *path,
                         const char *envelope, size_t envelope_len,
                         const char *actor, st_dataset_manifest *out,
                         st_err *err)
{
    st_dataset_manifest m;
    memset(&m, 0, sizeof(m));
    drow r;
    memset(&r, 0, sizeof(r));
    dlock lk = {.fd = -1};
    char dst[4200] = "";
    int copied = 0;
    json_t *env = st_json_parse(envelope, envelope_len, "manifest", err);
    /* the owner must be known here: the signature is the only reason to
     * trust the broker URL and pin the manifest carries */
    st_code rc = env ? owner_signed_envelope(ws, env, &m, &r, err)
                     : (err ? err->code : ST_E_INPUT);
    if (rc != ST_OK)
        goto out;
    if (!m.broker_url[0]) {
        rc = st_err_set(err, ST_E_USAGE,
                        "dataset \"%s\": its manifest names no key broker, "
                        "and its key is not in this keyring: only a dataset "
                        "released by its owner's broker can be added "
                        "encrypted",
                        m.name);
        goto out;
    }
    digests d;
    if ((rc = file_digests(path, &d, err)))
        goto out;
    if (!digests_match(&d, &m)) {
        rc = st_err_set(err, ST_E_INPUT,
                        "%s is not the encrypted file of dataset \"%s\" "
                        "(size or digests differ from its signed manifest)",
                        path, m.name);
        goto out;
    }
    snprintf(r.name, sizeof(r.name), "%s", m.name);
    snprintf(r.id, sizeof(r.id), "%s", m.id);
    snprintf(r.owner, sizeof(r.owner), "%s", m.owner);
    r.generation = m.generation;
    snprintf(r.file, sizeof(r.file), "%s-g%lld.age", m.id, m.generation);
    snprintf(r.kek_name, sizeof(r.kek_name), "%s", m.kek_name);
    r.kek_version = m.kek_version;
    snprintf(r.created, sizeof(r.created), "%s", m.created);
    snprintf(r.updated, sizeof(r.updated), "%s", m.updated);
    /* no KEK here wraps anything with it: a random placeholder, so that
     * the row is like any other and `rm` still shreds it */
    r.shred = st_secret_new(SHRED_LEN, err);
    if (!r.shred ||
        (rc = st_random(st_secret_bytes(r.shred), SHRED_LEN, err))) {
        rc = rc ? rc : (err ? err->code : ST_E_IO);
        goto out;
    }
    if ((rc = lock_and_sweep(ws, &lk, err)))
        goto out;
    drow exist;
    st_err e2;
    if (row_get(ws, m.name, &exist, &e2) == ST_OK) {
        drow_free(&exist);
        rc = st_err_set(err, ST_E_EXISTS, "a dataset named \"%s\" exists",
                        m.name);
        goto out;
    }
    if ((rc = file_path(ws, r.file, dst, sizeof(dst), err)) ||
        (rc = copy_file(path, dst, err)))
        goto out;
    copied = 1;
    char *text = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
    rc = text ? insert_row(ws, &r, text, err)
              : st_err_set(err, ST_E_IO, "out of memory");
    free(text);
    if (rc == ST_OK) {
        copied = 0;
        json_t *det =
            json_pack("{s:s,s:s,s:I}", "broker", m.broker_url, "owner", m.owner,
                      "generation", (json_int_t)m.generation);
        audit(ws, actor, "data.import", m.name, "success",
              "encrypted dataset added; its key is released by its owner's "
              "broker",
              det);
        json_decref(det);
    }
out:
    if (copied)
        unlink(dst);
    unlock(&lk);
    json_decref(env);
    drow_free(&r);
    if (rc == ST_OK && out)
        *out = m;
    else
        st_dataset_manifest_free(&m);
    return rc;
}

st_code st_dataset_set_broker(st_workspace *ws, const char *name,
                              const char *broker_url,
                              const uint8_t *broker_spki_sha256,
                              const uint8_t *signing_seed, const char *actor,
                              st_err *err)
{
    st_code rc =
        broker_url ? st_dataset_check_broker_url(broker_url, err) : ST_OK;
    if (rc == ST_OK && broker_url && !broker_spki_sha256)
        rc = st_err_set(err, ST_E_USAGE,
                        "a broker URL needs the pin of its TLS key");
    if (rc)
        return rc;
    dlock lk;
    drow r;
    st_dataset_manifest m;
    char path[4200], npath[4200] = "";
    int wrote = 0, loaded = 0, kept = 0;
    json_t *det = NULL;
    if ((rc = lock_and_sweep(ws, &lk, err)) ||
        (rc = load_verified(ws, name, signing_seed, &r, &m, path, sizeof(path),
                            err)))
        goto out;
    loaded = 1;
    /* a new generation under a new file name (the same bytes): the
     * manifest without (or with the old) broker stays the signed
     * statement of the older generation only */
    if ((rc = next_generation(ws, &r, npath, sizeof(npath), err)) ||
        (rc = copy_file(path, npath, err)))
        goto out;
    wrote = 1;
    memset(m.broker_url, 0, sizeof(m.broker_url));
    memset(m.broker_spki_sha256, 0, 32);
    if (broker_url) {
        snprintf(m.broker_url, sizeof(m.broker_url), "%s", broker_url);
        memcpy(m.broker_spki_sha256, broker_spki_sha256, 32);
    }
    det = json_pack("{s:s}", "broker", broker_url ? broker_url : "(none)");
    if (!det)
        rc = st_err_errno(err, ST_E_IO, ENOMEM, "audit entry");
    else
        rc = commit_generation(ws, &r, &m, npath, path, signing_seed,
                               "data.broker", actor, det, &kept, err);
    if (kept)
        wrote = 0; /* a row names it, or may after recovery */
out:
    if (wrote)
        unlink(npath);
    unlock(&lk);
    if (loaded) {
        st_dataset_manifest_free(&m);
        drow_free(&r);
    }
    /* a change's success entry is its transaction's */
    if (rc && kept != 2)
        audit(ws, actor, "data.broker", name, "failure", err ? err->msg : NULL,
              NULL);
    json_decref(det);
    return rc;
}
