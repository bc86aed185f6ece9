/* Encoder models inside the engine: the struct behind gt_nn_model and what
 * model.c (building, memory, loss, optimizer), bert.c and modernbert.c (each
 * architecture's parameters, forward and backward) share.
 *
 * Memory. Parameters and gradients are one block each (params.h). A step's
 * activations come from one arena, laid out by the architecture's *_plan
 * function for a (batch, seq, mode) shape: model_prepare runs the plan once on
 * an empty arena to learn the size, reserves it, and runs it again to hand
 * out the pointers. Forward and backward then only compute; nothing allocates.
 *
 * Modes. MODEL_TRAIN keeps every layer's activations for backward (a
 * layer_acts per layer) plus the backward temporaries; MODEL_INFER keeps one
 * layer_acts that every layer reuses and writes its output over its input.
 *
 * What the knobs use (docs/models.md):
 *   - linear layers all go through model_linear_forward/backward, which add
 *     the LoRA adapters (lora.c) and run frozen weights in int8 for QLoRA;
 *   - freezing is params_set_trainable between declare and finalize; frozen
 *     tensors have no gradient, model_linear_backward skips their dW, and
 *     their derived copies follow params.frozen_epoch;
 *   - a layer's forward reads only its input and parameters, so gradient
 *     checkpointing plans one shared layer_acts (m->ckpt) for the
 *     checkpointed layers and reruns their forward before their backward;
 *   - pruning is a config with fewer layers plus a layer map on load. */
#ifndef GREENTUNE_NN_MODEL_H
#define GREENTUNE_NN_MODEL_H

#include <stdint.h>

#include "greentune/nn.h"
#include "nn/arena.h"
#include "nn/linear.h"
#include "nn/ops.h"
#include "nn/optimizer.h"
#include "nn/params.h"

/* A linear layer's parameters: weight (out, in), bias or -1, the weight's
 * derived copies (bf16, int8, packed), and its LoRA adapters (lora.c):
 * m->adapters[lora0 .. lora0 + nlora). */
typedef struct {
    int w, b;
    linear_weight lw;
    int lora0, nlora;
} model_linear;

/* One LoRA adapter on rows [row0, row0 + rows) of a linear's output:
 * y[:, rows] += h B^T with h = scale drop(x) A^T. A: (r, in), B: (rows, r). */
typedef struct {
    int a, b;                 /* parameter indices */
    int row0, rows, in;
    int w;                    /* the base weight's parameter index */
    int target;               /* bit index of GT_NN_LORA_* */
    float *h;                 /* (N, r) kept for backward (training plan); NULL: s.lora_h */
    uint8_t *mask;            /* (N, in) dropout mask (training with dropout) */
    int site;                 /* dropout site */
} model_adapter;

/* One encoder layer's parameters. HF names per architecture:
 *   bert:       qkv = attention.self.{query,key,value} packed as (3C, C) rows
 *               q, k, v; attn_out = attention.output.dense; norm1 =
 *               attention.output.LayerNorm; ffn_in = intermediate.dense;
 *               ffn_out = output.dense; norm2 = output.LayerNorm.
 *   modernbert: qkv = attn.Wqkv; attn_out = attn.Wo; norm1 = attn_norm (none
 *               in layer 0: Identity); ffn_in = mlp.Wi (2F, C); ffn_out =
 *               mlp.Wo; norm2 = mlp_norm. No biases (b = -1). */
typedef struct {
    model_linear qkv, attn_out, ffn_in, ffn_out;
    int norm1_w, norm1_b, norm2_w, norm2_b;   /* -1 when absent */
    int window;                               /* 0: global attention */
    int rope;                                 /* modernbert: 0 global table, 1 local */
} model_layer;

/* What one layer's forward keeps (MODEL_TRAIN) or uses (MODEL_INFER, where
 * saved-for-backward fields are NULL and out == in). N = B*T rows.
 *   bert:       res1 = in + drop(Wo ctx); norm2in = LN1(res1) (the FFN input);
 *               ffn_pre = intermediate (N, F); ffn_act = act(ffn_pre);
 *               res2 = norm2in + drop(output dense); out = LN2(res2).
 *   modernbert: norm1 = attn_norm(in) (== in in layer 0); res1 = x1 = in +
 *               drop(Wo ctx); norm2in = mlp_norm(x1); ffn_pre = Wi (N, 2F);
 *               ffn_act = drop(GeGLU(ffn_pre)) (N, F); out = x1 + Wo ffn_act. */
typedef struct {
    float *in, *out;              /* (N, C) */
    float *norm1;                 /* (N, C) modernbert attn_norm output */
    float *qkv;                   /* (N, 3C), after RoPE */
    float *probs;                 /* (B, H, T, T) standard attention */
    float *lse;                   /* (B, H, T) fused attention */
    float *ctx;                   /* (N, C) attention output, before Wo */
    float *res1;                  /* (N, C) */
    float *norm2in;               /* (N, C) */
    float *ffn_pre;               /* (N, F) bert, (N, 2F) modernbert; bert fused training: act's slope */
    float *ffn_act;               /* (N, F) */
    float *res2;                  /* (N, C) bert only */
    float *mean1, *rstd1, *mean2, *rstd2;   /* (N) LayerNorm statistics */
    uint8_t *mask_attn, *mask_ffn;          /* dropout masks (NULL: no dropout) */
    bf16 *qkv_in_bf, *ctx_bf, *ffn_in_bf, *ffn_act_bf; /* bf16 copies of the linears' inputs (bf16 training) */
} layer_acts;

/* Embeddings, head and loss of a step (both architectures; unused fields NULL). */
typedef struct {
    int32_t *ids, *valid, *labels;  /* copies of the step's inputs: (N), (B), (B) */
    float *emb_sum;                 /* (N, C) LayerNorm input of the embeddings */
    float *emb_mean, *emb_rstd;
    uint8_t *emb_mask;
    float *emb_out;                 /* (N, C) the first layer's input (inference: the stream) */
    float *tmp;                     /* (N, C) a linear's output before dropout and residual */
    float *hidden;                  /* (N, C) modernbert final_norm output; bert: last layer's out */
    float *final_mean, *final_rstd;
    float *pooled;                  /* (B, C) cls or mean pooling */
    bf16 *pooled_bf;
    float *head_pre;                /* (B, C) bert pooler dense / modernbert head.dense output */
    float *head_act;                /* (B, C) tanh / act of it */
    float *head_norm;               /* (B, C) modernbert head.norm output */
    float *head_mean, *head_rstd;
    float *cls_in;                  /* (B, C) classifier input (after dropout) */
    bf16 *head_act_bf, *cls_in_bf;
    uint8_t *cls_mask;
    float *logits, *probs, *losses; /* (B, L), (B, L), (B) */
    float *rope_cos[2], *rope_sin[2]; /* (T, D/2) global and local tables */
    float *attn_scratch;            /* per-thread attention scratch */
    void *attn_bf16;                /* attention_bf16_bytes() (bf16 attention only) */
    /* LoRA temporaries: dropped-out input (N, widest in), an adapter's output
     * rows (N, widest out), h in inference and dh in backward (N, r) */
    float *lora_x, *lora_y, *lora_h;
    /* distillation: the teacher's logits and both tempered softmaxes (B, L) */
    float *teacher_logits, *kd_student, *kd_teacher, *kd_losses;
} step_acts;

/* Backward temporaries (MODEL_TRAIN). */
typedef struct {
    float *g_out;                   /* (N, C) gradient of the residual stream */
    float *g_a, *g_b;               /* (N, C) */
    float *g_f;                     /* (N, F) */
    float *g_f2;                    /* (N, 2F) modernbert: d Wi output */
    float *g_qkv;                   /* (N, 3C) */
    float *ln_scratch;              /* layernorm_scratch_floats(C) */
    float *ln_dummy;                /* (C) where a frozen norm's dw goes */
    float *g_logits;                /* (B, L) */
    float *g_head_a, *g_head_b;     /* (B, C) */
} grad_acts;

typedef enum { MODEL_TRAIN = 0, MODEL_INFER = 1 } model_mode;

struct gt_nn_model {
    gt_nn_config cfg;
    gt_nn_options opt;
    int training;
    int bf16_native;                /* the CPU has bf16 instructions */
    uint64_t seed;
    uint64_t dropout_calls;         /* forward passes so far: seeds each step's dropout */

    param_set params;
    /* bert: word, position, token type embeddings; modernbert: tok only */
    int emb_word, emb_pos, emb_type, emb_norm_w, emb_norm_b;
    model_layer *layers;
    int final_norm_w;               /* modernbert final_norm */
    model_linear head;              /* bert pooler.dense / modernbert head.dense */
    int head_norm_w;                /* modernbert head.norm */
    model_linear classifier;

    mm_ctx *mm;
    optimizer optim;
    int has_optim;

    /* The planned shape and its memory. */
    nn_arena arena;
    int B, T, threads;
    model_mode mode;
    int planned;
    gt_nn_options opt_planned;      /* the options the plan was laid out for */
    int teacher_planned;
    step_acts s;
    layer_acts *acts;               /* L (train) or 1 (infer) */
    layer_acts ckpt;                /* checkpointed layers' shared activations (recomputed in backward) */
    grad_acts g;
    int have_forward;               /* a training forward ran since the last plan/backward */
    int forward_fused;              /* the options.fused that forward ran with (backward follows it) */
    float grad_scale_last;

    /* LoRA (lora.c) */
    gt_nn_lora lora;
    model_adapter *adapters;
    int n_adapters;
    int base_tensors;               /* tensors [0, base_tensors) are the HF ones; adapters follow */

    /* distillation */
    gt_nn_model *teacher;
    float kd_temperature, kd_alpha;

    /* facts for gt_nn_model_info */
    size_t plan_attention_bytes;    /* attention's part of the plan being laid out */
    size_t train_peak, train_attention;
    int train_peak_B, train_peak_T;
    double recompute_flops;
    long fused_ops;
    long kd_steps;
    double kd_loss_sum, kd_part_sum;
    struct gpu_model *gpu;          /* the device side when options.device is cuda (src/nn/cuda/gpu.h) */
};

/* ---- shared helpers (model.c) ---------------------------------------------------- */

/* Declares a tensor; HF name and shape. flags: PARAM_NO_DECAY etc. */
gt_status model_add(gt_nn_model *m, const char *name, int64_t d0, int64_t d1, int flags, int *index, gt_error *err);
/* Declares "<name>.weight" (out, in) and, when bias, "<name>.bias" (out, no decay). */
gt_status model_add_linear(gt_nn_model *m, model_linear *l, const char *name, int out, int in, int bias,
                           gt_error *err);
/* "<name>.weight" (and "<name>.bias" when bias), (C), no decay. */
gt_status model_add_norm(gt_nn_model *m, int *w, int *b, const char *name, int C, int bias, gt_error *err);

float *model_data(const gt_nn_model *m, int index);   /* NULL for index -1 */
float *model_grad(const gt_nn_model *m, int index);   /* NULL for -1 or frozen */

/* The matmul precision of the current mode. */
gt_nn_precision model_precision(const gt_nn_model *m);

gt_status model_linear_forward(gt_nn_model *m, model_linear *l, float *y, const float *x, bf16 *x_bf16, int N);
/* With the epilogue: flags LINEAR_Y_ACCUMULATE (y +=), then the activation act (inference only). */
gt_status model_linear_forward_fused(gt_nn_model *m, model_linear *l, float *y, const float *x, bf16 *x_bf16, int N,
                                     int flags, mm_eltwise act);
mm_eltwise model_eltwise(gt_nn_activation a);
gt_status model_linear_backward(gt_nn_model *m, model_linear *l, float *dx, const float *dy, const float *x,
                                const bf16 *x_bf16, int N, int flags);

/* LayerNorm with the model's eps over the layer's (w, b); mean/rstd may be NULL (inference). */
void model_norm_forward(const gt_nn_model *m, float *y, float *mean, float *rstd, const float *x, int w, int b,
                        int N);
void model_norm_backward(gt_nn_model *m, float *dx, const float *dy, const float *x, int w, int b,
                         const float *mean, const float *rstd, int N);

/* Dropout at a site of this step (site numbers are unique per step); y may equal x.
 * No-op copy when the model is not training or p == 0 (mask stays NULL). */
void model_dropout_forward(const gt_nn_model *m, float *y, uint8_t *mask, const float *x, long n, float p,
                           int site);
/* y = residual + dropout(x) (the dropout only when active, as above). */
void model_dropout_residual(const gt_nn_model *m, float *y, uint8_t *mask, const float *x, const float *residual,
                            long n, float p, int site);
/* The gradient through a dropout site: dy itself when no mask was drawn,
 * else scratch (which may equal dy) filled with it. */
const float *model_dropout_backward(float *scratch, const uint8_t *mask, const float *dy, long n, float p);

/* The ops' activation for a config's. */
activation_kind model_activation(gt_nn_activation a);

/* Dropout site numbers: the embeddings, two per layer, the classifier. */
static inline int dropout_site(int layer, int which)
{
    return layer < 0 ? 0 : 1 + 2 * layer + which;
}

/* The classifier on the head's output h (B, C): dropout, then the linear layer, into s.logits. */
void model_classifier_forward(gt_nn_model *m, const float *h);
/* From g.g_logits: the classifier's gradients, and d h into g.g_head_a. */
void model_classifier_backward(gt_nn_model *m);
/* Word embedding gradients from dx (N, C); the padding row gets none
 * (nn.Embedding(padding_idx=pad)). */
void model_embedding_backward(gt_nn_model *m, const float *dx);

/* Pooling of the last hidden states into s.pooled, and its backward into dx (zeroed first). */
void model_pool_forward(gt_nn_model *m, const float *hidden);
void model_pool_backward(gt_nn_model *m, float *dx, const float *dpooled);

/* 1 when this step's attention runs its products in bf16 (attention_bf16.h):
 * inference in bf16 or int8 with the standard kernel on a CPU with bf16
 * instructions. The layer plans then need no probabilities. */
int model_attention_bf16(const gt_nn_model *m);

/* The attention of layer l on acts->qkv into acts->ctx. */
void model_attention_forward(gt_nn_model *m, const model_layer *layer, layer_acts *a);
void model_attention_backward(gt_nn_model *m, const model_layer *layer, const layer_acts *a, float *dqkv,
                              const float *dctx);

/* Arena helpers for the plans: a zero-filled pointer only when want is true. */
float *plan_floats(nn_arena *a, size_t n, int want);
/* The same for attention's buffers, whose bytes are tallied in m->plan_attention_bytes. */
float *plan_attention(gt_nn_model *m, nn_arena *a, size_t n, int want);
bf16 *plan_bf16(nn_arena *a, size_t n, int want);
uint8_t *plan_bytes(nn_arena *a, size_t n, int want);

/* Sizes used everywhere. */
static inline long model_rows(const gt_nn_model *m)
{
    return (long)m->B * m->T;
}

/* Gradient checkpointing: is layer l's activations recomputed in backward? */
static inline int model_checkpointed(const gt_nn_model *m, int l)
{
    return m->mode == MODEL_TRAIN && m->opt.checkpoint_every > 0 && l % m->opt.checkpoint_every == 0;
}
/* The layer_acts of layer l in the current plan: a checkpointed layer shares
 * every buffer but its output with the others (m->ckpt). */
typedef void (*model_plan_layer_fn)(gt_nn_model *m, nn_arena *a, layer_acts *x, int train);
void model_plan_layers(gt_nn_model *m, nn_arena *a, model_plan_layer_fn plan_layer);
/* What every layer plan has: qkv, the attention's probabilities or lse, ctx ... */
void model_plan_attention(gt_nn_model *m, nn_arena *a, layer_acts *x);
/* ... and its output, dropout masks (the FFN's over ffn_drop columns) and bf16 input copies. */
void model_plan_layer_out(gt_nn_model *m, nn_arena *a, layer_acts *x, int train, size_t ffn_drop);
/* Runs layer l's forward again (same dropout masks) before its backward when it is checkpointed. */
typedef void (*model_layer_fn)(gt_nn_model *m, int l, layer_acts *a);
void model_recompute(gt_nn_model *m, int l, model_layer_fn forward);

/* Residual + LayerNorm: res = in + drop(x) (site), y = LN(res) with (w, b),
 * in one pass when the options say fused (bit-identical either way). */
void model_residual_norm(gt_nn_model *m, float *res, float *y, float *mean, float *rstd, uint8_t *mask,
                         const float *x, const float *in, float p, int site, int w, int b);

/* ---- LoRA (lora.c) ---------------------------------------------------------------- */

/* Declares the adapters of every targeted linear and freezes the rest (between
 * declare and params_finalize). */
gt_status lora_declare(gt_nn_model *m, gt_error *err);
/* A kaiming-uniform, B zero (after model_init_weights). */
void lora_init(gt_nn_model *m, uint64_t seed);
void lora_plan(gt_nn_model *m, nn_arena *a);
/* y (N, out) += the linear's adapters on x (N, in). */
void lora_forward(gt_nn_model *m, const model_linear *l, float *y, const float *x, int N);
/* Adapter gradients from dy (N, out); dx (N, in) += their input gradient (dx may be NULL). */
void lora_backward(gt_nn_model *m, const model_linear *l, float *dx, const float *dy, const float *x, int N);
/* Rows [row0, row0 + rows) of parameter index with its adapters merged in,
 * into out (rows x cols). 1 when some adapter covers them, else 0 (out
 * untouched); out NULL only asks. */
int lora_merged_rows(const gt_nn_model *m, int index, int64_t row0, int64_t rows, float *out);

/* ---- distillation (distill.c) -------------------------------------------------------- */

/* Per row: loss[b] = T^2 KL(softmax(t_b / T) || softmax(s_b / T)); ps, pt: (B, L)
 * the two tempered softmaxes, saved for backward. Returns the mean over rows. */
float distill_forward(float *loss, float *ps, float *pt, const float *s, const float *t, int B, int L, float T);
/* ds (B, L) += scale d loss[b] / d s = scale T (ps - pt). */
void distill_backward(float *ds, const float *ps, const float *pt, int B, int L, float T, float scale);

/* ---- per architecture ------------------------------------------------------------ */

gt_status bert_declare(gt_nn_model *m, gt_error *err);
void bert_plan(gt_nn_model *m, nn_arena *a);
/* ids etc. are in m->s; writes m->s.logits. */
gt_status bert_forward(gt_nn_model *m);
/* From m->g.g_logits; accumulates parameter gradients. */
gt_status bert_backward(gt_nn_model *m);

gt_status modernbert_declare(gt_nn_model *m, gt_error *err);
void modernbert_plan(gt_nn_model *m, nn_arena *a);
gt_status modernbert_forward(gt_nn_model *m);
gt_status modernbert_backward(gt_nn_model *m);

/* Initial weights (model_init.c): HF's _init_weights for the architecture. */
void model_init_weights(gt_nn_model *m, uint64_t seed);

/* The HF tensors of the model, for load and save (model_io.c): name, the
 * parameter it maps to, and the rows of that parameter it covers (bert's
 * query/key/value are row blocks of the packed qkv). */
typedef struct {
    char name[PARAM_NAME_MAX];
    int index;
    int64_t row0, rows;       /* rows of the parameter (dim 0) */
} model_hf_tensor;
/* Fills up to cap entries, returns the count (call with cap 0 to count). */
int model_hf_tensors(const gt_nn_model *m, model_hf_tensor *out, int cap);

#endif
