#include "nn/optimizer.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "nn/adamw8bit.h"
#include "nn/arena.h"

/* Tensors smaller than this are updated without waking the thread team. */
#define PARALLEL_MIN 16384

optimizer_config optimizer_defaults(optimizer_kind kind)
{
    optimizer_config c = {.kind = kind};
    if (kind != OPTIMIZER_SGD) {
        c.beta1 = 0.9;
        c.beta2 = 0.999;
        c.eps = 1e-8;
        c.weight_decay = 0.01;
    }
    return c;
}

static const char *const names[] = {"adamw", "adamw8bit", "sgd"};

const char *optimizer_name(optimizer_kind kind)
{
    return (unsigned)kind <= OPTIMIZER_SGD ? names[kind] : "unknown";
}

gt_status optimizer_parse(const char *name, optimizer_kind *kind, gt_error *err)
{
    for (int i = 0; i <= OPTIMIZER_SGD; i++) {
        if (name && !strcasecmp(name, names[i])) {
            *kind = (optimizer_kind)i;
            return GT_OK;
        }
    }
    return gt_error_set(err, GT_ERR_INVALID, "optimizer '%s': unknown (use adamw, adamw8bit or sgd)",
                        name ? name : "");
}

static gt_status check_config(const optimizer_config *c, gt_error *err)
{
    if ((unsigned)c->kind > OPTIMIZER_SGD)
        return gt_error_set(err, GT_ERR_INVALID, "optimizer: unknown kind %d", (int)c->kind);
    if (!(c->weight_decay >= 0.0))
        return gt_error_set(err, GT_ERR_INVALID, "optimizer %s: weight_decay %g must be >= 0", names[c->kind],
                            c->weight_decay);
    if (c->kind == OPTIMIZER_SGD) {
        if (!(c->momentum >= 0.0) || !(c->dampening >= 0.0 && c->dampening <= 1.0))
            return gt_error_set(err, GT_ERR_INVALID, "optimizer sgd: momentum %g / dampening %g out of range "
                                "(momentum >= 0, dampening in [0, 1])", c->momentum, c->dampening);
        if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0))
            return gt_error_set(err, GT_ERR_INVALID,
                                "optimizer sgd: nesterov needs momentum > 0 and dampening 0 (as in torch.optim.SGD)");
        return GT_OK;
    }
    if (!(c->beta1 >= 0.0 && c->beta1 < 1.0) || !(c->beta2 >= 0.0 && c->beta2 < 1.0) || !(c->eps >= 0.0))
        return gt_error_set(err, GT_ERR_INVALID, "optimizer %s: betas (%g, %g) must be in [0, 1) and eps %g >= 0",
                            names[c->kind], c->beta1, c->beta2, c->eps);
    return GT_OK;
}

static void *state_alloc(optimizer *o, size_t bytes)
{
    void *p = nn_alloc(bytes);
    if (p)
        o->state_bytes += bytes;
    return p;
}

gt_status optimizer_init(optimizer *o, const param_set *ps, const optimizer_config *cfg, gt_error *err)
{
    memset(o, 0, sizeof *o);
    gt_status st = check_config(cfg, err);
    if (st != GT_OK)
        return st;
    if (!ps->finalized)
        return gt_error_set(err, GT_ERR_INVALID, "optimizer: the parameters are not finalized (params_finalize)");
    o->cfg = *cfg;
    o->floats = ps->grad_floats;
    size_t n = o->floats;
    if (n == 0)
        return GT_OK;   /* nothing trainable: every step is a no-op */
    int ok = 1;
    switch (cfg->kind) {
    case OPTIMIZER_ADAMW:
        ok = (o->m = state_alloc(o, n * sizeof(float))) && (o->v = state_alloc(o, n * sizeof(float)));
        break;
    case OPTIMIZER_ADAMW_8BIT: {
        size_t blocks = (n + ADAMW8_BLOCK - 1) / ADAMW8_BLOCK;
        ok = (o->qm = state_alloc(o, n)) && (o->qv = state_alloc(o, n)) &&
             (o->m_scale = state_alloc(o, blocks * sizeof(float))) &&
             (o->r_scale = state_alloc(o, blocks * sizeof(float)));
        break;
    }
    case OPTIMIZER_SGD:
        if (cfg->momentum != 0.0)
            ok = (o->m = state_alloc(o, n * sizeof(float))) != NULL;
        break;
    }
    if (!ok) {
        size_t bytes = o->state_bytes;
        optimizer_free(o);
        return gt_error_set(err, GT_ERR_NOMEM, "optimizer %s: cannot allocate its state (%.1f MiB so far; "
                            "try adamw8bit or sgd)", names[cfg->kind], bytes / 1048576.0);
    }
    return GT_OK;
}

void optimizer_free(optimizer *o)
{
    nn_free(o->m);
    nn_free(o->v);
    nn_free(o->qm);
    nn_free(o->qv);
    nn_free(o->m_scale);
    nn_free(o->r_scale);
    memset(o, 0, sizeof *o);
}

size_t optimizer_state_bytes(const optimizer *o)
{
    return o->state_bytes;
}

/* torch's scalars are Python doubles, cast to float where they meet a tensor. */
adamw_consts adamw_step_consts(const optimizer_config *c, double lr, long step, int decay)
{
    double bc1 = 1.0 - pow(c->beta1, (double)step);
    double bc2 = 1.0 - pow(c->beta2, (double)step);
    adamw_consts k = {
        .decay = (float)(decay ? 1.0 - lr * c->weight_decay : 1.0),
        .beta1 = (float)c->beta1,
        .one_minus_beta1 = (float)(1.0 - c->beta1),
        .beta2 = (float)c->beta2,
        .one_minus_beta2 = (float)(1.0 - c->beta2),
        .bc2_sqrt = (float)sqrt(bc2),
        .neg_step = (float)(-(lr / bc1)),
        .eps = (float)c->eps,
        .seed = (uint64_t)step * 0x9E3779B97F4A7C15ull,
    };
    return k;
}

/* torch.optim.AdamW's single-tensor update:
 *   p *= 1 - lr wd;  m = m b1 + (1 - b1) g;  v = v b2 + (1 - b2) g g;
 *   p += -(lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps) */
void adamw_tensor(float *p, const float *g, float *m, float *v, long n, const adamw_consts *c)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (long i = 0; i < n; i++) {
        float pi = p[i] * c->decay;
        float mi = m[i] * c->beta1 + c->one_minus_beta1 * g[i];
        float vi = v[i] * c->beta2 + c->one_minus_beta2 * g[i] * g[i];
        float denom = sqrtf(vi) / c->bc2_sqrt + c->eps;
        p[i] = pi + c->neg_step * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

/* Blocks start at the tensor's gradient offset, a multiple of ADAMW8_BLOCK. */
static void adamw8bit_tensor(optimizer *o, float *p, const float *g, size_t grad_offset, long n,
                             const adamw_consts *c)
{
    long blocks = (n + ADAMW8_BLOCK - 1) / ADAMW8_BLOCK;
    size_t first = grad_offset / ADAMW8_BLOCK;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (long b = 0; b < blocks; b++) {
        long i = b * ADAMW8_BLOCK;
        int len = n - i < ADAMW8_BLOCK ? (int)(n - i) : ADAMW8_BLOCK;
        adamw8bit_block(p + i, g + i, o->qm + grad_offset + i, o->qv + grad_offset + i, &o->m_scale[first + b],
                        &o->r_scale[first + b], len, grad_offset + (size_t)i, c);
    }
}

/* torch.optim.SGD: d = g + wd p; buf = d on the first step, else
 * buf = momentum buf + (1 - dampening) d; d = nesterov ? d + momentum buf : buf;
 * p -= lr d. */
static void sgd_tensor(const optimizer_config *c, float *p, const float *g, float *buf, long n, double lr, int decay,
                       int first)
{
    float wd = decay ? (float)c->weight_decay : 0.0f;
    float mom = (float)c->momentum, damp = (float)(1.0 - c->dampening), neg_lr = (float)-lr;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (long i = 0; i < n; i++) {
        float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        if (buf) {
            float b = first ? d : buf[i] * mom + damp * d;
            buf[i] = b;
            d = c->nesterov ? d + mom * b : b;
        }
        p[i] = p[i] + neg_lr * d;
    }
}

void optimizer_step(optimizer *o, param_set *ps, double lr)
{
    o->step++;
    for (int t = 0; t < ps->count; t++) {
        const param_tensor *pt = &ps->tensors[t];
        if (!pt->trainable || pt->grad_offset == PARAM_NO_GRAD)
            continue;
        float *p = ps->data + pt->offset;
        const float *g = ps->grad + pt->grad_offset;
        long n = (long)pt->numel;
        size_t at = pt->grad_offset;
        if (o->cfg.kind == OPTIMIZER_SGD) {
            sgd_tensor(&o->cfg, p, g, o->m ? o->m + at : NULL, n, lr, pt->decay, o->step == 1);
            continue;
        }
        adamw_consts c = adamw_step_consts(&o->cfg, lr, o->step, pt->decay);
        if (o->cfg.kind == OPTIMIZER_ADAMW)
            adamw_tensor(p, g, o->m + at, o->v + at, n, &c);
        else
            adamw8bit_tensor(o, p, g, at, n, &c);
    }
    params_touch(ps);
}

/* ---- gradient clipping ----------------------------------------------------- */

/* Sums of squares over fixed chunks, combined in chunk order, so the result
 * is independent of the thread count. */
#define NORM_CHUNK 65536
#define NORM_GROUP 64

double grad_norm(const param_set *ps)
{
    size_t n = ps->grad_floats;
    size_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    double total = 0.0;
    for (size_t first = 0; first < chunks; first += NORM_GROUP) {
        double partial[NORM_GROUP] = {0};
        int count = chunks - first < NORM_GROUP ? (int)(chunks - first) : NORM_GROUP;
#pragma omp parallel for schedule(static) if (count > 1)
        for (int c = 0; c < count; c++) {
            size_t lo = (first + c) * NORM_CHUNK, hi = lo + NORM_CHUNK < n ? lo + NORM_CHUNK : n;
            double s = 0.0;
            for (size_t i = lo; i < hi; i++)
                s += (double)ps->grad[i] * ps->grad[i];
            partial[c] = s;
        }
        for (int c = 0; c < count; c++)
            total += partial[c];
    }
    return sqrt(total);
}

double clip_grad_norm(param_set *ps, double max_norm)
{
    double norm = grad_norm(ps);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        params_scale_grad(ps, (float)coef);
    return norm;
}

/* ---- learning-rate schedules ------------------------------------------------- */

double lr_at(lr_schedule kind, double base_lr, long step, long warmup, long total)
{
    if (step < warmup)
        return base_lr * (double)step / (double)(warmup > 1 ? warmup : 1);
    if (kind == LR_CONSTANT)
        return base_lr;
    long span = total - warmup > 1 ? total - warmup : 1;
    double progress = (double)(step - warmup) / (double)span;
    double factor = kind == LR_LINEAR ? (double)(total - step) / (double)span
                                      : 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress));
    return base_lr * (factor > 0.0 ? factor : 0.0);
}

gt_status lr_schedule_parse(const char *name, lr_schedule *kind, gt_error *err)
{
    static const char *const schedules[] = {"constant", "linear", "cosine"};
    for (int i = 0; i < 3; i++) {
        if (name && !strcasecmp(name, schedules[i])) {
            *kind = (lr_schedule)i;
            return GT_OK;
        }
    }
    return gt_error_set(err, GT_ERR_INVALID, "lr schedule '%s': unknown (use constant, linear or cosine)",
                        name ? name : "");
}
