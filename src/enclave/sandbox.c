/*
 * sandbox.c: what the enclave runtime is allowed to do, and nothing else.
 *
 * Read this file as a list. The runtime child is made in two steps:
 *
 *   caller --fork--> A: raises RLIMIT_MEMLOCK if it may, unshare(user, net,
 *                       mount, IPC, UTS, PID namespaces); the caller writes
 *                       A's uid/gid maps, puts it in a cgroup (v2 only)
 *                    A --fork--> B: PID 1 of the new PID namespace; applies
 *                       the measures below in order, reports them, runs
 *                       the caller's function with its socket end
 *
 * The runtime's secure memory (the decrypted datasets and the engine's
 * state) must be locked while locking is still allowed. When
 * RLIMIT_MEMLOCK cannot be raised (no CAP_SYS_RESOURCE) but the caller
 * holds CAP_IPC_LOCK and may create namespaces (root in a container), the
 * order changes so that B locks its own arena: A unshares every namespace
 * but the user one and forks B; B maps a private arena with transparent
 * huge pages (st_secmem_arena_prepare_own), faults it in from every core,
 * mlocks it, makes the mount and UTS namespaces its own, then enters a new
 * user namespace whose maps the caller writes; the rest is as below. That
 * user namespace owns none of the others. Else (no right to create them
 * without a user namespace) A prepares a shared arena (shmem: 4 KiB pages)
 * before its unshare, which B inherits. Where RLIMIT_MEMLOCK covers the
 * allowance (or was raised), B makes the same private arena within it at
 * the start of step 1.
 *
 * (fork, not clone: fork runs the pthread_atfork handlers that keep
 * OpenBLAS's thread pool usable in the child. A only waits for B and
 * passes B's fate on.)
 *
 * In B, in this order (each one recorded as applied or unavailable):
 *   1. every descriptor closed except the socket, the inputs, the output
 *      directory and stderr; stdin/stdout on /dev/null
 *   2. mount propagation private (new mount namespace), hostname
 *      "sealtrain-enclave" (new UTS namespace)
 *   3. rlimits: RLIMIT_CORE 0, RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_NOFILE;
 *      CPU affinity; or cgroup v2 memory.max / cpu.max when writable
 *   4. an unprivileged uid (nobody when the caller is root, else the
 *      caller's), no supplementary groups, no capabilities
 *   5. not dumpable (no ptrace by the same uid, no core), no_new_privs
 *   6. Landlock: read the input files, read/write/create in the output
 *      directory; nothing else on any file system; no TCP; no signals or
 *      abstract sockets out of the domain (ABI 4 and 6 when offered)
 *   7. seccomp: the allowlist below; anything else kills the process
 *
 * This module must never weaken a measure silently: under the strict level
 * a measure that cannot be applied stops the spawn, and under the relaxed
 * level it is reported. It never holds keys: the caller spawns the child
 * before it opens the keyring.
 *
 * References: namespaces(7), user_namespaces(7), landlock(7) and the kernel's
 * Documentation/userspace-api/landlock.rst (ABI versions 1-7), seccomp(2),
 * OpenSSH sandbox-seccomp-filter.c (the allowlist style).
 */
#include "enclave/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sealtrain/log.h"
#include "sealtrain/secmem.h"

/* ---- Landlock, defined here: Debian 12's header only knows ABI 1 ---- */

struct st_landlock_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};
struct st_landlock_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ST_SANITIZED 1
#endif
#endif

/* ---- the seccomp allowlist ---- */

/* System calls the runtime may make without conditions. Everything not
 * listed here or in the conditional rules of apply_seccomp() kills the
 * process: no socket, connect, bind, ptrace, execve, kill of others,
 * mount, unshare, setns, process_vm_*, bpf, io_uring, keyctl, ... */
static const int allowed_syscalls[] = {
    /* the socketpair and files already open or under the output dir
     * (Landlock decides which paths openat may reach) */
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),
    SCMP_SYS(close),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(lseek),
    SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),
    SCMP_SYS(ftruncate),
    SCMP_SYS(openat),
    SCMP_SYS(renameat),
    SCMP_SYS(renameat2),
    SCMP_SYS(unlinkat),
    SCMP_SYS(fcntl),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    /* memory, including locked and secret memory (no PROT_EXEC: below) */
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(brk),
    SCMP_SYS(mlock),
    SCMP_SYS(mlock2),
    SCMP_SYS(munlock),
    SCMP_SYS(memfd_secret),
    /* OpenBLAS binds its large GEMM buffers to the local NUMA node */
    SCMP_SYS(mbind),
    /* threads (OpenBLAS, decryption workers): clone only with CLONE_THREAD,
     * below */
    SCMP_SYS(futex),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(gettid),
    SCMP_SYS(getpid),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    /* time and randomness */
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(getrandom),
    /* harmless facts (resource use for progress reports) */
    SCMP_SYS(getrusage),
    SCMP_SYS(sysinfo),
    SCMP_SYS(uname),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
};

/* ---- the report ---- */

static void measure(st_sandbox_report *r, const char *name, int applied,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void measure(st_sandbox_report *r, const char *name, int applied,
                    const char *fmt, ...)
{
    if (r->n >= ST_SANDBOX_MAX_MEASURES)
        return;
    st_sandbox_measure *m = &r->m[r->n++];
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->applied = applied;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->detail, sizeof(m->detail), fmt, ap);
    va_end(ap);
}

json_t *st_sandbox_report_json(const st_sandbox_report *r,
                               st_sandbox_level level)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n; i++)
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s}", "name", r->m[i].name, "status",
                           r->m[i].applied ? "applied" : "unavailable",
                           "detail", r->m[i].detail));
    return json_pack("{s:s,s:o}", "level", st_sandbox_level_name(level),
                     "measures", arr);
}

size_t st_sandbox_report_missing(const st_sandbox_report *r, char *out,
                                 size_t cap)
{
    size_t n = 0, used = 0;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        if (r->m[i].applied)
            continue;
        int w = snprintf(out + used, cap > used ? cap - used : 0, "%s%s (%s)",
                         n ? ", " : "", r->m[i].name, r->m[i].detail);
        if (w > 0 && used + (size_t)w < cap)
            used += (size_t)w;
        n++;
    }
    return n;
}

void st_sandbox_describe_status(int status, char *out, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *why = "";
        if (sig == SIGSYS)
            why = " (a forbidden system call: seccomp)";
        else if (sig == SIGKILL)
            why = " (killed: out of memory, a limit, or on request)";
        else if (sig == SIGXCPU)
            why = " (CPU time limit)";
        else if (sig == SIGSEGV)
            why = " (memory fault)";
        snprintf(out, cap, "killed by signal %d, %s%s", sig, strsignal(sig),
                 why);
    } else
        snprintf(out, cap, "wait status %#x", status);
}

/* ---- the messages between B (or A) and the caller on the control socket
 * ---- */

struct child_report {
    st_sandbox_report report;
    int fatal;     /* setup failed: B exits */
    char why[300]; /* why it failed */
};

struct go_message {
    uid_t uid; /* uid/gid B switches to (inside the user namespace) */
    gid_t gid;
    int setgroups_allowed;
};

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    unsigned char *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- measures applied in B ---- */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Closes every descriptor not in keep[] (which is sorted here). */
static int close_others(int *keep, size_t n)
{
    qsort(keep, n, sizeof(int), cmp_int);
    int from = 0;
    for (size_t i = 0; i <= n; i++) {
        int to = i < n ? keep[i] - 1 : (int)(~0U >> 1);
        if (to >= from &&
            syscall(SYS_close_range, (unsigned)from, (unsigned)to, 0) != 0)
            return -1;
        if (i < n)
            from = keep[i] + 1;
    }
    return 0;
}

static unsigned long long vm_size_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

static void apply_limits(const st_sandbox_config *cfg, const char *cgroup,
                         st_sandbox_report *r)
{
    struct rlimit zero = {0, 0};
    if (setrlimit(RLIMIT_CORE, &zero) == 0)
        measure(r, "core-dumps", 1, "RLIMIT_CORE 0");
    else
        measure(r, "core-dumps", 0, "RLIMIT_CORE: %s", strerror(errno));

    struct rlimit nofile = {256, 256};
    setrlimit(RLIMIT_NOFILE, &nofile);

    if (cgroup[0]) {
        measure(r, "resource-limits", 1, "cgroup v2 %s (memory.max, cpu.max)",
                cgroup);
    } else {
        char detail[200];
        int ok = 1;
        size_t used = (size_t)snprintf(detail, sizeof(detail),
                                       "cgroup v2 not writable here; rlimits:");
        if (cfg->memory_bytes) {
            /* The address space already mapped (the forked caller and, in
             * sanitizer builds, shadow memory) plus the job's allowance. */
            unsigned long long base = vm_size_bytes();
            struct rlimit as = {base + cfg->memory_bytes,
                                base + cfg->memory_bytes};
            if (base && setrlimit(RLIMIT_AS, &as) == 0)
                used += (size_t)snprintf(
                    detail + used, sizeof(detail) - used,
                    " RLIMIT_AS +%llu MiB",
                    (unsigned long long)(cfg->memory_bytes >> 20));
            else
                ok = 0;
        }
        if (cfg->cpu_seconds && used < sizeof(detail)) {
            struct rlimit cpu = {cfg->cpu_seconds, cfg->cpu_seconds + 1};
            if (setrlimit(RLIMIT_CPU, &cpu) == 0)
                used += (size_t)snprintf(detail + used, sizeof(detail) - used,
                                         " RLIMIT_CPU %llus",
                                         (unsigned long long)cfg->cpu_seconds);
            else
                ok = 0;
        }
        if (!cfg->memory_bytes && !cfg->cpu_seconds && used < sizeof(detail))
            snprintf(detail + used, sizeof(detail) - used, " none requested");
        measure(r, "resource-limits", ok, "%s", detail);
    }

    if (cfg->cpus) {
        cpu_set_t set, mine;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof(mine), &mine) == 0) {
            unsigned n = 0;
            for (int c = 0; c < CPU_SETSIZE && n < cfg->cpus; c++)
                if (CPU_ISSET(c, &mine)) {
                    CPU_SET(c, &set);
                    n++;
                }
            if (sched_setaffinity(0, sizeof(set), &set) == 0)
                measure(r, "cpu-affinity", 1, "%u CPU(s)", n);
            else
                measure(r, "cpu-affinity", 0, "sched_setaffinity: %s",
                        strerror(errno));
        }
    }
}

static void apply_identity(const struct go_message *go, st_sandbox_report *r)
{
    int groups_ok = 1;
    if (go->setgroups_allowed && setgroups(0, NULL) != 0)
        groups_ok = 0;
    if (setresgid(go->gid, go->gid, go->gid) != 0 ||
        setresuid(go->uid, go->uid, go->uid) != 0) {
        measure(r, "unprivileged-uid", 0, "setresuid(%u): %s",
                (unsigned)go->uid, strerror(errno));
        return;
    }
    /* a credential change clears the parent-death signal (prctl(2)): arm
     * it again, or a runtime whose parent is killed (say, after it hung,
     * even stopped) would outlive it */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* a uid change from 0 clears the capability sets; check it happened */
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) != 0 ||
        syscall(SYS_capget, &hdr, data) != 0 || data[0].permitted ||
        data[1].permitted || data[0].effective || data[1].effective) {
        measure(r, "unprivileged-uid", 0, "capabilities remain");
        return;
    }
    measure(r, "unprivileged-uid", 1, "uid %u gid %u, no capabilities%s",
            (unsigned)go->uid, (unsigned)go->gid,
            groups_ok && go->setgroups_allowed
                ? ", no supplementary groups"
                : " (supplementary groups kept: setgroups denied)");
}

static void apply_landlock(const st_sandbox_config *cfg, st_sandbox_report *r)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LL_CREATE_RULESET_VERSION);
    if (abi < 1) {
        measure(r, "landlock", 0, "not offered by this kernel: %s",
                strerror(errno));
        return;
    }
    struct st_landlock_ruleset_attr attr = {0};
    attr.handled_access_fs =
        LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_READ_DIR |
        LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR |
        LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO |
        LL_FS_MAKE_BLOCK | LL_FS_MAKE_SYM;
    size_t attr_size = sizeof(attr.handled_access_fs);
    if (abi >= 2)
        attr.handled_access_fs |= LL_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        attr.handled_access_fs |= LL_FS_IOCTL_DEV;
    if (abi >= 4) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        attr_size = offsetof(struct st_landlock_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        attr_size = sizeof(attr);
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0) {
        measure(r, "landlock", 0, "create_ruleset (ABI %ld): %s", abi,
                strerror(errno));
        return;
    }
    for (size_t i = 0; i < cfg->ninputs; i++) {
        struct st_landlock_path_beneath_attr pb = {LL_FS_READ_FILE,
                                                   cfg->input_fds[i]};
        if (syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0)) {
            measure(r, "landlock", 0, "rule for input %zu: %s", i,
                    strerror(errno));
            close(rs);
            return;
        }
    }
    if (cfg->output_dirfd >= 0) {
        struct st_landlock_path_beneath_attr pb = {
            LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_READ_DIR |
                LL_FS_REMOVE_FILE | LL_FS_MAKE_REG |
                (abi >= 3 ? LL_FS_TRUNCATE : 0),
            cfg->output_dirfd};
        if (syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0)) {
            measure(r, "landlock", 0, "rule for the output directory: %s",
                    strerror(errno));
            close(rs);
            return;
        }
    }
    if (syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
        measure(r, "landlock", 0, "restrict_self: %s", strerror(errno));
        close(rs);
        return;
    }
    close(rs);
    measure(r, "landlock", 1,
            "ABI %ld: read %zu input file(s), write the output directory "
            "only%s%s",
            abi, cfg->ninputs, abi >= 4 ? "; no TCP bind/connect" : "",
            abi >= 6 ? "; no signals or abstract sockets out of the sandbox"
                     : "");
}

/* SCMP_A<n>(SCMP_CMP_EQ, v) spelled out: clang warns on the macro's
 * missing datum_b */
#define ARG_EQ(n, v) ((struct scmp_arg_cmp){(n), SCMP_CMP_EQ, (v), 0})

static void apply_seccomp(st_sandbox_report *r)
{
    /* ST_SANDBOX_TRAP=1 (development only): report the first forbidden
     * call by number through SIGSYS instead of killing silently */
    scmp_filter_ctx ctx = seccomp_init(
        getenv("ST_SANDBOX_TRAP") ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
    int rc = ctx ? 0 : -ENOMEM;
    for (size_t i = 0;
         rc == 0 && i < sizeof(allowed_syscalls) / sizeof(allowed_syscalls[0]);
         i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_syscalls[i], 0);
    /* memory may be mapped and protected, never executable */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    /* threads only: a clone without CLONE_THREAD (a new process) kills.
     * clone3 passes its flags in memory that seccomp cannot read, so it
     * answers ENOSYS and glibc falls back to clone. */
    if (rc == 0)
        rc = seccomp_rule_add(
            ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
            SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* getrlimit, never setrlimit (prlimit64 with a NULL new limit) */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                              ARG_EQ(2, 0));
    /* signals to itself only (abort(), pthread_kill) */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                              ARG_EQ(0, (scmp_datum_t)getpid()));
    /* send/recv on the socketpair: never with an address */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
                              ARG_EQ(4, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(recvfrom), 1,
                              ARG_EQ(4, 0));
    /* stdio asks isatty(); the answer is "no" */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 0);
    if (rc == 0)
        rc = seccomp_load(ctx);
    if (ctx)
        seccomp_release(ctx);
    if (rc != 0) {
        measure(r, "seccomp", 0, "filter not loaded: %s", strerror(-rc));
        return;
    }
    measure(r, "seccomp", 1,
            "allowlist of %zu system calls (+ conditional mmap, mprotect, "
            "clone, prlimit64, tgkill, sendto, recvfrom); anything else "
            "kills the process",
            sizeof(allowed_syscalls) / sizeof(allowed_syscalls[0]));
}

static void trap_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    char msg[96];
    int n = snprintf(msg, sizeof(msg),
                     "sealtrain sandbox: forbidden system call %d\n",
                     si->si_syscall);
    if (n > 0)
        (void)!write(2, msg, (size_t)n);
    _exit(128 + SIGSYS);
}

/* Step 2 of B: the new mount and UTS namespaces made ours. Needs
 * CAP_SYS_ADMIN over the user namespace that owns them. */
static void apply_namespace_setup(unsigned ns_applied, st_sandbox_report *r)
{
    if (ns_applied & CLONE_NEWNS) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
            measure(r, "mount-namespace", 1,
                    "own mount table, propagation private");
        else
            measure(r, "mount-namespace", 0, "making / private: %s",
                    strerror(errno));
    }
    if (ns_applied & CLONE_NEWUTS) {
        static const char host[] = "sealtrain-enclave";
        if (sethostname(host, sizeof(host) - 1) == 0)
            measure(r, "uts-namespace", 1, "hostname %s", host);
        else
            measure(r, "uts-namespace", 0, "sethostname: %s", strerror(errno));
    }
}

/* B: applies the measures in order, reports, then runs fn. Never returns.
 * `pre`: the measures B took before it entered its user namespace (the
 * namespace setup among them), or NULL. `own_arena`: RLIMIT_MEMLOCK
 * covers the allowance, so B makes its own arena now (private, huge
 * pages, locked as faulted in) rather than locking each allocation. */
static void run_child(const st_sandbox_config *cfg, st_sandbox_main fn,
                      void *arg, int sock, int ctl, unsigned ns_applied,
                      const struct go_message *go,
                      const struct child_report *pre, int own_arena)
{
    struct child_report cr;
    memset(&cr, 0, sizeof(cr));
    if (pre)
        cr = *pre;
    st_sandbox_report *r = &cr.report;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* the caller's signal handlers mean nothing here */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* best effort: without it, each allocation is mlock'ed on its own
     * within the same limit, as before */
    if (own_arena)
        st_discard(st_secmem_arena_prepare_own(cfg->memlock_bytes,
                                               cfg->memlock_secret, NULL));
    if (ns_applied & CLONE_NEWPID)
        measure(r, "pid-namespace", getpid() == 1, "runtime is PID %d",
                (int)getpid());

    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        close(devnull);
    }
    int keep[2 * ST_SANDBOX_MAX_INPUTS + 6];
    size_t nkeep = 0;
    keep[nkeep++] = 0;
    keep[nkeep++] = 1;
    keep[nkeep++] = 2;
    keep[nkeep++] = sock;
    keep[nkeep++] = ctl;
    if (cfg->output_dirfd >= 0)
        keep[nkeep++] = cfg->output_dirfd;
    for (size_t i = 0; i < cfg->ninputs && i < ST_SANDBOX_MAX_INPUTS; i++)
        keep[nkeep++] = cfg->input_fds[i];
    for (size_t i = 0; i < cfg->nkeep && i < ST_SANDBOX_MAX_INPUTS; i++)
        keep[nkeep++] = cfg->keep_fds[i];
    if (close_others(keep, nkeep) == 0)
        measure(r, "descriptors", 1,
                "only the socket, %zu input(s), the "
                "output directory and stderr are open",
                cfg->ninputs);
    else
        measure(r, "descriptors", 0, "close_range: %s", strerror(errno));

    if (!pre)
        apply_namespace_setup(ns_applied, r);

    apply_limits(cfg, "", r);
    apply_identity(go, r);

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 &&
        prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)
        measure(r, "not-dumpable", 1,
                "PR_SET_DUMPABLE 0: no ptrace attach "
                "by the same uid, no core");
    else
        measure(r, "not-dumpable", 0, "PR_SET_DUMPABLE: %s", strerror(errno));
    /* the same hardening secure memory asks for, done now: setrlimit is
     * not on the allowlist. Should it fail, the first secure allocation
     * retries it and fails the job with the system's reason. */
    st_discard(st_secmem_harden_process(NULL));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
        measure(r, "no-new-privs", 1, "PR_SET_NO_NEW_PRIVS 1");
    else
        measure(r, "no-new-privs", 0, "PR_SET_NO_NEW_PRIVS: %s",
                strerror(errno));

    apply_landlock(cfg, r);

    if (getenv("ST_SANDBOX_TRAP")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = trap_handler;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSYS, &sa, NULL);
    }
    apply_seccomp(r);

    if (write_all(ctl, &cr, sizeof(cr)) != 0)
        _exit(126);
    close(ctl);
    int status = fn(arg, sock);
    _exit(status & 0xff);
}

/* ---- the caller's side ---- */

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* cgroup v2 with the memory and cpu controllers, writable by us: a child
 * group for A (`pid`) and the runtime (`runtime`, when A forked it before
 * this; else 0). Returns 0 and fills `dir`, or -1 with the reason in
 * `why`. */
static int cgroup_create(const st_sandbox_config *cfg, pid_t pid, pid_t runtime,
                         char *dir, size_t cap, char *why, size_t whycap)
{
    struct statfs sf;
    char path[512], val[64];
    dir[0] = '\0';
    if (statfs("/sys/fs/cgroup", &sf) != 0 ||
        sf.f_type != CGROUP2_SUPER_MAGIC) {
        snprintf(why, whycap,
                 "cgroup v2 is not mounted at /sys/fs/cgroup "
                 "(cgroup v1 or hybrid hierarchy)");
        return -1;
    }
    snprintf(path, sizeof(path), "/sys/fs/cgroup/sealtrain-job-%d", (int)pid);
    if (mkdir(path, 0700) != 0) {
        snprintf(why, whycap, "cgroup v2 not writable: %s", strerror(errno));
        return -1;
    }
    char file[600];
    int ok = 1;
    if (cfg->memory_bytes) {
        snprintf(file, sizeof(file), "%s/memory.max", path);
        snprintf(val, sizeof(val), "%llu",
                 (unsigned long long)cfg->memory_bytes);
        ok &= write_file(file, val) == 0;
    }
    if (cfg->cpus) {
        snprintf(file, sizeof(file), "%s/cpu.max", path);
        snprintf(val, sizeof(val), "%u 100000", cfg->cpus * 100000);
        ok &= write_file(file, val) == 0;
    }
    snprintf(file, sizeof(file), "%s/cgroup.procs", path);
    snprintf(val, sizeof(val), "%d", (int)pid);
    ok &= write_file(file, val) == 0;
    if (runtime) { /* forked before A was moved: moved too */
        snprintf(val, sizeof(val), "%d", (int)runtime);
        ok &= write_file(file, val) == 0;
    }
    if (!ok) {
        snprintf(why, whycap, "cgroup v2 controllers not usable: %s",
                 strerror(errno));
        rmdir(path);
        return -1;
    }
    snprintf(dir, cap, "%s", path);
    return 0;
}

/* Hands a directory and the files in it (one level: a resumed job's
 * checkpoint) to uid:gid. */
static int chown_dir(const char *dir, uid_t uid, gid_t gid)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return -1;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            fchownat(dfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            rc = -1;
    if (fchown(dfd, uid, gid) != 0)
        rc = -1;
    closedir(d);
    return rc;
}

static const struct {
    int flag;
    const char *name;
    const char *detail;
} namespaces[] = {
    {CLONE_NEWUSER, "user-namespace", "own user namespace, one uid mapped"},
    {CLONE_NEWNET, "network-namespace",
     "own network namespace: no interfaces but a loopback that is down"},
    {CLONE_NEWNS, "mount-namespace", ""},
    {CLONE_NEWPID, "pid-namespace", ""},
    {CLONE_NEWIPC, "ipc-namespace", "own System V IPC and POSIX queues"},
    {CLONE_NEWUTS, "uts-namespace", ""},
};
#define NS_ALL                                                                 \
    (CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID |               \
     CLONE_NEWIPC | CLONE_NEWUTS)

/* A's last duty: wait for B and die the way B died, so that the caller
 * sees the real cause. Never returns. */
static void pass_on_fate(pid_t b)
{
    int status;
    while (waitpid(b, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        struct rlimit zero = {0, 0};
        setrlimit(RLIMIT_CORE, &zero);
        signal(WTERMSIG(status), SIG_DFL);
        raise(WTERMSIG(status));
        _exit(128 + WTERMSIG(status));
    }
    _exit(WEXITSTATUS(status));
}

/* unshare(CLONE_NEWUSER) wants a single thread (EINVAL otherwise), and
 * pthread_join returns once a thread has left its memory, a moment
 * before the kernel takes it out of the thread group: the arena's
 * populate threads may still be counted. Retried for up to ~100 ms. */
static int unshare_single_threaded(int flags)
{
    for (int i = 0;; i++) {
        if (unshare(flags) == 0)
            return 0;
        if (errno != EINVAL || i >= 200)
            return -1;
        usleep(500);
    }
}

/* The message A sends the caller on the control socket. */
enum {
    MSG_APPLIED,     /* namespaces created (CLONE_* bits) */
    MSG_ERR_ALL,     /* errno of unshare with the user namespace */
    MSG_ERR_REST,    /* errno of unshare without it (relaxed) */
    MSG_MEMLOCK,     /* 0 enough, 1 raised, 2 arena, 3 failed */
    MSG_MEMLOCK_ERR, /* errno of raising RLIMIT_MEMLOCK */
    MSG_ARENA_MODE,  /* st_secmem_mode of the arena */
    MSG_MAPPED_PID,  /* whose uid/gid maps to write: 0 A, else B (the
                        runtime made its own arena) */
    MSG_ON_FAULT,    /* 1: the runtime's arena is locked as faulted in */
    MSG_WORDS
};

/* A, when the runtime can make its own arena: B is forked into every new
 * namespace but the user one, locks its private arena (huge pages where
 * offered) while it still holds CAP_IPC_LOCK, makes the mount and UTS
 * namespaces its own while it still may, then enters a new user
 * namespace, the uid/gid maps of which the caller writes. The user
 * namespace owns none of the others, so B's capabilities in it (dropped
 * with the uid change anyway) reach none of them. Never returns. */
static void run_intermediate_own_arena(const st_sandbox_config *cfg,
                                       st_sandbox_main fn, void *arg, int sock,
                                       int ctl, unsigned raise_err)
{
    const unsigned applied = NS_ALL & ~(unsigned)CLONE_NEWUSER;
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) != 0)
        _exit(125);
    pid_t b = fork();
    if (b < 0)
        _exit(125);
    if (b == 0) {
        /* (getppid() is 0 here, A being outside this PID namespace: if
         * A died before this, the caller closes the control socket and
         * the read of its go below ends B) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(pp[0]);
        struct child_report pre;
        memset(&pre, 0, sizeof(pre));
        /* what A passes on: memlock how, arena mode, locked on fault,
         * errno of the user namespace's unshare */
        unsigned st[4];
        st[0] = st_secmem_arena_prepare_own(cfg->memlock_bytes,
                                            cfg->memlock_secret, NULL) == ST_OK
                    ? 2
                    : 3;
        st[1] = (unsigned)st_secmem_arena_mode();
        st[2] = (unsigned)st_secmem_arena_on_fault();
        apply_namespace_setup(applied, &pre.report);
        st[3] =
            unshare_single_threaded(CLONE_NEWUSER) == 0 ? 0 : (unsigned)errno;
        /* as A does below: an unprivileged caller writes the maps of a
         * dumpable process only; the arena holds nothing yet and B turns
         * undumpable in run_child */
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        if (write_all(pp[1], st, sizeof(st)) != 0)
            _exit(125);
        close(pp[1]);
        struct go_message go;
        if (read_all(ctl, &go, sizeof(go)) != 0)
            _exit(125);
        run_child(cfg, fn, arg, sock, ctl,
                  applied | (st[3] ? 0 : (unsigned)CLONE_NEWUSER), &go, &pre,
                  0);
    }
    close(pp[1]);
    unsigned st[4];
    if (read_all(pp[0], st, sizeof(st)) != 0)
        _exit(125); /* B died before its user namespace */
    close(pp[0]);
    unsigned msg[MSG_WORDS] = {0};
    msg[MSG_APPLIED] = applied | (st[3] ? 0 : (unsigned)CLONE_NEWUSER);
    msg[MSG_ERR_ALL] = st[3];
    msg[MSG_MEMLOCK] = st[0];
    msg[MSG_MEMLOCK_ERR] = raise_err;
    msg[MSG_ARENA_MODE] = st[1];
    msg[MSG_MAPPED_PID] = (unsigned)b;
    msg[MSG_ON_FAULT] = st[2];
    if (write_all(ctl, msg, sizeof(msg)) != 0)
        _exit(125);
    close(sock);
    close(ctl);
    pass_on_fate(b);
}

/* A: creates the namespaces, tells the caller which, waits for the maps,
 * forks B and passes B's fate on. Never returns. */
static void run_intermediate(const st_sandbox_config *cfg, st_sandbox_main fn,
                             void *arg, int sock, int ctl, pid_t caller)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != caller)
        _exit(125);
    /* Locked memory must be arranged while it may still be locked: after
     * unshare(CLONE_NEWUSER) there is no capability in the initial user
     * namespace. Raise RLIMIT_MEMLOCK if allowed; else let the runtime
     * lock its own private arena before it enters its user namespace
     * (run_intermediate_own_arena: needs the right to create the other
     * namespaces without one, i.e. a privileged caller); else prepare a
     * shared arena here that B inherits. */
    unsigned memlock[3] = {0, 0, 0}; /* how (0 enough, 1 raised, 2 arena,
                                        3 failed), errno, arena backing */
    if (cfg->memlock_bytes) {
        struct rlimit ml;
        getrlimit(RLIMIT_MEMLOCK, &ml);
        if (ml.rlim_cur != RLIM_INFINITY && ml.rlim_cur < cfg->memlock_bytes) {
            struct rlimit want = {cfg->memlock_bytes,
                                  ml.rlim_max > cfg->memlock_bytes
                                      ? ml.rlim_max
                                      : cfg->memlock_bytes};
            if (setrlimit(RLIMIT_MEMLOCK, &want) == 0)
                memlock[0] = 1;
            else {
                memlock[1] = (unsigned)errno;
                if (unshare((int)(NS_ALL & ~(unsigned)CLONE_NEWUSER)) == 0)
                    run_intermediate_own_arena(cfg, fn, arg, sock, ctl,
                                               memlock[1]);
                memlock[0] =
                    st_secmem_arena_prepare(cfg->memlock_bytes,
                                            cfg->memlock_secret, NULL) == ST_OK
                        ? 2
                        : 3;
                memlock[2] = (unsigned)st_secmem_arena_mode();
            }
        }
    }
    unsigned applied = NS_ALL;
    int errs[2] = {0, 0};
    if (unshare_single_threaded((int)applied) != 0) {
        errs[0] = errno;
        /* relaxed fallbacks: without a user namespace (root may still
         * create the others), then none */
        applied &= ~(unsigned)CLONE_NEWUSER;
        if (cfg->level == ST_SANDBOX_STRICT || unshare((int)applied) != 0) {
            errs[1] = errno;
            applied = 0;
        }
    }
    /* /proc/A/uid_map belongs to A's uid only while A is dumpable; an
     * unprivileged caller that hardened itself must still write it. A
     * holds nothing secret (secure memory is not inherited) and turns
     * undumpable again below. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    unsigned msg[MSG_WORDS] = {0};
    msg[MSG_APPLIED] = applied;
    msg[MSG_ERR_ALL] = (unsigned)errs[0];
    msg[MSG_ERR_REST] = (unsigned)errs[1];
    msg[MSG_MEMLOCK] = memlock[0];
    msg[MSG_MEMLOCK_ERR] = memlock[1];
    msg[MSG_ARENA_MODE] = memlock[2];
    struct go_message go;
    if (write_all(ctl, msg, sizeof(msg)) != 0 ||
        read_all(ctl, &go, sizeof(go)) != 0)
        _exit(125);
    pid_t b = fork();
    if (b < 0)
        _exit(125);
    if (b == 0)
        run_child(cfg, fn, arg, sock, ctl, applied, &go, NULL,
                  cfg->memlock_bytes && memlock[0] <= 1);
    close(sock);
    close(ctl);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    pass_on_fate(b);
}

static void reap(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

st_code st_sandbox_spawn(const st_sandbox_config *cfg, st_sandbox_main fn,
                         void *arg, st_sandbox_child *child, st_err *err)
{
    memset(child, 0, sizeof(*child));
    child->pid = -1;
    child->sock = -1;
    if (cfg->ninputs > ST_SANDBOX_MAX_INPUTS ||
        cfg->nkeep > ST_SANDBOX_MAX_INPUTS)
        return st_err_set(err, ST_E_USAGE, "sandbox: at most %d inputs",
                          ST_SANDBOX_MAX_INPUTS);
    int sp[2], cp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        return st_err_errno(err, ST_E_IO, errno, "sandbox: socketpair");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp) != 0) {
        int e = errno;
        close(sp[0]);
        close(sp[1]);
        return st_err_errno(err, ST_E_IO, e, "sandbox: socketpair");
    }
    fflush(NULL); /* no buffered output duplicated into the child */
    pid_t caller = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sp[0]), close(sp[1]), close(cp[0]), close(cp[1]);
        return st_err_errno(err, ST_E_IO, e, "sandbox: fork");
    }
    if (pid == 0) {
        close(sp[0]);
        close(cp[0]);
        run_intermediate(cfg, fn, arg, sp[1], cp[1], caller);
    }
    close(sp[1]);
    close(cp[1]);
    int ctl = cp[0];
    st_sandbox_report *r = &child->report;
    unsigned ns[MSG_WORDS];
    st_code rc = ST_OK;
    if (read_all(ctl, ns, sizeof(ns)) != 0) {
        rc = st_err_set(err, ST_E_IO, "sandbox: the runtime died at start");
        goto fail;
    }
    for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++) {
        /* mount, PID and UTS are confirmed by B itself */
        int f = namespaces[i].flag;
        if ((ns[MSG_APPLIED] & (unsigned)f) &&
            (f == CLONE_NEWNS || f == CLONE_NEWPID || f == CLONE_NEWUTS))
            continue;
        if (ns[MSG_APPLIED] & (unsigned)f)
            measure(r, namespaces[i].name, 1, "%s", namespaces[i].detail);
        else
            measure(r, namespaces[i].name, 0, "unshare: %s",
                    strerror(f == CLONE_NEWUSER || !ns[MSG_ERR_REST]
                                 ? (int)ns[MSG_ERR_ALL]
                                 : (int)ns[MSG_ERR_REST]));
    }
    /* the process in the new user namespace: A, or B when the runtime
     * entered it itself after locking its own arena */
    pid_t mapped = ns[MSG_MAPPED_PID] ? (pid_t)ns[MSG_MAPPED_PID] : pid;

    struct go_message go = {getuid(), getgid(), 1};
    if (getuid() == 0) {
        go.uid = 65534; /* nobody */
        go.gid = 65534;
    }
    if (ns[MSG_APPLIED] & CLONE_NEWUSER) {
        char path[64], map[64];
        int privileged = getuid() == 0;
        /* an unprivileged caller may map only itself, after "deny" */
        snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)mapped);
        if (!privileged) {
            write_file(path, "deny");
            go.setgroups_allowed = 0;
        }
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)mapped);
        snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)go.uid,
                 (unsigned)go.uid);
        int ok = write_file(path, map) == 0;
        snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)mapped);
        snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)go.gid,
                 (unsigned)go.gid);
        ok &= write_file(path, map) == 0;
        if (!ok) {
            rc = st_err_errno(err, ST_E_IO, errno,
                              "sandbox: writing the uid/gid map of the "
                              "runtime");
            goto fail;
        }
    }
    if (cfg->memlock_bytes) {
        unsigned long long mib = (unsigned long long)(cfg->memlock_bytes >> 20);
        const char *kind = ns[MSG_ARENA_MODE] == ST_SECMEM_MEMFD_SECRET
                               ? "memfd_secret"
                               : "mlock'ed";
        if (ns[MSG_MEMLOCK] == 0)
            measure(r, "locked-memory", 1, "RLIMIT_MEMLOCK covers %llu MiB",
                    mib);
        else if (ns[MSG_MEMLOCK] == 1)
            measure(r, "locked-memory", 1, "RLIMIT_MEMLOCK raised to %llu MiB",
                    mib);
        else if (ns[MSG_MEMLOCK] == 2 && ns[MSG_MAPPED_PID])
            measure(r, "locked-memory", 1,
                    "%s arena of %llu MiB prepared by the runtime before "
                    "it entered its user namespace (%s; RLIMIT_MEMLOCK not "
                    "raisable: %s)",
                    kind, mib,
                    ns[MSG_ARENA_MODE] == ST_SECMEM_MEMFD_SECRET
                        ? "outside the kernel's direct map, never swapped, "
                          "each page faulted in as it is first used"
                    : ns[MSG_ON_FAULT]
                        ? "private, transparent huge pages advised, each "
                          "page locked at the fault that brings it in: "
                          "MLOCK_ONFAULT"
                        : "private, transparent huge pages advised, "
                          "populated and locked up front",
                    strerror((int)ns[MSG_MEMLOCK_ERR]));
        else if (ns[MSG_MEMLOCK] == 2)
            measure(r, "locked-memory", 1,
                    "%s arena of %llu MiB prepared before privileges "
                    "were dropped (RLIMIT_MEMLOCK not raisable: %s)",
                    kind, mib, strerror((int)ns[MSG_MEMLOCK_ERR]));
        else
            measure(r, "locked-memory", 0,
                    "cannot lock %llu MiB: RLIMIT_MEMLOCK not raisable (%s) "
                    "and no CAP_IPC_LOCK for a secure arena",
                    mib, strerror((int)ns[MSG_MEMLOCK_ERR]));
    }
    char why[200];
    if (cfg->memory_bytes || cfg->cpus) {
        if (cgroup_create(cfg, pid, mapped != pid ? mapped : 0, child->cgroup,
                          sizeof(child->cgroup), why, sizeof(why)) != 0)
            st_debug("sandbox.cgroup", "%s", why);
    }
    if (getuid() == 0 && cfg->output_dir && go.uid != 0 &&
        chown_dir(cfg->output_dir, go.uid, go.gid) != 0) {
        rc = st_err_errno(err, ST_E_IO, errno,
                          "sandbox: handing %s to the runtime's uid",
                          cfg->output_dir);
        goto fail;
    }
    if (write_all(ctl, &go, sizeof(go)) != 0) {
        rc = st_err_set(err, ST_E_IO, "sandbox: the runtime died at start");
        goto fail;
    }
    struct child_report cr;
    if (read_all(ctl, &cr, sizeof(cr)) != 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        pid = -1;
        char desc[200];
        st_sandbox_describe_status(status, desc, sizeof(desc));
        rc = st_err_set(err, ST_E_IO,
                        "sandbox: the runtime died while confining itself: "
                        "%s",
                        desc);
        goto fail;
    }
    for (size_t i = 0; i < cr.report.n && r->n < ST_SANDBOX_MAX_MEASURES; i++)
        r->m[r->n++] = cr.report.m[i];
    if (child->cgroup[0]) {
        /* B reports rlimits; the cgroup replaced them */
        for (size_t i = 0; i < r->n; i++)
            if (!strcmp(r->m[i].name, "resource-limits")) {
                r->m[i].applied = 1;
                snprintf(r->m[i].detail, sizeof(r->m[i].detail), "cgroup v2 %s",
                         child->cgroup);
            }
    }
    close(ctl);
    ctl = -1;
    char missing[1024];
    if (st_sandbox_report_missing(r, missing, sizeof(missing)) &&
        cfg->level == ST_SANDBOX_STRICT) {
        rc = st_err_set(err, ST_E_DENIED,
                        "sandbox (strict): cannot apply %s; use the relaxed "
                        "level to run without them",
                        missing);
        goto fail;
    }
    child->pid = pid;
    child->sock = sp[0];
    return ST_OK;
fail:
    if (pid > 0)
        reap(pid);
    if (ctl >= 0)
        close(ctl);
    close(sp[0]);
    if (child->cgroup[0])
        rmdir(child->cgroup);
    child->cgroup[0] = '\0';
    return rc;
}

int st_sandbox_wait(st_sandbox_child *child, int block, int *status)
{
    if (child->pid <= 0)
        return 1;
    int st = 0;
    pid_t w;
    do
        w = waitpid(child->pid, &st, block ? 0 : WNOHANG);
    while (w < 0 && errno == EINTR);
    if (w == 0)
        return 0;
    if (status)
        *status = st;
    child->pid = -1;
    if (child->sock >= 0)
        close(child->sock);
    child->sock = -1;
    if (child->cgroup[0])
        rmdir(child->cgroup);
    child->cgroup[0] = '\0';
    return 1;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000 +
           (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int st_sandbox_wait_for(st_sandbox_child *child, int timeout_ms, int *status)
{
    if (st_sandbox_wait(child, 0, status))
        return 1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
#ifdef SYS_pidfd_open
    int pfd = (int)syscall(SYS_pidfd_open, child->pid, 0);
    if (pfd >= 0) {
        /* readable once the process has exited */
        long left;
        while ((left = timeout_ms - ms_since(&t0)) > 0) {
            struct pollfd p = {pfd, POLLIN, 0};
            if (poll(&p, 1, (int)left) != -1 || errno != EINTR)
                break;
        }
        close(pfd);
        return st_sandbox_wait(child, 0, status);
    }
#endif
    /* no pidfd (Linux < 5.3): short polls */
    while (!st_sandbox_wait(child, 0, status)) {
        if (ms_since(&t0) >= timeout_ms)
            return 0;
        usleep(2000);
    }
    return 1;
}

void st_sandbox_kill(st_sandbox_child *child)
{
    if (child->pid > 0)
        kill(child->pid, SIGKILL);
}

st_code st_sandbox_reclaim(const char *dir, st_err *err)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return st_err_errno(err, ST_E_IO, errno, "opening %s", dir);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return st_err_errno(err, ST_E_IO, errno, "reading %s", dir);
    }
    struct dirent *e;
    st_code rc = ST_OK;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (fchownat(dfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 &&
            rc == ST_OK)
            rc = st_err_errno(err, ST_E_IO, errno, "reclaiming %s/%s", dir,
                              e->d_name);
    }
    if (fchown(dfd, uid, gid) != 0 && rc == ST_OK)
        rc = st_err_errno(err, ST_E_IO, errno, "reclaiming %s", dir);
    closedir(d);
    return rc;
}
