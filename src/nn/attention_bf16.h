/* Attention for the bf16 and int8 inference paths: the two products
 * (q k^T and P v) as batched oneDNN matmuls on bf16 copies of q, k, v and P,
 * accumulating in fp32; the masked softmax in fp32 as in attention.c.
 *
 * On CPUs with bf16 instructions the products run at about twice the fp32
 * kernels' rate, which is most of attention's time; the price is bf16's 8
 * significant bits in q, k, v and the probabilities, the same rounding the
 * bf16 linear layers apply to their inputs. Same shapes, masks and windows as
 * attention_forward (ops.h), whose results it matches to bf16 precision.
 * Inference only: nothing is kept for a backward pass. */
#ifndef GREENTUNE_NN_ATTENTION_BF16_H
#define GREENTUNE_NN_ATTENTION_BF16_H

#include <stddef.h>

#include "nn/matmul.h"
#include "nn/ops.h"

/* Bytes of work memory for a shape: q, k, v and P in bf16, scores and the
 * heads' outputs in fp32. */
size_t attention_bf16_bytes(attention_shape s);

/* out: (B, T, H, D), qkv: (B, T, 3, H, D), valid: (B) or NULL;
 * work: attention_bf16_bytes(s) bytes, NN_ALIGN-aligned. */
gt_status attention_bf16_forward(mm_ctx *mm, float *out, const float *qkv, const int32_t *valid, void *work,
                                 attention_shape s, gt_error *err);

#endif
