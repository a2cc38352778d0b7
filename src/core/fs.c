/*
 * fs.c: atomic writes (temp file, fsync, rename, fsync dir) and private
 * directories. See include/sealtrain/fs.h.
 */
#include "sealtrain/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealtrain/secmem.h"

struct st_atomic_file {
    int fd;
    mode_t mode;
    char path[PATH_MAX];
    char tmp[PATH_MAX];
    char dir[PATH_MAX];
};

static void dir_of(const char *path, char *out, size_t cap)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(out, cap, "%s", dirname(copy));
}

st_atomic_file *st_atomic_open(const char *path, mode_t mode, st_err *err)
{
    st_atomic_file *f = calloc(1, sizeof(*f));
    if (!f) {
        st_err_set(err, ST_E_IO, "out of memory");
        return NULL;
    }
    char base[PATH_MAX], copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(base, sizeof(base), "%s", basename(copy));
    dir_of(path, f->dir, sizeof(f->dir));
    if ((size_t)snprintf(f->path, sizeof(f->path), "%s", path) >=
            sizeof(f->path) ||
        (size_t)snprintf(f->tmp, sizeof(f->tmp), "%s/.%s.tmp.XXXXXX", f->dir,
                         base) >= sizeof(f->tmp)) {
        free(f);
        st_err_set(err, ST_E_USAGE, "path too long: %s", path);
        return NULL;
    }
    f->mode = mode;
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        st_err_errno(err, ST_E_IO, errno, "cannot create a file in %s",
                     f->dir);
        free(f);
        return NULL;
    }
    if (fchmod(f->fd, mode) != 0) {
        st_err_errno(err, ST_E_IO, errno, "chmod %s", f->tmp);
        st_atomic_abort(f);
        return NULL;
    }
    return f;
}

int st_atomic_fd(st_atomic_file *f)
{
    return f->fd;
}

st_code st_fs_write_fd(int fd, const void *data, size_t len, const char *what,
                       st_err *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return st_err_errno(err, ST_E_IO, errno, "write %s", what);
        }
        p += n;
        len -= (size_t)n;
    }
    return ST_OK;
}

st_code st_fs_write_fd_at(int fd, const void *data, size_t len,
                          unsigned long long off, const char *what,
                          st_err *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return st_err_errno(err, ST_E_IO, errno, "write %s", what);
        }
        p += n;
        off += (unsigned long long)n;
        len -= (size_t)n;
    }
    return ST_OK;
}

st_code st_atomic_write(st_atomic_file *f, const void *data, size_t len,
                        st_err *err)
{
    return st_fs_write_fd(f->fd, data, len, f->path, err);
}

st_code st_fs_fsync_dir(const char *dir, st_err *err)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return st_err_errno(err, ST_E_IO, errno, "open directory %s", dir);
    int rc = fsync(dfd);
    int e = errno;
    close(dfd);
    if (rc != 0)
        return st_err_errno(err, ST_E_IO, e, "fsync directory %s", dir);
    return ST_OK;
}

static ST_MUST_CHECK st_code atomic_commit(st_atomic_file *f, int dirsync,
                                           st_err *err)
{
    st_code rc = ST_OK;
    if (fsync(f->fd) != 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "fsync %s", f->tmp);
        goto fail;
    }
    if (close(f->fd) != 0) {
        f->fd = -1;
        rc = st_err_errno(err, ST_E_IO, errno, "close %s", f->tmp);
        goto fail;
    }
    f->fd = -1;
    if (rename(f->tmp, f->path) != 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "rename to %s", f->path);
        goto fail;
    }
    if (dirsync)
        rc = st_fs_fsync_dir(f->dir, err);
    free(f);
    return rc;
fail:
    st_atomic_abort(f);
    return rc;
}

st_code st_atomic_commit(st_atomic_file *f, st_err *err)
{
    return atomic_commit(f, 1, err);
}

st_code st_atomic_commit_defer_dirsync(st_atomic_file *f, st_err *err)
{
    return atomic_commit(f, 0, err);
}

void st_atomic_abort(st_atomic_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    unlink(f->tmp);
    free(f);
}

st_code st_fs_write_atomic(const char *path, const void *data, size_t len,
                           mode_t mode, st_err *err)
{
    st_atomic_file *f = st_atomic_open(path, mode, err);
    if (!f)
        return err ? err->code : ST_E_IO;
    st_code rc = st_atomic_write(f, data, len, err);
    if (rc != ST_OK) {
        st_atomic_abort(f);
        return rc;
    }
    return st_atomic_commit(f, err);
}

st_code st_fs_read_all(const char *path, size_t max, unsigned char **out,
                       size_t *len, st_err *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return st_err_errno(err, ST_E_IO, errno, "stat %s", path);
    }
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
    if (S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
        close(fd);
        return st_err_set(err, ST_E_INPUT,
                          "%s: file is %lld bytes, more than the %zu allowed",
                          path, (long long)st.st_size, max);
    }
    unsigned char *buf = malloc(cap);
    size_t n = 0;
    for (;;) {
        if (!buf) {
            close(fd);
            return st_err_set(err, ST_E_IO, "out of memory reading %s", path);
        }
        if (n + 1 >= cap) {
            if (cap > max + 1) {
                free(buf);
                close(fd);
                return st_err_set(err, ST_E_INPUT,
                                  "%s: more than the %zu bytes allowed", path,
                                  max);
            }
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb)
                free(buf);
            buf = nb;
            cap *= 2;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return st_err_errno(err, ST_E_IO, e, "read %s", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            free(buf);
            close(fd);
            return st_err_set(err, ST_E_INPUT,
                              "%s: more than the %zu bytes allowed", path, max);
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ST_OK;
}

st_code st_fs_mkdir_private(const char *path, st_err *err)
{
    if (mkdir(path, 0700) == 0)
        return ST_OK;
    if (errno != EEXIST)
        return st_err_errno(err, ST_E_IO, errno, "cannot create directory %s",
                            path);
    return st_fs_check_private(path, err);
}

st_code st_fs_check_private(const char *path, st_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO,
                            errno, "%s", path);
    if (S_ISLNK(st.st_mode))
        return st_err_set(err, ST_E_DENIED,
                          "%s is a symbolic link; refusing to follow it", path);
    if (st.st_uid != geteuid())
        return st_err_set(err, ST_E_DENIED,
                          "%s is owned by uid %u, not by this user (uid %u)",
                          path, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & 077)
        return st_err_set(err, ST_E_DENIED,
                          "%s has mode %04o: group or others can access it; "
                          "it must be %s (chmod %s %s)",
                          path, (unsigned)(st.st_mode & 07777),
                          S_ISDIR(st.st_mode) ? "0700" : "0600",
                          S_ISDIR(st.st_mode) ? "700" : "600", path);
    return ST_OK;
}

int st_fs_sweep_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp.")) {
            if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                removed++;
        }
    }
    closedir(d);
    return removed;
}

st_code st_fs_shred(const char *path, st_err *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ST_OK;
        return st_err_errno(err, ST_E_IO, errno, "open %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        static const unsigned char zeros[65536];
        off_t left = st.st_size;
        while (left > 0) {
            size_t n =
                left > (off_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left;
            if (st_fs_write_fd(fd, zeros, n, path, err) != ST_OK) {
                close(fd);
                return err ? err->code : ST_E_IO;
            }
            left -= (off_t)n;
        }
        fsync(fd);
    }
    close(fd);
    if (unlink(path) != 0)
        return st_err_errno(err, ST_E_IO, errno, "unlink %s", path);
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof(dir));
    return st_fs_fsync_dir(dir, err);
}

int st_fs_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

st_code st_fs_join(char *out, size_t cap, const char *dir, const char *name,
                   st_err *err)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        return st_err_set(err, ST_E_USAGE, "path too long: %s/%s", dir, name);
    return ST_OK;
}
