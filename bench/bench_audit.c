/*
 * bench_audit.c: the audit log against SQLite, in one run, on the same
 * disk, with the same records and the same durability.
 *
 *  1. durable appends/s: our log (write + fdatasync per acknowledged
 *     append, group commit) vs SQLite (WAL, synchronous=FULL, one
 *     transaction per record) inserting the very same JSON lines; once with
 *     one appender and once with 8 concurrent appenders (threads; for
 *     SQLite one connection each). Target: ours >= 2x SQLite.
 *  2. verification of a 1,000,000-entry log (every entry parsed, its seq
 *     and prev checked, the tree recomputed, the checkpoint checked).
 *     Target: < 2 s.
 *
 * usage: bench_audit DIR [appends] [entries-to-verify]
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sealtrain/sealtrain.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The record both sides store: an entry as our log writes it. */
static void record(char *out, size_t cap, int i)
{
    snprintf(out, cap,
             "{\"action\":\"key.release\",\"actor\":\"broker\",\"category\":"
             "\"key-release\",\"details\":{\"dataset\":\"sha256:9f86d081884c"
             "7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
             "\"job\":\"job-%06d\"},\"outcome\":\"success\",\"prev\":\"00000"
             "00000000000000000000000000000000000000000000000000000000000\","
             "\"resource\":\"dataset:digits\",\"seq\":%d,\"time\":\"2026-01-"
             "01T00:00:00.000000Z\",\"v\":1}",
             i, i);
}

typedef struct job {
    const char *dir;
    int from, n;
    int failed;
} job;

static void *ours_worker(void *p)
{
    job *j = p;
    st_audit_log *log;
    if (st_audit_log_open(j->dir, &log, NULL) != ST_OK) {
        j->failed = 1;
        return NULL;
    }
    json_t *d = json_pack("{s:s,s:s}", "dataset",
                          "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b"
                          "822cd15d6c15b0f00a08",
                          "job", "job-000000");
    for (int i = 0; i < j->n; i++) {
        st_audit_event ev = {
            "key-release", "broker", "key.release", "dataset:digits", "success",
            NULL,          d};
        if (st_audit_log_append(log, &ev, NULL, NULL) != ST_OK) {
            j->failed = 1;
            break;
        }
    }
    json_decref(d);
    st_audit_log_close(log);
    return NULL;
}

static void *sqlite_worker(void *p)
{
    job *j = p;
    sqlite3 *db;
    char path[4096], rec[1024];
    snprintf(path, sizeof(path), "%s/bench.db", j->dir);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        j->failed = 1;
        return NULL;
    }
    sqlite3_busy_timeout(db, 60000);
    sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO audit(line) VALUES(?1)", -1, &st, NULL);
    for (int i = 0; i < j->n; i++) {
        record(rec, sizeof(rec), j->from + i);
        sqlite3_bind_text(st, 1, rec, -1, SQLITE_STATIC);
        /* autocommit: one transaction, one WAL sync per record */
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_BUSY)
            sqlite3_reset(st);
        if (r != SQLITE_DONE) {
            j->failed = 1;
            break;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

static double run(void *(*fn)(void *), const char *dir, int threads, int n)
{
    pthread_t t[64];
    job jobs[64];
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){dir, i * (n / threads), n / threads, 0};
        pthread_create(&t[i], NULL, fn, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double dt = now() - t0;
    for (int i = 0; i < threads; i++)
        if (jobs[i].failed) {
            fprintf(stderr, "bench_audit: a worker failed\n");
            exit(1);
        }
    return (double)n / dt;
}

static void fresh(const char *base, const char *name, char *out, size_t cap)
{
    char cmd[8300];
    snprintf(out, cap, "%s/%s", base, name);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && chmod 700 '%s'",
             out, out, out);
    if (system(cmd) != 0)
        exit(1);
}

static void sqlite_init(const char *dir)
{
    sqlite3 *db;
    char path[4096];
    snprintf(path, sizeof(path), "%s/bench.db", dir);
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; CREATE TABLE audit(id INTEGER "
                 "PRIMARY KEY, line TEXT NOT NULL)",
                 NULL, NULL, NULL);
    sqlite3_close(db);
}

static void compare(const char *base, int threads, int n)
{
    char d1[4096], d2[4096];
    fresh(base, "ours", d1, sizeof(d1));
    fresh(base, "sqlite", d2, sizeof(d2));
    sqlite_init(d2);
    double ours = run(ours_worker, d1, threads, n);
    double lite = run(sqlite_worker, d2, threads, n);
    printf("durable appends, %d appender%s, %d records:\n"
           "  sqlite (WAL, synchronous=FULL, 1 txn/record) %10.0f /s\n"
           "  sealtrain audit log (fdatasync, group commit) %9.0f /s\n"
           "  ratio %.2fx (target >= 2x)\n",
           threads, threads > 1 ? "s" : "", n, lite, ours, ours / lite);
}

/* Writes an n-entry log directly (valid seq and prev links, no fsync per
 * entry: this part measures verification, not appending), then one signed
 * checkpoint through the library. */
static void build_big(const char *dir, long n)
{
    char path[4200], rec[1024], hex[65];
    snprintf(path, sizeof(path), "%s/log.jsonl", dir);
    FILE *f = fopen(path, "w");
    uint8_t prev[32] = {0};
    for (long i = 0; i < n; i++) {
        st_hex_encode(prev, 32, hex);
        int len = snprintf(
            rec, sizeof(rec),
            "{\"action\":\"job.run\",\"actor\":\"trainer-%ld\",\"category\":"
            "\"operation\",\"details\":{\"sha256\":\"9f86d081884c7d659a2fea"
            "a0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"},\"outcome\":"
            "\"success\",\"prev\":\"%s\",\"resource\":\"job:%ld\",\"seq\":"
            "%ld,\"time\":\"2026-01-01T00:00:00.000000Z\",\"v\":1}",
            i % 7, hex, i, i);
        fwrite(rec, 1, (size_t)len, f);
        fputc('\n', f);
        st_audit_leaf_hash(rec, (size_t)len, prev);
    }
    fclose(f);
    st_audit_log *log;
    st_err err;
    if (st_audit_log_open(dir, &log, &err) != ST_OK ||
        st_audit_checkpoint(log, NULL, &err) != ST_OK) {
        fprintf(stderr, "bench_audit: %s\n", err.msg);
        exit(1);
    }
    st_audit_log_close(log);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_audit DIR [appends] [entries]\n");
        return 2;
    }
    const char *base = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    long big = argc > 3 ? atol(argv[3]) : 1000000;
    compare(base, 1, n);
    compare(base, 8, n);

    char d3[4096];
    fresh(base, "big", d3, sizeof(d3));
    build_big(d3, big);
    st_audit_report rep;
    st_err err;
    double t0 = now(), c0 = cpu_now();
    st_code rc = st_audit_verify(d3, NULL, &rep, &err);
    double dt = now() - t0, cpu = cpu_now() - c0;
    if (rc != ST_OK) {
        fprintf(stderr, "bench_audit: verify failed: %s\n", err.msg);
        return 1;
    }
    /* CPU time too: on a shared machine the wall clock includes waiting */
    printf("verify %ld entries + 1 checkpoint: %.3f s wall, %.3f s CPU "
           "(%.0f entries/s; target < 2 s)\n",
           (long)rep.entries, dt, cpu, (double)rep.entries / dt);
    return 0;
}
