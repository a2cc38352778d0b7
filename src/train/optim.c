/*
 * optim.c: optimisers, learning-rate schedules and gradient clipping.
 *
 * The update rules follow torch.optim (1.13) term for term, so that the
 * same hyperparameters train the same way in both engines:
 *   SGD:   g += wd*w; buf = mu*buf + g; g = nesterov ? g + mu*buf : buf;
 *          w -= lr*g   (buf starts at 0, which equals torch's buf = g)
 *   Adam:  g += wd*w; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *          w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   AdamW: w *= 1 - lr*wd, then Adam without the wd term.
 * Clipping scales all gradients by max_norm/(norm + 1e-6) when that is
 * below 1, as torch.nn.utils.clip_grad_norm_. Each update is one fused
 * pass over the parameter block; clipping adds one read pass.
 *
 * This file never allocates and never touches anything but the trainer's
 * state block.
 */
#include <math.h>

#include "train/train_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

double st_train_schedule_lr(const st_train_config *c, uint64_t step,
                            uint64_t spe)
{
    double base = c->learning_rate;
    if (spe == 0)
        spe = 1;
    uint64_t warm = (uint64_t)llround(c->warmup_epochs * (double)spe);
    if (step < warm)
        return base * (double)(step + 1) / (double)warm;
    switch (c->schedule) {
    case ST_SCHED_STEP:
        return base * pow(c->gamma, (double)(step / spe / c->step_epochs));
    case ST_SCHED_COSINE: {
        uint64_t total = (uint64_t)c->epochs * spe;
        double p =
            total > warm ? (double)(step - warm) / (double)(total - warm) : 1.0;
        if (p > 1.0)
            p = 1.0;
        return c->min_learning_rate +
               0.5 * (base - c->min_learning_rate) * (1.0 + cos(M_PI * p));
    }
    default: return base;
    }
}

static double grad_norm(const float *restrict g, size_t n)
{
    /* eight independent partial sums: the sum is the same on every run
       (fixed order) and the loop is not one long dependency chain */
    double s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += (double)g[i + k] * (double)g[i + k];
    for (; i < n; i++)
        s[0] += (double)g[i] * (double)g[i];
    return sqrt(((s[0] + s[1]) + (s[2] + s[3])) +
                ((s[4] + s[5]) + (s[6] + s[7])));
}

static void sgd(float *restrict w, const float *restrict g, float *restrict buf,
                size_t n, float lr, float scale, float wd, float mu,
                int nesterov)
{
    if (!buf) {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * (g[i] * scale + wd * w[i]);
        return;
    }
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] * scale + wd * w[i];
            buf[i] = mu * buf[i] + gi;
            w[i] -= lr * (gi + mu * buf[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] * scale + wd * w[i];
            buf[i] = mu * buf[i] + gi;
            w[i] -= lr * buf[i];
        }
    }
}

typedef struct adam_args {
    float step, inv_sqrt_bc2, eps, scale, wd, b1, b2, decay;
} adam_args;

/* One element; the vector paths below do the same operations in the same
 * order (no fused multiply-add), so every path gives the same bits. */
static inline void adam_one(float *w, const float *g, float *m, float *v,
                            const adam_args *a)
{
    float wi = *w * a->decay;
    float gi = *g * a->scale + a->wd * wi;
    float mi = a->b1 * *m + (1.0f - a->b1) * gi;
    float vi = a->b2 * *v + (1.0f - a->b2) * gi * gi;
    *m = mi;
    *v = vi;
    *w = wi - a->step * mi / (sqrtf(vi) * a->inv_sqrt_bc2 + a->eps);
}

#if defined(__x86_64__)
/* The compiler will not vectorise sqrtf under the default -fmath-errno,
 * and the update is a third of a step's time when it runs scalar: AVX2
 * explicitly, chosen at run time. */
__attribute__((target("avx2"))) static size_t
adam_avx2(float *w, const float *g, float *m, float *v, size_t n,
          const adam_args *a)
{
    __m256 decay = _mm256_set1_ps(a->decay), scale = _mm256_set1_ps(a->scale);
    __m256 wd = _mm256_set1_ps(a->wd), b1 = _mm256_set1_ps(a->b1);
    __m256 c1 = _mm256_set1_ps(1.0f - a->b1), b2 = _mm256_set1_ps(a->b2);
    __m256 c2 = _mm256_set1_ps(1.0f - a->b2), step = _mm256_set1_ps(a->step);
    __m256 ib = _mm256_set1_ps(a->inv_sqrt_bc2), eps = _mm256_set1_ps(a->eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wi = _mm256_mul_ps(_mm256_loadu_ps(w + i), decay);
        __m256 gi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(g + i), scale),
                                  _mm256_mul_ps(wd, wi));
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)),
                                  _mm256_mul_ps(c1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), ib), eps);
        __m256 upd = _mm256_div_ps(_mm256_mul_ps(step, mi), den);
        _mm256_storeu_ps(w + i, _mm256_sub_ps(wi, upd));
    }
    return i;
}
#endif

static void adam(float *restrict w, const float *restrict g, float *restrict m,
                 float *restrict v, size_t n, const adam_args *a)
{
    size_t i = 0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2"))
        i = adam_avx2(w, g, m, v, n, a);
#endif
    for (; i < n; i++)
        adam_one(w + i, g + i, m + i, v + i, a);
}

double st_trainer_optimizer_step(st_trainer *t, uint64_t steps_per_epoch)
{
    const st_train_config *c = &t->cfg;
    double lr = st_train_schedule_lr(c, t->step, steps_per_epoch);
    float scale = 1.0f;
    if (c->clip_norm > 0.0) {
        double norm = grad_norm(t->grads, t->nparams);
        double coef = c->clip_norm / (norm + 1e-6);
        if (coef < 1.0)
            scale = (float)coef;
    }
    t->step++;
    switch (c->optimizer) {
    case ST_OPT_SGD:
        sgd(t->params, t->grads, t->nmoments ? t->m1 : NULL, t->nparams,
            (float)lr, scale, (float)c->weight_decay, (float)c->momentum,
            c->nesterov);
        break;
    case ST_OPT_ADAM:
    case ST_OPT_ADAMW: {
        double bc1 = 1.0 - pow(c->beta1, (double)t->step);
        double bc2 = 1.0 - pow(c->beta2, (double)t->step);
        int decoupled = c->optimizer == ST_OPT_ADAMW;
        adam_args a = {
            .step = (float)(lr / bc1),
            .inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2)),
            .eps = (float)c->epsilon,
            .scale = scale,
            .wd = decoupled ? 0.0f : (float)c->weight_decay,
            .b1 = (float)c->beta1,
            .b2 = (float)c->beta2,
            .decay = decoupled ? (float)(1.0 - lr * c->weight_decay) : 1.0f,
        };
        adam(t->params, t->grads, t->m1, t->m2, t->nparams, &a);
        break;
    }
    }
    return lr;
}
