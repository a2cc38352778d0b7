/*
 * test_readers.c: the CSV, LIBSVM and IDX readers, their validation
 * errors, label mapping, and the tensor layout they produce.
 */
#include "data/rows.h"
#include "st_test.h"

#include <locale.h>
#include <math.h>
#include <zlib.h>

#include <sealtrain/readers.h>
#include <sealtrain/sealtrain.h>

#include "data/data_internal.h"

/* A sink that collects the tensor into ordinary memory (tests only). */
static ST_MUST_CHECK st_code collect(void *ctx, const uint8_t *p, size_t n,
                                     st_err *err)
{
    return st_buf_append(ctx, p, n, err);
}

/* Scans and converts `in`; returns the tensor bytes in *out. */
static ST_MUST_CHECK st_code convert(const st_data_input *in,
                                     st_data_schema *sc, st_buf *out, st_err *e)
{
    st_buf_init(out);
    st_code rc = st_data_scan(in, sc, NULL, NULL, e);
    if (rc)
        return rc;
    uint64_t size;
    uint8_t sha[32], sha2[32];
    rc = st_data_convert(in, sc, collect, out, NULL, NULL, &size, sha, e);
    if (rc)
        return rc;
    assert_int_equal(size, out->len);
    st_sha256(out->data, out->len, sha2);
    assert_memory_equal(sha, sha2, 32);
    return ST_OK;
}

static st_data_input mem_input(st_data_format f, const char *text,
                               const char *label)
{
    st_data_input in = {0};
    in.format = f;
    in.path = "t.csv";
    in.label = label;
    in.data = text;
    in.data_len = strlen(text);
    return in;
}

/* Converts CSV/LIBSVM text expecting failure; returns the error. */
static st_err expect_fail(st_data_format f, const char *text, const char *label)
{
    st_data_input in = mem_input(f, text, label);
    st_data_schema sc;
    st_buf b;
    st_err e;
    st_err_clear(&e);
    st_code rc = convert(&in, &sc, &b, &e);
    if (rc == ST_OK)
        fail_msg("accepted invalid input: %s", text);
    st_buf_free(&b);
    return e;
}

static void assert_msg(const st_err *e, const char *want)
{
    if (!strstr(e->msg, want))
        fail_msg("error \"%s\" lacks \"%s\"", e->msg, want);
}

/* Converts `in`, which must succeed, and parses the tensor into *v (which
 * points into *b). The caller frees *sc and *b. */
static void convert_view(const st_data_input *in, st_data_schema *sc, st_buf *b,
                         st_tensor_view *v)
{
    st_err e;
    assert_st_ok(convert(in, sc, b, &e), &e);
    assert_st_ok(st_tensor_parse(b->data, b->len, v, &e), &e);
}

static void assert_shape(const st_data_schema *sc, uint64_t rows, uint64_t cols,
                         uint32_t classes)
{
    assert_int_equal(sc->rows, rows);
    assert_int_equal(sc->cols, cols);
    assert_int_equal(sc->classes, classes);
}

/* A class table's schema: its shape, labels taken as they are, features
 * named prefix0 .. prefix<cols-1>, and the label column's name. */
static void assert_table(const st_data_schema *sc, uint64_t rows, uint64_t cols,
                         uint32_t classes, const char *prefix,
                         const char *label)
{
    char first[64], last[64];
    assert_shape(sc, rows, cols, classes);
    assert_int_equal(sc->labels_mapped, 0);
    snprintf(first, sizeof(first), "%s0", prefix);
    snprintf(last, sizeof(last), "%s%llu", prefix,
             (unsigned long long)(cols - 1));
    assert_string_equal(sc->feature_names[0], first);
    assert_string_equal(sc->feature_names[cols - 1], last);
    assert_string_equal(sc->label_name, label);
}

static void test_csv_digits_converts_exactly(void **state)
{
    (void)state;
    st_data_input in = {0};
    in.format = ST_DATA_CSV;
    in.path = "examples/data/digits.csv";
    in.label = "label";
    st_data_schema sc;
    st_buf b;
    st_err e;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_table(&sc, 1797, 64, 10, "pixel_", "label");
    assert_int_equal(v.rows, 1797);
    /* first row of the file: 0,0,5,13,9,1,0,0,... label 0 */
    assert_true(v.features[2] == 5.0f && v.features[3] == 13.0f);
    assert_int_equal(v.labels[0], 0);
    assert_int_equal(v.labels[1], 1);
    assert_int_equal(b.len, 64 + 1797 * 64 * 4 + 1797 * 4 + 10 * 5);
    const char *name;
    size_t nl;
    assert_st_ok(st_tensor_class_name(&v, 7, &name, &nl, &e), &e);
    assert_int_equal(nl, 1);
    assert_true(name[0] == '7');
    st_data_schema_free(&sc);
    st_buf_free(&b);
}

static void test_csv_quotes_crlf_and_string_labels(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF\"a,b\",\"say \"\"hi\"\"\",class\r\n"
                       "1.5,\"-2e1\",\"dog\"\r\n"
                       "0,3,\"cat, black\"\r\n"
                       "7,.25,\"multi\nline\"\r\n"
                       "1,1,dog";
    st_data_input in = mem_input(ST_DATA_CSV, text, "class");
    st_data_schema sc;
    st_buf b;
    st_err e;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_int_equal(sc.rows, 4);
    assert_int_equal(sc.cols, 2);
    assert_string_equal(sc.feature_names[0], "a,b");
    assert_string_equal(sc.feature_names[1], "say \"hi\"");
    assert_int_equal(sc.classes, 3);
    assert_int_equal(sc.labels_mapped, 1);
    assert_true(v.features[0] == 1.5f && v.features[1] == -20.0f);
    assert_true(v.features[5] == 0.25f);
    /* bytewise order: "cat, black" < "dog" < "multi\nline" */
    assert_int_equal(v.labels[0], 1);
    assert_int_equal(v.labels[1], 0);
    assert_int_equal(v.labels[2], 2);
    assert_int_equal(v.labels[3], 1);
    const char *name;
    size_t nl;
    assert_st_ok(st_tensor_class_name(&v, 2, &name, &nl, &e), &e);
    assert_int_equal(nl, 10);
    assert_memory_equal(name, "multi\nline", 10);
    st_data_schema_free(&sc);
    st_buf_free(&b);
}

static void test_csv_label_by_index_and_numeric_label_order(void **state)
{
    (void)state;
    /* labels -1 and 10 and 2: numbers, not canonical class indices */
    const char *text = "y,x\n-1,0\n10,1\n2,2\n";
    st_data_input in = mem_input(ST_DATA_CSV, text, "0");
    st_data_schema sc;
    st_buf b;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_int_equal(sc.cols, 1);
    assert_string_equal(sc.label_name, "y");
    /* numeric order: -1 < 2 < 10 */
    assert_int_equal(v.labels[0], 0);
    assert_int_equal(v.labels[1], 2);
    assert_int_equal(v.labels[2], 1);
    st_data_schema_free(&sc);
    st_buf_free(&b);
}

static void test_csv_errors_name_line_column_and_expectation(void **state)
{
    (void)state;
    struct {
        const char *text, *label, *want;
    } cases[] = {
        {"", "y", "empty file: expected a header row"},
        {"a,y\n", "y", "no data rows"},
        {"a,a,y\n1,2,3\n", "y", "t.csv:1:2: duplicate header name \"a\""},
        {"a,,y\n1,2,3\n", "y", "t.csv:1:2: empty header name"},
        {"a,y\n1,2\n3\n", "y",
         "t.csv:3: expected 2 fields (as in the "
         "header), found 1"},
        {"a,b,y\n1,x2,0\n", "y",
         "t.csv:2:2: column \"b\": expected a number, found \"x2\""},
        {"a,y\n1,0\nnan,1\n", "y",
         "t.csv:3:1: column \"a\": NaN and "
         "infinity are not allowed"},
        {"a,y\n-Infinity,1\n", "y", "NaN and infinity are not allowed"},
        {"a,y\n1e39,1\n", "y",
         "t.csv:2:1: column \"a\": number out of "
         "float32 range"},
        {"a,y\n,1\n", "y", "found an empty field"},
        {"a,y\n 1,1\n", "y", "expected a number, found \" 1\""},
        {"a,y\n0x10,1\n", "y", "expected a number"},
        {"a,y\n1,5\n2,\n", "y",
         "t.csv:3:2: column \"y\": expected a "
         "label, found an empty field"},
        {"a,y\n1\"2,1\n", "y", "t.csv:2:1: a '\"' inside an unquoted field"},
        {"a,y\n\"1\"x,1\n", "y",
         "unexpected character after a closing "
         "quote"},
        {"a,y\n\"1,1\n", "y", "t.csv:2:1: unterminated quoted field"},
        {"a,y\n1,1\r2,0\n", "y",
         "carriage return not followed by a line "
         "feed"},
        {"a,y\n1,1\n\n2,0\n", "y", "t.csv:3:1: empty line"},
        {"a,y\n1,1\n", "z", "no label column \"z\""},
        {"a,y\n1,1\n", "2", "no label column \"2\""},
        {"a\n1\n", "a", "expected at least one feature and the label"},
        {"a,y\n1,1\n1,1.0\n", "y", "are the same number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        st_err e = expect_fail(ST_DATA_CSV, cases[i].text, cases[i].label);
        assert_msg(&e, cases[i].want);
    }
}

static void test_number_parse_is_strict_and_correctly_rounded(void **state)
{
    (void)state;
    /* a locale with a decimal comma must change nothing */
    setlocale(LC_NUMERIC, "de_DE.UTF-8");
    const char *good[] = {"0",
                          "-0",
                          "1.5",
                          "+2",
                          ".5",
                          "5.",
                          "1e-50",
                          "3.4028235e38",
                          "1E+3",
                          "0.1",
                          "123456789012345678901234",
                          "0.30000000000000004441",
                          "-7.0e-3",
                          "16777217"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        float f;
        assert_int_equal(st_data_parse_float(good[i], strlen(good[i]), &f),
                         ST_NUM_OK);
        setlocale(LC_NUMERIC, "C");
        assert_true(f == (float)strtod(good[i], NULL));
        setlocale(LC_NUMERIC, "de_DE.UTF-8");
    }
    setlocale(LC_NUMERIC, "C");
    const char *bad[] = {"",   " 1", "1 ",  "1,5",   "0x10", "1e",
                         "e5", ".",  "--1", "1.2.3", "1e+",  "١"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        float f;
        assert_int_not_equal(st_data_parse_float(bad[i], strlen(bad[i]), &f),
                             ST_NUM_OK);
    }
    float f;
    assert_int_equal(st_data_parse_float("NaN", 3, &f), ST_NUM_NONFINITE);
    assert_int_equal(st_data_parse_float("-inf", 4, &f), ST_NUM_NONFINITE);
    assert_int_equal(st_data_parse_float("3.5e38", 6, &f), ST_NUM_RANGE);
    assert_int_equal(st_data_parse_float("1e999999", 8, &f), ST_NUM_RANGE);
    /* never reads past the length */
    assert_int_equal(st_data_parse_float("12x", 2, &f), ST_NUM_OK);
    assert_true(f == 12.0f);
}

static void test_libsvm_sparse_rows_become_dense(void **state)
{
    (void)state;
    const char *text = "# a comment line\n"
                       "+1 1:0.5 3:2 # tail comment\r\n"
                       "-1 2:-1\n"
                       "-1\t4:7\n";
    st_data_input in = mem_input(ST_DATA_LIBSVM, text, NULL);
    st_data_schema sc;
    st_buf b;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_shape(&sc, 3, 4, 2);
    const float want[12] = {0.5f, 0, 2, 0, 0, -1, 0, 0, 0, 0, 0, 7};
    assert_memory_equal(v.features, want, sizeof(want));
    assert_int_equal(v.labels[0], 1); /* +1 after -1 */
    assert_int_equal(v.labels[1], 0);
    assert_int_equal(v.labels[2], 0);
    st_data_schema_free(&sc);
    st_buf_free(&b);
}

static void test_libsvm_errors_name_line_and_column(void **state)
{
    (void)state;
    struct {
        const char *text, *want;
    } cases[] = {
        {"", "empty file"},
        {"1 0:1\n", "t.csv:1:3: indices are 1-based"},
        {"1 2:1 2:3\n", "t.csv:1:7: indices must be strictly increasing: 2 "
                        "after 2"},
        {"1 3:1 2:3\n", "strictly increasing: 2 after 3"},
        {"1 qid:3 1:1\n", "qid (svmlight ranking groups) is not supported"},
        {"1 1:1\n1 abc\n", "t.csv:2:3: expected index:value, found \"abc\""},
        {"1 1:nan\n", "t.csv:1:5: value: NaN and infinity"},
        {"1 1:\n", "value: expected a number, found an empty field"},
        {"x 1:1\n", "t.csv:1:1: label: expected a number"},
        {"1 1:1\n\n", "t.csv:2:1: empty line"},
        {"1 -1:1\n", "expected a decimal index"},
        {"1\n", "no features"},
        {"# only\n", "no data rows"},

    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        st_err e = expect_fail(ST_DATA_LIBSVM, cases[i].text, NULL);
        assert_msg(&e, cases[i].want);
    }
}

static void test_libsvm_refuses_a_tensor_beyond_the_size_limit(void **state)
{
    (void)state;
    /* 16385 rows whose largest index is 2^20: 64 GiB and 4 MiB dense */
    size_t rows = 16385, cap = rows * 8 + 32, off = 0;
    char *text = malloc(cap);
    off += (size_t)snprintf(text, cap, "1 1048576:1\n");
    for (size_t i = 1; i < rows; i++)
        off += (size_t)snprintf(text + off, cap - off, "0 1:1\n");
    st_err e = expect_fail(ST_DATA_LIBSVM, text, NULL);
    assert_msg(&e, "make a dense tensor of more than 64 GiB");
    free(text);
}

/* An IDX file: type, dims, then raw (already big-endian) data. */
static size_t idx_make(uint8_t *out, uint8_t type, const uint32_t *dims,
                       unsigned nd, const void *data, size_t dlen)
{
    out[0] = out[1] = 0;
    out[2] = type;
    out[3] = (uint8_t)nd;
    for (unsigned i = 0; i < nd; i++) {
        out[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        out[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        out[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        out[7 + 4 * i] = (uint8_t)dims[i];
    }
    memcpy(out + 4 + 4 * nd, data, dlen);
    return 4 + 4 * nd + dlen;
}

static st_data_input idx_input(const uint8_t *img, size_t ilen,
                               const uint8_t *lab, size_t llen)
{
    st_data_input in = {0};
    in.format = ST_DATA_IDX;
    in.path = "images.idx";
    in.label = "labels.idx";
    in.data = img;
    in.data_len = ilen;
    in.labels = lab;
    in.labels_len = llen;
    return in;
}

static void test_idx_image_and_label_pair_converts(void **state)
{
    (void)state;
    uint8_t img[64], lab[64];
    const uint32_t d3[3] = {3, 2, 2}, d1[1] = {3};
    const uint8_t pix[12] = {0, 1, 2, 3, 255, 254, 253, 252, 9, 8, 7, 6};
    const uint8_t labs[3] = {2, 0, 2};
    size_t il = idx_make(img, 0x08, d3, 3, pix, 12);
    size_t ll = idx_make(lab, 0x08, d1, 1, labs, 3);
    st_data_input in = idx_input(img, il, lab, ll);
    st_data_schema sc;
    st_buf b;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_shape(&sc, 3, 4, 3);
    assert_true(v.features[4] == 255.0f && v.features[11] == 6.0f);
    assert_int_equal(v.labels[0], 2);
    st_data_schema_free(&sc);
    st_buf_free(&b);

    /* big-endian float32 items */
    const uint8_t fl[8] = {0x3f, 0xc0, 0, 0, 0xc0, 0x20, 0, 0}; /* 1.5 -2.5 */
    const uint32_t df[2] = {2, 1}, dl[1] = {2};
    const uint8_t labs2[2] = {1, 0};
    il = idx_make(img, 0x0D, df, 2, fl, 8);
    ll = idx_make(lab, 0x08, dl, 1, labs2, 2);
    in = idx_input(img, il, lab, ll);
    convert_view(&in, &sc, &b, &v);
    assert_true(v.features[0] == 1.5f && v.features[1] == -2.5f);
    st_data_schema_free(&sc);
    st_buf_free(&b);
}

static void test_idx_rejects_bad_headers_and_values(void **state)
{
    (void)state;
    uint8_t img[64], lab[64];
    const uint32_t d2[2] = {2, 2}, d1[1] = {2}, d3[1] = {3};
    const uint8_t pix[4] = {1, 2, 3, 4}, labs[3] = {0, 1, 1};
    size_t il = idx_make(img, 0x08, d2, 2, pix, 4);
    size_t ll = idx_make(lab, 0x08, d1, 1, labs, 2);
    struct {
        size_t il, ll;
        const char *want;
    } cases[] = {
        {il - 1, ll, "images.idx: IDX size mismatch"},
        {il, ll + 1, "labels.idx: IDX size mismatch"},
        {0, ll, "images.idx: empty file"},
        {3, ll, "not an IDX file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        st_data_input in = idx_input(img, cases[i].il, lab, cases[i].ll);
        st_data_schema sc;
        st_err e;
        assert_int_equal(st_data_scan(&in, &sc, NULL, NULL, &e), ST_E_INPUT);
        assert_msg(&e, cases[i].want);
    }
    st_data_schema sc;
    st_err e;
    /* label count differs from item count */
    size_t ll3 = idx_make(lab, 0x08, d3, 1, labs, 3);
    st_data_input in = idx_input(img, il, lab, ll3);
    assert_int_equal(st_data_scan(&in, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "3 labels for 2 items");
    /* float labels */
    const uint8_t fz[8] = {0};
    ll = idx_make(lab, 0x0D, d1, 1, fz, 8);
    in = idx_input(img, il, lab, ll);
    assert_int_equal(st_data_scan(&in, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "an integer type");
    /* unknown type, NaN item */
    img[2] = 0x0A;
    ll = idx_make(lab, 0x08, d1, 1, labs, 2);
    in = idx_input(img, il, lab, ll);
    assert_int_equal(st_data_scan(&in, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "unknown IDX type 0x0a");
    const uint8_t nan[8] = {0x7f, 0xc0, 0, 0, 0, 0, 0, 0};
    const uint32_t dn[2] = {2, 1};
    il = idx_make(img, 0x0D, dn, 2, nan, 8);
    in = idx_input(img, il, lab, ll);
    assert_int_equal(st_data_scan(&in, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "images.idx:1:1: value 1: NaN");
}

/* Writes a CSV with `rows` rows of `cols` features to path. */
static void write_csv(const char *path, size_t rows, size_t cols,
                      size_t long_field)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t c = 0; c < cols; c++)
        fprintf(f, "f%zu,", c);
    fprintf(f, "y\n");
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            if (r == rows / 2 && c == 0 && long_field) {
                /* one very long (but valid) number: forces the window to
                 * grow past its initial 1 MiB */
                fputc('1', f);
                for (size_t i = 0; i < long_field; i++)
                    fputc('0', f);
                fprintf(f, "e-%zu,", long_field);
            } else {
                fprintf(f, "%zu.%02zu,", (r * 31 + c) % 1000, c % 100);
            }
        }
        fprintf(f, "%zu\r\n", r % 7);
    }
    fclose(f);
}

static void test_streaming_file_matches_memory_across_windows(void **state)
{
    (void)state;
    char *dir = st_test_tmpdir("readers");
    char path[4200];
    snprintf(path, sizeof(path), "%s/big.csv", dir);
    write_csv(path, 30000, 20, 0); /* ~4 MiB: several windows */
    st_data_input fin = {ST_DATA_CSV, path, "y", NULL, 0, NULL, 0, 0, 0};
    st_data_schema sc, sc2;
    st_buf b, b2;
    st_err e;
    assert_st_ok(convert(&fin, &sc, &b, &e), &e);
    assert_int_equal(sc.rows, 30000);
    assert_int_equal(sc.classes, 7);
    unsigned char *text;
    size_t len;
    assert_st_ok(st_fs_read_all(path, 64u << 20, &text, &len, &e), &e);
    st_data_input min = fin;
    min.data = text;
    min.data_len = len;
    assert_st_ok(convert(&min, &sc2, &b2, &e), &e);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    st_tensor_view v;
    assert_st_ok(st_tensor_parse(b.data, b.len, &v, &e), &e);
    assert_true(v.features[20 * 100 + 3] == (float)strtod("103.03", NULL));
    st_data_schema_free(&sc);
    st_data_schema_free(&sc2);
    st_buf_free(&b);
    st_buf_free(&b2);
    free(text);

    /* a 1.5 MiB field grows the window; the value still parses */
    write_csv(path, 10, 2, 1500000);
    assert_st_ok(convert(&fin, &sc, &b, &e), &e);
    assert_st_ok(st_tensor_parse(b.data, b.len, &v, &e), &e);
    assert_true(v.features[5 * 2] == 1.0f);
    st_data_schema_free(&sc);
    st_buf_free(&b);
    st_test_rmtree(dir);
    free(dir);
}

static void test_convert_fails_when_file_changes_between_passes(void **state)
{
    (void)state;
    char *dir = st_test_tmpdir("readers");
    char path[4200];
    snprintf(path, sizeof(path), "%s/d.csv", dir);
    st_err e;
    assert_st_ok(st_fs_write_atomic(path, "a,y\n1,0\n2,1\n", 12, 0600, &e), &e);
    st_data_input in = {ST_DATA_CSV, path, "y", NULL, 0, NULL, 0, 0, 0};
    st_data_schema sc;
    assert_st_ok(st_data_scan(&in, &sc, NULL, NULL, &e), &e);
    assert_st_ok(st_fs_write_atomic(path, "a,y\n1,0\n2,5\n", 12, 0600, &e), &e);
    st_buf b;
    st_buf_init(&b);
    uint64_t size;
    uint8_t sha[32];
    assert_int_equal(
        st_data_convert(&in, &sc, collect, &b, NULL, NULL, &size, sha, &e),
        ST_E_INPUT);
    assert_msg(&e, "the file changed during import");
    st_data_schema_free(&sc);
    st_buf_free(&b);
    st_test_rmtree(dir);
    free(dir);
}

static void test_tensor_parse_rejects_inconsistent_headers(void **state)
{
    (void)state;
    st_data_input in = mem_input(ST_DATA_CSV, "a,y\n1,0\n2,1\n", "y");
    st_data_schema sc;
    st_buf b;
    st_err e;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    /* each header field, and the sections, are checked */
    size_t offsets[] = {0, 8, 12, 16, 24, 28, 32, 36, 40, 48, 56};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        b.data[offsets[i]] ^= 0x40;
        assert_int_equal(st_tensor_parse(b.data, b.len, &v, &e), ST_E_INPUT);
        b.data[offsets[i]] ^= 0x40;
    }
    assert_int_equal(st_tensor_parse(b.data, b.len - 1, &v, &e), ST_E_INPUT);
    /* a label beyond the classes, a NaN feature */
    float nine = 9.0f, half = 0.5f, zero = 0.0f;
    memcpy(b.data + 64 + 8, &nine, 4);
    assert_int_equal(st_tensor_parse(b.data, b.len, &v, &e), ST_E_INPUT);
    assert_msg(&e, "label 9");
    memcpy(b.data + 64 + 8, &half, 4);
    assert_int_equal(st_tensor_parse(b.data, b.len, &v, &e), ST_E_INPUT);
    memcpy(b.data + 64 + 8, &zero, 4);
    const float nanf_ = NAN;
    memcpy(b.data + 64, &nanf_, 4);
    assert_int_equal(st_tensor_parse(b.data, b.len, &v, &e), ST_E_INPUT);
    assert_msg(&e, "not finite");
    st_data_schema_free(&sc);
    st_buf_free(&b);
}

/* Several CSV label columns are regression targets: the tensor is kind 2
 * with rows x targets values and the targets' names. */
static void test_csv_several_targets_make_a_regression_tensor(void **state)
{
    (void)state;
    st_data_input in = mem_input(
        ST_DATA_CSV, "y2,a,y1,b\n3,1,0.5,2\n-4.25,5,1e3,6\n", "y1,y2");
    st_data_schema sc;
    st_buf b;
    st_err e;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_int_equal(sc.task, ST_TASK_REGRESSION);
    assert_int_equal(sc.task_chosen, 1);
    assert_int_equal(sc.classes, 0);
    assert_int_equal(sc.targets, 2);
    assert_int_equal(sc.cols, 2);
    assert_string_equal(sc.feature_names[0], "a");
    assert_string_equal(sc.feature_names[1], "b");
    assert_string_equal(sc.target_names[0], "y1");
    assert_string_equal(sc.target_names[1], "y2");
    assert_int_equal(v.kind, ST_TENSOR_LABEL_VALUE);
    assert_int_equal(v.targets, 2);
    const float x[] = {1, 2, 5, 6}, y[] = {0.5f, 3, 1000, -4.25f};
    assert_memory_equal(v.features, x, sizeof(x));
    assert_memory_equal(v.labels, y, sizeof(y));
    const char *name;
    size_t len;
    assert_st_ok(st_tensor_class_name(&v, 1, &name, &len, &e), &e);
    assert_int_equal(len, 2);
    assert_memory_equal(name, "y2", 2);
    st_data_schema_free(&sc);
    st_buf_free(&b);
    /* a target that is not a number names its column and line */
    st_err f = expect_fail(ST_DATA_CSV, "a,y1,y2\n1,2,3\n4,x,6\n", "y1,y2");
    assert_msg(&f, "t.csv:3:2");
    assert_msg(&f, "column \"y1\"");
    /* several targets cannot be one class label */
    in = mem_input(ST_DATA_CSV, "a,y1,y2\n1,2,3\n", "y1,y2");
    in.task = ST_TASK_CLASSIFICATION;
    assert_int_equal(st_data_scan(&in, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "regression targets");
    f = expect_fail(ST_DATA_CSV, "a,b,y1\n1,2,3\n", "y1,y1");
    assert_msg(&f, "named twice");
    f = expect_fail(ST_DATA_CSV, "a,y1\n1,2\n", "a,y1");
    assert_msg(&f, "at least one feature");
}

/* Writes n rows "x,y" with y = f(i) into a CSV in memory (malloc'ed). */
static char *csv_rows(size_t n, const char *(*label)(size_t, char *))
{
    char *s = malloc(16 + n * 48), tmp[32];
    size_t o = (size_t)sprintf(s, "x,y\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, "%zu,%s\n", i, label(i, tmp));
    return s;
}

static const char *digit_label(size_t i, char *b)
{
    sprintf(b, "%zu", i % 10);
    return b;
}

static const char *progression_label(size_t i, char *b)
{
    sprintf(b, "%zu", 25 + (i * 7) % 300); /* like diabetes: 25..324 */
    return b;
}

static const char *fraction_label(size_t i, char *b)
{
    sprintf(b, "%zu.5", i % 3);
    return b;
}

static void scan_task(const char *text, st_data_task task, st_data_task want,
                      uint32_t classes)
{
    st_data_input in = mem_input(ST_DATA_CSV, text, "y");
    in.task = task;
    st_data_schema sc;
    st_buf b;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_int_equal(sc.task, want);
    assert_int_equal(sc.task_chosen, task == ST_TASK_AUTO);
    assert_int_equal(sc.classes, classes);
    assert_int_equal(v.kind, want == ST_TASK_REGRESSION
                                 ? ST_TENSOR_LABEL_VALUE
                                 : ST_TENSOR_LABEL_CLASS);
    st_data_schema_free(&sc);
    st_buf_free(&b);
}

/* Left out, the task follows the labels: few whole numbers are classes,
 * fractions or many distinct values are targets; given, it is obeyed. */
static void test_task_is_chosen_from_the_labels_unless_given(void **state)
{
    (void)state;
    char *digits = csv_rows(400, digit_label);
    char *prog = csv_rows(400, progression_label);
    char *frac = csv_rows(400, fraction_label);
    scan_task(digits, ST_TASK_AUTO, ST_TASK_CLASSIFICATION, 10);
    scan_task(prog, ST_TASK_AUTO, ST_TASK_REGRESSION, 0);
    scan_task(frac, ST_TASK_AUTO, ST_TASK_REGRESSION, 0);
    scan_task(prog, ST_TASK_CLASSIFICATION, ST_TASK_CLASSIFICATION, 325);
    scan_task(digits, ST_TASK_REGRESSION, ST_TASK_REGRESSION, 0);
    scan_task(frac, ST_TASK_CLASSIFICATION, ST_TASK_CLASSIFICATION, 3);
    /* the regression value is the number itself */
    st_data_input in = mem_input(ST_DATA_CSV, "x,y\n1,2.5\n2,-1e-3\n", "y");
    st_data_schema sc;
    st_buf b;
    st_err e;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_true(v.labels[0] == 2.5f && v.labels[1] == -1e-3f);
    assert_int_equal(sc.targets, 1);
    assert_string_equal(sc.target_names[0], "y");
    st_data_schema_free(&sc);
    st_buf_free(&b);
    /* text labels are never targets */
    in = mem_input(ST_DATA_CSV, "x,y\n1,2\n2,cat\n", "y");
    in.task = ST_TASK_REGRESSION;
    assert_int_equal(st_data_scan(&in, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "t.csv:3");
    assert_msg(&e, "regression target, found \"cat\"");
    /* LIBSVM's label token is the target */
    in = mem_input(ST_DATA_LIBSVM, "0.25 1:1\n-3 2:1\n", NULL);
    in.task = ST_TASK_REGRESSION;
    convert_view(&in, &sc, &b, &v);
    assert_true(v.labels[0] == 0.25f && v.labels[1] == -3.0f);
    assert_string_equal(sc.target_names[0], "target");
    st_data_schema_free(&sc);
    st_buf_free(&b);
    free(digits);
    free(prog);
    free(frac);
}

/* A regression tensor's header and targets are checked like a class
 * tensor's. */
static void test_tensor_parse_checks_regression_targets(void **state)
{
    (void)state;
    st_data_input in = mem_input(ST_DATA_CSV, "a,y\n1,0.5\n2,1.5\n", "y");
    in.task = ST_TASK_REGRESSION;
    st_data_schema sc;
    st_buf b;
    st_err e;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    size_t offsets[] = {28, 32, 36, 48, 56};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        b.data[offsets[i]] ^= 0x01;
        assert_int_equal(st_tensor_parse(b.data, b.len, &v, &e), ST_E_INPUT);
        b.data[offsets[i]] ^= 0x01;
    }
    const float inf = INFINITY;
    memcpy(b.data + 64 + 8 + 4, &inf, 4);
    assert_int_equal(st_tensor_parse(b.data, b.len, &v, &e), ST_E_INPUT);
    assert_msg(&e, "target 0 of row 1 is not finite");
    st_data_schema_free(&sc);
    st_buf_free(&b);
}

/* ---- gzip ---- */

/* Writes p[0..n) to `path` gzip-compressed, in `members` members (cut at
 * even shares), as `gzip` and `cat a.gz b.gz` would. */
static void gz_write(const char *path, const void *p, size_t n,
                     unsigned members)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const uint8_t *b = p;
    for (unsigned m = 0; m < members; m++) {
        size_t from = n * m / members, to = n * (m + 1) / members;
        z_stream z;
        memset(&z, 0, sizeof(z));
        assert_int_equal(
            deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
        z.next_in = (Bytef *)(b + from);
        z.avail_in = (uInt)(to - from);
        uint8_t out[16384];
        int zr;
        do {
            z.next_out = out;
            z.avail_out = sizeof(out);
            zr = deflate(&z, Z_FINISH);
            assert_int_equal(fwrite(out, 1, sizeof(out) - z.avail_out, f),
                             sizeof(out) - z.avail_out);
        } while (zr == Z_OK);
        assert_int_equal(zr, Z_STREAM_END);
        deflateEnd(&z);
    }
    assert_int_equal(fclose(f), 0);
}

static void assert_same_tensor(const st_data_input *a, const st_data_input *b)
{
    st_data_schema sa, sb;
    st_buf ta, tb;
    st_err e;
    assert_st_ok(convert(a, &sa, &ta, &e), &e);
    assert_st_ok(convert(b, &sb, &tb, &e), &e);
    assert_int_equal(ta.len, tb.len);
    assert_memory_equal(ta.data, tb.data, ta.len);
    st_data_schema_free(&sa);
    st_data_schema_free(&sb);
    st_buf_free(&ta);
    st_buf_free(&tb);
}

static void test_gzip_csv_reads_as_the_plain_file(void **state)
{
    (void)state;
    char *dir = st_test_tmpdir("readers");
    char gz[4200], big[4200];
    unsigned char *text;
    size_t len;
    st_err e;
    assert_st_ok(
        st_fs_read_all("examples/data/digits.csv", 64u << 20, &text, &len, &e),
        &e);
    snprintf(gz, sizeof(gz), "%s/digits.csv.gz", dir);
    gz_write(gz, text, len, 3); /* concatenated members, as cat makes */
    free(text);
    st_data_format f;
    assert_st_ok(st_data_format_guess(gz, &f, &e), &e);
    assert_int_equal(f, ST_DATA_CSV);
    assert_st_ok(st_data_format_guess("t10k-images-idx3-ubyte.gz", &f, &e), &e);
    assert_int_equal(f, ST_DATA_IDX);
    assert_st_ok(st_data_format_guess("a9a.svm.gz", &f, &e), &e);
    assert_int_equal(f, ST_DATA_LIBSVM);
    st_data_input plain = {.format = ST_DATA_CSV,
                           .path = "examples/data/digits.csv",
                           .label = "label"};
    st_data_input packed = plain;
    packed.path = gz;
    assert_same_tensor(&plain, &packed);

    /* ~4 MiB through 64 KiB reads of compressed input: many windows */
    snprintf(big, sizeof(big), "%s/big.csv", dir);
    write_csv(big, 30000, 20, 0);
    assert_st_ok(st_fs_read_all(big, 64u << 20, &text, &len, &e), &e);
    snprintf(gz, sizeof(gz), "%s/big.csv.gz", dir);
    gz_write(gz, text, len, 1);
    plain.path = big;
    plain.label = "y";
    packed = plain;
    packed.path = gz;
    assert_same_tensor(&plain, &packed);
    /* in memory too (what the fuzzer feeds) */
    unsigned char *ztext;
    size_t zlen;
    assert_st_ok(st_fs_read_all(gz, 64u << 20, &ztext, &zlen, &e), &e);
    packed.data = ztext;
    packed.data_len = zlen;
    assert_same_tensor(&plain, &packed);
    free(ztext);

    /* cut short, or one bit of the CRC changed: refused by name */
    snprintf(gz, sizeof(gz), "%s/cut.csv.gz", dir);
    gz_write(gz, text, len, 1);
    assert_st_ok(st_fs_read_all(gz, 64u << 20, &ztext, &zlen, &e), &e);
    assert_st_ok(st_fs_write_atomic(gz, ztext, zlen / 2, 0600, &e), &e);
    packed.data = NULL;
    packed.data_len = 0;
    st_data_schema sc;
    assert_int_equal(st_data_scan(&packed, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "cut.csv.gz");
    assert_msg(&e, "truncated gzip data");
    ztext[zlen - 8] ^= 1; /* the CRC-32 of the trailer */
    assert_st_ok(st_fs_write_atomic(gz, ztext, zlen, 0600, &e), &e);
    assert_int_equal(st_data_scan(&packed, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "not valid gzip data");
    assert_msg(&e, "incorrect data check");
    free(ztext);
    free(text);
    st_test_rmtree(dir);
    free(dir);
}

static void test_gzip_idx_pair_reads_and_checks_its_size(void **state)
{
    (void)state;
    char *dir = st_test_tmpdir("readers");
    char img_path[4200], lab_path[4200], pimg[4200], plab[4200];
    uint8_t img[64], lab[64];
    const uint32_t d3[3] = {3, 2, 2}, d1[1] = {3};
    const uint8_t pix[12] = {0, 1, 2, 3, 255, 254, 253, 252, 9, 8, 7, 6};
    const uint8_t labs[3] = {2, 0, 2};
    size_t il = idx_make(img, 0x08, d3, 3, pix, 12);
    size_t ll = idx_make(lab, 0x08, d1, 1, labs, 3);
    snprintf(img_path, sizeof(img_path), "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lab_path, sizeof(lab_path), "%s/train-labels-idx1-ubyte.gz", dir);
    snprintf(pimg, sizeof(pimg), "%s/images-ubyte", dir);
    snprintf(plab, sizeof(plab), "%s/labels-ubyte", dir);
    st_err e;
    assert_st_ok(st_fs_write_atomic(pimg, img, il, 0600, &e), &e);
    assert_st_ok(st_fs_write_atomic(plab, lab, ll, 0600, &e), &e);
    gz_write(img_path, img, il, 2);
    gz_write(lab_path, lab, ll, 1);
    st_data_input plain = {.format = ST_DATA_IDX, .path = pimg, .label = plab};
    st_data_input packed = {
        .format = ST_DATA_IDX, .path = img_path, .label = lab_path};
    assert_same_tensor(&plain, &packed);

    /* the header's size is checked once inflated: a byte too many in
     * either file, or one item too few */
    st_data_schema sc;
    img[il] = 7;
    gz_write(img_path, img, il + 1, 1);
    assert_int_equal(st_data_scan(&packed, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "IDX size mismatch: bytes after the 3 items");
    gz_write(img_path, img, il, 1);
    lab[ll] = 1;
    gz_write(lab_path, lab, ll + 1, 1);
    assert_int_equal(st_data_scan(&packed, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "bytes after the 3 labels");
    gz_write(lab_path, lab, ll, 1);
    gz_write(img_path, img, il - 4, 1);
    assert_int_equal(st_data_scan(&packed, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "truncated IDX data");
    st_test_rmtree(dir);
    free(dir);
}

/* ---- scikit-learn's layout ---- */

#define SKLEARN_DATA "/usr/lib/python3/dist-packages/sklearn/datasets/data/"

static void test_sklearn_tables_read_with_their_class_names(void **state)
{
    (void)state;
    st_data_input in = {.format = ST_DATA_CSV,
                        .path = SKLEARN_DATA "breast_cancer.csv",
                        .label = "target"};
    st_data_schema sc;
    st_buf b;
    st_err e;
    st_tensor_view v;
    convert_view(&in, &sc, &b, &v);
    assert_table(&sc, 569, 30, 2, "feature_", "target");
    /* the first row: 17.99,10.38,...,0.1189,0 */
    assert_true(v.features[0] == strtof("17.99", NULL));
    assert_true(v.features[29] == strtof("0.1189", NULL));
    assert_true(v.labels[0] == 0.0f);
    const char *name;
    size_t len;
    assert_st_ok(st_tensor_class_name(&v, 0, &name, &len, &e), &e);
    assert_int_equal(len, 9);
    assert_memory_equal(name, "malignant", 9);
    assert_st_ok(st_tensor_class_name(&v, 1, &name, &len, &e), &e);
    assert_memory_equal(name, "benign", 6);
    st_data_schema_free(&sc);
    st_buf_free(&b);

    in.path = SKLEARN_DATA "iris.csv";
    convert_view(&in, &sc, &b, &v);
    assert_shape(&sc, 150, 4, 3);
    assert_st_ok(st_tensor_class_name(&v, 2, &name, &len, &e), &e);
    assert_memory_equal(name, "virginica", 9);
    st_data_schema_free(&sc);
    st_buf_free(&b);

    /* the wrong --label is explained */
    in.label = "label";
    assert_int_equal(st_data_scan(&in, &sc, NULL, NULL, &e), ST_E_INPUT);
    assert_msg(&e, "scikit-learn's layout (a first line of counts: 150 rows, "
                   "4 features, 3 class names)");
    assert_msg(&e, "--label target");
}

static void
test_sklearn_layout_checks_its_counts_and_class_indices(void **state)
{
    (void)state;
    st_err e = expect_fail(ST_DATA_CSV, "3,2,a,b\n1,2,0\n3,4,1\n", "target");
    assert_msg(&e, "the first line announces 3 rows, the file has 2");
    e = expect_fail(ST_DATA_CSV, "2,2,a,b\n1,2,0\n3,4,2\n", "target");
    assert_msg(&e, "t.csv:3:3: column \"target\": expected a class index 0 "
                   "to 1 (the first line names 2 classes), found \"2\"");
    e = expect_fail(ST_DATA_CSV, "2,2,a,b\n1,2,0\n3,4,5,1\n", "target");
    assert_msg(&e, "expected 3 fields");
    /* without class names, the labels are numbered as any CSV's */
    st_data_input in =
        mem_input(ST_DATA_CSV, "2,1,,\n1.5,7\n2.5,9\n", "target");
    st_data_schema sc;
    st_buf b;
    assert_st_ok(convert(&in, &sc, &b, &e), &e);
    assert_int_equal(sc.rows, 2);
    assert_int_equal(sc.cols, 1);
    st_data_schema_free(&sc);
    st_buf_free(&b);
    /* a header whose names are numbers beyond the first two is data:
     * an ordinary CSV (here refused for its duplicate names) */
    e = expect_fail(ST_DATA_CSV, "5,3,1,1\n1,2,3,0\n", "1");
    assert_msg(&e, "duplicate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_digits_converts_exactly),
        cmocka_unit_test(test_csv_quotes_crlf_and_string_labels),
        cmocka_unit_test(test_csv_label_by_index_and_numeric_label_order),
        cmocka_unit_test(test_csv_errors_name_line_column_and_expectation),
        cmocka_unit_test(test_number_parse_is_strict_and_correctly_rounded),
        cmocka_unit_test(test_libsvm_sparse_rows_become_dense),
        cmocka_unit_test(test_libsvm_errors_name_line_and_column),
        cmocka_unit_test(test_libsvm_refuses_a_tensor_beyond_the_size_limit),
        cmocka_unit_test(test_idx_image_and_label_pair_converts),
        cmocka_unit_test(test_idx_rejects_bad_headers_and_values),
        cmocka_unit_test(test_streaming_file_matches_memory_across_windows),
        cmocka_unit_test(test_convert_fails_when_file_changes_between_passes),
        cmocka_unit_test(test_tensor_parse_rejects_inconsistent_headers),
        cmocka_unit_test(test_csv_several_targets_make_a_regression_tensor),
        cmocka_unit_test(test_task_is_chosen_from_the_labels_unless_given),
        cmocka_unit_test(test_tensor_parse_checks_regression_targets),
        cmocka_unit_test(test_gzip_csv_reads_as_the_plain_file),
        cmocka_unit_test(test_gzip_idx_pair_reads_and_checks_its_size),
        cmocka_unit_test(test_sklearn_tables_read_with_their_class_names),
        cmocka_unit_test(
            test_sklearn_layout_checks_its_counts_and_class_indices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
