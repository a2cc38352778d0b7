/*
 * test_train.c: the training engine. Gradients against finite differences
 * of an independent double-precision forward pass; determinism and
 * bit-identical resume from checkpoints; safetensors round trip, strict
 * loading and reading by Python; early stopping, class weights, schedules,
 * strict hyperparameters; and that the models actually learn.
 */
#include "st_test.h"

#include <math.h>

#include <sealtrain/sealtrain.h>

#include "train/train_internal.h"

/* ---- helpers ---- */

typedef struct dataset {
    float *x, *y;
    st_train_data d;
} dataset;

/* Gaussian blobs: class c centred at a fixed random point; `noise` sets
 * the overlap. */
static dataset blobs(size_t rows, size_t features, size_t classes, double noise,
                     uint64_t seed)
{
    dataset s;
    st_rng r;
    st_rng_seed(&r, seed);
    float centre[16][64];
    for (size_t c = 0; c < classes; c++)
        for (size_t j = 0; j < features; j++)
            centre[c][j] = (float)(2.0 * st_rng_normal(&r));
    s.x = malloc(rows * features * sizeof(float));
    s.y = malloc(rows * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        size_t c = (size_t)st_rng_below(&r, classes);
        s.y[i] = (float)c;
        for (size_t j = 0; j < features; j++)
            s.x[i * features + j] =
                centre[c][j] + (float)(noise * st_rng_normal(&r));
    }
    s.d = (st_train_data){s.x, s.y, rows, features, 1, classes};
    return s;
}

static void dataset_free(dataset *s)
{
    free(s->x);
    free(s->y);
}

static st_train_config mlp_config(size_t hidden, st_train_activation act)
{
    st_train_config c;
    st_train_config_default(&c);
    c.model = ST_MODEL_MLP;
    c.nhidden = 1;
    c.hidden[0] = hidden;
    c.activation = act;
    c.batch_size = 16;
    c.epochs = 5;
    c.seed = 7;
    return c;
}

static st_trainer *make_trainer(st_train_config *c, const st_train_data *d)
{
    st_err e;
    st_trainer *t = NULL;
    assert_st_ok(st_train_config_resolve(c, d, &e), &e);
    assert_st_ok(st_trainer_new(c, &t, &e), &e);
    return t;
}

static void train_ok(st_trainer *t, const st_train_data *d)
{
    st_err e;
    assert_st_ok(st_trainer_fit(t, d, NULL, NULL, NULL, &e), &e);
}

/* ---- gradients ---- */

/* Double-precision forward pass over the trainer's parameters (given as
 * doubles) with the dropout masks of the trainer's last training pass. */
static double ref_loss(const st_trainer *t, const double *p, const float *x,
                       const float *y, const float *w, size_t rows)
{
    const st_train_config *c = &t->cfg;
    double a[64][64], z[64][64];
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < c->inputs; j++)
            a[i][j] = x[i * c->inputs + j];
    for (size_t l = 0; l < t->nlayers; l++) {
        const st_layer *L = &t->layers[l];
        const double *W = p + (L->w - t->params);
        const double *b = p + (L->b - t->params);
        for (size_t i = 0; i < rows; i++)
            for (size_t o = 0; o < L->out; o++) {
                double s = b[o];
                for (size_t k = 0; k < L->in; k++)
                    s += W[o * L->in + k] * a[i][k];
                z[i][o] = s;
            }
        for (size_t i = 0; i < rows; i++)
            for (size_t o = 0; o < L->out; o++) {
                double v = z[i][o];
                if (L->hidden) {
                    switch (c->activation) {
                    case ST_ACT_RELU: v = v > 0 ? v : 0; break;
                    case ST_ACT_TANH: v = tanh(v); break;
                    case ST_ACT_SIGMOID: v = 1 / (1 + exp(-v)); break;
                    case ST_ACT_GELU:
                        v = 0.5 * v * (1 + erf(v / sqrt(2)));
                        break;
                    }
                    if (L->mask)
                        v = L->mask[i * L->out + o] ? v / (1 - c->dropout) : 0;
                }
                a[i][o] = v;
            }
    }
    size_t k = c->outputs;
    double total = 0, wsum = 0;
    for (size_t i = 0; i < rows; i++) {
        double wi = w ? w[i] : 1;
        if (c->loss == ST_LOSS_SOFTMAX_CE) {
            double mx = a[i][0], s = 0;
            for (size_t j = 1; j < k; j++)
                mx = fmax(mx, a[i][j]);
            for (size_t j = 0; j < k; j++)
                s += exp(a[i][j] - mx);
            total += wi * (mx + log(s) - a[i][(size_t)y[i]]);
            wsum += wi;
        } else if (c->loss == ST_LOSS_BCE) {
            double q = 1 / (1 + exp(-a[i][0]));
            total += wi * -(y[i] * log(q) + (1 - y[i]) * log(1 - q));
            wsum += wi;
        } else {
            for (size_t j = 0; j < k; j++) {
                double e = a[i][j] - y[i * k + j];
                total += e * e / (double)k;
            }
            wsum += 1;
        }
    }
    return total / wsum;
}

static void check_gradients(st_train_activation act, st_train_loss loss,
                            size_t nhidden, double dropout, int weighted)
{
    st_err e;
    enum { ROWS = 6, IN = 5 };
    size_t k = loss == ST_LOSS_SOFTMAX_CE ? 4 : loss == ST_LOSS_BCE ? 1 : 3;
    st_train_config c;
    st_train_config_default(&c);
    c.model = nhidden
                  ? ST_MODEL_MLP
                  : (loss == ST_LOSS_MSE ? ST_MODEL_LINEAR : ST_MODEL_LOGISTIC);
    c.nhidden = nhidden;
    c.hidden[0] = 7;
    c.hidden[1] = 6;
    c.activation = act;
    c.dropout = dropout;
    c.loss = loss;
    c.inputs = IN;
    c.outputs = k;
    c.batch_size = ROWS;
    c.seed = 3 + (uint64_t)act * 10 + (uint64_t)loss;
    st_trainer *t;
    assert_st_ok(st_trainer_new(&c, &t, &e), &e);
    /* biases away from zero so that every term of the gradient shows */
    for (size_t l = 0; l < t->nlayers; l++)
        for (size_t o = 0; o < t->layers[l].out; o++)
            t->layers[l].b[o] = 0.1f * (float)((o % 5) + 1) - 0.25f;
    st_rng r;
    st_rng_seed(&r, 99);
    float x[ROWS * IN], y[ROWS * 4], w[ROWS];
    for (size_t i = 0; i < ROWS * IN; i++)
        x[i] = (float)st_rng_normal(&r);
    for (size_t i = 0; i < ROWS; i++) {
        w[i] = 0.5f + (float)i;
        if (loss == ST_LOSS_SOFTMAX_CE)
            y[i] = (float)(i % k);
        else if (loss == ST_LOSS_BCE)
            y[i] = (float)(i % 2);
        else
            for (size_t j = 0; j < k; j++)
                y[i * k + j] = (float)st_rng_normal(&r);
    }
    const float *wp = weighted ? w : NULL;
    double l32 = st_trainer_batch_grad(t, x, y, wp, ROWS, NULL);
    double *p = malloc(t->nparams * sizeof(double));
    for (size_t i = 0; i < t->nparams; i++)
        p[i] = t->params[i];
    double l64 = ref_loss(t, p, x, y, wp, ROWS);
    assert_true(fabs(l32 - l64) < 1e-4 * fmax(1.0, fabs(l64)));
    size_t checked = 0;
    for (size_t l = 0; l < t->nlayers; l++) {
        st_layer *L = &t->layers[l];
        size_t nw = L->in * L->out;
        for (size_t i = 0; i < nw + L->out; i++) {
            size_t at =
                (size_t)((i < nw ? L->w + i : L->b + (i - nw)) - t->params);
            const double h = 1e-6;
            double keep = p[at];
            p[at] = keep + h;
            double up = ref_loss(t, p, x, y, wp, ROWS);
            p[at] = keep - h;
            double down = ref_loss(t, p, x, y, wp, ROWS);
            p[at] = keep;
            double num = (up - down) / (2 * h);
            double ana = t->grads[at];
            if (fabs(num - ana) > 2e-4 + 2e-3 * fabs(num))
                fail_msg("act %d loss %d layer %zu param %zu: analytic %g, "
                         "numeric %g",
                         act, loss, l, i, ana, num);
            checked++;
        }
    }
    assert_true(checked > 0);
    free(p);
    st_trainer_free(t);
}

static void
test_gradients_match_finite_differences_for_every_layer_and_loss(void **state)
{
    (void)state;
    st_train_activation acts[] = {ST_ACT_RELU, ST_ACT_TANH, ST_ACT_GELU,
                                  ST_ACT_SIGMOID};
    st_train_loss losses[] = {ST_LOSS_SOFTMAX_CE, ST_LOSS_BCE, ST_LOSS_MSE};
    for (size_t a = 0; a < 4; a++)
        for (size_t l = 0; l < 3; l++) {
            check_gradients(acts[a], losses[l], 2, 0.0, 0);
            check_gradients(acts[a], losses[l], 1, 0.3, 0);
        }
    for (size_t l = 0; l < 3; l++)
        check_gradients(ST_ACT_RELU, losses[l], 0, 0.0, 0);
    /* class weights (weighted mean) for both classification losses */
    check_gradients(ST_ACT_TANH, ST_LOSS_SOFTMAX_CE, 1, 0.0, 1);
    check_gradients(ST_ACT_TANH, ST_LOSS_BCE, 1, 0.0, 1);
}

/* ---- determinism and checkpoints ---- */

static st_train_config rich_config(st_train_optimizer opt)
{
    st_train_config c = mlp_config(12, ST_ACT_GELU);
    c.nhidden = 2;
    c.hidden[1] = 8;
    c.dropout = 0.2;
    c.optimizer = opt;
    c.learning_rate = opt == ST_OPT_SGD ? 0.05 : 0.01;
    c.momentum = opt == ST_OPT_SGD ? 0.9 : 0.0;
    c.nesterov = opt == ST_OPT_SGD;
    c.weight_decay = 1e-3;
    c.clip_norm = 1.0;
    c.schedule = ST_SCHED_COSINE;
    c.warmup_epochs = 1.5;
    c.min_learning_rate = 1e-4;
    c.validation_split = 0.25;
    c.patience = 20;
    c.early_stop_metric = ST_METRIC_F1;
    c.epochs = 6;
    c.batch_size = 13; /* a partial last batch every epoch */
    c.nclass_weights = 3;
    c.class_weights[0] = 1.0f;
    c.class_weights[1] = 2.0f;
    c.class_weights[2] = 0.5f;
    return c;
}

static void test_same_seed_gives_bit_identical_weights(void **state)
{
    (void)state;
    dataset s = blobs(300, 6, 3, 1.5, 1);
    st_train_config c = rich_config(ST_OPT_ADAMW);
    c.threads = 2; /* the same thread count on both runs */
    st_trainer *a = make_trainer(&c, &s.d), *b = make_trainer(&c, &s.d);
    train_ok(a, &s.d);
    train_ok(b, &s.d);
    size_t n;
    const float *pa = st_trainer_params(a, &n);
    assert_memory_equal(pa, st_trainer_params(b, NULL), n * sizeof(float));
    c.seed = 8;
    st_trainer *d = make_trainer(&c, &s.d);
    train_ok(d, &s.d);
    assert_memory_not_equal(pa, st_trainer_params(d, NULL), n * sizeof(float));
    st_trainer_free(a);
    st_trainer_free(b);
    st_trainer_free(d);
    dataset_free(&s);
}

static int stop_at(const st_train_metrics *m, void *user)
{
    return m->epoch >= *(unsigned *)user;
}

static void resume_case(st_train_optimizer opt)
{
    st_err e;
    dataset s = blobs(240, 6, 3, 1.5, 2);
    st_train_config c = rich_config(opt);
    st_trainer *whole = make_trainer(&c, &s.d);
    train_ok(whole, &s.d);

    st_trainer *first = make_trainer(&c, &s.d);
    unsigned stop = 3;
    assert_int_equal(st_trainer_fit(first, &s.d, NULL, stop_at, &stop, &e),
                     ST_E_CANCELLED);
    assert_int_equal(st_trainer_epoch(first), 3);
    st_secret *ck;
    assert_st_ok(st_trainer_checkpoint(first, &ck, &e), &e);
    st_trainer_free(first);
    st_trainer *rest;
    assert_st_ok(
        st_trainer_restore(st_secret_cbytes(ck), st_secret_len(ck), &rest, &e),
        &e);
    assert_int_equal(st_trainer_epoch(rest), 3);
    train_ok(rest, &s.d);
    assert_true(st_trainer_finished(rest));
    size_t n;
    const float *pw = st_trainer_params(whole, &n);
    assert_memory_equal(pw, st_trainer_params(rest, NULL), n * sizeof(float));
    /* the moments came along too: one more identical step each */
    assert_memory_equal(whole->m1, rest->m1, n * sizeof(float));
    st_secret_free(ck);
    st_trainer_free(whole);
    st_trainer_free(rest);
    dataset_free(&s);
}

static void test_resume_from_checkpoint_is_bit_identical(void **state)
{
    (void)state;
    resume_case(ST_OPT_ADAM);
    resume_case(ST_OPT_SGD);
}

static void test_checkpoint_rejects_corruption_and_truncation(void **state)
{
    (void)state;
    st_err e;
    dataset s = blobs(60, 4, 2, 1.0, 3);
    st_train_config c = mlp_config(5, ST_ACT_RELU);
    st_trainer *t = make_trainer(&c, &s.d), *r = NULL;
    st_secret *ck;
    assert_st_ok(st_trainer_checkpoint(t, &ck, &e), &e);
    size_t len = st_secret_len(ck);
    uint8_t *copy = malloc(len);
    memcpy(copy, st_secret_cbytes(ck), len);
    assert_st_ok(st_trainer_restore(copy, len, &r, &e), &e);
    st_trainer_free(r);
    copy[len / 2] ^= 1;
    assert_int_equal(st_trainer_restore(copy, len, &r, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "digest"));
    copy[len / 2] ^= 1;
    assert_int_equal(st_trainer_restore(copy, len - 1, &r, &e), ST_E_INPUT);
    assert_int_equal(st_trainer_restore(copy, 10, &r, &e), ST_E_INPUT);
    copy[0] = 'X';
    assert_int_equal(st_trainer_restore(copy, len, &r, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "magic"));
    free(copy);
    st_secret_free(ck);
    st_trainer_free(t);
    dataset_free(&s);
}

/* ---- safetensors ---- */

static void test_safetensors_round_trip_restores_weights(void **state)
{
    (void)state;
    st_err e;
    dataset s = blobs(120, 5, 3, 1.0, 4);
    st_train_config c = mlp_config(9, ST_ACT_TANH);
    c.nhidden = 2;
    c.hidden[1] = 4;
    st_trainer *t = make_trainer(&c, &s.d);
    train_ok(t, &s.d);
    json_t *meta = json_pack("{s:s}", "dataset", "blobs");
    st_secret *st;
    assert_st_ok(st_trainer_save_safetensors(t, meta, &st, &e), &e);
    json_decref(meta);
    const uint8_t *b = st_secret_cbytes(st);
    uint64_t hl;
    memcpy(&hl, b, 8);
    assert_int_equal((8 + hl) % 8, 0);
    st_safetensors *p;
    assert_st_ok(st_safetensors_parse(b, st_secret_len(st), &p, &e), &e);
    assert_int_equal(p->count, 6);
    const st_safetensor *w0 = st_safetensors_find(p, "layers.0.weight");
    assert_non_null(w0);
    assert_int_equal(w0->ndim, 2);
    assert_int_equal(w0->shape[0], 9);
    assert_int_equal(w0->shape[1], 5);
    assert_string_equal(
        json_string_value(json_object_get(p->metadata, "dataset")), "blobs");
    assert_non_null(json_object_get(p->metadata, "sealtrain.config"));
    st_safetensors_free(p);

    c.seed = 1234;
    st_trainer *u = make_trainer(&c, &s.d);
    assert_st_ok(st_trainer_load_safetensors(u, b, st_secret_len(st), &e), &e);
    float pa[120 * 3], pb[120 * 3];
    assert_st_ok(st_trainer_predict(t, s.x, 120, pa, &e), &e);
    assert_st_ok(st_trainer_predict(u, s.x, 120, pb, &e), &e);
    assert_memory_equal(pa, pb, sizeof(pa));
    /* a model of another shape refuses the file, naming the tensor */
    c.hidden[1] = 5;
    st_trainer *v = make_trainer(&c, &s.d);
    assert_int_equal(st_trainer_load_safetensors(v, b, st_secret_len(st), &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "layers.1.weight"));
    st_trainer_free(v);
    st_secret_free(st);
    st_trainer_free(t);
    st_trainer_free(u);
    dataset_free(&s);
}

/* header + data bytes -> a safetensors buffer */
static size_t st_file(uint8_t *out, const char *hdr, size_t datalen)
{
    uint64_t n = strlen(hdr);
    memcpy(out, &n, 8);
    memcpy(out + 8, hdr, n);
    memset(out + 8 + n, 0, datalen);
    return 8 + n + datalen;
}

static void expect_reject(const char *hdr, size_t datalen, const char *why)
{
    uint8_t buf[1024];
    st_err e;
    st_safetensors *p = NULL;
    size_t len = st_file(buf, hdr, datalen);
    if (st_safetensors_parse(buf, len, &p, &e) != ST_E_INPUT)
        fail_msg("accepted: %s", hdr);
    if (!strstr(e.msg, why))
        fail_msg("for %s: message \"%s\" lacks \"%s\"", hdr, e.msg, why);
}

static void test_safetensors_loader_rejects_malformed_files(void **state)
{
    (void)state;
    uint8_t buf[256];
    st_err e;
    st_safetensors *p;
    /* the valid baseline */
    size_t len = st_file(
        buf,
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[8,9]}}",
        9);
    assert_st_ok(st_safetensors_parse(buf, len, &p, &e), &e);
    assert_int_equal(p->count, 2);
    st_safetensors_free(p);
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"
                  "[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
                  "\"data_offsets\":[4,8]}}",
                  8, "overlap");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
                  "[4,8]}}",
                  8, "hole");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
                  "[0,4]}}",
                  8, "cover");
    expect_reject("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":"
                  "[0,4]}}",
                  4, "dtype");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":"
                  "[0,8]}}",
                  8, "needs");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"
                  "[0,8]}}",
                  4, "outside");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":"
                  "[0,0]}}",
                  0, "shape[0]");
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,"
                  "4294967296,4294967296],\"data_offsets\":[0,0]}}",
                  0, "overflow");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
                  "[0,4],\"extra\":1}}",
                  4, "extra");
    expect_reject("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__.k");
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":"
                  "[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],"
                  "\"data_offsets\":[1,2]}}",
                  2, "duplicate");
    expect_reject("[1,2]", 0, "start");
    /* header length beyond the buffer, and a short buffer */
    uint64_t huge = 1000;
    memcpy(buf, &huge, 8);
    assert_int_equal(st_safetensors_parse(buf, 20, &p, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "header length"));
    assert_int_equal(st_safetensors_parse(buf, 5, &p, &e), ST_E_INPUT);
}

static void test_safetensors_file_is_readable_by_python(void **state)
{
    (void)state;
    st_err e;
    const char *py =
        access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char probe[256];
    snprintf(probe, sizeof(probe), "%s -c 'import numpy' 2>/dev/null", py);
    if (system(probe) != 0)
        skip();
    dataset s = blobs(50, 4, 3, 1.0, 5);
    st_train_config c = mlp_config(6, ST_ACT_RELU);
    st_trainer *t = make_trainer(&c, &s.d);
    train_ok(t, &s.d);
    st_secret *st;
    assert_st_ok(st_trainer_save_safetensors(t, NULL, &st, &e), &e);
    char *dir = st_test_tmpdir("train");
    char path[4200], xpath[4200], cmd[12000];
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    snprintf(xpath, sizeof(xpath), "%s/x.f32", dir);
    assert_st_ok(st_fs_write_atomic(path, st_secret_cbytes(st),
                                    st_secret_len(st), 0600, &e),
                 &e);
    assert_st_ok(
        st_fs_write_atomic(xpath, s.x, 50 * 4 * sizeof(float), 0600, &e), &e);
    /* a reader written from the format description alone: struct + json
       + numpy; prints the predicted class of every row */
    snprintf(cmd, sizeof(cmd),
             "%s - '%s' '%s' > '%s/pred.txt' <<'EOF'\n"
             "import json, struct, sys, numpy as np\n"
             "b = open(sys.argv[1], 'rb').read()\n"
             "n, = struct.unpack('<Q', b[:8])\n"
             "h = json.loads(b[8:8 + n])\n"
             "meta = h.pop('__metadata__')\n"
             "assert meta['format'] == 'pt'\n"
             "data = b[8 + n:]\n"
             "T = {k: np.frombuffer(data[v['data_offsets'][0]:"
             "v['data_offsets'][1]], dtype='<f4').reshape(v['shape'])\n"
             "     for k, v in h.items() if v['dtype'] == 'F32'}\n"
             "x = np.fromfile(sys.argv[2], dtype='<f4').reshape(-1, 4)\n"
             "a = np.maximum(x @ T['layers.0.weight'].T + T['layers.0.bias'],"
             " 0)\n"
             "z = a @ T['layers.1.weight'].T + T['layers.1.bias']\n"
             "print(' '.join(str(int(v)) for v in z.argmax(1)))\n"
             "EOF",
             py, path, xpath, dir);
    assert_int_equal(system(cmd), 0);
    char ppath[4200];
    snprintf(ppath, sizeof(ppath), "%s/pred.txt", dir);
    FILE *f = fopen(ppath, "r");
    assert_non_null(f);
    float prob[50 * 3];
    assert_st_ok(st_trainer_predict(t, s.x, 50, prob, &e), &e);
    for (size_t i = 0; i < 50; i++) {
        int got;
        assert_int_equal(fscanf(f, "%d", &got), 1);
        size_t best = 0;
        for (size_t j = 1; j < 3; j++)
            if (prob[i * 3 + j] > prob[i * 3 + best])
                best = j;
        assert_int_equal(got, (int)best);
    }
    fclose(f);
    st_test_rmtree(dir);
    free(dir);
    st_secret_free(st);
    st_trainer_free(t);
    dataset_free(&s);
}

/* ---- early stopping, class weights, schedules ---- */

typedef struct snap {
    float params[4096];
    size_t n;
    const st_trainer *t;
    unsigned last_epoch, best_epoch;
    int stopped;
} snap;

static int keep_improved(const st_train_metrics *m, void *user)
{
    snap *s = user;
    if (m->improved)
        memcpy(s->params, st_trainer_params(s->t, NULL), s->n * sizeof(float));
    s->last_epoch = m->epoch;
    s->best_epoch = m->best_epoch;
    s->stopped = m->stopped;
    return 0;
}

static void test_early_stopping_stops_and_restores_best_weights(void **state)
{
    (void)state;
    st_err e;
    dataset s = blobs(200, 4, 2, 1.0, 6);
    st_train_config c = mlp_config(8, ST_ACT_RELU);
    c.epochs = 50;
    c.validation_split = 0.2;
    c.patience = 2;
    /* nothing can improve the loss by 10 after the first epoch */
    c.min_delta = 10.0;
    c.early_stop_metric = ST_METRIC_LOSS;
    st_trainer *t = make_trainer(&c, &s.d);
    static snap sn;
    sn.t = t;
    st_trainer_params(t, &sn.n);
    assert_true(sn.n <= 4096);
    assert_st_ok(st_trainer_fit(t, &s.d, NULL, keep_improved, &sn, &e), &e);
    assert_int_equal(sn.last_epoch, 3);
    assert_int_equal(sn.best_epoch, 1);
    assert_true(sn.stopped);
    assert_true(st_trainer_finished(t));
    /* the weights are those of epoch 1, not of epoch 3 */
    assert_memory_equal(st_trainer_params(t, NULL), sn.params,
                        sn.n * sizeof(float));
    /* without a validation set, early stopping is refused */
    c.validation_split = 0.0;
    st_trainer *u = make_trainer(&c, &s.d);
    assert_int_equal(st_trainer_fit(u, &s.d, NULL, NULL, NULL, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "training.early_stopping"));
    st_trainer_free(u);
    st_trainer_free(t);
    dataset_free(&s);
}

static double recall_of_class1(st_trainer *t, const dataset *s)
{
    st_err e;
    st_train_metrics m;
    assert_st_ok(st_trainer_evaluate(t, &s->d, &m, &e), &e);
    uint64_t tp = m.confusion[3], fn = m.confusion[2];
    return (double)tp / (double)(tp + fn);
}

static void test_class_weights_raise_recall_of_the_weighted_class(void **state)
{
    (void)state;
    /* 10% positives, heavily overlapping */
    size_t n = 600;
    dataset s = blobs(n, 2, 2, 1.5, 7);
    st_rng r;
    st_rng_seed(&r, 70);
    for (size_t i = 0; i < n; i++)
        if (s.y[i] == 1.0f && st_rng_uniform(&r) < 0.85)
            s.y[i] = 0.0f;
    st_train_config c;
    st_train_config_default(&c);
    c.model = ST_MODEL_LOGISTIC;
    c.loss = ST_LOSS_BCE;
    c.learning_rate = 0.05;
    c.epochs = 10;
    c.batch_size = 32;
    st_trainer *plain = make_trainer(&c, &s.d);
    train_ok(plain, &s.d);
    c.nclass_weights = 2;
    c.class_weights[0] = 1.0f;
    c.class_weights[1] = 8.0f;
    st_trainer *weighted = make_trainer(&c, &s.d);
    train_ok(weighted, &s.d);
    double rp = recall_of_class1(plain, &s),
           rw = recall_of_class1(weighted, &s);
    if (!(rw > rp + 0.2))
        fail_msg("recall of the weighted class %g, unweighted %g", rw, rp);
    /* the loss is the weighted mean sum(w l) / sum(w) */
    float logits[2] = {0.0f, 0.0f}, y[2] = {0.0f, 1.0f}, w[2] = {1.0f, 3.0f};
    float g[2], db[1];
    double total = st_kern_loss(ST_LOSS_BCE, logits, y, w, 2, 1, g, db, NULL);
    assert_true(fabs(total / 4.0 - log(2.0)) < 1e-6);
    assert_true(fabs(g[1] - (0.5f - 1.0f) * 3.0f / 4.0f) < 1e-7);
    st_trainer_free(plain);
    st_trainer_free(weighted);
    dataset_free(&s);
}

static void test_schedules_follow_their_formulas(void **state)
{
    (void)state;
    st_train_config c;
    st_train_config_default(&c);
    c.learning_rate = 0.1;
    c.epochs = 10;
    const uint64_t spe = 10;
    assert_true(st_train_schedule_lr(&c, 0, spe) == 0.1);
    assert_true(st_train_schedule_lr(&c, 99, spe) == 0.1);
    c.schedule = ST_SCHED_STEP;
    c.step_epochs = 3;
    c.gamma = 0.5;
    assert_true(st_train_schedule_lr(&c, 29, spe) == 0.1);
    assert_true(fabs(st_train_schedule_lr(&c, 30, spe) - 0.05) < 1e-15);
    assert_true(fabs(st_train_schedule_lr(&c, 65, spe) - 0.025) < 1e-15);
    c.schedule = ST_SCHED_COSINE;
    c.warmup_epochs = 2;
    c.min_learning_rate = 0.01;
    /* warm-up: linear from lr/20 up to lr over 20 steps */
    assert_true(fabs(st_train_schedule_lr(&c, 0, spe) - 0.005) < 1e-15);
    assert_true(fabs(st_train_schedule_lr(&c, 19, spe) - 0.1) < 1e-15);
    /* cosine: lr at the start, the midpoint halfway, min at the end */
    assert_true(fabs(st_train_schedule_lr(&c, 20, spe) - 0.1) < 1e-15);
    assert_true(fabs(st_train_schedule_lr(&c, 60, spe) - 0.055) < 1e-12);
    assert_true(fabs(st_train_schedule_lr(&c, 100, spe) - 0.01) < 1e-15);
    /* the rate a run reports follows the schedule */
    dataset s = blobs(40, 3, 2, 1.0, 8);
    c.model = ST_MODEL_LOGISTIC;
    c.batch_size = 4;
    st_trainer *t = make_trainer(&c, &s.d);
    train_ok(t, &s.d);
    assert_int_equal(t->step, 100);
    st_trainer_free(t);
    dataset_free(&s);
}

/* ---- hyperparameters ---- */

static ST_MUST_CHECK st_code from_text(const char *text, st_train_config *c,
                                       st_err *e)
{
    json_t *j = st_json_parse(text, strlen(text), "spec", e);
    assert_non_null(j);
    st_code rc = st_train_config_from_json(
        json_object_get(j, "model"), json_object_get(j, "training"), c, e);
    json_decref(j);
    return rc;
}

static void expect_config_error(const char *text, const char *what)
{
    st_train_config c;
    st_err e;
    if (from_text(text, &c, &e) != ST_E_INPUT)
        fail_msg("accepted: %s", text);
    if (!strstr(e.msg, what))
        fail_msg("for %s: message \"%s\" lacks \"%s\"", text, e.msg, what);
}

static void test_hyperparameters_are_strict_and_name_the_key(void **state)
{
    (void)state;
    st_err e;
    st_train_config c, back;
    assert_st_ok(
        from_text("{\"model\": {\"type\": \"mlp\", \"hidden\": [128, 64], "
                  "\"activation\": \"gelu\", \"dropout\": 0.1}, "
                  "\"training\": {\"optimizer\": \"sgd\", \"momentum\": 0.9, "
                  "\"nesterov\": true, \"learning_rate\": 0.05, "
                  "\"schedule\": {\"type\": \"cosine\", \"warmup_epochs\": 1}, "
                  "\"batch_size\": 32, \"epochs\": 20, \"seed\": 42, "
                  "\"validation_split\": 0.2, \"early_stopping\": "
                  "{\"metric\": \"val_accuracy\", \"patience\": 3}, "
                  "\"class_weights\": [1, 2, 0.5], \"clip_norm\": 5}}",
                  &c, &e),
        &e);
    assert_int_equal(c.nhidden, 2);
    assert_int_equal(c.hidden[1], 64);
    assert_int_equal(c.activation, ST_ACT_GELU);
    assert_int_equal(c.loss, ST_LOSS_SOFTMAX_CE);
    assert_int_equal(c.schedule, ST_SCHED_COSINE);
    assert_int_equal(c.patience, 3);
    assert_true(c.class_weights[2] == 0.5f);
    /* to_json reads back to the same configuration, bit for bit */
    c.inputs = 64;
    c.outputs = 3;
    json_t *j = st_train_config_to_json(&c);
    assert_st_ok(st_train_config_from_json(json_object_get(j, "model"),
                                           json_object_get(j, "training"),
                                           &back, &e),
                 &e);
    json_decref(j);
    assert_memory_equal(&c, &back, sizeof(c));

    expect_config_error("{\"training\": {\"batch_sise\": 3}}", "batch_sise");
    expect_config_error("{\"training\": {\"batch_size\": 0}}", "batch_size");
    expect_config_error("{\"training\": {\"learning_rate\": \"fast\"}}",
                        "learning_rate");
    expect_config_error("{\"model\": {\"type\": \"mlp\", \"hidden\": [8, 0]}}",
                        "model.hidden[1]");
    expect_config_error("{\"model\": {\"type\": \"mlp\"}}", "model.hidden");
    expect_config_error("{\"model\": {\"activation\": \"swish\"}}",
                        "model.activation");
    expect_config_error("{\"training\": {\"schedule\": {\"type\": "
                        "\"step\", \"gamma\": 2}}}",
                        "training.schedule");
    expect_config_error("{\"training\": {\"early_stopping\": {\"metric\": "
                        "\"val_loss\"}}}",
                        "patience");
    expect_config_error("{\"training\": {\"nesterov\": true}}",
                        "training.nesterov");
    expect_config_error("{\"model\": {\"type\": \"linear\", \"loss\": "
                        "\"binary_cross_entropy\"}}",
                        "model.loss");
    expect_config_error("{\"training\": {\"class_weights\": [1, -2]}}",
                        "training.class_weights[1]");

    /* sizes that do not match the data */
    dataset s = blobs(20, 64, 10, 1.0, 9);
    st_train_config_default(&c);
    c.inputs = 63;
    assert_int_equal(st_train_config_resolve(&c, &s.d, &e), ST_E_INPUT);
    assert_string_equal(e.msg, "model.inputs: 63 does not match the data's 64 "
                               "features");
    st_train_config_default(&c);
    c.outputs = 9;
    assert_int_equal(st_train_config_resolve(&c, &s.d, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "model.outputs: 9"));
    st_train_config_default(&c);
    c.nclass_weights = 3;
    assert_int_equal(st_train_config_resolve(&c, &s.d, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "training.class_weights"));
    /* a configuration built in code obeys the same rules */
    st_train_config_default(&c);
    assert_st_ok(st_train_config_resolve(&c, &s.d, &e), &e);
    c.learning_rate = -1.0;
    st_trainer *bad = NULL;
    assert_int_equal(st_trainer_new(&c, &bad, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "learning_rate"));
    c.learning_rate = 0.1;
    c.seed = UINT64_MAX;
    assert_int_equal(st_trainer_new(&c, &bad, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "seed"));
    assert_null(bad);
    /* labels outside the classes are refused with the row */
    st_train_config_default(&c);
    st_trainer *t = make_trainer(&c, &s.d);
    s.y[7] = 10.0f;
    assert_int_equal(st_trainer_fit(t, &s.d, NULL, NULL, NULL, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "row 7"));
    st_trainer_free(t);
    dataset_free(&s);
}

/* ---- learning ---- */

static void test_models_learn_classification_and_regression(void **state)
{
    (void)state;
    st_err e;
    st_train_metrics m;
    /* a nonlinear problem: the class is the sign of x0 * x1 */
    size_t n = 800;
    dataset s = blobs(n, 2, 2, 1.0, 10);
    for (size_t i = 0; i < n; i++)
        s.y[i] = (float)(s.x[2 * i] * s.x[2 * i + 1] > 0.0f);
    st_train_config c = mlp_config(32, ST_ACT_TANH);
    c.learning_rate = 0.01;
    c.epochs = 60;
    c.batch_size = 32;
    st_trainer *t = make_trainer(&c, &s.d);
    train_ok(t, &s.d);
    assert_st_ok(st_trainer_evaluate(t, &s.d, &m, &e), &e);
    if (m.accuracy < 0.95)
        fail_msg("mlp accuracy %g on sign(x0 x1)", m.accuracy);
    uint64_t total = 0;
    for (size_t i = 0; i < 4; i++)
        total += m.confusion[i];
    assert_int_equal(total, n);
    assert_true(m.macro_f1 > 0.9 && m.macro_f1 <= 1.0);
    st_trainer_free(t);

    /* linear regression recovers y = 2 x0 - 3 x1 + 1 */
    for (size_t i = 0; i < n; i++)
        s.y[i] = 2.0f * s.x[2 * i] - 3.0f * s.x[2 * i + 1] + 1.0f;
    s.d.classes = 0;
    st_train_config_default(&c);
    c.model = ST_MODEL_LINEAR;
    c.loss = ST_LOSS_MSE;
    c.learning_rate = 0.05;
    c.epochs = 40;
    c.batch_size = 16;
    t = make_trainer(&c, &s.d);
    train_ok(t, &s.d);
    assert_st_ok(st_trainer_evaluate(t, &s.d, &m, &e), &e);
    if (m.r2 < 0.999 || m.mse > 1e-2)
        fail_msg("linear regression r2 %g mse %g", m.r2, m.mse);
    assert_true(fabs(t->layers[0].w[0] - 2.0f) < 0.05f);
    assert_true(fabs(t->layers[0].w[1] + 3.0f) < 0.05f);
    assert_true(fabs(t->layers[0].b[0] - 1.0f) < 0.05f);
    st_trainer_free(t);
    dataset_free(&s);
}

static int cancel_now(const st_train_metrics *m, void *user)
{
    (void)user;
    assert_true(m->samples_per_second > 0.0);
    assert_true(m->learning_rate > 0.0);
    /* the progress record: aggregates only, no NaN for what does not
       apply */
    json_t *j = st_train_metrics_to_json(m);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "epoch")), 1);
    assert_int_equal(json_array_size(json_object_get(j, "confusion")), 2);
    assert_null(json_object_get(j, "mse"));
    assert_true(json_is_real(json_object_get(j, "accuracy")));
    json_decref(j);
    return 1;
}

static void test_callback_can_cancel_between_epochs(void **state)
{
    (void)state;
    st_err e;
    dataset s = blobs(50, 3, 2, 1.0, 11);
    st_train_config c = mlp_config(4, ST_ACT_SIGMOID);
    st_trainer *t = make_trainer(&c, &s.d);
    assert_int_equal(st_trainer_fit(t, &s.d, NULL, cancel_now, NULL, &e),
                     ST_E_CANCELLED);
    assert_int_equal(st_trainer_epoch(t), 1);
    assert_false(st_trainer_finished(t));
    assert_true(st_trainer_secure_bytes(t) > 0);
    st_trainer_free(t);
    dataset_free(&s);
}

/* ---- the update rules against PyTorch's ---- */

static const char *torch_python(void)
{
    static int state = -1; /* -1 unknown, 0 absent, 1 present */
    if (state < 0)
        state = system("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0;
    return state ? "/usr/bin/python3" : NULL;
}

/* Five full-batch steps of a 3 -> 2 linear model under MSE, from the same
 * weights, in our engine; returns the 8 parameters. */
static void our_steps(st_train_optimizer opt, double wd, double clip,
                      float out[8])
{
    st_err e;
    static const float x[4 * 3] = {0.5f,  -1.0f, 2.0f,  1.5f, 0.25f, -0.5f,
                                   -2.0f, 1.0f,  0.75f, 0.1f, 0.2f,  0.3f};
    static const float y[4 * 2] = {1.0f,  -1.0f, 0.5f,  2.0f,
                                   -1.5f, 0.0f,  0.25f, 0.75f};
    static const float w0[6] = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f};
    static const float b0[2] = {0.05f, -0.05f};
    st_train_data d = {x, y, 4, 3, 2, 0};
    st_train_config c;
    st_train_config_default(&c);
    c.model = ST_MODEL_LINEAR;
    c.loss = ST_LOSS_MSE;
    c.optimizer = opt;
    c.learning_rate = 0.1;
    c.momentum = opt == ST_OPT_SGD ? 0.9 : 0.0;
    c.nesterov = opt == ST_OPT_SGD;
    c.weight_decay = wd;
    c.clip_norm = clip;
    c.batch_size = 4;
    c.epochs = 5;
    st_trainer *t = make_trainer(&c, &d);
    memcpy(t->layers[0].w, w0, sizeof(w0));
    memcpy(t->layers[0].b, b0, sizeof(b0));
    assert_st_ok(st_trainer_fit(t, &d, NULL, NULL, NULL, &e), &e);
    memcpy(out, t->layers[0].w, 6 * sizeof(float));
    memcpy(out + 6, t->layers[0].b, 2 * sizeof(float));
    st_trainer_free(t);
}

static void test_optimisers_match_pytorch_update_rules(void **state)
{
    (void)state;
    if (!torch_python())
        skip();
    static const struct {
        st_train_optimizer opt;
        double wd, clip;
        const char *torch;
    } cases[] = {
        {ST_OPT_SGD, 0.01, 0.0,
         "torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, "
         "nesterov=True, weight_decay=0.01)"},
        {ST_OPT_ADAM, 0.01, 0.5,
         "torch.optim.Adam(m.parameters(), lr=0.1, weight_decay=0.01)"},
        {ST_OPT_ADAMW, 0.1, 0.0,
         "torch.optim.AdamW(m.parameters(), lr=0.1, weight_decay=0.1)"},
    };
    char *dir = st_test_tmpdir("train");
    char cmd[8192];
    int n = snprintf(
        cmd, sizeof(cmd),
        "%s - > '%s/w.txt' <<'EOF'\n"
        "import torch\n"
        "x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5],"
        " [-2.0, 1.0, 0.75], [0.1, 0.2, 0.3]])\n"
        "y = torch.tensor([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.0],"
        " [0.25, 0.75]])\n"
        "def run(make, clip):\n"
        "    m = torch.nn.Linear(3, 2)\n"
        "    with torch.no_grad():\n"
        "        m.weight.copy_(torch.tensor([[0.1, -0.2, 0.3],"
        " [0.4, 0.5, -0.6]]))\n"
        "        m.bias.copy_(torch.tensor([0.05, -0.05]))\n"
        "    o = make(m)\n"
        "    for _ in range(5):\n"
        "        o.zero_grad()\n"
        "        torch.nn.functional.mse_loss(m(x), y).backward()\n"
        "        if clip > 0:\n"
        "            torch.nn.utils.clip_grad_norm_(m.parameters(), clip)\n"
        "        o.step()\n"
        "    print(' '.join(repr(v) for v in m.weight.flatten().tolist()"
        " + m.bias.tolist()))\n",
        torch_python(), dir);
    for (size_t k = 0; k < 3; k++)
        n += snprintf(cmd + n, sizeof(cmd) - (size_t)n,
                      "run(lambda m: %s, %g)\n", cases[k].torch, cases[k].clip);
    snprintf(cmd + n, sizeof(cmd) - (size_t)n, "EOF");
    assert_int_equal(system(cmd), 0);
    char path[4200];
    snprintf(path, sizeof(path), "%s/w.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    for (size_t k = 0; k < 3; k++) {
        float ours[8];
        our_steps(cases[k].opt, cases[k].wd, cases[k].clip, ours);
        for (size_t i = 0; i < 8; i++) {
            double want;
            assert_int_equal(fscanf(f, "%lf", &want), 1);
            if (fabs(ours[i] - want) > 1e-5 * fmax(1.0, fabs(want)))
                fail_msg("%s: parameter %zu is %.9g, torch %.9g",
                         cases[k].torch, i, (double)ours[i], want);
        }
    }
    fclose(f);
    st_test_rmtree(dir);
    free(dir);
}

/* ---- preprocessing ---- */

/* Whether row i is in the training part of t's seeded validation split
 * (make_split in trainer.c: a shuffle, the first nval rows held out). */
static int is_training_row(const st_trainer *t, const st_train_data *d,
                           size_t i)
{
    size_t n = d->rows, nval = (size_t)floor(t->cfg.validation_split * n);
    size_t *all = malloc(n * sizeof(size_t));
    for (size_t k = 0; k < n; k++)
        all[k] = k;
    st_rng r;
    st_rng_seed(&r, t->cfg.seed ^ SPLIT_STREAM);
    st_rng_shuffle(&r, all, n);
    int held = 0;
    for (size_t k = 0; k < nval; k++)
        held |= all[k] == i;
    free(all);
    return !held;
}

static st_code pp_from_text(const char *text, st_train_config *c, st_err *e)
{
    json_t *j = st_json_parse(text, strlen(text), "spec", e);
    assert_non_null(j);
    st_code rc = st_train_config_preprocessing(j, c, e);
    json_decref(j);
    return rc;
}

/* Standardisation is fitted on the training rows only: held-out rows with
 * huge values change nothing, and the fitted statistics are the training
 * rows' mean and population std (per-column exceptions honoured). */
static void test_preprocessing_fits_on_training_rows_only(void **state)
{
    (void)state;
    st_err e;
    dataset s = blobs(200, 3, 2, 1.0, 11);
    st_train_config c = mlp_config(6, ST_ACT_RELU);
    c.validation_split = 0.25;
    c.epochs = 2;
    assert_st_ok(pp_from_text("{\"scale\": \"standardize\", \"columns\": "
                              "{\"2\": {\"scale\": \"minmax\"}}}",
                              &c, &e),
                 &e);
    st_trainer *t = make_trainer(&c, &s.d);
    train_ok(t, &s.d);
    assert_true(t->pp_fitted);
    /* recompute over the same training rows (the seeded split) */
    st_trainer *u = make_trainer(&c, &s.d);
    for (size_t i = 0; i < 200; i++) /* poison what should be held out */
        if (!is_training_row(u, &s.d, i))
            for (size_t j = 0; j < 3; j++)
                s.x[i * 3 + j] = 1e6f;
    train_ok(u, &s.d);
    assert_memory_equal(t->pp_shift, u->pp_shift, 3 * sizeof(float));
    assert_memory_equal(t->pp_scale, u->pp_scale, 3 * sizeof(float));
    double sum = 0, sq = 0, lo = 1e30, hi = -1e30;
    size_t n = 0;
    for (size_t i = 0; i < 200; i++) {
        if (!is_training_row(u, &s.d, i))
            continue;
        sum += s.x[i * 3];
        lo = fmin(lo, s.x[i * 3 + 2]);
        hi = fmax(hi, s.x[i * 3 + 2]);
        n++;
    }
    double mean = sum / (double)n;
    for (size_t i = 0; i < 200; i++)
        if (is_training_row(u, &s.d, i))
            sq += (s.x[i * 3] - mean) * (s.x[i * 3] - mean);
    assert_int_equal(n, 150);
    assert_float_equal(u->pp_shift[0], mean, 1e-5);
    assert_float_equal(u->pp_scale[0], 1.0 / sqrt(sq / (double)n), 1e-5);
    assert_float_equal(u->pp_shift[2], lo, 0);
    assert_float_equal(u->pp_scale[2], 1.0 / (hi - lo), 1e-6);
    /* predictions use the statistics: scaling by hand and predicting with
     * a trainer without preprocessing gives the same outputs */
    float pa[4 * 2], pb[4 * 2], xs[4 * 3];
    assert_st_ok(st_trainer_predict(u, s.x, 4, pa, &e), &e);
    for (size_t i = 0; i < 12; i++)
        xs[i] = (s.x[i] - u->pp_shift[i % 3]) * u->pp_scale[i % 3];
    st_train_config plain = u->cfg;
    plain.scale = ST_SCALE_NONE;
    plain.npp_columns = 0;
    st_trainer *v = make_trainer(&plain, &s.d);
    memcpy(v->params, u->params, u->nparams * sizeof(float));
    assert_st_ok(st_trainer_predict(v, xs, 4, pb, &e), &e);
    assert_memory_equal(pa, pb, sizeof(pa));
    st_trainer_free(t);
    st_trainer_free(u);
    st_trainer_free(v);
    dataset_free(&s);
}

/* The statistics travel in checkpoints (a resumed run stays bit-identical)
 * and in the sealed safetensors (tensors preprocessing.shift / .scale). */
static void
test_preprocessing_travels_in_checkpoint_and_safetensors(void **state)
{
    (void)state;
    st_err e;
    dataset s = blobs(120, 4, 3, 1.0, 12);
    st_train_config c = mlp_config(5, ST_ACT_RELU);
    c.epochs = 4;
    assert_st_ok(pp_from_text("{\"scale\": \"minmax\"}", &c, &e), &e);
    st_trainer *whole = make_trainer(&c, &s.d);
    train_ok(whole, &s.d);
    st_trainer *first = make_trainer(&c, &s.d);
    unsigned stop = 2;
    assert_int_equal(st_trainer_fit(first, &s.d, NULL, stop_at, &stop, &e),
                     ST_E_CANCELLED);
    st_secret *ck;
    assert_st_ok(st_trainer_checkpoint(first, &ck, &e), &e);
    st_trainer *rest;
    assert_st_ok(
        st_trainer_restore(st_secret_cbytes(ck), st_secret_len(ck), &rest, &e),
        &e);
    /* the resumed trainer has the statistics: it does not refit them */
    assert_true(rest->pp_fitted);
    assert_memory_equal(rest->pp_shift, first->pp_shift, 4 * sizeof(float));
    assert_memory_equal(rest->pp_scale, first->pp_scale, 4 * sizeof(float));
    train_ok(rest, &s.d);
    size_t n;
    const float *pw = st_trainer_params(whole, &n);
    assert_memory_equal(pw, st_trainer_params(rest, NULL), n * sizeof(float));
    st_secret *st;
    assert_st_ok(st_trainer_save_safetensors(whole, NULL, &st, &e), &e);
    st_safetensors *p;
    assert_st_ok(
        st_safetensors_parse(st_secret_cbytes(st), st_secret_len(st), &p, &e),
        &e);
    const st_safetensor *sh = st_safetensors_find(p, "preprocessing.shift");
    assert_non_null(sh);
    assert_memory_equal(sh->data, whole->pp_shift, 4 * sizeof(float));
    const char *cfg =
        json_string_value(json_object_get(p->metadata, "sealtrain.config"));
    assert_non_null(strstr(cfg, "\"preprocessing\":{\"columns\":{},"
                                "\"scale\":\"minmax\"}"));
    st_safetensors_free(p);
    st_trainer *u = make_trainer(&c, &s.d);
    assert_st_ok(st_trainer_load_safetensors(u, st_secret_cbytes(st),
                                             st_secret_len(st), &e),
                 &e);
    float pa[10 * 3], pb[10 * 3];
    assert_st_ok(st_trainer_predict(whole, s.x, 10, pa, &e), &e);
    assert_st_ok(st_trainer_predict(u, s.x, 10, pb, &e), &e);
    assert_memory_equal(pa, pb, sizeof(pa));
    /* a model without preprocessing refuses the file (tensor count) */
    st_train_config plain = c;
    plain.scale = ST_SCALE_NONE;
    st_trainer *v = make_trainer(&plain, &s.d);
    assert_int_equal(st_trainer_load_safetensors(v, st_secret_cbytes(st),
                                                 st_secret_len(st), &e),
                     ST_E_INPUT);
    st_trainer_free(v);
    st_trainer_free(u);
    st_secret_free(st);
    st_secret_free(ck);
    st_trainer_free(first);
    st_trainer_free(whole);
    st_trainer_free(rest);
    dataset_free(&s);
}

static void test_preprocessing_section_is_strict(void **state)
{
    (void)state;
    st_train_config c;
    st_train_config_default(&c);
    st_err e;
    const char *bad[][2] = {
        {"{\"scale\": \"zscore\"}", "preprocessing.scale"},
        {"{\"scaling\": \"minmax\"}", "scaling"},
        {"{\"missing\": \"mean\"}", "preprocessing.missing: \"mean\" is not "
                                    "supported"},
        {"{\"categorical\": \"onehot\"}", "only \"error\" applies"},
        {"{\"columns\": {\"bmi\": {\"scale\": \"none\"}}}",
         "preprocessing.columns.bmi: expected a 0-based feature index"},
        {"{\"columns\": {\"01\": {}}}", "columns.01"},
        {"{\"columns\": {\"1\": {\"scale\": 3}}}", "columns.1"},
        {"[]", "expected an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pp_from_text(bad[i][0], &c, &e) != ST_E_INPUT)
            fail_msg("accepted: %s", bad[i][0]);
        if (!strstr(e.msg, bad[i][1]))
            fail_msg("for %s: \"%s\" lacks \"%s\"", bad[i][0], e.msg,
                     bad[i][1]);
    }
    assert_st_ok(pp_from_text("{\"scale\": \"none\", \"missing\": \"error\", "
                              "\"categorical\": \"error\"}",
                              &c, &e),
                 &e);
    assert_false(st_train_config_has_preprocessing(&c));
    /* a column beyond the data is named when the sizes are resolved */
    dataset s = blobs(20, 3, 2, 1.0, 1);
    st_train_config m = mlp_config(4, ST_ACT_RELU);
    assert_st_ok(pp_from_text("{\"columns\": {\"3\": {\"scale\": "
                              "\"minmax\"}}}",
                              &m, &e),
                 &e);
    assert_int_equal(st_train_config_resolve(&m, &s.d, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "preprocessing.columns.3"));
    dataset_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_gradients_match_finite_differences_for_every_layer_and_loss),
        cmocka_unit_test(test_same_seed_gives_bit_identical_weights),
        cmocka_unit_test(test_resume_from_checkpoint_is_bit_identical),
        cmocka_unit_test(test_checkpoint_rejects_corruption_and_truncation),
        cmocka_unit_test(test_safetensors_round_trip_restores_weights),
        cmocka_unit_test(test_safetensors_loader_rejects_malformed_files),
        cmocka_unit_test(test_safetensors_file_is_readable_by_python),
        cmocka_unit_test(test_early_stopping_stops_and_restores_best_weights),
        cmocka_unit_test(test_class_weights_raise_recall_of_the_weighted_class),
        cmocka_unit_test(test_schedules_follow_their_formulas),
        cmocka_unit_test(test_hyperparameters_are_strict_and_name_the_key),
        cmocka_unit_test(test_models_learn_classification_and_regression),
        cmocka_unit_test(test_callback_can_cancel_between_epochs),
        cmocka_unit_test(test_optimisers_match_pytorch_update_rules),
        cmocka_unit_test(test_preprocessing_fits_on_training_rows_only),
        cmocka_unit_test(
            test_preprocessing_travels_in_checkpoint_and_safetensors),
        cmocka_unit_test(test_preprocessing_section_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
