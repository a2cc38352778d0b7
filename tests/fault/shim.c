/*
 * tests/fault/shim.c: an LD_PRELOAD library that makes one process fail
 * on purpose, the way SQLite's fault tests do, so that the driver
 * (tests/fault/run.py) can check that every command is all or nothing.
 *
 * ST_FAULT="CLASS:N:ERRNO:MODE" arms it:
 *   CLASS  write (write, pwrite, writev), flush (fsync, fdatasync),
 *          rename (rename, renameat, renameat2), open (open/openat/creat
 *          for writing or creating), truncate (ftruncate, truncate),
 *          alloc (malloc, calloc, realloc, posix_memalign)
 *   N      the N-th call of that class fails (1-based); 0 only counts
 *   ERRNO  EIO, ENOSPC or ENOMEM (allocations always fail with ENOMEM)
 *   MODE   once, or sticky (that call and every later one fails)
 * ST_FAULT_AFTER=TEXT: calls are counted (and N is taken) only from the
 * moment the process first opens a path that contains TEXT, so that a
 * fault can be pinned to one step of a command (the first call after the
 * keyring is opened, say) and stays there when earlier steps change.
 * ST_FAULT_COUNT=PATH: at exit, the number of calls of each class is
 * written there, one "CLASS N" line each (the driver's count run: with
 * ST_FAULT=count nothing fails and every class is counted).
 *
 * Only the process that first loaded the shim is armed: its children
 * (the age CLI, the job's sandboxed runtime) inherit LD_PRELOAD but find
 * ST_FAULT_PID naming another process and pass every call through.
 *
 * Must never: fail a call of another class or process; call anything that
 * allocates while deciding (the allocation wrappers would recurse).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { C_NONE, C_WRITE, C_FLUSH, C_RENAME, C_OPEN, C_TRUNCATE, C_ALLOC };

static int armed_class = C_NONE;
static int count_all; /* ST_FAULT=count */
static long target;   /* 0: count only */
static int sticky;
static int fail_errno = EIO;
static long calls[C_ALLOC + 1]; /* per class, this process */
static char count_path[4096];
static char after[256]; /* ST_FAULT_AFTER; empty: from the start */
static int started;     /* the path named by `after` was opened */
static const char *const names[] = {"",     "write",    "flush", "rename",
                                    "open", "truncate", "alloc"};

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* 1 if this call (of class c) is to fail. */
static int hit(int c)
{
    if (!__atomic_load_n(&started, __ATOMIC_RELAXED))
        return 0;
    if (count_all) {
        __atomic_add_fetch(&calls[c], 1, __ATOMIC_RELAXED);
        return 0;
    }
    if (c != armed_class)
        return 0;
    long n = __atomic_add_fetch(&calls[c], 1, __ATOMIC_RELAXED);
    return target > 0 && (n == target || (sticky && n > target));
}

static int parse_errno(const char *s)
{
    if (!strncmp(s, "ENOSPC", 6))
        return ENOSPC;
    if (!strncmp(s, "ENOMEM", 6))
        return ENOMEM;
    return EIO;
}

__attribute__((constructor)) static void shim_init(void)
{
    const char *spec = getenv("ST_FAULT");
    if (!spec || !*spec)
        return;
    /* armed in the first process only (see the header) */
    char me[32];
    snprintf(me, sizeof(me), "%ld", (long)getpid());
    const char *owner = getenv("ST_FAULT_PID");
    if (owner && strcmp(owner, me) != 0)
        return;
    setenv("ST_FAULT_PID", me, 1);
    const char *af = getenv("ST_FAULT_AFTER");
    if (af && *af)
        snprintf(after, sizeof(after), "%s", af);
    else
        started = 1;
    const char *cp = getenv("ST_FAULT_COUNT");
    if (cp)
        snprintf(count_path, sizeof(count_path), "%s", cp);
    if (!strcmp(spec, "count")) {
        count_all = 1;
        return;
    }
    int c = C_NONE;
    for (int i = 1; i <= C_ALLOC; i++) {
        size_t l = strlen(names[i]);
        if (!strncmp(spec, names[i], l) && spec[l] == ':')
            c = i;
    }
    if (c == C_NONE)
        return;
    const char *p = strchr(spec, ':') + 1;
    target = strtol(p, NULL, 10);
    p = strchr(p, ':');
    if (p) {
        fail_errno = parse_errno(p + 1);
        p = strchr(p + 1, ':');
        sticky = p && !strcmp(p + 1, "sticky");
    }
    if (c == C_ALLOC)
        fail_errno = ENOMEM;
    armed_class = c; /* last: from here on calls are counted */
}

__attribute__((destructor)) static void shim_fini(void)
{
    int was_counting = count_all || armed_class != C_NONE;
    armed_class = C_NONE;
    count_all = 0;
    if (!was_counting || !count_path[0])
        return;
    FILE *f = fopen(count_path, "w");
    if (f) {
        for (int c = 1; c <= C_ALLOC; c++)
            fprintf(f, "%s %ld\n", names[c], calls[c]);
        fclose(f);
    }
}

#define REAL(ret, name, args)                                                  \
    static ret(*real_##name) args;                                             \
    if (!real_##name)                                                          \
        real_##name = (ret(*) args)dlsym(RTLD_NEXT, #name);

/* ---- writes ---- */

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(ssize_t, write, (int, const void *, size_t))
    if (hit(C_WRITE)) {
        errno = fail_errno;
        return -1;
    }
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pwrite, (int, const void *, size_t, off_t))
    if (hit(C_WRITE)) {
        errno = fail_errno;
        return -1;
    }
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pwrite64, (int, const void *, size_t, off_t))
    if (hit(C_WRITE)) {
        errno = fail_errno;
        return -1;
    }
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    REAL(ssize_t, writev, (int, const struct iovec *, int))
    if (hit(C_WRITE)) {
        errno = fail_errno;
        return -1;
    }
    return real_writev(fd, iov, n);
}

/* ---- flushes ---- */

int fsync(int fd)
{
    REAL(int, fsync, (int))
    if (hit(C_FLUSH)) {
        errno = fail_errno;
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(int, fdatasync, (int))
    if (hit(C_FLUSH)) {
        errno = fail_errno;
        return -1;
    }
    return real_fdatasync(fd);
}

/* ---- renames ---- */

int rename(const char *a, const char *b)
{
    REAL(int, rename, (const char *, const char *))
    if (hit(C_RENAME)) {
        errno = fail_errno;
        return -1;
    }
    return real_rename(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
    REAL(int, renameat, (int, const char *, int, const char *))
    if (hit(C_RENAME)) {
        errno = fail_errno;
        return -1;
    }
    return real_renameat(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned fl)
{
    REAL(int, renameat2, (int, const char *, int, const char *, unsigned))
    if (hit(C_RENAME)) {
        errno = fail_errno;
        return -1;
    }
    return real_renameat2(da, a, db, b, fl);
}

/* ---- opens for writing or creating ---- */

/* Any open of the path ST_FAULT_AFTER names starts the count. */
static void seen_path(const char *path)
{
    if (after[0] && path && !__atomic_load_n(&started, __ATOMIC_RELAXED) &&
        strstr(path, after))
        __atomic_store_n(&started, 1, __ATOMIC_RELAXED);
}

static int writing(int flags)
{
    return (flags & (O_CREAT | O_WRONLY | O_RDWR | O_TRUNC)) ||
           (flags & O_TMPFILE) == O_TMPFILE;
}

static mode_t mode_of(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE
               ? (mode_t)va_arg(ap, int)
               : 0;
}

int open(const char *path, int flags, ...)
{
    REAL(int, open, (const char *, int, ...))
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_of(flags, ap);
    va_end(ap);
    seen_path(path);
    if (writing(flags) && hit(C_OPEN)) {
        errno = fail_errno;
        return -1;
    }
    return real_open(path, flags, m);
}

int open64(const char *path, int flags, ...)
{
    REAL(int, open64, (const char *, int, ...))
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_of(flags, ap);
    va_end(ap);
    seen_path(path);
    if (writing(flags) && hit(C_OPEN)) {
        errno = fail_errno;
        return -1;
    }
    return real_open64(path, flags, m);
}

int openat(int dir, const char *path, int flags, ...)
{
    REAL(int, openat, (int, const char *, int, ...))
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_of(flags, ap);
    va_end(ap);
    seen_path(path);
    if (writing(flags) && hit(C_OPEN)) {
        errno = fail_errno;
        return -1;
    }
    return real_openat(dir, path, flags, m);
}

int openat64(int dir, const char *path, int flags, ...)
{
    REAL(int, openat64, (int, const char *, int, ...))
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_of(flags, ap);
    va_end(ap);
    seen_path(path);
    if (writing(flags) && hit(C_OPEN)) {
        errno = fail_errno;
        return -1;
    }
    return real_openat64(dir, path, flags, m);
}

int creat(const char *path, mode_t m)
{
    REAL(int, creat, (const char *, mode_t))
    seen_path(path);
    if (hit(C_OPEN)) {
        errno = fail_errno;
        return -1;
    }
    return real_creat(path, m);
}

/* ---- truncates ---- */

int ftruncate(int fd, off_t len)
{
    REAL(int, ftruncate, (int, off_t))
    if (hit(C_TRUNCATE)) {
        errno = fail_errno;
        return -1;
    }
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
    REAL(int, ftruncate64, (int, off_t))
    if (hit(C_TRUNCATE)) {
        errno = fail_errno;
        return -1;
    }
    return real_ftruncate64(fd, len);
}

int truncate(const char *path, off_t len)
{
    REAL(int, truncate, (const char *, off_t))
    if (hit(C_TRUNCATE)) {
        errno = fail_errno;
        return -1;
    }
    return real_truncate(path, len);
}

/* ---- allocations (glibc's own entry points: no dlsym, which allocates) */

void *malloc(size_t n)
{
    if (hit(C_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    if (hit(C_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    /* realloc(p, 0) frees: not an allocation that can fail */
    if (n && hit(C_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (hit(C_ALLOC))
        return ENOMEM;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
