#include "nn/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nn/adamw8bit.h"
#include "nn/arena.h"

/* Tensors smaller than this are updated without waking the thread team. */
#define PARALLEL_MIN 16384

optimizer_config optimizer_defaults(optimizer_kind kind)
{
    optimizer_config c = {.kind = kind};
    if (kind == OPTIMIZER_ADAFACTOR) {
        c.eps = 1e-30;
        c.eps2 = 1e-3;
        c.clip_threshold = 1.0;
        c.decay_rate = -0.8;
    } else if (kind != OPTIMIZER_SGD) {
        c.beta1 = 0.9;
        c.beta2 = 0.999;
        c.eps = 1e-8;
        c.weight_decay = 0.01;
    }
    return c;
}

static const char *const names[] = {"adamw", "adamw8bit", "sgd", "adafactor"};
#define KINDS ((int)(sizeof names / sizeof names[0]))

const char *optimizer_name(optimizer_kind kind)
{
    return (int)kind >= 0 && (int)kind < KINDS ? names[kind] : "unknown";
}

gt_status optimizer_parse(const char *name, optimizer_kind *kind, gt_error *err)
{
    for (int i = 0; i < KINDS; i++) {
        if (name && !strcasecmp(name, names[i])) {
            *kind = (optimizer_kind)i;
            return GT_OK;
        }
    }
    return gt_error_set(err, GT_ERR_INVALID, "optimizer '%s': unknown (use adamw, adamw8bit, sgd or adafactor)",
                        name ? name : "");
}

static gt_status check_adafactor(const optimizer_config *c, gt_error *err)
{
    if (!(c->beta1 >= 0.0 && c->beta1 < 1.0) || !(c->eps >= 0.0) || !(c->eps2 >= 0.0))
        return gt_error_set(err, GT_ERR_INVALID, "optimizer adafactor: beta1 %g must be in [0, 1) (0: no first "
                            "moment), eps %g and eps2 %g >= 0", c->beta1, c->eps, c->eps2);
    if (!(c->clip_threshold > 0.0) || !(c->decay_rate < 0.0 && c->decay_rate >= -1.0))
        return gt_error_set(err, GT_ERR_INVALID, "optimizer adafactor: clip_threshold %g must be > 0 and decay_rate "
                            "%g in [-1, 0)", c->clip_threshold, c->decay_rate);
    return GT_OK;
}

static gt_status check_config(const optimizer_config *c, gt_error *err)
{
    if ((int)c->kind < 0 || (int)c->kind >= KINDS)
        return gt_error_set(err, GT_ERR_INVALID, "optimizer: unknown kind %d", (int)c->kind);
    if (!(c->weight_decay >= 0.0))
        return gt_error_set(err, GT_ERR_INVALID, "optimizer %s: weight_decay %g must be >= 0", names[c->kind],
                            c->weight_decay);
    if (!(c->threshold >= 0.0) || !isfinite(c->threshold))
        return gt_error_set(err, GT_ERR_INVALID, "optimizer %s: gradient threshold %g must be a finite number >= 0",
                            names[c->kind], c->threshold);
    if (c->kind == OPTIMIZER_ADAFACTOR)
        return check_adafactor(c, err);
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

/* Hugging Face tensors stacked in one of ours: BERT's query, key and value
 * live as one (3C, C) block (bert.c), three tensors to transformers'
 * Adafactor, which factors and clips each on its own. */
static int hf_parts(const param_tensor *pt)
{
    static const char *const packed[] = {".attention.self.qkv.weight", ".attention.self.qkv.bias"};
    size_t len = strlen(pt->name);
    for (size_t i = 0; i < sizeof packed / sizeof packed[0]; i++) {
        size_t n = strlen(packed[i]);
        if (len >= n && !strcmp(pt->name + len - n, packed[i]) && pt->shape[0] % 3 == 0)
            return 3;
    }
    return 1;
}

/* Adafactor's state: each trainable tensor's factors (2-D: d0 row means then
 * d1 column means; 1-D: a full second moment), and with beta1 a full first
 * moment in the gradient block's layout. */
static gt_status adafactor_init(optimizer *o, const param_set *ps, gt_error *err)
{
    size_t floats = 0;
    if (!(o->factor_offset = malloc((size_t)(ps->count ? ps->count : 1) * sizeof *o->factor_offset)))
        return GT_OK; /* reported as out of memory by the caller */
    for (int t = 0; t < ps->count; t++) {
        const param_tensor *pt = &ps->tensors[t];
        o->factor_offset[t] = floats;
        if (!pt->trainable || pt->grad_offset == PARAM_NO_GRAD)
            continue;
        if (pt->ndim > 2) {
            free(o->factor_offset);
            o->factor_offset = NULL;
            return gt_error_set(err, GT_ERR_UNSUPPORTED, "optimizer adafactor: tensor %s has %d dimensions; only "
                                "1-D and 2-D tensors are supported", pt->name, pt->ndim);
        }
        int parts = hf_parts(pt);
        floats += pt->ndim == 2 ? (size_t)(pt->shape[0] + parts * pt->shape[1]) : pt->numel;
    }
    if (!(o->factors = state_alloc(o, (floats ? floats : 1) * sizeof(float))) ||
        (o->cfg.beta1 > 0.0 && !(o->m = state_alloc(o, o->floats * sizeof(float))))) {
        free(o->factor_offset);
        o->factor_offset = NULL;
    }
    return GT_OK;
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
    case OPTIMIZER_ADAFACTOR:
        if ((st = adafactor_init(o, ps, err)) != GT_OK)
            return st;
        ok = o->factor_offset != NULL;
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
    nn_free(o->factors);
    free(o->factor_offset);
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
        .threshold = (float)c->threshold,
        .seed = (uint64_t)step * 0x9E3779B97F4A7C15ull,
    };
    return k;
}

/* torch.optim.AdamW's single-tensor update:
 *   p *= 1 - lr wd;  m = m b1 + (1 - b1) g;  v = v b2 + (1 - b2) g g;
 *   p += -(lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
 * Returns the entries skipped by the threshold. */
long adamw_tensor(float *p, const float *g, float *m, float *v, long n, const adamw_consts *c)
{
    long skipped = 0;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN) reduction(+ : skipped)
    for (long i = 0; i < n; i++) {
        if (fabsf(g[i]) < c->threshold) {
            skipped++;
            continue;
        }
        float pi = p[i] * c->decay;
        float mi = m[i] * c->beta1 + c->one_minus_beta1 * g[i];
        float vi = v[i] * c->beta2 + c->one_minus_beta2 * g[i] * g[i];
        float denom = sqrtf(vi) / c->bc2_sqrt + c->eps;
        p[i] = pi + c->neg_step * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
    return skipped;
}

/* Blocks start at the tensor's gradient offset, a multiple of ADAMW8_BLOCK. */
static long adamw8bit_tensor(optimizer *o, float *p, const float *g, size_t grad_offset, long n,
                             const adamw_consts *c)
{
    long blocks = (n + ADAMW8_BLOCK - 1) / ADAMW8_BLOCK, skipped = 0;
    size_t first = grad_offset / ADAMW8_BLOCK;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN) reduction(+ : skipped)
    for (long b = 0; b < blocks; b++) {
        long i = b * ADAMW8_BLOCK;
        int len = n - i < ADAMW8_BLOCK ? (int)(n - i) : ADAMW8_BLOCK;
        skipped += adamw8bit_block(p + i, g + i, o->qm + grad_offset + i, o->qv + grad_offset + i,
                                   &o->m_scale[first + b], &o->r_scale[first + b], len, grad_offset + (size_t)i, c);
    }
    return skipped;
}

/* torch.optim.SGD: d = g + wd p; buf = d on the first step, else
 * buf = momentum buf + (1 - dampening) d; d = nesterov ? d + momentum buf : buf;
 * p -= lr d. */
static long sgd_tensor(const optimizer_config *c, float *p, const float *g, float *buf, long n, double lr, int decay,
                       int first)
{
    float wd = decay ? (float)c->weight_decay : 0.0f;
    float mom = (float)c->momentum, damp = (float)(1.0 - c->dampening), neg_lr = (float)-lr;
    float threshold = (float)c->threshold;
    long skipped = 0;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN) reduction(+ : skipped)
    for (long i = 0; i < n; i++) {
        if (fabsf(g[i]) < threshold) {
            skipped++;
            continue;
        }
        float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        if (buf) {
            float b = first ? d : buf[i] * mom + damp * d;
            buf[i] = b;
            d = c->nesterov ? d + mom * b : b;
        }
        p[i] = p[i] + neg_lr * d;
    }
    return skipped;
}

/* ---- Adafactor ---------------------------------------------------------------- */

/* Sums fn(r) over rows in a fixed grouping (64 chunks of rows, added in
 * order): the same result for any thread count. */
#define SUM_CHUNKS 64
typedef struct {
    const float *x, *f, *g;
    long rows, cols;
    int factored;
    float row_mean;
} adafactor_view;
typedef double (*row_fn)(const adafactor_view *v, long r);

static double sum_rows(const adafactor_view *v, row_fn fn)
{
    double partial[SUM_CHUNKS] = {0};
#pragma omp parallel for schedule(static) if (v->rows * v->cols >= PARALLEL_MIN)
    for (int c = 0; c < SUM_CHUNKS; c++) {
        double s = 0.0;
        for (long r = v->rows * c / SUM_CHUNKS; r < v->rows * (c + 1) / SUM_CHUNKS; r++)
            s += fn(v, r);
        partial[c] = s;
    }
    double total = 0.0;
    for (int c = 0; c < SUM_CHUNKS; c++)
        total += partial[c];
    return total;
}

static double row_squares(const adafactor_view *v, long r)
{
    double s = 0.0;
    for (long j = 0; j < v->cols; j++)
        s += (double)v->x[r * v->cols + j] * v->x[r * v->cols + j];
    return s;
}

/* mean(g^2 + eps1) over count values of g, stride apart (a row or a column). */
static float mean_square(const float *g, long count, long stride, double eps1)
{
    double s = 0.0;
    for (long i = 0; i < count; i++)
        s += (double)g[i * stride] * g[i * stride] + eps1;
    return (float)(s / (double)count);
}

/* The step's factored (or full) second moment:
 *   row_i = b2t row_i + (1 - b2t) mean_j(g_ij^2 + eps1)
 *   col_j = b2t col_j + (1 - b2t) mean_i(g_ij^2 + eps1)   (1-D: v_i likewise) */
static void adafactor_moments(float *f, const float *g, long rows, long cols, int factored, double beta2t,
                              double eps1)
{
    float b = (float)beta2t, a = (float)(1.0 - beta2t);
    if (!factored) {
        long n = rows * cols;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
        for (long i = 0; i < n; i++)
            f[i] = f[i] * b + a * (float)((double)g[i] * g[i] + eps1);
        return;
    }
    float *row = f, *col = f + rows;
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN)
    for (long r = 0; r < rows; r++)
        row[r] = row[r] * b + a * mean_square(g + r * cols, cols, 1, eps1);
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN)
    for (long j = 0; j < cols; j++)
        col[j] = col[j] * b + a * mean_square(g + j, rows, cols, eps1);
}

/* The unclipped update of entry (r, j): g / sqrt(v_hat), with the factored
 * estimate v_hat = row_r col_j / mean(row). */
static inline float adafactor_raw(const adafactor_view *v, long r, long j)
{
    long i = r * v->cols + j;
    if (!v->factored)
        return v->g[i] / sqrtf(v->f[i]);
    return v->g[i] / sqrtf(v->f[r] / v->row_mean) / sqrtf(v->f[v->rows + j]);
}

static double row_update_squares(const adafactor_view *v, long r)
{
    double s = 0.0;
    for (long j = 0; j < v->cols; j++) {
        double u = adafactor_raw(v, r, j);
        s += u * u;
    }
    return s;
}

/* transformers' Adafactor.step for one tensor (rows x cols, factored; a 1-D
 * tensor is n x 1, unfactored). Returns the entries skipped by the threshold. */
static long adafactor_tensor(optimizer *o, float *p, const float *g, float *f, float *m, long rows, long cols,
                             int factored, double lr, int decay)
{
    const optimizer_config *c = &o->cfg;
    long n = rows * cols, skipped = 0;
    double t = (double)o->step;
    adafactor_view v = {.x = p, .f = f, .g = g, .rows = rows, .cols = cols, .factored = factored, .row_mean = 1.0f};
    double step_lr = c->relative_step ? fmin(c->warmup_init ? 1e-6 * t : 1e-2, 1.0 / sqrt(t)) : lr;
    if (c->scale_parameter)
        step_lr *= fmax(c->eps2, sqrt(sum_rows(&v, row_squares) / (double)n));
    adafactor_moments(f, g, rows, cols, factored, 1.0 - pow(t, c->decay_rate), c->eps);
    if (factored) {
        double s = 0.0;
        for (long r = 0; r < rows; r++)
            s += f[r];
        v.row_mean = (float)(s / (double)rows);
    }
    /* u /= max(1, RMS(u) / clip_threshold) over the whole tensor. */
    double clip = fmax(1.0, sqrt(sum_rows(&v, row_update_squares) / (double)n) / c->clip_threshold);
    float scale = (float)(step_lr / clip), beta1 = (float)c->beta1, threshold = (float)c->threshold;
    float keep = (float)(decay && c->weight_decay != 0.0 ? -c->weight_decay * step_lr : 0.0);
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN) reduction(+ : skipped)
    for (long r = 0; r < rows; r++)
        for (long j = 0; j < cols; j++) {
            long i = r * cols + j;
            if (fabsf(g[i]) < threshold) {
                skipped++;
                continue;
            }
            float u = adafactor_raw(&v, r, j) * scale;
            if (m) {
                m[i] = m[i] * beta1 + (1.0f - beta1) * u;
                u = m[i];
            }
            if (keep != 0.0f)
                p[i] = p[i] + p[i] * keep;
            p[i] = p[i] - u;
        }
    return skipped;
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
        long skipped;
        if (o->cfg.kind == OPTIMIZER_SGD) {
            skipped = sgd_tensor(&o->cfg, p, g, o->m ? o->m + at : NULL, n, lr, pt->decay, o->step == 1);
        } else if (o->cfg.kind == OPTIMIZER_ADAFACTOR) {
            int factored = pt->ndim == 2, parts = hf_parts(pt);
            long rows = (factored ? (long)pt->shape[0] : n) / parts, cols = factored ? (long)pt->shape[1] : 1;
            float *f = o->factors + o->factor_offset[t];
            skipped = 0;
            for (int k = 0; k < parts; k++, f += factored ? rows + cols : rows)
                skipped += adafactor_tensor(o, p + k * rows * cols, g + k * rows * cols, f,
                                            o->m ? o->m + at + k * rows * cols : NULL, rows, cols, factored, lr,
                                            pt->decay);
        } else {
            adamw_consts c = adamw_step_consts(&o->cfg, lr, o->step, pt->decay);
            skipped = o->cfg.kind == OPTIMIZER_ADAMW ? adamw_tensor(p, g, o->m + at, o->v + at, n, &c)
                                                     : adamw8bit_tensor(o, p, g, at, n, &c);
        }
        o->skipped += (uint64_t)skipped;
        o->considered += (uint64_t)n;
    }
    ps->epoch++;   /* not params_touch: frozen tensors did not change, their int8 and packed copies stay */
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
