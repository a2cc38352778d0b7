/*
 * dataset_internal.h: what the files of the dataset module share (not
 * public): the catalog row, the datasets lock, the sealtrain-kek stanza
 * callbacks, file digests, and the helpers each file lends the others.
 * Each declaration's comment is at its definition.
 */
#ifndef ST_DATASET_INTERNAL_H
#define ST_DATASET_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "data/rows.h"
#include "sealtrain/age.h"
#include "sealtrain/dataset.h"
#include "sealtrain/err.h"
#include "sealtrain/keyring.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"

/* Bytes of the shred key kept in a dataset's row. */
#define SHRED_LEN 16

/* The exclusive datasets lock (datasets/.lock). */
typedef struct dlock {
    int fd;
    char dir[4096];
} dlock;

/* The context of the sealtrain-kek stanza callbacks. */
typedef struct kek_ctx {
    st_keyring *kr;
    const uint8_t *shred;   /* SHRED_LEN bytes, secure memory */
    uint32_t used;          /* version the wrap used */
    const st_secret *fixed; /* runtime: the file key itself */
} kek_ctx;

/* A row of the catalog table `datasets`. */
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

/* The size and digests of an encrypted file. */
typedef struct digests {
    uint64_t size;
    uint8_t file[32], header[32], payload[32];
} digests;

/* Set when a COMMIT of this process failed (dataset.c). */
extern int dataset_commit_unknown;

/* ---- dataset_db.c: the table and its rows ---- */

ST_MUST_CHECK st_code dataset_migrate(st_workspace *ws, st_err *err);
ST_MUST_CHECK st_code dataset_db_exec(st_workspace *ws, const char *sql,
                                      st_err *err);
/* *named 1 if a row names dataset file `file` (a name under datasets/). */
ST_MUST_CHECK st_code dataset_db_names_file(st_workspace *ws, const char *file,
                                            int *named, st_err *err);
/* Calls fn for each dataset's name, in order, stopping at a failure. */
typedef st_code (*dataset_name_fn)(void *ctx, const char *name, st_err *err);
ST_MUST_CHECK st_code dataset_db_each_name(st_workspace *ws, dataset_name_fn fn,
                                           void *ctx, st_err *err);
/* Deletes the row of dataset `name` (inside the caller's transaction). */
ST_MUST_CHECK st_code dataset_db_delete(st_workspace *ws, const char *name,
                                        st_err *err);
void dataset_drow_free(drow *r);
ST_MUST_CHECK st_code dataset_row_get(st_workspace *ws, const char *name,
                                      drow *r, st_err *err);
ST_MUST_CHECK st_code dataset_insert_row(st_workspace *ws, const drow *r,
                                         const char *env, st_err *err);
ST_MUST_CHECK st_code dataset_update_row(st_workspace *ws, const drow *r,
                                         long long old_gen, const char *env,
                                         st_err *err);

/* ---- dataset.c: the lock, the KEK stanza, digests, manifests ---- */

ST_MUST_CHECK st_code dataset_lock_and_sweep(st_workspace *ws, dlock *l,
                                             st_err *err);
void dataset_unlock(dlock *l);
ST_MUST_CHECK st_code dataset_kek_wrap(void *ctx, const char *name,
                                       uint32_t version, const uint8_t *secret,
                                       size_t len, const uint8_t *aad,
                                       size_t aadlen, st_buf *out,
                                       uint32_t *used, st_err *err);
ST_MUST_CHECK st_code dataset_kek_unwrap(void *ctx, const char *name,
                                         uint32_t version,
                                         const uint8_t *wrapped, size_t len,
                                         const uint8_t *aad, size_t aadlen,
                                         st_secret **out, st_err *err);
ST_MUST_CHECK st_code
dataset_fixed_unwrap(void *ctx, const st_age_stanza *s,
                     uint8_t file_key[ST_AGE_FILE_KEY_LEN], st_err *err);
int dataset_keep_not_kek(void *ctx, const st_age_stanza *s);
ST_MUST_CHECK st_code dataset_file_path(st_workspace *ws, const char *file,
                                        char *out, size_t cap, st_err *err);
ST_MUST_CHECK st_code dataset_file_digests(const char *path, digests *d,
                                           st_err *err);
ST_MUST_CHECK st_code dataset_owner_key(st_workspace *ws, const char *owner,
                                        const uint8_t *fallback,
                                        uint8_t pub[32], int *registered,
                                        st_err *err);
ST_MUST_CHECK st_code dataset_sign_manifest(const st_dataset_manifest *m,
                                            const uint8_t *seed,
                                            char **envelope, char keyid[65],
                                            uint8_t pub[32], st_err *err);
ST_MUST_CHECK st_code dataset_verify_manifest_at(st_workspace *ws,
                                                 const drow *r,
                                                 st_dataset_manifest *m,
                                                 int *sig_ok, st_err *err);
ST_MUST_CHECK st_code dataset_verify_manifest(st_workspace *ws, const drow *r,
                                              st_dataset_manifest *m,
                                              st_err *err);
ST_MUST_CHECK st_code dataset_check_file(st_workspace *ws, const drow *r,
                                         const st_dataset_manifest *m,
                                         char *path, size_t cap, st_err *err);
void dataset_audit(st_workspace *ws, const char *actor, const char *action,
                   const char *name, const char *outcome, const char *reason,
                   json_t *details);

/* ---- dataset_import.c: what import shares with uploads and changes ---- */

void dataset_now_text(char out[40]);
ST_MUST_CHECK st_code dataset_make_recipients(st_age_kek_wrap_fn wrap,
                                              void *wctx, const char *kek,
                                              char *const *age1, size_t n,
                                              st_age_recipient **out,
                                              st_err *err);
ST_MUST_CHECK st_code dataset_encrypt_input(const st_data_input *in,
                                            const st_data_schema *sc,
                                            const st_age_recipient *rcpts,
                                            size_t nrcpts, const char *path,
                                            st_data_progress progress,
                                            void *pctx, st_dataset_manifest *m,
                                            int *committed, st_err *err);
void dataset_free_recipients(st_age_recipient *r, size_t n);
ST_MUST_CHECK st_code dataset_ensure_kek(st_keyring *kr, const char *name,
                                         st_err *err);
ST_MUST_CHECK st_code dataset_check_identity(const char *name,
                                             const char *owner,
                                             const char *classification,
                                             st_err *err);
ST_MUST_CHECK st_code dataset_just_added(st_workspace *ws, const char *name,
                                         const char *kek, const char *owner,
                                         const char *action,
                                         st_dataset_manifest *out, st_err *err);

/* ---- dataset_verify.c: header checks and checked decryption ---- */

ST_MUST_CHECK st_code dataset_check_stanzas(const st_age_header *hp,
                                            const st_dataset_manifest *m,
                                            st_err *err);
ST_MUST_CHECK st_code dataset_release_header(st_workspace *ws, const drow *r,
                                             const st_dataset_manifest *m,
                                             st_age_header *h, st_err *err);
ST_MUST_CHECK st_code dataset_decrypt_check(
    int fd, const char *path, const st_age_identity *ids, size_t nids,
    const uint8_t sha[32], const st_dataset_manifest *m, void **plain,
    size_t *len, st_tensor_view *v, st_dataset_check *chk, st_err *err);

/* ---- dataset_rewrap.c: the steps of a change to a new generation ---- */

ST_MUST_CHECK st_code dataset_load_verified(st_workspace *ws, const char *name,
                                            const uint8_t *seed, drow *r,
                                            st_dataset_manifest *m, char *path,
                                            size_t cap, st_err *err);
ST_MUST_CHECK st_code dataset_next_generation(st_workspace *ws, drow *r,
                                              char *npath, size_t cap,
                                              st_err *err);
ST_MUST_CHECK st_code dataset_commit_generation(
    st_workspace *ws, drow *r, st_dataset_manifest *m, const char *path,
    const char *old_path, const uint8_t *seed, const char *what,
    const char *actor, json_t *details, int *kept, st_err *err);

/* ---- dataset_upload.c: uploaded manifests ---- */

ST_MUST_CHECK st_code dataset_owner_signed_envelope(st_workspace *ws,
                                                    const json_t *env,
                                                    st_dataset_manifest *m,
                                                    drow *r, st_err *err);
int dataset_digests_match(const digests *d, const st_dataset_manifest *m);

#endif
