/*
 * dataset_import.c: importing a dataset: validates the input, encrypts it
 * (age, a sealtrain-kek stanza with the shred key and the owner's X25519
 * recovery stanzas) into a new file, signs its manifest and inserts its
 * row; and the pieces of that which uploads and re-encryption share. Part
 * of the dataset module (dataset.c says what the module owns).
 *
 * Never: write plaintext to any file (conversion streams into the age
 * writer from secure memory), or keep a file that no committed row names.
 */
#include "audit/txn.h"
#include "crypto/age_keys.h"
#include "crypto/age_stream.h"
#include "data/rows.h"
#include "sealtrain/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/crypto.h"
#include "sealtrain/log.h"

/* ---- import ---------------------------------------------------------- */

typedef struct enc_sink {
    st_age_writer *w;
} enc_sink;

static ST_MUST_CHECK st_code to_age(void *ctx, const uint8_t *p, size_t n,
                                    st_err *err)
{
    return st_age_writer_write(((enc_sink *)ctx)->w, p, n, err);
}

void dataset_now_text(char out[40])
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
ST_MUST_CHECK st_code dataset_make_recipients(st_age_kek_wrap_fn wrap,
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
ST_MUST_CHECK st_code dataset_encrypt_input(const st_data_input *in,
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
    if ((rc = dataset_file_digests(path, &d, err)))
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

void dataset_free_recipients(st_age_recipient *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++)
        st_age_recipient_clear(&r[i]);
    free(r);
}

ST_MUST_CHECK st_code dataset_ensure_kek(st_keyring *kr, const char *name,
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

/* What every new dataset needs, whether imported here or encrypted on a
 * client for upload: valid names and a known classification. */
ST_MUST_CHECK st_code dataset_check_identity(const char *name,
                                             const char *owner,
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
ST_MUST_CHECK st_code dataset_just_added(st_workspace *ws, const char *name,
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
    st_code rc = dataset_row_get(ws, name, &chk, err);
    if (rc == ST_OK) {
        rc = dataset_verify_manifest(ws, &chk, out, err);
        dataset_drow_free(&chk);
    }
    return rc;
}

st_code st_dataset_import(st_workspace *ws, st_keyring *kr,
                          const st_dataset_import_opts *o,
                          st_dataset_manifest *out, st_err *err)
{
    st_code rc;
    if ((rc =
             dataset_check_identity(o->name, o->owner, o->classification, err)))
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

    if ((rc = dataset_lock_and_sweep(ws, &lk, err)))
        goto out;
    drow exist;
    st_err e2;
    if (dataset_row_get(ws, o->name, &exist, &e2) == ST_OK) {
        dataset_drow_free(&exist);
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
            (rc = dataset_owner_key(ws, o->owner, pub, key, &registered, err)))
            goto out;
        if (!st_ct_equal(pub, key, 32)) {
            rc = st_err_set(err, ST_E_DENIED,
                            "the signing key is not the registered key of "
                            "owner %s",
                            o->owner);
            goto out;
        }
    }
    if ((rc = dataset_ensure_kek(kr, kek, err)))
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
    dataset_now_text(r.created);
    memcpy(r.updated, r.created, sizeof(r.created));
    if ((rc = dataset_file_path(ws, r.file, path, sizeof(path), err)))
        goto out;

    kek_ctx k = {kr, st_secret_cbytes(r.shred), 0, NULL};
    if ((rc = dataset_make_recipients(dataset_kek_wrap, &k, kek,
                                      (char *const *)o->recipients,
                                      o->nrecipients, &rcpts, err)) ||
        (rc = dataset_encrypt_input(&o->input, &sc, rcpts, o->nrecipients + 1,
                                    path, o->progress, o->pctx, &m,
                                    &committed_file, err)))
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
    rc = dataset_sign_manifest(&m, o->signing_seed, &env, r.signer_keyid,
                               r.signer_pub, err);
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
            if ((rc = dataset_insert_row(ws, &r, env, err)) ||
                (rc = dataset_just_added(ws, r.name, NULL, NULL, "data.import",
                                         out, err)) ||
                (rc = st_audit_txn_event(ws, &ev, &entry, err)))
                st_audit_txn_rollback(ws);
            else if ((rc = st_audit_txn_commit(ws, &unknown, err)) == ST_OK)
                committed = 1;
        }
        json_decref(det);
        if (rc == ST_OK || unknown)
            committed_file = 2; /* a row names it, or may after recovery */
        if (unknown)
            dataset_commit_unknown = 1;
        if (rc == ST_OK)
            st_audit_txn_deliver(ws, entry);
    }
    /* access control knows a registered owner: record the ownership */
    if (committed)
        st_discard(dataset_just_added(ws, r.name, r.kek_name,
                                      registered ? r.owner : NULL,
                                      "data.import", NULL, NULL)); /* warns */
out:
    if (committed_file == 1)
        unlink(path); /* encrypted, but no row names it */
    dataset_free_recipients(rcpts, o->nrecipients + 1);
    st_data_schema_free(&sc);
    st_dataset_manifest_free(&m);
    if (!committed) {
        json_t *det = json_pack("{s:s, s:s}", "owner", o->owner,
                                "classification", o->classification);
        dataset_audit(ws, o->owner, "data.import", o->name, "failure",
                      err ? err->msg : NULL, det);
        json_decref(det);
    }
    dataset_drow_free(&r);
    free(env);
    dataset_unlock(&lk);
    return rc;
}
