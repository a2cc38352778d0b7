/*
 * test_predictor.c: a sealed model's safetensors put back to work
 * (src/train/predictor.c): the predictor gives the trainer's own outputs
 * (preprocessing included), its metrics equal st_trainer_evaluate's, ROC
 * AUC equals the pairwise definition (ties one half), CSV carries the
 * original labels (quoted when they must be), and malformed files are
 * refused.
 */
#include "st_test.h"

#include <math.h>

#include <sealtrain/sealtrain.h>

#include "train/train_internal.h"

/* Two overlapping blobs in 3 features, labels 0/1. */
static void blobs(float *x, float *y, size_t rows, uint64_t seed)
{
    st_rng r;
    st_rng_seed(&r, seed);
    for (size_t i = 0; i < rows; i++) {
        y[i] = (float)st_rng_below(&r, 2);
        for (size_t j = 0; j < 3; j++)
            x[i * 3 + j] = (float)(y[i] * 3.0 + 10.0 * j + st_rng_normal(&r));
    }
}

/* A trained model as safetensors, with its labels in the metadata. */
static st_secret *trained(st_train_loss loss, const char *labels,
                          const st_train_data *d, st_trainer **t)
{
    st_err e;
    st_train_config c;
    st_train_config_default(&c);
    c.model = ST_MODEL_MLP;
    c.nhidden = 1;
    c.hidden[0] = 8;
    c.loss = loss;
    c.epochs = 20;
    c.learning_rate = 0.02;
    c.batch_size = 16;
    c.seed = 3;
    c.scale = ST_SCALE_STANDARDIZE;
    assert_st_ok(st_train_config_resolve(&c, d, &e), &e);
    assert_st_ok(st_trainer_new(&c, t, &e), &e);
    assert_st_ok(st_trainer_fit(*t, d, NULL, NULL, NULL, &e), &e);
    json_t *meta = json_pack("{s:s}", "sealtrain.class_names", labels);
    st_secret *st = NULL;
    assert_st_ok(st_trainer_save_safetensors(*t, meta, &st, &e), &e);
    json_decref(meta);
    return st;
}

/* ROC AUC by its definition: over all (positive, negative) pairs, 1 when
 * the positive scores higher, 1/2 on a tie. */
static double pairwise_auc(const float *s, size_t stride, const float *y,
                           size_t n)
{
    double sum = 0, pairs = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (y[i] > 0.5f && y[j] < 0.5f) {
                float a = s[i * stride], b = s[j * stride];
                sum += a > b ? 1.0 : a == b ? 0.5 : 0.0;
                pairs += 1;
            }
    return sum / pairs;
}

static void test_predictor_gives_the_trainers_outputs_and_metrics(void **st)
{
    (void)st;
    enum { N = 200 };
    static float x[N * 3], y[N];
    blobs(x, y, N, 11);
    st_train_data d = {x, y, N, 3, 1, 2};
    st_train_loss losses[2] = {ST_LOSS_SOFTMAX_CE, ST_LOSS_BCE};
    for (int k = 0; k < 2; k++) {
        st_err e;
        st_trainer *t = NULL;
        st_secret *sf = trained(losses[k], "[\"no\",\"yes\"]", &d, &t);
        st_predictor *p = NULL;
        assert_st_ok(
            st_predictor_load(st_secret_cbytes(sf), st_secret_len(sf), &p, &e),
            &e);
        size_t no = st_predictor_outputs(p);
        assert_int_equal(no, losses[k] == ST_LOSS_BCE ? 1 : 2);
        assert_int_equal(st_predictor_classes(p), 2);
        assert_int_equal(st_predictor_features(p), 3);
        assert_string_equal(st_predictor_label(p, 1), "yes");
        float a[N * 2], b[N * 2];
        assert_st_ok(st_trainer_predict(t, x, N, a, &e), &e);
        assert_st_ok(st_predictor_predict(p, x, N, b, &e), &e);
        assert_memory_equal(a, b, N * no * sizeof(float));
        st_train_metrics m1, m2;
        double auc;
        assert_st_ok(st_trainer_evaluate(t, &d, &m1, &e), &e);
        assert_st_ok(st_predictor_evaluate(p, &d, &m2, &auc, &e), &e);
        assert_true(m1.accuracy == m2.accuracy);
        assert_true(m1.macro_f1 == m2.macro_f1);
        assert_true(m2.accuracy > 0.7);
        double want = pairwise_auc(b + (no - 1), no, y, N);
        assert_true(fabs(auc - want) < 1e-12);
        st_predictor_free(p);
        st_trainer_free(t);
        st_secret_free(sf);
    }
}

static void test_roc_auc_counts_ties_one_half(void **st)
{
    (void)st;
    /* a constant model: every score ties, so AUC is exactly 1/2 */
    enum { N = 40 };
    static float x[N * 3], y[N];
    blobs(x, y, N, 5);
    for (size_t i = 0; i < N * 3; i++)
        x[i] = 1.0f; /* no information at all */
    st_train_data d = {x, y, N, 3, 1, 2};
    st_err e;
    st_trainer *t = NULL;
    st_secret *sf = trained(ST_LOSS_BCE, "[\"a\",\"b\"]", &d, &t);
    st_predictor *p = NULL;
    assert_st_ok(
        st_predictor_load(st_secret_cbytes(sf), st_secret_len(sf), &p, &e), &e);
    st_train_metrics m;
    double auc;
    assert_st_ok(st_predictor_evaluate(p, &d, &m, &auc, &e), &e);
    assert_true(auc == 0.5);
    /* one class only: no AUC */
    for (size_t i = 0; i < N; i++)
        y[i] = 1.0f;
    assert_st_ok(st_predictor_evaluate(p, &d, &m, &auc, &e), &e);
    assert_true(isnan(auc));
    st_predictor_free(p);
    st_trainer_free(t);
    st_secret_free(sf);
}

static void test_csv_names_original_labels_and_quotes_them(void **st)
{
    (void)st;
    enum { N = 30 };
    static float x[N * 3], y[N];
    blobs(x, y, N, 9);
    st_train_data d = {x, y, N, 3, 1, 2};
    st_err e;
    st_trainer *t = NULL;
    st_secret *sf =
        trained(ST_LOSS_BCE, "[\"benign\",\"malign, \\\"bad\\\"\"]", &d, &t);
    st_predictor *p = NULL;
    assert_st_ok(
        st_predictor_load(st_secret_cbytes(sf), st_secret_len(sf), &p, &e), &e);
    float out[N];
    assert_st_ok(st_predictor_predict(p, x, N, out, &e), &e);
    char *csv = NULL;
    size_t len = 0;
    assert_st_ok(st_predictor_csv(p, out, 2, &csv, &len, &e), &e);
    assert_int_equal(strlen(csv), len);
    assert_non_null(
        strstr(csv, "prediction,p_benign,\"p_malign, \"\"bad\"\"\"\n"));
    /* row 1: its label, then P(benign) = 1 - P(malign) */
    const char *row = strchr(csv, '\n') + 1;
    char want[128];
    snprintf(want, sizeof(want), "%s,%.9g,%.9g\n",
             out[0] >= 0.5f ? "\"malign, \"\"bad\"\"\"" : "benign",
             1.0 - out[0], (double)out[0]);
    assert_memory_equal(row, want, strlen(want));
    st_secmem_free(csv);
    st_predictor_free(p);
    st_trainer_free(t);
    st_secret_free(sf);
}

static void test_malformed_models_are_refused(void **st)
{
    (void)st;
    enum { N = 30 };
    static float x[N * 3], y[N];
    blobs(x, y, N, 2);
    st_train_data d = {x, y, N, 3, 1, 2};
    st_err e;
    st_trainer *t = NULL;
    /* three labels for two classes */
    st_secret *sf = trained(ST_LOSS_BCE, "[\"a\",\"b\",\"c\"]", &d, &t);
    st_predictor *p = NULL;
    assert_int_equal(
        st_predictor_load(st_secret_cbytes(sf), st_secret_len(sf), &p, &e),
        ST_E_INPUT);
    assert_non_null(strstr(e.msg, "names 3 labels, the model has 2"));
    assert_null(p);
    /* truncated */
    assert_int_equal(
        st_predictor_load(st_secret_cbytes(sf), st_secret_len(sf) - 3, &p, &e),
        ST_E_INPUT);
    assert_null(p);
    /* the wrong number of features for evaluation */
    st_secret_free(sf);
    st_trainer_free(t);
    sf = trained(ST_LOSS_BCE, "[\"a\",\"b\"]", &d, &t);
    assert_st_ok(
        st_predictor_load(st_secret_cbytes(sf), st_secret_len(sf), &p, &e), &e);
    st_train_data d2 = {x, y, N / 2, 6, 1, 2};
    st_train_metrics m;
    double auc;
    assert_int_equal(st_predictor_evaluate(p, &d2, &m, &auc, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "6 features, the model takes 3"));
    st_predictor_free(p);
    st_trainer_free(t);
    st_secret_free(sf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predictor_gives_the_trainers_outputs_and_metrics),
        cmocka_unit_test(test_roc_auc_counts_ties_one_half),
        cmocka_unit_test(test_csv_names_original_labels_and_quotes_them),
        cmocka_unit_test(test_malformed_models_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
