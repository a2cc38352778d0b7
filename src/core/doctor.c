/*
 * doctor.c: platform checks for `sealtrain doctor` (sealtrain/doctor.h).
 *
 * Sources: /proc/cpuinfo flags (aes, avx2, avx512f, sha_ni; sme/sev/
 * sev_es/sev_snp and tdx_guest as the kernel reports them), guest devices
 * (/dev/sev-guest, /dev/tdx_guest) and configfs-tsm
 * (/sys/kernel/config/tsm/report, Linux Documentation/ABI/testing/
 * configfs-tsm), TPM device nodes, prctl(PR_GET_SECCOMP) and the classic
 * EFAULT probe of SECCOMP_MODE_FILTER, landlock_create_ruleset(...,
 * LANDLOCK_CREATE_RULESET_VERSION) (Documentation/userspace-api/
 * landlock.rst), unshare(CLONE_NEWUSER) in a child, cgroup v2
 * (cgroup.controllers, writability of the own cgroup), RLIMIT_MEMLOCK and
 * the secure-memory allocator's mode. dmesg is not read (often not
 * readable); what the sources above cannot show is reported "unknown".
 *
 * Must never: claim a protection it did not detect, or change the
 * process's own state (probes that could run in a child).
 */
#include "sealtrain/doctor.h"

#include <errno.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sealtrain/secmem.h"

static void add(st_doctor_report *r, const char *name, st_doctor_status s,
                const char *meaning, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add(st_doctor_report *r, const char *name, st_doctor_status s,
                const char *meaning, const char *fmt, ...)
{
    if (r->n >= ST_DOCTOR_MAX_CHECKS)
        return;
    st_doctor_check *c = &r->checks[r->n++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->status = s;
    snprintf(c->meaning, sizeof(c->meaning), "%s", meaning);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
}

const char *st_doctor_status_name(st_doctor_status s)
{
    switch (s) {
    case ST_DOCTOR_FOUND: return "found";
    case ST_DOCTOR_MISSING: return "missing";
    case ST_DOCTOR_UNKNOWN: return "unknown";
    }
    return "unknown";
}

/* The "flags" line of the first CPU in /proc/cpuinfo (malloc'ed, with a
 * leading and trailing space for whole-word search), or NULL. */
static char *cpu_flags(void)
{
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return NULL;
    char *line = NULL, *out = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        size_t n = strlen(colon + 1);
        out = malloc(n + 3);
        if (out) {
            snprintf(out, n + 3, " %s ", colon + 1);
            char *nl = strchr(out, '\n');
            if (nl)
                *nl = ' ';
        }
        break;
    }
    free(line);
    fclose(f);
    return out;
}

static int has_flag(const char *flags, const char *flag)
{
    char w[64];
    snprintf(w, sizeof(w), " %s ", flag);
    return flags && strstr(flags, w) != NULL;
}

static int exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static void check_tee(st_doctor_report *r, const char *flags)
{
    int tsm = exists("/sys/kernel/config/tsm/report");
    int sevdev = exists("/dev/sev-guest");
    int snpflag = has_flag(flags, "sev_snp");
    if (sevdev || (tsm && snpflag))
        add(r, "tee.sev-snp", ST_DOCTOR_FOUND,
            "this is an AMD SEV-SNP guest: memory is encrypted and "
            "integrity-protected against the host; the snp backend can "
            "produce attestation reports",
            "%s%s%s", sevdev ? "/dev/sev-guest " : "",
            tsm ? "configfs-tsm " : "", snpflag ? "cpuinfo:sev_snp" : "");
    else
        add(r, "tee.sev-snp", ST_DOCTOR_MISSING,
            "not an SEV-SNP guest: the host can read this VM's memory; use "
            "a confidential VM for real protection (sim/tpm backends only)",
            "no /dev/sev-guest%s", snpflag ? "" : ", no sev_snp cpu flag");
    int tdxdev = exists("/dev/tdx_guest");
    int tdxflag = has_flag(flags, "tdx_guest");
    if (tdxdev || tdxflag)
        add(r, "tee.tdx", ST_DOCTOR_FOUND,
            "this is an Intel TDX trust domain: memory is encrypted and "
            "integrity-protected against the host; the tdx backend can "
            "produce quotes",
            "%s%s%s", tdxdev ? "/dev/tdx_guest " : "",
            tdxflag ? "cpuinfo:tdx_guest " : "", tsm ? "configfs-tsm" : "");
    else
        add(r, "tee.tdx", ST_DOCTOR_MISSING,
            "not a TDX guest: the host can read this VM's memory",
            "no /dev/tdx_guest, no tdx_guest cpu flag");
    if (tsm)
        add(r, "tee.configfs-tsm", ST_DOCTOR_FOUND,
            "the kernel's generic attestation report interface is present",
            "/sys/kernel/config/tsm/report");
    else
        add(r, "tee.configfs-tsm", ST_DOCTOR_MISSING,
            "no configfs-tsm: TEE reports (if any) need the vendor device",
            "/sys/kernel/config/tsm/report absent%s",
            exists("/sys/kernel/config") ? "" : " (configfs not mounted)");
}

static void check_tpm(st_doctor_report *r)
{
    int rm = exists("/dev/tpmrm0"), raw = exists("/dev/tpm0");
    const char *tcti = getenv("SEALTRAIN_TPM_TCTI");
    if (rm || raw)
        add(r, "tpm", ST_DOCTOR_FOUND,
            "a TPM 2.0 can seal the workspace root key (init --protect tpm) "
            "and the tpm backend can quote measurements",
            "%s%s%s%s", rm ? "/dev/tpmrm0 " : "", raw ? "/dev/tpm0 " : "",
            tcti ? "SEALTRAIN_TPM_TCTI=" : "", tcti ? tcti : "");
    else if (tcti && *tcti)
        add(r, "tpm", ST_DOCTOR_UNKNOWN,
            "no TPM device; a TPM may be reachable through the configured "
            "TCTI (e.g. swtpm, which is for testing: it protects nothing)",
            "no /dev/tpm*; SEALTRAIN_TPM_TCTI=%s", tcti);
    else
        add(r, "tpm", ST_DOCTOR_MISSING,
            "no TPM: the root key must be protected by a passphrase or key "
            "file, and the tpm attestation backend is unavailable",
            "no /dev/tpmrm0 or /dev/tpm0");
}

static void check_memory_encryption(st_doctor_report *r, const char *flags)
{
    const char *guest[] = {"sev_snp", "sev_es", "sev", "tdx_guest"};
    char seen[128] = "";
    for (size_t i = 0; i < 4; i++)
        if (has_flag(flags, guest[i]))
            snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s ",
                     guest[i]);
    if (seen[0] || exists("/dev/sev-guest") || exists("/dev/tdx_guest")) {
        add(r, "memory-encryption", ST_DOCTOR_FOUND,
            "guest memory is encrypted by the CPU (as the kernel reports "
            "it): the host and other VMs cannot read it",
            "cpuinfo: %s", seen[0] ? seen : "(guest device present)");
        return;
    }
    int sme = has_flag(flags, "sme"), tme = has_flag(flags, "tme");
    if (sme || tme)
        add(r, "memory-encryption", ST_DOCTOR_UNKNOWN,
            "the CPU supports host memory encryption, but whether it is "
            "active is not visible without the kernel log; assume not",
            "cpuinfo: %s%s", sme ? "sme " : "", tme ? "tme" : "");
    else
        add(r, "memory-encryption", ST_DOCTOR_MISSING,
            "no memory encryption reported: memory contents are readable by "
            "the hypervisor / physical attacks; secrets rely on locked, "
            "unmapped memory only",
            "no sev/sev_es/sev_snp/tdx_guest/sme/tme cpu flags");
}

static void check_cpu(st_doctor_report *r, const char *flags)
{
    if (!flags) {
        add(r, "cpu.aes-ni", ST_DOCTOR_UNKNOWN, "cannot read /proc/cpuinfo",
            "-");
        return;
    }
    add(r, "cpu.aes-ni",
        has_flag(flags, "aes") ? ST_DOCTOR_FOUND : ST_DOCTOR_MISSING,
        has_flag(flags, "aes")
            ? "hardware AES: fast and free of table-lookup timing leaks"
            : "no hardware AES: AES falls back to software (slower; "
              "ChaCha20-Poly1305 is used for sealtrain's own wrapping)",
        "cpuinfo flag aes");
    add(r, "cpu.avx2",
        has_flag(flags, "avx2") ? ST_DOCTOR_FOUND : ST_DOCTOR_MISSING,
        "vector unit for training math and ChaCha20 (performance only)",
        "cpuinfo flag avx2");
    add(r, "cpu.avx512",
        has_flag(flags, "avx512f") ? ST_DOCTOR_FOUND : ST_DOCTOR_MISSING,
        "wider vectors for training math (performance only)",
        "cpuinfo flag avx512f");
    add(r, "cpu.sha-ni",
        has_flag(flags, "sha_ni") ? ST_DOCTOR_FOUND : ST_DOCTOR_MISSING,
        "hardware SHA-256 for hashing datasets and the audit log "
        "(performance only)",
        "cpuinfo flag sha_ni");
}

static void check_userns(st_doctor_report *r)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : (errno & 0x7f) + 1);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        add(r, "sandbox.user-namespaces", ST_DOCTOR_UNKNOWN,
            "could not test user namespaces", "fork/wait failed");
        return;
    }
    if (WEXITSTATUS(status) == 0)
        add(r, "sandbox.user-namespaces", ST_DOCTOR_FOUND,
            "the enclave runtime can isolate itself in new user, mount, PID "
            "and network namespaces",
            "unshare(CLONE_NEWUSER) succeeded in a child");
    else
        add(r, "sandbox.user-namespaces", ST_DOCTOR_MISSING,
            "no user namespaces: the enclave sandbox loses filesystem, PID "
            "and network isolation (seccomp/landlock/rlimits still apply)",
            "unshare(CLONE_NEWUSER): %s", strerror(WEXITSTATUS(status) - 1));
}

static void check_seccomp(st_doctor_report *r)
{
    int mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    /* a NULL filter program: EFAULT means filters are supported, EINVAL
     * that they are not; nothing is installed either way */
    errno = 0;
    int rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0);
    int e = errno;
    if (rc == -1 && e == EFAULT)
        add(r, "sandbox.seccomp", ST_DOCTOR_FOUND,
            "the enclave runtime can restrict itself to an allowlist of "
            "system calls",
            "SECCOMP_MODE_FILTER supported; this process: mode %d", mode);
    else
        add(r, "sandbox.seccomp", ST_DOCTOR_MISSING,
            "no seccomp filters: a compromised enclave process can use any "
            "system call",
            "PR_SET_SECCOMP probe: %s", strerror(e));
}

static void check_landlock(st_doctor_report *r)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);
    if (abi > 0)
        add(r, "sandbox.landlock", ST_DOCTOR_FOUND,
            "the enclave runtime can restrict its own file (and, ABI >= 4, "
            "network) access without privileges",
            "Landlock ABI %ld", abi);
    else
        add(r, "sandbox.landlock", ST_DOCTOR_MISSING,
            "no Landlock: file access restriction relies on namespaces "
            "alone",
            "landlock_create_ruleset: %s", strerror(errno));
}

static void check_cgroups(st_doctor_report *r)
{
    FILE *f = fopen("/sys/fs/cgroup/cgroup.controllers", "re");
    if (!f) {
        add(r, "resources.cgroup-v2", ST_DOCTOR_MISSING,
            "no cgroup v2 hierarchy: job memory/CPU limits fall back to "
            "rlimits (per process, weaker)",
            "/sys/fs/cgroup/cgroup.controllers absent (cgroup v1 or none)");
        return;
    }
    char ctl[200] = "";
    if (!fgets(ctl, sizeof(ctl), f))
        ctl[0] = '\0';
    fclose(f);
    ctl[strcspn(ctl, "\n")] = '\0';
    /* our own cgroup: the "0::/path" line */
    char own[512] = "/", line[600];
    f = fopen("/proc/self/cgroup", "re");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(own, sizeof(own), "%s", line + 3);
        }
    if (f)
        fclose(f);
    char path[700];
    snprintf(path, sizeof(path), "/sys/fs/cgroup%s", own);
    int writable = access(path, W_OK) == 0;
    add(r, "resources.cgroup-v2",
        writable ? ST_DOCTOR_FOUND : ST_DOCTOR_MISSING,
        writable ? "jobs can get memory/CPU/pids limits through cgroup v2"
                 : "cgroup v2 is mounted but this user cannot create "
                   "groups: limits fall back to rlimits",
        "controllers: %s; %s %s", ctl[0] ? ctl : "(none)", path,
        writable ? "writable" : "not writable");
}

/* CAP_IPC_LOCK (bit 14) in the effective set, from /proc/self/status. */
static int has_ipc_lock(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long caps = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &caps) == 1)
            break;
    if (f)
        fclose(f);
    return (caps >> 14) & 1;
}

static void check_memlock(st_doctor_report *r)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
        add(r, "resources.memlock", ST_DOCTOR_UNKNOWN,
            "cannot read RLIMIT_MEMLOCK", "%s", strerror(errno));
        return;
    }
    if (rl.rlim_cur == RLIM_INFINITY) {
        add(r, "resources.memlock", ST_DOCTOR_FOUND,
            "any amount of key material and plaintext can be held in locked "
            "memory",
            "RLIMIT_MEMLOCK unlimited");
        return;
    }
    unsigned long long kib = (unsigned long long)rl.rlim_cur / 1024;
    if (has_ipc_lock()) {
        add(r, "resources.memlock", ST_DOCTOR_FOUND,
            "this process holds CAP_IPC_LOCK, so the limit does not bind "
            "it: key material and plaintext can be locked in memory",
            "RLIMIT_MEMLOCK %llu KiB (soft), not enforced: CAP_IPC_LOCK", kib);
        return;
    }
    int enough = rl.rlim_cur >= (64ull << 20);
    add(r, "resources.memlock", enough ? ST_DOCTOR_FOUND : ST_DOCTOR_MISSING,
        enough ? "enough locked memory for keys and moderate plaintext"
               : "little locked memory: decrypting large datasets into "
                 "secure memory will fail (never silently fall back); raise "
                 "it with `ulimit -l` or LimitMEMLOCK= in systemd",
        "RLIMIT_MEMLOCK %llu KiB (soft)", kib);
}

static void check_secmem(st_doctor_report *r)
{
    st_secmem_mode m = st_secmem_current_mode();
    switch (m) {
    case ST_SECMEM_MEMFD_SECRET:
        add(r, "secure-memory", ST_DOCTOR_FOUND,
            "secrets live in memfd_secret memory: removed from the kernel's "
            "direct map, never swapped, not in core dumps",
            "mode %s", st_secmem_mode_name(m));
        break;
    case ST_SECMEM_MLOCK:
        add(r, "secure-memory", ST_DOCTOR_FOUND,
            "secrets live in mlock'ed memory excluded from core dumps; "
            "memfd_secret is unavailable, so the kernel can still map it",
            "mode %s", st_secmem_mode_name(m));
        break;
    default:
        add(r, "secure-memory", ST_DOCTOR_MISSING,
            "no secure memory could be set up: sealtrain refuses to handle "
            "secrets",
            "mode %s", st_secmem_mode_name(m));
    }
}

void st_doctor_run(st_doctor_report *out)
{
    memset(out, 0, sizeof(*out));
    char *flags = cpu_flags();
    check_tee(out, flags);
    check_tpm(out);
    check_memory_encryption(out, flags);
    check_cpu(out, flags);
    check_userns(out);
    check_seccomp(out);
    check_landlock(out);
    check_cgroups(out);
    check_memlock(out);
    check_secmem(out);
    free(flags);
}

json_t *st_doctor_report_json(const st_doctor_report *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const st_doctor_check *c = &r->checks[i];
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:s}", "name", c->name, "status",
                           st_doctor_status_name(c->status), "detail",
                           c->detail, "meaning", c->meaning));
    }
    return json_pack("{s:o}", "checks", arr);
}
