/*
 * dataset.c: encrypted, signed datasets in a workspace: the datasets lock
 * and its sweep, the sealtrain-kek stanza with the shred key, file
 * digests, manifests and their signatures, and the audit entry of a
 * change: what the other files of the dataset module share
 * (dataset_internal.h). See include/sealtrain/dataset.h and
 * docs/datasets.md. The rows and the operations live beside it:
 *   dataset_db.c       the catalog table `datasets` and its rows
 *   dataset_import.c   import (validate, encrypt, sign, insert)
 *   dataset_verify.c   records, verification, the key release's file check
 *                      and decryption in the runtime
 *   dataset_rewrap.c   rewrap, re-encryption, crypto-shred (rm)
 *   dataset_upload.c   client-side encryption and server-side registration
 *                      (uploads), datasets adopted from another owner's broker
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
#include "audit/txn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "crypto/dsse.h"
#include "crypto/primitives.h"
#include "dataset_internal.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"
#include "sealtrain/log.h"

/* ---- the datasets lock and the sweep ------------------------------- */

/* Set when a COMMIT of this process failed: until the next open recovers
 * the catalog, this process's view of it may miss a commit that SQLite
 * will bring back, so it must neither sweep nor change datasets. */
int dataset_commit_unknown;

/* Takes the exclusive datasets lock (held until unlock or process death),
 * migrates, and removes files that no catalog row names. */
ST_MUST_CHECK st_code dataset_lock_and_sweep(st_workspace *ws, dlock *l,
                                             st_err *err)
{
    l->fd = -1;
    if (dataset_commit_unknown)
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
    if ((rc = dataset_migrate(ws, err)))
        return rc;
    DIR *d = opendir(l->dir);
    if (!d)
        return st_err_errno(err, ST_E_IO, errno, "open %s", l->dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        int tmp = n[0] == '.' && strstr(n, ".tmp.");
        int age = n[0] != '.' && len > 4 && !strcmp(n + len - 4, ".age");
        if (!tmp && !age)
            continue;
        /* a file is removed only when the catalog says no row names it:
         * a lookup that fails stops the sweep (and the change) */
        int named = 0;
        if (age && (rc = dataset_db_names_file(ws, n, &named, err)))
            break;
        if (named)
            continue; /* a live dataset file */
        snprintf(path, sizeof(path), "%s/%s", l->dir, n);
        if (unlink(path) == 0)
            st_info("data.sweep", "removed %s (no catalog row names it)", path);
    }
    closedir(d);
    return rc;
}

void dataset_unlock(dlock *l)
{
    if (l->fd >= 0)
        close(l->fd); /* releases the flock */
    l->fd = -1;
}

/* ---- the sealtrain-kek stanza with the shred key --------------------- */

ST_MUST_CHECK st_code dataset_kek_wrap(void *ctx, const char *name,
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

ST_MUST_CHECK st_code dataset_kek_unwrap(void *ctx, const char *name,
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
ST_MUST_CHECK st_code
dataset_fixed_unwrap(void *ctx, const st_age_stanza *s,
                     uint8_t file_key[ST_AGE_FILE_KEY_LEN], st_err *err)
{
    (void)err;
    const kek_ctx *k = ctx;
    if (strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK) != 0)
        return ST_E_NOTFOUND;
    memcpy(file_key, st_secret_cbytes(k->fixed), ST_AGE_FILE_KEY_LEN);
    return ST_OK;
}

int dataset_keep_not_kek(void *ctx, const st_age_stanza *s)
{
    (void)ctx;
    return strcmp(s->args[0], ST_AGE_STANZA_SEALTRAIN_KEK) != 0;
}

/* ---- dataset files --------------------------------------------------- */

ST_MUST_CHECK st_code dataset_file_path(st_workspace *ws, const char *file,
                                        char *out, size_t cap, st_err *err)
{
    return st_workspace_path(ws, "datasets", file, out, cap, err);
}

/* ---- digests of an encrypted file ------------------------------------ */

ST_MUST_CHECK st_code dataset_file_digests(const char *path, digests *d,
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
    st_sha256_ctx fc, hc, pc;
    st_sha256_init(&fc);
    st_sha256_init(&hc);
    st_sha256_init(&pc);
    uint8_t *buf = malloc(1 << 20);
    uint64_t off = 0;
    rc = buf ? ST_OK : st_err_errno(err, ST_E_IO, ENOMEM, "hashing %s", path);
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
        st_sha256_update(&fc, buf, (size_t)n);
        size_t inh = off < hlen ? (size_t)(hlen - off) : 0;
        if (inh > (size_t)n)
            inh = (size_t)n;
        st_sha256_update(&hc, buf, inh);
        st_sha256_update(&pc, buf + inh, (size_t)n - inh);
        off += (uint64_t)n;
    }
    if (!rc) {
        d->size = off;
        st_sha256_final(&fc, d->file);
        st_sha256_final(&hc, d->header);
        st_sha256_final(&pc, d->payload);
    }
    free(buf);
    close(fd);
    return rc;
}

/* ---- manifests and signatures ---------------------------------------- */

/* The owner's signing key: the one registered with access control when
 * the owner is a principal (*registered = 1), else `fallback` (the key
 * recorded at import: trust on first use, for workspaces that have no
 * principals yet). */
ST_MUST_CHECK st_code dataset_owner_key(st_workspace *ws, const char *owner,
                                        const uint8_t *fallback,
                                        uint8_t pub[32], int *registered,
                                        st_err *err)
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

ST_MUST_CHECK st_code dataset_sign_manifest(const st_dataset_manifest *m,
                                            const uint8_t *seed,
                                            char **envelope, char keyid[65],
                                            uint8_t pub[32], st_err *err)
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
ST_MUST_CHECK st_code dataset_verify_manifest_at(st_workspace *ws,
                                                 const drow *r,
                                                 st_dataset_manifest *m,
                                                 int *sig_ok, st_err *err)
{
    *sig_ok = 0;
    uint8_t key[32];
    int registered;
    st_code rc =
        dataset_owner_key(ws, r->owner, r->signer_pub, key, &registered, err);
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

ST_MUST_CHECK st_code dataset_verify_manifest(st_workspace *ws, const drow *r,
                                              st_dataset_manifest *m,
                                              st_err *err)
{
    int sig_ok;
    return dataset_verify_manifest_at(ws, r, m, &sig_ok, err);
}

ST_MUST_CHECK st_code dataset_check_file(st_workspace *ws, const drow *r,
                                         const st_dataset_manifest *m,
                                         char *path, size_t cap, st_err *err)
{
    st_code rc = dataset_file_path(ws, r->file, path, cap, err);
    if (rc)
        return rc;
    digests d;
    rc = dataset_file_digests(path, &d, err);
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

void dataset_audit(st_workspace *ws, const char *actor, const char *action,
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
