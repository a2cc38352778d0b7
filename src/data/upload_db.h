/*
 * upload_db.h (private to src/data): the rows of resumable uploads; all
 * of their SQL is upload_db.c's.
 */
#ifndef SEALTRAIN_DATA_UPLOAD_DB_H
#define SEALTRAIN_DATA_UPLOAD_DB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "data/upload.h"
#include "sealtrain/secmem.h"
#include "sealtrain/workspace.h"

ST_MUST_CHECK st_code upload_db_migrate(st_workspace *ws, st_err *err);

/* The row of upload `id` when it is `principal`'s (NULL: anyone's),
 * optionally with its shred key (a new secret) and stanza digest.
 * ST_E_NOTFOUND when there is none (or it is another principal's). */
ST_MUST_CHECK st_code upload_db_get(st_workspace *ws, const char *principal,
                                    const char *id, st_upload_info *out,
                                    st_secret **shred, uint8_t stanza[32],
                                    st_err *err);

/* Deletes the row, its shred key overwritten in the database file. */
ST_MUST_CHECK st_code upload_db_delete(st_workspace *ws, const char *id,
                                       st_err *err);

/* The uploads that expired before `now` (a new array for free()). */
typedef struct upload_db_key {
    char id[ST_UPLOAD_ID_LEN + 1];
    char principal[ST_DATASET_NAME_MAX + 1];
    char name[ST_DATASET_NAME_MAX + 1];
} upload_db_key;
ST_MUST_CHECK st_code upload_db_expired(st_workspace *ws, time_t now,
                                        upload_db_key **out, size_t *n,
                                        st_err *err);

/* A new upload's row: nothing received yet, size unknown. */
ST_MUST_CHECK st_code upload_db_insert(st_workspace *ws,
                                       const st_upload_info *u,
                                       const st_secret *shred,
                                       const uint8_t stanza[32], st_err *err);

/* The bytes declared by the other open uploads than `except`. */
ST_MUST_CHECK st_code upload_db_inflight(st_workspace *ws, const char *except,
                                         uint64_t *out, st_err *err);

/* received: from -> to, with the total size and the new expiry; fails
 * when the row moved under the caller. */
ST_MUST_CHECK st_code upload_db_advance(st_workspace *ws, const char *id,
                                        uint64_t from, uint64_t to,
                                        uint64_t total, time_t expires,
                                        st_err *err);

#endif
