/* ModernBERT for sequence classification, as Hugging Face's
 * ModernBertForSequenceClassification computes it (eager/sdpa attention):
 *
 *   x = drop(LN(tok[ids]))                                   (no positions here)
 *   per layer i (pre-norm; layer 0 has no attn_norm):
 *     qkv = attn_norm(x) Wqkv^T;  rotate q, k (RoPE: theta 160000 in global
 *     layers, 10000 in local ones);  ctx = attention(qkv), global when
 *     (i + global_offset) % global_every == 0, else keys within +-local_window/2
 *     x = x + drop(ctx Wo^T)
 *     [a, gate] = mlp_norm(x) Wi^T;  x = x + drop(act(a) * gate) Wo^T
 *   h = final_norm(x);  pooled = h[:, 0] or the mean over valid tokens
 *   logits = drop(head.norm(act(pooled Wd^T))) Wc^T + bc
 *
 * No biases anywhere but the classifier; LayerNorms have no bias. */
#include <stdio.h>

#include "nn/model.h"

gt_status modernbert_declare(gt_nn_model *m, gt_error *err)
{
    const gt_nn_config *c = &m->cfg;
    const int C = c->dim;
    char name[PARAM_NAME_MAX];
    const char *p = name;
    gt_status st = model_add(m, "model.embeddings.tok_embeddings.weight", c->vocab, C, 0, &m->emb_word, err);
    if (st == GT_OK)
        st = model_add_norm(m, &m->emb_norm_w, &m->emb_norm_b, "model.embeddings.norm", C, 0, err);
    for (int l = 0; l < c->layers && st == GT_OK; l++) {
        model_layer *L = &m->layers[l];
        L->norm1_w = L->norm1_b = -1;
        L->window = (l + c->global_offset) % c->global_every == 0 ? 0 : c->local_window;
        L->rope = L->window ? 1 : 0;
        if (l > 0) {
            snprintf(name, sizeof name, "model.layers.%d.attn_norm", l);
            st = model_add_norm(m, &L->norm1_w, &L->norm1_b, p, C, 0, err);
        }
        snprintf(name, sizeof name, "model.layers.%d.attn.Wqkv", l);
        if (st == GT_OK)
            st = model_add_linear(m, &L->qkv, p, 3 * C, C, 0, err);
        snprintf(name, sizeof name, "model.layers.%d.attn.Wo", l);
        if (st == GT_OK)
            st = model_add_linear(m, &L->attn_out, p, C, C, 0, err);
        snprintf(name, sizeof name, "model.layers.%d.mlp_norm", l);
        if (st == GT_OK)
            st = model_add_norm(m, &L->norm2_w, &L->norm2_b, p, C, 0, err);
        snprintf(name, sizeof name, "model.layers.%d.mlp.Wi", l);
        if (st == GT_OK)
            st = model_add_linear(m, &L->ffn_in, p, 2 * c->ffn, C, 0, err);
        snprintf(name, sizeof name, "model.layers.%d.mlp.Wo", l);
        if (st == GT_OK)
            st = model_add_linear(m, &L->ffn_out, p, C, c->ffn, 0, err);
    }
    int unused;
    if (st == GT_OK)
        st = model_add_norm(m, &m->final_norm_w, &unused, "model.final_norm", C, 0, err);
    if (st == GT_OK)
        st = model_add_linear(m, &m->head, "head.dense", C, C, 0, err);
    if (st == GT_OK)
        st = model_add_norm(m, &m->head_norm_w, &unused, "head.norm", C, 0, err);
    if (st == GT_OK)
        st = model_add_linear(m, &m->classifier, "classifier", c->num_labels, C, 1, err);
    return st;
}

/* One layer's activations; x->in is set (NULL for the checkpointed layers'
 * shared set). Every layer plans the attn_norm buffers, also layer 0 (whose
 * norm is skipped at run time): inference and the shared set serve all layers. */
static void plan_layer(gt_nn_model *m, nn_arena *a, layer_acts *x, int train)
{
    size_t N = (size_t)model_rows(m), C = (size_t)m->cfg.dim, F = (size_t)m->cfg.ffn;
    int norm1 = !train || x != &m->acts[0];
    x->norm1 = plan_floats(a, N * C, norm1);
    x->mean1 = plan_floats(a, N, train && norm1);
    x->rstd1 = plan_floats(a, N, train && norm1);
    model_plan_attention(m, a, x);
    x->res1 = train ? plan_floats(a, N * C, 1) : x->in;
    x->mean2 = plan_floats(a, N, train);
    x->rstd2 = plan_floats(a, N, train);
    x->norm2in = plan_floats(a, N * C, 1);
    x->ffn_pre = plan_floats(a, N * 2 * F, 1);
    x->ffn_act = plan_floats(a, N * F, 1);
    model_plan_layer_out(m, a, x, train, F);   /* dropout acts on GeGLU's output */
}

void modernbert_plan(gt_nn_model *m, nn_arena *a)
{
    const gt_nn_config *c = &m->cfg;
    size_t N = (size_t)model_rows(m), B = (size_t)m->B, C = (size_t)c->dim, F = (size_t)c->ffn;
    size_t T = (size_t)m->T, half = (size_t)(c->dim / c->heads / 2);
    int train = m->mode == MODEL_TRAIN;
    model_plan_layers(m, a, plan_layer);
    step_acts *s = &m->s;
    s->hidden = plan_floats(a, N * C, 1);
    s->final_mean = plan_floats(a, N, train);
    s->final_rstd = plan_floats(a, N, train);
    s->head_norm = plan_floats(a, B * C, 1);
    s->head_mean = plan_floats(a, B, train);
    s->head_rstd = plan_floats(a, B, train);
    for (int i = 0; i < 2; i++) {
        s->rope_cos[i] = plan_floats(a, T * half, 1);
        s->rope_sin[i] = plan_floats(a, T * half, 1);
    }
    m->g.g_f = plan_floats(a, N * F, train);
    m->g.g_f2 = plan_floats(a, N * 2 * F, train);
}

static void layer_forward(gt_nn_model *m, int l, layer_acts *a)
{
    const gt_nn_config *c = &m->cfg;
    model_layer *L = &m->layers[l];
    float *tmp = m->s.tmp;
    const int N = (int)model_rows(m), H = c->heads, D = c->dim / c->heads;
    const long NC = (long)N * c->dim;

    const float *xn = a->in;
    if (L->norm1_w >= 0) {
        model_norm_forward(m, a->norm1, a->mean1, a->rstd1, a->in, L->norm1_w, -1, N);
        xn = a->norm1;
    }
    model_linear_forward(m, &L->qkv, a->qkv, xn, a->qkv_in_bf, N);
    rope_forward(a->qkv, m->s.rope_cos[L->rope], m->s.rope_sin[L->rope], m->B, m->T, 2 * H, D, 3 * H * D);
    model_attention_forward(m, L, a);
    /* fused inference: res1 and out are in, and the residual adds are the matmuls' sum post-op */
    int fused = m->opt.fused && m->mode == MODEL_INFER;
    if (fused) {
        model_linear_forward_fused(m, &L->attn_out, a->res1, a->ctx, NULL, N, LINEAR_Y_ACCUMULATE, MM_ELTWISE_NONE);
        model_norm_forward(m, a->norm2in, a->mean2, a->rstd2, a->res1, L->norm2_w, -1, N);
    } else {
        model_linear_forward(m, &L->attn_out, tmp, a->ctx, a->ctx_bf, N);
        model_residual_norm(m, a->res1, a->norm2in, a->mean2, a->rstd2, a->mask_attn, tmp, a->in, c->drop_attn_out,
                            dropout_site(l, 0), L->norm2_w, -1);
    }
    model_linear_forward(m, &L->ffn_in, a->ffn_pre, a->norm2in, a->ffn_in_bf, N);
    geglu_forward(a->ffn_act, a->ffn_pre, N, c->ffn, model_activation(c->act));
    model_dropout_forward(m, a->ffn_act, a->mask_ffn, a->ffn_act, (long)N * c->ffn, c->drop_ffn,
                          dropout_site(l, 1));
    if (fused) {
        model_linear_forward_fused(m, &L->ffn_out, a->out, a->ffn_act, NULL, N, LINEAR_Y_ACCUMULATE, MM_ELTWISE_NONE);
        return;
    }
    model_linear_forward(m, &L->ffn_out, tmp, a->ffn_act, a->ffn_act_bf, N);
    residual_forward(a->out, a->res1, tmp, NC);
}

gt_status modernbert_forward(gt_nn_model *m)
{
    const gt_nn_config *c = &m->cfg;
    step_acts *s = &m->s;
    const int N = (int)model_rows(m);
    const long BC = (long)m->B * c->dim;

    embedding_forward(s->emb_sum, s->ids, model_data(m, m->emb_word), N, c->dim);
    model_norm_forward(m, s->emb_out, s->emb_mean, s->emb_rstd, s->emb_sum, m->emb_norm_w, -1, N);
    model_dropout_forward(m, s->emb_out, s->emb_mask, s->emb_out, (long)N * c->dim, c->drop_embedding,
                          dropout_site(-1, 0));
    int train = m->mode == MODEL_TRAIN;
    for (int l = 0; l < c->layers; l++)
        layer_forward(m, l, &m->acts[train ? l : 0]);
    model_norm_forward(m, s->hidden, s->final_mean, s->final_rstd, m->acts[train ? c->layers - 1 : 0].out,
                       m->final_norm_w, -1, N);

    model_pool_forward(m, s->hidden);
    model_linear_forward(m, &m->head, s->head_pre, s->pooled, s->pooled_bf, m->B);
    activation_forward(s->head_act, s->head_pre, BC, model_activation(c->head_act));
    model_norm_forward(m, s->head_norm, s->head_mean, s->head_rstd, s->head_act, m->head_norm_w, -1, m->B);
    model_classifier_forward(m, s->head_norm);
    return GT_OK;
}

/* g->g_out holds d(layer output) on entry and d(layer input) on return. */
static void layer_backward(gt_nn_model *m, int l, const layer_acts *a)
{
    const gt_nn_config *c = &m->cfg;
    model_layer *L = &m->layers[l];
    grad_acts *g = &m->g;
    const int N = (int)model_rows(m), H = c->heads, D = c->dim / c->heads;
    const long NC = (long)N * c->dim;

    /* out = res1 + mlp(res1) */
    model_linear_backward(m, &L->ffn_out, g->g_f, g->g_out, a->ffn_act, a->ffn_act_bf, N, 0);
    const float *d_act = model_dropout_backward(g->g_f, a->mask_ffn, g->g_f, (long)N * c->ffn, c->drop_ffn);
    geglu_backward(g->g_f2, a->ffn_pre, d_act, N, c->ffn, model_activation(c->act));
    model_linear_backward(m, &L->ffn_in, g->g_a, g->g_f2, a->norm2in, a->ffn_in_bf, N, 0);
    model_norm_backward(m, g->g_b, g->g_a, a->res1, L->norm2_w, -1, a->mean2, a->rstd2, N);
    residual_backward(g->g_out, NULL, g->g_b, NC);

    /* res1 = in + drop(Wo attention(qkv(attn_norm(in)))) */
    const float *d_proj = model_dropout_backward(g->g_b, a->mask_attn, g->g_out, NC, c->drop_attn_out);
    model_linear_backward(m, &L->attn_out, g->g_a, d_proj, a->ctx, a->ctx_bf, N, 0);
    model_attention_backward(m, L, a, g->g_qkv, g->g_a);
    rope_backward(g->g_qkv, m->s.rope_cos[L->rope], m->s.rope_sin[L->rope], m->B, m->T, 2 * H, D, 3 * H * D);
    if (L->norm1_w < 0) {
        model_linear_backward(m, &L->qkv, g->g_out, g->g_qkv, a->in, a->qkv_in_bf, N, LINEAR_DX_ACCUMULATE);
        return;
    }
    model_linear_backward(m, &L->qkv, g->g_a, g->g_qkv, a->norm1, a->qkv_in_bf, N, 0);
    model_norm_backward(m, g->g_b, g->g_a, a->in, L->norm1_w, -1, a->mean1, a->rstd1, N);
    residual_backward(g->g_out, NULL, g->g_b, NC);
}

gt_status modernbert_backward(gt_nn_model *m)
{
    const gt_nn_config *c = &m->cfg;
    step_acts *s = &m->s;
    grad_acts *g = &m->g;
    const int N = (int)model_rows(m), C = c->dim;
    const long BC = (long)m->B * C;

    model_classifier_backward(m);
    model_norm_backward(m, g->g_head_b, g->g_head_a, s->head_act, m->head_norm_w, -1, s->head_mean, s->head_rstd,
                        m->B);
    activation_backward(g->g_head_b, s->head_pre, g->g_head_b, BC, model_activation(c->head_act));
    model_linear_backward(m, &m->head, g->g_head_a, g->g_head_b, s->pooled, s->pooled_bf, m->B, 0);
    model_pool_backward(m, g->g_a, g->g_head_a);
    model_norm_backward(m, g->g_out, g->g_a, m->acts[c->layers - 1].out, m->final_norm_w, -1, s->final_mean,
                        s->final_rstd, N);

    for (int l = c->layers - 1; l >= 0; l--) {
        model_recompute(m, l, layer_forward);
        layer_backward(m, l, &m->acts[l]);
    }

    const float *d_emb = model_dropout_backward(g->g_out, s->emb_mask, g->g_out, (long)N * C, c->drop_embedding);
    model_norm_backward(m, g->g_a, d_emb, s->emb_sum, m->emb_norm_w, -1, s->emb_mean, s->emb_rstd, N);
    model_embedding_backward(m, g->g_a);
    return GT_OK;
}
