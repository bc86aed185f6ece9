/* The GPU model: a gt_nn_model's device side (struct gpu_model), shared by
 * gpu_model.c (memory, copies, steps, optimizer) and gpu_layers.c (the two
 * architectures' forward and backward, op by op as bert.c and modernbert.c).
 *
 * Memory mirrors the CPU model's (model.h): parameters and gradients are
 * device copies of the param_set's blocks at the same offsets; a 16-bit
 * mirror of the weights (bf16 or fp16 training) and int8 copies (int8
 * inference) are remade after every change; a step's activations come from one
 * device block laid out by gpu_plan for a (batch, seq, mode) shape. */
#ifndef GREENTUNE_NN_CUDA_GPU_MODEL_H
#define GREENTUNE_NN_CUDA_GPU_MODEL_H

#include "nn/cuda/dev.h"
#include "nn/cuda/gpu.h"
#include "nn/model.h"

/* One layer's activations, as layer_acts (model.h) with device pointers. */
typedef struct {
    float *in, *out, *norm1, *qkv, *lse, *ctx, *res1, *norm2in, *ffn_pre, *ffn_act, *res2;
    void *probs;                              /* standard attention: (B, H, T, T) of the attention type */
    float *mean1, *rstd1, *mean2, *rstd2;
    uint8_t *mask_attn, *mask_ffn;
    void *qkv_in16, *ctx16, *ffn_in16, *ffn_act16; /* 16-bit copies of the linears' inputs (training) */
} gpu_layer;

/* The rest of a step: inputs, embeddings, head, loss, scratch, gradients. */
typedef struct {
    int32_t *ids, *valid, *labels;            /* (N), (B), (B) */
    int32_t *order, *seg_start, *seg_id;      /* the embedding gradient's rows grouped by token */
    float *emb_sum, *emb_mean, *emb_rstd, *emb_out;
    uint8_t *emb_mask;
    float *tmp, *hidden, *final_mean, *final_rstd;
    float *pooled, *head_pre, *head_act, *head_norm, *head_mean, *head_rstd, *cls_in;
    void *pooled16, *cls_in16;
    uint8_t *cls_mask;
    float *logits, *probs, *losses;
    float *rope_cos[2], *rope_sin[2];
    void *x16;                                /* a linear input's 16-bit copy when none is kept */
    /* standard attention: scores, heads in the attention type, fp32 head outputs */
    float *S;
    void *qh, *kh, *vh, *doh, *ds16;
    float *oh, *dqh, *dkh, *dvh;
    float *delta;                             /* fused attention backward (B, H, T) */
    /* int8 inference */
    int8_t *xq;
    float *xscale, *q_scratch;
    int32_t *acc32;
    /* backward */
    float *g_out, *g_a, *g_b, *g_f, *g_f2, *g_qkv, *g_logits, *g_head_a, *g_head_b;
    float *ln_scratch, *col_scratch, *ln_dummy;
    void *dy16;
} gpu_acts;

/* Host copies of a step's inputs and the embedding gradient's grouping. */
typedef struct {
    int32_t *ids, *valid, *labels, *order, *seg_start, *seg_id, *cursor, *slot;
    float *losses;
    int nseg, nrows, nbatch;
} gpu_staging;

typedef struct gpu_model {
    dev *d;
    float *params, *grads;                     /* the param_set's blocks */
    /* 16-bit weights: [w16_first, data_floats) of the parameter block, at the same offsets */
    void *w16;
    size_t w16_first;
    dev_type w16_type;
    int w16_valid;
    /* int8 weights of the encoder linears: q at the parameter offsets, scales per row */
    int8_t *wq;
    float *wq_scale;
    long *wq_scale_off;                        /* per tensor: its first scale, -1 when not int8 */
    int wq_valid;
    /* optimizer */
    float *opt_m, *opt_v;
    int opt_kind;                              /* optimizer_kind the state is for, -1 none */
    long opt_step;                             /* m->optim.step after the device's last update */
    dev_chunk *chunks;
    int nchunks;
    double *norm, *norm_scratch;
    /* host and device copies */
    uint64_t host_epoch;                       /* m->params.epoch the device weights match */
    int device_ahead;                          /* weights newer on the device */
    int grads_ahead;                           /* gradients newer on the device */
    /* the planned step */
    void *block;
    size_t block_bytes, block_peak;
    int B, T;
    model_mode mode;
    int planned, attention_planned, precision_planned;
    gpu_acts s;
    gpu_layer *acts;                           /* L (train) or 1 (infer) */
    gpu_staging h;
    int have_forward;
    int forward_dropout;                       /* the last training forward drew dropout masks */
    double flops[GT_NN_PRECISIONS];
    long profile_fallbacks;                    /* plain-kernel matmuls when profiling started */
    double profile_fallback_gflop;
} gpu_model;

/* ---- gpu_model.c: the pieces the layers use ------------------------------------ */

gt_nn_precision gpu_precision(const gt_nn_model *m);
float *gpu_data(const gt_nn_model *m, int index);   /* device pointer, NULL for -1 */
float *gpu_grad(const gt_nn_model *m, int index);   /* NULL for -1 or frozen */

/* A linear layer: y (N, out) = x W^T + b (accumulate: y +=); x16: where the
 * 16-bit x is kept for backward (NULL: not kept). */
void gpu_linear_fwd(gt_nn_model *m, const model_linear *l, float *y, const float *x, void *x16, int N,
                    int accumulate);
/* dx (NULL: skip) written or accumulated, dW and db accumulated. */
void gpu_linear_bwd(gt_nn_model *m, const model_linear *l, float *dx, const float *dy, const float *x,
                    const void *x16, int N, int dx_accumulate);
void gpu_norm_fwd(gt_nn_model *m, float *y, float *mean, float *rstd, const float *x, int w, int b, int N);
void gpu_norm_bwd(gt_nn_model *m, float *dx, const float *dy, const float *x, int w, int b, const float *mean,
                  const float *rstd, int N);
/* model_dropout_forward / _residual / _backward on the device. */
void gpu_dropout_fwd(gt_nn_model *m, float *y, uint8_t *mask, const float *x, const float *residual, long n, float p,
                     int site);
const float *gpu_dropout_bwd(gt_nn_model *m, float *scratch, const uint8_t *mask, const float *dy, long n, float p);
void gpu_attention_fwd(gt_nn_model *m, const model_layer *L, gpu_layer *a);
void gpu_attention_bwd(gt_nn_model *m, const model_layer *L, const gpu_layer *a, float *dqkv, const float *dctx);
void gpu_pool_fwd(gt_nn_model *m, const float *hidden);
void gpu_pool_bwd(gt_nn_model *m, float *dx, const float *dpooled);
void gpu_classifier_fwd(gt_nn_model *m, const float *h);
void gpu_classifier_bwd(gt_nn_model *m);
void gpu_embedding_bwd(gt_nn_model *m, const float *dx);

/* Step memory: a pointer of `bytes` when want, advancing the plan. */
typedef struct {
    char *base;                                /* NULL while measuring */
    size_t used;
} gpu_plan;
void *gpu_take(gpu_plan *p, size_t bytes, int want);
static inline float *gpu_floats(gpu_plan *p, size_t n, int want)
{
    return gpu_take(p, n * sizeof(float), want);
}

/* ---- gpu_layers.c ------------------------------------------------------------------ */

void gpu_bert_plan(gt_nn_model *m, gpu_plan *p);
void gpu_bert_forward(gt_nn_model *m);
void gpu_bert_backward(gt_nn_model *m);
void gpu_modernbert_plan(gt_nn_model *m, gpu_plan *p);
void gpu_modernbert_forward(gt_nn_model *m);
void gpu_modernbert_backward(gt_nn_model *m);

/* Tests: the model on a given backend (dev_host_open for the host one); the
 * model owns d from then on. */
gt_status gpu_attach_dev(gt_nn_model *m, dev *d, gt_error *err);
/* Tests: the host's gradients to the device (a step from given gradients). */
gt_status gpu_load_grads(gt_nn_model *m, gt_error *err);

#endif
