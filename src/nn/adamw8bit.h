/* The 8-bit blockwise AdamW state (used by optimizer.c).
 *
 * Values are kept in blocks of ADAMW8_BLOCK with one fp32 scale per block (the
 * block's largest magnitude), and each value as a code on a logarithmic grid
 * relative to that scale — small values keep their relative precision instead
 * of rounding to zero as they would on a linear grid:
 *
 *   m (signed):  sign bit + 7-bit k; |m| = scale * 2^((k - 127) / 8), k = 0 -> 0.
 *                8 steps per octave: relative error <= 2^(1/16) - 1 = 4.4 %,
 *                range down to 2^-15.75 = 1.8e-5 of the block's max.
 *   v:           stored as r = sqrt(v) (the quantity Adam divides by), 8-bit k;
 *                r = scale * 2^((k - 255) / 16), k = 0 -> 0. 16 steps per
 *                octave: relative error <= 2.2 % on r, range down to 1.7e-5.
 * Storing sqrt(v) rather than v gives r the same dynamic range as m, so a
 * value whose m survives quantization also keeps a non-zero denominator.
 * Values below half the smallest step round to 0; rounding is to the nearest
 * grid point in the log domain. */
#ifndef GREENTUNE_NN_ADAMW8BIT_H
#define GREENTUNE_NN_ADAMW8BIT_H

#include <stddef.h>
#include <stdint.h>

#define ADAMW8_BLOCK 256

/* Per-step constants of AdamW in the form torch computes them. */
typedef struct {
    float decay;         /* 1 - lr * weight_decay (1 for no-decay tensors) */
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float bc2_sqrt;      /* sqrt(1 - beta2^t) */
    float neg_step;      /* -lr / (1 - beta1^t) */
    float eps;
} adamw_consts;

/* Updates n values (n <= ADAMW8_BLOCK) of one block: p and g are the block's
 * parameters and gradients, qm and qv its codes, m_scale and r_scale its two scales. */
void adamw8bit_block(float *p, const float *g, uint8_t *qm, uint8_t *qv, float *m_scale, float *r_scale, int n,
                     const adamw_consts *c);

/* Encoding and decoding of single values, exposed for tests. */
uint8_t adamw8bit_encode_m(float m, float scale);
float adamw8bit_decode_m(uint8_t code, float scale);
uint8_t adamw8bit_encode_r(float r, float scale);
float adamw8bit_decode_r(uint8_t code, float scale);

#endif
