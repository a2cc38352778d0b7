/*
 * dataset_upload.c: datasets encrypted elsewhere: client-side encryption
 * (st_dataset_encrypt, with the KEK stanza wrapped by the server's
 * keyring), the server-side registration of an uploaded file and its
 * owner-signed manifest, and datasets adopted from another owner's broker
 * (whose key that broker holds). Part of the dataset module (dataset.c
 * says what the module owns).
 *
 * Never: register a file whose header, size or digests differ from the
 * manifest its owner signed.
 */
#include "crypto/age_keys.h"
#include "crypto/age_stream.h"
#include "data/rows.h"
#include "sealtrain/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/dsse.h"
#include "dataset_internal.h"
#include "sealtrain/access.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"

/* ---- client-side encryption, server-side registration (uploads) ------ */

st_code st_dataset_manifest_sign(const st_dataset_manifest *m,
                                 const uint8_t *seed, char **envelope,
                                 st_err *err)
{
    char keyid[65];
    uint8_t pub[32];
    *envelope = NULL;
    return dataset_sign_manifest(m, seed, envelope, keyid, pub, err);
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
    if ((rc =
             dataset_check_identity(o->name, o->owner, o->classification, err)))
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
        (rc = dataset_make_recipients(o->wrap, o->wrap_ctx, o->kek,
                                      (char *const *)o->recipients,
                                      o->nrecipients, &rcpts, err)) ||
        (rc = dataset_encrypt_input(&o->input, &sc, rcpts, o->nrecipients + 1,
                                    o->out_path, o->progress, o->pctx, &m,
                                    &committed, err)) ||
        (rc = stanza_version(o->out_path, &m.kek_version, err)))
        goto out;
    /* the wrap callback filled the id the server assigned */
    snprintf(m.id, sizeof(m.id), "%s", o->id);
    snprintf(m.name, sizeof(m.name), "%s", o->name);
    snprintf(m.owner, sizeof(m.owner), "%s", o->owner);
    m.generation = 1;
    dataset_now_text(m.created);
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
    dataset_free_recipients(rcpts, o->nrecipients + 1);
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
    st_code rc = dataset_ensure_kek(kr, kek, err);
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
        rc = dataset_kek_wrap(&k, kek, 0, st_secret_cbytes(file_key),
                              ST_AGE_FILE_KEY_LEN, aad.data, aad.len, body,
                              version, err);
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
    rc = dataset_check_stanzas(&h, m, err);
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
    if ((rc = st_age_kek_identity(m->kek_name, dataset_kek_unwrap, &k, &id,
                                  err)))
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
ST_MUST_CHECK st_code dataset_owner_signed_envelope(st_workspace *ws,
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
        !(rc = dataset_owner_key(ws, m->owner, NULL, r->signer_pub, &registered,
                                 err)) &&
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
int dataset_digests_match(const digests *d, const st_dataset_manifest *m)
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
    st_code rc = dataset_owner_signed_envelope(ws, env, m, r, err);
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
    st_code rc = dataset_lock_and_sweep(ws, &lk, err);
    if (rc)
        goto out;
    if ((rc = check_upload_manifest(ws, o, &m, &r, &canon, err)))
        goto out;
    if (dataset_row_get(ws, m.name, &exist, &e2) == ST_OK) {
        dataset_drow_free(&exist);
        rc = st_err_set(err, ST_E_EXISTS, "a dataset named \"%s\" exists",
                        m.name);
        goto out;
    }
    digests d;
    if ((rc = dataset_file_digests(o->path, &d, err))) {
        st_err_prefix(err, "the uploaded file");
        goto out;
    }
    if (!dataset_digests_match(&d, &m)) {
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
    dataset_now_text(r.created);
    memcpy(r.updated, r.created, sizeof(r.created));
    if (!(r.shred =
              st_secret_from(st_secret_cbytes(o->shred), SHRED_LEN, err))) {
        rc = err ? err->code : ST_E_IO;
        goto out;
    }
    if ((rc = dataset_file_path(ws, r.file, path, sizeof(path), err)))
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
        (rc = dataset_insert_row(ws, &r, canon, err)))
        goto out;
    moved = 2;
    rc = dataset_just_added(ws, r.name, r.kek_name, r.owner, "data.register",
                            out, err);
out:
    if (moved == 1 && rename(path, o->path) != 0)
        unlink(path); /* no row names it; the sweep would remove it */
    {
        json_t *det = json_pack("{s:s, s:s}", "via", "upload", "id", o->id);
        dataset_audit(ws, o->actor, "data.import", o->name,
                      rc ? "failure" : "success", rc && err ? err->msg : NULL,
                      det);
        json_decref(det);
    }
    st_dataset_manifest_free(&m);
    dataset_drow_free(&r);
    free(canon);
    dataset_unlock(&lk);
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
    st_code rc = env ? dataset_owner_signed_envelope(ws, env, &m, &r, err)
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
    if ((rc = dataset_file_digests(path, &d, err)))
        goto out;
    if (!dataset_digests_match(&d, &m)) {
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
    if ((rc = dataset_lock_and_sweep(ws, &lk, err)))
        goto out;
    drow exist;
    st_err e2;
    if (dataset_row_get(ws, m.name, &exist, &e2) == ST_OK) {
        dataset_drow_free(&exist);
        rc = st_err_set(err, ST_E_EXISTS, "a dataset named \"%s\" exists",
                        m.name);
        goto out;
    }
    if ((rc = dataset_file_path(ws, r.file, dst, sizeof(dst), err)) ||
        (rc = copy_file(path, dst, err)))
        goto out;
    copied = 1;
    char *text = st_json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
    rc = text ? dataset_insert_row(ws, &r, text, err)
              : st_err_set(err, ST_E_IO, "out of memory");
    free(text);
    if (rc == ST_OK) {
        copied = 0;
        json_t *det =
            json_pack("{s:s,s:s,s:I}", "broker", m.broker_url, "owner", m.owner,
                      "generation", (json_int_t)m.generation);
        dataset_audit(
            ws, actor, "data.import", m.name, "success",
            "encrypted dataset added; its key is released by its owner's "
            "broker",
            det);
        json_decref(det);
    }
out:
    if (copied)
        unlink(dst);
    dataset_unlock(&lk);
    json_decref(env);
    dataset_drow_free(&r);
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
    if ((rc = dataset_lock_and_sweep(ws, &lk, err)) ||
        (rc = dataset_load_verified(ws, name, signing_seed, &r, &m, path,
                                    sizeof(path), err)))
        goto out;
    loaded = 1;
    /* a new generation under a new file name (the same bytes): the
     * manifest without (or with the old) broker stays the signed
     * statement of the older generation only */
    if ((rc = dataset_next_generation(ws, &r, npath, sizeof(npath), err)) ||
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
        rc = dataset_commit_generation(ws, &r, &m, npath, path, signing_seed,
                                       "data.broker", actor, det, &kept, err);
    if (kept)
        wrote = 0; /* a row names it, or may after recovery */
out:
    if (wrote)
        unlink(npath);
    dataset_unlock(&lk);
    if (loaded) {
        st_dataset_manifest_free(&m);
        dataset_drow_free(&r);
    }
    /* a change's success entry is its transaction's */
    if (rc && kept != 2)
        dataset_audit(ws, actor, "data.broker", name, "failure",
                      err ? err->msg : NULL, NULL);
    json_decref(det);
    return rc;
}
