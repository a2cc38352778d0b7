/*
 * bench_json.c: st_json_dumps against jansson's json_dumps, the peer it
 * stands in for, on the same document in one run: a key release's audit
 * entry (3.2 KB: the verified claims and each verdict with its trace),
 * serialised as the audit log does (compact, keys sorted). The two must
 * write the same bytes; rounds alternate between them. Target: ours at
 * least 3x jansson's rate (the entry is written inside the audit log's
 * lock, on every key release).
 *
 * usage: bench_json FILE [dumps-per-round] [rounds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sealtrain/sealtrain.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double round_of(const json_t *v, int n, int ours, size_t *bytes)
{
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
    double t = now();
    for (int i = 0; i < n; i++) {
        char *s = ours ? st_json_dumps(v, flags) : json_dumps(v, flags);
        if (!s) {
            fprintf(stderr, "bench_json: serialising failed\n");
            exit(1);
        }
        *bytes = strlen(s);
        free(s);
    }
    return now() - t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_json FILE [dumps-per-round] [rounds]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    int rounds = argc > 3 ? atoi(argv[3]) : 20;
    st_err e;
    json_t *v = st_json_load_file(argv[1], 1 << 20, &e);
    if (!v) {
        fprintf(stderr, "bench_json: %s\n", e.msg);
        return 1;
    }
    char *a = st_json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    char *b = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (!a || !b || strcmp(a, b) != 0) {
        fprintf(stderr, "bench_json: the two write different bytes\n");
        return 1;
    }
    free(a);
    free(b);
    double t[2] = {0, 0};
    size_t bytes = 0;
    round_of(v, n, 0, &bytes); /* warm both up */
    round_of(v, n, 1, &bytes);
    for (int r = 0; r < rounds; r++) {
        t[r % 2] += round_of(v, n, r % 2, &bytes);
        t[!(r % 2)] += round_of(v, n, !(r % 2), &bytes);
    }
    double per[2];
    for (int k = 0; k < 2; k++)
        per[k] = t[k] / ((double)n * rounds) * 1e6;
    printf("compact, sorted keys, %zu-byte key-release audit entry, %d x %d "
           "dumps each, alternating rounds:\n",
           bytes, rounds, n);
    printf("  %-26s %10s %10s\n", "", "us/dump", "MB/s");
    printf("  %-26s %10.2f %10.1f\n", "jansson json_dumps (peer)", per[0],
           (double)bytes / per[0]);
    printf("  %-26s %10.2f %10.1f\n", "st_json_dumps (ours)", per[1],
           (double)bytes / per[1]);
    double ratio = per[0] / per[1];
    printf("  %-26s %9.2fx   target >= 3x: %s\n", "ours / jansson (speed)",
           ratio, ratio >= 3 ? "met" : "NOT met");
    json_decref(v);
    return ratio >= 3 ? 0 : 1;
}
