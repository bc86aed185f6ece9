/* The 8-bit blockwise AdamW state (used by optimizer.c).
 *
 * Values are kept in blocks of ADAMW8_BLOCK with one fp32 scale per block (the
 * block's largest magnitude), and each value as a code on a logarithmic grid
 * relative to that scale — small values keep their relative precision instead
 * of rounding to zero as they would on a linear grid:
 *
 *   m (signed):  sign bit + 7-bit k; |m| = scale * 2^((k - 127) / 8), k = 0 -> 0.
 *                8 steps per octave (9 % apart), range down to 2^-15.75 = 1.8e-5
 *                of the block's max.
 *   v:           stored as r = sqrt(v) (the quantity Adam divides by), 8-bit k;
 *                r = scale * 2^((k - 255) / 16), k = 0 -> 0. 16 steps per octave
 *                (4.4 % apart), range down to 1.7e-5.
 * Storing sqrt(v) rather than v gives r the same dynamic range as m, and a
 * nonzero r never rounds to 0, so the denominator never collapses to eps.
 *
 * Rounding is stochastic: a value between two grid points goes up with
 * probability equal to its linear position between them, so the stored moment
 * is right on average. Round-to-nearest would make the moving averages stick:
 * with beta2 = 0.999, v changes by about 0.1 % a step, far less than half a
 * grid step, so every step would round back to the old code. The noise is a
 * hash of (step, value index): runs are reproducible for any thread count. */
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
    float threshold;     /* grad_sparsify: entries with |g| below it are left alone (0: none) */
    uint64_t seed;       /* rounding noise of this step (8-bit state only) */
} adamw_consts;

/* Updates n values (n <= ADAMW8_BLOCK) of one block: p and g are the block's
 * parameters and gradients, qm and qv its codes, m_scale and r_scale its two
 * scales; first is the index of its first value in the whole state (seeds the
 * rounding noise). Returns how many values were skipped (|g| < threshold):
 * their parameter stays, their moments keep their values (re-encoded against
 * the block's new scales). */
int adamw8bit_block(float *p, const float *g, uint8_t *qm, uint8_t *qv, float *m_scale, float *r_scale, int n,
                     uint64_t first, const adamw_consts *c);

/* Encoding and decoding of single values, exposed for tests. u in [0, 1) is
 * the rounding threshold: u = 0.5 rounds to the nearer grid value (linearly). */
uint8_t adamw8bit_encode_m(float m, float scale, float u);
float adamw8bit_decode_m(uint8_t code, float scale);
uint8_t adamw8bit_encode_r(float r, float scale, float u);
float adamw8bit_decode_r(uint8_t code, float scale);

#endif
