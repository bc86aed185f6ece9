/* The GPU model: device memory, the copies between host and device, the
 * pieces every architecture uses (linear layers, norms, dropout, attention,
 * pooling, the classifier), and the steps behind gpu.h. It mirrors model.c
 * op for op; the architectures are in gpu_layers.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arena.h"
#include "nn/cuda/gpu_model.h"

#define PLAN_ALIGN 256

/* ---- small pieces ------------------------------------------------------------------ */

void *gpu_take(gpu_plan *p, size_t bytes, int want)
{
    if (!want)
        return NULL;
    size_t at = (p->used + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
    p->used = at + (bytes ? bytes : 1);
    return p->base ? p->base + at : NULL;
}

static gt_nn_precision precision_for(const gt_nn_model *m, model_mode mode)
{
    return mode == MODEL_INFER ? m->opt.infer_precision : m->opt.train_precision;
}

gt_nn_precision gpu_precision(const gt_nn_model *m)
{
    return precision_for(m, m->gpu->mode);
}

static int is_half(gt_nn_precision p)
{
    return p == GT_NN_BF16 || p == GT_NN_FP16;
}

static dev_type matmul_type(gt_nn_precision p)
{
    return p == GT_NN_BF16 ? DEV_BF16 : p == GT_NN_FP16 ? DEV_F16 : DEV_F32;
}

float *gpu_data(const gt_nn_model *m, int index)
{
    return index < 0 ? NULL : m->gpu->params + m->params.tensors[index].offset;
}

float *gpu_grad(const gt_nn_model *m, int index)
{
    if (index < 0 || !m->gpu->grads || m->params.tensors[index].grad_offset == PARAM_NO_GRAD)
        return NULL;
    return m->gpu->grads + m->params.tensors[index].grad_offset;
}

static void *gpu_data16(const gt_nn_model *m, int index)
{
    const gpu_model *g = m->gpu;
    return (char *)g->w16 + (m->params.tensors[index].offset - g->w16_first) * 2;
}

/* The widest linear input or output of the model (rows of scratch). */
static size_t widest(const gt_nn_config *c)
{
    size_t w = 3 * (size_t)c->dim, f = (c->arch == GT_NN_MODERNBERT ? 2 : 1) * (size_t)c->ffn;
    w = f > w ? f : w;
    return (size_t)c->num_labels > w ? (size_t)c->num_labels : w;
}

/* Every model_linear of the model. */
static int linears(gt_nn_model *m, const model_linear **out, int cap)
{
    int n = 0;
    for (int l = 0; l < m->cfg.layers; l++) {
        const model_linear *ls[4] = {&m->layers[l].qkv, &m->layers[l].attn_out, &m->layers[l].ffn_in,
                                     &m->layers[l].ffn_out};
        for (int i = 0; i < 4 && n < cap; i++)
            out[n++] = ls[i];
    }
    if (n + 2 <= cap) {
        out[n++] = &m->head;
        out[n++] = &m->classifier;
    }
    return n;
}

static void gemm(gt_nn_model *m, const dev_gemm *gm, gt_nn_precision p)
{
    gpu_model *g = m->gpu;
    g->flops[p] += 2.0 * gm->M * gm->N * gm->K * gm->batch;
    g->d->gemm(g->d, gm);
}

/* ---- weights on the device: the 16-bit mirror and the int8 copies ---------------- */

static void ensure_w16(gt_nn_model *m, dev_type t)
{
    gpu_model *g = m->gpu;
    size_t count = m->params.data_floats - g->w16_first;
    if (g->w16_valid && g->w16_type == t)
        return;
    if (!g->w16 && !(g->w16 = g->d->alloc(g->d, count * 2)))
        return;
    g->d->convert(g->d, g->w16, t, g->params + g->w16_first, (long)count);
    g->w16_type = t;
    g->w16_valid = 1;
}

/* int8 needs both sizes to be multiples of 4 (cuBLASLt's int8 kernels); the
 * pooler and classifier (num_labels rows) stay fp32. */
static int int8_linear(const gt_nn_model *m, const model_linear *l)
{
    const param_tensor *t = &m->params.tensors[l->w];
    return l != &m->head && l != &m->classifier && t->shape[0] % 4 == 0 && t->shape[1] % 4 == 0;
}

static void ensure_wq(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    if (g->wq_valid)
        return;
    const model_linear *ls[4 * 1024 + 2];
    int n = linears(m, ls, (int)(sizeof ls / sizeof ls[0]));
    long rows = 0;
    for (int i = 0; i < n; i++)
        if (int8_linear(m, ls[i]))
            rows += m->params.tensors[ls[i]->w].shape[0];
    if (!g->wq && !(g->wq = g->d->alloc(g->d, m->params.data_floats - g->w16_first)))
        return;
    if (!g->wq_scale && !(g->wq_scale = g->d->alloc(g->d, (size_t)(rows ? rows : 1) * sizeof(float))))
        return;
    long at = 0;
    for (int i = 0; i < n; i++) {
        const param_tensor *t = &m->params.tensors[ls[i]->w];
        if (!int8_linear(m, ls[i]))
            continue;
        g->wq_scale_off[ls[i]->w] = at;
        g->d->quant_rows(g->d, g->wq + (t->offset - g->w16_first), g->wq_scale + at, g->params + t->offset,
                         (int)t->shape[0], (int)t->shape[1]);
        at += t->shape[0];
    }
    g->wq_valid = 1;
}

/* The host's weights go to the device when they changed there (a load, an edit). */
static void refresh_weights(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    if (g->host_epoch == m->params.epoch)
        return;
    g->d->upload(g->d, g->params, m->params.data, m->params.data_floats * sizeof(float));
    g->host_epoch = m->params.epoch;
    g->device_ahead = 0;
    g->w16_valid = g->wq_valid = 0;
}

/* ---- the pieces of the layers ------------------------------------------------------- */

void gpu_linear_fwd(gt_nn_model *m, const model_linear *l, float *y, const float *x, void *x16, int N,
                    int accumulate)
{
    gpu_model *g = m->gpu;
    dev *d = g->d;
    const param_tensor *t = &m->params.tensors[l->w];
    int out = (int)t->shape[0], in = (int)t->shape[1];
    gt_nn_precision p = gpu_precision(m);
    const float *bias = gpu_data(m, l->b);
    if (p == GT_NN_INT8 && int8_linear(m, l)) {
        gpu_acts *s = &g->s;
        d->act_quant(d, s->xq, s->xscale, x, (long)N * in, s->q_scratch);
        d->gemm_s8(d, s->acc32, s->xq, g->wq + (t->offset - g->w16_first), N, out, in);
        d->dequant(d, y, s->acc32, s->xscale, g->wq_scale + g->wq_scale_off[l->w], bias, N, out, accumulate);
        g->flops[GT_NN_INT8] += 2.0 * N * in * out;
        return;
    }
    if (p == GT_NN_INT8)
        p = GT_NN_FP32;
    dev_gemm gm = {.type = DEV_F32, .tf32 = p == GT_NN_TF32, .tb = 1, .M = N, .N = out, .K = in, .A = x,
                   .lda = in, .B = gpu_data(m, l->w), .ldb = in, .C = y, .ldc = out, .alpha = 1.0f,
                   .beta = accumulate ? 1.0f : 0.0f, .bias = bias, .batch = 1};
    if (is_half(p)) {
        gm.type = matmul_type(p);
        void *xh = x16 ? x16 : g->s.x16;
        d->convert(d, xh, gm.type, x, (long)N * in);
        gm.A = xh;
        gm.B = gpu_data16(m, l->w);
    }
    gemm(m, &gm, p);
}

void gpu_linear_bwd(gt_nn_model *m, const model_linear *l, float *dx, const float *dy, const float *x,
                    const void *x16, int N, int dx_accumulate)
{
    gpu_model *g = m->gpu;
    dev *d = g->d;
    const param_tensor *t = &m->params.tensors[l->w];
    int out = (int)t->shape[0], in = (int)t->shape[1];
    gt_nn_precision p = gpu_precision(m);
    float *dw = gpu_grad(m, l->w), *db = gpu_grad(m, l->b);
    dev_type type = matmul_type(p);
    const void *dyx = dy, *w = gpu_data(m, l->w), *xx = x;
    if (is_half(p)) {
        d->convert(d, g->s.dy16, type, dy, (long)N * out);
        dyx = g->s.dy16;
        w = gpu_data16(m, l->w);
        if (!x16) { /* not kept by the forward pass: round it again */
            d->convert(d, g->s.x16, type, x, (long)N * in);
            x16 = g->s.x16;
        }
        xx = x16;
    }
    if (dx) {
        dev_gemm gm = {.type = type, .tf32 = p == GT_NN_TF32, .M = N, .N = in, .K = out, .A = dyx, .lda = out,
                       .B = w, .ldb = in, .C = dx, .ldc = in, .alpha = 1.0f, .beta = dx_accumulate ? 1.0f : 0.0f,
                       .batch = 1};
        gemm(m, &gm, p);
    }
    if (dw) {
        dev_gemm gm = {.type = type, .tf32 = p == GT_NN_TF32, .ta = 1, .M = out, .N = in, .K = N, .A = dyx,
                       .lda = out, .B = xx, .ldb = in, .C = dw, .ldc = in, .alpha = 1.0f, .beta = 1.0f, .batch = 1};
        gemm(m, &gm, p);
    }
    if (db)
        d->colsum(d, db, dy, N, out, g->s.col_scratch);
}

void gpu_norm_fwd(gt_nn_model *m, float *y, float *mean, float *rstd, const float *x, int w, int b, int N)
{
    dev *d = m->gpu->d;
    d->ln_fwd(d, y, mean, rstd, x, gpu_data(m, w), gpu_data(m, b), N, m->cfg.dim, m->cfg.eps);
}

void gpu_norm_bwd(gt_nn_model *m, float *dx, const float *dy, const float *x, int w, int b, const float *mean,
                  const float *rstd, int N)
{
    gpu_model *g = m->gpu;
    float *dw = gpu_grad(m, w), *db = gpu_grad(m, b);
    /* a frozen norm still passes its gradient on; its dw lands in scratch */
    if (!dw)
        dw = g->s.ln_dummy;
    g->d->ln_bwd(g->d, dx, dw, b >= 0 ? (db ? db : g->s.ln_dummy) : NULL, dy, x, gpu_data(m, w), mean, rstd,
                 g->s.ln_scratch, N, m->cfg.dim);
}

/* The dropout generator's seed and offsets, as model.c draws them, so that the
 * device drops the same elements as the CPU model would. */
#define DROPOUT_SITE_SPAN ((uint64_t)1 << 40)

static uint64_t dropout_seed(const gt_nn_model *m)
{
    return m->seed * 0x9E3779B97F4A7C15ull ^ (m->dropout_calls + 1) * 0xD1B54A32D192ED03ull;
}

void gpu_dropout_fwd(gt_nn_model *m, float *y, uint8_t *mask, const float *x, const float *residual, long n, float p,
                     int site)
{
    dev *d = m->gpu->d;
    if (m->gpu->mode != MODEL_TRAIN || !m->training || !(p > 0.0f) || !mask) {
        if (residual)
            d->add(d, y, x, residual, n);
        else if (y != x)
            d->copy(d, y, x, (size_t)n * sizeof(float));
        return;
    }
    d->dropout_fwd(d, y, mask, x, residual, n, p, dropout_seed(m), (uint64_t)site * DROPOUT_SITE_SPAN);
}

const float *gpu_dropout_bwd(gt_nn_model *m, float *scratch, const uint8_t *mask, const float *dy, long n, float p)
{
    /* a forward in eval mode drew no mask: device memory holds none to apply */
    if (!mask || !m->gpu->forward_dropout)
        return dy;
    m->gpu->d->dropout_bwd(m->gpu->d, scratch, mask, dy, n, p);
    return scratch;
}

static attention_shape attn_shape(const gt_nn_model *m, const model_layer *L)
{
    int D = m->cfg.dim / m->cfg.heads;
    return (attention_shape){.B = m->gpu->B, .T = m->gpu->T, .H = m->cfg.heads, .D = D, .window = L->window,
                             .scale = 1.0f / sqrtf((float)D)};
}

/* Standard attention's operand type: the matmuls' 16-bit type, else fp32. */
static gt_nn_precision attention_precision(const gt_nn_model *m)
{
    gt_nn_precision p = gpu_precision(m);
    return p == GT_NN_INT8 ? GT_NN_FP32 : p;
}

/* One batched matmul over the B*H heads: C (T, n) = op(A) (T, k) op(B) (k, n). */
static void head_gemm(gt_nn_model *m, attention_shape s, int ta, int tb, int n, int k, const void *A, long lda,
                      long sa, const void *B, long ldb, long sb, float *C, long ldc, long sc)
{
    gt_nn_precision p = attention_precision(m);
    dev_gemm gm = {.type = matmul_type(p), .tf32 = p == GT_NN_TF32, .ta = ta, .tb = tb, .M = s.T, .N = n, .K = k,
                   .A = A, .lda = lda, .stride_a = sa, .B = B, .ldb = ldb, .stride_b = sb, .C = C, .ldc = ldc,
                   .stride_c = sc, .alpha = 1.0f, .beta = 0.0f, .batch = s.B * s.H, .attention = 1};
    gemm(m, &gm, p);
}

/* q, k, v of every head as (B, H, T, D) in the attention type. */
static void split_qkv(gt_nn_model *m, const float *qkv, attention_shape s)
{
    gpu_acts *st = &m->gpu->s;
    dev *d = m->gpu->d;
    dev_type t = matmul_type(attention_precision(m));
    int HD = s.H * s.D;
    d->heads_split(d, st->qh, t, qkv, 3 * HD, s.B, s.T, s.H, s.D);
    d->heads_split(d, st->kh, t, qkv + HD, 3 * HD, s.B, s.T, s.H, s.D);
    d->heads_split(d, st->vh, t, qkv + 2 * HD, 3 * HD, s.B, s.T, s.H, s.D);
}

void gpu_attention_fwd(gt_nn_model *m, const model_layer *L, gpu_layer *a)
{
    gpu_model *g = m->gpu;
    gpu_acts *st = &g->s;
    dev *d = g->d;
    attention_shape s = attn_shape(m, L);
    if (m->opt.attention == GT_NN_ATTN_FUSED) {
        d->attn_fwd(d, a->ctx, a->lse, a->qkv, st->valid, s);
        return;
    }
    long TD = (long)s.T * s.D, TT = (long)s.T * s.T;
    split_qkv(m, a->qkv, s);
    head_gemm(m, s, 0, 1, s.T, s.D, st->qh, s.D, TD, st->kh, s.D, TD, st->S, s.T, TT);   /* S = q k^T */
    d->softmax_fwd(d, a->probs, matmul_type(attention_precision(m)), st->S, st->valid, s);
    head_gemm(m, s, 0, 0, s.D, s.T, a->probs, s.T, TT, st->vh, s.D, TD, st->oh, s.D, TD); /* O = P v */
    d->heads_merge(d, a->ctx, s.H * s.D, st->oh, s.B, s.T, s.H, s.D);
}

void gpu_attention_bwd(gt_nn_model *m, const model_layer *L, const gpu_layer *a, float *dqkv, const float *dctx)
{
    gpu_model *g = m->gpu;
    gpu_acts *st = &g->s;
    dev *d = g->d;
    attention_shape s = attn_shape(m, L);
    if (m->opt.attention == GT_NN_ATTN_FUSED) {
        d->attn_bwd(d, dqkv, dctx, a->ctx, a->qkv, a->lse, st->valid, st->delta, s);
        return;
    }
    dev_type t = matmul_type(attention_precision(m));
    long TD = (long)s.T * s.D, TT = (long)s.T * s.T;
    int HD = s.H * s.D;
    void *dS = t == DEV_F32 ? (void *)st->S : st->ds16;
    split_qkv(m, a->qkv, s);
    d->heads_split(d, st->doh, t, dctx, HD, s.B, s.T, s.H, s.D);
    head_gemm(m, s, 0, 1, s.T, s.D, st->doh, s.D, TD, st->vh, s.D, TD, st->S, s.T, TT);  /* dP = dO v^T */
    d->softmax_bwd(d, dS, st->S, a->probs, t, s);                                        /* dS, scaled */
    head_gemm(m, s, 1, 0, s.D, s.T, a->probs, s.T, TT, st->doh, s.D, TD, st->dvh, s.D, TD); /* dv = P^T dO */
    head_gemm(m, s, 0, 0, s.D, s.T, dS, s.T, TT, st->kh, s.D, TD, st->dqh, s.D, TD);        /* dq = dS k */
    head_gemm(m, s, 1, 0, s.D, s.T, dS, s.T, TT, st->qh, s.D, TD, st->dkh, s.D, TD);        /* dk = dS^T q */
    d->heads_merge(d, dqkv, 3 * HD, st->dqh, s.B, s.T, s.H, s.D);
    d->heads_merge(d, dqkv + HD, 3 * HD, st->dkh, s.B, s.T, s.H, s.D);
    d->heads_merge(d, dqkv + 2 * HD, 3 * HD, st->dvh, s.B, s.T, s.H, s.D);
}

void gpu_pool_fwd(gt_nn_model *m, const float *hidden)
{
    gpu_model *g = m->gpu;
    g->d->pool_fwd(g->d, g->s.pooled, hidden, g->s.valid, g->B, g->T, m->cfg.dim, m->cfg.pooling == GT_NN_POOL_MEAN);
}

void gpu_pool_bwd(gt_nn_model *m, float *dx, const float *dpooled)
{
    gpu_model *g = m->gpu;
    g->d->zero(g->d, dx, sizeof(float) * (size_t)g->B * g->T * m->cfg.dim);
    g->d->pool_bwd(g->d, dx, dpooled, g->s.valid, g->B, g->T, m->cfg.dim, m->cfg.pooling == GT_NN_POOL_MEAN);
}

void gpu_classifier_fwd(gt_nn_model *m, const float *h)
{
    gpu_model *g = m->gpu;
    gpu_dropout_fwd(m, g->s.cls_in, g->s.cls_mask, h, NULL, (long)g->B * m->cfg.dim, m->cfg.drop_classifier,
                    dropout_site(m->cfg.layers, 0));
    gpu_linear_fwd(m, &m->classifier, g->s.logits, g->s.cls_in, g->s.cls_in16, g->B, 0);
}

void gpu_classifier_bwd(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    gpu_linear_bwd(m, &m->classifier, s->g_head_a, s->g_logits, s->cls_in, s->cls_in16, g->B, 0);
    gpu_dropout_bwd(m, s->g_head_a, s->cls_mask, s->g_head_a, (long)g->B * m->cfg.dim, m->cfg.drop_classifier);
}

void gpu_embedding_bwd(gt_nn_model *m, const float *dx)
{
    gpu_model *g = m->gpu;
    const gt_nn_config *c = &m->cfg;
    float *dword = gpu_grad(m, m->emb_word);
    if (!dword)
        return;
    g->d->embed_bwd(g->d, dword, dx, g->s.order, g->s.seg_start, g->s.seg_id, g->h.nseg, c->dim);
    /* nn.Embedding(padding_idx): the pad row never gets a gradient (its rows were left out of the grouping) */
    if (c->pad_id >= 0 && c->pad_id < c->vocab)
        g->d->zero(g->d, dword + (long)c->pad_id * c->dim, sizeof(float) * (size_t)c->dim);
}

/* ---- step memory ---------------------------------------------------------------------- */

static void plan_common(gt_nn_model *m, gpu_plan *p)
{
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    const gt_nn_config *c = &m->cfg;
    size_t N = (size_t)g->B * g->T, B = (size_t)g->B, C = (size_t)c->dim, L = (size_t)c->num_labels;
    size_t heads = B * c->heads, T = (size_t)g->T, wide = widest(c);
    int train = g->mode == MODEL_TRAIN;
    gt_nn_precision prec = gpu_precision(m);
    int half = is_half(prec), standard = m->opt.attention != GT_NN_ATTN_FUSED;
    size_t ats = dev_type_size(matmul_type(attention_precision(m)));

    s->ids = gpu_take(p, N * sizeof(int32_t), 1);
    s->valid = gpu_take(p, B * sizeof(int32_t), 1);
    s->labels = gpu_take(p, B * sizeof(int32_t), 1);
    s->order = gpu_take(p, N * sizeof(int32_t), train);
    s->seg_start = gpu_take(p, (N + 1) * sizeof(int32_t), train);
    s->seg_id = gpu_take(p, N * sizeof(int32_t), train);
    s->tmp = gpu_floats(p, N * C, 1);
    s->emb_sum = gpu_floats(p, N * C, 1);
    s->emb_mean = gpu_floats(p, N, train);
    s->emb_rstd = gpu_floats(p, N, train);
    s->emb_mask = gpu_take(p, N * C, train && c->drop_embedding > 0);
    s->emb_out = gpu_floats(p, N * C, 1);
    s->pooled = gpu_floats(p, B * C, 1);
    s->head_pre = gpu_floats(p, B * C, 1);
    s->head_act = gpu_floats(p, B * C, 1);
    s->cls_in = gpu_floats(p, B * C, 1);
    s->pooled16 = gpu_take(p, B * C * 2, train && half);
    s->cls_in16 = gpu_take(p, B * C * 2, train && half);
    s->cls_mask = gpu_take(p, B * C, train && c->drop_classifier > 0);
    s->logits = gpu_floats(p, B * L, 1);
    s->probs = gpu_floats(p, B * L, 1);
    s->losses = gpu_floats(p, B, 1);
    s->x16 = gpu_take(p, N * wide * 2, half);

    s->S = gpu_floats(p, heads * T * T, standard);
    s->qh = gpu_take(p, N * C * ats, standard);
    s->kh = gpu_take(p, N * C * ats, standard);
    s->vh = gpu_take(p, N * C * ats, standard);
    s->oh = gpu_floats(p, N * C, standard);
    s->doh = gpu_take(p, N * C * ats, standard && train);
    s->ds16 = gpu_take(p, heads * T * T * ats, standard && train && ats == 2);
    s->dqh = gpu_floats(p, N * C, standard && train);
    s->dkh = gpu_floats(p, N * C, standard && train);
    s->dvh = gpu_floats(p, N * C, standard && train);
    s->delta = gpu_floats(p, heads * T, !standard && train);

    s->xq = gpu_take(p, N * wide, prec == GT_NN_INT8);
    s->acc32 = gpu_take(p, N * wide * sizeof(int32_t), prec == GT_NN_INT8);
    s->xscale = gpu_floats(p, 1, prec == GT_NN_INT8);
    s->q_scratch = gpu_floats(p, 4096, prec == GT_NN_INT8);

    s->g_logits = gpu_floats(p, B * L, train);
    s->g_head_a = gpu_floats(p, B * C, train);
    s->g_head_b = gpu_floats(p, B * C, train);
    s->g_out = gpu_floats(p, N * C, train);
    s->g_a = gpu_floats(p, N * C, train);
    s->g_b = gpu_floats(p, N * C, train);
    s->g_qkv = gpu_floats(p, N * 3 * C, train);
    s->ln_scratch = gpu_floats(p, (size_t)dev_ln_scratch_floats(c->dim), train);
    s->col_scratch = gpu_floats(p, DEV_GROUPS * wide, train);
    s->ln_dummy = gpu_floats(p, 2 * C, train);
    s->dy16 = gpu_take(p, N * wide * 2, train && half);
}

static void plan_all(gt_nn_model *m, gpu_plan *p)
{
    gpu_model *g = m->gpu;
    memset(&g->s, 0, sizeof g->s);
    memset(g->acts, 0, (size_t)m->cfg.layers * sizeof *g->acts);
    plan_common(m, p);
    if (m->cfg.arch == GT_NN_BERT)
        gpu_bert_plan(m, p);
    else
        gpu_modernbert_plan(m, p);
}

static gt_status staging_alloc(gpu_model *g, int N, int B, gt_error *err)
{
    gpu_staging *h = &g->h;
    if (h->nrows >= N && h->nbatch >= B)
        return GT_OK;
    int32_t **arrays[] = {&h->ids, &h->order, &h->seg_start, &h->seg_id, &h->cursor, &h->valid, &h->labels};
    /* B <= N: one length fits every array */
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        nn_free(*arrays[i]);
        if (!(*arrays[i] = nn_alloc(((size_t)N + 1) * sizeof(int32_t))))
            return gt_error_set(err, GT_ERR_NOMEM, "device cuda: out of host memory for a batch of %d tokens", N);
    }
    nn_free(h->losses);
    if (!(h->losses = nn_alloc((size_t)B * sizeof(float))))
        return gt_error_set(err, GT_ERR_NOMEM, "device cuda: out of host memory for a batch of %d tokens", N);
    h->nrows = N;
    h->nbatch = B;
    return GT_OK;
}

static void rope_upload(gt_nn_model *m, float *host)
{
    gpu_model *g = m->gpu;
    int D = m->cfg.dim / m->cfg.heads;
    size_t n = (size_t)g->T * (D / 2);
    for (int i = 0; i < 2; i++) {
        rope_tables(host, host + n, g->T, D, i == 0 ? m->cfg.global_theta : m->cfg.local_theta);
        g->d->upload(g->d, g->s.rope_cos[i], host, n * sizeof(float));
        g->d->upload(g->d, g->s.rope_sin[i], host + n, n * sizeof(float));
    }
    g->d->sync(g->d); /* the host tables are freed next */
}

/* Lays out the step memory for (B, T, mode) unless it already is. */
static gt_status gpu_prepare(gt_nn_model *m, int B, int T, model_mode mode, gt_error *err)
{
    gpu_model *g = m->gpu;
    if (g->planned && g->B == B && g->T == T && g->mode == mode && g->attention_planned == (int)m->opt.attention &&
        g->precision_planned == (int)precision_for(m, mode))
        return GT_OK;
    g->planned = g->have_forward = 0;
    g->B = B;
    g->T = T;
    g->mode = mode;
    g->attention_planned = (int)m->opt.attention;
    g->precision_planned = (int)precision_for(m, mode);
    gpu_plan probe = {NULL, 0};
    plan_all(m, &probe);
    size_t need = probe.used;
    if (need > g->block_bytes) {
        g->d->release(g->d, g->block);
        g->block = NULL;
        g->block_bytes = 0;
        size_t free_bytes = g->d->free_bytes(g->d);
        if (!(g->block = g->d->alloc(g->d, need))) {
            gt_error none;
            dev_take_error(g->d, &none);
            return gt_error_set(err, GT_ERR_NOMEM,
                                "batch %d x seq %d: a %s step needs %.2f GiB of GPU memory for activations, %.2f GiB "
                                "are free (reduce batch or seq)", B, T, mode == MODEL_TRAIN ? "training" : "inference",
                                need / 1073741824.0, free_bytes / 1073741824.0);
        }
        g->block_bytes = need;
    }
    if (need > g->block_peak)
        g->block_peak = need;
    gpu_plan real = {g->block, 0};
    plan_all(m, &real);
    gt_status st = staging_alloc(g, B * T, B, err);
    if (st != GT_OK)
        return st;
    if (m->cfg.arch == GT_NN_MODERNBERT) {
        float *host = nn_alloc((size_t)T * m->cfg.dim / m->cfg.heads * sizeof(float));
        if (!host)
            return gt_error_set(err, GT_ERR_NOMEM, "device cuda: out of host memory for the RoPE tables");
        rope_upload(m, host);
        nn_free(host);
    }
    g->planned = 1;
    return dev_take_error(g->d, err);
}

/* ---- a step's inputs ---------------------------------------------------------------------- */

/* Rows of the embedding gradient grouped by token id, rows in order inside a
 * group and the padding id left out: each token's row then sums its rows in
 * the CPU's order, with no atomics. */
static void group_rows(gt_nn_model *m)
{
    gpu_staging *h = &m->gpu->h;
    int N = m->gpu->B * m->gpu->T, pad = m->cfg.pad_id;
    int nseg = 0;
    for (int n = 0; n < N; n++) {
        int id = h->ids[n];
        if (id == pad)
            continue;
        if (h->slot[id] == 0) {
            h->seg_id[nseg] = id;
            h->cursor[nseg] = 0;
            h->slot[id] = ++nseg;
        }
        h->cursor[h->slot[id] - 1]++;
    }
    h->seg_start[0] = 0;
    for (int s = 0; s < nseg; s++) {
        h->seg_start[s + 1] = h->seg_start[s] + h->cursor[s];
        h->cursor[s] = h->seg_start[s];
    }
    for (int n = 0; n < N; n++)
        if (h->ids[n] != pad)
            h->order[h->cursor[h->slot[h->ids[n]] - 1]++] = n;
    for (int s = 0; s < nseg; s++)
        h->slot[h->seg_id[s]] = 0;
    h->nseg = nseg;
}

static void stage_inputs(gt_nn_model *m, const int32_t *ids, const int32_t *valid, const int32_t *labels)
{
    gpu_model *g = m->gpu;
    gpu_staging *h = &g->h;
    dev *d = g->d;
    int N = g->B * g->T;
    memcpy(h->ids, ids, sizeof(int32_t) * (size_t)N);
    for (int b = 0; b < g->B; b++) {
        h->valid[b] = valid ? valid[b] : g->T;
        h->labels[b] = labels ? labels[b] : 0;
    }
    d->upload(d, g->s.ids, h->ids, sizeof(int32_t) * (size_t)N);
    d->upload(d, g->s.valid, h->valid, sizeof(int32_t) * (size_t)g->B);
    d->upload(d, g->s.labels, h->labels, sizeof(int32_t) * (size_t)g->B);
    if (g->mode != MODEL_TRAIN)
        return;
    group_rows(m);
    int rows = h->seg_start[h->nseg];
    if (rows)
        d->upload(d, g->s.order, h->order, sizeof(int32_t) * (size_t)rows);
    d->upload(d, g->s.seg_start, h->seg_start, sizeof(int32_t) * (size_t)(h->nseg + 1));
    if (h->nseg)
        d->upload(d, g->s.seg_id, h->seg_id, sizeof(int32_t) * (size_t)h->nseg);
}

/* Weights ready for the step's precision, inputs on the device, the architecture's forward. */
static void run_forward(gt_nn_model *m, const int32_t *ids, const int32_t *valid, const int32_t *labels)
{
    gt_nn_precision p = gpu_precision(m);
    refresh_weights(m);
    if (is_half(p))
        ensure_w16(m, matmul_type(p));
    if (p == GT_NN_INT8)
        ensure_wq(m);
    stage_inputs(m, ids, valid, labels);
    if (m->cfg.arch == GT_NN_BERT)
        gpu_bert_forward(m);
    else
        gpu_modernbert_forward(m);
}

/* ---- gpu.h: the steps ------------------------------------------------------------------------ */

gt_status gpu_forward(gt_nn_model *m, const int32_t *ids, const int32_t *valid, const int32_t *labels, int B, int T,
                      float *logits, float *loss, gt_error *err)
{
    gpu_model *g = m->gpu;
    gt_status st = gpu_prepare(m, B, T, MODEL_TRAIN, err);
    if (st != GT_OK)
        return st;
    g->forward_dropout = m->training;
    run_forward(m, ids, valid, labels);
    g->d->ce_fwd(g->d, g->s.losses, g->s.probs, g->s.logits, g->s.labels, B, m->cfg.num_labels);
    g->d->download(g->d, g->h.losses, g->s.losses, sizeof(float) * (size_t)B);
    if (logits)
        g->d->download(g->d, logits, g->s.logits, sizeof(float) * (size_t)B * m->cfg.num_labels);
    if ((st = dev_take_error(g->d, err)) != GT_OK)
        return gt_error_prefix(err, "device cuda: forward: ");
    double total = 0.0; /* in order, in double: as cross_entropy_forward */
    for (int b = 0; b < B; b++)
        total += g->h.losses[b];
    if (loss)
        *loss = (float)(total / B);
    m->dropout_calls++;
    g->have_forward = 1;
    return GT_OK;
}

gt_status gpu_backward(gt_nn_model *m, float grad_scale, gt_error *err)
{
    gpu_model *g = m->gpu;
    if (!g->have_forward || g->mode != MODEL_TRAIN)
        return gt_error_set(err, GT_ERR_INVALID, "model backward: no training forward pass to differentiate "
                            "(call gt_nn_forward first, once per backward)");
    if (!g->grads)
        return gt_error_set(err, GT_ERR_INVALID, "model backward: every tensor is frozen");
    g->have_forward = 0;
    g->d->ce_bwd(g->d, g->s.g_logits, g->s.probs, g->s.labels, g->B, m->cfg.num_labels, grad_scale / g->B);
    if (m->cfg.arch == GT_NN_BERT)
        gpu_bert_backward(m);
    else
        gpu_modernbert_backward(m);
    g->grads_ahead = 1;
    g->d->sync(g->d);
    gt_status st = dev_take_error(g->d, err);
    return st == GT_OK ? GT_OK : gt_error_prefix(err, "device cuda: backward: ");
}

void gpu_zero_grad(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    if (!g->grads)
        return;
    g->d->zero(g->d, g->grads, m->params.grad_floats * sizeof(float));
    g->grads_ahead = 1;
}

gt_status gpu_infer(gt_nn_model *m, const int32_t *ids, const int32_t *valid, int B, int T, float *logits,
                    gt_error *err)
{
    gpu_model *g = m->gpu;
    gt_status st = gpu_prepare(m, B, T, MODEL_INFER, err);
    if (st != GT_OK)
        return st;
    run_forward(m, ids, valid, NULL);
    if (logits)
        g->d->download(g->d, logits, g->s.logits, sizeof(float) * (size_t)B * m->cfg.num_labels);
    g->d->sync(g->d);
    st = dev_take_error(g->d, err);
    return st == GT_OK ? GT_OK : gt_error_prefix(err, "device cuda: inference: ");
}

/* ---- optimizer ----------------------------------------------------------------------------- */

/* The work list of every trainable tensor, in chunks of at most DEV_CHUNK values. */
static gt_status build_chunks(gt_nn_model *m, gt_error *err)
{
    gpu_model *g = m->gpu;
    const param_set *ps = &m->params;
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        dev_chunk *list = NULL;
        if (pass == 1) {
            if (n == 0)
                return GT_OK;
            if (!(list = nn_alloc((size_t)n * sizeof *list)))
                return gt_error_set(err, GT_ERR_NOMEM, "device cuda: out of memory for the optimizer's work list");
        }
        int k = 0;
        for (int t = 0; t < ps->count; t++) {
            const param_tensor *pt = &ps->tensors[t];
            if (!pt->trainable || pt->grad_offset == PARAM_NO_GRAD)
                continue;
            for (size_t i = 0; i < pt->numel; i += DEV_CHUNK, k++)
                if (list)
                    list[k] = (dev_chunk){.data_off = (int64_t)(pt->offset + i), .grad_off = (int64_t)(pt->grad_offset + i),
                                          .n = (int32_t)(pt->numel - i < DEV_CHUNK ? pt->numel - i : DEV_CHUNK),
                                          .decay = pt->decay};
        }
        n = k;
        if (list) {
            g->chunks = g->d->alloc(g->d, (size_t)n * sizeof *list);
            if (g->chunks)
                g->d->upload(g->d, g->chunks, list, (size_t)n * sizeof *list);
            g->d->sync(g->d);
            nn_free(list);
            g->nchunks = n;
        }
    }
    return dev_take_error(g->d, err);
}

/* The optimizer's state on the device, (re)loaded from the host's when the host
 * optimizer is not the one the device last stepped (a new optimizer, or the
 * first step after attaching). */
static gt_status ensure_optimizer(gt_nn_model *m, gt_error *err)
{
    gpu_model *g = m->gpu;
    const optimizer *o = &m->optim;
    if (o->cfg.kind == OPTIMIZER_ADAMW_8BIT || o->cfg.kind == OPTIMIZER_ADAFACTOR)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "optimizer %s: not available on device cuda (use adamw or sgd "
                            "there)", o->cfg.kind == OPTIMIZER_ADAFACTOR ? "adafactor" : "adamw8bit");
    if (o->cfg.threshold > 0)
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "a gradient threshold (grad_sparsify): not available on device cuda yet; run it on cpu");
    if (g->opt_kind == (int)o->cfg.kind && g->opt_step == o->step)
        return GT_OK;
    size_t bytes = m->params.grad_floats * sizeof(float);
    if (!g->opt_m && o->m && !(g->opt_m = g->d->alloc(g->d, bytes)))
        return dev_take_error(g->d, err);
    if (!g->opt_v && o->v && !(g->opt_v = g->d->alloc(g->d, bytes)))
        return dev_take_error(g->d, err);
    if (o->m)
        g->d->upload(g->d, g->opt_m, o->m, bytes);
    if (o->v)
        g->d->upload(g->d, g->opt_v, o->v, bytes);
    g->opt_kind = (int)o->cfg.kind;
    g->opt_step = o->step;
    return dev_take_error(g->d, err);
}

gt_status gpu_step(gt_nn_model *m, double lr, double max_norm, double *norm, gt_error *err)
{
    gpu_model *g = m->gpu;
    dev *d = g->d;
    optimizer *o = &m->optim;
    refresh_weights(m);
    gt_status st = ensure_optimizer(m, err);
    if (st != GT_OK)
        return st;
    double n = 0.0;
    size_t floats = m->params.grad_floats;
    if (g->grads && (max_norm > 0.0 || norm)) {
        double total = 0.0;
        d->sumsq(d, g->norm, g->grads, (long)floats, g->norm_scratch);
        d->download(d, &total, g->norm, sizeof total);
        n = sqrt(total);
        double coef = max_norm / (n + 1e-6); /* torch.nn.utils.clip_grad_norm_ */
        if (max_norm > 0.0 && coef < 1.0)
            d->scale(d, g->grads, (long)floats, (float)coef);
    }
    if (norm)
        *norm = n;
    o->step++;
    if (g->nchunks && o->cfg.kind == OPTIMIZER_ADAMW) {
        adamw_consts k = adamw_step_consts(&o->cfg, lr, o->step, 1);
        dev_adamw c = {k.beta1, k.one_minus_beta1, k.beta2, k.one_minus_beta2, k.bc2_sqrt, k.neg_step, k.eps, k.decay};
        d->adamw(d, g->params, g->grads, g->opt_m, g->opt_v, g->chunks, g->nchunks, &c);
    } else if (g->nchunks) {
        dev_sgd c = {.wd = (float)o->cfg.weight_decay, .momentum = (float)o->cfg.momentum,
                     .damp = (float)(1.0 - o->cfg.dampening), .neg_lr = (float)-lr, .nesterov = o->cfg.nesterov,
                     .first = o->step == 1};
        d->sgd(d, g->params, g->grads, o->m ? g->opt_m : NULL, g->chunks, g->nchunks, &c);
    }
    g->opt_step = o->step;
    g->device_ahead = 1;
    g->w16_valid = g->wq_valid = 0;
    d->sync(d);
    st = dev_take_error(d, err);
    return st == GT_OK ? GT_OK : gt_error_prefix(err, "device cuda: optimizer step: ");
}

/* ---- between host and device ------------------------------------------------------------- */

gt_status gpu_sync_host(gt_nn_model *m, gt_error *err)
{
    gpu_model *g = m->gpu;
    if (g->device_ahead) {
        g->d->download(g->d, m->params.data, g->params, m->params.data_floats * sizeof(float));
        params_touch(&m->params); /* the CPU's derived copies (bf16, packed) are stale now */
        g->host_epoch = m->params.epoch;
        g->device_ahead = 0;
    }
    if (g->grads_ahead && g->grads) {
        g->d->download(g->d, m->params.grad, g->grads, m->params.grad_floats * sizeof(float));
        g->grads_ahead = 0;
    }
    gt_status st = dev_take_error(g->d, err);
    return st == GT_OK ? GT_OK : gt_error_prefix(err, "device cuda: copying the model home: ");
}

gt_status gpu_load_grads(gt_nn_model *m, gt_error *err)
{
    gpu_model *g = m->gpu;
    if (g->grads)
        g->d->upload(g->d, g->grads, m->params.grad, m->params.grad_floats * sizeof(float));
    g->grads_ahead = 0;
    return dev_take_error(g->d, err);
}

static void release_all(gpu_model *g)
{
    void *ps[] = {g->params, g->grads, g->w16, g->wq, g->wq_scale, g->opt_m, g->opt_v, g->chunks, g->norm,
                  g->norm_scratch, g->block};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i])
            g->d->release(g->d, ps[i]);
}

void gpu_free(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    if (!g)
        return;
    if (g->d) {
        release_all(g);
        dev_close(g->d);
    }
    int32_t *hs[] = {g->h.ids, g->h.valid, g->h.labels, g->h.order, g->h.seg_start, g->h.seg_id, g->h.cursor,
                     g->h.slot};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        nn_free(hs[i]);
    nn_free(g->h.losses);
    nn_free(g->wq_scale_off);
    nn_free(g->acts);
    nn_free(g);
    m->gpu = NULL;
}

gt_status gpu_detach(gt_nn_model *m, gt_error *err)
{
    gpu_model *g = m->gpu;
    if (!g)
        return GT_OK;
    gt_status st = gpu_sync_host(m, err);
    /* the optimizer's state comes home when the device holds the newest */
    if (st == GT_OK && m->has_optim && g->opt_kind == (int)m->optim.cfg.kind && g->opt_step == m->optim.step) {
        size_t bytes = m->params.grad_floats * sizeof(float);
        if (m->optim.m && g->opt_m)
            g->d->download(g->d, m->optim.m, g->opt_m, bytes);
        if (m->optim.v && g->opt_v)
            g->d->download(g->d, m->optim.v, g->opt_v, bytes);
        st = dev_take_error(g->d, err);
    }
    if (st != GT_OK)
        return st;
    gpu_free(m);
    return GT_OK;
}

gt_status gpu_attach_dev(gt_nn_model *m, dev *d, gt_error *err)
{
    gpu_model *g = nn_alloc(sizeof *g);
    if (!g) {
        dev_close(d);
        return gt_error_set(err, GT_ERR_NOMEM, "device cuda: out of memory");
    }
    m->gpu = g;
    g->d = d;
    g->opt_kind = -1;
    const param_set *ps = &m->params;
    size_t first = ps->data_floats;
    const model_linear *ls[4 * 1024 + 2];
    int n = linears(m, ls, (int)(sizeof ls / sizeof ls[0]));
    for (int i = 0; i < n; i++)
        if (ps->tensors[ls[i]->w].offset < first)
            first = ps->tensors[ls[i]->w].offset;
    g->w16_first = first;
    g->acts = nn_alloc((size_t)m->cfg.layers * sizeof *g->acts);
    g->wq_scale_off = nn_alloc((size_t)ps->count * sizeof *g->wq_scale_off);
    g->h.slot = nn_alloc((size_t)m->cfg.vocab * sizeof(int32_t));
    if (!g->acts || !g->wq_scale_off || !g->h.slot) {
        gpu_free(m);
        return gt_error_set(err, GT_ERR_NOMEM, "device cuda: out of host memory for the model's tables");
    }
    for (int t = 0; t < ps->count; t++)
        g->wq_scale_off[t] = -1;
    size_t bytes = ps->data_floats * sizeof(float);
    if ((g->params = d->alloc(d, bytes)))
        d->upload(d, g->params, ps->data, bytes);
    if (ps->grad && (g->grads = d->alloc(d, ps->grad_floats * sizeof(float))))
        d->upload(d, g->grads, ps->grad, ps->grad_floats * sizeof(float));
    g->norm = d->alloc(d, sizeof(double));
    g->norm_scratch = d->alloc(d, (size_t)(dev_sumsq_scratch((long)ps->grad_floats) + 1) * sizeof(double));
    g->host_epoch = ps->epoch;
    gt_status st = dev_take_error(d, err);
    if (st == GT_OK)
        st = build_chunks(m, err);
    if (st != GT_OK) {
        gpu_free(m);
        return gt_error_prefix(err, "device cuda: moving the model (%.1f MiB of weights) to the GPU: ",
                               bytes / 1048576.0);
    }
    /* the CPU's step memory is planned again when the model comes home */
    m->planned = 0;
    m->have_forward = 0;
    return GT_OK;
}

gt_status gpu_attach(gt_nn_model *m, gt_error *err)
{
    dev *d;
    gt_status st = dev_open_device(&d, NULL, err);
    return st == GT_OK ? gpu_attach_dev(m, d, err) : st;
}

gt_status gpu_check_options(const gt_nn_model *m, const gt_nn_options *o, gt_error *err)
{
    /* The engine features the knobs added after the GPU backend run on the CPU
     * only: refused here rather than silently ignored. */
    const char *cpu_only = m->lora.rank ? "LoRA adapters"
                           : o->checkpoint_every ? "gradient checkpointing"
                           : o->frozen_int8 ? "int8 frozen weights in training (QLoRA)"
                           : m->teacher ? "distillation"
                           : o->attention_block ? "a chosen attention block"
                                                : NULL;
    if (cpu_only)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "device cuda: %s run on the cpu only for now (system.device: "
                            "cpu, or drop the knob)", cpu_only);
    gt_status st = gt_nn_device_check_precision(GT_NN_CUDA, o->train_precision, 1, err);
    if (st == GT_OK)
        st = gt_nn_device_check_precision(GT_NN_CUDA, o->infer_precision, 0, err);
    return st;
}

void gpu_info(const gt_nn_model *m, gt_nn_model_info *info)
{
    const gpu_model *g = m->gpu;
    info->arena_bytes = g->block_bytes;
    info->arena_peak = g->block_peak;
    for (int p = 0; p < GT_NN_PRECISIONS; p++)
        info->matmul_flops[p] = g->flops[p];
}

gt_status gt_nn_model_profile(gt_nn_model *m, int start, gt_nn_profile *out, gt_error *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!m->gpu)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "profile: the model is not on a GPU (set options.device to cuda)");
    dev *d = m->gpu->d;
    d->profile_flush(d);
    double gflop;
    long fallbacks = dev_cuda_fallbacks(d, &gflop);
    if (out) {
        out->kinds = PROF_KINDS < GT_NN_PROFILE_KINDS ? PROF_KINDS : GT_NN_PROFILE_KINDS;
        for (int k = 0; k < out->kinds; k++) {
            snprintf(out->name[k], sizeof out->name[k], "%s", dev_prof_name((dev_prof_kind)k));
            out->ms[k] = d->prof_ms[k];
            out->calls[k] = d->prof_calls[k];
        }
        out->fallback_matmuls = fallbacks - m->gpu->profile_fallbacks;
        out->fallback_gflop = gflop - m->gpu->profile_fallback_gflop;
    }
    if (start) {
        m->gpu->profile_fallbacks = fallbacks;
        m->gpu->profile_fallback_gflop = gflop;
        memset(d->prof_ms, 0, sizeof d->prof_ms);
        memset(d->prof_calls, 0, sizeof d->prof_calls);
    }
    d->profiling = start != 0;
    return dev_take_error(d, err);
}
