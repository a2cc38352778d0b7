/*
 * bench_age.c: throughput of sealtrain's age v1 implementation on one file,
 * through the public API, output to /dev/null so that only reading (from
 * the page cache) and the cryptography count, as for the peers bench/age.sh
 * runs next to it.
 *
 *   bench_age encrypt IN RECIPIENT REPEATS           one core
 *   bench_age decrypt IN.age IDENTITY_FILE THREADS REPEATS
 *   bench_age memory MIB RECIPIENT REPEATS           st_age_writer_write of
 *                                                    MIB from memory
 *   bench_age exec BYTES REPEATS -- COMMAND ARGS...  a peer, same figures
 *
 * Prints "<GB/s by wall clock> <GB/s per CPU-second> <GB/s per user
 * CPU-second>" of the best runs (GB = 1e9 bytes of plaintext). The last is
 * what `openssl speed` reports (it divides by user CPU time); the CPU
 * figures stay meaningful when other work shares the machine.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sealtrain/sealtrain.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv(struct timeval t)
{
    return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

/* CPU seconds of this process and its waited children: user + system, or
 * user only (what `openssl speed` divides by). */
static double cpu_time(int user_only)
{
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    double u = tv(a.ru_utime) + tv(b.ru_utime);
    return user_only ? u : u + tv(a.ru_stime) + tv(b.ru_stime);
}

/* Best of several runs: wall, CPU and user-CPU seconds. */
typedef struct meas {
    double wall, cpu, user;
    double t0, c0, u0;
} meas;

static void meas_init(meas *m)
{
    m->wall = m->cpu = m->user = 1e30;
}

static void meas_start(meas *m)
{
    m->t0 = now();
    m->c0 = cpu_time(0);
    m->u0 = cpu_time(1);
}

static void meas_stop(meas *m)
{
    double w = now() - m->t0, c = cpu_time(0) - m->c0, u = cpu_time(1) - m->u0;
    m->wall = w < m->wall ? w : m->wall;
    m->cpu = c < m->cpu ? c : m->cpu;
    m->user = u < m->user ? u : m->user;
}

/* "<GB/s wall> <GB/s per CPU-s> <GB/s per user-CPU-s>" */
static void meas_print(const meas *m, uint64_t bytes)
{
    printf("%.3f %.3f %.3f\n", (double)bytes / m->wall / 1e9,
           (double)bytes / m->cpu / 1e9, (double)bytes / m->user / 1e9);
}

static int run_exec(uint64_t bytes, int repeats, char **cmd)
{
    meas m;
    meas_init(&m);
    for (int i = 0; i < repeats; i++) {
        meas_start(&m);
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execvp(cmd[0], cmd);
            _exit(127);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
            fprintf(stderr, "bench_age: %s failed\n", cmd[0]);
            return 1;
        }
        meas_stop(&m);
    }
    meas_print(&m, bytes);
    return 0;
}

static int die(const st_err *e)
{
    fprintf(stderr, "bench_age: %s\n", e->msg);
    return 1;
}

/* The writer API as an importer uses it: plaintext produced in memory,
 * 1 MiB writes, output discarded. */
static int run_memory(uint64_t mib, const char *rcpt, int repeats)
{
    st_err e;
    st_age_recipient r;
    if (st_age_x25519_recipient(rcpt, &r, &e))
        return die(&e);
    size_t len = (size_t)mib << 20;
    uint8_t *src = malloc(len);
    if (!src)
        return 1;
    for (size_t i = 0; i < len; i++)
        src[i] = (uint8_t)(i * 2654435761u >> 11);
    int null = open("/dev/null", O_WRONLY);
    meas m;
    meas_init(&m);
    for (int i = 0; i < repeats; i++) {
        meas_start(&m);
        st_age_writer *w;
        if (st_age_writer_new_fd(null, &r, 1, ST_AGE_ARMOR_NO, &w, &e))
            return die(&e);
        for (size_t off = 0; off < len; off += 1u << 20)
            if (st_age_writer_write(w, src + off, 1u << 20, &e))
                return die(&e);
        if (st_age_writer_finish(w, &e))
            return die(&e);
        meas_stop(&m);
    }
    meas_print(&m, len);
    st_age_recipient_clear(&r);
    free(src);
    close(null);
    return 0;
}

int main(int argc, char **argv)
{
    st_err e;
    st_err_clear(&e);
    if (argc < 5) {
        fprintf(stderr, "usage: bench_age encrypt IN RECIPIENT REPEATS\n"
                        "       bench_age decrypt IN IDENTITY_FILE THREADS "
                        "REPEATS\n");
        return 2;
    }
    if (!strcmp(argv[1], "exec") && !strcmp(argv[4], "--"))
        return run_exec(strtoull(argv[2], NULL, 10), atoi(argv[3]), argv + 5);
    if (!strcmp(argv[1], "memory"))
        return run_memory(strtoull(argv[2], NULL, 10), argv[3], atoi(argv[4]));
    int enc = !strcmp(argv[1], "encrypt");
    int repeats = atoi(argv[enc ? 4 : 5]);
    int null = open("/dev/null", O_WRONLY);
    st_age_recipient r;
    st_age_identity *ids = NULL;
    size_t nids = 0;
    if (enc ? st_age_x25519_recipient(argv[3], &r, &e)
            : st_age_identities_load(argv[3], &ids, &nids, &e))
        return die(&e);
    meas m;
    meas_init(&m);
    uint64_t bytes = 0;
    for (int i = 0; i < (repeats > 0 ? repeats : 1); i++) {
        int in = open(argv[2], O_RDONLY);
        if (in < 0) {
            perror(argv[2]);
            return 1;
        }
        meas_start(&m);
        if (enc) {
            struct stat st;
            fstat(in, &st);
            bytes = (uint64_t)st.st_size;
            if (st_age_encrypt_fd(in, null, &r, 1, ST_AGE_ARMOR_NO, &e))
                return die(&e);
        } else {
            st_age_decrypt_opts o = {.identities = ids,
                                     .nidentities = nids,
                                     .threads = (unsigned)atoi(argv[4])};
            st_age_result res;
            if (st_age_decrypt_fd(in, null, &o, &res, &e))
                return die(&e);
            bytes = res.released;
        }
        meas_stop(&m);
        close(in);
    }
    meas_print(&m, bytes);
    if (enc)
        st_age_recipient_clear(&r);
    st_age_identities_free(ids, nids);
    close(null);
    return 0;
}
