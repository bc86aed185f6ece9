/* Vectorizable exp and erfc for the ops' inner loops.
 *
 * glibc's expf/erff are scalar calls unless the whole program is built with
 * -ffast-math, and the ops evaluate them millions of times per step (softmax,
 * GELU), so a scalar call per element would cost more than the surrounding
 * GEMMs' share allows. These are plain arithmetic and selects: inside a
 * `#pragma omp simd` loop GCC turns them into AVX-512/AVX2 code.
 *
 * Accuracy (checked against double-precision libm in tests/nn/test_fastmath.c):
 *   nn_expf:  relative error below 2e-7 on [-87.3, 88.3]; 0 below (and for
 *             -inf), +inf above 88.37 (a little early: true overflow is at
 *             88.72), NaN stays NaN.
 *   nn_erfcf: for x >= 0, relative error below 1.5e-6 up to x = 5 (erfc = 1.5e-12)
 *             and below 5e-6 further out (the float rounding of x*x); callers
 *             use erfc(-x) = 2 - erfc(x) for negative x. */
#ifndef GREENTUNE_NN_FASTMATH_H
#define GREENTUNE_NN_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln(2)/2, exp(r) by the
 * Cephes minimax polynomial; ln 2 is split in two so r keeps its low bits. */
static inline float nn_expf(float x)
{
    const float lo = -87.33654f, hi = 88.37626f; /* 2^n stays a normal float */
    float xc = x > lo ? x : lo; /* NaN -> lo: the int conversion below stays defined */
    xc = xc < hi ? xc : hi;
    /* Round to nearest by the 1.5 * 2^23 trick: plain adds, always vectorized. */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = x > hi ? __builtin_inff() : p * scale;
    e = x < lo ? 0.0f : e;
    return x == x ? e : x;
}

/* erfc(x) for x >= 0 with small *relative* error even deep in the tail, which
 * is what GELU needs for negative inputs (Numerical Recipes' Chebyshev fit,
 * fractional error below 1.2e-7 in exact arithmetic). */
static inline float nn_erfcf(float x)
{
    float t = 1.0f / (1.0f + 0.5f * x);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * nn_expf(p - x * x);
}

/* max of x[a..b) (-inf when empty), in 16 running lanes: a plain `m = x > m ?
 * x : m` reduction does not vectorize everywhere (clang wants -ffast-math for
 * it), an elementwise update of 16 maxima does. Exact, so order-independent. */
static inline float nn_max(const float *x, int a, int b)
{
    float lanes[16];
    for (int l = 0; l < 16; l++)
        lanes[l] = -__builtin_inff();
    int j = a;
    for (; j + 16 <= b; j += 16)
#pragma omp simd
        for (int l = 0; l < 16; l++)
            lanes[l] = x[j + l] > lanes[l] ? x[j + l] : lanes[l];
    float m = -__builtin_inff();
    for (; j < b; j++)
        m = x[j] > m ? x[j] : m;
    for (int l = 0; l < 16; l++)
        m = lanes[l] > m ? lanes[l] : m;
    return m;
}

#endif
