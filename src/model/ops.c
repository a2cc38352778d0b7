/*
 * ops.c: what a model owner does with a registered model: decrypt it,
 * share it with another recipient, remove it (crypto-shred).
 *
 * Sharing never decrypts the payload: the file key is recovered from the
 * header with the caller's identity and one X25519 stanza is added
 * (st_age_rewrap_file), so the shared copy's payload bytes are the sealed
 * file's. The sealed file itself is left untouched: its digest is the
 * provenance subject. A recipient is added only when every source
 * dataset's release policy lists it.
 *
 * Removal shreds the sealed file, every shared copy and the provenance,
 * then marks the registry row removed (its version number stays used).
 *
 * Access checks are the caller's (the CLI calls st_access_check with the
 * acting principal); every operation here is audited, refusals included.
 *
 * Never: write plaintext except to the caller's output path, atomically;
 * hold plaintext outside secure memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/txn.h"
#include "broker/policy.h"
#include "crypto/age_stream.h"
#include "crypto/primitives.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/clock.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/log.h"
#include "sealtrain/model.h"
#include "sealtrain/secmem.h"

#include "model/model_internal.h"

/* Opens the sealed file and checks that it is still the registered one;
 * the descriptor is then decrypted from, so the bytes checked are the
 * bytes used (no second open that a swapped file could answer). */
static ST_MUST_CHECK st_code open_checked(const st_model_record *r, int *fd_out,
                                          st_err *err)
{
    int fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "model %s@%u: opening %s",
                            r->name, r->version, r->path);
    st_sha256_ctx c;
    st_sha256_init(&c);
    uint8_t buf[65536], d[32];
    ssize_t got;
    while ((got = read(fd, buf, sizeof(buf))) > 0)
        st_sha256_update(&c, buf, (size_t)got);
    st_sha256_final(&c, d);
    char hex[65];
    st_hex_encode(d, 32, hex);
    st_code rc = ST_OK;
    if (got < 0)
        rc = st_err_errno(err, ST_E_IO, errno, "model %s@%u: reading %s",
                          r->name, r->version, r->path);
    else if (strcmp(hex, r->file_sha256) != 0)
        rc = st_err_set(err, ST_E_DENIED,
                        "model %s@%u: the sealed file's digest %s is not "
                        "the registered %s (tampered or replaced)",
                        r->name, r->version, hex, r->file_sha256);
    else if (lseek(fd, 0, SEEK_SET) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "model %s@%u: seeking", r->name,
                          r->version);
    if (rc != ST_OK) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return ST_OK;
}

/* An identity that tries the caller's and keeps the file key that
 * opened a stanza; the reader then checks the header MAC with it. */
struct capture {
    const st_age_identity *ids;
    size_t nids;
    st_secret *fk;
};

static st_code capture_unwrap(void *ctx, const st_age_stanza *s,
                              uint8_t file_key[ST_AGE_FILE_KEY_LEN],
                              st_err *err)
{
    struct capture *c = ctx;
    for (size_t i = 0; i < c->nids; i++) {
        st_code rc = c->ids[i].unwrap(c->ids[i].ctx, s, file_key, err);
        if (rc == ST_E_NOTFOUND)
            continue;
        if (rc == ST_OK)
            memcpy(st_secret_bytes(c->fk), file_key, ST_AGE_FILE_KEY_LEN);
        return rc;
    }
    return ST_E_NOTFOUND;
}

st_code st_model_file_open(const st_model_record *r, int *fd, st_err *err)
{
    *fd = -1;
    return open_checked(r, fd, err);
}

st_code st_model_file_key(const st_model_record *r, const st_age_identity *ids,
                          size_t nids, int *fd_out, st_secret **out,
                          st_err *err)
{
    *out = NULL;
    *fd_out = -1;
    int fd = -1;
    st_code rc = open_checked(r, &fd, err);
    if (rc != ST_OK)
        return rc;
    struct capture c = {ids, nids, st_secret_new(ST_AGE_FILE_KEY_LEN, err)};
    st_age_identity id = {capture_unwrap, NULL, &c};
    st_age_decrypt_opts o = {&id, 1, ST_AGE_ARMOR_NO, 1, r->path};
    st_age_reader *rd = NULL;
    st_age_result res = {0};
    rc = c.fk ? st_age_reader_open(fd, &o, &rd, &res, err) : err->code;
    st_age_reader_free(rd);
    if (rc == ST_OK && lseek(fd, 0, SEEK_SET) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "model %s@%u: seeking", r->name,
                          r->version);
    if (rc != ST_OK) {
        close(fd);
        st_secret_free(c.fk);
        return st_err_prefix(err, "model %s@%u", r->name, r->version);
    }
    *fd_out = fd;
    *out = c.fk;
    return ST_OK;
}

static const char *fail_reason(const st_age_result *res, const st_err *err)
{
    (void)res;
    return err->msg;
}

st_code st_model_decrypt(st_workspace *ws, const st_model_record *r,
                         const st_age_identity *ids, size_t nids,
                         const char *out_path, const char *actor, st_err *err)
{
    int fd = -1;
    st_code rc = open_checked(r, &fd, err);
    st_age_result res = {0};
    st_atomic_file *out = NULL;
    if (rc == ST_OK && !(out = st_atomic_open(out_path, 0600, err)))
        rc = err->code;
    if (rc == ST_OK) {
        st_age_decrypt_opts o = {ids, nids, ST_AGE_ARMOR_NO, 0, r->path};
        rc = st_age_decrypt_fd(fd, st_atomic_fd(out), &o, &res, err);
        /* the output appears only when every chunk authenticated */
        if (rc == ST_OK)
            rc = st_atomic_commit(out, err);
        else
            st_atomic_abort(out);
        if (rc != ST_OK)
            st_err_prefix(err, "model %s@%u", r->name, r->version);
    }
    if (fd >= 0)
        close(fd);
    st_model_audit(ws, actor, "model.decrypt", r,
                   rc == ST_OK         ? "success"
                   : rc == ST_E_DENIED ? "denied"
                                       : "failure",
                   rc == ST_OK ? NULL : fail_reason(&res, err),
                   json_pack("{s:s}", "sha256", r->file_sha256));
    return rc;
}

st_code st_model_open(const st_model_record *r, const st_age_identity *ids,
                      size_t nids, void **plain, size_t *len, st_err *err)
{
    int fd = -1;
    st_code rc = open_checked(r, &fd, err);
    if (rc != ST_OK)
        return rc;
    st_age_decrypt_opts o = {ids, nids, ST_AGE_ARMOR_NO, 0, r->path};
    st_age_result res = {0};
    rc = st_age_decrypt_secmem_fd(fd, r->path, &o, plain, len, &res, err);
    close(fd);
    if (rc != ST_OK)
        return st_err_prefix(err, "model %s@%u", r->name, r->version);
    return ST_OK;
}

/* Every source dataset's release policy must list the recipient. */
static ST_MUST_CHECK st_code policy_allows(st_workspace *ws,
                                           const st_model_record *r,
                                           const char *recipient, st_err *err)
{
    size_t i;
    const json_t *d;
    if (!json_array_size(r->datasets))
        return st_err_set(err, ST_E_DENIED,
                          "model %s@%u: no source datasets recorded, so no "
                          "policy can allow sharing",
                          r->name, r->version);
    json_array_foreach(r->datasets, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        st_release_policy *pol = NULL;
        st_code rc = name ? st_release_policy_get(ws, name, &pol, err)
                          : st_err_set(err, ST_E_INPUT, "unnamed dataset");
        if (rc == ST_E_NOTFOUND)
            return st_err_set(err, ST_E_DENIED,
                              "model %s@%u: dataset \"%s\" has no release "
                              "policy, so it allows no recipient",
                              r->name, r->version, name);
        if (rc != ST_OK)
            return rc;
        int ok = st_release_policy_allows_recipient(pol, recipient);
        st_release_policy_free(pol);
        if (!ok)
            return st_err_set(err, ST_E_DENIED,
                              "model %s@%u: dataset \"%s\"'s release policy "
                              "does not allow recipient %s",
                              r->name, r->version, name, recipient);
    }
    return ST_OK;
}

static int keep_all(void *ctx, const st_age_stanza *s)
{
    (void)ctx;
    (void)s;
    return 1;
}

/* A shared copy's row, as a change of st_audit_txn_apply. */
struct share_change {
    const st_model_record *r;
    const char *recipient, *path, *sha, *actor;
};

static st_code share_rows(st_workspace *ws, void *arg, st_err *err)
{
    struct share_change *c = arg;
    return st_model_db_share_put(ws, c->r, c->recipient, c->path, c->sha,
                                 c->actor, err);
}

static st_code removal_rows(st_workspace *ws, void *arg, st_err *err)
{
    return st_model_db_mark_removed(ws, arg, err);
}

st_code st_model_share(st_workspace *ws, const st_model_record *r,
                       const char *recipient, const st_age_identity *ids,
                       size_t nids, const char *actor, char *shared_path,
                       size_t cap, st_err *err)
{
    st_age_recipient rcpt;
    memset(&rcpt, 0, sizeof(rcpt));
    st_code rc = st_age_x25519_recipient(recipient, &rcpt, err);
    if (rc != ST_OK)
        return rc;
    if (st_json_array_has_string(r->recipients, recipient))
        rc = st_err_set(err, ST_E_EXISTS,
                        "model %s@%u is already sealed or shared to %s",
                        r->name, r->version, recipient);
    if (rc == ST_OK)
        rc = policy_allows(ws, r, recipient, err);
    int fd = -1;
    if (rc == ST_OK)
        rc = open_checked(r, &fd, err);
    char dir[4096], name[ST_MODEL_NAME_MAX + 64], rhex[65];
    uint8_t rd[32];
    st_sha256(recipient, strlen(recipient), rd);
    st_hex_encode(rd, 32, rhex);
    snprintf(name, sizeof(name), "%s-v%u-shared-%.16s.age", r->name, r->version,
             rhex);
    if (rc == ST_OK && (rc = st_workspace_subdir(ws, "models", dir, sizeof(dir),
                                                 err)) == ST_OK)
        rc = st_fs_join(shared_path, cap, dir, name, err);
    st_age_result res = {0};
    if (rc == ST_OK) {
        /* rewrap the very bytes whose digest was checked */
        char in[64];
        snprintf(in, sizeof(in), "/proc/self/fd/%d", fd);
        st_age_rewrap rw = {ids, nids, keep_all, NULL, &rcpt, 1};
        rc = st_age_rewrap_file(in, shared_path, &rw, &res, err);
        if (rc != ST_OK)
            st_err_prefix(err, "model %s@%u", r->name, r->version);
    }
    if (fd >= 0)
        close(fd);
    char sha[65] = "";
    if (rc == ST_OK) {
        uint8_t d[32];
        int unknown = 0;
        struct share_change c = {r, recipient, shared_path, sha, actor};
        char resource[ST_MODEL_NAME_MAX + 32];
        snprintf(resource, sizeof(resource), "model:%s@%u", r->name,
                 r->version);
        json_t *details = NULL;
        if ((rc = st_sha256_file(shared_path, d, err)) == ST_OK) {
            st_hex_encode(d, 32, sha);
            details =
                json_pack("{s:s,s:s}", "recipient", recipient, "sha256", sha);
            st_audit_event ev = {
                "operation",   actor && *actor ? actor : "system",
                "model.share", resource,
                "success",     NULL,
                details};
            /* the row and its entry commit together */
            rc = details ? st_audit_txn_apply(ws, share_rows, &c, &ev, &unknown,
                                              err)
                         : st_err_errno(err, ST_E_IO, ENOMEM,
                                        "the model.share entry");
        }
        json_decref(details);
        if (rc != ST_OK && !unknown && st_fs_shred(shared_path, NULL) != ST_OK)
            st_warn("model.share", "could not remove %s", shared_path);
    }
    st_age_recipient_clear(&rcpt);
    if (rc != ST_OK)
        st_model_audit(
            ws, actor, "model.share", r,
            rc == ST_E_DENIED ? "denied" : "failure", err->msg,
            json_pack("{s:s,s:s}", "recipient", recipient, "sha256", sha));
    return rc;
}

/* The model's files of a removal: shared copies first (they are keys to
 * the same payload), then the sealed file and its provenance. */
static st_code shred_share(void *ctx, const char *path, st_err *err)
{
    (void)ctx;
    return path && st_fs_exists(path) ? st_fs_shred(path, err) : ST_OK;
}

st_code st_model_rm(st_workspace *ws, const st_model_record *r,
                    const char *actor, st_err *err)
{
    /* the files first: a failure leaves the row, and `model rm` again
     * shreds what is left (a file already gone is skipped), then the row
     * and the model.rm entry commit together */
    st_code rc = st_model_db_share_paths(ws, r, shred_share, NULL, err);
    if (rc == ST_OK && st_fs_exists(r->path))
        rc = st_fs_shred(r->path, err);
    if (rc == ST_OK && st_fs_exists(r->provenance_path))
        rc = st_fs_shred(r->provenance_path, err);
    char res[ST_MODEL_NAME_MAX + 32];
    snprintf(res, sizeof(res), "model:%s@%u", r->name, r->version);
    json_t *details =
        json_pack("{s:s,s:s}", "job", r->job_id, "sha256", r->file_sha256);
    st_audit_event ev = {"operation",
                         actor && *actor ? actor : "system",
                         "model.rm",
                         res,
                         "success",
                         "crypto-shredded: sealed file, shared copies and "
                         "provenance",
                         details};
    if (rc == ST_OK)
        rc = details ? st_audit_txn_run(ws, removal_rows, (void *)r, &ev, err)
                     : st_err_errno(err, ST_E_IO, ENOMEM, "the model.rm entry");
    json_decref(details);
    if (rc != ST_OK)
        st_model_audit(
            ws, actor, "model.rm", r, "failure", err->msg,
            json_pack("{s:s,s:s}", "job", r->job_id, "sha256", r->file_sha256));
    return rc;
}
