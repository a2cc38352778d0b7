#include "crypto/age_stream.h"
/*
#include "crypto/age_stream.h"
 * bench_age.c: throughput of sealtrain's age v1 implementation on one file,
#include "crypto/age_stream.h"
 * through the public API, output to /dev/null so that only reading (from
#include "crypto/age_stream.h"
 * the page cache) and the cryptography count, as for the peers bench/age.sh
#include "crypto/age_stream.h"
 * runs next to it.
#include "crypto/age_stream.h"
 *
#include "crypto/age_stream.h"
 *   bench_age encrypt IN RECIPIENT REPEATS           one core
#include "crypto/age_stream.h"
 *   bench_age decrypt IN.age IDENTITY_FILE THREADS REPEATS
#include "crypto/age_stream.h"
 *   bench_age memory MIB RECIPIENT REPEATS           st_age_writer_write of
#include "crypto/age_stream.h"
 *                                                    MIB from memory
#include "crypto/age_stream.h"
 *   bench_age exec BYTES REPEATS -- COMMAND ARGS...  a peer, same figures
#include "crypto/age_stream.h"
 *
#include "crypto/age_stream.h"
 * Prints "<GB/s by wall clock> <GB/s per CPU-second> <GB/s per user
#include "crypto/age_stream.h"
 * CPU-second>" of the best runs (GB = 1e9 bytes of plaintext). The last is
#include "crypto/age_stream.h"
 * what `openssl speed` reports (it divides by user CPU time); the CPU
#include "crypto/age_stream.h"
 * figures stay meaningful when other work shares the machine.
#include "crypto/age_stream.h"
 */
#include "crypto/age_stream.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/age_stream.h"
#include <sealtrain/sealtrain.h>

#include "crypto/age_stream.h"
static double now(void)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    struct timespec ts;
#include "crypto/age_stream.h"
    clock_gettime(CLOCK_MONOTONIC, &ts);
#include "crypto/age_stream.h"
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
static double tv(struct timeval t)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    return (double)t.tv_sec + (double)t.tv_usec / 1e6;
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
/* CPU seconds of this process and its waited children: user + system, or
#include "crypto/age_stream.h"
 * user only (what `openssl speed` divides by). */
#include "crypto/age_stream.h"
static double cpu_time(int user_only)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    struct rusage a, b;
#include "crypto/age_stream.h"
    getrusage(RUSAGE_SELF, &a);
#include "crypto/age_stream.h"
    getrusage(RUSAGE_CHILDREN, &b);
#include "crypto/age_stream.h"
    double u = tv(a.ru_utime) + tv(b.ru_utime);
#include "crypto/age_stream.h"
    return user_only ? u : u + tv(a.ru_stime) + tv(b.ru_stime);
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
/* Best of several runs: wall, CPU and user-CPU seconds. */
#include "crypto/age_stream.h"
typedef struct meas {
#include "crypto/age_stream.h"
    double wall, cpu, user;
#include "crypto/age_stream.h"
    double t0, c0, u0;
#include "crypto/age_stream.h"
} meas;
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
static void meas_init(meas *m)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    m->wall = m->cpu = m->user = 1e30;
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
static void meas_start(meas *m)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    m->t0 = now();
#include "crypto/age_stream.h"
    m->c0 = cpu_time(0);
#include "crypto/age_stream.h"
    m->u0 = cpu_time(1);
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
static void meas_stop(meas *m)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    double w = now() - m->t0, c = cpu_time(0) - m->c0, u = cpu_time(1) - m->u0;
#include "crypto/age_stream.h"
    m->wall = w < m->wall ? w : m->wall;
#include "crypto/age_stream.h"
    m->cpu = c < m->cpu ? c : m->cpu;
#include "crypto/age_stream.h"
    m->user = u < m->user ? u : m->user;
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
/* "<GB/s wall> <GB/s per CPU-s> <GB/s per user-CPU-s>" */
#include "crypto/age_stream.h"
static void meas_print(const meas *m, uint64_t bytes)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    printf("%.3f %.3f %.3f\n", (double)bytes / m->wall / 1e9,
#include "crypto/age_stream.h"
           (double)bytes / m->cpu / 1e9, (double)bytes / m->user / 1e9);
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
static int run_exec(uint64_t bytes, int repeats, char **cmd)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    meas m;
#include "crypto/age_stream.h"
    meas_init(&m);
#include "crypto/age_stream.h"
    for (int i = 0; i < repeats; i++) {
#include "crypto/age_stream.h"
        meas_start(&m);
#include "crypto/age_stream.h"
        pid_t pid = fork();
#include "crypto/age_stream.h"
        if (pid == 0) {
#include "crypto/age_stream.h"
            int null = open("/dev/null", O_WRONLY);
#include "crypto/age_stream.h"
            dup2(null, 1);
#include "crypto/age_stream.h"
            execvp(cmd[0], cmd);
#include "crypto/age_stream.h"
            _exit(127);
#include "crypto/age_stream.h"
        }
#include "crypto/age_stream.h"
        int status;
#include "crypto/age_stream.h"
        if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
#include "crypto/age_stream.h"
            fprintf(stderr, "bench_age: %s failed\n", cmd[0]);
#include "crypto/age_stream.h"
            return 1;
#include "crypto/age_stream.h"
        }
#include "crypto/age_stream.h"
        meas_stop(&m);
#include "crypto/age_stream.h"
    }
#include "crypto/age_stream.h"
    meas_print(&m, bytes);
#include "crypto/age_stream.h"
    return 0;
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
static int die(const st_err *e)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    fprintf(stderr, "bench_age: %s\n", e->msg);
#include "crypto/age_stream.h"
    return 1;
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
/* The writer API as an importer uses it: plaintext produced in memory,
#include "crypto/age_stream.h"
 * 1 MiB writes, output discarded. */
#include "crypto/age_stream.h"
static int run_memory(uint64_t mib, const char *rcpt, int repeats)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    st_err e;
#include "crypto/age_stream.h"
    st_age_recipient r;
#include "crypto/age_stream.h"
    if (st_age_x25519_recipient(rcpt, &r, &e))
#include "crypto/age_stream.h"
        return die(&e);
#include "crypto/age_stream.h"
    size_t len = (size_t)mib << 20;
#include "crypto/age_stream.h"
    uint8_t *src = malloc(len);
#include "crypto/age_stream.h"
    if (!src)
#include "crypto/age_stream.h"
        return 1;
#include "crypto/age_stream.h"
    for (size_t i = 0; i < len; i++)
#include "crypto/age_stream.h"
        src[i] = (uint8_t)(i * 2654435761u >> 11);
#include "crypto/age_stream.h"
    int null = open("/dev/null", O_WRONLY);
#include "crypto/age_stream.h"
    meas m;
#include "crypto/age_stream.h"
    meas_init(&m);
#include "crypto/age_stream.h"
    for (int i = 0; i < repeats; i++) {
#include "crypto/age_stream.h"
        meas_start(&m);
#include "crypto/age_stream.h"
        st_age_writer *w;
#include "crypto/age_stream.h"
        if (st_age_writer_new_fd(null, &r, 1, ST_AGE_ARMOR_NO, &w, &e))
#include "crypto/age_stream.h"
            return die(&e);
#include "crypto/age_stream.h"
        for (size_t off = 0; off < len; off += 1u << 20)
#include "crypto/age_stream.h"
            if (st_age_writer_write(w, src + off, 1u << 20, &e))
#include "crypto/age_stream.h"
                return die(&e);
#include "crypto/age_stream.h"
        if (st_age_writer_finish(w, &e))
#include "crypto/age_stream.h"
            return die(&e);
#include "crypto/age_stream.h"
        meas_stop(&m);
#include "crypto/age_stream.h"
    }
#include "crypto/age_stream.h"
    meas_print(&m, len);
#include "crypto/age_stream.h"
    st_age_recipient_clear(&r);
#include "crypto/age_stream.h"
    free(src);
#include "crypto/age_stream.h"
    close(null);
#include "crypto/age_stream.h"
    return 0;
#include "crypto/age_stream.h"
}
#include "crypto/age_stream.h"

#include "crypto/age_stream.h"
int main(int argc, char **argv)
#include "crypto/age_stream.h"
{
#include "crypto/age_stream.h"
    st_err e;
#include "crypto/age_stream.h"
    st_err_clear(&e);
#include "crypto/age_stream.h"
    if (argc < 5) {
#include "crypto/age_stream.h"
        fprintf(stderr, "usage: bench_age encrypt IN RECIPIENT REPEATS\n"
#include "crypto/age_stream.h"
                        "       bench_age decrypt IN IDENTITY_FILE THREADS "
#include "crypto/age_stream.h"
                        "REPEATS\n");
#include "crypto/age_stream.h"
        return 2;
#include "crypto/age_stream.h"
    }
#include "crypto/age_stream.h"
    if (!strcmp(argv[1], "exec") && !strcmp(argv[4], "--"))
#include "crypto/age_stream.h"
        return run_exec(strtoull(argv[2], NULL, 10), atoi(argv[3]), argv + 5);
#include "crypto/age_stream.h"
    if (!strcmp(argv[1], "memory"))
#include "crypto/age_stream.h"
        return run_memory(strtoull(argv[2], NULL, 10), argv[3], atoi(argv[4]));
#include "crypto/age_stream.h"
    int enc = !strcmp(argv[1], "encrypt");
#include "crypto/age_stream.h"
    int repeats = atoi(argv[enc ? 4 : 5]);
#include "crypto/age_stream.h"
    int null = open("/dev/null", O_WRONLY);
#include "crypto/age_stream.h"
    st_age_recipient r;
#include "crypto/age_stream.h"
    st_age_identity *ids = NULL;
#include "crypto/age_stream.h"
    size_t nids = 0;
#include "crypto/age_stream.h"
    if (enc ? st_age_x25519_recipient(argv[3], &r, &e)
#include "crypto/age_stream.h"
            : st_age_identities_load(argv[3], &ids, &nids, &e))
#include "crypto/age_stream.h"
        return die(&e);
#include "crypto/age_stream.h"
    meas m;
#include "crypto/age_stream.h"
    meas_init(&m);
#include "crypto/age_stream.h"
    uint64_t bytes = 0;
#include "crypto/age_stream.h"
    for (int i = 0; i < (repeats > 0 ? repeats : 1); i++) {
#include "crypto/age_stream.h"
        int in = open(argv[2], O_RDONLY);
#include "crypto/age_stream.h"
        if (in < 0) {
#include "crypto/age_stream.h"
            perror(argv[2]);
#include "crypto/age_stream.h"
            return 1;
#include "crypto/age_stream.h"
        }
#include "crypto/age_stream.h"
        meas_start(&m);
#include "crypto/age_stream.h"
        if (enc) {
#include "crypto/age_stream.h"
            struct stat st;
#include "crypto/age_stream.h"
            fstat(in, &st);
#include "crypto/age_stream.h"
            bytes = (uint64_t)st.st_size;
#include "crypto/age_stream.h"
            if (st_age_encrypt_fd(in, null, &r, 1, ST_AGE_ARMOR_NO, &e))
#include "crypto/age_stream.h"
                return die(&e);
#include "crypto/age_stream.h"
        } else {
#include "crypto/age_stream.h"
            st_age_decrypt_opts o = {.identities = ids,
#include "crypto/age_stream.h"
                                     .nidentities = nids,
#include "crypto/age_stream.h"
                                     .threads = (unsigned)atoi(argv[4])};
#include "crypto/age_stream.h"
            st_age_result res;
#include "crypto/age_stream.h"
            if (st_age_decrypt_fd(in, null, &o, &res, &e))
#include "crypto/age_stream.h"
                return die(&e);
#include "crypto/age_stream.h"
            bytes = res.released;
#include "crypto/age_stream.h"
        }
#include "crypto/age_stream.h"
        meas_stop(&m);
#include "crypto/age_stream.h"
        close(in);
#include "crypto/age_stream.h"
    }
#include "crypto/age_stream.h"
    meas_print(&m, bytes);
#include "crypto/age_stream.h"
    if (enc)
#include "crypto/age_stream.h"
        st_age_recipient_clear(&r);
#include "crypto/age_stream.h"
    st_age_identities_free(ids, nids);
#include "crypto/age_stream.h"
    close(null);
#include "crypto/age_stream.h"
    return 0;
#include "crypto/age_stream.h"
}
