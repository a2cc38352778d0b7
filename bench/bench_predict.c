/*
 * bench_predict.c: our side of bench/predict.sh. Builds a model with the
 * engine, seals nothing, and times the engine's predict path as every
 * consumer runs it (st_predictor_predict on a model loaded from its
 * safetensors by st_predictor_load, preprocessing included): no process
 * start-up, no decryption, no I/O in the timed part.
 *
 *   bench_predict mlp DIR   MLP 64-128-10 (ReLU, softmax), freshly
 *                           initialised (seed 1) and saved as
 *                           DIR/mlp.safetensors for the peer to load, timed
 *                           on DIR/mlp_x.f32; writes DIR/mlp_out.f32
 *   bench_predict gbdt DIR  100 trees (depth 6, eta 0.3, nthread 1)
 *                           trained here on DIR/gbdt_train_{x,y}.f32,
 *                           timed on DIR/gbdt_x.f32; writes
 *                           DIR/gbdt_out.f32
 *
 * Prints "rows_per_second=R" (the fastest of BENCH_PREDICT_REPEAT runs,
 * default 3). Matrices: "F32M", u32 rows, u32 cols, LE float32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/gbdt.h"
#include <sealtrain/sealtrain.h>

typedef struct mat {
    float *v;
    uint32_t rows, cols;
} mat;

static int load(const char *dir, const char *name, mat *m)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "rb");
    char magic[4];
    if (!f || fread(magic, 1, 4, f) != 4 || memcmp(magic, "F32M", 4) ||
        fread(&m->rows, 4, 1, f) != 1 || fread(&m->cols, 4, 1, f) != 1) {
        fprintf(stderr, "bench_predict: cannot read %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    size_t n = (size_t)m->rows * m->cols;
    st_err e;
    m->v = st_secmem_alloc(n * sizeof(float) + 1, &e);
    int ok = m->v && fread(m->v, sizeof(float), n, f) == n;
    fclose(f);
    if (!ok)
        fprintf(stderr, "bench_predict: %s: %s\n", path,
                m->v ? "short file" : e.msg);
    return ok ? 0 : -1;
}

static int save(const char *dir, const char *name, const float *v,
                uint32_t rows, uint32_t cols)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    int ok =
        f && fwrite("F32M", 1, 4, f) == 4 && fwrite(&rows, 4, 1, f) == 1 &&
        fwrite(&cols, 4, 1, f) == 1 &&
        fwrite(v, sizeof(float), (size_t)rows * cols, f) == (size_t)rows * cols;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The safetensors bytes of a 100-tree model trained on DIR's rows. */
static st_secret *gbdt_model(const char *dir, st_err *e)
{
    mat x, y;
    if (load(dir, "gbdt_train_x", &x) || load(dir, "gbdt_train_y", &y))
        return NULL;
    const char *spec = "{\"type\": \"gbdt\", \"objective\": "
                       "\"binary:logistic\", \"rounds\": 100, \"max_depth\": "
                       "6, \"eta\": 0.3, \"nthread\": 1, \"seed\": 0}";
    json_t *model = json_loads(spec, 0, NULL);
    st_gbdt_config cfg;
    st_gbdt *g = NULL;
    st_secret *out = NULL;
    st_train_data d = {x.v, y.v, x.rows, x.cols, 1, 2};
    if (st_gbdt_config_from_json(model, NULL, NULL, &cfg, e) == ST_OK &&
        st_gbdt_fit(&cfg, &d, NULL, NULL, NULL, &g, e) == ST_OK)
        st_discard(st_gbdt_save_safetensors(g, NULL, &out, e));
    json_decref(model);
    st_gbdt_free(g);
    st_secmem_free(x.v);
    st_secmem_free(y.v);
    return out;
}

/* The safetensors bytes of an initialised MLP 64-128-10, also written to
 * DIR/mlp.safetensors (the weights are what predict reads; training
 * would not change its speed). */
static st_secret *mlp_model(const char *dir, st_err *e)
{
    json_t *m = json_loads("{\"type\": \"mlp\", \"inputs\": 64, "
                           "\"outputs\": 10, \"hidden\": [128], "
                           "\"activation\": \"relu\"}",
                           0, NULL);
    json_t *t = json_loads("{\"seed\": 1}", 0, NULL);
    st_train_config cfg;
    st_trainer *tr = NULL;
    st_secret *out = NULL;
    if (st_train_config_from_json(m, t, &cfg, e) == ST_OK &&
        st_trainer_new(&cfg, &tr, e) == ST_OK)
        st_discard(st_trainer_save_safetensors(tr, NULL, &out, e));
    json_decref(m);
    json_decref(t);
    st_trainer_free(tr);
    char path[4096];
    snprintf(path, sizeof(path), "%s/mlp.safetensors", dir);
    if (out && st_fs_write_atomic(path, st_secret_cbytes(out),
                                  st_secret_len(out), 0600, e) != ST_OK) {
        st_secret_free(out);
        return NULL;
    }
    return out;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "mlp") && strcmp(argv[1], "gbdt"))) {
        fprintf(stderr, "usage: bench_predict mlp|gbdt DIR\n");
        return 2;
    }
    const char *dir = argv[2];
    int gbdt = !strcmp(argv[1], "gbdt");
    const char *r = getenv("BENCH_PREDICT_REPEAT");
    int repeat = r ? atoi(r) : 3;
    st_err e;
    st_secret *model = gbdt ? gbdt_model(dir, &e) : mlp_model(dir, &e);
    st_predictor *p = NULL;
    if (!model || st_predictor_load(st_secret_cbytes(model),
                                    st_secret_len(model), &p, &e) != ST_OK) {
        fprintf(stderr, "bench_predict: %s\n", e.msg);
        return 1;
    }
    st_secret_free(model);
    mat x;
    if (load(dir, gbdt ? "gbdt_x" : "mlp_x", &x))
        return 1;
    size_t no = st_predictor_outputs(p);
    float *out = st_secmem_alloc((size_t)x.rows * no * sizeof(float), &e);
    if (!out) {
        fprintf(stderr, "bench_predict: %s\n", e.msg);
        return 1;
    }
    double best = 1e30;
    for (int i = 0; i < (repeat > 0 ? repeat : 1); i++) {
        double t0 = now();
        if (st_predictor_predict(p, x.v, x.rows, out, &e) != ST_OK) {
            fprintf(stderr, "bench_predict: %s\n", e.msg);
            return 1;
        }
        double t = now() - t0;
        best = t < best ? t : best;
    }
    if (save(dir, gbdt ? "gbdt_out" : "mlp_out", out, x.rows, (uint32_t)no))
        fprintf(stderr, "bench_predict: cannot write the outputs\n");
    printf("rows_per_second=%.0f\n", x.rows / best);
    st_secmem_free(out);
    st_secmem_free(x.v);
    st_predictor_free(p);
    return 0;
}
