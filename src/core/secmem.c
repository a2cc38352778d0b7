/*
 * secmem.c: guarded, locked, wiped allocations for secrets.
 *
 * Layout of one allocation (all sizes in pages):
 *
 *   [guard][header + user bytes ...................][guard]
 *
 * The header (struct region) records the mapping and the user length. The
 * guards are PROT_NONE so that a linear overflow or underflow faults
 * instead of reading a neighbour. With memfd_secret the middle part is a
 * MAP_SHARED mapping of the secret fd (implicitly locked and removed from
 * the direct map); the guards are an anonymous PROT_NONE reservation that
 * the secret mapping is placed into with MAP_FIXED. Freed one-page
 * allocations are wiped and kept in a small pool for reuse (see pool).
 *
 * This module must never log the contents of what it holds, and never fall
 * back to unlocked memory.
 */
#include "sealtrain/secmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

#define REGION_MAGIC 0x5354534543524554ull /* "STSECRET" */

struct region {
    uint64_t magic;
    void *map;       /* start of the whole mapping, guards included */
    size_t map_len;  /* bytes of the whole mapping */
    size_t body_len; /* bytes between the guards */
    size_t user_len; /* bytes the caller asked for */
    uint64_t pad;    /* keeps user data 16-byte aligned */
};

struct st_secret {
    size_t len;
    unsigned char bytes[];
};

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static st_secmem_mode mode = ST_SECMEM_UNUSED;
static atomic_size_t in_use;
static atomic_int hardened;

static size_t page_size(void)
{
    static size_t ps;
    if (!ps)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

/* an error setter (sets *err, returns its code): not ST_MUST_CHECK */
static st_code lock_failure(st_err *err, int errnum, size_t len);

/* The arena (st_secmem_arena_prepare): one secret mapping made while the
 * process may still lock memory, carved into guarded allocations later,
 * after privileges (and with them the right to lock more) are gone. A
 * freed block is wiped and kept on a first-fit list; the arena itself is
 * never returned. */
struct arena_free {
    unsigned char *at;
    size_t len;
    struct arena_free *next;
};
static struct {
    unsigned char *base;
    size_t len, used;
    struct arena_free *free_list;
    pthread_mutex_t lock;
    st_secmem_mode backing;
    int on_fault; /* locked as faulted in (lock_on_fault) */
} arena = {NULL, 0, 0, NULL, PTHREAD_MUTEX_INITIALIZER, ST_SECMEM_UNUSED, 0};

static int in_arena(const void *p)
{
    return arena.base && (const unsigned char *)p >= arena.base &&
           (const unsigned char *)p < arena.base + arena.len;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

struct populate_part {
    unsigned char *at;
    size_t len;
};

static void *populate_part(void *arg)
{
    struct populate_part *pp = arg;
    madvise(pp->at, pp->len, MADV_POPULATE_WRITE);
    return NULL;
}

/* Faults a large arena in from several threads before mlock, which would
 * otherwise populate it alone on one core (214 MiB of shared memory:
 * ~130 ms for mlock alone, ~65 + 17 ms this way on 2 cores). The parts
 * are whole multiples of `unit` (a huge page for a huge-page arena, so
 * that no 2 MiB extent is split between two threads). Best effort: any
 * page left out (old kernel, no thread) is populated by mlock itself.
 * Every thread is joined before returning; the sandbox's
 * unshare(CLONE_NEWUSER) that follows retries while the kernel is still
 * reaping them (st_sandbox: unshare_single_threaded). */
static void populate_parallel(unsigned char *p, size_t len, size_t unit)
{
    enum { MAX_PARTS = 8 };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t parts = cpus < 2 ? 1 : cpus > MAX_PARTS ? MAX_PARTS : (size_t)cpus;
    if (len < ((size_t)32 << 20) || parts < 2)
        return;
    size_t per = (len / parts + unit - 1) / unit * unit;
    struct populate_part pp[MAX_PARTS];
    pthread_t th[MAX_PARTS];
    int started[MAX_PARTS] = {0};
    for (size_t i = 0; i < parts; i++) {
        size_t off = i * per;
        pp[i].at = p + off;
        pp[i].len = off >= len ? 0 : (len - off < per ? len - off : per);
        if (i > 0 && pp[i].len)
            started[i] =
                pthread_create(&th[i], NULL, populate_part, &pp[i]) == 0;
    }
    populate_part(&pp[0]);
    for (size_t i = 1; i < parts; i++)
        if (started[i])
            pthread_join(th[i], NULL);
        else if (pp[i].len)
            populate_part(&pp[i]);
}

#define HUGE_PAGE ((size_t)2 << 20) /* x86-64 and arm64 (4 KiB base) PMD */

/* A private anonymous mapping of `len` bytes that starts on a huge-page
 * boundary (a tail shorter than a huge page gets small pages: `len` is
 * not rounded up, so that an arena sized to RLIMIT_MEMLOCK still fits),
 * asked to be backed by transparent huge pages: 107 faults of 2 MiB instead of
 * ~55,000 of 4 KiB for 214 MiB, a teardown in about 1 ms instead of ~20, fewer
 * TLB misses while the engine trains on it. Shared anonymous memory is shmem,
 * whose huge pages are a separate setting (often `never`), hence private. */
static void *map_private_huge(size_t len)
{
    size_t span = len + HUGE_PAGE;
    unsigned char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return MAP_FAILED;
    uintptr_t a =
        ((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    unsigned char *p = (unsigned char *)a;
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (p + len < raw + span)
        munmap(p + len, (size_t)(raw + span - (p + len)));
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE); /* advice: without it, 4 KiB pages */
#endif
    return p;
}

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1 /* Linux 4.4 */
#endif

/* mlock2(MLOCK_ONFAULT) over a private arena: the whole range is locked
 * (VM_LOCKED, counted against the limit now, while the process may still
 * lock) and every page is locked at the fault that brings it in, before
 * the faulting write lands in it; reclaim never takes a page from a
 * locked mapping. Nothing is faulted in now: the decryption workers and
 * the engine fault in what they use, in parallel and overlapped with
 * their work, instead of the sandbox spawn zeroing it all up front (on a
 * VM whose host reclaims freed guest memory, first-touch faults cost ~10
 * times more than here). Not for a shared arena: a page faulted in by
 * the child would not be mapped in the parent's locked mapping. 0 or -1
 * (old kernel: the caller populates and mlocks). */
static int lock_on_fault(void *p, size_t len)
{
#ifdef SYS_mlock2
    return (int)syscall(SYS_mlock2, p, len, MLOCK_ONFAULT);
#else
    (void)p;
    (void)len;
    errno = ENOSYS;
    return -1;
#endif
}

/* own: the arena of this process alone (private, huge pages, not
 * inherited); else shared so that a fork uses the locked pages. */
static ST_MUST_CHECK st_code arena_prepare(size_t len, int secret, int own,
                                           st_err *err)
{
    size_t ps = page_size();
    len = (len + ps - 1) / ps * ps;
    if (arena.base || len == 0)
        return st_err_set(err, ST_E_USAGE,
                          "secure arena: already prepared "
                          "or empty");
    void *p = MAP_FAILED;
    size_t unit = ps;
    int on_fault = 0;
    st_secmem_mode backing = ST_SECMEM_MLOCK;
    int fd = secret ? (int)syscall(SYS_memfd_secret, 0) : -1;
    if (fd >= 0) {
        if (ftruncate(fd, (off_t)len) == 0)
            p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        backing = ST_SECMEM_MEMFD_SECRET;
    }
    if (p == MAP_FAILED) {
        backing = ST_SECMEM_MLOCK;
        if (own) {
            unit = HUGE_PAGE;
            p = map_private_huge(len);
        } else {
            p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        }
        if (p != MAP_FAILED && own && lock_on_fault(p, len) == 0) {
            on_fault = 1;
        } else if (p != MAP_FAILED && own && errno != ENOSYS &&
                   errno != EINVAL) {
            int e = errno; /* not allowed to lock that much */
            munmap(p, len);
            return lock_failure(err, e, len);
        } else if (p != MAP_FAILED) {
            populate_parallel(p, len, unit);
            if (mlock(p, len) != 0) {
                int e = errno;
                munmap(p, len);
                return lock_failure(err, e, len);
            }
        }
    }
    if (p == MAP_FAILED)
        return lock_failure(err, errno, len);
    madvise(p, len, MADV_DONTDUMP);
    if (own) /* no copy-on-write sharing with a child, no child's copy */
        madvise(p, len, MADV_DONTFORK);
    arena.base = p;
    arena.len = len;
    arena.used = 0;
    arena.backing = backing;
    arena.on_fault = on_fault;
    return ST_OK;
}

st_code st_secmem_arena_prepare(size_t len, int secret, st_err *err)
{
    return arena_prepare(len, secret, 0, err);
}

st_code st_secmem_arena_prepare_own(size_t len, int secret, st_err *err)
{
    return arena_prepare(len, secret, 1, err);
}

size_t st_secmem_arena_size(void)
{
    return arena.len;
}

st_secmem_mode st_secmem_arena_mode(void)
{
    return arena.base ? arena.backing : ST_SECMEM_UNUSED;
}

int st_secmem_arena_on_fault(void)
{
    return arena.base && arena.on_fault;
}

/* [body][guard] from the arena; NULL when it is exhausted. */
static unsigned char *arena_take(size_t total, st_err *err)
{
    pthread_mutex_lock(&arena.lock);
    unsigned char *at = NULL;
    for (struct arena_free **f = &arena.free_list; *f; f = &(*f)->next)
        if ((*f)->len == total) {
            struct arena_free *hit = *f;
            at = hit->at;
            *f = hit->next;
            free(hit);
            break;
        }
    if (!at && arena.used + total <= arena.len) {
        at = arena.base + arena.used;
        arena.used += total;
    }
    pthread_mutex_unlock(&arena.lock);
    if (!at)
        st_err_set(err, ST_E_IO,
                   "secure arena exhausted: %zu bytes wanted, %zu of %zu "
                   "used (the job's locked-memory allowance is too small)",
                   total, arena.used, arena.len);
    return at;
}

static void arena_give(unsigned char *at, size_t total)
{
    struct arena_free *f = malloc(sizeof(*f));
    if (!f)
        return; /* leaks arena space, never memory contents (wiped) */
    f->at = at;
    f->len = total;
    pthread_mutex_lock(&arena.lock);
    f->next = arena.free_list;
    arena.free_list = f;
    pthread_mutex_unlock(&arena.lock);
}

/* The pool: freed one-page allocations (outside an arena) are kept for
 * the next one, wiped, still secret (memfd_secret) or locked, guard pages
 * in place. A process that handles a key per request (the key broker
 * under load) otherwise maps and unmaps secret memory each time, and
 * every memfd_secret page taken out of and put back into the kernel's
 * direct map costs a TLB flush on every core. At most POOL_MAX pages are
 * held beyond what is in use. A forked child starts with an empty pool:
 * the regions are MADV_DONTFORK, not mapped there. */
#define POOL_MAX 32
static struct {
    pthread_mutex_t lock;
    size_t n;
    unsigned char *map[POOL_MAX];
} pool = {PTHREAD_MUTEX_INITIALIZER, 0, {NULL}};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_prepare(void)
{
    pthread_mutex_lock(&pool.lock);
}

static void pool_parent(void)
{
    pthread_mutex_unlock(&pool.lock);
}

static void pool_child(void)
{
    pool.n = 0;
    pthread_mutex_unlock(&pool.lock);
}

static void pool_init(void)
{
    pthread_atfork(pool_prepare, pool_parent, pool_child);
}

/* A pooled mapping of [guard][one page][guard], or NULL. */
static unsigned char *pool_take(void)
{
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool.lock);
    unsigned char *map = pool.n ? pool.map[--pool.n] : NULL;
    pthread_mutex_unlock(&pool.lock);
    return map;
}

/* 1 when the (wiped) mapping was kept. */
static int pool_give(unsigned char *map)
{
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool.lock);
    int kept = pool.n < POOL_MAX;
    if (kept)
        pool.map[pool.n++] = map;
    pthread_mutex_unlock(&pool.lock);
    return kept;
}

static void probe_mode(void)
{
    /* memfd_secret exists only when the kernel allows it (secretmem); a
     * failure here means "not available", not an error. */
    int fd = (int)syscall(SYS_memfd_secret, 0);
    if (fd >= 0) {
        close(fd);
        mode = ST_SECMEM_MEMFD_SECRET;
    } else {
        mode = ST_SECMEM_MLOCK;
    }
}

st_secmem_mode st_secmem_current_mode(void)
{
    pthread_once(&mode_once, probe_mode);
    return mode;
}

const char *st_secmem_mode_name(st_secmem_mode m)
{
    switch (m) {
    case ST_SECMEM_UNUSED: return "unused";
    case ST_SECMEM_MEMFD_SECRET: return "memfd_secret";
    case ST_SECMEM_MLOCK: return "mlock+dontdump";
    }
    return "unknown";
}

void st_wipe(void *p, size_t len)
{
    if (p && len)
        explicit_bzero(p, len);
}

int st_ct_equal(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < len; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

st_code st_secmem_harden_process(st_err *err)
{
    if (atomic_load(&hardened))
        return ST_OK;
    struct rlimit zero = {0, 0};
    if (setrlimit(RLIMIT_CORE, &zero) != 0)
        return st_err_errno(err, ST_E_IO, errno,
                            "cannot disable core dumps (RLIMIT_CORE)");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return st_err_errno(err, ST_E_IO, errno,
                            "cannot mark the process not dumpable");
    atomic_store(&hardened, 1);
    return ST_OK;
}

static st_code lock_failure(st_err *err, int errnum, size_t len)
{
    struct rlimit rl;
    char limit[64] = "unknown";
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY)
            snprintf(limit, sizeof(limit), "unlimited");
        else
            snprintf(limit, sizeof(limit), "%llu bytes",
                     (unsigned long long)rl.rlim_cur);
    }
    return st_err_set(
        err, ST_E_IO,
        "cannot lock %zu bytes of memory for secrets: %s (RLIMIT_MEMLOCK is "
        "%s, %zu bytes already locked); raise it with `ulimit -l`, "
        "LimitMEMLOCK= in a systemd unit or /etc/security/limits.conf",
        len, strerror(errnum), limit, atomic_load(&in_use));
}

static void *map_body(void *at, size_t body_len, st_err *err)
{
    if (st_secmem_current_mode() == ST_SECMEM_MEMFD_SECRET) {
        int fd = (int)syscall(SYS_memfd_secret, 0);
        if (fd < 0) {
            st_err_errno(err, ST_E_IO, errno, "memfd_secret");
            return NULL;
        }
        if (ftruncate(fd, (off_t)body_len) != 0) {
            int e = errno;
            close(fd);
            st_err_errno(err, ST_E_IO, e, "memfd_secret: ftruncate");
            return NULL;
        }
        void *p = mmap(at, body_len, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED, fd, 0);
        int e = errno;
        close(fd);
        if (p == MAP_FAILED) {
            /* secretmem pages count against RLIMIT_MEMLOCK */
            lock_failure(err, e, body_len);
            return NULL;
        }
        return p;
    }
    if (mprotect(at, body_len, PROT_READ | PROT_WRITE) != 0) {
        st_err_errno(err, ST_E_IO, errno, "mprotect");
        return NULL;
    }
    if (mlock(at, body_len) != 0) {
        lock_failure(err, errno, body_len);
        return NULL;
    }
    madvise(at, body_len, MADV_DONTDUMP);
    return at;
}

/* Fills the header of a region whose body starts at `at` (inside the
 * mapping map/map_len) and counts it in use; returns the caller's pointer. */
static void *region_init(unsigned char *at, unsigned char *map, size_t map_len,
                         size_t body, size_t len)
{
    struct region *r = (struct region *)at;
    r->magic = REGION_MAGIC;
    r->map = map;
    r->map_len = map_len;
    r->body_len = body;
    r->user_len = len;
    atomic_fetch_add(&in_use, body);
    return r + 1;
}

void *st_secmem_alloc(size_t len, st_err *err)
{
    if (len == 0 || len > SIZE_MAX / 2) {
        st_err_set(err, ST_E_INTERNAL, "secure allocation of %zu bytes", len);
        return NULL;
    }
    if (st_secmem_harden_process(err) != ST_OK)
        return NULL;
    size_t ps = page_size();
    size_t body = (sizeof(struct region) + len + ps - 1) / ps * ps;
    if (arena.base) {
        /* the arena starts with no guard: the one below is the previous
         * block's, or nothing mapped below the arena at all */
        unsigned char *at = arena_take(body + ps, err);
        if (!at)
            return NULL;
        if (mprotect(at + body, ps, PROT_NONE) != 0 ||
            mprotect(at, body, PROT_READ | PROT_WRITE) != 0) {
            st_err_errno(err, ST_E_IO, errno, "secure arena: mprotect");
            arena_give(at, body + ps);
            return NULL;
        }
        memset(at, 0, sizeof(struct region));
        return region_init(at, at, body + ps, body, len);
    }
    size_t total = body + 2 * ps;
    unsigned char *map = body == ps ? pool_take() : NULL;
    if (map)
        return region_init(map + ps, map, total, body, len);
    map = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        st_err_errno(err, ST_E_IO, errno,
                     "cannot reserve %zu bytes of secure memory", total);
        return NULL;
    }
    madvise(map, total, MADV_DONTDUMP);
    if (!map_body(map + ps, body, err)) {
        munmap(map, total);
        return NULL;
    }
    /* MADV_DONTDUMP again: a MAP_FIXED replacement drops earlier advice.
     * MADV_DONTFORK: a forked child (the sandboxed enclave runtime) gets no
     * copy of the caller's secrets, not even a shared mapping. */
    madvise(map + ps, body, MADV_DONTDUMP);
    madvise(map, total, MADV_DONTFORK);
    return region_init(map + ps, map, total, body, len);
}

static struct region *region_of(const void *p)
{
    struct region *r = (struct region *)p - 1;
    if (r->magic != REGION_MAGIC)
        abort(); /* not ours, or corrupted: never unmap a foreign pointer */
    return r;
}

size_t st_secmem_size(const void *p)
{
    return p ? region_of(p)->user_len : 0;
}

void st_secmem_free(void *p)
{
    if (!p)
        return;
    struct region *r = region_of(p);
    void *map = r->map;
    size_t total = r->map_len, body = r->body_len;
    explicit_bzero(r, body);
    if (in_arena(map)) {
        arena_give(map, total);
        atomic_fetch_sub(&in_use, body);
        return;
    }
    if (body == page_size() && pool_give(map)) {
        atomic_fetch_sub(&in_use, body);
        return;
    }
    if (st_secmem_current_mode() == ST_SECMEM_MLOCK)
        munlock(r, body);
    munmap(map, total);
    atomic_fetch_sub(&in_use, body);
}

size_t st_secmem_in_use(void)
{
    return atomic_load(&in_use);
}

st_secret *st_secret_new(size_t len, st_err *err)
{
    st_secret *s = st_secmem_alloc(sizeof(*s) + (len ? len : 1), err);
    if (s)
        s->len = len;
    return s;
}

st_secret *st_secret_from(const unsigned char *src, size_t len, st_err *err)
{
    st_secret *s = st_secret_new(len, err);
    if (s && len)
        memcpy(s->bytes, src, len);
    return s;
}

unsigned char *st_secret_bytes(st_secret *s)
{
    return s->bytes;
}

const unsigned char *st_secret_cbytes(const st_secret *s)
{
    return s->bytes;
}

size_t st_secret_len(const st_secret *s)
{
    return s ? s->len : 0;
}

void st_secret_free(st_secret *s)
{
    st_secmem_free(s);
}
