/*
 * sealed.c: the workspace audit log's signing key, sealed under the
 * keyring (KEK "audit.log", AEAD with the log's origin as associated data),
 * through the caller's st_audit_sealer: the log never calls the keyring.
 *
 * Appends never need the key, so the first append creates a plain
 * log.key (0600) as a directory log must; the first checkpoint through the
 * workspace wraps it into log.key.sealed (version + wrapped bytes, written
 * atomically) and shreds the plain file, so from then on the key exists on
 * disk only under the root key. Checkpoints unwrap it into secure memory
 * for the one signature. The KEK rotates like any other; retired versions
 * still unwrap.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "audit/txn.h"
#include "sealtrain/fs.h"
#include "sealtrain/log.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"

/* A failure here must stop the caller: an empty AAD would make the unwrap
 * fail as if the sealed key had been tampered with. */
static ST_MUST_CHECK st_code aad_of(const st_audit_log *log, st_buf *aad,
                                    st_err *err)
{
    return st_buf_printf(aad, err, "sealtrain audit log key v1\n%s",
                         st_audit_log_origin(log));
}

/* Seals a plain log.key (if present) and shreds it. */
static ST_MUST_CHECK st_code seal_plain(st_audit_log *log,
                                        const st_audit_sealer *kek,
                                        const char *sealed, st_err *err)
{
    char plain[PATH_MAX];
    if (st_fs_join(plain, sizeof(plain), st_audit_log_dir(log),
                   ST_AUDIT_KEY_FILE, err))
        return err ? err->code : ST_E_INTERNAL;
    if (!st_fs_exists(plain))
        return ST_OK;
    st_secret *seed = NULL;
    if (st_audit_log_read_key(log, &seed, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    st_buf aad, out;
    st_buf_init(&aad);
    st_buf_init(&out);
    uint32_t used = 0;
    st_code rc = aad_of(log, &aad, err);
    if (rc == ST_OK)
        rc = st_buf_printf(&out, err, "%08x", 0u); /* version slot */
    if (rc == ST_OK)
        rc = kek->wrap(kek->ctx, st_secret_cbytes(seed), 32, aad.data, aad.len,
                       &out, &used, err);
    st_secret_free(seed);
    if (rc == ST_OK) {
        char ver[9];
        snprintf(ver, sizeof(ver), "%08x", used);
        memcpy(out.data, ver, 8);
        rc = st_fs_write_atomic(sealed, out.data, out.len, 0600, err);
    }
    if (rc == ST_OK)
        rc = st_fs_shred(plain, err);
    st_buf_free(&aad);
    st_buf_free(&out);
    return rc == ST_OK ? ST_OK
                       : st_err_prefix(err, "sealing the audit log "
                                            "key");
}

static ST_MUST_CHECK st_code unseal(st_audit_log *log,
                                    const st_audit_sealer *kek,
                                    const char *sealed, st_secret **seed,
                                    st_err *err)
{
    unsigned char *b;
    size_t len;
    if (st_fs_read_all(sealed, 4096, &b, &len, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    st_code rc = ST_OK;
    char ver[9];
    unsigned long v = 0;
    if (len < 8 + 32) {
        rc = st_err_set(err, ST_E_INPUT, "%s: too short", sealed);
    } else {
        memcpy(ver, b, 8);
        ver[8] = 0;
        char *end;
        v = strtoul(ver, &end, 16);
        if (*end || v == 0 || v > UINT32_MAX)
            rc = st_err_set(err, ST_E_INPUT, "%s: bad KEK version", sealed);
    }
    if (rc == ST_OK) {
        st_buf aad;
        st_buf_init(&aad);
        rc = aad_of(log, &aad, err);
        if (rc == ST_OK)
            rc = kek->unwrap(kek->ctx, (uint32_t)v, b + 8, len - 8, aad.data,
                             aad.len, seed, err);
        st_buf_free(&aad);
    }
    free(b);
    return rc == ST_OK ? ST_OK : st_err_prefix(err, "the audit log key");
}

int st_audit_key_sealed(st_workspace *ws)
{
    char p[PATH_MAX], q[PATH_MAX];
    return st_workspace_path(ws, "audit", ST_AUDIT_SEALED_FILE, p, sizeof(p),
                             NULL) == ST_OK &&
           st_workspace_path(ws, "audit", ST_AUDIT_KEY_FILE, q, sizeof(q),
                             NULL) == ST_OK &&
           st_fs_exists(p) && !st_fs_exists(q);
}

st_code st_audit_checkpoint_sealed(st_workspace *ws, const st_audit_sealer *kek,
                                   const char *actor, char **note, st_err *err)
{
    char dir[PATH_MAX], sealed[PATH_MAX];
    st_audit_log *log;
    if (st_workspace_subdir(ws, "audit", dir, sizeof(dir), err) ||
        st_fs_join(sealed, sizeof(sealed), dir, ST_AUDIT_SEALED_FILE, err) ||
        st_audit_log_open(dir, &log, err))
        return err ? err->code : ST_E_IO;
    st_secret *seed = NULL;
    char *signed_note = NULL;
    st_code rc = seal_plain(log, kek, sealed, err);
    if (rc == ST_OK)
        rc = unseal(log, kek, sealed, &seed, err);
    if (rc == ST_OK)
        rc = st_audit_checkpoint_with(log, seed, &signed_note, err);
    st_secret_free(seed);
    st_audit_log_close(log);
    if (rc != ST_OK)
        return rc;
    /* record it (the entry itself is covered by the next checkpoint) */
    st_audit_checkpoint_body b;
    const char *blank = strstr(signed_note, "\n\n");
    if (!blank || (rc = st_audit_checkpoint_parse(
                       signed_note, (size_t)(blank - signed_note) + 1, &b,
                       err)) != ST_OK) {
        free(signed_note);
        return rc ? rc
                  : st_err_set(err, ST_E_INTERNAL,
                               "checkpoint: the new note has no signature");
    }
    char *root = st_base64_encode(b.root, 32, 1);
    json_t *d = root ? json_pack("{s:I,s:s}", "tree_size", (json_int_t)b.size,
                                 "root_hash", root)
                     : NULL;
    st_audit_event ev = {"compliance",
                         actor ? actor : "system",
                         "audit.checkpoint",
                         "audit:log",
                         "success",
                         NULL,
                         d};
    /* the entry goes through the outbox: once its row is committed the
     * entry reaches the log (now, or at the next open), so the note
     * stays; before that, the note goes. A failed COMMIT is unknown: the
     * note stays for the entry the next open may find */
    int64_t id = 0;
    int unknown = 0, committed = 0;
    rc = d ? st_audit_txn_begin(ws, err)
           : st_err_errno(err, ST_E_IO, ENOMEM, "checkpoint entry");
    if (rc == ST_OK) {
        if ((rc = st_audit_txn_event(ws, &ev, &id, err)))
            st_audit_txn_rollback(ws);
        else if ((rc = st_audit_txn_commit(ws, &unknown, err)) == ST_OK)
            committed = 1;
    }
    if (committed)
        st_audit_txn_deliver(ws, id);
    json_decref(d);
    free(root);
    if (rc != ST_OK && !committed && !unknown) {
        char name[64], cpath[PATH_MAX];
        snprintf(name, sizeof(name), ST_AUDIT_CP_DIR "/%020llu.note",
                 (unsigned long long)b.size);
        if (st_fs_join(cpath, sizeof(cpath), dir, name, NULL) != ST_OK ||
            (unlink(cpath) != 0 && errno != ENOENT))
            st_error("audit.checkpoint",
                     "could not remove the checkpoint of size %llu whose "
                     "entry failed",
                     (unsigned long long)b.size);
    }
    if (rc == ST_OK && note)
        *note = signed_note;
    else
        free(signed_note);
    return rc;
}
