/* The two architectures on the device: bert.c and modernbert.c op for op,
 * with device memory and the dev interface (see those files for the models'
 * equations). Only the CPU's fused inference paths are not mirrored: on the
 * GPU the bias is always the matmul's epilogue and the rest costs little. */
#include "nn/cuda/gpu_model.h"

static int rows_of(const gt_nn_model *m)
{
    return m->gpu->B * m->gpu->T;
}

static int half_training(const gt_nn_model *m)
{
    gt_nn_precision p = m->opt.train_precision;
    return m->gpu->mode == MODEL_TRAIN && (p == GT_NN_BF16 || p == GT_NN_FP16);
}

/* What every layer of both architectures keeps: q, k, v, attention, the
 * linears' 16-bit inputs, LayerNorm statistics, dropout masks. ffn_in_width:
 * the FFN's first output (F, or 2F for GeGLU); mask_ffn_width: where its
 * dropout acts (bert: the block output C, modernbert: the GeGLU output F). */
static void plan_layer(gt_nn_model *m, gpu_plan *p, gpu_layer *x, size_t ffn_in_width, size_t mask_ffn_width)
{
    gpu_model *g = m->gpu;
    const gt_nn_config *c = &m->cfg;
    size_t N = (size_t)rows_of(m), C = (size_t)c->dim, F = (size_t)c->ffn, T = (size_t)g->T;
    size_t heads = (size_t)g->B * c->heads;
    int train = g->mode == MODEL_TRAIN, half = half_training(m), fused = m->opt.attention == GT_NN_ATTN_FUSED;
    gt_nn_precision ap = gpu_precision(m);
    size_t ats = ap == GT_NN_BF16 || ap == GT_NN_FP16 ? 2 : 4;
    x->qkv = gpu_floats(p, N * 3 * C, 1);
    x->probs = gpu_take(p, heads * T * T * ats, !fused);
    x->lse = gpu_floats(p, heads * T, fused);
    x->ctx = gpu_floats(p, N * C, 1);
    x->norm2in = gpu_floats(p, N * C, 1);
    x->ffn_pre = gpu_floats(p, N * ffn_in_width, 1);
    x->mean2 = gpu_floats(p, N, train);
    x->rstd2 = gpu_floats(p, N, train);
    x->mask_attn = gpu_take(p, N * C, train && c->drop_attn_out > 0);
    x->mask_ffn = gpu_take(p, N * mask_ffn_width, train && c->drop_ffn > 0);
    x->qkv_in16 = gpu_take(p, N * C * 2, half);
    x->ctx16 = gpu_take(p, N * C * 2, half);
    x->ffn_in16 = gpu_take(p, N * C * 2, half);
    x->ffn_act16 = gpu_take(p, N * F * 2, half);
}

/* ---- bert ------------------------------------------------------------------------ */

void gpu_bert_plan(gt_nn_model *m, gpu_plan *p)
{
    gpu_model *g = m->gpu;
    const gt_nn_config *c = &m->cfg;
    size_t N = (size_t)rows_of(m), C = (size_t)c->dim, F = (size_t)c->ffn;
    int train = g->mode == MODEL_TRAIN;
    int count = train ? c->layers : 1;
    for (int l = 0; l < count; l++) {
        gpu_layer *x = &g->acts[l];
        x->in = l == 0 ? g->s.emb_out : g->acts[l - 1].out;
        plan_layer(m, p, x, F, C);
        x->res1 = gpu_floats(p, N * C, 1);
        x->mean1 = gpu_floats(p, N, train);
        x->rstd1 = gpu_floats(p, N, train);
        /* inference applies the activation in place */
        x->ffn_act = train ? gpu_floats(p, N * F, 1) : x->ffn_pre;
        x->res2 = gpu_floats(p, N * C, 1);
        x->out = train ? gpu_floats(p, N * C, 1) : x->in;
    }
    g->s.g_f = gpu_floats(p, N * F, train);
}

static void bert_embeddings_fwd(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    dev *d = g->d;
    const int N = rows_of(m), C = m->cfg.dim;
    d->embed_fwd(d, s->emb_sum, s->ids, gpu_data(m, m->emb_word), N, C);
    /* token type 0 for every token: a "position" table of one row over N rows */
    d->rows_add_fwd(d, s->emb_sum, gpu_data(m, m->emb_type), N, 1, C);
    d->rows_add_fwd(d, s->emb_sum, gpu_data(m, m->emb_pos), g->B, g->T, C);
    gpu_norm_fwd(m, s->emb_out, s->emb_mean, s->emb_rstd, s->emb_sum, m->emb_norm_w, m->emb_norm_b, N);
    gpu_dropout_fwd(m, s->emb_out, s->emb_mask, s->emb_out, NULL, (long)N * C, m->cfg.drop_embedding,
                    dropout_site(-1, 0));
}

static void bert_layer_fwd(gt_nn_model *m, int l, gpu_layer *a)
{
    const gt_nn_config *c = &m->cfg;
    model_layer *L = &m->layers[l];
    float *tmp = m->gpu->s.tmp;
    const int N = rows_of(m);
    const long NC = (long)N * c->dim, NF = (long)N * c->ffn;
    dev *d = m->gpu->d;

    gpu_linear_fwd(m, &L->qkv, a->qkv, a->in, a->qkv_in16, N, 0);
    gpu_attention_fwd(m, L, a);
    gpu_linear_fwd(m, &L->attn_out, tmp, a->ctx, a->ctx16, N, 0);
    gpu_dropout_fwd(m, a->res1, a->mask_attn, tmp, a->in, NC, c->drop_attn_out, dropout_site(l, 0));
    gpu_norm_fwd(m, a->norm2in, a->mean1, a->rstd1, a->res1, L->norm1_w, L->norm1_b, N);

    gpu_linear_fwd(m, &L->ffn_in, a->ffn_pre, a->norm2in, a->ffn_in16, N, 0);
    d->act_fwd(d, a->ffn_act, a->ffn_pre, NF, model_activation(c->act));
    gpu_linear_fwd(m, &L->ffn_out, tmp, a->ffn_act, a->ffn_act16, N, 0);
    gpu_dropout_fwd(m, a->res2, a->mask_ffn, tmp, a->norm2in, NC, c->drop_ffn, dropout_site(l, 1));
    gpu_norm_fwd(m, a->out, a->mean2, a->rstd2, a->res2, L->norm2_w, L->norm2_b, N);
}

void gpu_bert_forward(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    const gt_nn_config *c = &m->cfg;
    int train = g->mode == MODEL_TRAIN;
    bert_embeddings_fwd(m);
    for (int l = 0; l < c->layers; l++)
        bert_layer_fwd(m, l, &g->acts[train ? l : 0]);
    gpu_pool_fwd(m, g->acts[train ? c->layers - 1 : 0].out);
    gpu_linear_fwd(m, &m->head, s->head_pre, s->pooled, s->pooled16, g->B, 0);
    g->d->tanh_fwd(g->d, s->head_act, s->head_pre, (long)g->B * c->dim);
    gpu_classifier_fwd(m, s->head_act);
}

/* s.g_out holds d(layer output) on entry and d(layer input) on return. */
static void bert_layer_bwd(gt_nn_model *m, int l, const gpu_layer *a)
{
    const gt_nn_config *c = &m->cfg;
    model_layer *L = &m->layers[l];
    gpu_acts *s = &m->gpu->s;
    const int N = rows_of(m);
    const long NC = (long)N * c->dim;
    dev *d = m->gpu->d;

    gpu_norm_bwd(m, s->g_a, s->g_out, a->res2, L->norm2_w, L->norm2_b, a->mean2, a->rstd2, N);
    const float *d_ffn_out = gpu_dropout_bwd(m, s->g_b, a->mask_ffn, s->g_a, NC, c->drop_ffn);
    gpu_linear_bwd(m, &L->ffn_out, s->g_f, d_ffn_out, a->ffn_act, a->ffn_act16, N, 0);
    d->act_bwd(d, s->g_f, a->ffn_pre, s->g_f, (long)N * c->ffn, model_activation(c->act));
    /* d norm2in = the residual's g_a + the FFN's input gradient */
    gpu_linear_bwd(m, &L->ffn_in, s->g_a, s->g_f, a->norm2in, a->ffn_in16, N, 1);

    gpu_norm_bwd(m, s->g_out, s->g_a, a->res1, L->norm1_w, L->norm1_b, a->mean1, a->rstd1, N);
    const float *d_proj = gpu_dropout_bwd(m, s->g_b, a->mask_attn, s->g_out, NC, c->drop_attn_out);
    gpu_linear_bwd(m, &L->attn_out, s->g_a, d_proj, a->ctx, a->ctx16, N, 0);
    gpu_attention_bwd(m, L, a, s->g_qkv, s->g_a);
    /* d in = the residual's g_out + the projection's input gradient */
    gpu_linear_bwd(m, &L->qkv, s->g_out, s->g_qkv, a->in, a->qkv_in16, N, 1);
}

static void bert_embeddings_bwd(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    const gt_nn_config *c = &m->cfg;
    const int N = rows_of(m), C = c->dim;
    const float *d_out = gpu_dropout_bwd(m, s->g_out, s->emb_mask, s->g_out, (long)N * C, c->drop_embedding);
    gpu_norm_bwd(m, s->g_a, d_out, s->emb_sum, m->emb_norm_w, m->emb_norm_b, s->emb_mean, s->emb_rstd, N);
    float *dpos = gpu_grad(m, m->emb_pos), *dtype = gpu_grad(m, m->emb_type);
    gpu_embedding_bwd(m, s->g_a);
    if (dpos)
        g->d->rows_add_bwd(g->d, dpos, s->g_a, g->B, g->T, C);
    if (dtype) /* one row summed over all N: a column sum */
        g->d->colsum(g->d, dtype, s->g_a, N, C, s->col_scratch);
}

void gpu_bert_backward(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    const gt_nn_config *c = &m->cfg;
    gpu_classifier_bwd(m);
    g->d->tanh_bwd(g->d, s->g_head_a, s->head_act, s->g_head_a, (long)g->B * c->dim);
    gpu_linear_bwd(m, &m->head, s->g_head_b, s->g_head_a, s->pooled, s->pooled16, g->B, 0);
    gpu_pool_bwd(m, s->g_out, s->g_head_b);
    for (int l = c->layers - 1; l >= 0; l--)
        bert_layer_bwd(m, l, &g->acts[l]);
    bert_embeddings_bwd(m);
}

/* ---- modernbert -------------------------------------------------------------------- */

void gpu_modernbert_plan(gt_nn_model *m, gpu_plan *p)
{
    gpu_model *g = m->gpu;
    const gt_nn_config *c = &m->cfg;
    size_t N = (size_t)rows_of(m), B = (size_t)g->B, C = (size_t)c->dim, F = (size_t)c->ffn;
    size_t T = (size_t)g->T, half = (size_t)(c->dim / c->heads / 2);
    int train = g->mode == MODEL_TRAIN;
    int count = train ? c->layers : 1;
    for (int l = 0; l < count; l++) {
        gpu_layer *x = &g->acts[l];
        x->in = l == 0 ? g->s.emb_out : g->acts[l - 1].out;
        /* inference runs every layer on one stream; layer 0's missing norm is skipped at run time */
        int norm1 = !train || l > 0;
        plan_layer(m, p, x, 2 * F, F);
        x->norm1 = gpu_floats(p, N * C, norm1);
        x->mean1 = gpu_floats(p, N, train && norm1);
        x->rstd1 = gpu_floats(p, N, train && norm1);
        x->res1 = train ? gpu_floats(p, N * C, 1) : x->in;
        x->ffn_act = gpu_floats(p, N * F, 1);
        x->out = train ? gpu_floats(p, N * C, 1) : x->in;
    }
    gpu_acts *s = &g->s;
    s->hidden = gpu_floats(p, N * C, 1);
    s->final_mean = gpu_floats(p, N, train);
    s->final_rstd = gpu_floats(p, N, train);
    s->head_norm = gpu_floats(p, B * C, 1);
    s->head_mean = gpu_floats(p, B, train);
    s->head_rstd = gpu_floats(p, B, train);
    for (int i = 0; i < 2; i++) {
        s->rope_cos[i] = gpu_floats(p, T * half, 1);
        s->rope_sin[i] = gpu_floats(p, T * half, 1);
    }
    s->g_f = gpu_floats(p, N * F, train);
    s->g_f2 = gpu_floats(p, N * 2 * F, train);
}

static void modernbert_layer_fwd(gt_nn_model *m, int l, gpu_layer *a)
{
    const gt_nn_config *c = &m->cfg;
    model_layer *L = &m->layers[l];
    gpu_model *g = m->gpu;
    float *tmp = g->s.tmp;
    dev *d = g->d;
    const int N = rows_of(m), H = c->heads, D = c->dim / c->heads;
    const long NC = (long)N * c->dim;

    const float *xn = a->in;
    if (L->norm1_w >= 0) {
        gpu_norm_fwd(m, a->norm1, a->mean1, a->rstd1, a->in, L->norm1_w, -1, N);
        xn = a->norm1;
    }
    gpu_linear_fwd(m, &L->qkv, a->qkv, xn, a->qkv_in16, N, 0);
    d->rope(d, a->qkv, g->s.rope_cos[L->rope], g->s.rope_sin[L->rope], g->B, g->T, 2 * H, D, 3 * H * D, 0);
    gpu_attention_fwd(m, L, a);
    gpu_linear_fwd(m, &L->attn_out, tmp, a->ctx, a->ctx16, N, 0);
    gpu_dropout_fwd(m, a->res1, a->mask_attn, tmp, a->in, NC, c->drop_attn_out, dropout_site(l, 0));

    gpu_norm_fwd(m, a->norm2in, a->mean2, a->rstd2, a->res1, L->norm2_w, -1, N);
    gpu_linear_fwd(m, &L->ffn_in, a->ffn_pre, a->norm2in, a->ffn_in16, N, 0);
    d->geglu_fwd(d, a->ffn_act, a->ffn_pre, N, c->ffn, model_activation(c->act));
    gpu_dropout_fwd(m, a->ffn_act, a->mask_ffn, a->ffn_act, NULL, (long)N * c->ffn, c->drop_ffn, dropout_site(l, 1));
    gpu_linear_fwd(m, &L->ffn_out, tmp, a->ffn_act, a->ffn_act16, N, 0);
    d->add(d, a->out, a->res1, tmp, NC);
}

void gpu_modernbert_forward(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    dev *d = g->d;
    const gt_nn_config *c = &m->cfg;
    const int N = rows_of(m);
    const long BC = (long)g->B * c->dim;
    int train = g->mode == MODEL_TRAIN;

    d->embed_fwd(d, s->emb_sum, s->ids, gpu_data(m, m->emb_word), N, c->dim);
    gpu_norm_fwd(m, s->emb_out, s->emb_mean, s->emb_rstd, s->emb_sum, m->emb_norm_w, -1, N);
    gpu_dropout_fwd(m, s->emb_out, s->emb_mask, s->emb_out, NULL, (long)N * c->dim, c->drop_embedding,
                    dropout_site(-1, 0));
    for (int l = 0; l < c->layers; l++)
        modernbert_layer_fwd(m, l, &g->acts[train ? l : 0]);
    gpu_norm_fwd(m, s->hidden, s->final_mean, s->final_rstd, g->acts[train ? c->layers - 1 : 0].out,
                 m->final_norm_w, -1, N);

    gpu_pool_fwd(m, s->hidden);
    gpu_linear_fwd(m, &m->head, s->head_pre, s->pooled, s->pooled16, g->B, 0);
    d->act_fwd(d, s->head_act, s->head_pre, BC, model_activation(c->head_act));
    gpu_norm_fwd(m, s->head_norm, s->head_mean, s->head_rstd, s->head_act, m->head_norm_w, -1, g->B);
    gpu_classifier_fwd(m, s->head_norm);
}

/* s.g_out holds d(layer output) on entry and d(layer input) on return. */
static void modernbert_layer_bwd(gt_nn_model *m, int l, const gpu_layer *a)
{
    const gt_nn_config *c = &m->cfg;
    model_layer *L = &m->layers[l];
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    dev *d = g->d;
    const int N = rows_of(m), H = c->heads, D = c->dim / c->heads;
    const long NC = (long)N * c->dim;

    /* out = res1 + mlp(res1) */
    gpu_linear_bwd(m, &L->ffn_out, s->g_f, s->g_out, a->ffn_act, a->ffn_act16, N, 0);
    const float *d_act = gpu_dropout_bwd(m, s->g_f, a->mask_ffn, s->g_f, (long)N * c->ffn, c->drop_ffn);
    d->geglu_bwd(d, s->g_f2, a->ffn_pre, d_act, N, c->ffn, model_activation(c->act));
    gpu_linear_bwd(m, &L->ffn_in, s->g_a, s->g_f2, a->norm2in, a->ffn_in16, N, 0);
    gpu_norm_bwd(m, s->g_b, s->g_a, a->res1, L->norm2_w, -1, a->mean2, a->rstd2, N);
    d->add(d, s->g_out, s->g_out, s->g_b, NC);

    /* res1 = in + drop(Wo attention(qkv(attn_norm(in)))) */
    const float *d_proj = gpu_dropout_bwd(m, s->g_b, a->mask_attn, s->g_out, NC, c->drop_attn_out);
    gpu_linear_bwd(m, &L->attn_out, s->g_a, d_proj, a->ctx, a->ctx16, N, 0);
    gpu_attention_bwd(m, L, a, s->g_qkv, s->g_a);
    d->rope(d, s->g_qkv, s->rope_cos[L->rope], s->rope_sin[L->rope], g->B, g->T, 2 * H, D, 3 * H * D, 1);
    if (L->norm1_w < 0) {
        gpu_linear_bwd(m, &L->qkv, s->g_out, s->g_qkv, a->in, a->qkv_in16, N, 1);
        return;
    }
    gpu_linear_bwd(m, &L->qkv, s->g_a, s->g_qkv, a->norm1, a->qkv_in16, N, 0);
    gpu_norm_bwd(m, s->g_b, s->g_a, a->in, L->norm1_w, -1, a->mean1, a->rstd1, N);
    d->add(d, s->g_out, s->g_out, s->g_b, NC);
}

void gpu_modernbert_backward(gt_nn_model *m)
{
    gpu_model *g = m->gpu;
    gpu_acts *s = &g->s;
    dev *d = g->d;
    const gt_nn_config *c = &m->cfg;
    const int N = rows_of(m), C = c->dim;
    const long BC = (long)g->B * C;

    gpu_classifier_bwd(m);
    gpu_norm_bwd(m, s->g_head_b, s->g_head_a, s->head_act, m->head_norm_w, -1, s->head_mean, s->head_rstd, g->B);
    d->act_bwd(d, s->g_head_b, s->head_pre, s->g_head_b, BC, model_activation(c->head_act));
    gpu_linear_bwd(m, &m->head, s->g_head_a, s->g_head_b, s->pooled, s->pooled16, g->B, 0);
    gpu_pool_bwd(m, s->g_a, s->g_head_a);
    gpu_norm_bwd(m, s->g_out, s->g_a, g->acts[c->layers - 1].out, m->final_norm_w, -1, s->final_mean,
                 s->final_rstd, N);

    for (int l = c->layers - 1; l >= 0; l--)
        modernbert_layer_bwd(m, l, &g->acts[l]);

    const float *d_emb = gpu_dropout_bwd(m, s->g_out, s->emb_mask, s->g_out, (long)N * C, c->drop_embedding);
    gpu_norm_bwd(m, s->g_a, d_emb, s->emb_sum, m->emb_norm_w, -1, s->emb_mean, s->emb_rstd, N);
    gpu_embedding_bwd(m, s->g_a);
}
