/*
 * test_model_onnx.c: ONNX export of the engine's models. Trains small
 * models on the bundled digits (the first 1400 rows), exports them, and
 * has Debian's python3-onnx check each file and an independent evaluator
 * (tests/onnx_eval.py) reproduce the engine's own predictions on the held-
 * out rows within 1e-4. Also: malformed inputs are refused by name.
 */
#include "st_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sealtrain/sealtrain.h>

#include "train/train.h"

#define ROWS_MAX 1800
#define FEATURES 64
#define TRAIN_ROWS 1400

static float xs[ROWS_MAX * FEATURES], ys[ROWS_MAX];
static size_t nrows;

static int load_digits(void)
{
    FILE *f = fopen("examples/data/digits.csv", "r");
    if (!f)
        return -1;
    char line[4096];
    if (!fgets(line, sizeof(line), f)) { /* header */
        fclose(f);
        return -1;
    }
    nrows = 0;
    while (nrows < ROWS_MAX && fgets(line, sizeof(line), f)) {
        char *p = line;
        for (size_t j = 0; j <= FEATURES; j++) {
            float v = strtof(p, &p);
            if (*p == ',')
                p++;
            if (j < FEATURES)
                xs[nrows * FEATURES + j] = v / 16.0f;
            else
                ys[nrows] = v;
        }
        nrows++;
    }
    fclose(f);
    return nrows > TRAIN_ROWS ? 0 : -1;
}

static int have_onnx(void)
{
    return system("/usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null") == 0;
}

static void write_file(const char *path, const void *d, size_t n)
{
    st_err err;
    assert_int_equal(st_fs_write_atomic(path, d, n, 0600, &err), ST_OK);
}

/* Trains `model_json` briefly (with the preprocessing section `pp_json`,
 * or none), exports, and checks in Python. */
static void roundtrip_pp(const char *model_json, int classify,
                         const char *pp_json)
{
    if (!have_onnx())
        skip();
    st_err err;
    json_t *model = json_loads(model_json, 0, NULL);
    json_t *training =
        json_pack("{s:i,s:i,s:i}", "epochs", 3, "batch_size", 64, "seed", 5);
    st_train_config cfg;
    assert_int_equal(st_train_config_from_json(model, training, &cfg, &err),
                     ST_OK);
    json_t *pp = pp_json ? json_loads(pp_json, 0, NULL) : NULL;
    assert_int_equal(st_train_config_preprocessing(pp, &cfg, &err), ST_OK);
    json_decref(pp);
    st_train_data tr = {xs, ys, TRAIN_ROWS, FEATURES, 1, classify ? 10 : 0};
    assert_int_equal(st_train_config_resolve(&cfg, &tr, &err), ST_OK);
    st_trainer *t = NULL;
    assert_int_equal(st_trainer_new(&cfg, &t, &err), ST_OK);
    assert_int_equal(st_trainer_fit(t, &tr, NULL, NULL, NULL, &err), ST_OK);
    size_t test_rows = nrows - TRAIN_ROWS;
    const float *tx = xs + TRAIN_ROWS * FEATURES;
    float *pred = calloc(test_rows * cfg.outputs, sizeof(float));
    assert_int_equal(st_trainer_predict(t, tx, test_rows, pred, &err), ST_OK);
    st_secret *sf = NULL;
    assert_int_equal(st_trainer_save_safetensors(t, NULL, &sf, &err), ST_OK);
    void *onnx = NULL;
    size_t olen = 0;
    assert_int_equal(st_model_onnx_export(st_secret_bytes(sf),
                                          st_secret_len(sf), "digits", &onnx,
                                          &olen, &err),
                     ST_OK);
    char dir[] = "/tmp/st-onnx.XXXXXX", p[256], cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/model.onnx", dir);
    write_file(p, onnx, olen);
    snprintf(p, sizeof(p), "%s/x.f32", dir);
    write_file(p, tx, test_rows * FEATURES * sizeof(float));
    snprintf(p, sizeof(p), "%s/pred.f32", dir);
    write_file(p, pred, test_rows * cfg.outputs * sizeof(float));
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/onnx_eval.py %s", dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rc, 0);
    st_secmem_free(onnx);
    st_secret_free(sf);
    st_trainer_free(t);
    free(pred);
    json_decref(model);
    json_decref(training);
}

static void roundtrip(const char *model_json, int classify)
{
    roundtrip_pp(model_json, classify, NULL);
}

/* Raw rows in: the fitted scaling is part of the graph. */
static void test_onnx_with_preprocessing_matches_engine(void **s)
{
    (void)s;
    roundtrip_pp("{\"type\":\"mlp\",\"hidden\":[32],\"activation\":\"relu\"}",
                 1, "{\"scale\":\"standardize\"}");
    roundtrip_pp("{\"type\":\"linear\"}", 0,
                 "{\"scale\":\"minmax\",\"columns\":{\"5\":{\"scale\":"
                 "\"none\"}}}");
}

static void test_onnx_relu_mlp_matches_engine(void **s)
{
    (void)s;
    roundtrip("{\"type\":\"mlp\",\"hidden\":[32],\"activation\":\"relu\"}", 1);
}

static void test_onnx_gelu_two_layers_matches_engine(void **s)
{
    (void)s;
    roundtrip("{\"type\":\"mlp\",\"hidden\":[32,16],\"activation\":\"gelu\"}",
              1);
}

static void test_onnx_tanh_and_sigmoid_match_engine(void **s)
{
    (void)s;
    roundtrip("{\"type\":\"mlp\",\"hidden\":[16],\"activation\":\"tanh\"}", 1);
    roundtrip("{\"type\":\"mlp\",\"hidden\":[16],\"activation\":\"sigmoid\"}",
              1);
}

static void test_onnx_logistic_and_linear_match_engine(void **s)
{
    (void)s;
    roundtrip("{\"type\":\"logistic\"}", 1);
    roundtrip("{\"type\":\"linear\"}", 0);
}

static void test_onnx_refuses_foreign_safetensors(void **s)
{
    (void)s;
    /* a valid safetensors file without sealtrain's configuration */
    const char hdr[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                       "\"data_offsets\":[0,4]}}";
    uint8_t buf[128];
    uint64_t n = sizeof(hdr) - 1;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, hdr, n);
    memset(buf + 8 + n, 0, 4);
    st_err err;
    void *out = NULL;
    size_t olen;
    assert_int_equal(
        st_model_onnx_export(buf, 8 + n + 4, "x", &out, &olen, &err),
        ST_E_INPUT);
    assert_non_null(strstr(err.msg, "sealtrain.config"));
    assert_null(out);
    /* and garbage */
    assert_int_equal(st_model_onnx_export(buf, 7, "x", &out, &olen, &err),
                     ST_E_INPUT);
}

int main(void)
{
    if (load_digits() != 0) {
        fprintf(stderr, "examples/data/digits.csv not readable\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onnx_relu_mlp_matches_engine),
        cmocka_unit_test(test_onnx_with_preprocessing_matches_engine),
        cmocka_unit_test(test_onnx_gelu_two_layers_matches_engine),
        cmocka_unit_test(test_onnx_tanh_and_sigmoid_match_engine),
        cmocka_unit_test(test_onnx_logistic_and_linear_match_engine),
        cmocka_unit_test(test_onnx_refuses_foreign_safetensors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
