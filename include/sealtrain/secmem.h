/*
 * sealtrain/secmem.h: memory for secrets (keys, plaintext data, weights).
 *
 * Every allocation is page-granular and sits between two inaccessible guard
 * pages. It comes from memfd_secret(2) where the kernel offers it (memory
 * removed from the kernel's direct map, never swapped, never in a core
 * dump); otherwise from anonymous memory that is mlock(2)ed and marked
 * MADV_DONTDUMP. If memory cannot be locked the allocation fails with an
 * error that says how to raise RLIMIT_MEMLOCK: there is no silent fallback
 * to ordinary memory. Freeing wipes the whole region first.
 *
 * The first allocation also hardens the process: RLIMIT_CORE 0 and
 * PR_SET_DUMPABLE 0 (no core dumps, no ptrace by the same user).
 *
 * Secrets are handled as `st_secret`: an opaque type with no printable
 * form. Its bytes are `unsigned char *`, which printf-style functions (and
 * so st_log) reject at compile time under -Wall -Werror.
 */
#ifndef SEALTRAIN_SECMEM_H
#define SEALTRAIN_SECMEM_H

#include <stddef.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum st_secmem_mode {
    ST_SECMEM_UNUSED = 0,   /* nothing allocated yet */
    ST_SECMEM_MEMFD_SECRET, /* memfd_secret(2): off the kernel direct map */
    ST_SECMEM_MLOCK         /* mlock(2) + MADV_DONTDUMP */
} st_secmem_mode;

/* Allocates `len` bytes (len > 0) of zeroed secure memory. NULL on failure,
 * with the reason in *err. */
void *st_secmem_alloc(size_t len, st_err *err);

/* Wipes and releases memory from st_secmem_alloc. Accepts NULL. */
void st_secmem_free(void *p);

/* Usable length of an allocation from st_secmem_alloc. */
size_t st_secmem_size(const void *p);

/* Which protection the allocator uses (decided at the first allocation, or
 * probed now when nothing was allocated yet). */
st_secmem_mode st_secmem_current_mode(void);
const char *st_secmem_mode_name(st_secmem_mode mode);

/* Forbids core dumps and ptrace of this process (RLIMIT_CORE 0,
 * PR_SET_DUMPABLE 0). Idempotent; called by the first allocation. */
ST_MUST_CHECK st_code st_secmem_harden_process(st_err *err);

/* Prepares a secure arena of `len` bytes (with `secret`: memfd_secret
 * where the kernel offers it, else, or without `secret`: mlock'ed shared
 * memory, MADV_DONTDUMP) from which every later allocation of this process and
 * its forks is carved, with a guard page after each block. For a process
 * about to lose the right to lock memory (the sandboxed enclave runtime:
 * RLIMIT_MEMLOCK cannot be raised without CAP_SYS_RESOURCE): prepare
 * while privileged, fork, allocate after. Allocations beyond the arena
 * fail (no fallback). The arena is inherited by fork(); the caller of
 * prepare should allocate nothing itself. memfd_secret keeps the pages out
 * of the kernel's direct map but costs a direct-map change per page on
 * first touch (about 12 us here: 2.3 s for 188 MB), so a caller with bulk
 * data may choose plain locked memory. */
ST_MUST_CHECK st_code st_secmem_arena_prepare(size_t len, int secret,
                                              st_err *err);
/* The same for this process alone, for a process that may lock now and
 * then drops the right (the enclave runtime before it enters its user
 * namespace): without `secret`, a private anonymous mapping aligned to
 * 2 MiB and advised to use transparent huge pages (MADV_HUGEPAGE), locked
 * with mlock2(MLOCK_ONFAULT): each page is locked at the fault that
 * brings it in, so the arena is faulted in by its users rather than up
 * front (where the kernel lacks mlock2, populated and mlock'ed like the
 * shared arena); MADV_DONTDUMP and MADV_DONTFORK, so no child shares or
 * copies it. */
ST_MUST_CHECK st_code st_secmem_arena_prepare_own(size_t len, int secret,
                                                  st_err *err);
/* Size of the prepared arena, 0 when none; its backing (UNUSED: none). */
size_t st_secmem_arena_size(void);
st_secmem_mode st_secmem_arena_mode(void);
/* 1 when the arena is locked page by page as it is faulted in. */
int st_secmem_arena_on_fault(void);

/* Total bytes currently allocated (for tests and `doctor`). */
size_t st_secmem_in_use(void);

/* Overwrites `len` bytes at `p` with zeros in a way the compiler keeps. */
void st_wipe(void *p, size_t len);

/* Constant-time comparison: 1 if equal, 0 otherwise. */
int st_ct_equal(const void *a, const void *b, size_t len);

/* A secret of fixed length in secure memory. */
typedef struct st_secret st_secret;

st_secret *st_secret_new(size_t len, st_err *err);
/* A new secret holding a copy of `len` bytes at `src`. */
st_secret *st_secret_from(const unsigned char *src, size_t len, st_err *err);
unsigned char *st_secret_bytes(st_secret *s);
const unsigned char *st_secret_cbytes(const st_secret *s);
size_t st_secret_len(const st_secret *s);
/* Wipes and frees. Accepts NULL. */
void st_secret_free(st_secret *s);

#ifdef __cplusplus
}
#endif
#endif
