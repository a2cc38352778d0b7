/*
 * upload.c: resumable uploads of client-encrypted datasets (see
 * src/data/upload.h for the key model; docs/api.md "Uploading a
 * dataset" for the protocol).
 *
 * Owns: the catalog table `uploads` (module "upload"; its SQL is
 * upload_db.c's) and the part files under tmp/uploads/. Must never: keep the
 * file key (it is wrapped under the KEK in the request that carries it and
 * wiped), write plaintext (it never has any), or let one principal see or touch
 * another's upload.
 *
 * Durability: a chunk is written at the recorded offset and fsynced
 * before the row's `received` moves on; a crash between the two leaves
 * extra bytes past `received`, which the next write truncates. The shred
 * key sits in the row until commit copies it into the dataset's row; the
 * upload row is then deleted with secure_delete.
 */
#include "data/upload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/upload_db.h"
#include "sealtrain/audit.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "sealtrain/log.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"

static void audit(st_workspace *ws, const char *actor, const char *action,
                  const char *name, const char *outcome, const char *reason)
{
    char res[128];
    snprintf(res, sizeof(res), "dataset:%s", name);
    st_audit_event ev = {
        "operation", actor ? actor : "system", action, res, outcome, reason,
        NULL};
    st_err e;
    if (st_audit_append(ws, &ev, &e))
        st_warn("data.upload", "audit append failed: %s", e.msg);
}

/* ---- parsers (untrusted input; fuzz/fuzz_upload_request.c) ---------- */

st_code st_upload_request_parse(const char *json, size_t len,
                                st_upload_request *out, st_err *err)
{
    static const char *const top[] = {"name", "intake", "file_key", NULL};
    static const char *const keyk[] = {"args", "body", NULL};
    const char *W = "upload request";
    memset(out, 0, sizeof(*out));
    if (len > ST_UPLOAD_REQUEST_MAX)
        return st_err_set(err, ST_E_INPUT, "%s: larger than %d bytes", W,
                          ST_UPLOAD_REQUEST_MAX);
    json_t *j = st_json_parse(json, len, W, err);
    if (!j)
        return err ? err->code : ST_E_INPUT;
    const char *name = NULL, *intake = NULL, *body = NULL;
    json_t *fk = json_object_get(j, "file_key");
    json_t *args = json_object_get(fk, "args");
    st_code rc = json_is_object(j)
                     ? st_json_check_keys(j, top, W, err)
                     : st_err_set(err, ST_E_INPUT, "%s: not an object", W);
    if (!rc)
        rc = st_json_get_string(j, "name", 1, &name, W, err);
    if (!rc)
        rc = st_dataset_check_name("dataset name", name, err);
    if (!rc)
        rc = st_json_get_string(j, "intake", 1, &intake, W, err);
    if (!rc && (strlen(intake) != ST_AGE_RECIPIENT_STRLEN - 1 ||
                strncmp(intake, "age1", 4)))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"intake\" must be an age1... recipient", W);
    if (!rc && !json_is_object(fk))
        rc = st_err_set(err, ST_E_INPUT, "%s: \"file_key\" must be an object",
                        W);
    if (!rc)
        rc = st_json_check_keys(fk, keyk, "upload request file_key", err);
    if (!rc)
        rc = st_json_get_string(fk, "body", 1, &body, "file_key", err);
    if (!rc && (!json_is_array(args) || json_array_size(args) < 1 ||
                json_array_size(args) > 4))
        rc = st_err_set(err, ST_E_INPUT,
                        "%s: \"file_key.args\" must be 1 to 4 strings", W);
    const char *a[4];
    size_t na = json_array_size(args);
    for (size_t i = 0; !rc && i < na; i++)
        if (!(a[i] = json_string_value(json_array_get(args, i))))
            rc =
                st_err_set(err, ST_E_INPUT,
                           "%s: \"file_key.args\"[%zu] must be a string", W, i);
    uint8_t *b = NULL;
    size_t blen = 0;
    if (!rc && strlen(body) > 128)
        rc = st_err_set(err, ST_E_INPUT, "%s: \"file_key.body\" too long", W);
    if (!rc && (rc = st_base64_decode(body, strlen(body), 1, &b, &blen, err)))
        st_err_prefix(err, "%s: \"file_key.body\"", W);
    if (!rc && (rc = st_age_stanza_set(&out->key, a, na, b, blen, err)))
        st_err_prefix(err, "%s: \"file_key\"", W);
    if (!rc) {
        snprintf(out->name, sizeof(out->name), "%s", name);
        snprintf(out->intake, sizeof(out->intake), "%s", intake);
    }
    if (rc && err && err->code == ST_E_USAGE)
        err->code = ST_E_INPUT; /* a bad name here is bad input */
    if (rc) {
        rc = err ? err->code : ST_E_INPUT;
        st_upload_request_clear(out);
    }
    free(b);
    json_decref(j);
    return rc;
}

void st_upload_request_clear(st_upload_request *r)
{
    if (!r)
        return;
    st_age_stanza_clear(&r->key);
    memset(r, 0, sizeof(*r));
}

/* Strict decimal without sign or leading zeros (but "0"), at most 19
 * digits, ending at `stop`. */
static int parse_u64(const char **p, char stop, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == 19)
            return -1;
        v = v * 10 + (uint64_t)(s[n] - '0');
        n++;
    }
    if (n == 0 || (n > 1 && s[0] == '0') || s[n] != stop)
        return -1;
    *out = v;
    *p = s + n + (stop ? 1 : 0);
    return 0;
}

st_code st_upload_content_range_parse(const char *s, uint64_t *start,
                                      uint64_t *end, uint64_t *total,
                                      st_err *err)
{
    const char *p = s;
    if (!s || strncmp(p, "bytes ", 6) != 0)
        return st_err_set(err, ST_E_INPUT,
                          "Content-Range: expected \"bytes START-END/TOTAL\"");
    p += 6;
    if (parse_u64(&p, '-', start) || parse_u64(&p, '/', end) ||
        parse_u64(&p, '\0', total))
        return st_err_set(err, ST_E_INPUT,
                          "Content-Range: expected \"bytes START-END/TOTAL\" "
                          "with decimal numbers");
    if (*start > *end || *end >= *total)
        return st_err_set(err, ST_E_INPUT,
                          "Content-Range: need START <= END < TOTAL");
    return ST_OK;
}

/* ---- rows and part files ---------------------------------------------- */

static ST_MUST_CHECK st_code part_path(st_workspace *ws, const char *id,
                                       char *out, size_t cap, st_err *err)
{
    char dir[4096];
    st_code rc = st_workspace_subdir(ws, "tmp", dir, sizeof(dir), err);
    if (rc)
        return rc;
    size_t n = strlen(dir);
    if (n + 9 >= sizeof(dir))
        return st_err_set(err, ST_E_INTERNAL, "path too long");
    memcpy(dir + n, "/uploads", 9);
    if ((rc = st_fs_mkdir_private(dir, err)))
        return rc;
    if (snprintf(out, cap, "%s/%s.part", dir, id) >= (int)cap)
        return st_err_set(err, ST_E_INTERNAL, "path too long");
    return ST_OK;
}

static int valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n != ST_UPLOAD_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

/* One upload row of `principal` (NULL: any), optionally with its shred
 * key and stanza digest. */
static ST_MUST_CHECK st_code row_get(st_workspace *ws, const char *principal,
                                     const char *id, st_upload_info *out,
                                     st_secret **shred, uint8_t stanza[32],
                                     st_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!valid_id(id))
        return st_err_set(err, ST_E_NOTFOUND, "no upload %.40s", id);
    st_code rc = upload_db_migrate(ws, err);
    return rc ? rc : upload_db_get(ws, principal, id, out, shred, stanza, err);
}

/* Deletes the row (its shred key overwritten in the database file) and
 * the part file. */
static ST_MUST_CHECK st_code forget(st_workspace *ws, const char *id,
                                    st_err *err)
{
    char path[4200];
    st_code rc = part_path(ws, id, path, sizeof(path), err);
    if (rc)
        return rc;
    if ((rc = upload_db_delete(ws, id, err)))
        return rc;
    if (unlink(path) != 0 && errno != ENOENT)
        return st_err_errno(err, ST_E_IO, errno, "remove %s", path);
    return ST_OK;
}

st_code st_upload_sweep(st_workspace *ws, time_t now, int dry_run,
                        size_t *removed, st_err *err)
{
    if (removed)
        *removed = 0;
    st_code rc = upload_db_migrate(ws, err);
    if (rc)
        return rc;
    /* collected first: the deletes must not run under the open cursor */
    upload_db_key *ids = NULL;
    size_t n = 0;
    rc = upload_db_expired(ws, now, &ids, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        if (dry_run) {
            if (removed)
                (*removed)++;
            continue;
        }
        rc = forget(ws, ids[i].id, err);
        if (!rc) {
            char why[96];
            snprintf(why, sizeof(why), "upload %s by %s expired", ids[i].id,
                     ids[i].principal);
            audit(ws, NULL, "data.upload.expire", ids[i].name, "success", why);
            if (removed)
                (*removed)++;
        }
    }
    free(ids);
    return rc;
}

/* ---- the protocol ------------------------------------------------------ */

st_code st_upload_create(st_workspace *ws, st_keyring *kr,
                         const char *principal, const st_upload_request *req,
                         const st_age_identity *intake,
                         const st_upload_limits *lim, st_upload_info *out,
                         st_buf *stanza_body, st_err *err)
{
    memset(out, 0, sizeof(*out));
    st_code rc;
    if ((rc = upload_db_migrate(ws, err)) ||
        (rc = st_upload_sweep(ws, time(NULL), 0, NULL, err)))
        return rc;
    st_dataset_record rec;
    st_err e2;
    if (st_dataset_get(ws, req->name, &rec, &e2) == ST_OK) {
        st_dataset_record_free(&rec);
        return st_err_set(err, ST_E_EXISTS, "a dataset named \"%s\" exists",
                          req->name);
    }
    st_secret *fk = st_secret_new(ST_AGE_FILE_KEY_LEN, err), *shred = NULL;
    if (!fk)
        return err ? err->code : ST_E_IO;
    /* the file key lands in secure memory straight from the stanza */
    rc = intake->unwrap(intake->ctx, &req->key, st_secret_bytes(fk), err);
    if (rc == ST_E_NOTFOUND || rc == ST_E_INPUT)
        rc = st_err_set(err, ST_E_INPUT,
                        "the file key is not wrapped to this server's intake "
                        "key (it changes when the server restarts: GET "
                        "/v1/uploads/recipient again)");
    char kek[80];
    snprintf(kek, sizeof(kek), "owner.%s", principal);
    for (char *c = kek; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    uint32_t version = 0;
    if (!rc)
        rc = st_dataset_wrap_key(kr, kek, fk, &shred, stanza_body, &version,
                                 err);
    st_secret_free(fk);
    uint8_t idb[32], stanza[32];
    if (!rc)
        rc = st_random(idb, sizeof(idb), err);
    if (rc) {
        st_secret_free(shred);
        return rc;
    }
    st_sha256(stanza_body->data, stanza_body->len, stanza);
    st_hex_encode(idb, 16, out->id);
    st_hex_encode(idb + 16, 16, out->dataset_id);
    snprintf(out->principal, sizeof(out->principal), "%s", principal);
    snprintf(out->name, sizeof(out->name), "%s", req->name);
    snprintf(out->kek, sizeof(out->kek), "%s", kek);
    out->kek_version = version;
    out->size = -1;
    out->expires = time(NULL) + (time_t)lim->ttl_s;
    rc = upload_db_insert(ws, out, shred, stanza, err);
    st_secret_free(shred);
    if (rc)
        return rc;
    audit(ws, principal, "data.upload", req->name, "success", "upload opened");
    return ST_OK;
}

st_code st_upload_get(st_workspace *ws, const char *principal, const char *id,
                      st_upload_info *out, st_err *err)
{
    st_code rc = upload_db_migrate(ws, err);
    if (!rc)
        rc = st_upload_sweep(ws, time(NULL), 0, NULL, err);
    if (!rc)
        rc = row_get(ws, principal, id, out, NULL, NULL, err);
    return rc;
}

/* Writes the chunk at `start` of the part file, fsynced; bytes past
 * `start` left by a crash are cut first. */
static ST_MUST_CHECK st_code write_part(const char *path, uint64_t start,
                                        const void *data, size_t len,
                                        st_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "open %s", path);
    struct stat sb;
    st_code rc = ST_OK;
    if (fstat(fd, &sb) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "stat %s", path);
    else if ((uint64_t)sb.st_size < start)
        rc = st_err_set(err, ST_E_IO,
                        "%s holds %lld bytes, the catalog says %llu: the "
                        "part file was damaged (abandon the upload)",
                        path, (long long)sb.st_size, (unsigned long long)start);
    else if ((uint64_t)sb.st_size > start && ftruncate(fd, (off_t)start) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "truncate %s", path);
    if (!rc)
        rc = st_fs_write_fd_at(fd, data, len, start, path, err);
    if (!rc && fdatasync(fd) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "fsync %s", path);
    close(fd);
    return rc;
}

st_code st_upload_write(st_workspace *ws, const char *principal, const char *id,
                        uint64_t start, uint64_t total, const void *data,
                        size_t len, const st_upload_limits *lim,
                        st_upload_info *out, st_upload_refusal *why,
                        st_err *err)
{
    *why = ST_UPLOAD_OK;
    st_code rc = st_upload_get(ws, principal, id, out, err);
    if (rc)
        return rc;
    if (total > lim->max_size) {
        *why = ST_UPLOAD_TOO_LARGE;
        return st_err_set(err, ST_E_INPUT,
                          "upload of %llu bytes refused: this server takes "
                          "at most %llu bytes per upload",
                          (unsigned long long)total,
                          (unsigned long long)lim->max_size);
    }
    if (out->size >= 0 && (uint64_t)out->size != total)
        return st_err_set(err, ST_E_INPUT,
                          "Content-Range total %llu differs from the %lld "
                          "bytes declared by the first chunk",
                          (unsigned long long)total, (long long)out->size);
    if (out->size < 0) {
        uint64_t busy = 0;
        if ((rc = upload_db_inflight(ws, id, &busy, err)))
            return rc;
        if (busy + total > lim->max_inflight || busy + total < busy) {
            *why = ST_UPLOAD_BUSY;
            return st_err_set(err, ST_E_INPUT,
                              "the server holds %llu bytes of open uploads; "
                              "%llu more would pass its limit of %llu",
                              (unsigned long long)busy,
                              (unsigned long long)total,
                              (unsigned long long)lim->max_inflight);
        }
    }
    if (start != out->received) {
        *why = ST_UPLOAD_OFFSET;
        return st_err_set(err, ST_E_INPUT,
                          "the chunk starts at byte %llu, but %llu bytes "
                          "have arrived: continue from there",
                          (unsigned long long)start,
                          (unsigned long long)out->received);
    }
    char path[4200];
    if ((rc = part_path(ws, id, path, sizeof(path), err)) ||
        (rc = write_part(path, start, data, len, err)))
        return rc;
    /* recorded only once the bytes are durable; activity extends expiry */
    time_t expires = time(NULL) + (time_t)lim->ttl_s;
    if ((rc = upload_db_advance(ws, id, start, start + len, total, expires,
                                err)))
        return rc;
    out->received = start + len;
    out->size = (int64_t)total;
    out->expires = expires;
    return ST_OK;
}

st_code st_upload_commit(st_workspace *ws, st_keyring *kr,
                         const char *principal, const char *id,
                         const char *envelope, size_t len,
                         st_dataset_manifest *out, st_err *err)
{
    st_upload_info u;
    st_secret *shred = NULL;
    uint8_t stanza[32];
    st_code rc = upload_db_migrate(ws, err);
    if (!rc)
        rc = row_get(ws, principal, id, &u, &shred, stanza, err);
    if (rc)
        return rc;
    char path[4200];
    if (u.size < 0 || u.received != (uint64_t)u.size)
        rc = st_err_set(err, ST_E_INPUT,
                        "upload %s is incomplete: %llu of %lld bytes arrived",
                        id, (unsigned long long)u.received, (long long)u.size);
    if (!rc)
        rc = part_path(ws, id, path, sizeof(path), err);
    if (!rc) {
        st_dataset_register_opts o = {
            path,         envelope, len,           shred,  u.name,
            u.dataset_id, u.kek,    u.kek_version, stanza, principal};
        rc = st_dataset_register(ws, kr, &o, out, err);
    }
    st_secret_free(shred);
    if (!rc) {
        st_err e2;
        if (forget(ws, id, &e2))
            st_warn("data.upload", "forgetting upload %s: %s", id, e2.msg);
    }
    return rc;
}

st_code st_upload_abort(st_workspace *ws, const char *principal, const char *id,
                        st_err *err)
{
    st_upload_info u;
    st_code rc = st_upload_get(ws, principal, id, &u, err);
    if (!rc)
        rc = forget(ws, id, err);
    if (!rc)
        audit(ws, principal, "data.upload.abort", u.name, "success", NULL);
    return rc;
}
