/* Encoder models: building, step memory, the loss, the optimizer and the
 * public entry points (greentune/nn.h). The architectures themselves are in
 * bert.c and modernbert.c; see model.h for how memory is planned. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nn/attention_bf16.h"
#include "nn/cuda/gpu.h"
#include "nn/model.h"

/* ---- parameters ------------------------------------------------------------------- */

gt_status model_add(gt_nn_model *m, const char *name, int64_t d0, int64_t d1, int flags, int *index, gt_error *err)
{
    int64_t shape[2] = {d0, d1};
    return params_add(&m->params, name, d1 > 0 ? 2 : 1, shape, flags, index, err);
}

gt_status model_add_linear(gt_nn_model *m, model_linear *l, const char *name, int out, int in, int bias,
                           gt_error *err)
{
    char buf[PARAM_NAME_MAX];
    l->b = -1;
    snprintf(buf, sizeof buf, "%s.weight", name);
    gt_status st = model_add(m, buf, out, in, 0, &l->w, err);
    if (st == GT_OK && bias) {
        snprintf(buf, sizeof buf, "%s.bias", name);
        st = model_add(m, buf, out, 0, PARAM_NO_DECAY, &l->b, err);
    }
    return st;
}

gt_status model_add_norm(gt_nn_model *m, int *w, int *b, const char *name, int C, int bias, gt_error *err)
{
    char buf[PARAM_NAME_MAX];
    *b = -1;
    snprintf(buf, sizeof buf, "%s.weight", name);
    gt_status st = model_add(m, buf, C, 0, PARAM_NO_DECAY, w, err);
    if (st == GT_OK && bias) {
        snprintf(buf, sizeof buf, "%s.bias", name);
        st = model_add(m, buf, C, 0, PARAM_NO_DECAY, b, err);
    }
    return st;
}

float *model_data(const gt_nn_model *m, int index)
{
    return index < 0 ? NULL : params_data(&m->params, index);
}

float *model_grad(const gt_nn_model *m, int index)
{
    return index < 0 ? NULL : params_grad(&m->params, index);
}

/* Calls fn on every linear layer of the model. */
static void each_linear(gt_nn_model *m, void (*fn)(gt_nn_model *m, model_linear *l, void *ctx), void *ctx)
{
    for (int l = 0; l < m->cfg.layers; l++) {
        model_layer *L = &m->layers[l];
        fn(m, &L->qkv, ctx);
        fn(m, &L->attn_out, ctx);
        fn(m, &L->ffn_in, ctx);
        fn(m, &L->ffn_out, ctx);
    }
    fn(m, &m->head, ctx);
    fn(m, &m->classifier, ctx);
}

/* Points the weight handle at the parameter block (its derived copies are made
 * on first use). Frozen weights follow the frozen epoch, which optimizer steps
 * leave alone: their packed and int8 copies are made once. */
static void bind_linear(gt_nn_model *m, model_linear *l, void *unused)
{
    (void)unused;
    const param_tensor *t = &m->params.tensors[l->w];
    linear_weight_init(&l->lw, model_data(m, l->w), (int)t->shape[0], (int)t->shape[1],
                       t->trainable ? &m->params.epoch : &m->params.frozen_epoch);
}

static void free_linear(gt_nn_model *m, model_linear *l, void *unused)
{
    (void)m, (void)unused;
    linear_weight_free(&l->lw);
}

static void count_int8_linear(gt_nn_model *m, model_linear *l, void *ctx)
{
    (void)m;
    gt_nn_model_info *info = ctx;
    if (!l->lw.w_s8)
        return;
    size_t w = (size_t)l->lw.out * l->lw.in;
    info->int8_weights++;
    info->int8_weight_bytes += w + (size_t)l->lw.out * sizeof(float);
    info->int8_source_bytes += w * sizeof(float);
}

/* ---- the pieces every architecture uses ---------------------------------------------- */

gt_nn_precision model_precision(const gt_nn_model *m)
{
    return m->mode == MODEL_INFER ? m->opt.infer_precision : m->opt.train_precision;
}

/* A frozen weight runs int8 in training when the options ask (QLoRA-style). */
static gt_nn_precision linear_precision(const gt_nn_model *m, const model_linear *l)
{
    if (m->mode == MODEL_TRAIN && m->opt.frozen_int8 && model_grad(m, l->w) == NULL)
        return GT_NN_INT8;
    return model_precision(m);
}

gt_status model_linear_forward_fused(gt_nn_model *m, model_linear *l, float *y, const float *x, bf16 *x_bf16, int N,
                                     int flags, mm_eltwise act)
{
    /* Packing pays off only for weights that stay fixed over many calls. */
    l->lw.prepack = m->mode == MODEL_INFER || model_grad(m, l->w) == NULL;
    /* Adapters add to the projection before its activation. */
    mm_eltwise epilogue = l->nlora ? MM_ELTWISE_NONE : act;
    if (flags || epilogue != MM_ELTWISE_NONE)
        m->fused_ops++;
    gt_status st = linear_forward_fused(m->mm, y, x, x_bf16, &l->lw, model_data(m, l->b), N,
                                        linear_precision(m, l), flags, epilogue, NULL);
    if (st != GT_OK || !l->nlora)
        return st;
    lora_forward(m, l, y, x, N);
    if (act != MM_ELTWISE_NONE)   /* inference only: y is not needed for backward */
        activation_forward(y, y, (long)N * l->lw.out, act == MM_ELTWISE_RELU        ? ACTIVATION_RELU
                                                      : act == MM_ELTWISE_GELU_TANH ? ACTIVATION_GELU_TANH
                                                                                    : ACTIVATION_GELU_ERF);
    return GT_OK;
}

gt_status model_linear_forward(gt_nn_model *m, model_linear *l, float *y, const float *x, bf16 *x_bf16, int N)
{
    return model_linear_forward_fused(m, l, y, x, x_bf16, N, 0, MM_ELTWISE_NONE);
}

mm_eltwise model_eltwise(gt_nn_activation a)
{
    return a == GT_NN_RELU ? MM_ELTWISE_RELU : a == GT_NN_GELU_TANH ? MM_ELTWISE_GELU_TANH : MM_ELTWISE_GELU_ERF;
}

gt_status model_linear_backward(gt_nn_model *m, model_linear *l, float *dx, const float *dy, const float *x,
                                const bf16 *x_bf16, int N, int flags)
{
    gt_status st = linear_backward(m->mm, dx, model_grad(m, l->w), model_grad(m, l->b), dy, x, x_bf16, &l->lw, N,
                                   flags, linear_precision(m, l), NULL);
    if (st == GT_OK && l->nlora)
        lora_backward(m, l, dx, dy, x, N);
    return st;
}

void model_norm_forward(const gt_nn_model *m, float *y, float *mean, float *rstd, const float *x, int w, int b,
                        int N)
{
    layernorm_forward(y, mean, rstd, x, model_data(m, w), model_data(m, b), N, m->cfg.dim, m->cfg.eps);
}

void model_norm_backward(gt_nn_model *m, float *dx, const float *dy, const float *x, int w, int b,
                         const float *mean, const float *rstd, int N)
{
    float *dw = model_grad(m, w), *db = model_grad(m, b);
    /* A frozen norm still passes its gradient on; its dw lands in scratch. */
    if (!dw)
        dw = m->g.ln_dummy;
    layernorm_backward(dx, dw, b >= 0 ? (db ? db : m->g.ln_dummy) : NULL, dy, x, model_data(m, w), mean, rstd,
                       m->g.ln_scratch, N, m->cfg.dim);
}

/* Dropout sites get disjoint counter ranges: site s of forward pass k uses
 * seed = hash(model seed, k) and offsets [s 2^40, (s + 1) 2^40). */
#define DROPOUT_SITE_SPAN ((uint64_t)1 << 40)

static int dropout_active(const gt_nn_model *m, float p)
{
    return m->mode == MODEL_TRAIN && m->training && p > 0.0f;
}

static uint64_t dropout_seed(const gt_nn_model *m)
{
    return m->seed * 0x9E3779B97F4A7C15ull ^ (m->dropout_calls + 1) * 0xD1B54A32D192ED03ull;
}

void model_dropout_forward(const gt_nn_model *m, float *y, uint8_t *mask, const float *x, long n, float p,
                           int site)
{
    if (!dropout_active(m, p) || !mask) {
        if (y != x)
            memcpy(y, x, sizeof(float) * (size_t)n);
        return;
    }
    dropout_forward(y, mask, x, n, p, dropout_seed(m), (uint64_t)site * DROPOUT_SITE_SPAN);
}

void model_dropout_residual(const gt_nn_model *m, float *y, uint8_t *mask, const float *x, const float *residual,
                            long n, float p, int site)
{
    if (!dropout_active(m, p) || !mask)
        residual_forward(y, x, residual, n);
    else
        dropout_residual_forward(y, mask, x, residual, n, p, dropout_seed(m), (uint64_t)site * DROPOUT_SITE_SPAN);
}

const float *model_dropout_backward(float *scratch, const uint8_t *mask, const float *dy, long n, float p)
{
    if (!mask)
        return dy;
    dropout_backward(scratch, mask, dy, n, p);
    return scratch;
}

void model_residual_norm(gt_nn_model *m, float *res, float *y, float *mean, float *rstd, uint8_t *mask,
                         const float *x, const float *in, float p, int site, int w, int b)
{
    if (!m->opt.fused) {
        model_dropout_residual(m, res, mask, x, in, (long)model_rows(m) * m->cfg.dim, p, site);
        model_norm_forward(m, y, mean, rstd, res, w, b, (int)model_rows(m));
        return;
    }
    int drop = dropout_active(m, p) && mask;
    m->fused_ops++;
    residual_layernorm_forward(res, y, mean, rstd, drop ? mask : NULL, x, in, model_data(m, w), model_data(m, b),
                               (int)model_rows(m), m->cfg.dim, m->cfg.eps, p, drop ? dropout_seed(m) : 0,
                               (uint64_t)site * DROPOUT_SITE_SPAN);
}

activation_kind model_activation(gt_nn_activation a)
{
    return a == GT_NN_RELU ? ACTIVATION_RELU : a == GT_NN_GELU_TANH ? ACTIVATION_GELU_TANH : ACTIVATION_GELU_ERF;
}

void model_classifier_forward(gt_nn_model *m, const float *h)
{
    step_acts *s = &m->s;
    model_dropout_forward(m, s->cls_in, s->cls_mask, h, (long)m->B * m->cfg.dim, m->cfg.drop_classifier,
                          dropout_site(m->cfg.layers, 0));
    model_linear_forward(m, &m->classifier, s->logits, s->cls_in, s->cls_in_bf, m->B);
}

void model_classifier_backward(gt_nn_model *m)
{
    step_acts *s = &m->s;
    grad_acts *g = &m->g;
    const long BC = (long)m->B * m->cfg.dim;
    model_linear_backward(m, &m->classifier, g->g_head_a, g->g_logits, s->cls_in, s->cls_in_bf, m->B, 0);
    model_dropout_backward(g->g_head_a, s->cls_mask, g->g_head_a, BC, m->cfg.drop_classifier);
}

void model_embedding_backward(gt_nn_model *m, const float *dx)
{
    const gt_nn_config *c = &m->cfg;
    float *dword = model_grad(m, m->emb_word);
    if (!dword)
        return;
    embedding_backward(dword, dx, m->s.ids, (int)model_rows(m), c->dim);
    if (c->pad_id >= 0 && c->pad_id < c->vocab)
        memset(dword + (long)c->pad_id * c->dim, 0, sizeof(float) * (size_t)c->dim);
}

void model_pool_forward(gt_nn_model *m, const float *hidden)
{
    if (m->cfg.pooling == GT_NN_POOL_MEAN)
        mean_pool_forward(m->s.pooled, hidden, m->s.valid, m->B, m->T, m->cfg.dim);
    else
        cls_pool_forward(m->s.pooled, hidden, m->B, m->T, m->cfg.dim);
}

void model_pool_backward(gt_nn_model *m, float *dx, const float *dpooled)
{
    memset(dx, 0, sizeof(float) * (size_t)model_rows(m) * m->cfg.dim);
    if (m->cfg.pooling == GT_NN_POOL_MEAN)
        mean_pool_backward(dx, dpooled, m->s.valid, m->B, m->T, m->cfg.dim);
    else
        cls_pool_backward(dx, dpooled, m->B, m->T, m->cfg.dim);
}

static attention_shape attn_shape(const gt_nn_model *m, int window)
{
    int D = m->cfg.dim / m->cfg.heads;
    return (attention_shape){.B = m->B, .T = m->T, .H = m->cfg.heads, .D = D, .window = window,
                             .scale = 1.0f / sqrtf((float)D), .block = m->opt.attention_block};
}

int model_attention_bf16(const gt_nn_model *m)
{
    return m->mode == MODEL_INFER && m->opt.infer_precision != GT_NN_FP32 && m->bf16_native &&
           m->opt.attention == GT_NN_ATTN_STANDARD;
}

void model_attention_forward(gt_nn_model *m, const model_layer *layer, layer_acts *a)
{
    attention_shape s = attn_shape(m, layer->window);
    if (model_attention_bf16(m)) {
        attention_bf16_forward(m->mm, a->ctx, a->qkv, m->s.valid, m->s.attn_bf16, s, NULL);
    } else if (m->opt.attention == GT_NN_ATTN_FUSED) {
        m->fused_ops++;
        fused_attention_forward(a->ctx, a->lse, a->qkv, m->s.valid, m->s.attn_scratch, s);
    } else {
        attention_forward(a->ctx, a->probs, a->qkv, m->s.valid, m->s.attn_scratch, s);
    }
}

void model_attention_backward(gt_nn_model *m, const model_layer *layer, const layer_acts *a, float *dqkv,
                              const float *dctx)
{
    attention_shape s = attn_shape(m, layer->window);
    if (m->opt.attention == GT_NN_ATTN_FUSED)
        fused_attention_backward(dqkv, dctx, a->ctx, a->qkv, a->lse, m->s.valid, m->s.attn_scratch, s);
    else
        attention_backward(dqkv, dctx, a->qkv, a->probs, m->s.valid, m->s.attn_scratch, s);
}

/* ---- step memory -------------------------------------------------------------------- */

float *plan_floats(nn_arena *a, size_t n, int want)
{
    return want ? arena_floats(a, n) : NULL;
}

bf16 *plan_bf16(nn_arena *a, size_t n, int want)
{
    return want ? arena_alloc(a, n * sizeof(bf16)) : NULL;
}

uint8_t *plan_bytes(nn_arena *a, size_t n, int want)
{
    return want ? arena_alloc(a, n) : NULL;
}

float *plan_attention(gt_nn_model *m, nn_arena *a, size_t n, int want)
{
    size_t before = a->used;
    float *p = plan_floats(a, n, want);
    m->plan_attention_bytes += a->used - before;
    return p;
}

void model_plan_attention(gt_nn_model *m, nn_arena *a, layer_acts *x)
{
    size_t N = (size_t)model_rows(m), C = (size_t)m->cfg.dim;
    size_t heads = (size_t)m->B * m->cfg.heads, T = (size_t)m->T;
    int blocked = m->opt.attention == GT_NN_ATTN_FUSED;
    x->qkv = plan_floats(a, N * 3 * C, 1);
    /* the bf16 kernel keeps its probabilities in its own scratch (s->attn_bf16) */
    x->probs = plan_attention(m, a, heads * T * T, !blocked && !model_attention_bf16(m));
    x->lse = plan_attention(m, a, heads * T, blocked);
    x->ctx = plan_floats(a, N * C, 1);
}

void model_plan_layer_out(gt_nn_model *m, nn_arena *a, layer_acts *x, int train, size_t ffn_drop)
{
    const gt_nn_config *c = &m->cfg;
    size_t N = (size_t)model_rows(m), C = (size_t)c->dim, F = (size_t)c->ffn;
    int bf = train && model_precision(m) == GT_NN_BF16;
    /* the shared set's output is never used: each checkpointed layer has its own */
    x->out = train ? plan_floats(a, N * C, x != &m->ckpt) : x->in;
    x->mask_attn = plan_bytes(a, N * C, train && c->drop_attn_out > 0);
    x->mask_ffn = plan_bytes(a, N * ffn_drop, train && c->drop_ffn > 0);
    x->qkv_in_bf = plan_bf16(a, N * C, bf);
    x->ctx_bf = plan_bf16(a, N * C, bf);
    x->ffn_in_bf = plan_bf16(a, N * C, bf);
    x->ffn_act_bf = plan_bf16(a, N * F, bf);
}

void model_plan_layers(gt_nn_model *m, nn_arena *a, model_plan_layer_fn plan_layer)
{
    int train = m->mode == MODEL_TRAIN, count = train ? m->cfg.layers : 1, shared = 0;
    for (int l = 0; l < count; l++)
        shared |= model_checkpointed(m, l);
    memset(&m->ckpt, 0, sizeof m->ckpt);
    if (shared)
        plan_layer(m, a, &m->ckpt, 1);
    for (int l = 0; l < count; l++) {
        layer_acts *x = &m->acts[l];
        float *in = l == 0 ? m->s.emb_out : m->acts[l - 1].out;
        if (model_checkpointed(m, l)) {
            *x = m->ckpt;
            x->out = plan_floats(a, (size_t)model_rows(m) * m->cfg.dim, 1);
        } else {
            x->in = in;
            plan_layer(m, a, x, train);
        }
        x->in = in;
    }
}

void model_recompute(gt_nn_model *m, int l, model_layer_fn forward)
{
    if (!model_checkpointed(m, l))
        return;
    mm_stats before = mm_ctx_stats(m->mm);
    /* the step's forward drew its dropout masks before the pass count moved on */
    m->dropout_calls--;
    forward(m, l, &m->acts[l]);
    m->dropout_calls++;
    mm_stats after = mm_ctx_stats(m->mm);
    for (int p = 0; p < GT_NN_PRECISIONS; p++)
        m->recompute_flops += after.flops[p] - before.flops[p];
}

/* What every architecture's step needs besides its layers. */
static void plan_common(gt_nn_model *m, nn_arena *a)
{
    const gt_nn_config *c = &m->cfg;
    size_t N = (size_t)model_rows(m), B = (size_t)m->B, C = (size_t)c->dim, L = (size_t)c->num_labels;
    int train = m->mode == MODEL_TRAIN, bf = train && model_precision(m) == GT_NN_BF16;
    step_acts *s = &m->s;
    s->ids = arena_alloc(a, N * sizeof(int32_t));
    s->valid = arena_alloc(a, B * sizeof(int32_t));
    s->labels = arena_alloc(a, B * sizeof(int32_t));
    s->tmp = plan_floats(a, N * C, 1);
    s->emb_sum = plan_floats(a, N * C, 1);
    s->emb_mean = plan_floats(a, N, train);
    s->emb_rstd = plan_floats(a, N, train);
    s->emb_mask = plan_bytes(a, N * C, train && c->drop_embedding > 0);
    s->emb_out = plan_floats(a, N * C, 1);
    s->pooled = plan_floats(a, B * C, 1);
    s->pooled_bf = plan_bf16(a, B * C, bf);
    s->head_pre = plan_floats(a, B * C, 1);
    s->head_act = plan_floats(a, B * C, 1);
    s->head_act_bf = plan_bf16(a, B * C, bf);
    s->cls_in = plan_floats(a, B * C, 1);
    s->cls_in_bf = plan_bf16(a, B * C, bf);
    s->cls_mask = plan_bytes(a, B * C, train && c->drop_classifier > 0);
    s->logits = plan_floats(a, B * L, 1);
    s->probs = plan_floats(a, B * L, 1);
    s->losses = plan_floats(a, B, 1);

    attention_shape as = {.B = m->B, .T = m->T, .H = c->heads, .D = c->dim / c->heads, .window = 0,
                          .block = m->opt.attention_block};
    long scratch = m->opt.attention == GT_NN_ATTN_FUSED ? fused_attention_scratch_floats(as)
                                                        : attention_scratch_floats(as);
    s->attn_scratch = plan_attention(m, a, (size_t)scratch, 1);
    s->attn_bf16 = model_attention_bf16(m) ? arena_alloc(a, attention_bf16_bytes(as)) : NULL;
    int kd = train && m->teacher;
    s->teacher_logits = plan_floats(a, B * L, kd);
    s->kd_student = plan_floats(a, B * L, kd);
    s->kd_teacher = plan_floats(a, B * L, kd);
    s->kd_losses = plan_floats(a, B, kd);

    grad_acts *g = &m->g;
    g->ln_scratch = plan_floats(a, (size_t)layernorm_scratch_floats(c->dim), train);
    g->ln_dummy = plan_floats(a, C, train);
    g->g_logits = plan_floats(a, B * L, train);
    g->g_head_a = plan_floats(a, B * C, train);
    g->g_head_b = plan_floats(a, B * C, train);
    g->g_out = plan_floats(a, N * C, train);
    g->g_a = plan_floats(a, N * C, train);
    g->g_b = plan_floats(a, N * C, train);
    g->g_qkv = plan_floats(a, N * 3 * C, train);
}

static void plan_all(gt_nn_model *m, nn_arena *a)
{
    memset(&m->s, 0, sizeof m->s);
    memset(&m->g, 0, sizeof m->g);
    memset(m->acts, 0, (size_t)m->cfg.layers * sizeof *m->acts);
    m->plan_attention_bytes = 0;
    plan_common(m, a);
    if (m->cfg.arch == GT_NN_BERT)
        bert_plan(m, a);
    else
        modernbert_plan(m, a);
    lora_plan(m, a);
}

/* The options that change the step plan. */
static int same_plan_options(const gt_nn_options *a, const gt_nn_options *b)
{
    return a->attention == b->attention && a->attention_block == b->attention_block &&
           a->checkpoint_every == b->checkpoint_every;
}

static size_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : (size_t)-1;
}

/* Largest tensor of a step in elements: every op indexes with int rows and
 * long offsets, and oneDNN with int64, but the sizes must not wrap an int. */
static double largest_tensor(const gt_nn_config *c, long N)
{
    double widest = 3.0 * c->dim;
    double ffn = (c->arch == GT_NN_MODERNBERT ? 2.0 : 1.0) * c->ffn;
    return (double)N * (ffn > widest ? ffn : widest);
}

static gt_status check_shape(const gt_nn_model *m, int B, int T, gt_error *err)
{
    const gt_nn_config *c = &m->cfg;
    if (B < 1 || T < 1)
        return gt_error_set(err, GT_ERR_INVALID, "batch %d x seq %d: both must be at least 1", B, T);
    if (T > c->max_len)
        return gt_error_set(err, GT_ERR_INVALID,
                            "seq %d: above the model's %d positions (max_position_embeddings; truncate the input)",
                            T, c->max_len);
    if (largest_tensor(c, (long)B * T) >= 2147483647.0)
        return gt_error_set(err, GT_ERR_NOMEM,
                            "batch %d x seq %d: one activation would hold more than 2^31 values (reduce batch or seq)",
                            B, T);
    return GT_OK;
}

static void rope_prepare(gt_nn_model *m)
{
    if (m->cfg.arch != GT_NN_MODERNBERT)
        return;
    int D = m->cfg.dim / m->cfg.heads;
    rope_tables(m->s.rope_cos[0], m->s.rope_sin[0], m->T, D, m->cfg.global_theta);
    rope_tables(m->s.rope_cos[1], m->s.rope_sin[1], m->T, D, m->cfg.local_theta);
}

/* Lays out the step memory for (B, T, mode) unless it already is. */
static gt_status model_prepare(gt_nn_model *m, int B, int T, model_mode mode, gt_error *err)
{
    int threads = omp_get_max_threads();
    gt_nn_precision precision = mode == MODEL_INFER ? m->opt.infer_precision : m->opt.train_precision;
    if (m->planned && m->B == B && m->T == T && m->mode == mode && m->threads == threads &&
        same_plan_options(&m->opt_planned, &m->opt) &&
        precision == (mode == MODEL_INFER ? m->opt_planned.infer_precision : m->opt_planned.train_precision) &&
        m->teacher_planned == (m->teacher != NULL))
        return GT_OK;
    gt_status st = check_shape(m, B, T, err);
    if (st != GT_OK)
        return st;
    m->planned = 0;
    m->have_forward = 0;
    m->B = B;
    m->T = T;
    m->mode = mode;
    m->threads = threads;
    m->opt_planned = m->opt;
    m->teacher_planned = m->teacher != NULL;

    nn_arena probe;
    memset(&probe, 0, sizeof probe);
    plan_all(m, &probe);
    size_t need = probe.peak, have = physical_memory();
    if (need > have || need > NN_ALLOC_MAX)
        return gt_error_set(err, GT_ERR_NOMEM,
                            "batch %d x seq %d: a %s step needs %.1f GiB of activations, this machine has %.1f GiB "
                            "(reduce batch or seq)", B, T, mode == MODEL_TRAIN ? "training" : "inference",
                            need / 1073741824.0, have / 1073741824.0);
    if ((st = arena_reserve(&m->arena, need, err)) != GT_OK)
        return gt_error_prefix(err, "batch %d x seq %d: ", B, T);
    if (mode == MODEL_TRAIN && need > m->train_peak) {
        m->train_peak = need;
        m->train_attention = m->plan_attention_bytes;
        m->train_peak_B = B;
        m->train_peak_T = T;
    }
    plan_all(m, &m->arena);
    if (arena_overflowed(&m->arena))
        return gt_error_set(err, GT_ERR_INTERNAL, "model: the step plan does not fit the memory it measured");
    rope_prepare(m);
    m->planned = 1;
    return GT_OK;
}

/* ---- building ------------------------------------------------------------------------ */

static gt_status declare(gt_nn_model *m, gt_error *err)
{
    m->layers = nn_alloc((size_t)m->cfg.layers * sizeof *m->layers);
    m->acts = nn_alloc((size_t)m->cfg.layers * sizeof *m->acts);
    if (!m->layers || !m->acts)
        return gt_error_set(err, GT_ERR_NOMEM, "model: out of memory for %d layers", m->cfg.layers);
    m->emb_word = m->emb_pos = m->emb_type = m->emb_norm_w = m->emb_norm_b = -1;
    m->final_norm_w = m->head_norm_w = -1;
    return m->cfg.arch == GT_NN_BERT ? bert_declare(m, err) : modernbert_declare(m, err);
}

static gt_status check_lora(const gt_nn_lora *l, gt_error *err)
{
    if (!l || l->rank == 0)
        return GT_OK;
    if (l->rank < 0 || l->rank > 4096)
        return gt_error_set(err, GT_ERR_INVALID, "lora rank %d: must be 1 to 4096", l->rank);
    if (!(l->alpha > 0.0f) || !isfinite(l->alpha))
        return gt_error_set(err, GT_ERR_INVALID, "lora alpha %g: must be positive", (double)l->alpha);
    if (!(l->dropout >= 0.0f && l->dropout < 1.0f))
        return gt_error_set(err, GT_ERR_INVALID, "lora dropout %g: must be in [0, 1)", (double)l->dropout);
    if (l->targets == 0 || l->targets >= (1u << GT_NN_LORA_TARGETS))
        return gt_error_set(err, GT_ERR_INVALID, "lora targets: name at least one of q, k, v, o, ffn");
    return GT_OK;
}

gt_status gt_nn_model_create_lora(const gt_nn_config *cfg, const gt_nn_lora *lora, uint64_t seed,
                                  gt_nn_model **out, gt_error *err)
{
    *out = NULL;
    gt_status st = gt_nn_config_check(cfg, err);
    if (st == GT_OK)
        st = check_lora(lora, err);
    if (st != GT_OK)
        return st;
    gt_nn_model *m = nn_alloc(sizeof *m);
    if (!m)
        return gt_error_set(err, GT_ERR_NOMEM, "model: out of memory");
    m->cfg = *cfg;
    m->seed = seed;
    m->training = 1;
    m->bf16_native = gt_nn_check_precision(GT_NN_BF16, NULL, NULL) == GT_OK;
    m->opt = (gt_nn_options){.train_precision = GT_NN_FP32, .infer_precision = GT_NN_FP32,
                             .attention = GT_NN_ATTN_STANDARD};
    if (lora)
        m->lora = *lora;
    params_init(&m->params);
    if ((st = declare(m, err)) == GT_OK && (st = lora_declare(m, err)) == GT_OK &&
        (st = params_finalize(&m->params, err)) == GT_OK && (st = mm_ctx_create(&m->mm, err)) == GT_OK) {
        each_linear(m, bind_linear, NULL);
        model_init_weights(m, seed);
        lora_init(m, seed);
        *out = m;
        return GT_OK;
    }
    gt_nn_model_free(m);
    return st;
}

gt_status gt_nn_model_create(const gt_nn_config *cfg, uint64_t seed, gt_nn_model **out, gt_error *err)
{
    return gt_nn_model_create_lora(cfg, NULL, seed, out, err);
}

void gt_nn_model_free(gt_nn_model *m)
{
    if (!m)
        return;
    gpu_free(m);
    if (m->layers && m->mm)   /* the handles are bound once the model is fully built */
        each_linear(m, free_linear, NULL);
    if (m->has_optim)
        optimizer_free(&m->optim);
    mm_ctx_destroy(m->mm);
    arena_free(&m->arena);
    nn_free(m->adapters);
    nn_free(m->acts);
    nn_free(m->layers);
    params_free(&m->params);
    nn_free(m);
}

const gt_nn_config *gt_nn_model_config(const gt_nn_model *m)
{
    return &m->cfg;
}

gt_status gt_nn_model_set_options(gt_nn_model *m, const gt_nn_options *o, gt_error *err)
{
    if (o->train_precision == GT_NN_INT8)
        return gt_error_set(err, GT_ERR_INVALID, "precision int8: inference only (train in fp32 or bf16)");
    if ((unsigned)o->train_precision >= GT_NN_PRECISIONS || (unsigned)o->infer_precision >= GT_NN_PRECISIONS)
        return gt_error_set(err, GT_ERR_INVALID, "precision: unknown value");
    if (o->attention != GT_NN_ATTN_STANDARD && o->attention != GT_NN_ATTN_FUSED)
        return gt_error_set(err, GT_ERR_INVALID, "attention: unknown implementation %d", (int)o->attention);
    if (o->attention_block && (o->attention_block < GT_NN_ATTN_BLOCK_MIN || o->attention_block > GT_NN_ATTN_BLOCK_MAX))
        return gt_error_set(err, GT_ERR_INVALID, "attention block %d: the fused kernel takes %d to %d (0: its choice)",
                            o->attention_block, GT_NN_ATTN_BLOCK_MIN, GT_NN_ATTN_BLOCK_MAX);
    if (o->checkpoint_every < 0 || o->checkpoint_every > m->cfg.layers)
        return gt_error_set(err, GT_ERR_INVALID, "checkpoint every %d layers: must be 0 (off) to %d (the layers)",
                            o->checkpoint_every, m->cfg.layers);
    if (o->device != GT_NN_CPU && o->device != GT_NN_CUDA)
        return gt_error_set(err, GT_ERR_INVALID, "device: unknown value %d", (int)o->device);
    gt_status st;
    if (o->device == GT_NN_CUDA) {
        st = gpu_check_options(m, o, err);
    } else {
        st = gt_nn_check_precision(o->train_precision, NULL, err);
        if (st == GT_OK)
            st = gt_nn_check_precision(o->infer_precision, NULL, err);
    }
    /* moving between devices: the GPU side is made, or copied home and freed */
    if (st == GT_OK && (o->device == GT_NN_CUDA) != (m->gpu != NULL))
        st = m->gpu ? gpu_detach(m, err) : gpu_attach(m, err);
    if (st != GT_OK)
        return st;
    m->opt = *o;
    return GT_OK;
}

gt_nn_options gt_nn_model_options(const gt_nn_model *m)
{
    return m->opt;
}

void gt_nn_model_set_training(gt_nn_model *m, int training)
{
    m->training = training != 0;
}

/* ---- steps -------------------------------------------------------------------------- */

static gt_status check_inputs(const gt_nn_model *m, const int32_t *ids, const int32_t *valid,
                              const int32_t *labels, int need_labels, int B, int T, gt_error *err)
{
    if (!ids)
        return gt_error_set(err, GT_ERR_INVALID, "model input: no token ids");
    if (need_labels && !labels)
        return gt_error_set(err, GT_ERR_INVALID, "model input: training needs labels");
    long N = (long)B * T;
    for (long n = 0; n < N; n++)
        if (ids[n] < 0 || ids[n] >= m->cfg.vocab)
            return gt_error_set(err, GT_ERR_INVALID, "token id %d at [%ld, %ld]: outside the vocabulary [0, %d)",
                                ids[n], n / T, n % T, m->cfg.vocab);
    for (int b = 0; valid && b < B; b++)
        if (valid[b] < 1 || valid[b] > T)
            return gt_error_set(err, GT_ERR_INVALID, "valid[%d] = %d: each sequence needs 1 to %d real tokens", b,
                                valid[b], T);
    for (int b = 0; labels && b < B; b++)
        if (labels[b] < 0 || labels[b] >= m->cfg.num_labels)
            return gt_error_set(err, GT_ERR_INVALID, "label %d of sequence %d: outside [0, %d)", labels[b], b,
                                m->cfg.num_labels);
    return GT_OK;
}

static void copy_inputs(gt_nn_model *m, const int32_t *ids, const int32_t *valid, const int32_t *labels)
{
    memcpy(m->s.ids, ids, sizeof(int32_t) * (size_t)model_rows(m));
    for (int b = 0; b < m->B; b++) {
        m->s.valid[b] = valid ? valid[b] : m->T;
        m->s.labels[b] = labels ? labels[b] : 0;
    }
}

/* The first matmul error of the step, if any. */
static gt_status step_status(gt_nn_model *m, gt_error *err)
{
    const gt_error *e = mm_ctx_error(m->mm);
    if (!e)
        return GT_OK;
    if (err)
        *err = *e;
    gt_status st = e->status;
    mm_ctx_clear_error(m->mm);
    return st;
}

static gt_status run_forward(gt_nn_model *m, gt_error *err)
{
    mm_ctx_clear_error(m->mm);
    gt_status st = m->cfg.arch == GT_NN_BERT ? bert_forward(m) : modernbert_forward(m);
    gt_status mst = step_status(m, err);
    if (mst != GT_OK)
        return mst;
    if (st != GT_OK)
        return gt_error_set(err, st, "model forward failed");
    return GT_OK;
}

gt_status gt_nn_forward(gt_nn_model *m, const int32_t *ids, const int32_t *valid, const int32_t *labels, int B,
                        int T, float *logits, float *loss, gt_error *err)
{
    if (m->gpu) {
        gt_status st = check_shape(m, B, T, err);
        if (st == GT_OK)
            st = check_inputs(m, ids, valid, labels, 1, B, T, err);
        return st == GT_OK ? gpu_forward(m, ids, valid, labels, B, T, logits, loss, err) : st;
    }
    /* the shape first: inputs are read only once it is known to fit */
    gt_status st = model_prepare(m, B, T, MODEL_TRAIN, err);
    if (st == GT_OK)
        st = check_inputs(m, ids, valid, labels, 1, B, T, err);
    if (st != GT_OK)
        return st;
    copy_inputs(m, ids, valid, labels);
    m->forward_fused = m->opt.fused;
    if ((st = run_forward(m, err)) != GT_OK)
        return st;
    float mean = cross_entropy_forward(m->s.losses, m->s.probs, m->s.logits, m->s.labels, B, m->cfg.num_labels);
    if (m->teacher) {
        if ((st = gt_nn_infer(m->teacher, ids, valid, B, T, m->s.teacher_logits, err)) != GT_OK)
            return gt_error_prefix(err, "teacher: ");
        float kd = distill_forward(m->s.kd_losses, m->s.kd_student, m->s.kd_teacher, m->s.logits,
                                   m->s.teacher_logits, B, m->cfg.num_labels, m->kd_temperature);
        mean = m->kd_alpha * kd + (1.0f - m->kd_alpha) * mean;
        m->kd_steps++;
        m->kd_loss_sum += mean;
        m->kd_part_sum += m->kd_alpha * kd;
    }
    if (loss)
        *loss = mean;
    if (logits)
        memcpy(logits, m->s.logits, sizeof(float) * (size_t)B * m->cfg.num_labels);
    m->dropout_calls++;
    m->have_forward = 1;
    return GT_OK;
}

gt_status gt_nn_backward(gt_nn_model *m, float grad_scale, gt_error *err)
{
    if (m->gpu)
        return gpu_backward(m, grad_scale, err);
    if (!m->have_forward || m->mode != MODEL_TRAIN)
        return gt_error_set(err, GT_ERR_INVALID, "model backward: no training forward pass to differentiate "
                            "(call gt_nn_forward first, once per backward)");
    if (!m->params.grad)
        return gt_error_set(err, GT_ERR_INVALID, "model backward: every tensor is frozen");
    m->have_forward = 0;
    float ce_weight = m->teacher ? 1.0f - m->kd_alpha : 1.0f;
    cross_entropy_backward(m->g.g_logits, m->s.probs, m->s.labels, m->B, m->cfg.num_labels,
                           ce_weight * grad_scale / m->B);
    if (m->teacher)
        distill_backward(m->g.g_logits, m->s.kd_student, m->s.kd_teacher, m->B, m->cfg.num_labels, m->kd_temperature,
                         m->kd_alpha * grad_scale / m->B);
    mm_ctx_clear_error(m->mm);
    gt_status st = m->cfg.arch == GT_NN_BERT ? bert_backward(m) : modernbert_backward(m);
    gt_status mst = step_status(m, err);
    if (mst != GT_OK)
        return mst;
    if (st != GT_OK)
        return gt_error_set(err, st, "model backward failed");
    return GT_OK;
}

void gt_nn_zero_grad(gt_nn_model *m)
{
    if (m->gpu) {
        gpu_zero_grad(m);
        return;
    }
    params_zero_grad(&m->params);
}

gt_status gt_nn_infer(gt_nn_model *m, const int32_t *ids, const int32_t *valid, int B, int T, float *logits,
                      gt_error *err)
{
    if (m->gpu) {
        gt_status st = check_shape(m, B, T, err);
        if (st == GT_OK)
            st = check_inputs(m, ids, valid, NULL, 0, B, T, err);
        return st == GT_OK ? gpu_infer(m, ids, valid, B, T, logits, err) : st;
    }
    gt_status st = model_prepare(m, B, T, MODEL_INFER, err);
    if (st == GT_OK)
        st = check_inputs(m, ids, valid, NULL, 0, B, T, err);
    if (st != GT_OK)
        return st;
    copy_inputs(m, ids, valid, NULL);
    if ((st = run_forward(m, err)) != GT_OK)
        return st;
    if (logits)
        memcpy(logits, m->s.logits, sizeof(float) * (size_t)B * m->cfg.num_labels);
    return GT_OK;
}

/* ---- optimizer -------------------------------------------------------------------- */

gt_status gt_nn_optimizer_defaults(const char *name, gt_nn_optimizer_config *cfg, gt_error *err)
{
    optimizer_kind kind;
    gt_status st = optimizer_parse(name ? name : "adamw", &kind, err);
    if (st != GT_OK)
        return st;
    optimizer_config o = optimizer_defaults(kind);
    *cfg = (gt_nn_optimizer_config){.name = optimizer_name(kind), .weight_decay = o.weight_decay,
                                    .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .momentum = o.momentum};
    return GT_OK;
}

gt_status gt_nn_model_set_optimizer(gt_nn_model *m, const gt_nn_optimizer_config *cfg, gt_error *err)
{
    gt_nn_optimizer_config def;
    if (!cfg) {
        gt_status st = gt_nn_optimizer_defaults("adamw", &def, err);
        if (st != GT_OK)
            return st;
        cfg = &def;
    }
    optimizer_kind kind;
    gt_status st = optimizer_parse(cfg->name ? cfg->name : "adamw", &kind, err);
    if (st != GT_OK)
        return st;
    optimizer_config o = optimizer_defaults(kind);
    o.weight_decay = cfg->weight_decay;
    o.beta1 = cfg->beta1;
    o.beta2 = cfg->beta2;
    o.eps = cfg->eps;
    o.momentum = cfg->momentum;
    o.threshold = cfg->grad_threshold;
    if (m->has_optim)
        optimizer_free(&m->optim);
    m->has_optim = 0;
    if ((st = optimizer_init(&m->optim, &m->params, &o, err)) != GT_OK)
        return st;
    m->has_optim = 1;
    return GT_OK;
}

gt_status gt_nn_step(gt_nn_model *m, double lr, double max_norm, double *norm, gt_error *err)
{
    if (!m->has_optim) {
        gt_status st = gt_nn_model_set_optimizer(m, NULL, err);
        if (st != GT_OK)
            return st;
    }
    if (!(lr >= 0.0) || !isfinite(lr))
        return gt_error_set(err, GT_ERR_INVALID, "learning rate %g: must be a finite number >= 0", lr);
    if (m->gpu)
        return gpu_step(m, lr, max_norm, norm, err);
    double n = max_norm > 0.0 ? clip_grad_norm(&m->params, max_norm) : norm ? grad_norm(&m->params) : 0.0;
    if (norm)
        *norm = n;
    optimizer_step(&m->optim, &m->params, lr);
    return GT_OK;
}

/* ---- facts --------------------------------------------------------------------------- */

void gt_nn_model_info_get(const gt_nn_model *m, gt_nn_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->params = (long)params_count(&m->params, 0);
    info->trainable_params = (long)params_count(&m->params, 1);
    info->weight_bytes = m->params.data_floats * sizeof(float);
    info->grad_bytes = m->params.grad_floats * sizeof(float);
    info->optimizer_bytes = m->has_optim ? optimizer_state_bytes(&m->optim) : 0;
    info->grad_entries_updated = m->optim.considered;
    info->grad_entries_skipped = m->optim.skipped;
    info->arena_bytes = m->arena.capacity;
    info->arena_peak = m->arena.peak;
    mm_stats st = mm_ctx_stats(m->mm);
    for (int p = 0; p < GT_NN_PRECISIONS; p++) {
        info->matmul_flops[p] = st.flops[p];
        info->matmul_calls[p] = st.calls[p];
    }
    info->train_B = m->train_peak_B;
    info->train_T = m->train_peak_T;
    info->train_activation_bytes = m->train_peak;
    info->train_attention_bytes = m->train_attention;
    info->recompute_flops = m->recompute_flops;
    info->fused_ops = m->fused_ops;
    each_linear((gt_nn_model *)m, count_int8_linear, info);
    info->distill_steps = m->kd_steps;
    info->distill_loss_sum = m->kd_loss_sum;
    info->distill_kd_sum = m->kd_part_sum;
    if (m->gpu)
        gpu_info(m, info);
}

gt_status gt_nn_plan_bytes(gt_nn_model *m, int B, int T, int train, const gt_nn_options *o, size_t *total,
                           size_t *attention, gt_error *err)
{
    gt_status st = check_shape(m, B, T, err);
    if (st != GT_OK)
        return st;
    gt_nn_options keep = m->opt;
    int keep_B = m->B, keep_T = m->T;
    model_mode keep_mode = m->mode;
    if (o)
        m->opt = *o;
    m->B = B;
    m->T = T;
    m->mode = train ? MODEL_TRAIN : MODEL_INFER;
    nn_arena probe;
    memset(&probe, 0, sizeof probe);
    plan_all(m, &probe);
    *total = probe.peak;
    if (attention)
        *attention = m->plan_attention_bytes;
    m->opt = keep;
    m->B = keep_B;
    m->T = keep_T;
    m->mode = keep_mode;
    m->planned = 0;    /* the probe overwrote the step's pointers */
    m->have_forward = 0;
    return GT_OK;
}

gt_status gt_nn_set_teacher(gt_nn_model *m, gt_nn_model *teacher, float temperature, float alpha, gt_error *err)
{
    if (teacher) {
        if (teacher == m)
            return gt_error_set(err, GT_ERR_INVALID, "distill: a model cannot be its own teacher");
        if (teacher->cfg.num_labels != m->cfg.num_labels)
            return gt_error_set(err, GT_ERR_INVALID, "distill: the teacher has %d labels, the student %d",
                                teacher->cfg.num_labels, m->cfg.num_labels);
        if (!(temperature > 0.0f) || !isfinite(temperature))
            return gt_error_set(err, GT_ERR_INVALID, "distill: temperature %g must be positive", (double)temperature);
        if (!(alpha >= 0.0f && alpha <= 1.0f))
            return gt_error_set(err, GT_ERR_INVALID, "distill: alpha %g must be in [0, 1]", (double)alpha);
    }
    m->teacher = teacher;
    m->kd_temperature = temperature;
    m->kd_alpha = alpha;
    m->have_forward = 0;
    return GT_OK;
}

gt_status gt_nn_config_params(const gt_nn_config *cfg, long *params, gt_error *err)
{
    gt_status st = gt_nn_config_check(cfg, err);
    if (st != GT_OK)
        return st;
    if (cfg->layers > 1024)
        return gt_error_set(err, GT_ERR_INVALID, "layers %d: at most 1024", cfg->layers);
    /* declare alone records names and shapes; nothing the size of the model is allocated */
    gt_nn_model m;
    memset(&m, 0, sizeof m);
    m.cfg = *cfg;
    params_init(&m.params);
    if ((st = declare(&m, err)) == GT_OK)
        *params = (long)params_count(&m.params, 0);
    nn_free(m.acts);
    nn_free(m.layers);
    params_free(&m.params);
    return st;
}

/* Query-key pairs attention looks at in one sequence of T real tokens. */
static double attention_pairs(int T, int window)
{
    if (window <= 0)
        return (double)T * T;
    double pairs = 0;
    int half = window / 2;
    for (int i = 0; i < T; i++) {
        int lo = i - half < 0 ? 0 : i - half, hi = i + half > T - 1 ? T - 1 : i + half;
        pairs += hi - lo + 1;
    }
    return pairs;
}

double gt_nn_step_flops(const gt_nn_config *c, int B, int T, int train)
{
    double N = (double)B * T, C = c->dim, F = c->ffn;
    double ffn_in_out = c->arch == GT_NN_MODERNBERT ? 2 * F : F;
    double layer_linear = 2 * N * C * (3 * C + C + ffn_in_out + F);
    double head = 2.0 * B * C * (C + c->num_labels);
    double attention = 0;
    for (int l = 0; l < c->layers; l++) {
        int window = c->arch == GT_NN_MODERNBERT && (l + c->global_offset) % c->global_every != 0 ? c->local_window : 0;
        /* q k^T and P v: 2 D multiply-adds per pair and head, forward */
        attention += 4.0 * B * c->dim * attention_pairs(T, window);
    }
    double forward = c->layers * layer_linear + head + attention;
    return train ? 3 * forward : forward;
}
