/*
 * sealtrain/dataset.h: encrypted, signed datasets in a workspace.
 *
 * A dataset is three things (docs/datasets.md):
 *  - an age v1 file, datasets/<id>-g<generation>.age, whose plaintext is
 *    the tensor layout of readers.h. Its stanzas: one `sealtrain-kek NAME
 *    VERSION` (the file key, masked with the dataset's shred key, wrapped
 *    under the owner's KEK in the keyring) and one X25519 stanza per
 *    recovery recipient (the plain file key: the owner's own `age -d`);
 *  - a manifest: canonical JSON in a DSSE envelope signed with the owner's
 *    Ed25519 key (name, schema, rows, classes, plaintext SHA-256, digests
 *    of the encrypted file, classification, retention, KEK name+version);
 *  - a catalog row (table datasets, module "data") holding the manifest
 *    envelope, the signer's public key and the 16-byte shred key.
 *
 * The shred key makes `rm` a crypto-shred: the KEK wraps file_key XOR
 * shred_key, so once the catalog row (the only copy of the shred key) is
 * securely deleted, no copy of the ciphertext can be opened through the
 * keyring again; only the owner's own X25519 recipients still can.
 *
 * Every change is crash-safe: new files are written atomically under a
 * new name, the catalog row is switched in one transaction, and only then
 * are old files removed; files no row refers to are swept under the
 * datasets lock. Plaintext never reaches a file.
 */
#ifndef SEALTRAIN_DATASET_H
#define SEALTRAIN_DATASET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sealtrain/age.h"
#include "sealtrain/bytes.h"
#include "sealtrain/err.h"
#include "sealtrain/readers.h"
#include "sealtrain/secmem.h"

#ifdef __cplusplus
extern "C" {
#endif

struct st_workspace;
struct st_keyring;

#define ST_DATASET_NAME_MAX 64
#define ST_DATASET_MANIFEST_TYPE "https://sealtrain.dev/dataset-manifest/v1"
#define ST_DATASET_LAYOUT "sealtrain-tensor/v1"
#define ST_DATASET_FILE_KEY_LEN 16
#define ST_DATASET_BROKER_URL_MAX 255
/* The id of a resumable upload (POST /v1/uploads, docs/api.md): hex. */
#define ST_UPLOAD_ID_LEN 32

/* The manifest, parsed. Strings are NUL-terminated copies. */
typedef struct st_dataset_manifest {
    char name[ST_DATASET_NAME_MAX + 1];
    char id[33]; /* 16 random bytes, hex */
    long long generation;
    char owner[ST_DATASET_NAME_MAX + 1];
    char created[40], updated[40];
    char classification[16];  /* public internal confidential restricted */
    long long retention_days; /* -1: none */
    char source_format[8];
    char source_file[256]; /* base name of the imported file */
    uint64_t rows;
    uint32_t cols;
    uint32_t classes; /* 0 for regression */
    int labels_mapped;
    /* label_kind "value" (regression): targets per row and their names;
     * classification has targets 1 and no names */
    int regression;
    uint32_t targets;
    char **target_names;  /* targets names (regression), else NULL */
    char *label_name;     /* may be NULL */
    char **feature_names; /* cols names or NULL */
    uint8_t plain_sha256[32];
    uint64_t plain_size;
    uint8_t file_sha256[32];
    uint64_t file_size;
    uint8_t header_sha256[32];
    uint8_t payload_sha256[32];
    char kek_name[65];
    uint32_t kek_version;
    char **recipients; /* age1... */
    size_t nrecipients;
    /* optional "broker": the owner's remote key broker (`serve --broker`)
     * that alone releases this dataset's key; "" when the key is released
     * by the keyring of the workspace holding the dataset */
    char broker_url[ST_DATASET_BROKER_URL_MAX + 1];
    uint8_t broker_spki_sha256[32]; /* pin: SHA-256 of the broker's TLS
                                       SubjectPublicKeyInfo (DER) */
} st_dataset_manifest;

/* Checks a broker URL for a manifest: https://HOST[:PORT][/PATH], at most
 * ST_DATASET_BROKER_URL_MAX printable characters without spaces, quotes
 * or backslashes; no user info, query or fragment. */
ST_MUST_CHECK st_code st_dataset_check_broker_url(const char *url, st_err *err);

/* Canonical JSON of a manifest (malloc'ed). */
char *st_dataset_manifest_encode(const st_dataset_manifest *m, size_t *len,
                                 st_err *err);
/* Strict parse of manifest JSON (untrusted): unknown keys, wrong types or
 * out-of-range values are ST_E_INPUT naming the field. */
ST_MUST_CHECK st_code st_dataset_manifest_parse(const char *json, size_t len,
                                                st_dataset_manifest *m,
                                                st_err *err);
void st_dataset_manifest_free(st_dataset_manifest *m);
/* "public" < "internal" < "confidential" < "restricted": 0..3, or -1. */
int st_dataset_classification_rank(const char *s);
/* Dataset and principal names: 1-64 of [A-Za-z0-9._-], first alnum. */
ST_MUST_CHECK st_code st_dataset_check_name(const char *what, const char *name,
                                            st_err *err);

/* --- import ---------------------------------------------------------- */

typedef struct st_dataset_import_opts {
    st_data_input input;
    const char *name;
    const char *owner;
    const char *classification;
    long long retention_days; /* -1: none */
    const char *kek;          /* NULL: "owner.<owner>" (created if absent) */
    const char *const *recipients; /* age1... for the owner's recovery */
    size_t nrecipients;
    const uint8_t *signing_seed;       /* the owner's Ed25519 seed (32 bytes) */
    const char *broker_url;            /* NULL: released by this workspace */
    const uint8_t *broker_spki_sha256; /* 32 bytes, with broker_url */
    st_data_progress progress;
    void *pctx;
} st_dataset_import_opts;

/* Validates (pass 1), converts and encrypts (pass 2, streaming), signs
 * the manifest, registers the dataset. ST_E_EXISTS if the name is taken.
 * Nothing is written when validation fails. *out may be NULL. */
ST_MUST_CHECK st_code st_dataset_import(struct st_workspace *ws,
                                        struct st_keyring *kr,
                                        const st_dataset_import_opts *o,
                                        st_dataset_manifest *out, st_err *err);

/* --- client-side encryption and server-side registration ------------- */

/* A data owner encrypting on their own machine for a server's workspace
 * (docs/api.md, "Uploading a dataset"): the same validation, conversion
 * and streaming encryption as import, but the sealtrain-kek stanza is
 * made by `wrap` (the server's keyring, over the upload API) and nothing
 * is registered. The X25519 recovery stanzas are made here. */
typedef struct st_dataset_encrypt_opts {
    st_data_input input;
    const char *name;
    const char *owner;
    const char *classification;
    long long retention_days; /* -1: none */
    const char *kek;          /* the KEK the stanza names */
    st_age_kek_wrap_fn wrap;  /* called once, with the file key */
    void *wrap_ctx;
    /* the dataset id (32 hex): read after `wrap` ran, so the callback can
     * fill it with the id the server assigned */
    const char *id;
    const char *const *recipients; /* age1... for the owner's recovery */
    size_t nrecipients;
    const char *out_path; /* the encrypted file, written atomically */
    st_data_progress progress;
    void *pctx;
} st_dataset_encrypt_opts;

/* Validates (pass 1; `wrap` is not called for invalid input), encrypts
 * to out_path and fills *out with the manifest of generation 1 (owned;
 * st_dataset_manifest_free it). The file is removed on failure. */
ST_MUST_CHECK st_code st_dataset_encrypt(const st_dataset_encrypt_opts *o,
                                         st_dataset_manifest *out, st_err *err);
/* Canonical manifest JSON in a DSSE envelope signed by `seed`. */
ST_MUST_CHECK st_code st_dataset_manifest_sign(const st_dataset_manifest *m,
                                               const uint8_t *seed,
                                               char **envelope, st_err *err);

/* Server side of an upload: wraps file_key XOR a fresh shred key under
 * KEK `kek` (created when missing) at its current version, as the body of
 * a sealtrain-kek stanza (AAD st_age_kek_aad(kek)). *shred (secure
 * memory) must be kept until registration. */
ST_MUST_CHECK st_code st_dataset_wrap_key(struct st_keyring *kr,
                                          const char *kek,
                                          const st_secret *file_key,
                                          st_secret **shred, st_buf *body,
                                          uint32_t *version, st_err *err);

typedef struct st_dataset_register_opts {
    const char *path;     /* the uploaded encrypted file; moved on success */
    const char *envelope; /* the owner's signed manifest (untrusted) */
    size_t envelope_len;
    const st_secret *shred; /* from st_dataset_wrap_key */
    /* what the server assigned when it wrapped the key: the manifest must
     * say the same */
    const char *name;
    const char *id;
    const char *kek;
    uint32_t kek_version;
    const uint8_t *stanza_sha256; /* SHA-256 of the wrapped stanza body */
    const char *actor;            /* the uploading principal */
} st_dataset_register_opts;

/* Registers an already-encrypted dataset: the manifest must be signed by
 * its owner's registered key, the owner must be the actor and hold
 * data.import (a data owner), the name must be free, the file must match
 * the manifest's size and digests, and its header must carry exactly the
 * stanzas the manifest names, the server's sealtrain-kek stanza, and a MAC
 * that its file key opens. Then the file is moved into datasets/
 * (atomic rename), the catalog row written and the import audited.
 * ST_E_DENIED (signature, signer, stanza), ST_E_INPUT (digest, content),
 * ST_E_EXISTS (name). *out may be NULL. */
ST_MUST_CHECK st_code st_dataset_register(struct st_workspace *ws,
                                          struct st_keyring *kr,
                                          const st_dataset_register_opts *o,
                                          st_dataset_manifest *out,
                                          st_err *err);

/* Adds a dataset whose key its owner's remote broker releases (the
 * manifest has a "broker" section): the encrypted file at `path` and the
 * owner's DSSE manifest envelope. The owner must be a principal here with
 * the signing key that signed it, the file must match the manifest's size
 * and digests; it is copied into datasets/ and registered under the
 * manifest's name. No key is involved. ST_E_USAGE for a manifest without
 * a broker, ST_E_DENIED (signature, owner), ST_E_INPUT (file), ST_E_EXISTS
 * (name). `actor` is named in the audit entry. *out may be NULL. */
ST_MUST_CHECK st_code st_dataset_adopt(struct st_workspace *ws,
                                       const char *path, const char *envelope,
                                       size_t envelope_len, const char *actor,
                                       st_dataset_manifest *out, st_err *err);

/* --- catalog views --------------------------------------------------- */

typedef struct st_dataset_record {
    st_dataset_manifest m; /* parsed without checking the signature */
    char *envelope;        /* the DSSE envelope JSON */
    char signer_keyid[65];
    char path[4096]; /* the encrypted file */
} st_dataset_record;

ST_MUST_CHECK st_code st_dataset_get(struct st_workspace *ws, const char *name,
                                     st_dataset_record *out, st_err *err);
/* The owner of dataset `name`, its id and the key its owner signs with
 * (the registered key, or in a workspace without principals the key
 * recorded at import): what the owner's signed statements about the
 * dataset (its manifest, its release policy) are verified under. */
ST_MUST_CHECK st_code st_dataset_owner_key(struct st_workspace *ws, const char *name,
                             char owner[ST_DATASET_NAME_MAX + 1], char id[33],
                             uint8_t pub[32], st_err *err);
/* The manifest of dataset `name` after checking its DSSE signature under
 * the owner's registered key (or the key recorded at import) and that it
 * describes the catalog row: what a consumer may rely on, e.g. the broker
 * pin. ST_E_DENIED when it does not verify. Free with
 * st_dataset_manifest_free. */
ST_MUST_CHECK st_code st_dataset_manifest_verified(struct st_workspace *ws,
                                                   const char *name,
                                                   st_dataset_manifest *m,
                                                   st_err *err);
/* All datasets by name. */
ST_MUST_CHECK st_code st_dataset_list(struct st_workspace *ws,
                                      st_dataset_record **out, size_t *n,
                                      st_err *err);
void st_dataset_record_free(st_dataset_record *r);
void st_dataset_records_free(st_dataset_record *r, size_t n);

/* --- verification ---------------------------------------------------- */

/* What verify found; each check is -1 (not run), 0 (failed) or 1 (ok). */
typedef struct st_dataset_check {
    int signature;   /* DSSE signature under the registered signer key */
    int manifest;    /* manifest matches the catalog row (name, owner,
                        generation, KEK) */
    int file_digest; /* SHA-256 of the encrypted file */
    int header;      /* header parses, KEK stanza names the manifest's KEK */
    int decrypt;     /* deep: every chunk authenticated */
    int plaintext;   /* deep: SHA-256 of the plaintext */
    int schema;      /* deep: tensor layout and shape match */
} st_dataset_check;

/* Checks a dataset without decrypting (kr NULL, deep 0) or fully (deep 1:
 * decrypts in secure memory with the keyring). Returns the first failure
 * as ST_E_DENIED with a message naming the check; *chk says all. */
ST_MUST_CHECK st_code st_dataset_verify(struct st_workspace *ws,
                                        struct st_keyring *kr, const char *name,
                                        int deep, st_dataset_check *chk,
                                        st_err *err);

/* --- key changes and removal ---------------------------------------- */

/* `actor` (the acting principal, NULL: "system") is named in the audit
 * entry each of these appends. */

/* Moves the sealtrain-kek stanza to the KEK's current version, rewriting
 * only the header (payload bytes untouched); re-signs the manifest with
 * `signing_seed` (must be the dataset's registered signer). *changed is 0
 * when the dataset was already at the current version. */
ST_MUST_CHECK st_code st_dataset_rewrap(struct st_workspace *ws,
                                        struct st_keyring *kr, const char *name,
                                        const uint8_t *signing_seed,
                                        const char *actor, int *changed,
                                        st_err *err);
/* New file key and shred key, full re-encryption in streaming chunks
 * through secure memory; re-signs the manifest. */
ST_MUST_CHECK st_code st_dataset_reencrypt(struct st_workspace *ws,
                                           struct st_keyring *kr,
                                           const char *name,
                                           const uint8_t *signing_seed,
                                           const char *actor, st_err *err);
/* Names (or, with broker_url NULL, removes) the owner's remote key broker
 * in the manifest: the same encrypted bytes as a new generation, the
 * manifest re-signed with `signing_seed` (must be the owner's). Copies of
 * the dataset in other workspaces must be added again (`data
 * import-encrypted`) to carry the new manifest. */
ST_MUST_CHECK st_code st_dataset_set_broker(struct st_workspace *ws,
                                            const char *name,
                                            const char *broker_url,
                                            const uint8_t *broker_spki_sha256,
                                            const uint8_t *signing_seed,
                                            const char *actor, st_err *err);
/* Crypto-shred: securely deletes the catalog row (with the shred key),
 * then shreds the file. */
ST_MUST_CHECK st_code st_dataset_rm(struct st_workspace *ws, const char *name,
                                    const char *actor, st_err *err);

/* --- for the broker and the enclave runtime ------------------------- */

/* Broker side: loads the dataset, verifies its manifest signature, the
 * file's size and its header digest and stanzas, and unwraps its file key
 * through the keyring (secure memory). The payload is not re-hashed (the
 * runtime's AEAD and plaintext checks catch a changed payload;
 * st_dataset_verify hashes the whole file). Optionally returns the
 * verified manifest. */
ST_MUST_CHECK st_code st_dataset_file_key(struct st_workspace *ws,
                                          struct st_keyring *kr,
                                          const char *name,
                                          st_secret **file_key,
                                          st_dataset_manifest *m, st_err *err);
/* Runtime side: decrypts the file at `path` with `file_key` into secure
 * memory (all cores), checks the plaintext SHA-256 against `plain_sha256`
 * and the tensor layout; *plain (st_secmem_free it) backs *view. Nothing
 * is returned unless every chunk authenticated. */
ST_MUST_CHECK st_code st_dataset_decrypt(const char *path,
                                         const st_secret *file_key,
                                         const uint8_t plain_sha256[32],
                                         void **plain, size_t *len,
                                         st_tensor_view *view, st_err *err);

/* The same from a descriptor open at the start of the encrypted file (not
 * closed): the sandboxed runtime cannot open paths. `name` names it in
 * errors. */
ST_MUST_CHECK st_code st_dataset_decrypt_fd(int fd, const char *name,
                                            const st_secret *file_key,
                                            const uint8_t plain_sha256[32],
                                            void **plain, size_t *len,
                                            st_tensor_view *view, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
