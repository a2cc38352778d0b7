/*
 * dataset_verify.c: a dataset's record and its verification: the signed
 * manifest, the file's digests, its age header, and decryption into
 * secure memory with the hash and shape checked; the key release's file
 * check (st_dataset_file_key) and the runtime's decryption. Part of the
 * dataset module (dataset.c says what the module owns).
 *
 * Never: release a file key for a file whose header or manifest does not
 * verify, or leave decrypted data outside secure memory.
 */
#include "crypto/age_keys.h"
#include "crypto/age_stream.h"
#include "sealtrain/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/dsse.h"
#include "dataset_internal.h"
#include "sealtrain/crypto.h"
#include "sealtrain/json.h"

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
    return dataset_file_path(ws, r->file, out->path, sizeof(out->path), err);
}

/* The row of dataset `name`, the catalog migrated first. */
static ST_MUST_CHECK st_code row_load(st_workspace *ws, const char *name,
                                      drow *r, st_err *err)
{
    st_code rc = dataset_migrate(ws, err);
    return rc ? rc : dataset_row_get(ws, name, r, err);
}

st_code st_dataset_get(st_workspace *ws, const char *name,
                       st_dataset_record *out, st_err *err)
{
    drow r;
    st_code rc = row_load(ws, name, &r, err);
    if (rc)
        return rc;
    rc = record_from_row(ws, &r, out, err);
    dataset_drow_free(&r);
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
    rc = dataset_owner_key(ws, r.owner, r.signer_pub, pub, &registered, err);
    if (rc == ST_OK) {
        snprintf(owner, ST_DATASET_NAME_MAX + 1, "%s", r.owner);
        snprintf(id, 33, "%s", r.id);
    } else
        st_err_prefix(err, "dataset \"%s\"", name);
    dataset_drow_free(&r);
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
    rc = dataset_verify_manifest(ws, &r, m, err);
    dataset_drow_free(&r);
    return rc;
}

struct listing {
    st_workspace *ws;
    st_dataset_record *v;
    size_t n, cap;
};

static st_code list_one(void *ctx, const char *name, st_err *err)
{
    struct listing *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        st_dataset_record *nr = realloc(l->v, cap * sizeof(*nr));
        if (!nr)
            return st_err_errno(err, ST_E_IO, ENOMEM, "listing datasets");
        l->v = nr;
        l->cap = cap;
    }
    st_code rc = st_dataset_get(l->ws, name, &l->v[l->n], err);
    if (!rc)
        l->n++;
    return rc;
}

st_code st_dataset_list(st_workspace *ws, st_dataset_record **out, size_t *n,
                        st_err *err)
{
    *out = NULL;
    *n = 0;
    struct listing l = {.ws = ws};
    st_code rc = dataset_migrate(ws, err);
    if (!rc)
        rc = dataset_db_each_name(ws, list_one, &l, err);
    if (rc) {
        st_dataset_records_free(l.v, l.n);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return ST_OK;
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
ST_MUST_CHECK st_code dataset_check_stanzas(const st_age_header *hp,
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
    rc = dataset_check_stanzas(&h, m, err);
    st_age_header_clear(&h);
    return rc;
}

/* Largest header the release path reads: far beyond any recipient list a
 * manifest allows, small enough to read on every release. */
#define RELEASE_HEADER_MAX (1u << 20)
/* What it reads first: a header with a few stanzas fits in one page; a
 * longer one is read again in doubling sizes up to RELEASE_HEADER_MAX. */
#define RELEASE_HEADER_FIRST 4096u

/* Reads up to `want` bytes of `fd` from offset 0 into buf; *got bytes. */
static st_code read_head(int fd, const char *path, uint8_t *buf, size_t want,
                         size_t *got, st_err *err)
{
    while (*got < want) {
        ssize_t n = pread(fd, buf + *got, want - *got, (off_t)*got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return st_err_errno(err, ST_E_IO, errno, "read %s", path);
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return ST_OK;
}

/* The key release's file check: the size and the header bytes (stanzas
 * and MAC) against the signed manifest, parsed from the very bytes that
 * were hashed, so the stanza unwrapped is the one the owner signed. The
 * payload is not re-hashed here: it is authenticated chunk by chunk
 * (ChaCha20-Poly1305 under a payload key derived from the file key and
 * the payload nonce) and the runtime checks the plaintext against the
 * manifest's plain_sha256, so a payload changed after release fails the
 * job in the runtime; `data verify` still hashes the whole file. Only the
 * header is read (it used to read up to 1 MiB of the file per release:
 * the whole of a small dataset). */
ST_MUST_CHECK st_code dataset_release_header(st_workspace *ws, const drow *r,
                                             const st_dataset_manifest *m,
                                             st_age_header *h, st_err *err)
{
    char path[4200];
    st_code rc = dataset_file_path(ws, r->file, path, sizeof(path), err);
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
    size_t most = m->file_size < RELEASE_HEADER_MAX ? (size_t)m->file_size
                                                    : RELEASE_HEADER_MAX;
    size_t want = most < RELEASE_HEADER_FIRST ? most : RELEASE_HEADER_FIRST;
    uint8_t *buf = NULL;
    size_t got = 0;
    int incomplete = 1;
    rc = ST_OK;
    while (!rc && incomplete) {
        uint8_t *nb = realloc(buf, want ? want : 1);
        if (!nb) {
            rc = st_err_set(err, ST_E_IO, "out of memory");
            break;
        }
        buf = nb;
        if ((rc = read_head(fd, path, buf, want, &got, err)))
            break;
        st_err perr;
        if (st_age_header_parse(buf, got, h, &incomplete, &perr) == ST_OK)
            break;
        if (incomplete && got == want && want < most) {
            want = want > most / 2 ? most : 2 * want;
            continue;
        }
        /* a header that no longer parses is an integrity failure */
        if (err)
            *err = perr;
        st_err_prefix(err, "dataset \"%s\": header of %s", r->name, path);
        if (err)
            err->code = ST_E_DENIED;
        rc = ST_E_DENIED;
    }
    close(fd);
    uint8_t dig[32];
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
        rc = dataset_check_stanzas(h, m, err);
    if (rc)
        st_age_header_clear(h);
    free(buf);
    return rc;
}

/* Decrypts into secure memory with `ids`; checks hash and shape. */
ST_MUST_CHECK st_code dataset_decrypt_check(
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
    st_code rc = dataset_migrate(ws, err);
    if (!rc)
        rc = dataset_row_get(ws, name, &r, err);
    if (rc)
        return rc;
    char path[4200];
    int sig_ok;
    rc = dataset_verify_manifest_at(ws, &r, &m, &sig_ok, err);
    chk->signature = sig_ok;
    chk->manifest = rc == ST_OK ? 1 : sig_ok ? 0 : -1;
    if (rc)
        goto out;
    rc = dataset_check_file(ws, &r, &m, path, sizeof(path), err);
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
    if ((rc =
             st_age_kek_identity(r.kek_name, dataset_kek_unwrap, &k, &id, err)))
        goto out;
    void *plain;
    size_t len;
    st_tensor_view v;
    rc = dataset_decrypt_check(-1, path, &id, 1, m.plain_sha256, &m, &plain,
                               &len, &v, chk, err);
    st_age_identity_clear(&id);
    if (!rc)
        st_secmem_free(plain);
    if (rc)
        st_err_prefix(err, "dataset \"%s\"", name);
out:
    if (rc) {
        json_t *det = json_pack("{s:b}", "deep", deep);
        dataset_audit(ws, NULL, "data.verify", name, "failure",
                      err ? err->msg : "", det);
        json_decref(det);
    }
    st_dataset_manifest_free(&m);
    dataset_drow_free(&r);
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
    st_code rc = dataset_migrate(ws, err);
    if (!rc)
        rc = dataset_row_get(ws, name, &r, err);
    if (rc)
        return rc;
    if ((rc = dataset_verify_manifest(ws, &r, &m, err))) {
        dataset_drow_free(&r);
        return rc;
    }
    st_age_header h;
    memset(&h, 0, sizeof(h));
    if ((rc = dataset_release_header(ws, &r, &m, &h, err)))
        goto out;
    kek_ctx k = {kr, st_secret_cbytes(r.shred), 0, NULL};
    st_buf aad;
    st_buf_init(&aad);
    rc = st_age_kek_aad(r.kek_name, &aad, err);
    for (size_t i = 0; !rc && i < h.nstanzas; i++) {
        if (strcmp(h.stanzas[i].args[0], ST_AGE_STANZA_SEALTRAIN_KEK))
            continue;
        rc = dataset_kek_unwrap(&k, r.kek_name, r.kek_version,
                                h.stanzas[i].body, h.stanzas[i].body_len,
                                aad.data, aad.len, file_key, err);
        break;
    }
    st_buf_free(&aad);
    st_age_header_clear(&h);
out:
    if (!rc && mout)
        *mout = m;
    else
        st_dataset_manifest_free(&m);
    dataset_drow_free(&r);
    return rc;
}

st_code st_dataset_decrypt(const char *path, const st_secret *file_key,
                           const uint8_t plain_sha256[32], void **plain,
                           size_t *len, st_tensor_view *view, st_err *err)
{
    if (!file_key || st_secret_len(file_key) != ST_AGE_FILE_KEY_LEN)
        return st_err_set(err, ST_E_USAGE, "a 16-byte file key is needed");
    kek_ctx k = {NULL, NULL, 0, file_key};
    st_age_identity id = {dataset_fixed_unwrap, NULL, &k};
    return dataset_decrypt_check(-1, path, &id, 1, plain_sha256, NULL, plain,
                                 len, view, NULL, err);
}

st_code st_dataset_decrypt_fd(int fd, const char *name,
                              const st_secret *file_key,
                              const uint8_t plain_sha256[32], void **plain,
                              size_t *len, st_tensor_view *view, st_err *err)
{
    if (!file_key || st_secret_len(file_key) != ST_AGE_FILE_KEY_LEN)
        return st_err_set(err, ST_E_USAGE, "a 16-byte file key is needed");
    kek_ctx k = {NULL, NULL, 0, file_key};
    st_age_identity id = {dataset_fixed_unwrap, NULL, &k};
    return dataset_decrypt_check(fd, name, &id, 1, plain_sha256, NULL, plain,
                                 len, view, NULL, err);
}
