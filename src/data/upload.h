/*
 * upload.h (src/data): resumable uploads of client-encrypted datasets into
 * a workspace (the data side of `sealtrain serve`'s /v1/uploads,
 * docs/api.md "Uploading a dataset").
 *
 * The key model: the data owner's machine encrypts. The server never sees
 * plaintext; it sees the 16-byte file key once, wrapped to its intake key
 * (an X25519 age stanza), and at once wraps file_key XOR a fresh shred key
 * under the owner's KEK in its keyring, exactly as a local import does.
 * The owner puts that sealtrain-kek stanza into the file's header, signs
 * the manifest over the final bytes and uploads them. So an uploaded
 * dataset is indistinguishable from a locally imported one: same header,
 * same manifest, same catalog row, same rewrap / rm / release paths.
 *
 * An upload is a catalog row (table `uploads`, module "upload") and a
 * part file tmp/uploads/<id>.part written chunk by chunk at the offset
 * the row records (each chunk fsynced before the row moves on), so an
 * interrupted client asks how much arrived and continues. The first chunk
 * declares the total size (limits apply); commit checks the signed
 * manifest and the bytes (st_dataset_register). Uploads not committed
 * before their expiry are swept: the row (with its shred key) is deleted
 * with secure_delete and the part file removed.
 *
 * Never: hold the file key beyond the wrap, write plaintext, or answer one
 * principal about another's upload (it does not exist for them).
 */
#ifndef SEALTRAIN_UPLOAD_H
#define SEALTRAIN_UPLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sealtrain/age.h"
#include "sealtrain/bytes.h"
#include "sealtrain/dataset.h"
#include "sealtrain/err.h"

struct st_workspace;
struct st_keyring;

#define ST_UPLOAD_REQUEST_MAX 4096

/* POST /v1/uploads, parsed (untrusted JSON):
 *   {"name": NAME, "intake": "age1...",
 *    "file_key": {"args": ["X25519", SHARE], "body": BASE64}}
 * file_key is the age stanza wrapping the file key to the intake key. */
typedef struct st_upload_request {
    char name[ST_DATASET_NAME_MAX + 1];
    char intake[ST_AGE_RECIPIENT_STRLEN];
    st_age_stanza key;
} st_upload_request;

ST_MUST_CHECK st_code st_upload_request_parse(const char *json, size_t len,
                                              st_upload_request *out,
                                              st_err *err);
void st_upload_request_clear(st_upload_request *r);

/* "bytes START-END/TOTAL" (RFC 9110 section 14.4; END inclusive): strict
 * digits, START <= END < TOTAL. */
ST_MUST_CHECK st_code st_upload_content_range_parse(const char *s,
                                                    uint64_t *start,
                                                    uint64_t *end,
                                                    uint64_t *total,
                                                    st_err *err);

typedef struct st_upload_limits {
    uint64_t max_size;     /* one upload's total bytes */
    uint64_t max_inflight; /* declared bytes of all open uploads */
    uint64_t ttl_s;        /* an upload expires this long after creation */
} st_upload_limits;

typedef struct st_upload_info {
    char id[ST_UPLOAD_ID_LEN + 1];
    char principal[ST_DATASET_NAME_MAX + 1];
    char name[ST_DATASET_NAME_MAX + 1];
    char dataset_id[33];
    char kek[65];
    uint32_t kek_version;
    int64_t size; /* -1 until the first chunk declares it */
    uint64_t received;
    time_t expires;
} st_upload_info;

/* Why a write was refused (the error says it in words). */
typedef enum st_upload_refusal {
    ST_UPLOAD_OK = 0,
    ST_UPLOAD_TOO_LARGE, /* the total is above max_size */
    ST_UPLOAD_BUSY,      /* max_inflight would be passed: retry later */
    ST_UPLOAD_OFFSET     /* the chunk does not start at `received` */
} st_upload_refusal;

/* Opens the file key with `intake`, wraps it for KEK owner.<principal>
 * (st_dataset_wrap_key) and records the upload. *stanza_body receives the
 * sealtrain-kek stanza body for the client's header. ST_E_EXISTS if a
 * dataset has that name. */
ST_MUST_CHECK st_code
st_upload_create(struct st_workspace *ws, struct st_keyring *kr,
                 const char *principal, const st_upload_request *req,
                 const st_age_identity *intake, const st_upload_limits *lim,
                 st_upload_info *out, st_buf *stanza_body, st_err *err);
/* ST_E_NOTFOUND when there is no such open upload of `principal`. */
ST_MUST_CHECK st_code st_upload_get(struct st_workspace *ws,
                                    const char *principal, const char *id,
                                    st_upload_info *out, st_err *err);
/* Appends bytes [start, start+len) of `total`; start must be the bytes
 * received so far. Durable (fsync) when it returns. */
ST_MUST_CHECK st_code st_upload_write(struct st_workspace *ws,
                                      const char *principal, const char *id,
                                      uint64_t start, uint64_t total,
                                      const void *data, size_t len,
                                      const st_upload_limits *lim,
                                      st_upload_info *out,
                                      st_upload_refusal *why, st_err *err);
/* Every byte must have arrived; registers the dataset
 * (st_dataset_register) with the owner's signed manifest, then forgets
 * the upload. A refused manifest or file leaves the upload open (DELETE
 * it, or it expires). */
ST_MUST_CHECK st_code st_upload_commit(struct st_workspace *ws,
                                       struct st_keyring *kr,
                                       const char *principal, const char *id,
                                       const char *envelope, size_t len,
                                       st_dataset_manifest *out, st_err *err);
/* Abandons an upload: row (secure_delete) and part file. */
ST_MUST_CHECK st_code st_upload_abort(struct st_workspace *ws,
                                      const char *principal, const char *id,
                                      st_err *err);
/* Removes uploads whose expiry passed before `now` (dry_run: only
 * counts them); *removed may be NULL. `sealtrain cleanup` runs it too. */
ST_MUST_CHECK st_code st_upload_sweep(struct st_workspace *ws, time_t now,
                                      int dry_run, size_t *removed,
                                      st_err *err);

#endif
