/*
 * bench_train.c: our side of bench/train.sh. Reads float32 matrices that
 * bench/train_peer.py exported (so both engines see the same bytes), trains
 * with the settings given on the command line, and prints key=value lines:
 * samples/s, accuracy, peak RSS. The data goes into secure memory first,
 * as the enclave runtime hands it to the engine.
 *
 *   bench_train DIR PREFIX_TRAIN PREFIX_TEST|- MODEL_JSON TRAINING_JSON
 *
 * PREFIX_x.f32 / PREFIX_y.f32: "F32M", u32 rows, u32 cols, rows*cols LE
 * float32. Prints the metrics of the last epoch and the test accuracy.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "train/train.h"

typedef struct mat {
    float *v;
    uint32_t rows, cols;
} mat;

static int load(const char *dir, const char *prefix, const char *which, mat *m)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s_%s.f32", dir, prefix, which);
    FILE *f = fopen(path, "rb");
    char magic[4];
    if (!f || fread(magic, 1, 4, f) != 4 || memcmp(magic, "F32M", 4) ||
        fread(&m->rows, 4, 1, f) != 1 || fread(&m->cols, 4, 1, f) != 1) {
        fprintf(stderr, "bench_train: cannot read %s\n", path);
        return -1;
    }
    size_t n = (size_t)m->rows * m->cols;
    st_err e;
    m->v = st_secmem_alloc(n * sizeof(float), &e);
    if (!m->v) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        return -1;
    }
    if (fread(m->v, sizeof(float), n, f) != n) {
        fprintf(stderr, "bench_train: short file %s\n", path);
        return -1;
    }
    fclose(f);
    return 0;
}

static size_t count_classes(const mat *y)
{
    float mx = 0;
    for (size_t i = 0; i < y->rows; i++)
        mx = y->v[i] > mx ? y->v[i] : mx;
    return (size_t)mx + 1;
}

typedef struct progress {
    st_train_metrics last;
    double seconds, samples; /* training time and rows over all epochs */
    size_t rows;
} progress;

static int on_epoch(const st_train_metrics *m, void *user)
{
    progress *p = user;
    p->last = *m;
    p->samples += (double)p->rows;
    p->seconds += (double)p->rows / m->samples_per_second;
    if (getenv("BENCH_VERBOSE"))
        fprintf(stderr, "epoch %u loss %.4f acc %.4f %.0f samples/s\n",
                m->epoch, m->train_loss, m->train_accuracy,
                m->samples_per_second);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_train DIR TRAIN TEST|- MODEL_JSON "
                        "TRAINING_JSON\n");
        return 2;
    }
    st_err e;
    mat x, y, tx = {0}, ty = {0};
    if (load(argv[1], argv[2], "x", &x) || load(argv[1], argv[2], "y", &y))
        return 1;
    if (strcmp(argv[3], "-") != 0 &&
        (load(argv[1], argv[3], "x", &tx) || load(argv[1], argv[3], "y", &ty)))
        return 1;
    st_train_data d = {x.v, y.v, x.rows, x.cols, 1, count_classes(&y)};
    json_t *mj = st_json_parse(argv[4], strlen(argv[4]), "model", &e);
    json_t *tj =
        mj ? st_json_parse(argv[5], strlen(argv[5]), "training", &e) : NULL;
    st_train_config c;
    st_trainer *t = NULL;
    if (!tj || st_train_config_from_json(mj, tj, &c, &e) ||
        st_train_config_resolve(&c, &d, &e) || st_trainer_new(&c, &t, &e)) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        return 1;
    }
    progress p;
    memset(&p, 0, sizeof(p));
    p.rows = d.rows;
    /* samples/s over the whole run: every epoch's training time */
    if (st_trainer_fit(t, &d, NULL, on_epoch, &p, &e)) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        return 1;
    }
    double test_acc = NAN;
    if (tx.v) {
        st_train_data td = {tx.v, ty.v, tx.rows, tx.cols, 1, d.classes};
        st_train_metrics m;
        if (st_trainer_evaluate(t, &td, &m, &e)) {
            fprintf(stderr, "bench_train: %s\n", e.msg);
            return 1;
        }
        test_acc = m.accuracy;
    }
    size_t nparams;
    st_trainer_params(t, &nparams);
    /* VmHWM, not getrusage: ru_maxrss carries over the parent's peak
       across exec, VmHWM belongs to this process image alone */
    long hwm = -1;
    FILE *st = fopen("/proc/self/status", "r");
    char line[256];
    while (st && fgets(line, sizeof(line), st))
        if (sscanf(line, "VmHWM: %ld kB", &hwm) == 1)
            break;
    if (st)
        fclose(st);
    printf("samples_per_s=%.1f\n", p.samples / p.seconds);
    printf("train_acc=%.4f\n", p.last.train_accuracy);
    printf("test_acc=%.4f\n", test_acc);
    printf("peak_rss_kb=%ld\n", hwm);
    printf("data_bytes=%zu\n", ((size_t)x.rows * x.cols + y.rows +
                                (size_t)tx.rows * tx.cols + ty.rows) *
                                   sizeof(float));
    printf("model_bytes=%zu\n", nparams * sizeof(float));
    printf("secure_bytes=%zu\n", st_trainer_secure_bytes(t));
    st_trainer_free(t);
    json_decref(mj);
    json_decref(tj);
    st_secmem_free(x.v);
    st_secmem_free(y.v);
    st_secmem_free(tx.v);
    st_secmem_free(ty.v);
    return 0;
}
