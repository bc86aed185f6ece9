/* BERT for sequence classification, as Hugging Face's
 * BertForSequenceClassification computes it (eager attention):
 *
 *   x = LN(word[ids] + type[0] + pos[t]);  x = drop(x)
 *   per layer (post-norm):
 *     qkv = x Wqkv^T + b;  ctx = attention(qkv)          (query/key/value packed)
 *     h = LN1(x + drop(ctx Wo^T + bo))
 *     x = LN2(h + drop(act(h W1^T + b1) W2^T + b2))
 *   pooled = tanh(x[:, 0] Wp^T + bp);  logits = drop(pooled) Wc^T + bc
 *
 * Token types: every token is type 0 (single-sentence classification). */
#include <stdio.h>

#include "nn/model.h"

gt_status bert_declare(gt_nn_model *m, gt_error *err)
{
    const gt_nn_config *c = &m->cfg;
    const int C = c->dim;
    char name[PARAM_NAME_MAX];
    gt_status st = model_add(m, "bert.embeddings.word_embeddings.weight", c->vocab, C, 0, &m->emb_word, err);
    if (st == GT_OK)
        st = model_add(m, "bert.embeddings.position_embeddings.weight", c->max_len, C, 0, &m->emb_pos, err);
    if (st == GT_OK)
        st = model_add(m, "bert.embeddings.token_type_embeddings.weight", c->type_vocab, C, 0, &m->emb_type, err);
    if (st == GT_OK)
        st = model_add_norm(m, &m->emb_norm_w, &m->emb_norm_b, "bert.embeddings.LayerNorm", C, 1, err);
    for (int l = 0; l < c->layers && st == GT_OK; l++) {
        model_layer *L = &m->layers[l];
        const char *p = name;
        /* query, key and value live as one (3C, C) block; model_io.c maps the HF names onto its rows. */
        snprintf(name, sizeof name, "bert.encoder.layer.%d.attention.self.qkv", l);
        st = model_add_linear(m, &L->qkv, p, 3 * C, C, 1, err);
        snprintf(name, sizeof name, "bert.encoder.layer.%d.attention.output.dense", l);
        if (st == GT_OK)
            st = model_add_linear(m, &L->attn_out, p, C, C, 1, err);
        snprintf(name, sizeof name, "bert.encoder.layer.%d.attention.output.LayerNorm", l);
        if (st == GT_OK)
            st = model_add_norm(m, &L->norm1_w, &L->norm1_b, p, C, 1, err);
        snprintf(name, sizeof name, "bert.encoder.layer.%d.intermediate.dense", l);
        if (st == GT_OK)
            st = model_add_linear(m, &L->ffn_in, p, c->ffn, C, 1, err);
        snprintf(name, sizeof name, "bert.encoder.layer.%d.output.dense", l);
        if (st == GT_OK)
            st = model_add_linear(m, &L->ffn_out, p, C, c->ffn, 1, err);
        snprintf(name, sizeof name, "bert.encoder.layer.%d.output.LayerNorm", l);
        if (st == GT_OK)
            st = model_add_norm(m, &L->norm2_w, &L->norm2_b, p, C, 1, err);
    }
    if (st == GT_OK)
        st = model_add_linear(m, &m->head, "bert.pooler.dense", C, C, 1, err);
    if (st == GT_OK)
        st = model_add_linear(m, &m->classifier, "classifier", c->num_labels, C, 1, err);
    return st;
}

/* One layer's activations; x->in is set (NULL for the checkpointed layers' shared set). */
static void plan_layer(gt_nn_model *m, nn_arena *a, layer_acts *x, int train)
{
    size_t N = (size_t)model_rows(m), C = (size_t)m->cfg.dim, F = (size_t)m->cfg.ffn;
    model_plan_attention(m, a, x);
    x->res1 = plan_floats(a, N * C, 1);
    x->mean1 = plan_floats(a, N, train);
    x->rstd1 = plan_floats(a, N, train);
    x->norm2in = plan_floats(a, N * C, 1);
    x->ffn_pre = plan_floats(a, N * F, 1);
    /* inference applies the activation in place */
    x->ffn_act = train ? plan_floats(a, N * F, 1) : x->ffn_pre;
    x->res2 = plan_floats(a, N * C, 1);
    x->mean2 = plan_floats(a, N, train);
    x->rstd2 = plan_floats(a, N, train);
    model_plan_layer_out(m, a, x, train, C);
}

void bert_plan(gt_nn_model *m, nn_arena *a)
{
    model_plan_layers(m, a, plan_layer);
    m->g.g_f = plan_floats(a, (size_t)model_rows(m) * m->cfg.ffn, m->mode == MODEL_TRAIN);
}

static void embeddings_forward(gt_nn_model *m)
{
    step_acts *s = &m->s;
    const int N = (int)model_rows(m), C = m->cfg.dim;
    embedding_forward(s->emb_sum, s->ids, model_data(m, m->emb_word), N, C);
    /* token type 0 for every token: a "position" table of one row over N rows */
    position_embedding_forward(s->emb_sum, model_data(m, m->emb_type), N, 1, C);
    position_embedding_forward(s->emb_sum, model_data(m, m->emb_pos), m->B, m->T, C);
    model_norm_forward(m, s->emb_out, s->emb_mean, s->emb_rstd, s->emb_sum, m->emb_norm_w, m->emb_norm_b, N);
    model_dropout_forward(m, s->emb_out, s->emb_mask, s->emb_out, (long)N * C, m->cfg.drop_embedding,
                          dropout_site(-1, 0));
}

/* Inference with fused epilogues: the residual adds are the matmuls' sum
 * post-op (into buffers the layer no longer needs) and the activation the
 * FFN matmul's eltwise post-op. a->out is a->in here. */
static void layer_infer_fused(gt_nn_model *m, int l, layer_acts *a)
{
    model_layer *L = &m->layers[l];
    const int N = (int)model_rows(m);
    model_linear_forward(m, &L->qkv, a->qkv, a->in, NULL, N);
    model_attention_forward(m, L, a);
    model_linear_forward_fused(m, &L->attn_out, a->in, a->ctx, NULL, N, LINEAR_Y_ACCUMULATE, MM_ELTWISE_NONE);
    model_norm_forward(m, a->norm2in, NULL, NULL, a->in, L->norm1_w, L->norm1_b, N);
    model_linear_forward_fused(m, &L->ffn_in, a->ffn_act, a->norm2in, NULL, N, 0, model_eltwise(m->cfg.act));
    model_linear_forward_fused(m, &L->ffn_out, a->norm2in, a->ffn_act, NULL, N, LINEAR_Y_ACCUMULATE,
                               MM_ELTWISE_NONE);
    model_norm_forward(m, a->out, NULL, NULL, a->norm2in, L->norm2_w, L->norm2_b, N);
}

static void layer_forward(gt_nn_model *m, int l, layer_acts *a)
{
    const gt_nn_config *c = &m->cfg;
    model_layer *L = &m->layers[l];
    float *tmp = m->s.tmp;
    const int N = (int)model_rows(m);
    const long NF = (long)N * c->ffn;
    if (m->opt.fused && m->mode == MODEL_INFER) {
        layer_infer_fused(m, l, a);
        return;
    }

    model_linear_forward(m, &L->qkv, a->qkv, a->in, a->qkv_in_bf, N);
    model_attention_forward(m, L, a);
    model_linear_forward(m, &L->attn_out, tmp, a->ctx, a->ctx_bf, N);
    model_residual_norm(m, a->res1, a->norm2in, a->mean1, a->rstd1, a->mask_attn, tmp, a->in, c->drop_attn_out,
                        dropout_site(l, 0), L->norm1_w, L->norm1_b);

    model_linear_forward(m, &L->ffn_in, a->ffn_pre, a->norm2in, a->ffn_in_bf, N);
    if (m->opt.fused && m->mode == MODEL_TRAIN) { /* keep act' over the pre-activation for backward */
        m->fused_ops++;
        activation_forward_slope(a->ffn_act, a->ffn_pre, a->ffn_pre, NF, model_activation(c->act));
    } else {
        activation_forward(a->ffn_act, a->ffn_pre, NF, model_activation(c->act));
    }
    model_linear_forward(m, &L->ffn_out, tmp, a->ffn_act, a->ffn_act_bf, N);
    model_residual_norm(m, a->res2, a->out, a->mean2, a->rstd2, a->mask_ffn, tmp, a->norm2in, c->drop_ffn,
                        dropout_site(l, 1), L->norm2_w, L->norm2_b);
}

gt_status bert_forward(gt_nn_model *m)
{
    const gt_nn_config *c = &m->cfg;
    step_acts *s = &m->s;
    embeddings_forward(m);
    int train = m->mode == MODEL_TRAIN;
    for (int l = 0; l < c->layers; l++)
        layer_forward(m, l, &m->acts[train ? l : 0]);

    model_pool_forward(m, m->acts[train ? c->layers - 1 : 0].out);
    model_linear_forward(m, &m->head, s->head_pre, s->pooled, s->pooled_bf, m->B);
    tanh_forward(s->head_act, s->head_pre, (long)m->B * c->dim);
    model_classifier_forward(m, s->head_act);
    return GT_OK;
}

/* g->g_out holds d(layer output) on entry and d(layer input) on return. */
static void layer_backward(gt_nn_model *m, int l, const layer_acts *a)
{
    const gt_nn_config *c = &m->cfg;
    model_layer *L = &m->layers[l];
    grad_acts *g = &m->g;
    const int N = (int)model_rows(m);
    const long NC = (long)N * c->dim;

    model_norm_backward(m, g->g_a, g->g_out, a->res2, L->norm2_w, L->norm2_b, a->mean2, a->rstd2, N);
    const float *d_ffn_out = model_dropout_backward(g->g_b, a->mask_ffn, g->g_a, NC, c->drop_ffn);
    model_linear_backward(m, &L->ffn_out, g->g_f, d_ffn_out, a->ffn_act, a->ffn_act_bf, N, 0);
    if (m->forward_fused)
        activation_backward_slope(g->g_f, a->ffn_pre, g->g_f, (long)N * c->ffn);
    else
        activation_backward(g->g_f, a->ffn_pre, g->g_f, (long)N * c->ffn, model_activation(c->act));
    /* d norm2in = the residual's g_a + the FFN's input gradient */
    model_linear_backward(m, &L->ffn_in, g->g_a, g->g_f, a->norm2in, a->ffn_in_bf, N, LINEAR_DX_ACCUMULATE);

    model_norm_backward(m, g->g_out, g->g_a, a->res1, L->norm1_w, L->norm1_b, a->mean1, a->rstd1, N);
    const float *d_proj = model_dropout_backward(g->g_b, a->mask_attn, g->g_out, NC, c->drop_attn_out);
    model_linear_backward(m, &L->attn_out, g->g_a, d_proj, a->ctx, a->ctx_bf, N, 0);
    model_attention_backward(m, L, a, g->g_qkv, g->g_a);
    /* d in = the residual's g_out + the projection's input gradient */
    model_linear_backward(m, &L->qkv, g->g_out, g->g_qkv, a->in, a->qkv_in_bf, N, LINEAR_DX_ACCUMULATE);
}

static void embeddings_backward(gt_nn_model *m)
{
    const gt_nn_config *c = &m->cfg;
    step_acts *s = &m->s;
    grad_acts *g = &m->g;
    const int N = (int)model_rows(m), C = c->dim;
    const float *d_out = model_dropout_backward(g->g_out, s->emb_mask, g->g_out, (long)N * C, c->drop_embedding);
    model_norm_backward(m, g->g_a, d_out, s->emb_sum, m->emb_norm_w, m->emb_norm_b, s->emb_mean, s->emb_rstd, N);
    float *dpos = model_grad(m, m->emb_pos), *dtype = model_grad(m, m->emb_type);
    model_embedding_backward(m, g->g_a);
    if (dpos)
        position_embedding_backward(dpos, g->g_a, m->B, m->T, C);
    if (dtype)
        position_embedding_backward(dtype, g->g_a, N, 1, C);
}

gt_status bert_backward(gt_nn_model *m)
{
    const gt_nn_config *c = &m->cfg;
    step_acts *s = &m->s;
    grad_acts *g = &m->g;
    const long BC = (long)m->B * c->dim;

    model_classifier_backward(m);
    tanh_backward(g->g_head_a, s->head_act, g->g_head_a, BC);
    model_linear_backward(m, &m->head, g->g_head_b, g->g_head_a, s->pooled, s->pooled_bf, m->B, 0);
    model_pool_backward(m, g->g_out, g->g_head_b);

    for (int l = c->layers - 1; l >= 0; l--) {
        model_recompute(m, l, layer_forward);
        layer_backward(m, l, &m->acts[l]);
    }
    embeddings_backward(m);
    return GT_OK;
}
