/*
 * sealtrain/workspace.h: the secure workspace on disk, its SQLite catalog
 * and its content-addressed blob store. The catalog's SQL side (the
 * connection, migrations) is not public: src/store/catalog.h.
 *
 * A workspace is one private directory (0700, owned by the user):
 *
 *   config.json   format, version, creation time, root-key protection
 *   catalog.db    SQLite catalog (WAL, foreign_keys=ON, busy_timeout)
 *   blobs/        content-addressed store: blobs/<h[0..1]>/<sha256 hex>
 *   datasets/ jobs/ models/ audit/ logs/ keys/ tmp/   (each 0700)
 *
 * Creation is crash-safe: everything is built in a hidden sibling
 * directory ".<name>.init.XXXXXX" and renamed into place (RENAME_NOREPLACE)
 * only when complete, so a workspace either exists whole or not at all;
 * leftovers of an interrupted init are swept by the next init.
 *
 * Opening refuses a workspace whose directory, subdirectories, config,
 * catalog or key files are accessible by group/others or owned by another
 * user, naming the path (ST_E_DENIED). It never loosens permissions and
 * never repairs a config file: a malformed one is ST_E_INPUT with its
 * location.
 */
#ifndef SEALTRAIN_WORKSPACE_H
#define SEALTRAIN_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_workspace st_workspace;

#define ST_WORKSPACE_VERSION 1

/* Root-key protection kinds (recorded in config.json at init). */
typedef enum st_protect_kind {
    ST_PROTECT_PASSPHRASE = 1,
    ST_PROTECT_TPM,
    ST_PROTECT_FILE
} st_protect_kind;

typedef struct st_protect {
    st_protect_kind kind;
    char path[4096]; /* key file for ST_PROTECT_FILE (absolute), else "" */
} st_protect;

/* Parses "passphrase", "tpm" or "file:PATH" (PATH made absolute). */
ST_MUST_CHECK st_code st_protect_parse(const char *spec, st_protect *out,
                                       st_err *err);
/* "passphrase", "tpm", "file". */
const char *st_protect_kind_name(st_protect_kind kind);

/* The workspace directory to use: `explicit_dir` if not NULL, else
 * $SEALTRAIN_WORKSPACE, else $HOME/.sealtrain. */
ST_MUST_CHECK st_code st_workspace_default_dir(const char *explicit_dir,
                                               char *out, size_t cap,
                                               st_err *err);

/* Starts creating a workspace at `dir` (which must not exist: ST_E_EXISTS
 * otherwise). The returned workspace lives in a hidden staging directory
 * next to `dir` with all subdirectories, config.json and the catalog in
 * place; callers add what else belongs to a new workspace (the keyring)
 * and then call st_workspace_create_commit. If the process dies before
 * the commit, `dir` does not exist. */
ST_MUST_CHECK st_code st_workspace_create_begin(const char *dir,
                                                const st_protect *protect,
                                                st_workspace **out,
                                                st_err *err);
/* Moves the staged workspace to its final path atomically; afterwards
 * st_workspace_dir() is the final path. On failure the staging directory
 * is removed and `ws` is still to be closed by the caller. */
ST_MUST_CHECK st_code st_workspace_create_commit(st_workspace *ws, st_err *err);

/* Opens an existing workspace: checks permissions (naming any loosened
 * path), parses config.json, opens the catalog (WAL, foreign_keys=ON,
 * busy_timeout), sweeps leftover temp files. */
ST_MUST_CHECK st_code st_workspace_open(const char *dir, st_workspace **out,
                                        st_err *err);
/* Closes the catalog and frees. Accepts NULL. A workspace whose creation
 * was begun but not committed has its staging directory removed. */
void st_workspace_close(st_workspace *ws);

const char *st_workspace_dir(const st_workspace *ws);
const st_protect *st_workspace_protect(const st_workspace *ws);
/* RFC 3339 UTC creation time from config.json. */
const char *st_workspace_created(const st_workspace *ws);

/* Well-known subdirectories (0700): "blobs", "datasets", "jobs", "models",
 * "audit", "logs", "keys", "tmp". Writes "<dir>/<name>" into out. */
ST_MUST_CHECK st_code st_workspace_subdir(const st_workspace *ws,
                                          const char *name, char *out,
                                          size_t cap, st_err *err);
/* "<dir>/<sub>/<file>" (sub may be NULL for the top level). */
ST_MUST_CHECK st_code st_workspace_path(const st_workspace *ws, const char *sub,
                                        const char *file, char *out, size_t cap,
                                        st_err *err);

/* Content-addressed blob store. Names are lowercase sha256 hex (64 chars
 * + NUL). Stores are atomic (tmp/ then rename) and idempotent. */
#define ST_BLOB_ID_LEN 64
ST_MUST_CHECK st_code st_blob_put(st_workspace *ws, const void *data,
                                  size_t len, char id[ST_BLOB_ID_LEN + 1],
                                  st_err *err);
/* Copies a file into the store, hashing while streaming. */
ST_MUST_CHECK st_code st_blob_put_file(st_workspace *ws, const char *path,
                                       char id[ST_BLOB_ID_LEN + 1],
                                       st_err *err);
/* Path of blob `id` (ST_E_NOTFOUND if absent, ST_E_INPUT if `id` is not
 * 64 lowercase hex characters). */
ST_MUST_CHECK st_code st_blob_path(const st_workspace *ws, const char *id,
                                   char *out, size_t cap, st_err *err);
/* Reads a blob and checks its digest (ST_E_DENIED on mismatch). *out is
 * malloc'ed; at most `max` bytes. */
ST_MUST_CHECK st_code st_blob_get(const st_workspace *ws, const char *id,
                                  size_t max, unsigned char **out, size_t *len,
                                  st_err *err);
/* Re-hashes a stored blob: ST_E_DENIED if its content no longer matches. */
ST_MUST_CHECK st_code st_blob_verify(const st_workspace *ws, const char *id,
                                     st_err *err);

#ifdef __cplusplus
}
#endif
#endif
