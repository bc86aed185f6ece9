/* Linear layers: y(N, out) = x(N, in) . W^T + b, W stored (out, in) like
 * torch.nn.Linear, on oneDNN matmuls (src/nn/matmul.h).
 *
 * Precisions (gt_nn_precision):
 *   fp32  everything fp32.
 *   bf16  mixed precision: W's fp32 master copy lives in the parameter block; a
 *         bf16 copy is made once per weight update; x and dy are rounded to
 *         bf16 for the matmuls, which accumulate and write fp32, so y, dx, dW
 *         and db are fp32.
 *   int8  inference only: W quantized per output channel (symmetric s8, made
 *         once per weight update; 7 bits on CPUs without VNNI, see
 *         int8_weight_qmax), x quantized per call with one dynamic scale (u8
 *         when x has no negative value, else s8), fp32 y. One scale per call
 *         rather than per row: oneDNN 2.6 has no fast kernel for a per-row
 *         scale (it falls back to reference code), while a per-column scale
 *         (weights x activation) is a runtime output scale of the gemm kernel.
 *
 * The memory layouts keep all three training matmuls on oneDNN's brgemm
 * kernels: forward x . W^T (W read transposed in place), dx = dy . W (W as
 * stored), dW += dy^T . x (dy read transposed in place, accumulated by a sum
 * post-op). The bias gradient is a column sum done here. */
#ifndef GREENTUNE_NN_LINEAR_H
#define GREENTUNE_NN_LINEAR_H

#include <stdint.h>

#include "nn/matmul.h"
#include "nn/precision.h"

/* A weight matrix and the forms derived from it. The derived copies are remade
 * when *epoch (the parameter set's update counter, bumped by every optimizer
 * step) differs from the epoch they were made at. */
typedef struct {
    float *w;                 /* (out, in) fp32 master weights */
    int out, in;
    const uint64_t *epoch;
    int prepack;              /* 1: run fp32/bf16 forwards on weights packed into
                                 oneDNN's preferred layout (frozen or inference
                                 weights: the packing is paid once per update) */
    bf16 *w_bf16;             /* (out, in) */
    uint64_t bf16_epoch;
    int8_t *w_s8;             /* (out, in) */
    float *w_scale;           /* (out) */
    uint64_t s8_epoch;
    float *w_deq;             /* (out, in) w_s8 * w_scale: backward through a frozen int8 weight */
    uint64_t deq_epoch;
    mm_packed packed;
} linear_weight;

/* epoch must stay valid as long as lw is used; its value must be >= 1. */
void linear_weight_init(linear_weight *lw, float *w, int out, int in, const uint64_t *epoch);
void linear_weight_free(linear_weight *lw);
/* Bytes held by the derived copies (bf16, int8 and packed forms). */
size_t linear_weight_extra_bytes(const linear_weight *lw);

/* y: (N, out) written, x: (N, in), b: (out) or NULL.
 * x_bf16: for bf16, NULL or (N, in) bf16 where the rounded x is kept for
 * linear_backward (saves converting x again); ignored otherwise. */
gt_status linear_forward(mm_ctx *mm, float *y, const float *x, bf16 *x_bf16, linear_weight *w, const float *b,
                         int N, gt_nn_precision p, gt_error *err);

/* The same with more done in the matmul's epilogue (oneDNN post-ops):
 * flags LINEAR_Y_ACCUMULATE adds to y (y += x W^T + b: a residual branch),
 * then act (MM_ELTWISE_NONE for none) is applied to the result. For
 * inference: training needs the pre-activation for backward. */
#define LINEAR_Y_ACCUMULATE 1
gt_status linear_forward_fused(mm_ctx *mm, float *y, const float *x, bf16 *x_bf16, linear_weight *w,
                               const float *b, int N, gt_nn_precision p, int flags, mm_eltwise act, gt_error *err);

/* Flags for linear_backward. */
#define LINEAR_DX_ACCUMULATE 1   /* dx += instead of dx = (a residual branch) */

/* dx: (N, in) written (or accumulated with LINEAR_DX_ACCUMULATE), NULL to skip;
 * dw: (out, in) accumulated, NULL for a frozen weight; db: (out) accumulated or
 * NULL; dy: (N, out); x: (N, in) the forward's input; x_bf16: what
 * linear_forward kept there, or NULL. int8 (a frozen weight that ran int8
 * forward, QLoRA-style): dx only, dx = dy . dequantized int8 W in fp32, so the
 * gradient belongs to the weights the forward used; dw and db must be NULL. */
gt_status linear_backward(mm_ctx *mm, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const bf16 *x_bf16, linear_weight *w, int N, int flags, gt_nn_precision p,
                          gt_error *err);

/* FLOPs of one forward (2 N in out) and one backward with dx and dw (twice that). */
double linear_forward_flops(int N, int in, int out);

#endif
