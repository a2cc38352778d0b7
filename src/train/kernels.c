/*
 * kernels.c: the elementwise work of training, fused so that each batch
 * buffer is walked as few times as possible after cblas_sgemm has written
 * it: bias + activation in one pass, dropout in one pass, activation
 * derivative + dropout mask + bias gradient in one pass, and softmax +
 * cross-entropy + its gradient + bias gradient + metrics in one pass.
 *
 * These functions never allocate and never look at anything but the
 * buffers they are given. Loss reductions follow PyTorch's conventions
 * (mean over the batch; with class weights, sum(w_i l_i) / sum(w_i)) so
 * that the same hyperparameters mean the same thing on both sides.
 */
#include <math.h>
#include <string.h>

#include "train/train_internal.h"

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

void st_kern_bias(float *restrict h, const float *restrict b, size_t rows,
                  size_t n)
{
    for (size_t i = 0; i < rows; i++) {
        float *restrict r = h + i * n;
        for (size_t j = 0; j < n; j++)
            r[j] += b[j];
    }
}

void st_kern_bias_act(float *z, float *h, const float *restrict b, size_t rows,
                      size_t n, st_train_activation act)
{
    /* For ReLU, tanh and sigmoid the derivative is a function of the
       output, so z == h (in place) and nothing else is kept; GELU keeps
       z. */
    for (size_t i = 0; i < rows; i++) {
        /* zr and hr may be the same row (in place): no restrict */
        float *zr = z + i * n;
        float *hr = h + i * n;
        switch (act) {
        case ST_ACT_RELU:
            for (size_t j = 0; j < n; j++) {
                float v = zr[j] + b[j];
                hr[j] = v > 0.0f ? v : 0.0f;
            }
            break;
        case ST_ACT_TANH:
            for (size_t j = 0; j < n; j++)
                hr[j] = tanhf(zr[j] + b[j]);
            break;
        case ST_ACT_SIGMOID:
            for (size_t j = 0; j < n; j++)
                hr[j] = 1.0f / (1.0f + expf(-(zr[j] + b[j])));
            break;
        case ST_ACT_GELU:
            for (size_t j = 0; j < n; j++) {
                float v = zr[j] + b[j];
                zr[j] = v;
                hr[j] = 0.5f * v * (1.0f + erff(v * INV_SQRT2));
            }
            break;
        }
    }
}

void st_kern_dropout(const float *restrict h, float *restrict d,
                     uint8_t *restrict mask, size_t count, double drop,
                     st_rng *rng)
{
    /* inverted dropout: kept units are scaled by 1/(1-p) at training
       time, so evaluation uses the weights as they are */
    float scale = (float)(1.0 / (1.0 - drop));
    uint64_t threshold = (uint64_t)(drop * 0x1.0p32);
    for (size_t i = 0; i < count; i++) {
        uint8_t keep = (st_rng_next(rng) >> 32) >= threshold;
        mask[i] = keep;
        d[i] = keep ? h[i] * scale : 0.0f;
    }
}

void st_kern_act_backward(float *restrict g, const float *restrict z,
                          const float *restrict h, const uint8_t *restrict mask,
                          double drop, float *restrict db, size_t rows,
                          size_t n, st_train_activation act)
{
    float scale = mask ? (float)(1.0 / (1.0 - drop)) : 1.0f;
    memset(db, 0, n * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        float *restrict gr = g + i * n;
        const float *restrict hr = h + i * n;
        if (mask) {
            const uint8_t *restrict mr = mask + i * n;
            for (size_t j = 0; j < n; j++)
                gr[j] = mr[j] ? gr[j] * scale : 0.0f;
        }
        switch (act) {
        case ST_ACT_RELU:
            for (size_t j = 0; j < n; j++)
                gr[j] = hr[j] > 0.0f ? gr[j] : 0.0f;
            break;
        case ST_ACT_TANH:
            for (size_t j = 0; j < n; j++)
                gr[j] *= 1.0f - hr[j] * hr[j];
            break;
        case ST_ACT_SIGMOID:
            for (size_t j = 0; j < n; j++)
                gr[j] *= hr[j] * (1.0f - hr[j]);
            break;
        case ST_ACT_GELU: {
            const float *restrict zr = z + i * n;
            for (size_t j = 0; j < n; j++) {
                float v = zr[j];
                float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2));
                float pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
                gr[j] *= cdf + v * pdf;
            }
            break;
        }
        }
        for (size_t j = 0; j < n; j++)
            db[j] += gr[j];
    }
}

static double loss_softmax_ce(const float *restrict logits,
                              const float *restrict y, const float *restrict w,
                              size_t rows, size_t k, float inv_wsum,
                              float *restrict g, float *restrict db,
                              st_metric_acc *acc)
{
    double total = 0.0;
    for (size_t i = 0; i < rows; i++) {
        const float *restrict zr = logits + i * k;
        float *restrict gr = g + i * k;
        size_t label = (size_t)y[i];
        float wi = w ? w[i] : 1.0f;
        float mx = zr[0];
        size_t arg = 0;
        for (size_t j = 1; j < k; j++)
            if (zr[j] > mx) {
                mx = zr[j];
                arg = j;
            }
        float sum = 0.0f;
        for (size_t j = 0; j < k; j++) {
            float e = expf(zr[j] - mx);
            gr[j] = e;
            sum += e;
        }
        float lse = logf(sum);
        float inv = wi * inv_wsum / sum;
        for (size_t j = 0; j < k; j++)
            gr[j] *= inv;
        gr[label] -= wi * inv_wsum;
        for (size_t j = 0; j < k; j++)
            db[j] += gr[j];
        double li = (double)(lse - (zr[label] - mx));
        total += (double)wi * li;
        if (acc) {
            acc->correct += arg == label;
            if (acc->confusion)
                acc->confusion[label * k + arg]++;
        }
    }
    return total;
}

static double loss_bce(const float *restrict logits, const float *restrict y,
                       const float *restrict w, size_t rows, float inv_wsum,
                       float *restrict g, float *restrict db,
                       st_metric_acc *acc)
{
    double total = 0.0;
    float dbsum = 0.0f;
    for (size_t i = 0; i < rows; i++) {
        float z = logits[i], t = y[i];
        float wi = w ? w[i] : 1.0f;
        /* log(1 + e^-|z|) form: no overflow for large |z| */
        float li = fmaxf(z, 0.0f) - z * t + log1pf(expf(-fabsf(z)));
        float p = 1.0f / (1.0f + expf(-z));
        g[i] = (p - t) * wi * inv_wsum;
        dbsum += g[i];
        total += (double)wi * (double)li;
        if (acc) {
            size_t label = t >= 0.5f, pred = z >= 0.0f;
            acc->correct += label == pred;
            if (acc->confusion)
                acc->confusion[label * 2 + pred]++;
        }
    }
    db[0] = dbsum;
    return total;
}

static double loss_mse(const float *restrict out, const float *restrict y,
                       size_t rows, size_t k, float *restrict g,
                       float *restrict db, st_metric_acc *acc)
{
    double total = 0.0;
    float scale = 2.0f / (float)(rows * k);
    for (size_t i = 0; i < rows; i++) {
        const float *restrict zr = out + i * k;
        const float *restrict yr = y + i * k;
        float *restrict gr = g + i * k;
        float li = 0.0f;
        for (size_t j = 0; j < k; j++) {
            float e = zr[j] - yr[j];
            li += e * e;
            gr[j] = scale * e;
            db[j] += gr[j];
        }
        total += (double)li / (double)k;
        if (acc && acc->reg)
            for (size_t j = 0; j < k; j++) {
                double yv = yr[j], e = (double)zr[j] - yv;
                acc->reg[4 * j] += yv;
                acc->reg[4 * j + 1] += yv * yv;
                acc->reg[4 * j + 2] += e * e;
                acc->reg[4 * j + 3] += fabs(e);
            }
    }
    return total;
}

double st_kern_loss(st_train_loss loss, const float *logits, const float *y,
                    const float *w, size_t rows, size_t outputs, float *g,
                    float *db, st_metric_acc *acc)
{
    double wsum = (double)rows;
    if (w) {
        wsum = 0.0;
        for (size_t i = 0; i < rows; i++)
            wsum += w[i];
    }
    float inv_wsum = wsum > 0.0 ? (float)(1.0 / wsum) : 0.0f;
    double total = 0.0;
    memset(db, 0, outputs * sizeof(float));
    switch (loss) {
    case ST_LOSS_SOFTMAX_CE:
        total =
            loss_softmax_ce(logits, y, w, rows, outputs, inv_wsum, g, db, acc);
        break;
    case ST_LOSS_BCE:
        total = loss_bce(logits, y, w, rows, inv_wsum, g, db, acc);
        break;
    case ST_LOSS_MSE:
        total = loss_mse(logits, y, rows, outputs, g, db, acc);
        break;
    }
    if (acc) {
        acc->loss_sum += total;
        acc->weight_sum += wsum;
        acc->rows += rows;
    }
    return total;
}

void st_kern_output(st_train_loss loss, const float *logits, size_t rows,
                    size_t k, float *out)
{
    for (size_t i = 0; i < rows; i++) {
        const float *zr = logits + i * k;
        float *o = out + i * k;
        if (loss == ST_LOSS_SOFTMAX_CE) {
            float mx = zr[0], sum = 0.0f;
            for (size_t j = 1; j < k; j++)
                mx = fmaxf(mx, zr[j]);
            for (size_t j = 0; j < k; j++) {
                o[j] = expf(zr[j] - mx);
                sum += o[j];
            }
            for (size_t j = 0; j < k; j++)
                o[j] /= sum;
        } else if (loss == ST_LOSS_BCE) {
            o[0] = 1.0f / (1.0f + expf(-zr[0]));
        } else {
            memcpy(o, zr, k * sizeof(float));
        }
    }
}
