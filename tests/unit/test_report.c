/*
 * test_report.c: the training report's charts (src/report/svg.c) and page
 * (src/report/html.c): one path per curve, one cell per matrix entry with
 * its count, one bar per feature, the charts a task has, and every name
 * from a job escaped (and made well-formed) wherever it lands. The page
 * as a browser renders it is checked by tests/cli/job_report.sh.
 */
#include "st_test.h"

#include <math.h>

#include "report/svg.h"
#include <sealtrain/sealtrain.h>

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_escape_makes_names_inert_and_well_formed(void **state)
{
    (void)state;
    st_buf b;
    st_buf_init(&b);
    st_err e;
    assert_int_equal(
        st_buf_append_html(&b, "<script>alert(1)</script>&\"'", &e), ST_OK);
    assert_string_equal((char *)b.data, "&lt;script&gt;alert(1)&lt;/script&gt;"
                                        "&amp;&quot;&#39;");
    b.len = 0;
    /* a C0 control, a lone continuation byte, an overlong '<', a
     * surrogate: each is U+FFFD; good UTF-8 stays as it is */
    assert_int_equal(st_buf_append_html(&b,
                                        "a\x01"
                                        "b\x80"
                                        "c\xc0\xbc"
                                        "d\xed\xa0\x80"
                                        "e\xc3\xa9",
                                        &e),
                     ST_OK);
    assert_string_equal((char *)b.data, "a\xef\xbf\xbd"
                                        "b\xef\xbf\xbd"
                                        "c\xef\xbf\xbd\xef\xbf\xbd"
                                        "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                        "e\xc3\xa9");
    st_buf_free(&b);
}

static void test_line_chart_draws_one_path_per_series(void **state)
{
    (void)state;
    double x[4] = {1, 2, 3, 4}, a[4] = {0.9, 0.5, NAN, 0.2},
           v[4] = {1.0, 0.7, 0.6, 0.65};
    st_svg_series s[2] = {{"training", x, a, 4, 0},
                          {"<i>validation</i>", x, v, 4, 1}};
    st_svg_lines c = {"Loss", "epoch", "loss", s, 2, 3, "epoch 3 kept"};
    st_buf b;
    st_buf_init(&b);
    st_err e;
    assert_int_equal(st_svg_line_chart(&b, &c, &e), ST_OK);
    const char *svg = (const char *)b.data;
    assert_int_equal(count(svg, "<path class=\"series\""), 2);
    /* the missing point is skipped: three points in the first curve */
    const char *p = strstr(svg, "<path class=\"series\" d=\"");
    const char *end = strchr(p + 24, '"');
    size_t pts = 0;
    for (const char *q = p; q < end; q++)
        pts += *q == 'M' || *q == 'L';
    assert_int_equal(pts, 3);
    assert_non_null(strstr(svg, "&lt;i&gt;validation&lt;/i&gt;"));
    assert_null(strstr(svg, "<i>"));
    assert_int_equal(count(svg, "class=\"legend\""), 2);
    assert_int_equal(count(svg, "class=\"axis-label\""), 2);
    assert_int_equal(count(svg, "class=\"marker\""), 1);
    assert_non_null(strstr(svg, ">epoch 3 kept</text>"));
    assert_int_equal(count(svg, "<svg "), 1);
    assert_int_equal(count(svg, "</svg>"), 1);
    st_buf_free(&b);

    /* nothing to draw is an error the report leaves out */
    double none[2] = {NAN, NAN};
    st_svg_series empty = {"training", x, none, 2, 0};
    st_svg_lines c2 = {"Loss", "epoch", "loss", &empty, 1, NAN, NULL};
    st_buf_init(&b);
    assert_int_equal(st_svg_line_chart(&b, &c2, &e), ST_E_INPUT);
    st_buf_free(&b);
}

static void test_heatmap_has_a_cell_and_count_per_entry(void **state)
{
    (void)state;
    const char *labels[3] = {"cat", "dog", "<b>bird</b>"};
    uint64_t counts[9] = {10, 2, 0, 1, 12, 3, 0, 0, 7};
    st_buf b;
    st_buf_init(&b);
    st_err e;
    assert_int_equal(st_svg_heatmap(&b, "Confusion", 3, labels, counts, &e),
                     ST_OK);
    const char *svg = (const char *)b.data;
    assert_int_equal(count(svg, "<rect class=\"cell\""), 9);
    assert_int_equal(count(svg, "class=\"count\""), 9);
    assert_non_null(strstr(svg, ">12</text>"));
    assert_non_null(
        strstr(svg, "true dog, predicted &lt;b&gt;bird&lt;/b&gt;: 3"));
    assert_null(strstr(svg, "<b>"));
    /* the diagonal of a row that is all one class is the darkest shade */
    assert_non_null(strstr(svg, "fill=\"#08306b\""));
    st_buf_free(&b);
}

static void test_bars_one_per_feature_with_long_names_shortened(void **state)
{
    (void)state;
    const char *names[3] = {
        "mean radius", "<script>alert(1)</script>",
        "a name far longer than the chart leaves room for, in full here"};
    double v[3] = {3.5, 1.25, 0.5};
    st_buf b;
    st_buf_init(&b);
    st_err e;
    assert_int_equal(st_svg_bars(&b, "Importance", "gain", 3, names, v, &e),
                     ST_OK);
    const char *svg = (const char *)b.data;
    assert_int_equal(count(svg, "<rect class=\"bar\""), 3);
    assert_null(strstr(svg, "<script"));
    assert_non_null(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    /* shortened on the axis (with an ellipsis), whole in the tooltip */
    assert_non_null(strstr(svg, "a name far longer than the char\xe2\x80\xa6"));
    assert_non_null(strstr(svg, "<title>a name far longer than the chart "
                                "leaves room for, in full here</title>"));
    st_buf_free(&b);
}

/* A report document as st_report_collect builds it. */
static json_t *doc_of(const char *text)
{
    json_error_t je;
    json_t *d = json_loads(text, 0, &je);
    assert_non_null(d);
    return d;
}

static const char class_doc[] =
    "{\"job\": {\"id\": \"j1\", \"name\": \"x\\\"<em>\", \"state\": "
    "\"succeeded\"},"
    " \"hyperparameters\": {\"model\": {\"type\": \"gbdt\", \"eta\": 0.3,"
    "   \"early_stopping_rounds\": 3},"
    "   \"preprocessing\": {\"columns\": {\"<img src=x>\": {\"scale\": "
    "\"none\"}}}},"
    " \"metrics\": {\"epoch\": 3, \"epochs\": 3, \"validation\": true,"
    "   \"best_epoch\": 2, \"stopped\": true,"
    "   \"history\": [{\"epoch\": 1, \"train_loss\": 0.6, \"loss\": 0.7,"
    "     \"accuracy\": 0.8}, {\"epoch\": 2, \"loss\": 0.5, \"accuracy\": 0.9},"
    "     {\"epoch\": 3, \"train_loss\": 0.3, \"loss\": 0.55, \"accuracy\": "
    "0.85}],"
    "   \"final_evaluation\": {\"accuracy\": 0.9, \"evaluated_on\": "
    "\"validation dataset\", \"confusion\": [[5, 1], [0, 4]]},"
    "   \"feature_importance\": {\"type\": \"gain\", \"values\": [0.5, 0, "
    "2.0]}},"
    " \"feature_names\": [\"<script>alert(1)</script>\", \"b\", \"c\"],"
    " \"datasets\": [{\"name\": \"d<1>\", \"role\": \"train\", \"sha256\": "
    "\"ab\"}],"
    " \"attestation\": {\"tee\": \"sim\", \"pass\": true, \"reason\": "
    "\"pass\", \"ears\": [{\"policy_of\": \"dataset:d<1>\", \"sha256\": "
    "\"cd\"}]},"
    " \"model\": {\"name\": \"m\", \"version\": 2, \"sha256\": \"ef\"}}";

static void test_report_charts_follow_the_task(void **state)
{
    (void)state;
    json_t *d = doc_of(class_doc);
    st_report_chart *c;
    size_t n;
    st_err e;
    assert_int_equal(st_report_charts(d, &c, &n, &e), ST_OK);
    assert_int_equal(n, 4);
    assert_string_equal(c[0].name, "loss.svg");
    assert_string_equal(c[1].name, "accuracy.svg");
    assert_string_equal(c[2].name, "confusion.svg");
    assert_string_equal(c[3].name, "importance.svg");
    /* accuracy has no training curve in this history: one series */
    assert_int_equal(count((char *)c[1].svg.data, "class=\"series\""), 1);
    /* a zero gain is no bar */
    assert_int_equal(count((char *)c[3].svg.data, "class=\"bar\""), 2);
    st_report_charts_free(c, n);
    json_decref(d);

    d = doc_of("{\"metrics\": {\"history\": [{\"epoch\": 1, \"loss\": 3,"
               " \"mse\": 3, \"mae\": 1.5, \"r2\": 0.1}, {\"epoch\": 2,"
               " \"loss\": 2, \"mse\": 2, \"mae\": 1.2, \"r2\": 0.4}],"
               " \"final_evaluation\": {\"mse\": 2, \"r2\": 0.4}}}");
    assert_int_equal(st_report_charts(d, &c, &n, &e), ST_OK);
    assert_int_equal(n, 4);
    assert_string_equal(c[0].name, "loss.svg");
    assert_string_equal(c[1].name, "mse.svg");
    assert_string_equal(c[2].name, "mae.svg");
    assert_string_equal(c[3].name, "r2.svg");
    st_report_charts_free(c, n);
    json_decref(d);
}

static void test_report_html_escapes_every_name(void **state)
{
    (void)state;
    json_t *d = doc_of(class_doc);
    st_buf b;
    st_buf_init(&b);
    st_err e;
    assert_int_equal(st_report_html(d, &b, &e), ST_OK);
    const char *h = (const char *)b.data;
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "<img"));
    assert_null(strstr(h, "<em>"));
    assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(h, "x&quot;&lt;em&gt;"));
    assert_non_null(strstr(h, "preprocessing.columns.&lt;img src=x&gt;.scale"));
    assert_non_null(strstr(h, "dataset:d&lt;1&gt;"));
    assert_non_null(strstr(h, "Content-Security-Policy"));
    assert_non_null(strstr(h, "default-src 'none'"));
    assert_non_null(strstr(h, "early stopping ended the run"));
    assert_non_null(strstr(h, "the model holds round 2"));
    assert_int_equal(count(h, "<svg "), 4);
    /* nothing fetched from elsewhere */
    assert_null(strstr(h, " src=\""));
    assert_null(strstr(h, " href=\""));
    st_buf_free(&b);
    json_decref(d);
}

static void test_report_names_the_kept_epoch_only_when_restored(void **state)
{
    (void)state;
    static const char *const es[] = {"",
                                     ", \"early_stopping\": "
                                     "{\"patience\": 2}",
                                     ", \"early_stopping\": {\"patience\": "
                                     "2, \"restore_best\": false}"};
    for (int i = 0; i < 3; i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"hyperparameters\": {\"model\": {\"type\": \"mlp\"}, "
                 "\"training\": {\"epochs\": 5%s}}, \"metrics\": {\"epoch\": "
                 "5, \"epochs\": 5, \"best_epoch\": 3, \"history\": "
                 "[{\"epoch\": 1, \"loss\": 1}, {\"epoch\": 5, \"loss\": "
                 "0.5}]}}",
                 es[i]);
        json_t *d = doc_of(text);
        st_buf b;
        st_buf_init(&b);
        st_err e;
        assert_int_equal(st_report_html(d, &b, &e), ST_OK);
        const char *h = (const char *)b.data;
        /* only early stopping that restores the best weights keeps them */
        assert_int_equal(strstr(h, "the model holds epoch 3") != NULL, i == 1);
        assert_int_equal(count(h, "class=\"marker\""), i == 1);
        st_buf_free(&b);
        json_decref(d);
    }
}

static void test_report_leaves_out_what_is_malformed(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{}", "[]", "{\"metrics\": 3, \"job\": [], \"attestation\": \"x\"}",
        "{\"metrics\": {\"history\": [1, {\"epoch\": \"a\"}, {\"epoch\": 1,"
        " \"loss\": \"x\"}], \"final_evaluation\": {\"confusion\": [[1, 2],"
        " [3]]}, \"feature_importance\": {\"features\": 2, \"top\": [[5, 1.0],"
        " [-1, 2], [\"a\", 1], [1]]}}}",
        "{\"metrics\": {\"final_evaluation\": {\"accuracy\": 1, \"confusion\":"
        " [[-1]]}}, \"key_brokers\": [{\"ears\": \"a,,b\"}], \"datasets\":"
        " [1, {}], \"hyperparameters\": {\"model\": [1, {\"a\": null}]}}"};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_t *d = doc_of(docs[i]);
        st_buf b;
        st_buf_init(&b);
        st_err e;
        assert_int_equal(st_report_html(d, &b, &e), ST_OK);
        assert_int_equal(count((char *)b.data, "<svg "), 0);
        assert_non_null(strstr((char *)b.data, "</html>"));
        st_buf_free(&b);
        json_decref(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_makes_names_inert_and_well_formed),
        cmocka_unit_test(test_line_chart_draws_one_path_per_series),
        cmocka_unit_test(test_heatmap_has_a_cell_and_count_per_entry),
        cmocka_unit_test(test_bars_one_per_feature_with_long_names_shortened),
        cmocka_unit_test(test_report_charts_follow_the_task),
        cmocka_unit_test(test_report_html_escapes_every_name),
        cmocka_unit_test(test_report_names_the_kept_epoch_only_when_restored),
        cmocka_unit_test(test_report_leaves_out_what_is_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
