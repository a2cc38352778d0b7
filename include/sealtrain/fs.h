/*
 * sealtrain/fs.h: files that are never half-written.
 *
 * Writers create a temporary file next to the target (same directory, so the
 * rename is atomic), write, fsync the file, rename it over the target and
 * fsync the directory. Until the commit the target is untouched; on abort or
 * crash only a hidden temporary ".<name>.tmp.XXXXXX" can remain, which
 * st_fs_sweep_temps() removes.
 */
#ifndef SEALTRAIN_FS_H
#define SEALTRAIN_FS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A file being written atomically. */
typedef struct st_atomic_file st_atomic_file;

/* Starts writing `path` with permissions `mode` (e.g. 0600). */
st_atomic_file *st_atomic_open(const char *path, mode_t mode, st_err *err);
/* The descriptor / stream of the temporary file, for streaming writers. */
int st_atomic_fd(st_atomic_file *f);
ST_MUST_CHECK st_code st_atomic_write(st_atomic_file *f, const void *data,
                                      size_t len, st_err *err);
/* fsync, rename over the target, fsync the directory; frees `f`. */
ST_MUST_CHECK st_code st_atomic_commit(st_atomic_file *f, st_err *err);
/* fsync and rename, without the directory fsync: for several files
 * committed into one directory, whose caller then runs st_fs_fsync_dir
 * once before it acknowledges any of them. Frees `f`. */
ST_MUST_CHECK st_code st_atomic_commit_defer_dirsync(st_atomic_file *f,
                                                     st_err *err);
/* Removes the temporary file and frees `f`. Accepts NULL. */
void st_atomic_abort(st_atomic_file *f);

/* Whole-file helpers. */
ST_MUST_CHECK st_code st_fs_write_atomic(const char *path, const void *data,
                                         size_t len, mode_t mode, st_err *err);
/* Reads a whole file (at most `max` bytes; larger is an input error).
 * *out is NUL-terminated (not counted in *len); free() it. */
ST_MUST_CHECK st_code st_fs_read_all(const char *path, size_t max,
                                     unsigned char **out, size_t *len,
                                     st_err *err);
/* Writes all of `len` bytes to fd, retrying on EINTR/short writes. */
ST_MUST_CHECK st_code st_fs_write_fd(int fd, const void *data, size_t len,
                                     const char *what, st_err *err);
/* The same with pwrite(2) at offset `off` (the file offset is untouched). */
ST_MUST_CHECK st_code st_fs_write_fd_at(int fd, const void *data, size_t len,
                                        unsigned long long off,
                                        const char *what, st_err *err);

/* Creates a directory with mode 0700 (no error if it exists and is 0700
 * or stricter). */
ST_MUST_CHECK st_code st_fs_mkdir_private(const char *path, st_err *err);
/* Fails (ST_E_DENIED) if `path` is accessible by group or others, or is not
 * owned by the current user; the message names the path and its mode. */
ST_MUST_CHECK st_code st_fs_check_private(const char *path, st_err *err);
ST_MUST_CHECK st_code st_fs_fsync_dir(const char *dir, st_err *err);
/* Removes leftover ".*.tmp.*" files in `dir` (after a crash). Returns how
 * many were removed, or -1. */
int st_fs_sweep_temps(const char *dir);
/* Overwrites a file's bytes with zeros, fsyncs, then unlinks it. */
ST_MUST_CHECK st_code st_fs_shred(const char *path, st_err *err);
int st_fs_exists(const char *path);
/* "<dir>/<name>" into out (size cap); ST_E_INTERNAL when too long. */
ST_MUST_CHECK st_code st_fs_join(char *out, size_t cap, const char *dir,
                                 const char *name, st_err *err);

#ifdef __cplusplus
}
#endif
#endif
