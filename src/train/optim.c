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

/* sqrtf must compile to an instruction for the Adam loop to vectorise;
   errno from sqrt of a negative number is meaningless here (v >= 0). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno")
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

static void adam(float *restrict w, const float *restrict g, float *restrict m,
                 float *restrict v, size_t n, float step, float inv_sqrt_bc2,
                 float eps, float scale, float wd, float b1, float b2,
                 float decay)
{
    float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float wi = w[i] * decay;
        float gi = g[i] * scale + wd * wi;
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
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
        adam(t->params, t->grads, t->m1, t->m2, t->nparams, (float)(lr / bc1),
             (float)(1.0 / sqrt(bc2)), (float)c->epsilon, scale,
             decoupled ? 0.0f : (float)c->weight_decay, (float)c->beta1,
             (float)c->beta2,
             decoupled ? (float)(1.0 - lr * c->weight_decay) : 1.0f);
        break;
    }
    }
    return lr;
}
