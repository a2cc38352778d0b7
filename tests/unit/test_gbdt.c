/*
 * test_gbdt.c: gradient-boosted trees through XGBoost (src/train/gbdt.c).
 * Determinism of the model bytes; early stopping keeps the best round by
 * XGBoost's own rule; the sealed layout round-trips to the same
 * predictions; metrics agree with the predictions; the spec section is
 * strict and names the key; held-out splits and preprocessing.
 */
#include "st_test.h"

#include <math.h>

#include "train/gbdt.h"
#include <sealtrain/sealtrain.h>

#include "train/train_internal.h"

typedef struct dataset {
    float *x, *y;
    st_train_data d;
} dataset;

/* Rows with `classes` classes (0: a regression target) depending on the
 * first features, plus noise. */
static dataset synth(size_t rows, size_t features, size_t classes,
                     uint64_t seed)
{
    dataset s;
    st_rng r;
    st_rng_seed(&r, seed);
    s.x = malloc(rows * features * sizeof(float));
    s.y = malloc(rows * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < features; j++)
            s.x[i * features + j] = (float)st_rng_normal(&r);
        double v = s.x[i * features] + 0.5 * s.x[i * features + 1] +
                   0.3 * st_rng_normal(&r);
        if (classes == 0)
            s.y[i] = (float)(3.0 * v + 1.0);
        else {
            long c = lround(floor((v + 2.0) * (double)classes / 4.0));
            long top = (long)classes - 1;
            s.y[i] = (float)(c < 0 ? 0 : c > top ? top : c);
        }
    }
    s.d = (st_train_data){s.x, s.y, rows, features, 1, classes};
    return s;
}

static void dataset_free(dataset *s)
{
    free(s->x);
    free(s->y);
}

static st_gbdt_config config(const char *json_text)
{
    st_err err;
    json_t *m = json_loads(json_text, 0, NULL);
    assert_non_null(m);
    st_gbdt_config c;
    st_code rc = st_gbdt_config_from_json(
        json_object_get(m, "model"), json_object_get(m, "training"),
        json_object_get(m, "preprocessing"), &c, &err);
    if (rc != ST_OK)
        fail_msg("%s", err.msg);
    json_decref(m);
    return c;
}

static st_secret *fit_and_save(const st_gbdt_config *c, const dataset *tr,
                               const dataset *va)
{
    st_err err;
    st_gbdt *g = NULL;
    if (st_gbdt_fit(c, &tr->d, va ? &va->d : NULL, NULL, NULL, &g, &err))
        fail_msg("%s", err.msg);
    st_secret *s = NULL;
    if (st_gbdt_save_safetensors(g, NULL, &s, &err))
        fail_msg("%s", err.msg);
    st_gbdt_free(g);
    return s;
}

static void
test_same_seed_data_and_threads_give_the_same_model_bytes(void **state)
{
    (void)state;
    dataset tr = synth(3000, 8, 2, 1), va = synth(500, 8, 2, 2);
    st_gbdt_config c = config(
        "{\"model\": {\"type\": \"gbdt\", \"objective\": \"binary:logistic\","
        " \"rounds\": 30, \"subsample\": 0.7, \"colsample\": 0.6,"
        " \"seed\": 11, \"nthread\": 2}}");
    st_secret *a = fit_and_save(&c, &tr, &va);
    st_secret *b = fit_and_save(&c, &tr, &va);
    assert_int_equal(st_secret_len(a), st_secret_len(b));
    assert_memory_equal(st_secret_bytes(a), st_secret_bytes(b),
                        st_secret_len(a));
    /* and the seed matters: sampling rows and columns follows it (the
     * trees differ, not only the configuration in the metadata) */
    c.seed = 12;
    st_secret *d = fit_and_save(&c, &tr, &va);
    st_safetensors *sa = NULL, *sd = NULL;
    st_err err;
    assert_int_equal(
        st_safetensors_parse(st_secret_bytes(a), st_secret_len(a), &sa, &err),
        ST_OK);
    assert_int_equal(
        st_safetensors_parse(st_secret_bytes(d), st_secret_len(d), &sd, &err),
        ST_OK);
    const st_safetensor *ma = st_safetensors_find(sa, "xgboost.model");
    const st_safetensor *md = st_safetensors_find(sd, "xgboost.model");
    assert_non_null(ma);
    assert_non_null(md);
    assert_true(ma->nbytes != md->nbytes ||
                memcmp(ma->data, md->data, ma->nbytes) != 0);
    st_safetensors_free(sa);
    st_safetensors_free(sd);
    st_secret_free(a);
    st_secret_free(b);
    st_secret_free(d);
    dataset_free(&tr);
    dataset_free(&va);
}

struct rounds_seen {
    unsigned n, best, stopped_at;
    double best_loss;
    double losses[200];
};

static int on_round(const st_train_metrics *m, void *user)
{
    struct rounds_seen *s = user;
    assert_int_equal(m->epoch, s->n + 1);
    assert_true(m->has_validation);
    s->losses[s->n++] = m->loss;
    s->best = m->best_epoch;
    if (m->stopped)
        s->stopped_at = m->epoch;
    return 0;
}

static void test_early_stopping_keeps_the_best_round(void **state)
{
    (void)state;
    /* noisy labels and deep trees: the validation loss turns up early */
    dataset tr = synth(400, 6, 2, 3), va = synth(400, 6, 2, 4);
    for (size_t i = 0; i < tr.d.rows; i += 3)
        tr.y[i] = 1.0f - tr.y[i];
    st_gbdt_config c = config(
        "{\"model\": {\"type\": \"gbdt\", \"objective\": \"binary:logistic\","
        " \"rounds\": 200, \"max_depth\": 8, \"eta\": 0.5,"
        " \"early_stopping_rounds\": 5, \"nthread\": 1}}");
    struct rounds_seen s = {0};
    st_err err;
    st_gbdt *g = NULL;
    if (st_gbdt_fit(&c, &tr.d, &va.d, on_round, &s, &g, &err))
        fail_msg("%s", err.msg);
    assert_true(s.stopped_at > 0 && s.stopped_at < 200);
    assert_int_equal(s.stopped_at, s.best + 5);
    /* the best round is the first strict minimum of the losses seen */
    unsigned best = 0;
    for (unsigned i = 1; i < s.n; i++)
        if (s.losses[best] > s.losses[i])
            best = i;
    assert_int_equal(s.best, best + 1);
    assert_int_equal(st_gbdt_rounds(g), s.best);
    /* the kept model scores the best round's loss (XGBoost prints 6
     * significant digits) */
    st_train_metrics m;
    assert_int_equal(st_gbdt_evaluate(g, &va.d, &m, &err), ST_OK);
    assert_true(fabs(m.loss - s.losses[best]) < 1e-5 * (1 + m.loss));
    /* the fit's own final evaluation is the same, from XGBoost's cache */
    const st_train_metrics *f = st_gbdt_final(g);
    assert_true(f->loss == m.loss && f->accuracy == m.accuracy &&
                f->macro_f1 == m.macro_f1);
    assert_memory_equal(f->confusion, m.confusion, 4 * sizeof(uint64_t));
    st_gbdt_free(g);
    dataset_free(&tr);
    dataset_free(&va);
}

static void test_sealed_model_predicts_as_the_trained_one(void **state)
{
    (void)state;
    const char *specs[] = {
        "{\"model\": {\"type\": \"gbdt\", \"objective\": \"multi:softprob\","
        " \"rounds\": 20, \"nthread\": 1},"
        " \"preprocessing\": {\"scale\": \"standardize\"}}",
        "{\"model\": {\"type\": \"gbdt\", \"objective\": "
        "\"reg:squarederror\", \"rounds\": 20, \"nthread\": 1}}"};
    size_t classes[] = {3, 0};
    for (int k = 0; k < 2; k++) {
        dataset tr = synth(1000, 5, classes[k], 5),
                te = synth(200, 5, classes[k], 6);
        st_gbdt_config c = config(specs[k]);
        st_err err;
        st_gbdt *g = NULL, *h = NULL;
        assert_int_equal(st_gbdt_fit(&c, &tr.d, NULL, NULL, NULL, &g, &err),
                         ST_OK);
        st_secret *s = NULL;
        assert_int_equal(st_gbdt_save_safetensors(g, NULL, &s, &err), ST_OK);
        assert_int_equal(st_gbdt_load_safetensors(st_secret_bytes(s),
                                                  st_secret_len(s), &h, &err),
                         ST_OK);
        size_t per = classes[k] ? classes[k] : 1;
        float *p1 = calloc(200 * per, sizeof(float));
        float *p2 = calloc(200 * per, sizeof(float));
        assert_int_equal(st_gbdt_predict(g, te.x, 200, p1, &err), ST_OK);
        assert_int_equal(st_gbdt_predict(h, te.x, 200, p2, &err), ST_OK);
        assert_memory_equal(p1, p2, 200 * per * sizeof(float));
        /* the metrics are those of the predictions */
        st_train_metrics m;
        assert_int_equal(st_gbdt_evaluate(h, &te.d, &m, &err), ST_OK);
        if (classes[k]) {
            size_t right = 0;
            for (size_t i = 0; i < 200; i++) {
                size_t best = 0;
                for (size_t j = 1; j < per; j++)
                    if (p1[i * per + j] > p1[i * per + best])
                        best = j;
                right += best == (size_t)te.y[i];
            }
            assert_true(fabs(m.accuracy - right / 200.0) < 1e-12);
            assert_true(m.accuracy > 0.7);
            uint64_t n = 0;
            for (size_t i = 0; i < per * per; i++)
                n += m.confusion[i];
            assert_int_equal(n, 200);
        } else {
            double sse = 0;
            for (size_t i = 0; i < 200; i++)
                sse += (p1[i] - te.y[i]) * (double)(p1[i] - te.y[i]);
            assert_true(fabs(m.mse - sse / 200) < 1e-6 * (1 + m.mse));
            assert_true(m.r2 > 0.7);
        }
        json_t *imp = st_gbdt_importance(h, &err);
        assert_non_null(imp);
        json_t *v = json_object_get(imp, "values");
        assert_int_equal(json_array_size(v), 5);
        /* the label depends on features 0 and 1 only */
        double f0 = json_real_value(json_array_get(v, 0));
        double f4 = json_real_value(json_array_get(v, 4));
        assert_true(f0 > f4);
        json_decref(imp);
        free(p1);
        free(p2);
        st_secret_free(s);
        st_gbdt_free(g);
        st_gbdt_free(h);
        dataset_free(&tr);
        dataset_free(&te);
    }
}

static void expect_error(const char *json_text, const char *needle)
{
    json_t *m = json_loads(json_text, 0, NULL);
    assert_non_null(m);
    st_gbdt_config c;
    st_err err;
    st_err_clear(&err);
    st_code rc = st_gbdt_config_from_json(
        json_object_get(m, "model"), json_object_get(m, "training"),
        json_object_get(m, "preprocessing"), &c, &err);
    json_decref(m);
    assert_int_equal(rc, ST_E_INPUT);
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\" does not say \"%s\"", err.msg, needle);
}

static void test_gbdt_section_is_strict_and_names_the_key(void **state)
{
    (void)state;
    expect_error("{\"model\": {\"type\": \"gbdt\"}}", "objective");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": \"x\"}}",
                 "model.objective: unknown value \"x\"");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": "
                 "\"binary:logistic\", \"eta\": 0}}",
                 "eta");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": "
                 "\"binary:logistic\", \"rounds\": 0}}",
                 "rounds");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": "
                 "\"binary:logistic\", \"max_dept\": 3}}",
                 "max_dept");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": "
                 "\"binary:logistic\", \"tree_method\": \"exact\"}}",
                 "model.tree_method");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": "
                 "\"binary:logistic\", \"subsample\": 1.5}}",
                 "subsample");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": "
                 "\"binary:logistic\", \"colsample\": \"all\"}}",
                 "colsample");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": "
                 "\"binary:logistic\"}, \"training\": {\"epochs\": 3}}",
                 "epochs");
    expect_error("{\"model\": {\"type\": \"gbdt\", \"objective\": "
                 "\"binary:logistic\"}, \"preprocessing\": {\"scale\": "
                 "\"log\"}}",
                 "preprocessing.scale");
    /* and the configuration reads back to itself */
    st_gbdt_config c = config(
        "{\"model\": {\"type\": \"gbdt\", \"objective\": \"multi:softprob\","
        " \"rounds\": 7, \"max_depth\": 3, \"eta\": 0.25, \"lambda\": 2,"
        " \"alpha\": 0.5, \"min_child_weight\": 3, \"seed\": 9,"
        " \"early_stopping_rounds\": 4, \"nthread\": 1},"
        " \"training\": {\"validation_split\": 0.25},"
        " \"preprocessing\": {\"scale\": \"minmax\"}}");
    json_t *j = st_gbdt_config_to_json(&c);
    st_gbdt_config d;
    st_err err;
    assert_int_equal(
        st_gbdt_config_from_json(json_object_get(j, "model"),
                                 json_object_get(j, "training"),
                                 json_object_get(j, "preprocessing"), &d, &err),
        ST_OK);
    assert_memory_equal(&c, &d, sizeof(c));
    json_decref(j);
}

static void test_data_that_does_not_fit_the_objective_is_refused(void **state)
{
    (void)state;
    dataset reg = synth(100, 3, 0, 7), multi = synth(100, 3, 3, 8);
    st_err err;
    st_gbdt *g = NULL;
    st_gbdt_config c = config("{\"model\": {\"type\": \"gbdt\", \"objective\":"
                              " \"binary:logistic\", \"rounds\": 2}}");
    assert_int_equal(st_gbdt_fit(&c, &reg.d, NULL, NULL, NULL, &g, &err),
                     ST_E_INPUT);
    assert_non_null(strstr(err.msg, "model.objective"));
    assert_int_equal(st_gbdt_fit(&c, &multi.d, NULL, NULL, NULL, &g, &err),
                     ST_E_INPUT);
    c = config("{\"model\": {\"type\": \"gbdt\", \"objective\":"
               " \"multi:softprob\", \"rounds\": 2,"
               " \"early_stopping_rounds\": 2}}");
    assert_int_equal(st_gbdt_fit(&c, &multi.d, NULL, NULL, NULL, &g, &err),
                     ST_E_INPUT);
    assert_non_null(strstr(err.msg, "needs a validation set"));
    assert_null(g);
    dataset_free(&reg);
    dataset_free(&multi);
}

static void test_held_out_split_is_evaluated_on_the_rows_held_out(void **state)
{
    (void)state;
    dataset tr = synth(1000, 4, 2, 9);
    st_gbdt_config c = config(
        "{\"model\": {\"type\": \"gbdt\", \"objective\": \"binary:logistic\","
        " \"rounds\": 50, \"early_stopping_rounds\": 5, \"nthread\": 1},"
        " \"training\": {\"validation_split\": 0.2}}");
    struct rounds_seen s = {0};
    st_err err;
    st_gbdt *g = NULL;
    if (st_gbdt_fit(&c, &tr.d, NULL, on_round, &s, &g, &err))
        fail_msg("%s", err.msg);
    st_train_metrics m;
    assert_int_equal(st_gbdt_evaluate_holdout(g, &tr.d, &m, &err), ST_OK);
    uint64_t n = 0;
    for (size_t i = 0; i < 4; i++)
        n += m.confusion[i];
    assert_int_equal(n, 200);
    /* the loss XGBoost reported for the best round on the same rows */
    assert_true(fabs(m.loss - s.losses[s.best - 1]) < 1e-5 * (1 + m.loss));
    const st_train_metrics *f = st_gbdt_final(g);
    assert_true(f->loss == m.loss && f->accuracy == m.accuracy);
    assert_memory_equal(f->confusion, m.confusion, 4 * sizeof(uint64_t));
    st_gbdt_free(g);
    dataset_free(&tr);
}

static void test_wide_data_reports_the_top_importances_only(void **state)
{
    (void)state;
    dataset tr = synth(300, 3000, 2, 10);
    st_gbdt_config c =
        config("{\"model\": {\"type\": \"gbdt\", \"objective\": "
               "\"binary:logistic\", \"rounds\": 40, \"max_depth\": 3, "
               "\"nthread\": 1}}");
    st_err err;
    st_gbdt *g = NULL;
    assert_int_equal(st_gbdt_fit(&c, &tr.d, NULL, NULL, NULL, &g, &err), ST_OK);
    json_t *imp = st_gbdt_importance(g, &err);
    assert_non_null(imp);
    assert_null(json_object_get(imp, "values"));
    assert_int_equal(json_integer_value(json_object_get(imp, "features")),
                     3000);
    json_t *top = json_object_get(imp, "top");
    size_t n = json_array_size(top);
    assert_true(n > 0 && n <= ST_GBDT_IMPORTANCE_TOP);
    double prev = INFINITY;
    int has0 = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(top, i);
        double v = json_real_value(json_array_get(e, 1));
        assert_true(v > 0 && v <= prev);
        prev = v;
        has0 |= json_integer_value(json_array_get(e, 0)) == 0;
    }
    /* the label depends on feature 0 most: it is kept, and first */
    assert_true(has0);
    assert_int_equal(
        json_integer_value(json_array_get(json_array_get(top, 0), 0)), 0);
    json_decref(imp);
    st_gbdt_free(g);
    dataset_free(&tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_same_seed_data_and_threads_give_the_same_model_bytes),
        cmocka_unit_test(test_early_stopping_keeps_the_best_round),
        cmocka_unit_test(test_sealed_model_predicts_as_the_trained_one),
        cmocka_unit_test(test_gbdt_section_is_strict_and_names_the_key),
        cmocka_unit_test(test_data_that_does_not_fit_the_objective_is_refused),
        cmocka_unit_test(test_held_out_split_is_evaluated_on_the_rows_held_out),
        cmocka_unit_test(test_wide_data_reports_the_top_importances_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
