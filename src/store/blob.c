/*
 * blob.c: the content-addressed blob store of a workspace. A blob's name
 * is the lowercase hex SHA-256 of its bytes; it lives at
 * blobs/<first two hex>/<hex>. Writes go to a temporary file, are fsynced
 * and renamed into place, so a blob path either holds the full content or
 * does not exist. Storing the same content twice is a no-op.
 *
 * Must never: trust a stored blob without re-hashing when asked to verify,
 * or accept a blob id that is not exactly 64 lowercase hex characters (an
 * id is used to build a path).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/primitives.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/workspace.h"

static ST_MUST_CHECK st_code check_id(const char *id, st_err *err)
{
    size_t n = strnlen(id, ST_BLOB_ID_LEN + 1);
    int ok = n == ST_BLOB_ID_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (!ok)
        return st_err_set(err, ST_E_INPUT,
                          "invalid blob id \"%.70s\": expected 64 lowercase "
                          "hex characters",
                          id);
    return ST_OK;
}

static ST_MUST_CHECK st_code blob_paths(const st_workspace *ws, const char *id,
                                        char *dir, char *file, size_t cap,
                                        st_err *err)
{
    char sub[3] = {id[0], id[1], 0};
    char blobs[PATH_MAX];
    st_code rc = st_workspace_subdir(ws, "blobs", blobs, sizeof(blobs), err);
    if (!rc)
        rc = st_fs_join(dir, cap, blobs, sub, err);
    if (!rc)
        rc = st_fs_join(file, cap, dir, id, err);
    return rc;
}

st_code st_blob_path(const st_workspace *ws, const char *id, char *out,
                     size_t cap, st_err *err)
{
    char dir[PATH_MAX];
    st_code rc = check_id(id, err);
    if (!rc)
        rc = blob_paths(ws, id, dir, out, cap, err);
    if (!rc && !st_fs_exists(out))
        rc = st_err_set(err, ST_E_NOTFOUND, "no blob %s in the workspace", id);
    return rc;
}

st_code st_blob_put(st_workspace *ws, const void *data, size_t len,
                    char id[ST_BLOB_ID_LEN + 1], st_err *err)
{
    uint8_t h[ST_SHA256_LEN];
    st_sha256(data, len, h);
    st_hex_encode(h, sizeof(h), id);
    char dir[PATH_MAX], file[PATH_MAX];
    st_code rc = blob_paths(ws, id, dir, file, sizeof(file), err);
    if (rc)
        return rc;
    if (st_fs_exists(file))
        return ST_OK;
    if ((rc = st_fs_mkdir_private(dir, err)))
        return rc;
    return st_fs_write_atomic(file, data, len, 0600, err);
}

st_code st_blob_put_file(st_workspace *ws, const char *path,
                         char id[ST_BLOB_ID_LEN + 1], st_err *err)
{
    char tmpdir[PATH_MAX], tmp[PATH_MAX];
    st_code rc = st_workspace_subdir(ws, "tmp", tmpdir, sizeof(tmpdir), err);
    if (rc)
        return rc;
    snprintf(tmp, sizeof(tmp), "%s/.blob.tmp.XXXXXX", tmpdir);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "cannot open %s", path);
    int out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "cannot create a file in %s",
                          tmpdir);
        close(in);
        return rc;
    }
    st_sha256_ctx *c = st_sha256_new();
    static const size_t bufsize = 1 << 16;
    unsigned char *buf = malloc(bufsize);
    if (!c || !buf) {
        rc = st_err_set(err, ST_E_IO, "out of memory");
        goto fail;
    }
    for (;;) {
        ssize_t n = read(in, buf, bufsize);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = st_err_errno(err, ST_E_IO, errno, "read %s", path);
            goto fail;
        }
        if (n == 0)
            break;
        st_sha256_update(c, buf, (size_t)n);
        if ((rc = st_fs_write_fd(out, buf, (size_t)n, tmp, err)))
            goto fail;
    }
    uint8_t h[ST_SHA256_LEN];
    st_sha256_final(c, h);
    st_hex_encode(h, sizeof(h), id);
    if (fsync(out) != 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "fsync %s", tmp);
        goto fail;
    }
    char dir[PATH_MAX], file[PATH_MAX];
    if ((rc = blob_paths(ws, id, dir, file, sizeof(file), err)) ||
        (rc = st_fs_mkdir_private(dir, err)))
        goto fail;
    if (rename(tmp, file) != 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "store blob %s", id);
        goto fail;
    }
    rc = st_fs_fsync_dir(dir, err);
    tmp[0] = '\0';
fail:
    if (tmp[0])
        unlink(tmp);
    close(out);
    close(in);
    free(buf);
    st_sha256_free(c);
    return rc;
}

st_code st_blob_get(const st_workspace *ws, const char *id, size_t max,
                    unsigned char **out, size_t *len, st_err *err)
{
    char file[PATH_MAX];
    st_code rc = st_blob_path(ws, id, file, sizeof(file), err);
    if (rc)
        return rc;
    if ((rc = st_fs_read_all(file, max, out, len, err)))
        return rc;
    uint8_t h[ST_SHA256_LEN];
    char hex[ST_BLOB_ID_LEN + 1];
    st_sha256(*out, *len, h);
    st_hex_encode(h, sizeof(h), hex);
    if (strcmp(hex, id) != 0) {
        free(*out);
        *out = NULL;
        *len = 0;
        return st_err_set(err, ST_E_DENIED,
                          "blob %s is corrupted: its content hashes to %s", id,
                          hex);
    }
    return ST_OK;
}

st_code st_blob_verify(const st_workspace *ws, const char *id, st_err *err)
{
    char file[PATH_MAX];
    st_code rc = st_blob_path(ws, id, file, sizeof(file), err);
    if (rc)
        return rc;
    uint8_t h[ST_SHA256_LEN];
    char hex[ST_BLOB_ID_LEN + 1];
    if ((rc = st_sha256_file(file, h, err)))
        return rc;
    st_hex_encode(h, sizeof(h), hex);
    if (strcmp(hex, id) != 0)
        return st_err_set(err, ST_E_DENIED,
                          "blob %s is corrupted: its content hashes to %s", id,
                          hex);
    return ST_OK;
}
