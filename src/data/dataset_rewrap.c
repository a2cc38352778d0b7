/*
 * dataset_rewrap.c: changes to an existing dataset: rewrap (a new
 * sealtrain-kek stanza, the payload untouched), re-encryption (a new file
 * key) and crypto-shred (rm). Each change writes the next generation to a
 * new file, switches the row to it in one transaction with its audit
 * entry, and removes the old file only after. Part of the dataset module
 * (dataset.c says what the module owns).
 *
 * Never: change a dataset whose manifest does not verify under its
 * registered signer, or remove a file that a committed row may still name.
 */
#include "audit/txn.h"
#include "crypto/age_keys.h"
#include "crypto/age_stream.h"
#include "sealtrain/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/primitives.h"
#include "dataset_internal.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/log.h"

/* ---- rewrap and re-encryption ----------------------------------------- */

/* Loads and verifies a dataset for a change; the signer must be the one
 * registered. */
ST_MUST_CHECK st_code dataset_load_verified(st_workspace *ws, const char *name,
                                            const uint8_t *seed, drow *r,
                                            st_dataset_manifest *m, char *path,
                                            size_t cap, st_err *err)
{
    st_code rc = dataset_row_get(ws, name, r, err);
    if (rc)
        return rc;
    if ((rc = dataset_verify_manifest(ws, r, m, err)) ||
        (rc = dataset_check_file(ws, r, m, path, cap, err))) {
        dataset_drow_free(r);
        return rc;
    }
    uint8_t pub[32], key[32];
    int registered;
    if (!seed)
        rc = st_err_set(err, ST_E_USAGE,
                        "re-signing the manifest needs the owner's signing "
                        "key");
    else if (!(rc = st_ed25519_public(seed, pub, err)) &&
             !(rc = dataset_owner_key(ws, r->owner, r->signer_pub, key,
                                      &registered, err)) &&
             !st_ct_equal(pub, key, 32))
        rc = st_err_set(err, ST_E_DENIED,
                        "dataset \"%s\": the given signing key is not the "
                        "key of its owner %s",
                        name, r->owner);
    if (rc) {
        st_dataset_manifest_free(m);
        dataset_drow_free(r);
    }
    return rc;
}

/* The row's next generation and the path of its (new) file, npath. */
ST_MUST_CHECK st_code dataset_next_generation(st_workspace *ws, drow *r,
                                              char *npath, size_t cap,
                                              st_err *err)
{
    r->generation++;
    snprintf(r->file, sizeof(r->file), "%s-g%lld.age", r->id, r->generation);
    return dataset_file_path(ws, r->file, npath, cap, err);
}

/* Signs the next generation of `m` (its file written at `path`) and
 * switches the row to it, in one transaction with the success entry of
 * `what` (the audit action) by `actor`, with `details` (borrowed, may be
 * NULL); then removes `old_path`, the file of the generation before, which
 * no row names any more. *kept: 0 nothing changed; 1 the COMMIT failed
 * and its outcome is decided at the next open; 2 committed (even when the
 * entry's delivery then failed). Unless 0, the caller keeps every file. */
ST_MUST_CHECK st_code dataset_commit_generation(
    st_workspace *ws, drow *r, st_dataset_manifest *m, const char *path,
    const char *old_path, const uint8_t *seed, const char *what,
    const char *actor, json_t *details, int *kept, st_err *err)
{
    *kept = 0;
    int unknown = 0;
    dataset_now_text(r->updated);
    digests d;
    st_code rc = dataset_file_digests(path, &d, err);
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
    rc = dataset_sign_manifest(m, seed, &env, keyid, pub, err);
    char res[128];
    snprintf(res, sizeof(res), "dataset:%s", r->name);
    st_audit_event ev = {
        "operation", actor ? actor : "system", what, res, "success", NULL,
        details};
    int64_t entry = 0;
    if (!rc && !(rc = st_audit_txn_begin(ws, err))) {
        if ((rc = dataset_update_row(ws, r, r->generation - 1, env, err)) ||
            (rc = st_audit_txn_event(ws, &ev, &entry, err)))
            st_audit_txn_rollback(ws);
        else
            rc = st_audit_txn_commit(ws, &unknown, err);
    }
    free(env);
    if (rc) {
        *kept = unknown;
        if (unknown)
            dataset_commit_unknown = 1;
        return rc;
    }
    *kept = 2;
    unlink(old_path);
    st_info(what, "dataset %s: generation %lld -> %lld", r->name,
            r->generation - 1, r->generation);
    /* committed: a failed delivery leaves the entry for the next open */
    st_audit_txn_deliver(ws, entry);
    return ST_OK;
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
    st_code rc =
        dataset_load_verified(ws, name, seed, &r, &m, path, sizeof(path), err);
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
    if ((rc = dataset_next_generation(ws, &r, npath, sizeof(npath), err)) ||
        (rc = st_age_kek_identity(r.kek_name, dataset_kek_unwrap, &k, &id,
                                  err)) ||
        (rc = st_age_kek_recipient(r.kek_name, 0, dataset_kek_wrap, &k, &add,
                                   err)))
        goto out;
    st_age_rewrap rw = {&id, 1, dataset_keep_not_kek, NULL, &add, 1};
    st_age_result res = {0};
    rc = st_age_rewrap_file(path, npath, &rw, &res, err);
    if (rc)
        goto out;
    wrote = 1;
    r.kek_version = k.used;
    int kept = 0;
    rc = dataset_commit_generation(ws, &r, &m, npath, path, seed, "data.rewrap",
                                   actor, NULL, &kept, err);
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
    dataset_drow_free(&r);
    return rc;
}

st_code st_dataset_rewrap(st_workspace *ws, st_keyring *kr, const char *name,
                          const uint8_t *signing_seed, const char *actor,
                          int *changed, st_err *err)
{
    dlock lk;
    int ch = 0;
    st_code rc = dataset_lock_and_sweep(ws, &lk, err);
    if (!rc)
        rc = rewrap_one(ws, kr, name, signing_seed, actor, &ch, err);
    dataset_unlock(&lk);
    if (changed)
        *changed = ch;
    /* a change's success entry is its transaction's */
    if (rc && !ch)
        dataset_audit(ws, actor, "data.rewrap", name, "failure",
                      err ? err->msg : NULL, NULL);
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
    st_code rc = dataset_lock_and_sweep(ws, &lk, err);
    if (rc) {
        dataset_unlock(&lk);
        return rc;
    }
    rc = dataset_load_verified(ws, name, signing_seed, &r, &m, path,
                               sizeof(path), err);
    if (rc) {
        dataset_unlock(&lk);
        dataset_audit(ws, actor, "data.reencrypt", name, "failure",
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
    if ((rc = dataset_next_generation(ws, &r, npath, sizeof(npath), err)) ||
        (rc = st_age_kek_identity(r.kek_name, dataset_kek_unwrap, &kold, &id,
                                  err)) ||
        (rc =
             dataset_make_recipients(dataset_kek_wrap, &knew, r.kek_name,
                                     m.recipients, m.nrecipients, &rcpts, err)))
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
    rc = dataset_commit_generation(ws, &r, &m, npath, path, signing_seed,
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
    dataset_free_recipients(rcpts, m.nrecipients + 1);
    st_secret_free(nshred);
    st_secmem_free(buf);
    st_sha256_free(sha);
    st_dataset_manifest_free(&m);
    dataset_drow_free(&r);
    dataset_unlock(&lk);
    /* a change's success entry is its transaction's */
    if (rc && kept != 2)
        dataset_audit(ws, actor, "data.reencrypt", name, "failure",
                      err ? err->msg : NULL, NULL);
    return rc;
}

st_code st_dataset_rm(st_workspace *ws, const char *name, const char *actor,
                      st_err *err)
{
    dlock lk;
    drow r;
    char path[4200];
    st_code rc = dataset_lock_and_sweep(ws, &lk, err);
    if (!rc)
        rc = dataset_row_get(ws, name, &r, err);
    if (rc) {
        dataset_unlock(&lk);
        return rc;
    }
    rc = dataset_file_path(ws, r.file, path, sizeof(path), err);
    /* 1. the shred key: deleted with its bytes overwritten in the
     * database file, in one transaction with the success entry */
    if (!rc)
        rc = dataset_db_exec(ws, "PRAGMA secure_delete = ON", err);
    char res[128];
    snprintf(res, sizeof(res), "dataset:%s", name);
    st_audit_event ev = {
        "operation", actor ? actor : "system", "data.rm", res, "success", NULL,
        NULL};
    int64_t entry = 0;
    int unknown = 0, committed = 0;
    if (!rc && !(rc = st_audit_txn_begin(ws, err))) {
        rc = dataset_db_delete(ws, name, err);
        if (!rc)
            rc = st_audit_txn_event(ws, &ev, &entry, err);
        if (rc)
            st_audit_txn_rollback(ws);
        else
            committed = (rc = st_audit_txn_commit(ws, &unknown, err)) == ST_OK;
        if (unknown)
            dataset_commit_unknown = 1;
    }
    if (committed) {
        /* 2. the WAL, which held a copy of the key, truncated: if that
         * fails, the next checkpoint does it (warned, not a failure: the
         * row is gone) */
        st_err e3;
        if (dataset_db_exec(ws, "PRAGMA wal_checkpoint(TRUNCATE)", &e3))
            st_warn("data.rm", "dataset %s: %s", name, e3.msg);
        /* 3. the file: zeroed, then unlinked; if that fails, the sweep of
         * the next change removes it (no row names it) */
        if (st_fs_shred(path, &e3) != ST_OK) {
            st_warn("data.rm", "dataset %s: %s (its key is destroyed)", name,
                    e3.msg);
            if (unlink(path) != 0 && errno != ENOENT)
                st_warn("data.rm", "remove %s: %s", path, strerror(errno));
        }
        st_audit_txn_deliver(ws, entry);
        if (st_access_forget_resource(ws, res, &e3))
            st_warn("data.rm", "forgetting %s: %s", res, e3.msg);
    }
    dataset_drow_free(&r);
    dataset_unlock(&lk);
    /* a change's success entry is its transaction's */
    if (!committed)
        dataset_audit(ws, actor, "data.rm", name, "failure",
                      err ? err->msg : NULL, NULL);
    return rc;
}
